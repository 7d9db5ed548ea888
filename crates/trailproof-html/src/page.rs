//! The page itself. Every value goes through maud's escaping; the only raw text is the style
//! sheet below and the embedded report, whose `<` are all escaped ([`crate::embedded_json`]).

use maud::{html, Markup, PreEscaped, DOCTYPE};
use trailproof::report::escape_controls;

use crate::model::{Chain, Doc, Lake, Problem, State, Validation};
use crate::timeline::{self, Mark, Timeline, Unit};
use crate::{Embedding, RunInfo, JSON_ELEMENT_ID};

/// The two hashes the footer shows.
pub struct Hashes {
    /// Of the report's bytes, as `--format json` prints them.
    pub report: String,
    /// Of the embedded text (the script element's content).
    pub embedded: String,
}

/// Problems shown unfolded; longer lists are folded in a `<details>`.
const FOLD_ABOVE: usize = 20;

const CSS: &str = r#"
:root{--valid:#1b7f3b;--invalid:#b3261e;--nc:#b26a00;--gap:#6b7280;--ink:#111;--muted:#555;--line:#d0d4da}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{text-align:left;vertical-align:top;padding:3px 8px;border-bottom:1px solid var(--line)}
th{background:#f3f4f6;font-weight:600}
thead{display:table-header-group}
tr{break-inside:avoid}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px;overflow-wrap:anywhere;word-break:break-all}
.facts th{width:190px;background:none;font-weight:600}
.chains th code{white-space:nowrap;word-break:normal}
.verdict{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:700;letter-spacing:.04em;border:2px solid}
.v-valid{color:var(--valid);border-color:var(--valid)}
.v-invalid{color:var(--invalid);border-color:var(--invalid);border-style:double;border-width:4px}
.v-incomplete{color:var(--nc);border-color:var(--nc);border-style:dashed}
.s-valid{color:var(--valid)}.s-invalid{color:var(--invalid);font-weight:600}.s-not_checked,.s-incomplete{color:var(--nc);font-weight:600}
.summary{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;white-space:pre-wrap;background:#f8f9fa;border:1px solid var(--line);padding:8px 12px;font-size:12.5px}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:6px 0;padding:0;list-style:none}
.legend li{display:flex;align-items:center;gap:6px}
.timeline svg.chart{width:100%;height:auto;display:block}
.legend svg{width:28px;height:14px;flex:none}
.timeline text{font:11px system-ui,Arial,sans-serif;fill:#222}
.m-valid{fill:url(#p-valid)}.m-invalid{fill:url(#p-invalid)}.m-nc{fill:url(#p-nc)}.m-gap{fill:url(#p-gap)}.m-none{fill:#fff}
.cells rect{stroke:#fff;stroke-width:.5}
.frame{fill:none;stroke:#9aa1ab;stroke-width:.6}
details>summary{cursor:pointer;font-weight:600;margin:4px 0}
footer{margin-top:32px;border-top:1px solid var(--line);padding-top:8px;color:var(--muted);font-size:12px}
.print-only{display:none}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px}
.layout,.layout>thead>tr>td,.layout>tbody>tr>td{border:0;padding:0;margin:0}
@page{margin:14mm 12mm}
@media print{
  body{font-size:10.5pt}
  main{max-width:none;padding:0}
  *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  .print-only{display:block}
  .running{font-size:9pt;color:#333;border-bottom:1px solid #999;padding:0 0 3mm;margin-bottom:4mm}
  /* Folded lists print whole. */
  details>summary{display:none}
  details::details-content{content-visibility:visible;display:block}
  h2{break-after:avoid}h3{break-after:avoid}
  .timeline{break-inside:avoid}
  .skip{display:none}
}
"#;

fn shown(s: &str) -> String {
    escape_controls(s)
}

fn verdict_word(v: &str) -> &'static str {
    match v {
        "valid" => "VALID",
        "invalid" => "INVALID",
        _ => "INCOMPLETE",
    }
}

fn verdict_class(v: &str) -> &'static str {
    match v {
        "valid" => "v-valid",
        "invalid" => "v-invalid",
        _ => "v-incomplete",
    }
}

fn state_word(s: State) -> &'static str {
    match s {
        State::Valid => "valid",
        State::Invalid => "INVALID",
        State::NotChecked => "NOT CHECKED",
    }
}

fn state_class(s: State) -> &'static str {
    match s {
        State::Valid => "s-valid",
        State::Invalid => "s-invalid",
        State::NotChecked => "s-not_checked",
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn page(doc: &Doc, run: &RunInfo, how: Embedding, embedded: &str, hashes: &Hashes) -> Markup {
    let (title, verdict, exit_code) = match doc {
        Doc::Validation(v) => (
            format!("CloudTrail log integrity evidence: {}", shown(&v.trail_arn)),
            v.verdict.clone(),
            v.exit_code,
        ),
        Doc::Lake(l) => (
            format!(
                "CloudTrail Lake query results integrity evidence: {}",
                shown(&l.sign_location)
            ),
            l.verdict.clone(),
            l.exit_code,
        ),
    };
    let running = format!(
        "{title} · {} (exit code {exit_code}) · run {} UTC · trailproof {}",
        verdict_word(&verdict),
        run.run_at.format("%Y-%m-%d %H:%M:%S"),
        run.version
    );
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Nothing may be loaded from anywhere, whatever a key holds.
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                meta name="generator" content={"trailproof " (run.version)};
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                a.skip href="#findings" { "Skip to findings" }
                // A table whose head the browser repeats on every printed page.
                table.layout role="presentation" {
                    thead {
                        tr { td { div.print-only.running { (running) } } }
                    }
                    tbody {
                        tr { td {
                            main {
                                @match doc {
                                    Doc::Validation(v) => (validation(v, run, &title)),
                                    Doc::Lake(l) => (lake(l, run, &title)),
                                }
                                (footer(run, how, hashes))
                            }
                        } }
                    }
                }
                @match how {
                    Embedding::Json => script type="application/json" id=(JSON_ELEMENT_ID) { (PreEscaped(embedded)) },
                    Embedding::GzipBase64 => script type="application/gzip" data-encoding="base64" id=(JSON_ELEMENT_ID) { (PreEscaped(embedded)) },
                }
            }
        }
    }
}

fn banner(verdict: &str, exit_code: i64) -> Markup {
    html! {
        p {
            span class={"verdict " (verdict_class(verdict))} { (verdict_word(verdict)) }
            " exit code " strong { (exit_code) }
            " — "
            (match verdict {
                "valid" => "every file in range was verified against CloudTrail's public keys.",
                "invalid" => "something was proven tampered, missing or not signed by CloudTrail.",
                _ => "nothing was proven wrong, but something could not be checked (never counted valid).",
            })
        }
    }
}

fn run_facts(run: &RunInfo) -> Markup {
    html! {
        tr { th scope="row" { "Run at (UTC)" } td { (run.run_at.format("%Y-%m-%dT%H:%M:%SZ")) } }
        tr { th scope="row" { "trailproof version" } td { (run.version) } }
        tr { th scope="row" { "Command line" } td { code { (shown(&run.command_line)) } } }
        tr { th scope="row" { "Source" } td { code { (shown(&run.source)) } } }
    }
}

fn validation(v: &Validation, run: &RunInfo, title: &str) -> Markup {
    let timeline = v.requested_t.map(|(a, b)| timeline::build(&v.chains, a, b));
    let with_problems: Vec<&Chain> = v
        .chains
        .iter()
        .filter(|c| !c.problems.is_empty() || !c.gaps.is_empty())
        .collect();
    html! {
        header {
            h1 { (title) }
            (banner(&v.verdict, v.exit_code))
            table.facts {
                caption.skip { "About this run" }
                tbody {
                    tr { th scope="row" { "Verdict" } td { (verdict_word(&v.verdict)) " (exit code " (v.exit_code) ")" } }
                    tr { th scope="row" { "Trail ARN" } td { code { (shown(&v.trail_arn)) } } }
                    tr { th scope="row" { "Requested range" } td { (range_text(v.requested.as_ref())) } }
                    tr { th scope="row" { "Found range" } td { (range_text(v.found.as_ref())) } }
                    @if let Some(h) = &v.resumed_from {
                        tr { th scope="row" { "Resumed from" } td { code { (shown(h)) } } }
                    }
                    (run_facts(run))
                    tr { th scope="row" { "Chains" } td { (v.chains.len()) } }
                    tr { th scope="row" { "Public-key source" } td { code { (shown(v.key_source.as_deref().unwrap_or("none"))) } } }
                    tr {
                        th scope="row" { "Fingerprints used" }
                        td {
                            @if v.keys.is_empty() { "no key verified a digest" }
                            @for k in &v.keys {
                                div { code { (shown(&k.fingerprint)) } @if !k.validity.is_empty() { " (valid " (k.validity) ")" } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="h-timeline" {
            h2 id="h-timeline" { "Coverage timeline" }
            @match &timeline {
                Some(t) => (timeline_svg(t)),
                None => p { "No requested range in the report: no timeline." },
            }
        }
        section aria-labelledby="h-chains" {
            h2 id="h-chains" { "Chains" }
            (chains_table(&v.chains))
        }
        section id="findings" aria-labelledby="h-findings" {
            h2 id="h-findings" { "Findings" }
            @if with_problems.is_empty() {
                p { "No invalid or unchecked file, no finding and no logging gap." }
            }
            @for c in &with_problems {
                (chain_findings(c))
            }
        }
        section aria-labelledby="h-summary" {
            h2 id="h-summary" { "Summary" }
            p { "The counts of the text report, in its words:" }
            div.summary role="group" aria-label="Summary as the text report prints it" { (summary_text(v)) }
        }
    }
}

fn range_text(r: Option<&(String, String)>) -> String {
    match r {
        Some((a, b)) => format!("{a} to {b}"),
        None => "none (no valid digest)".to_owned(),
    }
}

fn summary_text(v: &Validation) -> Markup {
    let lines = v.summary_lines.as_slice();
    let long = lines.len() > FOLD_ABOVE * 3;
    html! {
        @if long {
            details {
                summary { (lines.len()) " lines (one per chain): show all" }
                @for l in lines { (l) "\n" }
            }
        } @else {
            @for l in lines { (l) "\n" }
        }
    }
}

fn chains_table(chains: &[Chain]) -> Markup {
    let table = html! {
        table.chains {
            caption.skip { "Every chain validated, with its verdict and counts" }
            thead {
                tr {
                    th scope="col" { "Chain" }
                    th scope="col" { "Verdict" }
                    th scope="col" { "Digest files valid" }
                    th scope="col" { "Log files valid" }
                    th scope="col" { "Found range" }
                    th scope="col" { "Bucket / prefix" }
                }
            }
            tbody {
                @for c in chains {
                    tr {
                        th scope="row" { code { (shown(&c.label)) } }
                        td class=(format!("s-{}", c.verdict)) { (verdict_word(&c.verdict)) }
                        td { (c.summary.digest_files.valid) "/" (c.summary.digest_files.total)
                             @if c.summary.backfill_digest_files.total > 0 { " (backfill " (c.summary.backfill_digest_files.valid) "/" (c.summary.backfill_digest_files.total) ")" } }
                        td { (c.summary.log_files.valid) "/" (c.summary.log_files.total) }
                        td { (range_text(c.found.as_ref())) }
                        td { code { (shown(&c.bucket)) @if let Some(p) = &c.prefix { " / " (shown(p)) } } }
                    }
                }
            }
        }
    };
    html! {
        @if chains.len() > FOLD_ABOVE {
            details {
                summary { (chains.len()) " chains: " (chains.iter().filter(|c| c.verdict == "valid").count()) " valid, "
                    (chains.iter().filter(|c| c.verdict == "invalid").count()) " invalid, "
                    (chains.iter().filter(|c| c.verdict != "valid" && c.verdict != "invalid").count()) " incomplete (show all)" }
                (table)
            }
        } @else {
            (table)
        }
    }
}

fn problems_table(problems: &[Problem]) -> Markup {
    html! {
        table {
            thead {
                tr {
                    th scope="col" { "File" }
                    th scope="col" { "Object" }
                    th scope="col" { "Verdict" }
                    th scope="col" { "Detail" }
                }
            }
            tbody {
                @for p in problems {
                    tr {
                        td { (shown(&p.what)) }
                        td { code { (shown(&p.location)) } }
                        td class=(state_class(p.state)) { (shown(&p.message)) }
                        td { @if let Some(d) = &p.detail { code { (shown(d)) } } }
                    }
                }
            }
        }
    }
}

fn chain_findings(c: &Chain) -> Markup {
    let invalid = c
        .problems
        .iter()
        .filter(|p| p.state == State::Invalid)
        .count() as u64;
    let unchecked = c
        .problems
        .iter()
        .filter(|p| p.state == State::NotChecked)
        .count() as u64;
    html! {
        section.chain {
            h3 { "Chain " code { (shown(&c.label)) } " — " span class=(format!("s-{}", c.verdict)) { (verdict_word(&c.verdict)) } }
            @if !c.problems.is_empty() {
                p { (plural(invalid, "invalid file or finding", "invalid files or findings")) ", "
                    (plural(unchecked, "file not checked", "files not checked")) "." }
                @if c.problems.len() > FOLD_ABOVE {
                    details {
                        summary { "Show all " (c.problems.len()) }
                        (problems_table(&c.problems))
                    }
                } @else {
                    (problems_table(&c.problems))
                }
            }
            @if !c.gaps.is_empty() {
                h4 { "Logging gaps (CloudTrail's chain restarts: no digest expected)" }
                ul {
                    @for g in &c.gaps {
                        li { @if g.backfill { "(backfill) " } "No log files were delivered by CloudTrail between " (g.from) " and " (g.to) }
                    }
                }
            }
        }
    }
}

const LABEL_W: f64 = 290.0;
const PLOT_W: f64 = 680.0;
const ROW_H: f64 = 16.0;
const ROW_GAP: f64 = 4.0;
const AXIS_H: f64 = 30.0;

fn tick_label(t: chrono::DateTime<chrono::Utc>, unit: Unit) -> String {
    match unit {
        Unit::Hour => t.format("%m-%d %H:%M").to_string(),
        Unit::Day | Unit::Week => t.format("%Y-%m-%d").to_string(),
        Unit::Month => t.format("%Y-%m").to_string(),
    }
}

/// The hover text of cells `a..b` of a row.
fn cells_title(t: &Timeline, row: &timeline::Row, a: usize, b: usize) -> String {
    let mut sum = timeline::Cell::default();
    let mut named: Vec<String> = Vec::new();
    let mut more = 0u64;
    for c in &row.cells[a..b] {
        sum.digests_valid += c.digests_valid;
        sum.digests_invalid += c.digests_invalid;
        sum.digests_not_checked += c.digests_not_checked;
        sum.log_files += c.log_files;
        sum.bad_logs += c.bad_logs;
        for n in &c.named {
            if named.len() < 3 {
                named.push(n.clone());
            } else {
                more += 1;
            }
        }
        more += c.more_named;
    }
    let mark = row.cells[a].mark();
    let who = format!("{}: ", shown(&row.label));
    let digests = sum.digests_valid + sum.digests_invalid + sum.digests_not_checked;
    let mut text = format!(
        "{who}{} to {} UTC: {}. {}",
        t.cell_start(a).format("%Y-%m-%d %H:%M"),
        t.cell_end(b - 1).format("%Y-%m-%d %H:%M"),
        mark.word(),
        plural(digests, "digest file", "digest files"),
    );
    if digests > 0 {
        text.push_str(&format!(
            " ({} valid, {} invalid, {} not checked), {} listed",
            sum.digests_valid,
            sum.digests_invalid,
            sum.digests_not_checked,
            plural(sum.log_files, "log file", "log files")
        ));
        if sum.bad_logs > 0 {
            text.push_str(&format!(", {} not valid", sum.bad_logs));
        }
    }
    text.push('.');
    for n in named {
        text.push('\n');
        text.push_str(&shown(&n));
    }
    if more > 0 {
        text.push_str(&format!("\nand {more} more"));
    }
    text
}

fn timeline_svg(t: &Timeline) -> Markup {
    let n = t.len().max(1);
    let cw = PLOT_W / n as f64;
    let height = AXIS_H + t.rows.len() as f64 * (ROW_H + ROW_GAP) + 8.0;
    let width = LABEL_W + PLOT_W + 10.0;
    let ticks: Vec<usize> = {
        let step = n.div_ceil(8).max(1);
        (0..n).step_by(step).collect()
    };
    let legend = [
        Mark::Valid,
        Mark::Invalid,
        Mark::NotChecked,
        Mark::Gap,
        Mark::None,
    ];
    html! {
        div.timeline {
            p {
                "One row per (organization, account, region) chain; one cell per " (t.unit.word())
                " from " (t.start.format("%Y-%m-%dT%H:%M:%SZ")) " to " (t.end.format("%Y-%m-%dT%H:%M:%SZ"))
                ". A cell shows the worst of what it holds. Hover a cell for its digest files and counts."
                @if t.grouped { " Chains that are all valid with the same coverage share a row." }
            }
            ul.legend aria-label="Legend" {
                @for m in legend {
                    li {
                        svg width="28" height="14" viewBox="0 0 28 14" aria-hidden="true" {
                            rect class=(format!("{} swatch", m.class())) x="0.5" y="0.5" width="27" height="13" stroke="#666" stroke-width="1" {}
                        }
                        span { (legend_word(m)) }
                    }
                }
            }
            svg.chart viewBox=(format!("0 0 {width} {height}")) role="img" aria-labelledby="tl-title tl-desc" xmlns="http://www.w3.org/2000/svg" {
                title id="tl-title" { "Coverage timeline" }
                desc id="tl-desc" { (t.rows.len()) " rows; the chains table and the findings below say the same in text." }
                defs {
                    pattern id="p-valid" width="6" height="6" patternUnits="userSpaceOnUse" {
                        rect width="6" height="6" fill="#1b7f3b" {}
                    }
                    pattern id="p-invalid" width="6" height="6" patternUnits="userSpaceOnUse" {
                        rect width="6" height="6" fill="#b3261e" {}
                        path d="M0 0L6 6M6 0L0 6" stroke="#000" stroke-width="1.4" {}
                    }
                    pattern id="p-nc" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                        rect width="6" height="6" fill="#f2b84b" {}
                        rect width="2.5" height="6" fill="#5a3a00" {}
                    }
                    pattern id="p-gap" width="6" height="6" patternUnits="userSpaceOnUse" {
                        rect width="6" height="6" fill="#e5e7eb" {}
                        circle cx="3" cy="3" r="1.3" fill="#4b5563" {}
                    }
                }
                g.axis {
                    @for &i in &ticks {
                        @let x = LABEL_W + i as f64 * cw;
                        line x1=(x) y1="20" x2=(x) y2=(height - 6.0) stroke="#e2e5e9" stroke-width="0.6" {}
                        text x=(x + 2.0) y="14" { (tick_label(t.cell_start(i), t.unit)) }
                    }
                }
                @for (r, row) in t.rows.iter().enumerate() {
                    @let y = AXIS_H + r as f64 * (ROW_H + ROW_GAP);
                    g.row {
                        text x="4" y=(y + ROW_H - 4.0) {
                            title { (row_title(row)) }
                            (clip(&shown(&row.label), 38)) " " (verdict_mark(&row.verdict))
                        }
                        g.cells {
                            @for (a, b) in runs(row) {
                                rect class=(row.cells[a].mark().class()) x=(fmt(LABEL_W + a as f64 * cw)) y=(y) width=(fmt((b - a) as f64 * cw)) height=(ROW_H) {
                                    title { (cells_title(t, row, a, b)) }
                                }
                            }
                        }
                        rect.frame x=(LABEL_W) y=(y) width=(PLOT_W) height=(ROW_H) {}
                    }
                }
            }
        }
    }
}

fn fmt(x: f64) -> String {
    format!("{x:.2}")
}

fn legend_word(m: Mark) -> &'static str {
    match m {
        Mark::Valid => "valid (solid)",
        Mark::Invalid => "invalid (crossed)",
        Mark::NotChecked => "not checked (striped)",
        Mark::Gap => "logging gap, no digest expected (dotted)",
        Mark::None => "no digest in range (blank)",
    }
}

fn verdict_mark(v: &str) -> &'static str {
    match v {
        "valid" => "✔",
        "invalid" => "✘ INVALID",
        _ => "? INCOMPLETE",
    }
}

fn row_title(row: &timeline::Row) -> String {
    let mut s = format!("{} ({})", shown(&row.label), row.verdict);
    if row.members.len() > 1 {
        let shown_members: Vec<String> = row.members.iter().take(50).map(|m| shown(m)).collect();
        s.push_str(&format!(": {}", shown_members.join(", ")));
        if row.members.len() > 50 {
            s.push_str(&format!(
                " and {} more (see the chains table)",
                row.members.len() - 50
            ));
        }
    }
    s
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

/// Runs of cells drawn as one rectangle: neighbours that are valid, gaps or empty alike. A cell
/// with a problem is always its own, so its hover text names its files.
fn runs(row: &timeline::Row) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = 0;
    while a < row.cells.len() {
        let m = row.cells[a].mark();
        let mut b = a + 1;
        if matches!(m, Mark::Valid | Mark::Gap | Mark::None) {
            while b < row.cells.len() && row.cells[b].mark() == m {
                b += 1;
            }
        }
        out.push((a, b));
        a = b;
    }
    out
}

fn lake(l: &Lake, run: &RunInfo, title: &str) -> Markup {
    html! {
        header {
            h1 { (title) }
            (banner(&l.verdict, l.exit_code))
            table.facts {
                caption.skip { "About this run" }
                tbody {
                    tr { th scope="row" { "Verdict" } td { (verdict_word(&l.verdict)) " (exit code " (l.exit_code) ")" } }
                    tr { th scope="row" { "Sign file" } td { code { (shown(&l.sign_location)) } } }
                    tr { th scope="row" { "Query completed" } td { (l.query_complete_time.as_deref().unwrap_or("unknown")) } }
                    tr { th scope="row" { "Signature" } td class=(state_class(l.signature_state)) { (shown(&l.signature_message)) } }
                    (run_facts(run))
                    tr { th scope="row" { "Public-key source" } td { code { (shown(&l.key_source)) } " (region " (shown(&l.key_region)) ")" } }
                    tr { th scope="row" { "Fingerprint" } td { code { (shown(&l.fingerprint)) } @if !l.key_found { " (not found)" } } }
                    tr { th scope="row" { "Unlisted files check" } td { (shown(&l.unlisted_check)) } }
                }
            }
        }
        section id="findings" aria-labelledby="h-files" {
            h2 id="h-files" { "Result files" }
            @if !l.sign_problems.is_empty() {
                h3 { "Problems with the sign file" }
                ul { @for p in &l.sign_problems { li { (shown(p)) } } }
            }
            table {
                thead { tr { th scope="col" { "File" } th scope="col" { "Location" } th scope="col" { "Verdict" } th scope="col" { "Detail" } } }
                tbody {
                    @for f in &l.files {
                        tr {
                            td { code { (shown(&f.name)) } }
                            td { code { (shown(&f.location)) } }
                            td class=(state_class(f.state)) { (shown(&f.message)) " (" (state_word(f.state)) ")" }
                            td { @if let Some(d) = &f.detail { code { (shown(d)) } } }
                        }
                    }
                }
            }
            @if !l.notes.is_empty() {
                h3 { "Notes" }
                ul { @for n in &l.notes { li { (shown(n)) } } }
            }
        }
    }
}

fn footer(run: &RunInfo, how: Embedding, h: &Hashes) -> Markup {
    html! {
        footer {
            @match how {
                Embedding::Json => p {
                    "Machine-readable copy: the JSON report is embedded in this page (element "
                    code { "script#" (JSON_ELEMENT_ID) } ", every " code { "<" } " written " code { "\\u003c" } ")."
                },
                Embedding::GzipBase64 => p {
                    "Machine-readable copy: the JSON report (over " ((crate::PLAIN_JSON_LIMIT >> 20)) " MiB) is embedded gzip-compressed and base64-encoded in element "
                    code { "script#" (JSON_ELEMENT_ID) } "; " code { "base64 -d | gunzip" } " gives back its bytes, whose SHA-256 is the first below."
                },
            }
            p { "SHA-256 of the JSON report as " code { "--format json" } " prints it: " code.sha-report { (h.report) } }
            p { "SHA-256 of the embedded text: " code.sha-embedded { (h.embedded) } }
            p { "Written by trailproof " (run.version) " on " (run.run_at.format("%Y-%m-%dT%H:%M:%SZ")) ". This page loads nothing from the network." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Chain, Digest, Summary};

    fn chain(i: usize, state: State, from: &str, to: &str) -> Chain {
        Chain {
            label: format!("o-x/{:012} r{}", i / 17, i % 17),
            bucket: "b".into(),
            prefix: None,
            verdict: if state == State::Valid {
                "valid"
            } else {
                "invalid"
            }
            .into(),
            summary: Summary::default(),
            found: None,
            digests: vec![Digest {
                location: format!("s3://b/d{i}"),
                state,
                message: if state == State::Valid {
                    "valid"
                } else {
                    "INVALID: not found"
                }
                .into(),
                backfill: false,
                start: crate::model::time(from),
                end: crate::model::time(to),
                log_files: 3,
                bad_logs: 0,
            }],
            problems: Vec::new(),
            gaps: Vec::new(),
            spans: Vec::new(),
            valid_logs_listed: 0,
        }
    }

    /// Seven years × 17 regions × 1,000 accounts: weekly cells, and the 16,999 chains valid
    /// alike in one row, so the timeline stays small whatever the number of chains.
    #[test]
    fn seven_years_of_an_organisation_stay_small() {
        let (start, end) = ("2018-01-01T00:00:00Z", "2025-01-01T00:00:00Z");
        let mut chains: Vec<Chain> = (0..16_999)
            .map(|i| chain(i, State::Valid, start, end))
            .collect();
        chains.push(chain(
            16_999,
            State::Invalid,
            "2021-06-01T00:00:00Z",
            "2021-06-01T01:00:00Z",
        ));
        let t = timeline::build(
            &chains,
            crate::model::time(start).expect("t"),
            crate::model::time(end).expect("t"),
        );
        assert_eq!(t.unit, Unit::Week);
        assert!(t.len() <= timeline::MAX_CELLS);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].label, "16999 chains, all valid");
        let svg = timeline_svg(&t).into_string();
        assert!(svg.len() < 150_000, "{} bytes", svg.len());
        assert_eq!(svg.matches("class=\"m-invalid\"").count(), 1);
        // The group's cells are one run: one rectangle (plus the frame).
        assert!(svg
            .contains("16999 chains, all valid: 2018-01-01 00:00 to 2025-01-01 00:00 UTC: valid."));
    }
}

//! `table`: markdown from what `benches/run.sh` measured and from criterion's estimates.
//!
//! `--results DIR` holds:
//! - `e2e.tsv`: one row per run: `size scenario tool rep wall_s user_s sys_s maxrss_kb exit
//!   logs_valid logs_total server_cpu_s` (scenario `archive`, `live0`, `live20`; tool
//!   `trailproof`, `aws`, or `aws-baseline`: the AWS CLI over a range without digests, its fixed
//!   cost, used to extrapolate a subset run to the whole trail);
//! - `ceiling-SIZE.jsonl`: the `ceiling` subcommand's output;
//! - `trail-SIZE.json`: the `trail.json` of each generated trail;
//! - `machine.md`: machine and load notes, copied verbatim.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct TableArgs {
    /// Directory of run.sh's results (see the module documentation).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Criterion's output directory (target/criterion) for the micro-benchmark table.
    #[arg(long)]
    criterion: Option<PathBuf>,
}

pub fn run(args: &TableArgs) -> crate::Result<()> {
    let mut out = String::new();
    if let Some(dir) = &args.results {
        if let Ok(machine) = fs::read_to_string(dir.join("machine.md")) {
            out.push_str(&machine);
            out.push('\n');
        }
        e2e(dir, &mut out)?;
    }
    if let Some(dir) = &args.criterion {
        micro(dir, &mut out)?;
    }
    print!("{out}");
    Ok(())
}

/// One measured run.
#[derive(Clone, Debug)]
struct Run {
    size: String,
    scenario: String,
    tool: String,
    wall: f64,
    cpu: f64,
    rss_mb: f64,
    exit: i32,
    logs_valid: u64,
    logs_total: u64,
    server_cpu: Option<f64>,
    /// Fastest and slowest wall time of the runs a median was taken over.
    range: (f64, f64),
}

fn parse_runs(path: &Path) -> crate::Result<Vec<Run>> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut runs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if line.trim().is_empty() || f.first() == Some(&"size") {
            continue;
        }
        let [size, scenario, tool, _rep, wall, user, sys, rss, exit, valid, total, server, ..] =
            f.as_slice()
        else {
            return Err(format!("{}:{}: expected 12 columns", path.display(), n + 1).into());
        };
        let num = |s: &str| s.trim().parse::<f64>().unwrap_or(f64::NAN);
        runs.push(Run {
            size: (*size).to_owned(),
            scenario: (*scenario).to_owned(),
            tool: (*tool).to_owned(),
            wall: num(wall),
            cpu: num(user) + num(sys),
            rss_mb: num(rss) / 1024.0,
            exit: exit.trim().parse().unwrap_or(-1),
            logs_valid: valid.trim().parse().unwrap_or(0),
            logs_total: total.trim().parse().unwrap_or(0),
            server_cpu: server.trim().parse().ok(),
            range: (num(wall), num(wall)),
        });
    }
    Ok(runs)
}

/// The run with the median wall time (the lower one of the middle two), how many there were,
/// and the range of their wall times.
fn median<'a>(runs: impl Iterator<Item = &'a Run>) -> Option<(Run, usize)> {
    let mut v: Vec<&Run> = runs.collect();
    v.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let n = v.len();
    let (lo, hi) = (v.first()?.wall, v.last()?.wall);
    v.get(n.saturating_sub(1) / 2).map(|r| {
        let mut m = (*r).clone();
        m.range = (lo, hi);
        (m, n)
    })
}

/// Wall time of a median run, with the range when there were several.
fn wall(r: &Run, n: usize) -> String {
    if n > 1 {
        format!("{} ({}–{})", secs(r.wall), secs(r.range.0), secs(r.range.1))
    } else {
        secs(r.wall)
    }
}

fn mb(bytes: f64) -> String {
    format!("{:.0} MB", bytes / 1e6)
}

fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.1}")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

struct Size {
    name: String,
    trail: Value,
    ceiling: Vec<Value>,
    /// One-minute load average when run.sh started on this trail.
    load: Option<String>,
}

fn sizes(dir: &Path) -> crate::Result<Vec<Size>> {
    let mut sizes = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("trail-"))
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let trail: Value = serde_json::from_slice(&fs::read(&path)?)?;
        let ceiling = fs::read_to_string(dir.join(format!("ceiling-{name}.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let load = fs::read_to_string(dir.join(format!("load-{name}.txt")))
            .ok()
            .map(|l| l.trim().to_owned());
        sizes.push(Size {
            name: name.to_owned(),
            trail,
            ceiling,
            load,
        });
    }
    // In run.sh's order when it recorded it, else by number of logs.
    let order: Vec<String> = fs::read_to_string(dir.join("sizes"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    sizes.sort_by_key(|s| {
        (
            order
                .iter()
                .position(|o| *o == s.name)
                .unwrap_or(usize::MAX),
            s.trail["logs"].as_u64().unwrap_or(0),
        )
    });
    Ok(sizes)
}

/// The AWS CLI's time for the whole trail: measured, or extrapolated from a subset run as
/// `fixed + (subset − fixed) × logs / subset logs`, `fixed` being its time on a range with no
/// digest (start-up, DescribeTrails, ListPublicKeys, one listing).
struct AwsTime {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
    note: String,
}

fn aws_time(runs: &[Run], size: &str, scenario: &str, logs: u64) -> Option<AwsTime> {
    let (run, _) = median(
        runs.iter()
            .filter(|r| r.size == size && r.scenario == scenario && r.tool == "aws"),
    )?;
    if run.logs_total >= logs || run.logs_total == 0 {
        return Some(AwsTime {
            wall: run.wall,
            cpu: run.cpu,
            rss_mb: run.rss_mb,
            note: "measured on the whole trail".to_owned(),
        });
    }
    let fixed = median(
        runs.iter()
            .filter(|r| r.size == size && r.scenario == scenario && r.tool == "aws-baseline"),
    )
    .map_or(0.0, |(r, _)| r.wall);
    let scale = logs as f64 / run.logs_total as f64;
    let wall = fixed + (run.wall - fixed).max(0.0) * scale;
    Some(AwsTime {
        wall,
        cpu: run.cpu * scale,
        rss_mb: run.rss_mb,
        note: format!(
            "extrapolated: measured {} s on {} logs, fixed cost {} s",
            secs(run.wall),
            thousands(run.logs_total),
            secs(fixed)
        ),
    })
}

fn e2e(dir: &Path, out: &mut String) -> crate::Result<()> {
    let runs = parse_runs(&dir.join("e2e.tsv"))?;
    let sizes = sizes(dir)?;
    let _ = writeln!(out, "## End to end\n");
    let _ = writeln!(
        out,
        "Wall time is the median of the repetitions shown; CPU is user + system of that run \
         (the client only; the local server's CPU is its own column); peak RSS is \
         `/usr/bin/time`'s maximum resident set size. MB = 10^6 bytes of uncompressed log data.\n"
    );
    let _ = writeln!(
        out,
        "| trail | run | wall s | CPU s | peak RSS MB | server CPU s | throughput | ratio (target) |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|---|");
    let mut failures = Vec::new();
    let mut per_log = Vec::new();
    let mut cpu_rows = Vec::new();
    for size in &sizes {
        let t = &size.trail;
        let logs = t["logs"].as_u64().unwrap_or(0);
        let inflated = t["inflated_bytes"].as_f64().unwrap_or(0.0);
        let label = format!(
            "**{}**: {} h × {} logs × {} records: {} logs, {} ({} gzip){}",
            size.name,
            t["params"]["hours"],
            t["params"]["logs_per_hour"],
            t["params"]["records_per_log"],
            thousands(logs),
            mb(inflated),
            mb(t["compressed_bytes"].as_f64().unwrap_or(0.0)),
            size.load.as_ref().map_or(String::new(), |l| format!(
                "; load average {l} at its start"
            )),
        );
        let mut first = true;
        let mut row = |out: &mut String, cells: [String; 7]| {
            let name = if first { label.clone() } else { String::new() };
            first = false;
            let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
        };
        // Ceiling: the fastest inflater on all threads.
        let max_threads = size
            .ceiling
            .iter()
            .filter_map(|c| c["threads"].as_u64())
            .max()
            .unwrap_or(1);
        let best = size
            .ceiling
            .iter()
            .filter(|c| c["threads"].as_u64() == Some(max_threads))
            .max_by(|a, b| {
                let (a, b) = (a["mb_per_s"].as_f64(), b["mb_per_s"].as_f64());
                a.unwrap_or(0.0).total_cmp(&b.unwrap_or(0.0))
            });
        let ceiling = best.and_then(|b| b["mb_per_s"].as_f64());
        for c in &size.ceiling {
            row(
                out,
                [
                    format!(
                        "ceiling probe: {}, {} thread{}",
                        c["probe"].as_str().unwrap_or("?"),
                        c["threads"],
                        if c["threads"].as_u64() == Some(1) {
                            ""
                        } else {
                            "s"
                        }
                    ),
                    secs(c["seconds"].as_f64().unwrap_or(f64::NAN)),
                    c["cpu_seconds"].as_f64().map_or(String::new(), secs),
                    String::new(),
                    String::new(),
                    format!(
                        "{:.0} MB/s ({:.0} MB per CPU-s)",
                        c["mb_per_s"].as_f64().unwrap_or(0.0),
                        c["mb_per_cpu_s"].as_f64().unwrap_or(f64::NAN)
                    ),
                    if Some(c) == best {
                        "the ceiling".to_owned()
                    } else {
                        String::new()
                    },
                ],
            );
        }
        let pick = |scenario: &str, tool: &str| {
            median(
                runs.iter()
                    .filter(|r| r.size == size.name && r.scenario == scenario && r.tool == tool),
            )
        };
        // The probe's best CPU efficiency (MB per CPU-second), whatever the thread count.
        let cpu_ceiling = size
            .ceiling
            .iter()
            .filter_map(|c| c["mb_per_cpu_s"].as_f64())
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let mut per = vec![size.name.clone(), thousands(logs)];
        for (tool, what) in [
            ("trailproof", "`trailproof validate --archive`"),
            (
                "trailproof-notrim",
                "experiment: the same with glibc's heap trimming off (`MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`)",
            ),
        ] {
            let Some((r, n)) = pick("archive", tool) else {
                if tool == "trailproof" {
                    per.extend([String::new(), String::new()]);
                }
                continue;
            };
            let rate = inflated / 1e6 / r.wall;
            let ratio = ceiling.map(|c| rate / c);
            let cpu_ratio = cpu_ceiling.map(|c| inflated / 1e6 / r.cpu / c);
            if tool == "trailproof" {
                if let Some(ratio) = ratio.filter(|x| *x < 0.85) {
                    failures.push(format!(
                        "{}: archive at {:.0}% of the ceiling",
                        size.name,
                        ratio * 100.0
                    ));
                }
                per.push(format!(
                    "{:.0} / {:.0}",
                    r.wall / logs as f64 * 1e6,
                    r.cpu / logs as f64 * 1e6
                ));
                per.push(format!("{:.0}", r.rss_mb));
            }
            if r.exit != 0 || r.logs_valid != logs {
                failures.push(format!(
                    "{}: {tool} archive run exit {} with {}/{} logs valid",
                    size.name, r.exit, r.logs_valid, logs
                ));
            }
            let mut judged = ratio.map_or(String::new(), |x| {
                format!(
                    "{:.0}% of the ceiling (≥ 85%): {}",
                    x * 100.0,
                    verdict(x >= 0.85)
                )
            });
            if let Some(x) = cpu_ratio {
                let _ = write!(judged, "; per CPU-second {:.0}% of the probe's", x * 100.0);
            }
            row(
                out,
                [
                    if n > 1 {
                        format!("{what} (median of {n})")
                    } else {
                        what.to_owned()
                    },
                    wall(&r, n),
                    secs(r.cpu),
                    format!("{:.0}", r.rss_mb),
                    String::new(),
                    format!("{rate:.0} MB/s"),
                    judged,
                ],
            );
        }
        for (scenario, what, target) in [
            ("live0", "live, local server", 20.0),
            ("live20", "live, 20 ms per S3 request", 50.0),
        ] {
            let aws = aws_time(&runs, &size.name, scenario, logs);
            let tp = pick(scenario, "trailproof");
            match &tp {
                Some((r, _)) => {
                    per.push(format!(
                        "{:.0} / {:.0}",
                        r.wall / logs as f64 * 1e6,
                        r.cpu / logs as f64 * 1e6
                    ));
                    per.push(format!("{:.0}", r.rss_mb));
                }
                None => per.extend([String::new(), String::new()]),
            }
            // The shipped defaults first, then experiments (other flags, one run each).
            let mut tools: Vec<String> = runs
                .iter()
                .filter(|r| {
                    r.size == size.name
                        && r.scenario == scenario
                        && r.tool.starts_with("trailproof-")
                })
                .map(|r| r.tool.clone())
                .collect();
            tools.dedup();
            tools.insert(0, "trailproof".to_owned());
            for tool in tools {
                let Some((r, n)) = pick(scenario, &tool) else {
                    continue;
                };
                if r.exit != 0 || r.logs_valid != logs {
                    failures.push(format!(
                        "{}: {tool} {scenario} run exit {} with {}/{} logs valid",
                        size.name, r.exit, r.logs_valid, logs
                    ));
                }
                let shipped = tool == "trailproof";
                let ratio = aws.as_ref().map(|a| a.wall / r.wall);
                let judged = match ratio {
                    Some(x) if shipped => {
                        if x < target {
                            failures
                                .push(format!("{}: {what} {x:.1}× (target {target}×)", size.name));
                        }
                        format!(
                            "trailproof {x:.1}× faster (≥ {target}×): {}",
                            verdict(x >= target)
                        )
                    }
                    Some(x) => format!("{x:.1}× faster"),
                    None => String::new(),
                };
                let label = match tool.strip_prefix("trailproof-c") {
                    Some(c) if !shipped => {
                        format!("{what}: experiment: `trailproof validate --concurrency {c}`")
                    }
                    _ => format!("{what}: `trailproof validate` (default: 256 requests in flight)"),
                };
                row(
                    out,
                    [
                        if n > 1 {
                            format!("{label} (median of {n})")
                        } else {
                            label
                        },
                        wall(&r, n),
                        secs(r.cpu),
                        format!("{:.0}", r.rss_mb),
                        r.server_cpu.map_or(String::new(), secs),
                        format!("{:.0} logs/s", logs as f64 / r.wall),
                        judged,
                    ],
                );
            }
            if let Some(aws) = aws {
                let server =
                    median(runs.iter().filter(|r| {
                        r.size == size.name && r.scenario == scenario && r.tool == "aws"
                    }))
                    .and_then(|(r, _)| r.server_cpu);
                row(
                    out,
                    [
                        format!("{what}: `aws cloudtrail validate-logs` ({})", aws.note),
                        secs(aws.wall),
                        secs(aws.cpu),
                        format!("{:.0}", aws.rss_mb),
                        server.map_or(String::new(), secs),
                        format!("{:.0} logs/s", logs as f64 / aws.wall),
                        String::new(),
                    ],
                );
            }
        }
        per_log.push(per);

        // Live CPU per log file against --archive CPU per log file on the same trail (the
        // client's CPU only), and the wall-clock ratio against the AWS CLI.
        // The median of the repetitions' CPU (not the CPU of the wall-time median run).
        let cpu_per_log = |scenario: &str| {
            let mut cpu: Vec<f64> = runs
                .iter()
                .filter(|r| r.size == size.name && r.scenario == scenario && r.tool == "trailproof")
                .map(|r| r.cpu)
                .collect();
            cpu.sort_by(f64::total_cmp);
            cpu.get(cpu.len() / 2).map(|c| c / logs as f64 * 1e6)
        };
        let archive = cpu_per_log("archive");
        let mut cells = vec![
            size.name.clone(),
            thousands(logs),
            archive.map_or(String::new(), |a| format!("{a:.0}")),
        ];
        for scenario in ["live0", "live20"] {
            let live = cpu_per_log(scenario);
            cells.push(live.map_or(String::new(), |l| format!("{l:.0}")));
            match live.zip(archive) {
                Some((l, a)) if a > 0.0 => {
                    let x = l / a;
                    if scenario == "live0" && x > 2.0 {
                        failures.push(format!(
                            "{}: live CPU per log file {x:.2}× the archive's (target ≤ 2×)",
                            size.name
                        ));
                    }
                    cells.push(if scenario == "live0" {
                        format!("**{x:.2}×** (≤ 2×): {}", verdict(x <= 2.0))
                    } else {
                        format!("{x:.2}×")
                    });
                }
                _ => cells.push(String::new()),
            }
        }
        for scenario in ["live0", "live20"] {
            let vs = aws_time(&runs, &size.name, scenario, logs)
                .zip(pick(scenario, "trailproof"))
                .map(|(a, (r, _))| a.wall / r.wall);
            cells.push(vs.map_or(String::new(), |x| format!("{x:.1}×")));
        }
        cpu_rows.push(cells);
    }
    let _ = writeln!(out, "\n### Per log file (linearity) and memory\n");
    let _ = writeln!(
        out,
        "µs per log file, wall / client CPU, and peak RSS in MB, of the trailproof runs above.\n"
    );
    let _ = writeln!(
        out,
        "| trail | logs | archive µs/log | archive RSS | live local µs/log | live local RSS | live 20 ms µs/log | live 20 ms RSS |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
    for per in per_log {
        let _ = writeln!(out, "| {} |", per.join(" | "));
    }
    let _ = writeln!(out, "\n### CPU per log file: live against `--archive`\n");
    let _ = writeln!(
        out,
        "Client CPU (user + system, median of the repetitions) per log file, live against \
         `--archive` on the same trail (target: live at most 2× the archive's, local server), \
         and trailproof's wall-clock speed-up over `aws cloudtrail validate-logs` live at 0 and \
         20 ms per S3 request.\n"
    );
    let _ = writeln!(
        out,
        "| trail | logs | archive CPU µs/log | live local CPU µs/log | live / archive | live 20 ms CPU µs/log | live 20 ms / archive | vs AWS CLI, 0 ms | vs AWS CLI, 20 ms |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|--:|--:|--:|--:|");
    for cells in cpu_rows {
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\n### Targets not met\n");
    if failures.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for f in failures {
        let _ = writeln!(out, "- {f}");
    }
    out.push('\n');
    Ok(())
}

/// Every `new/benchmark.json` under criterion's directory, with its mean time and throughput.
fn micro(dir: &Path, out: &mut String) -> crate::Result<()> {
    let mut found: BTreeMap<String, (f64, f64, Value)> = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") {
                    let bench: Value = match fs::read(path.join("benchmark.json")) {
                        Ok(b) => serde_json::from_slice(&b)?,
                        Err(_) => continue,
                    };
                    let est: Value =
                        serde_json::from_slice(&fs::read(path.join("estimates.json"))?)?;
                    let ns = est["mean"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
                    let err = est["mean"]["standard_error"].as_f64().unwrap_or(f64::NAN);
                    let id = bench["full_id"].as_str().unwrap_or("?").to_owned();
                    found.insert(id, (ns, err, bench["throughput"].clone()));
                } else {
                    stack.push(path);
                }
            }
        }
    }
    let _ = writeln!(out, "## Micro-benchmarks (criterion)\n");
    let _ = writeln!(
        out,
        "Mean time per iteration (± standard error) and the throughput it gives: MB/s of \
         uncompressed log data (10^6 bytes), or operations per second.\n"
    );
    let _ = writeln!(out, "| benchmark | time per iteration | throughput |");
    let _ = writeln!(out, "|---|--:|--:|");
    for (id, (ns, err, throughput)) in found {
        let per_s = 1e9 / ns;
        let rate = if let Some(bytes) = throughput
            .get("BytesDecimal")
            .or_else(|| throughput.get("Bytes"))
            .and_then(Value::as_f64)
        {
            format!("{:.0} MB/s", bytes * per_s / 1e6)
        } else if let Some(n) = throughput.get("Elements").and_then(Value::as_f64) {
            format!("{} /s", thousands((n * per_s).round() as u64))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| `{id}` | {:.3} ms ± {:.3} | {rate} |",
            ns / 1e6,
            err / 1e6
        );
    }
    out.push('\n');
    Ok(())
}

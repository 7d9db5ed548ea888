//! Shared by every mode: the selection's times and options, running the job, and writing the
//! report as the walk produces it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use trailproof::report::doc::{
    write_chain_head, write_run_head, ChainDoc, EntryDoc, RunDoc, RunHead,
};
use trailproof::report::entry_line;
use trailproof::state::chain_id;
use trailproof::{
    discover_chains, time, validate_chains, Chain, Discovery, EntrySink, Error, Head, ObjectStore,
    Options, Parallelism, PublicKeySource, Report, State, TextWriter, TrailArn, Verdict,
};

use crate::config::{Format, Output, ReportBuffer, Selection};
use crate::progress::Bar;

/// The trail and range a selection names.
pub struct Range {
    pub arn: TrailArn,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Range {
    pub fn parse(sel: &Selection) -> Result<Range, Error> {
        let arn = match (&sel.trail_arn, &sel.trail_name) {
            (Some(arn), _) => TrailArn::parse(arn)?,
            (None, Some(name)) => {
                let home = sel
                    .home_region
                    .clone()
                    .or_else(|| sel.region.clone())
                    .ok_or_else(|| {
                        Error::Usage(
                            "--trail-name needs the trail's --home-region (or --region)".to_owned(),
                        )
                    })?;
                TrailArn {
                    arn: format!(
                        "arn:aws:cloudtrail:{home}:{}:trail/{name}",
                        sel.account_id.as_deref().unwrap_or("")
                    ),
                    region: home,
                    account_id: sel.account_id.clone().unwrap_or_default(),
                    name: name.clone(),
                }
            }
            (None, None) => {
                return Err(Error::Usage(
                    "--trail-arn or --trail-name is required".to_owned(),
                ))
            }
        };
        let start = time::parse(&sel.start_time)?;
        let end = match &sel.end_time {
            Some(t) => time::parse(t)?,
            None => Utc::now(),
        };
        if start > end {
            return Err(Error::TimeRange);
        }
        Ok(Range { arn, start, end })
    }
}

/// What to validate, wherever it is read from.
pub struct Job<'a> {
    pub store: &'a dyn ObjectStore,
    pub keys: &'a dyn PublicKeySource,
    /// The chain the flags name (the trail's account and source region); with discovery, the
    /// bucket and prefix to search.
    pub chain: Chain,
    pub parallelism: Parallelism,
    pub check_unreferenced_logs: bool,
    /// What is read, as the HTML report names it: `s3://bucket/prefix` or the archive's path.
    pub source: String,
    /// What CloudTrail's `GetTrailStatus` said of the trail (live mode).
    pub trail_status: Option<trailproof::TrailStatus>,
}

/// Runs a job as the flags ask (one chain or all found; incremental with --state), writes the
/// report as the walk produces it, then saves the state, and returns the exit status.
pub fn execute(
    range: &Range,
    sel: &Selection,
    job: Job<'_>,
    verbose: bool,
    format: Format,
    output: &Output,
) -> Result<u8, Error> {
    let (mut out, report_file) = ReportFile::open(output)?;
    let discover =
        sel.all_accounts || sel.all_regions || sel.accounts.is_some() || sel.regions.is_some();
    let loaded = match &sel.state {
        Some(path) => Some(State::load(path, &range.arn.arn)?),
        None => None,
    };
    let chains = selected_chains(sel, &job, discover, loaded.as_ref())?;
    let now = Utc::now();
    let runs = with_heads(chains, loaded.as_ref(), range, sel, now)?;
    if discover && runs.is_empty() {
        let code = print_no_chains(
            &range.arn.arn,
            range.start,
            range.end,
            format,
            &job.source,
            &mut out,
            &report_file,
        )?;
        report_file.commit()?;
        return Ok(code);
    }
    let run_at = Utc::now();

    let bar = Bar::start(sel.no_progress, format);
    let options = run_options(range, sel, &job, verbose, now, &bar);
    let writer = Arc::new(Mutex::new(TextWriter::new(out, io::stderr(), verbose)));
    lock(&writer).header(&range.arn.arn, header_start(range, &runs), range.end);
    let spools = Spools::new(runs.len());
    let options = options.stream_entries(entry_sinks(&writer, &bar, &spools, format, verbose));
    let reports = validate_chains(job.store, job.keys, &runs, &range.arn.arn, &options);
    if let Some(bar) = &bar {
        bar.finish();
    }
    let reports = reports?;
    for warning in job.keys.warnings() {
        eprintln!(
            "trailproof: warning: {}",
            trailproof::report::escape_controls(&warning)
        );
    }

    let report = Rendered {
        reports: &reports,
        discover,
        spools: &spools,
    };
    report
        .write(format, &writer, run_at, &job.source)
        .and_then(|()| lock(&writer).out.flush())
        .map_err(|e| report_file.write_failed(e))?;
    report_file.commit()?;
    let code = verdict(&reports, discover).exit_code() as u8;

    // The state is saved after the report: a state that cannot be written must not hide what
    // was found.
    Ok(match (loaded, &sel.state) {
        (Some(before), Some(path)) => save_state(before, path, &reports, code),
        _ => code,
    })
}

/// The chains to walk: the one the flags name, or those discovery finds plus the state's chains
/// that are no longer there.
fn selected_chains(
    sel: &Selection,
    job: &Job<'_>,
    discover: bool,
    loaded: Option<&State>,
) -> Result<Vec<Chain>, Error> {
    if !discover {
        return Ok(vec![job.chain.clone()]);
    }
    let (mut chains, warnings) = discover_selected(sel, job)?;
    for w in warnings {
        eprintln!("{}", trailproof::report::escape_controls(&w));
    }
    if let Some(state) = loaded {
        chains.extend(vanished_chains(state, &chains, sel, job));
    }
    Ok(chains)
}

/// Each chain with the head the state records for it, refusing a head the run cannot reach.
fn with_heads(
    chains: Vec<Chain>,
    loaded: Option<&State>,
    range: &Range,
    sel: &Selection,
    now: DateTime<Utc>,
) -> Result<Vec<(Chain, Option<Head>)>, Error> {
    let mut runs: Vec<(Chain, Option<Head>)> = Vec::new();
    for c in chains {
        let head = loaded.and_then(|s| s.heads.get(&chain_id(&c)).cloned());
        if let Some(h) = &head {
            // A head the run cannot have reached would make the run check nothing and say so
            // valid: the file is not of this trail's history as this run sees it. A run reads
            // digests ending up to an hour after its end (as the AWS CLI lists them), so a head
            // there is one it reached itself.
            let reach = (range.end + Duration::hours(1)).min(now);
            if h.end_time > reach {
                return Err(Error::Usage(format!(
                    "state file {}: the head of {} ends at {}, after {} (an hour past the run's end, or now): nothing would be checked",
                    sel.state.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                    chain_id(&c),
                    time::display(h.end_time),
                    time::display(reach),
                )));
            }
        }
        runs.push((c, head));
    }
    Ok(runs)
}

/// The core's options for this run, all but where the entries go.
fn run_options(
    range: &Range,
    sel: &Selection,
    job: &Job<'_>,
    verbose: bool,
    now: DateTime<Utc>,
    bar: &Option<Arc<Bar>>,
) -> Options {
    let mut options = Options::new(range.start, range.end)
        .now(now)
        .trail_status(job.trail_status.clone())
        .parallelism(job.parallelism)
        .limits(sel.limits())
        .check_unreferenced_logs(job.check_unreferenced_logs)
        // Every report lists valid log files only with --verbose (their digests still count
        // them): that keeps memory flat, and the JSON and HTML reports small, however many
        // log files the range holds.
        .keep_valid_logs(verbose);
    let progress = match bar {
        Some(bar) => Some(bar.clone() as Arc<dyn trailproof::Progress>),
        None => sel.hooks.progress.clone(),
    };
    if let Some(progress) = progress {
        options = options.progress(progress);
    }
    if let Some(flag) = &sel.hooks.cancel {
        options = options.cancel(flag.clone());
    }
    options
}

/// What the header names: the range validated, after the heads of an incremental run.
fn header_start(range: &Range, runs: &[(Chain, Option<Head>)]) -> DateTime<Utc> {
    runs.iter()
        .map(|(_, h)| match h {
            Some(h) => range.start.max(h.end_time + Duration::seconds(1)),
            None => range.start,
        })
        .min()
        .unwrap_or(range.start)
}

/// Where each chain's entries go while it is walked.
fn entry_sinks(
    writer: &Arc<Mutex<Writer>>,
    bar: &Option<Arc<Bar>>,
    spools: &Spools,
    format: Format,
    verbose: bool,
) -> Arc<trailproof::SinkFactory> {
    let (writer, bar, spools) = (writer.clone(), bar.clone(), spools.clone());
    Arc::new(move |index| -> Box<dyn EntrySink> {
        // The first chain is written as it is walked; the others wait in a spool file
        // (never in memory) until the chains before them are written.
        match format {
            Format::Text if index == 0 => Box::new(Direct {
                writer: writer.clone(),
                bar: bar.clone(),
            }),
            _ => Box::new(spools.sink(index, format, verbose)),
        }
    })
}

/// A finished walk, ready to be written in the format asked for.
struct Rendered<'a> {
    reports: &'a [Report],
    discover: bool,
    spools: &'a Spools,
}

impl Rendered<'_> {
    /// Writes what the walk did not already write: the spooled chains and the summary (text),
    /// or the whole report (JSON, HTML).
    fn write(
        &self,
        format: Format,
        writer: &Mutex<Writer>,
        run_at: DateTime<Utc>,
        source: &str,
    ) -> io::Result<()> {
        let (reports, discover, spools) = (self.reports, self.discover, self.spools);
        match format {
            Format::Text => {
                let mut w = lock(writer);
                spools
                    .replay_text(1, &mut w)
                    .and_then(|()| finish_text(&mut w, reports, discover))
            }
            Format::Json => write_json(&mut lock(writer).out, reports, discover, spools),
            Format::Html => {
                // The page embeds the JSON report of this run, so it is rendered from it.
                let mut json = Vec::new();
                write_json(&mut json, reports, discover, spools).and_then(|()| {
                    crate::html::write_page(
                        &mut lock(writer).out,
                        &json,
                        &crate::html::run_info(run_at, source),
                    )
                    .map_err(io::Error::other)
                })
            }
        }
    }
}

/// Moves the state's heads to what this run found and saves it, returning the exit status: a
/// state that cannot be written makes a run with nothing invalid exit 2.
///
/// The state only moves for chains found valid, and is written only when a head moved (or
/// there was no file yet).
fn save_state(before: State, path: &Path, reports: &[Report], code: u8) -> u8 {
    let mut after = before.clone();
    for report in reports {
        if report.verdict() == Verdict::Valid {
            if let Some(head) = &report.new_head {
                // A head only moves forward: chains are never dropped, never rewound.
                let id = chain_id(&report.chain);
                if after
                    .heads
                    .get(&id)
                    .is_none_or(|h| h.end_time < head.end_time)
                {
                    after.heads.insert(id, head.clone());
                }
            }
        }
    }
    if after != before || !path.exists() {
        if let Err(e) = after.save(path) {
            eprintln!(
                "trailproof: error: {}",
                trailproof::report::escape_controls(&e.to_string())
            );
            if code != 1 {
                return 2;
            }
        }
    }
    code
}

/// The summary under the entries: one chain's, or the totals and a line per chain.
pub fn finish_text(w: &mut Writer, reports: &[Report], discover: bool) -> io::Result<()> {
    if discover {
        match Report::totals(reports) {
            Some(totals) => w.finish(&totals, reports),
            None => Ok(()),
        }
    } else {
        match reports.first() {
            Some(r) => w.finish(r, &[]),
            None => Ok(()),
        }
    }
}

/// The verdict of a run: its chain's, or that of all chains together.
pub fn verdict(reports: &[Report], discover: bool) -> Verdict {
    if discover {
        Report::totals(reports).map_or(Verdict::Incomplete, |r| r.verdict())
    } else {
        reports.first().map_or(Verdict::Incomplete, Report::verdict)
    }
}

/// The chains a state file records, within the selection, that discovery no longer finds: each is
/// checked from its recorded head (a deleted head is `not found`, a chain that stopped without
/// a signed explanation a missing tail), never dropped in silence.
fn vanished_chains(state: &State, found: &[Chain], sel: &Selection, job: &Job<'_>) -> Vec<Chain> {
    let known: std::collections::HashSet<String> = found.iter().map(chain_id).collect();
    let wanted = |list: &Option<Vec<String>>, value: &str| {
        list.as_ref().is_none_or(|l| l.iter().any(|v| v == value))
    };
    let mut gone = Vec::new();
    for id in state.heads.keys() {
        if known.contains(id) {
            continue;
        }
        let Some(chain) =
            trailproof::state::chain_from_id(id, &job.chain.trail_name, &job.chain.home_region)
        else {
            continue;
        };
        let in_selection = wanted(&sel.accounts, &chain.account_id)
            && (sel.all_accounts
                || sel.accounts.is_some()
                || chain.account_id == job.chain.account_id)
            && wanted(&sel.regions, &chain.source_region)
            && (sel.all_regions
                || sel.regions.is_some()
                || chain.source_region == job.chain.source_region)
            && job
                .chain
                .organization_id
                .as_ref()
                .is_none_or(|o| chain.organization_id.as_ref() == Some(o));
        if in_selection {
            eprintln!(
                "trailproof: warning: {}: recorded in the state file, but no digest folder of it was found: checking it from its recorded head",
                trailproof::report::escape_controls(id)
            );
            gone.push(chain);
        }
    }
    gone
}

/// The chains discovery finds for the selection, and a warning line for each named account or
/// region with no chain: a filter that matches nothing checks nothing.
pub fn discover_selected(
    sel: &Selection,
    job: &Job<'_>,
) -> Result<(Vec<Chain>, Vec<String>), Error> {
    let mut warnings = Vec::new();
    let accounts = match (&sel.accounts, sel.all_accounts) {
        (Some(list), _) => Some(list.clone()),
        (None, true) => None,
        (None, false) => Some(vec![job.chain.account_id.clone()]),
    };
    let regions = match (&sel.regions, sel.all_regions) {
        (Some(list), _) => Some(list.clone()),
        (None, true) => None,
        (None, false) => Some(vec![job.chain.source_region.clone()]),
    };
    let discovery = Discovery::new(
        &job.chain.bucket,
        job.chain.prefix.as_deref(),
        &job.chain.trail_name,
        &job.chain.home_region,
    )
    .accounts(accounts.clone())
    .regions(regions.clone());
    // An organization named on the command line or found for the trail narrows the search.
    let found: Vec<Chain> = discover_chains(job.store, &discovery)?
        .into_iter()
        .filter(|c| match &job.chain.organization_id {
            Some(org) => c.organization_id.as_deref() == Some(org.as_str()),
            None => true,
        })
        .collect();
    for (flag, wanted, has) in [
        (
            "--accounts",
            sel.accounts.as_ref(),
            &(|c: &Chain, a: &str| c.account_id == a) as &dyn Fn(&Chain, &str) -> bool,
        ),
        (
            "--regions",
            sel.regions.as_ref(),
            &(|c: &Chain, r: &str| c.source_region == r),
        ),
    ] {
        for name in wanted.into_iter().flatten() {
            if !found.iter().any(|c| has(c, name)) {
                warnings.push(format!(
                    "trailproof: warning: {flag} {}: no digest chain of the trail found",
                    trailproof::report::escape_controls(name)
                ));
            }
        }
    }
    Ok((found, warnings))
}

/// Discovery found nothing: nothing was checked, which is never valid.
pub fn print_no_chains(
    arn: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    format: Format,
    source: &str,
    out: &mut Out,
    report_file: &ReportFile,
) -> Result<u8, Error> {
    let verdict = Verdict::Incomplete;
    let run_at = Utc::now();
    let mut write = || -> io::Result<()> {
        match format {
            Format::Text => {
                let mut w = TextWriter::new(&mut *out, io::stderr(), false);
                w.header(arn, start, end);
                w.line(false, "No chains found: nothing was checked")?;
                w.out.flush()
            }
            Format::Json | Format::Html => {
                let doc = RunDoc {
                    head: RunHead::no_chains(arn, start, end),
                    chains: Vec::new(),
                };
                let mut json = serde_json::to_vec_pretty(&doc)?;
                json.push(b'\n');
                if format == Format::Html {
                    crate::html::write_page(
                        &mut *out,
                        &json,
                        &crate::html::run_info(run_at, source),
                    )
                    .map_err(io::Error::other)?;
                    return out.flush();
                }
                out.write_all(&json)?;
                out.flush()
            }
        }
    };
    write().map_err(|e| report_file.write_failed(e))?;
    Ok(verdict.exit_code() as u8)
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub type Writer = TextWriter<Out, io::Stderr>;

/// Writes a chain's lines as they come (the first chain of a text report).
struct Direct {
    writer: Arc<Mutex<Writer>>,
    bar: Option<Arc<Bar>>,
}

impl EntrySink for Direct {
    fn entry(&mut self, entry: &trailproof::Entry) -> io::Result<()> {
        let mut w = lock(&self.writer);
        let verbose = w.verbose();
        let Some((is_error, line)) = entry_line(entry, verbose) else {
            return Ok(());
        };
        match &self.bar {
            Some(bar) => bar.suspend(|| w.line(is_error, &line)),
            None => w.line(is_error, &line),
        }
    }
}

/// One anonymous temporary file per chain, holding its entries until they are written.
#[derive(Clone)]
pub(crate) struct Spools {
    files: Arc<Vec<Mutex<Option<File>>>>,
}

impl Spools {
    pub(crate) fn new(n: usize) -> Self {
        Spools {
            files: Arc::new((0..n).map(|_| Mutex::new(None)).collect()),
        }
    }

    pub(crate) fn sink(&self, index: usize, format: Format, verbose: bool) -> SpoolSink {
        let file = tempfile::tempfile().and_then(|f| {
            let kept = f.try_clone()?;
            if let Some(slot) = self.files.get(index) {
                *lock(slot) = Some(kept);
            }
            Ok(f)
        });
        SpoolSink {
            file: file.map(BufWriter::new),
            format,
            verbose,
        }
    }

    fn for_each_line(
        &self,
        index: usize,
        mut f: impl FnMut(&str) -> io::Result<()>,
    ) -> io::Result<()> {
        let Some(slot) = self.files.get(index) else {
            return Ok(());
        };
        let Some(mut file) = lock(slot).take() else {
            return Ok(());
        };
        file.rewind()?;
        for line in BufReader::new(file).lines() {
            f(&line?)?;
        }
        Ok(())
    }

    /// Writes the text lines of chains `from..` in order.
    fn replay_text(&self, from: usize, w: &mut Writer) -> io::Result<()> {
        for index in from..self.files.len() {
            self.replay_one(index, w)?;
        }
        Ok(())
    }

    /// Writes the text lines of chain `index`.
    pub(crate) fn replay_one(&self, index: usize, w: &mut Writer) -> io::Result<()> {
        self.for_each_line(index, |line| {
            let (kind, text) = line.split_at(1.min(line.len()));
            w.line(kind == "E", text)
        })
    }
}

/// Spools one chain's entries: a line per entry, `E`/`O` + the text line, or its JSON.
pub(crate) struct SpoolSink {
    file: io::Result<BufWriter<File>>,
    format: Format,
    verbose: bool,
}

impl EntrySink for SpoolSink {
    fn entry(&mut self, entry: &trailproof::Entry) -> io::Result<()> {
        let file = match &mut self.file {
            Ok(f) => f,
            Err(e) => return Err(io::Error::new(e.kind(), format!("temporary file: {e}"))),
        };
        match self.format {
            Format::Text => {
                if let Some((is_error, line)) = entry_line(entry, self.verbose) {
                    writeln!(file, "{}{line}", if is_error { "E" } else { "O" })?;
                }
            }
            Format::Json | Format::Html => {
                serde_json::to_writer(&mut *file, &EntryDoc::from(entry))?;
                writeln!(file)?;
            }
        }
        Ok(())
    }
}

impl Drop for SpoolSink {
    fn drop(&mut self) {
        if let Ok(f) = &mut self.file {
            let _ = f.flush();
        }
    }
}

/// Where each chain's entries come from when its report is written: spooled as the walk went,
/// or as a merge stitched the parts.
pub trait EntryLines {
    /// Calls `f` with each entry of chain `index`, as one line of JSON, in order.
    fn json_lines(&self, index: usize, f: &mut dyn FnMut(&str) -> io::Result<()>)
        -> io::Result<()>;
}

impl EntryLines for Spools {
    fn json_lines(
        &self,
        index: usize,
        f: &mut dyn FnMut(&str) -> io::Result<()>,
    ) -> io::Result<()> {
        self.for_each_line(index, f)
    }
}

/// One chain's JSON report with its entries.
fn write_chain_json(
    out: &mut dyn Write,
    report: &Report,
    lines: &dyn EntryLines,
    index: usize,
) -> io::Result<()> {
    write_chain_head(out, &ChainDoc::head_of(report))?;
    write!(out, ",\"entries\":[")?;
    let mut first = true;
    lines.json_lines(index, &mut |line| {
        write!(out, "{}\n{line}", if first { "" } else { "," })?;
        first = false;
        Ok(())
    })?;
    write!(out, "\n]}}")
}

/// The JSON report: one chain's document, or the totals with every chain's document (each
/// entry once).
pub fn write_json(
    out: &mut dyn Write,
    reports: &[Report],
    discover: bool,
    lines: &dyn EntryLines,
) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    if discover {
        match RunHead::of(reports) {
            Some(head) => write_run_head(&mut out, &head)?,
            // Not reached: a run that finds no chain reports through `print_no_chains`.
            None => write!(out, "{{\"version\":{}", trailproof::report::JSON_VERSION)?,
        }
        write!(out, ",\"chains\":[")?;
        for (i, r) in reports.iter().enumerate() {
            writeln!(out, "{}", if i == 0 { "" } else { "," })?;
            write_chain_json(&mut out, r, lines, i)?;
        }
        write!(out, "\n]}}")?;
    } else if let Some(r) = reports.first() {
        write_chain_json(&mut out, r, lines, 0)?;
    }
    writeln!(out)?;
    out.flush()
}

/// `--s3-prefix` without its slashes (the AWS CLI would list nothing with them).
pub fn clean_prefix(prefix: Option<&str>) -> Option<String> {
    prefix
        .map(|p| p.trim_matches('/').to_owned())
        .filter(|p| !p.is_empty())
}

/// Where a report goes: standard output, the file `--output` names, or memory.
pub type Out = Box<dyn Write + Send>;

/// With `--output FILE`, the report is written to a temporary file beside FILE that takes its
/// name only once complete: a run that fails leaves FILE as it was, never half-written. A
/// report kept in memory is handed over once complete too.
pub struct ReportFile {
    pending: Option<(tempfile::NamedTempFile, PathBuf)>,
    memory: Option<(Arc<Mutex<Vec<u8>>>, ReportBuffer)>,
}

/// The writer of a report kept in memory.
struct Memory(Arc<Mutex<Vec<u8>>>);

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ReportFile {
    pub fn open(output: &Output) -> Result<(Out, ReportFile), Error> {
        let path = match output {
            Output::Stdout => {
                let file = ReportFile {
                    pending: None,
                    memory: None,
                };
                return Ok((Box::new(io::stdout()), file));
            }
            Output::Buffer(buffer) => {
                let bytes = Arc::new(Mutex::new(Vec::new()));
                let file = ReportFile {
                    pending: None,
                    memory: Some((bytes.clone(), buffer.clone())),
                };
                return Ok((Box::new(Memory(bytes)), file));
            }
            Output::File(path) => path.as_path(),
        };
        let fail = |e: io::Error| Error::Output {
            context: format!("--output {}", path.display()),
            target: path.display().to_string(),
            source: e,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".trailproof-report")
            .tempfile_in(dir)
            .map_err(fail)?;
        let file = temp.as_file().try_clone().map_err(fail)?;
        let pending = Some((temp, path.to_owned()));
        let report_file = ReportFile {
            pending,
            memory: None,
        };
        Ok((Box::new(BufWriter::new(file)), report_file))
    }

    /// The error of a report that could not be written.
    pub fn write_failed(&self, e: io::Error) -> Error {
        let target = match (&self.pending, &self.memory) {
            (Some((_, path)), _) => path.display().to_string(),
            (None, Some(_)) => "memory".to_owned(),
            (None, None) => "standard output".to_owned(),
        };
        Error::Output {
            context: "cannot write the report".to_owned(),
            target,
            source: e,
        }
    }

    /// Gives the complete report its name (the writer must have been flushed).
    pub fn commit(self) -> Result<(), Error> {
        if let Some((bytes, buffer)) = self.memory {
            buffer.put(std::mem::take(&mut *lock(&bytes)));
        }
        let Some((temp, path)) = self.pending else {
            return Ok(());
        };
        let fail = |e: io::Error| Error::Output {
            context: format!("--output {}", path.display()),
            target: path.display().to_string(),
            source: e,
        };
        temp.as_file().sync_all().map_err(fail)?;
        temp.persist(&path).map_err(|e| fail(e.error))?;
        Ok(())
    }
}

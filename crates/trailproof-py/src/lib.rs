//! The native half of the Python package `trailproof`: builds the run's typed configuration
//! (`trailproof_run`, the code the `trailproof` command runs) from the keyword arguments, runs it
//! on a worker thread without the GIL while the calling thread watches for Ctrl-C and reports
//! progress, and hands back the JSON report the command would print, kept in memory. The
//! Python half (`python/trailproof`) checks the arguments' Python types and wraps the report.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How long the calling thread waits without the GIL before it looks for Ctrl-C (and reports
/// progress): short enough that an interrupt feels immediate.
const SLICE: Duration = Duration::from_millis(50);

/// What the run has done so far, counted by the workers and read by the calling thread.
#[derive(Default)]
struct Counters {
    digests_listed: AtomicU64,
    digests_fetched: AtomicU64,
    logs_queued: AtomicU64,
    logs_checked: AtomicU64,
    bytes_inflated: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            get(&self.digests_listed),
            get(&self.digests_fetched),
            get(&self.logs_queued),
            get(&self.logs_checked),
            get(&self.bytes_inflated),
        )
    }
}

// Progress is counted, never reported from the workers: calling Python from them would take
// the GIL once per log file.
impl trailproof::Progress for Counters {
    fn digests_listed(&self, n: u64) {
        self.digests_listed.fetch_add(n, Ordering::Relaxed);
    }
    fn digest_fetched(&self) {
        self.digests_fetched.fetch_add(1, Ordering::Relaxed);
    }
    fn logs_queued(&self, n: u64) {
        self.logs_queued.fetch_add(n, Ordering::Relaxed);
    }
    fn log_checked(&self, inflated_bytes: u64) {
        self.logs_checked.fetch_add(1, Ordering::Relaxed);
        self.bytes_inflated
            .fetch_add(inflated_bytes, Ordering::Relaxed);
    }
}

/// The Python exception class (in `trailproof._errors`) for an error of the run.
fn error_class(e: &trailproof::Error) -> &'static str {
    use trailproof::Error as E;
    match e {
        E::Time { .. } | E::TimeRange | E::TrailArn(_) => "UsageError",
        E::PublicKeys { .. } | E::NoPublicKeys { .. } => "KeysError",
        E::Store(_) => "StoreError",
        // A value the run cannot use: ConfigError, as before the variants were split.
        E::Usage(_) | E::StateFile { .. } => "ConfigError",
        E::SignFile { .. } => "StoreError",
        E::Aws(_) => "AwsError",
        E::Io { .. } => "FileError",
        E::Output { .. } => "OutputError",
        E::Cancelled => "CancelledError",
        _ => "Error",
    }
}

/// Raises `trailproof.<class>(message)`.
fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    let made = PyModule::import(py, "trailproof._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((message,)));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// Checks an integer as the command's flag checks it, with the same message: the keyword
/// arguments are the command's flags, and a program moving between the two sees one language.
/// `value` is the decimal text of a Python `int` (of any size).
fn flag_number<
    T: std::str::FromStr<Err = std::num::ParseIntError> + PartialOrd + std::fmt::Display,
>(
    flag: &str,
    value: &str,
    range: Option<(T, T)>,
) -> Result<T, String> {
    // clap takes a value starting with `-` for an unknown flag.
    if value.starts_with('-') {
        return Err(format!("unexpected argument '{value}' found"));
    }
    let n: T = value
        .parse()
        .map_err(|e| format!("invalid value '{value}' for '{flag}': {e}"))?;
    match range {
        Some((lo, hi)) if n < lo || n > hi => Err(format!(
            "invalid value '{value}' for '{flag}': {n} is not in {lo}..={hi}"
        )),
        _ => Ok(n),
    }
}

/// The decimal text of a Python integer.
fn int_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(value.str()?.to_string())
}

/// The flags that clap would reject together, with its messages: conflicts first, then
/// missing companions, as clap checks them.
fn check_combinations(args: &ValidateArgs) -> Result<(), String> {
    let conflicts = [
        (
            args.trail_arn.is_some() && args.trail_name.is_some(),
            "--trail-arn <TRAIL_ARN>",
            "--trail-name <TRAIL_NAME>",
        ),
        (
            args.all_accounts && args.accounts.is_some(),
            "--all-accounts",
            "--accounts <ACCOUNTS>",
        ),
        (
            args.all_regions && args.regions.is_some(),
            "--all-regions",
            "--regions <REGIONS>",
        ),
        (
            args.public_keys.is_some() && args.fetch_public_keys,
            "--public-keys <FILE>",
            "--fetch-public-keys",
        ),
    ];
    if let Some((_, a, b)) = conflicts.iter().find(|(hit, _, _)| *hit) {
        return Err(format!("the argument '{a}' cannot be used with '{b}'"));
    }
    let mut missing = Vec::new();
    if args.trail_arn.is_none() && args.trail_name.is_none() {
        missing.push("--trail-arn <TRAIL_ARN>");
    }
    if (args.trail_name.is_some() || args.home_region.is_some()) && args.s3_bucket.is_none() {
        missing.push("--s3-bucket <S3_BUCKET>");
    }
    if args.home_region.is_some() && args.trail_name.is_none() {
        missing.push("--trail-name <TRAIL_NAME>");
    }
    let archive_only = args.public_keys.is_some()
        || args.fetch_public_keys
        || args.archive_buckets.as_ref().is_some_and(|b| !b.is_empty());
    if archive_only && args.archive.is_none() {
        missing.push("--archive <DIR>");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the following required arguments were not provided: {}",
        missing.join(" ")
    ))
}

/// `validate`'s keyword arguments, as Python passed them.
struct ValidateArgs {
    trail_arn: Option<String>,
    trail_name: Option<String>,
    home_region: Option<String>,
    start_time: String,
    end_time: Option<String>,
    archive: Option<PathBuf>,
    archive_buckets: Option<Vec<(String, PathBuf)>>,
    public_keys: Option<PathBuf>,
    fetch_public_keys: bool,
    s3_bucket: Option<String>,
    s3_prefix: Option<String>,
    account_id: Option<String>,
    region: Option<String>,
    organization_id: Option<String>,
    all_accounts: bool,
    all_regions: bool,
    accounts: Option<Vec<String>>,
    regions: Option<Vec<String>>,
    state: Option<PathBuf>,
    concurrency: Option<String>,
    threads: Option<String>,
    profile: Option<String>,
    max_digest_size: Option<String>,
    max_digest_entries: Option<String>,
    verbose: bool,
}

/// A list as the command's comma-separated flag reads it.
fn comma_list(items: Vec<String>) -> Vec<String> {
    items.join(",").split(',').map(str::to_owned).collect()
}

impl ValidateArgs {
    /// The run's configuration, or the message the command would print for these flags.
    fn config(self) -> Result<trailproof_run::ValidateConfig, String> {
        use trailproof_run::{
            ArchiveKeys, ArchiveSource, Format, Selection, Source, ValidateConfig,
        };
        let mut sel = Selection::new(self.start_time.clone());
        // In the order the command line was built, which is the order clap met the values.
        // clap reads a ranged u16 as an i64 first: its messages name that range check.
        let small = |flag: &str, n: &str, lo: i64, hi: i64| {
            flag_number::<i64>(flag, n, Some((lo, hi)))
                .map(|n| u16::try_from(n).unwrap_or(u16::MAX))
        };
        if let Some(n) = &self.concurrency {
            sel.concurrency = small("--concurrency <CONCURRENCY>", n, 1, 512)?;
        }
        if let Some(n) = &self.threads {
            sel.threads = small("--threads <THREADS>", n, 0, 1024)?;
        }
        if let Some(n) = &self.max_digest_size {
            sel.max_digest_size =
                flag_number("--max-digest-size <BYTES>", n, Some((1024, 16u64 << 30)))?;
        }
        if let Some(n) = &self.max_digest_entries {
            sel.max_digest_entries =
                flag_number("--max-digest-entries <N>", n, Some((1, 100_000_000)))?;
        }
        check_combinations(&self)?;
        sel.trail_arn = self.trail_arn;
        sel.trail_name = self.trail_name;
        sel.home_region = self.home_region;
        sel.end_time = self.end_time;
        sel.s3_bucket = self.s3_bucket;
        sel.s3_prefix = self.s3_prefix;
        sel.account_id = self.account_id;
        sel.region = self.region;
        sel.organization_id = self.organization_id;
        sel.all_accounts = self.all_accounts;
        sel.all_regions = self.all_regions;
        sel.accounts = self.accounts.map(comma_list);
        sel.regions = self.regions.map(comma_list);
        sel.state = self.state;
        sel.profile = self.profile;
        sel.no_progress = true;
        let source = match self.archive {
            Some(dir) => {
                let keys = match (self.public_keys, self.fetch_public_keys) {
                    (Some(path), _) => ArchiveKeys::File(path),
                    (None, true) => ArchiveKeys::Fetch,
                    (None, false) => ArchiveKeys::Missing,
                };
                let mut archive = ArchiveSource::new(dir, keys);
                archive.buckets = self
                    .archive_buckets
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, dir)| format!("{name}={}", dir.display()))
                    .collect();
                Source::Archive(archive)
            }
            None => Source::Live,
        };
        let mut config = ValidateConfig::new(sel, source);
        config.verbose = self.verbose;
        config.format = Format::Json;
        Ok(config)
    }
}

/// Runs `job` as the command would, on a worker thread without the GIL, and returns its exit
/// status and JSON report. Raises `trailproof.Error` subclasses with the command's messages
/// when the run cannot be carried out. `progress(digests_listed, digests_fetched,
/// log_files_queued, log_files_checked, bytes_inflated)` is called on the calling thread as the
/// run advances, and once at its end.
fn run_job(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    job: impl FnOnce(trailproof_run::Hooks, trailproof_run::Output) -> Result<u8, trailproof::Error>
        + Send
        + 'static,
) -> PyResult<(String, u8)> {
    let cancel = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let hooks = trailproof_run::Hooks::new()
        .cancel(cancel.clone())
        .progress(counters.clone());
    let report = trailproof_run::ReportBuffer::new();
    let output = trailproof_run::Output::Buffer(report.clone());
    let (done_tx, mut done_rx) = mpsc::channel::<()>();
    let worker = std::thread::Builder::new()
        .name("trailproof-run".to_owned())
        .spawn(move || {
            let result = job(hooks, output);
            let _ = done_tx.send(());
            result
        })
        .map_err(|e| raise(py, "Error", format!("cannot start the run: {e}")))?;

    let mut reported = None;
    let mut report_progress = |py: Python<'_>| -> PyResult<()> {
        let Some(callback) = &progress else {
            return Ok(());
        };
        let now = counters.snapshot();
        if reported != Some(now) {
            reported = Some(now);
            callback.call1(py, now)?;
        }
        Ok(())
    };
    loop {
        // The receiver is moved into the GIL-free closure and back: it may not be shared.
        let (waited, rx) = py.detach(move || (done_rx.recv_timeout(SLICE), done_rx));
        done_rx = rx;
        if !matches!(waited, Err(mpsc::RecvTimeoutError::Timeout)) {
            break;
        }
        // Ctrl-C (KeyboardInterrupt), or an exception from the progress callback, stops the
        // run; the worker is waited for so that nothing runs on once the exception is raised.
        if let Err(e) = py.check_signals().and_then(|()| report_progress(py)) {
            cancel.store(true, Ordering::Relaxed);
            let _ = py.detach(move || worker.join());
            return Err(e);
        }
    }
    let result = py
        .detach(move || worker.join())
        .map_err(|_| PyRuntimeError::new_err("trailproof: the run panicked"))?;
    match result {
        Ok(code) => {
            report_progress(py)?;
            let text = String::from_utf8_lossy(&report.take()).into_owned();
            Ok((text, code))
        }
        Err(e) => Err(raise(
            py,
            error_class(&e),
            trailproof_run::error_message(&e),
        )),
    }
}

/// `trailproof validate --format json` with these keyword arguments (each the command's flag of
/// the same name; integers as Python `int`s): the JSON report and the exit status.
#[pyfunction]
#[pyo3(signature = (
    *, start_time, trail_arn=None, trail_name=None, home_region=None, end_time=None,
    archive=None, archive_buckets=None, public_keys=None, fetch_public_keys=false,
    s3_bucket=None, s3_prefix=None, account_id=None, region=None, organization_id=None,
    all_accounts=false, all_regions=false, accounts=None, regions=None, state=None,
    concurrency=None, threads=None, profile=None, max_digest_size=None,
    max_digest_entries=None, verbose=false, progress=None,
))]
#[allow(clippy::too_many_arguments)]
fn validate(
    py: Python<'_>,
    start_time: String,
    trail_arn: Option<String>,
    trail_name: Option<String>,
    home_region: Option<String>,
    end_time: Option<String>,
    archive: Option<PathBuf>,
    archive_buckets: Option<Vec<(String, PathBuf)>>,
    public_keys: Option<PathBuf>,
    fetch_public_keys: bool,
    s3_bucket: Option<String>,
    s3_prefix: Option<String>,
    account_id: Option<String>,
    region: Option<String>,
    organization_id: Option<String>,
    all_accounts: bool,
    all_regions: bool,
    accounts: Option<Vec<String>>,
    regions: Option<Vec<String>>,
    state: Option<PathBuf>,
    concurrency: Option<Bound<'_, PyAny>>,
    threads: Option<Bound<'_, PyAny>>,
    profile: Option<String>,
    max_digest_size: Option<Bound<'_, PyAny>>,
    max_digest_entries: Option<Bound<'_, PyAny>>,
    verbose: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<(String, u8)> {
    let text = |v: Option<Bound<'_, PyAny>>| v.as_ref().map(int_text).transpose();
    let args = ValidateArgs {
        trail_arn,
        trail_name,
        home_region,
        start_time,
        end_time,
        archive,
        archive_buckets,
        public_keys,
        fetch_public_keys,
        s3_bucket,
        s3_prefix,
        account_id,
        region,
        organization_id,
        all_accounts,
        all_regions,
        accounts,
        regions,
        state,
        concurrency: text(concurrency)?,
        threads: text(threads)?,
        profile,
        max_digest_size: text(max_digest_size)?,
        max_digest_entries: text(max_digest_entries)?,
        verbose,
    };
    // Checked before the run starts, as clap checks the command's flags.
    let mut config = args
        .config()
        .map_err(|message| raise(py, "UsageError", message))?;
    run_job(py, progress, move |hooks, output| {
        config.selection.hooks = hooks;
        config.output = output;
        trailproof_run::validate(config)
    })
}

/// `trailproof verify-query-results --format json` with these keyword arguments: the JSON
/// report and the exit status.
#[pyfunction]
#[pyo3(signature = (
    *, local_export_path=None, s3_bucket=None, s3_prefix=None, public_keys=None, region=None,
    profile=None, threads=None, progress=None,
))]
#[allow(clippy::too_many_arguments)]
fn verify_query_results(
    py: Python<'_>,
    local_export_path: Option<PathBuf>,
    s3_bucket: Option<String>,
    s3_prefix: Option<String>,
    public_keys: Option<PathBuf>,
    region: Option<String>,
    profile: Option<String>,
    threads: Option<Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(String, u8)> {
    let mut config = trailproof_run::QueryResultsConfig::new();
    if let Some(n) = threads {
        config.threads = flag_number("--threads <THREADS>", &int_text(&n)?, None)
            .map_err(|message| raise(py, "UsageError", message))?;
    }
    config.local_export_path = local_export_path;
    config.s3_bucket = s3_bucket;
    config.s3_prefix = s3_prefix;
    config.public_keys = public_keys;
    config.region = region;
    config.profile = profile;
    config.format = trailproof_run::Format::Json;
    run_job(py, progress, move |hooks, output| {
        config.hooks = hooks;
        config.output = output;
        trailproof_run::verify_query_results(config)
    })
}

/// The compiled part of `trailproof`; use the `trailproof` package itself.
#[pymodule(name = "_native")]
mod native {
    #[pymodule_export]
    use super::{validate, verify_query_results};
}

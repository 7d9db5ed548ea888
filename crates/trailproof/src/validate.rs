//! The run: list a chain's digests, walk it back from the newest exactly as the AWS CLI does,
//! then hash every log file of every valid digest, in parallel, reporting in the CLI's order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rayon::prelude::*;

use crate::digest::{
    self, KeyLookup, Limits, LogFileRef, LookupError, ParsedDigest, SignatureSource,
};
use crate::keys::{KeySet, PublicKey};
use crate::layout::{is_backfill_key, key_date, Chain};
use crate::report::{
    DigestEntry, DigestOutcome, Entry, Finding, KeyUse, LogEntry, LogOutcome, Report, Status,
    Summary,
};
use crate::state::Head;
use crate::store::{Intent, Metadata, ObjectStore};
use crate::time::{display, key_format, parse_key_time};
use crate::window::{
    check_link_facts, count_more_missing, Exit, FirstDigest, KindResult, LinkFacts, Window,
    WindowResult, UNREFERENCED_MARGIN,
};
use crate::{Error, StoreError};

/// Where CloudTrail public keys come from.
pub trait PublicKeySource: Sync {
    /// The keys CloudTrail lists for `region` between `start` and `end` (`ListPublicKeys`).
    fn public_keys(
        &self,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<KeySet, Error>;

    /// Where the keys come from, for the report (e.g. `CloudTrail ListPublicKeys`, `file K`).
    fn describe(&self) -> String {
        "unnamed key source".to_owned()
    }

    /// Keys that were offered but left out (too short, wrong fingerprint…), one line each.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A fixed key set (a `list-public-keys` file) answers every request with all its keys: the file
/// is the answer of the `list-public-keys` call its author made.
impl PublicKeySource for KeySet {
    fn public_keys(&self, _: &str, _: DateTime<Utc>, _: DateTime<Utc>) -> Result<KeySet, Error> {
        Ok(self.clone())
    }

    fn warnings(&self) -> Vec<String> {
        KeySet::warnings(self).to_vec()
    }

    fn describe(&self) -> String {
        if self.source().is_empty() {
            "a fixed key set".to_owned()
        } else {
            self.source().to_owned()
        }
    }
}

/// Receives one chain's entries in the walk's order as they are produced, instead of
/// [`Report::entries`] keeping them: a report of any size in constant memory.
pub trait EntrySink: Send {
    /// The next entry.
    fn entry(&mut self, entry: &Entry) -> std::io::Result<()>;
}

/// Makes the sink of each chain, by its index in the list given to [`validate_chains`].
pub type SinkFactory = dyn Fn(usize) -> Box<dyn EntrySink> + Send + Sync;

/// Told how a long run advances (for a progress display). Called from worker threads.
pub trait Progress: Send + Sync {
    /// `n` digests were listed and will be fetched.
    fn digests_listed(&self, n: u64) {
        let _ = n;
    }
    /// One digest was fetched and parsed.
    fn digest_fetched(&self) {}
    /// `n` log files will be checked.
    fn logs_queued(&self, n: u64) {
        let _ = n;
    }
    /// One log file was checked; `inflated_bytes` were hashed.
    fn log_checked(&self, inflated_bytes: u64) {
        let _ = inflated_bytes;
    }
}

/// How much to do at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// Everything on the calling thread, in order.
    Serial,
    /// A pool of this many threads (0: one per core).
    Threads(usize),
    /// One thread per core.
    #[default]
    Auto,
}

impl Parallelism {
    /// The thread pool this asks for (`None`: run on the calling thread), its threads named
    /// `NAME-i`.
    pub(crate) fn pool(self, name: &'static str) -> Result<Option<rayon::ThreadPool>, Error> {
        let n = match self {
            Parallelism::Serial => return Ok(None),
            Parallelism::Threads(n) => n,
            Parallelism::Auto => 0,
        };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(move |i| format!("{name}-{i}"))
            .build()
            .map(Some)
            .map_err(|e| Error::Config(format!("cannot start {n} threads: {e}")))
    }
}

/// What to validate and how.
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// Start of the range (digests ending at or after it).
    pub start: DateTime<Utc>,
    /// End of the range (digests ending up to an hour after it are read, as the CLI does).
    pub end: DateTime<Utc>,
    /// Threads for fetching, signature checks and hashing.
    pub parallelism: Parallelism,
    /// Size limits on digests.
    pub limits: Limits,
    /// List the chain's log folder and report log files no valid digest lists.
    pub check_unreferenced_logs: bool,
    /// Keep an entry for every valid log file in [`Report::entries`] (the default). Off, valid
    /// log files are only counted ([`Report::counts`]) and memory stays flat whatever the
    /// number of log files: what a report of problems only needs.
    pub keep_valid_logs: bool,
    /// Digests fetched at once ahead of the walk.
    prefetch: usize,
    /// Log files checked per batch.
    log_batch: usize,
    /// Bytes of digests held fetched ahead of the walk, at most (beyond one per worker).
    prefetch_budget: u64,
    /// Where each chain's entries go, when they are not kept in the report.
    sinks: Option<std::sync::Arc<SinkFactory>>,
    /// Where to report advancement, if anywhere.
    pub progress: Option<std::sync::Arc<dyn Progress>>,
    /// Set by the caller to stop the run (see [`Options::cancel`]).
    cancel: Option<Arc<AtomicBool>>,
    /// The time of the run: digests are expected up to it, less the delivery delay
    /// ([`crate::tail::DELIVERY_SLACK`]).
    pub now: DateTime<Utc>,
    /// What CloudTrail's `GetTrailStatus` said of the trail, when it was asked (live mode).
    pub trail_status: Option<crate::tail::TrailStatus>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("parallelism", &self.parallelism)
            .field("limits", &self.limits)
            .field("check_unreferenced_logs", &self.check_unreferenced_logs)
            .field("keep_valid_logs", &self.keep_valid_logs)
            .field("prefetch", &self.prefetch)
            .field("log_batch", &self.log_batch)
            .field("prefetch_budget", &self.prefetch_budget)
            .field("sinks", &self.sinks.is_some())
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel.is_some())
            .field("now", &self.now)
            .field("trail_status", &self.trail_status)
            .finish()
    }
}

impl Options {
    /// Options for a range, with defaults for the rest.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Options {
            start,
            end,
            parallelism: Parallelism::Auto,
            limits: Limits::default(),
            check_unreferenced_logs: false,
            keep_valid_logs: true,
            prefetch: PREFETCH,
            log_batch: LOG_BATCH,
            prefetch_budget: PREFETCH_BUDGET,
            sinks: None,
            progress: None,
            cancel: None,
            now: Utc::now(),
            trail_status: None,
        }
    }

    /// Sets the time of the run (default: when the options were made). Digests are expected
    /// up to it, less the delivery delay.
    pub fn now(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    /// What `GetTrailStatus` said of the trail: a digest delivered after the newest one found
    /// proves a deletion, and a stop it reports explains a chain's end.
    pub fn trail_status(mut self, status: Option<crate::tail::TrailStatus>) -> Self {
        self.trail_status = status;
        self
    }

    /// Stops the run soon after `flag` becomes true (before the next digest, or the next log
    /// file): the run then returns [`Error::Cancelled`] rather than a report, since what it had
    /// not reached was not checked. For embedders (Ctrl-C in a host language).
    pub fn cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    fn check_cancel(&self) -> Result<(), Error> {
        if self.cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    /// Streams each chain's entries to the sink `factory` makes for it (called once per chain,
    /// with the chain's index), instead of keeping them in [`Report::entries`].
    pub fn stream_entries(mut self, factory: std::sync::Arc<SinkFactory>) -> Self {
        self.sinks = Some(factory);
        self
    }

    /// How many bytes of digests (as stored) may wait fetched ahead of the walk (default
    /// 64 MiB). A digest that would exceed it is fetched again when the walk reaches it.
    pub fn prefetch_budget(mut self, bytes: u64) -> Self {
        self.prefetch_budget = bytes;
        self
    }

    /// Reports advancement to `progress`.
    pub fn progress(mut self, progress: std::sync::Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Sets the parallelism.
    pub fn parallelism(mut self, p: Parallelism) -> Self {
        self.parallelism = p;
        self
    }

    /// Turns the unreferenced-log check on or off.
    pub fn check_unreferenced_logs(mut self, on: bool) -> Self {
        self.check_unreferenced_logs = on;
        self
    }

    /// Keeps (the default) or only counts the entries of valid log files.
    pub fn keep_valid_logs(mut self, on: bool) -> Self {
        self.keep_valid_logs = on;
        self
    }

    /// How many digests are fetched at once ahead of the walk (default 64), and how many log
    /// files are checked per batch (default 8192). Memory grows with both; below the number of
    /// workers (or requests in flight) they leave workers idle. Values below 1 count as 1.
    pub fn windows(mut self, digests: usize, log_files: usize) -> Self {
        self.prefetch = digests.max(1);
        self.log_batch = log_files.max(1);
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// A digest as fetched, before it is parsed: ahead of the walk only the stored (compressed)
/// bytes wait, and a digest is inflated and parsed when the walk reaches it.
enum Fetched {
    Missing,
    Unreadable(String),
    /// Larger than the limit as stored.
    TooLarge(u64),
    Raw(Vec<u8>, Option<Metadata>),
}

/// What the walk learned from a digest about the one it links to.
struct Link {
    bucket: String,
    key: String,
    successor_key: String,
    signature: Option<String>,
    hash: Option<String>,
    /// The successor's signature verified: only then are its claims about this digest checked
    /// (a signature learnt from it is checked against CloudTrail's key either way).
    verified: bool,
}

/// One step of the walk: a digest (with its log files when valid) or a gap.
enum Step {
    Digest(DigestEntry, Vec<LogFileRef>),
    Gap(Entry),
}

/// Validates one chain over a time range.
///
/// `trail_arn` is only used in the report header. Returns `Err` when the run cannot be carried
/// out (listing fails, no public keys); tampering and missing files are verdicts in the report.
pub fn validate(
    store: &dyn ObjectStore,
    keys: &dyn PublicKeySource,
    chain: &Chain,
    trail_arn: &str,
    options: &Options,
) -> Result<Report, Error> {
    let mut reports = validate_chains(store, keys, &[(chain.clone(), None)], trail_arn, options)?;
    reports
        .pop()
        .ok_or_else(|| Error::Config("no report for the chain".to_owned()))
}

/// Validates several chains at once on one thread pool (one request budget, one key source),
/// each optionally resuming from the head a previous run proved valid: then only digests newer
/// than the head are read, and the oldest of them must link to it.
pub fn validate_chains(
    store: &dyn ObjectStore,
    keys: &dyn PublicKeySource,
    chains: &[(Chain, Option<Head>)],
    trail_arn: &str,
    options: &Options,
) -> Result<Vec<Report>, Error> {
    let pool = options.parallelism.pool("trailproof")?;
    let parallel = pool.is_some();
    let one = |(index, (chain, head)): (usize, &(Chain, Option<Head>))| {
        let start = match head {
            // Strictly after the head: its own key time is its end time.
            Some(h) => options.start.max(h.end_time + Duration::seconds(1)),
            None => options.start,
        };
        Run {
            store,
            keys,
            chain,
            options,
            parallel,
            start,
            index,
            window: None,
        }
        .run(trail_arn, head.as_ref())
        .map(|(report, _)| report)
    };
    match &pool {
        Some(pool) => pool.install(|| chains.par_iter().enumerate().map(one).collect()),
        None => chains.iter().enumerate().map(one).collect(),
    }
}

/// Validates (chain, window) items of a sharded run: each walk lists only the digests whose key
/// time lies in its window, stops where the chain leaves it, and records what
/// [`crate::shard::stitch`] needs to join it to the older window: the same walk as
/// [`validate_chains`], cut at the window's edges.
pub fn validate_windows(
    store: &dyn ObjectStore,
    keys: &dyn PublicKeySource,
    items: &[(Chain, Window)],
    trail_arn: &str,
    options: &Options,
) -> Result<Vec<WindowResult>, Error> {
    let pool = options.parallelism.pool("trailproof")?;
    let parallel = pool.is_some();
    let one = |(index, (chain, window)): (usize, &(Chain, Window))| {
        Run {
            store,
            keys,
            chain,
            options,
            parallel,
            start: options.start,
            index,
            window: Some(*window),
        }
        .run(trail_arn, None)
        .map(|(report, walked)| walked.into_result(report))
    };
    match &pool {
        Some(pool) => pool.install(|| items.par_iter().enumerate().map(one).collect()),
        None => items.iter().enumerate().map(one).collect(),
    }
}

/// Digests fetched ahead of the walk and not yet visited, and every digest ever requested (so
/// that none is fetched twice by the prefetch; the walk itself may still revisit one).
#[derive(Default)]
struct Prefetched {
    /// `None`: fetched ahead but dropped to stay within the byte budget; fetched again when
    /// reached.
    ready: HashMap<(String, String), Option<Fetched>>,
    requested: HashSet<(String, String)>,
    /// Bytes of the digests in `ready`.
    held: u64,
}

/// Digests fetched at once ahead of the walk (default).
const PREFETCH: usize = 64;
/// Bytes of digests held ahead of the walk (default).
const PREFETCH_BUDGET: u64 = 64 * 1024 * 1024;
/// Log files checked per batch (default): enough to keep every worker (and `--concurrency` requests)
/// busy, few enough that their references and verdicts take a few megabytes.
const LOG_BATCH: usize = 8192;

/// The log files listed by valid digests, as 64-bit hashes of (bucket, key): 16 bytes a file
/// instead of both strings. Keyed per run, so nobody can aim for a collision.
#[derive(Default)]
struct References {
    hasher: std::collections::hash_map::RandomState,
    hashes: HashSet<u64>,
}

impl References {
    fn hash(&self, bucket: &str, key: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one((bucket, key))
    }

    fn insert(&mut self, bucket: &str, key: &str) {
        let h = self.hash(bucket, key);
        self.hashes.insert(h);
    }

    fn contains(&self, bucket: &str, key: &str) -> bool {
        self.hashes.contains(&self.hash(bucket, key))
    }
}

/// Receives the walk's steps in order, checks their log files a batch at a time, and keeps or
/// streams what the report needs.
struct Collector<'r, 'a> {
    run: &'r Run<'a>,
    pending: Vec<Step>,
    pending_logs: usize,
    entries: Vec<Entry>,
    counts: Summary,
    sink: Option<Box<dyn EntrySink>>,
    /// For the unreferenced-log check, when it is on.
    referenced: Option<References>,
    windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    found_start: Option<DateTime<Utc>>,
    found_end: Option<DateTime<Utc>>,
}

impl<'r, 'a> Collector<'r, 'a> {
    fn new(run: &'r Run<'a>) -> Self {
        Self {
            run,
            pending: Vec::new(),
            pending_logs: 0,
            entries: Vec::new(),
            counts: Summary::default(),
            sink: run.options.sinks.as_ref().map(|make| make(run.index)),
            referenced: run
                .options
                .check_unreferenced_logs
                .then(References::default),
            windows: Vec::new(),
            found_start: None,
            found_end: None,
        }
    }

    fn push(&mut self, step: Step) -> Result<(), Error> {
        if let Step::Digest(_, logs) = &step {
            self.pending_logs += logs.len();
        }
        self.pending.push(step);
        if self.pending_logs >= self.run.options.log_batch {
            self.flush()?;
        }
        Ok(())
    }

    fn emit(&mut self, entry: Entry) -> Result<(), Error> {
        self.counts.add_entry(&entry);
        match &mut self.sink {
            Some(sink) => sink
                .entry(&entry)
                .map_err(|e| Error::Config(format!("cannot write the report: {e}"))),
            None => {
                self.entries.push(entry);
                Ok(())
            }
        }
    }

    /// Checks the pending steps' log files and turns the steps into report entries.
    fn flush(&mut self) -> Result<(), Error> {
        let steps = std::mem::take(&mut self.pending);
        self.pending_logs = 0;
        let run = self.run;
        let logs: Vec<&LogFileRef> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Digest(_, logs) => Some(logs.iter()),
                Step::Gap(_) => None,
            })
            .flatten()
            .collect();
        let progress = run.options.progress.as_deref();
        if let Some(p) = progress {
            p.logs_queued(logs.len() as u64);
        }
        // Announced in the order `map` takes them; entries `check_log` will not open are left out.
        let announced: Vec<(&str, &str)> = logs
            .iter()
            .filter(|l| !l.bucket.is_empty() && !l.key.is_empty())
            .map(|l| (l.bucket.as_str(), l.key.as_str()))
            .collect();
        let prefetch = run.store.prefetch(&announced, Intent::Open);
        let outcomes = run.map(&logs, prefetch.is_active(), |log| {
            if run.options.cancelled() {
                return None;
            }
            let (outcome, bytes) = run.check_log(log);
            if let Some(p) = progress {
                p.log_checked(bytes);
            }
            Some(outcome)
        });
        drop(prefetch);
        let outcomes: Vec<LogOutcome> = outcomes
            .into_iter()
            .collect::<Option<_>>()
            .ok_or(Error::Cancelled)?;
        drop(logs);
        let (start, end) = (run.start, run.options.end);
        let mut outcomes = outcomes.into_iter();
        for step in steps {
            match step {
                Step::Gap(gap) => self.emit(gap)?,
                Step::Digest(d, logs) => {
                    if let (Status::Valid, Some(s), Some(e)) = (d.outcome.status(), d.start, d.end)
                    {
                        let s_clamped = s.max(start);
                        let e_clamped = e.min(end);
                        self.found_start =
                            Some(self.found_start.map_or(s_clamped, |f| f.min(s_clamped)));
                        self.found_end =
                            Some(self.found_end.map_or(e_clamped, |f| f.max(e_clamped)));
                        self.windows.push((s, e));
                    }
                    let digest_key: std::sync::Arc<str> = d.key.as_str().into();
                    self.emit(Entry::Digest(d))?;
                    for (log, outcome) in logs.into_iter().zip(outcomes.by_ref()) {
                        if let Some(r) = &mut self.referenced {
                            r.insert(&log.bucket, &log.key);
                        }
                        if outcome == LogOutcome::Valid && !run.options.keep_valid_logs {
                            self.counts.log_files.add(Status::Valid);
                            continue;
                        }
                        self.emit(Entry::Log(LogEntry {
                            bucket: log.bucket,
                            key: log.key,
                            digest_key: digest_key.clone(),
                            outcome,
                        }))?;
                    }
                }
            }
        }
        Ok(())
    }
}

struct Run<'a> {
    store: &'a dyn ObjectStore,
    keys: &'a dyn PublicKeySource,
    chain: &'a Chain,
    options: &'a Options,
    parallel: bool,
    /// Start of the range actually validated (after the resumed head, if any).
    start: DateTime<Utc>,
    /// The chain's index among those validated together (for its entry sink).
    index: usize,
    /// In a sharded run, the window of key times this walk covers.
    window: Option<Window>,
}

/// What a window's walks learnt beyond the report: where each kind's entries and findings end,
/// and how each walk enters and leaves the window.
struct Walked {
    standard: WalkInfo,
    backfill: WalkInfo,
    /// Entries of the standard walk (the backfill walk's follow).
    standard_entries: usize,
    /// Findings of the standard walk, unreached digests included.
    standard_findings: usize,
    /// Where the unreferenced-log findings start.
    unreferenced_from: usize,
    /// Where the tail finding (if any) starts: after the unreferenced logs.
    tail_from: usize,
    covered: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Walked {
    fn into_result(self, mut report: Report) -> WindowResult {
        let tail = report.findings.split_off(self.tail_from);
        let unreferenced = report.findings.split_off(self.unreferenced_from);
        let backfill_findings = report.findings.split_off(self.standard_findings);
        let backfill_entries = report.entries.split_off(self.standard_entries);
        let kind = |info: WalkInfo, entries: Vec<Entry>, mut findings: Vec<Finding>| {
            let unreached = findings.split_off(info.walk_findings.min(findings.len()));
            KindResult {
                entries,
                findings,
                unreached,
                first: info.first,
                exit: info.exit,
            }
        };
        WindowResult {
            standard: kind(self.standard, report.entries, report.findings),
            backfill: kind(self.backfill, backfill_entries, backfill_findings),
            counts: report.counts,
            found_start: report.found_start,
            found_end: report.found_end,
            new_head: report.new_head,
            keys_used: report.keys_used,
            covered: crate::window::union(self.covered),
            unreferenced,
            tail,
        }
    }
}

/// What the walk of the standard chain learnt, for resuming and for the next head.
#[derive(Default)]
struct WalkInfo {
    /// The oldest digest the walk went through: its key, start, and previous link.
    oldest: Option<Followed>,
    /// The newest valid digest, with the signature it was verified with.
    newest_valid: Option<Head>,
    /// Keys reported not found.
    not_found: HashSet<String>,
    /// The first digest visited, and what a link check of it needs when it verified.
    first: Option<FirstDigest>,
    /// How the walk would go on past its window (sharded runs).
    exit: Exit,
    /// Where the findings of the walk end and its unreached digests start (counted from the
    /// findings before the walk).
    walk_findings: usize,
}

struct Followed {
    bucket: String,
    key: String,
    start: Option<DateTime<Utc>>,
    previous: Option<(String, String)>,
    previous_signature: Option<String>,
    previous_hash: Option<String>,
}

/// Keys for one chain walk: the standard chain loads its keys once; the backfill chain starts
/// empty and loads keys around each digest's generation time, as the CLI does.
pub(crate) struct WalkKeys<'a> {
    source: &'a dyn PublicKeySource,
    region: String,
    keys: KeySet,
    backfill: bool,
}

impl<'a> WalkKeys<'a> {
    /// Keys of a standard chain, loaded already.
    pub(crate) fn new(source: &'a dyn PublicKeySource, region: &str, keys: KeySet) -> Self {
        WalkKeys {
            source,
            region: region.to_owned(),
            keys,
            backfill: false,
        }
    }
}

impl KeyLookup for WalkKeys<'_> {
    fn lookup(
        &mut self,
        fingerprint: &str,
        generated: Option<&str>,
    ) -> Result<Option<PublicKey>, LookupError> {
        if self.keys.get(fingerprint).is_none() && self.backfill {
            // Without metadata (an archive with no sidecar) the generation time is unknown: ask
            // for every key (a key file answers with all it has anyway).
            let (start, end) = match generated {
                Some(generated) => {
                    let Some(at) = crate::time::parse_cloudtrail(generated) else {
                        return Err(LookupError::Verdict(format!(
                            "Unable to parse date value: {generated}"
                        )));
                    };
                    (at - Duration::hours(1), at + Duration::hours(1))
                }
                None => (DateTime::<Utc>::UNIX_EPOCH, Utc::now() + Duration::days(1)),
            };
            let found = self
                .source
                .public_keys(&self.region, start, end)
                .map_err(LookupError::Fetch)?;
            if found.is_empty() {
                return Err(LookupError::Verdict(format!(
                    "No public keys found between {} and {}",
                    display(start),
                    display(end)
                )));
            }
            self.keys.extend(found);
        }
        Ok(self.keys.get(fingerprint).cloned())
    }

    fn region(&self) -> &str {
        &self.region
    }
}

impl Run<'_> {
    /// `f` over `items`, results in order. When the store fetches them ahead (`ordered`), the
    /// workers take items in order, one at a time: the order in which they were announced to
    /// `ObjectStore::prefetch`, so a worker never waits for an object behind others the store
    /// has not started. Otherwise rayon splits the slice, which costs less per item.
    fn map<T: Sync, R: Send>(
        &self,
        items: &[T],
        ordered: bool,
        f: impl Fn(&T) -> R + Sync + Send,
    ) -> Vec<R> {
        if !self.parallel {
            return items.iter().map(f).collect();
        }
        if !ordered {
            return items.par_iter().map(f).collect();
        }
        let mut done: Vec<(usize, R)> = items
            .iter()
            .enumerate()
            .par_bridge()
            .map(|(i, item)| (i, f(item)))
            .collect();
        done.sort_unstable_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }

    fn run(&self, trail_arn: &str, resume: Option<&Head>) -> Result<(Report, Walked), Error> {
        self.options.check_cancel()?;
        let (start, end) = (self.start, self.options.end);
        let listed = match &self.window {
            Some(w) => {
                let hi = key_format(w.end);
                self.list_keys(&self.chain.bucket, w.start, &|date| {
                    if w.newest {
                        date <= hi.as_str()
                    } else {
                        date < hi.as_str()
                    }
                })
            }
            None => self.list_digests(&self.chain.bucket, start, end),
        };
        let (standard, backfill) = match listed {
            Ok(found) => found,
            // One chain whose folder cannot be read (a planted link, a folder that cannot be
            // read, a listing refused) is that chain's verdict, NOT CHECKED; the other chains
            // are still checked. A bucket that does not exist is the run's error.
            Err(Error::Store(e @ StoreError::Unreadable { .. })) => {
                return Ok(self.unlisted(trail_arn, resume, e))
            }
            Err(e) => return Err(e),
        };
        if let Some(p) = self.options.progress.as_deref() {
            p.digests_listed((standard.len() + backfill.len()) as u64);
        }
        // For the tail check: the newest digest listed, and where the listing started.
        let newest_listed = standard.last().cloned();
        let listed_from = self.window.as_ref().map_or(start, |w| w.start);
        // Digests are fetched ahead of the walk within a byte budget (`fetch_ahead`), and log
        // files checked a batch at a time as the walk hands over valid digests (`Collector`):
        // memory is bounded by the budget and the batch, not by the size of the range.
        let mut cache = Prefetched::default();

        // The CLI loads the standard chain's keys before walking, even when nothing was listed.
        let window_end = end + Duration::hours(2);
        let standard_keys = self
            .keys
            .public_keys(&self.chain.home_region, start, window_end)?;
        if standard_keys.is_empty() {
            return Err(Error::NoPublicKeys {
                start: display(start),
                end: display(window_end),
            });
        }
        let mut out = Collector::new(self);
        let mut findings = Vec::new();
        let mut used = BTreeMap::new();
        let mut standard_lookup = WalkKeys {
            source: self.keys,
            region: self.chain.home_region.clone(),
            keys: standard_keys,
            backfill: false,
        };
        let mut info = self.walk(
            standard,
            false,
            &mut standard_lookup,
            &mut cache,
            &mut out,
            &mut findings,
            &mut used,
        )?;
        // The two walks' entries are told apart in a sharded run.
        if let Some(head) = resume {
            self.check_head(head, &mut out)?;
        }
        out.flush()?;
        let standard_entries = out.entries.len();
        let standard_findings = findings.len();
        if let Some(head) = resume {
            check_continuity(head, &info, &mut out, &mut findings)?;
        }
        let mut backfill_lookup = WalkKeys {
            source: self.keys,
            region: self.chain.home_region.clone(),
            keys: KeySet::new(),
            backfill: true,
        };
        let backfill_info = self.walk(
            backfill,
            true,
            &mut backfill_lookup,
            &mut cache,
            &mut out,
            &mut findings,
            &mut used,
        )?;
        out.flush()?;
        let Collector {
            entries,
            counts,
            referenced,
            windows,
            found_start,
            found_end,
            ..
        } = out;
        let unreferenced_from = findings.len();
        if let Some(referenced) = &referenced {
            self.find_unreferenced_logs(&windows, referenced, &mut findings)?;
        }
        let tail_from = findings.len();
        if self.window.is_none_or(|w| w.newest) {
            let tail = crate::tail::Tail {
                store: self.store,
                keys: self.keys,
                options: self.options,
                chain: self.chain,
                trail_arn,
            };
            findings.extend(tail.check(newest_listed.as_deref(), listed_from, resume)?);
        }
        let new_head = info.newest_valid.take();
        let walked = Walked {
            standard: info,
            backfill: backfill_info,
            standard_entries,
            standard_findings,
            unreferenced_from,
            tail_from,
            covered: windows,
        };
        let report = Report {
            trail_arn: trail_arn.to_owned(),
            chain: self.chain.clone(),
            start,
            end,
            found_start,
            found_end,
            entries,
            counts,
            findings,
            resumed_from: resume.cloned(),
            new_head,
            key_source: self.keys.describe(),
            keys_used: used.into_values().collect(),
        };
        Ok((report, walked))
    }

    /// The report of a chain whose digest folder could not be listed.
    fn unlisted(&self, trail_arn: &str, resume: Option<&Head>, e: StoreError) -> (Report, Walked) {
        let report = Report {
            trail_arn: trail_arn.to_owned(),
            chain: self.chain.clone(),
            start: self.start,
            end: self.options.end,
            found_start: None,
            found_end: None,
            entries: Vec::new(),
            counts: Summary::default(),
            findings: vec![Finding::Unlisted {
                bucket: self.chain.bucket.clone(),
                folder: self.chain.digest_prefix(),
                cause: e.to_string(),
            }],
            resumed_from: resume.cloned(),
            new_head: None,
            key_source: self.keys.describe(),
            keys_used: Vec::new(),
        };
        let walked = Walked {
            standard: WalkInfo {
                walk_findings: 1,
                ..WalkInfo::default()
            },
            backfill: WalkInfo::default(),
            standard_entries: 0,
            standard_findings: 1,
            unreferenced_from: 1,
            tail_from: 1,
            covered: Vec::new(),
        };
        (report, walked)
    }

    /// The digest `key`, from the prefetched ones or fetched now together with the digests the
    /// walk will visit next, up to the prefetch window and byte budget: the listed keys older
    /// than `key` not yet requested, newest first (`upcoming` is the walk's sorted list of keys
    /// not yet jumped to).
    fn fetch_ahead(
        &self,
        bucket: &str,
        key: &str,
        upcoming: &[String],
        prefetched: &mut Prefetched,
    ) -> Fetched {
        let id = (bucket.to_owned(), key.to_owned());
        if let Some(found) = prefetched.ready.remove(&id) {
            let Some(found) = found else {
                return self.fetch(bucket, key);
            };
            if let Fetched::Raw(bytes, _) = &found {
                prefetched.held -= bytes.len() as u64;
            }
            return found;
        }
        prefetched.requested.insert(id);
        let older = upcoming.partition_point(|k| k.as_str() < key);
        let mut batch: Vec<&str> = vec![key];
        for k in upcoming[..older].iter().rev() {
            if batch.len() >= self.options.prefetch {
                break;
            }
            if prefetched
                .requested
                .insert((bucket.to_owned(), k.to_owned()))
            {
                batch.push(k);
            }
        }
        let announced: Vec<(&str, &str)> = batch.iter().map(|k| (bucket, *k)).collect();
        let limit = self.options.limits.max_digest_bytes;
        let prefetch = self.store.prefetch(&announced, Intent::Get { limit });
        // Bytes held ahead of the walk: what would pass the budget is dropped as soon as it
        // arrives and fetched again when the walk reaches it.
        let held = std::sync::atomic::AtomicU64::new(prefetched.held);
        let budget = self.options.prefetch_budget;
        let fetched = self.map(&batch, prefetch.is_active(), |k| {
            let found = self.fetch(bucket, k);
            if *k == key {
                return Some(found);
            }
            if let Fetched::Raw(bytes, _) = &found {
                let n = bytes.len() as u64;
                let before = held.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                if before + n > budget {
                    held.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
            }
            Some(found)
        });
        drop(prefetch);
        prefetched.held = held.into_inner();
        let mut fetched = fetched.into_iter();
        let first = fetched.next().flatten().unwrap_or(Fetched::Missing);
        for (k, f) in batch[1..].iter().zip(fetched) {
            prefetched
                .ready
                .insert((bucket.to_owned(), (*k).to_owned()), f);
        }
        first
    }

    /// Lists digest keys as the CLI does: under the chain's region prefix, after a marker one
    /// minute before `start`, matching the trail's name pattern, with key times in
    /// `[start, end + 1h]` compared as `YYYYMMDDTHHMMSSZ` strings, stopping at the first later key.
    fn list_digests(
        &self,
        bucket: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        let target_end = key_format(end + Duration::hours(1));
        self.list_keys(bucket, start, &|date| date <= target_end.as_str())
    }

    /// In a sharded walk, the signature that the oldest digest of the newer window names for
    /// `key` (the first digest of this window): what the single walk learns from it.
    fn successor_signature(&self, bucket: &str, key: &str, backfill: bool) -> Option<String> {
        let window = self.window.as_ref().filter(|w| !w.newest)?;
        let from = key_format(window.end);
        let mut successor = None;
        self.store
            .list(
                bucket,
                &self.chain.digest_prefix(),
                &self.chain.marker(window.end),
                &mut |k| {
                    if self.chain.is_digest_key(k)
                        && is_backfill_key(k) == backfill
                        && key_date(k) >= from.as_str()
                    {
                        successor = Some(k.to_owned());
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                },
            )
            .ok()?;
        let Fetched::Raw(bytes, _) = self.fetch(bucket, &successor?) else {
            return None;
        };
        let parsed = digest::parse(&bytes, &self.options.limits).ok()?;
        let names = parsed.previous() == Some((bucket, key)) && !parsed.has_no_previous_link();
        names.then(|| parsed.previous_signature().map(str::to_owned))?
    }

    /// Lists digest keys from `start` while `before_end` holds for their key time (the listing
    /// stops at the first that fails it).
    fn list_keys(
        &self,
        bucket: &str,
        start: DateTime<Utc>,
        before_end: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        let target_start = key_format(start);
        let (mut standard, mut backfill) = (Vec::new(), Vec::new());
        self.store.list(
            bucket,
            &self.chain.digest_prefix(),
            &self.chain.marker(start),
            &mut |key| {
                if !self.chain.is_digest_key(key) {
                    return ControlFlow::Continue(());
                }
                let date = key_date(key);
                if !before_end(date) {
                    return ControlFlow::Break(());
                }
                if date >= target_start.as_str() {
                    if is_backfill_key(key) {
                        backfill.push(key.to_owned());
                    } else {
                        standard.push(key.to_owned());
                    }
                }
                ControlFlow::Continue(())
            },
        )?;
        Ok((standard, backfill))
    }

    fn fetch(&self, bucket: &str, key: &str) -> Fetched {
        let fetched = match self
            .store
            .get(bucket, key, self.options.limits.max_digest_bytes)
        {
            Err(StoreError::NotFound { .. }) => Fetched::Missing,
            Err(StoreError::TooLarge { limit, .. }) => Fetched::TooLarge(limit),
            Err(e) => Fetched::Unreadable(e.to_string()),
            Ok(object) => Fetched::Raw(object.bytes, object.metadata),
        };
        if let Some(p) = self.options.progress.as_deref() {
            p.digest_fetched();
        }
        fetched
    }

    /// Walks one chain (standard or backfill) from the newest listed digest. Only a digest
    /// whose signature verified steers the walk: from it the walk follows
    /// `previousDigestS3Object`; from any other (invalid, signature unknown, unreadable) it
    /// goes to the next older listed digest, as the CLI's `DigestTraverser` does after an
    /// invalid one. Every digest is visited once and key times strictly decrease, so the walk
    /// ends; listed digests it never reached are reported.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        mut digests: Vec<String>,
        backfill: bool,
        keys: &mut WalkKeys<'_>,
        cache: &mut Prefetched,
        steps: &mut Collector<'_, '_>,
        findings: &mut Vec<Finding>,
        used: &mut BTreeMap<String, KeyUse>,
    ) -> Result<WalkInfo, Error> {
        let start = self.start;
        let mut info = WalkInfo::default();
        let findings_before = findings.len();
        // A sharded walk leaves its window where the chain goes on in an older one: the
        // oldest window walks on as the single run does.
        let leaves = |prev_bucket: &str, prev_time: DateTime<Utc>, bucket: &str| {
            self.window
                .as_ref()
                .is_some_and(|w| !w.oldest && (prev_bucket != bucket || prev_time < w.start))
        };
        let mut bucket = self.chain.bucket.clone();
        let mut listed: Vec<(String, String)> = digests
            .iter()
            .map(|k| (bucket.clone(), k.clone()))
            .collect();
        let mut visited: HashSet<(String, String)> = HashSet::new();
        let (mut next, mut last_start) = pop_before(&mut digests, None);
        let mut link: Option<Link> = None;
        while let Some(key) = next.take() {
            self.options.check_cancel()?;
            match last_start {
                Some(t) if start <= t => {}
                _ => break,
            }
            if !visited.insert((bucket.clone(), key.clone())) {
                next = pop_before(&mut digests, Some(&key)).0;
                info.exit = Exit::NextListed;
                continue;
            }
            if info.first.is_none() {
                info.first = Some(FirstDigest {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    link: None,
                });
            }
            let first = visited.len() == 1;
            let fetched = self.fetch_ahead(&bucket, &key, &digests, cache);
            let from_successor = link.take().filter(|l| l.bucket == bucket && l.key == key);
            let entry = |outcome, parsed: Option<&ParsedDigest>| DigestEntry {
                bucket: bucket.clone(),
                key: key.clone(),
                backfill,
                outcome,
                start: parsed.and_then(ParsedDigest::start_time),
                end: parsed.and_then(ParsedDigest::end_time),
                log_files: parsed.map_or(0, ParsedDigest::log_file_count),
            };
            let unparsed = match fetched {
                Fetched::Raw(bytes, metadata) => {
                    match digest::parse_owned(bytes, &self.options.limits) {
                        Ok(parsed) => Ok((parsed, metadata)),
                        Err(e) if e.is_limit() => Err(DigestOutcome::TooLarge {
                            reason: limit_reason(&e),
                        }),
                        Err(e) => Err(DigestOutcome::InvalidFormat {
                            reason: e.to_string(),
                        }),
                    }
                }
                Fetched::Missing => Err(DigestOutcome::NotFound),
                Fetched::Unreadable(cause) => Err(DigestOutcome::Unreadable { cause }),
                Fetched::TooLarge(limit) => Err(DigestOutcome::TooLarge {
                    reason: limit_reason(&digest::FormatError::TooLarge(limit)),
                }),
            };
            let (mut parsed, metadata) = match unparsed {
                Ok(found) => found,
                Err(outcome) => {
                    let missing = outcome == DigestOutcome::NotFound;
                    if missing {
                        info.not_found.insert(key.clone());
                    }
                    steps.push(Step::Digest(entry(outcome, None), Vec::new()))?;
                    let (n, n_date) = pop_before(&mut digests, Some(&key));
                    if missing {
                        count_more_missing(&bucket, &key, n_date, backfill, findings);
                    }
                    info.exit = if missing {
                        Exit::AfterMissing {
                            bucket: bucket.clone(),
                            key: key.clone(),
                        }
                    } else {
                        Exit::NextListed
                    };
                    next = n;
                    continue;
                }
            };
            let source = match &metadata {
                Some(meta) => SignatureSource::Metadata(meta.clone()),
                // A signature is self-authenticating: learnt from any successor that names
                // this digest, it still has to verify with CloudTrail's key.
                None => SignatureSource::Successor(
                    from_successor
                        .as_ref()
                        .and_then(|l| l.signature.clone())
                        .or_else(|| {
                            // The first digest of a window has its successor in the newer
                            // window: a copy without metadata learns its signature there too.
                            first
                                .then(|| self.successor_signature(&bucket, &key, backfill))
                                .flatten()
                        }),
                ),
            };
            let outcome = digest::check(&parsed, &bucket, &key, &source, keys)?;
            if outcome != DigestOutcome::Valid {
                // Unverified: its fields are untrusted input. Only a signature it names for its
                // predecessor is taken, to be verified like any other.
                link = parsed
                    .previous()
                    .filter(|_| !parsed.has_no_previous_link())
                    .map(|(b, k)| Link {
                        bucket: b.to_owned(),
                        key: k.to_owned(),
                        successor_key: key.clone(),
                        signature: parsed.previous_signature().map(str::to_owned),
                        hash: None,
                        verified: false,
                    });
                steps.push(Step::Digest(entry(outcome, Some(&parsed)), Vec::new()))?;
                next = pop_before(&mut digests, Some(&key)).0;
                info.exit = Exit::NextListed;
                continue;
            }
            let facts = LinkFacts {
                hash: parsed.inflated_sha256.clone(),
                signature: metadata.as_ref().and_then(|m| m.get("signature")).cloned(),
            };
            if let Some(l) = from_successor.as_ref().filter(|l| l.verified) {
                check_link(l, &bucket, &facts, findings);
            }
            if first {
                if let Some(f) = info.first.as_mut() {
                    f.link = Some(facts);
                }
            }
            if let Some(k) = parsed
                .str_field("digestPublicKeyFingerprint")
                .and_then(|f| keys.keys.get(f))
            {
                used.entry(k.fingerprint().to_owned())
                    .or_insert_with(|| KeyUse {
                        fingerprint: k.fingerprint().to_owned(),
                        validity_start: k.validity_start,
                        validity_end: k.validity_end,
                    });
            }
            let digest_start = parsed.start_time();
            last_start = digest_start;
            let previous = parsed
                .previous()
                .filter(|_| !parsed.has_no_previous_link())
                .map(|(b, k)| (b.to_owned(), k.to_owned()));
            info.oldest = Some(Followed {
                bucket: bucket.clone(),
                key: key.clone(),
                start: digest_start,
                previous: previous.clone(),
                previous_signature: parsed.previous_signature().map(str::to_owned),
                previous_hash: parsed.previous_hash().map(str::to_owned),
            });
            if info.newest_valid.is_none() {
                let signature = match &source {
                    SignatureSource::Metadata(meta) => meta.get("signature").cloned(),
                    SignatureSource::Successor(sig) => sig.clone(),
                };
                if let (Some(signature), Some(end_time)) = (signature, parsed.end_time()) {
                    info.newest_valid = Some(Head {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        end_time,
                        signature,
                        hash: parsed.inflated_sha256.clone(),
                    });
                }
            }
            // Verified: now its entries are worth building.
            let logs = match parsed.log_files() {
                Ok(logs) => logs,
                Err(e) => {
                    let outcome = DigestOutcome::InvalidFormat {
                        reason: e.to_string(),
                    };
                    steps.push(Step::Digest(entry(outcome, Some(&parsed)), Vec::new()))?;
                    next = pop_before(&mut digests, Some(&key)).0;
                    info.exit = Exit::NextListed;
                    continue;
                }
            };
            parsed.drop_bytes();
            let done = entry(DigestOutcome::Valid, Some(&parsed));
            steps.push(Step::Digest(done, logs))?;
            let key_time = parse_key_time(key_date(&key));
            match previous {
                Some((prev_bucket, prev_key))
                    if parse_key_time(key_date(&prev_key))
                        .zip(key_time)
                        .is_some_and(|(p, k)| p < k && leaves(&prev_bucket, p, &bucket)) =>
                {
                    // Verified: the stitch checks the link against the older window's first.
                    info.exit = Exit::Link {
                        from_bucket: bucket.clone(),
                        successor_key: key.clone(),
                        bucket: prev_bucket,
                        key: prev_key,
                        signature: parsed.previous_signature().map(str::to_owned),
                        hash: parsed.previous_hash().map(str::to_owned),
                    };
                }
                Some((prev_bucket, prev_key))
                    if parse_key_time(key_date(&prev_key))
                        .zip(key_time)
                        .is_some_and(|(p, k)| p < k) =>
                {
                    link = Some(Link {
                        bucket: prev_bucket.clone(),
                        key: prev_key.clone(),
                        successor_key: key.clone(),
                        signature: parsed.previous_signature().map(str::to_owned),
                        hash: parsed.previous_hash().map(str::to_owned),
                        verified: true,
                    });
                    next = Some(prev_key);
                    if prev_bucket != bucket {
                        // The chain continues in another bucket: list it for later jumps. A
                        // bucket that cannot be listed leaves only the linked digest to read,
                        // whose own verdict says what is wrong.
                        bucket = prev_bucket;
                        let end = parsed.end_time().unwrap_or(self.options.end);
                        digests = match self.list_digests(&bucket, start, end) {
                            Ok((standard, backfills)) => {
                                if backfill {
                                    backfills
                                } else {
                                    standard
                                }
                            }
                            Err(_) => Vec::new(),
                        };
                        listed.extend(digests.iter().map(|k| (bucket.clone(), k.clone())));
                    }
                }
                Some((prev_bucket, prev_key)) => {
                    // A signed link that does not go back in time: not followed.
                    findings.push(Finding::LinkMismatch {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        previous_key: prev_key.clone(),
                        field: "previousDigestS3Object",
                        expected: format!("s3://{prev_bucket}/{prev_key}"),
                        actual: "a digest older than this one".to_owned(),
                    });
                    next = pop_before(&mut digests, Some(&key)).0;
                    info.exit = Exit::NextListed;
                }
                None => {
                    let (n, n_date) = pop_before(&mut digests, Some(&key));
                    if let (Some(from), Some(to)) = (n_date, digest_start) {
                        // Gap lines never run backwards: an older digest ending after this
                        // one starts is not a gap (it is reported on its own).
                        if from < to {
                            steps.push(Step::Gap(Entry::Gap { backfill, from, to }))?;
                        }
                    }
                    info.exit = Exit::AfterNoPrevious {
                        start: digest_start,
                    };
                    next = n;
                }
            }
        }
        // Past its window the walk goes on only while its last valid digest started in range.
        if last_start.is_none_or(|t| t < start) {
            info.exit = Exit::End;
        }
        info.walk_findings = findings.len() - findings_before;
        for (b, k) in listed {
            if !visited.contains(&(b.clone(), k.clone())) {
                findings.push(Finding::UnreachedDigest {
                    bucket: b,
                    key: k,
                    backfill,
                });
            }
        }
        Ok(info)
    }

    /// The head an incremental run resumes from must still be what was proven: a deleted head
    /// is `not found`, a replaced one invalid (its bytes no longer hash to what was recorded).
    /// Nothing is printed for a head that is intact: it was reported when it was proven.
    fn check_head(&self, head: &Head, out: &mut Collector<'_, '_>) -> Result<(), Error> {
        let limit = self.options.limits.max_digest_bytes;
        let outcome = match self.store.get(&head.bucket, &head.key, limit) {
            Err(StoreError::NotFound { .. }) => DigestOutcome::NotFound,
            Err(StoreError::TooLarge { limit, .. }) => DigestOutcome::TooLarge {
                reason: limit_reason(&digest::FormatError::TooLarge(limit)),
            },
            Err(e) => DigestOutcome::Unreadable {
                cause: e.to_string(),
            },
            Ok(object) => match digest::parse(&object.bytes, &self.options.limits) {
                Ok(parsed) if parsed.inflated_sha256.eq_ignore_ascii_case(&head.hash) => {
                    return Ok(())
                }
                Ok(_) => DigestOutcome::Other {
                    message: "changed since the state file recorded it as the chain's head"
                        .to_owned(),
                },
                Err(e) if e.is_limit() => DigestOutcome::TooLarge {
                    reason: limit_reason(&e),
                },
                Err(e) => DigestOutcome::InvalidFormat {
                    reason: e.to_string(),
                },
            },
        };
        out.push(Step::Digest(
            DigestEntry {
                bucket: head.bucket.clone(),
                key: head.key.clone(),
                backfill: false,
                outcome,
                start: None,
                end: Some(head.end_time),
                log_files: 0,
            },
            Vec::new(),
        ))
    }

    /// The verdict on one log file, and how many inflated bytes were hashed.
    fn check_log(&self, log: &LogFileRef) -> (LogOutcome, u64) {
        if log.bucket.is_empty() || log.key.is_empty() {
            let reason = "the digest's logFiles entry lacks s3Bucket or s3Object".to_owned();
            return (LogOutcome::InvalidFormat { reason }, 0);
        }
        match self.store.open(&log.bucket, &log.key) {
            Ok(reader) => {
                let found = crate::loghash::inflate_and_hash(reader);
                let bytes = found.inflated_len;
                (crate::loghash::outcome(found, &log.hash), bytes)
            }
            Err(StoreError::NotFound { .. }) => (LogOutcome::NotFound, 0),
            Err(e) => (
                LogOutcome::Unreadable {
                    cause: e.to_string(),
                },
                0,
            ),
        }
    }

    /// Reports log files in the chain's log folder, inside the time covered by valid digests,
    /// that no valid digest lists: files added after CloudTrail delivered.
    fn find_unreferenced_logs(
        &self,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
        referenced: &References,
        findings: &mut Vec<Finding>,
    ) -> Result<(), Error> {
        // A log file's name carries its delivery minute; stay clear of window edges, where a
        // file may belong to a digest outside the walk.
        // A sharded walk keeps every candidate: the merge applies the margin at the edges of
        // the time all windows cover together, where the single run applies it.
        let margin = if self.window.is_some() {
            Duration::zero()
        } else {
            UNREFERENCED_MARGIN
        };
        let covered = crate::window::union(windows.to_vec());
        let bucket = &self.chain.bucket;
        let prefix = self.chain.log_prefix();
        for (s, e) in covered {
            let lo = (s + margin).max(self.start);
            let hi = (e - margin).min(self.options.end);
            if lo >= hi {
                continue;
            }
            let mut day = lo.date_naive();
            while day <= hi.date_naive() {
                let folder = format!("{prefix}{}/", day.format("%Y/%m/%d"));
                self.store.list(bucket, &folder, "", &mut |key| {
                    if let Some(t) = self.chain.log_key_time(key) {
                        if t >= lo
                            && t + Duration::minutes(1) <= hi
                            && !referenced.contains(bucket, key)
                        {
                            findings.push(Finding::UnreferencedLog {
                                bucket: bucket.clone(),
                                key: key.to_owned(),
                            });
                        }
                    }
                    ControlFlow::Continue(())
                })?;
                let Some(next) = day.succ_opt() else { break };
                day = next;
            }
        }
        Ok(())
    }
}

/// In a run resumed from `head`, the oldest new digest must link to it: same key, and the
/// signature and hash recorded for it. A new starting digest (logging was stopped) is a gap; a
/// missing link was already reported "not found".
fn check_continuity(
    head: &Head,
    info: &WalkInfo,
    steps: &mut Collector<'_, '_>,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    let Some(oldest) = &info.oldest else {
        return Ok(());
    };
    let mismatch = |field, expected: String, actual: String| Finding::LinkMismatch {
        bucket: oldest.bucket.clone(),
        key: oldest.key.clone(),
        previous_key: head.key.clone(),
        field,
        expected,
        actual,
    };
    match &oldest.previous {
        None => {
            if let Some(to) = oldest.start.filter(|to| head.end_time < *to) {
                steps.push(Step::Gap(Entry::Gap {
                    backfill: false,
                    from: head.end_time,
                    to,
                }))?;
            }
        }
        Some((b, k)) if *b == head.bucket && *k == head.key => {
            let same = |v: &Option<String>, recorded: &str| {
                v.as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(recorded))
            };
            if !same(&oldest.previous_hash, &head.hash) {
                let said = oldest.previous_hash.clone().unwrap_or_default();
                findings.push(mismatch("previousDigestHashValue", said, head.hash.clone()));
            }
            if !same(&oldest.previous_signature, &head.signature) {
                let said = oldest.previous_signature.clone().unwrap_or_default();
                findings.push(mismatch(
                    "previousDigestSignature",
                    said,
                    head.signature.clone(),
                ));
            }
        }
        Some((_, k)) if info.not_found.contains(k) => {}
        Some((b, k)) => findings.push(mismatch(
            "previousDigestS3Object",
            format!("s3://{b}/{k}"),
            format!("s3://{}/{}", head.bucket, head.key),
        )),
    }
    Ok(())
}

/// The message of a digest not read because of a limit, naming the flag that raises it.
fn limit_reason(e: &digest::FormatError) -> String {
    match e {
        digest::FormatError::TooManyLogFiles(n) => {
            format!("lists more than {n} log files, the limit (raise it with --max-digest-entries)")
        }
        digest::FormatError::TooLarge(n) => {
            format!("larger than {n} bytes, the limit (raise it with --max-digest-size)")
        }
        other => other.to_string(),
    }
}

/// Pops listed keys from the newest down and returns the first whose key time is before that of
/// `before` (or the newest when `before` is `None`), with its time: the CLI's `_get_last_digest`.
/// Keys whose time cannot be parsed are passed over.
fn pop_before(
    digests: &mut Vec<String>,
    before: Option<&str>,
) -> (Option<String>, Option<DateTime<Utc>>) {
    let limit = before.map(|k| parse_key_time(key_date(k)));
    while let Some(key) = digests.pop() {
        let Some(date) = parse_key_time(key_date(&key)) else {
            continue;
        };
        match limit {
            None | Some(None) => return (Some(key), Some(date)),
            Some(Some(limit)) if date < limit => return (Some(key), Some(date)),
            Some(Some(_)) => {}
        }
    }
    (None, None)
}

/// Compares what the successor says about this digest with what it is.
fn check_link(link: &Link, bucket: &str, digest: &LinkFacts, findings: &mut Vec<Finding>) {
    check_link_facts(
        &link.successor_key,
        &link.key,
        link.hash.as_deref(),
        link.signature.as_deref(),
        bucket,
        digest,
        findings,
    );
}

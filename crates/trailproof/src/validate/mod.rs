//! The run: list a chain's digests, walk it back from the newest exactly as the AWS CLI does,
//! then hash every log file of every valid digest, in parallel, reporting in the CLI's order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rayon::prelude::*;

use crate::digest::Limits;
use crate::layout::Chain;
use crate::report::{Entry, Report};
use crate::state::Head;
use crate::store::ObjectStore;
use crate::window::{Window, WindowResult};
use crate::Error;

mod collect;
mod key_source;
mod links;
mod list;
mod prefetch;
mod run;
mod unreferenced;
mod walk;

pub use key_source::PublicKeySource;
pub(crate) use key_source::WalkKeys;

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
            .map_err(|e| Error::Runtime {
                context: format!("cannot start {n} threads"),
                source: std::io::Error::other(e),
            })
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
        .ok_or(Error::Internal("no report for the chain"))
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

/// Digests fetched at once ahead of the walk (default).
const PREFETCH: usize = 64;
/// Bytes of digests held ahead of the walk (default).
const PREFETCH_BUDGET: u64 = 64 * 1024 * 1024;
/// Log files checked per batch (default): enough to keep every worker (and `--concurrency` requests)
/// busy, few enough that their references and verdicts take a few megabytes.
const LOG_BATCH: usize = 8192;

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
}

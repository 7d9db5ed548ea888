//! `watch`: continuous verification. Object events (S3 notifications, SNS envelopes,
//! EventBridge events; from a file or an SQS queue) announce new digests; each digest of a
//! watched chain is verified, with its log files, by the resumed run of `validate --state`
//! from the chain's stored head to that digest, and the head is moved forward in a shared head
//! store. One JSON line per digest and per finding goes to standard output.
//!
//! The sweep: every `sweep_interval` (and once after the events of a `once` run), each watched
//! chain gets the same resumed run from its head up to now. It verifies the digests whose events
//! were missed, and its tail rule makes a chain whose digests stopped arriving without a signed
//! stop `TAIL MISSING`.
//!
//! Trust: an event only says where to look. A digest counts once its signature verifies and it
//! links to the stored head; a check that could not be carried out is `not_checked`, never
//! valid, and its SQS message is left for redelivery.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use trailproof::events::{DigestKey, ObjectEvent, ObjectKind};
use trailproof::headstore::{self, HeadStore, HeadStoreError};
use trailproof::report::{entry_line, escape_controls, Status};
use trailproof::store::{Intent, Object, ObjectReader, Prefetch};
use trailproof::{
    validate_chains, Chain, Error, FileHeadStore, Head, ObjectStore, Options, Report, StoreError,
    TrailStatus, Verdict,
};
use trailproof_aws::{CloudTrailKeys, Queue, Receive, S3HeadStore, S3Store, Topic};

use crate::config::Selection;
use crate::output::Range;

/// Attempts at moving a head forward when other workers keep winning the race.
const HEAD_ATTEMPTS: u32 = 10;

/// Where `watch` reads events.
#[derive(Clone, Debug)]
pub enum EventSource {
    /// One event JSON per line, from a file (`-`: standard input).
    File(PathBuf),
    /// An SQS queue, by URL (long polling).
    Sqs(String),
}

/// A `watch`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WatchConfig {
    /// The trail and the chains watched (one chain, or `all_accounts`/`all_regions`,
    /// `accounts`/`regions`); `start_time` is where a chain with no stored head starts.
    /// `state` and `end_time` are not used.
    pub selection: Selection,
    /// The head store: a file (the `--state` format) or `s3://BUCKET/KEY`.
    pub heads: String,
    /// Where the events come from.
    pub events: EventSource,
    /// Process the file, or what is queued, then exit with the worst result's status.
    pub once: bool,
    /// Publish every result that is not valid to this SNS topic.
    pub alert_sns_topic: Option<String>,
    /// Stops the watch once the message in hand is done (SIGTERM and SIGINT set it too).
    pub stop: Option<Arc<AtomicBool>>,
    /// How often every watched chain is listed from its head up to now (the sweep): digests
    /// whose events were missed are verified, and a chain that stopped delivering is
    /// `TAIL MISSING`. A `once` run sweeps once, after its events.
    pub sweep_interval: StdDuration,
}

/// The default of [`WatchConfig::sweep_interval`]: one hour.
pub const DEFAULT_SWEEP_INTERVAL: StdDuration = StdDuration::from_secs(3600);

/// A duration that [`parse_duration`] could not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    text: String,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}: expected a positive whole number of seconds, minutes, hours or days, e.g. 3600s, 30m, 1h, 1d",
            self.text
        )
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration: a positive whole number and a unit, `s`, `m`, `h` or `d` (`30m`, `1h`,
/// `3600s`).
pub fn parse_duration(text: &str) -> Result<StdDuration, DurationError> {
    let bad = || DurationError {
        text: text.to_owned(),
    };
    let t = text.trim();
    let cut = t
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&i| i > 0)
        .ok_or_else(bad)?;
    let (n, unit) = t.split_at(cut);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale)
        .filter(|&secs| secs > 0)
        .map(StdDuration::from_secs)
        .ok_or_else(bad)
}

impl WatchConfig {
    /// A watch of `selection`'s chains, heads in `heads`, events from `events`.
    pub fn new(selection: Selection, heads: impl Into<String>, events: EventSource) -> Self {
        WatchConfig {
            selection,
            heads: heads.into(),
            events,
            once: false,
            alert_sns_topic: None,
            stop: None,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
        }
    }
}

/// A result's verdict, as the lines name it; ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Verified.
    Valid,
    /// The check could not be carried out (never valid).
    NotChecked,
    /// Something is invalid (tampered, deleted, missing).
    Invalid,
}

impl Outcome {
    fn of(verdict: Verdict) -> Outcome {
        match verdict {
            Verdict::Valid => Outcome::Valid,
            Verdict::Invalid => Outcome::Invalid,
            Verdict::Incomplete => Outcome::NotChecked,
        }
    }

    /// `valid`, `not_checked` or `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::Invalid => "invalid",
            Outcome::NotChecked => "not_checked",
        }
    }

    /// `validate`'s exit status for it: 0, 2 or 1.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Valid => 0,
            Outcome::Invalid => 1,
            Outcome::NotChecked => 2,
        }
    }
}

/// What became of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handled {
    /// Every result of it is recorded (head written, line printed, alert sent): it may be
    /// deleted. When false, the message must come back (SQS redelivery, a Lambda batch item
    /// failure).
    pub recorded: bool,
    /// The worst verdict of its results; `None` when it announced no digest of a watched chain
    /// (a log file, another chain, a test event). An unreadable or unrecorded message is
    /// `NotChecked` at best.
    pub outcome: Option<Outcome>,
}

/// Activity seen, for the closing summary line.
#[derive(Default)]
struct Activity {
    messages: u64,
    digests: u64,
    duplicates: u64,
    log_file_events: u64,
    other_events: u64,
    unreadable_messages: u64,
}

/// What a [`WatchSession`] is connected to.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The trail and the chains watched, as in [`WatchConfig::selection`].
    pub selection: Selection,
    /// The head store: a file (the `--state` format) or `s3://BUCKET/KEY`.
    pub heads: String,
    /// Publish every result that is not valid to this SNS topic.
    pub alert_sns_topic: Option<String>,
}

impl SessionConfig {
    /// `selection`'s chains, heads in `heads`, no alerts.
    pub fn new(selection: Selection, heads: impl Into<String>) -> Self {
        SessionConfig {
            selection,
            heads: heads.into(),
            alert_sns_topic: None,
        }
    }
}

/// `watch` without its event loop: connected once (AWS configuration, where the trail
/// delivers, the head store read), then fed message bodies one at a time ([`handle`]) and
/// asked for sweeps ([`sweep`]). `trailproof watch` is a loop over it, and so is the Lambda
/// handler: one code path for every check, head advance, line and alert.
///
/// It owns a multi-threaded tokio runtime and blocks on it: call it from a plain thread (or a
/// `spawn_blocking` task), never from async code.
///
/// [`handle`]: WatchSession::handle
/// [`sweep`]: WatchSession::sweep
pub struct WatchSession {
    store: S3Store,
    keys: CloudTrailKeys,
    heads: Box<dyn HeadStore>,
    topic: Option<Topic>,
    trail_arn: String,
    /// The trail's chain as the flags name it (bucket, prefix, account, region…).
    chain: Chain,
    sel: Selection,
    start: DateTime<Utc>,
    status: Option<TrailStatus>,
    /// The worst result since the last summary (`None`: none yet).
    worst: Option<Outcome>,
    activity: Activity,
    sweep_interval: StdDuration,
    /// When the next sweep is due.
    next_sweep: Instant,
    /// A stop asked for: a sweep ends after the chain in hand.
    stop: Arc<AtomicBool>,
    ctx: trailproof_aws::AwsContext,
    // Last: the clients above hold handles to it, so it goes after them.
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for WatchSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchSession")
            .field("trail_arn", &self.trail_arn)
            .field("chain", &trailproof::state::chain_id(&self.chain))
            .field("heads", &self.heads.name())
            .field("worst", &self.worst)
            .finish_non_exhaustive()
    }
}

/// The worse of two verdicts (`None`: none yet).
fn worse(a: Option<Outcome>, b: Option<Outcome>) -> Option<Outcome> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl WatchSession {
    /// Loads AWS configuration, finds where the trail delivers (DescribeTrails unless
    /// `s3_bucket` is given), asks GetTrailStatus, and reads the head store once: one that
    /// cannot be read, or holds another trail's heads, is an error here rather than on every
    /// event.
    pub fn connect(config: &SessionConfig) -> Result<WatchSession, Error> {
        let range = Range::parse(&config.selection)?;
        let live = crate::live::connect(&config.selection, &range)?;
        let store = S3Store::new(&live.ctx, live.rt.handle().clone())?
            .concurrency(usize::from(config.selection.concurrency));
        let keys = CloudTrailKeys::new(&live.ctx, live.rt.handle().clone())?;
        let heads: Box<dyn HeadStore> = match config.heads.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest
                    .split_once('/')
                    .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "--state {}: an S3 head store is s3://BUCKET/KEY",
                            config.heads
                        ))
                    })?;
                Box::new(S3HeadStore::new(
                    &live.ctx,
                    live.rt.handle().clone(),
                    bucket,
                    key,
                    &range.arn.arn,
                )?)
            }
            None => Box::new(FileHeadStore::new(&config.heads, &range.arn.arn)),
        };
        heads.read().map_err(|e| match e {
            HeadStoreError::Unavailable { .. } => Error::Aws(format!("--state: {e}")),
            e => Error::Usage(format!("--state: {e}")),
        })?;
        let status = crate::live::status_of(&live, &range);
        let topic = config
            .alert_sns_topic
            .as_deref()
            .map(|arn| Topic::new(&live.ctx, arn));
        Ok(WatchSession {
            store,
            keys,
            heads,
            topic,
            trail_arn: range.arn.arn.clone(),
            chain: live.chain.clone(),
            sel: config.selection.clone(),
            start: range.start,
            status,
            worst: None,
            activity: Activity::default(),
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            next_sweep: due_after(DEFAULT_SWEEP_INTERVAL),
            stop: Arc::new(AtomicBool::new(false)),
            ctx: live.ctx,
            rt: live.rt,
        })
    }

    /// The trail watched.
    pub fn trail_arn(&self) -> &str {
        &self.trail_arn
    }

    /// Handles one message body (an S3 notification, an SNS envelope of one, an EventBridge
    /// "Object Created" event): every digest event of a watched chain in it, in order, each
    /// verified from its chain's head, the head moved, its lines printed and alerts sent.
    /// `name` names the message in an `error` line. An unreadable body is an `error` line and
    /// an unrecorded result, not an `Err`: `Err` is for output that cannot be written and
    /// internal faults.
    pub fn handle(&mut self, body: &str, name: &str) -> Result<Handled, Error> {
        let before = self.worst.take();
        let mut handled = self.message(body, name);
        if let Ok(h) = &mut handled {
            if !h.recorded {
                // What is not recorded is not valid, whatever comes of its redelivery.
                self.note(Outcome::NotChecked);
            }
            h.outcome = self.worst;
        }
        self.worst = worse(before, self.worst);
        handled
    }

    /// The sweep: every watched chain checked from its head up to now (digests whose events
    /// were missed verified, a silent chain `TAIL MISSING`), a `sweep` line per chain, alerts
    /// as for digests. Returns the worst verdict of its lines (`None`: no chain to sweep).
    pub fn sweep(&mut self) -> Result<Option<Outcome>, Error> {
        let before = self.worst.take();
        let stop = self.stop.clone();
        let swept = self.sweep_chains(&stop);
        let this = self.worst;
        self.worst = worse(before, this);
        swept.map(|()| this)
    }

    /// Prints the `summary` line of the activity since the last one, and starts counting
    /// anew. Returns the worst verdict of that period (`None`: nothing checked).
    pub fn summary(&mut self) -> Result<Option<Outcome>, Error> {
        let worst = self.worst.take();
        let a = std::mem::take(&mut self.activity);
        print_line(&json!({
            "type": "summary",
            "trail_arn": self.trail_arn,
            "messages": a.messages,
            "digests": a.digests,
            "duplicates": a.duplicates,
            "log_file_events": a.log_file_events,
            "other_events": a.other_events,
            "unreadable_messages": a.unreadable_messages,
            "verdict": worst.map_or("valid", Outcome::as_str),
        }))?;
        Ok(worst)
    }
}

/// `watch`: see the module's documentation. Returns the worst result's exit status (0 when
/// there was nothing to check).
pub fn watch(config: WatchConfig) -> Result<u8, Error> {
    let mut session_config = SessionConfig::new(config.selection.clone(), config.heads.clone());
    session_config.alert_sns_topic = config.alert_sns_topic.clone();
    let mut watcher = WatchSession::connect(&session_config)?;
    if let Some(stop) = &config.stop {
        watcher.stop = stop.clone();
    }
    watcher.sweep_interval = config.sweep_interval;
    watcher.next_sweep = due_after(config.sweep_interval);
    let stop = watcher.stop.clone();
    // The first SIGTERM or SIGINT sets the flag (the message in hand is finished, then the
    // watch ends); a second one, with the flag already set, ends the process at once.
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())
            .and_then(|_| signal_hook::flag::register(signal, stop.clone()))
            .map_err(|e| Error::Runtime {
                context: "cannot handle SIGTERM and SIGINT".to_owned(),
                source: e,
            })?;
    }
    match &config.events {
        EventSource::File(path) => watcher.read_file(path, &stop)?,
        EventSource::Sqs(url) => {
            let queue = Queue::new(&watcher.ctx, url);
            watcher.read_queue(&queue, config.once, &stop)?
        }
    }
    if config.once && !stop.load(Ordering::SeqCst) {
        // The events are processed: one sweep catches what they did not announce.
        watcher.sweep_chains(&stop)?;
    }
    let worst = watcher.summary()?;
    Ok(worst.map_or(0, Outcome::exit_code))
}

/// Prints one line on standard output, flushed (a consumer may be reading as it comes).
fn print_line(line: &Value) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::Output {
            context: "cannot write to standard output".to_owned(),
            target: "stdout".to_owned(),
            source: e,
        })
}

/// When a sweep `interval` from now is due (an interval past what the clock can add: in a
/// year).
fn due_after(interval: StdDuration) -> Instant {
    let now = Instant::now();
    now.checked_add(interval)
        .or_else(|| now.checked_add(StdDuration::from_secs(365 * 86_400)))
        .unwrap_or(now)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn latency(event_time: DateTime<Utc>) -> f64 {
    (Utc::now() - event_time).num_milliseconds() as f64 / 1000.0
}

impl WatchSession {
    /// The resumed run of `validate --state` for one chain, from its head (or `start`) to
    /// `end`: every link in between listed and verified, the tail rule applied as of `now`.
    fn check(
        &self,
        store: &dyn ObjectStore,
        chain: &Chain,
        head: Option<&Head>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Report, Error> {
        let options = Options::new(start, end)
            .now(now)
            .trail_status(self.status.clone())
            .parallelism(self.sel.parallelism())
            .limits(self.sel.limits())
            .check_unreferenced_logs(true)
            .keep_valid_logs(false);
        let runs = [(chain.clone(), head.cloned())];
        let mut reports = validate_chains(store, &self.keys, &runs, &self.trail_arn, &options)?;
        match reports.len() {
            1 => Ok(reports.remove(0)),
            _ => Err(Error::Internal("one report per chain")),
        }
    }

    /// Moves a chain's stored head forward to `head` (never back), retrying lost races.
    fn advance(&self, id: &str, head: &Head) -> Result<(), HeadStoreError> {
        let heads = BTreeMap::from([(id.to_owned(), head.clone())]);
        headstore::advance(self.heads.as_ref(), &heads, HEAD_ATTEMPTS).map(|_| ())
    }

    fn note(&mut self, outcome: Outcome) {
        self.worst = Some(self.worst.map_or(outcome, |w| w.max(outcome)));
    }

    fn read_file(&mut self, path: &std::path::Path, stop: &AtomicBool) -> Result<(), Error> {
        let name = path.display().to_string();
        let reader: Box<dyn BufRead> = if name == "-" {
            Box::new(BufReader::new(io::stdin()))
        } else {
            Box::new(BufReader::new(std::fs::File::open(path).map_err(|e| {
                Error::Io {
                    context: format!("--from-file {name}"),
                    path: path.to_owned(),
                    source: e,
                }
            })?))
        };
        for (n, line) in reader.lines().enumerate() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let line = line.map_err(|e| Error::Io {
                context: format!("--from-file {name}"),
                path: path.to_owned(),
                source: e,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            self.sweep_if_due(stop)?;
            // A file is not redelivered: what could not be recorded stays not valid.
            self.handle(&line, &format!("{name} line {}", n + 1))?;
        }
        Ok(())
    }

    fn read_queue(&mut self, queue: &Queue, once: bool, stop: &AtomicBool) -> Result<(), Error> {
        let queue_error = |e: trailproof_aws::QueueError| Error::Aws(e.to_string());
        while !stop.load(Ordering::SeqCst) {
            if !once {
                // Between receives: a long poll lasts at most 20 s, so a sweep starts within
                // 20 s of being due.
                self.sweep_if_due(stop)?;
            }
            // With --once a short poll still waits a little: an empty answer ends the run.
            let wait = if once {
                StdDuration::from_secs(1)
            } else {
                trailproof_aws::MAX_WAIT
            };
            let how = Receive::new()
                .wait(wait)
                .max_messages(trailproof_aws::MAX_BATCH);
            let messages = match self.receive(queue, how, stop) {
                None => break,
                Some(Ok(m)) => m,
                Some(Err(e)) if once => return Err(queue_error(e)),
                Some(Err(e)) => {
                    eprintln!(
                        "trailproof: warning: {}; receiving again in 5 s",
                        escape_controls(&e.to_string())
                    );
                    std::thread::sleep(StdDuration::from_secs(5));
                    continue;
                }
            };
            if messages.is_empty() {
                if once {
                    break;
                }
                continue;
            }
            for m in messages {
                if stop.load(Ordering::SeqCst) {
                    // Not started: handed back at once to another worker.
                    let _ = self
                        .rt
                        .block_on(queue.change_visibility(&m.receipt_handle, StdDuration::ZERO));
                    continue;
                }
                let handled = self.handle(&m.body, &format!("sqs message {}", m.message_id))?;
                if handled.recorded {
                    if let Err(e) = self.rt.block_on(queue.delete(&m.receipt_handle)) {
                        // Redelivered later: processing it again changes nothing.
                        eprintln!("trailproof: warning: {}", escape_controls(&e.to_string()));
                    }
                }
                // Otherwise left hidden until its visibility timeout ends, then redelivered
                // (or sent to the dead-letter queue): never deleted unrecorded.
            }
        }
        Ok(())
    }

    /// One receive, given up (`None`) when `stop` is set during its long poll: a message it
    /// may have taken stays hidden until its visibility timeout, then comes back.
    fn receive(
        &self,
        queue: &Queue,
        how: Receive,
        stop: &AtomicBool,
    ) -> Option<Result<Vec<trailproof_aws::QueueMessage>, trailproof_aws::QueueError>> {
        let queue = queue.clone();
        let task = self.rt.spawn(async move { queue.receive(how).await });
        while !task.is_finished() {
            if stop.load(Ordering::SeqCst) {
                task.abort();
                return None;
            }
            std::thread::sleep(StdDuration::from_millis(50));
        }
        self.rt.block_on(task).ok()
    }

    /// Handles one message body: every digest event of a watched chain in it, in order.
    fn message(&mut self, body: &str, name: &str) -> Result<Handled, Error> {
        self.activity.messages += 1;
        let message = match trailproof::parse_message(body, name) {
            Ok(m) => m,
            Err(e) => {
                self.activity.unreadable_messages += 1;
                print_line(&json!({"type": "error", "source": name, "message": e.to_string()}))?;
                return Ok(Handled {
                    recorded: false,
                    outcome: None,
                });
            }
        };
        let mut recorded = true;
        for event in &message.events {
            match &event.object {
                ObjectKind::Digest(digest)
                    if event.created && !digest.backfill && self.watched(&digest.chain) =>
                {
                    self.activity.digests += 1;
                    recorded &= self.digest(event, digest)?;
                }
                ObjectKind::LogFile(_) => self.activity.log_file_events += 1,
                // Backfill digests are walked with the standard digest after them; other
                // chains, removals and other objects only count as activity.
                _ => self.activity.other_events += 1,
            }
        }
        Ok(Handled {
            recorded,
            outcome: None,
        })
    }

    /// True when `chain` (read from a digest's key) is one of the chains watched.
    fn watched(&self, chain: &Chain) -> bool {
        let own = &self.chain;
        let listed = |list: &Option<Vec<String>>, all: bool, value: &str, default: &str| match list
        {
            Some(list) => list.iter().any(|v| v == value),
            None => all || value == default,
        };
        chain.bucket == own.bucket
            && chain.prefix == own.prefix
            && chain.trail_name == own.trail_name
            && chain.home_region == own.home_region
            && own
                .organization_id
                .as_ref()
                .is_none_or(|o| chain.organization_id.as_ref() == Some(o))
            && listed(
                &self.sel.accounts,
                self.sel.all_accounts,
                &chain.account_id,
                &own.account_id,
            )
            && listed(
                &self.sel.regions,
                self.sel.all_regions,
                &chain.source_region,
                &own.source_region,
            )
    }

    /// One digest event: verified from the stored head, the head moved, the line printed.
    /// Returns whether its result is recorded.
    fn digest(&mut self, event: &ObjectEvent, digest: &DigestKey) -> Result<bool, Error> {
        let id = digest.chain_id();
        let base = |verdict: &str| {
            json!({
                "type": "digest",
                "chain": id,
                "digest_key": event.key,
                "verdict": verdict,
                "event_time": stamp(event.event_time),
            })
        };
        let snapshot = match self.heads.read() {
            Ok(s) => s,
            Err(e) => {
                return self.not_checked(base("not_checked"), &id, event, &e.to_string());
            }
        };
        let head = snapshot.state.heads.get(&id).cloned();
        if self.skip(event, digest, &id, head.as_ref())? {
            return Ok(true);
        }
        // The resumed run of `validate --state`, from the head (or --start-time) up to this
        // digest: every link in between is listed and verified. The range ends at the digest;
        // digests after it (a run lists up to an hour past its end) are hidden from this run,
        // so that each digest gets its own verdict, whatever was delivered since.
        let end = digest.end_time;
        let start = match &head {
            Some(h) => self.start.min(h.end_time),
            None => self.start.min(end),
        };
        let bounded = UpTo {
            inner: &self.store,
            chain: &digest.chain,
            last: trailproof::time::key_format(end),
        };
        let checked = self.check(
            &bounded,
            &digest.chain,
            head.as_ref(),
            start,
            end,
            Utc::now(),
        );
        let report = match checked {
            Ok(report) => report,
            Err(e @ Error::Internal(_)) => return Err(e),
            Err(e) => {
                let message = crate::error_message(&e);
                return self.not_checked(base("not_checked"), &id, event, &message);
            }
        };
        let mut messages = problems(&report);
        let mut outcome = Outcome::of(report.verdict());
        let reached = report
            .new_head
            .as_ref()
            .is_some_and(|h| h.bucket == event.bucket && h.key == event.key);
        if outcome == Outcome::Valid && !reached {
            // S3 announced an object that the bucket no longer holds: deleted since.
            outcome = Outcome::Invalid;
            messages.push(format!(
                "Digest file\ts3://{}/{}\tNOT FOUND: announced by an event at {}, not in the bucket",
                event.bucket,
                event.key,
                stamp(event.event_time)
            ));
        }
        let mut recorded = outcome != Outcome::NotChecked;
        let mut new_head: Option<&Head> = None;
        if outcome == Outcome::Valid {
            if let Some(h) = &report.new_head {
                match self.advance(&id, h) {
                    Ok(()) => new_head = Some(h),
                    Err(e) => {
                        // Verified, but not recorded: the message stays for another try.
                        outcome = Outcome::NotChecked;
                        recorded = false;
                        messages.push(format!("head store: {e}"));
                    }
                }
            }
        }
        let counts = report.summary();
        let mut line = base(outcome.as_str());
        line["digests_checked"] = json!(counts.digests.total() + counts.backfill_digests.total());
        line["log_files_checked"] = json!(counts.log_files.total());
        line["findings"] = json!(messages);
        line["head"] = json!(new_head
            .map(|h| h.key.clone())
            .or_else(|| head.as_ref().map(|h| h.key.clone())));
        line["latency_seconds"] = json!(latency(event.event_time));
        recorded &= self.emit(&line, &id, Some(&event.key), outcome, &messages)?;
        Ok(recorded)
    }

    /// A digest already proven (at or before the head: a duplicate, or a link a later digest
    /// brought in), or before `--start-time` on a chain with no head: its line is printed and
    /// nothing changes. True when it was one of those.
    fn skip(
        &mut self,
        event: &ObjectEvent,
        digest: &DigestKey,
        id: &str,
        head: Option<&Head>,
    ) -> Result<bool, Error> {
        if let Some(h) = head.filter(|h| digest.end_time <= h.end_time) {
            // At or before the head: already proven (a duplicate, or a link a later digest
            // brought in). Nothing changes.
            self.activity.duplicates += 1;
            print_line(&json!({
                "type": "duplicate",
                "chain": id,
                "digest_key": event.key,
                "head": h.key,
                "event_time": stamp(event.event_time),
                "latency_seconds": latency(event.event_time),
            }))?;
            return Ok(true);
        }
        if head.is_none() && digest.end_time < self.start {
            print_line(&json!({
                "type": "ignored",
                "chain": id,
                "digest_key": event.key,
                "reason": "before --start-time, and the chain has no head yet",
            }))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A digest whose check could not be carried out.
    fn not_checked(
        &mut self,
        mut line: Value,
        id: &str,
        event: &ObjectEvent,
        message: &str,
    ) -> Result<bool, Error> {
        let messages = vec![message.to_owned()];
        line["digests_checked"] = json!(0);
        line["log_files_checked"] = json!(0);
        line["findings"] = json!(messages);
        line["latency_seconds"] = json!(latency(event.event_time));
        self.emit(&line, id, Some(&event.key), Outcome::NotChecked, &messages)?;
        Ok(false)
    }

    /// Prints a digest's line and one per finding, and alerts on anything but valid. Returns
    /// false when the alert could not be sent.
    fn emit(
        &mut self,
        line: &Value,
        id: &str,
        digest_key: Option<&str>,
        outcome: Outcome,
        messages: &[String],
    ) -> Result<bool, Error> {
        self.note(outcome);
        print_line(line)?;
        for message in messages {
            print_line(&json!({
                "type": "finding",
                "chain": id,
                "digest_key": digest_key,
                "verdict": outcome.as_str(),
                "message": message,
            }))?;
        }
        if outcome == Outcome::Valid {
            return Ok(true);
        }
        let Some(topic) = &self.topic else {
            return Ok(true);
        };
        let what = if line["type"] == "sweep" {
            "sweep"
        } else {
            "digest"
        };
        let subject = format!("trailproof: {} {what}", outcome.as_str());
        match self
            .rt
            .block_on(topic.publish(Some(&subject), &line.to_string()))
        {
            Ok(_) => Ok(true),
            Err(e) => {
                eprintln!(
                    "trailproof: warning: alert not sent: {}",
                    escape_controls(&e.to_string())
                );
                Ok(false)
            }
        }
    }

    /// Sweeps when one is due.
    fn sweep_if_due(&mut self, stop: &AtomicBool) -> Result<(), Error> {
        if Instant::now() >= self.next_sweep {
            self.sweep_chains(stop)?;
        }
        Ok(())
    }

    /// The sweep: every watched chain (the one the flags name, or those discovery finds, and
    /// every chain of the selection in the head store) checked from its head up to now. A stop
    /// asked for during it ends it after the chain in hand.
    fn sweep_chains(&mut self, stop: &AtomicBool) -> Result<(), Error> {
        self.refresh_status();
        let now = Utc::now();
        let mut chains: BTreeMap<String, Chain> = BTreeMap::new();
        let discovery = self.sel.all_accounts
            || self.sel.all_regions
            || self.sel.accounts.is_some()
            || self.sel.regions.is_some();
        if discovery {
            let job = crate::output::Job {
                store: &self.store,
                keys: &self.keys,
                chain: self.chain.clone(),
                parallelism: self.sel.parallelism(),
                check_unreferenced_logs: true,
                source: format!("s3://{}", self.chain.bucket),
                trail_status: self.status.clone(),
            };
            match crate::output::discover_selected(&self.sel, &job) {
                Ok((found, _warnings)) => {
                    for chain in found {
                        chains.insert(trailproof::state::chain_id(&chain), chain);
                    }
                }
                Err(e) => {
                    let message = crate::error_message(&e);
                    self.sweep_not_checked(None, None, &format!("discovery: {message}"))?;
                }
            }
        } else {
            chains.insert(trailproof::state::chain_id(&self.chain), self.chain.clone());
        }
        match self.heads.read() {
            Ok(snapshot) => {
                for id in snapshot.state.heads.keys() {
                    let chain = trailproof::state::chain_from_id(
                        id,
                        &self.chain.trail_name,
                        &self.chain.home_region,
                    );
                    if let Some(chain) = chain.filter(|c| self.watched(c)) {
                        chains.entry(id.clone()).or_insert(chain);
                    }
                }
            }
            Err(e) => {
                self.sweep_not_checked(None, None, &format!("head store: {e}"))?;
                self.next_sweep = due_after(self.sweep_interval);
                return Ok(());
            }
        }
        for (id, chain) in &chains {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            self.sweep_chain(id, chain, now)?;
        }
        self.next_sweep = due_after(self.sweep_interval);
        Ok(())
    }

    /// A watch runs for days: the status taken at its start may have been undone since (a
    /// StartLogging after a StopLogging), so each sweep asks again. When it cannot, only the
    /// last delivery time known is kept: a delivery that happened stays a fact and can only
    /// prove a deletion, while an old IsLogging false must not explain a chain gone silent.
    fn refresh_status(&mut self) {
        self.status = crate::live::status_for(&self.rt, &self.ctx, &self.trail_arn).or_else(|| {
            self.status.take().map(|old| {
                TrailStatus::new(None, old.latest_digest_delivery_time, None, None, None)
            })
        });
    }

    /// One chain of a sweep: the resumed run from its stored head (or --start-time) up to
    /// `now`, the head moved forward when it is valid.
    fn sweep_chain(&mut self, id: &str, chain: &Chain, now: DateTime<Utc>) -> Result<(), Error> {
        let head = match self.heads.read() {
            Ok(snapshot) => snapshot.state.heads.get(id).cloned(),
            Err(e) => {
                return self.sweep_not_checked(Some(id), None, &format!("head store: {e}"));
            }
        };
        let before = head.as_ref().map(|h| h.key.clone());
        let start = match &head {
            Some(h) => self.start.min(h.end_time),
            None => self.start.min(now),
        };
        let report = match self.check(&self.store, chain, head.as_ref(), start, now, now) {
            Ok(report) => report,
            Err(e @ Error::Internal(_)) => return Err(e),
            Err(e) => {
                let message = crate::error_message(&e);
                return self.sweep_not_checked(Some(id), before.as_deref(), &message);
            }
        };
        let mut messages = problems(&report);
        // Valid findings explain, they do not fault (LOGGING STOPPED): shown as notes.
        let notes: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.status() == Status::Valid)
            .map(|f| f.message())
            .collect();
        let mut outcome = Outcome::of(report.verdict());
        let mut after = before.clone();
        let moved = report.new_head.as_ref().filter(|h| {
            head.as_ref()
                .is_none_or(|old| old.key != h.key && h.end_time > old.end_time)
        });
        if outcome == Outcome::Valid {
            if let Some(h) = moved {
                match self.advance(id, h) {
                    Ok(()) => after = Some(h.key.clone()),
                    Err(e) => {
                        outcome = Outcome::NotChecked;
                        messages.push(format!("head store: {e}"));
                    }
                }
            }
        }
        if after != before {
            print_swept(&report, head.as_ref(), id, after.as_deref())?;
        }
        let counts = report.summary();
        let line = json!({
            "type": "sweep",
            "chain": id,
            "head_before": before,
            "head_after": after,
            "verdict": outcome.as_str(),
            "digests_checked": counts.digests.total() + counts.backfill_digests.total(),
            "log_files_checked": counts.log_files.total(),
            "findings": messages,
            "notes": notes,
            "until": stamp(now),
        });
        self.emit(&line, id, None, outcome, &messages)?;
        Ok(())
    }

    /// A sweep (of one chain, or of all when `id` is `None`) that could not be carried out.
    fn sweep_not_checked(
        &mut self,
        id: Option<&str>,
        head: Option<&str>,
        message: &str,
    ) -> Result<(), Error> {
        let messages = vec![message.to_owned()];
        let line = json!({
            "type": "sweep",
            "chain": id,
            "head_before": head,
            "head_after": head,
            "verdict": Outcome::NotChecked.as_str(),
            "digests_checked": 0,
            "log_files_checked": 0,
            "findings": messages,
            "notes": [],
        });
        self.emit(
            &line,
            id.unwrap_or(""),
            None,
            Outcome::NotChecked,
            &messages,
        )?;
        Ok(())
    }
}

/// A store that hides the digests of one chain whose key time is after `last`: the run for one
/// digest stops at it, as if nothing newer had been delivered yet.
struct UpTo<'a> {
    inner: &'a dyn ObjectStore,
    chain: &'a Chain,
    /// The key time (`YYYYMMDDTHHMMSSZ`) of the digest checked.
    last: String,
}

impl ObjectStore for UpTo<'_> {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let hide = bucket == self.chain.bucket;
        self.inner.list(bucket, prefix, start_after, &mut |key| {
            if hide
                && self.chain.is_digest_key(key)
                && trailproof::layout::key_date(key) > self.last.as_str()
            {
                return ControlFlow::Continue(());
            }
            each(key)
        })
    }

    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        self.inner.get(bucket, key, limit)
    }

    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        self.inner.open(bucket, key)
    }

    fn prefetch(&self, objects: &[(&str, &str)], intent: Intent) -> Prefetch {
        self.inner.prefetch(objects, intent)
    }

    fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StoreError> {
        self.inner.object_size(bucket, key)
    }
}

/// The resumed run's problems: the report's error lines, then its findings that are not
/// informational.
fn problems(report: &Report) -> Vec<String> {
    let mut messages: Vec<String> = report
        .entries
        .iter()
        .filter_map(|e| entry_line(e, false))
        .filter(|(is_error, _)| *is_error)
        .map(|(_, line)| line)
        .collect();
    messages.extend(
        report
            .findings
            .iter()
            .filter(|f| f.status() != Status::Valid)
            .map(|f| f.message()),
    );
    messages
}

/// One line per digest a sweep verified past the old head, oldest first.
fn print_swept(
    report: &Report,
    head: Option<&Head>,
    id: &str,
    after: Option<&str>,
) -> Result<(), Error> {
    // One line per digest the sweep verified past the old head, oldest first.
    let mut verified: Vec<&trailproof::report::DigestEntry> = report
        .entries
        .iter()
        .filter_map(|e| match e {
            trailproof::report::Entry::Digest(d)
                if !d.backfill
                    && d.outcome.status() == Status::Valid
                    && head
                        .as_ref()
                        .is_none_or(|h| d.end.is_some_and(|end| end > h.end_time)) =>
            {
                Some(d)
            }
            _ => None,
        })
        .collect();
    verified.sort_by(|a, b| a.end.cmp(&b.end).then_with(|| a.key.cmp(&b.key)));
    for d in verified {
        print_line(&json!({
            "type": "digest",
            "source": "sweep",
            "chain": id,
            "digest_key": d.key,
            "verdict": Outcome::Valid.as_str(),
            "digests_checked": 1,
            "log_files_checked": d.log_files,
            "findings": [],
            "head": after,
        }))?;
    }
    Ok(())
}

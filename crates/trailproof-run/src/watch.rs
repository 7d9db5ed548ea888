//! `watch`: continuous verification. Object events (S3 notifications, SNS envelopes,
//! EventBridge events; from a file or an SQS queue) announce new digests; each digest of a
//! watched chain is verified, with its log files, by the resumed run of `validate --state`
//! from the chain's stored head to that digest, and the head is moved forward in a shared head
//! store. One JSON line per digest and per finding goes to standard output.
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
use std::time::Duration as StdDuration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use trailproof::events::{DigestKey, ObjectEvent, ObjectKind};
use trailproof::headstore::{self, HeadStore, HeadStoreError};
use trailproof::report::{entry_line, escape_controls, Status};
use trailproof::store::{Intent, Object, ObjectReader, Prefetch};
use trailproof::{
    validate_chains, Chain, Error, FileHeadStore, Head, ObjectStore, Options, PublicKeySource,
    StoreError, TrailStatus, Verdict,
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
        }
    }
}

/// A result's verdict, as the lines name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Valid,
    NotChecked,
    Invalid,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::Invalid => "invalid",
            Outcome::NotChecked => "not_checked",
        }
    }

    fn exit_code(self) -> u8 {
        match self {
            Outcome::Valid => 0,
            Outcome::Invalid => 1,
            Outcome::NotChecked => 2,
        }
    }
}

/// What became of one message.
struct Handled {
    /// Every result of it is recorded (head written, line printed, alert sent): it may be
    /// deleted.
    recorded: bool,
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

struct Watcher<'a> {
    rt: &'a tokio::runtime::Runtime,
    store: &'a dyn ObjectStore,
    keys: &'a dyn PublicKeySource,
    heads: &'a dyn HeadStore,
    topic: Option<Topic>,
    trail_arn: String,
    /// The trail's chain as the flags name it (bucket, prefix, account, region…).
    chain: Chain,
    sel: &'a Selection,
    start: DateTime<Utc>,
    status: Option<TrailStatus>,
    /// The worst result so far (`None`: none yet).
    worst: Option<Outcome>,
    activity: Activity,
}

/// `watch`: see the module's documentation. Returns the worst result's exit status (0 when
/// there was nothing to check).
pub fn watch(config: WatchConfig) -> Result<u8, Error> {
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
    // The head store is read once before anything is done: one that cannot be read, or holds
    // another trail's heads, stops the watch here rather than on every event.
    heads.read().map_err(|e| match e {
        HeadStoreError::Unavailable { .. } => Error::Aws(format!("--state: {e}")),
        e => Error::Usage(format!("--state: {e}")),
    })?;
    let stop = config
        .stop
        .clone()
        .unwrap_or_else(|| Arc::new(AtomicBool::new(false)));
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
    let status = crate::live::status_of(&live, &range);
    let mut watcher = Watcher {
        rt: &live.rt,
        store: &store,
        keys: &keys,
        heads: heads.as_ref(),
        topic: config
            .alert_sns_topic
            .as_deref()
            .map(|arn| Topic::new(&live.ctx, arn)),
        trail_arn: range.arn.arn.clone(),
        chain: live.chain.clone(),
        sel: &config.selection,
        start: range.start,
        status,
        worst: None,
        activity: Activity::default(),
    };
    match &config.events {
        EventSource::File(path) => watcher.read_file(path, &stop)?,
        EventSource::Sqs(url) => {
            watcher.read_queue(&Queue::new(&live.ctx, url), config.once, &stop)?
        }
    }
    watcher.summary()?;
    Ok(watcher.worst.map_or(0, Outcome::exit_code))
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

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn latency(event_time: DateTime<Utc>) -> f64 {
    (Utc::now() - event_time).num_milliseconds() as f64 / 1000.0
}

impl Watcher<'_> {
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
            let handled = self.message(&line, &format!("{name} line {}", n + 1))?;
            if !handled.recorded {
                // A file is not redelivered: what could not be recorded is not valid.
                self.note(Outcome::NotChecked);
            }
        }
        Ok(())
    }

    fn read_queue(&mut self, queue: &Queue, once: bool, stop: &AtomicBool) -> Result<(), Error> {
        let queue_error = |e: trailproof_aws::QueueError| Error::Aws(e.to_string());
        while !stop.load(Ordering::SeqCst) {
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
                let handled = self.message(&m.body, &format!("sqs message {}", m.message_id))?;
                if handled.recorded {
                    if let Err(e) = self.rt.block_on(queue.delete(&m.receipt_handle)) {
                        // Redelivered later: processing it again changes nothing.
                        eprintln!("trailproof: warning: {}", escape_controls(&e.to_string()));
                    }
                } else {
                    // Left hidden until its visibility timeout ends, then redelivered (or sent
                    // to the dead-letter queue): never deleted unrecorded.
                    self.note(Outcome::NotChecked);
                }
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
                return Ok(Handled { recorded: false });
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
        Ok(Handled { recorded })
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
        if let Some(h) = head.as_ref().filter(|h| digest.end_time <= h.end_time) {
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
        // The resumed run of `validate --state`, from the head (or --start-time) up to this
        // digest: every link in between is listed and verified. The range ends at the digest;
        // digests after it (a run lists up to an hour past its end) are hidden from this run,
        // so that each digest gets its own verdict, whatever was delivered since.
        let end = digest.end_time;
        let start = match &head {
            Some(h) => self.start.min(h.end_time),
            None => self.start.min(end),
        };
        let options = Options::new(start, end)
            .now(Utc::now())
            .trail_status(self.status.clone())
            .parallelism(self.sel.parallelism())
            .limits(self.sel.limits())
            .check_unreferenced_logs(true)
            .keep_valid_logs(false);
        let bounded = UpTo {
            inner: self.store,
            chain: &digest.chain,
            last: trailproof::time::key_format(end),
        };
        let runs = [(digest.chain.clone(), head.clone())];
        let report = match validate_chains(&bounded, self.keys, &runs, &self.trail_arn, &options) {
            Ok(mut reports) if reports.len() == 1 => reports.remove(0),
            Ok(_) => return Err(Error::Internal("one report per chain")),
            Err(e) => {
                let message = crate::error_message(&e);
                return self.not_checked(base("not_checked"), &id, event, &message);
            }
        };
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
        let mut outcome = match report.verdict() {
            Verdict::Valid => Outcome::Valid,
            Verdict::Invalid => Outcome::Invalid,
            Verdict::Incomplete => Outcome::NotChecked,
        };
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
                let heads = BTreeMap::from([(id.clone(), h.clone())]);
                match headstore::advance(self.heads, &heads, HEAD_ATTEMPTS) {
                    Ok(_) => new_head = Some(h),
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
        recorded &= self.emit(&line, &id, event, outcome, &messages)?;
        Ok(recorded)
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
        self.emit(&line, id, event, Outcome::NotChecked, &messages)?;
        Ok(false)
    }

    /// Prints a digest's line and one per finding, and alerts on anything but valid. Returns
    /// false when the alert could not be sent.
    fn emit(
        &mut self,
        line: &Value,
        id: &str,
        event: &ObjectEvent,
        outcome: Outcome,
        messages: &[String],
    ) -> Result<bool, Error> {
        self.note(outcome);
        print_line(line)?;
        for message in messages {
            print_line(&json!({
                "type": "finding",
                "chain": id,
                "digest_key": event.key,
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
        let subject = format!("trailproof: {} digest", outcome.as_str());
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

    fn summary(&self) -> Result<(), Error> {
        let a = &self.activity;
        print_line(&json!({
            "type": "summary",
            "trail_arn": self.trail_arn,
            "messages": a.messages,
            "digests": a.digests,
            "duplicates": a.duplicates,
            "log_file_events": a.log_file_events,
            "other_events": a.other_events,
            "unreadable_messages": a.unreadable_messages,
            "verdict": self.worst.map_or("valid", Outcome::as_str),
        }))
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

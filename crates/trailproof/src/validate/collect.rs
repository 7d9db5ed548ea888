//! The walk's steps turned into report entries: log files checked a batch at a time, entries
//! kept or streamed, references kept for the unreferenced-log check.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::digest::LogFileRef;
use crate::report::{DigestEntry, Entry, LogEntry, LogOutcome, Status, Summary};
use crate::store::Intent;
use crate::{Error, StoreError};

use super::{EntrySink, Run};

/// One step of the walk: a digest (with its log files when valid) or a gap.
pub(super) enum Step {
    Digest(DigestEntry, Vec<LogFileRef>),
    Gap(Entry),
}

/// The log files listed by valid digests, as 64-bit hashes of (bucket, key): 16 bytes a file
/// instead of both strings. Keyed per run, so nobody can aim for a collision.
#[derive(Default)]
pub(super) struct References {
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

    pub(super) fn contains(&self, bucket: &str, key: &str) -> bool {
        self.hashes.contains(&self.hash(bucket, key))
    }
}

/// Receives the walk's steps in order, checks their log files a batch at a time, and keeps or
/// streams what the report needs.
pub(super) struct Collector<'r, 'a> {
    run: &'r Run<'a>,
    pending: Vec<Step>,
    pending_logs: usize,
    pub(super) entries: Vec<Entry>,
    pub(super) counts: Summary,
    sink: Option<Box<dyn EntrySink>>,
    /// For the unreferenced-log check, when it is on.
    pub(super) referenced: Option<References>,
    pub(super) windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    pub(super) found_start: Option<DateTime<Utc>>,
    pub(super) found_end: Option<DateTime<Utc>>,
}

impl<'r, 'a> Collector<'r, 'a> {
    pub(super) fn new(run: &'r Run<'a>) -> Self {
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

    pub(super) fn push(&mut self, step: Step) -> Result<(), Error> {
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
            Some(sink) => sink.entry(&entry).map_err(|e| Error::Output {
                context: "cannot write the report".to_owned(),
                target: "the report".to_owned(),
                source: e,
            }),
            None => {
                self.entries.push(entry);
                Ok(())
            }
        }
    }

    /// Checks the pending steps' log files and turns the steps into report entries.
    pub(super) fn flush(&mut self) -> Result<(), Error> {
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

impl Run<'_> {
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
}

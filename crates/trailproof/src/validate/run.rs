//! One chain's run: list, load the keys, walk both chains, and gather the report (and, in a
//! sharded run, what the merge needs).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::keys::KeySet;
use crate::report::{Entry, Finding, Report, Summary};
use crate::state::Head;
use crate::time::display;
use crate::window::{KindResult, WindowResult};
use crate::{Error, StoreError};

use super::collect::Collector;
use super::key_source::WalkKeys;
use super::links::check_continuity;
use super::prefetch::Prefetched;
use super::walk::{Shared, WalkInfo};
use super::Run;

/// What a window's walks learnt beyond the report: where each kind's entries and findings end,
/// and how each walk enters and leaves the window.
pub(super) struct Walked {
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
    pub(super) fn into_result(self, mut report: Report) -> WindowResult {
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

/// Where the chain's listing started, and the newest digest it found: the tail check's
/// bounds.
struct Listed {
    newest: Option<String>,
    from: DateTime<Utc>,
}

/// Both walks over one collector, and where the standard walk's entries and findings end.
struct Walks<'r, 'a> {
    shared: Shared<'r, 'a>,
    standard: WalkInfo,
    backfill: WalkInfo,
    standard_entries: usize,
    standard_findings: usize,
}

impl<'a> Run<'a> {
    pub(super) fn run(
        &self,
        trail_arn: &str,
        resume: Option<&Head>,
    ) -> Result<(Report, Walked), Error> {
        self.options.check_cancel()?;
        let (standard, backfill) = match self.list_chain() {
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
        let listed = Listed {
            newest: standard.last().cloned(),
            from: self.window.as_ref().map_or(self.start, |w| w.start),
        };
        let walks = self.walk_both(standard, backfill, resume)?;
        self.gather(trail_arn, resume, walks, listed)
    }

    /// Walks the standard chain, then the backfill chain, over one shared collector.
    fn walk_both<'r>(
        &'r self,
        standard: Vec<String>,
        backfill: Vec<String>,
        resume: Option<&Head>,
    ) -> Result<Walks<'r, 'a>, Error> {
        // The CLI loads the standard chain's keys before walking, even when nothing was listed.
        let standard_keys = self.standard_keys()?;
        // Digests are fetched ahead of the walk within a byte budget (`fetch_ahead`), and log
        // files checked a batch at a time as the walk hands over valid digests (`Collector`):
        // memory is bounded by the budget and the batch, not by the size of the range.
        let mut shared = Shared {
            cache: Prefetched::default(),
            steps: Collector::new(self),
            findings: Vec::new(),
            used: BTreeMap::new(),
        };
        let mut standard_lookup = WalkKeys {
            source: self.keys,
            region: self.chain.home_region.clone(),
            keys: standard_keys,
            backfill: false,
        };
        let info = self.walk(standard, false, &mut standard_lookup, &mut shared)?;
        // The two walks' entries are told apart in a sharded run.
        if let Some(head) = resume {
            self.check_head(head, &mut shared.steps)?;
        }
        shared.steps.flush()?;
        let standard_entries = shared.steps.entries.len();
        let standard_findings = shared.findings.len();
        if let Some(head) = resume {
            check_continuity(head, &info, &mut shared.steps, &mut shared.findings)?;
        }
        let mut backfill_lookup = WalkKeys {
            source: self.keys,
            region: self.chain.home_region.clone(),
            keys: KeySet::new(),
            backfill: true,
        };
        let backfill_info = self.walk(backfill, true, &mut backfill_lookup, &mut shared)?;
        shared.steps.flush()?;
        Ok(Walks {
            shared,
            standard: info,
            backfill: backfill_info,
            standard_entries,
            standard_findings,
        })
    }

    /// After the walks: the unreferenced logs and the newest edge, then the report.
    fn gather(
        &self,
        trail_arn: &str,
        resume: Option<&Head>,
        walks: Walks<'_, '_>,
        listed: Listed,
    ) -> Result<(Report, Walked), Error> {
        let Walks {
            shared,
            standard: mut info,
            backfill: backfill_info,
            standard_entries,
            standard_findings,
        } = walks;
        let Shared {
            steps,
            mut findings,
            used,
            ..
        } = shared;
        let Collector {
            entries,
            counts,
            referenced,
            windows,
            found_start,
            found_end,
            ..
        } = steps;
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
            findings.extend(tail.check(listed.newest.as_deref(), listed.from, resume)?);
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
            start: self.start,
            end: self.options.end,
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

    /// The keys of the standard chain, loaded once for the whole walk over the range (and two
    /// hours past its end, as the CLI asks).
    fn standard_keys(&self) -> Result<KeySet, Error> {
        let (start, end) = (self.start, self.options.end);
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
        Ok(standard_keys)
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
}

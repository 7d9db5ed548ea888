//! The merge: each chain's windows joined newest first with the single walk's rules, into the
//! reports of the single run.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::layout::{is_backfill_key, key_date, Chain};
use crate::report::LinkField;
use crate::report::{DigestEntry, DigestOutcome, Entry, Finding, KeyUse, Report, Summary};
use crate::state::Head;
use crate::time::parse_key_time;
use crate::window::{
    check_link_facts, count_more_missing, union, Exit, FirstDigest, KindResult, Window,
    WindowResult, UNREFERENCED_MARGIN,
};

use super::part::{plan, MergePlan, Part, PartHead};
use super::plan::RunInfo;
use super::ShardError;

/// The merged run: what the single run's report holds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Merged {
    /// The run.
    pub run: RunInfo,
    /// One report per chain, in discovery order.
    pub reports: Vec<Report>,
    /// Discovery's warnings, as printed.
    pub discovery_warnings: Vec<String>,
    /// Warnings about the public keys.
    pub key_warnings: Vec<String>,
}

/// Stitches a planned run's chains from their parts, holding one part at a time.
///
/// `part(shard)` is asked for each shard's part once, from the last shard to the first: a chain's
/// newest windows come first, as its walk goes. `entry(chain, backfill, e)` takes each entry of
/// each chain, last chain first; within a chain in the order of its report, the standard walk's
/// (`backfill` false) before the backfill walk's. Returns the reports in chain order, without
/// their entries. A part must hold what [`plan`] saw of it.
pub fn stitch_parts(
    plan: &MergePlan,
    part: &mut dyn FnMut(u32) -> Result<Part, crate::Error>,
    entry: &mut dyn FnMut(usize, bool, Entry) -> std::io::Result<()>,
) -> Result<Vec<Report>, crate::Error> {
    let run = &plan.run;
    let mut reports: Vec<Option<Report>> = plan.chains.iter().map(|_| None).collect();
    let mut current: Option<(usize, Stitcher<'_>)> = None;
    // Entries are spooled to anonymous temporary files (in the system's temporary folder).
    let io = |e: std::io::Error| crate::Error::Io {
        context: "cannot keep the merged entries".to_owned(),
        path: std::env::temp_dir(),
        source: e,
    };
    // Items come newest first: the last chain's last window, then back.
    let mut next = (plan.chains.len(), 0usize);
    for shard in (1..=run.shards).rev() {
        let found = part(shard)?;
        if found.shard != shard || found.run.fingerprint != run.fingerprint {
            return Err(ShardError::Spec(format!(
                "the part of shard {shard} is not the one checked before"
            ))
            .into());
        }
        for (item, result) in found.items.into_iter().rev() {
            // Where the newest-first order puts the next item.
            let expected = match next {
                (c, 0) => (c.checked_sub(1), plan.windows.len().checked_sub(1)),
                (c, w) => (Some(c), Some(w - 1)),
            };
            if expected != (Some(item.chain), Some(item.window)) {
                return Err(ShardError::Spec(format!(
                    "no part holds window {} of chain {}",
                    expected.1.unwrap_or(0),
                    expected.0.unwrap_or(0)
                ))
                .into());
            }
            next = (item.chain, item.window);
            if current.as_ref().is_none_or(|(c, _)| *c != item.chain) {
                if let Some((c, done)) = current.take() {
                    reports[c] = Some(done.finish(&mut |b, e| entry(c, b, e)).map_err(io)?);
                }
                let chain = plan.chains.get(item.chain).ok_or_else(|| {
                    ShardError::Spec(format!("no chain {} in the run", item.chain))
                })?;
                current = Some((item.chain, Stitcher::new(run, chain)));
            }
            if let Some((c, stitcher)) = current.as_mut() {
                let c = *c;
                stitcher
                    .push(result, plan.windows[item.window], &mut |b, e| {
                        entry(c, b, e)
                    })
                    .map_err(io)?;
            }
        }
    }
    if let Some((c, done)) = current.take() {
        reports[c] = Some(done.finish(&mut |b, e| entry(c, b, e)).map_err(io)?);
    }
    if next != (0, 0) && !plan.chains.is_empty() {
        return Err(ShardError::Spec(format!(
            "no part holds window {} of chain {}",
            next.1.saturating_sub(1),
            next.0
        ))
        .into());
    }
    reports
        .into_iter()
        .enumerate()
        .map(|(c, r)| {
            r.ok_or_else(|| ShardError::Spec(format!("no part holds window 0 of chain {c}")).into())
        })
        .collect()
}

/// Merges every shard's part (named for errors) into the reports of the single run, entries
/// included: [`plan`], then [`stitch_parts`] over parts held in memory. Refuses parts of
/// different runs, duplicate and missing shards.
pub fn merge(parts: Vec<(String, Part)>) -> Result<Merged, ShardError> {
    let heads: Vec<(String, PartHead)> = parts.iter().map(|(n, p)| (n.clone(), p.head())).collect();
    let plan = plan(&heads)?;
    let count = plan.run.shards;
    let mut by_shard: HashMap<u32, Part> = parts.into_iter().map(|(_, p)| (p.shard, p)).collect();
    let mut entries: Vec<[Vec<Entry>; 2]> =
        plan.chains.iter().map(|_| Default::default()).collect();
    let stitched = stitch_parts(
        &plan,
        &mut |shard| {
            by_shard.remove(&shard).ok_or_else(|| {
                crate::Error::from(ShardError::Missing {
                    shards: vec![shard],
                    count,
                })
            })
        },
        &mut |c, backfill, e| {
            if let Some(kinds) = entries.get_mut(c) {
                kinds[usize::from(backfill)].push(e);
            }
            Ok(())
        },
    );
    let mut reports = match stitched {
        Ok(reports) => reports,
        Err(crate::Error::Shard(e)) => return Err(e),
        Err(other) => return Err(ShardError::Spec(other.to_string())),
    };
    for (report, [mut standard, backfill]) in reports.iter_mut().zip(entries) {
        standard.extend(backfill);
        report.entries = standard;
    }
    Ok(Merged {
        run: plan.run,
        reports,
        discovery_warnings: plan.discovery_warnings,
        key_warnings: plan.key_warnings,
    })
}

/// One chain's report from its windows' results (oldest first): the single walk, newest first,
/// with every window boundary checked as the walk checks a link inside a window.
pub fn stitch(
    run: &RunInfo,
    chain: &Chain,
    windows: &[Window],
    results: Vec<WindowResult>,
) -> Report {
    let mut kinds: [Vec<Entry>; 2] = [Vec::new(), Vec::new()];
    let mut keep = |backfill: bool, e: Entry| -> Result<(), std::convert::Infallible> {
        kinds[usize::from(backfill)].push(e);
        Ok(())
    };
    let mut stitcher = Stitcher::new(run, chain);
    // Newest first, as the walk goes.
    for (result, window) in results.into_iter().zip(windows).rev() {
        let Ok(()) = stitcher.push(result, *window, &mut keep);
    }
    let Ok(mut report) = stitcher.finish(&mut keep);
    let [mut standard, backfill] = kinds;
    standard.extend(backfill);
    report.entries = standard;
    report
}

/// One chain's stitch, fed its windows' results newest first, one at a time: what it holds
/// between windows is the boundary's state and the chain's findings, never its entries, which
/// go out as they are stitched (see [`stitch_parts`]).
#[derive(Debug)]
pub struct Stitcher<'a> {
    run: &'a RunInfo,
    chain: &'a Chain,
    counts: Summary,
    found: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    new_head: Option<Head>,
    keys_used: Vec<KeyUse>,
    covered: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    candidates: Vec<Finding>,
    tail: Vec<Finding>,
    standard: KindStitch,
    backfill: KindStitch,
}

/// One kind's walks being joined, newest window first.
#[derive(Debug, Default)]
struct KindStitch {
    findings: Vec<Finding>,
    /// Each window's unreached digests, newest window first.
    unreached: Vec<Vec<Finding>>,
    /// How the newer walk goes on, and where its window starts.
    pending: Option<(Exit, Window)>,
}

impl<'a> Stitcher<'a> {
    /// A chain's stitch, before its newest window.
    pub fn new(run: &'a RunInfo, chain: &'a Chain) -> Self {
        Stitcher {
            run,
            chain,
            counts: Summary::default(),
            found: (None, None),
            new_head: None,
            keys_used: Vec::new(),
            covered: Vec::new(),
            candidates: Vec::new(),
            tail: Vec::new(),
            standard: KindStitch::default(),
            backfill: KindStitch::default(),
        }
    }

    /// Adds the next older window's result; its entries go to `out` as `(backfill, entry)`.
    pub fn push<E>(
        &mut self,
        result: WindowResult,
        window: Window,
        out: &mut dyn FnMut(bool, Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        self.counts = add(self.counts, result.counts);
        self.found.0 = min_opt(self.found.0, result.found_start);
        self.found.1 = max_opt(self.found.1, result.found_end);
        if self.new_head.is_none() {
            self.new_head = result.new_head;
        }
        self.keys_used.extend(result.keys_used);
        self.covered.extend(result.covered);
        self.candidates.extend(result.unreferenced);
        self.tail.extend(result.tail);
        for (kind, walk, backfill) in [
            (&mut self.standard, result.standard, false),
            (&mut self.backfill, result.backfill, true),
        ] {
            kind.push(
                self.chain,
                walk,
                window,
                backfill,
                &mut self.counts,
                &mut |e| out(backfill, e),
            )?;
        }
        Ok(())
    }

    /// The chain's report, without its entries (all given to `out` by then).
    pub fn finish<E>(
        mut self,
        out: &mut dyn FnMut(bool, Entry) -> Result<(), E>,
    ) -> Result<Report, E> {
        let mut findings = Vec::new();
        for (kind, backfill) in [
            (std::mem::take(&mut self.standard), false),
            (std::mem::take(&mut self.backfill), true),
        ] {
            let unreached = kind.finish(
                self.run,
                self.chain,
                backfill,
                &mut findings,
                &mut self.counts,
                &mut |e| out(backfill, e),
            )?;
            findings.extend(unreached);
        }
        let candidates = std::mem::take(&mut self.candidates);
        findings.extend(unreferenced(
            self.run,
            self.chain,
            &self.covered,
            candidates,
        ));
        findings.extend(std::mem::take(&mut self.tail));
        Ok(self.report(findings))
    }

    fn report(mut self, findings: Vec<Finding>) -> Report {
        self.keys_used.sort();
        self.keys_used.dedup();
        Report {
            trail_arn: self.run.trail_arn.clone(),
            chain: self.chain.clone(),
            start: self.run.start,
            end: self.run.end,
            found_start: self.found.0,
            found_end: self.found.1,
            entries: Vec::new(),
            counts: self.counts,
            findings,
            resumed_from: None,
            new_head: self.new_head,
            key_source: self.run.key_source.clone(),
            keys_used: self.keys_used,
        }
    }
}

impl KindStitch {
    /// Joins the next older window's walk.
    fn push<E>(
        &mut self,
        chain: &Chain,
        walk: KindResult,
        window: Window,
        backfill: bool,
        counts: &mut Summary,
        out: &mut dyn FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        self.unreached.push(walk.unreached);
        let Some(first) = walk.first else {
            // A window listing no digest: the walk passes it by, as the single walk does.
            walk.entries.into_iter().try_for_each(&mut *out)?;
            self.findings.extend(walk.findings);
            return Ok(());
        };
        if let Some((exit, _)) = self.pending.take() {
            let mut joined = Vec::new();
            join(
                chain,
                exit,
                &first,
                backfill,
                &mut joined,
                &mut self.findings,
                counts,
            );
            joined.into_iter().try_for_each(&mut *out)?;
        }
        walk.entries.into_iter().try_for_each(&mut *out)?;
        self.findings.extend(walk.findings);
        self.pending = Some((walk.exit, window));
        Ok(())
    }

    /// Past the oldest window that lists digests: appends this kind's findings to `findings`
    /// and returns the unreached digests, oldest window first as the single run lists them.
    fn finish<E>(
        self,
        run: &RunInfo,
        chain: &Chain,
        backfill: bool,
        findings: &mut Vec<Finding>,
        counts: &mut Summary,
        out: &mut dyn FnMut(Entry) -> Result<(), E>,
    ) -> Result<Vec<Finding>, E> {
        findings.extend(self.findings);
        if let Some((
            Exit::Link {
                from_bucket,
                successor_key,
                bucket,
                key,
                ..
            },
            window,
        )) = self.pending
        {
            let time = parse_key_time(key_date(&key));
            let in_range = time.is_some_and(|t| t >= run.start && t < window.start);
            if bucket == chain.bucket
                && in_range
                && chain.is_digest_key(&key)
                && is_backfill_key(&key) == backfill
            {
                // Listed by no window, though in range: deleted. The single walk reports it not
                // found, with no older digest to count a missing run to.
                let mut gone = Vec::new();
                not_found(&bucket, &key, backfill, &mut gone, counts);
                gone.into_iter().try_for_each(&mut *out)?;
            } else {
                findings.push(Finding::LinkMismatch {
                    bucket: from_bucket,
                    key: successor_key,
                    previous_key: key.clone(),
                    field: LinkField::S3Object,
                    expected: format!("s3://{bucket}/{key}"),
                    actual: "a digest the sharded run does not list".to_owned(),
                });
            }
        }
        Ok(self.unreached.into_iter().rev().flatten().collect())
    }
}

/// The boundary between a newer walk that leaves its window by `exit` and the older window
/// whose first digest is `first`: what the single walk does there.
fn join(
    chain: &Chain,
    exit: Exit,
    first: &FirstDigest,
    backfill: bool,
    entries: &mut Vec<Entry>,
    findings: &mut Vec<Finding>,
    counts: &mut Summary,
) {
    let first_time = parse_key_time(key_date(&first.key));
    match exit {
        Exit::NextListed => {}
        Exit::End => {
            // The single walk would stop here and leave every older digest unreached; the
            // sharded run names the first of them (never valid either way).
            findings.push(Finding::UnreachedDigest {
                bucket: first.bucket.clone(),
                key: first.key.clone(),
                backfill,
            });
        }
        Exit::AfterMissing { bucket, key } => {
            count_more_missing(&bucket, &key, first_time, backfill, findings);
        }
        Exit::AfterNoPrevious { start } => {
            if let (Some(from), Some(to)) = (first_time, start) {
                if from < to {
                    entries.push(Entry::Gap { backfill, from, to });
                }
            }
        }
        Exit::Link {
            from_bucket,
            successor_key,
            bucket,
            key,
            signature,
            hash,
        } => {
            if bucket == first.bucket && key == first.key {
                // The link check of a verified successor, as inside a window. An unverified
                // first digest is judged on its own (never valid) and checked no further.
                if let Some(facts) = &first.link {
                    check_link_facts(
                        &successor_key,
                        &key,
                        hash.as_deref(),
                        signature.as_deref(),
                        &bucket,
                        facts,
                        findings,
                    );
                }
                return;
            }
            let time = parse_key_time(key_date(&key));
            let deleted = bucket == chain.bucket
                && chain.is_digest_key(&key)
                && is_backfill_key(&key) == backfill
                && time.zip(first_time).is_some_and(|(t, f)| t > f);
            if deleted {
                // Newer than every older listed digest, so listed by none: the single walk
                // finds it missing, then goes on from the older window's first digest.
                not_found(&bucket, &key, backfill, entries, counts);
                count_more_missing(&bucket, &key, first_time, backfill, findings);
            } else {
                // A link into the middle of an older window, or to another bucket: the
                // single walk would jump there; the sharded run reports the break.
                findings.push(Finding::LinkMismatch {
                    bucket: from_bucket,
                    key: successor_key,
                    previous_key: first.key.clone(),
                    field: LinkField::S3Object,
                    expected: format!("s3://{bucket}/{key}"),
                    actual: format!("s3://{}/{}", first.bucket, first.key),
                });
            }
        }
    }
}

fn not_found(
    bucket: &str,
    key: &str,
    backfill: bool,
    entries: &mut Vec<Entry>,
    counts: &mut Summary,
) {
    let entry = Entry::Digest(DigestEntry {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        backfill,
        outcome: DigestOutcome::NotFound,
        start: None,
        end: None,
        log_files: 0,
    });
    counts.add_entry(&entry);
    entries.push(entry);
}

/// The log files the single run calls unreferenced: candidates inside the time all windows'
/// valid digests cover together, clear of its edges, in the order the single run lists them.
fn unreferenced(
    run: &RunInfo,
    chain: &Chain,
    covered: &[(DateTime<Utc>, DateTime<Utc>)],
    candidates: Vec<Finding>,
) -> Vec<Finding> {
    let merged = union(covered.to_vec());
    let mut keep: BTreeMap<(usize, String), Finding> = BTreeMap::new();
    for f in candidates {
        let Finding::UnreferencedLog { key, .. } = &f else {
            continue;
        };
        let Some(t) = chain.log_key_time(key) else {
            continue;
        };
        // Checked: the spans come from the parts, and may lie at the ends of time.
        let found = merged.iter().enumerate().find(|(_, (s, e))| {
            let lo = s
                .checked_add_signed(UNREFERENCED_MARGIN)
                .map(|lo| lo.max(run.start));
            let hi = e
                .checked_sub_signed(UNREFERENCED_MARGIN)
                .map(|hi| hi.min(run.end));
            let end = t.checked_add_signed(Duration::minutes(1));
            match (lo, hi, end) {
                (Some(lo), Some(hi), Some(end)) => lo < hi && t >= lo && end <= hi,
                _ => false,
            }
        });
        if let Some((i, _)) = found {
            keep.entry((i, key.clone())).or_insert(f);
        }
    }
    keep.into_values().collect()
}

fn add(a: Summary, b: Summary) -> Summary {
    a.plus(b)
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

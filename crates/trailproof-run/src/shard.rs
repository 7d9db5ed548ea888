//! Sharded runs: `validate --shard M/N --partial FILE` does one share of a run and writes a
//! partial report; `merge PART…` prints the report of the whole run.

use std::collections::HashMap;
use std::io::{self, Read as _, Write};
use std::ops::ControlFlow;

use sha2::{Digest as _, Sha256};
use trailproof::report::escape_controls;
use trailproof::shard::{auto_shard, parse_shard, parse_window, plan as plan_merge, stitch_parts};
use trailproof::shard::{MergePlan, Part, PartHead, RunInfo, ShardError, PART_KIND, PART_VERSION};
use trailproof::{validate_windows, EntrySink, Error, ObjectStore, Options, Report, TextWriter};
use trailproof_aws::{AwsContext, S3Store};

use crate::config::{Format, MergeConfig, Selection, ShardConfig};
use crate::output::{
    discover_selected, finish_text, print_no_chains, verdict, write_json, EntryLines, Job, Range,
    ReportFile, SpoolSink, Spools, Writer,
};

/// The window a chain is cut into when --shard-window is not given.
const DEFAULT_WINDOW: &str = "30d";

/// A shard's place in its run, settled before anything else is read.
#[derive(Debug)]
pub struct Plan {
    shard: u32,
    count: u32,
    run_id: String,
    target: String,
}

/// Checks a shard's flags, finds its index and run id, and removes what an earlier run left at
/// its `--partial` target: done first, so that a shard that fails anywhere later leaves no
/// part behind (the merge then names a missing shard, never an earlier run's verdict).
pub fn prepare(args: &ShardConfig, sel: &Selection) -> Result<Plan, Error> {
    if sel.state.is_some() {
        return Err(Error::Usage(
            "--state cannot be used with --shard: an incremental run resumes each chain from its own head, which a shard of windows does not hold; run incremental checks without --shard".to_owned(),
        ));
    }
    if sel.end_time.is_none() {
        return Err(Error::Usage(
            "--end-time is required with --shard, so that every shard cuts the same range"
                .to_owned(),
        ));
    }
    let (shard, count) = match args.shard.as_str() {
        "auto" => auto_shard(&|name| std::env::var(name).ok(), args.shard_count)?,
        text => {
            let (m, n) = parse_shard(text)?;
            if let Some(c) = args.shard_count.filter(|c| *c != n) {
                return Err(Error::Usage(format!(
                    "--shard {text} and --shard-count {c} disagree on the number of shards"
                )));
            }
            (m, n)
        }
    };
    let Some(partial) = &args.partial else {
        return Err(Error::Usage(
            "--partial FILE is required with --shard".to_owned(),
        ));
    };
    let run_id = run_id(args.run_id.as_deref(), &|name| std::env::var(name).ok())?;
    let target = partial.replace("{index}", &shard.to_string());
    remove_part(&target, sel)?;
    Ok(Plan {
        shard,
        count,
        run_id,
        target,
    })
}

/// Does this shard's items and writes its partial report. Exit status 0 once the part is
/// written: the verdict is the merge's.
pub fn execute(
    range: &Range,
    sel: &Selection,
    job: Job<'_>,
    args: &ShardConfig,
    plan: Plan,
    mode: &str,
    valid_logs: bool,
) -> Result<u8, Error> {
    let Plan {
        shard,
        count,
        run_id,
        target,
    } = plan;
    let window = parse_window(args.shard_window.as_deref().unwrap_or(DEFAULT_WINDOW))?;
    let discover =
        sel.all_accounts || sel.all_regions || sel.accounts.is_some() || sel.regions.is_some();
    let (chains, warnings) = if discover {
        discover_selected(sel, &job)?
    } else {
        (vec![job.chain.clone()], Vec::new())
    };
    for w in &warnings {
        eprintln!("{}", escape_controls(w));
    }
    let settings = format!(
        "mode={mode};unreferenced={};max_digest_size={};max_digest_entries={}",
        job.check_unreferenced_logs, sel.max_digest_size, sel.max_digest_entries
    );
    let run = RunInfo::new(
        &range.arn.arn,
        range.start,
        range.end,
        window,
        count,
        discover,
        &chains,
        &job.keys.describe(),
        &settings,
        &run_id,
    );
    let mine = run.shard_items(shard)?;
    let items: Vec<_> = mine
        .iter()
        .map(|(item, window)| (chains[item.chain].clone(), *window))
        .collect();
    let mut mine_chains: Vec<(usize, trailproof::Chain)> = mine
        .iter()
        .map(|(item, _)| (item.chain, chains[item.chain].clone()))
        .collect();
    mine_chains.dedup_by_key(|(c, _)| *c);
    let options = Options::new(range.start, range.end)
        .trail_status(job.trail_status.clone())
        .parallelism(job.parallelism)
        .limits(sel.limits())
        .check_unreferenced_logs(job.check_unreferenced_logs)
        .keep_valid_logs(valid_logs);
    let results = validate_windows(job.store, job.keys, &items, &range.arn.arn, &options)?;
    let part = Part {
        kind: PART_KIND.to_owned(),
        version: PART_VERSION,
        run,
        shard,
        chains: mine_chains,
        valid_logs,
        items: mine.into_iter().map(|(i, _)| i).zip(results).collect(),
        discovery_warnings: warnings,
        // Printed by the merge, where the single run prints them.
        key_warnings: job.keys.warnings(),
    };
    write_part(&target, part.to_json(), sel)?;
    eprintln!(
        "trailproof: shard {shard}/{count} of run {}: {} items written to {target}",
        escape_controls(&run_id),
        part.items.len()
    );
    Ok(0)
}

/// The id of the execution a shard belongs to: `--run-id`, else the array job's own id (Slurm's
/// `SLURM_ARRAY_JOB_ID`; AWS Batch's array job id, `AWS_BATCH_JOB_ID` without its `:INDEX`),
/// else `TRAILPROOF_RUN_ID`. Without one, parts of two runs at one place could not be told apart.
pub fn run_id(given: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Error> {
    let found = given
        .map(str::to_owned)
        .or_else(|| env("SLURM_ARRAY_JOB_ID"))
        .or_else(|| {
            env("AWS_BATCH_JOB_ARRAY_INDEX")?;
            env("AWS_BATCH_JOB_ID").map(|id| id.split(':').next().unwrap_or_default().to_owned())
        })
        .or_else(|| env("TRAILPROOF_RUN_ID"))
        .filter(|id| !id.trim().is_empty());
    found.ok_or_else(|| {
        Error::Usage(
            "--run-id is required with --shard outside a Slurm or AWS Batch array job: give every shard and the merge the same id (a Kubernetes Job can pass its uid in TRAILPROOF_RUN_ID)".to_owned(),
        )
    })
}

/// Removes what an earlier run left at a shard's target, before the shard does anything else.
fn remove_part(target: &str, sel: &Selection) -> Result<(), Error> {
    if let Some((bucket, key)) = s3_location(target) {
        if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
            return Err(Error::Usage(format!(
                "--partial {target}: expected s3://BUCKET/KEY"
            )));
        }
        let (rt, ctx) = aws(sel.region.as_deref(), sel.profile.as_deref())?;
        return rt.block_on(trailproof_aws::delete_object(&ctx, bucket, key));
    }
    match std::fs::remove_file(target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            context: format!("cannot remove the earlier part {target}"),
            path: target.into(),
            source: e,
        }),
    }
}

/// `s3://bucket/key` split in two.
fn s3_location(text: &str) -> Option<(&str, &str)> {
    text.strip_prefix("s3://")?.split_once('/')
}

fn aws(
    region: Option<&str>,
    profile: Option<&str>,
) -> Result<(tokio::runtime::Runtime, AwsContext), Error> {
    let rt = trailproof_aws::runtime()?;
    let ctx = rt.block_on(AwsContext::load(profile, region))?;
    Ok((rt, ctx))
}

fn write_part(target: &str, bytes: Vec<u8>, sel: &Selection) -> Result<(), Error> {
    if let Some((bucket, key)) = s3_location(target) {
        if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
            return Err(Error::Usage(format!(
                "--partial {target}: expected s3://BUCKET/KEY"
            )));
        }
        let (rt, ctx) = aws(sel.region.as_deref(), sel.profile.as_deref())?;
        return rt.block_on(trailproof_aws::put_object(&ctx, bucket, key, bytes));
    }
    trailproof::store::replace_file(std::path::Path::new(target), &bytes).map_err(|e| {
        Error::Output {
            context: format!("cannot write {target}"),
            target: target.to_owned(),
            source: e,
        }
    })
}

/// A part that is larger than `--max-part-size`.
fn too_large(file: &str, limit: u64) -> Error {
    Error::Shard(ShardError::Malformed {
        file: file.to_owned(),
        reason: format!("larger than the limit of {limit} bytes (--max-part-size)"),
    })
}

/// Reads a part file, at most `limit` bytes of it (a pipe too, whose size is not known).
fn read_part_file(name: &str, limit: u64) -> Result<Vec<u8>, Error> {
    let unreadable = |e: io::Error| {
        Error::Shard(ShardError::Malformed {
            file: name.to_owned(),
            reason: e.to_string(),
        })
    };
    let file = std::fs::File::open(name).map_err(unreadable)?;
    if file.metadata().map_err(unreadable)?.len() > limit {
        return Err(too_large(name, limit));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(name, limit));
    }
    Ok(bytes)
}

/// Where a part was read from, and the SHA-256 of the bytes read there: the merge reads each
/// part twice (to check the run, then to stitch it), and the second reading must be the first.
struct Source {
    name: String,
    place: Place,
    sha256: Vec<u8>,
}

enum Place {
    File(String),
    S3 { bucket: String, key: String },
}

/// Reads parts from files and S3 (one client, made when first needed).
struct PartReader<'a> {
    args: &'a MergeConfig,
    s3: Option<(tokio::runtime::Runtime, S3Store)>,
}

impl PartReader<'_> {
    fn s3(&mut self) -> Result<&S3Store, Error> {
        if self.s3.is_none() {
            let (rt, ctx) = aws(self.args.region.as_deref(), self.args.profile.as_deref())?;
            let store = S3Store::new(&ctx, rt.handle().clone())?;
            self.s3 = Some((rt, store));
        }
        match &self.s3 {
            Some((_, store)) => Ok(store),
            None => Err(Error::Usage("no S3 client".to_owned())),
        }
    }

    fn bytes(&mut self, place: &Place, name: &str) -> Result<Vec<u8>, Error> {
        let limit = self.args.max_part_size;
        match place {
            Place::File(path) => read_part_file(path, limit),
            Place::S3 { bucket, key } => match self.s3()?.get(bucket, key, limit) {
                Err(trailproof::StoreError::TooLarge { .. }) => Err(too_large(name, limit)),
                other => Ok(other?.bytes),
            },
        }
    }

    /// Reads a part, and what is needed to read it again.
    fn first(&mut self, name: String, place: Place) -> Result<(Source, Part), Error> {
        let bytes = self.bytes(&place, &name)?;
        let part = Part::from_json(&bytes, &name)?;
        let sha256 = Sha256::digest(&bytes).to_vec();
        Ok((
            Source {
                name,
                place,
                sha256,
            },
            part,
        ))
    }

    /// Reads a part again: the same bytes, or an error.
    fn again(&mut self, source: &Source) -> Result<Part, Error> {
        let bytes = self.bytes(&source.place, &source.name)?;
        if Sha256::digest(&bytes).as_slice() != source.sha256 {
            return Err(Error::Shard(ShardError::Malformed {
                file: source.name.clone(),
                reason: "it changed while the parts were merged".to_owned(),
            }));
        }
        Ok(Part::from_json(&bytes, &source.name)?)
    }
}

/// Reads the parts named on the command line (files, or every object under an S3 prefix), one
/// at a time, keeping what the merge checks before it stitches.
fn read_heads(
    args: &MergeConfig,
    reader: &mut PartReader<'_>,
) -> Result<Vec<(Source, PartHead)>, Error> {
    let mut heads = Vec::new();
    for name in &args.parts {
        if let Some(rest) = name.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut keys = Vec::new();
            reader.s3()?.list(bucket, prefix, "", &mut |key| {
                keys.push(key.to_owned());
                ControlFlow::Continue(())
            })?;
            if keys.is_empty() {
                return Err(Error::Usage(format!("{name}: no partial reports found")));
            }
            for key in keys {
                let file = format!("s3://{bucket}/{key}");
                let place = Place::S3 {
                    bucket: bucket.to_owned(),
                    key,
                };
                let (source, part) = reader.first(file, place)?;
                heads.push((source, part.head()));
            }
        } else {
            let (source, part) = reader.first(name.clone(), Place::File(name.clone()))?;
            heads.push((source, part.head()));
        }
    }
    Ok(heads)
}

/// `trailproof merge`: prints what the single run prints, and exits as it would.
///
/// Memory is bounded by one part, not by all: the parts are read once to check that they are
/// one whole run (only their heads kept), then again one at a time, newest shard first, each
/// chain stitched as its windows come and its entries spooled to a temporary file, as the single
/// run spools them.
pub fn merge(args: MergeConfig) -> Result<u8, Error> {
    let expected = expected_run_id(&args)?;
    let mut reader = PartReader {
        args: &args,
        s3: None,
    };
    let read = read_heads(&args, &mut reader)?;
    check_heads(&args, &read, &expected)?;
    let run_at = chrono::Utc::now();
    // What the page names as the source: the parts merged (each names its own chains' bucket).
    let source = format!("merge of {}", args.parts.join(" "));
    let (sources, heads): (Vec<Source>, Vec<PartHead>) = read.into_iter().unzip();
    let named: Vec<(String, PartHead)> =
        sources.iter().map(|s| s.name.clone()).zip(heads).collect();
    let plan = plan_merge(&named)?;
    let by_shard: HashMap<u32, usize> = named
        .iter()
        .enumerate()
        .map(|(i, (_, h))| (h.shard, i))
        .collect();
    drop(named);
    let run = &plan.run;
    // A chain's standard walk and its backfill walk, each in its own spool.
    let spools = [
        Spools::new(plan.chains.len()),
        Spools::new(plan.chains.len()),
    ];
    let parts = Parts {
        sources: &sources,
        by_shard: &by_shard,
    };
    let reports = parts.stitch(&plan, &mut reader, &spools, &args)?;
    // Both come from the parts, which anyone who can write them may have edited.
    for w in &plan.discovery_warnings {
        eprintln!("{}", escape_controls(w));
    }
    let (mut out, report_file) = ReportFile::open(&args.output)?;
    if run.discover && reports.is_empty() {
        let code = print_no_chains(
            &run.trail_arn,
            run.start,
            run.end,
            args.format,
            &source,
            &mut out,
            &report_file,
        )?;
        report_file.commit()?;
        return Ok(code);
    }
    let mut w = TextWriter::new(out, io::stderr(), args.verbose);
    let report = MergedReport {
        plan: &plan,
        reports: &reports,
        spools: &spools,
    };
    report
        .write(&mut w, args.format, run_at, &source)
        .and_then(|()| w.out.flush())
        .map_err(|e| report_file.write_failed(e))?;
    report_file.commit()?;
    Ok(verdict(&reports, run.discover).exit_code() as u8)
}

fn expected_run_id(args: &MergeConfig) -> Result<String, Error> {
    args.run_id
        .clone()
        .or_else(|| std::env::var("TRAILPROOF_RUN_ID").ok())
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            Error::Usage(
                "--run-id is required: the id of the run whose parts to merge (each shard prints it), so that no part of an earlier run is merged".to_owned(),
            )
        })
}

/// Refuses a part of another run, and, with --verbose, a part that left out valid log files.
fn check_heads(
    args: &MergeConfig,
    read: &[(Source, PartHead)],
    expected: &str,
) -> Result<(), Error> {
    if let Some((source, part)) = read.iter().find(|(_, p)| p.run.run_id != expected) {
        return Err(Error::Usage(format!(
            "partial report {} belongs to run {}, not to run {}: a part of another run is never merged",
            escape_controls(&source.name),
            escape_controls(&part.run.run_id),
            escape_controls(expected)
        )));
    }
    if args.verbose {
        if let Some((source, _)) = read.iter().find(|(_, p)| !p.valid_logs) {
            return Err(Error::Usage(format!(
                "partial report {} holds no entries for valid log files, which --verbose prints: run the shards with --verbose",
                escape_controls(&source.name)
            )));
        }
    }
    Ok(())
}

/// The parts read once, found again by shard.
struct Parts<'a> {
    sources: &'a [Source],
    by_shard: &'a HashMap<u32, usize>,
}

impl Parts<'_> {
    /// Stitches the chains from the parts, read again, their entries spooled.
    fn stitch(
        &self,
        plan: &MergePlan,
        reader: &mut PartReader<'_>,
        spools: &[Spools; 2],
        args: &MergeConfig,
    ) -> Result<Vec<Report>, Error> {
        if plan.chains.is_empty() {
            return Ok(Vec::new());
        }
        let mut sinks: Option<(usize, [Option<SpoolSink>; 2])> = None;
        stitch_parts(
            plan,
            &mut |shard| match self.by_shard.get(&shard).and_then(|i| self.sources.get(*i)) {
                Some(source) => reader.again(source),
                None => Err(Error::Usage(format!("no part of shard {shard}"))),
            },
            &mut |chain, backfill, entry| {
                if sinks.as_ref().is_none_or(|(c, _)| *c != chain) {
                    // The chain before is complete: its spools are flushed as they close.
                    sinks = Some((chain, [None, None]));
                }
                let Some((_, kinds)) = sinks.as_mut() else {
                    return Ok(());
                };
                let kind = usize::from(backfill);
                kinds[kind]
                    .get_or_insert_with(|| spools[kind].sink(chain, args.format, args.verbose))
                    .entry(&entry)
            },
        )
    }
}

/// The stitched run, ready to be written in the format asked for.
struct MergedReport<'a> {
    plan: &'a MergePlan,
    reports: &'a [Report],
    spools: &'a [Spools; 2],
}

impl MergedReport<'_> {
    fn write(
        &self,
        w: &mut Writer,
        format: Format,
        run_at: chrono::DateTime<chrono::Utc>,
        source: &str,
    ) -> io::Result<()> {
        let (run, reports, spools) = (&self.plan.run, self.reports, self.spools);
        let lines = Merged(spools);
        let key_line = |w: &String| eprintln!("trailproof: warning: {}", escape_controls(w));
        let key_warnings = &self.plan.key_warnings;
        match format {
            Format::Text => {
                w.header(&run.trail_arn, run.start, run.end);
                // The single run writes the first chain as it walks it, then the key warnings,
                // then the other chains.
                let mut result = Ok(());
                for i in 0..reports.len() {
                    for kind in spools {
                        result = result.and_then(|()| kind.replay_one(i, w));
                    }
                    if i == 0 {
                        let _ = w.out.flush();
                        key_warnings.iter().for_each(key_line);
                    }
                }
                result.and_then(|()| finish_text(w, reports, run.discover))
            }
            Format::Json => {
                key_warnings.iter().for_each(key_line);
                write_json(&mut w.out, reports, run.discover, &lines)
            }
            Format::Html => {
                key_warnings.iter().for_each(key_line);
                let mut json = Vec::new();
                write_json(&mut json, reports, run.discover, &lines).and_then(|()| {
                    crate::html::write_page(
                        &mut w.out,
                        &json,
                        &crate::html::run_info(run_at, source),
                    )
                    .map_err(io::Error::other)
                })
            }
        }
    }
}

/// A merged chain's entries: its standard walk's spool, then its backfill walk's.
struct Merged<'a>(&'a [Spools; 2]);

impl EntryLines for Merged<'_> {
    fn json_lines(
        &self,
        index: usize,
        f: &mut dyn FnMut(&str) -> io::Result<()>,
    ) -> io::Result<()> {
        for kind in self.0 {
            kind.json_lines(index, f)?;
        }
        Ok(())
    }
}

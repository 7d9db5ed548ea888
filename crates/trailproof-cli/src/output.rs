//! Shared by every mode: the selection's times and options, and printing the report.

use std::io::{self, Write};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use trailproof::state::chain_id;
use trailproof::{
    discover_chains, time, validate_chains, Chain, Discovery, Error, Head, ObjectStore, Options,
    Parallelism, PublicKeySource, Report, State, TrailArn, Verdict,
};

use crate::cli::{Format, Selection};
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
                        Error::Config(
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
                return Err(Error::Config(
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
}

/// Runs a job as the flags ask (one chain or all found; incremental with --state), prints the
/// report and returns the exit status.
pub fn execute(
    range: &Range,
    sel: &Selection,
    job: Job<'_>,
    verbose: bool,
    format: Format,
) -> Result<u8, Error> {
    let discover =
        sel.all_accounts || sel.all_regions || sel.accounts.is_some() || sel.regions.is_some();
    let chains = if discover {
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
        .accounts(accounts)
        .regions(regions);
        // An organization named on the command line or found for the trail narrows the search.
        let found = discover_chains(job.store, &discovery)?;
        match &job.chain.organization_id {
            Some(org) => found
                .into_iter()
                .filter(|c| c.organization_id.as_deref() == Some(org.as_str()))
                .collect(),
            None => found,
        }
    } else {
        vec![job.chain.clone()]
    };
    let mut state = match &sel.state {
        Some(path) => Some(State::load(path, &range.arn.arn)?),
        None => None,
    };
    let runs: Vec<(Chain, Option<Head>)> = chains
        .into_iter()
        .map(|c| {
            let head = state
                .as_ref()
                .and_then(|s| s.heads.get(&chain_id(&c)).cloned());
            (c, head)
        })
        .collect();

    let bar = Bar::start(sel.no_progress, format);
    let mut options = Options::new(range.start, range.end)
        .parallelism(job.parallelism)
        .check_unreferenced_logs(job.check_unreferenced_logs)
        // The text report lists valid files only with --verbose; not keeping them otherwise
        // keeps memory flat however many log files the range holds.
        .keep_valid_logs(verbose || format == Format::Json);
    if let Some(bar) = &bar {
        options = options.progress(bar.clone() as Arc<dyn trailproof::Progress>);
    }
    let reports = validate_chains(job.store, job.keys, &runs, &range.arn.arn, &options);
    if let Some(bar) = &bar {
        bar.finish();
    }
    let reports = reports?;

    if let (Some(state), Some(path)) = (state.as_mut(), &sel.state) {
        for report in &reports {
            if report.verdict() == Verdict::Valid {
                if let Some(head) = &report.new_head {
                    state.heads.insert(chain_id(&report.chain), head.clone());
                }
            }
        }
        state.save(path)?;
    }
    if discover {
        print_chains(&reports, verbose, format)
    } else {
        match reports.first() {
            Some(report) => print(report, verbose, format),
            None => Err(Error::Config("no report".to_owned())),
        }
    }
}

/// `--s3-prefix` without its slashes (the AWS CLI would list nothing with them).
pub fn clean_prefix(prefix: Option<&str>) -> Option<String> {
    prefix
        .map(|p| p.trim_matches('/').to_owned())
        .filter(|p| !p.is_empty())
}

/// Prints the report and returns the exit status.
pub fn print(report: &Report, verbose: bool, format: Format) -> Result<u8, Error> {
    let write = || -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        match format {
            Format::Text => report.write_text(verbose, &mut out, &mut io::stderr().lock())?,
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, &report.to_json())?;
                writeln!(out)?;
            }
        }
        out.flush()
    };
    write().map_err(|e| Error::Config(format!("cannot write the report: {e}")))?;
    Ok(report.verdict().exit_code() as u8)
}

/// Prints several chains' reports (per-chain lines, then the totals).
pub fn print_chains(reports: &[Report], verbose: bool, format: Format) -> Result<u8, Error> {
    let write = || -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        match format {
            Format::Text => {
                Report::write_text_chains(reports, verbose, &mut out, &mut io::stderr().lock())?
            }
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, &Report::chains_to_json(reports))?;
                writeln!(out)?;
            }
        }
        out.flush()
    };
    write().map_err(|e| Error::Config(format!("cannot write the report: {e}")))?;
    Ok(Report::merged(reports).map_or(0, |r| r.verdict().exit_code()) as u8)
}

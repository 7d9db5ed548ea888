//! Shared by every mode: the selection's times and options, and printing the report.

use std::io::{self, Write};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use trailproof::{
    time, Chain, Error, ObjectStore, Options, Parallelism, PublicKeySource, Report, TrailArn,
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
        let arn = TrailArn::parse(&sel.trail_arn)?;
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

    /// Validates `chain` over the range, with a progress display when one can be seen.
    pub fn validate(
        &self,
        store: &dyn ObjectStore,
        keys: &dyn PublicKeySource,
        chain: &Chain,
        parallelism: Parallelism,
        check_unreferenced_logs: bool,
        display: (bool, Format),
    ) -> Result<Report, Error> {
        let (no_progress, format) = display;
        let bar = Bar::start(no_progress, format);
        let mut options = Options::new(self.start, self.end)
            .parallelism(parallelism)
            .check_unreferenced_logs(check_unreferenced_logs);
        if let Some(bar) = &bar {
            options = options.progress(bar.clone() as Arc<dyn trailproof::Progress>);
        }
        let report = trailproof::validate(store, keys, chain, &self.arn.arn, &options);
        if let Some(bar) = &bar {
            bar.finish();
        }
        report
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

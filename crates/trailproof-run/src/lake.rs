//! `verify-query-results`: CloudTrail Lake query results, from a local folder or from S3, with
//! keys from ListPublicKeys or a `list-public-keys` file.

use std::io::{self, Write};

use trailproof::lake::{folder_prefix, verify_folder, LakeOptions, LakeReport};
use trailproof::{Error, KeySet, LocalFolder, Parallelism, PublicKeySource, StoreFolder};
use trailproof_aws::{AwsContext, CloudTrailKeys, S3Store};

use crate::config::{Format, Output, QueryResultsConfig};
use crate::output::ReportFile;

/// Where the results are, as the flags say (checked like the AWS CLI checks them).
enum Source<'a> {
    Local(&'a std::path::Path),
    S3 { bucket: &'a str, prefix: String },
}

fn source(args: &QueryResultsConfig) -> Result<Source<'_>, Error> {
    match (&args.local_export_path, &args.s3_bucket) {
        (Some(_), _) if args.s3_bucket.is_some() || args.s3_prefix.is_some() => {
            Err(Error::Usage(
                "Parameter --local-export-path can not be specified with parameter --s3-bucket nor --s3-prefix."
                    .to_owned(),
            ))
        }
        (Some(dir), _) => Ok(Source::Local(dir)),
        (None, Some(bucket)) => Ok(Source::S3 {
            bucket,
            prefix: folder_prefix(args.s3_prefix.as_deref()),
        }),
        (None, None) => Err(Error::Usage(
            "Require parameter --s3-bucket or --local-export-path.".to_owned(),
        )),
    }
}

pub fn verify(args: QueryResultsConfig) -> Result<u8, Error> {
    let source = source(&args)?;
    let parallelism = match args.threads {
        1 => Parallelism::Serial,
        0 => Parallelism::Auto,
        n => Parallelism::Threads(n),
    };
    let file_keys = match &args.public_keys {
        Some(path) => {
            let name = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|e| Error::PublicKeys {
                source_name: name.clone(),
                reason: e.to_string(),
            })?;
            Some((KeySet::from_list_public_keys_json(&bytes, &name)?, name))
        }
        None => None,
    };
    // AWS is needed for S3 reads and for ListPublicKeys; a local folder checked against a key
    // file needs nothing from it.
    let needs_aws = matches!(source, Source::S3 { .. }) || file_keys.is_none();
    let aws = if needs_aws {
        let rt = trailproof_aws::runtime()?;
        let ctx = rt.block_on(AwsContext::load(
            args.profile.as_deref(),
            args.region.as_deref(),
        ))?;
        Some((rt, ctx))
    } else {
        None
    };
    let live_keys = match (&file_keys, &aws) {
        (None, Some((rt, ctx))) => Some(CloudTrailKeys::new(ctx, rt.handle().clone())?),
        _ => None,
    };
    let (keys, key_source): (&dyn PublicKeySource, String) = match (&file_keys, &live_keys) {
        (Some((set, name)), _) => (set, name.clone()),
        (None, Some(live)) => (live, "ListPublicKeys".to_owned()),
        (None, None) => {
            return Err(Error::Usage(
                "no public key source (give --public-keys FILE)".to_owned(),
            ))
        }
    };
    let mut options = LakeOptions::new()
        .region(args.region.as_deref())
        .parallelism(parallelism)
        .key_source(&key_source);
    if let Some(flag) = &args.hooks.cancel {
        options = options.cancel(flag.clone());
    }
    if let Some(progress) = &args.hooks.progress {
        options = options.progress(progress.clone());
    }
    let report = match &source {
        Source::Local(dir) => verify_folder(&LocalFolder::new(dir), keys, &options)?,
        Source::S3 { bucket, prefix } => {
            let Some((rt, ctx)) = &aws else {
                return Err(Error::Usage("S3 needs the AWS configuration".to_owned()));
            };
            let store = S3Store::new(ctx, rt.handle().clone())?;
            verify_folder(&StoreFolder::new(&store, bucket, prefix), keys, &options)?
        }
    };
    let source = match &source {
        Source::Local(dir) => dir.display().to_string(),
        Source::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
    };
    print(&report, args.format, &source, &args.output)
}

/// Prints the report and returns the exit status.
fn print(report: &LakeReport, format: Format, source: &str, output: &Output) -> Result<u8, Error> {
    let run_at = chrono::Utc::now();
    let (mut out, report_file) = ReportFile::open(output)?;
    if format == Format::Html {
        let mut json = serde_json::to_vec_pretty(&report.to_json())
            .map_err(|e| report_file.write_failed(e.into()))?;
        json.push(b'\n');
        crate::html::write_page(&mut out, &json, &crate::html::run_info(run_at, source))?;
        out.flush().map_err(|e| report_file.write_failed(e))?;
        report_file.commit()?;
        return Ok(report.verdict().exit_code() as u8);
    }
    let mut write = || -> io::Result<()> {
        match format {
            Format::Text => report.write_text(&mut out, &mut io::stderr().lock())?,
            Format::Json | Format::Html => {
                serde_json::to_writer_pretty(&mut out, &report.to_json())?;
                writeln!(out)?;
            }
        }
        out.flush()
    };
    write().map_err(|e| report_file.write_failed(e))?;
    report_file.commit()?;
    Ok(report.verdict().exit_code() as u8)
}

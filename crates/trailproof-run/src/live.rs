//! Live mode: straight from S3 and CloudTrail, and `mirror`, which keeps a copy of what it read.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use trailproof::{Chain, Error, KeySet, MirrorStore, PublicKeySource};
use trailproof_aws::{
    describe_trail, organization_id, trail_status, AwsContext, CloudTrailKeys, S3Store,
};

use crate::config::{MirrorConfig, Output, Selection, ValidateConfig};
use crate::output::{clean_prefix, execute, Job, Range};

pub(crate) struct Live {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) ctx: AwsContext,
    pub(crate) chain: Chain,
}

/// Loads AWS configuration and finds where the trail delivers, as the AWS CLI does: from
/// DescribeTrails unless `--s3-bucket` is given.
pub(crate) fn connect(sel: &Selection, range: &Range) -> Result<Live, Error> {
    let rt = trailproof_aws::runtime()?;
    let region = sel
        .region
        .clone()
        .unwrap_or_else(|| range.arn.region.clone());
    let ctx = rt.block_on(AwsContext::load(sel.profile.as_deref(), Some(&region)))?;
    let account_id = sel
        .account_id
        .clone()
        .unwrap_or_else(|| range.arn.account_id.clone());
    let (bucket, prefix, organization) = match &sel.s3_bucket {
        Some(bucket) => (
            bucket.clone(),
            clean_prefix(sel.s3_prefix.as_deref()),
            sel.organization_id.clone(),
        ),
        None => {
            let trail = rt.block_on(describe_trail(&ctx, &range.arn.arn))?;
            let prefix = match &sel.s3_prefix {
                Some(p) => clean_prefix(Some(p)),
                None => clean_prefix(trail.prefix.as_deref()),
            };
            let organization = if trail.is_organization_trail {
                let discover_accounts = sel.all_accounts || sel.accounts.is_some();
                if sel.account_id.is_none() && !discover_accounts {
                    return Err(Error::Usage(
                        "Missing required parameter for organization trail: '--account-id'"
                            .to_owned(),
                    ));
                }
                match &sel.organization_id {
                    Some(o) => Some(o.clone()),
                    None => Some(rt.block_on(organization_id(&ctx))?),
                }
            } else {
                sel.organization_id.clone()
            };
            (trail.bucket, prefix, organization)
        }
    };
    let chain = Chain {
        bucket,
        prefix,
        organization_id: organization,
        account_id,
        source_region: region,
        home_region: range.arn.region.clone(),
        trail_name: range.arn.name.clone(),
    };
    Ok(Live { rt, ctx, chain })
}

/// `GetTrailStatus` of the trail, for the tail check. A failure (no permission, a trail named
/// without its ARN's account) is a warning: the tail is then judged from signed data alone.
pub(crate) fn status_of(live: &Live, range: &Range) -> Option<trailproof::TrailStatus> {
    status_for(&live.rt, &live.ctx, &range.arn.arn)
}

/// [`status_of`] with its parts: a watch asks again before each sweep.
pub(crate) fn status_for(
    rt: &tokio::runtime::Runtime,
    ctx: &AwsContext,
    trail_arn: &str,
) -> Option<trailproof::TrailStatus> {
    match rt.block_on(trail_status(ctx, trail_arn)) {
        Ok(status) => Some(status),
        Err(e) => {
            eprintln!(
                "trailproof: warning: {}; the newest edge of each chain is judged from signed data alone",
                trailproof::report::escape_controls(&e.to_string())
            );
            None
        }
    }
}

/// CloudTrail's keys for archive mode (`--fetch-public-keys`), with the runtime they need.
pub struct FetchedKeys {
    _rt: tokio::runtime::Runtime,
    pub keys: CloudTrailKeys,
}

pub fn fetch_keys(sel: &Selection, range: &Range) -> Result<FetchedKeys, Error> {
    let rt = trailproof_aws::runtime()?;
    let region = sel
        .region
        .clone()
        .unwrap_or_else(|| range.arn.region.clone());
    let ctx = rt.block_on(AwsContext::load(sel.profile.as_deref(), Some(&region)))?;
    let keys = CloudTrailKeys::new(&ctx, rt.handle().clone())?;
    Ok(FetchedKeys { _rt: rt, keys })
}

pub fn validate(args: ValidateConfig, plan: Option<crate::shard::Plan>) -> Result<u8, Error> {
    let range = Range::parse(&args.selection)?;
    let live = connect(&args.selection, &range)?;
    let store = S3Store::new(&live.ctx, live.rt.handle().clone())?
        .concurrency(usize::from(args.selection.concurrency));
    let keys = CloudTrailKeys::new(&live.ctx, live.rt.handle().clone())?;
    let job = Job {
        store: &store,
        keys: &keys,
        chain: live.chain.clone(),
        // Requests are kept in flight by the store; threads only hash what arrives.
        parallelism: args.selection.parallelism(),
        // Log files added to the bucket are found as in archive mode: one LIST request per
        // thousand keys of the covered hours.
        check_unreferenced_logs: true,
        source: s3_source(&live.chain),
        trail_status: status_of(&live, &range),
    };
    if let (Some(plan), Some(shard)) = (plan, &args.shard) {
        return crate::shard::execute(
            &range,
            &args.selection,
            job,
            shard,
            plan,
            "live",
            args.verbose,
        );
    }
    execute(
        &range,
        &args.selection,
        job,
        args.verbose,
        args.format,
        &args.output,
    )
}

/// `s3://bucket/prefix/`: where a live run reads, as the HTML report names it.
pub(crate) fn s3_source(chain: &Chain) -> String {
    match &chain.prefix {
        Some(p) => format!("s3://{}/{p}/", chain.bucket),
        None => format!("s3://{}/", chain.bucket),
    }
}

/// Remembers every key handed out, to write them beside the mirrored archive.
struct RecordingKeys<K> {
    inner: K,
    seen: Mutex<KeySet>,
}

impl<K: PublicKeySource> PublicKeySource for RecordingKeys<K> {
    fn public_keys(
        &self,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<KeySet, Error> {
        let keys = self.inner.public_keys(region, start, end)?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.extend(keys.clone());
        }
        Ok(keys)
    }
}

pub fn mirror(args: MirrorConfig) -> Result<u8, Error> {
    let range = Range::parse(&args.selection)?;
    let out = &args.dir;
    // The output folder itself may be a link to a folder (the user chose it); below it the
    // mirror follows none. A file, or a link to nothing, is named rather than left to
    // create_dir_all's "File exists".
    if out.symlink_metadata().is_ok() && !out.is_dir() {
        return Err(Error::Usage(format!(
            "--output {}: exists and is not a directory",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::Output {
        context: format!("--output {}", out.display()),
        target: out.display().to_string(),
        source: e,
    })?;
    let keys_path = out.join("public-keys.json");
    // Refused now rather than after the whole download.
    refuse_link(&keys_path)?;
    let live = connect(&args.selection, &range)?;
    let store = MirrorStore::new(
        S3Store::new(&live.ctx, live.rt.handle().clone())?
            .concurrency(usize::from(args.selection.concurrency)),
        &live.chain.bucket,
        out,
    );
    let mut known = KeySet::new();
    if let Ok(bytes) = std::fs::read(&keys_path) {
        known = KeySet::from_list_public_keys_json(&bytes, &keys_path.display().to_string())?;
    }
    let keys = RecordingKeys {
        inner: CloudTrailKeys::new(&live.ctx, live.rt.handle().clone())?,
        seen: Mutex::new(known),
    };
    let job = Job {
        store: &store,
        keys: &keys,
        chain: live.chain.clone(),
        // Requests are kept in flight by the store; threads only hash what arrives.
        parallelism: args.selection.parallelism(),
        check_unreferenced_logs: true,
        source: s3_source(&live.chain),
        trail_status: status_of(&live, &range),
    };
    let code = execute(
        &range,
        &args.selection,
        job,
        args.verbose,
        args.format,
        &Output::Stdout,
    )?;
    let seen = keys.seen.into_inner().unwrap_or_default();
    write_keys(&keys_path, &seen)?;
    Ok(code)
}

/// A symbolic link where the mirror writes a file of its own is an error: the file would be
/// written elsewhere, wherever the link points.
fn refuse_link(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::Output {
            context: format!("cannot write {}", path.display()),
            target: path.display().to_string(),
            source: std::io::Error::other("it is a symbolic link"),
        }),
        _ => Ok(()),
    }
}

/// Writes the mirror's `public-keys.json`: a new file under a random name (created
/// exclusively), synced, renamed into place.
fn write_keys(path: &Path, keys: &KeySet) -> Result<(), Error> {
    refuse_link(path)?;
    trailproof::store::replace_file(path, keys.to_list_public_keys_json().as_bytes()).map_err(|e| {
        Error::Output {
            context: format!("cannot write {}", path.display()),
            target: path.display().to_string(),
            source: e,
        }
    })
}

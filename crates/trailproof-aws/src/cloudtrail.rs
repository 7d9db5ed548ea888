//! CloudTrail public keys (`ListPublicKeys`), trail lookup (`DescribeTrails`) and the
//! organization id (`DescribeOrganization`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use aws_sdk_cloudtrail::primitives::DateTime as SmithyTime;
use chrono::{DateTime, Utc};
use tokio::runtime::Handle;
use trailproof::keys::fingerprint;
use trailproof::{Error, KeySet, PublicKey, PublicKeySource, TrailArn, TrailStatus};

use crate::context::{check_handle, inside_runtime, AwsContext};
use crate::errors::describe;

/// Most `ListPublicKeys` pages read for one range (keys rotate about monthly: a handful per year).
const MAX_KEY_PAGES: usize = 1000;

/// Key sets already fetched, by (region, start, end), and the warnings of those let go.
#[derive(Default)]
struct KeyCache {
    sets: HashMap<(String, DateTime<Utc>, DateTime<Utc>), KeySet>,
    dropped_warnings: Vec<String>,
}

/// Ranges kept in the cache. `watch` asks for a new range with every digest (from the chain's
/// head to the digest), never the same one twice: an unbounded cache grew by a key set per
/// digest for as long as the watch ran (`benches/watch.sh`, RSS).
const CACHED_RANGES: usize = 64;

/// CloudTrail's public keys, fetched with `ListPublicKeys` (every page) in the region asked for,
/// and cached per (region, start, end) (the last 64 ranges).
///
/// [`PublicKeySource::public_keys`] blocks the calling thread on the runtime given to
/// [`CloudTrailKeys::new`]; call it from ordinary threads, never from that runtime's tasks.
pub struct CloudTrailKeys {
    ctx: AwsContext,
    handle: Handle,
    cache: Mutex<KeyCache>,
}

impl fmt::Debug for CloudTrailKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudTrailKeys")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl CloudTrailKeys {
    /// Keys through `ctx`, requests run on `handle` (a multi-thread runtime).
    pub fn new(ctx: &AwsContext, handle: Handle) -> Result<CloudTrailKeys, Error> {
        check_handle(&handle)?;
        Ok(CloudTrailKeys {
            ctx: ctx.clone(),
            handle,
            cache: Mutex::new(KeyCache::default()),
        })
    }
}

impl PublicKeySource for CloudTrailKeys {
    fn public_keys(
        &self,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<KeySet, Error> {
        let cache_key = (region.to_owned(), start, end);
        if let Some(keys) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sets
            .get(&cache_key)
        {
            return Ok(keys.clone());
        }
        if inside_runtime() {
            return Err(Error::Usage(
                "CloudTrailKeys was called from inside its async runtime (call it from ordinary threads)".to_owned(),
            ));
        }
        let keys = self
            .handle
            .block_on(list_public_keys(&self.ctx, region, start, end))?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.sets.len() >= CACHED_RANGES {
            // Their warnings are still owed to the report.
            let dropped: Vec<String> = cache
                .sets
                .drain()
                .flat_map(|(_, set)| set.warnings().to_vec())
                .collect();
            cache.dropped_warnings.extend(dropped);
            cache.dropped_warnings.sort();
            cache.dropped_warnings.dedup();
        }
        cache.sets.insert(cache_key, keys.clone());
        Ok(keys)
    }

    fn describe(&self) -> String {
        "CloudTrail ListPublicKeys".to_owned()
    }

    fn warnings(&self) -> Vec<String> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<String> = cache
            .sets
            .values()
            .flat_map(|k| k.warnings().iter().cloned())
            .chain(cache.dropped_warnings.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

fn to_smithy(t: DateTime<Utc>) -> SmithyTime {
    SmithyTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

fn to_chrono(t: &SmithyTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// `ListPublicKeys` in `region` for `[start, end]`, every page. Each key's `Value` (DER, PKCS#1
/// or SubjectPublicKeyInfo) must parse and its `Fingerprint` must be the MD5 of those bytes.
pub async fn list_public_keys(
    ctx: &AwsContext,
    region: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<KeySet, Error> {
    let fail = |reason: String| Error::PublicKeys {
        source_name: format!("ListPublicKeys in {region}"),
        reason,
    };
    let client = ctx.cloudtrail_client(region);
    let mut set = KeySet::new().with_source(format!("CloudTrail ListPublicKeys in {region}"));
    let mut token: Option<String> = None;
    let mut index = 0usize;
    for _ in 0..MAX_KEY_PAGES {
        let page = client
            .list_public_keys()
            .start_time(to_smithy(start))
            .end_time(to_smithy(end))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| fail(describe(&e)))?;
        for entry in page.public_key_list() {
            let i = index;
            index += 1;
            // A key that cannot be used is left out with a warning: only the digests naming
            // it are affected ("public key not found").
            let mut left_out = |reason: String| {
                set.push_warning(format!(
                    "public keys ListPublicKeys in {region}: PublicKeyList[{i}] left out: {reason}"
                ))
            };
            let Some(der) = entry.value() else {
                left_out("no Value".to_owned());
                continue;
            };
            let mut key = match PublicKey::from_der(der.as_ref()) {
                Ok(key) => key,
                Err(e) => {
                    left_out(e.to_string());
                    continue;
                }
            };
            let computed = fingerprint(der.as_ref());
            match entry.fingerprint() {
                Some(given) if given.eq_ignore_ascii_case(&computed) => {}
                Some(given) => {
                    left_out(format!(
                        "Fingerprint {given} does not match its key (MD5 {computed})"
                    ));
                    continue;
                }
                None => {
                    left_out("no Fingerprint".to_owned());
                    continue;
                }
            }
            key.validity_start = entry.validity_start_time().and_then(to_chrono);
            key.validity_end = entry.validity_end_time().and_then(to_chrono);
            set.insert(key);
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => {
                if token.as_deref() == Some(next) {
                    return Err(fail("the same NextToken was returned twice".to_owned()));
                }
                token = Some(next.to_owned());
            }
            _ => return Ok(set),
        }
    }
    Err(fail(format!("more than {MAX_KEY_PAGES} pages")))
}

/// Where a trail delivers, from `DescribeTrails`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailInfo {
    /// `S3BucketName`: the bucket holding logs and digests.
    pub bucket: String,
    /// `S3KeyPrefix` as configured (`None` when unset or empty).
    pub prefix: Option<String>,
    /// True for an organization trail (keys under `AWSLogs/<o-id>/<account>/`).
    pub is_organization_trail: bool,
    /// `HomeRegion` (the ARN's region when not returned).
    pub home_region: String,
}

/// Looks a trail up with `DescribeTrails` in its home region (the ARN's region), as
/// `aws cloudtrail validate-logs` does.
pub async fn describe_trail(ctx: &AwsContext, trail_arn: &str) -> Result<TrailInfo, Error> {
    let arn = TrailArn::parse(trail_arn)?;
    let fail = |reason: String| {
        Error::Aws(format!(
            "DescribeTrails {trail_arn} in {}: {reason}",
            arn.region
        ))
    };
    let out = ctx
        .cloudtrail_client(&arn.region)
        .describe_trails()
        .trail_name_list(trail_arn)
        .send()
        .await
        .map_err(|e| fail(describe(&e)))?;
    let trails = out.trail_list();
    let trail = trails
        .iter()
        .find(|t| t.trail_arn() == Some(trail_arn))
        .or_else(|| trails.first())
        .ok_or_else(|| fail("no such trail".to_owned()))?;
    let bucket = trail
        .s3_bucket_name()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| fail("the trail has no S3BucketName".to_owned()))?;
    Ok(TrailInfo {
        bucket: bucket.to_owned(),
        prefix: trail
            .s3_key_prefix()
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        is_organization_trail: trail.is_organization_trail().unwrap_or(false),
        home_region: trail
            .home_region()
            .filter(|r| !r.is_empty())
            .unwrap_or(&arn.region)
            .to_owned(),
    })
}

/// What `GetTrailStatus` says of the trail, asked in its home region (the ARN's region): when
/// CloudTrail last delivered a digest, and whether (and when) logging stopped. It comes from
/// CloudTrail, not from the bucket: a digest delivered after the newest one in the bucket proves
/// a deletion, and a stop explains a chain's end.
pub async fn trail_status(ctx: &AwsContext, trail_arn: &str) -> Result<TrailStatus, Error> {
    let arn = TrailArn::parse(trail_arn)?;
    let out = ctx
        .cloudtrail_client(&arn.region)
        .get_trail_status()
        .name(trail_arn)
        .send()
        .await
        .map_err(|e| {
            Error::Aws(format!(
                "GetTrailStatus {trail_arn} in {}: {}",
                arn.region,
                describe(&e)
            ))
        })?;
    Ok(TrailStatus::new(
        out.is_logging(),
        out.latest_digest_delivery_time().and_then(to_chrono),
        out.latest_digest_delivery_error()
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
        out.start_logging_time().and_then(to_chrono),
        out.stop_logging_time().and_then(to_chrono),
    ))
}

/// The caller's organization id (`o-…`) from Organizations `DescribeOrganization`: the folder
/// under `AWSLogs/` where an organization trail delivers.
pub async fn organization_id(ctx: &AwsContext) -> Result<String, Error> {
    let out = ctx
        .organizations_client()
        .describe_organization()
        .send()
        .await
        .map_err(|e| Error::Aws(format!("DescribeOrganization: {}", describe(&e))))?;
    out.organization()
        .and_then(|o| o.id())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Aws("DescribeOrganization: no organization id in the answer".to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_conversions_round_trip() {
        let t = DateTime::from_timestamp(1_453_076_702, 500_000_000).unwrap_or_default();
        assert_eq!(to_chrono(&to_smithy(t)), Some(t));
    }
}

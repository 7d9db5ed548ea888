//! Chain heads in an S3 object, shared by workers on any number of machines: S3's conditional
//! writes (`If-None-Match: *` to create, `If-Match: ETAG` to replace) make each write a
//! compare-and-swap on the version read.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use tokio::runtime::Handle;
use trailproof::headstore::{check_forward, merge_forward};
use trailproof::{Error, Head, HeadStore, HeadStoreError, Snapshot, State, Version, WriteOutcome};

use crate::context::{check_handle, AwsContext};
use crate::errors::{code, describe, status};

/// The heads of one trail in `s3://bucket/key`, in the `--state` file's format.
///
/// The [`HeadStore`] methods block the calling thread on the runtime (ordinary threads only,
/// as [`S3Store`](crate::S3Store)); async code calls [`S3HeadStore::read_async`],
/// [`S3HeadStore::write_async`] and [`S3HeadStore::advance`].
#[derive(Clone, Debug)]
pub struct S3HeadStore {
    client: aws_sdk_s3::Client,
    handle: Handle,
    bucket: String,
    key: String,
    trail_arn: String,
}

/// S3's answers to a conditional write that lost a race: `412 PreconditionFailed` (the ETag
/// changed, or the object appeared), `409 ConditionalRequestConflict` (a concurrent write to the
/// same key was in progress).
fn lost_race(code: Option<&str>, status: Option<u16>) -> bool {
    matches!(
        code,
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    ) || matches!(status, Some(412 | 409))
}

impl S3HeadStore {
    /// The heads of `trail_arn` in `s3://bucket/key`, read and written in the context's region
    /// (`us-east-1` when none is configured); `handle` must be a multi-thread runtime's.
    pub fn new(
        ctx: &AwsContext,
        handle: Handle,
        bucket: &str,
        key: &str,
        trail_arn: &str,
    ) -> Result<Self, Error> {
        check_handle(&handle)?;
        Ok(S3HeadStore {
            client: ctx.s3_client(ctx.s3_bootstrap_region()),
            handle,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            trail_arn: trail_arn.to_owned(),
        })
    }

    /// Reads and writes in `region` instead (the bucket's own).
    pub fn in_region(mut self, ctx: &AwsContext, region: &str) -> Self {
        self.client = ctx.s3_client(region);
        self
    }

    fn unavailable(&self, cause: impl Into<String>) -> HeadStoreError {
        HeadStoreError::Unavailable {
            store: self.name(),
            cause: cause.into(),
        }
    }

    /// [`HeadStore::read`], from async code.
    pub async fn read_async(&self) -> Result<Snapshot, HeadStoreError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) if code(&e) == Some("NoSuchKey") || status(&e) == Some(404) => {
                return Ok(Snapshot {
                    state: State::new(&self.trail_arn),
                    version: None,
                })
            }
            Err(e) => return Err(self.unavailable(describe(&e))),
        };
        let etag = out
            .e_tag()
            .map(str::to_owned)
            .ok_or_else(|| self.unavailable("GetObject answered without an ETag"))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.unavailable(crate::errors::chain(&e)))?
            .into_bytes();
        let state = State::from_json(&bytes, &self.name(), &self.trail_arn)
            .map_err(HeadStoreError::State)?;
        Ok(Snapshot {
            state,
            version: Some(Version::new(etag)),
        })
    }

    /// [`HeadStore::write`], from async code.
    pub async fn write_async(
        &self,
        read: &Snapshot,
        new: &State,
    ) -> Result<WriteOutcome, HeadStoreError> {
        check_forward(&self.name(), &read.state, new)?;
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(new.to_json()));
        let put = match &read.version {
            None => put.if_none_match("*"),
            Some(etag) => put.if_match(etag.as_str()),
        };
        match put.send().await {
            Ok(out) => out
                .e_tag()
                .map(|etag| WriteOutcome::Written(Version::new(etag)))
                .ok_or_else(|| self.unavailable("written, but PutObject answered without an ETag")),
            Err(e) if lost_race(code(&e), status(&e)) => Ok(WriteOutcome::Conflict),
            Err(e) => Err(self.unavailable(describe(&e))),
        }
    }

    /// [`trailproof::headstore::advance`] from async code: moves each of `heads` forward,
    /// reading again after each lost race, at most `max_attempts` times; the chains whose head
    /// this call moved.
    pub async fn advance(
        &self,
        heads: &BTreeMap<String, Head>,
        max_attempts: u32,
    ) -> Result<Vec<String>, HeadStoreError> {
        for _ in 0..max_attempts.max(1) {
            let read = self.read_async().await?;
            let (merged, moved) = merge_forward(&read.state, heads);
            if moved.is_empty() {
                return Ok(moved);
            }
            match self.write_async(&read, &merged).await? {
                WriteOutcome::Written(_) => return Ok(moved),
                WriteOutcome::Conflict => {}
            }
        }
        Err(HeadStoreError::Contended {
            store: self.name(),
            attempts: max_attempts.max(1),
        })
    }

    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, HeadStoreError>>,
    ) -> Result<T, HeadStoreError> {
        // Inside a runtime (a task, or a `block_on`), blocking would panic or stall it.
        if Handle::try_current().is_ok() {
            return Err(self.unavailable(
                "called from async code: use the _async methods there (blocking would stall the runtime)",
            ));
        }
        self.handle.block_on(f)
    }
}

impl HeadStore for S3HeadStore {
    fn name(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn read(&self) -> Result<Snapshot, HeadStoreError> {
        self.block_on(self.read_async())
    }

    fn write(&self, read: &Snapshot, new: &State) -> Result<WriteOutcome, HeadStoreError> {
        self.block_on(self.write_async(read, new))
    }
}

//! [`ObjectStore`] over Amazon S3 (or an S3-compatible endpoint).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, OnceCell, OwnedSemaphorePermit, Semaphore};
use trailproof::store::{Intent, ObjectReader, Prefetch};
use trailproof::{Error, Metadata, Object, ObjectStore, StoreError};

use crate::context::{check_handle, inside_runtime, AwsContext};
use crate::errors::{chain, code, describe, status};
use crate::lean::{GetError, Got, LeanGet};

/// Reads CloudTrail objects from S3.
///
/// The methods are synchronous (the core's [`ObjectStore`] trait): each blocks the calling thread
/// on the Tokio runtime given to [`S3Store::new`] while the request runs. Call them from ordinary
/// threads (the validation's worker pool), never from inside that runtime's tasks.
///
/// Buckets are looked up in their own region (`GetBucketLocation`, cached), and requests are
/// retried as the [`AwsContext`] configures. Objects announced with [`ObjectStore::prefetch`]
/// are requested ahead, [`S3Store::concurrency`] at a time, as tasks on the runtime. Bodies up
/// to 128 KiB are read whole with their request; larger log files are streamed, never held whole.
pub struct S3Store {
    fetcher: Fetcher,
    handle: Handle,
    page_size: Option<i32>,
    /// Requests announced by `prefetch` in flight or read but not yet consumed.
    permits: Arc<Semaphore>,
    /// Announced objects: where their answer will arrive.
    pending: Pending,
}

/// Announced objects (bucket, key): where their answer will arrive.
type Pending = Arc<Mutex<HashMap<(String, String), oneshot::Receiver<Ready>>>>;

/// What requests need, cheap to clone into a task.
#[derive(Clone)]
struct Fetcher {
    ctx: AwsContext,
    regions: Arc<Mutex<HashMap<String, Arc<OnceCell<String>>>>>,
    /// `GetObject` without the SDK's per-operation machinery (see `lean`), when it applies.
    lean: Option<Arc<LeanGet>>,
}

/// Requests in flight for `prefetch` by default.
const DEFAULT_CONCURRENCY: usize = 256;

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("ctx", &self.fetcher.ctx)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// A store using `ctx`'s credentials and settings, running requests on `handle`, which must
    /// belong to a multi-thread runtime (see [`runtime`](crate::runtime)).
    pub fn new(ctx: &AwsContext, handle: Handle) -> Result<S3Store, Error> {
        check_handle(&handle)?;
        Ok(S3Store {
            fetcher: Fetcher {
                ctx: ctx.clone(),
                regions: Arc::default(),
                lean: LeanGet::new(ctx).map(Arc::new),
            },
            handle,
            page_size: None,
            permits: Arc::new(Semaphore::new(DEFAULT_CONCURRENCY)),
            pending: Arc::default(),
        })
    }

    /// Requests kept in flight for objects announced with [`ObjectStore::prefetch`] (256 by
    /// default). An object read ahead holds its place until it is consumed, so this also bounds
    /// what waits in memory.
    pub fn concurrency(mut self, requests: usize) -> Self {
        self.permits = Arc::new(Semaphore::new(requests.clamp(1, Semaphore::MAX_PERMITS)));
        self
    }

    /// Keys per `ListObjectsV2` page (1..=1000; S3's default is 1000).
    pub fn page_size(mut self, keys: i32) -> Self {
        self.page_size = Some(keys.clamp(1, 1000));
        self
    }

    /// Declares `bucket`'s region, skipping its discovery.
    pub fn bucket_region(self, bucket: &str, region: &str) -> Self {
        self.fetcher
            .regions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                bucket.to_owned(),
                Arc::new(OnceCell::new_with(Some(region.to_owned()))),
            );
        self
    }

    /// Runs `fut` to completion on the runtime, from the calling (non-runtime) thread.
    fn block_on<T>(
        &self,
        bucket: &str,
        key: &str,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if inside_runtime() {
            return Err(StoreError::unreadable(
                bucket,
                key,
                "S3Store was called from inside its async runtime (call it from ordinary threads)",
            ));
        }
        self.handle.block_on(fut)
    }
}

impl Fetcher {
    /// How long a body may go without data before it counts as cut (the lean path's bodies;
    /// the SDK's own have its stalled-stream protection).
    fn stall(&self) -> Option<Duration> {
        self.lean.as_ref().map(|l| l.stall_timeout)
    }

    /// The region of `bucket`: `GetBucketLocation` (an empty constraint is `us-east-1`, `EU` is
    /// `eu-west-1`), else the `x-amz-bucket-region` header of `HeadBucket`, else the context's
    /// region. Cached once found.
    async fn region_of(&self, bucket: &str) -> Result<String, StoreError> {
        let cell = self
            .regions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(bucket.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.discover_region(bucket))
            .await
            .cloned()
    }

    async fn discover_region(&self, bucket: &str) -> Result<String, StoreError> {
        let boot = self.ctx.s3_bootstrap_region().to_owned();
        let client = self.ctx.s3_client(&boot);
        let err = match client.get_bucket_location().bucket(bucket).send().await {
            Ok(out) => {
                let constraint = out.location_constraint().map(|c| c.as_str()).unwrap_or("");
                return Ok(region_from_constraint(constraint));
            }
            Err(e) => e,
        };
        if code(&err) == Some("NoSuchBucket") {
            return Err(no_such_bucket(bucket, &err));
        }
        if let Some(region) = header_region(&err) {
            return Ok(region);
        }
        if !matches!(err, SdkError::ServiceError(_)) {
            return Err(StoreError::unreadable(
                bucket,
                "",
                format!("GetBucketLocation: {}", describe(&err)),
            ));
        }
        // Denied or not implemented: HeadBucket names the region in a header, even when denied.
        match client.head_bucket().bucket(bucket).send().await {
            Ok(out) => Ok(out.bucket_region().map(str::to_owned).unwrap_or(boot)),
            Err(e) => {
                if let Some(region) = header_region(&e) {
                    Ok(region)
                } else if status(&e) == Some(404) {
                    Err(StoreError::NoSuchBucket {
                        bucket: bucket.to_owned(),
                        reason: format!("HeadBucket: {}", describe(&e)),
                    })
                } else if matches!(e, SdkError::ServiceError(_)) {
                    Ok(boot)
                } else {
                    Err(StoreError::unreadable(
                        bucket,
                        "",
                        format!("HeadBucket: {}", describe(&e)),
                    ))
                }
            }
        }
    }

    async fn client(&self, bucket: &str) -> Result<aws_sdk_s3::Client, StoreError> {
        let region = self.region_of(bucket).await?;
        Ok(self.ctx.s3_client(&region))
    }

    /// One `GetObject` (from byte `from` of the version with ETag `e_tag` when resuming): on
    /// the lean path when it can make it, else through the SDK's client.
    async fn fetch(
        &self,
        bucket: &str,
        key: &str,
        resume: Option<(u64, &str)>,
    ) -> Result<Got, GetError> {
        if let Some(lean) = &self.lean {
            let region = if lean.knows(bucket) {
                None
            } else {
                Some(self.region_of(bucket).await.map_err(GetError::Store)?)
            };
            if let Some(got) = lean.get(bucket, region.as_deref(), key, resume).await {
                return got;
            }
        }
        // Boxed: the SDK's operation future is large, and every request task (the lean ones
        // too) would otherwise be that large and copied about in full.
        Box::pin(self.fetch_sdk(bucket, key, resume)).await
    }

    /// [`Fetcher::fetch`] through the SDK's client.
    async fn fetch_sdk(
        &self,
        bucket: &str,
        key: &str,
        resume: Option<(u64, &str)>,
    ) -> Result<Got, GetError> {
        let client = self.client(bucket).await.map_err(GetError::Store)?;
        let mut request = client.get_object().bucket(bucket).key(key);
        if let Some((from, e_tag)) = resume {
            request = request.range(format!("bytes={from}-")).if_match(e_tag);
        }
        let out = request.send().await.map_err(|e| sdk_get_error(&e))?;
        Ok(Got {
            e_tag: out.e_tag().map(str::to_owned),
            content_length: out.content_length().and_then(|n| u64::try_from(n).ok()),
            content_range: out.content_range().map(str::to_owned),
            metadata: user_metadata(out.metadata()),
            body: out.body,
        })
    }

    /// One `GetObject`.
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Got, StoreError> {
        self.fetch(bucket, key, None)
            .await
            .map_err(|e| e.into_store(bucket, key))
    }

    /// One `GetObject`, its body read whole (at most `limit` bytes).
    async fn get_whole(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, GetFailure> {
        let out = self
            .get_object(bucket, key)
            .await
            .map_err(GetFailure::Store)?;
        let too_large = || {
            GetFailure::Store(StoreError::TooLarge {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                limit,
            })
        };
        let expected = out.content_length;
        if expected.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let metadata = out.metadata;
        let mut body = out.body;
        let capacity = expected.unwrap_or(0).min(limit).min(1 << 20);
        let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = next_piece(&mut body, self.stall()).await {
            let chunk =
                chunk.map_err(|e| GetFailure::Body(StoreError::unreadable(bucket, key, e)))?;
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if let Some(n) = expected.filter(|&n| n != bytes.len() as u64) {
            return Err(GetFailure::Body(StoreError::unreadable(
                bucket,
                key,
                format!("the body ended after {} of {n} bytes", bytes.len()),
            )));
        }
        Ok(Object {
            bytes,
            metadata: Some(metadata),
        })
    }

    /// `get` in full: a body cut mid-way is fetched again whole (digests are small).
    async fn get_retrying(
        &self,
        bucket: &str,
        key: &str,
        limit: u64,
    ) -> Result<Object, StoreError> {
        let mut attempts_left = MAX_RESUMES;
        loop {
            match self.get_whole(bucket, key, limit).await {
                Err(GetFailure::Body(_)) if attempts_left > 0 => attempts_left -= 1,
                Err(GetFailure::Body(e) | GetFailure::Store(e)) => return Err(e),
                Ok(object) => return Ok(object),
            }
        }
    }

    /// `open`'s request: the answer, with a small body already read.
    async fn open_reader(
        &self,
        handle: Handle,
        bucket: &str,
        key: &str,
    ) -> Result<S3Reader, StoreError> {
        let out = self.get_object(bucket, key).await?;
        let mut reader = S3Reader {
            handle,
            fetcher: self.clone(),
            e_tag: out.e_tag.filter(|t| !t.is_empty()),
            resumes_left: MAX_RESUMES,
            expected: out.content_length,
            body: out.body,
            chunk: Bytes::new(),
            queued: VecDeque::new(),
            early_end: None,
            received: 0,
            state: ReaderState::Open,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            _permit: None,
        };
        // A small body is read now, in the same visit to the runtime as the request: one
        // thread hand-off per object instead of one per chunk (log files are mostly small).
        if reader.expected.is_some_and(|n| n <= WHOLE_BODY_LIMIT) {
            reader.read_ahead().await;
        }
        Ok(reader)
    }
}

/// Why reading a whole object failed: the request, or its body mid-way (worth another try).
enum GetFailure {
    Store(StoreError),
    Body(StoreError),
}

impl S3Store {
    /// Pages of `ListObjectsV2` under `prefix` (after `start_after`, grouped by `delimiter`),
    /// handed to `each` as they arrive until it breaks or the listing ends.
    fn list_pages(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        delimiter: Option<&str>,
        each: &mut dyn FnMut(&ListObjectsV2Output) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let client = self.block_on(bucket, prefix, self.fetcher.client(bucket))?;
        let mut token: Option<String> = None;
        loop {
            let mut request = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned));
            if let Some(t) = &token {
                request = request.continuation_token(t);
            } else if !start_after.is_empty() {
                request = request.start_after(start_after);
            }
            if let Some(n) = self.page_size {
                request = request.max_keys(n);
            }
            let page = self.block_on(bucket, prefix, async {
                request.send().await.map_err(|e| match code(&e) {
                    Some("NoSuchBucket") => no_such_bucket(bucket, &e),
                    _ => StoreError::unreadable(
                        bucket,
                        prefix,
                        format!("ListObjectsV2: {}", describe(&e)),
                    ),
                })
            })?;
            if each(&page).is_break() || !page.is_truncated().unwrap_or(false) {
                return Ok(());
            }
            match page.next_continuation_token() {
                Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                    token = Some(next.to_owned());
                }
                _ => {
                    return Err(StoreError::unreadable(
                        bucket,
                        prefix,
                        "ListObjectsV2: the listing is truncated but no new continuation token was given",
                    ))
                }
            }
        }
    }
}

impl ObjectStore for S3Store {
    fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut folders = Vec::new();
        self.list_pages(bucket, prefix, "", Some("/"), &mut |page| {
            folders.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .filter(|p| p.starts_with(prefix) && p.ends_with('/'))
                    .map(str::to_owned),
            );
            ControlFlow::Continue(())
        })?;
        folders.sort();
        folders.dedup();
        Ok(folders)
    }

    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.list_pages(bucket, prefix, start_after, None, &mut |page| {
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                // Keep the trait's contract even if an S3-compatible server does not.
                if key <= start_after || !key.starts_with(prefix) {
                    continue;
                }
                each(key)?;
            }
            ControlFlow::Continue(())
        })
    }

    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        if let Some(Ready::Whole(got)) = self.announced(bucket, key)? {
            return got;
        }
        self.block_on(bucket, key, self.fetcher.get_retrying(bucket, key, limit))
    }

    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        if let Some(Ready::Open(opened, permit)) = self.announced(bucket, key)? {
            let mut reader = opened?;
            reader._permit = Some(permit);
            return Ok(reader);
        }
        let handle = self.handle.clone();
        let reader = self.block_on(bucket, key, self.fetcher.open_reader(handle, bucket, key))?;
        Ok(Box::new(reader))
    }

    /// `HeadObject`'s `Content-Length` (a mirror checks a copy left by an earlier run with it).
    fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StoreError> {
        self.block_on(bucket, key, async {
            let client = self.fetcher.client(bucket).await?;
            let out = client
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| match (code(&e), status(&e)) {
                    // HEAD answers have no body: a missing key is only a 404.
                    (Some("NoSuchKey" | "NotFound"), _) | (None, Some(404)) => {
                        StoreError::NotFound {
                            bucket: bucket.to_owned(),
                            key: key.to_owned(),
                        }
                    }
                    (Some("NoSuchBucket"), _) => no_such_bucket(bucket, &e),
                    _ => {
                        StoreError::unreadable(bucket, key, format!("HeadObject: {}", describe(&e)))
                    }
                })?;
            Ok(out.content_length().and_then(|n| u64::try_from(n).ok()))
        })
    }

    /// Starts the requests on the runtime, `concurrency` at a time, in the order given: each
    /// takes a permit before its request and keeps it until its object is consumed (or the
    /// guard dropped), so the objects asked for first are always the ones in flight and a
    /// reader never waits behind objects nobody reads yet.
    fn prefetch(&self, objects: &[(&str, &str)], intent: Intent) -> Prefetch {
        let mut jobs = Vec::with_capacity(objects.len());
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for &(bucket, key) in objects {
                let id = (bucket.to_owned(), key.to_owned());
                if pending.contains_key(&id) {
                    continue;
                }
                let (tx, rx) = oneshot::channel();
                pending.insert(id.clone(), rx);
                jobs.push((id, tx));
            }
        }
        if jobs.is_empty() {
            return Prefetch::none();
        }
        let keys: Vec<(String, String)> = jobs.iter().map(|(id, _)| id.clone()).collect();
        let fetcher = self.fetcher.clone();
        let permits = self.permits.clone();
        let handle = self.handle.clone();
        self.handle.spawn(async move {
            for ((bucket, key), tx) in jobs {
                if tx.is_closed() {
                    continue;
                }
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let fetcher = fetcher.clone();
                let handle = handle.clone();
                tokio::spawn(async move {
                    let ready = match intent {
                        Intent::Get { limit } => {
                            let got = fetcher.get_retrying(&bucket, &key, limit).await;
                            drop(permit);
                            Ready::Whole(got)
                        }
                        _ => Ready::Open(
                            fetcher
                                .open_reader(handle, &bucket, &key)
                                .await
                                .map(Box::new),
                            permit,
                        ),
                    };
                    // Not wanted any more (the guard was dropped): the answer and its permit go.
                    let _ = tx.send(ready);
                });
            }
        });
        Prefetch::new(Announced {
            pending: self.pending.clone(),
            keys,
        })
    }
}

/// An announced object's answer.
enum Ready {
    Whole(Result<Object, StoreError>),
    Open(Result<Box<S3Reader>, StoreError>, OwnedSemaphorePermit),
}

/// Forgets the announced objects nobody asked for when the prefetch guard is dropped.
struct Announced {
    pending: Pending,
    keys: Vec<(String, String)>,
}

impl Drop for Announced {
    fn drop(&mut self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for id in &self.keys {
            pending.remove(id);
        }
    }
}

impl S3Store {
    /// The answer to an announced request for `bucket/key`, waited for; `None` when it was not
    /// announced (or its task is gone).
    fn announced(&self, bucket: &str, key: &str) -> Result<Option<Ready>, StoreError> {
        let rx = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(bucket.to_owned(), key.to_owned()));
        let Some(rx) = rx else { return Ok(None) };
        self.block_on(bucket, key, async { Ok(rx.await.ok()) })
    }
}

/// Bodies up to this size are read whole with the request. An object read ahead keeps its
/// prefetch place until it is consumed, so this times the concurrency bounds the memory they
/// take (32 MiB at the default 256); a larger body waits in the connection, not in memory.
const WHOLE_BODY_LIMIT: u64 = 128 << 10;

/// S3 user metadata with lowercase names, without the `x-amz-meta-` prefix.
fn user_metadata(map: Option<&HashMap<String, String>>) -> Metadata {
    map.into_iter()
        .flatten()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect()
}

/// `GetBucketLocation`'s answer as a region name.
fn region_from_constraint(constraint: &str) -> String {
    match constraint {
        "" => "us-east-1".to_owned(),
        "EU" => "eu-west-1".to_owned(),
        other => other.to_owned(),
    }
}

/// The `x-amz-bucket-region` header S3 adds to redirects and `HeadBucket` answers.
fn header_region<E>(err: &SdkError<E, HttpResponse>) -> Option<String> {
    err.raw_response()
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

fn no_such_bucket<E>(bucket: &str, err: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError::NoSuchBucket {
        bucket: bucket.to_owned(),
        reason: describe(err),
    }
}

fn sdk_get_error<E>(err: &SdkError<E, HttpResponse>) -> GetError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (code(err), status(err)) {
        (Some("NoSuchKey"), _) | (None, Some(404)) => GetError::NotFound,
        (Some("NoSuchBucket"), _) => GetError::NoSuchBucket(describe(err)),
        _ => GetError::Other(describe(err)),
    }
}

/// The next piece of `body`, waiting at most `stall` for it; errors as one line.
async fn next_piece(
    body: &mut ByteStream,
    stall: Option<Duration>,
) -> Option<Result<Bytes, String>> {
    let next = match stall {
        Some(limit) => match tokio::time::timeout(limit, body.next()).await {
            Ok(next) => next,
            Err(_) => {
                return Some(Err(format!(
                    "reading the body failed: no data for {limit:?}"
                )))
            }
        },
        None => body.next().await,
    };
    next.map(|r| r.map_err(|e| format!("reading the body failed: {}", chain(&e))))
}

enum ReaderState {
    Open,
    Done,
    Failed(String),
}

/// Times a body cut mid-way is requested again (the rest of a streamed log file, or a whole
/// digest) before the read fails.
const MAX_RESUMES: u32 = 2;

/// Streams an object's body: each `read` pulls the next chunk from the connection when the
/// previous one is used up.
///
/// When the connection fails mid-body, the rest is requested again (`Range: bytes=N-` with
/// `If-Match` on the first answer's ETag, so the bytes are those of the same object version), at
/// most [`MAX_RESUMES`] times. A failure that persists is an `io::Error`, on this and every later
/// read.
struct S3Reader {
    handle: Handle,
    fetcher: Fetcher,
    e_tag: Option<String>,
    resumes_left: u32,
    body: ByteStream,
    chunk: Bytes,
    /// Chunks read ahead (`read_ahead`), then how that reading ended, if it did.
    queued: VecDeque<Bytes>,
    early_end: Option<Option<String>>,
    expected: Option<u64>,
    received: u64,
    state: ReaderState,
    bucket: String,
    key: String,
    /// The prefetch place this object holds until it is consumed.
    _permit: Option<OwnedSemaphorePermit>,
}

impl S3Reader {
    fn fail(&mut self, cause: String) -> io::Error {
        let message = format!("s3://{}/{}: {cause}", self.bucket, self.key);
        self.state = ReaderState::Failed(message.clone());
        io::Error::other(message)
    }

    /// Reads the body ahead, up to its end or first failure, or until it is longer than its
    /// announced length (which `fill` then reports).
    async fn read_ahead(&mut self) {
        let limit = self.expected.unwrap_or(0);
        let stall = self.fetcher.stall();
        let mut read = 0u64;
        while read <= limit {
            match next_piece(&mut self.body, stall).await {
                Some(Ok(chunk)) => {
                    read += chunk.len() as u64;
                    self.queued.push_back(chunk);
                }
                Some(Err(e)) => {
                    self.early_end = Some(Some(e));
                    return;
                }
                None => {
                    self.early_end = Some(None);
                    return;
                }
            }
        }
    }

    /// The next piece of the body: read ahead, or from the connection.
    fn next_chunk(&mut self) -> io::Result<Option<Result<Bytes, String>>> {
        if let Some(chunk) = self.queued.pop_front() {
            return Ok(Some(Ok(chunk)));
        }
        if let Some(end) = self.early_end.take() {
            return Ok(end.map(Err));
        }
        if inside_runtime() {
            return Err(self.fail(
                "read from inside the async runtime (read from ordinary threads)".to_owned(),
            ));
        }
        let stall = self.fetcher.stall();
        Ok(self.handle.block_on(next_piece(&mut self.body, stall)))
    }

    /// Fetches the next non-empty chunk; false at the end of the body.
    fn fill(&mut self) -> io::Result<bool> {
        while self.chunk.is_empty() {
            match &self.state {
                ReaderState::Done => return Ok(false),
                ReaderState::Failed(message) => return Err(io::Error::other(message.clone())),
                ReaderState::Open => {}
            }
            match self.next_chunk()? {
                Some(Ok(chunk)) => {
                    self.received += chunk.len() as u64;
                    if self.expected.is_some_and(|n| self.received > n) {
                        let n = self.expected.unwrap_or_default();
                        return Err(self.fail(format!("the body is longer than its {n} bytes")));
                    }
                    self.chunk = chunk;
                }
                Some(Err(cause)) => self.resume(cause)?,
                None => match self.expected {
                    Some(n) if n != self.received => {
                        self.resume(format!(
                            "the body ended after {} of {n} bytes",
                            self.received
                        ))?;
                    }
                    _ => self.state = ReaderState::Done,
                },
            }
        }
        Ok(true)
    }

    /// Requests the rest of the object after a failure described by `cause`, or fails with it.
    fn resume(&mut self, cause: String) -> io::Result<()> {
        let (Some(e_tag), Some(expected)) = (self.e_tag.clone(), self.expected) else {
            return Err(self.fail(cause));
        };
        if self.resumes_left == 0 || self.received >= expected {
            return Err(self.fail(cause));
        }
        self.resumes_left -= 1;
        let request = self
            .fetcher
            .fetch(&self.bucket, &self.key, Some((self.received, &e_tag)));
        let out = match self.handle.block_on(request) {
            Ok(out) => out,
            Err(e) => {
                return Err(self.fail(format!(
                    "{cause}; resuming failed: GetObject: {}",
                    e.describe()
                )))
            }
        };
        // The answer must be exactly the missing part, or the bytes would not be the object's.
        let want = format!("bytes {}-{}/{expected}", self.received, expected - 1);
        if out.content_range.as_deref() != Some(want.as_str()) {
            let got = out.content_range.unwrap_or_else(|| "none".to_owned());
            return Err(self.fail(format!(
                "{cause}; resuming failed: Content-Range {got}, expected {want}"
            )));
        }
        self.body = out.body;
        Ok(())
    }
}

impl Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraints() {
        assert_eq!(region_from_constraint(""), "us-east-1");
        assert_eq!(region_from_constraint("EU"), "eu-west-1");
        assert_eq!(region_from_constraint("ap-south-1"), "ap-south-1");
    }

    #[test]
    fn metadata_names_are_lowercased() {
        let mut map = HashMap::new();
        map.insert("Signature".to_owned(), "ab".to_owned());
        let meta = user_metadata(Some(&map));
        assert_eq!(meta.get("signature").map(String::as_str), Some("ab"));
        assert!(user_metadata(None).is_empty());
    }
}

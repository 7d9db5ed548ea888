//! The local S3 server: s3s + s3s-fs over a directory, behind a fault injector that can answer
//! any request with an error, a reset, a truncated or a stalled body.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::http::Extensions;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use s3s::auth::SimpleAuth;
use s3s::dto::{CreateBucketInput, PutObjectInput, StreamingBlob};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Request, S3};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::{spawn_server, BoxError, Stats, ACCESS_KEY, SECRET_KEY};

/// What the fault injector does to a matching request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// 503 `SlowDown`, as S3 throttles.
    SlowDown,
    /// 500 `InternalError`.
    Internal,
    /// Close the connection without answering.
    Reset,
    /// Answer 200 with the full `Content-Length`, send half the body, then drop the connection.
    Truncate,
    /// Send half the body, then wait until the gate is opened, then the rest.
    Stall(Arc<Notify>),
    /// An error answer of this status, code and message (written into the XML as given).
    Error {
        status: u16,
        code: String,
        message: String,
    },
}

#[derive(Debug)]
struct Rule {
    fault: Fault,
    /// Remaining times; `None`: forever.
    remaining: Option<u32>,
}

/// Faults by request name (see [`request_name`]) plus a log of every request (unless the
/// server was started with [`S3ServerBuilder::log_requests`] off).
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<HashMap<String, Rule>>,
    /// Faults for every request whose name starts with a prefix (after the exact rules).
    prefix_rules: Mutex<Vec<(String, Rule)>>,
    /// How far the server's clock is from the real one, in seconds: it checks signatures'
    /// `x-amz-date` against its own clock (15 minutes either way, as S3) and sends it in `Date`.
    clock_offset: AtomicI64,
    log: Mutex<Vec<String>>,
    /// The `User-Agent` of each request in `log`, to tell which client path sent it.
    agents: Mutex<Vec<String>>,
    /// One lock per object, held while s3s-fs answers a GET or PUT of it (see
    /// [`object_lock`]).
    object_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// s3s-fs checks `If-Match` / `If-None-Match` on PUT, but not atomically with the write (and a
/// GET may read an object's bytes before a PUT and its ETag after): S3 does both atomically.
/// Serializing GETs and PUTs of one key here gives the conditional-write tests S3's behaviour;
/// other keys, and the streaming of bodies, are not held up.
fn object_lock(
    faults: &Faults,
    method: &Method,
    path: &str,
) -> Option<Arc<tokio::sync::Mutex<()>>> {
    if *method != Method::GET && *method != Method::PUT {
        return None;
    }
    let mut locks = faults.object_locks.lock().unwrap();
    Some(locks.entry(path.to_owned()).or_default().clone())
}

impl Faults {
    /// Applies `fault` to the next `times` requests named `name` (`None`: all of them).
    pub fn add(&self, name: &str, fault: Fault, times: Option<u32>) {
        self.rules.lock().unwrap().insert(
            name.to_owned(),
            Rule {
                fault,
                remaining: times,
            },
        );
    }

    /// Applies `fault` to every later request whose name starts with `prefix` (no exact rule
    /// of its own applying), `times` times in all (`None`: all of them).
    pub fn add_prefix(&self, prefix: &str, fault: Fault, times: Option<u32>) {
        self.prefix_rules.lock().unwrap().push((
            prefix.to_owned(),
            Rule {
                fault,
                remaining: times,
            },
        ));
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
        self.prefix_rules.lock().unwrap().clear();
    }

    /// Sets the server's clock `seconds` away from the real one.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.clock_offset.store(seconds, Ordering::Relaxed);
    }

    /// The server's clock.
    fn server_now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::seconds(self.clock_offset.load(Ordering::Relaxed))
    }

    fn take(&self, name: &str) -> Option<Fault> {
        let use_rule = |rule: &mut Rule| match &mut rule.remaining {
            Some(0) => None,
            Some(n) => {
                *n -= 1;
                Some(rule.fault.clone())
            }
            None => Some(rule.fault.clone()),
        };
        if let Some(rule) = self.rules.lock().unwrap().get_mut(name) {
            return use_rule(rule);
        }
        let mut prefixed = self.prefix_rules.lock().unwrap();
        let (_, rule) = prefixed
            .iter_mut()
            .find(|(p, _)| name.starts_with(p.as_str()))?;
        use_rule(rule)
    }

    /// Faults still to be injected (counted ones only).
    pub fn pending(&self) -> u32 {
        self.rules
            .lock()
            .unwrap()
            .values()
            .filter_map(|r| r.remaining)
            .sum::<u32>()
            + self
                .prefix_rules
                .lock()
                .unwrap()
                .iter()
                .filter_map(|(_, r)| r.remaining)
                .sum::<u32>()
    }

    /// How many requests named `name` arrived.
    pub fn count(&self, name: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|n| *n == name)
            .count()
    }

    /// Every request name, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The `User-Agent` of every request named `name`, in arrival order.
    pub fn agents_of(&self, name: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        let agents = self.agents.lock().unwrap();
        log.iter()
            .zip(agents.iter())
            .filter(|(n, _)| *n == name)
            .map(|(_, a)| a.clone())
            .collect()
    }
}

/// `GET /bucket/key`, `LIST /bucket`, `LOCATION /bucket`, `PUT /bucket/key`…
pub fn request_name(method: &Method, path: &str, query: &str) -> String {
    let path = path.trim_end_matches('/');
    let has = |param: &str| {
        query
            .split('&')
            .any(|p| p == param || p.starts_with(&format!("{param}=")))
    };
    if *method == Method::GET && has("list-type") {
        format!("LIST {path}")
    } else if *method == Method::GET && has("location") {
        format!("LOCATION {path}")
    } else if *method == Method::GET && path.matches('/').count() == 1 {
        format!("LISTV1 {path}")
    } else {
        format!("{method} {path}")
    }
}

/// The name of the `GetObject` request for an object.
pub fn get_name(bucket: &str, key: &str) -> String {
    format!("GET /{bucket}/{key}")
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<s3s::Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>FAULT</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(s3s::Body::from(xml))
        .unwrap()
}

/// Half the data, then a pause (so the headers and that half leave the server), then either the
/// rest or, for a truncation, an error that makes hyper drop the connection mid-body.
struct SplitBody {
    first: Option<Bytes>,
    rest: Option<Bytes>,
    gate: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    truncate: bool,
}

impl Body for SplitBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if let Some(gate) = &mut this.gate {
            ready!(gate.as_mut().poll(cx));
            this.gate = None;
        }
        if this.truncate && this.rest.take().is_some() {
            return Poll::Ready(Some(Err(io::Error::other(
                "truncated by the fault injector",
            ))));
        }
        Poll::Ready(this.rest.take().map(|b| Ok(Frame::data(b))))
    }
}

/// S3's answer to a request signed more than 15 minutes away from the server's clock.
fn too_skewed(req: &Request<Incoming>, now: chrono::DateTime<chrono::Utc>) -> bool {
    let Some(signed) = req
        .headers()
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ").ok())
    else {
        return false;
    };
    (now.naive_utc() - signed).num_seconds().abs() > 15 * 60
}

/// What the requests to one server share.
#[derive(Debug)]
struct Shared {
    faults: Arc<Faults>,
    stats: Arc<Stats>,
    delay: Duration,
    log_requests: bool,
}

async fn s3_handle(
    s3: S3Service,
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<s3s::Body>, BoxError> {
    let now = shared.faults.server_now();
    let mut response = s3_answer(s3, &shared, req, now).await?;
    // The server's clock, as S3 sends it, from which clients learn their skew.
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    response.headers_mut().insert("date", date.parse()?);
    Ok(response)
}

async fn s3_answer(
    s3: S3Service,
    shared: &Shared,
    req: Request<Incoming>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Response<s3s::Body>, BoxError> {
    let faults = &*shared.faults;
    let (method, path, query) = (
        req.method(),
        req.uri().path(),
        req.uri().query().unwrap_or(""),
    );
    shared.stats.count_s3(method, path, query);
    let name = request_name(method, path, query);
    // A benchmark's millions of requests would grow the log without end.
    if shared.log_requests {
        // Both under one lock order, so that the two logs stay aligned.
        let mut log = faults.log.lock().unwrap();
        let agent = req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        faults.agents.lock().unwrap().push(agent);
        log.push(name.clone());
    }
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    if too_skewed(&req, now) {
        return Ok(s3_error(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    let fault = faults.take(&name);
    match fault {
        None => {}
        Some(Fault::SlowDown) => {
            return Ok(s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
            ))
        }
        Some(Fault::Internal) => {
            return Ok(s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ))
        }
        Some(Fault::Error {
            status,
            code,
            message,
        }) => return Ok(s3_error(StatusCode::from_u16(status)?, &code, &message)),
        Some(Fault::Reset) => return Err("connection reset by the fault injector".into()),
        Some(Fault::Truncate) | Some(Fault::Stall(_)) => {}
    }
    let lock = object_lock(faults, req.method(), req.uri().path());
    let guard = match &lock {
        Some(l) => Some(l.lock().await),
        None => None,
    };
    let response = s3
        .call(req.map(s3s::Body::from))
        .await
        .map_err(BoxError::from)?;
    drop(guard);
    let (gate, truncate): (Pin<Box<dyn Future<Output = ()> + Send>>, bool) = match fault {
        Some(Fault::Truncate) => (
            Box::pin(tokio::time::sleep(Duration::from_millis(50))),
            true,
        ),
        Some(Fault::Stall(notify)) => (Box::pin(async move { notify.notified().await }), false),
        _ => return Ok(response),
    };
    let (parts, body) = response.into_parts();
    let mut bytes = body.collect().await?.to_bytes();
    let first = bytes.split_to(bytes.len() / 2);
    let body = SplitBody {
        first: Some(first),
        rest: Some(bytes),
        gate: Some(gate),
        truncate,
    };
    Ok(Response::from_parts(
        parts,
        s3s::Body::http_body_unsync(body),
    ))
}

/// An s3s-fs server on 127.0.0.1 behind the fault injector.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_S3` or an SDK's endpoint.
    pub url: String,
    /// The faults to inject, and the log of requests.
    pub faults: Arc<Faults>,
    /// Request counts, shared with whatever else was given the same [`Stats`].
    pub stats: Arc<Stats>,
    root: Option<PathBuf>,
    // Held so that a temporary root lives as long as the server's handle.
    _temp: Option<tempfile::TempDir>,
}

impl S3Server {
    /// A server over a new temporary directory, accepting [`ACCESS_KEY`] / [`SECRET_KEY`].
    pub async fn start() -> S3Server {
        S3Server::builder().start().await
    }

    /// A server set up otherwise: its root, credentials, a delay per request.
    pub fn builder() -> S3ServerBuilder {
        S3ServerBuilder {
            root: None,
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
            delay: Duration::ZERO,
            log_requests: true,
            stats: Arc::new(Stats::default()),
            prefix_listing: false,
        }
    }

    /// The s3s-fs root: a directory per bucket, a file per object. `None` for a server of
    /// another backend ([`S3ServerBuilder::start_with`]).
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }
}

/// Options of an [`S3Server`] other than the defaults of [`S3Server::start`].
#[derive(Debug)]
pub struct S3ServerBuilder {
    root: Option<PathBuf>,
    access_key: String,
    secret_key: String,
    delay: Duration,
    log_requests: bool,
    stats: Arc<Stats>,
    prefix_listing: bool,
}

impl S3ServerBuilder {
    /// Serves this existing directory, which outlives the server (a large trail is then
    /// uploaded once, see [`load_dir`], and served many times), instead of a temporary one.
    pub fn root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.root = Some(dir.into());
        self
    }

    /// The only credentials accepted.
    pub fn credentials(mut self, access_key: &str, secret_key: &str) -> Self {
        self.access_key = access_key.to_owned();
        self.secret_key = secret_key.to_owned();
        self
    }

    /// Waits this long before handling each request, to stand for the round trip to S3 over
    /// a WAN.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Whether [`Faults`] keeps the log of requests ([`Faults::count`], [`Faults::requests`]);
    /// on by default. A benchmark's server turns it off: the log grows with every request.
    pub fn log_requests(mut self, on: bool) -> Self {
        self.log_requests = on;
        self
    }

    /// Lists by reading only the folders under the request's prefix ([`PrefixListing`])
    /// instead of s3s-fs's walk of the whole bucket, whose cost grows with every object stored:
    /// for a benchmark's bucket of tens of thousands of objects listed thousands of times.
    pub fn prefix_listing(mut self, on: bool) -> Self {
        self.prefix_listing = on;
        self
    }

    /// Counts requests into `stats` (to share one [`Stats`] with a [`crate::CloudTrailServer`]).
    pub fn stats(mut self, stats: Arc<Stats>) -> Self {
        self.stats = stats;
        self
    }

    /// Starts the server on the current Tokio runtime. Panics if the root cannot be served or
    /// no port bound.
    pub async fn start(mut self) -> S3Server {
        let (root, temp) = match self.root.take() {
            Some(root) => (root, None),
            None => {
                let temp = tempfile::tempdir().unwrap();
                (temp.path().to_owned(), Some(temp))
            }
        };
        let fs = s3s_fs::FileSystem::new(&root)
            .unwrap_or_else(|e| panic!("s3s-fs root {}: {e:?}", root.display()));
        let mut server = if self.prefix_listing {
            let root = root.clone();
            self.start_with(PrefixListing { fs, root }).await
        } else {
            self.start_with(fs).await
        };
        server.root = Some(root);
        server._temp = temp;
        server
    }

    /// Starts the server over another s3s backend than s3s-fs (one that behaves otherwise, or
    /// records what it is asked), still behind the fault injector. The root is not used.
    pub async fn start_with(self, backend: impl S3) -> S3Server {
        let mut builder = S3ServiceBuilder::new(backend);
        builder.set_auth(SimpleAuth::from_single(
            self.access_key.as_str(),
            self.secret_key.as_str(),
        ));
        // The fault injector checks request times against its own, possibly offset, clock;
        // s3s's check against the real one is widened out of the way.
        let mut config = s3s::config::S3Config::default();
        config.presigned_url_max_skew_time_secs = 10 * 24 * 3600;
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            config,
        ))));
        let service = builder.build();
        let faults = Arc::new(Faults::default());
        let shared = Arc::new(Shared {
            faults: faults.clone(),
            stats: self.stats.clone(),
            delay: self.delay,
            log_requests: self.log_requests,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        spawn_server(listener, move |req| {
            s3_handle(service.clone(), shared.clone(), req)
        });
        S3Server {
            url,
            faults,
            stats: self.stats,
            root: None,
            _temp: None,
        }
    }
}

/// An s3s request as the HTTP layer would build it, for calls made in-process.
fn s3_request<T>(input: T) -> S3Request<T> {
    S3Request {
        input,
        method: Method::PUT,
        uri: Uri::from_static("/"),
        headers: HeaderMap::new(),
        extensions: Extensions::new(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

/// Puts an archive directory as the testkit writes it (`Archive::write_bucket`: each object's
/// user metadata in a `NAME.meta.json` beside it, the keys in `public-keys.json`, neither an
/// object) into `bucket` under an s3s-fs root, creating the bucket if need be. Calls s3s-fs's
/// own `CreateBucket` / `PutObject` in-process, with `concurrency` puts in flight: no HTTP and no
/// signing, which a large trail would spend most of its loading time on. Returns the number of
/// objects.
pub async fn load_dir(
    root: &Path,
    bucket: &str,
    dir: &Path,
    concurrency: usize,
) -> Result<usize, BoxError> {
    let fs = Arc::new(
        s3s_fs::FileSystem::new(root)
            .map_err(|e| format!("s3s-fs root {}: {e:?}", root.display()))?,
    );
    let create = CreateBucketInput::builder()
        .bucket(bucket.to_owned())
        .build()?;
    if let Err(e) = fs.create_bucket(s3_request(create)).await {
        // Left by an interrupted upload: fine, objects are overwritten.
        let code = e.code().as_str();
        if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
            return Err(format!("CreateBucket {bucket}: {e:?}").into());
        }
    }
    let mut files = Vec::new();
    list_files(dir, dir, &mut files)?;
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut count = 0;
    for (path, key) in files {
        if key.ends_with(".meta.json") || key == "public-keys.json" {
            continue;
        }
        count += 1;
        let permit = limit.clone().acquire_owned().await?;
        let fs = fs.clone();
        let bucket = bucket.to_owned();
        tasks.spawn(async move {
            let _permit = permit;
            let body = tokio::fs::read(&path).await?;
            let meta = PathBuf::from(format!("{}.meta.json", path.display()));
            let metadata: Option<s3s::dto::Metadata> = match tokio::fs::read(&meta).await {
                Ok(bytes) => Some(serde_json::from_slice(&bytes)?),
                Err(_) => None,
            };
            let input = PutObjectInput::builder()
                .bucket(bucket.clone())
                .key(key.clone())
                .content_length(Some(i64::try_from(body.len())?))
                .metadata(metadata)
                .body(Some(StreamingBlob::from(s3s::Body::from(Bytes::from(
                    body,
                )))))
                .build()?;
            fs.put_object(s3_request(input))
                .await
                .map_err(|e| format!("PutObject {bucket}/{key}: {e:?}"))?;
            Ok::<(), BoxError>(())
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(count)
}

/// s3s-fs whose `ListObjectsV2` reads only the folder the prefix names (and, without a
/// delimiter, the folders below it): s3s-fs walks every file of the bucket for each listing,
/// through one blocking task per directory entry. The answer is the same: s3s-fs keeps an
/// object `KEY` at `BUCKET/KEY`, so every key starting with the prefix lies under the prefix's
/// folder part. The operations a benchmark's clients send are passed to s3s-fs; others are not
/// served.
pub struct PrefixListing {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
}

impl std::fmt::Debug for PrefixListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixListing")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Objects (key, size, modified) and common prefixes under `prefix` in `bucket_dir`.
type Listing = (
    Vec<(String, u64, std::time::SystemTime)>,
    std::collections::BTreeSet<String>,
);

fn list_under(bucket_dir: &Path, prefix: &str, delimiter: Option<&str>) -> io::Result<Listing> {
    let (folder, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
    let mut objects = Vec::new();
    let mut prefixes = std::collections::BTreeSet::new();
    let start = if folder.is_empty() {
        bucket_dir.to_owned()
    } else {
        bucket_dir.join(folder)
    };
    let mut stack = vec![(start, folder.to_owned())];
    while let Some((dir, key_dir)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let key = if key_dir.is_empty() {
                name
            } else {
                format!("{key_dir}/{name}")
            };
            if entry.file_type()?.is_dir() {
                let folder = format!("{key}/");
                if !(folder.starts_with(prefix) || prefix.starts_with(&folder)) {
                    continue;
                }
                match delimiter {
                    // The folder's own prefix when it is past the request's: a common prefix.
                    Some("/") if folder.starts_with(prefix) => {
                        prefixes.insert(folder);
                    }
                    _ => stack.push((entry.path(), key)),
                }
            } else if let Some(rest) = key.strip_prefix(prefix) {
                if let Some((d, at)) = delimiter.and_then(|d| Some((d, rest.find(d)?))) {
                    let cut = prefix.len() + at + d.len();
                    prefixes.insert(key[..cut].to_owned());
                    continue;
                }
                let meta = entry.metadata()?;
                objects.push((key, meta.len(), meta.modified()?));
            }
        }
    }
    Ok((objects, prefixes))
}

#[async_trait::async_trait]
impl S3 for PrefixListing {
    async fn list_objects_v2(
        &self,
        req: S3Request<s3s::dto::ListObjectsV2Input>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListObjectsV2Output>> {
        use s3s::dto::{CommonPrefix, ListObjectsV2Output, Object, Timestamp};
        let input = req.input;
        let bucket_dir = self.root.join(&input.bucket);
        if !bucket_dir.is_dir() {
            return Err(s3s::s3_error!(NoSuchBucket));
        }
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone();
        let (objects, prefixes) = tokio::task::spawn_blocking(move || {
            list_under(&bucket_dir, &prefix, delimiter.as_deref())
        })
        .await
        .map_err(s3s::S3Error::internal_error)?
        .map_err(s3s::S3Error::internal_error)?;
        // Keys and common prefixes in one order, after the resume point, up to max-keys.
        let after = match (
            input.continuation_token.as_deref(),
            input.start_after.as_deref(),
        ) {
            (Some(c), Some(s)) => Some(c.max(s).to_owned()),
            (c, s) => c.or(s).map(str::to_owned),
        };
        let mut all: Vec<(String, Option<(u64, std::time::SystemTime)>)> = objects
            .into_iter()
            .map(|(k, size, t)| (k, Some((size, t))))
            .chain(prefixes.into_iter().map(|p| (p, None)))
            .filter(|(k, _)| after.as_deref().is_none_or(|a| k.as_str() > a))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let max_keys = input.max_keys.unwrap_or(1000);
        let limit = usize::try_from(max_keys).unwrap_or(1000);
        let is_truncated = all.len() > limit;
        all.truncate(limit);
        let next = if is_truncated {
            all.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        let mut contents = Vec::new();
        let mut common = Vec::new();
        for (key, object) in all {
            match object {
                Some((size, modified)) => contents.push(Object {
                    key: Some(key),
                    last_modified: Some(Timestamp::from(modified)),
                    size: Some(i64::try_from(size).map_err(s3s::S3Error::internal_error)?),
                    ..Default::default()
                }),
                None => common.push(CommonPrefix { prefix: Some(key) }),
            }
        }
        let key_count =
            i32::try_from(contents.len() + common.len()).map_err(s3s::S3Error::internal_error)?;
        Ok(s3s::S3Response::new(ListObjectsV2Output {
            key_count: Some(key_count),
            max_keys: Some(max_keys),
            is_truncated: Some(is_truncated),
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!common.is_empty()).then_some(common),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            name: Some(input.bucket),
            prefix: input.prefix,
            start_after: input.start_after,
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<s3s::dto::ListObjectsInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<s3s::dto::GetObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<s3s::dto::HeadObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::PutObjectOutput>> {
        self.fs.put_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<s3s::dto::DeleteObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<s3s::dto::HeadBucketInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<s3s::dto::GetBucketLocationInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<s3s::dto::ListBucketsInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }
}

/// Writes objects into an s3s-fs root in-process, as [`load_dir`] does (s3s-fs's own
/// `CreateBucket` / `PutObject`: no HTTP, no signing), one at a time: each object is in place
/// when [`FsWriter::put`] returns, so a benchmark can deliver a trail as CloudTrail does and
/// announce each object after it is written.
pub struct FsWriter {
    fs: s3s_fs::FileSystem,
}

impl std::fmt::Debug for FsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FsWriter")
    }
}

impl FsWriter {
    /// A writer into the s3s-fs root `root` (the one an [`S3Server`] serves).
    pub fn new(root: &Path) -> Result<FsWriter, BoxError> {
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| format!("s3s-fs root {}: {e:?}", root.display()))?;
        Ok(FsWriter { fs })
    }

    /// Creates `bucket`; one that exists already is fine.
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), BoxError> {
        let create = CreateBucketInput::builder()
            .bucket(bucket.to_owned())
            .build()?;
        if let Err(e) = self.fs.create_bucket(s3_request(create)).await {
            let code = e.code().as_str();
            if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
                return Err(format!("CreateBucket {bucket}: {e:?}").into());
            }
        }
        Ok(())
    }

    /// Puts one object with its user metadata (names without `x-amz-meta-`).
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        metadata: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), BoxError> {
        let metadata: s3s::dto::Metadata = metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let input = PutObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .content_length(Some(i64::try_from(body.len())?))
            .metadata(Some(metadata))
            .body(Some(StreamingBlob::from(s3s::Body::from(Bytes::from(
                body,
            )))))
            .build()?;
        self.fs
            .put_object(s3_request(input))
            .await
            .map_err(|e| format!("PutObject {bucket}/{key}: {e:?}"))?;
        Ok(())
    }
}

/// Every file under `dir`, with its path relative to `base` using `/` (its S3 key).
fn list_files(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            list_files(base, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(base) {
            let key: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((path, key.join("/")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::ListObjectsV2Input;

    /// What a listing answered, page after page: keys, common prefixes, and each page's
    /// truncation and token.
    async fn pages(
        backend: &impl S3,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
        max_keys: i32,
    ) -> Vec<(Vec<String>, Vec<String>, bool, Option<String>, i32)> {
        let mut token = None;
        let mut out = Vec::new();
        loop {
            let input = ListObjectsV2Input::builder()
                .bucket("b".to_owned())
                .prefix(Some(prefix.to_owned()))
                .delimiter(delimiter.map(str::to_owned))
                .start_after(start_after.map(str::to_owned))
                .continuation_token(token.clone())
                .max_keys(Some(max_keys))
                .build()
                .unwrap();
            let page = backend
                .list_objects_v2(s3_request(input))
                .await
                .unwrap()
                .output;
            let keys = page
                .contents
                .unwrap_or_default()
                .into_iter()
                .map(|o| format!("{}:{}", o.key.unwrap(), o.size.unwrap()))
                .collect();
            let prefixes = page
                .common_prefixes
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.prefix.unwrap())
                .collect();
            let truncated = page.is_truncated.unwrap();
            token = page.next_continuation_token.clone();
            out.push((
                keys,
                prefixes,
                truncated,
                page.next_continuation_token,
                page.key_count.unwrap(),
            ));
            if !truncated {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn prefix_listing_answers_what_s3s_fs_answers() {
        let root = tempfile::tempdir().unwrap();
        let writer = FsWriter::new(root.path()).unwrap();
        writer.create_bucket("b").await.unwrap();
        let keys = [
            "top.json",
            "AWSLogs/1/CloudTrail/us-east-1/2024/03/01/a.json.gz",
            "AWSLogs/1/CloudTrail/us-east-1/2024/03/01/b.json.gz",
            "AWSLogs/1/CloudTrail/us-east-1/2024/03/02/c.json.gz",
            "AWSLogs/1/CloudTrail/us-west-2/2024/03/01/d.json.gz",
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/e.json.gz",
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/f.json.gz",
            "AWSLogs/2/CloudTrail-Digest/us-east-1/2024/03/01/g.json.gz",
            "AWSLogs/2/x",
        ];
        for (i, key) in keys.iter().enumerate() {
            let body = vec![b'x'; i + 1];
            writer
                .put("b", key, body, &std::collections::BTreeMap::new())
                .await
                .unwrap();
        }
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let fast = PrefixListing {
            fs: s3s_fs::FileSystem::new(root.path()).unwrap(),
            root: root.path().to_owned(),
        };
        for prefix in [
            "",
            "AWSLogs/",
            "AWSLogs/1/CloudTrail",
            "AWSLogs/1/CloudTrail/",
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/",
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/f",
            "AWSLogs/2/",
            "AWSLogs/3/",
            "nothing",
        ] {
            for delimiter in [None, Some("/")] {
                for start_after in [
                    None,
                    Some("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/e.json.gz"),
                ] {
                    for max_keys in [1, 2, 1000] {
                        assert_eq!(
                            pages(&fast, prefix, delimiter, start_after, max_keys).await,
                            pages(&fs, prefix, delimiter, start_after, max_keys).await,
                            "prefix {prefix:?}, delimiter {delimiter:?}, start after {start_after:?}, max keys {max_keys}"
                        );
                    }
                }
            }
        }
    }
}

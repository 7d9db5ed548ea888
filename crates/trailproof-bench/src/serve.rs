//! `serve`: a generated trail behind a local S3 server (s3s + s3s-fs) and a fake CloudTrail
//! endpoint on 127.0.0.1, for `trailproof validate` and `aws cloudtrail validate-logs` alike.
//!
//! Adapted from the test harness in `crates/trailproof-aws/tests/common/mod.rs` (same s3s setup,
//! same CloudTrail JSON 1.1 answers), minus fault injection, plus a fixed delay before every S3
//! request (`--delay-ms`) to stand for the round trip to S3 over a WAN, and a persistent s3s-fs
//! root so a large trail is uploaded once and served many times.

use std::convert::Infallible;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::http::Extensions;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::dto::{CreateBucketInput, PutObjectInput, StreamingBlob};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Request, S3};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Credentials the server accepts (any client of the benchmark uses these).
pub const ACCESS_KEY: &str = "AKIDTRAILPROOFBENCH";
pub const SECRET_KEY: &str = "trailproof-bench-secret-key";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A directory made by `gen` (its `archive/` and `trail.json`).
    #[arg(long)]
    trail: PathBuf,
    /// The s3s-fs root. The archive is uploaded into it unless it already holds this trail.
    #[arg(long)]
    root: PathBuf,
    /// Delay before every S3 request is handled, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Written once the servers are ready: `S3_URL=…` and `CLOUDTRAIL_URL=…` lines.
    #[arg(long)]
    env_file: PathBuf,
    /// PutObject requests in flight while uploading.
    #[arg(long, default_value_t = 32)]
    upload_concurrency: usize,
}

/// Request counters, served as JSON at `GET /stats` on the CloudTrail endpoint.
#[derive(Debug, Default)]
struct Stats {
    s3_get: AtomicU64,
    s3_list: AtomicU64,
    s3_other: AtomicU64,
    cloudtrail: AtomicU64,
}

impl Stats {
    fn to_json(&self) -> Value {
        json!({
            "s3_get": self.s3_get.load(Ordering::Relaxed),
            "s3_list": self.s3_list.load(Ordering::Relaxed),
            "s3_other": self.s3_other.load(Ordering::Relaxed),
            "cloudtrail": self.cloudtrail.load(Ordering::Relaxed),
        })
    }
}

pub fn run(args: &ServeArgs) -> crate::Result<()> {
    let trail: Value = serde_json::from_slice(&fs::read(args.trail.join("trail.json"))?)?;
    let archive = args.trail.join("archive");
    let keys: Value = serde_json::from_slice(&fs::read(archive.join("public-keys.json"))?)?;
    fs::create_dir_all(&args.root)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let marker = args.root.join(".trailproof-bench-loaded");
        let wanted = serde_json::to_string(&trail)?;
        if fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
            let started = Instant::now();
            let n = upload(&args.root, &archive, &trail, args.upload_concurrency).await?;
            fs::write(&marker, &wanted)?;
            eprintln!(
                "serve: uploaded {n} objects in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        let stats = Arc::new(Stats::default());
        let s3_url = start_s3(&args.root, args.delay_ms, stats.clone()).await?;
        let ct_url = start_cloudtrail(&trail, &keys, stats.clone()).await?;
        let tmp = args.env_file.with_extension("partial");
        fs::write(&tmp, format!("S3_URL={s3_url}\nCLOUDTRAIL_URL={ct_url}\n"))?;
        fs::rename(&tmp, &args.env_file)?;
        eprintln!(
            "serve: S3 {s3_url} (delay {} ms), CloudTrail {ct_url}",
            args.delay_ms
        );
        // Serve until killed.
        std::future::pending::<()>().await;
        Ok::<(), BoxError>(())
    })
}

/// Accepts connections on `listener` forever, serving each with `serve`.
fn spawn_server<F, Fut, B>(listener: TcpListener, serve: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<B>, BoxError>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            // Without it, small answers wait for the peer's delayed ACK (~40 ms per request).
            let _ = socket.set_nodelay(true);
            let serve = serve.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service_fn(serve))
                    .await;
            });
        }
    });
}

async fn start_s3(root: &Path, delay_ms: u64, stats: Arc<Stats>) -> crate::Result<String> {
    let fs = s3s_fs::FileSystem::new(root)
        .map_err(|e| format!("s3s-fs root {}: {e:?}", root.display()))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    spawn_server(listener, move |req| {
        s3_handle(service.clone(), delay_ms, stats.clone(), req)
    });
    Ok(url)
}

async fn s3_handle(
    s3: S3Service,
    delay_ms: u64,
    stats: Arc<Stats>,
    req: Request<Incoming>,
) -> Result<Response<s3s::Body>, BoxError> {
    let query = req.uri().query().unwrap_or("");
    let counter = if *req.method() != Method::GET {
        &stats.s3_other
    } else if query.contains("list-type") || req.uri().path().trim_matches('/').find('/').is_none()
    {
        &stats.s3_list
    } else {
        &stats.s3_get
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    Ok(s3.call(req.map(s3s::Body::from)).await?)
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

/// Creates the bucket and puts every object of the archive directory (not the `.meta.json`
/// sidecars, which become the objects' user metadata, nor `public-keys.json`), through s3s-fs's
/// own `CreateBucket` / `PutObject` called in-process (no HTTP, no SDK).
async fn upload(
    root: &Path,
    archive: &Path,
    trail: &Value,
    concurrency: usize,
) -> crate::Result<usize> {
    let bucket = trail["bucket"]
        .as_str()
        .ok_or("trail.json: no bucket")?
        .to_owned();
    let fs = Arc::new(
        s3s_fs::FileSystem::new(root)
            .map_err(|e| format!("s3s-fs root {}: {e:?}", root.display()))?,
    );
    let create = CreateBucketInput::builder()
        .bucket(bucket.clone())
        .build()?;
    if let Err(e) = fs.create_bucket(s3_request(create)).await {
        // Left by an interrupted upload: fine, objects are overwritten.
        let code = e.code().as_str();
        if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
            return Err(format!("CreateBucket {bucket}: {e:?}").into());
        }
    }
    let mut files = Vec::new();
    list_files(archive, archive, &mut files)?;
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
        let bucket = bucket.clone();
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

/// Every file under `dir`, with its path relative to `base` using `/` (its S3 key).
fn list_files(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
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

async fn start_cloudtrail(trail: &Value, keys: &Value, stats: Arc<Stats>) -> crate::Result<String> {
    let described = json!({
        "Name": trailproof_bench::TRAIL_NAME,
        "S3BucketName": trail["bucket"],
        "TrailARN": trail["trail_arn"],
        "HomeRegion": trail["region"],
        "IsMultiRegionTrail": false,
        "IsOrganizationTrail": false,
        "LogFileValidationEnabled": true,
        "IncludeGlobalServiceEvents": true,
    });
    let state = Arc::new(CloudTrail {
        keys: keys["PublicKeyList"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        trail: described,
        stats,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    spawn_server(listener, move |req| {
        let state = state.clone();
        async move {
            cloudtrail_handle(state, req)
                .await
                .map_err(|e| -> BoxError { match e {} })
        }
    });
    Ok(url)
}

struct CloudTrail {
    /// `PublicKeyList` entries as `list-public-keys` prints them (epoch seconds).
    keys: Vec<Value>,
    /// The one trail `DescribeTrails` / `GetTrail` answer with.
    trail: Value,
    stats: Arc<Stats>,
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("bench-request"),
    );
    response
}

fn json_error(kind: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"__type": kind, "message": message}),
    )
}

/// `ListPublicKeys` (every key valid in the window, on one page: the AWS CLI reads only the
/// first), `DescribeTrails`, `GetTrail`; and `GET /stats`.
async fn cloudtrail_handle(
    state: Arc<CloudTrail>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == Method::GET && req.uri().path() == "/stats" {
        return Ok(json_response(StatusCode::OK, &state.stats.to_json()));
    }
    state.stats.cloudtrail.fetch_add(1, Ordering::Relaxed);
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // `CloudTrail_20131101.ListPublicKeys` (the SDKs) or, from newer botocore, the shape id
    // `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys`.
    let operation = target.rsplit('.').next().unwrap_or("");
    let response = match operation {
        "ListPublicKeys" => {
            let start = input
                .get("StartTime")
                .and_then(Value::as_f64)
                .unwrap_or(f64::MIN);
            let end = input
                .get("EndTime")
                .and_then(Value::as_f64)
                .unwrap_or(f64::MAX);
            let keys: Vec<&Value> = state
                .keys
                .iter()
                .filter(|k| {
                    k["ValidityStartTime"].as_f64().unwrap_or(f64::MIN) <= end
                        && k["ValidityEndTime"].as_f64().unwrap_or(f64::MAX) >= start
                })
                .collect();
            json_response(StatusCode::OK, &json!({"PublicKeyList": keys}))
        }
        "DescribeTrails" => json_response(StatusCode::OK, &json!({"trailList": [state.trail]})),
        "GetTrail" => json_response(StatusCode::OK, &json!({"Trail": state.trail})),
        _ => json_error("UnknownOperationException", &target),
    };
    Ok(response)
}

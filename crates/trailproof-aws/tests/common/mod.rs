//! Test harness: a real S3-compatible server (s3s + s3s-fs over a temp dir) behind a fault
//! injector, and a small CloudTrail / Organizations JSON 1.1 endpoint, both on 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use trailproof::{Chain, KeySet, MemoryStore, Object, Options, Parallelism, Report};
use trailproof_aws::{AwsContext, AwsOptions, S3Store};
use trailproof_testkit::Trail;

pub const ACCESS_KEY: &str = "AKIDTRAILPROOFTEST";
pub const SECRET_KEY: &str = "trailproof-test-secret-key";
pub const REGION: &str = "us-east-1";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

struct Rule {
    fault: Fault,
    /// Remaining times; `None`: forever.
    remaining: Option<u32>,
}

/// Faults by request name (see [`request_name`]) plus a log of every request.
#[derive(Default)]
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
    #[allow(dead_code)]
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

async fn s3_handle(
    s3: S3Service,
    faults: Arc<Faults>,
    req: Request<Incoming>,
) -> Result<Response<s3s::Body>, BoxError> {
    let now = faults.server_now();
    let mut response = s3_answer(s3, &faults, req, now).await?;
    // The server's clock, as S3 sends it, from which clients learn their skew.
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    response.headers_mut().insert("date", date.parse()?);
    Ok(response)
}

async fn s3_answer(
    s3: S3Service,
    faults: &Faults,
    req: Request<Incoming>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Response<s3s::Body>, BoxError> {
    let name = request_name(
        req.method(),
        req.uri().path(),
        req.uri().query().unwrap_or(""),
    );
    {
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

/// Accepts connections on `listener` forever, serving each with `serve`.
fn spawn_server<F, Fut, B>(listener: TcpListener, serve: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, BoxError>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            // Without it, small answers wait for the peer's delayed ACK (~40 ms per request).
            socket.set_nodelay(true).unwrap();
            let serve = serve.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service_fn(serve))
                    .await;
            });
        }
    });
}

/// An s3s-fs server on 127.0.0.1 behind the fault injector.
pub struct S3Server {
    pub url: String,
    pub faults: Arc<Faults>,
    pub root: tempfile::TempDir,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        // The fault injector checks request times against its own, possibly offset, clock;
        // s3s's check against the real one is widened out of the way.
        let mut config = s3s::config::S3Config::default();
        config.presigned_url_max_skew_time_secs = 10 * 24 * 3600;
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            config,
        ))));
        let service = builder.build();
        let faults = Arc::new(Faults::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let f = faults.clone();
        spawn_server(listener, move |req| {
            s3_handle(service.clone(), f.clone(), req)
        });
        S3Server { url, faults, root }
    }
}

/// State of the fake CloudTrail / Organizations endpoint.
pub struct FakeCloudTrail {
    /// `PublicKeyList` entries as the API returns them.
    pub keys: Mutex<Vec<Value>>,
    /// Keys per `ListPublicKeys` page.
    pub page_size: usize,
    /// `Trail` objects for `DescribeTrails` / `GetTrail`.
    pub trails: Mutex<Vec<Value>>,
    pub organization_id: Mutex<Option<String>>,
    /// What `GetTrailStatus` answers (epoch seconds, as on the wire).
    pub trail_status: Mutex<Value>,
    /// Every call: target and request body.
    pub calls: Mutex<Vec<(String, Value)>>,
}

impl FakeCloudTrail {
    pub fn calls_to(&self, operation: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.rsplit('.').next() == Some(operation))
            .map(|(_, b)| b.clone())
            .collect()
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-requestid", "fake-request")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn json_error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({"__type": kind, "message": message}))
}

fn epoch(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

async fn cloudtrail_handle(
    state: Arc<FakeCloudTrail>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let signed = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")));
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state
        .calls
        .lock()
        .unwrap()
        .push((target.clone(), input.clone()));
    if !signed {
        return Ok(json_error(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "not signed",
        ));
    }
    // `CloudTrail_20131101.ListPublicKeys` (the SDKs) or, from newer botocore, the shape id
    // `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys`.
    let mut parts = target.rsplit('.');
    let operation = parts.next().unwrap_or("");
    let service = parts.next().unwrap_or("");
    let response = match (service, operation) {
        ("CloudTrail_20131101", "ListPublicKeys") => {
            let start = epoch(input.get("StartTime")).unwrap_or(f64::MIN);
            let end = epoch(input.get("EndTime")).unwrap_or(f64::MAX);
            let keys: Vec<Value> = state
                .keys
                .lock()
                .unwrap()
                .iter()
                .filter(|k| {
                    epoch(k.get("ValidityStartTime")).unwrap_or(f64::MIN) <= end
                        && epoch(k.get("ValidityEndTime")).unwrap_or(f64::MAX) >= start
                })
                .cloned()
                .collect();
            let from: usize = match input.get("NextToken").and_then(Value::as_str) {
                None => 0,
                Some(t) => match t.strip_prefix("page-").and_then(|n| n.parse().ok()) {
                    Some(n) => n,
                    None => {
                        return Ok(json_error(
                            StatusCode::BAD_REQUEST,
                            "InvalidTokenException",
                            "bad token",
                        ));
                    }
                },
            };
            let to = (from + state.page_size.max(1)).min(keys.len());
            let mut out = json!({"PublicKeyList": keys.get(from..to).unwrap_or(&[])});
            if to < keys.len() {
                out["NextToken"] = json!(format!("page-{to}"));
            }
            json_response(StatusCode::OK, &out)
        }
        ("CloudTrail_20131101", "DescribeTrails") => {
            let names: Vec<String> = input
                .get("trailNameList")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let trails: Vec<Value> = state
                .trails
                .lock()
                .unwrap()
                .iter()
                .filter(|t| {
                    names.is_empty()
                        || names.iter().any(|n| {
                            Some(n.as_str()) == t["TrailARN"].as_str()
                                || Some(n.as_str()) == t["Name"].as_str()
                        })
                })
                .cloned()
                .collect();
            json_response(StatusCode::OK, &json!({"trailList": trails}))
        }
        ("CloudTrail_20131101", "GetTrail") => {
            let name = input.get("Name").and_then(Value::as_str).unwrap_or("");
            let trail = state
                .trails
                .lock()
                .unwrap()
                .iter()
                .find(|t| t["TrailARN"].as_str() == Some(name) || t["Name"].as_str() == Some(name))
                .cloned();
            match trail {
                Some(t) => json_response(StatusCode::OK, &json!({"Trail": t})),
                None => json_error(
                    StatusCode::BAD_REQUEST,
                    "TrailNotFoundException",
                    "Unknown trail",
                ),
            }
        }
        ("CloudTrail_20131101", "GetTrailStatus") => {
            let name = input.get("Name").and_then(Value::as_str).unwrap_or("");
            let known =
                state.trails.lock().unwrap().iter().any(|t| {
                    t["TrailARN"].as_str() == Some(name) || t["Name"].as_str() == Some(name)
                });
            if known {
                json_response(StatusCode::OK, &state.trail_status.lock().unwrap())
            } else {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "TrailNotFoundException",
                    "Unknown trail",
                )
            }
        }
        ("AWSOrganizationsV20161128", "DescribeOrganization") => {
            match state.organization_id.lock().unwrap().clone() {
                Some(id) => json_response(
                    StatusCode::OK,
                    &json!({"Organization": {"Id": id, "Arn": format!("arn:aws:organizations::999988887777:organization/{id}"), "MasterAccountId": "999988887777"}}),
                ),
                None => json_error(
                    StatusCode::BAD_REQUEST,
                    "AWSOrganizationsNotInUseException",
                    "Your account is not a member of an organization.",
                ),
            }
        }
        _ => json_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &target,
        ),
    };
    Ok(response)
}

/// The fake CloudTrail endpoint.
pub struct CloudTrailServer {
    pub url: String,
    pub state: Arc<FakeCloudTrail>,
}

impl CloudTrailServer {
    pub async fn start(page_size: usize) -> CloudTrailServer {
        let state = Arc::new(FakeCloudTrail {
            keys: Mutex::new(Vec::new()),
            page_size,
            trails: Mutex::new(Vec::new()),
            organization_id: Mutex::new(None),
            trail_status: Mutex::new(json!({"IsLogging": true})),
            calls: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let s = state.clone();
        spawn_server(listener, move |req| {
            let s = s.clone();
            async move {
                cloudtrail_handle(s, req)
                    .await
                    .map_err(|e| -> BoxError { match e {} })
            }
        });
        CloudTrailServer { url, state }
    }

    /// Publishes the trail's keys (its `list-public-keys` output) and describes the trail.
    pub fn serve_trail(&self, trail: &Trail) {
        let doc: Value = serde_json::from_str(&trail.archive.public_keys_json()).unwrap();
        self.state
            .keys
            .lock()
            .unwrap()
            .extend(doc["PublicKeyList"].as_array().unwrap().iter().cloned());
        let mut t = json!({
            "Name": trail.trail_name(),
            "S3BucketName": trail.bucket(),
            "TrailARN": trail.trail_arn(),
            "HomeRegion": trail.home_region(),
            "IsMultiRegionTrail": false,
            "IsOrganizationTrail": trail.organization().is_some(),
            "LogFileValidationEnabled": true,
            "IncludeGlobalServiceEvents": true,
        });
        if let Some(prefix) = trail.prefix() {
            t["S3KeyPrefix"] = json!(prefix);
        }
        self.state.trails.lock().unwrap().push(t);
        *self.state.organization_id.lock().unwrap() = trail.organization().map(str::to_owned);
    }

    /// Lists first a key no digest uses (the SubjectPublicKeyInfo form of the testkit's key:
    /// another fingerprint, the same validity), so with one key per page the trail's key is only
    /// found by reading the next page.
    pub fn add_decoy_key(&self) {
        let decoy = trailproof_testkit::TrailBuilder::new()
            .hours(1)
            .spki_keys(true)
            .build();
        let doc: Value = serde_json::from_str(&decoy.archive.public_keys_json()).unwrap();
        let key = doc["PublicKeyList"][0].clone();
        self.state.keys.lock().unwrap().insert(0, key);
    }
}

/// Both servers on one multi-thread runtime, which the stores under test also block on.
pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub s3: S3Server,
    pub cloudtrail: CloudTrailServer,
}

/// Fast retries so fault tests stay quick; the retry policy itself is the library's.
pub fn test_options() -> AwsOptions {
    AwsOptions::new()
        .region(Some(REGION))
        .max_attempts(5)
        .backoff(Duration::from_millis(5), Duration::from_millis(40))
        .timeouts(
            Duration::from_secs(5),
            Duration::from_secs(10),
            Duration::from_secs(20),
            Duration::from_secs(60),
        )
}

impl Harness {
    pub fn start(key_page_size: usize) -> Harness {
        let rt = trailproof_aws::runtime().unwrap();
        let (s3, cloudtrail) = rt.block_on(async {
            (
                S3Server::start().await,
                CloudTrailServer::start(key_page_size).await,
            )
        });
        Harness { rt, s3, cloudtrail }
    }

    /// A context with static credentials and the S3 / CloudTrail endpoints set per service.
    pub fn context(&self, options: &AwsOptions) -> AwsContext {
        self.context_with(options, |loader| loader)
    }

    /// [`Harness::context`] with the loader adjusted by `adjust` first (a custom HTTP client).
    pub fn context_with(
        &self,
        options: &AwsOptions,
        adjust: impl FnOnce(aws_config::ConfigLoader) -> aws_config::ConfigLoader,
    ) -> AwsContext {
        let s3_url = self.s3.url.clone();
        let ct_url = self.cloudtrail.url.clone();
        self.rt
            .block_on(async {
                let loader =
                    adjust(aws_config::defaults(BehaviorVersion::latest())).credentials_provider(
                        Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "trailproof-tests"),
                    );
                let ctx = AwsContext::from_loader(loader, options).await?;
                // Point each service at its server, as AWS_ENDPOINT_URL_S3 / _CLOUDTRAIL would.
                let config = ctx
                    .sdk_config()
                    .to_builder()
                    .service_config(Endpoints {
                        s3: s3_url,
                        cloudtrail: ct_url,
                    })
                    .build();
                Ok::<_, trailproof::Error>(AwsContext::from_sdk_config(config))
            })
            .unwrap()
    }

    pub fn store(&self, ctx: &AwsContext) -> S3Store {
        S3Store::new(ctx, self.rt.handle().clone()).unwrap()
    }

    /// Points a client process (the AWS CLI, trailproof) at these servers and nothing else:
    /// static credentials, per-service endpoints, path-style S3, no profile, no instance
    /// metadata. `home` holds its config files.
    pub fn point_at(&self, cmd: &mut std::process::Command, home: &std::path::Path) {
        std::fs::write(
            home.join("config"),
            "[default]\ns3 =\n    addressing_style = path\n",
        )
        .unwrap();
        for var in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_SESSION_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", home.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_ENDPOINT_URL_S3", &self.s3.url)
            .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &self.cloudtrail.url)
            .env("AWS_ENDPOINT_URL_ORGANIZATIONS", &self.cloudtrail.url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::null());
    }

    /// Creates the trail's buckets and puts every object with its user metadata.
    pub fn upload(&self, ctx: &AwsContext, trail: &Trail) {
        self.upload_archive(ctx, &trail.archive);
    }

    /// Creates the archive's buckets and puts every object with its user metadata.
    pub fn upload_archive(&self, ctx: &AwsContext, archive: &trailproof_testkit::Archive) {
        let client = ctx.s3_client(REGION);
        self.rt.block_on(async {
            for bucket in archive.buckets() {
                // Uploading more objects later into the same bucket is fine.
                if let Err(e) = client.create_bucket().bucket(&bucket).send().await {
                    let e = format!("{e:?}");
                    assert!(e.contains("BucketAlready"), "CreateBucket {bucket}: {e}");
                }
            }
            for ((bucket, key), object) in &archive.objects {
                let mut put = client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(object.body.clone()));
                for (name, value) in &object.metadata {
                    put = put.metadata(name, value);
                }
                put.send()
                    .await
                    .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
            }
        });
    }
}

/// Per-service endpoints, loaded the way `AWS_ENDPOINT_URL_<SERVICE>` variables are
/// (`AWS_ENDPOINT_URL_ORGANIZATIONS` for Organizations).
#[derive(Debug)]
struct Endpoints {
    s3: String,
    cloudtrail: String,
}

impl aws_types::service_config::LoadServiceConfig for Endpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        if key.profile() != "endpoint_url" {
            return None;
        }
        match key.service_id() {
            "S3" => Some(self.s3.clone()),
            // The CloudTrail fake also answers Organizations.
            "CloudTrail" | "Organizations" => Some(self.cloudtrail.clone()),
            // Never the real AWS from a test.
            other => panic!("no test endpoint for {other}"),
        }
    }
}

/// The trail in memory, with its keys.
pub fn memory_store(trail: &Trail) -> (MemoryStore, KeySet) {
    let mut store = MemoryStore::new();
    for ((bucket, key), o) in &trail.archive.objects {
        store.put(
            bucket,
            key,
            Object {
                bytes: o.body.clone(),
                metadata: Some(o.metadata.clone()),
            },
        );
    }
    // The same keys the local CloudTrail endpoint lists, named as the live runs name them, so
    // an in-memory report equals a live one.
    let keys =
        KeySet::from_list_public_keys_json(trail.archive.public_keys_json().as_bytes(), "keys")
            .unwrap()
            .with_source("CloudTrail ListPublicKeys");
    (store, keys)
}

pub fn chain(trail: &Trail) -> Chain {
    let arn = trailproof::TrailArn::parse(&trail.trail_arn()).unwrap();
    Chain {
        bucket: trail.bucket().to_owned(),
        prefix: trail.prefix().map(str::to_owned),
        organization_id: trail.organization().map(str::to_owned),
        account_id: trail.account().to_owned(),
        source_region: trail.home_region().to_owned(),
        home_region: trail.home_region().to_owned(),
        trail_name: arn.name,
    }
}

pub fn options(trail: &Trail, hours: i64) -> Options {
    Options::new(
        trail.start(),
        trail.start() + chrono::Duration::hours(hours),
    )
    .parallelism(Parallelism::Threads(16))
}

/// Validates the trail from memory (the reference verdicts).
pub fn validate_in_memory(trail: &Trail, hours: i64) -> Report {
    let (store, keys) = memory_store(trail);
    trailproof::validate(
        &store,
        &keys,
        &chain(trail),
        &trail.trail_arn(),
        &options(trail, hours),
    )
    .unwrap()
}

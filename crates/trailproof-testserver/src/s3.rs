//! The local S3 server: s3s + s3s-fs over a directory, behind a fault injector that can answer
//! any request with an error, a reset, a truncated or a stalled body.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::{spawn_server, BoxError, ACCESS_KEY, SECRET_KEY};

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

/// Faults by request name (see [`request_name`]) plus a log of every request.
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
    let response = s3
        .call(req.map(s3s::Body::from))
        .await
        .map_err(BoxError::from)?;
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

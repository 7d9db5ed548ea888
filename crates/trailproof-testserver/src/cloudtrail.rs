//! The fake CloudTrail endpoint: the JSON 1.1 operations trailproof and the AWS CLI call
//! (`ListPublicKeys`, `DescribeTrails`, `GetTrail`, `GetTrailStatus`), and Organizations'
//! `DescribeOrganization` on the same port.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use trailproof_testkit::Trail;

use crate::{spawn_server, BoxError, Stats, ACCESS_KEY};

/// State of the fake CloudTrail / Organizations endpoint.
#[derive(Debug)]
pub struct FakeCloudTrail {
    /// `PublicKeyList` entries as the API returns them.
    pub keys: Mutex<Vec<Value>>,
    /// Keys per `ListPublicKeys` page.
    pub page_size: usize,
    /// `Trail` objects for `DescribeTrails` / `GetTrail`.
    pub trails: Mutex<Vec<Value>>,
    /// What `DescribeOrganization` answers; `None`: not in an organization.
    pub organization_id: Mutex<Option<String>>,
    /// What `GetTrailStatus` answers (epoch seconds, as on the wire). `null`: the operation is
    /// not served (`UnknownOperationException`), so that clients judge a trail's tail from
    /// signed data alone, as `trailproof-bench serve` wants for its trails of the past.
    pub trail_status: Mutex<Value>,
    /// Every call: target and request body.
    pub calls: Mutex<Vec<(String, Value)>>,
    /// The access key id requests must be signed with (the signature itself is not checked).
    pub access_key: String,
    /// Counts every call; served at `GET /stats`.
    pub stats: Arc<Stats>,
}

impl FakeCloudTrail {
    /// The request body of every call to `operation` (`ListPublicKeys`…), in arrival order.
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
    if req.method() == Method::GET && req.uri().path() == "/stats" {
        return Ok(json_response(StatusCode::OK, &state.stats.to_json()));
    }
    state.stats.count_cloudtrail();
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
        .is_some_and(|a| {
            a.starts_with(&format!(
                "AWS4-HMAC-SHA256 Credential={}/",
                state.access_key
            ))
        });
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
            let to = from.saturating_add(state.page_size.max(1)).min(keys.len());
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
            let status = state.trail_status.lock().unwrap().clone();
            if status.is_null() {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "UnknownOperationException",
                    &target,
                )
            } else if known {
                json_response(StatusCode::OK, &status)
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

/// The fake CloudTrail endpoint, which also answers Organizations.
#[derive(Debug)]
pub struct CloudTrailServer {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_CLOUDTRAIL` (and `_ORGANIZATIONS`).
    pub url: String,
    /// What it answers; a test edits it between calls.
    pub state: Arc<FakeCloudTrail>,
}

impl CloudTrailServer {
    /// A server listing `page_size` keys per `ListPublicKeys` page, accepting [`ACCESS_KEY`].
    pub async fn start(page_size: usize) -> CloudTrailServer {
        CloudTrailServer::builder()
            .page_size(page_size)
            .start()
            .await
    }

    /// A server set up otherwise: its page size, access key, [`Stats`].
    pub fn builder() -> CloudTrailServerBuilder {
        CloudTrailServerBuilder {
            page_size: usize::MAX,
            access_key: ACCESS_KEY.to_owned(),
            trail_status: json!({"IsLogging": true}),
            stats: Arc::new(Stats::default()),
        }
    }

    /// Adds the keys of a `list-public-keys` document (`{"PublicKeyList": [...]}`) to those
    /// `ListPublicKeys` answers with.
    pub fn add_public_keys(&self, doc: &Value) {
        let keys = doc["PublicKeyList"].as_array().into_iter().flatten();
        self.state.keys.lock().unwrap().extend(keys.cloned());
    }

    /// Adds a `Trail` object (as `DescribeTrails` returns it) to those described.
    pub fn add_trail(&self, trail: Value) {
        self.state.trails.lock().unwrap().push(trail);
    }

    /// Publishes the trail's keys (its `list-public-keys` output) and describes the trail.
    pub fn serve_trail(&self, trail: &Trail) {
        let doc: Value = serde_json::from_str(&trail.archive.public_keys_json()).unwrap();
        self.add_public_keys(&doc);
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
        self.add_trail(t);
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

/// Options of a [`CloudTrailServer`] other than the defaults of [`CloudTrailServer::start`].
#[derive(Debug)]
pub struct CloudTrailServerBuilder {
    page_size: usize,
    access_key: String,
    trail_status: Value,
    stats: Arc<Stats>,
}

impl CloudTrailServerBuilder {
    /// Keys per `ListPublicKeys` page; by default all on one page (the AWS CLI reads only the
    /// first page).
    pub fn page_size(mut self, keys: usize) -> Self {
        self.page_size = keys;
        self
    }

    /// The access key id requests must be signed with.
    pub fn access_key(mut self, access_key: &str) -> Self {
        self.access_key = access_key.to_owned();
        self
    }

    /// What `GetTrailStatus` answers at first (see [`FakeCloudTrail::trail_status`]); by
    /// default `{"IsLogging": true}`.
    pub fn trail_status(mut self, status: Value) -> Self {
        self.trail_status = status;
        self
    }

    /// Counts calls into `stats` and serves it at `GET /stats`.
    pub fn stats(mut self, stats: Arc<Stats>) -> Self {
        self.stats = stats;
        self
    }

    /// Starts the server on the current Tokio runtime, with no keys and no trails.
    pub async fn start(self) -> CloudTrailServer {
        let state = Arc::new(FakeCloudTrail {
            keys: Mutex::new(Vec::new()),
            page_size: self.page_size,
            trails: Mutex::new(Vec::new()),
            organization_id: Mutex::new(None),
            trail_status: Mutex::new(self.trail_status),
            calls: Mutex::new(Vec::new()),
            access_key: self.access_key,
            stats: self.stats,
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
}

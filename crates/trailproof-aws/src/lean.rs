//! A lean `GetObject` for the objects a run reads by the thousand (log files, digests): one
//! SigV4-signed GET on the SDK's own HTTP connector, without the SDK's per-operation machinery.
//!
//! Profiling live mode showed the SDK's orchestrator (runtime plugins and their config bag, the
//! endpoint rules, auth scheme and identity resolution, interceptors, the retry classifiers,
//! response deserialisation) costing more CPU per small object than gunzip and SHA-256 of its
//! bytes. Everything that must stay the SDK's does: the credentials come from the configuration's
//! provider (the official chain), requests are signed by `aws-sigv4` with the settings the S3
//! client uses, the endpoint of each bucket is the S3 endpoint rules' answer (regional endpoints,
//! FIPS and dual-stack, path style behind an endpoint override), and the connector is the SDK's
//! default one (TLS, connection pool, connect and read timeouts). Only what a GET of an immutable
//! object needs is done again here: retries with backoff and a retry budget, the correction of
//! the local clock from the server's `Date`, the attempt and operation timeouts, and reading S3's
//! error answers.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sdk_s3::primitives::ByteStream;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::Headers;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::{DateTime, Document};
use sha2::{Digest as _, Sha256};
use trailproof::{Metadata, StoreError};

use crate::context::AwsContext;
use crate::errors::chain;

/// SHA-256 of an empty payload: what S3 expects in `x-amz-content-sha256` for a GET.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The `User-Agent` of the lean path's requests.
pub(crate) const USER_AGENT: &str = concat!("trailproof/", env!("CARGO_PKG_VERSION"), " lean-get");

/// Credentials are fetched again this long before they expire (the SDK's cache does likewise).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

/// The most of an error answer's body that is read.
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// S3 error codes worth another attempt besides any 5xx or 429 (the SDK's throttling and
/// transient codes that S3 uses).
const RETRYABLE_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "PriorRequestNotComplete",
    "TooManyRequestsException",
];

/// Error codes that a signature made with a wrong clock draws (the SDK's clock-skew codes).
const CLOCK_SKEW_CODES: &[&str] = &[
    "RequestTimeTooSkewed",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "AccessDeniedException",
];

/// A learnt clock offset that changes by more than this makes a clock-skew error worth one more
/// attempt (the SDK's detection threshold).
const SKEW_THRESHOLD_MS: i64 = 4 * 60 * 1000;

/// An answer that took longer than this says too little about the server's clock (the SDK's
/// limit).
const MAX_TRUSTED_ROUND_TRIP: Duration = Duration::from_secs(15 * 60);

/// How long the first requests wait for the first answer, which tells the server's clock, before
/// going on without it.
const CALIBRATION_WAIT: Duration = Duration::from_secs(5);

/// The retry budget (the SDK's standard retry mode's token bucket): its size, what a retry
/// costs, what a retry after a timeout or a broken connection costs.
const BUDGET_CAPACITY: u32 = 500;
const RETRY_COST: u32 = 5;
const TIMEOUT_RETRY_COST: u32 = 10;

/// S3 error codes that mean throttling: their retries cost [`RETRY_COST`], other server errors
/// cost [`TIMEOUT_RETRY_COST`] like timeouts (as the SDK classifies them).
const THROTTLING_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "TooManyRequestsException",
    "PriorRequestNotComplete",
];

/// A `GetObject` answer, from either path.
pub(crate) struct Got {
    pub e_tag: Option<String>,
    pub content_length: Option<u64>,
    pub content_range: Option<String>,
    /// User metadata, names lowercased, without `x-amz-meta-`.
    pub metadata: Metadata,
    pub body: ByteStream,
}

/// Why a `GetObject` failed, from either path.
#[derive(Debug)]
pub(crate) enum GetError {
    NotFound,
    NoSuchBucket(String),
    /// Anything else, described like `errors::describe` does (`InternalError: … (HTTP 500)`).
    Other(String),
    /// Before the request (the bucket's region could not be found).
    Store(StoreError),
}

impl GetError {
    /// One line for a message that already names the object.
    pub(crate) fn describe(&self) -> String {
        match self {
            GetError::NotFound => "NoSuchKey (HTTP 404)".to_owned(),
            GetError::NoSuchBucket(reason) | GetError::Other(reason) => reason.clone(),
            GetError::Store(e) => e.to_string(),
        }
    }

    /// The store's error for `bucket/key`.
    pub(crate) fn into_store(self, bucket: &str, key: &str) -> StoreError {
        match self {
            GetError::NotFound => StoreError::NotFound {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            },
            GetError::NoSuchBucket(reason) => StoreError::NoSuchBucket {
                bucket: bucket.to_owned(),
                reason,
            },
            GetError::Other(reason) => {
                StoreError::unreadable(bucket, key, format!("GetObject: {reason}"))
            }
            GetError::Store(e) => e,
        }
    }
}

/// Where and how to sign a bucket's requests, from the S3 endpoint rules.
struct Target {
    /// The bucket's URL (`https://b.s3.us-east-1.amazonaws.com`, `http://host:port/b`).
    base: String,
    signing_name: String,
    signing_region: String,
    double_encode: bool,
    headers: Vec<(String, String)>,
    /// `Host` as SigV4 canonicalises it, when the request can be signed by `sign_fast` (S3's
    /// usual case: no endpoint headers, single encoding).
    fast: Option<String>,
    /// The SigV4 signing key of the day and access key it was derived for.
    key: RwLock<Option<SigningKey>>,
}

struct SigningKey {
    date: String,
    access_key_id: String,
    secret: String,
    key: Vec<u8>,
}

/// The lean `GetObject` of one [`AwsContext`]: cheap to share between tasks.
pub(crate) struct LeanGet {
    connector: SharedHttpConnector,
    credentials: SharedCredentialsProvider,
    identity: RwLock<Option<Identity>>,
    refreshing: tokio::sync::Mutex<()>,
    targets: Mutex<HashMap<String, Option<Arc<Target>>>>,
    endpoint: Option<String>,
    use_fips: bool,
    use_dual_stack: bool,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    /// Shared by every request of this context, so that an endpoint that fails everything gets
    /// about one attempt per object once the budget is spent, not `max_attempts`.
    budget: RetryBudget,
    /// The server's clock minus this host's, in milliseconds, as last learnt from a `Date`.
    skew_ms: AtomicI64,
    /// Whether an answer (or a failure) came back yet: until then, requests wait for the first
    /// one, so that a wrong local clock costs one rejected request, not one per request in flight.
    calibrated: AtomicBool,
    calibrating: tokio::sync::Mutex<()>,
    attempt_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    /// Longest wait for the next piece of a body (the SDK's stalled-stream protection does this
    /// for its own bodies).
    pub stall_timeout: Duration,
}

impl fmt::Debug for LeanGet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeanGet")
            .field("endpoint", &self.endpoint)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl LeanGet {
    /// The lean path for `ctx`, or `None` when the configuration asks for something it does not
    /// do: a caller's own HTTP client (tests, proxies through custom connectors) keeps the SDK.
    pub(crate) fn new(ctx: &AwsContext) -> Option<LeanGet> {
        let config = ctx.sdk_config();
        if config.http_client().is_some() {
            return None;
        }
        let credentials = config.credentials_provider()?;
        let timeouts = config.timeout_config();
        let mut settings = HttpConnectorSettings::builder();
        if let Some(t) = timeouts.and_then(|t| t.connect_timeout()) {
            settings = settings.connect_timeout(t);
        }
        if let Some(t) = timeouts.and_then(|t| t.read_timeout()) {
            settings = settings.read_timeout(t);
        }
        let connector = aws_smithy_http_client::default_connector(
            &settings.build(),
            aws_smithy_async::rt::sleep::default_async_sleep(),
        )?;
        let retry = config.retry_config();
        Some(LeanGet {
            connector,
            credentials,
            identity: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            targets: Mutex::default(),
            endpoint: ctx.s3_endpoint_override().map(str::to_owned),
            use_fips: config.use_fips().unwrap_or(false),
            use_dual_stack: config.use_dual_stack().unwrap_or(false),
            max_attempts: retry.map_or(3, |r| r.max_attempts()).max(1),
            initial_backoff: retry.map_or(Duration::from_secs(1), |r| r.initial_backoff()),
            max_backoff: retry.map_or(Duration::from_secs(20), |r| r.max_backoff()),
            budget: RetryBudget::new(BUDGET_CAPACITY),
            skew_ms: AtomicI64::new(0),
            calibrated: AtomicBool::new(false),
            calibrating: tokio::sync::Mutex::new(()),
            attempt_timeout: timeouts.and_then(|t| t.operation_attempt_timeout()),
            operation_timeout: timeouts.and_then(|t| t.operation_timeout()),
            stall_timeout: timeouts
                .and_then(|t| t.read_timeout())
                .unwrap_or(Duration::from_secs(30)),
        })
    }

    /// Whether `bucket`'s target is known, so that the region lookup can be skipped.
    pub(crate) fn knows(&self, bucket: &str) -> bool {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(bucket)
    }

    /// `GetObject` of `bucket/key` (in `region`), optionally from byte `from` of the version
    /// with ETag `if_match`. `None` when the endpoint rules ask for something other than plain
    /// SigV4 (S3 Express, access points): the caller then uses the SDK.
    pub(crate) async fn get(
        &self,
        bucket: &str,
        region: Option<&str>,
        key: &str,
        resume: Option<(u64, &str)>,
    ) -> Option<Result<Got, GetError>> {
        let target = self.target(bucket, region).await?;
        let mut uri = String::with_capacity(target.base.len() + key.len() + 24);
        uri.push_str(target.base.trim_end_matches('/'));
        uri.push('/');
        encode_key(key, &mut uri);
        uri.push_str("?x-id=GetObject");
        let run = self.with_retries(&target, &uri, resume);
        Some(match self.operation_timeout {
            Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                Err(GetError::Other(format!(
                    "timeout: the operation did not complete within {limit:?}"
                )))
            }),
            None => run.await,
        })
    }

    async fn with_retries(
        &self,
        target: &Target,
        uri: &str,
        resume: Option<(u64, &str)>,
    ) -> Result<Got, GetError> {
        let mut attempt = 1;
        // The tokens the last retry took: given back if it succeeds (as the SDK does).
        let mut held = 0;
        let mut skew_retried = false;
        loop {
            let once = self.attempt(target, uri, resume);
            let result = match self.attempt_timeout {
                Some(limit) => tokio::time::timeout(limit, once).await.unwrap_or_else(|_| {
                    Err(Failure::Retry(
                        GetError::Other(format!(
                            "timeout: the attempt did not complete within {limit:?}"
                        )),
                        TIMEOUT_RETRY_COST,
                    ))
                }),
                None => once.await,
            };
            let (error, cost, wait) = match result {
                Ok(got) => {
                    self.budget.give(if held > 0 { held } else { 1 });
                    return Ok(got);
                }
                Err(Failure::Final(e)) => return Err(e),
                // Signed with the wrong time: the offset is corrected now, so at once, and once
                // only (a server whose clock keeps jumping does not earn more).
                Err(Failure::Skewed(e)) if skew_retried => return Err(e),
                Err(Failure::Skewed(e)) => {
                    skew_retried = true;
                    (e, RETRY_COST, false)
                }
                Err(Failure::Retry(e, cost)) => (e, cost, true),
            };
            if attempt >= self.max_attempts {
                return Err(error);
            }
            if !self.budget.take(cost) {
                return Err(GetError::Other(format!(
                    "{}; not retried: the retry budget is spent (too many failed requests)",
                    error.describe()
                )));
            }
            held = cost;
            if wait {
                // Exponential backoff with full jitter, as the SDK's standard retry mode.
                let exp = self
                    .initial_backoff
                    .saturating_mul(1 << (attempt - 1).min(16))
                    .min(self.max_backoff);
                tokio::time::sleep(exp.mul_f64(fastrand::f64())).await;
            }
            attempt += 1;
        }
    }

    /// The current offset of the server's clock from this host's, in milliseconds.
    fn clock_skew_ms(&self) -> i64 {
        self.skew_ms.load(Ordering::Relaxed)
    }

    /// Learns the server's clock from an answer's `Date`, as the SDK does: against the middle of
    /// the round trip, unless the answer came from a cache or took too long. Returns the offset
    /// learnt.
    fn learn_clock(&self, headers: &Headers, sent: SystemTime) -> Option<i64> {
        if headers.get("age").is_some() {
            return None;
        }
        let server = DateTime::from_str(headers.get("date")?, Format::HttpDate).ok()?;
        let server = SystemTime::try_from(server).ok()?;
        let elapsed = SystemTime::now().duration_since(sent).unwrap_or_default();
        if elapsed > MAX_TRUSTED_ROUND_TRIP {
            return None;
        }
        let midpoint = sent + elapsed / 2;
        let skew = match server.duration_since(midpoint) {
            Ok(ahead) => i64::try_from(ahead.as_millis()).ok()?,
            Err(behind) => i64::try_from(behind.duration().as_millis())
                .ok()?
                .checked_neg()?,
        };
        self.skew_ms.store(skew, Ordering::Relaxed);
        Some(skew)
    }

    async fn attempt(
        &self,
        target: &Target,
        uri: &str,
        resume: Option<(u64, &str)>,
    ) -> Result<Got, Failure> {
        let identity = self.identity().await.map_err(Failure::Final)?;
        let mut first = None;
        if !self.calibrated.load(Ordering::Acquire) {
            if let Ok(guard) = tokio::time::timeout(CALIBRATION_WAIT, self.calibrating.lock()).await
            {
                if !self.calibrated.load(Ordering::Acquire) {
                    first = Some(guard);
                }
            }
        }
        let signed_skew = self.clock_skew_ms();
        let sent = SystemTime::now();
        let now = apply_skew(sent, signed_skew);
        let signed = match &target.fast {
            Some(host) => sign_fast(target, host, uri, resume, &identity, now),
            None => sign_get(target, uri, resume, &identity, now),
        };
        let request = signed.map_err(|e| Failure::Final(GetError::Other(e)))?;
        let answer = self.connector.call(request).await;
        let learnt = match &answer {
            Ok(response) => self.learn_clock(response.headers(), sent),
            Err(_) => None,
        };
        if first.take().is_some() {
            self.calibrated.store(true, Ordering::Release);
        }
        let response = match answer {
            Ok(r) => r,
            Err(e) if e.is_user() => {
                return Err(Failure::Final(GetError::Other(format!(
                    "dispatch failure: {}",
                    chain(&e)
                ))))
            }
            Err(e) => {
                return Err(Failure::Retry(
                    GetError::Other(format!("dispatch failure: {}", chain(&e))),
                    TIMEOUT_RETRY_COST,
                ))
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        if status == 200 || status == 206 {
            let header = |name: &str| headers.get(name).map(str::to_owned);
            let metadata = user_metadata(headers);
            return Ok(Got {
                e_tag: header("etag"),
                content_length: headers.get("content-length").and_then(|n| n.parse().ok()),
                content_range: header("content-range"),
                metadata,
                body: ByteStream::new(response.into_body()),
            });
        }
        // A clock-skew error is worth another attempt only when the server's clock, learnt
        // from this answer, is far from the one the request was signed with.
        let clock_was_wrong = learnt
            .is_some_and(|skew| skew.abs_diff(signed_skew) > SKEW_THRESHOLD_MS.unsigned_abs());
        Err(error_answer(response.into_body(), status, clock_was_wrong).await)
    }

    /// The current credentials, fetched once and again shortly before they expire (one fetch at
    /// a time).
    async fn identity(&self) -> Result<Identity, GetError> {
        if let Some(identity) = self.fresh_identity() {
            return Ok(identity);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(identity) = self.fresh_identity() {
            return Ok(identity);
        }
        let credentials =
            self.credentials.provide_credentials().await.map_err(|e| {
                GetError::Other(format!("failed to load credentials: {}", chain(&e)))
            })?;
        let identity = Identity::from(credentials);
        *self
            .identity
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(identity.clone());
        Ok(identity)
    }

    fn fresh_identity(&self) -> Option<Identity> {
        let identity = self.identity.read().unwrap_or_else(PoisonError::into_inner);
        identity
            .as_ref()
            .filter(|i| {
                i.expiration()
                    .is_none_or(|t| t > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
            })
            .cloned()
    }

    /// `bucket`'s endpoint and signing settings from the S3 endpoint rules (cached); `None`
    /// when they are not plain SigV4 or cannot be resolved here.
    async fn target(&self, bucket: &str, region: Option<&str>) -> Option<Arc<Target>> {
        if let Some(known) = self
            .targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(bucket)
        {
            return known.clone();
        }
        let region = region?;
        let target = self.resolve(bucket, region).await.map(Arc::new);
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(bucket.to_owned(), target.clone());
        target
    }

    async fn resolve(&self, bucket: &str, region: &str) -> Option<Target> {
        let params = Params::builder()
            .bucket(bucket)
            .region(region)
            .use_fips(self.use_fips)
            .use_dual_stack(self.use_dual_stack)
            .set_endpoint(self.endpoint.clone())
            // As `AwsContext::s3_client` does: path style behind an endpoint override.
            .force_path_style(self.endpoint.is_some())
            .build()
            .ok()?;
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .ok()?;
        let schemes: Vec<Document> = if endpoint.auth_schemes().is_empty() {
            match endpoint.properties().get("authSchemes") {
                Some(Document::Array(schemes)) => schemes.clone(),
                _ => Vec::new(),
            }
        } else {
            endpoint
                .auth_schemes()
                .iter()
                .map(|s| s.as_document())
                .collect()
        };
        let (name, scheme) = match schemes.first() {
            Some(Document::Object(scheme)) => (
                scheme.get("name").and_then(as_str).unwrap_or(""),
                Some(scheme),
            ),
            // No scheme named: the S3 client signs with SigV4 for the region.
            None => ("sigv4", None),
            _ => return None,
        };
        if name != "sigv4" {
            return None;
        }
        let property = |key: &str| scheme.and_then(|s| s.get(key));
        let headers: Vec<(String, String)> = endpoint
            .headers()
            .flat_map(|(name, values)| values.map(move |v| (name.to_owned(), v.to_owned())))
            .collect();
        let double_encode = !matches!(
            property("disableDoubleEncoding"),
            Some(Document::Bool(true))
        );
        let fast = if headers.is_empty() && !double_encode {
            canonical_host(endpoint.url())
        } else {
            None
        };
        Some(Target {
            fast,
            key: RwLock::new(None),
            base: endpoint.url().to_owned(),
            signing_name: property("signingName")
                .and_then(as_str)
                .unwrap_or("s3")
                .to_owned(),
            signing_region: property("signingRegion")
                .and_then(as_str)
                .unwrap_or(region)
                .to_owned(),
            double_encode: !matches!(
                property("disableDoubleEncoding"),
                Some(Document::Bool(true))
            ),
            headers,
        })
    }
}

/// One attempt's outcome when it failed.
enum Failure {
    /// Worth another attempt after a backoff, for this many tokens of the retry budget.
    Retry(GetError, u32),
    /// Signed with a clock the server disagreed with, now corrected: worth one more attempt.
    Skewed(GetError),
    Final(GetError),
}

/// `t` moved by `skew_ms`.
fn apply_skew(t: SystemTime, skew_ms: i64) -> SystemTime {
    let by = Duration::from_millis(skew_ms.unsigned_abs());
    if skew_ms >= 0 {
        t.checked_add(by)
    } else {
        t.checked_sub(by)
    }
    .unwrap_or(t)
}

/// A retry quota shared by requests, as the SDK's standard retry mode keeps one: each retry
/// takes tokens, each first-attempt success puts one back, a retry that succeeds gives its
/// tokens back. Once spent, failures are final at their first attempt, so an endpoint that fails
/// everything gets about one request per object.
struct RetryBudget {
    tokens: AtomicU32,
    capacity: u32,
}

impl RetryBudget {
    fn new(capacity: u32) -> RetryBudget {
        RetryBudget {
            tokens: AtomicU32::new(capacity),
            capacity,
        }
    }

    fn take(&self, cost: u32) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .is_ok()
    }

    fn give(&self, tokens: u32) {
        let capacity = self.capacity;
        // `fetch_update` with `Some` always succeeds.
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(tokens).min(capacity))
            });
    }
}

/// A signed `GET uri`, with `Range`/`If-Match` when resuming.
fn sign_get(
    target: &Target,
    uri: &str,
    resume: Option<(u64, &str)>,
    identity: &Identity,
    now: SystemTime,
) -> Result<HttpRequest, String> {
    let mut request = HttpRequest::get(uri).map_err(|e| format!("invalid request: {e}"))?;
    let headers = request.headers_mut();
    let mut set = |name: String, value: String| {
        headers
            .try_insert(name, value)
            .map(|_| ())
            .map_err(|e| format!("invalid request header: {e}"))
    };
    // Names the client in S3's access logs (and tells the two paths apart in tests).
    set("user-agent".to_owned(), USER_AGENT.to_owned())?;
    for (name, value) in &target.headers {
        set(name.clone(), value.clone())?;
    }
    if let Some((from, e_tag)) = resume {
        set("range".to_owned(), format!("bytes={from}-"))?;
        set("if-match".to_owned(), e_tag.to_owned())?;
    }
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    if !target.double_encode {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
    }
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(&target.signing_region)
        .name(&target.signing_name)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing: {e}"))?
        .into();
    let signable = SignableRequest::new(
        "GET",
        uri,
        request.headers().iter(),
        SignableBody::Precomputed(EMPTY_SHA256.to_owned()),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| format!("signing: {}", chain(&e)))?
        .into_parts();
    let (signed, _params) = instructions.into_parts();
    let headers = request.headers_mut();
    for header in signed {
        headers
            .try_insert(header.name(), header.value().to_owned())
            .map_err(|e| format!("invalid signed header: {e}"))?;
    }
    *request.body_mut() = SdkBody::empty();
    Ok(request)
}

/// `sign_get` for S3's usual request, as `aws-sigv4` signs it with the S3 client's settings
/// (single encoding, no path normalisation, `x-amz-content-sha256`, the session token signed),
/// but with the canonical request written directly and the day's signing key kept: the generic
/// signer's string building and four HMACs per request cost more than the rest of the request.
/// The key derivation and the signature are still `aws-sigv4`'s; a test checks that both give
/// the same `Authorization`.
fn sign_fast(
    target: &Target,
    host: &str,
    uri: &str,
    resume: Option<(u64, &str)>,
    identity: &Identity,
    now: SystemTime,
) -> Result<HttpRequest, String> {
    let credentials = identity
        .data::<aws_credential_types::Credentials>()
        .ok_or("signing: the identity is not AWS credentials")?;
    let time = chrono::DateTime::<chrono::Utc>::from(now);
    let amz_date = time.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let path_and_query = uri
        .find("://")
        .and_then(|i| uri[i + 3..].find('/').map(|j| &uri[i + 3 + j..]))
        .unwrap_or("/");
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let range = resume.map(|(from, _)| format!("bytes={from}-"));
    let token = credentials.session_token();
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(6);
    headers.push(("host", host));
    if let (Some((_, e_tag)), Some(range)) = (resume, &range) {
        headers.push(("if-match", e_tag.trim()));
        headers.push(("range", range));
    }
    headers.push(("x-amz-content-sha256", EMPTY_SHA256));
    headers.push(("x-amz-date", &amz_date));
    if let Some(token) = token {
        headers.push(("x-amz-security-token", token.trim()));
    }
    let (canonical, signed_headers) = canonical_request(path, query, &headers);
    let scope = format!(
        "{date}/{}/{}/aws4_request",
        target.signing_region, target.signing_name
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let signature = signature(target, credentials, now, date, &string_to_sign);
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id()
    );
    let mut request = HttpRequest::get(uri).map_err(|e| format!("invalid request: {e}"))?;
    let out = request.headers_mut();
    let mut set = |name: &'static str, value: String| {
        out.try_insert(name, value)
            .map(|_| ())
            .map_err(|e| format!("invalid request header: {e}"))
    };
    set("user-agent", USER_AGENT.to_owned())?;
    if let (Some((_, e_tag)), Some(range)) = (resume, range) {
        set("range", range)?;
        set("if-match", e_tag.to_owned())?;
    }
    set("x-amz-content-sha256", EMPTY_SHA256.to_owned())?;
    set("x-amz-date", amz_date)?;
    if let Some(token) = token {
        set("x-amz-security-token", token.to_owned())?;
    }
    set("authorization", authorization)?;
    *request.body_mut() = SdkBody::empty();
    Ok(request)
}

/// What an error answer means: final, or worth another attempt (and at what cost to the retry
/// budget). Its body is a small XML document naming the code; at most 64 KiB of it is kept (the
/// server is not trusted to keep it small).
async fn error_answer(body: SdkBody, status: u16, clock_was_wrong: bool) -> Failure {
    let mut stream = ByteStream::new(body);
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match stream.next().await {
            Some(Ok(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    let text = String::from_utf8_lossy(&body);
    let code = xml_element(&text, "Code");
    let message = xml_element(&text, "Message");
    let described = match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
        (Some(code), None) => format!("{code} (HTTP {status})"),
        _ => format!("HTTP {status}: unhandled error"),
    };
    match (code, status) {
        (Some("NoSuchBucket"), _) => Failure::Final(GetError::NoSuchBucket(described)),
        (Some("NoSuchKey"), _) | (None, 404) => Failure::Final(GetError::NotFound),
        (Some(code), _) if CLOCK_SKEW_CODES.contains(&code) && clock_was_wrong => {
            Failure::Skewed(GetError::Other(described))
        }
        (Some(code), _) if THROTTLING_CODES.contains(&code) => {
            Failure::Retry(GetError::Other(described), RETRY_COST)
        }
        (Some(code), _) if RETRYABLE_CODES.contains(&code) => {
            Failure::Retry(GetError::Other(described), TIMEOUT_RETRY_COST)
        }
        (_, 429) => Failure::Retry(GetError::Other(described), RETRY_COST),
        (_, 500..=599) => Failure::Retry(GetError::Other(described), TIMEOUT_RETRY_COST),
        _ => Failure::Final(GetError::Other(described)),
    }
}

/// SigV4's canonical request for a GET with an empty body, `headers` already canonical (lower
/// case, sorted, trimmed), and the list of their names it signs.
fn canonical_request(path: &str, query: &str, headers: &[(&str, &str)]) -> (String, String) {
    let mut canonical = String::with_capacity(512);
    canonical.push_str("GET\n");
    canonical.push_str(if path.is_empty() { "/" } else { path });
    canonical.push('\n');
    canonical.push_str(query);
    canonical.push('\n');
    let mut signed_headers = String::with_capacity(96);
    for (i, (name, value)) in headers.iter().enumerate() {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
        if i > 0 {
            signed_headers.push(';');
        }
        signed_headers.push_str(name);
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(EMPTY_SHA256);
    (canonical, signed_headers)
}

/// Signs `string_to_sign` with the day's signing key, derived once per day (`date`) and
/// credentials and kept in `target`: the derivation is four HMACs.
fn signature(
    target: &Target,
    credentials: &aws_credential_types::Credentials,
    now: SystemTime,
    date: &str,
    string_to_sign: &str,
) -> String {
    let cached = target.key.read().unwrap_or_else(PoisonError::into_inner);
    match cached.as_ref().filter(|k| {
        k.date == date
            && k.access_key_id == credentials.access_key_id()
            && k.secret == credentials.secret_access_key()
    }) {
        Some(k) => v4::calculate_signature(&k.key, string_to_sign.as_bytes()),
        None => {
            drop(cached);
            let key = v4::generate_signing_key(
                credentials.secret_access_key(),
                now,
                &target.signing_region,
                &target.signing_name,
            );
            let signature = v4::calculate_signature(&key, string_to_sign.as_bytes());
            *target.key.write().unwrap_or_else(PoisonError::into_inner) = Some(SigningKey {
                date: date.to_owned(),
                access_key_id: credentials.access_key_id().to_owned(),
                secret: credentials.secret_access_key().to_owned(),
                key: key.as_ref().to_vec(),
            });
            signature
        }
    }
}

/// `Host` as SigV4 canonicalises it and hyper sends it (the port only when not the scheme's
/// default) for a base URL; `None` for anything unusual (user info, no host).
fn canonical_host(base: &str) -> Option<String> {
    let (scheme, rest) = base.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    Some(
        authority
            .strip_suffix(default_port)
            .unwrap_or(authority)
            .to_owned(),
    )
}

/// S3 user metadata (`x-amz-meta-*`), names lowercased without the prefix.
fn user_metadata(headers: &Headers) -> Metadata {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let rest = name
                .get(..11)
                .filter(|p| p.eq_ignore_ascii_case("x-amz-meta-"))
                .map(|_| &name[11..])?;
            Some((rest.to_ascii_lowercase(), value.to_owned()))
        })
        .collect()
}

/// `key` as the SDK writes a greedy URI label: every byte but unreserved ones and `/`
/// percent-encoded.
fn encode_key(key: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/');
    // CloudTrail's keys need no escaping: copy them in one piece.
    if key.bytes().all(safe) {
        out.push_str(key);
        return;
    }
    for &b in key.as_bytes() {
        if safe(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// The text of the first `<name>…</name>` in an S3 error document.
fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + len].trim()).filter(|s| !s.is_empty())
}

fn as_str(doc: &Document) -> Option<&str> {
    match doc {
        Document::String(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(base: &str, region: &str) -> Target {
        Target {
            base: base.to_owned(),
            signing_name: "s3".to_owned(),
            signing_region: region.to_owned(),
            double_encode: false,
            headers: Vec::new(),
            fast: canonical_host(base),
            key: RwLock::new(None),
        }
    }

    #[test]
    fn the_fast_signer_signs_like_aws_sigv4() {
        let cases = [
            (
                "http://127.0.0.1:9000/tpb",
                "us-east-1",
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/x.json.gz",
            ),
            (
                "https://tpb.s3.eu-west-1.amazonaws.com",
                "eu-west-1",
                "AWSLogs/o-1/a b+c=d:é~.json.gz",
            ),
            ("http://[::1]:80/b", "cn-north-1", "k"),
        ];
        let identities = [
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret/key+1", None, None, "t"),
            aws_credential_types::Credentials::new(
                "ASIAEXAMPLE",
                "secret2",
                Some("token/+=".to_owned()),
                None,
                "t",
            ),
        ];
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        let mut compared = 0;
        for (base, region, key) in cases {
            let target = target(base, region);
            let host = target.fast.clone().expect("a plain URL");
            let mut uri = format!("{}/", base.trim_end_matches('/'));
            encode_key(key, &mut uri);
            uri.push_str("?x-id=GetObject");
            for credentials in &identities {
                let identity = Identity::from(credentials.clone());
                // Across midnight UTC: the cached day key must be replaced.
                for now in [
                    start,
                    start + Duration::from_secs(2),
                    start + Duration::from_secs(3),
                ] {
                    for resume in [None, Some((1234, "\"0123abcd\""))] {
                        let fast = sign_fast(&target, &host, &uri, resume, &identity, now).unwrap();
                        let slow = sign_get(&target, &uri, resume, &identity, now).unwrap();
                        for name in [
                            "authorization",
                            "x-amz-date",
                            "x-amz-content-sha256",
                            "x-amz-security-token",
                            "range",
                            "if-match",
                            "user-agent",
                        ] {
                            assert_eq!(
                                fast.headers().get(name),
                                slow.headers().get(name),
                                "{name} of {uri} at {now:?}"
                            );
                        }
                        assert!(fast.headers().get("authorization").is_some());
                        assert_eq!(fast.uri(), slow.uri());
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 3 * 2 * 3 * 2);
    }

    #[test]
    fn hosts_are_canonical() {
        assert_eq!(
            canonical_host("http://127.0.0.1:80/b").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            canonical_host("http://127.0.0.1:9000").as_deref(),
            Some("127.0.0.1:9000")
        );
        assert_eq!(
            canonical_host("https://b.s3.amazonaws.com:443").as_deref(),
            Some("b.s3.amazonaws.com")
        );
        assert_eq!(canonical_host("https://u@h/"), None);
        assert_eq!(canonical_host("ftp://h/"), None);
    }

    #[test]
    fn keys_are_encoded_like_greedy_labels() {
        let mut out = String::new();
        encode_key("AWSLogs/o-1/a b+c=d:é~_.-", &mut out);
        assert_eq!(out, "AWSLogs/o-1/a%20b%2Bc%3Dd%3A%C3%A9~_.-");
    }

    #[test]
    fn error_documents_are_read() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>";
        assert_eq!(xml_element(xml, "Code"), Some("SlowDown"));
        assert_eq!(xml_element(xml, "Message"), Some("Reduce your rate"));
        assert_eq!(xml_element(xml, "RequestId"), None);
        assert_eq!(xml_element("<Code></Code>", "Code"), None);
    }

    #[test]
    fn user_metadata_keeps_only_meta_headers() {
        let mut headers = Headers::new();
        headers.insert("X-Amz-Meta-Signature", "ab");
        headers.insert("content-length", "3");
        let meta = user_metadata(&headers);
        assert_eq!(meta.len(), 1);
        assert_eq!(meta.get("signature").map(String::as_str), Some("ab"));
    }
}

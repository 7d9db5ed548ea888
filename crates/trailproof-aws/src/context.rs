//! The AWS configuration shared by every client: credentials, region, endpoints, retries and
//! timeouts, loaded once with `aws-config`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_s3::config::ProvideCredentials as _;
use aws_types::service_config::ServiceConfigKey;
use trailproof::Error;

/// Region used to bootstrap S3 (`GetBucketLocation`) and Organizations when none is configured.
pub(crate) const FALLBACK_REGION: &str = "us-east-1";

/// How to load the AWS configuration, and the resilience settings every client gets.
///
/// Defaults: the default profile and region chain, 5 attempts per request (standard retry mode:
/// 5xx, throttling such as S3 `SlowDown`, connection errors and timeouts), exponential backoff
/// from 1 s up to 20 s, connect timeout 10 s, read timeout (time to first response byte) 30 s,
/// 60 s per attempt, 5 minutes per operation (not counting the streaming of an object's body,
/// which the SDK's stalled-stream protection watches instead).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AwsOptions {
    /// Named profile (`--profile`); `None` follows `AWS_PROFILE`, then `default`.
    pub profile: Option<String>,
    /// Region (`--region`); `None` follows `AWS_REGION`, then the profile.
    pub region: Option<String>,
    /// Endpoint for every service (an S3-compatible store, a test server). The standard
    /// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_CLOUDTRAIL` variables are
    /// honoured without it.
    pub endpoint_url: Option<String>,
    /// Attempts per request, first one included.
    pub max_attempts: u32,
    /// First retry backoff (jittered, doubled on each retry).
    pub initial_backoff: Duration,
    /// Longest retry backoff.
    pub max_backoff: Duration,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Time to wait for a response to start.
    pub read_timeout: Duration,
    /// Time for one attempt of a request.
    pub attempt_timeout: Duration,
    /// Time for a request with all its retries.
    pub operation_timeout: Duration,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            profile: None,
            region: None,
            endpoint_url: None,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(60),
            operation_timeout: Duration::from_secs(300),
        }
    }
}

impl AwsOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the profile.
    pub fn profile(mut self, profile: Option<&str>) -> Self {
        self.profile = profile.map(str::to_owned);
        self
    }

    /// Sets the region.
    pub fn region(mut self, region: Option<&str>) -> Self {
        self.region = region.map(str::to_owned);
        self
    }

    /// Sets an endpoint for every service.
    pub fn endpoint_url(mut self, url: Option<&str>) -> Self {
        self.endpoint_url = url.map(str::to_owned);
        self
    }

    /// Sets the attempts per request (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the retry backoff range.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Sets the connect, read, attempt and operation timeouts.
    pub fn timeouts(
        mut self,
        connect: Duration,
        read: Duration,
        attempt: Duration,
        operation: Duration,
    ) -> Self {
        self.connect_timeout = connect;
        self.read_timeout = read;
        self.attempt_timeout = attempt;
        self.operation_timeout = operation;
        self
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff.max(self.initial_backoff))
    }

    fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }
}

/// Loaded AWS configuration and a cache of clients. Cheap to clone (shared).
#[derive(Clone)]
pub struct AwsContext {
    inner: Arc<Inner>,
}

struct Inner {
    config: SdkConfig,
    s3_endpoint: Option<String>,
    /// One retry quota for all of this context's S3 clients, apart from other contexts.
    s3_retry_partition: RetryPartition,
    s3_clients: Mutex<HashMap<String, aws_sdk_s3::Client>>,
    cloudtrail_clients: Mutex<HashMap<String, aws_sdk_cloudtrail::Client>>,
}

impl fmt::Debug for AwsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsContext")
            .field("region", &self.region())
            .field("s3_endpoint", &self.inner.s3_endpoint)
            .finish_non_exhaustive()
    }
}

impl AwsContext {
    /// Loads the configuration the AWS CLI would use: the default credential chain
    /// (environment, profile, SSO, web identity, container, instance), `profile` or
    /// `AWS_PROFILE`, `region` or the configured one, endpoint overrides from `AWS_ENDPOINT_URL`,
    /// `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_CLOUDTRAIL` and the profile. Fails when no
    /// credentials can be found.
    pub async fn load(profile: Option<&str>, region: Option<&str>) -> Result<AwsContext, Error> {
        Self::load_with(&AwsOptions::new().profile(profile).region(region)).await
    }

    /// [`AwsContext::load`] with every option.
    pub async fn load_with(options: &AwsOptions) -> Result<AwsContext, Error> {
        Self::from_loader(aws_config::defaults(BehaviorVersion::latest()), options).await
    }

    /// Loads from a caller's `aws-config` loader (custom credentials, HTTP client, profile
    /// files), applying `options` on top of it.
    pub async fn from_loader(
        loader: ConfigLoader,
        options: &AwsOptions,
    ) -> Result<AwsContext, Error> {
        let mut loader = loader
            .retry_config(options.retry_config())
            .timeout_config(options.timeout_config());
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let profile_note = options
            .profile
            .as_deref()
            .map(|p| format!(" (profile {p})"))
            .unwrap_or_default();
        let Some(provider) = config.credentials_provider() else {
            return Err(Error::Aws(format!(
                "AWS credentials{profile_note}: no credentials provider is configured"
            )));
        };
        if let Err(e) = provider.provide_credentials().await {
            return Err(Error::Aws(format!(
                "AWS credentials{profile_note} could not be loaded: {}",
                crate::errors::chain(&e)
            )));
        }
        Ok(Self::from_sdk_config(config))
    }

    /// Wraps an already loaded configuration as is (its retry and timeout settings included).
    pub fn from_sdk_config(config: SdkConfig) -> AwsContext {
        let s3_endpoint = service_endpoint(&config, "S3");
        AwsContext {
            inner: Arc::new(Inner {
                config,
                s3_endpoint,
                s3_retry_partition: RetryPartition::custom("trailproof-s3")
                    .token_bucket(TokenBucket::default())
                    .build(),
                s3_clients: Mutex::new(HashMap::new()),
                cloudtrail_clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The loaded configuration.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.inner.config
    }

    /// The configured region, if any.
    pub fn region(&self) -> Option<&str> {
        self.inner.config.region().map(Region::as_ref)
    }

    /// The S3 endpoint override (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's
    /// `endpoint_url`, or [`AwsOptions::endpoint_url`]), if any. When set, S3 requests use path
    /// style addressing (`http://host/bucket/key`), as S3-compatible servers expect.
    pub fn s3_endpoint_override(&self) -> Option<&str> {
        self.inner.s3_endpoint.as_deref()
    }

    /// An S3 client for `region` (cached).
    pub fn s3_client(&self, region: &str) -> aws_sdk_s3::Client {
        let mut clients = self
            .inner
            .s3_clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let mut builder = aws_sdk_s3::config::Builder::from(&self.inner.config)
                    .region(Region::new(region.to_owned()))
                    .retry_partition(self.inner.s3_retry_partition.clone())
                    // Every byte read is checked against a SHA-256 in a signed digest, or is the
                    // signed digest itself: S3's own CRCs would be computed for nothing.
                    .response_checksum_validation(
                        aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
                    );
                if self.inner.s3_endpoint.is_some() {
                    builder = builder.force_path_style(true);
                }
                aws_sdk_s3::Client::from_conf(builder.build())
            })
            .clone()
    }

    /// A CloudTrail client for `region` (cached).
    pub fn cloudtrail_client(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let mut clients = self
            .inner
            .cloudtrail_clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_cloudtrail::config::Builder::from(&self.inner.config)
                    .region(Region::new(region.to_owned()))
                    .build();
                aws_sdk_cloudtrail::Client::from_conf(config)
            })
            .clone()
    }

    /// An Organizations client (a global service: the configured region, else `us-east-1`).
    pub fn organizations_client(&self) -> aws_sdk_organizations::Client {
        let region = self.region().unwrap_or(FALLBACK_REGION).to_owned();
        let config = aws_sdk_organizations::config::Builder::from(&self.inner.config)
            .region(Region::new(region))
            .build();
        aws_sdk_organizations::Client::from_conf(config)
    }

    /// An SQS client for `region`. Endpoint overrides (`AWS_ENDPOINT_URL_SQS`,
    /// `AWS_ENDPOINT_URL`, the profile's, [`AwsOptions::endpoint_url`]) apply.
    pub fn sqs_client(&self, region: &str) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(&self.inner.config)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// An SNS client for `region`. Endpoint overrides (`AWS_ENDPOINT_URL_SNS`,
    /// `AWS_ENDPOINT_URL`, the profile's, [`AwsOptions::endpoint_url`]) apply.
    pub fn sns_client(&self, region: &str) -> aws_sdk_sns::Client {
        let config = aws_sdk_sns::config::Builder::from(&self.inner.config)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_sns::Client::from_conf(config)
    }

    /// The region to bootstrap S3 with: the configured one, else `us-east-1`.
    pub(crate) fn s3_bootstrap_region(&self) -> &str {
        self.region().unwrap_or(FALLBACK_REGION)
    }
}

/// The endpoint a service client built from `config` will use, resolved like the generated
/// `From<&SdkConfig>` does: a programmatic endpoint, else the service's own variable
/// (`AWS_ENDPOINT_URL_<SERVICE>` or the profile's `services` section), else the global one.
fn service_endpoint(config: &SdkConfig, service_id: &str) -> Option<String> {
    if config.get_origin("endpoint_url").is_client_config() {
        return config.endpoint_url().map(str::to_owned);
    }
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    key.and_then(|key| config.service_config().and_then(|c| c.load_config(key)))
        .or_else(|| config.endpoint_url().map(str::to_owned))
}

/// A multi-thread Tokio runtime suitable for [`S3Store`](crate::S3Store) and
/// [`CloudTrailKeys`](crate::CloudTrailKeys): their synchronous methods block on its handle from
/// the caller's threads while its workers drive the network.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("trailproof-aws")
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime {
            context: "cannot start the async runtime".to_owned(),
            source: e,
        })
}

/// Checks that `handle` can be blocked on from other threads.
pub(crate) fn check_handle(handle: &tokio::runtime::Handle) -> Result<(), Error> {
    if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
        return Err(Error::Usage(
            "the AWS backends need a multi-thread Tokio runtime (a current-thread runtime cannot be driven from other threads)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// True when called from a Tokio task, where blocking on a handle would panic.
pub(crate) fn inside_runtime() -> bool {
    tokio::task::try_id().is_some()
}

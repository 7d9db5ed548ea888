//! Both servers and an [`AwsContext`] pointed at them, for tests of trailproof-aws and of the
//! command; and the in-memory reference run that live runs are compared with.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use trailproof::{Chain, KeySet, MemoryStore, Object, Options, Parallelism, Report};
use trailproof_aws::{AwsContext, AwsOptions, S3Store};
use trailproof_testkit::Trail;

use crate::{CloudTrailServer, S3Server, ACCESS_KEY, REGION, SECRET_KEY};

/// Both servers on one multi-thread runtime, which the stores under test also block on.
///
/// ```no_run
/// use trailproof_testserver::{test_options, Harness};
///
/// # fn example(trail: &trailproof_testkit::Trail) {
/// let h = Harness::start(100);
/// h.cloudtrail.serve_trail(trail);
/// let ctx = h.context(&test_options());
/// h.upload(&ctx, trail);
/// let store = h.store(&ctx);
/// // … validate through `store`, or run `trailproof` with `h.point_at(&mut command, home)`.
/// # }
/// ```
#[derive(Debug)]
pub struct Harness {
    /// trailproof-aws's runtime, which serves both servers.
    pub rt: tokio::runtime::Runtime,
    /// The S3 server, over a temporary directory.
    pub s3: S3Server,
    /// The CloudTrail / Organizations endpoint.
    pub cloudtrail: CloudTrailServer,
}

/// The ambient AWS settings a client would otherwise pick up from the machine running the test
/// (a profile, a region, an endpoint, a session): cleared so that it talks to these servers only.
pub const AMBIENT_AWS_VARS: [&str; 6] = [
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_SESSION_TOKEN",
];

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
    /// Starts both servers, the CloudTrail one listing `key_page_size` keys per page.
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

    /// An `S3Store` on the harness's runtime.
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
        for var in AMBIENT_AWS_VARS {
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

/// The chain of the trail's home region (its account, its organization if any).
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

/// Validation options for the trail's first `hours` hours, on 16 threads.
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

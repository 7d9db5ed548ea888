//! Every AWS partition: the SDK resolves each region's S3 and CloudTrail endpoints (nothing is
//! hard-coded in trailproof), checked without network; and one trail of the China partition
//! end to end on the local servers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{
    ConfigBag, Credentials, Intercept, Region, RuntimeComponents, SharedCredentialsProvider,
};
use aws_types::SdkConfig;
use trailproof::{TrailArn, Verdict};
use trailproof_aws::{describe_trail, AwsContext, CloudTrailKeys};
use trailproof_testkit::TrailBuilder;
use trailproof_testserver::*;

/// (partition, one of its regions, DNS suffix): REFERENCE.md "Partitions", and the partitions
/// file the SDK in Cargo.lock (aws-sdk-s3 1.157, aws-sdk-cloudtrail 1.130) was generated with,
/// which knows aws-eusc.
const PARTITIONS: &[(&str, &str, &str)] = &[
    ("aws", "eu-west-1", "amazonaws.com"),
    ("aws-cn", "cn-north-1", "amazonaws.com.cn"),
    ("aws-us-gov", "us-gov-west-1", "amazonaws.com"),
    ("aws-eusc", "eusc-de-east-1", "amazonaws.eu"),
    ("aws-iso", "us-iso-east-1", "c2s.ic.gov"),
    ("aws-iso-b", "us-isob-east-1", "sc2s.sgov.gov"),
    ("aws-iso-e", "eu-isoe-west-1", "cloud.adc-e.uk"),
    ("aws-iso-f", "us-isof-south-1", "csp.hci.ic.gov"),
];

#[tokio::test]
async fn the_sdk_resolvers_know_every_partition() {
    use aws_sdk_cloudtrail::config::endpoint::ResolveEndpoint as _;
    use aws_sdk_s3::config::endpoint::ResolveEndpoint as _;
    let s3 = aws_sdk_s3::config::endpoint::DefaultResolver::new();
    let cloudtrail = aws_sdk_cloudtrail::config::endpoint::DefaultResolver::new();
    for &(partition, region, suffix) in PARTITIONS {
        let params = aws_sdk_s3::config::endpoint::Params::builder()
            .region(region)
            .bucket("trail-bucket")
            .use_fips(false)
            .use_dual_stack(false)
            .accelerate(false)
            .build()
            .unwrap();
        let endpoint = s3.resolve_endpoint(&params).await.unwrap();
        assert_eq!(
            endpoint.url(),
            format!("https://trail-bucket.s3.{region}.{suffix}"),
            "{partition}"
        );
        let params = aws_sdk_cloudtrail::config::endpoint::Params::builder()
            .region(region)
            .use_fips(false)
            .use_dual_stack(false)
            .build()
            .unwrap();
        let endpoint = cloudtrail.resolve_endpoint(&params).await.unwrap();
        assert_eq!(
            endpoint.url(),
            format!("https://cloudtrail.{region}.{suffix}"),
            "{partition}"
        );
    }
}

/// Records the URI of each request, then stops it before it is sent: no network.
#[derive(Debug, Default, Clone)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "Capture"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        self.0
            .lock()
            .unwrap()
            .push(context.request().uri().to_owned());
        Err("captured: not sent".into())
    }
}

/// A context as live mode builds one, from a configuration that reads nothing from the
/// environment (no endpoint override can leak in).
fn context(region: &str) -> AwsContext {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            None,
            None,
            "partitions-test",
        )))
        .build();
    AwsContext::from_sdk_config(config)
}

#[tokio::test]
async fn live_clients_resolve_each_partition_through_the_sdk() {
    for &(partition, region, suffix) in PARTITIONS {
        let ctx = context(region);
        assert_eq!(ctx.s3_endpoint_override(), None);
        let capture = Capture::default();

        // The clients S3Store and CloudTrailKeys use, with the interceptor added.
        let s3 = ctx.s3_client(region);
        let s3 = aws_sdk_s3::Client::from_conf(
            s3.config()
                .to_builder()
                .interceptor(capture.clone())
                .build(),
        );
        let _ = s3
            .get_object()
            .bucket("trail-bucket")
            .key("AWSLogs/x")
            .send()
            .await;
        let cloudtrail = ctx.cloudtrail_client(region);
        let cloudtrail = aws_sdk_cloudtrail::Client::from_conf(
            cloudtrail
                .config()
                .to_builder()
                .interceptor(capture.clone())
                .build(),
        );
        let _ = cloudtrail.list_public_keys().send().await;

        assert_eq!(
            *capture.0.lock().unwrap(),
            vec![
                format!("https://trail-bucket.s3.{region}.{suffix}/AWSLogs/x?x-id=GetObject"),
                format!("https://cloudtrail.{region}.{suffix}/"),
            ],
            "{partition}"
        );
    }
}

#[test]
fn trail_arns_of_every_partition_parse() {
    // The AWS CLI's check is `arn:.+:cloudtrail:.+:\d{12}:trail/.+`: any partition.
    for &(partition, region, _) in PARTITIONS {
        let arn = format!("arn:{partition}:cloudtrail:{region}:111122223333:trail/t");
        let parsed = TrailArn::parse(&arn).unwrap();
        assert_eq!(
            (parsed.region.as_str(), parsed.account_id.as_str()),
            (region, "111122223333")
        );
    }
}

#[test]
fn a_china_trail_end_to_end_on_the_local_servers() {
    let trail = TrailBuilder::new()
        .partition("aws-cn")
        .home_region("cn-north-1")
        .regions(&["cn-north-1"])
        // Short names: the local server names files after bucket and key, within 255 bytes.
        .bucket("cntb")
        .trail_name("t")
        .hours(3)
        .build();
    assert!(trail
        .trail_arn()
        .starts_with("arn:aws-cn:cloudtrail:cn-north-1:"));
    let h = Harness::start(1);
    h.cloudtrail.serve_trail(&trail);
    h.cloudtrail.add_decoy_key();
    h.upload(&h.context(&test_options()), &trail);

    let ctx = h.context(&test_options().region(Some("cn-north-1")));
    assert_eq!(ctx.region(), Some("cn-north-1"));
    let info =
        h.rt.block_on(describe_trail(&ctx, &trail.trail_arn()))
            .unwrap();
    assert_eq!(
        (info.bucket.as_str(), info.home_region.as_str()),
        ("cntb", "cn-north-1")
    );
    // The bucket is in the China partition: its clients are built for cn-north-1.
    let store = h.store(&ctx).bucket_region("cntb", "cn-north-1");
    let keys = CloudTrailKeys::new(&ctx, h.rt.handle().clone()).unwrap();
    let report = trailproof::validate(
        &store,
        &keys,
        &chain(&trail),
        &trail.trail_arn(),
        &options(&trail, 3),
    )
    .unwrap();
    assert_eq!(report.verdict(), Verdict::Valid, "{:?}", report.summary());
    assert_eq!(report, validate_in_memory(&trail, 3));
    assert!(report.summary().log_files.valid > 0);
    // One key per page, the decoy first: the trail's key is on the second page.
    assert!(h.cloudtrail.state.calls_to("ListPublicKeys").len() >= 2);
}

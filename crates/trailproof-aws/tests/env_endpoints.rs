//! `AwsContext::load` with the standard environment variables only, as the CLI will use it.
//! One test in this binary: it owns the process environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use trailproof::Verdict;
use trailproof_aws::{describe_trail, organization_id, AwsContext, CloudTrailKeys, S3Store};
use trailproof_testkit::TrailBuilder;
use trailproof_testserver::*;

#[test]
fn standard_environment_variables_configure_credentials_and_endpoints() {
    let trail = TrailBuilder::new().hours(3).build();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    h.upload(&h.context(&test_options()), &trail);

    let home = tempfile::tempdir().unwrap();
    for var in trailproof_testserver::AMBIENT_AWS_VARS {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_CONFIG_FILE", home.path().join("config"));
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        home.path().join("credentials"),
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ENDPOINT_URL_S3", &h.s3.url);
    std::env::set_var("AWS_ENDPOINT_URL_CLOUDTRAIL", &h.cloudtrail.url);
    std::env::set_var("AWS_ENDPOINT_URL_ORGANIZATIONS", &h.cloudtrail.url);
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);

    let ctx = h.rt.block_on(AwsContext::load(None, Some(REGION))).unwrap();
    assert_eq!(ctx.s3_endpoint_override(), Some(h.s3.url.as_str()));
    assert_eq!(ctx.region(), Some(REGION));

    let err =
        h.rt.block_on(organization_id(&ctx))
            .unwrap_err()
            .to_string();
    assert!(err.contains("AWSOrganizationsNotInUseException"), "{err}");
    let info =
        h.rt.block_on(describe_trail(&ctx, &trail.trail_arn()))
            .unwrap();
    assert_eq!(info.bucket, trail.bucket());
    let store = S3Store::new(&ctx, h.rt.handle().clone()).unwrap();
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

    // Without credentials anywhere, loading fails with a clear error.
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    let err =
        h.rt.block_on(AwsContext::load(Some("nobody"), Some(REGION)))
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("credentials") && err.contains("nobody"),
        "{err}"
    );

    // A current-thread runtime cannot be driven from the validation threads.
    let single = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = S3Store::new(&ctx, single.handle().clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("multi-thread"), "{err}");
}

//! Writing one object: where a sharded run leaves its partial report (`--partial s3://…`).

use aws_sdk_s3::primitives::ByteStream;
use trailproof::Error;

use crate::context::AwsContext;
use crate::errors::describe;

/// Writes `bytes` to `s3://bucket/key`, with the context's region (the bucket's own region is
/// looked up when S3 answers that it lives elsewhere).
pub async fn put_object(
    ctx: &AwsContext,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
) -> Result<(), Error> {
    let region = ctx.s3_bootstrap_region().to_owned();
    let put = |region: String, bytes: Vec<u8>| async move {
        ctx.s3_client(&region)
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(bytes))
            .send()
            .await
    };
    match put(region, bytes.clone()).await {
        Ok(_) => Ok(()),
        Err(first) => {
            let located = ctx
                .s3_client(ctx.s3_bootstrap_region())
                .get_bucket_location()
                .bucket(bucket)
                .send()
                .await
                .ok()
                .and_then(|o| o.location_constraint().map(|c| c.as_str().to_owned()))
                .map(|c| {
                    if c.is_empty() {
                        "us-east-1".to_owned()
                    } else {
                        c
                    }
                });
            match located {
                Some(r) if r != ctx.s3_bootstrap_region() => put(r, bytes)
                    .await
                    .map(|_| ())
                    .map_err(|e| cannot(bucket, key, &describe(&e))),
                _ => Err(cannot(bucket, key, &describe(&first))),
            }
        }
    }
}

fn cannot(bucket: &str, key: &str, cause: &str) -> Error {
    Error::Config(format!("cannot write s3://{bucket}/{key}: {cause}"))
}

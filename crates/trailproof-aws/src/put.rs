//! Writing one object: where a sharded run leaves its partial report (`--partial s3://…`).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
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
    in_bucket_region(ctx, bucket, |region| {
        let body = ByteStream::from(bytes.clone());
        async move {
            ctx.s3_client(&region)
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type("application/json")
                .body(body)
                .send()
                .await
                .map(|_| ())
        }
    })
    .await
    .map_err(|cause| cannot("write", bucket, key, &cause))
}

/// Deletes `s3://bucket/key` (absent already is fine: S3 answers success), as
/// [`put_object`] finds the bucket's region.
pub async fn delete_object(ctx: &AwsContext, bucket: &str, key: &str) -> Result<(), Error> {
    in_bucket_region(ctx, bucket, |region| async move {
        ctx.s3_client(&region)
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
    })
    .await
    .map_err(|cause| cannot("remove", bucket, key, &cause))
}

/// Runs `op` in the context's region, then, when that fails, once more in the bucket's own
/// region (from `GetBucketLocation`) if it is another. The error is described for a message.
async fn in_bucket_region<E, F, Fut>(ctx: &AwsContext, bucket: &str, op: F) -> Result<(), String>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), SdkError<E, HttpResponse>>>,
{
    let first = match op(ctx.s3_bootstrap_region().to_owned()).await {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
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
        Some(r) if r != ctx.s3_bootstrap_region() => op(r).await.map_err(|e| describe(&e)),
        _ => Err(describe(&first)),
    }
}

fn cannot(what: &str, bucket: &str, key: &str, cause: &str) -> Error {
    Error::Output {
        context: format!("cannot {what} s3://{bucket}/{key}"),
        target: format!("s3://{bucket}/{key}"),
        source: std::io::Error::other(cause.to_owned()),
    }
}

//! AWS backends for `trailproof`: read a trail straight from S3 and CloudTrail.
//!
//! - [`AwsContext`]: credentials, region, endpoints (the standard `AWS_ENDPOINT_URL*` variables
//!   included), retries and timeouts, loaded once with `aws-config`.
//! - [`S3Store`]: the core's [`ObjectStore`](trailproof::ObjectStore) over S3: paginated
//!   listing, digests with their user metadata (the signature), streamed log files, buckets
//!   read in their own region.
//! - [`CloudTrailKeys`]: the core's [`PublicKeySource`](trailproof::PublicKeySource) over
//!   `ListPublicKeys` (every page, fingerprints checked).
//! - [`describe_trail`] and [`organization_id`]: where a trail delivers.
//! - [`S3HeadStore`]: watched chains' heads in an S3 object, advanced with conditional writes.
//! - [`Queue`] and [`Topic`]: the SQS queue S3 event notifications land in, and the SNS topic
//!   alerts go to.
//!
//! The core is synchronous and parallel (a thread pool); these types bridge to the async SDK by
//! blocking each calling thread on a Tokio runtime's handle. The runtime must be multi-thread and
//! the calls must come from ordinary threads, not from its tasks.
//!
//! ```no_run
//! use trailproof::{validate, Chain, Options, TrailArn};
//! use trailproof_aws::{describe_trail, AwsContext, CloudTrailKeys, S3Store};
//!
//! let rt = trailproof_aws::runtime()?;
//! let arn = TrailArn::parse("arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events")?;
//! let ctx = rt.block_on(AwsContext::load(None, None))?;
//! let trail = rt.block_on(describe_trail(&ctx, &arn.arn))?;
//! let store = S3Store::new(&ctx, rt.handle().clone())?;
//! let keys = CloudTrailKeys::new(&ctx, rt.handle().clone())?;
//! let chain = Chain {
//!     bucket: trail.bucket,
//!     prefix: trail.prefix,
//!     organization_id: None,
//!     account_id: arn.account_id.clone(),
//!     source_region: arn.region.clone(),
//!     home_region: trail.home_region,
//!     trail_name: arn.name.clone(),
//! };
//! let options = Options::new(
//!     trailproof::time::parse("2024-03-01T00:00:00Z")?,
//!     trailproof::time::parse("2024-03-02T00:00:00Z")?,
//! );
//! let report = validate(&store, &keys, &chain, &arn.arn, &options)?;
//! println!("{:?}", report.verdict());
//! # Ok::<(), trailproof::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cloudtrail;
mod context;
mod errors;
mod heads;
mod lean;
mod put;
mod queue;
mod s3;

pub use cloudtrail::{
    describe_trail, list_public_keys, organization_id, trail_status, CloudTrailKeys, TrailInfo,
};
pub use context::{runtime, AwsContext, AwsOptions};
pub use heads::S3HeadStore;
pub use put::{delete_object, put_object};
pub use queue::{
    Queue, QueueError, QueueMessage, Receive, Topic, MAX_BATCH, MAX_VISIBILITY, MAX_WAIT,
};
pub use s3::S3Store;

//! Local stand-ins for the AWS services trailproof talks to, on 127.0.0.1, for its tests, the
//! Python package's fixtures (`trailproof-cli/examples/pyfixture.rs`) and the live benchmarks
//! (`trailproof-bench serve`). Dev-only: never published, never used by the library itself.
//!
//! - [`S3Server`]: a real S3 implementation (s3s + s3s-fs over a directory), so the SDK's
//!   signing, paging and error handling run as they do against S3. Its [`Faults`] inject
//!   throttling, errors, resets, truncated and stalled bodies and clock skew into chosen
//!   requests, and log every request by [`request_name`].
//! - [`CloudTrailServer`]: the CloudTrail JSON 1.1 operations trailproof and the AWS CLI call
//!   (`ListPublicKeys` with paging, `DescribeTrails`, `GetTrail`, `GetTrailStatus`) and
//!   Organizations' `DescribeOrganization`, answering from a [`FakeCloudTrail`] a test edits.
//! - With the `aws` feature, `Harness`: both servers on one runtime, an `AwsContext`, `S3Store`
//!   or child process pointed at them, and the in-memory reference run (`validate_in_memory`)
//!   live runs are compared with.
//!
//! The servers run on the calling Tokio runtime for as long as it lives. A test starts them,
//! points a client at their URLs with [`ACCESS_KEY`] / [`SECRET_KEY`], and injects faults:
//!
//! ```no_run
//! use trailproof_testserver::{get_name, CloudTrailServer, Fault, S3Server};
//!
//! # async fn example(trail: &trailproof_testkit::Trail) {
//! let s3 = S3Server::start().await;
//! // One key per ListPublicKeys page, so that clients must follow NextToken.
//! let cloudtrail = CloudTrailServer::start(1).await;
//! cloudtrail.serve_trail(trail);
//! // The next two GetObject requests for this object are throttled.
//! s3.faults.add(&get_name("bucket", "key"), Fault::SlowDown, Some(2));
//! // … run the client against s3.url and cloudtrail.url, then check what it asked for:
//! assert_eq!(s3.faults.count(&get_name("bucket", "key")), 3);
//! # }
//! ```
// A failure to set up a server or a fixture is a broken test environment: panicking there
// fails the test at the cause, which is all a caller could do with an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "aws")]
mod alerts;
mod cloudtrail;
#[cfg(feature = "aws")]
mod harness;
mod moto;
mod s3;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::body::{Body, Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[cfg(feature = "aws")]
pub use alerts::Alerts;
pub use cloudtrail::{CloudTrailServer, CloudTrailServerBuilder, FakeCloudTrail};
#[cfg(feature = "aws")]
pub use harness::{
    chain, memory_store, options, test_options, validate_in_memory, Harness, AMBIENT_AWS_VARS,
};
pub use moto::Moto;
pub use s3::{
    get_name, load_dir, request_name, Fault, Faults, FsWriter, PrefixListing, S3Server,
    S3ServerBuilder,
};

/// The access key both servers accept.
pub const ACCESS_KEY: &str = "AKIDTRAILPROOFTEST";
/// The secret key of [`ACCESS_KEY`], which the S3 server checks signatures with.
pub const SECRET_KEY: &str = "trailproof-test-secret-key";
/// The region clients of the servers are configured with.
pub const REGION: &str = "us-east-1";

/// The error of [`load_dir`] (and of the servers' handlers).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Request counts by kind, for a benchmark's report of how many requests a run made: the S3
/// server counts into it, and the CloudTrail endpoint counts into it and serves it as JSON at
/// `GET /stats`. Share one between both servers with their builders' `stats`.
#[derive(Debug, Default)]
pub struct Stats {
    s3_get: AtomicU64,
    s3_list: AtomicU64,
    s3_other: AtomicU64,
    cloudtrail: AtomicU64,
}

impl Stats {
    /// `{"s3_get": N, "s3_list": N, "s3_other": N, "cloudtrail": N}`, what `GET /stats` answers.
    pub fn to_json(&self) -> Value {
        json!({
            "s3_get": self.s3_get.load(Ordering::Relaxed),
            "s3_list": self.s3_list.load(Ordering::Relaxed),
            "s3_other": self.s3_other.load(Ordering::Relaxed),
            "cloudtrail": self.cloudtrail.load(Ordering::Relaxed),
        })
    }

    /// Counts an S3 request: a GET of a bucket (a listing, or its location) as a list, a GET
    /// of an object as a get, anything else as other.
    fn count_s3(&self, method: &Method, path: &str, query: &str) {
        let counter = if *method != Method::GET {
            &self.s3_other
        } else if query.contains("list-type") || path.trim_matches('/').find('/').is_none() {
            &self.s3_list
        } else {
            &self.s3_get
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn count_cloudtrail(&self) {
        self.cloudtrail.fetch_add(1, Ordering::Relaxed);
    }
}

/// Accepts connections on `listener` forever, serving each with `serve`.
fn spawn_server<F, Fut, B>(listener: TcpListener, serve: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, BoxError>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            // Without it, small answers wait for the peer's delayed ACK (~40 ms per request).
            socket.set_nodelay(true).unwrap();
            let serve = serve.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service_fn(serve))
                    .await;
            });
        }
    });
}

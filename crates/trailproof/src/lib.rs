//! Prove an AWS CloudTrail archive has not been tampered with.
//!
//! `trailproof` checks CloudTrail's digest files (hourly, signed, chained) and the log files they
//! list, with the verdicts of `aws cloudtrail validate-logs`, plus checks the AWS CLI does not make.
//! The verification core is sans-IO: bytes, keys and times come in as arguments; storage sits
//! behind the small [`ObjectStore`] trait (a local directory and memory here, S3 elsewhere).
//!
//! Tampering is a verdict in the [`Report`], never an `Err`: `Err` means a check could not be
//! performed at all.
//!
//! [`lake`] does the same for CloudTrail Lake query results saved to S3 (`result_sign.json`
//! and the result files it signs), with the verdicts of `aws cloudtrail verify-query-results`.
//!
//! ```
//! use trailproof::{validate, Chain, KeySet, MemoryStore, Object, Options, Parallelism, Verdict};
//! use trailproof_testkit::TrailBuilder;
//!
//! // A day of a real-looking, really signed trail, held in memory.
//! let trail = TrailBuilder::new().hours(24).build();
//! let store: MemoryStore = trail.archive.objects.iter()
//!     .map(|(k, o)| (k.clone(), Object { bytes: o.body.clone(), metadata: Some(o.metadata.clone()) }))
//!     .collect();
//! let keys = KeySet::from_list_public_keys_json(trail.archive.public_keys_json().as_bytes(), "keys")?;
//!
//! // The trail's own chain: its account, its home region, in the bucket it delivers to.
//! let arn = trailproof::TrailArn::parse(&trail.trail_arn())?;
//! let chain = Chain::for_trail(&arn, "trail-bucket");
//! let options = Options::new(
//!     trailproof::time::parse("2024-03-01T00:00:00Z")?,
//!     trailproof::time::parse("2024-03-02T00:00:00Z")?,
//! )
//! .parallelism(Parallelism::Serial);
//! let report = validate(&store, &keys, &chain, &arn.arn, &options)?;
//! assert_eq!(report.verdict(), Verdict::Valid);
//! assert!(report.summary().log_files.valid > 0);
//! # Ok::<(), trailproof::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod digest;
pub mod discover;
mod error;
pub mod events;
pub mod headstore;
pub mod keys;
pub mod lake;
pub mod layout;
pub mod loghash;
pub mod report;
pub mod shard;
pub mod state;
pub mod store;
pub mod tail;
pub mod time;
mod validate;
mod window;

pub use discover::{discover_chains, Discovery};
pub use error::{Error, StoreError};
pub use events::{parse_message, ObjectEvent, ObjectKind};
pub use headstore::{FileHeadStore, HeadStore, HeadStoreError, Snapshot, Version, WriteOutcome};
pub use keys::{KeySet, PublicKey};
pub use lake::{
    verify_folder, verify_query_results, LakeOptions, LakeReport, LocalFolder, ResultFolder,
    StoreFolder,
};
pub use layout::{Chain, TrailArn};
pub use report::{
    Counts, DigestOutcome, Entry, Finding, KeyUse, LogOutcome, Report, Status, StopEvent, Summary,
    TextWriter, Verdict,
};
pub use state::{Head, State};
pub use store::{
    Intent, LocalDirStore, MemoryStore, Metadata, MirrorStore, Object, ObjectStore, Prefetch,
};
pub use tail::TrailStatus;
pub use validate::{
    validate, validate_chains, validate_windows, EntrySink, Options, Parallelism, Progress,
    PublicKeySource, SinkFactory,
};

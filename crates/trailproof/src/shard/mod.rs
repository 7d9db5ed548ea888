//! Sharded runs: the work of one run cut into (chain, time window) items on a fixed grid, split
//! among N shards that each write a partial report, and the merge of the parts into the report
//! the single run prints.
//!
//! Every shard derives the same items from the same flags: the windows are multiples of the
//! window size since the Unix epoch, the chains come from discovery in its order, and the split
//! gives each shard a contiguous run of items of about equal expected work (hours of digests).
//!
//! A window's walk is the single run's walk over the digests whose key time lies in the window
//! ([`crate::validate_windows`]). Where the chain leaves the window it records how the single
//! walk would go on ([`Exit`]), and it records what a link check of its first digest needs
//! ([`FirstDigest`]). [`stitch`] joins the windows of a chain newest first with the single walk's
//! own rules: a verified link into the older window is checked against that window's first
//! digest (`previousDigestHashValue`, `previousDigestSignature`), a link to a digest that no
//! longer exists is a "not found" digest with its missing run, a chain that restarts is a gap.
//!
//! Trust: only a link of a verified digest (its signature checked with CloudTrail's key) can make
//! a boundary hold; anything the merge cannot reproduce is reported as a break (a broken link or
//! an unreached digest), never as valid. The cases a sharded run reports differently from the
//! single run, always as a problem, are listed in the README ("Sharded runs").

pub use crate::window::{union, Exit, FirstDigest, KindResult, LinkFacts, Window, WindowResult};

mod part;
mod plan;
mod stitch;

pub use part::{plan, MergePlan, Part, PartHead, PART_KIND, PART_VERSION};
pub use plan::{
    auto_shard, chains_sha256, items, parse_shard, parse_window, split, weight, windows, Item,
    RunInfo, Split, MAX_CHAINS, MAX_ITEMS, MAX_SHARDS, MAX_WINDOWS, MAX_WINDOW_SECONDS,
};
pub use stitch::{merge, stitch, stitch_parts, Merged, Stitcher};

/// Why a sharded run or a merge cannot go on. Each names the flag, variable or part concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// `--shard`, `--shard-count`, `--shard-window` or an engine's variables are unusable.
    #[error("{0}")]
    Spec(String),
    /// A partial report could not be read or does not have the expected layout.
    #[error("partial report {file}: {reason}")]
    Malformed {
        /// The file (or S3 object) read.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A part was written by another run (other flags, range, chains or shard count).
    #[error("partial report {file} is of another run than {first} (not the same {what})")]
    DifferentRun {
        /// The part that differs.
        file: String,
        /// The first part given, which the others are compared with.
        first: String,
        /// What differs.
        what: String,
    },
    /// Two parts are the same shard.
    #[error("shard {shard}/{count} is given twice: {first} and {second}")]
    Duplicate {
        /// The shard number (1-based).
        shard: u32,
        /// The shard count.
        count: u32,
        /// One part.
        first: String,
        /// The other.
        second: String,
    },
    /// Some shards have no part.
    #[error("missing shard{} {} of {count}: every shard's partial report is needed", if .shards.len() == 1 { "" } else { "s" }, .shards.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))]
    Missing {
        /// The shard numbers (1-based) without a part.
        shards: Vec<u32>,
        /// The shard count.
        count: u32,
    },
    /// No part was given.
    #[error("no partial reports given")]
    NoParts,
}

#[cfg(test)]
mod tests;

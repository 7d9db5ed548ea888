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

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike as _, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::layout::{is_backfill_key, key_date, Chain};
use crate::report::{DigestEntry, DigestOutcome, Entry, Finding, KeyUse, Report, Summary};
use crate::state::Head;
use crate::time::parse_key_time;
use crate::window::{check_link_facts, count_more_missing, UNREFERENCED_MARGIN};

pub use crate::window::{union, Exit, FirstDigest, KindResult, LinkFacts, Window, WindowResult};

/// Kind and version written at the top of every partial report.
pub const PART_KIND: &str = "trailproof-partial";
/// Layout version of partial reports.
pub const PART_VERSION: u64 = 2;

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

/// Most windows a chain may be cut into (a window size too small for the range).
pub const MAX_WINDOWS: usize = 100_000;

/// Longest window: ten thousand weeks (beyond it, every range is one window anyway).
pub const MAX_WINDOW_SECONDS: i64 = 10_000 * 7 * 24 * 3600;

/// Most chains in one run (an organisation's accounts times their regions).
pub const MAX_CHAINS: usize = 1_000_000;

/// Most (chain, window) items in one run: every shard and the merge split the whole run.
pub const MAX_ITEMS: usize = 10_000_000;

/// How many windows [`windows`] cuts `start..=end` into, without making them; `None` past
/// what arithmetic on `step` (at least 1) can reach.
fn window_count(start: DateTime<Utc>, end: DateTime<Utc>, step: i64) -> Option<u64> {
    let first = start.timestamp().div_euclid(step).checked_add(1)?;
    let last = end.timestamp().div_euclid(step);
    let inner = u64::try_from(last.checked_sub(first)?.checked_add(1)?).unwrap_or(0);
    inner.checked_add(1)
}

/// The windows of a run from `start` to `end`, oldest first: boundaries at the multiples of
/// `size` since the Unix epoch strictly inside the range, so every shard cuts alike.
pub fn windows(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    size: Duration,
) -> Result<Vec<Window>, ShardError> {
    let step = size.num_seconds();
    if step < 3600 {
        return Err(ShardError::Spec(
            "--shard-window must be at least 1h (digests are hourly)".to_owned(),
        ));
    }
    if step > MAX_WINDOW_SECONDS {
        return Err(ShardError::Spec(format!(
            "--shard-window must be at most {}w",
            MAX_WINDOW_SECONDS / (7 * 24 * 3600)
        )));
    }
    let too_late = || ShardError::Spec(format!("end time {end} is too late for windows"));
    let last = end
        .checked_add_signed(Duration::hours(1))
        .ok_or_else(too_late)?;
    let count = window_count(start, end, step).ok_or_else(too_late)?;
    if count > MAX_WINDOWS as u64 {
        return Err(ShardError::Spec(format!(
            "--shard-window {step}s cuts the range into more than {MAX_WINDOWS} windows: choose a longer window"
        )));
    }
    let mut bounds = vec![start];
    let mut b = start
        .timestamp()
        .div_euclid(step)
        .checked_add(1)
        .and_then(|n| n.checked_mul(step));
    while let Some(t) = b.filter(|b| *b <= end.timestamp()) {
        if let Some(t) = DateTime::<Utc>::from_timestamp(t, 0) {
            bounds.push(t);
        }
        b = t.checked_add(step);
    }
    let n = bounds.len();
    Ok((0..n)
        .map(|i| Window {
            start: bounds[i],
            end: bounds.get(i + 1).copied().unwrap_or(last),
            newest: i + 1 == n,
            oldest: i == 0,
        })
        .collect())
}

/// Parses a window size: `6h`, `30d`, `2w` (hours, days, weeks).
pub fn parse_window(text: &str) -> Result<Duration, ShardError> {
    let bad = || {
        ShardError::Spec(format!(
            "--shard-window {text:?}: expected a number of hours, days or weeks, e.g. 6h, 30d, 2w"
        ))
    };
    let t = text.trim();
    let Some(cut) = t.len().checked_sub(1).filter(|&i| t.is_char_boundary(i)) else {
        return Err(bad());
    };
    let (n, unit) = t.split_at(cut);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    };
    d.filter(|d| *d >= Duration::hours(1) && d.num_seconds() <= MAX_WINDOW_SECONDS)
        .ok_or_else(bad)
}

/// One unit of work: a window of a chain, by their indices in the run's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Item {
    /// Index of the chain in discovery order.
    pub chain: usize,
    /// Index of the window, oldest first.
    pub window: usize,
}

/// Every item of a run, chain by chain, windows oldest first.
pub fn items(chains: usize, windows: usize) -> Vec<Item> {
    (0..chains)
        .flat_map(|chain| (0..windows).map(move |window| Item { chain, window }))
        .collect()
}

/// The shard (0-based) of each item: contiguous runs of items of about equal total `weight`
/// (an item goes to the shard its start falls in when the total is cut in `n` equal parts).
/// Each shard's items then lie in few chains, whose prefixes it lists alone.
pub fn split(weights: &[u64], n: u32) -> Vec<u32> {
    let n = u128::from(n.max(1));
    let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    let mut before: u128 = 0;
    weights
        .iter()
        .map(|w| {
            let shard = (before * n).checked_div(total).unwrap_or(0);
            before += u128::from(*w);
            u32::try_from(shard).unwrap_or(u32::MAX)
        })
        .collect()
}

/// The expected work of a window: the seconds of digests it holds, at least one.
pub fn weight(window: &Window) -> u64 {
    u64::try_from((window.end - window.start).num_seconds())
        .unwrap_or(0)
        .max(1)
}

/// Parses `--shard M/N` (1-based, as nextest and Playwright count).
pub fn parse_shard(text: &str) -> Result<(u32, u32), ShardError> {
    let bad = |why: &str| ShardError::Spec(format!("--shard {text:?}: {why}"));
    let (m, n) = text
        .split_once('/')
        .ok_or_else(|| bad("expected M/N (e.g. 2/8) or auto"))?;
    let m: u32 = m.trim().parse().map_err(|_| bad("M is not a number"))?;
    let n: u32 = n.trim().parse().map_err(|_| bad("N is not a number"))?;
    check_index(m, n).map_err(|why| bad(&why))?;
    Ok((m, n))
}

/// Most shards of one run.
pub const MAX_SHARDS: u32 = 100_000;

fn check_index(m: u32, n: u32) -> Result<(), String> {
    if n == 0 || n > MAX_SHARDS {
        return Err(format!("the shard count must be 1 to {MAX_SHARDS}"));
    }
    if m == 0 || m > n {
        return Err(format!("shard {m} is not between 1 and {n}"));
    }
    Ok(())
}

/// `--shard auto`: the shard number (1-based) and count from the array job's variables, read
/// through `var` (the process environment, or a map in tests). Slurm
/// (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN`, of `SLURM_ARRAY_TASK_COUNT`), AWS Batch
/// (`AWS_BATCH_JOB_ARRAY_INDEX` of `AWS_BATCH_JOB_ARRAY_SIZE`), Kubernetes Indexed Jobs
/// (`JOB_COMPLETION_INDEX` of `--shard-count`). A `shard_count` given with Slurm or Batch must
/// agree with theirs.
pub fn auto_shard(
    var: &dyn Fn(&str) -> Option<String>,
    shard_count: Option<u32>,
) -> Result<(u32, u32), ShardError> {
    let num = |name: &str| -> Result<Option<u64>, ShardError> {
        match var(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                ShardError::Spec(format!("--shard auto: {name}={v:?} is not a number"))
            }),
        }
    };
    let (engine, index0, count) = if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
            ShardError::Spec(
                "--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not"
                    .to_owned(),
            )
        })?;
        let index0 = id.checked_sub(min).ok_or_else(|| {
            ShardError::Spec(format!(
                "--shard auto: SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
            ))
        })?;
        if index0 >= count {
            return Err(ShardError::Spec(format!(
                "--shard auto: SLURM_ARRAY_TASK_ID {id} - SLURM_ARRAY_TASK_MIN {min} is not below SLURM_ARRAY_TASK_COUNT {count}: submit a contiguous array (--array=0-{})",
                count.saturating_sub(1)
            )));
        }
        ("Slurm", index0, Some(count))
    } else if let Some(i) = num("AWS_BATCH_JOB_ARRAY_INDEX")? {
        ("AWS Batch", i, num("AWS_BATCH_JOB_ARRAY_SIZE")?)
    } else if let Some(i) = num("JOB_COMPLETION_INDEX")? {
        ("Kubernetes", i, None)
    } else {
        return Err(ShardError::Spec(
            "--shard auto: no array job found (none of SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX, JOB_COMPLETION_INDEX is set): give --shard M/N".to_owned(),
        ));
    };
    let count = match (count, shard_count) {
        (Some(c), Some(given)) if c != u64::from(given) => {
            return Err(ShardError::Spec(format!(
                "--shard auto: {engine} runs {c} tasks but --shard-count is {given}"
            )))
        }
        (Some(c), _) => c,
        (None, Some(given)) => u64::from(given),
        (None, None) => {
            return Err(ShardError::Spec(format!(
                "--shard auto: {engine} does not tell the number of shards: give --shard-count N"
            )))
        }
    };
    let n = u32::try_from(count).unwrap_or(u32::MAX);
    let m = u32::try_from(index0 + 1).unwrap_or(u32::MAX);
    check_index(m, n).map_err(|why| ShardError::Spec(format!("--shard auto ({engine}): {why}")))?;
    Ok((m, n))
}

/// What identifies a run: every shard of it computes the same, and the merge refuses parts
/// whose description differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// SHA-256 of the rest, as a short check that two parts are of one run.
    pub fingerprint: String,
    /// The trail.
    pub trail_arn: String,
    /// Requested start.
    pub start: DateTime<Utc>,
    /// Requested end.
    pub end: DateTime<Utc>,
    /// Window size in seconds.
    pub window_seconds: i64,
    /// Number of shards.
    pub shards: u32,
    /// Several chains were discovered (the report has a line per chain).
    pub discover: bool,
    /// How many chains discovery found.
    pub chain_count: usize,
    /// SHA-256 of the chain list (JSON), in discovery order: every part names the chains of its
    /// own items only, and the merge checks that together they are this list.
    pub chains_sha256: String,
    /// The public keys' source, as the report names it.
    pub key_source: String,
    /// The flags that change what is checked (mode, limits), as text.
    pub settings: String,
    /// The execution the parts belong to (`--run-id`, or the array job's id): a part written
    /// by an earlier run of the same job at the same place is another run's.
    pub run_id: String,
}

impl RunInfo {
    /// A run's description, with its fingerprint computed.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        trail_arn: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        window: Duration,
        shards: u32,
        discover: bool,
        chains: &[Chain],
        key_source: &str,
        settings: &str,
        run_id: &str,
    ) -> RunInfo {
        let mut info = RunInfo {
            fingerprint: String::new(),
            trail_arn: trail_arn.to_owned(),
            start,
            end,
            window_seconds: window.num_seconds(),
            shards,
            discover,
            chain_count: chains.len(),
            chains_sha256: chains_sha256(chains),
            key_source: key_source.to_owned(),
            settings: settings.to_owned(),
            run_id: run_id.to_owned(),
        };
        info.fingerprint = info.compute_fingerprint();
        info
    }

    fn compute_fingerprint(&self) -> String {
        let mut copy = self.clone();
        copy.fingerprint = String::new();
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// The run's windows, and each item of the run with the shard (1-based) it belongs to, in
    /// order.
    pub fn split(&self) -> Result<Split, ShardError> {
        let windows = self.windows()?;
        if self.chain_count > MAX_CHAINS
            || self.chain_count.saturating_mul(windows.len()) > MAX_ITEMS
        {
            return Err(ShardError::Spec(format!(
                "{} chains in {} windows make more than {MAX_ITEMS} items: choose a longer --shard-window",
                self.chain_count,
                windows.len()
            )));
        }
        let all = items(self.chain_count, windows.len());
        let weights: Vec<u64> = all.iter().map(|i| weight(&windows[i.window])).collect();
        let owner = split(&weights, self.shards);
        let owned = all
            .into_iter()
            .zip(owner.into_iter().map(|o| o + 1))
            .collect();
        Ok((windows, owned))
    }

    /// The run's windows.
    pub fn windows(&self) -> Result<Vec<Window>, ShardError> {
        let size = Duration::try_seconds(self.window_seconds)
            .ok_or_else(|| ShardError::Spec(format!("a window of {} s", self.window_seconds)))?;
        windows(self.start, self.end, size)
    }

    /// Why what a part says of its run cannot be a run's, if it cannot: every number the
    /// merge sizes its work by is checked here, before anything is made from it.
    fn out_of_range(&self) -> Option<String> {
        if !(3600..=MAX_WINDOW_SECONDS).contains(&self.window_seconds) {
            return Some(format!(
                "window_seconds {} is out of range (3600 to {MAX_WINDOW_SECONDS})",
                self.window_seconds
            ));
        }
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return Some(format!(
                "shards {} is out of range (1 to {MAX_SHARDS})",
                self.shards
            ));
        }
        if self.chain_count > MAX_CHAINS {
            return Some(format!(
                "chain_count {} is out of range (at most {MAX_CHAINS})",
                self.chain_count
            ));
        }
        if self.start >= self.end {
            return Some(format!("its range {} to {} is empty", self.start, self.end));
        }
        // Only what a run's flags can give (crate::time::parse): what is done with the range
        // (an hour past its end, the report's timeline) then stays within chrono's.
        if ![self.start, self.end]
            .iter()
            .all(|t| (1..=9999).contains(&t.year()))
        {
            return Some(format!(
                "its range {} to {} is outside the years 1 to 9999",
                self.start, self.end
            ));
        }
        let windows = self
            .end
            .checked_add_signed(Duration::hours(1))
            .and_then(|_| window_count(self.start, self.end, self.window_seconds));
        let Some(windows) = windows.filter(|n| *n <= MAX_WINDOWS as u64) else {
            return Some(format!(
                "its range {} to {} in windows of {} s is more than {MAX_WINDOWS} windows",
                self.start, self.end, self.window_seconds
            ));
        };
        if u64::try_from(self.chain_count)
            .ok()
            .and_then(|c| c.checked_mul(windows))
            .is_none_or(|n| n > MAX_ITEMS as u64)
        {
            return Some(format!(
                "{} chains in {windows} windows are more than {MAX_ITEMS} items",
                self.chain_count
            ));
        }
        None
    }

    /// The items of shard `shard` (1-based), in order.
    pub fn shard_items(&self, shard: u32) -> Result<Vec<(Item, Window)>, ShardError> {
        let (windows, owned) = self.split()?;
        Ok(owned
            .into_iter()
            .filter(|(_, o)| *o == shard)
            .map(|(i, _)| (i, windows[i.window]))
            .collect())
    }
}

/// SHA-256 (hex) of a chain list as JSON.
pub fn chains_sha256(chains: &[Chain]) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(chains).unwrap_or_default(),
    ))
}

/// [`RunInfo::split`]: the windows, and every item with its shard.
pub type Split = (Vec<Window>, Vec<(Item, u32)>);

/// One shard's partial report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// [`PART_KIND`].
    pub kind: String,
    /// [`PART_VERSION`].
    pub version: u64,
    /// The run.
    pub run: RunInfo,
    /// This shard's number (1-based).
    pub shard: u32,
    /// The chains of its items, by their index in the run's list.
    pub chains: Vec<(usize, Chain)>,
    /// Whether entries of valid log files were kept (`--format json` or `--verbose`); without
    /// them the part is small, and merges to the text report only.
    pub valid_logs: bool,
    /// Its items and what it found in each.
    pub items: Vec<(Item, WindowResult)>,
    /// Discovery's warnings (named accounts or regions without a chain), as printed.
    pub discovery_warnings: Vec<String>,
    /// Warnings about the public keys (printed once by the merge, where the single run does).
    pub key_warnings: Vec<String>,
}

impl Part {
    /// Reads a part, naming `file` in every error.
    pub fn from_json(bytes: &[u8], file: &str) -> Result<Part, ShardError> {
        let malformed = |reason: String| ShardError::Malformed {
            file: file.to_owned(),
            reason,
        };
        // Read straight into a part; only a file that is not one is read again, to say why.
        let part: Part = match serde_json::from_slice::<Part>(bytes) {
            Ok(part) if part.kind == PART_KIND && part.version == PART_VERSION => part,
            parsed => {
                let doc: serde_json::Value = serde_json::from_slice(bytes)
                    .map_err(|e| malformed(format!("not JSON: {e}")))?;
                if doc.get("kind").and_then(serde_json::Value::as_str) != Some(PART_KIND) {
                    return Err(malformed(
                        "not a trailproof partial report (written by validate --shard … --partial)"
                            .to_owned(),
                    ));
                }
                match doc.get("version").and_then(serde_json::Value::as_u64) {
                    Some(PART_VERSION) => {}
                    other => {
                        return Err(malformed(format!(
                            "version {other:?} is not supported (expected {PART_VERSION})"
                        )))
                    }
                }
                return Err(malformed(match parsed {
                    Err(e) => e.to_string(),
                    Ok(_) => "unreadable".to_owned(),
                }));
            }
        };
        if part.run.compute_fingerprint() != part.run.fingerprint {
            return Err(malformed(
                "its run description does not match its fingerprint".to_owned(),
            ));
        }
        if let Some(reason) = part.run.out_of_range() {
            return Err(malformed(reason));
        }
        if part.shard == 0 || part.shard > part.run.shards {
            return Err(malformed(format!(
                "shard {} is not between 1 and {}",
                part.shard, part.run.shards
            )));
        }
        // That they are this shard's items is checked by the merge, which splits the run once.
        let named: std::collections::HashSet<usize> = part.chains.iter().map(|(c, _)| *c).collect();
        for (item, _) in &part.items {
            if !named.contains(&item.chain) {
                return Err(malformed(format!(
                    "it does not name chain {} of its items",
                    item.chain
                )));
            }
        }
        Ok(part)
    }

    /// The part as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The part without what it found: all the merge checks before it stitches.
    pub fn head(&self) -> PartHead {
        PartHead {
            run: self.run.clone(),
            shard: self.shard,
            chains: self.chains.clone(),
            valid_logs: self.valid_logs,
            items: self.items.iter().map(|(i, _)| *i).collect(),
            discovery_warnings: self.discovery_warnings.clone(),
            key_warnings: self.key_warnings.clone(),
        }
    }
}

/// A [`Part`] without its items' results: small, so a merge can hold one per part while it
/// checks that the parts are one whole run, and read the results later, one part at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartHead {
    /// The run.
    pub run: RunInfo,
    /// The shard's number (1-based).
    pub shard: u32,
    /// The chains of its items, by their index in the run's list.
    pub chains: Vec<(usize, Chain)>,
    /// Whether entries of valid log files were kept.
    pub valid_logs: bool,
    /// Its items, in order.
    pub items: Vec<Item>,
    /// Discovery's warnings, as printed.
    pub discovery_warnings: Vec<String>,
    /// Warnings about the public keys.
    pub key_warnings: Vec<String>,
}

/// The merged run: what the single run's report holds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Merged {
    /// The run.
    pub run: RunInfo,
    /// One report per chain, in discovery order.
    pub reports: Vec<Report>,
    /// Discovery's warnings, as printed.
    pub discovery_warnings: Vec<String>,
    /// Warnings about the public keys.
    pub key_warnings: Vec<String>,
}

/// A merge's parts, checked to be the whole of one run: what stitching them needs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MergePlan {
    /// The run.
    pub run: RunInfo,
    /// Its windows.
    pub windows: Vec<Window>,
    /// Its chains, in discovery order.
    pub chains: Vec<Chain>,
    /// Discovery's warnings, as printed (the first part's).
    pub discovery_warnings: Vec<String>,
    /// Warnings about the public keys (the first part's).
    pub key_warnings: Vec<String>,
}

/// Checks that the parts (named for errors, as [`Part::head`] gives them) are every shard of one
/// run, once each, holding the items the split gives them. Refuses parts of different runs,
/// duplicate and missing shards.
pub fn plan(heads: &[(String, PartHead)]) -> Result<MergePlan, ShardError> {
    let Some((first_name, first)) = heads.first() else {
        return Err(ShardError::NoParts);
    };
    let run = first.run.clone();
    let first_name = first_name.clone();
    let mut by_shard: BTreeMap<u32, String> = BTreeMap::new();
    for (name, part) in heads {
        if part.run.fingerprint != run.fingerprint {
            let mut what = Vec::new();
            let (a, b) = (&part.run, &run);
            if a.trail_arn != b.trail_arn {
                what.push("trail");
            }
            if (a.start, a.end) != (b.start, b.end) {
                what.push("range");
            }
            if a.window_seconds != b.window_seconds {
                what.push("window");
            }
            if a.shards != b.shards {
                what.push("shard count");
            }
            if (a.chain_count, &a.chains_sha256) != (b.chain_count, &b.chains_sha256)
                || a.discover != b.discover
            {
                what.push("chains");
            }
            if a.key_source != b.key_source || a.settings != b.settings {
                what.push("flags");
            }
            if a.run_id != b.run_id {
                what.push("run id");
            }
            if what.is_empty() {
                what.push("fingerprints");
            }
            return Err(ShardError::DifferentRun {
                file: name.clone(),
                first: first_name,
                what: what.join(", "),
            });
        }
        if let Some(other) = by_shard.insert(part.shard, name.clone()) {
            return Err(ShardError::Duplicate {
                shard: part.shard,
                count: run.shards,
                first: other,
                second: name.clone(),
            });
        }
    }
    let missing: Vec<u32> = (1..=run.shards)
        .filter(|s| !by_shard.contains_key(s))
        .collect();
    if !missing.is_empty() {
        return Err(ShardError::Missing {
            shards: missing,
            count: run.shards,
        });
    }
    let (windows, owned) = run.split()?;
    let mut expected: BTreeMap<u32, Vec<Item>> = BTreeMap::new();
    for (item, shard) in owned {
        expected.entry(shard).or_default().push(item);
    }
    let mut chains: BTreeMap<usize, &Chain> = BTreeMap::new();
    for (name, part) in heads {
        let want = expected.remove(&part.shard).unwrap_or_default();
        if part.items != want {
            return Err(ShardError::Malformed {
                file: name.clone(),
                reason: format!(
                    "it holds {} items, not the {} the split gives shard {}",
                    part.items.len(),
                    want.len(),
                    part.shard
                ),
            });
        }
        for (index, chain) in &part.chains {
            if let Some(other) = chains.insert(*index, chain) {
                if other != chain {
                    return Err(ShardError::Malformed {
                        file: name.clone(),
                        reason: format!("its chain {index} is not the other parts'"),
                    });
                }
            }
        }
    }
    let chains: Vec<Chain> = chains.into_values().cloned().collect();
    if chains.len() != run.chain_count || chains_sha256(&chains) != run.chains_sha256 {
        return Err(ShardError::Malformed {
            file: first_name,
            reason: "the parts' chains are not the run's chain list".to_owned(),
        });
    }
    Ok(MergePlan {
        run,
        windows,
        chains,
        discovery_warnings: first.discovery_warnings.clone(),
        key_warnings: first.key_warnings.clone(),
    })
}

/// Stitches a planned run's chains from their parts, holding one part at a time.
///
/// `part(shard)` is asked for each shard's part once, from the last shard to the first: a chain's
/// newest windows come first, as its walk goes. `entry(chain, backfill, e)` takes each entry of
/// each chain, last chain first; within a chain in the order of its report, the standard walk's
/// (`backfill` false) before the backfill walk's. Returns the reports in chain order, without
/// their entries. A part must hold what [`plan`] saw of it.
pub fn stitch_parts(
    plan: &MergePlan,
    part: &mut dyn FnMut(u32) -> Result<Part, crate::Error>,
    entry: &mut dyn FnMut(usize, bool, Entry) -> std::io::Result<()>,
) -> Result<Vec<Report>, crate::Error> {
    let run = &plan.run;
    let mut reports: Vec<Option<Report>> = plan.chains.iter().map(|_| None).collect();
    let mut current: Option<(usize, Stitcher<'_>)> = None;
    let io =
        |e: std::io::Error| crate::Error::Config(format!("cannot keep the merged entries: {e}"));
    // Items come newest first: the last chain's last window, then back.
    let mut next = (plan.chains.len(), 0usize);
    for shard in (1..=run.shards).rev() {
        let found = part(shard)?;
        if found.shard != shard || found.run.fingerprint != run.fingerprint {
            return Err(ShardError::Spec(format!(
                "the part of shard {shard} is not the one checked before"
            ))
            .into());
        }
        for (item, result) in found.items.into_iter().rev() {
            // Where the newest-first order puts the next item.
            let expected = match next {
                (c, 0) => (c.checked_sub(1), plan.windows.len().checked_sub(1)),
                (c, w) => (Some(c), Some(w - 1)),
            };
            if expected != (Some(item.chain), Some(item.window)) {
                return Err(ShardError::Spec(format!(
                    "no part holds window {} of chain {}",
                    expected.1.unwrap_or(0),
                    expected.0.unwrap_or(0)
                ))
                .into());
            }
            next = (item.chain, item.window);
            if current.as_ref().is_none_or(|(c, _)| *c != item.chain) {
                if let Some((c, done)) = current.take() {
                    reports[c] = Some(done.finish(&mut |b, e| entry(c, b, e)).map_err(io)?);
                }
                let chain = plan.chains.get(item.chain).ok_or_else(|| {
                    ShardError::Spec(format!("no chain {} in the run", item.chain))
                })?;
                current = Some((item.chain, Stitcher::new(run, chain)));
            }
            if let Some((c, stitcher)) = current.as_mut() {
                let c = *c;
                stitcher
                    .push(result, plan.windows[item.window], &mut |b, e| {
                        entry(c, b, e)
                    })
                    .map_err(io)?;
            }
        }
    }
    if let Some((c, done)) = current.take() {
        reports[c] = Some(done.finish(&mut |b, e| entry(c, b, e)).map_err(io)?);
    }
    if next != (0, 0) && !plan.chains.is_empty() {
        return Err(ShardError::Spec(format!(
            "no part holds window {} of chain {}",
            next.1.saturating_sub(1),
            next.0
        ))
        .into());
    }
    reports
        .into_iter()
        .enumerate()
        .map(|(c, r)| {
            r.ok_or_else(|| ShardError::Spec(format!("no part holds window 0 of chain {c}")).into())
        })
        .collect()
}

/// Merges every shard's part (named for errors) into the reports of the single run, entries
/// included: [`plan`], then [`stitch_parts`] over parts held in memory. Refuses parts of
/// different runs, duplicate and missing shards.
pub fn merge(parts: Vec<(String, Part)>) -> Result<Merged, ShardError> {
    let heads: Vec<(String, PartHead)> = parts.iter().map(|(n, p)| (n.clone(), p.head())).collect();
    let plan = plan(&heads)?;
    let count = plan.run.shards;
    let mut by_shard: HashMap<u32, Part> = parts.into_iter().map(|(_, p)| (p.shard, p)).collect();
    let mut entries: Vec<[Vec<Entry>; 2]> =
        plan.chains.iter().map(|_| Default::default()).collect();
    let stitched = stitch_parts(
        &plan,
        &mut |shard| {
            by_shard.remove(&shard).ok_or_else(|| {
                crate::Error::from(ShardError::Missing {
                    shards: vec![shard],
                    count,
                })
            })
        },
        &mut |c, backfill, e| {
            if let Some(kinds) = entries.get_mut(c) {
                kinds[usize::from(backfill)].push(e);
            }
            Ok(())
        },
    );
    let mut reports = match stitched {
        Ok(reports) => reports,
        Err(crate::Error::Shard(e)) => return Err(e),
        Err(other) => return Err(ShardError::Spec(other.to_string())),
    };
    for (report, [mut standard, backfill]) in reports.iter_mut().zip(entries) {
        standard.extend(backfill);
        report.entries = standard;
    }
    Ok(Merged {
        run: plan.run,
        reports,
        discovery_warnings: plan.discovery_warnings,
        key_warnings: plan.key_warnings,
    })
}

/// One chain's report from its windows' results (oldest first): the single walk, newest first,
/// with every window boundary checked as the walk checks a link inside a window.
pub fn stitch(
    run: &RunInfo,
    chain: &Chain,
    windows: &[Window],
    results: Vec<WindowResult>,
) -> Report {
    let mut kinds: [Vec<Entry>; 2] = [Vec::new(), Vec::new()];
    let mut keep = |backfill: bool, e: Entry| -> Result<(), std::convert::Infallible> {
        kinds[usize::from(backfill)].push(e);
        Ok(())
    };
    let mut stitcher = Stitcher::new(run, chain);
    // Newest first, as the walk goes.
    for (result, window) in results.into_iter().zip(windows).rev() {
        let Ok(()) = stitcher.push(result, *window, &mut keep);
    }
    let Ok(mut report) = stitcher.finish(&mut keep);
    let [mut standard, backfill] = kinds;
    standard.extend(backfill);
    report.entries = standard;
    report
}

/// One chain's stitch, fed its windows' results newest first, one at a time: what it holds
/// between windows is the boundary's state and the chain's findings, never its entries, which
/// go out as they are stitched (see [`stitch_parts`]).
#[derive(Debug)]
pub struct Stitcher<'a> {
    run: &'a RunInfo,
    chain: &'a Chain,
    counts: Summary,
    found: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    new_head: Option<Head>,
    keys_used: Vec<KeyUse>,
    covered: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    candidates: Vec<Finding>,
    tail: Vec<Finding>,
    standard: KindStitch,
    backfill: KindStitch,
}

/// One kind's walks being joined, newest window first.
#[derive(Debug, Default)]
struct KindStitch {
    findings: Vec<Finding>,
    /// Each window's unreached digests, newest window first.
    unreached: Vec<Vec<Finding>>,
    /// How the newer walk goes on, and where its window starts.
    pending: Option<(Exit, Window)>,
}

impl<'a> Stitcher<'a> {
    /// A chain's stitch, before its newest window.
    pub fn new(run: &'a RunInfo, chain: &'a Chain) -> Self {
        Stitcher {
            run,
            chain,
            counts: Summary::default(),
            found: (None, None),
            new_head: None,
            keys_used: Vec::new(),
            covered: Vec::new(),
            candidates: Vec::new(),
            tail: Vec::new(),
            standard: KindStitch::default(),
            backfill: KindStitch::default(),
        }
    }

    /// Adds the next older window's result; its entries go to `out` as `(backfill, entry)`.
    pub fn push<E>(
        &mut self,
        result: WindowResult,
        window: Window,
        out: &mut dyn FnMut(bool, Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        self.counts = add(self.counts, result.counts);
        self.found.0 = min_opt(self.found.0, result.found_start);
        self.found.1 = max_opt(self.found.1, result.found_end);
        if self.new_head.is_none() {
            self.new_head = result.new_head;
        }
        self.keys_used.extend(result.keys_used);
        self.covered.extend(result.covered);
        self.candidates.extend(result.unreferenced);
        self.tail.extend(result.tail);
        for (kind, walk, backfill) in [
            (&mut self.standard, result.standard, false),
            (&mut self.backfill, result.backfill, true),
        ] {
            kind.push(
                self.chain,
                walk,
                window,
                backfill,
                &mut self.counts,
                &mut |e| out(backfill, e),
            )?;
        }
        Ok(())
    }

    /// The chain's report, without its entries (all given to `out` by then).
    pub fn finish<E>(
        mut self,
        out: &mut dyn FnMut(bool, Entry) -> Result<(), E>,
    ) -> Result<Report, E> {
        let mut findings = Vec::new();
        for (kind, backfill) in [
            (std::mem::take(&mut self.standard), false),
            (std::mem::take(&mut self.backfill), true),
        ] {
            let unreached = kind.finish(
                self.run,
                self.chain,
                backfill,
                &mut findings,
                &mut self.counts,
                &mut |e| out(backfill, e),
            )?;
            findings.extend(unreached);
        }
        let candidates = std::mem::take(&mut self.candidates);
        findings.extend(unreferenced(
            self.run,
            self.chain,
            &self.covered,
            candidates,
        ));
        findings.extend(std::mem::take(&mut self.tail));
        Ok(self.report(findings))
    }

    fn report(mut self, findings: Vec<Finding>) -> Report {
        self.keys_used.sort();
        self.keys_used.dedup();
        Report {
            trail_arn: self.run.trail_arn.clone(),
            chain: self.chain.clone(),
            start: self.run.start,
            end: self.run.end,
            found_start: self.found.0,
            found_end: self.found.1,
            entries: Vec::new(),
            counts: self.counts,
            findings,
            resumed_from: None,
            new_head: self.new_head,
            key_source: self.run.key_source.clone(),
            keys_used: self.keys_used,
        }
    }
}

impl KindStitch {
    /// Joins the next older window's walk.
    fn push<E>(
        &mut self,
        chain: &Chain,
        walk: KindResult,
        window: Window,
        backfill: bool,
        counts: &mut Summary,
        out: &mut dyn FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        self.unreached.push(walk.unreached);
        let Some(first) = walk.first else {
            // A window listing no digest: the walk passes it by, as the single walk does.
            walk.entries.into_iter().try_for_each(&mut *out)?;
            self.findings.extend(walk.findings);
            return Ok(());
        };
        if let Some((exit, _)) = self.pending.take() {
            let mut joined = Vec::new();
            join(
                chain,
                exit,
                &first,
                backfill,
                &mut joined,
                &mut self.findings,
                counts,
            );
            joined.into_iter().try_for_each(&mut *out)?;
        }
        walk.entries.into_iter().try_for_each(&mut *out)?;
        self.findings.extend(walk.findings);
        self.pending = Some((walk.exit, window));
        Ok(())
    }

    /// Past the oldest window that lists digests: appends this kind's findings to `findings`
    /// and returns the unreached digests, oldest window first as the single run lists them.
    fn finish<E>(
        self,
        run: &RunInfo,
        chain: &Chain,
        backfill: bool,
        findings: &mut Vec<Finding>,
        counts: &mut Summary,
        out: &mut dyn FnMut(Entry) -> Result<(), E>,
    ) -> Result<Vec<Finding>, E> {
        findings.extend(self.findings);
        if let Some((
            Exit::Link {
                from_bucket,
                successor_key,
                bucket,
                key,
                ..
            },
            window,
        )) = self.pending
        {
            let time = parse_key_time(key_date(&key));
            let in_range = time.is_some_and(|t| t >= run.start && t < window.start);
            if bucket == chain.bucket
                && in_range
                && chain.is_digest_key(&key)
                && is_backfill_key(&key) == backfill
            {
                // Listed by no window, though in range: deleted. The single walk reports it not
                // found, with no older digest to count a missing run to.
                let mut gone = Vec::new();
                not_found(&bucket, &key, backfill, &mut gone, counts);
                gone.into_iter().try_for_each(&mut *out)?;
            } else {
                findings.push(Finding::LinkMismatch {
                    bucket: from_bucket,
                    key: successor_key,
                    previous_key: key.clone(),
                    field: "previousDigestS3Object",
                    expected: format!("s3://{bucket}/{key}"),
                    actual: "a digest the sharded run does not list".to_owned(),
                });
            }
        }
        Ok(self.unreached.into_iter().rev().flatten().collect())
    }
}

/// The boundary between a newer walk that leaves its window by `exit` and the older window
/// whose first digest is `first`: what the single walk does there.
fn join(
    chain: &Chain,
    exit: Exit,
    first: &FirstDigest,
    backfill: bool,
    entries: &mut Vec<Entry>,
    findings: &mut Vec<Finding>,
    counts: &mut Summary,
) {
    let first_time = parse_key_time(key_date(&first.key));
    match exit {
        Exit::NextListed => {}
        Exit::End => {
            // The single walk would stop here and leave every older digest unreached; the
            // sharded run names the first of them (never valid either way).
            findings.push(Finding::UnreachedDigest {
                bucket: first.bucket.clone(),
                key: first.key.clone(),
                backfill,
            });
        }
        Exit::AfterMissing { bucket, key } => {
            count_more_missing(&bucket, &key, first_time, backfill, findings);
        }
        Exit::AfterNoPrevious { start } => {
            if let (Some(from), Some(to)) = (first_time, start) {
                if from < to {
                    entries.push(Entry::Gap { backfill, from, to });
                }
            }
        }
        Exit::Link {
            from_bucket,
            successor_key,
            bucket,
            key,
            signature,
            hash,
        } => {
            if bucket == first.bucket && key == first.key {
                // The link check of a verified successor, as inside a window. An unverified
                // first digest is judged on its own (never valid) and checked no further.
                if let Some(facts) = &first.link {
                    check_link_facts(
                        &successor_key,
                        &key,
                        hash.as_deref(),
                        signature.as_deref(),
                        &bucket,
                        facts,
                        findings,
                    );
                }
                return;
            }
            let time = parse_key_time(key_date(&key));
            let deleted = bucket == chain.bucket
                && chain.is_digest_key(&key)
                && is_backfill_key(&key) == backfill
                && time.zip(first_time).is_some_and(|(t, f)| t > f);
            if deleted {
                // Newer than every older listed digest, so listed by none: the single walk
                // finds it missing, then goes on from the older window's first digest.
                not_found(&bucket, &key, backfill, entries, counts);
                count_more_missing(&bucket, &key, first_time, backfill, findings);
            } else {
                // A link into the middle of an older window, or to another bucket: the
                // single walk would jump there; the sharded run reports the break.
                findings.push(Finding::LinkMismatch {
                    bucket: from_bucket,
                    key: successor_key,
                    previous_key: first.key.clone(),
                    field: "previousDigestS3Object",
                    expected: format!("s3://{bucket}/{key}"),
                    actual: format!("s3://{}/{}", first.bucket, first.key),
                });
            }
        }
    }
}

fn not_found(
    bucket: &str,
    key: &str,
    backfill: bool,
    entries: &mut Vec<Entry>,
    counts: &mut Summary,
) {
    let entry = Entry::Digest(DigestEntry {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        backfill,
        outcome: DigestOutcome::NotFound,
        start: None,
        end: None,
        log_files: 0,
    });
    counts.add_entry(&entry);
    entries.push(entry);
}

/// The log files the single run calls unreferenced: candidates inside the time all windows'
/// valid digests cover together, clear of its edges, in the order the single run lists them.
fn unreferenced(
    run: &RunInfo,
    chain: &Chain,
    covered: &[(DateTime<Utc>, DateTime<Utc>)],
    candidates: Vec<Finding>,
) -> Vec<Finding> {
    let merged = union(covered.to_vec());
    let mut keep: BTreeMap<(usize, String), Finding> = BTreeMap::new();
    for f in candidates {
        let Finding::UnreferencedLog { key, .. } = &f else {
            continue;
        };
        let Some(t) = chain.log_key_time(key) else {
            continue;
        };
        // Checked: the spans come from the parts, and may lie at the ends of time.
        let found = merged.iter().enumerate().find(|(_, (s, e))| {
            let lo = s
                .checked_add_signed(UNREFERENCED_MARGIN)
                .map(|lo| lo.max(run.start));
            let hi = e
                .checked_sub_signed(UNREFERENCED_MARGIN)
                .map(|hi| hi.min(run.end));
            let end = t.checked_add_signed(Duration::minutes(1));
            match (lo, hi, end) {
                (Some(lo), Some(hi), Some(end)) => lo < hi && t >= lo && end <= hi,
                _ => false,
            }
        });
        if let Some((i, _)) = found {
            keep.entry((i, key.clone())).or_insert(f);
        }
    }
    keep.into_values().collect()
}

fn add(a: Summary, b: Summary) -> Summary {
    a.plus(b)
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse(s).unwrap()
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    proptest! {
        /// Every item goes to exactly one shard, shards take contiguous runs in order, and no
        /// shard carries more than its share plus one item.
        #[test]
        fn split_is_disjoint_complete_and_balanced(
            weights in proptest::collection::vec(1u64..10_000, 0..300),
            n in 1u32..=64,
        ) {
            let owner = split(&weights, n);
            prop_assert_eq!(owner.len(), weights.len());
            prop_assert!(owner.iter().all(|s| *s < n));
            prop_assert!(owner.windows(2).all(|w| w[0] <= w[1]));
            let total: u64 = weights.iter().sum();
            let max = weights.iter().copied().max().unwrap_or(0);
            let mut load = vec![0u64; n as usize];
            for (w, s) in weights.iter().zip(&owner) {
                load[*s as usize] += w;
            }
            prop_assert_eq!(load.iter().sum::<u64>(), total);
            for l in &load {
                prop_assert!(*l <= total / u64::from(n) + max, "{load:?}");
            }
        }

        /// The items of shards 1..=N of a run, taken together, are every item once.
        #[test]
        fn shards_cover_every_item_once(
            chains in 0usize..6,
            hours in 1i64..2000,
            window_hours in 1i64..400,
            offset in 0i64..100_000,
            n in 1u32..=64,
        ) {
            let start = t("2020-01-01T00:00:00Z") + Duration::minutes(offset);
            let end = start + Duration::hours(hours);
            let chains: Vec<Chain> = (0..chains).map(|i| Chain {
                bucket: "b".into(), prefix: None, organization_id: None,
                account_id: format!("{i:012}"), source_region: "us-east-1".into(),
                home_region: "us-east-1".into(), trail_name: "t".into(),
            }).collect();
            let run = RunInfo::new("arn", start, end, Duration::hours(window_hours), n, true,
                &chains, "k", "s", "r");
            let windows = run.windows().unwrap();
            let mut seen = Vec::new();
            for shard in 1..=n {
                seen.extend(run.shard_items(shard).unwrap().into_iter().map(|(i, _)| i));
            }
            seen.sort();
            prop_assert_eq!(seen, items(chains.len(), windows.len()));
        }
    }

    #[test]
    fn windows_follow_the_epoch_grid_and_tile_the_range() {
        let start = t("2024-03-01T05:30:00Z");
        let end = t("2024-03-03T01:00:00Z");
        let w = windows(start, end, Duration::days(1)).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].start, start);
        assert_eq!(w[0].end, t("2024-03-02T00:00:00Z"));
        assert_eq!(w[1].end, t("2024-03-03T00:00:00Z"));
        // The newest window ends where the single run's listing does: an hour past the end.
        assert_eq!(w[2].end, end + Duration::hours(1));
        assert!(w[0].oldest && !w[0].newest && w[2].newest && !w[2].oldest);
        for pair in w.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        // A boundary exactly at the end belongs to the grid; none at the start.
        let w = windows(
            t("2024-03-01T00:00:00Z"),
            t("2024-03-02T00:00:00Z"),
            Duration::days(1),
        );
        assert_eq!(w.unwrap().len(), 2);
        assert!(windows(start, end, Duration::minutes(30)).is_err());
        assert!(windows(
            t("2000-01-01T00:00:00Z"),
            t("2030-01-01T00:00:00Z"),
            Duration::hours(1)
        )
        .is_err());
        // The ends of time and of the window's range are errors, not panics.
        let max = DateTime::<Utc>::MAX_UTC;
        assert!(windows(max - Duration::hours(2), max, Duration::hours(1)).is_err());
        assert!(windows(start, end, Duration::MAX).is_err());
        assert!(windows(DateTime::<Utc>::MIN_UTC, end, Duration::weeks(10_000)).is_ok());
        let mut run = RunInfo::new(
            "arn",
            start,
            end,
            Duration::hours(1),
            1,
            false,
            &[],
            "k",
            "s",
            "r",
        );
        run.window_seconds = i64::MAX;
        assert!(run.windows().is_err());
        assert!(run.out_of_range().is_some());
        assert!(parse_window("9999999999w").is_err());
        assert!(parse_window("1é").is_err());
    }

    #[test]
    fn window_sizes_parse() {
        assert_eq!(parse_window("6h").unwrap(), Duration::hours(6));
        assert_eq!(parse_window("30d").unwrap(), Duration::days(30));
        assert_eq!(parse_window("2w").unwrap(), Duration::weeks(2));
        for bad in [
            "",
            "h",
            "0h",
            "-3d",
            "30",
            "3m",
            "1.5d",
            "99999999999999999w",
        ] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shard_numbers_parse_one_based() {
        assert_eq!(parse_shard("1/1").unwrap(), (1, 1));
        assert_eq!(parse_shard("3/8").unwrap(), (3, 8));
        for bad in ["0/4", "5/4", "1/0", "a/4", "4", "1/4/2", "-1/4"] {
            let e = parse_shard(bad).unwrap_err().to_string();
            assert!(e.contains("--shard"), "{bad}: {e}");
        }
    }

    #[test]
    fn auto_reads_slurm_with_a_nonzero_minimum() {
        let vars = env(&[
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(auto_shard(&vars, None).unwrap(), (3, 4));
        assert_eq!(auto_shard(&vars, Some(4)).unwrap(), (3, 4));
        let e = auto_shard(&vars, Some(5)).unwrap_err().to_string();
        assert!(
            e.contains("Slurm runs 4 tasks but --shard-count is 5"),
            "{e}"
        );
        let zero = env(&[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(auto_shard(&zero, None).unwrap(), (1, 4));
        // A stepped array (--array=0-12:4) numbers its tasks past the count.
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        let e = auto_shard(&stepped, None).unwrap_err().to_string();
        assert!(e.contains("contiguous"), "{e}");
        let below = env(&[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert!(auto_shard(&below, None).is_err());
        let no_count = env(&[("SLURM_ARRAY_TASK_ID", "1")]);
        assert!(auto_shard(&no_count, None)
            .unwrap_err()
            .to_string()
            .contains("SLURM_ARRAY_TASK_COUNT"));
    }

    #[test]
    fn auto_reads_aws_batch_and_kubernetes() {
        let batch = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "16"),
        ]);
        assert_eq!(auto_shard(&batch, None).unwrap(), (1, 16));
        let batch_no_size = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "15")]);
        assert_eq!(auto_shard(&batch_no_size, Some(16)).unwrap(), (16, 16));
        assert!(auto_shard(&batch_no_size, Some(15)).is_err());
        let k8s = env(&[("JOB_COMPLETION_INDEX", "6")]);
        assert_eq!(auto_shard(&k8s, Some(7)).unwrap(), (7, 7));
        let e = auto_shard(&k8s, None).unwrap_err().to_string();
        assert!(
            e.contains("Kubernetes") && e.contains("--shard-count"),
            "{e}"
        );
        assert!(auto_shard(&k8s, Some(6)).is_err());
        let e = auto_shard(&env(&[]), Some(3)).unwrap_err().to_string();
        assert!(e.contains("JOB_COMPLETION_INDEX"), "{e}");
        let e = auto_shard(&env(&[("JOB_COMPLETION_INDEX", "x")]), Some(3))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a number"), "{e}");
    }

    fn chain() -> Chain {
        Chain {
            bucket: "b".into(),
            prefix: None,
            organization_id: None,
            account_id: "111122223333".into(),
            source_region: "us-east-1".into(),
            home_region: "us-east-1".into(),
            trail_name: "t".into(),
        }
    }

    fn part() -> Part {
        let run = RunInfo::new(
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
            t("2024-03-01T00:00:00Z"),
            t("2024-03-01T03:00:00Z"),
            Duration::hours(1),
            2,
            false,
            &[chain()],
            "k",
            "s",
            "r",
        );
        let empty = WindowResult {
            standard: KindResult::default(),
            backfill: KindResult::default(),
            counts: Summary::default(),
            found_start: None,
            found_end: None,
            new_head: None,
            keys_used: Vec::new(),
            covered: Vec::new(),
            unreferenced: Vec::new(),
            tail: Vec::new(),
        };
        let items = run
            .shard_items(1)
            .unwrap()
            .into_iter()
            .map(|(i, _)| (i, empty.clone()))
            .collect();
        Part {
            kind: PART_KIND.into(),
            version: PART_VERSION,
            run,
            shard: 1,
            chains: vec![(0, chain())],
            valid_logs: true,
            items,
            discovery_warnings: Vec::new(),
            key_warnings: Vec::new(),
        }
    }

    #[test]
    fn a_part_reads_back_and_malformed_parts_are_named() {
        let good = part();
        let back = Part::from_json(&good.to_json(), "p1").unwrap();
        assert_eq!(back, good);
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v: serde_json::Value = serde_json::from_slice(&good.to_json()).unwrap();
            f(&mut v);
            serde_json::to_vec(&v).unwrap()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "not JSON"),
            (b"{}".to_vec(), "not a trailproof partial report"),
            (edit(&|v| v["version"] = 9.into()), "version Some(9)"),
            (
                edit(&|v| v["run"]["end"] = "2024-03-01T04:00:00Z".into()),
                "fingerprint",
            ),
            (
                edit(&|v| v["shard"] = 3.into()),
                "shard 3 is not between 1 and 2",
            ),
            (
                edit(&|v| v["chains"] = serde_json::json!([])),
                "does not name chain 0",
            ),
            (
                edit(
                    &|v| v["items"][0][1]["standard"]["findings"] = serde_json::json!([{"LinkMismatch": {"bucket": "b", "key": "k", "previous_key": "p", "field": "evil", "expected": "", "actual": ""}}]),
                ),
                "unknown previousDigest field",
            ),
        ];
        for (bytes, want) in cases {
            let e = Part::from_json(&bytes, "parts/p1.json")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("partial report parts/p1.json: "), "{e}");
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    /// The streaming merge asks for each part once, newest shard first, and refuses a part that
    /// is not the one the plan checked (a file replaced between the two readings).
    #[test]
    fn parts_are_stitched_one_at_a_time_newest_first() {
        let one = part();
        let mut second = one.clone();
        second.shard = 2;
        second.items = one
            .run
            .shard_items(2)
            .unwrap()
            .into_iter()
            .map(|(i, _)| (i, one.items[0].1.clone()))
            .collect();
        let heads = vec![
            ("a".to_owned(), one.head()),
            ("b".to_owned(), second.head()),
        ];
        let planned = plan(&heads).unwrap();
        let mut asked = Vec::new();
        let reports = stitch_parts(
            &planned,
            &mut |shard| {
                asked.push(shard);
                Ok(if shard == 1 {
                    one.clone()
                } else {
                    second.clone()
                })
            },
            &mut |_, _, _| Ok(()),
        )
        .unwrap();
        assert_eq!(asked, vec![2, 1]);
        let whole = merge(vec![
            ("a".into(), one.clone()),
            ("b".into(), second.clone()),
        ])
        .unwrap();
        assert_eq!(reports.len(), whole.reports.len());
        let e = stitch_parts(&planned, &mut |_| Ok(one.clone()), &mut |_, _, _| Ok(()))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "the part of shard 2 is not the one checked before");
    }

    #[test]
    fn merges_refuse_other_runs_missing_and_duplicate_shards() {
        let one = part();
        let e = merge(vec![("a".into(), one.clone())])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "missing shard 2 of 2: every shard's partial report is needed"
        );
        let e = merge(vec![("a".into(), one.clone()), ("b".into(), one.clone())])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "shard 1/2 is given twice: a and b");
        let mut other = one.clone();
        other.run = RunInfo::new(
            &one.run.trail_arn,
            one.run.start,
            one.run.end + Duration::hours(1),
            Duration::hours(1),
            2,
            false,
            &[chain()],
            "k",
            "s",
            "r",
        );
        let e = merge(vec![("a".into(), one.clone()), ("b".into(), other)])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "partial report b is of another run than a (not the same range)"
        );
        assert!(matches!(merge(Vec::new()), Err(ShardError::NoParts)));
        // Both shards, but the first without its items.
        let mut second = one.clone();
        second.shard = 2;
        second.items = one
            .run
            .shard_items(2)
            .unwrap()
            .into_iter()
            .map(|(i, _)| (i, one.items[0].1.clone()))
            .collect();
        let mut empty = one.clone();
        empty.items.clear();
        let e = merge(vec![("a".into(), empty), ("b".into(), second.clone())])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "partial report a: it holds 0 items, not the 2 the split gives shard 1"
        );
        assert_eq!(
            merge(vec![("a".into(), one.clone()), ("b".into(), second)])
                .unwrap()
                .reports
                .len(),
            1
        );
    }
}

//! How a run is cut: windows on a fixed grid, (chain, window) items, their split among the
//! shards, the shard numbers, and the description of the run every part carries.

use chrono::{DateTime, Datelike as _, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::layout::Chain;
use crate::window::Window;

use super::ShardError;

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

    pub(super) fn compute_fingerprint(&self) -> String {
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
    pub(super) fn out_of_range(&self) -> Option<String> {
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

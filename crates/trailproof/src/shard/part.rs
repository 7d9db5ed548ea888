//! A shard's partial report, read back with every check it allows alone, and the merge's check
//! that the parts are every shard of one run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::layout::Chain;
use crate::window::{Window, WindowResult};

use super::plan::{chains_sha256, Item, RunInfo};
use super::ShardError;

/// Kind and version written at the top of every partial report.
pub const PART_KIND: &str = "trailproof-partial";
/// Layout version of partial reports.
pub const PART_VERSION: u64 = 3;

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
    check_shards(heads, &run, &first_name)?;
    let (windows, owned) = run.split()?;
    let chains = parts_chains(heads, owned)?;
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

/// Refuses a part of another run than `run` (the first part's), and any shard of it held
/// twice or by none.
fn check_shards(
    heads: &[(String, PartHead)],
    run: &RunInfo,
    first_name: &str,
) -> Result<(), ShardError> {
    let mut by_shard: BTreeMap<u32, String> = BTreeMap::new();
    for (name, part) in heads {
        if part.run.fingerprint != run.fingerprint {
            return Err(ShardError::DifferentRun {
                file: name.clone(),
                first: first_name.to_owned(),
                what: differences(&part.run, run),
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
    Ok(())
}

/// What makes two runs' fingerprints differ, as the error names it.
fn differences(a: &RunInfo, b: &RunInfo) -> String {
    let mut what = Vec::new();
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
    what.join(", ")
}

/// The chains the parts hold, in the run's order, once each part is found to hold the items
/// the split (`owned`) gives its shard and the same chain under each index as the others.
fn parts_chains(
    heads: &[(String, PartHead)],
    owned: Vec<(Item, u32)>,
) -> Result<Vec<Chain>, ShardError> {
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
    Ok(chains.into_values().cloned().collect())
}

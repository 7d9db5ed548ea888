//! Partial reports of a sharded run as `trailproof merge` reads them: raw bytes, or the parts of
//! a real (tampered) run edited anywhere, their fingerprint made to match again so that the
//! edits reach the merge. Never panics; a part is refused naming it, and one whose run is out
//! of range (window, shard count, chains, windows) is always refused; what merges renders as
//! text and JSON.
#![no_main]

use std::sync::OnceLock;

use chrono::Datelike as _;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use trailproof::shard::{
    merge, Part, RunInfo, MAX_CHAINS, MAX_SHARDS, MAX_WINDOW_SECONDS, PART_KIND, PART_VERSION,
};
use trailproof::{validate_windows, Chain, KeySet, MemoryStore, Object, Options, Parallelism, Report};
use trailproof_testkit::TrailBuilder;

#[derive(Arbitrary, Debug)]
enum Edit {
    Int { part: u8, leaf: u16, value: i64 },
    Uint { part: u8, leaf: u16, value: u64 },
    Float { part: u8, leaf: u16, value: f64 },
    Text { part: u8, leaf: u16, value: String },
    Time { part: u8, leaf: u16, seconds: i64 },
    Null { part: u8, leaf: u16 },
    Remove { part: u8, leaf: u16 },
    Duplicate { part: u8, leaf: u16 },
    Run { part: u8, field: RunField, value: i64 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum RunField {
    WindowSeconds,
    Shards,
    ChainCount,
    Start,
    End,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(Vec<u8>),
    Edited { edits: Vec<Edit>, reverse: bool, drop_second: bool },
}

/// The two parts of a 2-shard run over a tampered 8-hour trail, as JSON values.
fn base() -> &'static Vec<Value> {
    static BASE: OnceLock<Vec<Value>> = OnceLock::new();
    BASE.get_or_init(|| {
        let trail = TrailBuilder::new().hours(8).logs_per_hour(2).records_per_log(2).build();
        let mut archive = trail.archive.clone();
        let digests = trail.digests_in(trail.home_region());
        archive.modify_log(trail.bucket(), &digests[1].log_keys[0]);
        archive.delete(trail.bucket(), &digests[4].key);
        archive.corrupt_signature(trail.bucket(), &digests[6].key);
        let mut store = MemoryStore::new();
        for ((bucket, key), o) in &archive.objects {
            store.put(bucket, key, Object { bytes: o.body.clone(), metadata: Some(o.metadata.clone()) });
        }
        let keys = KeySet::from_list_public_keys_json(archive.public_keys_json().as_bytes(), "keys")
            .expect("testkit keys");
        let arn = trailproof::TrailArn::parse(&trail.trail_arn()).expect("arn");
        let chains = vec![Chain::for_trail(&arn, trail.bucket())];
        let (start, end) = (trail.start(), trail.start() + chrono::Duration::hours(8));
        let run = RunInfo::new(
            &arn.arn,
            start,
            end,
            chrono::Duration::hours(3),
            2,
            false,
            &chains,
            "keys",
            "fuzz",
            "run-1",
        );
        let options = Options::new(start, end)
            .parallelism(Parallelism::Serial)
            .check_unreferenced_logs(true);
        (1..=2)
            .map(|shard| {
                let mine = run.shard_items(shard).expect("split");
                let items: Vec<_> = mine.iter().map(|(i, w)| (chains[i.chain].clone(), *w)).collect();
                let results = validate_windows(&store, &keys, &items, &arn.arn, &options).expect("windows");
                let part = Part {
                    kind: PART_KIND.to_owned(),
                    version: PART_VERSION,
                    run: run.clone(),
                    shard,
                    chains: vec![(0, chains[0].clone())],
                    valid_logs: true,
                    items: mine.into_iter().map(|(i, _)| i).zip(results).collect(),
                    discovery_warnings: vec!["warning \u{202e}x".to_owned()],
                    key_warnings: Vec::new(),
                };
                serde_json::from_slice(&part.to_json()).expect("part JSON")
            })
            .collect()
    })
}

/// JSON pointers of every leaf (and empty container) of `v`, in document order.
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                leaves(child, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                leaves(child, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

fn pick(v: &Value, leaf: u16) -> Option<String> {
    let mut all = Vec::new();
    leaves(v, String::new(), &mut all);
    (!all.is_empty()).then(|| all[usize::from(leaf) % all.len()].clone())
}

fn parent(pointer: &str) -> (&str, &str) {
    pointer.rsplit_once('/').unwrap_or(("", pointer))
}

fn apply(parts: &mut [Value], edit: &Edit) {
    let n = parts.len();
    let (part, leaf) = match edit {
        Edit::Int { part, leaf, .. }
        | Edit::Uint { part, leaf, .. }
        | Edit::Float { part, leaf, .. }
        | Edit::Text { part, leaf, .. }
        | Edit::Time { part, leaf, .. }
        | Edit::Null { part, leaf }
        | Edit::Remove { part, leaf }
        | Edit::Duplicate { part, leaf } => (usize::from(*part) % n, *leaf),
        Edit::Run { part, field, value } => {
            let run = &mut parts[usize::from(*part) % n]["run"];
            let time = |s: i64| {
                chrono::DateTime::<chrono::Utc>::from_timestamp(s, 0)
                    .map_or(Value::from(s), |t| Value::from(t.to_rfc3339()))
            };
            match field {
                RunField::WindowSeconds => run["window_seconds"] = Value::from(*value),
                RunField::Shards => run["shards"] = Value::from(*value),
                RunField::ChainCount => run["chain_count"] = Value::from(*value),
                RunField::Start => run["start"] = time(*value),
                RunField::End => run["end"] = time(*value),
            }
            return;
        }
    };
    let v = &mut parts[part];
    let Some(pointer) = pick(v, leaf) else { return };
    let new = match edit {
        Edit::Int { value, .. } => Value::from(*value),
        Edit::Uint { value, .. } => Value::from(*value),
        Edit::Float { value, .. } => serde_json::Number::from_f64(*value).map_or(Value::Null, Value::Number),
        Edit::Text { value, .. } => Value::from(value.clone()),
        Edit::Time { seconds, .. } => chrono::DateTime::<chrono::Utc>::from_timestamp(*seconds, 0)
            .map_or(Value::Null, |t| Value::from(t.to_rfc3339())),
        Edit::Null { .. } => Value::Null,
        Edit::Remove { .. } | Edit::Duplicate { .. } => {
            let (up, last) = parent(&pointer);
            let duplicate = matches!(edit, Edit::Duplicate { .. });
            match v.pointer_mut(up) {
                Some(Value::Object(m)) if !duplicate => {
                    m.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>() {
                        if i < a.len() {
                            if duplicate {
                                let copy = a[i].clone();
                                a.push(copy);
                            } else {
                                a.remove(i);
                            }
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        Edit::Run { .. } => return,
    };
    if let Some(slot) = v.pointer_mut(&pointer) {
        *slot = new;
    }
}

/// Makes the run's fingerprint match its (edited) fields again, as an editor of parts would.
fn refingerprint(part: &mut Value) {
    let Ok(mut run) = serde_json::from_value::<RunInfo>(part["run"].clone()) else { return };
    run.fingerprint = String::new();
    let bytes = serde_json::to_vec(&run).expect("run JSON");
    part["run"]["fingerprint"] = Value::from(hex::encode(Sha256::digest(&bytes)));
}

fn read(bytes: &[u8], name: &str) -> Option<Part> {
    match Part::from_json(bytes, name) {
        Ok(part) => {
            let run = &part.run;
            assert!((3600..=MAX_WINDOW_SECONDS).contains(&run.window_seconds), "{run:?}");
            assert!((1..=MAX_SHARDS).contains(&run.shards), "{run:?}");
            assert!(run.chain_count <= MAX_CHAINS, "{run:?}");
            assert!(run.start < run.end, "{run:?}");
            assert!((1..=9999).contains(&run.start.year()) && (1..=9999).contains(&run.end.year()), "{run:?}");
            assert!((1..=run.shards).contains(&part.shard));
            Some(part)
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(name), "{text}");
            None
        }
    }
}

fn render(reports: &[Report]) {
    for report in reports {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        report.write_text(true, &mut out, &mut err).expect("in memory");
        let _ = report.chain_line();
        let _ = report.to_json();
    }
    if let Some(doc) = Report::chains_to_doc(reports) {
        serde_json::to_string(&doc).expect("a document serialises");
    }
    let _ = Report::totals(reports);
}

fuzz_target!(|input: Input| {
    match input {
        Input::Raw(bytes) => {
            if let Some(part) = read(&bytes, "raw.json") {
                if let Ok(merged) = merge(vec![("raw.json".to_owned(), part)]) {
                    render(&merged.reports);
                }
            }
        }
        Input::Edited { edits, reverse, drop_second } => {
            let mut parts = base().clone();
            for edit in edits.iter().take(16) {
                apply(&mut parts, edit);
            }
            if drop_second {
                parts.truncate(1);
            }
            if reverse {
                parts.reverse();
            }
            let mut read_parts = Vec::new();
            for (i, value) in parts.iter_mut().enumerate() {
                refingerprint(value);
                let name = format!("part-{i}.json");
                let bytes = serde_json::to_vec(value).expect("JSON");
                match read(&bytes, &name) {
                    Some(part) => read_parts.push((name, part)),
                    None => return,
                }
            }
            if let Ok(merged) = merge(read_parts) {
                render(&merged.reports);
            }
        }
    }
});

//! CloudTrail Lake `result_sign.json`, raw or the real one edited anywhere, checked against a
//! real folder of results: never panics; a valid verdict needs every listed hash to be the
//! SHA-256 of its file and the hashes signed to be the ones CloudTrail signed; no line of the
//! text report carries a control or format character from the sign file.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use trailproof::lake::{verify_query_results, LakeOptions};
use trailproof::report::needs_escape;
use trailproof::{KeySet, MemoryStore, Object, Parallelism, StoreFolder, Verdict};
use trailproof_testkit::{QueryResults, QueryResultsBuilder};

#[derive(Arbitrary, Debug)]
enum Edit {
    Int { leaf: u16, value: i64 },
    Text { leaf: u16, value: String },
    Null { leaf: u16 },
    Remove { leaf: u16 },
    Duplicate { leaf: u16 },
    Swap { a: u16, b: u16 },
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(Vec<u8>),
    Edited(Vec<Edit>),
}

struct Base {
    results: QueryResults,
    store: MemoryStore,
    keys: KeySet,
    signed: String,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let results = QueryResultsBuilder::new().files(3).build();
        let mut store = MemoryStore::new();
        for ((bucket, key), o) in &results.archive.objects {
            store.put(bucket, key, Object { bytes: o.body.clone(), metadata: None });
        }
        let keys = KeySet::from_list_public_keys_json(results.public_keys_json().as_bytes(), "keys")
            .expect("testkit keys");
        let signed = results.sign_json()["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["fileHashValue"].as_str().expect("hash").to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Base { results, store, keys, signed }
    })
}

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

fn apply(v: &mut Value, edit: &Edit) {
    let mut all = Vec::new();
    leaves(v, String::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let at = |leaf: u16| all[usize::from(leaf) % all.len()].clone();
    match edit {
        Edit::Int { leaf, value } => set(v, &at(*leaf), Value::from(*value)),
        Edit::Text { leaf, value } => set(v, &at(*leaf), Value::from(value.clone())),
        Edit::Null { leaf } => set(v, &at(*leaf), Value::Null),
        Edit::Swap { a, b } => {
            let (a, b) = (at(*a), at(*b));
            let (x, y) = (v.pointer(&a).cloned(), v.pointer(&b).cloned());
            if let (Some(x), Some(y)) = (x, y) {
                set(v, &a, y);
                set(v, &b, x);
            }
        }
        Edit::Remove { leaf } | Edit::Duplicate { leaf } => {
            let pointer = at(*leaf);
            let (up, last) = pointer.rsplit_once('/').unwrap_or(("", &pointer));
            let duplicate = matches!(edit, Edit::Duplicate { .. });
            match v.pointer_mut(up) {
                Some(Value::Object(m)) if !duplicate => {
                    m.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(a)) => {
                    if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < a.len()) {
                        if duplicate {
                            let copy = a[i].clone();
                            a.push(copy);
                        } else {
                            a.remove(i);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn set(v: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = new;
    }
}

fn check(sign_file: &[u8]) {
    let b = base();
    let folder = StoreFolder::new(&b.store, b.results.bucket(), b.results.folder());
    let options = LakeOptions::new().parallelism(Parallelism::Serial);
    let report = verify_query_results(sign_file, &folder, &b.keys, &options).expect("serial runs start");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    report.write_text(&mut out, &mut err).expect("in memory");
    for text in [&out, &err] {
        let text = String::from_utf8(text.clone()).expect("UTF-8 lines");
        for line in text.lines() {
            assert!(!line.chars().any(needs_escape), "unescaped: {line:?}");
        }
    }
    let _ = report.to_json();
    if report.verdict() == Verdict::Valid {
        let doc: Value = serde_json::from_slice(sign_file).expect("a valid sign file is JSON");
        let files = doc["files"].as_array().expect("a valid sign file lists files");
        let mut hashes = Vec::new();
        for f in files {
            let name = f["fileName"].as_str().expect("name");
            let hash = f["fileHashValue"].as_str().expect("hash");
            let bytes = b.results.get(name).expect("a valid file exists");
            assert_eq!(hex::encode(Sha256::digest(bytes)), hash, "{name}");
            hashes.push(hash);
        }
        assert_eq!(hashes.join(" "), b.signed, "only what CloudTrail signed verifies");
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Raw(bytes) => check(&bytes),
        Input::Edited(edits) => {
            let mut doc = base().results.sign_json();
            for edit in edits.iter().take(12) {
                apply(&mut doc, edit);
            }
            check(&serde_json::to_vec(&doc).expect("JSON"));
        }
    }
});

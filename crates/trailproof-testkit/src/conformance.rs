//! One conformance suite for every [`ObjectStore`], in the manner of `object_store`'s: the same
//! checks run against the in-memory store, local copies and S3, so they all mean the same thing
//! by a key.
//!
//! What it checks: listing in byte order with `prefix` and `start_after` across more keys than
//! one S3 listing page holds, stopping when told; `list_folders`; reading existing and missing
//! objects (`get`, `open`, `object_size`), `TooLarge`; and that keys are exact: a store
//! holding only `a/b` never returns its bytes for `a/./b`, `a//b`, `a/b/`, `./a/b`…, and every
//! key a store is given (`..` segments, control characters, non-ASCII) is either read back
//! exactly or refused, never answered with another object's bytes.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::ops::ControlFlow;

use trailproof::{Metadata, Object, ObjectStore, StoreError};

/// The bucket the suite's objects are put in.
pub const BUCKET: &str = "conformance-bucket";

/// A bucket the suite's stores never hold.
pub const MISSING_BUCKET: &str = "conformance-missing";

/// Keys that only an exact store reads back: each is put beside `a/b` and `a/c`.
pub const TRICKY_KEYS: &[&str] = &[
    "a//b",
    "a/./b",
    "a/b/",
    "./a/b",
    "/a/b",
    "a/../b",
    "a/b/..",
    "a/.",
    "a/\u{1}b",
    "a/\nb",
    "a/\tb",
    "a/b\\c",
    "a/b c",
    "a/b+c",
    "a/b%2Fc",
    "a/b?c#d",
    "ü/日本/ß.json.gz",
    "a/\u{7f}b",
    "a/\u{85}b",
];

/// Names that would read `a/b` if a store normalised keys.
pub const ALIASES_OF_A_B: &[&str] = &[
    "a/./b", "a//b", "a/b/", "./a/b", "/a/b", "a/b/.", "a/x/../b", "a/b//", "a/./b/.",
];

/// The store a backend made for one case.
pub struct Made {
    /// The store under test.
    pub store: Box<dyn ObjectStore>,
    /// Keys the backend could not put (a local copy refuses some): the store must not read
    /// them back as anything.
    pub refused: BTreeSet<String>,
    /// Whatever must live as long as the store (a temporary folder, a server).
    pub guard: Option<Box<dyn Any>>,
}

impl std::fmt::Debug for Made {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Made")
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl Made {
    /// A store that holds every object it was given.
    pub fn new(store: impl ObjectStore + 'static) -> Made {
        Made {
            store: Box::new(store),
            refused: BTreeSet::new(),
            guard: None,
        }
    }

    /// Keys the backend could not put.
    pub fn refused(mut self, keys: impl IntoIterator<Item = String>) -> Made {
        self.refused.extend(keys);
        self
    }

    /// Keeps `guard` alive with the store.
    pub fn guard(mut self, guard: impl Any) -> Made {
        self.guard = Some(Box::new(guard));
        self
    }
}

/// An object the backend puts in [`BUCKET`].
#[derive(Clone, Debug)]
pub struct Put {
    /// Its key, exactly.
    pub key: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its user metadata (lowercase names).
    pub metadata: Metadata,
}

impl Put {
    fn new(key: &str, bytes: Vec<u8>) -> Put {
        let mut metadata = Metadata::new();
        metadata.insert(
            "signature".to_owned(),
            hex::encode(&bytes[..bytes.len().min(8)]),
        );
        Put {
            key: key.to_owned(),
            bytes,
            metadata,
        }
    }
}

/// What became of the tricky keys ([`TRICKY_KEYS`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Read back exactly, and listed.
    pub exact: BTreeSet<String>,
    /// Refused at put or at read.
    pub refused: BTreeSet<String>,
}

/// Runs the suite; `make` builds a fresh store holding the given objects in [`BUCKET`] each
/// time it is called. Panics listing every failure; returns what became of the tricky keys,
/// for the caller to check what its store must hold exactly.
pub fn conformance(name: &str, make: &mut dyn FnMut(&[Put]) -> Made) -> Outcome {
    let mut failures = Vec::new();
    listing_and_reading(make, &mut failures);
    aliases(make, &mut failures);
    let outcome = tricky_keys(make, &mut failures);
    assert!(
        failures.is_empty(),
        "{name}: {} conformance failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    outcome
}

/// Keys over more than two S3 listing pages (1000 keys each), in folders, with neighbours of
/// `/` in byte order (`-` sorts before it, `0` after) and non-ASCII names. No key is also a
/// folder (`p/a` beside `p/a/b`): S3 holds both, a local copy cannot.
fn listing_keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..2100)
        .map(|i| format!("p/{:02}/{i:05}.json.gz", i % 23))
        .collect();
    keys.extend(
        [
            "p/a-b",
            "p/a/b",
            "p/a0",
            "p/é/1",
            "p/日本/2",
            "p/z",
            "q",
            "p/01/x/y/z",
        ]
        .map(str::to_owned),
    );
    keys
}

fn list_all(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    start_after: &str,
) -> Result<Vec<String>, StoreError> {
    let mut keys = Vec::new();
    store.list(bucket, prefix, start_after, &mut |k| {
        keys.push(k.to_owned());
        ControlFlow::Continue(())
    })?;
    Ok(keys)
}

/// What S3 lists: keys starting with `prefix`, after `start_after`, in byte order.
fn expected_list(model: &BTreeSet<String>, prefix: &str, start_after: &str) -> Vec<String> {
    model
        .iter()
        .filter(|k| k.starts_with(prefix) && k.as_str() > start_after)
        .cloned()
        .collect()
}

/// S3's `CommonPrefixes` for delimiter `/`.
fn expected_folders(model: &BTreeSet<String>, prefix: &str) -> Vec<String> {
    let folders: BTreeSet<String> = model
        .iter()
        .filter_map(|k| {
            let rest = k.strip_prefix(prefix)?;
            let i = rest.find('/')?;
            Some(format!("{prefix}{}", &rest[..=i]))
        })
        .collect();
    folders.into_iter().collect()
}

fn read_open(store: &dyn ObjectStore, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let mut reader = store.open(bucket, key).map_err(|e| format!("{e:?}"))?;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| format!("read: {e}"))?;
    Ok(bytes)
}

fn listing_and_reading(make: &mut dyn FnMut(&[Put]) -> Made, failures: &mut Vec<String>) {
    let keys = listing_keys();
    let puts: Vec<Put> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Put::new(k, format!("{i}:{k}").into_bytes()))
        .collect();
    let made = make(&puts);
    if !made.refused.is_empty() {
        failures.push(format!("plain keys refused: {:?}", made.refused));
    }
    let store = made.store.as_ref();
    let model: BTreeSet<String> = keys.iter().cloned().collect();
    let by_key: BTreeMap<&str, &Put> = puts.iter().map(|p| (p.key.as_str(), p)).collect();

    for (prefix, start_after) in [
        ("", ""),
        ("p/", ""),
        ("p/0", ""),
        ("p/01/", ""),
        ("p/01/", "p/01/00500.json.gz"),
        ("p/01/", "p/01/00501"),
        ("", "p/10"),
        ("p/a", ""),
        ("p/a/", ""),
        ("p/é", ""),
        ("p/日", ""),
        ("nope", ""),
        ("p/22/", "p/22/99999"),
        ("p/05/000", ""),
        ("p", "p/a0"),
        ("q", "p"),
        ("", "p/z"),
        ("/p", ""),
        ("p//", ""),
        ("./p", ""),
        ("p/./01", ""),
        ("", "zzz"),
    ] {
        let want = expected_list(&model, prefix, start_after);
        match list_all(store, BUCKET, prefix, start_after) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "list({prefix:?}, after {start_after:?}): {} keys, expected {} (first difference: {:?})",
                got.len(),
                want.len(),
                got.iter().zip(&want).find(|(a, b)| a != b)
            )),
            Err(e) => failures.push(format!("list({prefix:?}, after {start_after:?}): {e}")),
        }
    }

    // Stopping: exactly the keys before the break, across a page boundary.
    let mut seen = Vec::new();
    let result = store.list(BUCKET, "", "", &mut |k| {
        seen.push(k.to_owned());
        if seen.len() == 1500 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let want: Vec<String> = model.iter().take(1500).cloned().collect();
    if result.is_err() || seen != want {
        failures.push(format!(
            "list stopped after 1500: {} keys, {result:?}",
            seen.len()
        ));
    }

    for prefix in ["", "p/", "p/01/", "p/a", "p/é/", "nope/", "p/01/x/"] {
        let want = expected_folders(&model, prefix);
        match store.list_folders(BUCKET, prefix) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "list_folders({prefix:?}): {got:?}, expected {want:?}"
            )),
            Err(e) => failures.push(format!("list_folders({prefix:?}): {e}")),
        }
    }

    let sample = keys
        .iter()
        .step_by(97)
        .chain(keys.iter().skip(2100))
        .map(String::as_str);
    for key in sample {
        let put = by_key[key];
        let len = put.bytes.len() as u64;
        match store.get(BUCKET, key, len) {
            Ok(Object { bytes, metadata }) => {
                if bytes != put.bytes {
                    failures.push(format!("get({key:?}): other bytes"));
                }
                if metadata.as_ref().is_some_and(|m| m != &put.metadata) {
                    failures.push(format!("get({key:?}): metadata {metadata:?}"));
                }
            }
            Err(e) => failures.push(format!("get({key:?}): {e}")),
        }
        match store.get(BUCKET, key, len - 1) {
            Err(StoreError::TooLarge { limit, .. }) if limit == len - 1 => {}
            other => failures.push(format!(
                "get({key:?}) with a limit of {} bytes: {:?}, expected TooLarge",
                len - 1,
                other.map(|o| o.bytes.len())
            )),
        }
        match read_open(store, BUCKET, key) {
            Ok(bytes) if bytes == put.bytes => {}
            Ok(_) => failures.push(format!("open({key:?}): other bytes")),
            Err(e) => failures.push(format!("open({key:?}): {e}")),
        }
        match store.object_size(BUCKET, key) {
            Ok(None) => {}
            Ok(Some(n)) if n == len => {}
            other => failures.push(format!("object_size({key:?}): {other:?}, expected {len}")),
        }
    }

    for key in ["p/missing", "p/01", "p/01/", "p", "P/a0", "p/a0 "] {
        match store.get(BUCKET, key, 1 << 20) {
            Err(StoreError::NotFound { bucket, key: k }) if bucket == BUCKET && k == key => {}
            // A store may refuse a key it cannot hold (`p/01/` in a local copy).
            Err(StoreError::Unreadable { .. }) if key.ends_with('/') => {}
            other => failures.push(format!(
                "get({key:?}) of a missing object: {:?}",
                other.map(|o| o.bytes)
            )),
        }
        match store.open(BUCKET, key) {
            Err(StoreError::NotFound { .. }) => {}
            Err(StoreError::Unreadable { .. }) if key.ends_with('/') => {}
            Err(e) => failures.push(format!("open({key:?}) of a missing object: {e}")),
            Ok(_) => failures.push(format!("open({key:?}) of a missing object: Ok")),
        }
        match store.object_size(BUCKET, key) {
            Ok(None) | Err(StoreError::NotFound { .. }) => {}
            Err(StoreError::Unreadable { .. }) if key.ends_with('/') => {}
            other => failures.push(format!(
                "object_size({key:?}) of a missing object: {other:?}"
            )),
        }
    }

    match list_all(store, MISSING_BUCKET, "", "") {
        Err(StoreError::NoSuchBucket { bucket, .. }) if bucket == MISSING_BUCKET => {}
        other => failures.push(format!("list of a missing bucket: {other:?}")),
    }
    if store.get(MISSING_BUCKET, "p/a0", 1 << 20).is_ok() {
        failures.push("get from a missing bucket: Ok".to_owned());
    }
}

fn aliases(make: &mut dyn FnMut(&[Put]) -> Made, failures: &mut Vec<String>) {
    let bytes = b"the bytes of a/b".to_vec();
    let made = make(&[Put::new("a/b", bytes.clone())]);
    let store = made.store.as_ref();
    match store.get(BUCKET, "a/b", 1 << 20) {
        Ok(o) if o.bytes == bytes => {}
        other => failures.push(format!("aliases: get(\"a/b\"): {other:?}")),
    }
    for alias in ALIASES_OF_A_B {
        if let Ok(o) = store.get(BUCKET, alias, 1 << 20) {
            failures.push(format!(
                "get({alias:?}) returned {} bytes{} though only \"a/b\" exists",
                o.bytes.len(),
                if o.bytes == bytes { ", a/b's" } else { "" }
            ));
        }
        if let Ok(b) = read_open(store, BUCKET, alias) {
            failures.push(format!(
                "open({alias:?}) returned {} bytes though only \"a/b\" exists",
                b.len()
            ));
        }
        if let Ok(Some(n)) = store.object_size(BUCKET, alias) {
            failures.push(format!(
                "object_size({alias:?}) = {n} though only \"a/b\" exists"
            ));
        }
        // Listing under an alias finds nothing: no key starts with it.
        match list_all(store, BUCKET, alias, "") {
            Ok(keys) if keys.is_empty() => {}
            Ok(keys) => failures.push(format!("list({alias:?}): {keys:?}")),
            Err(e) => failures.push(format!("list({alias:?}): {e}")),
        }
    }
}

fn tricky_keys(make: &mut dyn FnMut(&[Put]) -> Made, failures: &mut Vec<String>) -> Outcome {
    let mut outcome = Outcome::default();
    let plain_b = b"plain a/b".to_vec();
    let plain_c = b"plain a/c".to_vec();
    for &key in TRICKY_KEYS {
        let tricky = format!("tricky {key:?}").into_bytes();
        let made = make(&[
            Put::new("a/b", plain_b.clone()),
            Put::new(key, tricky.clone()),
            Put::new("a/c", plain_c.clone()),
        ]);
        let store = made.store.as_ref();
        let put_refused = made.refused.contains(key);
        // The neighbours are intact whatever became of the tricky key.
        for (plain, bytes) in [("a/b", &plain_b), ("a/c", &plain_c)] {
            match store.get(BUCKET, plain, 1 << 20) {
                Ok(o) if &o.bytes == bytes => {}
                other => failures.push(format!(
                    "{key:?}: get({plain:?}) beside it: {:?}",
                    other.map(|o| String::from_utf8_lossy(&o.bytes).into_owned())
                )),
            }
        }
        let got = store.get(BUCKET, key, 1 << 20);
        let opened = read_open(store, BUCKET, key);
        let exact =
            match (&got, &opened) {
                (Ok(o), Ok(b)) if o.bytes == tricky && *b == tricky => true,
                (Err(StoreError::Unreadable { .. }), Err(_)) => false,
                (Err(StoreError::NotFound { .. }), Err(_)) if put_refused => false,
                _ => {
                    failures.push(format!(
                    "{key:?} (put {}): get {:?}, open {:?}: neither read back exactly nor refused",
                    if put_refused { "refused" } else { "accepted" },
                    got.as_ref().map(|o| String::from_utf8_lossy(&o.bytes).into_owned()),
                    opened.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
                ));
                    false
                }
            };
        if put_refused && exact {
            failures.push(format!("{key:?}: refused at put, yet read back"));
        }
        let mut put_keys: BTreeSet<&str> = ["a/b", "a/c"].into();
        if !put_refused {
            put_keys.insert(key);
        }
        match list_all(store, BUCKET, "", "") {
            Ok(listed) => {
                let mut sorted = listed.clone();
                sorted.sort();
                sorted.dedup();
                if sorted != listed {
                    failures.push(format!(
                        "{key:?}: listing not in order or repeated: {listed:?}"
                    ));
                }
                let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
                if !listed.is_subset(&put_keys)
                    || !listed.contains("a/b")
                    || !listed.contains("a/c")
                {
                    failures.push(format!("{key:?}: listed {listed:?}"));
                }
                if exact && !listed.contains(key) {
                    failures.push(format!("{key:?}: read back but not listed: {listed:?}"));
                }
                if exact {
                    outcome.exact.insert(key.to_owned());
                } else {
                    outcome.refused.insert(key.to_owned());
                }
            }
            Err(e) => {
                // Refusing to list is refusing the key (S3's XML 1.0 cannot carry some
                // control characters): never a wrong answer, but not exact either.
                if !matches!(e, StoreError::Unreadable { .. }) {
                    failures.push(format!("{key:?}: listing failed with {e}"));
                }
                outcome.refused.insert(key.to_owned());
            }
        }
        // Listing from the key itself finds only keys that were put and start with it.
        if let Ok(listed) = list_all(store, BUCKET, key, "") {
            if listed
                .iter()
                .any(|k| !k.starts_with(key) || !put_keys.contains(k.as_str()))
            {
                failures.push(format!("{key:?}: list(prefix = key): {listed:?}"));
            }
        }
    }
    outcome
}

//! The state of scheduled, incremental checks: per chain, the newest digest proven valid (its
//! key, end time, signature and the hash of its inflated bytes). The next run validates only
//! newer digests and proves the oldest of them links to this head.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::layout::Chain;
use crate::Error;

/// The newest digest of a chain proven valid.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Its `digestEndTime`.
    pub end_time: DateTime<Utc>,
    /// Its signature (hex), which the next digest names in `previousDigestSignature`.
    pub signature: String,
    /// Hex SHA-256 of its inflated bytes, which the next digest names in `previousDigestHashValue`.
    pub hash: String,
}

/// What a state file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The trail the state belongs to.
    pub trail_arn: String,
    /// Heads by chain (see [`chain_id`]).
    pub heads: BTreeMap<String, Head>,
}

const KIND: &str = "trailproof-state";
const VERSION: u64 = 1;

/// The name of a chain in a state file: `s3://BUCKET/[PREFIX/]AWSLogs/[ORG/]ACCOUNT/CloudTrail-Digest/REGION`.
pub fn chain_id(chain: &Chain) -> String {
    format!("s3://{}/{}", chain.bucket, chain.digest_prefix())
}

/// The chain a state file names by `id` (see [`chain_id`]), with the trail's name and home
/// region: what an incremental run checks when discovery no longer finds a recorded chain.
pub fn chain_from_id(id: &str, trail_name: &str, home_region: &str) -> Option<Chain> {
    let (bucket, path) = id.strip_prefix("s3://")?.split_once('/')?;
    let (root, region) = path.rsplit_once("/CloudTrail-Digest/")?;
    let (owner, account) = root.rsplit_once('/')?;
    let (before_logs, organization) = match owner.rsplit_once('/') {
        Some((before, org)) if org.starts_with("o-") => (before, Some(org.to_owned())),
        _ => (owner, None),
    };
    let prefix = match before_logs.strip_suffix("AWSLogs")? {
        "" => None,
        p => Some(p.strip_suffix('/')?.to_owned()),
    };
    let chain = Chain {
        bucket: bucket.to_owned(),
        prefix,
        organization_id: organization,
        account_id: account.to_owned(),
        source_region: region.to_owned(),
        home_region: home_region.to_owned(),
        trail_name: trail_name.to_owned(),
    };
    (chain_id(&chain) == id).then_some(chain)
}

fn bad(path: &Path, reason: impl std::fmt::Display) -> Error {
    bad_named(&path.display().to_string(), reason)
}

fn bad_named(name: &str, reason: impl std::fmt::Display) -> Error {
    Error::StateFile {
        file: name.to_owned(),
        reason: reason.to_string(),
    }
}

impl State {
    /// A new, empty state for a trail.
    pub fn new(trail_arn: &str) -> Self {
        State {
            trail_arn: trail_arn.to_owned(),
            heads: BTreeMap::new(),
        }
    }

    /// Reads a state file. A missing file is a new state (a path through a regular file, which
    /// cannot exist, too: the run then validates and reports, and only saving fails); a corrupt
    /// one, one of another version or another trail is an error, never silently replaced.
    pub fn load(path: &Path, trail_arn: &str) -> Result<State, Error> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(State::new(trail_arn))
            }
            Err(e) => return Err(bad(path, e)),
        };
        Self::from_json(&bytes, &path.display().to_string(), trail_arn)
    }

    /// Reads a state from the bytes of a state file (see [`State::load`]), naming it in
    /// errors as `origin` (a path, an `s3://` URL): a corrupt one, one of another version or another trail
    /// is an error.
    pub fn from_json(bytes: &[u8], origin: &str, trail_arn: &str) -> Result<State, Error> {
        let doc: Value = serde_json::from_slice(bytes)
            .map_err(|e| bad_named(origin, format!("not valid JSON: {e}")))?;
        if doc.get("kind").and_then(Value::as_str) != Some(KIND) {
            return Err(bad_named(origin, "not a trailproof state file"));
        }
        match doc.get("version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            other => {
                return Err(bad_named(
                    origin,
                    format!("version {other:?} is not supported (expected {VERSION})"),
                ))
            }
        }
        let arn = doc
            .get("trail_arn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if arn != trail_arn {
            return Err(bad_named(
                origin,
                format!("it belongs to trail {arn}, not {trail_arn}"),
            ));
        }
        let mut state = State::new(trail_arn);
        let chains = doc
            .get("chains")
            .and_then(Value::as_object)
            .ok_or_else(|| bad_named(origin, "no \"chains\" object"))?;
        for (id, head) in chains {
            let field = |name: &str| {
                head.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| bad_named(origin, format!("chain {id}: no string \"{name}\"")))
            };
            let end = field("end_time")?;
            let end_time = crate::time::parse(&end)
                .map_err(|_| bad_named(origin, format!("chain {id}: end_time {end:?}")))?;
            state.heads.insert(
                id.clone(),
                Head {
                    bucket: field("bucket")?,
                    key: field("key")?,
                    end_time,
                    signature: field("signature")?,
                    hash: field("hash")?,
                },
            );
        }
        Ok(state)
    }

    /// Writes the state atomically: a new file under a random name beside it (created
    /// exclusively, mode 0600), synced, renamed over it, then the folder synced (see
    /// [`replace_file`](crate::store::replace_file)). A symbolic link at `path` is replaced by
    /// the file, never written through.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        crate::store::replace_file(path, &self.to_json()).map_err(|e| bad(path, e))
    }

    /// The bytes of the state file [`State::save`] writes (pretty JSON, a final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let chains: serde_json::Map<String, Value> = self
            .heads
            .iter()
            .map(|(id, h)| {
                (
                    id.clone(),
                    json!({
                        "bucket": h.bucket,
                        "key": h.key,
                        "end_time": h.end_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "signature": h.signature,
                        "hash": h.hash,
                    }),
                )
            })
            .collect();
        let doc = json!({"kind": KIND, "version": VERSION, "trail_arn": self.trail_arn, "chains": chains});
        // `{:#}` is serde_json's pretty printer, as `to_string_pretty` (which cannot fail on a
        // `Value`).
        format!("{doc:#}\n").into_bytes()
    }

    /// Saves the state only when it differs from `before` (the state as loaded): a run that
    /// moved no head leaves the file, its time and its inode as they were. True when written.
    pub fn save_if_changed(&self, path: &Path, before: &State) -> Result<bool, Error> {
        if self == before {
            return Ok(false);
        }
        self.save(path)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Head {
        Head {
            bucket: "b".into(),
            key: "AWSLogs/k.json.gz".into(),
            end_time: crate::time::parse("2024-03-01T01:37:12Z").unwrap(),
            signature: "ab".into(),
            hash: "cd".into(),
        }
    }

    #[test]
    fn chain_ids_read_back_into_chains() {
        let base = Chain {
            bucket: "b".into(),
            prefix: None,
            organization_id: None,
            account_id: "111122223333".into(),
            source_region: "eu-west-1".into(),
            home_region: "us-east-1".into(),
            trail_name: "t".into(),
        };
        let with = |prefix: Option<&str>, org: Option<&str>| Chain {
            prefix: prefix.map(str::to_owned),
            organization_id: org.map(str::to_owned),
            ..base.clone()
        };
        for chain in [
            base.clone(),
            with(Some("audit/x"), None),
            with(None, Some("o-abc123")),
            with(Some("p"), Some("o-abc123")),
        ] {
            let id = chain_id(&chain);
            assert_eq!(chain_from_id(&id, "t", "us-east-1"), Some(chain), "{id}");
        }
        for junk in [
            "",
            "s3://b",
            "s3://b/AWSLogs/1/CloudTrail/r",
            "s3://b/x/1/CloudTrail-Digest/r",
        ] {
            assert_eq!(chain_from_id(junk, "t", "us-east-1"), None, "{junk}");
        }
    }

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(State::load(&path, "arn").unwrap(), State::new("arn"));
        let mut state = State::new("arn");
        state
            .heads
            .insert("s3://b/AWSLogs/1/CloudTrail-Digest/r".into(), head());
        state.save(&path).unwrap();
        assert_eq!(State::load(&path, "arn").unwrap(), state);
        state.save(&path).unwrap();
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_at_the_state_path_is_replaced_not_written_through_and_the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        fs::write(&target, "do not touch").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        let path = dir.path().join("state.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let mut state = State::new("arn");
        state.heads.insert("c".into(), head());
        state.save(&path).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "do not touch");
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "the link was replaced by the state file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(State::load(&path, "arn").unwrap(), state);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn save_if_changed_writes_only_when_a_head_moved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let before = State::load(&path, "arn").unwrap();
        assert!(!before.save_if_changed(&path, &before).unwrap());
        assert!(!path.exists(), "nothing written when nothing moved");
        let mut after = before.clone();
        after.heads.insert("c".into(), head());
        assert!(after.save_if_changed(&path, &before).unwrap());
        assert_eq!(State::load(&path, "arn").unwrap(), after);
        fs::write(&path, "sentinel").unwrap();
        assert!(!after.save_if_changed(&path, &after.clone()).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "sentinel");
    }

    #[test]
    fn a_path_through_a_regular_file_reads_as_missing_and_fails_to_save() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let path = file.join("state.json");
        let state = State::load(&path, "arn").unwrap();
        assert_eq!(state, State::new("arn"));
        let mut after = state.clone();
        after.heads.insert("c".into(), head());
        let e = after.save(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert_eq!(fs::read_to_string(&file).unwrap(), "x");
    }

    #[test]
    fn corrupt_foreign_or_future_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for (text, needle) in [
            ("{not json", "not valid JSON"),
            ("{\"kind\":\"other\"}", "not a trailproof state file"),
            ("{\"kind\":\"trailproof-state\",\"version\":2}", "version"),
            ("{\"kind\":\"trailproof-state\",\"version\":1,\"trail_arn\":\"x\",\"chains\":{}}", "belongs to trail x"),
            ("{\"kind\":\"trailproof-state\",\"version\":1,\"trail_arn\":\"arn\",\"chains\":{\"c\":{}}}", "no string"),
            // At the end of chrono's range a second later is no time: refused, not a panic.
            ("{\"kind\":\"trailproof-state\",\"version\":1,\"trail_arn\":\"arn\",\"chains\":{\"c\":{\"end_time\":\"+262142-12-31T23:59:59Z\"}}}", "end_time"),
        ] {
            fs::write(&path, text).unwrap();
            let err = State::load(&path, "arn").unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("state.json"), "{err}");
        }
    }
}

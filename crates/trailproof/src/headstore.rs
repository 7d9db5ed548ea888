//! The watched chains' heads held outside the bucket, shared by workers that each verify new
//! digests as they land: a [`State`] (the `--state` file's JSON) read with a version, and
//! replaced only if that version is still the stored one, so two workers never both advance
//! from the same read. Heads only move forward.
//!
//! Backends: [`FileHeadStore`] here (one machine), an S3 object in `trailproof-aws`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::state::{Head, State};

/// Which stored version a [`Snapshot`] was read from: opaque (an S3 ETag, a hash of a file's
/// bytes), compared only for equality.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Version(String);

impl Version {
    /// A version from a backend's token.
    pub fn new(token: impl Into<String>) -> Self {
        Version(token.into())
    }

    /// The backend's token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state as read, and the version it was read from (`None`: nothing stored yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The heads.
    pub state: State,
    /// The stored version, `None` when there is none yet.
    pub version: Option<Version>,
}

/// What a conditional write did: a compare-and-swap has these two outcomes only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written: the new version.
    Written(Version),
    /// Someone else wrote since the snapshot was read: nothing written. Read again.
    Conflict,
}

/// Why the heads could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadStoreError {
    /// The write would move a chain's head back in time: refused.
    #[error("{store}: the head of {chain} would move back from {stored} to {proposed}: refused")]
    Backwards {
        /// The store.
        store: String,
        /// The chain ([`crate::state::chain_id`]).
        chain: String,
        /// End time of the stored head.
        stored: DateTime<Utc>,
        /// End time of the head proposed.
        proposed: DateTime<Utc>,
    },
    /// The write would drop a chain's head: refused (a head is never forgotten).
    #[error("{store}: the head of {chain} would be dropped: refused")]
    Dropped {
        /// The store.
        store: String,
        /// The chain.
        chain: String,
    },
    /// The state written belongs to another trail than the one read.
    #[error("{store}: holds the heads of trail {stored}, not {proposed}")]
    OtherTrail {
        /// The store.
        store: String,
        /// The trail of the stored state.
        stored: String,
        /// The trail of the state proposed.
        proposed: String,
    },
    /// The stored state is unreadable as a state (corrupt, another version, another trail).
    #[error("{0}")]
    State(#[source] crate::Error),
    /// The store could not be read or written.
    #[error("{store}: {cause}")]
    Unavailable {
        /// The store.
        store: String,
        /// The underlying cause.
        cause: String,
    },
    /// Every attempt lost a race with another writer.
    #[error("{store}: still contended after {attempts} attempts")]
    Contended {
        /// The store.
        store: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// Where heads are kept.
///
/// Implementations make [`HeadStore::write`] conditional (only if the stored version is still
/// `read.version`) and call [`check_forward`] on `read.state` and the new state before writing.
pub trait HeadStore {
    /// The store's name in messages (a path, an `s3://` URL).
    fn name(&self) -> String;

    /// Reads the heads and their version. Nothing stored yet: an empty state, no version.
    fn read(&self) -> Result<Snapshot, HeadStoreError>;

    /// Replaces the heads with `new` if the stored version is still `read.version` (absent
    /// when it is `None`); [`WriteOutcome::Conflict`] otherwise. A head moved back or dropped
    /// relative to `read.state` is refused ([`HeadStoreError::Backwards`],
    /// [`HeadStoreError::Dropped`]).
    fn write(&self, read: &Snapshot, new: &State) -> Result<WriteOutcome, HeadStoreError>;
}

/// Checks that `after` keeps every head of `before` at the same or a later end time, and the
/// same trail.
pub fn check_forward(store: &str, before: &State, after: &State) -> Result<(), HeadStoreError> {
    if before.trail_arn != after.trail_arn {
        return Err(HeadStoreError::OtherTrail {
            store: store.to_owned(),
            stored: before.trail_arn.clone(),
            proposed: after.trail_arn.clone(),
        });
    }
    for (chain, old) in &before.heads {
        match after.heads.get(chain) {
            None => {
                return Err(HeadStoreError::Dropped {
                    store: store.to_owned(),
                    chain: chain.clone(),
                })
            }
            Some(new) if new.end_time < old.end_time => {
                return Err(HeadStoreError::Backwards {
                    store: store.to_owned(),
                    chain: chain.clone(),
                    stored: old.end_time,
                    proposed: new.end_time,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `current` with each of `heads` that is newer than the chain's recorded head (or the chain's
/// first), and the chains whose head moved. A head no newer is left as recorded, even when it
/// differs: the recorded one was proven first.
pub fn merge_forward(current: &State, heads: &BTreeMap<String, Head>) -> (State, Vec<String>) {
    let mut merged = current.clone();
    let mut moved = Vec::new();
    for (chain, head) in heads {
        if current
            .heads
            .get(chain)
            .is_none_or(|h| h.end_time < head.end_time)
        {
            merged.heads.insert(chain.clone(), head.clone());
            moved.push(chain.clone());
        }
    }
    (merged, moved)
}

/// Reads, applies `change` (`None`: nothing to write) and writes conditionally, reading again
/// after each lost race, at most `max_attempts` times. Returns what `change` returned with the
/// write that succeeded, or `None` when `change` had nothing to write.
pub fn update<T>(
    store: &dyn HeadStore,
    max_attempts: u32,
    mut change: impl FnMut(&State) -> Option<(State, T)>,
) -> Result<Option<(T, Version)>, HeadStoreError> {
    for _ in 0..max_attempts.max(1) {
        let read = store.read()?;
        let Some((new, out)) = change(&read.state) else {
            return Ok(None);
        };
        match store.write(&read, &new)? {
            WriteOutcome::Written(version) => return Ok(Some((out, version))),
            WriteOutcome::Conflict => {}
        }
    }
    Err(HeadStoreError::Contended {
        store: store.name(),
        attempts: max_attempts.max(1),
    })
}

/// Moves the heads of `heads`' chains forward ([`merge_forward`]) with [`update`]: the chains
/// whose head this call moved (none when every one was already as new, by this worker or
/// another).
pub fn advance(
    store: &dyn HeadStore,
    heads: &BTreeMap<String, Head>,
    max_attempts: u32,
) -> Result<Vec<String>, HeadStoreError> {
    let done = update(store, max_attempts, |current| {
        let (merged, moved) = merge_forward(current, heads);
        (!moved.is_empty()).then_some((merged, moved))
    })?;
    Ok(done.map(|(moved, _)| moved).unwrap_or_default())
}

/// Heads in a local file, in the `--state` file's format: replaced atomically (a temporary
/// file renamed over it, as `--state` is saved), under an advisory lock on a file beside it
/// (`NAME.lock`, left in place) so that two processes of one machine cannot both advance from
/// the same read. The version is the SHA-256 of the file's bytes.
#[derive(Clone, Debug)]
pub struct FileHeadStore {
    path: PathBuf,
    trail_arn: String,
}

impl FileHeadStore {
    /// The heads of `trail_arn` in the file at `path`.
    pub fn new(path: impl Into<PathBuf>, trail_arn: &str) -> Self {
        FileHeadStore {
            path: path.into(),
            trail_arn: trail_arn.to_owned(),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn unavailable(&self, cause: impl fmt::Display) -> HeadStoreError {
        HeadStoreError::Unavailable {
            store: self.name(),
            cause: cause.to_string(),
        }
    }

    fn lock_path(&self) -> Result<PathBuf, HeadStoreError> {
        let name = self
            .path
            .file_name()
            .ok_or_else(|| self.unavailable("the path names no file"))?;
        let mut lock = name.to_os_string();
        lock.push(".lock");
        Ok(self.path.with_file_name(lock))
    }

    /// The file's bytes and version; `None` when there is no file.
    fn current(&self) -> Result<Option<(Vec<u8>, Version)>, HeadStoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let version = file_version(&bytes);
                Ok(Some((bytes, version)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.unavailable(e)),
        }
    }
}

fn file_version(bytes: &[u8]) -> Version {
    Version(hex::encode(Sha256::digest(bytes)))
}

impl HeadStore for FileHeadStore {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn read(&self) -> Result<Snapshot, HeadStoreError> {
        // No lock: the file is only ever replaced by a rename, so a read sees one whole version.
        match self.current()? {
            None => Ok(Snapshot {
                state: State::new(&self.trail_arn),
                version: None,
            }),
            Some((bytes, version)) => Ok(Snapshot {
                state: State::from_json(&bytes, &self.name(), &self.trail_arn)
                    .map_err(HeadStoreError::State)?,
                version: Some(version),
            }),
        }
    }

    fn write(&self, read: &Snapshot, new: &State) -> Result<WriteOutcome, HeadStoreError> {
        check_forward(&self.name(), &read.state, new)?;
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options
            .open(self.lock_path()?)
            .map_err(|e| self.unavailable(format!("lock file: {e}")))?;
        // Held until `lock` is dropped, at the end of this call: check and replace as one step
        // for every process that takes the same lock.
        lock.lock()
            .map_err(|e| self.unavailable(format!("lock file: {e}")))?;
        let stored = self.current()?;
        if stored.as_ref().map(|(_, v)| v) != read.version.as_ref() {
            return Ok(WriteOutcome::Conflict);
        }
        // Checked against the file itself too, not only the snapshot the caller hands in.
        if let Some((bytes, _)) = &stored {
            let current = State::from_json(bytes, &self.name(), &self.trail_arn)
                .map_err(HeadStoreError::State)?;
            check_forward(&self.name(), &current, new)?;
        }
        let bytes = new.to_json();
        crate::store::replace_file(&self.path, &bytes).map_err(|e| self.unavailable(e))?;
        Ok(WriteOutcome::Written(file_version(&bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    const ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/t";

    fn head(hour: u32) -> Head {
        Head {
            bucket: "b".into(),
            key: format!("AWSLogs/digest-{hour:02}.json.gz"),
            end_time: crate::time::parse(&format!("2024-03-01T{hour:02}:00:00Z")).unwrap(),
            signature: format!("sig{hour}"),
            hash: format!("hash{hour}"),
        }
    }

    fn heads(pairs: &[(&str, u32)]) -> BTreeMap<String, Head> {
        pairs
            .iter()
            .map(|(c, h)| ((*c).to_owned(), head(*h)))
            .collect()
    }

    #[test]
    fn conditional_writes_and_forward_only_heads() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileHeadStore::new(dir.path().join("heads.json"), ARN);
        let empty = store.read().unwrap();
        assert_eq!(empty.version, None);
        assert_eq!(empty.state, State::new(ARN));

        let mut first = State::new(ARN);
        first.heads = heads(&[("c1", 1)]);
        let WriteOutcome::Written(v1) = store.write(&empty, &first).unwrap() else {
            panic!("first write")
        };
        // The same file `--state` reads.
        assert_eq!(State::load(store.path(), ARN).unwrap(), first);
        let read = store.read().unwrap();
        assert_eq!((&read.state, read.version.as_ref()), (&first, Some(&v1)));
        // A second writer that read nothing, or the old version, loses.
        assert_eq!(store.write(&empty, &first).unwrap(), WriteOutcome::Conflict);
        let mut second = first.clone();
        second.heads = heads(&[("c1", 2), ("c2", 1)]);
        assert!(matches!(
            store.write(&read, &second).unwrap(),
            WriteOutcome::Written(_)
        ));
        assert_eq!(store.write(&read, &second).unwrap(), WriteOutcome::Conflict);

        let now = store.read().unwrap();
        let mut back = now.state.clone();
        back.heads.insert("c1".into(), head(1));
        let e = store.write(&now, &back).unwrap_err();
        assert!(matches!(e, HeadStoreError::Backwards { .. }), "{e}");
        let mut dropped = now.state.clone();
        dropped.heads.remove("c2");
        assert!(matches!(
            store.write(&now, &dropped).unwrap_err(),
            HeadStoreError::Dropped { .. }
        ));
        let other = State {
            trail_arn: "arn:other".into(),
            ..now.state.clone()
        };
        assert!(matches!(
            store.write(&now, &other).unwrap_err(),
            HeadStoreError::OtherTrail { .. }
        ));
        // A snapshot made up by the caller does not get a head moved back either: the file
        // itself is checked under the lock.
        let made_up = Snapshot {
            state: back.clone(),
            version: now.version.clone(),
        };
        assert!(matches!(
            store.write(&made_up, &back).unwrap_err(),
            HeadStoreError::Backwards { .. }
        ));
        assert_eq!(store.read().unwrap(), now, "nothing refused was written");
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heads.json");
        fs::write(&path, "{").unwrap();
        let e = FileHeadStore::new(&path, ARN)
            .read()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("heads.json") && e.contains("not valid JSON"),
            "{e}"
        );
        let mut s = State::new("arn:other");
        s.heads = heads(&[("c", 1)]);
        s.save(&path).unwrap();
        let e = FileHeadStore::new(&path, ARN)
            .read()
            .unwrap_err()
            .to_string();
        assert!(e.contains("belongs to trail arn:other"), "{e}");
    }

    #[test]
    fn advance_moves_only_newer_heads() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileHeadStore::new(dir.path().join("heads.json"), ARN);
        assert_eq!(
            advance(&store, &heads(&[("a", 3), ("b", 1)]), 3).unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            advance(&store, &heads(&[("a", 2), ("b", 2)]), 3).unwrap(),
            ["b"]
        );
        let version = store.read().unwrap().version;
        assert!(advance(&store, &heads(&[("a", 3)]), 3).unwrap().is_empty());
        assert_eq!(store.read().unwrap().version, version, "nothing written");
        assert_eq!(
            store.read().unwrap().state.heads,
            heads(&[("a", 3), ("b", 2)])
        );
    }

    /// A store every write of which loses a race.
    struct AlwaysContended(FileHeadStore);

    impl HeadStore for AlwaysContended {
        fn name(&self) -> String {
            self.0.name()
        }
        fn read(&self) -> Result<Snapshot, HeadStoreError> {
            self.0.read()
        }
        fn write(&self, _: &Snapshot, _: &State) -> Result<WriteOutcome, HeadStoreError> {
            Ok(WriteOutcome::Conflict)
        }
    }

    #[test]
    fn a_race_lost_on_every_attempt_is_an_error_after_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = AlwaysContended(FileHeadStore::new(dir.path().join("h.json"), ARN));
        let e = advance(&store, &heads(&[("a", 1)]), 4).unwrap_err();
        assert!(
            matches!(e, HeadStoreError::Contended { attempts: 4, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("h.json"), "{e}");
    }

    /// Two writers, each with its own handle on the file as two processes would have, advance
    /// one shared head through the same hours and a head of their own: every distinct new
    /// shared head is written exactly once, and no update is lost.
    #[test]
    fn racing_writers_lose_no_update() {
        const N: u32 = 20;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heads.json");
        let barrier = Arc::new(Barrier::new(2));
        let workers: Vec<_> = ["w1", "w2"]
            .into_iter()
            .map(|me| {
                let store = FileHeadStore::new(&path, ARN);
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut shared_moves = 0;
                    for hour in 1..=N {
                        barrier.wait();
                        let moved =
                            advance(&store, &heads(&[("shared", hour), (me, hour)]), 100).unwrap();
                        assert!(moved.iter().any(|c| c == me), "{me} {hour}: {moved:?}");
                        shared_moves += moved.iter().filter(|c| *c == "shared").count();
                        // Once both are done with this hour, both updates are there.
                        barrier.wait();
                        if me == "w1" {
                            let stored = store.read().unwrap().state.heads;
                            assert_eq!(
                                stored,
                                heads(&[("shared", hour), ("w1", hour), ("w2", hour)])
                            );
                        }
                    }
                    shared_moves
                })
            })
            .collect();
        let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(total, N as usize);
        let state = FileHeadStore::new(&path, ARN).read().unwrap().state;
        assert_eq!(state.heads, heads(&[("shared", N), ("w1", N), ("w2", N)]));
    }
}

//! Storage: one small trait over where digests and logs live, with a local-directory backend (an
//! `aws s3 sync` copy plus `.meta.json` sidecars), an in-memory backend, and a store that keeps a
//! local copy of what it reads.
//!
//! A local copy maps each S3 key to exactly one file, and each file to exactly one key: keys that
//! a file name cannot hold exactly (`a//b`, `a/./b`, `a/b/`…) are refused, never normalised into
//! another key's file, and symbolic links inside a copy are refused, never followed.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use crate::StoreError;

mod local;
mod memory;
mod mirror;

pub(crate) use local::open_file;
pub use local::LocalDirStore;
pub use memory::MemoryStore;
pub use mirror::MirrorStore;

/// S3 user metadata (names without the `x-amz-meta-` prefix).
pub type Metadata = BTreeMap<String, String>;

/// An object's bytes with its user metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object {
    /// The bytes as stored (gzip for CloudTrail files).
    pub bytes: Vec<u8>,
    /// User metadata; `None` when the store does not know it (a copy made without metadata).
    pub metadata: Option<Metadata>,
}

/// A streaming reader over an object's bytes.
pub type ObjectReader = Box<dyn Read + Send>;

/// What a caller will do with objects it announces to [`ObjectStore::prefetch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Intent {
    /// [`ObjectStore::get`] with this limit.
    Get {
        /// The limit the `get` calls will pass.
        limit: u64,
    },
    /// [`ObjectStore::open`].
    Open,
}

/// Keeps announced objects coming (see [`ObjectStore::prefetch`]); dropping it cancels those
/// not yet asked for and frees what was fetched for them.
#[must_use = "dropping the guard cancels the prefetch"]
pub struct Prefetch(Option<Box<dyn Send + Sync>>);

impl Prefetch {
    /// Nothing is being fetched ahead.
    pub fn none() -> Self {
        Prefetch(None)
    }

    /// A prefetch that lasts as long as `guard` is alive.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Prefetch(Some(Box::new(guard)))
    }

    /// True when objects are being fetched ahead (they should then be read in the order
    /// announced).
    pub fn is_active(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Prefetch(active)"
        } else {
            "Prefetch(none)"
        })
    }
}

/// Where CloudTrail objects are read from.
///
/// Implementations: [`LocalDirStore`], [`MemoryStore`], and S3 in `trailproof-aws`.
pub trait ObjectStore: Send + Sync {
    /// Calls `each` with the keys of `bucket` that start with `prefix` and sort after
    /// `start_after`, in byte order (as S3 lists), until `each` breaks.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// Reads a whole object (digests), refusing more than `limit` bytes.
    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError>;

    /// Opens an object for streaming (log files).
    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError>;

    /// The distinct "folders" right below `prefix` (which ends with `/`): S3's `CommonPrefixes`
    /// for delimiter `/`, each returned whole and ending with `/`, in byte order. The default
    /// walks every key; stores that can ask for them directly should.
    fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut folders: Vec<String> = Vec::new();
        self.list(bucket, prefix, "", &mut |key| {
            if let Some(i) = key[prefix.len()..].find('/') {
                let folder = &key[..prefix.len() + i + 1];
                if folders.last().map(String::as_str) != Some(folder) {
                    folders.push(folder.to_owned());
                }
            }
            ControlFlow::Continue(())
        })?;
        folders.dedup();
        Ok(folders)
    }

    /// Announces that each of `objects` (bucket, key) will be read once, soon, in this order,
    /// as `intent` says. A store with slow requests starts them now, many at a time, so that a
    /// few threads can read what many requests bring; the default does nothing. The objects
    /// are fetched ahead only while the returned guard lives.
    fn prefetch(&self, objects: &[(&str, &str)], intent: Intent) -> Prefetch {
        let _ = (objects, intent);
        Prefetch::none()
    }

    /// The size in bytes of an object, when the store can tell it without reading the object
    /// (S3's `HeadObject`); `Ok(None)` when it cannot. A missing object may be
    /// [`StoreError::NotFound`] or `Ok(None)`.
    fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StoreError> {
        let _ = (bucket, key);
        Ok(None)
    }
}

impl<T: ObjectStore + ?Sized> ObjectStore for Arc<T> {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        (**self).list(bucket, prefix, start_after, each)
    }
    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        (**self).get(bucket, key, limit)
    }
    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        (**self).open(bucket, key)
    }
    fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).list_folders(bucket, prefix)
    }
    fn prefetch(&self, objects: &[(&str, &str)], intent: Intent) -> Prefetch {
        (**self).prefetch(objects, intent)
    }
    fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StoreError> {
        (**self).object_size(bucket, key)
    }
}

/// Suffix of the sidecar file that holds an object's S3 user metadata as a JSON object.
pub const SIDECAR_SUFFIX: &str = ".meta.json";

/// Suffix of files being written by a [`MirrorStore`] (or [`replace_file`]); never listed as
/// objects.
pub const PART_SUFFIX: &str = ".trailproof-part";

/// Folder, inside a mirror, for buckets other than the digest bucket: `DIR/_buckets/NAME/`.
pub const OTHER_BUCKETS_DIR: &str = "_buckets";

/// Why a `/`-separated path cannot name exactly one file below a directory, if it cannot:
/// every segment must be a plain, non-empty name. `Path::components` would silently read
/// `a/./b`, `a//b` and `a/b/` as `a/b`: distinct S3 keys must never share a file.
fn segments_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("it is empty");
    }
    if path.starts_with('/') {
        return Some("it starts with '/'");
    }
    if path.ends_with('/') {
        return Some("it ends with '/'");
    }
    if path.contains('\\') {
        return Some("it contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return Some("it contains a control character");
    }
    for segment in path.split('/') {
        match segment {
            "" => return Some("it has an empty segment ('//')"),
            "." | ".." => return Some("it has a '.' or '..' segment"),
            _ => {}
        }
    }
    None
}

/// Why `key` cannot be held in a local copy, if it cannot: see [`segments_problem`]; names
/// ending like the copy's own sidecar and temporary files are taken too.
fn local_key_problem(key: &str) -> Option<&'static str> {
    if let Some(problem) = segments_problem(key) {
        return Some(problem);
    }
    if key.ends_with(SIDECAR_SUFFIX) {
        return Some("its name ends with .meta.json, which a copy uses for metadata");
    }
    if key.ends_with(PART_SUFFIX) {
        return Some(
            "its name ends with .trailproof-part, which a copy uses for files being written",
        );
    }
    None
}

/// The error for a key that a local copy cannot hold.
fn cannot_hold(bucket: &str, key: &str, problem: &str) -> StoreError {
    StoreError::unreadable(
        bucket,
        key,
        format!("the key cannot be held in a local copy: {problem}"),
    )
}

/// Replaces `path` with a new file holding `bytes`: written under a random name in the same
/// folder (created exclusively, mode 0600 on Unix), synced, renamed over `path`, then the folder
/// synced, so `path` is always either the old file or the whole new one. A symbolic link at
/// `path` is replaced by the file, never written through; a file planted under a predictable
/// temporary name cannot be, as the name is random and created exclusively.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replacing(path, bytes, true)
}

/// [`replace_file`], syncing the folder only when `durable_rename` (a mirror re-fetches and
/// compares what it finds after a crash, so its renames need not be durable one by one).
fn write_replacing(path: &Path, bytes: &[u8], durable_rename: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut file = temp_file_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    if durable_rename {
        sync_dir(dir)?;
    }
    Ok(())
}

/// A new file with a random name in `dir`, removed unless persisted.
fn temp_file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".")
        .suffix(PART_SUFFIX)
        .tempfile_in(dir)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests;

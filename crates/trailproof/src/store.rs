//! Storage: one small trait over where digests and logs live, with a local-directory backend (an
//! `aws s3 sync` copy plus `.meta.json` sidecars) and an in-memory backend.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read};
use std::ops::ControlFlow;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::StoreError;

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
}

/// Objects kept in memory: tests, fuzzing, and embedders that already hold the bytes.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    objects: BTreeMap<String, BTreeMap<String, Object>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an object.
    pub fn put(&mut self, bucket: &str, key: &str, object: Object) {
        self.objects
            .entry(bucket.to_owned())
            .or_default()
            .insert(key.to_owned(), object);
    }

    /// Removes an object.
    pub fn remove(&mut self, bucket: &str, key: &str) -> Option<Object> {
        self.objects.get_mut(bucket)?.remove(key)
    }

    fn object(&self, bucket: &str, key: &str) -> Result<&Object, StoreError> {
        self.objects
            .get(bucket)
            .and_then(|b| b.get(key))
            .ok_or_else(|| StoreError::NotFound {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })
    }
}

impl FromIterator<((String, String), Object)> for MemoryStore {
    fn from_iter<I: IntoIterator<Item = ((String, String), Object)>>(objects: I) -> Self {
        let mut store = MemoryStore::new();
        for ((bucket, key), object) in objects {
            store.put(&bucket, &key, object);
        }
        store
    }
}

impl ObjectStore for MemoryStore {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let Some(objects) = self.objects.get(bucket) else {
            return Err(StoreError::NoSuchBucket {
                bucket: bucket.to_owned(),
                reason: "no such bucket".to_owned(),
            });
        };
        let from = if start_after < prefix {
            prefix
        } else {
            start_after
        };
        for key in objects.range(from.to_owned()..).map(|(k, _)| k) {
            if key.as_str() <= start_after {
                continue;
            }
            if !key.starts_with(prefix) {
                break;
            }
            if each(key).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        let object = self.object(bucket, key)?;
        if object.bytes.len() as u64 > limit {
            return Err(StoreError::TooLarge {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                limit,
            });
        }
        Ok(object.clone())
    }

    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        Ok(Box::new(Cursor::new(
            self.object(bucket, key)?.bytes.clone(),
        )))
    }
}

/// Suffix of the sidecar file that holds an object's S3 user metadata as a JSON object.
pub const SIDECAR_SUFFIX: &str = ".meta.json";

/// Buckets copied to local directories: `DIR/KEY` is the object, `DIR/KEY.meta.json` its
/// metadata (when known). This is what `aws s3 sync s3://BUCKET DIR` produces, plus sidecars.
#[derive(Clone, Debug, Default)]
pub struct LocalDirStore {
    buckets: BTreeMap<String, PathBuf>,
}

impl LocalDirStore {
    /// A store with no bucket yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `bucket` from `dir`.
    pub fn with_bucket(mut self, bucket: &str, dir: impl Into<PathBuf>) -> Self {
        self.buckets.insert(bucket.to_owned(), dir.into());
        self
    }

    /// The directory serving `bucket`.
    pub fn dir(&self, bucket: &str) -> Result<&Path, StoreError> {
        self.buckets
            .get(bucket)
            .map(PathBuf::as_path)
            .ok_or_else(|| StoreError::NoSuchBucket {
                bucket: bucket.to_owned(),
                reason: format!("not in the archive (map it with --archive-bucket {bucket}=DIR)"),
            })
    }

    /// The file of an object; keys that could escape the directory are refused.
    pub(crate) fn path(&self, bucket: &str, key: &str) -> Result<PathBuf, StoreError> {
        let dir = self.dir(bucket)?;
        let relative = Path::new(key);
        let safe = !key.is_empty()
            && !key.contains('\\')
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(StoreError::unreadable(
                bucket,
                key,
                "key cannot be mapped to a file inside the archive",
            ));
        }
        Ok(dir.join(relative))
    }

    fn not_found_or(bucket: &str, key: &str, e: std::io::Error) -> StoreError {
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                StoreError::NotFound {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }
            }
            _ => StoreError::unreadable(bucket, key, e),
        }
    }

    fn metadata(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> Result<Option<Metadata>, StoreError> {
        let mut sidecar = path.as_os_str().to_owned();
        sidecar.push(SIDECAR_SUFFIX);
        let text = match fs::read(&sidecar) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StoreError::unreadable(
                    bucket,
                    &format!("{key}{SIDECAR_SUFFIX}"),
                    e,
                ))
            }
        };
        let value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            StoreError::unreadable(
                bucket,
                &format!("{key}{SIDECAR_SUFFIX}"),
                format!("not valid JSON: {e}"),
            )
        })?;
        // Also accept `aws s3api head-object` output saved as is: the metadata is under "Metadata".
        let value = match value {
            serde_json::Value::Object(mut outer)
                if outer.get("Metadata").is_some_and(|m| m.is_object()) =>
            {
                outer.remove("Metadata").unwrap_or_default()
            }
            other => other,
        };
        let serde_json::Value::Object(map) = value else {
            return Err(StoreError::unreadable(
                bucket,
                &format!("{key}{SIDECAR_SUFFIX}"),
                "not a JSON object of metadata names to strings",
            ));
        };
        let mut meta = Metadata::new();
        for (name, v) in map {
            let serde_json::Value::String(s) = v else {
                return Err(StoreError::unreadable(
                    bucket,
                    &format!("{key}{SIDECAR_SUFFIX}"),
                    format!("metadata {name:?} is not a string"),
                ));
            };
            // S3 lowercases metadata names; accept the header form too.
            let name = name.to_ascii_lowercase();
            let name = name.strip_prefix("x-amz-meta-").unwrap_or(&name).to_owned();
            meta.insert(name, s);
        }
        Ok(Some(meta))
    }
}

/// Collects the keys under `dir` (relative path `rel`) into `out`.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue; // not UTF-8: cannot be an S3 key written by CloudTrail
        };
        let key = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else if (file_type.is_file() || (file_type.is_symlink() && entry.path().is_file()))
            && !key.ends_with(SIDECAR_SUFFIX)
            && !key.ends_with(PART_SUFFIX)
        {
            out.push(key);
        }
    }
    Ok(())
}

impl ObjectStore for LocalDirStore {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let root = self.dir(bucket)?;
        // Only walk the directory that can hold the prefix: `a/b/c` lists `a/b`, keeping entries
        // whose name starts with `c`.
        let (dir_part, name_prefix) = match prefix.rfind('/') {
            Some(i) => (&prefix[..i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        if Path::new(dir_part)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Ok(());
        }
        let dir = root.join(dir_part);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                if root.is_dir() {
                    return Ok(());
                }
                return Err(StoreError::NoSuchBucket {
                    bucket: bucket.to_owned(),
                    reason: format!("archive directory {} does not exist", root.display()),
                });
            }
            Err(e) => return Err(StoreError::unreadable(bucket, prefix, e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::unreadable(bucket, prefix, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !name.starts_with(name_prefix) {
                continue;
            }
            let key = if dir_part.is_empty() {
                name
            } else {
                format!("{dir_part}/{name}")
            };
            let file_type = entry
                .file_type()
                .map_err(|e| StoreError::unreadable(bucket, &key, e))?;
            if file_type.is_dir() {
                walk(&entry.path(), &key, &mut keys)
                    .map_err(|e| StoreError::unreadable(bucket, &key, e))?;
            } else if !key.ends_with(SIDECAR_SUFFIX) && !key.ends_with(PART_SUFFIX) {
                keys.push(key);
            }
        }
        keys.sort_unstable();
        for key in keys.iter().filter(|k| k.as_str() > start_after) {
            if each(key).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let root = self.dir(bucket)?;
        let rel = prefix.trim_end_matches('/');
        if !rel.is_empty()
            && Path::new(rel)
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Ok(Vec::new());
        }
        let entries = match fs::read_dir(root.join(rel)) {
            Ok(e) => e,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(StoreError::unreadable(bucket, prefix, e)),
        };
        let mut folders = Vec::new();
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                if let Some(name) = entry.file_name().to_str() {
                    folders.push(format!("{prefix}{name}/"));
                }
            }
        }
        folders.sort();
        Ok(folders)
    }

    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        let path = self.path(bucket, key)?;
        let file = fs::File::open(&path).map_err(|e| Self::not_found_or(bucket, key, e))?;
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Self::not_found_or(bucket, key, e))?;
        if bytes.len() as u64 > limit {
            return Err(StoreError::TooLarge {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                limit,
            });
        }
        let metadata = self.metadata(bucket, key, &path)?;
        Ok(Object { bytes, metadata })
    }

    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        let path = self.path(bucket, key)?;
        let file = fs::File::open(&path).map_err(|e| Self::not_found_or(bucket, key, e))?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(StoreError::NotFound {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        Ok(Box::new(file))
    }
}

/// Folder, inside a mirror, for buckets other than the digest bucket: `DIR/_buckets/NAME/`.
pub const OTHER_BUCKETS_DIR: &str = "_buckets";

/// Reads through another store and keeps a copy of everything read in a local directory laid
/// out for [`LocalDirStore`] (digest bucket at the root, other buckets under
/// [`OTHER_BUCKETS_DIR`], metadata in `.meta.json` sidecars). Objects already copied are served
/// from the copy, so an interrupted mirror resumes where it stopped.
#[derive(Debug)]
pub struct MirrorStore<S> {
    inner: S,
    root: PathBuf,
    main_bucket: String,
}

impl<S: ObjectStore> MirrorStore<S> {
    /// Mirrors `main_bucket` into `dir` (and other buckets below it).
    pub fn new(inner: S, main_bucket: &str, dir: impl Into<PathBuf>) -> Self {
        let root = dir.into();
        MirrorStore {
            inner,
            root,
            main_bucket: main_bucket.to_owned(),
        }
    }

    fn dir_of(&self, bucket: &str) -> PathBuf {
        if bucket == self.main_bucket {
            self.root.clone()
        } else {
            self.root.join(OTHER_BUCKETS_DIR).join(bucket)
        }
    }

    fn local_for(&self, bucket: &str) -> LocalDirStore {
        LocalDirStore::new().with_bucket(bucket, self.dir_of(bucket))
    }
}

/// Writes `bytes` to `path` through a temporary file, so a file that exists is complete.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = part_path(path);
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// Suffix of files being written by a [`MirrorStore`]; never listed as objects.
pub const PART_SUFFIX: &str = ".trailproof-part";

/// A temporary name beside `path`, unique within the process: the same object may be copied by
/// two readers at once (standard and backfill digests list the same log files).
fn part_path(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut part = path.as_os_str().to_owned();
    part.push(format!(".{}-{n}{PART_SUFFIX}", std::process::id()));
    PathBuf::from(part)
}

/// Copies what is read into a temporary file, renamed into place once the end is reached. A
/// reader dropped early (the verifier stops at corrupt data) still completes the copy, so the
/// mirror holds the object as served, corrupt or not.
struct Tee {
    inner: ObjectReader,
    file: Option<fs::File>,
    part: PathBuf,
    path: PathBuf,
}

impl Tee {
    fn finish(&mut self) -> std::io::Result<()> {
        if let Some(mut file) = self.file.take() {
            std::io::copy(&mut self.inner, &mut file)?;
            file.sync_all()?;
            fs::rename(&self.part, &self.path)?;
        }
        Ok(())
    }
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.finish()?;
        } else if let Some(file) = self.file.as_mut() {
            std::io::Write::write_all(file, &buf[..n])?;
        }
        Ok(n)
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        if self.finish().is_err() {
            let _ = fs::remove_file(&self.part);
        }
    }
}

impl<S: ObjectStore> ObjectStore for MirrorStore<S> {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.inner.list(bucket, prefix, start_after, each)
    }

    fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_folders(bucket, prefix)
    }

    /// Objects already copied are read from the copy: only the others are announced.
    fn prefetch(&self, objects: &[(&str, &str)], intent: Intent) -> Prefetch {
        let missing: Vec<(&str, &str)> = objects
            .iter()
            .copied()
            .filter(|(bucket, key)| {
                self.local_for(bucket)
                    .path(bucket, key)
                    .is_ok_and(|p| !p.is_file())
            })
            .collect();
        self.inner.prefetch(&missing, intent)
    }

    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        let local = self.local_for(bucket);
        let path = local.path(bucket, key)?;
        let mut sidecar = path.as_os_str().to_owned();
        sidecar.push(SIDECAR_SUFFIX);
        if path.is_file() && Path::new(&sidecar).is_file() {
            return local.get(bucket, key, limit);
        }
        let object = self.inner.get(bucket, key, limit)?;
        let io = |e: std::io::Error| {
            StoreError::unreadable(bucket, key, format!("cannot write the mirror copy: {e}"))
        };
        if let Some(meta) = &object.metadata {
            let json = serde_json::to_vec_pretty(meta).map_err(|e| io(std::io::Error::other(e)))?;
            write_atomically(Path::new(&sidecar), &json).map_err(io)?;
        }
        write_atomically(&path, &object.bytes).map_err(io)?;
        Ok(object)
    }

    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        let local = self.local_for(bucket);
        let path = local.path(bucket, key)?;
        if path.is_file() {
            return local.open(bucket, key);
        }
        let reader = self.inner.open(bucket, key)?;
        let io = |e: std::io::Error| {
            StoreError::unreadable(bucket, key, format!("cannot write the mirror copy: {e}"))
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        let part = part_path(&path);
        let file = fs::File::create(&part).map_err(io)?;
        Ok(Box::new(Tee {
            inner: reader,
            file: Some(file),
            part,
            path,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(bytes: &[u8], signature: Option<&str>) -> Object {
        Object {
            bytes: bytes.to_vec(),
            metadata: signature.map(|s| Metadata::from([("signature".to_owned(), s.to_owned())])),
        }
    }

    #[test]
    fn local_dir_lists_like_s3_and_reads_sidecars() {
        let dir = tempfile::tempdir().unwrap();
        let mut mem = MemoryStore::new();
        for key in ["a/b/c1", "a/b/c2/x", "a/bb/c", "a/b/d", "z"] {
            mem.put("bkt", key, object(key.as_bytes(), Some("00ff")));
        }
        let mirror = MirrorStore::new(mem.clone(), "bkt", dir.path());
        for key in ["a/b/c1", "a/b/c2/x", "a/bb/c", "a/b/d", "z"] {
            assert_eq!(
                mirror.get("bkt", key, 100).unwrap(),
                mem.get("bkt", key, 100).unwrap()
            );
        }
        let local = LocalDirStore::new().with_bucket("bkt", dir.path());
        let list = |s: &dyn ObjectStore, prefix: &str, after: &str| {
            let mut keys = Vec::new();
            s.list("bkt", prefix, after, &mut |k| {
                keys.push(k.to_owned());
                ControlFlow::Continue(())
            })
            .unwrap();
            keys
        };
        for (prefix, after) in [
            ("a/b", ""),
            ("a/b/", "a/b/c1"),
            ("a/b/c", ""),
            ("", "a/bb/c"),
            ("q", ""),
        ] {
            assert_eq!(
                list(&local, prefix, after),
                list(&mem, prefix, after),
                "{prefix} {after}"
            );
        }
        assert_eq!(
            local.get("bkt", "a/b/d", 100).unwrap(),
            mem.get("bkt", "a/b/d", 100).unwrap()
        );
        assert!(matches!(
            local.get("bkt", "nope", 100),
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            local.get("bkt", "../etc/passwd", 100),
            Err(StoreError::Unreadable { .. })
        ));
        assert!(matches!(
            local.get("bkt", "a/b/d", 2),
            Err(StoreError::TooLarge { .. })
        ));
        assert!(matches!(
            local.get("other", "a", 2),
            Err(StoreError::NoSuchBucket { .. })
        ));
    }

    #[test]
    fn head_object_output_is_accepted_as_a_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("d.json.gz"), b"x").unwrap();
        fs::write(
            dir.path().join("d.json.gz.meta.json"),
            r#"{"ContentLength": 1, "Metadata": {"signature": "ab", "signature-algorithm": "SHA256withRSA"}}"#,
        )
        .unwrap();
        let local = LocalDirStore::new().with_bucket("b", dir.path());
        let meta = local.get("b", "d.json.gz", 10).unwrap().metadata.unwrap();
        assert_eq!(meta.get("signature").map(String::as_str), Some("ab"));
    }

    #[test]
    fn mirror_streams_into_place_only_when_complete_and_resumes_locally() {
        let dir = tempfile::tempdir().unwrap();
        let mut mem = MemoryStore::new();
        mem.put("bkt", "log", object(b"0123456789", None));
        mem.put("other", "log2", object(b"abc", None));
        let mirror = MirrorStore::new(mem, "bkt", dir.path());
        let mut r = mirror.open("bkt", "log").unwrap();
        let mut first = [0u8; 4];
        r.read_exact(&mut first).unwrap();
        assert!(
            !dir.path().join("log").exists(),
            "no file before the end is read"
        );
        drop(r);
        let mut all = Vec::new();
        mirror
            .open("bkt", "log")
            .unwrap()
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(all, b"0123456789");
        assert_eq!(fs::read(dir.path().join("log")).unwrap(), b"0123456789");
        let mut other = Vec::new();
        mirror
            .open("other", "log2")
            .unwrap()
            .read_to_end(&mut other)
            .unwrap();
        assert_eq!(
            fs::read(dir.path().join("_buckets/other/log2")).unwrap(),
            b"abc"
        );
        // Served from the copy once present: a store that has lost it still answers.
        let resumed = MirrorStore::new(MemoryStore::new(), "bkt", dir.path());
        let mut again = Vec::new();
        resumed
            .open("bkt", "log")
            .unwrap()
            .read_to_end(&mut again)
            .unwrap();
        assert_eq!(again, b"0123456789");
    }
}

//! [`LocalDirStore`]: buckets copied to local directories, and the file-system rules shared with
//! the mirror: one file per key, regular files only, no symbolic links inside a copy.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{
    cannot_hold, local_key_problem, segments_problem, Metadata, Object, ObjectReader, ObjectStore,
    PART_SUFFIX, SIDECAR_SUFFIX,
};
use crate::StoreError;

/// Sidecars hold a few names and values (S3 allows 2 KB of user metadata); a larger one is not
/// a sidecar.
const SIDECAR_LIMIT: u64 = 1 << 20;

/// What is at a path, seen without following a link.
#[derive(Debug)]
pub(super) enum Kind {
    Missing,
    File(u64),
    Dir,
    Link,
    /// Anything else, named ("a FIFO").
    Other(&'static str),
}

fn kind_of_type(file_type: &fs::FileType, len: u64) -> Kind {
    if file_type.is_symlink() {
        return Kind::Link;
    }
    if file_type.is_file() {
        return Kind::File(len);
    }
    if file_type.is_dir() {
        return Kind::Dir;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Kind::Other("a FIFO");
        }
        if file_type.is_socket() {
            return Kind::Other("a socket");
        }
        if file_type.is_char_device() {
            return Kind::Other("a character device");
        }
        if file_type.is_block_device() {
            return Kind::Other("a block device");
        }
    }
    Kind::Other("a special file")
}

/// What is at `path`, without following a link there.
pub(super) fn kind_of(path: &Path) -> io::Result<Kind> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(kind_of_type(&m.file_type(), m.len())),
        Err(e) if is_missing(&e) => Ok(Kind::Missing),
        Err(e) => Err(e),
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Why a regular file could not be opened.
#[derive(Debug)]
pub(super) enum OpenFault {
    /// Nothing there (or a directory: a key's folder, not the key).
    Missing,
    Link,
    /// A FIFO, a socket, a device…, named.
    Special(&'static str),
    Io(io::Error),
}

/// Opens `path` for reading only if it is a regular file, with its size. A symbolic link as its
/// last component is refused by the kernel (`O_NOFOLLOW`); `O_NONBLOCK` makes opening a FIFO
/// return at once instead of waiting for a writer, and the type is then checked on the open
/// handle (`fstat`), so what is read is what was checked. (`O_NONBLOCK` has no effect on reads
/// of regular files.)
pub(super) fn open_regular(path: &Path) -> Result<(fs::File, u64), OpenFault> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if let Ok(Kind::Link) = kind_of(path) {
        return Err(OpenFault::Link);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if is_missing(&e) => return Err(OpenFault::Missing),
        // ELOOP on Linux and macOS, EMLINK on FreeBSD: ask what is there rather than decode.
        Err(e) => {
            return Err(match kind_of(path) {
                Ok(Kind::Link) => OpenFault::Link,
                _ => OpenFault::Io(e),
            })
        }
    };
    let meta = file.metadata().map_err(OpenFault::Io)?;
    match kind_of_type(&meta.file_type(), meta.len()) {
        Kind::File(len) => Ok((file, len)),
        Kind::Dir | Kind::Missing => Err(OpenFault::Missing),
        Kind::Link => Err(OpenFault::Link),
        Kind::Other(what) => Err(OpenFault::Special(what)),
    }
}

/// [`open_regular`] for the object `bucket/key` at `path`, its faults as the store's errors.
pub(crate) fn open_file(
    bucket: &str,
    key: &str,
    path: &Path,
) -> Result<(fs::File, u64), StoreError> {
    open_regular(path).map_err(|fault| match fault {
        OpenFault::Missing => StoreError::NotFound {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        },
        OpenFault::Link => link_error(bucket, key, path),
        OpenFault::Special(what) => StoreError::unreadable(
            bucket,
            key,
            format!("{} is {what}, not a regular file", path.display()),
        ),
        OpenFault::Io(e) => StoreError::unreadable(bucket, key, e),
    })
}

/// A directory on the way to a file that is not a plain directory.
#[derive(Debug)]
pub(super) enum DirFault {
    Link(PathBuf),
    NotDir(PathBuf),
    Io(PathBuf, io::Error),
}

/// Directories inside copies already seen to be real directories, not links: a copy of 100,000
/// log files then costs one look-up per file, not one `lstat` per folder per file. A folder is
/// recorded only once every folder above it (below the copy's root) has been checked.
///
/// Only links present when a folder is first checked are seen: the archive is at rest while
/// it is verified; replacing a folder by a link during the run is outside what this guards.
#[derive(Debug, Default)]
pub(super) struct Dirs(Mutex<HashSet<PathBuf>>);

impl Dirs {
    fn known(&self, path: &Path) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(path)
    }

    pub(super) fn record(&self, path: PathBuf) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path);
    }

    /// Checks the folders of `rel` (`/`-separated plain names, or empty) below `root`, which
    /// itself may be a link (the user chose it). `Ok(false)`: one of them does not exist.
    pub(super) fn check(&self, root: &Path, rel: &str) -> Result<bool, DirFault> {
        self.walk(root, rel, false)
    }

    /// Like [`Dirs::check`], creating the folders that do not exist.
    pub(super) fn ensure(&self, root: &Path, rel: &str) -> Result<(), DirFault> {
        self.walk(root, rel, true).map(|_| ())
    }

    fn walk(&self, root: &Path, rel: &str, create: bool) -> Result<bool, DirFault> {
        if rel.is_empty() || self.known(&root.join(rel)) {
            return Ok(true);
        }
        let mut path = root.to_path_buf();
        for segment in rel.split('/') {
            path.push(segment);
            if self.known(&path) {
                continue;
            }
            let mut kind = kind_of(&path).map_err(|e| DirFault::Io(path.clone(), e))?;
            if matches!(kind, Kind::Missing) {
                if !create {
                    return Ok(false);
                }
                match fs::create_dir(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(DirFault::Io(path, e)),
                }
                // Made by us or by someone else meanwhile: look again either way.
                kind = kind_of(&path).map_err(|e| DirFault::Io(path.clone(), e))?;
            }
            match kind {
                Kind::Dir => self.record(path.clone()),
                Kind::Link => return Err(DirFault::Link(path)),
                _ => return Err(DirFault::NotDir(path)),
            }
        }
        Ok(true)
    }
}

/// The folder part of a key (`a/b` for `a/b/c`, empty for `c`).
pub(super) fn folder_of(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The file of `key` below `root`, if a file can hold it exactly.
pub(super) fn file_of(root: &Path, bucket: &str, key: &str) -> Result<PathBuf, StoreError> {
    match local_key_problem(key) {
        Some(problem) => Err(cannot_hold(bucket, key, problem)),
        None => Ok(root.join(key)),
    }
}

/// The sidecar of an object's file.
pub(super) fn sidecar_of(path: &Path) -> PathBuf {
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(SIDECAR_SUFFIX);
    PathBuf::from(sidecar)
}

fn link_error(bucket: &str, key: &str, path: &Path) -> StoreError {
    StoreError::unreadable(
        bucket,
        key,
        format!(
            "{} is a symbolic link; trailproof does not follow links inside an archive",
            path.display()
        ),
    )
}

/// A directory entry met by a listing: its key, its type, whether its name is a key, and its
/// path.
type Listed = (String, fs::FileType, bool, PathBuf);

/// Buckets copied to local directories: `DIR/KEY` is the object, `DIR/KEY.meta.json` its
/// metadata (when known). This is what `aws s3 sync s3://BUCKET DIR` produces, plus sidecars.
///
/// Only keys whose every `/`-separated segment is a plain name map to a file; others are
/// [`StoreError::Unreadable`]. Only regular files are read. A symbolic link inside a bucket's
/// directory is never followed: a listing names it like any entry, and reading it is an error
/// (so it is a verdict of its own, and the rest of the listing is still checked); the
/// directory itself may be one.
#[derive(Clone, Debug, Default)]
pub struct LocalDirStore {
    buckets: BTreeMap<String, PathBuf>,
    dirs: Arc<Dirs>,
    /// Entries a listing met that no key can name exactly (a name that is not UTF-8, a folder
    /// that cannot be read), by the key they were listed under, with the cause: reading one
    /// reports the cause, so the entry is a verdict of its own and the listing goes on.
    unusable: Arc<std::sync::Mutex<BTreeMap<(String, String), String>>>,
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

    /// The file of an object; keys that a file cannot hold exactly are refused.
    pub fn path(&self, bucket: &str, key: &str) -> Result<PathBuf, StoreError> {
        file_of(self.dir(bucket)?, bucket, key)
    }

    fn mark_unusable(&self, bucket: &str, key: &str, cause: String) {
        self.unusable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((bucket.to_owned(), key.to_owned()), cause);
    }

    fn unusable(&self, bucket: &str, key: &str) -> Option<StoreError> {
        let marked = self
            .unusable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned();
        marked.map(|cause| StoreError::unreadable(bucket, key, cause))
    }

    /// Opens the object's file, checking every folder on the way.
    fn open_file(&self, bucket: &str, key: &str) -> Result<(fs::File, u64, PathBuf), StoreError> {
        if let Some(e) = self.unusable(bucket, key) {
            return Err(e);
        }
        let root = self.dir(bucket)?;
        let path = file_of(root, bucket, key)?;
        let not_found = || StoreError::NotFound {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        };
        match self.dirs.check(root, folder_of(key)) {
            Ok(true) => {}
            Ok(false) | Err(DirFault::NotDir(_)) => return Err(not_found()),
            Err(DirFault::Link(link)) => return Err(link_error(bucket, key, &link)),
            Err(DirFault::Io(at, e)) => {
                return Err(StoreError::unreadable(
                    bucket,
                    key,
                    format!("{}: {e}", at.display()),
                ))
            }
        }
        let (file, len) = open_file(bucket, key, &path)?;
        Ok((file, len, path))
    }

    /// The metadata in the sidecar of the object at `path`, `None` without one.
    fn metadata(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> Result<Option<Metadata>, StoreError> {
        let sidecar_key = format!("{key}{SIDECAR_SUFFIX}");
        let sidecar = sidecar_of(path);
        let bad = |cause: String| StoreError::unreadable(bucket, &sidecar_key, cause);
        let file = match open_regular(&sidecar) {
            Ok((file, _)) => file,
            Err(OpenFault::Missing) if !sidecar.is_dir() => return Ok(None),
            Err(OpenFault::Missing) => {
                return Err(bad(format!(
                    "{} is a directory, not a regular file",
                    sidecar.display()
                )))
            }
            Err(OpenFault::Link) => return Err(link_error(bucket, &sidecar_key, &sidecar)),
            Err(OpenFault::Special(what)) => {
                return Err(bad(format!(
                    "{} is {what}, not a regular file",
                    sidecar.display()
                )))
            }
            Err(OpenFault::Io(e)) => return Err(bad(e.to_string())),
        };
        let mut text = Vec::new();
        file.take(SIDECAR_LIMIT + 1)
            .read_to_end(&mut text)
            .map_err(|e| bad(e.to_string()))?;
        if text.len() as u64 > SIDECAR_LIMIT {
            return Err(bad(format!(
                "larger than {SIDECAR_LIMIT} bytes: not a metadata sidecar"
            )));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
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
            return Err(bad(
                "not a JSON object of metadata names to strings".to_owned()
            ));
        };
        let mut meta = Metadata::new();
        for (name, v) in map {
            let serde_json::Value::String(s) = v else {
                return Err(bad(format!("metadata {name:?} is not a string")));
            };
            // S3 lowercases metadata names; accept the header form too.
            let name = name.to_ascii_lowercase();
            let name = name.strip_prefix("x-amz-meta-").unwrap_or(&name).to_owned();
            meta.insert(name, s);
        }
        Ok(Some(meta))
    }

    /// The key of a directory entry below folder `rel`, and its type. A name that is not UTF-8
    /// cannot be the copy of an S3 key: it is listed under its lossy name, marked unusable, so
    /// that reading it says why (skipping it in silence would hide it; failing the listing
    /// would hide everything else). A link is listed as it is: reading it refuses it.
    fn entry_key(
        &self,
        bucket: &str,
        rel: &str,
        entry: &fs::DirEntry,
    ) -> Result<(String, fs::FileType, bool), StoreError> {
        let join = |name: &str| {
            if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            }
        };
        let file_name = entry.file_name();
        let (key, usable) = match file_name.to_str() {
            Some(name) => (join(name), true),
            None => {
                let lossy = join(&file_name.to_string_lossy());
                self.mark_unusable(
                    bucket,
                    &lossy,
                    format!(
                        "{} has a name that is not valid UTF-8, so it cannot be the copy of an S3 key",
                        entry.path().display()
                    ),
                );
                (lossy, false)
            }
        };
        let file_type = entry
            .file_type()
            .map_err(|e| StoreError::unreadable(bucket, &key, e))?;
        Ok((key, file_type, usable))
    }

    /// Adds the entry at `path` to `out`: a folder's keys (a folder that cannot be read is
    /// one unusable key), or the entry itself.
    fn add(
        &self,
        bucket: &str,
        (key, file_type, usable): (String, fs::FileType, bool),
        path: &Path,
        out: &mut Vec<String>,
    ) {
        if usable && file_type.is_dir() {
            match self.walk(bucket, path, &key, out) {
                Ok(()) => self.dirs.record(path.to_path_buf()),
                Err(e) => {
                    self.mark_unusable(bucket, &key, format!("folder {}: {e}", path.display()));
                    out.push(key);
                }
            }
        } else if !key.ends_with(SIDECAR_SUFFIX) && !key.ends_with(PART_SUFFIX) {
            // FIFOs, devices and links are listed too: reading them reports what they are.
            out.push(key);
        }
    }

    /// Collects the keys below folder `rel` (at `dir`) into `out`.
    fn walk(
        &self,
        bucket: &str,
        dir: &Path,
        rel: &str,
        out: &mut Vec<String>,
    ) -> Result<(), io::Error> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            match self.entry_key(bucket, rel, &entry) {
                Ok(listed) => self.add(bucket, listed, &entry.path(), out),
                Err(e) => {
                    let key = format!("{rel}/{}", entry.file_name().to_string_lossy());
                    self.mark_unusable(bucket, &key, e.to_string());
                    out.push(key);
                }
            }
        }
        Ok(())
    }

    /// The entries of folder `dir_part` whose names start with `name_prefix`; `None` when the
    /// folder does not exist (or no key held in a copy can start so).
    fn entries(
        &self,
        bucket: &str,
        dir_part: &str,
        name_prefix: &str,
    ) -> Result<Option<Vec<Listed>>, StoreError> {
        let root = self.dir(bucket)?;
        let prefix = if dir_part.is_empty() {
            name_prefix.to_owned()
        } else {
            format!("{dir_part}/{name_prefix}")
        };
        let present = match self.dirs.check(root, dir_part) {
            Ok(present) => present,
            Err(DirFault::NotDir(_)) => false,
            Err(DirFault::Link(link)) => {
                // Named by its own key, as when a listing meets it below the prefix.
                let key = link.strip_prefix(root).map_or_else(
                    |_| dir_part.to_owned(),
                    |k| k.to_string_lossy().into_owned(),
                );
                return Err(link_error(bucket, &key, &link));
            }
            Err(DirFault::Io(at, e)) => {
                return Err(StoreError::unreadable(
                    bucket,
                    &prefix,
                    format!("{}: {e}", at.display()),
                ))
            }
        };
        let dir = root.join(dir_part);
        let read = if present {
            fs::read_dir(&dir)
        } else {
            Err(io::ErrorKind::NotFound.into())
        };
        let entries = match read {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => {
                if root.is_dir() {
                    return Ok(None);
                }
                return Err(StoreError::NoSuchBucket {
                    bucket: bucket.to_owned(),
                    reason: format!("archive directory {} does not exist", root.display()),
                });
            }
            Err(e) => return Err(StoreError::unreadable(bucket, &prefix, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::unreadable(bucket, &prefix, e))?;
            // Compared as bytes, so an entry that is not UTF-8 is refused only when it would
            // be listed.
            if !entry
                .file_name()
                .as_encoded_bytes()
                .starts_with(name_prefix.as_bytes())
            {
                continue;
            }
            let (key, file_type, usable) = self.entry_key(bucket, dir_part, &entry)?;
            found.push((key, file_type, usable, entry.path()));
        }
        Ok(Some(found))
    }
}

/// Splits a listing prefix into the folder that holds its keys and the start of their names
/// there; `None` when no key that a copy can hold starts with `prefix`.
fn split_prefix(prefix: &str) -> Option<(&str, &str)> {
    match prefix.rsplit_once('/') {
        None => Some(("", prefix)),
        Some((dir, name)) => segments_problem(dir).is_none().then_some((dir, name)),
    }
}

impl ObjectStore for LocalDirStore {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.dir(bucket)?;
        // Only walk the folder that can hold the prefix: `a/b/c` lists `a/b`, keeping entries
        // whose name starts with `c`.
        let Some((dir_part, name_prefix)) = split_prefix(prefix) else {
            return Ok(());
        };
        let Some(entries) = self.entries(bucket, dir_part, name_prefix)? else {
            return Ok(());
        };
        let mut keys = Vec::new();
        for (key, file_type, usable, path) in entries {
            self.add(bucket, (key, file_type, usable), &path, &mut keys);
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
        self.dir(bucket)?;
        let Some((dir_part, name_prefix)) = split_prefix(prefix) else {
            return Ok(Vec::new());
        };
        let Some(entries) = self.entries(bucket, dir_part, name_prefix)? else {
            return Ok(Vec::new());
        };
        let mut folders: Vec<String> = entries
            .into_iter()
            // A link where a folder could be is named too: listing it then fails, and that is
            // the verdict of what it holds (skipping it would hide a whole chain).
            .filter(|(_, file_type, usable, _)| {
                *usable && (file_type.is_dir() || file_type.is_symlink())
            })
            .map(|(key, _, _, _)| key + "/")
            .collect();
        folders.sort();
        Ok(folders)
    }

    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        let (file, len, path) = self.open_file(bucket, key)?;
        let too_large = || StoreError::TooLarge {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            limit,
        };
        if len > limit {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::unreadable(bucket, key, e))?;
        if bytes.len() as u64 > limit {
            return Err(too_large());
        }
        let metadata = self.metadata(bucket, key, &path)?;
        Ok(Object { bytes, metadata })
    }

    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        let (file, _, _) = self.open_file(bucket, key)?;
        Ok(Box::new(file))
    }

    fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StoreError> {
        let (_, len, _) = self.open_file(bucket, key)?;
        Ok(Some(len))
    }
}

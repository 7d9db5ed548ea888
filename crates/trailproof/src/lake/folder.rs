//! Where result files are read from: any [`ObjectStore`] under a prefix, or a local directory.

use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::store::{ObjectReader, ObjectStore};
use crate::StoreError;

/// The folder a query's results were saved to.
pub trait ResultFolder: Sync {
    /// How `name` is shown in the report: `s3://bucket/prefix/name`, or a path.
    fn location(&self, name: &str) -> String;

    /// Opens the object `name` of the folder (a name already checked not to leave it).
    /// [`StoreError::NotFound`] when it does not exist; any other error means it could not be read.
    fn open(&self, name: &str) -> Result<ObjectReader, StoreError>;

    /// Every object in the folder, below it included, as names relative to it.
    fn list(&self) -> Result<Vec<String>, StoreError>;
}

/// A query folder in an [`ObjectStore`]: the objects under `prefix` in `bucket` (S3, memory, or a
/// local copy of a bucket).
#[derive(Clone, Copy)]
pub struct StoreFolder<'a> {
    store: &'a dyn ObjectStore,
    bucket: &'a str,
    prefix: &'a str,
}

impl std::fmt::Debug for StoreFolder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFolder")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<'a> StoreFolder<'a> {
    /// The folder `prefix` of `bucket`. `prefix` is used as given: the AWS CLI appends a `/`
    /// when it is missing (see [`folder_prefix`]).
    pub fn new(store: &'a dyn ObjectStore, bucket: &'a str, prefix: &'a str) -> Self {
        StoreFolder {
            store,
            bucket,
            prefix,
        }
    }
}

/// `--s3-prefix` as the AWS CLI uses it: empty stays empty, otherwise it ends with `/`.
pub fn folder_prefix(prefix: Option<&str>) -> String {
    match prefix {
        None | Some("") => String::new(),
        Some(p) if p.ends_with('/') => p.to_owned(),
        Some(p) => format!("{p}/"),
    }
}

impl ResultFolder for StoreFolder<'_> {
    fn location(&self, name: &str) -> String {
        format!("s3://{}/{}{name}", self.bucket, self.prefix)
    }

    fn open(&self, name: &str) -> Result<ObjectReader, StoreError> {
        self.store
            .open(self.bucket, &format!("{}{name}", self.prefix))
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        self.store.list(self.bucket, self.prefix, "", &mut |key| {
            if let Some(name) = key.strip_prefix(self.prefix) {
                names.push(name.to_owned());
            }
            ControlFlow::Continue(())
        })?;
        Ok(names)
    }
}

/// A query folder on disk (`--local-export-path`): every file below it counts, whatever its name.
#[derive(Clone, Debug)]
pub struct LocalFolder {
    dir: PathBuf,
}

impl LocalFolder {
    /// The folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalFolder { dir: dir.into() }
    }

    fn error(&self, name: &str, e: io::Error) -> StoreError {
        let bucket = self.dir.display().to_string();
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StoreError::NotFound {
                bucket,
                key: name.to_owned(),
            },
            _ => StoreError::unreadable(&bucket, name, e),
        }
    }
}

/// Folders below a local query folder that are listed (results are written flat; deeper is
/// not CloudTrail's and not worth a walk without end).
const MAX_LOCAL_DEPTH: usize = 8;

fn walk_local(
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), (String, io::Error)> {
    let entries = std::fs::read_dir(dir).map_err(|e| (rel.to_owned(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (rel.to_owned(), e))?;
        // A name that is not UTF-8 is still an object nobody listed: show it lossily.
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let file_type = entry.file_type().map_err(|e| (path.clone(), e))?;
        if file_type.is_dir() && depth < MAX_LOCAL_DEPTH {
            walk_local(&entry.path(), &path, depth + 1, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

impl ResultFolder for LocalFolder {
    fn location(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn open(&self, name: &str) -> Result<ObjectReader, StoreError> {
        // As in archive mode: a regular file only, never through a link, never blocking on a
        // FIFO.
        let bucket = self.dir.display().to_string();
        let (file, _) = crate::store::open_file(&bucket, name, &self.dir.join(name))?;
        Ok(Box::new(file))
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        walk_local(&self.dir, "", 0, &mut names).map_err(|(name, e)| self.error(&name, e))?;
        names.sort();
        Ok(names)
    }
}

/// Why a `fileName` cannot be read inside the folder, if it cannot.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.contains('/') || name.contains('\\') {
        Some("contains a path separator")
    } else if name == "." || name == ".." {
        Some("names a folder")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

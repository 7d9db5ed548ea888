//! [`MirrorStore`]: reads through another store and keeps a local copy of what it read.

use std::fmt::Display;
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::local::{
    file_of, folder_of, kind_of, open_regular, sidecar_of, DirFault, Dirs, Kind, OpenFault,
};
use super::{
    segments_problem, temp_file_in, write_replacing, Intent, Object, ObjectReader, ObjectStore,
    Prefetch, OTHER_BUCKETS_DIR,
};
use crate::StoreError;

/// Reads through another store and keeps a copy of everything read in a local directory laid
/// out for [`LocalDirStore`](super::LocalDirStore) (digest bucket at the root, other buckets
/// under [`OTHER_BUCKETS_DIR`], metadata in `.meta.json` sidecars).
///
/// Files are written under random temporary names, synced, then renamed into place, so a file
/// that exists is complete. Nothing is written through a symbolic link: a link anywhere below
/// the copy's root (a planted `DIR/AWSLogs`) is an error naming it. An interrupted mirror
/// resumes: digests are always fetched again (they are small), and a log file already copied
/// is used only when it has the object's size (see [`ObjectStore::object_size`]).
#[derive(Debug)]
pub struct MirrorStore<S> {
    inner: S,
    root: PathBuf,
    main_bucket: String,
    dirs: Dirs,
}

/// What a copy holds at an object's place.
enum Local {
    Nothing,
    File(u64),
    Dir,
}

/// Where an object goes in the copy.
struct Place {
    /// Its file.
    path: PathBuf,
    /// Its folder, relative to the copy's root (`_buckets/NAME/…` for other buckets).
    folder: String,
}

fn write_error(bucket: &str, key: &str, cause: impl Display) -> StoreError {
    StoreError::unreadable(
        bucket,
        key,
        format!("cannot write the mirror copy: {cause}"),
    )
}

fn dir_error(bucket: &str, key: &str, fault: DirFault) -> StoreError {
    match fault {
        DirFault::Link(p) => {
            write_error(bucket, key, format!("{} is a symbolic link", p.display()))
        }
        DirFault::NotDir(p) => write_error(
            bucket,
            key,
            format!("{} exists and is not a directory", p.display()),
        ),
        DirFault::Io(p, e) => write_error(bucket, key, format!("{}: {e}", p.display())),
    }
}

impl<S: ObjectStore> MirrorStore<S> {
    /// Mirrors `main_bucket` into `dir` (and other buckets below it). `dir` itself may be a
    /// symbolic link (the caller chose it); nothing below it may be.
    pub fn new(inner: S, main_bucket: &str, dir: impl Into<PathBuf>) -> Self {
        MirrorStore {
            inner,
            root: dir.into(),
            main_bucket: main_bucket.to_owned(),
            dirs: Dirs::default(),
        }
    }

    fn place(&self, bucket: &str, key: &str) -> Result<Place, StoreError> {
        let (base, bucket_folder) = if bucket == self.main_bucket {
            (self.root.clone(), String::new())
        } else {
            // A bucket name comes from a digest: it must stay one folder below `_buckets`.
            if let Some(problem) = segments_problem(bucket)
                .or_else(|| bucket.contains('/').then_some("it contains '/'"))
            {
                return Err(StoreError::unreadable(
                    bucket,
                    key,
                    format!("the bucket name cannot be held in a local copy: {problem}"),
                ));
            }
            (
                self.root.join(OTHER_BUCKETS_DIR).join(bucket),
                format!("{OTHER_BUCKETS_DIR}/{bucket}"),
            )
        };
        let path = file_of(&base, bucket, key)?;
        let folder = [bucket_folder.as_str(), folder_of(key)]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        Ok(Place { path, folder })
    }

    /// What is at `path`: nothing, a regular file (its size) or a folder; anything else there
    /// (a link, a FIFO…) is an error naming it.
    fn existing(&self, bucket: &str, key: &str, path: &Path) -> Result<Local, StoreError> {
        let kind = kind_of(path)
            .map_err(|e| write_error(bucket, key, format!("{}: {e}", path.display())))?;
        match kind {
            Kind::Missing => Ok(Local::Nothing),
            Kind::File(len) => Ok(Local::File(len)),
            Kind::Dir => Ok(Local::Dir),
            Kind::Link => Err(write_error(
                bucket,
                key,
                format!("{} is a symbolic link", path.display()),
            )),
            Kind::Other(what) => Err(write_error(
                bucket,
                key,
                format!("{} is {what}, not a regular file", path.display()),
            )),
        }
    }

    /// The size of the regular file at `path`, `None` when there is nothing; anything else
    /// there is an error naming it.
    fn existing_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> Result<Option<u64>, StoreError> {
        match self.existing(bucket, key, path)? {
            Local::Nothing => Ok(None),
            Local::File(len) => Ok(Some(len)),
            Local::Dir => Err(write_error(
                bucket,
                key,
                format!("{} is a directory, not a regular file", path.display()),
            )),
        }
    }

    /// What the copy holds at an object's place.
    fn copied(&self, bucket: &str, key: &str, place: &Place) -> Result<Local, StoreError> {
        let present = self
            .dirs
            .check(&self.root, &place.folder)
            .map_err(|fault| dir_error(bucket, key, fault))?;
        if present {
            self.existing(bucket, key, &place.path)
        } else {
            Ok(Local::Nothing)
        }
    }

    /// Makes the file at `path` hold `bytes`, leaving it alone when it already does.
    fn keep(&self, bucket: &str, key: &str, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        if self.existing_file(bucket, key, path)? == Some(bytes.len() as u64) {
            let mut held = Vec::with_capacity(bytes.len());
            let same = open_regular(path).is_ok_and(|(file, _)| {
                file.take(bytes.len() as u64 + 1)
                    .read_to_end(&mut held)
                    .is_ok()
                    && held == bytes
            });
            if same {
                return Ok(());
            }
        }
        write_replacing(path, bytes, false)
            .map_err(|e| write_error(bucket, key, format!("{}: {e}", path.display())))
    }

    /// Copies to the file of `bucket/key` what `reader` reads.
    fn tee(
        &self,
        bucket: &str,
        key: &str,
        place: Place,
        reader: ObjectReader,
    ) -> Result<ObjectReader, StoreError> {
        self.dirs
            .ensure(&self.root, &place.folder)
            .map_err(|fault| dir_error(bucket, key, fault))?;
        let parent = place.path.parent().unwrap_or(&self.root);
        let file = temp_file_in(parent)
            .map_err(|e| write_error(bucket, key, format!("{}: {e}", parent.display())))?;
        Ok(Box::new(Tee {
            inner: reader,
            file: Some(file),
            path: place.path,
        }))
    }
}

/// Copies what is read into a temporary file, renamed into place once the end is reached. A
/// reader dropped early (the verifier stops at corrupt data) still completes the copy, so the
/// mirror holds the object as served, corrupt or not. A copy that fails leaves no file (the
/// temporary one is removed when dropped).
struct Tee {
    inner: ObjectReader,
    file: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl Tee {
    fn finish(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            io::copy(&mut self.inner, file.as_file_mut())?;
            file.as_file().sync_all()?;
            // A rename replaces whatever name is at `path` (even a link planted meanwhile),
            // never writing through it.
            file.persist(&self.path).map_err(|e| e.error)?;
        }
        Ok(())
    }
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.finish()?;
        } else if let Some(file) = self.file.as_mut() {
            file.as_file_mut().write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // On failure the temporary file is dropped, which removes it.
        let _ = self.finish();
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

    /// Digests are always fetched, so all are announced; log files already copied may be
    /// served from the copy, so only the others are.
    fn prefetch(&self, objects: &[(&str, &str)], intent: Intent) -> Prefetch {
        if !matches!(intent, Intent::Open) {
            return self.inner.prefetch(objects, intent);
        }
        let missing: Vec<(&str, &str)> = objects
            .iter()
            .copied()
            .filter(|(bucket, key)| {
                !self
                    .place(bucket, key)
                    .and_then(|place| self.copied(bucket, key, &place))
                    .is_ok_and(|copy| matches!(copy, Local::File(_)))
            })
            .collect();
        self.inner.prefetch(&missing, intent)
    }

    /// Always asks the inner store: a digest copied by an earlier run is replaced by what the
    /// store serves now when they differ.
    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        let place = self.place(bucket, key)?;
        let object = self.inner.get(bucket, key, limit)?;
        self.dirs
            .ensure(&self.root, &place.folder)
            .map_err(|fault| dir_error(bucket, key, fault))?;
        // The sidecar first: an object file present in the copy has its metadata beside it.
        let sidecar = sidecar_of(&place.path);
        match &object.metadata {
            Some(meta) => {
                let json =
                    serde_json::to_vec_pretty(meta).map_err(|e| write_error(bucket, key, e))?;
                self.keep(bucket, key, &sidecar, &json)?;
            }
            None => {
                if self.existing_file(bucket, key, &sidecar)?.is_some() {
                    std::fs::remove_file(&sidecar).map_err(|e| {
                        write_error(bucket, key, format!("{}: {e}", sidecar.display()))
                    })?;
                }
            }
        }
        self.keep(bucket, key, &place.path, &object.bytes)?;
        Ok(object)
    }

    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        let place = self.place(bucket, key)?;
        let copy = self.copied(bucket, key, &place)?;
        if let Local::File(len) = copy {
            // A copy left by an earlier run is trusted only when it has the object's size, and
            // only for this reason: the walk hashes every log file it opens and compares the
            // hash with the `hashValue` of a digest whose signature it has just verified, so a
            // copy with other bytes of the same size is reported as modified, never as valid.
            // (Delete such a file to download it again.) A size the store cannot tell, or
            // another size, means downloading it again.
            if self.inner.object_size(bucket, key)? == Some(len) {
                return match open_regular(&place.path) {
                    Ok((file, _)) => Ok(Box::new(file)),
                    Err(OpenFault::Io(e)) => Err(write_error(
                        bucket,
                        key,
                        format!("{}: {e}", place.path.display()),
                    )),
                    Err(_) => Err(write_error(
                        bucket,
                        key,
                        format!("{} changed while being read", place.path.display()),
                    )),
                };
            }
        }
        let reader = self.inner.open(bucket, key)?;
        if let Local::Dir = copy {
            // S3 holds `a/b` beside `a/b/c`; a copy cannot. Only an object that exists is an
            // error: a folder where nothing is stored is just a folder.
            return Err(write_error(
                bucket,
                key,
                format!(
                    "{} is a directory, not a regular file",
                    place.path.display()
                ),
            ));
        }
        self.tee(bucket, key, place, reader)
    }

    fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StoreError> {
        self.inner.object_size(bucket, key)
    }
}

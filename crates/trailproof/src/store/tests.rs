#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::StoreError;

fn object(bytes: &[u8], signature: Option<&str>) -> Object {
    Object {
        bytes: bytes.to_vec(),
        metadata: signature.map(|s| Metadata::from([("signature".to_owned(), s.to_owned())])),
    }
}

fn list(
    s: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    after: &str,
) -> Result<Vec<String>, StoreError> {
    let mut keys = Vec::new();
    s.list(bucket, prefix, after, &mut |k| {
        keys.push(k.to_owned());
        ControlFlow::Continue(())
    })?;
    Ok(keys)
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

fn cause(e: StoreError) -> String {
    match e {
        StoreError::Unreadable { cause, .. } => cause,
        other => panic!("expected Unreadable, got {other:?}"),
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
    for (prefix, after) in [
        ("a/b", ""),
        ("a/b/", "a/b/c1"),
        ("a/b/c", ""),
        ("", "a/bb/c"),
        ("q", ""),
        ("/a", ""),
        ("a//", ""),
    ] {
        assert_eq!(
            list(&local, "bkt", prefix, after).unwrap(),
            list(&mem, "bkt", prefix, after).unwrap(),
            "{prefix} {after}"
        );
    }
    assert_eq!(
        local.get("bkt", "a/b/d", 100).unwrap(),
        mem.get("bkt", "a/b/d", 100).unwrap()
    );
    assert_eq!(local.object_size("bkt", "a/b/d").unwrap(), Some(5));
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
    // A folder at a key is not an object there (S3 can hold `a/b` and `a/b/c`; a copy cannot).
    assert!(matches!(
        local.get("bkt", "a/b", 100),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        local.open("bkt", "a/b"),
        Err(StoreError::NotFound { .. })
    ));
    // A file where a folder would be: nothing below it.
    assert!(matches!(
        local.get("bkt", "z/y", 100),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(local.list_folders("bkt", "a/").unwrap(), ["a/b/", "a/bb/"]);
    assert_eq!(local.list_folders("bkt", "a/b/").unwrap(), ["a/b/c2/"]);
    assert!(local.list_folders("bkt", "q/").unwrap().is_empty());
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
fn keys_a_file_cannot_hold_exactly_are_refused_never_aliased() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/b", b"the bytes of a/b");
    write(dir.path(), "x.meta.json", b"{}");
    let local = LocalDirStore::new().with_bucket("b", dir.path());
    for key in [
        "a//b",
        "a/./b",
        "./a/b",
        "a/b/",
        "/a/b",
        "a/../a/b",
        "a/b/.",
        "a\\b",
        "a/\u{1}b",
        "a/\nb",
        "a/b\0",
        "",
        "x.meta.json",
    ] {
        for result in [
            local.get("b", key, 100).map(|_| ()),
            local.open("b", key).map(|_| ()),
            local.object_size("b", key).map(|_| ()),
        ] {
            let cause = cause(result.unwrap_err());
            assert!(
                cause.contains("cannot be held in a local copy"),
                "{key:?}: {cause}"
            );
        }
    }
    // The exact key still reads.
    assert_eq!(
        local.get("b", "a/b", 100).unwrap().bytes,
        b"the bytes of a/b"
    );
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn a_fifo_at_a_log_path_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "logs/ok.json.gz", b"ok");
    mkfifo(&dir.path().join("logs/fifo.json.gz"));
    mkfifo(&dir.path().join("logs/ok.json.gz.meta.json"));
    let local = LocalDirStore::new().with_bucket("b", dir.path());
    // Listed (it is there), so that reading it says what it is.
    assert_eq!(
        list(&local, "b", "logs/", "").unwrap(),
        ["logs/fifo.json.gz", "logs/ok.json.gz"]
    );
    let open = cause(
        local
            .open("b", "logs/fifo.json.gz")
            .map(|_| ())
            .unwrap_err(),
    );
    assert!(open.contains("is a FIFO, not a regular file"), "{open}");
    let get = cause(local.get("b", "logs/fifo.json.gz", 10).unwrap_err());
    assert!(get.contains("is a FIFO, not a regular file"), "{get}");
    // A FIFO as a sidecar too.
    let err = local.get("b", "logs/ok.json.gz", 10).unwrap_err();
    assert!(
        matches!(&err, StoreError::Unreadable { key, cause, .. }
            if key == "logs/ok.json.gz.meta.json" && cause.contains("is a FIFO")),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn symbolic_links_inside_a_copy_are_listed_and_refused_when_read() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.json.gz", b"outside the archive");
    write(outside.path(), "region/x.json.gz", b"outside the archive");

    // A linked log file: listed like any entry (so it is a verdict of its own, and the rest of
    // the listing is still there), refused when read.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "AWSLogs/1/CloudTrail/r1/ok.json.gz", b"ok");
    symlink(
        outside.path().join("secret.json.gz"),
        dir.path().join("AWSLogs/1/CloudTrail/r1/link.json.gz"),
    )
    .unwrap();
    let local = LocalDirStore::new().with_bucket("b", dir.path());
    for prefix in [
        "",
        "AWSLogs/",
        "AWSLogs/1/CloudTrail/r1/",
        "AWSLogs/1/CloudTrail/r1/li",
    ] {
        let listed = list(&local, "b", prefix, "").unwrap();
        assert!(
            listed.contains(&"AWSLogs/1/CloudTrail/r1/link.json.gz".to_owned()),
            "{prefix}: {listed:?}"
        );
    }
    assert_eq!(
        list(&local, "b", "AWSLogs/1/CloudTrail/r1/o", "").unwrap(),
        ["AWSLogs/1/CloudTrail/r1/ok.json.gz"]
    );
    assert_eq!(
        local.list_folders("b", "AWSLogs/1/CloudTrail/").unwrap(),
        ["AWSLogs/1/CloudTrail/r1/"]
    );
    let read = cause(
        local
            .open("b", "AWSLogs/1/CloudTrail/r1/link.json.gz")
            .map(|_| ())
            .unwrap_err(),
    );
    assert!(
        read.contains("is a symbolic link; trailproof does not follow links inside an archive"),
        "{read}"
    );
    assert!(local
        .get("b", "AWSLogs/1/CloudTrail/r1/link.json.gz", 100)
        .is_err());

    // A linked region folder: named as a folder (a whole chain is never hidden), but listing
    // or reading below it is refused.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "AWSLogs/1/CloudTrail/r1/ok.json.gz", b"ok");
    symlink(
        outside.path().join("region"),
        dir.path().join("AWSLogs/1/CloudTrail/r2"),
    )
    .unwrap();
    let local = LocalDirStore::new().with_bucket("b", dir.path());
    assert_eq!(
        local.list_folders("b", "AWSLogs/1/CloudTrail/").unwrap(),
        ["AWSLogs/1/CloudTrail/r1/", "AWSLogs/1/CloudTrail/r2/"]
    );
    assert_eq!(
        list(&local, "b", "AWSLogs/1/CloudTrail/", "").unwrap(),
        [
            "AWSLogs/1/CloudTrail/r1/ok.json.gz",
            "AWSLogs/1/CloudTrail/r2"
        ]
    );
    for prefix in [
        "AWSLogs/1/CloudTrail/r2/",
        "AWSLogs/1/CloudTrail/r2/2024/03/",
    ] {
        let err = list(&local, "b", prefix, "").unwrap_err();
        assert!(
            matches!(&err, StoreError::Unreadable { key, cause, .. }
                if key == "AWSLogs/1/CloudTrail/r2" && cause.contains("is a symbolic link")),
            "{prefix}: {err}"
        );
    }
    assert!(local.list_folders("b", "AWSLogs/1/CloudTrail/r2/").is_err());
    for key in [
        "AWSLogs/1/CloudTrail/r2",
        "AWSLogs/1/CloudTrail/r2/x.json.gz",
        "AWSLogs/1/CloudTrail/r2/none.json.gz",
    ] {
        let read = cause(local.get("b", key, 100).unwrap_err());
        assert!(read.contains("CloudTrail/r2 is a symbolic link"), "{read}");
        assert!(local.open("b", key).is_err());
    }
    // The folder that is fine still reads, before and after.
    assert_eq!(
        local
            .get("b", "AWSLogs/1/CloudTrail/r1/ok.json.gz", 10)
            .unwrap()
            .bytes,
        b"ok"
    );

    // A linked sidecar: never listed (sidecars are not objects), refused when read.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.json.gz", b"d");
    write(outside.path(), "meta.json", br#"{"signature":"ab"}"#);
    symlink(
        outside.path().join("meta.json"),
        dir.path().join("d.json.gz.meta.json"),
    )
    .unwrap();
    let local = LocalDirStore::new().with_bucket("b", dir.path());
    assert!(cause(local.get("b", "d.json.gz", 10).unwrap_err()).contains("is a symbolic link"));
    assert_eq!(list(&local, "b", "", "").unwrap(), ["d.json.gz"]);

    // The bucket folder itself may be a link.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "real/a/b", b"ab");
    symlink(dir.path().join("real"), dir.path().join("chosen")).unwrap();
    let local = LocalDirStore::new().with_bucket("b", dir.path().join("chosen"));
    assert_eq!(list(&local, "b", "", "").unwrap(), ["a/b"]);
    assert_eq!(local.get("b", "a/b", 10).unwrap().bytes, b"ab");
}

#[cfg(unix)]
#[test]
fn a_name_that_is_not_utf8_is_listed_and_reading_it_says_why() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "logs/ok", b"ok");
    let name = std::ffi::OsStr::from_bytes(b"bad\xff.json.gz");
    fs::write(dir.path().join("logs").join(name), b"x").unwrap();
    fs::create_dir_all(
        dir.path()
            .join("logs")
            .join(std::ffi::OsStr::from_bytes(b"dir\xfe")),
    )
    .unwrap();
    let local = LocalDirStore::new().with_bucket("b", dir.path());
    assert_eq!(
        list(&local, "b", "logs/", "").unwrap(),
        ["logs/bad\u{fffd}.json.gz", "logs/dir\u{fffd}", "logs/ok"]
    );
    for key in ["logs/bad\u{fffd}.json.gz", "logs/dir\u{fffd}"] {
        let err = local.get("b", key, 10).unwrap_err();
        assert!(
            matches!(&err, StoreError::Unreadable { key: k, cause, .. }
                if k == key && cause.contains("not valid UTF-8")),
            "{err}"
        );
        assert!(cause(local.open("b", key).map(|_| ()).unwrap_err()).contains("not valid UTF-8"));
    }
    // Never a folder of its own.
    assert!(local.list_folders("b", "logs/").unwrap().is_empty());
    assert_eq!(list(&local, "b", "logs/o", "").unwrap(), ["logs/ok"]);
}

#[test]
fn mirror_streams_into_place_only_when_complete() {
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
    assert_eq!(fs::read(dir.path().join("log")).unwrap(), b"0123456789");
    let mut all = Vec::new();
    mirror
        .open("bkt", "log")
        .unwrap()
        .read_to_end(&mut all)
        .unwrap();
    assert_eq!(all, b"0123456789");
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
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}

/// Serves `inner` but counts reads and can hide sizes or refuse to serve bodies.
struct Watched {
    inner: MemoryStore,
    opens: AtomicUsize,
    gets: AtomicUsize,
    sizes: bool,
}

impl ObjectStore for Watched {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.inner.list(bucket, prefix, start_after, each)
    }
    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(bucket, key, limit)
    }
    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        self.inner.open(bucket, key)
    }
    fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StoreError> {
        if self.sizes {
            self.inner.object_size(bucket, key)
        } else {
            Ok(None)
        }
    }
}

fn watched(objects: &[(&str, &[u8])], sizes: bool) -> Watched {
    let mut inner = MemoryStore::new();
    for (key, bytes) in objects {
        inner.put("bkt", key, object(bytes, Some("ab")));
    }
    Watched {
        inner,
        opens: AtomicUsize::new(0),
        gets: AtomicUsize::new(0),
        sizes,
    }
}

fn read_all(s: &dyn ObjectStore, key: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    s.open("bkt", key).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

#[test]
fn a_resumed_mirror_uses_a_copied_log_only_when_its_size_matches() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "logs/same", b"LOCAL-5");
    write(dir.path(), "logs/shorter", b"old");
    // Same size: served from the copy, without a GET (its content is checked by the
    // verification against the signed digest).
    let source = Arc::new(watched(
        &[("logs/same", b"S3-COPY"), ("logs/shorter", b"new bytes")],
        true,
    ));
    let store = MirrorStore::new(source.clone(), "bkt", dir.path());
    assert_eq!(read_all(&store, "logs/same"), b"LOCAL-5");
    assert_eq!(source.opens.load(Ordering::SeqCst), 0);
    // Another size: downloaded again, and the copy replaced.
    assert_eq!(read_all(&store, "logs/shorter"), b"new bytes");
    assert_eq!(source.opens.load(Ordering::SeqCst), 1);
    assert_eq!(
        fs::read(dir.path().join("logs/shorter")).unwrap(),
        b"new bytes"
    );
    // Gone from the store: not found, whatever the copy holds.
    let gone = MirrorStore::new(watched(&[], true), "bkt", dir.path());
    assert!(matches!(
        gone.open("bkt", "logs/same"),
        Err(StoreError::NotFound { .. })
    ));
    // A store that cannot tell sizes: always downloaded again.
    let blind_source = Arc::new(watched(&[("logs/same", b"S3-COPY")], false));
    let blind = MirrorStore::new(blind_source.clone(), "bkt", dir.path());
    assert_eq!(read_all(&blind, "logs/same"), b"S3-COPY");
    assert_eq!(blind_source.opens.load(Ordering::SeqCst), 1);
    assert_eq!(fs::read(dir.path().join("logs/same")).unwrap(), b"S3-COPY");
}

#[test]
fn a_resumed_mirror_fetches_digests_again_and_replaces_a_stale_copy() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.json.gz", b"stale");
    write(
        dir.path(),
        "d.json.gz.meta.json",
        br#"{"signature":"stale"}"#,
    );
    let source = Arc::new(watched(&[("d.json.gz", b"fresh")], true));
    let store = MirrorStore::new(source.clone(), "bkt", dir.path());
    let got = store.get("bkt", "d.json.gz", 100).unwrap();
    assert_eq!(got.bytes, b"fresh");
    assert_eq!(source.gets.load(Ordering::SeqCst), 1);
    let local = LocalDirStore::new().with_bucket("bkt", dir.path());
    assert_eq!(local.get("bkt", "d.json.gz", 100).unwrap(), got);
    // Unchanged: fetched again, the file left alone.
    let before = fs::metadata(dir.path().join("d.json.gz"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    store.get("bkt", "d.json.gz", 100).unwrap();
    assert_eq!(source.gets.load(Ordering::SeqCst), 2);
    let after = fs::metadata(dir.path().join("d.json.gz"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn a_mirror_never_writes_a_key_a_file_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = MemoryStore::new();
    for key in [
        "a/b",
        "a//b",
        "a/./b",
        "a/b/",
        "a/../x",
        "a/\nb",
        "x.meta.json",
    ] {
        mem.put("bkt", key, object(key.as_bytes(), Some("ab")));
    }
    mem.put("..", "x", object(b"escape", None));
    mem.put("a/b", "x", object(b"escape", None));
    let mirror = MirrorStore::new(mem, "bkt", dir.path());
    assert_eq!(mirror.get("bkt", "a/b", 100).unwrap().bytes, b"a/b");
    for key in ["a//b", "a/./b", "a/b/", "a/../x", "a/\nb", "x.meta.json"] {
        let err = cause(mirror.get("bkt", key, 100).unwrap_err());
        assert!(
            err.contains("cannot be held in a local copy"),
            "{key:?}: {err}"
        );
        assert!(mirror.open("bkt", key).is_err());
    }
    for bucket in ["..", "a/b"] {
        let err = cause(mirror.get(bucket, "x", 100).unwrap_err());
        assert!(
            err.contains("bucket name cannot be held"),
            "{bucket}: {err}"
        );
    }
    let local = LocalDirStore::new().with_bucket("bkt", dir.path());
    assert_eq!(local.get("bkt", "a/b", 100).unwrap().bytes, b"a/b");
    assert!(!dir.path().join("x").exists());
}

#[cfg(unix)]
#[test]
fn a_mirror_never_writes_through_a_symbolic_link() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    symlink(outside.path(), dir.path().join("AWSLogs")).unwrap();
    let mut mem = MemoryStore::new();
    mem.put("bkt", "AWSLogs/1/d.json.gz", object(b"digest", Some("ab")));
    mem.put("bkt", "AWSLogs/1/l.json.gz", object(b"log", None));
    mem.put("bkt", "top.json.gz", object(b"top", None));
    mem.put("bkt", "f/link", object(b"log", None));
    let mirror = MirrorStore::new(mem, "bkt", dir.path());
    let err = cause(mirror.get("bkt", "AWSLogs/1/d.json.gz", 100).unwrap_err());
    assert!(
        err.starts_with("cannot write the mirror copy: ")
            && err.ends_with("AWSLogs is a symbolic link"),
        "{err}"
    );
    let err = cause(
        mirror
            .open("bkt", "AWSLogs/1/l.json.gz")
            .map(|_| ())
            .unwrap_err(),
    );
    assert!(err.ends_with("AWSLogs is a symbolic link"), "{err}");
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written through the link"
    );
    // A link at a file's own name.
    let target = outside.path().join("target");
    fs::write(&target, "untouched").unwrap();
    symlink(&target, dir.path().join("top.json.gz")).unwrap();
    let err = cause(mirror.open("bkt", "top.json.gz").map(|_| ()).unwrap_err());
    assert!(err.ends_with("top.json.gz is a symbolic link"), "{err}");
    assert!(mirror.get("bkt", "top.json.gz", 100).is_err());
    assert_eq!(fs::read_to_string(&target).unwrap(), "untouched");
    // A FIFO or a folder where a file goes: named, not replaced.
    fs::create_dir(dir.path().join("f")).unwrap();
    std::process::Command::new("mkfifo")
        .arg(dir.path().join("f/link"))
        .status()
        .unwrap();
    let err = cause(mirror.open("bkt", "f/link").map(|_| ()).unwrap_err());
    assert!(
        err.ends_with("f/link is a FIFO, not a regular file"),
        "{err}"
    );
    // A file where a folder goes.
    let mut mem = MemoryStore::new();
    mem.put("bkt", "file/x", object(b"x", None));
    fs::write(dir.path().join("file"), "").unwrap();
    let mirror = MirrorStore::new(mem, "bkt", dir.path());
    let err = cause(mirror.open("bkt", "file/x").map(|_| ()).unwrap_err());
    assert!(err.ends_with("file exists and is not a directory"), "{err}");
}

#[test]
fn replace_file_leaves_no_temporary_file_and_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.json");
    replace_file(&path, b"one").unwrap();
    replace_file(&path, b"two").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

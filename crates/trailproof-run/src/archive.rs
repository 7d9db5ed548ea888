//! `validate --archive`: a local copy of the bucket, keys from a `list-public-keys` file.

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use trailproof::{Chain, Error, KeySet, LocalDirStore, ObjectStore, PublicKeySource, TrailArn};

use crate::config::{ArchiveKeys, ArchiveSource, Selection, ValidateConfig};
use crate::output::{clean_prefix, execute, Job, Range};

/// Placeholder name for the archive directory until the digest bucket's name is known.
const UNNAMED: &str = "archive";

pub fn validate(
    args: ValidateConfig,
    archive: ArchiveSource,
    plan: Option<crate::shard::Plan>,
) -> Result<u8, Error> {
    let sel = &args.selection;
    let range = Range::parse(sel)?;
    let dir = archive.dir.clone();
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "--archive {}: not a directory",
            dir.display()
        )));
    }
    let chain = archive_chain(sel, &range.arn, &dir)?;
    let store = archive_store(&chain.bucket, &dir, &archive.buckets)?;
    let file_keys;
    let fetched_keys;
    let keys: &dyn PublicKeySource = match &archive.keys {
        ArchiveKeys::File(path) => {
            file_keys = key_file(path, &dir, &archive.buckets)?;
            &file_keys
        }
        ArchiveKeys::Fetch => {
            fetched_keys = crate::live::fetch_keys(sel, &range)?;
            &fetched_keys.keys
        }
        ArchiveKeys::Missing => {
            return Err(Error::Usage(
                "no public keys: pass --public-keys FILE (the output of `aws cloudtrail list-public-keys`, obtained apart from the archive) or --fetch-public-keys (CloudTrail's ListPublicKeys, with any AWS account's credentials)".to_owned(),
            ))
        }
    };
    let job = Job {
        store: &store,
        keys,
        chain,
        parallelism: sel.parallelism(),
        check_unreferenced_logs: true,
        source: dir.display().to_string(),
        trail_status: None,
    };
    if let (Some(plan), Some(shard)) = (plan, &args.shard) {
        return crate::shard::execute(&range, sel, job, shard, plan, "archive", args.verbose);
    }
    execute(&range, sel, job, args.verbose, args.format, &args.output)
}

/// The chain the flags name, what they leave out read from the archive's layout.
fn archive_chain(sel: &Selection, arn: &TrailArn, dir: &Path) -> Result<Chain, Error> {
    let account_id = sel
        .account_id
        .clone()
        .unwrap_or_else(|| arn.account_id.clone());
    let prefix = match &sel.s3_prefix {
        Some(p) => clean_prefix(Some(p)),
        None => detect_prefix(dir)?,
    };
    let organization_id = match &sel.organization_id {
        Some(o) => Some(o.clone()),
        None => detect_organization(dir, prefix.as_deref(), &account_id),
    };
    let mut chain = Chain {
        bucket: UNNAMED.to_owned(),
        prefix,
        organization_id,
        account_id,
        source_region: sel.region.clone().unwrap_or_else(|| arn.region.clone()),
        home_region: arn.region.clone(),
        trail_name: arn.name.clone(),
    };
    chain.bucket = match &sel.s3_bucket {
        Some(b) => b.clone(),
        None => infer_bucket(dir, &chain)
            .map_err(|e| local_error(dir, e))?
            .unwrap_or_else(|| dir_name(dir)),
    };
    Ok(chain)
}

/// The archive as a store: the digest bucket, the buckets a mirror copied beside it, and those
/// `--archive-bucket NAME=DIR` maps.
fn archive_store(bucket: &str, dir: &Path, mappings: &[String]) -> Result<LocalDirStore, Error> {
    let mut store = LocalDirStore::new().with_bucket(bucket, dir);
    if let Ok(entries) = fs::read_dir(dir.join(trailproof::store::OTHER_BUCKETS_DIR)) {
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str() {
                store = store.with_bucket(name, entry.path());
            }
        }
    }
    for mapping in mappings {
        let Some((name, path)) = mapping.split_once('=') else {
            return Err(Error::Usage(format!(
                "--archive-bucket {mapping}: expected NAME=DIR"
            )));
        };
        store = store.with_bucket(name, path);
    }
    Ok(store)
}

/// The keys of `--public-keys FILE`, named as inside the archive (with a warning) when they
/// are: trust must come from apart from the data.
fn key_file(path: &Path, dir: &Path, mappings: &[String]) -> Result<KeySet, Error> {
    let mut roots = vec![dir.to_path_buf()];
    roots.extend(
        mappings
            .iter()
            .filter_map(|m| m.split_once('=').map(|(_, p)| PathBuf::from(p))),
    );
    let inside = inside_any(path, &roots);
    if inside {
        eprintln!(
            "trailproof: warning: the public keys {} lie inside the archive being validated: trust then rests on the archive itself (whoever can change the archive can add keys)",
            trailproof::report::escape_controls(&path.display().to_string())
        );
    }
    let mut set = load_keys(path)?;
    if inside {
        let source = format!("{} (inside the archive)", set.source());
        set = set.with_source(source);
    }
    Ok(set)
}

/// True when `path` lies inside one of `roots` (both resolved, so links and `..` cannot hide it).
fn inside_any(path: &Path, roots: &[PathBuf]) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    roots
        .iter()
        .filter_map(|r| r.canonicalize().ok())
        .any(|root| path.starts_with(root))
}

fn load_keys(path: &Path) -> Result<KeySet, Error> {
    let bytes = fs::read(path).map_err(|e| Error::PublicKeys {
        source_name: path.display().to_string(),
        reason: e.to_string(),
    })?;
    KeySet::from_list_public_keys_json(&bytes, &path.display().to_string())
}

/// An error met while reading the archive before its bucket is known, naming the local path.
fn local_error(dir: &Path, e: Error) -> Error {
    match e {
        Error::Store(trailproof::StoreError::Unreadable { key, cause, .. }) => {
            let path = dir.join(key);
            Error::Io {
                context: path.display().to_string(),
                path,
                source: std::io::Error::other(cause),
            }
        }
        other => Error::Io {
            context: format!("--archive {}", dir.display()),
            path: dir.to_owned(),
            source: std::io::Error::other(other),
        },
    }
}

fn dir_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| UNNAMED.to_owned())
}

/// When the archive does not start with `AWSLogs/`, finds the one prefix under which it does.
/// Two candidates are an error naming both: which trail to check is the user's choice.
fn detect_prefix(dir: &Path) -> Result<Option<String>, Error> {
    let mut found = Vec::new();
    if dir.join("AWSLogs").is_dir() {
        found.push(PathBuf::new());
    }
    find_awslogs(dir, PathBuf::new(), 0, &mut found);
    found.sort();
    match found.as_slice() {
        [] => Ok(None),
        [one] if one.as_os_str().is_empty() => Ok(None),
        [one] => Ok(Some(one.to_string_lossy().replace('\\', "/"))),
        [a, b, ..] => {
            let show = |p: &PathBuf| dir.join(p).join("AWSLogs").display().to_string();
            Err(Error::Usage(format!(
                "--archive {}: AWSLogs/ found under more than one prefix ({} and {}): name the one to check with --s3-prefix",
                dir.display(),
                show(a),
                show(b)
            )))
        }
    }
}

fn find_awslogs(dir: &Path, rel: PathBuf, depth: usize, found: &mut Vec<PathBuf>) {
    if depth > 4 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let name = entry.file_name();
        // Other buckets a mirror copied hold their own AWSLogs/: not a prefix of this one.
        if depth == 0 && name == trailproof::store::OTHER_BUCKETS_DIR {
            continue;
        }
        if name == "AWSLogs" {
            if !rel.as_os_str().is_empty() {
                found.push(rel.clone());
            }
        } else {
            find_awslogs(&entry.path(), rel.join(&name), depth + 1, found);
        }
    }
}

/// Organization trails keep files under `AWSLogs/<o-id>/<account>/`: find the one id that has
/// digests for the account when the plain layout has none.
fn detect_organization(dir: &Path, prefix: Option<&str>, account: &str) -> Option<String> {
    let logs = match prefix {
        Some(p) => dir.join(p).join("AWSLogs"),
        None => dir.join("AWSLogs"),
    };
    if logs.join(account).join("CloudTrail-Digest").is_dir() {
        return None;
    }
    let mut orgs: Vec<String> = fs::read_dir(&logs)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| {
            n.starts_with("o-")
                && logs
                    .join(n)
                    .join(account)
                    .join("CloudTrail-Digest")
                    .is_dir()
        })
        .collect();
    orgs.sort();
    (orgs.len() == 1).then(|| orgs.remove(0))
}

/// The bucket name the newest digest of the chain says it was delivered to.
fn infer_bucket(dir: &Path, chain: &Chain) -> Result<Option<String>, Error> {
    let store = LocalDirStore::new().with_bucket(UNNAMED, dir);
    // The chain's digests; failing that (another account's chains only, as with
    // --all-accounts on an organization trail), any digest of the trail in the copy.
    let digests_under =
        |prefix: &str, wanted: &dyn Fn(&str) -> bool| -> Result<Vec<String>, Error> {
            let mut keys = Vec::new();
            store.list(UNNAMED, prefix, "", &mut |key| {
                if wanted(key) && !trailproof::layout::is_backfill_key(key) {
                    keys.push(key.to_owned());
                }
                ControlFlow::Continue(())
            })?;
            Ok(keys)
        };
    let name = "_CloudTrail-Digest_";
    let trail = format!("_{}_{}_", chain.trail_name, chain.home_region);
    let root = match &chain.prefix {
        Some(p) => format!("{p}/AWSLogs/"),
        None => "AWSLogs/".to_owned(),
    };
    let mut keys = digests_under(&chain.digest_prefix(), &|k| chain.is_digest_key(k))?;
    if keys.is_empty() {
        keys = digests_under(&root, &|k| {
            k.contains(name) && k.contains(&trail) && k.ends_with(".json.gz")
        })?;
    }
    // Newest first; a damaged digest is skipped (it gets its own verdict later).
    let limits = trailproof::digest::Limits::default();
    Ok(keys.iter().rev().take(50).find_map(|key| {
        let object = store.get(UNNAMED, key, limits.max_digest_bytes).ok()?;
        let parsed = trailproof::digest::parse(&object.bytes, &limits).ok()?;
        parsed.str_field("digestS3Bucket").map(str::to_owned)
    }))
}

//! `validate --archive`: a local copy of the bucket, keys from a `list-public-keys` file.

use std::fs;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use trailproof::{Chain, Error, KeySet, LocalDirStore, ObjectStore};

use crate::cli::ValidateArgs;
use crate::output::{clean_prefix, execute, Job, Range};

/// Placeholder name for the archive directory until the digest bucket's name is known.
const UNNAMED: &str = "archive";

pub fn validate(args: ValidateArgs) -> Result<u8, Error> {
    let sel = &args.selection;
    let range = Range::parse(sel)?;
    let Some(dir) = args.archive.clone() else {
        return Err(Error::Config(
            "--archive DIR is required in archive mode".to_owned(),
        ));
    };
    if !dir.is_dir() {
        return Err(Error::Config(format!(
            "--archive {}: not a directory",
            dir.display()
        )));
    }
    let arn = &range.arn;
    let account_id = sel
        .account_id
        .clone()
        .unwrap_or_else(|| arn.account_id.clone());
    let prefix = match &sel.s3_prefix {
        Some(p) => clean_prefix(Some(p)),
        None => detect_prefix(&dir),
    };
    let organization_id = match &sel.organization_id {
        Some(o) => Some(o.clone()),
        None => detect_organization(&dir, prefix.as_deref(), &account_id),
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
        None => infer_bucket(&dir, &chain)?.unwrap_or_else(|| dir_name(&dir)),
    };
    let mut store = LocalDirStore::new().with_bucket(&chain.bucket, &dir);
    // Buckets a mirror copied beside the digest bucket.
    if let Ok(entries) = fs::read_dir(dir.join(trailproof::store::OTHER_BUCKETS_DIR)) {
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str() {
                store = store.with_bucket(name, entry.path());
            }
        }
    }
    for mapping in &args.archive_bucket {
        let Some((name, path)) = mapping.split_once('=') else {
            return Err(Error::Config(format!(
                "--archive-bucket {mapping}: expected NAME=DIR"
            )));
        };
        store = store.with_bucket(name, path);
    }
    let keys_path = args
        .public_keys
        .clone()
        .unwrap_or_else(|| dir.join("public-keys.json"));
    let keys = load_keys(&keys_path, args.public_keys.is_none())?;
    let job = Job {
        store: &store,
        keys: &keys,
        chain,
        parallelism: sel.parallelism(),
        check_unreferenced_logs: true,
    };
    execute(&range, sel, job, args.verbose, args.format)
}

fn load_keys(path: &Path, defaulted: bool) -> Result<KeySet, Error> {
    let bytes = fs::read(path).map_err(|e| Error::PublicKeys {
        source_name: path.display().to_string(),
        reason: if defaulted && e.kind() == io::ErrorKind::NotFound {
            "not found: pass --public-keys FILE with the output of `aws cloudtrail list-public-keys --start-time …`".to_owned()
        } else {
            e.to_string()
        },
    })?;
    KeySet::from_list_public_keys_json(&bytes, &path.display().to_string())
}

fn dir_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| UNNAMED.to_owned())
}

/// When the archive does not start with `AWSLogs/`, finds the one prefix under which it does.
fn detect_prefix(dir: &Path) -> Option<String> {
    if dir.join("AWSLogs").is_dir() {
        return None;
    }
    let mut found = Vec::new();
    find_awslogs(dir, PathBuf::new(), 0, &mut found);
    match found.as_slice() {
        [one] => Some(one.to_string_lossy().replace('\\', "/")),
        _ => None,
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

//! Differential test against the reference: the AWS CLI's own `validate-logs` code (awscli
//! 1.46.3, run over the same archive by tools/awscli_oracle.py) and trailproof must print the
//! same stdout and stderr and exit alike for every scenario marked `aws_cli_compatible`; where
//! trailproof is stricter it must find at least what the CLI finds.
//!
//! Runs the pinned awscli 1.46.3 in its own virtual environment (`tools/test` installs it; see
//! `trailproof_testkit::prereq`); without it the test fails, naming the command that installs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bucket_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .expect("scenario dir")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("bucket-")
                .map(|b| (b.to_owned(), e.path()))
        })
        .collect();
    v.sort();
    v
}

fn oracle(dir: &Path, meta: &serde_json::Value) -> Output {
    let archive = dir.join("archive");
    let mut cmd = Command::new(trailproof_testkit::prereq::awscli_python());
    cmd.arg(root().join("tools/awscli_oracle.py"))
        .arg("--bucket")
        .arg(format!(
            "{}={}",
            meta["bucket"].as_str().expect("bucket"),
            archive.display()
        ))
        .arg("--public-keys")
        .arg(dir.join("public-keys.json"));
    for (bucket, path) in bucket_dirs(dir) {
        cmd.arg("--bucket")
            .arg(format!("{bucket}={}", path.display()));
    }
    for a in meta["args"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(meta["oracle_args"].as_array().into_iter().flatten())
    {
        cmd.arg(a.as_str().expect("string"));
    }
    cmd.output().expect("run the AWS CLI oracle")
}

fn trailproof(dir: &Path, meta: &serde_json::Value) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    cmd.arg("validate")
        .arg("--archive")
        .arg(dir.join("archive"))
        .arg("--public-keys")
        .arg(dir.join("public-keys.json"));
    for (bucket, path) in bucket_dirs(dir) {
        cmd.arg("--archive-bucket")
            .arg(format!("{bucket}={}", path.display()));
    }
    for a in meta["args"].as_array().into_iter().flatten() {
        cmd.arg(a.as_str().expect("string"));
    }
    cmd.output().expect("run trailproof")
}

#[test]
fn trailproof_prints_what_the_aws_cli_prints() {
    // Fails here, with the install command, when the pinned AWS CLI is missing.
    trailproof_testkit::prereq::awscli_python();
    let mut compared = 0;
    let mut failures = Vec::new();
    let mut dirs: Vec<_> = fs::read_dir(root().join("testdata"))
        .expect("testdata")
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let Ok(text) = fs::read(dir.join("scenario.json")) else {
            continue;
        };
        let meta: serde_json::Value = serde_json::from_slice(&text).expect("scenario.json");
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (aws, mut ours) = (oracle(&dir, &meta), trailproof(&dir, &meta));
        let (rest, keys) =
            trailproof_testkit::split_keys_line(&String::from_utf8_lossy(&ours.stdout));
        ours.stdout = rest.into_bytes();
        if String::from_utf8_lossy(&aws.stdout).contains(" digest files valid")
            && !String::from_utf8_lossy(&aws.stdout).contains("0/")
            && keys.is_empty()
        {
            failures.push(format!("{name}: no line names the public keys used"));
        }
        compared += 1;
        if meta["aws_cli_compatible"] == true {
            if (&aws.stdout, &aws.stderr, aws.status.code())
                != (&ours.stdout, &ours.stderr, ours.status.code())
            {
                failures.push(format!(
                    "{name}:\n--- aws cli ({:?})\n{}{}\n--- trailproof ({:?})\n{}{}",
                    aws.status.code(),
                    String::from_utf8_lossy(&aws.stdout),
                    String::from_utf8_lossy(&aws.stderr),
                    ours.status.code(),
                    String::from_utf8_lossy(&ours.stdout),
                    String::from_utf8_lossy(&ours.stderr)
                ));
            }
        } else if meta["difference"] == "stricter"
            && aws.status.code() == Some(1)
            && ours.status.code() != Some(1)
        {
            // Where trailproof is stricter it may find more, never less.
            failures.push(format!(
                "{name}: the AWS CLI finds something invalid, trailproof does not"
            ));
        }
    }
    assert!(compared >= 20, "only {compared} scenarios compared");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

//! Discovery and incremental state work the same on a local copy.

use std::process::Command;

use trailproof_testkit::{fmt_time, TrailBuilder};

#[test]
fn every_chain_of_a_local_copy_and_state_across_runs() {
    let mut archive = TrailBuilder::new()
        .organization("o-abc123")
        .account("111111111111")
        .regions(&["us-east-1", "ap-south-1"])
        .hours(3)
        .build();
    let other = TrailBuilder::new()
        .organization("o-abc123")
        .account("222222222222")
        .hours(3)
        .seed(7)
        .build();
    let arn = archive.trail_arn();
    let start = fmt_time(archive.start());
    let end = fmt_time(archive.start() + chrono::Duration::hours(3));
    archive.archive.merge(other.archive.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("bucket");
    archive
        .archive
        .write_bucket("trail-bucket", &root)
        .expect("write");
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, archive.archive.public_keys_json()).expect("keys");
    let state = dir.path().join("state.json");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_trailproof"))
            .args(["validate", "--archive"])
            .arg(&root)
            .arg("--public-keys")
            .arg(&keys)
            .args([
                "--trail-arn",
                &arn,
                "--start-time",
                &start,
                "--end-time",
                &end,
                "--all-accounts",
                "--all-regions",
            ])
            .arg("--state")
            .arg(&state)
            .output()
            .expect("run")
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Chains (3):"), "{stdout}");
    for chain in [
        "o-abc123/111111111111 ap-south-1:",
        "o-abc123/111111111111 us-east-1:",
        "o-abc123/222222222222 us-east-1:",
    ] {
        assert!(stdout.contains(chain), "{chain} in {stdout}");
    }
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("JSON");
    assert_eq!(saved["chains"].as_object().map(|c| c.len()), Some(3));
    // Second run: nothing new anywhere.
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches("no new digests").count(), 3, "{stdout}");
}

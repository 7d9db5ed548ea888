//! `--version`, `trailproof completions SHELL` and `trailproof man`: generated from the flags,
//! complete, and valid for their consumers (bash parses the script; man renders the page).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn trailproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn version_names_the_commit_and_the_features() {
    let short = trailproof(&["-V"]);
    assert!(short.status.success());
    let line = stdout(&short);
    assert!(
        line.starts_with(&format!(
            "trailproof {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{line}"
    );
    let long = stdout(&trailproof(&["--version"]));
    assert!(long.contains("features: archive, live"), "{long}");
    assert!(long.contains("awscli 1.46.3"), "{long}");
}

#[test]
fn completions_for_every_shell_name_every_subcommand_and_bash_parses_them() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = trailproof(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = stdout(&out);
        for sub in ["validate", "merge", "verify-query-results", "watch"] {
            assert!(script.contains(sub), "{shell}: {sub}");
        }
        assert!(
            script.contains("trail-arn") && script.contains("run-id"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trailproof.bash");
    std::fs::write(&path, trailproof(&["completions", "bash"]).stdout).unwrap();
    // Sourced by bash, then asked to complete `trailproof val`.
    let probe = format!(
        "source {p}; COMP_WORDS=(trailproof val); COMP_CWORD=1; _trailproof trailproof val trailproof; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        p = path.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).lines().any(|l| l == "validate"),
        "{}",
        stdout(&out)
    );
    let bad = trailproof(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages_cover_the_command_and_each_subcommand() {
    let top = stdout(&trailproof(&["man"]));
    assert!(top.contains(".TH trailproof 1"), "{top}");
    for sub in [
        "validate",
        "mirror",
        "merge",
        "verify\\-query\\-results",
        "watch",
    ] {
        assert!(top.contains(sub), "{sub}");
    }
    let page = stdout(&trailproof(&["man", "validate"]));
    assert!(
        page.contains(".TH trailproof\\-validate 1") || page.contains(".TH trailproof-validate 1"),
        "{page}"
    );
    assert!(
        page.contains("\\-\\-trail\\-arn") && page.contains("\\-\\-run\\-id"),
        "{page}"
    );
    let none = trailproof(&["man", "nonesuch"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no subcommand \"nonesuch\""));
    let dir = tempfile::tempdir().unwrap();
    let out = trailproof(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "trailproof-completions.1",
            "trailproof-man.1",
            "trailproof-merge.1",
            "trailproof-mirror.1",
            "trailproof-validate.1",
            "trailproof-verify-query-results.1",
            "trailproof-watch.1",
            "trailproof.1"
        ]
    );
    // man itself renders a page without complaint, when it is installed.
    if let Ok(out) = Command::new("man")
        .arg("-l")
        .arg(dir.path().join("trailproof-validate.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    {
        if out.status.success() {
            assert!(String::from_utf8_lossy(&out.stdout).contains("trail-arn"));
        }
    }
}

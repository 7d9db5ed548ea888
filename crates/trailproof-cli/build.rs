//! Records the git commit the binary is built from, for `trailproof --version`: a build from a
//! source tarball or a registry package says `unknown`.
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=TRAILPROOF_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // A new commit moves HEAD or the branch it names (loose or packed). Only paths that exist
    // are watched: cargo reruns the script on every build for one that does not.
    for path in ["HEAD", "refs/heads", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            if std::path::Path::new(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

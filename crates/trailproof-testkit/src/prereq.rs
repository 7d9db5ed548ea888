//! What tests run besides trailproof, found where `tools/test` installs it, and failing with the
//! command that installs it when it is missing: a test never passes by skipping.
//!
//! - The reference AWS CLI, [`AWSCLI_VERSION`], in a private virtual environment:
//!   `$TRAILPROOF_AWSCLI_VENV`, by default `awscli-1.46.3/` in the target directory
//!   (`$CARGO_TARGET_DIR`, or `target/` of the workspace). A user's own `aws`, on `PATH` or in
//!   the system's Python, is never used: its version would make differences look like
//!   regressions.
//! - Debian's packages (chromium, poppler-utils, Slurm and munge): [`require_programs`].
//! - moto's server (a local SQS and SNS), [`MOTO_VERSION`], in the Python tools' environment
//!   `py-tools/` in the target directory: [`moto_server`].
//! - `cargo lambda` (PyPI's `cargo-lambda`, [`CARGO_LAMBDA_VERSION`]), in the same environment:
//!   [`cargo_lambda`], the Lambda runtime API emulator of the Lambda handler's tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The AWS CLI release whose `validate-logs` is the reference.
pub const AWSCLI_VERSION: &str = "1.46.3";

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// The target directory: `$CARGO_TARGET_DIR` (relative to the workspace root when relative), or
/// the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The virtual environment that holds the reference AWS CLI: `$TRAILPROOF_AWSCLI_VENV`, or
/// `awscli-1.46.3/` in the target directory.
pub fn awscli_venv() -> PathBuf {
    match std::env::var_os("TRAILPROOF_AWSCLI_VENV").filter(|v| !v.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => target_dir().join(format!("awscli-{AWSCLI_VERSION}")),
    }
}

/// The commands that install the reference AWS CLI where [`awscli_venv`] looks.
pub fn awscli_install_hint() -> String {
    let venv = awscli_venv();
    format!(
        "run tools/test (it installs everything the tests need), or: python3 -m venv {v} && {v}/bin/pip install awscli=={AWSCLI_VERSION}",
        v = venv.display()
    )
}

/// The Python interpreter of the reference AWS CLI's environment, once its version is checked:
/// it runs `tools/awscli_oracle.py`. Panics, naming the version and the install command, when
/// the environment is missing or holds another version.
pub fn awscli_python() -> PathBuf {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match CHECKED.get_or_init(check_awscli) {
        Ok(python) => python.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// The reference `aws` command (the environment's `bin/aws`), once its version is checked.
/// Panics like [`awscli_python`].
pub fn aws_command() -> PathBuf {
    awscli_python();
    let aws = awscli_venv().join("bin/aws");
    assert!(
        aws.is_file(),
        "{} is missing (awscli {AWSCLI_VERSION} is installed, its command is not): {}",
        aws.display(),
        awscli_install_hint()
    );
    aws
}

fn check_awscli() -> Result<PathBuf, String> {
    let venv = awscli_venv();
    let python = venv.join("bin/python");
    let need = |found: &str| {
        format!(
            "the reference AWS CLI {AWSCLI_VERSION} is needed in {} ({found}): {}",
            venv.display(),
            awscli_install_hint()
        )
    };
    if !python.is_file() {
        return Err(need("no virtual environment there"));
    }
    let out = Command::new(&python)
        .args(["-c", "import awscli; print(awscli.__version__)"])
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .output()
        .map_err(|e| need(&format!("{} does not run: {e}", python.display())))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(need(&format!(
            "`import awscli` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if version != AWSCLI_VERSION {
        return Err(need(&format!("found awscli {version}")));
    }
    Ok(python)
}

/// Fails the test when a program it needs is missing, naming what is missing and the Debian
/// packages that bring it: `programs` are absolute paths or names looked up on `PATH`.
pub fn require_programs(programs: &[&str], packages: &str) {
    let missing: Vec<&str> = programs
        .iter()
        .filter(|p| find_program(p).is_none())
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "{} missing: run tools/test (it installs everything the tests need), or as root: apt-get install -y {packages}",
        missing.join(", ")
    );
}

/// `program` itself when it is a path to a file, else the first file of that name on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The moto release whose server mode stands in for SQS and SNS in the queue tests.
pub const MOTO_VERSION: &str = "5.2.5";

/// The Python tools' virtual environment `tools/provision python` fills: `py-tools/` in the
/// target directory.
pub fn py_tools_venv() -> PathBuf {
    target_dir().join("py-tools")
}

/// The commands that install moto's server where [`moto_server`] looks.
pub fn moto_install_hint() -> String {
    let venv = py_tools_venv();
    format!(
        "run tools/provision python (tools/test runs it), or: python3 -m venv {v} && {v}/bin/pip install \"moto[server]=={MOTO_VERSION}\"",
        v = venv.display()
    )
}

/// The `moto_server` command, once moto's version (and the server's own dependencies) are
/// checked. Panics, naming the version and the install command, when it is missing.
pub fn moto_server() -> PathBuf {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match CHECKED.get_or_init(check_moto) {
        Ok(server) => server.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn check_moto() -> Result<PathBuf, String> {
    let venv = py_tools_venv();
    let python = venv.join("bin/python");
    let server = venv.join("bin/moto_server");
    let need = |found: &str| {
        format!(
            "moto {MOTO_VERSION} (server mode) is needed in {} ({found}): {}",
            venv.display(),
            moto_install_hint()
        )
    };
    if !python.is_file() {
        return Err(need("no virtual environment there"));
    }
    // `flask` comes with the `server` extra only: without it moto imports but cannot serve.
    let out = Command::new(&python)
        .args([
            "-c",
            "import moto, flask, flask_cors; print(moto.__version__)",
        ])
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .output()
        .map_err(|e| need(&format!("{} does not run: {e}", python.display())))?;
    if !out.status.success() {
        return Err(need(&format!(
            "`import moto, flask, flask_cors` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if version != MOTO_VERSION {
        return Err(need(&format!("found moto {version}")));
    }
    if !server.is_file() {
        return Err(need(&format!("{} is missing", server.display())));
    }
    Ok(server)
}

/// The cargo-lambda release whose `watch` emulates the Lambda runtime API in the Lambda
/// handler's tests, and whose `invoke` sends them their events.
pub const CARGO_LAMBDA_VERSION: &str = "1.9.2";

/// The `cargo-lambda` command (run as `cargo-lambda lambda ...`), once its version is checked.
/// Panics, naming the version and the install command, when it is missing.
pub fn cargo_lambda() -> PathBuf {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match CHECKED.get_or_init(check_cargo_lambda) {
        Ok(program) => program.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn check_cargo_lambda() -> Result<PathBuf, String> {
    let venv = py_tools_venv();
    let program = venv.join("bin/cargo-lambda");
    let need = |found: &str| {
        format!(
            "cargo-lambda {CARGO_LAMBDA_VERSION} is needed in {} ({found}): run tools/provision python (tools/test runs it), or: python3 -m venv {v} && {v}/bin/pip install cargo-lambda=={CARGO_LAMBDA_VERSION}",
            venv.display(),
            v = venv.display()
        )
    };
    if !program.is_file() {
        return Err(need(&format!("{} is missing", program.display())));
    }
    let out = Command::new(&program)
        .args(["lambda", "--version"])
        .output()
        .map_err(|e| need(&format!("{} does not run: {e}", program.display())))?;
    let version = String::from_utf8_lossy(&out.stdout);
    // "cargo-lambda 1.9.2 (67129fc 2026-08-21Z)"
    match version.split_whitespace().nth(1) {
        Some(v) if out.status.success() && v == CARGO_LAMBDA_VERSION => Ok(program),
        _ => Err(need(&format!("found {:?}", version.trim()))),
    }
}

//! The native half of the Python package `trailproof`: runs the `trailproof` command's own code
//! (the `trailproof_cli` library) on a worker thread, without the GIL, while the calling thread
//! watches for Ctrl-C and reports progress. The Python half (`python/trailproof`) builds the
//! command line from keyword arguments and reads the JSON report the run writes.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How long the calling thread waits without the GIL before it looks for Ctrl-C (and reports
/// progress): short enough that an interrupt feels immediate.
const SLICE: Duration = Duration::from_millis(50);

/// What the run has done so far, counted by the workers and read by the calling thread.
#[derive(Default)]
struct Counters {
    digests_listed: AtomicU64,
    digests_fetched: AtomicU64,
    logs_queued: AtomicU64,
    logs_checked: AtomicU64,
    bytes_inflated: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            get(&self.digests_listed),
            get(&self.digests_fetched),
            get(&self.logs_queued),
            get(&self.logs_checked),
            get(&self.bytes_inflated),
        )
    }
}

// Progress is counted, never reported from the workers: calling Python from them would take
// the GIL once per log file.
impl trailproof::Progress for Counters {
    fn digests_listed(&self, n: u64) {
        self.digests_listed.fetch_add(n, Ordering::Relaxed);
    }
    fn digest_fetched(&self) {
        self.digests_fetched.fetch_add(1, Ordering::Relaxed);
    }
    fn logs_queued(&self, n: u64) {
        self.logs_queued.fetch_add(n, Ordering::Relaxed);
    }
    fn log_checked(&self, inflated_bytes: u64) {
        self.logs_checked.fetch_add(1, Ordering::Relaxed);
        self.bytes_inflated
            .fetch_add(inflated_bytes, Ordering::Relaxed);
    }
}

/// The Python exception class (in `trailproof._errors`) for an error of the run.
fn error_class(e: &trailproof::Error) -> &'static str {
    use trailproof::Error as E;
    match e {
        E::Time { .. } | E::TimeRange | E::TrailArn(_) => "UsageError",
        E::PublicKeys { .. } | E::NoPublicKeys { .. } => "KeysError",
        E::Store(_) => "StoreError",
        E::Config(_) => "ConfigError",
        E::Cancelled => "CancelledError",
        _ => "Error",
    }
}

/// Raises `trailproof.<class>(message)`.
fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    let made = PyModule::import(py, "trailproof._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((message,)));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// A usage error from clap: the command prints `trailproof: error: …`; the exception is the
/// message alone, like every other one.
fn usage_error(py: Python<'_>, e: &trailproof_cli::clap::Error) -> PyErr {
    let message = trailproof_cli::usage_message(e);
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    raise(py, "UsageError", message.to_owned())
}

/// Runs `trailproof ARGS…` as the command does and returns its exit status (0 valid, 1 invalid,
/// 2 incomplete); the report goes where `--output` says. Raises `trailproof.Error` subclasses
/// with the command's messages when the run cannot be carried out. `progress(digests_listed,
/// digests_fetched, log_files_queued, log_files_checked, bytes_inflated)` is called on the
/// calling thread as the run advances, and once at its end.
#[pyfunction]
#[pyo3(signature = (args, progress=None))]
fn run(py: Python<'_>, args: Vec<String>, progress: Option<Py<PyAny>>) -> PyResult<u8> {
    let cli = trailproof_cli::parse(std::iter::once("trailproof".to_owned()).chain(args))
        .map_err(|e| usage_error(py, &e))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let hooks = trailproof_cli::Hooks::new()
        .cancel(cancel.clone())
        .progress(counters.clone());
    let (done_tx, mut done_rx) = mpsc::channel::<()>();
    let worker = std::thread::Builder::new()
        .name("trailproof-run".to_owned())
        .spawn(move || {
            let result = trailproof_cli::run_with(cli, hooks);
            let _ = done_tx.send(());
            result
        })
        .map_err(|e| raise(py, "Error", format!("cannot start the run: {e}")))?;

    let mut reported = None;
    let mut report = |py: Python<'_>| -> PyResult<()> {
        let Some(callback) = &progress else {
            return Ok(());
        };
        let now = counters.snapshot();
        if reported != Some(now) {
            reported = Some(now);
            callback.call1(py, now)?;
        }
        Ok(())
    };
    loop {
        // The receiver is moved into the GIL-free closure and back: it may not be shared.
        let (waited, rx) = py.detach(move || (done_rx.recv_timeout(SLICE), done_rx));
        done_rx = rx;
        if !matches!(waited, Err(mpsc::RecvTimeoutError::Timeout)) {
            break;
        }
        // Ctrl-C (KeyboardInterrupt), or an exception from the progress callback, stops the
        // run; the worker is waited for so that nothing runs on once the exception is raised.
        if let Err(e) = py.check_signals().and_then(|()| report(py)) {
            cancel.store(true, Ordering::Relaxed);
            let _ = py.detach(move || worker.join());
            return Err(e);
        }
    }
    let result = py
        .detach(move || worker.join())
        .map_err(|_| PyRuntimeError::new_err("trailproof: the run panicked"))?;
    match result {
        Ok(code) => {
            report(py)?;
            Ok(code)
        }
        Err(e) => Err(raise(
            py,
            error_class(&e),
            trailproof_cli::error_message(&e),
        )),
    }
}

/// The compiled part of `trailproof`; use the `trailproof` package itself.
#[pymodule(name = "_native")]
mod native {
    #[pymodule_export]
    use super::run;
}

//! A progress line on stderr for long runs: digests, log files, bytes, rate, ETA.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use trailproof::Progress;

use crate::config::Format;

pub struct Bar {
    digests: ProgressBar,
    logs: ProgressBar,
    multi: indicatif::MultiProgress,
    bytes: AtomicU64,
    started: Instant,
}

impl Bar {
    /// A display when it can be seen and is wanted; `None` otherwise.
    pub fn start(no_progress: bool, format: Format) -> Option<Arc<Bar>> {
        if no_progress || format == Format::Json || !std::io::stderr().is_terminal() {
            return None;
        }
        let multi =
            indicatif::MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let style = |t: &str| {
            ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar())
        };
        let digests = multi.add(ProgressBar::new(0).with_style(style("digest files {pos}/{len}")));
        let logs = multi.add(
            ProgressBar::new(0)
                .with_style(style("log files    {pos}/{len} {bar:30} {msg}, ETA {eta}")),
        );
        Some(Arc::new(Bar {
            digests,
            logs,
            multi,
            bytes: AtomicU64::new(0),
            started: Instant::now(),
        }))
    }

    /// Runs `f` (which prints) with the display hidden.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }

    /// Removes the display before the report is printed.
    pub fn finish(&self) {
        self.digests.finish_and_clear();
        self.logs.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl Progress for Bar {
    fn digests_listed(&self, n: u64) {
        self.digests.inc_length(n);
    }
    fn digest_fetched(&self) {
        self.digests.inc(1);
    }
    fn logs_queued(&self, n: u64) {
        self.logs.inc_length(n);
    }
    fn log_checked(&self, inflated_bytes: u64) {
        let total = self.bytes.fetch_add(inflated_bytes, Ordering::Relaxed) + inflated_bytes;
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        self.logs.set_message(format!(
            "{} inflated, {}/s",
            HumanBytes(total),
            HumanBytes((total as f64 / secs) as u64)
        ));
        self.logs.inc(1);
    }
}

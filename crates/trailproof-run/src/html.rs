//! `--format html`: the evidence page, rendered from the JSON report of the same run.

use std::io::Write;

use chrono::{DateTime, Utc};
use trailproof::Error;

/// What the page says about this run: the version, when, the command line and what was read.
pub fn run_info(run_at: DateTime<Utc>, source: &str) -> trailproof_html::RunInfo {
    trailproof_html::RunInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        run_at,
        command_line: trailproof_html::shell_words(
            std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
        ),
        source: source.to_owned(),
    }
}

/// Renders the page for `json` (the bytes `--format json` prints) and writes it to `out`.
pub fn write_page(
    out: &mut dyn Write,
    json: &[u8],
    run: &trailproof_html::RunInfo,
) -> Result<(), Error> {
    let page = trailproof_html::render(json, run).map_err(|e| Error::Render(e.to_string()))?;
    out.write_all(page.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::Output {
            context: "cannot write the report".to_owned(),
            target: "the report".to_owned(),
            source: e,
        })
}

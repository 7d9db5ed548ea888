//! The `trailproof` command as a library: its flags (clap), turned into the typed
//! configurations of [`trailproof_run`], which carries the runs out. The binary is argument
//! parsing and error printing around [`run`].
//!
//! Exit status: 0 everything valid, 1 something invalid, 2 the run could not be completed (bad
//! arguments, unreadable input, files that could not be checked).
#![forbid(unsafe_code)]

pub mod cli;
mod docs;

use std::ffi::OsString;

use clap::Parser as _;
use trailproof_run::{
    ArchiveKeys, ArchiveSource, EventSource, MergeConfig, MirrorConfig, Output, QueryResultsConfig,
    ShardConfig, Source, ValidateConfig, WatchConfig,
};

pub use clap;
pub use cli::Cli;
pub use trailproof_run::{error_message, Hooks};

/// Parses a command line, the program name first, as the binary does.
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Cli::try_parse_from(args)
}

/// A usage error on one line, like every other error: clap's problem without its usage and
/// hint.
pub fn usage_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let problem: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    problem.join(" ")
}

/// Runs a parsed command and returns its exit status; `Err` when the run could not be carried
/// out (exit status 2).
pub fn run(args: Cli) -> Result<u8, trailproof::Error> {
    run_with(args, Hooks::new())
}

/// [`run`] with a cancel flag or progress for `validate`, `mirror` and
/// `verify-query-results` (whose result files count as log files).
pub fn run_with(args: Cli, hooks: Hooks) -> Result<u8, trailproof::Error> {
    match args.command {
        cli::Command::Validate(v) => trailproof_run::validate(validate_config(v, hooks)),
        cli::Command::Mirror(m) => trailproof_run::mirror(mirror_config(m, hooks)),
        cli::Command::VerifyQueryResults(q) => {
            trailproof_run::verify_query_results(query_results_config(q, hooks))
        }
        cli::Command::Merge(m) => trailproof_run::merge(merge_config(m)),
        cli::Command::Watch(w) => trailproof_run::watch(watch_config(w, hooks)),
        cli::Command::Completions(c) => docs::completions(&c),
        cli::Command::Man(m) => docs::man(&m),
    }
}

fn format(f: cli::Format) -> trailproof_run::Format {
    match f {
        cli::Format::Text => trailproof_run::Format::Text,
        cli::Format::Json => trailproof_run::Format::Json,
        cli::Format::Html => trailproof_run::Format::Html,
    }
}

fn output(path: Option<std::path::PathBuf>) -> Output {
    path.map_or(Output::Stdout, Output::File)
}

/// The trail flags every run shares, from `start_time` on.
fn trail_selection(t: cli::Trail, start_time: String) -> trailproof_run::Selection {
    let mut sel = trailproof_run::Selection::new(start_time);
    sel.trail_arn = t.trail_arn;
    sel.trail_name = t.trail_name;
    sel.home_region = t.home_region;
    sel.all_accounts = t.all_accounts;
    sel.all_regions = t.all_regions;
    sel.accounts = t.accounts;
    sel.regions = t.regions;
    sel.s3_bucket = t.s3_bucket;
    sel.s3_prefix = t.s3_prefix;
    sel.account_id = t.account_id;
    sel.region = t.region;
    sel.organization_id = t.organization_id;
    sel.profile = t.profile;
    sel.concurrency = t.concurrency;
    sel.threads = t.threads;
    sel.max_digest_size = t.max_digest_size;
    sel.max_digest_entries = t.max_digest_entries;
    sel
}

fn selection(s: cli::Selection, hooks: Hooks) -> trailproof_run::Selection {
    let mut sel = trail_selection(s.trail, s.start_time);
    sel.state = s.state;
    sel.end_time = s.end_time;
    sel.no_progress = s.no_progress;
    sel.hooks = hooks;
    sel
}

/// `validate`'s flags as a configuration (clap has checked which go together).
pub fn validate_config(v: cli::ValidateArgs, hooks: Hooks) -> ValidateConfig {
    let source = match v.archive {
        Some(dir) => {
            let keys = match (v.public_keys, v.fetch_public_keys) {
                (Some(path), _) => ArchiveKeys::File(path),
                (None, true) => ArchiveKeys::Fetch,
                (None, false) => ArchiveKeys::Missing,
            };
            let mut archive = ArchiveSource::new(dir, keys);
            archive.buckets = v.archive_bucket;
            Source::Archive(archive)
        }
        None => Source::Live,
    };
    let mut config = ValidateConfig::new(selection(v.selection, hooks), source);
    config.verbose = v.verbose;
    config.format = format(v.format);
    config.output = output(v.output);
    config.shard = v.shard.shard.map(|shard| {
        let mut s = ShardConfig::new(shard, String::new());
        s.partial = v.shard.partial;
        s.shard_count = v.shard.shard_count;
        s.shard_window = v.shard.shard_window;
        s.run_id = v.shard.run_id;
        s
    });
    config
}

/// `mirror`'s flags as a configuration.
pub fn mirror_config(m: cli::MirrorArgs, hooks: Hooks) -> MirrorConfig {
    let mut config = MirrorConfig::new(selection(m.selection, hooks), m.output);
    config.verbose = m.verbose;
    config.format = format(m.format);
    config
}

/// `merge`'s flags as a configuration.
pub fn merge_config(m: cli::MergeArgs) -> MergeConfig {
    let mut config = MergeConfig::new(m.parts);
    config.run_id = m.run_id;
    config.verbose = m.verbose;
    config.format = format(m.format);
    config.max_part_size = m.max_part_size;
    config.region = m.region;
    config.profile = m.profile;
    config.output = output(m.output);
    config
}

/// `verify-query-results`' flags as a configuration.
pub fn query_results_config(q: cli::VerifyQueryResultsArgs, hooks: Hooks) -> QueryResultsConfig {
    let mut config = QueryResultsConfig::new();
    config.local_export_path = q.local_export_path;
    config.s3_bucket = q.s3_bucket;
    config.s3_prefix = q.s3_prefix;
    config.public_keys = q.public_keys;
    config.region = q.region;
    config.profile = q.profile;
    config.threads = q.threads;
    config.format = format(q.format);
    config.output = output(q.output);
    config.hooks = hooks;
    config
}

/// `watch`'s flags as a configuration; the cancel flag of `hooks` stops it after the message
/// in hand.
pub fn watch_config(w: cli::WatchArgs, hooks: Hooks) -> WatchConfig {
    let mut sel = trail_selection(w.trail, w.start_time);
    sel.no_progress = true;
    let events = match (w.from_file, w.from_sqs) {
        (Some(path), _) => EventSource::File(path),
        (None, Some(url)) => EventSource::Sqs(url),
        // clap requires one of the two.
        (None, None) => EventSource::File("-".into()),
    };
    let mut config = WatchConfig::new(sel, w.state, events);
    config.once = w.once;
    config.alert_sns_topic = w.alert_sns_topic;
    config.sweep_interval = w.sweep_interval;
    config.stop = hooks.cancel;
    config
}

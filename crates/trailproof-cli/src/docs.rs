//! `trailproof completions SHELL` and `trailproof man`: generated from the flags at run time, as
//! ripgrep and fd do, so that packagers need no build step and the text never drifts from the
//! flags.

use std::io::{self, Write};

use clap::CommandFactory;
use trailproof::Error;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

fn write_failed(e: io::Error) -> Error {
    Error::Output {
        context: "cannot write to standard output".to_owned(),
        target: "standard output".to_owned(),
        source: e,
    }
}

pub fn completions(args: &CompletionsArgs) -> Result<u8, Error> {
    let mut cmd = Cli::command();
    // Generated in memory: clap_complete panics on a write error (a closed pipe), which must be
    // an error line instead.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "trailproof", &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(write_failed)?;
    Ok(0)
}

/// The pages: trailproof(1), then trailproof-SUBCOMMAND(1) for each subcommand.
fn pages() -> Vec<(String, clap::Command)> {
    let top = Cli::command();
    let mut pages = vec![("trailproof".to_owned(), top.clone())];
    for sub in top.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("trailproof-{}", sub.get_name());
        // The page's title is its own name; its usage line names the parent command.
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("trailproof {}", sub.get_name()))
            .version(crate::cli::VERSION);
        pages.push((name, page));
    }
    pages
}

fn render(cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(cmd).render(out)
}

pub fn man(args: &ManArgs) -> Result<u8, Error> {
    let all = pages();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::Output {
            context: format!("--dir {}", dir.display()),
            target: dir.display().to_string(),
            source: e,
        })?;
        for (name, cmd) in all {
            let path = dir.join(format!("{name}.1"));
            let mut bytes = Vec::new();
            render(cmd, &mut bytes).map_err(write_failed)?;
            trailproof::store::replace_file(&path, &bytes).map_err(|e| Error::Output {
                context: format!("cannot write {}", path.display()),
                target: path.display().to_string(),
                source: e,
            })?;
            println!("{}", path.display());
        }
        return Ok(0);
    }
    let wanted = match &args.subcommand {
        None => "trailproof".to_owned(),
        Some(sub) => format!("trailproof-{sub}"),
    };
    let Some((_, cmd)) = all.into_iter().find(|(name, _)| *name == wanted) else {
        return Err(Error::Usage(format!(
            "man: no subcommand {:?} (validate, mirror, verify-query-results, merge, completions, man)",
            args.subcommand.as_deref().unwrap_or_default()
        )));
    };
    let mut out = io::stdout().lock();
    render(cmd, &mut out)
        .and_then(|()| out.flush())
        .map_err(write_failed)?;
    Ok(0)
}

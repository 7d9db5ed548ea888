//! The AWS CLI's text: its lines, spacing and streams, and the summary under them.

use std::io::{self, Write};

use chrono::{DateTime, Utc};

use super::doc::{chains_lines, summary_lines, ChainDoc, Totals};
use super::*;
use crate::time::display;

impl Report {
    /// Writes the AWS CLI's output: progress and summary to `out`, problems to `err`, valid files
    /// to `out` only when `verbose`. Same lines, spacing and streams as `validate-logs`.
    pub fn write_text(
        &self,
        verbose: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        let mut w = TextWriter::new(out, err, verbose);
        w.header(&self.trail_arn, self.start, self.end);
        for entry in &self.entries {
            w.entry(entry)?;
        }
        w.finish(self, &[])
    }

    /// `[o-ID/]ACCOUNT REGION: counts…`: one chain's line in a multi-chain summary.
    pub fn chain_line(&self) -> String {
        ChainDoc::head_of(self).chain_line()
    }
}

/// Replaces control characters (other than tab, which separates the fields) and invisible
/// format characters with `\u{…}` escapes: keys come from the archive, and a newline or an
/// escape sequence in one must not split a report line or reach the terminal, nor a
/// bidirectional override (U+202E) make a name read as another.
pub fn escape_controls(line: &str) -> String {
    if !line.chars().any(needs_escape) {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether [`escape_controls`] escapes `c`: a control character but tab, a format character
/// (Unicode category Cf: bidirectional embeddings, overrides, isolates and marks, zero-width
/// characters, the byte order mark, tags…), or the line and paragraph separators, at which
/// some viewers break lines.
pub fn needs_escape(c: char) -> bool {
    if c < '\u{ad}' {
        return c.is_control() && c != '\t';
    }
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || FORMAT_CHARACTERS
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// Unicode's general category Cf (format characters), as of Unicode 16, in ranges.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// The line the AWS CLI prints for an entry, and whether it goes to stderr; `None` for a valid
/// file when not `verbose`.
pub fn entry_line(entry: &Entry, verbose: bool) -> Option<(bool, String)> {
    let (line, is_error) = match entry {
        Entry::Digest(d) => (
            format!(
                "{}Digest file\ts3://{}/{}\t{}",
                if d.backfill { "(backfill) " } else { "" },
                d.bucket,
                d.key,
                d.outcome.message()
            ),
            d.outcome.status() != Status::Valid,
        ),
        Entry::Log(l) => (
            format!(
                "Log file\ts3://{}/{}\t{}",
                l.bucket,
                l.key,
                l.outcome.message()
            ),
            l.outcome.status() != Status::Valid,
        ),
        Entry::Gap { backfill, from, to } => (
            format!(
                "{}No log files were delivered by CloudTrail between {} and {}",
                if *backfill { "(backfill) " } else { "" },
                display(*from),
                display(*to)
            ),
            true,
        ),
    };
    (is_error || verbose).then(|| (is_error, escape_controls(&line)))
}

/// Writes the AWS CLI's text a line at a time, as the walk produces entries: the header
/// (printed before the first line), problem lines on `err`, valid lines on `out` when verbose,
/// then [`TextWriter::finish`] with the summary.
pub struct TextWriter<O: Write, E: Write> {
    /// Where the header, valid lines and summary go.
    pub out: O,
    /// Where problem lines go.
    pub err: E,
    verbose: bool,
    double_spaced: bool,
    header: Option<String>,
}

impl<O: Write, E: Write> std::fmt::Debug for TextWriter<O, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextWriter")
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

impl<O: Write, E: Write> TextWriter<O, E> {
    /// A writer; `verbose` prints valid files too.
    pub fn new(out: O, err: E, verbose: bool) -> Self {
        TextWriter {
            out,
            err,
            verbose,
            double_spaced: true,
            header: None,
        }
    }

    /// True when valid files are printed too.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// The `Validating log files for trail …` line, printed before the first other line.
    pub fn header(&mut self, trail_arn: &str, start: DateTime<Utc>, end: DateTime<Utc>) {
        self.header = Some(format!(
            "Validating log files for trail {} between {} and {}\n",
            escape_controls(trail_arn),
            display(start),
            display(end)
        ));
    }

    fn flush_header(&mut self) -> io::Result<()> {
        if let Some(h) = self.header.take() {
            writeln!(self.out, "{h}")?;
            self.out.flush()?;
        }
        Ok(())
    }

    /// One entry of the walk.
    pub fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        match entry_line(entry, self.verbose) {
            Some((is_error, line)) => self.line(is_error, &line),
            None => Ok(()),
        }
    }

    /// One line, spaced as the AWS CLI spaces them (problems on `err`, double spaced).
    pub fn line(&mut self, is_error: bool, message: &str) -> io::Result<()> {
        self.flush_header()?;
        if is_error {
            if self.double_spaced {
                write!(self.err, "{message}\n\n")?;
            } else {
                write!(self.err, "\n{message}\n\n")?;
            }
            self.double_spaced = true;
        } else {
            self.double_spaced = false;
            writeln!(self.out, "{message}")?;
        }
        Ok(())
    }

    /// The findings, the per-chain lines (several chains), the summary and the key line of
    /// `totals` (one chain's report, or [`Report::totals`] of several).
    pub fn finish(&mut self, totals: &Report, chains: &[Report]) -> io::Result<()> {
        self.flush_header()?;
        for finding in &totals.findings {
            self.line(true, &escape_controls(&finding.message()))?;
        }
        if !self.double_spaced {
            writeln!(self.out)?;
        }
        let mut lines = Vec::new();
        if !chains.is_empty() {
            let docs: Vec<ChainDoc> = chains.iter().map(ChainDoc::head_of).collect();
            lines = chains_lines(&docs);
        }
        lines.extend(summary_lines(&Totals::of(totals)));
        for line in lines {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }
}

/// Start of the line naming the public keys, under the summary (not in the AWS CLI's output).
pub const KEYS_LINE_PREFIX: &str = "Public keys: ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_format_characters_are_escaped() {
        assert_eq!(
            escape_controls("a\r\x1b[2Kb\nc\td"),
            "a\\u{d}\\u{1b}[2Kb\\u{a}c\td"
        );
        // A right-to-left override makes `gpj.exe` read as `exe.jpg`.
        assert_eq!(escape_controls("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        for c in [
            '\u{ad}',
            '\u{61c}',
            '\u{200b}',
            '\u{200e}',
            '\u{202a}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{2028}',
            '\u{2029}',
            '\u{e0041}',
            '\u{85}',
        ] {
            assert!(needs_escape(c), "{:x}", c as u32);
        }
        for c in [
            'a',
            ' ',
            '\t',
            'é',
            '中',
            '\u{1f600}',
            '\u{ac}',
            '\u{ae}',
            '\u{2070}',
        ] {
            assert!(!needs_escape(c), "{:x}", c as u32);
        }
        assert_eq!(escape_controls("plain é 中"), "plain é 中");
    }

    #[test]
    fn every_format_character_listed_is_one_rust_escapes_too() {
        let mut previous = None;
        for &(lo, hi) in FORMAT_CHARACTERS {
            assert!(lo <= hi);
            assert!(previous.is_none_or(|p| p < lo), "sorted, apart");
            previous = Some(hi);
            for c in lo..=hi {
                // Debug formatting escapes what is not printable, Cf included.
                assert_ne!(
                    c.escape_debug().to_string(),
                    c.to_string(),
                    "{:x}",
                    c as u32
                );
                assert!(needs_escape(c));
            }
        }
    }
}

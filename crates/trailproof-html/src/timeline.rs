//! The coverage timeline: one row per chain (or per group of chains that are all valid alike),
//! cells of an hour, a day, a week or 30 days as the range grows, so the SVG stays small for
//! years of an organisation's chains.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::model::{Chain, State};

/// What a cell shows, from least to most important: a cell shows the worst that happened in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    /// No digest covers it and the chain names no gap there (before the trail began, after the
    /// newest digest…).
    None,
    /// CloudTrail's chain says no log files were delivered (logging stopped).
    Gap,
    /// Every digest in it verified, and every log file they list.
    Valid,
    /// Something in it could not be checked.
    NotChecked,
    /// Something in it was proven wrong.
    Invalid,
}

impl Mark {
    /// The words of the legend and of the hover text.
    pub fn word(self) -> &'static str {
        match self {
            Mark::None => "no digest",
            Mark::Gap => "logging gap",
            Mark::Valid => "valid",
            Mark::NotChecked => "not checked",
            Mark::Invalid => "invalid",
        }
    }

    /// CSS class (colour and pattern).
    pub fn class(self) -> &'static str {
        match self {
            Mark::None => "m-none",
            Mark::Gap => "m-gap",
            Mark::Valid => "m-valid",
            Mark::NotChecked => "m-nc",
            Mark::Invalid => "m-invalid",
        }
    }

    fn of(state: State) -> Mark {
        match state {
            State::Valid => Mark::Valid,
            State::NotChecked => Mark::NotChecked,
            State::Invalid => Mark::Invalid,
        }
    }
}

/// What one cell holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cell {
    pub mark: Option<Mark>,
    pub digests_valid: u64,
    pub digests_invalid: u64,
    pub digests_not_checked: u64,
    pub log_files: u64,
    pub bad_logs: u64,
    /// Objects named in the hover text (the problems first, at most [`MAX_NAMED`]).
    pub named: Vec<String>,
    pub more_named: u64,
}

const MAX_NAMED: usize = 3;

impl Cell {
    pub fn mark(&self) -> Mark {
        self.mark.unwrap_or(Mark::None)
    }

    fn paint(&mut self, m: Mark) {
        self.mark = Some(self.mark.map_or(m, |old| old.max(m)));
    }

    fn name(&mut self, what: String, problem: bool) {
        // Problems come before valid digests in the hover text.
        if problem {
            self.named.insert(0, what);
        } else {
            self.named.push(what);
        }
        if self.named.len() > MAX_NAMED {
            self.named.truncate(MAX_NAMED);
            self.more_named += 1;
        }
    }

    fn add(&mut self, o: &Cell) {
        self.digests_valid += o.digests_valid;
        self.digests_invalid += o.digests_invalid;
        self.digests_not_checked += o.digests_not_checked;
        self.log_files += o.log_files;
        self.bad_logs += o.bad_logs;
        for n in &o.named {
            if self.named.len() < MAX_NAMED {
                self.named.push(n.clone());
            } else {
                self.more_named += 1;
            }
        }
        self.more_named += o.more_named;
        if let Some(m) = o.mark {
            self.paint(m);
        }
    }
}

/// The size of a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Hour,
    Day,
    Week,
    Month,
}

impl Unit {
    pub fn duration(self) -> Duration {
        match self {
            Unit::Hour => Duration::hours(1),
            Unit::Day => Duration::days(1),
            Unit::Week => Duration::weeks(1),
            Unit::Month => Duration::days(30),
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Unit::Hour => "hour",
            Unit::Day => "day",
            Unit::Week => "week",
            Unit::Month => "30 days",
        }
    }

    /// The smallest cell that keeps a row under `MAX_CELLS` cells.
    fn for_range(span: Duration) -> Unit {
        for u in [Unit::Hour, Unit::Day, Unit::Week] {
            if cells(span, u) <= MAX_CELLS {
                return u;
            }
        }
        Unit::Month
    }
}

/// Cells in a row at most (below a month's cells): 15 days of hours, a year of days, seven
/// years of weeks.
pub const MAX_CELLS: usize = 370;

fn cells(span: Duration, u: Unit) -> usize {
    let (s, u) = (span.num_seconds().max(1), u.duration().num_seconds());
    usize::try_from((s + u - 1) / u).unwrap_or(usize::MAX)
}

/// A row of the timeline.
#[derive(Clone, Debug)]
pub struct Row {
    /// The chain (`[o-ID/]ACCOUNT REGION`) or the group (`N chains, all valid`).
    pub label: String,
    /// The chains a group holds.
    pub members: Vec<String>,
    pub verdict: String,
    pub cells: Vec<Cell>,
}

/// The whole timeline.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub unit: Unit,
    pub rows: Vec<Row>,
    /// True when chains that are all valid alike share a row.
    pub grouped: bool,
}

/// More chains than this: those valid with the same cells share a row.
pub const GROUP_ABOVE: usize = 16;

impl Timeline {
    pub fn cell_start(&self, i: usize) -> DateTime<Utc> {
        let step = self.unit.duration();
        self.start + step * i32::try_from(i).unwrap_or(i32::MAX)
    }

    pub fn cell_end(&self, i: usize) -> DateTime<Utc> {
        (self.cell_start(i) + self.unit.duration()).min(self.end)
    }

    pub fn len(&self) -> usize {
        self.rows.first().map_or(0, |r| r.cells.len())
    }
}

/// Cells `[from, to)` overlaps (at least the one holding `from`).
fn covered(
    start: DateTime<Utc>,
    unit: Duration,
    n: usize,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> std::ops::Range<usize> {
    let u = unit.num_seconds().max(1);
    let idx = |t: DateTime<Utc>, up: bool| -> i64 {
        let s = (t - start).num_seconds();
        if up {
            (s + u - 1).div_euclid(u)
        } else {
            s.div_euclid(u)
        }
    };
    let n64 = i64::try_from(n).unwrap_or(i64::MAX);
    let a = idx(from, false).clamp(0, n64);
    let b = idx(to, true).clamp(0, n64).max((a + 1).min(n64));
    // Out of range entirely: nothing.
    if to < start || idx(from, false) >= n64 {
        return 0..0;
    }
    usize::try_from(a).unwrap_or(0)..usize::try_from(b).unwrap_or(0)
}

fn chain_cells(c: &Chain, start: DateTime<Utc>, unit: Duration, n: usize) -> Vec<Cell> {
    let mut cells = vec![Cell::default(); n];
    for g in &c.gaps {
        if let (Some(a), Some(b)) = (g.from_t, g.to_t) {
            let range = covered(start, unit, n, a, b);
            for cell in cells.get_mut(range).into_iter().flatten() {
                cell.paint(Mark::Gap);
            }
        }
    }
    for d in &c.digests {
        let (Some(a), Some(b)) = (d.start.or(d.end), d.end.or(d.start)) else {
            continue;
        };
        let range = covered(start, unit, n, a, b);
        let state = if d.bad_logs > 0 {
            d.state.max(State::Invalid)
        } else {
            d.state
        };
        // Counted once, in the cell holding the digest's middle.
        let counted = covered(start, unit, n, a + (b - a) / 2, a + (b - a) / 2).start;
        for i in range {
            let Some(cell) = cells.get_mut(i) else {
                continue;
            };
            cell.paint(Mark::of(state));
            if i == counted {
                match d.state {
                    State::Valid => cell.digests_valid += 1,
                    State::Invalid => cell.digests_invalid += 1,
                    State::NotChecked => cell.digests_not_checked += 1,
                }
                cell.log_files += d.log_files;
                cell.bad_logs += d.bad_logs;
                let problem = state != State::Valid;
                let mut what = format!(
                    "{}{}",
                    if d.backfill { "(backfill) " } else { "" },
                    d.location
                );
                if problem {
                    what.push_str(": ");
                    what.push_str(&d.message);
                    if d.bad_logs > 0 {
                        what.push_str(&format!(
                            " ({} log file{} not valid)",
                            d.bad_logs,
                            if d.bad_logs == 1 { "" } else { "s" }
                        ));
                    }
                }
                cell.name(what, problem);
            }
        }
    }
    for sp in &c.spans {
        for i in covered(start, unit, n, sp.from, sp.to) {
            if let Some(cell) = cells.get_mut(i) {
                cell.paint(Mark::of(sp.state));
                cell.name(sp.label.clone(), true);
            }
        }
    }
    cells
}

/// The timeline of `chains` over `[start, end]`.
pub fn build(chains: &[Chain], start: DateTime<Utc>, end: DateTime<Utc>) -> Timeline {
    let end = end.max(start + Duration::seconds(1));
    let unit = Unit::for_range(end - start);
    let n = cells(end - start, unit);
    let grouped = chains.len() > GROUP_ABOVE;
    let mut rows = Vec::new();
    // Valid chains whose cells show the same marks share a row (BTreeMap: first seen order is
    // kept through the index).
    let mut groups: BTreeMap<Vec<Mark>, usize> = BTreeMap::new();
    for c in chains {
        let cells = chain_cells(c, start, unit.duration(), n);
        if grouped && c.verdict == "valid" {
            let marks: Vec<Mark> = cells.iter().map(Cell::mark).collect();
            match groups.get(&marks) {
                Some(&i) => {
                    if let Some(row) = rows.get_mut(i) {
                        let row: &mut Row = row;
                        for (a, b) in row.cells.iter_mut().zip(&cells) {
                            a.add(b);
                        }
                        row.members.push(c.label.clone());
                    }
                }
                None => {
                    groups.insert(marks, rows.len());
                    rows.push(Row {
                        label: c.label.clone(),
                        members: vec![c.label.clone()],
                        verdict: c.verdict.clone(),
                        cells,
                    });
                }
            }
        } else {
            rows.push(Row {
                label: c.label.clone(),
                members: vec![c.label.clone()],
                verdict: c.verdict.clone(),
                cells,
            });
        }
    }
    for row in &mut rows {
        if row.members.len() > 1 {
            row.label = format!("{} chains, all valid", row.members.len());
        }
    }
    Timeline {
        start,
        end,
        unit,
        rows,
        grouped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::model::time(s).expect("time")
    }

    #[test]
    fn cells_grow_with_the_range() {
        assert_eq!(Unit::for_range(Duration::hours(24)), Unit::Hour);
        assert_eq!(Unit::for_range(Duration::days(30)), Unit::Day);
        assert_eq!(Unit::for_range(Duration::days(365)), Unit::Day);
        assert_eq!(Unit::for_range(Duration::days(7 * 365)), Unit::Week);
        assert_eq!(Unit::for_range(Duration::days(20 * 365)), Unit::Month);
        assert!(cells(Duration::days(7 * 365 + 2), Unit::Week) <= MAX_CELLS);
    }

    #[test]
    fn an_hourly_digest_covers_its_hour_only() {
        let s = t("2024-03-01T00:00:00Z");
        let u = Duration::hours(1);
        assert_eq!(
            covered(
                s,
                u,
                6,
                t("2024-03-01T01:00:00Z"),
                t("2024-03-01T02:00:00Z")
            ),
            1..2
        );
        // Digests end a few minutes past the hour.
        assert_eq!(
            covered(
                s,
                u,
                6,
                t("2024-03-01T01:05:00Z"),
                t("2024-03-01T02:05:00Z")
            ),
            1..3
        );
        assert_eq!(
            covered(
                s,
                u,
                6,
                t("2024-03-02T01:00:00Z"),
                t("2024-03-02T02:00:00Z")
            ),
            0..0
        );
        assert_eq!(
            covered(
                s,
                u,
                6,
                t("2024-02-01T01:00:00Z"),
                t("2024-02-01T02:00:00Z")
            ),
            0..0
        );
    }
}

#[cfg(test)]
mod hostile_times {
    use super::*;
    use crate::model::{read, Doc};
    use trailproof::report::doc::{DigestDoc, EntryDoc, Stamp};
    use trailproof::report::Status;

    fn digest(hour: u32, status: &str, start: &str, end: &str) -> DigestDoc {
        let valid = status == "valid";
        DigestDoc {
            bucket: "b".into(),
            key: format!("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/1_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T{hour:02}0000Z.json.gz"),
            backfill: false,
            status: if valid { Status::Valid } else { Status::Invalid },
            outcome: if valid { "valid" } else { "signature_failed" }.into(),
            message: if valid { "valid" } else { "INVALID: signature verification failed" }.into(),
            detail: None,
            start: crate::model::time(start).map(Stamp),
            end: crate::model::time(end).map(Stamp),
            log_files: 1,
        }
    }

    /// An invalid digest's own times are whatever its unverified bytes say: it is placed by its
    /// name, so it can neither paint another hour red nor leave its own hour valid.
    #[test]
    fn an_invalid_digest_is_placed_by_its_name_not_by_its_claims() {
        let mut entries = Vec::new();
        for hour in (1..=6).rev() {
            let (start, end) = (
                format!("2024-03-01T{:02}:00:00Z", hour - 1),
                format!("2024-03-01T{hour:02}:00:00Z"),
            );
            if hour == 3 {
                // Without a time in its name: it sits before the digest the walk visited before
                // it (hour 3-4), whatever it claims.
                let mut nameless =
                    digest(0, "invalid", "2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z");
                nameless.key = "AWSLogs/1/CloudTrail-Digest/us-east-1/x.json.gz".into();
                entries.push(EntryDoc::Digest(nameless));
                // Claims hour 5-6.
                entries.push(EntryDoc::Digest(digest(
                    hour,
                    "invalid",
                    "2024-03-01T05:00:00Z",
                    "2024-03-01T06:00:00Z",
                )));
            } else {
                entries.push(EntryDoc::Digest(digest(hour, "valid", &start, &end)));
            }
        }
        let doc = serde_json::to_value(crate::model::test_chain("1", entries)).expect("json");
        let Ok(Doc::Validation(v)) = read(doc) else {
            panic!("a validation")
        };
        let t = |s: &str| crate::model::time(s).expect("time");
        let placed: Vec<_> = v.chains[0]
            .digests
            .iter()
            .map(|d| (d.start, d.end))
            .collect();
        let hour_2_to_3 = (
            Some(t("2024-03-01T02:00:00Z")),
            Some(t("2024-03-01T03:00:00Z")),
        );
        assert_eq!(placed[3], hour_2_to_3, "the nameless one");
        assert_eq!(placed[4], hour_2_to_3, "the one claiming hour 5-6");
        assert_eq!(
            placed[2],
            (
                Some(t("2024-03-01T03:00:00Z")),
                Some(t("2024-03-01T04:00:00Z"))
            ),
            "a valid digest keeps its own times"
        );
        let timeline = build(
            &v.chains,
            t("2024-03-01T00:00:00Z"),
            t("2024-03-01T06:00:00Z"),
        );
        let marks: Vec<Mark> = timeline.rows[0].cells.iter().map(Cell::mark).collect();
        assert_eq!(
            marks,
            [
                Mark::Valid,
                Mark::Valid,
                Mark::Invalid,
                Mark::Valid,
                Mark::Valid,
                Mark::Valid
            ],
            "hour 2-3 (its name) is invalid, hour 5-6 (its claim) is not"
        );
    }
}

//! Time parsing and the two formats the AWS CLI prints.

use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::Error;

/// `%Y-%m-%dT%H:%M:%SZ`: how the AWS CLI displays times.
pub const DISPLAY_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";
/// `%Y%m%dT%H%M%SZ`: the timestamp in digest file names.
pub const KEY_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Formats a time the way the AWS CLI prints it (seconds, fraction dropped).
pub fn display(t: DateTime<Utc>) -> String {
    t.format(DISPLAY_FORMAT).to_string()
}

/// Formats a time as in digest file names.
pub fn key_format(t: DateTime<Utc>) -> String {
    t.format(KEY_FORMAT).to_string()
}

const DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y%m%dT%H:%M:%S%.f",
    "%Y%m%dT%H%M%S%.f",
    "%Y%m%dT%H%M",
    "%Y/%m/%dT%H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S%.f",
];
const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"];

/// Parses the time formats users give `aws cloudtrail validate-logs`.
///
/// Accepts ISO 8601 in extended or basic form, with or without fractional seconds, with `Z`, a
/// numeric offset or no zone (taken as UTC), and bare dates (midnight UTC). An offset is applied,
/// so `2024-01-01T02:00:00+02:00` is midnight UTC.
pub fn parse(input: &str) -> Result<DateTime<Utc>, Error> {
    let err = || Error::Time {
        input: input.to_owned(),
    };
    let text = input.trim();
    if text.is_empty() || !text.is_ascii() {
        return Err(err());
    }
    let (body, offset) = split_zone(text).ok_or_else(err)?;
    let local = DATETIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(body, f).ok())
        .or_else(|| {
            DATE_FORMATS
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(body, f).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(err)?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        // Years 1 to 9999, as the AWS CLI (Python's datetime) reads them: so that an hour or a
        // day either side of a time read from a file or an object is still a time.
        .filter(|t| (1..=9999).contains(&t.year()))
        .ok_or_else(err)
}

/// Splits a trailing `Z` or `±HH[:MM]` zone from the rest.
fn split_zone(text: &str) -> Option<(&str, FixedOffset)> {
    let utc = FixedOffset::east_opt(0)?;
    if let Some(body) = text.strip_suffix(['Z', 'z']) {
        return Some((body, utc));
    }
    // A zone only follows a time, so look for the sign after the 'T' or the space.
    let time_start = text.find(['T', 't', ' ']).map(|i| i + 1);
    let Some(time_start) = time_start else {
        return Some((text, utc));
    };
    let Some(sign_at) = text[time_start..].rfind(['+', '-']).map(|i| i + time_start) else {
        return Some((text, utc));
    };
    let sign = if text.as_bytes()[sign_at] == b'-' {
        -1
    } else {
        1
    };
    let digits: String = text[sign_at + 1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let offset = FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))?;
    Some((&text[..sign_at], offset))
}

/// Parses a time written by CloudTrail inside a digest (`2015-08-17T14:01:31Z`), or in the key
/// format, leniently like the reference CLI's `dateutil` parser does for these shapes.
pub fn parse_cloudtrail(input: &str) -> Option<DateTime<Utc>> {
    parse(input).ok()
}

/// Parses the `YYYYMMDDTHHMMSSZ` timestamp of a digest key.
pub fn parse_key_time(input: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(input, KEY_FORMAT)
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn accepts_the_documented_shapes() {
        assert_eq!(
            parse("2015-01-08T05:21:42Z").unwrap(),
            utc("2015-01-08T05:21:42Z")
        );
        assert_eq!(
            parse("20160129T19:00:00Z").unwrap(),
            utc("2016-01-29T19:00:00Z")
        );
        assert_eq!(
            parse("2016-01-01T20:30:00.000Z").unwrap(),
            utc("2016-01-01T20:30:00Z")
        );
        assert_eq!(parse("2024-01-01").unwrap(), utc("2024-01-01T00:00:00Z"));
        assert_eq!(
            parse("20240101T101112Z").unwrap(),
            utc("2024-01-01T10:11:12Z")
        );
        assert_eq!(
            parse("2024-01-01 10:11:12").unwrap(),
            utc("2024-01-01T10:11:12Z")
        );
        assert_eq!(
            parse("2024-01-01T10:11").unwrap(),
            utc("2024-01-01T10:11:00Z")
        );
    }

    #[test]
    fn applies_offsets() {
        assert_eq!(
            parse("2024-01-01T02:00:00+02:00").unwrap(),
            utc("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            parse("2024-01-01T00:00:00-0130").unwrap(),
            utc("2024-01-01T01:30:00Z")
        );
        assert_eq!(
            parse("2024-01-01T00:00:00+00").unwrap(),
            utc("2024-01-01T00:00:00Z")
        );
    }

    #[test]
    fn keeps_fractions_but_displays_seconds() {
        let t = parse("2016-01-01T20:30:00.750Z").unwrap();
        assert_eq!(t.timestamp_subsec_millis(), 750);
        assert_eq!(display(t), "2016-01-01T20:30:00Z");
        assert_eq!(key_format(t), "20160101T203000Z");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-30",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00+25:00",
            "2024-01-01T00:00:00+ab",
            "２０２４-01-01",
            "1",
            "2024-01-01T00:00:00ZZ",
            "+262142-12-31T23:59:59Z",
            "+10000-01-01T00:00:00Z",
            "-0001-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:00:00-02:00",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn key_times() {
        assert_eq!(
            parse_key_time("20150817T150131Z").unwrap(),
            utc("2015-08-17T15:01:31Z")
        );
        assert!(parse_key_time("2015081xT150131Z").is_none());
    }
}

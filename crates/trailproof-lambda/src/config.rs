//! The function's configuration: environment variables, the Lambda way of passing settings,
//! named after `trailproof watch`'s flags.

use trailproof_run::{Selection, WatchSessionConfig};

/// A variable that is missing, or whose value cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// The session's configuration from the variables `var` returns (the process environment in
/// the function; a map in the tests). An empty value counts as unset.
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<WatchSessionConfig, ConfigError> {
    let get = |name: &'static str| var(name).filter(|v| !v.trim().is_empty());
    let required = |name: &'static str| {
        get(name).ok_or(ConfigError {
            var: name,
            problem: "not set".to_owned(),
        })
    };
    let flag = |name: &'static str| -> Result<bool, ConfigError> {
        match get(name).as_deref().map(str::trim) {
            None => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(ConfigError {
                var: name,
                problem: format!("{other:?}: expected true or false"),
            }),
        }
    };
    let list = |name: &'static str| -> Result<Option<Vec<String>>, ConfigError> {
        let Some(value) = get(name) else {
            return Ok(None);
        };
        let items: Vec<String> = value
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Err(ConfigError {
                var: name,
                problem: format!("{value:?}: expected a comma-separated list"),
            });
        }
        Ok(Some(items))
    };
    fn number<T: std::str::FromStr>(
        name: &'static str,
        value: Option<String>,
        default: T,
        ok: impl Fn(&T) -> bool,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let Some(value) = value else {
            return Ok(default);
        };
        value
            .trim()
            .parse::<T>()
            .ok()
            .filter(|n| ok(n))
            .ok_or(ConfigError {
                var: name,
                problem: format!("{value:?}: expected {expected}"),
            })
    }

    let heads = required("TRAILPROOF_HEADS")?;
    // A function's file system is gone after it ends (and read-only but /tmp): heads must
    // live in S3, ideally in another account's bucket.
    let valid_heads = heads
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(bucket, key)| !bucket.is_empty() && !key.is_empty());
    if !valid_heads {
        return Err(ConfigError {
            var: "TRAILPROOF_HEADS",
            problem: format!("{heads:?}: the head store of a Lambda function is s3://BUCKET/KEY"),
        });
    }
    let mut sel = Selection::new(required("TRAILPROOF_START_TIME")?);
    sel.trail_arn = Some(required("TRAILPROOF_TRAIL_ARN")?);
    sel.all_accounts = flag("TRAILPROOF_ALL_ACCOUNTS")?;
    sel.all_regions = flag("TRAILPROOF_ALL_REGIONS")?;
    sel.accounts = list("TRAILPROOF_ACCOUNTS")?;
    sel.regions = list("TRAILPROOF_REGIONS")?;
    if sel.all_accounts && sel.accounts.is_some() {
        return Err(ConfigError {
            var: "TRAILPROOF_ACCOUNTS",
            problem: "cannot be used with TRAILPROOF_ALL_ACCOUNTS".to_owned(),
        });
    }
    if sel.all_regions && sel.regions.is_some() {
        return Err(ConfigError {
            var: "TRAILPROOF_REGIONS",
            problem: "cannot be used with TRAILPROOF_ALL_REGIONS".to_owned(),
        });
    }
    sel.s3_bucket = get("TRAILPROOF_S3_BUCKET");
    sel.s3_prefix = get("TRAILPROOF_S3_PREFIX");
    sel.account_id = get("TRAILPROOF_ACCOUNT_ID");
    sel.region = get("TRAILPROOF_REGION");
    sel.organization_id = get("TRAILPROOF_ORGANIZATION_ID");
    sel.concurrency = number(
        "TRAILPROOF_CONCURRENCY",
        get("TRAILPROOF_CONCURRENCY"),
        sel.concurrency,
        |n| (1..=512).contains(n),
        "a number from 1 to 512",
    )?;
    sel.threads = number(
        "TRAILPROOF_THREADS",
        get("TRAILPROOF_THREADS"),
        0,
        |n| *n <= 1024,
        "a number from 0 to 1024",
    )?;
    sel.max_digest_size = number(
        "TRAILPROOF_MAX_DIGEST_SIZE",
        get("TRAILPROOF_MAX_DIGEST_SIZE"),
        sel.max_digest_size,
        |n| *n > 0,
        "a positive number of bytes",
    )?;
    sel.max_digest_entries = number(
        "TRAILPROOF_MAX_DIGEST_ENTRIES",
        get("TRAILPROOF_MAX_DIGEST_ENTRIES"),
        sel.max_digest_entries,
        |n| *n > 0,
        "a positive number",
    )?;
    // Lines go to CloudWatch Logs: no progress display.
    sel.no_progress = true;
    let mut config = WatchSessionConfig::new(sel, heads);
    config.alert_sns_topic = get("TRAILPROOF_ALERT_SNS_TOPIC");
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        (
            "TRAILPROOF_TRAIL_ARN",
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
        ),
        ("TRAILPROOF_START_TIME", "2024-03-01T00:00:00Z"),
        ("TRAILPROOF_HEADS", "s3://heads/trailproof/heads.json"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<WatchSessionConfig, ConfigError> {
        let mut pairs = BASE.to_vec();
        pairs.extend_from_slice(extra);
        from_env(env(&pairs))
    }

    #[test]
    fn the_required_variables_make_a_configuration() {
        let c = with(&[
            ("TRAILPROOF_ALL_REGIONS", "true"),
            ("TRAILPROOF_ACCOUNTS", "111122223333, 444455556666"),
            ("TRAILPROOF_ALERT_SNS_TOPIC", "arn:aws:sns:us-east-1:1:a"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.heads, "s3://heads/trailproof/heads.json");
        assert!(c.selection.all_regions && !c.selection.all_accounts);
        assert_eq!(
            c.selection.accounts.as_deref(),
            Some(&["111122223333".to_owned(), "444455556666".to_owned()][..])
        );
        assert_eq!(
            c.alert_sns_topic.as_deref(),
            Some("arn:aws:sns:us-east-1:1:a")
        );
    }

    #[test]
    fn a_bad_variable_is_named() {
        let missing = from_env(env(&BASE[..2])).unwrap_err();
        assert_eq!(missing.to_string(), "TRAILPROOF_HEADS: not set");
        let file = with(&[("TRAILPROOF_HEADS", "/tmp/heads.json")]).unwrap_err();
        assert_eq!(file.var, "TRAILPROOF_HEADS");
        assert!(file.problem.contains("s3://BUCKET/KEY"), "{file}");
        let both = with(&[
            ("TRAILPROOF_ALL_REGIONS", "1"),
            ("TRAILPROOF_REGIONS", "us-east-1"),
        ])
        .unwrap_err();
        assert_eq!(both.var, "TRAILPROOF_REGIONS");
        let flag = with(&[("TRAILPROOF_ALL_ACCOUNTS", "maybe")]).unwrap_err();
        assert_eq!(
            flag.to_string(),
            "TRAILPROOF_ALL_ACCOUNTS: \"maybe\": expected true or false"
        );
        let n = with(&[("TRAILPROOF_CONCURRENCY", "0")]).unwrap_err();
        assert_eq!(n.var, "TRAILPROOF_CONCURRENCY");
    }

    #[test]
    fn every_variable_read_is_in_the_readme() {
        let readme = include_str!("../../../README.md");
        let source = include_str!("config.rs");
        let mut rest = source;
        let mut seen = 0;
        while let Some(at) = rest.find("\"TRAILPROOF_") {
            let name: String = rest[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + 1..];
            // This test's own needle.
            if name == "TRAILPROOF_" {
                continue;
            }
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not in the README"
            );
            seen += 1;
        }
        assert!(seen > 10, "{seen}");
    }
}

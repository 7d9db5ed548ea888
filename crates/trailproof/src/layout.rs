//! Where CloudTrail puts things in the bucket: digest and log key layout for one chain (trail,
//! account, source region), and the listing bounds the AWS CLI uses.

use chrono::{DateTime, Duration, Utc};

use crate::Error;

/// A parsed trail ARN: `arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailArn {
    /// The ARN as given.
    pub arn: String,
    /// The trail's home region.
    pub region: String,
    /// The account that owns the trail.
    pub account_id: String,
    /// The trail name.
    pub name: String,
}

impl TrailArn {
    /// Parses and checks an ARN the way the AWS CLI does (`arn:.+:cloudtrail:.+:\d{12}:trail/.+`).
    pub fn parse(arn: &str) -> Result<Self, Error> {
        let bad = || Error::TrailArn(arn.to_owned());
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [scheme, partition, service, region, account, resource] = parts[..] else {
            return Err(bad());
        };
        let name = resource.strip_prefix("trail/").ok_or_else(bad)?;
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        if scheme != "arn"
            || partition.is_empty()
            || service != "cloudtrail"
            || region.is_empty()
            || !account_ok
            || name.is_empty()
        {
            return Err(bad());
        }
        Ok(TrailArn {
            arn: arn.to_owned(),
            region: region.to_owned(),
            account_id: account.to_owned(),
            // The CLI takes what follows the last '/'.
            name: name.rsplit('/').next().unwrap_or(name).to_owned(),
        })
    }
}

/// One digest chain of a trail: a bucket, an optional prefix, an account (under an organization
/// id for organization trails) and a source region.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chain {
    /// Bucket holding the digests.
    pub bucket: String,
    /// Key prefix before `AWSLogs/`, without leading or trailing `/`.
    pub prefix: Option<String>,
    /// Organization id (`o-…`) for organization trails.
    pub organization_id: Option<String>,
    /// Account whose logs the chain covers.
    pub account_id: String,
    /// Region the logs come from.
    pub source_region: String,
    /// The trail's home region (last region in digest file names; where its keys live).
    pub home_region: String,
    /// The trail name.
    pub trail_name: String,
}

impl Chain {
    /// `[o-ID/]ACCOUNT REGION`: how reports name the chain.
    pub fn label(&self) -> String {
        match &self.organization_id {
            Some(o) => format!("{o}/{} {}", self.account_id, self.source_region),
            None => format!("{} {}", self.account_id, self.source_region),
        }
    }

    /// The trail's own chain in `bucket`: its account, its home region as source region, no
    /// prefix, not an organization trail. Set the other fields for other chains.
    pub fn for_trail(arn: &TrailArn, bucket: &str) -> Chain {
        Chain {
            bucket: bucket.to_owned(),
            prefix: None,
            organization_id: None,
            account_id: arn.account_id.clone(),
            source_region: arn.region.clone(),
            home_region: arn.region.clone(),
            trail_name: arn.name.clone(),
        }
    }
}

/// True for backfill digest keys.
pub fn is_backfill_key(key: &str) -> bool {
    key.ends_with("_backfill.json.gz")
}

/// The `YYYYMMDDTHHMMSSZ` timestamp of a digest key (Python slicing, as the CLI does).
pub fn key_date(key: &str) -> &str {
    let (from_end, to_end) = if is_backfill_key(key) {
        (33, 17)
    } else {
        (24, 8)
    };
    let len = key.len();
    let start = len.saturating_sub(from_end);
    let end = len.saturating_sub(to_end);
    key.get(start..end.max(start)).unwrap_or("")
}

impl Chain {
    fn root(&self) -> String {
        let mut root = String::new();
        if let Some(p) = &self.prefix {
            root.push_str(p);
            root.push('/');
        }
        root.push_str("AWSLogs/");
        if let Some(org) = &self.organization_id {
            root.push_str(org);
            root.push('/');
        }
        root.push_str(&self.account_id);
        root
    }

    /// The listing prefix: `[prefix/]AWSLogs/[org/]ACCOUNT/CloudTrail-Digest/REGION` (no trailing
    /// slash, as the CLI lists).
    pub fn digest_prefix(&self) -> String {
        format!("{}/CloudTrail-Digest/{}", self.root(), self.source_region)
    }

    /// The folder of log files: `[prefix/]AWSLogs/[org/]ACCOUNT/CloudTrail/REGION/`.
    pub fn log_prefix(&self) -> String {
        format!("{}/CloudTrail/{}/", self.root(), self.source_region)
    }

    /// The key a digest ending at `t` would have.
    pub fn digest_key(&self, t: DateTime<Utc>) -> String {
        format!(
            "{}/{}/{}_CloudTrail-Digest_{}_{}_{}_{}.json.gz",
            self.digest_prefix(),
            t.format("%Y/%m/%d"),
            self.account_id,
            self.source_region,
            self.trail_name,
            self.home_region,
            crate::time::key_format(t)
        )
    }

    /// The listing marker: the key of a digest one minute before `start`, so `start` is included.
    pub fn marker(&self, start: DateTime<Utc>) -> String {
        self.digest_key(start - Duration::minutes(1))
    }

    /// True when `key` is a digest (standard or backfill) of this chain, by the CLI's pattern
    /// `…/CloudTrail-Digest/REGION/\d+/\d+/\d+/ACCOUNT_CloudTrail-Digest_REGION_NAME_HOME_.+\.json\.gz`.
    pub fn is_digest_key(&self, key: &str) -> bool {
        let head = format!("{}/", self.digest_prefix());
        let Some(mut rest) = key.strip_prefix(&head) else {
            return false;
        };
        for _ in 0..3 {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || rest.as_bytes().get(digits) != Some(&b'/') {
                return false;
            }
            rest = &rest[digits + 1..];
        }
        let name_head = format!(
            "{}_CloudTrail-Digest_{}_{}_{}_",
            self.account_id, self.source_region, self.trail_name, self.home_region
        );
        match rest.strip_prefix(&name_head) {
            Some(tail) => tail.len() > ".json.gz".len() && tail.ends_with(".json.gz"),
            None => false,
        }
    }

    /// The log file timestamp (`YYYYMMDDTHHMMZ`) of a key under [`Chain::log_prefix`], if it has
    /// the CloudTrail shape `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RANDOM.json.gz`.
    pub fn log_key_time(&self, key: &str) -> Option<DateTime<Utc>> {
        let rest = key.strip_prefix(&self.log_prefix())?;
        let file = rest.rsplit('/').next()?;
        let head = format!("{}_CloudTrail_{}_", self.account_id, self.source_region);
        let stamp = file.strip_prefix(&head)?.get(..14)?;
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ")
            .ok()
            .map(|t| t.and_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(org: Option<&str>, prefix: Option<&str>) -> Chain {
        Chain {
            bucket: "b".into(),
            prefix: prefix.map(Into::into),
            organization_id: org.map(Into::into),
            account_id: "111122223333".into(),
            source_region: "us-east-2".into(),
            home_region: "us-east-1".into(),
            trail_name: "t".into(),
        }
    }

    #[test]
    fn arn() {
        let a = TrailArn::parse("arn:aws:cloudtrail:us-east-1:123456789012:trail/foo").unwrap();
        assert_eq!(
            (a.region.as_str(), a.account_id.as_str(), a.name.as_str()),
            ("us-east-1", "123456789012", "foo")
        );
        for bad in [
            "arn:aws:cloudtrail:us-east-1:12345678901:trail/foo",
            "arn:aws:s3:us-east-1:123456789012:trail/foo",
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/",
            "foo",
        ] {
            assert!(TrailArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_and_marker() {
        let c = chain(None, Some("logs"));
        let t = crate::time::parse("2015-08-17T15:01:31Z").unwrap();
        assert_eq!(
            c.digest_key(t),
            "logs/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_t_us-east-1_20150817T150131Z.json.gz"
        );
        assert!(c.marker(t).ends_with("20150817T150031Z.json.gz"));
        assert!(c.is_digest_key(&c.digest_key(t)));
        let backfill = c.digest_key(t).replace(".json.gz", "_backfill.json.gz");
        assert!(c.is_digest_key(&backfill));
        assert_eq!(key_date(&backfill), "20150817T150131Z");
        assert_eq!(key_date(&c.digest_key(t)), "20150817T150131Z");
        assert!(!c.is_digest_key(&c.digest_key(t).replace("_t_", "_other_")));
        assert!(!c.is_digest_key(&c.digest_key(t).replace("/08/", "/aa/")));
        assert!(!c.is_digest_key(&c.digest_key(t).replace("logs/", "")));
    }

    #[test]
    fn organization_layout() {
        let c = chain(Some("o-abc"), None);
        assert_eq!(
            c.digest_prefix(),
            "AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-east-2"
        );
        assert_eq!(
            c.log_prefix(),
            "AWSLogs/o-abc/111122223333/CloudTrail/us-east-2/"
        );
    }

    #[test]
    fn log_key_times() {
        let c = chain(None, None);
        let key = "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz";
        assert_eq!(
            c.log_key_time(key),
            crate::time::parse("2015-08-17T14:45:00Z").ok()
        );
        assert_eq!(c.log_key_time("AWSLogs/x"), None);
    }
}

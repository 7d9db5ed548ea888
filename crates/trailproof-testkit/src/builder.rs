//! [`TrailBuilder`]: generates the objects CloudTrail would deliver for one trail.
//!
//! Layout of the generated data (all times derive from `start`):
//! - each source region has its own digest chain; region number `i` (in the order given to
//!   [`TrailBuilder::regions`]) has its first digest start at `start + 37m12s + 4·i s`, so digest
//!   times are not round, and each digest covers exactly one hour (start = previous end);
//! - hour `h` of a region is the window `[first_start + h hours, first_start + (h+1) hours)`;
//!   its log files are delivered at whole minutes inside that window (the minute is the key
//!   timestamp) and hold events from the 15 minutes before delivery;
//! - a non-empty hour holds `logs_per_hour ± 1` log files (at least 1 unless `logs_per_hour` is 0),
//!   each with `records_per_log` records (at least 1: CloudTrail never delivers empty files);
//! - hours inside [`TrailBuilder::logging_stopped`] ranges have neither logs nor digests, and the
//!   next digest starts a new chain.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest as _, Sha256};

use crate::archive::{Archive, Object, PublicKeyEntry};
use crate::json::{obj, J};
use crate::keys::{string_to_sign, TestKey};
use crate::records::{log_file, log_suffix};
use crate::{fmt_time, gzip};

/// Account that owns organization trails (the ARN's account) when [`TrailBuilder::organization`]
/// is set; digests and logs still live under the member account.
pub const MANAGEMENT_ACCOUNT: &str = "999988887777";

/// Configures a generated trail. See the module documentation for the data layout.
#[derive(Clone, Debug)]
pub struct TrailBuilder {
    pub(crate) account: String,
    partition: String,
    organization: Option<String>,
    trail_name: String,
    pub(crate) home_region: String,
    regions: Vec<String>,
    bucket: String,
    prefix: Option<String>,
    start: DateTime<Utc>,
    hours: u32,
    logs_per_hour: u32,
    records_per_log: u32,
    seed: u64,
    empty_hours: Vec<u32>,
    rotate_at: Option<u32>,
    stopped: Vec<(u32, u32)>,
    /// Recorded stops: (first hour without logging, event name).
    stop_events: Vec<(u32, String)>,
    spki: bool,
    backfill: Option<(Vec<u32>, DateTime<Utc>)>,
}

impl Default for TrailBuilder {
    fn default() -> Self {
        TrailBuilder::new()
    }
}

impl TrailBuilder {
    /// Account `111122223333`, trail `management-events` in `us-east-1` logging `us-east-1`,
    /// bucket `trail-bucket` without prefix, no organization, 24 hours from
    /// 2024-03-01T00:00:00Z, about 3 logs per hour of 5 records, seed 1, key A only, no gaps,
    /// no backfill.
    pub fn new() -> Self {
        TrailBuilder {
            account: "111122223333".to_owned(),
            partition: "aws".to_owned(),
            organization: None,
            trail_name: "management-events".to_owned(),
            home_region: "us-east-1".to_owned(),
            regions: vec!["us-east-1".to_owned()],
            bucket: "trail-bucket".to_owned(),
            prefix: None,
            start: Utc
                .with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
                .single()
                .expect("a fixed valid date"),
            hours: 24,
            logs_per_hour: 3,
            records_per_log: 5,
            seed: 1,
            empty_hours: Vec::new(),
            rotate_at: None,
            stopped: Vec::new(),
            stop_events: Vec::new(),
            spki: false,
            backfill: None,
        }
    }

    /// The account whose folder holds the logs and digests (the member account for
    /// organization trails).
    pub fn account(mut self, account: &str) -> Self {
        self.account = account.to_owned();
        self
    }

    /// The ARN's partition (`aws`, `aws-cn`, `aws-us-gov`, `aws-eusc`, …); pair it with a
    /// [`TrailBuilder::home_region`] of that partition. Only the ARN changes: the bucket layout
    /// is the same in every partition.
    pub fn partition(mut self, partition: &str) -> Self {
        self.partition = partition.to_owned();
        self
    }

    /// Makes this an organization trail: keys get `AWSLogs/<org_id>/<account>/…` and the trail
    /// ARN names [`MANAGEMENT_ACCOUNT`].
    pub fn organization(mut self, org_id: &str) -> Self {
        self.organization = Some(org_id.to_owned());
        self
    }

    pub fn trail_name(mut self, name: &str) -> Self {
        self.trail_name = name.to_owned();
        self
    }

    pub fn home_region(mut self, region: &str) -> Self {
        self.home_region = region.to_owned();
        self
    }

    /// Source regions, each with its own log files and digest chain.
    pub fn regions(mut self, regions: &[&str]) -> Self {
        self.regions = regions.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    pub fn bucket(mut self, bucket: &str) -> Self {
        self.bucket = bucket.to_owned();
        self
    }

    /// S3 key prefix (without trailing `/`).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.trim_end_matches('/').to_owned());
        self
    }

    pub fn start(mut self, start: DateTime<Utc>) -> Self {
        self.start = start;
        self
    }

    /// Number of hourly digests per region (including stopped hours, which produce nothing).
    pub fn hours(mut self, hours: u32) -> Self {
        self.hours = hours;
        self
    }

    /// `hours` hourly digests that end at most an hour before the real clock's last full hour
    /// (the windows start 37 minutes past the hour): a sweep up to now, less the two hours of
    /// delivery slack, finds nothing missing at the newest edge, with 37 minutes to spare.
    pub fn recent_hours(self, hours: u32) -> Self {
        let now = Utc::now().timestamp();
        let hour = Utc
            .timestamp_opt(now - now.rem_euclid(3600), 0)
            .single()
            .unwrap_or_else(Utc::now);
        self.hours(hours)
            .start(hour - Duration::hours(i64::from(hours) + 1))
    }

    pub fn logs_per_hour(mut self, n: u32) -> Self {
        self.logs_per_hour = n;
        self
    }

    pub fn records_per_log(mut self, n: u32) -> Self {
        self.records_per_log = n;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// These hour indexes deliver no log files: their digests have `"logFiles":[]` and null
    /// `newestEventTime`/`oldestEventTime`.
    pub fn empty_hours(mut self, hours: &[u32]) -> Self {
        self.empty_hours.extend_from_slice(hours);
        self
    }

    /// From this hour on, standard digests are signed by key B instead of key A.
    ///
    /// The keys' validity then overlaps by a day on each side of the rotation (A valid until a
    /// day after it, B from a day before it), so every digest is signed by a key valid then.
    pub fn rotate_key_at_hour(mut self, hour: u32) -> Self {
        self.rotate_at = Some(hour);
        self
    }

    /// Logging is off for hours `[from_hour, to_hour)`: no logs, no digests; the next digest is
    /// a starting digest (all `previousDigest*` null). May be called several times.
    pub fn logging_stopped(mut self, from_hour: u32, to_hour: u32) -> Self {
        assert!(
            from_hour < to_hour,
            "testkit: logging_stopped({from_hour}, {to_hour}) is an empty range"
        );
        self.stopped.push((from_hour, to_hour));
        self
    }

    /// Like [`TrailBuilder::logging_stopped`], with the call that stopped it recorded as
    /// CloudTrail records it: one more log file of the home region, delivered in the last minute
    /// of hour `from_hour − 1` (and so listed by that hour's signed digest), holds a successful
    /// `event_name` for this trail (`StopLogging`, `DeleteTrail`, or `UpdateTrail` turning
    /// validation off). `to_hour` may be the trail's `hours` (logging never restarts).
    pub fn stop_event(mut self, event_name: &str, from_hour: u32, to_hour: u32) -> Self {
        assert!(
            from_hour >= 1,
            "testkit: a stop event needs an hour before it"
        );
        self.stop_events.push((from_hour, event_name.to_owned()));
        self.logging_stopped(from_hour, to_hour)
    }

    /// Publish key `Value`s as SubjectPublicKeyInfo DER instead of PKCS#1 (fingerprints, in
    /// the list and in the digests, are then MD5 of the SPKI DER).
    pub fn spki_keys(mut self, spki: bool) -> Self {
        self.spki = spki;
        self
    }

    /// Also emit backfill digests for these hour indexes, generated at `generated_at`: same
    /// window and log files as that hour's standard digest, key ending `_backfill.json.gz`,
    /// metadata `backfill-generation-timestamp`, their own chain per region (the first is a
    /// starting digest), signed with key B if `generated_at` ≥ B's validity start
    /// (`start + 15 days`, or a day before the rotation), else key A. Each hour must have a standard digest.
    pub fn backfill(mut self, hours: &[u32], generated_at: DateTime<Utc>) -> Self {
        self.backfill = Some((hours.to_vec(), generated_at));
        self
    }

    fn is_stopped(&self, hour: u32) -> bool {
        self.stopped.iter().any(|&(f, t)| (f..t).contains(&hour))
    }

    /// `[prefix/]AWSLogs/[org/]account/`
    fn account_folder(&self) -> String {
        let mut s = String::new();
        if let Some(p) = &self.prefix {
            s.push_str(p);
            s.push('/');
        }
        s.push_str("AWSLogs/");
        if let Some(o) = &self.organization {
            s.push_str(o);
            s.push('/');
        }
        s.push_str(&self.account);
        s.push('/');
        s
    }

    /// Key A is valid `[start − 10 days, start + 20 days]` (longer when the trail is: it signs
    /// every digest of a trail that does not rotate) and key B
    /// `[start + 15 days, start + 45 days]`, unless the trail rotates: then the keys overlap by a
    /// day around the rotation, as CloudTrail's do, so every digest is signed by a key valid then.
    fn key_a_validity(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = match self.rotate_at {
            Some(h) => self.start + Duration::hours(i64::from(h)) + Duration::days(1),
            None => (self.start + Duration::days(20))
                .max(self.start + Duration::hours(i64::from(self.hours)) + Duration::days(1)),
        };
        (self.start - Duration::days(10), end)
    }

    fn key_b_validity(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let from = match self.rotate_at {
            Some(h) => self.start + Duration::hours(i64::from(h)) - Duration::days(1),
            None => self.start + Duration::days(15),
        };
        (from, from + Duration::days(30))
    }

    fn log_key(&self, region: &str, delivered: DateTime<Utc>, suffix: &str) -> String {
        format!(
            "{}CloudTrail/{region}/{}/{}_CloudTrail_{region}_{}_{suffix}.json.gz",
            self.account_folder(),
            delivered.format("%Y/%m/%d"),
            self.account,
            delivered.format("%Y%m%dT%H%MZ"),
        )
    }

    fn digest_key(&self, region: &str, end: DateTime<Utc>, backfill: bool) -> String {
        format!(
            "{}CloudTrail-Digest/{region}/{}/{}_CloudTrail-Digest_{region}_{}_{}_{}{}",
            self.account_folder(),
            end.format("%Y/%m/%d"),
            self.account,
            self.trail_name,
            self.home_region,
            end.format("%Y%m%dT%H%M%SZ"),
            if backfill {
                "_backfill.json.gz"
            } else {
                ".json.gz"
            },
        )
    }

    /// Generates the whole trail.
    ///
    /// # Panics
    /// On inconsistent settings: no region, or a backfill hour without a standard digest.
    pub fn build(&self) -> Trail {
        assert!(!self.regions.is_empty(), "testkit: no source region");
        let key_a = TestKey::a();
        let key_b = TestKey::b();
        let (a_from, a_to) = self.key_a_validity();
        let (b_from, b_to) = self.key_b_validity();

        let mut out = Output {
            archive: Archive::default(),
            digests: Vec::new(),
            log_keys: Vec::new(),
        };
        out.archive.public_keys = vec![
            PublicKeyEntry::for_key(&key_a, self.spki, a_from, a_to),
            PublicKeyEntry::for_key(&key_b, self.spki, b_from, b_to),
        ];

        for (index, region) in self.regions.iter().enumerate() {
            // One independent RNG stream per region: adding a region or backfill digests does
            // not change the other regions' bytes.
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(index as u64);
            let first_start = self.start
                + Duration::minutes(37)
                + Duration::seconds(12 + 4 * (index as i64 % 12));

            let mut windows: BTreeMap<u32, Window> = BTreeMap::new();
            let mut previous: Option<Link> = None;
            for hour in 0..self.hours {
                if self.is_stopped(hour) {
                    previous = None; // the chain breaks while logging is off
                    continue;
                }
                let start = first_start + Duration::hours(i64::from(hour));
                let mut logs = self.deliver_logs(&mut rng, region, start, hour, &mut out);
                if *region == self.home_region {
                    for (_, name) in self.stop_events.iter().filter(|(h, _)| *h == hour + 1) {
                        logs.push(self.deliver_stop(region, start, name, &mut out));
                    }
                }
                let window = Window {
                    hour,
                    start,
                    end: start + Duration::hours(1),
                    logs,
                };
                let signer = match self.rotate_at {
                    Some(r) if hour >= r => &key_b,
                    _ => &key_a,
                };
                previous = Some(self.emit_digest(
                    &mut out,
                    region,
                    &window,
                    signer,
                    previous.as_ref(),
                    None,
                ));
                windows.insert(hour, window);
            }

            if let Some((hours, generated_at)) = &self.backfill {
                let signer = if *generated_at >= b_from {
                    &key_b
                } else {
                    &key_a
                };
                let mut hours = hours.clone();
                hours.sort_unstable();
                hours.dedup();
                let mut previous: Option<Link> = None;
                for hour in hours {
                    let window = windows.get(&hour).unwrap_or_else(|| {
                        panic!(
                            "testkit: backfill hour {hour} has no standard digest \
                             (outside 0..{} or logging stopped)",
                            self.hours
                        )
                    });
                    previous = Some(self.emit_digest(
                        &mut out,
                        region,
                        window,
                        signer,
                        previous.as_ref(),
                        Some(*generated_at),
                    ));
                }
            }
        }

        Trail {
            archive: out.archive,
            digests: out.digests,
            log_keys: out.log_keys,
            config: self.clone(),
        }
    }

    /// Generates and stores the log files of one hour window starting at `start`.
    fn deliver_logs(
        &self,
        rng: &mut ChaCha8Rng,
        region: &str,
        start: DateTime<Utc>,
        hour: u32,
        out: &mut Output,
    ) -> Vec<LogEntry> {
        if self.empty_hours.contains(&hour) || self.logs_per_hour == 0 {
            return Vec::new();
        }
        let count = (i64::from(self.logs_per_hour) + rng.gen_range(-1..=1)).max(1);
        // Deliveries happen at whole minutes strictly inside the window, so the minute-resolution
        // key timestamp lies in [start, end) like real deliveries of that digest period.
        let first_minute = ceil_minute(start);
        let minutes_available = (start + Duration::hours(1) - first_minute).num_minutes();
        let mut offsets: Vec<i64> = (0..count)
            .map(|_| rng.gen_range(0..minutes_available))
            .collect();
        offsets.sort_unstable();

        offsets
            .into_iter()
            .map(|offset| {
                let delivered = first_minute + Duration::minutes(offset);
                let content = log_file(rng, self, region, delivered, self.records_per_log);
                let key = self.log_key(region, delivered, &log_suffix(rng));
                let entry = LogEntry {
                    key: key.clone(),
                    hash: hex::encode(Sha256::digest(&content.inflated)),
                    newest: content.newest,
                    oldest: content.oldest,
                };
                out.archive.objects.insert(
                    (self.bucket.clone(), key.clone()),
                    Object {
                        body: gzip(&content.inflated),
                        metadata: BTreeMap::new(),
                    },
                );
                out.log_keys.push((self.bucket.clone(), key));
                entry
            })
            .collect()
    }

    /// Stores the log file that records the stop of logging, in the last minute of the hour
    /// window starting at `start`.
    fn deliver_stop(
        &self,
        region: &str,
        start: DateTime<Utc>,
        event_name: &str,
        out: &mut Output,
    ) -> LogEntry {
        let delivered = ceil_minute(start + Duration::hours(1)) - Duration::minutes(1);
        let at = delivered - Duration::minutes(2);
        let arn = self.arn();
        let record = crate::records::stop_record(self, &arn, event_name, at);
        let inflated = obj([("Records", J::Arr(vec![record]))]).to_bytes();
        let suffix = format!("Stop{:012}", at.timestamp());
        let key = self.log_key(region, delivered, &suffix);
        out.archive.objects.insert(
            (self.bucket.clone(), key.clone()),
            Object {
                body: gzip(&inflated),
                metadata: BTreeMap::new(),
            },
        );
        out.log_keys.push((self.bucket.clone(), key.clone()));
        LogEntry {
            key,
            hash: hex::encode(Sha256::digest(&inflated)),
            newest: at,
            oldest: at,
        }
    }

    /// The trail's ARN (see [`Trail::trail_arn`]).
    fn arn(&self) -> String {
        let account = if self.organization.is_some() {
            MANAGEMENT_ACCOUNT
        } else {
            &self.account
        };
        format!(
            "arn:{}:cloudtrail:{}:{account}:trail/{}",
            self.partition, self.home_region, self.trail_name
        )
    }

    /// Builds, signs and stores one digest; returns the link its successor needs.
    fn emit_digest(
        &self,
        out: &mut Output,
        region: &str,
        window: &Window,
        signer: &TestKey,
        previous: Option<&Link>,
        backfill_generated_at: Option<DateTime<Utc>>,
    ) -> Link {
        let key = self.digest_key(region, window.end, backfill_generated_at.is_some());
        let newest = window.logs.iter().map(|l| l.newest).max().map(fmt_time);
        let oldest = window.logs.iter().map(|l| l.oldest).min().map(fmt_time);
        let log_files: Vec<J> = window
            .logs
            .iter()
            .map(|l| {
                obj([
                    ("s3Bucket", self.bucket.as_str().into()),
                    ("s3Object", l.key.as_str().into()),
                    ("hashValue", l.hash.as_str().into()),
                    ("hashAlgorithm", "SHA-256".into()),
                    ("newestEventTime", fmt_time(l.newest).into()),
                    ("oldestEventTime", fmt_time(l.oldest).into()),
                ])
            })
            .collect();
        let end_time = fmt_time(window.end);
        let digest = obj([
            ("awsAccountId", self.account.as_str().into()),
            ("digestStartTime", fmt_time(window.start).into()),
            ("digestEndTime", end_time.as_str().into()),
            ("digestS3Bucket", self.bucket.as_str().into()),
            ("digestS3Object", key.as_str().into()),
            (
                "digestPublicKeyFingerprint",
                signer.published_fingerprint(self.spki).into(),
            ),
            ("digestSignatureAlgorithm", "SHA256withRSA".into()),
            ("newestEventTime", newest.into()),
            ("oldestEventTime", oldest.into()),
            (
                "previousDigestS3Bucket",
                previous.map(|p| p.bucket.as_str()).into(),
            ),
            (
                "previousDigestS3Object",
                previous.map(|p| p.key.as_str()).into(),
            ),
            (
                "previousDigestHashValue",
                previous.map(|p| p.hash.as_str()).into(),
            ),
            (
                "previousDigestHashAlgorithm",
                previous.map(|_| "SHA-256").into(),
            ),
            (
                "previousDigestSignature",
                previous.map(|p| p.signature.as_str()).into(),
            ),
            ("logFiles", J::Arr(log_files)),
        ]);
        let inflated = digest.to_bytes();
        let message = string_to_sign(
            &end_time,
            &self.bucket,
            &key,
            &inflated,
            previous.map(|p| p.signature.as_str()),
        );
        let signature = hex::encode(signer.sign(message.as_bytes()));

        let mut metadata = BTreeMap::new();
        metadata.insert("signature".to_owned(), signature.clone());
        metadata.insert("signature-algorithm".to_owned(), "SHA256withRSA".to_owned());
        if let Some(at) = backfill_generated_at {
            metadata.insert("backfill-generation-timestamp".to_owned(), fmt_time(at));
        }
        out.archive.objects.insert(
            (self.bucket.clone(), key.clone()),
            Object {
                body: gzip(&inflated),
                metadata,
            },
        );
        out.digests.push(DigestInfo {
            bucket: self.bucket.clone(),
            key: key.clone(),
            region: region.to_owned(),
            start: window.start,
            end: window.end,
            backfill: backfill_generated_at.is_some(),
            log_keys: window.logs.iter().map(|l| l.key.clone()).collect(),
            hour: window.hour,
        });
        Link {
            bucket: self.bucket.clone(),
            key,
            hash: hex::encode(Sha256::digest(&inflated)),
            signature,
        }
    }
}

/// The smallest whole minute at or after `t`.
fn ceil_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    let rounded = secs + (60 - secs.rem_euclid(60)) % 60;
    DateTime::from_timestamp(rounded, 0).expect("a time near a valid time is valid")
}

/// Accumulates generated objects.
struct Output {
    archive: Archive,
    digests: Vec<DigestInfo>,
    log_keys: Vec<(String, String)>,
}

/// One hour of one region: its window and delivered logs (kept for backfill digests).
struct Window {
    hour: u32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    logs: Vec<LogEntry>,
}

/// A log file as a digest lists it.
struct LogEntry {
    key: String,
    hash: String,
    newest: DateTime<Utc>,
    oldest: DateTime<Utc>,
}

/// What a digest records about its predecessor.
struct Link {
    bucket: String,
    key: String,
    hash: String,
    signature: String,
}

/// A generated digest file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestInfo {
    pub bucket: String,
    pub key: String,
    /// Source region.
    pub region: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub backfill: bool,
    /// Keys of the log files it lists (same bucket), in listing order.
    pub log_keys: Vec<String>,
    /// Hour index (0-based, as used by the builder options) of its window.
    pub hour: u32,
}

/// A generated trail: the archive plus an index of what was generated.
#[derive(Clone, Debug)]
pub struct Trail {
    pub archive: Archive,
    /// Every digest, per region in builder order: standard digests oldest first, then backfill
    /// digests oldest first.
    pub digests: Vec<DigestInfo>,
    log_keys: Vec<(String, String)>,
    config: TrailBuilder,
}

impl Trail {
    /// `arn:<partition>:cloudtrail:<home region>:<account>:trail/<name>`; the account is
    /// [`MANAGEMENT_ACCOUNT`] for organization trails.
    pub fn trail_arn(&self) -> String {
        self.config.arn()
    }

    /// Standard (non-backfill) digests of `region`, oldest first.
    pub fn digests_in(&self, region: &str) -> Vec<&DigestInfo> {
        self.digests
            .iter()
            .filter(|d| d.region == region && !d.backfill)
            .collect()
    }

    /// Backfill digests of `region`, oldest first.
    pub fn backfill_digests_in(&self, region: &str) -> Vec<&DigestInfo> {
        self.digests
            .iter()
            .filter(|d| d.region == region && d.backfill)
            .collect()
    }

    /// `(bucket, key)` of every generated log file, per region in delivery order.
    pub fn log_keys(&self) -> Vec<(String, String)> {
        self.log_keys.clone()
    }

    /// The builder that produced this trail.
    pub fn config(&self) -> &TrailBuilder {
        &self.config
    }

    /// The account whose folder holds the files.
    pub fn account(&self) -> &str {
        &self.config.account
    }

    pub fn organization(&self) -> Option<&str> {
        self.config.organization.as_deref()
    }

    pub fn trail_name(&self) -> &str {
        &self.config.trail_name
    }

    pub fn home_region(&self) -> &str {
        &self.config.home_region
    }

    pub fn regions(&self) -> &[String] {
        &self.config.regions
    }

    pub fn bucket(&self) -> &str {
        &self.config.bucket
    }

    pub fn prefix(&self) -> Option<&str> {
        self.config.prefix.as_deref()
    }

    /// The builder's start time (digests begin 37m12s later).
    pub fn start(&self) -> DateTime<Utc> {
        self.config.start
    }

    /// End of the newest standard digest of any region (`None` if there is none).
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.digests
            .iter()
            .filter(|d| !d.backfill)
            .map(|d| d.end)
            .max()
    }

    /// The key with which the standard digest of `hour` is signed.
    pub fn signing_key_for_hour(&self, hour: u32) -> TestKey {
        match self.config.rotate_at {
            Some(r) if hour >= r => TestKey::b(),
            _ => TestKey::a(),
        }
    }
}

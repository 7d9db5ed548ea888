//! The catalogue of test scenarios: a clean trail with one kind of tampering each, named by the
//! verdict expected. `gen-testdata` writes them to `testdata/`; live tests upload them to a
//! local S3 server (with a short bucket name: the local server limits key file names).

use chrono::Duration;
use serde_json::json;

use crate::{Archive, DateTime, TestKey, Trail, TrailBuilder, Utc};

const START: &str = "2024-03-01T00:00:00Z";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad time {s}: {e}"))
}

/// One directory of testdata.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    pub trail: Trail,
    pub archive: Archive,
    /// Flags after `validate --archive DIR` (trail ARN, times, ...).
    pub args: Vec<String>,
    /// Extra flags only the AWS CLI oracle needs (what describe_trails would tell it).
    pub oracle_args: Vec<String>,
    /// True when trailproof's output must equal the AWS CLI's byte for byte.
    pub aws_cli_compatible: bool,
    /// Why it may differ: "stricter" (trailproof finds more) or "metadata" (trailproof learns
    /// signatures the archive lacks from the chain).
    pub difference: &'static str,
}

fn small(base: &TrailBuilder) -> TrailBuilder {
    base.clone().hours(6).logs_per_hour(2).records_per_log(4)
}

fn range(trail: &Trail, start: &str, end: &str) -> Vec<String> {
    [
        "--trail-arn",
        &trail.trail_arn(),
        "--start-time",
        start,
        "--end-time",
        end,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn scenario(
    name: &'static str,
    description: &'static str,
    builder: TrailBuilder,
    tamper: impl FnOnce(&Trail, &mut Archive),
) -> Scenario {
    let trail = builder.build();
    let mut archive = trail.archive.clone();
    tamper(&trail, &mut archive);
    let args = range(&trail, START, "2024-03-01T06:00:00Z");
    Scenario {
        name,
        description,
        trail,
        archive,
        args,
        oracle_args: Vec::new(),
        aws_cli_compatible: true,
        difference: "",
    }
}

fn digest_key(trail: &Trail, i: usize) -> String {
    trail.digests_in(trail.home_region())[i].key.clone()
}

/// The `log`-th log file of a digest (wrapping: hours hold a varying number of logs).
fn log_key(trail: &Trail, digest: usize, log: usize) -> String {
    let logs = &trail.digests_in(trail.home_region())[digest].log_keys;
    logs[log % logs.len()].clone()
}

/// Every scenario, its trail delivered to `bucket`.
pub fn all(bucket: &str) -> Vec<Scenario> {
    all_from(&TrailBuilder::new().bucket(bucket))
}

/// Every scenario, built from `base` (its bucket, trail name, account): a local S3 server that
/// limits key lengths can take a shorter trail name.
pub fn all_from(base: &TrailBuilder) -> Vec<Scenario> {
    let bucket = base.clone().hours(1).build().bucket().to_owned();
    let b = bucket.as_str();
    let mut all = Vec::new();

    // The bundled sample: a day of one region.
    let sample = base
        .clone()
        .hours(24)
        .logs_per_hour(3)
        .empty_hours(&[4, 5])
        .build();
    all.push(Scenario {
        name: "valid-sample-day",
        description: "A clean day of one region (us-east-1), two hours without log files.",
        archive: sample.archive.clone(),
        args: range(&sample, START, "2024-03-02T00:00:00Z"),
        trail: sample,
        oracle_args: Vec::new(),
        aws_cli_compatible: true,
        difference: "",
    });

    all.push(scenario(
        "valid-six-hours",
        "Clean six hours.",
        small(base),
        |_, _| {},
    ));
    let mut s = scenario(
        "valid-six-hours-verbose",
        "Clean six hours, --verbose lists every file.",
        small(base),
        |_, _| {},
    );
    s.args.push("--verbose".into());
    all.push(s);
    let mut s = scenario(
        "valid-partial-range",
        "Only 02:00-04:00 of six hours: the CLI's listing bounds.",
        small(base),
        |_, _| {},
    );
    s.args = range(&s.trail, "2024-03-01T02:00:00Z", "2024-03-01T04:00:00Z");
    all.push(s);
    let mut s = scenario(
        "valid-no-digests-in-range",
        "A range before the trail started.",
        small(base),
        |_, _| {},
    );
    s.args = range(&s.trail, "2024-02-20T00:00:00Z", "2024-02-21T00:00:00Z");
    all.push(s);
    all.push(scenario(
        "valid-key-rotation",
        "Digests from hour 3 on are signed with the next key.",
        small(base).rotate_key_at_hour(3),
        |_, _| {},
    ));
    let mut s = scenario(
        "valid-gap-logging-stopped",
        "Logging stopped for hours 2-4 of eight: a gap, not tampering.",
        small(base).hours(8).logging_stopped(2, 5),
        |_, _| {},
    );
    s.args = range(&s.trail, START, "2024-03-01T08:00:00Z");
    all.push(s);
    all.push(scenario(
        "valid-backfill",
        "Backfill digests for hours 1 and 2, generated two days later.",
        small(base).backfill(&[1, 2], t("2024-03-03T10:00:00Z")),
        |_, _| {},
    ));
    let mut s = scenario(
        "valid-organization-trail",
        "An organization trail: files under AWSLogs/o-id/account/.",
        small(base)
            .organization("o-exampleorgid")
            .account("111122223333"),
        |_, _| {},
    );
    s.args
        .extend(["--account-id".into(), "111122223333".into()]);
    s.oracle_args = vec![
        "--is-organization-trail".into(),
        "--organization-id".into(),
        "o-exampleorgid".into(),
    ];
    all.push(s);
    let mut s = scenario(
        "valid-key-prefix",
        "Files under a key prefix.",
        small(base).prefix("cloudtrail/prod"),
        |_, _| {},
    );
    s.args.extend([
        "--s3-bucket".into(),
        b.into(),
        "--s3-prefix".into(),
        "cloudtrail/prod".into(),
    ]);
    all.push(s);
    let mut s = scenario(
        "valid-second-region",
        "Two source regions in one bucket; validate eu-west-1's chain.",
        small(base).regions(&["us-east-1", "eu-west-1"]),
        |_, _| {},
    );
    s.args.extend(["--region".into(), "eu-west-1".into()]);
    all.push(s);

    // Log file tampering.
    all.push(scenario(
        "invalid-log-modified",
        "One byte of a log file changed.",
        small(base),
        |tr, a| a.modify_log(b, &log_key(tr, 3, 0)),
    ));
    all.push(scenario(
        "invalid-log-deleted",
        "A log file deleted.",
        small(base),
        |tr, a| a.delete(b, &log_key(tr, 2, 1)),
    ));
    all.push(scenario(
        "invalid-log-truncated",
        "A log file cut in its data.",
        small(base),
        |tr, a| a.truncate(b, &log_key(tr, 4, 0), 200),
    ));
    all.push(scenario(
        "invalid-log-not-gzip",
        "A log file replaced by its plain JSON.",
        small(base),
        |tr, a| {
            let key = log_key(tr, 1, 0);
            let plain = crate::gunzip(&a.get(b, &key).map(|o| o.body.clone()).unwrap_or_default());
            a.delete(b, &key);
            a.inject_log(b, &key, b"");
            if let Some(o) = a.objects.get_mut(&(b.to_owned(), key)) {
                o.body = plain;
            }
        },
    ));
    let s = scenario(
        "invalid-log-trailing-bytes",
        "Bytes appended after a log file's gzip stream: since awscli 1.45.12 \"unexpected data after end of compressed stream\".",
        small(base),
        |tr, a| {
            a.append_bytes(
                b,
                &log_key(tr, 3, 1),
                b"{\"Records\":[{\"eventName\":\"Hidden\"}]}\n",
            )
        },
    );
    all.push(s);
    let s = scenario(
        "invalid-log-second-gzip-member",
        "A second gzip member appended to a log file: zcat would show it, the digest does not cover it.",
        small(base),
        |tr, a| a.append_gzip_member(b, &log_key(tr, 2, 0), b"{\"Records\":[{\"eventName\":\"DeleteTrail\"}]}"),
    );
    all.push(s);
    let mut s = scenario(
        "invalid-log-trailer-cut",
        "The gzip trailer (CRC, size) cut off: content complete but unverifiable as gzip.",
        small(base),
        |tr, a| a.truncate(b, &log_key(tr, 5, 0), 8),
    );
    s.aws_cli_compatible = false;
    s.difference = "stricter";
    all.push(s);
    let mut s = scenario(
        "invalid-log-unreferenced",
        "A log file injected into the bucket that no digest lists.",
        small(base),
        |tr, a| {
            let listed = log_key(tr, 3, 0);
            let folder = &listed[..listed.rfind('/').map_or(0, |i| i + 1)];
            let injected = format!(
                "{folder}{}_CloudTrail_us-east-1_20240301T0400Z_AAAAAAAAAAAAAAAA.json.gz",
                tr.account()
            );
            a.inject_log(
                b,
                &injected,
                b"{\"Records\":[{\"eventName\":\"ConsoleLogin\"}]}",
            );
        },
    );
    s.aws_cli_compatible = false;
    s.difference = "stricter";
    all.push(s);

    // Digest file tampering.
    all.push(scenario(
        "invalid-digest-deleted",
        "One digest deleted.",
        small(base),
        |tr, a| a.delete(b, &digest_key(tr, 3)),
    ));
    let mut s = scenario(
        "invalid-digests-deleted-at-the-end",
        "The newest two digests and their log files deleted: the AWS CLI says valid, trailproof TAIL MISSING.",
        small(base),
        |tr, a| {
            for i in [4, 5] {
                for log in &tr.digests_in(tr.home_region())[i].log_keys {
                    a.delete(b, log);
                }
                a.delete(b, &digest_key(tr, i));
            }
        },
    );
    s.aws_cli_compatible = false;
    s.difference = "stricter";
    all.push(s);
    let mut s = scenario(
        "valid-logging-stopped-at-the-end",
        "StopLogging in the last verified log file explains a chain that ends early (an informational line).",
        small(base).stop_event("StopLogging", 4, 6),
        |_, _| {},
    );
    s.aws_cli_compatible = false;
    s.difference = "stricter";
    all.push(s);
    let mut s = scenario(
        "invalid-digests-deleted-consecutive",
        "Two consecutive digests deleted: the AWS CLI reports one, trailproof both.",
        small(base),
        |tr, a| {
            a.delete(b, &digest_key(tr, 2));
            a.delete(b, &digest_key(tr, 3));
        },
    );
    s.aws_cli_compatible = false;
    s.difference = "stricter";
    all.push(s);
    all.push(scenario(
        "invalid-digest-modified",
        "A hash inside a digest changed without re-signing: signature failure.",
        small(base),
        |tr, a| {
            a.edit_digest_json(b, &digest_key(tr, 3), |v| {
                v["logFiles"][0]["hashValue"] = json!("0".repeat(64));
            })
        },
    ));
    all.push(scenario(
        "invalid-digest-moved",
        "A digest moved to another key (one minute earlier) in its folder.",
        small(base),
        |tr, a| {
            let from = digest_key(tr, 3);
            let d = tr.digests_in(tr.home_region())[3].end - Duration::minutes(1);
            let to = from.replace(&d_key(tr.digests_in(tr.home_region())[3].end), &d_key(d));
            a.move_object(b, &from, &to);
        },
    ));
    all.push(scenario(
        "invalid-digest-replaced-with-older",
        "A digest overwritten by an older, validly signed digest.",
        small(base),
        |tr, a| a.copy_object(b, &digest_key(tr, 1), &digest_key(tr, 3)),
    ));
    all.push(scenario(
        "invalid-digest-signature-dropped",
        "A digest's signature metadata removed.",
        small(base),
        |tr, a| a.drop_signature(b, &digest_key(tr, 4)),
    ));
    all.push(scenario(
        "invalid-digest-signature-corrupt",
        "One hex digit of a digest's signature flipped.",
        small(base),
        |tr, a| a.corrupt_signature(b, &digest_key(tr, 2)),
    ));
    all.push(scenario(
        "invalid-digest-signature-not-hex",
        "A digest's signature metadata is not hex.",
        small(base),
        |tr, a| a.set_metadata(b, &digest_key(tr, 2), "signature", Some("not-hex!")),
    ));
    all.push(scenario(
        "invalid-digest-unknown-key",
        "A digest re-signed with a key CloudTrail does not list, naming that key.",
        small(base),
        |tr, a| {
            let key = digest_key(tr, 3);
            a.edit_digest_json(b, &key, |v| {
                v["digestPublicKeyFingerprint"] = json!(TestKey::unknown().fingerprint())
            });
            a.resign_digest(b, &key, &TestKey::unknown());
        },
    ));
    all.push(scenario(
        "invalid-digest-signed-with-unknown-key",
        "A digest re-signed with an unlisted key, still naming the real key's fingerprint.",
        small(base),
        |tr, a| a.resign_digest(b, &digest_key(tr, 3), &TestKey::unknown()),
    ));
    all.push(scenario(
        "invalid-digest-not-gzip",
        "A digest stored as plain JSON.",
        small(base),
        |tr, a| {
            let key = digest_key(tr, 2);
            if let Some(o) = a.objects.get_mut(&(b.to_owned(), key)) {
                o.body = crate::gunzip(&o.body);
            }
        },
    ));

    let mut s = scenario(
        "invalid-digest-link-mismatch",
        "A digest whose previousDigestHashValue was changed and re-signed with the trail's key: \
         valid to the AWS CLI, a broken chain link to trailproof.",
        small(base),
        |tr, a| {
            let key = digest_key(tr, 3);
            a.edit_digest_json(b, &key, |v| {
                v["previousDigestHashValue"] = json!("ab".repeat(32))
            });
            a.resign_digest(b, &key, &TestKey::a());
        },
    );
    s.aws_cli_compatible = false;
    s.difference = "stricter";
    all.push(s);
    all.push(scenario(
        "invalid-backfill-digest-deleted",
        "The middle one of three backfill digests deleted.",
        small(base).backfill(&[1, 2, 3], t("2024-03-03T10:00:00Z")),
        |tr, a| {
            let key = tr.backfill_digests_in(tr.home_region())[1].key.clone();
            a.delete(b, &key);
        },
    ));
    all.push(scenario(
        "invalid-backfill-no-generation-timestamp",
        "A backfill digest without its backfill-generation-timestamp metadata.",
        small(base).backfill(&[1, 2], t("2024-03-03T10:00:00Z")),
        |tr, a| {
            let key = tr.backfill_digests_in(tr.home_region())[1].key.clone();
            a.set_metadata(b, &key, "backfill-generation-timestamp", None);
        },
    ));

    // Archives without S3 metadata (a plain `aws s3 sync` copy keeps none).
    let mut s = scenario(
        "valid-sidecar-newest-only",
        "Only the newest digest has its metadata sidecar: older signatures come from successors.",
        small(base),
        |tr, a| {
            let digests = tr.digests_in(tr.home_region());
            for d in &digests[..digests.len() - 1] {
                if let Some(o) = a.objects.get_mut(&(b.to_owned(), d.key.clone())) {
                    o.metadata.clear();
                }
            }
        },
    );
    s.aws_cli_compatible = false;
    s.difference = "metadata";
    all.push(s);
    let mut s = scenario(
        "not-checked-no-sidecars",
        "No metadata at all: the newest digest's signature cannot be known.",
        small(base),
        |_, a| a.objects.values_mut().for_each(|o| o.metadata.clear()),
    );
    s.aws_cli_compatible = false;
    s.difference = "metadata";
    all.push(s);
    all
}

fn d_key(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

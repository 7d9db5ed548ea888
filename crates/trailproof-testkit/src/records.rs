//! Realistic CloudTrail event records for the generated log files.
//!
//! The verifier only hashes log files, but realistic contents (escaped slashes in ARNs and user
//! agents, nested objects, nulls, varied sizes) make the data useful for benches, fuzz seeds and
//! any future parsing of records.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::Digest as _;

use crate::json::{obj, J};
use crate::{fmt_time, TrailBuilder};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `n` characters drawn from `alphabet`.
pub(crate) fn random_chars(rng: &mut ChaCha8Rng, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// The 16 random characters that end a log file key.
pub(crate) fn log_suffix(rng: &mut ChaCha8Rng) -> String {
    random_chars(rng, ALNUM, 16)
}

/// A lowercase UUID v4-shaped identifier.
fn uuid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        ["8", "9", "a", "b"][usize::from(b[8] & 3)],
        &h[17..20],
        &h[20..32]
    )
}

/// Who made a call. A small fixed cast per account keeps `principalId`s stable across records.
struct Principal {
    kind: &'static str,
    name: &'static str,
}

const PRINCIPALS: &[Principal] = &[
    Principal {
        kind: "IAMUser",
        name: "alice",
    },
    Principal {
        kind: "IAMUser",
        name: "deploy-bot",
    },
    Principal {
        kind: "AssumedRole",
        name: "Admin",
    },
    Principal {
        kind: "AssumedRole",
        name: "ReadOnlyAudit",
    },
];

const USER_AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51",
    "AWS Internal",
    "console.amazonaws.com",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
];

/// A stable pseudo identifier derived from a name (principal ids must not change per record).
fn stable_id(prefix: &str, name: &str, account: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain(account.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut id = String::from(prefix);
    for i in 0..17 {
        id.push(char::from(
            UPPER_ALNUM[((h >> ((i * 3) % 60)) & 31) as usize],
        ));
    }
    id
}

fn user_identity(rng: &mut ChaCha8Rng, p: &Principal, account: &str, at: DateTime<Utc>) -> J {
    match p.kind {
        "IAMUser" => obj([
            ("type", "IAMUser".into()),
            ("principalId", stable_id("AIDA", p.name, account).into()),
            (
                "arn",
                format!("arn:aws:iam::{account}:user/{}", p.name).into(),
            ),
            ("accountId", account.into()),
            (
                "accessKeyId",
                format!("AKIA{}", random_chars(rng, UPPER_ALNUM, 16)).into(),
            ),
            ("userName", p.name.into()),
        ]),
        _ => {
            let role_id = stable_id("AROA", p.name, account);
            let session = format!("{}-session", p.name.to_lowercase());
            obj([
                ("type", "AssumedRole".into()),
                ("principalId", format!("{role_id}:{session}").into()),
                (
                    "arn",
                    format!("arn:aws:sts::{account}:assumed-role/{}/{session}", p.name).into(),
                ),
                ("accountId", account.into()),
                (
                    "accessKeyId",
                    format!("ASIA{}", random_chars(rng, UPPER_ALNUM, 16)).into(),
                ),
                (
                    "sessionContext",
                    obj([
                        (
                            "sessionIssuer",
                            obj([
                                ("type", "Role".into()),
                                ("principalId", role_id.into()),
                                (
                                    "arn",
                                    format!("arn:aws:iam::{account}:role/{}", p.name).into(),
                                ),
                                ("accountId", account.into()),
                                ("userName", p.name.into()),
                            ]),
                        ),
                        (
                            "attributes",
                            obj([
                                ("creationDate", fmt_time(at - Duration::minutes(42)).into()),
                                ("mfaAuthenticated", "false".into()),
                            ]),
                        ),
                    ]),
                ),
            ])
        }
    }
}

/// What was called: service, operation, whether it only reads, and its parameters/response.
struct Call {
    source: &'static str,
    name: &'static str,
    read_only: bool,
    request: J,
    response: J,
}

fn random_call(rng: &mut ChaCha8Rng, account: &str, region: &str) -> Call {
    let n: u32 = rng.gen_range(1..1000);
    match rng.gen_range(0..9) {
        0 => Call {
            source: "ec2.amazonaws.com",
            name: "DescribeInstances",
            read_only: true,
            request: obj([
                ("instancesSet", obj([])),
                ("filterSet", obj([])),
                ("maxResults", J::from(i64::from(rng.gen_range(5..=1000)))),
            ]),
            response: J::Null,
        },
        1 => Call {
            source: "s3.amazonaws.com",
            name: "ListBuckets",
            read_only: true,
            request: obj([("Host", "s3.amazonaws.com".into())]),
            response: J::Null,
        },
        2 => Call {
            source: "s3.amazonaws.com",
            name: "PutBucketPolicy",
            read_only: false,
            request: obj([
                ("bucketName", format!("app-data-{n}").into()),
                (
                    "Host",
                    format!("app-data-{n}.s3.{region}.amazonaws.com").into(),
                ),
                // A policy document as a JSON string: exercises `\"` escapes inside records.
                (
                    "policy",
                    format!(
                        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Deny\",\
                         \"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":\
                         \"arn:aws:s3:::app-data-{n}/*\",\"Condition\":{{\"Bool\":\
                         {{\"aws:SecureTransport\":\"false\"}}}}}}]}}"
                    )
                    .into(),
                ),
            ]),
            response: J::Null,
        },
        3 => {
            let user = format!("temp-user-{n}");
            let user_id = stable_id("AIDA", &user, account);
            Call {
                source: "iam.amazonaws.com",
                name: "CreateUser",
                read_only: false,
                request: obj([("userName", user.clone().into()), ("path", "/".into())]),
                response: obj([(
                    "user",
                    obj([
                        ("path", "/".into()),
                        ("userName", user.clone().into()),
                        ("userId", user_id.into()),
                        ("arn", format!("arn:aws:iam::{account}:user/{user}").into()),
                        ("createDate", "Mar 1, 2024, 12:00:00 AM".into()),
                    ]),
                )]),
            }
        }
        4 => Call {
            source: "sts.amazonaws.com",
            name: "GetCallerIdentity",
            read_only: true,
            request: J::Null,
            response: J::Null,
        },
        5 => Call {
            source: "kms.amazonaws.com",
            name: "GenerateDataKey",
            read_only: true,
            request: obj([
                (
                    "keyId",
                    format!("arn:aws:kms:{region}:{account}:alias/aws/s3").into(),
                ),
                ("keySpec", "AES_256".into()),
                (
                    "encryptionContext",
                    obj([(
                        "aws:s3:arn",
                        format!("arn:aws:s3:::app-data-{n}/uploads/{n}.csv").into(),
                    )]),
                ),
            ]),
            response: J::Null,
        },
        6 => Call {
            source: "lambda.amazonaws.com",
            name: "ListFunctions20150331",
            read_only: true,
            request: J::Null,
            response: J::Null,
        },
        7 => Call {
            source: "cloudtrail.amazonaws.com",
            name: "LookupEvents",
            read_only: true,
            request: obj([
                ("maxResults", J::from(50_i64)),
                (
                    "lookupAttributes",
                    J::Arr(vec![obj([
                        ("attributeKey", "EventName".into()),
                        ("attributeValue", "ConsoleLogin".into()),
                    ])]),
                ),
            ]),
            response: J::Null,
        },
        _ => Call {
            source: "ec2.amazonaws.com",
            name: "CreateTags",
            read_only: false,
            request: obj([
                (
                    "resourcesSet",
                    obj([(
                        "items",
                        J::Arr(vec![obj([(
                            "resourceId",
                            format!("i-0{}", random_chars(rng, b"0123456789abcdef", 16)).into(),
                        )])]),
                    )]),
                ),
                (
                    "tagSet",
                    obj([(
                        "items",
                        J::Arr(vec![obj([
                            ("key", "team".into()),
                            ("value", format!("platform/{n}").into()),
                        ])]),
                    )]),
                ),
            ]),
            response: obj([("requestId", uuid(rng).into()), ("_return", true.into())]),
        },
    }
}

/// One CloudTrail management event record.
fn record(rng: &mut ChaCha8Rng, b: &TrailBuilder, region: &str, event_time: DateTime<Utc>) -> J {
    let principal = &PRINCIPALS[rng.gen_range(0..PRINCIPALS.len())];
    let identity = user_identity(rng, principal, &b.account, event_time);
    let call = random_call(rng, &b.account, region);
    let agent = USER_AGENTS[rng.gen_range(0..USER_AGENTS.len())];
    let ip = if agent == "AWS Internal" {
        "AWS Internal".to_owned()
    } else {
        // Documentation ranges (RFC 5737): realistic shape, never a real address.
        let net = ["192.0.2", "198.51.100", "203.0.113"][rng.gen_range(0..3)];
        format!("{net}.{}", rng.gen_range(1..255))
    };
    obj([
        ("eventVersion", "1.09".into()),
        ("userIdentity", identity),
        ("eventTime", fmt_time(event_time).into()),
        ("eventSource", call.source.into()),
        ("eventName", call.name.into()),
        ("awsRegion", region.into()),
        ("sourceIPAddress", ip.into()),
        ("userAgent", agent.into()),
        ("requestParameters", call.request),
        ("responseElements", call.response),
        ("requestID", uuid(rng).into()),
        ("eventID", uuid(rng).into()),
        ("readOnly", call.read_only.into()),
        ("eventType", "AwsApiCall".into()),
        ("managementEvent", true.into()),
        ("recipientAccountId", b.account.as_str().into()),
        ("eventCategory", "Management".into()),
    ])
}

/// The record of a successful call that stops this trail's digests (`StopLogging`,
/// `DeleteTrail`, or `UpdateTrail` turning validation off), by `alice`, at `at`. Built without
/// the random stream, so adding it changes no other byte of a trail.
pub(crate) fn stop_record(
    b: &TrailBuilder,
    trail_arn: &str,
    event_name: &str,
    at: DateTime<Utc>,
) -> J {
    let params = if event_name == "UpdateTrail" {
        obj([
            ("name", trail_arn.into()),
            ("enableLogFileValidation", false.into()),
        ])
    } else {
        obj([("name", trail_arn.into())])
    };
    let id = hex::encode(&sha2::Sha256::digest(format!("{trail_arn} {event_name} {at}"))[..16]);
    let event_id = format!(
        "{}-{}-4{}-8{}-{}",
        &id[0..8],
        &id[8..12],
        &id[13..16],
        &id[17..20],
        &id[20..32]
    );
    obj([
        ("eventVersion", "1.09".into()),
        (
            "userIdentity",
            obj([
                ("type", "IAMUser".into()),
                (
                    "arn",
                    format!("arn:aws:iam::{}:user/alice", b.account).into(),
                ),
                ("accountId", b.account.as_str().into()),
                ("userName", "alice".into()),
            ]),
        ),
        ("eventTime", fmt_time(at).into()),
        ("eventSource", "cloudtrail.amazonaws.com".into()),
        ("eventName", event_name.into()),
        ("awsRegion", b.home_region.as_str().into()),
        ("sourceIPAddress", "192.0.2.10".into()),
        ("userAgent", "aws-cli/2.17.0".into()),
        ("requestParameters", params),
        ("responseElements", J::Null),
        ("requestID", event_id.clone().into()),
        ("eventID", event_id.into()),
        ("readOnly", false.into()),
        ("eventType", "AwsApiCall".into()),
        ("managementEvent", true.into()),
        ("recipientAccountId", b.account.as_str().into()),
        ("eventCategory", "Management".into()),
    ])
}

/// A generated log file before compression.
pub(crate) struct LogContent {
    /// Compact `{"Records":[...]}` bytes as CloudTrail writes them.
    pub(crate) inflated: Vec<u8>,
    pub(crate) newest: DateTime<Utc>,
    pub(crate) oldest: DateTime<Utc>,
}

/// Builds a log file delivered at `delivered`: `count` records whose events happened during the
/// 15 minutes before delivery (CloudTrail delivers within about 5 minutes of a batch closing).
pub(crate) fn log_file(
    rng: &mut ChaCha8Rng,
    b: &TrailBuilder,
    region: &str,
    delivered: DateTime<Utc>,
    count: u32,
) -> LogContent {
    let mut newest = None::<DateTime<Utc>>;
    let mut oldest = None::<DateTime<Utc>>;
    let records: Vec<J> = (0..count.max(1))
        .map(|_| {
            let t = delivered - Duration::seconds(rng.gen_range(30..900));
            newest = Some(newest.map_or(t, |n| n.max(t)));
            oldest = Some(oldest.map_or(t, |o| o.min(t)));
            record(rng, b, region, t)
        })
        .collect();
    LogContent {
        inflated: obj([("Records", J::Arr(records))]).to_bytes(),
        newest: newest.unwrap_or(delivered),
        oldest: oldest.unwrap_or(delivered),
    }
}

//! The walk of one chain (standard or backfill), from the newest listed digest back, with the
//! CLI's rules for which digest comes next.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::digest::{self, ParsedDigest, SignatureSource};
use crate::layout::key_date;
use crate::report::{DigestEntry, DigestOutcome, Entry, Finding, KeyUse};
use crate::state::Head;
use crate::time::parse_key_time;
use crate::window::{count_more_missing, Exit, FirstDigest, LinkFacts};
use crate::Error;

use super::collect::{Collector, Step};
use super::key_source::WalkKeys;
use super::links::{check_link, Link};
use super::prefetch::{Fetched, Prefetched};
use super::Run;

/// What the walk of the standard chain learnt, for resuming and for the next head.
#[derive(Default)]
pub(super) struct WalkInfo {
    /// The oldest digest the walk went through: its key, start, and previous link.
    pub(super) oldest: Option<Followed>,
    /// The newest valid digest, with the signature it was verified with.
    pub(super) newest_valid: Option<Head>,
    /// Keys reported not found.
    pub(super) not_found: HashSet<String>,
    /// The first digest visited, and what a link check of it needs when it verified.
    pub(super) first: Option<FirstDigest>,
    /// How the walk would go on past its window (sharded runs).
    pub(super) exit: Exit,
    /// Where the findings of the walk end and its unreached digests start (counted from the
    /// findings before the walk).
    pub(super) walk_findings: usize,
}

pub(super) struct Followed {
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) start: Option<DateTime<Utc>>,
    pub(super) previous: Option<(String, String)>,
    pub(super) previous_signature: Option<String>,
    pub(super) previous_hash: Option<String>,
}

impl Run<'_> {
    /// Walks one chain (standard or backfill) from the newest listed digest. Only a digest
    /// whose signature verified steers the walk: from it the walk follows
    /// `previousDigestS3Object`; from any other (invalid, signature unknown, unreadable) it
    /// goes to the next older listed digest, as the CLI's `DigestTraverser` does after an
    /// invalid one. Every digest is visited once and key times strictly decrease, so the walk
    /// ends; listed digests it never reached are reported.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn walk(
        &self,
        mut digests: Vec<String>,
        backfill: bool,
        keys: &mut WalkKeys<'_>,
        cache: &mut Prefetched,
        steps: &mut Collector<'_, '_>,
        findings: &mut Vec<Finding>,
        used: &mut BTreeMap<String, KeyUse>,
    ) -> Result<WalkInfo, Error> {
        let start = self.start;
        let mut info = WalkInfo::default();
        let findings_before = findings.len();
        // A sharded walk leaves its window where the chain goes on in an older one: the
        // oldest window walks on as the single run does.
        let leaves = |prev_bucket: &str, prev_time: DateTime<Utc>, bucket: &str| {
            self.window
                .as_ref()
                .is_some_and(|w| !w.oldest && (prev_bucket != bucket || prev_time < w.start))
        };
        let mut bucket = self.chain.bucket.clone();
        let mut listed: Vec<(String, String)> = digests
            .iter()
            .map(|k| (bucket.clone(), k.clone()))
            .collect();
        let mut visited: HashSet<(String, String)> = HashSet::new();
        let (mut next, mut last_start) = pop_before(&mut digests, None);
        let mut link: Option<Link> = None;
        while let Some(key) = next.take() {
            self.options.check_cancel()?;
            match last_start {
                Some(t) if start <= t => {}
                _ => break,
            }
            if !visited.insert((bucket.clone(), key.clone())) {
                next = pop_before(&mut digests, Some(&key)).0;
                info.exit = Exit::NextListed;
                continue;
            }
            if info.first.is_none() {
                info.first = Some(FirstDigest {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    link: None,
                });
            }
            let first = visited.len() == 1;
            let fetched = self.fetch_ahead(&bucket, &key, &digests, cache);
            let from_successor = link.take().filter(|l| l.bucket == bucket && l.key == key);
            let entry = |outcome, parsed: Option<&ParsedDigest>| DigestEntry {
                bucket: bucket.clone(),
                key: key.clone(),
                backfill,
                outcome,
                start: parsed.and_then(ParsedDigest::start_time),
                end: parsed.and_then(ParsedDigest::end_time),
                log_files: parsed.map_or(0, ParsedDigest::log_file_count),
            };
            let unparsed = match fetched {
                Fetched::Raw(bytes, metadata) => {
                    match digest::parse_owned(bytes, &self.options.limits) {
                        Ok(parsed) => Ok((parsed, metadata)),
                        Err(e) if e.is_limit() => Err(DigestOutcome::TooLarge {
                            reason: limit_reason(&e),
                        }),
                        Err(e) => Err(DigestOutcome::InvalidFormat {
                            reason: e.to_string(),
                        }),
                    }
                }
                Fetched::Missing => Err(DigestOutcome::NotFound),
                Fetched::Unreadable(cause) => Err(DigestOutcome::Unreadable { cause }),
                Fetched::TooLarge(limit) => Err(DigestOutcome::TooLarge {
                    reason: limit_reason(&digest::FormatError::TooLarge(limit)),
                }),
            };
            let (mut parsed, metadata) = match unparsed {
                Ok(found) => found,
                Err(outcome) => {
                    let missing = outcome == DigestOutcome::NotFound;
                    if missing {
                        info.not_found.insert(key.clone());
                    }
                    steps.push(Step::Digest(entry(outcome, None), Vec::new()))?;
                    let (n, n_date) = pop_before(&mut digests, Some(&key));
                    if missing {
                        count_more_missing(&bucket, &key, n_date, backfill, findings);
                    }
                    info.exit = if missing {
                        Exit::AfterMissing {
                            bucket: bucket.clone(),
                            key: key.clone(),
                        }
                    } else {
                        Exit::NextListed
                    };
                    next = n;
                    continue;
                }
            };
            let source = match &metadata {
                Some(meta) => SignatureSource::Metadata(meta.clone()),
                // A signature is self-authenticating: learnt from any successor that names
                // this digest, it still has to verify with CloudTrail's key.
                None => SignatureSource::Successor(
                    from_successor
                        .as_ref()
                        .and_then(|l| l.signature.clone())
                        .or_else(|| {
                            // The first digest of a window has its successor in the newer
                            // window: a copy without metadata learns its signature there too.
                            first
                                .then(|| self.successor_signature(&bucket, &key, backfill))
                                .flatten()
                        }),
                ),
            };
            let outcome = digest::check(&parsed, &bucket, &key, &source, keys)?;
            if outcome != DigestOutcome::Valid {
                // Unverified: its fields are untrusted input. Only a signature it names for its
                // predecessor is taken, to be verified like any other.
                link = parsed
                    .previous()
                    .filter(|_| !parsed.has_no_previous_link())
                    .map(|(b, k)| Link {
                        bucket: b.to_owned(),
                        key: k.to_owned(),
                        successor_key: key.clone(),
                        signature: parsed.previous_signature().map(str::to_owned),
                        hash: None,
                        verified: false,
                    });
                steps.push(Step::Digest(entry(outcome, Some(&parsed)), Vec::new()))?;
                next = pop_before(&mut digests, Some(&key)).0;
                info.exit = Exit::NextListed;
                continue;
            }
            let facts = LinkFacts {
                hash: parsed.inflated_sha256.clone(),
                signature: metadata.as_ref().and_then(|m| m.get("signature")).cloned(),
            };
            if let Some(l) = from_successor.as_ref().filter(|l| l.verified) {
                check_link(l, &bucket, &facts, findings);
            }
            if first {
                if let Some(f) = info.first.as_mut() {
                    f.link = Some(facts);
                }
            }
            if let Some(k) = parsed
                .str_field("digestPublicKeyFingerprint")
                .and_then(|f| keys.keys.get(f))
            {
                used.entry(k.fingerprint().to_owned())
                    .or_insert_with(|| KeyUse {
                        fingerprint: k.fingerprint().to_owned(),
                        validity_start: k.validity_start,
                        validity_end: k.validity_end,
                    });
            }
            let digest_start = parsed.start_time();
            last_start = digest_start;
            let previous = parsed
                .previous()
                .filter(|_| !parsed.has_no_previous_link())
                .map(|(b, k)| (b.to_owned(), k.to_owned()));
            info.oldest = Some(Followed {
                bucket: bucket.clone(),
                key: key.clone(),
                start: digest_start,
                previous: previous.clone(),
                previous_signature: parsed.previous_signature().map(str::to_owned),
                previous_hash: parsed.previous_hash().map(str::to_owned),
            });
            if info.newest_valid.is_none() {
                let signature = match &source {
                    SignatureSource::Metadata(meta) => meta.get("signature").cloned(),
                    SignatureSource::Successor(sig) => sig.clone(),
                };
                if let (Some(signature), Some(end_time)) = (signature, parsed.end_time()) {
                    info.newest_valid = Some(Head {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        end_time,
                        signature,
                        hash: parsed.inflated_sha256.clone(),
                    });
                }
            }
            // Verified: now its entries are worth building.
            let logs = match parsed.log_files() {
                Ok(logs) => logs,
                Err(e) => {
                    let outcome = DigestOutcome::InvalidFormat {
                        reason: e.to_string(),
                    };
                    steps.push(Step::Digest(entry(outcome, Some(&parsed)), Vec::new()))?;
                    next = pop_before(&mut digests, Some(&key)).0;
                    info.exit = Exit::NextListed;
                    continue;
                }
            };
            parsed.drop_bytes();
            let done = entry(DigestOutcome::Valid, Some(&parsed));
            steps.push(Step::Digest(done, logs))?;
            let key_time = parse_key_time(key_date(&key));
            match previous {
                Some((prev_bucket, prev_key))
                    if parse_key_time(key_date(&prev_key))
                        .zip(key_time)
                        .is_some_and(|(p, k)| p < k && leaves(&prev_bucket, p, &bucket)) =>
                {
                    // Verified: the stitch checks the link against the older window's first.
                    info.exit = Exit::Link {
                        from_bucket: bucket.clone(),
                        successor_key: key.clone(),
                        bucket: prev_bucket,
                        key: prev_key,
                        signature: parsed.previous_signature().map(str::to_owned),
                        hash: parsed.previous_hash().map(str::to_owned),
                    };
                }
                Some((prev_bucket, prev_key))
                    if parse_key_time(key_date(&prev_key))
                        .zip(key_time)
                        .is_some_and(|(p, k)| p < k) =>
                {
                    link = Some(Link {
                        bucket: prev_bucket.clone(),
                        key: prev_key.clone(),
                        successor_key: key.clone(),
                        signature: parsed.previous_signature().map(str::to_owned),
                        hash: parsed.previous_hash().map(str::to_owned),
                        verified: true,
                    });
                    next = Some(prev_key);
                    if prev_bucket != bucket {
                        // The chain continues in another bucket: list it for later jumps. A
                        // bucket that cannot be listed leaves only the linked digest to read,
                        // whose own verdict says what is wrong.
                        bucket = prev_bucket;
                        let end = parsed.end_time().unwrap_or(self.options.end);
                        digests = match self.list_digests(&bucket, start, end) {
                            Ok((standard, backfills)) => {
                                if backfill {
                                    backfills
                                } else {
                                    standard
                                }
                            }
                            Err(_) => Vec::new(),
                        };
                        listed.extend(digests.iter().map(|k| (bucket.clone(), k.clone())));
                    }
                }
                Some((prev_bucket, prev_key)) => {
                    // A signed link that does not go back in time: not followed.
                    findings.push(Finding::LinkMismatch {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        previous_key: prev_key.clone(),
                        field: "previousDigestS3Object",
                        expected: format!("s3://{prev_bucket}/{prev_key}"),
                        actual: "a digest older than this one".to_owned(),
                    });
                    next = pop_before(&mut digests, Some(&key)).0;
                    info.exit = Exit::NextListed;
                }
                None => {
                    let (n, n_date) = pop_before(&mut digests, Some(&key));
                    if let (Some(from), Some(to)) = (n_date, digest_start) {
                        // Gap lines never run backwards: an older digest ending after this
                        // one starts is not a gap (it is reported on its own).
                        if from < to {
                            steps.push(Step::Gap(Entry::Gap { backfill, from, to }))?;
                        }
                    }
                    info.exit = Exit::AfterNoPrevious {
                        start: digest_start,
                    };
                    next = n;
                }
            }
        }
        // Past its window the walk goes on only while its last valid digest started in range.
        if last_start.is_none_or(|t| t < start) {
            info.exit = Exit::End;
        }
        info.walk_findings = findings.len() - findings_before;
        for (b, k) in listed {
            if !visited.contains(&(b.clone(), k.clone())) {
                findings.push(Finding::UnreachedDigest {
                    bucket: b,
                    key: k,
                    backfill,
                });
            }
        }
        Ok(info)
    }
}

/// The message of a digest not read because of a limit, naming the flag that raises it.
pub(super) fn limit_reason(e: &digest::FormatError) -> String {
    match e {
        digest::FormatError::TooManyLogFiles(n) => {
            format!("lists more than {n} log files, the limit (raise it with --max-digest-entries)")
        }
        digest::FormatError::TooLarge(n) => {
            format!("larger than {n} bytes, the limit (raise it with --max-digest-size)")
        }
        other => other.to_string(),
    }
}

/// Pops listed keys from the newest down and returns the first whose key time is before that of
/// `before` (or the newest when `before` is `None`), with its time: the CLI's `_get_last_digest`.
/// Keys whose time cannot be parsed are passed over.
fn pop_before(
    digests: &mut Vec<String>,
    before: Option<&str>,
) -> (Option<String>, Option<DateTime<Utc>>) {
    let limit = before.map(|k| parse_key_time(key_date(k)));
    while let Some(key) = digests.pop() {
        let Some(date) = parse_key_time(key_date(&key)) else {
            continue;
        };
        match limit {
            None | Some(None) => return (Some(key), Some(date)),
            Some(Some(limit)) if date < limit => return (Some(key), Some(date)),
            Some(Some(_)) => {}
        }
    }
    (None, None)
}

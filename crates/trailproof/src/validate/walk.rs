//! The walk of one chain (standard or backfill), from the newest listed digest back, with the
//! CLI's rules for which digest comes next.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::digest::{self, Limits, ParsedDigest, SignatureSource};
use crate::layout::key_date;
use crate::report::LinkField;
use crate::report::{DigestEntry, DigestOutcome, Entry, Finding, KeyUse};
use crate::state::Head;
use crate::store::Metadata;
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

/// What the standard and the backfill walks of a chain add to: the digests fetched ahead, the
/// steps of the report, the findings and the keys that verified.
pub(super) struct Shared<'r, 'a> {
    pub(super) cache: Prefetched,
    pub(super) steps: Collector<'r, 'a>,
    pub(super) findings: Vec<Finding>,
    pub(super) used: BTreeMap<String, KeyUse>,
}

impl Run<'_> {
    /// Walks one chain (standard or backfill) from the newest listed digest. Only a digest
    /// whose signature verified steers the walk: from it the walk follows
    /// `previousDigestS3Object`; from any other (invalid, signature unknown, unreadable) it
    /// goes to the next older listed digest, as the CLI's `DigestTraverser` does after an
    /// invalid one. Every digest is visited once and key times strictly decrease, so the walk
    /// ends; listed digests it never reached are reported.
    pub(super) fn walk(
        &self,
        digests: Vec<String>,
        backfill: bool,
        keys: &mut WalkKeys<'_>,
        shared: &mut Shared<'_, '_>,
    ) -> Result<WalkInfo, Error> {
        let mut walk = Walk::new(self, digests, backfill, shared.findings.len());
        while let Some(key) = walk.next.take() {
            self.options.check_cancel()?;
            match walk.last_start {
                Some(t) if self.start <= t => {}
                _ => break,
            }
            walk.visit(key, keys, shared)?;
        }
        Ok(walk.finish(&mut shared.findings))
    }
}

/// Where one walk is, and what it has learnt so far.
struct Walk<'w, 'a> {
    run: &'w Run<'a>,
    backfill: bool,
    /// The listed keys of `bucket` the walk has not passed yet, oldest first.
    digests: Vec<String>,
    /// The bucket the walk is in: a link may lead to another.
    bucket: String,
    /// Every digest listed in every bucket, for the unreached ones.
    listed: Vec<(String, String)>,
    visited: HashSet<(String, String)>,
    next: Option<String>,
    /// When the last valid digest started (at first, the newest key time): the walk stops
    /// once it is before the range.
    last_start: Option<DateTime<Utc>>,
    /// What the last digest said of the one it links to, checked when the walk gets there.
    link: Option<Link>,
    info: WalkInfo,
    /// How many findings came before the walk: where its own start.
    findings_before: usize,
}

impl<'w, 'a> Walk<'w, 'a> {
    fn new(
        run: &'w Run<'a>,
        mut digests: Vec<String>,
        backfill: bool,
        findings_before: usize,
    ) -> Self {
        let bucket = run.chain.bucket.clone();
        let listed: Vec<(String, String)> = digests
            .iter()
            .map(|k| (bucket.clone(), k.clone()))
            .collect();
        let (next, last_start) = pop_before(&mut digests, None);
        Walk {
            run,
            backfill,
            digests,
            bucket,
            listed,
            visited: HashSet::new(),
            next,
            last_start,
            link: None,
            info: WalkInfo::default(),
            findings_before,
        }
    }

    /// Visits the digest `key` of the current bucket, and sets where the walk goes next.
    fn visit(
        &mut self,
        key: String,
        keys: &mut WalkKeys<'_>,
        shared: &mut Shared<'_, '_>,
    ) -> Result<(), Error> {
        if !self.visited.insert((self.bucket.clone(), key.clone())) {
            self.next_listed(&key);
            return Ok(());
        }
        if self.info.first.is_none() {
            self.info.first = Some(FirstDigest {
                bucket: self.bucket.clone(),
                key: key.clone(),
                link: None,
            });
        }
        let first = self.visited.len() == 1;
        let fetched = self
            .run
            .fetch_ahead(&self.bucket, &key, &self.digests, &mut shared.cache);
        let from_successor = self
            .link
            .take()
            .filter(|l| l.bucket == self.bucket && l.key == key);
        let (mut parsed, metadata) = match parse(fetched, &self.run.options.limits) {
            Ok(found) => found,
            Err(outcome) => return self.unread(&key, outcome, shared),
        };
        let source = self.signature_source(&key, metadata.as_ref(), from_successor.as_ref(), first);
        let outcome = digest::check(&parsed, &self.bucket, &key, &source, keys)?;
        if outcome != DigestOutcome::Valid {
            return self.unverified(&key, &parsed, outcome, &mut shared.steps);
        }
        let facts = LinkFacts {
            hash: parsed.inflated_sha256.clone(),
            signature: metadata.as_ref().and_then(|m| m.get("signature")).cloned(),
        };
        if let Some(l) = from_successor.as_ref().filter(|l| l.verified) {
            check_link(l, &self.bucket, &facts, &mut shared.findings);
        }
        if first {
            if let Some(f) = self.info.first.as_mut() {
                f.link = Some(facts);
            }
        }
        note_key(&parsed, keys, &mut shared.used);
        let digest_start = parsed.start_time();
        self.last_start = digest_start;
        let previous = parsed
            .previous()
            .filter(|_| !parsed.has_no_previous_link())
            .map(|(b, k)| (b.to_owned(), k.to_owned()));
        self.learn(&key, &parsed, &source, previous.clone());
        // Verified: now its entries are worth building.
        let logs = match parsed.log_files() {
            Ok(logs) => logs,
            Err(e) => {
                let outcome = DigestOutcome::InvalidFormat {
                    reason: e.to_string(),
                };
                shared.steps.push(Step::Digest(
                    self.entry(&key, outcome, Some(&parsed)),
                    Vec::new(),
                ))?;
                self.next_listed(&key);
                return Ok(());
            }
        };
        parsed.drop_bytes();
        let done = self.entry(&key, DigestOutcome::Valid, Some(&parsed));
        shared.steps.push(Step::Digest(done, logs))?;
        self.follow(&key, &parsed, previous, digest_start, shared)
    }

    /// The entry of the digest `key` of the current bucket.
    fn entry(
        &self,
        key: &str,
        outcome: DigestOutcome,
        parsed: Option<&ParsedDigest>,
    ) -> DigestEntry {
        DigestEntry {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            backfill: self.backfill,
            outcome,
            start: parsed.and_then(ParsedDigest::start_time),
            end: parsed.and_then(ParsedDigest::end_time),
            log_files: parsed.map_or(0, ParsedDigest::log_file_count),
        }
    }

    /// On to the next older listed digest.
    fn next_listed(&mut self, key: &str) {
        self.next = pop_before(&mut self.digests, Some(key)).0;
        self.info.exit = Exit::NextListed;
    }

    /// A digest that could not be read: reported, and the walk goes on to the next older listed
    /// digest (after one not found, counting how many more are missing).
    fn unread(
        &mut self,
        key: &str,
        outcome: DigestOutcome,
        shared: &mut Shared<'_, '_>,
    ) -> Result<(), Error> {
        let missing = outcome == DigestOutcome::NotFound;
        if missing {
            self.info.not_found.insert(key.to_owned());
        }
        shared
            .steps
            .push(Step::Digest(self.entry(key, outcome, None), Vec::new()))?;
        let (n, n_date) = pop_before(&mut self.digests, Some(key));
        if missing {
            count_more_missing(
                &self.bucket,
                key,
                n_date,
                self.backfill,
                &mut shared.findings,
            );
        }
        self.info.exit = if missing {
            Exit::AfterMissing {
                bucket: self.bucket.clone(),
                key: key.to_owned(),
            }
        } else {
            Exit::NextListed
        };
        self.next = n;
        Ok(())
    }

    fn signature_source(
        &self,
        key: &str,
        metadata: Option<&Metadata>,
        from_successor: Option<&Link>,
        first: bool,
    ) -> SignatureSource {
        match metadata {
            Some(meta) => SignatureSource::Metadata(meta.clone()),
            // A signature is self-authenticating: learnt from any successor that names
            // this digest, it still has to verify with CloudTrail's key.
            None => SignatureSource::Successor(
                from_successor
                    .and_then(|l| l.signature.clone())
                    .or_else(|| {
                        // The first digest of a window has its successor in the newer
                        // window: a copy without metadata learns its signature there too.
                        first
                            .then(|| {
                                self.run
                                    .successor_signature(&self.bucket, key, self.backfill)
                            })
                            .flatten()
                    }),
            ),
        }
    }

    /// A digest that did not verify: reported, and the walk goes on to the next older listed
    /// digest.
    fn unverified(
        &mut self,
        key: &str,
        parsed: &ParsedDigest,
        outcome: DigestOutcome,
        steps: &mut Collector<'_, '_>,
    ) -> Result<(), Error> {
        // Unverified: its fields are untrusted input. Only a signature it names for its
        // predecessor is taken, to be verified like any other.
        self.link = parsed
            .previous()
            .filter(|_| !parsed.has_no_previous_link())
            .map(|(b, k)| Link {
                bucket: b.to_owned(),
                key: k.to_owned(),
                successor_key: key.to_owned(),
                signature: parsed.previous_signature().map(str::to_owned),
                hash: None,
                verified: false,
            });
        steps.push(Step::Digest(
            self.entry(key, outcome, Some(parsed)),
            Vec::new(),
        ))?;
        self.next_listed(key);
        Ok(())
    }

    /// What a verified digest tells of the chain: the oldest digest gone through (for a resumed
    /// run's link to its head) and the newest valid one (the next head).
    fn learn(
        &mut self,
        key: &str,
        parsed: &ParsedDigest,
        source: &SignatureSource,
        previous: Option<(String, String)>,
    ) {
        self.info.oldest = Some(Followed {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            start: parsed.start_time(),
            previous,
            previous_signature: parsed.previous_signature().map(str::to_owned),
            previous_hash: parsed.previous_hash().map(str::to_owned),
        });
        if self.info.newest_valid.is_none() {
            let signature = match source {
                SignatureSource::Metadata(meta) => meta.get("signature").cloned(),
                SignatureSource::Successor(sig) => sig.clone(),
            };
            if let (Some(signature), Some(end_time)) = (signature, parsed.end_time()) {
                self.info.newest_valid = Some(Head {
                    bucket: self.bucket.clone(),
                    key: key.to_owned(),
                    end_time,
                    signature,
                    hash: parsed.inflated_sha256.clone(),
                });
            }
        }
    }

    /// A sharded walk leaves its window where the chain goes on in an older one: the oldest
    /// window walks on as the single run does.
    fn leaves(&self, prev_bucket: &str, prev_time: DateTime<Utc>) -> bool {
        self.run
            .window
            .as_ref()
            .is_some_and(|w| !w.oldest && (prev_bucket != self.bucket || prev_time < w.start))
    }

    /// Where the walk goes after the valid digest `key`, which links to `previous`.
    fn follow(
        &mut self,
        key: &str,
        parsed: &ParsedDigest,
        previous: Option<(String, String)>,
        digest_start: Option<DateTime<Utc>>,
        shared: &mut Shared<'_, '_>,
    ) -> Result<(), Error> {
        let key_time = parse_key_time(key_date(key));
        match previous {
            Some((prev_bucket, prev_key))
                if parse_key_time(key_date(&prev_key))
                    .zip(key_time)
                    .is_some_and(|(p, k)| p < k && self.leaves(&prev_bucket, p)) =>
            {
                // Verified: the stitch checks the link against the older window's first.
                self.info.exit = Exit::Link {
                    from_bucket: self.bucket.clone(),
                    successor_key: key.to_owned(),
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
                self.link = Some(Link {
                    bucket: prev_bucket.clone(),
                    key: prev_key.clone(),
                    successor_key: key.to_owned(),
                    signature: parsed.previous_signature().map(str::to_owned),
                    hash: parsed.previous_hash().map(str::to_owned),
                    verified: true,
                });
                self.next = Some(prev_key);
                if prev_bucket != self.bucket {
                    self.enter(prev_bucket, parsed.end_time());
                }
            }
            Some((prev_bucket, prev_key)) => {
                // A signed link that does not go back in time: not followed.
                shared.findings.push(Finding::LinkMismatch {
                    bucket: self.bucket.clone(),
                    key: key.to_owned(),
                    previous_key: prev_key.clone(),
                    field: LinkField::S3Object,
                    expected: format!("s3://{prev_bucket}/{prev_key}"),
                    actual: "a digest older than this one".to_owned(),
                });
                self.next_listed(key);
            }
            None => {
                let (n, n_date) = pop_before(&mut self.digests, Some(key));
                if let (Some(from), Some(to)) = (n_date, digest_start) {
                    // Gap lines never run backwards: an older digest ending after this
                    // one starts is not a gap (it is reported on its own).
                    if from < to {
                        shared.steps.push(Step::Gap(Entry::Gap {
                            backfill: self.backfill,
                            from,
                            to,
                        }))?;
                    }
                }
                self.info.exit = Exit::AfterNoPrevious {
                    start: digest_start,
                };
                self.next = n;
            }
        }
        Ok(())
    }

    /// The chain continues in another bucket: list it for later jumps. A bucket that cannot be
    /// listed leaves only the linked digest to read, whose own verdict says what is wrong.
    fn enter(&mut self, bucket: String, digest_end: Option<DateTime<Utc>>) {
        self.bucket = bucket;
        let end = digest_end.unwrap_or(self.run.options.end);
        self.digests = match self.run.list_digests(&self.bucket, self.run.start, end) {
            Ok((standard, backfills)) => {
                if self.backfill {
                    backfills
                } else {
                    standard
                }
            }
            Err(_) => Vec::new(),
        };
        let bucket = &self.bucket;
        self.listed
            .extend(self.digests.iter().map(|k| (bucket.clone(), k.clone())));
    }

    /// Ends the walk: how it would go on past its window, and the listed digests it never
    /// reached.
    fn finish(mut self, findings: &mut Vec<Finding>) -> WalkInfo {
        // Past its window the walk goes on only while its last valid digest started in range.
        if self.last_start.is_none_or(|t| t < self.run.start) {
            self.info.exit = Exit::End;
        }
        self.info.walk_findings = findings.len() - self.findings_before;
        for (b, k) in self.listed {
            if !self.visited.contains(&(b.clone(), k.clone())) {
                findings.push(Finding::UnreachedDigest {
                    bucket: b,
                    key: k,
                    backfill: self.backfill,
                });
            }
        }
        self.info
    }
}

/// A fetched digest parsed, or the outcome of one that could not be read.
fn parse(
    fetched: Fetched,
    limits: &Limits,
) -> Result<(ParsedDigest, Option<Metadata>), DigestOutcome> {
    match fetched {
        Fetched::Raw(bytes, metadata) => match digest::parse_owned(bytes, limits) {
            Ok(parsed) => Ok((parsed, metadata)),
            Err(e) if e.is_limit() => Err(DigestOutcome::TooLarge {
                reason: limit_reason(&e),
            }),
            Err(e) => Err(DigestOutcome::InvalidFormat {
                reason: e.to_string(),
            }),
        },
        Fetched::Missing => Err(DigestOutcome::NotFound),
        Fetched::Unreadable(cause) => Err(DigestOutcome::Unreadable { cause }),
        Fetched::TooLarge(limit) => Err(DigestOutcome::TooLarge {
            reason: limit_reason(&digest::FormatError::TooLarge(limit)),
        }),
    }
}

/// Records the key that verified `parsed`, for the report's list of keys used.
fn note_key(parsed: &ParsedDigest, keys: &WalkKeys<'_>, used: &mut BTreeMap<String, KeyUse>) {
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

//! What a successor says about its predecessor checked against what the predecessor is, and
//! the checks of a resumed run's head and its link to the new digests.

use crate::digest;
use crate::report::LinkField;
use crate::report::{DigestEntry, DigestOutcome, Entry, Finding};
use crate::state::Head;
use crate::window::{check_link_facts, LinkFacts};
use crate::{Error, StoreError};

use super::collect::{Collector, Step};
use super::walk::{limit_reason, WalkInfo};
use super::Run;

/// What the walk learned from a digest about the one it links to.
pub(super) struct Link {
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) successor_key: String,
    pub(super) signature: Option<String>,
    pub(super) hash: Option<String>,
    /// The successor's signature verified: only then are its claims about this digest checked
    /// (a signature learnt from it is checked against CloudTrail's key either way).
    pub(super) verified: bool,
}

impl Run<'_> {
    /// The head an incremental run resumes from must still be what was proven: a deleted head
    /// is `not found`, a replaced one invalid (its bytes no longer hash to what was recorded).
    /// Nothing is printed for a head that is intact: it was reported when it was proven.
    pub(super) fn check_head(&self, head: &Head, out: &mut Collector<'_, '_>) -> Result<(), Error> {
        let limit = self.options.limits.max_digest_bytes;
        let outcome = match self.store.get(&head.bucket, &head.key, limit) {
            Err(StoreError::NotFound { .. }) => DigestOutcome::NotFound,
            Err(StoreError::TooLarge { limit, .. }) => DigestOutcome::TooLarge {
                reason: limit_reason(&digest::FormatError::TooLarge(limit)),
            },
            Err(e) => DigestOutcome::Unreadable {
                cause: e.to_string(),
            },
            Ok(object) => match digest::parse(&object.bytes, &self.options.limits) {
                Ok(parsed) if parsed.inflated_sha256.eq_ignore_ascii_case(&head.hash) => {
                    return Ok(())
                }
                Ok(_) => DigestOutcome::Other {
                    message: "changed since the state file recorded it as the chain's head"
                        .to_owned(),
                },
                Err(e) if e.is_limit() => DigestOutcome::TooLarge {
                    reason: limit_reason(&e),
                },
                Err(e) => DigestOutcome::InvalidFormat {
                    reason: e.to_string(),
                },
            },
        };
        out.push(Step::Digest(
            DigestEntry {
                bucket: head.bucket.clone(),
                key: head.key.clone(),
                backfill: false,
                outcome,
                start: None,
                end: Some(head.end_time),
                log_files: 0,
            },
            Vec::new(),
        ))
    }
}

/// In a run resumed from `head`, the oldest new digest must link to it: same key, and the
/// signature and hash recorded for it. A new starting digest (logging was stopped) is a gap; a
/// missing link was already reported "not found".
pub(super) fn check_continuity(
    head: &Head,
    info: &WalkInfo,
    steps: &mut Collector<'_, '_>,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    let Some(oldest) = &info.oldest else {
        return Ok(());
    };
    let mismatch = |field, expected: String, actual: String| Finding::LinkMismatch {
        bucket: oldest.bucket.clone(),
        key: oldest.key.clone(),
        previous_key: head.key.clone(),
        field,
        expected,
        actual,
    };
    match &oldest.previous {
        None => {
            if let Some(to) = oldest.start.filter(|to| head.end_time < *to) {
                steps.push(Step::Gap(Entry::Gap {
                    backfill: false,
                    from: head.end_time,
                    to,
                }))?;
            }
        }
        Some((b, k)) if *b == head.bucket && *k == head.key => {
            let same = |v: &Option<String>, recorded: &str| {
                v.as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(recorded))
            };
            if !same(&oldest.previous_hash, &head.hash) {
                let said = oldest.previous_hash.clone().unwrap_or_default();
                findings.push(mismatch(LinkField::HashValue, said, head.hash.clone()));
            }
            if !same(&oldest.previous_signature, &head.signature) {
                let said = oldest.previous_signature.clone().unwrap_or_default();
                findings.push(mismatch(LinkField::Signature, said, head.signature.clone()));
            }
        }
        Some((_, k)) if info.not_found.contains(k) => {}
        Some((b, k)) => findings.push(mismatch(
            LinkField::S3Object,
            format!("s3://{b}/{k}"),
            format!("s3://{}/{}", head.bucket, head.key),
        )),
    }
    Ok(())
}

/// Compares what the successor says about this digest with what it is.
pub(super) fn check_link(
    link: &Link,
    bucket: &str,
    digest: &LinkFacts,
    findings: &mut Vec<Finding>,
) {
    check_link_facts(
        &link.successor_key,
        &link.key,
        link.hash.as_deref(),
        link.signature.as_deref(),
        bucket,
        digest,
        findings,
    );
}

//! Listing a chain's digests as the CLI does, and the successor a sharded walk looks up in the
//! newer window.

use std::ops::ControlFlow;

use chrono::{DateTime, Duration, Utc};

use crate::digest;
use crate::layout::{is_backfill_key, key_date};
use crate::time::key_format;
use crate::Error;

use super::prefetch::Fetched;
use super::Run;

impl Run<'_> {
    /// The chain's digest keys, standard and backfill: those of the range, or in a sharded run
    /// those whose key time lies in the walk's window.
    pub(super) fn list_chain(&self) -> Result<(Vec<String>, Vec<String>), Error> {
        match &self.window {
            Some(w) => {
                let hi = key_format(w.end);
                self.list_keys(&self.chain.bucket, w.start, &|date| {
                    if w.newest {
                        date <= hi.as_str()
                    } else {
                        date < hi.as_str()
                    }
                })
            }
            None => self.list_digests(&self.chain.bucket, self.start, self.options.end),
        }
    }

    /// Lists digest keys as the CLI does: under the chain's region prefix, after a marker one
    /// minute before `start`, matching the trail's name pattern, with key times in
    /// `[start, end + 1h]` compared as `YYYYMMDDTHHMMSSZ` strings, stopping at the first later key.
    pub(super) fn list_digests(
        &self,
        bucket: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        let target_end = key_format(end + Duration::hours(1));
        self.list_keys(bucket, start, &|date| date <= target_end.as_str())
    }

    /// In a sharded walk, the signature that the oldest digest of the newer window names for
    /// `key` (the first digest of this window): what the single walk learns from it.
    pub(super) fn successor_signature(
        &self,
        bucket: &str,
        key: &str,
        backfill: bool,
    ) -> Option<String> {
        let window = self.window.as_ref().filter(|w| !w.newest)?;
        let from = key_format(window.end);
        let mut successor = None;
        self.store
            .list(
                bucket,
                &self.chain.digest_prefix(),
                &self.chain.marker(window.end),
                &mut |k| {
                    if self.chain.is_digest_key(k)
                        && is_backfill_key(k) == backfill
                        && key_date(k) >= from.as_str()
                    {
                        successor = Some(k.to_owned());
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                },
            )
            .ok()?;
        let Fetched::Raw(bytes, _) = self.fetch(bucket, &successor?) else {
            return None;
        };
        let parsed = digest::parse(&bytes, &self.options.limits).ok()?;
        let names = parsed.previous() == Some((bucket, key)) && !parsed.has_no_previous_link();
        names.then(|| parsed.previous_signature().map(str::to_owned))?
    }

    /// Lists digest keys from `start` while `before_end` holds for their key time (the listing
    /// stops at the first that fails it).
    pub(super) fn list_keys(
        &self,
        bucket: &str,
        start: DateTime<Utc>,
        before_end: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        let target_start = key_format(start);
        let (mut standard, mut backfill) = (Vec::new(), Vec::new());
        self.store.list(
            bucket,
            &self.chain.digest_prefix(),
            &self.chain.marker(start),
            &mut |key| {
                if !self.chain.is_digest_key(key) {
                    return ControlFlow::Continue(());
                }
                let date = key_date(key);
                if !before_end(date) {
                    return ControlFlow::Break(());
                }
                if date >= target_start.as_str() {
                    if is_backfill_key(key) {
                        backfill.push(key.to_owned());
                    } else {
                        standard.push(key.to_owned());
                    }
                }
                ControlFlow::Continue(())
            },
        )?;
        Ok((standard, backfill))
    }
}

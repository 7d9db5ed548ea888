//! Digests fetched ahead of the walk, within a count and a byte budget, so that the walk
//! rarely waits on the store.

use std::collections::{HashMap, HashSet};

use crate::store::{Intent, Metadata};
use crate::StoreError;

use super::Run;

/// A digest as fetched, before it is parsed: ahead of the walk only the stored (compressed)
/// bytes wait, and a digest is inflated and parsed when the walk reaches it.
pub(super) enum Fetched {
    Missing,
    Unreadable(String),
    /// Larger than the limit as stored.
    TooLarge(u64),
    Raw(Vec<u8>, Option<Metadata>),
}

/// Digests fetched ahead of the walk and not yet visited, and every digest ever requested (so
/// that none is fetched twice by the prefetch; the walk itself may still revisit one).
#[derive(Default)]
pub(super) struct Prefetched {
    /// `None`: fetched ahead but dropped to stay within the byte budget; fetched again when
    /// reached.
    ready: HashMap<(String, String), Option<Fetched>>,
    requested: HashSet<(String, String)>,
    /// Bytes of the digests in `ready`.
    held: u64,
}

impl Run<'_> {
    /// The digest `key`, from the prefetched ones or fetched now together with the digests the
    /// walk will visit next, up to the prefetch window and byte budget: the listed keys older
    /// than `key` not yet requested, newest first (`upcoming` is the walk's sorted list of keys
    /// not yet jumped to).
    pub(super) fn fetch_ahead(
        &self,
        bucket: &str,
        key: &str,
        upcoming: &[String],
        prefetched: &mut Prefetched,
    ) -> Fetched {
        let id = (bucket.to_owned(), key.to_owned());
        if let Some(found) = prefetched.ready.remove(&id) {
            let Some(found) = found else {
                return self.fetch(bucket, key);
            };
            if let Fetched::Raw(bytes, _) = &found {
                prefetched.held -= bytes.len() as u64;
            }
            return found;
        }
        prefetched.requested.insert(id);
        let older = upcoming.partition_point(|k| k.as_str() < key);
        let mut batch: Vec<&str> = vec![key];
        for k in upcoming[..older].iter().rev() {
            if batch.len() >= self.options.prefetch {
                break;
            }
            if prefetched
                .requested
                .insert((bucket.to_owned(), k.to_owned()))
            {
                batch.push(k);
            }
        }
        let announced: Vec<(&str, &str)> = batch.iter().map(|k| (bucket, *k)).collect();
        let limit = self.options.limits.max_digest_bytes;
        let prefetch = self.store.prefetch(&announced, Intent::Get { limit });
        // Bytes held ahead of the walk: what would pass the budget is dropped as soon as it
        // arrives and fetched again when the walk reaches it.
        let held = std::sync::atomic::AtomicU64::new(prefetched.held);
        let budget = self.options.prefetch_budget;
        let fetched = self.map(&batch, prefetch.is_active(), |k| {
            let found = self.fetch(bucket, k);
            if *k == key {
                return Some(found);
            }
            if let Fetched::Raw(bytes, _) = &found {
                let n = bytes.len() as u64;
                let before = held.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                if before + n > budget {
                    held.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
            }
            Some(found)
        });
        drop(prefetch);
        prefetched.held = held.into_inner();
        let mut fetched = fetched.into_iter();
        let first = fetched.next().flatten().unwrap_or(Fetched::Missing);
        for (k, f) in batch[1..].iter().zip(fetched) {
            prefetched
                .ready
                .insert((bucket.to_owned(), (*k).to_owned()), f);
        }
        first
    }

    pub(super) fn fetch(&self, bucket: &str, key: &str) -> Fetched {
        let fetched = match self
            .store
            .get(bucket, key, self.options.limits.max_digest_bytes)
        {
            Err(StoreError::NotFound { .. }) => Fetched::Missing,
            Err(StoreError::TooLarge { limit, .. }) => Fetched::TooLarge(limit),
            Err(e) => Fetched::Unreadable(e.to_string()),
            Ok(object) => Fetched::Raw(object.bytes, object.metadata),
        };
        if let Some(p) = self.options.progress.as_deref() {
            p.digest_fetched();
        }
        fetched
    }
}

//! Where a walk's public keys come from: the caller's source, and the keys of one chain walk
//! (loaded once for the standard chain, around each digest's time for the backfill chain).

use chrono::{DateTime, Duration, Utc};

use crate::digest::{KeyLookup, LookupError};
use crate::keys::{KeySet, PublicKey};
use crate::time::display;
use crate::Error;

/// Where CloudTrail public keys come from.
pub trait PublicKeySource: Sync {
    /// The keys CloudTrail lists for `region` between `start` and `end` (`ListPublicKeys`).
    fn public_keys(
        &self,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<KeySet, Error>;

    /// Where the keys come from, for the report (e.g. `CloudTrail ListPublicKeys`, `file K`).
    fn describe(&self) -> String {
        "unnamed key source".to_owned()
    }

    /// Keys that were offered but left out (too short, wrong fingerprint…), one line each.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A fixed key set (a `list-public-keys` file) answers every request with all its keys: the file
/// is the answer of the `list-public-keys` call its author made.
impl PublicKeySource for KeySet {
    fn public_keys(&self, _: &str, _: DateTime<Utc>, _: DateTime<Utc>) -> Result<KeySet, Error> {
        Ok(self.clone())
    }

    fn warnings(&self) -> Vec<String> {
        KeySet::warnings(self).to_vec()
    }

    fn describe(&self) -> String {
        if self.source().is_empty() {
            "a fixed key set".to_owned()
        } else {
            self.source().to_owned()
        }
    }
}

/// Keys for one chain walk: the standard chain loads its keys once; the backfill chain starts
/// empty and loads keys around each digest's generation time, as the CLI does.
pub(crate) struct WalkKeys<'a> {
    pub(super) source: &'a dyn PublicKeySource,
    pub(super) region: String,
    pub(super) keys: KeySet,
    pub(super) backfill: bool,
}

impl<'a> WalkKeys<'a> {
    /// Keys of a standard chain, loaded already.
    pub(crate) fn new(source: &'a dyn PublicKeySource, region: &str, keys: KeySet) -> Self {
        WalkKeys {
            source,
            region: region.to_owned(),
            keys,
            backfill: false,
        }
    }
}

impl KeyLookup for WalkKeys<'_> {
    fn lookup(
        &mut self,
        fingerprint: &str,
        generated: Option<&str>,
    ) -> Result<Option<PublicKey>, LookupError> {
        if self.keys.get(fingerprint).is_none() && self.backfill {
            // Without metadata (an archive with no sidecar) the generation time is unknown: ask
            // for every key (a key file answers with all it has anyway).
            let (start, end) = match generated {
                Some(generated) => {
                    let Some(at) = crate::time::parse_cloudtrail(generated) else {
                        return Err(LookupError::Verdict(format!(
                            "Unable to parse date value: {generated}"
                        )));
                    };
                    (at - Duration::hours(1), at + Duration::hours(1))
                }
                None => (DateTime::<Utc>::UNIX_EPOCH, Utc::now() + Duration::days(1)),
            };
            let found = self
                .source
                .public_keys(&self.region, start, end)
                .map_err(LookupError::Fetch)?;
            if found.is_empty() {
                return Err(LookupError::Verdict(format!(
                    "No public keys found between {} and {}",
                    display(start),
                    display(end)
                )));
            }
            self.keys.extend(found);
        }
        Ok(self.keys.get(fingerprint).cloned())
    }

    fn region(&self) -> &str {
        &self.region
    }
}

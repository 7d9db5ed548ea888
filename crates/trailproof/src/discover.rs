//! Finding every chain of a trail in a bucket: one per (organization, account, source region),
//! by listing folders (delimiter `/`) rather than every key.

use crate::layout::Chain;
use crate::store::ObjectStore;
use crate::Error;

/// Where to look and what to keep.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Discovery {
    /// The bucket.
    pub bucket: String,
    /// Key prefix before `AWSLogs/`, without slashes at either end.
    pub prefix: Option<String>,
    /// The trail's name (digest file names carry it).
    pub trail_name: String,
    /// The trail's home region.
    pub home_region: String,
    /// Only these accounts (all when `None`).
    pub accounts: Option<Vec<String>>,
    /// Only these source regions (all when `None`).
    pub regions: Option<Vec<String>>,
}

impl Discovery {
    /// Looks for every chain of `trail_name` (home region `home_region`) in `bucket`.
    pub fn new(bucket: &str, prefix: Option<&str>, trail_name: &str, home_region: &str) -> Self {
        Discovery {
            bucket: bucket.to_owned(),
            prefix: prefix.map(str::to_owned),
            trail_name: trail_name.to_owned(),
            home_region: home_region.to_owned(),
            accounts: None,
            regions: None,
        }
    }

    /// Keeps only these accounts.
    pub fn accounts(mut self, accounts: Option<Vec<String>>) -> Self {
        self.accounts = accounts;
        self
    }

    /// Keeps only these source regions.
    pub fn regions(mut self, regions: Option<Vec<String>>) -> Self {
        self.regions = regions;
        self
    }
}

fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

fn is_organization(name: &str) -> bool {
    name.starts_with("o-")
        && name.len() > 2
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Lists `prefix` and returns the folder names (without the prefix and the slash).
fn folder_names(store: &dyn ObjectStore, bucket: &str, prefix: &str) -> Result<Vec<String>, Error> {
    Ok(store
        .list_folders(bucket, prefix)?
        .iter()
        .filter_map(|f| f.strip_prefix(prefix)?.strip_suffix('/').map(str::to_owned))
        .collect())
}

/// Every chain under `[prefix/]AWSLogs/`: `ACCOUNT/CloudTrail-Digest/REGION/` and, for
/// organization trails, `o-ID/ACCOUNT/CloudTrail-Digest/REGION/`, sorted.
pub fn discover_chains(store: &dyn ObjectStore, d: &Discovery) -> Result<Vec<Chain>, Error> {
    let root = match &d.prefix {
        Some(p) => format!("{p}/AWSLogs/"),
        None => "AWSLogs/".to_owned(),
    };
    let wanted_account = |a: &str| {
        d.accounts
            .as_ref()
            .is_none_or(|list| list.iter().any(|x| x == a))
    };
    let wanted_region = |r: &str| {
        d.regions
            .as_ref()
            .is_none_or(|list| list.iter().any(|x| x == r))
    };
    let mut owners: Vec<(Option<String>, String)> = Vec::new();
    for name in folder_names(store, &d.bucket, &root)? {
        if is_account(&name) {
            owners.push((None, name));
        } else if is_organization(&name) {
            for account in folder_names(store, &d.bucket, &format!("{root}{name}/"))? {
                if is_account(&account) {
                    owners.push((Some(name.clone()), account));
                }
            }
        }
    }
    let mut chains = Vec::new();
    for (organization, account) in owners.into_iter().filter(|(_, a)| wanted_account(a)) {
        let base = match &organization {
            Some(o) => format!("{root}{o}/{account}/CloudTrail-Digest/"),
            None => format!("{root}{account}/CloudTrail-Digest/"),
        };
        for region in folder_names(store, &d.bucket, &base)? {
            if wanted_region(&region) {
                chains.push(Chain {
                    bucket: d.bucket.clone(),
                    prefix: d.prefix.clone(),
                    organization_id: organization.clone(),
                    account_id: account.clone(),
                    source_region: region,
                    home_region: d.home_region.clone(),
                    trail_name: d.trail_name.clone(),
                });
            }
        }
    }
    chains.sort_by(|a, b| {
        (&a.organization_id, &a.account_id, &a.source_region).cmp(&(
            &b.organization_id,
            &b.account_id,
            &b.source_region,
        ))
    });
    Ok(chains)
}

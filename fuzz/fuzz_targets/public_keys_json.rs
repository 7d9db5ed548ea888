//! `list-public-keys` JSON: never panics; every key accepted has the fingerprint of its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use md5::{Digest as _, Md5};
use trailproof::KeySet;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::from_list_public_keys_json(data, "fuzz") {
        for key in set.iter() {
            assert_eq!(key.fingerprint(), hex::encode(Md5::digest(key.der())));
        }
    }
});

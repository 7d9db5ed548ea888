//! Key DER parsing: never panics; an accepted key's fingerprint is the MD5 of the input, and
//! verifying garbage never succeeds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use md5::{Digest as _, Md5};
use trailproof::PublicKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::from_der(data) {
        assert_eq!(key.fingerprint(), hex::encode(Md5::digest(data)));
        assert!(!key.verify(b"message", data));
    }
});

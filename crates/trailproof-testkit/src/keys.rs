//! Fixed RSA test keys and digest signing.
//!
//! The keys were generated once with
//! `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` and are committed under
//! `keys/`: generating 2048-bit keys at run time takes seconds in debug builds and would make
//! every generated trail different. They sign test data only and protect nothing.

use std::fmt;
use std::sync::OnceLock;

use md5::{Digest as _, Md5};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::Sha256;

const KEY_A_PEM: &str = include_str!("../keys/a.pem");
const KEY_B_PEM: &str = include_str!("../keys/b.pem");
const KEY_UNKNOWN_PEM: &str = include_str!("../keys/unknown.pem");

/// An RSA private key that signs digest files (RSASSA-PKCS1-v1_5 with SHA-256, like CloudTrail).
#[derive(Clone)]
pub struct TestKey {
    name: &'static str,
    key: RsaPrivateKey,
}

impl fmt::Debug for TestKey {
    // Never print the private key material, only which key this is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// Parses a committed key once per process: PEM decoding plus the key consistency checks cost
/// a few milliseconds, and tests ask for keys many times.
fn load(cell: &'static OnceLock<RsaPrivateKey>, pem: &str, name: &str) -> RsaPrivateKey {
    cell.get_or_init(|| {
        RsaPrivateKey::from_pkcs8_pem(pem)
            .unwrap_or_else(|e| panic!("committed test key {name} does not parse: {e}"))
    })
    .clone()
}

impl TestKey {
    /// The trail's first signing key (published, valid around the trail start).
    pub fn a() -> TestKey {
        static CELL: OnceLock<RsaPrivateKey> = OnceLock::new();
        TestKey {
            name: "a",
            key: load(&CELL, KEY_A_PEM, "a"),
        }
    }

    /// The key rotated to (published, validity overlapping key A's end).
    pub fn b() -> TestKey {
        static CELL: OnceLock<RsaPrivateKey> = OnceLock::new();
        TestKey {
            name: "b",
            key: load(&CELL, KEY_B_PEM, "b"),
        }
    }

    /// A key that is never published: digests signed with it cannot be verified.
    pub fn unknown() -> TestKey {
        static CELL: OnceLock<RsaPrivateKey> = OnceLock::new();
        TestKey {
            name: "unknown",
            key: load(&CELL, KEY_UNKNOWN_PEM, "unknown"),
        }
    }

    /// Short name of the key ("a", "b" or "unknown").
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The public key as PKCS#1 `RSAPublicKey` DER (what CloudTrail documents for `Value`).
    pub fn public_der_pkcs1(&self) -> Vec<u8> {
        self.key
            .to_public_key()
            .to_pkcs1_der()
            .expect("encoding an RSA public key as PKCS#1 DER cannot fail")
            .as_bytes()
            .to_vec()
    }

    /// The public key as X.509 `SubjectPublicKeyInfo` DER (also seen in AWS samples).
    pub fn public_der_spki(&self) -> Vec<u8> {
        self.key
            .to_public_key()
            .to_public_key_der()
            .expect("encoding an RSA public key as SPKI DER cannot fail")
            .as_bytes()
            .to_vec()
    }

    /// MD5 hex of the PKCS#1 DER: the fingerprint CloudTrail publishes and puts in digests.
    pub fn fingerprint(&self) -> String {
        hex::encode(Md5::digest(self.public_der_pkcs1()))
    }

    /// MD5 hex of the SPKI DER: the fingerprint when the key is published in SPKI form.
    pub fn fingerprint_spki(&self) -> String {
        hex::encode(Md5::digest(self.public_der_spki()))
    }

    /// The fingerprint matching the published form (`spki` chooses SPKI over PKCS#1).
    pub(crate) fn published_fingerprint(&self, spki: bool) -> String {
        if spki {
            self.fingerprint_spki()
        } else {
            self.fingerprint()
        }
    }

    /// The DER matching the published form (`spki` chooses SPKI over PKCS#1).
    pub(crate) fn published_der(&self, spki: bool) -> Vec<u8> {
        if spki {
            self.public_der_spki()
        } else {
            self.public_der_pkcs1()
        }
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 over SHA-256 (deterministic, no blinding needed
    /// for test keys).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let hashed = Sha256::digest(message);
        self.key
            .sign(Pkcs1v15Sign::new::<Sha256>(), &hashed)
            .expect("signing with a valid 2048-bit key cannot fail")
    }
}

/// The string CloudTrail signs for a digest: end time, `bucket/key`, hex SHA-256 of the inflated
/// digest bytes, and the previous digest's signature (the literal `null` for a starting digest),
/// joined by `\n` without a trailing newline.
pub fn string_to_sign(
    digest_end_time: &str,
    bucket: &str,
    key: &str,
    inflated_digest: &[u8],
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{digest_end_time}\n{bucket}/{key}\n{}\n{}",
        hex::encode(Sha256::digest(inflated_digest)),
        previous_signature.unwrap_or("null")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::RsaPublicKey;

    #[test]
    fn keys_are_distinct_2048_bit() {
        use rsa::traits::PublicKeyParts;
        let keys = [TestKey::a(), TestKey::b(), TestKey::unknown()];
        for k in &keys {
            assert_eq!(k.key.size(), 256, "{k:?}");
            assert_eq!(k.fingerprint().len(), 32);
        }
        assert_ne!(keys[0].fingerprint(), keys[1].fingerprint());
        assert_ne!(keys[1].fingerprint(), keys[2].fingerprint());
        assert_ne!(keys[0].fingerprint(), keys[0].fingerprint_spki());
    }

    #[test]
    fn signature_verifies_with_both_der_forms() {
        let k = TestKey::b();
        let sig = k.sign(b"hello");
        let hashed = Sha256::digest(b"hello");
        let pkcs1 = RsaPublicKey::from_pkcs1_der(&k.public_der_pkcs1()).unwrap();
        let spki = RsaPublicKey::from_public_key_der(&k.public_der_spki()).unwrap();
        for pk in [pkcs1, spki] {
            pk.verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, &sig)
                .unwrap();
        }
        // Deterministic: PKCS#1 v1.5 has no randomness.
        assert_eq!(sig, k.sign(b"hello"));
    }

    #[test]
    fn string_to_sign_layout() {
        let s = string_to_sign("2024-03-01T01:37:12Z", "b", "k/x.json.gz", b"{}", None);
        assert_eq!(
            s,
            "2024-03-01T01:37:12Z\nb/k/x.json.gz\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\nnull"
        );
        assert!(string_to_sign("t", "b", "k", b"", Some("ab")).ends_with("\nab"));
    }
}

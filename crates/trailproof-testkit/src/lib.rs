//! Test kit for trailproof: builds realistic, deterministic, *really signed* CloudTrail trails.
//!
//! A [`TrailBuilder`] produces a [`Trail`]: an in-memory [`Archive`] of S3 objects (gzip log
//! files and digest files with their S3 user metadata) plus the public key list that
//! `aws cloudtrail list-public-keys` would return. Digests are signed with fixed, committed RSA
//! keys ([`TestKey`]), so verification code can be tested end to end without AWS. The archive's
//! tamper helpers ([`Archive::modify_log`], [`Archive::delete`], ...) produce every kind of
//! integrity failure the verifier must report.
//!
//! Everything is deterministic: the same builder yields the same bytes on every run and machine
//! (fixed times, a seeded ChaCha RNG, gzip headers with mtime 0).
//!
//! Public keys: key A is valid `[start − 10 days, start + 20 days]`, key B
//! `[start + 15 days, start + 45 days]` (around the rotation when the trail rotates: see
//! `TrailBuilder::rotate_key_at_hour`); **both are always listed** (whether or not the trail
//! rotates), the unknown key never is.

mod archive;
mod builder;
pub mod conformance;
mod json;
mod keys;
pub mod lake;
pub mod prereq;
mod records;
pub mod scenarios;
/// trailproof's text report split into what the AWS CLI also prints and the lines naming the
/// public keys (`Public keys: …`, under the summary), which it has not: tests compare the first
/// with the CLI's output and check the second apart.
pub fn split_keys_line(stdout: &str) -> (String, Vec<String>) {
    let (keys, rest): (Vec<&str>, Vec<&str>) = stdout
        .split_inclusive('\n')
        .partition(|l| l.starts_with(trailproof::report::KEYS_LINE_PREFIX));
    (
        rest.concat(),
        keys.iter().map(|l| l.trim_end().to_owned()).collect(),
    )
}

#[cfg(test)]
mod trail_tests;

use std::io::{Read, Write};

pub use chrono::{DateTime, Utc};

pub use archive::{Archive, Object, PublicKeyEntry};
pub use builder::{DigestInfo, Trail, TrailBuilder, MANAGEMENT_ACCOUNT};
pub use json::to_aws_json;
pub use keys::{string_to_sign, TestKey};
pub use lake::{QueryResults, QueryResultsBuilder};

/// Formats a time like CloudTrail does in digests and records: `2024-03-01T00:37:12Z`.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Gzip with a fixed header (mtime 0, no file name), so output is byte-for-byte reproducible.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new().mtime(0).write(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::default(),
    );
    enc.write_all(bytes)
        .expect("writing into an in-memory gzip encoder cannot fail");
    enc.finish()
        .expect("finishing an in-memory gzip encoder cannot fail")
}

/// Inflates gzip data, all members concatenated. Test helper: panics if the data is not valid
/// gzip (truncated, or followed by bytes that are not another gzip member).
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("gunzip: not valid gzip data ({} bytes): {e}", bytes.len()));
    out
}

/// How a reference gunzip of one gzip member ended (see [`reference_gunzip`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceEnd {
    /// One complete member and nothing after it.
    Clean,
    /// A complete member followed by bytes that start with the gzip magic.
    SecondMember,
    /// A complete member followed by other bytes.
    TrailingData,
    /// The data stops before the member's end (or there is no data).
    Truncated,
    /// Not valid gzip: bad header, corrupt deflate data, or a checksum mismatch.
    Corrupt,
}

/// What [`reference_gunzip`] found: hex SHA-256 and length of the first member's inflated bytes,
/// and how the stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Hex SHA-256 of what could be inflated.
    pub sha256: String,
    /// Bytes inflated.
    pub inflated_len: u64,
    /// How the stream ended.
    pub end: ReferenceEnd,
}

/// An independent gunzip + SHA-256 of the first gzip member, by flate2's own `GzDecoder`: the
/// oracle for differential tests of `trailproof::loghash`, which decodes gzip framing itself.
pub fn reference_gunzip(bytes: &[u8]) -> Reference {
    use sha2::Digest as _;
    use std::io::BufRead as _;
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let error = loop {
        match decoder.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e),
        }
    };
    let mut rest = decoder.into_inner();
    let end = match error {
        Some(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => ReferenceEnd::Truncated,
        Some(_) => ReferenceEnd::Corrupt,
        None if bytes.is_empty() => ReferenceEnd::Truncated,
        None => match rest.fill_buf() {
            Ok([]) => ReferenceEnd::Clean,
            Ok([0x1f, 0x8b, ..]) => ReferenceEnd::SecondMember,
            _ => ReferenceEnd::TrailingData,
        },
    };
    Reference {
        sha256: hex::encode(hasher.finalize()),
        inflated_len: total,
        end,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trip_and_fixed_header() {
        let data = b"{\"Records\":[]}".repeat(50);
        let z = gzip(&data);
        assert_eq!(gunzip(&z), data);
        // magic, deflate, no flags, mtime 0
        assert_eq!(&z[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        assert_eq!(z, gzip(&data));
    }

    #[test]
    fn gunzip_reads_all_members() {
        let mut z = gzip(b"ab");
        z.extend(gzip(b"cd"));
        assert_eq!(gunzip(&z), b"abcd");
    }
}

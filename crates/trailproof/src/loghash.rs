//! Streaming gunzip + SHA-256 of a log file, compared with the digest's `hashValue`.
//!
//! Memory is constant whatever the size of the file: a decompression bomb costs time, not memory.

use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest as _, Sha256};

use crate::report::LogOutcome;

const CHUNK: usize = 64 * 1024;

/// Remembers whether an error came from the source (could not read) rather than from gzip
/// decoding (invalid data): the first is "could not check", the second a verdict.
struct SourceErrors<R> {
    inner: R,
    error: Option<String>,
}

impl<R: Read> Read for SourceErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.error.is_none() {
                self.error = Some(e.to_string());
            }
        })
    }
}

/// What streaming a log file found, before comparing with the expected hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inflated {
    /// Hex SHA-256 of the inflated bytes of the first gzip member (as far as it could be read).
    pub sha256: String,
    /// Inflated bytes hashed.
    pub inflated_len: u64,
    /// How the stream ended.
    pub end: StreamEnd,
}

/// How a gzip stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// One complete member, nothing after it.
    Clean,
    /// A complete member followed by more bytes (another member or garbage).
    TrailingData {
        /// True when the extra bytes start with the gzip magic: a second member.
        second_member: bool,
    },
    /// The stream stopped before its end (truncated object).
    Truncated,
    /// The bytes are not a valid gzip stream (bad header, corrupt deflate data, CRC mismatch).
    Corrupt(String),
    /// Reading the source failed: nothing can be concluded.
    SourceError(String),
}

/// Streams `reader` through gunzip and SHA-256.
pub fn inflate_and_hash<R: Read>(reader: R) -> Inflated {
    let source = SourceErrors {
        inner: reader,
        error: None,
    };
    let mut decoder = flate2::bufread::GzDecoder::new(BufReader::with_capacity(CHUNK, source));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    let end = loop {
        match decoder.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(e),
        }
    };
    let mut rest = decoder.into_inner();
    let end = match end {
        _ if rest.get_ref().error.is_some() => {
            StreamEnd::SourceError(rest.get_ref().error.clone().unwrap_or_default())
        }
        Some(e) if e.kind() == io::ErrorKind::UnexpectedEof => StreamEnd::Truncated,
        Some(e) => StreamEnd::Corrupt(e.to_string()),
        None if total == 0 && is_empty(&mut rest) => StreamEnd::Truncated,
        None => match rest.fill_buf() {
            Ok([]) => StreamEnd::Clean,
            Ok(extra) => StreamEnd::TrailingData {
                second_member: extra.starts_with(&[0x1f, 0x8b]),
            },
            Err(e) => StreamEnd::SourceError(e.to_string()),
        },
    };
    Inflated {
        sha256: hex::encode(hasher.finalize()),
        inflated_len: total,
        end,
    }
}

/// An empty object has no gzip header at all; flate2 may report that as a clean end.
fn is_empty<R: BufRead>(r: &mut R) -> bool {
    matches!(r.fill_buf(), Ok([]))
}

/// Streams a log file and gives the verdict against `expected` (the digest's `hashValue`).
///
/// Verdicts follow the AWS CLI where it has one: a truncated stream whose inflated prefix does not
/// match is a hash mismatch (the CLI hashes what it could inflate); corrupt data is invalid format.
/// Stricter than the CLI: a complete member followed by any bytes, or a stream cut after its data
/// but before its trailer, is invalid format even when the hash matches, because readers such as
/// `zcat` would see content the digest does not cover or could not check the CRC.
pub fn check_log<R: Read>(reader: R, expected: &str) -> LogOutcome {
    outcome(inflate_and_hash(reader), expected)
}

/// Turns what streaming found into a verdict.
pub fn outcome(found: Inflated, expected: &str) -> LogOutcome {
    let mismatch = |found: &Inflated| LogOutcome::HashMismatch {
        expected: expected.to_owned(),
        actual: found.sha256.clone(),
    };
    match &found.end {
        StreamEnd::SourceError(cause) => LogOutcome::Unreadable {
            cause: cause.clone(),
        },
        StreamEnd::Corrupt(reason) => LogOutcome::InvalidFormat {
            reason: reason.clone(),
        },
        _ if found.sha256 != expected => mismatch(&found),
        StreamEnd::Clean => LogOutcome::Valid,
        StreamEnd::Truncated => LogOutcome::InvalidFormat {
            reason: "gzip stream ends before its trailer".to_owned(),
        },
        StreamEnd::TrailingData { second_member } => LogOutcome::InvalidFormat {
            reason: if *second_member {
                "a second gzip member follows the one the digest covers".to_owned()
            } else {
                "bytes follow the end of the gzip stream".to_owned()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    const LOG: &[u8] =
        br#"{"Records":[{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com"}]}"#;

    #[test]
    fn valid() {
        assert_eq!(check_log(&gz(LOG)[..], &sha(LOG)), LogOutcome::Valid);
    }

    #[test]
    fn mismatch_reports_both_hashes() {
        let other = sha(b"x");
        assert_eq!(
            check_log(&gz(LOG)[..], &other),
            LogOutcome::HashMismatch {
                expected: other.clone(),
                actual: sha(LOG)
            }
        );
    }

    #[test]
    fn uppercase_expected_hash_does_not_match_like_the_cli() {
        assert!(matches!(
            check_log(&gz(LOG)[..], &sha(LOG).to_uppercase()),
            LogOutcome::HashMismatch { .. }
        ));
    }

    #[test]
    fn truncation_in_the_data_is_a_hash_mismatch() {
        let z = gz(&LOG.repeat(50));
        assert!(matches!(
            check_log(&z[..z.len() / 2], &sha(&LOG.repeat(50))),
            LogOutcome::HashMismatch { .. }
        ));
    }

    #[test]
    fn truncation_of_the_trailer_only_is_invalid_format() {
        let z = gz(LOG);
        assert!(matches!(
            check_log(&z[..z.len() - 4], &sha(LOG)),
            LogOutcome::InvalidFormat { .. }
        ));
    }

    #[test]
    fn empty_object_is_a_hash_mismatch() {
        assert!(matches!(
            check_log(&b""[..], &sha(LOG)),
            LogOutcome::HashMismatch { .. }
        ));
    }

    #[test]
    fn trailing_bytes_and_second_members_are_invalid() {
        let mut z = gz(LOG);
        z.extend_from_slice(b"garbage");
        assert!(matches!(
            check_log(&z[..], &sha(LOG)),
            LogOutcome::InvalidFormat { .. }
        ));
        let mut z = gz(LOG);
        z.extend_from_slice(&gz(b"{\"Records\":[]}"));
        match check_log(&z[..], &sha(LOG)) {
            LogOutcome::InvalidFormat { reason } => assert!(reason.contains("second gzip member")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corrupt_data_and_bad_crc_are_invalid_format() {
        assert!(matches!(
            check_log(LOG, &sha(LOG)),
            LogOutcome::InvalidFormat { .. }
        ));
        let mut z = gz(LOG);
        let crc_at = z.len() - 8;
        z[crc_at] ^= 0xff;
        assert!(matches!(
            check_log(&z[..], &sha(LOG)),
            LogOutcome::InvalidFormat { .. }
        ));
    }

    #[test]
    fn source_errors_are_not_verdicts() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "reset by peer",
                ))
            }
        }
        match check_log(Failing, &sha(LOG)) {
            LogOutcome::Unreadable { cause } => assert!(cause.contains("reset")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let data = LOG.repeat(10_000);
        let z = gz(&data);
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for step in [1, 7, 4096] {
            assert_eq!(check_log(Trickle(&z, step), &sha(&data)), LogOutcome::Valid);
        }
    }
}

//! Streaming gunzip + SHA-256 of a log file, compared with the digest's `hashValue`.
//!
//! Memory is constant whatever the size of the file: a decompression bomb costs time, not memory.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use crate::report::LogOutcome;

const CHUNK: usize = 64 * 1024;

/// Longest FNAME or FCOMMENT accepted in a gzip header (as flate2 does): a header is not a place
/// to make a validator spin.
const MAX_HEADER_FIELD: usize = 64 * 1024;

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FRESERVED: u8 = 0xe0;

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

/// Gunzip + SHA-256 with its buffers and inflate state kept from one file to the next.
///
/// Per file, a fresh decoder would allocate and zero about 170 kB (input and output buffers, the
/// inflate state and window); on archives of small log files that churn, and the page faults it
/// causes once the allocator hands the memory back, cost as much as a fifth of the run. One
/// `LogHasher` per worker thread avoids it; [`inflate_and_hash`] keeps one per thread.
pub struct LogHasher {
    inflate: flate2::Decompress,
    input: Box<[u8]>,
    output: Box<[u8]>,
}

impl Default for LogHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LogHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHasher").finish_non_exhaustive()
    }
}

/// Why decoding stopped early.
enum Stop {
    Eof,
    Corrupt(String),
    Source(String),
}

/// The input side: a reused buffer over any reader.
struct Input<'a, R> {
    reader: R,
    buf: &'a mut [u8],
    pos: usize,
    end: usize,
    /// The reader said it has no more bytes.
    eof: bool,
    /// The reader failed (reported once the bytes read before are used).
    error: Option<String>,
}

impl<R: Read> Input<'_, R> {
    /// Makes sure at least one byte is buffered; `Eof` at the end of the object.
    ///
    /// The buffer is filled as far as the reader goes before inflating: a reader that hands
    /// out small pieces (a network body) would otherwise cost one inflate call per piece, and
    /// each call copies up to 32 KiB into the inflate window.
    fn fill(&mut self) -> Result<(), Stop> {
        if self.pos < self.end {
            return Ok(());
        }
        self.pos = 0;
        self.end = 0;
        while self.end < self.buf.len() && !self.eof && self.error.is_none() {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end = (self.end + n).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        if self.end > 0 {
            return Ok(());
        }
        match self.error.take() {
            Some(cause) => Err(Stop::Source(cause)),
            None => Err(Stop::Eof),
        }
    }

    fn byte(&mut self) -> Result<u8, Stop> {
        self.fill()?;
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte()?;
        }
        Ok(out)
    }
}

/// CRC-32 of the header bytes, kept only when the header carries FHCRC.
struct HeaderCrc(Option<crc32fast::Hasher>);

impl HeaderCrc {
    fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.0 {
            h.update(bytes);
        }
    }
}

impl LogHasher {
    /// A hasher with its buffers allocated.
    pub fn new() -> Self {
        Self {
            inflate: flate2::Decompress::new(false),
            input: vec![0u8; CHUNK].into_boxed_slice(),
            output: vec![0u8; CHUNK].into_boxed_slice(),
        }
    }

    /// Streams `reader` through gunzip and SHA-256: the first gzip member is inflated and hashed,
    /// its CRC-32 and length checked, and whatever follows it reported.
    pub fn inflate_and_hash<R: Read>(&mut self, reader: R) -> Inflated {
        self.inflate.reset(false);
        let mut input = Input {
            reader,
            buf: &mut self.input,
            pos: 0,
            end: 0,
            eof: false,
            error: None,
        };
        let mut hasher = Sha256::new();
        let mut crc = crc32fast::Hasher::new();
        let mut total = 0u64;
        let decoded = read_header(&mut input).and_then(|()| {
            inflate_member(
                &mut self.inflate,
                &mut input,
                &mut self.output,
                &mut |out: &[u8]| {
                    hasher.update(out);
                    crc.update(out);
                    total += out.len() as u64;
                },
            )
        });
        let end = match decoded.and_then(|()| read_trailer(&mut input, crc.finalize(), total)) {
            Ok(()) => trailing(&mut input),
            Err(Stop::Eof) => StreamEnd::Truncated,
            Err(Stop::Corrupt(reason)) => StreamEnd::Corrupt(reason),
            Err(Stop::Source(cause)) => StreamEnd::SourceError(cause),
        };
        Inflated {
            sha256: hex::encode(hasher.finalize()),
            inflated_len: total,
            end,
        }
    }
}

fn read_header<R: Read>(input: &mut Input<'_, R>) -> Result<(), Stop> {
    let bad = || Stop::Corrupt("invalid gzip header".to_owned());
    let fixed: [u8; 10] = input.bytes()?;
    if fixed[0] != 0x1f || fixed[1] != 0x8b || fixed[2] != 8 {
        return Err(bad());
    }
    let flags = fixed[3];
    // RFC 1952: a decoder "must give an error indication if any reserved bit is non-zero".
    if flags & FRESERVED != 0 {
        return Err(bad());
    }
    let mut crc = HeaderCrc((flags & FHCRC != 0).then(crc32fast::Hasher::new));
    crc.update(&fixed);
    if flags & FEXTRA != 0 {
        let xlen: [u8; 2] = input.bytes()?;
        crc.update(&xlen);
        for _ in 0..u16::from_le_bytes(xlen) {
            let b = input.byte()?;
            crc.update(&[b]);
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag == 0 {
            continue;
        }
        let mut len = 0usize;
        loop {
            let b = input.byte()?;
            crc.update(&[b]);
            if b == 0 {
                break;
            }
            len += 1;
            if len > MAX_HEADER_FIELD {
                return Err(Stop::Corrupt("gzip header field too long".to_owned()));
            }
        }
    }
    if let Some(h) = crc.0 {
        let stored = u16::from_le_bytes(input.bytes()?);
        if stored != h.finalize() as u16 {
            return Err(Stop::Corrupt(
                "gzip header checksum does not match".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Inflates the raw deflate stream of one member, handing every piece of output to `sink`.
fn inflate_member<R: Read>(
    inflate: &mut flate2::Decompress,
    input: &mut Input<'_, R>,
    output: &mut [u8],
    sink: &mut dyn FnMut(&[u8]),
) -> Result<(), Stop> {
    loop {
        input.fill()?;
        let before_in = inflate.total_in();
        let before_out = inflate.total_out();
        let status = inflate.decompress(
            &input.buf[input.pos..input.end],
            output,
            flate2::FlushDecompress::None,
        );
        let consumed = (inflate.total_in() - before_in) as usize;
        let produced = (inflate.total_out() - before_out) as usize;
        input.pos += consumed;
        sink(&output[..produced]);
        match status {
            Ok(flate2::Status::StreamEnd) => return Ok(()),
            Ok(_) if consumed == 0 && produced == 0 && input.pos < input.end => {
                // Input left, room for output, and no progress: the decoder is stuck on data
                // that is not deflate.
                return Err(Stop::Corrupt("corrupt deflate stream".to_owned()));
            }
            Ok(_) => {}
            Err(_) => return Err(Stop::Corrupt("corrupt deflate stream".to_owned())),
        }
    }
}

fn read_trailer<R: Read>(input: &mut Input<'_, R>, crc: u32, total: u64) -> Result<(), Stop> {
    let trailer: [u8; 8] = input.bytes()?;
    let stored_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let stored_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    // ISIZE is the length modulo 2^32.
    if stored_crc != crc || stored_len != total as u32 {
        return Err(Stop::Corrupt(
            "corrupt gzip stream does not have a matching checksum".to_owned(),
        ));
    }
    Ok(())
}

/// After a complete member: nothing, another member, or other bytes.
fn trailing<R: Read>(input: &mut Input<'_, R>) -> StreamEnd {
    let first = match input.byte() {
        Ok(b) => b,
        Err(Stop::Eof) => return StreamEnd::Clean,
        Err(Stop::Source(cause)) => return StreamEnd::SourceError(cause),
        Err(Stop::Corrupt(reason)) => return StreamEnd::Corrupt(reason),
    };
    let second = match input.byte() {
        Ok(b) => Some(b),
        Err(Stop::Source(cause)) => return StreamEnd::SourceError(cause),
        Err(_) => None,
    };
    StreamEnd::TrailingData {
        second_member: first == 0x1f && second == Some(0x8b),
    }
}

thread_local! {
    static HASHER: std::cell::RefCell<Option<LogHasher>> = const { std::cell::RefCell::new(None) };
}

/// Streams `reader` through gunzip and SHA-256, with this thread's [`LogHasher`].
pub fn inflate_and_hash<R: Read>(reader: R) -> Inflated {
    HASHER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => slot
            .get_or_insert_with(LogHasher::new)
            .inflate_and_hash(reader),
        // Only if `reader` itself hashes a log on this thread: give it its own buffers.
        Err(_) => LogHasher::new().inflate_and_hash(reader),
    })
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
    // The AWS CLI's order (1.46.3): a corrupt stream is "invalid format"; data left after the
    // first member is reported before the hash is compared; then the hash.
    match &found.end {
        StreamEnd::SourceError(cause) => LogOutcome::Unreadable {
            cause: cause.clone(),
        },
        StreamEnd::Corrupt(reason) => LogOutcome::InvalidFormat {
            reason: reason.clone(),
        },
        StreamEnd::TrailingData { second_member } => LogOutcome::TrailingData {
            second_member: *second_member,
        },
        _ if found.sha256 != expected => mismatch(&found),
        StreamEnd::Clean => LogOutcome::Valid,
        // Beyond the CLI, which calls a stream cut after its data valid.
        StreamEnd::Truncated => LogOutcome::InvalidFormat {
            reason: "gzip stream ends before its trailer".to_owned(),
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
    fn trailing_bytes_and_second_members_are_reported_before_the_hash() {
        let mut z = gz(LOG);
        z.extend_from_slice(b"garbage");
        assert_eq!(
            check_log(&z[..], &sha(LOG)),
            LogOutcome::TrailingData {
                second_member: false
            }
        );
        let mut z = gz(LOG);
        z.extend_from_slice(&gz(b"{\"Records\":[]}"));
        assert_eq!(
            check_log(&z[..], &sha(LOG)),
            LogOutcome::TrailingData {
                second_member: true
            }
        );
        // As in awscli 1.46.3: the trailing data is the verdict even when the hash differs.
        assert_eq!(
            check_log(&z[..], &sha(b"other")).message(),
            "INVALID: unexpected data after end of compressed stream"
        );
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

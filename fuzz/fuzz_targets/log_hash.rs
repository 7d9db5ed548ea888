//! Streaming gunzip + SHA-256: never panics, reading in any chunking gives the same result as
//! reading at once, and the verdict-relevant facts (how the stream ended; the content's hash when
//! a member was complete) agree with flate2's own `GzDecoder`.
#![no_main]

use std::io::Read;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trailproof::loghash::{inflate_and_hash, StreamEnd};
use trailproof_testkit::{reference_gunzip, ReferenceEnd};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Gzip-ish bytes; half the time wrapped into a real gzip stream so the fuzzer reaches the
    /// trailer and multi-member paths.
    data: Vec<u8>,
    wrap: bool,
    chunks: Vec<u8>,
}

struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    i: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let step = self.sizes.get(self.i % self.sizes.len().max(1)).copied().unwrap_or(255).max(1);
        self.i += 1;
        let n = usize::from(step).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: Input| {
    let bytes = if input.wrap {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, &input.data).expect("in memory");
        let mut z = e.finish().expect("in memory");
        z.extend_from_slice(&input.chunks);
        z
    } else {
        input.data.clone()
    };
    let whole = inflate_and_hash(&bytes[..]);
    let chunked = inflate_and_hash(Chunked { data: &bytes, sizes: &input.chunks, i: 0 });
    assert_eq!(whole, chunked);
    let reference = reference_gunzip(&bytes);
    let end = match &whole.end {
        StreamEnd::Clean => ReferenceEnd::Clean,
        StreamEnd::TrailingData { second_member: true } => ReferenceEnd::SecondMember,
        StreamEnd::TrailingData { second_member: false } => ReferenceEnd::TrailingData,
        StreamEnd::Truncated => ReferenceEnd::Truncated,
        StreamEnd::Corrupt(_) => ReferenceEnd::Corrupt,
        StreamEnd::SourceError(e) => panic!("in-memory source failed: {e}"),
    };
    assert_eq!(end, reference.end, "{whole:?}");
    if matches!(end, ReferenceEnd::Clean | ReferenceEnd::SecondMember | ReferenceEnd::TrailingData) {
        assert_eq!((&whole.sha256, whole.inflated_len), (&reference.sha256, reference.inflated_len));
    }
});

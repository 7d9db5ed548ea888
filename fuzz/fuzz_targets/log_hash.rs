//! Streaming gunzip + SHA-256: never panics, and reading in any chunking gives the same result
//! as reading at once.
#![no_main]

use std::io::Read;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trailproof::loghash::inflate_and_hash;

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
});

//! Issue #23 item 3: which gzip inflaters can say where the first gzip member ends (so that bytes
//! or a second member appended after it are caught), and how fast each is on real CloudTrail log
//! files, against libdeflate (the ceiling probe's inflater, which cannot say where the member ends
//! through its safe wrapper).
//!
//! Usage: `inflaters DIR [--passes N] [--rounds N]`. Every `*.gz` file under DIR is loaded into
//! memory; each inflater then gunzips all of them, `--passes` times per round (the median pass
//! counts), for `--rounds` rounds spread over time (round-major, so machine noise hits all
//! inflaters alike). Time is the CPU time of this thread (`cpu-time`, `CLOCK_THREAD_CPUTIME_ID`):
//! the machine is shared with builds. Two workloads: "inflate" (gunzip, CRC-32 and length checked,
//! no SHA-256) and "gunzip + SHA-256" (what trailproof does per log file).
//!
//! Correctness: every inflater's SHA-256 of every file must equal zlib-rs's. Trailing data: each
//! inflater is given one file clean, with junk appended, with another log file's gzip member
//! appended, and with the file appended to itself (a second member whose trailer, the object's
//! last 8 bytes, is the first member's own CRC-32 and length: what a trailer comparison accepts).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use cpu_time::ThreadTime;
use sha2::{Digest as _, Sha256};

/// What one gunzip produced.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    /// SHA-256 of the inflated bytes (zeros when not hashing).
    sha256: [u8; 32],
    /// Inflated length.
    len: u64,
    /// Where the first gzip member ends in the input (header + deflate + 8-byte trailer), when
    /// the inflater's API can tell; `None` when it cannot.
    member_end: Option<usize>,
}

/// How the inflater's safe API relates to the end of the first member.
#[derive(Clone, Copy)]
enum EndReport {
    /// It reports the input it consumed (exactly, checked below).
    Reports(&'static str),
    /// It does not.
    Cannot(&'static str),
}

trait Inflater {
    fn name(&self) -> &'static str;
    fn end_report(&self) -> EndReport;
    /// Gunzips the first member of `gz`; hashes the output when `hash`.
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String>;
}

// ---------------------------------------------------------------------------------------------
// gzip framing for the raw-deflate inflaters (as trailproof's loghash does it)

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

/// Length of the gzip header at the start of `gz`.
fn gzip_header_len(gz: &[u8]) -> Result<usize, String> {
    let bad = || "invalid gzip header".to_owned();
    if gz.len() < 10 || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 || gz[3] & 0xe0 != 0 {
        return Err(bad());
    }
    let flags = gz[3];
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let x = gz.get(pos..pos + 2).ok_or_else(bad)?;
        pos += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = gz.get(pos..).ok_or_else(bad)?;
            pos += rest.iter().position(|&b| b == 0).ok_or_else(bad)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    if pos > gz.len() {
        return Err(bad());
    }
    Ok(pos)
}

/// Checks the 8-byte trailer at `at` against the inflated bytes' CRC-32 and length; returns the
/// member's end.
fn check_trailer(gz: &[u8], at: usize, crc: u32, len: u64) -> Result<usize, String> {
    let t = gz.get(at..at + 8).ok_or("truncated gzip trailer")?;
    let stored_crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
    let stored_len = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
    if stored_crc != crc || stored_len != len as u32 {
        return Err("gzip trailer does not match".to_owned());
    }
    Ok(at + 8)
}

/// ISIZE, the last 4 bytes: used only to size the output buffer of whole-buffer inflaters (an
/// object whose last bytes lie gets a too small buffer and fails, never a wrong answer).
fn isize_hint(gz: &[u8]) -> usize {
    match gz.len().checked_sub(4).and_then(|i| gz.get(i..)) {
        Some(t) => u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize,
        None => 0,
    }
}

fn digest(hash: bool, out: &[u8]) -> [u8; 32] {
    if hash {
        Sha256::digest(out).into()
    } else {
        [0; 32]
    }
}

// ---------------------------------------------------------------------------------------------
// flate2 (zlib-rs, or zlib-ng with `--features zlib-ng`), raw deflate, header parsed here

#[cfg(not(feature = "zlib-ng"))]
const FLATE2_BACKEND: &str = "zlib-rs";
#[cfg(feature = "zlib-ng")]
const FLATE2_BACKEND: &str = "zlib-ng";

/// What trailproof's `loghash` does today: 64 KiB of output at a time, hashed as it comes.
struct Flate2Streamed {
    d: flate2::Decompress,
    out: Vec<u8>,
}

impl Inflater for Flate2Streamed {
    fn name(&self) -> &'static str {
        if cfg!(feature = "zlib-ng") {
            "zlib-ng (flate2 `zlib-ng`), streamed 64 KiB"
        } else {
            "zlib-rs (flate2 `zlib-rs`), streamed 64 KiB (trailproof today)"
        }
    }
    fn end_report(&self) -> EndReport {
        EndReport::Reports("raw deflate + `Decompress::total_in()`")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        let h = gzip_header_len(gz)?;
        self.d.reset(false);
        let mut sha = Sha256::new();
        let mut crc = crc32fast::Hasher::new();
        let mut len = 0u64;
        loop {
            let before_in = self.d.total_in() as usize;
            let before_out = self.d.total_out();
            let status = self
                .d
                .decompress(&gz[h + before_in..], &mut self.out, flate2::FlushDecompress::None)
                .map_err(|e| e.to_string())?;
            let produced = (self.d.total_out() - before_out) as usize;
            let chunk = &self.out[..produced];
            if hash {
                sha.update(chunk);
            }
            crc.update(chunk);
            len += produced as u64;
            match status {
                flate2::Status::StreamEnd => break,
                _ if produced == 0 && self.d.total_in() as usize == before_in => {
                    return Err("no progress (truncated or corrupt)".to_owned())
                }
                _ => {}
            }
        }
        let end = check_trailer(gz, h + self.d.total_in() as usize, crc.finalize(), len)?;
        let sha256 = if hash { sha.finalize().into() } else { [0; 32] };
        Ok(Outcome { sha256, len, member_end: Some(end) })
    }
}

/// The same backend, one call into a buffer sized from ISIZE.
struct Flate2Whole {
    d: flate2::Decompress,
    out: Vec<u8>,
}

impl Inflater for Flate2Whole {
    fn name(&self) -> &'static str {
        if cfg!(feature = "zlib-ng") {
            "zlib-ng (flate2 `zlib-ng`), whole buffer"
        } else {
            "zlib-rs (flate2 `zlib-rs`), whole buffer"
        }
    }
    fn end_report(&self) -> EndReport {
        EndReport::Reports("raw deflate + `Decompress::total_in()`")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        let h = gzip_header_len(gz)?;
        self.d.reset(false);
        self.out.resize(isize_hint(gz).max(1), 0);
        let status = self
            .d
            .decompress(&gz[h..], &mut self.out, flate2::FlushDecompress::Finish)
            .map_err(|e| e.to_string())?;
        if status != flate2::Status::StreamEnd {
            return Err(format!("not at stream end: {status:?}"));
        }
        let out = &self.out[..self.d.total_out() as usize];
        let end = check_trailer(gz, h + self.d.total_in() as usize, crc32fast::hash(out), out.len() as u64)?;
        Ok(Outcome { sha256: digest(hash, out), len: out.len() as u64, member_end: Some(end) })
    }
}

// ---------------------------------------------------------------------------------------------
// zlib-rs's own safe API (`zlib_rs::Inflate`), whole buffer: the reference for correctness

struct ZlibRsWhole {
    d: zlib_rs::Inflate,
    out: Vec<u8>,
}

impl Inflater for ZlibRsWhole {
    fn name(&self) -> &'static str {
        "zlib-rs (`zlib_rs::Inflate` directly), whole buffer"
    }
    fn end_report(&self) -> EndReport {
        EndReport::Reports("raw deflate + `Inflate::total_in()`")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        let h = gzip_header_len(gz)?;
        self.d.reset(false);
        self.out.resize(isize_hint(gz).max(1), 0);
        let status = self
            .d
            .decompress(&gz[h..], &mut self.out, zlib_rs::InflateFlush::Finish)
            .map_err(|e| format!("{e:?}"))?;
        if status != zlib_rs::Status::StreamEnd {
            return Err(format!("not at stream end: {status:?}"));
        }
        let out = &self.out[..self.d.total_out() as usize];
        let end = check_trailer(gz, h + self.d.total_in() as usize, crc32fast::hash(out), out.len() as u64)?;
        Ok(Outcome { sha256: digest(hash, out), len: out.len() as u64, member_end: Some(end) })
    }
}

// ---------------------------------------------------------------------------------------------
// miniz_oxide (flate2's `rust_backend`), its core API, whole buffer

struct MinizWhole {
    d: Box<miniz_oxide::inflate::core::DecompressorOxide>,
    out: Vec<u8>,
}

impl Inflater for MinizWhole {
    fn name(&self) -> &'static str {
        "miniz_oxide 0.9 (`inflate::core::decompress`), whole buffer"
    }
    fn end_report(&self) -> EndReport {
        EndReport::Reports("raw deflate; `decompress` returns the input bytes consumed")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        let h = gzip_header_len(gz)?;
        self.d.init();
        self.out.resize(isize_hint(gz).max(1), 0);
        let (status, consumed, written) = miniz_oxide::inflate::core::decompress(
            &mut self.d,
            &gz[h..],
            &mut self.out,
            0,
            TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        if status != miniz_oxide::inflate::TINFLStatus::Done {
            return Err(format!("{status:?}"));
        }
        let out = &self.out[..written];
        let end = check_trailer(gz, h + consumed, crc32fast::hash(out), out.len() as u64)?;
        Ok(Outcome { sha256: digest(hash, out), len: out.len() as u64, member_end: Some(end) })
    }
}

// ---------------------------------------------------------------------------------------------
// zune-inflate

struct Zune;

impl Inflater for Zune {
    fn name(&self) -> &'static str {
        "zune-inflate 0.2 (`decode_gzip`)"
    }
    fn end_report(&self) -> EndReport {
        EndReport::Cannot("returns only the output `Vec`; its input position is private")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        let options = zune_inflate::DeflateOptions::default()
            .set_size_hint(isize_hint(gz))
            .set_confirm_checksum(true);
        let out = zune_inflate::DeflateDecoder::new_with_options(gz, options)
            .decode_gzip()
            .map_err(|e| format!("{e:?}").chars().take(80).collect::<String>())?;
        Ok(Outcome { sha256: digest(hash, &out), len: out.len() as u64, member_end: None })
    }
}

// ---------------------------------------------------------------------------------------------
// libdeflate (libdeflater): the ceiling probe's inflater

struct Libdeflate {
    d: libdeflater::Decompressor,
    out: Vec<u8>,
}

impl Inflater for Libdeflate {
    fn name(&self) -> &'static str {
        "libdeflate 1.26 (`libdeflater::gzip_decompress`)"
    }
    fn end_report(&self) -> EndReport {
        EndReport::Cannot("`gzip_decompress` returns the output size only (`_ex` is not wrapped)")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        self.out.resize(isize_hint(gz).max(1), 0);
        let n = self.d.gzip_decompress(gz, &mut self.out).map_err(|e| e.to_string())?;
        let out = &self.out[..n];
        Ok(Outcome { sha256: digest(hash, out), len: n as u64, member_end: None })
    }
}

// ---------------------------------------------------------------------------------------------
// zenflate: a pure-Rust port of libdeflate (`forbid(unsafe_code)` by default)

struct ZenflateWhole {
    d: zenflate::Decompressor,
    out: Vec<u8>,
}

impl Inflater for ZenflateWhole {
    fn name(&self) -> &'static str {
        "zenflate 0.4 (`gzip_decompress`), whole buffer"
    }
    fn end_report(&self) -> EndReport {
        EndReport::Reports("`DecompressOutcome::input_consumed` (header + deflate + trailer)")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        self.out.resize(isize_hint(gz).max(1), 0);
        let r = self
            .d
            .gzip_decompress(gz, &mut self.out, zenflate::Unstoppable)
            .map_err(|e| format!("{e:?}"))?;
        let out = &self.out[..r.output_written];
        Ok(Outcome {
            sha256: digest(hash, out),
            len: out.len() as u64,
            member_end: Some(r.input_consumed),
        })
    }
}

struct ZenflateStreamed;

impl Inflater for ZenflateStreamed {
    fn name(&self) -> &'static str {
        "zenflate 0.4 (`StreamDecompressor::gzip`), streamed 64 KiB"
    }
    fn end_report(&self) -> EndReport {
        EndReport::Reports("tried: what is left of the `&[u8]` source once done; the decoder reads ahead, so not the member end")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        let mut d = zenflate::StreamDecompressor::gzip(gz, 64 * 1024);
        let mut sha = Sha256::new();
        let mut len = 0u64;
        loop {
            let chunk = d.fill().map_err(|e| format!("{e:?}"))?;
            let n = chunk.len();
            if n == 0 {
                if d.is_done() {
                    break;
                }
                return Err("no progress (truncated or corrupt)".to_owned());
            }
            if hash {
                sha.update(chunk);
            }
            len += n as u64;
            d.advance(n);
        }
        let left = d.source_ref().len();
        let sha256 = if hash { sha.finalize().into() } else { [0; 32] };
        Ok(Outcome { sha256, len, member_end: Some(gz.len() - left) })
    }
}

// ---------------------------------------------------------------------------------------------
// ISA-L (isal-rs), with `--features isal`

#[cfg(feature = "isal")]
struct Isal {
    out: Vec<u8>,
}

#[cfg(feature = "isal")]
impl Inflater for Isal {
    fn name(&self) -> &'static str {
        "ISA-L 2.31 (isal-rs 0.5 `decompress_into`)"
    }
    fn end_report(&self) -> EndReport {
        EndReport::Cannot("`decompress_into` returns `total_out` only; the state is private")
    }
    fn gunzip(&mut self, gz: &[u8], hash: bool) -> Result<Outcome, String> {
        self.out.resize(isize_hint(gz).max(1), 0);
        let n = isal::decompress_into(gz, &mut self.out, isal::Codec::Gzip)
            .map_err(|e| format!("{e:?}"))?;
        let out = &self.out[..n];
        Ok(Outcome { sha256: digest(hash, out), len: n as u64, member_end: None })
    }
}

fn inflaters() -> Vec<Box<dyn Inflater>> {
    #[allow(unused_mut)]
    let mut v: Vec<Box<dyn Inflater>> = vec![
        // The reference (zlib-rs) first.
        Box::new(ZlibRsWhole { d: zlib_rs::Inflate::new(false, 15), out: Vec::new() }),
        Box::new(Flate2Streamed { d: flate2::Decompress::new(false), out: vec![0; 64 * 1024] }),
        Box::new(Flate2Whole { d: flate2::Decompress::new(false), out: Vec::new() }),
        Box::new(MinizWhole { d: Box::default(), out: Vec::new() }),
        Box::new(Zune),
        Box::new(ZenflateWhole { d: zenflate::Decompressor::new(), out: Vec::new() }),
        Box::new(ZenflateStreamed),
        Box::new(Libdeflate { d: libdeflater::Decompressor::new(), out: Vec::new() }),
    ];
    #[cfg(feature = "isal")]
    v.push(Box::new(Isal { out: Vec::new() }));
    v
}

// ---------------------------------------------------------------------------------------------

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "gz") {
            out.push(p);
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One pass over every file; returns thread CPU time.
fn pass(inf: &mut dyn Inflater, files: &[Vec<u8>], hash: bool) -> Duration {
    let start = ThreadTime::now();
    let mut check = 0u64;
    for f in files {
        match inf.gunzip(f, hash) {
            Ok(o) => check = check.wrapping_add(o.len).wrapping_add(u64::from(o.sha256[0])),
            Err(e) => panic!("{}: {e}", inf.name()),
        }
    }
    let t = start.elapsed();
    std::hint::black_box(check);
    t
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut passes = 5usize;
    let mut rounds = 3usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--passes" => passes = args.next().and_then(|s| s.parse().ok()).expect("--passes N"),
            "--rounds" => rounds = args.next().and_then(|s| s.parse().ok()).expect("--rounds N"),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir.expect("usage: inflaters DIR [--passes N] [--rounds N]");
    let mut paths = Vec::new();
    collect(&dir, &mut paths);
    paths.sort();
    let files: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).expect("read")).collect();
    assert!(files.len() >= 2, "need at least 2 .gz files under {}", dir.display());
    let gz_bytes: usize = files.iter().map(Vec::len).sum();

    let mut infs = inflaters();

    // Correctness: every file, every inflater, against zlib-rs (the first).
    let reference: Vec<Outcome> = files
        .iter()
        .map(|f| infs[0].gunzip(f, true).expect("zlib-rs fails on a log file"))
        .collect();
    let raw_bytes: u64 = reference.iter().map(|o| o.len).sum();
    println!(
        "{} files, {:.1} MB gzip, {:.1} MB inflated ({:.1} kB per file); flate2 backend: {FLATE2_BACKEND}",
        files.len(),
        gz_bytes as f64 / 1e6,
        raw_bytes as f64 / 1e6,
        raw_bytes as f64 / 1e3 / files.len() as f64
    );
    println!("\n## Correctness and trailing data\n");
    let a = &files[0];
    let b = &files[1];
    let mut junk = a.clone();
    junk.extend_from_slice(b"appended junk\n");
    let mut other = a.clone();
    other.extend_from_slice(b);
    let mut itself = a.clone();
    itself.extend_from_slice(a);
    println!("member length {} bytes; cases: +14 bytes junk, + another log's member, + itself\n", a.len());
    println!("| inflater | same SHA-256 as zlib-rs on all files | reports member end? | clean | + junk | + other member | + itself (same trailer) |");
    println!("|---|---|---|---|---|---|---|");
    let mut sound = Vec::new();
    for inf in infs.iter_mut() {
        let mut mismatches = 0;
        for (f, r) in files.iter().zip(&reference) {
            match inf.gunzip(f, true) {
                Ok(o) if o.sha256 == r.sha256 && o.len == r.len => {}
                _ => mismatches += 1,
            }
        }
        let expect = reference[0].sha256;
        let mut exact = true;
        let mut cells = Vec::new();
        for case in [a, &junk, &other, &itself] {
            cells.push(match inf.gunzip(case, true) {
                Ok(o) => {
                    let same = if o.sha256 == expect { "first member's bytes" } else { "OTHER bytes" };
                    match o.member_end {
                        Some(e) => {
                            exact &= e == a.len();
                            if e == case.len() && e == a.len() {
                                format!("ok, end {e} = object length")
                            } else if e == a.len() {
                                format!("ok, end {e} < {}: **caught**", case.len())
                            } else {
                                format!("end {e} of {}: WRONG ({same})", case.len())
                            }
                        }
                        None if case.len() == a.len() => format!("ok ({same})"),
                        None => format!("accepted, **not caught** ({same})"),
                    }
                }
                Err(e) => format!("refused: {e}"),
            });
        }
        let report = match inf.end_report() {
            EndReport::Reports(how) if exact => {
                sound.push(true);
                format!("**yes**: {how}")
            }
            EndReport::Reports(how) => {
                sound.push(false);
                format!("NO (count inexact): {how}")
            }
            EndReport::Cannot(why) => {
                sound.push(false);
                format!("no: {why}")
            }
        };
        println!(
            "| {} | {} | {} | {} |",
            inf.name(),
            if mismatches == 0 { "yes".to_owned() } else { format!("**NO: {mismatches} differ**") },
            report,
            cells.join(" | ")
        );
    }

    // Speed.
    let n_inf = infs.len();
    // [inflater][workload] -> per-round medians of CPU seconds per pass
    let mut rounds_cpu: Vec<[Vec<f64>; 2]> = (0..n_inf).map(|_| [Vec::new(), Vec::new()]).collect();
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        for (i, inf) in infs.iter_mut().enumerate() {
            for (w, hash) in [false, true].into_iter().enumerate() {
                pass(inf.as_mut(), &files, hash); // warm-up
                let mut t: Vec<f64> =
                    (0..passes).map(|_| pass(inf.as_mut(), &files, hash).as_secs_f64()).collect();
                rounds_cpu[i][w].push(median(&mut t));
            }
        }
    }
    let nfiles = files.len() as f64;
    let mb = raw_bytes as f64 / 1e6;
    // The ceiling's inflater: libdeflate.
    let ld = infs.iter().position(|i| i.name().starts_with("libdeflate")).expect("libdeflate");
    let ld_us = median(&mut rounds_cpu[ld][1].clone()) * 1e6 / nfiles;
    println!(
        "\n## Speed: single core, CPU time of the thread, median of {passes} passes, median (min–max) of {rounds} rounds\n"
    );
    println!("Projection: trailproof per file = 76 µs × (inflater's gunzip+SHA-256 µs / libdeflate's here) + 8 µs; % = 76 / that.\n");
    println!("| inflater | reports member end? | inflate MB/s | gunzip + SHA-256 MB/s | CPU µs per file (gunzip + SHA-256) | trailproof would reach |");
    println!("|---|---|--:|--:|--:|--:|");
    for (i, inf) in infs.iter().enumerate() {
        let fmt = |v: &[f64]| {
            let mut s = v.to_vec();
            let m = median(&mut s);
            let lo = s.first().copied().unwrap_or(m);
            let hi = s.last().copied().unwrap_or(m);
            (mb / m, mb / hi, mb / lo, m)
        };
        let (inf_mbs, inf_lo, inf_hi, _) = fmt(&rounds_cpu[i][0]);
        let (sha_mbs, sha_lo, sha_hi, sha_s) = fmt(&rounds_cpu[i][1]);
        let us = sha_s * 1e6 / nfiles;
        let projected = 76.0 * us / ld_us + 8.0;
        println!(
            "| {} | {} | {:.0} ({:.0}–{:.0}) | {:.0} ({:.0}–{:.0}) | {:.1} | {:.0}% ({:.0} µs) |",
            inf.name(),
            if sound[i] { "yes" } else { "no" },
            inf_mbs,
            inf_lo,
            inf_hi,
            sha_mbs,
            sha_lo,
            sha_hi,
            us,
            100.0 * 76.0 / projected,
            projected
        );
    }
}

//! trailproof decodes gzip framing itself (to reuse its buffers from one log file to the next);
//! flate2's `GzDecoder` is the reference. On valid streams, every kind of damage, and every way
//! of cutting a stream, both must agree on the verdict-relevant facts: how the stream ended and,
//! where a member was complete, the hash and length of its content.

use std::io::Write;

use trailproof::loghash::{inflate_and_hash, StreamEnd};
use trailproof_testkit::{gzip, reference_gunzip, ReferenceEnd};

fn kind(end: &StreamEnd) -> ReferenceEnd {
    match end {
        StreamEnd::Clean => ReferenceEnd::Clean,
        StreamEnd::TrailingData {
            second_member: true,
        } => ReferenceEnd::SecondMember,
        StreamEnd::TrailingData {
            second_member: false,
        } => ReferenceEnd::TrailingData,
        StreamEnd::Truncated => ReferenceEnd::Truncated,
        StreamEnd::Corrupt(_) => ReferenceEnd::Corrupt,
        StreamEnd::SourceError(e) => panic!("in-memory source failed: {e}"),
    }
}

fn agree(bytes: &[u8], what: &str) {
    let ours = inflate_and_hash(bytes);
    let reference = reference_gunzip(bytes);
    assert_eq!(kind(&ours.end), reference.end, "{what}: {ours:?}");
    if matches!(
        reference.end,
        ReferenceEnd::Clean | ReferenceEnd::SecondMember | ReferenceEnd::TrailingData
    ) {
        assert_eq!(ours.sha256, reference.sha256, "{what}");
        assert_eq!(ours.inflated_len, reference.inflated_len, "{what}");
    }
}

fn log(records: usize) -> Vec<u8> {
    let mut s = String::from("{\"Records\":[");
    for i in 0..records {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-03-01T00:{:02}:00Z\",\"eventName\":\"GetObject\",\"requestID\":\"{i:08x}\"}}",
            i % 60
        ));
    }
    s.push_str("]}");
    s.into_bytes()
}

/// A gzip member with every optional header field, the header CRC included.
fn gzip_with_header_fields(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .filename("log.json")
        .comment("a comment")
        .extra(vec![1, 2, 3, 4])
        .write(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("in memory");
    let mut z = e.finish().expect("in memory");
    // flate2 does not write FHCRC; add it by hand (the low 16 bits of the header's CRC-32).
    let header_len = 10 + 2 + 4 + "log.json".len() + 1 + "a comment".len() + 1;
    z[3] |= 0x02;
    let crc = crc32(&z[..header_len]) as u16;
    z.splice(header_len..header_len, crc.to_le_bytes());
    z
}

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE), independent of the implementations under test.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn valid_streams_agree() {
    for data in [Vec::new(), b"x".to_vec(), log(3), log(2_000)] {
        agree(&gzip(&data), "plain");
        let z = gzip_with_header_fields(&data);
        assert_eq!(inflate_and_hash(&z[..]).end, StreamEnd::Clean);
        agree(&z, "header fields");
    }
}

#[test]
fn every_truncation_agrees() {
    for z in [gzip(&log(40)), gzip_with_header_fields(&log(5))] {
        for len in 0..z.len() {
            agree(&z[..len], &format!("cut at {len} of {}", z.len()));
        }
    }
}

#[test]
fn every_flipped_byte_agrees() {
    for z in [gzip(&log(40)), gzip_with_header_fields(&log(5))] {
        for at in 0..z.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut bad = z.clone();
                bad[at] ^= mask;
                agree(&bad, &format!("byte {at} ^ {mask:#x}"));
            }
        }
    }
}

#[test]
fn whatever_follows_a_member_agrees() {
    let z = gzip(&log(10));
    for extra in [
        &b"\0"[..],
        b"\x1f",
        b"\x1f\x8b",
        b"garbage",
        &gzip(b"{\"Records\":[]}"),
        &z,
    ] {
        let mut bytes = z.clone();
        bytes.extend_from_slice(extra);
        agree(&bytes, &format!("followed by {extra:?}"));
    }
}

#[test]
fn headers_that_are_not_gzip_agree() {
    let z = gzip(&log(3));
    let mut reserved = z.clone();
    reserved[3] |= 0x20;
    let mut method = z.clone();
    method[2] = 7;
    let mut long_name = z[..10].to_vec();
    long_name[3] |= 0x08;
    long_name.extend(std::iter::repeat_n(b'a', 70_000));
    long_name.push(0);
    long_name.extend_from_slice(&z[10..]);
    for (what, bytes) in [
        ("reserved flag", reserved),
        ("method", method),
        ("file name longer than 64 KiB", long_name),
        ("not gzip", log(3)),
    ] {
        agree(&bytes, what);
    }
}

#[test]
fn a_hasher_reused_across_files_gives_fresh_results() {
    let good = gzip(&log(30));
    let reference = reference_gunzip(&good);
    let mut cut = good.clone();
    cut.truncate(good.len() / 2);
    let mut hasher = trailproof::loghash::LogHasher::new();
    for bytes in [&good, &cut, &log(2), &good] {
        let ours = hasher.inflate_and_hash(&bytes[..]);
        assert_eq!(kind(&ours.end), reference_gunzip(bytes).end);
    }
    assert_eq!(hasher.inflate_and_hash(&good[..]).sha256, reference.sha256);
}

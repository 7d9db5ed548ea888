//! Digest parsing from gzip bytes: never panics, stays within its limits, the string to sign
//! is a pure function of the bytes, and the streaming passes (which large digests take) give what
//! the whole-text parse gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailproof::digest::{
    parse, parse_inflated, parse_inflated_streamed, parse_streamed, FormatError, Limits,
    ParsedDigest,
};

/// What a parse shows the rest of the program.
fn seen(r: &Result<ParsedDigest, FormatError>) -> String {
    match r {
        Err(e) => format!("error {e:?}"),
        Ok(d) => format!(
            "{} {} {} {:?} {:?}",
            d.inflated_len,
            d.log_file_count(),
            d.string_to_sign(),
            (d.start_time(), d.end_time(), d.previous(), d.has_no_previous_link(), d.previous_hash()),
            d.log_files().map_err(|e| e.to_string()),
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::new(1 << 20, 10_000);
    let whole = [parse(data, &limits), parse_inflated(data, &limits)];
    let streamed = [parse_streamed(data, &limits), parse_inflated_streamed(data, &limits)];
    for (a, b) in whole.iter().zip(&streamed) {
        assert_eq!(seen(a), seen(b), "the streaming passes differ from the whole text");
    }
    for parsed in whole.into_iter().flatten() {
        assert!(parsed.inflated_len <= limits.max_digest_bytes);
        assert!(parsed.log_file_count() <= limits.max_log_files_per_digest);
        // The second pass builds exactly the entries the first counted.
        let entries = parsed.log_files().expect("a document that parsed parses again");
        assert_eq!(entries.len(), parsed.log_file_count());
        assert_eq!(parsed.string_to_sign(), parsed.clone().string_to_sign());
        let _ = (parsed.start_time(), parsed.end_time(), parsed.previous(), parsed.has_no_previous_link());
    }
});

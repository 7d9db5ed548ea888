//! Digest parsing from gzip bytes: never panics, stays within its limits, and the string to sign
//! is a pure function of the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailproof::digest::{parse, parse_inflated, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::new(1 << 20, 10_000);
    for parsed in [parse(data, &limits), parse_inflated(data, &limits)].into_iter().flatten() {
        assert!(parsed.inflated_len <= limits.max_digest_bytes);
        assert!(parsed.log_file_count() <= limits.max_log_files_per_digest);
        // The second pass builds exactly the entries the first counted.
        let entries = parsed.log_files().expect("a document that parsed parses again");
        assert_eq!(entries.len(), parsed.log_file_count());
        assert_eq!(parsed.string_to_sign(), parsed.clone().string_to_sign());
        let _ = (parsed.start_time(), parsed.end_time(), parsed.previous(), parsed.has_no_previous_link());
    }
});

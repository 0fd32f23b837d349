//! The size and speed budget: 1,000,000 real-looking records must take at
//! most 32 bytes each on disk. Times are printed (run with --nocapture, and
//! --release for meaningful ones) but not asserted: CI machines vary.

mod common;

use std::time::Instant;

use memtrace_format::{decode, encode_with, EncodeOptions};

#[test]
fn a_million_records_fit_the_budget() {
    let capture = common::realistic(1_000_000, 7);
    let n = capture.records.len();
    assert!(n > 990_000, "{n} records");

    for (label, options) in [
        ("zstd 3", EncodeOptions::default()),
        ("raw", EncodeOptions { zstd_level: None }),
    ] {
        let t = Instant::now();
        let bytes = encode_with(&capture, &options);
        let encoded = t.elapsed();
        let t = Instant::now();
        let back = decode(&bytes).expect("decodes");
        let decoded = t.elapsed();
        assert!(back == capture, "{label}: round trip differs");
        let per = bytes.len() as f64 / n as f64;
        eprintln!(
            "{label}: {n} records, {} bytes, {per:.2} bytes/record, encode {:.1} ms, decode {:.1} ms",
            bytes.len(),
            encoded.as_secs_f64() * 1e3,
            decoded.as_secs_f64() * 1e3,
        );
        assert!(
            per <= 32.0,
            "{label}: {per:.2} bytes per record is over budget"
        );
    }
}

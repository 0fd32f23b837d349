//! Damaged input never panics and always gets a one-line error.
//!
//! Two kinds of damage: blind (truncation, bit flips, overwritten bytes),
//! which the per-section CRC must catch every time, and damage with the CRC
//! recomputed, which gets past the checksum and so tests that the parsers
//! themselves never panic, never over-allocate, and return either an error
//! or a capture whose ids all index their tables. Seeded and bounded in time.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use common::Rng;
use memtrace_format::{decode, encode_with, Capture, EncodeOptions, FormatError};

const SECTION_HEADER: usize = 20;
const PREAMBLE: usize = 10;

/// Decodes `bytes`, turning a panic into a test failure that says which
/// input caused it, and checking the error's message is one line.
fn try_decode(bytes: &[u8], what: &str) -> Result<Capture, FormatError> {
    let result = catch_unwind(AssertUnwindSafe(|| decode(bytes)))
        .unwrap_or_else(|_| panic!("decode panicked on {what}"));
    if let Err(e) = &result {
        let line = e.to_string();
        assert!(
            !line.is_empty() && !line.contains('\n') && !line.contains('\r'),
            "{what}: {line:?}"
        );
    }
    result
}

fn must_fail(bytes: &[u8], what: &str) -> String {
    match try_decode(bytes, what) {
        Ok(_) => panic!("{what}: decoded without error"),
        Err(e) => e.to_string(),
    }
}

/// A capture that decoded must be usable without checks: index everything.
fn use_every_id(c: &Capture) {
    let mut n = 0usize;
    for r in &c.records {
        let site = &c.sites[r.site as usize];
        n += c.strings[site.c_file as usize].len() + c.strings[r.sv_type as usize].len();
        n += c.perl_sites[site.perl_site as usize].line as usize;
        n += c.stacks[r.stack as usize].frames.len() + c.c_frames[r.c_frames as usize].frames.len();
    }
    std::hint::black_box(n);
}

/// (header offset, payload length) of each section.
fn sections(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = PREAMBLE;
    while pos + SECTION_HEADER <= bytes.len() {
        let len = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap()) as usize;
        out.push((pos, len));
        pos += SECTION_HEADER + len;
    }
    out
}

/// Recomputes the CRC of the section at `pos` after its payload changed
/// length to `len` (which it also writes).
fn fix_section(bytes: &mut [u8], pos: usize, len: usize) {
    bytes[pos + 8..pos + 16].copy_from_slice(&(len as u64).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[pos..pos + 16]);
    h.update(&bytes[pos + SECTION_HEADER..pos + SECTION_HEADER + len]);
    let crc = h.finalize();
    bytes[pos + 16..pos + 20].copy_from_slice(&crc.to_le_bytes());
}

fn small(seed: u64, zstd: bool) -> Vec<u8> {
    let level = if zstd { Some(3) } else { None };
    encode_with(
        &common::realistic(300, seed),
        &EncodeOptions { zstd_level: level },
    )
}

#[test]
fn every_truncation_fails() {
    // Raw, and big enough that the records section is compressed.
    for (n, zstd) in [(60, false), (250, true)] {
        let level = if zstd { Some(3) } else { None };
        let c = common::realistic(n, 1);
        let bytes = encode_with(&c, &EncodeOptions { zstd_level: level });
        assert!(try_decode(&bytes, "the whole capture").is_ok());
        let compressed = sections(&bytes)
            .iter()
            .any(|&(pos, _)| bytes[pos + 4] & 1 == 1);
        assert_eq!(compressed, zstd);
        eprintln!(
            "{n} records, zstd {zstd}: {} bytes, each truncation refused",
            bytes.len()
        );
        for len in 0..bytes.len() {
            let msg = must_fail(&bytes[..len], &format!("truncation to {len} (zstd {zstd})"));
            if len >= PREAMBLE {
                assert!(msg.starts_with("capture is truncated"), "at {len}: {msg}");
            }
        }
    }
}

#[test]
fn blind_damage_is_always_caught() {
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut rng = Rng(0x5eed);
    let mut cases = 0;
    for seed in 0..4 {
        for zstd in [false, true] {
            let good = small(seed, zstd);
            for _ in 0..2500 {
                let mut bytes = good.clone();
                let what = if rng.chance(50) {
                    let bit = rng.below(bytes.len() as u64 * 8) as usize;
                    bytes[bit / 8] ^= 1 << (bit % 8);
                    format!("flip of bit {bit} (seed {seed}, zstd {zstd})")
                } else {
                    let k = 1 + rng.below(8);
                    for _ in 0..k {
                        let at = rng.below(bytes.len() as u64) as usize;
                        bytes[at] = rng.next() as u8;
                    }
                    if bytes == good {
                        continue;
                    }
                    format!(
                        "{k} overwritten bytes (seed {seed}, zstd {zstd}, rng {})",
                        rng.0
                    )
                };
                must_fail(&bytes, &what);
                cases += 1;
            }
            if Instant::now() > deadline {
                break;
            }
        }
    }
    eprintln!("{cases} blind mutations, all refused");
    assert!(cases > 1000);
}

#[test]
fn damage_behind_a_valid_checksum_never_panics() {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut rng = Rng(0xfeed);
    let (mut cases, mut accepted) = (0, 0);
    'outer: for seed in 0..8 {
        for zstd in [false, true] {
            let good = small(seed, zstd);
            let secs = sections(&good);
            for _ in 0..1500 {
                let (pos, len) = secs[rng.below(secs.len() as u64) as usize];
                let mut head = good[..pos + SECTION_HEADER].to_vec();
                let mut payload = good[pos + SECTION_HEADER..pos + SECTION_HEADER + len].to_vec();
                let tail = &good[pos + SECTION_HEADER + len..];
                match rng.below(5) {
                    0 if !payload.is_empty() => {
                        let bit = rng.below(payload.len() as u64 * 8) as usize;
                        payload[bit / 8] ^= 1 << (bit % 8);
                    }
                    1 if !payload.is_empty() => {
                        for _ in 0..1 + rng.below(4) {
                            let at = rng.below(payload.len() as u64) as usize;
                            payload[at] =
                                [0x00, 0x7f, 0x80, 0xff, rng.next() as u8][rng.below(5) as usize];
                        }
                    }
                    2 => payload.truncate(rng.below(payload.len() as u64 + 1) as usize),
                    3 => {
                        // Huge varints where counts usually are.
                        let at = rng.below(payload.len() as u64 + 1) as usize;
                        let junk = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
                        payload.splice(at..at, junk.iter().copied());
                    }
                    _ => {
                        let at = rng.below(payload.len() as u64 + 1) as usize;
                        let end = (at + 1 + rng.below(16) as usize).min(payload.len());
                        payload.drain(at..end);
                    }
                }
                let new_len = payload.len();
                head.extend_from_slice(&payload);
                head.extend_from_slice(tail);
                fix_section(&mut head, pos, new_len);
                let what = format!(
                    "payload damage in section at {pos} (seed {seed}, zstd {zstd}, rng {})",
                    rng.0
                );
                if let Ok(c) = try_decode(&head, &what) {
                    use_every_id(&c);
                    accepted += 1;
                }
                cases += 1;
            }
            if Instant::now() > deadline {
                break 'outer;
            }
        }
    }
    eprintln!(
        "{cases} mutations behind valid checksums, {accepted} still decoded to valid captures"
    );
    assert!(cases > 1000);
}

#[test]
fn wrong_magic_newer_version_and_empty_input() {
    let good = small(3, true);
    assert_eq!(
        must_fail(b"", "empty input"),
        "empty (0 bytes): not a memtrace capture"
    );
    let msg = must_fail(b"#!/usr/bin/perl\nprint 1;\n", "a perl script");
    assert!(
        msg.starts_with("not a memtrace capture (bad magic)"),
        "{msg}"
    );

    let mut bytes = good.clone();
    bytes[0] = b'X';
    assert!(must_fail(&bytes, "bad first byte").contains("bad magic"));

    // What a text-mode copy does: CR LF -> LF.
    let mut mangled = good[..4].to_vec();
    mangled.extend_from_slice(&good[5..]);
    assert!(must_fail(&mangled, "CR LF -> LF").contains("binary mode"));
    // A copy that "converted" it to UTF-8.
    let mut utf8 = "\u{fffd}".as_bytes().to_vec();
    utf8.extend_from_slice(&good[1..]);
    assert!(must_fail(&utf8, "to UTF-8").contains("binary mode"));
    // And the 8th bit stripped.
    let mut stripped = good.clone();
    stripped[0] &= 0x7f;
    assert!(must_fail(&stripped, "8th bit stripped").contains("binary mode"));

    let mut newer = good.clone();
    newer[8..10].copy_from_slice(&7u16.to_le_bytes());
    assert_eq!(
        must_fail(&newer, "version 7"),
        "capture format version 7 is newer than this reader (2): upgrade Devel::MemTrace"
    );
    let mut zero = good.clone();
    zero[8..10].copy_from_slice(&0u16.to_le_bytes());
    assert!(must_fail(&zero, "version 0").starts_with("capture is corrupt"));

    let msg = must_fail(&good[..good.len() - SECTION_HEADER], "no end section");
    assert!(msg.contains("before its end section"), "{msg}");
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"junk");
    assert!(must_fail(&trailing, "trailing bytes").contains("4 bytes follow the end section"));
}

#[test]
fn blind_damage_in_bigger_captures_is_caught() {
    // A capture whose records section is large and compressed: flips land
    // in the zstd frame, which the CRC must catch before zstd sees it.
    let good = encode_with(&common::realistic(20_000, 9), &EncodeOptions::default());
    let mut rng = Rng(77);
    for _ in 0..200 {
        let mut bytes = good.clone();
        let bit = rng.below(bytes.len() as u64 * 8) as usize;
        bytes[bit / 8] ^= 1 << (bit % 8);
        let msg = must_fail(&bytes, &format!("flip of bit {bit}"));
        assert!(!msg.is_empty());
    }
}

//! The messages a person sees, hostile length fields, forward
//! compatibility (unknown sections are skipped), and files on disk.

mod common;

use memtrace_format::{
    decode, encode, encode_with, read_file, write_file, Capture, EncodeOptions, FormatError, Kind,
    PerlSite, Record, Site, MAGIC, VERSION,
};

const PREAMBLE: usize = 10;
const SECTION_HEADER: usize = 20;

/// A section as the spec describes it, CRC and all.
fn section(tag: &[u8; 4], flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&out);
    h.update(payload);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The capture's sections as (tag, whole section bytes).
fn split(bytes: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = PREAMBLE;
    while pos < bytes.len() {
        let len = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap()) as usize;
        let end = pos + SECTION_HEADER + len;
        out.push((
            bytes[pos..pos + 4].try_into().unwrap(),
            bytes[pos..end].to_vec(),
        ));
        pos = end;
    }
    out
}

fn join(parts: &[([u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&VERSION.to_le_bytes());
    for (_, s) in parts {
        out.extend_from_slice(s);
    }
    out
}

fn err(bytes: &[u8]) -> String {
    let e = decode(bytes).expect_err("must be refused");
    let line = e.to_string();
    assert!(!line.contains('\n'), "{line:?}");
    line
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

#[test]
fn the_layout_is_what_the_spec_says() {
    let c = common::realistic(100, 3);
    let bytes = encode(&c);
    assert_eq!(&bytes[..8], b"\x89MTR\r\n\x1a\n");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 2);
    let tags: Vec<[u8; 4]> = split(&bytes).into_iter().map(|(t, _)| t).collect();
    let want: Vec<[u8; 4]> = [
        b"HEAD", b"STRS", b"PSIT", b"STAK", b"CFRM", b"SITE", b"RECS", b"HIST", b"ARNA", b"HOLD",
        b"END.",
    ]
    .iter()
    .map(|t| **t)
    .collect();
    assert_eq!(tags, want);
    // The spec's own reader: rebuilding every section with this file's
    // `section` helper gives back the same bytes.
    let rebuilt: Vec<([u8; 4], Vec<u8>)> = split(&bytes)
        .into_iter()
        .map(|(t, s)| {
            let flags = u32::from_le_bytes(s[4..8].try_into().unwrap());
            (t, section(&t, flags, &s[SECTION_HEADER..]))
        })
        .collect();
    assert_eq!(join(&rebuilt), bytes);
}

#[test]
fn unknown_sections_are_skipped() {
    let c = common::realistic(100, 4);
    let mut parts = split(&encode(&c));
    // A later writer's section, before the end.
    let at = parts.len() - 1;
    parts.insert(at, (*b"LATR", section(b"LATR", 0, b"anything at all")));
    // Even with flags this reader does not know: it never looks inside.
    parts.insert(2, (*b"xtra", section(b"xtra", 0xff, &[0u8; 3000])));
    assert_eq!(decode(&join(&parts)).unwrap(), c);
}

#[test]
fn a_capture_written_before_holders_were_recorded_still_reads() {
    let c = common::realistic(100, 6);
    let parts: Vec<([u8; 4], Vec<u8>)> = split(&encode(&c))
        .into_iter()
        .filter(|(t, _)| t != b"HOLD")
        .collect();
    let read = decode(&join(&parts)).unwrap();
    assert!(read.holders.is_empty());
    assert_eq!(read, c);
}

#[test]
fn section_rules() {
    let c = common::realistic(100, 5);
    let parts = split(&encode(&c));

    let mut flagged = parts.clone();
    let payload = flagged[6].1[SECTION_HEADER..].to_vec();
    flagged[6].1 = section(b"RECS", 4, &payload);
    assert_eq!(
        err(&join(&flagged)),
        "capture section 'records' has flags 0x4 that this reader does not know: upgrade \
         Devel::MemTrace"
    );

    let mut twice = parts.clone();
    twice.insert(3, parts[1].clone());
    assert_eq!(
        err(&join(&twice)),
        "capture is corrupt: section 'strings' appears twice"
    );

    let mut missing = parts.clone();
    missing.remove(7);
    assert_eq!(
        err(&join(&missing)),
        "capture is corrupt: section 'history' is missing"
    );

    let mut swapped = parts.clone();
    swapped.swap(0, 1);
    assert_eq!(
        err(&join(&swapped)),
        "capture is corrupt: the first section is 'strings', not 'header'"
    );

    let mut bad_crc = encode(&c);
    let recs = PREAMBLE + parts[..6].iter().map(|(_, s)| s.len()).sum::<usize>();
    bad_crc[recs + SECTION_HEADER + 3] ^= 0x10;
    assert_eq!(
        err(&bad_crc),
        "capture is corrupt: checksum mismatch in section 'records'"
    );

    // Extra bytes after a known section's fields are a later version's
    // appended fields: ignored.
    let mut appended = parts.clone();
    let mut head = appended[0].1[SECTION_HEADER..].to_vec();
    head.extend_from_slice(b"\x05later");
    appended[0].1 = section(b"HEAD", 0, &head);
    assert_eq!(decode(&join(&appended)).unwrap(), c);
}

#[test]
fn huge_length_fields_allocate_nothing() {
    let c = common::realistic(100, 6);
    let parts = split(&encode(&c));

    // A section claiming 2^64-1 bytes.
    let mut huge = join(&parts[..1]);
    huge.extend_from_slice(b"STRS\0\0\0\0");
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    huge.extend_from_slice(&[0; 4]);
    huge.extend_from_slice(b"abc");
    assert_eq!(
        err(&huge),
        format!(
            "capture is truncated: section 'strings' needs {} bytes at offset {}, only 3 remain \
             (the writer was interrupted?)",
            u64::MAX,
            PREAMBLE + parts[0].1.len() + SECTION_HEADER
        )
    );

    // A strings table claiming 2^62 entries, behind a valid CRC.
    let mut many = parts.clone();
    let mut payload = varint(1 << 62);
    payload.extend_from_slice(&[0; 16]);
    many[1].1 = section(b"STRS", 0, &payload);
    let msg = err(&join(&many));
    assert!(
        msg.contains("claims 4611686018427387904 strings but only 16 bytes remain"),
        "{msg}"
    );

    // Records claiming 2^63 + 2^63 (overflowing) records.
    let mut recs = parts.clone();
    let mut payload = varint(1 << 63);
    payload.extend(varint(1 << 63));
    recs[6].1 = section(b"RECS", 0, &payload);
    assert!(err(&join(&recs)).contains("records but only 0 bytes remain"));

    // A compressed section declaring 1 TiB of output from a tiny frame.
    let mut bomb = parts.clone();
    let mut payload = varint(1 << 40);
    payload.extend(zstd::bulk::compress(b"tiny", 3).unwrap());
    bomb[1].1 = section(b"STRS", 1, &payload);
    assert_eq!(
        err(&join(&bomb)),
        "capture is corrupt: section 'strings' decompresses to 4 bytes, not the 1099511627776 \
         it declares"
    );

    // A frame that asks for a 2 GiB window.
    let mut window = parts.clone();
    let raw = vec![7u8; 1 << 16];
    // Streamed with no pledged size, so zstd cannot shrink the window.
    let mut z = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    z.set_parameter(zstd::zstd_safe::CParameter::WindowLog(31))
        .unwrap();
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let mut payload = varint(raw.len() as u64);
    payload.extend(z.finish().unwrap());
    window[1].1 = section(b"STRS", 1, &payload);
    let msg = err(&join(&window));
    assert!(
        msg.starts_with("capture is corrupt: section 'strings' does not decompress"),
        "{msg}"
    );
}

#[test]
fn validation_messages() {
    let mut c = Capture::new(common::header());
    c.perl_sites.extend((1..12).map(|_| PerlSite::default()));
    c.sites.extend((0..18).map(|_| Site {
        kind: Kind::Mem,
        c_file: 0,
        c_line: 1,
        c_func: 0,
        type_name: 0,
        perl_site: 0,
        permanent_pool: false,
    }));
    assert_eq!(decode(&encode(&c)).unwrap(), c);

    let mut bad = c.clone();
    bad.sites[17].perl_site = 9000;
    assert_eq!(
        err(&encode(&bad)),
        "capture is corrupt: site 17 names perl site 9000 of 12"
    );
    assert!(write_file(std::env::temp_dir().join("never-written.mtr"), &bad).is_err());

    let mut bad = c.clone();
    bad.header.pointer_size = 5;
    assert_eq!(
        err(&encode(&bad)),
        "capture is corrupt: the header's pointer size is 5, not 4 or 8"
    );

    let record = |address| Record {
        kind: Kind::Mem,
        address,
        site: 3,
        iteration: 1,
        size: 48,
        sv_type: 0,
        owner: 0,
        stack: 0,
        c_frames: 0,
    };
    let mut bad = c.clone();
    bad.records = vec![record(0x1000), record(0x2000)];
    bad.records[1].stack = 2;
    assert_eq!(
        err(&encode(&bad)),
        "capture is corrupt: record 1 (mem 0x2000) names stack 2 of 1"
    );

    let mut bad = c.clone();
    bad.strings[0] = "x".into();
    assert!(err(&encode(&bad)).contains("must start with the empty string"));

    let mut dup = c.clone();
    dup.records = vec![record(0x1000), record(0x1000)];
    assert!(dup.validate().is_err());
    assert!(err(&encode(&dup)).contains("repeats the address"));
}

#[test]
fn files_are_written_atomically_and_read_back() {
    let dir = std::env::temp_dir().join(format!("memtrace-format-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("capture.mtr");
    let c = common::realistic(5000, 8);
    write_file(&path, &c).unwrap();
    let first = std::fs::read(&path).unwrap();
    assert_eq!(read_file(&path).unwrap(), c);
    assert_eq!(first, encode_with(&c, &EncodeOptions::default()));

    // Overwriting replaces the whole file and leaves no temporary behind.
    let c2 = common::realistic(100, 9);
    write_file(&path, &c2).unwrap();
    assert_eq!(read_file(&path).unwrap(), c2);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("capture.mtr")]);

    // A failed write leaves the old file alone (a directory cannot be renamed over).
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    assert!(write_file(&sub, &c2).is_err());
    assert!(sub.is_dir());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);

    let missing = read_file(dir.join("nope.mtr")).unwrap_err();
    assert!(matches!(missing, FormatError::Io(_)));
    assert!(
        missing.to_string().starts_with("cannot read: "),
        "{missing}"
    );
    std::fs::write(&path, b"").unwrap();
    assert_eq!(
        read_file(&path).unwrap_err().to_string(),
        "empty (0 bytes): not a memtrace capture"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Bytes -> Capture: the preamble, the sections, then `Capture::validate`.
//!
//! Nothing here trusts the input: every read is bounds-checked, every count
//! is checked against the bytes left before it is allocated for, and any
//! inconsistency is a `FormatError`, never a panic.

use crate::section::{
    self, Raw, ARNA, CFRM, END, HEAD, HIST, HOLD, KNOWN, OPTIONAL, PSIT, RECS, SITE, STAK, STRS,
};
use crate::varint::Reader;
use crate::{
    records, CFrame, CFrames, Capture, FormatError, Header, Holder, Kind, PerlSite, Site, Snapshot,
    Stack, MAGIC, VERSION,
};

/// Bytes before the first section: the magic and the u16 version.
pub const PREAMBLE_LEN: usize = MAGIC.len() + 2;

/// Reads a whole capture and checks it (see `Capture::validate`), so that
/// every id in the result indexes its table.
pub fn decode(bytes: &[u8]) -> Result<Capture, FormatError> {
    let mut pos = preamble(bytes)?;
    let mut capture = Capture::default();
    let mut seen = [false; KNOWN.len()];
    loop {
        let raw = section::next(bytes, pos)?;
        pos = raw.end;
        let Some(k) = KNOWN.iter().position(|(t, _)| *t == raw.tag) else {
            if !seen[0] {
                return Err(first_not_header(&raw));
            }
            continue; // A section from a later writer: skipped, by design.
        };
        let name = KNOWN[k].1;
        if seen[k] {
            return Err(FormatError::corrupt(format!(
                "section '{name}' appears twice"
            )));
        }
        if k != 0 && !seen[0] {
            return Err(first_not_header(&raw));
        }
        seen[k] = true;
        let payload = raw.payload(name)?;
        // Bytes after the fields a section defines are ignored: a later
        // version may append fields there without a version bump.
        let r = &mut Reader::new(&payload, name);
        match raw.tag {
            HEAD => capture.header = header(r)?,
            STRS => capture.strings = strings(r)?,
            PSIT => capture.perl_sites = perl_sites(r)?,
            STAK => capture.stacks = stacks(r)?,
            CFRM => capture.c_frames = c_frames(r)?,
            SITE => capture.sites = sites(r)?,
            RECS => capture.records = records::get(r)?,
            HIST => capture.history = history(r)?,
            ARNA => capture.sv_arenas = sv_arenas(r)?,
            HOLD => capture.holders = holders(r)?,
            END => break,
            _ => {} // KNOWN holds no other tag.
        }
    }
    if pos != bytes.len() {
        return Err(FormatError::corrupt(format!(
            "{} bytes follow the end section at offset {pos}",
            bytes.len() - pos
        )));
    }
    if let Some(k) = (0..KNOWN.len()).find(|&k| !seen[k] && !OPTIONAL.contains(&KNOWN[k].0)) {
        return Err(FormatError::corrupt(format!(
            "section '{}' is missing",
            KNOWN[k].1
        )));
    }
    capture.validate()?;
    Ok(capture)
}

/// Checks the magic and the version; returns where the sections start.
fn preamble(bytes: &[u8]) -> Result<usize, FormatError> {
    if bytes.is_empty() {
        return Err(FormatError::Empty);
    }
    let head = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if MAGIC.get(..head.len()) != Some(head) {
        // The PNG trick: 0x89 turns into 0x09 when the 8th bit is stripped,
        // into U+FFFD or U+0089 when a copy "converts to UTF-8", and CR LF /
        // LF change under a text-mode copy, while "MTR" survives.
        let mangled = [
            &b"\x89MTR"[..],
            b"\x09MTR",
            b"\xef\xbf\xbdMTR",
            b"\xc2\x89MTR",
        ]
        .iter()
        .any(|p| bytes.starts_with(p));
        return Err(FormatError::BadMagic { mangled });
    }
    let Some(&[lo, hi]) = bytes.get(MAGIC.len()..PREAMBLE_LEN) else {
        return Err(FormatError::Truncated {
            what: "the file header".to_string(),
            needs: PREAMBLE_LEN as u64,
            offset: 0,
            remain: bytes.len() as u64,
        });
    };
    let version = u16::from_le_bytes([lo, hi]);
    if version > VERSION {
        return Err(FormatError::NewerVersion {
            found: version,
            supported: VERSION,
        });
    }
    if version == 0 {
        return Err(FormatError::corrupt("format version 0 does not exist"));
    }
    Ok(PREAMBLE_LEN)
}

fn first_not_header(raw: &Raw) -> FormatError {
    FormatError::corrupt(format!(
        "the first section is '{}', not 'header'",
        section::display_name(raw.tag)
    ))
}

fn header(r: &mut Reader) -> Result<Header, FormatError> {
    let pointer_size = r.u64()?;
    Ok(Header {
        pointer_size: u8::try_from(pointer_size)
            .map_err(|_| r.error(format!("pointer size {pointer_size} does not fit a byte")))?,
        perl_version: r.string()?,
        perl_config: r.string()?,
        program: r.string()?,
        pid: r.u32("pid")?,
        time_ms: r.u64()?,
        tool_version: r.string()?,
        open_iteration: r.u32("open iteration")?,
        skip: r.u32("skip")?,
        min_age: r.u32("min_age")?,
    })
}

fn strings(r: &mut Reader) -> Result<Vec<String>, FormatError> {
    let n = r.count(1, "strings")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.string()?);
    }
    Ok(out)
}

fn perl_sites(r: &mut Reader) -> Result<Vec<PerlSite>, FormatError> {
    let n = r.count(3, "perl sites")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(PerlSite {
            file: r.u32("file")?,
            line: r.u32("line")?,
            sub: r.u32("sub")?,
        });
    }
    Ok(out)
}

fn stacks(r: &mut Reader) -> Result<Vec<Stack>, FormatError> {
    let n = r.count(1, "stacks")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let m = r.count(1, "frames")?;
        let mut frames = Vec::with_capacity(m);
        for _ in 0..m {
            frames.push(r.u32("perl site")?);
        }
        out.push(Stack { frames });
    }
    Ok(out)
}

fn c_frames(r: &mut Reader) -> Result<Vec<CFrames>, FormatError> {
    let n = r.count(1, "frame lists")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let m = r.count(4, "frames")?;
        let mut frames = Vec::with_capacity(m);
        for _ in 0..m {
            frames.push(CFrame {
                address: r.u64()?,
                func: r.u32("func")?,
                file: r.u32("file")?,
                line: r.u32("line")?,
            });
        }
        out.push(CFrames { frames });
    }
    Ok(out)
}

fn sites(r: &mut Reader) -> Result<Vec<Site>, FormatError> {
    let n = r.count(7, "sites")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let kind = match r.u64()? {
            0 => Kind::Sv,
            1 => Kind::Mem,
            2 => Kind::Malloc,
            k => {
                return Err(r.error(format!(
                    "site {i} has kind {k}, not 0 (sv), 1 (mem) or 2 (malloc)"
                )))
            }
        };
        let c_file = r.u32("c_file")?;
        let c_line = r.u32("c_line")?;
        let c_func = r.u32("c_func")?;
        let type_name = r.u32("type_name")?;
        let perl_site = r.u32("perl_site")?;
        let permanent_pool = match r.u64()? {
            0 => false,
            1 => true,
            v => return Err(r.error(format!("site {i} has permanent_pool {v}, not 0 or 1"))),
        };
        out.push(Site {
            kind,
            c_file,
            c_line,
            c_func,
            type_name,
            perl_site,
            permanent_pool,
        });
    }
    Ok(out)
}

fn history(r: &mut Reader) -> Result<Vec<Snapshot>, FormatError> {
    let n = r.count(11, "snapshots")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Snapshot {
            iteration: r.u32("iteration")?,
            svs: r.u64()?,
            svs_delta: r.i64()?,
            mem_live: r.u64()?,
            mem_bytes: r.u64()?,
            mem_live_delta: r.i64()?,
            mem_bytes_delta: r.i64()?,
            sv_live: r.u64()?,
            new_leaks: r.u64()?,
            rss: r.u64()?,
            time_ms: r.u64()?,
        });
    }
    Ok(out)
}

fn holders(r: &mut Reader) -> Result<Vec<Holder>, FormatError> {
    let n = r.count(7, "holders")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Holder {
            address: r.u64()?,
            kind: r.u32("holder kind")?,
            path: r.u32("holder path")?,
            length: r.u32("holder length")?,
            refcount: r.u32("holder refcount")?,
            unseen: r.u32("holder unseen")?,
            text: r.u32("holder text")?,
        });
    }
    Ok(out)
}

fn sv_arenas(r: &mut Reader) -> Result<Vec<(u64, u64)>, FormatError> {
    let n = r.count(2, "arenas")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let start = r.u64()?;
        let len = r.u64()?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| r.error(format!("sv arena {i} ends past the 64-bit address space")))?;
        out.push((start, end));
    }
    Ok(out)
}

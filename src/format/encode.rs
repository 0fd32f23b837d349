//! Capture -> bytes: the preamble, then one section per table.

use std::io::{self, Write};

use crate::section::{self, ARNA, CFRM, END, HEAD, HIST, HOLD, PSIT, RECS, SITE, STAK, STRS};
use crate::varint::{put, put_i64, put_str};
use crate::{records, Capture, Header, MAGIC, VERSION};

/// How to write a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// zstd level for large sections, or None to store every section raw
    /// (faster to write, bigger on disk; readers accept either).
    pub zstd_level: Option<i32>,
}

impl Default for EncodeOptions {
    /// Level 3: most of zstd's gain on records for a few ms (see `section`).
    fn default() -> Self {
        EncodeOptions {
            zstd_level: Some(3),
        }
    }
}

/// The bytes of `capture` with the default options.
///
/// `capture` should pass `Capture::validate` (`write_file` checks it);
/// encode itself does not check, never panics, and what it writes for an
/// invalid capture is refused by `decode` or, for records out of order,
/// decodes to something else.
pub fn encode(capture: &Capture) -> Vec<u8> {
    encode_with(capture, &EncodeOptions::default())
}

/// The bytes of `capture` with the given options.
pub fn encode_with(capture: &Capture, options: &EncodeOptions) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = encode_to(capture, options, &mut out);
    out
}

/// Writes `capture` to `w`, section by section (each section is built in
/// memory first: its header holds its length and CRC).
pub fn encode_to<W: Write + ?Sized>(
    capture: &Capture,
    options: &EncodeOptions,
    w: &mut W,
) -> io::Result<()> {
    let level = options.zstd_level;
    w.write_all(&MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())?;
    let mut buf = Vec::new();
    let mut emit = |w: &mut W, tag, fill: &dyn Fn(&mut Vec<u8>)| -> io::Result<()> {
        buf.clear();
        fill(&mut buf);
        section::write(w, tag, &buf, level)
    };
    let c = capture;
    emit(w, HEAD, &|b| header(&c.header, b))?;
    emit(w, STRS, &|b| {
        put(b, c.strings.len() as u64);
        for s in &c.strings {
            put_str(b, s);
        }
    })?;
    emit(w, PSIT, &|b| {
        put(b, c.perl_sites.len() as u64);
        for p in &c.perl_sites {
            put(b, p.file.into());
            put(b, p.line.into());
            put(b, p.sub.into());
        }
    })?;
    emit(w, STAK, &|b| {
        put(b, c.stacks.len() as u64);
        for s in &c.stacks {
            put(b, s.frames.len() as u64);
            for &f in &s.frames {
                put(b, f.into());
            }
        }
    })?;
    emit(w, CFRM, &|b| {
        put(b, c.c_frames.len() as u64);
        for fs in &c.c_frames {
            put(b, fs.frames.len() as u64);
            for f in &fs.frames {
                put(b, f.address);
                put(b, f.func.into());
                put(b, f.file.into());
                put(b, f.line.into());
            }
        }
    })?;
    emit(w, SITE, &|b| {
        put(b, c.sites.len() as u64);
        for s in &c.sites {
            put(b, s.kind as u64);
            put(b, s.c_file.into());
            put(b, s.c_line.into());
            put(b, s.c_func.into());
            put(b, s.type_name.into());
            put(b, s.perl_site.into());
            put(b, s.permanent_pool.into());
        }
    })?;
    emit(w, RECS, &|b| records::put(&c.records, b))?;
    emit(w, HIST, &|b| {
        put(b, c.history.len() as u64);
        for s in &c.history {
            put(b, s.iteration.into());
            put(b, s.svs);
            put_i64(b, s.svs_delta);
            put(b, s.mem_live);
            put(b, s.mem_bytes);
            put_i64(b, s.mem_live_delta);
            put_i64(b, s.mem_bytes_delta);
            put(b, s.sv_live);
            put(b, s.new_leaks);
            put(b, s.rss);
            put(b, s.time_ms);
        }
    })?;
    emit(w, ARNA, &|b| {
        put(b, c.sv_arenas.len() as u64);
        for &(start, end) in &c.sv_arenas {
            put(b, start);
            put(b, end.wrapping_sub(start));
        }
    })?;
    emit(w, HOLD, &|b| {
        put(b, c.holders.len() as u64);
        for h in &c.holders {
            put(b, h.address);
            put(b, h.kind.into());
            put(b, h.path.into());
            put(b, h.length.into());
            put(b, h.refcount.into());
            put(b, h.unseen.into());
            put(b, h.text.into());
        }
    })?;
    emit(w, END, &|_| {})
}

fn header(h: &Header, b: &mut Vec<u8>) {
    put(b, h.pointer_size.into());
    put_str(b, &h.perl_version);
    put_str(b, &h.perl_config);
    put_str(b, &h.program);
    put(b, h.pid.into());
    put(b, h.time_ms);
    put_str(b, &h.tool_version);
    put(b, h.open_iteration.into());
    put(b, h.skip.into());
    put(b, h.min_age.into());
}

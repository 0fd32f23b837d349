//! Section framing: tag, flags, length, CRC-32, then the stored payload,
//! optionally zstd-compressed.
//!
//! Framing every table the same way lets a reader check each one before it
//! parses it, skip the ones it does not know (so later versions can add
//! sections without a version bump), and tell a truncated file from a
//! corrupted one.
//!
//! Section header, 20 bytes, little-endian:
//!
//! ```text
//! 0  tag     4 ASCII bytes
//! 4  flags   u32: bit 0 = payload is zstd-compressed; the rest are 0 in version 1
//! 8  length  u64: stored payload bytes that follow the header
//! 16 crc32   u32: CRC-32 of header bytes 0..16, then of the stored payload
//! ```
//!
//! A compressed payload is a varint (the uncompressed length) followed by a
//! single zstd frame.
//!
//! Why zstd, and why level 3, measured on the 1,000,000-record synthetic heap
//! of `tests/size.rs` (release build, this 2-core machine; whole file, of
//! which the records section is almost all): stored raw 6.14 MB (6.14
//! bytes/record), encoded in 40 ms; level 1 3.83 MB, 43 ms; level 3 3.75 MB
//! (-39%), 52 ms; level 9 3.72 MB, 110 ms; level 19 3.64 MB, 1.3 s.
//! Decompressing costs about 6 ms. Level 3 takes nearly all of the gain for
//! about 12 ms. Sections under `COMPRESS_MIN` bytes are stored
//! raw: a frame's overhead outweighs the gain there.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use crate::varint::{self, Reader};
use crate::FormatError;

/// Bytes in a section header.
pub const HEADER_LEN: usize = 20;
/// Flag bit 0: the stored payload is a varint length and a zstd frame.
pub const FLAG_ZSTD: u32 = 1;
/// Payloads shorter than this are never compressed.
pub const COMPRESS_MIN: usize = 1024;
/// The largest zstd window a reader accepts (8 MiB, what levels 1 to 19
/// use at most without long mode): it bounds the decoder's memory whatever
/// a frame asks for.
pub const WINDOW_LOG_MAX: u32 = 23;

/// The sections of version 1, in the order the writer puts them.
pub const HEAD: [u8; 4] = *b"HEAD";
pub const STRS: [u8; 4] = *b"STRS";
pub const PSIT: [u8; 4] = *b"PSIT";
pub const STAK: [u8; 4] = *b"STAK";
pub const CFRM: [u8; 4] = *b"CFRM";
pub const SITE: [u8; 4] = *b"SITE";
pub const RECS: [u8; 4] = *b"RECS";
pub const HIST: [u8; 4] = *b"HIST";
pub const ARNA: [u8; 4] = *b"ARNA";
/// Added after version 1 was first written, so optional: older captures
/// have none, and older readers skip it.
pub const HOLD: [u8; 4] = *b"HOLD";
pub const END: [u8; 4] = *b"END.";

/// Every known tag with the name messages use (the model's field name).
pub const KNOWN: [([u8; 4], &str); 11] = [
    (HEAD, "header"),
    (STRS, "strings"),
    (PSIT, "perl_sites"),
    (STAK, "stacks"),
    (CFRM, "c_frames"),
    (SITE, "sites"),
    (RECS, "records"),
    (HIST, "history"),
    (ARNA, "sv_arenas"),
    (HOLD, "holders"),
    (END, "end"),
];

/// Known sections a capture may lack (written by an older writer).
pub const OPTIONAL: [[u8; 4]; 1] = [HOLD];

/// The name of a known tag.
pub fn name(tag: [u8; 4]) -> Option<&'static str> {
    KNOWN.iter().find(|(t, _)| *t == tag).map(|(_, n)| *n)
}

/// How a message names any tag: the known name, or the tag's bytes escaped.
pub fn display_name(tag: [u8; 4]) -> String {
    match name(tag) {
        Some(n) => n.to_string(),
        None => tag.escape_ascii().to_string(),
    }
}

/// Writes one section, compressing the payload when `zstd_level` is set,
/// the payload is large enough and compression makes it smaller.
pub fn write<W: Write + ?Sized>(
    w: &mut W,
    tag: [u8; 4],
    payload: &[u8],
    zstd_level: Option<i32>,
) -> io::Result<()> {
    let compressed = zstd_level
        .filter(|_| payload.len() >= COMPRESS_MIN)
        .and_then(|level| deflate(payload, level))
        .filter(|c| c.len() < payload.len());
    let (flags, stored) = match &compressed {
        Some(c) => (FLAG_ZSTD, c.as_slice()),
        None => (0, payload),
    };
    let mut head = [0u8; HEADER_LEN];
    head[0..4].copy_from_slice(&tag);
    head[4..8].copy_from_slice(&flags.to_le_bytes());
    head[8..16].copy_from_slice(&(stored.len() as u64).to_le_bytes());
    let crc = crc(&head[..16], stored);
    head[16..20].copy_from_slice(&crc.to_le_bytes());
    w.write_all(&head)?;
    w.write_all(stored)
}

/// The length-prefixed zstd frame of `payload`, or None if zstd failed
/// (then the section is stored raw: compression is only ever an option).
fn deflate(payload: &[u8], level: i32) -> Option<Vec<u8>> {
    let frame = zstd::bulk::compress(payload, level).ok()?;
    let mut out = Vec::with_capacity(frame.len() + varint::MAX_LEN);
    varint::put(&mut out, payload.len() as u64);
    out.extend_from_slice(&frame);
    Some(out)
}

fn crc(head: &[u8], stored: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(stored);
    h.finalize()
}

/// One section as found in the input, its CRC already checked.
pub struct Raw<'a> {
    pub tag: [u8; 4],
    pub flags: u32,
    /// The payload as stored (still compressed if flagged).
    pub stored: &'a [u8],
    /// Where the next section starts.
    pub end: usize,
}

/// Reads the section header at `pos` and checks the CRC.
pub fn next(bytes: &[u8], pos: usize) -> Result<Raw<'_>, FormatError> {
    let rest = bytes.get(pos..).unwrap_or_default();
    if rest.is_empty() {
        return Err(FormatError::NoEnd { offset: pos as u64 });
    }
    let (Some(head), Some(body)) = (
        rest.get(..HEADER_LEN)
            .and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok()),
        rest.get(HEADER_LEN..),
    ) else {
        return Err(FormatError::Truncated {
            what: "a section header".to_string(),
            needs: HEADER_LEN as u64,
            offset: pos as u64,
            remain: rest.len() as u64,
        });
    };
    // Fixed offsets into a fixed-size array: these cannot go out of bounds.
    let tag = [head[0], head[1], head[2], head[3]];
    let flags = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&head[8..16]);
    let len = u64::from_le_bytes(len8);
    let want = u32::from_le_bytes([head[16], head[17], head[18], head[19]]);
    let stored = usize::try_from(len)
        .ok()
        .and_then(|n| body.get(..n))
        .ok_or_else(|| FormatError::Truncated {
            what: format!("section '{}'", display_name(tag)),
            needs: len,
            offset: (pos + HEADER_LEN) as u64,
            remain: body.len() as u64,
        })?;
    if crc(&head[..16], stored) != want {
        return Err(FormatError::Checksum {
            section: display_name(tag),
        });
    }
    Ok(Raw {
        tag,
        flags,
        stored,
        end: pos + HEADER_LEN + stored.len(),
    })
}

impl<'a> Raw<'a> {
    /// The payload, decompressed if flagged. Only for known sections: flags
    /// this reader does not know are refused (they may change the meaning).
    pub fn payload(&self, section: &'static str) -> Result<Cow<'a, [u8]>, FormatError> {
        if self.flags & !FLAG_ZSTD != 0 {
            return Err(FormatError::UnknownFlags {
                section: section.to_string(),
                flags: self.flags,
            });
        }
        if self.flags & FLAG_ZSTD == 0 {
            return Ok(Cow::Borrowed(self.stored));
        }
        inflate(self.stored, section).map(Cow::Owned)
    }
}

/// Decompresses a stored payload. Memory grows with the bytes the frame
/// actually yields, never with the declared length, and the window is capped,
/// so a lying length or a hostile frame cannot make it allocate gigabytes
/// up front.
fn inflate(stored: &[u8], section: &'static str) -> Result<Vec<u8>, FormatError> {
    let mut r = Reader::new(stored, section);
    let declared = r.u64()?;
    let frame = r.rest();
    let fail = |e: io::Error| {
        FormatError::corrupt(format!("section '{section}' does not decompress: {e}"))
    };
    let mut dec = zstd::stream::read::Decoder::with_buffer(frame)
        .map_err(fail)?
        .single_frame();
    dec.window_log_max(WINDOW_LOG_MAX).map_err(fail)?;
    // Start from a guess bounded by the stored size; read_to_end grows it.
    let guess = declared.min(frame.len() as u64 * 4 + 4096);
    let mut out = Vec::with_capacity(usize::try_from(guess).unwrap_or(0));
    (&mut dec)
        .take(declared.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(fail)?;
    if out.len() as u64 != declared {
        return Err(FormatError::corrupt(format!(
            "section '{section}' decompresses to {}{} bytes, not the {declared} it declares",
            out.len(),
            if out.len() as u64 > declared {
                " or more"
            } else {
                ""
            },
        )));
    }
    let left = dec.finish().len();
    if left != 0 {
        return Err(FormatError::corrupt(format!(
            "section '{section}' has {left} bytes after its compressed data"
        )));
    }
    Ok(out)
}

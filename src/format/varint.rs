//! LEB128 varints and zigzag, and a bounds-checked reader over a payload.
//!
//! Every integer in a payload is an unsigned LEB128 varint: 7 bits per byte,
//! least significant group first, high bit set on every byte but the last.
//! Small numbers (ids, counts, address deltas) take one or two bytes, which
//! is most of why a record costs a few bytes. Signed numbers are zigzagged
//! first so that small negative values stay small.
//!
//! The reader never panics and never trusts a count: every count is checked
//! against the bytes left before anything is allocated for it.

use crate::FormatError;

/// The longest varint: 10 bytes carry 64 bits.
pub const MAX_LEN: usize = 10;

/// Appends `v` as LEB128.
#[inline]
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a signed value, zigzagged.
#[inline]
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put(out, zigzag(v));
}

/// Appends a string: its byte length, then its UTF-8 bytes.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// How many bytes `put` writes for `v` (to choose between encodings).
#[inline]
pub fn len(v: u64) -> usize {
    // 1 byte per started group of 7 bits; 0 still takes a byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Maps 0, -1, 1, -2, ... to 0, 1, 2, 3, ...
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of `zigzag`.
#[inline]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Reads one section's payload front to back.
///
/// Errors name the section and the byte offset inside its (uncompressed)
/// payload, which is what a person debugging a writer needs.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    section: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], section: &'static str) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            section,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// A corruption error located in this section.
    pub fn error(&self, what: impl std::fmt::Display) -> FormatError {
        FormatError::corrupt(format!(
            "section '{}' at byte {} of its payload: {what}",
            self.section, self.pos
        ))
    }

    /// One unsigned varint.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, FormatError> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.error("the payload ends inside a number"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.error("a number is longer than 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A varint that must fit in 32 bits (ids, lines, iterations).
    #[inline]
    pub fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| self.error(format!("{what} {v} does not fit in 32 bits")))
    }

    /// A zigzagged signed varint.
    pub fn i64(&mut self) -> Result<i64, FormatError> {
        self.u64().map(unzigzag)
    }

    /// A count of things that each take at least `min_bytes` bytes: refused
    /// when the bytes left cannot hold that many, so that the caller may
    /// allocate `count` entries without trusting the input.
    pub fn count(&mut self, min_bytes: usize, what: &str) -> Result<usize, FormatError> {
        let v = self.u64()?;
        let room = self.remaining() / min_bytes.max(1);
        match usize::try_from(v) {
            Ok(n) if n <= room => Ok(n),
            _ => Err(self.error(format!(
                "it claims {v} {what} but only {} bytes remain",
                self.remaining()
            ))),
        }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: u64) -> Result<&'a [u8], FormatError> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&end| end <= self.buf.len());
        let Some(end) = end else {
            return Err(self.error(format!(
                "it needs {n} bytes but only {} remain",
                self.remaining()
            )));
        };
        let out = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<String, FormatError> {
        let n = self.u64()?;
        let start = self.pos;
        let bytes = self.bytes(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => {
                self.pos = start;
                Err(self.error("a string is not valid UTF-8"))
            }
        }
    }

    /// Everything not yet read.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges() {
        for v in [
            0,
            1,
            127,
            128,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put(&mut out, v);
            assert_eq!(out.len(), len(v), "{v}");
            assert!(out.len() <= MAX_LEN);
            let mut r = Reader::new(&out, "test");
            assert_eq!(r.u64().unwrap(), v);
            assert_eq!(r.remaining(), 0);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn refuses_overlong_and_short() {
        let mut r = Reader::new(&[0xff; 10], "test");
        assert!(r.u64().is_err());
        let mut r = Reader::new(&[0x80, 0x80], "test");
        assert!(r.u64().is_err());
        // A count larger than the bytes left is refused before any allocation.
        let mut big = Vec::new();
        put(&mut big, u64::MAX);
        assert!(Reader::new(&big, "test").count(1, "things").is_err());
        assert!(Reader::new(&big, "test").bytes(u64::MAX).is_err());
    }
}

//! The capture file of Devel::MemTrace (spec: `doc/format.md`).
//!
//! A capture is everything the recorder knew when it was written (live
//! records, their sites, the per-iteration history), so that `memtrace` can
//! analyse it later, elsewhere, with a newer tool. The format is therefore
//! versioned, checksummed per section, and extensible by new sections that
//! older readers skip.
//!
//! ```text
//! magic (8) | version u16 LE | HEAD | STRS | PSIT | STAK | CFRM | SITE | RECS | HIST | ARNA | END.
//! ```
//!
//! - `encode`/`encode_with`/`encode_to` and `write_file` write it;
//! - `decode` and `read_file` read and check it (`Capture::validate`): a
//!   decoded capture's ids all index their tables.
//!
//! Modules, one job each: `varint` (integers), `section` (framing, CRC,
//! compression), `records` (the column layout of the big table), `encode`,
//! `decode`, `validate` (the model's rules), `file` (disk), `error`.

mod decode;
mod encode;
mod error;
mod file;
mod model;
mod records;
mod section;
mod validate;
mod varint;

pub use decode::decode;
pub use encode::{encode, encode_to, encode_with, EncodeOptions};
pub use error::FormatError;
pub use file::{read_file, write_file};
pub use model::*;

/// The first 8 bytes of every capture. Built like PNG's: 0x89 catches
/// transfers that strip the 8th bit, "MTR" names the file in a hex dump, and
/// CR LF, 0x1A (DOS end-of-file) and LF catch line-ending conversions in
/// either direction.
pub const MAGIC: [u8; 8] = *b"\x89MTR\r\n\x1a\n";

/// The format version this crate writes and the newest it reads.
/// 2: sites of kind `malloc`.
pub const VERSION: u16 = 2;

//! What can be wrong with a capture, said in one line.
//!
//! Every message names the problem and, where there is one, what to do about
//! it. The caller prefixes the file name ("FILE: ..."), so a message never
//! starts with a capital or repeats the name, and it never holds a line break:
//! tools print it as one line of a report or a `die`.

use std::fmt;
use std::io;

/// Why a capture could not be read.
///
/// The variants carry the facts (offsets, versions, section names) so a
/// caller can act on them; `Display` turns them into one line.
#[derive(Debug)]
#[non_exhaustive]
pub enum FormatError {
    /// The input has no bytes at all.
    Empty,
    /// The first bytes are not the capture magic. `mangled` is set when they
    /// look like a capture whose bytes a text-mode transfer altered.
    BadMagic { mangled: bool },
    /// The capture was written by a newer format version than this reader.
    NewerVersion { found: u16, supported: u16 },
    /// Something declares more bytes than the input has left.
    Truncated {
        /// What was being read: "the file header", "a section header",
        /// "section 'records'".
        what: String,
        needs: u64,
        offset: u64,
        remain: u64,
    },
    /// The input stops at a section boundary before the end section.
    NoEnd { offset: u64 },
    /// A section's stored bytes do not match its CRC-32.
    Checksum { section: String },
    /// A section this reader knows carries flags it does not.
    UnknownFlags { section: String, flags: u32 },
    /// Anything else that is inconsistent: the detail says what.
    Corrupt(String),
    /// The file could not be read.
    Io(io::Error),
}

impl FormatError {
    /// Shorthand for the most common error, from the places that find it.
    pub(crate) fn corrupt(detail: impl Into<String>) -> FormatError {
        FormatError::Corrupt(detail.into())
    }

    fn write_line(&self) -> String {
        match self {
            FormatError::Empty => "empty (0 bytes): not a memtrace capture".to_string(),
            FormatError::BadMagic { mangled: false } => "not a memtrace capture (bad magic); \
                 captures are written by Devel::MemTrace::dump or -dump_at_END"
                .to_string(),
            FormatError::BadMagic { mangled: true } => "a memtrace capture damaged by a text-mode \
                 transfer (line endings or the 8th bit were changed): copy it again in binary mode"
                .to_string(),
            FormatError::NewerVersion { found, supported } => format!(
                "capture format version {found} is newer than this reader ({supported}): \
                 upgrade Devel::MemTrace"
            ),
            FormatError::Truncated {
                what,
                needs,
                offset,
                remain,
            } => format!(
                "capture is truncated: {what} needs {needs} bytes at offset {offset}, \
                 only {remain} remain (the writer was interrupted?)"
            ),
            FormatError::NoEnd { offset } => format!(
                "capture is truncated: it stops at offset {offset} before its end section \
                 (the writer was interrupted?)"
            ),
            FormatError::Checksum { section } => {
                format!("capture is corrupt: checksum mismatch in section '{section}'")
            }
            FormatError::UnknownFlags { section, flags } => format!(
                "capture section '{section}' has flags {flags:#x} that this reader does not \
                 know: upgrade Devel::MemTrace"
            ),
            FormatError::Corrupt(detail) => format!("capture is corrupt: {detail}"),
            FormatError::Io(e) => format!("cannot read: {e}"),
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line whatever the parts hold (an OS or zstd message could).
        let line = self.write_line().replace(['\n', '\r'], " ");
        f.write_str(&line)
    }
}

impl std::error::Error for FormatError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FormatError::Io(e) => Some(e),
            _ => None,
        }
    }
}

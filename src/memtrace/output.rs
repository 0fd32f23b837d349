//! Standard output, buffered, with errors (a closed pipe) returned instead
//! of panicking as `println!` would.

use std::io::{self, BufWriter, StdoutLock, Write};

use serde::Serialize;

use crate::failure::Failure;

pub struct Out {
    w: BufWriter<StdoutLock<'static>>,
}

impl Out {
    pub fn new() -> Out {
        Out {
            w: BufWriter::new(io::stdout().lock()),
        }
    }

    /// Write `text` as it is.
    pub fn text(&mut self, text: &str) -> Result<(), Failure> {
        self.w.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Write `line` and a newline.
    pub fn line(&mut self, line: &str) -> Result<(), Failure> {
        self.w.write_all(line.as_bytes())?;
        self.w.write_all(b"\n")?;
        Ok(())
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.w.write_all(bytes)?;
        Ok(())
    }

    /// `value` as pretty JSON and a newline.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Failure> {
        serde_json::to_writer_pretty(&mut self.w, value).map_err(io::Error::from)?;
        self.w.write_all(b"\n")?;
        Ok(())
    }

    /// Flush; the command is done with standard output.
    pub fn finish(mut self) -> Result<(), Failure> {
        self.w.flush()?;
        Ok(())
    }
}

/// Write an SVG (or any output file) to `path`, `-` being standard output.
pub fn write_file(path: &str, bytes: &[u8]) -> Result<(), Failure> {
    if path == "-" {
        let mut out = Out::new();
        out.bytes(bytes)?;
        return out.finish();
    }
    std::fs::write(path, bytes).map_err(|e| {
        Failure::bad(format!(
            "cannot write {path}: {} (give -o a writable file name)",
            crate::failure::io_message(&e)
        ))
    })
}

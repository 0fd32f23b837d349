//! Captures on disk: read whole, written atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{decode, encode_to, Capture, EncodeOptions, FormatError};

/// Reads and decodes the capture at `path`. The error's message reads well
/// after "PATH: ".
pub fn read_file(path: impl AsRef<Path>) -> Result<Capture, FormatError> {
    let bytes = fs::read(path).map_err(FormatError::Io)?;
    decode(&bytes)
}

/// Writes `capture` to `path` so that a reader sees the old file or the
/// whole new one, never a part: the bytes go to a temporary file in the same
/// directory (a rename is atomic only within a file system), which is
/// flushed to disk and then renamed over `path`. A capture that fails
/// `Capture::validate` is refused (`InvalidInput`) rather than written.
pub fn write_file(path: impl AsRef<Path>, capture: &Capture) -> io::Result<()> {
    let path = path.as_ref();
    capture.validate().map_err(|e| {
        let detail = match e {
            FormatError::Corrupt(d) => d,
            other => other.to_string(),
        };
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not writing an invalid capture: {detail}"),
        )
    })?;
    let (tmp, file) = create_temp(path)?;
    let written = write_and_sync(file, capture).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // Make the rename itself durable; not every system lets a directory be
    // synced, and the file is complete either way, so this is best effort.
    if let Some(dir) = dir_of(path) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn write_and_sync(file: File, capture: &Capture) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    encode_to(capture, &EncodeOptions::default(), &mut w)?;
    w.flush()?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// The directory holding `path` ("." for a bare file name).
fn dir_of(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

/// A new, exclusively created temporary file beside `path`: hidden, named
/// after it, the pid and a counter, so concurrent writers never share one.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let dir = dir_of(path).unwrap_or(Path::new("."));
    let mut last = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}.{n}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

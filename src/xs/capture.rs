//! Captures of the live recorder: what `Devel::MemTrace::dump` writes.
//!
//! The tables and every live record (completed through perl: SV types and
//! sizes, buffer owners) are copied while the aggregator is held; encoding
//! and writing the file happen after it is let go, so other threads'
//! hooks wait only for the copy.

use std::time::Instant;

use memtrace_analysis::format::{self, Capture, Header, Kind, Record};
use memtrace_analysis::Records;
use serde_json::json;

use super::live_heap::{LiveRecords, LiveTables};
use crate::recorder::{self, Aggregator};

/// The live recorder as a whole capture.
pub fn capture_live(aggregator: &Aggregator, header: Header) -> Capture {
    let tables = recorder::with_perl_sites(|perl| LiveTables::copy(aggregator, perl, header));
    let mut records = LiveRecords::new(aggregator, &tables);
    let mut all: Vec<Record> = Vec::with_capacity(aggregator.live.len());
    records.for_each(&mut |r| all.push(r));
    let mut buffers: Vec<u64> = all
        .iter()
        .filter(|r| r.kind == Kind::Mem)
        .map(|r| r.address)
        .collect();
    records.find_owners(&mut buffers);
    // In address order, completing reads the SV heads arena by arena, not
    // at random (the table's order): half the time of a dump was cache
    // misses there.
    all.sort_unstable_by_key(|r| (r.kind, r.address));
    for record in &mut all {
        records.complete(record);
    }
    let sv_arenas = records.sv_arenas();
    let mut capture = tables.capture;
    capture.records = all;
    capture.sv_arenas = sv_arenas;
    capture
}

/// Write a capture of the live recorder to `path`; what was written, for
/// the caller to show, or a one-line error.
pub fn dump(path: &str, header: Header) -> Result<serde_json::Value, String> {
    let started = Instant::now();
    let capture = recorder::with_aggregator(|a| capture_live(a, header));
    let copied = started.elapsed();
    format::write_file(path, &capture)
        .map_err(|e| format!("Devel::MemTrace::dump: cannot write {path}: {e}"))?;
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    Ok(json!({
        "file": path,
        "records": capture.records.len(),
        "iterations": capture.header.open_iteration,
        "bytes": bytes,
        "copy_seconds": copied.as_secs_f64(),
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

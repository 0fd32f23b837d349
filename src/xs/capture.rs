//! Captures of the live recorder: what `Devel::MemTrace::dump` writes.
//!
//! The tables and every live record (completed through perl: SV types and
//! sizes, buffer owners) are copied while the aggregator is held; encoding
//! and writing the file happen after it is let go, so other threads'
//! hooks wait only for the copy.

use std::time::Instant;

use std::collections::HashMap;

use memtrace_analysis::format::{self, Capture, Header, Kind, Record};
use memtrace_analysis::{leak_sites, Heap, Holder, LeakRule, Records};
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
    // What holds the leaks each site samples, under the program's leak
    // rule, for the reader (which cannot walk a heap that is gone).
    let rule = LeakRule {
        skip: tables.capture.header.skip,
        min_age: tables.capture.header.min_age,
    };
    let held: Vec<Holder> = leak_sites(
        &Heap {
            tables: &tables.capture,
            records: &records,
        },
        rule,
    )
    .into_iter()
    .flat_map(|site| site.held_by)
    .collect();
    let mut capture = tables.capture;
    capture.records = all;
    capture.sv_arenas = sv_arenas;
    capture.holders = kept_holders(&mut capture.strings, held);
    capture
}

/// Holders in the capture's form: strings interned into its table, one
/// per address, sorted by address.
fn kept_holders(strings: &mut Vec<String>, held: Vec<Holder>) -> Vec<format::Holder> {
    let mut ids: HashMap<String, u32> = strings
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i as u32))
        .collect();
    let mut intern = |text: &str| {
        *ids.entry(text.to_string()).or_insert_with(|| {
            strings.push(text.to_string());
            (strings.len() - 1) as u32
        })
    };
    let mut kept: Vec<format::Holder> = held
        .iter()
        .filter_map(|h| {
            let address = u64::from_str_radix(h.address.trim_start_matches("0x"), 16).ok()?;
            Some(format::Holder {
                address,
                kind: intern(&h.kind),
                path: intern(&h.path),
                length: h.length,
                refcount: h.refcount,
                unseen: h.unseen,
                text: intern(&h.text),
            })
        })
        .collect();
    kept.sort_unstable_by_key(|h| h.address);
    kept.dedup_by_key(|h| h.address);
    kept
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

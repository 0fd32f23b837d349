//! A checkpoint's snapshot as perl code (`history()`) and `memtrace
//! --json` both see it.

use memtrace_format::Snapshot;
use serde::Serialize;

/// One closed iteration of a capture's history.
#[derive(Serialize)]
pub struct SnapshotJson {
    pub iteration: u32,
    pub svs: u64,
    pub svs_delta: i64,
    pub mem_live: u64,
    pub mem_bytes: u64,
    pub mem_live_delta: i64,
    pub mem_bytes_delta: i64,
    pub sv_live: u64,
    pub new_leaks: u64,
    /// Bytes; 0: unknown.
    pub rss: u64,
    /// Milliseconds since the Unix epoch; 0: unknown.
    pub time_ms: u64,
}

impl From<&Snapshot> for SnapshotJson {
    fn from(s: &Snapshot) -> SnapshotJson {
        SnapshotJson {
            iteration: s.iteration,
            svs: s.svs,
            svs_delta: s.svs_delta,
            mem_live: s.mem_live,
            mem_bytes: s.mem_bytes,
            mem_live_delta: s.mem_live_delta,
            mem_bytes_delta: s.mem_bytes_delta,
            sv_live: s.sv_live,
            new_leaks: s.new_leaks,
            rss: s.rss,
            time_ms: s.time_ms,
        }
    }
}

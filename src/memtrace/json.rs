//! The JSON shapes `--json` prints around the analysis types (LeakSite,
//! Identity, SiteChange, LeakRule and a capture's Snapshot serialize as
//! they are).

use memtrace_analysis::{LeakRule, LeakSite, SiteChange};
use memtrace_format::Snapshot;
use serde::Serialize;

use crate::captures::Loaded;

/// A capture in `report --json`.
#[derive(Serialize)]
pub struct CaptureJson<'a> {
    pub file: &'a str,
    pub pid: u32,
    pub program: &'a str,
    pub perl_version: &'a str,
    pub history: &'a [Snapshot],
}

impl<'a> CaptureJson<'a> {
    pub fn of(loaded: &'a Loaded) -> CaptureJson<'a> {
        let h = &loaded.capture.header;
        CaptureJson {
            file: &loaded.file,
            pid: h.pid,
            program: &h.program,
            perl_version: &h.perl_version,
            history: &loaded.capture.history,
        }
    }
}

/// `report --json`.
#[derive(Serialize)]
pub struct ReportJson<'a> {
    pub captures: Vec<CaptureJson<'a>>,
    pub rule: LeakRule,
    pub sites: &'a [LeakSite],
}

/// One leak in `leaks --json`.
#[derive(Serialize)]
pub struct LeakJson<'a> {
    /// The capture file it is in.
    pub capture: &'a str,
    /// Hex, as pmat prints it.
    pub address: String,
    pub kind: &'static str,
    #[serde(rename = "type")]
    pub type_name: &'a str,
    pub size: u64,
    pub iteration: u32,
    pub file: &'a str,
    pub line: u32,
    pub sub: &'a str,
    pub c_file: &'a str,
    pub c_line: u32,
    pub c_func: &'a str,
}

/// A capture named in `diff --json`.
#[derive(Serialize)]
pub struct CaptureBrief<'a> {
    pub file: &'a str,
    pub pid: u32,
    pub program: &'a str,
    /// Closed iterations.
    pub iterations: usize,
}

impl<'a> CaptureBrief<'a> {
    pub fn of(loaded: &'a Loaded) -> CaptureBrief<'a> {
        CaptureBrief {
            file: &loaded.file,
            pid: loaded.capture.header.pid,
            program: &loaded.capture.header.program,
            iterations: loaded.closed(),
        }
    }
}

/// A site change with its deltas spelled out.
#[derive(Serialize)]
pub struct ChangeJson<'a> {
    #[serde(flatten)]
    pub change: &'a SiteChange,
    pub count_delta: i64,
    pub bytes_delta: i64,
}

impl<'a> ChangeJson<'a> {
    pub fn of(change: &'a SiteChange) -> ChangeJson<'a> {
        ChangeJson {
            change,
            count_delta: change.count_delta(),
            bytes_delta: change.bytes_delta(),
        }
    }
}

/// `diff --json`.
#[derive(Serialize)]
pub struct DiffJson<'a> {
    pub before: CaptureBrief<'a>,
    pub after: CaptureBrief<'a>,
    pub rule: LeakRule,
    pub grew: Vec<ChangeJson<'a>>,
    pub shrank: Vec<ChangeJson<'a>>,
}

/// One stack of `flamegraph --json`.
#[derive(Serialize)]
pub struct StackJson<'a> {
    /// Outermost first, as drawn bottom-up.
    pub frames: &'a [String],
    pub value: u64,
}

/// `flamegraph --json`.
#[derive(Serialize)]
pub struct FlamegraphJson<'a> {
    pub output: &'a str,
    /// "bytes" or "allocations".
    pub unit: &'static str,
    pub total: u64,
    pub stacks: Vec<StackJson<'a>>,
}

/// `plot --json`.
#[derive(Serialize)]
pub struct PlotJson<'a> {
    pub output: &'a str,
    pub history: &'a [Snapshot],
}

//! `memtrace_rs_*`: what the XSUBs in `shim.c` call (declared in `shim.h`).
//!
//! Every function catches panics: a bug here must never unwind into perl.
//! Lists are returned as an opaque `MtList` owning the items and everything
//! they point into; the XSUB hands it back to `memtrace_rs_free_list`.

use std::ffi::{c_char, c_int, CString};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use memtrace_analysis::format::{Header, Kind, PerlSite, Record, Site};
use memtrace_analysis::{Grouping, Heap, ReportOptions, Spelling};
use serde_json::Value;

use super::capture;
use super::ffi::{MtLeakRow, MtList, MtSnapshot, MtStats, MtValue};
use super::live_heap::{LiveRecords, LiveTables};
use super::perl_sites::PERL_SITE_SOURCE;
use super::sv_types::sv_type_name;
use super::value;
use crate::recorder::{self, LeakRule, Snapshot};

/// Run `f`, turning a panic into `fallback` and one line on stderr.
fn guarded<R>(what: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(_) => {
            // Never panic here: a failed write to stderr is ignored.
            let _ = writeln!(
                std::io::stderr(),
                "Devel::MemTrace: internal error in {what}; please report it"
            );
            fallback
        }
    }
}

#[no_mangle]
pub extern "C" fn memtrace_rs_free_list(list: *mut MtList) {
    guarded("free_list", (), || {
        if !list.is_null() {
            // SAFETY: made by value::hand_out, handed back once.
            unsafe { value::free(list) }
        }
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_marker() {}

#[no_mangle]
pub extern "C" fn memtrace_rs_boot() {
    guarded("boot", (), || recorder::set_site_source(&PERL_SITE_SOURCE))
}

#[no_mangle]
pub extern "C" fn memtrace_rs_enable(baseline_svs: u64) {
    guarded("enable", (), || {
        recorder::with_aggregator(|a| {
            a.baseline_svs.get_or_insert(baseline_svs);
        });
        recorder::enable();
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_pause() {
    recorder::pause();
}

/// `-malloc`: the interposed `malloc` family records (see `malloc_hooks`).
#[no_mangle]
pub extern "C" fn memtrace_rs_record_malloc(on: c_int) {
    crate::malloc_hooks::set_recording(on != 0);
}

#[no_mangle]
pub extern "C" fn memtrace_rs_set_depths(stack: u32, c_frames: u32) {
    guarded("set_depths", (), || {
        recorder::set_context_depths(stack, c_frames)
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_disable() {
    recorder::finish();
}

#[no_mangle]
pub extern "C" fn memtrace_rs_state() -> c_int {
    if recorder::is_recording() {
        2
    } else if recorder::is_paused() {
        1
    } else {
        0
    }
}

#[no_mangle]
pub extern "C" fn memtrace_rs_suppress(on: c_int) {
    guarded("suppress", (), || {
        recorder::suppress_new_on_this_thread(on != 0)
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_sv_type_name(svtype: i32, is_ref: c_int) -> *const c_char {
    sv_type_name(svtype, is_ref != 0).as_ptr()
}

fn mt_snapshot(s: &Snapshot) -> MtSnapshot {
    MtSnapshot {
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
    }
}

#[no_mangle]
pub extern "C" fn memtrace_rs_checkpoint(
    svs: u64,
    skip: u32,
    min_age: u32,
    out: *mut MtSnapshot,
) -> c_int {
    guarded("checkpoint", 0, || {
        let snapshot = recorder::checkpoint(svs, LeakRule { skip, min_age });
        // SAFETY: the XSUB passes a valid out-pointer.
        unsafe { *out = mt_snapshot(&snapshot) };
        1
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_current_iteration() -> u32 {
    guarded("current_iteration", 0, || {
        recorder::with_aggregator(|a| a.iteration)
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_stats(out: *mut MtStats) {
    guarded("stats", (), || {
        let stats = recorder::with_aggregator(|a| MtStats {
            events: a.totals.events,
            allocs: a.totals.allocs,
            reallocs: a.totals.reallocs,
            frees: a.totals.frees,
            new_svs: a.totals.new_svs,
            del_svs: a.totals.del_svs,
            unknown_frees: recorder::unknown_frees(a),
            overwritten: a.totals.overwritten,
            nursery_cancelled: recorder::cancelled_in_nurseries(),
            live_records: a.live.len() as u64,
            mem_live: a.totals.mem_live,
            mem_bytes: a.totals.mem_bytes,
            sv_live: a.totals.sv_live,
            sites: a.sites.len() as u64,
            perl_sites: recorder::with_perl_sites(|p| p.len() as u64),
            stacks: recorder::with_perl_sites(|p| p.stacks_len() as u64 - 1),
            c_frame_lists: recorder::with_perl_sites(|p| p.c_frames_len() as u64 - 1),
            table_bytes: a.live_table_bytes() as u64,
            site_table_bytes: a.sites.heap_bytes() as u64,
            iteration: a.iteration,
        });
        // SAFETY: the XSUB passes a valid out-pointer.
        unsafe { *out = stats };
    })
}

/// Run `answer` and hand its value (or its error) to the XSUB; NULL after
/// a panic.
fn answer(
    what: &str,
    out: *mut *const MtValue,
    answer: impl FnOnce() -> Result<Value, String>,
) -> *mut MtList {
    guarded(what, std::ptr::null_mut(), || match answer() {
        Ok(v) => value::hand_out(v, out),
        Err(message) => value::hand_out_error(message, out),
    })
}

/// Run `f` on the analysis's view of the live recorder.
fn with_live_heap<R>(
    rule: LeakRule,
    prepare: impl FnOnce(&mut LiveRecords),
    f: impl FnOnce(&Heap) -> R,
) -> R {
    recorder::with_aggregator(|a| {
        let header = Header {
            skip: rule.skip,
            min_age: rule.min_age,
            ..Header::default()
        };
        let tables = recorder::with_perl_sites(|perl| LiveTables::copy(a, perl, header));
        let mut records = LiveRecords::new(a, &tables);
        prepare(&mut records);
        f(&Heap {
            tables: &tables.capture,
            records: &records,
        })
    })
}

fn to_value(v: impl serde::Serialize) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| format!("Devel::MemTrace: internal error: {e}"))
}

#[no_mangle]
pub extern "C" fn memtrace_rs_history(out: *mut *const MtValue) -> *mut MtList {
    answer("history", out, || {
        let history = recorder::with_aggregator(|a| a.history.snapshots().to_vec());
        to_value(history)
    })
}

/// What `leaks()` reads: the rows, and the NUL-terminated strings they
/// point into.
struct LeakRows {
    _rows: Vec<MtLeakRow>,
    _strings: Vec<CString>,
    _holders: Vec<[CString; 3]>,
    _contexts: value::Handed,
}

/// Leaks whose holders `leaks()` looks for (the first ones): a search per
/// leak, where a program may have millions. leak_sites() samples each site.
const LEAK_HOLDERS_MAX: usize = 1000;

#[no_mangle]
pub extern "C" fn memtrace_rs_leaks(
    skip: u32,
    min_age: u32,
    rows_out: *mut *const MtLeakRow,
    n_out: *mut usize,
    contexts_out: *mut *const MtValue,
) -> *mut MtList {
    guarded("leaks", std::ptr::null_mut(), || {
        let rule = LeakRule { skip, min_age };
        // Each leak with its type name's string id and its sites, and the
        // strings; rows are made once the recorder is let go.
        let (leaks, strings, holders, contexts) = with_live_heap(
            rule,
            |_| {},
            |heap| {
                let leaks: Vec<(Record, u32, Site, PerlSite)> =
                    memtrace_analysis::leaks(heap, rule)
                        .into_iter()
                        .map(|leak| {
                            let site = *heap.site(leak.site);
                            let type_id = match leak.kind {
                                Kind::Sv => leak.sv_type,
                                Kind::Mem | Kind::Malloc => site.type_name,
                            };
                            (leak, type_id, site, *heap.perl_site(&site))
                        })
                        .collect();
                let asked: Vec<(Kind, u64)> = leaks
                    .iter()
                    .take(LEAK_HOLDERS_MAX)
                    .map(|(leak, ..)| (leak.kind, leak.address))
                    .collect();
                let holders = heap.records.holders(heap.tables, &asked);
                let stacks: Vec<Value> = (0..heap.tables.stacks.len() as u32)
                    .map(|id| serde_json::to_value(heap.stack_frames(id)).unwrap_or_default())
                    .collect();
                let c_frames: Vec<Value> = (0..heap.tables.c_frames.len() as u32)
                    .map(|id| serde_json::to_value(heap.c_frames_text(id)).unwrap_or_default())
                    .collect();
                let contexts = serde_json::json!({ "stacks": stacks, "c_frames": c_frames });
                (leaks, heap.tables.strings.clone(), holders, contexts)
            },
        );
        let c_text = |s: &str| CString::new(s.replace('\0', "")).unwrap_or_default();
        let holders: Vec<[CString; 3]> = holders
            .into_iter()
            .map(|h| match h {
                Some(h) => [c_text(&h.kind), c_text(&h.path), c_text(&h.text)],
                None => [CString::default(), CString::default(), CString::default()],
            })
            .collect();
        let strings: Vec<CString> = strings
            .into_iter()
            .map(|s| CString::new(s.replace('\0', "")).unwrap_or_default())
            .collect();
        let text = |id: u32| {
            strings
                .get(id as usize)
                .map_or(c"".as_ptr(), |s| s.as_ptr())
        };
        let rows: Vec<MtLeakRow> = leaks
            .iter()
            .map(|(leak, type_id, site, perl)| MtLeakRow {
                address: leak.address as usize,
                size: leak.size,
                iteration: leak.iteration,
                line: perl.line,
                c_line: site.c_line,
                // The site's kind: a `malloc` site's records are `mem`.
                kind: match site.kind {
                    Kind::Sv => c"sv".as_ptr(),
                    Kind::Mem => c"mem".as_ptr(),
                    Kind::Malloc => c"malloc".as_ptr(),
                },
                type_name: text(*type_id),
                file: text(perl.file),
                sub_name: text(perl.sub),
                c_file: text(site.c_file),
                c_func: text(site.c_func),
                held_kind: std::ptr::null(),
                held_path: std::ptr::null(),
                held_text: std::ptr::null(),
                stack: leak.stack,
                c_frames: leak.c_frames,
            })
            .collect();
        let mut rows = rows;
        for (row, [kind, path, text]) in rows.iter_mut().zip(&holders) {
            if !kind.as_bytes().is_empty() {
                row.held_kind = kind.as_ptr();
                row.held_path = path.as_ptr();
                row.held_text = text.as_ptr();
            }
        }
        // SAFETY: the XSUB passes valid out-pointers; the rows and the
        // strings they point into live in the list until it is freed (a
        // vector's buffer does not move when the vector does).
        unsafe {
            *rows_out = rows.as_ptr();
            *n_out = rows.len();
        }
        let contexts = value::Handed(value::hand_out(contexts, contexts_out));
        value::owned(LeakRows {
            _rows: rows,
            _strings: strings,
            _holders: holders,
            _contexts: contexts,
        })
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_leak_sites(
    skip: u32,
    min_age: u32,
    by_stack: c_int,
    library: *const c_char,
    library_len: usize,
    out: *mut *const MtValue,
) -> *mut MtList {
    answer("leak_sites", out, || {
        let rule = LeakRule { skip, min_age };
        let grouping = if by_stack != 0 {
            // SAFETY: the XSUB passes `library_len` bytes of a perl string.
            let text = unsafe { std::slice::from_raw_parts(library as *const u8, library_len) };
            Grouping::Stack {
                library: String::from_utf8_lossy(text)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
            }
        } else {
            Grouping::Site
        };
        to_value(with_live_heap(
            rule,
            |_| {},
            |heap| memtrace_analysis::leak_sites_by(heap, rule, &grouping),
        ))
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_group_leaks(
    svs: *const usize,
    n_svs: usize,
    mems: *const usize,
    n_mems: usize,
    first: u32,
    last: u32,
    out: *mut *const MtValue,
) -> *mut MtList {
    answer("group_leaks", out, || {
        // SAFETY: the XSUB passes `n_svs` and `n_mems` addresses.
        let (svs, mems) = unsafe {
            (
                std::slice::from_raw_parts(svs, n_svs),
                std::slice::from_raw_parts(mems, n_mems),
            )
        };
        let wanted = svs
            .iter()
            .map(|&a| (Kind::Sv, a as u64))
            .chain(mems.iter().map(|&a| (Kind::Mem, a as u64)));
        to_value(with_live_heap(
            LeakRule::default(),
            |_| {},
            |heap| {
                let leaks = wanted
                    .filter_map(|(kind, address)| heap.records.find(kind, address))
                    .map(|mut record| {
                        heap.records.complete(&mut record);
                        record
                    })
                    .collect();
                memtrace_analysis::group(heap, leaks, first, last)
            },
        ))
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_report(
    skip: u32,
    min_age: u32,
    all: c_int,
    top: u32,
    out: *mut *const MtValue,
) -> *mut MtList {
    answer("report", out, || {
        let options = ReportOptions {
            rule: LeakRule { skip, min_age },
            all: all != 0,
            top,
            spelling: Spelling::Perl,
        };
        let text = with_live_heap(
            options.rule,
            |_| {},
            |heap| memtrace_analysis::report(heap, options),
        );
        Ok(Value::String(text))
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_identify(
    addresses: *const usize,
    n: usize,
    skip: u32,
    min_age: u32,
    out: *mut *const MtValue,
) -> *mut MtList {
    answer("identify", out, || {
        // SAFETY: the XSUB passes `n` addresses.
        let addresses: Vec<u64> = unsafe { std::slice::from_raw_parts(addresses, n) }
            .iter()
            .map(|&a| a as u64)
            .collect();
        let rule = LeakRule { skip, min_age };
        let mut buffers = addresses.clone();
        to_value(with_live_heap(
            rule,
            |records| records.find_owners(&mut buffers),
            |heap| {
                addresses
                    .iter()
                    .map(|&address| memtrace_analysis::identify(heap, rule, address))
                    .collect::<Vec<_>>()
            },
        ))
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_dump(
    path: *const c_char,
    path_len: usize,
    about: *const MtValue,
    out: *mut *const MtValue,
) -> *mut MtList {
    answer("dump", out, || {
        // SAFETY: the XSUB passes the path's bytes and a HASH of strings.
        let path = unsafe { std::slice::from_raw_parts(path as *const u8, path_len) };
        let path = std::str::from_utf8(path)
            .map_err(|_| "Devel::MemTrace::dump: the file name is not UTF-8".to_string())?;
        let about = unsafe { value::hash_of_strings(about) };
        let text = |key: &str| about.get(key).cloned().unwrap_or_default();
        let number = |key: &str| text(key).parse::<u32>().unwrap_or(0);
        let header = Header {
            perl_version: text("perl_version"),
            perl_config: text("perl_config"),
            program: text("program"),
            tool_version: text("tool_version"),
            pid: std::process::id(),
            time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            skip: number("skip"),
            min_age: number("min_age"),
            ..Header::default()
        };
        capture::dump(path, header)
    })
}

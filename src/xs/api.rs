//! `memtrace_rs_*`: what the XSUBs in `shim.c` call (declared in `shim.h`).
//!
//! Every function catches panics: a bug here must never unwind into perl.
//! Lists are returned as an opaque `MtList` owning the items and everything
//! they point into; the XSUB hands it back to `memtrace_rs_free_list`.

use std::ffi::{c_char, c_int};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::ffi::{MtLeak, MtLeakSite, MtList, MtSnapshot, MtStats, MtTypeCount};
use super::perl_sites::PERL_SITE_SOURCE;
use super::sv_types::{sv_type_name, LiveSvs};
use crate::recorder::{self, Aggregator, LeakRule, Snapshot};
use crate::report;

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

/// Owns a list's items and the buffers they point into.
struct OwnedList {
    _items: Box<dyn std::any::Any>,
    _buffers: Vec<Box<dyn std::any::Any>>,
}

fn hand_out<T: 'static>(
    items: Vec<T>,
    buffers: Vec<Box<dyn std::any::Any>>,
    out: *mut *const T,
    len: *mut usize,
) -> *mut MtList {
    // SAFETY: the XSUB passes valid out-pointers.
    unsafe {
        *out = items.as_ptr();
        *len = items.len();
    }
    let owned = Box::new(OwnedList {
        _items: Box::new(items),
        _buffers: buffers,
    });
    Box::into_raw(owned) as *mut MtList
}

#[no_mangle]
pub extern "C" fn memtrace_rs_free_list(list: *mut MtList) {
    guarded("free_list", (), || {
        if !list.is_null() {
            // SAFETY: made by hand_out, handed back once.
            drop(unsafe { Box::from_raw(list as *mut OwnedList) });
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
            table_bytes: a.live_table_bytes() as u64,
            site_table_bytes: a.sites.heap_bytes() as u64,
            iteration: a.iteration,
        });
        // SAFETY: the XSUB passes a valid out-pointer.
        unsafe { *out = stats };
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_history(
    items: *mut *const MtSnapshot,
    len: *mut usize,
) -> *mut MtList {
    guarded("history", std::ptr::null_mut(), || {
        let history: Vec<MtSnapshot> =
            recorder::with_aggregator(|a| a.history.iter().map(mt_snapshot).collect());
        hand_out(history, Vec::new(), items, len)
    })
}

/// Perl file and sub of a Perl site, as immortal C strings.
fn perl_site_text(site: recorder::PerlSiteId) -> (*const c_char, u32, *const c_char) {
    recorder::with_perl_sites(|p| {
        let s = p.get(site);
        (p.strings.c_ptr(s.file), s.line, p.strings.c_ptr(s.sub))
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_leaks(
    skip: u32,
    min_age: u32,
    items: *mut *const MtLeak,
    len: *mut usize,
) -> *mut MtList {
    guarded("leaks", std::ptr::null_mut(), || {
        let leaks = recorder::with_aggregator(|a: &mut Aggregator| {
            report::leaks(
                a,
                LeakRule { skip, min_age },
                &LiveSvs::of_this_interpreter(),
            )
            .into_iter()
            .map(|l| {
                let site = *a.sites.get(l.site);
                let (file, line, sub_name) = perl_site_text(site.perl_site);
                MtLeak {
                    address: l.address,
                    kind: l.kind.name().as_ptr(),
                    type_name: l.type_name.c_ptr(a),
                    size: l.size,
                    iteration: l.iteration,
                    file,
                    line,
                    sub_name,
                    c_file: a.sites.strings.c_ptr(site.c_file),
                    c_line: site.c_line,
                    c_func: a.sites.strings.c_ptr(site.c_func),
                }
            })
            .collect::<Vec<_>>()
        });
        hand_out(leaks, Vec::new(), items, len)
    })
}

#[no_mangle]
pub extern "C" fn memtrace_rs_leak_sites(
    skip: u32,
    min_age: u32,
    items: *mut *const MtLeakSite,
    len: *mut usize,
) -> *mut MtList {
    guarded("leak_sites", std::ptr::null_mut(), || {
        let mut buffers: Vec<Box<dyn std::any::Any>> = Vec::new();
        let sites = recorder::with_aggregator(|a: &mut Aggregator| {
            report::leak_sites(
                a,
                LeakRule { skip, min_age },
                &LiveSvs::of_this_interpreter(),
            )
            .into_iter()
            .map(|s| {
                let (file, line, sub_name) = perl_site_text(s.perl_site);
                let per_iteration: Box<[u64]> = s.per_iteration.into_boxed_slice();
                let types: Box<[MtTypeCount]> = s
                    .types
                    .iter()
                    .map(|(name, count)| MtTypeCount {
                        name: name.c_ptr(a),
                        count: *count,
                    })
                    .collect();
                let site = MtLeakSite {
                    kind: s.kind.name().as_ptr(),
                    file,
                    line,
                    sub_name,
                    c_file: a.sites.strings.c_ptr(s.c_file),
                    c_line: s.c_line,
                    c_func: a.sites.strings.c_ptr(s.c_func),
                    count: s.count,
                    bytes: s.bytes,
                    first_iteration: s.first_iteration,
                    per_iteration: per_iteration.as_ptr(),
                    per_iteration_len: per_iteration.len(),
                    types: types.as_ptr(),
                    types_len: types.len(),
                    status: s.status.name().as_ptr(),
                };
                // A boxed slice's buffer does not move when the box does.
                buffers.push(Box::new(per_iteration));
                buffers.push(Box::new(types));
                site
            })
            .collect::<Vec<_>>()
        });
        hand_out(sites, buffers, items, len)
    })
}

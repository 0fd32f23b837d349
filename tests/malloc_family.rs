//! The interposed `malloc` family (`-malloc`), in this test process: its
//! definitions win here as they do in the perl binary. A block perl never
//! logs is a record of site kind `malloc` whose C site is the function; a
//! block perl logs (its Newx called malloc first) is one record, perl's;
//! realloc moves a record, realloc(NULL) makes one, realloc to 0 and free
//! end one, a free of a block never recorded is harmless, and
//! posix_memalign's blocks keep their alignment. Threads record their own
//! blocks and free each other's.

mod common;

use std::ffi::c_void;
use std::hint::black_box;

use common::{log_alloc, log_free};
use devel_memtrace::malloc_hooks;
use devel_memtrace::recorder::{self, live::live_key, sites::Kind};

/// Tests in this file share the process-wide recorder.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fresh() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    recorder::reset_for_tests();
    recorder::enable();
    malloc_hooks::set_recording(true);
    // This thread's first event sets its recorder state up.
    log_alloc(0x10, 8);
    log_free(0x10);
    guard
}

/// The kind, C function and size of the live record at `p`, if any, once
/// every event so far is applied (a drain may hold an event back until the
/// next one, as a checkpoint would not).
fn record_at(p: *mut c_void) -> Option<(Kind, String, u64)> {
    recorder::with_aggregator(|_| ());
    recorder::with_aggregator(|a| {
        let record = a.live.get(&live_key(Kind::Mem, p as usize))?;
        let site = a.sites.get(record.site);
        Some((
            site.kind,
            a.sites.strings.get(site.c_func).to_string(),
            record.size(),
        ))
    })
}

#[test]
fn what_perl_never_logs_is_recorded_and_what_it_logs_stays_perls() {
    let _serial = fresh();

    // SAFETY (all the calls below): the C library's functions, used as C
    // code would use them.
    unsafe {
        let p = black_box(libc::malloc(100));
        assert_eq!(record_at(p), Some((Kind::Malloc, "malloc".into(), 100)));
        let p = black_box(libc::realloc(p, 5000));
        assert_eq!(
            record_at(p),
            Some((Kind::Malloc, "malloc".into(), 5000)),
            "realloc moves the record, keeping its site"
        );
        libc::free(p);
        assert_eq!(record_at(p), None, "free ends it");

        let mut q: *mut c_void = std::ptr::null_mut();
        assert_eq!(libc::posix_memalign(&mut q, 4096, 64), 0);
        assert_eq!(q as usize % 4096, 0, "posix_memalign's alignment is kept");
        assert_eq!(
            record_at(q),
            Some((Kind::Malloc, "posix_memalign".into(), 64))
        );
        libc::free(q);

        let nothing: *mut c_void = black_box(std::ptr::null_mut());
        let r = black_box(libc::realloc(nothing, 40));
        assert_eq!(record_at(r), Some((Kind::Malloc, "realloc".into(), 40)));
        // black_box: else the compiler may drop a realloc whose result is
        // only freed, and the call never happens.
        let gone = black_box(libc::realloc(black_box(r), 0));
        assert_eq!(record_at(r), None, "realloc to 0 frees it");
        libc::free(gone);

        // perl's Newx: malloc, then perl's log of the same block.
        let n = black_box(libc::malloc(64));
        log_alloc(n as usize, 64);
        assert_eq!(
            record_at(n),
            Some((Kind::Mem, "f".into(), 64)),
            "one record, perl's"
        );
        let merged = recorder::with_aggregator(|a| a.totals.overwritten);
        assert_eq!(merged, 0, "a merge is not an overwrite");
        log_free(n as usize);
        libc::free(n);
        assert_eq!(record_at(n), None);

        // A block made while nothing records, freed while recording.
        malloc_hooks::set_recording(false);
        let old = black_box(libc::malloc(77));
        malloc_hooks::set_recording(true);
        assert_eq!(record_at(old), None);
        libc::free(old);
        assert_eq!(record_at(old), None, "an unknown free leaves nothing");
    }
    malloc_hooks::set_recording(false);
    recorder::disable();
}

#[test]
fn threads_record_their_own_blocks_and_free_each_others() {
    let _serial = fresh();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                log_alloc(0x20, 8); // this thread's recorder state
                log_free(0x20);
                let mut kept = Vec::new();
                for i in 0..20_000 {
                    // SAFETY: the C library's malloc and free.
                    let p = unsafe { black_box(libc::malloc(24 + i % 100)) };
                    if i % 2000 == 0 {
                        kept.push(p as usize);
                    } else {
                        unsafe { libc::free(p) };
                    }
                }
                kept
            })
        })
        .collect();
    let kept: Vec<usize> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    assert_eq!(kept.len(), 20);
    for &p in &kept {
        let kind = record_at(p as *mut c_void).map(|(kind, ..)| kind);
        assert_eq!(kind, Some(Kind::Malloc), "the block kept at {p:#x}");
    }
    for &p in &kept {
        // SAFETY: blocks from malloc, freed once, on another thread.
        unsafe { libc::free(p as *mut c_void) };
    }
    for &p in &kept {
        assert_eq!(record_at(p as *mut c_void), None, "freed at {p:#x}");
    }
    malloc_hooks::set_recording(false);
    recorder::disable();
}

//! Hooks that fire while the recorder is inside itself (the XS layer calling
//! perl while it holds the aggregator) neither deadlock nor get lost; thread
//! exit hands a thread's events over; off and paused mean what they say.

use std::ffi::c_void;
use std::sync::Mutex;

use devel_memtrace::hooks::{Perl_mem_log_alloc, Perl_mem_log_free};
use devel_memtrace::recorder::{self, ring::RING_CAPACITY};

/// Tests in this file share the process-wide recorder.
static SERIAL: Mutex<()> = Mutex::new(());

fn fresh() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    recorder::reset_for_tests();
    guard
}

fn fake_alloc(addr: usize) {
    Perl_mem_log_alloc(
        1,
        16,
        c"char".as_ptr(),
        addr as *mut c_void,
        c"t.c".as_ptr(),
        1,
        c"f".as_ptr(),
    );
}

fn fake_free(addr: usize) {
    Perl_mem_log_free(addr as *mut c_void, c"t.c".as_ptr(), 2, c"f".as_ptr());
}

fn live_count() -> usize {
    recorder::with_aggregator(|a| a.live.len())
}

#[test]
fn hooks_inside_the_aggregator_overflow_and_are_kept() {
    let _g = fresh();
    recorder::enable();
    let n = 3 * RING_CAPACITY + 17;
    recorder::with_aggregator(|_| {
        for i in 0..n {
            fake_alloc(0x10_0000 + i * 16);
        }
    });
    assert_eq!(live_count(), n);
    recorder::with_aggregator(|_| {
        for i in 0..n {
            fake_free(0x10_0000 + i * 16);
        }
    });
    assert_eq!(live_count(), 0);
    assert_eq!(recorder::with_aggregator(|a| recorder::unknown_frees(a)), 0);
}

#[test]
fn a_thread_that_exits_hands_over_its_events() {
    let _g = fresh();
    recorder::enable();
    let exited = std::thread::spawn(|| {
        for i in 0..1000 {
            fake_alloc(0x20_0000 + i * 16);
        }
        fake_free(0x20_0000);
        recorder::this_thread().expect("the thread recorded")
    })
    .join()
    .unwrap();
    assert_eq!(live_count(), 999);
    // Its ring is forgotten once drained.
    assert!(!recorder::registered_threads().contains(&exited));
}

#[test]
fn nothing_is_recorded_while_off_and_paused_still_sees_frees() {
    let _g = fresh();
    fake_alloc(0x30_0000);
    assert_eq!(live_count(), 0, "off: nothing recorded");
    recorder::enable();
    fake_alloc(0x30_0010);
    fake_alloc(0x30_0020);
    recorder::pause();
    fake_alloc(0x30_0030); // not recorded
    fake_free(0x30_0010); // recorded: the table must not go stale
    recorder::enable();
    let keys: Vec<u64> = recorder::with_aggregator(|a| a.live.keys().copied().collect());
    assert_eq!(keys, vec![0x30_0020]);
}

#[test]
fn suppressed_allocations_are_not_recorded_but_their_frees_are_harmless() {
    let _g = fresh();
    recorder::enable();
    recorder::suppress_new_on_this_thread(true);
    fake_alloc(0x40_0000);
    recorder::suppress_new_on_this_thread(false);
    fake_free(0x40_0000);
    fake_alloc(0x40_0010);
    let (live, unknown) = recorder::with_aggregator(|a| (a.live.len(), recorder::unknown_frees(a)));
    assert_eq!((live, unknown), (1, 1));
}

//! Hooks that fire while the recorder is inside itself (the XS layer calling
//! perl while it holds the aggregator) neither deadlock nor get lost; thread
//! exit hands a thread's events over; off and paused mean what they say.

mod common;

use common::{log_alloc, log_free};

use std::sync::Mutex;

use devel_memtrace::recorder::{self, ring::RING_CAPACITY};

/// Tests in this file share the process-wide recorder.
static SERIAL: Mutex<()> = Mutex::new(());

fn fresh() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    recorder::reset_for_tests();
    guard
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
            log_alloc(0x10_0000 + i * 16, 16);
        }
    });
    assert_eq!(live_count(), n);
    recorder::with_aggregator(|_| {
        for i in 0..n {
            log_free(0x10_0000 + i * 16);
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
            log_alloc(0x20_0000 + i * 16, 16);
        }
        log_free(0x20_0000);
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
    log_alloc(0x30_0000, 16);
    assert_eq!(live_count(), 0, "off: nothing recorded");
    recorder::enable();
    log_alloc(0x30_0010, 16);
    log_alloc(0x30_0020, 16);
    recorder::pause();
    log_alloc(0x30_0030, 16); // not recorded
    log_free(0x30_0010); // recorded: the table must not go stale
    recorder::enable();
    let keys: Vec<u64> = recorder::with_aggregator(|a| a.live.keys().collect());
    assert_eq!(keys, vec![0x30_0020]);
}

#[test]
fn suppressed_allocations_are_not_recorded_but_their_frees_are_harmless() {
    let _g = fresh();
    recorder::enable();
    recorder::suppress_new_on_this_thread(true);
    log_alloc(0x40_0000, 16);
    recorder::suppress_new_on_this_thread(false);
    log_free(0x40_0000);
    log_alloc(0x40_0010, 16);
    let (live, unknown) = recorder::with_aggregator(|a| (a.live.len(), recorder::unknown_frees(a)));
    assert_eq!((live, unknown), (1, 1));
}

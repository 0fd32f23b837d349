//! The solo thread's nursery holds its newest allocations unpublished; a
//! second thread that starts recording must take them over before its own
//! events, so a free of a held address on that thread finds its allocation.
//! (One test in this file: which thread is solo is decided once per process.)

mod common;

use common::{log_alloc, log_free};

use devel_memtrace::recorder::{self, live::live_key, sites::Kind};

#[test]
fn held_allocations_are_handed_over_to_a_thread_that_starts_recording() {
    recorder::enable();
    // This thread records first: it is solo, and these wait in its nursery.
    for i in 0..100 {
        // transient work: allocated and freed while held, never published
        log_alloc(0x7100_0000 + i * 64, 32);
        log_free(0x7100_0000 + i * 64);
    }
    // A free of an address nobody recorded is settled by the solo thread
    // (its published-address filter), without reaching the aggregator.
    log_free(0x7200_0000);
    let (unknown, frees_applied) =
        recorder::with_aggregator(|a| (recorder::unknown_frees(a), a.totals.frees));
    assert_eq!((unknown, frees_applied), (1, 0));

    let (handed, kept) = (0x7000_0000usize, 0x7000_1000usize);
    log_alloc(handed, 32);
    log_alloc(kept, 32);
    // A new thread frees one of them (its first event triggers the hand-over)
    // and has the aggregator apply that free at once.
    std::thread::spawn(move || {
        log_free(handed);
        recorder::with_aggregator(|_| ());
    })
    .join()
    .unwrap();

    let (live, unknown) = recorder::with_aggregator(|a| {
        let mut keys: Vec<u64> = a.live.keys().collect();
        keys.sort();
        (keys, recorder::unknown_frees(a))
    });
    assert_eq!(live, vec![live_key(Kind::Mem, kept)]);
    assert_eq!(
        unknown, 1,
        "the other thread's free found the allocation it frees"
    );
    assert!(
        recorder::cancelled_in_nurseries() >= 100,
        "transient pairs never left the nursery"
    );
}

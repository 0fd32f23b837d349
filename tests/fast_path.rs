//! The solo thread's fast paths (`recorder::record_fast_*`): allocations
//! that outnumber the nursery are published when pushed out and their frees
//! find them; moves of held, published and unknown buffers; SV heads next to
//! buffers at the same address. Whatever path an event takes, the live table
//! must end exactly right. (One test in this file: which thread is solo is
//! decided once per process, and only the solo thread has the fast paths.)

mod common;

use std::ffi::c_void;

use common::{log_alloc, log_free};

use devel_memtrace::hooks::{Perl_mem_log_del_sv, Perl_mem_log_new_sv};
use devel_memtrace::recorder::{self, live::live_key, sites::Kind, Op, StaticStr};

fn new_sv(addr: usize) {
    Perl_mem_log_new_sv(
        addr as *const c_void,
        c"sv.c".as_ptr(),
        1,
        c"S_new_SV".as_ptr(),
    );
}

fn del_sv(addr: usize) {
    Perl_mem_log_del_sv(
        addr as *const c_void,
        c"sv.c".as_ptr(),
        2,
        c"S_del_sv".as_ptr(),
    );
}

/// What `Perl_safesysrealloc` records: perl moved `old` to `new`, unlogged.
fn moved(new: usize, old: usize, size: u64) {
    let null = StaticStr::NULL;
    recorder::record(Op::Move, new, old, size, null, null, 0, null);
}

fn live_keys() -> Vec<u64> {
    recorder::with_aggregator(|a| {
        let mut keys: Vec<u64> = a.live.keys().collect();
        keys.sort();
        keys
    })
}

#[test]
fn every_path_of_the_solo_thread_keeps_the_table_exact() {
    recorder::enable();

    // Far more live at once than the nursery holds: the oldest are pushed
    // out (published), and their frees must be published too.
    let many: Vec<usize> = (0..5000).map(|i| 0x1000_0000 + i * 64).collect();
    for &addr in &many {
        log_alloc(addr, 32);
        new_sv(addr + 8);
    }
    assert_eq!(live_keys().len(), 2 * many.len());
    for &addr in &many {
        del_sv(addr + 8);
        log_free(addr);
    }
    let unknown = recorder::with_aggregator(|a| recorder::unknown_frees(a));
    assert_eq!((live_keys(), unknown), (vec![], 0));

    // A held buffer moves in the nursery; a published one moves in the
    // table; a buffer nobody recorded moves nowhere.
    log_alloc(0x2000_0000, 16);
    moved(0x2000_1000, 0x2000_0000, 48);
    log_alloc(0x2100_0000, 16);
    recorder::with_aggregator(|_| ()); // publishes what the nursery holds
    moved(0x2100_1000, 0x2100_0000, 64);
    moved(0x2200_1000, 0x2200_0000, 64);
    let sizes = recorder::with_aggregator(|a| {
        let mut sizes: Vec<(u64, u64)> = a.live.iter().map(|(k, r)| (k, r.size())).collect();
        sizes.sort();
        sizes
    });
    assert_eq!(
        sizes,
        vec![
            (live_key(Kind::Mem, 0x2000_1000), 48),
            (live_key(Kind::Mem, 0x2100_1000), 64),
        ]
    );

    // An SV head and a buffer at the same address are different records:
    // freeing one leaves the other.
    new_sv(0x2300_0000);
    log_alloc(0x2300_0000, 8);
    log_free(0x2300_0000);
    log_free(0x2000_1000);
    log_free(0x2100_1000);
    assert_eq!(live_keys(), vec![live_key(Kind::Sv, 0x2300_0000)]);
    del_sv(0x2300_0000);
    let unknown = recorder::with_aggregator(|a| recorder::unknown_frees(a));
    assert_eq!((live_keys(), unknown), (vec![], 0));
    assert!(
        recorder::cancelled_in_nurseries() > 0,
        "short-lived pairs were cancelled in the nursery"
    );
}

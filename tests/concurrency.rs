//! Four or more threads allocate, move, free each other's allocations and
//! reuse addresses (real malloc'd blocks, so reuse follows real causality);
//! the live table must end exactly equal to what is still allocated.

use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

use devel_memtrace::hooks::{
    Perl_mem_log_alloc, Perl_mem_log_del_sv, Perl_mem_log_free, Perl_mem_log_new_sv,
    Perl_mem_log_realloc,
};
use devel_memtrace::recorder::{self, live::live_key, sites::Kind};

const THREADS: usize = 6;
const ROUNDS: usize = 60_000;

/// A malloc'd block whose hooks are called the way perl calls them.
struct Block(*mut c_void, bool);
unsafe impl Send for Block {}

fn alloc(size: usize, sv: bool) -> Block {
    let p = unsafe { libc_malloc(size) };
    if sv {
        Perl_mem_log_new_sv(p, c"sv.c".as_ptr(), 1, c"S_new_SV".as_ptr());
    } else {
        Perl_mem_log_alloc(
            size,
            1,
            c"char".as_ptr(),
            p,
            c"t.c".as_ptr(),
            2,
            c"alloc".as_ptr(),
        );
    }
    Block(p, sv)
}

fn free(block: Block) {
    if block.1 {
        Perl_mem_log_del_sv(block.0, c"sv.c".as_ptr(), 3, c"S_del_sv".as_ptr());
    } else {
        Perl_mem_log_free(block.0, c"t.c".as_ptr(), 4, c"free".as_ptr());
    }
    unsafe { libc_free(block.0) };
}

fn grow(block: Block, size: usize) -> Block {
    let p = unsafe { libc_realloc(block.0, size) };
    Perl_mem_log_realloc(
        size,
        1,
        c"char".as_ptr(),
        block.0,
        p,
        c"t.c".as_ptr(),
        5,
        c"grow".as_ptr(),
    );
    Block(p, false)
}

extern "C" {
    #[link_name = "malloc"]
    fn libc_malloc(size: usize) -> *mut c_void;
    #[link_name = "realloc"]
    fn libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    #[link_name = "free"]
    fn libc_free(p: *mut c_void);
}

/// A small deterministic generator per thread.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn live_table_equals_ground_truth_after_cross_thread_frees_and_reuse() {
    recorder::reset_for_tests();
    recorder::enable();

    let done = Arc::new(Barrier::new(THREADS));
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Block>()).unzip();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(me, inbox)| {
            let senders = senders.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (me as u64 + 1);
                let mut mine: Vec<Block> = Vec::new();
                for round in 0..ROUNDS {
                    let r = next(&mut rng);
                    match r % 8 {
                        0..=2 => mine.push(alloc(16 + (r as usize >> 8) % 200, r & 1 << 20 != 0)),
                        3 if !mine.is_empty() => {
                            let b = mine.swap_remove(r as usize % mine.len());
                            free(b);
                        }
                        4 if !mine.is_empty() => {
                            // Hand it to another thread, which frees or keeps it.
                            let b = mine.swap_remove(r as usize % mine.len());
                            let to = (me + 1 + (r as usize >> 3) % (THREADS - 1)) % THREADS;
                            senders[to].send(b).unwrap();
                        }
                        5 if !mine.is_empty() => {
                            let i = r as usize % mine.len();
                            if !mine[i].1 {
                                let b = mine.swap_remove(i);
                                mine.push(grow(b, 300 + (r as usize >> 9) % 4000));
                            }
                        }
                        _ => {}
                    }
                    while let Ok(b) = inbox.try_recv() {
                        if round % 2 == 0 {
                            free(b);
                        } else {
                            mine.push(b);
                        }
                    }
                }
                // Nobody sends after everyone is here: take what is left.
                done.wait();
                mine.extend(inbox.try_iter());
                drop(senders);
                mine
            })
        })
        .collect();
    drop(senders);
    let survivors: Vec<Block> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let expected: HashSet<u64> = survivors
        .iter()
        .map(|b| live_key(if b.1 { Kind::Sv } else { Kind::Mem }, b.0 as usize))
        .collect();

    let (actual, totals, parked, unknown) = recorder::with_aggregator(|a| {
        let keys: HashSet<u64> = a.live.keys().collect();
        (keys, a.totals, a.held(), recorder::unknown_frees(a))
    });
    let missing: Vec<_> = expected.difference(&actual).take(5).collect();
    let extra: Vec<_> = actual.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:x?}, extra {extra:x?}"
    );
    assert_eq!(parked, 0, "every held event was applied: {totals:?}");
    assert_eq!(unknown, 0, "every free found its allocation");
    assert_eq!(totals.overwritten, 0);
    assert_eq!(totals.mem_live + totals.sv_live, expected.len() as u64);
    recorder::disable();
    for b in survivors {
        unsafe { libc_free(b.0) };
    }
}

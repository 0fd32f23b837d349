//! A checkpoint closes the iteration an allocation was made in, even while
//! other threads record without pause: an event another thread has numbered
//! but not yet published holds the events after it back, and the checkpoint
//! waits for it rather than let them count in the next iteration.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use common::{log_alloc, log_free};
use devel_memtrace::recorder::{self, live::live_key, sites::Kind, LeakRule};

const CHECKPOINTS: usize = 3000;

#[test]
fn allocations_belong_to_the_iteration_they_were_made_in() {
    recorder::enable();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, started) = (Arc::clone(&stop), Arc::clone(&started));
            std::thread::spawn(move || {
                log_free(0x10); // recording: the main thread is solo no more
                started.wait();
                let base = 0x5000_0000 + w * 0x100_0000;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let addr = base + (i % 4096) * 32;
                    log_alloc(addr, 32);
                    log_free(addr);
                    i += 1;
                }
            })
        })
        .collect();
    started.wait();

    let rule = LeakRule {
        skip: 0,
        min_age: 2,
    };
    let mut wrong = Vec::new();
    for n in 0..CHECKPOINTS {
        let addr = 0x7000_0000 + n * 64;
        let made_in = recorder::with_aggregator(|a| a.iteration);
        log_alloc(addr, 64);
        recorder::checkpoint(0, rule);
        let recorded = recorder::with_aggregator(|a| {
            a.live
                .get(&live_key(Kind::Mem, addr))
                .map(|record| record.iteration())
        });
        if recorded != Some(made_in) {
            wrong.push((n, made_in, recorded));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(
        wrong.is_empty(),
        "{} of {CHECKPOINTS} allocations counted in another iteration, e.g. \
         (checkpoint, made in, recorded in) {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

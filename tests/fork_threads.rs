//! `fork` while other threads record: the child must never wait on a lock
//! that a thread which does not exist there held at the fork, and must
//! start with a whole recorder (what was live before the fork still is, the
//! other threads' rings are drained and forgotten, and its own events are
//! applied in the iteration they are made in).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use common::{log_alloc, log_free};
use devel_memtrace::recorder::{self, live::live_key, sites::Kind, LeakRule};

const FORKS: usize = 50;
const PLANTED: usize = 16;

const RULE: LeakRule = LeakRule {
    skip: 0,
    min_age: 2,
};

/// What the child checks; its exit status says which check failed.
fn in_the_child() -> i32 {
    // A hung child is killed by the alarm (SIGALRM), and counted as such.
    // SAFETY: alarm(2) only arms a timer.
    unsafe { libc::alarm(20) };
    recorder::checkpoint(0, RULE);
    let planted_live = recorder::with_aggregator(|a| {
        (0..PLANTED)
            .filter(|i| {
                a.live
                    .get(&live_key(Kind::Mem, 0x6000_0000 + i * 64))
                    .is_some()
            })
            .count()
    });
    if planted_live != PLANTED {
        return 10;
    }
    // Only this thread records here: the others' rings are forgotten.
    if recorder::registered_threads().len() != 1 {
        return 11;
    }
    let made_in = recorder::with_aggregator(|a| a.iteration);
    log_alloc(0x6800_0000, 8);
    recorder::checkpoint(0, RULE);
    let recorded = recorder::with_aggregator(|a| {
        a.live
            .get(&live_key(Kind::Mem, 0x6800_0000))
            .map(|r| r.iteration())
    });
    if recorded != Some(made_in) {
        return 12;
    }
    if recorder::with_aggregator(|a| a.held()) != 0 {
        return 13;
    }
    0
}

#[test]
fn children_forked_beside_recording_threads_finish_with_a_whole_recorder() {
    recorder::enable();
    for i in 0..PLANTED {
        log_alloc(0x6000_0000 + i * 64, 64);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, started) = (Arc::clone(&stop), Arc::clone(&started));
            std::thread::spawn(move || {
                log_free(0x10);
                started.wait();
                let base = 0x5000_0000 + w * 0x100_0000;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let addr = base + (i % 4096) * 32;
                    log_alloc(addr, 32);
                    log_free(addr);
                    i += 1;
                    if i % 50_000 == 0 {
                        // Hold the aggregator now and then, as a full ring does.
                        recorder::with_aggregator(|_| ());
                    }
                }
            })
        })
        .collect();
    started.wait();
    recorder::checkpoint(0, RULE);

    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..FORKS {
        // SAFETY: the child calls only the recorder and async-signal-safe
        // functions, and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = std::panic::catch_unwind(in_the_child).unwrap_or(99);
            // SAFETY: ends the child without running the harness's exit.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let outcome = if libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGALRM {
            "hung".to_string()
        } else if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            "ok".to_string()
        } else {
            format!("status {status:#x}")
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(
        outcomes.get("ok").copied(),
        Some(FORKS),
        "children: {outcomes:?} (exit status 10: a planted allocation lost, 11: other \
         threads' rings kept, 12: an allocation counted in another iteration, 13: events \
         held back for good)"
    );
}

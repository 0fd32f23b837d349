//! Microbenchmark of the five-hook ABI as perl calls it: through a function
//! pointer (perl calls the hooks through the PLT), with C-string sites, no
//! Perl site (no XS layer here), and addresses only (nothing is allocated).
//!
//! * `hook_off/*`: one hook call while recording is off (Devel::MemTrace
//!   not loaded): the price every perl op pays in the MemTrace perl.
//! * `one_thread/*`: alloc+free pairs with recording on, one recording thread.
//!   `transient_pair` frees each allocation at once (what most of perl's
//!   allocations do; the solo thread's nursery cancels them); `published_pair`
//!   frees each allocation 1024 allocations later, past the nursery, so every
//!   event crosses the ring into the aggregator's live table.
//! * `two_threads/*`: the same two patterns on two threads at once (after
//!   this, the process has left the one-thread mode for good, so this group
//!   runs last).
//!
//! Throughput is in events (hook calls): a pair is two. `make bench-hooks`
//! runs it; perl/bench/hooks-summary.pl reads the results for `make bench`.
//! BENCH_HOOKS_SECS sets criterion's measurement time per benchmark (3).

use std::ffi::{c_char, c_int, c_void};
use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use devel_memtrace::hooks::{Perl_mem_log_alloc, Perl_mem_log_free};
use devel_memtrace::recorder;

type AllocHook = extern "C" fn(
    usize,
    usize,
    *const c_char,
    *mut c_void,
    *const c_char,
    c_int,
    *const c_char,
) -> *mut c_void;
type FreeHook = extern "C" fn(*mut c_void, *const c_char, c_int, *const c_char) -> *mut c_void;

/// The hooks behind an opaque pointer, as perl's PLT calls them (no inlining).
#[derive(Clone, Copy)]
struct Hooks {
    alloc: AllocHook,
    free: FreeHook,
}

impl Hooks {
    fn get() -> Self {
        Hooks {
            alloc: black_box(Perl_mem_log_alloc as AllocHook),
            free: black_box(Perl_mem_log_free as FreeHook),
        }
    }

    #[inline(always)]
    fn alloc(self, addr: usize, size: usize) {
        black_box((self.alloc)(
            size,
            1,
            c"char".as_ptr(),
            addr as *mut c_void,
            c"hv.c".as_ptr(),
            723,
            c"Perl_hv_common".as_ptr(),
        ));
    }

    #[inline(always)]
    fn free(self, addr: usize) {
        black_box((self.free)(
            addr as *mut c_void,
            c"hv.c".as_ptr(),
            1500,
            c"Perl_hv_free_ent".as_ptr(),
        ));
    }
}

/// How far behind its allocation a published pair's free comes: past the
/// nursery (256 entries), so both events reach the aggregator.
const LAG: usize = 1024;
/// Addresses cycle through this many 64-byte slots (a power of two > LAG).
const SLOTS: usize = 1 << 16;

/// One pattern's state: the next slot, on its own address range.
struct Pattern {
    base: usize,
    next: usize,
}

impl Pattern {
    fn new(range: usize) -> Self {
        Pattern {
            base: 0x5000_0000_0000 + range * 0x1_0000_0000,
            next: 0,
        }
    }

    fn addr(&self, slot: usize) -> usize {
        self.base + (slot % SLOTS) * 64
    }

    /// An allocation freed at once.
    #[inline(always)]
    fn transient(&mut self, hooks: Hooks) {
        let a = self.addr(self.next);
        self.next = self.next.wrapping_add(1);
        hooks.alloc(a, 48);
        hooks.free(a);
    }

    /// An allocation, and the free of the one made LAG allocations ago.
    #[inline(always)]
    fn published(&mut self, hooks: Hooks) {
        let a = self.addr(self.next);
        hooks.alloc(a, 48);
        if self.next >= LAG {
            hooks.free(self.addr(self.next - LAG));
        }
        self.next = self.next.wrapping_add(1);
    }

    /// Free what `published` left live (the live table stays small).
    fn drain(&mut self, hooks: Hooks) {
        for slot in self.next.saturating_sub(LAG)..self.next {
            hooks.free(self.addr(slot));
        }
        self.next = 0;
    }
}

fn config() -> Criterion {
    let secs = std::env::var("BENCH_HOOKS_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(3);
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(secs))
        .sample_size(30)
}

fn hook_off(c: &mut Criterion) {
    recorder::disable();
    let hooks = Hooks::get();
    let mut group = c.benchmark_group("hook_off");
    group.throughput(Throughput::Elements(1));
    group.bench_function("alloc", |b| {
        let mut p = Pattern::new(0);
        b.iter(|| {
            let a = p.addr(p.next);
            p.next = p.next.wrapping_add(1);
            hooks.alloc(a, 48);
        })
    });
    group.bench_function("free", |b| {
        let p = Pattern::new(0);
        b.iter(|| hooks.free(p.addr(7)))
    });
    group.finish();
}

fn one_thread(c: &mut Criterion) {
    recorder::enable();
    let hooks = Hooks::get();
    let mut group = c.benchmark_group("one_thread");
    group.throughput(Throughput::Elements(2));
    group.bench_function("transient_pair", |b| {
        let mut p = Pattern::new(1);
        b.iter(|| p.transient(hooks))
    });
    group.bench_function("published_pair", |b| {
        let mut p = Pattern::new(2);
        b.iter(|| p.published(hooks));
        p.drain(hooks);
    });
    group.finish();
    recorder::disable();
}

/// One step of a pattern: what a benchmark iteration does on one thread.
type Step = fn(&mut Pattern, Hooks);

/// Two worker threads that each run `iters` steps of a pattern on command;
/// the time is from the command to the last one done.
struct Workers {
    go: Vec<mpsc::Sender<u64>>,
    done: mpsc::Receiver<()>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Workers {
    fn start(step: Step, range: usize) -> Self {
        let (done_tx, done) = mpsc::channel();
        let (go, threads) = (0..2)
            .map(|i| {
                let (tx, rx) = mpsc::channel::<u64>();
                let done_tx = done_tx.clone();
                let handle = thread::spawn(move || {
                    let hooks = Hooks::get();
                    let mut p = Pattern::new(range + i);
                    while let Ok(iters) = rx.recv() {
                        for _ in 0..iters {
                            step(&mut p, hooks);
                        }
                        if done_tx.send(()).is_err() {
                            break;
                        }
                    }
                    p.drain(hooks);
                });
                (tx, handle)
            })
            .unzip();
        Workers { go, done, threads }
    }

    fn run(&self, iters: u64) -> Duration {
        let start = Instant::now();
        for tx in &self.go {
            tx.send(iters).expect("worker alive");
        }
        for _ in &self.go {
            self.done.recv().expect("worker alive");
        }
        start.elapsed()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.go.clear(); // closes the channels: the workers drain and exit
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn two_threads(c: &mut Criterion) {
    recorder::enable();
    let mut group = c.benchmark_group("two_threads");
    // Each iteration is one step on each of the two threads: two pairs.
    group.throughput(Throughput::Elements(4));
    let cases: [(&str, Step, usize); 2] = [
        ("transient_pair", Pattern::transient, 10),
        ("published_pair", Pattern::published, 20),
    ];
    for (name, step, range) in cases {
        let workers = Workers::start(step, range);
        group.bench_function(name, |b| b.iter_custom(|iters| workers.run(iters)));
    }
    group.finish();
    recorder::disable();
}

criterion_group! {
    name = benches;
    config = config();
    targets = hook_off, one_thread, two_threads
}
criterion_main!(benches);

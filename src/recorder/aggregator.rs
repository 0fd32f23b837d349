//! Folds events into the live table, the site table and per-iteration counts.
//!
//! Events from one thread arrive in order; events from different threads are
//! merged by sequence number, but an event can reach the aggregator one drain
//! later than a newer event of another thread (it was published just after
//! the drain looked at its ring). The *watermark* passed with every batch is
//! a sequence number below which every event has certainly been delivered:
//! events at or above it are held back until it passes them, so the table is
//! always built in true sequence order.

use super::event::{Event, Op};
use super::history::History;
use super::live::{live_key, LiveRecord, LiveTable};
use super::per_iteration::LiveByIteration;
use super::sites::{Kind, SiteId, Sites};
pub use memtrace_analysis::LeakRule;
pub use memtrace_format::Snapshot;

/// Running totals, for `stats()` and the per-iteration lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub events: u64,
    pub allocs: u64,
    pub reallocs: u64,
    pub frees: u64,
    pub new_svs: u64,
    pub del_svs: u64,
    /// Frees of addresses never recorded (e.g. `sv_grow` buffers, which
    /// perl allocates without logging, or anything made before recording).
    pub unknown_frees: u64,
    /// Records dropped because their address was allocated again without a
    /// logged free in between.
    pub overwritten: u64,
    pub mem_live: u64,
    pub mem_bytes: u64,
    pub sv_live: u64,
}

/// A record pushed out of the table by another thread's allocation of its
/// address, with no logged free in between.
struct Displaced {
    key: u64,
    record: LiveRecord,
    /// The thread whose allocation displaced it.
    by_thread: u16,
    /// Settled (counted as overwritten) once the watermark passes this.
    settle_at: u64,
}

/// How long (in events) a displaced record waits for a realloc of its old
/// address. perl logs a realloc only after `realloc()` returned, so another
/// thread can be handed the old address and log its allocation first; the
/// realloc logged after that still means the displaced buffer.
const REALLOC_GRACE: u64 = 1 << 16;

#[derive(Default)]
pub struct Aggregator {
    pub live: LiveTable,
    pub sites: Sites,
    /// The iteration now open; iterations 0..iteration are closed.
    pub iteration: u32,
    /// Live records (outside perl's permanent pools) per iteration made in.
    pub live_by_iteration: LiveByIteration,
    pub totals: Totals,
    pub history: History,
    /// Arena SV count when recording started: the base of the first delta.
    pub baseline_svs: Option<u64>,
    /// Events at or above the last watermark, sorted, waiting for it to pass.
    held: Vec<Event>,
    displaced: Vec<Displaced>,
    /// More than one thread records (see [`Displaced`]).
    concurrent: bool,
}

impl Aggregator {
    /// Whether several threads are recording (set by the drain).
    pub fn set_concurrent(&mut self, concurrent: bool) {
        self.concurrent = concurrent;
    }

    /// Apply a batch sorted by sequence number. Every event with a sequence
    /// number below `watermark` has been delivered, in this or an earlier
    /// batch; later ones wait until a watermark passes them.
    pub fn apply_batch(&mut self, batch: &[Event], watermark: u64) {
        if self.held.is_empty() && batch.last().is_none_or(|e| e.seq < watermark) {
            // The common case (one recording thread): everything is in order.
            self.apply_all(batch);
        } else {
            let mut events = std::mem::take(&mut self.held);
            events.extend_from_slice(batch);
            events.sort_by_key(|e| e.seq);
            let ready = events.partition_point(|e| e.seq < watermark);
            self.apply_all(&events[..ready]);
            events.drain(..ready);
            self.held = events;
        }
        self.settle_displaced(watermark);
    }

    /// Apply events in order. The live table is far bigger than any cache
    /// once millions of records are live: each event's slot is prefetched
    /// a few events ahead, so that the misses overlap.
    fn apply_all(&mut self, events: &[Event]) {
        const AHEAD: usize = 8;
        for e in events.iter().take(AHEAD) {
            self.prefetch(e);
        }
        for (i, e) in events.iter().enumerate() {
            if let Some(ahead) = events.get(i + AHEAD) {
                self.prefetch(ahead);
            }
            self.apply(e);
        }
    }

    #[inline(always)]
    fn prefetch(&self, e: &Event) {
        match e.op {
            Op::Alloc | Op::Free | Op::Malloc => self.live.prefetch(live_key(Kind::Mem, e.addr)),
            Op::NewSv | Op::DelSv => self.live.prefetch(live_key(Kind::Sv, e.addr)),
            Op::Realloc | Op::Move | Op::MallocRealloc => {
                self.live.prefetch(live_key(Kind::Mem, e.old));
                self.live.prefetch(live_key(Kind::Mem, e.addr));
            }
        }
    }

    #[inline]
    fn apply(&mut self, e: &Event) {
        self.totals.events += 1;
        match e.op {
            Op::Alloc => {
                self.totals.allocs += 1;
                let site = self.site_of(Kind::Mem, e);
                self.insert(live_key(Kind::Mem, e.addr), e, site, e.size, None);
            }
            Op::Malloc => {
                self.totals.allocs += 1;
                let site = self.site_of(Kind::Malloc, e);
                self.insert(live_key(Kind::Mem, e.addr), e, site, e.size, None);
            }
            Op::NewSv => {
                self.totals.new_svs += 1;
                let site = self.site_of(Kind::Sv, e);
                self.insert(live_key(Kind::Sv, e.addr), e, site, 0, None);
            }
            Op::Free => {
                self.totals.frees += 1;
                if e.addr != 0 {
                    self.remove(live_key(Kind::Mem, e.addr));
                }
            }
            Op::DelSv => {
                self.totals.del_svs += 1;
                self.remove(live_key(Kind::Sv, e.addr));
            }
            Op::Realloc | Op::Move | Op::MallocRealloc => {
                self.totals.reallocs += 1;
                self.realloc(e);
            }
        }
    }

    /// A moved buffer keeps the site and iteration of its first allocation:
    /// a stack or hash array that perl grows is one allocation, not a leak
    /// per growth step.
    fn realloc(&mut self, e: &Event) {
        let old_key = live_key(Kind::Mem, e.old);
        let new_key = live_key(Kind::Mem, e.addr);
        if e.op == Op::Realloc
            && e.old != 0
            && e.addr != 0
            && !self.live.contains_key(&old_key)
            && self.live.contains_key(&new_key)
        {
            // `Renew` calls perl's saferealloc, whose move was already
            // recorded (see `hooks::Perl_safesysrealloc`), then logs itself.
            return;
        }
        let moved = if e.old == 0 {
            None
        } else if let Some(displaced) = self.take_displaced(old_key, e.thread) {
            Some(displaced)
        } else {
            self.remove(old_key)
        };
        if e.addr == 0 {
            return; // realloc to size 0 freed it
        }
        match moved {
            Some(record) => self.insert(new_key, e, record.site, e.size, Some(record.iteration())),
            None if e.op == Op::Move => {}
            None => {
                let kind = if e.op == Op::MallocRealloc {
                    Kind::Malloc
                } else {
                    Kind::Mem
                };
                let site = self.site_of(kind, e);
                // A Renew of a buffer never recorded: it was made before
                // recording (perl's stacks at startup, or while off), so
                // growing it is no iteration's leak.
                let made_before_recording = (e.old != 0).then_some(0);
                self.insert(new_key, e, site, e.size, made_before_recording)
            }
        }
    }

    /// The record another thread's allocation pushed out of `key` before
    /// this thread's realloc of `key` was logged (see [`REALLOC_GRACE`]).
    fn take_displaced(&mut self, key: u64, thread: u16) -> Option<LiveRecord> {
        if self.displaced.is_empty() {
            return None;
        }
        let pos = self
            .displaced
            .iter()
            .rposition(|d| d.key == key && d.by_thread != thread)?;
        let d = self.displaced.swap_remove(pos);
        self.sites.stats_mut(d.record.site).frees += 1;
        Some(d.record)
    }

    fn site_of(&mut self, kind: Kind, e: &Event) -> SiteId {
        self.sites
            .intern(kind, e.c_file, e.c_line, e.c_func, e.type_name, e.context)
    }

    #[inline(always)]
    fn insert(&mut self, key: u64, e: &Event, site: SiteId, size: u64, iteration: Option<u32>) {
        let record = LiveRecord::new(site, size, iteration.unwrap_or(self.iteration));
        let account = self.sites.account_mut(site);
        account.stats.allocs += 1;
        account.stats.bytes_allocated += size;
        self.account(&record);
        if let Some(existing) = self.live.insert(key, record) {
            self.replaced(key, e, existing);
        }
    }

    /// Allocated again with no logged free in between.
    #[cold]
    #[inline(never)]
    fn replaced(&mut self, key: u64, e: &Event, existing: LiveRecord) {
        self.unaccount(&existing);
        if e.op == Op::Alloc && self.sites.account_mut(existing.site).kind == Kind::Malloc {
            // perl's Newx called the interposed malloc just before it
            // logged the same block: one record, perl's (its C site is the
            // richer one). The malloc record ends as if freed.
            self.sites.account_mut(existing.site).stats.frees += 1;
            return;
        }
        if self.concurrent {
            self.displaced.push(Displaced {
                key,
                record: existing,
                by_thread: e.thread,
                settle_at: e.seq + REALLOC_GRACE,
            });
        } else {
            self.totals.overwritten += 1;
        }
    }

    #[inline(always)]
    fn remove(&mut self, key: u64) -> Option<LiveRecord> {
        match self.live.remove(&key) {
            Some(existing) => {
                self.unaccount(&existing);
                self.sites.account_mut(existing.site).stats.frees += 1;
                Some(existing)
            }
            None => {
                self.totals.unknown_frees += 1;
                None
            }
        }
    }

    /// Displaced records no realloc claimed were freed without a log.
    fn settle_displaced(&mut self, watermark: u64) {
        if self.displaced.is_empty() {
            return;
        }
        let before = self.displaced.len();
        self.displaced.retain(|d| d.settle_at >= watermark);
        self.totals.overwritten += (before - self.displaced.len()) as u64;
    }

    #[inline(always)]
    fn account(&mut self, record: &LiveRecord) {
        let size = record.size();
        let account = self.sites.account_mut(record.site);
        account.stats.live += 1;
        account.stats.live_bytes += size;
        match account.kind {
            Kind::Mem | Kind::Malloc => {
                self.totals.mem_live += 1;
                self.totals.mem_bytes += size;
            }
            Kind::Sv => self.totals.sv_live += 1,
        }
        if !account.permanent_pool {
            self.live_by_iteration.add(record.iteration());
        }
    }

    #[inline(always)]
    fn unaccount(&mut self, record: &LiveRecord) {
        let size = record.size();
        let account = self.sites.account_mut(record.site);
        account.stats.live -= 1;
        account.stats.live_bytes -= size;
        match account.kind {
            Kind::Mem | Kind::Malloc => {
                self.totals.mem_live -= 1;
                self.totals.mem_bytes -= size;
            }
            Kind::Sv => self.totals.sv_live -= 1,
        }
        if !account.permanent_pool {
            self.live_by_iteration.remove(record.iteration());
        }
    }

    /// Close the open iteration. `svs` is the arena's live SV count now.
    pub fn checkpoint(&mut self, svs: u64, rule: LeakRule) -> Snapshot {
        let closed = self.iteration;
        let previous = self.history.last().copied();
        let base_svs = previous.map(|p| p.svs).or(self.baseline_svs).unwrap_or(svs);
        let (base_live, base_bytes) = previous.map_or((0, 0), |p| (p.mem_live, p.mem_bytes));
        // Allocations of iteration `closed - min_age` have now survived
        // `min_age` later checkpoints.
        let new_leaks = match rule.eligible(closed + 1) {
            Some((_, last)) if last + rule.min_age == closed => self.live_by_iteration.get(last),
            _ => 0,
        };
        let snapshot = Snapshot {
            iteration: closed,
            svs,
            svs_delta: svs as i64 - base_svs as i64,
            mem_live: self.totals.mem_live,
            mem_bytes: self.totals.mem_bytes,
            mem_live_delta: self.totals.mem_live as i64 - base_live as i64,
            mem_bytes_delta: self.totals.mem_bytes as i64 - base_bytes as i64,
            sv_live: self.totals.sv_live,
            new_leaks,
            rss: resident_bytes(),
            time_ms: now_ms(),
        };
        self.history.push(snapshot);
        if self.iteration < super::live::ITERATION_MAX {
            self.iteration += 1;
            self.live_by_iteration.open(self.iteration);
        }
        snapshot
    }

    /// Approximate heap bytes of the live table.
    pub fn live_table_bytes(&self) -> usize {
        self.live.heap_bytes()
    }

    /// Events held back for the watermark (for tests).
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// The process's resident set in bytes (0 where /proc/self/statm cannot be
/// read). Three system calls, no allocation: a checkpoint takes ~10 µs more.
fn resident_bytes() -> u64 {
    let mut buf = [0u8; 128];
    // SAFETY: a NUL-terminated path; `buf` is ours and read into in bounds.
    let len = unsafe {
        let fd = libc::open(
            c"/proc/self/statm".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return 0;
        }
        let len = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        len
    };
    let Ok(len) = usize::try_from(len) else {
        return 0;
    };
    // "size resident shared ...", in pages.
    let resident: u64 = std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|text| text.split_whitespace().nth(1))
        .and_then(|pages| pages.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    resident * u64::try_from(page).unwrap_or(4096)
}

/// Milliseconds since the Unix epoch (a vDSO call, no system call).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: Op, seq: u64, addr: usize, old: usize, size: u64) -> Event {
        let mut e = Event::bare(op, addr, old, size);
        e.seq = seq;
        e
    }

    const ALL_DELIVERED: u64 = u64::MAX;

    #[test]
    fn alloc_and_free_balance() {
        let mut a = Aggregator::default();
        a.apply_batch(
            &[
                ev(Op::Alloc, 1, 0x1000, 0, 64),
                ev(Op::Alloc, 2, 0x2000, 0, 32),
                ev(Op::Free, 3, 0x1000, 0, 0),
            ],
            ALL_DELIVERED,
        );
        assert_eq!((a.totals.mem_live, a.totals.mem_bytes), (1, 32));
        assert!(a.live.contains_key(&0x2000));
    }

    /// A malloc event with the function `func` as its C site.
    fn malloc_ev(op: Op, seq: u64, addr: usize, old: usize, size: u64) -> Event {
        let mut e = ev(op, seq, addr, old, size);
        e.c_func = crate::StaticStr(c"malloc".as_ptr());
        e.type_name = crate::StaticStr(c"malloc".as_ptr());
        e
    }

    fn site_kind(a: &Aggregator, addr: usize) -> Kind {
        let record = a.live.get(&live_key(Kind::Mem, addr)).expect("live");
        a.sites.get(record.site).kind
    }

    #[test]
    fn perls_log_of_a_malloced_block_replaces_the_malloc_record() {
        let mut a = Aggregator::default();
        let mut newx = ev(Op::Alloc, 2, 0x1000, 0, 64);
        newx.c_func = crate::StaticStr(c"Perl_hv_common".as_ptr());
        a.apply_batch(
            &[malloc_ev(Op::Malloc, 1, 0x1000, 0, 64), newx],
            ALL_DELIVERED,
        );
        assert_eq!((a.totals.mem_live, a.totals.mem_bytes), (1, 64));
        assert_eq!(site_kind(&a, 0x1000), Kind::Mem);
        assert_eq!(a.totals.overwritten, 0, "a merge is not an overwrite");
        // perl's Safefree, then the C library's free of the same block.
        a.apply_batch(
            &[
                ev(Op::Free, 3, 0x1000, 0, 0),
                malloc_ev(Op::Free, 4, 0x1000, 0, 0),
            ],
            ALL_DELIVERED,
        );
        assert!(a.live.is_empty());
        assert_eq!((a.totals.mem_live, a.totals.mem_bytes), (0, 0));
    }

    #[test]
    fn a_block_perl_never_logs_is_a_malloc_record() {
        let mut a = Aggregator::default();
        a.apply_batch(&[malloc_ev(Op::Malloc, 1, 0x1000, 0, 100)], ALL_DELIVERED);
        assert_eq!(site_kind(&a, 0x1000), Kind::Malloc);
        assert_eq!((a.totals.mem_live, a.totals.mem_bytes), (1, 100));
        // Grown by realloc: the same record, moved, with its new size.
        a.apply_batch(
            &[malloc_ev(Op::MallocRealloc, 2, 0x2000, 0x1000, 4000)],
            ALL_DELIVERED,
        );
        assert_eq!(site_kind(&a, 0x2000), Kind::Malloc);
        assert_eq!((a.totals.mem_live, a.totals.mem_bytes), (1, 4000));
        // realloc of a block made before recording: a record of iteration 0.
        a.iteration = 3;
        a.apply_batch(
            &[malloc_ev(Op::MallocRealloc, 3, 0x5000, 0x4000, 8)],
            ALL_DELIVERED,
        );
        let before = a.live.get(&live_key(Kind::Mem, 0x5000)).expect("live");
        assert_eq!(before.iteration(), 0);
    }

    #[test]
    fn unknown_frees_are_counted_not_errors() {
        let mut a = Aggregator::default();
        a.apply_batch(
            &[
                ev(Op::Free, 1, 0x1000, 0, 0),
                ev(Op::DelSv, 2, 0x2000, 0, 0),
            ],
            ALL_DELIVERED,
        );
        assert_eq!(a.totals.unknown_frees, 2);
        assert!(a.live.is_empty());
    }

    #[test]
    fn realloc_keeps_first_iteration_and_site() {
        let mut a = Aggregator::default();
        a.apply_batch(&[ev(Op::Alloc, 1, 0x1000, 0, 16)], ALL_DELIVERED);
        let first_site = a.live.get(&0x1000).unwrap().site;
        a.checkpoint(0, LeakRule::default());
        let mut moved = ev(Op::Realloc, 2, 0x3000, 0x1000, 64);
        moved.c_line = 99; // a different C site: the record keeps its own
        a.apply_batch(&[moved], ALL_DELIVERED);
        let r = a.live.get(&0x3000).unwrap();
        assert_eq!((r.iteration(), r.site, r.size()), (0, first_site, 64));
        assert!(!a.live.contains_key(&0x1000));
        assert_eq!(a.totals.mem_bytes, 64);
    }

    #[test]
    fn renew_after_its_saferealloc_move_keeps_the_record_it_moved() {
        let mut a = Aggregator::default();
        let mut first = ev(Op::Alloc, 1, 0x1000, 0, 8);
        first.c_line = 7;
        a.apply_batch(&[first], ALL_DELIVERED);
        let site = a.live.get(&0x1000).unwrap().site;
        // saferealloc's interposed move, then Renew's own logged realloc.
        let mut renew = ev(Op::Realloc, 3, 0x2000, 0x1000, 64);
        renew.c_line = 99;
        a.apply_batch(&[ev(Op::Move, 2, 0x2000, 0x1000, 64), renew], ALL_DELIVERED);
        assert_eq!(a.live.keys().collect::<Vec<_>>(), vec![0x2000]);
        assert_eq!(
            (
                a.live.get(&0x2000).unwrap().site,
                a.live.get(&0x2000).unwrap().size()
            ),
            (site, 64)
        );
        assert_eq!((a.totals.unknown_frees, a.totals.overwritten), (0, 0));
    }

    #[test]
    fn renew_of_an_unrecorded_buffer_starts_recording_it_as_older_than_any_iteration() {
        let mut a = Aggregator::default();
        let rule = LeakRule {
            skip: 0,
            min_age: 0,
        };
        a.checkpoint(0, rule);
        a.checkpoint(0, rule); // now in iteration 2
        a.apply_batch(
            &[
                ev(Op::Move, 1, 0x2000, 0x1000, 64),
                ev(Op::Realloc, 2, 0x2000, 0x1000, 64),
            ],
            ALL_DELIVERED,
        );
        assert_eq!(a.live.keys().collect::<Vec<_>>(), vec![0x2000]);
        // ... as made before recording started, not in this iteration.
        assert_eq!(a.live.get(&0x2000).unwrap().iteration(), 0);
    }

    #[test]
    fn a_move_of_an_unrecorded_buffer_creates_nothing() {
        let mut a = Aggregator::default();
        a.apply_batch(&[ev(Op::Alloc, 1, 0x1000, 0, 8)], ALL_DELIVERED);
        a.apply_batch(
            &[
                ev(Op::Move, 2, 0x2000, 0x1000, 16),
                ev(Op::Move, 3, 0x4000, 0x3000, 16),
            ],
            ALL_DELIVERED,
        );
        assert_eq!(a.live.keys().collect::<Vec<_>>(), vec![0x2000]);
        assert_eq!(a.totals.unknown_frees, 1);
    }

    #[test]
    fn new_leaks_counts_records_reaching_min_age() {
        let mut a = Aggregator::default();
        let rule = LeakRule::default();
        a.checkpoint(10, rule); // closes 0
        a.apply_batch(&[ev(Op::NewSv, 1, 0x1000, 0, 0)], ALL_DELIVERED); // iteration 1
        assert_eq!(a.checkpoint(11, rule).new_leaks, 0); // closes 1: age 0
        assert_eq!(a.checkpoint(11, rule).new_leaks, 0); // closes 2: age 1
        let s = a.checkpoint(11, rule); // closes 3: age 2
        assert_eq!((s.iteration, s.new_leaks, s.svs_delta), (3, 1, 0));
        assert_eq!(a.history.snapshots()[1].svs_delta, 1);
    }

    #[test]
    fn events_above_the_watermark_wait_for_it() {
        let mut a = Aggregator::default();
        // Thread B's free (seq 6) is drained while thread A's alloc (seq 5)
        // was still in flight: the watermark says seq 5 may still come.
        a.apply_batch(&[ev(Op::Free, 6, 0x1000, 0, 0)], 5);
        assert_eq!((a.held(), a.totals.unknown_frees), (1, 0));
        a.apply_batch(&[ev(Op::Alloc, 5, 0x1000, 0, 8)], ALL_DELIVERED);
        assert!(a.live.is_empty());
        assert_eq!(
            (a.held(), a.totals.unknown_frees, a.totals.mem_live),
            (0, 0, 0)
        );
    }

    #[test]
    fn a_realloc_logged_after_another_thread_reused_its_old_address() {
        let mut a = Aggregator::default();
        a.set_concurrent(true);
        let mut mine = ev(Op::Alloc, 1, 0x1000, 0, 8);
        mine.thread = 1;
        // Thread 1's realloc freed 0x1000; thread 2 got it and logged first.
        let mut theirs = ev(Op::Alloc, 2, 0x1000, 0, 16);
        theirs.thread = 2;
        let mut moved = ev(Op::Realloc, 3, 0x2000, 0x1000, 32);
        moved.thread = 1;
        a.apply_batch(&[mine, theirs, moved], ALL_DELIVERED);
        assert_eq!(a.live.get(&0x1000).unwrap().size(), 16);
        assert_eq!(a.live.get(&0x2000).unwrap().size(), 32);
        assert_eq!((a.totals.mem_live, a.totals.overwritten), (2, 0));
    }

    #[test]
    fn reused_address_without_a_logged_free_replaces_the_record() {
        let mut a = Aggregator::default();
        a.apply_batch(
            &[
                ev(Op::Alloc, 1, 0x1000, 0, 8),
                ev(Op::Alloc, 2, 0x1000, 0, 16),
            ],
            ALL_DELIVERED,
        );
        assert_eq!(
            (a.totals.mem_live, a.totals.mem_bytes, a.totals.overwritten),
            (1, 16, 1)
        );
    }
}

//! The recorder: what the hooks feed and what the XS layer asks.
//!
//! The hot path ([`record`]) is one relaxed load and branch while recording
//! is off; while on, it is a thread-local ring push with no lock and no call
//! into perl. Rings are drained into the [`Aggregator`] (under a mutex) when
//! one fills up and whenever the XS layer asks a question.

pub mod aggregator;
pub mod event;
pub mod live;
mod local;
pub mod ring;
pub mod sequence;
pub mod sites;

use std::sync::atomic::{AtomicPtr, AtomicU16, AtomicU8, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

pub use aggregator::{Aggregator, LeakRule, Snapshot, Totals};
pub use event::{Event, Op, PerlSiteId, StaticStr};
use local::Local;
use ring::Ring;
use sites::PerlSites;

const MODE_OFF: u8 = 0;
const MODE_PAUSED: u8 = 1;
const MODE_ON: u8 = 2;

/// Off until Devel::MemTrace is loaded. Paused records frees and moves (so
/// nothing already recorded goes stale) but no new allocations.
static MODE: AtomicU8 = AtomicU8::new(MODE_OFF);
static RINGS: Mutex<Vec<Arc<Ring>>> = Mutex::new(Vec::new());
/// Events from threads whose thread-local state is already gone.
static STRAYS: Mutex<Vec<Event>> = Mutex::new(Vec::new());
static AGGREGATOR: LazyLock<Mutex<Aggregator>> = LazyLock::new(Default::default);
static PERL_SITES: LazyLock<Mutex<PerlSites>> = LazyLock::new(Default::default);
static SITE_SOURCE: AtomicPtr<SiteSource> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    static LOCAL: Local = const { Local::new() };
}

/// Where perl is, as cheap-to-read identity: the COP's address, its file's
/// identity (the file GV or name pointer), the running sub's CV and the line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CurrentCop {
    pub cop: usize,
    pub file_key: usize,
    pub sub_key: usize,
    pub line: u32,
}

/// How the recorder learns the Perl site; installed by the XS layer.
pub struct SiteSource {
    /// Reads where perl is (a few loads; must not allocate or lock). `old`
    /// is the address a realloc moves away from: the context stack itself
    /// may be the buffer being moved.
    pub current: fn(usize) -> CurrentCop,
    /// Resolves it to an interned Perl site, or None when it cannot be read
    /// safely right now (`old` as above).
    pub describe: fn(&CurrentCop, usize) -> Option<PerlSiteId>,
}

/// Install the Perl-site source (once, from the XS boot).
pub fn set_site_source(source: &'static SiteSource) {
    SITE_SOURCE.store(
        source as *const SiteSource as *mut SiteSource,
        Ordering::Release,
    );
}

/// Start (or resume) recording.
pub fn enable() {
    MODE.store(MODE_ON, Ordering::SeqCst);
}

/// Stop recording new allocations; frees and moves of recorded ones still count.
pub fn pause() {
    if MODE.load(Ordering::SeqCst) != MODE_OFF {
        MODE.store(MODE_PAUSED, Ordering::SeqCst);
    }
}

/// Stop recording altogether (global destruction: the program is over).
pub fn disable() {
    MODE.store(MODE_OFF, Ordering::SeqCst);
}

/// Whether the hooks have anything to do at all (recording or paused).
#[inline(always)]
pub fn is_active() -> bool {
    MODE.load(Ordering::Relaxed) != MODE_OFF
}

pub fn is_recording() -> bool {
    MODE.load(Ordering::Relaxed) == MODE_ON
}

pub fn is_paused() -> bool {
    MODE.load(Ordering::Relaxed) == MODE_PAUSED
}

/// Record one hook call. This is the hot path.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn record(
    op: Op,
    addr: usize,
    old: usize,
    size: u64,
    type_name: StaticStr,
    c_file: StaticStr,
    c_line: u32,
    c_func: StaticStr,
) {
    let mode = MODE.load(Ordering::Relaxed);
    if mode == MODE_OFF {
        return;
    }
    let op = match op {
        Op::Alloc | Op::NewSv if mode == MODE_PAUSED => return,
        Op::Realloc if mode == MODE_PAUSED => Op::Move,
        op => op,
    };
    let event = Event {
        seq: 0,
        addr,
        old,
        size,
        c_file,
        c_func,
        type_name,
        c_line,
        perl_site: 0,
        thread: 0,
        op,
    };
    if LOCAL
        .try_with(|local| record_on_thread(local, event))
        .is_err()
    {
        record_stray(event);
    }
}

#[inline]
fn record_on_thread(local: &Local, mut event: Event) {
    if local.suppress_new.get() != 0 {
        match event.op {
            Op::Alloc | Op::NewSv => return,
            Op::Realloc => event.op = Op::Move,
            _ => {}
        }
    }
    if event.op.creates() {
        let source = SITE_SOURCE.load(Ordering::Acquire);
        if !source.is_null() {
            // SAFETY: set_site_source takes a &'static.
            event.perl_site = local.perl_site(unsafe { &*source }, event.old);
        }
    }
    let ring = local.ring();
    event.thread = ring.id;
    if ring.is_full() && !local.busy.get() {
        flush_from_hook(local);
    }
    if let Some(seq) = local.numbering.next_solo() {
        event.seq = seq;
        push_or_overflow(local, ring, event);
    } else {
        // Mark the ring in flight while this event holds a shared number
        // that is not yet published (see `drain`).
        ring.begin_event();
        event.seq = sequence::shared_next();
        push_or_overflow(local, ring, event);
        ring.end_event();
    }
}

#[inline]
fn push_or_overflow(local: &Local, ring: &Ring, event: Event) {
    // SAFETY: this thread is the ring's only producer.
    if let Err(event) = unsafe { ring.push(event) } {
        // Full while this thread holds the aggregator (a re-entrant hook):
        // park it; the aggregator drains the overflow before it lets go.
        local.overflow.borrow_mut().push(event);
    }
}

#[cold]
fn record_stray(mut event: Event) {
    if event.op.creates() {
        event.perl_site = 0;
    }
    let mut strays = lock(&STRAYS);
    // The sequence number is taken under the lock so a drain that has read
    // the counter either sees this event or gets a higher number than it read.
    event.seq = sequence::shared_next();
    strays.push(event);
}

fn push_strays(events: Vec<Event>) {
    lock(&STRAYS).extend(events);
}

fn register_ring() -> Arc<Ring> {
    static NEXT_ID: AtomicU16 = AtomicU16::new(1);
    let ring = Arc::new(Ring::with_id(NEXT_ID.fetch_add(1, Ordering::Relaxed)));
    lock(&RINGS).push(Arc::clone(&ring));
    ring
}

#[cold]
#[inline(never)]
fn flush_from_hook(local: &Local) {
    let mut aggregator = lock(&AGGREGATOR);
    local.busy.set(true);
    drain(&mut aggregator, Some(local));
    local.busy.set(false);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock was already reported; the data is still
    // the best we have.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Move every published event into the aggregator, in sequence order.
fn drain(aggregator: &mut Aggregator, local: Option<&Local>) {
    // Every sequence number below `watermark` belongs to an event that is
    // published by the time its ring is read below, unless that ring's
    // producer is mid-event (then only those below its last one are). A
    // producer that is idle now, or registers later, numbers its next event
    // at or above it.
    let mut watermark = sequence::watermark();
    let rings: Vec<Arc<Ring>> = lock(&RINGS).clone();
    let mut overflow =
        local.map_or_else(Vec::new, |l| std::mem::take(&mut *l.overflow.borrow_mut()));
    let mut strays = std::mem::take(&mut *lock(&STRAYS));
    aggregator.set_concurrent(rings.len() > 1);

    if let [ring] = rings.as_slice() {
        if overflow.is_empty() && strays.is_empty() && !ring.is_orphaned() {
            // One recording thread: its events are in order already, and no
            // other thread can have numbered one below `watermark` that is
            // still to come. Apply them where they lie.
            // SAFETY: we hold the aggregator lock, so we are the only consumer.
            unsafe { ring.consume(|events| aggregator.apply_batch(events, watermark)) };
            return;
        }
    }

    // Read before draining: an orphaned ring gets no more events, and a
    // producer not mid-event has published everything it numbered so far.
    let states: Vec<(bool, bool)> = rings
        .iter()
        .map(|r| (r.is_orphaned(), r.is_in_flight()))
        .collect();
    let mut batch = Vec::new();
    for (ring, &(_, in_flight)) in rings.iter().zip(&states) {
        // SAFETY: as above.
        unsafe { ring.drain_into(&mut batch) };
        if in_flight {
            watermark = watermark.min(ring.last_drained_seq() + 1);
        }
    }
    batch.append(&mut overflow);
    batch.append(&mut strays);
    // Stable: events of one thread never share a number, but keep it simple.
    batch.sort_by_key(|e| e.seq);
    aggregator.apply_batch(&batch, watermark);
    if states.iter().any(|&(orphaned, _)| orphaned) {
        forget_drained_orphans(&rings);
    }
}

fn forget_drained_orphans(drained: &[Arc<Ring>]) {
    lock(&RINGS).retain(|ring| {
        !(ring.is_orphaned() && drained.iter().any(|d| Arc::ptr_eq(d, ring)) && ring.is_empty())
    });
}

/// Run `f` on the aggregator after bringing it up to date. Hooks that fire
/// on this thread meanwhile (the XS layer calling perl) are kept, not lost.
pub fn with_aggregator<R>(f: impl FnOnce(&mut Aggregator) -> R) -> R {
    let mut aggregator = lock(&AGGREGATOR);
    // Mark this thread busy so its own hooks park events instead of flushing.
    let was_busy = LOCAL.try_with(|local| local.busy.replace(true)).ok();
    let drain_here = |aggregator: &mut Aggregator| match was_busy {
        Some(_) => LOCAL.with(|local| drain(aggregator, Some(local))),
        None => drain(aggregator, None),
    };
    drain_here(&mut aggregator);
    let result = f(&mut aggregator);
    drain_here(&mut aggregator);
    if let Some(was_busy) = was_busy {
        let _ = LOCAL.try_with(|local| local.busy.set(was_busy));
    }
    result
}

/// Close the open iteration (see [`Aggregator::checkpoint`]).
pub fn checkpoint(svs: u64, rule: LeakRule) -> Snapshot {
    with_aggregator(|a| a.checkpoint(svs, rule))
}

/// Run `f` with the Perl-site table.
pub fn with_perl_sites<R>(f: impl FnOnce(&mut PerlSites) -> R) -> R {
    f(&mut lock(&PERL_SITES))
}

/// Stop (`true`) or resume (`false`) recording new allocations made on this
/// thread: the XS layer's own return values are not the program's. Nests.
pub fn suppress_new_on_this_thread(on: bool) {
    let _ = LOCAL.try_with(|l| {
        let depth = l.suppress_new.get();
        l.suppress_new.set(if on {
            depth + 1
        } else {
            depth.saturating_sub(1)
        });
    });
}

/// Forget everything recorded and stop (tests only: one process, many cases).
#[doc(hidden)]
pub fn reset_for_tests() {
    disable();
    let mut aggregator = lock(&AGGREGATOR);
    drain(&mut aggregator, None);
    *aggregator = Aggregator::default();
}

/// How many threads have a ring registered (tests).
#[doc(hidden)]
pub fn registered_threads() -> usize {
    lock(&RINGS).len()
}

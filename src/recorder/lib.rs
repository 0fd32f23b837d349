//! The recorder: what the hooks feed and what the XS layer asks.
//!
//! The hot path ([`record`]) is one relaxed load and branch while recording
//! is off; while on, it is a thread-local ring push with no lock and no call
//! into perl. Rings are drained into the [`Aggregator`] (under a mutex) when
//! one fills up and whenever the XS layer asks a question.
//!
//! While one thread records (nearly always), its common events take the
//! fast paths ([`record_fast_new`], [`record_fast_free`],
//! [`record_fast_move`]): a new allocation is written once into the nursery
//! with its Perl site (mostly from the probe memo, `probe_memo`), and most
//! frees end there, cancelling it. They reach this thread's state through a
//! pointer in the static TLS block (`thread_slot.c`), not `thread_local!`.
//! Everything else, and whatever they decline, takes [`record_slow`].

pub mod aggregator;
pub mod c_frames;
pub mod event;
mod fork;
pub mod history;
pub mod live;
mod local;
mod membarrier;
pub mod nursery;
mod per_iteration;
mod probe_memo;
mod published;
pub mod ring;
pub mod sequence;
pub mod sites;
mod static_tls;

use std::io::Write;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering,
};

use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, PoisonError};

pub use aggregator::{Aggregator, LeakRule, Snapshot, Totals};
pub use event::{CFramesId, Context, Event, Op, PerlSiteId, StackId, StaticStr};
use local::Local;
use nursery::{Nursery, Outcome};
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
    /// The callers' identity (their statements and subs), 0 with a stack
    /// depth of 1 or at file level: with the rest, the whole call stack.
    pub callers: u64,
    /// The thread is inside an interpreter that runs no Perl code of its
    /// own (threads::shared's, which a thread enters for a moment to change
    /// a shared variable); the other fields say nothing. The statement that
    /// runs is the one this thread was at before: its last Perl site.
    pub runs_no_code: bool,
}

/// Per-thread scratch space a [`SiteSource`] may keep state in (it starts
/// zeroed and only the source ever writes it).
pub type ProbeScratch = [u64; 6];

/// How the recorder learns the Perl site; installed by the XS layer.
pub struct SiteSource {
    /// Reads where perl is (a few loads; must not allocate or lock). `old`
    /// is the address a realloc moves away from: the context stack itself
    /// may be the buffer being moved.
    pub current: fn(usize, &mut ProbeScratch) -> CurrentCop,
    /// Resolves it to an interned Perl call stack (its first frame the
    /// Perl site), or None when it cannot be read safely right now (`old`
    /// as above).
    pub describe: fn(&CurrentCop, usize) -> Option<StackId>,
}

/// Install the Perl-site source (once, from the XS boot).
pub fn set_site_source(source: &'static SiteSource) {
    SITE_SOURCE.store(
        source as *const SiteSource as *mut SiteSource,
        Ordering::Release,
    );
}

/// Frames of the Perl call stack a record keeps (1: the Perl site only).
static STACK_DEPTH: AtomicU32 = AtomicU32::new(1);

/// How much of the context a record keeps: `stack` frames of the Perl call
/// stack (1: the running statement only) and `c_frames` native frames (0:
/// none). The site source must already walk that deep (the XS layer sets
/// both). This thread forgets its earlier probes; other threads' keep
/// answering as before, so set it before other threads start.
pub fn set_context_depths(stack: u32, c_frames: u32) {
    STACK_DEPTH.store(stack.max(1), Ordering::Relaxed);
    c_frames::set_depth(c_frames);
    let _ = LOCAL.try_with(|local| local.forget_probes());
}

/// The depths [`set_context_depths`] set: (Perl frames, native frames).
pub fn context_depths() -> (u32, u32) {
    (STACK_DEPTH.load(Ordering::Relaxed), c_frames::depth())
}

/// Whether the hot path may take the Perl call stack from its in-place
/// memo check, which takes no native frames.
#[cfg_attr(not(feature = "perl"), allow(dead_code))]
pub(crate) fn in_place_probe_allowed() -> bool {
    c_frames::depth() == 0
}

/// Start (or resume) recording.
pub fn enable() {
    NURSERIES.get_or_init(membarrier::register);
    fork::install_handlers();
    MODE.store(MODE_ON, Ordering::SeqCst);
}

/// Stop recording new allocations; frees and moves of recorded ones still count.
pub fn pause() {
    if MODE.load(Ordering::SeqCst) != MODE_OFF {
        MODE.store(MODE_PAUSED, Ordering::SeqCst);
    }
}

/// Stop recording altogether.
pub fn disable() {
    MODE.store(MODE_OFF, Ordering::SeqCst);
}

/// Stop recording at the end of the program (global destruction).
///
/// This thread's nursery is published now, without allocating: an
/// allocation of a kilobyte or more at the thread's exit (collecting the
/// held events, as it did) has glibc consolidate every chunk the program
/// left in malloc's fast bins, 2% of a run with a million live
/// allocations, spent after the program ended. (Not in [`disable`], which
/// a panic also calls: that must not publish.)
pub fn finish() {
    disable();
    let _ = LOCAL.try_with(flush_own_nursery);
}

/// Whether the interposed `malloc` family records (`-malloc`): set before
/// recording starts, or while it runs.
static MALLOC: AtomicBool = AtomicBool::new(false);

/// Record (or stop recording) what the interposed `malloc` family sees.
pub fn set_records_malloc(on: bool) {
    MALLOC.store(on, Ordering::SeqCst);
}

/// Whether the interposed `malloc` family has anything to do: `-malloc`,
/// and recording on or paused (a paused recorder still sees frees).
#[inline(always)]
pub fn records_malloc() -> bool {
    MALLOC.load(Ordering::Relaxed) && is_active()
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

extern "C" {
    // thread_slot.c: one pointer in the static TLS block (initial-exec).
    #[cfg(not(target_arch = "x86_64"))]
    fn memtrace_thread_slot_get() -> *mut std::ffi::c_void;
    fn memtrace_thread_slot_set(value: *mut std::ffi::c_void);
    #[cfg(not(target_arch = "x86_64"))]
    fn memtrace_in_malloc_hook_swap(value: u8) -> u8;
    #[cfg(not(target_arch = "x86_64"))]
    fn memtrace_logged_free_swap(value: usize) -> usize;
}

/// Swap this thread's `memtrace_logged_free` word (thread_slot.c).
#[inline(always)]
fn swap_logged_free(value: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let offset = static_tls::offset_of_tls!("memtrace_logged_free");
        // SAFETY: this thread's own word-sized TLS variable.
        unsafe { static_tls::swap_word(offset, value) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: as above.
    unsafe {
        memtrace_logged_free_swap(value)
    }
}

/// Swap this thread's `memtrace_in_malloc_hook` byte (thread_slot.c).
#[inline(always)]
fn swap_in_malloc_hook(value: u8) -> u8 {
    #[cfg(target_arch = "x86_64")]
    {
        let offset = static_tls::offset_of_tls!("memtrace_in_malloc_hook");
        // SAFETY: this thread's own byte-sized TLS variable.
        unsafe { static_tls::swap_byte(offset, value) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: as above.
    unsafe {
        memtrace_in_malloc_hook_swap(value)
    }
}

/// perl's logged free (`Safefree`) of `addr` was recorded on this thread,
/// and perl frees the block with the C library's `free` next: that call
/// (see [`take_logged_free`]) has nothing left to record. Only with
/// `-malloc`.
#[inline(always)]
pub fn note_logged_free(addr: usize) {
    swap_logged_free(addr);
}

/// Whether the C library's `free` of `addr` is the one that follows perl's
/// logged free of it (see [`note_logged_free`]); either way the note is
/// used up, so a later block at the same address is recorded as usual.
#[inline(always)]
pub fn take_logged_free(addr: usize) -> bool {
    swap_logged_free(0) == addr
}

/// Mark this thread as recording a call of one of the C library's
/// allocation functions (`-malloc`); false if it already was, and then the
/// call (one the recorder itself made) must pass through unrecorded. Pair
/// it with [`leave_malloc_hook`]. A byte of the static TLS block
/// (thread_slot.c): valid for the whole life of the thread, unlike a
/// `thread_local!`, and read without a `__tls_get_addr` call.
#[inline(always)]
pub fn enter_malloc_hook() -> bool {
    swap_in_malloc_hook(1) == 0
}

/// The end of what [`enter_malloc_hook`] began (when it returned true).
#[inline(always)]
pub fn leave_malloc_hook() {
    swap_in_malloc_hook(0);
}

/// The thread slot's value: on x86-64 read in place (two loads, no call).
/// The slot changes only outside the hooks' fast paths, so two reads in one
/// hook may be merged into one (the read is `pure`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn thread_slot() -> *mut std::ffi::c_void {
    let offset = static_tls::offset_of_tls!("memtrace_thread_slot");
    // SAFETY: this thread's own word-sized TLS variable.
    unsafe { static_tls::read_word(offset) as _ }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn thread_slot() -> *mut std::ffi::c_void {
    // SAFETY: reads this thread's own TLS variable.
    unsafe { memtrace_thread_slot_get() }
}

/// This thread's [`Local`], if a hook has registered it in the thread slot.
/// Where `LOCAL.try_with` costs a `__tls_get_addr` call and a state check,
/// this is one %fs-relative load.
#[inline(always)]
fn slotted_local<'a>() -> Option<&'a Local> {
    // SAFETY: the slot holds null or this thread's own LOCAL: `record_slow`
    // sets it while LOCAL is alive, and LOCAL's Drop clears it first thing.
    unsafe { (thread_slot() as *const Local).as_ref() }
}

/// Whether this thread's recorder state is alive and registered (a hook
/// has recorded on it, and it is not exiting). The interposed `malloc`
/// family records only then: the first event of a thread sets its state
/// up, which may itself call `calloc` (glibc's thread-exit destructor list).
#[inline(always)]
pub fn thread_is_registered() -> bool {
    !thread_slot().is_null()
}

/// Clear this thread's slot (its LOCAL is being dropped).
pub(crate) fn forget_thread_slot() {
    // SAFETY: plain store to this thread's own TLS variable.
    unsafe { memtrace_thread_slot_set(std::ptr::null_mut()) }
}

/// Record one hook call: [`record_fast`], else [`record_slow`]. The hooks
/// call the two themselves, so that only the slow path needs a panic guard.
#[inline(always)]
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
    if !record_fast(op, addr, old, size, type_name, c_file, c_line, c_func) {
        record_slow(op, addr, old, size, type_name, c_file, c_line, c_func);
    }
}

/// The hot path: the solo thread's common events while recording is on.
/// Returns false, having done nothing, for anything else (a `Renew`, the
/// first event of a thread, pause, suppression, several recording threads),
/// which [`record_slow`] then handles in full. See [`record_fast_new`],
/// [`record_fast_free`] and [`record_fast_move`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn record_fast(
    op: Op,
    addr: usize,
    old: usize,
    size: u64,
    type_name: StaticStr,
    c_file: StaticStr,
    c_line: u32,
    c_func: StaticStr,
) -> bool {
    match op {
        Op::Alloc | Op::NewSv => {
            record_fast_new(op, addr, size, type_name, c_file, c_line, c_func, true)
        }
        Op::Free | Op::DelSv => is_active() && record_fast_free(op, addr, true),
        Op::Move => is_active() && record_fast_move(addr, old, size),
        Op::Realloc | Op::Malloc | Op::MallocRealloc => false,
    }
}

/// What the fast paths work on: this thread's state, its ring and its
/// nursery, once this thread has been seen to be solo inside its hook
/// section (entered here; the caller leaves it).
#[inline(always)]
fn enter_solo<'a>() -> Option<(&'a Local, &'a Ring, &'a mut Nursery)> {
    enter_solo_on(slotted_local()?)
}

/// [`enter_solo`] for this thread's state, already at hand.
// The nursery is not borrowed from `local`: the solo role makes it this
// thread's alone while inside the hook section (see `enter_solo`).
#[allow(clippy::mut_from_ref)]
#[inline(always)]
fn enter_solo_on(local: &Local) -> Option<(&Local, &Ring, &mut Nursery)> {
    let (nursery, ring) = local.fast_nursery()?;
    ring.enter_hook();
    // `fast_nursery` is set only while this thread holds the solo role, and
    // only the slow path gives the role up (and clears it).
    if !sequence::still_solo() {
        // Another thread records now: the slow path gives the role up.
        ring.leave_hook();
        return None;
    }
    // SAFETY: solo, inside the hook section: the nursery is ours.
    Some((local, ring, unsafe { &mut *nursery }))
}

/// The hot path of an `Alloc` or `NewSv`: into the nursery, written in
/// place (a full set first publishes its oldest allocation).
///
/// With `may_call` false it calls nothing (and so needs no stack frame):
/// it returns false, having done nothing, where it would have to resolve the
/// Perl site beyond the in-place check (see `probe_memo`) or publish. With
/// it true, it does not panic: resolving a Perl site not seen before and
/// publishing, the only code it reaches that might, guard themselves (see
/// [`guard`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn record_fast_new(
    op: Op,
    addr: usize,
    size: u64,
    type_name: StaticStr,
    c_file: StaticStr,
    c_line: u32,
    c_func: StaticStr,
    may_call: bool,
) -> bool {
    if MODE.load(Ordering::Relaxed) != MODE_ON {
        return false;
    }
    let Some(local) = slotted_local() else {
        return false;
    };
    let context = if may_call {
        match op {
            Op::Alloc if records_malloc() => {
                take_held_malloc(addr).unwrap_or_else(|| capture_context_on(local, 0))
            }
            _ => capture_context_on(local, 0),
        }
    } else {
        match local.memoized_perl_site_in_place() {
            0 => return false,
            stack => Context::of_stack(stack),
        }
    };
    let Some((local, ring, nursery)) = enter_solo_on(local) else {
        return false;
    };
    if op == Op::Alloc && records_malloc() && !may_call {
        // Merged with the interposed malloc's record of the same block,
        // held here since a moment ago (see `Op::Malloc`); with `may_call`,
        // `take_held_malloc` took it already.
        nursery.cancel(live::live_key(sites::Kind::Mem, addr));
    }
    let kind = if op == Op::NewSv {
        sites::Kind::Sv
    } else {
        sites::Kind::Mem
    };
    let held = |seq| Event {
        seq,
        addr,
        old: 0,
        size,
        c_file,
        c_func,
        type_name,
        c_line,
        context,
        thread: ring.id,
        op,
    };
    let done = if may_call {
        let event = held(local.numbering.bump_solo());
        // A large live heap keeps every set full: the one pushed out goes
        // straight into the ring where that needs no call.
        nursery.hold_with(event, |evicted| {
            if !publish_solo_in_place(local, ring, evicted) {
                publish_solo(local, ring, evicted)
            }
        });
        true
    } else {
        nursery.hold_if_room(live::live_key(kind, addr), || {
            held(local.numbering.bump_solo())
        })
    };
    ring.leave_hook();
    done
}

/// Take the interposed `malloc`'s record of the block at `addr` out of
/// this (solo) thread's nursery, where perl's logged allocation of the
/// same block replaces it (see `Op::Malloc`), and give its context: perl's
/// `Newx` called that `malloc` a moment ago, from the same statement, so
/// its Perl call stack is the one now running and its native frames are
/// these with the allocator (`Perl_safesysmalloc`) in front; the C site
/// named is the same. This saves the second walk of both stacks for every
/// logged allocation.
#[inline(always)]
fn take_held_malloc(addr: usize) -> Option<Context> {
    let (_, ring, nursery) = enter_solo()?;
    let context = nursery
        .take(live::live_key(sites::Kind::Mem, addr))
        .filter(|held| held.op == Op::Malloc)
        .map(|held| held.context);
    ring.leave_hook();
    context
}

/// What [`record_fast_new_sv_in_place`] left to do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NewLeft {
    /// Nothing: held in a free slot of its nursery set.
    Nothing,
    /// Its set is full: [`record_fast_new_sv_evicting`] with this Perl
    /// call stack (already resolved) pushes the set's oldest out and holds
    /// it.
    Evict(StackId),
    /// Everything (see [`record_fast_new`] with `may_call`).
    Everything,
}

/// [`record_fast_new`] without `may_call`, for a new SV head, saying what
/// is left: a large live heap keeps every nursery set full, and then the
/// eviction need not resolve the Perl site again. Calls nothing.
#[inline(always)]
pub fn record_fast_new_sv_in_place(
    addr: usize,
    c_file: StaticStr,
    c_line: u32,
    c_func: StaticStr,
) -> NewLeft {
    if MODE.load(Ordering::Relaxed) != MODE_ON {
        return NewLeft::Everything;
    }
    let Some(local) = slotted_local() else {
        return NewLeft::Everything;
    };
    let stack = match local.memoized_perl_site_in_place() {
        0 => return NewLeft::Everything,
        stack => stack,
    };
    let Some((local, ring, nursery)) = enter_solo_on(local) else {
        return NewLeft::Everything;
    };
    let held = nursery.hold_if_room(live::live_key(sites::Kind::Sv, addr), || {
        Event::new_sv(
            local.numbering.bump_solo(),
            addr,
            (c_file, c_line, c_func),
            Context::of_stack(stack),
            ring.id,
        )
    });
    let left = if held {
        NewLeft::Nothing
    } else {
        NewLeft::Evict(stack)
    };
    ring.leave_hook();
    left
}

/// The rest of [`NewLeft::Evict`]: hold the new SV head, publishing the
/// allocation it pushes out (straight into the ring where that needs no
/// call). False, having done nothing, if the fast path no longer applies.
/// It does not panic (publishing guards itself).
#[inline(always)]
pub fn record_fast_new_sv_evicting(
    addr: usize,
    c_file: StaticStr,
    c_line: u32,
    c_func: StaticStr,
    stack: StackId,
) -> bool {
    if MODE.load(Ordering::Relaxed) != MODE_ON {
        return false;
    }
    let Some((local, ring, nursery)) = enter_solo() else {
        return false;
    };
    let event = Event::new_sv(
        local.numbering.bump_solo(),
        addr,
        (c_file, c_line, c_func),
        Context::of_stack(stack),
        ring.id,
    );
    nursery.hold_with(event, |evicted| {
        if !publish_solo_in_place(local, ring, evicted) {
            publish_solo(local, ring, evicted)
        }
    });
    ring.leave_hook();
    true
}

/// The hot path of a `Free` or `DelSv`: cancel the allocation in the
/// nursery, or settle a free of an address this (solo) thread never
/// published (see `published`), or else, if `publish`, publish it. Without
/// `publish` it calls nothing (and needs no stack frame); it returns false
/// where it would have had to publish. It cannot panic. The caller has seen
/// [`is_active`] (frees count while paused too).
#[inline(always)]
pub fn record_fast_free(op: Op, addr: usize, publish: bool) -> bool {
    let Some((local, ring, nursery)) = enter_solo() else {
        return false;
    };
    let settled = if settle_solo_free(local, ring, nursery, op, addr) {
        true
    } else if publish {
        publish_solo_free(local, ring, op, addr);
        true
    } else {
        false
    };
    ring.leave_hook();
    settled
}

/// Settle a free on the solo thread without publishing it: cancel its
/// allocation in the nursery, or drop a free of an address this thread
/// never published (see `published`). False if it must be published.
#[inline(always)]
fn settle_solo_free(
    local: &Local,
    ring: &Ring,
    nursery: &mut Nursery,
    op: Op,
    addr: usize,
) -> bool {
    let kind = if op == Op::DelSv {
        sites::Kind::Sv
    } else {
        sites::Kind::Mem
    };
    if nursery.cancel(live::live_key(kind, addr)) {
        ring.count_cancelled();
        true
    } else if op == Op::Free && !local.published_may_contain(addr) {
        count_filtered_unknown_free();
        true
    } else {
        false
    }
}

/// Publish a free from the solo thread. A free notes nothing in the
/// filter: with room in the ring, its event goes straight in; else
/// `publish_solo` flushes first.
#[inline(always)]
fn publish_solo_free(local: &Local, ring: &Ring, op: Op, addr: usize) {
    let event = Event {
        seq: local.numbering.bump_solo(),
        thread: ring.id,
        ..Event::bare(op, addr, 0, 0)
    };
    // SAFETY: this thread is the ring's only producer.
    if let Err(event) = unsafe { ring.push(event) } {
        publish_solo(local, ring, &event);
    }
}

/// What [`record_fast_free_in_place`] left to do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FreeLeft {
    /// Nothing: settled in the nursery or by the filter.
    Nothing,
    /// Only publishing it (see [`publish_fast_free`]): the solo thread's
    /// nursery and filter have been asked already.
    Publish,
    /// Everything: the fast path does not apply (see [`record_slow`]).
    Everything,
}

/// [`record_fast_free`] without publishing, and saying what is left (so
/// that publishing does not ask the nursery and the filter again). It
/// calls nothing (and needs no stack frame) and cannot panic. The caller
/// has seen [`is_active`].
#[inline(always)]
pub fn record_fast_free_in_place(op: Op, addr: usize) -> FreeLeft {
    let Some((local, ring, nursery)) = enter_solo() else {
        return FreeLeft::Everything;
    };
    let left = if settle_solo_free(local, ring, nursery, op, addr) {
        FreeLeft::Nothing
    } else {
        FreeLeft::Publish
    };
    ring.leave_hook();
    left
}

/// Publish a free that [`record_fast_free_in_place`] found neither held
/// nor settled; false, having done nothing, if this thread is solo no more
/// (the slow path then takes it). Only the solo thread's own hooks change
/// its nursery and filter, so what they answered still holds.
#[inline(always)]
pub fn publish_fast_free(op: Op, addr: usize) -> bool {
    let Some((local, ring, _)) = enter_solo() else {
        return false;
    };
    publish_solo_free(local, ring, op, addr);
    ring.leave_hook();
    true
}

/// The hot path of a `Move` (perl's saferealloc moved a buffer, unlogged):
/// a held allocation moves in the nursery (and takes this event's number,
/// see `nursery`), a buffer this (solo) thread never published is none of
/// our business (perl growing a string), anything else is published. The
/// caller has seen [`is_active`].
#[inline(always)]
pub fn record_fast_move(addr: usize, old: usize, size: u64) -> bool {
    if addr == 0 || old == 0 {
        return false; // a realloc that freed: the slow path
    }
    let Some((local, ring, nursery)) = enter_solo() else {
        return false;
    };
    if let Some(mut held) = nursery.take(live::live_key(sites::Kind::Mem, old)) {
        held.addr = addr;
        held.size = size;
        held.seq = local.numbering.bump_solo();
        nursery.hold_with(held, |evicted| publish_solo(local, ring, evicted));
    } else if local.published_may_contain(old) {
        let event = Event {
            seq: local.numbering.bump_solo(),
            thread: ring.id,
            ..Event::bare(Op::Move, addr, old, size)
        };
        publish_solo(local, ring, &event);
    }
    ring.leave_hook();
    true
}

/// Run `f`; if it panics, stop recording (see [`stop_after_panic`]) and
/// return `default`. A hook must never unwind into perl.
pub fn guard<R>(default: R, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => {
            stop_after_panic();
            default
        }
    }
}

/// A bug in the recorder must not take the program down: stop recording
/// and say so once (the panic message was already printed by the hook).
#[cold]
pub fn stop_after_panic() {
    if is_recording() || is_paused() {
        disable();
        // Never panic here: a failed write to stderr is ignored.
        let _ = writeln!(
            std::io::stderr(),
            "Devel::MemTrace: internal error in the recorder; recording stopped (please report it)"
        );
    }
}

/// Where an allocation is being made: the Perl call stack now running and,
/// if they are on, the native frames of the hook's caller. The one source
/// of a record's [`Context`], for every hook that creates something. `old`
/// is the address a realloc moves away from (0 for anything else). It must
/// be called from within a hook that began with
/// [`c_frames::note_hook_entry`] (the native frames are walked from where
/// that hook was entered).
#[inline(always)]
fn capture_context_on(local: &Local, old: usize) -> Context {
    Context {
        stack: probe(local, old),
        c_frames: c_frames::capture(local),
    }
}

/// [`capture_context_on`] for this thread, for a hook outside this crate
/// (such as one of the C library's allocation functions, which calls
/// [`c_frames::note_hook_entry`] first thing): `Context::NONE` on a
/// thread whose state is gone.
#[inline(never)]
pub fn capture_context(old: usize) -> Context {
    LOCAL
        .try_with(|local| capture_context_on(local, old))
        .unwrap_or(Context::NONE)
}

/// The Perl call stack now running, for an event that creates something.
#[inline(always)]
fn probe(local: &Local, old: usize) -> StackId {
    if old == 0 {
        let site = local.memoized_perl_site();
        if site != 0 {
            local.last_site.set(site);
            return site;
        }
    }
    let source = SITE_SOURCE.load(Ordering::Acquire);
    if source.is_null() {
        return 0;
    }
    // SAFETY: set_site_source takes a &'static.
    local.perl_site(unsafe { &*source }, old)
}

/// Everything [`record_fast`] leaves: the first event of a thread, paused
/// recording, suppressed allocations, reallocs, several recording threads,
/// a thread whose thread-local state is gone.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn record_slow(
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
        Op::Alloc | Op::NewSv | Op::Malloc if mode == MODE_PAUSED => return,
        Op::Realloc | Op::MallocRealloc if mode == MODE_PAUSED => Op::Move,
        op => op,
    };
    // The event is built once, whole, when its number is known: filling in
    // fields of an already-built event and then copying it stalls on
    // store forwarding.
    let build = |seq: u64, context: Context, thread: u16, op: Op| Event {
        seq,
        addr,
        old,
        size,
        c_file,
        c_func,
        type_name,
        c_line,
        context,
        thread,
        op,
    };
    let on_thread = LOCAL.try_with(|local| {
        // SAFETY: plain store to this thread's own TLS variable; LOCAL
        // clears it when it is dropped.
        unsafe { memtrace_thread_slot_set(local as *const Local as *mut std::ffi::c_void) };
        record_on_thread(local, op, old, build);
        local.refresh_fast();
    });
    if on_thread.is_err() {
        record_stray(build(0, Context::NONE, 0, op));
    }
}

#[inline]
fn record_on_thread(
    local: &Local,
    mut op: Op,
    old: usize,
    build: impl Fn(u64, Context, u16, Op) -> Event,
) {
    if local.suppress_new.get() != 0 {
        match op {
            Op::Alloc | Op::NewSv | Op::Malloc => return,
            Op::Realloc | Op::MallocRealloc => op = Op::Move,
            _ => {}
        }
    }
    let context = if op.creates() {
        capture_context_on(local, old)
    } else {
        Context::NONE
    };
    let ring = local.ring();
    if local.numbering.may_be_solo() {
        ring.enter_hook();
        if let Some(seq) = local.numbering.next_solo() {
            let event = build(seq, context, ring.id, op);
            // SAFETY: solo, inside the hook section: the nursery is ours.
            let outcome =
                unsafe { ring.nursery() }.map_or(Outcome::PublishOffered, |n| n.offer(&event));
            match outcome {
                Outcome::Publish(evicted) => publish_solo(local, ring, &evicted),
                Outcome::PublishOffered
                    if event.op == Op::Free && !local.published_may_contain(event.addr) =>
                {
                    // Never recorded by anyone: an unknown free, settled here.
                    count_filtered_unknown_free();
                }
                // A move of what nobody recorded (perl growing a string).
                Outcome::PublishOffered
                    if event.op == Op::Move && !local.published_may_contain(event.old) => {}
                Outcome::PublishOffered => publish_solo(local, ring, &event),
                Outcome::Held => {}
                Outcome::Cancelled => ring.count_cancelled(),
            }
            ring.leave_hook();
            return;
        }
        // Another thread records now: publish what the nursery held, in case
        // that thread has not taken it over already.
        let mut held = Vec::new();
        // SAFETY: we are the producer, inside the hook section.
        unsafe { ring.take_nursery(&mut held) };
        for event in held {
            publish(local, ring, event);
        }
        ring.leave_hook();
    }
    if ring.is_full() && !local.busy.get() {
        flush_from_hook(local);
    }
    // Mark the ring in flight while this event holds a shared number that
    // is not yet published (see `drain`).
    ring.begin_event();
    let event = build(sequence::shared_next(), context, ring.id, op);
    push_or_overflow(local, ring, event);
    ring.end_event();
}

/// Frees of never-recorded addresses the solo thread settled itself (see
/// `published`). Written by the solo thread only.
static FILTERED_UNKNOWN_FREES: AtomicU64 = AtomicU64::new(0);

/// A free of an address never recorded, settled by the solo thread.
#[inline(always)]
fn count_filtered_unknown_free() {
    FILTERED_UNKNOWN_FREES.store(
        FILTERED_UNKNOWN_FREES.load(Ordering::Relaxed) + 1,
        Ordering::Relaxed,
    );
}

/// Publish an event of the solo thread, noting the address of what it
/// allocates (see `published`). Out of line: the hot path calls it for
/// one event in twenty.
#[inline(never)]
fn publish_solo(local: &Local, ring: &Ring, event: &Event) {
    guard((), || {
        if event.op.places_buffer() {
            local.note_published(event.addr);
        }
        publish(local, ring, *event);
    })
}

/// [`publish_solo`] without calling anything, for the hot path: false,
/// having done nothing, where that would need a call (the ring is full and
/// must be flushed, or the published-address filter is not made yet).
#[inline(always)]
fn publish_solo_in_place(local: &Local, ring: &Ring, event: &Event) -> bool {
    if ring.is_full() {
        return false;
    }
    if event.op.places_buffer() && !local.note_published_in_place(event.addr) {
        return false;
    }
    // SAFETY: this thread is the ring's only producer; not full (only the
    // consumer changes that, and only by making room).
    unsafe { ring.push(*event) }.is_ok()
}

/// Push an event that already has its number.
#[inline]
fn publish(local: &Local, ring: &Ring, event: Event) {
    if ring.is_full() && !local.busy.get() {
        flush_from_hook(local);
    }
    push_or_overflow(local, ring, event);
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
    // A thread without its thread-local state records: the solo thread is
    // solo no more (its nursery and published-address filter assume it).
    sequence::mark_multi();
    if nurseries_in_use() {
        take_over_nurseries();
    }
    if event.op.creates() {
        event.context = Context::NONE;
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

/// Whether nurseries are used: membarrier(2) works here. Decided once, when
/// recording is first enabled (before any thread registers).
static NURSERIES: OnceLock<bool> = OnceLock::new();

fn nurseries_in_use() -> bool {
    NURSERIES.get().copied().unwrap_or(false)
}

/// A thread's first event: give it a ring and a numbering role. The first
/// thread becomes solo and, where membarrier(2) works, gets a nursery; any
/// later one takes the solo thread's nursery over before it records.
fn register_thread(numbering: &sequence::Numbering) -> Arc<Ring> {
    static NEXT_ID: AtomicU16 = AtomicU16::new(1);
    let ring = Arc::new(Ring::with_id(NEXT_ID.fetch_add(1, Ordering::Relaxed)));
    // Listed before any role is claimed, so that a drain sees two rings (and
    // merges, rather than applying one in place) while a hand-over runs.
    lock(&RINGS).push(Arc::clone(&ring));
    if numbering.register() {
        if nurseries_in_use() {
            ring.enable_nursery();
        }
    } else if nurseries_in_use() {
        take_over_nurseries();
    }
    ring
}

/// The hand-over: `MULTI` is set (by `Numbering::register`, or a stray);
/// after a process-wide barrier the solo thread either is inside a hook
/// section (we wait it out) or will see `MULTI` at its next one and keep out
/// of its nursery (even one it enables only now). Its held allocations then
/// go to the strays, under their lock, ahead of any event of this thread
/// (they are epoch 0, ours epoch 1).
#[cold]
fn take_over_nurseries() {
    membarrier::barrier();
    let rings: Vec<Arc<Ring>> = lock(&RINGS).clone();
    for ring in rings.iter().filter(|r| r.has_nursery()) {
        ring.wait_out_of_hook();
        let mut strays = lock(&STRAYS);
        // SAFETY: the hand-over protocol above.
        unsafe { ring.take_nursery(&mut strays) };
    }
}

/// Publish what this thread's nursery holds, so the aggregator sees it
/// (before a checkpoint closes the iteration they belong to).
fn flush_own_nursery(local: &Local) {
    let Some(ring) = local.ring_if_registered() else {
        return;
    };
    if !local.numbering.may_be_solo() {
        return;
    }
    ring.enter_hook();
    if local.numbering.is_solo_now() {
        // SAFETY: solo, inside the hook section.
        if let Some(nursery) = unsafe { ring.nursery() } {
            nursery.drain_each(|event| publish_solo(local, ring, event));
        }
    } else {
        let mut held = Vec::new();
        // SAFETY: we are the producer, inside the hook section.
        unsafe { ring.take_nursery(&mut held) };
        for event in &held {
            publish_solo(local, ring, event);
        }
    }
    ring.leave_hook();
}

/// Frees of addresses never recorded (also those settled by the solo thread).
pub fn unknown_frees(aggregator: &Aggregator) -> u64 {
    aggregator.totals.unknown_frees + FILTERED_UNKNOWN_FREES.load(Ordering::Relaxed)
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
/// Returns the watermark it applied up to: every event numbered below it
/// is in the tables now.
fn drain(aggregator: &mut Aggregator, local: Option<&Local>) -> u64 {
    // Every sequence number below `watermark` belongs to an event that is
    // published by the time its ring is read below, unless that ring's
    // producer is mid-event (then only those below its last one are). A
    // producer that is idle now, or registers later, numbers its next event
    // at or above it.
    let mut watermark = sequence::watermark();
    let rings: Vec<Arc<Ring>> = lock(&RINGS).clone();
    aggregator.set_concurrent(rings.len() > 1);

    if let [ring] = rings.as_slice() {
        // Strays are looked at after the ring's tail is read: an event in
        // the ring that follows a stray (a nursery taken over, another
        // thread's last words) was published after that stray was queued.
        let tail = ring.published_tail();
        let no_overflow = local.is_none_or(|l| l.overflow.borrow().is_empty());
        if no_overflow && lock(&STRAYS).is_empty() && !ring.is_orphaned() {
            // One recording thread: its events are in order already, and no
            // other thread can have numbered one below `watermark` that is
            // still to come. Apply them where they lie.
            // SAFETY: we hold the aggregator lock, so we are the only consumer.
            unsafe { ring.consume_to(tail, |events| aggregator.apply_batch(events, watermark)) };
            return watermark;
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
    if let Some(local) = local {
        batch.append(&mut local.overflow.borrow_mut());
    }
    // After the rings, for the reason given above.
    batch.append(&mut lock(&STRAYS));
    // Stable: events of one thread never share a number, but keep it simple.
    batch.sort_by_key(|e| e.seq);
    aggregator.apply_batch(&batch, watermark);
    if states.iter().any(|&(orphaned, _)| orphaned) {
        forget_drained_orphans(&rings);
    }
    watermark
}

/// Nursery cancellations of threads whose rings are gone.
static CANCELLED_IN_FORGOTTEN_RINGS: AtomicU64 = AtomicU64::new(0);

fn forget_drained_orphans(drained: &[Arc<Ring>]) {
    lock(&RINGS).retain(|ring| {
        let forget =
            ring.is_orphaned() && drained.iter().any(|d| Arc::ptr_eq(d, ring)) && ring.is_empty();
        if forget {
            CANCELLED_IN_FORGOTTEN_RINGS.fetch_add(ring.cancelled(), Ordering::Relaxed);
        }
        !forget
    });
}

/// Run `f` on the aggregator after bringing it up to date. Hooks that fire
/// on this thread meanwhile (the XS layer calling perl) are kept, not lost.
pub fn with_aggregator<R>(f: impl FnOnce(&mut Aggregator) -> R) -> R {
    with_aggregator_settled(0, f)
}

/// [`with_aggregator`], with every event numbered below `settle_below`
/// applied before `f` runs (see [`checkpoint`]).
fn with_aggregator_settled<R>(settle_below: u64, f: impl FnOnce(&mut Aggregator) -> R) -> R {
    // What this thread holds back goes first, outside the lock (publishing
    // may flush). Another thread's nursery is taken over when this thread
    // registers: asking the recorder counts as recording.
    let _ = LOCAL.try_with(|local| {
        if nurseries_in_use() {
            local.ring();
        }
        flush_own_nursery(local);
    });
    let mut aggregator = lock(&AGGREGATOR);
    // Mark this thread busy so its own hooks park events instead of flushing.
    let was_busy = LOCAL.try_with(|local| local.busy.replace(true)).ok();
    let drain_here = |aggregator: &mut Aggregator| match was_busy {
        Some(_) => LOCAL.with(|local| drain(aggregator, Some(local))),
        None => drain(aggregator, None),
    };
    let mut applied = drain_here(&mut aggregator);
    let mut waits = 0u32;
    while applied < settle_below && waits < SETTLE_MAX_WAITS {
        // Another thread is between numbering an event and publishing it,
        // a few instructions that take no lock (unless it was preempted
        // there): let it finish.
        if waits < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        waits += 1;
        applied = drain_here(&mut aggregator);
    }
    let result = f(&mut aggregator);
    drain_here(&mut aggregator);
    if let Some(was_busy) = was_busy {
        let _ = LOCAL.try_with(|local| local.busy.set(was_busy));
    }
    result
}

/// How often [`with_aggregator_settled`] lets other threads finish an
/// event before it gives up (about two seconds): a bound, so that a thread
/// that never comes back (stopped in a debugger, say) cannot hang it.
const SETTLE_MAX_WAITS: u32 = 64 + 20_000;

/// Close the open iteration (see [`Aggregator::checkpoint`]).
///
/// Every event numbered before the call belongs to the iteration it
/// closes, so it is applied first: the drain holds back an event of this
/// thread while another thread is between numbering an earlier event and
/// publishing it, and an event applied after the checkpoint would count
/// in the next iteration (with three threads allocating, a leak planted in
/// iterations 1 to 3 of the main thread was found made in 4 and 5, too
/// young to be a leak, one run in three).
pub fn checkpoint(svs: u64, rule: LeakRule) -> Snapshot {
    let numbered_before = sequence::watermark();
    with_aggregator_settled(numbered_before, |a| {
        let snapshot = a.checkpoint(svs, rule);
        // A filter that has filled up starts again from what is live.
        let _ = LOCAL.try_with(|local| local.refresh_published(a));
        snapshot
    })
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
        l.refresh_fast();
    });
}

/// Forget everything recorded and stop (tests only: one process, many cases).
#[doc(hidden)]
pub fn reset_for_tests() {
    disable();
    with_aggregator(|aggregator| *aggregator = Aggregator::default());
    FILTERED_UNKNOWN_FREES.store(0, Ordering::Relaxed);
}

/// Allocations that nurseries cancelled against their free (never published).
pub fn cancelled_in_nurseries() -> u64 {
    CANCELLED_IN_FORGOTTEN_RINGS.load(Ordering::Relaxed)
        + lock(&RINGS).iter().map(|r| r.cancelled()).sum::<u64>()
}

/// Whether no other thread records: every other thread that ever did has
/// exited (ithreads that were joined or have finished). An interpreter's
/// SVs that only its own thread changes (threads::shared's, changed by
/// whichever thread takes its lock) can then be read.
pub fn no_other_thread_records() -> bool {
    let own = own_ring();
    lock(&RINGS)
        .iter()
        .all(|ring| ring.is_orphaned() || std::ptr::eq(&**ring, own))
}

/// This thread's ring, if it has recorded (else null).
fn own_ring() -> *const Ring {
    LOCAL
        .try_with(|local| local.ring_if_registered().map(|r| r as *const Ring))
        .ok()
        .flatten()
        .unwrap_or(std::ptr::null())
}

/// The ring numbers of the threads registered now (tests).
#[doc(hidden)]
pub fn registered_threads() -> Vec<u16> {
    lock(&RINGS).iter().map(|r| r.id).collect()
}

/// This thread's ring number, if it has recorded (tests).
#[doc(hidden)]
pub fn this_thread() -> Option<u16> {
    LOCAL
        .try_with(|l| l.ring_if_registered().map(|r| r.id))
        .ok()
        .flatten()
}

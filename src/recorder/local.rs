//! Per-thread recorder state: the thread's ring, its recursion guard, and
//! its cache of Perl sites by COP.

use std::cell::{Cell, OnceCell, RefCell, UnsafeCell};
use std::sync::Arc;

use super::aggregator::Aggregator;
use super::c_frames::CFramesCache;
use super::event::{Event, StackId};
use super::nursery::Nursery;
use super::probe_memo::ProbeMemo;
use super::published::PublishedAllocations;
use super::ring::Ring;
use super::sequence::Numbering;
use super::{CurrentCop, ProbeScratch, SiteSource};

const COP_CACHE_SIZE: usize = 1024;

#[derive(Clone, Copy, Default)]
struct CopCacheEntry {
    cop: usize,
    file_key: usize,
    sub_key: usize,
    callers: u64,
    line: u32,
    site: StackId,
}

pub(crate) struct Local {
    ring: OnceCell<Arc<Ring>>,
    /// How this thread numbers its events (see `sequence`).
    pub numbering: Numbering,
    /// Set while this thread holds the aggregator: a hook that fires then
    /// (the XS layer calling perl) must not try to flush, or it would
    /// deadlock on the lock it already holds.
    pub busy: Cell<bool>,
    /// While non-zero, new allocations on this thread are the tool's own
    /// (the XS layer building return values) and are not recorded. Frees and
    /// reallocs still are, so nothing recorded goes stale.
    pub suppress_new: Cell<u32>,
    /// Events that found the ring full while `busy`; drained with the rest.
    pub overflow: RefCell<Vec<Event>>,
    cop_cache: UnsafeCell<Option<Box<[CopCacheEntry; COP_CACHE_SIZE]>>>,
    /// The site source's own per-thread state.
    probe_scratch: UnsafeCell<ProbeScratch>,
    /// The last lookup: consecutive events mostly come from one statement.
    last_probe: Cell<(CurrentCop, StackId)>,
    /// The Perl call stack of this thread's latest event that had one (see
    /// `CurrentCop::runs_no_code`).
    pub last_site: Cell<StackId>,
    /// Native frame lists this thread interned lately, and its stack's
    /// bounds (see `c_frames`).
    pub c_frames: UnsafeCell<Option<Box<CFramesCache>>>,
    /// Where perl was at the full probes of the last few statements, for a
    /// check that skips the site source while perl is there again (see
    /// `probe_memo`).
    probe_memo: UnsafeCell<Option<ProbeMemo>>,
    /// Addresses this thread published allocations at, while it is solo.
    published: UnsafeCell<Option<PublishedAllocations>>,
    /// This thread's nursery while the hot path may use it without further
    /// checks (solo, nursery owned, nothing suppressed); null otherwise.
    /// See [`Local::refresh_fast`].
    fast_nursery: Cell<*mut Nursery>,
    /// This thread's ring whenever `fast_nursery` is set.
    fast_ring: Cell<*const Ring>,
}

impl Local {
    pub const fn new() -> Local {
        Local {
            ring: OnceCell::new(),
            numbering: Numbering::new(),
            busy: Cell::new(false),
            suppress_new: Cell::new(0),
            overflow: RefCell::new(Vec::new()),
            cop_cache: UnsafeCell::new(None),
            probe_scratch: UnsafeCell::new([0; 6]),
            last_probe: Cell::new((
                CurrentCop {
                    cop: 0,
                    file_key: 0,
                    sub_key: 0,
                    line: 0,
                    callers: 0,
                    runs_no_code: false,
                },
                0,
            )),
            last_site: Cell::new(0),
            c_frames: UnsafeCell::new(None),
            probe_memo: UnsafeCell::new(None),
            published: UnsafeCell::new(None),
            fast_nursery: Cell::new(std::ptr::null_mut()),
            fast_ring: Cell::new(std::ptr::null()),
        }
    }

    /// The nursery the hot path may use right now, or null (see
    /// `recorder::record_fast`). Only the next event's hook section decides
    /// for good: it still checks `MULTI` before touching it.
    #[inline(always)]
    pub fn fast_nursery(&self) -> Option<(*mut Nursery, &Ring)> {
        let nursery = self.fast_nursery.get();
        if nursery.is_null() {
            return None;
        }
        // SAFETY: set together with `fast_nursery`, to this thread's own
        // ring, which lives as long as this Local.
        Some((nursery, unsafe { &*self.fast_ring.get() }))
    }

    /// Forget where perl was at earlier probes: what a probe answers has
    /// changed (the stack depth, or C frames turned on or off).
    pub fn forget_probes(&self) {
        // SAFETY: only this thread touches these, never re-entrantly.
        unsafe {
            *self.probe_memo.get() = None;
            *self.cop_cache.get() = None;
        }
        self.last_probe.set(Default::default());
    }

    /// Recompute [`Local::fast_nursery`] after anything it depends on may
    /// have changed: registration, the solo role, the nursery hand-over, the
    /// suppression depth.
    pub fn refresh_fast(&self) {
        let (nursery, ring) = match self.ring.get() {
            Some(ring) if self.numbering.is_solo_now() && self.suppress_new.get() == 0 => {
                (ring.owned_nursery_ptr(), &**ring as *const Ring)
            }
            _ => (std::ptr::null_mut(), std::ptr::null()),
        };
        self.fast_ring.set(ring);
        self.fast_nursery.set(nursery);
    }

    /// This thread's ring, registered with the recorder on first use.
    #[inline]
    pub fn ring(&self) -> &Ring {
        self.ring
            .get_or_init(|| super::register_thread(&self.numbering))
    }

    /// Note an address this (solo) thread published an allocation at.
    #[inline]
    pub fn note_published(&self, addr: usize) {
        // SAFETY: only this thread touches its filter, never re-entrantly.
        let filter = unsafe { &mut *self.published.get() };
        filter.get_or_insert_with(Default::default).insert(addr);
    }

    /// As [`Local::note_published`], without calling anything: false (and
    /// nothing noted) if the filter is not made yet.
    #[inline(always)]
    pub fn note_published_in_place(&self, addr: usize) -> bool {
        // SAFETY: as above.
        match unsafe { &mut *self.published.get() } {
            Some(filter) => {
                filter.insert(addr);
                true
            }
            None => false,
        }
    }

    /// Whether this (solo) thread may have published an allocation at `addr`.
    #[inline]
    pub fn published_may_contain(&self, addr: usize) -> bool {
        // SAFETY: as above.
        match unsafe { &*self.published.get() } {
            Some(filter) => filter.may_contain(addr),
            None => false,
        }
    }

    /// Rebuild a crowded filter from the live table (on this thread, while
    /// it holds the aggregator; new allocations meanwhile are noted anyway).
    pub fn refresh_published(&self, aggregator: &Aggregator) {
        // SAFETY: as above.
        if let Some(filter) = unsafe { &mut *self.published.get() } {
            if filter.is_crowded() {
                filter.rebuild(
                    aggregator.totals.mem_live as usize,
                    aggregator.live.block_addresses(),
                );
            }
        }
    }

    /// This thread's ring if it has recorded anything.
    pub fn ring_if_registered(&self) -> Option<&Ring> {
        self.ring.get().map(|r| &**r)
    }

    /// The Perl site now running, if perl is where it was at an earlier
    /// full probe (see `probe_memo`); else 0, and the caller asks
    /// [`Local::perl_site`]. Only for events that move nothing (`old` 0).
    #[inline(always)]
    pub fn memoized_perl_site(&self) -> StackId {
        // SAFETY: only this thread touches its memo, never re-entrantly.
        match unsafe { &*self.probe_memo.get() } {
            Some(memo) => memo.again(),
            None => 0,
        }
    }

    /// As [`Local::memoized_perl_site`], but only the check that needs no
    /// call (see `ProbeMemo::again_in_place`).
    #[inline(always)]
    pub fn memoized_perl_site_in_place(&self) -> StackId {
        // SAFETY: as above.
        match unsafe { &*self.probe_memo.get() } {
            Some(memo) => memo.again_in_place(),
            None => 0,
        }
    }

    /// The full probe: the Perl site now running, from the caches or
    /// resolved by `source`. `old` is the address a realloc is moving away
    /// from (see `SiteSource::describe`).
    #[inline(never)]
    pub fn perl_site(&self, source: &SiteSource, old: usize) -> StackId {
        // SAFETY: only this thread touches its scratch, never re-entrantly.
        let current = (source.current)(old, unsafe { &mut *self.probe_scratch.get() });
        if current.runs_no_code {
            return self.last_site.get();
        }
        if current.cop == 0 {
            return 0;
        }
        let (last, last_site) = self.last_probe.get();
        let site = if current == last {
            last_site
        } else {
            let site = self.cached_perl_site(source, &current, old);
            if site != 0 {
                self.last_probe.set((current, site));
            }
            site
        };
        if site != 0 {
            self.last_site.set(site);
        }
        if site != 0 && old == 0 {
            // SAFETY: as above.
            let memo = unsafe { &mut *self.probe_memo.get() };
            memo.get_or_insert_with(Default::default).remember(site);
        }
        site
    }

    /// Out of line, and the only part of the hot path that calls code that
    /// might panic (the site source's `describe`), so it is guarded here.
    #[inline(never)]
    fn cached_perl_site(&self, source: &SiteSource, current: &CurrentCop, old: usize) -> StackId {
        super::guard(0, || self.cached_perl_site_unguarded(source, current, old))
    }

    fn cached_perl_site_unguarded(
        &self,
        source: &SiteSource,
        current: &CurrentCop,
        old: usize,
    ) -> StackId {
        let slot = cache_slot(current);
        // SAFETY: the cache is only touched by this thread, and never while
        // another borrow of it is alive (describe does not re-enter here).
        let cache = unsafe { &mut *self.cop_cache.get() };
        let cache =
            cache.get_or_insert_with(|| Box::new([CopCacheEntry::default(); COP_CACHE_SIZE]));
        let entry = &mut cache[slot];
        if entry.cop == current.cop
            && entry.line == current.line
            && entry.file_key == current.file_key
            && entry.sub_key == current.sub_key
            && entry.callers == current.callers
        {
            return entry.site;
        }
        match (source.describe)(current, old) {
            Some(site) => {
                *entry = CopCacheEntry {
                    cop: current.cop,
                    file_key: current.file_key,
                    sub_key: current.sub_key,
                    callers: current.callers,
                    line: current.line,
                    site,
                };
                site
            }
            None => 0,
        }
    }
}

fn cache_slot(current: &CurrentCop) -> usize {
    let mixed = (current.cop
        ^ current.sub_key.rotate_left(29)
        ^ current.file_key.rotate_left(17)
        ^ current.line as usize
        ^ (current.callers as usize).rotate_left(7))
    .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) % COP_CACHE_SIZE
}

impl Drop for Local {
    fn drop(&mut self) {
        // Hooks that still fire on this thread take the stray path from now.
        super::forget_thread_slot();
        self.fast_nursery.set(std::ptr::null_mut());
        let mut leftovers = std::mem::take(self.overflow.get_mut());
        if let Some(ring) = self.ring.get() {
            ring.enter_hook();
            // SAFETY: we are the producer, inside the hook section.
            unsafe { ring.take_nursery(&mut leftovers) };
            ring.leave_hook();
            // The aggregator drains it one last time and forgets it.
            ring.mark_orphaned();
        }
        if !leftovers.is_empty() {
            super::push_strays(leftovers);
        }
    }
}

//! Sequence numbers: the order in which events on the same address happened.
//!
//! An address is handed from one thread to another only through some
//! synchronisation, after the hook that allocated it has published its event
//! (and a free's hook publishes before the memory is released). Numbers taken
//! from one atomic counter therefore order every causally related pair. The
//! counter's `lock xadd` is the single most expensive thing a hook does,
//! though, and most perls record from one thread only. So:
//!
//! * The first thread to record is *solo*: while no other thread records, it
//!   numbers its events from a plain thread-local counter, in epoch 0.
//! * Every other thread sets [`MULTI`] before its first event and takes its
//!   numbers from the shared counter, in epoch 1 (bit 63 set).
//! * The solo thread checks `MULTI` on every event and, once it sees it,
//!   takes epoch-1 numbers too, for good.
//!
//! Why that orders causally related events: an epoch-0 event happens before
//! any epoch-1 event it is related to gets its number (epoch 0 < epoch 1). A
//! solo event can never follow an epoch-1 event causally: the other thread
//! stored `MULTI` before its event, so the solo thread, synchronised after
//! it, sees `MULTI` and leaves epoch 0 first. Epoch-1 events are ordered by
//! the counter's total order.
//!
//! The drain's watermark (see `drain` in recorder/mod.rs) covers all of epoch 0: a
//! solo event still in flight is applied in a later batch, which is safe
//! because no event related to it can exist before it is published.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

const EPOCH_SHARED: u64 = 1 << 63;

/// Set once a second thread has started recording.
static MULTI: AtomicBool = AtomicBool::new(false);
/// Whether some thread has taken the solo role.
static SOLO_TAKEN: AtomicBool = AtomicBool::new(false);
/// The shared counter of epoch 1.
static SHARED: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(0));

/// A thread's numbering state. Starting out not solo is load-bearing: a
/// thread is solo only if [`Numbering::register`] said so.
pub(crate) struct Numbering {
    solo: Cell<bool>,
    last_solo: Cell<u64>,
}

impl Numbering {
    pub const fn new() -> Numbering {
        Numbering {
            solo: Cell::new(false),
            last_solo: Cell::new(0),
        }
    }

    /// Called once per thread, before its first event. True if this thread
    /// is the solo one.
    pub fn register(&self) -> bool {
        if !SOLO_TAKEN.swap(true, Ordering::SeqCst) {
            self.solo.set(true);
            true
        } else {
            MULTI.store(true, Ordering::SeqCst);
            false
        }
    }

    /// Whether this thread may still be solo (it checks for good in
    /// `next_solo`).
    #[inline]
    pub fn may_be_solo(&self) -> bool {
        self.solo.get()
    }

    /// Whether this thread is solo now, without giving the role up.
    #[inline]
    pub fn is_solo_now(&self) -> bool {
        self.solo.get() && still_solo()
    }

    /// The next epoch-0 number, when the caller has just seen
    /// [`Numbering::is_solo_now`] (inside its hook section).
    #[inline(always)]
    pub fn bump_solo(&self) -> u64 {
        let seq = self.last_solo.get() + 1;
        self.last_solo.set(seq);
        seq
    }

    /// The number of this thread's next event if it is still solo (epoch 0,
    /// no shared state touched); None once it must use [`shared_next`].
    #[inline]
    pub fn next_solo(&self) -> Option<u64> {
        if !self.solo.get() {
            return None;
        }
        if MULTI.load(Ordering::Relaxed) {
            self.solo.set(false);
            return None;
        }
        let seq = self.last_solo.get() + 1;
        self.last_solo.set(seq);
        Some(seq)
    }
}

/// Whether no second thread has started recording: all a thread that knows
/// it held the solo role until now must check (inside its hook section).
#[inline(always)]
pub(crate) fn still_solo() -> bool {
    !MULTI.load(Ordering::Relaxed)
}

/// No thread is solo from now on (a thread recording without its
/// thread-local state, see `record_stray`).
pub(crate) fn mark_multi() {
    MULTI.store(true, Ordering::SeqCst);
}

/// A number from the shared counter (threads without numbering state, too).
pub(crate) fn shared_next() -> u64 {
    EPOCH_SHARED | SHARED.fetch_add(1, Ordering::SeqCst)
}

/// The drain's starting watermark: every epoch-0 number, and every epoch-1
/// number handed out before this call.
pub(crate) fn watermark() -> u64 {
    EPOCH_SHARED | SHARED.load(Ordering::SeqCst)
}

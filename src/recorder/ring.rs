//! A bounded single-producer ring of [`Event`]s.
//!
//! Each thread that records owns one ring and is its only producer; the
//! aggregator, under its own lock, is the only consumer. The producer never
//! waits and never takes a lock: a push is a slot write and a release store.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use super::event::Event;
use super::nursery::Nursery;

const NURSERY_NONE: u8 = 0;
const NURSERY_OWNED: u8 = 1;
const NURSERY_TAKEN: u8 = 2;

/// Events per ring: 8192 x 72 bytes = 576 KiB per recording thread. Large
/// enough that the aggregator runs rarely; small enough to stay cache-friendly.
pub const RING_CAPACITY: usize = 8192;

pub struct Ring {
    slots: Box<[UnsafeCell<MaybeUninit<Event>>]>,
    /// Next slot the consumer reads. Written by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// Next slot the producer writes. Written by the producer only.
    tail: CachePadded<AtomicUsize>,
    /// True while the producer holds a sequence number it has not published
    /// yet. The aggregator reads it to know which sequence numbers may still
    /// arrive late (see `drain` in recorder/mod.rs).
    in_flight: CachePadded<AtomicBool>,
    /// The sequence number of the last event the consumer took from here.
    last_drained_seq: AtomicU64,
    /// The number stamped on this ring's events.
    pub id: u16,
    /// The solo thread's nursery (see `nursery`). The producer touches it
    /// only inside `enter_hook`..`leave_hook` while still solo; anyone else
    /// only through `take_nursery`, after the hand-over protocol.
    nursery: UnsafeCell<Option<Nursery>>,
    nursery_state: AtomicU8,
    /// Where the nursery is, once enabled (it never moves).
    nursery_addr: AtomicPtr<Nursery>,
    /// True while the producer may be using its nursery.
    in_hook: CachePadded<AtomicBool>,
    /// Allocations the nursery cancelled against their free. Producer-only
    /// writes; read by anyone.
    cancelled: AtomicU64,
    /// Set when the owning thread has exited: drain it one last time and drop.
    orphaned: AtomicBool,
}

// SAFETY: slots are written only by the single producer between its read of
// `tail` and its release store of `tail + 1`, and read only by the single
// consumer after an acquire load of `tail` (and before its release store of
// `head`), so no slot is ever accessed by both at once.
unsafe impl Sync for Ring {}
unsafe impl Send for Ring {}

impl Default for Ring {
    fn default() -> Self {
        Ring::new()
    }
}

impl Ring {
    pub fn new() -> Ring {
        Ring::with_id(0)
    }

    pub fn with_id(id: u16) -> Ring {
        let slots = (0..RING_CAPACITY)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Ring {
            slots,
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            in_flight: CachePadded::new(AtomicBool::new(false)),
            last_drained_seq: AtomicU64::new(0),
            id,
            nursery: UnsafeCell::new(None),
            nursery_state: AtomicU8::new(NURSERY_NONE),
            nursery_addr: AtomicPtr::new(std::ptr::null_mut()),
            in_hook: CachePadded::new(AtomicBool::new(false)),
            cancelled: AtomicU64::new(0),
            orphaned: AtomicBool::new(false),
        }
    }

    /// Producer side: append `event`, or hand it back when the ring is full.
    ///
    /// # Safety
    /// Only the ring's one producer thread may call this.
    #[inline(always)]
    pub unsafe fn push(&self, event: Event) -> Result<(), Event> {
        let tail = self.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(self.head.load(Ordering::Acquire)) >= RING_CAPACITY {
            return Err(event);
        }
        (*self.slots[tail % RING_CAPACITY].get()).write(event);
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Whether a push would fail now (exact for the producer).
    #[inline]
    pub fn is_full(&self) -> bool {
        let tail = self.tail.load(Ordering::Relaxed);
        tail.wrapping_sub(self.head.load(Ordering::Acquire)) >= RING_CAPACITY
    }

    /// Whether nothing is waiting to be drained.
    pub fn is_empty(&self) -> bool {
        self.tail.load(Ordering::Acquire) == self.head.load(Ordering::Relaxed)
    }

    /// Producer side: mark that a sequence number is about to be taken.
    #[inline]
    pub fn begin_event(&self) {
        self.in_flight.store(true, Ordering::Relaxed);
    }

    /// Producer side: the event taken since `begin_event` is published.
    #[inline]
    pub fn end_event(&self) {
        self.in_flight.store(false, Ordering::Release);
    }

    /// Consumer side: whether the producer holds an unpublished sequence number.
    pub fn is_in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Consumer side: where the producer has published up to now (for
    /// [`Ring::consume_to`]).
    pub fn published_tail(&self) -> usize {
        self.tail.load(Ordering::Acquire)
    }

    /// Consumer side: hand every published event to `f`, oldest first, in
    /// at most two slices (the ring wraps), then free their slots.
    ///
    /// # Safety
    /// Only one consumer at a time (the caller holds the aggregator lock).
    pub unsafe fn consume(&self, f: impl FnMut(&[Event])) -> usize {
        self.consume_to(self.published_tail(), f)
    }

    /// Consumer side: as [`Ring::consume`], but only the events published
    /// before `tail` was read with [`Ring::published_tail`].
    ///
    /// # Safety
    /// As for [`Ring::consume`].
    pub unsafe fn consume_to(&self, tail: usize, mut f: impl FnMut(&[Event])) -> usize {
        let head = self.head.load(Ordering::Relaxed);
        let count = tail.wrapping_sub(head);
        if count == 0 {
            return 0;
        }
        let start = head % RING_CAPACITY;
        let first = count.min(RING_CAPACITY - start);
        let base = self.slots.as_ptr() as *const Event;
        // Slots head..tail were written by the producer before its release
        // store of `tail`; UnsafeCell<MaybeUninit<Event>> has Event's layout.
        let first_slice = std::slice::from_raw_parts(base.add(start), first);
        let last = if count > first {
            let wrapped = std::slice::from_raw_parts(base, count - first);
            f(first_slice);
            f(wrapped);
            wrapped[wrapped.len() - 1].seq
        } else {
            f(first_slice);
            first_slice[first - 1].seq
        };
        self.last_drained_seq.store(last, Ordering::Relaxed);
        self.head.store(tail, Ordering::Release);
        count
    }

    /// Consumer side: move every published event into `out`.
    ///
    /// # Safety
    /// As for [`Ring::consume`].
    pub unsafe fn drain_into(&self, out: &mut Vec<Event>) -> usize {
        self.consume(|events| out.extend_from_slice(events))
    }

    pub fn last_drained_seq(&self) -> u64 {
        self.last_drained_seq.load(Ordering::Relaxed)
    }

    /// Producer side, once, by the solo thread: start holding allocations.
    pub fn enable_nursery(&self) {
        // SAFETY: nobody else looks at the nursery while its state is NONE.
        let nursery = unsafe {
            let slot = &mut *self.nursery.get();
            slot.insert(Nursery::default()) as *mut Nursery
        };
        self.nursery_addr.store(nursery, Ordering::Relaxed);
        self.nursery_state.store(NURSERY_OWNED, Ordering::Release);
    }

    /// Producer side: the nursery may be touched until `leave_hook`.
    #[inline]
    pub fn enter_hook(&self) {
        self.in_hook.store(true, Ordering::Relaxed);
        // Only the compiler needs fencing: the thread taking the nursery over
        // issues a process-wide memory barrier (membarrier) before it looks.
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    #[inline]
    pub fn leave_hook(&self) {
        self.in_hook.store(false, Ordering::Release);
    }

    /// Producer side: the nursery, while this thread owns it.
    ///
    /// # Safety
    /// Only the producer, between `enter_hook` and `leave_hook`, after it
    /// has seen that no other thread records (`Numbering::next_solo`).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn nursery(&self) -> Option<&mut Nursery> {
        (*self.nursery.get()).as_mut()
    }

    /// Producer side: count an allocation cancelled in the nursery.
    #[inline]
    pub fn count_cancelled(&self) {
        self.cancelled.store(
            self.cancelled.load(Ordering::Relaxed) + 1,
            Ordering::Relaxed,
        );
    }

    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Wait until the producer is outside any nursery access.
    pub fn wait_out_of_hook(&self) {
        let mut spins = 0u32;
        while self.in_hook.load(Ordering::Acquire) {
            spins += 1;
            if spins < 1000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Take the nursery's allocations for good (the hand-over: by the producer
    /// when it sees another thread record, or by that thread, or at thread
    /// exit). Whoever wins the state change gets the events.
    ///
    /// # Safety
    /// The producer calls this inside its hook section; any other thread only
    /// after `take_over_nurseries` (MULTI set, membarrier, `wait_out_of_hook`).
    pub unsafe fn take_nursery(&self, out: &mut Vec<Event>) {
        if self
            .nursery_state
            .compare_exchange(
                NURSERY_OWNED,
                NURSERY_TAKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            if let Some(nursery) = (*self.nursery.get()).as_mut() {
                nursery.drain_into(out);
            }
        }
    }

    /// The nursery, while this ring's producer still owns it (else null).
    /// Only the address: using it is subject to [`Ring::nursery`]'s rules.
    pub fn owned_nursery_ptr(&self) -> *mut Nursery {
        if self.nursery_state.load(Ordering::Acquire) != NURSERY_OWNED {
            return std::ptr::null_mut();
        }
        self.nursery_addr.load(Ordering::Relaxed)
    }

    pub fn has_nursery(&self) -> bool {
        self.nursery_state.load(Ordering::Acquire) == NURSERY_OWNED
    }

    /// In a child of `fork`, for the ring of a thread that did not fork (it
    /// does not exist there): what it published before the fork is drained
    /// as usual, and then the ring is forgotten. An event it was writing is
    /// lost (it never happened in the child), so it is in flight no more,
    /// nor inside a hook section: nobody must wait for it.
    pub fn abandon_after_fork(&self) {
        self.in_flight.store(false, Ordering::Release);
        self.in_hook.store(false, Ordering::Release);
        self.mark_orphaned();
    }

    pub fn mark_orphaned(&self) {
        self.orphaned.store(true, Ordering::Release);
    }

    pub fn is_orphaned(&self) -> bool {
        self.orphaned.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Op;

    #[test]
    fn push_until_full_then_drain_in_order() {
        let ring = Ring::new();
        for i in 0..RING_CAPACITY {
            let mut e = Event::bare(Op::Alloc, i + 1, 0, 8);
            e.seq = i as u64;
            unsafe { ring.push(e) }.unwrap();
        }
        assert!(unsafe { ring.push(Event::bare(Op::Free, 1, 0, 0)) }.is_err());
        let mut out = Vec::new();
        assert_eq!(unsafe { ring.drain_into(&mut out) }, RING_CAPACITY);
        assert!(out.iter().enumerate().all(|(i, e)| e.addr == i + 1));
        assert_eq!(ring.last_drained_seq(), RING_CAPACITY as u64 - 1);
        unsafe { ring.push(Event::bare(Op::Free, 1, 0, 0)) }.unwrap();
    }
}

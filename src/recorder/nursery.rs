//! The nursery: where the solo thread's newest allocations wait, unpublished,
//! for the free that most of them get within microseconds.
//!
//! Most of what perl allocates is transient: an SV head or a buffer made and
//! released within one statement. Sending both events through the ring and
//! the live table costs two table operations for nothing. The solo thread
//! (see `sequence`) instead holds each new allocation in a small two-way
//! set-associative table; a free that finds its allocation there cancels
//! both, and nothing is published. An allocation leaves the nursery for the
//! ring when a newer one needs its slot (the older of a full set goes), or
//! when the nursery is flushed.
//!
//! Holding an allocation back is only safe while no other thread records: a
//! second thread could be handed the address and log its free first. So the
//! nursery belongs to the solo thread only, and a thread that starts
//! recording takes it over (see `Ring::take_nursery` and `take_over_nurseries`) before
//! its first event.
//!
//! Order: an allocation flushed late lands in the ring after events that
//! were logged after it, but none of those can concern its address (its
//! free would have cancelled it in the nursery; the previous owner's free
//! came before it). A realloc of a held allocation moves it in the nursery
//! and gives it the realloc's number, since the new address may have been
//! freed (by its previous owner) after the allocation was first numbered.

use super::event::{Context, Event, Op, StaticStr};
use super::live::live_key;
use super::sites::Kind;

/// Sets of the nursery; each holds [`NURSERY_WAYS`] allocations.
pub const NURSERY_SETS: usize = 256;
/// Two allocations per set: with one, two short-lived allocations that met
/// in a slot pushed the older one out (a publish, a table insert, and later
/// the free's publish and table removal, several hundred instructions). A
/// perl statement has a few dozen allocations alive at once, and such
/// meetings were most of what the churn benchmark published.
pub const NURSERY_WAYS: usize = 2;
pub const NURSERY_SLOTS: usize = NURSERY_SETS * NURSERY_WAYS;
// `Nursery::victim` picks between exactly two ways.
const _: () = assert!(NURSERY_WAYS == 2);

/// A held allocation: its event without `old` (always 0 for what the
/// nursery holds: new allocations, or held ones moved), so that it fits
/// one cache line, aligned: holding one writes one line, not two.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Held {
    seq: u64,
    addr: usize,
    size: u64,
    c_file: StaticStr,
    c_func: StaticStr,
    type_name: StaticStr,
    c_line: u32,
    context: Context,
    thread: u16,
    op: Op,
}
const _: () = assert!(std::mem::size_of::<Held>() == 64);

impl Held {
    #[inline(always)]
    fn of(e: &Event) -> Held {
        debug_assert_eq!(e.old, 0, "the nursery holds no move");
        Held {
            seq: e.seq,
            addr: e.addr,
            size: e.size,
            c_file: e.c_file,
            c_func: e.c_func,
            type_name: e.type_name,
            c_line: e.c_line,
            context: e.context,
            thread: e.thread,
            op: e.op,
        }
    }

    #[inline(always)]
    fn event(&self) -> Event {
        Event {
            seq: self.seq,
            addr: self.addr,
            old: 0,
            size: self.size,
            c_file: self.c_file,
            c_func: self.c_func,
            type_name: self.type_name,
            c_line: self.c_line,
            context: self.context,
            thread: self.thread,
            op: self.op,
        }
    }
}

/// The nursery's storage is split by how often each part is read. Every
/// event looks up its set's keys, so the keys are a dense array of their own
/// (4 KB, which stays in the first-level cache beside perl's own data); the
/// held events themselves (72 bytes each) are written when held and read
/// only when one is pushed out, moved or drained. With the keys inside the
/// events, a free read one or two cache lines of a 36 KB table.
pub struct Nursery {
    /// The live key (see `live::live_key`) of each slot's allocation; 0 for
    /// an empty slot (no held allocation has address 0).
    keys: Box<[u64; NURSERY_SLOTS]>,
    /// Per set, the way whose allocation was held first: the one a new
    /// allocation pushes out of a full set. Holding in one way makes the
    /// other the older, and a way that empties is filled before either is
    /// pushed out, so this one byte is the exact order of the two.
    older_way: Box<[u8; NURSERY_SETS]>,
    /// The held events, by slot; meaningful only where `keys` is non-zero.
    events: Box<[Held; NURSERY_SLOTS]>,
}

impl Default for Nursery {
    fn default() -> Self {
        let events =
            vec![Held::of(&Event::bare(Op::Alloc, 0, 0, 0)); NURSERY_SLOTS].into_boxed_slice();
        Nursery {
            keys: Box::new([0; NURSERY_SLOTS]),
            older_way: Box::new([0; NURSERY_SETS]),
            events: events.try_into().expect("NURSERY_SLOTS slots"),
        }
    }
}

#[inline(always)]
fn key_of(e: &Event) -> u64 {
    let kind = if e.op == Op::NewSv {
        Kind::Sv
    } else {
        Kind::Mem
    };
    live_key(kind, e.addr)
}

/// The first slot of the set `key` belongs in.
#[inline(always)]
fn set_of(key: u64) -> usize {
    (((key.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 56) as usize % NURSERY_SETS) * NURSERY_WAYS
}

/// What the producer must do after the nursery saw an event.
pub enum Outcome {
    /// Nothing to publish: the allocation is held (or moved while held).
    Held,
    /// Nothing to publish: a free cancelled a held allocation.
    Cancelled,
    /// Publish the event that was offered.
    PublishOffered,
    /// Publish this event, pushed out of its slot by the one offered.
    Publish(Event),
}

impl Nursery {
    /// Offer an event, already numbered, to the nursery.
    #[inline]
    pub fn offer(&mut self, event: &Event) -> Outcome {
        match event.op {
            Op::Alloc => {
                // perl's Newx called the interposed malloc just before it
                // logged: the one record is perl's (see `Op::Malloc`).
                self.cancel(key_of(event));
                self.hold(*event)
            }
            Op::NewSv | Op::Malloc => self.hold(*event),
            Op::Free | Op::DelSv => {
                let kind = if event.op == Op::DelSv {
                    Kind::Sv
                } else {
                    Kind::Mem
                };
                if self.cancel(live_key(kind, event.addr)) {
                    Outcome::Cancelled
                } else {
                    Outcome::PublishOffered
                }
            }
            Op::Realloc | Op::Move | Op::MallocRealloc => match self
                .take(live_key(Kind::Mem, event.old))
            {
                Some(mut held) if event.addr != 0 => {
                    held.addr = event.addr;
                    held.size = event.size;
                    held.seq = event.seq;
                    self.hold(held)
                }
                Some(_) => Outcome::Cancelled, // realloc to size 0 freed it
                // Renew logs after its saferealloc's move moved the held one.
                None if event.op == Op::Realloc && self.holds(live_key(Kind::Mem, event.addr)) => {
                    Outcome::Held
                }
                None => Outcome::PublishOffered,
            },
        }
    }

    /// Put `event` (of key `key`) in `slot`, the newer of its set.
    #[inline(always)]
    fn place(&mut self, slot: usize, key: u64, event: Event) {
        self.keys[slot] = key;
        self.events[slot] = Held::of(&event);
        let set = slot / NURSERY_WAYS;
        self.older_way[set] = (slot % NURSERY_WAYS) as u8 ^ 1;
    }

    /// Hold a new allocation (`Alloc` or `NewSv`, or a held one moved),
    /// first handing the one it pushes out of its set, if any, to `evict`
    /// (the hot path's `hold`: the event is written once, in place).
    #[inline(always)]
    pub fn hold_with(&mut self, event: Event, evict: impl FnOnce(&Event)) {
        let key = key_of(&event);
        let slot = self.victim(key);
        if self.keys[slot] != 0 {
            evict(&self.events[slot].event());
        }
        self.place(slot, key, event);
    }

    /// Hold a new allocation of key `key` if its set has a free slot, with
    /// the event `make` builds (called only then); false if the set is full.
    #[inline(always)]
    pub fn hold_if_room(&mut self, key: u64, make: impl FnOnce() -> Event) -> bool {
        let slot = self.free_way(set_of(key));
        if self.keys[slot] != 0 {
            return false;
        }
        self.place(slot, key, make());
        true
    }

    fn hold(&mut self, event: Event) -> Outcome {
        let key = key_of(&event);
        let slot = self.victim(key);
        let evicted = (self.keys[slot] != 0).then(|| self.events[slot].event());
        self.place(slot, key, event);
        match evicted {
            Some(evicted) => Outcome::Publish(evicted),
            None => Outcome::Held,
        }
    }

    /// Where a new allocation `key` goes: a free slot of its set, else the
    /// slot of the set's older allocation.
    #[inline(always)]
    fn victim(&self, key: u64) -> usize {
        let set = set_of(key);
        let free = self.free_way(set);
        if self.keys[free] == 0 {
            free
        } else {
            set + self.older_way[set / NURSERY_WAYS] as usize
        }
    }

    /// The first way of `set` that is free, or its second way if neither
    /// is. Which way is free goes either way at random, so it is picked
    /// without a branch: `set` is even, and `| 1` is the second way. (The
    /// callers still branch on whether the way is free: a full set is
    /// rarer, and means a call.)
    #[inline(always)]
    fn free_way(&self, set: usize) -> usize {
        set | (self.keys[set] != 0) as usize
    }

    /// The slot holding allocation `key`, if it is held.
    #[inline(always)]
    fn find(&self, key: u64) -> Option<usize> {
        if key == 0 {
            return None; // address 0: never held, and the mark of a free slot
        }
        // Which way holds it goes either way at random: the way is picked
        // without a branch (see `free_way`), then looked at.
        let set = set_of(key);
        let way = set | (self.keys[set] != key) as usize;
        (self.keys[way] == key).then_some(way)
    }

    fn holds(&self, key: u64) -> bool {
        self.find(key).is_some()
    }

    /// Forget the held allocation `key`, if it is held (without copying it
    /// out: this is the hot path of every transient free).
    #[inline(always)]
    pub fn cancel(&mut self, key: u64) -> bool {
        let found = self.find(key);
        if let Some(index) = found {
            self.keys[index] = 0;
        }
        found.is_some()
    }

    #[inline(always)]
    pub fn take(&mut self, key: u64) -> Option<Event> {
        let index = self.find(key)?;
        self.keys[index] = 0;
        Some(self.events[index].event())
    }

    /// Move every held allocation out, oldest first.
    pub fn drain_into(&mut self, out: &mut Vec<Event>) {
        let start = out.len();
        self.drain_each(|event| out.push(*event));
        out[start..].sort_by_key(|e| e.seq);
    }

    /// Move every held allocation out, to `f`, in no particular order
    /// (held allocations are of distinct keys, so their order does not
    /// matter to the table). Allocates nothing: see `recorder::disable`.
    pub fn drain_each(&mut self, mut f: impl FnMut(&Event)) {
        for (key, held) in self.keys.iter_mut().zip(self.events.iter()) {
            if *key != 0 {
                f(&held.event());
                *key = 0;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.iter().all(|&key| key == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: Op, seq: u64, addr: usize, old: usize) -> Event {
        let mut e = Event::bare(op, addr, old, 8);
        e.seq = seq;
        e
    }

    fn offer(n: &mut Nursery, e: Event) -> Vec<(Op, usize)> {
        match n.offer(&e) {
            Outcome::Publish(evicted) => vec![(evicted.op, evicted.addr)],
            Outcome::PublishOffered => vec![(e.op, e.addr)],
            Outcome::Held | Outcome::Cancelled => Vec::new(),
        }
    }

    #[test]
    fn perls_log_of_a_held_malloc_takes_its_slot() {
        let mut n = Nursery::default();
        assert!(offer(&mut n, ev(Op::Malloc, 1, 0x1000, 0)).is_empty());
        assert!(offer(&mut n, ev(Op::Alloc, 2, 0x1000, 0)).is_empty());
        // One held allocation, perl's: its free leaves nothing behind.
        assert!(offer(&mut n, ev(Op::Free, 3, 0x1000, 0)).is_empty());
        assert!(n.is_empty());
        // The C library's free that follows is not held: published.
        assert_eq!(
            offer(&mut n, ev(Op::Free, 4, 0x1000, 0)),
            vec![(Op::Free, 0x1000)]
        );
    }

    #[test]
    fn a_held_malloc_moves_with_realloc() {
        let mut n = Nursery::default();
        offer(&mut n, ev(Op::Malloc, 1, 0x1000, 0));
        assert!(offer(&mut n, ev(Op::MallocRealloc, 2, 0x3000, 0x1000)).is_empty());
        assert!(offer(&mut n, ev(Op::Free, 3, 0x3000, 0)).is_empty());
        assert!(n.is_empty());
    }

    #[test]
    fn an_allocation_freed_while_held_publishes_nothing() {
        let mut n = Nursery::default();
        assert!(offer(&mut n, ev(Op::NewSv, 1, 0x1000, 0)).is_empty());
        assert!(offer(&mut n, ev(Op::DelSv, 2, 0x1000, 0)).is_empty());
        assert!(n.is_empty());
    }

    #[test]
    fn drain_each_hands_over_every_held_allocation_and_empties_the_nursery() {
        let mut n = Nursery::default();
        for (seq, addr) in [(1, 0x1000), (2, 0x2000), (3, 0x3000)] {
            offer(&mut n, ev(Op::Alloc, seq, addr, 0));
        }
        offer(&mut n, ev(Op::NewSv, 4, 0x1000, 0));
        offer(&mut n, ev(Op::Free, 5, 0x2000, 0));
        let mut seen = Vec::new();
        n.drain_each(|e| seen.push((e.op, e.addr)));
        seen.sort_by_key(|&(op, addr)| (addr, op as u8));
        assert_eq!(
            seen,
            vec![
                (Op::Alloc, 0x1000),
                (Op::NewSv, 0x1000),
                (Op::Alloc, 0x3000)
            ]
        );
        assert!(n.is_empty());
    }

    #[test]
    fn kinds_do_not_cancel_each_other() {
        let mut n = Nursery::default();
        offer(&mut n, ev(Op::NewSv, 1, 0x1000, 0));
        assert_eq!(
            offer(&mut n, ev(Op::Free, 2, 0x1000, 0)),
            vec![(Op::Free, 0x1000)]
        );
        assert!(!n.is_empty());
    }

    #[test]
    fn a_free_of_something_not_held_is_published() {
        let mut n = Nursery::default();
        assert_eq!(
            offer(&mut n, ev(Op::Free, 1, 0x2000, 0)),
            vec![(Op::Free, 0x2000)]
        );
    }

    #[test]
    fn a_realloc_of_a_held_allocation_moves_and_renumbers_it() {
        let mut n = Nursery::default();
        offer(&mut n, ev(Op::Alloc, 1, 0x1000, 0));
        assert!(offer(&mut n, ev(Op::Realloc, 5, 0x3000, 0x1000)).is_empty());
        let mut out = Vec::new();
        n.drain_into(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].op, out[0].addr, out[0].seq), (Op::Alloc, 0x3000, 5));
    }

    #[test]
    fn renew_after_the_move_of_a_held_allocation_publishes_nothing() {
        let mut n = Nursery::default();
        offer(&mut n, ev(Op::Alloc, 1, 0x1000, 0));
        assert!(offer(&mut n, ev(Op::Move, 2, 0x3000, 0x1000)).is_empty());
        assert!(offer(&mut n, ev(Op::Realloc, 3, 0x3000, 0x1000)).is_empty());
        let mut out = Vec::new();
        n.drain_into(&mut out);
        assert_eq!(
            out.iter().map(|e| (e.op, e.addr)).collect::<Vec<_>>(),
            vec![(Op::Alloc, 0x3000)]
        );
    }

    #[test]
    fn a_full_set_publishes_its_oldest_allocation() {
        let mut n = Nursery::default();
        let same_set: Vec<usize> = (1..1_000_000usize)
            .map(|i| 0x1000 + i * 16)
            .filter(|&a| set_of(live_key(Kind::Mem, a)) == set_of(live_key(Kind::Mem, 0x1000)))
            .take(NURSERY_WAYS + 2)
            .collect();
        for (i, &addr) in same_set[..NURSERY_WAYS].iter().enumerate() {
            assert!(offer(&mut n, ev(Op::Alloc, 10 + i as u64, addr, 0)).is_empty());
        }
        // The oldest was freed meanwhile: its slot is reused, nothing published.
        assert!(offer(&mut n, ev(Op::Free, 20, same_set[0], 0)).is_empty());
        assert!(offer(&mut n, ev(Op::Alloc, 21, same_set[NURSERY_WAYS], 0)).is_empty());
        // Now full: the oldest held allocation (seq 11) goes.
        assert_eq!(
            offer(&mut n, ev(Op::Alloc, 22, same_set[NURSERY_WAYS + 1], 0)),
            vec![(Op::Alloc, same_set[1])]
        );
    }
}

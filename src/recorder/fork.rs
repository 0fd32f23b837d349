//! `fork(2)` while other threads record.
//!
//! The child of a `fork` has one thread, a copy of the one that forked. A
//! lock that another thread held at that moment stays locked in the child
//! for ever, and what it guards may be half changed: a child that then
//! drained the rings waited on the aggregator's lock for good (34 of 50
//! children of a program with three running ithreads did). So the
//! `pthread_atfork` handlers here take every lock of the recorder before the
//! fork, in the order the rest of the recorder takes them (aggregator, Perl
//! sites, rings, strays), and release them after it, in the parent and in
//! the child: the child starts with every table as a whole.
//!
//! In the child, the rings of the threads that did not fork belong to
//! threads that do not exist there. What they published before the fork is
//! the child's history too (its memory holds those allocations), so they
//! are drained as usual and then forgotten, as rings of exited threads are;
//! an event one of them was writing at the fork never happened in the child
//! (`Ring::abandon_after_fork`), and nothing waits for it.
//!
//! The solo thread's nursery is reached without a lock: its thread may be
//! inside a hook section when another thread forks, and the child would
//! find the nursery half changed, with nobody left to finish. So before a
//! thread other than the solo one forks, the nursery is handed over (see
//! `take_over_nurseries`), as when a second thread starts recording (which
//! such a thread has mostly done already). The forking thread keeps its own
//! numbering role: a solo thread stays solo in its child, a thread that
//! numbers from the shared counter goes on doing so.

use std::cell::UnsafeCell;
use std::sync::{Arc, MutexGuard, Once};

use super::event::Event;
use super::ring::Ring;
use super::sites::PerlSites;
use super::{lock, own_ring, Aggregator, AGGREGATOR, PERL_SITES, RINGS, STRAYS};

/// The recorder's locks, held from `prepare` until `parent` or `child`.
/// Released in field order: the reverse of the order they were taken in.
struct Held {
    _strays: MutexGuard<'static, Vec<Event>>,
    rings: MutexGuard<'static, Vec<Arc<Ring>>>,
    _perl_sites: MutexGuard<'static, PerlSites>,
    _aggregator: MutexGuard<'static, Aggregator>,
}

struct HeldSlot(UnsafeCell<Option<Held>>);

// SAFETY: only the thread that holds the aggregator's lock touches the
// slot (it takes that lock before it fills the slot, and empties the slot
// before it lets the lock go); a second thread forking at the same time
// waits for that lock in `prepare`.
unsafe impl Sync for HeldSlot {}

static HELD: HeldSlot = HeldSlot(UnsafeCell::new(None));

/// Install the handlers (once per process; a child inherits them).
pub(crate) fn install_handlers() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: three functions that live as long as the process.
        let failed = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        // Only ENOMEM is possible: then fork stays as unsafe as it was.
        let _ = failed;
    });
}

extern "C" fn prepare() {
    super::guard((), || {
        if super::nurseries_in_use() {
            let own = own_ring();
            let foreign_nursery = lock(&RINGS)
                .iter()
                .any(|ring| ring.has_nursery() && !std::ptr::eq(&**ring, own));
            if foreign_nursery {
                super::sequence::mark_multi();
                super::take_over_nurseries();
            }
        }
        let aggregator = lock(&AGGREGATOR);
        let held = Held {
            _perl_sites: lock(&PERL_SITES),
            rings: lock(&RINGS),
            _strays: lock(&STRAYS),
            _aggregator: aggregator,
        };
        // SAFETY: see HeldSlot; we hold the aggregator's lock.
        unsafe { *HELD.0.get() = Some(held) };
    })
}

extern "C" fn parent() {
    super::guard((), || {
        // SAFETY: see HeldSlot; the lock is ours until `held` is dropped.
        drop(unsafe { (*HELD.0.get()).take() });
    })
}

extern "C" fn child() {
    super::guard((), || {
        // SAFETY: as in `parent`: this thread is the one that ran `prepare`.
        let Some(held) = (unsafe { (*HELD.0.get()).take() }) else {
            return;
        };
        let own = own_ring();
        for ring in held.rings.iter() {
            if !std::ptr::eq(&**ring, own) {
                ring.abandon_after_fork();
            }
        }
        if super::nurseries_in_use() {
            // Should the registration not carry over to the child, the
            // barrier of a later hand-over still works.
            super::membarrier::register();
        }
        drop(held);
    })
}

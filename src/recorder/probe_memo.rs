//! The fast Perl-site check in front of the site source (see
//! `perl_probe.c`): for the last few COPs, where perl was at the full probe
//! and the site it gave. Without the `perl` feature there is no perl to
//! look at, and every probe is a full one.

use super::event::StackId as PerlSiteId;

#[cfg(feature = "perl")]
mod imp {
    use std::cell::Cell;

    use super::PerlSiteId;

    /// Mirrors `MtMemoSub` in perl_probe.h.
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Sub {
        index: i64,
        oldcop: usize,
        cv: usize,
    }

    /// `MT_MEMO_SUBS` in perl_probe.h.
    const MEMO_SUBS: usize = 8;

    /// Mirrors `MtProbeMemo` in perl_probe.h.
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Entry {
        cop: usize,
        si: usize,
        context_stack: usize,
        cxix: i64,
        file_key: usize,
        line: u32,
        site: u32,
        callers: u64,
        in_place: u32,
        n_subs: u32,
        subs: [Sub; MEMO_SUBS],
    }

    /// Mirrors `MtProbeLayout` in perl_probe.h.
    #[repr(C)]
    #[derive(Default)]
    struct Layout {
        curcop: usize,
        curstackinfo: usize,
        si_cxstack: u32,
        si_cxix: u32,
        cop_line: u32,
        cop_file: u32,
        entries: u32,
        cx_size: u32,
        cx_oldcop: u32,
        cx_cv: u32,
        memo_subs: u32,
        stack_depth: u32,
        context_tls: i64,
        i_curcop: u32,
        i_curstackinfo: u32,
        i_ptr_table: u32,
        i_phase: u32,
        phase_construct: u32,
        cop_seq: u32,
    }

    /// Where the in-place check finds perl: 0 nowhere (it always fails),
    /// [`THREADED`] through the interpreter of a threaded perl, otherwise
    /// the address of PL_curcop, a global of a perl without MULTIPLICITY.
    const THREADED: usize = 1;

    /// cop_key.h's multiplier: with ithreads a COP's file key mixes in its
    /// sequence number.
    const COP_SEQ_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

    /// The word at `offset` from this thread's thread pointer.
    #[inline(always)]
    unsafe fn thread_local_word(offset: i64) -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            let word: usize;
            // SAFETY (caller): `offset` is a thread-local's offset in the
            // static TLS block (see perl_probe.h, context_tls).
            std::arch::asm!(
                "mov {word}, qword ptr fs:[{offset}]",
                word = out(reg) word,
                offset = in(reg) offset,
                options(nostack, readonly, preserves_flags),
            );
            word
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = offset;
            0
        }
    }

    /// `MT_PROBE_MEMO_SET_BITS` and `MT_PROBE_MEMO_WAYS` in perl_probe.h.
    const SET_BITS: u32 = 7;
    const WAYS: usize = 2;
    /// `MT_PROBE_MEMO_ENTRIES` in perl_probe.h.
    const ENTRIES: usize = (1 << SET_BITS) * WAYS;

    /// The first entry of the set for `cop` (perl_probe.c's `set_for`).
    #[inline(always)]
    fn set_for(cop: usize) -> usize {
        ((cop as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SET_BITS)) as usize * WAYS
    }

    /// One thread's memo: a table of entries in sets picked by COP, and a copy of
    /// the last entry written, which a perl without MULTIPLICITY lets us
    /// check in place, without a call (most events come in runs from one
    /// statement).
    pub struct ProbeMemo {
        table: Box<[Entry; ENTRIES]>,
        layout: Layout,
        /// Where [`Self::again_in_place`] finds perl (see [`THREADED`]); 0
        /// while the hot path must not check in place.
        in_place: usize,
        /// Where [`Self::again`] finds perl, whatever the hot path may do.
        curcop_any: usize,
        /// The entry of `table` last found or written (at first, an empty
        /// slot: its COP 0 is never perl's). A pointer, not a copy: an entry
        /// is a few hundred bytes. Entries move within their set, but each
        /// slot always holds a whole entry, so whatever the slot holds is
        /// checked as it is.
        last: Cell<*const Entry>,
    }

    impl Default for ProbeMemo {
        fn default() -> Self {
            let mut layout = Layout::default();
            // SAFETY: fills `layout` only.
            unsafe { memtrace_probe_layout(&mut layout) };
            // The hot path's in-place check (no call) takes no native
            // frames: while they are on, it must fail and leave the event
            // to the path that takes them, whose own check (`again`)
            // still runs in place.
            let curcop_any = if layout.context_tls != 0 {
                THREADED
            } else {
                layout.curcop
            };
            let in_place = if crate::in_place_probe_allowed() {
                curcop_any
            } else {
                0
            };
            // A build defect, not a condition of the program: fail loudly.
            assert_eq!(
                (layout.entries as usize, layout.memo_subs as usize),
                (ENTRIES, MEMO_SUBS),
                "perl_probe.h and probe_memo.rs disagree on the memo's size"
            );
            let table = Box::new([Entry::default(); ENTRIES]);
            let last = Cell::new(table.as_ptr());
            ProbeMemo {
                table,
                layout,
                in_place,
                curcop_any,
                last,
            }
        }
    }

    extern "C" {
        fn memtrace_probe_again(table: *mut Entry) -> *const Entry;
        fn memtrace_probe_remember(table: *mut Entry, site: u32) -> *const Entry;
        fn memtrace_probe_layout(out: *mut Layout);
    }

    impl ProbeMemo {
        /// The remembered site if perl is where it was at a full probe of
        /// the current COP; 0 otherwise.
        #[inline(always)]
        pub fn again(&self) -> PerlSiteId {
            let site = self.again_at(self.curcop_any);
            if site != 0 {
                return site;
            }
            self.again_in_table()
        }

        #[inline(never)]
        fn again_in_table(&self) -> PerlSiteId {
            // SAFETY: reads this thread's interpreter state and the table,
            // which has the entries the C side indexes; returns null or one
            // of them.
            let found = unsafe { memtrace_probe_again(self.table.as_ptr() as *mut Entry).as_ref() };
            match found {
                Some(entry) => {
                    self.last.set(entry);
                    entry.site
                }
                None => 0,
            }
        }

        /// `memtrace_probe_again` in place, for the entries that need no
        /// walk of the callers: the same loads and comparisons, through the
        /// layout C gave us. No call; 0 where the layout does not say where
        /// perl is.
        #[inline(always)]
        pub fn again_in_place(&self) -> PerlSiteId {
            self.again_at(self.in_place)
        }

        /// [`Self::again_in_place`] with `curcop` where perl is (see
        /// [`THREADED`]; 0: no in-place check). The last entry first, then
        /// the others of the set for perl's COP: a statement's first event
        /// after another statement's is found here too, without a call.
        #[inline(always)]
        fn again_at(&self, curcop: usize) -> PerlSiteId {
            if curcop == 0 {
                return 0;
            }
            let layout = &self.layout;
            // SAFETY: the layout holds the addresses of PL_curcop and
            // PL_curstackinfo, perl's own globals (no MULTIPLICITY), or the
            // thread-local offset of a threaded perl's interpreter and
            // offsets in it; the interpreter is read only when there is one.
            // perl_is_at's other rule (not while an interpreter is cloned,
            // nor inside threads::shared's) needs no test here: entries are
            // written only where it holds, a match needs perl's current COP
            // and stack info, and all the check reads past that is those
            // two, which are live wherever perl is.
            let (cop, si) = unsafe {
                if curcop == THREADED {
                    let interp = thread_local_word(layout.context_tls);
                    if interp == 0 {
                        return 0;
                    }
                    (
                        *((interp + layout.i_curcop as usize) as *const usize),
                        *((interp + layout.i_curstackinfo as usize) as *const usize),
                    )
                } else {
                    (
                        *(curcop as *const usize),
                        *(layout.curstackinfo as *const usize),
                    )
                }
            };
            // No COP (an interpreter being built, for one): no entry holds,
            // and an empty entry (COP 0, stack info 0) must not seem to.
            if cop == 0 {
                return 0;
            }
            // SAFETY: `last` points into `table`, which lives as long as
            // self; only this thread writes it, not meanwhile.
            let last = unsafe { &*self.last.get() };
            if cop == last.cop && si == last.si {
                let site = self.holds(last, cop, si);
                if site != 0 {
                    return site;
                }
            }
            // A statement reached from other callers is another entry of the
            // same set (see memtrace_probe_remember): try each.
            let set = set_for(cop);
            let mut way = 0;
            while way < WAYS {
                let entry = &self.table[set + way];
                if cop == entry.cop && si == entry.si {
                    let site = self.holds(entry, cop, si);
                    if site != 0 {
                        self.last.set(entry);
                        return site;
                    }
                }
                way += 1;
            }
            0
        }

        /// `entry`'s site if perl, at `cop` and `si` as the entry was
        /// written with (so both are live: they are perl's current ones),
        /// is where it was then; 0 otherwise (also for an entry with no
        /// site). `memtrace_probe_again`'s test, in place.
        #[inline(always)]
        fn holds(&self, entry: &Entry, cop: usize, si: usize) -> PerlSiteId {
            let layout = &self.layout;
            // SAFETY: the COP and stack info are perl's current ones; the
            // field offsets of COP and PERL_SI are checked in perl_probe.c.
            unsafe {
                // The context stack's address is not compared: with the same
                // stack info and depth, a frame `subs_hold` reads is there
                // even if perl has since moved the stack to grow it.
                let context_stack = *((si + layout.si_cxstack as usize) as *const usize);
                let cxix = *((si + layout.si_cxix as usize) as *const i32);
                let line = *((cop + layout.cop_line as usize) as *const u32);
                let mut file_key = *((cop + layout.cop_file as usize) as *const usize);
                if layout.context_tls != 0 {
                    let seq = *((cop + layout.cop_seq as usize) as *const u32);
                    file_key ^= u64::from(seq).wrapping_mul(COP_SEQ_MIX) as usize;
                }
                if cxix as i64 == entry.cxix
                    && line == entry.line
                    && file_key == entry.file_key
                    && (layout.stack_depth <= 1 || self.subs_hold(entry, context_stack))
                {
                    entry.site
                } else {
                    0
                }
            }
        }

        /// Remember where perl is now as `site` (just resolved by the full
        /// probe, in the same hook call).
        pub fn remember(&mut self, site: PerlSiteId) {
            // SAFETY: as above; writes the table only, and returns the
            // entry it wrote (in the table) or null.
            let written = unsafe { memtrace_probe_remember(self.table.as_mut_ptr(), site) };
            self.last.set(if written.is_null() {
                self.table.as_ptr()
            } else {
                written
            });
        }

        /// Whether the sub frames `entry` saw are where they were, as they
        /// were (`memtrace_probe_again`'s subs_hold, in place): then the
        /// callers are the same. False if the entry's frames must be
        /// walked instead (another stack info, or too many).
        #[inline(always)]
        fn subs_hold(&self, entry: &Entry, context_stack: usize) -> bool {
            if entry.in_place == 0 {
                return false;
            }
            let layout = &self.layout;
            let n = (entry.n_subs as usize).min(MEMO_SUBS);
            // A plain loop: the hot path calls nothing (an iterator
            // adapter here was left out of line, a call on every event).
            let mut k = 0;
            while k < n {
                let sub = &entry.subs[k];
                let cx = context_stack + sub.index as usize * layout.cx_size as usize;
                // SAFETY: the context stack is perl's current one (checked
                // by the caller), and `index` is at most its top index, as
                // it was when the entry was written (cxix is the same).
                let same = unsafe {
                    *((cx + layout.cx_oldcop as usize) as *const usize) == sub.oldcop
                        && *((cx + layout.cx_cv as usize) as *const usize) == sub.cv
                };
                if !same {
                    return false;
                }
                k += 1;
            }
            true
        }
    }
}

#[cfg(not(feature = "perl"))]
mod imp {
    use super::PerlSiteId;

    #[derive(Default)]
    pub struct ProbeMemo;

    impl ProbeMemo {
        #[inline(always)]
        pub fn again(&self) -> PerlSiteId {
            0
        }

        #[inline(always)]
        pub fn again_in_place(&self) -> PerlSiteId {
            0
        }

        pub fn remember(&mut self, _site: PerlSiteId) {}
    }
}

pub use imp::ProbeMemo;

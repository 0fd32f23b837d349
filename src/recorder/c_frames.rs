//! Native frames: the return addresses of the C functions that led to an
//! allocation, taken in the hook by walking the frame-pointer chain.
//!
//! The MemTrace perl is built with `-fno-omit-frame-pointer`, so the walk
//! is a few loads per frame: no unwind tables are read while the program
//! runs. It starts where the hook was entered: each exported hook that
//! records a new allocation first notes its caller's frame pointer and its
//! own return address ([`note_hook_entry`], four instructions, no call),
//! so the recorder itself needs no frame pointers (they cost it 3.5% on
//! the churn benchmark). The addresses are interned as a list (one id per
//! record, see `Context`) and named only when a report asks (see the XS
//! layer's `symbols`).
//!
//! The walk reads only this thread's own stack: each frame must lie above
//! the one before it and below the top of the stack, so a frame of code
//! built without frame pointers (a C library's, an XS module's) ends the
//! walk there instead of sending it astray.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use super::event::CFramesId;
use super::local::Local;

/// The most native frames a record may keep.
pub const C_FRAMES_MAX: usize = 32;

/// Frames kept per record; 0: none are taken.
static DEPTH: AtomicU32 = AtomicU32::new(0);

/// Keep `depth` native frames per record (0 turns them off; at most
/// [`C_FRAMES_MAX`]).
pub fn set_depth(depth: u32) {
    DEPTH.store(depth.min(C_FRAMES_MAX as u32), Ordering::Relaxed);
}

pub fn depth() -> u32 {
    DEPTH.load(Ordering::Relaxed)
}

/// The frames of the current hook call, interned; 0 while they are off.
#[inline(always)]
pub(crate) fn capture(local: &Local) -> CFramesId {
    match DEPTH.load(Ordering::Relaxed) {
        0 => 0,
        depth => capture_frames(local, depth as usize),
    }
}

/// Recent lists by hash, so that a list seen before needs no lock.
const CACHE_SLOTS: usize = 512;

/// One thread's recent lists and its stack's top.
pub struct CFramesCache {
    recent: [(u64, CFramesId); CACHE_SLOTS],
    stack_top: usize,
}

impl CFramesCache {
    /// Made on the heap directly and out of line: built in the capture's
    /// own frame, its 8 KB made that frame probe two stack pages on every
    /// call.
    #[cold]
    #[inline(never)]
    fn new() -> Box<CFramesCache> {
        let mut cache: Box<std::mem::MaybeUninit<CFramesCache>> = Box::new_uninit();
        // SAFETY: every field is written before the box is assumed
        // initialised; all-zero is a valid (and empty) `recent`.
        unsafe {
            let raw = cache.as_mut_ptr();
            std::ptr::addr_of_mut!((*raw).recent).write_bytes(0, 1);
            std::ptr::addr_of_mut!((*raw).stack_top).write(stack_top());
            cache.assume_init()
        }
    }
}

/// Frames are hashed as they are walked and looked up by hash among this
/// thread's recent lists; only a list not seen lately is walked again,
/// into an array, and interned (under the tables' lock). The hash keeps
/// the per-frame work off one long dependency chain: each address is
/// multiplied on its own, and the running hash only rotates and XORs.
#[inline(never)]
fn capture_frames(local: &Local, depth: usize) -> CFramesId {
    // SAFETY: only this thread touches its cache, never re-entrantly
    // (nothing below records an allocation).
    let cache = unsafe { &mut *local.c_frames.get() };
    let cache = cache.get_or_insert_with(CFramesCache::new);
    let mut hash = 0u64;
    let n = walk(depth, cache.stack_top, |ret| {
        hash = hash.rotate_left(21) ^ (ret as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    });
    if n == 0 {
        return 0;
    }
    let hash = ((hash ^ n as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ hash >> 29) | 1;
    let slot = (hash >> 40) as usize % CACHE_SLOTS;
    let (known, id) = cache.recent[slot];
    if known == hash {
        return id;
    }
    let id = intern_walked(depth, cache.stack_top);
    cache.recent[slot] = (hash, id);
    id
}

/// The frames [`capture_frames`] just hashed, walked again and interned.
#[cold]
#[inline(never)]
fn intern_walked(depth: usize, stack_top: usize) -> CFramesId {
    let mut frames = [0usize; C_FRAMES_MAX];
    let mut n = 0;
    walk(depth, stack_top, |ret| {
        frames[n] = ret;
        n += 1;
    });
    super::guard(0, || {
        super::with_perl_sites(|tables| tables.intern_c_frames(&frames[..n]))
    })
}

/// The top of this thread's stack (its highest address), or 0 if unknown.
fn stack_top() -> usize {
    // SAFETY: pthread_getattr_np fills `attr`, which is destroyed after;
    // pthread_attr_getstack reads it.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return 0;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok {
            addr as usize + size
        } else {
            0
        }
    }
}

/// The code of this library, as [start, end): frames returning into it are
/// the recorder's own and are skipped.
static OWN_START: AtomicUsize = AtomicUsize::new(0);
static OWN_END: AtomicUsize = AtomicUsize::new(0);

fn own_code() -> (usize, usize) {
    let (start, end) = (
        OWN_START.load(Ordering::Relaxed),
        OWN_END.load(Ordering::Relaxed),
    );
    if end != 0 {
        return (start, end);
    }
    let (start, end) = find_own_code();
    OWN_START.store(start, Ordering::Relaxed);
    OWN_END.store(end, Ordering::Relaxed);
    (start, end)
}

/// The executable segment of the object that holds this function.
fn find_own_code() -> (usize, usize) {
    struct Search {
        probe: usize,
        found: (usize, usize),
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info; data is our Search.
        let (info, search) = unsafe { (&*info, &mut *(data as *mut Search)) };
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let header = unsafe { &*info.dlpi_phdr.add(i) };
            if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_X == 0 {
                continue;
            }
            let start = info.dlpi_addr as usize + header.p_vaddr as usize;
            let end = start + header.p_memsz as usize;
            if (start..end).contains(&search.probe) {
                search.found = (start, end);
                return 1;
            }
        }
        0
    }
    let mut search = Search {
        probe: find_own_code as fn() -> (usize, usize) as usize,
        found: (0, 0),
    };
    // SAFETY: the callback only reads what it is given.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut search as *mut Search as *mut libc::c_void) };
    search.found
}

/// Note where the C code that called this hook is: its frame pointer and
/// the hook's return address, in this thread's `memtrace_hook_frame`
/// (thread_slot.c). Call it first thing in an exported hook that records
/// a new allocation, before anything that might set up a frame: the hook
/// must not have touched the stack pointer or the frame pointer yet (check
/// the disassembly: the hooks are a load, a test and a jump). A hook of
/// the C library's allocation functions calls it too, then
/// `capture_context`. Only x86-64 takes native frames.
#[inline(always)]
pub fn note_hook_entry() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads the frame pointer and the return address at [rsp] (the
    // hook's entry state, see above) and writes this thread's two TLS words
    // (initial-exec, offset from the GOT). No stack use, no flags.
    unsafe {
        std::arch::asm!(
            "mov {t}, qword ptr [rip + memtrace_hook_frame@GOTTPOFF]",
            "mov qword ptr fs:[{t}], rbp",
            "mov {r}, qword ptr [rsp]",
            "mov qword ptr fs:[{t} + 8], {r}",
            t = out(reg) _,
            r = out(reg) _,
            options(nostack, preserves_flags),
        );
    }
}

/// (frame pointer, return address) that the latest hook noted on entry.
#[inline(always)]
fn hook_entry() -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let offset = super::static_tls::offset_of_tls!("memtrace_hook_frame");
        // SAFETY: this thread's two-word TLS variable `memtrace_hook_frame`.
        unsafe {
            (
                super::static_tls::read_word(offset),
                super::static_tls::read_word(offset + 8),
            )
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    (0, 0)
}

/// Hand `keep` the return addresses of the hook's callers, innermost first
/// (the recorder's own are left out), at most `depth` (≤ `C_FRAMES_MAX`)
/// of them; how many.
#[inline(always)]
fn walk(depth: usize, stack_top: usize, mut keep: impl FnMut(usize)) -> usize {
    if !cfg!(target_arch = "x86_64") {
        return 0;
    }
    let depth = depth.min(C_FRAMES_MAX);
    let (own_start, own_end) = own_code();
    // One unsigned comparison each: below `own_start` wraps to far above.
    let own_len = own_end.wrapping_sub(own_start);
    let is_own = |ret: usize| ret.wrapping_sub(own_start) < own_len;
    let (mut fp, first) = hook_entry();
    if first == 0 || depth == 0 {
        return 0;
    }
    let mut n = 0;
    if !is_own(first) {
        keep(first);
        n = 1;
    }
    if stack_top < 16 {
        return n; // the stack's bounds are unknown: no frame is read
    }
    // Frames lie between this function's own stack (below them all) and
    // the stack's top: a frame pointer outside (the register of code built
    // without frame pointers, which may hold a heap address) ends the walk
    // before it is read, so only this thread's mapped stack is ever read.
    let highest = stack_top - 16;
    let here = 0usize;
    let mut floor = std::hint::black_box(&here) as *const usize as usize;
    while n < depth {
        // A frame record is two words: the caller's frame pointer, then the
        // return address. It must be on this stack, aligned, above the
        // last one.
        if fp <= floor || fp > highest || fp & 7 != 0 {
            break;
        }
        // SAFETY: fp is within this thread's stack, below its top (checked
        // above), and the hook that noted it has not returned: this walk
        // runs inside it.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        if !is_own(ret) {
            keep(ret);
            n += 1;
        }
        floor = fp;
        fp = next;
    }
    n
}

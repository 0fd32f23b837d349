//! The C library's `malloc` family, interposed: what perl never logs.
//!
//! perl logs `Newx`/`Renew`/`Safefree` of code built with its flags, but not
//! the string buffers `sv_grow` makes, nor any `Newx` of an XS module built
//! without `-DPERL_MEM_LOG` (every distribution's), nor what C libraries
//! allocate themselves. The recorder comes first in the perl binary's
//! NEEDED list, so these definitions win for every library of the process.
//! Each one calls the real function (the next definition, found with
//! `dlsym(RTLD_NEXT)`) and, with `-malloc` and recording on, records a
//! block of site kind `malloc` (`Op::Malloc`): the Perl site that was
//! running, the function as its C site. perl's own log of the same block
//! (`Newx` calls `malloc` first) replaces that record, keeping perl's
//! richer C site: one record per block.
//!
//! Without `-malloc` a call reads one flag of this library and the real
//! function's address, and jumps to it (about 7 instructions for `malloc`,
//! 13 for `free`, which must also refuse blocks of the bootstrap arena).
//! With `-malloc` but recording off, the out-of-line path finds that out.
//!
//! What makes it safe:
//! - **Reentrancy.** The recorder's own Rust allocations never come here:
//!   the library's global allocator ([`RealAllocator`]) calls the real
//!   functions directly. What the recorder calls in C (glibc setting up a
//!   thread's destructor list) is passed through by a per-thread guard.
//! - **Bootstrapping.** `dlsym` may itself call `malloc` or `calloc`
//!   before the real functions are known: those few blocks come from a
//!   static arena (and their `free` does nothing). The functions are found
//!   once at load time, before `main`.
//! - **Threads.** Only a thread whose recorder state is set up records (a
//!   perl hook sets it up at the thread's first event; setting it up may
//!   call `calloc`), so a thread no perl runs in is never recorded.
//! - **fork and exit.** Nothing here takes a lock; the recorder's own fork
//!   handlers and its stop at global destruction cover the rest.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use crate::recorder::{self, c_frames, Op, StaticStr};

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int;
type AlignedFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;

/// The real functions, found by [`resolve`]; null until then.
struct Real {
    malloc: AtomicPtr<c_void>,
    calloc: AtomicPtr<c_void>,
    realloc: AtomicPtr<c_void>,
    free: AtomicPtr<c_void>,
    posix_memalign: AtomicPtr<c_void>,
    aligned_alloc: AtomicPtr<c_void>,
    memalign: AtomicPtr<c_void>,
    valloc: AtomicPtr<c_void>,
    pvalloc: AtomicPtr<c_void>,
}

static REAL: Real = Real {
    malloc: AtomicPtr::new(std::ptr::null_mut()),
    calloc: AtomicPtr::new(std::ptr::null_mut()),
    realloc: AtomicPtr::new(std::ptr::null_mut()),
    free: AtomicPtr::new(std::ptr::null_mut()),
    posix_memalign: AtomicPtr::new(std::ptr::null_mut()),
    aligned_alloc: AtomicPtr::new(std::ptr::null_mut()),
    memalign: AtomicPtr::new(std::ptr::null_mut()),
    valloc: AtomicPtr::new(std::ptr::null_mut()),
    pvalloc: AtomicPtr::new(std::ptr::null_mut()),
};

/// Find every real function. Idempotent and thread-safe (each thread that
/// gets here before it is done finds the same answers).
#[cold]
#[inline(never)]
fn resolve() {
    let find = |name: &CStr| {
        // SAFETY: RTLD_NEXT and a NUL-terminated name.
        unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
    };
    let all: [(&AtomicPtr<c_void>, &CStr); 9] = [
        (&REAL.calloc, c"calloc"),
        (&REAL.malloc, c"malloc"),
        (&REAL.realloc, c"realloc"),
        (&REAL.free, c"free"),
        (&REAL.posix_memalign, c"posix_memalign"),
        (&REAL.aligned_alloc, c"aligned_alloc"),
        (&REAL.memalign, c"memalign"),
        (&REAL.valloc, c"valloc"),
        (&REAL.pvalloc, c"pvalloc"),
    ];
    for (slot, name) in all {
        if slot.load(Ordering::Acquire).is_null() {
            slot.store(find(name), Ordering::Release);
        }
    }
    for (slot, name) in &all[..4] {
        if slot.load(Ordering::Acquire).is_null() {
            die_without_allocating(name);
        }
    }
}

/// Say that `name` has no definition after the recorder, and abort.
#[cold]
fn die_without_allocating(name: &CStr) -> ! {
    let parts: [&[u8]; 3] = [
        b"Devel::MemTrace: no ",
        name.to_bytes(),
        b" after the recorder in the process; the C library must be loaded after it\n",
    ];
    for part in parts {
        // SAFETY: writes a valid buffer to stderr; no allocation.
        unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
    }
    std::process::abort();
}

/// Resolve at load time, before `main` and before any other thread.
#[used]
#[link_section = ".init_array"]
static RESOLVE_AT_LOAD: extern "C" fn() = {
    extern "C" fn at_load() {
        resolve();
    }
    at_load
};

/// The real function in `slot`, resolving first if need be; None while the
/// functions are being resolved on this path (dlsym calling malloc).
#[inline(always)]
fn real(slot: &AtomicPtr<c_void>) -> Option<*mut c_void> {
    let f = slot.load(Ordering::Relaxed);
    if !f.is_null() {
        return Some(f);
    }
    real_slow(slot)
}

#[cold]
#[inline(never)]
fn real_slow(slot: &AtomicPtr<c_void>) -> Option<*mut c_void> {
    if RESOLVING.with(|r| r.replace(true)) {
        return None;
    }
    resolve();
    RESOLVING.with(|r| r.set(false));
    let f = slot.load(Ordering::Acquire);
    (!f.is_null()).then_some(f)
}

thread_local! {
    /// This thread is inside [`resolve`]: allocations come from the arena.
    static RESOLVING: Cell<bool> = const { Cell::new(false) };
}

// ---- the bootstrap arena: what dlsym allocates before malloc is known ----

const ARENA_SIZE: usize = 16 * 1024;
/// Every block starts this far into its slot: the header holds its size.
const ARENA_HEADER: usize = 16;

#[repr(C, align(16))]
struct Arena(std::cell::UnsafeCell<[u8; ARENA_SIZE]>);
// SAFETY: each block is handed out once (an atomic bump), to one caller.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(std::cell::UnsafeCell::new([0; ARENA_SIZE]));
static ARENA_USED: AtomicUsize = AtomicUsize::new(0);

fn arena_alloc(size: usize, align: usize) -> *mut c_void {
    let align = align.max(ARENA_HEADER);
    let base = ARENA.0.get() as usize;
    let mut used = ARENA_USED.load(Ordering::Relaxed);
    loop {
        let start = (base + used + ARENA_HEADER).next_multiple_of(align) - base;
        let Some(end) = start.checked_add(size).filter(|&e| e <= ARENA_SIZE) else {
            return std::ptr::null_mut();
        };
        match ARENA_USED.compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => {
                let block = (base + start) as *mut u8;
                // SAFETY: [start - 16, end) is ours alone now; the arena is
                // zeroed and never reused, as calloc needs.
                unsafe { block.sub(ARENA_HEADER).cast::<usize>().write(size) };
                return block.cast();
            }
            Err(now) => used = now,
        }
    }
}

#[inline(always)]
fn in_arena(p: *mut c_void) -> bool {
    (p as usize).wrapping_sub(ARENA.0.get() as usize) < ARENA_SIZE
}

/// The size an arena block was made with.
fn arena_size(p: *mut c_void) -> usize {
    // SAFETY: `p` is an arena block: its header precedes it.
    unsafe { (p as *const u8).sub(ARENA_HEADER).cast::<usize>().read() }
}

// ---- recording ----

/// `-malloc` was asked for (see [`set_recording`]): the functions below
/// leave their pass-through path. Theirs alone, so that the pass-through
/// reads one flag of this library, not the recorder's two.
static HOOKED: AtomicBool = AtomicBool::new(false);

/// `-malloc`: record what these functions see (while the recorder is on).
pub fn set_recording(on: bool) {
    recorder::set_records_malloc(on);
    HOOKED.store(on, Ordering::SeqCst);
}

/// The pass-through path's test: not hooked, and `slot` resolved. Its
/// function, to be tail-called.
#[inline(always)]
fn passing_through(slot: &AtomicPtr<c_void>) -> Option<*mut c_void> {
    let f = slot.load(Ordering::Relaxed);
    (!HOOKED.load(Ordering::Relaxed) && !f.is_null()).then_some(f)
}

/// Whether a call made now is recorded: `-malloc`, recording on or paused,
/// and this thread's recorder state set up (see the module's doc).
#[inline(always)]
fn recording() -> bool {
    recorder::records_malloc() && recorder::thread_is_registered()
}

/// The type every `malloc` site shows (`malloc buffers`).
const TYPE: StaticStr = StaticStr(c"malloc".as_ptr());

/// Record one call, unless this thread is already inside the recorder for
/// one. Never unwinds.
#[inline(never)]
fn record(op: Op, addr: usize, old: usize, size: usize, func: &'static CStr) {
    if !recorder::enter_malloc_hook() {
        return; // the recorder's own call, inside one of these
    }
    let (size, func) = (size as u64, StaticStr(func.as_ptr()));
    recorder::guard((), || {
        let done = match op {
            Op::Malloc => {
                recorder::record_fast_new(op, addr, size, TYPE, StaticStr::NULL, 0, func, true)
            }
            Op::Free => recorder::is_active() && recorder::record_fast_free(op, addr, true),
            _ => false,
        };
        if !done {
            recorder::record_slow(op, addr, old, size, TYPE, StaticStr::NULL, 0, func);
        }
    });
    recorder::leave_malloc_hook();
}

#[inline(always)]
fn record_new(p: *mut c_void, size: usize, func: &'static CStr) -> *mut c_void {
    if !p.is_null() && recording() {
        record(Op::Malloc, p as usize, 0, size, func);
    }
    p
}

// ---- the interposed functions ----

/// # Safety
/// The C library's `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    match passing_through(&REAL.malloc) {
        Some(f) => std::mem::transmute::<*mut c_void, MallocFn>(f)(size),
        None => {
            c_frames::note_hook_entry();
            malloc_hooked(size)
        }
    }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn malloc_hooked(size: usize) -> *mut c_void {
    let Some(f) = real(&REAL.malloc) else {
        return arena_alloc(size, ARENA_HEADER);
    };
    let p = std::mem::transmute::<*mut c_void, MallocFn>(f)(size);
    record_new(p, size, c"malloc")
}

/// # Safety
/// The C library's `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    match passing_through(&REAL.calloc) {
        Some(f) => std::mem::transmute::<*mut c_void, CallocFn>(f)(n, size),
        None => {
            c_frames::note_hook_entry();
            calloc_hooked(n, size)
        }
    }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn calloc_hooked(n: usize, size: usize) -> *mut c_void {
    let Some(f) = real(&REAL.calloc) else {
        return match n.checked_mul(size) {
            Some(bytes) => arena_alloc(bytes, ARENA_HEADER),
            None => std::ptr::null_mut(),
        };
    };
    let p = std::mem::transmute::<*mut c_void, CallocFn>(f)(n, size);
    record_new(p, n.saturating_mul(size), c"calloc")
}

/// # Safety
/// The C library's `free`.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    match passing_through(&REAL.free) {
        // (free(NULL) is passed on: it does nothing.)
        Some(f) if !in_arena(p) => std::mem::transmute::<*mut c_void, FreeFn>(f)(p),
        _ => free_hooked(p),
    }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn free_hooked(p: *mut c_void) {
    if p.is_null() || in_arena(p) {
        return;
    }
    // Recorded before the block is released: once it is, another thread
    // may be handed the address and record it first. Not when perl's
    // logged free of it (Safefree) was recorded just now, on this thread.
    if !recorder::take_logged_free(p as usize) && recording() {
        record(Op::Free, p as usize, 0, 0, c"free");
    }
    if let Some(f) = real(&REAL.free) {
        std::mem::transmute::<*mut c_void, FreeFn>(f)(p);
    }
}

/// # Safety
/// The C library's `realloc`.
#[no_mangle]
pub unsafe extern "C" fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
    match passing_through(&REAL.realloc) {
        Some(f) if !in_arena(old) => std::mem::transmute::<*mut c_void, ReallocFn>(f)(old, size),
        _ => {
            c_frames::note_hook_entry();
            realloc_hooked(old, size)
        }
    }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn realloc_hooked(old: *mut c_void, size: usize) -> *mut c_void {
    if old.is_null() {
        return malloc_as(size, c"realloc");
    }
    if in_arena(old) {
        let new = malloc_as(size, c"realloc");
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(old as *const u8, new.cast(), arena_size(old).min(size));
        }
        return new;
    }
    let Some(f) = real(&REAL.realloc) else {
        return std::ptr::null_mut();
    };
    if size == 0 {
        // glibc frees the block and returns NULL: recorded first, as free.
        if recording() {
            record(Op::Free, old as usize, 0, 0, c"realloc");
        }
        let new = std::mem::transmute::<*mut c_void, ReallocFn>(f)(old, 0);
        return record_new(new, 0, c"realloc");
    }
    let new = std::mem::transmute::<*mut c_void, ReallocFn>(f)(old, size);
    // NULL: it failed, and `old` is still the caller's, unchanged.
    if !new.is_null() && recording() {
        record(
            Op::MallocRealloc,
            new as usize,
            old as usize,
            size,
            c"realloc",
        );
    }
    new
}

/// `malloc`, recorded as made by `func`.
unsafe fn malloc_as(size: usize, func: &'static CStr) -> *mut c_void {
    let Some(f) = real(&REAL.malloc) else {
        return arena_alloc(size, ARENA_HEADER);
    };
    let p = std::mem::transmute::<*mut c_void, MallocFn>(f)(size);
    record_new(p, size, func)
}

/// # Safety
/// The C library's `reallocarray`: glibc's calls its own `realloc`
/// internally, which would move a recorded block unseen.
#[no_mangle]
pub unsafe extern "C" fn reallocarray(old: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        Some(bytes) => realloc(old, bytes),
        None => {
            *libc::__errno_location() = libc::ENOMEM;
            std::ptr::null_mut()
        }
    }
}

/// # Safety
/// The C library's `posix_memalign`.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    note_entry();
    posix_memalign_recorded(out, align, size)
}

#[inline(never)]
unsafe extern "C" fn posix_memalign_recorded(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    let Some(f) = real(&REAL.posix_memalign) else {
        let p = arena_alloc(size, align);
        if p.is_null() {
            return libc::ENOMEM;
        }
        *out = p;
        return 0;
    };
    let rc = std::mem::transmute::<*mut c_void, PosixMemalignFn>(f)(out, align, size);
    if rc == 0 {
        record_new(*out, size, c"posix_memalign");
    }
    rc
}

/// Note where the caller is (see `c_frames::note_hook_entry`) for the
/// native frames of what the rarer functions below record. Inlined first
/// thing into each, whose body is then a tail call: nothing has touched the
/// stack yet. The recording halves are `extern "C"` with the entry point's
/// own arguments, so that the call is a jump (a Rust-ABI callee got a
/// `push` before the note, and the note then read a wrong return address).
#[inline(always)]
fn note_entry() {
    if HOOKED.load(Ordering::Relaxed) {
        c_frames::note_hook_entry();
    }
}

/// The real `(alignment, size)` function in `slot`, recorded as `func`.
#[inline(always)]
unsafe fn aligned(
    slot: &AtomicPtr<c_void>,
    align: usize,
    size: usize,
    func: &'static CStr,
) -> *mut c_void {
    let Some(f) = real(slot) else {
        return arena_alloc(size, align);
    };
    let p = std::mem::transmute::<*mut c_void, AlignedFn>(f)(align, size);
    record_new(p, size, func)
}

/// # Safety
/// The C library's `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    note_entry();
    aligned_alloc_recorded(align, size)
}

#[inline(never)]
unsafe extern "C" fn aligned_alloc_recorded(align: usize, size: usize) -> *mut c_void {
    aligned(&REAL.aligned_alloc, align, size, c"aligned_alloc")
}

/// # Safety
/// The C library's `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    note_entry();
    memalign_recorded(align, size)
}

#[inline(never)]
unsafe extern "C" fn memalign_recorded(align: usize, size: usize) -> *mut c_void {
    aligned(&REAL.memalign, align, size, c"memalign")
}

/// # Safety
/// The C library's `valloc`.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    note_entry();
    valloc_recorded(size)
}

#[inline(never)]
unsafe extern "C" fn valloc_recorded(size: usize) -> *mut c_void {
    let Some(f) = real(&REAL.valloc) else {
        return arena_alloc(size, 4096);
    };
    let p = std::mem::transmute::<*mut c_void, MallocFn>(f)(size);
    record_new(p, size, c"valloc")
}

/// # Safety
/// The C library's `pvalloc`.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    note_entry();
    pvalloc_recorded(size)
}

#[inline(never)]
unsafe extern "C" fn pvalloc_recorded(size: usize) -> *mut c_void {
    let Some(f) = real(&REAL.pvalloc) else {
        return arena_alloc(size, 4096);
    };
    let p = std::mem::transmute::<*mut c_void, MallocFn>(f)(size);
    record_new(p, size, c"pvalloc")
}

// ---- the library's own allocations ----

/// The Rust code of this library (the recorder's tables, rings, strings)
/// allocates with the real functions, never through the ones above: its
/// blocks are not the program's, and recording them from inside the
/// recorder would re-enter it.
pub struct RealAllocator;

/// What glibc's `malloc` aligns every block to on 64-bit platforms.
const MALLOC_ALIGN: usize = 16;

// SAFETY: every block comes from the real malloc family with at least the
// layout's alignment, and goes back to the real `free`.
unsafe impl GlobalAlloc for RealAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN && layout.align() <= layout.size() {
            match real(&REAL.malloc) {
                Some(f) => std::mem::transmute::<*mut c_void, MallocFn>(f)(layout.size()).cast(),
                None => arena_alloc(layout.size(), ARENA_HEADER).cast(),
            }
        } else {
            let mut p = std::ptr::null_mut();
            match real(&REAL.posix_memalign) {
                Some(f) => {
                    let align = layout.align().max(std::mem::size_of::<usize>());
                    let rc = std::mem::transmute::<*mut c_void, PosixMemalignFn>(f)(
                        &mut p,
                        align,
                        layout.size(),
                    );
                    if rc == 0 {
                        p.cast()
                    } else {
                        std::ptr::null_mut()
                    }
                }
                None => arena_alloc(layout.size(), layout.align()).cast(),
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN && layout.align() <= layout.size() {
            match real(&REAL.calloc) {
                Some(f) => std::mem::transmute::<*mut c_void, CallocFn>(f)(1, layout.size()).cast(),
                None => arena_alloc(layout.size(), ARENA_HEADER).cast(),
            }
        } else {
            let p = self.alloc(layout);
            if !p.is_null() {
                std::ptr::write_bytes(p, 0, layout.size());
            }
            p
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, _layout: Layout) {
        let p = p.cast::<c_void>();
        if in_arena(p) {
            return;
        }
        if let Some(f) = real(&REAL.free) {
            std::mem::transmute::<*mut c_void, FreeFn>(f)(p);
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let fits_malloc = layout.align() <= MALLOC_ALIGN && layout.align() <= new_size;
        if fits_malloc && !in_arena(p.cast()) {
            if let Some(f) = real(&REAL.realloc) {
                return std::mem::transmute::<*mut c_void, ReallocFn>(f)(p.cast(), new_size).cast();
            }
        }
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new = self.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(p, new, layout.size().min(new_size));
            self.dealloc(p, layout);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: RealAllocator = RealAllocator;

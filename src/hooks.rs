//! The five `Perl_mem_log_*` functions a `-DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL`
//! perl calls through the PLT, and one interposed perl function. Loaded ahead
//! of libperl, these definitions win.
//!
//! alloc and realloc run after the allocation and return it; free runs before
//! the free and returns its argument. They must not allocate through perl,
//! call perl or unwind, and take no lock in the common case:
//! [`recorder::record`] sees to the first three (it locks only to flush a
//! full ring or to intern a Perl site it has not seen), [`recorder::guard`]
//! to the last (the fast path cannot panic; what it calls that might is
//! guarded where it is called).

use std::ffi::{c_char, c_int, c_void};
use std::io::Write;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::recorder::{self, c_frames, Op, StaticStr};

type MallocT = *mut c_void;
/// perl's UV on every 64-bit (and ILP32) platform we build for.
type Uv = usize;

// Everything past the "off" check is out of line, so that while recording
// is off a hook is a load, a test and a return (no frame, no argument
// spills). The out-of-line parts are `extern "C"` too: a function that
// cannot unwind needs no landing pad in its caller, so the hooks can
// tail-call them. The SV-head free's fast path without publishing
// (`recorder::record_fast_free`) calls nothing and needs no frame, so it
// stays in its hook; the rest is one function per operation, specialised
// for it. (Inlined into Perl_mem_log_free, the buffer free's would cost
// that hook a saved register even while recording is off.) The fast paths
// cannot panic; the slow path is guarded.

#[inline(never)]
#[allow(clippy::too_many_arguments)]
extern "C" fn record_slow(
    op: Op,
    addr: usize,
    old: usize,
    size: u64,
    type_name: *const c_char,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) {
    recorder::guard((), || {
        recorder::record_slow(
            op,
            addr,
            old,
            size,
            StaticStr(type_name),
            StaticStr(file),
            line as u32,
            StaticStr(func),
        )
    });
}

/// A new allocation or SV head. Without `may_call`, only what needs no
/// call (see `recorder::record_fast_new`): false if that was not enough.
/// With it, the fast path, else the slow one: always true.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn record_new(
    op: Op,
    addr: usize,
    size: u64,
    type_name: *const c_char,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    may_call: bool,
) -> bool {
    recorder::record_fast_new(
        op,
        addr,
        size,
        StaticStr(type_name),
        StaticStr(file),
        line as u32,
        StaticStr(func),
        may_call,
    ) || (may_call && {
        record_slow(op, addr, 0, size, type_name, file, line, func);
        true
    })
}

/// The hook's own signature and result, so that the hook can tail-call it.
#[inline(never)]
extern "C" fn record_alloc(
    n: Uv,
    typesize: Uv,
    type_name: *const c_char,
    newalloc: MallocT,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) -> MallocT {
    let (addr, size) = (newalloc as usize, bytes(n, typesize));
    if !record_new(Op::Alloc, addr, size, type_name, file, line, func, false) {
        record_alloc_in_full(addr, size, type_name, file, line, func);
    }
    opaque(newalloc)
}

#[inline(never)]
extern "C" fn record_alloc_in_full(
    addr: usize,
    size: u64,
    type_name: *const c_char,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) {
    record_new(Op::Alloc, addr, size, type_name, file, line, func, true);
}

// A new SV head: first what needs no call (and no stack frame), else the
// full fast path, which tail-calls the slow one.

#[inline(never)]
extern "C" fn record_new_sv(sv: usize, file: *const c_char, line: c_int, func: *const c_char) {
    let (c_file, c_func) = (StaticStr(file), StaticStr(func));
    match recorder::record_fast_new_sv_in_place(sv, c_file, line as u32, c_func) {
        recorder::NewLeft::Nothing => {}
        recorder::NewLeft::Evict(site) => record_new_sv_evicting(sv, file, line, func, site),
        recorder::NewLeft::Everything => record_new_sv_in_full(sv, file, line, func),
    }
}

/// A new SV head whose nursery set is full (see `recorder::NewLeft`).
#[inline(never)]
extern "C" fn record_new_sv_evicting(
    sv: usize,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    perl_site: recorder::PerlSiteId,
) {
    let (c_file, c_func) = (StaticStr(file), StaticStr(func));
    if !recorder::record_fast_new_sv_evicting(sv, c_file, line as u32, c_func, perl_site) {
        record_new_sv_in_full(sv, file, line, func);
    }
}

#[inline(never)]
extern "C" fn record_new_sv_in_full(
    sv: usize,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) {
    record_new(Op::NewSv, sv, 0, std::ptr::null(), file, line, func, true);
}

// A free's C site is not passed on: nothing reads it (a record keeps the
// site of its allocation), and the hook keeps no registers for it.

/// Returns `addr`, so that the hook can tail-call it.
#[inline(never)]
extern "C" fn record_free(addr: MallocT) -> MallocT {
    if recorder::records_malloc() {
        recorder::note_logged_free(addr as usize);
    }
    if !recorder::record_fast_free(Op::Free, addr as usize, true) {
        let null = std::ptr::null();
        record_slow(Op::Free, addr as usize, 0, 0, null, null, 0, null);
    }
    opaque(addr)
}

/// `value`, in a way the optimiser cannot see through. Were it to learn that
/// `record_alloc`, `record_realloc` and `record_free` return their argument, it would keep
/// that argument alive across the call in the hook (a register saved and
/// restored even while recording is off) instead of tail-calling them.
#[inline(always)]
fn opaque(value: MallocT) -> MallocT {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let mut bits = value as usize;
        // SAFETY: an empty instruction sequence; it only hides the value.
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg) bits, options(nomem, nostack, preserves_flags));
        }
        bits as MallocT
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        std::hint::black_box(value)
    }
}

#[inline(never)]
extern "C" fn record_del_sv(sv: usize) {
    if !recorder::record_fast_free(Op::DelSv, sv, true) {
        let null = std::ptr::null();
        record_slow(Op::DelSv, sv, 0, 0, null, null, 0, null);
    }
}

/// An SV head the hook's fast path found neither held nor settled.
#[inline(never)]
extern "C" fn publish_del_sv(sv: usize) {
    if !recorder::publish_fast_free(Op::DelSv, sv) {
        let null = std::ptr::null();
        record_slow(Op::DelSv, sv, 0, 0, null, null, 0, null);
    }
}

fn bytes(n: Uv, typesize: Uv) -> u64 {
    (n as u64).saturating_mul(typesize as u64)
}

/// `Newx`/`Newxz`: `n` items of `typesize` bytes at `newalloc`.
#[no_mangle]
pub extern "C" fn Perl_mem_log_alloc(
    n: Uv,
    typesize: Uv,
    type_name: *const c_char,
    newalloc: MallocT,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) -> MallocT {
    if !recorder::is_active() || newalloc.is_null() {
        return newalloc;
    }
    c_frames::note_hook_entry();
    record_alloc(n, typesize, type_name, newalloc, file, line, func)
}

/// `Renew`: `oldalloc` became `newalloc` of `n` items of `typesize` bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn Perl_mem_log_realloc(
    n: Uv,
    typesize: Uv,
    type_name: *const c_char,
    oldalloc: MallocT,
    newalloc: MallocT,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) -> MallocT {
    if !recorder::is_active() {
        return newalloc;
    }
    c_frames::note_hook_entry();
    record_realloc(n, typesize, type_name, oldalloc, newalloc, file, line, func)
}

/// The hook's own signature and result, so that the hook can tail-call it.
/// `Renew` is rare (perl grows most buffers with saferealloc, see
/// `Perl_safesysrealloc`): the slow path.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
extern "C" fn record_realloc(
    n: Uv,
    typesize: Uv,
    type_name: *const c_char,
    oldalloc: MallocT,
    newalloc: MallocT,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) -> MallocT {
    let (new, old, size) = (newalloc as usize, oldalloc as usize, bytes(n, typesize));
    record_slow(Op::Realloc, new, old, size, type_name, file, line, func);
    opaque(newalloc)
}

/// `Safefree`, before the memory is released.
#[no_mangle]
pub extern "C" fn Perl_mem_log_free(
    oldalloc: MallocT,
    _file: *const c_char,
    _line: c_int,
    _func: *const c_char,
) -> MallocT {
    if !recorder::is_active() || oldalloc.is_null() {
        return oldalloc;
    }
    record_free(oldalloc)
}

/// A new SV head.
#[no_mangle]
pub extern "C" fn Perl_mem_log_new_sv(
    sv: *const c_void,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) {
    if recorder::is_active() {
        c_frames::note_hook_entry();
        record_new_sv(sv as usize, file, line, func);
    }
}

/// An SV head returned to the arena.
#[no_mangle]
pub extern "C" fn Perl_mem_log_del_sv(
    sv: *const c_void,
    _file: *const c_char,
    _line: c_int,
    _func: *const c_char,
) {
    // Without publishing: what must be published goes out of line.
    if recorder::is_active() {
        match recorder::record_fast_free_in_place(Op::DelSv, sv as usize) {
            recorder::FreeLeft::Nothing => {}
            recorder::FreeLeft::Publish => publish_del_sv(sv as usize),
            recorder::FreeLeft::Everything => record_del_sv(sv as usize),
        }
    }
}

type SafesysreallocFn = unsafe extern "C" fn(MallocT, usize) -> MallocT;

static REAL_SAFESYSREALLOC: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// libperl's own `Perl_safesysrealloc`, the next definition after ours.
fn real_safesysrealloc() -> SafesysreallocFn {
    let mut real = REAL_SAFESYSREALLOC.load(Ordering::Acquire);
    if real.is_null() {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT searches the
        // objects loaded after this one (libperl).
        real = unsafe { libc::dlsym(libc::RTLD_NEXT, c"Perl_safesysrealloc".as_ptr()) };
        if real.is_null() {
            let _ = writeln!(
                std::io::stderr(),
                "Devel::MemTrace: no Perl_safesysrealloc after the recorder; it must be loaded ahead of libperl (use the MemTrace perl)"
            );
            std::process::abort();
        }
        REAL_SAFESYSREALLOC.store(real, Ordering::Release);
    }
    // SAFETY: it is perl's `Malloc_t Perl_safesysrealloc(Malloc_t, MEM_SIZE)`.
    unsafe { std::mem::transmute::<*mut c_void, SafesysreallocFn>(real) }
}

/// Whether the interposed `realloc` recorded this thread's move already.
#[inline(always)]
fn malloc_recorded_the_move() -> bool {
    recorder::records_malloc() && recorder::thread_is_registered()
}

/// perl's `saferealloc`: interposed because perl also moves logged buffers
/// with it, unlogged. `sv_grow` and `sv_usepvn` grow a PV buffer with
/// `saferealloc`, and a buffer made with `Newx` and handed to an SV (a common
/// XS pattern) is exactly such a PV. Without this, the record would stay at
/// the old address for ever: a false leak. The event is a move (it never
/// creates a record); `Renew`, which calls this and then logs its own
/// realloc, is recognised by the aggregator and the nursery.
///
/// If perl croaks here (out of memory), the longjmp passes this frame,
/// which owns nothing that needs dropping.
///
/// # Safety
/// Called by perl as its `Perl_safesysrealloc`.
#[no_mangle]
pub unsafe extern "C" fn Perl_safesysrealloc(old: MallocT, nbytes: usize) -> MallocT {
    let new = real_safesysrealloc()(old, nbytes);
    if recorder::is_active()
        && !old.is_null()
        // With -malloc, the interposed realloc has recorded the move.
        && !malloc_recorded_the_move()
        && !recorder::record_fast_move(new as usize, old as usize, nbytes as u64)
    {
        record_slow(
            Op::Move,
            new as usize,
            old as usize,
            nbytes as u64,
            std::ptr::null(),
            std::ptr::null(),
            0,
            std::ptr::null(),
        );
    }
    new
}

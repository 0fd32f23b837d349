//! The five `Perl_mem_log_*` functions a `-DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL`
//! perl calls through the PLT, and one interposed perl function. Loaded ahead
//! of libperl, these definitions win.
//!
//! alloc and realloc run after the allocation and return it; free runs before
//! the free and returns its argument. They must not allocate through perl,
//! call perl or unwind, and take no lock in the common case:
//! [`recorder::record`] sees to the first three (it locks only to flush a
//! full ring or to intern a Perl site it has not seen), `catch_unwind` to
//! the last.

use std::ffi::{c_char, c_int, c_void};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::recorder::{self, Op, StaticStr};

type MallocT = *mut c_void;
/// perl's UV on every 64-bit (and ILP32) platform we build for.
type Uv = usize;

/// Everything past the "off" check, kept out of line so that while
/// recording is off a hook is a load, a test and a return: no frame, no
/// argument spills.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn record(
    op: Op,
    addr: usize,
    old: usize,
    size: u64,
    type_name: *const c_char,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        recorder::record(
            op,
            addr,
            old,
            size,
            StaticStr(type_name),
            StaticStr(file),
            line as u32,
            StaticStr(func),
        )
    }));
    if result.is_err() {
        recorder_panicked();
    }
}

#[cold]
fn recorder_panicked() {
    // A bug in the recorder must not take the program down: stop recording
    // and say so once (the panic message was already printed by the hook).
    if recorder::is_recording() || recorder::is_paused() {
        recorder::disable();
        // Never panic here: a failed write to stderr is ignored.
        let _ = writeln!(
            std::io::stderr(),
            "Devel::MemTrace: internal error in the recorder; recording stopped (please report it)"
        );
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
    if recorder::is_active() && !newalloc.is_null() {
        record(
            Op::Alloc,
            newalloc as usize,
            0,
            bytes(n, typesize),
            type_name,
            file,
            line,
            func,
        );
    }
    newalloc
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
    if recorder::is_active() {
        record(
            Op::Realloc,
            newalloc as usize,
            oldalloc as usize,
            bytes(n, typesize),
            type_name,
            file,
            line,
            func,
        );
    }
    newalloc
}

/// `Safefree`, before the memory is released.
#[no_mangle]
pub extern "C" fn Perl_mem_log_free(
    oldalloc: MallocT,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) -> MallocT {
    if recorder::is_active() && !oldalloc.is_null() {
        record(
            Op::Free,
            oldalloc as usize,
            0,
            0,
            std::ptr::null(),
            file,
            line,
            func,
        );
    }
    oldalloc
}

/// The SV-head hooks: an address and a C site, no size or type.
#[inline(always)]
fn sv_head(op: Op, sv: *const c_void, file: *const c_char, line: c_int, func: *const c_char) {
    if recorder::is_active() {
        record(op, sv as usize, 0, 0, std::ptr::null(), file, line, func);
    }
}

/// A new SV head.
#[no_mangle]
pub extern "C" fn Perl_mem_log_new_sv(
    sv: *const c_void,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) {
    sv_head(Op::NewSv, sv, file, line, func);
}

/// An SV head returned to the arena.
#[no_mangle]
pub extern "C" fn Perl_mem_log_del_sv(
    sv: *const c_void,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
) {
    sv_head(Op::DelSv, sv, file, line, func);
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
    if recorder::is_active() && !old.is_null() {
        record(
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

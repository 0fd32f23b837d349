//! One recorded hook call, as it travels from a hook to the aggregator.

use std::ffi::{c_char, CStr};

/// What a hook saw happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// `Newx`/`Newxz`: a logged allocation of `size` bytes at `addr`.
    Alloc,
    /// `Renew`: `old` moved to `addr` with `size` bytes.
    Realloc,
    /// A `Renew` seen while new allocations are not recorded (paused, or the
    /// tool's own): moves a recorded buffer, but creates no record.
    Move,
    /// `Safefree` of `addr`.
    Free,
    /// A new SV head at `addr`.
    NewSv,
    /// The SV head at `addr` went back to the arena.
    DelSv,
    /// The interposed `malloc` family (`-malloc`): a new block of `size`
    /// bytes at `addr`, of site kind `malloc`. A logged `Alloc` of the same
    /// address (perl's `Newx`, which calls `malloc`) replaces it: one record.
    Malloc,
    /// The interposed `realloc`: `old` moved to `addr` with `size` bytes
    /// (`old` 0: a new block of site kind `malloc`; `addr` 0: freed).
    MallocRealloc,
}

impl Op {
    /// Whether this event creates something that needs a site.
    #[inline]
    pub fn creates(self) -> bool {
        matches!(
            self,
            Op::Alloc | Op::Realloc | Op::NewSv | Op::Malloc | Op::MallocRealloc
        )
    }

    /// Whether it leaves a C buffer at `addr` (new or moved there).
    #[inline]
    pub fn places_buffer(self) -> bool {
        matches!(
            self,
            Op::Alloc | Op::Realloc | Op::Move | Op::Malloc | Op::MallocRealloc
        )
    }

    /// Whether it moves a C buffer from `old` to `addr`.
    #[inline]
    pub fn moves(self) -> bool {
        matches!(self, Op::Realloc | Op::Move | Op::MallocRealloc)
    }
}

/// A pointer to a NUL-terminated string that lives as long as the code that
/// passed it: perl passes `__FILE__`, `FUNCTION__` and type names as string
/// literals of libperl or of an XS module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct StaticStr(pub *const c_char);

// SAFETY: the pointee is an immutable string literal; sharing the pointer
// between threads is as safe as sharing a `&'static str`.
unsafe impl Send for StaticStr {}
unsafe impl Sync for StaticStr {}

impl StaticStr {
    pub const NULL: StaticStr = StaticStr(std::ptr::null());

    /// The text, or "" for a null pointer. Invalid UTF-8 is replaced.
    pub fn to_text(self) -> String {
        if self.0.is_null() {
            return String::new();
        }
        // SAFETY: non-null pointers come from perl's string literals (see the
        // type's doc), which are NUL-terminated and never freed while the
        // library that holds them is loaded.
        unsafe { CStr::from_ptr(self.0) }
            .to_string_lossy()
            .into_owned()
    }
}

/// A Perl site (file, line, sub) interned by [`super::sites::PerlSites`].
/// 0 means "no Perl code was running" (or it could not be read safely).
pub type PerlSiteId = u32;

/// A Perl call stack (Perl sites, innermost first) interned by
/// [`super::sites::PerlSites`]. Its first frame is the Perl site. 0 means
/// "no Perl code was running" (or it could not be read safely).
pub type StackId = u32;

/// A list of native return addresses, innermost first, interned by
/// [`super::sites::PerlSites`]. 0: none taken (C frames are off).
pub type CFramesId = u32;

/// Where an allocation was made, beyond the C site perl passed: the Perl
/// call stack and the native frames. What every recording entry point
/// takes from [`super::capture_context`], and all a record keeps of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Context {
    pub stack: StackId,
    pub c_frames: CFramesId,
}

impl Context {
    /// Nothing known.
    pub const NONE: Context = Context {
        stack: 0,
        c_frames: 0,
    };

    /// A Perl call stack and no native frames.
    #[inline(always)]
    pub const fn of_stack(stack: StackId) -> Context {
        Context { stack, c_frames: 0 }
    }
}

/// One hook call. `seq` is a process-wide sequence number taken inside the
/// hook: it orders events on the same address across threads (an address is
/// only freed after the allocation that returned it was recorded).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Event {
    pub seq: u64,
    pub addr: usize,
    /// The old address of a `Realloc`; 0 otherwise.
    pub old: usize,
    pub size: u64,
    pub c_file: StaticStr,
    pub c_func: StaticStr,
    pub type_name: StaticStr,
    pub c_line: u32,
    /// The Perl call stack and the native frames (see [`Context`]).
    pub context: Context,
    /// Which recording thread (its ring's number, wrapping).
    pub thread: u16,
    pub op: Op,
}

impl Event {
    /// An event with no C site, no type and no Perl site (tests, fallbacks).
    pub fn bare(op: Op, addr: usize, old: usize, size: u64) -> Event {
        Event {
            seq: 0,
            addr,
            old,
            size,
            c_file: StaticStr::NULL,
            c_func: StaticStr::NULL,
            type_name: StaticStr::NULL,
            c_line: 0,
            context: Context::NONE,
            thread: 0,
            op,
        }
    }

    /// A new SV head, as its hook records it.
    #[inline(always)]
    pub fn new_sv(
        seq: u64,
        addr: usize,
        (c_file, c_line, c_func): (StaticStr, u32, StaticStr),
        context: Context,
        thread: u16,
    ) -> Event {
        Event {
            seq,
            addr,
            old: 0,
            size: 0,
            c_file,
            c_func,
            type_name: StaticStr::NULL,
            c_line,
            context,
            thread,
            op: Op::NewSv,
        }
    }
}

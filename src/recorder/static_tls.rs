//! This library's variables in the static TLS block (`thread_slot.c`), read
//! and written in place on x86-64. Each is initial-exec: its offset from
//! the thread pointer is in the GOT, put there when the library was loaded,
//! so an access is two loads and no call (a `thread_local!` in a cdylib
//! costs a `__tls_get_addr` call). Elsewhere callers use `thread_slot.c`'s
//! functions instead.

/// The offset from the thread pointer of `$symbol`, an initial-exec TLS
/// variable defined in `thread_slot.c`.
#[cfg(target_arch = "x86_64")]
macro_rules! offset_of_tls {
    ($symbol:literal) => {{
        let offset: usize;
        // SAFETY: loads the variable's TLS offset from the GOT, where the
        // dynamic linker put it at load time; it never changes after.
        unsafe {
            ::std::arch::asm!(
                concat!("mov {offset}, qword ptr [rip + ", $symbol, "@GOTTPOFF]"),
                offset = out(reg) offset,
                options(pure, readonly, nostack, preserves_flags),
            );
        }
        offset
    }};
}
#[cfg(target_arch = "x86_64")]
pub(crate) use offset_of_tls;

/// The word at `offset` from the thread pointer.
///
/// # Safety
/// `offset` is [`offset_of_tls!`] of a word-sized variable.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn read_word(offset: usize) -> usize {
    let word: usize;
    std::arch::asm!(
        "mov {word}, qword ptr fs:[{offset}]",
        offset = in(reg) offset,
        word = out(reg) word,
        options(pure, readonly, nostack, preserves_flags),
    );
    word
}

/// Store `value` in the word at `offset` from the thread pointer; the word
/// it held.
///
/// # Safety
/// As [`read_word`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn swap_word(offset: usize, value: usize) -> usize {
    let was: usize;
    std::arch::asm!(
        "mov {was}, qword ptr fs:[{offset}]",
        "mov qword ptr fs:[{offset}], {value}",
        offset = in(reg) offset,
        value = in(reg) value,
        was = out(reg) was,
        options(nostack, preserves_flags),
    );
    was
}

/// Store `value` in the byte at `offset` from the thread pointer; the byte
/// it held.
///
/// # Safety
/// `offset` is [`offset_of_tls!`] of a byte-sized variable.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn swap_byte(offset: usize, value: u8) -> u8 {
    let was: u32;
    std::arch::asm!(
        "movzx {was:e}, byte ptr fs:[{offset}]",
        "mov byte ptr fs:[{offset}], {value}",
        offset = in(reg) offset,
        value = in(reg_byte) value,
        was = out(reg) was,
        options(nostack, preserves_flags),
    );
    was as u8
}

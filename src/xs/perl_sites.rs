//! Tells the recorder which Perl statement and sub are running.

use super::ffi::{
    memtrace_shim_callers, memtrace_shim_current_cop, memtrace_shim_describe_cop, MtCopText,
    MtCurrentCop, MtWalkMemo, MT_RUNS_NO_CODE, MT_STACK_DEPTH_MAX,
};
use crate::recorder::{self, CurrentCop, PerlSiteId, ProbeScratch, SiteSource, StackId};

// The recorder keeps the shim's walk memo in its per-thread scratch space.
const _: () = assert!(std::mem::size_of::<MtWalkMemo>() <= std::mem::size_of::<ProbeScratch>());
const _: () = assert!(std::mem::align_of::<MtWalkMemo>() <= std::mem::align_of::<ProbeScratch>());

fn current(realloc_old: usize, scratch: &mut ProbeScratch) -> CurrentCop {
    let mut cop = MtCurrentCop::default();
    let memo = scratch as *mut ProbeScratch as *mut MtWalkMemo;
    // SAFETY: reads perl's interpreter state; no allocation, no callbacks.
    // `memo` points into this thread's scratch, big and aligned enough
    // (checked above); all-zero bytes are a valid, empty memo.
    match unsafe { memtrace_shim_current_cop(realloc_old, memo, &mut cop) } {
        0 => CurrentCop::default(),
        found if found == MT_RUNS_NO_CODE as i32 => CurrentCop {
            runs_no_code: true,
            ..CurrentCop::default()
        },
        _ => CurrentCop {
            cop: cop.cop,
            file_key: cop.file_key,
            sub_key: cop.cv,
            line: cop.line,
            callers: cop.callers,
            runs_no_code: false,
        },
    }
}

/// The Perl call stack `cop` is the innermost frame of, interned: the
/// running statement, then (if the stack depth is over 1) its callers.
fn describe(cop: &CurrentCop, realloc_old: usize) -> Option<StackId> {
    let current = MtCurrentCop {
        cop: cop.cop,
        file_key: cop.file_key,
        cv: cop.sub_key,
        line: cop.line,
        callers: cop.callers,
    };
    let mut frames = [0 as PerlSiteId; MT_STACK_DEPTH_MAX as usize];
    frames[0] = describe_frame(&current, realloc_old)?;
    let mut n = 1;
    if cop.callers != 0 {
        let mut callers = [MtCurrentCop::default(); MT_STACK_DEPTH_MAX as usize - 1];
        // SAFETY: reads perl's interpreter state as current() did, on the
        // same thread in the same hook call; writes at most `len` frames.
        let found =
            unsafe { memtrace_shim_callers(realloc_old, callers.as_mut_ptr(), callers.len()) };
        if found < 0 {
            return None;
        }
        for caller in &callers[..found as usize] {
            frames[n] = describe_frame(caller, realloc_old)?;
            n += 1;
        }
    }
    Some(recorder::with_perl_sites(|sites| {
        sites.intern_stack(&frames[..n])
    }))
}

/// One frame: a statement (a COP) in a sub, interned as a Perl site.
fn describe_frame(current: &MtCurrentCop, realloc_old: usize) -> Option<PerlSiteId> {
    let mut text = MtCopText::default();
    // SAFETY: `current` is what current_cop or callers just read on this
    // thread, in this hook call.
    if unsafe { memtrace_shim_describe_cop(current, realloc_old, &mut text) } == 0 {
        return None;
    }
    // SAFETY: the shim points `file` at the COP's NUL-terminated file name,
    // `file_len` bytes long, alive while the COP is.
    let file = unsafe { std::slice::from_raw_parts(text.file as *const u8, text.file_len) };
    let sub: Vec<u8> = text.sub_name[..text.sub_len]
        .iter()
        .map(|&c| c as u8)
        .collect();
    Some(recorder::with_perl_sites(|sites| {
        sites.intern(file, current.line, &sub)
    }))
}

pub static PERL_SITE_SOURCE: SiteSource = SiteSource { current, describe };

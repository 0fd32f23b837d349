//! Tells the recorder which Perl statement and sub are running.

use super::ffi::{memtrace_shim_current_cop, memtrace_shim_describe_cop, MtCopText, MtCurrentCop};
use crate::recorder::{self, CurrentCop, PerlSiteId, SiteSource};

fn current(realloc_old: usize) -> CurrentCop {
    let mut cop = MtCurrentCop::default();
    // SAFETY: reads perl's interpreter state; no allocation, no callbacks.
    if unsafe { memtrace_shim_current_cop(realloc_old, &mut cop) } == 0 {
        return CurrentCop::default();
    }
    CurrentCop {
        cop: cop.cop,
        file_key: cop.file_key,
        sub_key: cop.cv,
        line: cop.line,
    }
}

fn describe(cop: &CurrentCop, realloc_old: usize) -> Option<PerlSiteId> {
    let current = MtCurrentCop {
        cop: cop.cop,
        file_key: cop.file_key,
        cv: cop.sub_key,
        line: cop.line,
    };
    let mut text = MtCopText::default();
    // SAFETY: `current` is what current() just read on this thread.
    if unsafe { memtrace_shim_describe_cop(&current, realloc_old, &mut text) } == 0 {
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
        sites.intern(file, cop.line, &sub)
    }))
}

pub static PERL_SITE_SOURCE: SiteSource = SiteSource { current, describe };

//! Tells the recorder which Perl statement and sub are running.

use super::ffi::{memtrace_shim_current_cop, memtrace_shim_describe_cop, MtCopText, MtCurrentCop};
use crate::recorder::{self, CurrentCop, PerlSiteId, SiteSource};

fn current() -> CurrentCop {
    let mut cop = MtCurrentCop::default();
    // SAFETY: reads perl's interpreter state; no allocation, no callbacks.
    if unsafe { memtrace_shim_current_cop(&mut cop) } == 0 {
        return CurrentCop::default();
    }
    CurrentCop {
        cop: cop.cop,
        file_key: cop.file_key,
        line: cop.line,
    }
}

fn describe(cop: &CurrentCop, realloc_old: usize) -> Option<PerlSiteId> {
    let mut text = MtCopText::default();
    // SAFETY: `cop.cop` is PL_curcop as just read on this thread.
    if unsafe { memtrace_shim_describe_cop(cop.cop, realloc_old, &mut text) } == 0 {
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

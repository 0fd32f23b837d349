//! The native half of Devel::MemTrace: the library the MemTrace perl loads
//! ahead of libperl.
//!
//! A perl built with `-DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL` calls five
//! `Perl_mem_log_*` functions through the PLT on every logged allocation and
//! on every SV head it creates or deletes. This library defines those five
//! functions ([`hooks`]) and feeds the perl-free recorder
//! (`memtrace-recorder`, re-exported as [`recorder`]). The XS layer (`xs`,
//! built with the `perl` feature) exposes it to the `Devel::MemTrace` Perl
//! module: it gives the analysis (`memtrace-analysis`) a read-only view of
//! the live recorder, and writes captures (`memtrace-format`).
//!
//! With `-malloc`, [`malloc_hooks`] also records the C library's `malloc`
//! family, which this library defines too: memory perl never logs.
//!
//! The hooks live here rather than in the recorder crate because this is
//! the crate whose `#[no_mangle]` symbols the cdylib is guaranteed to
//! export.

pub mod hooks;
#[cfg(target_os = "linux")]
pub mod malloc_hooks;
pub use memtrace_recorder as recorder;

#[cfg(feature = "perl")]
mod xs;

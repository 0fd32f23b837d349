//! The native half of Devel::MemTrace.
//!
//! A perl built with `-DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL` calls five
//! `Perl_mem_log_*` functions through the PLT on every logged allocation and
//! on every SV head it creates or deletes. This library, loaded ahead of
//! libperl, defines those five functions ([`hooks`]) and feeds a lock-free
//! [`recorder`] that keeps every live allocation with its C site and Perl
//! site. [`report`] turns the live table into leak records and leak sites;
//! the XS layer (`xs`, built with the `perl` feature) exposes all of it to
//! the `Devel::MemTrace` Perl module.

pub mod hooks;
pub mod recorder;
pub mod report;

#[cfg(feature = "perl")]
mod xs;

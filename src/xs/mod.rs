//! The XS layer's Rust half: the Perl-site source for the recorder, the
//! analysis's view of the live recorder, captures, and the `memtrace_rs_*`
//! functions the XSUBs in `xsubs.c` call.

mod api;
mod boot;
mod capture;
mod ffi;
mod holders;
mod live_heap;
mod perl_sites;
mod sv_types;
mod symbols;
mod value;

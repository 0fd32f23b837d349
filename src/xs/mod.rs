//! The XS layer's Rust half: the Perl-site source for the recorder, and the
//! `memtrace_rs_*` functions the XSUBs in `shim.c` call.

mod api;
mod boot;
mod ffi;
mod perl_sites;
mod sv_types;

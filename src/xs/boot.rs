//! The XS boot entry point XSLoader looks up.
//!
//! It is defined in Rust only because a cdylib exports just the symbols Rust
//! defines; the work (the XS handshake, registering the XSUBs) is in the C
//! shim. This frame owns nothing that needs dropping, so a croak from the
//! handshake (an XS version mismatch) may longjmp over it.

use std::ffi::c_void;

extern "C" {
    #[cfg(not(perl_multiplicity))]
    fn memtrace_shim_boot(cv: *mut c_void);
    #[cfg(perl_multiplicity)]
    fn memtrace_shim_boot(my_perl: *mut c_void, cv: *mut c_void);
}

/// # Safety
/// Called by perl's DynaLoader with the boot CV, as for any XS module.
#[cfg(not(perl_multiplicity))]
#[no_mangle]
pub unsafe extern "C" fn boot_Devel__MemTrace(cv: *mut c_void) {
    memtrace_shim_boot(cv)
}

/// # Safety
/// Called by perl's DynaLoader with the interpreter and the boot CV.
#[cfg(perl_multiplicity)]
#[no_mangle]
pub unsafe extern "C" fn boot_Devel__MemTrace(my_perl: *mut c_void, cv: *mut c_void) {
    memtrace_shim_boot(my_perl, cv)
}

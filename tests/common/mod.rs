//! Hook calls as perl makes them, for the integration tests (no memory is
//! really allocated: the recorder only sees addresses).

use std::ffi::c_void;

use devel_memtrace::hooks::{Perl_mem_log_alloc, Perl_mem_log_free};

/// `Newx` of `size` chars at `addr`.
pub fn log_alloc(addr: usize, size: usize) {
    Perl_mem_log_alloc(
        size,
        1,
        c"char".as_ptr(),
        addr as *mut c_void,
        c"t.c".as_ptr(),
        1,
        c"f".as_ptr(),
    );
}

/// `Safefree(addr)`.
pub fn log_free(addr: usize) {
    Perl_mem_log_free(addr as *mut c_void, c"t.c".as_ptr(), 2, c"f".as_ptr());
}

/*
 * The XS boot: the handshake, the XSUBs, and stopping the recorder when
 * the interpreter that loaded it is destructed.
 */
#include "shim_private.h"

#ifdef MULTIPLICITY
/* The interpreter that loaded us. perl_clone copies the exit list into
 * every ithread's interpreter, so stop_at_destruct also runs whenever a
 * thread's interpreter is destructed (see perlapi, call_atexit). */
static PerlInterpreter *booted_in;
#endif

/* perl_destruct runs these after END blocks: the program is over, and what
 * global destruction frees is not the program's doing. Only the end of the
 * interpreter that loaded us is that: the end of an ithread is not, and what
 * its perl_destruct frees must be recorded, or the live table keeps SVs and
 * buffers that no longer exist. */
static void
stop_at_destruct(pTHX_ void *unused)
{
    PERL_UNUSED_ARG(unused);
#ifdef MULTIPLICITY
    if (aTHX != booted_in)
        return;
#endif
    memtrace_rs_disable();
}

/* boot_Devel__MemTrace itself is a Rust trampoline (src/xs/boot.rs): only
 * symbols Rust defines are exported from the cdylib. */
void memtrace_shim_boot(pTHX_ CV *cv);
void
memtrace_shim_boot(pTHX_ CV *cv)
{
#if PERL_VERSION_LE(5, 21, 5)
    dVAR;
    dXSARGS;
#else
    dVAR;
    dXSBOOTARGSXSAPIVERCHK;
#endif
    PERL_UNUSED_VAR(items);
    register_xsubs(aTHX);
    register_iteration_timer(aTHX);
    register_iteration_wrapper(aTHX);
    memtrace_rs_boot();
#ifdef MULTIPLICITY
    booted_in = aTHX;
#endif
    call_atexit(stop_at_destruct, NULL);
    Perl_xs_boot_epilog(aTHX_ ax);
}


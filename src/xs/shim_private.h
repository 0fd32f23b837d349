/*
 * What the C files of the XS layer share among themselves (never Rust):
 * perl's headers, and the arena walks of arena.c that the XSUBs use.
 * The C/Rust boundary is shim.h.
 */
#ifndef MEMTRACE_SHIM_PRIVATE_H
#define MEMTRACE_SHIM_PRIVATE_H

#define PERL_NO_GET_CONTEXT

/* perl 5.36's sv_inline.h calls this under PERL_MEM_LOG, but proto.h only
 * declares it for sv.c itself. */
struct sv;
void Perl_mem_log_new_sv(const struct sv *sv, const char *filename, int linenumber, const char *funcname);

#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"
#include "perliol.h"

#include <stdlib.h>
#include <string.h>

#include "shim.h"

#ifndef XS_VERSION
#  define XS_VERSION "0.01"
#endif

/* In a function Rust calls (no pTHX): declare my_perl as the calling
 * thread's interpreter, or return `none` from a thread that has none. */
#ifdef MULTIPLICITY
#  define MT_THIS_INTERPRETER_OR(none)                  \
        PerlInterpreter *my_perl = PERL_GET_THX;        \
        if (!my_perl)                                   \
            return none
#else
#  define MT_THIS_INTERPRETER_OR(none) (void)0
#endif

/* Shared between the C files only: not exported from the library. */
#define MT_INTERNAL __attribute__((visibility("hidden")))

/* ---- perl_probe.c --------------------------------------------------------- */

int memtrace_walk_stack(pTHX_ const COP *cop, uintptr_t realloc_old, uint32_t depth,
                        const CV **running, uint64_t *callers, uintptr_t *frames,
                        size_t *n_frames) MT_INTERNAL;
extern uint32_t memtrace_stack_depth MT_INTERNAL;

/* ---- arena.c ------------------------------------------------------------- */

/* Counts of live SVs by type, references, and objects by class. */
typedef struct {
    const HV *stash;
    UV count;
} StashCount;

typedef struct {
    UV total;
    UV by_type[SVt_LAST];
    UV refs;
    StashCount *stashes; /* open addressing; malloc'd, not perl's Newx */
    size_t stash_cap;
    size_t stash_used;
} ArenaCounts;

/* Count every live SV head of this interpreter (by type and class too,
 * if by_type); free_counts() releases what it allocated. */
MT_INTERNAL void walk_arenas(pTHX_ ArenaCounts *c, int by_type);
MT_INTERNAL void free_counts(ArenaCounts *c);

/* This interpreter's SV arenas, sorted by address, for checking addresses
 * that come from outside before reading an SV head there. */
typedef struct {
    UV start, end;
} ArenaRange;

typedef struct {
    ArenaRange *ranges; /* malloc'd, not perl's Newx */
    size_t len;
} ArenaIndex;

/* Croaks (having allocated nothing) if out of memory. */
MT_INTERNAL void arena_index_build(pTHX_ ArenaIndex *ix);
MT_INTERNAL void arena_index_free(ArenaIndex *ix);
/* The live SV at `address` in these arenas, or NULL. */
MT_INTERNAL SV *arena_index_sv(const ArenaIndex *ix, UV address);

/* For each of `n` sorted, distinct buffer addresses, the live SV of this
 * interpreter whose value buffer it is, or 0, into owners[] (one walk of
 * the arenas). Allocates nothing, never croaks. */
MT_INTERNAL void buffer_owners(pTHX_ const UV *sorted, size_t n, UV *owners);

MT_INTERNAL int compare_uv(const void *a, const void *b);

/* ---- xsubs.c ------------------------------------------------------------- */

/* newXS every Devel::MemTrace::_* XSUB. */
MT_INTERNAL void register_xsubs(pTHX);

/* ---- iteration_timer.c ----------------------------------------------------- */

/* newXS Devel::MemTrace::_iteration_every. */
MT_INTERNAL void register_iteration_timer(pTHX);

/* ---- iteration_wrapper.c ---------------------------------------------------- */

/* newXS Devel::MemTrace::_iteration_sub. */
MT_INTERNAL void register_iteration_wrapper(pTHX);

#endif

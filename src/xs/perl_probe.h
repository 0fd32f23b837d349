/*
 * The recorder's fast Perl-site check (perl_probe.c). Perl-free, so the
 * Rust side can mirror the struct (src/recorder/local.rs, ProbeMemo).
 */
#ifndef MEMTRACE_PERL_PROBE_H
#define MEMTRACE_PERL_PROBE_H

#include <stdint.h>

/* Where perl was when the recorder last resolved a Perl site at one COP,
 * and that site (0: nothing remembered). A table of these, in sets of two
 * picked by COP, is one thread's memo. */
/* One sub frame of the context stack, as it was: where, and what it says. */
typedef struct {
    int64_t index;      /* in the current stack info's context stack */
    uintptr_t oldcop;   /* the statement that called the sub */
    uintptr_t cv;       /* the sub */
} MtMemoSub;

/* Sub frames a memo entry checks in place: with a deeper call stack the
 * check walks the stack instead. */
#define MT_MEMO_SUBS 8

/* Where perl was when the recorder last resolved a Perl site at one COP,
 * and that site (0: nothing remembered). A table of these, in sets of two
 * picked by COP, is one thread's memo.
 *
 * With a stack depth over 1 the site is a whole call stack, and the entry
 * holds for the same callers only: `in_place` says the sub frames below
 * are all of them, in the current stack info (compare them where they
 * are); otherwise `callers` is their identity, to compare with a walk. */
typedef struct {
    uintptr_t cop;
    uintptr_t si;
    uintptr_t context_stack;
    int64_t cxix;
    uintptr_t file_key;
    uint32_t line;
    uint32_t site;
    uint64_t callers;
    uint32_t in_place;
    uint32_t n_subs;
    MtMemoSub subs[MT_MEMO_SUBS];
} MtProbeMemo;

/* Two ways: with one entry per COP hash, two statements of a loop that
 * met in an entry pushed each other out on every pass, and each time the
 * hook paid for a full probe (two a pass on the churn benchmark). */
#define MT_PROBE_MEMO_SET_BITS 7
#define MT_PROBE_MEMO_WAYS 2
#define MT_PROBE_MEMO_ENTRIES ((1 << MT_PROBE_MEMO_SET_BITS) * MT_PROBE_MEMO_WAYS)

/* The entry of `table` (MT_PROBE_MEMO_ENTRIES entries) that says perl is
 * where it is now, with its site, or NULL. */
const MtProbeMemo *memtrace_probe_again(MtProbeMemo *table);
/* Remember where perl is now, as `site`; the entry written, or NULL. */
const MtProbeMemo *memtrace_probe_remember(MtProbeMemo *table, uint32_t site);

/* Where a perl without MULTIPLICITY keeps what memtrace_probe_again reads,
 * so that the recorder can check its last entry without a call: the
 * addresses of PL_curcop and PL_curstackinfo (0 on a perl with
 * MULTIPLICITY, where they are per interpreter) and field offsets. */
typedef struct {
    uintptr_t curcop;
    uintptr_t curstackinfo;
    uint32_t si_cxstack; /* uintptr_t */
    uint32_t si_cxix;    /* int32_t */
    uint32_t cop_line;   /* uint32_t */
    uint32_t cop_file;   /* uintptr_t: the file GV */
    uint32_t entries;    /* MT_PROBE_MEMO_ENTRIES, on every perl */
    uint32_t cx_size;    /* sizeof(PERL_CONTEXT) */
    uint32_t cx_oldcop;  /* uintptr_t: blk_oldcop */
    uint32_t cx_cv;      /* uintptr_t: blk_sub.cv */
    uint32_t memo_subs;  /* MT_MEMO_SUBS */
    uint32_t stack_depth; /* memtrace_stack_depth now */
    /* A threaded perl whose context is a C11 thread-local (x86-64): the
     * offset of PL_current_context from the thread pointer, the same in
     * every thread (libperl's thread-locals are in the static block); 0
     * when the in-place check cannot find the interpreter. Then offsets in
     * the interpreter of what perl_is_at reads, and the COP's sequence
     * number, part of the file key with ithreads (cop_key.h). */
    int64_t context_tls;
    uint32_t i_curcop;       /* uintptr_t */
    uint32_t i_curstackinfo; /* uintptr_t */
    uint32_t i_ptr_table;    /* uintptr_t */
    uint32_t i_phase;        /* enum perl_phase, 32 bits */
    uint32_t phase_construct; /* PERL_PHASE_CONSTRUCT */
    uint32_t cop_seq;        /* uint32_t */
} MtProbeLayout;

void memtrace_probe_layout(MtProbeLayout *out);

/* How many frames of the Perl call stack a record keeps, innermost first
 * (1: the running statement only). Set by memtrace_shim_set_stack_depth. */
#ifndef MT_STACK_DEPTH_MAX
#  define MT_STACK_DEPTH_MAX 64 /* as in shim.h */
#endif
extern uint32_t memtrace_stack_depth __attribute__((visibility("hidden")));

#endif

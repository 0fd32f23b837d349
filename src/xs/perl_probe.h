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
typedef struct {
    uintptr_t cop;
    uintptr_t si;
    uintptr_t context_stack;
    int64_t cxix;
    uintptr_t file_key;
    uint32_t line;
    uint32_t site;
    /* The callers' identity (memtrace_walk_stack), 0 with a stack depth of 1. */
    uint64_t callers;
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
} MtProbeLayout;

void memtrace_probe_layout(MtProbeLayout *out);

/* How many frames of the Perl call stack a record keeps, innermost first
 * (1: the running statement only). Set by memtrace_shim_set_stack_depth. */
#ifndef MT_STACK_DEPTH_MAX
#  define MT_STACK_DEPTH_MAX 64 /* as in shim.h */
#endif
extern uint32_t memtrace_stack_depth __attribute__((visibility("hidden")));

#endif

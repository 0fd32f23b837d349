/*
 * The recorder's fast check of the Perl site (built with the `perl`
 * feature only, with the target perl's own flags).
 *
 * Every new SV head and every Newx needs the Perl site that is running.
 * The recorder remembers, for the last few statements (COPs) it saw, where
 * perl was at its full probe of each (the XS layer's site source, which
 * reads PL_curcop, walks the context stack and resolves the site), and for
 * a new event only checks that perl is there again: the same COP, with the
 * same line and file, at the same depth of the same context stack. That is
 * the XS layer's own rule for reusing a context-stack walk (the stacks
 * below the current one do not move while it is in use, and a statement
 * runs inside the sub whose body holds it), so the answer is the site the
 * full probe would give. It is a handful of loads, where the full probe is
 * a call through the site source and several dozen instructions. A loop
 * body of a few statements hits on every statement.
 *
 * The check reads perl's interpreter state only: no allocation, no call
 * into perl, no lock.
 */
#define PERL_NO_GET_CONTEXT

/* perl 5.36's sv_inline.h calls this under PERL_MEM_LOG, but proto.h only
 * declares it for sv.c itself. */
struct sv;
void Perl_mem_log_new_sv(const struct sv *sv, const char *filename, int linenumber, const char *funcname);

#include "EXTERN.h"
#include "perl.h"

#include <string.h>

#include "perl_probe.h"
#include "cop_key.h"

#define MT_HIDDEN __attribute__((visibility("hidden")))

MT_HIDDEN uint32_t memtrace_stack_depth = 1;

static uint64_t
mix_in(uint64_t h, uintptr_t value)
{
    h ^= (uint64_t)value;
    h *= UINT64_C(0x9E3779B97F4A7C15);
    return h ^ (h >> 29);
}

/* The Perl call stack below the running statement `cop`, as far as
 * `depth` frames (the innermost one included). Frame 0 is `cop` in the
 * innermost running sub (*running, NULL at file level); frame k >= 1 is
 * the statement that called frame k-1's sub, in the sub that statement
 * runs in (NULL: file level). Sub frames only, as caller() counts them,
 * across the stacks of sort blocks, tie and overload callbacks and
 * DESTROY. *callers identifies frames 1 on (their statements and subs;
 * 0 if there are none); `frames`, if not NULL, receives them as (COP, CV)
 * pairs, at most depth - 1. 0 if it cannot be read safely now:
 * `realloc_old` is the buffer a realloc moves away from, which may be a
 * context stack.
 *
 * While perl enters a sub (pp_entersub: its frame pushed, @_ and the pad
 * being set up) and until the sub's first statement runs, PL_curcop is
 * still the caller's statement, which the new frame saved as its
 * blk_oldcop: that frame is skipped, so such allocations are the caller's
 * statement, in the caller's sub. */
static int
walk(pTHX_ const COP *cop, uintptr_t realloc_old, uint32_t depth, const CV **running,
     uint64_t *callers, uintptr_t *frames, size_t *n_frames, MtProbeMemo *memo)
{
    const PERL_SI *si;
    const PERL_CONTEXT *below = NULL; /* the sub context of the last frame */
    uint32_t have = 0;
    uint64_t h = 0;
    size_t n = 0;
    *running = NULL;
    if (memo) {
        memo->in_place = 1;
        memo->n_subs = 0;
    }
    for (si = PL_curstackinfo; si; si = si->si_prev) {
        I32 i;
        if (PTR2UV(si->si_cxstack) == realloc_old)
            return 0; /* this very stack is being moved */
        if (memo && si != PL_curstackinfo)
            memo->in_place = 0; /* frames of another stack info: walk */
        for (i = si->si_cxix; i >= 0; i--) {
            const PERL_CONTEXT *cx = &si->si_cxstack[i];
            const U8 type = CxTYPE(cx);
            if (!((type == CXt_SUB || type == CXt_FORMAT) && cx->blk_sub.cv))
                continue;
            if (!below && cx->blk_oldcop == cop)
                continue; /* entered, not yet running: the caller's */
            if (memo) {
                if (memo->n_subs < MT_MEMO_SUBS) {
                    MtMemoSub *sub = &memo->subs[memo->n_subs++];
                    sub->index = i;
                    sub->oldcop = PTR2UV(cx->blk_oldcop);
                    sub->cv = PTR2UV(cx->blk_sub.cv);
                } else {
                    memo->in_place = 0;
                }
            }
            if (!below) {
                *running = cx->blk_sub.cv;
                have = 1;
                if (depth <= 1)
                    goto done;
                below = cx;
                continue;
            }
            if (!below->blk_oldcop)
                goto done;
            h = mix_in(mix_in(h, PTR2UV(below->blk_oldcop)), PTR2UV(cx->blk_sub.cv));
            if (frames) {
                frames[2 * n] = PTR2UV(below->blk_oldcop);
                frames[2 * n + 1] = PTR2UV(cx->blk_sub.cv);
            }
            n++;
            if (++have >= depth)
                goto done;
            below = cx;
        }
    }
    /* The outermost sub was called from file level (or from a require'd
     * file's, or an eval's). */
    if (below && below->blk_oldcop) {
        h = mix_in(h, PTR2UV(below->blk_oldcop));
        if (frames) {
            frames[2 * n] = PTR2UV(below->blk_oldcop);
            frames[2 * n + 1] = 0;
        }
        n++;
    }
done:
    *callers = n ? (h | 1) : 0;
    if (n_frames)
        *n_frames = n;
    return 1;
}

/* The walk the full probe made of this thread's stack, with what a memo
 * entry keeps of it, for memtrace_probe_remember in the same hook call
 * (perl has not moved in between): one walk per full probe, not two. */
static __thread MtProbeMemo pending;

MT_HIDDEN int
memtrace_walk_stack(pTHX_ const COP *cop, uintptr_t realloc_old, uint32_t depth,
                    const CV **running, uint64_t *callers, uintptr_t *frames, size_t *n_frames)
{
    MtProbeMemo *memo = frames ? NULL : &pending;
    int ok = walk(aTHX_ cop, realloc_old, depth, running, callers, frames, n_frames, memo);
    if (memo) {
        const PERL_SI *si = PL_curstackinfo;
        memo->cop = ok && si ? PTR2UV(cop) : 0;
        memo->si = PTR2UV(si);
        memo->context_stack = si ? PTR2UV(si->si_cxstack) : 0;
        memo->cxix = si ? si->si_cxix : 0;
        memo->callers = *callers;
    }
    return ok;
}

/* The callers' identity now, for the memo (0 with a depth of 1); 0 with
 * *ok 0 if there is no interpreter. */
static uint64_t
callers_now(const COP *cop, int *ok, MtProbeMemo *memo)
{
    const CV *running;
    uint64_t callers = 0;
    const uint32_t depth = memtrace_stack_depth;
#ifdef MULTIPLICITY
    PerlInterpreter *my_perl = PERL_GET_THX;
#endif
    *ok = 1;
    if (memo) {
        memo->in_place = 1;
        memo->n_subs = 0;
    }
    if (depth <= 1)
        return 0;
#ifdef MULTIPLICITY
    if (!my_perl) {
        *ok = 0;
        return 0;
    }
#endif
    if (!walk(aTHX_ cop, 0, depth, &running, &callers, NULL, NULL, memo))
        *ok = 0;
    return callers;
}

/* Whether the sub frames `memo` saw are where they were, as they were:
 * then the callers are the same (perl is at the same statement at the same
 * depth of the same context stack, checked before). */
static int
subs_hold(const MtProbeMemo *memo, const PERL_SI *si)
{
    uint32_t k;
    for (k = 0; k < memo->n_subs; k++) {
        const MtMemoSub *sub = &memo->subs[k];
        const PERL_CONTEXT *cx = &si->si_cxstack[sub->index];
        if (PTR2UV(cx->blk_oldcop) != sub->oldcop || PTR2UV(cx->blk_sub.cv) != sub->cv)
            return 0;
    }
    return 1;
}

/* The set of entries for a COP. COPs sit in op slabs, a few dozen bytes
 * apart: the multiply spreads all of the address over the set number. */
static MtProbeMemo *
set_for(MtProbeMemo *table, const COP *cop)
{
    const uint64_t key = (uint64_t)PTR2UV(cop) * UINT64_C(0x9E3779B97F4A7C15);
    return &table[(key >> (64 - MT_PROBE_MEMO_SET_BITS)) * MT_PROBE_MEMO_WAYS];
}

/* Where perl is: this thread's PL_curcop and PL_curstackinfo. 0 if there
 * is no interpreter or either is NULL, or while an interpreter is being
 * cloned (the site source then names no sub). */
static int
perl_is_at(const COP **cop, const PERL_SI **si)
{
#ifdef MULTIPLICITY
    PerlInterpreter *my_perl = PERL_GET_THX;
    if (!my_perl)
        return 0;
#endif
#ifdef USE_ITHREADS
    /* Not while an interpreter is being cloned, nor inside threads::shared's
     * (see site_probe.c: its statement is not where perl is). */
    if (PL_ptr_table || PL_phase == PERL_PHASE_CONSTRUCT)
        return 0;
#endif
    *cop = PL_curcop;
    *si = PL_curstackinfo;
    return *cop && *si;
}

/* Whether `memo` says perl is at `cop` and `si` as it was then. */
static int
memo_holds(const MtProbeMemo *memo, const COP *cop, const PERL_SI *si)
{
    return memo->site && PTR2UV(cop) == memo->cop && PTR2UV(si) == memo->si
        && PTR2UV(si->si_cxstack) == memo->context_stack
        && (int64_t)si->si_cxix == memo->cxix
        && (uint32_t)CopLINE(cop) == memo->line && MT_FILE_KEY(cop) == memo->file_key;
}

MT_HIDDEN const MtProbeMemo *
memtrace_probe_again(MtProbeMemo *table)
{
    const COP *cop;
    const PERL_SI *si;
    const MtProbeMemo *set;
    uint64_t callers = 0;
    int way, ok, walked = 0;
    if (!perl_is_at(&cop, &si))
        return NULL;
    set = set_for(table, cop);
    for (way = 0; way < MT_PROBE_MEMO_WAYS; way++) {
        const MtProbeMemo *memo = &set[way];
        if (!memo_holds(memo, cop, si))
            continue;
        if (memtrace_stack_depth <= 1)
            return memo;
        if (memo->in_place) {
            if (subs_hold(memo, si))
                return memo;
            continue;
        }
        if (!walked) {
            callers = callers_now(cop, &ok, NULL);
            if (!ok)
                return NULL;
            walked = 1;
        }
        if (memo->callers == callers)
            return memo;
    }
    return NULL;
}

/* The newest entry of a set is its first: the others move down one, the
 * oldest goes, unless an entry for the same COP is there to replace. */
MT_HIDDEN const MtProbeMemo *
memtrace_probe_remember(MtProbeMemo *table, uint32_t site)
{
    const COP *cop;
    const PERL_SI *si;
    MtProbeMemo *set, *memo, walked;
    uint64_t callers;
    int way, ok;
    if (!perl_is_at(&cop, &si))
        return NULL;
    if (memtrace_stack_depth > 1 && pending.cop == PTR2UV(cop) && pending.si == PTR2UV(si)
        && pending.context_stack == PTR2UV(si->si_cxstack) && pending.cxix == si->si_cxix) {
        walked = pending;
        callers = pending.callers;
    } else {
        callers = callers_now(cop, &ok, &walked);
        if (!ok)
            return NULL;
    }
    pending.cop = 0;
    set = set_for(table, cop);
    /* A statement reached from other callers is another entry: a sub
     * called from two places keeps both. */
    for (way = 0; way < MT_PROBE_MEMO_WAYS - 1
                  && !(set[way].cop == PTR2UV(cop) && set[way].callers == callers);
         way++)
        ;
    memmove(&set[1], &set[0], (size_t)way * sizeof *set);
    memo = &set[0];
    memo->cop = PTR2UV(cop);
    memo->si = PTR2UV(si);
    memo->context_stack = PTR2UV(si->si_cxstack);
    memo->cxix = si->si_cxix;
    memo->file_key = MT_FILE_KEY(cop);
    memo->line = (uint32_t)CopLINE(cop);
    memo->site = site;
    memo->callers = callers;
    memo->in_place = walked.in_place;
    memo->n_subs = walked.n_subs;
    memcpy(memo->subs, walked.subs, walked.n_subs * sizeof walked.subs[0]);
    return memo;
}

/* The inline check reads exactly what memtrace_probe_again compares. */
#ifndef MULTIPLICITY
STATIC_ASSERT_DECL(sizeof(((COP *)0)->cop_line) == sizeof(uint32_t));
STATIC_ASSERT_DECL(sizeof(((PERL_SI *)0)->si_cxix) == sizeof(int32_t));
STATIC_ASSERT_DECL(sizeof(((PERL_SI *)0)->si_cxstack) == sizeof(uintptr_t));
STATIC_ASSERT_DECL(sizeof(((COP *)0)->cop_filegv) == sizeof(uintptr_t));
#endif

MT_HIDDEN void
memtrace_probe_layout(MtProbeLayout *out)
{
    memset(out, 0, sizeof *out);
    out->entries = MT_PROBE_MEMO_ENTRIES;
    out->memo_subs = MT_MEMO_SUBS;
    out->stack_depth = memtrace_stack_depth;
    out->cx_size = (uint32_t)sizeof(PERL_CONTEXT);
    out->cx_oldcop = (uint32_t)STRUCT_OFFSET(PERL_CONTEXT, blk_oldcop);
    out->cx_cv = (uint32_t)STRUCT_OFFSET(PERL_CONTEXT, blk_sub.cv);
#ifndef MULTIPLICITY
    out->curcop = PTR2UV(&PL_curcop);
    out->curstackinfo = PTR2UV(&PL_curstackinfo);
    out->si_cxstack = (uint32_t)STRUCT_OFFSET(PERL_SI, si_cxstack);
    out->si_cxix = (uint32_t)STRUCT_OFFSET(PERL_SI, si_cxix);
    out->cop_line = (uint32_t)STRUCT_OFFSET(COP, cop_line);
    out->cop_file = (uint32_t)STRUCT_OFFSET(COP, cop_filegv);
#elif defined(USE_ITHREADS) && defined(PERL_THREAD_LOCAL) && defined(__x86_64__)
    {
        /* On x86-64 the thread pointer is the word at %fs:0. */
        uintptr_t thread_pointer;
        __asm__("mov %%fs:0, %0" : "=r"(thread_pointer));
        out->context_tls = (int64_t)(PTR2UV(&PL_current_context) - thread_pointer);
    }
    out->i_curcop = (uint32_t)STRUCT_OFFSET(struct interpreter, Icurcop);
    out->i_curstackinfo = (uint32_t)STRUCT_OFFSET(struct interpreter, Icurstackinfo);
    out->i_ptr_table = (uint32_t)STRUCT_OFFSET(struct interpreter, Iptr_table);
    out->i_phase = (uint32_t)STRUCT_OFFSET(struct interpreter, Iphase);
    out->phase_construct = PERL_PHASE_CONSTRUCT;
    out->si_cxstack = (uint32_t)STRUCT_OFFSET(PERL_SI, si_cxstack);
    out->si_cxix = (uint32_t)STRUCT_OFFSET(PERL_SI, si_cxix);
    out->cop_line = (uint32_t)STRUCT_OFFSET(COP, cop_line);
    out->cop_file = (uint32_t)STRUCT_OFFSET(COP, cop_file);
    out->cop_seq = (uint32_t)STRUCT_OFFSET(COP, cop_seq);
#endif
}

#if defined(MULTIPLICITY) && defined(USE_ITHREADS) && defined(PERL_THREAD_LOCAL) && defined(__x86_64__)
/* What the in-place check reads, at the widths it reads them. */
STATIC_ASSERT_DECL(sizeof(((struct interpreter *)0)->Iphase) == sizeof(uint32_t));
STATIC_ASSERT_DECL(sizeof(((COP *)0)->cop_seq) == sizeof(uint32_t));
STATIC_ASSERT_DECL(sizeof(((COP *)0)->cop_line) == sizeof(uint32_t));
STATIC_ASSERT_DECL(sizeof(((PERL_SI *)0)->si_cxix) == sizeof(int32_t));
#endif

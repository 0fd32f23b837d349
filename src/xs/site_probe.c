/*
 * The Perl site of an event: which statement (PL_curcop) and which sub
 * were running when perl logged it. Called from the recorder's hooks, so
 * it reads perl's state and nothing else: no allocation, no perl call.
 * (The memo in front of it, for the common case of many events from one
 * statement, is perl_probe.c.)
 */
#include "shim_private.h"
#include "cop_key.h"

/* ---- Perl sites ---------------------------------------------------------- */

/* The sub (or format) whose statement PL_curcop is: the innermost one on
 * any context stack, or NULL at file level.
 *
 * One frame gives both the line and the sub. While perl enters a sub
 * (pp_entersub: its frame pushed, @_ and the pad being set up) and until
 * the sub's first statement runs, PL_curcop is still the caller's
 * statement, which the new frame saved as its blk_oldcop: that frame is
 * skipped, so such allocations are the caller's statement, in the caller's
 * sub (not "the caller's line, in the callee"). */
static const CV *
running_sub(pTHX_ uintptr_t realloc_old, int *unsafe)
{
    const PERL_SI *si;
    const COP *cop = PL_curcop;
    for (si = PL_curstackinfo; si; si = si->si_prev) {
        I32 i;
        if (PTR2UV(si->si_cxstack) == realloc_old) {
            *unsafe = 1; /* this very stack is being moved */
            return NULL;
        }
        for (i = si->si_cxix; i >= 0; i--) {
            const PERL_CONTEXT *cx = &si->si_cxstack[i];
            const U8 type = CxTYPE(cx);
            if ((type == CXt_SUB || type == CXt_FORMAT) && cx->blk_sub.cv) {
                if (cx->blk_oldcop == cop)
                    continue; /* entered, not yet running: the caller's */
                return cx->blk_sub.cv;
            }
        }
    }
    return NULL;
}

#ifdef USE_ITHREADS
/* threads::shared keeps the shared variables in an interpreter of its own,
 * which never runs Perl code: it stays in its construction phase. A thread
 * that changes a shared variable switches into it (PERL_SET_CONTEXT) for
 * the moment, under threads::shared's lock, so its PL_curcop says nothing
 * of the program. The statement that made the change is the one the thread
 * was running when it switched: the recorder takes that thread's last Perl
 * site (MT_RUNS_NO_CODE). */
static PerlInterpreter *shared_space;

static int
runs_no_code(pTHX)
{
    if (PL_phase != PERL_PHASE_CONSTRUCT)
        return 0;
    if (!__atomic_load_n(&shared_space, __ATOMIC_RELAXED)) {
        PerlInterpreter *none = NULL;
        __atomic_compare_exchange_n(&shared_space, &none, my_perl, 0, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED);
    }
    return 1;
}

size_t
memtrace_shim_shared_sv_arenas(MtArena *out, size_t cap)
{
    PerlInterpreter *my_perl = __atomic_load_n(&shared_space, __ATOMIC_ACQUIRE);
    const SV *sva;
    size_t n = 0;
    if (!my_perl)
        return 0;
    for (sva = PL_sv_arenaroot; sva; sva = MUTABLE_SV(SvANY(sva)), n++) {
        if (n < cap) {
            out[n].start = PTR2UV(sva + 1);
            out[n].end = PTR2UV(sva + SvREFCNT(sva));
        }
    }
    return n;
}
#else
size_t
memtrace_shim_shared_sv_arenas(MtArena *out, size_t cap)
{
    PERL_UNUSED_ARG(out);
    PERL_UNUSED_ARG(cap);
    return 0;
}
#endif

int
memtrace_shim_current_cop(uintptr_t realloc_old, MtWalkMemo *memo, MtCurrentCop *out)
{
    MT_THIS_INTERPRETER_OR(0); /* a thread with no interpreter */
    const COP *cop = PL_curcop;
    const PERL_SI *si;
    int unsafe = 0;
    const CV *cv;
    uint64_t callers = 0;
#ifdef USE_ITHREADS
    if (runs_no_code(aTHX))
        return MT_RUNS_NO_CODE;
#endif
    if (!cop)
        return 0;
#ifdef USE_ITHREADS
    /* perl_clone sets PL_curcop long before PL_curstackinfo (which a
     * -DDEBUGGING perl fills with poison until then); PL_ptr_table is set
     * for the whole clone, so allocations made while cloning get no sub. */
    if (PL_ptr_table)
        cv = NULL;
    else
#endif
    if (memtrace_stack_depth > 1) {
        /* The callers are part of the answer: walk every time. */
        if (!memtrace_walk_stack(aTHX_ cop, realloc_old, memtrace_stack_depth, &cv, &callers,
                                 NULL, NULL))
            return 0;
    } else {
        si = PL_curstackinfo;
        if (si && memo->cop == PTR2UV(cop) && memo->si == PTR2UV(si)
            && memo->context_stack == PTR2UV(si->si_cxstack) && memo->cxix == si->si_cxix
            && memo->context_stack != realloc_old) {
            /* Same statement, same stack, same depth: same sub (the stacks
             * below this one do not move while it is in use). */
            cv = INT2PTR(const CV *, memo->cv);
        } else {
            cv = running_sub(aTHX_ realloc_old, &unsafe);
            if (unsafe)
                return 0;
            if (si) {
                memo->cop = PTR2UV(cop);
                memo->si = PTR2UV(si);
                memo->context_stack = PTR2UV(si->si_cxstack);
                memo->cxix = si->si_cxix;
                memo->cv = PTR2UV(cv);
            }
        }
    }
    out->cop = PTR2UV(cop);
    out->file_key = MT_FILE_KEY(cop);
    out->line = (uint32_t)CopLINE(cop);
    out->cv = PTR2UV(cv);
    out->callers = callers;
    return 1;
}

void
memtrace_shim_set_stack_depth(uint32_t depth)
{
    if (depth < 1)
        depth = 1;
    if (depth > MT_STACK_DEPTH_MAX)
        depth = MT_STACK_DEPTH_MAX;
    memtrace_stack_depth = depth;
}

int
memtrace_shim_callers(uintptr_t realloc_old, MtCurrentCop *out, size_t cap)
{
    MT_THIS_INTERPRETER_OR(-1);
    uintptr_t frames[2 * MT_STACK_DEPTH_MAX];
    const uint32_t depth = memtrace_stack_depth;
    const CV *running;
    uint64_t callers;
    size_t n = 0, i;
    if (!PL_curcop || depth <= 1)
        return 0;
#ifdef USE_ITHREADS
    if (PL_ptr_table)
        return 0;
#endif
    if (!memtrace_walk_stack(aTHX_ PL_curcop, realloc_old, depth, &running, &callers, frames, &n))
        return -1;
    if (n > cap)
        n = cap;
    for (i = 0; i < n; i++) {
        const COP *cop = INT2PTR(const COP *, frames[2 * i]);
        out[i].cop = PTR2UV(cop);
#ifdef USE_ITHREADS
        out[i].file_key = PTR2UV(cop->cop_file);
#else
        out[i].file_key = PTR2UV(CopFILEGV(cop));
#endif
        out[i].line = (uint32_t)CopLINE(cop);
        out[i].cv = frames[2 * i + 1];
        out[i].callers = 0;
    }
    return (int)n;
}

/* The name table a stash's name lives in, if it is a separate allocation. */
static int
stash_is_moving(const HV *stash, uintptr_t realloc_old)
{
    if (!realloc_old || !stash)
        return 0;
    if (PTR2UV(HvARRAY(stash)) == realloc_old)
        return 1;
    if (SvOOK(stash) && HvAUX(stash)->xhv_name_count
        && PTR2UV(HvAUX(stash)->xhv_name_u.xhvnameu_names) == realloc_old)
        return 1;
    return 0;
}

/* Append `len` bytes to the sub name, truncating at the buffer's end. */
static void
append(MtCopText *out, const char *text, size_t len)
{
    size_t room = MT_SUB_NAME_MAX - 1 - out->sub_len;
    if (len > room)
        len = room;
    memcpy(out->sub_name + out->sub_len, text, len);
    out->sub_len += len;
    out->sub_name[out->sub_len] = '\0';
}

static int
describe_sub(pTHX_ const CV *cv, uintptr_t realloc_old, MtCopText *out)
{
    const HEK *name = NULL;
    const HV *stash = NULL;
    const char *package;

    if (!cv) {
        append(out, STR_WITH_LEN("main::RUNTIME"));
        return 1;
    }
    if (CvNAMED(cv)) {
        name = ((XPVCV *)MUTABLE_PTR(SvANY(cv)))->xcv_gv_u.xcv_hek;
        stash = CvSTASH(cv);
    } else {
        /* Not CvGV(): for a named CV it would create a GV (allocate). */
        const GV *gv = ((XPVCV *)MUTABLE_PTR(SvANY(cv)))->xcv_gv_u.xcv_gv;
        if (gv && isGV_with_GP(gv)) {
            name = GvNAME_HEK(gv);
            stash = GvSTASH(gv);
        }
    }
    if (stash_is_moving(stash, realloc_old))
        return 0;
    package = stash ? HvNAME_get(stash) : NULL;
    if (package) {
        append(out, package, strlen(package));
    } else {
        append(out, STR_WITH_LEN("__ANON__"));
    }
    append(out, STR_WITH_LEN("::"));
    if (name) {
        append(out, HEK_KEY(name), HEK_LEN(name));
    } else {
        append(out, STR_WITH_LEN("__ANON__"));
    }
    return 1;
}

int
memtrace_shim_describe_cop(const MtCurrentCop *current, uintptr_t realloc_old, MtCopText *out)
{
    MT_THIS_INTERPRETER_OR(0);
    const COP *cop = INT2PTR(const COP *, current->cop);
    const char *file = CopFILE(cop);

    out->file = file ? file : "";
    out->file_len = strlen(out->file);
    out->sub_len = 0;
    out->sub_name[0] = '\0';
    return describe_sub(aTHX_ INT2PTR(const CV *, current->cv), realloc_old, out);
}


/* The fully qualified name of a sub, for paths ("main::handler"). */
size_t
memtrace_shim_sub_name(uintptr_t cv, char *out, size_t cap)
{
    MtCopText text;
    size_t len;
    MT_THIS_INTERPRETER_OR(0);
    text.sub_len = 0;
    text.sub_name[0] = '\0';
    if (!cap || !describe_sub(aTHX_ INT2PTR(const CV *, cv), 0, &text))
        return 0;
    len = text.sub_len < cap - 1 ? text.sub_len : cap - 1;
    memcpy(out, text.sub_name, len);
    out[len] = '\0';
    return len;
}

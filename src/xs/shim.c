/*
 * The XS shim: everything that needs perl's C macros.
 *
 *  - boot_Devel__MemTrace and the XSUBs (argument stack, hashes, arrays);
 *  - reading PL_curcop and the context stack for the recorder's Perl sites;
 *  - walking the SV arenas for counts by type and class.
 *
 * The recorder itself is Rust (memtrace_rs_*, see shim.h). No Rust frame is
 * ever on the C stack when perl may croak: the XSUBs read their arguments
 * before calling Rust, and Rust returns plain data that is turned into perl
 * values here, with the recorder told to leave those allocations alone.
 */
#define PERL_NO_GET_CONTEXT

/* perl 5.36's sv_inline.h calls this under PERL_MEM_LOG, but proto.h only
 * declares it for sv.c itself. */
struct sv;
void Perl_mem_log_new_sv(const struct sv *sv, const char *filename, int linenumber, const char *funcname);

#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"
#include "perliol.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#ifndef XS_VERSION
#  define XS_VERSION "0.01"
#endif

/* ---- Perl sites ---------------------------------------------------------- */

/* The innermost sub (or format) on any context stack, or NULL at file level. */
static const CV *
running_sub(pTHX_ uintptr_t realloc_old, int *unsafe)
{
    const PERL_SI *si;
    for (si = PL_curstackinfo; si; si = si->si_prev) {
        I32 i;
        if (PTR2UV(si->si_cxstack) == realloc_old) {
            *unsafe = 1; /* this very stack is being moved */
            return NULL;
        }
        for (i = si->si_cxix; i >= 0; i--) {
            const PERL_CONTEXT *cx = &si->si_cxstack[i];
            const U8 type = CxTYPE(cx);
            if ((type == CXt_SUB || type == CXt_FORMAT) && cx->blk_sub.cv)
                return cx->blk_sub.cv;
        }
    }
    return NULL;
}

int
memtrace_shim_current_cop(uintptr_t realloc_old, MtWalkMemo *memo, MtCurrentCop *out)
{
#ifdef MULTIPLICITY
    PerlInterpreter *my_perl = PERL_GET_THX;
    if (!my_perl)
        return 0; /* a thread with no interpreter */
#endif
    const COP *cop = PL_curcop;
    const PERL_SI *si;
    int unsafe = 0;
    const CV *cv;
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
    {
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
#ifdef USE_ITHREADS
    out->file_key = PTR2UV(cop->cop_file);
#else
    out->file_key = PTR2UV(CopFILEGV(cop));
#endif
    out->line = (uint32_t)CopLINE(cop);
    out->cv = PTR2UV(cv);
    return 1;
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
#ifdef MULTIPLICITY
    PerlInterpreter *my_perl = PERL_GET_THX;
    if (!my_perl)
        return 0;
#endif
    const COP *cop = INT2PTR(const COP *, current->cop);
    const char *file = CopFILE(cop);

    out->file = file ? file : "";
    out->file_len = strlen(out->file);
    out->sub_len = 0;
    out->sub_name[0] = '\0';
    return describe_sub(aTHX_ INT2PTR(const CV *, current->cv), realloc_old, out);
}

/* ---- SVs ------------------------------------------------------------------ */

static size_t
body_size(const SV *sv)
{
    switch (SvTYPE(sv)) {
    case SVt_PV:     return sizeof(XPV);
    case SVt_PVIV:   return sizeof(XPVIV);
    case SVt_PVNV:   return sizeof(XPVNV);
    case SVt_PVMG:   return sizeof(XPVMG);
    case SVt_REGEXP: return sizeof(regexp);
    case SVt_PVGV:   return sizeof(XPVGV);
    case SVt_PVLV:   return sizeof(XPVLV);
    case SVt_PVAV:
        return sizeof(XPVAV) + (AvALLOC((AV *)sv) ? (AvMAX((AV *)sv) + 1) * sizeof(SV *) : 0);
    case SVt_PVHV:
        return sizeof(XPVHV) + (HvARRAY((HV *)sv) ? (HvMAX((HV *)sv) + 1) * sizeof(HE *) : 0);
    case SVt_PVCV:   return sizeof(XPVCV);
    case SVt_PVFM:   return sizeof(XPVFM);
    case SVt_PVIO:   return sizeof(XPVIO);
    default:         return 0;
    }
}

int
memtrace_shim_sv_info(uintptr_t address, MtSvInfo *out)
{
    const SV *sv = INT2PTR(const SV *, address);
    const svtype type = SvTYPE(sv);
    if (type == (svtype)SVTYPEMASK)
        return 0;
    out->svtype = (int32_t)type;
    out->is_ref = SvROK(sv) ? 1 : 0;
    out->size = sizeof(SV) + body_size(sv);
    if (type >= SVt_PV && type <= SVt_PVMG && !SvROK(sv) && SvPVX_const(sv) && SvLEN(sv))
        out->size += SvLEN(sv);
    return 1;
}

size_t
memtrace_shim_sv_arenas(MtArena *out, size_t cap)
{
#ifdef MULTIPLICITY
    PerlInterpreter *my_perl = PERL_GET_THX;
    if (!my_perl)
        return 0;
#endif
    const SV *sva;
    size_t n = 0;
    for (sva = PL_sv_arenaroot; sva; sva = MUTABLE_SV(SvANY(sva)), n++) {
        if (n < cap) {
            out[n].start = PTR2UV(sva + 1);
            out[n].end = PTR2UV(sva + SvREFCNT(sva));
        }
    }
    return n;
}

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

static void
count_stash(ArenaCounts *c, const HV *stash)
{
    size_t i;
    if (c->stash_used * 2 >= c->stash_cap) {
        size_t old_cap = c->stash_cap, j;
        StashCount *old = c->stashes;
        c->stash_cap = old_cap ? old_cap * 2 : 64;
        c->stashes = (StashCount *)calloc(c->stash_cap, sizeof(StashCount));
        if (!c->stashes) { /* out of memory: drop the class breakdown */
            c->stashes = old;
            c->stash_cap = old_cap;
            return;
        }
        c->stash_used = 0;
        for (j = 0; j < old_cap; j++)
            if (old[j].stash) {
                size_t k = (PTR2UV(old[j].stash) >> 4) & (c->stash_cap - 1);
                while (c->stashes[k].stash)
                    k = (k + 1) & (c->stash_cap - 1);
                c->stashes[k] = old[j];
                c->stash_used++;
            }
        free(old);
    }
    i = (PTR2UV(stash) >> 4) & (c->stash_cap - 1);
    while (c->stashes[i].stash && c->stashes[i].stash != stash)
        i = (i + 1) & (c->stash_cap - 1);
    if (!c->stashes[i].stash) {
        c->stashes[i].stash = stash;
        c->stash_used++;
    }
    c->stashes[i].count++;
}

/* Visit every live SV head, as perl's own visit() in sv.c does.
 *
 * A checkpoint walks a million and more heads, so each head's flags and
 * count are read once and it is counted without branching: in one of
 * WALK_SLOTS counters, picked by its type (free heads and those with no
 * references in WALK_FREE, references in WALK_REF); objects, the rare
 * case, branch to their stash count. Heads go two at a time into two sets
 * of counters, so that an increment need not wait for the one before it
 * (neighbouring heads are often of one type). */
#define WALK_FREE 256
#define WALK_REF 257
#define WALK_SLOTS 258

static size_t
walk_slot(const SV *sv)
{
    const U32 flags = SvFLAGS(sv);
    size_t slot = flags & SVTYPEMASK;
    if (flags & SVf_ROK)
        slot = WALK_REF;
    if (slot == SVTYPEMASK || !SvREFCNT(sv))
        slot = WALK_FREE;
    return slot;
}

/* One head into `counts` (or, an object, into its stash's count). */
static void
walk_one(ArenaCounts *c, UV *counts, const SV *sv, int by_type)
{
    const size_t slot = walk_slot(sv);
    if (slot != WALK_FREE && SvOBJECT(sv)) {
        c->total++;
        if (by_type)
            count_stash(c, SvSTASH(sv));
        return;
    }
    counts[slot]++;
}

static void
walk_arenas(pTHX_ ArenaCounts *c, int by_type)
{
    SV *sva;
    UV counts[2][WALK_SLOTS];
    size_t i;
    memset(c, 0, sizeof(*c));
    memset(counts, 0, sizeof(counts));
    for (sva = PL_sv_arenaroot; sva; sva = MUTABLE_SV(SvANY(sva))) {
        const SV *const svend = &sva[SvREFCNT(sva)];
        const SV *sv = sva + 1;
        for (; sv + 1 < svend; sv += 2) {
            if (UNLIKELY((SvFLAGS(sv) | SvFLAGS(sv + 1)) & SVs_OBJECT)) {
                /* (free heads never have the flag) */
                walk_one(c, counts[0], sv, by_type);
                walk_one(c, counts[1], sv + 1, by_type);
                continue;
            }
            counts[0][walk_slot(sv)]++;
            counts[1][walk_slot(sv + 1)]++;
        }
        if (sv < svend)
            walk_one(c, counts[0], sv, by_type);
    }
    for (i = 0; i < WALK_SLOTS; i++) {
        const UV n = counts[0][i] + counts[1][i];
        if (i == WALK_FREE)
            continue;
        c->total += n;
        if (!by_type)
            continue;
        if (i == WALK_REF)
            c->refs += n;
        else if (i < SVt_LAST)
            c->by_type[i] += n;
    }
}

/* This interpreter's SV arenas, sorted by address. Addresses come from the
 * recorder (or from Perl code), so each is checked against them before
 * anything reads the SV head there; sorted, so that checking many costs a
 * binary search each, not a walk of every arena. */
typedef struct {
    UV start, end;
} ArenaRange;

typedef struct {
    ArenaRange *ranges; /* malloc'd, not perl's Newx */
    size_t len;
} ArenaIndex;

static int
compare_range(const void *a, const void *b)
{
    const UV x = ((const ArenaRange *)a)->start, y = ((const ArenaRange *)b)->start;
    return x < y ? -1 : x > y;
}

/* Croaks (having allocated nothing) if out of memory. */
static void
arena_index_build(pTHX_ ArenaIndex *ix)
{
    const SV *sva;
    size_t n = 0;
    for (sva = PL_sv_arenaroot; sva; sva = MUTABLE_SV(SvANY(sva)))
        n++;
    ix->len = 0;
    ix->ranges = (ArenaRange *)malloc((n ? n : 1) * sizeof(ArenaRange));
    if (!ix->ranges)
        croak("Devel::MemTrace: out of memory indexing the SV arenas");
    for (sva = PL_sv_arenaroot; sva; sva = MUTABLE_SV(SvANY(sva))) {
        ix->ranges[ix->len].start = PTR2UV(sva + 1);
        ix->ranges[ix->len].end = PTR2UV(sva + SvREFCNT(sva));
        ix->len++;
    }
    qsort(ix->ranges, ix->len, sizeof(ArenaRange), compare_range);
}

static void
arena_index_free(ArenaIndex *ix)
{
    free(ix->ranges);
    ix->ranges = NULL;
    ix->len = 0;
}

/* The live SV at `address` in these arenas, or NULL. */
static SV *
arena_index_sv(const ArenaIndex *ix, UV address)
{
    size_t lo = 0, hi = ix->len;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (ix->ranges[mid].start <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    {
        const ArenaRange *r = &ix->ranges[lo - 1];
        SV *sv;
        if (address >= r->end || (address - r->start) % sizeof(SV) != 0)
            return NULL;
        sv = INT2PTR(SV *, address);
        return SvTYPE(sv) == (svtype)SVTYPEMASK || !SvREFCNT(sv) ? NULL : sv;
    }
}

/* ---- building return values ------------------------------------------------ */

static void
store_uv(pTHX_ HV *hv, const char *key, UV value)
{
    (void)hv_store(hv, key, strlen(key), newSVuv(value), 0);
}

static void
store_iv(pTHX_ HV *hv, const char *key, IV value)
{
    (void)hv_store(hv, key, strlen(key), newSViv(value), 0);
}

static void
store_str(pTHX_ HV *hv, const char *key, const char *value)
{
    (void)hv_store(hv, key, strlen(key), value ? newSVpv(value, 0) : newSV(0), 0);
}

static HV *
by_type_hash(pTHX_ const ArenaCounts *c)
{
    HV *hv = newHV();
    size_t i;
    for (i = 0; i < SVt_LAST; i++)
        if (c->by_type[i])
            store_uv(aTHX_ hv, memtrace_rs_sv_type_name((int32_t)i, 0), c->by_type[i]);
    if (c->refs)
        store_uv(aTHX_ hv, "REF", c->refs);
    for (i = 0; i < c->stash_cap; i++) {
        const HV *stash = c->stashes[i].stash;
        const char *name;
        SV **slot;
        if (!stash)
            continue;
        name = HvNAME_get(stash);
        if (!name)
            name = "__ANON__";
        /* Two anonymous stashes share a key: add up. */
        slot = hv_fetch(hv, name, strlen(name), 0);
        if (slot)
            sv_setuv(*slot, SvUV(*slot) + c->stashes[i].count);
        else
            store_uv(aTHX_ hv, name, c->stashes[i].count);
    }
    return hv;
}

static void
free_counts(ArenaCounts *c)
{
    free(c->stashes);
    c->stashes = NULL;
}

static HV *
snapshot_hash(pTHX_ const MtSnapshot *s)
{
    HV *hv = newHV();
    store_uv(aTHX_ hv, "iteration", s->iteration);
    store_uv(aTHX_ hv, "svs", s->svs);
    store_iv(aTHX_ hv, "svs_delta", s->svs_delta);
    store_uv(aTHX_ hv, "mem_live", s->mem_live);
    store_uv(aTHX_ hv, "mem_bytes", s->mem_bytes);
    store_iv(aTHX_ hv, "mem_live_delta", s->mem_live_delta);
    store_iv(aTHX_ hv, "mem_bytes_delta", s->mem_bytes_delta);
    store_uv(aTHX_ hv, "sv_live", s->sv_live);
    store_uv(aTHX_ hv, "new_leaks", s->new_leaks);
    return hv;
}

static void
unsuppress(pTHX_ void *unused)
{
    PERL_UNUSED_ARG(unused);
    memtrace_rs_suppress(0);
}

/* What an XSUB allocates for its return value is the tool's, not the
 * program's: don't record it. The save stack undoes this even on croak. */
#define BEGIN_OWN_ALLOCATIONS \
    ENTER;                                    \
    memtrace_rs_suppress(1);                  \
    SAVEDESTRUCTOR_X(unsuppress, NULL)
#define END_OWN_ALLOCATIONS LEAVE

static U32
uv_arg(pTHX_ SV *sv, const char *what)
{
    if (!looks_like_number(sv) || SvIV(sv) < 0 || SvUV(sv) > 0xFFFFFFFFu)
        croak("Devel::MemTrace: %s must be a non-negative integer, not '%" SVf "'", what, SVfARG(sv));
    return (U32)SvUV(sv);
}

/* The (skip, min_age) arguments of the XSUBs that apply the leak rule. */
#define LEAK_RULE_ARGS(skip, min_age)                  \
    STMT_START {                                       \
        if (items != 2)                                \
            croak_xs_usage(cv, "skip, min_age");       \
        skip = uv_arg(aTHX_ ST(0), "skip");            \
        min_age = uv_arg(aTHX_ ST(1), "min_age");      \
    } STMT_END

/* ---- XSUBs --------------------------------------------------------------- */

XS_INTERNAL(XS_Devel__MemTrace__is_memtrace_perl)
{
    dXSARGS;
    Dl_info hook, ours;
    void *resolved = dlsym(RTLD_DEFAULT, "Perl_mem_log_alloc");
    int routed = resolved && dladdr(resolved, &hook) && dladdr((void *)&memtrace_rs_marker, &ours)
        && hook.dli_fbase == ours.dli_fbase;
    PERL_UNUSED_VAR(items);
    ST(0) = boolSV(routed);
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__enable)
{
    dXSARGS;
    ArenaCounts c;
    PERL_UNUSED_VAR(items);
    walk_arenas(aTHX_ &c, 0);
    memtrace_rs_enable(c.total);
    XSRETURN_EMPTY;
}

XS_INTERNAL(XS_Devel__MemTrace__pause)
{
    dXSARGS;
    PERL_UNUSED_VAR(items);
    memtrace_rs_pause();
    XSRETURN_EMPTY;
}

XS_INTERNAL(XS_Devel__MemTrace__disable)
{
    dXSARGS;
    PERL_UNUSED_VAR(items);
    memtrace_rs_disable();
    XSRETURN_EMPTY;
}

XS_INTERNAL(XS_Devel__MemTrace__state)
{
    dXSARGS;
    static const char *const names[] = { "off", "paused", "recording" };
    int state = memtrace_rs_state();
    PERL_UNUSED_VAR(items);
    ST(0) = sv_2mortal(newSVpv(names[state < 0 || state > 2 ? 0 : state], 0));
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__is_recording)
{
    dXSARGS;
    PERL_UNUSED_VAR(items);
    ST(0) = boolSV(memtrace_rs_state() == 2);
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__current_iteration)
{
    dXSARGS;
    PERL_UNUSED_VAR(items);
    ST(0) = sv_2mortal(newSVuv(memtrace_rs_current_iteration()));
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__checkpoint)
{
    dXSARGS;
    U32 skip, min_age;
    ArenaCounts c;
    MtSnapshot snap;
    HV *result;
    LEAK_RULE_ARGS(skip, min_age);
    if (GIMME_V == G_VOID) {
        /* Nobody wants the result (a checkpoint per loop pass, or the
         * -iteration wrapper): no walk of every SV head for by_type. The
         * live SV count is perl's own: PL_sv_count counts the heads taken
         * from the arenas and not yet returned, which is what the walk
         * counts (heads with no references exist only while being freed). */
        if (!memtrace_rs_checkpoint((UV)PL_sv_count, skip, min_age, &snap))
            croak("Devel::MemTrace: the recorder failed to close the iteration (see the message above)");
        XSRETURN_EMPTY;
    }
    walk_arenas(aTHX_ &c, 1);
    if (!memtrace_rs_checkpoint(c.total, skip, min_age, &snap)) {
        free_counts(&c);
        croak("Devel::MemTrace: the recorder failed to close the iteration (see the message above)");
    }
    BEGIN_OWN_ALLOCATIONS;
    result = snapshot_hash(aTHX_ &snap);
    (void)hv_stores(result, "by_type", newRV_noinc((SV *)by_type_hash(aTHX_ &c)));
    ST(0) = sv_2mortal(newRV_noinc((SV *)result));
    END_OWN_ALLOCATIONS;
    free_counts(&c);
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__arena_counts)
{
    dXSARGS;
    ArenaCounts c;
    PERL_UNUSED_VAR(items);
    walk_arenas(aTHX_ &c, 1);
    BEGIN_OWN_ALLOCATIONS;
    ST(0) = sv_2mortal(newRV_noinc((SV *)by_type_hash(aTHX_ &c)));
    END_OWN_ALLOCATIONS;
    free_counts(&c);
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__arena_total)
{
    dXSARGS;
    ArenaCounts c;
    PERL_UNUSED_VAR(items);
    walk_arenas(aTHX_ &c, 0);
    ST(0) = sv_2mortal(newSVuv(c.total));
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__history)
{
    dXSARGS;
    const MtSnapshot *items_out;
    size_t len, i;
    MtList *list;
    AV *av;
    PERL_UNUSED_VAR(items);
    list = memtrace_rs_history(&items_out, &len);
    BEGIN_OWN_ALLOCATIONS;
    av = newAV();
    for (i = 0; i < len; i++)
        av_push(av, newRV_noinc((SV *)snapshot_hash(aTHX_ &items_out[i])));
    ST(0) = sv_2mortal(newRV_noinc((SV *)av));
    END_OWN_ALLOCATIONS;
    memtrace_rs_free_list(list);
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__leaks)
{
    dXSARGS;
    U32 skip, min_age;
    const MtLeak *leaks;
    size_t len, i;
    MtList *list;
    AV *av;
    LEAK_RULE_ARGS(skip, min_age);
    list = memtrace_rs_leaks(skip, min_age, &leaks, &len);
    BEGIN_OWN_ALLOCATIONS;
    av = newAV();
    av_extend(av, len);
    for (i = 0; i < len; i++) {
        const MtLeak *l = &leaks[i];
        HV *hv = newHV();
        store_uv(aTHX_ hv, "address", l->address);
        store_str(aTHX_ hv, "kind", l->kind);
        store_str(aTHX_ hv, "type", l->type_name);
        store_uv(aTHX_ hv, "size", l->size);
        store_uv(aTHX_ hv, "iteration", l->iteration);
        store_str(aTHX_ hv, "file", l->file);
        store_uv(aTHX_ hv, "line", l->line);
        store_str(aTHX_ hv, "sub", l->sub_name);
        store_str(aTHX_ hv, "c_file", l->c_file);
        store_uv(aTHX_ hv, "c_line", l->c_line);
        store_str(aTHX_ hv, "c_func", l->c_func);
        av_push(av, newRV_noinc((SV *)hv));
    }
    ST(0) = sv_2mortal(newRV_noinc((SV *)av));
    END_OWN_ALLOCATIONS;
    memtrace_rs_free_list(list);
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__leak_sites)
{
    dXSARGS;
    U32 skip, min_age;
    const MtLeakSite *sites;
    size_t len, i, j;
    MtList *list;
    AV *av;
    LEAK_RULE_ARGS(skip, min_age);
    list = memtrace_rs_leak_sites(skip, min_age, &sites, &len);
    BEGIN_OWN_ALLOCATIONS;
    av = newAV();
    for (i = 0; i < len; i++) {
        const MtLeakSite *s = &sites[i];
        HV *hv = newHV();
        AV *per = newAV();
        HV *types = newHV();
        store_str(aTHX_ hv, "kind", s->kind);
        store_str(aTHX_ hv, "type", s->types_len ? s->types[0].name : NULL);
        store_str(aTHX_ hv, "file", s->file);
        store_uv(aTHX_ hv, "line", s->line);
        store_str(aTHX_ hv, "sub", s->sub_name);
        store_str(aTHX_ hv, "c_file", s->c_file);
        store_uv(aTHX_ hv, "c_line", s->c_line);
        store_str(aTHX_ hv, "c_func", s->c_func);
        store_uv(aTHX_ hv, "count", s->count);
        store_uv(aTHX_ hv, "bytes", s->bytes);
        store_uv(aTHX_ hv, "first_iteration", s->first_iteration);
        store_str(aTHX_ hv, "status", s->status);
        for (j = 0; j < s->per_iteration_len; j++)
            av_push(per, newSVuv(s->per_iteration[j]));
        (void)hv_stores(hv, "per_iteration", newRV_noinc((SV *)per));
        for (j = 0; j < s->types_len; j++)
            store_uv(aTHX_ types, s->types[j].name, s->types[j].count);
        (void)hv_stores(hv, "types", newRV_noinc((SV *)types));
        av_push(av, newRV_noinc((SV *)hv));
    }
    ST(0) = sv_2mortal(newRV_noinc((SV *)av));
    END_OWN_ALLOCATIONS;
    memtrace_rs_free_list(list);
    XSRETURN(1);
}

XS_INTERNAL(XS_Devel__MemTrace__stats)
{
    dXSARGS;
    MtStats s;
    HV *hv;
    PERL_UNUSED_VAR(items);
    memtrace_rs_stats(&s);
    BEGIN_OWN_ALLOCATIONS;
    hv = newHV();
    store_uv(aTHX_ hv, "events", s.events);
    store_uv(aTHX_ hv, "allocs", s.allocs);
    store_uv(aTHX_ hv, "reallocs", s.reallocs);
    store_uv(aTHX_ hv, "frees", s.frees);
    store_uv(aTHX_ hv, "new_svs", s.new_svs);
    store_uv(aTHX_ hv, "del_svs", s.del_svs);
    store_uv(aTHX_ hv, "unknown_frees", s.unknown_frees);
    store_uv(aTHX_ hv, "overwritten", s.overwritten);
    store_uv(aTHX_ hv, "nursery_cancelled", s.nursery_cancelled);
    store_uv(aTHX_ hv, "live_records", s.live_records);
    store_uv(aTHX_ hv, "mem_live", s.mem_live);
    store_uv(aTHX_ hv, "mem_bytes", s.mem_bytes);
    store_uv(aTHX_ hv, "sv_live", s.sv_live);
    store_uv(aTHX_ hv, "sites", s.sites);
    store_uv(aTHX_ hv, "perl_sites", s.perl_sites);
    store_uv(aTHX_ hv, "table_bytes", s.table_bytes);
    store_uv(aTHX_ hv, "site_table_bytes", s.site_table_bytes);
    store_uv(aTHX_ hv, "iteration", s.iteration);
    (void)hv_stores(hv, "bytes_per_record",
                    newSVnv(s.live_records ? (NV)s.table_bytes / (NV)s.live_records : 0.0));
    ST(0) = sv_2mortal(newRV_noinc((SV *)hv));
    END_OWN_ALLOCATIONS;
    XSRETURN(1);
}

/* The integers in the array `arg` refers to, malloc'd (free them), and
 * their number; croaks first, with nothing allocated, on anything else. */
static UV *
address_list(pTHX_ CV *cv, SV *arg, SSize_t *len)
{
    AV *av;
    SSize_t i, n;
    UV *out;
    if (!SvROK(arg) || SvTYPE(SvRV(arg)) != SVt_PVAV)
        croak_xs_usage(cv, "\\@addresses");
    av = (AV *)SvRV(arg);
    n = av_top_index(av) + 1;
    for (i = 0; i < n; i++) {
        SV **address = av_fetch(av, i, 0);
        if (!address || !looks_like_number(*address))
            croak("Devel::MemTrace: %s needs addresses (integers), not '%" SVf "'",
                  GvNAME(CvGV(cv)), SVfARG(address ? *address : &PL_sv_undef));
    }
    out = (UV *)malloc((n ? (size_t)n : 1) * sizeof(UV));
    if (!out)
        croak("Devel::MemTrace: out of memory");
    for (i = 0; i < n; i++)
        out[i] = SvUV(*av_fetch(av, i, 0));
    *len = n;
    return out;
}

/* An arrayref with, for each address in the array `arg` refers to, what
 * `element` makes of the live SV of this interpreter there (NULL if none). */
typedef SV *(*ElementOf)(pTHX_ SV *sv);

static SV *
per_address(pTHX_ CV *cv, SV *arg, ElementOf element)
{
    ArenaIndex ix;
    AV *out;
    SV *result;
    SSize_t i, n;
    UV *addresses = address_list(aTHX_ cv, arg, &n);
    arena_index_build(aTHX_ &ix);
    BEGIN_OWN_ALLOCATIONS;
    out = newAV();
    av_extend(out, n);
    for (i = 0; i < n; i++)
        av_push(out, element(aTHX_ arena_index_sv(&ix, addresses[i])));
    result = sv_2mortal(newRV_noinc((SV *)out));
    END_OWN_ALLOCATIONS;
    arena_index_free(&ix);
    free(addresses);
    return result;
}

static SV *
reference_to(pTHX_ SV *sv)
{
    return sv ? newRV_inc(sv) : newSV(0);
}

/* 0: no live SV there; 2: a `my` variable out of scope (SvPADSTALE: the
 * fresh SV perl puts in a pad when the old one is still referenced,
 * waiting for the next call); 1: any other live SV. */
static SV *
liveness_of(pTHX_ SV *sv)
{
    return newSViv(!sv ? 0 : SvPADSTALE(sv) ? 2 : 1);
}

/* References to the SVs at the given addresses (undef where there is no
 * live SV of this interpreter): what Test::MemTrace's leaked_refs returns. */
XS_INTERNAL(XS_Devel__MemTrace__sv_refs)
{
    dXSARGS;
    if (items != 1)
        croak_xs_usage(cv, "\\@addresses");
    ST(0) = per_address(aTHX_ cv, ST(0), reference_to);
    XSRETURN(1);
}

/* For each address, liveness_of the SV there. */
XS_INTERNAL(XS_Devel__MemTrace__sv_states)
{
    dXSARGS;
    if (items != 1)
        croak_xs_usage(cv, "\\@addresses");
    ST(0) = per_address(aTHX_ cv, ST(0), liveness_of);
    XSRETURN(1);
}

/* The buffers of a handle's buffered layers (:perlio, :crlf): the 8 KiB
 * that perlio.c Newx'es on first use of STDOUT belongs to STDOUT. */
static size_t
io_buffers(pTHX_ PerlIO *f, UV *out, size_t cap)
{
    size_t n = 0;
    for (; PerlIOValid(f) && n < cap; f = PerlIONext(f)) {
        const PerlIOl *layer = PerlIOBase(f);
        if ((layer->tab == &PerlIO_perlio || layer->tab == &PerlIO_crlf)
            && ((const PerlIOBuf *)layer)->buf)
            out[n++] = PTR2UV(((const PerlIOBuf *)layer)->buf);
    }
    return n;
}

#define MAX_BODY_BUFFERS 6

/* The C buffers a live SV keeps its value in (its string, array, hash
 * buckets, a regexp's capture offsets and copied subject, a handle's I/O
 * buffers): what Newx/Renew allocated for it. Returns how many. */
static size_t
body_buffers(pTHX_ const SV *sv, UV out[MAX_BODY_BUFFERS])
{
    size_t n = 0;
    switch (SvTYPE(sv)) {
    case SVt_PVAV:
        out[n++] = PTR2UV(AvALLOC((const AV *)sv));
        break;
    case SVt_PVHV:
        out[n++] = PTR2UV(HvARRAY((const HV *)sv));
        break;
    case SVt_PV:
    case SVt_PVIV:
    case SVt_PVNV:
    case SVt_PVMG:
    case SVt_PVLV:
        if (!SvROK(sv) && SvPVX_const(sv) && SvLEN(sv)) {
            STRLEN offset = 0;
            if (SvOOK(sv))
                SvOOK_offset(sv, offset);
            out[n++] = PTR2UV(SvPVX_const(sv)) - offset;
        }
        break;
    case SVt_REGEXP: {
        const struct regexp *rx = ReANY((const REGEXP *)sv);
        out[n++] = PTR2UV(rx->offs);
        if (RXp_MATCH_COPIED(rx))
            out[n++] = PTR2UV(rx->subbeg);
        break;
    }
    case SVt_PVIO:
        n += io_buffers(aTHX_ IoIFP((const IO *)sv), out + n, 2);
        if (IoOFP((const IO *)sv) != IoIFP((const IO *)sv))
            n += io_buffers(aTHX_ IoOFP((const IO *)sv), out + n, 2);
        break;
    default:
        break;
    }
    return n;
}

static int
compare_uv(const void *a, const void *b)
{
    const UV x = *(const UV *)a, y = *(const UV *)b;
    return x < y ? -1 : x > y;
}

/* For each address, the live SV of this interpreter whose value buffer it
 * is (the SV's address), or 0. One walk of the arenas for all of them. */
XS_INTERNAL(XS_Devel__MemTrace__buffer_owners)
{
    dXSARGS;
    AV *owners_av;
    SSize_t i, n, unique;
    UV *addresses, *sorted, *owners;
    SV *sva;
    if (items != 1)
        croak_xs_usage(cv, "\\@addresses");
    addresses = address_list(aTHX_ cv, ST(0), &n);
    sorted = (UV *)malloc((n ? (size_t)n : 1) * sizeof(UV));
    owners = (UV *)calloc(n ? (size_t)n : 1, sizeof(UV));
    if (!sorted || !owners) {
        free(addresses);
        free(sorted);
        free(owners);
        croak("Devel::MemTrace: out of memory");
    }
    memcpy(sorted, addresses, (size_t)n * sizeof(UV));
    qsort(sorted, (size_t)n, sizeof(UV), compare_uv);
    for (i = 1, unique = n ? 1 : 0; i < n; i++)
        if (sorted[i] != sorted[unique - 1])
            sorted[unique++] = sorted[i];
    for (sva = PL_sv_arenaroot; unique && sva; sva = MUTABLE_SV(SvANY(sva))) {
        const SV *const svend = &sva[SvREFCNT(sva)];
        const SV *sv;
        for (sv = sva + 1; sv < svend; ++sv) {
            UV buffers[MAX_BODY_BUFFERS];
            size_t j, nbuf;
            if (SvTYPE(sv) == (svtype)SVTYPEMASK || !SvREFCNT(sv))
                continue;
            nbuf = body_buffers(aTHX_ sv, buffers);
            for (j = 0; j < nbuf; j++) {
                const UV *hit;
                if (buffers[j] && (hit = (const UV *)bsearch(&buffers[j], sorted, (size_t)unique,
                                                              sizeof(UV), compare_uv)))
                    owners[hit - sorted] = PTR2UV(sv);
            }
        }
    }
    BEGIN_OWN_ALLOCATIONS;
    owners_av = newAV();
    av_extend(owners_av, n);
    for (i = 0; i < n; i++) {
        const UV *hit = (const UV *)bsearch(&addresses[i], sorted, (size_t)unique, sizeof(UV),
                                            compare_uv);
        av_push(owners_av, newSVuv(addresses[i] && hit ? owners[hit - sorted] : 0));
    }
    ST(0) = sv_2mortal(newRV_noinc((SV *)owners_av));
    END_OWN_ALLOCATIONS;
    free(addresses);
    free(sorted);
    free(owners);
    XSRETURN(1);
}

/* perl's own sv_dump of the SV at `address`, to perl's debug log (STDERR);
 * returns false, dumping nothing, if no live SV of ours is there. */
XS_INTERNAL(XS_Devel__MemTrace__sv_dump)
{
    dXSARGS;
    ArenaIndex ix;
    SV *sv;
    if (items != 1 || !looks_like_number(ST(0)))
        croak_xs_usage(cv, "address");
    arena_index_build(aTHX_ &ix);
    sv = arena_index_sv(&ix, SvUV(ST(0)));
    arena_index_free(&ix);
    if (sv) {
        BEGIN_OWN_ALLOCATIONS;
        sv_dump(sv);
        END_OWN_ALLOCATIONS;
    }
    ST(0) = boolSV(sv != NULL);
    XSRETURN(1);
}

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
    static const struct {
        const char *name;
        XSUBADDR_t xsub;
    } xsubs[] = {
        { "Devel::MemTrace::_is_memtrace_perl", XS_Devel__MemTrace__is_memtrace_perl },
        { "Devel::MemTrace::_enable", XS_Devel__MemTrace__enable },
        { "Devel::MemTrace::_pause", XS_Devel__MemTrace__pause },
        { "Devel::MemTrace::_disable", XS_Devel__MemTrace__disable },
        { "Devel::MemTrace::_state", XS_Devel__MemTrace__state },
        { "Devel::MemTrace::_is_recording", XS_Devel__MemTrace__is_recording },
        { "Devel::MemTrace::_current_iteration", XS_Devel__MemTrace__current_iteration },
        { "Devel::MemTrace::_checkpoint", XS_Devel__MemTrace__checkpoint },
        { "Devel::MemTrace::_arena_counts", XS_Devel__MemTrace__arena_counts },
        { "Devel::MemTrace::_arena_total", XS_Devel__MemTrace__arena_total },
        { "Devel::MemTrace::_history", XS_Devel__MemTrace__history },
        { "Devel::MemTrace::_leaks", XS_Devel__MemTrace__leaks },
        { "Devel::MemTrace::_leak_sites", XS_Devel__MemTrace__leak_sites },
        { "Devel::MemTrace::_stats", XS_Devel__MemTrace__stats },
        { "Devel::MemTrace::_sv_refs", XS_Devel__MemTrace__sv_refs },
        { "Devel::MemTrace::_sv_dump", XS_Devel__MemTrace__sv_dump },
        { "Devel::MemTrace::_sv_states", XS_Devel__MemTrace__sv_states },
        { "Devel::MemTrace::_buffer_owners", XS_Devel__MemTrace__buffer_owners },
    };
    size_t i;
    PERL_UNUSED_VAR(items);
    for (i = 0; i < sizeof(xsubs) / sizeof(xsubs[0]); i++)
        newXS(xsubs[i].name, xsubs[i].xsub, __FILE__);
    memtrace_rs_boot();
#ifdef MULTIPLICITY
    booted_in = aTHX;
#endif
    call_atexit(stop_at_destruct, NULL);
    Perl_xs_boot_epilog(aTHX_ ax);
}

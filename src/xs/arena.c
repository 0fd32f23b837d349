/*
 * The SV arenas of this interpreter: what a live SV is (type, size), the
 * walks that count SVs by type and class, the index that checks outside
 * addresses before an SV head is read, and the value buffers an SV owns.
 */
#include "shim_private.h"

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

size_t
memtrace_shim_sv_head_size(void)
{
    return sizeof(SV);
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
    MT_THIS_INTERPRETER_OR(0);
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

void
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

static int
compare_range(const void *a, const void *b)
{
    const UV x = ((const ArenaRange *)a)->start, y = ((const ArenaRange *)b)->start;
    return x < y ? -1 : x > y;
}

void
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

void
arena_index_free(ArenaIndex *ix)
{
    free(ix->ranges);
    ix->ranges = NULL;
    ix->len = 0;
}

SV *
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

int
compare_uv(const void *a, const void *b)
{
    const UV x = *(const UV *)a, y = *(const UV *)b;
    return x < y ? -1 : x > y;
}

void
buffer_owners(pTHX_ const UV *sorted, size_t n, UV *owners)
{
    SV *sva;
    memset(owners, 0, n * sizeof(UV));
    for (sva = PL_sv_arenaroot; n && sva; sva = MUTABLE_SV(SvANY(sva))) {
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
                if (buffers[j]
                    && (hit = (const UV *)bsearch(&buffers[j], sorted, n, sizeof(UV), compare_uv)))
                    owners[hit - sorted] = PTR2UV(sv);
            }
        }
    }
}

void
free_counts(ArenaCounts *c)
{
    free(c->stashes);
    c->stashes = NULL;
}

/* ---- called by Rust (shim.h) ----------------------------------------------- */

int
memtrace_shim_buffer_owners(const uintptr_t *sorted, size_t n, uintptr_t *owners)
{
    MT_THIS_INTERPRETER_OR(0);
    buffer_owners(aTHX_ (const UV *)sorted, n, (UV *)owners);
    return 1;
}

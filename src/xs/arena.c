/*
 * The SV arenas of this interpreter: what a live SV is (type, size), the
 * walks that count SVs by type and class, the index that checks outside
 * addresses before an SV head is read, and the C buffers an SV owns.
 */
#include "shim_private.h"
/* regexp_internal and the core engine, for the buffers of a regexp: perl
 * shows them to itself and to the re extension only. */
#define PERL_EXT_RE_BUILD
#include "regcomp.h"
#undef PERL_EXT_RE_BUILD

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

/* ---- the C buffers an SV owns ------------------------------------------ */

/* Which of some sorted addresses are buffers of one SV, and whose. */
typedef struct {
    const UV *sorted; /* the addresses asked about, sorted, unique */
    size_t n;
    UV *owners;       /* per address: the owning SV, or 0 */
    UV owner;         /* the SV being visited */
} OwnerSearch;

static void
owned(OwnerSearch *s, const void *buffer)
{
    const UV address = PTR2UV(buffer);
    const UV *hit;
    if (address
        && (hit = (const UV *)bsearch(&address, s->sorted, s->n, sizeof(UV), compare_uv)))
        s->owners[hit - s->sorted] = s->owner;
}

/* A string buffer (SvLEN non-zero: not a shared hash key, a static or a
 * borrowed string), from its true start when perl has chopped the front
 * off (OOK). A copy-on-write buffer belongs to each SV that shares it. */
static void
pv_buffer(OwnerSearch *s, const SV *sv)
{
    if (!SvROK(sv) && SvPVX_const(sv) && SvLEN(sv)) {
        STRLEN offset = 0;
        if (SvOOK(sv))
            SvOOK_offset(sv, offset);
        owned(s, SvPVX_const(sv) - offset);
    }
}

/* The MAGIC structs of an SV, and what mg_free frees with each: a copied
 * name (mg_len > 0) and the UTF-8 length cache. */
static void
magic_buffers(OwnerSearch *s, const SV *sv)
{
    const MAGIC *mg;
    for (mg = SvMAGIC(sv); mg; mg = mg->mg_moremagic) {
        owned(s, mg);
        if (mg->mg_len > 0 || mg->mg_type == PERL_MAGIC_utf8)
            owned(s, mg->mg_ptr);
    }
}

/* What pregfree2 and regfree_internal free: the capture offsets, the
 * literal substrings, the recursion guard, a copied subject; and, for a
 * regexp compiled by perl's engine and not a copy of another (mother_re),
 * the compiled program with its data and code blocks. */
static void
regexp_buffers(OwnerSearch *s, const SV *sv)
{
    const struct regexp *rx = ReANY((const REGEXP *)sv);
    owned(s, rx->offs);
    owned(s, rx->substrs);
    owned(s, rx->recurse_locinput);
    if (RXp_MATCH_COPIED(rx))
        owned(s, rx->subbeg);
    if (!rx->mother_re && rx->engine == &PL_core_reg_engine) {
        const regexp_internal *ri = RXi_GET(rx);
        if (!ri)
            return;
        owned(s, ri);
        if (ri->code_blocks) {
            owned(s, ri->code_blocks);
            owned(s, ri->code_blocks->cb);
        }
        if (ri->data) {
            U32 i;
            owned(s, ri->data);
            owned(s, ri->data->what);
            for (i = 0; i < ri->data->count; i++)
                if (ri->data->what[i] == 'f') /* a regnode_ssc of its own */
                    owned(s, ri->data->data[i]);
        }
    }
}

/* What hv_undef and sv_clear free: the bucket array; for a hash with the
 * aux struct (an iterator, a stash), its array of names and its MRO data;
 * for a hash that does not share its keys, each key. (A shared key is the
 * string table's, which hands it out by reference count: no SV owns it.) */
static void
hash_buffers(pTHX_ OwnerSearch *s, const HV *hv)
{
    owned(s, HvARRAY(hv));
    if (SvOOK(hv)) {
        const struct xpvhv_aux *aux = HvAUX(hv);
        if (aux->xhv_name_count)
            owned(s, aux->xhv_name_u.xhvnameu_names);
        owned(s, aux->xhv_mro_meta);
    }
    if (!HvSHAREKEYS(hv) && hv != PL_strtab && HvARRAY(hv)) {
        STRLEN i;
        for (i = 0; i <= HvMAX(hv); i++) {
            const HE *he;
            for (he = HvARRAY(hv)[i]; he; he = HeNEXT(he))
                if (HeKLEN(he) != HEf_SVKEY)
                    owned(s, HeKEY_hek(he));
        }
    }
}

/* What cv_undef frees: a file name of its own (CvDYNFILE), and for a Perl
 * sub its pad list: the list, its array and its pad name list with each
 * name. (The pads are AVs; the ops are in slabs perl allocates unlogged.)
 * A closure shares its name list with its prototype, by reference count. */
static void
code_buffers(OwnerSearch *s, const CV *cv)
{
    const PADLIST *padlist;
    if (CvDYNFILE(cv))
        owned(s, CvFILE(cv));
    if (CvISXSUB(cv) || !(padlist = CvPADLIST(cv)))
        return;
    owned(s, padlist);
    owned(s, PadlistARRAY(padlist));
    if (PadlistARRAY(padlist)) {
        const PADNAMELIST *names = PadlistNAMES(padlist);
        SSize_t i;
        if (!names)
            return;
        owned(s, names);
        owned(s, PadnamelistARRAY(names));
        for (i = 0; i <= PadnamelistMAX(names); i++)
            owned(s, PadnamelistARRAY(names)[i]);
    }
}

/* The layers of a handle, each a struct perlio.c Newx'es (not the slot
 * of perl's handle table it hangs from), and the buffer of each layer that
 * perlio.c buffers (:perlio, :crlf): the 8 KiB Newx'ed on first use of
 * STDOUT belongs to STDOUT. */
static void
io_layer_buffers(OwnerSearch *s, PerlIO *f)
{
    const PerlIOl *layer;
    for (layer = f ? *f : NULL; layer; layer = layer->next) {
        owned(s, layer);
        if (layer->tab && layer->tab->Get_base == PerlIOBuf_get_base
            && layer->tab->size >= (Size_t)sizeof(PerlIOBuf)) {
            const PerlIOBuf *b = (const PerlIOBuf *)layer;
            if (b->buf != (const STDCHAR *)&b->oneword)
                owned(s, b->buf);
        }
    }
}

/* The C buffers a live SV keeps its value in: what Newx/Renew (or perl's
 * realloc) allocated for it, and freeing the SV frees (sv_clear and the
 * type's own free: pregfree2, cv_undef, hv_undef, gp_free, io_close).
 * A buffer shared by reference count (a closure's pad names, the GP of
 * aliased globs, a copy-on-write string) belongs to each SV holding a
 * count; a shared hash key belongs to none. */
static void
body_buffers(pTHX_ OwnerSearch *s, const SV *sv)
{
    const svtype type = SvTYPE(sv);
    if (type >= SVt_PVMG)
        magic_buffers(s, sv);
    switch (type) {
    case SVt_PV:
    case SVt_INVLIST:
    case SVt_PVIV:
    case SVt_PVNV:
    case SVt_PVMG:
        pv_buffer(s, sv);
        break;
    case SVt_REGEXP:
        regexp_buffers(s, sv);
        pv_buffer(s, sv);
        break;
    case SVt_PVLV:
        if (isREGEXP(sv)) {
            /* SvLEN holds the regexp body; the string is the body's if
             * its length is not zero (what sv_clear frees). */
            regexp_buffers(s, sv);
            if (ReANY((const REGEXP *)sv)->xpv_len_u.xpvlenu_len)
                owned(s, SvPVX_const(sv));
        }
        else if (isGV_with_GP(sv))
            owned(s, GvGP((const GV *)sv));
        else
            pv_buffer(s, sv);
        break;
    case SVt_PVGV:
        if (isGV_with_GP(sv))
            owned(s, GvGP((const GV *)sv));
        else
            pv_buffer(s, sv);
        break;
    case SVt_PVAV:
        owned(s, AvALLOC((const AV *)sv));
        break;
    case SVt_PVHV:
        hash_buffers(aTHX_ s, (const HV *)sv);
        break;
    case SVt_PVCV:
    case SVt_PVFM:
        code_buffers(s, (const CV *)sv);
        pv_buffer(s, sv); /* the prototype */
        break;
    case SVt_PVIO: {
        const IO *io = (const IO *)sv;
        io_layer_buffers(s, IoIFP(io));
        if (IoOFP(io) != IoIFP(io))
            io_layer_buffers(s, IoOFP(io));
        owned(s, IoTOP_NAME(io));
        owned(s, IoFMT_NAME(io));
        owned(s, IoBOTTOM_NAME(io));
        break;
    }
    default:
        break;
    }
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
    OwnerSearch search;
    memset(owners, 0, n * sizeof(UV));
    search.sorted = sorted;
    search.n = n;
    search.owners = owners;
    for (sva = PL_sv_arenaroot; n && sva; sva = MUTABLE_SV(SvANY(sva))) {
        const SV *const svend = &sva[SvREFCNT(sva)];
        const SV *sv;
        for (sv = sva + 1; sv < svend; ++sv) {
            if (SvTYPE(sv) == (svtype)SVTYPEMASK || !SvREFCNT(sv))
                continue;
            search.owner = PTR2UV(sv);
            body_buffers(aTHX_ &search, sv);
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

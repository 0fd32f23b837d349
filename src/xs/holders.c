/*
 * Who holds an SV: every reference edge of this interpreter's heap, for
 * the holder search in Rust (src/xs/holders.rs), and the names that make
 * a path readable the Perl way. Read-only: nothing here allocates through
 * perl or calls perl, so it can run while a report is made.
 *
 * The edges are the references perl counts: a reference's target, an
 * array's elements, a hash's values, a glob's slots, the lexicals of a
 * sub's pad (its first depth: a closure's captured variables are there
 * too), and a magic's object. Roots are what the program reaches without
 * a reference: the symbol table, the file-level lexicals (PL_main_cv's
 * pad), and the mortal stack.
 */
#include "shim_private.h"

#define EDGE_BATCH 4096

typedef struct {
    MtEdge edges[EDGE_BATCH];
    size_t n;
    MtEdgeSink sink;
    void *ctx;
} Batch;

static void
emit(Batch *b, const void *from, const SV *to, uint32_t label, uintptr_t detail, int weak)
{
    MtEdge *e;
    if (!to)
        return;
    e = &b->edges[b->n++];
    e->from = PTR2UV(from);
    e->to = PTR2UV(to);
    e->label = label;
    e->weak = (uint32_t)weak;
    e->detail = detail;
    if (b->n == EDGE_BATCH) {
        b->sink(b->ctx, b->edges, b->n);
        b->n = 0;
    }
}

/* The lexicals of a sub's first pad (depth 1). */
static void
pad_edges(pTHX_ Batch *b, const CV *cv)
{
    const PADLIST *padlist;
    const PAD *pad;
    SSize_t i;
    if (CvISXSUB(cv) || !(padlist = CvPADLIST(cv)) || PadlistMAX(padlist) < 1)
        return;
    /* The pads themselves (an AV per depth): the padlist between the CV
     * and them is not an SV. */
    for (i = 1; i <= PadlistMAX(padlist); i++)
        emit(b, cv, (const SV *)PadlistARRAY(padlist)[i], MT_EDGE_CODE_PAD, (uintptr_t)i, 0);
    pad = PadlistARRAY(padlist)[1];
    if (!pad)
        return;
    for (i = 1; i <= PadMAX(pad); i++) {
        const PADNAME *name = i <= PadnamelistMAX(PadlistNAMES(padlist))
            ? PadnamelistARRAY(PadlistNAMES(padlist))[i] : NULL;
        /* Only named lexicals: the pad's other slots are perl's temporaries. */
        if (name && PadnamePV(name) && PadnameLEN(name) > 1)
            emit(b, cv, PadARRAY(pad)[i], MT_EDGE_PAD, (uintptr_t)i, 0);
    }
}

static void
sv_edges(pTHX_ Batch *b, const SV *sv)
{
    const svtype type = SvTYPE(sv);
    if (SvROK(sv) && type != SVt_PVAV && type != SVt_PVHV && type != SVt_PVCV)
        emit(b, sv, SvRV(sv), MT_EDGE_REF, 0, SvWEAKREF(sv) ? 1 : 0);
    switch (type) {
    case SVt_PVAV: {
        const AV *av = (const AV *)sv;
        SSize_t i;
        if (!AvREAL(av) || !AvARRAY(av))
            break;
        for (i = 0; i <= AvFILLp(av); i++)
            emit(b, sv, AvARRAY(av)[i], MT_EDGE_ELEMENT, (uintptr_t)i, 0);
        break;
    }
    case SVt_PVHV: {
        const HV *hv = (const HV *)sv;
        STRLEN i;
        if (!HvARRAY(hv))
            break;
        for (i = 0; i <= HvMAX(hv); i++) {
            const HE *he;
            for (he = HvARRAY(hv)[i]; he; he = HeNEXT(he))
                if (HeKLEN(he) != HEf_SVKEY)
                    emit(b, sv, HeVAL(he), MT_EDGE_VALUE, PTR2UV(he), 0);
        }
        break;
    }
    case SVt_PVGV:
        if (isGV_with_GP(sv) && GvGP(sv)) {
            emit(b, sv, GvSV(sv), MT_EDGE_GLOB_SCALAR, 0, 0);
            emit(b, sv, (SV *)GvAV(sv), MT_EDGE_GLOB_ARRAY, 0, 0);
            emit(b, sv, (SV *)GvHV(sv), MT_EDGE_GLOB_HASH, 0, 0);
            emit(b, sv, (SV *)GvCV(sv), MT_EDGE_GLOB_CODE, 0, 0);
            emit(b, sv, (SV *)GvIOp(sv), MT_EDGE_GLOB_IO, 0, 0);
        }
        break;
    case SVt_PVCV:
    case SVt_PVFM:
        pad_edges(aTHX_ b, (const CV *)sv);
        break;
    default:
        break;
    }
    if (SvMAGICAL(sv) && type >= SVt_PVMG) {
        const MAGIC *mg;
        for (mg = SvMAGIC(sv); mg; mg = mg->mg_moremagic)
            if ((mg->mg_flags & MGf_REFCOUNTED) && mg->mg_obj)
                emit(b, sv, mg->mg_obj, MT_EDGE_MAGIC, (uintptr_t)(U8)mg->mg_type, 0);
    }
}

int
memtrace_shim_walk_edges(MtEdgeSink sink, void *ctx)
{
    MT_THIS_INTERPRETER_OR(0);
    Batch *b = (Batch *)malloc(sizeof(Batch));
    const SV *sva;
    SSize_t i;
    if (!b)
        return 0;
    b->n = 0;
    b->sink = sink;
    b->ctx = ctx;
    emit(b, NULL, (SV *)PL_defstash, MT_EDGE_ROOT_STASH, 0, 0);
    emit(b, NULL, (SV *)PL_main_cv, MT_EDGE_ROOT_MAIN, 0, 0);
    for (i = 0; i <= PL_tmps_ix; i++)
        emit(b, NULL, PL_tmps_stack[i], MT_EDGE_ROOT_MORTAL, 0, 0);
    for (sva = PL_sv_arenaroot; sva; sva = MUTABLE_SV(SvANY(sva))) {
        const SV *const svend = &sva[SvREFCNT(sva)];
        const SV *sv;
        for (sv = sva + 1; sv < svend; ++sv)
            if (SvTYPE(sv) != (svtype)SVTYPEMASK && SvREFCNT(sv))
                sv_edges(aTHX_ b, sv);
    }
    if (b->n)
        sink(ctx, b->edges, b->n);
    free(b);
    return 1;
}

/* Copy `len` bytes of text into out (NUL-terminated, cut to fit). */
static size_t
copy_text(char *out, size_t cap, const char *text, size_t len)
{
    if (!cap)
        return 0;
    if (len >= cap)
        len = cap - 1;
    memcpy(out, text, len);
    out[len] = '\0';
    return len;
}

size_t
memtrace_shim_hash_key(uintptr_t he, char *out, size_t cap)
{
    const HE *entry = INT2PTR(const HE *, he);
    return copy_text(out, cap, HeKEY(entry), (size_t)HeKLEN(entry));
}

size_t
memtrace_shim_pad_name(uintptr_t cv, uintptr_t index, char *out, size_t cap, int *outer)
{
    const PADLIST *padlist = CvPADLIST(INT2PTR(const CV *, cv));
    const PADNAME *name = PadnamelistARRAY(PadlistNAMES(padlist))[index];
    *outer = PadnameOUTER(name) ? 1 : 0;
    return copy_text(out, cap, PadnamePV(name), PadnameLEN(name));
}

size_t
memtrace_shim_glob_name(uintptr_t gv, char *out, size_t cap)
{
    const GV *glob = INT2PTR(const GV *, gv);
    const HV *stash;
    /* A stash's values are not all globs: perl keeps a constant sub, a
     * prototype-only or a forward declaration there without one. */
    if (SvTYPE(glob) != SVt_PVGV || !isGV_with_GP(glob))
        return 0;
    stash = GvSTASH(glob);
    const char *package = stash ? HvNAME_get(stash) : NULL;
    size_t n = 0;
    char buf[512];
    if (package && strcmp(package, "main") != 0) {
        n += copy_text(buf, sizeof buf, package, strlen(package));
        n += copy_text(buf + n, sizeof buf - n, "::", 2);
    } else {
        n += copy_text(buf, sizeof buf, "main::", 6);
    }
    n += copy_text(buf + n, sizeof buf - n, GvNAME(glob), (size_t)GvNAMELEN(glob));
    return copy_text(out, cap, buf, n);
}

int
memtrace_shim_is_stash(uintptr_t sv)
{
    const SV *s = INT2PTR(const SV *, sv);
    return SvTYPE(s) == SVt_PVHV && SvOOK(s) && HvNAME_HEK((const HV *)s) ? 1 : 0;
}

int
memtrace_shim_refcount(uintptr_t sv)
{
    return (int)SvREFCNT(INT2PTR(const SV *, sv));
}

/*
 * The XSUBs of Devel::MemTrace (all named _something: the module's Perl
 * functions wrap them) and the perl values they return. No Rust frame is
 * ever on the C stack when perl may croak: the XSUBs read their arguments
 * before calling Rust, and Rust returns plain data (or an MtValue tree)
 * that is turned into perl values here, with the recorder told to leave
 * those allocations alone.
 */
#include "shim_private.h"

#include <dlfcn.h>

STATIC_ASSERT_DECL(sizeof(UV) == sizeof(uintptr_t));

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
    store_uv(aTHX_ hv, "rss", s->rss);
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

/* _own_allocations(my $own): what this thread allocates from here until
 * the calling sub returns (or dies) is the tool's own, not the program's:
 * not recorded. Free-magic on the caller's own `my` variable undoes it:
 * perl clears that variable when the sub's scope ends, whatever ends it.
 * Nothing here takes an SV head, so a slot the program freed just before
 * the call is still free for identify() to see. (A save-stack entry would
 * not outlive the call: perl wraps every XSUB call in a scope of its own.)
 * Guards nest. */
static int
own_allocations_end(pTHX_ SV *sv, MAGIC *mg)
{
    PERL_UNUSED_ARG(sv);
    PERL_UNUSED_ARG(mg);
    memtrace_rs_suppress(0);
    return 0;
}

static const MGVTBL own_allocations_vtbl = { NULL, NULL, NULL, NULL, own_allocations_end, NULL, NULL, NULL };

XS_INTERNAL(XS_Devel__MemTrace__own_allocations)
{
    dXSARGS;
    SV *guard;
    if (items != 1 || SvREADONLY(ST(0)) || SvMAGICAL(ST(0)))
        croak_xs_usage(cv, "my $guard");
    guard = ST(0);
    memtrace_rs_suppress(1);
    /* (its MAGIC struct is Newx'd while suppressed: not recorded either) */
    sv_magicext(guard, NULL, PERL_MAGIC_ext, &own_allocations_vtbl, NULL, 0);
    XSRETURN_EMPTY;
}

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

XS_INTERNAL(XS_Devel__MemTrace__record_malloc)
{
    dXSARGS;
    if (items != 1)
        croak_xs_usage(cv, "on");
    memtrace_rs_record_malloc(SvTRUE(ST(0)) ? 1 : 0);
    XSRETURN_EMPTY;
}

XS_INTERNAL(XS_Devel__MemTrace__disable)
{
    dXSARGS;
    PERL_UNUSED_VAR(items);
    memtrace_rs_disable();
    XSRETURN_EMPTY;
}

/* _set_depths(STACK, C_FRAMES): frames of the Perl call stack (1 to 64)
 * and native frames (0 to 32) each record keeps. */
XS_INTERNAL(XS_Devel__MemTrace__set_depths)
{
    dXSARGS;
    UV stack, c_frames;
    if (items != 2)
        croak_xs_usage(cv, "stack, c_frames");
    stack = SvUV(ST(0));
    c_frames = SvUV(ST(1));
    if (stack < 1 || stack > MT_STACK_DEPTH_MAX)
        croak("Devel::MemTrace: a stack depth is 1 to %d, not %" UVuf, MT_STACK_DEPTH_MAX, stack);
    if (c_frames > 32)
        croak("Devel::MemTrace: C frames are 0 to 32, not %" UVuf, c_frames);
    memtrace_shim_set_stack_depth((uint32_t)stack);
    memtrace_rs_set_depths((uint32_t)stack, (uint32_t)c_frames);
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
    store_uv(aTHX_ hv, "stacks", s.stacks);
    store_uv(aTHX_ hv, "c_frame_lists", s.c_frame_lists);
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

/* ---- values from Rust -------------------------------------------------------- */

/* UTF-8 text from Rust as a perl string (flagged UTF-8 only if it is not
 * plain ASCII, so ASCII keys and values compare as byte strings do). */
/* Whether Rust's text is plain ASCII. (perl's is_ascii_string takes a
 * length of 0 to mean "up to the NUL", and Rust's empty strings point
 * nowhere.) */
static int
plain_ascii(const char *text, size_t len)
{
    return len == 0 || is_ascii_string((const U8 *)text, len);
}

static SV *
text_sv(pTHX_ const char *text, size_t len)
{
    SV *sv = len ? newSVpvn(text, len) : newSVpvs("");
    if (!plain_ascii(text, len))
        SvUTF8_on(sv);
    return sv;
}

/* The perl data a tree of MtValue describes (see shim.h). */
static SV *
value_to_sv(pTHX_ const MtValue *v)
{
    size_t i;
    switch (v->kind) {
    case MT_VALUE_UV:
        return newSVuv((UV)v->number);
    case MT_VALUE_IV:
        return newSViv((IV)(int64_t)v->number);
    case MT_VALUE_NV: {
        double d;
        memcpy(&d, &v->number, sizeof d);
        return newSVnv(d);
    }
    case MT_VALUE_STR:
    case MT_VALUE_ERROR:
        return text_sv(aTHX_ v->text, v->len);
    case MT_VALUE_TRUE:
        return newSViv(1);
    case MT_VALUE_FALSE:
        return newSVpvs("");
    case MT_VALUE_ARRAY: {
        AV *av = newAV();
        av_extend(av, v->len);
        for (i = 0; i < v->len; i++)
            av_push(av, value_to_sv(aTHX_ &v->items[i]));
        return newRV_noinc((SV *)av);
    }
    case MT_VALUE_HASH: {
        HV *hv = newHV();
        for (i = 0; i < v->len; i++) {
            const MtValue *key = &v->items[2 * i];
            const I32 klen = (I32)key->len;
            SV *value = value_to_sv(aTHX_ &v->items[2 * i + 1]);
            (void)hv_store(hv, key->len ? key->text : "",
                           plain_ascii(key->text, key->len) ? klen : -klen, value, 0);
        }
        return newRV_noinc((SV *)hv);
    }
    default:
        return newSV(0);
    }
}

/* Return what Rust answered as this XSUB's one value (croaking with its
 * message if it is an error, or if Rust failed). Frees the list. */
#define RETURN_VALUE(list, value, what)                                                 \
    STMT_START {                                                                        \
        SV *result_;                                                                    \
        if (!(list))                                                                    \
            croak("Devel::MemTrace: internal error in %s (see the message above)", what); \
        if ((value)->kind == MT_VALUE_ERROR) {                                          \
            /* Ends in a newline: the Perl wrapper adds the caller's line. */             \
            SV *message_ = sv_2mortal(text_sv(aTHX_ (value)->text, (value)->len));      \
            sv_catpvs(message_, "\n");                                                  \
            memtrace_rs_free_list(list);                                                \
            croak_sv(message_);                                                         \
        }                                                                               \
        BEGIN_OWN_ALLOCATIONS;                                                          \
        result_ = sv_2mortal(value_to_sv(aTHX_ value));                                 \
        END_OWN_ALLOCATIONS;                                                            \
        memtrace_rs_free_list(list);                                                    \
        ST(0) = result_;                                                                \
        XSRETURN(1);                                                                    \
    } STMT_END

XS_INTERNAL(XS_Devel__MemTrace__history)
{
    dXSARGS;
    const MtValue *value = NULL;
    MtList *list;
    PERL_UNUSED_VAR(items);
    list = memtrace_rs_history(&value);
    RETURN_VALUE(list, value, "history");
}

static void
store_str(pTHX_ HV *hv, const char *key, const char *value)
{
    (void)hv_store(hv, key, strlen(key), value ? newSVpv(value, 0) : newSV(0), 0);
}

XS_INTERNAL(XS_Devel__MemTrace__leaks)
{
    dXSARGS;
    U32 skip, min_age;
    const MtLeakRow *rows = NULL;
    const MtValue *contexts = NULL, *stacks = NULL, *c_frames = NULL;
    size_t n = 0, i;
    MtList *list;
    AV *av;
    LEAK_RULE_ARGS(skip, min_age);
    list = memtrace_rs_leaks(skip, min_age, &rows, &n, &contexts);
    if (!list)
        croak("Devel::MemTrace: internal error in leaks (see the message above)");
    BEGIN_OWN_ALLOCATIONS;
    /* { stacks => [...], c_frames => [...] }, each indexed by id */
    if (contexts && contexts->kind == MT_VALUE_HASH && contexts->len == 2) {
        for (i = 0; i < 2; i++) {
            const MtValue *key = &contexts->items[2 * i];
            const MtValue *value = &contexts->items[2 * i + 1];
            if (value->kind != MT_VALUE_ARRAY)
                continue;
            if (key->len == 6 && memEQ(key->text, "stacks", 6))
                stacks = value;
            else if (key->len == 8 && memEQ(key->text, "c_frames", 8))
                c_frames = value;
        }
    }
    av = newAV();
    av_extend(av, n);
    for (i = 0; i < n; i++) {
        const MtLeakRow *l = &rows[i];
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
        if (l->held_kind) {
            HV *held = newHV();
            store_str(aTHX_ held, "kind", l->held_kind);
            store_str(aTHX_ held, "path", l->held_path);
            store_str(aTHX_ held, "text", l->held_text);
            (void)hv_stores(hv, "held_by", newRV_noinc((SV *)held));
        }
        (void)hv_stores(hv, "stack",
                        stacks && l->stack < stacks->len
                            ? value_to_sv(aTHX_ &stacks->items[l->stack])
                            : newRV_noinc((SV *)newAV()));
        (void)hv_stores(hv, "c_frames",
                        c_frames && l->c_frames < c_frames->len
                            ? value_to_sv(aTHX_ &c_frames->items[l->c_frames])
                            : newRV_noinc((SV *)newAV()));
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
    const MtValue *value = NULL;
    MtList *list;
    const char *library = "";
    STRLEN library_len = 0;
    int by_stack = 0;
    if (items != 2 && items != 4)
        croak_xs_usage(cv, "skip, min_age[, by_stack, library]");
    skip = uv_arg(aTHX_ ST(0), "skip");
    min_age = uv_arg(aTHX_ ST(1), "min_age");
    if (items == 4) {
        by_stack = SvTRUE(ST(2)) ? 1 : 0;
        library = SvPV(ST(3), library_len);
    }
    list = memtrace_rs_leak_sites(skip, min_age, by_stack, library, library_len, &value);
    RETURN_VALUE(list, value, "leak_sites");
}

/* _group_leaks(\\@sv_addresses, \\@mem_addresses, first, last): those
 * leaks grouped into sites, as leak_sites groups them. */
XS_INTERNAL(XS_Devel__MemTrace__group_leaks)
{
    dXSARGS;
    U32 first, last;
    SSize_t n_svs, n_mems;
    UV *svs, *mems;
    const MtValue *value = NULL;
    MtList *list;
    if (items != 4)
        croak_xs_usage(cv, "\\@sv_addresses, \\@mem_addresses, first, last");
    first = uv_arg(aTHX_ ST(2), "first");
    last = uv_arg(aTHX_ ST(3), "last");
    svs = address_list(aTHX_ cv, ST(0), &n_svs);
    mems = address_list(aTHX_ cv, ST(1), &n_mems);
    list = memtrace_rs_group_leaks((const uintptr_t *)svs, (size_t)n_svs,
                                   (const uintptr_t *)mems, (size_t)n_mems, first, last, &value);
    free(svs);
    free(mems);
    RETURN_VALUE(list, value, "group_leaks");
}

/* _report(skip, min_age, all, top): the report text. */
XS_INTERNAL(XS_Devel__MemTrace__report)
{
    dXSARGS;
    U32 skip, min_age, top;
    const MtValue *value = NULL;
    MtList *list;
    if (items != 4)
        croak_xs_usage(cv, "skip, min_age, all, top");
    skip = uv_arg(aTHX_ ST(0), "skip");
    min_age = uv_arg(aTHX_ ST(1), "min_age");
    top = uv_arg(aTHX_ ST(3), "top");
    list = memtrace_rs_report(skip, min_age, SvTRUE(ST(2)) ? 1 : 0, top, &value);
    RETURN_VALUE(list, value, "report");
}

/* One address as identify() takes it: an integer, or a string of one
 * (hex as pmat prints it, 0x55efee189120, or decimal). Reads the SV only:
 * no allocation. */
static int
address_of(pTHX_ SV *sv, UV *out)
{
    STRLEN len, i = 0, start;
    const char *text;
    int base = 10;
    UV value = 0;
    if (!SvOK(sv) || SvROK(sv))
        return 0;
    if (SvIOK(sv) && !SvPOK(sv)) {
        if (!SvIsUV(sv) && SvIVX(sv) < 0)
            return 0;
        *out = SvUV(sv);
        return 1;
    }
    text = SvPV_nomg(sv, len);
    while (i < len && isSPACE(text[i]))
        i++;
    if (i + 1 < len && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
        base = 16;
        i += 2;
    }
    start = i;
    for (; i < len && (base == 16 ? isXDIGIT(text[i]) : isDIGIT(text[i])); i++) {
        const UV digit = (UV)(isDIGIT(text[i]) ? text[i] - '0' : (text[i] | 0x20) - 'a' + 10);
        if (value > (UV_MAX - digit) / (UV)base)
            return 0; /* too big for an address */
        value = value * (UV)base + digit;
    }
    if (i == start)
        return 0;
    while (i < len && isSPACE(text[i]))
        i++;
    if (i != len)
        return 0;
    *out = value;
    return 1;
}

/* _identify(skip, min_age, ADDR...): an arrayref with one answer per
 * address, or, for an argument that is no address, that argument's index
 * (a plain number) for the Perl side to word the error. The addresses are
 * looked up before anything is allocated (see own_allocations). */
XS_INTERNAL(XS_Devel__MemTrace__identify)
{
    dXSARGS;
    U32 skip, min_age;
    SSize_t n, i;
    UV *addresses;
    const MtValue *value = NULL;
    MtList *list;
    if (items < 2)
        croak_xs_usage(cv, "skip, min_age, ADDR...");
    skip = uv_arg(aTHX_ ST(0), "skip");
    min_age = uv_arg(aTHX_ ST(1), "min_age");
    n = items - 2;
    addresses = (UV *)malloc((n ? (size_t)n : 1) * sizeof(UV));
    if (!addresses)
        croak("Devel::MemTrace: out of memory");
    for (i = 0; i < n; i++) {
        if (!address_of(aTHX_ ST(2 + i), &addresses[i])) {
            free(addresses);
            ST(0) = sv_2mortal(newSViv((IV)i));
            XSRETURN(1);
        }
    }
    list = memtrace_rs_identify((const uintptr_t *)addresses, (size_t)n, skip, min_age, &value);
    free(addresses);
    RETURN_VALUE(list, value, "identify");
}

/* _dump(path, \%about): write a capture; returns what was written. */
XS_INTERNAL(XS_Devel__MemTrace__dump)
{
    dXSARGS;
    STRLEN path_len;
    const char *path;
    HV *about_hv;
    MtValue pairs[2 * 6];
    MtValue about;
    size_t n = 0;
    const MtValue *value = NULL;
    MtList *list;
    static const char *const keys[] = { "perl_version", "perl_config", "program",
                                        "skip", "min_age", "tool_version" };
    size_t i;
    if (items != 2 || !SvROK(ST(1)) || SvTYPE(SvRV(ST(1))) != SVt_PVHV)
        croak_xs_usage(cv, "path, \\%about");
    path = SvPV(ST(0), path_len);
    about_hv = (HV *)SvRV(ST(1));
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        SV **slot = hv_fetch(about_hv, keys[i], strlen(keys[i]), 0);
        STRLEN len;
        const char *text;
        if (!slot)
            continue;
        text = SvPV(*slot, len);
        pairs[2 * n].kind = MT_VALUE_STR;
        pairs[2 * n].text = keys[i];
        pairs[2 * n].len = strlen(keys[i]);
        pairs[2 * n + 1].kind = MT_VALUE_STR;
        pairs[2 * n + 1].text = text;
        pairs[2 * n + 1].len = len;
        n++;
    }
    about.kind = MT_VALUE_HASH;
    about.items = pairs;
    about.len = n;
    list = memtrace_rs_dump(path, path_len, &about, &value);
    RETURN_VALUE(list, value, "dump");
}

/* For each address, the live SV of this interpreter whose value buffer it
 * is (the SV's address), or 0. One walk of the arenas for all of them. */
XS_INTERNAL(XS_Devel__MemTrace__buffer_owners)
{
    dXSARGS;
    AV *owners_av;
    SSize_t i, n, unique;
    UV *addresses, *sorted, *owners;
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
    buffer_owners(aTHX_ sorted, (size_t)unique, owners);
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


/* ---- registration ------------------------------------------------------------- */

void
register_xsubs(pTHX)
{
    static const struct {
        const char *name;
        XSUBADDR_t xsub;
    } xsubs[] = {
        { "Devel::MemTrace::_is_memtrace_perl", XS_Devel__MemTrace__is_memtrace_perl },
        { "Devel::MemTrace::_own_allocations", XS_Devel__MemTrace__own_allocations },
        { "Devel::MemTrace::_enable", XS_Devel__MemTrace__enable },
        { "Devel::MemTrace::_pause", XS_Devel__MemTrace__pause },
        { "Devel::MemTrace::_record_malloc", XS_Devel__MemTrace__record_malloc },
        { "Devel::MemTrace::_disable", XS_Devel__MemTrace__disable },
        { "Devel::MemTrace::_state", XS_Devel__MemTrace__state },
        { "Devel::MemTrace::_set_depths", XS_Devel__MemTrace__set_depths },
        { "Devel::MemTrace::_is_recording", XS_Devel__MemTrace__is_recording },
        { "Devel::MemTrace::_current_iteration", XS_Devel__MemTrace__current_iteration },
        { "Devel::MemTrace::_checkpoint", XS_Devel__MemTrace__checkpoint },
        { "Devel::MemTrace::_arena_counts", XS_Devel__MemTrace__arena_counts },
        { "Devel::MemTrace::_arena_total", XS_Devel__MemTrace__arena_total },
        { "Devel::MemTrace::_history", XS_Devel__MemTrace__history },
        { "Devel::MemTrace::_leaks", XS_Devel__MemTrace__leaks },
        { "Devel::MemTrace::_leak_sites", XS_Devel__MemTrace__leak_sites },
        { "Devel::MemTrace::_report", XS_Devel__MemTrace__report },
        { "Devel::MemTrace::_group_leaks", XS_Devel__MemTrace__group_leaks },
        { "Devel::MemTrace::_identify", XS_Devel__MemTrace__identify },
        { "Devel::MemTrace::_dump", XS_Devel__MemTrace__dump },
        { "Devel::MemTrace::_stats", XS_Devel__MemTrace__stats },
        { "Devel::MemTrace::_sv_refs", XS_Devel__MemTrace__sv_refs },
        { "Devel::MemTrace::_sv_dump", XS_Devel__MemTrace__sv_dump },
        { "Devel::MemTrace::_sv_states", XS_Devel__MemTrace__sv_states },
        { "Devel::MemTrace::_buffer_owners", XS_Devel__MemTrace__buffer_owners },
    };
    size_t i;
    for (i = 0; i < sizeof(xsubs) / sizeof(xsubs[0]); i++)
        newXS(xsubs[i].name, xsubs[i].xsub, __FILE__);
}

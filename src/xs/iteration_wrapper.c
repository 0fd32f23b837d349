/*
 * -iteration=Pkg::sub: every return from the sub ends an iteration, and
 * the program cannot tell.
 *
 * No wrapper sub. A wrapper (a Perl sub that calls the original) is a
 * frame of its own: caller() inside the sub sees it, croak and carp name
 * its line, an :lvalue sub stops being one, `goto &sub` and wantarray pass
 * through it, and \&Pkg::sub is another sub. Here the sub stays the very
 * same CV (its name, prototype, attributes, op tree), and two things are
 * added to it:
 *
 *   - a first op: CvSTART points to a copy of the sub's first statement
 *     (a COP, so that code reading CvSTART as a COP, as `B` and
 *     Sub::Identify do, reads the same file and line), whose op_next is
 *     the real first statement. It does not set PL_curcop; it only puts a
 *     destructor on the save stack of the sub's frame and runs on.
 *   - that destructor runs when perl leaves the frame's scope, however it
 *     leaves: a return from any depth of blocks (pp_leavesub, pp_return),
 *     die (dounwind), exit. It ends the iteration then, with the return
 *     values already on the stack, before the frame is popped; a new
 *     stack (PUSHSTACKi) keeps them safe from the Perl code it calls.
 *
 * `goto &other` out of the sub also leaves the frame's scope, but the call
 * goes on, in `other`: the iteration must end when `other` returns. The
 * destructor cannot push a new one then (it runs inside leave_scope, which
 * would pop it at once), so it notes the frame and raises perl's "signal
 * pending" flag; pp_goto checks that flag (PERL_ASYNC_CHECK) as its last
 * step, when the frame belongs to `other` (or, for an XSUB, when it has
 * run), and the signal hook here pushes the destructor onto the frame then,
 * or ends the iteration if the call is over. No signal is involved: it is
 * the same safe-point mechanism -iteration_every uses (iteration_timer.c),
 * and the hook chains to whatever hook was there.
 *
 * A recursive sub ends one iteration, at its outermost return: a flag in
 * the sub's magic says that a call of it is under way (per interpreter:
 * each ithread has its own copy of the sub and its magic), and a call
 * made while it is set is not watched. A call through MULTICALL (sort's
 * comparator, List::Util's first and friends) reuses one frame for many
 * calls and never leaves it in between: those calls end no iteration.
 *
 * An XSUB has no op tree and no frame: its C function is replaced by a
 * trampoline that calls the original one on the same stack, inside a scope
 * with the same destructor. The original function pointer is kept in the
 * magic.
 *
 * Nothing here touches any other sub: the cost is one op and one save-stack
 * entry per call of the -iteration sub.
 */
#include "shim_private.h"

/* ---- per-sub state: ext magic on the CV ----------------------------------- */

/* mg_private: 1 while a call of the sub is being watched (its destructor is
 * on the save stack); mg_ptr: for an XSUB, its original C function. */
static int iteration_magic_dup(pTHX_ MAGIC *mg, CLONE_PARAMS *param);

static const MGVTBL iteration_vtbl = { NULL, NULL, NULL, NULL, NULL, NULL, iteration_magic_dup, NULL };

/* A new ithread starts with no call under way, whatever its parent was
 * doing when it was cloned. */
static int
iteration_magic_dup(pTHX_ MAGIC *mg, CLONE_PARAMS *param)
{
    PERL_UNUSED_CONTEXT;
    PERL_UNUSED_ARG(param);
    mg->mg_private = 0;
    return 0;
}

static MAGIC *
iteration_magic(pTHX_ CV *cv)
{
    return mg_findext((SV *)cv, PERL_MAGIC_ext, &iteration_vtbl);
}

/* ---- ending the iteration --------------------------------------------------- */

/* Devel::MemTrace::_iteration_end: checkpoint(), with the program's $@, $!
 * and $? left alone and its own errors turned into a warning. Called on a
 * stack of its own, so that the values on perl's stack (the sub's return
 * values, or what is being unwound) are not touched. What it allocates for
 * itself (the new stack, the call) is not the program's. */
static void
end_iteration(pTHX)
{
    dSP;
    if (PL_phase == PERL_PHASE_DESTRUCT)
        return;
    memtrace_rs_suppress(1);
    PUSHSTACKi(PERLSI_DESTROY);
    SPAGAIN;
    ENTER;
    SAVETMPS;
    PUSHMARK(SP);
    PUTBACK;
    /* G_NODEBUG: not through DB::sub, so perl -d never sees the tool. */
    call_pv("Devel::MemTrace::_iteration_end",
            G_DISCARD | G_VOID | G_EVAL | G_KEEPERR | G_NODEBUG);
    FREETMPS;
    LEAVE;
    POPSTACK;
    memtrace_rs_suppress(0);
}

static void note_goto(pTHX_ CV *cv, const PERL_CONTEXT *cx);

/* The destructor on the save stack of a watched call. */
static void
call_left(pTHX_ void *p)
{
    CV *cv = (CV *)p;
    MAGIC *mg = iteration_magic(aTHX_ cv);
    if (!CvISXSUB(cv) && PL_op && PL_op->op_type == OP_GOTO && (PL_op->op_flags & OPf_STACKED) && cxstack_ix >= 0) {
        /* pp_goto's `goto &other`: it has reset the stack to the frame's
         * base (cx_topblock) before leaving the frame's scope. A die inside
         * pp_goto (say, "Goto undefined subroutine") happens with the goto's
         * argument still on the stack. */
        const PERL_CONTEXT *cx = CX_CUR();
        if (CxTYPE(cx) == CXt_SUB && cx->blk_sub.cv == cv && PL_stack_sp == PL_stack_base + cx->blk_oldsp) {
            note_goto(aTHX_ cv, cx);
            return;
        }
    }
    if (mg)
        mg->mg_private = 0;
    end_iteration(aTHX);
    SvREFCNT_dec(cv);
}

/* Watch this call: the destructor goes on the save stack of the frame that
 * is running now. The sub is kept alive until then (the program may
 * redefine it in the meantime). */
static void
watch(pTHX_ CV *cv, MAGIC *mg)
{
    mg->mg_private = 1;
    SvREFCNT_inc_simple_void_NN(cv);
    memtrace_rs_suppress(1); /* the save stack may grow */
    SAVEDESTRUCTOR_X(call_left, cv);
    memtrace_rs_suppress(0);
}

/* ---- goto &other out of a watched sub ----------------------------------------- */

/* The frames whose watched sub left by `goto &other`, waiting for pp_goto
 * to finish (per OS thread: an ithread runs its interpreter on its own
 * thread, and the wait never outlasts one pp_goto unless perl dies inside
 * it). Nested only if a destructor run by that goto's unwinding calls
 * another watched sub that does the same: a few are plenty. */
typedef struct {
    CV *cv;
    const OP *goto_op;
    PERL_SI *si;
    I32 cxix;
    I32 saveix;  /* the frame's save-stack base (pp_goto keeps it) */
    I32 scopeix; /* and its scope-stack base */
} PendingGoto;

#define MAX_PENDING 16
static __thread PendingGoto pending[MAX_PENDING];
static __thread int pending_count;
static despatch_signals_proc_t next_signal_hook;

static void
note_goto(pTHX_ CV *cv, const PERL_CONTEXT *cx)
{
    PendingGoto *p;
    if (pending_count == MAX_PENDING) {
        /* Not expected; end the iteration at the goto rather than lose it. */
        MAGIC *mg = iteration_magic(aTHX_ cv);
        if (mg)
            mg->mg_private = 0;
        end_iteration(aTHX);
        SvREFCNT_dec(cv);
        return;
    }
    p = &pending[pending_count++];
    p->cv = cv;
    p->goto_op = PL_op;
    p->si = PL_curstackinfo;
    p->cxix = cxstack_ix;
    p->saveix = cx->blk_oldsaveix;
    p->scopeix = cx->blk_oldscopesp;
    PL_sig_pending = 1;
}

/* Is the frame of this pending goto still on its context stack? */
static int
frame_alive(pTHX_ const PendingGoto *p)
{
    const PERL_SI *si;
    const PERL_CONTEXT *cx;
    for (si = PL_curstackinfo; si; si = si->si_prev)
        if (si == p->si)
            break;
    if (!si || si->si_cxix < p->cxix)
        return 0;
    cx = &si->si_cxstack[p->cxix];
    return CxTYPE(cx) == CXt_SUB && cx->blk_oldsaveix == p->saveix;
}

/* PL_signalhook: at perl's next safe point after a goto out of a watched
 * sub. At pp_goto's own check the frame runs `other` now: watch it. If the
 * frame is gone and perl is back below it (`other` was an XSUB, and has
 * run; or perl died), the call is over: end the iteration. Otherwise wait:
 * this is Perl code run by the goto's own unwinding, or by the XSUB `other`
 * (pp_goto pops the frame before it calls an XSUB, inside a scope of its
 * own). Then the hook that was there before, for real signals. */
static void
resume_after_goto(pTHX)
{
    int i, kept = 0;
    for (i = 0; i < pending_count; i++) {
        PendingGoto p = pending[i];
        if (!frame_alive(aTHX_ &p)) {
            if (PL_scopestack_ix > p.scopeix) {
                pending[kept++] = p;
                continue;
            }
            MAGIC *mg = iteration_magic(aTHX_ p.cv);
            if (mg)
                mg->mg_private = 0;
            end_iteration(aTHX);
            SvREFCNT_dec(p.cv);
        }
        else if (PL_op == p.goto_op && PL_curstackinfo == p.si && cxstack_ix == p.cxix) {
            memtrace_rs_suppress(1);
            SAVEDESTRUCTOR_X(call_left, p.cv);
            memtrace_rs_suppress(0);
        }
        else {
            pending[kept++] = p;
        }
    }
    pending_count = kept;
    next_signal_hook(aTHX);
    if (pending_count)
        PL_sig_pending = 1; /* the despatcher cleared it: still waiting */
}

/* ---- the first op of a watched sub ------------------------------------------------ */

static OP *
pp_iteration_enter(pTHX)
{
    const PERL_CONTEXT *cx = CX_CUR();
    if (CxTYPE(cx) == CXt_SUB && !CxMULTICALL(cx)) {
        CV *cv = cx->blk_sub.cv;
        MAGIC *mg = iteration_magic(aTHX_ cv);
        if (mg && !mg->mg_private)
            watch(aTHX_ cv, mg);
    }
    return PL_op->op_next;
}

static XOP iteration_enter_xop;

/* The op put in front of a sub's first op: a copy of it if it is a COP,
 * else a custom op of its own. Never freed: it is not part of the sub's op
 * tree (freeing the sub frees the tree from CvROOT), and it is shared by
 * every ithread's copy of the sub, as the tree is. */
static OP *
new_enter_op(pTHX_ OP *first)
{
    OP *op;
    if (first->op_type == OP_NEXTSTATE || first->op_type == OP_DBSTATE) {
        COP *cop = (COP *)calloc(1, sizeof(COP));
        if (!cop)
            return NULL;
        *cop = *(COP *)first;
        op = (OP *)cop;
        op->op_slabbed = 0; /* not in an op slab: nothing may free it there */
        op->op_savefree = 0;
        op->op_static = 1;
    }
    else {
        op = (OP *)calloc(1, sizeof(OP));
        if (!op)
            return NULL;
        op->op_type = OP_CUSTOM;
        op->op_static = 1;
    }
    op->op_sibparent = NULL;
    op->op_moresib = 0;
    op->op_next = first;
    op->op_ppaddr = pp_iteration_enter;
    return op;
}

/* ---- XSUBs: a trampoline -------------------------------------------------------- */

static void
xsub_trampoline(pTHX_ CV *cv)
{
    MAGIC *mg = iteration_magic(aTHX_ cv);
    XSUBADDR_t original;
    if (!mg)
        croak("panic: Devel::MemTrace: -iteration: the XSUB lost its magic");
    original = DPTR2FPTR(XSUBADDR_t, mg->mg_ptr);
    if (mg->mg_private) {
        original(aTHX_ cv);
        return;
    }
    ENTER;
    watch(aTHX_ cv, mg);
    original(aTHX_ cv);
    LEAVE;
}

/* ---- _iteration_sub(\&code) ----------------------------------------------------- */

/* Watch every call of this sub from now on. Returns 1, or 0 if it was
 * watched already. Croaks (one line) for a sub with no body. */
XS_INTERNAL(XS_Devel__MemTrace__iteration_sub)
{
    dXSARGS;
    CV *target;
    MAGIC *mg;
    if (items != 1 || !SvROK(ST(0)) || SvTYPE(SvRV(ST(0))) != SVt_PVCV)
        croak_xs_usage(cv, "\\&code");
    target = (CV *)SvRV(ST(0));
    if (iteration_magic(aTHX_ target))
        XSRETURN_NO;
    if (!CvISXSUB(target) && !(CvROOT(target) && CvSTART(target)))
        croak("Devel::MemTrace: -iteration: the sub has no body to watch");
    memtrace_rs_suppress(1);
    mg = sv_magicext((SV *)target, NULL, PERL_MAGIC_ext, &iteration_vtbl, NULL, 0);
    mg->mg_flags |= MGf_DUP;
    memtrace_rs_suppress(0);
    if (CvISXSUB(target)) {
        mg->mg_ptr = (char *)FPTR2DPTR(void *, CvXSUB(target));
        CvXSUB(target) = xsub_trampoline;
    }
    else {
        OP *enter = new_enter_op(aTHX_ CvSTART(target));
        if (!enter) {
            sv_unmagicext((SV *)target, PERL_MAGIC_ext, (MGVTBL *)&iteration_vtbl);
            croak("Devel::MemTrace: -iteration: out of memory");
        }
        CvSTART(target) = enter;
    }
    /* Once: a hook installed later (-iteration_every) chains to this one. */
    if (!next_signal_hook) {
        next_signal_hook = PL_signalhook;
        PL_signalhook = resume_after_goto;
    }
    XSRETURN_YES;
}

void
register_iteration_wrapper(pTHX)
{
    XopENTRY_set(&iteration_enter_xop, xop_name, "memtrace_iteration_enter");
    XopENTRY_set(&iteration_enter_xop, xop_desc, "Devel::MemTrace -iteration: watch this call");
    XopENTRY_set(&iteration_enter_xop, xop_class, OA_BASEOP);
    Perl_custom_op_register(aTHX_ pp_iteration_enter, &iteration_enter_xop);
    newXS("Devel::MemTrace::_iteration_sub", XS_Devel__MemTrace__iteration_sub, __FILE__);
}

/*
 * -iteration_every=SECONDS: end an iteration on a timer, for event-loop
 * daemons that have no sub to wrap.
 *
 * A thread sleeps SECONDS at a time and then raises perl's "signal
 * pending" flag, as perl's own C signal handler does, but sends no signal:
 * nothing the program waits in (select, sleep, a socket read) is
 * interrupted, so the program behaves exactly as it does untraced. At its
 * next safe point (PERL_ASYNC_CHECK, between ops), perl calls
 * PL_signalhook, which here closes the iteration (through
 * Devel::MemTrace::_timer_checkpoint) and then hands over to perl's own
 * despatcher for any real signals. An idle process (blocked, running no
 * ops) ends no iteration until it wakes: there is nothing to measure.
 *
 * After fork() the thread is gone in the child; an atfork handler starts
 * one there too, so that prefork workers keep their own iterations.
 */
#include "shim_private.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

/* The interpreter running now (on a perl without MULTIPLICITY, the one). */
#ifdef MULTIPLICITY
#  define THIS_PERL aTHX
#else
#  define THIS_PERL PL_curinterp
#endif

static double every_seconds;
static volatile sig_atomic_t due;
static PerlInterpreter *timed_perl;
static despatch_signals_proc_t perl_despatch;

static void
end_iteration_at_safe_point(pTHX)
{
    if (due && THIS_PERL == timed_perl) {
        dSP;
        due = 0;
        /* Perl's despatcher first: it clears the pending flag, and runs
         * the program's own handlers for any real signals. */
        perl_despatch(aTHX);
        PUSHSTACKi(PERLSI_SIGNAL);
        PUSHMARK(SP);
        PUTBACK;
        /* The sub localises $@, $! and $? and catches its own errors. */
        /* G_NODEBUG: not through DB::sub, so perl -d never sees the tool. */
        call_pv("Devel::MemTrace::_timer_checkpoint", G_DISCARD | G_NOARGS | G_NODEBUG);
        POPSTACK;
        return;
    }
    perl_despatch(aTHX);
}

static void *
tick(void *unused)
{
    struct timespec interval;
    PERL_UNUSED_ARG(unused);
    interval.tv_sec = (time_t)every_seconds;
    interval.tv_nsec = (long)((every_seconds - (double)interval.tv_sec) * 1e9);
    for (;;) {
        struct timespec left = interval;
        while (nanosleep(&left, &left) != 0)
            ; /* EINTR: sleep the rest */
        due = 1;
        /* What perl's own C signal handler does (PL_sig_pending is an
         * interpreter variable: the interpreter that asked). */
#ifdef MULTIPLICITY
        timed_perl->Isig_pending = 1;
#else
        PL_sig_pending = 1;
#endif
    }
    return NULL;
}

static int
start_thread(void)
{
    pthread_t thread;
    pthread_attr_t attr;
    sigset_t all, before;
    int ok;
    /* The thread takes no signal meant for perl. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &before);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    ok = pthread_create(&thread, &attr, tick, NULL) == 0;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    return ok;
}

static void
restart_in_child(void)
{
    due = 0;
    (void)start_thread();
}

/* _iteration_every(seconds): start ending iterations every `seconds`, in
 * this interpreter. Croaks if a timer runs already, or no thread starts. */
XS_INTERNAL(XS_Devel__MemTrace__iteration_every)
{
    dXSARGS;
    NV seconds;
    if (items != 1 || !looks_like_number(ST(0)))
        croak_xs_usage(cv, "seconds");
    seconds = SvNV(ST(0));
    if (!(seconds >= 0.001 && seconds <= 86400))
        croak("Devel::MemTrace: -iteration_every takes 0.001 to 86400 seconds, not %" NVgf, seconds);
    if (timed_perl)
        croak("Devel::MemTrace: -iteration_every was given already (%g seconds)", every_seconds);
    every_seconds = seconds;
    timed_perl = THIS_PERL;
    perl_despatch = PL_signalhook;
    PL_signalhook = end_iteration_at_safe_point;
    if (!start_thread()) {
        PL_signalhook = perl_despatch;
        timed_perl = NULL;
        croak("Devel::MemTrace: -iteration_every: cannot start its timer thread");
    }
    pthread_atfork(NULL, NULL, restart_in_child);
    XSRETURN_EMPTY;
}

void
register_iteration_timer(pTHX)
{
    newXS("Devel::MemTrace::_iteration_every", XS_Devel__MemTrace__iteration_every, __FILE__);
}

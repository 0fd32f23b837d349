/*
 * Unlogged.xs: C memory perl never logs, for Devel::MemTrace's -malloc
 * tests. Its Newx is a plain safemalloc, as in an XS module compiled
 * without -DPERL_MEM_LOG (every distribution's): only the interposed
 * malloc sees it.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"
#include <stdlib.h>

/* What handy.h defines without PERL_MEM_LOG. */
#undef MEM_LOG_ALLOC
#undef MEM_LOG_REALLOC
#undef MEM_LOG_FREE
#define MEM_LOG_ALLOC(n, t, a) (a)
#define MEM_LOG_REALLOC(n, t, v, a) (a)
#define MEM_LOG_FREE(a) (a)

static void *held;

/* Where a block goes so that the compiler cannot drop its malloc and free
 * as a pair that nothing sees. */
static void *volatile seen;

MODULE = Unlogged    PACKAGE = Unlogged

PROTOTYPES: DISABLE

UV
leak_malloc(n)
    UV n
  PREINIT:
    char *p;
  CODE:
    /* A C library's kind of leak: plain malloc, never freed. */
    p = (char *)malloc(n);
    if (p && n)
        p[0] = 0;
    RETVAL = PTR2UV(p);
  OUTPUT:
    RETVAL

UV
leak_newx(n)
    UV n
  PREINIT:
    char *p;
  CODE:
    /* Newx without PERL_MEM_LOG: perl's hooks never hear of it. */
    Newx(p, n, char);
    if (n)
        p[0] = 0;
    RETVAL = PTR2UV(p);
  OUTPUT:
    RETVAL

UV
clean_malloc(n)
    UV n
  PREINIT:
    char *p;
    char *q;
  CODE:
    /* The clean counterparts: allocated, used, freed. */
    p = (char *)malloc(n);
    Newx(q, n, char);
    seen = p;
    seen = q;
    if (n) {
        p[0] = 1;
        q[0] = 1;
    }
    RETVAL = n ? (UV)(p[0] + q[0]) : 0;
    free(p);
    Safefree(q);
  OUTPUT:
    RETVAL

UV
leak_realloc_null(n)
    UV n
  PREINIT:
    /* volatile: else the compiler calls malloc(n) itself. */
    void *volatile nothing = NULL;
  CODE:
    /* realloc(NULL, n) is malloc(n). */
    RETVAL = PTR2UV(realloc(nothing, n));
  OUTPUT:
    RETVAL

void
realloc_to_zero(n)
    UV n
  PREINIT:
    void *p;
  CODE:
    /* glibc's realloc(p, 0) frees p (and returns NULL). */
    p = malloc(n);
    seen = p;
    p = realloc(p, 0);
    seen = p;
    free(p);

UV
leak_realloc_grow(from, to)
    UV from
    UV to
  PREINIT:
    void *p;
  CODE:
    /* One block, moved by growing: one leak of the final size. */
    p = malloc(from);
    p = realloc(p, to);
    RETVAL = PTR2UV(p);
  OUTPUT:
    RETVAL

UV
leak_posix_memalign(align, n)
    UV align
    UV n
  PREINIT:
    void *p = NULL;
  CODE:
    RETVAL = posix_memalign(&p, align, n) == 0 ? PTR2UV(p) : 0;
  OUTPUT:
    RETVAL

UV
leak_aligned_alloc(align, n)
    UV align
    UV n
  CODE:
    RETVAL = PTR2UV(aligned_alloc(align, n));
  OUTPUT:
    RETVAL

UV
hold(n)
    UV n
  CODE:
    /* Keep one block for release(): made, say, while nothing records. */
    held = malloc(n);
    RETVAL = PTR2UV(held);
  OUTPUT:
    RETVAL

void
release()
  CODE:
    free(held);
    held = NULL;

/*
 * Leaky.xs: planted leaks and their clean counterparts, for
 * Devel::MemTrace's tests and examples.
 *
 * The lines that leak carry a "LEAK:" marker; the tests find them by it,
 * so a report naming "Leaky.xs:LINE XS_Leaky_leak_buffer" can be checked
 * against this file. xsubpp writes #line directives, so __FILE__ and
 * __LINE__ in the CODE sections below are this file's.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

MODULE = Leaky    PACKAGE = Leaky

PROTOTYPES: DISABLE

void
leak_sv()
  PREINIT:
    SV *sv;
  CODE:
    /* An UNDEF SV that nothing references: no heap walk can find who
     * made it. Its C site is perl's (sv.c Perl_newSV); its Perl site is
     * the line that called Leaky::leak_sv(). */
    sv = newSV(0); /* LEAK: leak_sv */
    PERL_UNUSED_VAR(sv);

void
leak_buffer(n)
    UV n
  PREINIT:
    char *buf;
  CODE:
    /* C memory that is never freed: no SV count shows it. */
    Newx(buf, n, char); /* LEAK: leak_buffer */
    if (n)
        buf[0] = '\0';

UV
temp_buffer(n)
    UV n
  PREINIT:
    char *buf;
    UV i, sum = 0;
  CODE:
    /* The clean counterpart of leak_buffer: allocated, used, freed. */
    Newx(buf, n, char);
    for (i = 0; i < n; i++)
        buf[i] = (char)(i & 0x7f);
    for (i = 0; i < n; i++)
        sum += (UV)buf[i];
    Safefree(buf);
    RETVAL = sum;
  OUTPUT:
    RETVAL

SV *
make_sv(...)
  CODE:
    /* The clean counterpart of leak_sv: the returned SV is mortal
     * (xsubpp mortalizes an SV* RETVAL), so it dies with its statement
     * unless the caller keeps a copy. */
    RETVAL = items > 0 ? newSViv(SvIV(ST(0))) : newSV(0);
  OUTPUT:
    RETVAL

SV *
adopt_buffer(n)
    UV n
  PREINIT:
    char *buf;
  CODE:
    /* Also clean: a Newx'd buffer handed to an SV, the common XS way to
     * return a string without copying it. perl later grows (moves) it with
     * saferealloc, which PERL_MEM_LOG does not log, and frees it with the
     * SV; the recorder must follow the move. */
    Newx(buf, n + 1, char);
    memset(buf, 'a', n);
    buf[n] = '\0';
    RETVAL = newSV_type(SVt_PV);
    sv_usepvn_flags(RETVAL, buf, n, SV_HAS_TRAILING_NUL);
  OUTPUT:
    RETVAL

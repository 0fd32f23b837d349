/*
 * The file key of a COP: what the recorder's site caches (perl_probe.c's
 * memo, the per-thread cache in src/recorder/local.rs) compare, with the
 * COP's address and line, to know a statement they have resolved before.
 * Include after perl.h.
 *
 * Without ithreads it is the file's GV, which perl keeps for the life of
 * the process. With ithreads each COP owns a copy of its file name (a
 * shared string freed with the COP), so a string eval compiled after
 * another was freed can get the same COP address and the same file-name
 * address with another name in it: "(eval 15)" would be cached as the
 * site of "(eval 12)". The COP's sequence number, which perl gives each
 * statement it compiles, tells them apart.
 */
#ifndef MEMTRACE_COP_KEY_H
#define MEMTRACE_COP_KEY_H

#ifdef USE_ITHREADS
#  define MT_FILE_KEY(cop) \
    (PTR2UV((cop)->cop_file) ^ ((UV)(cop)->cop_seq * (UV)UINT64_C(0x9E3779B97F4A7C15)))
#else
#  define MT_FILE_KEY(cop) PTR2UV(CopFILEGV(cop))
#endif

#endif

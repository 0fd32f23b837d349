/*
 * The C ABI between the XS shim (shim.c) and the Rust recorder.
 *
 * This header is perl-free on purpose: bindgen turns its types and the
 * memtrace_shim_* declarations into Rust (src/xs/ffi.rs includes the
 * result), so C and Rust cannot disagree on a layout. The memtrace_rs_*
 * functions are implemented in Rust (src/xs/api.rs) for the XSUBs to call.
 */
#ifndef MEMTRACE_SHIM_H
#define MEMTRACE_SHIM_H

#include <stddef.h>
#include <stdint.h>

/* ---- implemented in C, called by Rust ---------------------------------- */

/* Where perl is: cheap identity for the per-thread site cache. The sub is
 * part of it because one COP can run outside its sub (at compile time). */
typedef struct {
    uintptr_t cop;
    uintptr_t file_key;
    uintptr_t cv;       /* innermost running sub, 0 at file level */
    uint32_t line;
} MtCurrentCop;

#define MT_SUB_NAME_MAX 512

/* A COP resolved to text: its file, and the sub that is running. */
typedef struct {
    const char *file;
    size_t file_len;
    char sub_name[MT_SUB_NAME_MAX];
    size_t sub_len;
} MtCopText;

/* What a live SV is now. */
typedef struct {
    int32_t svtype;     /* perl's svtype number */
    uint8_t is_ref;     /* SvROK */
    uint64_t size;      /* head + body + PV buffer, approximately */
} MtSvInfo;

/* The last context-stack walk of a thread: while perl stays on the same
 * COP at the same depth of the same stack, the running sub is the same. */
typedef struct {
    uintptr_t cop;
    uintptr_t si;
    uintptr_t context_stack; /* not "cxstack": perl has a macro of that name */
    int64_t cxix;
    uintptr_t cv;
} MtWalkMemo;

/* Fill *out with where perl is. 0 if no perl code is running, or if it
 * cannot be read safely now: `realloc_old` is the buffer a realloc is moving
 * away from, which may be perl's own context stack. `memo` is the calling
 * thread's own. */
int memtrace_shim_current_cop(uintptr_t realloc_old, MtWalkMemo *memo, MtCurrentCop *out);
/* Resolve what current_cop returned to text. 0 if it cannot be read safely
 * now (`realloc_old` may be a stash's name table). */
int memtrace_shim_describe_cop(const MtCurrentCop *current, uintptr_t realloc_old, MtCopText *out);
/* Describe a live SV head. 0 if it is not a live SV. */
int memtrace_shim_sv_info(uintptr_t sv, MtSvInfo *out);

/* One SV arena: heads live in [start, end). */
typedef struct {
    uintptr_t start;
    uintptr_t end;
} MtArena;

/* The SV arenas of the calling thread's interpreter: fills up to `cap` of
 * them and returns how many there are (call again with a bigger buffer if
 * that is more than `cap`). 0 if the thread has no interpreter. On a threaded
 * perl, an SV head outside these belongs to another ithread's interpreter,
 * which may free it (and its arena) at any moment: never read it. */
size_t memtrace_shim_sv_arenas(MtArena *out, size_t cap);

/* ---- implemented in Rust, called by the XSUBs -------------------------- */

typedef struct {
    uint32_t iteration;
    uint64_t svs;
    int64_t svs_delta;
    uint64_t mem_live;
    uint64_t mem_bytes;
    int64_t mem_live_delta;
    int64_t mem_bytes_delta;
    uint64_t sv_live;
    uint64_t new_leaks;
} MtSnapshot;

typedef struct {
    uintptr_t address;
    const char *kind;        /* "sv" or "mem" */
    const char *type_name;
    uint64_t size;
    uint32_t iteration;
    const char *file;
    uint32_t line;
    const char *sub_name;
    const char *c_file;
    uint32_t c_line;
    const char *c_func;
} MtLeak;

typedef struct {
    const char *name;
    uint64_t count;
} MtTypeCount;

typedef struct {
    const char *kind;
    const char *file;
    uint32_t line;
    const char *sub_name;
    const char *c_file;
    uint32_t c_line;
    const char *c_func;
    uint64_t count;
    uint64_t bytes;
    uint32_t first_iteration;
    const uint64_t *per_iteration;
    size_t per_iteration_len;
    const MtTypeCount *types;   /* most common first */
    size_t types_len;
    const char *status;      /* "steady", "intermittent" or "stopped" */
} MtLeakSite;

typedef struct {
    uint64_t events;
    uint64_t allocs;
    uint64_t reallocs;
    uint64_t frees;
    uint64_t new_svs;
    uint64_t del_svs;
    uint64_t unknown_frees;
    uint64_t overwritten;
    uint64_t nursery_cancelled;
    uint64_t live_records;
    uint64_t mem_live;
    uint64_t mem_bytes;
    uint64_t sv_live;
    uint64_t sites;
    uint64_t perl_sites;
    uint64_t table_bytes;
    uint64_t site_table_bytes;
    uint32_t iteration;
} MtStats;

/* An opaque list the XSUB reads, then hands back to be freed. */
typedef struct MtList MtList;

void memtrace_rs_boot(void);
void memtrace_rs_enable(uint64_t baseline_svs);
void memtrace_rs_pause(void);
void memtrace_rs_disable(void);
int memtrace_rs_state(void);             /* 0 off, 1 paused, 2 recording */
void memtrace_rs_suppress(int on);       /* the XS layer's own allocations */
int memtrace_rs_checkpoint(uint64_t svs, uint32_t skip, uint32_t min_age, MtSnapshot *out);
uint32_t memtrace_rs_current_iteration(void);
void memtrace_rs_stats(MtStats *out);
const char *memtrace_rs_sv_type_name(int32_t svtype, int is_ref);

MtList *memtrace_rs_history(const MtSnapshot **items, size_t *len);
MtList *memtrace_rs_leaks(uint32_t skip, uint32_t min_age, const MtLeak **items, size_t *len);
MtList *memtrace_rs_leak_sites(uint32_t skip, uint32_t min_age, const MtLeakSite **items, size_t *len);
void memtrace_rs_free_list(MtList *list);

/* An address inside the recorder library, to tell which object is first. */
void memtrace_rs_marker(void);

#endif

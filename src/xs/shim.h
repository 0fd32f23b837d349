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
    /* The callers' identity (their statements and subs), 0 if the stack
     * depth is 1 or no sub runs: with the rest, the whole call stack. */
    uint64_t callers;
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

/* Fill *out with where perl is and return 1. 0 if no perl code is running,
 * or if it cannot be read safely now: `realloc_old` is the buffer a realloc
 * is moving away from, which may be perl's own context stack. `memo` is the
 * calling thread's own. MT_RUNS_NO_CODE (*out untouched) while the thread
 * is inside an interpreter that runs no Perl code, threads::shared's: the
 * statement running is the one the thread was at before it went in. */
#define MT_RUNS_NO_CODE 2
int memtrace_shim_current_cop(uintptr_t realloc_old, MtWalkMemo *memo, MtCurrentCop *out);
#define MT_STACK_DEPTH_MAX 64
/* Keep `depth` frames of the Perl call stack (1 to 64; 1: the running
 * statement only). */
void memtrace_shim_set_stack_depth(uint32_t depth);
/* The caller frames of where perl is, outermost last, as current_cop
 * reads frame 0 (cop, file_key, cv, line; callers 0): at most `cap`, the
 * stack depth less one. Their number, or -1 if it cannot be read safely
 * now (`realloc_old` as for current_cop). */
int memtrace_shim_callers(uintptr_t realloc_old, MtCurrentCop *out, size_t cap);
/* Resolve what current_cop returned to text. 0 if it cannot be read safely
 * now (`realloc_old` may be a stash's name table). */
int memtrace_shim_describe_cop(const MtCurrentCop *current, uintptr_t realloc_old, MtCopText *out);
/* sizeof(SV): the stride of the SV arenas. */
size_t memtrace_shim_sv_head_size(void);
/* Describe a live SV head. 0 if it is not a live SV. */
int memtrace_shim_sv_info(uintptr_t sv, MtSvInfo *out);

/* One SV arena: heads live in [start, end). */
typedef struct {
    uintptr_t start;
    uintptr_t end;
} MtArena;

/* For each of `n` sorted, distinct addresses, the live SV of the calling
 * thread's interpreter whose value buffer it is, or 0, into owners[]. 0 if
 * there is no interpreter. */
int memtrace_shim_buffer_owners(const uintptr_t *sorted, size_t n, uintptr_t *owners);

/* The SV arenas of the calling thread's interpreter: fills up to `cap` of
 * them and returns how many there are (call again with a bigger buffer if
 * that is more than `cap`). 0 if the thread has no interpreter. On a threaded
 * perl, an SV head outside these belongs to another ithread's interpreter,
 * which may free it (and its arena) at any moment: never read it. */
size_t memtrace_shim_sv_arenas(MtArena *out, size_t cap);

/* The same for threads::shared's interpreter (0 arenas if none was seen).
 * Only while no other thread runs: another may be adding an arena. */
size_t memtrace_shim_shared_sv_arenas(MtArena *out, size_t cap);

/* ---- who holds an SV (holders.c) ------------------------------------------ */

#define MT_EDGE_REF 1           /* a reference's target */
#define MT_EDGE_ELEMENT 2       /* detail: the array index */
#define MT_EDGE_VALUE 3         /* detail: the HE* of the hash entry */
#define MT_EDGE_GLOB_SCALAR 4
#define MT_EDGE_GLOB_ARRAY 5
#define MT_EDGE_GLOB_HASH 6
#define MT_EDGE_GLOB_CODE 7
#define MT_EDGE_GLOB_IO 8
#define MT_EDGE_PAD 9           /* from a CV; detail: the pad index */
#define MT_EDGE_MAGIC 10        /* detail: the magic's type character */
#define MT_EDGE_ROOT_STASH 11   /* from 0: the symbol table */
#define MT_EDGE_ROOT_MAIN 12    /* from 0: the file-level code (its pad) */
#define MT_EDGE_ROOT_MORTAL 13  /* from 0: on the mortal stack */
#define MT_EDGE_CODE_PAD 14     /* from a CV to its pad; detail: the depth */

typedef struct {
    uintptr_t from;   /* the referring SV, 0 for a root */
    uintptr_t to;
    uintptr_t detail;
    uint32_t label;   /* MT_EDGE_* */
    uint32_t weak;    /* a weak reference: it does not hold */
} MtEdge;

typedef void (*MtEdgeSink)(void *ctx, const MtEdge *edges, size_t n);

/* Every reference edge of the calling interpreter's heap, in batches. 0 if
 * there is no interpreter or no memory. */
int memtrace_shim_walk_edges(MtEdgeSink sink, void *ctx);
/* Names for the path: a hash entry's key, a pad entry's name (and whether
 * it is captured from an outer sub), a glob's full name (0, writing
 * nothing, for an SV that is not a glob). Each returns the length written
 * (cut to cap - 1, NUL-terminated). */
size_t memtrace_shim_hash_key(uintptr_t he, char *out, size_t cap);
size_t memtrace_shim_pad_name(uintptr_t cv, uintptr_t index, char *out, size_t cap, int *outer);
size_t memtrace_shim_glob_name(uintptr_t gv, char *out, size_t cap);
size_t memtrace_shim_sub_name(uintptr_t cv, char *out, size_t cap);
int memtrace_shim_is_stash(uintptr_t sv);
int memtrace_shim_refcount(uintptr_t sv);

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
    uint64_t rss;          /* the process's resident bytes (0: unknown) */
} MtSnapshot;

/* A value Rust hands to perl, built into SVs by the XSUB: the answers of
 * the analysis (leaks, sites, identify, report, dump), as the same trees
 * the memtrace command prints as JSON. */
#define MT_VALUE_UNDEF 0
#define MT_VALUE_UV 1
#define MT_VALUE_IV 2
#define MT_VALUE_NV 3       /* `number` holds the double's bits */
#define MT_VALUE_STR 4      /* `text`, `len` bytes of UTF-8 */
#define MT_VALUE_ARRAY 5    /* `len` values at `items` */
#define MT_VALUE_HASH 6     /* `len` pairs at `items`: key (a STR), value */
#define MT_VALUE_TRUE 7
#define MT_VALUE_FALSE 8
#define MT_VALUE_ERROR 9    /* `text`: one line for the user; the XSUB croaks */

typedef struct MtValue {
    uint32_t kind;
    uint64_t number;
    const char *text;
    size_t len;
    const struct MtValue *items;
} MtValue;

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
    uint64_t stacks;      /* interned Perl call stacks */
    uint64_t c_frame_lists; /* interned native frame lists */
    uint64_t table_bytes;
    uint64_t site_table_bytes;
    uint32_t iteration;
} MtStats;

/* One leak, for leaks(): millions of them are turned into perl hashes
 * straight from these rows (a value tree per leak cost 3 KB and more).
 * The strings are NUL-terminated and live as long as the list. */
typedef struct {
    uintptr_t address;
    uint64_t size;
    uint32_t iteration;
    uint32_t line;
    uint32_t c_line;
    const char *kind;       /* "sv" or "mem" */
    const char *type_name;
    const char *file;
    const char *sub_name;
    const char *c_file;
    const char *c_func;
    /* What holds it (the first LEAK_HOLDERS_MAX leaks only), or NULL. */
    const char *held_kind;
    const char *held_path;
    const char *held_text;
    /* Ids into the contexts memtrace_rs_leaks hands out (0: none). */
    uint32_t stack;
    uint32_t c_frames;
} MtLeakRow;

/* An opaque list the XSUB reads, then hands back to be freed. */
typedef struct MtList MtList;

void memtrace_rs_boot(void);
void memtrace_rs_enable(uint64_t baseline_svs);
void memtrace_rs_pause(void);
void memtrace_rs_record_malloc(int on);  /* -malloc: the interposed malloc family records */
/* Frames each record keeps: of the Perl call stack, native. */
void memtrace_rs_set_depths(uint32_t stack, uint32_t c_frames);
void memtrace_rs_disable(void);
int memtrace_rs_state(void);             /* 0 off, 1 paused, 2 recording */
void memtrace_rs_suppress(int on);       /* the XS layer's own allocations */
int memtrace_rs_checkpoint(uint64_t svs, uint32_t skip, uint32_t min_age, MtSnapshot *out);
uint32_t memtrace_rs_current_iteration(void);
void memtrace_rs_stats(MtStats *out);
const char *memtrace_rs_sv_type_name(int32_t svtype, int is_ref);

/* Each returns a list owning *out (free it with memtrace_rs_free_list), or
 * NULL after an internal error (reported on stderr). */
MtList *memtrace_rs_history(const MtValue **out);
/* *contexts: { stacks => [ [frames] by stack id ], c_frames => [ [frames] by id ] }. */
MtList *memtrace_rs_leaks(uint32_t skip, uint32_t min_age, const MtLeakRow **rows, size_t *n,
                          const MtValue **contexts);
/* by_stack: group by the first frame of each leak's Perl call stack whose
 * file is under none of the `library` paths (newline-separated). */
MtList *memtrace_rs_leak_sites(uint32_t skip, uint32_t min_age, int by_stack, const char *library,
                               size_t library_len, const MtValue **out);
MtList *memtrace_rs_report(uint32_t skip, uint32_t min_age, int all, uint32_t top,
                           const MtValue **out);
MtList *memtrace_rs_identify(const uintptr_t *addresses, size_t n, uint32_t skip,
                             uint32_t min_age, const MtValue **out);
/* The given leaks (SV heads and C buffers, by address) made in iterations
 * first..=last, grouped into sites as leak_sites groups them. */
MtList *memtrace_rs_group_leaks(const uintptr_t *svs, size_t n_svs, const uintptr_t *mems,
                                size_t n_mems, uint32_t first, uint32_t last,
                                const MtValue **out);
/* Write a capture to `path`; `about` is a HASH of header texts
 * (perl_version, perl_config, program) and numbers (skip, min_age). */
MtList *memtrace_rs_dump(const char *path, size_t path_len, const MtValue *about,
                         const MtValue **out);
void memtrace_rs_free_list(MtList *list);

/* An address inside the recorder library, to tell which object is first. */
void memtrace_rs_marker(void);

#endif

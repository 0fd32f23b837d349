/*
 * The recorder's per-thread pointer, in the static TLS block.
 *
 * Rust's thread_local! in a cdylib uses the general-dynamic TLS model: every
 * access calls __tls_get_addr (and checks whether the value is initialised).
 * The hooks run millions of times a second, so the pointer the hot path
 * needs lives here instead, with the initial-exec model: one %fs-relative
 * load.
 *
 * Why initial-exec is safe for this library: the MemTrace perl has the
 * recorder in its DT_NEEDED list (install-recorder.sh puts it ahead of
 * libperl), so the dynamic linker loads it at start-up and allocates its TLS
 * in the static TLS block of every thread. When the library is dlopen()ed
 * instead (XSLoader in a perl that does not have it as DT_NEEDED, which
 * Devel::MemTrace then refuses with one line), glibc places initial-exec
 * variables in its reserved surplus of static TLS, which is plenty for the
 * one pointer here.
 */
#include <stddef.h>
#include <stdint.h>

#define MT_HIDDEN __attribute__((visibility("hidden")))

/* Not static: on x86-64 the Rust side reads it in place (recorder/lib.rs,
 * thread_slot(), through static_tls.rs); elsewhere it calls
 * memtrace_thread_slot_get. */
MT_HIDDEN __thread void *memtrace_thread_slot __attribute__((tls_model("initial-exec")));

MT_HIDDEN void *
memtrace_thread_slot_get(void)
{
    return memtrace_thread_slot;
}

MT_HIDDEN void
memtrace_thread_slot_set(void *value)
{
    memtrace_thread_slot = value;
}

/* Where the calling C code was when a hook that records a new allocation
 * was entered: its frame pointer and the hook's return address (see
 * recorder/c_frames.rs). Written by the hook before anything else, read
 * in place by the walk of native frames. Two words, in the static TLS
 * block too. */
MT_HIDDEN __thread uintptr_t memtrace_hook_frame[2] __attribute__((tls_model("initial-exec")));

/* Non-zero while this thread records a call of one of the C library's
 * allocation functions (-malloc): a call nested in it is passed through.
 * Read and written on every such call, so here rather than in a
 * thread_local! (see above); on x86-64 the Rust side reads it in place
 * (recorder/static_tls.rs). */
MT_HIDDEN __thread unsigned char memtrace_in_malloc_hook __attribute__((tls_model("initial-exec")));

MT_HIDDEN unsigned char
memtrace_in_malloc_hook_swap(unsigned char value)
{
    unsigned char was = memtrace_in_malloc_hook;
    memtrace_in_malloc_hook = value;
    return was;
}

/* The address of the buffer perl's logged free (Safefree) saw last, on this
 * thread, with -malloc: the C library's free that follows at once has
 * nothing left to record (see recorder/lib.rs, note_logged_free). */
MT_HIDDEN __thread uintptr_t memtrace_logged_free __attribute__((tls_model("initial-exec")));

MT_HIDDEN uintptr_t
memtrace_logged_free_swap(uintptr_t value)
{
    uintptr_t was = memtrace_logged_free;
    memtrace_logged_free = value;
    return was;
}

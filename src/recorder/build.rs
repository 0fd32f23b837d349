//! The recorder's per-thread pointer in the static TLS block (see
//! `thread_slot.c`): plain C, no perl headers.

fn main() {
    let file = "thread_slot.c";
    println!("cargo:rerun-if-changed={file}");
    cc::Build::new()
        .file(file)
        .pic(true)
        .opt_level(2)
        .compile("memtrace_thread_slot");
}

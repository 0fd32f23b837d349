//! A process-wide memory barrier (Linux `membarrier(2)`), so the solo
//! thread's hot path needs no fence of its own (see `nursery`).

const CMD_QUERY: libc::c_long = 0;
const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

fn membarrier(cmd: libc::c_long) -> libc::c_long {
    // SAFETY: membarrier takes (cmd, flags, cpu_id) integers and touches no
    // memory of ours.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    }
}

/// Register this process for expedited barriers. False where the kernel (or
/// a sandbox) does not offer them: the nursery is then not used.
pub fn register() -> bool {
    let supported = membarrier(CMD_QUERY);
    supported >= 0
        && supported & CMD_PRIVATE_EXPEDITED != 0
        && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
}

/// Every running thread of this process passes a full memory barrier before
/// this returns. Only called after a successful [`register`].
pub fn barrier() {
    // It cannot fail once the process is registered (membarrier(2)).
    let done = membarrier(CMD_PRIVATE_EXPEDITED);
    debug_assert_eq!(done, 0);
}

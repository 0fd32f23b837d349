//! What the integration tests share: captures built by hand (a poller like
//! examples/poller.pl, with its planted leaks), written to a temporary
//! directory, and the memtrace binary run on them.

#![allow(dead_code)] // each test file uses a part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use memtrace_format::{Capture, Header, Kind, PerlSite, Record, Site, Snapshot, Stack};

/// A directory of its own under the system's temporary directory, removed
/// when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "memtrace-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Write `capture` as `name`; its path.
    pub fn capture(&self, name: &str, capture: &Capture) -> PathBuf {
        let path = self.path(name);
        memtrace_format::write_file(&path, capture).expect("write capture");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the binary did.
pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stderr of a run that must have failed on bad input: exit 2 and
    /// exactly one line starting `memtrace: `.
    pub fn bad_input_line(&self) -> &str {
        assert_eq!(self.status, Some(2), "exit status; stderr: {}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one stderr line: {:?}", self.stderr);
        assert!(lines[0].starts_with("memtrace: "), "{:?}", lines[0]);
        assert!(
            self.stdout.is_empty(),
            "nothing on stdout: {:?}",
            self.stdout
        );
        lines[0]
    }

    pub fn ok(&self) -> &str {
        assert_eq!(self.status, Some(0), "exit status; stderr: {}", self.stderr);
        &self.stdout
    }
}

/// Run memtrace with `args` (paths as they are) and `stdin`.
pub fn memtrace<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_memtrace"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run memtrace");
    let mut input = child.stdin.take().unwrap();
    // memtrace may exit before reading; a closed pipe is fine.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("memtrace output");
    Run {
        status: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A capture under construction: tables, records and history by hand.
pub struct Given {
    pub capture: Capture,
}

impl Given {
    pub fn new(program: &str, pid: u32) -> Given {
        Given {
            capture: Capture {
                header: Header {
                    pointer_size: 8,
                    perl_version: "5.36.0".to_string(),
                    perl_config: "archname=x86_64-linux-gnu-thread-multi".to_string(),
                    program: program.to_string(),
                    pid,
                    time_ms: 1_780_000_000_000,
                    tool_version: "0.01".to_string(),
                    open_iteration: 0,
                    skip: 0,
                    min_age: 2,
                },
                strings: vec![String::new()],
                perl_sites: vec![PerlSite::default()],
                stacks: vec![Stack::default()],
                c_frames: vec![Default::default()],
                ..Capture::default()
            },
        }
    }

    pub fn string(&mut self, s: &str) -> u32 {
        if let Some(i) = self.capture.strings.iter().position(|x| x == s) {
            return i as u32;
        }
        self.capture.strings.push(s.to_string());
        (self.capture.strings.len() - 1) as u32
    }

    pub fn perl_site(&mut self, file: &str, line: u32, sub: &str) -> u32 {
        let site = PerlSite {
            file: self.string(file),
            line,
            sub: self.string(sub),
        };
        if let Some(i) = self.capture.perl_sites.iter().position(|s| *s == site) {
            return i as u32;
        }
        self.capture.perl_sites.push(site);
        (self.capture.perl_sites.len() - 1) as u32
    }

    /// A Perl stack, innermost first; its id.
    pub fn stack(&mut self, frames: Vec<u32>) -> u32 {
        self.capture.stacks.push(Stack { frames });
        (self.capture.stacks.len() - 1) as u32
    }

    /// An allocation site at `perl_site`; C site as "file:line func".
    pub fn site(&mut self, kind: Kind, perl_site: u32, c_site: &str, type_name: &str) -> u32 {
        let (place, func) = c_site.split_once(' ').unwrap();
        let (file, line) = place.split_once(':').unwrap();
        let site = Site {
            kind,
            c_file: self.string(file),
            c_line: line.parse().unwrap(),
            c_func: self.string(func),
            type_name: if kind == Kind::Mem {
                self.string(type_name)
            } else {
                0
            },
            perl_site,
            permanent_pool: func == "Perl_more_bodies" || func == "Perl_more_sv",
        };
        self.capture.sites.push(site);
        (self.capture.sites.len() - 1) as u32
    }

    /// A live record; `sv_type` for an SV ("HASH"), ignored for a buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        address: u64,
        site: u32,
        iteration: u32,
        size: u64,
        sv_type: &str,
        owner: u64,
        stack: u32,
    ) {
        let kind = self.capture.sites[site as usize].kind;
        let sv_type = if kind == Kind::Sv {
            self.string(sv_type)
        } else {
            0
        };
        self.capture.records.push(Record {
            kind,
            address,
            site,
            iteration,
            size,
            sv_type,
            owner,
            stack,
            c_frames: 0,
        });
    }

    /// Close iterations 0..closed with `history`; sort the records.
    pub fn closed(mut self, history: Vec<Snapshot>) -> Capture {
        self.capture.header.open_iteration = history.len() as u32;
        self.capture.history = history;
        self.capture.records.sort_by_key(|r| (r.kind, r.address));
        self.capture
    }
}

pub const PROGRAM: &str = "examples/poller.pl";
/// An UNDEF SV leaked at poller.pl line 133 in iteration 5.
pub const SAMPLE_UNDEF: u64 = 0x55ef_ee18_9120;
/// A char buffer leaked by Leaky.xs line 37 (called at line 134) in iteration 6.
pub const SAMPLE_BUFFER: u64 = 0x55ef_f000_6000;

/// A poller like examples/poller.pl over `closed` iterations (12 in the
/// README's run): start-up allocations in iteration 0, a warm-up cache in
/// iterations 1 and 2 (lines 61 and 88), from iteration 3 on the planted
/// leaks of main::poll every iteration (lines 133, 134, 135) and an
/// intermittent one in main::summary (line 150, odd iterations), and one of
/// perl's body arenas (never a leak). With `stacks`, main::poll's records
/// carry their Perl stack (poll called from line 210).
pub fn poller(pid: u32, closed: u32, stacks: bool) -> Capture {
    let mut g = Given::new(PROGRAM, pid);
    let f = PROGRAM;
    let start = g.perl_site(f, 12, "main::RUNTIME");
    let config = g.perl_site(f, 61, "main::load_config");
    let parse = g.perl_site(f, 88, "main::parse_line");
    let undef_line = g.perl_site(f, 133, "main::poll");
    let buffer_line = g.perl_site(f, 134, "main::poll");
    let hash_line = g.perl_site(f, 135, "main::poll");
    let summary = g.perl_site(f, 150, "main::summary");
    let caller = g.perl_site(f, 210, "main::RUNTIME");

    let s_start = g.site(Kind::Sv, start, "sv.c:5594 Perl_newSV", "");
    let m_start = g.site(Kind::Mem, start, "hv.c:723 Perl_hv_common", "char");
    let s_config = g.site(Kind::Sv, config, "sv_inline.h:369 Perl_newSV_type", "");
    let s_parse = g.site(Kind::Sv, parse, "sv.c:6322 Perl_newSVpvn", "");
    let s_undef = g.site(Kind::Sv, undef_line, "sv.c:5594 Perl_newSV", "");
    let m_leaky = g.site(
        Kind::Mem,
        buffer_line,
        "Leaky.xs:37 XS_Leaky_leak_buffer",
        "char",
    );
    let s_hash = g.site(Kind::Sv, hash_line, "sv_inline.h:369 Perl_newSV_type", "");
    let m_hek = g.site(Kind::Mem, hash_line, "hv.c:723 Perl_hv_common", "char");
    let s_summary = g.site(Kind::Sv, summary, "sv_inline.h:369 Perl_newSV_type", "");
    let m_arena = g.site(Kind::Mem, hash_line, "sv.c:1146 Perl_more_bodies", "char");
    let poll_stack = |g: &mut Given, own: u32| {
        if stacks {
            g.stack(vec![own, caller])
        } else {
            0
        }
    };
    let st_undef = poll_stack(&mut g, undef_line);
    let st_buffer = poll_stack(&mut g, buffer_line);
    let st_hash = poll_stack(&mut g, hash_line);

    let mut sv = 0x55ef_ee10_0000u64;
    let mut mem = 0x55ef_f100_0000u64;
    let mut next_sv = || {
        sv += 0x18;
        sv
    };
    let mut next_mem = || {
        mem += 0x100;
        mem
    };
    for _ in 0..40 {
        g.record(next_sv(), s_start, 0, 48, "PV", 0, 0);
    }
    for _ in 0..6 {
        g.record(next_mem(), m_start, 0, 512, "", 0, 0);
    }
    for _ in 0..3 {
        g.record(next_sv(), s_config, 1, 120, "HASH", 0, 0);
    }
    for (iteration, n) in [(1, 8), (2, 5)] {
        for _ in 0..n {
            g.record(next_sv(), s_parse, iteration, 56, "PV", 0, 0);
        }
    }
    g.record(next_mem(), m_arena, 4, 4080, "", 0, 0);
    for it in 3..=closed {
        let undef = if it == 5 { SAMPLE_UNDEF } else { next_sv() };
        g.record(undef, s_undef, it, 24, "UNDEF", 0, st_undef);
        let buffer = if it == 6 { SAMPLE_BUFFER } else { next_mem() };
        g.record(buffer, m_leaky, it, 256, "", 0, st_buffer);
        let hash = next_sv();
        g.record(hash, s_hash, it, 120, "HASH", 0, st_hash);
        for _ in 0..2 {
            g.record(next_sv(), s_hash, it, 24, "IV", 0, st_hash);
        }
        g.record(next_sv(), s_hash, it, 24, "REF", 0, st_hash);
        g.record(next_mem(), m_hek, it, 64, "", hash, st_hash);
        if it % 2 == 1 {
            g.record(next_sv(), s_summary, it, 64, "ARRAY", 0, 0);
        }
    }
    let history = history(&g.capture, closed);
    g.closed(history)
}

/// Snapshots that agree with the records: what was live at each
/// checkpoint (records made up to then), new leaks under min_age 2, and an
/// RSS that grows a little.
fn history(capture: &Capture, closed: u32) -> Vec<Snapshot> {
    // Per iteration: SVs made, buffers made, their bytes, non-pool records.
    let n = closed as usize + 1;
    let (mut svs, mut bufs, mut bytes, mut leaky) =
        (vec![0u64; n], vec![0u64; n], vec![0u64; n], vec![0u64; n]);
    for r in &capture.records {
        let i = r.iteration as usize;
        if i >= n {
            continue;
        }
        match r.kind {
            Kind::Sv => svs[i] += 1,
            Kind::Mem | Kind::Malloc => {
                bufs[i] += 1;
                bytes[i] += r.size;
            }
        }
        if !capture.sites[r.site as usize].permanent_pool {
            leaky[i] += 1;
        }
    }
    let mut snapshots: Vec<Snapshot> = Vec::new();
    let (mut sv_total, mut buf_total, mut byte_total) = (5000u64, 300u64, 170_000u64);
    for i in 0..closed as usize {
        sv_total += svs[i];
        buf_total += bufs[i];
        byte_total += bytes[i];
        let prev = snapshots.last().copied();
        let delta = |now: u64, then: Option<u64>| then.map_or(0, |t| now as i64 - t as i64);
        snapshots.push(Snapshot {
            iteration: i as u32,
            svs: sv_total,
            svs_delta: delta(sv_total, prev.map(|p| p.svs)),
            mem_live: buf_total,
            mem_bytes: byte_total,
            mem_live_delta: delta(buf_total, prev.map(|p| p.mem_live)),
            mem_bytes_delta: delta(byte_total, prev.map(|p| p.mem_bytes)),
            sv_live: sv_total - 4000,
            // Under min_age 2, what iteration i - 2 made becomes a leak now.
            new_leaks: if i >= 3 { leaky[i - 2] } else { 0 },
            rss: 31_000_000 + i as u64 * 4096 * 3,
            time_ms: 1_780_000_000_000 + i as u64 * 1000,
        });
    }
    snapshots
}

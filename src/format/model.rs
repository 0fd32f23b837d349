//! What a capture holds: plain data, the same in memory for the writer (the
//! live recorder), the reader (`memtrace`) and the analysis.
//!
//! Every table is indexed by its position; index 0 of `strings`,
//! `perl_sites`, `stacks` and `c_frames` is the empty/unknown entry, so a
//! zero id always means "none". The decoder checks every id against its
//! table, so a reader may index without further checks.

/// What kind of thing a live record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// An SV head (perl's new_sv/del_sv hooks).
    Sv = 0,
    /// A logged C allocation (Newx/Renew/Safefree).
    Mem = 1,
    /// A C allocation perl never logged, seen by the recorder's interposed
    /// `malloc` family (`-malloc`). A site kind only: its records are `Mem`
    /// records (one address space with the logged ones, which replace a
    /// `malloc` record of the same address).
    Malloc = 2,
}

impl Kind {
    /// The kind of the records of a site of this kind: a `malloc` site's
    /// records are `mem` records.
    pub fn of_records(self) -> Kind {
        match self {
            Kind::Malloc => Kind::Mem,
            kind => kind,
        }
    }

    /// The name users see (`kind` of a leak record).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sv => "sv",
            Kind::Mem => "mem",
            Kind::Malloc => "malloc",
        }
    }
}

/// Who wrote the capture, from what, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Bytes in a pointer of the traced process (8 on x86-64).
    pub pointer_size: u8,
    /// perl's version, "5.36.0".
    pub perl_version: String,
    /// perl's configuration in a few words: "archname=x86_64-linux useithreads=undef ...".
    pub perl_config: String,
    /// The program ($0) and its arguments, as one line.
    pub program: String,
    pub pid: u32,
    /// When the capture was written: milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The Devel::MemTrace version that wrote it.
    pub tool_version: String,
    /// The iteration open when it was written (= checkpoints so far).
    pub open_iteration: u32,
    /// The traced program's leak-rule defaults (`-skip`, `-min_age`).
    pub skip: u32,
    pub min_age: u32,
}

/// Where Perl code was: ids into `strings`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PerlSite {
    pub file: u32,
    pub line: u32,
    /// The fully qualified sub (`main::RUNTIME` at file level).
    pub sub: u32,
}

/// A Perl call stack: Perl site ids, innermost first (as deep as the
/// traced program's `-stack` asked; empty in older captures).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stack {
    pub frames: Vec<u32>,
}

/// One native frame: its return address and, once symbolised, ids into
/// `strings` for the function and file (0: unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CFrame {
    pub address: u64,
    pub func: u32,
    pub file: u32,
    pub line: u32,
}

/// The native frames of one allocation, innermost first, symbolised when
/// the capture was written (empty unless the program took them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CFrames {
    pub frames: Vec<CFrame>,
}

/// An allocation site: what perl passed to the hook and the Perl site that
/// was running. Strings are ids into `strings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Site {
    pub kind: Kind,
    pub c_file: u32,
    pub c_line: u32,
    pub c_func: u32,
    /// The C type given to Newx for `Mem`; 0 for `Sv`.
    pub type_name: u32,
    /// Id into `perl_sites`.
    pub perl_site: u32,
    /// perl's own permanent pools (SV and body arenas): never leaks.
    pub permanent_pool: bool,
}

/// One live allocation when the capture was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub kind: Kind,
    pub address: u64,
    /// Id into `sites`.
    pub site: u32,
    /// The iteration it was made in.
    pub iteration: u32,
    /// Bytes (for an SV: head, body and buffer, as perl reported them).
    pub size: u64,
    /// For an SV: its type when written (an id into `strings`: "HASH",
    /// "UNDEF", ...); 0 for `Mem`.
    pub sv_type: u32,
    /// For a `Mem` buffer: the address of the live SV whose body or value
    /// buffer it is, 0 if none.
    pub owner: u64,
    /// Id into `stacks` (0: none).
    pub stack: u32,
    /// Id into `c_frames` (0: none).
    pub c_frames: u32,
}

/// What a checkpoint recorded about the iteration it closed (`history()`
/// and `--json` show it as it is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Snapshot {
    pub iteration: u32,
    pub svs: u64,
    pub svs_delta: i64,
    pub mem_live: u64,
    pub mem_bytes: u64,
    pub mem_live_delta: i64,
    pub mem_bytes_delta: i64,
    pub sv_live: u64,
    pub new_leaks: u64,
    /// The process's resident set in bytes at the checkpoint (0: unknown).
    pub rss: u64,
    /// When the checkpoint ran: milliseconds since the Unix epoch (0: unknown).
    pub time_ms: u64,
}

/// What held a sampled leaked SV (or the SV owning a sampled C buffer)
/// when the capture was written: strings are ids into `strings`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Holder {
    /// The sampled leak's address (an SV head or a C buffer).
    pub address: u64,
    /// "unreferenced", "cycle", "root", ... (see memtrace-analysis).
    pub kind: u32,
    /// The path the Perl way ("@main::Log[1041]"; "" if none).
    pub path: u32,
    /// References along the path.
    pub length: u32,
    /// Its reference count, and how many references the walk could not see.
    pub refcount: u32,
    pub unseen: u32,
    /// The holder in a sentence, as the process worded it.
    pub text: u32,
}

/// A whole capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    pub header: Header,
    /// Interned strings; `strings[0]` is "".
    pub strings: Vec<String>,
    /// `perl_sites[0]` is the unknown site (all zero).
    pub perl_sites: Vec<PerlSite>,
    /// `stacks[0]` is the empty stack.
    pub stacks: Vec<Stack>,
    /// `c_frames[0]` is the empty list.
    pub c_frames: Vec<CFrames>,
    pub sites: Vec<Site>,
    /// Live records, sorted by (kind, address).
    pub records: Vec<Record>,
    /// One snapshot per closed iteration, oldest first.
    pub history: Vec<Snapshot>,
    /// The SV arenas of the traced interpreter, as (start, end) address
    /// ranges: an SV address inside one that has no record was freed or
    /// never recorded.
    pub sv_arenas: Vec<(u64, u64)>,
    /// What held each leak sampled for the report's sites, sorted by
    /// address (empty in captures written before holders were recorded).
    pub holders: Vec<Holder>,
}

impl Capture {
    /// An empty capture that already follows the table rules of
    /// `Capture::validate`: each id-0 entry in place ("", the unknown perl
    /// site, the empty stack and frame list). Writers start from this.
    pub fn new(header: Header) -> Capture {
        Capture {
            header,
            strings: vec![String::new()],
            perl_sites: vec![PerlSite::default()],
            stacks: vec![Stack::default()],
            c_frames: vec![CFrames::default()],
            ..Capture::default()
        }
    }
}

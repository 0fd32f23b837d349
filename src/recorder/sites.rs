//! Interning of strings, Perl sites and allocation sites.
//!
//! Everything interned here is kept for the life of the process, so ids and
//! the string pointers handed to the XS layer stay valid. The number of
//! distinct sites is bounded by the program's code, not by its run time.

use std::ffi::{c_char, CString};

use hashbrown::HashMap;

use super::event::{CFramesId, Context, PerlSiteId, StackId, StaticStr};

pub type StringId = u32;

/// Interned strings, each kept NUL-terminated so C can borrow it.
#[derive(Default)]
pub struct Strings {
    texts: Vec<CString>,
    ids: HashMap<Box<[u8]>, StringId, foldhash::fast::RandomState>,
}

impl Strings {
    /// Intern `bytes` (a NUL inside is cut there, as C would read it).
    pub fn intern(&mut self, bytes: &[u8]) -> StringId {
        let bytes = match bytes.iter().position(|&b| b == 0) {
            Some(nul) => &bytes[..nul],
            None => bytes,
        };
        if let Some(&id) = self.ids.get(bytes) {
            return id;
        }
        let id = self.texts.len() as StringId;
        self.texts
            .push(CString::new(bytes).expect("NUL bytes were cut above"));
        self.ids.insert(bytes.into(), id);
        id
    }

    pub fn get(&self, id: StringId) -> &str {
        self.texts[id as usize].to_str().unwrap_or("?")
    }

    /// A pointer to the NUL-terminated text, valid for the process lifetime
    /// (a `CString`'s heap buffer does not move when `texts` grows).
    pub fn c_ptr(&self, id: StringId) -> *const c_char {
        self.texts[id as usize].as_ptr()
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// Where Perl code was when an allocation happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PerlSite {
    pub file: StringId,
    pub line: u32,
    /// Fully qualified name of the running sub (`main::RUNTIME` at file level).
    pub sub: StringId,
}

/// The Perl-site table, with the Perl call stacks and the native frame
/// lists made of them. Id 0 of each is reserved for "unknown" (an empty
/// stack, an empty list).
pub struct PerlSites {
    pub strings: Strings,
    sites: Vec<PerlSite>,
    ids: HashMap<PerlSite, PerlSiteId, foldhash::fast::RandomState>,
    stacks: Vec<Box<[PerlSiteId]>>,
    stack_ids: HashMap<Box<[PerlSiteId]>, StackId, foldhash::fast::RandomState>,
    c_frames: Vec<Box<[usize]>>,
    c_frames_ids: HashMap<Box<[usize]>, CFramesId, foldhash::fast::RandomState>,
}

impl Default for PerlSites {
    fn default() -> Self {
        let mut strings = Strings::default();
        let empty = strings.intern(b"");
        PerlSites {
            strings,
            sites: vec![PerlSite {
                file: empty,
                line: 0,
                sub: empty,
            }],
            ids: HashMap::default(),
            stacks: vec![Box::new([])],
            stack_ids: HashMap::default(),
            c_frames: vec![Box::new([])],
            c_frames_ids: HashMap::default(),
        }
    }
}

impl PerlSites {
    /// Intern a Perl call stack, innermost frame first (an empty one is 0).
    pub fn intern_stack(&mut self, frames: &[PerlSiteId]) -> StackId {
        if frames.is_empty() {
            return 0;
        }
        if let Some(&id) = self.stack_ids.get(frames) {
            return id;
        }
        let id = self.stacks.len() as StackId;
        self.stacks.push(frames.into());
        self.stack_ids.insert(frames.into(), id);
        id
    }

    /// The frames of a stack, innermost first (none for 0 or an unknown id).
    pub fn stack(&self, id: StackId) -> &[PerlSiteId] {
        self.stacks.get(id as usize).map_or(&[], |s| s)
    }

    /// The Perl site of a stack: its innermost frame (0 for none).
    pub fn innermost(&self, id: StackId) -> PerlSiteId {
        self.stack(id).first().copied().unwrap_or(0)
    }

    pub fn stacks_len(&self) -> usize {
        self.stacks.len()
    }

    /// Intern a list of native return addresses, innermost first.
    pub fn intern_c_frames(&mut self, frames: &[usize]) -> CFramesId {
        if frames.is_empty() {
            return 0;
        }
        if let Some(&id) = self.c_frames_ids.get(frames) {
            return id;
        }
        let id = self.c_frames.len() as CFramesId;
        self.c_frames.push(frames.into());
        self.c_frames_ids.insert(frames.into(), id);
        id
    }

    /// The return addresses of a list, innermost first.
    pub fn c_frames(&self, id: CFramesId) -> &[usize] {
        self.c_frames.get(id as usize).map_or(&[], |s| s)
    }

    pub fn c_frames_len(&self) -> usize {
        self.c_frames.len()
    }

    pub fn intern(&mut self, file: &[u8], line: u32, sub: &[u8]) -> PerlSiteId {
        let file = one_file_for_string_evals(file);
        let site = PerlSite {
            file: self.strings.intern(&file),
            line,
            sub: self.strings.intern(sub),
        };
        *self.ids.entry(site).or_insert_with(|| {
            self.sites.push(site);
            (self.sites.len() - 1) as PerlSiteId
        })
    }

    pub fn get(&self, id: PerlSiteId) -> PerlSite {
        self.sites
            .get(id as usize)
            .copied()
            .unwrap_or(self.sites[0])
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.len() <= 1
    }
}

/// A C site's file, written one way: its own name. perl's own files come
/// as "sv.c" (perl builds in its source root), an XS module's as whatever
/// path its build passed the compiler, often absolute
/// ("/root/.cache/.../build/Foo-1.0/Foo.xs"); the function beside it
/// tells two files of one name apart.
fn c_file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// perl names the code of each string eval "(eval N)" (with a suffix such
/// as "[file:line]" under the debugger), N counting every eval the program
/// ever ran: one site per eval would grow without bound in a program that
/// evals in its loop. All of them are one file, "(eval)"; the line within
/// the eval's text and the sub still tell the sites apart.
fn one_file_for_string_evals(file: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let Some(rest) = file.strip_prefix(b"(eval ") else {
        return file.into();
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    match rest[digits..].strip_prefix(b")") {
        Some(suffix) if digits > 0 => [&b"(eval)"[..], suffix].concat().into(),
        _ => file.into(),
    }
}

/// What kind of thing a live record is: the capture format's, so a
/// record's kind needs no translation on its way to a capture.
pub use memtrace_format::Kind;

pub type SiteId = u32;

/// An allocation site: the C site perl passed in, the Perl site that was
/// running, and what was allocated.
#[derive(Clone, Copy, Debug)]
pub struct Site {
    pub kind: Kind,
    pub c_file: StringId,
    pub c_line: u32,
    pub c_func: StringId,
    /// C type name for `Mem`; empty for `Sv` (its type is read when reported).
    pub type_name: StringId,
    /// The Perl call stack (whose innermost frame is the Perl site) and the
    /// native frames.
    pub context: Context,
    /// Perl's own permanent pools (SV and body arenas): never leaks.
    pub permanent_pool: bool,
}

/// Running totals for one site.
#[derive(Clone, Copy, Debug, Default)]
pub struct SiteStats {
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub live: u64,
    pub live_bytes: u64,
}

/// What the aggregator touches for every record it adds or drops: the
/// site's totals and the two facts that decide which global totals count
/// the record, side by side (one bounds check, one cache line).
#[derive(Clone, Copy, Debug)]
pub struct SiteAccount {
    pub stats: SiteStats,
    pub kind: Kind,
    /// As [`Site::permanent_pool`].
    pub permanent_pool: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SiteKey {
    kind: Kind,
    c_file: StaticStr,
    c_line: u32,
    c_func: StaticStr,
    type_name: StaticStr,
    context: Context,
}

/// C functions whose allocations are pools perl keeps for ever: new SV
/// arenas and new body arenas appear whenever live SVs outgrow the arena.
const PERMANENT_POOL_FUNCS: &[&str] = &[
    "Perl_more_sv",
    "S_more_sv",
    "Perl_more_bodies",
    "S_more_bodies",
    "Perl_sv_add_arena",
];

/// The allocation-site table, owned by the aggregator.
#[derive(Default)]
pub struct Sites {
    pub strings: Strings,
    sites: Vec<Site>,
    accounts: Vec<SiteAccount>,
    ids: HashMap<SiteKey, SiteId, foldhash::fast::RandomState>,
    /// Recent lookups, direct-mapped by a cheap hash of the key: events
    /// come from a few dozen sites at a time (a loop body's), which take
    /// turns, so one "last site" misses most of the time.
    recent: Option<Box<[(SiteKey, SiteId); RECENT_SITES]>>,
}

const RECENT_SITES: usize = 256;

#[inline(always)]
fn recent_slot(key: &SiteKey) -> usize {
    let mixed = (key.c_func.0 as u64 ^ (key.c_line as u64) << 20)
        .wrapping_add((key.context.stack as u64) << 1 | key.kind as u64)
        .wrapping_add((key.context.c_frames as u64) << 33)
        .wrapping_add(key.type_name.0 as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 56) as usize % RECENT_SITES
}

/// A key no event has (kind Sv with a type name): marks an empty slot.
const NO_KEY: SiteKey = SiteKey {
    kind: Kind::Sv,
    c_file: StaticStr::NULL,
    c_line: u32::MAX,
    c_func: StaticStr::NULL,
    type_name: StaticStr(std::ptr::dangling::<c_char>()),
    context: Context {
        stack: u32::MAX,
        c_frames: u32::MAX,
    },
};

impl Sites {
    #[allow(clippy::too_many_arguments)]
    pub fn intern(
        &mut self,
        kind: Kind,
        c_file: StaticStr,
        c_line: u32,
        c_func: StaticStr,
        type_name: StaticStr,
        context: Context,
    ) -> SiteId {
        let key = SiteKey {
            kind,
            c_file,
            c_line,
            c_func,
            type_name,
            context,
        };
        let slot = recent_slot(&key);
        if let Some(recent) = &self.recent {
            let (recent_key, id) = &recent[slot];
            if *recent_key == key {
                return *id;
            }
        }
        self.intern_slow(key, slot)
    }

    #[inline(never)]
    fn intern_slow(&mut self, key: SiteKey, slot: usize) -> SiteId {
        let id = match self.ids.get(&key) {
            Some(&id) => id,
            None => self.insert_new(key),
        };
        let recent = self
            .recent
            .get_or_insert_with(|| Box::new([(NO_KEY, 0); RECENT_SITES]));
        recent[slot] = (key, id);
        id
    }

    fn insert_new(&mut self, key: SiteKey) -> SiteId {
        let c_func_text = key.c_func.to_text();
        let site = Site {
            kind: key.kind,
            c_file: self
                .strings
                .intern(c_file_name(&key.c_file.to_text()).as_bytes()),
            c_line: key.c_line,
            permanent_pool: PERMANENT_POOL_FUNCS.contains(&c_func_text.as_str()),
            c_func: self.strings.intern(c_func_text.as_bytes()),
            type_name: self.strings.intern(key.type_name.to_text().as_bytes()),
            context: key.context,
        };
        let id = self.sites.len() as SiteId;
        self.sites.push(site);
        self.accounts.push(SiteAccount {
            stats: SiteStats::default(),
            kind: site.kind,
            permanent_pool: site.permanent_pool,
        });
        self.ids.insert(key, id);
        id
    }

    pub fn get(&self, id: SiteId) -> &Site {
        &self.sites[id as usize]
    }

    pub fn stats(&self, id: SiteId) -> &SiteStats {
        &self.accounts[id as usize].stats
    }

    pub fn stats_mut(&mut self, id: SiteId) -> &mut SiteStats {
        &mut self.accounts[id as usize].stats
    }

    #[inline(always)]
    pub fn account_mut(&mut self, id: SiteId) -> &mut SiteAccount {
        &mut self.accounts[id as usize]
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// Approximate heap bytes held by the site tables.
    pub fn heap_bytes(&self) -> usize {
        self.sites.capacity() * std::mem::size_of::<Site>()
            + self.accounts.capacity() * std::mem::size_of::<SiteAccount>()
            + self.ids.capacity() * (std::mem::size_of::<(SiteKey, SiteId)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_interned_once_and_nul_terminated() {
        let mut s = Strings::default();
        let a = s.intern(b"sv.c");
        assert_eq!(s.intern(b"sv.c"), a);
        assert_ne!(s.intern(b"hv.c"), a);
        assert_eq!(s.get(a), "sv.c");
        let c = unsafe { std::ffi::CStr::from_ptr(s.c_ptr(a)) };
        assert_eq!(c.to_bytes(), b"sv.c");
    }

    #[test]
    fn perl_site_zero_is_unknown() {
        let mut p = PerlSites::default();
        let id = p.intern(b"t.pl", 3, b"main::f");
        assert_ne!(id, 0);
        assert_eq!(p.intern(b"t.pl", 3, b"main::f"), id);
        assert_eq!(p.get(0).line, 0);
        assert_eq!(p.strings.get(p.get(id).sub), "main::f");
    }

    #[test]
    fn stacks_and_native_frame_lists_are_interned_once() {
        let mut p = PerlSites::default();
        let inner = p.intern(b"lib/Lib.pm", 4, b"Lib::make");
        let (a, b) = (
            p.intern(b"t.pl", 20, b"main::RUNTIME"),
            p.intern(b"t.pl", 30, b"main::RUNTIME"),
        );
        let from_a = p.intern_stack(&[inner, a]);
        let from_b = p.intern_stack(&[inner, b]);
        assert_ne!(from_a, from_b, "another caller, another stack");
        assert_eq!(p.intern_stack(&[inner, a]), from_a);
        assert_eq!(p.intern_stack(&[]), 0, "the empty stack is 0");
        assert_eq!(
            (p.stack(from_b), p.innermost(from_b)),
            (&[inner, b][..], inner)
        );
        assert_eq!(p.innermost(0), 0);
        let frames = p.intern_c_frames(&[0x1000, 0x2000]);
        assert_ne!(frames, 0);
        assert_eq!(p.intern_c_frames(&[0x1000, 0x2000]), frames);
        assert_ne!(p.intern_c_frames(&[0x1000]), frames);
        assert_eq!(p.c_frames(frames), &[0x1000, 0x2000]);
        assert_eq!((p.stacks_len(), p.c_frames_len()), (3, 3));
    }

    #[test]
    fn a_site_is_its_c_site_with_its_context() {
        let mut sites = Sites::default();
        let mut at = |stack| {
            sites.intern(
                Kind::Sv,
                StaticStr(c"sv.c".as_ptr()),
                5594,
                StaticStr(c"Perl_newSV".as_ptr()),
                StaticStr::NULL,
                Context::of_stack(stack),
            )
        };
        let (one, two) = (at(1), at(2));
        assert_ne!(one, two, "two stacks, two sites");
        assert_eq!(at(1), one);
        assert_eq!(sites.get(two).context, Context::of_stack(2));
    }

    #[test]
    fn every_string_eval_is_one_file() {
        let mut p = PerlSites::default();
        let first = p.intern(b"(eval 1)", 2, b"main::RUNTIME");
        assert_eq!(p.intern(b"(eval 200000)", 2, b"main::RUNTIME"), first);
        assert_ne!(
            p.intern(b"(eval 7)", 3, b"main::RUNTIME"),
            first,
            "another line"
        );
        assert_eq!(p.strings.get(p.get(first).file), "(eval)");
        let debugged = p.intern(b"(eval 12)[t.pl:34]", 1, b"main::f");
        assert_eq!(p.strings.get(p.get(debugged).file), "(eval)[t.pl:34]");
        for not_an_eval in [&b"(eval)"[..], b"(eval x)", b"(evaluate 1)", b"t.pl"] {
            let id = p.intern(not_an_eval, 1, b"main::g");
            assert_eq!(p.strings.get(p.get(id).file).as_bytes(), not_an_eval);
        }
    }

    #[test]
    fn a_c_site_is_written_by_its_file_name_alone() {
        let mut sites = Sites::default();
        let text = |sites: &Sites, id| sites.strings.get(sites.get(id).c_file).to_string();
        let xs = sites.intern(
            Kind::Mem,
            StaticStr(c"/root/.cache/x/build/Foo-1.0/Foo.xs".as_ptr()),
            26,
            StaticStr(c"XS_Foo_leak".as_ptr()),
            StaticStr(c"char".as_ptr()),
            Context::NONE,
        );
        let core = sites.intern(
            Kind::Sv,
            StaticStr(c"sv_inline.h".as_ptr()),
            369,
            StaticStr(c"Perl_newSV_type".as_ptr()),
            StaticStr::NULL,
            Context::NONE,
        );
        assert_eq!(
            (text(&sites, xs), text(&sites, core)),
            ("Foo.xs".into(), "sv_inline.h".into())
        );
    }

    #[test]
    fn arena_pools_are_marked_permanent() {
        let mut sites = Sites::default();
        let func = c"Perl_more_bodies";
        let id = sites.intern(
            Kind::Mem,
            StaticStr(c"sv.c".as_ptr()),
            1,
            StaticStr(func.as_ptr()),
            StaticStr(c"char".as_ptr()),
            Context::NONE,
        );
        assert!(sites.get(id).permanent_pool);
    }
}

//! Which live records are leaks, and how they group into leak sites.

use std::collections::HashMap;

use memtrace_format::{Kind, Record};
use serde::Serialize;

use crate::heap::Heap;
use crate::holder::Holder;
use crate::rule::LeakRule;
use crate::status::Status;

/// Every leak under `rule`, completed (SV type and size filled in), ordered
/// by iteration, then kind, then address. Perl's permanent pools (SV and
/// body arenas) are never leaks.
pub fn leaks(heap: &Heap, rule: LeakRule) -> Vec<Record> {
    let Some((first, last)) = rule.eligible(heap.closed()) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    heap.records.for_each(&mut |mut record| {
        if (first..=last).contains(&record.iteration) && !heap.site(record.site).permanent_pool {
            heap.records.complete(&mut record);
            found.push(record);
        }
    });
    found.sort_unstable_by_key(|r| (r.iteration, r.kind, r.address));
    found
}

/// A type with its count at a leak site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypeCount {
    pub name: String,
    pub count: u64,
}

/// Leaks grouped by kind, Perl site and C site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeakSite {
    /// "sv" or "mem".
    pub kind: &'static str,
    /// The Perl site: file, line and fully qualified sub.
    pub file: String,
    pub line: u32,
    pub sub: String,
    /// The C site perl passed to the hook.
    pub c_file: String,
    pub c_line: u32,
    pub c_func: String,
    /// The most common type at the site.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Type names with their counts, most common first (serialized as a
    /// map, `{ "HASH": 9, "REF": 9 }`, which is what perl code wants).
    #[serde(serialize_with = "types_as_map")]
    pub types: Vec<TypeCount>,
    pub count: u64,
    pub bytes: u64,
    /// The first eligible iteration; `per_iteration[0]` counts its leaks.
    pub first_iteration: u32,
    pub per_iteration: Vec<u64>,
    pub status: Status,
    /// Iterations between leaks, when the site leaks at a regular rhythm
    /// (every 5th request, say): what tells it from a cache that stopped.
    pub period: Option<u32>,
    /// One leaked address of the site (of its latest iteration), for
    /// identify and for matching a heap dump's addresses.
    pub sample_address: u64,
    /// What holds a few of the site's latest leaks (for a C buffer: the SV
    /// that owns it, and what holds that).
    pub held_by: Vec<Holder>,
    /// The Perl call stack of most of its leaks, innermost first (empty if
    /// the recorder kept none).
    pub stack: Vec<Frame>,
    /// Every Perl call stack its leaks were made with, most leaked first.
    pub stacks: Vec<StackCount>,
    /// The native frames of most of its leaks, innermost first (inlined
    /// functions as frames of their own); empty if none were taken.
    pub c_frames: Vec<CFrameText>,
}

/// One frame of a Perl call stack: a statement, in the sub it runs in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Frame {
    pub file: String,
    pub line: u32,
    pub sub: String,
}

/// A Perl call stack and how many of a site's leaks it made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackCount {
    pub count: u64,
    pub frames: Vec<Frame>,
}

/// One native frame, named.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CFrameText {
    pub func: String,
    pub file: String,
    pub line: u32,
}

/// perl's allocation functions: a native frame in one of these allocates
/// for its caller, which is the culprit to name.
const ALLOCATOR_FUNCS: &[&str] = &[
    "Perl_newSV_type",
    "Perl_newSV_type_mortal",
    "Perl_newSV",
    "S_new_SV",
    "Perl_new_SV",
    "S_new_body",
    "Perl_more_sv",
    "S_more_sv",
    "Perl_more_bodies",
    "Perl_sv_upgrade",
    "Perl_sv_grow",
    "Perl_sv_grow_fresh",
    "Perl_mem_log_alloc",
    "Perl_mem_log_new_sv",
    "Perl_newSVsv_flags",
    "Perl_newSVpvn",
    "Perl_newSVpv",
    "Perl_newSViv",
    "Perl_newSVuv",
    "Perl_newSVnv",
    "Perl_newRV",
    "Perl_newRV_noinc",
    "Perl_newSVrv",
];

/// Whether a native frame is one of perl's allocation functions (or the C
/// library's), which allocate on behalf of their caller.
pub fn is_allocator(func: &str) -> bool {
    ALLOCATOR_FUNCS.contains(&func)
        || func.starts_with("Perl_safesys")
        || func.starts_with("Perl_mem_log_")
        || matches!(
            func,
            "malloc" | "calloc" | "realloc" | "free" | "__libc_malloc" | "__libc_calloc"
        )
}

/// perl's machinery for calling and returning from subs and for running
/// ops: a value it makes (a sub's return value, copied by
/// `Perl_leave_adjust_stacks`) belongs to the C code that called the sub.
const CALL_MACHINERY: &[&str] = &[
    "Perl_leave_adjust_stacks",
    "Perl_pp_leavesub",
    "Perl_pp_leavesublv",
    "Perl_pp_return",
    "Perl_pp_leave",
    "Perl_pp_leaveeval",
    "Perl_pp_leavetry",
    "Perl_pp_entersub",
    "Perl_runops_standard",
    "Perl_runops_debug",
    "Perl_call_sv",
    "Perl_call_method",
    "Perl_call_pv",
    "Perl_call_argv",
    "Perl_call_list",
    "Perl_eval_sv",
    "S_run_body",
    "perl_run",
    "S_docatch",
    "main",
    "__libc_start_main",
    "__libc_start_call_main",
];

/// The native frame to name as the culprit: the first outside perl's
/// allocation functions and its machinery for calling subs (so that a
/// sub's return value that C code called for and dropped names that C
/// code); else the first outside the allocation functions. None if there
/// are no frames, or all are allocation functions.
pub fn culprit(frames: &[CFrameText]) -> Option<&CFrameText> {
    culprit_index(frames).map(|i| &frames[i])
}

/// Where in `frames` [`culprit`] is.
fn culprit_index(frames: &[CFrameText]) -> Option<usize> {
    let mut made = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.func.is_empty() && !is_allocator(&f.func));
    let first = made.clone().next();
    made.find(|(_, f)| !CALL_MACHINERY.contains(&f.func.as_str()))
        .or(first)
        .map(|(i, _)| i)
}

/// How leak sites are formed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Grouping {
    /// By the Perl site (the innermost frame) and the C site.
    #[default]
    Site,
    /// By the first frame of the Perl call stack whose file is under none
    /// of these paths (the libraries), and the C site: each caller of a
    /// library sub that leaks is a site of its own.
    Stack { library: Vec<String> },
}

impl LeakSite {
    /// The C function its leaks were made by, when native frames were
    /// taken (see [`culprit`]): part of what makes a site, with [`Self::key`].
    pub fn culprit(&self) -> Option<&CFrameText> {
        culprit(&self.c_frames)
    }

    /// The key under which sites of different heaps (captures of several
    /// processes, or of one process at two times) are the same site.
    pub fn key(&self) -> SiteKey {
        SiteKey {
            kind: self.kind,
            file: self.file.clone(),
            line: self.line,
            sub: self.sub.clone(),
            c_file: self.c_file.clone(),
            c_line: self.c_line,
            c_func: self.c_func.clone(),
        }
    }

    /// The last eligible iteration `per_iteration` covers.
    pub fn last_iteration(&self) -> u32 {
        self.first_iteration + self.per_iteration.len().saturating_sub(1) as u32
    }
}

fn types_as_map<S: serde::Serializer>(types: &[TypeCount], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(types.iter().map(|t| (&t.name, t.count)))
}

/// What makes two leak sites the same, by text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteKey {
    pub kind: &'static str,
    pub file: String,
    pub line: u32,
    pub sub: String,
    pub c_file: String,
    pub c_line: u32,
    pub c_func: String,
}

impl SiteKey {
    /// The key of allocation site `site` of `heap`.
    pub fn of(heap: &Heap, site: u32) -> SiteKey {
        let site = heap.site(site);
        let perl = heap.perl_site(site);
        SiteKey {
            kind: site.kind.name(),
            file: heap.string(perl.file).to_string(),
            line: perl.line,
            sub: heap.string(perl.sub).to_string(),
            c_file: heap.string(site.c_file).to_string(),
            c_line: site.c_line,
            c_func: heap.string(site.c_func).to_string(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct GroupKey {
    kind: Kind,
    perl_site: u32,
    c_file: u32,
    c_line: u32,
    c_func: u32,
    culprit: Culprit,
}

/// The culprit among a leak's native frames (see [`culprit`]), as string
/// ids (function, file) and line: two leaks made at one Perl line and one
/// C site (perl's `Perl_newSV`, or `malloc`) by different C functions
/// (two XSUBs called on one line) are two sites. [`NO_CULPRIT`] for a leak
/// without native frames.
type Culprit = (u32, u32, u32);
const NO_CULPRIT: Culprit = (u32::MAX, u32::MAX, 0);

struct Group {
    key: GroupKey,
    count: u64,
    bytes: u64,
    per_iteration: Vec<u64>,
    /// (type name's string id, count): a site has a few types at most.
    types: Vec<(u32, u64)>,
    /// The latest leaks, (iteration, address), newest first, lowest
    /// address first within an iteration: [0] is the sample address, all
    /// of them are asked what holds them.
    samples: Vec<(u32, u64)>,
    /// (stack id, count) and (native frames id, count).
    stacks: Vec<(u32, u64)>,
    c_frames: Vec<(u32, u64)>,
}

/// Add one to `id`'s count.
fn count_in(counts: &mut Vec<(u32, u64)>, id: u32) {
    match counts.iter_mut().find(|(known, _)| *known == id) {
        Some((_, count)) => *count += 1,
        None => counts.push((id, 1)),
    }
}

/// Leaks per site whose holders are looked for.
const HOLDER_SAMPLES: usize = 3;

/// Groups leaks into sites one record at a time, so that grouping a
/// million leaks keeps a few sites in memory, not the million records.
struct Grouper<'h, 'a> {
    heap: &'h Heap<'a>,
    first: u32,
    last: u32,
    groups: Vec<Group>,
    /// Group index by allocation site id (`NONE` until the site is met):
    /// sites that differ only in type share a group.
    by_site: Vec<u32>,
    by_key: HashMap<GroupKey, u32>,
    grouping: &'h Grouping,
    /// Group index by (allocation site, stack or `NONE`, culprit), for the
    /// leaks `by_site` does not serve: grouping by stack, or with a
    /// culprit.
    by_context: HashMap<(u32, u32, Culprit), u32>,
    /// The culprit of each native frames list, by its id, once found.
    culprits: Vec<Option<Culprit>>,
}

const NONE: u32 = u32::MAX;

impl<'h, 'a> Grouper<'h, 'a> {
    fn new(heap: &'h Heap<'a>, first: u32, last: u32, grouping: &'h Grouping) -> Self {
        Grouper {
            heap,
            first,
            last,
            groups: Vec::new(),
            by_site: vec![NONE; heap.tables.sites.len()],
            by_key: HashMap::new(),
            grouping,
            by_context: HashMap::new(),
            culprits: vec![None; heap.tables.c_frames.len()],
        }
    }

    /// The culprit of native frames list `id`.
    fn culprit_of(&mut self, id: u32) -> Culprit {
        let Some(slot) = self.culprits.get_mut(id as usize) else {
            return NO_CULPRIT;
        };
        *slot.get_or_insert_with(|| {
            let text = self.heap.c_frames_text(id);
            match culprit_index(&text) {
                Some(i) => {
                    let frame = &self.heap.tables.c_frames[id as usize].frames[i];
                    (frame.func, frame.file, frame.line)
                }
                None => NO_CULPRIT,
            }
        })
    }

    /// Add one completed leak (one outside first..=last is left out).
    fn add(&mut self, leak: &Record) {
        if !(self.first..=self.last).contains(&leak.iteration) {
            return;
        }
        let culprit = self.culprit_of(leak.c_frames);
        let stack = match self.grouping {
            Grouping::Site => None,
            Grouping::Stack { .. } => Some(leak.stack),
        };
        let index = if stack.is_none() && culprit == NO_CULPRIT {
            match self.by_site[leak.site as usize] {
                NONE => self.group_of_site(leak.site, None, culprit),
                index => index,
            }
        } else {
            let context = (leak.site, stack.unwrap_or(NONE), culprit);
            match self.by_context.get(&context) {
                Some(&index) => index,
                None => self.group_of_site(leak.site, stack, culprit),
            }
        };
        let type_id = match leak.kind {
            Kind::Sv => leak.sv_type,
            Kind::Mem | Kind::Malloc => self.heap.site(leak.site).type_name,
        };
        let group = &mut self.groups[index as usize];
        group.count += 1;
        group.bytes += leak.size;
        group.per_iteration[(leak.iteration - self.first) as usize] += 1;
        count_in(&mut group.types, type_id);
        count_in(&mut group.stacks, leak.stack);
        count_in(&mut group.c_frames, leak.c_frames);
        let newer = |a: &(u32, u64), b: &(u32, u64)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        let candidate = (leak.iteration, leak.address);
        if group.samples.len() < HOLDER_SAMPLES {
            group.samples.push(candidate);
            group.samples.sort_by(newer);
        } else if newer(&candidate, &group.samples[HOLDER_SAMPLES - 1]).is_lt() {
            group.samples[HOLDER_SAMPLES - 1] = candidate;
            group.samples.sort_by(newer);
        }
    }

    /// The group of an allocation site (and, grouping by stack, of the
    /// stack its leak was made with; and of its leak's culprit).
    #[cold]
    fn group_of_site(&mut self, site_id: u32, stack: Option<u32>, culprit: Culprit) -> u32 {
        let site = self.heap.site(site_id);
        let perl_site = match (self.grouping, stack) {
            (Grouping::Stack { library }, Some(stack)) => self
                .heap
                .first_frame_outside(stack, library)
                .unwrap_or(site.perl_site),
            _ => site.perl_site,
        };
        let key = GroupKey {
            kind: site.kind,
            perl_site,
            c_file: site.c_file,
            c_line: site.c_line,
            c_func: site.c_func,
            culprit,
        };
        let span = (self.last - self.first + 1) as usize;
        let groups = &mut self.groups;
        let index = *self.by_key.entry(key).or_insert_with(|| {
            groups.push(Group {
                key,
                count: 0,
                bytes: 0,
                per_iteration: vec![0; span],
                types: Vec::new(),
                samples: Vec::new(),
                stacks: Vec::new(),
                c_frames: Vec::new(),
            });
            (groups.len() - 1) as u32
        });
        if stack.is_none() && culprit == NO_CULPRIT {
            self.by_site[site_id as usize] = index;
        } else {
            self.by_context
                .insert((site_id, stack.unwrap_or(NONE), culprit), index);
        }
        index
    }

    /// The sites, most leaked first.
    fn finish(self) -> Vec<LeakSite> {
        let heap = self.heap;
        // One question for all the sites' samples: the live process walks
        // its heap once.
        let asked: Vec<(Kind, u64)> = self
            .groups
            .iter()
            .flat_map(|g| {
                g.samples
                    .iter()
                    .map(move |&(_, address)| (g.key.kind.of_records(), address))
            })
            .collect();
        let mut answers = heap.records.holders(heap.tables, &asked).into_iter();
        let mut sites: Vec<(u32, LeakSite)> = self
            .groups
            .into_iter()
            .map(|group| {
                let key = group.key;
                let perl = heap.tables.perl_sites[key.perl_site as usize];
                let mut types: Vec<TypeCount> = group
                    .types
                    .iter()
                    .map(|&(id, count)| TypeCount {
                        name: heap.string(id).to_string(),
                        count,
                    })
                    .collect();
                types.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
                let mut stacks: Vec<StackCount> = group
                    .stacks
                    .iter()
                    .filter(|(id, _)| *id != 0)
                    .map(|&(id, count)| StackCount {
                        count,
                        frames: heap.stack_frames(id),
                    })
                    .collect();
                stacks.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.frames.cmp(&b.frames)));
                let mut c_frames = group.c_frames.clone();
                c_frames.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let c_frames = c_frames
                    .first()
                    .map(|&(id, _)| heap.c_frames_text(id))
                    .unwrap_or_default();
                let site = LeakSite {
                    kind: key.kind.name(),
                    file: heap.string(perl.file).to_string(),
                    line: perl.line,
                    sub: heap.string(perl.sub).to_string(),
                    c_file: heap.string(key.c_file).to_string(),
                    c_line: key.c_line,
                    c_func: heap.string(key.c_func).to_string(),
                    type_name: types.first().map(|t| t.name.clone()).unwrap_or_default(),
                    types,
                    count: group.count,
                    bytes: group.bytes,
                    first_iteration: self.first,
                    status: Status::classify(&group.per_iteration),
                    period: Status::period(&group.per_iteration),
                    per_iteration: group.per_iteration,
                    sample_address: group.samples.first().map_or(0, |s| s.1),
                    held_by: group
                        .samples
                        .iter()
                        .filter_map(|_| answers.next().flatten())
                        .collect(),
                    stack: stacks.first().map(|s| s.frames.clone()).unwrap_or_default(),
                    stacks,
                    c_frames,
                };
                (key.perl_site, site)
            })
            .collect();
        sites.sort_by(|(a_perl, a), (b_perl, b)| {
            b.count
                .cmp(&a.count)
                .then(b.bytes.cmp(&a.bytes))
                .then(a_perl.cmp(b_perl))
                .then(a.c_line.cmp(&b.c_line))
                .then_with(|| a.culprit().cmp(&b.culprit()))
        });
        sites.into_iter().map(|(_, site)| site).collect()
    }
}

/// Leaks grouped into sites, most leaked first. Streams the live records:
/// its memory is the sites', not the leaks'.
pub fn leak_sites(heap: &Heap, rule: LeakRule) -> Vec<LeakSite> {
    leak_sites_by(heap, rule, &Grouping::Site)
}

/// [`leak_sites`], grouped as `grouping` says.
pub fn leak_sites_by(heap: &Heap, rule: LeakRule, grouping: &Grouping) -> Vec<LeakSite> {
    let Some((first, last)) = rule.eligible(heap.closed()) else {
        return Vec::new();
    };
    let mut grouper = Grouper::new(heap, first, last, grouping);
    heap.records.for_each(&mut |mut record| {
        if (first..=last).contains(&record.iteration) && !heap.site(record.site).permanent_pool {
            heap.records.complete(&mut record);
            grouper.add(&record);
        }
    });
    grouper.finish()
}

/// Completed `leaks` made in iterations `first..=last` grouped into sites
/// (by kind, Perl site and C site), most leaked first, as [`leak_sites`]
/// groups them: for Test::MemTrace's own selections of leaks.
pub fn group(heap: &Heap, leaks: Vec<Record>, first: u32, last: u32) -> Vec<LeakSite> {
    let mut grouper = Grouper::new(heap, first, last.max(first), &Grouping::Site);
    for leak in &leaks {
        grouper.add(leak);
    }
    grouper.finish()
}

/// Keep the sites of one status, or "ongoing" (steady and intermittent),
/// or "all".
pub fn with_status(sites: Vec<LeakSite>, which: &str) -> Vec<LeakSite> {
    sites
        .into_iter()
        .filter(|s| match which {
            "all" => true,
            "ongoing" => s.status != Status::Stopped,
            name => s.status.name() == name,
        })
        .collect()
}

/// The leak sites of several heaps (the workers of a prefork server, say)
/// as one list: the same site (by text) in several heaps is one site, its
/// counts added iteration by iteration, its status judged again on the sum.
pub fn merge_sites(lists: Vec<Vec<LeakSite>>) -> Vec<LeakSite> {
    let mut merged: Vec<LeakSite> = Vec::new();
    let mut index: HashMap<(SiteKey, Option<CFrameText>), usize> = HashMap::new();
    for site in lists.into_iter().flatten() {
        let key = (site.key(), site.culprit().cloned());
        let Some(&i) = index.get(&key) else {
            index.insert(key, merged.len());
            merged.push(site);
            continue;
        };
        let into = &mut merged[i];
        into.count += site.count;
        into.bytes += site.bytes;
        // Every heap was judged with the same rule: the same first iteration.
        if into.per_iteration.len() < site.per_iteration.len() {
            into.per_iteration.resize(site.per_iteration.len(), 0);
        }
        for (sum, n) in into.per_iteration.iter_mut().zip(&site.per_iteration) {
            *sum += n;
        }
        for t in site.types {
            match into.types.iter_mut().find(|m| m.name == t.name) {
                Some(m) => m.count += t.count,
                None => into.types.push(t),
            }
        }
        for s in site.stacks {
            match into.stacks.iter_mut().find(|m| m.frames == s.frames) {
                Some(m) => m.count += s.count,
                None => into.stacks.push(s),
            }
        }
        if into.c_frames.is_empty() {
            into.c_frames = site.c_frames;
        }
    }
    for site in &mut merged {
        site.types
            .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        site.type_name = site
            .types
            .first()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        site.status = Status::classify(&site.per_iteration);
        site.period = Status::period(&site.per_iteration);
        site.stacks
            .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.frames.cmp(&b.frames)));
        site.stack = site
            .stacks
            .first()
            .map(|s| s.frames.clone())
            .unwrap_or_default();
    }
    merged.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.bytes.cmp(&a.bytes))
            .then_with(|| a.key().cmp(&b.key()))
            .then_with(|| a.culprit().cmp(&b.culprit()))
    });
    merged
}

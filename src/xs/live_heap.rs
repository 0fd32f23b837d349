//! The analysis's view of the live recorder: its tables copied into a
//! capture's shape (small: bounded by the program's code), and its live
//! records read in place, completed through perl (an SV's type and size,
//! a buffer's owner) only for the records the analysis asks about.

use std::collections::HashMap;

use memtrace_analysis::format::{
    CFrame, CFrames, Capture, Header, Kind, PerlSite, Record, Site, Stack,
};
use memtrace_analysis::{holder_kind, Holder, Records};

use super::ffi::memtrace_shim_buffer_owners;
use super::holders::HolderIndex;
use super::sv_types::{sv_type_name, LiveSvs, SvState, SV_TYPE_NAMES};
use super::symbols::Symbols;
use crate::recorder::live::{split_key, LiveRecord};
use crate::recorder::sites::PerlSites;
use crate::recorder::Aggregator;

/// SV type names that are not perl's own svtype names.
const OTHER_TYPE_NAMES: [&str; 4] = ["REF", "OTHER_THREAD", "FREED", "UNKNOWN"];

/// Strings interned into a capture's table.
struct Interner {
    strings: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Interner {
    fn new() -> Interner {
        let mut interner = Interner {
            strings: Vec::new(),
            ids: HashMap::new(),
        };
        interner.intern("");
        interner
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }
}

/// The recorder's tables and history in a capture's shape (no records),
/// and the string ids of the SV type names.
pub struct LiveTables {
    pub capture: Capture,
    sv_types: HashMap<&'static str, u32>,
    /// The string id of each svtype's name, by perl's svtype number (a
    /// capture completes millions of SV records: no hashing per record).
    by_svtype: Vec<u32>,
    /// Each allocation site's Perl call stack and native frames (ids into
    /// the capture's `stacks` and `c_frames`), which its records carry.
    site_context: Vec<(u32, u32)>,
}

impl LiveTables {
    /// Copy the tables out of the aggregator and the Perl-site table.
    pub fn copy(aggregator: &Aggregator, perl: &PerlSites, header: Header) -> LiveTables {
        let mut strings = Interner::new();
        let perl_sites: Vec<PerlSite> = (0..perl.len() as u32)
            .map(|id| {
                let site = perl.get(id);
                PerlSite {
                    file: strings.intern(perl.strings.get(site.file)),
                    line: site.line,
                    sub: strings.intern(perl.strings.get(site.sub)),
                }
            })
            .collect();
        let stacks: Vec<Stack> = (0..perl.stacks_len() as u32)
            .map(|id| Stack {
                frames: perl.stack(id).to_vec(),
            })
            .collect();
        let symbols = Symbols::of_this_process(perl);
        let c_frames: Vec<CFrames> = (0..perl.c_frames_len() as u32)
            .map(|id| CFrames {
                // An address inside inlined code is one frame per
                // function, innermost first, all with that address.
                frames: perl
                    .c_frames(id)
                    .iter()
                    .flat_map(|&address| {
                        symbols
                            .frames(address)
                            .into_iter()
                            .map(move |symbol| (address, symbol))
                    })
                    .map(|(address, symbol)| CFrame {
                        address: address as u64,
                        func: strings.intern(&symbol.func),
                        file: strings.intern(&symbol.file),
                        line: symbol.line,
                    })
                    .collect(),
            })
            .collect();
        let text = &aggregator.sites.strings;
        let site_context: Vec<(u32, u32)> = (0..aggregator.sites.len() as u32)
            .map(|id| {
                let context = aggregator.sites.get(id).context;
                (context.stack, context.c_frames)
            })
            .collect();
        let sites: Vec<Site> = (0..aggregator.sites.len() as u32)
            .map(|id| {
                let site = aggregator.sites.get(id);
                Site {
                    kind: site.kind,
                    c_file: strings.intern(text.get(site.c_file)),
                    c_line: site.c_line,
                    c_func: strings.intern(text.get(site.c_func)),
                    type_name: match site.kind {
                        Kind::Mem | Kind::Malloc => strings.intern(text.get(site.type_name)),
                        Kind::Sv => 0,
                    },
                    perl_site: perl.innermost(site.context.stack),
                    permanent_pool: site.permanent_pool,
                }
            })
            .collect();
        let sv_types: HashMap<&'static str, u32> = SV_TYPE_NAMES
            .iter()
            .map(|(_, name)| name.to_str().unwrap_or("UNKNOWN"))
            .chain(OTHER_TYPE_NAMES)
            .map(|name| (name, strings.intern(name)))
            .collect();
        let unknown = sv_types["UNKNOWN"];
        let mut by_svtype = Vec::new();
        for (value, name) in SV_TYPE_NAMES {
            let index = (*value).max(0) as usize;
            if by_svtype.len() <= index {
                by_svtype.resize(index + 1, unknown);
            }
            by_svtype[index] = sv_types[name.to_str().unwrap_or("UNKNOWN")];
        }
        let capture = Capture {
            header: Header {
                pointer_size: std::mem::size_of::<usize>() as u8,
                open_iteration: aggregator.iteration,
                ..header
            },
            strings: strings.strings,
            perl_sites,
            stacks,
            c_frames,
            sites,
            records: Vec::new(),
            history: aggregator.history.snapshots().to_vec(),
            sv_arenas: Vec::new(),
            holders: Vec::new(),
        };
        LiveTables {
            capture,
            sv_types,
            by_svtype,
            site_context,
        }
    }

    fn sv_type_id(&self, name: &str) -> u32 {
        self.sv_types
            .get(name)
            .or_else(|| self.sv_types.get("UNKNOWN"))
            .copied()
            .unwrap_or(0)
    }

    /// The string id of an SV's type name, as `sv_type_name` names it.
    fn type_id_of(&self, svtype: i32, is_ref: bool) -> u32 {
        if is_ref {
            return self.sv_type_id("REF");
        }
        usize::try_from(svtype)
            .ok()
            .and_then(|i| self.by_svtype.get(i).copied())
            .unwrap_or_else(|| self.sv_type_id("UNKNOWN"))
    }
}

/// The live table, read in place.
pub struct LiveRecords<'a> {
    aggregator: &'a Aggregator,
    tables: &'a LiveTables,
    svs: LiveSvs,
    /// Buffer address -> owning SV, for the buffers [`Self::find_owners`]
    /// was asked about.
    owners: HashMap<u64, u64>,
}

impl<'a> LiveRecords<'a> {
    /// Call from an XSUB (perl is not running meanwhile).
    pub fn new(aggregator: &'a Aggregator, tables: &'a LiveTables) -> LiveRecords<'a> {
        LiveRecords {
            aggregator,
            tables,
            svs: LiveSvs::of_this_interpreter(),
            owners: HashMap::new(),
        }
    }

    /// Find the SVs that own these buffers (one walk of the arenas).
    pub fn find_owners(&mut self, buffers: &mut Vec<u64>) {
        buffers.sort_unstable();
        buffers.dedup();
        let mut owners = vec![0usize; buffers.len()];
        let sorted: Vec<usize> = buffers.iter().map(|&b| b as usize).collect();
        // SAFETY: both slices hold `sorted.len()` entries; called from an
        // XSUB on the interpreter's own thread.
        let done = unsafe {
            memtrace_shim_buffer_owners(sorted.as_ptr(), sorted.len(), owners.as_mut_ptr())
        };
        if done != 0 {
            for (buffer, owner) in buffers.iter().zip(owners) {
                if owner != 0 {
                    self.owners.insert(*buffer, owner as u64);
                }
            }
        }
    }

    /// The calling interpreter's SV arenas.
    pub fn sv_arenas(&self) -> Vec<(u64, u64)> {
        self.svs.arenas()
    }
}

/// A live table entry as a record, not yet completed (see `complete`).
fn record_of(tables: &LiveTables, kind: Kind, address: u64, live: LiveRecord) -> Record {
    let (stack, c_frames) = tables
        .site_context
        .get(live.site as usize)
        .copied()
        .unwrap_or((0, 0));
    Record {
        kind,
        address,
        site: live.site,
        iteration: live.iteration(),
        size: live.size(),
        sv_type: 0,
        owner: 0,
        stack,
        c_frames,
    }
}

impl Records for LiveRecords<'_> {
    fn for_each(&self, f: &mut dyn FnMut(Record)) {
        for (key, live) in self.aggregator.live.iter() {
            let (kind, address) = split_key(key);
            f(record_of(self.tables, kind, address as u64, live));
        }
    }

    fn complete(&self, record: &mut Record) {
        match record.kind {
            Kind::Sv => match self.svs.state(record.address as usize) {
                SvState::Live {
                    svtype,
                    is_ref,
                    size,
                } => {
                    record.sv_type = self.tables.type_id_of(svtype, is_ref);
                    record.size = size;
                }
                SvState::OtherThread => record.sv_type = self.tables.sv_type_id("OTHER_THREAD"),
                SvState::Freed => record.sv_type = self.tables.sv_type_id("FREED"),
            },
            Kind::Mem | Kind::Malloc => {
                record.owner = self.owners.get(&record.address).copied().unwrap_or(0);
            }
        }
    }

    fn find(&self, kind: Kind, address: u64) -> Option<Record> {
        let key = crate::recorder::live::live_key(kind, address as usize);
        let live = self.aggregator.live.get(&key)?;
        Some(record_of(self.tables, kind, address, live))
    }

    fn holders(&self, _tables: &Capture, leaks: &[(Kind, u64)]) -> Vec<Option<Holder>> {
        if leaks.is_empty() {
            return Vec::new();
        }
        // The SVs that own the C buffers asked about: one arena walk.
        let mut buffers: Vec<usize> = leaks
            .iter()
            .filter(|(k, _)| k.of_records() == Kind::Mem)
            .map(|&(_, a)| a as usize)
            .collect();
        buffers.sort_unstable();
        buffers.dedup();
        let mut owners = vec![0usize; buffers.len()];
        if !buffers.is_empty() {
            // SAFETY: both hold buffers.len() entries; called from an XSUB.
            unsafe {
                memtrace_shim_buffer_owners(buffers.as_ptr(), buffers.len(), owners.as_mut_ptr())
            };
        }
        let owner_of = |buffer: u64| {
            buffers
                .binary_search(&(buffer as usize))
                .ok()
                .map_or(0, |i| owners[i])
        };
        let Some(index) = HolderIndex::build() else {
            return vec![None; leaks.len()];
        };
        let holder_of_sv = |sv: usize| match self.svs.state(sv) {
            SvState::Live { .. } if self.svs.is_own(sv) => index.holder_of(sv),
            // Read, but in threads::shared's interpreter, whose references
            // the walk of this one does not see.
            SvState::Live { .. } => {
                Holder::new(sv as u64, holder_kind::OTHER_THREAD, String::new(), 0, 0, 0).with_text(
                    "threads::shared's interpreter (a shared variable), which is not walked",
                )
            }
            SvState::OtherThread => {
                Holder::new(sv as u64, holder_kind::OTHER_THREAD, String::new(), 0, 0, 0)
            }
            SvState::Freed => Holder::new(sv as u64, holder_kind::UNKNOWN, String::new(), 0, 0, 0),
        };
        leaks
            .iter()
            .map(|&(kind, address)| {
                Some(match kind {
                    Kind::Sv => holder_of_sv(address as usize),
                    Kind::Mem | Kind::Malloc => match owner_of(address) {
                        0 => {
                            Holder::new(address, holder_kind::UNREFERENCED, String::new(), 0, 0, 0)
                                .with_text(
                                    "no SV owns it: C code holds it (or perl's own structures: \
                                     a hash key, a sub's pad, an op tree)",
                                )
                        }
                        owner => {
                            let of_owner = holder_of_sv(owner);
                            let owner_type = match self.svs.state(owner) {
                                SvState::Live { svtype, is_ref, .. } => {
                                    sv_type_name(svtype, is_ref).to_str().unwrap_or("SV")
                                }
                                _ => "SV",
                            };
                            // (no address: the samples of a site fold into one line)
                            let text = format!(
                                "the {owner_type} it belongs to, held by: {}",
                                of_owner.text
                            );
                            Holder {
                                address: memtrace_analysis::hex(address),
                                ..of_owner
                            }
                            .with_text(&text)
                        }
                    },
                })
            })
            .collect()
    }

    fn unrecorded(&self, _tables: &Capture, address: u64) -> String {
        match self.svs.unrecorded_sv(address as usize) {
            Some(name) => format!(
                "a live {name} SV that was never recorded: made before Devel::MemTrace was \
                 loaded, or while recording was paused"
            ),
            None if self.svs.is_own(address as usize) => {
                "an empty SV slot: the SV there was freed".to_string()
            }
            None => "no live record: freed, made while nothing was recorded (before \
                     Devel::MemTrace was loaded, or while paused), or not the start of an \
                     allocation"
                .to_string(),
        }
    }
}

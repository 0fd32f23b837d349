//! The analysis's view of the live recorder: its tables copied into a
//! capture's shape (small: bounded by the program's code), and its live
//! records read in place, completed through perl (an SV's type and size,
//! a buffer's owner) only for the records the analysis asks about.

use std::collections::HashMap;

use memtrace_analysis::format::{Capture, Header, Kind, PerlSite, Record, Site};
use memtrace_analysis::Records;

use super::ffi::memtrace_shim_buffer_owners;
use super::sv_types::{LiveSvs, SvState, SV_TYPE_NAMES};
use crate::recorder::live::split_key;
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
        let text = &aggregator.sites.strings;
        let sites: Vec<Site> = (0..aggregator.sites.len() as u32)
            .map(|id| {
                let site = aggregator.sites.get(id);
                Site {
                    kind: site.kind,
                    c_file: strings.intern(text.get(site.c_file)),
                    c_line: site.c_line,
                    c_func: strings.intern(text.get(site.c_func)),
                    type_name: match site.kind {
                        Kind::Mem => strings.intern(text.get(site.type_name)),
                        Kind::Sv => 0,
                    },
                    perl_site: site.perl_site,
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
            stacks: vec![Default::default()],
            c_frames: vec![Default::default()],
            sites,
            records: Vec::new(),
            history: aggregator.history.snapshots().to_vec(),
            sv_arenas: Vec::new(),
        };
        LiveTables {
            capture,
            sv_types,
            by_svtype,
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

impl Records for LiveRecords<'_> {
    fn for_each(&self, f: &mut dyn FnMut(Record)) {
        for (key, live) in self.aggregator.live.iter() {
            let (kind, address) = split_key(key);
            f(Record {
                kind,
                address: address as u64,
                site: live.site,
                iteration: live.iteration(),
                size: live.size(),
                sv_type: 0,
                owner: 0,
                stack: 0,
                c_frames: 0,
            });
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
            Kind::Mem => {
                record.owner = self.owners.get(&record.address).copied().unwrap_or(0);
            }
        }
    }

    fn find(&self, kind: Kind, address: u64) -> Option<Record> {
        let key = crate::recorder::live::live_key(kind, address as usize);
        let live = self.aggregator.live.get(&key)?;
        Some(Record {
            kind,
            address,
            site: live.site,
            iteration: live.iteration(),
            size: live.size(),
            sv_type: 0,
            owner: 0,
            stack: 0,
            c_frames: 0,
        })
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

//! The one view every analysis reads: tables, history and live records,
//! from the live recorder or from a capture.

use memtrace_format::{Capture, Kind, PerlSite, Record, Site};

use crate::holder::Holder;
use crate::leaks::{CFrameText, Frame};

/// The live records of a heap.
pub trait Records {
    /// Every live record, in any order. An SV record may come without its
    /// type and size, which [`Records::complete`] fills in.
    fn for_each(&self, f: &mut dyn FnMut(Record));
    /// Fill in what only a live process can tell: an SV's type and size
    /// now, a buffer's owner. A capture's records are complete already.
    fn complete(&self, _record: &mut Record) {}
    /// The SV type name of a completed SV record.
    fn sv_type<'a>(&'a self, tables: &'a Capture, record: &Record) -> &'a str {
        string(tables, record.sv_type)
    }
    /// The live record of this kind at this address.
    fn find(&self, kind: Kind, address: u64) -> Option<Record>;
    /// What holds each of these leaks (SV heads and C buffers), in order:
    /// the live process walks its heap; a capture kept the answers for the
    /// leaks it sampled (None for the others).
    fn holders(&self, tables: &Capture, leaks: &[(Kind, u64)]) -> Vec<Option<Holder>> {
        leaks
            .iter()
            .map(|&(_, address)| {
                let at = tables.holders.binary_search_by_key(&address, |h| h.address);
                at.ok().map(|i| {
                    let h = &tables.holders[i];
                    Holder {
                        address: crate::report::hex(address),
                        kind: string(tables, h.kind).to_string(),
                        path: string(tables, h.path).to_string(),
                        length: h.length,
                        refcount: h.refcount,
                        unseen: h.unseen,
                        text: string(tables, h.text).to_string(),
                    }
                })
            })
            .collect()
    }

    /// Why `address` has no live record, in a few words.
    fn unrecorded(&self, tables: &Capture, address: u64) -> String {
        let in_arena = tables
            .sv_arenas
            .iter()
            .any(|&(start, end)| (start..end).contains(&address));
        if in_arena {
            "an SV slot with no live record: freed, or made while nothing was recorded (before \
             Devel::MemTrace was loaded, or while paused)"
                .to_string()
        } else {
            "no live record: freed, made while nothing was recorded (before Devel::MemTrace was \
             loaded, or while paused), or not the start of an allocation"
                .to_string()
        }
    }
}

/// A capture's records: sorted by (kind, address), complete.
impl Records for Vec<Record> {
    fn for_each(&self, f: &mut dyn FnMut(Record)) {
        self.iter().for_each(|r| f(*r));
    }

    fn find(&self, kind: Kind, address: u64) -> Option<Record> {
        self.binary_search_by_key(&(kind, address), |r| (r.kind, r.address))
            .ok()
            .map(|i| self[i])
    }
}

/// A heap to analyse: the tables and history of `tables` (whose own
/// `records` are not read) and the live `records`.
#[derive(Clone, Copy)]
pub struct Heap<'a> {
    pub tables: &'a Capture,
    pub records: &'a dyn Records,
}

impl<'a> Heap<'a> {
    /// A capture read from a file: its own records.
    pub fn of_capture(capture: &'a Capture) -> Heap<'a> {
        Heap {
            tables: capture,
            records: &capture.records,
        }
    }

    /// Iterations closed so far (checkpoints).
    pub fn closed(&self) -> u32 {
        self.tables.header.open_iteration
    }

    pub fn site(&self, id: u32) -> &'a Site {
        &self.tables.sites[id as usize]
    }

    pub fn perl_site(&self, site: &Site) -> &'a PerlSite {
        &self.tables.perl_sites[site.perl_site as usize]
    }

    pub fn string(&self, id: u32) -> &'a str {
        string(self.tables, id)
    }

    /// The frames of a Perl call stack, innermost first (none for 0).
    pub fn stack_frames(&self, stack: u32) -> Vec<Frame> {
        let Some(stack) = self.tables.stacks.get(stack as usize) else {
            return Vec::new();
        };
        stack
            .frames
            .iter()
            .map(|&id| {
                let perl = self
                    .tables
                    .perl_sites
                    .get(id as usize)
                    .copied()
                    .unwrap_or_default();
                Frame {
                    file: self.string(perl.file).to_string(),
                    line: perl.line,
                    sub: self.string(perl.sub).to_string(),
                }
            })
            .collect()
    }

    /// The first frame of a stack whose file is under none of the `library`
    /// paths (each a directory or a file name), as a Perl site id; the
    /// innermost frame if all are; None for no stack.
    pub fn first_frame_outside(&self, stack: u32, library: &[String]) -> Option<u32> {
        let frames = &self.tables.stacks.get(stack as usize)?.frames;
        let in_library = |id: &u32| {
            let perl = self
                .tables
                .perl_sites
                .get(*id as usize)
                .copied()
                .unwrap_or_default();
            let file = self.string(perl.file);
            library.iter().any(|path| {
                let path = path.trim_end_matches('/');
                !path.is_empty()
                    && (file == path
                        || file
                            .strip_prefix(path)
                            .is_some_and(|rest| rest.starts_with('/')))
            })
        };
        frames
            .iter()
            .find(|id| !in_library(id))
            .or(frames.first())
            .copied()
    }

    /// The native frames of a list, named, innermost first (none for 0).
    pub fn c_frames_text(&self, c_frames: u32) -> Vec<CFrameText> {
        let Some(list) = self.tables.c_frames.get(c_frames as usize) else {
            return Vec::new();
        };
        list.frames
            .iter()
            .map(|f| CFrameText {
                func: self.string(f.func).to_string(),
                file: self.string(f.file).to_string(),
                line: f.line,
            })
            .collect()
    }

    /// The type name of a completed record: the SV's type, or the C type.
    pub fn type_name(&self, record: &Record) -> &'a str {
        match record.kind {
            Kind::Sv => self.records.sv_type(self.tables, record),
            Kind::Mem | Kind::Malloc => self.string(self.site(record.site).type_name),
        }
    }
}

/// A string of a capture's table ("" for an id out of range, which a
/// decoded capture never has).
pub fn string(tables: &Capture, id: u32) -> &str {
    tables.strings.get(id as usize).map_or("", String::as_str)
}

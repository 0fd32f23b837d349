//! What keeps a leaked SV alive: found in the live process (src/xs/
//! holders.rs walks the SV arenas) or kept in a capture for the sampled
//! leaks of each site.

use serde::Serialize;

/// The kinds of holder, as `held_by` names them.
pub mod kind {
    /// No SV refers to it: its reference count is held by C code.
    pub const UNREFERENCED: &str = "unreferenced";
    /// Only weak references remain (they do not hold): C code holds it.
    pub const WEAK_ONLY: &str = "weak only";
    /// A chain of references leads from it back to itself.
    pub const CYCLE: &str = "cycle";
    /// Reachable from the symbol table, a file-level lexical or the mortal
    /// stack: the path says how.
    pub const ROOT: &str = "root";
    /// Held, through the path, by an SV that nothing refers to (or that is
    /// itself in a cycle).
    pub const UNREFERENCED_HOLDER: &str = "unreferenced holder";
    /// In another thread's interpreter, which is not walked.
    pub const OTHER_THREAD: &str = "other thread";
    /// Not an SV the walk could see (freed, or not in this interpreter).
    pub const UNKNOWN: &str = "unknown";
}

/// What holds one SV.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// The held SV, in hex (for a C buffer: the buffer).
    pub address: String,
    /// One of [`kind`].
    pub kind: String,
    /// The path the Perl way: `@main::Log[1041]`, `{self}` for a cycle,
    /// `my %cache in main::handler{k17}`; "" where there is none.
    pub path: String,
    /// References along the path (a cycle of 2: `{self}` then the REF).
    pub length: u32,
    /// The SV's reference count, and how many of those references the walk
    /// could not see (C code, or perl's own internals).
    pub refcount: u32,
    pub unseen: u32,
    /// One line for a person.
    pub text: String,
}

impl Holder {
    /// The same holder, worded otherwise.
    pub fn with_text(self, text: &str) -> Holder {
        Holder {
            text: text.to_string(),
            ..self
        }
    }

    /// Word a holder found by the walk.
    pub fn new(
        address: u64,
        kind: &str,
        path: String,
        length: u32,
        refcount: u32,
        unseen: u32,
    ) -> Holder {
        let unseen_text = match unseen {
            0 => String::new(),
            1 => "; 1 more reference the walk cannot see (C code, or perl's internals)".to_string(),
            n => format!("; {n} more references the walk cannot see (C code, or perl's internals)"),
        };
        let text = match kind {
            kind::UNREFERENCED => format!(
                "nothing refers to it: its {} held by C code (an XS function that \
                 never released it)",
                if refcount == 1 {
                    "one reference is".to_string()
                } else {
                    format!("{refcount} references are")
                }
            ),
            kind::WEAK_ONLY => format!(
                "only weak references remain ({path}), and they do not hold: its {refcount} \
                 reference{} held by C code",
                if refcount == 1 { " is" } else { "s are" }
            ),
            kind::CYCLE => format!("a cycle of {length} ({path}){unseen_text}"),
            kind::ROOT => format!("{path}{unseen_text}"),
            kind::UNREFERENCED_HOLDER => format!("{path}{unseen_text}"),
            kind::OTHER_THREAD => "another thread's interpreter, which is not walked".to_string(),
            _ => "not an SV the walk could see".to_string(),
        };
        Holder {
            address: crate::report::hex(address),
            kind: kind.to_string(),
            path,
            length,
            refcount,
            unseen,
            text,
        }
    }
}

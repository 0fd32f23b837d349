//! Native return addresses named: function, file and line, from the DWARF
//! of the object each address falls in (perl, libperl, an XS module, a C
//! library), inlined calls included. Done when a report or a capture asks,
//! never in a hook, and remembered for the life of the process: an address
//! is named once.

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use crate::recorder::sites::PerlSites;

/// One frame of an address: inlined functions come before the function
/// they were inlined into, as a debugger shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Symbol {
    pub func: String,
    /// The file's name only (`pp_ctl.c`), as C sites are written.
    pub file: String,
    pub line: u32,
}

/// Every address named so far, with its frames (innermost first).
static NAMED: Mutex<Option<HashMap<usize, Vec<Symbol>>>> = Mutex::new(None);

/// The names of the addresses of a Perl-site table's native frame lists.
pub struct Symbols {
    named: HashMap<usize, Vec<Symbol>>,
}

impl Symbols {
    /// Name every address of `perl`'s native frame lists not named yet.
    pub fn of_this_process(perl: &PerlSites) -> Symbols {
        let mut guard = NAMED.lock().unwrap_or_else(PoisonError::into_inner);
        let named = guard.get_or_insert_with(HashMap::new);
        let mut wanted: Vec<usize> = (1..perl.c_frames_len() as u32)
            .flat_map(|id| perl.c_frames(id).iter().copied())
            .filter(|address| !named.contains_key(address))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if !wanted.is_empty() {
            let objects = loaded_objects();
            let mut by_object: HashMap<usize, Vec<usize>> = HashMap::new();
            for &address in &wanted {
                match objects.iter().position(|o| o.contains(address)) {
                    Some(i) => by_object.entry(i).or_default().push(address),
                    None => {
                        named.insert(address, vec![unknown(address)]);
                    }
                }
            }
            for (i, addresses) in by_object {
                let object = &objects[i];
                let loader = addr2line::Loader::new(&object.path).ok();
                for address in addresses {
                    let frames = loader
                        .as_ref()
                        .map(|l| frames_of(l, address, object.bias))
                        .filter(|frames| !frames.is_empty())
                        .unwrap_or_else(|| vec![unknown(address)]);
                    named.insert(address, frames);
                }
            }
        }
        let named = (1..perl.c_frames_len() as u32)
            .flat_map(|id| perl.c_frames(id).iter().copied())
            .filter_map(|address| named.get(&address).map(|f| (address, f.clone())))
            .collect();
        Symbols { named }
    }

    /// The frames of one address, innermost first.
    pub fn frames(&self, address: usize) -> Vec<Symbol> {
        self.named
            .get(&address)
            .cloned()
            .unwrap_or_else(|| vec![unknown(address)])
    }
}

/// An address no object's debug information names.
fn unknown(address: usize) -> Symbol {
    Symbol {
        func: format!("0x{address:x}"),
        file: String::new(),
        line: 0,
    }
}

/// The frames of a return address, inlined calls first. A return address
/// is the instruction after the call: the call itself is one byte before.
fn frames_of(loader: &addr2line::Loader, address: usize, bias: usize) -> Vec<Symbol> {
    let probe = (address - 1).wrapping_sub(bias) as u64;
    let mut out = Vec::new();
    if let Ok(mut frames) = loader.find_frames(probe) {
        while let Ok(Some(frame)) = frames.next() {
            let func = frame
                .function
                .as_ref()
                .and_then(|f| f.demangle().ok())
                .map(|f| f.into_owned())
                .unwrap_or_default();
            let (file, line) = frame
                .location
                .as_ref()
                .map(|l| {
                    let file = l.file.unwrap_or("");
                    (
                        file.rsplit('/').next().unwrap_or(file).to_string(),
                        l.line.unwrap_or(0),
                    )
                })
                .unwrap_or_default();
            out.push(Symbol { func, file, line });
        }
    }
    if out.is_empty() || out.iter().all(|s| s.func.is_empty()) {
        // No line tables: the symbol table still names the function.
        if let Some(name) = loader.find_symbol(probe) {
            let (file, line) = out
                .first()
                .map(|s| (s.file.clone(), s.line))
                .unwrap_or_default();
            out = vec![Symbol {
                func: name.to_string(),
                file,
                line,
            }];
        }
    }
    out
}

/// A loaded object: where its code is, its load bias and its file.
struct Object {
    ranges: Vec<(usize, usize)>,
    bias: usize,
    path: PathBuf,
}

impl Object {
    fn contains(&self, address: usize) -> bool {
        self.ranges
            .iter()
            .any(|&(start, end)| (start..end).contains(&address))
    }
}

/// Every object loaded in this process, with its executable segments.
fn loaded_objects() -> Vec<Object> {
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info; data is our Vec.
        let (info, objects) = unsafe { (&*info, &mut *(data as *mut Vec<Object>)) };
        let bias = info.dlpi_addr as usize;
        let ranges: Vec<(usize, usize)> = (0..info.dlpi_phnum as usize)
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            .map(|i| unsafe { &*info.dlpi_phdr.add(i) })
            .filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_X != 0)
            .map(|h| {
                let start = bias + h.p_vaddr as usize;
                (start, start + h.p_memsz as usize)
            })
            .collect();
        let name = if info.dlpi_name.is_null() {
            ""
        } else {
            // SAFETY: a NUL-terminated path the loader keeps.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_str()
                .unwrap_or("")
        };
        let path = if name.is_empty() {
            // The program itself.
            match std::fs::read_link("/proc/self/exe") {
                Ok(path) => path,
                Err(_) => return 0,
            }
        } else {
            PathBuf::from(name)
        };
        if !ranges.is_empty() {
            objects.push(Object { ranges, bias, path });
        }
        0
    }
    let mut objects: Vec<Object> = Vec::new();
    // SAFETY: the callback only reads what it is given and pushes to the Vec.
    unsafe {
        libc::dl_iterate_phdr(
            Some(visit),
            &mut objects as *mut Vec<Object> as *mut libc::c_void,
        )
    };
    objects
}

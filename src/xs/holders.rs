//! Who holds a leaked SV: one walk of the heap's reference edges
//! (holders.c), a reverse index of them, and a breadth-first search back
//! from each leak asked about. Reaching a root gives the shortest path from
//! it, written the Perl way; reaching the leak itself gives the cycle; no
//! strong referrer at all means C code holds it. Built when a report needs
//! it (no cost while recording) and dropped with the report.

use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;

use memtrace_analysis::{holder_kind as kind, Holder};

use super::sv_types::sv_type_name;

use super::ffi::{
    memtrace_shim_glob_name, memtrace_shim_hash_key, memtrace_shim_is_stash,
    memtrace_shim_pad_name, memtrace_shim_refcount, memtrace_shim_sub_name, memtrace_shim_sv_info,
    memtrace_shim_walk_edges, MtEdge, MtSvInfo, MT_EDGE_CODE_PAD, MT_EDGE_ELEMENT,
    MT_EDGE_GLOB_ARRAY, MT_EDGE_GLOB_CODE, MT_EDGE_GLOB_HASH, MT_EDGE_GLOB_IO, MT_EDGE_GLOB_SCALAR,
    MT_EDGE_MAGIC, MT_EDGE_PAD, MT_EDGE_ROOT_MAIN, MT_EDGE_ROOT_MORTAL, MT_EDGE_ROOT_STASH,
    MT_EDGE_VALUE,
};

/// How many SVs one search may visit before it gives up: a leak deep in a
/// huge structure is still named by its first steps.
const VISIT_LIMIT: usize = 200_000;

/// One reference: `from` refers to the SV the index files it under.
#[derive(Clone, Copy)]
struct Edge {
    from: usize,
    detail: usize,
    label: u32,
    weak: bool,
}

/// The heap's reference edges, by target.
pub struct HolderIndex {
    /// (target, edge), sorted by target.
    edges: Vec<(usize, Edge)>,
}

unsafe extern "C" fn collect(ctx: *mut c_void, edges: *const MtEdge, n: usize) {
    // SAFETY: ctx is the Vec handed to memtrace_shim_walk_edges below;
    // edges points to n edges for the length of this call.
    let (out, edges) = unsafe {
        (
            &mut *(ctx as *mut Vec<(usize, Edge)>),
            std::slice::from_raw_parts(edges, n),
        )
    };
    out.extend(edges.iter().map(|e| {
        (
            e.to,
            Edge {
                from: e.from,
                detail: e.detail,
                label: e.label,
                weak: e.weak != 0,
            },
        )
    }));
}

impl HolderIndex {
    /// Walk this interpreter's heap (call from an XSUB: perl runs no code
    /// meanwhile). None without an interpreter.
    pub fn build() -> Option<HolderIndex> {
        let mut edges: Vec<(usize, Edge)> = Vec::new();
        // SAFETY: `collect` only appends to `edges`, which outlives the walk.
        let walked =
            unsafe { memtrace_shim_walk_edges(Some(collect), &mut edges as *mut _ as *mut c_void) };
        if walked == 0 {
            return None;
        }
        edges.sort_unstable_by_key(|(to, _)| *to);
        Some(HolderIndex { edges })
    }

    fn referrers(&self, to: usize) -> &[(usize, Edge)] {
        let start = self.edges.partition_point(|(t, _)| *t < to);
        let end = start + self.edges[start..].partition_point(|(t, _)| *t == to);
        &self.edges[start..end]
    }

    /// What holds the SV at `target`.
    pub fn holder_of(&self, target: usize) -> Holder {
        self.holder_at_depth(target, 0)
    }

    fn holder_at_depth(&self, target: usize, depth: u32) -> Holder {
        // SAFETY: `target` is a live SV head of this interpreter (the
        // caller checked), and perl runs no code meanwhile.
        let refcount = unsafe { memtrace_shim_refcount(target) }.max(0) as u32;
        let direct = self.referrers(target);
        let strong = direct.iter().filter(|(_, e)| !e.weak).count() as u32;
        let unseen = refcount.saturating_sub(strong);
        if strong == 0 {
            let weak: Vec<&Edge> = direct.iter().map(|(_, e)| e).collect();
            return match weak.first() {
                None => Holder::new(
                    target as u64,
                    kind::UNREFERENCED,
                    String::new(),
                    0,
                    refcount,
                    unseen,
                ),
                Some(_) => Holder::new(
                    target as u64,
                    kind::WEAK_ONLY,
                    format!(
                        "{} weak reference{}",
                        weak.len(),
                        if weak.len() == 1 { "" } else { "s" }
                    ),
                    0,
                    refcount,
                    unseen,
                ),
            };
        }
        // Back from the target: `toward[x]` is the edge by which x refers
        // to the SV one step nearer the target.
        let mut toward: HashMap<usize, (usize, Edge)> = HashMap::new();
        let mut queue: VecDeque<usize> = VecDeque::from([target]);
        let mut first_unreferenced: Option<usize> = None;
        while let Some(node) = queue.pop_front() {
            let mut held = false;
            for &(_, edge) in self.referrers(node) {
                if edge.weak {
                    continue;
                }
                held = true;
                if edge.from == 0 {
                    let mut path = vec![(0, edge, node)];
                    path.extend(self.chain(&toward, node, target));
                    return Holder::new(
                        target as u64,
                        kind::ROOT,
                        render(&path),
                        path.len() as u32 - 1,
                        refcount,
                        unseen,
                    );
                }
                if edge.from == target {
                    let mut path = vec![(target, edge, node)];
                    path.extend(self.chain(&toward, node, target));
                    return Holder::new(
                        target as u64,
                        kind::CYCLE,
                        render_cycle(&path),
                        path.len() as u32,
                        refcount,
                        unseen,
                    );
                }
                if toward.len() < VISIT_LIMIT && !toward.contains_key(&edge.from) {
                    toward.insert(edge.from, (node, edge));
                    queue.push_back(edge.from);
                }
            }
            if !held && node != target && first_unreferenced.is_none() {
                first_unreferenced = Some(node);
            }
        }
        match first_unreferenced {
            Some(holder) => {
                let path = self.chain(&toward, holder, target);
                Holder::new(
                    target as u64,
                    kind::UNREFERENCED_HOLDER,
                    match render_steps(&path) {
                        steps if steps.is_empty() => format!(
                            "{}, which nothing refers to (C code holds it)",
                            describe_sv(holder)
                        ),
                        steps => format!(
                            "{steps} of {}, which nothing refers to (C code holds it)",
                            describe_sv(holder)
                        ),
                    },
                    path.len() as u32,
                    refcount,
                    unseen,
                )
            }
            // Held by SVs that are in a cycle of their own (the values of a
            // leaked cycle's hash): say what holds the nearest of them.
            None => {
                let nearest = self.referrers(target).iter().find(|(_, e)| !e.weak);
                match nearest {
                    Some(&(_, edge)) if depth < 3 => {
                        let inner = self.holder_at_depth(edge.from, depth + 1);
                        let step = render_steps(&[(edge.from, edge, target)]);
                        let path = format!(
                            "{}{} {}, which is held by: {}",
                            step,
                            if step.is_empty() { "by" } else { " of" },
                            describe_sv(edge.from),
                            inner.text
                        );
                        // The kind of what holds the nearest, worded as a path.
                        Holder::new(
                            target as u64,
                            &inner.kind,
                            path.clone(),
                            inner.length + 1,
                            refcount,
                            unseen,
                        )
                        .with_text(&path)
                    }
                    _ => Holder::new(
                        target as u64,
                        kind::UNREFERENCED_HOLDER,
                        "SVs the search could not follow to a root or a cycle".to_string(),
                        0,
                        refcount,
                        unseen,
                    ),
                }
            }
        }
    }

    /// The edges from `start` down to `target`, each as (from, edge, to).
    fn chain(
        &self,
        toward: &HashMap<usize, (usize, Edge)>,
        start: usize,
        target: usize,
    ) -> Vec<(usize, Edge, usize)> {
        let mut out = Vec::new();
        let mut at = start;
        while at != target {
            let Some(&(next, edge)) = toward.get(&at) else {
                break;
            };
            out.push((at, edge, next));
            at = next;
            if out.len() > VISIT_LIMIT {
                break;
            }
        }
        out
    }
}

fn text_of(f: impl FnOnce(*mut i8, usize) -> usize) -> String {
    let mut buf = [0i8; 512];
    let len = f(buf.as_mut_ptr(), buf.len()).min(buf.len());
    String::from_utf8_lossy(&buf[..len].iter().map(|&c| c as u8).collect::<Vec<u8>>()).into_owned()
}

fn hash_key(he: usize) -> String {
    // SAFETY: `he` is a hash entry the walk saw; perl runs no code meanwhile.
    let key = text_of(|out, cap| unsafe { memtrace_shim_hash_key(he, out, cap) });
    // What perl takes unquoted inside {}: a word, or a plain integer.
    let word = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let integer = key == "0"
        || (key.starts_with(|c: char| ('1'..='9').contains(&c))
            && key.len() < 16
            && key.chars().all(|c| c.is_ascii_digit()));
    let bare = word || integer;
    if bare {
        key
    } else {
        format!("\"{}\"", key.escape_default())
    }
}

fn glob_name(gv: usize) -> String {
    // SAFETY: as in hash_key.
    text_of(|out, cap| unsafe { memtrace_shim_glob_name(gv, out, cap) })
}

fn sub_name(cv: usize) -> String {
    // SAFETY: as in hash_key.
    text_of(|out, cap| unsafe { memtrace_shim_sub_name(cv, out, cap) })
}

/// "the HASH at 0x55..." (the SV is live: the walk saw it).
fn describe_sv(sv: usize) -> String {
    let mut info = MtSvInfo::default();
    // SAFETY: `sv` is an SV head the walk saw; perl runs no code meanwhile.
    let name = if unsafe { memtrace_shim_sv_info(sv, &mut info) } != 0 {
        sv_type_name(info.svtype, info.is_ref != 0)
            .to_str()
            .unwrap_or("SV")
    } else {
        "SV"
    };
    format!("the {name} at {sv:#x}")
}

/// A path from a root, written the Perl way: `@main::Log[1041]`,
/// `%My::Cache::cache{k17}{items}[3]`, `my %seen in main::handler{k}`,
/// `$self captured by main::__ANON__`.
fn render(path: &[(usize, Edge, usize)]) -> String {
    let mut base = String::new();
    let mut subscripts = String::new();
    let mut file_level = false;
    for &(from, edge, to) in path {
        match edge.label {
            MT_EDGE_ROOT_STASH => base = "%main::".to_string(),
            MT_EDGE_ROOT_MAIN => {
                base = "the file-level code".to_string();
                file_level = true;
            }
            MT_EDGE_ROOT_MORTAL => base = "the mortal stack (a temporary)".to_string(),
            // SAFETY: `from` is an SV the walk saw.
            MT_EDGE_VALUE if unsafe { memtrace_shim_is_stash(from) } != 0 => {
                match glob_name(to) {
                    name if name.is_empty() => {
                        // Not a glob (a constant sub, a declaration): the key.
                        subscripts.push_str(&format!("{{{}}}", hash_key(edge.detail)))
                    }
                    name => {
                        base = format!("*{name}");
                        subscripts.clear();
                    }
                }
            }
            MT_EDGE_GLOB_SCALAR | MT_EDGE_GLOB_ARRAY | MT_EDGE_GLOB_HASH | MT_EDGE_GLOB_CODE
            | MT_EDGE_GLOB_IO => {
                let sigil = match edge.label {
                    MT_EDGE_GLOB_SCALAR => "$",
                    MT_EDGE_GLOB_ARRAY => "@",
                    MT_EDGE_GLOB_HASH => "%",
                    MT_EDGE_GLOB_CODE => "&",
                    _ => "*",
                };
                base = format!("{sigil}{}", glob_name(from));
                if edge.label == MT_EDGE_GLOB_IO {
                    base.push_str("{IO}");
                }
                subscripts.clear();
            }
            MT_EDGE_PAD => {
                let mut outer = 0;
                // SAFETY: `from` is a CV whose pad the walk read at this index.
                let name = text_of(|out, cap| unsafe {
                    memtrace_shim_pad_name(from, edge.detail, out, cap, &mut outer)
                });
                let sub = sub_name(from);
                base = if std::mem::take(&mut file_level) {
                    format!("my {name} (file level)")
                } else if outer != 0 {
                    format!("{name} captured by {sub}")
                } else {
                    format!("my {name} in {sub}")
                };
                subscripts.clear();
            }
            MT_EDGE_ELEMENT => subscripts.push_str(&format!("[{}]", edge.detail)),
            MT_EDGE_VALUE => subscripts.push_str(&format!("{{{}}}", hash_key(edge.detail))),
            MT_EDGE_MAGIC => subscripts.push_str(&format!(
                " (the object of its '{}' magic)",
                edge.detail as u8 as char
            )),
            MT_EDGE_CODE_PAD => {
                base = format!("the pad of {}", sub_name(from));
                subscripts.clear();
            }
            _ => {} // a reference: subscripts follow
        }
    }
    base + &subscripts
}

/// A cycle from the leak back to itself: `{self}`, `{next}{prev}`.
fn render_cycle(path: &[(usize, Edge, usize)]) -> String {
    let steps = render_steps(path);
    if steps.is_empty() {
        "a reference to itself".to_string()
    } else {
        steps.trim_start_matches(' ').to_string()
    }
}

/// The steps of a path that starts at an SV, not a root: subscripts, and
/// in words what is not one (`{cb}, captured as $box by main::__ANON__`).
fn render_steps(path: &[(usize, Edge, usize)]) -> String {
    let mut out = String::new();
    for &(from, edge, _) in path {
        match edge.label {
            MT_EDGE_ELEMENT => out.push_str(&format!("[{}]", edge.detail)),
            MT_EDGE_VALUE => out.push_str(&format!("{{{}}}", hash_key(edge.detail))),
            MT_EDGE_PAD => {
                let mut outer = 0;
                // SAFETY: `from` is a CV whose pad the walk read at this index.
                let name = text_of(|out, cap| unsafe {
                    memtrace_shim_pad_name(from, edge.detail, out, cap, &mut outer)
                });
                let how = if outer != 0 {
                    "captured as"
                } else {
                    "the lexical"
                };
                out.push_str(&format!(", {how} {name} by {}, ", sub_name(from)));
            }
            MT_EDGE_CODE_PAD => out.push_str(&format!(", the pad of {}, ", sub_name(from))),
            MT_EDGE_MAGIC => out.push_str(&format!(
                ", the object of its '{}' magic, ",
                edge.detail as u8 as char
            )),
            _ => {}
        }
    }
    out.trim_matches(|c| c == ',' || c == ' ')
        .replace(",  ", ", ")
}

//! The report text: the same for `Devel::MemTrace::report()` in the
//! traced process and for `memtrace report` on a capture.

use std::fmt::Write;

use memtrace_format::{Header, Kind, Snapshot};

use crate::heap::Heap;
use crate::leaks::{leak_sites, merge_sites, CFrameText, Frame, LeakSite};
use crate::rule::LeakRule;
use crate::status::Status;

/// What `report()` takes besides the leak rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportOptions {
    pub rule: LeakRule,
    /// List the stopped sites too.
    pub all: bool,
    /// List at most this many sites (0: all).
    pub top: u32,
    /// How the report's hints spell the options.
    pub spelling: Spelling,
}

/// Who reads the report's hints ("see them with ..."): a Perl programmer
/// in the traced process, or a user of the `memtrace` command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Spelling {
    #[default]
    Perl,
    CommandLine,
}

impl Spelling {
    fn all_hint(self) -> &'static str {
        match self {
            Spelling::Perl => "report(all => 1) or -MDevel::MemTrace=-all",
            Spelling::CommandLine => "--all",
        }
    }

    fn top_hint(self, top: usize) -> String {
        match self {
            Spelling::Perl => format!("top => {top}"),
            Spelling::CommandLine => format!("--top {top}"),
        }
    }
}

/// Past this many iterations the report shows the first 5 and the last 30.
const ITERATION_LINES_MAX: usize = 40;

/// The whole report of one heap.
pub fn report(heap: &Heap, options: ReportOptions) -> String {
    let history = &heap.tables.history;
    // Closed iterations, not snapshots: a long history keeps fewer.
    let closed = heap.closed() as usize;
    let mut out = heading(closed, options.rule);
    if history.is_empty() {
        out.push_str(
            "no iteration closed yet: call Devel::MemTrace::checkpoint() at the end of each \
             iteration, or run with -MDevel::MemTrace=-iteration=Pkg::sub\n",
        );
        return out;
    }
    for line in iteration_lines(history) {
        out.push_str(&line);
        out.push('\n');
    }
    let sites = leak_sites(heap, options.rule);
    // With -malloc, every program has live blocks of kind malloc (string
    // buffers at least): what is unexplained then is not unrecorded mallocs.
    let malloc_seen = heap.tables.sites.iter().any(|s| s.kind == Kind::Malloc);
    if let Some(line) = growth_line(history, &sites, options.rule, closed as u32, malloc_seen) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&sites_text(&sites, closed, options));
    out
}

/// How much of the process's growth (RSS) per judged iteration the
/// ongoing leaks account for, so that growth the recorder cannot see (a C
/// library's malloc, perl's string buffers, XS modules built without
/// PERL_MEM_LOG) is never read as "no leaks". None without RSS figures or
/// with fewer than 3 judged iterations. `malloc_seen`: the C library's
/// `malloc` was recorded too (`-malloc`), so what the leaks leave
/// unexplained is not there.
pub fn growth_line(
    history: &[Snapshot],
    sites: &[LeakSite],
    rule: LeakRule,
    closed: u32,
    malloc_seen: bool,
) -> Option<String> {
    let (first, last) = rule.eligible(closed)?;
    let span = last - first + 1;
    // The median change between consecutive snapshots of the judged
    // iterations: a warm-up burst or one big buffer does not count, a
    // steady growth does, and page-sized steps average out.
    let mut changes: Vec<f64> = history
        .windows(2)
        .filter(|w| w[1].iteration == w[0].iteration + 1)
        .filter(|w| (first..=last).contains(&w[1].iteration))
        .filter(|w| w[0].rss > 0 && w[1].rss > 0)
        .map(|w| w[1].rss as f64 - w[0].rss as f64)
        .collect();
    if span < 3 || changes.len() < 3 {
        return None;
    }
    changes.sort_by(f64::total_cmp);
    let mid = changes.len() / 2;
    let grew = if changes.len() % 2 == 1 {
        changes[mid]
    } else {
        (changes[mid - 1] + changes[mid]) / 2.0
    };
    let explained: u64 = sites
        .iter()
        .filter(|s| s.status != Status::Stopped)
        .map(|s| s.bytes)
        .sum();
    let explained = explained as f64 / span as f64;
    let window = format!("iterations {first}-{last} (median)");
    Some(if grew <= 0.0 {
        format!(
            "growth: RSS did not grow per iteration over {window}; the ongoing leaks hold {} per \
             iteration, too little to show in RSS",
            size(explained)
        )
    } else if explained >= grew * 0.8 {
        format!(
            "growth: RSS grew {} per iteration over {window}; the ongoing leaks explain {} of it",
            size(grew),
            size(explained.min(grew))
        )
    } else if malloc_seen {
        format!(
            "growth: RSS grew {} per iteration over {window}; the ongoing leaks explain only {}: \
             the rest is memory no malloc block accounts for (the allocator's own overhead and \
             alignment, mmap, thread stacks)",
            size(grew),
            size(explained)
        )
    } else {
        format!(
            "growth: RSS grew {} per iteration over {window}; the ongoing leaks explain only {}: \
             the rest is memory the recorder does not see (a C library's malloc, perl's string \
             buffers, an XS module built without PERL_MEM_LOG: -malloc records these)",
            size(grew),
            size(explained)
        )
    })
}

/// "32.6 KB", "1.2 MB", "512 bytes" (powers of 1000, as RSS tools say).
fn size(bytes: f64) -> String {
    let b = bytes.abs();
    if b >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} KB", bytes / 1e3)
    } else {
        format!("{:.0} bytes", bytes)
    }
}

fn signed_size(bytes: f64) -> String {
    if bytes >= 0.0 {
        format!("+{}", size(bytes))
    } else {
        size(bytes)
    }
}

/// The first line: how many iterations, and the leak rule in force.
pub fn heading(closed: usize, rule: LeakRule) -> String {
    format!("Devel::MemTrace report: {}", rule_text(closed, rule))
}

/// "12 iterations closed; a leak is ... later checkpoints\n".
fn rule_text(closed: usize, rule: LeakRule) -> String {
    format!(
        "{} closed; a leak is an allocation made in iteration {} or later that stayed live \
         through {}\n",
        plural(closed as u64, "iteration"),
        1 + rule.skip as u64,
        plural(rule.min_age as u64, "later checkpoint"),
    )
}

/// One heap of a merged report, and the name it is shown under (its file).
pub struct Named<'a> {
    pub name: String,
    pub heap: Heap<'a>,
}

/// The report of several heaps (the workers of one server): a heading
/// naming them, each one's iteration lines under its name, then their leak
/// sites merged site by site ([`merge_sites`]).
pub fn merged_report(heaps: &[Named], options: ReportOptions) -> String {
    let closed = heaps
        .iter()
        .map(|n| n.heap.closed() as usize)
        .max()
        .unwrap_or(0);
    let same_length = heaps.iter().all(|n| n.heap.closed() as usize == closed);
    let headers: Vec<&Header> = heaps.iter().map(|n| &n.heap.tables.header).collect();
    let mut out = format!(
        "Devel::MemTrace report: {}; {}{}",
        describe_programs(&headers),
        if same_length { "" } else { "up to " },
        rule_text(closed, options.rule)
    );
    for named in heaps {
        let _ = writeln!(
            out,
            "capture {} (pid {}):",
            named.name, named.heap.tables.header.pid
        );
        let history = &named.heap.tables.history;
        if history.is_empty() {
            out.push_str("  no iteration closed yet\n");
        }
        for line in iteration_lines(history) {
            let _ = writeln!(out, "  {line}");
        }
    }
    let sites = merge_sites(
        heaps
            .iter()
            .map(|n| leak_sites(&n.heap, options.rule))
            .collect(),
    );
    out.push_str(&sites_text(&sites, closed, options));
    out
}

/// "examples/poller.pl (pid 4242)", or for several "3 captures of
/// examples/poller.pl (pids 101, 102, 103)", or "2 captures (pid 1 a.pl,
/// pid 2 b.pl)".
pub fn describe_programs(headers: &[&Header]) -> String {
    let program = |h: &Header| {
        if h.program.is_empty() {
            "an unnamed program".to_string()
        } else {
            h.program.clone()
        }
    };
    if let [one] = headers {
        return format!("{} (pid {})", program(one), one.pid);
    }
    let n = plural(headers.len() as u64, "capture");
    if headers.iter().all(|h| h.program == headers[0].program) {
        let pids: Vec<String> = headers.iter().map(|h| h.pid.to_string()).collect();
        format!("{n} of {} (pids {})", program(headers[0]), pids.join(", "))
    } else {
        let each: Vec<String> = headers
            .iter()
            .map(|h| format!("pid {} {}", h.pid, program(h)))
            .collect();
        format!("{n} ({})", each.join(", "))
    }
}

/// One line per snapshot (the middle left out past 40). A long history
/// keeps only some of its older snapshots; the line before a gap says how
/// many iterations it leaves out.
pub fn iteration_lines(history: &[Snapshot]) -> Vec<String> {
    let shown: Vec<&Snapshot> = if history.len() > ITERATION_LINES_MAX {
        history[..5]
            .iter()
            .chain(&history[history.len() - 30..])
            .collect()
    } else {
        history.iter().collect()
    };
    // Each snapshot's RSS change is against the snapshot before it.
    let rss_before: std::collections::HashMap<u32, u64> = history
        .windows(2)
        .map(|w| (w[1].iteration, w[0].rss))
        .collect();
    let mut lines = Vec::new();
    for (i, cp) in shown.iter().enumerate() {
        if let Some(before) = i.checked_sub(1).map(|b| shown[b]) {
            let skipped = cp.iteration.saturating_sub(before.iteration + 1);
            if skipped > 0 {
                lines.push(format!("... ({skipped} iterations not shown)"));
            }
        }
        let mut line = if cp.iteration == 0 {
            format!(
                "iteration 0: SVs {}, allocations {}, {} bytes",
                cp.svs, cp.mem_live, cp.mem_bytes
            )
        } else {
            format!(
                "iteration {}: SVs {} ({:+}), allocations {} ({:+}), {} bytes ({:+}), new leaks {}",
                cp.iteration,
                cp.svs,
                cp.svs_delta,
                cp.mem_live,
                cp.mem_live_delta,
                cp.mem_bytes,
                cp.mem_bytes_delta,
                cp.new_leaks
            )
        };
        if cp.rss > 0 {
            line.push_str(&format!(", RSS {}", size(cp.rss as f64)));
            if let Some(&before) = rss_before.get(&cp.iteration).filter(|&&b| b > 0) {
                line.push_str(&format!(
                    " ({})",
                    signed_size(cp.rss as f64 - before as f64)
                ));
            }
        }
        lines.push(line);
    }
    lines
}

/// The leak-site part of the report, after the iteration lines: a summary
/// line and two lines per listed site. `closed` is the number of closed
/// iterations (of the longest heap, for a merged report).
pub fn sites_text(sites: &[LeakSite], closed: usize, options: ReportOptions) -> String {
    let rule = options.rule;
    let mut out = String::new();
    let ongoing: Vec<&LeakSite> = sites
        .iter()
        .filter(|s| s.status != Status::Stopped)
        .collect();
    let stopped = sites.len() - ongoing.len();
    let shown: Vec<&LeakSite> = if options.all {
        sites.iter().collect()
    } else {
        ongoing.clone()
    };
    let needed = rule.iterations_needed() as usize;
    if closed < needed {
        let _ = writeln!(
            out,
            "too few iterations to find leaks: {closed} closed, a leak needs at least {needed} \
             (skip {}, min_age {})",
            rule.skip, rule.min_age
        );
    } else if sites.is_empty() {
        let warm_up = if rule.skip > 0 {
            format!("iterations 0-{}", rule.skip)
        } else {
            "iteration 0".to_string()
        };
        let _ = writeln!(
            out,
            "no leaks: nothing allocated after warm-up ({warm_up}) stayed live through {}",
            plural(rule.min_age as u64, "later checkpoint")
        );
    } else {
        let steady = sites.iter().filter(|s| s.status == Status::Steady).count();
        let intermittent = sites
            .iter()
            .filter(|s| s.status == Status::Intermittent)
            .count();
        let _ = writeln!(
            out,
            "leak sites: {} ongoing ({steady} steady, {intermittent} intermittent), {stopped} stopped",
            ongoing.len()
        );
        if ongoing.is_empty() {
            out.push_str("no ongoing leaks\n");
        }
        let top = options.top as usize;
        let listed = if top > 0 && shown.len() > top {
            &shown[..top]
        } else {
            &shown[..]
        };
        for site in listed {
            for line in site_lines(site) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        if listed.len() < shown.len() {
            let more = shown.len() - listed.len();
            let _ = writeln!(
                out,
                "  ... and {more} more {} ({})",
                if more == 1 { "site" } else { "sites" },
                options.spelling.top_hint(top)
            );
        }
        if !options.all && stopped > 0 {
            let _ = writeln!(
                out,
                "{} stopped leaking (one-time retention, such as a cache filled during warm-up) \
                 and {} not shown; see {} with {}",
                plural(stopped as u64, "site"),
                if stopped == 1 { "is" } else { "are" },
                if stopped == 1 { "it" } else { "them" },
                options.spelling.all_hint()
            );
        }
    }
    out
}

/// The two lines of one leak site.
pub fn site_lines(site: &LeakSite) -> Vec<String> {
    let what = if site.kind == "sv" {
        types_phrase(site, "SV", "SVs")
    } else {
        format!(
            "{} ({} bytes)",
            types_phrase(site, "buffer", "buffers"),
            site.bytes
        )
    };
    let status = match site.period {
        Some(period) if site.status != Status::Stopped => {
            format!("{}, every {period} iterations", site.status.name())
        }
        _ => site.status.name().to_string(),
    };
    let c_site = match culprit_text(&site.c_file, site.c_line, &site.c_func, &site.c_frames) {
        (named, Some(allocator)) => format!("{named} (allocated by {allocator})"),
        (c_site, None) => c_site,
    };
    let mut second = format!(
        "C site: {c_site}; {status}; {}",
        per_iteration_text(&site.per_iteration)
    );
    if site.kind == "sv" {
        let _ = write!(second, "; {} bytes", site.bytes);
    }
    let _ = write!(second, "; e.g. {}", hex(site.sample_address));
    let mut lines = vec![
        format!(
            "  {} leaked {what} {}",
            site.count,
            perl_site_text(&site.file, site.line, &site.sub)
        ),
        format!("      {second}"),
    ];
    lines.extend(stack_lines(site));
    // What holds the samples, once per different answer.
    let mut said: Vec<&str> = Vec::new();
    for holder in &site.held_by {
        if !said.contains(&holder.text.as_str()) {
            said.push(&holder.text);
            lines.push(format!("      held by: {}", holder.text));
        }
    }
    lines
}

/// Stacks a site shows at most; the rest are counted.
const STACKS_SHOWN: usize = 5;

/// The Perl call stacks of a site's leaks, most leaked first: where each
/// was called from (a stack of the site's own line alone says nothing).
pub fn stack_lines(site: &LeakSite) -> Vec<String> {
    let mut lines = Vec::new();
    let shown: Vec<(u64, Vec<String>)> = site
        .stacks
        .iter()
        .map(|s| (s.count, callers_text(&s.frames, &site.file, site.line)))
        .filter(|(_, callers)| !callers.is_empty())
        .collect();
    for (count, callers) in shown.iter().take(STACKS_SHOWN) {
        lines.push(format!(
            "      {count} called from {}",
            callers.join(" <- ")
        ));
    }
    if shown.len() > STACKS_SHOWN {
        let rest: u64 = shown[STACKS_SHOWN..].iter().map(|(c, _)| c).sum();
        lines.push(format!(
            "      {rest} called from {} other stacks",
            shown.len() - STACKS_SHOWN
        ));
    }
    lines
}

/// "UNDEF SVs", "char buffers", or "SVs (12 HASH, 12 IV)" for a mixed site.
pub fn types_phrase(site: &LeakSite, one: &str, many: &str) -> String {
    let noun = if site.count == 1 { one } else { many };
    if site.types.len() > 1 {
        let list: Vec<String> = site
            .types
            .iter()
            .map(|t| format!("{} {}", t.count, t.name))
            .collect();
        format!("{noun} ({})", list.join(", "))
    } else if site.type_name.is_empty() {
        noun.to_string()
    } else {
        format!("{} {noun}", site.type_name)
    }
}

/// "at FILE line N, in SUB", as perl words its warnings (no sub for
/// file-level code).
pub fn perl_site_text(file: &str, line: u32, sub: &str) -> String {
    if file.is_empty() {
        return "at an unknown Perl site".to_string();
    }
    let mut text = format!("at {file} line {line}");
    if !sub.is_empty() && !sub.ends_with("::RUNTIME") {
        let _ = write!(text, ", in {sub}");
    }
    text
}

/// Where a stack was called from: its frames past the statement at `file`
/// line `line` that made the allocation (a stack of that line alone says
/// nothing), each as "FILE line N, in SUB".
pub fn callers_text(frames: &[Frame], file: &str, line: u32) -> Vec<String> {
    let from = match frames.first() {
        Some(f) if f.file == file && f.line == line => &frames[1..],
        _ => frames,
    };
    from.iter()
        .map(|f| {
            perl_site_text(&f.file, f.line, &f.sub)
                .trim_start_matches("at ")
                .to_string()
        })
        .collect()
}

/// The C site to name: the culprit among the native frames (the first
/// outside perl's allocation functions, see `leaks::culprit`) when there
/// is one other than the logged site, with the logged site (the
/// allocator) beside it; else the logged site alone.
pub fn culprit_text(
    c_file: &str,
    c_line: u32,
    c_func: &str,
    c_frames: &[CFrameText],
) -> (String, Option<String>) {
    let logged = c_site_text(c_file, c_line, c_func);
    match crate::leaks::culprit(c_frames) {
        Some(found) => {
            let named = c_site_text(&found.file, found.line, &found.func);
            if named == logged {
                (logged, None)
            } else {
                (named, Some(logged))
            }
        }
        None => (logged, None),
    }
}

/// "sv.c:5594 Perl_newSV", "malloc" (a function alone: the interposed
/// `malloc` family's sites), or "unknown".
pub fn c_site_text(file: &str, line: u32, func: &str) -> String {
    if file.is_empty() {
        return if func.is_empty() { "unknown" } else { func }.to_string();
    }
    if func.is_empty() {
        format!("{file}:{line}")
    } else {
        format!("{file}:{line} {func}")
    }
}

fn per_iteration_text(counts: &[u64]) -> String {
    let join = |c: &[u64]| c.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    if counts.len() <= 16 {
        format!("per iteration: {}", join(counts))
    } else {
        format!(
            "per iteration (last 15 of {}): {}",
            counts.len(),
            join(&counts[counts.len() - 15..])
        )
    }
}

/// An address as pmat prints it: `0x55efee189120`.
pub fn hex(address: u64) -> String {
    format!("{address:#x}")
}

/// "1 iteration", "2 iterations".
pub fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

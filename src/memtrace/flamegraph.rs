//! `memtrace flamegraph FILE... -o OUT.svg`: leaked bytes (or counts) by
//! Perl frames, C site and type, as inferno's interactive flame graph.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self as inferno_fg, Options as FlameOptions};
use memtrace_analysis::{
    leaks, plural, sites_text, Heap, LeakSite, ReportOptions, SiteKey, Spelling, Status,
};
use memtrace_format::Record;

use crate::captures::merged_sites;
use crate::captures::{self, load_all};
use crate::cli::Options;
use crate::failure::{say, Failure};
use crate::json::{FlamegraphJson, StackJson};
use crate::output::{write_file, Out};
use crate::svg_note::note;

pub fn run(files: &[String], options: &Options) -> Result<ExitCode, Failure> {
    let captures = load_all(files)?;
    let rule = captures::rule(&captures, options)?;
    let output = options.output.as_deref().unwrap_or("-");
    // What the report lists: the ongoing sites (all with --all). A cache
    // filled during warm-up would otherwise dwarf the leak that grows.
    let sites = merged_sites(&captures, rule);
    let drawn: HashSet<SiteKey> = sites
        .iter()
        .filter(|s| options.all || s.status != Status::Stopped)
        .map(LeakSite::key)
        .collect();
    let stopped_left_out = sites.len() - drawn.len();
    let mut by_stack: HashMap<Vec<String>, u64> = HashMap::new();
    let mut leak_count = 0u64;
    for capture in &captures {
        let heap = capture.heap();
        let mut keys: HashMap<u32, bool> = HashMap::new();
        for record in leaks(&heap, rule) {
            let is_drawn = *keys
                .entry(record.site)
                .or_insert_with(|| drawn.contains(&SiteKey::of(&heap, record.site)));
            if !is_drawn {
                continue;
            }
            leak_count += 1;
            let value = if options.count { 1 } else { record.size };
            *by_stack.entry(stack(&heap, &record)).or_insert(0) += value;
        }
    }
    let mut stacks: Vec<(Vec<String>, u64)> = by_stack.into_iter().collect();
    stacks.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: u64 = stacks.iter().map(|s| s.1).sum();
    let unit = if options.count {
        "allocations"
    } else {
        "bytes"
    };
    let title = format!(
        "Leaked {} by Perl line and C site",
        if options.count {
            "allocations"
        } else {
            "bytes"
        }
    );
    let amount = if options.count {
        plural(leak_count, "leak")
    } else {
        format!("{} ({})", plural(leak_count, "leak"), size_text(total))
    };
    let which = if options.all {
        plural(drawn.len() as u64, "site")
    } else {
        format!(
            "{} (--all adds {} stopped)",
            plural(drawn.len() as u64, "ongoing site"),
            stopped_left_out
        )
    };
    // Short enough for inferno's 1200-pixel default; the leak rule is the
    // report's first line.
    let subtitle = format!(
        "{}: {amount} at {which}; {} closed",
        captures::describe(&captures),
        plural(captures::most_closed(&captures) as u64, "iteration"),
    );
    let svg = if total == 0 {
        let why = if leak_count == 0 {
            sites_text(
                &[],
                captures::most_closed(&captures),
                ReportOptions {
                    rule,
                    spelling: Spelling::CommandLine,
                    ..ReportOptions::default()
                },
            )
            .trim_end()
            .to_string()
        } else {
            format!("the {} leaks hold 0 bytes: try --count", leak_count)
        };
        say(&format!("nothing to draw: {why}; {output} says so"));
        note(
            &format!("{title}: nothing to draw"),
            &[captures::describe(&captures), why],
        )?
        .into_bytes()
    } else {
        draw(&stacks, &title, &subtitle, unit)?
    };
    write_file(output, &svg)?;
    if options.json {
        let mut out = Out::new();
        out.json(&FlamegraphJson {
            output,
            unit,
            total,
            stacks: stacks
                .iter()
                .map(|(frames, value)| StackJson {
                    frames,
                    value: *value,
                })
                .collect(),
        })?;
        out.finish()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The frames of one leak, outermost first: its Perl stack (or its own
/// Perl site), its C site, its type.
fn stack(heap: &Heap, record: &Record) -> Vec<String> {
    let site = heap.site(record.site);
    let mut frames: Vec<String> = match heap.tables.stacks.get(record.stack as usize) {
        Some(s) if record.stack != 0 && !s.frames.is_empty() => s
            .frames
            .iter()
            .rev()
            .map(|&p| perl_frame(heap, p))
            .collect(),
        _ => vec![perl_frame(heap, site.perl_site)],
    };
    let c_file = heap.string(site.c_file);
    let c_func = heap.string(site.c_func);
    frames.push(match (c_file.is_empty(), c_func.is_empty()) {
        (true, true) => "unknown C site".to_string(),
        (true, false) => c_func.to_string(),
        (false, true) => format!("{c_file}:{}", site.c_line),
        (false, false) => format!("{c_func} ({c_file}:{})", site.c_line),
    });
    let type_name = heap.type_name(record);
    frames.push(if type_name.is_empty() {
        format!(
            "unknown {}",
            if record.kind.name() == "sv" {
                "SV type"
            } else {
                "C type"
            }
        )
    } else {
        type_name.to_string()
    });
    frames.iter().map(|f| clean(f)).collect()
}

/// `main::poll (examples/poller.pl:135)`; file-level code as
/// `examples/poller.pl:135`.
fn perl_frame(heap: &Heap, perl_site: u32) -> String {
    let perl = &heap.tables.perl_sites[perl_site as usize];
    let file = heap.string(perl.file);
    let sub = heap.string(perl.sub);
    let file_level = sub.is_empty() || sub.ends_with("::RUNTIME");
    match (file.is_empty(), file_level) {
        (true, true) => "unknown Perl site".to_string(),
        (true, false) => sub.to_string(),
        (false, true) => format!("{file}:{}", perl.line),
        (false, false) => format!("{sub} ({file}:{})", perl.line),
    }
}

/// A frame inferno's folded-line format can carry: ';' separates frames,
/// line breaks separate lines, and a trailing " 123" would read as a count.
fn clean(frame: &str) -> String {
    let mut text: String = frame
        .chars()
        .map(|c| match c {
            ';' => ',',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if let Some(at) = text.rfind(' ') {
        let tail = &text[at + 1..];
        if !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit() || c == '.') {
            text.replace_range(at..at + 1, "_");
        }
    }
    let text = text.trim();
    if text.is_empty() {
        "?".to_string()
    } else {
        text.to_string()
    }
}

/// "3.4 KiB", "512 bytes".
fn size_text(total: u64) -> String {
    if total < 1024 {
        return plural(total, "byte");
    }
    let (value, suffix) = if total < 1 << 20 {
        (total as f64 / 1024.0, "KiB")
    } else if total < 1 << 30 {
        (total as f64 / (1u64 << 20) as f64, "MiB")
    } else {
        (total as f64 / (1u64 << 30) as f64, "GiB")
    };
    format!("{value:.1} {suffix}")
}

/// The flame graph SVG of `stacks` (non-empty, positive total).
fn draw(
    stacks: &[(Vec<String>, u64)],
    title: &str,
    subtitle: &str,
    unit: &str,
) -> Result<Vec<u8>, Failure> {
    let lines: Vec<String> = stacks
        .iter()
        .filter(|(_, value)| *value > 0)
        .map(|(frames, value)| format!("{} {value}", frames.join(";")))
        .collect();
    let mut options = FlameOptions::default();
    options.title = title.to_string();
    options.subtitle = Some(subtitle.to_string());
    options.count_name = unit.to_string();
    options.name_type = "Frame:".to_string();
    options.colors = Palette::Basic(BasicPalette::Mem);
    // Colours follow the frame names, so two runs look alike.
    options.hash = true;
    let mut svg = Vec::new();
    inferno_fg::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
        .map_err(|e| Failure::bad(format!("cannot draw the flame graph: {e}")))?;
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stay_one_frame() {
        assert_eq!(clean("a;b\nc"), "a,b c");
        assert_eq!(clean("struct foo 12"), "struct foo_12");
        assert_eq!(clean("  "), "?");
        assert_eq!(size_text(3456), "3.4 KiB");
        assert_eq!(size_text(1), "1 byte");
    }
}

//! `memtrace diff BEFORE AFTER`: which sites' live allocations grew.

use std::process::ExitCode;

use memtrace_analysis::{c_site_text, diff, perl_site_text, plural, SiteChange};

use crate::captures::{self, load, Loaded};
use crate::cli::Options;
use crate::failure::Failure;
use crate::json::{CaptureBrief, ChangeJson, DiffJson};
use crate::output::Out;

pub fn run(before_file: &str, after_file: &str, options: &Options) -> Result<ExitCode, Failure> {
    let before = load(before_file)?;
    let after = load(after_file)?;
    // Leak status is the later capture's; its rule, unless given.
    let rule = captures::rule(std::slice::from_ref(&after), options)?;
    let changes = diff(&before.heap(), &after.heap(), rule);
    let (grew, shrank): (Vec<&SiteChange>, Vec<&SiteChange>) =
        changes.iter().partition(|c| c.grew());
    let mut out = Out::new();
    if options.json {
        out.json(&DiffJson {
            before: CaptureBrief::of(&before),
            after: CaptureBrief::of(&after),
            rule,
            grew: grew.iter().map(|c| ChangeJson::of(c)).collect(),
            shrank: shrank.iter().map(|c| ChangeJson::of(c)).collect(),
        })?;
        out.finish()?;
        return Ok(ExitCode::SUCCESS);
    }
    out.line(&format!(
        "Devel::MemTrace diff: {} -> {}; live allocations by site, leak status in {} (skip {}, \
         min_age {})",
        brief(&before),
        brief(&after),
        after.file,
        rule.skip,
        rule.min_age
    ))?;
    if grew.is_empty() {
        out.line("no site grew")?;
    }
    let top = if options.top > 0 {
        options.top as usize
    } else {
        usize::MAX
    };
    for change in grew.iter().take(top) {
        change_lines(&mut out, change, &after.file)?;
    }
    if grew.len() > top {
        out.line(&format!(
            "  ... and {} more (--top {top})",
            plural((grew.len() - top) as u64, "site")
        ))?;
    }
    if !shrank.is_empty() {
        if options.all {
            out.line(&format!("{} shrank:", plural(shrank.len() as u64, "site")))?;
            for change in &shrank {
                change_lines(&mut out, change, &after.file)?;
            }
        } else {
            out.line(&format!(
                "{} shrank (list {} with --all)",
                plural(shrank.len() as u64, "site"),
                if shrank.len() == 1 { "it" } else { "them" }
            ))?;
        }
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// "b.mtc (pid 4242, 12 iterations closed)".
fn brief(capture: &Loaded) -> String {
    format!(
        "{} (pid {}, {} closed)",
        capture.file,
        capture.capture.header.pid,
        plural(capture.closed() as u64, "iteration")
    )
}

/// "  +7 SVs (+168 bytes) at FILE line L, in SUB" and
/// "      C site: sv.c:5594 Perl_newSV; steady leak in b.mtc".
fn change_lines(out: &mut Out, change: &SiteChange, after: &str) -> Result<(), Failure> {
    let delta = change.count_delta();
    let noun = match (change.kind, delta.unsigned_abs() == 1) {
        ("sv", true) => "SV",
        ("sv", false) => "SVs",
        (_, true) => "buffer",
        (_, false) => "buffers",
    };
    out.line(&format!(
        "  {delta:+} {noun} ({:+} bytes) {}",
        change.bytes_delta(),
        perl_site_text(&change.file, change.line, &change.sub)
    ))?;
    let status = match change.status {
        "" => format!("no leak in {after}"),
        "stopped" => format!("stopped leaking in {after}"),
        s => format!("{s} leak in {after}"),
    };
    out.line(&format!(
        "      C site: {}; {status}",
        c_site_text(&change.c_file, change.c_line, &change.c_func)
    ))
}

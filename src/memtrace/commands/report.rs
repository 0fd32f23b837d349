//! `memtrace report FILE...`: the report `Devel::MemTrace::report()` prints,
//! for one capture or merged over several.

use std::process::ExitCode;

use memtrace_analysis::{
    merged_report, report, with_status, LeakSite, Named, ReportOptions, Spelling,
};

use crate::captures::{self, load_all, merged_sites};
use crate::cli::Options;
use crate::failure::Failure;
use crate::json::{CaptureJson, ReportJson};
use crate::output::Out;

pub fn run(files: &[String], options: &Options) -> Result<ExitCode, Failure> {
    let captures = load_all(files)?;
    let rule = captures::rule(&captures, options)?;
    let report_options = ReportOptions {
        rule,
        all: options.all,
        top: options.top,
        spelling: Spelling::CommandLine,
    };
    let mut out = Out::new();
    if options.json {
        let sites = listed(merged_sites(&captures, rule), options);
        out.json(&ReportJson {
            captures: captures.iter().map(CaptureJson::of).collect(),
            rule,
            sites: &sites,
        })?;
    } else if let [one] = captures.as_slice() {
        out.text(&report(&one.heap(), report_options))?;
    } else {
        let named: Vec<Named> = captures
            .iter()
            .map(|c| Named {
                name: c.file.clone(),
                heap: c.heap(),
            })
            .collect();
        out.text(&merged_report(&named, report_options))?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// The sites the text report lists: the ongoing ones (all with --all), at
/// most --top.
fn listed(sites: Vec<LeakSite>, options: &Options) -> Vec<LeakSite> {
    let mut sites = with_status(sites, if options.all { "all" } else { "ongoing" });
    if options.top > 0 {
        sites.truncate(options.top as usize);
    }
    sites
}

//! `memtrace sites FILE...`: the leak sites, two lines each.

use std::process::ExitCode;

use memtrace_analysis::{site_lines, sites_text, with_status, ReportOptions, Spelling};

use crate::captures::merged_sites;
use crate::captures::{self, load_all, Loaded};
use crate::cli::Options;
use crate::failure::{say, Failure};
use crate::output::Out;

pub fn run(files: &[String], options: &Options) -> Result<ExitCode, Failure> {
    let captures = load_all(files)?;
    let rule = captures::rule(&captures, options)?;
    let status = match (&options.status, options.all) {
        (Some(s), _) => s.as_str(),
        (None, true) => "all",
        (None, false) => "ongoing",
    };
    let sites = merged_sites(&captures, rule);
    let every = sites.len();
    let mut shown = with_status(sites, status);
    if options.top > 0 {
        shown.truncate(options.top as usize);
    }
    let mut out = Out::new();
    if options.json {
        out.json(&shown)?;
    } else {
        for site in &shown {
            for line in site_lines(site) {
                out.line(&line)?;
            }
        }
    }
    out.finish()?;
    if every == 0 {
        say_none(
            &captures,
            ReportOptions {
                rule,
                spelling: Spelling::CommandLine,
                ..ReportOptions::default()
            },
        );
    } else if shown.is_empty() {
        say(&format!(
            "no {status} leak sites ({} in all): see them with --status all",
            every
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Say on stderr why there are no leaks at all, as the report words it
/// ("too few iterations to find leaks: ...", "no leaks: ...").
pub fn say_none(captures: &[Loaded], options: ReportOptions) {
    let why = sites_text(&[], captures::most_closed(captures), options);
    say(why.trim_end());
}

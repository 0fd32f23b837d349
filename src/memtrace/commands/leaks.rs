//! `memtrace leaks FILE...`: every leak, one line each.

use std::process::ExitCode;

use memtrace_analysis::{c_site_text, hex, leaks, perl_site_text, ReportOptions, Spelling};

use crate::captures::{self, load_all};
use crate::cli::Options;
use crate::commands::sites::say_none;
use crate::failure::Failure;
use crate::json::LeakJson;
use crate::output::Out;

pub fn run(files: &[String], options: &Options) -> Result<ExitCode, Failure> {
    let captures = load_all(files)?;
    let rule = captures::rule(&captures, options)?;
    let several = captures.len() > 1;
    let mut out = Out::new();
    let mut json = Vec::new();
    let mut found = 0usize;
    for capture in &captures {
        let heap = capture.heap();
        for record in leaks(&heap, rule) {
            found += 1;
            let site = heap.site(record.site);
            let perl = heap.perl_site(site);
            let leak = LeakJson {
                capture: &capture.file,
                address: hex(record.address),
                kind: record.kind.name(),
                type_name: heap.type_name(&record),
                size: record.size,
                iteration: record.iteration,
                file: heap.string(perl.file),
                line: perl.line,
                sub: heap.string(perl.sub),
                c_file: heap.string(site.c_file),
                c_line: site.c_line,
                c_func: heap.string(site.c_func),
            };
            if options.json {
                json.push(leak);
                continue;
            }
            let prefix = if several {
                format!("{}: ", capture.file)
            } else {
                String::new()
            };
            out.line(&format!(
                "{prefix}{} {} {} {} bytes, iteration {}, {}; C site {}",
                leak.address,
                leak.kind,
                if leak.type_name.is_empty() {
                    "?"
                } else {
                    leak.type_name
                },
                leak.size,
                leak.iteration,
                perl_site_text(leak.file, leak.line, leak.sub),
                c_site_text(leak.c_file, leak.c_line, leak.c_func),
            ))?;
        }
    }
    if options.json {
        out.json(&json)?;
    }
    out.finish()?;
    if found == 0 {
        say_none(
            &captures,
            ReportOptions {
                rule,
                spelling: Spelling::CommandLine,
                ..ReportOptions::default()
            },
        );
    }
    Ok(ExitCode::SUCCESS)
}

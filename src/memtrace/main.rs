//! `memtrace`: runs programs under the MemTrace perl (`run`, `perl`,
//! `prove`, `doctor`: see `launch`) and reads Devel::MemTrace captures
//! offline. Every judgement (the
//! leak rule, sites, status, report wording, identify, diff) comes from
//! `memtrace-analysis`; this binary parses arguments, loads captures, and
//! prints what the analysis answers as text, JSON, a flame graph or charts.
//!
//! Exit status: 0 done; 1 `identify` found no live record for any address
//! given; 2 bad usage or input (one `memtrace: ` line on stderr says what
//! and what to do); 3 an internal error (a bug). A closed standard output
//! (`memtrace leaks x | head`) ends the command quietly with 0.

mod captures;
mod cli;
mod commands;
mod failure;
mod flamegraph;
mod help;
mod json;
mod launch;
mod output;
mod plot;
mod svg_note;

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use failure::Failure;

fn main() -> ExitCode {
    // One line on stderr for a bug too, never a backtrace.
    panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let line = format!("internal error ({what}{place}): this is a bug, please report it");
        let _ = writeln!(io::stderr(), "memtrace: {}", line.replace('\n', " "));
    }));
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match panic::catch_unwind(AssertUnwindSafe(|| run(&args))) {
        Ok(Ok(code)) => code,
        Ok(Err(failure)) => failure.report(),
        Err(_) => ExitCode::from(3),
    }
}

/// Parse `args` and run the command they name.
fn run(args: &[String]) -> Result<ExitCode, Failure> {
    let invocation = cli::parse(args)?;
    commands::run(invocation)
}

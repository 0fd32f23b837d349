//! One module per subcommand; `run` dispatches.

mod diff;
mod identify;
mod leaks;
mod report;
mod sites;

use std::process::ExitCode;

use crate::cli::{Invocation, Subcommand};
use crate::failure::Failure;
use crate::output::Out;
use crate::{flamegraph, help, plot};

/// Run what the command line asked for.
pub fn run(invocation: Invocation) -> Result<ExitCode, Failure> {
    let command = match invocation {
        Invocation::Help(which) => {
            let text = match which {
                None => help::summary(),
                Some(sub) => help::subcommand(sub),
            };
            let mut out = Out::new();
            out.text(&text)?;
            out.finish()?;
            return Ok(ExitCode::SUCCESS);
        }
        Invocation::Version => {
            let mut out = Out::new();
            out.text(&help::version())?;
            out.finish()?;
            return Ok(ExitCode::SUCCESS);
        }
        Invocation::Run(command) => command,
        Invocation::LaunchHelp(launch) => {
            let mut out = Out::new();
            out.text(&crate::launch::help(launch))?;
            out.finish()?;
            return Ok(ExitCode::SUCCESS);
        }
        Invocation::Launch(launch, args) => return crate::launch::run(launch, &args),
    };
    let files = &command.operands;
    let options = &command.options;
    match command.subcommand {
        Subcommand::Report => report::run(files, options),
        Subcommand::Leaks => leaks::run(files, options),
        Subcommand::Sites => sites::run(files, options),
        Subcommand::Diff => diff::run(&files[0], &files[1], options),
        Subcommand::Identify => {
            let (file, addresses) = files.split_last().expect("checked: 2 or more operands");
            identify::run(addresses, file, options)
        }
        Subcommand::Flamegraph => flamegraph::run(files, options),
        Subcommand::Plot => plot::run(&files[0], options),
    }
}

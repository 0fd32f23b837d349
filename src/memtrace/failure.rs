//! Why a command stopped, and how that reaches the user: one line on
//! stderr starting `memtrace: `, and the exit status.

use std::io::{self, Write};
use std::process::ExitCode;

/// Exit status of bad usage or input: an unknown subcommand or option, a
/// bad value, a missing, unreadable or corrupt capture, a bad address, an
/// output file that cannot be written.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Exit status of `identify` when no address given has a live record.
pub const EXIT_NOTHING_FOUND: u8 = 1;

/// Why a command stopped early.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or input; the message says what was wrong and what to do
    /// (without the `memtrace: ` prefix; one line).
    BadInput(String),
    /// Writing to standard output failed.
    Output(io::Error),
}

impl Failure {
    pub fn bad(message: impl Into<String>) -> Failure {
        Failure::BadInput(message.into())
    }

    /// Print the one-line message (if any) and give the exit status.
    pub fn report(self) -> ExitCode {
        match self {
            // A reader that went away (`memtrace leaks x | head`) is no
            // error of ours: stop quietly.
            Failure::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Failure::Output(e) => {
                say(&format!(
                    "cannot write to standard output: {}",
                    io_message(&e)
                ));
                ExitCode::from(EXIT_BAD_INPUT)
            }
            Failure::BadInput(message) => {
                say(&message);
                ExitCode::from(EXIT_BAD_INPUT)
            }
        }
    }
}

impl From<io::Error> for Failure {
    /// An error writing to standard output (the only io::Error a command
    /// lets through with `?`; files name themselves in a `BadInput`).
    fn from(e: io::Error) -> Failure {
        Failure::Output(e)
    }
}

/// One line on stderr: `memtrace: MESSAGE` (line breaks in it become
/// spaces). A closed stderr is ignored: there is nowhere left to say it.
pub fn say(message: &str) {
    let line = message.replace(['\n', '\r'], " ");
    let _ = writeln!(io::stderr(), "memtrace: {line}");
}

/// An OS error as people read it: "No such file or directory", without
/// Rust's " (os error 2)".
pub fn io_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

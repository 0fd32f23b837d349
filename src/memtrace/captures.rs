//! Captures named on the command line: loading them (with a one-line error
//! naming the file), and the leak rule to judge them by.

use memtrace_analysis::{describe_programs, leak_sites, merge_sites, Heap, LeakRule, LeakSite};
use memtrace_format::{read_file, Capture, FormatError, Header};

use crate::cli::Options;
use crate::failure::{io_message, Failure};

/// A capture and the name it was given by.
pub struct Loaded {
    pub file: String,
    pub capture: Capture,
}

impl Loaded {
    pub fn heap(&self) -> Heap<'_> {
        Heap::of_capture(&self.capture)
    }

    /// Closed iterations, as the report counts them.
    pub fn closed(&self) -> usize {
        self.capture.header.open_iteration as usize
    }
}

/// Read and decode `file`; any failure is `memtrace: FILE: what`.
pub fn load(file: &str) -> Result<Loaded, Failure> {
    match read_file(file) {
        Ok(capture) => Ok(Loaded {
            file: file.to_string(),
            capture,
        }),
        // "w1.mtc: No such file or directory", as cat(1) says it.
        Err(FormatError::Io(e)) => Err(Failure::bad(format!("{file}: {}", io_message(&e)))),
        Err(e) => Err(Failure::bad(format!("{file}: {e}"))),
    }
}

pub fn load_all(files: &[String]) -> Result<Vec<Loaded>, Failure> {
    files.iter().map(|f| load(f)).collect()
}

/// The leak rule for `captures`: `--skip`/`--min-age` where given, else the
/// one the traced programs used, which must then agree (merged sites are
/// only comparable under one rule).
pub fn rule(captures: &[Loaded], options: &Options) -> Result<LeakRule, Failure> {
    let first = &captures[0];
    let pick = |given: Option<u32>, of: fn(&Capture) -> u32, name: &str, flag: &str| {
        if let Some(n) = given {
            return Ok(n);
        }
        let n = of(&first.capture);
        match captures.iter().find(|c| of(&c.capture) != n) {
            None => Ok(n),
            Some(other) => Err(Failure::bad(format!(
                "{} was recorded with {name} {n} but {} with {name} {}: give {flag} N to judge \
                 them alike",
                first.file,
                other.file,
                of(&other.capture)
            ))),
        }
    };
    Ok(LeakRule {
        skip: pick(options.skip, |c| c.header.skip, "skip", "--skip")?,
        min_age: pick(
            options.min_age,
            |c| c.header.min_age,
            "min_age",
            "--min-age",
        )?,
    })
}

/// The most closed iterations of any capture (what a merged report's
/// "too few iterations" check counts).
pub fn most_closed(captures: &[Loaded]) -> usize {
    captures.iter().map(Loaded::closed).max().unwrap_or(0)
}

/// "examples/poller.pl (pid 4242)", or for several captures "3 captures of
/// examples/poller.pl (pids 101, 102, 103)" (the analysis's wording).
pub fn describe(captures: &[Loaded]) -> String {
    let headers: Vec<&Header> = captures.iter().map(|c| &c.capture.header).collect();
    describe_programs(&headers)
}

/// The leak sites of every capture, as one list.
pub fn merged_sites(captures: &[Loaded], rule: LeakRule) -> Vec<LeakSite> {
    if let [one] = captures {
        return leak_sites(&one.heap(), rule);
    }
    merge_sites(
        captures
            .iter()
            .map(|c| leak_sites(&c.heap(), rule))
            .collect(),
    )
}

//! The subcommands that run perl rather than read captures: `run` (a
//! program under the MemTrace perl with recording on), `perl` (that perl's
//! path), `prove` (prove with that perl) and `doctor` (is the set-up
//! sound?). They find the MemTrace perl, and build it when there is none.
//!
//! Where the MemTrace perl is found, first that exists:
//!   1. `MEMTRACE_PERL`, when set;
//!   2. `$MEMTRACE_HOME/memtrace-perl` (default
//!      `${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace`), the path the last
//!      `make perl` wrote;
//!   3. `target/.memtrace-perl-path` of the checkout this binary was built
//!      from;
//!   4. else that checkout's `perl/build/make-perl.sh` builds it (minutes,
//!      once).

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::failure::{io_message, Failure};
use crate::output::Out;

/// A subcommand of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    Run,
    Perl,
    Prove,
    Doctor,
}

impl Launch {
    pub const ALL: [Launch; 4] = [Launch::Run, Launch::Perl, Launch::Prove, Launch::Doctor];

    pub fn name(self) -> &'static str {
        match self {
            Launch::Run => "run",
            Launch::Perl => "perl",
            Launch::Prove => "prove",
            Launch::Doctor => "doctor",
        }
    }

    pub fn from_name(name: &str) -> Option<Launch> {
        Launch::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// One option of `memtrace run`: its long name, the Devel::MemTrace import
/// option it becomes, and its value.
struct RunOption {
    long: &'static str,
    import: &'static str,
    value: Value,
    help: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    /// A flag: no value.
    None,
    /// A value that may be left out (`--dump-at-end` or `--dump-at-end=FILE`).
    Optional(&'static str),
    /// A value that must be given (`--iteration=Pkg::sub` or `--iteration Pkg::sub`).
    Required(&'static str),
}

/// The import options of Devel::MemTrace, spelled the command-line way.
const RUN_OPTIONS: &[RunOption] = &[
    RunOption {
        long: "iteration",
        import: "-iteration",
        value: Value::Required("Pkg::sub"),
        help: "each return from this sub ends an iteration (a checkpoint)",
    },
    RunOption {
        long: "iteration-every",
        import: "-iteration_every",
        value: Value::Required("SECONDS"),
        help:
            "end an iteration every SECONDS seconds (a timer), for programs with no main-loop sub",
    },
    RunOption {
        long: "report-at-end",
        import: "-report_at_END",
        value: Value::None,
        help: "print the leak report to stderr when the program ends",
    },
    RunOption {
        long: "dump-at-end",
        import: "-dump_at_END",
        value: Value::Optional("FILE"),
        help: "write a capture when the program ends (default memtrace-PID.mtc); read it with \
               memtrace report FILE",
    },
    RunOption {
        long: "dump-on",
        import: "-dump_on",
        value: Value::Required("SIGNAL[:FILE]"),
        help: "write a capture each time the process gets SIGNAL (e.g. USR2)",
    },
    RunOption {
        long: "dump-every",
        import: "-dump_every",
        value: Value::Required("N[:FILE]"),
        help: "write a capture every N iterations",
    },
    RunOption {
        long: "skip",
        import: "-skip",
        value: Value::Required("N"),
        help: "warm-up iterations after iteration 0 whose allocations are never leaks",
    },
    RunOption {
        long: "min-age",
        import: "-min_age",
        value: Value::Required("N"),
        help: "later checkpoints an allocation must stay live through to be a leak (default 2)",
    },
    RunOption {
        long: "all",
        import: "-all",
        value: Value::None,
        help: "the report lists the sites that stopped leaking too",
    },
    RunOption {
        long: "malloc",
        import: "-malloc",
        value: Value::None,
        help: "record the C library's malloc family too (what perl never logs: XS modules \
               built without PERL_MEM_LOG, C libraries); costs more",
    },
    RunOption {
        long: "stack",
        import: "-stack",
        value: Value::Required("N"),
        help: "frames of the Perl call stack each record keeps, 1 to 64 (default 8)",
    },
    RunOption {
        long: "c-frames",
        import: "-c_frames",
        value: Value::Optional("N"),
        help: "native frames each record keeps, 0 to 32 (6 without a value): the report names \
               the C function that allocated, not the allocator",
    },
];

fn run_option(long: &str) -> Option<&'static RunOption> {
    RUN_OPTIONS.iter().find(|o| o.long == long)
}

/// What `memtrace run` was asked to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// `-I DIR`s, in order.
    pub includes: Vec<String>,
    /// Devel::MemTrace import options (`-iteration=main::poll`, ...).
    pub imports: Vec<String>,
    pub program: String,
    pub args: Vec<String>,
}

/// Parse `memtrace run`'s arguments (after `run`).
pub fn parse_run(args: &[String]) -> Result<RunRequest, Failure> {
    let mut request = RunRequest::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break_at(&mut request, args, i)?;
            return Ok(request);
        }
        if let Some(dir) = arg.strip_prefix("-I") {
            let dir = if dir.is_empty() {
                let Some(next) = args.get(i) else {
                    return Err(Failure::bad(
                        "-I needs a directory, as in -I lib: where the program's modules are",
                    ));
                };
                i += 1;
                next.clone()
            } else {
                dir.to_string()
            };
            request.includes.push(dir);
            continue;
        }
        let Some(long) = arg.strip_prefix("--") else {
            if arg.starts_with('-') && arg.len() > 1 {
                return Err(Failure::bad(format!(
                    "unknown option '{}' for run: it takes Devel::MemTrace's options and -I DIR \
                     (memtrace run --help); for other perl switches run $(memtrace perl) \
                     -MDevel::MemTrace=... yourself",
                    arg.escape_default()
                )));
            }
            // The program, then its own arguments, untouched.
            break_at(&mut request, args, i - 1)?;
            return Ok(request);
        };
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (long, None),
        };
        let Some(option) = run_option(name) else {
            return Err(Failure::bad(format!(
                "unknown option '--{}' for run: see memtrace run --help for the options \
                 (they are Devel::MemTrace's import options: --iteration=Pkg::sub, \
                 --report-at-end, ...)",
                name.escape_default()
            )));
        };
        let value = match (option.value, inline) {
            (Value::None, Some(_)) => {
                return Err(Failure::bad(format!(
                    "--{name} takes no value: write --{name} alone"
                )))
            }
            (Value::None, None) | (Value::Optional(_), None) => None,
            (_, Some(v)) => Some(v),
            (Value::Required(metavar), None) => match args.get(i) {
                Some(v) if !v.starts_with("--") => {
                    i += 1;
                    Some(v.clone())
                }
                _ => {
                    return Err(Failure::bad(format!(
                        "--{name} needs a value, as in --{name}={metavar}: {}",
                        option.help
                    )))
                }
            },
        };
        if let Some(v) = &value {
            check_value(name, v)?;
        }
        request.imports.push(match value {
            Some(v) => format!("{}={v}", option.import),
            None => option.import.to_string(),
        });
    }
    Err(Failure::bad(
        "run needs a program: memtrace run [OPTIONS] PROGRAM.pl [ARGS...] (memtrace run --help)",
    ))
}

/// The program is `args[at]`; the rest are its arguments.
fn break_at(request: &mut RunRequest, args: &[String], at: usize) -> Result<(), Failure> {
    let Some(program) = args.get(at) else {
        return Err(Failure::bad(
            "run needs a program: memtrace run [OPTIONS] PROGRAM.pl [ARGS...] (memtrace run \
             --help)",
        ));
    };
    let path = Path::new(program);
    if !path.exists() {
        return Err(Failure::bad(format!(
            "{}: No such file or directory (the program to run: memtrace run [OPTIONS] \
             PROGRAM.pl [ARGS...])",
            program.escape_default()
        )));
    }
    if path.is_dir() {
        return Err(Failure::bad(format!(
            "{}: Is a directory, not a perl program: memtrace run [OPTIONS] PROGRAM.pl \
             [ARGS...]",
            program.escape_default()
        )));
    }
    request.program = program.clone();
    request.args = args[at + 1..].to_vec();
    Ok(())
}

/// The values perl's import would refuse less clearly.
fn check_value(name: &str, value: &str) -> Result<(), Failure> {
    let whole = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    let ok = match name {
        "iteration" => {
            let parts: Vec<&str> = value.split("::").collect();
            parts.len() >= 2
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && !p.as_bytes()[0].is_ascii_digit()
                        && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
        }
        "iteration-every" => value.parse::<f64>().is_ok_and(|s| s > 0.0 && s.is_finite()),
        "skip" | "min-age" => whole(value),
        "stack" => value.parse::<u32>().is_ok_and(|n| (1..=64).contains(&n)) && whole(value),
        "c-frames" => value.parse::<u32>().is_ok_and(|n| n <= 32) && whole(value),
        "dump-every" => whole(value.split(':').next().unwrap_or("")),
        "dump-on" => {
            let sig = value.split(':').next().unwrap_or("");
            !sig.is_empty()
                && sig
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
        _ => !value.is_empty(),
    };
    if ok {
        return Ok(());
    }
    let want = match name {
        "iteration" => "a fully qualified sub name, e.g. --iteration=main::poll",
        "iteration-every" => "a number of seconds above 0, e.g. --iteration-every=5",
        "skip" | "min-age" => "a whole number of 0 or more, e.g. --min-age=2",
        "stack" => "a number of frames from 1 to 64, e.g. --stack=16",
        "c-frames" => "a number of frames from 0 to 32, e.g. --c-frames=8",
        "dump-every" => "N[:FILE], N a whole number, e.g. --dump-every=10",
        "dump-on" => "SIGNAL[:FILE], a signal name, e.g. --dump-on=USR2",
        _ => "a file name, e.g. --dump-at-end=poller.mtc",
    };
    Err(Failure::bad(format!(
        "--{name} wants {want}, not '{}'",
        value.escape_default()
    )))
}

/// The `-M` argument that loads Devel::MemTrace with `imports`, quoted for
/// perl so that any value (commas, spaces) goes through as it is.
pub fn use_argument(imports: &[String]) -> String {
    if imports.is_empty() {
        return "-MDevel::MemTrace".to_string();
    }
    let quoted: Vec<String> = imports
        .iter()
        .map(|i| format!("'{}'", i.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    format!("-MDevel::MemTrace ({})", quoted.join(", "))
}

/// The cache directory `make perl` uses.
fn memtrace_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("MEMTRACE_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(x).join("devel-memtrace"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/devel-memtrace"))
}

/// The checkout this binary was built from (where `make perl` lives).
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first line of `path`, as a path, if it names an executable file.
fn recorded_perl(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim();
    let perl = PathBuf::from(line);
    (!line.is_empty() && is_executable_file(&perl)).then_some(perl)
}

/// Where the MemTrace perl was found.
pub struct Found {
    pub perl: PathBuf,
    /// How: "MEMTRACE_PERL", "recorded in FILE", "built now".
    pub how: String,
}

/// Find the MemTrace perl without building it.
pub fn find_perl() -> Result<Option<Found>, Failure> {
    if let Some(p) = std::env::var_os("MEMTRACE_PERL").filter(|p| !p.is_empty()) {
        let perl = PathBuf::from(&p);
        if !is_executable_file(&perl) {
            return Err(Failure::bad(format!(
                "MEMTRACE_PERL={} is not an executable file: unset it, or point it at the \
                 MemTrace perl (make perl prints its path)",
                perl.display()
            )));
        }
        return Ok(Some(Found {
            perl,
            how: "MEMTRACE_PERL".to_string(),
        }));
    }
    let mut records = Vec::new();
    if let Some(home) = memtrace_home() {
        records.push(home.join("memtrace-perl"));
    }
    records.push(checkout().join("target/.memtrace-perl-path"));
    for record in records {
        if let Some(perl) = recorded_perl(&record) {
            return Ok(Some(Found {
                perl,
                how: format!("recorded in {}", record.display()),
            }));
        }
    }
    Ok(None)
}

/// Find the MemTrace perl, building it (once) when there is none.
pub fn find_or_build_perl() -> Result<Found, Failure> {
    if let Some(found) = find_perl()? {
        return Ok(found);
    }
    let script = checkout().join("perl/build/make-perl.sh");
    if !script.is_file() {
        return Err(Failure::bad(format!(
            "no MemTrace perl is built and {} is gone: run make perl in a Devel::MemTrace \
             checkout (or set MEMTRACE_PERL)",
            script.display()
        )));
    }
    crate::failure::say(&format!(
        "no MemTrace perl yet: building it with {} (once; takes minutes)",
        script.display()
    ));
    let output = Command::new(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            Failure::bad(format!(
                "cannot run {}: {}",
                script.display(),
                io_message(&e)
            ))
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or("").trim().to_string();
    if !output.status.success() || !is_executable_file(Path::new(&last)) {
        return Err(Failure::bad(format!(
            "building the MemTrace perl failed (see the lines above): fix that, then run make \
             perl in {}",
            checkout().display()
        )));
    }
    Ok(Found {
        perl: PathBuf::from(last),
        how: "built now".to_string(),
    })
}

/// Replace this process with `command`; only returns on failure.
fn exec(mut command: Command, what: &str) -> Failure {
    let e = command.exec();
    Failure::bad(format!("cannot run {what}: {}", io_message(&e)))
}

/// Run a launch subcommand.
pub fn run(which: Launch, args: &[String]) -> Result<ExitCode, Failure> {
    match which {
        Launch::Run => {
            let request = parse_run(args)?;
            let found = find_or_build_perl()?;
            let mut command = Command::new(&found.perl);
            for dir in &request.includes {
                command.arg(format!("-I{dir}"));
            }
            command
                .arg(use_argument(&request.imports))
                .arg(&request.program)
                .args(&request.args);
            Err(exec(command, &found.perl.display().to_string()))
        }
        Launch::Perl => {
            if let Some(extra) = args.first() {
                return Err(Failure::bad(format!(
                    "perl takes no arguments ('{}' given): memtrace perl prints the MemTrace \
                     perl's path; run a program with memtrace run PROGRAM.pl, or \
                     \"$(memtrace perl)\" ARGS...",
                    extra.escape_default()
                )));
            }
            let found = find_or_build_perl()?;
            let mut out = Out::new();
            out.line(&found.perl.display().to_string())?;
            out.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        Launch::Prove => {
            let found = find_or_build_perl()?;
            let prove = found.perl.with_file_name("prove");
            if !prove.is_file() {
                return Err(Failure::bad(format!(
                    "the MemTrace perl {} has no prove beside it ({} is missing): rebuild it \
                     with make perl",
                    found.perl.display(),
                    prove.display()
                )));
            }
            let mut command = Command::new(&found.perl);
            command.arg(&prove).args(args);
            Err(exec(command, &prove.display().to_string()))
        }
        Launch::Doctor => {
            if let Some(extra) = args.first() {
                return Err(Failure::bad(format!(
                    "doctor takes no arguments ('{}' given): memtrace doctor",
                    extra.escape_default()
                )));
            }
            doctor()
        }
    }
}

/// The fields of the perl's `.memtrace-complete` stamp.
fn stamp_of(perl: &Path) -> Vec<(String, String)> {
    let Some(prefix) = perl.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(prefix.join(".memtrace-complete")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field<'a>(stamp: &'a [(String, String)], key: &str) -> Option<&'a str> {
    stamp
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Run `perl args`; (success, stdout, first stderr line).
fn perl_says(perl: &Path, args: &[&str]) -> (bool, String, String) {
    match Command::new(perl)
        .args(args)
        .env_remove("PERL5OPT")
        .env_remove("PERL5LIB")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
        ),
        Err(e) => (false, String::new(), io_message(&e)),
    }
}

/// `memtrace doctor`: one line per check, `ok: ...` or `problem: ... :
/// what to do`; exit 1 when there is a problem.
fn doctor() -> Result<ExitCode, Failure> {
    let mut lines = String::new();
    let mut problems = 0;
    let mut say = |ok: bool, text: String| {
        if !ok {
            problems += 1;
        }
        let _ = writeln!(lines, "{}: {text}", if ok { "ok" } else { "problem" });
    };
    match find_perl()? {
        None => say(
            false,
            format!(
                "no MemTrace perl is built yet: run memtrace perl (it builds one, in minutes) \
                 or make perl in {}",
                checkout().display()
            ),
        ),
        Some(found) => {
            let stamp = stamp_of(&found.perl);
            let version = field(&stamp, "version").unwrap_or("?").to_string();
            let what = match (field(&stamp, "kind"), field(&stamp, "like")) {
                (Some("twin"), Some(like)) => format!("the twin of {like}"),
                (Some(kind), _) => kind.to_string(),
                (None, _) => "standalone".to_string(),
            };
            say(
                true,
                format!(
                    "the MemTrace perl is {} (perl {version}, {what}; {})",
                    found.perl.display(),
                    found.how
                ),
            );
            let (ok, out, err) = perl_says(
                &found.perl,
                &[
                    "-MDevel::MemTrace",
                    "-e",
                    "print Devel::MemTrace::is_recording() ? 'on' : 'off'",
                ],
            );
            if ok && out == "on" {
                say(true, "Devel::MemTrace loads in it and records".to_string());
            } else if ok {
                say(
                    false,
                    format!(
                        "Devel::MemTrace loads but does not record (is_recording says {out}): \
                         run make perl in {} to reinstall the recorder",
                        checkout().display()
                    ),
                );
            } else {
                say(
                    false,
                    format!(
                        "Devel::MemTrace does not load in it ({err}): run make perl in {}",
                        checkout().display()
                    ),
                );
            }
            if let (Some("twin"), Some(like)) = (field(&stamp, "kind"), field(&stamp, "like")) {
                let (ok, like_version, err) = perl_says(
                    Path::new(like),
                    &["-MConfig", "-e", "print $Config{version}"],
                );
                if !ok {
                    say(
                        false,
                        format!(
                            "{like}, the perl it twins, does not run ({err}): reinstall it, or \
                             build a standalone MemTrace perl (MEMTRACE_PERL_KIND=standalone \
                             make perl)"
                        ),
                    );
                } else if like_version != version {
                    say(
                        false,
                        format!(
                            "{like} is now perl {like_version} but its twin is perl {version}, \
                             so modules installed for it will not load: run make perl in {} \
                             to build the new twin",
                            checkout().display()
                        ),
                    );
                } else {
                    say(
                        true,
                        format!(
                            "it is perl {version} like {like}, so the modules installed for \
                             {like} (apt, /usr/local) load in it"
                        ),
                    );
                }
            }
        }
    }
    // Is `memtrace` itself on PATH?
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("memtrace"))
            .find(|p| is_executable_file(p))
    });
    match on_path {
        Some(p) => say(true, format!("memtrace is on PATH: {}", p.display())),
        None => say(
            false,
            format!(
                "memtrace is not on PATH: run make perl in {} (it links the command into \
                 /usr/local/bin as root, ~/.local/bin otherwise), or add that directory to PATH",
                checkout().display()
            ),
        ),
    }
    let mut out = Out::new();
    out.text(&lines)?;
    out.finish()?;
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `memtrace run --help` and the others.
pub fn help(which: Launch) -> String {
    let mut out = String::new();
    match which {
        Launch::Run => {
            out.push_str(
                "Usage: memtrace run [OPTIONS] [-I DIR]... PROGRAM.pl [ARGS...]\n\n\
                 Runs PROGRAM.pl with ARGS under the MemTrace perl with recording on: the same \
                 as\n  $(memtrace perl) -MDevel::MemTrace=OPTIONS PROGRAM.pl ARGS...\n\
                 The program runs unchanged; its exit status is memtrace's. Options end at the \
                 program (or at --).\n\nOptions (Devel::MemTrace's import options):\n",
            );
            for o in RUN_OPTIONS {
                let names = match o.value {
                    Value::None => format!("--{}", o.long),
                    Value::Optional(v) => format!("--{}[={v}]", o.long),
                    Value::Required(v) => format!("--{}={v}", o.long),
                };
                let _ = writeln!(out, "  {names:<28}{}", o.help);
            }
            out.push_str(
                "  -I DIR                      add DIR to the program's @INC (perl's -I)\n  \
                 -h, --help                  this text\n\nExample:\n  memtrace run \
                 --iteration=main::poll --report-at-end poller.pl --verbose\n",
            );
        }
        Launch::Perl => out.push_str(
            "Usage: memtrace perl\n\nPrints the path of the MemTrace perl (building it first \
             when there is none), for\n  \"$(memtrace perl)\" -MDevel::MemTrace=... prog.pl\n",
        ),
        Launch::Prove => out.push_str(
            "Usage: memtrace prove [PROVE ARGS...]\n\nRuns prove with the MemTrace perl, so \
             that tests using Test::MemTrace run where\nthe recorder is, e.g. memtrace prove \
             -lr t/\n",
        ),
        Launch::Doctor => out.push_str(
            "Usage: memtrace doctor\n\nChecks the set-up, one line each (ok: or problem: and \
             what to do): the MemTrace perl,\nDevel::MemTrace recording in it, for a twin \
             whether the perl it twins is still the same\nversion, and memtrace on PATH. Exits \
             1 when there is a problem.\n",
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn message(line: &str) -> String {
        match parse_run(&args(line)) {
            Err(Failure::BadInput(m)) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn options_become_import_options() {
        let r = parse_run(&args(
            "--iteration=main::poll --report-at-end --min-age 3 --malloc -I lib -Iblib/lib Cargo.toml -x --y",
        ))
        .unwrap();
        assert_eq!(
            r.imports,
            [
                "-iteration=main::poll",
                "-report_at_END",
                "-min_age=3",
                "-malloc"
            ]
        );
        assert_eq!(r.includes, ["lib", "blib/lib"]);
        assert_eq!(r.program, "Cargo.toml");
        assert_eq!(r.args, ["-x", "--y"]);
        let r = parse_run(&args("--dump-at-end -- Cargo.toml")).unwrap();
        assert_eq!(r.imports, ["-dump_at_END"]);
        let r = parse_run(&args("--stack=16 --c-frames Cargo.toml")).unwrap();
        assert_eq!(r.imports, ["-stack=16", "-c_frames"]);
        let r = parse_run(&args("--c-frames=0 Cargo.toml")).unwrap();
        assert_eq!(r.imports, ["-c_frames=0"]);
        assert_eq!(
            use_argument(&["-dump_at_END=a,b 'c'".to_string(), "-all".to_string()]),
            "-MDevel::MemTrace ('-dump_at_END=a,b \\'c\\'', '-all')"
        );
        assert_eq!(use_argument(&[]), "-MDevel::MemTrace");
    }

    #[test]
    fn mistakes_say_what_to_do() {
        assert!(message("--iteration").starts_with("--iteration needs a value"));
        assert!(message("--iteration=poll Cargo.toml").starts_with("--iteration wants a fully"));
        assert!(message("--min-age=x Cargo.toml").starts_with("--min-age wants a whole number"));
        assert!(message("--report-at-end=1 x").starts_with("--report-at-end takes no value"));
        assert!(message("--stack=0 Cargo.toml")
            .starts_with("--stack wants a number of frames from 1 to 64"));
        assert!(message("--c-frames=33 x")
            .starts_with("--c-frames wants a number of frames from 0 to 32"));
        assert!(message("--bogus x").starts_with("unknown option '--bogus' for run"));
        assert!(message("-w x").starts_with("unknown option '-w' for run"));
        assert!(message("--all").starts_with("run needs a program"));
        assert!(message("no-such.pl").starts_with("no-such.pl: No such file or directory"));
    }
}

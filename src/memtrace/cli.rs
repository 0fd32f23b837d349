//! The command line: `memtrace SUBCOMMAND [OPTIONS] OPERANDS...`, parsed by
//! hand so that every mistake gets one line that says what to do.

use memtrace_analysis::Status;

use crate::failure::Failure;
use crate::launch::Launch;

/// What `memtrace` can do with captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subcommand {
    Report,
    Leaks,
    Sites,
    Diff,
    Identify,
    Flamegraph,
    Plot,
}

impl Subcommand {
    pub const ALL: [Subcommand; 7] = [
        Subcommand::Report,
        Subcommand::Leaks,
        Subcommand::Sites,
        Subcommand::Diff,
        Subcommand::Identify,
        Subcommand::Flamegraph,
        Subcommand::Plot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Subcommand::Report => "report",
            Subcommand::Leaks => "leaks",
            Subcommand::Sites => "sites",
            Subcommand::Diff => "diff",
            Subcommand::Identify => "identify",
            Subcommand::Flamegraph => "flamegraph",
            Subcommand::Plot => "plot",
        }
    }

    pub fn from_name(name: &str) -> Option<Subcommand> {
        Subcommand::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What its operands are, for messages: "FILE...".
    pub fn operands(self) -> &'static str {
        match self {
            Subcommand::Diff => "BEFORE AFTER",
            Subcommand::Identify => "ADDR... FILE",
            Subcommand::Flamegraph => "FILE... -o OUT.svg",
            Subcommand::Plot => "FILE -o OUT.svg",
            _ => "FILE...",
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `memtrace help [SUBCOMMAND]`, `--help`, `-h`, `SUBCOMMAND --help`.
    Help(Option<Subcommand>),
    /// `--version`, `-V`.
    Version,
    Run(Command),
    /// `memtrace help run`, `memtrace run --help`, ...
    LaunchHelp(Launch),
    /// `memtrace run|perl|prove|doctor ARGS...`: the arguments after the
    /// subcommand, parsed by the launch module (they go to perl or prove).
    Launch(Launch, Vec<String>),
}

/// A subcommand with its operands and options.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    pub subcommand: Subcommand,
    /// Capture files; for `identify`, the addresses and then the file.
    pub operands: Vec<String>,
    pub options: Options,
}

/// Every option; each subcommand takes some of them (see [`OPTIONS`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Leak-rule overrides; None: the capture header's.
    pub skip: Option<u32>,
    pub min_age: Option<u32>,
    pub all: bool,
    /// At most this many sites (0: all).
    pub top: u32,
    pub json: bool,
    /// One of `Status::NAMES`.
    pub status: Option<String>,
    /// Flame graph: count allocations instead of bytes.
    pub count: bool,
    /// Where the SVG goes ("-": standard output).
    pub output: Option<String>,
}

/// One option: its names, its value's name if it takes one, and who takes it.
pub struct OptionSpec {
    pub long: &'static str,
    pub short: Option<char>,
    pub value: Option<&'static str>,
    pub takers: &'static [Subcommand],
    pub help: &'static str,
}

use Subcommand::*;

/// Every option, in the order `--help` lists them.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        long: "skip",
        short: None,
        value: Some("N"),
        takers: &[Report, Leaks, Sites, Diff, Identify, Flamegraph],
        help: "warm-up iterations after iteration 0 whose allocations are never leaks \
               (default: the capture's -skip)",
    },
    OptionSpec {
        long: "min-age",
        short: None,
        value: Some("N"),
        takers: &[Report, Leaks, Sites, Diff, Identify, Flamegraph],
        help: "later checkpoints an allocation must stay live through to be a leak \
               (default: the capture's -min_age)",
    },
    OptionSpec {
        long: "all",
        short: None,
        value: None,
        takers: &[Report, Sites, Diff],
        help: "report, sites: list the sites that stopped leaking too; diff: list the sites \
               that shrank too",
    },
    OptionSpec {
        long: "top",
        short: None,
        value: Some("N"),
        takers: &[Report, Sites, Diff],
        help: "list at most N sites (default 0: all)",
    },
    OptionSpec {
        long: "status",
        short: None,
        value: Some("S"),
        takers: &[Sites],
        help: "sites of this status: steady, intermittent, stopped, ongoing (steady and \
               intermittent, the default) or all",
    },
    OptionSpec {
        long: "count",
        short: None,
        value: None,
        takers: &[Flamegraph],
        help: "size the frames by leaked allocations instead of leaked bytes",
    },
    OptionSpec {
        long: "output",
        short: Some('o'),
        value: Some("OUT.svg"),
        takers: &[Flamegraph, Plot],
        help: "the SVG file to write (required; - for standard output)",
    },
    OptionSpec {
        long: "json",
        short: None,
        value: None,
        takers: &[Report, Leaks, Sites, Diff, Identify, Flamegraph, Plot],
        help: "print the answer as JSON on standard output instead of text",
    },
];

fn spec(long: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.long == long)
}

fn spec_short(c: char) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

fn is_help(arg: &str) -> bool {
    arg == "--help" || arg == "-h"
}

fn subcommand_list() -> String {
    let names: Vec<&str> = Launch::ALL
        .iter()
        .map(|l| l.name())
        .chain(Subcommand::ALL.iter().map(|s| s.name()))
        .collect();
    format!(
        "{} or {}",
        names[..names.len() - 1].join(", "),
        names[names.len() - 1]
    )
}

/// Parse the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Invocation, Failure> {
    let Some(first) = args.first() else {
        return Err(Failure::bad(
            "no subcommand given: try memtrace report FILE, or memtrace --help for all of them",
        ));
    };
    match first.as_str() {
        "help" | "--help" | "-h" => {
            return match args.get(1) {
                None => Ok(Invocation::Help(None)),
                Some(name) => match (Subcommand::from_name(name), Launch::from_name(name)) {
                    (Some(sub), _) => Ok(Invocation::Help(Some(sub))),
                    (None, Some(launch)) => Ok(Invocation::LaunchHelp(launch)),
                    (None, None) => Err(unknown_subcommand(name)),
                },
            };
        }
        "--version" | "-V" => return Ok(Invocation::Version),
        _ => {}
    }
    if let Some(launch) = Launch::from_name(first) {
        let rest = &args[1..];
        // After `run`'s program and in `prove`'s arguments, --help is
        // theirs: only a leading one is ours.
        let help = match launch {
            Launch::Run | Launch::Prove => rest.first().is_some_and(|a| is_help(a)),
            Launch::Perl | Launch::Doctor => rest.iter().any(|a| is_help(a)),
        };
        if help {
            return Ok(Invocation::LaunchHelp(launch));
        }
        return Ok(Invocation::Launch(launch, rest.to_vec()));
    }
    let Some(subcommand) = Subcommand::from_name(first) else {
        return Err(unknown_subcommand(first));
    };
    let rest = &args[1..];
    let before_dashdash = rest.iter().take_while(|a| a.as_str() != "--");
    if before_dashdash.clone().any(|a| is_help(a)) {
        return Ok(Invocation::Help(Some(subcommand)));
    }
    let (operands, options) = parse_options(subcommand, rest)?;
    check(subcommand, &operands, &options)?;
    Ok(Invocation::Run(Command {
        subcommand,
        operands,
        options,
    }))
}

fn unknown_subcommand(name: &str) -> Failure {
    let name_shown = name.escape_default().to_string();
    if name.starts_with('-') {
        return Failure::bad(format!(
            "'{name_shown}' before a subcommand: options come after it, as in memtrace report \
             {name_shown} FILE (memtrace --help lists them)"
        ));
    }
    if std::path::Path::new(name).exists() {
        return Failure::bad(format!(
            "'{name_shown}' is not a subcommand: say what to do with the capture first, as in \
             memtrace report {name_shown} (memtrace --help lists them)"
        ));
    }
    Failure::bad(format!(
        "'{name_shown}' is not a subcommand: use {} (memtrace --help)",
        subcommand_list()
    ))
}

/// Split `args` into operands and options; `--` ends the options, and a
/// lone `-` is an operand.
fn parse_options(sub: Subcommand, args: &[String]) -> Result<(Vec<String>, Options), Failure> {
    let mut operands = Vec::new();
    let mut options = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        let (spec, inline_value, shown) = if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            (spec(name), value, format!("--{name}"))
        } else if arg.len() > 1 && arg.starts_with('-') {
            let mut chars = arg[1..].chars();
            let c = chars.next().unwrap_or('-');
            let tail: String = chars.collect();
            let spec = spec_short(c);
            let value = if tail.is_empty() {
                None
            } else if spec.is_some_and(|s| s.value.is_some()) {
                Some(tail.trim_start_matches('=').to_string())
            } else {
                return Err(unknown_option(sub, arg));
            };
            (spec, value, format!("-{c}"))
        } else {
            operands.push(arg.clone());
            continue;
        };
        let Some(spec) = spec else {
            return Err(unknown_option(sub, arg.split('=').next().unwrap_or(arg)));
        };
        if !spec.takers.contains(&sub) {
            let takers: Vec<&str> = spec.takers.iter().map(|s| s.name()).collect();
            return Err(Failure::bad(format!(
                "{} does not take {shown} (only {} do{}): see memtrace {} --help",
                sub.name(),
                takers.join(", "),
                if takers.len() == 1 { "es" } else { "" },
                sub.name()
            )));
        }
        let value = match (spec.value, inline_value) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Failure::bad(format!(
                    "{shown} takes no value: write {shown} alone"
                )))
            }
            (Some(_), Some(v)) => Some(v),
            (Some(metavar), None) => match args.get(i) {
                Some(v) => {
                    i += 1;
                    Some(v.clone())
                }
                None => {
                    return Err(Failure::bad(format!(
                        "{shown} needs a value, as in {shown} {metavar}: {}",
                        spec.help
                    )))
                }
            },
        };
        apply(&mut options, spec, &shown, value)?;
    }
    Ok((operands, options))
}

fn unknown_option(sub: Subcommand, arg: &str) -> Failure {
    Failure::bad(format!(
        "unknown option '{}' for {}: see memtrace {} --help",
        arg.escape_default(),
        sub.name(),
        sub.name()
    ))
}

fn number(shown: &str, value: &str) -> Result<u32, Failure> {
    value.trim().parse::<u32>().map_err(|_| {
        Failure::bad(format!(
            "{shown} wants a whole number of 0 or more, not '{}': e.g. {shown} 2",
            value.escape_default()
        ))
    })
}

fn apply(
    options: &mut Options,
    spec: &OptionSpec,
    shown: &str,
    value: Option<String>,
) -> Result<(), Failure> {
    let value = value.unwrap_or_default();
    match spec.long {
        "skip" => options.skip = Some(number(shown, &value)?),
        "min-age" => options.min_age = Some(number(shown, &value)?),
        "top" => options.top = number(shown, &value)?,
        "all" => options.all = true,
        "count" => options.count = true,
        "json" => options.json = true,
        "status" => {
            if !Status::NAMES.contains(&value.as_str()) {
                return Err(Failure::bad(format!(
                    "--status wants one of {}, not '{}'",
                    Status::NAMES.join(", "),
                    value.escape_default()
                )));
            }
            options.status = Some(value);
        }
        "output" => {
            if value.is_empty() {
                return Err(Failure::bad(format!(
                    "{shown} needs a file name: {shown} OUT.svg (or - for standard output)"
                )));
            }
            options.output = Some(value);
        }
        _ => unreachable!("every option in OPTIONS is applied"),
    }
    Ok(())
}

/// The operands and options a subcommand needs, together.
fn check(sub: Subcommand, operands: &[String], options: &Options) -> Result<(), Failure> {
    let name = sub.name();
    let usage = format!("memtrace {name} {}", sub.operands());
    match sub {
        Diff if operands.len() != 2 => {
            return Err(Failure::bad(format!(
                "diff compares two captures, {} given: {usage}",
                operands.len()
            )))
        }
        Plot if operands.len() != 1 => {
            return Err(Failure::bad(format!(
                "plot draws one capture, {} given: {usage} (run it once per capture)",
                operands.len()
            )))
        }
        Identify if operands.len() < 2 => {
            return Err(Failure::bad(format!(
                "identify needs one or more addresses, then the capture: {usage} (- reads the \
                 addresses from standard input)"
            )))
        }
        _ if operands.is_empty() => {
            return Err(Failure::bad(format!(
                "{name} needs a capture file: {usage}"
            )))
        }
        _ => {}
    }
    let files: &[String] = if sub == Identify {
        &operands[operands.len() - 1..]
    } else {
        operands
    };
    if files.iter().any(|f| f == "-") {
        return Err(Failure::bad(format!(
            "{name} reads captures from files, not standard input: give a file name ({usage})"
        )));
    }
    if sub == Identify && operands.iter().filter(|a| a.as_str() == "-").count() > 1 {
        return Err(Failure::bad(
            "- (addresses from standard input) can be given once only",
        ));
    }
    if matches!(sub, Flamegraph | Plot) {
        match options.output.as_deref() {
            None => {
                return Err(Failure::bad(format!(
                    "{name} needs -o OUT.svg, the SVG file to write (or -o - for standard \
                     output): {usage}"
                )))
            }
            Some("-") if options.json => {
                return Err(Failure::bad(format!(
                    "--json and -o - would both go to standard output: give -o a file name \
                     ({usage})"
                )))
            }
            _ => {}
        }
    }
    if options.all && options.status.as_deref().is_some_and(|s| s != "all") {
        return Err(Failure::bad(
            "--all and --status disagree: give one of them (--all is --status all)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn message(line: &str) -> String {
        match parse(&args(line)) {
            Err(Failure::BadInput(m)) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn options_go_anywhere_after_the_subcommand() {
        let Ok(Invocation::Run(cmd)) = parse(&args("report a.mtc --skip 2 --min-age=1 b.mtc"))
        else {
            panic!()
        };
        assert_eq!(cmd.operands, ["a.mtc", "b.mtc"]);
        assert_eq!((cmd.options.skip, cmd.options.min_age), (Some(2), Some(1)));
        let Ok(Invocation::Run(cmd)) = parse(&args("flamegraph -oout.svg a b --count")) else {
            panic!()
        };
        assert_eq!(cmd.options.output.as_deref(), Some("out.svg"));
        assert!(cmd.options.count);
        let Ok(Invocation::Run(cmd)) = parse(&args("identify 0x10 - -- --odd-file")) else {
            panic!()
        };
        assert_eq!(cmd.operands, ["0x10", "-", "--odd-file"]);
    }

    #[test]
    fn help_and_version_are_found() {
        assert_eq!(parse(&args("help")).ok(), Some(Invocation::Help(None)));
        assert_eq!(parse(&args("-h")).ok(), Some(Invocation::Help(None)));
        assert_eq!(
            parse(&args("help diff")).ok(),
            Some(Invocation::Help(Some(Diff)))
        );
        assert_eq!(
            parse(&args("plot x --bogus --help")).ok(),
            Some(Invocation::Help(Some(Plot)))
        );
        assert_eq!(parse(&args("--version")).ok(), Some(Invocation::Version));
    }

    #[test]
    fn mistakes_say_what_to_do() {
        assert!(message("").starts_with("no subcommand given"));
        assert!(message("frobnicate x").starts_with(
            "'frobnicate' is not a subcommand: use run, perl, prove, doctor, report,"
        ));
        assert!(message("--json report x").contains("options come after it"));
        assert_eq!(
            message("report x --count"),
            "report does not take --count (only flamegraph does): see memtrace report --help"
        );
        assert!(
            message("report x --skip").starts_with("--skip needs a value, as in --skip N: warm-up")
        );
        assert!(message("report x --skip=two").starts_with("--skip wants a whole number"));
        assert!(message("report x --bogus").starts_with("unknown option '--bogus' for report"));
        assert!(message("sites x --status sometimes").starts_with("--status wants one of steady,"));
        assert!(message("diff a").starts_with("diff compares two captures, 1 given"));
        assert!(message("identify a").starts_with("identify needs one or more addresses"));
        assert!(message("flamegraph a").starts_with("flamegraph needs -o OUT.svg"));
        assert!(message("plot a -o - --json").starts_with("--json and -o -"));
        assert!(message("report").starts_with("report needs a capture file"));
        assert!(message("report -").contains("not standard input"));
        assert!(message("report x --json=yes").starts_with("--json takes no value"));
    }
}

//! The `--help` texts: the whole command, and each subcommand.

use std::fmt::Write;

use crate::cli::{Subcommand, OPTIONS};

const SUMMARY: &str = "\
memtrace: runs a program under the MemTrace perl with Devel::MemTrace recording, and reads
the captures it writes: what leaked, where.

Usage:
  memtrace run [OPTIONS] PROG.pl [ARGS...]
                                     run PROG.pl under the MemTrace perl with recording on;
                                     OPTIONS are Devel::MemTrace's (--iteration=Pkg::sub,
                                     --report-at-end, ...: memtrace run --help)
  memtrace perl                      the MemTrace perl's path (built first when there is none)
  memtrace prove [ARGS...]           prove with the MemTrace perl (Test::MemTrace tests)
  memtrace doctor                    check the set-up: one line per check, and what to do
  memtrace report FILE...            the leak report Devel::MemTrace::report() prints; several
                                     FILEs (the workers of one server) merge site by site
  memtrace leaks FILE...             every leaked allocation, one line each
  memtrace sites FILE...             the leak sites, two lines each (--status picks which)
  memtrace diff BEFORE AFTER         the sites whose live allocations grew between two captures
  memtrace identify ADDR... FILE     what each address is: its Perl line, C site, age and
                                     whether it is a leak (ADDR - reads addresses from stdin)
  memtrace flamegraph FILE... -o OUT.svg
                                     leaked bytes by Perl line, C site and type, as an
                                     interactive flame graph
  memtrace plot FILE -o OUT.svg      live SVs, logged bytes, new leaks (and RSS) per iteration
  memtrace help [SUBCOMMAND]         this text, or one subcommand's (also SUBCOMMAND --help)
  memtrace --version
";

const LEAK_RULE: &str = "\
A leak is an allocation made in iteration 1 + skip or later that stayed live through
min_age later checkpoints; skip and min_age default to what the traced program used.
";

const EXIT_STATUS: &str = "\
Exit status:
  0  done (also when standard output is closed early, as by | head)
  1  identify: no address given has a live record
  2  bad usage or input: unknown subcommand or option, bad value or address, missing,
     unreadable or corrupt capture, an output file that cannot be written; one line on
     stderr, starting 'memtrace: ', says what was wrong and what to do
  3  internal error (a bug: please report it)
";

/// `memtrace --help`.
pub fn summary() -> String {
    let mut out = String::from(SUMMARY);
    out.push_str(
        "\nOptions of the capture readers (each subcommand's --help says which it takes):\n",
    );
    for spec in OPTIONS {
        let _ = writeln!(out, "{}", option_line(spec));
    }
    let _ = writeln!(
        out,
        "{}",
        wrap(&format!("  {:<22}", "-h, --help"), "this text")
    );
    let _ = writeln!(
        out,
        "{}",
        wrap(&format!("  {:<22}", "-V, --version"), "the version")
    );
    out.push('\n');
    out.push_str(LEAK_RULE);
    out.push('\n');
    out.push_str(EXIT_STATUS);
    out
}

fn option_line(spec: &crate::cli::OptionSpec) -> String {
    let names = match (spec.short, spec.value) {
        (Some(c), Some(v)) => format!("-{c}, --{} {v}", spec.long),
        (Some(c), None) => format!("-{c}, --{}", spec.long),
        (None, Some(v)) => format!("    --{} {v}", spec.long),
        (None, None) => format!("    --{}", spec.long),
    };
    wrap(&format!("  {names:<22}"), spec.help)
}

/// `head` then `text` wrapped at 92 columns, continuation lines aligned
/// under the text.
fn wrap(head: &str, text: &str) -> String {
    let indent = head.len();
    let mut out = head.to_string();
    let mut column = indent;
    let mut first = true;
    for word in text.split_whitespace() {
        if !first && column + 1 + word.len() > 92 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
            first = true;
        }
        if !first {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += word.len();
        first = false;
    }
    out
}

/// `memtrace SUBCOMMAND --help`.
pub fn subcommand(sub: Subcommand) -> String {
    let (what, more) = match sub {
        Subcommand::Report => (
            "The leak report, as Devel::MemTrace::report() prints it in the traced process: \
             one line per closed iteration, then the leak sites that are still leaking.",
            "Several FILEs (the workers of a prefork server) give one report: a line naming \
             the captures, each capture's iteration lines, then the sites of all of them \
             merged (the same Perl line and C site in several workers is one site, its \
             counts added).\n\
             --json prints {captures:[{file,pid,program,perl_version,history:[...]}], \
             rule:{skip,min_age}, sites:[...]} with the sites the text lists.",
        ),
        Subcommand::Leaks => (
            "Every leaked allocation, one line each: address, kind (sv or mem), type, size, \
             the iteration it was made in, its Perl site and its C site.",
            "With several FILEs each line starts with its capture's name.\n\
             --json prints an array of {capture,address,kind,type,size,iteration,file,line,\
             sub,c_file,c_line,c_func}.",
        ),
        Subcommand::Sites => (
            "The leak sites (leaks grouped by Perl line and C site), two lines each, most \
             leaked first. By default the ongoing ones (steady and intermittent).",
            "Several FILEs merge site by site.\n\
             --json prints an array of leak sites (kind, file, line, sub, c_file, c_line, \
             c_func, type, types, count, bytes, first_iteration, per_iteration, status, \
             sample_address).",
        ),
        Subcommand::Diff => (
            "Which sites' live allocations grew from the BEFORE capture to the AFTER one (two \
             captures of one program, taken at two times): +N allocations (+B bytes) per \
             site, and whether the site is a leak in AFTER.",
            "Sites that shrank are counted; --all lists them too. Leak status is judged in \
             AFTER, with its skip and min_age unless given.\n\
             --json prints {before:{file,pid,program,iterations}, after:{...}, \
             rule:{skip,min_age}, grew:[...], shrank:[...]} (both lists in full), each change \
             {kind,file,line,sub,c_file,c_line,c_func,count_before,count_after,bytes_before,\
             bytes_after,count_delta,bytes_delta,status}.",
        ),
        Subcommand::Identify => (
            "What each address is in the capture FILE (the last argument): a live SV or \
             buffer, with its type, size, Perl line, C site, iteration and whether it is a \
             leak; or why there is no live record at that address.",
            "ADDR is hex as pmat prints it (0x55efee189120) or decimal. A single - reads \
             addresses from standard input: every 0x... token of a line (so pmat-leakreport's \
             output can be piped in as it is), or the whitespace-separated addresses of a \
             line without one.\n\
             Exits 1 when no address has a live record.\n\
             --json prints an array of {address,found,record,owner,text}.",
        ),
        Subcommand::Flamegraph => (
            "An interactive flame graph (SVG: click to zoom, Ctrl-F to search) of the leaked \
             bytes: Perl frames outermost first, then the C site, then the type.",
            "--count sizes the frames by leaked allocations instead. Several FILEs add up. \
             With no leaks it still writes an SVG that says so.\n\
             --json also prints {output,unit,total,stacks:[{frames:[...],value}]}.",
        ),
        Subcommand::Plot => (
            "Charts of the capture's history, one per quantity, iteration on the x axis: live \
             SVs, bytes of the logged C allocations, new leaks per iteration, and the resident \
             set size when the capture has it.",
            "With fewer than 2 closed iterations it writes an SVG that says there is nothing \
             to plot.\n\
             --json also prints {output,history:[{iteration,svs,svs_delta,mem_live,mem_bytes,\
             mem_live_delta,mem_bytes_delta,sv_live,new_leaks,rss,time_ms}]}.",
        ),
    };
    let mut out = format!("Usage: memtrace {} {}", sub.name(), sub.operands());
    let takes_options = OPTIONS
        .iter()
        .any(|o| o.takers.contains(&sub) && o.long != "output");
    if takes_options {
        out.push_str(" [OPTIONS]");
    }
    out.push_str("\n\n");
    out.push_str(&wrap("", what));
    out.push('\n');
    for paragraph in more.split('\n') {
        out.push('\n');
        out.push_str(&wrap("", paragraph));
        out.push('\n');
    }
    out.push_str("\nOptions:\n");
    for spec in OPTIONS.iter().filter(|o| o.takers.contains(&sub)) {
        let _ = writeln!(out, "{}", option_line(spec));
    }
    let _ = writeln!(
        out,
        "{}",
        wrap(&format!("  {:<22}", "-h, --help"), "this text")
    );
    if OPTIONS
        .iter()
        .any(|o| o.takers.contains(&sub) && o.long == "skip")
    {
        out.push('\n');
        out.push_str(LEAK_RULE);
    }
    out
}

/// `memtrace --version`.
pub fn version() -> String {
    format!(
        "memtrace {} (reads capture format version {})\n",
        env!("CARGO_PKG_VERSION"),
        memtrace_format::VERSION
    )
}

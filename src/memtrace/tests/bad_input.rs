//! Every bad input: exit 2 and exactly one stderr line, starting
//! `memtrace: `, that says what was wrong.

mod common;

use std::process::{Command, Stdio};

use common::{memtrace, p, poller, TempDir};

#[test]
fn a_missing_file_is_named() {
    let dir = TempDir::new();
    let missing = dir.path("w1.mtc");
    let run = memtrace(&["report", p(&missing)], "");
    assert_eq!(
        run.bad_input_line(),
        format!("memtrace: {}: No such file or directory", p(&missing))
    );
    let run = memtrace(&["sites", p(&dir.path(""))], "");
    assert!(run.bad_input_line().ends_with(": Is a directory"));
}

#[test]
fn corrupt_and_truncated_captures_are_refused() {
    let dir = TempDir::new();
    let noise = dir.path("noise.mtc");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&noise, bytes).unwrap();
    let line = memtrace(&["report", p(&noise)], "")
        .bad_input_line()
        .to_string();
    assert!(
        line.starts_with(&format!("memtrace: {}: not a memtrace capture", p(&noise))),
        "{line}"
    );

    let whole = dir.capture("whole.mtc", &poller(1, 12, false));
    let bytes = std::fs::read(&whole).unwrap();
    let half = dir.path("half.mtc");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    for sub in ["report", "leaks", "sites", "flamegraph", "plot"] {
        let out = dir.path("out.svg");
        let run = memtrace(&[sub, p(&half), "-o", p(&out)], "");
        let line = if matches!(sub, "flamegraph" | "plot") {
            run.bad_input_line().to_string()
        } else {
            // -o is not theirs: that is the complaint.
            assert!(run.bad_input_line().contains("does not take -o"));
            memtrace(&[sub, p(&half)], "").bad_input_line().to_string()
        };
        assert!(
            line.starts_with(&format!("memtrace: {}: capture is", p(&half))),
            "{sub}: {line}"
        );
    }
    let empty = dir.path("empty.mtc");
    std::fs::write(&empty, b"").unwrap();
    let run = memtrace(&["diff", p(&whole), p(&empty)], "");
    assert!(run.bad_input_line().contains("empty (0 bytes)"));
}

#[test]
fn bad_addresses_say_how_to_write_one() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(1, 12, false));
    let run = memtrace(&["identify", "zz", p(&file)], "");
    assert!(run
        .bad_input_line()
        .starts_with("memtrace: 'zz' is not an address: give it in hex"));
    let run = memtrace(&["identify", "-", p(&file)], "0x10\nhello\n");
    assert!(run
        .bad_input_line()
        .starts_with("memtrace: standard input line 2: 'hello' is not an address"));
    let run = memtrace(&["identify", "-", p(&file)], "\n");
    assert!(run
        .bad_input_line()
        .starts_with("memtrace: no address on standard input"));
    let run = memtrace(&["identify", p(&file), "0x10"], "");
    assert!(run.bad_input_line().contains("the capture comes last"));
}

#[test]
fn captures_recorded_under_different_rules_need_one_given() {
    let dir = TempDir::new();
    let one = dir.capture("w1.mtc", &poller(1, 12, false));
    let mut other = poller(2, 12, false);
    other.header.skip = 3;
    let two = dir.capture("w2.mtc", &other);
    let run = memtrace(&["report", p(&one), p(&two)], "");
    assert!(
        run.bad_input_line()
            .ends_with("with skip 3: give --skip N to judge them alike"),
        "{}",
        run.stderr
    );
    let run = memtrace(&["report", p(&one), p(&two), "--skip", "1"], "");
    assert!(run.ok().contains("made in iteration 2 or later"));
}

#[test]
fn usage_mistakes_get_one_line() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(1, 12, false));
    let f = p(&file);
    let cases: &[(&[&str], &str)] = &[
        (&[], "memtrace: no subcommand given"),
        (
            &["frobnicate", f],
            "memtrace: 'frobnicate' is not a subcommand",
        ),
        (
            &[f],
            "is not a subcommand: say what to do with the capture first",
        ),
        (&["flamegraph", f], "memtrace: flamegraph needs -o OUT.svg"),
        (&["plot", f], "memtrace: plot needs -o OUT.svg"),
        (
            &["report", f, "--skip", "many"],
            "memtrace: --skip wants a whole number",
        ),
        (
            &["report", f, "--min-age"],
            "memtrace: --min-age needs a value",
        ),
        (
            &["report", f, "--frob"],
            "memtrace: unknown option '--frob' for report",
        ),
        (
            &["leaks", f, "--top", "3"],
            "memtrace: leaks does not take --top",
        ),
        (
            &["sites", f, "--status", "odd"],
            "memtrace: --status wants one of",
        ),
        (
            &["diff", f],
            "memtrace: diff compares two captures, 1 given",
        ),
        (
            &["identify", f],
            "memtrace: identify needs one or more addresses",
        ),
        (&["help", "nope"], "memtrace: 'nope' is not a subcommand"),
    ];
    for (args, start) in cases {
        let run = memtrace(args, "");
        let line = run.bad_input_line();
        assert!(line.contains(start), "{args:?}: {line}");
    }
    let out = dir.path("no/such/dir/leaks.svg");
    let run = memtrace(&["flamegraph", f, "-o", p(&out)], "");
    assert!(
        run.bad_input_line().contains("cannot write"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = TempDir::new();
    // Enough leaks that the output outgrows the pipe buffer.
    let file = dir.capture("w1.mtc", &poller(1, 2000, false));
    let mut child = Command::new(env!("CARGO_BIN_EXE_memtrace"))
        .args(["leaks", p(&file)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // as `| head` does once it has enough
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
}

//! The text and JSON subcommands on captures of a poller with planted
//! leaks: what a user reads off them.

mod common;

use common::{memtrace, p, poller, TempDir, SAMPLE_BUFFER, SAMPLE_UNDEF};

#[test]
fn report_names_the_leaking_lines_and_their_status() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(4242, 12, false));
    let run = memtrace(&["report", p(&file)], "");
    let text = run.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("Devel::MemTrace report: 12 iterations closed; a leak is"),
        "{text}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("iteration ")).count(),
        12
    );
    assert!(
        text.contains("leak sites: 5 ongoing (4 steady, 1 intermittent), 2 stopped"),
        "{text}"
    );
    assert!(
        text.contains("  7 leaked UNDEF SVs at examples/poller.pl line 133, in main::poll\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "      C site: sv.c:5594 Perl_newSV; steady; per iteration: 0 0 1 1 1 1 1 1 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("C site: Leaky.xs:37 XS_Leaky_leak_buffer; steady"),
        "{text}"
    );
    assert!(
        text.contains("at examples/poller.pl line 150, in main::summary"),
        "{text}"
    );
    assert!(
        text.contains("; intermittent, every 2 iterations; "),
        "{text}"
    );
    // The warm-up cache is told apart, and the hint is this command's.
    assert!(!text.contains("line 88"), "{text}");
    assert!(text.ends_with("see them with --all\n"), "{text}");

    let all = memtrace(&["report", p(&file), "--all", "--top", "2"], "");
    let all = all.ok();
    assert!(all.contains("  ... and 5 more sites (--top 2)"), "{all}");

    // The leak rule can be overridden: with 9 iterations skipped, none is left.
    let skipped = memtrace(&["report", p(&file), "--skip", "9"], "");
    assert!(skipped.ok().contains("too few iterations to find leaks"));
}

#[test]
fn report_json_has_captures_rule_and_sites() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(4242, 12, false));
    let run = memtrace(&["report", "--json", p(&file)], "");
    let v: serde_json::Value = serde_json::from_str(run.ok()).expect("JSON");
    assert_eq!(v["captures"][0]["pid"], 4242);
    assert_eq!(v["captures"][0]["program"], "examples/poller.pl");
    assert_eq!(v["captures"][0]["perl_version"], "5.36.0");
    assert_eq!(v["captures"][0]["history"].as_array().unwrap().len(), 12);
    assert_eq!(v["rule"], serde_json::json!({"skip": 0, "min_age": 2}));
    let sites = v["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 5, "the ongoing ones");
    let undef = sites.iter().find(|s| s["line"] == 133).unwrap();
    assert_eq!(undef["status"], "steady");
    assert_eq!(undef["type"], "UNDEF");
    assert_eq!(undef["count"], 7);
}

#[test]
fn a_merged_report_of_three_workers_adds_their_counts() {
    let dir = TempDir::new();
    let files: Vec<String> = [101, 102, 103]
        .iter()
        .map(|&pid| {
            let path = dir.capture(&format!("w{pid}.mtc"), &poller(pid, 12, false));
            p(&path).to_string()
        })
        .collect();
    let mut args = vec!["report".to_string()];
    args.extend(files.iter().cloned());
    let run = memtrace(&args, "");
    let text = run.ok();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(
            "Devel::MemTrace report: 3 captures of examples/poller.pl (pids 101, 102, 103); \
             12 iterations closed; a leak is"
        ),
        "{first}"
    );
    assert!(text.contains(&format!("capture {} (pid 102):\n  iteration 0: ", files[1])));
    assert!(
        text.contains("  21 leaked UNDEF SVs at examples/poller.pl line 133, in main::poll\n"),
        "{text}"
    );
    assert!(text.contains("per iteration: 0 0 3 3 3 3 3 3 3"), "{text}");

    let sites = memtrace(
        &[&["sites".to_string(), "--json".into()], &files[..]].concat(),
        "",
    );
    let v: serde_json::Value = serde_json::from_str(sites.ok()).unwrap();
    let undef = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["line"] == 133)
        .unwrap();
    assert_eq!(undef["count"], 21);
}

#[test]
fn leaks_lists_each_leak_and_sites_filters_by_status() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(4242, 12, false));
    let run = memtrace(&["leaks", p(&file)], "");
    let text = run.ok();
    assert!(
        text.contains(
            "0x55efee189120 sv UNDEF 24 bytes, iteration 5, at examples/poller.pl line 133, in \
             main::poll; C site sv.c:5594 Perl_newSV\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("Perl_more_bodies"),
        "an arena is never a leak"
    );
    let json = memtrace(&["leaks", "--json", p(&file)], "");
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    let leaks = v.as_array().unwrap();
    assert_eq!(leaks.len(), text.lines().count());
    let sample = leaks
        .iter()
        .find(|l| l["address"] == "0x55efee189120")
        .unwrap();
    assert_eq!(sample["type"], "UNDEF");
    assert_eq!(sample["c_func"], "Perl_newSV");
    assert_eq!(sample["sub"], "main::poll");

    let stopped = memtrace(&["sites", p(&file), "--status", "stopped"], "");
    let stopped = stopped.ok();
    assert_eq!(stopped.lines().count(), 4, "two stopped sites: {stopped}");
    assert!(stopped.contains("at examples/poller.pl line 88, in main::parse_line"));
    let intermittent = memtrace(&["sites", p(&file), "--status", "intermittent"], "");
    assert!(intermittent.ok().contains("line 150, in main::summary"));
}

#[test]
fn identify_names_the_line_of_an_address_and_reads_pmat_lines() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(4242, 12, false));
    let run = memtrace(&["identify", "0x55efee189120", p(&file)], "");
    let text = run.ok();
    assert!(
        text.starts_with(
            "0x55efee189120: UNDEF SV of 24 bytes made at examples/poller.pl line 133, in \
             main::poll (C site sv.c:5594 Perl_newSV) in iteration 5; a leak"
        ),
        "{text}"
    );

    let leakreport = format!(
        "LEAK[1] UNDEF() at {SAMPLE_UNDEF:#x}\nLEAK[2] SCALAR(PV) at {SAMPLE_BUFFER:#x}\n\n"
    );
    let piped = memtrace(&["identify", "-", p(&file)], &leakreport);
    let lines: Vec<&str> = piped.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("line 133, in main::poll"), "{}", lines[0]);
    assert!(lines[1].starts_with(
        "0x55eff0006000: char buffer of 256 bytes made at examples/poller.pl line 134"
    ));

    // Decimal too, and JSON.
    let json = memtrace(
        &["identify", "--json", &SAMPLE_UNDEF.to_string(), p(&file)],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v[0]["found"], "live");
    assert_eq!(v[0]["record"]["line"], 133);
    assert_eq!(v[0]["record"]["leak"], true);

    // Nothing live at any address given: exit 1, the answer still printed.
    let none = memtrace(&["identify", "0xdead", p(&file)], "");
    assert_eq!(none.status, Some(1));
    assert!(
        none.stdout.starts_with("0xdead: no live record"),
        "{}",
        none.stdout
    );
}

#[test]
fn diff_shows_the_site_that_grew() {
    let dir = TempDir::new();
    let before = dir.capture("before.mtc", &poller(4242, 7, false));
    let after = dir.capture("after.mtc", &poller(4242, 12, false));
    let run = memtrace(&["diff", p(&before), p(&after)], "");
    let text = run.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("before.mtc (pid 4242, 7 iterations closed) ->"),
        "{text}"
    );
    assert!(
        lines[0].contains("after.mtc (pid 4242, 12 iterations closed)"),
        "{text}"
    );
    let grew = lines
        .iter()
        .position(|l| *l == "  +5 SVs (+120 bytes) at examples/poller.pl line 133, in main::poll")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        lines[grew + 1],
        format!(
            "      C site: sv.c:5594 Perl_newSV; steady leak in {}",
            p(&after)
        )
    );
    assert!(
        text.contains("+5 buffers (+1280 bytes) at examples/poller.pl line 134"),
        "{text}"
    );
    assert!(!text.contains("shrank"), "{text}");

    // The other way round everything shrank.
    let back = memtrace(&["diff", p(&after), p(&before)], "");
    let back = back.ok();
    assert!(
        back.contains("no site grew\n5 sites shrank (list them with --all)"),
        "{back}"
    );
    let all = memtrace(&["diff", "--all", p(&after), p(&before)], "");
    assert!(all
        .ok()
        .contains("  -5 SVs (-120 bytes) at examples/poller.pl line 133"));

    let json = memtrace(&["diff", "--json", p(&before), p(&after)], "");
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v["after"]["iterations"], 12);
    let undef = v["grew"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["line"] == 133)
        .unwrap();
    assert_eq!(
        (undef["count_delta"].as_i64(), undef["status"].as_str()),
        (Some(5), Some("steady"))
    );
}

#[test]
fn help_and_version_go_to_stdout() {
    let help = memtrace(&["--help"], "");
    let help = help.ok();
    for word in [
        "memtrace report FILE...",
        "memtrace identify ADDR... FILE",
        "Exit status:",
    ] {
        assert!(help.contains(word), "{word}: {help}");
    }
    let sub = memtrace(&["identify", "--help"], "");
    assert!(sub
        .ok()
        .starts_with("Usage: memtrace identify ADDR... FILE [OPTIONS]"));
    let version = memtrace(&["--version"], "");
    assert!(version.ok().starts_with("memtrace 0.1.0"));
}

//! The flame graph and the growth charts: valid SVGs with the planted
//! frames and the chart titles, and an SVG that says why when there is
//! nothing to draw.

mod common;

use common::{memtrace, p, poller, TempDir};

fn svg(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("the SVG was written");
    assert!(
        text.starts_with("<?xml") || text.starts_with("<svg"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text.trim_end().ends_with("</svg>"), "a whole SVG");
    text
}

#[test]
fn the_flame_graph_shows_the_leaking_lines_over_their_c_sites() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(4242, 12, false));
    let out = dir.path("leaks.svg");
    let run = memtrace(&["flamegraph", p(&file), "-o", p(&out)], "");
    assert_eq!(run.ok(), "");
    assert_eq!(run.stderr, "");
    let text = svg(&out);
    assert!(text.contains("Leaked bytes by Perl line and C site"));
    assert!(text.contains("examples/poller.pl (pid 4242)"));
    assert!(
        text.contains("main::poll (examples/poller.pl:135)"),
        "the Perl frame"
    );
    assert!(
        text.contains("XS_Leaky_leak_buffer (Leaky.xs:37)"),
        "the C frame"
    );
    assert!(text.contains("main::summary (examples/poller.pl:150)"));
    assert!(!text.contains("Perl_more_bodies"), "an arena is no leak");

    // Counts, and the JSON of the stacks drawn.
    let counted = memtrace(
        &["flamegraph", "--count", "--json", p(&file), "-o", p(&out)],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(counted.ok()).unwrap();
    assert_eq!(v["unit"], "allocations");
    let undef = v["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["frames"][0] == "main::poll (examples/poller.pl:133)")
        .unwrap();
    assert_eq!(
        undef["frames"],
        serde_json::json!([
            "main::poll (examples/poller.pl:133)",
            "Perl_newSV (sv.c:5594)",
            "UNDEF"
        ])
    );
    assert_eq!(undef["value"], 7);
    assert!(svg(&out).contains("Leaked allocations by Perl line and C site"));
}

#[test]
fn perl_stacks_are_drawn_outermost_first() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(4242, 12, true));
    let out = dir.path("leaks.svg");
    let run = memtrace(&["flamegraph", "--json", p(&file), "-o", p(&out)], "");
    let v: serde_json::Value = serde_json::from_str(run.ok()).unwrap();
    let stacks = v["stacks"].as_array().unwrap();
    let hash = stacks
        .iter()
        .find(|s| s["frames"][3] == "HASH")
        .expect("a HASH stack");
    assert_eq!(
        hash["frames"],
        serde_json::json!([
            "examples/poller.pl:210",
            "main::poll (examples/poller.pl:135)",
            "Perl_newSV_type (sv_inline.h:369)",
            "HASH"
        ]),
        "the file-level caller at the base"
    );
    assert!(svg(&out).contains("examples/poller.pl:210"));
}

#[test]
fn no_leaks_still_gives_an_svg_that_says_so() {
    let dir = TempDir::new();
    let file = dir.capture("young.mtc", &poller(7, 3, false));
    let out = dir.path("leaks.svg");
    let run = memtrace(&["flamegraph", p(&file), "-o", p(&out)], "");
    assert_eq!(run.ok(), "");
    let note: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(note.len(), 1, "{note:?}");
    assert!(
        note[0].starts_with("memtrace: nothing to draw: too few iterations"),
        "{}",
        note[0]
    );
    assert!(svg(&out).contains("nothing to draw"));
}

#[test]
fn the_plot_has_a_titled_chart_per_quantity() {
    let dir = TempDir::new();
    let file = dir.capture("w1.mtc", &poller(4242, 12, false));
    let out = dir.path("growth.svg");
    let run = memtrace(&["plot", p(&file), "-o", p(&out)], "");
    assert_eq!(run.ok(), "");
    let text = svg(&out);
    for title in [
        "Growth per iteration: examples/poller.pl (pid 4242)",
        "Live SVs",
        "Live logged C allocations",
        "New leaks per iteration",
        "Resident set size",
        "iteration",
        "KiB",
    ] {
        assert!(text.contains(title), "{title}");
    }

    let json = memtrace(&["plot", "--json", p(&file), "-o", p(&out)], "");
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v["history"].as_array().unwrap().len(), 12);
}

#[test]
fn one_iteration_is_nothing_to_plot() {
    let dir = TempDir::new();
    let file = dir.capture("young.mtc", &poller(7, 1, false));
    let out = dir.path("growth.svg");
    let run = memtrace(&["plot", p(&file), "-o", p(&out)], "");
    assert_eq!(run.ok(), "");
    assert!(
        run.stderr.starts_with("memtrace: nothing to plot: "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1);
    assert!(svg(&out).contains("nothing to plot"));
}

/// Not a check: writes the sample captures and pictures to
/// $MEMTRACE_PICTURES (default /tmp/memtrace-pictures) for a person to
/// look at (`cargo test -p memtrace --test pictures -- --ignored`).
#[test]
#[ignore]
fn write_sample_pictures() {
    let dir = std::env::var("MEMTRACE_PICTURES").unwrap_or("/tmp/memtrace-pictures".into());
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let write = |name: &str, capture| {
        let path = dir.join(name);
        memtrace_format::write_file(&path, &capture).unwrap();
        path
    };
    let w1 = write("w1.mtc", poller(4242, 12, false));
    let young = write("young.mtc", poller(7, 1, false));
    let stacked = write("stacked.mtc", poller(4242, 12, true));
    let long = write("long.mtc", poller(4242, 300, false));
    for (args, out) in [
        (vec!["flamegraph", p(&w1)], "leaks.svg"),
        (vec!["flamegraph", "--count", p(&w1)], "counts.svg"),
        (vec!["flamegraph", p(&stacked)], "stacked.svg"),
        (vec!["flamegraph", p(&young)], "no-leaks.svg"),
        (vec!["plot", p(&w1)], "growth.svg"),
        (vec!["plot", p(&long)], "growth-long.svg"),
        (vec!["plot", p(&young)], "nothing.svg"),
    ] {
        let out = dir.join(out);
        let mut args = args;
        args.extend(["-o", p(&out)]);
        assert_eq!(memtrace(&args, "").status, Some(0), "{args:?}");
    }
}

//! The analysis over small made-up heaps: given records, when analysed,
//! then the leaks, sites, report, identify and diff a user would expect.

use memtrace_format::{Capture, Header, Kind, PerlSite, Record, Site, Snapshot};

use crate::*;

/// A heap under construction: strings, sites and records by hand.
struct Given {
    capture: Capture,
}

impl Given {
    fn new() -> Given {
        let mut capture = Capture {
            strings: vec![String::new()],
            perl_sites: vec![PerlSite::default()],
            stacks: vec![Default::default()],
            c_frames: vec![Default::default()],
            ..Capture::default()
        };
        capture.header = Header {
            pointer_size: 8,
            ..Header::default()
        };
        Given { capture }
    }

    fn string(&mut self, s: &str) -> u32 {
        if let Some(i) = self.capture.strings.iter().position(|x| x == s) {
            return i as u32;
        }
        self.capture.strings.push(s.to_string());
        (self.capture.strings.len() - 1) as u32
    }

    /// A site at `file` line `line` in main::poll, C site sv.c Perl_newSV.
    fn site(&mut self, kind: Kind, line: u32, c_func: &str) -> u32 {
        let perl = PerlSite {
            file: self.string("poller.pl"),
            line,
            sub: self.string("main::poll"),
        };
        self.capture.perl_sites.push(perl);
        let c_file = self.string(if kind == Kind::Sv { "sv.c" } else { "Leaky.xs" });
        let permanent_pool = c_func == "Perl_more_bodies";
        let c_func = self.string(c_func);
        let type_name = if kind == Kind::Mem {
            self.string("char")
        } else {
            0
        };
        self.capture.sites.push(Site {
            kind,
            c_file,
            c_line: 5594,
            c_func,
            type_name,
            perl_site: (self.capture.perl_sites.len() - 1) as u32,
            permanent_pool,
        });
        (self.capture.sites.len() - 1) as u32
    }

    fn record(&mut self, kind: Kind, address: u64, site: u32, iteration: u32) {
        let sv_type = if kind == Kind::Sv {
            self.string("UNDEF")
        } else {
            0
        };
        self.capture.records.push(Record {
            kind,
            address,
            site,
            iteration,
            size: if kind == Kind::Sv { 24 } else { 256 },
            sv_type,
            owner: 0,
            stack: 0,
            c_frames: 0,
        });
    }

    /// A native frames list of (function, file, line), innermost first;
    /// its id.
    fn c_frames(&mut self, frames: &[(&str, &str, u32)]) -> u32 {
        let frames = frames
            .iter()
            .map(|&(func, file, line)| memtrace_format::CFrame {
                address: 0x1234,
                func: self.string(func),
                file: self.string(file),
                line,
            })
            .collect();
        self.capture
            .c_frames
            .push(memtrace_format::CFrames { frames });
        (self.capture.c_frames.len() - 1) as u32
    }

    /// [`Given::record`] made with a Perl call stack and native frames.
    fn record_in(&mut self, address: u64, site: u32, iteration: u32, stack: u32, c_frames: u32) {
        self.record(Kind::Sv, address, site, iteration);
        let last = self.capture.records.last_mut().expect("just recorded");
        last.stack = stack;
        last.c_frames = c_frames;
    }

    /// Close iterations until `closed` are closed; sort the records.
    fn closed(mut self, closed: u32) -> Capture {
        self.capture.history = (0..closed)
            .map(|iteration| Snapshot {
                iteration,
                svs: 1000 + iteration as u64,
                svs_delta: if iteration == 0 { 0 } else { 1 },
                ..Snapshot::default()
            })
            .collect();
        self.capture.header.open_iteration = closed;
        self.capture.records.sort_by_key(|r| (r.kind, r.address));
        self.capture
    }
}

/// Iterations 1..=10 each leak one SV at line 7; a cache at line 9 fills
/// in iterations 1 and 2; perl's body arena grows once.
fn poller() -> Capture {
    let mut given = Given::new();
    let leak = given.site(Kind::Sv, 7, "Perl_newSV");
    let cache = given.site(Kind::Sv, 9, "Perl_newSV");
    let pool = given.site(Kind::Mem, 11, "Perl_more_bodies");
    for iteration in 1..=10u32 {
        given.record(Kind::Sv, 0x1000 + iteration as u64 * 16, leak, iteration);
        if iteration <= 2 {
            for k in 0..5 {
                given.record(
                    Kind::Sv,
                    0x9000 + (iteration * 8 + k) as u64 * 16,
                    cache,
                    iteration,
                );
            }
        }
    }
    given.record(Kind::Mem, 0x50000, pool, 3);
    given.closed(11)
}

#[test]
fn a_steady_leak_and_a_warm_up_cache_are_told_apart() {
    let capture = poller();
    let heap = Heap::of_capture(&capture);
    // 11 closed iterations; eligible 1..=8 under min_age 2.
    let sites = leak_sites(&heap, LeakRule::default());
    assert_eq!(sites.len(), 2, "{sites:#?}");
    let cache = &sites[0];
    assert_eq!(
        (cache.line, cache.count, cache.status),
        (9, 10, Status::Stopped)
    );
    let leak = &sites[1];
    assert_eq!((leak.line, leak.count, leak.status), (7, 8, Status::Steady));
    assert_eq!(leak.per_iteration, vec![1; 8]);
    assert_eq!(leak.first_iteration, 1);
    assert_eq!((leak.type_name.as_str(), leak.bytes), ("UNDEF", 8 * 24));
    assert_eq!(leak.sample_address, 0x1000 + 8 * 16, "the latest leak");

    let skipped = leaks(
        &heap,
        LeakRule {
            skip: 2,
            min_age: 2,
        },
    );
    assert_eq!(skipped.len(), 6, "iterations 3..=8 only");
    assert!(skipped.iter().all(|l| l.iteration >= 3));
}

#[test]
fn the_report_lists_the_ongoing_site_with_a_sample_address() {
    let capture = poller();
    let text = report(&Heap::of_capture(&capture), ReportOptions::default());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Devel::MemTrace report: 11 iterations closed; a leak is an allocation made in \
         iteration 1 or later that stayed live through 2 later checkpoints"
    );
    assert_eq!(lines[1], "iteration 0: SVs 1000, allocations 0, 0 bytes");
    assert!(lines.contains(&"leak sites: 1 ongoing (1 steady, 0 intermittent), 1 stopped"));
    assert!(lines.contains(&"  8 leaked UNDEF SVs at poller.pl line 7, in main::poll"));
    assert!(lines.contains(
        &"      C site: sv.c:5594 Perl_newSV; steady; per iteration: 1 1 1 1 1 1 1 1; 192 bytes; e.g. 0x1080"
    ));
    assert!(text.ends_with("see it with report(all => 1) or -MDevel::MemTrace=-all\n"));
}

#[test]
fn identify_names_the_line_age_and_verdict_of_any_live_record() {
    let capture = poller();
    let heap = Heap::of_capture(&capture);
    let young = identify(&heap, LeakRule::default(), 0x1000 + 10 * 16);
    let record = young.record.as_ref().expect("live");
    assert_eq!((record.iteration, record.age, record.leak), (10, 0, false));
    assert_eq!(record.line, 7);
    assert!(young.text.contains("not a leak yet"), "{}", young.text);

    let old = identify(&heap, LeakRule::default(), 0x1000 + 16);
    assert!(old.record.as_ref().unwrap().leak);
    assert!(
        old.text.contains("made at poller.pl line 7, in main::poll"),
        "{}",
        old.text
    );

    let pool = identify(&heap, LeakRule::default(), 0x50000);
    assert!(!pool.record.unwrap().leak);

    let none = identify(&heap, LeakRule::default(), 0xdead);
    assert_eq!(none.found, "not live");
    assert!(
        none.text.starts_with("0xdead: no live record"),
        "{}",
        none.text
    );
}

#[test]
fn diff_shows_what_grew_by_site() {
    let after = poller();
    let mut before = after.clone();
    before.records.retain(|r| r.iteration <= 5);
    let changes = diff(
        &Heap::of_capture(&before),
        &Heap::of_capture(&after),
        LeakRule::default(),
    );
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let grew = &changes[0];
    assert_eq!(
        (grew.line, grew.count_delta(), grew.status),
        (7, 5, "steady")
    );
}

#[test]
fn merged_workers_add_up_site_by_site() {
    let one = poller();
    let heap = Heap::of_capture(&one);
    let sites = leak_sites(&heap, LeakRule::default());
    let merged = merge_sites(vec![sites.clone(), sites.clone(), sites]);
    assert_eq!(merged.len(), 2);
    let leak = merged.iter().find(|s| s.line == 7).unwrap();
    assert_eq!((leak.count, leak.status), (24, Status::Steady));
    assert_eq!(leak.per_iteration, vec![3; 8]);
}

#[test]
fn growth_no_leak_explains_is_named_by_what_was_recorded() {
    // RSS grows by 64 KiB an iteration; no leak explains any of it.
    let history: Vec<Snapshot> = (0..8)
        .map(|i| Snapshot {
            iteration: i,
            rss: 10_000_000 + 65_536 * u64::from(i),
            ..Snapshot::default()
        })
        .collect();
    let rule = LeakRule {
        skip: 1,
        min_age: 2,
    };
    let without = report::growth_line(&history, &[], rule, 8, false).expect("a growth line");
    assert!(
        without.ends_with(
            "the rest is memory the recorder does not see (a C library's malloc, perl's string \
             buffers, an XS module built without PERL_MEM_LOG: -malloc records these)"
        ),
        "{without}"
    );
    let with = report::growth_line(&history, &[], rule, 8, true).expect("a growth line");
    assert!(
        with.ends_with(
            "the rest is memory no malloc block accounts for (the allocator's own overhead and \
             alignment, mmap, thread stacks)"
        ),
        "{with}"
    );
}

/// A library sub's leak (lib/Lib.pm line 4) called from poller.pl lines
/// 20 (twice per iteration) and 30 (once), iterations 1..=10, with the
/// native frames of an SV made by perl's allocator for pp_ctl.c.
fn library_leak() -> Capture {
    let mut given = Given::new();
    let site = given.site(Kind::Sv, 4, "Perl_newSV_type");
    let lib = given.string("lib/Lib.pm");
    let sub = given.string("Lib::make");
    let inner = given.capture.sites[site as usize].perl_site as usize;
    given.capture.perl_sites[inner].file = lib;
    given.capture.perl_sites[inner].sub = sub;
    let runtime = given.string("main::RUNTIME");
    let file = given.string("poller.pl");
    let stack_from = |given: &mut Given, line: u32| {
        given.capture.perl_sites.push(PerlSite {
            file,
            line,
            sub: runtime,
        });
        let caller = (given.capture.perl_sites.len() - 1) as u32;
        given.capture.stacks.push(memtrace_format::Stack {
            frames: vec![inner as u32, caller],
        });
        (given.capture.stacks.len() - 1) as u32
    };
    let (from_20, from_30) = (stack_from(&mut given, 20), stack_from(&mut given, 30));
    let c_frames = given.c_frames(&[
        ("Perl_newSV_type", "sv_inline.h", 369),
        ("Perl_leave_adjust_stacks", "pp_hot.c", 4896),
        ("Perl_runops_standard", "run.c", 41),
        ("S_do_smartmatch", "pp_ctl.c", 5031),
    ]);
    let mut address = 0x1000;
    for iteration in 1..=10u32 {
        for stack in [from_20, from_20, from_30] {
            given.record_in(address, site, iteration, stack, c_frames);
            address += 16;
        }
    }
    given.closed(11)
}

#[test]
fn a_library_leak_lists_its_callers_with_their_counts() {
    let capture = library_leak();
    let heap = Heap::of_capture(&capture);
    let sites = leak_sites(&heap, LeakRule::default());
    assert_eq!(sites.len(), 1);
    let callers: Vec<(u64, u32)> = sites[0]
        .stacks
        .iter()
        .map(|s| (s.count, s.frames[1].line))
        .collect();
    assert_eq!(callers, vec![(16, 20), (8, 30)], "most leaked first");
    assert_eq!(
        sites[0].stack,
        vec![
            Frame {
                file: "lib/Lib.pm".into(),
                line: 4,
                sub: "Lib::make".into()
            },
            Frame {
                file: "poller.pl".into(),
                line: 20,
                sub: "main::RUNTIME".into()
            },
        ]
    );
    let text = site_lines(&sites[0]).join("\n");
    assert!(
        text.contains(
            "\n      16 called from poller.pl line 20\n      8 called from poller.pl line 30"
        ),
        "{text}"
    );
}

#[test]
fn grouping_by_stack_makes_each_calling_line_a_site() {
    let capture = library_leak();
    let heap = Heap::of_capture(&capture);
    let grouping = Grouping::Stack {
        library: vec!["lib".to_string()],
    };
    let sites: Vec<(u32, u64)> = leak_sites_by(&heap, LeakRule::default(), &grouping)
        .iter()
        .map(|s| (s.line, s.count))
        .collect();
    assert_eq!(sites, vec![(20, 16), (30, 8)]);
    // A library path matches whole directories: "li" is not "lib".
    let partial = Grouping::Stack {
        library: vec!["li".to_string()],
    };
    let lines: Vec<u32> = leak_sites_by(&heap, LeakRule::default(), &partial)
        .iter()
        .map(|s| s.line)
        .collect();
    assert_eq!(lines, vec![4]);
}

#[test]
fn the_c_site_is_the_first_frame_outside_the_allocator_and_the_call_machinery() {
    let capture = library_leak();
    let heap = Heap::of_capture(&capture);
    let site = &leak_sites(&heap, LeakRule::default())[0];
    let named = culprit(&site.c_frames).map(|f| (f.func.as_str(), f.file.as_str(), f.line));
    assert_eq!(named, Some(("S_do_smartmatch", "pp_ctl.c", 5031)));
    assert!(site_lines(site)[1].starts_with(
        "      C site: pp_ctl.c:5031 S_do_smartmatch (allocated by sv.c:5594 Perl_newSV_type);"
    ));
    // With only the machinery after the allocator, it is named itself.
    let machinery = &site.c_frames[..3];
    assert_eq!(
        culprit(machinery).map(|f| f.func.as_str()),
        Some("Perl_leave_adjust_stacks")
    );
}

#[test]
fn leaks_of_one_line_and_allocator_by_two_c_functions_are_two_sites() {
    let mut given = Given::new();
    let site = given.site(Kind::Sv, 4, "Perl_newSV");
    let [a, b] = ["XS_Leaky_leak_a", "XS_Leaky_leak_b"]
        .map(|xsub| given.c_frames(&[("Perl_newSV", "sv.c", 5594), (xsub, "Leaky.xs", 30)]));
    let mut address = 0x1000;
    for iteration in 1..=10u32 {
        for c_frames in [a, a, b] {
            given.record_in(address, site, iteration, 0, c_frames);
            address += 16;
        }
    }
    let capture = given.closed(11);
    let heap = Heap::of_capture(&capture);
    let by_culprit = |sites: &[LeakSite]| -> Vec<(String, u64)> {
        sites
            .iter()
            .map(|s| {
                (
                    s.culprit().map(|c| c.func.clone()).unwrap_or_default(),
                    s.count,
                )
            })
            .collect()
    };
    let sites = leak_sites(&heap, LeakRule::default());
    let expected = vec![
        ("XS_Leaky_leak_a".to_string(), 16),
        ("XS_Leaky_leak_b".to_string(), 8),
    ];
    assert_eq!(by_culprit(&sites), expected);
    assert!(site_lines(&sites[1])[1].starts_with(
        "      C site: Leaky.xs:30 XS_Leaky_leak_b (allocated by sv.c:5594 Perl_newSV);"
    ));
    // Two workers' reports merged keep them apart too.
    let merged = merge_sites(vec![sites.clone(), sites]);
    let doubled: Vec<(String, u64)> = expected.into_iter().map(|(f, n)| (f, 2 * n)).collect();
    assert_eq!(by_culprit(&merged), doubled);
}

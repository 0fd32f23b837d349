//! Property: any valid capture comes back from decode(encode(c)) unchanged,
//! with and without compression.

use std::collections::BTreeSet;

use memtrace_format::{
    decode, encode, encode_with, CFrame, CFrames, Capture, EncodeOptions, Header, Holder, Kind,
    PerlSite, Record, Site, Snapshot, Stack,
};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

fn header() -> impl Strategy<Value = Header> {
    (
        prop_oneof![Just(4u8), Just(8u8)],
        (
            any::<String>(),
            any::<String>(),
            any::<String>(),
            any::<String>(),
        ),
        (
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        ),
    )
        .prop_map(
            |(pointer_size, (pv, pc, prog, tv), (pid, time_ms, oi, skip, min_age))| Header {
                pointer_size,
                perl_version: pv,
                perl_config: pc,
                program: prog,
                pid,
                time_ms,
                tool_version: tv,
                open_iteration: oi,
                skip,
                min_age,
            },
        )
}

/// A site's kind: a record's, or `malloc`.
fn site_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Sv), Just(Kind::Mem), Just(Kind::Malloc)]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Sv), Just(Kind::Mem)]
}

/// Addresses: either anything, or heap-like (small, aligned), so that both
/// wide steps and the alignment shift are exercised.
fn address() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u64..1 << 20).prop_map(|a| 0x5555_0000_0000 + a * 16)
    ]
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        (
            any::<u32>(),
            any::<u64>(),
            any::<i64>(),
            any::<u64>(),
            any::<u64>(),
            any::<i64>(),
        ),
        (
            any::<i64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |((iteration, svs, svs_delta, mem_live, mem_bytes, mld), (mbd, sl, nl, rss, t))| {
                Snapshot {
                    iteration,
                    svs,
                    svs_delta,
                    mem_live,
                    mem_bytes,
                    mem_live_delta: mld,
                    mem_bytes_delta: mbd,
                    sv_live: sl,
                    new_leaks: nl,
                    rss,
                    time_ms: t,
                }
            },
        )
}

/// Table sizes first, then contents whose ids fall within those sizes.
fn capture() -> impl Strategy<Value = Capture> {
    (1usize..12, 1usize..8, 1usize..5, 1usize..5, 0usize..8)
        .prop_flat_map(|(ns, np, nst, ncf, nsi)| {
            let s = 0..ns as u32;
            let p = 0..np as u32;
            let sites = vec(
                (
                    site_kind(),
                    s.clone(),
                    any::<u32>(),
                    s.clone(),
                    s.clone(),
                    p.clone(),
                    any::<bool>(),
                ),
                nsi,
            );
            let record_fields = (
                0..nsi.max(1) as u32,
                any::<u32>(),
                any::<u64>(),
                s.clone(),
                prop_oneof![Just(0u64), any::<u64>()],
                0..nst as u32,
                0..ncf as u32,
            );
            (
                header(),
                vec(any::<String>(), ns - 1),
                vec((s.clone(), any::<u32>(), s.clone()), np - 1),
                vec(vec(p.clone(), 0..4), nst - 1),
                vec(
                    vec((any::<u64>(), s.clone(), s.clone(), any::<u32>()), 0..3),
                    ncf - 1,
                ),
                sites,
                btree_set((kind(), address()), 0..200),
                vec(record_fields, 200),
                vec(snapshot(), 0..5),
                vec((any::<u64>(), any::<u64>()), 0..5),
            )
        })
        .prop_map(
            |(header, strings, psites, stacks, cframes, sites, keys, fields, history, arenas)| {
                let mut c = Capture::new(header);
                c.strings.extend(strings);
                c.perl_sites
                    .extend(psites.into_iter().map(|(file, line, sub)| PerlSite {
                        file,
                        line,
                        sub,
                    }));
                c.stacks
                    .extend(stacks.into_iter().map(|frames| Stack { frames }));
                c.c_frames.extend(cframes.into_iter().map(|fs| {
                    CFrames {
                        frames: fs
                            .into_iter()
                            .map(|(address, func, file, line)| CFrame {
                                address,
                                func,
                                file,
                                line,
                            })
                            .collect(),
                    }
                }));
                c.sites.extend(sites.into_iter().map(
                    |(kind, c_file, c_line, c_func, type_name, perl_site, permanent_pool)| Site {
                        kind,
                        c_file,
                        c_line,
                        c_func,
                        type_name,
                        perl_site,
                        permanent_pool,
                    },
                ));
                // Records need a site to name; without sites there are none.
                let keys: BTreeSet<(Kind, u64)> = if c.sites.is_empty() {
                    BTreeSet::new()
                } else {
                    keys
                };
                c.records = keys
                    .into_iter()
                    .zip(fields)
                    .map(
                        |((kind, address), (site, iteration, size, sv_type, owner, stack, cf))| {
                            Record {
                                kind,
                                address,
                                site,
                                iteration,
                                size,
                                sv_type,
                                owner,
                                stack,
                                c_frames: cf,
                            }
                        },
                    )
                    .collect();
                c.history = history;
                c.sv_arenas = arenas
                    .into_iter()
                    .map(|(a, b)| (a.min(b), a.max(b)))
                    .collect();
                // What held a few of the records: any valid string ids.
                let strings = c.strings.len() as u32;
                c.holders = c
                    .records
                    .iter()
                    .take(5)
                    .map(|r| Holder {
                        address: r.address,
                        kind: r.site % strings,
                        path: (r.iteration + 1) % strings,
                        length: r.iteration,
                        refcount: 1 + r.sv_type,
                        unseen: r.stack,
                        text: r.iteration % strings,
                    })
                    .collect();
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn round_trips(c in capture()) {
        prop_assert!(c.validate().is_ok(), "generator made an invalid capture: {:?}", c.validate());
        let bytes = encode(&c);
        let back = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &c);
        let raw = encode_with(&c, &EncodeOptions { zstd_level: None });
        let back = decode(&raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &c);
    }
}

/// A capture large enough that every section is compressed still round-trips.
#[test]
fn round_trips_compressed_tables() {
    let mut c = Capture::new(Header {
        pointer_size: 8,
        ..Header::default()
    });
    c.strings
        .extend((0..2000).map(|i| format!("string number {i}")));
    c.perl_sites.extend((0..2000).map(|i| PerlSite {
        file: i,
        line: i * 3,
        sub: 1999 - i,
    }));
    c.stacks.extend((0..500).map(|i| Stack {
        frames: vec![i, i + 1, 7],
    }));
    c.c_frames.extend((0..500).map(|i| CFrames {
        frames: vec![CFrame {
            address: 0x4000_0000 + u64::from(i) * 64,
            func: i,
            file: 3,
            line: i,
        }],
    }));
    c.sites.extend((0..2000).map(|i| Site {
        kind: if i % 3 == 0 { Kind::Sv } else { Kind::Mem },
        c_file: i,
        c_line: i,
        c_func: i,
        type_name: 0,
        perl_site: i,
        permanent_pool: i % 7 == 0,
    }));
    c.history.extend((0..500).map(|i| Snapshot {
        iteration: i,
        svs: u64::from(i) * 10,
        ..Snapshot::default()
    }));
    c.sv_arenas
        .extend((0..500u64).map(|i| (i * 4096, i * 4096 + 4080)));
    let bytes = encode(&c);
    let raw = encode_with(&c, &EncodeOptions { zstd_level: None });
    assert!(bytes.len() < raw.len(), "{} vs {}", bytes.len(), raw.len());
    assert_eq!(decode(&bytes).unwrap(), c);
}

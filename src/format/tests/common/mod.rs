//! Captures for the tests: a seeded RNG and a generator of real-looking
//! captures (a malloc heap's address clustering, a few hundred sites).

#![allow(dead_code)] // Each test file uses a different part.

use memtrace_format::{Capture, Header, Kind, PerlSite, Record, Site, Snapshot};

/// SplitMix64: tiny, seeded, good enough to scatter test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Log-uniform in lo..=hi: small sizes much more common, as in a heap.
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo as f64).ln(), (hi as f64 + 1.0).ln());
        ((l + self.unit() * (h - l)).exp() as u64).clamp(lo, hi)
    }
}

pub fn header() -> Header {
    Header {
        pointer_size: 8,
        perl_version: "5.36.0".into(),
        perl_config: "archname=x86_64-linux useithreads=undef usemymalloc=n".into(),
        program: "examples/poller.pl --interval 5".into(),
        pid: 41_234,
        time_ms: 1_732_990_000_000,
        tool_version: "0.1.0".into(),
        open_iteration: 100,
        skip: 1,
        min_age: 2,
    }
}

const SV_TYPES: [&str; 12] = [
    "UNDEF", "IV", "NV", "PV", "PVIV", "PVNV", "PVMG", "REGEXP", "PVGV", "AV", "HV", "CV",
];
const C_FILES: [&str; 10] = [
    "sv.c", "av.c", "hv.c", "pp.c", "pp_hot.c", "scope.c", "util.c", "mg.c", "op.c", "Leaky.xs",
];
const C_TYPES: [&str; 8] = [
    "char",
    "SV*",
    "HE*",
    "XPVAV",
    "XPVHV",
    "U8",
    "struct xpvhv_aux",
    "I32",
];

/// A capture of `n` live records with up to a few hundred sites (fewer for
/// small `n`, so small captures stay small), like a perl
/// process's heap: SV heads packed 24 bytes apart in 4080-byte arenas,
/// malloc blocks 16-byte aligned in a few regions with freed gaps, most
/// records from iteration 0, sizes 24..4096 skewed small, 10% of buffers
/// owned by an SV, no stacks or C frames (as the recorder writes today).
pub fn realistic(n: usize, seed: u64) -> Capture {
    let mut rng = Rng(seed);
    let mut c = Capture::new(header());
    let intern = |c: &mut Capture, s: String| -> u32 {
        c.strings.push(s);
        (c.strings.len() - 1) as u32
    };
    let sv_types: Vec<u32> = SV_TYPES
        .iter()
        .map(|s| intern(&mut c, s.to_string()))
        .collect();
    let c_files: Vec<u32> = C_FILES
        .iter()
        .map(|s| intern(&mut c, s.to_string()))
        .collect();
    let c_types: Vec<u32> = C_TYPES
        .iter()
        .map(|s| intern(&mut c, s.to_string()))
        .collect();
    let c_funcs: Vec<u32> = (0..(n / 8).clamp(4, 60))
        .map(|i| intern(&mut c, format!("Perl_func_{i}")))
        .collect();
    let files: Vec<u32> = (0..(n / 40).clamp(2, 25))
        .map(|i| intern(&mut c, format!("lib/App/Module{i}.pm")))
        .collect();
    let subs: Vec<u32> = (0..(n / 10).clamp(4, 120))
        .map(|i| intern(&mut c, format!("App::Module{}::method_{i}", i % 25)))
        .collect();
    for _ in 0..(n / 4).clamp(4, 200) {
        c.perl_sites.push(PerlSite {
            file: files[rng.below(files.len() as u64) as usize],
            line: 1 + rng.below(2000) as u32,
            sub: subs[rng.below(subs.len() as u64) as usize],
        });
    }
    let n_sites = (n / 2).clamp(8, 400);
    for i in 0..n_sites {
        let kind = if i % 2 == 0 { Kind::Sv } else { Kind::Mem };
        c.sites.push(Site {
            kind,
            c_file: c_files[rng.below(c_files.len() as u64) as usize],
            c_line: 1 + rng.below(16_000) as u32,
            c_func: c_funcs[rng.below(c_funcs.len() as u64) as usize],
            type_name: match kind {
                Kind::Sv => 0,
                Kind::Mem | Kind::Malloc => c_types[rng.below(c_types.len() as u64) as usize],
            },
            perl_site: rng.below(c.perl_sites.len() as u64) as u32,
            permanent_pool: rng.chance(2),
        });
    }
    // A skewed pick: a few sites make most allocations.
    let site_of = |rng: &mut Rng, kind: Kind| -> u32 {
        let i = (rng.unit().powi(3) * (n_sites / 2) as f64) as u32;
        2 * i + (kind == Kind::Mem) as u32
    };
    let iteration = |rng: &mut Rng| -> u32 {
        if rng.chance(60) {
            0
        } else {
            rng.below(100) as u32
        }
    };

    let n_sv = n * 45 / 100;
    let n_mem = n - n_sv;
    // SV heads: arenas of 170 heads, 24 bytes apart, ~70% of slots live.
    let mut sv_addrs = Vec::with_capacity(n_sv);
    let mut arena = 0x5555_5400_0000u64;
    while sv_addrs.len() < n_sv {
        c.sv_arenas.push((arena, arena + 170 * 24));
        for slot in 0..170 {
            if sv_addrs.len() < n_sv && rng.chance(70) {
                sv_addrs.push(arena + slot * 24);
            }
        }
        arena += 4096 + 16 * rng.below(64);
    }
    for &address in &sv_addrs {
        let size = 24 + [0, 16, 32, 48, 64, 80][rng.below(6) as usize] + rng.below(8) * 16;
        c.records.push(Record {
            kind: Kind::Sv,
            address,
            site: site_of(&mut rng, Kind::Sv),
            iteration: iteration(&mut rng),
            size,
            sv_type: sv_types[rng.below(sv_types.len() as u64) as usize],
            owner: 0,
            stack: 0,
            c_frames: 0,
        });
    }
    // malloc blocks: three regions (main heap, two thread arenas), each block
    // 16-byte aligned after an 8-byte chunk header, with freed gaps.
    let regions = [0x5555_5600_0000u64, 0x7f3a_2000_0000, 0x7f3a_6000_0000];
    let mut cursors = regions;
    for i in 0..n_mem {
        let r = if i < n_mem * 8 / 10 { 0 } else { 1 + i % 2 };
        let size = rng.log_uniform(24, 4096);
        if rng.chance(30) {
            cursors[r] += 16 * (2 + rng.below(32));
        }
        let address = cursors[r];
        cursors[r] += (size + 8).div_ceil(16) * 16;
        let owner = if rng.chance(10) {
            sv_addrs[rng.below(sv_addrs.len() as u64) as usize]
        } else {
            0
        };
        c.records.push(Record {
            kind: Kind::Mem,
            address,
            site: site_of(&mut rng, Kind::Mem),
            iteration: iteration(&mut rng),
            size,
            sv_type: 0,
            owner,
            stack: 0,
            c_frames: 0,
        });
    }
    c.records.sort_by_key(|r| (r.kind, r.address));
    c.records.dedup_by_key(|r| (r.kind, r.address));

    let (mut svs, mut mem) = (5000u64, 300u64);
    for it in 0..(n / 10).clamp(2, 100) as u32 {
        let (dsv, dmem) = (rng.below(20) as i64, rng.below(8) as i64);
        svs += dsv as u64;
        mem += dmem as u64;
        c.history.push(Snapshot {
            iteration: it,
            svs,
            svs_delta: dsv,
            mem_live: mem,
            mem_bytes: mem * 560,
            mem_live_delta: dmem,
            mem_bytes_delta: dmem * 560 - 3,
            sv_live: svs,
            new_leaks: rng.below(30),
            rss: 50_000_000 + u64::from(it) * 4096,
            time_ms: 1_732_990_000_000 + u64::from(it) * 5000,
        });
    }
    c
}

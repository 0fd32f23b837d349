//! Leak rules: which live records are leaks, how they group into sites, and
//! whether a site is still leaking.
//!
//! A leak is a live record made in iteration `i >= 1 + skip` that has stayed
//! live through at least `min_age` later checkpoints. Records of perl's
//! permanent pools (SV and body arenas) are never leaks.

mod status;

use std::collections::HashMap;
use std::ffi::CStr;

pub use status::Status;

use crate::recorder::live::split_key;
use crate::recorder::sites::{Kind, SiteId, StringId};
use crate::recorder::{Aggregator, LeakRule, PerlSiteId};

/// What only perl can tell about a live SV: its type now, and its size.
pub trait SvInspector {
    /// The SV type name (UNDEF, IV, PV, REF, HASH, ...).
    fn sv_type(&self, addr: usize) -> &'static CStr;
    fn sv_size(&self, addr: usize) -> u64;
}

/// What was leaked: an SV of a type, or a C type name from the site table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeName {
    Sv(&'static CStr),
    Mem(StringId),
}

impl TypeName {
    /// The name as text, looking C type names up in `aggregator`'s sites.
    pub fn text<'a>(&self, aggregator: &'a Aggregator) -> &'a str {
        match self {
            TypeName::Sv(name) => name.to_str().unwrap_or("?"),
            TypeName::Mem(id) => aggregator.sites.strings.get(*id),
        }
    }

    /// A NUL-terminated pointer valid for the life of the process.
    pub fn c_ptr(&self, aggregator: &Aggregator) -> *const std::ffi::c_char {
        match self {
            TypeName::Sv(name) => name.as_ptr(),
            TypeName::Mem(id) => aggregator.sites.strings.c_ptr(*id),
        }
    }
}

/// One leaked record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    pub kind: Kind,
    pub address: usize,
    pub site: SiteId,
    pub size: u64,
    pub iteration: u32,
    /// SV type name (sv) or C type name (mem).
    pub type_name: TypeName,
}

/// Leaks grouped by (kind, Perl file, line, sub, C site).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakSite {
    pub kind: Kind,
    pub perl_site: PerlSiteId,
    pub c_file: StringId,
    pub c_line: u32,
    pub c_func: StringId,
    pub count: u64,
    pub bytes: u64,
    /// The first eligible iteration; `per_iteration[0]` counts its leaks.
    pub first_iteration: u32,
    pub per_iteration: Vec<u64>,
    /// Type names with their counts, most common first.
    pub types: Vec<(TypeName, u64)>,
    pub status: Status,
}

/// Every leak under `rule`, ordered by iteration, then kind, then address.
pub fn leaks(aggregator: &Aggregator, rule: LeakRule, inspector: &dyn SvInspector) -> Vec<Leak> {
    let Some((first, last)) = rule.eligible(aggregator.iteration) else {
        return Vec::new();
    };
    let mut found: Vec<Leak> = aggregator
        .live
        .iter()
        .filter(|(_, record)| (first..=last).contains(&record.iteration()))
        .filter_map(|(key, record)| {
            let site = aggregator.sites.get(record.site);
            if site.permanent_pool {
                return None;
            }
            let (kind, address) = split_key(key);
            let (type_name, size) = match kind {
                Kind::Sv => (
                    TypeName::Sv(inspector.sv_type(address)),
                    inspector.sv_size(address),
                ),
                Kind::Mem => (TypeName::Mem(site.type_name), record.size()),
            };
            Some(Leak {
                kind,
                address,
                site: record.site,
                size,
                iteration: record.iteration(),
                type_name,
            })
        })
        .collect();
    found.sort_unstable_by_key(|l| (l.iteration, l.kind as u8, l.address));
    found
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct GroupKey {
    kind: Kind,
    perl_site: PerlSiteId,
    c_file: StringId,
    c_line: u32,
    c_func: StringId,
}

/// Leaks grouped into sites, most leaked first.
pub fn leak_sites(
    aggregator: &Aggregator,
    rule: LeakRule,
    inspector: &dyn SvInspector,
) -> Vec<LeakSite> {
    let Some((first, last)) = rule.eligible(aggregator.iteration) else {
        return Vec::new();
    };
    let span = (last - first + 1) as usize;
    let mut groups: HashMap<GroupKey, (LeakSite, HashMap<TypeName, u64>)> = HashMap::new();
    for leak in leaks(aggregator, rule, inspector) {
        let site = aggregator.sites.get(leak.site);
        let key = GroupKey {
            kind: site.kind,
            perl_site: site.perl_site,
            c_file: site.c_file,
            c_line: site.c_line,
            c_func: site.c_func,
        };
        let (group, types) = groups.entry(key).or_insert_with(|| {
            (
                LeakSite {
                    kind: site.kind,
                    perl_site: site.perl_site,
                    c_file: site.c_file,
                    c_line: site.c_line,
                    c_func: site.c_func,
                    count: 0,
                    bytes: 0,
                    first_iteration: first,
                    per_iteration: vec![0; span],
                    types: Vec::new(),
                    status: Status::Stopped,
                },
                HashMap::new(),
            )
        });
        group.count += 1;
        group.bytes += leak.size;
        group.per_iteration[(leak.iteration - first) as usize] += 1;
        *types.entry(leak.type_name).or_insert(0) += 1;
    }
    let mut sites: Vec<LeakSite> = groups
        .into_values()
        .map(|(mut site, types)| {
            let mut types: Vec<(TypeName, u64)> = types.into_iter().collect();
            types.sort_by(|a, b| {
                b.1.cmp(&a.1)
                    .then_with(|| a.0.text(aggregator).cmp(b.0.text(aggregator)))
            });
            site.types = types;
            site.status = Status::classify(&site.per_iteration);
            site
        })
        .collect();
    sites.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.bytes.cmp(&a.bytes))
            .then(a.perl_site.cmp(&b.perl_site))
            .then(a.c_line.cmp(&b.c_line))
    });
    sites
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::event::{Event, Op, StaticStr};

    struct AllUndef;
    impl SvInspector for AllUndef {
        fn sv_type(&self, _: usize) -> &'static CStr {
            c"UNDEF"
        }
        fn sv_size(&self, _: usize) -> u64 {
            24
        }
    }

    fn new_sv(a: &mut Aggregator, seq: u64, addr: usize, perl_site: PerlSiteId) {
        let mut e = Event::bare(Op::NewSv, addr, 0, 0);
        e.seq = seq;
        e.perl_site = perl_site;
        e.c_file = StaticStr(c"sv.c".as_ptr());
        e.c_func = StaticStr(c"Perl_newSV".as_ptr());
        a.apply_batch(&[e], u64::MAX);
    }

    #[test]
    fn a_steady_leak_and_a_warm_up_cache_are_told_apart() {
        let mut a = Aggregator::default();
        let rule = LeakRule::default();
        let (leak_line, cache_line) = (7, 9);
        let mut seq = 0;
        a.checkpoint(0, rule); // iteration 0: start-up
        for iteration in 1..=10u32 {
            seq += 1;
            new_sv(&mut a, seq, 0x1000 + iteration as usize * 16, leak_line);
            if iteration <= 2 {
                for k in 0..5 {
                    seq += 1;
                    new_sv(
                        &mut a,
                        seq,
                        0x9000 + (iteration * 8 + k) as usize * 16,
                        cache_line,
                    );
                }
            }
            a.checkpoint(0, rule);
        }
        // 11 closed iterations; eligible 1..=8 under min_age 2.
        let sites = leak_sites(&a, rule, &AllUndef);
        assert_eq!(sites.len(), 2);
        let cache = &sites[0];
        assert_eq!(
            (cache.perl_site, cache.count, cache.status),
            (cache_line, 10, Status::Stopped)
        );
        let leak = &sites[1];
        assert_eq!(
            (leak.perl_site, leak.count, leak.status),
            (leak_line, 8, Status::Steady)
        );
        assert_eq!(leak.per_iteration, vec![1; 8]);
        assert_eq!(leak.first_iteration, 1);
        assert_eq!(leak.types, vec![(TypeName::Sv(c"UNDEF"), 8)]);
        assert_eq!(leak.bytes, 8 * 24);

        let skipped = leaks(
            &a,
            LeakRule {
                skip: 2,
                min_age: 2,
            },
            &AllUndef,
        );
        assert_eq!(skipped.len(), 6, "iterations 3..=8 only");
        assert!(skipped
            .iter()
            .all(|l| l.iteration >= 3 && l.type_name == TypeName::Sv(c"UNDEF")));
    }
}

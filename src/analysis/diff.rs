//! What grew between two heaps (two captures of one program), by site.

use std::collections::HashMap;

use memtrace_format::Kind;
use serde::Serialize;

use crate::heap::Heap;
use crate::leaks::{leak_sites, SiteKey};
use crate::rule::LeakRule;

/// One site's live records in both heaps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SiteChange {
    pub kind: &'static str,
    pub file: String,
    pub line: u32,
    pub sub: String,
    pub c_file: String,
    pub c_line: u32,
    pub c_func: String,
    pub count_before: u64,
    pub count_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The site's leak status in the later heap ("steady", ...), or "" if
    /// it has no leaks there.
    pub status: &'static str,
}

impl SiteChange {
    pub fn count_delta(&self) -> i64 {
        self.count_after as i64 - self.count_before as i64
    }

    pub fn bytes_delta(&self) -> i64 {
        self.bytes_after as i64 - self.bytes_before as i64
    }

    /// Whether the site grew: more live allocations, or as many holding
    /// more bytes. (Every other change is a shrink.)
    pub fn grew(&self) -> bool {
        let count = self.count_delta();
        count > 0 || (count == 0 && self.bytes_delta() > 0)
    }
}

/// Live records per site, by text, outside perl's permanent pools.
fn live_by_site(heap: &Heap) -> HashMap<SiteKey, (u64, u64)> {
    let mut by_site: HashMap<u32, (u64, u64)> = HashMap::new();
    heap.records.for_each(&mut |mut record| {
        let site = heap.site(record.site);
        if site.permanent_pool {
            return;
        }
        if record.kind == Kind::Sv && record.size == 0 {
            heap.records.complete(&mut record);
        }
        let entry = by_site.entry(record.site).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += record.size;
    });
    let mut by_key: HashMap<SiteKey, (u64, u64)> = HashMap::new();
    for (id, (count, bytes)) in by_site {
        let key = SiteKey::of(heap, id);
        let entry = by_key.entry(key).or_insert((0, 0));
        entry.0 += count;
        entry.1 += bytes;
    }
    by_key
}

/// Every site whose live records changed from `before` to `after`, the
/// most grown (in bytes, then in count) first.
pub fn diff(before: &Heap, after: &Heap, rule: LeakRule) -> Vec<SiteChange> {
    let old = live_by_site(before);
    let new = live_by_site(after);
    let status: HashMap<SiteKey, &'static str> = leak_sites(after, rule)
        .into_iter()
        .map(|s| (s.key(), s.status.name()))
        .collect();
    let mut keys: Vec<&SiteKey> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut changes: Vec<SiteChange> = keys
        .into_iter()
        .filter_map(|key| {
            let (count_before, bytes_before) = old.get(key).copied().unwrap_or((0, 0));
            let (count_after, bytes_after) = new.get(key).copied().unwrap_or((0, 0));
            if (count_before, bytes_before) == (count_after, bytes_after) {
                return None;
            }
            Some(SiteChange {
                kind: key.kind,
                file: key.file.clone(),
                line: key.line,
                sub: key.sub.clone(),
                c_file: key.c_file.clone(),
                c_line: key.c_line,
                c_func: key.c_func.clone(),
                count_before,
                count_after,
                bytes_before,
                bytes_after,
                status: status.get(key).copied().unwrap_or(""),
            })
        })
        .collect();
    changes.sort_by(|a, b| {
        b.bytes_delta()
            .cmp(&a.bytes_delta())
            .then(b.count_delta().cmp(&a.count_delta()))
            .then_with(|| (&a.file, a.line).cmp(&(&b.file, b.line)))
    });
    changes
}

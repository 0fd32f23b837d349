//! Devel::MemTrace's analysis: which live records are leaks ([`LeakRule`]),
//! how they group into sites ([`leak_sites`]) and whether a site is still
//! leaking ([`Status`]), the report text ([`report`]), what one address is
//! ([`identify`]) and what grew between two heaps ([`diff`]).
//!
//! Everything reads a [`Heap`]: the tables and history of a capture plus
//! its live records, which are either the capture's own or the live
//! recorder's (the XS layer provides those). So `Devel::MemTrace`,
//! `Test::MemTrace` and the `memtrace` command give the same answers from
//! the same code.

mod diff;
mod heap;
mod holder;
mod identify;
mod leaks;
mod report;
mod rule;
mod status;

pub use diff::{diff, SiteChange};
pub use heap::{string, Heap, Records};
pub use holder::{kind as holder_kind, Holder};
pub use identify::{describe, identify, parse_address, Identity, RecordInfo};
pub use leaks::{
    culprit, group, is_allocator, leak_sites, leak_sites_by, leaks, merge_sites, with_status,
    CFrameText, Frame, Grouping, LeakSite, SiteKey, StackCount, TypeCount,
};
pub use memtrace_format as format;
pub use report::{
    c_site_text, describe_programs, growth_line, heading, hex, iteration_lines, merged_report,
    perl_site_text, plural, report, site_lines, sites_text, stack_lines, types_phrase, Named,
    ReportOptions, Spelling,
};
pub use rule::LeakRule;
pub use status::Status;

#[cfg(test)]
mod tests;

//! What one address is: a live record of any age (with its sites, and for
//! a buffer the SV that owns it), or why there is none.

use memtrace_format::{Kind, Record};
use serde::Serialize;

use crate::heap::Heap;
use crate::holder::Holder;
use crate::leaks::{CFrameText, Frame};
use crate::report::{callers_text, culprit_text, hex, perl_site_text};
use crate::rule::LeakRule;

/// What is known of one live record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordInfo {
    /// The address in hex, as pmat prints it.
    pub address: String,
    pub kind: &'static str,
    #[serde(rename = "type")]
    pub type_name: String,
    pub size: u64,
    /// The iteration it was made in.
    pub iteration: u32,
    /// Later checkpoints it has stayed live through.
    pub age: u32,
    /// Whether it counts as a leak under the rule asked for.
    pub leak: bool,
    /// Why it is, or is not, a leak.
    pub why: String,
    pub file: String,
    pub line: u32,
    pub sub: String,
    pub c_file: String,
    pub c_line: u32,
    pub c_func: String,
    /// The Perl call stack it was made in, innermost first (`-stack`).
    pub stack: Vec<Frame>,
    /// The native frames it was made in, innermost first (`-c_frames`).
    pub c_frames: Vec<CFrameText>,
}

/// The answer for one address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The address asked for, in hex.
    pub address: String,
    /// "live" (a live record), or "not live".
    pub found: &'static str,
    pub record: Option<RecordInfo>,
    /// For a C buffer: the live SV whose body or value buffer it is.
    pub owner: Option<RecordInfo>,
    /// What keeps it alive (live in the process; from a capture, for the
    /// leaks it sampled).
    pub held_by: Option<Holder>,
    /// One line for a person.
    pub text: String,
}

/// Identify `address` in `heap`, judging leaks by `rule`.
pub fn identify(heap: &Heap, rule: LeakRule, address: u64) -> Identity {
    let found = heap
        .records
        .find(Kind::Sv, address)
        .or_else(|| heap.records.find(Kind::Mem, address));
    let Some(mut record) = found else {
        let why = heap.records.unrecorded(heap.tables, address);
        return Identity {
            address: hex(address),
            found: "not live",
            record: None,
            owner: None,
            held_by: None,
            text: format!("{}: {why}", hex(address)),
        };
    };
    heap.records.complete(&mut record);
    let info = record_info(heap, rule, &record);
    let owner = (record.kind == Kind::Mem && record.owner != 0).then(|| {
        match heap.records.find(Kind::Sv, record.owner) {
            Some(mut sv) => {
                heap.records.complete(&mut sv);
                record_info(heap, rule, &sv)
            }
            None => RecordInfo {
                address: hex(record.owner),
                kind: "sv",
                type_name: String::new(),
                size: 0,
                iteration: 0,
                age: 0,
                leak: false,
                why: "an SV not recorded (made before recording started or while paused)"
                    .to_string(),
                file: String::new(),
                line: 0,
                sub: String::new(),
                c_file: String::new(),
                c_line: 0,
                c_func: String::new(),
                stack: Vec::new(),
                c_frames: Vec::new(),
            },
        }
    });
    let mut text = format!("{}: {}", hex(address), describe(&info));
    if let Some(owner) = &owner {
        // (an owner never recorded has no type: "an SV")
        let owner_type = match owner.type_name.as_str() {
            "" => "an",
            name => name,
        };
        text.push_str(&format!(
            "; the buffer of {owner_type} SV {}",
            owner.address
        ));
        if !owner.file.is_empty() {
            text.push_str(&format!(
                " made {}",
                perl_site_text(&owner.file, owner.line, &owner.sub)
            ));
        }
    }
    let held_by = heap
        .records
        .holders(heap.tables, &[(record.kind, record.address)])
        .pop()
        .flatten();
    if let Some(holder) = &held_by {
        text.push_str(&format!("; held by: {}", holder.text));
    }
    Identity {
        address: hex(address),
        found: "live",
        record: Some(info),
        owner,
        held_by,
        text,
    }
}

fn record_info(heap: &Heap, rule: LeakRule, record: &Record) -> RecordInfo {
    let site = heap.site(record.site);
    let perl = heap.perl_site(site);
    let closed = heap.closed();
    let age = closed.saturating_sub(record.iteration.saturating_add(1));
    let leak = !site.permanent_pool && rule.is_leak(record.iteration, closed);
    let why = if site.permanent_pool {
        "not a leak: one of perl's permanent pools (an SV or body arena)".to_string()
    } else if leak {
        format!(
            "a leak: made in iteration {} and live through {age} later checkpoints",
            record.iteration
        )
    } else if record.iteration == 0 {
        "not a leak: made in iteration 0 (start-up, before the first checkpoint)".to_string()
    } else if record.iteration <= rule.skip {
        format!(
            "not a leak: made in warm-up iteration {} (skip {})",
            record.iteration, rule.skip
        )
    } else if record.iteration >= closed {
        "not a leak yet: made in the iteration still open".to_string()
    } else {
        format!(
            "not a leak yet: live through {age} later {}, a leak needs {}",
            if age == 1 {
                "checkpoint"
            } else {
                "checkpoints"
            },
            rule.min_age
        )
    };
    RecordInfo {
        address: hex(record.address),
        kind: record.kind.name(),
        type_name: heap.type_name(record).to_string(),
        size: record.size,
        iteration: record.iteration,
        age,
        leak,
        why,
        file: heap.string(perl.file).to_string(),
        line: perl.line,
        sub: heap.string(perl.sub).to_string(),
        c_file: heap.string(site.c_file).to_string(),
        c_line: site.c_line,
        c_func: heap.string(site.c_func).to_string(),
        stack: heap.stack_frames(record.stack),
        c_frames: heap.c_frames_text(record.c_frames),
    }
}

/// "UNDEF SV of 24 bytes made at poller.pl line 133, in main::poll (C site
/// sv.c:5594 Perl_newSV) in iteration 5, called from poller.pl line 148,
/// in main::main; a leak: ..." With native frames, the C site is the
/// culprit, as in the report: "(C site pp_ctl.c:5031 S_do_smartmatch,
/// allocated by ...)".
pub fn describe(info: &RecordInfo) -> String {
    let what = match info.kind {
        "sv" => format!("{} SV", info.type_name),
        _ => format!("{} buffer", info.type_name),
    };
    let c_site = match culprit_text(&info.c_file, info.c_line, &info.c_func, &info.c_frames) {
        (named, Some(allocator)) => format!("{named}, allocated by {allocator}"),
        (c_site, None) => c_site,
    };
    let callers = callers_text(&info.stack, &info.file, info.line);
    let called_from = if callers.is_empty() {
        String::new()
    } else {
        format!(", called from {}", callers.join(" <- "))
    };
    format!(
        "{what} of {} bytes made {} (C site {c_site}) in iteration {}{called_from}; {}",
        info.size,
        perl_site_text(&info.file, info.line, &info.sub),
        info.iteration,
        info.why
    )
}

/// Parse an address as pmat prints it (`0x55efee189120`, also without the
/// `0x` when it has hex letters) or in decimal.
pub fn parse_address(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().ok()
    } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        u64::from_str_radix(t, 16).ok()
    } else {
        None
    };
    parsed.ok_or_else(|| {
        format!(
            "'{}' is not an address: give it in hex as pmat prints it (0x55efee189120) or in decimal",
            t.escape_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_in_pmat_hex_and_decimal() {
        assert_eq!(parse_address("0x55efee189120"), Ok(0x55ef_ee18_9120));
        assert_eq!(parse_address("4096"), Ok(4096));
        assert_eq!(parse_address("ff"), Ok(255));
        let err = parse_address("0xZZ\n").unwrap_err();
        assert!(err.starts_with("'0xZZ' is not an address"), "{err}");
        assert!(parse_address("").is_err());
        assert!(parse_address("0x1ffffffffffffffff").is_err());
    }
}

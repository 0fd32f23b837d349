//! The records section: live records as columns.
//!
//! Records are sorted by (kind, address), so the kind is implied by two
//! counts and each address is a small step from the one before. Storing
//! field by field (columns) rather than record by record puts like next to
//! like, which is what makes both the varints and zstd effective:
//!
//! ```text
//! varint n_sv, varint n_mem          records of each kind; SVs come first
//! varint shift_sv, varint shift_mem  common trailing zero bits of the kind's addresses
//! address column                     per record: (address - previous address of its kind) >> shift;
//!                                    the first of each kind is counted from 0
//! site, iteration, size, sv_type,    one column each, in this order
//! owner, stack, c_frames
//! ```
//!
//! A column other than the address is dense (`0`, then one varint per
//! record) or sparse (`1`, a count k, then k pairs of varints: the gap of
//! records skipped since the previous entry, and the value; records not
//! listed are 0). The writer picks the smaller, so an all-zero column (stack,
//! c_frames, owner today) costs two bytes in all, not one per record.
//!
//! The alignment shift matters: malloc returns 16-byte aligned blocks and SV
//! heads are 8-byte aligned, so the step between neighbours loses 3 or 4
//! bits, which is often the difference between one varint byte and two.

use crate::varint::{self, Reader};
use crate::{FormatError, Kind, Record};

const DENSE: u64 = 0;
const SPARSE: u64 = 1;

/// Appends the records payload. Assumes `records` is sorted by (kind,
/// address) as `Capture::validate` demands; anything else is written
/// without panicking but does not decode to the same records.
pub fn put(records: &[Record], out: &mut Vec<u8>) {
    let n_sv = records.iter().filter(|r| r.kind == Kind::Sv).count();
    let (sv, mem) = records.split_at(n_sv.min(records.len()));
    out.reserve(records.len() * 8 + 64);
    varint::put(out, sv.len() as u64);
    varint::put(out, mem.len() as u64);
    let shifts = [shift(sv), shift(mem)];
    for s in shifts {
        varint::put(out, u64::from(s));
    }
    for (group, s) in [sv, mem].into_iter().zip(shifts) {
        let mut prev = 0u64;
        for r in group {
            varint::put(out, r.address.wrapping_sub(prev) >> s);
            prev = r.address;
        }
    }
    put_column(out, records, |r| u64::from(r.site));
    put_column(out, records, |r| u64::from(r.iteration));
    put_column(out, records, |r| r.size);
    put_column(out, records, |r| u64::from(r.sv_type));
    put_column(out, records, |r| r.owner);
    put_column(out, records, |r| u64::from(r.stack));
    put_column(out, records, |r| u64::from(r.c_frames));
}

/// The trailing zero bits every address of a group shares (0 for none).
fn shift(group: &[Record]) -> u32 {
    let all = group.iter().fold(0u64, |acc, r| acc | r.address);
    if all == 0 {
        0
    } else {
        all.trailing_zeros()
    }
}

/// Writes one column, dense or sparse, whichever is smaller.
fn put_column(out: &mut Vec<u8>, records: &[Record], value: impl Fn(&Record) -> u64) {
    let (mut dense, mut sparse, mut nonzero) = (0usize, 0usize, 0usize);
    let mut last = 0usize;
    for (i, r) in records.iter().enumerate() {
        let v = value(r);
        dense += varint::len(v);
        if v != 0 {
            sparse += varint::len((i - last) as u64) + varint::len(v);
            last = i + 1;
            nonzero += 1;
        }
    }
    if sparse + varint::len(nonzero as u64) < dense {
        varint::put(out, SPARSE);
        varint::put(out, nonzero as u64);
        let mut last = 0usize;
        for (i, r) in records.iter().enumerate() {
            let v = value(r);
            if v != 0 {
                varint::put(out, (i - last) as u64);
                varint::put(out, v);
                last = i + 1;
            }
        }
    } else {
        varint::put(out, DENSE);
        for r in records {
            varint::put(out, value(r));
        }
    }
}

/// Reads the records payload. Addresses come out strictly increasing within
/// each kind by construction; ids are checked later, by `Capture::validate`.
pub fn get(r: &mut Reader) -> Result<Vec<Record>, FormatError> {
    let n_sv = r.u64()?;
    let n_mem = r.u64()?;
    // Every record takes at least one byte (its address step), so the counts
    // are bounded by the bytes left before anything is allocated.
    let n = n_sv
        .checked_add(n_mem)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= r.remaining())
        .ok_or_else(|| {
            r.error(format!(
                "it claims {n_sv} + {n_mem} records but only {} bytes remain",
                r.remaining()
            ))
        })?;
    let mut shifts = [0u32; 2];
    for s in &mut shifts {
        let v = r.u64()?;
        *s = u32::try_from(v)
            .ok()
            .filter(|&v| v < 64)
            .ok_or_else(|| r.error(format!("address shift {v} is not below 64")))?;
    }
    let mut records = Vec::with_capacity(n);
    for (kind, count, s) in [(Kind::Sv, n_sv, shifts[0]), (Kind::Mem, n_mem, shifts[1])] {
        let mut prev: Option<u64> = None;
        for _ in 0..count {
            let d = r.u64()?;
            let step = Some(d)
                .filter(|&d| d <= u64::MAX >> s)
                .map(|d| d << s)
                .ok_or_else(|| r.error("an address step overflows 64 bits"))?;
            let address = match prev {
                None => step,
                Some(_) if step == 0 => {
                    return Err(r.error(format!(
                        "record {} repeats the address of the one before",
                        records.len()
                    )))
                }
                Some(p) => p
                    .checked_add(step)
                    .ok_or_else(|| r.error("an address overflows 64 bits"))?,
            };
            prev = Some(address);
            records.push(Record {
                kind,
                address,
                site: 0,
                iteration: 0,
                size: 0,
                sv_type: 0,
                owner: 0,
                stack: 0,
                c_frames: 0,
            });
        }
    }
    get_column(r, &mut records, "site", |rec, v| rec.site = v, to_u32)?;
    get_column(
        r,
        &mut records,
        "iteration",
        |rec, v| rec.iteration = v,
        to_u32,
    )?;
    get_column(r, &mut records, "size", |rec, v| rec.size = v, Some)?;
    get_column(r, &mut records, "sv_type", |rec, v| rec.sv_type = v, to_u32)?;
    get_column(r, &mut records, "owner", |rec, v| rec.owner = v, Some)?;
    get_column(r, &mut records, "stack", |rec, v| rec.stack = v, to_u32)?;
    get_column(
        r,
        &mut records,
        "c_frames",
        |rec, v| rec.c_frames = v,
        to_u32,
    )?;
    Ok(records)
}

fn to_u32(v: u64) -> Option<u32> {
    u32::try_from(v).ok()
}

/// Reads one column into `records`, converting each value with `conv`
/// (None: it does not fit the field).
fn get_column<T>(
    r: &mut Reader,
    records: &mut [Record],
    name: &str,
    set: impl Fn(&mut Record, T),
    conv: impl Fn(u64) -> Option<T>,
) -> Result<(), FormatError> {
    let value = |r: &mut Reader, i: usize| -> Result<T, FormatError> {
        let v = r.u64()?;
        conv(v).ok_or_else(|| r.error(format!("record {i}: {name} {v} does not fit in 32 bits")))
    };
    match r.u64()? {
        DENSE => {
            for (i, rec) in records.iter_mut().enumerate() {
                let v = value(r, i)?;
                set(rec, v);
            }
        }
        SPARSE => {
            let k = r.count(2, &format!("'{name}' entries"))?;
            let mut next = 0usize;
            for _ in 0..k {
                let gap = r.u64()?;
                let i = usize::try_from(gap)
                    .ok()
                    .and_then(|g| next.checked_add(g))
                    .filter(|&i| i < records.len())
                    .ok_or_else(|| {
                        r.error(format!("column '{name}' lists a record past the last"))
                    })?;
                let v = value(r, i)?;
                if let Some(rec) = records.get_mut(i) {
                    set(rec, v);
                }
                next = i + 1;
            }
        }
        mode => {
            return Err(r.error(format!(
                "column '{name}' has encoding {mode}, not 0 (dense) or 1 (sparse)"
            )))
        }
    }
    Ok(())
}

//! The live table: one compact record per live allocation or SV head.

use super::sites::{Kind, SiteId};

/// One live allocation: 16 bytes (12 used, padded to 8-byte alignment), so that a table entry (key + record) is
/// 24 bytes and the whole table stays well under 64 bytes per live record
/// even right after the hash table has doubled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveRecord {
    pub site: SiteId,
    /// bits 0..40: size in bytes (saturating at 1 TiB - 1);
    /// bits 40..63: iteration allocated in (saturating).
    packed: u64,
}

const SIZE_BITS: u32 = 40;
const SIZE_MAX: u64 = (1 << SIZE_BITS) - 1;
const ITERATION_BITS: u32 = 23;
/// The largest iteration number a record can carry; later ones saturate.
pub const ITERATION_MAX: u32 = (1 << ITERATION_BITS) - 1;

impl LiveRecord {
    pub fn new(site: SiteId, size: u64, iteration: u32) -> LiveRecord {
        let mut record = LiveRecord { site, packed: 0 };
        record.set_size(size);
        record.packed |= (iteration.min(ITERATION_MAX) as u64) << SIZE_BITS;
        record
    }

    pub fn size(&self) -> u64 {
        self.packed & SIZE_MAX
    }

    pub fn set_size(&mut self, size: u64) {
        self.packed = (self.packed & !SIZE_MAX) | size.min(SIZE_MAX);
    }

    pub fn iteration(&self) -> u32 {
        ((self.packed >> SIZE_BITS) & ITERATION_MAX as u64) as u32
    }
}

/// The key of a live record: the address, with bit 0 set for SV heads so an
/// SV and a logged buffer can never collide (both are at least 8-aligned).
pub fn live_key(kind: Kind, addr: usize) -> u64 {
    match kind {
        Kind::Sv => addr as u64 | 1,
        Kind::Mem => addr as u64,
    }
}

/// The kind and address a live key stands for.
pub fn split_key(key: u64) -> (Kind, usize) {
    if key & 1 == 1 {
        (Kind::Sv, (key & !1) as usize)
    } else {
        (Kind::Mem, key as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<LiveRecord>(), 16);
    }

    #[test]
    fn fields_round_trip_and_saturate() {
        let mut r = LiveRecord::new(3, 4096, 12);
        assert_eq!((r.size(), r.iteration(), r.site), (4096, 12, 3));
        r.set_size(1 << 50);
        assert_eq!(r.size(), SIZE_MAX);
        assert_eq!(r.iteration(), 12);
        assert_eq!(LiveRecord::new(0, 1, u32::MAX).iteration(), ITERATION_MAX);
    }

    #[test]
    fn keys_separate_kinds() {
        assert_ne!(live_key(Kind::Sv, 0x1000), live_key(Kind::Mem, 0x1000));
        assert_eq!(split_key(live_key(Kind::Sv, 0x1000)), (Kind::Sv, 0x1000));
        assert_eq!(split_key(live_key(Kind::Mem, 0x1000)), (Kind::Mem, 0x1000));
    }
}

//! The live table: one compact record per live allocation or SV head.

use super::sites::{Kind, SiteId};

/// One live allocation: 16 bytes (12 used, padded to 8-byte alignment), so that a table entry (key + record) is
/// 24 bytes and the whole table stays under 64 bytes per live record even
/// right after the table has doubled (see [`LiveTable`]).
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

/// The live table: live key -> [`LiveRecord`], open addressing with linear
/// probing over one array of 24-byte slots (key 0 marks an empty slot: no
/// recorded address is 0), deletion by backward shift (no tombstones).
///
/// Built for a table of millions of records that no cache holds: an
/// operation touches one slot (rarely the next cache line too), where a
/// SwissTable touches a control group and a bucket, and the aggregator can
/// [`LiveTable::prefetch`] the slots of the events it will apply next, so
/// that their cache misses overlap instead of following one another.
///
/// It grows (doubles) past 13/16 full: 24 / (13/32) = 59 bytes per record
/// right after growing, 30 just before.
pub struct LiveTable {
    slots: Slots,
    len: usize,
    /// `64 - log2(slots.len())`: the home slot is the top bits of the hash
    /// (63 while there are no slots, so that the shift stays defined).
    shift: u32,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    key: u64,
    record: LiveRecord,
}

const MIN_SLOTS: usize = 1024;

#[inline(always)]
fn mix(key: u64) -> u64 {
    // Addresses differ mostly in their middle bits; the multiply carries
    // them into the top bits, which pick the slot.
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Transparent huge pages: 2 MiB.
const HUGE_PAGE: usize = 2 << 20;

/// The slot array: zeroed memory (all-zero is an empty slot), so a big
/// table costs no writes until its pages are touched. From 4 MiB on it is
/// mapped on its own, 2 MiB-aligned and advised to use huge pages: with 4
/// KiB pages every operation on a table of tens of megabytes would miss
/// the TLB as well as the cache (and a prefetch does not hide a page walk
/// as well as a load of a mapped line).
struct Slots {
    ptr: *mut Slot,
    len: usize,
    /// Bytes mapped with mmap (0: allocated with the global allocator).
    mapped: usize,
}

// SAFETY: `Slots` owns its memory outright, like a Box<[Slot]>.
unsafe impl Send for Slots {}
unsafe impl Sync for Slots {}

impl Slots {
    fn none() -> Slots {
        Slots {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
            mapped: 0,
        }
    }

    fn zeroed(len: usize) -> Slots {
        use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
        let layout = Layout::array::<Slot>(len).expect("table size overflow");
        if layout.size() >= 2 * HUGE_PAGE {
            if let Some(slots) = Slots::map(len, layout.size()) {
                return slots;
            }
        }
        // SAFETY: `layout` has non-zero size (len >= MIN_SLOTS); all-zero
        // bytes are a valid `Slot` (two integers and a u32).
        let ptr = unsafe { alloc_zeroed(layout) } as *mut Slot;
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        Slots {
            ptr,
            len,
            mapped: 0,
        }
    }

    #[cfg(target_os = "linux")]
    fn map(len: usize, bytes: usize) -> Option<Slots> {
        let size = bytes.next_multiple_of(HUGE_PAGE);
        // SAFETY: an anonymous private mapping, then unmapping the parts of
        // it outside the aligned range and advising on that range: only
        // memory this function mapped is touched.
        unsafe {
            let raw = libc::mmap(
                std::ptr::null_mut(),
                size + HUGE_PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if raw == libc::MAP_FAILED {
                return None;
            }
            let start = (raw as usize).next_multiple_of(HUGE_PAGE);
            let head = start - raw as usize;
            if head > 0 {
                libc::munmap(raw, head);
            }
            if HUGE_PAGE - head > 0 {
                libc::munmap((start + size) as *mut libc::c_void, HUGE_PAGE - head);
            }
            // Only advice: without huge pages it still works.
            libc::madvise(start as *mut libc::c_void, size, libc::MADV_HUGEPAGE);
            Some(Slots {
                ptr: start as *mut Slot,
                len,
                mapped: size,
            })
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn map(_len: usize, _bytes: usize) -> Option<Slots> {
        None
    }

    fn bytes(&self) -> usize {
        self.mapped.max(self.len * std::mem::size_of::<Slot>())
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        if self.mapped > 0 {
            // SAFETY: mapped by `Slots::map`, exactly this range.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.mapped) };
        } else if self.len > 0 {
            let layout = std::alloc::Layout::array::<Slot>(self.len).expect("was allocated");
            // SAFETY: allocated by `Slots::zeroed` with this layout.
            unsafe { std::alloc::dealloc(self.ptr as *mut u8, layout) };
        }
    }
}

impl std::ops::Deref for Slots {
    type Target = [Slot];

    fn deref(&self) -> &[Slot] {
        // SAFETY: `len` initialised slots (zeroed memory) at `ptr`, owned.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [Slot] {
        // SAFETY: as above, and `&mut self` is the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Default for LiveTable {
    fn default() -> Self {
        LiveTable {
            slots: Slots::none(),
            len: 0,
            shift: 63,
        }
    }
}

impl LiveTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots allocated (each 24 bytes).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Heap bytes of the table.
    pub fn heap_bytes(&self) -> usize {
        self.slots.bytes()
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        (mix(key) >> self.shift) as usize
    }

    /// Slot `i`, which is `& mask`ed (so in bounds) by every caller.
    #[inline(always)]
    fn at(&self, i: usize) -> &Slot {
        debug_assert!(i < self.slots.len());
        // SAFETY: callers index with `... & self.mask()`, below the length
        // (a power of two), and only while there are slots.
        unsafe { self.slots.get_unchecked(i) }
    }

    #[inline(always)]
    fn at_mut(&mut self, i: usize) -> &mut Slot {
        debug_assert!(i < self.slots.len());
        // SAFETY: as for `at`.
        unsafe { self.slots.get_unchecked_mut(i) }
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Start loading the slot where `key` is (or would go), so that a later
    /// operation on it does not wait for memory.
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            // Not bounds-checked: a prefetch never faults, whatever the
            // address (with no slots it is a harmless miss).
            // The slot and the next one (where a probe or a removal's
            // shift most often goes on): 24-byte slots, so one in four
            // crosses into the next cache line, and then so does the
            // operation.
            let slot = self.slots.as_ptr().wrapping_add(self.home(key)) as *const i8;
            let next_end = slot.wrapping_add(2 * std::mem::size_of::<Slot>() - 1);
            // SAFETY: a prefetch only hints the cache; it reads nothing.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(slot);
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(next_end);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    #[inline(always)]
    fn find(&self, key: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let k = self.at(i).key;
            if k == key {
                return Some(i);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    pub fn contains_key(&self, key: &u64) -> bool {
        self.find(*key).is_some()
    }

    pub fn get(&self, key: &u64) -> Option<&LiveRecord> {
        self.find(*key).map(|i| &self.slots[i].record)
    }

    /// Insert or replace; the replaced record, if any.
    #[inline]
    pub fn insert(&mut self, key: u64, record: LiveRecord) -> Option<LiveRecord> {
        debug_assert_ne!(key, 0);
        if (self.len + 1) * 16 > self.slots.len() * 13 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let slot = self.at_mut(i);
            if slot.key == key {
                return Some(std::mem::replace(&mut slot.record, record));
            }
            if slot.key == 0 {
                *slot = Slot { key, record };
                self.len += 1;
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Remove `key`; its record, if it was there.
    #[inline(always)]
    pub fn remove(&mut self, key: &u64) -> Option<LiveRecord> {
        let found = self.find(*key)?;
        let record = self.at(found).record;
        // Backward shift: pull later entries of the run into the hole
        // wherever that keeps them reachable from their home slot.
        let mask = self.mask();
        let mut hole = found;
        let mut j = found;
        loop {
            j = (j + 1) & mask;
            let slot = *self.at(j);
            if slot.key == 0 {
                break;
            }
            // Without a branch on it (it goes either way at random): an
            // entry that may not move is written back onto itself.
            let movable = j.wrapping_sub(self.home(slot.key)) & mask >= j.wrapping_sub(hole) & mask;
            let target = if movable { hole } else { j };
            *self.at_mut(target) = slot;
            hole = if movable { j } else { hole };
        }
        self.at_mut(hole).key = 0;
        self.len -= 1;
        Some(record)
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, Slots::zeroed(new_len));
        self.shift = 64 - new_len.trailing_zeros();
        let mask = self.mask();
        const AHEAD: usize = 16;
        for (n, slot) in old.iter().enumerate() {
            if let Some(ahead) = old.get(n + AHEAD) {
                if ahead.key != 0 {
                    self.prefetch(ahead.key);
                }
            }
            if slot.key == 0 {
                continue;
            }
            let mut i = self.home(slot.key);
            while self.at(i).key != 0 {
                i = (i + 1) & mask;
            }
            *self.at_mut(i) = *slot;
        }
    }

    /// Every (key, record), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &LiveRecord)> {
        self.slots
            .iter()
            .filter(|s| s.key != 0)
            .map(|s| (&s.key, &s.record))
    }

    pub fn keys(&self) -> impl Iterator<Item = &u64> {
        self.iter().map(|(k, _)| k)
    }
}

impl std::ops::Index<&u64> for LiveTable {
    type Output = LiveRecord;

    fn index(&self, key: &u64) -> &LiveRecord {
        self.get(key).expect("no live record for this key")
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
    fn table_agrees_with_a_hash_map() {
        use std::collections::HashMap;
        let mut table = LiveTable::default();
        let mut model = HashMap::new();
        let mut x: u64 = 12345;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct keys, so that runs form and removals shift them.
            let key = (((x % 5000) + 1) * 16) | ((x >> 40) & 1);
            let record = LiveRecord::new(step as u32, step, 0);
            if x.is_multiple_of(3) {
                assert_eq!(table.remove(&key), model.remove(&key));
            } else {
                assert_eq!(table.insert(key, record), model.insert(key, record));
            }
            assert_eq!(table.len(), model.len());
        }
        for (key, record) in &model {
            assert_eq!(table.get(key), Some(record));
        }
        assert_eq!(table.iter().count(), model.len());
        assert!(table.heap_bytes() <= 64 * table.len().max(MIN_SLOTS));
    }

    #[test]
    fn table_stays_under_64_bytes_a_record_as_it_grows() {
        let mut table = LiveTable::default();
        for i in 1..=300_000u64 {
            table.insert(i * 48, LiveRecord::new(0, 1, 0));
            if i >= 1000 {
                assert!(table.heap_bytes() <= 60 * table.len(), "{i}");
            }
        }
    }

    #[test]
    fn keys_separate_kinds() {
        assert_ne!(live_key(Kind::Sv, 0x1000), live_key(Kind::Mem, 0x1000));
        assert_eq!(split_key(live_key(Kind::Sv, 0x1000)), (Kind::Sv, 0x1000));
        assert_eq!(split_key(live_key(Kind::Mem, 0x1000)), (Kind::Mem, 0x1000));
    }
}

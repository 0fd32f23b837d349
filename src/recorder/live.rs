//! The live table: one compact record per live allocation or SV head.

use std::collections::HashMap;

use super::sites::{Kind, SiteId};

mod sv_heads;
mod zeroed;

use sv_heads::SvHeads;
use zeroed::{AllZeroValid, Zeroed};

/// One live allocation, as the table hands it out: its site, size and the
/// iteration it was made in. The tables keep it packed: with its key in
/// 16 bytes (see `AddressTable`), or for an SV head in 8 bytes beside
/// its neighbours' (see `SvHeads`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveRecord {
    pub site: SiteId,
    /// bits 0..40: size in bytes (saturating at 1 TiB - 1);
    /// bits 40..64: iteration allocated in (saturating).
    packed: u64,
}

const SIZE_BITS: u32 = 40;
const SIZE_MAX: u64 = (1 << SIZE_BITS) - 1;
/// As many as a packed slot holds (see `Slot`).
const ITERATION_BITS: u32 = 24;
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

/// The live table: one [`LiveRecord`] per live key (see [`live_key`]).
///
/// Logged buffers and `malloc` blocks are kept hashed by address
/// (`AddressTable`); SV heads are kept the way perl lays them out
/// (`SvHeads`), where the heads perl makes and frees together are
/// neighbours. An SV head that table refuses (see `SvHeads::insert`)
/// goes to the hashed one; `sv_spilled` counts those, so that while it is
/// 0 (always, in practice) an SV key is looked for in one place only.
#[derive(Default)]
pub struct LiveTable {
    addresses: AddressTable,
    sv_heads: SvHeads,
    sv_spilled: usize,
}

impl LiveTable {
    pub fn len(&self) -> usize {
        self.addresses.len() + self.sv_heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes of both tables.
    pub fn heap_bytes(&self) -> usize {
        self.addresses.heap_bytes() + self.sv_heads.heap_bytes()
    }

    /// Start loading where `key` is (or would go), so that a later
    /// operation on it does not wait for memory.
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        if is_sv_key(key) {
            self.sv_heads.prefetch(key)
        } else {
            self.addresses.prefetch(key)
        }
    }

    pub fn contains_key(&self, key: &u64) -> bool {
        self.get(key).is_some()
    }

    pub fn get(&self, key: &u64) -> Option<LiveRecord> {
        if !is_sv_key(*key) {
            return self.addresses.get(key);
        }
        match self.sv_heads.get(*key) {
            None if self.sv_spilled > 0 => self.addresses.get(key),
            found => found,
        }
    }

    /// Insert or replace; the replaced record, if any.
    #[inline(always)]
    pub fn insert(&mut self, key: u64, record: LiveRecord) -> Option<LiveRecord> {
        if !is_sv_key(key) {
            return self.addresses.insert(key, record);
        }
        if self.sv_spilled == 0 || !self.addresses.contains_key(&key) {
            if let Ok(replaced) = self.sv_heads.insert(key, record) {
                return replaced;
            }
        }
        self.insert_spilled(key, record)
    }

    /// An SV head the arena-shaped table refused, or that is already in the
    /// hashed one: kept hashed (and nowhere else).
    #[cold]
    #[inline(never)]
    fn insert_spilled(&mut self, key: u64, record: LiveRecord) -> Option<LiveRecord> {
        let was_in_heads = self.sv_heads.remove(key);
        let replaced = self.addresses.insert(key, record);
        if replaced.is_none() {
            self.sv_spilled += 1;
        }
        replaced.or(was_in_heads)
    }

    /// Remove `key`; its record, if it was there.
    #[inline(always)]
    pub fn remove(&mut self, key: &u64) -> Option<LiveRecord> {
        if !is_sv_key(*key) {
            return self.addresses.remove(key);
        }
        match self.sv_heads.remove(*key) {
            None if self.sv_spilled > 0 => {
                let removed = self.addresses.remove(key);
                self.sv_spilled -= removed.is_some() as usize;
                removed
            }
            removed => removed,
        }
    }

    /// Every (key, record), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, LiveRecord)> + '_ {
        self.addresses.iter().chain(self.sv_heads.iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(|(key, _)| key)
    }

    /// The addresses of every live buffer and `malloc` block (no SV heads),
    /// without a look at the SV heads' table.
    pub fn block_addresses(&self) -> impl Iterator<Item = usize> + '_ {
        self.addresses
            .iter()
            .filter(|&(key, _)| !is_sv_key(key))
            .map(|(key, _)| key as usize)
    }
}

/// Whether `key` is an SV head's (see [`live_key`]).
#[inline(always)]
fn is_sv_key(key: u64) -> bool {
    key & 1 == 1
}

/// Live records by key, hashed: open addressing with linear
/// probing over one array of 16-byte slots (an all-zero slot is empty: no
/// live key is 0), deletion by backward shift (no tombstones).
///
/// Built for a table of millions of records that no cache holds: an
/// operation touches one slot, which is one aligned quarter of a cache line
/// (rarely the next line too, for a probe or a shift), where a SwissTable
/// touches a control group and a bucket; and the aggregator can
/// [`AddressTable::prefetch`] the slots of the events it will apply next, so
/// that their cache misses overlap instead of following one another.
///
/// A slot packs the key with the record (see [`Slot`]). The rare record
/// that does not fit (an address at or above 2^48, a site number past
/// 2^24, a size of 4 GiB or more) is kept whole in `unpacked`, a hash map
/// that stays empty in nearly every program and then costs one
/// branch on a miss.
///
/// It grows (doubles) past 11/16 full: 16 / (11/32) = 47 bytes per record
/// right after growing, 23 just before. (Past 13/16, inserts probed
/// twice as many slots while the table filled, on tables that no cache
/// holds.)
struct AddressTable {
    slots: Slots,
    len: usize,
    /// `64 - log2(slots.len())`: the home slot is the top bits of the hash
    /// (63 while there are no slots, so that the shift stays defined).
    shift: u32,
    /// Records no slot can hold, with their keys.
    unpacked: HashMap<u64, LiveRecord>,
}

/// A key and its record in 16 bytes. `head`: bits 0..48 the key, bits
/// 48..64 the site's high 16 bits; `body`: bits 0..32 the size, 32..56 the
/// iteration, 56..64 the site's low 8 bits. A packed key is non-zero and
/// below 2^48 (every user-space address on x86-64 and arm64 Linux, unless
/// a program maps memory above that on purpose; such a key is kept in
/// `AddressTable::unpacked`), so a slot whose `head` is 0 is empty.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Slot {
    head: u64,
    body: u64,
}

const KEY_BITS: u32 = 48;
const KEY_MASK: u64 = (1 << KEY_BITS) - 1;
const SLOT_SIZE_BITS: u32 = 32;
const SLOT_SITE_BITS: u32 = 24;

impl Slot {
    /// `key` and `record` packed, if they fit.
    #[inline(always)]
    fn pack(key: u64, record: &LiveRecord) -> Option<Slot> {
        let size = record.size();
        let site = record.site as u64;
        if key > KEY_MASK || size >> SLOT_SIZE_BITS != 0 || site >> SLOT_SITE_BITS != 0 {
            return None;
        }
        Some(Slot {
            head: key | (site >> 8) << KEY_BITS,
            body: size
                | (record.iteration() as u64) << SLOT_SIZE_BITS
                | (site & 0xff) << (SLOT_SIZE_BITS + ITERATION_BITS),
        })
    }

    #[inline(always)]
    fn key(&self) -> u64 {
        self.head & KEY_MASK
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.head == 0
    }

    #[inline(always)]
    fn record(&self) -> LiveRecord {
        let site = (self.head >> KEY_BITS) << 8 | self.body >> (SLOT_SIZE_BITS + ITERATION_BITS);
        let iteration = (self.body >> SLOT_SIZE_BITS) as u32 & ITERATION_MAX;
        LiveRecord::new(site as SiteId, self.body & u32::MAX as u64, iteration)
    }
}

const MIN_SLOTS: usize = 1024;

#[inline(always)]
fn mix(key: u64) -> u64 {
    // Addresses differ mostly in their middle bits; the multiply carries
    // them into the top bits, which pick the slot.
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The slot array: zeroed memory (all-zero is an empty slot; see
/// [`Zeroed`] for where it comes from).
type Slots = Zeroed<Slot>;

// SAFETY: two integers.
unsafe impl AllZeroValid for Slot {}

impl Default for AddressTable {
    fn default() -> Self {
        AddressTable {
            slots: Slots::none(),
            len: 0,
            shift: 63,
            unpacked: HashMap::new(),
        }
    }
}

impl AddressTable {
    pub fn len(&self) -> usize {
        self.len + self.unpacked.len()
    }

    /// Heap bytes of the table (the unpacked records' map estimated from
    /// its capacity: a key, a record and a control byte each).
    pub fn heap_bytes(&self) -> usize {
        self.slots.bytes() + self.unpacked.capacity() * (8 + std::mem::size_of::<LiveRecord>() + 1)
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
            // address (with no slots it is a harmless miss). One line: a
            // slot never straddles two.
            let slot = self.slots.as_ptr().wrapping_add(self.home(key)) as *const i8;
            // SAFETY: a prefetch only hints the cache; it reads nothing.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(slot);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    /// The slot holding `key`, if any (a key too big to pack is in none).
    #[inline(always)]
    fn find(&self, key: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let slot = self.at(i);
            if slot.key() == key {
                return Some(i);
            }
            if slot.is_empty() {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    pub fn contains_key(&self, key: &u64) -> bool {
        self.get(key).is_some()
    }

    pub fn get(&self, key: &u64) -> Option<LiveRecord> {
        match self.find(*key) {
            Some(i) => Some(self.at(i).record()),
            None if self.unpacked.is_empty() => None,
            None => self.unpacked.get(key).copied(),
        }
    }

    /// Insert or replace; the replaced record, if any.
    #[inline(always)]
    pub fn insert(&mut self, key: u64, record: LiveRecord) -> Option<LiveRecord> {
        debug_assert_ne!(key, 0);
        let Some(packed) = Slot::pack(key, &record) else {
            return self.insert_unpacked(key, record);
        };
        if (self.len + 1) * 16 > self.slots.len() * 11 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let slot = self.at_mut(i);
            if slot.key() == key {
                return Some(std::mem::replace(slot, packed).record());
            }
            if slot.is_empty() {
                *slot = packed;
                self.len += 1;
                break;
            }
            i = (i + 1) & mask;
        }
        if self.unpacked.is_empty() {
            None
        } else {
            self.unpacked.remove(&key)
        }
    }

    #[cold]
    #[inline(never)]
    fn insert_unpacked(&mut self, key: u64, record: LiveRecord) -> Option<LiveRecord> {
        let packed = self.remove_packed(key);
        self.unpacked.insert(key, record).or(packed)
    }

    /// Remove `key`; its record, if it was there.
    #[inline(always)]
    pub fn remove(&mut self, key: &u64) -> Option<LiveRecord> {
        match self.remove_packed(*key) {
            None if !self.unpacked.is_empty() => self.unpacked.remove(key),
            removed => removed,
        }
    }

    #[inline(always)]
    fn remove_packed(&mut self, key: u64) -> Option<LiveRecord> {
        let found = self.find(key)?;
        let record = self.at(found).record();
        // Backward shift: pull later entries of the run into the hole
        // wherever that keeps them reachable from their home slot.
        let mask = self.mask();
        let mut hole = found;
        let mut j = found;
        loop {
            j = (j + 1) & mask;
            let slot = *self.at(j);
            if slot.is_empty() {
                break;
            }
            // Without a branch on it (it goes either way at random): an
            // entry that may not move is written back onto itself.
            let movable =
                j.wrapping_sub(self.home(slot.key())) & mask >= j.wrapping_sub(hole) & mask;
            let target = if movable { hole } else { j };
            *self.at_mut(target) = slot;
            hole = if movable { j } else { hole };
        }
        *self.at_mut(hole) = Slot { head: 0, body: 0 };
        self.len -= 1;
        Some(record)
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, Slots::new(new_len));
        self.shift = 64 - new_len.trailing_zeros();
        let mask = self.mask();
        const AHEAD: usize = 16;
        for (n, slot) in old.iter().enumerate() {
            if let Some(ahead) = old.get(n + AHEAD) {
                if !ahead.is_empty() {
                    self.prefetch(ahead.key());
                }
            }
            if slot.is_empty() {
                continue;
            }
            let mut i = self.home(slot.key());
            while !self.at(i).is_empty() {
                i = (i + 1) & mask;
            }
            *self.at_mut(i) = *slot;
        }
    }

    /// Every (key, record), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, LiveRecord)> + '_ {
        self.slots
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| (s.key(), s.record()))
            .chain(self.unpacked.iter().map(|(&key, &record)| (key, record)))
    }
}

/// The key of a live record: the address, with bit 0 set for SV heads so an
/// SV and a logged buffer can never collide (both are at least 8-aligned).
pub fn live_key(kind: Kind, addr: usize) -> u64 {
    match kind {
        Kind::Sv => addr as u64 | 1,
        // `malloc` records share the logged ones' address space (see
        // `Op::Malloc`): one key per block.
        Kind::Mem | Kind::Malloc => addr as u64,
    }
}

/// The kind and address a live key stands for.
pub fn split_key(key: u64) -> (Kind, usize) {
    if is_sv_key(key) {
        (Kind::Sv, (key & !1) as usize)
    } else {
        (Kind::Mem, key as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_slot_are_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<LiveRecord>(), 16);
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn a_slot_round_trips_every_field_at_its_limits() {
        for (key, site, size, iteration) in [
            (1, 0, 0, 0),
            (
                KEY_MASK,
                (1 << SLOT_SITE_BITS) - 1,
                u32::MAX as u64,
                ITERATION_MAX,
            ),
            (0x7fff_1234_5670 | 1, 0x12_3456, 0x8000_0001, 0xab_cdef),
            (0x1000, 0x1ff, 0, 1),
        ] {
            let record = LiveRecord::new(site, size, iteration);
            let slot = Slot::pack(key, &record).expect("fits");
            assert_eq!((slot.key(), slot.record()), (key, record));
            assert!(!slot.is_empty());
        }
    }

    #[test]
    fn what_a_slot_cannot_hold_is_kept_whole() {
        let mut table = LiveTable::default();
        let big_key = 1 << KEY_BITS;
        let big_site = LiveRecord::new(1 << SLOT_SITE_BITS, 8, 2);
        let big_size = LiveRecord::new(5, 1 << 32, 3);
        for (key, record) in [
            (big_key, LiveRecord::new(1, 8, 1)),
            (0x2000, big_site),
            (0x3000, big_size),
        ] {
            assert!(Slot::pack(key, &record).is_none());
            assert_eq!(table.insert(key, record), None);
            assert_eq!(table.get(&key), Some(record));
        }
        assert_eq!(table.len(), 3);
        // Replacing moves a key between the slots and the map, either way.
        let small = LiveRecord::new(7, 16, 4);
        assert_eq!(table.insert(0x3000, small), Some(big_size));
        assert_eq!(table.insert(0x3000, big_size), Some(small));
        assert_eq!(table.len(), 3);
        assert_eq!(table.iter().count(), 3);
        assert_eq!(table.remove(&big_key).map(|r| r.site), Some(1));
        assert_eq!(table.remove(&0x3000), Some(big_size));
        assert_eq!(table.remove(&0x3000), None);
        assert_eq!(table.keys().collect::<Vec<_>>(), vec![0x2000]);
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
            // Few distinct keys, so that runs form and removals shift them;
            // now and then a key, site or size no slot holds.
            // SV keys (bit 0) are now and then 8 bytes after another,
            // so that two share one word of the arena-shaped table.
            let mut key = (((x % 5000) + 1) * 16) | ((x >> 40) & 1);
            if is_sv_key(key) && (x >> 44) & 1 == 1 {
                key += 8;
            }
            if (x >> 20).is_multiple_of(61) {
                key |= 1 << 52;
            }
            let site = if (x >> 24).is_multiple_of(53) {
                1 << 30
            } else {
                step as u32
            };
            // SV heads have no size, but for one in 17.
            let size = if (x >> 28).is_multiple_of(59) {
                step << 33
            } else if is_sv_key(key) && !(x >> 32).is_multiple_of(17) {
                0
            } else {
                step
            };
            let record = LiveRecord::new(site, size, (step % 3000) as u32);
            if x.is_multiple_of(3) {
                assert_eq!(table.remove(&key), model.remove(&key));
            } else {
                assert_eq!(table.insert(key, record), model.insert(key, record));
            }
            assert_eq!(table.len(), model.len());
        }
        for (key, record) in &model {
            assert_eq!(table.get(key), Some(*record));
        }
        assert_eq!(table.iter().count(), model.len());
        let mut blocks: Vec<usize> = table.block_addresses().collect();
        blocks.sort_unstable();
        let mut expected: Vec<usize> = model
            .keys()
            .filter(|&&key| !is_sv_key(key))
            .map(|&key| key as usize)
            .collect();
        expected.sort_unstable();
        assert_eq!(blocks, expected);
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
    fn sv_heads_laid_out_as_perl_does_cost_under_16_bytes_each() {
        // Arenas of 170 heads of 24 bytes, as perl 5.36 makes them.
        let arena = |n: u64, slot: u64| 0x5555_0000_0000 + n * 4096 + slot * 24 + 1;
        let mut table = LiveTable::default();
        for n in 0..2000 {
            for slot in 0..170 {
                let record = LiveRecord::new(n as u32, 0, slot as u32);
                assert_eq!(table.insert(arena(n, slot), record), None);
            }
        }
        assert_eq!(table.len(), 340_000);
        assert_eq!(table.sv_spilled, 0);
        assert!(
            table.heap_bytes() <= 16 * table.len(),
            "{}",
            table.heap_bytes()
        );
        assert_eq!(
            table.get(&arena(1999, 169)),
            Some(LiveRecord::new(1999, 0, 169))
        );

        // All but one arena freed: the empty pages are swept out, and made
        // again (from the pages given back) when perl reuses the arenas.
        for n in 1..2000 {
            for slot in 0..170 {
                assert!(table.remove(&arena(n, slot)).is_some());
            }
        }
        assert_eq!(table.len(), 170);
        assert!(
            table.sv_heads.pages() <= 2 + 64,
            "{}",
            table.sv_heads.pages()
        );
        let bytes_after_freeing = table.heap_bytes();
        for slot in 0..170 {
            table.insert(arena(7, slot), LiveRecord::new(7, 0, 1));
        }
        assert_eq!(table.len(), 340);
        assert_eq!(table.heap_bytes(), bytes_after_freeing);
        assert_eq!(table.iter().filter(|(_, r)| r.site == 7).count(), 170);
        let mut keys: Vec<u64> = table.keys().collect();
        keys.sort_unstable();
        let mut expected: Vec<u64> = (0..170).flat_map(|s| [arena(0, s), arena(7, s)]).collect();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn keys_separate_kinds() {
        assert_ne!(live_key(Kind::Sv, 0x1000), live_key(Kind::Mem, 0x1000));
        assert_eq!(split_key(live_key(Kind::Sv, 0x1000)), (Kind::Sv, 0x1000));
        assert_eq!(split_key(live_key(Kind::Mem, 0x1000)), (Kind::Mem, 0x1000));
    }
}

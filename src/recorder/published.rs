//! Which addresses the solo thread has published allocations at: a bit
//! filter that lets it drop frees of addresses it never recorded.
//!
//! Perl frees many buffers it allocated without logging (PV buffers grown by
//! `sv_grow` come from `safemalloc`), so a third of the frees in string-heavy
//! code are of unknown addresses. Each would cross the ring and miss in the
//! live table. While one thread records, every recorded allocation of the
//! process was published by it, so a free whose address has no bit here is
//! certainly unknown. Bits are never cleared between rebuilds (false
//! positives only cost a publish); `rebuild` resets the filter to what is
//! live when it has filled up, first growing it so that what is live fills
//! at most an eighth of it (else a large live heap would leave it crowded
//! right after every rebuild, and every checkpoint would rebuild it).

/// 4 KB to start with: every free of an unknown address reads one word at
/// a random place of the filter, so a filter larger than it needs to be
/// pushes the traced program's own data out of the first-level cache (at
/// 128 KB it was one miss in three such frees on the churn benchmark).
/// A program that publishes more grows it at the next rebuild.
const MIN_BITS_LOG2: u32 = 15;

pub struct PublishedAllocations {
    words: Box<[u64]>,
    set: usize,
    /// log2 of the number of bits.
    bits_log2: u32,
}

impl Default for PublishedAllocations {
    fn default() -> Self {
        PublishedAllocations::with_bits_log2(MIN_BITS_LOG2)
    }
}

impl PublishedAllocations {
    fn with_bits_log2(bits_log2: u32) -> Self {
        PublishedAllocations {
            words: vec![0; (1usize << bits_log2) / 64].into_boxed_slice(),
            set: 0,
            bits_log2,
        }
    }

    #[inline(always)]
    fn bit_of(&self, addr: usize) -> usize {
        ((addr as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits_log2)) as usize
    }

    #[inline]
    pub fn insert(&mut self, addr: usize) {
        let bit = self.bit_of(addr);
        let word = &mut self.words[bit / 64];
        let mask = 1 << (bit % 64);
        if *word & mask == 0 {
            *word |= mask;
            self.set += 1;
        }
    }

    #[inline]
    pub fn may_contain(&self, addr: usize) -> bool {
        let bit = self.bit_of(addr);
        self.words[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// A quarter of the bits set: false positives start to cost.
    pub fn is_crowded(&self) -> bool {
        self.set > (1 << self.bits_log2) / 4
    }

    /// Start again from the addresses of the `count` allocations live now.
    pub fn rebuild(&mut self, count: usize, live: impl Iterator<Item = usize>) {
        let mut bits_log2 = self.bits_log2;
        while count > (1 << bits_log2) / 8 {
            bits_log2 += 1;
        }
        if bits_log2 != self.bits_log2 {
            *self = PublishedAllocations::with_bits_log2(bits_log2);
        } else {
            self.words.fill(0);
            self.set = 0;
        }
        for addr in live {
            self.insert(addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_addresses_are_always_found() {
        let mut f = PublishedAllocations::with_bits_log2(20);
        let addrs: Vec<usize> = (0..100_000).map(|i| 0x5555_0000_0000 + i * 48).collect();
        addrs.iter().for_each(|&a| f.insert(a));
        assert!(addrs.iter().all(|&a| f.may_contain(a)));
        let strangers = (0..100_000)
            .filter(|i| f.may_contain(0x7777_0000_0000 + i * 48))
            .count();
        assert!(strangers < 20_000, "{strangers} false positives of 100000");
    }

    #[test]
    fn rebuild_keeps_only_what_is_live() {
        let mut f = PublishedAllocations::default();
        f.insert(0x1000);
        f.rebuild(1, [0x2000].into_iter());
        assert!(f.may_contain(0x2000));
        assert!(!f.may_contain(0x1000));
        assert!(!f.is_crowded());
    }

    #[test]
    fn a_large_live_set_grows_the_filter_so_it_is_not_crowded_again() {
        let mut f = PublishedAllocations::default();
        let live: Vec<usize> = (0..400_000).map(|i| 0x5555_0000_0000 + i * 48).collect();
        live.iter().for_each(|&a| f.insert(a));
        assert!(f.is_crowded());
        f.rebuild(live.len(), live.iter().copied());
        assert!(!f.is_crowded());
        assert!(live.iter().all(|&a| f.may_contain(a)));
    }
}

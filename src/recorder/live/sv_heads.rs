//! Live SV heads, kept in the shape of perl's own SV arenas.
//!
//! perl hands out SV heads from arenas of contiguous 24-byte slots and
//! takes back freed ones last in, first out, so the heads a program makes
//! one after another are mostly neighbours in memory, and so are the heads
//! it frees together. A hashed table scatters neighbours over all of
//! itself: once it outgrows the caches, every head made or freed costs a
//! miss (on bigheap, where a pass makes and frees 80,000 heads, the SV
//! heads cost the recorder more than all else it does there). This table
//! keeps one word for every 16 bytes of each 4 KiB page that holds a live
//! head, so neighbouring heads share cache lines here as they do in perl.
//!
//! A page's words are found through a directory (open addressing, page
//! number to words) of 16 bytes per page, which stays in cache: bigheap's
//! 800,000 live heads fill about 9,500 pages (19 MB of words, 24 bytes a
//! head), and their directory is 256 KiB.
//!
//! A word holds where in its 16 bytes the head starts, its site and its
//! iteration. Two heads cannot start in the same 16 bytes (a head is 24
//! bytes), so a word never has to choose; what a word cannot hold (a
//! second head there all the same, a size, an address at or past 2^48 or
//! in the first page) is
//! refused, and the caller keeps it elsewhere.
//!
//! Pages whose heads have all gone stay, ready for the next (perl reuses
//! its arena slots), until they outnumber the pages in use; then they are
//! swept out of the directory and their words kept for the next pages.
//! The directory so holds at most twice the pages that have live heads
//! (plus 64). The words are not returned to the system: the table's memory
//! is that of the most pages it held at once, 2 KiB for each 4 KiB page
//! that held a live head, so it never outgrows perl's own SV arenas (which
//! perl does not free either). Where long-lived heads lie scattered, one
//! to a page, that is 2 KiB a head, where the hashed table takes 32 to 47
//! bytes.

use super::zeroed::{AllZeroValid, Zeroed};
use super::{is_sv_key, mix, LiveRecord, ITERATION_MAX};

/// Page size the table follows (the smallest page of every platform here).
const PAGE_BITS: u32 = 12;
/// One word per 16 bytes.
const GRANULE_BITS: u32 = 4;
const WORDS_PER_PAGE: usize = 1 << (PAGE_BITS - GRANULE_BITS);
/// Keys at or past this are refused (the directory packs page numbers).
const KEY_LIMIT: u64 = 1 << 48;

/// A word: bits 0..4 the key's low four bits (odd: an SV key has bit 0
/// set, so a used word is never 0), 8..32 the iteration, 32..64 the site.
const TAG_MASK: u64 = 0xf;
const ITERATION_SHIFT: u32 = 8;
const SITE_SHIFT: u32 = 32;

#[inline(always)]
fn pack(key: u64, record: &LiveRecord) -> u64 {
    key & TAG_MASK
        | (record.iteration() as u64) << ITERATION_SHIFT
        | (record.site as u64) << SITE_SHIFT
}

#[inline(always)]
fn unpack(word: u64) -> LiveRecord {
    let iteration = (word >> ITERATION_SHIFT) as u32 & ITERATION_MAX;
    LiveRecord::new((word >> SITE_SHIFT) as u32, 0, iteration)
}

/// One directory entry: a page number (0: no entry; no head lives in the
/// first page of memory) with the count of its live heads, and its words.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct PageEntry {
    /// Bits 0..40 the page number, 40..64 the live heads in it.
    page_and_count: u64,
    words: *mut u64,
}

const PAGE_NUMBER_MASK: u64 = (1 << 40) - 1;
const COUNT_ONE: u64 = 1 << 40;

impl PageEntry {
    #[inline(always)]
    fn page(&self) -> u64 {
        self.page_and_count & PAGE_NUMBER_MASK
    }

    #[inline(always)]
    fn count(&self) -> u64 {
        self.page_and_count >> 40
    }
}

// SAFETY: integers and a null pointer.
unsafe impl AllZeroValid for PageEntry {}
// SAFETY: `words` points into the pool of the `SvHeads` that holds the
// entry, and is used only through it.
unsafe impl Send for PageEntry {}
unsafe impl Sync for PageEntry {}

/// The live SV heads (see the module's documentation).
pub struct SvHeads {
    directory: Zeroed<PageEntry>,
    /// `64 - log2(directory.len())`: the home entry is the hash's top bits.
    shift: u32,
    /// Entries in the directory, with live heads or none.
    pages: usize,
    /// Entries in the directory with no live heads.
    empty_pages: usize,
    /// Live heads.
    len: usize,
    pool: WordPool,
}

impl Default for SvHeads {
    fn default() -> Self {
        SvHeads {
            directory: Zeroed::none(),
            shift: 63,
            pages: 0,
            empty_pages: 0,
            len: 0,
            pool: WordPool::default(),
        }
    }
}

impl SvHeads {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Pages in the directory, with live heads or none.
    #[cfg(test)]
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Bytes held: the directory and every page of words made.
    pub fn heap_bytes(&self) -> usize {
        self.directory.bytes() + self.pool.bytes()
    }

    /// The page `key` is in, if this table can hold keys there: not at or
    /// past 2^48 (the directory packs page numbers), not in the first page
    /// (page number 0 marks a free directory entry).
    #[inline(always)]
    fn page(key: u64) -> Option<u64> {
        let page = key >> PAGE_BITS;
        (page != 0 && key < KEY_LIMIT).then_some(page)
    }

    #[inline(always)]
    fn granule(key: u64) -> usize {
        (key as usize >> GRANULE_BITS) & (WORDS_PER_PAGE - 1)
    }

    #[inline(always)]
    fn home(&self, page: u64) -> usize {
        (mix(page) >> self.shift) as usize
    }

    /// The directory entry of `page`, if it has one.
    #[inline(always)]
    fn find(&self, page: u64) -> Option<usize> {
        if self.pages == 0 {
            return None;
        }
        let mask = self.directory.len() - 1;
        let mut i = self.home(page);
        loop {
            // SAFETY: `& mask` keeps `i` below the length (a power of two).
            let entry = unsafe { self.directory.get_unchecked(i) };
            if entry.page() == page {
                return Some(i);
            }
            if entry.page() == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The word `key` would have, if its page has words.
    #[inline(always)]
    fn word(&self, key: u64) -> Option<*mut u64> {
        let entry = self.directory[self.find(Self::page(key)?)?];
        // SAFETY: a page's words are `WORDS_PER_PAGE` long.
        Some(unsafe { entry.words.add(Self::granule(key)) })
    }

    /// Start loading the word of `key` (see `LiveTable::prefetch`). Not
    /// only a hint: it looks the page up in the directory (loads that
    /// mostly hit the cache), then prefetches the word.
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(word) = self.word(key) {
            // SAFETY: a prefetch only hints the cache; it reads nothing.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    word as *const i8,
                );
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    pub fn get(&self, key: u64) -> Option<LiveRecord> {
        // SAFETY: the word is in a page of this table's pool.
        let word = unsafe { *self.word(key)? };
        // An empty word's tag, 0, is no key's (an SV key's is odd).
        (word & TAG_MASK == key & TAG_MASK).then(|| unpack(word))
    }

    /// Insert or replace: `Ok` with the replaced record, if any; `Err` if
    /// this table cannot hold `key` with `record` (nothing changed then).
    #[inline(always)]
    pub fn insert(&mut self, key: u64, record: LiveRecord) -> Result<Option<LiveRecord>, ()> {
        let Some(page) = Self::page(key).filter(|_| is_sv_key(key) && record.size() == 0) else {
            return Err(());
        };
        let entry = match self.find(page) {
            Some(i) => i,
            None => self.add_page(page),
        };
        let words = self.directory[entry].words;
        // SAFETY: a page's words are `WORDS_PER_PAGE` long, ours alone.
        let word = unsafe { &mut *words.add(Self::granule(key)) };
        if *word == 0 {
            *word = pack(key, &record);
            let entry = &mut self.directory[entry];
            if entry.count() == 0 {
                self.empty_pages -= 1;
            }
            entry.page_and_count += COUNT_ONE;
            self.len += 1;
            Ok(None)
        } else if *word & TAG_MASK == key & TAG_MASK {
            Ok(Some(unpack(std::mem::replace(word, pack(key, &record)))))
        } else {
            Err(())
        }
    }

    /// Remove `key`; its record, if this table held it.
    #[inline(always)]
    pub fn remove(&mut self, key: u64) -> Option<LiveRecord> {
        let entry = self.find(Self::page(key)?)?;
        let words = self.directory[entry].words;
        // SAFETY: as in `insert`.
        let word = unsafe { &mut *words.add(Self::granule(key)) };
        if *word == 0 || *word & TAG_MASK != key & TAG_MASK {
            return None;
        }
        let record = unpack(std::mem::replace(word, 0));
        self.len -= 1;
        let entry = &mut self.directory[entry];
        entry.page_and_count -= COUNT_ONE;
        if entry.count() == 0 {
            self.empty_pages += 1;
            if self.empty_pages > 64 && self.empty_pages * 2 > self.pages {
                self.sweep();
            }
        }
        Some(record)
    }

    /// Give `page` an entry and zeroed words; the entry's index.
    #[cold]
    #[inline(never)]
    fn add_page(&mut self, page: u64) -> usize {
        // Grown past 5/8 full, to keep probes short.
        if (self.pages + 1) * 8 > self.directory.len() * 5 {
            self.rebuild((self.pages + 1) * 2, Keep::Every);
        }
        let mask = self.directory.len() - 1;
        let mut i = self.home(page);
        while self.directory[i].page() != 0 {
            i = (i + 1) & mask;
        }
        self.directory[i] = PageEntry {
            page_and_count: page,
            words: self.pool.take(),
        };
        self.pages += 1;
        self.empty_pages += 1;
        i
    }

    /// Drop the pages with no live heads (their words, all zero again, go
    /// back to the pool).
    #[cold]
    #[inline(never)]
    fn sweep(&mut self) {
        for entry in self
            .directory
            .iter()
            .filter(|e| e.page() != 0 && e.count() == 0)
        {
            self.pool.give_back(entry.words);
        }
        self.pages -= self.empty_pages;
        self.empty_pages = 0;
        self.rebuild(self.pages * 2, Keep::InUse);
    }

    /// A new directory of at least `min_len` entries (64 or more), with
    /// the entries `keep` says.
    fn rebuild(&mut self, min_len: usize, keep: Keep) {
        let len = min_len.max(64).next_power_of_two();
        let old = std::mem::replace(&mut self.directory, Zeroed::new(len));
        self.shift = 64 - len.trailing_zeros();
        let mask = len - 1;
        for entry in old.iter().filter(|e| match keep {
            Keep::Every => e.page() != 0,
            Keep::InUse => e.count() > 0,
        }) {
            let mut i = self.home(entry.page());
            while self.directory[i].page() != 0 {
                i = (i + 1) & mask;
            }
            self.directory[i] = *entry;
        }
    }

    /// Every (key, record), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, LiveRecord)> + '_ {
        self.directory
            .iter()
            .filter(|e| e.count() > 0)
            .flat_map(|e| {
                // SAFETY: a page's words are `WORDS_PER_PAGE` long.
                let words = unsafe { std::slice::from_raw_parts(e.words, WORDS_PER_PAGE) };
                let page_start = e.page() << PAGE_BITS;
                words
                    .iter()
                    .enumerate()
                    .filter(|(_, &w)| w != 0)
                    .map(move |(g, &w)| {
                        let key = page_start | (g as u64) << GRANULE_BITS | w & TAG_MASK;
                        (key, unpack(w))
                    })
            })
    }
}

/// Which directory entries a rebuild keeps.
enum Keep {
    /// Every page with words, live heads or not.
    Every,
    /// Only pages with live heads.
    InUse,
}

/// Pages of words, made in chunks (mapped on their own from 128 KiB, see
/// [`Zeroed`]) and reused once given back; never returned to the system
/// before the table goes.
///
/// Pages are handed out as raw pointers made once per chunk: a slice of a
/// whole chunk, made after a page of it is out, would invalidate the
/// pointers already handed out.
struct WordPool {
    chunks: Vec<Zeroed<u64>>,
    /// The next page of the last chunk not handed out yet, and how many
    /// such pages are left.
    next: *mut u64,
    fresh: usize,
    /// Pages given back (all their words zero), to hand out first.
    given_back: Vec<*mut u64>,
}

// SAFETY: the pool owns the memory its pointers point into.
unsafe impl Send for WordPool {}
unsafe impl Sync for WordPool {}

impl Default for WordPool {
    fn default() -> Self {
        WordPool {
            chunks: Vec::new(),
            next: std::ptr::null_mut(),
            fresh: 0,
            given_back: Vec::new(),
        }
    }
}

impl WordPool {
    /// Pages per chunk: 8 for the first, doubling to 64 (128 KiB).
    fn next_chunk_pages(&self) -> usize {
        8 << self.chunks.len().min(3)
    }

    fn take(&mut self) -> *mut u64 {
        if let Some(words) = self.given_back.pop() {
            return words;
        }
        if self.fresh == 0 {
            let pages = self.next_chunk_pages();
            let chunk = Zeroed::new(pages * WORDS_PER_PAGE);
            self.next = chunk.as_raw();
            self.chunks.push(chunk);
            self.fresh = pages;
        }
        let words = self.next;
        self.fresh -= 1;
        // SAFETY: within the chunk, or one page past its end once it is
        // all handed out (then not used: the next take makes a chunk).
        self.next = unsafe { words.add(WORDS_PER_PAGE) };
        words
    }

    fn give_back(&mut self, words: *mut u64) {
        self.given_back.push(words);
    }

    fn bytes(&self) -> usize {
        self.chunks.iter().map(Zeroed::bytes).sum::<usize>()
            + self.given_back.capacity() * std::mem::size_of::<*mut u64>()
    }
}

//! Live records per iteration made in, for the `new_leaks` of a
//! checkpoint, in memory proportional to what is live.
//!
//! A plain vector indexed by iteration grew by 8 bytes a checkpoint for
//! ever. Records are added almost only to the open iteration, so the
//! latest iterations stay in a vector (the aggregator's per-event path is
//! an index); older ones move to a map that keeps only the iterations that
//! still have live records.

use std::collections::BTreeMap;

/// Iterations kept in the vector before the older half moves to the map.
const WINDOW: usize = 1024;

pub struct LiveByIteration {
    /// The iteration `recent[0]` counts.
    base: u32,
    recent: Vec<u64>,
    /// Iterations before `base` with live records.
    older: BTreeMap<u32, u64>,
}

impl Default for LiveByIteration {
    fn default() -> Self {
        LiveByIteration {
            base: 0,
            recent: vec![0],
            older: BTreeMap::new(),
        }
    }
}

impl LiveByIteration {
    #[inline(always)]
    pub fn add(&mut self, iteration: u32) {
        match iteration.checked_sub(self.base) {
            Some(i) => self.recent[i as usize] += 1,
            None => *self.older.entry(iteration).or_insert(0) += 1,
        }
    }

    #[inline(always)]
    pub fn remove(&mut self, iteration: u32) {
        match iteration.checked_sub(self.base) {
            Some(i) => self.recent[i as usize] -= 1,
            None => self.remove_older(iteration),
        }
    }

    #[cold]
    fn remove_older(&mut self, iteration: u32) {
        if let Some(count) = self.older.get_mut(&iteration) {
            *count -= 1;
            if *count == 0 {
                self.older.remove(&iteration);
            }
        }
    }

    pub fn get(&self, iteration: u32) -> u64 {
        match iteration.checked_sub(self.base) {
            Some(i) => self.recent.get(i as usize).copied().unwrap_or(0),
            None => self.older.get(&iteration).copied().unwrap_or(0),
        }
    }

    /// A new iteration opens (it must be the next one).
    pub fn open(&mut self, iteration: u32) {
        debug_assert_eq!(iteration, self.base + self.recent.len() as u32);
        self.recent.push(0);
        if self.recent.len() >= 2 * WINDOW {
            for (i, count) in self.recent.drain(..WINDOW).enumerate() {
                if count > 0 {
                    self.older.insert(self.base + i as u32, count);
                }
            }
            self.base += WINDOW as u32;
        }
    }

    /// Entries held (for tests: proportional to what is live).
    pub fn entries(&self) -> usize {
        self.recent.len() + self.older.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_the_move_to_the_map_and_empty_iterations_go() {
        let mut c = LiveByIteration::default();
        c.add(0);
        c.add(0);
        for iteration in 1..=100_000u32 {
            c.open(iteration);
            c.add(iteration);
            if iteration != 5 {
                c.remove(iteration);
            }
        }
        assert_eq!((c.get(0), c.get(5), c.get(6)), (2, 1, 0));
        assert!(c.entries() < 2 * WINDOW + 3, "{}", c.entries());
        c.remove(5);
        c.remove(0);
        assert_eq!((c.get(0), c.get(5)), (1, 0));
        c.add(100_000);
        assert_eq!(c.get(100_000), 1);
    }
}

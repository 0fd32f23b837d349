//! Which live allocations count as leaks.

/// A leak is a live record made in iteration `i >= 1 + skip` that has
/// stayed live through at least `min_age` later checkpoints. Iteration 0 is
/// everything before the first checkpoint (start-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LeakRule {
    /// Iterations after iteration 0 to ignore as warm-up.
    pub skip: u32,
    /// Later checkpoints an allocation must survive.
    pub min_age: u32,
}

impl Default for LeakRule {
    fn default() -> Self {
        LeakRule {
            skip: 0,
            min_age: 2,
        }
    }
}

impl LeakRule {
    /// The range of iterations whose survivors are leaks once `closed`
    /// iterations (0..closed) have been closed, or None if there is none.
    pub fn eligible(&self, closed: u32) -> Option<(u32, u32)> {
        let first = 1 + self.skip as u64;
        let last = closed as i64 - 1 - self.min_age as i64;
        if last < first as i64 {
            None
        } else {
            Some((first as u32, last as u32))
        }
    }

    /// Whether a record made in `iteration` is a leak once `closed`
    /// iterations have been closed (permanent pools aside).
    pub fn is_leak(&self, iteration: u32, closed: u32) -> bool {
        self.eligible(closed)
            .is_some_and(|(first, last)| (first..=last).contains(&iteration))
    }

    /// How many closed iterations the first leak needs.
    pub fn iterations_needed(&self) -> u32 {
        1 + self.skip + self.min_age + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eligible_range_follows_skip_and_min_age() {
        let rule = LeakRule {
            skip: 0,
            min_age: 2,
        };
        assert_eq!(rule.eligible(3), None); // 0,1,2 closed: 1 has age 1
        assert_eq!(rule.eligible(4), Some((1, 1)));
        assert_eq!(rule.iterations_needed(), 4);
        let rule = LeakRule {
            skip: 2,
            min_age: 1,
        };
        assert_eq!(rule.eligible(5), Some((3, 3)));
        assert!(rule.is_leak(3, 5));
        assert!(!rule.is_leak(4, 5));
        assert!(!rule.is_leak(2, 5));
    }
}

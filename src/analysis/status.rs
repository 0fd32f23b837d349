//! Is a leak site still leaking?

/// How a leak site's per-iteration counts behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Leaked in every eligible iteration since its first leak, and in each
    /// of the recent ones: the classic steady leak.
    Steady,
    /// Still leaking in the recent iterations, but not in every iteration.
    Intermittent,
    /// Nothing leaked in the recent iterations: one-time retention (a cache
    /// filled during warm-up, lazily built state) that stopped growing.
    Stopped,
}

/// How many of the latest eligible iterations decide whether a site is
/// still leaking. Warm-up retention is told apart once it has been quiet for
/// this many iterations.
pub const RECENT_ITERATIONS: usize = 3;

impl Status {
    /// The name users see (`status` of a leak site).
    pub fn name(self) -> &'static str {
        match self {
            Status::Steady => "steady",
            Status::Intermittent => "intermittent",
            Status::Stopped => "stopped",
        }
    }

    /// Every status, and the names `leak_sites(status => ...)` also takes.
    pub const NAMES: [&'static str; 5] = ["steady", "intermittent", "stopped", "ongoing", "all"];

    /// Classify counts per eligible iteration, oldest first.
    ///
    /// A site has stopped when it has been quiet for at least
    /// [`RECENT_ITERATIONS`] iterations *and* for longer than any gap it
    /// ever left between two leaks: a cache filled during warm-up goes
    /// quiet for good, but a leak every 5th iteration is quiet for 4
    /// iterations at a time and has not stopped. (So any period is told
    /// apart once it has been seen twice, which takes two leaks.)
    pub fn classify(per_iteration: &[u64]) -> Status {
        let leaking: Vec<usize> = (0..per_iteration.len())
            .filter(|&i| per_iteration[i] > 0)
            .collect();
        let (Some(&first), Some(&last)) = (leaking.first(), leaking.last()) else {
            return Status::Stopped;
        };
        let quiet = per_iteration.len() - 1 - last;
        let longest_gap = leaking.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        if quiet >= RECENT_ITERATIONS && quiet >= longest_gap {
            return Status::Stopped;
        }
        let recent = RECENT_ITERATIONS.min(per_iteration.len());
        let tail = &per_iteration[per_iteration.len() - recent..];
        let unbroken = per_iteration[first..].iter().all(|&c| c > 0);
        // Steady takes a run through all the recent iterations: something
        // retained once, in the latest iteration, is not yet a steady leak.
        if unbroken && tail.iter().all(|&c| c > 0) {
            Status::Steady
        } else {
            Status::Intermittent
        }
    }

    /// The number of iterations between leaks when a site leaks at a
    /// regular rhythm (at least three times, every gap within one
    /// iteration of the others, more than one iteration apart), else None.
    pub fn period(per_iteration: &[u64]) -> Option<u32> {
        let leaking: Vec<usize> = (0..per_iteration.len())
            .filter(|&i| per_iteration[i] > 0)
            .collect();
        let gaps: Vec<usize> = leaking.windows(2).map(|w| w[1] - w[0]).collect();
        let (shortest, longest) = (*gaps.iter().min()?, *gaps.iter().max()?);
        if gaps.len() < 2 || longest - shortest > 1 || shortest < 2 {
            return None;
        }
        // The rounded mean: with timer-driven iterations a period of 5
        // comes out as gaps of 5 and 6 or 4 and 5.
        let mean = (leaking[leaking.len() - 1] - leaking[0]) as f64 / gaps.len() as f64;
        Some(mean.round() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaking_every_iteration_is_steady_even_after_a_warm_up_burst() {
        assert_eq!(Status::classify(&[40, 1, 1, 1, 1, 1]), Status::Steady);
        assert_eq!(Status::classify(&[0, 0, 2, 2, 2]), Status::Steady);
    }

    #[test]
    fn a_cache_that_filled_and_stopped_is_stopped() {
        assert_eq!(Status::classify(&[50, 10, 2, 0, 0, 0]), Status::Stopped);
    }

    #[test]
    fn gaps_with_recent_leaks_are_intermittent() {
        assert_eq!(Status::classify(&[1, 0, 1, 0, 1, 0]), Status::Intermittent);
        assert_eq!(Status::classify(&[1, 1, 0, 0, 1]), Status::Intermittent);
    }

    #[test]
    fn something_retained_once_in_the_latest_iteration_is_not_steady() {
        assert_eq!(
            Status::classify(&[0, 0, 0, 0, 0, 0, 1]),
            Status::Intermittent
        );
        assert_eq!(
            Status::classify(&[0, 0, 0, 0, 0, 1, 1]),
            Status::Intermittent
        );
        assert_eq!(Status::classify(&[0, 0, 0, 0, 1, 1, 1]), Status::Steady);
    }

    #[test]
    fn a_leak_every_fifth_iteration_has_not_stopped_between_leaks() {
        // Quiet for 4 iterations after its last leak, as every time before.
        let mut every_fifth = vec![0u64; 49];
        for i in (4..49).step_by(5) {
            every_fifth[i] = 1;
        }
        assert_eq!(Status::classify(&every_fifth), Status::Intermittent);
        assert_eq!(Status::period(&every_fifth), Some(5));
        // ... until it is quiet for longer than its period.
        every_fifth.extend([0; 6]);
        assert_eq!(Status::classify(&every_fifth), Status::Stopped);
    }

    #[test]
    fn any_period_seen_twice_is_told_apart_from_a_cache_that_filled() {
        for period in 2..=20usize {
            let mut periodic = vec![0u64; 100];
            for i in (0..100).step_by(period) {
                periodic[i] = 2;
            }
            let len = periodic.len() - periodic.iter().rev().position(|&c| c > 0).unwrap();
            // Cut anywhere from just after a leak to just before the next.
            for cut in len..(len + period - 1).min(100) {
                assert_ne!(
                    Status::classify(&periodic[..cut]),
                    Status::Stopped,
                    "period {period}, cut {cut}"
                );
            }
            assert_eq!(Status::period(&periodic), Some(period as u32));
        }
        // A cache filled in bursts with gaps, then quiet for longer: stopped.
        assert_eq!(
            Status::classify(&[5, 0, 3, 0, 0, 1, 0, 0, 0, 0]),
            Status::Stopped
        );
    }

    #[test]
    fn irregular_or_every_iteration_leaks_have_no_period() {
        assert_eq!(Status::period(&[1, 1, 1, 1]), None);
        assert_eq!(Status::period(&[1, 0, 1, 0, 0, 0, 0, 1]), None);
        assert_eq!(
            Status::period(&[1, 0, 0, 1]),
            None,
            "one gap is no rhythm yet"
        );
        assert_eq!(
            Status::period(&[1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1]),
            Some(4)
        );
    }

    #[test]
    fn a_single_eligible_iteration_with_leaks_is_steady() {
        assert_eq!(Status::classify(&[3]), Status::Steady);
        assert_eq!(Status::classify(&[0]), Status::Stopped);
    }
}

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
    pub fn classify(per_iteration: &[u64]) -> Status {
        let recent = RECENT_ITERATIONS.min(per_iteration.len());
        let tail = &per_iteration[per_iteration.len() - recent..];
        if tail.iter().all(|&c| c == 0) {
            return Status::Stopped;
        }
        let first = per_iteration.iter().position(|&c| c > 0).unwrap_or(0);
        let unbroken = per_iteration[first..].iter().all(|&c| c > 0);
        // Steady takes a run through all the recent iterations: something
        // retained once, in the latest iteration, is not yet a steady leak.
        if unbroken && tail.iter().all(|&c| c > 0) {
            Status::Steady
        } else {
            Status::Intermittent
        }
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
    fn a_single_eligible_iteration_with_leaks_is_steady() {
        assert_eq!(Status::classify(&[3]), Status::Steady);
        assert_eq!(Status::classify(&[0]), Status::Stopped);
    }
}

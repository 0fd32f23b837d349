//! The checkpoints' snapshots, kept in bounded memory.
//!
//! A program that checkpoints once a request makes millions of them; one
//! snapshot each grew the process by ~80 bytes a checkpoint for ever (86.7
//! MB after a million, and `history()` then built 741 MB of perl hashes).
//! The latest [`RECENT`] snapshots are kept whole; older ones are thinned
//! whenever the history reaches [`MAX`], dropping every other one of them
//! (iteration 0 stays), so the older a stretch is, the sparser it gets.
//! Each kept snapshot still says its own iteration and its own changes.

use memtrace_format::Snapshot;

/// Snapshots kept whole, the latest ones.
pub const RECENT: usize = 4096;
/// Snapshots kept at most.
pub const MAX: usize = 2 * RECENT;

#[derive(Default)]
pub struct History {
    kept: Vec<Snapshot>,
}

impl History {
    pub fn push(&mut self, snapshot: Snapshot) {
        if self.kept.len() >= MAX {
            self.thin();
        }
        self.kept.push(snapshot);
    }

    /// Drop every other snapshot older than the latest [`RECENT`],
    /// keeping the first.
    fn thin(&mut self) {
        let older = self.kept.len() - RECENT;
        let mut index = 0;
        self.kept.retain(|_| {
            let keep = index >= older || index % 2 == 0;
            index += 1;
            keep
        });
    }

    pub fn last(&self) -> Option<&Snapshot> {
        self.kept.last()
    }

    /// The kept snapshots, oldest first.
    pub fn snapshots(&self) -> &[Snapshot] {
        &self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closing(iteration: u32) -> Snapshot {
        Snapshot {
            iteration,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_million_checkpoints_keep_at_most_max_snapshots_and_every_recent_one() {
        let mut h = History::default();
        for i in 0..1_000_000 {
            h.push(closing(i));
        }
        let kept = h.snapshots();
        assert!(kept.len() <= MAX, "{}", kept.len());
        assert_eq!(kept[0].iteration, 0, "iteration 0 stays");
        let tail = &kept[kept.len() - RECENT..];
        assert!(tail
            .windows(2)
            .all(|w| w[1].iteration == w[0].iteration + 1));
        assert_eq!(h.last().unwrap().iteration, 999_999);
        assert!(kept.windows(2).all(|w| w[0].iteration < w[1].iteration));
    }

    #[test]
    fn a_short_history_is_kept_whole() {
        let mut h = History::default();
        for i in 0..100 {
            h.push(closing(i));
        }
        assert_eq!(h.snapshots().len(), 100);
    }
}

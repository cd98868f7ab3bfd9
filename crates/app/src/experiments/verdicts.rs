//! The verdicts of ended experiments, remembered: the prompt page shows its
//! newest experiment's verdict in the header, and computing it is a whole
//! comparison (every cell's scores, a bootstrap). An ended experiment
//! changes only by a rescore, which moves its `updated_at`; the cache is
//! keyed on that, read with the experiment on every view, so a rescore on
//! any replica is seen at once.

use std::collections::HashMap;
use std::sync::Mutex;

use promptrefine_core::ExperimentId;
use promptrefine_eval::Verdict;
use time::OffsetDateTime;

/// Verdicts kept at most; past it the cache starts again (one entry per
/// prompt that was viewed, and each is cheap to compute once).
const MAX_ENTRIES: usize = 1_024;

#[derive(Debug, Default)]
pub(crate) struct VerdictCache {
    entries: Mutex<HashMap<ExperimentId, (OffsetDateTime, Option<Verdict>)>>,
}

impl VerdictCache {
    /// The verdict remembered for the experiment as it was at `updated_at`.
    pub(crate) fn get(
        &self,
        id: ExperimentId,
        updated_at: OffsetDateTime,
    ) -> Option<Option<Verdict>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&id)
            .filter(|(at, _)| *at == updated_at)
            .map(|(_, v)| *v)
    }

    pub(crate) fn put(
        &self,
        id: ExperimentId,
        updated_at: OffsetDateTime,
        verdict: Option<Verdict>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&id) {
            entries.clear();
        }
        entries.insert(id, (updated_at, verdict));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn a_verdict_is_remembered_only_for_the_same_revision() {
        let cache = VerdictCache::default();
        let id = ExperimentId::new();
        let at = OffsetDateTime::now_utc();
        assert_eq!(cache.get(id, at), None);
        cache.put(id, at, Some(Verdict::Better));
        assert_eq!(cache.get(id, at), Some(Some(Verdict::Better)));
        // A rescore moved updated_at: computed again.
        assert_eq!(cache.get(id, at + Duration::milliseconds(1)), None);
        cache.put(id, at, None);
        assert_eq!(cache.get(id, at), Some(None));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = VerdictCache::default();
        let at = OffsetDateTime::now_utc();
        for _ in 0..MAX_ENTRIES + 10 {
            cache.put(ExperimentId::new(), at, None);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}

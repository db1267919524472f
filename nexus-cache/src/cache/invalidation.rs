//! Invalidation: tags and `clear` by timestamp marks, `purge` by deleting.

#[allow(unused_imports)]
use super::*;

impl<V: CacheValue> TieredCache<V> {
    /// Invalidates every entry carrying any of `tags`, in every tier and on every instance, by
    /// timestamp (FusionCache's and HybridCache's design): it records *when* — one small write
    /// per tag in each shared tier, whatever the number of entries — and from then on an entry
    /// created before that mark is a miss. A value whose load was under way during the call is
    /// returned to its caller but not cached.
    ///
    /// This instance's L1 drops the entries at once; with a backplane, so do the other
    /// instances' (they also learn the mark). Without one, the other instances' remote reads see
    /// the mark within [`tag_marks_ttl`](TieredCacheBuilder::tag_marks_ttl) and their L1 copies
    /// live out their TTL. Marks need roughly synchronised clocks (NTP) across instances.
    pub async fn invalidate_tags<I, S>(&self, tags: I) -> Result<(), CacheError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.check_tags(&tags)?;
        let at = now_micros();
        tags.iter().for_each(|t| self.inner.clock.note(t, at));
        let r = self.mark(&tags, at).await;
        self.announce(Op::Tags { tags, at });
        r
    }

    /// Invalidates every entry of this cache the same way: one mark (per shared tier) that makes
    /// every entry created before it a miss. The entries stay in Redis until they expire; use
    /// [`purge`](Self::purge) to give the memory back at once.
    pub async fn clear(&self) -> Result<(), CacheError> {
        let at = now_micros();
        self.inner.clock.note(CLEAR, at);
        let r = self.mark(&[CLEAR.to_owned()], at).await;
        self.announce(Op::Clear { at });
        r
    }

    /// [`clear`](Self::clear), then deletes every key of this cache from every tier (a `SCAN`
    /// of each Redis node: slow on a large store, but only this cache's prefix is touched).
    pub async fn purge(&self) -> Result<(), CacheError> {
        let r = self.clear().await;
        let results = join_all(
            self.inner
                .levels
                .iter()
                .map(|l| async move { (l, l.tier.clear().await) }),
        )
        .await;
        let mut first_err = r.err();
        for (level, r) in results {
            if let Err(e) = r {
                let e = self.tier_err(level, e);
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Records invalidation marks (`CLEAR` for everything) in every tier: L1 drops the entries,
    /// shared tiers store the marks.
    pub(super) async fn mark(&self, tags: &[String], at: u64) -> Result<(), CacheError> {
        let results = join_all(self.inner.levels.iter().map(|l| async move {
            let r = match &l.memory {
                Some(mem) if tags.iter().any(|t| t == CLEAR) => mem.clear().await,
                Some(mem) => mem.invalidate_tags(tags),
                None => l.tier.mark_tags(tags, at).await,
            };
            (l, r)
        }))
        .await;
        let mut first_err = None;
        for (level, r) in results {
            if let Err(e) = r {
                let e = self.tier_err(level, e);
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

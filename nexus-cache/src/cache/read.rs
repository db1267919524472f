//! The read path: L1 fast path, remote tiers in order, tag checks, promotion.

#[allow(unused_imports)]
use super::*;

impl<V: CacheValue> TieredCache<V> {
    /// Reads a value, trying each tier in order and promoting a lower-tier hit upwards.
    ///
    /// Returns `Ok(None)` on a miss. A failing remote tier is skipped; if no tier had the value and
    /// one failed, its error is returned so the caller knows the miss is uncertain.
    ///
    /// The L1 lookup happens when `get` is called; only a miss builds (and boxes) the future that
    /// visits the remote tiers, so an L1 hit costs no more than the lookup.
    pub fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = Result<Option<Arc<V>>, CacheError>> + Send + 'a {
        if let Err(e) = self.check_key(key) {
            return Either::Left(ready(Err(e)));
        }
        self.observe(key);
        if let Some(v) = self.l1_hit(key) {
            return Either::Left(ready(Ok(Some(v))));
        }
        Either::Right(Box::pin(self.get_remote(key)))
    }

    pub(super) async fn get_remote(&self, key: &str) -> Result<Option<Arc<V>>, CacheError> {
        let (found, err) = self.lookup(key, self.first_remote()).await;
        match (found, err) {
            (Some(f), _) => {
                self.promote(key, &f).await;
                Ok(Some(f.value))
            }
            (None, Some(e)) => Err(e),
            (None, None) => Ok(None),
        }
    }

    /// Reads a value or, on a miss in every tier, loads it with `loader` and writes it through all
    /// tiers with their default TTLs. Concurrent callers of the same key share one load.
    pub fn get_or_load<'a, F, Fut, E>(
        &'a self,
        key: &'a str,
        loader: F,
    ) -> impl Future<Output = Result<Arc<V>, CacheError>> + Send + 'a
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<V, E>> + Send + 'a,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'a,
    {
        self.get_or_load_with(key, &NO_OPTIONS, loader)
    }

    /// [`get_or_load`](Self::get_or_load) with a TTL and tags for the loaded value.
    pub fn get_or_load_with<'a, F, Fut, E>(
        &'a self,
        key: &'a str,
        options: &'a EntryOptions,
        loader: F,
    ) -> impl Future<Output = Result<Arc<V>, CacheError>> + Send + 'a
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<V, E>> + Send + 'a,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'a,
    {
        self.read_through(key, options, loader)
    }

    /// [`get_or_load_with`](Self::get_or_load_with) whose loader decides, with the value, how to
    /// cache it: tags and TTL set from inside the loader ([`Loaded`]). A loader that returns a
    /// tag that is empty or too long gets [`CacheError::InvalidTag`] and nothing is cached.
    ///
    /// ```
    /// use nexus_cache::{EntryOptions, Loaded, TieredCache};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), nexus_cache::CacheError> {
    /// let cache: TieredCache<String> = TieredCache::builder().build()?;
    /// let opts = EntryOptions::new();
    /// let name = cache
    ///     .get_or_load_adaptive("user:1", &opts, || async {
    ///         let team = 7; // known only once the row is read
    ///         Ok::<_, std::io::Error>(Loaded::new("Ada".to_string()).tags([format!("team:{team}")]))
    ///     })
    ///     .await?;
    /// assert_eq!(*name, "Ada");
    /// cache.invalidate_tags(["team:7"]).await?;
    /// assert!(cache.get("user:1").await?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn get_or_load_adaptive<'a, F, Fut, E>(
        &'a self,
        key: &'a str,
        options: &'a EntryOptions,
        loader: F,
    ) -> impl Future<Output = Result<Arc<V>, CacheError>> + Send + 'a
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<Loaded<V>, E>> + Send + 'a,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'a,
    {
        self.read_through(key, options, loader)
    }

    /// Tries tiers `from..` in order; returns the first hit and the first error met on the way.
    pub(super) async fn lookup(
        &self,
        key: &str,
        from: usize,
    ) -> (Option<Found<V>>, Option<CacheError>) {
        let mut first_err = None;
        for (i, level) in self.inner.levels.iter().enumerate().skip(from) {
            if level.memory.is_none() && !level.breaker.allows() {
                bump(&level.counters.misses);
                continue;
            }
            let start = quanta::Instant::now();
            let got = level.tier.get(key).await;
            if level.memory.is_none() {
                match &got {
                    Ok(_) | Err(TierError::Corrupt(_)) => level.breaker.success(),
                    Err(_) => level.breaker.failure(),
                }
            }
            level
                .counters
                .get_latency
                .record(start.elapsed().as_nanos() as u64);
            let entry = match got {
                Ok(Some(e)) => e,
                Ok(None) => {
                    bump(&level.counters.misses);
                    continue;
                }
                Err(TierError::Corrupt(why)) => {
                    self.corrupt(level, key, &why).await;
                    continue;
                }
                Err(e) => {
                    let e = self.tier_err(level, e);
                    bump(&level.counters.misses);
                    first_err.get_or_insert(e);
                    continue;
                }
            };
            if level.memory.is_none() && self.outdated(level, &entry).await {
                bump(&level.counters.invalidated);
                bump(&level.counters.misses);
                continue;
            }
            let value = match &entry.value {
                Value::Object(o) => o.clone().downcast::<V>().ok(),
                Value::Bytes(b) => match self.inner.codec.decode::<V>(b) {
                    Ok(v) => Some(Arc::new(v)),
                    Err(e) => {
                        self.corrupt(level, key, &e.to_string()).await;
                        continue;
                    }
                },
            };
            match value {
                Some(value) => {
                    bump(&level.counters.hits);
                    return (
                        Some(Found {
                            value,
                            entry,
                            level: i,
                        }),
                        first_err,
                    );
                }
                None => bump(&level.counters.misses),
            }
        }
        (None, first_err)
    }

    /// Whether an entry read from `level` was created before the mark of one of its tags or of
    /// the last `clear`. Marks the clock does not know are read from `level` (and remembered);
    /// when they cannot be read, the entry is treated as outdated (a miss, never a stale hit).
    pub(super) async fn outdated(&self, level: &Level, entry: &Entry) -> bool {
        let clock = &self.inner.clock;
        let mut unknown = Vec::new();
        for t in std::iter::once(CLEAR).chain(entry.tags.iter().map(String::as_str)) {
            match clock.known(t) {
                Some(mark) if entry.created_at < mark => return true,
                Some(_) => {}
                None => unknown.push(t.to_owned()),
            }
        }
        if unknown.is_empty() {
            return false;
        }
        bump(&level.counters.mark_reads);
        match level.tier.tag_times(&unknown).await {
            Ok(Some(marks)) => {
                let mut stale = false;
                for (t, mark) in unknown.iter().zip(marks) {
                    clock.note(t, mark);
                    stale |= entry.created_at < mark;
                }
                stale
            }
            Ok(None) => false,
            Err(e) => {
                level.breaker.failure();
                self.tier_err(level, e);
                true
            }
        }
    }

    /// Removes an entry just written to L1 if a mark that arrived meanwhile makes it stale (the
    /// backplane records the mark before dropping L1 entries, so one of the two catches it).
    pub(super) fn withdraw_if_stale(
        &self,
        mem: &MemoryTier,
        key: &str,
        created_at: u64,
        tags: &[String],
    ) {
        if self.inner.clock.stale_known(created_at, tags) {
            mem.remove_if_created(key, created_at);
        }
    }

    /// Counts a corrupt entry as a miss and removes it, so it is not read again.
    pub(super) async fn corrupt(&self, level: &Level, key: &str, why: &str) {
        bump(&level.counters.corrupt);
        bump(&level.counters.misses);
        tracing::warn!(cache = %self.inner.name, tier = level.label, key, why, "corrupt entry treated as a miss");
        if let Err(e) = level.tier.delete(key).await {
            self.tier_err(level, e);
        }
    }

    /// Copies a hit from tier N into tiers 1..N-1 with its remaining TTL.
    pub(super) async fn promote(&self, key: &str, found: &Found<V>) {
        let now = now_millis();
        for level in &self.inner.levels[..found.level] {
            let value = if level.tier.is_local() {
                Value::Object(found.value.clone() as Arc<dyn Any + Send + Sync>)
            } else {
                match &found.entry.value {
                    Value::Bytes(b) => Value::Bytes(b.clone()),
                    Value::Object(_) => match self.inner.codec.encode(&*found.value) {
                        Ok(b) => Value::Bytes(b),
                        Err(_) => continue,
                    },
                }
            };
            let mut at = capped(found.entry.expires_at, now, level.tier.default_ttl());
            if level.memory.is_some() {
                at = self.l1_expiry(at, now);
            }
            let entry = Entry {
                value,
                expires_at: at,
                created_at: found.entry.created_at,
                tags: found.entry.tags.clone(),
                size: if level.memory.is_some() {
                    self.held(&found.value)
                } else {
                    found.entry.size
                },
            };
            if entry.expires_at <= now {
                continue;
            }
            if level.memory.is_none() && !level.breaker.allows() {
                continue;
            }
            let start = quanta::Instant::now();
            let r = match &level.memory {
                Some(mem) => {
                    let r = mem.set_now(key, entry);
                    self.withdraw_if_stale(mem, key, found.entry.created_at, &found.entry.tags);
                    r
                }
                None => level.tier.set(key, entry).await,
            };
            let mut ignored = None;
            self.note_set(
                level,
                start,
                r.map_err(|e| self.tier_err(level, e)),
                &mut ignored,
            );
        }
    }

    /// The L1 fast path: synchronous, no decode, no allocation.
    #[inline]
    pub(super) fn l1_hit(&self, key: &str) -> Option<Arc<V>> {
        let level = self.inner.levels.first()?;
        let mem = level.memory.as_ref()?;
        let start = quanta::Instant::now();
        let hit = mem.get_now(key, start).and_then(|s| match s.value {
            Value::Object(o) => o.downcast::<V>().ok(),
            Value::Bytes(_) => None,
        });
        if sampled() {
            level
                .counters
                .get_latency
                .record(start.elapsed().as_nanos() as u64);
        }
        bump(if hit.is_some() {
            &level.counters.hits
        } else {
            &level.counters.misses
        });
        hit
    }

    /// A counted L1 hit with how much of its TTL has passed.
    pub(super) fn l1_hit_aged(&self, key: &str) -> Option<(Arc<V>, f64)> {
        let level = self.inner.levels.first()?;
        let mem = level.memory.as_ref()?;
        let now = quanta::Instant::now();
        let hit = mem.get_now(key, now).and_then(|s| {
            let age = s.age_fraction(now);
            match s.value {
                Value::Object(o) => o.downcast::<V>().ok().map(|v| (v, age)),
                Value::Bytes(_) => None,
            }
        });
        bump(if hit.is_some() {
            &level.counters.hits
        } else {
            &level.counters.misses
        });
        hit
    }

    /// L1 read that is not counted (a re-check inside a single flight).
    pub(super) fn l1_peek(&self, key: &str) -> Option<Arc<V>> {
        let mem = self.inner.levels.first()?.memory.as_ref()?;
        mem.peek_now(key, quanta::Instant::now())
            .and_then(|s| match s.value {
                Value::Object(o) => o.downcast::<V>().ok(),
                Value::Bytes(_) => None,
            })
    }

    /// The L1 copy of `key`, fresh or within the fail-safe window.
    pub(super) fn l1_stale(&self, key: &str) -> Option<Arc<V>> {
        let mem = self.inner.levels.first()?.memory.as_ref()?;
        mem.get_stale(key, quanta::Instant::now())
            .and_then(|s| match s.value {
                Value::Object(o) => o.downcast::<V>().ok(),
                Value::Bytes(_) => None,
            })
    }

    /// An L1 expiry, capped while the backplane is down.
    pub(super) fn l1_expiry(&self, expires_at: u64, now: u64) -> u64 {
        match &self.inner.link {
            Some(link) if link.degraded.load(std::sync::atomic::Ordering::Relaxed) => {
                expires_at.min(now.saturating_add(link.degraded_ttl_ms))
            }
            _ => expires_at,
        }
    }
}

//! The write path: write-through to every tier (largest value refused before any write),
//! delete, warming and preloading.

#[allow(unused_imports)]
use super::*;

impl<V: CacheValue> TieredCache<V> {
    /// Writes a value through every tier (L1 synchronously, remote tiers concurrently) with each
    /// tier's default TTL.
    pub async fn set(&self, key: &str, value: V) -> Result<(), CacheError> {
        self.set_with(key, value, &EntryOptions::default()).await
    }

    /// Writes a value with a TTL and tags.
    ///
    /// A value too large for any tier is refused before anything is written. A remote tier that
    /// fails returns [`CacheError::Tier`] after the others (and L1) were written.
    pub async fn set_with(
        &self,
        key: &str,
        value: V,
        options: &EntryOptions,
    ) -> Result<(), CacheError> {
        self.check_key(key)?;
        self.check_tags(&options.tags)?;
        let r = self
            .write(key, Arc::new(value), options, now_micros())
            .await;
        self.announce(Op::Set(key.to_owned()));
        r
    }

    /// The bytes `value` holds in memory (the weigher's estimate), for an L1 bounded by bytes.
    pub(super) fn held(&self, value: &V) -> usize {
        let by_bytes = self
            .inner
            .levels
            .first()
            .and_then(|l| l.memory.as_ref())
            .is_some_and(|m| m.max_entries().is_none());
        if by_bytes {
            self.inner.weigher.0.weigh(value)
        } else {
            0
        }
    }

    /// Writes through every tier a value created at `created_at` (µs), unless an invalidation
    /// known here already makes it stale (a load that overlapped an invalidation of its tags).
    pub(super) async fn write(
        &self,
        key: &str,
        value: Arc<V>,
        options: &EntryOptions,
        created_at: u64,
    ) -> Result<(), CacheError> {
        if self.inner.clock.stale_known(created_at, &options.tags) {
            tracing::debug!(cache = %self.inner.name, key, "value invalidated while loading: not cached");
            return Ok(());
        }
        let bytes = if self.inner.needs_bytes {
            Some(self.inner.codec.encode(&*value)?)
        } else {
            None
        };
        // The encoded size, for the tiers other than L1 (estimated when nothing is encoded).
        let size = match &bytes {
            Some(b) => b.len(),
            None if self.inner.levels.iter().any(|l| l.memory.is_none()) => {
                Codec::estimate_size(&*value)
            }
            None => 0,
        };
        // What the value holds in memory, for the L1's byte bound.
        let held = self.held(&value);
        for level in &self.inner.levels {
            let limit = level.tier.max_entry_bytes();
            let size = if level.memory.is_some() { held } else { size };
            if size > limit {
                return Err(CacheError::ValueTooLarge {
                    tier: level.label,
                    size,
                    limit,
                });
            }
        }
        let now = now_millis();
        let tags: Arc<[String]> = options.tags.clone().into();
        let entry_for = |level: &Level| Entry {
            value: match &bytes {
                Some(b) if !level.tier.is_local() => Value::Bytes(b.clone()),
                _ => Value::Object(value.clone() as Arc<dyn Any + Send + Sync>),
            },
            expires_at: {
                let at = expires_at(now, options.ttl.unwrap_or_else(|| level.tier.default_ttl()));
                if level.memory.is_some() {
                    self.l1_expiry(at, now)
                } else {
                    at
                }
            },
            created_at,
            tags: tags.clone(),
            size: if level.memory.is_some() { held } else { size },
        };
        let mut remote = Vec::new();
        let mut first_err = None;
        for level in &self.inner.levels {
            let entry = entry_for(level);
            match &level.memory {
                Some(mem) => {
                    let start = quanta::Instant::now();
                    let r = mem.set_now(key, entry);
                    self.withdraw_if_stale(mem, key, created_at, &tags);
                    self.note_set(
                        level,
                        start,
                        r.map_err(|e| self.tier_err(level, e)),
                        &mut first_err,
                    );
                }
                None if !level.breaker.allows() => {}
                None => remote.push(async move {
                    let start = quanta::Instant::now();
                    let r = level.tier.set(key, entry).await;
                    match &r {
                        Ok(()) | Err(TierError::TooLarge { .. }) => level.breaker.success(),
                        Err(_) => level.breaker.failure(),
                    }
                    (level, start, r)
                }),
            }
        }
        for (level, start, r) in join_all(remote).await {
            self.note_set(
                level,
                start,
                r.map_err(|e| self.tier_err(level, e)),
                &mut first_err,
            );
        }
        first_err.map_or(Ok(()), Err)
    }

    pub(super) fn note_set(
        &self,
        level: &Level,
        start: quanta::Instant,
        r: Result<(), CacheError>,
        err: &mut Option<CacheError>,
    ) {
        level
            .counters
            .set_latency
            .record(start.elapsed().as_nanos() as u64);
        match r {
            Ok(()) => bump(&level.counters.sets),
            Err(e) => {
                if err.is_none() {
                    *err = Some(e);
                }
            }
        }
    }

    /// Removes a key from every tier; returns whether any tier held it.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.check_key(key)?;
        let results = join_all(
            self.inner
                .levels
                .iter()
                .map(|l| async move { (l, l.tier.delete(key).await) }),
        )
        .await;
        let mut any = false;
        let mut first_err = None;
        for (level, r) in results {
            match r {
                Ok(removed) => {
                    bump(&level.counters.deletes);
                    any |= removed;
                }
                Err(e) => {
                    let e = self.tier_err(level, e);
                    first_err.get_or_insert(e);
                }
            }
        }
        self.announce(Op::Delete(key.to_owned()));
        first_err.map_or(Ok(any), Err)
    }

    /// Loads `keys` that no tier holds yet, `concurrency` at a time, through the cache (each
    /// key at most once, with single flight). Loader failures are counted, not returned.
    pub async fn warm<I, F, Fut, E>(&self, keys: I, concurrency: usize, loader: F) -> WarmReport
    where
        I: IntoIterator<Item = String>,
        F: Fn(String) -> Fut + Send + Sync,
        Fut: Future<Output = Result<V, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>> + Send,
    {
        use futures_util::StreamExt;
        let keys: Vec<String> = keys.into_iter().collect();
        let report = Mutex::new(WarmReport {
            keys: keys.len(),
            ..WarmReport::default()
        });
        let loader = &loader;
        let report_ref = &report;
        futures_util::stream::iter(keys)
            .for_each_concurrent(concurrency.max(1), |key| async move {
                if matches!(self.get(&key).await, Ok(Some(_))) {
                    report_ref
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .already_cached += 1;
                    return;
                }
                let k2 = key.clone();
                let r = self.get_or_load(&key, move || loader(k2)).await;
                let mut rep = report_ref.lock().unwrap_or_else(|e| e.into_inner());
                if r.is_ok() {
                    rep.loaded += 1
                } else {
                    rep.failed += 1
                }
            })
            .await;
        report.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Preloads L1 with the fleet's `n` hottest keys (as published by the instances'
    /// [`publish_hot_keys`](Self::publish_hot_keys)): from the remote tiers when they hold the
    /// value, else through `loader`. Call it at start.
    pub async fn preload<F, Fut, E>(
        &self,
        n: usize,
        concurrency: usize,
        loader: F,
    ) -> Result<WarmReport, CacheError>
    where
        F: Fn(String) -> Fut + Send + Sync,
        Fut: Future<Output = Result<V, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>> + Send,
    {
        let mut keys = Vec::new();
        for level in self.inner.levels.iter().filter(|l| l.memory.is_none()) {
            match level.tier.hot_keys(n).await {
                Ok(k) if !k.is_empty() => {
                    keys = k;
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(self.tier_err(level, e)),
            }
        }
        Ok(self.warm(keys, concurrency, loader).await)
    }
}

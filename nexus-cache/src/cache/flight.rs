//! Loading: single flight (one loader run per key per process, and across processes with
//! `distributed_single_flight`), soft and hard timeouts, fail-safe, refresh-ahead.

#[allow(unused_imports)]
use super::*;

/// One caller's membership of a single flight. Dropping it (on completion or cancellation)
/// removes the flight from the table once it is done or nobody else waits on it, so cancelled
/// callers never leave entries behind.
pub(super) struct FlightGuard<'a, V> {
    table: &'a Mutex<Flights<V>>,
    key: &'a str,
    flight: Flight<V>,
}

impl<'a, V> FlightGuard<'a, V> {
    pub(super) fn join(table: &'a Mutex<Flights<V>>, key: &'a str) -> Self {
        let flight = table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        Self { table, key, flight }
    }
}

impl<V> Drop for FlightGuard<'_, V> {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        // Clones are only taken under this lock, so the count is stable here: 2 = the table + us.
        let ours = table
            .get(self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight));
        if ours && (self.flight.initialized() || Arc::strong_count(&self.flight) == 2) {
            table.remove(self.key);
        }
    }
}

/// Runs a loader's future under the hard timeout (counted when it strikes).
pub(super) async fn run_loader<V, Fut, E>(
    fut: Fut,
    hard: Option<Duration>,
    hard_timeouts: &Counter,
) -> Result<V, CacheError>
where
    Fut: Future<Output = Result<V, E>>,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    let loaded = match hard {
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => {
                bump(hard_timeouts);
                return Err(CacheError::LoaderTimeout(limit));
            }
        },
        None => fut.await,
    };
    loaded.map_err(|e| CacheError::Loader(Arc::from(e.into())))
}

impl<V: CacheValue> TieredCache<V> {
    pub(super) fn read_through<'a, F, Fut, E, T>(
        &'a self,
        key: &'a str,
        options: &'a EntryOptions,
        loader: F,
    ) -> impl Future<Output = Result<Arc<V>, CacheError>> + Send + 'a
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'a,
        T: Into<Loaded<V>> + Send + 'a,
    {
        if let Err(e) = self
            .check_key(key)
            .and_then(|()| self.check_tags(&options.tags))
        {
            return Either::Left(ready(Err(e)));
        }
        self.observe(key);
        if let Some(v) = self.l1_hit(key) {
            return Either::Left(ready(Ok(v)));
        }
        Either::Right(Box::pin(self.single_flight(key, options, loader)))
    }

    pub(super) async fn single_flight<F, Fut, E, T>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
        T: Into<Loaded<V>>,
    {
        self.coalesce(key, || self.load(key, options, loader)).await
    }

    /// Runs `load` for `key` unless a flight for it is under way, in which case its result is
    /// shared (and counted as coalesced).
    pub(super) async fn coalesce<Fut>(
        &self,
        key: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<Arc<V>, CacheError>
    where
        Fut: Future<Output = Result<Arc<V>, CacheError>>,
    {
        let guard = FlightGuard::join(&self.inner.flights, key);
        let mut ran = false;
        let result = guard
            .flight
            .get_or_init(|| {
                ran = true;
                load()
            })
            .await
            .clone();
        if !ran {
            bump(&self.inner.coalesced);
        }
        result
    }

    /// The miss path of one single flight: the remote tiers, then the loader.
    pub(super) async fn load<F, Fut, E, T>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
        T: Into<Loaded<V>>,
    {
        // Another flight may have filled L1 between our check and our turn.
        if let Some(v) = self.l1_peek(key) {
            return Ok(v);
        }
        if let (Some(f), _) = self.lookup(key, self.first_remote()).await {
            self.promote(key, &f).await;
            return Ok(f.value);
        }
        let held = match self.distributed_lock(key).await {
            Lock::Filled(v) => return Ok(v),
            Lock::Held(level, token) => Some((level, token)),
            Lock::Unavailable => None,
        };
        let r = self.load_now(key, options, loader).await;
        if let Some((level, token)) = held {
            self.distributed_unlock(level, key, &token).await;
        }
        r
    }

    pub(super) async fn load_now<F, Fut, E, T>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
        T: Into<Loaded<V>>,
    {
        bump(&self.inner.loads);
        let start = quanta::Instant::now();
        // The value is as old as its load: an invalidation during the load makes it stale.
        let created_at = now_micros();
        let hard = options.hard_timeout.or(self.inner.defaults.hard_timeout);
        let loaded = run_loader(loader(), hard, &self.inner.hard_timeouts).await;
        self.inner
            .load_latency
            .record(start.elapsed().as_nanos() as u64);
        let loaded: Loaded<V> = match loaded {
            Ok(v) => v.into(),
            Err(e) => {
                if matches!(e, CacheError::Loader(_)) {
                    bump(&self.inner.load_errors);
                }
                return self.fail_safe(key, e);
            }
        };
        self.check_tags(&loaded.tags)?;
        let options = loaded.options(options);
        let value = Arc::new(loaded.value);
        // The value is served even if a tier refuses it; the refusal is counted and logged.
        if let Err(e) = self.write(key, value.clone(), &options, created_at).await {
            tracing::warn!(cache = %self.inner.name, key, error = %e, "loaded value not cached in every tier");
        }
        Ok(value)
    }

    /// [`get_or_load_with`](Self::get_or_load_with) for loaders that may outlive the call
    /// (`'static`), which adds what needs background work:
    ///
    /// - **soft timeout**: when a stale (fail-safe) copy exists and the loader is slower than
    ///   the soft timeout, the stale copy is served at once and the loader finishes in the
    ///   background, refreshing the cache;
    /// - **hard timeout**: the loader is abandoned; stale copy or [`CacheError::LoaderTimeout`];
    /// - **refresh-ahead**: an L1 hit past the configured fraction of the entry's TTL starts one
    ///   background reload and returns the current value.
    ///
    /// Fail-safe copies come from L1 and need [`MemoryTierBuilder::fail_safe`](crate::MemoryTierBuilder::fail_safe).
    ///
    /// ```
    /// use std::time::Duration;
    /// use nexus_cache::{EntryOptions, MemoryTier, TieredCache};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), nexus_cache::CacheError> {
    /// let cache: TieredCache<String> = TieredCache::builder()
    ///     .tier(MemoryTier::builder().ttl(Duration::from_secs(60)).fail_safe(Duration::from_secs(3600)).build())
    ///     .soft_timeout(Duration::from_millis(100))
    ///     .hard_timeout(Duration::from_secs(5))
    ///     .refresh_ahead(0.8)
    ///     .build()?;
    /// let opts = EntryOptions::new();
    /// let v = cache.fetch("user:1", &opts, || async { Ok::<_, std::io::Error>("Ada".to_string()) }).await?;
    /// assert_eq!(*v, "Ada");
    /// # Ok(()) }
    /// ```
    pub async fn fetch<F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        self.check_key(key)?;
        self.check_tags(&options.tags)?;
        self.observe(key);
        if let Some((v, age)) = self.l1_hit_aged(key) {
            if let Some(f) = options.refresh_ahead.or(self.inner.defaults.refresh_ahead)
                && age >= f
            {
                self.spawn_refresh(key, options, loader);
            }
            return Ok(v);
        }
        self.coalesce(key, || self.load_detached(key, options, loader))
            .await
    }

    /// Runs `loader` in a task (with the hard timeout inside it) that writes its value through.
    pub(super) fn spawn_load<F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
        held: Option<(usize, String)>,
    ) -> tokio::task::JoinHandle<Result<Arc<V>, CacheError>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        bump(&self.inner.loads);
        let me = self.clone();
        let key = key.to_owned();
        let opts = options.clone();
        let hard = options.hard_timeout.or(self.inner.defaults.hard_timeout);
        tokio::spawn(async move {
            let start = quanta::Instant::now();
            let created_at = now_micros();
            let loaded = run_loader(loader(), hard, &me.inner.hard_timeouts).await;
            me.inner
                .load_latency
                .record(start.elapsed().as_nanos() as u64);
            let r = match loaded {
                Ok(v) => {
                    let v = Arc::new(v);
                    if let Err(e) = me.write(&key, v.clone(), &opts, created_at).await {
                        tracing::warn!(cache = %me.inner.name, key, error = %e, "loaded value not cached in every tier");
                    }
                    Ok(v)
                }
                Err(e) => {
                    if matches!(e, CacheError::Loader(_)) {
                        bump(&me.inner.load_errors);
                    }
                    Err(e)
                }
            };
            if let Some((level, token)) = held {
                me.distributed_unlock(level, &key, &token).await;
            }
            r
        })
    }

    pub(super) async fn load_detached<F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        if let Some(v) = self.l1_peek(key) {
            return Ok(v);
        }
        if let (Some(f), _) = self.lookup(key, self.first_remote()).await {
            self.promote(key, &f).await;
            return Ok(f.value);
        }
        let held = match self.distributed_lock(key).await {
            Lock::Filled(v) => return Ok(v),
            Lock::Held(level, token) => Some((level, token)),
            Lock::Unavailable => None,
        };
        let mut task = self.spawn_load(key, options, loader, held);
        let soft = options.soft_timeout.or(self.inner.defaults.soft_timeout);
        if let (Some(stale), Some(soft)) = (self.l1_stale(key), soft) {
            tokio::select! {
                r = &mut task => return self.joined(key, r),
                _ = tokio::time::sleep(soft) => {
                    // The load goes on in the background and refreshes the cache when done.
                    bump(&self.inner.soft_timeouts);
                    bump(&self.inner.fail_safe_served);
                    return Ok(stale);
                }
            }
        }
        let r = task.await;
        self.joined(key, r)
    }

    pub(super) fn joined(
        &self,
        key: &str,
        r: Result<Result<Arc<V>, CacheError>, tokio::task::JoinError>,
    ) -> Result<Arc<V>, CacheError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => self.fail_safe(key, e),
            Err(e) => self.fail_safe(
                key,
                CacheError::Loader(Arc::new(std::io::Error::other(format!(
                    "loader task failed: {e}"
                )))),
            ),
        }
    }

    /// Starts one background reload of `key` (refresh-ahead), unless one is running.
    pub(super) fn spawn_refresh<F, Fut, E>(&self, key: &str, options: &EntryOptions, loader: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        if !self
            .inner
            .refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned())
        {
            return;
        }
        bump(&self.inner.refreshes);
        let task = self.spawn_load(key, options, loader, None);
        let me = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            if let Ok(Ok(_)) = task.await {
                me.announce(Op::Set(key.clone()));
            }
            me.inner
                .refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        });
    }

    /// Takes the distributed lock of `key`, or waits for another instance's value.
    pub(super) async fn distributed_lock(&self, key: &str) -> Lock<V> {
        let Some(ttl) = self.inner.distributed else {
            return Lock::Unavailable;
        };
        let token = format!("{:016x}{:016x}", random_origin(), now_millis());
        let deadline = tokio::time::Instant::now() + ttl * 3 + Duration::from_secs(1);
        let first = self.first_remote();
        loop {
            let mut contended = false;
            for (i, level) in self.inner.levels.iter().enumerate().skip(first) {
                match level.tier.try_lock(key, &token, ttl).await {
                    Ok(Some(true)) => return Lock::Held(i, token),
                    Ok(Some(false)) => {
                        contended = true;
                        break;
                    }
                    Ok(None) => continue,
                    Err(_) => return Lock::Unavailable,
                }
            }
            if !contended || tokio::time::Instant::now() >= deadline {
                return Lock::Unavailable;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let (Some(f), _) = self.lookup(key, first).await {
                self.promote(key, &f).await;
                return Lock::Filled(f.value);
            }
        }
    }

    pub(super) async fn distributed_unlock(&self, level: usize, key: &str, token: &str) {
        if let Some(l) = self.inner.levels.get(level)
            && let Err(e) = l.tier.unlock(key, token).await
        {
            tracing::debug!(cache = %self.inner.name, key, error = %e, "distributed lock not released (it expires)");
        }
    }

    /// Serves the stale copy of `key` when loading failed, or returns the failure.
    pub(super) fn fail_safe(&self, key: &str, err: CacheError) -> Result<Arc<V>, CacheError> {
        match self.l1_stale(key) {
            Some(v) => {
                bump(&self.inner.fail_safe_served);
                tracing::warn!(cache = %self.inner.name, key, error = %err, "serving a stale copy (fail-safe)");
                Ok(v)
            }
            None => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Table = Mutex<Flights<u32>>;

    fn len(t: &Table) -> usize {
        t.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The flight table's life cycle: callers of one key share one flight; the entry goes when
    /// the flight is done or when the last waiting caller leaves; a new flight after that.
    #[test]
    fn single_flight_table() {
        let table: Table = Mutex::default();
        // Two callers of one key share a flight; another key has its own.
        let a = FlightGuard::join(&table, "k");
        let b = FlightGuard::join(&table, "k");
        let other = FlightGuard::join(&table, "x");
        assert!(Arc::ptr_eq(&a.flight, &b.flight));
        assert!(!Arc::ptr_eq(&a.flight, &other.flight));
        assert_eq!(len(&table), 2);
        // A caller cancelled while another waits: the flight stays for the other.
        drop(a);
        assert_eq!(len(&table), 2);
        // The last waiter leaves without a result: the entry goes (nothing left behind).
        drop(b);
        assert_eq!(len(&table), 1);
        // A completed flight goes when its first caller leaves, even if others still hold it;
        // a caller arriving after that starts a new flight.
        let c = FlightGuard::join(&table, "k");
        let d = FlightGuard::join(&table, "k");
        assert!(c.flight.set(Ok(Arc::new(7))).is_ok());
        drop(c);
        assert_eq!(len(&table), 1, "done: removed");
        let e = FlightGuard::join(&table, "k");
        assert!(!Arc::ptr_eq(&d.flight, &e.flight), "a new flight");
        assert!(!e.flight.initialized());
        drop(d); // not the table's flight any more: must not remove e's
        assert_eq!(len(&table), 2);
        drop(e);
        drop(other);
        assert_eq!(len(&table), 0);
    }
}

//! The snapshot task: a snapshot every interval into a bounded history (and optionally a
//! table), metrics published each time; stopped by dropping its handle.

#[allow(unused_imports)]
use super::*;
use nexus_core::task::TaskHandle;

impl DbMonitor {
    /// Takes a snapshot (database, connections, tables, statements).
    pub async fn snapshot(&self) -> Result<Snapshot, DbMonError> {
        Ok(Snapshot {
            at: now(),
            database: self.database().await?,
            connections: self.connections().await?,
            tables: self.tables().await?,
            statements: self.statements().await?,
        })
    }

    /// Takes a snapshot every `every` into a history of `keep` points, publishing metrics each
    /// time; stops when the returned handle is dropped. Call it inside a Tokio runtime.
    pub fn spawn_snapshots(&self, every: Duration, keep: usize) -> SnapshotTask {
        self.spawn_snapshots_into(every, History::new(keep), None)
    }

    /// [`spawn_snapshots`](Self::spawn_snapshots) starting from `history` (e.g. from
    /// [`load_history`](Self::load_history)) and also appending each snapshot to `store`.
    pub fn spawn_snapshots_into(
        &self,
        every: Duration,
        history: History,
        store: Option<SnapshotStore>,
    ) -> SnapshotTask {
        let history = Arc::new(Mutex::new(history));
        let (monitor, h) = (self.clone(), history.clone());
        let task = TaskHandle::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match monitor.snapshot().await {
                    Ok(s) => {
                        publish_metrics(&s);
                        if let Some(store) = &store
                            && let Err(e) = monitor.persist(&s, store).await
                        {
                            tracing::warn!(error = %e, "snapshot not stored");
                        }
                        h.lock().unwrap_or_else(|e| e.into_inner()).push(&s);
                    }
                    Err(e) => {
                        metrics::gauge!(crate::metrics::UP.name).set(0.0);
                        tracing::warn!(error = %e, "database snapshot failed");
                    }
                }
            }
        });
        SnapshotTask {
            history,
            _task: task,
        }
    }
}

/// A running snapshot task; dropping it stops the task.
#[derive(Debug)]
pub struct SnapshotTask {
    history: Arc<Mutex<History>>,
    _task: TaskHandle,
}

impl SnapshotTask {
    /// Trends over the history so far, with an optional database size limit to project against.
    pub fn trends(&self, size_limit_bytes: Option<i64>) -> Trends {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trends(size_limit_bytes)
    }

    /// Points held.
    pub fn len(&self) -> usize {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .points
            .len()
    }

    /// Whether no snapshot succeeded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

//! Background work tied to the lifetime of what it serves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Inside a Tokio runtime, runs `f` every `every` (the first run at once) for as long as `owner`
/// has other owners; outside one, does nothing. The task holds only a weak reference.
pub(crate) fn every<T, F, Fut>(owner: &Arc<T>, every: Duration, f: F)
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(owner);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(owner) => f(owner).await,
                None => return,
            }
        }
    });
}

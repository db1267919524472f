//! [`RedisBackplane`]: the backplane over Redis pub/sub (feature `redis`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::backplane::{Backplane, Event, Message};
use crate::error::TierError;

/// Redis pub/sub on one channel, on a single node or any node of a cluster.
///
/// The subscriber runs in a background task that reconnects by itself (trying the URLs in
/// turn, backing off to 2 s), announcing [`Event::Disconnected`] and [`Event::Connected`].
///
/// ```no_run
/// use std::sync::Arc;
/// use nexus_cache::{MemoryTier, RedisBackplane, RedisTier, TieredCache};
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let url = "redis://127.0.0.1:6379/";
/// let cache: TieredCache<String> = TieredCache::builder()
///     .name("docs")
///     .tier(MemoryTier::builder().build())
///     .tier(RedisTier::builder(url).prefix("docs").build().await?)
///     .backplane(Arc::new(RedisBackplane::connect([url], "nexus:bp").await?))
///     .build()?;
/// # let _ = cache; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackplane {
    inner: Arc<Inner>,
}

struct Inner {
    channel: String,
    clients: Vec<redis::Client>,
    publishers: tokio::sync::Mutex<Vec<Option<redis::aio::MultiplexedConnection>>>,
    events: broadcast::Sender<Event>,
    connected: AtomicBool,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    published: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}

impl fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("channel", &self.inner.channel)
            .field("nodes", &self.inner.clients.len())
            .field("connected", &self.is_connected())
            .finish()
    }
}

fn err(e: redis::RedisError) -> TierError {
    TierError::Other(Arc::new(e))
}

impl RedisBackplane {
    /// Subscribes to `channel` through the first reachable of `urls` (one node, or the nodes of
    /// a cluster) and returns once subscribed.
    pub async fn connect<I, S>(urls: I, channel: &str) -> Result<Self, TierError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let clients = urls
            .into_iter()
            .map(|u| redis::Client::open(u.as_ref()).map_err(err))
            .collect::<Result<Vec<_>, _>>()?;
        if clients.is_empty() {
            return Err(TierError::Other(Arc::new(std::io::Error::other(
                "a backplane needs at least one URL",
            ))));
        }
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            channel: channel.to_owned(),
            publishers: tokio::sync::Mutex::new(vec![None; clients.len()]),
            clients,
            events,
            connected: AtomicBool::new(false),
            task: std::sync::Mutex::new(None),
            published: AtomicU64::new(0),
        });
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(subscriber(Arc::downgrade(&inner), ready_tx));
        *inner.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        match tokio::time::timeout(Duration::from_secs(5), ready_rx).await {
            Ok(Ok(())) => Ok(Self { inner }),
            _ => Err(TierError::Other(Arc::new(std::io::Error::other(
                "backplane: could not subscribe to any node within 5 s",
            )))),
        }
    }

    /// Messages published by this instance.
    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }
}

async fn subscriber(inner: std::sync::Weak<Inner>, ready: tokio::sync::oneshot::Sender<()>) {
    use futures_util::StreamExt;
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(50);
    let mut node = 0usize;
    loop {
        let Some(me) = inner.upgrade() else { return };
        let client = me.clients[node % me.clients.len()].clone();
        let channel = me.channel.clone();
        drop(me);
        node += 1;
        let subscribed = async {
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(ps)
        };
        let ps = match tokio::time::timeout(Duration::from_secs(2), subscribed).await {
            Ok(Ok(ps)) => ps,
            _ => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        {
            let Some(me) = inner.upgrade() else { return };
            me.connected.store(true, Ordering::SeqCst);
            let _ = me.events.send(Event::Connected);
            tracing::info!(channel = %me.channel, "backplane subscribed");
        }
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        let mut stream = ps.into_on_message();
        while let Some(msg) = stream.next().await {
            let Some(me) = inner.upgrade() else { return };
            match serde_json::from_slice::<Message>(msg.get_payload_bytes()) {
                Ok(m) => {
                    let _ = me.events.send(Event::Message(m));
                }
                Err(e) => tracing::warn!(error = %e, "malformed backplane message ignored"),
            }
        }
        let Some(me) = inner.upgrade() else { return };
        me.connected.store(false, Ordering::SeqCst);
        let _ = me.events.send(Event::Disconnected);
        tracing::warn!(channel = %me.channel, "backplane subscription lost; reconnecting");
    }
}

#[async_trait]
impl Backplane for RedisBackplane {
    async fn publish(&self, msg: &Message) -> Result<(), TierError> {
        let payload = serde_json::to_vec(msg).map_err(|e| TierError::Other(Arc::new(e)))?;
        let mut pubs = self.inner.publishers.lock().await;
        let mut last = None;
        for (i, client) in self.inner.clients.iter().enumerate() {
            if pubs[i].is_none() {
                match tokio::time::timeout(
                    Duration::from_secs(1),
                    client.get_multiplexed_async_connection(),
                )
                .await
                {
                    Ok(Ok(c)) => pubs[i] = Some(c),
                    Ok(Err(e)) => {
                        last = Some(err(e));
                        continue;
                    }
                    Err(_) => continue,
                }
            }
            let Some(conn) = pubs[i].as_mut() else {
                continue;
            };
            let sent = tokio::time::timeout(
                Duration::from_secs(1),
                redis::cmd("PUBLISH")
                    .arg(&self.inner.channel)
                    .arg(&payload)
                    .query_async::<i64>(conn),
            )
            .await;
            match sent {
                Ok(Ok(_)) => {
                    self.inner.published.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Ok(Err(e)) => last = Some(err(e)),
                Err(_) => {}
            }
            pubs[i] = None;
        }
        Err(last.unwrap_or_else(|| {
            TierError::Other(Arc::new(std::io::Error::other(
                "backplane: no node reachable",
            )))
        }))
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::SeqCst)
    }
}

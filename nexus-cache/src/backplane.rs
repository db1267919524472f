//! The backplane: carries `set` / `delete` / tag / `clear` events between instances of a cache,
//! so each evicts its L1 copy (FusionCache's design). `RedisBackplane` (feature `redis`) uses Redis pub/sub on
//! a single node or a Redis Cluster (a `PUBLISH` reaches subscribers on every cluster node).
//!
//! Pub/sub forgets what a disconnected subscriber missed, so each instance numbers its messages,
//! sends a heartbeat with its latest number when quiet, keeps its last 4 096 changes, and answers
//! a receiver's [`Op::Resend`] with an [`Op::Replay`]. A receiver drops its L1 only when what it
//! missed cannot be replayed.
//!
//! ```
//! use nexus_cache::backplane::{Message, Op};
//! // What one instance tells the others after `set("user:7", …)`: evict your L1 copy.
//! let m = Message { origin: 42, seq: 1, cache: "users".into(), op: Op::Set("user:7".into()) };
//! assert!(matches!(m.op, Op::Set(ref k) if k == "user:7"));
//! ```

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::TierError;

/// What happened, on which cache, sent by which instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sending instance (random per `TieredCache`); its own messages are ignored.
    pub origin: u64,
    /// The sender's sequence number for this cache (1, 2, …; a heartbeat repeats the latest,
    /// 0 if none yet). A receiver that sees a jump knows it missed messages and drops its L1;
    /// otherwise it keeps L1 across a reconnection. 0 on a change: not numbered.
    #[serde(default)]
    pub seq: u64,
    /// The cache's name: instances of other caches ignore the message.
    pub cache: String,
    /// The change.
    pub op: Op,
}

/// A change other instances must reflect in their L1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Op {
    /// A key was written.
    Set(String),
    /// A key was removed.
    Delete(String),
    /// These tags were invalidated at `at` (microseconds since the Unix epoch): receivers record
    /// the mark and drop their L1 entries carrying them.
    Tags {
        /// The tags.
        tags: Vec<String>,
        /// The invalidation mark.
        at: u64,
    },
    /// The whole cache was cleared at `at` (microseconds since the Unix epoch).
    Clear {
        /// The clear mark.
        at: u64,
    },
    /// No change: sent by an instance that has been quiet for its heartbeat interval, carrying
    /// its latest `seq`, so a receiver back from a disconnection learns within one interval
    /// whether it missed anything.
    Heartbeat,
    /// A receiver that found a gap in `to`'s numbering asks it to send again what it sent
    /// after `after`.
    Resend {
        /// The instance asked.
        to: u64,
        /// The last number the receiver got in order.
        after: u64,
    },
    /// The answer to [`Op::Resend`]: the sender's changes numbered after `after` that it still
    /// holds (its last 4 096), with their numbers; `after` is raised to what the sender can
    /// vouch for, so a receiver that needs older ones knows they are lost.
    Replay {
        /// Every change numbered above this (up to the message's `seq`) is in `ops`.
        after: u64,
        /// The changes, with their numbers.
        ops: Vec<(u64, Op)>,
    },
}

/// What a subscriber sees.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message (ours included; the cache filters by origin).
    Message(Message),
    /// Subscribed (again): messages may have been missed while disconnected; the senders'
    /// sequence numbers tell the cache whether any were.
    Connected,
    /// The subscription is lost; messages are being missed.
    Disconnected,
}

/// The seam for backplanes.
#[async_trait]
pub trait Backplane: fmt::Debug + Send + Sync + 'static {
    /// Sends a message to every instance.
    async fn publish(&self, msg: &Message) -> Result<(), TierError>;
    /// A receiver of every event from now on.
    fn subscribe(&self) -> broadcast::Receiver<Event>;
    /// Whether the subscription is up now.
    fn is_connected(&self) -> bool;
}

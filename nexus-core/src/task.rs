//! Background tasks that stop when their handle is dropped.
//!
//! Every Nexus background loop (rule evaluation, snapshots, probes, history) is started
//! explicitly by a `spawn`-like call that returns one of these; dropping it stops the loop. None
//! starts behind the user's back, and none outlives its owner.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let handle = nexus_core::task::TaskHandle::spawn(async {
//!     loop { tokio::task::yield_now().await; }
//! });
//! assert!(!handle.is_finished());
//! drop(handle); // the loop is aborted
//! # }
//! ```

use std::future::Future;

/// A spawned task, aborted on drop. Must be made inside a Tokio runtime.
#[derive(Debug)]
#[must_use = "dropping the handle stops the task"]
pub struct TaskHandle(tokio::task::JoinHandle<()>);

impl TaskHandle {
    /// Spawns `task` on the current Tokio runtime.
    ///
    /// # Panics
    /// Outside a Tokio runtime (as `tokio::spawn`).
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(task))
    }

    /// Whether the task has ended (returned, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

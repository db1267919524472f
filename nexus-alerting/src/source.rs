//! `Source`: where the engine pulls samples from at every evaluation.

use std::fmt;

use async_trait::async_trait;

use crate::store::Sample;
use crate::time::Millis;

/// A provider of samples, pulled once per evaluation interval.
///
/// ```
/// use nexus_alerting::{FnSource, Labels, Sample};
/// let src = FnSource::new("queue", |now| vec![Sample::new("queue_depth", Labels::new(), 3.0, now)]);
/// # let _ = src;
/// ```
#[async_trait]
pub trait Source: Send + Sync + fmt::Debug {
    /// A name for logs and metrics.
    fn name(&self) -> &str;
    /// The current samples; `now` is the evaluation time (use it as the timestamp unless the
    /// data carries its own).
    async fn collect(&self, now: Millis) -> Result<Vec<Sample>, String>;
}

/// A [`Source`] from a closure.
pub struct FnSource<F> {
    name: String,
    f: F,
}

impl<F> FnSource<F>
where
    F: Fn(Millis) -> Vec<Sample> + Send + Sync,
{
    /// A source named `name` calling `f`.
    pub fn new(name: &str, f: F) -> Self {
        Self {
            name: name.to_owned(),
            f,
        }
    }
}

impl<F> fmt::Debug for FnSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSource")
            .field("name", &self.name)
            .finish()
    }
}

#[async_trait]
impl<F> Source for FnSource<F>
where
    F: Fn(Millis) -> Vec<Sample> + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    async fn collect(&self, now: Millis) -> Result<Vec<Sample>, String> {
        Ok((self.f)(now))
    }
}

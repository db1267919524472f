#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod error;
pub mod judge;
mod layer;
pub mod metrics;
mod rollout;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod routes;
mod state;
pub mod stats;
mod status;
pub mod store;

pub use builder::{GateResult, RolloutBuilder, Stickiness};
pub use error::RolloutError;
pub use layer::{ResponseFuture, RolloutLayer, RolloutService, SHADOW_HEADER};
pub use rollout::{Event, Rollout, RolloutStatus, Version};
#[cfg(feature = "http")]
pub use routes::RolloutRouter;
pub use state::{Phase, RolloutState, Strategy};
pub use status::{ShadowFigures, StoreFigures, VersionFigures};

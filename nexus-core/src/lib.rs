#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod histogram;
#[cfg(feature = "http")]
pub mod json;
pub mod metric;
pub mod redact;
pub mod severity;
pub mod stats;
pub mod task;
pub mod time;

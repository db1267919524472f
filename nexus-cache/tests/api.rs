//! The public surface: error types are `std::error::Error`s, what the API hands out can be named.

#![allow(clippy::unwrap_used)]

use nexus_cache::{CacheError, CodecError, MemoryTier, TierError, TieredCache, WarmReport};

fn is_error<E: std::error::Error + Send + Sync + 'static>() {}

#[tokio::test]
async fn errors_are_std_errors_and_the_warm_report_can_be_named() {
    is_error::<CacheError>();
    is_error::<TierError>();
    is_error::<CodecError>();
    let cache: TieredCache<String> = TieredCache::builder()
        .tier(MemoryTier::builder().build())
        .build()
        .unwrap();
    let report: WarmReport = cache
        .warm(["a".to_owned(), "b".to_owned()], 2, |k| async move {
            if k == "a" {
                Ok(k)
            } else {
                Err(std::io::Error::other("no b"))
            }
        })
        .await;
    assert_eq!((report.keys, report.loaded, report.failed), (2, 1, 1));
}

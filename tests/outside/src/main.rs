//! An L1-only cache in a crate of its own, with nexus-cache's default features.

use nexus_cache::{MemoryTier, TieredCache};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache: TieredCache<String> = TieredCache::builder()
        .name("outside")
        .tier(MemoryTier::builder().build())
        .build()?;
    let v = cache
        .get_or_load("k", || async { Ok::<_, std::io::Error>("loaded".to_owned()) })
        .await?;
    assert_eq!(*v, "loaded");
    println!("outside: nexus-cache with default features works");
    Ok(())
}

//! The cache contract: the in-process cache always, Redis when `TEST_REDIS_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use emrlab_common::cache::{Cache, MemoryCache, RedisCache};

async fn redis() -> Option<Arc<dyn Cache>> {
    let url = emrlab_common::testing::redis_url()?;
    // A fresh prefix per test keeps parallel tests on one server apart.
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    Some(Arc::new(RedisCache::connect(&url, &prefix).await.unwrap()))
}

fn memory() -> Arc<dyn Cache> {
    Arc::new(MemoryCache::new(1024 * 1024))
}

macro_rules! contract {
    ($name:ident, |$cache:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn run($cache: Arc<dyn Cache>) $body
            #[tokio::test]
            async fn memory() {
                run(super::memory()).await;
            }
            #[tokio::test]
            async fn redis() {
                if let Some(cache) = super::redis().await {
                    run(cache).await;
                }
            }
        }
    };
}

contract!(a_value_set_is_read_back_until_deleted, |cache| {
    assert_eq!(cache.get("patient:1").await.unwrap(), None);
    cache
        .set("patient:1", b"{\"id\":1}".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        cache.get("patient:1").await.unwrap().as_deref(),
        Some(&b"{\"id\":1}"[..])
    );
    cache
        .set("patient:1", b"v2".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(cache.get("patient:1").await.unwrap().as_deref(), Some(&b"v2"[..]));
    cache.delete("patient:1").await.unwrap();
    assert_eq!(cache.get("patient:1").await.unwrap(), None);
    cache.ping().await.unwrap();
});

contract!(an_entry_expires_after_its_own_ttl, |cache| {
    cache
        .set("short", b"a".to_vec(), Duration::from_millis(150))
        .await
        .unwrap();
    cache.set("long", b"b".to_vec(), Duration::from_secs(60)).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while cache.get("short").await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the short entry never expired");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(cache.get("long").await.unwrap().as_deref(), Some(&b"b"[..]));
});

#[tokio::test]
async fn the_memory_cache_evicts_to_stay_within_its_byte_budget() {
    let cache = MemoryCache::new(10 * 1024);
    for n in 0..100 {
        cache
            .set(&format!("k{n}"), vec![0; 1024], Duration::from_secs(60))
            .await
            .unwrap();
    }
    cache.run_pending_tasks().await;
    let mut kept = 0;
    for n in 0..100 {
        kept += usize::from(cache.get(&format!("k{n}")).await.unwrap().is_some());
    }
    assert!(kept <= 10, "{kept} KiB kept in a 10 KiB cache");
}

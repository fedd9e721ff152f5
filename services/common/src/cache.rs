//! The cache interface: byte values with a time to live, in process (moka) or in Redis.
//! Both implementations pass the same contract suite (`tests/cache_contract.rs`).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use moka::{Expiry, future::Cache as Moka};
use redis::{AsyncCommands, aio::ConnectionManager};

/// A cache failure (only Redis can fail); callers treat it as a miss and go to the source.
#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(#[from] redis::RedisError);

/// Bytes under string keys, each with its own TTL.
#[async_trait] // boxed futures keep the trait usable as `Arc<dyn Cache>`
pub trait Cache: Send + Sync + 'static {
    /// `memory` or `redis`, for metrics and `/ready`.
    fn kind(&self) -> &'static str;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), CacheError>;
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    async fn ping(&self) -> Result<(), CacheError>;
}

#[derive(Clone)]
struct Entry {
    value: Arc<Vec<u8>>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: std::time::Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// In-process cache bounded by total bytes, for the embedded stack.
pub struct MemoryCache(Moka<String, Entry>);

impl MemoryCache {
    /// A cache holding at most `max_bytes` of values.
    pub fn new(max_bytes: u64) -> Self {
        let cache = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, e: &Entry| u32::try_from(k.len() + e.value.len()).unwrap_or(u32::MAX))
            .expire_after(PerEntryTtl)
            .build();
        Self(cache)
    }

    /// Applies evictions now; moka otherwise defers them to later calls.
    pub async fn run_pending_tasks(&self) {
        self.0.run_pending_tasks().await;
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn kind(&self) -> &'static str {
        "memory"
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.0.get(key).await.map(|e| e.value.as_ref().clone()))
    }
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), CacheError> {
        self.0
            .insert(
                key.to_owned(),
                Entry {
                    value: Arc::new(value),
                    ttl,
                },
            )
            .await;
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.0.invalidate(key).await;
        Ok(())
    }
    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

/// Redis through a connection manager that reconnects by itself.
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisCache {
    /// Connects to `url`; every key is stored under `prefix` so tests and tenants can share a server.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn kind(&self) -> &'static str {
        "redis"
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.conn.clone().get(self.key(key)).await?)
    }
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), CacheError> {
        // PX, not EX: sub-second TTLs matter to the labs that expire entries quickly.
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let _: () = self.conn.clone().pset_ex(self.key(key), value, millis).await?;
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let _: () = self.conn.clone().del(self.key(key)).await?;
        Ok(())
    }
    async fn ping(&self) -> Result<(), CacheError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn.clone()).await?;
        Ok(())
    }
}

/// Opens the cache a configuration names: Redis when a URL is given, else in process.
pub async fn open(redis_url: Option<&str>, prefix: &str) -> Result<Arc<dyn Cache>, CacheError> {
    Ok(match redis_url {
        Some(url) => Arc::new(RedisCache::connect(url, prefix).await?),
        None => Arc::new(MemoryCache::new(256 * 1024 * 1024)),
    })
}

//! Retries of idempotent vendor calls: jittered exponential backoff ("full jitter"), or the
//! vendor's own Retry-After when it sends one.

use std::time::Duration;

use rand::Rng;

const BASE: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(2);

/// The wait before retry number `attempt` (1 for the first retry).
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait;
    }
    let ceiling = BASE.saturating_mul(1 << attempt.min(16)).min(CAP);
    rand::rng().random_range(Duration::ZERO..=ceiling)
}

/// A `Retry-After` header in seconds (the HTTP-date form is not used by the simulated vendors
/// and is treated as absent).
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap_and_retry_after_wins() {
        for attempt in 1..10 {
            let wait = backoff(attempt, None);
            assert!(wait <= BASE * 2u32.pow(attempt).min(20), "attempt {attempt}: {wait:?}");
        }
        assert_eq!(backoff(3, Some(Duration::from_secs(4))), Duration::from_secs(4));
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
    }
}

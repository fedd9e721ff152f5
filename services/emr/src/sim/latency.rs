//! How long a simulated vendor takes to answer (`vendors.<v>.latency.*`).

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal};

use super::config::{Latency, LatencyKind};

/// The z-score of the 95th percentile of a standard normal distribution.
const Z95: f64 = 1.6449;

/// The longest delay a sample may ask for: the latency knobs' own maximum. A log-normal tail
/// is unbounded, and one absurd sample would park a request for good.
const LONGEST: Duration = Duration::from_secs(600);

/// One answer time drawn from `latency`.
pub fn sample(latency: &Latency, rng: &mut impl Rng) -> Duration {
    match latency.kind {
        LatencyKind::Fixed => latency.median,
        LatencyKind::Uniform if latency.max > latency.min => rng.random_range(latency.min..=latency.max),
        LatencyKind::Uniform => latency.min,
        LatencyKind::Lognormal => lognormal(latency, rng),
    }
    .min(LONGEST)
}

/// The median of ln(X) is ln(median), and p95 sits Z95 standard deviations above it, which
/// pins sigma; a p95 at or under the median leaves no spread.
fn lognormal(latency: &Latency, rng: &mut impl Rng) -> Duration {
    let median = latency.median.as_secs_f64();
    if median <= 0.0 {
        return Duration::ZERO;
    }
    let sigma = if latency.p95 > latency.median {
        (latency.p95.as_secs_f64() / median).ln() / Z95
    } else {
        0.0
    };
    LogNormal::new(median.ln(), sigma)
        .ok()
        .and_then(|d| Duration::try_from_secs_f64(d.sample(rng).min(LONGEST.as_secs_f64())).ok())
        .unwrap_or(latency.median)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn percentile(latency: &Latency, p: f64) -> Duration {
        let mut rng = StdRng::seed_from_u64(7);
        let mut samples: Vec<Duration> = (0..20_000).map(|_| sample(latency, &mut rng)).collect();
        samples.sort();
        samples[(samples.len() as f64 * p) as usize]
    }

    #[test]
    fn lognormal_samples_have_the_configured_median_and_p95() {
        let latency = Latency::default();
        let (median, p95) = (percentile(&latency, 0.5), percentile(&latency, 0.95));
        assert!(
            median.abs_diff(latency.median) < Duration::from_millis(25),
            "{median:?}"
        );
        assert!(p95.abs_diff(latency.p95) < Duration::from_millis(80), "{p95:?}");
    }

    #[test]
    fn fixed_and_uniform_stay_where_they_are_put() {
        let fixed = Latency {
            kind: LatencyKind::Fixed,
            ..Latency::default()
        };
        assert_eq!(percentile(&fixed, 0.99), fixed.median);
        let uniform = Latency {
            kind: LatencyKind::Uniform,
            ..Latency::default()
        };
        assert!(percentile(&uniform, 0.0) >= uniform.min && percentile(&uniform, 0.999) <= uniform.max);
        let no_spread = Latency {
            p95: Duration::ZERO,
            ..Latency::default()
        };
        assert!(percentile(&no_spread, 0.99).abs_diff(no_spread.median) < Duration::from_micros(1));
    }
}

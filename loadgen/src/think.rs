//! Think time between steps: fixed, uniform or exponential, as the seed scenarios' 1–3 s waits.

use std::time::Duration;

use rand::Rng;

/// A pause distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Think {
    Fixed(Duration),
    Uniform(Duration, Duration),
    Exponential(Duration),
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|_| format!("`{s}` is not a duration such as 500ms or 2s"))
}

impl Think {
    /// `"1s"`, `"1s..3s"` or `"exp(2s)"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(mean) = text.strip_prefix("exp(").and_then(|t| t.strip_suffix(')')) {
            return Ok(Self::Exponential(duration(mean)?));
        }
        match text.split_once("..") {
            Some((low, high)) => {
                let (low, high) = (duration(low)?, duration(high)?);
                if low > high {
                    return Err(format!("`{text}`: the lower bound is above the upper"));
                }
                Ok(Self::Uniform(low, high))
            }
            None => Ok(Self::Fixed(duration(text)?)),
        }
    }

    /// One pause drawn from the distribution.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Self::Fixed(d) => d,
            Self::Uniform(low, high) if low == high => low,
            Self::Uniform(low, high) => rng.random_range(low..=high),
            Self::Exponential(mean) => {
                // Inverse transform; capped at 10 means so one draw cannot stall a VU for minutes.
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                mean.mul_f64((-u.ln()).min(10.0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn the_three_forms_parse() {
        assert_eq!(Think::parse("2s"), Ok(Think::Fixed(Duration::from_secs(2))));
        assert_eq!(
            Think::parse("1s..3s"),
            Ok(Think::Uniform(Duration::from_secs(1), Duration::from_secs(3)))
        );
        assert_eq!(
            Think::parse("exp(500ms)"),
            Ok(Think::Exponential(Duration::from_millis(500)))
        );
        assert!(Think::parse("3s..1s").is_err() && Think::parse("soon").is_err());
    }

    #[test]
    fn uniform_draws_stay_in_bounds_and_exponential_keeps_its_mean() {
        let mut rng = StdRng::seed_from_u64(1);
        let uniform = Think::Uniform(Duration::from_secs(1), Duration::from_secs(3));
        assert!(
            (0..1000)
                .map(|_| uniform.sample(&mut rng))
                .all(|d| (Duration::from_secs(1)..=Duration::from_secs(3)).contains(&d))
        );
        let exp = Think::Exponential(Duration::from_secs(2));
        let mean = (0..20_000).map(|_| exp.sample(&mut rng).as_secs_f64()).sum::<f64>() / 20_000.0;
        assert!((1.9..2.1).contains(&mean), "mean {mean}");
    }
}

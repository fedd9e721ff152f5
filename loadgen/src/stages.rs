//! Where the load stands at a moment: the target (VUs or iterations/s) moves linearly through
//! the stages, as k6's ramping executors do.

use std::time::Duration;

use crate::scenario::Stage;

/// The target `elapsed` into the run; after the last stage, that stage's target.
pub fn target_at(start: f64, stages: &[Stage], elapsed: Duration) -> f64 {
    let mut from = start;
    let mut t = elapsed.as_secs_f64();
    for stage in stages {
        let length = stage.duration.as_secs_f64();
        if t < length {
            return from + (stage.target - from) * (t / length);
        }
        t -= length;
        from = stage.target;
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: u64, target: f64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    #[test]
    fn targets_ramp_hold_and_fall() {
        let stages = [stage(10, 100.0), stage(10, 100.0), stage(10, 0.0)];
        let at = |s: f64| target_at(0.0, &stages, Duration::from_secs_f64(s));
        assert_eq!(
            (at(0.0), at(5.0), at(15.0), at(25.0), at(40.0)),
            (0.0, 50.0, 100.0, 50.0, 0.0)
        );
    }
}

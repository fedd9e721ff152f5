//! Which load to try next, from the steps run so far: a sweep's fixed list, or the search (coarse
//! steps up by a factor until the SLO breaks, then bisection between the last good and the first
//! bad load, then the answer repeated until it has met the SLO `repeats` times).
//!
//! Pure and stateless: the next load is worked out again from the whole history each time, so a
//! repeat that fails simply turns its load bad and the bisection moves below it.

use serde::{Deserialize, Serialize};

/// How loads are chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Exactly these loads, in this order, once each (the seed scripts' 10, 50, 100, 200).
    Sweep(Vec<f64>),
    /// The breaking point.
    Search {
        start: f64,
        /// Each coarse step's load over the previous one's.
        factor: f64,
        /// Bisection stops when the bad load is within this fraction above the good one.
        resolution: f64,
        /// Never above this load; reached without a break, it is the answer.
        max: f64,
    },
}

/// One step's load and whether it met the SLO (and was not limited by the generator).
pub type Tried = (f64, bool);

/// The highest load that met the SLO below the lowest that did not, and how many runs at it met it.
pub fn sustainable(history: &[Tried]) -> Option<(f64, u32)> {
    let lowest_bad = history
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(l, _)| *l)
        .fold(f64::INFINITY, f64::min);
    let best = history
        .iter()
        .filter(|(l, ok)| *ok && *l < lowest_bad)
        .map(|(l, _)| *l)
        .fold(f64::NEG_INFINITY, f64::max);
    best.is_finite()
        .then(|| (best, history.iter().filter(|(l, ok)| *ok && *l == best).count() as u32))
}

/// The next load to run, or `None` when the mode is done.
pub fn next(mode: &Mode, history: &[Tried], repeats: u32) -> Option<f64> {
    match mode {
        Mode::Sweep(loads) => loads.get(history.len()).copied(),
        Mode::Search {
            start,
            factor,
            resolution,
            max,
        } => {
            let start = start.round().clamp(1.0, max.max(1.0));
            let bad = history.iter().filter(|(_, ok)| !ok).map(|(l, _)| *l).reduce(f64::min);
            let good = sustainable(history);
            match (good, bad) {
                (None, None) => Some(start),
                // Broke at the lowest load tried: nothing below it to search.
                (None, Some(_)) => None,
                (Some((lo, _)), None) if lo < *max => Some((lo * factor).round().max(lo + 1.0).min(*max)),
                (Some((lo, runs)), bad) => {
                    let hi = bad.unwrap_or(lo);
                    let mid = ((lo + hi) / 2.0).round();
                    let wide = hi - lo > (lo * resolution).max(1.0);
                    if wide && mid > lo && mid < hi {
                        Some(mid)
                    } else {
                        (runs < repeats).then_some(lo)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search against a platform that holds up to `capacity` exactly.
    fn search(capacity: f64, repeats: u32, flaky: &[usize]) -> (Vec<f64>, Option<(f64, u32)>) {
        let mode = Mode::Search {
            start: 10.0,
            factor: 2.0,
            resolution: 0.05,
            max: 10_000.0,
        };
        let mut history = Vec::new();
        while let Some(load) = next(&mode, &history, repeats) {
            // A noisy machine: the listed runs fail whatever their load.
            history.push((load, load <= capacity && !flaky.contains(&history.len())));
            assert!(history.len() < 40, "{history:?}");
        }
        (history.iter().map(|t| t.0).collect(), sustainable(&history))
    }

    #[test]
    fn the_search_doubles_then_bisects_to_within_the_resolution() {
        let (loads, found) = search(137.0, 1, &[]);
        assert_eq!(&loads[..5], [10.0, 20.0, 40.0, 80.0, 160.0]);
        let (best, runs) = found.unwrap();
        assert!((137.0 * 0.95..=137.0).contains(&best), "{best} from {loads:?}");
        assert_eq!(runs, 1);
    }

    #[test]
    fn the_answer_is_repeated_and_a_failed_repeat_moves_it_down() {
        let (loads, found) = search(137.0, 3, &[]);
        let best = found.unwrap();
        assert_eq!(best.1, 3, "{loads:?}");
        // Run 9 is the answer's first repeat (after 5 coarse and 4 bisection steps): it fails.
        let (loads, flaky_found) = search(137.0, 3, &[9]);
        let flaky = flaky_found.unwrap();
        assert!(flaky.0 < best.0 && flaky.1 == 3, "{flaky:?} from {loads:?}");
    }

    #[test]
    fn a_break_at_the_first_step_ends_the_search_with_no_answer() {
        let (loads, found) = search(5.0, 2, &[]);
        assert_eq!((loads, found), (vec![10.0], None));
    }

    #[test]
    fn a_sweep_runs_its_loads_once_each_and_the_answer_stops_below_the_first_break() {
        let mode = Mode::Sweep(vec![10.0, 50.0, 100.0, 200.0]);
        let history = [(10.0, true), (50.0, true), (100.0, false)];
        assert_eq!(next(&mode, &history, 3), Some(200.0));
        let history = [(10.0, true), (50.0, true), (100.0, false), (200.0, true)];
        assert_eq!(next(&mode, &history, 3), None);
        assert_eq!(sustainable(&history), Some((50.0, 1)));
    }
}

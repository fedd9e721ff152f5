//! Live progress: an indicatif line on a terminal, a plain line every 5 s otherwise (CI logs).

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::stats::{Second, percentile_ms};

/// Shows the run's progress once a second.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    total: Duration,
    requests: u64,
    failed: u64,
    last_line: Option<Instant>,
}

impl Progress {
    /// Progress for a run of `total`; `enabled = false` prints nothing.
    pub fn new(enabled: bool, total: Duration) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (enabled && tty).then(|| {
            let bar = ProgressBar::new(total.as_secs().max(1));
            let style = ProgressStyle::with_template("{elapsed_precise}/{duration_precise} [{bar:30}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar
        });
        Self {
            bar,
            plain: enabled && !tty,
            total,
            requests: 0,
            failed: 0,
            last_line: None,
        }
    }

    /// A completed second.
    pub fn second(&mut self, second: &Second, histogram: &Histogram<u64>, elapsed: Duration) {
        self.requests += second.requests;
        self.failed += second.failed;
        let message = format!(
            "{} req/s  p95 {:.1} ms  vus {}  requests {}  errors {}{}",
            second.requests,
            percentile_ms(histogram, 95.0),
            second.vus,
            self.requests,
            self.failed,
            if second.dropped > 0 {
                format!("  dropped {}", second.dropped)
            } else {
                String::new()
            }
        );
        if let Some(bar) = &self.bar {
            bar.set_position(elapsed.as_secs().min(self.total.as_secs()));
            bar.set_message(message);
        } else if self.plain && self.last_line.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
            eprintln!("[{:>4}s/{}s] {message}", elapsed.as_secs(), self.total.as_secs());
            self.last_line = Some(Instant::now());
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

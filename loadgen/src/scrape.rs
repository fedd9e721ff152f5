//! Scrapes the target's Prometheus `/metrics` every few seconds while the load runs, so the
//! result can put server-side signals (pool in use, limiter rejections) on the run's time axis.
//! Histogram buckets are left out: they are many series and the load generator has the latencies.

use std::{
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// One scrape of one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scrape {
    pub url: String,
    /// Seconds since the start of the run.
    pub t: f64,
    /// `name{labels}` → value.
    pub series: Vec<(String, f64)>,
}

/// The background scraper.
pub struct Scraper {
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
    scrapes: Arc<Mutex<Vec<Scrape>>>,
}

/// Parses Prometheus text exposition, skipping comments and histogram buckets.
pub fn parse(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.trim().rsplit_once(' ')?;
            (!series.contains("_bucket{")).then_some(())?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// `name{a="x",b="y"}` as its name and labels, with the exposition format's escapes (`\"`,
/// `\\`, `\n`) undone.
pub fn split(series: &str) -> (&str, Vec<(String, String)>) {
    let Some((name, rest)) = series.split_once('{') else {
        return (series, Vec::new());
    };
    let mut labels = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let key = key.trim_start_matches(',').trim();
        if key.is_empty() || key.starts_with('}') || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                c => value.push(c),
            }
        }
        labels.push((key.to_owned(), value));
    }
    (name, labels)
}

impl Scraper {
    /// Starts scraping `urls` every `every` (nothing when `urls` is empty).
    pub fn start(urls: Vec<String>, every: Duration) -> Self {
        let stop = CancellationToken::new();
        let scrapes = Arc::new(Mutex::new(Vec::new()));
        let thread = (!urls.is_empty()).then(|| {
            let (stop, scrapes) = (stop.clone(), scrapes.clone());
            std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    return;
                };
                runtime.block_on(scrape_loop(urls, every, stop, scrapes));
            })
        });
        Self { stop, thread, scrapes }
    }

    /// Stops and returns what was scraped.
    pub fn finish(mut self) -> Vec<Scrape> {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.scrapes.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

async fn scrape_loop(urls: Vec<String>, every: Duration, stop: CancellationToken, scrapes: Arc<Mutex<Vec<Scrape>>>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let start = Instant::now();
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        for url in &urls {
            let Ok(response) = client.get(url).send().await else {
                continue;
            };
            if !response.status().is_success() {
                continue;
            }
            let Ok(text) = response.text().await else { continue };
            let scrape = Scrape {
                url: url.clone(),
                t: start.elapsed().as_secs_f64(),
                series: parse(&text),
            };
            scrapes.lock().unwrap_or_else(|p| p.into_inner()).push(scrape);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn series_names_split_into_labels_with_escapes_undone() {
        let (name, labels) = super::split(r#"m_total{cache="in\"proc",result="hit"}"#);
        assert_eq!(name, "m_total");
        assert_eq!(
            labels,
            [("cache".into(), "in\"proc".into()), ("result".into(), "hit".into())]
        );
        assert_eq!(super::split("plain"), ("plain", vec![]));
    }

    #[test]
    fn series_are_read_and_buckets_skipped() {
        let text =
            "# HELP x y\nemrlab_db_pool_connections_in_use{component=\"task\"} 3\nh_bucket{le=\"1\"} 4\nh_count 9\n";
        assert_eq!(
            super::parse(text),
            vec![
                ("emrlab_db_pool_connections_in_use{component=\"task\"}".to_owned(), 3.0),
                ("h_count".to_owned(), 9.0)
            ]
        );
    }
}

//! The target's admin API, as the experiment runner uses it: log in as the operator, read and
//! flip knobs, read counters from `/metrics`, run the authorization integrity check. Blocking
//! calls on a runtime of its own, since the runner drives the (thread-based) load engine.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use super::Knobs;

/// How many 429s in a row an admin call waits out before giving up.
const MAX_THROTTLED: u32 = 5;

/// An operator session on one target.
pub struct Admin {
    base: String,
    username: String,
    password: String,
    token: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Admin {
    /// Logs in at `base` (the gateway's URL).
    pub fn connect(base: &str, username: &str, password: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let mut admin = Self {
            base: base.trim_end_matches('/').to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            token: String::new(),
            http,
            runtime,
        };
        admin.login()?;
        Ok(admin)
    }

    fn login(&mut self) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/auth/login", self.base);
        let body = serde_json::json!({ "username": self.username, "password": self.password });
        let response: Value = self.runtime.block_on(async {
            let response = self.http.post(&url).json(&body).send().await?;
            let status = response.status();
            let text = response.text().await?;
            if !status.is_success() {
                bail!("logging in as {} at {url}: {status}: {text}", self.username);
            }
            Ok::<_, anyhow::Error>(serde_json::from_str(&text)?)
        })?;
        self.token = response["access_token"]
            .as_str()
            .context("the login answer has no access_token")?
            .to_owned();
        Ok(())
    }

    /// Sends an authenticated request, logging in again once if the token has expired (the
    /// token-expiry lab shortens `auth.token_ttl` under the runner's feet), and waiting out a 429
    /// (the rate-limit lab's per-client window counts these calls with the load's).
    fn call(&mut self, method: reqwest::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (mut logged_in_again, mut throttled) = (false, 0);
        loop {
            let url = format!("{}{path}", self.base);
            let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let (status, wait, text) = self.runtime.block_on(async {
                let response = request.send().await?;
                let status = response.status();
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                Ok::<_, reqwest::Error>((status, wait, response.text().await?))
            })?;
            if status == reqwest::StatusCode::UNAUTHORIZED && !logged_in_again {
                logged_in_again = true;
                self.login()?;
                continue;
            }
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS && throttled < MAX_THROTTLED {
                throttled += 1;
                std::thread::sleep(Duration::from_secs(wait.unwrap_or(1).clamp(1, 60)));
                continue;
            }
            if !status.is_success() {
                bail!("{method} {path}: {status}: {text}");
            }
            return Ok(serde_json::from_str(&text)?);
        }
    }

    /// Every knob's current value.
    pub fn knobs(&mut self) -> anyhow::Result<Knobs> {
        let list = self.call(reqwest::Method::GET, "/api/v1/admin/knobs", None)?;
        let items = list.as_array().context("the knob list is not an array")?;
        Ok(items
            .iter()
            .filter_map(|k| Some((k["name"].as_str()?.to_owned(), k["value"].clone())))
            .collect())
    }

    /// Sets knobs (nothing changes if any is refused).
    pub fn set(&mut self, knobs: &Knobs) -> anyhow::Result<()> {
        if knobs.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_value(knobs)?;
        self.call(reqwest::Method::PUT, "/api/v1/admin/knobs", Some(&body))
            .with_context(|| format!("setting {}", show(knobs)))?;
        Ok(())
    }

    /// The sum of every `/metrics` series whose `name{labels}` contains each of `filter`.
    pub fn counter(&self, filter: &[String]) -> anyhow::Result<f64> {
        let url = format!("{}/metrics", self.base);
        let text = self.runtime.block_on(async {
            let response = self.http.get(&url).send().await?.error_for_status()?;
            response.text().await
        })?;
        Ok(crate::scrape::parse(&text)
            .into_iter()
            .filter(|(series, _)| filter.iter().all(|f| series.contains(f.as_str())))
            .map(|(_, value)| value)
            .sum())
    }

    /// How many authorizations the integrity check finds overbooked or inconsistent.
    pub fn integrity_violations(&mut self) -> anyhow::Result<f64> {
        let report = self.call(reqwest::Method::GET, "/api/v1/admin/integrity", None)?;
        let violations = report["violations"]
            .as_array()
            .context("the integrity report has no violations list")?;
        Ok(violations.len() as f64)
    }
}

/// `a=1, b="x"`, for messages and verdicts.
pub fn show(knobs: &Knobs) -> String {
    knobs
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

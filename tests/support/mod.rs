//! Starts the real stack in-process on port 0 with a fresh database, and talks HTTP to its gateway.

#![allow(dead_code)] // each test crate uses a different part of this module

use std::{future::Future, time::Duration};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};

use emrlab::PlatformConfig;

pub mod units;
pub mod ws;

/// Which database a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running platform and a client for its gateway.
pub struct TestApp {
    pub base: String,
    pub http: Client,
    pub task_base: String,
    pub emr_base: String,
    pub handover_base: String,
    pub sync_base: String,
    /// Epic's and Cerner's FHIR ports, which also serve their `/metrics`.
    pub vendor_bases: [String; 2],
    /// The database every component of this app uses (SQLite file or fresh PostgreSQL database).
    pub database_url: String,
    _data: tempfile::TempDir,
    _stop: DropGuard,
}

/// The stack on SQLite with the in-process cache.
pub async fn spawn_app() -> TestApp {
    spawn_with(Backend::Sqlite, |_| {}).await.expect("SQLite always runs")
}

/// The stack on `backend`, with `tweak` applied to its configuration first; `None` when the
/// backend is not configured for tests (which fails under CI=true).
pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut PlatformConfig)) -> Option<TestApp> {
    emrlab_common::telemetry::init_for_tests();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = PlatformConfig::for_tests(data.path());
    if backend == Backend::Postgres {
        let server = emrlab_common::testing::postgres_url()?;
        cfg.database_url = Some(emrlab_common::testing::fresh_postgres_database(&server).await.unwrap());
        cfg.redis_url = emrlab_common::testing::redis_url();
        // Every app its own keys: the seeded ids are the same in every test database.
        cfg.cache_prefix = format!("emrlab-test-{}:", uuid::Uuid::now_v7().simple());
    }
    tweak(&mut cfg);
    let database_url = cfg.database_url();
    let platform = emrlab::Platform::bind(cfg).await.unwrap();
    let base = format!("http://{}", platform.gateway_addr());
    let task_base = format!("http://{}", platform.task_addr());
    let emr_base = format!("http://{}", platform.emr_addr());
    let handover_base = format!("http://{}", platform.handover_addr());
    let sync_base = format!("http://{}", platform.sync_addr());
    let vendor_bases = emrlab_seed::Vendor::ALL.map(|vendor| format!("http://{}", platform.vendor_addr(vendor)));
    let stop = CancellationToken::new();
    tokio::spawn(platform.run(stop.clone()));
    Some(TestApp {
        base,
        http: Client::new(),
        task_base,
        emr_base,
        handover_base,
        sync_base,
        vendor_bases,
        database_url,
        _data: data,
        _stop: stop.drop_guard(),
    })
}

/// Runs the body once per configured backend.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: $crate::support::TestApp) $body

            #[tokio::test]
            async fn sqlite() {
                body($crate::support::spawn_app().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(app) = $crate::support::spawn_with($crate::support::Backend::Postgres, |_| {}).await {
                    body(app).await;
                }
            }
        }
    };
}

/// The practitioner id (`sub`) of an access token.
pub fn subject(token: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// The ids of a list page's items, in order.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The `emrlab` binary under test, without this process's `EMRLAB_` variables: the
/// configuration refuses ones it does not know, and CI sets one of its own.
pub fn emrlab_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_emrlab"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("EMRLAB_") {
            command.env_remove(name);
        }
    }
    command
}

/// Polls `check` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    tokio::time::timeout(deadline, async {
        loop {
            if let Some(value) = check().await {
                return value;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("condition not met before the deadline")
}

impl TestApp {
    /// A client for a platform the test started some other way (`emrlab up --split`): `base_of`
    /// gives each component's base URL by name (`gateway`, `task`, … `epic`, `cerner`); `data`
    /// is removed when the app is dropped.
    pub fn external(base_of: impl Fn(&str) -> String, data: tempfile::TempDir) -> Self {
        let database_url = format!("sqlite://{}", data.path().join("emrlab.db").display());
        Self {
            base: base_of("gateway"),
            http: Client::new(),
            task_base: base_of("task"),
            emr_base: base_of("emr"),
            handover_base: base_of("handover"),
            sync_base: base_of("sync"),
            vendor_bases: emrlab_seed::Vendor::ALL.map(|vendor| base_of(vendor.as_str())),
            database_url,
            _data: data,
            _stop: CancellationToken::new().drop_guard(),
        }
    }

    /// The Prometheus text a component (`base`: the gateway's or the task service's URL) serves.
    pub async fn metrics(&self, base: &str) -> String {
        self.http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The data directory (where the SQLite database lives).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in and returns the whole token response.
    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        self.http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Logs in as a seeded practitioner and returns the access token.
    pub async fn login(&self, username: &str) -> String {
        let response = self.login_response(username, "emrlab").await;
        assert_eq!(response.status(), StatusCode::OK, "login as {username}");
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// The JSON of a GET that must answer 200.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let response = self.get(token, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Response {
        self.http
            .put(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The id of a patient of the caller's organisation (from its task list).
    pub async fn some_patient(&self, token: &str) -> String {
        let page: Value = self.get(token, "/api/v1/tasks?limit=1").await.json().await.unwrap();
        page["items"][0]["patient_id"].as_str().unwrap().to_owned()
    }

    /// Creates a task and returns its JSON.
    pub async fn create_task(&self, token: &str, title: &str) -> Value {
        let patient = self.some_patient(token).await;
        let response = self
            .post(token, "/api/v1/tasks", json!({"title": title, "patient_id": patient}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Changes knobs as the operator; returns the response.
    pub async fn set_knobs(&self, knobs: Value) -> Response {
        let operator = self.login("operator").await;
        self.put(&operator, "/api/v1/admin/knobs", knobs).await
    }
}

//! Test support shared by every crate's suites: which backends to run and fresh databases.
//! Plumbing for tests only; nothing at run time calls it.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The PostgreSQL server for tests, if `TEST_DATABASE_URL` is set. Under `CI=true` a missing
/// URL fails the test instead of skipping it, so CI cannot pass with the suite unexercised.
pub fn postgres_url() -> Option<String> {
    backend_url("TEST_DATABASE_URL", "postgres")
}

/// The Redis server for tests, if `TEST_REDIS_URL` is set (same CI rule).
pub fn redis_url() -> Option<String> {
    backend_url("TEST_REDIS_URL", "redis")
}

fn backend_url(var: &str, backend: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => {
            // `.ci/run` checks these markers to prove the suites ran against the real servers.
            if let Some(dir) = std::env::var_os("EMRLAB_TEST_MARKER_DIR") {
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::write(std::path::Path::new(&dir).join(backend), b"ran\n");
            }
            Some(url)
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{var} is not set but CI=true: the {backend} suite must run in CI"
            );
            eprintln!("skipping the {backend} suite: set {var} to run it");
            None
        }
    }
}

/// Creates an empty database on the server at `server_url` and returns its URL.
pub async fn fresh_postgres_database(server_url: &str) -> Result<String, sqlx::Error> {
    let name = format!("emrlab_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(server_url).await?;
    // The name is generated above from a UUID, never from input, so it is safe to splice.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = server_url.rsplit_once('/').map_or(server_url, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// Serves `app` on a free loopback port until the returned guard drops; returns its base URL.
pub async fn serve(app: axum::Router) -> std::io::Result<(String, tokio_util::sync::DropGuard)> {
    let server = crate::server::Server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), app).await?;
    let url = format!("http://{}", server.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(server.run(stop.clone()));
    Ok((url, stop.drop_guard()))
}

//! The process's one tracing subscriber.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs a fmt subscriber filtered by `RUST_LOG` (default `info`, quieter for sqlx).
/// A second call is harmless, which lets tests call it from every test.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}

/// For tests: a subscriber only when `TEST_LOG` is set, so passing tests stay quiet.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init();
    }
}

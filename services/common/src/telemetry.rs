//! The process's one tracing subscriber.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs a fmt subscriber filtered by `RUST_LOG` (default `info`, quieter for sqlx).
/// A second call is harmless, which lets tests call it from every test.
pub fn init() {
    init_with("info,sqlx=warn,hyper=warn");
}

/// Logging with another default than [`init`]'s (`RUST_LOG` still wins): commands that run the
/// platform under their own output (an experiment's rounds) keep it to warnings.
pub fn init_with(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}

/// For tests: a subscriber only when `TEST_LOG` is set, so passing tests stay quiet.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init();
    }
}

//! `emrlab config show`: the effective configuration after every layer.

use super::{Cli, Overrides, load};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print the effective configuration as TOML (secrets redacted).
    Show,
}

pub fn run(cli: &Cli, command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Show => {
            let mut cfg = load(cli, Overrides::default())?;
            cfg.database_url = cfg.database_url.as_deref().map(redact_password);
            cfg.redis_url = cfg.redis_url.as_deref().map(redact_password);
            let secret = if cfg.auth.jwt_secret.is_some() {
                "[redacted]"
            } else {
                "unset (up keeps one in the data directory)"
            };
            print!("{}", toml::to_string_pretty(&cfg)?);
            println!("# auth.jwt_secret: {secret}");
            Ok(())
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:[redacted]@{host}")
        }
        _ => url.to_owned(),
    }
}

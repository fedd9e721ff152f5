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
            let cfg = load(cli, Overrides::default())?;
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

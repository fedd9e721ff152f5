//! `emrlab migrate`, `emrlab seed` and `emrlab verify`.

use emrlab_task::seed::{Profile, SeedReport};

use super::{Cli, Overrides, load};

#[derive(clap::Args)]
pub struct SeedArgs {
    /// small, default or large.
    #[arg(long)]
    profile: Option<Profile>,
    /// The seed number (the same number gives the same data).
    #[arg(long)]
    seed: Option<u64>,
}

pub async fn migrate(cli: &Cli) -> anyhow::Result<()> {
    let cfg = load(cli, Overrides::default())?;
    let db = emrlab::open_database(&cfg, "cli").await?;
    println!("migrated the {} database", db.backend());
    Ok(())
}

pub async fn seed(cli: &Cli, args: &SeedArgs) -> anyhow::Result<()> {
    let mut overrides = Overrides::default();
    if let Some(profile) = args.profile {
        overrides.set("seed", "profile", serde_json::to_value(profile)?);
    }
    if let Some(number) = args.seed {
        overrides.set("seed", "number", number);
    }
    let cfg = load(cli, overrides)?;
    let db = emrlab::open_database(&cfg, "cli").await?;
    match emrlab::seed(&cfg, &db).await? {
        SeedReport::AlreadySeeded => println!("the database already has data; nothing seeded"),
        SeedReport::Seeded {
            practitioners,
            patients,
            tasks,
        } => {
            println!(
                "seeded {practitioners} practitioners, {patients} patients and {tasks} tasks ({:?} profile)",
                cfg.seed.profile
            )
        }
    }
    Ok(())
}

pub async fn verify(cli: &Cli) -> anyhow::Result<()> {
    let cfg = load(cli, Overrides::default())?;
    let db = emrlab::open_database(&cfg, "cli").await?;
    let report = emrlab_task::authorizations::integrity::check(&db).await?;
    for v in &report.violations {
        println!(
            "VIOLATION {} ({}): total {}, used {}, scheduled {}; reservations say used {}, scheduled {}; {}",
            v.number,
            v.authorization_id,
            v.balance.total_units,
            v.balance.used_units,
            v.balance.scheduled_units,
            v.consumed_by_reservations,
            v.scheduled_by_reservations,
            v.problems.join(", "),
        );
    }
    if !report.ok {
        anyhow::bail!(
            "{} of {} authorizations break the invariant (used + scheduled <= total, counters = reservations)",
            report.violations.len(),
            report.checked
        );
    }
    println!(
        "ok: {} authorizations, used + scheduled <= total and the counters match their reservations",
        report.checked
    );
    Ok(())
}

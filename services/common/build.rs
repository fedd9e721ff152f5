//! `sqlx::migrate!` in `db/migrate.rs` embeds the migration files when this crate compiles, but
//! cargo does not know it read them: without this, a new migration is missing from a build cached
//! before it ("no such table") until something else in the crate changes. `sqlx migrate
//! build-script` writes the same line.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}

//! The gateway's SQL: practitioners' credentials and refresh tokens, on either backend.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use emrlab_common::{
    auth::{OrgId, Role, UserId},
    db::AnyDb,
};

/// A practitioner as login needs them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: UserId,
    pub org: OrgId,
    pub role: Role,
    pub password_hash: String,
}

/// Credential and refresh-token persistence.
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// The practitioner with this username, if any.
    async fn find_by_username(&self, username: &str) -> Result<Option<Credentials>, sqlx::Error>;
    /// Replaces a password hash (rehash after a `auth.kdf_cost` change).
    async fn update_hash(&self, id: UserId, hash: &str) -> Result<(), sqlx::Error>;
    /// Stores a new refresh token's digest.
    async fn insert_refresh(&self, digest: &str, user: UserId, expires: OffsetDateTime) -> Result<(), sqlx::Error>;
    /// Spends a live refresh token (once only) and returns its practitioner.
    async fn spend_refresh(&self, digest: &str, now: OffsetDateTime) -> Result<Option<Credentials>, sqlx::Error>;
}

macro_rules! credential_store {
    ($store:ident, $db:ty, $conv:path) => {
        pub struct $store(pub Arc<emrlab_common::db::Db<$db>>);

        fn row_to_credentials(row: Option<(Uuid, Uuid, String, String)>) -> Option<Credentials> {
            let (id, org, role, password_hash) = row?;
            Some(Credentials { id: UserId(id), org: OrgId(org), role: Role::parse(&role)?, password_hash })
        }

        #[async_trait]
        impl CredentialStore for $store {
            async fn find_by_username(&self, username: &str) -> Result<Option<Credentials>, sqlx::Error> {
                let mut conn = self.0.acquire().await?;
                let row = sqlx::query_as("SELECT id, org_id, role, password_hash FROM practitioners WHERE username = $1")
                    .bind(username)
                    .fetch_optional(&mut *conn)
                    .await?;
                Ok(row_to_credentials(row))
            }

            async fn update_hash(&self, id: UserId, hash: &str) -> Result<(), sqlx::Error> {
                let mut w = self.0.begin_write().await?;
                sqlx::query("UPDATE practitioners SET password_hash = $1 WHERE id = $2").bind(hash).bind(id.0).execute(&mut *w.tx).await?;
                w.tx.commit().await
            }

            async fn insert_refresh(&self, digest: &str, user: UserId, expires: OffsetDateTime) -> Result<(), sqlx::Error> {
                let mut w = self.0.begin_write().await?;
                sqlx::query("INSERT INTO refresh_tokens (token_hash, practitioner_id, expires_at, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(digest)
                    .bind(user.0)
                    .bind($conv(expires))
                    .bind($conv(emrlab_common::db::now()))
                    .execute(&mut *w.tx)
                    .await?;
                w.tx.commit().await
            }

            async fn spend_refresh(&self, digest: &str, now: OffsetDateTime) -> Result<Option<Credentials>, sqlx::Error> {
                let mut w = self.0.begin_write().await?;
                // The guarded UPDATE makes spending atomic: of two concurrent refreshes, one wins.
                let spent: Option<Uuid> = sqlx::query_scalar(
                    "UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL AND expires_at > $1 \
                     RETURNING practitioner_id",
                )
                .bind($conv(now))
                .bind(digest)
                .fetch_optional(&mut *w.tx)
                .await?;
                let Some(user) = spent else { return Ok(None) };
                let row = sqlx::query_as("SELECT id, org_id, role, password_hash FROM practitioners WHERE id = $1")
                    .bind(user)
                    .fetch_optional(&mut *w.tx)
                    .await?;
                w.tx.commit().await?;
                Ok(row_to_credentials(row))
            }
        }
    };
}

mod postgres {
    use super::*;
    fn same(t: OffsetDateTime) -> OffsetDateTime {
        t
    }
    credential_store!(PgCredentials, sqlx::Postgres, same);
}

mod sqlite {
    use super::*;
    credential_store!(SqliteCredentials, sqlx::Sqlite, emrlab_common::db::to_micros);
}

/// The store for this database.
pub fn open(db: &AnyDb) -> Arc<dyn CredentialStore> {
    match db {
        AnyDb::Postgres(db) => Arc::new(postgres::PgCredentials(db.clone())),
        AnyDb::Sqlite(db) => Arc::new(sqlite::SqliteCredentials(db.clone())),
    }
}

//! The one JSON error shape every component answers with, and the rejections shared by all.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;

/// `{"error": "<code>", "message": "<for people>", "field": <name or null>, "details": {...}?}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: &'static str,
    pub message: String,
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<Value>>,
}

/// An error ready to leave as a response. Services map their own error enums into it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds the caller should wait (429, 503); becomes `Retry-After`.
    pub retry_after: Option<u64>,
    /// An RFC 6750 challenge for a refused token; becomes `WWW-Authenticate`.
    pub challenge: Option<Box<str>>,
}

/// What a 5xx tells the caller: the cause is in the logs, under the request id.
pub const INTERNAL_MESSAGE: &str = "internal error; quote the x-request-id header when reporting it";

impl ApiError {
    /// An error with a code and message, no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: code,
                message: message.into(),
                field: None,
                details: None,
            },
            retry_after: None,
            challenge: None,
        }
    }

    /// Names the offending field.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// Adds machine-readable details (e.g. the current version on a conflict).
    pub fn details(mut self, details: Value) -> Self {
        self.body.details = Some(Box::new(details));
        self
    }

    /// Sets `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 422: well-formed input with a value that is not allowed.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).field(field)
    }

    /// 400: input that could not be read at all.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 with the reason.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: authenticated, but the role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 for a resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503 with a `Retry-After`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message).retry_after(1)
    }

    /// A database failure as the caller should see it. An exhausted pool is load and an
    /// unreachable database (refused, name gone, connection dropped: a restart or an outage) is
    /// a passing condition, so both are 503 with `Retry-After`, saying which; anything else is
    /// our bug (500).
    pub fn storage(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut => Self::unavailable("the database is busy (no free connection); retry shortly"),
            ref e if sqlite_busy(e) => {
                Self::unavailable("the database is busy (another process held its write lock too long); retry shortly")
            }
            ref e if unreachable(e) => {
                tracing::warn!(error = %error, "database unreachable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database cannot be reached; retry shortly",
                )
                .retry_after(1)
            }
            other => Self::internal(&other),
        }
    }

    /// 500; logs `cause` (with the request span's id) and tells the caller nothing more.
    pub fn internal(cause: &dyn std::fmt::Debug) -> Self {
        tracing::error!(error = ?cause, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", INTERNAL_MESSAGE)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Fallback for a path no route matches.
pub async fn route_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

/// Fallback for a known path with a method it does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// Whether a database error means the database could not be reached (rather than a query
/// failing): [`ApiError::storage`] makes it a 503.
pub fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // A pooled connection told by a stopping or crashed server that it is ending (class 57:
        // "terminating connection due to unexpected postmaster exit", shutdown, cannot connect
        // now) or one whose connection failed (class 08) before the socket closed.
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        _ => false,
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED (any extended code): another process (`emrlab up --split`)
/// held the file's write lock past the busy timeout. Load, not a fault: a 503 to retry.
fn sqlite_busy(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(e) = error else {
        return false;
    };
    e.try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .and_then(sqlx::error::DatabaseError::code)
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's error as PostgreSQL reports it: a SQLSTATE and a message.
    #[derive(Debug)]
    struct ServerSays(&'static str, &'static str);

    impl std::fmt::Display for ServerSays {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.1)
        }
    }

    impl std::error::Error for ServerSays {}

    impl sqlx::error::DatabaseError for ServerSays {
        fn message(&self) -> &str {
            self.1
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn a_server_ending_its_connections_is_a_503_to_retry_and_a_refused_statement_a_500() {
        // What a pooled connection reads when PostgreSQL stops or crashes under it (the socket
        // may close first instead: that is the I/O case above).
        for (code, message) in [
            ("57P01", "terminating connection due to unexpected postmaster exit"),
            ("57P03", "the database system is starting up"),
            ("08006", "connection failure"),
        ] {
            let e = ApiError::storage(sqlx::Error::Database(Box::new(ServerSays(code, message))));
            assert_eq!(
                (e.status, e.body.error),
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
                "{code}"
            );
        }
        let refused = ApiError::storage(sqlx::Error::Database(Box::new(ServerSays("42P01", "no such table"))));
        assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn a_sqlite_file_locked_by_another_writer_past_the_busy_timeout_is_a_503_to_retry() {
        use sqlx::{ConnectOptions, Connection, sqlite::SqliteConnectOptions};
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("busy.db"))
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::ZERO);
        let mut holder = options.connect().await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut holder)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
        let mut other = options.connect().await.unwrap();
        let busy = sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap_err();
        let e = ApiError::storage(busy);
        assert_eq!(
            (e.status, e.body.error),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        );
        other.close().await.unwrap();
        holder.close().await.unwrap();
    }

    #[test]
    fn a_database_that_cannot_be_reached_is_a_503_to_retry_and_a_failed_query_a_500() {
        let gone = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        let e = ApiError::storage(gone);
        assert_eq!(
            (e.status, e.body.error, e.retry_after),
            (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", Some(1))
        );
        let e = ApiError::storage(sqlx::Error::PoolTimedOut);
        assert_eq!((e.status, e.retry_after), (StatusCode::SERVICE_UNAVAILABLE, Some(1)));
        let e = ApiError::storage(sqlx::Error::RowNotFound);
        assert_eq!(
            (e.status, e.body.error),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
    }
}

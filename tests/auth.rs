//! Logging in, refreshing, and every way a token can be refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use emrlab::config::TEST_JWT_SECRET;

on_both_backends! {
    async fn login_then_refresh_spends_the_old_refresh_token(app) {
        let response = app.login_response("nurse.0001", "emrlab").await;
        assert_eq!(response.status(), StatusCode::OK);
        let pair: Value = response.json().await.unwrap();
        assert_eq!((pair["token_type"].as_str(), pair["expires_in"].as_u64()), (Some("Bearer"), Some(900)));
        let refresh = |token: Value| app.http.post(app.url("/api/v1/auth/refresh")).json(&json!({"refresh_token": token})).send();
        let renewed = refresh(pair["refresh_token"].clone()).await.unwrap();
        assert_eq!(renewed.status(), StatusCode::OK);
        let renewed: Value = renewed.json().await.unwrap();
        assert_eq!(app.get(renewed["access_token"].as_str().unwrap(), "/api/v1/tasks?limit=1").await.status(), StatusCode::OK);
        let replay = refresh(pair["refresh_token"].clone()).await.unwrap();
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let app = support::spawn_app().await;
    let wrong = app.login_response("nurse.0001", "nope").await;
    let unknown = app.login_response("nobody.9999", "emrlab").await;
    assert_eq!(
        (wrong.status(), unknown.status()),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap()
    );
}

fn forge(claims: &Value, secret: &[u8], alg: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn forged_tampered_and_expired_tokens_get_401() {
    let app = support::spawn_app().await;
    let real = app.login("nurse.0001").await;
    let claims = claims_of(&real);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let mut admin = claims.clone();
    admin["role"] = json!("operator");
    let [head, _, sig]: [&str; 3] = real.split('.').collect::<Vec<_>>().try_into().unwrap();
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("another-api");
    let mut expired = claims.clone();
    (expired["iat"], expired["exp"]) = (json!(now - 120), json!(now - 60));
    let cases = [
        (
            "alg none",
            format!("{header_none}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string())),
        ),
        (
            "tampered payload",
            format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(admin.to_string())),
        ),
        (
            "wrong key",
            forge(&claims, b"not-the-platform-key-not-the-platform-key", Algorithm::HS256),
        ),
        (
            "other HMAC algorithm",
            forge(&claims, TEST_JWT_SECRET.as_bytes(), Algorithm::HS512),
        ),
        (
            "wrong audience",
            forge(&wrong_aud, TEST_JWT_SECRET.as_bytes(), Algorithm::HS256),
        ),
        ("expired", forge(&expired, TEST_JWT_SECRET.as_bytes(), Algorithm::HS256)),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (case, token) in cases {
        let response = app.get(&token, "/api/v1/tasks?limit=1").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{case}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized", "{case}");
        if case == "expired" {
            assert!(
                body["message"].as_str().unwrap().contains("expired"),
                "an expired token says so"
            );
        }
    }
    let missing = app.http.get(app.url("/api/v1/tasks")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn services_check_tokens_themselves_and_internal_routes_are_not_public() {
    let app = support::spawn_app().await;
    // Straight to the task service, past the gateway, with only the identity headers it forwards.
    let direct = app
        .http
        .get(format!("{}/tasks", app.task_base))
        .header("x-emrlab-org", "00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);
    let operator = app.login("operator").await;
    for path in [
        "/internal/knobs",
        "/api/v1/internal/knobs",
        "/api/v1/tasks/../internal/knobs",
    ] {
        let response = app.get(&operator, path).await;
        assert_ne!(
            response.status(),
            StatusCode::OK,
            "{path} must not reach an internal endpoint"
        );
    }
    // A user token is not an internal credential, even the operator's.
    let internal = app
        .http
        .get(format!("{}/internal/knobs", app.task_base))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(internal.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn roles_that_may_not_act_get_403() {
    let app = support::spawn_app().await;
    let operator = app.login("operator").await;
    assert_eq!(
        app.get(&operator, "/api/v1/tasks").await.status(),
        StatusCode::FORBIDDEN
    );
    let nurse = app.login("nurse.0001").await;
    assert_eq!(
        app.get(&nurse, "/api/v1/admin/knobs").await.status(),
        StatusCode::FORBIDDEN
    );
    let admin = app.login("admin").await;
    assert_eq!(app.get(&admin, "/api/v1/admin/knobs").await.status(), StatusCode::OK);
    let change = app
        .put(&admin, "/api/v1/admin/knobs", json!({"tasks.pagination": "offset"}))
        .await;
    assert_eq!(change.status(), StatusCode::FORBIDDEN);
}

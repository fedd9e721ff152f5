//! Knobs through the admin API: listed with owners, changed all-or-nothing, felt at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

fn knob<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no knob {name}"))
}

on_both_backends! {
    async fn knobs_list_with_owners_and_change_all_or_nothing(app) {
        let operator = app.login("operator").await;
        let list: Value = app.get(&operator, "/api/v1/admin/knobs").await.json().await.unwrap();
        let pool = knob(&list, "db.pool_size");
        assert_eq!(pool["owners"], json!(["emr", "gateway", "handover", "sync", "task"]));
        assert_eq!((pool["value"].clone(), pool["default"].clone()), (json!(10), json!(10)));
        assert_eq!(knob(&list, "tasks.pagination")["allowed"], json!({"one_of": ["unbounded", "offset", "cursor"]}));
        for name in ["gateway.rate_limit.per_second", "auth.token_ttl", "auth.kdf_cost", "gateway.upstream_timeout"] {
            knob(&list, name);
        }

        let unknown = app.put(&operator, "/api/v1/admin/knobs", json!({"tasks.pagination": "offset", "tasks.speed": "fast"})).await;
        assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unknown.json::<Value>().await.unwrap()["field"], "tasks.speed");
        let bad = app.put(&operator, "/api/v1/admin/knobs", json!({"auth.token_ttl": "1m", "db.pool_size": 0})).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.json::<Value>().await.unwrap()["field"], "db.pool_size");
        let unchanged: Value = app.get(&operator, "/api/v1/admin/knobs").await.json().await.unwrap();
        assert_eq!(knob(&unchanged, "tasks.pagination")["value"], "cursor");
        assert_eq!(knob(&unchanged, "auth.token_ttl")["value"], "15m");

        let changed = app.put(&operator, "/api/v1/admin/knobs", json!({"db.pool_size": 3, "tasks.pagination": "offset", "auth.token_ttl": "2m"})).await;
        assert_eq!(changed.status(), StatusCode::OK);
        let changed: Value = changed.json().await.unwrap();
        assert_eq!(knob(&changed, "db.pool_size")["value"], 3);
        let nurse = app.login("nurse.0001").await;
        let page: Value = app.get(&nurse, "/api/v1/tasks?limit=1").await.json().await.unwrap();
        assert!(page["total"].is_i64(), "the task service pages by offset now");
        let pair: Value = app.login_response("nurse.0002", "emrlab").await.json().await.unwrap();
        assert_eq!(pair["expires_in"], 120);
    }
}

#[tokio::test]
async fn a_kdf_cost_change_rehashes_a_password_at_its_next_login() {
    let app = support::spawn_app().await;
    let set = app.set_knobs(json!({"auth.kdf_cost": 128})).await;
    assert_eq!(set.status(), StatusCode::OK);
    app.login("nurse.0003").await;
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir().join("emrlab.db").display()))
        .await
        .unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM practitioners WHERE username = 'nurse.0003'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(hash.contains("m=128,"), "rehashed at the new cost: {hash}");
    app.login("nurse.0003").await;
}

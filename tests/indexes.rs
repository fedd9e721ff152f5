//! `db.indexes`: the seed platform's performance indexes, dropped and built again at run time
//! by the task service while the API keeps answering the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};

use emrlab_common::{config::DbConfig, db::AnyDb, indexes};

on_both_backends!(
    async fn the_seed_indexes_are_dropped_and_built_again_and_answers_do_not_change(app) {
        let db = AnyDb::connect(&app.database_url, &DbConfig::default(), "test").unwrap();
        let all = indexes::definitions().len();
        assert_eq!(indexes::present(&db).await.unwrap().len(), all, "a fresh database is at seed");
        let nurse = app.login("nurse.0001").await;
        let query = "/api/v1/tasks?status=pending&priority=stat&limit=50";
        let before: Value = app.get(&nurse, query).await.json().await.unwrap();

        app.set_knobs(json!({"db.indexes": "none"})).await;
        support::eventually(Duration::from_secs(30), || async {
            indexes::present(&db).await.unwrap().is_empty().then_some(())
        })
        .await;
        let without: Value = app.get(&nurse, query).await.json().await.unwrap();
        assert_eq!(without["items"], before["items"]);

        app.set_knobs(json!({"db.indexes": "seed"})).await;
        support::eventually(Duration::from_secs(30), || async {
            (indexes::present(&db).await.unwrap().len() == all).then_some(())
        })
        .await;
        let with: Value = app.get(&nurse, query).await.json().await.unwrap();
        assert_eq!(with["items"], before["items"]);
        db.close().await;
    }
);

//! Parked feed events end to end: staff list them and replay them over HTTP
//! (`/admin/feed/parked`) and with `agora feed parked|replay`; a replay runs the consumer's
//! own handler in the process where that consumer runs.

mod common;

use std::time::Duration;

use agora::Roles;
use common::{spawn_app, until_sql, TestApp, ADMIN};
use serde_json::Value;

/// Parks cart `cart`'s first event for the carts projection and removes what the projection
/// had made of it, as if the projection had failed on it every time.
async fn park_first_cart_event(app: &TestApp, cart: &str) -> i64 {
    sqlx::query("DELETE FROM carts WHERE cart_id = $1")
        .bind(cart)
        .execute(&app.pool)
        .await
        .expect("delete row");
    sqlx::query_scalar(
        "INSERT INTO feed_parked (consumer, aggregate_type, aggregate_id, sequence, event_type, stream_seq, deliveries, error)
         SELECT 'proj_carts', aggregate_type, aggregate_id, sequence, event_type, 1, 10, 'it failed'
         FROM events WHERE aggregate_type = 'cart' AND aggregate_id = $1 AND sequence = 1
         RETURNING id",
    )
    .bind(cart)
    .fetch_one(&app.pool)
    .await
    .expect("park")
}

/// Runs the `agora` binary against this app (without blocking the runtime the app runs on).
async fn agora_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(args)
        .env("AGORA_DATABASE_URL", &app.config.database_url)
        .env("AGORA_NATS_URL", &app.config.nats_url)
        .output()
        .await
        .expect("run agora")
}

#[tokio::test]
async fn staff_list_parked_events_and_replay_them_through_the_consumer_over_http_and_the_cli() {
    let app = spawn_app(Roles {
        edge: true,
        services: vec!["cart".into()],
        projections: vec!["carts".into()],
        relay: true,
    })
    .await;
    let admin = |r: reqwest::RequestBuilder| r.bearer_auth(ADMIN);

    // Over HTTP.
    let (cart, _) = app.create_cart().await;
    app.read_model_at(&cart, 1).await;
    let id = park_first_cart_event(&app, &cart).await;
    let page: Value = admin(app.http.get(format!("{}/admin/feed/parked", app.base)))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 1, "{page}");
    let item = &page["items"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["consumer"], "proj_carts");
    assert_eq!(item["aggregate_id"], cart.as_str());
    assert_eq!(item["sequence"], 1);
    assert_eq!(item["error"], "it failed");
    let r = admin(
        app.http
            .post(format!("{}/admin/feed/parked/{id}/replay", app.base)),
    )
    .send()
    .await
    .expect("replay");
    assert_eq!(r.status(), 200);
    // The projection applied it again: the row is back, and nothing is parked.
    app.read_model_at(&cart, 1).await;
    until_sql(
        &app.pool,
        "SELECT count(*) = 0 FROM feed_parked",
        Duration::from_secs(5),
    )
    .await;
    let r = admin(
        app.http
            .post(format!("{}/admin/feed/parked/{id}/replay", app.base)),
    )
    .send()
    .await
    .expect("replay again");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "feed.parked_not_found", "{body}");

    // With the CLI.
    let (cart, _) = app.create_cart().await;
    app.read_model_at(&cart, 1).await;
    let id = park_first_cart_event(&app, &cart).await;
    let listed = agora_cli(&app, &["feed", "parked"]).await;
    assert!(listed.status.success(), "{listed:?}");
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        out.contains(&format!("{id}\tproj_carts\tcart/{cart}/1")) && out.contains("1 parked"),
        "{out}"
    );
    let replayed = agora_cli(&app, &["feed", "replay", &id.to_string()]).await;
    assert!(replayed.status.success(), "{replayed:?}");
    app.read_model_at(&cart, 1).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM feed_parked")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);

    // A consumer that does not run here cannot replay: 503, and the event stays parked.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO feed_parked (consumer, aggregate_type, aggregate_id, sequence, event_type, stream_seq, deliveries, error)
         VALUES ('notifier', 'cart', $1, 1, 'CartCreated', 1, 10, 'smtp down') RETURNING id",
    )
    .bind(&cart)
    .fetch_one(&app.pool)
    .await
    .expect("park");
    let r = admin(
        app.http
            .post(format!("{}/admin/feed/parked/{id}/replay", app.base)),
    )
    .send()
    .await
    .expect("replay");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "feed.consumer_unavailable", "{body}");
    let failed = agora_cli(&app, &["feed", "replay", &id.to_string()]).await;
    assert!(!failed.status.success());
    app.stop().await;
}

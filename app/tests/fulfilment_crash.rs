//! A return survives the process being killed mid-way: once after it moved a line's stock and
//! before it recorded that, once after the payment provider refunded the line and before the
//! return recorded it. After the restarts the stock moved once and the money was refunded
//! once, exactly the line's paid share.

mod common;

use std::time::Duration;

use agora_nats::Bus;
use agora_testkit::{eventually, free_port, TestDb, TestNats};
use common::child::{died, ready, Agora};
use common::fulfil::{admin_post, request_return, return_until, ship_and_deliver};
use common::shop::{self, gateway_ops, settled};
use common::{system_get, CARRIER_SECRET};
use serde_json::{json, Value};

/// `agora all` with the carrier webhook's secret, and a fault after `crash_after` if given.
fn spawn_agora(nats: &TestNats, db: &TestDb, port: u16, crash_after: Option<&str>) -> Agora {
    common::child::spawn_agora(
        nats,
        db,
        port,
        crash_after,
        &[("AGORA_CARRIER_WEBHOOK_SECRET", CARRIER_SECRET)],
    )
}

/// Stock events of `sku` that a return's movement made.
async fn return_movements(pool: &sqlx::PgPool, sku: &str, return_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'stock' AND aggregate_id = $1
           AND event_type = 'StockReceived'
           AND payload -> 'StockReceived' ->> 'reason' = $2",
    )
    .bind(sku)
    .bind(format!("return {return_id}"))
    .fetch_one(pool)
    .await
    .expect("movements")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_killed_mid_refund_moves_stock_once_and_refunds_once() {
    let nats = TestNats::start().expect("nats");
    let db = TestDb::create().await.expect("db");
    let http = reqwest::Client::new();
    let port = free_port().expect("port");
    let pool = sqlx::PgPool::connect(&db.url()).await.expect("pool");
    let bus = Bus::new(async_nats::connect(nats.url()).await.expect("nats client"));

    // A delivered order and an approved return of one of its two units.
    let agora = spawn_agora(&nats, &db, port, None);
    ready(&http, &agora.base).await;
    let base = agora.base.clone();
    shop::product(&http, &base, &[("KILL-A", 2400)], 10).await;
    shop::until_for_sale(&pool, &["KILL-A"]).await;
    let cart = shop::cart(&http, &base, &[("KILL-A", 2)]).await;
    let order_id = shop::checkout_ok(&http, &base, &cart, "kill-order", "pm_card_visa").await;
    let order = settled(&bus, &order_id, Duration::from_secs(60)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    let order = ship_and_deliver(&http, &base, &order_id, "JD-KILL-1").await;
    let paid = order["lines"][0]["paid"]["amount_minor"]
        .as_i64()
        .expect("paid");
    let expected = agora_promotion::prorate(
        agora_kernel::Money::new(paid, agora_kernel::Currency::EUR),
        2,
        0,
        1,
    )
    .expect("share")
    .amount_minor;
    let (status, requested) = request_return(
        &http,
        &base,
        &order_id,
        &cart.1,
        "kill-ret",
        &[("KILL-A", 1, "damaged")],
    )
    .await;
    assert_eq!(status, 201, "{requested}");
    let return_id = requested["id"].as_str().expect("id").to_string();
    let (status, reply) = admin_post(
        &http,
        &base,
        &format!("/admin/returns/{return_id}/approve"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let on_hand = |v: Value| v["on_hand"].as_i64().expect("on hand");
    let before = on_hand(
        system_get::<agora_inventory::StockItem>(&bus, "KILL-A")
            .await
            .expect("stock"),
    );
    drop(agora);

    // Killed after the stock moved, before the return recorded it.
    let mut agora = spawn_agora(&nats, &db, port, Some("return_stock"));
    ready(&http, &agora.base).await;
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        admin_post(
            &http,
            &base,
            &format!("/admin/returns/{return_id}/receive"),
            Some("kill-receive"),
            json!({"lines": [{"sku": "KILL-A", "quantity": 1, "disposition": "restock"}]}),
        ),
    )
    .await;
    assert!(
        died(&mut agora, Duration::from_secs(60)),
        "the fault after the stock move did not fire"
    );
    drop(agora);
    assert_eq!(return_movements(&pool, "KILL-A", &return_id).await, 1);

    // Restarted, it records the move without moving again, refunds, and is killed after the
    // provider refunded, before the return recorded it.
    let mut agora = spawn_agora(&nats, &db, port, Some("return_refund"));
    assert!(
        died(&mut agora, Duration::from_secs(90)),
        "the fault after the refund did not fire"
    );
    drop(agora);
    assert_eq!(gateway_ops(&pool, &order_id, "refund").await, 1);

    // Restarted without faults, it finishes: the refund is recorded, not repeated.
    let agora = spawn_agora(&nats, &db, port, None);
    ready(&http, &agora.base).await;
    let closed = return_until(
        &http,
        &agora.base,
        &return_id,
        "closed",
        Duration::from_secs(90),
        |r| r["status"] == "closed",
    )
    .await;
    assert_eq!(
        closed["lines"][0]["refunded"]["amount_minor"].as_i64(),
        Some(expected),
        "{closed}"
    );
    assert_eq!(gateway_ops(&pool, &order_id, "refund").await, 1);
    assert_eq!(return_movements(&pool, "KILL-A", &return_id).await, 1);
    let after = on_hand(
        system_get::<agora_inventory::StockItem>(&bus, "KILL-A")
            .await
            .expect("stock"),
    );
    assert_eq!(after, before + 1);
    let order = eventually(Duration::from_secs(30), || async {
        let order = system_get::<agora_order::Order>(&bus, &order_id)
            .await
            .ok()?;
        (order["refunded"]["amount_minor"].as_i64() == Some(expected)).then_some(order)
    })
    .await
    .expect("the order shows the refund once");
    assert_eq!(order["lines"][0]["refunded_units"], 1, "{order}");
    drop(agora);
    pool.close().await;
}

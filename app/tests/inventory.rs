//! Inventory: stock that can never be oversold, reservations that expire, movements on record.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agora::Roles;
use agora_inventory::{AdjustReason, StockCommand};
use common::{spawn_app, system_command, system_get, until_sql};

fn in_minutes(m: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::minutes(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_reservations_of_fifty_units_sell_exactly_fifty() {
    let app = spawn_app(Roles::all()).await;
    let bus = app.bus().await;
    let now = chrono::Utc::now();
    system_command(
        &bus,
        "HOT-1",
        &StockCommand::Receive {
            quantity: 50,
            reason: None,
            now,
        },
    )
    .await
    .expect("receive");

    // A reader watches the actor's view and the read model all along: the 50 units on hand
    // never move, reservations stay within them, and what is available is exactly the rest.
    // (The read model's `available >= 0` is a CHECK constraint, so asserting it proves
    // nothing; its consistency with the other columns does.)
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        let bus = bus.clone();
        let pool = app.pool.clone();
        tokio::spawn(async move {
            let (mut reads, mut projected) = (0u32, false);
            while !done.load(Ordering::SeqCst) {
                let view = system_get::<agora_inventory::StockItem>(&bus, "HOT-1")
                    .await
                    .expect("get");
                let field = |name: &str| {
                    view[name]
                        .as_i64()
                        .unwrap_or_else(|| panic!("{name}: {view}"))
                };
                let (available, reserved, on_hand) =
                    (field("available"), field("reserved"), field("on_hand"));
                assert_eq!(on_hand, 50, "{view}");
                assert!((0..=on_hand).contains(&reserved), "{view}");
                assert_eq!(available, on_hand - reserved, "{view}");
                let row: Option<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT available, reserved, on_hand FROM stock_levels WHERE sku = 'HOT-1'",
                )
                .fetch_optional(&pool)
                .await
                .expect("read model");
                match row {
                    Some((available, reserved, on_hand)) => {
                        projected = true;
                        assert_eq!(on_hand, 50);
                        assert!((0..=on_hand).contains(&reserved), "{reserved}");
                        assert_eq!(available, on_hand - reserved);
                    }
                    // Before the first projection there is no row; once there is, it stays.
                    None => assert!(!projected, "the read model row disappeared"),
                }
                reads += 1;
            }
            reads
        })
    };

    let attempts = (0..200).map(|i| {
        let bus = bus.clone();
        async move {
            let reserve = StockCommand::Reserve {
                reservation_id: format!("order-{i}"),
                quantity: 1,
                expires_at: in_minutes(15),
                order_ref: format!("order-{i}"),
                now: chrono::Utc::now(),
            };
            system_command(&bus, "HOT-1", &reserve).await
        }
    });
    let results = futures::future::join_all(attempts).await;
    done.store(true, Ordering::SeqCst);
    let reads = reader.await.expect("reader");
    assert!(reads > 0);

    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 50, "exactly the stock on hand was reserved");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code, "inventory.insufficient_stock", "{r}");
    }
    let view = system_get::<agora_inventory::StockItem>(&bus, "HOT-1")
        .await
        .expect("get");
    assert_eq!(
        (view["available"].as_i64(), view["reserved"].as_i64()),
        (Some(0), Some(50))
    );
    until_sql(
        &app.pool,
        "SELECT available = 0 AND reserved = 50 FROM stock_levels WHERE sku = 'HOT-1'",
        Duration::from_secs(20),
    )
    .await;
    until_sql(
        &app.pool,
        "SELECT count(*) = 50 FROM stock_reservations WHERE sku = 'HOT-1'",
        Duration::from_secs(20),
    )
    .await;
    // Group commit: 51 stock-changing commands did not need 51 transactions.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE aggregate_id = 'HOT-1'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert!(transactions < 51, "{transactions} transactions");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_reservations_return_their_stock() {
    let app = spawn_app(Roles::all()).await;
    let bus = app.bus().await;
    let now = chrono::Utc::now();
    system_command(
        &bus,
        "EXP-1",
        &StockCommand::Receive {
            quantity: 3,
            reason: None,
            now,
        },
    )
    .await
    .expect("receive");
    let reserve = StockCommand::Reserve {
        reservation_id: "r1".into(),
        quantity: 3,
        expires_at: now + chrono::Duration::milliseconds(1500),
        order_ref: "o1".into(),
        now,
    };
    system_command(&bus, "EXP-1", &reserve)
        .await
        .expect("reserve");
    let view = system_get::<agora_inventory::StockItem>(&bus, "EXP-1")
        .await
        .expect("get");
    assert_eq!(view["available"], 0);
    // The expiry job finds the due reservation in the read model and expires it; the read
    // model then shows the stock back (the version check rules out reading it before the
    // reservation was even projected).
    until_sql(
        &app.pool,
        "SELECT available = 3 AND reserved = 0 AND EXISTS (SELECT 1 FROM stock_movements WHERE sku = 'EXP-1' AND kind = 'ReservationExpired') FROM stock_levels WHERE sku = 'EXP-1'",
        Duration::from_secs(30),
    )
    .await;
    let expired: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = 'EXP-1' AND event_type = 'ReservationExpired'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(expired, 1);
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM stock_movements WHERE sku = 'EXP-1' ORDER BY sequence",
    )
    .fetch_all(&app.pool)
    .await
    .expect("ledger");
    assert_eq!(
        kinds,
        ["StockReceived", "StockReserved", "ReservationExpired"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_signals_low_out_and_back_in() {
    let app = spawn_app(Roles::all()).await;
    let bus = app.bus().await;
    let now = chrono::Utc::now;
    system_command(
        &bus,
        "SIG-1",
        &StockCommand::Receive {
            quantity: 6,
            reason: None,
            now: now(),
        },
    )
    .await
    .expect("receive");
    system_command(
        &bus,
        "SIG-1",
        &StockCommand::Adjust {
            delta: -2,
            reason: AdjustReason::Damaged,
            note: None,
            now: now(),
        },
    )
    .await
    .expect("adjust");
    system_command(
        &bus,
        "SIG-1",
        &StockCommand::Adjust {
            delta: -4,
            reason: AdjustReason::Lost,
            note: None,
            now: now(),
        },
    )
    .await
    .expect("adjust");
    system_command(
        &bus,
        "SIG-1",
        &StockCommand::Receive {
            quantity: 1,
            reason: None,
            now: now(),
        },
    )
    .await
    .expect("receive");
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_id = 'SIG-1' ORDER BY sequence",
    )
    .fetch_all(&app.pool)
    .await
    .expect("events");
    for signal in ["BackInStock", "LowStock", "OutOfStock"] {
        assert_eq!(
            types.iter().filter(|t| *t == signal).count(),
            if signal == "BackInStock" { 2 } else { 1 },
            "{types:?}"
        );
    }
    // Guests and customers cannot move stock.
    let guest = agora_kernel::Principal::Guest {
        token_sha256: "00".repeat(32),
    };
    let receive = agora_inventory::StockCommand::Receive {
        quantity: 5,
        reason: None,
        now: chrono::Utc::now(),
    };
    let ctx = agora_nats::RequestContext::new(Duration::from_secs(10));
    let err = bus
        .call::<_, serde_json::Value>(
            "SIG-1",
            agora_kernel::CommandId::new_random(),
            guest,
            &receive,
            &ctx,
        )
        .await
        .expect_err("forbidden");
    assert_eq!(err.code, "inventory.forbidden");
    app.stop().await;
}

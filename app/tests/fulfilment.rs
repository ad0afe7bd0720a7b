//! Fulfilment and returns end to end over HTTP: an order of three lines packed into two
//! parcels (never a unit twice), handed to carriers and tracked to delivered through both
//! carrier webhooks (forged, expired and replayed deliveries refused without effect), the
//! order's status and the shopper's mails following each step once; a return of one line
//! approved, received, restocked and refunded exactly its paid share, never twice; returns of
//! undelivered units or after the window refused with clear codes.

mod common;

use std::time::Duration;

use agora::Roles;
use common::fulfil::{
    admin_get, admin_post, easypost, easypost_event, easypost_hook, generic_hook,
    generic_hook_signed, hand_over, hook_until_known, order_until, pack, request_return,
    return_until, scan, ship_and_deliver,
};
use common::CARRIER_SECRET;
use common::{shop, spawn_app, spawn_app_with, system_command, system_get, until_sql, TestApp};
use serde_json::{json, Value};

async fn order_of(app: &TestApp, lines: &[(&str, i64)], code: Option<&str>) -> (String, String) {
    let cart = shop::cart(&app.http, &app.base, lines).await;
    let body = match code {
        Some(code) => shop::checkout_body_with_code("pm_card_visa", code),
        None => shop::checkout_body("pm_card_visa"),
    };
    let r = shop::checkout(
        &app.http,
        &app.base,
        &cart,
        &format!("co-{}", cart.0),
        &body,
    )
    .await;
    let status = r.status();
    let reply: Value = r.json().await.expect("json");
    assert!(status == 201 || status == 200, "{status}: {reply}");
    let order_id = reply["order_id"].as_str().expect("order id").to_string();
    let order = shop::settled(&app.bus().await, &order_id, Duration::from_secs(30)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    (order_id, cart.1)
}

fn parcel_events(events: &[agora_kernel::RecordedEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event_type == "OrderParcelUpdated")
        .map(|e| {
            let p = &e.payload["OrderParcelUpdated"];
            format!(
                "{}:{}",
                p["status"].as_str().unwrap_or(""),
                p["order_status"].as_str().unwrap_or("")
            )
        })
        .collect()
}

async fn parcel_mails(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notifications WHERE kind = 'parcel_update'")
        .fetch_one(&app.pool)
        .await
        .expect("count mails")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_lines_ship_in_two_parcels_tracked_to_delivered_once_each() {
    let app = spawn_app(Roles::all()).await;
    let (http, base) = (&app.http, app.base.as_str());
    shop::product(
        http,
        base,
        &[("TEE-A", 1000), ("TEE-B", 1500), ("TEE-C", 2000)],
        10,
    )
    .await;
    shop::until_for_sale(&app.pool, &["TEE-A", "TEE-B", "TEE-C"]).await;
    let (order_id, _) = order_of(&app, &[("TEE-A", 1), ("TEE-B", 2), ("TEE-C", 1)], None).await;

    // Parcel one: A and one B. A retry with the same key is the same parcel.
    let (status, first) = pack(
        http,
        base,
        &order_id,
        "parcel-1",
        &[("TEE-A", 1), ("TEE-B", 1)],
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "packing");
    let (status, again) = pack(
        http,
        base,
        &order_id,
        "parcel-1",
        &[("TEE-A", 1), ("TEE-B", 1)],
    )
    .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], first["id"]);
    // No unit packs twice: two more B are more than the order has left.
    let (status, refused) = pack(http, base, &order_id, "parcel-x", &[("TEE-B", 2)]).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("order.exceeds_unshipped")),
        "{refused}"
    );
    // Parcel two: everything left (one B and C).
    let (status, second) = pack(http, base, &order_id, "parcel-2", &[]).await;
    assert_eq!(status, 201, "{second}");
    let lines: Vec<(String, i64)> = second["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap_or("").to_string(),
                l["quantity"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![("TEE-B".to_string(), 1), ("TEE-C".to_string(), 1)]
    );
    let (status, nothing) = pack(http, base, &order_id, "parcel-3", &[]).await;
    assert_eq!(
        (status, nothing["code"].as_str()),
        (409, Some("order.exceeds_unshipped"))
    );
    let (first_id, second_id) = (
        first["id"].as_str().expect("id").to_string(),
        second["id"].as_str().expect("id").to_string(),
    );
    let (status, queue) = admin_get(http, base, "/admin/fulfilment/queue").await;
    assert_eq!(status, 200, "{queue}");
    assert!(queue["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .any(|o| o["order_id"] == order_id.as_str()));

    // Handed over one by one: partially shipped, then shipped.
    hand_over(http, base, &first_id, "DHL", "JD0001").await;
    order_until(http, base, &order_id, "partially shipped", |o| {
        o["status"] == "partially_shipped"
    })
    .await;
    hand_over(http, base, &second_id, "UPS", "1Z0002").await;
    order_until(http, base, &order_id, "shipped", |o| {
        o["status"] == "shipped"
    })
    .await;

    // The generic webhook moves parcel one along.
    let t0 = chrono::Utc::now();
    let at = |minutes: i64| (t0 + chrono::Duration::minutes(minutes)).to_rfc3339();
    let (status, reply) = hook_until_known(
        http,
        base,
        &scan("e-1", "JD0001", "in_transit", &at(1)),
        false,
    )
    .await;
    assert_eq!(
        (status, reply["applied"].as_bool()),
        (200, Some(true)),
        "{reply}"
    );
    let delivered = scan("e-2", "JD0001", "delivered", &at(2));
    let (status, reply) = generic_hook(http, base, &delivered).await;
    assert_eq!(
        (status, reply["applied"].as_bool()),
        (200, Some(true)),
        "{reply}"
    );

    let history_len = |s: Value| s["history"].as_array().map_or(0, |h| h.len());
    let (_, parcel) = admin_get(http, base, &format!("/admin/shipments/{first_id}")).await;
    let before = history_len(parcel);
    // Forged: signed with another secret. Expired: signed an hour ago. Malformed: not a scan.
    let now = chrono::Utc::now().timestamp();
    let late = scan("e-9", "JD0001", "exception", &at(3));
    let (status, reply) = generic_hook_signed(http, base, &late, "not-the-secret", now).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (401, Some("webhook.invalid_signature")),
        "{reply}"
    );
    let (status, reply) = generic_hook_signed(http, base, &late, CARRIER_SECRET, now - 3600).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (422, Some("webhook.expired")),
        "{reply}"
    );
    let (status, reply) = generic_hook(http, base, &json!({"hello": "world"})).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (422, Some("webhook.malformed")),
        "{reply}"
    );
    // Replayed: the same delivery again. Stale: a scan from before the delivery.
    let (status, reply) = generic_hook(http, base, &delivered).await;
    assert_eq!(
        (status, reply["ignored"].as_str()),
        (200, Some("duplicate")),
        "{reply}"
    );
    let (status, reply) = generic_hook(
        http,
        base,
        &scan("e-0", "JD0001", "out_for_delivery", &at(0)),
    )
    .await;
    assert_eq!(
        (status, reply["ignored"].as_str()),
        (200, Some("stale")),
        "{reply}"
    );
    let (_, parcel) = admin_get(http, base, &format!("/admin/shipments/{first_id}")).await;
    assert_eq!(history_len(parcel.clone()), before, "{parcel}");
    assert_eq!(parcel["status"], "delivered");

    // EasyPost delivers parcel two; a forged EasyPost delivery is refused first.
    let event = easypost_event("evt_ep_1", "1Z0002", "delivered", &at(4));
    let (status, reply) = easypost_hook(http, base, &event, "forged").await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (401, Some("webhook.invalid_signature")),
        "{reply}"
    );
    let (status, reply) = hook_until_known(http, base, &event, true).await;
    assert_eq!(
        (status, reply["applied"].as_bool()),
        (200, Some(true)),
        "{reply}"
    );
    let (status, reply) = easypost(http, base, &event).await;
    assert_eq!(
        (status, reply["ignored"].as_str()),
        (200, Some("duplicate")),
        "{reply}"
    );

    let order = order_until(http, base, &order_id, "delivered", |o| {
        o["status"] == "delivered"
    })
    .await;
    let parcels = order["parcels"].as_array().expect("parcels");
    assert_eq!(parcels.len(), 2, "{order}");
    assert!(
        parcels.iter().all(|p| p["status"] == "delivered"),
        "{order}"
    );
    assert!(order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .all(|l| l["delivered_units"] == l["quantity"]));

    // Each change of a parcel is one order event and one mail, whatever was replayed.
    let events = agora_runtime::EventStore::new(app.pool.clone())
        .range("order", &order_id, 0, u64::MAX)
        .await
        .expect("order events");
    let steps = parcel_events(&events);
    assert_eq!(
        steps,
        [
            "shipped:partially_shipped",
            "shipped:shipped",
            "in_transit:shipped",
            "delivered:shipped",
            "delivered:delivered"
        ],
        "{steps:?}"
    );
    until_sql(
        &app.pool,
        "SELECT count(*) = 5 FROM notifications WHERE kind = 'parcel_update'",
        Duration::from_secs(30),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(parcel_mails(&app).await, 5);
    let subjects: Vec<String> = sqlx::query_scalar(
        "SELECT subject FROM notifications WHERE kind = 'parcel_update' ORDER BY created_at",
    )
    .fetch_all(&app.pool)
    .await
    .expect("subjects");
    assert!(
        subjects.iter().any(|s| s.contains("was delivered")),
        "{subjects:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_returned_line_is_restocked_and_refunded_exactly_its_paid_share_once() {
    let app = spawn_app(Roles::all()).await;
    let (http, base) = (&app.http, app.base.as_str());
    shop::product(http, base, &[("MUG-A", 1250), ("MUG-B", 900)], 10).await;
    shop::until_for_sale(&app.pool, &["MUG-A", "MUG-B"]).await;
    shop::code_promotion(http, base, "FIVE", 500, json!({})).await;
    let (order_id, token) = order_of(&app, &[("MUG-A", 2), ("MUG-B", 1)], Some("FIVE")).await;

    // Nothing is returned before it arrived.
    let (status, reply) = request_return(
        http,
        base,
        &order_id,
        &token,
        "early",
        &[("MUG-A", 1, "size_or_fit")],
    )
    .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("order.not_delivered")),
        "{reply}"
    );

    let order = ship_and_deliver(http, base, &order_id, "JD-RET-1").await;
    let line = order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["sku"] == "MUG-A")
        .expect("line A")
        .clone();
    let line_paid = line["paid"]["amount_minor"].as_i64().expect("paid");
    // The line's share of the promotion and its tax are in what it cost.
    assert!(
        line["discount"]["amount_minor"].as_i64().expect("discount") > 0,
        "{line}"
    );
    let expected = agora_promotion::prorate(
        agora_kernel::Money::new(line_paid, agora_kernel::Currency::EUR),
        2,
        0,
        1,
    )
    .expect("share")
    .amount_minor;
    let bus = app.bus().await;
    let on_hand = |v: Value| v["on_hand"].as_i64().expect("on hand");
    let stock_before = on_hand(
        system_get::<agora_inventory::StockItem>(&bus, "MUG-A")
            .await
            .expect("stock"),
    );

    // A stranger's token learns nothing; a bad reason is a clear error.
    let (status, _) = request_return(
        http,
        base,
        &order_id,
        "not-a-token-of-this-order",
        "s",
        &[("MUG-A", 1, "size_or_fit")],
    )
    .await;
    assert!(status == 404 || status == 401, "{status}");
    let (status, reply) = request_return(
        http,
        base,
        &order_id,
        &token,
        "bad",
        &[("MUG-A", 1, "bored")],
    )
    .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (422, Some("return.invalid_reason")),
        "{reply}"
    );

    let (status, requested) = request_return(
        http,
        base,
        &order_id,
        &token,
        "ret-1",
        &[("MUG-A", 1, "size_or_fit")],
    )
    .await;
    assert_eq!(status, 201, "{requested}");
    assert_eq!(requested["status"], "requested");
    let return_id = requested["id"].as_str().expect("return id").to_string();
    // The same request again is the same return; more units than are left are refused.
    let (status, again) = request_return(
        http,
        base,
        &order_id,
        &token,
        "ret-1",
        &[("MUG-A", 1, "size_or_fit")],
    )
    .await;
    assert_eq!(
        (status, again["id"].as_str()),
        (201, Some(return_id.as_str())),
        "{again}"
    );
    let (status, reply) = request_return(
        http,
        base,
        &order_id,
        &token,
        "ret-2",
        &[("MUG-A", 2, "damaged")],
    )
    .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("order.exceeds_returnable")),
        "{reply}"
    );

    // The shopper reads it; staff approve and receive it.
    let (status, mine) = common::fulfil::send(
        http.get(format!("{base}/store/returns/{return_id}"))
            .header("X-Cart-Token", &token),
    )
    .await;
    assert_eq!(
        (status, mine["status"].as_str()),
        (200, Some("requested")),
        "{mine}"
    );
    let (status, reply) = admin_post(
        http,
        base,
        &format!("/admin/returns/{return_id}/approve"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("approved")),
        "{reply}"
    );
    let (status, reply) = admin_post(
        http,
        base,
        &format!("/admin/returns/{return_id}/receive"),
        None,
        json!({"lines": [{"sku": "MUG-A", "quantity": 1, "disposition": "restock"}]}),
    )
    .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("received")),
        "{reply}"
    );

    let closed = return_until(
        http,
        base,
        &return_id,
        "closed",
        Duration::from_secs(30),
        |r| r["status"] == "closed",
    )
    .await;
    let line = &closed["lines"][0];
    assert_eq!(
        line["refunded"]["amount_minor"].as_i64(),
        Some(expected),
        "{closed}"
    );
    assert_eq!(line["stock_moved"], true);
    assert_eq!(
        closed["shipping_refund"],
        Value::Null,
        "a change of mind pays its shipping"
    );
    let stock_after = on_hand(
        system_get::<agora_inventory::StockItem>(&bus, "MUG-A")
            .await
            .expect("stock"),
    );
    assert_eq!(stock_after, stock_before + 1);
    let order = order_until(http, base, &order_id, "refund recorded", |o| {
        o["refunded"]["amount_minor"].as_i64() == Some(expected)
    })
    .await;
    let a = order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["sku"] == "MUG-A")
        .expect("A")
        .clone();
    assert_eq!(
        (a["refunded_units"].as_i64(), a["returned_units"].as_i64()),
        (Some(1), Some(1)),
        "{order}"
    );
    assert_eq!(shop::gateway_ops(&app.pool, &order_id, "refund").await, 1);

    // A second refund of the returned units is refused, by the return and by the payment.
    let again = system_command(
        &bus,
        &return_id,
        &agora_returns::ReturnCommand::RecordRefund {
            sku: agora_kernel::Sku::parse("MUG-A").expect("sku"),
            refund_id: "another".into(),
            amount: agora_kernel::Money::new(expected, agora_kernel::Currency::EUR),
            now: chrono::Utc::now(),
        },
    )
    .await
    .expect_err("refused");
    assert_eq!(again.code, "return.already_refunded", "{again:?}");
    let (status, reply) = admin_post(
        http,
        base,
        &format!("/admin/orders/{order_id}/refund"),
        Some("refund-both-units"),
        json!({"line": {"sku": "MUG-A", "quantity": 2}}),
    )
    .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (422, Some("payment.invalid_refund_line")),
        "{reply}"
    );
    assert_eq!(shop::gateway_ops(&app.pool, &order_id, "refund").await, 1);
    // The returned unit is not returnable again; the other one is.
    let (status, reply) = request_return(
        http,
        base,
        &order_id,
        &token,
        "ret-3",
        &[("MUG-A", 2, "damaged")],
    )
    .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("order.exceeds_returnable")),
        "{reply}"
    );
    // The list is a read model: it shows the closed return once the projection has it.
    agora_testkit::eventually(Duration::from_secs(10), || async {
        let (status, list) = admin_get(http, base, "/admin/returns?status=closed").await;
        assert_eq!(status, 200, "{list}");
        list["returns"]
            .as_array()?
            .iter()
            .any(|r| r["return_id"] == return_id.as_str())
            .then_some(())
    })
    .await
    .expect("the closed return is listed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_return_after_the_window_is_refused_a_rejected_one_frees_its_units_and_a_whole_faulty_order_gets_its_shipping_back(
) {
    // A window of no days: delivered units are returnable the day they arrive, and no later.
    let app = spawn_app_with(Roles::all(), |c| c.return_window_days = 0).await;
    let (http, base) = (&app.http, app.base.as_str());
    shop::product(http, base, &[("CAP-A", 1500)], 10).await;
    shop::until_for_sale(&app.pool, &["CAP-A"]).await;
    let (order_id, token) = order_of(&app, &[("CAP-A", 1)], None).await;
    ship_and_deliver(http, base, &order_id, "JD-WIN-1").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, reply) = request_return(
        http,
        base,
        &order_id,
        &token,
        "late",
        &[("CAP-A", 1, "damaged")],
    )
    .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (409, Some("order.return_window_closed")),
        "{reply}"
    );
    // The refused request is on record as rejected, with the order's reason.
    until_sql(
        &app.pool,
        &format!("SELECT count(*) = 1 FROM returns WHERE order_id = '{order_id}' AND status = 'rejected'"),
        Duration::from_secs(30),
    )
    .await;
    let (status, list) =
        admin_get(http, base, &format!("/admin/returns?order_id={order_id}")).await;
    assert_eq!((status, list["total"].as_i64()), (200, Some(1)), "{list}");
    app.stop().await;

    // With a window, a rejected return's units may be returned again.
    let app = spawn_app(Roles::all()).await;
    let (http, base) = (&app.http, app.base.as_str());
    shop::product(http, base, &[("CAP-B", 1500)], 10).await;
    shop::until_for_sale(&app.pool, &["CAP-B"]).await;
    let (order_id, token) = order_of(&app, &[("CAP-B", 1)], None).await;
    ship_and_deliver(http, base, &order_id, "JD-WIN-2").await;
    let (status, first) = request_return(
        http,
        base,
        &order_id,
        &token,
        "r1",
        &[("CAP-B", 1, "defective")],
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let first_id = first["id"].as_str().expect("id");
    let (status, reply) = admin_post(
        http,
        base,
        &format!("/admin/returns/{first_id}/reject"),
        None,
        json!({"reason": "no defect found"}),
    )
    .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (200, Some("rejected")),
        "{reply}"
    );
    order_until(http, base, &order_id, "return released", |o| {
        o["returns"].as_array().is_some_and(|r| r.is_empty())
    })
    .await;
    let (status, second) = request_return(
        http,
        base,
        &order_id,
        &token,
        "r2",
        &[("CAP-B", 1, "defective")],
    )
    .await;
    assert_eq!(status, 201, "{second}");

    // The whole order comes back for the shop's fault: its shipping is refunded too, so the
    // shopper gets back everything they paid.
    let second_id = second["id"].as_str().expect("id");
    let (status, reply) = admin_post(
        http,
        base,
        &format!("/admin/returns/{second_id}/approve"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = admin_post(
        http,
        base,
        &format!("/admin/returns/{second_id}/receive"),
        None,
        json!({"lines": [{"sku": "CAP-B", "quantity": 1, "disposition": "write_off"}]}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let closed = return_until(
        http,
        base,
        second_id,
        "closed",
        Duration::from_secs(30),
        |r| r["status"] == "closed",
    )
    .await;
    let (_, order) = admin_get(http, base, &format!("/admin/orders/{order_id}")).await;
    let total = order["total"]["amount_minor"].as_i64().expect("total");
    let shipping = closed["shipping_refund"]["amount_minor"]
        .as_i64()
        .expect("shipping refunded");
    // €4.99 shipping with 19 % tax on it.
    assert_eq!(shipping, 594, "{closed}");
    assert_eq!(
        closed["refunded_total"]["amount_minor"].as_i64(),
        Some(total),
        "{closed}"
    );
    let order = order_until(http, base, &order_id, "refunded in full", |o| {
        o["status"] == "refunded"
    })
    .await;
    assert_eq!(order["refunded"]["amount_minor"].as_i64(), Some(total));
    // Written off: the unit came back and left the books as damaged, so stock is unchanged.
    let bus = app.bus().await;
    let stock = system_get::<agora_inventory::StockItem>(&bus, "CAP-B")
        .await
        .expect("stock");
    assert_eq!(stock["on_hand"].as_i64(), Some(9), "{stock}");
    app.stop().await;
}

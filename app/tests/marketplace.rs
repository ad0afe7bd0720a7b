//! The marketplace end to end, over HTTP: two vendors sell in one shop, a shopper buys from
//! both in one checkout and pays once, each vendor sees and ships only its own lines, the
//! ledger follows sales, a refund, a change of commission rule and a payout, and a suspended
//! vendor's products leave the storefront's search until it is reactivated.

mod common;

use std::time::{Duration, Instant};

use agora::Roles;
use agora_testkit::eventually;
use common::people::{self, call, call_with_key, As, Person};
use common::{shop, spawn_app_with, TestApp, ADMIN};
use reqwest::Method;
use serde_json::{json, Value};

type At = chrono::DateTime<chrono::Utc>;

fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn minor(v: &Value) -> i64 {
    v["amount_minor"].as_i64().unwrap_or(i64::MIN)
}

/// Creates, publishes and stocks a product of the signed-in vendor.
async fn vendor_product(
    app: &TestApp,
    who: &Person,
    vendor: &str,
    sku: &str,
    price: i64,
) -> String {
    people::vendor_product(
        app,
        who,
        vendor,
        sku,
        &format!("{sku} by {vendor}"),
        price,
        50,
    )
    .await
}

async fn set_rule(app: &TestApp, vendor: &str, rule: Value) {
    let (status, reply) = call(
        app,
        As::Bearer(ADMIN),
        Method::POST,
        &format!("/admin/vendors/{vendor}/commission-rules"),
        Some(rule),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}

/// Buys `lines` as a guest and waits until the order is confirmed.
async fn buy(app: &TestApp, lines: &[(&str, i64)], key: &str) -> Value {
    let cart = shop::cart(&app.http, &app.base, lines).await;
    let order_id = shop::checkout_ok(&app.http, &app.base, &cart, key, "pm_card_visa").await;
    let order = shop::settled(&app.bus().await, &order_id, Duration::from_secs(60)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    order
}

/// The vendor ledger's entries of `vendor` as `(kind, sku, amount)`, once `n` are there.
async fn entries(app: &TestApp, vendor: &str, n: usize) -> Vec<(String, Option<String>, i64)> {
    let pool = app.pool.clone();
    let vendor = vendor.to_string();
    eventually(Duration::from_secs(30), || {
        let pool = pool.clone();
        let vendor = vendor.clone();
        async move {
            let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
                "SELECT kind, sku, amount_minor FROM vendor_ledger WHERE vendor_id = $1 ORDER BY at, entry_id",
            )
            .bind(&vendor)
            .fetch_all(&pool)
            .await
            .ok()?;
            (rows.len() >= n).then_some(rows)
        }
    })
    .await
    .expect("ledger entries")
}

/// The vendors' ledger equals its rebuild from the event store.
async fn assert_ledger_rebuilds(app: &TestApp) {
    let snapshot = |pool: sqlx::PgPool| async move {
        sqlx::query_as::<_, (String, String, String, i64, i64)>(
            "SELECT entry_id, vendor_id, kind, amount_minor, source_sequence FROM vendor_ledger ORDER BY entry_id",
        )
        .fetch_all(&pool)
        .await
        .expect("ledger")
    };
    let live = snapshot(app.pool.clone()).await;
    agora::rebuild(&app.config, "vendor_sales")
        .await
        .expect("rebuild");
    assert_eq!(snapshot(app.pool.clone()).await, live);
}

async fn get(app: &TestApp, who: As<'_>, path: &str) -> (u16, Value) {
    let (status, reply) = call(app, who, Method::GET, path, None).await;
    (status.as_u16(), body(&reply))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_vendors_sell_in_one_checkout_ship_their_own_lines_and_are_paid_what_the_ledger_says() {
    // A return window of 0 days: sales are available at once, so a payout can follow them.
    let app = spawn_app_with(Roles::all(), |c| c.return_window_days = 0).await;
    let (acme_user, acme) = people::vendor_user(&app, "acme").await;
    let (bolt_user, bolt) = people::vendor_user(&app, "bolt").await;
    let shopper = people::sign_up(&app, "carla").await;
    let now = chrono::Utc::now();
    // Acme pays 10 %; Bolt 15 % plus 50 cents a line.
    set_rule(
        &app,
        &acme,
        json!({"rule_id": "acme-10", "percent_bp": 1000,
        "effective_from": now + chrono::Duration::milliseconds(500)}),
    )
    .await;
    set_rule(
        &app,
        &bolt,
        json!({"rule_id": "bolt-15", "percent_bp": 1500,
        "fixed": {"amount_minor": 50, "currency": "EUR"},
        "effective_from": now + chrono::Duration::milliseconds(500)}),
    )
    .await;
    vendor_product(&app, &acme_user, &acme, "ACME-MUG", 2000).await;
    vendor_product(&app, &bolt_user, &bolt, "BOLT-LAMP", 3000).await;
    shop::until_for_sale(&app.pool, &["ACME-MUG", "BOLT-LAMP"]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;

    // One checkout, one payment, two sub-orders.
    let order = buy(&app, &[("ACME-MUG", 2), ("BOLT-LAMP", 1)], "two-vendors").await;
    let order_id = order["id"].as_str().expect("order id").to_string();
    assert_eq!(
        order["sub_orders"].as_array().map(Vec::len),
        Some(2),
        "{order}"
    );
    // 7000 + 499 shipping, 19 % tax: 8924, paid once.
    assert_eq!(minor(&order["total"]), 8924, "{order}");
    assert_eq!(minor(&order["captured"]), 8924, "{order}");
    let paid = |sku: &str| {
        order["lines"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["sku"] == sku))
            .map_or(0, |l| minor(&l["paid"]))
    };
    assert_eq!((paid("ACME-MUG"), paid("BOLT-LAMP")), (4760, 3570));

    // Each vendor sees its own lines of the order, without the shopper's email or the payment.
    let path = format!("/admin/orders/{order_id}");
    for (who, sku) in [(&acme_user, "ACME-MUG"), (&bolt_user, "BOLT-LAMP")] {
        let (status, view) = get(&app, As::Bearer(&who.access), &path).await;
        assert_eq!(status, 200, "{view}");
        let skus: Vec<&str> = view["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .filter_map(|l| l["sku"].as_str())
            .collect();
        assert_eq!(skus, vec![sku], "{view}");
        assert_eq!(view["email"], "", "{view}");
        assert_eq!(minor(&view["captured"]), 0, "{view}");
        assert_eq!(minor(&view["total"]), paid(sku), "{view}");
        assert_eq!(view["shipping_address"]["city"], "London", "{view}");
    }
    // A shopper is no vendor.
    let (status, _) = get(&app, As::Bearer(&shopper.access), &path).await;
    assert_eq!(status, 403);

    // Each vendor packs and hands over its own lines; the other's are out of its reach.
    let (status, reply) = call(
        &app,
        As::Bearer(&acme_user.access),
        Method::POST,
        &format!("/admin/orders/{order_id}/shipments"),
        Some(json!({"lines": [{"sku": "BOLT-LAMP", "quantity": 1}]})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), people::code(&reply).as_str()),
        (403, "order.forbidden"),
        "{reply}"
    );
    let mut parcels = vec![];
    for (who, carrier) in [(&acme_user, "DHL"), (&bolt_user, "UPS")] {
        let (status, reply) = call_with_key(
            &app,
            As::Bearer(&who.access),
            Method::POST,
            &format!("/admin/orders/{order_id}/shipments"),
            None,
            &format!("pack-{carrier}"),
        )
        .await;
        assert_eq!(status, 201, "{reply}");
        let parcel = body(&reply);
        assert_eq!(
            parcel["lines"].as_array().map(Vec::len),
            Some(1),
            "{parcel}"
        );
        let id = parcel["id"].as_str().expect("shipment id").to_string();
        let (status, reply) = call(
            &app,
            As::Bearer(&who.access),
            Method::POST,
            &format!("/admin/shipments/{id}/hand-over"),
            Some(json!({"carrier": carrier, "tracking_number": format!("{carrier}123456")})),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        parcels.push(id);
    }
    // Bolt cannot see or touch Acme's parcel, nor Acme Bolt's.
    for (who, parcel) in [(&bolt_user, &parcels[0]), (&acme_user, &parcels[1])] {
        let (status, _) = get(
            &app,
            As::Bearer(&who.access),
            &format!("/admin/shipments/{parcel}"),
        )
        .await;
        assert_eq!(status, 404);
        let (status, _) = call(
            &app,
            As::Bearer(&who.access),
            Method::POST,
            &format!("/admin/shipments/{parcel}/cancel"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 404);
    }
    let shipped = eventually(Duration::from_secs(30), || async {
        let (_, view) = get(&app, As::Bearer(ADMIN), &path).await;
        (view["status"] == "shipped").then_some(view)
    })
    .await
    .expect("the order shipped once both vendors handed over");
    assert!(
        shipped["sub_orders"]
            .as_array()
            .expect("sub-orders")
            .iter()
            .all(|s| s["status"] == "shipped"),
        "{shipped}"
    );

    // The vendor back office: every route answers the vendor, hides the other vendor's, and
    // refuses a shopper and an anonymous caller.
    let routes = |vendor: &str| -> Vec<String> {
        ["orders", "shipments", "returns", "ledger", "balance"]
            .iter()
            .map(|r| format!("/admin/vendors/{vendor}/{r}"))
            .chain([format!("/admin/vendors/{vendor}")])
            .collect()
    };
    for (who, own, other) in [(&acme_user, &acme, &bolt), (&bolt_user, &bolt, &acme)] {
        for route in routes(own) {
            let (status, view) = get(&app, As::Bearer(&who.access), &route).await;
            assert_eq!(status, 200, "{route}: {view}");
        }
        for route in routes(other) {
            let (status, view) = get(&app, As::Bearer(&who.access), &route).await;
            assert_eq!(status, 404, "{route}: {view}");
        }
        let (status, _) = call(
            &app,
            As::Bearer(&who.access),
            Method::POST,
            &format!("/admin/vendors/{other}/payouts"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 404);
    }
    for route in routes(&acme) {
        let (status, _) = get(&app, As::Bearer(&shopper.access), &route).await;
        assert_eq!(status, 403, "{route}");
        let (status, _) = get(&app, As::Nobody, &route).await;
        assert_eq!(status, 401, "{route}");
    }
    for route in [
        "/admin/orders",
        "/admin/vendors",
        "/admin/shipments",
        "/admin/returns",
    ] {
        let (status, _) = get(&app, As::Bearer(&acme_user.access), route).await;
        assert_eq!(status, 403, "{route} lists every vendor's");
    }
    let (status, list) = get(
        &app,
        As::Bearer(&acme_user.access),
        &format!("/admin/vendors/{acme}/orders"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["orders"][0]["order_id"], order_id.as_str(), "{list}");
    assert_eq!(list["orders"][0]["subtotal_minor"], 4000, "{list}");
    let (_, products) = get(&app, As::Bearer(&acme_user.access), "/admin/products").await;
    assert_eq!(
        products["total"], 1,
        "a vendor lists its own products only: {products}"
    );

    // The ledger after the sale: Acme 4760 sold, 476 commission; Bolt 3570, 536 + 50.
    let acme_sale = entries(&app, &acme, 2).await;
    assert_eq!(
        acme_sale,
        vec![
            ("commission".into(), Some("ACME-MUG".into()), -476),
            ("sale".into(), Some("ACME-MUG".into()), 4760),
        ]
    );
    let bolt_sale = entries(&app, &bolt, 2).await;
    assert_eq!(
        bolt_sale,
        vec![
            ("commission".into(), Some("BOLT-LAMP".into()), -586),
            ("sale".into(), Some("BOLT-LAMP".into()), 3570),
        ]
    );

    // A refund of one mug: 2380 back to the shopper, half the line's commission back to Acme.
    let r = app
        .http
        .post(format!("{}/admin/orders/{order_id}/refund", app.base))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", "one-mug")
        .json(&json!({"line": {"sku": "ACME-MUG", "quantity": 1}}))
        .send()
        .await
        .expect("refund");
    assert_eq!(r.status(), 202);
    let after_refund = entries(&app, &acme, 4).await;
    assert!(
        after_refund.contains(&("refund".into(), Some("ACME-MUG".into()), -2380)),
        "{after_refund:?}"
    );
    assert!(
        after_refund.contains(&("adjustment".into(), Some("ACME-MUG".into()), 238)),
        "{after_refund:?}"
    );

    // Acme's commission rises to 20 % from now on; the first sale keeps its 10 %.
    set_rule(
        &app,
        &acme,
        json!({"rule_id": "acme-20", "percent_bp": 2000,
        "effective_from": chrono::Utc::now() + chrono::Duration::milliseconds(300)}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = buy(&app, &[("ACME-MUG", 1)], "acme-again").await;
    let after_second = entries(&app, &acme, 6).await;
    assert!(after_second.contains(&("commission".into(), Some("ACME-MUG".into()), -476)));
    assert_eq!(
        after_second
            .iter()
            .filter(|e| e.0 == "commission")
            .map(|e| e.2)
            .collect::<Vec<_>>(),
        vec![-476, -476],
        "10 % of 4760 and 20 % of 2380"
    );
    // Worked example: 4760 − 476 − 2380 + 238 + 2380 − 476 = 4046.
    let (_, balance) = get(
        &app,
        As::Bearer(&acme_user.access),
        &format!("/admin/vendors/{acme}/balance"),
    )
    .await;
    assert_eq!(balance["available_minor"], 4046, "{balance}");
    assert_eq!(balance["pending_minor"], 0, "{balance}");

    // A payout on demand, retried with its key: one payout, one transfer.
    let payout = |key: &'static str| {
        let app = &app;
        let acme = &acme;
        let token = acme_user.access.clone();
        async move {
            call_with_key(
                app,
                As::Bearer(&token),
                Method::POST,
                &format!("/admin/vendors/{acme}/payouts"),
                Some(json!({"amount": {"amount_minor": 3000, "currency": "EUR"}})),
                key,
            )
            .await
        }
    };
    let (status, first) = payout("payout-1").await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = payout("payout-1").await;
    assert_eq!(status, 201, "{again}");
    let payout_id = body(&first)["payouts"][0]["id"]
        .as_str()
        .expect("payout id")
        .to_string();
    assert_eq!(
        body(&again)["payouts"][0]["id"].as_str(),
        Some(payout_id.as_str())
    );
    assert_eq!(body(&again)["payouts"].as_array().map(Vec::len), Some(1));
    // More than is left is refused; the balance does not move.
    let (status, reply) = payout("payout-2").await;
    assert_eq!(
        (status.as_u16(), people::code(&reply).as_str()),
        (409, "vendor.insufficient_balance"),
        "{reply}"
    );
    let paid_balance = eventually(Duration::from_secs(30), || async {
        let (_, b) = get(
            &app,
            As::Bearer(&acme_user.access),
            &format!("/admin/vendors/{acme}/balance"),
        )
        .await;
        (b["payouts"][0]["status"] == "paid").then_some(b)
    })
    .await
    .expect("the payout paid");
    assert_eq!(paid_balance["paid_out_minor"], 3000, "{paid_balance}");
    assert_eq!(paid_balance["available_minor"], 1046, "{paid_balance}");
    let transfers = agora_gateway::TestPayouts::new(app.pool.clone())
        .await
        .expect("test payouts")
        .transfers_for(&payout_id)
        .await
        .expect("count");
    assert_eq!(transfers, 1);

    // The ledger equals its rebuild from the event store, and a fold of its entries.
    assert_ledger_rebuilds(&app).await;
    let mut ledger = agora_vendor::Ledger::new(agora_kernel::Currency::parse("EUR").expect("EUR"));
    type Row = (String, String, i64, At, Option<At>);
    let rows: Vec<Row> =
        sqlx::query_as("SELECT entry_id, kind, amount_minor, at, available_at FROM vendor_ledger WHERE vendor_id = $1")
            .bind(&acme)
            .fetch_all(&app.pool)
            .await
            .expect("rows");
    for (id, kind, amount, at, available_at) in rows {
        let kind: agora_vendor::EntryKind = serde_json::from_value(json!(kind)).expect("a kind");
        ledger
            .apply(agora_vendor::LedgerEntry {
                id,
                kind,
                amount: agora_kernel::Money::new(
                    amount,
                    agora_kernel::Currency::parse("EUR").expect("EUR"),
                ),
                at,
                available_at,
            })
            .expect("an entry");
    }
    let folded = ledger.balances(chrono::Utc::now());
    assert_eq!(folded.earned_available.amount_minor, 4046);

    // Money adds up: vendors' net plus the platform's commission plus shipping is what the
    // shoppers paid less what was refunded.
    let (vendor_net, commission): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(sum(amount_minor), 0)::bigint,
                COALESCE(-sum(amount_minor) FILTER (WHERE kind = 'commission' OR kind = 'adjustment'), 0)::bigint
         FROM vendor_ledger",
    )
    .fetch_one(&app.pool)
    .await
    .expect("sums");
    let mut paid_in = 0;
    let mut shipping = 0;
    for id in [order_id.as_str(), second["id"].as_str().expect("id")] {
        let (_, view) = get(&app, As::Bearer(ADMIN), &format!("/admin/orders/{id}")).await;
        paid_in += minor(&view["captured"]) - minor(&view["refunded"]);
        let lines: i64 = view["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| minor(&l["paid"]))
            .sum();
        shipping += minor(&view["total"]) - lines;
    }
    assert_eq!(vendor_net + commission + shipping, paid_in);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_suspended_vendors_products_leave_search_and_come_back_on_reactivation() {
    let app = spawn_app_with(Roles::all(), |_| {}).await;
    let (user, vendor) = people::vendor_user(&app, "dune").await;
    vendor_product(&app, &user, &vendor, "DUNE-SAND", 1500).await;
    // A shop's own product is sold by nobody; a vendor filter takes a UUID.
    shop::product(&app.http, &app.base, &[("SHOP-SAND", 900)], 5).await;
    let (status, reply) = get(&app, As::Nobody, "/store/products?vendor_id=dune").await;
    assert_eq!(status, 400, "{reply}");
    shop::until_for_sale(&app.pool, &["DUNE-SAND"]).await;
    let listed = |app: &TestApp| {
        let http = app.http.clone();
        let base = app.base.clone();
        async move {
            let r: Value = http
                .get(format!("{base}/store/search?q=DUNE-SAND"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            Some(r["hits"].as_array().map_or(0, Vec::len))
        }
    };
    eventually(Duration::from_secs(30), || async {
        (listed(&app).await == Some(1)).then_some(())
    })
    .await
    .expect("listed");
    for (action, expected) in [("suspend", 0), ("reactivate", 1)] {
        let payload = (action == "suspend").then(|| json!({"reason": "counterfeit report"}));
        let started = Instant::now();
        let (status, reply) = call(
            &app,
            As::Bearer(ADMIN),
            Method::POST,
            &format!("/admin/vendors/{vendor}/{action}"),
            payload,
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        eventually(Duration::from_secs(10), || async {
            (listed(&app).await == Some(expected)).then_some(())
        })
        .await
        .expect("search follows the vendor");
        eprintln!("{action}: search followed in {:?}", started.elapsed());
        // Its storefront page and its products go and come back with it.
        let (status, page) = get(&app, As::Nobody, &format!("/store/vendors/{vendor}")).await;
        let (_, products) = get(
            &app,
            As::Nobody,
            &format!("/store/products?vendor_id={vendor}"),
        )
        .await;
        if action == "suspend" {
            assert_eq!(status, 404, "{page}");
            assert_eq!(products["total"], 0, "{products}");
        } else {
            assert_eq!((status, &page["name"]), (200, &json!("dune")), "{page}");
            assert_eq!(products["total"], 1, "{products}");
            let item = &products["items"][0];
            assert_eq!(item["sold_by"]["id"], json!(vendor), "{item}");
            assert_eq!(item["sold_by"]["name"], "dune", "{item}");
            let (_, one) = get(
                &app,
                As::Nobody,
                &format!(
                    "/store/products/{}",
                    item["id"].as_str().unwrap_or_default()
                ),
            )
            .await;
            assert_eq!(one["sold_by"]["name"], "dune", "{one}");
        }
        // Off sale while suspended: a cart holding the product cannot check out.
        let cart = shop::cart(&app.http, &app.base, &[("DUNE-SAND", 1)]).await;
        let r = shop::checkout(
            &app.http,
            &app.base,
            &cart,
            &format!("dune-{action}"),
            &shop::checkout_body("pm_card_visa"),
        )
        .await;
        let status = r.status().as_u16();
        let reply: Value = r.json().await.unwrap_or(Value::Null);
        if action == "suspend" {
            assert_eq!(
                (status, reply["code"].as_str()),
                (409, Some("checkout.item_unavailable")),
                "{reply}"
            );
        } else {
            assert_eq!(status, 201, "{reply}");
        }
    }
}

/// A signed Stripe dispute event about the intent `intent`, as Stripe sends it: the dispute
/// object names the intent, not our order.
fn dispute_event(event_id: &str, kind: &str, intent: &str, amount: i64, status: &str) -> String {
    json!({
        "id": event_id, "object": "event", "type": kind,
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {"id": format!("dp_{intent}_{amount}"), "object": "dispute",
            "amount": amount, "currency": "eur", "charge": "ch_1", "payment_intent": intent,
            "reason": "fraudulent", "status": status, "metadata": {}}}
    })
    .to_string()
}

async fn stripe_webhook(app: &TestApp, body: String) -> (u16, Value) {
    let r = shop::stripe_webhook(&app.http, &app.base, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The provider's reference of the payment of `order_id`, from the payments read model.
async fn intent_of(app: &TestApp, order_id: &str) -> String {
    let pool = app.pool.clone();
    eventually(Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT provider_ref FROM payments WHERE payment_id = $1 AND captured_minor > 0",
            )
            .bind(order_id)
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
        }
    })
    .await
    .expect("the payment in the payments read model")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chargeback_is_charged_to_the_vendors_in_proportion_and_a_won_dispute_gives_it_back() {
    let app = spawn_app_with(Roles::all(), |c| c.return_window_days = 0).await;
    let (acme_user, acme) = people::vendor_user(&app, "acme").await;
    let (bolt_user, bolt) = people::vendor_user(&app, "bolt").await;
    let now = chrono::Utc::now();
    for (vendor, rule) in [
        (&acme, json!({"rule_id": "acme-10", "percent_bp": 1000})),
        (
            &bolt,
            json!({"rule_id": "bolt-15", "percent_bp": 1500,
                   "fixed": {"amount_minor": 50, "currency": "EUR"}}),
        ),
    ] {
        let mut rule = rule;
        rule["effective_from"] = json!(now + chrono::Duration::milliseconds(500));
        set_rule(&app, vendor, rule).await;
    }
    vendor_product(&app, &acme_user, &acme, "ACME-MUG", 2000).await;
    vendor_product(&app, &bolt_user, &bolt, "BOLT-LAMP", 3000).await;
    shop::until_for_sale(&app.pool, &["ACME-MUG", "BOLT-LAMP"]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The whole of an order disputed: 4760 of Acme's, 3570 of Bolt's, 594 of shipping.
    let order = buy(&app, &[("ACME-MUG", 2), ("BOLT-LAMP", 1)], "disputed").await;
    let order_id = order["id"].as_str().expect("order id").to_string();
    assert_eq!(minor(&order["captured"]), 8924, "{order}");
    let intent = intent_of(&app, &order_id).await;
    let opened = dispute_event(
        "evt_d1",
        "charge.dispute.created",
        &intent,
        8924,
        "needs_response",
    );
    let (status, reply) = stripe_webhook(&app, opened.clone()).await;
    assert_eq!((status, &reply["applied"]), (200, &json!(true)), "{reply}");
    // Stripe redelivers: nothing more happens.
    let (status, _) = stripe_webhook(&app, opened).await;
    assert_eq!(status, 200);
    let acme_rows = entries(&app, &acme, 4).await;
    assert_eq!(
        acme_rows
            .iter()
            .map(|(kind, _, amount)| (kind.as_str(), *amount))
            .collect::<Vec<_>>(),
        vec![
            ("commission", -476),
            ("sale", 4760),
            ("adjustment", 476),
            ("chargeback", -4760)
        ]
    );
    let bolt_rows = entries(&app, &bolt, 4).await;
    assert!(
        bolt_rows.contains(&("chargeback".into(), Some("BOLT-LAMP".into()), -3570))
            && bolt_rows.contains(&("adjustment".into(), Some("BOLT-LAMP".into()), 586)),
        "{bolt_rows:?}"
    );
    let balance = |vendor: String, token: String| {
        let app = &app;
        async move {
            let (_, b) = get(
                app,
                As::Bearer(&token),
                &format!("/admin/vendors/{vendor}/balance"),
            )
            .await;
            b["available_minor"].as_i64().unwrap_or(i64::MIN)
        }
    };
    assert_eq!(balance(acme.clone(), acme_user.access.clone()).await, 0);

    // The order shows the dispute to staff; no refund may be made while it is open.
    let path = format!("/admin/orders/{order_id}");
    let (_, view) = get(&app, As::Bearer(ADMIN), &path).await;
    assert_eq!(view["disputes"][0]["reason"], "fraudulent", "{view}");
    assert_eq!(view["disputes"][0]["outcome"], Value::Null, "{view}");
    assert_eq!(view["status"], "confirmed", "{view}");
    let (status, reply) = call_with_key(
        &app,
        As::Bearer(ADMIN),
        Method::POST,
        &format!("{path}/refund"),
        Some(json!({"amount_minor": 100})),
        "refund-while-disputed",
    )
    .await;
    assert_eq!(
        (status.as_u16(), people::code(&reply).as_str()),
        (409, "payment.disputed"),
        "{reply}"
    );
    // A vendor sees neither the dispute nor the payment.
    let (_, vendor_view) = get(&app, As::Bearer(&acme_user.access), &path).await;
    assert_eq!(vendor_view["disputes"], json!([]), "{vendor_view}");

    // Won: every charge comes back, commission included.
    let won = dispute_event("evt_d2", "charge.dispute.closed", &intent, 8924, "won");
    let (status, reply) = stripe_webhook(&app, won).await;
    assert_eq!((status, &reply["applied"]), (200, &json!(true)), "{reply}");
    let acme_rows = entries(&app, &acme, 6).await;
    assert!(
        acme_rows.contains(&("adjustment".into(), Some("ACME-MUG".into()), 4760))
            && acme_rows.contains(&("commission".into(), Some("ACME-MUG".into()), -476)),
        "{acme_rows:?}"
    );
    assert_eq!(balance(acme.clone(), acme_user.access.clone()).await, 4284);
    let (_, view) = get(&app, As::Bearer(ADMIN), &path).await;
    assert_eq!(view["disputes"][0]["outcome"], "won", "{view}");

    // Part of a second order disputed and lost: each vendor is charged its lines' share of
    // 1000, rounded down; the rest is the shop's.
    let second = buy(&app, &[("ACME-MUG", 1), ("BOLT-LAMP", 1)], "disputed-2").await;
    let second_id = second["id"].as_str().expect("order id").to_string();
    let captured = minor(&second["captured"]);
    let intent = intent_of(&app, &second_id).await;
    for (event_id, kind, status) in [
        ("evt_d3", "charge.dispute.created", "needs_response"),
        ("evt_d4", "charge.dispute.closed", "lost"),
    ] {
        let (code, reply) =
            stripe_webhook(&app, dispute_event(event_id, kind, &intent, 1000, status)).await;
        assert_eq!((code, &reply["applied"]), (200, &json!(true)), "{reply}");
    }
    let acme_share = 1000 * 2380 / captured;
    let bolt_share = 1000 * 3570 / captured;
    let acme_rows = entries(&app, &acme, 10).await;
    assert!(
        acme_rows.contains(&("chargeback".into(), Some("ACME-MUG".into()), -acme_share)),
        "{acme_rows:?}"
    );
    let bolt_rows = entries(&app, &bolt, 10).await;
    assert!(
        bolt_rows.contains(&("chargeback".into(), Some("BOLT-LAMP".into()), -bolt_share)),
        "{bolt_rows:?}"
    );
    assert!(acme_share + bolt_share <= 1000);
    let charged_back = eventually(Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT charged_back_minor FROM payments WHERE payment_id = $1 AND charged_back_minor > 0",
        )
        .bind(&second_id)
        .fetch_optional(&app.pool)
        .await
        .ok()
        .flatten()
    })
    .await
    .expect("the chargeback in the payments read model");
    assert_eq!(charged_back, 1000);
    // Staff read the payment with its dispute; the payment is not a vendor's to read.
    let payment_path = format!("/admin/orders/{second_id}/payment");
    let (status, payment) = get(&app, As::Bearer(ADMIN), &payment_path).await;
    assert_eq!(status, 200, "{payment}");
    assert_eq!(minor(&payment["charged_back"]), 1000, "{payment}");
    assert_eq!(payment["disputes"][0]["status"], "lost", "{payment}");
    let (status, _) = get(&app, As::Bearer(&acme_user.access), &payment_path).await;
    assert_eq!(status, 403);
    let (_, view) = get(
        &app,
        As::Bearer(ADMIN),
        &format!("/admin/orders/{second_id}"),
    )
    .await;
    let events: Vec<&str> = view["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(
        events.ends_with(&["dispute_opened", "dispute_lost"]),
        "{events:?}"
    );

    // The vendor's sales report adds up its day: what it sold, charged back and got back.
    let today = chrono::Utc::now().date_naive();
    let report_path = format!("/admin/vendors/{acme}/reports/sales?from={today}&to={today}");
    let (status, report) = get(&app, As::Bearer(&acme_user.access), &report_path).await;
    assert_eq!(status, 200, "{report}");
    let day = &report["items"][0];
    assert_eq!(day["orders"], 2, "{report}");
    assert_eq!(day["sales_minor"], 4760 + 2380, "{report}");
    assert_eq!(day["chargebacks_minor"], -(4760 + acme_share), "{report}");
    let net: i64 = acme_rows.iter().map(|(_, _, amount)| amount).sum();
    assert_eq!(day["net_minor"], net, "{report}");
    let (status, _) = get(&app, As::Bearer(&bolt_user.access), &report_path).await;
    assert_eq!(status, 404);
    let (status, csv) = call(
        &app,
        As::Bearer(ADMIN),
        Method::GET,
        &format!("/admin/vendors/{acme}/reports/sales.csv?from={today}&to={today}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        csv.starts_with("day,currency,orders,sales_minor,")
            && csv.contains(&format!("{today},EUR,2,7140,")),
        "{csv}"
    );

    // The ledger and the payments equal their rebuilds from the event store.
    for (projection, query) in [
        (
            "vendor_sales",
            "SELECT entry_id || ':' || amount_minor FROM vendor_ledger ORDER BY entry_id",
        ),
        (
            "payments",
            "SELECT payment_id || ':' || provider_ref || ':' || charged_back_minor || ':' || open_disputes FROM payments ORDER BY payment_id",
        ),
    ] {
        let rows = |pool: sqlx::PgPool| async move {
            sqlx::query_scalar::<_, String>(query)
                .fetch_all(&pool)
                .await
                .expect("rows")
        };
        let live = rows(app.pool.clone()).await;
        agora::rebuild(&app.config, projection)
            .await
            .expect("rebuild");
        assert_eq!(rows(app.pool.clone()).await, live, "{projection}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_inventory_service_itself_keeps_a_vendor_to_its_own_skus() {
    let app = spawn_app_with(Roles::all(), |_| {}).await;
    let (east_user, east) = people::vendor_user(&app, "east").await;
    let (west_user, west) = people::vendor_user(&app, "west").await;
    vendor_product(&app, &east_user, &east, "EAST-1", 1000).await;
    vendor_product(&app, &west_user, &west, "WEST-1", 1000).await;
    shop::product(&app.http, &app.base, &[("SHOP-1", 1000)], 5).await;
    // Straight to the service over NATS, past the edge, as each vendor's user.
    let bus = app.bus().await;
    let ctx = agora_nats::RequestContext::new(Duration::from_secs(30));
    let as_vendor = |vendor: &str| agora_kernel::Principal::Vendor {
        id: "someone".into(),
        vendor: vendor.into(),
    };
    let receive = agora_inventory::StockCommand::Receive {
        quantity: 5,
        reason: None,
        now: chrono::Utc::now(),
    };
    let send = |sku: &'static str, vendor: String| {
        let (bus, ctx, receive) = (&bus, &ctx, receive.clone());
        async move {
            bus.send(
                sku,
                agora_kernel::CommandId::new_random(),
                as_vendor(&vendor),
                &receive,
                ctx,
            )
            .await
            .map(|reply| reply.view.on_hand)
            .map_err(|e| e.code)
        }
    };
    assert_eq!(send("EAST-1", east.clone()).await, Ok(55));
    // Another vendor's SKU, the shop's own and one no product owns: refused, nothing written.
    for sku in ["WEST-1", "SHOP-1", "NOBODYS-1"] {
        assert_eq!(
            send(sku, east.clone()).await,
            Err("inventory.forbidden".to_string()),
            "{sku}"
        );
    }
    let read = |sku: &'static str, vendor: String| {
        let (bus, ctx) = (&bus, &ctx);
        async move {
            bus.read::<agora_inventory::StockItem>(sku, as_vendor(&vendor), ctx)
                .await
                .map(|v| v.on_hand)
                .map_err(|e| e.code)
        }
    };
    assert_eq!(read("WEST-1", west.clone()).await, Ok(50));
    assert_eq!(
        read("WEST-1", east.clone()).await,
        Err("inventory.forbidden".to_string())
    );
    let staff_view = common::system_get::<agora_inventory::StockItem>(&bus, "WEST-1")
        .await
        .expect("west's stock");
    assert_eq!(staff_view["on_hand"], 50, "{staff_view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vendors_user_shops_as_the_customer_of_its_own_account() {
    let app = spawn_app_with(Roles::all(), |_| {}).await;
    let (user, vendor) = people::vendor_user(&app, "fern").await;
    vendor_product(&app, &user, &vendor, "FERN-POT", 1200).await;
    shop::product(&app.http, &app.base, &[("SHOP-POT", 800)], 5).await;
    shop::until_for_sale(&app.pool, &["FERN-POT", "SHOP-POT"]).await;
    // Its own cart and order, with the same token it runs its back office with.
    let (status, reply) = call(
        &app,
        As::Bearer(&user.access),
        Method::POST,
        "/store/carts",
        None,
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let cart = body(&reply)["cart_id"].as_str().expect("cart").to_string();
    let (status, reply) = call(
        &app,
        As::Bearer(&user.access),
        Method::POST,
        &format!("/store/carts/{cart}/items"),
        Some(json!({"sku": "SHOP-POT", "quantity": 1})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = call(
        &app,
        As::Bearer(&user.access),
        Method::POST,
        &format!("/store/carts/{cart}/checkout"),
        Some(shop::checkout_body("pm_card_visa")),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let order = body(&reply)["order_id"]
        .as_str()
        .expect("order")
        .to_string();
    let settled = shop::settled(&app.bus().await, &order, Duration::from_secs(60)).await;
    assert_eq!(settled["status"], "confirmed", "{settled}");
    let (status, mine) = get(
        &app,
        As::Bearer(&user.access),
        &format!("/store/orders/{order}"),
    )
    .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["owner_kind"], "customer", "{mine}");
    // Another shopper's order, even one with the vendor's own line, is not its to read here:
    // its share of that is the back office's.
    let cart = shop::cart(&app.http, &app.base, &[("FERN-POT", 1)]).await;
    let theirs = shop::checkout_ok(&app.http, &app.base, &cart, "fern-buyer", "pm_card_visa").await;
    shop::settled(&app.bus().await, &theirs, Duration::from_secs(60)).await;
    let (status, _) = get(
        &app,
        As::Bearer(&user.access),
        &format!("/store/orders/{theirs}"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, share) = get(
        &app,
        As::Bearer(&user.access),
        &format!("/admin/orders/{theirs}"),
    )
    .await;
    assert_eq!(status, 200, "{share}");
    assert_eq!(share["email"], "", "{share}");
}

/// Saves zone `eu` (Great Britain) of the caller's own shipping rates, or of `vendor`'s, with
/// two flat options.
async fn own_rates(app: &TestApp, who: As<'_>, query: &str) -> (u16, Value) {
    let (status, reply) = call(
        app,
        who,
        Method::PUT,
        &format!("/admin/shipping/zones/eu{query}"),
        Some(json!({"name": "Great Britain", "areas": [{"country": "GB"}]})),
    )
    .await;
    if status != 200 {
        return (status.as_u16(), body(&reply));
    }
    for (id, price) in [("acme-post", 390), ("acme-express", 990)] {
        let (status, reply) = call(
            app,
            who,
            Method::PUT,
            &format!("/admin/shipping/zones/eu/options/{id}{query}"),
            Some(json!({"name": id, "kind": "standard", "min_days": 1, "max_days": 3,
                        "rate": {"type": "flat", "price": {"amount_minor": price, "currency": "EUR"}}})),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
    }
    (200, Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vendor_with_its_own_rates_charges_for_shipping_its_lines_and_is_credited_for_it() {
    let app = spawn_app_with(Roles::all(), |c| c.return_window_days = 0).await;
    let (acme_user, acme) = people::vendor_user(&app, "acme").await;
    let (bolt_user, bolt) = people::vendor_user(&app, "bolt").await;
    let shopper = people::sign_up(&app, "dora").await;
    vendor_product(&app, &acme_user, &acme, "ACME-MUG", 2000).await;
    vendor_product(&app, &bolt_user, &bolt, "BOLT-LAMP", 3000).await;
    shop::until_for_sale(&app.pool, &["ACME-MUG", "BOLT-LAMP"]).await;

    // Acme's users keep Acme's own rates; nobody else's but staff.
    assert_eq!(
        own_rates(&app, As::Bearer(&acme_user.access), "").await.0,
        200
    );
    let (status, reply) = own_rates(
        &app,
        As::Bearer(&bolt_user.access),
        &format!("?vendor={acme}"),
    )
    .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (403, Some("shipping.forbidden")),
        "{reply}"
    );
    let (status, reply) = get(
        &app,
        As::Bearer(&bolt_user.access),
        &format!("/admin/shipping?vendor={acme}"),
    )
    .await;
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = get(&app, As::Bearer(&bolt_user.access), "/admin/shipping").await;
    assert_eq!(
        (status, reply["zones"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{reply}"
    );
    let (status, reply) = get(
        &app,
        As::Bearer(&shopper.access),
        &format!("/admin/shipping?vendor={acme}"),
    )
    .await;
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = get(
        &app,
        As::Bearer(ADMIN),
        &format!("/admin/shipping?vendor={acme}"),
    )
    .await;
    assert_eq!(
        (
            status,
            reply["zones"][0]["options"].as_array().map(Vec::len)
        ),
        (200, Some(2)),
        "{reply}"
    );
    let (status, reply) = get(&app, As::Bearer(ADMIN), "/admin/shipping").await;
    assert_eq!(
        (status, reply["zones"].as_array().map(Vec::len)),
        (200, Some(0)),
        "the shop's own: {reply}"
    );
    let unknown = uuid::Uuid::new_v4();
    let (status, _) = get(
        &app,
        As::Bearer(ADMIN),
        &format!("/admin/shipping?vendor={unknown}"),
    )
    .await;
    assert_eq!(status, 404);

    // The cart's pricing: Bolt's lamp ships at the shop's one rate (4.99), Acme's mugs at
    // Acme's, pending until there is a destination, then its cheapest or the one chosen.
    let cart = shop::cart(&app.http, &app.base, &[("ACME-MUG", 2), ("BOLT-LAMP", 1)]).await;
    let pricing = |query: String| {
        let (http, base, cart) = (&app.http, &app.base, &cart);
        async move { shop::pricing(http, base, cart, &query).await }
    };
    let (status, priced) = pricing(String::new()).await;
    assert_eq!(status, 200, "{priced}");
    assert_eq!(
        (
            minor(&priced["shipping"]),
            &priced["shipping_pending"],
            &priced["vendor_shipping"][0]["pending"]
        ),
        (499, &json!(true), &json!(true)),
        "{priced}"
    );
    assert_eq!(priced["vendor_shipping"][0]["vendor_id"], acme.as_str());
    assert_eq!(priced["vendor_shipping"][0]["skus"], json!(["ACME-MUG"]));
    let (_, priced) = pricing("?country=GB".into()).await;
    assert_eq!(minor(&priced["shipping"]), 499 + 390, "{priced}");
    assert_eq!(
        priced["vendor_shipping"][0]["option"]["option_id"],
        "acme-post"
    );
    assert_eq!(
        priced["vendor_shipping"][0]["options"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let (_, priced) = pricing(format!(
        "?country=GB&vendor_shipping_options={acme}:acme-express"
    ))
    .await;
    assert_eq!(minor(&priced["shipping"]), 499 + 990, "{priced}");
    for (query, status, code) in [
        (
            format!("?country=GB&vendor_shipping_options={bolt}:acme-post"),
            422,
            "shipping.option_unavailable",
        ),
        (
            format!("?country=GB&vendor_shipping_options={acme}:by-pigeon"),
            422,
            "shipping.option_unavailable",
        ),
        (
            "?country=GB&vendor_shipping_options=nonsense".to_string(),
            400,
            "request.invalid_shipping_option",
        ),
        ("?country=US".to_string(), 422, "shipping.no_zone"),
    ] {
        let (got, reply) = pricing(query.clone()).await;
        assert_eq!(
            (got, reply["code"].as_str()),
            (status, Some(code)),
            "{query}: {reply}"
        );
    }

    // Checking out with Acme's express: one payment, Acme's charge recorded on the order.
    let mut checkout = shop::checkout_body("pm_card_visa");
    checkout["vendor_shipping_options"] = json!({ acme.as_str(): "by-pigeon" });
    let r = shop::checkout(&app.http, &app.base, &cart, "own-rates-bad", &checkout).await;
    assert_eq!(r.status(), 422);
    let refused: Value = r.json().await.expect("json");
    assert_eq!(refused["code"], "shipping.option_unavailable", "{refused}");
    checkout["vendor_shipping_options"] = json!({ acme.as_str(): "acme-express" });
    let r = shop::checkout(&app.http, &app.base, &cart, "own-rates", &checkout).await;
    assert_eq!(r.status(), 201);
    let placed: Value = r.json().await.expect("json");
    let order_id = placed["order_id"].as_str().expect("order id").to_string();
    let order = shop::settled(&app.bus().await, &order_id, Duration::from_secs(60)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(minor(&order["shipping"]), 499 + 990, "{order}");
    assert_eq!(order["vendor_shipping"][0]["vendor_id"], acme.as_str());
    assert_eq!(minor(&order["vendor_shipping"][0]["fee"]), 990);
    assert_eq!(
        order["vendor_shipping"][0]["option"]["option_id"],
        "acme-express"
    );
    // (7000 + 1489) × 1.19, rounded once.
    assert_eq!(minor(&order["total"]), 10_102, "{order}");
    assert_eq!(minor(&order["captured"]), 10_102, "{order}");

    // Each vendor sees its own shipping: Acme its charge and option, Bolt none of Acme's.
    let path = format!("/admin/orders/{order_id}");
    let (_, seen) = get(&app, As::Bearer(&acme_user.access), &path).await;
    assert_eq!(
        (
            minor(&seen["shipping"]),
            &seen["shipping_option"]["option_id"],
            minor(&seen["sub_orders"][0]["shipping"])
        ),
        (990, &json!("acme-express"), 990),
        "{seen}"
    );
    let (_, seen) = get(&app, As::Bearer(&bolt_user.access), &path).await;
    assert_eq!(minor(&seen["shipping"]), 0, "{seen}");
    assert!(seen.get("vendor_shipping").is_none(), "{seen}");
    assert!(!seen.to_string().contains("acme-express"), "{seen}");

    // The ledger credits Acme for the shipping it does, and Bolt for none.
    let acme_rows = entries(&app, &acme, 3).await;
    assert!(
        acme_rows.contains(&("shipping".into(), None, 990)),
        "{acme_rows:?}"
    );
    let bolt_rows = entries(&app, &bolt, 2).await;
    assert!(
        bolt_rows.iter().all(|(kind, _, _)| kind != "shipping"),
        "{bolt_rows:?}"
    );
    let (_, ledger) = get(
        &app,
        As::Bearer(&acme_user.access),
        &format!("/admin/vendors/{acme}/ledger"),
    )
    .await;
    assert!(ledger.to_string().contains("\"shipping\""), "{ledger}");

    // The shopper cancels before anything ships: the whole order is refunded, Acme's
    // shipping with it.
    let r = app
        .http
        .post(format!("{}/store/orders/{order_id}/cancel", app.base))
        .header("X-Cart-Token", &cart.1)
        .json(&json!({"note": "changed my mind"}))
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status(), 200);
    let acme_rows = entries(&app, &acme, 5).await;
    assert!(
        acme_rows.contains(&("refund".into(), None, -990)),
        "{acme_rows:?}"
    );
    let net: i64 = acme_rows.iter().map(|(_, _, amount)| amount).sum();
    assert_eq!(net, 0, "{acme_rows:?}");

    // A rebuild of the ledger from the event store writes the same entries.
    assert_ledger_rebuilds(&app).await;
}

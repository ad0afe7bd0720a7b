//! Packing, shipping, tracking and returning over HTTP, against any base URL (an in-process
//! platform or a child process).
#![allow(dead_code)]

use std::time::Duration;

use agora_testkit::eventually;
use serde_json::{json, Value};

use super::{ADMIN, CARRIER_SECRET, EASYPOST_SECRET};

/// A request's status and JSON body (`Null` when there is none).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST {base}{path}` as the admin, with an idempotency key when given.
pub async fn admin_post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    key: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = http
        .post(format!("{base}{path}"))
        .bearer_auth(ADMIN)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    send(request).await
}

pub async fn admin_get(http: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    send(http.get(format!("{base}{path}")).bearer_auth(ADMIN)).await
}

/// Packs `lines` (`[]`: everything left) of the order into a parcel; returns the shipment.
pub async fn pack(
    http: &reqwest::Client,
    base: &str,
    order_id: &str,
    key: &str,
    lines: &[(&str, i64)],
) -> (u16, Value) {
    let body = if lines.is_empty() {
        json!({})
    } else {
        json!({"lines": lines.iter().map(|(sku, q)| json!({"sku": sku, "quantity": q})).collect::<Vec<_>>()})
    };
    admin_post(
        http,
        base,
        &format!("/admin/orders/{order_id}/shipments"),
        Some(key),
        body,
    )
    .await
}

pub async fn hand_over(
    http: &reqwest::Client,
    base: &str,
    shipment_id: &str,
    carrier: &str,
    tracking_number: &str,
) -> Value {
    let (status, body) = admin_post(
        http,
        base,
        &format!("/admin/shipments/{shipment_id}/hand-over"),
        None,
        json!({"carrier": carrier, "tracking_number": tracking_number}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A scan in Agora's own webhook shape.
pub fn scan(event_id: &str, tracking_number: &str, status: &str, occurred_at: &str) -> Value {
    json!({"event_id": event_id, "tracking_number": tracking_number, "status": status,
           "occurred_at": occurred_at, "location": "Berlin"})
}

/// Posts `body` to the generic carrier webhook signed at `t` (unix seconds) with `secret`.
pub async fn generic_hook_signed(
    http: &reqwest::Client,
    base: &str,
    body: &Value,
    secret: &str,
    t: i64,
) -> (u16, Value) {
    let raw = serde_json::to_vec(body).expect("json");
    let signature = agora_fulfilment::carrier::sign_generic(secret.as_bytes(), t, &raw);
    send(
        http.post(format!("{base}/hooks/carriers/generic"))
            .header("Agora-Signature", signature)
            .header("Content-Type", "application/json")
            .body(raw),
    )
    .await
}

/// Posts `body` to the generic carrier webhook, signed now with the test secret.
pub async fn generic_hook(http: &reqwest::Client, base: &str, body: &Value) -> (u16, Value) {
    let now = chrono::Utc::now().timestamp();
    generic_hook_signed(http, base, body, CARRIER_SECRET, now).await
}

/// An EasyPost `tracker.updated` event.
pub fn easypost_event(event_id: &str, tracking_code: &str, status: &str, at: &str) -> Value {
    json!({
        "id": event_id, "object": "Event", "description": "tracker.updated",
        "mode": "test", "created_at": at,
        "result": {
            "id": "trk_1", "object": "Tracker", "mode": "test", "tracking_code": tracking_code,
            "status": status, "carrier": "UPS", "updated_at": at,
            "tracking_details": [{"object": "TrackingDetail", "message": "Delivered", "status": status,
                                  "datetime": at, "tracking_location": {"city": "Hamburg", "country": "DE"}}]
        }
    })
}

pub async fn easypost_hook(
    http: &reqwest::Client,
    base: &str,
    body: &Value,
    secret: &str,
) -> (u16, Value) {
    let raw = serde_json::to_vec(body).expect("json");
    let signature = agora_fulfilment::carrier::sign_easypost(secret.as_bytes(), &raw);
    send(
        http.post(format!("{base}/hooks/carriers/easypost"))
            .header("X-Hmac-Signature", signature)
            .header("Content-Type", "application/json")
            .body(raw),
    )
    .await
}

pub async fn easypost(http: &reqwest::Client, base: &str, body: &Value) -> (u16, Value) {
    easypost_hook(http, base, body, EASYPOST_SECRET).await
}

/// Posts a webhook until the tracking number is known (the shipments read model catches up
/// with a hand-over within moments); returns the final answer.
pub async fn hook_until_known(
    http: &reqwest::Client,
    base: &str,
    body: &Value,
    easypost_shape: bool,
) -> (u16, Value) {
    eventually(Duration::from_secs(30), || async {
        let (status, reply) = if easypost_shape {
            easypost(http, base, body).await
        } else {
            generic_hook(http, base, body).await
        };
        (reply["code"] != "shipment.unknown_tracking_number").then_some((status, reply))
    })
    .await
    .expect("the tracking number became known")
}

/// The order as the admin reads it, once `check` holds.
pub async fn order_until(
    http: &reqwest::Client,
    base: &str,
    order_id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(Duration::from_secs(30), || async {
        let (status, order) = admin_get(http, base, &format!("/admin/orders/{order_id}")).await;
        (status == 200 && check(&order)).then_some(order)
    })
    .await
    .unwrap_or_else(|_| panic!("order {order_id}: {what}"))
}

/// Packs everything, hands it over as DHL `tracking_number` and delivers it through the
/// generic webhook; returns the order once delivered.
pub async fn ship_and_deliver(
    http: &reqwest::Client,
    base: &str,
    order_id: &str,
    tracking_number: &str,
) -> Value {
    let (status, shipment) = pack(http, base, order_id, &format!("pack-{order_id}"), &[]).await;
    assert_eq!(status, 201, "{shipment}");
    let shipment_id = shipment["id"].as_str().expect("shipment id");
    hand_over(http, base, shipment_id, "DHL", tracking_number).await;
    let now = chrono::Utc::now().to_rfc3339();
    let (status, reply) = hook_until_known(
        http,
        base,
        &scan(
            &format!("evt-{tracking_number}-delivered"),
            tracking_number,
            "delivered",
            &now,
        ),
        false,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    order_until(http, base, order_id, "delivered", |o| {
        o["status"] == "delivered"
    })
    .await
}

/// Asks, as the guest with `cart_token`, to return `lines` (sku, quantity, reason).
pub async fn request_return(
    http: &reqwest::Client,
    base: &str,
    order_id: &str,
    cart_token: &str,
    key: &str,
    lines: &[(&str, i64, &str)],
) -> (u16, Value) {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, q, reason)| json!({"sku": sku, "quantity": q, "reason": reason}))
        .collect();
    send(
        http.post(format!("{base}/store/orders/{order_id}/returns"))
            .header("X-Cart-Token", cart_token)
            .header("Idempotency-Key", key)
            .json(&json!({"lines": lines})),
    )
    .await
}

/// The return as the admin reads it, once `check` holds.
pub async fn return_until(
    http: &reqwest::Client,
    base: &str,
    return_id: &str,
    what: &str,
    within: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(within, || async {
        let (status, r) = admin_get(http, base, &format!("/admin/returns/{return_id}")).await;
        (status == 200 && check(&r)).then_some(r)
    })
    .await
    .unwrap_or_else(|_| panic!("return {return_id}: {what}"))
}

//! Orders for the back office and the shopper's history (`orders`, one row per order), and the
//! sales report (`daily_sales`, one row per UTC day and currency).
//!
//! Rows are computed from the event payloads alone; no `Order` is folded. Each event updates the
//! order's row only when its sequence is newer than the row's `version`, in one statement that
//! also moves `version` forward, and its sales figures are added only when that statement
//! changed the row. A replayed event therefore changes neither table, and every event counts
//! in `daily_sales` exactly once.
//!
//! `daily_sales` is this projection's companion table: `rebuild` rebuilds and swaps it together
//! with `orders`, so a rebuild recounts the sales from the event store instead of adding them
//! to the live totals a second time.

use agora_kernel::RecordedEvent;
use agora_order::{CancelReason, OrderEvent, OrderOwner, OrderStatus};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Row};

use crate::runtime::companion_table;
use crate::Projection;

/// The sales report's table, a companion of `orders`.
pub const DAILY_SALES: &str = "daily_sales";
/// One row per vendor of each order (its lines' figures, the order's status), a companion of
/// `orders`: a vendor's back-office list reads only its own rows.
pub const VENDOR_ORDERS: &str = "vendor_orders";

pub struct Orders;

impl Projection for Orders {
    const NAME: &'static str = "orders";
    const AGGREGATE_TYPE: &'static str = "order";
    const ID_COLUMN: &'static str = "order_id";
    const COMPANION_TABLES: &'static [&'static str] = &[DAILY_SALES, VENDOR_ORDERS];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let tables = Tables {
            orders: table,
            sales: &companion_table(Self::NAME, table, DAILY_SALES),
            vendors: &companion_table(Self::NAME, table, VENDOR_ORDERS),
        };
        for e in events {
            let event: OrderEvent = serde::Deserialize::deserialize(&e.payload)?;
            apply_event(conn, &tables, &e.aggregate_id, e.sequence, &event).await?;
        }
        Ok(())
    }
}

/// The live tables (or a rebuild's copies) one event writes.
struct Tables<'a> {
    orders: &'a str,
    sales: &'a str,
    vendors: &'a str,
}

/// What one event changes in an order's row besides `version` and `updated_at`.
#[derive(Debug, Default)]
struct Change<'a> {
    status: Option<OrderStatus>,
    captured: i64,
    /// The running total of refunds after this one.
    refunded_total: Option<i64>,
    shipment: Option<(&'a str, &'a str)>,
    cancel_reason: Option<CancelReason>,
}

/// What one event adds to its day's sales.
#[derive(Debug, Default, PartialEq, Eq)]
struct SalesDelta {
    orders_confirmed: i64,
    gross_minor: i64,
    refunded_minor: i64,
    orders_cancelled_after_confirm: i64,
    items_sold: i64,
}

/// The order's figures a sales delta needs, as the row held them after the event.
struct Totals {
    currency: String,
    total_minor: i64,
    item_count: i64,
    /// The row's status after the event.
    status: String,
    /// Whether any line has a vendor (the order has `vendor_orders` rows).
    has_vendors: bool,
}

async fn apply_event(
    conn: &mut PgConnection,
    tables: &Tables<'_>,
    order_id: &str,
    sequence: u64,
    event: &OrderEvent,
) -> anyhow::Result<()> {
    let change = match event {
        OrderEvent::OrderPlaced { .. } => {
            return insert_placed(conn, tables, order_id, sequence, event).await;
        }
        OrderEvent::OrderStockReserved { .. } => Change {
            status: Some(OrderStatus::StockReserved),
            ..Change::default()
        },
        OrderEvent::OrderPaymentAuthorized { .. } => Change {
            status: Some(OrderStatus::PaymentAuthorized),
            ..Change::default()
        },
        OrderEvent::OrderConfirmed { .. } => Change {
            status: Some(OrderStatus::Confirmed),
            ..Change::default()
        },
        OrderEvent::OrderPaymentCaptured { amount, .. } => Change {
            captured: amount.amount_minor,
            ..Change::default()
        },
        OrderEvent::OrderShipped {
            carrier,
            tracking_number,
            ..
        } => Change {
            status: Some(OrderStatus::Shipped),
            shipment: Some((carrier, tracking_number)),
            ..Change::default()
        },
        OrderEvent::OrderDelivered { .. } => Change {
            status: Some(OrderStatus::Delivered),
            ..Change::default()
        },
        OrderEvent::OrderCancelled { reason, .. } => Change {
            status: Some(OrderStatus::Cancelled),
            cancel_reason: Some(*reason),
            ..Change::default()
        },
        OrderEvent::OrderRefunded { total_refunded, .. } => Change {
            refunded_total: Some(total_refunded.amount_minor),
            ..Change::default()
        },
        // The list shows the status the parcels give the order and the latest parcel sent.
        OrderEvent::OrderParcelUpdated {
            order_status,
            carrier,
            tracking_number,
            ..
        } => Change {
            status: Some(*order_status),
            shipment: carrier.as_deref().zip(tracking_number.as_deref()),
            ..Change::default()
        },
        OrderEvent::OrderParcelAllocated { .. }
        | OrderEvent::OrderParcelReleased { .. }
        | OrderEvent::OrderReturnOpened { .. }
        | OrderEvent::OrderReturnReleased { .. }
        | OrderEvent::OrderDisputeOpened { .. }
        | OrderEvent::OrderDisputeClosed { .. } => Change::default(),
    };
    let at = at(event);
    let Some(totals) = advance(conn, tables.orders, order_id, sequence, at, &change).await? else {
        // Applied before (or a stream that never saw `OrderPlaced`): nothing to count.
        return Ok(());
    };
    if let Some((day, currency, delta)) = sales_delta(event, &totals) {
        add_sales(conn, tables.sales, day, &currency, &delta).await?;
    }
    // A status change, or a refund that may have made the order `refunded`.
    if totals.has_vendors && (change.status.is_some() || change.refunded_total.is_some()) {
        sqlx::query(&format!(
            "UPDATE {} SET status = $2, updated_at = $3 WHERE order_id = $1",
            tables.vendors
        ))
        .bind(order_id)
        .bind(&totals.status)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The moment an event records.
fn at(event: &OrderEvent) -> DateTime<Utc> {
    match event {
        OrderEvent::OrderPlaced { at, .. }
        | OrderEvent::OrderStockReserved { at }
        | OrderEvent::OrderPaymentAuthorized { at }
        | OrderEvent::OrderConfirmed { at }
        | OrderEvent::OrderPaymentCaptured { at, .. }
        | OrderEvent::OrderShipped { at, .. }
        | OrderEvent::OrderDelivered { at }
        | OrderEvent::OrderCancelled { at, .. }
        | OrderEvent::OrderRefunded { at, .. }
        | OrderEvent::OrderParcelAllocated { at, .. }
        | OrderEvent::OrderParcelReleased { at, .. }
        | OrderEvent::OrderParcelUpdated { at, .. }
        | OrderEvent::OrderReturnOpened { at, .. }
        | OrderEvent::OrderReturnReleased { at, .. }
        | OrderEvent::OrderDisputeOpened { at, .. }
        | OrderEvent::OrderDisputeClosed { at, .. } => *at,
    }
}

/// The day (UTC), currency and figures `event` adds to the sales report, if any.
fn sales_delta(event: &OrderEvent, order: &Totals) -> Option<(NaiveDate, String, SalesDelta)> {
    match event {
        OrderEvent::OrderConfirmed { at } => Some((
            at.date_naive(),
            order.currency.clone(),
            SalesDelta {
                orders_confirmed: 1,
                gross_minor: order.total_minor,
                items_sold: order.item_count,
                ..SalesDelta::default()
            },
        )),
        OrderEvent::OrderRefunded { amount, at, .. } => Some((
            at.date_naive(),
            amount.currency.as_str().to_string(),
            SalesDelta {
                refunded_minor: amount.amount_minor,
                ..SalesDelta::default()
            },
        )),
        OrderEvent::OrderCancelled {
            from_status: OrderStatus::Confirmed,
            at,
            ..
        } => Some((
            at.date_naive(),
            order.currency.clone(),
            SalesDelta {
                orders_cancelled_after_confirm: 1,
                ..SalesDelta::default()
            },
        )),
        _ => None,
    }
}

/// Inserts the row of a new order. `OrderPlaced` opens its stream, so an existing row has
/// applied it already and is left alone.
async fn insert_placed(
    conn: &mut PgConnection,
    tables: &Tables<'_>,
    order_id: &str,
    sequence: u64,
    event: &OrderEvent,
) -> anyhow::Result<()> {
    let OrderEvent::OrderPlaced {
        owner,
        lines,
        shipping_address,
        email,
        currency,
        subtotal,
        shipping,
        tax,
        total,
        at,
        ..
    } = event
    else {
        anyhow::bail!(
            "insert_placed takes OrderPlaced, not {}",
            event.event_type()
        );
    };
    // The guest's token hash is a credential: only the owner's kind is kept.
    let (owner_kind, customer_id) = match owner {
        OrderOwner::Guest { .. } => ("guest", None),
        OrderOwner::Customer { customer_id } => ("customer", Some(customer_id.as_uuid())),
    };
    let item_count: i64 = lines.iter().map(|l| l.quantity).sum();
    // Each vendor's lines, vendors in order of first appearance.
    let mut vendors: Vec<(&str, i64, i64, i32)> = Vec::new();
    for line in lines {
        let Some(v) = line.vendor_id.as_deref() else {
            continue;
        };
        let amount = line.unit_price.amount_minor.saturating_mul(line.quantity);
        match vendors.iter_mut().find(|(id, ..)| *id == v) {
            Some((_, subtotal, units, count)) => {
                *subtotal += amount;
                *units += line.quantity;
                *count += 1;
            }
            None => vendors.push((v, amount, line.quantity, 1)),
        }
    }
    let vendor_ids: Vec<&str> = vendors.iter().map(|(v, ..)| *v).collect();
    let table = tables.orders;
    let inserted = sqlx::query(&format!(
        "INSERT INTO {table} (order_id, owner_kind, customer_id, email, status, currency,
            subtotal_minor, shipping_minor, tax_minor, total_minor, captured_minor, refunded_minor,
            line_count, item_count, lines, shipping_address, placed_at, updated_at, version,
            vendor_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0, $11, $12, $13, $14, $15, $15, $16,
            $17)
         ON CONFLICT (order_id) DO NOTHING"
    ))
    .bind(order_id)
    .bind(owner_kind)
    .bind(customer_id)
    .bind(email)
    .bind(OrderStatus::Placed.as_str())
    .bind(currency.as_str())
    .bind(subtotal.amount_minor)
    .bind(shipping.amount_minor)
    .bind(tax.amount_minor)
    .bind(total.amount_minor)
    .bind(i32::try_from(lines.len())?)
    .bind(item_count)
    .bind(serde_json::to_value(lines)?)
    .bind(serde_json::to_value(shipping_address)?)
    .bind(at)
    .bind(i64::try_from(sequence)?)
    .bind(&vendor_ids)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 || vendors.is_empty() {
        return Ok(());
    }
    let subtotals: Vec<i64> = vendors.iter().map(|v| v.1).collect();
    let units: Vec<i64> = vendors.iter().map(|v| v.2).collect();
    let counts: Vec<i32> = vendors.iter().map(|v| v.3).collect();
    sqlx::query(&format!(
        "INSERT INTO {} (vendor_id, order_id, status, currency, subtotal_minor, units, line_count,
            ship_city, ship_country, placed_at, updated_at)
         SELECT v, $1, $2, $3, s, u, c, $4, $5, $6, $6
         FROM unnest($7::text[], $8::bigint[], $9::bigint[], $10::int[]) AS x(v, s, u, c)
         ON CONFLICT (vendor_id, order_id) DO NOTHING",
        tables.vendors
    ))
    .bind(order_id)
    .bind(OrderStatus::Placed.as_str())
    .bind(currency.as_str())
    .bind(&shipping_address.city)
    .bind(&shipping_address.country)
    .bind(at)
    .bind(&vendor_ids)
    .bind(&subtotals)
    .bind(&units)
    .bind(&counts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies `change` to the order's row if `sequence` is newer than its version, and returns the
/// row's figures afterwards; `None` when the row was not changed (a replay, or no row).
///
/// A refund whose running total reaches what was captured makes the order `refunded`, as the
/// order itself does: a partial refund keeps the status, and a cancelled order stays cancelled
/// (the refund settles it; it does not change why it ended).
async fn advance(
    conn: &mut PgConnection,
    table: &str,
    order_id: &str,
    sequence: u64,
    at: DateTime<Utc>,
    change: &Change<'_>,
) -> anyhow::Result<Option<Totals>> {
    let row = sqlx::query(&format!(
        "UPDATE {table} SET
            status = CASE
                WHEN $6::bigint IS NOT NULL AND $6 >= captured_minor AND status <> $11 THEN $10
                ELSE COALESCE($4, status) END,
            captured_minor = captured_minor + $5,
            refunded_minor = COALESCE($6, refunded_minor),
            carrier = COALESCE($7, carrier),
            tracking_number = COALESCE($8, tracking_number),
            cancel_reason = COALESCE($9, cancel_reason),
            updated_at = $3,
            version = $2
         WHERE order_id = $1 AND version < $2
         RETURNING currency, total_minor, item_count, status, cardinality(vendor_ids) > 0 AS has_vendors"
    ))
    .bind(order_id)
    .bind(i64::try_from(sequence)?)
    .bind(at)
    .bind(change.status.map(|s| s.as_str()))
    .bind(change.captured)
    .bind(change.refunded_total)
    .bind(change.shipment.map(|(carrier, _)| carrier))
    .bind(change.shipment.map(|(_, tracking)| tracking))
    .bind(change.cancel_reason.map(|r| r.as_str()))
    .bind(OrderStatus::Refunded.as_str())
    .bind(OrderStatus::Cancelled.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Totals {
        currency: r.get("currency"),
        total_minor: r.get("total_minor"),
        item_count: r.get("item_count"),
        status: r.get("status"),
        has_vendors: r.get("has_vendors"),
    }))
}

async fn add_sales(
    conn: &mut PgConnection,
    sales: &str,
    day: NaiveDate,
    currency: &str,
    delta: &SalesDelta,
) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO {sales} AS s (day, currency, orders_confirmed, gross_minor, refunded_minor,
            orders_cancelled_after_confirm, items_sold)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (day, currency) DO UPDATE SET
            orders_confirmed = s.orders_confirmed + EXCLUDED.orders_confirmed,
            gross_minor = s.gross_minor + EXCLUDED.gross_minor,
            refunded_minor = s.refunded_minor + EXCLUDED.refunded_minor,
            orders_cancelled_after_confirm = s.orders_cancelled_after_confirm + EXCLUDED.orders_cancelled_after_confirm,
            items_sold = s.items_sold + EXCLUDED.items_sold"
    ))
    .bind(day)
    .bind(currency)
    .bind(delta.orders_confirmed)
    .bind(delta.gross_minor)
    .bind(delta.refunded_minor)
    .bind(delta.orders_cancelled_after_confirm)
    .bind(delta.items_sold)
    .execute(conn)
    .await?;
    Ok(())
}

/// Rows computed from hand-built events, applied through the projection's own `apply` on a
/// private database, as the live projection and a rebuild apply them.
#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::{Currency, CustomerId, Money, Sku};
    use agora_order::{Address, OrderLine};
    use agora_testkit::TestDb;
    use serde_json::{json, Value};
    use sqlx::PgPool;

    const TOKEN_HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    async fn db() -> (TestDb, PgPool) {
        let db = TestDb::create().await.expect("a test database");
        let pool = PgPool::connect(&db.url()).await.expect("connect");
        agora_runtime::MIGRATOR.run(&pool).await.expect("migrate");
        (db, pool)
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::EUR)
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    /// An order of 2 × 1500 + 1 × 2000 with 495 shipping and 20 % tax: 6594 in all.
    fn placed(owner: OrderOwner, when: &str) -> OrderEvent {
        let line = |sku: &str, price: i64, quantity: i64| OrderLine {
            sku: Sku::parse(sku).expect("a SKU"),
            product_id: "5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11".into(),
            title: format!("Tee {sku}"),
            unit_price: eur(price),
            quantity,
            vendor_id: None,
            category_id: None,
        };
        OrderEvent::OrderPlaced {
            owner,
            cart_id: "c0ffee00-0000-4000-8000-000000000001".into(),
            lines: vec![line("TEE-M", 1500, 2), line("TEE-L", 2000, 1)],
            shipping_address: Address {
                name: "Ada Lovelace".into(),
                line1: "1 Analytical Way".into(),
                line2: None,
                city: "London".into(),
                postal_code: "N1 1AA".into(),
                region: None,
                country: "GB".into(),
                phone: None,
            },
            email: "ada@example.com".into(),
            currency: Currency::EUR,
            subtotal: eur(5000),
            shipping: eur(495),
            tax_rate_bp: 2000,
            tax_rule: None,
            tax: eur(1099),
            total: eur(6594),
            discount: None,
            shipping_option: None,
            vendor_shipping: vec![],
            at: at(when),
        }
    }

    fn guest() -> OrderOwner {
        OrderOwner::Guest {
            token_sha256: TOKEN_HASH.into(),
        }
    }

    /// A stream's events as recorded, numbered from 1.
    fn stream(order_id: &str, events: &[OrderEvent]) -> Vec<RecordedEvent> {
        events
            .iter()
            .enumerate()
            .map(|(i, event)| RecordedEvent {
                aggregate_type: "order".into(),
                aggregate_id: order_id.into(),
                sequence: i as u64 + 1,
                event_type: event.event_type().into(),
                event_version: "1".into(),
                payload: serde_json::to_value(event).expect("serializes"),
                metadata: json!({}),
            })
            .collect()
    }

    /// A paid, confirmed order shipped the next day.
    fn confirmed_and_shipped(owner: OrderOwner) -> Vec<OrderEvent> {
        vec![
            placed(owner, "2025-03-01T23:50:00Z"),
            OrderEvent::OrderStockReserved {
                at: at("2025-03-01T23:50:01Z"),
            },
            OrderEvent::OrderPaymentAuthorized {
                at: at("2025-03-01T23:59:59Z"),
            },
            // Confirmed one second into the next UTC day: that is its sales day.
            OrderEvent::OrderConfirmed {
                at: at("2025-03-02T00:00:01Z"),
            },
            OrderEvent::OrderPaymentCaptured {
                amount: eur(6594),
                at: at("2025-03-02T00:00:02Z"),
            },
            OrderEvent::OrderShipped {
                carrier: "DHL".into(),
                tracking_number: "JD0001".into(),
                at: at("2025-03-03T09:00:00Z"),
            },
        ]
    }

    async fn apply(pool: &PgPool, events: &[RecordedEvent]) {
        let mut conn = pool.acquire().await.expect("a connection");
        Orders
            .apply(&mut conn, Orders::NAME, events)
            .await
            .expect("applies");
    }

    /// Both tables as JSON, in key order.
    async fn snapshot(pool: &PgPool) -> (Value, Value) {
        let orders: Value = sqlx::query_scalar(
            "SELECT COALESCE(jsonb_agg(to_jsonb(o) ORDER BY order_id), '[]') FROM orders o",
        )
        .fetch_one(pool)
        .await
        .expect("orders");
        let sales: Value = sqlx::query_scalar(
            "SELECT COALESCE(jsonb_agg(to_jsonb(s) ORDER BY day, currency), '[]') FROM daily_sales s",
        )
        .fetch_one(pool)
        .await
        .expect("daily_sales");
        (orders, sales)
    }

    async fn order_row(pool: &PgPool, order_id: &str) -> Value {
        sqlx::query_scalar("SELECT to_jsonb(o) FROM orders o WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(pool)
            .await
            .expect("a row")
    }

    #[tokio::test]
    async fn an_order_stream_becomes_one_row_and_counts_as_sold_on_its_confirmation_day() {
        let (_db, pool) = db().await;
        apply(&pool, &stream("o-1", &confirmed_and_shipped(guest()))).await;

        let row = order_row(&pool, "o-1").await;
        assert_eq!(row["status"], "shipped");
        assert_eq!(row["owner_kind"], "guest");
        assert_eq!(row["customer_id"], Value::Null);
        assert_eq!(row["email"], "ada@example.com");
        assert_eq!(row["currency"], "EUR");
        assert_eq!(
            (
                &row["subtotal_minor"],
                &row["shipping_minor"],
                &row["tax_minor"],
                &row["total_minor"]
            ),
            (&json!(5000), &json!(495), &json!(1099), &json!(6594))
        );
        assert_eq!(row["captured_minor"], 6594);
        assert_eq!(row["refunded_minor"], 0);
        assert_eq!(
            (&row["line_count"], &row["item_count"]),
            (&json!(2), &json!(3))
        );
        assert_eq!(row["lines"][0]["sku"], "TEE-M");
        assert_eq!(row["lines"][0]["unit_price"]["amount_minor"], 1500);
        assert_eq!(row["shipping_address"]["city"], "London");
        assert_eq!(
            (&row["carrier"], &row["tracking_number"]),
            (&json!("DHL"), &json!("JD0001"))
        );
        assert_eq!(row["cancel_reason"], Value::Null);
        assert_eq!(row["version"], 6);
        let placed_at: DateTime<Utc> =
            serde_json::from_value(row["placed_at"].clone()).expect("a time");
        let updated_at: DateTime<Utc> =
            serde_json::from_value(row["updated_at"].clone()).expect("a time");
        assert_eq!(placed_at, at("2025-03-01T23:50:00Z"));
        assert_eq!(updated_at, at("2025-03-03T09:00:00Z"));
        // The guest's token hash is a credential; it appears nowhere in the read model.
        let (orders, sales) = snapshot(&pool).await;
        assert!(!orders.to_string().contains(TOKEN_HASH));

        assert_eq!(
            sales,
            json!([{"day": "2025-03-02", "currency": "EUR", "orders_confirmed": 1, "gross_minor": 6594,
                    "refunded_minor": 0, "orders_cancelled_after_confirm": 0, "items_sold": 3}])
        );
    }

    #[tokio::test]
    async fn a_customer_order_keeps_its_customer_id() {
        let (_db, pool) = db().await;
        let customer = CustomerId::new_random();
        let owner = OrderOwner::Customer {
            customer_id: customer,
        };
        apply(
            &pool,
            &stream("o-1", &[placed(owner, "2025-03-01T10:00:00Z")]),
        )
        .await;
        let row = order_row(&pool, "o-1").await;
        assert_eq!(row["status"], "placed");
        assert_eq!(row["owner_kind"], "customer");
        assert_eq!(row["customer_id"], json!(customer.to_string()));
        assert_eq!(row["version"], 1);
        assert_eq!(snapshot(&pool).await.1, json!([]));
    }

    #[tokio::test]
    async fn replayed_events_change_neither_table() {
        let (_db, pool) = db().await;
        let events = stream("o-1", &confirmed_and_shipped(guest()));
        apply(&pool, &events).await;
        let once = snapshot(&pool).await;
        // The whole stream again, each event alone, and a tail: all already applied.
        apply(&pool, &events).await;
        for event in &events {
            apply(&pool, std::slice::from_ref(event)).await;
        }
        apply(&pool, &events[3..]).await;
        assert_eq!(snapshot(&pool).await, once);
    }

    #[tokio::test]
    async fn refunds_count_on_their_day_and_a_full_refund_makes_the_order_refunded() {
        let (_db, pool) = db().await;
        let mut events = confirmed_and_shipped(guest());
        events.push(OrderEvent::OrderRefunded {
            refund_id: "r-1".into(),
            amount: eur(1000),
            total_refunded: eur(1000),
            line: None,
            at: at("2025-03-10T12:00:00Z"),
        });
        let all = stream("o-1", &events);
        apply(&pool, &all).await;
        let row = order_row(&pool, "o-1").await;
        // A partial refund keeps the status.
        assert_eq!(
            (&row["status"], &row["refunded_minor"]),
            (&json!("shipped"), &json!(1000))
        );

        events.push(OrderEvent::OrderRefunded {
            refund_id: "r-2".into(),
            amount: eur(5594),
            total_refunded: eur(6594),
            line: None,
            at: at("2025-03-10T13:00:00Z"),
        });
        let all = stream("o-1", &events);
        apply(&pool, &all[all.len() - 1..]).await;
        let row = order_row(&pool, "o-1").await;
        assert_eq!(
            (&row["status"], &row["refunded_minor"]),
            (&json!("refunded"), &json!(6594))
        );

        let (_, sales) = snapshot(&pool).await;
        assert_eq!(sales[1]["day"], "2025-03-10");
        assert_eq!(sales[1]["refunded_minor"], 6594);
        assert_eq!(sales[1]["orders_confirmed"], 0);
        assert_eq!(sales[0]["day"], "2025-03-02");
        assert_eq!(sales[0]["refunded_minor"], 0);
    }

    #[tokio::test]
    async fn a_cancelled_order_stays_cancelled_when_its_money_is_refunded() {
        let (_db, pool) = db().await;
        let mut events = confirmed_and_shipped(guest());
        events.truncate(5);
        events.push(OrderEvent::OrderCancelled {
            reason: CancelReason::Staff,
            note: None,
            from_status: OrderStatus::Confirmed,
            at: at("2025-03-02T10:00:00Z"),
        });
        events.push(OrderEvent::OrderRefunded {
            refund_id: "r-1".into(),
            amount: eur(6594),
            total_refunded: eur(6594),
            line: None,
            at: at("2025-03-02T10:05:00Z"),
        });
        apply(&pool, &stream("o-1", &events)).await;
        let row = order_row(&pool, "o-1").await;
        assert_eq!(
            (
                &row["status"],
                &row["cancel_reason"],
                &row["refunded_minor"]
            ),
            (&json!("cancelled"), &json!("staff"), &json!(6594))
        );
        let (_, sales) = snapshot(&pool).await;
        assert_eq!(
            sales,
            json!([{"day": "2025-03-02", "currency": "EUR", "orders_confirmed": 1, "gross_minor": 6594,
                    "refunded_minor": 6594, "orders_cancelled_after_confirm": 1, "items_sold": 3}])
        );
    }

    #[tokio::test]
    async fn only_a_cancellation_after_confirmation_is_counted() {
        let (_db, pool) = db().await;
        let early = vec![
            placed(guest(), "2025-03-01T10:00:00Z"),
            OrderEvent::OrderCancelled {
                reason: CancelReason::OutOfStock,
                note: None,
                from_status: OrderStatus::Placed,
                at: at("2025-03-01T10:00:01Z"),
            },
        ];
        let late = vec![
            placed(guest(), "2025-03-01T10:00:00Z"),
            OrderEvent::OrderConfirmed {
                at: at("2025-03-01T10:05:00Z"),
            },
            OrderEvent::OrderCancelled {
                reason: CancelReason::CustomerRequest,
                note: Some("changed my mind".into()),
                from_status: OrderStatus::Confirmed,
                at: at("2025-03-04T08:00:00Z"),
            },
        ];
        apply(&pool, &stream("o-early", &early)).await;
        apply(&pool, &stream("o-late", &late)).await;

        let row = order_row(&pool, "o-early").await;
        assert_eq!(
            (&row["status"], &row["cancel_reason"]),
            (&json!("cancelled"), &json!("out_of_stock"))
        );
        let row = order_row(&pool, "o-late").await;
        assert_eq!(
            (&row["status"], &row["cancel_reason"]),
            (&json!("cancelled"), &json!("customer_request"))
        );

        let (_, sales) = snapshot(&pool).await;
        assert_eq!(
            sales,
            json!([
                {"day": "2025-03-01", "currency": "EUR", "orders_confirmed": 1, "gross_minor": 6594,
                 "refunded_minor": 0, "orders_cancelled_after_confirm": 0, "items_sold": 3},
                {"day": "2025-03-04", "currency": "EUR", "orders_confirmed": 0, "gross_minor": 0,
                 "refunded_minor": 0, "orders_cancelled_after_confirm": 1, "items_sold": 0}
            ])
        );
    }

    #[tokio::test]
    async fn a_rebuild_recounts_the_sales_once_and_swaps_both_tables() {
        let (_db, pool) = db().await;
        let mut streams = vec![
            stream("o-1", &confirmed_and_shipped(guest())),
            stream("o-2", &confirmed_and_shipped(guest())),
        ];
        streams.push(stream(
            "o-3",
            &[
                placed(guest(), "2025-03-02T08:00:00Z"),
                OrderEvent::OrderConfirmed {
                    at: at("2025-03-02T08:01:00Z"),
                },
            ],
        ));
        for events in &streams {
            for e in events {
                sqlx::query(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&e.aggregate_type)
                .bind(&e.aggregate_id)
                .bind(e.sequence as i64)
                .bind(&e.event_type)
                .bind(&e.event_version)
                .bind(&e.payload)
                .bind(&e.metadata)
                .execute(&pool)
                .await
                .expect("an event");
            }
            apply(&pool, events).await;
        }
        let live = snapshot(&pool).await;
        assert_eq!(live.1[0]["orders_confirmed"], 3);

        let replayed = crate::rebuild(&Orders, &pool).await.expect("rebuilds");
        assert_eq!(replayed, 14);
        assert_eq!(snapshot(&pool).await, live);
        // A second rebuild works on the swapped-in tables and leaves nothing behind.
        crate::rebuild(&Orders, &pool)
            .await
            .expect("rebuilds again");
        assert_eq!(snapshot(&pool).await, live);
        let leftovers: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'orders_%' OR tablename LIKE 'daily_sales_%'",
        )
        .fetch_one(&pool)
        .await
        .expect("a count");
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn a_rebuild_writes_the_sales_beside_its_own_orders_table() {
        assert_eq!(
            companion_table("orders", "orders", DAILY_SALES),
            "daily_sales"
        );
        assert_eq!(
            companion_table("orders", "orders_rebuild", DAILY_SALES),
            "daily_sales_rebuild"
        );
    }
}

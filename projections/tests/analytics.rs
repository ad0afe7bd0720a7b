//! The analytics projections against a real Postgres: a worked example of carts, checkouts,
//! orders and a return, decided by the real aggregates and recorded as the event store records
//! them, applied one event at a time as the feed delivers them (and redelivered), then rebuilt
//! from the event store. The reports read the figures worked out by hand, and the rebuild finds
//! exactly the same tables (nothing counted twice).

use agora_cart::{Cart, CartCommand};
use agora_checkout::{Checkout, CheckoutCommand, CheckoutPlan, Outcome};
use agora_kernel::{
    Currency, CustomerId, Decider, DomainError as _, Money, Principal, RecordedEvent, Sku,
};
use agora_order::{
    Address, CancelReason, LineUnits, Order, OrderCommand, OrderLine, OrderOwner, ParcelStatus,
    RefundLine,
};
use agora_projections::analytics::{self, AnalyticsCarts, AnalyticsCheckouts, AnalyticsOrders};
use agora_projections::Projection;
use agora_returns::{ReturnEvent, ReturnLine, ReturnReason};
use agora_testkit::TestDb;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

const RETURN_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

fn usd(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::USD)
}

fn sku(text: &str) -> Sku {
    Sku::parse(text).expect("a SKU")
}

fn system() -> Principal {
    Principal::system("test")
}

/// One stream decided by its aggregate, each event recorded as the store records it (payload
/// and type by serde and the decider, `recorded_at` in the metadata).
struct Stream<D: Decider> {
    id: String,
    state: D,
    events: Vec<RecordedEvent>,
}

impl<D: Decider> Stream<D> {
    fn new(id: &str) -> Self {
        Stream {
            id: id.to_string(),
            state: D::default(),
            events: Vec::new(),
        }
    }

    /// Decides `command` as `by` and records its events at `when`.
    fn run(mut self, by: &Principal, command: D::Command, when: &str) -> Self {
        let events = self
            .state
            .decide(&self.id, &command, by)
            .unwrap_or_else(|e| panic!("{command:?} is refused: {}", e.code()));
        assert!(!events.is_empty(), "{command:?} records nothing");
        for event in events {
            self.state.evolve(&event);
            self.events.push(RecordedEvent {
                aggregate_type: D::TYPE.into(),
                aggregate_id: self.id.clone(),
                sequence: self.events.len() as u64 + 1,
                event_type: D::event_type(&event).into(),
                event_version: D::event_version(&event).into(),
                payload: serde_json::to_value(&event).expect("serializes"),
                metadata: json!({"recorded_at": when}),
            });
        }
        self
    }
}

fn address() -> Address {
    Address {
        name: "Ada Lovelace".into(),
        line1: "1 Analytical Way".into(),
        line2: None,
        city: "London".into(),
        postal_code: "N1 1AA".into(),
        region: None,
        country: "GB".into(),
        phone: None,
    }
}

fn line(
    code: &str,
    price: Money,
    quantity: i64,
    category: &str,
    vendor: Option<&str>,
) -> OrderLine {
    OrderLine {
        sku: sku(code),
        product_id: format!("product-{code}"),
        title: format!("Item {code}"),
        unit_price: price,
        quantity,
        vendor_id: vendor.map(str::to_string),
        category_id: Some(category.to_string()),
    }
}

fn place(owner: OrderOwner, lines: Vec<OrderLine>, shipping: Money, now: &str) -> OrderCommand {
    OrderCommand::Place {
        owner,
        cart_id: "c0ffee00-0000-4000-8000-000000000001".into(),
        lines,
        shipping_address: address(),
        email: "Ada@Example.com".into(),
        shipping,
        tax_rate_bp: 0,
        tax_rule: None,
        discount: None,
        shipping_option: None,
        vendor_shipping: vec![],
        now: at(now),
    }
}

/// An order placed, reserved, authorized, confirmed and captured at `now`.
fn paid(
    id: &str,
    owner: OrderOwner,
    lines: Vec<OrderLine>,
    shipping: Money,
    now: &str,
) -> Stream<Order> {
    let total: i64 = lines
        .iter()
        .map(|l| l.unit_price.amount_minor * l.quantity)
        .sum::<i64>()
        + shipping.amount_minor;
    let currency = shipping.currency;
    let s = system();
    Stream::<Order>::new(id)
        .run(&s, place(owner, lines, shipping, now), now)
        .run(&s, OrderCommand::MarkStockReserved { now: at(now) }, now)
        .run(
            &s,
            OrderCommand::MarkPaymentAuthorized { now: at(now) },
            now,
        )
        .run(&s, OrderCommand::Confirm { now: at(now) }, now)
        .run(
            &s,
            OrderCommand::RecordCapture {
                amount: Money::new(total, currency),
                now: at(now),
            },
            now,
        )
}

fn customer(id: CustomerId) -> OrderOwner {
    OrderOwner::Customer { customer_id: id }
}

fn guest() -> OrderOwner {
    OrderOwner::Guest {
        token_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
    }
}

/// The worked example's order streams and the return's first event:
/// - o1 (customer A, 1 March): 2 × TEE-M at 15.00 (acme's, shirts) and 1 × MUG at 10.00 (the
///   shop's, kitchen), 5.00 shipping: 45.00. Delivered; one TEE-M returned as `size_or_fit`
///   and refunded (15.00) on 5 March;
/// - o2 (customer A again, 2 March): 2 × MUG, 5.00 shipping: 25.00;
/// - o3 (a guest, 2 March): 1 × TEE-M, 5.00 shipping: 20.00; cancelled by staff on 3 March and
///   refunded that day;
/// - o4 (a guest, 2 March): placed, then cancelled when the payment was declined: never sold;
/// - o5 (customer B, 2 March): 1 × CAP at 20.00 in USD, no shipping fee.
fn orders() -> Vec<Vec<RecordedEvent>> {
    let s = system();
    let (a, b) = (CustomerId::new_random(), CustomerId::new_random());
    let tee = |q| line("TEE-M", eur(1500), q, "shirts", Some("acme"));
    let mug = |q| line("MUG", eur(1000), q, "kitchen", None);
    let o1 = paid(
        "11111111-1111-4111-8111-111111111111",
        customer(a),
        vec![tee(2), mug(1)],
        eur(500),
        "2025-03-01T10:00:00Z",
    )
    .run(
        &s,
        OrderCommand::AllocateParcel {
            shipment_id: "22222222-2222-4222-8222-222222222222".into(),
            lines: vec![
                LineUnits {
                    sku: sku("TEE-M"),
                    quantity: 2,
                },
                LineUnits {
                    sku: sku("MUG"),
                    quantity: 1,
                },
            ],
            now: at("2025-03-02T09:00:00Z"),
        },
        "2025-03-02T09:00:00Z",
    )
    .run(
        &s,
        OrderCommand::UpdateParcel {
            shipment_id: "22222222-2222-4222-8222-222222222222".into(),
            status: ParcelStatus::Delivered,
            carrier: Some("DHL".into()),
            tracking_number: Some("JD1".into()),
            tracking_url: None,
            now: at("2025-03-03T09:00:00Z"),
        },
        "2025-03-03T09:00:00Z",
    )
    .run(
        &s,
        OrderCommand::OpenReturn {
            return_id: RETURN_ID.into(),
            lines: vec![LineUnits {
                sku: sku("TEE-M"),
                quantity: 1,
            }],
            window_days: 30,
            now: at("2025-03-04T09:00:00Z"),
        },
        "2025-03-04T09:00:00Z",
    )
    .run(
        &s,
        OrderCommand::RecordRefund {
            refund_id: format!("return-{RETURN_ID}-TEE-M"),
            amount: eur(1500),
            line: Some(RefundLine {
                sku: sku("TEE-M"),
                quantity: 1,
            }),
            now: at("2025-03-05T09:00:00Z"),
        },
        "2025-03-05T09:00:00Z",
    );
    let o2 = paid(
        "33333333-3333-4333-8333-333333333333",
        customer(a),
        vec![mug(2)],
        eur(500),
        "2025-03-02T11:00:00Z",
    );
    let o3 = paid(
        "44444444-4444-4444-8444-444444444444",
        guest(),
        vec![tee(1)],
        eur(500),
        "2025-03-02T12:00:00Z",
    )
    .run(
        &s,
        OrderCommand::Cancel {
            reason: CancelReason::Staff,
            note: None,
            now: at("2025-03-03T08:00:00Z"),
        },
        "2025-03-03T08:00:00Z",
    )
    .run(
        &s,
        OrderCommand::RecordRefund {
            refund_id: "revert-o3".into(),
            amount: eur(2000),
            line: None,
            now: at("2025-03-03T08:05:00Z"),
        },
        "2025-03-03T08:05:00Z",
    );
    let o4 = Stream::<Order>::new("55555555-5555-4555-8555-555555555555")
        .run(
            &s,
            place(guest(), vec![tee(1)], eur(500), "2025-03-02T13:00:00Z"),
            "2025-03-02T13:00:00Z",
        )
        .run(
            &s,
            OrderCommand::Cancel {
                reason: CancelReason::PaymentDeclined,
                note: None,
                now: at("2025-03-02T13:01:00Z"),
            },
            "2025-03-02T13:01:00Z",
        );
    let o5 = paid(
        "66666666-6666-4666-8666-666666666666",
        customer(b),
        vec![line("CAP", usd(2000), 1, "hats", None)],
        usd(0),
        "2025-03-02T14:00:00Z",
    );
    vec![o1.events, o2.events, o3.events, o4.events, o5.events]
}

/// The return's own first event, where the shopper's reason is.
fn return_requested() -> RecordedEvent {
    let event = ReturnEvent::ReturnRequested {
        order_id: "11111111-1111-4111-8111-111111111111".into(),
        owner: guest(),
        lines: vec![ReturnLine {
            sku: sku("TEE-M"),
            title: "Item TEE-M".into(),
            quantity: 1,
            reason: ReturnReason::SizeOrFit,
            note: Some("too small".into()),
            vendor_id: Some("acme".into()),
        }],
        at: at("2025-03-04T08:00:00Z"),
    };
    RecordedEvent {
        aggregate_type: "return".into(),
        aggregate_id: RETURN_ID.into(),
        sequence: 1,
        event_type: event.event_type().into(),
        event_version: "1".into(),
        payload: serde_json::to_value(&event).expect("serializes"),
        metadata: json!({"recorded_at": "2025-03-04T08:00:00Z"}),
    }
}

/// Carts: one created and filled on 1 March, one created on 1 March and filled on 2 March
/// (twice: counted once), one created on 2 March and left empty.
fn carts() -> Vec<Vec<RecordedEvent>> {
    let shopper = Principal::Guest {
        token_sha256: "ab".into(),
    };
    let add = |quantity| CartCommand::AddItem {
        sku: sku("TEE-M"),
        quantity,
    };
    let filled = Stream::<Cart>::new("c-1")
        .run(&shopper, CartCommand::Create {}, "2025-03-01T09:00:00Z")
        .run(&shopper, add(1), "2025-03-01T09:01:00Z");
    let later = Stream::<Cart>::new("c-2")
        .run(&shopper, CartCommand::Create {}, "2025-03-01T23:59:00Z")
        .run(&shopper, add(1), "2025-03-02T00:01:00Z")
        .run(&shopper, add(2), "2025-03-02T00:02:00Z");
    let empty =
        Stream::<Cart>::new("c-3").run(&shopper, CartCommand::Create {}, "2025-03-02T10:00:00Z");
    vec![filled.events, later.events, empty.events]
}

fn plan() -> CheckoutPlan {
    CheckoutPlan {
        cart_id: "c-1".into(),
        owner: guest(),
        lines: vec![line("TEE-M", eur(1500), 1, "shirts", Some("acme"))],
        shipping_address: address(),
        email: "ada@example.com".into(),
        shipping: eur(500),
        tax_rate_bp: 0,
        tax_rule: None,
        amount: eur(2000),
        payment_method: "pm_card_visa".into(),
        request_hash: "h".into(),
        discount: None,
        commit_on_confirm: true,
        shipping_option: None,
        vendor_shipping: vec![],
    }
}

/// Checkouts: one paid on the day it started (1 March); one started on 2 March that ran out of
/// stock, whose payment the provider captured anyway during the compensation (refunded, not
/// paid).
fn checkouts() -> Vec<Vec<RecordedEvent>> {
    let s = system();
    let start = |now: &str| CheckoutCommand::Start {
        plan: Box::new(plan()),
        now: at(now),
    };
    let paid = Stream::<Checkout>::new("77777777-7777-4777-8777-777777777777")
        .run(&s, start("2025-03-01T10:00:00Z"), "2025-03-01T10:00:00Z")
        .run(
            &s,
            CheckoutCommand::RecordSteps {
                outcomes: vec![
                    Outcome::OrderPlaced,
                    Outcome::StockReserved,
                    Outcome::PaymentAuthorized,
                    Outcome::OrderConfirmed,
                    Outcome::PaymentCaptured,
                ],
                now: at("2025-03-01T10:00:05Z"),
            },
            "2025-03-01T10:00:05Z",
        )
        .run(
            &s,
            CheckoutCommand::Record {
                outcome: Outcome::Finished,
                now: at("2025-03-01T10:00:06Z"),
            },
            "2025-03-01T10:00:06Z",
        );
    let failed = Stream::<Checkout>::new("88888888-8888-4888-8888-888888888888")
        .run(&s, start("2025-03-02T10:00:00Z"), "2025-03-02T10:00:00Z")
        .run(
            &s,
            CheckoutCommand::RecordSteps {
                outcomes: vec![
                    Outcome::OrderPlaced,
                    Outcome::StockUnavailable { sku: sku("TEE-M") },
                ],
                now: at("2025-03-02T10:00:01Z"),
            },
            "2025-03-02T10:00:01Z",
        )
        .run(
            &s,
            CheckoutCommand::Record {
                outcome: Outcome::PaymentCaptured,
                now: at("2025-03-02T10:00:02Z"),
            },
            "2025-03-02T10:00:02Z",
        );
    vec![paid.events, failed.events]
}

async fn db() -> (TestDb, PgPool) {
    let db = TestDb::create().await.expect("a test database");
    let pool = PgPool::connect(&db.url()).await.expect("connect");
    agora_runtime::MIGRATOR.run(&pool).await.expect("migrate");
    (db, pool)
}

async fn store(pool: &PgPool, events: &[RecordedEvent]) {
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
        .execute(pool)
        .await
        .expect("an event");
    }
}

/// Applies `events` (one stream, consecutive) to the live tables in one transaction, as the
/// runtime does.
async fn apply<P: Projection>(pool: &PgPool, projection: &P, events: &[RecordedEvent]) {
    let mut tx = pool.begin().await.expect("a transaction");
    projection
        .apply(&mut tx, P::NAME, events)
        .await
        .expect("applies");
    tx.commit().await.expect("commits");
}

/// Every stream event by event, in the order they were recorded (as the feed delivers them),
/// then each stream again whole (a redelivery, which must change nothing).
async fn apply_live<P: Projection>(pool: &PgPool, projection: &P, streams: &[Vec<RecordedEvent>]) {
    let mut all: Vec<&RecordedEvent> = streams.iter().flatten().collect();
    all.sort_by_key(|e| (e.recorded_at(), e.aggregate_id.clone(), e.sequence));
    for e in all {
        apply(pool, projection, std::slice::from_ref(e)).await;
    }
    for stream in streams {
        apply(pool, projection, stream).await;
    }
}

const TABLES: [&str; 9] = [
    "analytics_orders",
    "analytics_sales_daily",
    "analytics_sales_products",
    "analytics_sales_categories",
    "analytics_sales_vendors",
    "analytics_refunds_daily",
    "analytics_customer_days",
    "analytics_carts",
    "analytics_checkouts",
];

/// Every analytics table's rows as JSON, in a stable order.
async fn snapshot(pool: &PgPool) -> Vec<Value> {
    let mut out = Vec::new();
    for table in TABLES {
        let rows: Value = sqlx::query_scalar(&format!(
            "SELECT COALESCE(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
        ))
        .fetch_one(pool)
        .await
        .expect("a table");
        out.push(json!({ table: rows }));
    }
    out
}

async fn scenario() -> (TestDb, PgPool) {
    let (db, pool) = db().await;
    let (orders, carts, checkouts) = (orders(), carts(), checkouts());
    store(&pool, &[return_requested()]).await;
    for stream in orders.iter().chain(&carts).chain(&checkouts) {
        store(&pool, stream).await;
    }
    apply_live(&pool, &AnalyticsOrders, &orders).await;
    apply_live(&pool, &AnalyticsCarts, &carts).await;
    apply_live(&pool, &AnalyticsCheckouts, &checkouts).await;
    (db, pool)
}

/// Day, currency, orders, units, subtotal, total, refunds, refunded.
type DayRow = (String, String, i64, i64, i64, i64, i64, i64);

#[tokio::test]
async fn sales_count_confirmed_orders_on_their_day_and_never_a_cancelled_one() {
    let (_db, pool) = scenario().await;
    let days = analytics::sales_by_day(&pool, day("2025-03-01"), day("2025-03-31"))
        .await
        .expect("sales by day");
    let rows: Vec<DayRow> = days
        .iter()
        .map(|d| {
            (
                d.day.to_string(),
                d.currency.clone(),
                d.orders,
                d.units,
                d.subtotal_minor,
                d.total_minor,
                d.refunds,
                d.refunded_minor,
            )
        })
        .collect();
    let row =
        |d: &str, c: &str, o, u, s, t, r, rm| (d.to_string(), c.to_string(), o, u, s, t, r, rm);
    assert_eq!(
        rows,
        vec![
            row("2025-03-01", "EUR", 1, 3, 4000, 4500, 0, 0),
            // o2 alone: o3 was taken back out when it was cancelled, o4 never sold.
            row("2025-03-02", "EUR", 1, 2, 2000, 2500, 0, 0),
            row("2025-03-02", "USD", 1, 1, 2000, 2000, 0, 0),
            // o1's returned unit; o3's refund is not one of a sale.
            row("2025-03-05", "EUR", 0, 0, 0, 0, 1, 1500),
        ]
    );
    assert_eq!(days[0].shipping_minor, 500);
    assert_eq!((days[0].discount_minor, days[0].tax_minor), (0, 0));

    let per_currency = analytics::sales_by_currency(&pool, day("2025-03-01"), day("2025-03-31"))
        .await
        .expect("sales by currency");
    let eur = &per_currency[0];
    assert_eq!(
        (
            eur.currency.as_str(),
            eur.orders,
            eur.total_minor,
            eur.refunded_minor
        ),
        ("EUR", 2, 7000, 1500)
    );
    assert_eq!(
        analytics::average_minor(eur.total_minor, eur.orders),
        Some(3500)
    );
    assert_eq!(per_currency[1].currency, "USD");
}

#[tokio::test]
async fn sales_by_product_category_and_vendor_carry_their_lines_and_refunded_units() {
    let (_db, pool) = scenario().await;
    let (from, to) = (day("2025-03-01"), day("2025-03-31"));
    let products = analytics::sales_by_product(&pool, from, to, None)
        .await
        .expect("by product");
    let figures: Vec<(&str, &str, i64, i64, i64, i64, i64)> = products
        .iter()
        .map(|p| {
            (
                p.sku.as_str(),
                p.figures.currency.as_str(),
                p.figures.orders,
                p.figures.units,
                p.figures.revenue_minor,
                p.figures.refunded_units,
                p.figures.refunded_minor,
            )
        })
        .collect();
    assert_eq!(
        figures,
        vec![
            // Equal revenue: by product id.
            ("MUG", "EUR", 2, 3, 3000, 0, 0),
            ("TEE-M", "EUR", 1, 2, 3000, 1, 1500),
            ("CAP", "USD", 1, 1, 2000, 0, 0),
        ]
    );
    assert_eq!(products[1].vendor_id.as_deref(), Some("acme"));
    assert_eq!(products[1].title, "Item TEE-M");
    assert_eq!(products[0].vendor_id, None);

    // A vendor sees its own lines only.
    let acme = analytics::sales_by_product(&pool, from, to, Some("acme"))
        .await
        .expect("acme's products");
    assert_eq!(acme.len(), 1);
    let vendors = analytics::sales_by_vendor(&pool, from, to, None)
        .await
        .expect("by vendor");
    let vendors: Vec<(Option<&str>, &str, i64, i64)> = vendors
        .iter()
        .map(|v| {
            (
                v.key.as_deref(),
                v.figures.currency.as_str(),
                v.figures.orders,
                v.figures.revenue_minor,
            )
        })
        .collect();
    assert_eq!(
        vendors,
        vec![
            (None, "EUR", 2, 3000),
            (Some("acme"), "EUR", 1, 3000),
            (None, "USD", 1, 2000),
        ]
    );
    let acme = analytics::sales_by_vendor(&pool, from, to, Some("acme"))
        .await
        .expect("acme");
    assert_eq!(acme.len(), 1);

    let categories = analytics::sales_by_category(&pool, from, to)
        .await
        .expect("by category");
    let categories: Vec<(Option<&str>, i64, i64)> = categories
        .iter()
        .map(|c| (c.key.as_deref(), c.figures.units, c.figures.refunded_units))
        .collect();
    assert_eq!(
        categories,
        vec![
            (Some("kitchen"), 3, 0),
            (Some("shirts"), 2, 1),
            (Some("hats"), 1, 0),
        ]
    );
}

#[tokio::test]
async fn refunds_are_counted_by_reason_and_customers_who_come_back_are_repeat_customers() {
    let (_db, pool) = scenario().await;
    let refunds = analytics::refunds_by_reason(&pool, day("2025-03-01"), day("2025-03-31"))
        .await
        .expect("refunds");
    let refunds: Vec<(&str, &str, i64, i64)> = refunds
        .iter()
        .map(|r| {
            (
                r.reason.as_str(),
                r.currency.as_str(),
                r.refunds,
                r.amount_minor,
            )
        })
        .collect();
    assert_eq!(
        refunds,
        vec![
            (analytics::REASON_ORDER_CANCELLED, "EUR", 1, 2000),
            ("size_or_fit", "EUR", 1, 1500),
        ]
    );

    // Customer A twice (1 and 2 March), customer B once; o3's guest was taken back out.
    let month = analytics::customers(&pool, day("2025-03-01"), day("2025-03-31"))
        .await
        .expect("customers");
    assert_eq!((month.customers, month.repeat_customers), (2, 1));
    // On 2 March, A came back (a sale the day before), B did not.
    let second = analytics::customers(&pool, day("2025-03-02"), day("2025-03-02"))
        .await
        .expect("customers");
    assert_eq!((second.customers, second.repeat_customers), (2, 1));
    let first = analytics::customers(&pool, day("2025-03-01"), day("2025-03-01"))
        .await
        .expect("customers");
    assert_eq!((first.customers, first.repeat_customers), (1, 0));
    assert_eq!(
        analytics::rate_bp(month.repeat_customers, month.customers),
        Some(5000)
    );

    let guests: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM analytics_orders WHERE customer_key LIKE 'guest:%'
           AND customer_key <> 'guest:' || encode(sha256(convert_to('ada@example.com', 'UTF8')), 'hex')",
    )
    .fetch_one(&pool)
    .await
    .expect("a count");
    assert_eq!(
        guests, 0,
        "a guest is keyed by the hash of the lower-cased email"
    );
}

#[tokio::test]
async fn the_funnel_counts_each_stage_once_on_the_day_of_its_own_event() {
    let (_db, pool) = scenario().await;
    let days = analytics::funnel(&pool, day("2025-03-01"), day("2025-03-31"))
        .await
        .expect("the funnel");
    let days: Vec<(String, i64, i64, i64, i64)> = days
        .iter()
        .map(|d| {
            (
                d.day.to_string(),
                d.carts_created,
                d.carts_with_items,
                d.checkouts_started,
                d.paid,
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("2025-03-01".to_string(), 2, 1, 1, 1),
            // The capture found during compensation is not a payment.
            ("2025-03-02".to_string(), 1, 1, 1, 0),
        ]
    );
    let failed: Option<NaiveDate> = sqlx::query_scalar(
        "SELECT failed_day FROM analytics_checkouts WHERE checkout_id = '88888888-8888-4888-8888-888888888888'",
    )
    .fetch_one(&pool)
    .await
    .expect("a row");
    assert_eq!(failed, Some(day("2025-03-02")));
}

#[tokio::test]
async fn a_rebuild_from_the_event_store_finds_the_same_figures_as_the_live_projections() {
    let (_db, pool) = scenario().await;
    let live = snapshot(&pool).await;
    // The live tables are not empty: the comparison means something.
    assert!(live.iter().all(|t| t
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_array)
        .is_some_and(|rows| !rows.is_empty())));

    let replayed = agora_projections::rebuild(&AnalyticsOrders, &pool)
        .await
        .expect("rebuilds the orders' analytics");
    let order_events: usize = orders().iter().map(Vec::len).sum();
    assert_eq!(replayed, order_events as u64);
    agora_projections::rebuild(&AnalyticsCarts, &pool)
        .await
        .expect("rebuilds the carts' analytics");
    agora_projections::rebuild(&AnalyticsCheckouts, &pool)
        .await
        .expect("rebuilds the checkouts' analytics");
    assert_eq!(snapshot(&pool).await, live);

    // Again on the swapped-in tables, and nothing is left behind.
    agora_projections::rebuild(&AnalyticsOrders, &pool)
        .await
        .expect("rebuilds again");
    assert_eq!(snapshot(&pool).await, live);
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'analytics_%rebuild' OR tablename LIKE 'analytics_%old'",
    )
    .fetch_one(&pool)
    .await
    .expect("a count");
    assert_eq!(leftovers, 0);

    // A redelivery after the rebuild changes nothing either.
    for stream in orders() {
        let mut conn = pool.acquire().await.expect("a connection");
        let id = &stream[0].aggregate_id;
        let stored: Vec<RecordedEvent> = sqlx::query(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
             FROM events WHERE aggregate_type = 'order' AND aggregate_id = $1 ORDER BY sequence",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .expect("events")
        .iter()
        .map(agora_runtime::row_to_event)
        .collect();
        apply(&pool, &AnalyticsOrders, &stored).await;
    }
    assert_eq!(snapshot(&pool).await, live);
}

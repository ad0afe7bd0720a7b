//! Analytics by replay: sales by day, product, category and vendor; the conversion funnel; the
//! average order value; the repeat-customer rate; refunds and their reasons. Three projections,
//! one per stream type they read, each owning its tables (migration `0022_analytics.sql`); the
//! reports (the functions at the end) join them. Being projections, they are filled by
//! replaying the whole event store (`agora project rebuild analytics_orders`), so they are
//! right about every day since the shop opened.
//!
//! - [`AnalyticsOrders`] (order events): one row per order (`analytics_orders`) and its
//!   companion tables: sales per day ([`SALES_DAILY`]), per SKU ([`SALES_PRODUCTS`]), per
//!   category ([`SALES_CATEGORIES`]) and per vendor ([`SALES_VENDORS`]), refunds per day and
//!   reason ([`REFUNDS_DAILY`]), and sales per customer and day ([`CUSTOMER_DAYS`]).
//! - [`AnalyticsCarts`] (cart events): one row per cart (`analytics_carts`), the days it was
//!   created and first got an item.
//! - [`AnalyticsCheckouts`] (checkout events): one row per checkout (`analytics_checkouts`),
//!   the days it started, was paid and failed.
//!
//! What counts:
//! - a **sale** is an order confirmed (the saga confirms it once the payment is authorized and
//!   the stock committed), counted on the day of its `OrderConfirmed`. An order cancelled after
//!   that (a capture that failed, staff, the shopper) is taken back out of its confirmation
//!   day, with the refunds counted against it, so a cancelled order never counts; a day's
//!   figures may therefore still drop while its orders can be cancelled;
//! - a **refund** counts on its own day, in every case in [`REFUNDS_DAILY`] by reason, and in
//!   the sales tables too when its order is a sale then (net revenue = total − refunded). An
//!   order's refund records no reason itself, so it is derived: `order_cancelled` for a refund
//!   of a cancelled order; for a refund of units the order accepted back in a return (the
//!   refund id the fulfilment runner gives it names the return, else the latest return of the
//!   order with the refunded SKU), the reason the shopper gave for that SKU on the return
//!   (`damaged`, `size_or_fit`... read from the return's `ReturnRequested`; a return's shipping
//!   refund takes its first reason that is the shop's fault, else its first); `unspecified`
//!   otherwise (goodwill refunds of an amount);
//! - a **customer** is `customer:<id>` for a signed-in shopper, `guest:<sha256 of the
//!   lower-cased email>` for a guest (the email itself is not kept here);
//! - the **funnel**'s stages each count on the day of their own event: a cart created
//!   (`CartCreated`), a cart that got its first item (its first `ItemAdded`, or a guest cart's
//!   lines absorbed into it; once per cart), a checkout started (`CheckoutStarted`), a checkout
//!   paid (the saga recorded the payment captured before any failure, i.e. it moved on to
//!   finishing; once per checkout; a capture found during compensation is refunded, not paid);
//! - a day is the UTC day of the event's `recorded_at` (an event stored without metadata falls
//!   back to the `at` of its payload).
//!
//! Money is integer minor units with its currency, never mixed across currencies; averages and
//! rates are integer divisions done here ([`average_minor`], [`rate_bp`], basis points).
//!
//! Invariants: every table is written under the version guard of its stream's row, in the
//! transaction that moves the row forward, so a replayed event changes nothing; the order's
//! facts are computed by a pure walk of its whole history ([`AnalyticsOrders`]), so a live
//! batch, a redelivery and a rebuild yield the same figures; the companion tables are written
//! under [`companion_table`], so a rebuild counts into its own copies and never twice.

use std::collections::{BTreeMap, HashMap};

use agora_cart::CartEvent;
use agora_checkout::{CheckoutEvent, Outcome};
use agora_kernel::{Decider, RecordedEvent};
use agora_order::{Order, OrderEvent, OrderOwner, OrderStatus, OrderView, RefundLine};
use agora_returns::{ReturnEvent, ReturnReason};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool, Row};

use crate::runtime::companion_table;
use crate::Projection;

/// Sales per day and currency, a companion of `analytics_orders`.
pub const SALES_DAILY: &str = "analytics_sales_daily";
/// Sales per day, SKU and currency, a companion of `analytics_orders`.
pub const SALES_PRODUCTS: &str = "analytics_sales_products";
/// Sales per day, category and currency, a companion of `analytics_orders`.
pub const SALES_CATEGORIES: &str = "analytics_sales_categories";
/// Sales per day, vendor and currency, a companion of `analytics_orders`.
pub const SALES_VENDORS: &str = "analytics_sales_vendors";
/// Refunds per day, reason and currency, a companion of `analytics_orders`.
pub const REFUNDS_DAILY: &str = "analytics_refunds_daily";
/// Sales per customer and day, a companion of `analytics_orders`.
pub const CUSTOMER_DAYS: &str = "analytics_customer_days";

/// The reason of a refund of a cancelled order.
pub const REASON_ORDER_CANCELLED: &str = "order_cancelled";
/// The reason of a refund nothing explains (an amount given back as a gesture).
pub const REASON_UNSPECIFIED: &str = "unspecified";

/// The UTC day of an event: that of its `recorded_at`, or, for an event stored without
/// metadata, of the `at` its payload carries.
pub fn day_of(event: &RecordedEvent) -> anyhow::Result<NaiveDate> {
    if let Some(at) = event.recorded_at() {
        return Ok(at.date_naive());
    }
    event
        .payload
        .as_object()
        .and_then(|variant| variant.values().next())
        .and_then(|fields| fields.get("at"))
        .and_then(|at| at.as_str())
        .and_then(|at| at.parse::<DateTime<Utc>>().ok())
        .map(|at| at.date_naive())
        .ok_or_else(|| anyhow::anyhow!("{} records no time", event.msg_id()))
}

/// `numerator / denominator` in basis points (10 000 = 100 %), rounded down; `None` without a
/// denominator.
pub fn rate_bp(numerator: i64, denominator: i64) -> Option<i64> {
    (denominator > 0).then(|| {
        let scaled = i128::from(numerator) * 10_000 / i128::from(denominator);
        i64::try_from(scaled).unwrap_or(i64::MAX)
    })
}

/// The average of `total_minor` over `count`, in minor units rounded down; `None` for none.
pub fn average_minor(total_minor: i64, count: i64) -> Option<i64> {
    (count > 0).then(|| total_minor.div_euclid(count))
}

// ---------------------------------------------------------------------------------------------
// Orders

/// Sales, refunds and customers from the orders' events (see the module's doc).
pub struct AnalyticsOrders;

impl Projection for AnalyticsOrders {
    const NAME: &'static str = "analytics_orders";
    const AGGREGATE_TYPE: &'static str = "order";
    const ID_COLUMN: &'static str = "order_id";
    const COMPANION_TABLES: &'static [&'static str] = &[
        SALES_DAILY,
        SALES_PRODUCTS,
        SALES_CATEGORIES,
        SALES_VENDORS,
        REFUNDS_DAILY,
        CUSTOMER_DAYS,
    ];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let order_id = first.aggregate_id.as_str();
        let version = crate::state::row_version(conn, table, Self::ID_COLUMN, order_id).await?;
        let fresh: Vec<&RecordedEvent> = events.iter().filter(|e| e.sequence > version).collect();
        let (Some(head), Some(last)) = (fresh.first(), fresh.last()) else {
            return Ok(());
        };
        let counts = |e: &&RecordedEvent| {
            matches!(
                e.event_type.as_str(),
                "OrderPlaced" | "OrderConfirmed" | "OrderCancelled" | "OrderRefunded"
            )
        };
        if !fresh.iter().any(counts) {
            // Nothing to count: the row only moves forward.
            sqlx::query(&format!(
                "UPDATE {table} SET version = $2 WHERE order_id = $1 AND version < $2"
            ))
            .bind(order_id)
            .bind(i64::try_from(last.sequence)?)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        // The whole history: the facts of the new events depend on what came before.
        let mut recorded = earlier_events(conn, head).await?;
        recorded.extend(fresh.iter().map(|e| (*e).clone()));
        let mut history = Vec::with_capacity(recorded.len());
        for e in &recorded {
            let event: OrderEvent = serde::Deserialize::deserialize(&e.payload)?;
            history.push(Step {
                sequence: e.sequence,
                day: day_of(e)?,
                event,
            });
        }
        let refunds = history.iter().any(|s| {
            s.sequence >= head.sequence && matches!(s.event, OrderEvent::OrderRefunded { .. })
        });
        let reasons = if refunds {
            return_reasons(conn, &returns_of(&history)).await?
        } else {
            ReturnReasons::new()
        };
        let (facts, row) = walk(order_id, &history, head.sequence, &reasons);
        let Some(placed) = &row.placed else {
            // A stream that never saw `OrderPlaced`: nothing to count.
            return Ok(());
        };
        let tables = OrderTables::of(table);
        let moved = sqlx::query(&format!(
            "INSERT INTO {table} (order_id, customer_key, currency, placed_day, confirmed_day,
                cancelled_day, counted, total_minor, refunded_minor, version)
             VALUES ($1, COALESCE('customer:' || $2,
                        'guest:' || encode(sha256(convert_to($3, 'UTF8')), 'hex')),
                     $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (order_id) DO UPDATE SET confirmed_day = EXCLUDED.confirmed_day,
                cancelled_day = EXCLUDED.cancelled_day, counted = EXCLUDED.counted,
                refunded_minor = EXCLUDED.refunded_minor, version = EXCLUDED.version
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(order_id)
        .bind(&placed.customer_id)
        .bind(&placed.guest_email)
        .bind(&placed.currency)
        .bind(placed.day)
        .bind(row.confirmed_day)
        .bind(row.cancelled_day)
        .bind(row.counted)
        .bind(placed.total)
        .bind(row.refunded)
        .bind(i64::try_from(last.sequence)?)
        .execute(&mut *conn)
        .await?;
        if moved.rows_affected() == 0 {
            // Another delivery of the same events got here first.
            return Ok(());
        }
        for fact in &facts {
            write_fact(conn, &tables, order_id, fact).await?;
        }
        Ok(())
    }
}

/// The tables one order event writes: the live ones, or a rebuild's copies.
struct OrderTables {
    orders: String,
    daily: String,
    products: String,
    categories: String,
    vendors: String,
    refunds: String,
    customers: String,
}

impl OrderTables {
    fn of(table: &str) -> Self {
        let companion = |name| companion_table(AnalyticsOrders::NAME, table, name);
        OrderTables {
            orders: table.to_string(),
            daily: companion(SALES_DAILY),
            products: companion(SALES_PRODUCTS),
            categories: companion(SALES_CATEGORIES),
            vendors: companion(SALES_VENDORS),
            refunds: companion(REFUNDS_DAILY),
            customers: companion(CUSTOMER_DAYS),
        }
    }
}

/// One event of an order's history, with its day.
#[derive(Clone, Debug)]
struct Step {
    sequence: u64,
    day: NaiveDate,
    event: OrderEvent,
}

/// What `OrderPlaced` fixed that the order's row keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Placed {
    customer_id: Option<String>,
    /// Lower-cased; hashed into the customer key by the row's insert, never stored.
    guest_email: Option<String>,
    currency: String,
    day: NaiveDate,
    total: i64,
}

/// The order's row after its history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct OrderRow {
    placed: Option<Placed>,
    confirmed_day: Option<NaiveDate>,
    cancelled_day: Option<NaiveDate>,
    /// A sale now: confirmed and not cancelled.
    counted: bool,
    refunded: i64,
}

/// One line of a sale.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LineSale {
    line: LineKey,
    units: i64,
    /// Unit price × units.
    gross: i64,
    /// What promotions took off the line.
    discount: i64,
    /// What the shopper paid for it: after its discount, with its tax.
    revenue: i64,
}

/// What identifies a line in the tables.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LineKey {
    product_id: String,
    sku: String,
    title: String,
    /// `""` for a line sold without a category.
    category_id: String,
    vendor_id: Option<String>,
}

/// An order's sale as the tables count it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sale {
    currency: String,
    units: i64,
    subtotal: i64,
    /// Items' and shipping's discounts.
    discount: i64,
    shipping: i64,
    tax: i64,
    total: i64,
    lines: Vec<LineSale>,
}

/// What one event adds to (`sign` 1) or takes back from (`sign` −1) the tables.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fact {
    /// A sale, on its confirmation day.
    Sale {
        day: NaiveDate,
        sign: i64,
        sale: Sale,
    },
    /// Money given back against a sale, on the refund's day (units of `line`, when it names
    /// one).
    SaleRefund {
        day: NaiveDate,
        sign: i64,
        currency: String,
        amount: i64,
        line: Option<(LineKey, i64)>,
    },
    /// A refund, whatever its order became, by reason.
    Refund {
        day: NaiveDate,
        reason: String,
        currency: String,
        amount: i64,
    },
}

/// The reasons of each return's lines, by return id: `(sku, reason)` in the return's order.
type ReturnReasons = HashMap<String, Vec<(String, ReturnReason)>>;

/// The facts of the events of `history` (one order's, from its first event) at or after
/// sequence `from`, and the order's row after all of it. Pure: the same history always gives
/// the same facts, so a rebuild counts what the live projection counted.
fn walk(
    order_id: &str,
    history: &[Step],
    from: u64,
    reasons: &ReturnReasons,
) -> (Vec<Fact>, OrderRow) {
    let mut order = Order::default();
    let mut row = OrderRow::default();
    let mut facts = Vec::new();
    // The sale while it counts, and the refunds counted against it.
    let mut sale: Option<(NaiveDate, Sale)> = None;
    let mut sale_refunds: Vec<Fact> = Vec::new();
    // Returns the order accepted (and did not release): id and SKUs.
    let mut returns: Vec<(String, Vec<String>)> = Vec::new();
    for step in history {
        let emit = step.sequence >= from;
        let cancelled_before = order.status() == OrderStatus::Cancelled;
        order.evolve(&step.event);
        match &step.event {
            OrderEvent::OrderPlaced {
                owner,
                email,
                currency,
                total,
                ..
            } => {
                let (customer_id, guest_email) = match owner {
                    OrderOwner::Customer { customer_id } => (Some(customer_id.to_string()), None),
                    OrderOwner::Guest { .. } => (None, Some(email.trim().to_lowercase())),
                };
                row.placed = Some(Placed {
                    customer_id,
                    guest_email,
                    currency: currency.as_str().to_string(),
                    day: step.day,
                    total: total.amount_minor,
                });
            }
            // An order is confirmed once; one cancelled before never sells.
            OrderEvent::OrderConfirmed { .. }
                if sale.is_none() && row.confirmed_day.is_none() && !cancelled_before =>
            {
                let counted = sale_of(&order.view(order_id, step.sequence));
                row.confirmed_day = Some(step.day);
                if emit {
                    facts.push(Fact::Sale {
                        day: step.day,
                        sign: 1,
                        sale: counted.clone(),
                    });
                }
                sale = Some((step.day, counted));
            }
            OrderEvent::OrderCancelled { .. } => {
                row.cancelled_day = Some(step.day);
                if let Some((day, counted)) = sale.take() {
                    let refunds = std::mem::take(&mut sale_refunds);
                    if emit {
                        facts.push(Fact::Sale {
                            day,
                            sign: -1,
                            sale: counted,
                        });
                        facts.extend(refunds.into_iter().map(|f| match f {
                            Fact::SaleRefund { sign, .. } => with_sign(f, -sign),
                            other => other,
                        }));
                    }
                }
            }
            OrderEvent::OrderRefunded {
                refund_id,
                amount,
                line,
                ..
            } => {
                let currency = amount.currency.as_str().to_string();
                row.refunded += amount.amount_minor;
                let reason = refund_reason(
                    cancelled_before,
                    refund_id,
                    line.as_ref(),
                    &returns,
                    reasons,
                );
                if emit {
                    facts.push(Fact::Refund {
                        day: step.day,
                        reason,
                        currency: currency.clone(),
                        amount: amount.amount_minor,
                    });
                }
                if sale.is_some() {
                    let line = line.as_ref().and_then(|l| {
                        order
                            .lines()
                            .iter()
                            .find(|o| o.sku == l.sku)
                            .map(|o| (key_of(o), l.quantity))
                    });
                    let fact = Fact::SaleRefund {
                        day: step.day,
                        sign: 1,
                        currency,
                        amount: amount.amount_minor,
                        line,
                    };
                    if emit {
                        facts.push(fact.clone());
                    }
                    sale_refunds.push(fact);
                }
            }
            OrderEvent::OrderReturnOpened {
                return_id, lines, ..
            } => returns.push((
                return_id.clone(),
                lines.iter().map(|l| l.sku.to_string()).collect(),
            )),
            OrderEvent::OrderReturnReleased { return_id, .. } => {
                returns.retain(|(id, _)| id != return_id);
            }
            _ => {}
        }
    }
    row.counted = sale.is_some();
    (facts, row)
}

/// `fact` (a sale refund) with another sign.
fn with_sign(fact: Fact, sign: i64) -> Fact {
    match fact {
        Fact::SaleRefund {
            day,
            currency,
            amount,
            line,
            ..
        } => Fact::SaleRefund {
            day,
            sign,
            currency,
            amount,
            line,
        },
        other => other,
    }
}

fn key_of(line: &agora_order::OrderLine) -> LineKey {
    LineKey {
        product_id: line.product_id.clone(),
        sku: line.sku.to_string(),
        title: line.title.clone(),
        category_id: line.category_id.clone().unwrap_or_default(),
        vendor_id: line.vendor_id.clone(),
    }
}

/// The sale a confirmed order's view makes.
fn sale_of(view: &OrderView) -> Sale {
    let lines: Vec<LineSale> = view
        .lines
        .iter()
        .map(|l| LineSale {
            line: LineKey {
                product_id: l.product_id.clone(),
                sku: l.sku.to_string(),
                title: l.title.clone(),
                category_id: l.category_id.clone().unwrap_or_default(),
                vendor_id: l.vendor_id.clone(),
            },
            units: l.quantity,
            gross: l.line_total.amount_minor,
            discount: l.discount.amount_minor,
            revenue: l.paid.amount_minor,
        })
        .collect();
    Sale {
        currency: view.currency.as_str().to_string(),
        units: lines.iter().map(|l| l.units).sum(),
        subtotal: view.subtotal.amount_minor,
        discount: view.discount.amount_minor + view.shipping_discount.amount_minor,
        shipping: view.shipping.amount_minor,
        tax: view.tax.amount_minor,
        total: view.total.amount_minor,
        lines,
    }
}

/// The return a refund id of the fulfilment runner names: `return-<return id>-<sku or
/// shipping>`.
fn return_named_by(refund_id: &str) -> Option<&str> {
    let id = refund_id.strip_prefix("return-")?.get(..36)?;
    uuid::Uuid::parse_str(id).ok().map(|_| id)
}

/// Why a refund was made (see the module's doc).
fn refund_reason(
    cancelled: bool,
    refund_id: &str,
    line: Option<&RefundLine>,
    returns: &[(String, Vec<String>)],
    reasons: &ReturnReasons,
) -> String {
    if cancelled {
        return REASON_ORDER_CANCELLED.to_string();
    }
    let named = return_named_by(refund_id).filter(|id| returns.iter().any(|(r, _)| r == id));
    let by_line = || {
        let sku = line?.sku.as_str();
        returns
            .iter()
            .rev()
            .find(|(_, skus)| skus.iter().any(|s| s == sku))
            .map(|(id, _)| id.as_str())
    };
    let reason = named
        .or_else(by_line)
        .and_then(|id| reasons.get(id))
        .and_then(|lines| match line {
            Some(l) => lines
                .iter()
                .find(|(sku, _)| sku == l.sku.as_str())
                .map(|(_, r)| *r),
            None => lines
                .iter()
                .find(|(_, r)| r.is_shop_fault())
                .or(lines.first())
                .map(|(_, r)| *r),
        });
    reason
        .map_or(REASON_UNSPECIFIED, |r| r.as_str())
        .to_string()
}

/// The ids of the returns `history` accepted.
fn returns_of(history: &[Step]) -> Vec<String> {
    history
        .iter()
        .filter_map(|s| match &s.event {
            OrderEvent::OrderReturnOpened { return_id, .. } => Some(return_id.clone()),
            _ => None,
        })
        .collect()
}

/// The reasons of each of `ids`' lines, from the returns' own `ReturnRequested` in the event
/// store (never a read model, which may lag behind).
async fn return_reasons(conn: &mut PgConnection, ids: &[String]) -> anyhow::Result<ReturnReasons> {
    if ids.is_empty() {
        return Ok(ReturnReasons::new());
    }
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT aggregate_id, payload FROM events
         WHERE aggregate_type = 'return' AND aggregate_id = ANY($1)
           AND event_type = 'ReturnRequested'",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = ReturnReasons::new();
    for (id, payload) in rows {
        if let ReturnEvent::ReturnRequested { lines, .. } = serde_json::from_value(payload)? {
            out.insert(
                id,
                lines
                    .into_iter()
                    .map(|l| (l.sku.to_string(), l.reason))
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// The events of `first`'s stream before it, from the event store, in this transaction.
async fn earlier_events(
    conn: &mut PgConnection,
    first: &RecordedEvent,
) -> anyhow::Result<Vec<RecordedEvent>> {
    if first.sequence <= 1 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
         FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence < $3
         ORDER BY sequence",
    )
    .bind(&first.aggregate_type)
    .bind(&first.aggregate_id)
    .bind(i64::try_from(first.sequence)?)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.iter().map(agora_runtime::row_to_event).collect())
}

/// Figures of one row of the product, category or vendor tables, to add.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Figures {
    orders: i64,
    units: i64,
    gross: i64,
    discount: i64,
    revenue: i64,
    refunded_units: i64,
    refunded: i64,
}

impl Figures {
    fn add(&mut self, other: Figures) {
        self.orders += other.orders;
        self.units += other.units;
        self.gross += other.gross;
        self.discount += other.discount;
        self.revenue += other.revenue;
        self.refunded_units += other.refunded_units;
        self.refunded += other.refunded;
    }
}

/// What one fact adds to the product, category and vendor tables: per line, per category and
/// per vendor (`""`: the shop's own lines), an order counted once per category and vendor.
#[allow(clippy::type_complexity)]
fn dimension_deltas(
    fact: &Fact,
) -> Option<(
    Vec<(&LineKey, Figures)>,
    BTreeMap<&str, Figures>,
    BTreeMap<&str, Figures>,
)> {
    let per_line: Vec<(&LineKey, Figures)> = match fact {
        Fact::Sale { sign, sale, .. } => sale
            .lines
            .iter()
            .map(|l| {
                (
                    &l.line,
                    Figures {
                        orders: *sign,
                        units: sign * l.units,
                        gross: sign * l.gross,
                        discount: sign * l.discount,
                        revenue: sign * l.revenue,
                        ..Figures::default()
                    },
                )
            })
            .collect(),
        Fact::SaleRefund {
            sign,
            amount,
            line: Some((line, units)),
            ..
        } => vec![(
            line,
            Figures {
                refunded_units: sign * units,
                refunded: sign * amount,
                ..Figures::default()
            },
        )],
        _ => return None,
    };
    let group = |key: fn(&LineKey) -> &str| {
        let mut out: BTreeMap<&str, Figures> = BTreeMap::new();
        for (line, figures) in &per_line {
            let entry = out.entry(key(line)).or_default();
            entry.add(Figures {
                orders: 0,
                ..*figures
            });
            // Every line of a fact counts the same order (or none): once per group.
            entry.orders = figures.orders;
        }
        out
    };
    let categories = group(|l| l.category_id.as_str());
    let vendors = group(|l| l.vendor_id.as_deref().unwrap_or(""));
    Some((per_line, categories, vendors))
}

/// Adds one fact to the tables.
async fn write_fact(
    conn: &mut PgConnection,
    t: &OrderTables,
    order_id: &str,
    fact: &Fact,
) -> anyhow::Result<()> {
    match fact {
        Fact::Sale { day, sign, sale } => {
            add_daily(
                conn,
                &t.daily,
                *day,
                &sale.currency,
                [
                    *sign,
                    sign * sale.units,
                    sign * sale.subtotal,
                    sign * sale.discount,
                    sign * sale.shipping,
                    sign * sale.tax,
                    sign * sale.total,
                    0,
                    0,
                ],
            )
            .await?;
            sqlx::query(&format!(
                "INSERT INTO {} AS c (customer_key, day, orders)
                 SELECT customer_key, $2, $3 FROM {} WHERE order_id = $1
                 ON CONFLICT (customer_key, day) DO UPDATE SET orders = c.orders + EXCLUDED.orders",
                t.customers, t.orders
            ))
            .bind(order_id)
            .bind(day)
            .bind(sign)
            .execute(&mut *conn)
            .await?;
        }
        Fact::SaleRefund {
            day,
            sign,
            currency,
            amount,
            ..
        } => {
            add_daily(
                conn,
                &t.daily,
                *day,
                currency,
                [0, 0, 0, 0, 0, 0, 0, *sign, sign * amount],
            )
            .await?;
        }
        Fact::Refund {
            day,
            reason,
            currency,
            amount,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {} AS r (day, reason, currency, refunds, amount_minor)
                 VALUES ($1, $2, $3, 1, $4)
                 ON CONFLICT (day, reason, currency) DO UPDATE SET refunds = r.refunds + 1,
                    amount_minor = r.amount_minor + EXCLUDED.amount_minor",
                t.refunds
            ))
            .bind(day)
            .bind(reason)
            .bind(currency)
            .bind(amount)
            .execute(&mut *conn)
            .await?;
        }
    }
    let (day, currency) = match fact {
        Fact::Sale { day, sale, .. } => (day, sale.currency.as_str()),
        Fact::SaleRefund { day, currency, .. } => (day, currency.as_str()),
        Fact::Refund { .. } => return Ok(()),
    };
    let Some((lines, categories, vendors)) = dimension_deltas(fact) else {
        return Ok(());
    };
    let columns = |figures: Vec<&Figures>| -> Vec<Vec<i64>> {
        FIGURES
            .iter()
            .map(|f| figures.iter().map(|x| f(x)).collect())
            .collect()
    };
    let line_columns = columns(lines.iter().map(|(_, f)| f).collect());
    sqlx::query(&format!(
        "INSERT INTO {} AS s (day, currency, product_id, sku, title, vendor_id, orders, units,
            gross_minor, discount_minor, revenue_minor, refunded_units, refunded_minor)
         SELECT $1, $2, p, k, t, v, o, u, g, d, r, ru, rm
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
                     $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])
              AS x(p, k, t, v, o, u, g, d, r, ru, rm)
         ON CONFLICT (day, currency, sku, product_id) DO UPDATE SET title = EXCLUDED.title,
            vendor_id = COALESCE(EXCLUDED.vendor_id, s.vendor_id), {}",
        t.products, SUMS
    ))
    .bind(day)
    .bind(currency)
    .bind(
        lines
            .iter()
            .map(|(l, _)| l.product_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(lines.iter().map(|(l, _)| l.sku.clone()).collect::<Vec<_>>())
    .bind(
        lines
            .iter()
            .map(|(l, _)| l.title.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        lines
            .iter()
            .map(|(l, _)| l.vendor_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(&line_columns[0])
    .bind(&line_columns[1])
    .bind(&line_columns[2])
    .bind(&line_columns[3])
    .bind(&line_columns[4])
    .bind(&line_columns[5])
    .bind(&line_columns[6])
    .execute(&mut *conn)
    .await?;
    for (table, key, groups) in [
        (&t.categories, "category_id", &categories),
        (&t.vendors, "vendor_id", &vendors),
    ] {
        let group_columns = columns(groups.values().collect());
        sqlx::query(&format!(
            "INSERT INTO {table} AS s (day, currency, {key}, orders, units, gross_minor,
                discount_minor, revenue_minor, refunded_units, refunded_minor)
             SELECT $1, $2, g, o, u, gr, d, r, ru, rm
             FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                         $8::bigint[], $9::bigint[], $10::bigint[]) AS x(g, o, u, gr, d, r, ru, rm)
             ON CONFLICT (day, currency, {key}) DO UPDATE SET {SUMS}"
        ))
        .bind(day)
        .bind(currency)
        .bind(groups.keys().map(|k| k.to_string()).collect::<Vec<_>>())
        .bind(&group_columns[0])
        .bind(&group_columns[1])
        .bind(&group_columns[2])
        .bind(&group_columns[3])
        .bind(&group_columns[4])
        .bind(&group_columns[5])
        .bind(&group_columns[6])
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The figures' columns, in the order of [`SUMS`].
const FIGURES: [fn(&Figures) -> i64; 7] = [
    |f| f.orders,
    |f| f.units,
    |f| f.gross,
    |f| f.discount,
    |f| f.revenue,
    |f| f.refunded_units,
    |f| f.refunded,
];

/// How a product, category or vendor row adds figures.
const SUMS: &str = "orders = s.orders + EXCLUDED.orders, units = s.units + EXCLUDED.units,
    gross_minor = s.gross_minor + EXCLUDED.gross_minor,
    discount_minor = s.discount_minor + EXCLUDED.discount_minor,
    revenue_minor = s.revenue_minor + EXCLUDED.revenue_minor,
    refunded_units = s.refunded_units + EXCLUDED.refunded_units,
    refunded_minor = s.refunded_minor + EXCLUDED.refunded_minor";

/// Adds `[orders, units, subtotal, discount, shipping, tax, total, refunds, refunded]` to a
/// day's sales.
async fn add_daily(
    conn: &mut PgConnection,
    table: &str,
    day: NaiveDate,
    currency: &str,
    figures: [i64; 9],
) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO {table} AS s (day, currency, orders, units, subtotal_minor, discount_minor,
            shipping_minor, tax_minor, total_minor, refunds, refunded_minor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (day, currency) DO UPDATE SET orders = s.orders + EXCLUDED.orders,
            units = s.units + EXCLUDED.units,
            subtotal_minor = s.subtotal_minor + EXCLUDED.subtotal_minor,
            discount_minor = s.discount_minor + EXCLUDED.discount_minor,
            shipping_minor = s.shipping_minor + EXCLUDED.shipping_minor,
            tax_minor = s.tax_minor + EXCLUDED.tax_minor,
            total_minor = s.total_minor + EXCLUDED.total_minor,
            refunds = s.refunds + EXCLUDED.refunds,
            refunded_minor = s.refunded_minor + EXCLUDED.refunded_minor"
    );
    let mut query = sqlx::query(&sql).bind(day).bind(currency);
    for figure in figures {
        query = query.bind(figure);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Carts and checkouts: the funnel

/// A funnel row: the first day of each stage one stream reached, kept as one date column per
/// stage. [`apply_stages`] folds a batch of the stream's events into it.
trait Stages: Default {
    type Event: serde::de::DeserializeOwned;
    /// The row's day columns, in the order of [`Stages::days`].
    const COLUMNS: &'static [&'static str];
    fn from_days(days: &[Option<NaiveDate>]) -> Self;
    fn days(&self) -> Vec<Option<NaiveDate>>;
    /// Whether `event` may move a stage (the others only advance the row's version).
    fn moves(event: &Self::Event) -> bool;
    /// The stages after `event`, recorded on `day`; each stage keeps its first day.
    fn step(self, day: NaiveDate, event: &Self::Event) -> Self;
}

/// Folds `events` (one stream's, in order) into its row of `table`, keyed by `id_column`:
/// the row is locked, events at or below its version are skipped, and it is written only when
/// the version moves.
async fn apply_stages<S: Stages>(
    conn: &mut PgConnection,
    table: &str,
    id_column: &str,
    events: &[RecordedEvent],
) -> anyhow::Result<()> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    let columns = S::COLUMNS.join(", ");
    let row = sqlx::query(&format!(
        "SELECT version, {columns} FROM {table} WHERE {id_column} = $1 FOR UPDATE"
    ))
    .bind(&first.aggregate_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (version, mut stages) = match row {
        Some(r) => {
            let days: Vec<Option<NaiveDate>> = S::COLUMNS.iter().map(|c| r.get(*c)).collect();
            (r.get::<i64, _>("version"), S::from_days(&days))
        }
        None => (0, S::default()),
    };
    let mut last = version;
    for e in events.iter().filter(|e| e.sequence as i64 > version) {
        let event: S::Event = serde::Deserialize::deserialize(&e.payload)?;
        if S::moves(&event) {
            stages = stages.step(day_of(e)?, &event);
        }
        last = i64::try_from(e.sequence)?;
    }
    if last == version {
        return Ok(());
    }
    let values: Vec<String> = (0..S::COLUMNS.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let updates: Vec<String> = S::COLUMNS
        .iter()
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({id_column}, {columns}, version) VALUES ($1, {}, ${})
         ON CONFLICT ({id_column}) DO UPDATE SET {}, version = EXCLUDED.version
         WHERE {table}.version < EXCLUDED.version",
        values.join(", "),
        S::COLUMNS.len() + 2,
        updates.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(&first.aggregate_id);
    for day in stages.days() {
        query = query.bind(day);
    }
    query.bind(last).execute(&mut *conn).await?;
    Ok(())
}

/// The days of a cart's funnel stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CartDays {
    pub created: Option<NaiveDate>,
    pub first_item: Option<NaiveDate>,
}

impl Stages for CartDays {
    type Event = CartEvent;
    const COLUMNS: &'static [&'static str] = &["created_day", "first_item_day"];

    fn from_days(days: &[Option<NaiveDate>]) -> Self {
        CartDays {
            created: days.first().copied().flatten(),
            first_item: days.get(1).copied().flatten(),
        }
    }

    fn days(&self) -> Vec<Option<NaiveDate>> {
        vec![self.created, self.first_item]
    }

    fn step(mut self, day: NaiveDate, event: &CartEvent) -> Self {
        match event {
            CartEvent::CartCreated { .. } => {
                self.created.get_or_insert(day);
            }
            CartEvent::ItemAdded { .. } => {
                self.first_item.get_or_insert(day);
            }
            CartEvent::GuestCartAbsorbed { lines, .. } if !lines.is_empty() => {
                self.first_item.get_or_insert(day);
            }
            _ => {}
        }
        self
    }

    fn moves(event: &CartEvent) -> bool {
        match event {
            CartEvent::CartCreated { .. } | CartEvent::ItemAdded { .. } => true,
            CartEvent::GuestCartAbsorbed { lines, .. } => !lines.is_empty(),
            _ => false,
        }
    }
}

/// The funnel's first two stages, from the carts' events: one row per cart.
pub struct AnalyticsCarts;

impl Projection for AnalyticsCarts {
    const NAME: &'static str = "analytics_carts";
    const AGGREGATE_TYPE: &'static str = "cart";
    const ID_COLUMN: &'static str = "cart_id";

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        apply_stages::<CartDays>(conn, table, Self::ID_COLUMN, events).await
    }
}

/// The days of a checkout's funnel stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckoutDays {
    pub started: Option<NaiveDate>,
    pub paid: Option<NaiveDate>,
    pub failed: Option<NaiveDate>,
}

impl Stages for CheckoutDays {
    type Event = CheckoutEvent;
    const COLUMNS: &'static [&'static str] = &["started_day", "paid_day", "failed_day"];

    fn from_days(days: &[Option<NaiveDate>]) -> Self {
        CheckoutDays {
            started: days.first().copied().flatten(),
            paid: days.get(1).copied().flatten(),
            failed: days.get(2).copied().flatten(),
        }
    }

    fn days(&self) -> Vec<Option<NaiveDate>> {
        vec![self.started, self.paid, self.failed]
    }

    /// Paid is the payment captured on the happy path (the saga moves on to finishing): a
    /// capture recorded after the saga failed is one the compensation refunds, and is not a
    /// payment.
    fn step(mut self, day: NaiveDate, event: &CheckoutEvent) -> Self {
        let captured = |o: &Outcome| matches!(o, Outcome::PaymentCaptured);
        match event {
            CheckoutEvent::CheckoutStarted { .. } => {
                self.started.get_or_insert(day);
            }
            CheckoutEvent::CheckoutProgressed { outcome, .. }
                if captured(outcome) && self.failed.is_none() =>
            {
                self.paid.get_or_insert(day);
            }
            CheckoutEvent::CheckoutAdvanced { outcomes, .. }
                if outcomes.iter().any(captured) && self.failed.is_none() =>
            {
                self.paid.get_or_insert(day);
            }
            CheckoutEvent::CheckoutFailed { .. } => {
                self.failed.get_or_insert(day);
            }
            _ => {}
        }
        self
    }

    fn moves(event: &CheckoutEvent) -> bool {
        match event {
            CheckoutEvent::CheckoutStarted { .. } | CheckoutEvent::CheckoutFailed { .. } => true,
            CheckoutEvent::CheckoutProgressed { outcome, .. } => {
                matches!(outcome, Outcome::PaymentCaptured)
            }
            CheckoutEvent::CheckoutAdvanced { outcomes, .. } => outcomes
                .iter()
                .any(|o| matches!(o, Outcome::PaymentCaptured)),
            _ => false,
        }
    }
}

/// The funnel's last two stages, from the checkouts' events: one row per checkout.
pub struct AnalyticsCheckouts;

impl Projection for AnalyticsCheckouts {
    const NAME: &'static str = "analytics_checkouts";
    const AGGREGATE_TYPE: &'static str = "checkout";
    const ID_COLUMN: &'static str = "checkout_id";

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        apply_stages::<CheckoutDays>(conn, table, Self::ID_COLUMN, events).await
    }
}

// ---------------------------------------------------------------------------------------------
// Reports: what the back office reads, over a range of days (both inclusive)

/// Sales of one day in one currency.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DaySales {
    pub day: NaiveDate,
    pub currency: String,
    pub orders: i64,
    pub units: i64,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub refunds: i64,
    pub refunded_minor: i64,
}

/// Sales per day and currency; a day without sales or refunds of sales has no row.
pub async fn sales_by_day(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DaySales>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT day, currency, orders, units, subtotal_minor, discount_minor, shipping_minor,
                tax_minor, total_minor, refunds, refunded_minor
         FROM {SALES_DAILY}
         WHERE day BETWEEN $1 AND $2
           AND (orders, units, total_minor, refunds, refunded_minor) <> (0, 0, 0, 0, 0)
         ORDER BY day, currency"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// What lines of one kind (a SKU, a category, a vendor) sold over a range, in one currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct LineFigures {
    pub currency: String,
    /// Orders with such lines.
    pub orders: i64,
    pub units: i64,
    pub gross_minor: i64,
    pub discount_minor: i64,
    /// What the shoppers paid for them: after discounts, with tax.
    pub revenue_minor: i64,
    pub refunded_units: i64,
    pub refunded_minor: i64,
}

/// One SKU's sales over a range, in one currency.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ProductSales {
    pub product_id: String,
    pub sku: String,
    /// The title of its latest sale in the range.
    pub title: String,
    pub vendor_id: Option<String>,
    #[sqlx(flatten)]
    pub figures: LineFigures,
}

const FIGURE_SUMS: &str = "sum(orders)::bigint AS orders, sum(units)::bigint AS units,
    sum(gross_minor)::bigint AS gross_minor, sum(discount_minor)::bigint AS discount_minor,
    sum(revenue_minor)::bigint AS revenue_minor, sum(refunded_units)::bigint AS refunded_units,
    sum(refunded_minor)::bigint AS refunded_minor";

/// Products whose figures over the range cancel out (sold, then cancelled) have no row.
const FIGURES_LEFT: &str = "(sum(orders), sum(units), sum(revenue_minor), sum(refunded_units),
    sum(refunded_minor)) <> (0, 0, 0, 0, 0)";

/// Sales per SKU and currency over the range, best revenue first; only `vendor`'s when given.
pub async fn sales_by_product(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    vendor: Option<&str>,
) -> Result<Vec<ProductSales>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT product_id, sku, (array_agg(title ORDER BY day DESC))[1] AS title,
                max(vendor_id) AS vendor_id, currency, {FIGURE_SUMS}
         FROM {SALES_PRODUCTS}
         WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR vendor_id = $3)
         GROUP BY product_id, sku, currency
         HAVING {FIGURES_LEFT}
         ORDER BY revenue_minor DESC, product_id, sku, currency"
    ))
    .bind(from)
    .bind(to)
    .bind(vendor)
    .fetch_all(pool)
    .await
}

/// One category's or vendor's sales over a range, in one currency; `key` is `None` for lines
/// without a category, or the shop's own lines.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupSales {
    pub key: Option<String>,
    #[sqlx(flatten)]
    pub figures: LineFigures,
}

/// Sales per category and currency over the range, best revenue first.
pub async fn sales_by_category(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<GroupSales>, sqlx::Error> {
    sales_by_group(pool, SALES_CATEGORIES, "category_id", from, to, None).await
}

/// Sales per vendor and currency over the range, best revenue first; only `vendor`'s when
/// given.
pub async fn sales_by_vendor(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    vendor: Option<&str>,
) -> Result<Vec<GroupSales>, sqlx::Error> {
    sales_by_group(pool, SALES_VENDORS, "vendor_id", from, to, vendor).await
}

async fn sales_by_group(
    pool: &PgPool,
    table: &str,
    column: &str,
    from: NaiveDate,
    to: NaiveDate,
    only: Option<&str>,
) -> Result<Vec<GroupSales>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT NULLIF({column}, '') AS key, currency, {FIGURE_SUMS}
         FROM {table}
         WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR {column} = $3)
         GROUP BY {column}, currency
         HAVING {FIGURES_LEFT}
         ORDER BY revenue_minor DESC, {column}, currency"
    ))
    .bind(from)
    .bind(to)
    .bind(only)
    .fetch_all(pool)
    .await
}

/// The funnel's stages on one day, each counted on the day of its own event.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct FunnelDay {
    pub day: NaiveDate,
    pub carts_created: i64,
    pub carts_with_items: i64,
    pub checkouts_started: i64,
    pub paid: i64,
}

/// The funnel per day; a day where no stage moved has no row.
pub async fn funnel(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<FunnelDay>, sqlx::Error> {
    sqlx::query_as(
        "SELECT day,
                count(*) FILTER (WHERE stage = 1) AS carts_created,
                count(*) FILTER (WHERE stage = 2) AS carts_with_items,
                count(*) FILTER (WHERE stage = 3) AS checkouts_started,
                count(*) FILTER (WHERE stage = 4) AS paid
         FROM (
             SELECT created_day AS day, 1 AS stage FROM analytics_carts
              WHERE created_day BETWEEN $1 AND $2
             UNION ALL
             SELECT first_item_day, 2 FROM analytics_carts WHERE first_item_day BETWEEN $1 AND $2
             UNION ALL
             SELECT started_day, 3 FROM analytics_checkouts WHERE started_day BETWEEN $1 AND $2
             UNION ALL
             SELECT paid_day, 4 FROM analytics_checkouts WHERE paid_day BETWEEN $1 AND $2
         ) stages
         GROUP BY day
         ORDER BY day",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Sales over a range in one currency.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct CurrencySales {
    pub currency: String,
    pub orders: i64,
    /// What the shoppers paid for the orders.
    pub total_minor: i64,
    /// Refunds of sales that went through in the range.
    pub refunded_minor: i64,
}

/// Sales per currency over the range.
pub async fn sales_by_currency(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CurrencySales>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT currency, sum(orders)::bigint AS orders, sum(total_minor)::bigint AS total_minor,
                sum(refunded_minor)::bigint AS refunded_minor
         FROM {SALES_DAILY} WHERE day BETWEEN $1 AND $2
         GROUP BY currency
         HAVING (sum(orders), sum(total_minor), sum(refunded_minor)) <> (0, 0, 0)
         ORDER BY currency"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Who bought in a range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Customers {
    /// Customers with a sale in the range.
    pub customers: i64,
    /// Of them, those with at least two sales up to the range's end (two in the range, or one
    /// before it).
    pub repeat_customers: i64,
}

/// The customers of the range and how many of them came back.
pub async fn customers(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Customers, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH active AS (
             SELECT customer_key FROM {CUSTOMER_DAYS} WHERE day BETWEEN $1 AND $2
             GROUP BY customer_key HAVING sum(orders) > 0),
         lifetime AS (
             SELECT a.customer_key, sum(c.orders) AS orders
             FROM active a JOIN {CUSTOMER_DAYS} c USING (customer_key)
             WHERE c.day <= $2 GROUP BY a.customer_key)
         SELECT count(*) AS customers, count(*) FILTER (WHERE orders >= 2) AS repeat_customers
         FROM lifetime"
    ))
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await
}

/// Refunds of one reason in one currency over a range.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ReasonRefunds {
    pub reason: String,
    pub currency: String,
    pub refunds: i64,
    pub amount_minor: i64,
}

/// Every refund of the range by reason and currency, largest amount first.
pub async fn refunds_by_reason(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ReasonRefunds>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT reason, currency, sum(refunds)::bigint AS refunds,
                sum(amount_minor)::bigint AS amount_minor
         FROM {REFUNDS_DAILY} WHERE day BETWEEN $1 AND $2
         GROUP BY reason, currency
         ORDER BY amount_minor DESC, reason, currency"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::{Currency, CustomerId, Money, Principal, Sku};
    use agora_order::{Address, CancelReason, LineUnits, OrderCommand, OrderLine};

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::EUR)
    }

    fn line(
        sku: &str,
        price: i64,
        quantity: i64,
        category: Option<&str>,
        vendor: Option<&str>,
    ) -> OrderLine {
        OrderLine {
            sku: Sku::parse(sku).expect("a SKU"),
            product_id: format!("product-{sku}"),
            title: format!("Tee {sku}"),
            unit_price: eur(price),
            quantity,
            vendor_id: vendor.map(str::to_string),
            category_id: category.map(str::to_string),
        }
    }

    /// The events the order decider records for `commands`, each on its `now`'s day.
    fn decide(commands: &[OrderCommand]) -> Vec<Step> {
        let system = Principal::system("checkout");
        let mut order = Order::default();
        let mut steps = Vec::new();
        for command in commands {
            let events = order.decide("o-1", command, &system).expect("decides");
            for event in events {
                order.evolve(&event);
                let day = match &event {
                    OrderEvent::OrderPlaced { at, .. }
                    | OrderEvent::OrderConfirmed { at }
                    | OrderEvent::OrderCancelled { at, .. }
                    | OrderEvent::OrderRefunded { at, .. } => at.date_naive(),
                    _ => day("2025-01-01"),
                };
                steps.push(Step {
                    sequence: steps.len() as u64 + 1,
                    day,
                    event,
                });
            }
        }
        steps
    }

    fn place(now: &str) -> OrderCommand {
        OrderCommand::Place {
            owner: OrderOwner::Customer {
                customer_id: CustomerId::new_random(),
            },
            cart_id: "c-1".into(),
            lines: vec![
                line("TEE-M", 1500, 2, Some("shirts"), Some("acme")),
                line("MUG", 1000, 1, Some("kitchen"), None),
            ],
            shipping_address: Address {
                name: "Ada".into(),
                line1: "1 Way".into(),
                line2: None,
                city: "London".into(),
                postal_code: "N1".into(),
                region: None,
                country: "GB".into(),
                phone: None,
            },
            email: "Ada@Example.com".into(),
            shipping: eur(500),
            tax_rate_bp: 0,
            tax_rule: None,
            discount: None,
            shipping_option: None,
            vendor_shipping: vec![],
            now: at(now),
        }
    }

    fn paid(now: &str) -> Vec<OrderCommand> {
        vec![
            place(now),
            OrderCommand::MarkStockReserved { now: at(now) },
            OrderCommand::MarkPaymentAuthorized { now: at(now) },
            OrderCommand::Confirm { now: at(now) },
            OrderCommand::RecordCapture {
                amount: eur(4500),
                now: at(now),
            },
        ]
    }

    fn sales(facts: &[Fact]) -> Vec<(NaiveDate, i64, i64)> {
        facts
            .iter()
            .filter_map(|f| match f {
                Fact::Sale { day, sign, sale } => Some((*day, *sign, sale.total)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_confirmed_order_is_one_sale_on_its_confirmation_day() {
        let history = decide(&paid("2025-03-01T10:00:00Z"));
        let (facts, row) = walk("o-1", &history, 1, &ReturnReasons::new());
        assert_eq!(sales(&facts), vec![(day("2025-03-01"), 1, 4500)]);
        let Fact::Sale { sale, .. } = &facts[0] else {
            panic!("a sale: {facts:?}");
        };
        assert_eq!(
            (
                sale.units,
                sale.subtotal,
                sale.shipping,
                sale.tax,
                sale.discount
            ),
            (3, 4000, 500, 0, 0)
        );
        assert_eq!(sale.lines.len(), 2);
        assert_eq!(sale.lines[0].line.vendor_id.as_deref(), Some("acme"));
        assert_eq!(sale.lines[1].line.category_id, "kitchen");
        assert!(row.counted);
        assert_eq!(row.confirmed_day, Some(day("2025-03-01")));
        let placed = row.placed.expect("placed");
        assert_eq!(placed.guest_email, None);
        assert_eq!(placed.total, 4500);
    }

    #[test]
    fn only_the_events_from_the_first_new_one_make_facts() {
        let history = decide(&paid("2025-03-01T10:00:00Z"));
        let confirmed = history
            .iter()
            .position(|s| matches!(s.event, OrderEvent::OrderConfirmed { .. }))
            .expect("confirmed") as u64
            + 1;
        let (after, _) = walk("o-1", &history, confirmed + 1, &ReturnReasons::new());
        assert!(after.is_empty(), "{after:?}");
        let (at_it, _) = walk("o-1", &history, confirmed, &ReturnReasons::new());
        assert_eq!(at_it.len(), 1);
    }

    #[test]
    fn an_order_cancelled_after_its_confirmation_is_taken_out_of_its_sale_day_with_its_refunds() {
        let mut commands = paid("2025-03-01T10:00:00Z");
        commands.push(OrderCommand::RecordRefund {
            refund_id: "goodwill".into(),
            amount: eur(500),
            line: None,
            now: at("2025-03-02T10:00:00Z"),
        });
        commands.push(OrderCommand::Cancel {
            reason: CancelReason::Staff,
            note: None,
            now: at("2025-03-03T10:00:00Z"),
        });
        commands.push(OrderCommand::RecordRefund {
            refund_id: "revert".into(),
            amount: eur(4000),
            line: None,
            now: at("2025-03-04T10:00:00Z"),
        });
        let history = decide(&commands);
        let (facts, row) = walk("o-1", &history, 1, &ReturnReasons::new());
        assert_eq!(
            sales(&facts),
            vec![(day("2025-03-01"), 1, 4500), (day("2025-03-01"), -1, 4500)]
        );
        let sale_refunds: Vec<(NaiveDate, i64, i64)> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::SaleRefund {
                    day, sign, amount, ..
                } => Some((*day, *sign, *amount)),
                _ => None,
            })
            .collect();
        assert_eq!(
            sale_refunds,
            vec![(day("2025-03-02"), 1, 500), (day("2025-03-02"), -1, 500)]
        );
        let reasons: Vec<(&str, i64)> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::Refund { reason, amount, .. } => Some((reason.as_str(), *amount)),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            vec![(REASON_UNSPECIFIED, 500), (REASON_ORDER_CANCELLED, 4000)]
        );
        assert!(!row.counted);
        assert_eq!(row.cancelled_day, Some(day("2025-03-03")));
        assert_eq!(row.refunded, 4500);
    }

    #[test]
    fn an_order_cancelled_before_its_confirmation_never_sells() {
        let history = decide(&[
            place("2025-03-01T10:00:00Z"),
            OrderCommand::Cancel {
                reason: CancelReason::PaymentDeclined,
                note: None,
                now: at("2025-03-01T10:01:00Z"),
            },
        ]);
        let (facts, row) = walk("o-1", &history, 1, &ReturnReasons::new());
        assert!(facts.is_empty(), "{facts:?}");
        assert!(!row.counted);
        assert_eq!(row.confirmed_day, None);
    }

    #[test]
    fn a_returned_line_is_refunded_for_the_reason_given_on_its_return() {
        let return_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let mut history = decide(&paid("2025-03-01T10:00:00Z"));
        let tee = Sku::parse("TEE-M").expect("a SKU");
        let next = |history: &Vec<Step>| history.len() as u64 + 1;
        // The order's side of a return, as the fulfilment runner records it (delivery and
        // parcels left out: the walk does not need them).
        history.push(Step {
            sequence: next(&history),
            day: day("2025-03-05"),
            event: OrderEvent::OrderReturnOpened {
                return_id: return_id.into(),
                lines: vec![LineUnits {
                    sku: tee.clone(),
                    quantity: 1,
                }],
                at: at("2025-03-05T10:00:00Z"),
            },
        });
        for (refund_id, line) in [
            (format!("return-{return_id}-TEE-M"), Some(1)),
            (format!("return-{return_id}-shipping"), None),
            ("staff-1".to_string(), Some(1)),
        ] {
            history.push(Step {
                sequence: next(&history),
                day: day("2025-03-06"),
                event: OrderEvent::OrderRefunded {
                    refund_id,
                    amount: eur(100),
                    total_refunded: eur(100),
                    line: line.map(|quantity| RefundLine {
                        sku: tee.clone(),
                        quantity,
                    }),
                    at: at("2025-03-06T10:00:00Z"),
                },
            });
        }
        let reasons = ReturnReasons::from([(
            return_id.to_string(),
            vec![
                ("MUG".to_string(), ReturnReason::NoLongerNeeded),
                ("TEE-M".to_string(), ReturnReason::SizeOrFit),
                ("CAP".to_string(), ReturnReason::Damaged),
            ],
        )]);
        let (facts, _) = walk("o-1", &history, 1, &reasons);
        let given: Vec<&str> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::Refund { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .collect();
        // The line's own reason; the shipping's first reason that is the shop's fault; a
        // staff refund of returned units, the return's reason for them.
        assert_eq!(given, vec!["size_or_fit", "damaged", "size_or_fit"]);
        // Each counted against the sale, the line ones with their units.
        let units: Vec<Option<i64>> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::SaleRefund { line, .. } => Some(line.as_ref().map(|(_, u)| *u)),
                _ => None,
            })
            .collect();
        assert_eq!(units, vec![Some(1), None, Some(1)]);
    }

    #[test]
    fn a_refund_nothing_explains_is_unspecified() {
        assert_eq!(
            refund_reason(false, "goodwill", None, &[], &ReturnReasons::new()),
            REASON_UNSPECIFIED
        );
        // A refund id shaped like a return's, of a return the order never accepted.
        assert_eq!(
            refund_reason(
                false,
                "return-0f8fad5b-d9cb-469f-a165-70867728950e-shipping",
                None,
                &[],
                &ReturnReasons::new()
            ),
            REASON_UNSPECIFIED
        );
        assert_eq!(
            refund_reason(true, "anything", None, &[], &ReturnReasons::new()),
            REASON_ORDER_CANCELLED
        );
    }

    #[test]
    fn an_order_counts_once_per_category_and_vendor_however_many_lines_fall_in_them() {
        let key = |sku: &str, category: &str, vendor: Option<&str>| LineKey {
            product_id: format!("p-{sku}"),
            sku: sku.into(),
            title: sku.into(),
            category_id: category.into(),
            vendor_id: vendor.map(str::to_string),
        };
        let sold = |line: LineKey, units: i64| LineSale {
            line,
            units,
            gross: units * 100,
            discount: 10,
            revenue: units * 100 - 10,
        };
        let fact = Fact::Sale {
            day: day("2025-03-01"),
            sign: -1,
            sale: Sale {
                currency: "EUR".into(),
                units: 6,
                subtotal: 600,
                discount: 30,
                shipping: 0,
                tax: 0,
                total: 570,
                lines: vec![
                    sold(key("A", "shirts", Some("acme")), 1),
                    sold(key("B", "shirts", Some("acme")), 2),
                    sold(key("C", "", None), 3),
                ],
            },
        };
        let (lines, categories, vendors) = dimension_deltas(&fact).expect("deltas");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].1.orders, -1);
        let shirts = categories["shirts"];
        assert_eq!(
            (shirts.orders, shirts.units, shirts.gross, shirts.revenue),
            (-1, -3, -300, -280)
        );
        assert_eq!(categories[""].orders, -1);
        assert_eq!(vendors["acme"].orders, -1);
        assert_eq!(vendors[""].units, -3);
    }

    #[test]
    fn a_cart_counts_its_creation_and_its_first_item_once() {
        let sku = Sku::parse("TEE-M").expect("a SKU");
        let days = CartDays::default()
            .step(
                day("2025-03-01"),
                &CartEvent::CartCreated {
                    owner: agora_cart::CartOwner::Guest {
                        token_sha256: "ab".into(),
                    },
                },
            )
            .step(
                day("2025-03-02"),
                &CartEvent::ItemAdded {
                    sku: sku.clone(),
                    quantity: 1,
                },
            )
            .step(
                day("2025-03-03"),
                &CartEvent::ItemAdded { sku, quantity: 2 },
            );
        assert_eq!(
            days,
            CartDays {
                created: Some(day("2025-03-01")),
                first_item: Some(day("2025-03-02")),
            }
        );
        // Absorbing an empty guest cart adds nothing.
        let empty = CartEvent::GuestCartAbsorbed {
            source_cart_id: "g".into(),
            lines: vec![],
            code: None,
        };
        assert!(!CartDays::moves(&empty));
        assert_eq!(
            CartDays::default().step(day("2025-03-01"), &empty),
            CartDays::default()
        );
    }

    #[test]
    fn a_checkout_is_paid_by_its_capture_unless_it_failed_first() {
        let started = CheckoutDays {
            started: Some(day("2025-03-01")),
            ..CheckoutDays::default()
        };
        let captured = CheckoutEvent::CheckoutAdvanced {
            outcomes: vec![Outcome::OrderConfirmed, Outcome::PaymentCaptured],
            at: at("2025-03-02T00:00:00Z"),
        };
        assert_eq!(
            started.step(day("2025-03-02"), &captured).paid,
            Some(day("2025-03-02"))
        );
        let failed = started.step(
            day("2025-03-01"),
            &CheckoutEvent::CheckoutFailed {
                reason: CancelReason::Staff,
                detail: "order_cancelled".into(),
                order_cancelled: true,
                at: at("2025-03-01T00:00:00Z"),
            },
        );
        let late = CheckoutEvent::CheckoutProgressed {
            outcome: Outcome::PaymentCaptured,
            at: at("2025-03-02T00:00:00Z"),
        };
        assert_eq!(failed.step(day("2025-03-02"), &late).paid, None);
    }

    #[test]
    fn rates_and_averages_are_integer_and_absent_without_a_denominator() {
        assert_eq!(rate_bp(1, 3), Some(3333));
        assert_eq!(rate_bp(3, 3), Some(10_000));
        assert_eq!(rate_bp(5, 0), None);
        assert_eq!(average_minor(1000, 3), Some(333));
        assert_eq!(average_minor(0, 0), None);
    }

    #[test]
    fn the_day_of_an_event_is_its_recorded_day_else_its_payload_time() {
        let mut event = RecordedEvent {
            aggregate_type: "order".into(),
            aggregate_id: "o-1".into(),
            sequence: 1,
            event_type: "OrderConfirmed".into(),
            event_version: "1".into(),
            payload: serde_json::json!({"OrderConfirmed": {"at": "2025-03-01T23:59:59Z"}}),
            metadata: serde_json::json!({"recorded_at": "2025-03-02T00:00:01Z"}),
        };
        assert_eq!(day_of(&event).expect("a day"), day("2025-03-02"));
        event.metadata = serde_json::json!({});
        assert_eq!(day_of(&event).expect("a day"), day("2025-03-01"));
        event.payload = serde_json::json!({"ItemAdded": {"sku": "A", "quantity": 1}});
        assert!(day_of(&event).is_err());
    }
}

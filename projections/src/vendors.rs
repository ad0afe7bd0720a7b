//! The marketplace's read models: the back office's list of vendors (`vendors`, one row per
//! vendor, from its view) and the vendors' ledger (`vendor_sales`, see [`VendorSales`]).

use std::collections::BTreeMap;

use agora_kernel::{Decider, Money, RecordedEvent};
use agora_order::{Order, OrderEvent, OrderView};
use agora_vendor::{EntryKind, Vendor};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use crate::runtime::companion_table;
use crate::state::fold_stream;
use crate::Projection;

pub struct Vendors;

impl Projection for Vendors {
    const NAME: &'static str = "vendors";
    const AGGREGATE_TYPE: &'static str = "vendor";
    const ID_COLUMN: &'static str = "vendor_id";

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let Some(f) = fold_stream::<Vendor>(conn, events).await? else {
            return Ok(());
        };
        let id = &events[0].aggregate_id;
        let view = f.state.view(id, f.version);
        sqlx::query(&format!(
            "INSERT INTO {table} (vendor_id, status, name, country, contact_email, users, version,
               created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (vendor_id) DO UPDATE SET status = EXCLUDED.status,
               name = EXCLUDED.name, contact_email = EXCLUDED.contact_email,
               users = EXCLUDED.users, version = EXCLUDED.version,
               updated_at = EXCLUDED.updated_at
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(id)
        .bind(view.status.as_str())
        .bind(&view.name)
        .bind(&view.country)
        .bind(&view.contact_email)
        .bind(i32::try_from(view.users.len())?)
        .bind(f.version as i64)
        .bind(f.created_at)
        .bind(f.updated_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// The vendors' ledger's entry table, a companion of `vendor_sales`.
pub const VENDOR_LEDGER: &str = "vendor_ledger";

/// The vendors' ledger, from the orders' events (`vendor_sales` holds each order's last
/// applied sequence; the entries are in its companion table `vendor_ledger`):
///
/// - an order's payment captured is, for each line of a marketplace vendor (a `vendor_id`
///   with a vendor stream), a `sale` of what the shopper paid for the line (after discount,
///   with tax) and a `commission` (negative) by the vendor's rules in force at the order's
///   confirmation, both pending until `return_window` after the capture (an order confirmed
///   whose capture failed, and was cancelled, never sold anything);
/// - a refund of a line's units is a `refund` (negative) of the amount, and an `adjustment`
///   giving back the units' share of the line's commission;
/// - a refund that brings the order's refunds up to what was captured (a cancellation after
///   payment) refunds, the same way, every vendor unit not refunded yet; other refunds of an
///   amount (shipping, goodwill) are the shop's and touch no vendor;
/// - a vendor that shipped its lines at its own rates (the order's `vendor_shipping`) gets,
///   with its sales, a `shipping` entry of what the shopper was charged for them (before
///   promotions, which are the shop's), pending as a sale is; a refund of the whole order (a
///   cancellation after payment) takes it back. A return's shipping refund and a dispute's
///   share of shipping stay the shop's: the vendor did ship the parcels.
///
/// Every entry's id names its order, step and SKU, and it records the event it came from, so
/// a replay writes the same rows and a figure leads back to its event. Payouts are facts of
/// the vendor's own stream ([`Vendor`]): a balance is this ledger minus the vendor's payouts.
pub struct VendorSales {
    pub return_window: Duration,
}

impl Projection for VendorSales {
    const NAME: &'static str = "vendor_sales";
    const AGGREGATE_TYPE: &'static str = "order";
    const ID_COLUMN: &'static str = "order_id";
    const COMPANION_TABLES: &'static [&'static str] = &[VENDOR_LEDGER];

    async fn apply(
        &self,
        conn: &mut PgConnection,
        table: &str,
        events: &[RecordedEvent],
    ) -> anyhow::Result<()> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(());
        };
        let order_id = first.aggregate_id.clone();
        sqlx::query(&format!(
            "INSERT INTO {table} (order_id, version) VALUES ($1, $2)
             ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version
             WHERE {table}.version < EXCLUDED.version"
        ))
        .bind(&order_id)
        .bind(last.sequence as i64)
        .execute(&mut *conn)
        .await?;
        let moves_money = |e: &RecordedEvent| {
            matches!(
                e.event_type.as_str(),
                "OrderPaymentCaptured"
                    | "OrderRefunded"
                    | "OrderDisputeOpened"
                    | "OrderDisputeClosed"
            )
        };
        if !events.iter().any(moves_money) {
            return Ok(());
        }
        let ledger = companion_table(Self::NAME, table, VENDOR_LEDGER);
        // The whole history, for the lines (fixed when placed) and the refunds before.
        let Some(folded) = fold_stream::<Order>(conn, events).await? else {
            return Ok(());
        };
        let view = folded.state.view(&order_id, folded.version);
        let history = history_of(conn, events).await?;
        let mut vendors: BTreeMap<String, Option<Vendor>> = BTreeMap::new();
        for line in &view.lines {
            if let Some(v) = &line.vendor_id {
                if !vendors.contains_key(v) {
                    let vendor = vendor_of(conn, v).await?;
                    vendors.insert(v.clone(), vendor);
                }
            }
        }
        if vendors.values().all(Option::is_none) {
            return Ok(());
        }
        let entries = entries_of(
            &view,
            &history,
            &vendors,
            first.sequence,
            self.return_window,
        )?;
        for e in entries {
            sqlx::query(&format!(
                "INSERT INTO {ledger} (entry_id, vendor_id, kind, amount_minor, currency, at,
                   available_at, order_id, sku, rule_id, source_type, source_id, source_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'order', $8, $11)
                 ON CONFLICT (entry_id) DO NOTHING"
            ))
            .bind(&e.id)
            .bind(&e.vendor_id)
            .bind(kind_name(e.kind))
            .bind(e.amount.amount_minor)
            .bind(e.amount.currency.as_str())
            .bind(e.at)
            .bind(e.available_at)
            .bind(&order_id)
            .bind(&e.sku)
            .bind(&e.rule_id)
            .bind(e.sequence as i64)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// The wire name of an entry kind (`sale`), as serde writes it.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Sale => "sale",
        EntryKind::Shipping => "shipping",
        EntryKind::Commission => "commission",
        EntryKind::Refund => "refund",
        EntryKind::Chargeback => "chargeback",
        EntryKind::Adjustment => "adjustment",
        EntryKind::Payout => "payout",
        EntryKind::PayoutFailed => "payout_failed",
    }
}

/// Every event of the order's stream up to the last of `events`, decoded, with its sequence.
async fn history_of(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> anyhow::Result<Vec<(u64, OrderEvent)>> {
    let Some(first) = events.first() else {
        return Ok(vec![]);
    };
    let earlier: Vec<(i64, serde_json::Value)> = sqlx::query_as(
        "SELECT sequence, payload FROM events
         WHERE aggregate_type = 'order' AND aggregate_id = $1 AND sequence < $2 ORDER BY sequence",
    )
    .bind(&first.aggregate_id)
    .bind(first.sequence as i64)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(earlier.len() + events.len());
    for (sequence, payload) in earlier {
        out.push((sequence as u64, serde_json::from_value(payload)?));
    }
    for e in events {
        out.push((e.sequence, serde::Deserialize::deserialize(&e.payload)?));
    }
    Ok(out)
}

/// The vendor `id` folded from the event store, if it has a stream: the ledger reads the
/// rules from the store, never from a read model that may lag behind.
async fn vendor_of(conn: &mut PgConnection, id: &str) -> anyhow::Result<Option<Vendor>> {
    let payloads: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = 'vendor' AND aggregate_id = $1
         ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    if payloads.is_empty() {
        return Ok(None);
    }
    let mut vendor = Vendor::default();
    for p in payloads {
        vendor.evolve(&serde_json::from_value(p)?);
    }
    Ok(Some(vendor))
}

/// One entry to write.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    id: String,
    vendor_id: String,
    kind: EntryKind,
    amount: Money,
    at: DateTime<Utc>,
    available_at: Option<DateTime<Utc>>,
    sku: Option<String>,
    rule_id: Option<String>,
    sequence: u64,
}

/// The entries of the events at or after sequence `from` in `history`: pure, so a replay and a
/// rebuild give the same entries.
fn entries_of(
    view: &OrderView,
    history: &[(u64, OrderEvent)],
    vendors: &BTreeMap<String, Option<Vendor>>,
    from: u64,
    window: Duration,
) -> anyhow::Result<Vec<Entry>> {
    let order = &view.id;
    let vendor_lines: Vec<(&agora_order::OrderLineView, &str, &Vendor)> = view
        .lines
        .iter()
        .filter_map(|l| {
            let v = l.vendor_id.as_deref()?;
            let vendor = vendors.get(v)?.as_ref()?;
            Some((l, v, vendor))
        })
        .collect();
    // The vendors' own shipping charges, of vendors with a stream (as their sales).
    let vendor_shipping: Vec<&agora_order::VendorShipping> = view
        .vendor_shipping
        .iter()
        .filter(|s| matches!(vendors.get(&s.vendor_id), Some(Some(_))))
        .collect();
    let mut shipping_refunded = false;
    let mut out = Vec::new();
    let mut confirmed_at: Option<DateTime<Utc>> = None;
    let mut refunded_units: BTreeMap<String, i64> = BTreeMap::new();
    let mut captured = 0i64;
    // What refunds and disputes (open or lost) took back of the order, and of each vendor line;
    // and each dispute's charges per line (SKU, charged, commission back), to undo if it is won.
    let mut refunded_total = 0i64;
    let mut disputed_total = 0i64;
    let mut charged_lines: BTreeMap<String, i64> = BTreeMap::new();
    let mut dispute_charges: BTreeMap<String, Vec<(String, i64, i64)>> = BTreeMap::new();
    for (sequence, event) in history {
        let emit = *sequence >= from;
        match event {
            OrderEvent::OrderConfirmed { at } => confirmed_at = Some(*at),
            OrderEvent::OrderPaymentCaptured { amount, at } => {
                let first = captured == 0;
                captured += amount.amount_minor;
                if !emit || !first {
                    continue;
                }
                let sold_at = confirmed_at.unwrap_or(*at);
                for (line, v, vendor) in &vendor_lines {
                    let sku = line.sku.to_string();
                    let category = line.category_id.as_deref();
                    let fee = vendor.commission(category, line.paid, sold_at)?;
                    let rule =
                        agora_vendor::applicable_rule(vendor.commission_rules(), category, sold_at);
                    let available_at = Some(*at + window);
                    out.push(Entry {
                        id: format!("order/{order}/sale/{sku}"),
                        vendor_id: v.to_string(),
                        kind: EntryKind::Sale,
                        amount: line.paid,
                        at: *at,
                        available_at,
                        sku: Some(sku.clone()),
                        rule_id: None,
                        sequence: *sequence,
                    });
                    out.push(Entry {
                        id: format!("order/{order}/commission/{sku}"),
                        vendor_id: v.to_string(),
                        kind: EntryKind::Commission,
                        amount: Money::new(-fee.amount_minor, fee.currency),
                        at: *at,
                        available_at,
                        sku: Some(sku),
                        rule_id: rule.map(|r| r.rule_id.clone()),
                        sequence: *sequence,
                    });
                }
                for charge in &vendor_shipping {
                    out.push(Entry {
                        id: format!("order/{order}/shipping/{}", charge.vendor_id),
                        vendor_id: charge.vendor_id.clone(),
                        kind: EntryKind::Shipping,
                        amount: charge.fee,
                        at: *at,
                        available_at: Some(*at + window),
                        sku: None,
                        rule_id: None,
                        sequence: *sequence,
                    });
                }
            }
            OrderEvent::OrderRefunded {
                refund_id,
                amount,
                total_refunded,
                line,
                at,
            } => {
                refunded_total = total_refunded.amount_minor;
                // Which vendor units this refund gives back, and for how much of each line.
                let mut given: Vec<(&agora_order::OrderLineView, &str, &Vendor, i64, Money)> =
                    Vec::new();
                match line {
                    Some(refund) => {
                        if let Some((l, v, vendor)) =
                            vendor_lines.iter().find(|(l, _, _)| l.sku == refund.sku)
                        {
                            given.push((l, v, vendor, refund.quantity, *amount));
                        }
                    }
                    None if captured > 0 && total_refunded.amount_minor >= captured => {
                        if emit && !shipping_refunded {
                            for charge in &vendor_shipping {
                                out.push(Entry {
                                    id: format!(
                                        "order/{order}/refund/{refund_id}/shipping/{}",
                                        charge.vendor_id
                                    ),
                                    vendor_id: charge.vendor_id.clone(),
                                    kind: EntryKind::Refund,
                                    amount: Money::new(
                                        -charge.fee.amount_minor,
                                        charge.fee.currency,
                                    ),
                                    at: *at,
                                    available_at: None,
                                    sku: None,
                                    rule_id: None,
                                    sequence: *sequence,
                                });
                            }
                        }
                        shipping_refunded = true;
                        for (l, v, vendor) in &vendor_lines {
                            let done = refunded_units.get(l.sku.as_str()).copied().unwrap_or(0);
                            let left = l.quantity - done;
                            if left > 0 {
                                let share =
                                    agora_promotion::prorate(l.paid, l.quantity, done, left)?;
                                given.push((l, v, vendor, left, share));
                            }
                        }
                    }
                    None => {}
                }
                for (l, v, vendor, units, money) in given {
                    let sku = l.sku.to_string();
                    let done = refunded_units.get(&sku).copied().unwrap_or(0);
                    refunded_units.insert(sku.clone(), done + units);
                    *charged_lines.entry(sku.clone()).or_insert(0) += money.amount_minor;
                    if !emit || units < 1 || done + units > l.quantity {
                        continue;
                    }
                    let sold_at = confirmed_at.unwrap_or(*at);
                    let fee = vendor.commission(l.category_id.as_deref(), l.paid, sold_at)?;
                    let back = agora_promotion::prorate(fee, l.quantity, done, units)?;
                    out.push(Entry {
                        id: format!("order/{order}/refund/{refund_id}/{sku}"),
                        vendor_id: v.to_string(),
                        kind: EntryKind::Refund,
                        amount: Money::new(-money.amount_minor, money.currency),
                        at: *at,
                        available_at: None,
                        sku: Some(sku.clone()),
                        rule_id: None,
                        sequence: *sequence,
                    });
                    if back.amount_minor > 0 {
                        out.push(Entry {
                            id: format!("order/{order}/commission-back/{refund_id}/{sku}"),
                            vendor_id: v.to_string(),
                            kind: EntryKind::Adjustment,
                            amount: back,
                            at: *at,
                            available_at: None,
                            sku: Some(sku),
                            rule_id: None,
                            sequence: *sequence,
                        });
                    }
                }
            }
            // A dispute takes its amount back from every vendor line in proportion to what
            // the line still holds (paid, less its refunds and earlier disputes), rounded down;
            // the rest (shipping, rounding) is the shop's. Each line's commission share comes
            // back with it. A dispute won undoes exactly that; a lost one stays charged.
            OrderEvent::OrderDisputeOpened {
                dispute_id,
                amount,
                at,
                ..
            } => {
                let held = captured - refunded_total - disputed_total;
                disputed_total += amount.amount_minor;
                let mut charges = Vec::new();
                for (l, v, vendor) in &vendor_lines {
                    let sku = l.sku.to_string();
                    let line_held =
                        l.paid.amount_minor - charged_lines.get(&sku).copied().unwrap_or(0);
                    if held <= 0 || line_held <= 0 {
                        continue;
                    }
                    let share = portion(amount.amount_minor, line_held, held).min(line_held);
                    if share <= 0 {
                        continue;
                    }
                    *charged_lines.entry(sku.clone()).or_insert(0) += share;
                    let sold_at = confirmed_at.unwrap_or(*at);
                    let fee = vendor.commission(l.category_id.as_deref(), l.paid, sold_at)?;
                    let back = portion(fee.amount_minor, share, l.paid.amount_minor);
                    charges.push((sku.clone(), share, back));
                    if !emit {
                        continue;
                    }
                    out.push(Entry {
                        id: format!("order/{order}/chargeback/{dispute_id}/{sku}"),
                        vendor_id: v.to_string(),
                        kind: EntryKind::Chargeback,
                        amount: Money::new(-share, amount.currency),
                        at: *at,
                        available_at: None,
                        sku: Some(sku.clone()),
                        rule_id: None,
                        sequence: *sequence,
                    });
                    if back > 0 {
                        out.push(Entry {
                            id: format!("order/{order}/chargeback-commission/{dispute_id}/{sku}"),
                            vendor_id: v.to_string(),
                            kind: EntryKind::Adjustment,
                            amount: Money::new(back, amount.currency),
                            at: *at,
                            available_at: None,
                            sku: Some(sku),
                            rule_id: None,
                            sequence: *sequence,
                        });
                    }
                }
                dispute_charges.insert(dispute_id.clone(), charges);
            }
            OrderEvent::OrderDisputeClosed {
                dispute_id,
                outcome: agora_order::DisputeOutcome::Won,
                amount,
                at,
            } => {
                disputed_total -= amount.amount_minor;
                for (sku, share, back) in dispute_charges.remove(dispute_id).unwrap_or_default() {
                    *charged_lines.entry(sku.clone()).or_insert(0) -= share;
                    let Some((_, v, _)) =
                        vendor_lines.iter().find(|(l, _, _)| l.sku.as_str() == sku)
                    else {
                        continue;
                    };
                    if !emit {
                        continue;
                    }
                    out.push(Entry {
                        id: format!("order/{order}/dispute-won/{dispute_id}/{sku}"),
                        vendor_id: v.to_string(),
                        kind: EntryKind::Adjustment,
                        amount: Money::new(share, amount.currency),
                        at: *at,
                        available_at: None,
                        sku: Some(sku.clone()),
                        rule_id: None,
                        sequence: *sequence,
                    });
                    if back > 0 {
                        out.push(Entry {
                            id: format!("order/{order}/dispute-won-commission/{dispute_id}/{sku}"),
                            vendor_id: v.to_string(),
                            kind: EntryKind::Commission,
                            amount: Money::new(-back, amount.currency),
                            at: *at,
                            available_at: None,
                            sku: Some(sku),
                            rule_id: None,
                            sequence: *sequence,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `total × part / whole`, rounded down (`whole` > 0, all amounts within `i64`).
fn portion(total: i64, part: i64, whole: i64) -> i64 {
    let exact = i128::from(total) * i128::from(part) / i128::from(whole);
    i64::try_from(exact).unwrap_or(i64::MAX)
}

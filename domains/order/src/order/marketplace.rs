//! Marketplace sub-orders and what a vendor may see and do. One checkout and one payment
//! for the shopper; each seller of the order's lines (a vendor, or the shop for lines
//! without one) gets a sub-order of its lines, whose status follows its own units.
//!
//! A vendor's user (`Principal::Vendor`) reaches an order only when the vendor sells at
//! least one of its lines (otherwise the order does not exist for it: `order.not_found`).
//! It then sees [`Order::vendor_view`], its share and nothing more, and may only pack and
//! unpack its own lines ([`Order::vendor_may`]). Both are enforced here, in the aggregate,
//! so no host or edge can forget them.

use std::collections::BTreeSet;

use agora_kernel::{Decider, Money, Sku};
use serde::{Deserialize, Serialize};

use super::{Cancellation, Order, OrderLineView, OrderView, TimelineEntry};
use crate::{OrderCommand, OrderError, OrderLine, OrderShippingOption, OrderStatus};

/// The part of an order one seller fulfils: the lines of one vendor, or the shop's own lines
/// (`vendor_id` absent). Sums are over its lines, in the order's currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubOrderView {
    /// The vendor who sells these lines; absent for the shop's own sub-order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// The order's status until it is confirmed, and when it is cancelled or refunded as a
    /// whole; from `confirmed` on it follows this sub-order's units by the order's own rule
    /// (`confirmed → partially_shipped → shipped → delivered`), and is `refunded` once line
    /// refunds gave back every one of its units.
    pub status: OrderStatus,
    /// Its lines' SKUs, in the order's line order.
    pub skus: Vec<Sku>,
    /// Its lines' totals before discounts.
    pub subtotal: Money,
    /// What promotions took off its lines.
    pub discount: Money,
    /// What the shopper paid for its lines: after discounts, with their tax when prices
    /// exclude it (the sum of the lines' `paid`). Shipping is never in here.
    pub paid: Money,
    /// What its vendor charged for shipping it at the vendor's own rates (credited to the
    /// vendor); zero when it ships at the shop's rates, whose charge is the order's
    /// `shipping` less the vendors' own.
    pub shipping: Money,
    /// How it ships: its vendor's own option, else the option chosen at the shop's rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_option: Option<OrderShippingOption>,
    /// Units ordered, then units in parcels (packing or sent), sent, delivered, in accepted
    /// returns, and given back by line refunds.
    pub units: i64,
    pub allocated_units: i64,
    pub shipped_units: i64,
    pub delivered_units: i64,
    pub returned_units: i64,
    pub refunded_units: i64,
}

fn sells(line_vendor: Option<&str>, vendor: &str) -> bool {
    line_vendor == Some(vendor)
}

impl Order {
    /// The order's sub-orders, one per seller in order of its first line; `views` are the
    /// order's line views, in line order.
    pub(super) fn sub_order_views(&self, views: &[OrderLineView]) -> Vec<SubOrderView> {
        let Some(placed) = &self.placement else {
            return vec![];
        };
        let currency = placed.totals.currency;
        let mut sellers: Vec<Option<&str>> = vec![];
        for line in &placed.lines {
            let seller = line.vendor_id.as_deref();
            if !sellers.contains(&seller) {
                sellers.push(seller);
            }
        }
        sellers
            .into_iter()
            .map(|seller| {
                let lines: Vec<OrderLine> = placed
                    .lines
                    .iter()
                    .filter(|l| l.vendor_id.as_deref() == seller)
                    .cloned()
                    .collect();
                let views: Vec<&OrderLineView> = views
                    .iter()
                    .filter(|v| v.vendor_id.as_deref() == seller)
                    .collect();
                // Amounts and counts are bounded by validation, so saturation never happens.
                let money = |of: fn(&OrderLineView) -> Money| {
                    let sum = views
                        .iter()
                        .fold(0i64, |sum, v| sum.saturating_add(of(v).amount_minor));
                    Money::new(sum, currency)
                };
                let count = |of: fn(&OrderLineView) -> i64| {
                    views.iter().fold(0i64, |sum, v| sum.saturating_add(of(v)))
                };
                let own_shipping =
                    seller.and_then(|v| placed.vendor_shipping.iter().find(|s| s.vendor_id == v));
                SubOrderView {
                    vendor_id: seller.map(str::to_string),
                    status: self.sub_order_status(&lines),
                    skus: lines.iter().map(|l| l.sku.clone()).collect(),
                    subtotal: money(|v| v.line_total),
                    discount: money(|v| v.discount),
                    paid: money(|v| v.paid),
                    shipping: own_shipping.map_or(Money::zero(currency), |s| s.fee),
                    shipping_option: match own_shipping {
                        Some(s) => Some(s.option.clone()),
                        None => placed.shipping_option.clone(),
                    },
                    units: count(|v| v.quantity),
                    allocated_units: count(|v| v.allocated_units),
                    shipped_units: count(|v| v.shipped_units),
                    delivered_units: count(|v| v.delivered_units),
                    returned_units: count(|v| v.returned_units),
                    refunded_units: count(|v| v.refunded_units),
                }
            })
            .collect()
    }

    /// The status of the sub-order of `lines` (see [`SubOrderView::status`]): the rule the
    /// order's status follows ([`Order::fulfilment_status`]), applied to these lines only.
    /// The order itself turns `refunded` when its whole capture was refunded; a sub-order,
    /// which has no capture of its own, when every one of its units was refunded.
    fn sub_order_status(&self, lines: &[OrderLine]) -> OrderStatus {
        let status = self.fulfilment_status(lines);
        let on_its_way = matches!(
            status,
            OrderStatus::Confirmed
                | OrderStatus::PartiallyShipped
                | OrderStatus::Shipped
                | OrderStatus::Delivered
        );
        let all_refunded = lines
            .iter()
            .all(|l| self.refunded_units.get(&l.sku).copied().unwrap_or(0) >= l.quantity);
        if on_its_way && all_refunded {
            OrderStatus::Refunded
        } else {
            status
        }
    }

    /// Whether a user of `vendor` may send `command` (its access already allows the kind):
    /// a parcel of its own lines only. Every SKU of an `AllocateParcel` must be one of its
    /// lines, and its shipment id new or a parcel of its own (a retry); a `ReleaseParcel`
    /// must name a parcel all of whose units are its own. Anything else, including a SKU or
    /// parcel the order does not have, is `order.forbidden`, so a vendor cannot probe the
    /// lines and parcels of the others.
    pub(super) fn vendor_may(
        &self,
        vendor: &str,
        command: &OrderCommand,
    ) -> Result<(), OrderError> {
        let own_line = |sku: &Sku| {
            self.lines()
                .iter()
                .any(|l| &l.sku == sku && sells(l.vendor_id.as_deref(), vendor))
        };
        let own_parcel = |shipment_id: &str| {
            self.parcels
                .get(shipment_id)
                .is_some_and(|p| p.lines.iter().all(|u| own_line(&u.sku)))
        };
        let may = match command {
            OrderCommand::AllocateParcel {
                shipment_id, lines, ..
            } => {
                lines.iter().all(|u| own_line(&u.sku))
                    && (own_parcel(shipment_id) || !self.parcels.contains_key(shipment_id))
            }
            OrderCommand::ReleaseParcel { shipment_id, .. } => own_parcel(shipment_id),
            // Default deny: a command added later is not a vendor's until it says so here.
            _ => false,
        };
        if may {
            Ok(())
        } else {
            Err(OrderError::Forbidden)
        }
    }

    /// What a user of `vendor` sees of the order: its lines and its sub-order; the parcels
    /// all of whose units are its lines; the returns narrowed to its lines (those with none
    /// left out); of the shopper only the shipping address (and the shipping option chosen):
    /// no email, customer id, cart id or promotions, and no whole-order shipment. Its money:
    /// `subtotal` and `discount` are its sub-order's, `total` what the shopper paid for its
    /// lines, `tax` its lines' share of the order's tax as the order was taxed (per line, or
    /// the running shares of a per-order rounding; inside `total` when prices include tax);
    /// `shipping` and `shipping_option` are its own when it ships at its own rates (and then
    /// `vendor_shipping` holds its charge only), else zero and the shop's rates' option;
    /// captured and refunded are the shop's and show as zero. The timeline and a
    /// cancellation keep their entries but lose their free-text notes, which carry the order's
    /// amounts, other parcels' tracking numbers and what the shopper wrote.
    ///
    /// Built field by field from the full view, so that a field added to [`OrderView`] must be
    /// decided on here before it compiles.
    pub(super) fn vendor_view(&self, id: &str, version: u64, vendor: &str) -> OrderView {
        let OrderView {
            id,
            version,
            status,
            owner_kind,
            customer_id: _,
            cart_id: _,
            email: _,
            shipping_address,
            lines,
            sub_orders,
            currency,
            subtotal: _,
            discount: _,
            shipping: _,
            shipping_discount: _,
            promotions: _,
            tax_rate_bp,
            tax_rule,
            tax: _,
            total: _,
            captured: _,
            refunded: _,
            shipping_option: _,
            vendor_shipping,
            shipment: _,
            parcels,
            returns,
            cancellation,
            disputes: _,
            placed_at,
            updated_at,
            timeline,
        } = self.view(id, version);
        let zero = Money::zero(currency);
        let own: BTreeSet<&Sku> = self
            .lines()
            .iter()
            .filter(|l| sells(l.vendor_id.as_deref(), vendor))
            .map(|l| &l.sku)
            .collect();
        let tax = self
            .lines_taxed()
            .unwrap_or_default()
            .iter()
            .zip(self.lines())
            .filter(|(_, l)| sells(l.vendor_id.as_deref(), vendor))
            .fold(0i64, |sum, (taxed, _)| {
                sum.saturating_add(taxed.tax.amount_minor)
            });
        let sub_order = sub_orders
            .into_iter()
            .find(|s| sells(s.vendor_id.as_deref(), vendor));
        let of_sub_order =
            |field: fn(&SubOrderView) -> Money| sub_order.as_ref().map_or(zero, field);
        OrderView {
            id,
            version,
            status,
            owner_kind,
            customer_id: None,
            cart_id: String::new(),
            email: String::new(),
            shipping_address,
            lines: lines
                .into_iter()
                .filter(|l| sells(l.vendor_id.as_deref(), vendor))
                .collect(),
            currency,
            subtotal: of_sub_order(|s| s.subtotal),
            discount: of_sub_order(|s| s.discount),
            shipping: of_sub_order(|s| s.shipping),
            shipping_discount: zero,
            promotions: vec![],
            tax_rate_bp,
            tax_rule,
            tax: Money::new(tax, currency),
            total: of_sub_order(|s| s.paid),
            captured: zero,
            refunded: zero,
            shipping_option: sub_order.as_ref().and_then(|s| s.shipping_option.clone()),
            vendor_shipping: vendor_shipping
                .into_iter()
                .filter(|s| s.vendor_id == vendor)
                .collect(),
            shipment: None,
            parcels: parcels
                .into_iter()
                .filter(|p| p.lines.iter().all(|u| own.contains(&u.sku)))
                .collect(),
            returns: returns
                .into_iter()
                .filter_map(|mut r| {
                    r.lines.retain(|u| own.contains(&u.sku));
                    (!r.lines.is_empty()).then_some(r)
                })
                .collect(),
            cancellation: cancellation.map(|c| Cancellation { note: None, ..c }),
            // The payment's disputes are the shop's; the vendor's ledger shows its share.
            disputes: vec![],
            placed_at,
            updated_at,
            timeline: timeline
                .into_iter()
                .map(|e| TimelineEntry { note: None, ..e })
                .collect(),
            sub_orders: sub_order.into_iter().collect(),
        }
    }
}

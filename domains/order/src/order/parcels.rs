//! Parcels and returns: which units of the order left in which parcel, where each parcel is,
//! and which delivered units are being returned. The order owns these counts so that no unit
//! is packed twice and none is returned twice, whatever the shipments and returns do.
//! The parcels also give the order its status from `confirmed` on, and each sub-order its
//! own, by one rule ([`Order::fulfilment_status`]). A parcel may hold the lines of several
//! sellers when staff pack it; a vendor packs only its own (see the `marketplace` module).

use std::collections::BTreeSet;

use agora_kernel::Sku;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::MAX_TRACKING_CHARS;
use super::{present, Order, MAX_CARRIER_CHARS, MAX_ID_CHARS, MAX_LINES, MAX_QUANTITY};
use crate::{LineUnits, OrderError, OrderEvent, OrderLine, OrderStatus, ParcelStatus};

/// The longest tracking link a parcel keeps.
pub const MAX_TRACKING_URL_CHARS: usize = 500;

/// The longest return window an order accepts, in days.
pub const MAX_RETURN_WINDOW_DAYS: u32 = 3650;

/// One parcel of the order, folded from its `OrderParcel*` events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Parcel {
    pub lines: Vec<LineUnits>,
    pub status: ParcelStatus,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub allocated_at: DateTime<Utc>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Cancelled while being packed: its units count for nothing.
    pub released: bool,
}

/// A parcel as the shopper and the back office see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParcelView {
    pub shipment_id: String,
    pub lines: Vec<LineUnits>,
    pub status: ParcelStatus,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub allocated_at: DateTime<Utc>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A return the order accepted (and that was not rejected or withdrawn).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReturn {
    pub return_id: String,
    pub lines: Vec<LineUnits>,
    pub opened_at: DateTime<Utc>,
}

/// How far along a parcel's way a status is; `Exception` stands apart (see `moves_on`).
fn rank(status: ParcelStatus) -> u8 {
    match status {
        ParcelStatus::Packing => 0,
        ParcelStatus::Shipped | ParcelStatus::Exception => 1,
        ParcelStatus::InTransit => 2,
        ParcelStatus::OutForDelivery => 3,
        ParcelStatus::Delivered => 4,
    }
}

/// Whether a parcel at `from` may be recorded at `to`: never back, nothing after delivery, an
/// exception from anywhere on the way, and on from an exception (the carrier tried again).
fn moves_on(from: ParcelStatus, to: ParcelStatus) -> bool {
    match (from, to) {
        (ParcelStatus::Delivered, _) => false,
        (_, ParcelStatus::Packing) => false,
        (a, b) if a == b => false,
        (ParcelStatus::Packing, ParcelStatus::Exception) => false,
        (_, ParcelStatus::Exception) => true,
        (ParcelStatus::Exception, _) => true,
        (a, b) => rank(b) > rank(a),
    }
}

/// Lines of 1..=MAX_LINES distinct SKUs of the order, each of 1..=MAX_QUANTITY units, in SKU
/// order (so that a retry listing them differently is the same request).
fn check_units(order: &Order, id: &str, lines: &[LineUnits]) -> Result<Vec<LineUnits>, OrderError> {
    if !present(id, MAX_ID_CHARS) || lines.is_empty() || lines.len() > MAX_LINES {
        return Err(OrderError::InvalidUnits);
    }
    let mut seen = BTreeSet::new();
    for line in lines {
        if !(1..=MAX_QUANTITY).contains(&line.quantity) || !seen.insert(line.sku.clone()) {
            return Err(OrderError::InvalidUnits);
        }
        if !order.lines().iter().any(|l| l.sku == line.sku) {
            return Err(OrderError::UnknownLine);
        }
    }
    let mut sorted = lines.to_vec();
    sorted.sort();
    Ok(sorted)
}

fn bounded(text: &Option<String>, max: usize) -> bool {
    text.as_deref().is_none_or(|t| present(t, max))
}

impl Order {
    fn live_parcels(&self) -> impl Iterator<Item = &Parcel> {
        self.parcels.values().filter(|p| !p.released)
    }

    /// Units of `sku` in parcels that were not cancelled.
    fn allocated(&self, sku: &Sku) -> i64 {
        self.units_in(sku, |_| true)
    }

    fn units_in(&self, sku: &Sku, which: impl Fn(&Parcel) -> bool) -> i64 {
        self.live_parcels()
            .filter(|p| which(p))
            .flat_map(|p| p.lines.iter())
            .filter(|l| &l.sku == sku)
            .map(|l| l.quantity)
            .sum()
    }

    /// Units of `sku` that reached the shopper, and when the last of them did. An order
    /// shipped the old way (one shipment for everything) counts all its units.
    fn delivered(&self, sku: &Sku) -> (i64, Option<DateTime<Utc>>) {
        if let Some(delivered_at) = self.shipment.as_ref().and_then(|s| s.delivered_at) {
            let quantity = self
                .lines()
                .iter()
                .find(|l| &l.sku == sku)
                .map_or(0, |l| l.quantity);
            return (quantity, Some(delivered_at));
        }
        let delivered = |p: &Parcel| p.status == ParcelStatus::Delivered;
        let last = self
            .live_parcels()
            .filter(|p| delivered(p) && p.lines.iter().any(|l| &l.sku == sku))
            .filter_map(|p| p.delivered_at)
            .max();
        (self.units_in(sku, delivered), last)
    }

    /// Units of `sku` in accepted returns.
    fn returning(&self, sku: &Sku) -> i64 {
        self.returns
            .values()
            .flat_map(|r| r.lines.iter())
            .filter(|l| &l.sku == sku)
            .map(|l| l.quantity)
            .sum()
    }

    /// Whether any parcel of the order was packed and not cancelled.
    pub(super) fn has_parcels(&self) -> bool {
        self.live_parcels().next().is_some()
    }

    /// The status the parcels give `lines`, from `Confirmed` on: `Delivered` once every unit
    /// of them was delivered, `Shipped` once every unit left, `PartiallyShipped` once some did.
    /// Before that, or off that path (cancelled, refunded), and for an order shipped the old
    /// way, it is the order's status. One rule for the whole order (all its lines, which is
    /// how its status is recorded) and for each sub-order (the lines of one seller: see
    /// `Order::sub_order_views`).
    pub(super) fn fulfilment_status(&self, lines: &[OrderLine]) -> OrderStatus {
        if !matches!(
            self.status,
            OrderStatus::Confirmed
                | OrderStatus::PartiallyShipped
                | OrderStatus::Shipped
                | OrderStatus::Delivered
        ) || self.shipment.is_some()
        {
            return self.status;
        }
        let units: i64 = lines.iter().map(|l| l.quantity).sum();
        // Every parcel line is a line of the order, so for all its lines this counts every
        // unit in the parcels.
        let count = |which: fn(&Parcel) -> bool| -> i64 {
            self.live_parcels()
                .filter(|p| which(p))
                .flat_map(|p| p.lines.iter())
                .filter(|u| lines.iter().any(|l| l.sku == u.sku))
                .map(|u| u.quantity)
                .sum()
        };
        let dispatched = count(|p| p.status.dispatched());
        let delivered = count(|p| p.status == ParcelStatus::Delivered);
        if delivered >= units {
            OrderStatus::Delivered
        } else if dispatched >= units {
            OrderStatus::Shipped
        } else if dispatched > 0 {
            OrderStatus::PartiallyShipped
        } else {
            OrderStatus::Confirmed
        }
    }

    pub(super) fn allocate_parcel(
        &self,
        total_minor: i64,
        shipment_id: &str,
        lines: &[LineUnits],
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        let lines = check_units(self, shipment_id, lines)?;
        if let Some(parcel) = self.parcels.get(shipment_id) {
            return if parcel.lines == lines && !parcel.released {
                Ok(vec![])
            } else {
                Err(OrderError::InvalidTransition)
            };
        }
        // An order shipped the old way, as one shipment, has no parcels.
        if self.shipment.is_some() {
            return Err(OrderError::InvalidTransition);
        }
        match self.status {
            OrderStatus::Confirmed | OrderStatus::PartiallyShipped => {}
            OrderStatus::Shipped | OrderStatus::Delivered => {
                return Err(OrderError::ExceedsUnshipped)
            }
            _ => return Err(OrderError::InvalidTransition),
        }
        if self.captured != total_minor {
            return Err(OrderError::NotPaid);
        }
        for line in &lines {
            let ordered = self
                .lines()
                .iter()
                .find(|l| l.sku == line.sku)
                .map_or(0, |l| l.quantity);
            if self.allocated(&line.sku) + line.quantity > ordered {
                return Err(OrderError::ExceedsUnshipped);
            }
        }
        Ok(vec![OrderEvent::OrderParcelAllocated {
            shipment_id: shipment_id.to_string(),
            lines,
            at: now,
        }])
    }

    pub(super) fn release_parcel(
        &self,
        shipment_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        let parcel = self
            .parcels
            .get(shipment_id)
            .ok_or(OrderError::UnknownParcel)?;
        if parcel.released {
            return Ok(vec![]);
        }
        if parcel.status != ParcelStatus::Packing {
            return Err(OrderError::InvalidTransition);
        }
        Ok(vec![OrderEvent::OrderParcelReleased {
            shipment_id: shipment_id.to_string(),
            at: now,
        }])
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn update_parcel(
        &self,
        shipment_id: &str,
        status: ParcelStatus,
        carrier: &Option<String>,
        tracking_number: &Option<String>,
        tracking_url: &Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if !bounded(carrier, MAX_CARRIER_CHARS)
            || !bounded(tracking_number, MAX_TRACKING_CHARS)
            || !bounded(tracking_url, MAX_TRACKING_URL_CHARS)
        {
            return Err(OrderError::InvalidShipment);
        }
        let parcel = self
            .parcels
            .get(shipment_id)
            .ok_or(OrderError::UnknownParcel)?;
        if parcel.released {
            return Err(OrderError::InvalidTransition);
        }
        if !moves_on(parcel.status, status) {
            // A repeat, or a scan that arrived after a later one: the parcel stays where it is.
            return Ok(vec![]);
        }
        let carrier = carrier
            .as_deref()
            .map(str::trim)
            .map(str::to_string)
            .or_else(|| parcel.carrier.clone());
        let tracking_number = tracking_number
            .as_deref()
            .map(str::trim)
            .map(str::to_string)
            .or_else(|| parcel.tracking_number.clone());
        if status.dispatched() && (carrier.is_none() || tracking_number.is_none()) {
            return Err(OrderError::InvalidShipment);
        }
        let tracking_url = tracking_url.clone().or_else(|| parcel.tracking_url.clone());
        let mut event = OrderEvent::OrderParcelUpdated {
            shipment_id: shipment_id.to_string(),
            status,
            carrier,
            tracking_number,
            tracking_url,
            order_status: self.status,
            at: now,
        };
        let mut next = self.clone();
        next.evolve_fulfilment(&event);
        if let OrderEvent::OrderParcelUpdated { order_status, .. } = &mut event {
            *order_status = next.status;
        }
        Ok(vec![event])
    }

    pub(super) fn open_return(
        &self,
        return_id: &str,
        lines: &[LineUnits],
        window_days: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        let lines = check_units(self, return_id, lines)?;
        if window_days > MAX_RETURN_WINDOW_DAYS {
            return Err(OrderError::InvalidUnits);
        }
        if let Some(open) = self.returns.get(return_id) {
            return if open.lines == lines {
                Ok(vec![])
            } else {
                Err(OrderError::InvalidTransition)
            };
        }
        for line in &lines {
            let (delivered, last) = self.delivered(&line.sku);
            let Some(last) = last.filter(|_| delivered > 0) else {
                return Err(OrderError::NotDelivered);
            };
            if now > last + Duration::days(i64::from(window_days)) {
                return Err(OrderError::ReturnWindowClosed);
            }
            // Units already given back, by a return or by a refund of the line, are not
            // returned again.
            let refunded = self.refunded_units.get(&line.sku).copied().unwrap_or(0);
            let gone = self.returning(&line.sku).max(refunded);
            if line.quantity > delivered - gone {
                return Err(OrderError::ExceedsReturnable);
            }
        }
        Ok(vec![OrderEvent::OrderReturnOpened {
            return_id: return_id.to_string(),
            lines,
            at: now,
        }])
    }

    pub(super) fn release_return(
        &self,
        return_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if !present(return_id, MAX_ID_CHARS) {
            return Err(OrderError::InvalidUnits);
        }
        if !self.returns.contains_key(return_id) {
            return Ok(vec![]);
        }
        Ok(vec![OrderEvent::OrderReturnReleased {
            return_id: return_id.to_string(),
            at: now,
        }])
    }

    /// Folds the parcel and return events; `evolve` calls it.
    pub(super) fn evolve_fulfilment(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::OrderParcelAllocated {
                shipment_id,
                lines,
                at,
            } => {
                self.parcels.insert(
                    shipment_id.clone(),
                    Parcel {
                        lines: lines.clone(),
                        status: ParcelStatus::Packing,
                        carrier: None,
                        tracking_number: None,
                        tracking_url: None,
                        allocated_at: *at,
                        shipped_at: None,
                        delivered_at: None,
                        released: false,
                    },
                );
                let units: i64 = lines.iter().map(|l| l.quantity).sum();
                self.record(*at, "parcel_packing", Some(format!("{units} units")));
            }
            OrderEvent::OrderParcelReleased { shipment_id, at } => {
                if let Some(parcel) = self.parcels.get_mut(shipment_id) {
                    parcel.released = true;
                }
                self.record(*at, "parcel_cancelled", None);
            }
            OrderEvent::OrderParcelUpdated {
                shipment_id,
                status,
                carrier,
                tracking_number,
                tracking_url,
                at,
                ..
            } => {
                if let Some(parcel) = self.parcels.get_mut(shipment_id) {
                    parcel.status = *status;
                    parcel.carrier.clone_from(carrier);
                    parcel.tracking_number.clone_from(tracking_number);
                    parcel.tracking_url.clone_from(tracking_url);
                    if status.dispatched() && parcel.shipped_at.is_none() {
                        parcel.shipped_at = Some(*at);
                    }
                    if *status == ParcelStatus::Delivered {
                        parcel.delivered_at = Some(*at);
                    }
                }
                self.status = self.fulfilment_status(self.lines());
                let note = match (carrier, tracking_number) {
                    (Some(c), Some(t)) => Some(format!("{c} {t}")),
                    _ => None,
                };
                self.record(*at, &format!("parcel_{}", status.as_str()), note);
            }
            OrderEvent::OrderReturnOpened {
                return_id,
                lines,
                at,
            } => {
                self.returns.insert(
                    return_id.clone(),
                    OrderReturn {
                        return_id: return_id.clone(),
                        lines: lines.clone(),
                        opened_at: *at,
                    },
                );
                let units: i64 = lines.iter().map(|l| l.quantity).sum();
                self.record(*at, "return_opened", Some(format!("{units} units")));
            }
            OrderEvent::OrderReturnReleased { return_id, at } => {
                self.returns.remove(return_id);
                self.record(*at, "return_closed_without_refund", None);
            }
            _ => {}
        }
    }

    pub(super) fn parcel_views(&self) -> Vec<ParcelView> {
        let mut views: Vec<ParcelView> = self
            .parcels
            .iter()
            .filter(|(_, p)| !p.released)
            .map(|(id, p)| ParcelView {
                shipment_id: id.clone(),
                lines: p.lines.clone(),
                status: p.status,
                carrier: p.carrier.clone(),
                tracking_number: p.tracking_number.clone(),
                tracking_url: p.tracking_url.clone(),
                allocated_at: p.allocated_at,
                shipped_at: p.shipped_at,
                delivered_at: p.delivered_at,
            })
            .collect();
        views.sort_by(|a, b| {
            (a.allocated_at, &a.shipment_id).cmp(&(b.allocated_at, &b.shipment_id))
        });
        views
    }

    pub(super) fn return_views(&self) -> Vec<OrderReturn> {
        let mut views: Vec<OrderReturn> = self.returns.values().cloned().collect();
        views.sort_by(|a, b| (a.opened_at, &a.return_id).cmp(&(b.opened_at, &b.return_id)));
        views
    }

    /// Per SKU: units packed (in parcels not cancelled), shipped, delivered and being returned.
    pub(super) fn unit_counts(&self, sku: &Sku) -> (i64, i64, i64, i64) {
        (
            self.allocated(sku),
            self.units_in(sku, |p| p.status.dispatched()),
            self.delivered(sku).0,
            self.returning(sku),
        )
    }
}

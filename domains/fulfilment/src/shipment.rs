use std::collections::HashSet;

use agora_kernel::{Address, Decider, Principal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ShipmentCommand, ShipmentError, ShipmentEvent, ShipmentLine, TrackingStatus};

/// Most lines in one parcel.
pub const MAX_LINES: usize = 200;
/// Most units of one SKU in one parcel.
pub const MAX_QUANTITY: i64 = 10_000;
/// Longest line title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest order id.
pub const MAX_ORDER_ID_CHARS: usize = 64;
/// Longest vendor id (as long as the catalog's).
pub const MAX_VENDOR_ID_CHARS: usize = 64;
/// Longest address field (name, street lines, city, postal code, region), as for orders.
pub const MAX_ADDRESS_FIELD_CHARS: usize = Address::MAX_FIELD_CHARS;
/// Longest phone number in an address, as for orders.
pub const MAX_PHONE_CHARS: usize = Address::MAX_PHONE_CHARS;
/// Longest carrier name.
pub const MAX_CARRIER_CHARS: usize = 64;
/// Longest tracking number.
pub const MAX_TRACKING_NUMBER_CHARS: usize = 64;
/// Longest tracking URL.
pub const MAX_TRACKING_URL_CHARS: usize = 500;
/// Longest carrier event id of a tracking scan.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Longest tracking description or location.
pub const MAX_TEXT_CHARS: usize = 500;

/// Back-office roles that create, hand over and cancel shipments (the warehouse's work).
pub const OPERATORS: &[&str] = &["admin", "staff"];
/// Back-office roles that may record tracking by hand. Tracking normally comes from the
/// carrier's webhook, which runs as the platform; an admin may repair it.
pub const TRACKERS: &[&str] = &["admin"];
/// Back-office roles that may read shipments.
pub const READERS: &[&str] = &["admin", "staff", "auditor"];

/// Where a parcel is. `Packing` until a carrier takes it (`Shipped`); afterwards the carrier's
/// scans set it (`InTransit`, `OutForDelivery`, `Delivered`, `Exception`). `Cancelled` only
/// from `Packing`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// No `ShipmentCreated` yet: the stream is empty.
    #[default]
    New,
    Packing,
    /// Handed to the carrier; no scan recorded yet.
    Shipped,
    InTransit,
    OutForDelivery,
    Delivered,
    /// The carrier reported a problem; later scans may still move the parcel on.
    Exception,
    Cancelled,
}

impl ShipmentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ShipmentStatus::New => "new",
            ShipmentStatus::Packing => "packing",
            ShipmentStatus::Shipped => "shipped",
            ShipmentStatus::InTransit => "in_transit",
            ShipmentStatus::OutForDelivery => "out_for_delivery",
            ShipmentStatus::Delivered => "delivered",
            ShipmentStatus::Exception => "exception",
            ShipmentStatus::Cancelled => "cancelled",
        }
    }
}

impl From<TrackingStatus> for ShipmentStatus {
    fn from(status: TrackingStatus) -> Self {
        match status {
            TrackingStatus::InTransit => ShipmentStatus::InTransit,
            TrackingStatus::OutForDelivery => ShipmentStatus::OutForDelivery,
            TrackingStatus::Delivered => ShipmentStatus::Delivered,
            TrackingStatus::Exception => ShipmentStatus::Exception,
        }
    }
}

/// One carrier scan as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEntry {
    pub event_id: String,
    pub status: TrackingStatus,
    /// When the carrier says it happened.
    pub occurred_at: DateTime<Utc>,
    pub description: Option<String>,
    pub location: Option<String>,
}

/// What `Create` fixed; it never changes afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Packing {
    order_id: String,
    /// Whose lines the parcel holds: a vendor's user sees and handles the parcel only when it
    /// is its vendor's. `None` for the shop's own lines (and in states stored before vendors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vendor_id: Option<String>,
    lines: Vec<ShipmentLine>,
    address: Address,
    created_at: DateTime<Utc>,
}

/// Who has the parcel under which number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Handover {
    carrier: String,
    tracking_number: String,
    tracking_url: Option<String>,
    handed_over_at: DateTime<Utc>,
}

/// One parcel of an order, folded from its events.
///
/// Invariants (enforced by [`Shipment::decide`]): `status == New` exactly when nothing was
/// created; a hand-over exists exactly when the status is past `Packing` and not `Cancelled`;
/// `history` holds every scan recorded, each event id once, in non-decreasing `occurred_at`,
/// and nothing after the `Delivered` one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    status: ShipmentStatus,
    /// `None` until `ShipmentCreated`.
    packing: Option<Packing>,
    /// `None` until `ShipmentHandedOver`.
    handover: Option<Handover>,
    /// The carrier's time of the `Delivered` scan.
    delivered_at: Option<DateTime<Utc>>,
    /// Every scan, oldest first. It is also the set of event ids already recorded: a parcel
    /// gets a few dozen scans at most, so a scan of it costs nothing.
    history: Vec<TrackingEntry>,
}

/// What the back office sees of a shipment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentView {
    pub id: String,
    pub version: u64,
    pub order_id: String,
    /// The vendor whose lines the parcel holds; absent for the shop's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    pub status: ShipmentStatus,
    pub lines: Vec<ShipmentLine>,
    pub address: Address,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub handed_over_at: Option<DateTime<Utc>>,
    /// The carrier's time of delivery.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every carrier scan, oldest first.
    pub history: Vec<TrackingEntry>,
}

/// Who may send `command` to `shipment`: the warehouse (the platform, admins, staff) packs,
/// hands over and cancels; tracking comes from the carrier's webhook (the platform) or an
/// admin. Known staff without the role are told so; to shoppers a shipment does not exist.
/// Only a vendor's user needs to know whose parcel it is: see [`authorize_vendor`].
fn authorize(
    shipment: &Shipment,
    command: &ShipmentCommand,
    by: &Principal,
) -> Result<(), ShipmentError> {
    let roles = match command {
        ShipmentCommand::RecordTracking { .. } => TRACKERS,
        ShipmentCommand::Create { .. }
        | ShipmentCommand::HandOver { .. }
        | ShipmentCommand::Cancel { .. } => OPERATORS,
    };
    match by {
        Principal::System { .. } => Ok(()),
        Principal::Staff { role, .. } if roles.contains(&role.as_str()) => Ok(()),
        Principal::Staff { .. } => Err(ShipmentError::Forbidden),
        Principal::Vendor { vendor, .. } => authorize_vendor(shipment, command, vendor),
        Principal::Guest { .. } | Principal::Customer { .. } => Err(ShipmentError::NotFound),
    }
}

/// A vendor's user packs, hands over and cancels its own vendor's parcels, and no others.
/// Creating for another vendor (or for the shop) is refused whatever the stream holds, as a
/// staff member without the role is. Any other command on a parcel that is not its vendor's
/// is `NotFound`, exactly as for a missing one, so that a vendor cannot tell another vendor's
/// parcel from no parcel. Tracking stays the carrier webhook's (and an admin's): on its own
/// parcel a vendor is told it may not.
fn authorize_vendor(
    shipment: &Shipment,
    command: &ShipmentCommand,
    vendor: &str,
) -> Result<(), ShipmentError> {
    match command {
        ShipmentCommand::Create { vendor_id, .. } if vendor_id.as_deref() == Some(vendor) => Ok(()),
        ShipmentCommand::Create { .. } => Err(ShipmentError::Forbidden),
        _ if shipment.vendor_id() != Some(vendor) => Err(ShipmentError::NotFound),
        ShipmentCommand::HandOver { .. } | ShipmentCommand::Cancel { .. } => Ok(()),
        ShipmentCommand::RecordTracking { .. } => Err(ShipmentError::Forbidden),
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Non-blank and at most `max` characters.
fn present(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && chars(text) <= max
}

fn longer_than(text: Option<&str>, max: usize) -> bool {
    text.is_some_and(|t| chars(t) > max)
}

/// A vendor id as the vendor workflow issues them (a UUID or a slug). It is compared exactly
/// with a vendor principal's, so it is kept as given and refused if it could not be one: a
/// space or a control character would make a parcel that no vendor could ever match.
fn check_vendor_id(vendor_id: Option<&str>) -> Result<(), ShipmentError> {
    let ok = vendor_id.is_none_or(|id| {
        (1..=MAX_VENDOR_ID_CHARS).contains(&chars(id))
            && !id.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if ok {
        Ok(())
    } else {
        Err(ShipmentError::InvalidVendorId)
    }
}

fn check_lines(lines: &[ShipmentLine]) -> Result<(), ShipmentError> {
    if lines.is_empty() {
        return Err(ShipmentError::Empty);
    }
    if lines.len() > MAX_LINES {
        return Err(ShipmentError::TooManyLines);
    }
    let mut skus = HashSet::with_capacity(lines.len());
    for line in lines {
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(ShipmentError::QuantityOutOfRange);
        }
        if !present(&line.title, MAX_TITLE_CHARS) {
            return Err(ShipmentError::InvalidTitle);
        }
        if !skus.insert(&line.sku) {
            return Err(ShipmentError::DuplicateSku);
        }
    }
    Ok(())
}

/// The same rule as an order's shipping address: a label can be printed from it.
fn check_address(address: &Address) -> Result<(), ShipmentError> {
    if address.is_shippable() {
        Ok(())
    } else {
        Err(ShipmentError::InvalidAddress)
    }
}

/// A tracking number as carriers print them: what a tracking URL or a barcode can carry.
fn check_tracking_number(tracking_number: &str) -> Result<(), ShipmentError> {
    let ok = (1..=MAX_TRACKING_NUMBER_CHARS).contains(&tracking_number.len())
        && tracking_number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ShipmentError::InvalidTrackingNumber)
    }
}

/// Shown to shoppers as a link, so only `https` and nothing that could break out of one.
fn check_tracking_url(url: Option<&str>) -> Result<(), ShipmentError> {
    const SCHEME: &str = "https://";
    let ok = url.is_none_or(|url| {
        url.starts_with(SCHEME)
            && url.len() > SCHEME.len()
            && chars(url) <= MAX_TRACKING_URL_CHARS
            && !url.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if ok {
        Ok(())
    } else {
        Err(ShipmentError::InvalidTrackingUrl)
    }
}

fn empty_address() -> Address {
    Address {
        name: String::new(),
        line1: String::new(),
        line2: None,
        city: String::new(),
        postal_code: String::new(),
        region: None,
        country: String::new(),
        phone: None,
    }
}

impl Shipment {
    pub fn status(&self) -> ShipmentStatus {
        self.status
    }

    /// The order the parcel belongs to; `None` before it was created.
    pub fn order_id(&self) -> Option<&str> {
        self.packing.as_ref().map(|p| p.order_id.as_str())
    }

    /// The vendor whose lines the parcel holds; `None` for the shop's own lines and before it
    /// was created.
    pub fn vendor_id(&self) -> Option<&str> {
        self.packing.as_ref().and_then(|p| p.vendor_id.as_deref())
    }

    /// The carrier's tracking number; `None` before the hand-over.
    pub fn tracking_number(&self) -> Option<&str> {
        self.handover.as_ref().map(|h| h.tracking_number.as_str())
    }

    /// Every carrier scan recorded, oldest first.
    pub fn history(&self) -> &[TrackingEntry] {
        &self.history
    }

    fn create(
        &self,
        order_id: &str,
        vendor_id: Option<&str>,
        lines: &[ShipmentLine],
        address: &Address,
        now: DateTime<Utc>,
    ) -> Result<Vec<ShipmentEvent>, ShipmentError> {
        // Also for a vendor whose create lands on another's parcel: the id is taken whoever
        // asks, and saying so tells nothing about the parcel.
        if self.status != ShipmentStatus::New {
            return Err(ShipmentError::AlreadyExists);
        }
        if !present(order_id, MAX_ORDER_ID_CHARS) {
            return Err(ShipmentError::InvalidOrderId);
        }
        check_vendor_id(vendor_id)?;
        check_lines(lines)?;
        check_address(address)?;
        Ok(vec![ShipmentEvent::ShipmentCreated {
            order_id: order_id.to_string(),
            vendor_id: vendor_id.map(str::to_string),
            lines: lines.to_vec(),
            address: address.clone(),
            at: now,
        }])
    }

    fn hand_over(
        &self,
        carrier: &str,
        tracking_number: &str,
        tracking_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ShipmentEvent>, ShipmentError> {
        // Stored trimmed, so that a retry differing only in spaces is still the same hand-over.
        let (carrier, tracking_number) = (carrier.trim(), tracking_number.trim());
        if !present(carrier, MAX_CARRIER_CHARS) {
            return Err(ShipmentError::InvalidCarrier);
        }
        check_tracking_number(tracking_number)?;
        check_tracking_url(tracking_url)?;
        if let Some(handover) = &self.handover {
            // A retry of the recorded hand-over changes nothing; another parcel number is a
            // mistake that a person must sort out.
            return if handover.carrier == carrier && handover.tracking_number == tracking_number {
                Ok(vec![])
            } else {
                Err(ShipmentError::InvalidTransition)
            };
        }
        match self.status {
            ShipmentStatus::Packing => Ok(vec![ShipmentEvent::ShipmentHandedOver {
                carrier: carrier.to_string(),
                tracking_number: tracking_number.to_string(),
                tracking_url: tracking_url.map(str::to_string),
                at: now,
            }]),
            _ => Err(ShipmentError::InvalidTransition),
        }
    }

    fn record_tracking(
        &self,
        event_id: &str,
        status: TrackingStatus,
        occurred_at: DateTime<Utc>,
        description: Option<&str>,
        location: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ShipmentEvent>, ShipmentError> {
        if !present(event_id, MAX_EVENT_ID_CHARS) {
            return Err(ShipmentError::InvalidEventId);
        }
        if longer_than(description, MAX_TEXT_CHARS) {
            return Err(ShipmentError::InvalidDescription);
        }
        if longer_than(location, MAX_TEXT_CHARS) {
            return Err(ShipmentError::InvalidLocation);
        }
        match self.status {
            ShipmentStatus::New => return Err(ShipmentError::NotFound),
            ShipmentStatus::Packing => return Err(ShipmentError::NotHandedOver),
            ShipmentStatus::Cancelled => return Err(ShipmentError::InvalidTransition),
            ShipmentStatus::Shipped
            | ShipmentStatus::InTransit
            | ShipmentStatus::OutForDelivery
            | ShipmentStatus::Delivered
            | ShipmentStatus::Exception => {}
        }
        // Before staleness, so that a redelivered scan (the delivery's too) is recognised as
        // already recorded rather than as out of order.
        if self.history.iter().any(|e| e.event_id == event_id) {
            return Err(ShipmentError::TrackingDuplicate);
        }
        // Delivery is final, and the history stays in the carrier's order: webhooks arrive
        // out of order, and an older scan must not move the parcel back.
        let latest = self.history.iter().map(|e| e.occurred_at).max();
        if self.status == ShipmentStatus::Delivered || latest.is_some_and(|l| occurred_at < l) {
            return Err(ShipmentError::TrackingStale);
        }
        Ok(vec![ShipmentEvent::ShipmentTracked {
            event_id: event_id.to_string(),
            status,
            from: self.status,
            occurred_at,
            description: description.map(str::to_string),
            location: location.map(str::to_string),
            at: now,
        }])
    }

    fn cancel(&self, now: DateTime<Utc>) -> Result<Vec<ShipmentEvent>, ShipmentError> {
        match self.status {
            ShipmentStatus::Packing => Ok(vec![ShipmentEvent::ShipmentCancelled { at: now }]),
            ShipmentStatus::Cancelled => Ok(vec![]),
            ShipmentStatus::New => Err(ShipmentError::NotFound),
            ShipmentStatus::Shipped
            | ShipmentStatus::InTransit
            | ShipmentStatus::OutForDelivery
            | ShipmentStatus::Delivered
            | ShipmentStatus::Exception => Err(ShipmentError::InvalidTransition),
        }
    }
}

impl Decider for Shipment {
    const TYPE: &'static str = "shipment";
    type Command = ShipmentCommand;
    type Event = ShipmentEvent;
    type Error = ShipmentError;
    type View = ShipmentView;

    /// Who may send the command comes first: the answer is the same whether or not the
    /// shipment exists, so it reveals nothing. (For a vendor's user it depends only on whether
    /// the parcel is its vendor's; another vendor's parcel answers as a missing one does.)
    fn decide(
        &self,
        _id: &str,
        command: &ShipmentCommand,
        by: &Principal,
    ) -> Result<Vec<ShipmentEvent>, ShipmentError> {
        authorize(self, command, by)?;
        match command {
            ShipmentCommand::Create {
                order_id,
                vendor_id,
                lines,
                address,
                now,
            } => self.create(order_id, vendor_id.as_deref(), lines, address, *now),
            _ if self.status == ShipmentStatus::New => Err(ShipmentError::NotFound),
            ShipmentCommand::HandOver {
                carrier,
                tracking_number,
                tracking_url,
                now,
            } => self.hand_over(carrier, tracking_number, tracking_url.as_deref(), *now),
            ShipmentCommand::RecordTracking {
                event_id,
                status,
                occurred_at,
                description,
                location,
                now,
            } => self.record_tracking(
                event_id,
                *status,
                *occurred_at,
                description.as_deref(),
                location.as_deref(),
                *now,
            ),
            ShipmentCommand::Cancel { now } => self.cancel(*now),
        }
    }

    fn evolve(&mut self, event: &ShipmentEvent) {
        match event {
            ShipmentEvent::ShipmentCreated {
                order_id,
                vendor_id,
                lines,
                address,
                at,
            } => {
                self.status = ShipmentStatus::Packing;
                self.packing = Some(Packing {
                    order_id: order_id.clone(),
                    vendor_id: vendor_id.clone(),
                    lines: lines.clone(),
                    address: address.clone(),
                    created_at: *at,
                });
            }
            ShipmentEvent::ShipmentHandedOver {
                carrier,
                tracking_number,
                tracking_url,
                at,
            } => {
                self.status = ShipmentStatus::Shipped;
                self.handover = Some(Handover {
                    carrier: carrier.clone(),
                    tracking_number: tracking_number.clone(),
                    tracking_url: tracking_url.clone(),
                    handed_over_at: *at,
                });
            }
            ShipmentEvent::ShipmentTracked {
                event_id,
                status,
                occurred_at,
                description,
                location,
                ..
            } => {
                self.status = (*status).into();
                if *status == TrackingStatus::Delivered && self.delivered_at.is_none() {
                    self.delivered_at = Some(*occurred_at);
                }
                self.history.push(TrackingEntry {
                    event_id: event_id.clone(),
                    status: *status,
                    occurred_at: *occurred_at,
                    description: description.clone(),
                    location: location.clone(),
                });
            }
            ShipmentEvent::ShipmentCancelled { .. } => self.status = ShipmentStatus::Cancelled,
        }
    }

    /// Shipments are back-office records: the platform and the roles in [`READERS`] read them,
    /// a vendor's user its own vendor's parcels; to anyone else, and for an empty stream,
    /// there is no such shipment.
    fn authorize_read(&self, by: &Principal) -> Result<(), ShipmentError> {
        let allowed = match by {
            Principal::System { .. } => true,
            Principal::Staff { role, .. } => READERS.contains(&role.as_str()),
            Principal::Vendor { vendor, .. } => self.vendor_id() == Some(vendor.as_str()),
            Principal::Guest { .. } | Principal::Customer { .. } => false,
        };
        if allowed && self.status != ShipmentStatus::New {
            Ok(())
        } else {
            Err(ShipmentError::NotFound)
        }
    }

    fn view(&self, id: &str, version: u64) -> ShipmentView {
        let handover = self.handover.as_ref();
        ShipmentView {
            id: id.to_string(),
            version,
            order_id: self
                .packing
                .as_ref()
                .map(|p| p.order_id.clone())
                .unwrap_or_default(),
            vendor_id: self.vendor_id().map(str::to_string),
            status: self.status,
            lines: self
                .packing
                .as_ref()
                .map(|p| p.lines.clone())
                .unwrap_or_default(),
            address: self
                .packing
                .as_ref()
                .map_or_else(empty_address, |p| p.address.clone()),
            carrier: handover.map(|h| h.carrier.clone()),
            tracking_number: handover.map(|h| h.tracking_number.clone()),
            tracking_url: handover.and_then(|h| h.tracking_url.clone()),
            created_at: self
                .packing
                .as_ref()
                .map_or(DateTime::<Utc>::UNIX_EPOCH, |p| p.created_at),
            handed_over_at: handover.map(|h| h.handed_over_at),
            delivered_at: self.delivered_at,
            history: self.history.clone(),
        }
    }

    fn event_type(event: &ShipmentEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Shipment, ShipmentEvent);

pub use agora_kernel::CqrsEnvelope;

#[cfg(test)]
mod tests;

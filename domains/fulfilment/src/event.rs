use agora_kernel::Address;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ShipmentLine, ShipmentStatus, TrackingStatus};

/// Facts about one shipment. A published contract: variants and fields are never renamed; a
/// change of shape gets a new event version and an upcaster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShipmentEvent {
    /// Packing began. `at` is the command's `now`. `vendor_id` is the vendor whose lines the
    /// parcel holds; absent for the shop's own lines, and in events recorded before vendors
    /// (which were all the shop's own).
    ShipmentCreated {
        order_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vendor_id: Option<String>,
        lines: Vec<ShipmentLine>,
        address: Address,
        at: DateTime<Utc>,
    },
    /// The carrier took the parcel. Carrier and tracking number are stored trimmed.
    ShipmentHandedOver {
        carrier: String,
        tracking_number: String,
        tracking_url: Option<String>,
        at: DateTime<Utc>,
    },
    /// A carrier scan. `from` is the status before it, so a consumer can tell a change of
    /// status (`from != status`) from one more scan of the same status, which only adds to
    /// the history. `occurred_at` is the carrier's time, `at` the command's `now`.
    ShipmentTracked {
        event_id: String,
        status: TrackingStatus,
        from: ShipmentStatus,
        occurred_at: DateTime<Utc>,
        description: Option<String>,
        location: Option<String>,
        at: DateTime<Utc>,
    },
    /// The parcel will not be sent (it was still being packed).
    ShipmentCancelled { at: DateTime<Utc> },
}

impl ShipmentEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            ShipmentEvent::ShipmentCreated { .. } => "ShipmentCreated",
            ShipmentEvent::ShipmentHandedOver { .. } => "ShipmentHandedOver",
            ShipmentEvent::ShipmentTracked { .. } => "ShipmentTracked",
            ShipmentEvent::ShipmentCancelled { .. } => "ShipmentCancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Sku;

    #[test]
    fn the_event_type_is_the_serde_tag() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let events = [
            ShipmentEvent::ShipmentCreated {
                order_id: "o1".into(),
                vendor_id: Some("acme".into()),
                lines: vec![ShipmentLine {
                    sku: Sku::parse("TEE-1").expect("sku"),
                    title: "Tee".into(),
                    quantity: 1,
                }],
                address: Address {
                    name: "Ada".into(),
                    line1: "1 Main St".into(),
                    line2: None,
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    region: None,
                    country: "DE".into(),
                    phone: None,
                },
                at,
            },
            ShipmentEvent::ShipmentHandedOver {
                carrier: "DHL".into(),
                tracking_number: "JD0146".into(),
                tracking_url: None,
                at,
            },
            ShipmentEvent::ShipmentTracked {
                event_id: "evt_1".into(),
                status: TrackingStatus::InTransit,
                from: ShipmentStatus::Shipped,
                occurred_at: at,
                description: Some("Arrived at facility".into()),
                location: None,
                at,
            },
            ShipmentEvent::ShipmentCancelled { at },
        ];
        for event in events {
            let value = serde_json::to_value(&event).expect("serializes");
            assert!(value.get(event.event_type()).is_some(), "{value}");
            let back: ShipmentEvent = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, event);
        }
    }
}

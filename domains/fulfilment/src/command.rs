use agora_kernel::{Address, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One SKU in a parcel, as packed: the title is copied from the order so that a packing slip
/// needs nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentLine {
    pub sku: Sku,
    pub title: String,
    pub quantity: i64,
}

/// What a carrier says happened to a parcel once it has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    InTransit,
    OutForDelivery,
    Delivered,
    /// Anything that went wrong: a failed delivery, a return to sender, a lost parcel.
    Exception,
}

impl TrackingStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TrackingStatus::InTransit => "in_transit",
            TrackingStatus::OutForDelivery => "out_for_delivery",
            TrackingStatus::Delivered => "delivered",
            TrackingStatus::Exception => "exception",
        }
    }
}

/// Commands on one shipment (the stream id, a UUID chosen by the caller). Every command carries
/// `now`: `decide` never reads a clock. Each variant name is also the NATS endpoint name
/// (`agora.shipment.<name>`).
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ShipmentCommand {
    /// A parcel of `order_id` is being packed with these lines, for this address. `vendor_id`
    /// is the marketplace vendor whose lines the parcel holds (absent: the shop's own lines);
    /// a vendor's user may only create parcels of its own vendor.
    Create {
        order_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vendor_id: Option<String>,
        lines: Vec<ShipmentLine>,
        address: Address,
        now: DateTime<Utc>,
    },
    /// The parcel left with the carrier under this tracking number. Repeating it with the same
    /// carrier and tracking number records nothing.
    HandOver {
        carrier: String,
        tracking_number: String,
        #[serde(default)]
        tracking_url: Option<String>,
        now: DateTime<Utc>,
    },
    /// A carrier's scan (usually from its webhook, see [`crate::carrier`]). `event_id` is the
    /// carrier's id for the scan, so a redelivered webhook is recognised; `occurred_at` is when
    /// the carrier says it happened, `now` when we learnt it.
    RecordTracking {
        event_id: String,
        status: TrackingStatus,
        occurred_at: DateTime<Utc>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        location: Option<String>,
        now: DateTime<Utc>,
    },
    /// The parcel will not be sent; only possible while it is being packed.
    Cancel { now: DateTime<Utc> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_arrive_in_their_wire_form() {
        let command: ShipmentCommand = serde_json::from_value(json!({"record_tracking": {
            "event_id": "evt_1",
            "status": "out_for_delivery",
            "occurred_at": "2025-01-02T03:04:05Z",
            "now": "2025-01-02T03:05:00Z"
        }}))
        .expect("parses");
        assert!(matches!(
            command,
            ShipmentCommand::RecordTracking {
                status: TrackingStatus::OutForDelivery,
                description: None,
                location: None,
                ..
            }
        ));
        let command: ShipmentCommand = serde_json::from_value(json!({"hand_over": {
            "carrier": "DHL", "tracking_number": "JD0146", "now": "2025-01-02T03:04:05Z"
        }}))
        .expect("parses");
        assert!(matches!(
            command,
            ShipmentCommand::HandOver {
                tracking_url: None,
                ..
            }
        ));
    }

    #[test]
    fn a_create_names_its_vendor_or_leaves_it_out() {
        let create = |extra: serde_json::Value| {
            let mut body = json!({
                "order_id": "o1",
                "lines": [{"sku": "TEE-1", "title": "Tee", "quantity": 1}],
                "address": {
                    "name": "Ada", "line1": "1 Main St", "city": "Berlin",
                    "postal_code": "10115", "country": "DE"
                },
                "now": "2025-01-02T03:04:05Z"
            });
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            serde_json::from_value::<ShipmentCommand>(json!({ "create": body }))
        };
        let vendor_of = |command: ShipmentCommand| match command {
            ShipmentCommand::Create { vendor_id, .. } => vendor_id,
            other => panic!("not a create: {other:?}"),
        };
        assert_eq!(vendor_of(create(json!({})).expect("parses")), None);
        assert_eq!(
            vendor_of(create(json!({"vendor_id": null})).expect("parses")),
            None
        );
        assert_eq!(
            vendor_of(create(json!({"vendor_id": "acme"})).expect("parses")),
            Some("acme".into())
        );
        // The shop's own parcel is sent in the shape it had before vendors.
        let command = create(json!({})).expect("parses");
        let wire = serde_json::to_value(&command).expect("serializes");
        assert!(wire["create"].get("vendor_id").is_none(), "{wire}");
    }

    #[test]
    fn unknown_fields_and_statuses_are_rejected() {
        assert!(serde_json::from_value::<ShipmentCommand>(
            json!({"cancel": {"now": "2025-01-02T03:04:05Z", "force": true}})
        )
        .is_err());
        assert!(
            serde_json::from_value::<ShipmentCommand>(json!({"record_tracking": {
                "event_id": "evt_1", "status": "lost", "occurred_at": "2025-01-02T03:04:05Z",
                "now": "2025-01-02T03:05:00Z"
            }}))
            .is_err()
        );
        assert!(serde_json::from_value::<ShipmentLine>(
            json!({"sku": "TEE-1", "title": "Tee", "quantity": 1, "price": 5})
        )
        .is_err());
        // Time is never optional.
        assert!(serde_json::from_value::<ShipmentCommand>(json!({"cancel": {}})).is_err());
    }

    #[test]
    fn tracking_statuses_name_themselves_as_serde_does() {
        for status in [
            TrackingStatus::InTransit,
            TrackingStatus::OutForDelivery,
            TrackingStatus::Delivered,
            TrackingStatus::Exception,
        ] {
            assert_eq!(
                serde_json::to_value(status).expect("serializes"),
                json!(status.as_str())
            );
        }
    }
}

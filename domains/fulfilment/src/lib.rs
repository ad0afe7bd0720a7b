//! Fulfilment: the parcels an order leaves in, and where each one is.
//!
//! One aggregate, [`Shipment`], one stream per parcel (stream type `shipment`, id a UUID chosen
//! by the caller; NATS service `shipment`). The warehouse creates it from an order's lines
//! (`Packing`), hands it to a carrier under a tracking number (`Shipped`), and the carrier's
//! scans move it on (`InTransit`, `OutForDelivery`, `Delivered`, or `Exception`). It can be
//! cancelled only while it is being packed. Time always arrives inside commands (`now`);
//! `decide` never reads a clock.
//!
//! [`carrier`] verifies and parses carrier tracking webhooks (our own signed shape and
//! EasyPost's) into a [`TrackingUpdate`], whose [`TrackingUpdate::command`] records the scan.
//! It does no IO either: the edge hands it the header, the raw body, the secrets and the time.
//!
//! A marketplace order may hold lines of several vendors, and each vendor packs its own
//! parcels: a shipment records, once, the `vendor_id` whose lines it holds (absent for the
//! shop's own lines, and in events recorded before vendors). The edge and the runner fill it
//! from the order's lines; the aggregate checks who may use it.
//!
//! Invariants (enforced by [`Shipment::decide`]):
//! - a shipment has `1..=MAX_LINES` lines with distinct SKUs, quantities in `1..=MAX_QUANTITY`
//!   and non-blank titles, an order id and a printable address; it is created once; its
//!   vendor id, if any, is 1 to `MAX_VENDOR_ID_CHARS` characters without whitespace or
//!   control characters, and never changes;
//! - a parcel is handed over once, from `Packing`: repeating the same carrier and tracking
//!   number records nothing, other values are refused;
//! - tracking is recorded only once handed over; each carrier event id once
//!   (`shipment.tracking_duplicate`, which a webhook may treat as done); never older than the
//!   latest scan, and nothing after the delivery (`shipment.tracking_stale`), so that
//!   out-of-order webhooks never move a parcel back; each `ShipmentTracked` names the status it
//!   came `from`, so a second scan of one status adds history without a change of status;
//! - the platform, admins and staff pack, hand over and cancel any parcel, whoever's lines it
//!   holds; only the platform (the carrier webhook) and admins record tracking; the platform,
//!   admins, staff and auditors read; to shoppers a shipment does not exist
//!   (`shipment.not_found`, never `forbidden`), while back-office staff without the role get
//!   `shipment.forbidden`;
//! - a vendor's user (`Principal::Vendor`) creates a parcel only with its own vendor id
//!   (anything else, the shop's own included, is `shipment.forbidden` and records nothing),
//!   and reads, hands over and cancels only parcels of its vendor: any other parcel, the
//!   shop's own included, is `shipment.not_found` to it, exactly as a missing one, so a vendor
//!   cannot tell another vendor's parcel from no parcel. It never records tracking
//!   (`shipment.forbidden` on its own parcels). A create that lands on a taken id is
//!   `shipment.already_exists` for every creator: the id cannot be used again, and saying so
//!   tells nothing about the parcel.
//!
//! Error codes: `shipment.*` ([`ShipmentError`]): `not_found`, `forbidden`, `already_exists`,
//! `invalid_transition`, `not_handed_over`, `tracking_duplicate`, `tracking_stale` (conflicts
//! apart from the first two) and the input errors `invalid_order_id`, `invalid_vendor_id`,
//! `empty`, `too_many_lines`, `duplicate_sku`, `quantity_out_of_range`, `invalid_title`,
//! `invalid_address`, `invalid_carrier`, `invalid_tracking_number`, `invalid_tracking_url`,
//! `invalid_event_id`, `invalid_description`, `invalid_location`. `webhook.*`
//! ([`WebhookError`]): `invalid_signature` (401), `expired` and `malformed`.

pub mod carrier;
mod command;
mod error;
mod event;
mod shipment;

pub use carrier::{TrackingUpdate, WebhookError};
pub use command::{ShipmentCommand, ShipmentLine, TrackingStatus};
pub use error::ShipmentError;
pub use event::ShipmentEvent;
pub use shipment::{
    CqrsEnvelope, Shipment, ShipmentStatus, ShipmentView, TrackingEntry, MAX_ADDRESS_FIELD_CHARS,
    MAX_CARRIER_CHARS, MAX_EVENT_ID_CHARS, MAX_LINES, MAX_ORDER_ID_CHARS, MAX_PHONE_CHARS,
    MAX_QUANTITY, MAX_TEXT_CHARS, MAX_TITLE_CHARS, MAX_TRACKING_NUMBER_CHARS,
    MAX_TRACKING_URL_CHARS, MAX_VENDOR_ID_CHARS, OPERATORS, READERS, TRACKERS,
};

agora_kernel::contract!(Shipment {
    service: "shipment",
    description: "Shipments: one actor per parcel, from packing to delivery",
    command: ShipmentCommand,
    view: ShipmentView,
});

#[cfg(test)]
mod tests {
    use super::*;

    /// A domain crate does no IO: its dependencies are the kernel, serialization, errors,
    /// cqrs-es, value types and the pure crypto that checks webhook signatures, nothing that
    /// opens a socket or a file.
    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "strum",
            "agora-kernel",
            "serde",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "chrono",
            "hmac",
            "sha2",
            "hex",
            "unicode-normalization",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }

    #[test]
    fn command_names_are_their_serde_tags() {
        let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        agora_kernel::check_names(&[
            ShipmentCommand::Create {
                order_id: "o1".into(),
                vendor_id: Some("acme".into()),
                lines: vec![ShipmentLine {
                    sku: agora_kernel::Sku::parse("TEE-1").expect("sku"),
                    title: "Tee".into(),
                    quantity: 1,
                }],
                address: agora_kernel::Address {
                    name: "Ada".into(),
                    line1: "1 Main St".into(),
                    line2: None,
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    region: None,
                    country: "DE".into(),
                    phone: None,
                },
                now,
            },
            ShipmentCommand::HandOver {
                carrier: "DHL".into(),
                tracking_number: "JD1".into(),
                tracking_url: Some("https://t.example/JD1".into()),
                now,
            },
            ShipmentCommand::RecordTracking {
                event_id: "evt_1".into(),
                status: TrackingStatus::InTransit,
                occurred_at: now,
                description: None,
                location: None,
                now,
            },
            ShipmentCommand::Cancel { now },
        ]);
        assert_eq!(
            <ShipmentCommand as agora_kernel::Command>::NAMES,
            ["create", "hand_over", "record_tracking", "cancel"]
        );
        assert_eq!(<Shipment as agora_kernel::Contract>::SERVICE, "shipment");
        assert_eq!(<Shipment as agora_kernel::Decider>::TYPE, "shipment");
    }
}

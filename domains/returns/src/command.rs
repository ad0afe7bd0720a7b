//! The return's commands and the value types they share with its events. Field and variant
//! names are published (commands are NATS payloads, events are stored forever): never rename
//! them.

use agora_kernel::{Money, Sku};
use agora_order::OrderOwner;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why the shopper sends units back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    /// It arrived broken.
    Damaged,
    /// It does not work.
    Defective,
    /// The shop sent something else.
    WrongItem,
    /// It is not what the shop's description promised.
    NotAsDescribed,
    /// The shopper changed their mind.
    NoLongerNeeded,
    SizeOrFit,
    Other,
}

impl ReturnReason {
    /// Whether the shop is to blame: the item arrived damaged, defective, wrong or not as
    /// described. It decides whether shipping is refunded (see `Return::refunds_shipping`).
    pub fn is_shop_fault(&self) -> bool {
        match self {
            ReturnReason::Damaged
            | ReturnReason::Defective
            | ReturnReason::WrongItem
            | ReturnReason::NotAsDescribed => true,
            ReturnReason::NoLongerNeeded | ReturnReason::SizeOrFit | ReturnReason::Other => false,
        }
    }

    /// The wire name (`wrong_item`), as serde writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReturnReason::Damaged => "damaged",
            ReturnReason::Defective => "defective",
            ReturnReason::WrongItem => "wrong_item",
            ReturnReason::NotAsDescribed => "not_as_described",
            ReturnReason::NoLongerNeeded => "no_longer_needed",
            ReturnReason::SizeOrFit => "size_or_fit",
            ReturnReason::Other => "other",
        }
    }
}

/// Units of one order line the shopper asks to send back. The title and the vendor are copied
/// from the order by the returns workflow, so that people read what was bought without a
/// second lookup, and so that the vendor who sold every line can decide the return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnLine {
    pub sku: Sku,
    pub title: String,
    pub quantity: i64,
    pub reason: ReturnReason,
    /// The shopper's own words about the reason.
    #[serde(default)]
    pub note: Option<String>,
    /// The marketplace vendor who sold the line, from the order's line (set by the platform,
    /// never by a shopper); absent for the shop's own lines, and in returns requested before
    /// vendors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
}

/// What the warehouse does with received units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// They are sellable again: they go back on hand.
    Restock,
    /// They are not: they are written off (the stock movement records the loss).
    WriteOff,
}

impl Disposition {
    /// The wire name (`write_off`), as serde writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Disposition::Restock => "restock",
            Disposition::WriteOff => "write_off",
        }
    }
}

/// Units of one requested line that arrived at the warehouse, and what happens to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    pub sku: Sku,
    pub quantity: i64,
    pub disposition: Disposition,
}

/// Commands on one return (stream id: the return id, a UUID chosen by the caller). Every
/// variant name is also the NATS endpoint name (`agora.return.<name>`); see
/// `ReturnCommand::NAMES` (from `agora_kernel::Command`). Every command carries `now`:
/// `decide` reads no clock.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReturnCommand {
    /// Opens the return. Only the platform sends it: the returns workflow, after the order
    /// accepted the return (delivered units, the return window, units already returned), with
    /// the order's owner, never one a client supplied.
    Request {
        order_id: String,
        owner: OrderOwner,
        lines: Vec<ReturnLine>,
        now: DateTime<Utc>,
    },
    /// The back office (or the vendor who sold every line) agrees to take the units back.
    Approve { now: DateTime<Utc> },
    /// The back office (or the vendor who sold every line) refuses the return, saying why (the
    /// shopper reads it).
    Reject { reason: String, now: DateTime<Utc> },
    /// The shopper (or staff) withdraws the return before it was decided; never a vendor.
    Cancel { now: DateTime<Utc> },
    /// The warehouse (or the vendor who sold every line) received the parcel: which units
    /// arrived and what becomes of them. Lines (or units) that did not arrive are not refunded.
    Receive {
        lines: Vec<ReceivedLine>,
        now: DateTime<Utc>,
    },
    /// The runner moved the received units of `sku` (restocked or wrote them off).
    RecordStockMoved { sku: Sku, now: DateTime<Utc> },
    /// The runner refunded the received units of `sku` at the payment provider.
    RecordRefund {
        sku: Sku,
        refund_id: String,
        amount: Money,
        now: DateTime<Utc>,
    },
    /// The runner refunded the order's shipping; it sends this, when shipping is owed, before
    /// the last line step (see the crate documentation).
    RecordShippingRefund {
        refund_id: String,
        amount: Money,
        now: DateTime<Utc>,
    },
    /// A refund failed at the provider (`sku` absent: the shipping refund). The return stays
    /// received; the runner may retry.
    RecordRefundFailed {
        #[serde(default)]
        sku: Option<Sku>,
        reason: String,
        now: DateTime<Utc>,
    },
}

impl ReturnCommand {
    /// The moment the command was sent, which every command carries.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            ReturnCommand::Request { now, .. }
            | ReturnCommand::Approve { now }
            | ReturnCommand::Reject { now, .. }
            | ReturnCommand::Cancel { now }
            | ReturnCommand::Receive { now, .. }
            | ReturnCommand::RecordStockMoved { now, .. }
            | ReturnCommand::RecordRefund { now, .. }
            | ReturnCommand::RecordShippingRefund { now, .. }
            | ReturnCommand::RecordRefundFailed { now, .. } => *now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;
    use serde_json::json;

    const NOW: &str = "2025-06-15T12:00:00Z";

    fn now() -> DateTime<Utc> {
        NOW.parse().expect("a valid instant")
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).expect("valid sku")
    }

    /// Every command in its wire form (the NATS payload) and as a value.
    fn wire_commands() -> Vec<(serde_json::Value, ReturnCommand)> {
        let eur = |amount_minor| Money::new(amount_minor, Currency::EUR);
        vec![
            (
                json!({"request": {
                    "order_id": "order-1",
                    "owner": {"kind": "guest", "token_sha256": "ab"},
                    "lines": [{
                        "sku": "TEE-M", "title": "Tee", "quantity": 2,
                        "reason": "size_or_fit", "note": "too small", "vendor_id": "acme"
                    }],
                    "now": NOW
                }}),
                ReturnCommand::Request {
                    order_id: "order-1".into(),
                    owner: OrderOwner::Guest {
                        token_sha256: "ab".into(),
                    },
                    lines: vec![ReturnLine {
                        sku: sku("TEE-M"),
                        title: "Tee".into(),
                        quantity: 2,
                        reason: ReturnReason::SizeOrFit,
                        note: Some("too small".into()),
                        vendor_id: Some("acme".into()),
                    }],
                    now: now(),
                },
            ),
            (
                json!({"approve": {"now": NOW}}),
                ReturnCommand::Approve { now: now() },
            ),
            (
                json!({"reject": {"reason": "worn", "now": NOW}}),
                ReturnCommand::Reject {
                    reason: "worn".into(),
                    now: now(),
                },
            ),
            (
                json!({"cancel": {"now": NOW}}),
                ReturnCommand::Cancel { now: now() },
            ),
            (
                json!({"receive": {
                    "lines": [{"sku": "TEE-M", "quantity": 1, "disposition": "write_off"}],
                    "now": NOW
                }}),
                ReturnCommand::Receive {
                    lines: vec![ReceivedLine {
                        sku: sku("TEE-M"),
                        quantity: 1,
                        disposition: Disposition::WriteOff,
                    }],
                    now: now(),
                },
            ),
            (
                json!({"record_stock_moved": {"sku": "TEE-M", "now": NOW}}),
                ReturnCommand::RecordStockMoved {
                    sku: sku("TEE-M"),
                    now: now(),
                },
            ),
            (
                json!({"record_refund": {
                    "sku": "TEE-M", "refund_id": "re_1",
                    "amount": {"amount_minor": 1200, "currency": "EUR"}, "now": NOW
                }}),
                ReturnCommand::RecordRefund {
                    sku: sku("TEE-M"),
                    refund_id: "re_1".into(),
                    amount: eur(1200),
                    now: now(),
                },
            ),
            (
                json!({"record_shipping_refund": {
                    "refund_id": "re_2",
                    "amount": {"amount_minor": 499, "currency": "EUR"}, "now": NOW
                }}),
                ReturnCommand::RecordShippingRefund {
                    refund_id: "re_2".into(),
                    amount: eur(499),
                    now: now(),
                },
            ),
            (
                json!({"record_refund_failed": {"sku": "TEE-M", "reason": "declined", "now": NOW}}),
                ReturnCommand::RecordRefundFailed {
                    sku: Some(sku("TEE-M")),
                    reason: "declined".into(),
                    now: now(),
                },
            ),
        ]
    }

    #[test]
    fn every_command_arrives_in_its_wire_form() {
        for (wire, command) in wire_commands() {
            let parsed: ReturnCommand = serde_json::from_value(wire).expect("parses");
            assert_eq!(parsed, command);
            assert_eq!(parsed.now(), now());
        }
    }

    #[test]
    fn optional_fields_may_be_left_out() {
        let failed: ReturnCommand = serde_json::from_value(
            json!({"record_refund_failed": {"reason": "provider down", "now": NOW}}),
        )
        .expect("parses");
        assert!(matches!(
            failed,
            ReturnCommand::RecordRefundFailed { sku: None, .. }
        ));
        let line: ReturnLine = serde_json::from_value(json!({
            "sku": "TEE-M", "title": "Tee", "quantity": 1, "reason": "damaged"
        }))
        .expect("parses");
        assert_eq!(line.note, None);
        assert_eq!(line.vendor_id, None);
        // A line of the shop's own is written in the shape it had before vendors.
        let wire = serde_json::to_value(&line).expect("serializes");
        assert!(wire.get("vendor_id").is_none(), "{wire}");
        let line: ReturnLine = serde_json::from_value(json!({
            "sku": "TEE-M", "title": "Tee", "quantity": 1, "reason": "damaged",
            "vendor_id": "acme"
        }))
        .expect("parses");
        assert_eq!(line.vendor_id.as_deref(), Some("acme"));
    }

    #[test]
    fn unknown_fields_reasons_and_dispositions_are_rejected() {
        for (mut wire, command) in wire_commands() {
            let name: &'static str = (&command).into();
            wire[name]["surprise"] = json!(1);
            assert!(
                serde_json::from_value::<ReturnCommand>(wire).is_err(),
                "{name} accepted an unknown field"
            );
        }
        let (mut request, _) = wire_commands().remove(0);
        request["request"]["lines"][0]["refund"] = json!(5);
        assert!(serde_json::from_value::<ReturnCommand>(request).is_err());
        let (mut request, _) = wire_commands().remove(0);
        request["request"]["lines"][0]["reason"] = json!("bored");
        assert!(serde_json::from_value::<ReturnCommand>(request).is_err());
        let (mut receive, _) = wire_commands().remove(4);
        receive["receive"]["lines"][0]["disposition"] = json!("resell");
        assert!(serde_json::from_value::<ReturnCommand>(receive).is_err());
        // Time is never optional.
        assert!(serde_json::from_value::<ReturnCommand>(json!({"approve": {}})).is_err());
    }

    #[test]
    fn reasons_and_dispositions_name_themselves_as_serde_does() {
        let reasons = [
            ReturnReason::Damaged,
            ReturnReason::Defective,
            ReturnReason::WrongItem,
            ReturnReason::NotAsDescribed,
            ReturnReason::NoLongerNeeded,
            ReturnReason::SizeOrFit,
            ReturnReason::Other,
        ];
        for reason in reasons {
            assert_eq!(
                serde_json::to_value(reason).expect("serializes"),
                json!(reason.as_str())
            );
        }
        for disposition in [Disposition::Restock, Disposition::WriteOff] {
            assert_eq!(
                serde_json::to_value(disposition).expect("serializes"),
                json!(disposition.as_str())
            );
        }
    }

    #[test]
    fn the_shop_is_at_fault_for_damaged_defective_wrong_and_misdescribed_items_only() {
        let at_fault: Vec<&str> = [
            ReturnReason::Damaged,
            ReturnReason::Defective,
            ReturnReason::WrongItem,
            ReturnReason::NotAsDescribed,
            ReturnReason::NoLongerNeeded,
            ReturnReason::SizeOrFit,
            ReturnReason::Other,
        ]
        .iter()
        .filter(|r| r.is_shop_fault())
        .map(|r| r.as_str())
        .collect();
        assert_eq!(
            at_fault,
            ["damaged", "defective", "wrong_item", "not_as_described"]
        );
    }
}

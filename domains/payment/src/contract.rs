//! The payment's wire contract: commands, events and their value types. Published names:
//! never rename them.
//!
//! IO never happens here. The payment service (agora-workflows) calls the provider through a
//! `PaymentGateway` with an idempotency key per operation (`<payment id>/authorize`,
//! `/capture`, `/void`, `/refund/<refund id>`) and records the outcome with these commands.

use agora_kernel::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the provider answered to an authorization (or to the later confirmation of one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthorizationOutcome {
    /// The amount is held on the card and can be captured.
    Authorized { provider_ref: String },
    /// The shopper must still confirm (3-D Secure); the provider or the shopper's client will
    /// tell us later.
    RequiresAction {
        provider_ref: String,
        #[serde(default)]
        client_secret: Option<String>,
    },
    /// The card was declined; `code` is the provider's decline code (`card_declined`).
    Declined {
        #[serde(default)]
        provider_ref: Option<String>,
        code: String,
    },
}

/// A fact the provider reported by webhook, already verified and parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProviderEventKind {
    /// The amount is now capturable (after a late confirmation).
    Authorized,
    /// The provider captured `amount`.
    Captured { amount_minor: i64 },
    /// The authorization failed for good.
    Failed { code: String },
    /// The authorization was cancelled (voided).
    Canceled,
    /// A refund completed; `refund_id` is ours when the provider echoes it back, else the
    /// provider's refund id.
    Refunded {
        refund_id: String,
        amount_minor: i64,
    },
    /// The shopper's bank disputed the charge (a chargeback): the provider took `amount_minor`
    /// back until the dispute is decided.
    DisputeOpened {
        dispute_id: String,
        amount_minor: i64,
        /// The provider's reason (`fraudulent`, `product_not_received`...).
        reason: String,
    },
    /// The dispute was decided: won, the money comes back; lost, it is gone for good.
    DisputeClosed {
        dispute_id: String,
        outcome: DisputeOutcome,
    },
    /// Any other event type: recorded for the audit trail, no effect.
    Other { provider_type: String },
}

/// How a dispute ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeOutcome {
    /// The shop's evidence won: the provider gave the money back.
    Won,
    /// The shopper's bank kept the money: a chargeback.
    Lost,
}

impl ProviderEventKind {
    pub fn label(&self) -> &str {
        match self {
            ProviderEventKind::Authorized => "authorized",
            ProviderEventKind::Captured { .. } => "captured",
            ProviderEventKind::Failed { .. } => "failed",
            ProviderEventKind::Canceled => "canceled",
            ProviderEventKind::Refunded { .. } => "refunded",
            ProviderEventKind::DisputeOpened { .. } => "dispute_opened",
            ProviderEventKind::DisputeClosed { .. } => "dispute_closed",
            ProviderEventKind::Other { provider_type } => provider_type,
        }
    }
}

/// Commands on one payment (stream id: the order id; one payment per order). Variant names are
/// the NATS endpoint names of the aggregate (`agora.payment.<name>` is *not* how shoppers
/// reach it: the payment service wraps these with provider calls). Only the platform (the
/// payment service, as `System`) sends them, except `request_refund`, which back-office staff
/// with role `admin` or `staff` may send too.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PaymentCommand {
    /// Opens the payment for an order before the provider is asked to authorize it.
    Start {
        order_id: String,
        amount: Money,
        /// The provider's payment-method token (`pm_card_visa`), never a card number.
        payment_method: String,
        now: DateTime<Utc>,
    },
    RecordAuthorization {
        outcome: AuthorizationOutcome,
        now: DateTime<Utc>,
    },
    /// The authorization could not be obtained for a reason other than a decline (the provider
    /// kept timing out, the request was rejected).
    RecordFailure {
        code: String,
        now: DateTime<Utc>,
    },
    RecordCapture {
        amount: Money,
        now: DateTime<Utc>,
    },
    RecordVoid {
        now: DateTime<Utc>,
    },
    /// Reserves `amount` of the captured money for a refund before the provider is called, so
    /// two concurrent refunds can never together exceed what was captured.
    RequestRefund {
        refund_id: String,
        /// `None` with a `line`: exactly what those units cost (their share of the line's
        /// paid amount after the line refunds already requested).
        amount: Option<Money>,
        /// The units of one order line it gives back: the refund may then be at most their
        /// share of what the shopper paid for the line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<LineShare>,
        now: DateTime<Utc>,
    },
    RecordRefund {
        refund_id: String,
        now: DateTime<Utc>,
    },
    RecordRefundFailure {
        refund_id: String,
        code: String,
        now: DateTime<Utc>,
    },
    /// A verified webhook; `event_id` is the provider's event id, de-duplicated forever.
    ApplyProviderEvent {
        event_id: String,
        #[serde(default)]
        provider_ref: Option<String>,
        kind: ProviderEventKind,
        now: DateTime<Utc>,
    },
}

/// Facts about a payment. A published contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentEvent {
    PaymentStarted {
        order_id: String,
        amount: Money,
        payment_method: String,
        at: DateTime<Utc>,
    },
    PaymentAuthorized {
        provider_ref: String,
        at: DateTime<Utc>,
    },
    PaymentActionRequired {
        provider_ref: String,
        client_secret: Option<String>,
        at: DateTime<Utc>,
    },
    PaymentDeclined {
        provider_ref: Option<String>,
        code: String,
        at: DateTime<Utc>,
    },
    PaymentFailed {
        code: String,
        at: DateTime<Utc>,
    },
    PaymentCaptured {
        amount: Money,
        at: DateTime<Utc>,
    },
    PaymentVoided {
        at: DateTime<Utc>,
    },
    RefundRequested {
        refund_id: String,
        amount: Money,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<RefundUnits>,
        at: DateTime<Utc>,
    },
    PaymentRefunded {
        refund_id: String,
        amount: Money,
        total_refunded: Money,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<RefundUnits>,
        at: DateTime<Utc>,
    },
    RefundFailed {
        refund_id: String,
        code: String,
        at: DateTime<Utc>,
    },
    ProviderEventReceived {
        event_id: String,
        provider_ref: Option<String>,
        kind: ProviderEventKind,
        at: DateTime<Utc>,
    },
    /// The charge is disputed: `amount` left the shop until the dispute is decided, and no
    /// refund may be made meanwhile.
    DisputeOpened {
        dispute_id: String,
        amount: Money,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The dispute was decided. Won: `amount` came back. Lost: it is charged back for good.
    DisputeClosed {
        dispute_id: String,
        outcome: DisputeOutcome,
        amount: Money,
        at: DateTime<Utc>,
    },
}

impl PaymentEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            PaymentEvent::PaymentStarted { .. } => "PaymentStarted",
            PaymentEvent::PaymentAuthorized { .. } => "PaymentAuthorized",
            PaymentEvent::PaymentActionRequired { .. } => "PaymentActionRequired",
            PaymentEvent::PaymentDeclined { .. } => "PaymentDeclined",
            PaymentEvent::PaymentFailed { .. } => "PaymentFailed",
            PaymentEvent::PaymentCaptured { .. } => "PaymentCaptured",
            PaymentEvent::PaymentVoided { .. } => "PaymentVoided",
            PaymentEvent::RefundRequested { .. } => "RefundRequested",
            PaymentEvent::PaymentRefunded { .. } => "PaymentRefunded",
            PaymentEvent::RefundFailed { .. } => "RefundFailed",
            PaymentEvent::ProviderEventReceived { .. } => "ProviderEventReceived",
            PaymentEvent::DisputeOpened { .. } => "DisputeOpened",
            PaymentEvent::DisputeClosed { .. } => "DisputeClosed",
        }
    }
}

/// Where a payment is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// No `PaymentStarted` yet.
    #[default]
    New,
    /// Started; the provider has not answered yet (or its answer was lost: retry with the
    /// same idempotency key).
    Authorizing,
    RequiresAction,
    Authorized,
    Captured,
    /// Captured and refunded in part.
    PartiallyRefunded,
    /// Captured and refunded in full.
    Refunded,
    Voided,
    Declined,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(1_750_000_000)
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::EUR)
    }

    /// One command of every kind, in `NAMES` order, with every optional field set.
    fn every_command() -> Vec<PaymentCommand> {
        let now = now();
        vec![
            PaymentCommand::Start {
                order_id: "o-1".into(),
                amount: eur(1000),
                payment_method: "pm_card_visa".into(),
                now,
            },
            PaymentCommand::RecordAuthorization {
                outcome: AuthorizationOutcome::RequiresAction {
                    provider_ref: "pi_1".into(),
                    client_secret: Some("pi_1_secret".into()),
                },
                now,
            },
            PaymentCommand::RecordFailure {
                code: "timeout".into(),
                now,
            },
            PaymentCommand::RecordCapture {
                amount: eur(1000),
                now,
            },
            PaymentCommand::RecordVoid { now },
            PaymentCommand::RequestRefund {
                refund_id: "r-1".into(),
                amount: Some(eur(100)),
                line: None,
                now,
            },
            PaymentCommand::RecordRefund {
                refund_id: "r-1".into(),
                now,
            },
            PaymentCommand::RecordRefundFailure {
                refund_id: "r-1".into(),
                code: "insufficient_funds".into(),
                now,
            },
            PaymentCommand::ApplyProviderEvent {
                event_id: "evt_1".into(),
                provider_ref: Some("pi_1".into()),
                kind: ProviderEventKind::Refunded {
                    refund_id: "r-1".into(),
                    amount_minor: 100,
                },
                now,
            },
        ]
    }

    #[test]
    fn command_names_are_their_serde_tags_and_every_command_round_trips() {
        let all = every_command();
        assert_eq!(
            all.len(),
            <PaymentCommand as strum::VariantNames>::VARIANTS.len()
        );
        for (command, name) in all
            .iter()
            .zip(<PaymentCommand as strum::VariantNames>::VARIANTS)
        {
            let value = serde_json::to_value(command).expect("serializes");
            let object = value.as_object().expect("externally tagged");
            assert_eq!(object.keys().collect::<Vec<_>>(), vec![*name], "{value}");
            assert_eq!(<&'static str>::from(command), *name);
            let back: PaymentCommand = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, *command);
        }
    }

    #[test]
    fn commands_arrive_in_their_wire_form() {
        let command: PaymentCommand = serde_json::from_value(json!({"record_capture": {
            "amount": {"amount_minor": 1000, "currency": "EUR"},
            "now": "2025-06-15T15:06:40Z"
        }}))
        .expect("parses");
        assert_eq!(
            command,
            PaymentCommand::RecordCapture {
                amount: eur(1000),
                now: now(),
            }
        );
        let command: PaymentCommand = serde_json::from_value(json!({"record_authorization": {
            "outcome": {"result": "requires_action", "provider_ref": "pi_1"},
            "now": "2025-06-15T15:06:40Z"
        }}))
        .expect("parses");
        assert_eq!(
            command,
            PaymentCommand::RecordAuthorization {
                outcome: AuthorizationOutcome::RequiresAction {
                    provider_ref: "pi_1".into(),
                    client_secret: None,
                },
                now: now(),
            }
        );
        let command: PaymentCommand = serde_json::from_value(json!({"apply_provider_event": {
            "event_id": "evt_1",
            "kind": {"kind": "captured", "amount_minor": 1000},
            "now": "2025-06-15T15:06:40Z"
        }}))
        .expect("parses");
        assert_eq!(
            command,
            PaymentCommand::ApplyProviderEvent {
                event_id: "evt_1".into(),
                provider_ref: None,
                kind: ProviderEventKind::Captured { amount_minor: 1000 },
                now: now(),
            }
        );
    }

    #[test]
    fn unknown_fields_and_commands_are_rejected() {
        let rejected = [
            json!({"record_void": {"now": "2025-06-15T15:06:40Z", "force": true}}),
            json!({"record_capture": {
                "amount": {"amount_minor": 1, "currency": "EUR"},
                "now": "2025-06-15T15:06:40Z",
                "final": true
            }}),
            json!({"record_authorization": {
                "outcome": {"result": "authorized", "provider_ref": "pi_1", "risk": 3},
                "now": "2025-06-15T15:06:40Z"
            }}),
            json!({"apply_provider_event": {
                "event_id": "evt_1",
                // Serde cannot refuse extra fields beside the tag of a unit variant
                // (`authorized`, `canceled`); variants with fields are strict.
                "kind": {"kind": "failed", "code": "expired", "reason": "fraud"},
                "now": "2025-06-15T15:06:40Z"
            }}),
            json!({"capture_twice": {"now": "2025-06-15T15:06:40Z"}}),
            // Time is never optional.
            json!({"record_void": {}}),
            json!({"record_capture": {
                "amount": {"amount_minor": 1, "currency": "eur"},
                "now": "2025-06-15T15:06:40Z"
            }}),
        ];
        for value in rejected {
            assert!(
                serde_json::from_value::<PaymentCommand>(value.clone()).is_err(),
                "{value}"
            );
        }
    }

    #[test]
    fn events_round_trip_under_their_type_names() {
        let events = [
            PaymentEvent::PaymentCaptured {
                amount: eur(1000),
                at: now(),
            },
            PaymentEvent::ProviderEventReceived {
                event_id: "evt_1".into(),
                provider_ref: None,
                kind: ProviderEventKind::Other {
                    provider_type: "charge.dispute.created".into(),
                },
                at: now(),
            },
        ];
        for event in events {
            let value = serde_json::to_value(&event).expect("serializes");
            assert!(value.get(event.event_type()).is_some(), "{value}");
            let back: PaymentEvent = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, event);
        }
    }
}

/// Units of one order line that a refund gives back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundUnits {
    pub sku: agora_kernel::Sku,
    pub quantity: i64,
}

/// A line refund with the order's facts about its line: what the shopper paid for the whole
/// line (after its discount, with its tax) over how many units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineShare {
    pub units: RefundUnits,
    pub line_paid: Money,
    pub line_units: i64,
}

/// What `share.units` may give back after the units of that line already refunded (pending or
/// succeeded): their share of `line_paid` as `agora_promotion::prorate` counts it, so that
/// refunding every unit in any steps gives back exactly what the line cost, never more.
pub fn line_share<'a>(
    refunded: impl IntoIterator<Item = &'a RefundUnits>,
    share: &LineShare,
) -> Result<Money, crate::PaymentError> {
    let already: i64 = refunded
        .into_iter()
        .filter(|u| u.sku == share.units.sku)
        .map(|u| u.quantity)
        .sum();
    agora_promotion::prorate(
        share.line_paid,
        share.line_units,
        already,
        share.units.quantity,
    )
    .map_err(|_| crate::PaymentError::InvalidRefundLine)
}

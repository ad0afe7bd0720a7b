use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why stock on hand was corrected by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustReason {
    /// Units were damaged and can no longer be sold (a decrease).
    Damaged,
    /// Units went missing (a decrease).
    Lost,
    /// Units turned up (an increase).
    Found,
    /// A physical count disagreed with the books (either way).
    Recount,
    /// An earlier entry was wrong (either way).
    Correction,
}

/// Commands on the stock of one SKU (the stream id). Every command whose outcome or record
/// depends on time carries `now`: `decide` never reads a clock. Each variant name is also the
/// NATS endpoint name (`agora.stock.<name>`); see [`StockCommand::NAMES`].
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StockCommand {
    /// Goods arrived: on hand grows by `quantity`.
    Receive {
        quantity: i64,
        #[serde(default)]
        reason: Option<String>,
        now: DateTime<Utc>,
    },
    /// A manual correction of on hand; it may not take on hand below what is reserved.
    Adjust {
        delta: i64,
        reason: AdjustReason,
        #[serde(default)]
        note: Option<String>,
        now: DateTime<Utc>,
    },
    SetThreshold {
        threshold: i64,
    },
    /// Holds `quantity` units for an order until `expires_at`. Reservations due at `now` are
    /// expired first, so their units count as available. If the stock is still insufficient the
    /// command fails and records nothing, expiries included: those are left to `ExpireDue`.
    Reserve {
        reservation_id: String,
        quantity: i64,
        expires_at: DateTime<Utc>,
        order_ref: String,
        now: DateTime<Utc>,
    },
    /// `Reserve`, but an open reservation of the same quantity is extended to `expires_at`
    /// when that is later: the checkout holds its units this way once the payment is
    /// authorized, so they cannot expire before the capture. A reservation that already lapsed
    /// is reserved again, if the units are still there (else `InsufficientStock`).
    Hold {
        reservation_id: String,
        quantity: i64,
        expires_at: DateTime<Utc>,
        order_ref: String,
        now: DateTime<Utc>,
    },
    /// Gives the units of a reservation back; an unknown id is a no-op, so compensations can be
    /// retried freely.
    Release {
        reservation_id: String,
    },
    /// The sale: the reserved units leave on hand. Committing an id that was just committed is
    /// a no-op. A reservation past its expiry but not yet expired can still be committed.
    Commit {
        reservation_id: String,
    },
    /// Expires every reservation due at `now`; the runtime sends it periodically.
    ExpireDue {
        now: DateTime<Utc>,
    },
    /// Gives back exactly what a reservation took: an open one is released, a committed one
    /// (a sale cancelled afterwards) goes back on hand, once. Unknown (never taken, expired,
    /// or committed too long ago to be remembered) is `UnknownReservation`.
    ReturnReservation {
        reservation_id: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Command as _;
    use serde_json::json;

    #[test]
    fn command_names_are_their_serde_tags() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let all = [
            StockCommand::Receive {
                quantity: 1,
                reason: None,
                now,
            },
            StockCommand::Adjust {
                delta: -1,
                reason: AdjustReason::Damaged,
                note: None,
                now,
            },
            StockCommand::SetThreshold { threshold: 1 },
            StockCommand::Reserve {
                reservation_id: "r".into(),
                quantity: 1,
                expires_at: now,
                order_ref: "o".into(),
                now,
            },
            StockCommand::Hold {
                reservation_id: "r".into(),
                quantity: 1,
                expires_at: now,
                order_ref: "o".into(),
                now,
            },
            StockCommand::Release {
                reservation_id: "r".into(),
            },
            StockCommand::Commit {
                reservation_id: "r".into(),
            },
            StockCommand::ExpireDue { now },
            StockCommand::ReturnReservation {
                reservation_id: "r".into(),
            },
        ];
        assert_eq!(all.len(), StockCommand::NAMES.len());
        for (command, name) in all.iter().zip(StockCommand::NAMES) {
            let value = serde_json::to_value(command).expect("serializes");
            assert!(value.get(name).is_some(), "{value}");
            assert_eq!(command.name(), *name);
            let back: StockCommand = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, *command);
        }
    }

    #[test]
    fn commands_arrive_in_their_wire_form() {
        let command: StockCommand = serde_json::from_value(json!({"adjust": {
            "delta": -2, "reason": "damaged", "now": "2025-01-02T03:04:05Z"
        }}))
        .expect("parses");
        assert!(matches!(
            command,
            StockCommand::Adjust {
                delta: -2,
                reason: AdjustReason::Damaged,
                note: None,
                ..
            }
        ));
    }

    #[test]
    fn unknown_fields_and_reasons_are_rejected() {
        assert!(serde_json::from_value::<StockCommand>(
            json!({"release": {"reservation_id": "r", "force": true}})
        )
        .is_err());
        assert!(serde_json::from_value::<StockCommand>(json!({"adjust": {
            "delta": -2, "reason": "stolen", "now": "2025-01-02T03:04:05Z"
        }}))
        .is_err());
        // Time is never optional where it matters.
        assert!(serde_json::from_value::<StockCommand>(json!({"expire_due": {}})).is_err());
    }
}

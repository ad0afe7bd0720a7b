use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AdjustReason;

/// Facts about the stock of one SKU. A published contract: variants and fields are never
/// renamed; a change of shape gets a new event version and an upcaster.
///
/// Two families share the stream:
/// - movements (`StockReceived` … `ReservationExpired`), which change the state;
/// - signals (`LowStock`, `OutOfStock`, `BackInStock`), which `decide` appends after the
///   movements of one command when they make availability cross a boundary. Signals change no
///   state; they exist so that alerting and the storefront can subscribe to crossings instead
///   of recomputing them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockEvent {
    StockReceived {
        quantity: i64,
        reason: Option<String>,
        on_hand_after: i64,
        /// The `now` of the command.
        received_at: DateTime<Utc>,
    },
    StockAdjusted {
        delta: i64,
        reason: AdjustReason,
        note: Option<String>,
        on_hand_after: i64,
        /// The `now` of the command.
        adjusted_at: DateTime<Utc>,
    },
    ThresholdSet {
        threshold: i64,
    },
    StockReserved {
        reservation_id: String,
        quantity: i64,
        expires_at: DateTime<Utc>,
        order_ref: String,
    },
    ReservationReleased {
        reservation_id: String,
        quantity: i64,
    },
    ReservationCommitted {
        reservation_id: String,
        quantity: i64,
        on_hand_after: i64,
    },
    ReservationExpired {
        reservation_id: String,
        quantity: i64,
    },
    /// An open reservation now lasts until `expires_at` (later than before).
    ReservationExtended {
        reservation_id: String,
        expires_at: DateTime<Utc>,
    },
    /// A committed reservation's units came back on hand (its order was cancelled).
    ReservationReturned {
        reservation_id: String,
        quantity: i64,
        on_hand_after: i64,
    },
    /// Availability fell from above the threshold to at or below it, and is still above zero.
    LowStock {
        available: i64,
        threshold: i64,
    },
    /// Availability fell to zero.
    OutOfStock {},
    /// Availability rose from zero (including the first receipt of a SKU).
    BackInStock {
        available: i64,
    },
}

impl StockEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            StockEvent::StockReceived { .. } => "StockReceived",
            StockEvent::StockAdjusted { .. } => "StockAdjusted",
            StockEvent::ThresholdSet { .. } => "ThresholdSet",
            StockEvent::StockReserved { .. } => "StockReserved",
            StockEvent::ReservationReleased { .. } => "ReservationReleased",
            StockEvent::ReservationCommitted { .. } => "ReservationCommitted",
            StockEvent::ReservationExpired { .. } => "ReservationExpired",
            StockEvent::ReservationExtended { .. } => "ReservationExtended",
            StockEvent::ReservationReturned { .. } => "ReservationReturned",
            StockEvent::LowStock { .. } => "LowStock",
            StockEvent::OutOfStock { .. } => "OutOfStock",
            StockEvent::BackInStock { .. } => "BackInStock",
        }
    }

    /// Whether this is a threshold-crossing signal rather than a movement.
    pub fn is_signal(&self) -> bool {
        matches!(
            self,
            StockEvent::LowStock { .. }
                | StockEvent::OutOfStock {}
                | StockEvent::BackInStock { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_type_is_the_serde_tag() {
        let events = [
            StockEvent::StockAdjusted {
                delta: -1,
                reason: AdjustReason::Lost,
                note: Some("n".into()),
                on_hand_after: 4,
                adjusted_at: DateTime::<Utc>::UNIX_EPOCH,
            },
            StockEvent::OutOfStock {},
            StockEvent::LowStock {
                available: 1,
                threshold: 5,
            },
        ];
        for event in events {
            let value = serde_json::to_value(&event).expect("serializes");
            assert!(value.get(event.event_type()).is_some(), "{value}");
            let back: StockEvent = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, event);
        }
    }
}

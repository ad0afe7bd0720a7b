use agora_kernel::{Money, Sku};
use agora_order::OrderOwner;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Disposition, ReceivedLine, ReturnLine};

/// Facts about a return. A published contract: variants and fields are never renamed; a
/// change of shape gets a new event version and an upcaster. Every event carries the `now` of
/// the command that caused it as `at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReturnEvent {
    /// The return was opened for units of the order's lines. `owner` is the order's owner; a
    /// guest is recorded by the SHA-256 of their token, never the token.
    ReturnRequested {
        order_id: String,
        owner: OrderOwner,
        lines: Vec<ReturnLine>,
        at: DateTime<Utc>,
    },
    ReturnApproved {
        at: DateTime<Utc>,
    },
    ReturnRejected {
        reason: String,
        at: DateTime<Utc>,
    },
    ReturnCancelled {
        at: DateTime<Utc>,
    },
    /// The units that arrived, one entry per SKU; requested units missing here are not
    /// refunded.
    ReturnReceived {
        lines: Vec<ReceivedLine>,
        at: DateTime<Utc>,
    },
    /// The received units of `sku` were restocked or written off, as `disposition` says.
    ReturnStockMoved {
        sku: Sku,
        quantity: i64,
        disposition: Disposition,
        at: DateTime<Utc>,
    },
    ReturnLineRefunded {
        sku: Sku,
        refund_id: String,
        amount: Money,
        at: DateTime<Utc>,
    },
    ReturnShippingRefunded {
        refund_id: String,
        amount: Money,
        at: DateTime<Utc>,
    },
    /// A refund failed at the provider (`sku` absent: the shipping refund). It changes no
    /// status: the runner retries.
    ReturnRefundFailed {
        sku: Option<Sku>,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Every received line was moved and refunded. `refunded` is the sum of the line refunds
    /// and the shipping refund. Recorded by `decide` in the batch of the last line step.
    ReturnClosed {
        refunded: Money,
        at: DateTime<Utc>,
    },
}

impl ReturnEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            ReturnEvent::ReturnRequested { .. } => "ReturnRequested",
            ReturnEvent::ReturnApproved { .. } => "ReturnApproved",
            ReturnEvent::ReturnRejected { .. } => "ReturnRejected",
            ReturnEvent::ReturnCancelled { .. } => "ReturnCancelled",
            ReturnEvent::ReturnReceived { .. } => "ReturnReceived",
            ReturnEvent::ReturnStockMoved { .. } => "ReturnStockMoved",
            ReturnEvent::ReturnLineRefunded { .. } => "ReturnLineRefunded",
            ReturnEvent::ReturnShippingRefunded { .. } => "ReturnShippingRefunded",
            ReturnEvent::ReturnRefundFailed { .. } => "ReturnRefundFailed",
            ReturnEvent::ReturnClosed { .. } => "ReturnClosed",
        }
    }

    /// The moment the event records.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ReturnEvent::ReturnRequested { at, .. }
            | ReturnEvent::ReturnApproved { at }
            | ReturnEvent::ReturnRejected { at, .. }
            | ReturnEvent::ReturnCancelled { at }
            | ReturnEvent::ReturnReceived { at, .. }
            | ReturnEvent::ReturnStockMoved { at, .. }
            | ReturnEvent::ReturnLineRefunded { at, .. }
            | ReturnEvent::ReturnShippingRefunded { at, .. }
            | ReturnEvent::ReturnRefundFailed { at, .. }
            | ReturnEvent::ReturnClosed { at, .. } => *at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;

    #[test]
    fn the_event_type_is_the_serde_tag() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let sku = Sku::parse("TEE-M").expect("valid sku");
        let eur = Money::new(1200, Currency::EUR);
        let events = [
            ReturnEvent::ReturnRequested {
                order_id: "o".into(),
                owner: OrderOwner::Guest {
                    token_sha256: "ab".into(),
                },
                lines: vec![ReturnLine {
                    sku: sku.clone(),
                    title: "Tee".into(),
                    quantity: 1,
                    reason: crate::ReturnReason::Damaged,
                    note: None,
                    vendor_id: Some("acme".into()),
                }],
                at,
            },
            ReturnEvent::ReturnApproved { at },
            ReturnEvent::ReturnRejected {
                reason: "worn".into(),
                at,
            },
            ReturnEvent::ReturnCancelled { at },
            ReturnEvent::ReturnReceived {
                lines: vec![ReceivedLine {
                    sku: sku.clone(),
                    quantity: 1,
                    disposition: Disposition::Restock,
                }],
                at,
            },
            ReturnEvent::ReturnStockMoved {
                sku: sku.clone(),
                quantity: 1,
                disposition: Disposition::Restock,
                at,
            },
            ReturnEvent::ReturnLineRefunded {
                sku: sku.clone(),
                refund_id: "re_1".into(),
                amount: eur,
                at,
            },
            ReturnEvent::ReturnShippingRefunded {
                refund_id: "re_2".into(),
                amount: eur,
                at,
            },
            ReturnEvent::ReturnRefundFailed {
                sku: None,
                reason: "declined".into(),
                at,
            },
            ReturnEvent::ReturnClosed { refunded: eur, at },
        ];
        for event in events {
            let value = serde_json::to_value(&event).expect("serializes");
            assert!(value.get(event.event_type()).is_some(), "{value}");
            assert_eq!(event.at(), at);
            let back: ReturnEvent = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, event);
        }
    }
}

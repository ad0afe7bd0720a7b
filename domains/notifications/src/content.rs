//! What a notification says, before it is rendered, and which facts cause one.

use agora_inventory::StockEvent;
use agora_kernel::Money;
use agora_order::{CancelReason, OrderEvent, OrderStatus, OrderView, ParcelStatus};
use chrono::{DateTime, Utc};

use crate::Kind;

/// What changed about an order that the shopper should hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderUpdate {
    Placed,
    Confirmed,
    Cancelled {
        reason: CancelReason,
    },
    Shipped {
        carrier: String,
        tracking_number: String,
    },
    Delivered,
    Refunded {
        amount: Money,
        total_refunded: Money,
    },
    /// One parcel moved on; `order_status` is the order's status after it.
    Parcel {
        status: ParcelStatus,
        carrier: Option<String>,
        tracking_number: Option<String>,
        tracking_url: Option<String>,
        order_status: OrderStatus,
    },
}

/// Which order events tell the shopper something, and what.
///
/// - `OrderPlaced` says nothing: the confirmation follows within a second when the payment is
///   authorized, and a declined payment would otherwise mail "thank you" and then "cancelled".
/// - `OrderConfirmed` is the order confirmation.
/// - `OrderCancelled` is told only for an order the shopper was told was confirmed (a checkout
///   that failed already told the shopper at the checkout), or when the shopper or staff
///   cancelled it.
/// - the payment and stock steps in between are internal.
pub fn order_update(event: &OrderEvent) -> Option<OrderUpdate> {
    match event {
        OrderEvent::OrderConfirmed { .. } => Some(OrderUpdate::Confirmed),
        OrderEvent::OrderCancelled {
            reason,
            from_status,
            ..
        } => {
            let told = *from_status >= OrderStatus::Confirmed
                || matches!(reason, CancelReason::CustomerRequest | CancelReason::Staff);
            told.then_some(OrderUpdate::Cancelled { reason: *reason })
        }
        OrderEvent::OrderShipped {
            carrier,
            tracking_number,
            ..
        } => Some(OrderUpdate::Shipped {
            carrier: carrier.clone(),
            tracking_number: tracking_number.clone(),
        }),
        OrderEvent::OrderDelivered { .. } => Some(OrderUpdate::Delivered),
        OrderEvent::OrderRefunded {
            amount,
            total_refunded,
            ..
        } => Some(OrderUpdate::Refunded {
            amount: *amount,
            total_refunded: *total_refunded,
        }),
        // Each change of a parcel's status is one event, so one mail.
        OrderEvent::OrderParcelUpdated {
            status,
            carrier,
            tracking_number,
            tracking_url,
            order_status,
            ..
        } => (*status != ParcelStatus::Packing).then(|| OrderUpdate::Parcel {
            status: *status,
            carrier: carrier.clone(),
            tracking_number: tracking_number.clone(),
            tracking_url: tracking_url.clone(),
            order_status: *order_status,
        }),
        OrderEvent::OrderPlaced { .. }
        | OrderEvent::OrderStockReserved { .. }
        | OrderEvent::OrderPaymentAuthorized { .. }
        | OrderEvent::OrderPaymentCaptured { .. }
        | OrderEvent::OrderParcelAllocated { .. }
        | OrderEvent::OrderParcelReleased { .. }
        | OrderEvent::OrderReturnOpened { .. }
        | OrderEvent::OrderReturnReleased { .. }
        // A dispute is between the shopper's bank and the shop: nothing to tell the shopper.
        | OrderEvent::OrderDisputeOpened { .. }
        | OrderEvent::OrderDisputeClosed { .. } => None,
    }
}

/// A stock signal someone is told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StockSignal {
    Low { available: i64, threshold: i64 },
    BackInStock { available: i64 },
}

/// `LowStock` goes to staff, `BackInStock` to the SKU's subscribers; nothing else does.
/// (`OutOfStock` needs no mail: the storefront shows it, and a low-stock alert came first.)
pub fn stock_signal(event: &StockEvent) -> Option<StockSignal> {
    match event {
        StockEvent::LowStock {
            available,
            threshold,
        } => Some(StockSignal::Low {
            available: *available,
            threshold: *threshold,
        }),
        StockEvent::BackInStock { available } => Some(StockSignal::BackInStock {
            available: *available,
        }),
        _ => None,
    }
}

/// One order line as a message shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineSummary {
    pub title: String,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub line_total: Money,
}

/// An order update with what the message needs to show of the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderNotice {
    pub order_id: String,
    pub customer_name: String,
    pub update: OrderUpdate,
    pub lines: Vec<LineSummary>,
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
}

impl OrderNotice {
    /// The notice of `update` for the order as `view` shows it (the view at the event's
    /// sequence, so a replay renders the same message).
    pub fn from_view(view: &OrderView, update: OrderUpdate) -> OrderNotice {
        OrderNotice {
            order_id: view.id.clone(),
            customer_name: view.shipping_address.name.clone(),
            update,
            lines: view
                .lines
                .iter()
                .map(|l| LineSummary {
                    title: l.title.clone(),
                    sku: l.sku.to_string(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    line_total: l.line_total,
                })
                .collect(),
            subtotal: view.subtotal,
            shipping: view.shipping,
            tax: view.tax,
            total: view.total,
        }
    }
}

/// An account mail: the link carries a one-time token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Everything one notification can say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Order(OrderNotice),
    EmailVerification(AccountLink),
    PasswordReset(AccountLink),
    LowStock {
        sku: String,
        available: i64,
        threshold: i64,
    },
    BackInStock {
        sku: String,
        product_title: String,
        product_url: String,
    },
    /// The double opt-in of back-in-stock mail: the link confirms the address.
    BackInStockConfirmation(AccountLink),
}

impl Content {
    pub fn kind(&self) -> Kind {
        match self {
            Content::Order(n) => match n.update {
                OrderUpdate::Placed => Kind::OrderPlaced,
                OrderUpdate::Confirmed => Kind::OrderConfirmed,
                OrderUpdate::Cancelled { .. } => Kind::OrderCancelled,
                OrderUpdate::Shipped { .. } => Kind::OrderShipped,
                OrderUpdate::Delivered => Kind::OrderDelivered,
                OrderUpdate::Refunded { .. } => Kind::OrderRefunded,
                OrderUpdate::Parcel { .. } => Kind::ParcelUpdate,
            },
            Content::EmailVerification(_) => Kind::EmailVerification,
            Content::PasswordReset(_) => Kind::PasswordReset,
            Content::LowStock { .. } => Kind::LowStock,
            Content::BackInStock { .. } => Kind::BackInStock,
            Content::BackInStockConfirmation(_) => Kind::BackInStockConfirmation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;

    fn at() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    fn cancelled(reason: CancelReason, from_status: OrderStatus) -> OrderEvent {
        OrderEvent::OrderCancelled {
            reason,
            note: None,
            from_status,
            at: at(),
        }
    }

    #[test]
    fn the_confirmation_is_sent_on_confirmed_not_on_placed() {
        assert_eq!(
            order_update(&OrderEvent::OrderConfirmed { at: at() }),
            Some(OrderUpdate::Confirmed)
        );
        assert_eq!(
            order_update(&OrderEvent::OrderStockReserved { at: at() }),
            None
        );
        assert_eq!(
            order_update(&OrderEvent::OrderPaymentCaptured {
                amount: Money::new(1, Currency::EUR),
                at: at()
            }),
            None
        );
    }

    #[test]
    fn a_failed_checkout_is_not_mailed_as_a_cancellation() {
        assert_eq!(
            order_update(&cancelled(
                CancelReason::PaymentDeclined,
                OrderStatus::StockReserved
            )),
            None
        );
        assert_eq!(
            order_update(&cancelled(CancelReason::Staff, OrderStatus::Confirmed)),
            Some(OrderUpdate::Cancelled {
                reason: CancelReason::Staff
            })
        );
        assert_eq!(
            order_update(&cancelled(
                CancelReason::CustomerRequest,
                OrderStatus::Placed
            )),
            Some(OrderUpdate::Cancelled {
                reason: CancelReason::CustomerRequest
            })
        );
    }

    #[test]
    fn shipping_carries_carrier_and_tracking_number() {
        let update = order_update(&OrderEvent::OrderShipped {
            carrier: "DHL".into(),
            tracking_number: "JD0001".into(),
            at: at(),
        });
        assert_eq!(
            update,
            Some(OrderUpdate::Shipped {
                carrier: "DHL".into(),
                tracking_number: "JD0001".into()
            })
        );
    }

    #[test]
    fn only_low_and_back_in_stock_signals_notify() {
        assert_eq!(
            stock_signal(&StockEvent::LowStock {
                available: 2,
                threshold: 5
            }),
            Some(StockSignal::Low {
                available: 2,
                threshold: 5
            })
        );
        assert_eq!(
            stock_signal(&StockEvent::BackInStock { available: 3 }),
            Some(StockSignal::BackInStock { available: 3 })
        );
        assert_eq!(stock_signal(&StockEvent::OutOfStock {}), None);
        assert_eq!(
            stock_signal(&StockEvent::ThresholdSet { threshold: 1 }),
            None
        );
    }
}

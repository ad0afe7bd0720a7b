//! The order's wire contract: commands, events and their value types. Field and variant names
//! are published (events are stored forever; commands are NATS payloads): never rename them.

use agora_kernel::{Currency, CustomerId, Money, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who owns an order: the shopper who checked out. Never taken from the client: the checkout
/// copies it from the cart's owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrderOwner {
    /// A guest, identified by the SHA-256 of the cart token they checked out with.
    Guest { token_sha256: String },
    Customer { customer_id: CustomerId },
}

/// A postal address. `country` is an ISO 3166-1 alpha-2 code (`DE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    #[serde(default)]
    pub region: Option<String>,
    pub country: String,
    #[serde(default)]
    pub phone: Option<String>,
}

/// One line as frozen at checkout: the price comes from the catalog, never from the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub sku: Sku,
    pub product_id: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i64,
}

/// Why an order was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The shopper cancelled it before it shipped.
    CustomerRequest,
    /// Back-office staff cancelled it.
    Staff,
    /// Checkout could not reserve every line's stock.
    OutOfStock,
    /// The payment was declined.
    PaymentDeclined,
    /// The payment failed for another reason (provider error, capture failed).
    PaymentFailed,
    /// The shopper never completed the payment in time.
    Abandoned,
}

/// Commands on one order (stream id: the order id, a UUID). Every variant name is also the
/// NATS endpoint name (`agora.order.<name>`); see [`OrderCommand::NAMES`]. Commands that record
/// a moment carry `now`: `decide` reads no clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OrderCommand {
    /// Creates the order from a priced cart. Only the platform (the checkout) places orders.
    Place {
        owner: OrderOwner,
        cart_id: String,
        lines: Vec<OrderLine>,
        shipping_address: Address,
        email: String,
        /// The shipping charge, decided by the checkout's shipping rule.
        shipping: Money,
        /// Tax in basis points (2000 = 20 %) of subtotal plus shipping.
        tax_rate_bp: u32,
        now: DateTime<Utc>,
    },
    MarkStockReserved { now: DateTime<Utc> },
    MarkPaymentAuthorized { now: DateTime<Utc> },
    Confirm { now: DateTime<Utc> },
    /// The payment was captured (the saga's last step).
    RecordCapture { amount: Money, now: DateTime<Utc> },
    Ship {
        carrier: String,
        tracking_number: String,
        now: DateTime<Utc>,
    },
    MarkDelivered { now: DateTime<Utc> },
    Cancel {
        reason: CancelReason,
        #[serde(default)]
        note: Option<String>,
        now: DateTime<Utc>,
    },
    /// A refund went through at the payment provider.
    RecordRefund {
        refund_id: String,
        amount: Money,
        now: DateTime<Utc>,
    },
}

impl OrderCommand {
    /// Every command name, which is also its endpoint name.
    pub const NAMES: &'static [&'static str] = &[
        "place",
        "mark_stock_reserved",
        "mark_payment_authorized",
        "confirm",
        "record_capture",
        "ship",
        "mark_delivered",
        "cancel",
        "record_refund",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            OrderCommand::Place { .. } => "place",
            OrderCommand::MarkStockReserved { .. } => "mark_stock_reserved",
            OrderCommand::MarkPaymentAuthorized { .. } => "mark_payment_authorized",
            OrderCommand::Confirm { .. } => "confirm",
            OrderCommand::RecordCapture { .. } => "record_capture",
            OrderCommand::Ship { .. } => "ship",
            OrderCommand::MarkDelivered { .. } => "mark_delivered",
            OrderCommand::Cancel { .. } => "cancel",
            OrderCommand::RecordRefund { .. } => "record_refund",
        }
    }
}

/// Facts about an order. A published contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    OrderPlaced {
        owner: OrderOwner,
        cart_id: String,
        lines: Vec<OrderLine>,
        shipping_address: Address,
        email: String,
        currency: Currency,
        subtotal: Money,
        shipping: Money,
        tax_rate_bp: u32,
        tax: Money,
        total: Money,
        at: DateTime<Utc>,
    },
    OrderStockReserved {
        at: DateTime<Utc>,
    },
    OrderPaymentAuthorized {
        at: DateTime<Utc>,
    },
    OrderConfirmed {
        at: DateTime<Utc>,
    },
    OrderPaymentCaptured {
        amount: Money,
        at: DateTime<Utc>,
    },
    OrderShipped {
        carrier: String,
        tracking_number: String,
        at: DateTime<Utc>,
    },
    OrderDelivered {
        at: DateTime<Utc>,
    },
    OrderCancelled {
        reason: CancelReason,
        note: Option<String>,
        /// The status the order had when it was cancelled (`confirmed`...), so consumers know
        /// what to undo.
        from_status: OrderStatus,
        at: DateTime<Utc>,
    },
    OrderRefunded {
        refund_id: String,
        amount: Money,
        total_refunded: Money,
        at: DateTime<Utc>,
    },
}

impl OrderEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            OrderEvent::OrderPlaced { .. } => "OrderPlaced",
            OrderEvent::OrderStockReserved { .. } => "OrderStockReserved",
            OrderEvent::OrderPaymentAuthorized { .. } => "OrderPaymentAuthorized",
            OrderEvent::OrderConfirmed { .. } => "OrderConfirmed",
            OrderEvent::OrderPaymentCaptured { .. } => "OrderPaymentCaptured",
            OrderEvent::OrderShipped { .. } => "OrderShipped",
            OrderEvent::OrderDelivered { .. } => "OrderDelivered",
            OrderEvent::OrderCancelled { .. } => "OrderCancelled",
            OrderEvent::OrderRefunded { .. } => "OrderRefunded",
        }
    }
}

/// Where an order is in its life. `Placed → StockReserved → PaymentAuthorized → Confirmed →
/// Shipped → Delivered`; `Cancelled` from any state before `Shipped`; `Refunded` once the whole
/// captured amount was refunded (a partial refund keeps the status and grows `refunded`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// No `OrderPlaced` yet: the stream is empty.
    #[default]
    New,
    Placed,
    StockReserved,
    PaymentAuthorized,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Placed => "placed",
            OrderStatus::StockReserved => "stock_reserved",
            OrderStatus::PaymentAuthorized => "payment_authorized",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }
}

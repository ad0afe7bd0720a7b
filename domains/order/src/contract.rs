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
    Guest {
        token_sha256: String,
    },
    Customer {
        customer_id: CustomerId,
    },
}

/// The kernel's postal address (one shape everywhere).
pub use agora_kernel::Address;

/// One line as frozen at checkout: the price comes from the catalog, never from the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub sku: Sku,
    pub product_id: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i64,
    /// The marketplace vendor who sells the line (the product's `vendor_id`, copied by the
    /// checkout); `None` for the shop's own goods and in orders placed before vendors existed.
    /// The lines of one vendor form its sub-order, and that vendor's users see and pack only
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// The product's category when it was sold (copied by the checkout): what a vendor's
    /// commission rule for a category applies to, as it was at the sale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
}

/// How a dispute of the order's payment (a chargeback) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeOutcome {
    /// The shop won: the money came back.
    Won,
    /// The shopper's bank kept the money.
    Lost,
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

impl CancelReason {
    /// The wire name (`customer_request`), as serde writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            CancelReason::CustomerRequest => "customer_request",
            CancelReason::Staff => "staff",
            CancelReason::OutOfStock => "out_of_stock",
            CancelReason::PaymentDeclined => "payment_declined",
            CancelReason::PaymentFailed => "payment_failed",
            CancelReason::Abandoned => "abandoned",
        }
    }
}

/// Commands on one order (stream id: the order id, a UUID). Every variant name is also the
/// NATS endpoint name (`agora.order.<name>`); see [`OrderCommand::NAMES`]. Commands that record
/// a moment carry `now`: `decide` reads no clock.
/// One promotion applied to an order, as the pricing engine decided it at checkout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPromotion {
    /// The promotion's id (its stream id).
    pub promotion_id: String,
    pub name: String,
    /// The code the shopper entered for it; `None` for an automatic promotion.
    #[serde(default)]
    pub code: Option<String>,
    /// Taken off the items.
    pub discount: Money,
    /// Taken off the shipping fee.
    pub shipping_discount: Money,
}

/// What promotions took off an order, frozen when it is placed. The line discounts are in the
/// order of the order's lines and add up to the promotions' item discounts; what a line cost
/// the shopper is its total minus its discount, and a refund of it never gives back more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderDiscount {
    pub line_discounts: Vec<Money>,
    pub shipping_discount: Money,
    pub promotions: Vec<OrderPromotion>,
}

/// The shipping option the shopper chose at checkout, as the shop's settings offered it then
/// (its price is the order's `shipping`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderShippingOption {
    pub zone_id: String,
    pub option_id: String,
    pub name: String,
    /// `standard`, `express` or `pickup`.
    pub kind: String,
    /// The delivery estimate in days from dispatch.
    pub min_days: u16,
    pub max_days: u16,
}

/// The shipping a vendor that ships at its own rates charged for its lines of an order: its
/// option, chosen at checkout from the vendor's own shipping settings, and what it cost. It is
/// part of the order's `shipping` and is credited to the vendor, who ships those parcels.
/// Lines of the shop and of vendors without rates of their own ship at the shop's rates, for
/// the rest of `shipping`, which the shop keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorShipping {
    pub vendor_id: String,
    pub fee: Money,
    pub option: OrderShippingOption,
}

/// Units of one line of an order that a refund gives back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    pub sku: Sku,
    pub quantity: i64,
}

/// Units of one order line that a parcel carries or a return takes back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineUnits {
    pub sku: Sku,
    pub quantity: i64,
}

/// Where one parcel of an order is, as its shipment last said (the shipment's own stream has
/// every scan; the order keeps the latest, for the shopper and for the order's status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParcelStatus {
    /// Its units are set aside and being packed.
    Packing,
    /// Handed over to the carrier.
    Shipped,
    InTransit,
    OutForDelivery,
    Delivered,
    /// The carrier reported a problem (a failed delivery, a return to sender).
    Exception,
}

impl ParcelStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ParcelStatus::Packing => "packing",
            ParcelStatus::Shipped => "shipped",
            ParcelStatus::InTransit => "in_transit",
            ParcelStatus::OutForDelivery => "out_for_delivery",
            ParcelStatus::Delivered => "delivered",
            ParcelStatus::Exception => "exception",
        }
    }

    /// Whether the parcel has left the warehouse.
    pub fn dispatched(&self) -> bool {
        !matches!(self, ParcelStatus::Packing)
    }
}

/// The tax rule an order was taxed by, frozen when it is placed, so that a later change of
/// the shop's tax rules never changes a placed order: the jurisdiction whose rule applied
/// (no country: the rules' fallback), the goods' and shipping's rates, whether prices
/// include tax, and how the tax was rounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderTax {
    pub rate: agora_promotion::AppliedRate,
    pub rounding: agora_promotion::TaxRounding,
}

// `Place` dwarfs the other variants, but a command is decoded, decided and dropped, never
// stored in bulk; boxing its address would only make every constructor noisier.
#[allow(clippy::large_enum_variant)]
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
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
        /// Tax in basis points (2000 = 20 %) of subtotal plus shipping, after discounts; with a
        /// `tax_rule`, its goods' rate.
        tax_rate_bp: u32,
        /// The tax rule for the shipping address, as the checkout chose it from the shop's
        /// rules; absent, the order is taxed at `tax_rate_bp` on everything, rounded once
        /// (as before tax rules existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tax_rule: Option<OrderTax>,
        /// What promotions took off, as the checkout's pricing engine decided; absent when
        /// none applied (and in orders placed before promotions existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        discount: Option<OrderDiscount>,
        /// The shipping option chosen; absent when the shop has no shipping zones (one
        /// configured rate) and in orders placed before zones existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipping_option: Option<OrderShippingOption>,
        /// The part of `shipping` charged by vendors shipping at their own rates, one per such
        /// vendor of the lines; `shipping_option` is then the shop's rates' option, for the
        /// other lines (absent when every line ships at a vendor's rates).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        vendor_shipping: Vec<VendorShipping>,
        now: DateTime<Utc>,
    },
    MarkStockReserved {
        now: DateTime<Utc>,
    },
    MarkPaymentAuthorized {
        now: DateTime<Utc>,
    },
    /// The payment is authorized and the stock committed: the order is confirmed. From
    /// `stock_reserved` the authorization is recorded with it.
    Confirm {
        now: DateTime<Utc>,
    },
    /// The payment was captured (the saga's last step).
    RecordCapture {
        amount: Money,
        now: DateTime<Utc>,
    },
    Ship {
        carrier: String,
        tracking_number: String,
        now: DateTime<Utc>,
    },
    MarkDelivered {
        now: DateTime<Utc>,
    },
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
        /// The units the refund gives back, when it refunds part of one line: it may then give
        /// back at most what the shopper paid for those units (after the line's discount, with
        /// its tax). Absent: an amount against the order as a whole.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<RefundLine>,
        now: DateTime<Utc>,
    },
    /// The shopper's bank disputed the payment: the provider took `amount` back until the
    /// dispute is decided. Only the platform sends it (from the payment's facts). Recording a
    /// dispute id again records nothing.
    RecordDispute {
        dispute_id: String,
        amount: Money,
        reason: String,
        now: DateTime<Utc>,
    },
    /// The dispute was decided; closing a closed one records nothing.
    CloseDispute {
        dispute_id: String,
        outcome: DisputeOutcome,
        now: DateTime<Utc>,
    },
    /// Sets units aside for a parcel (`shipment_id`, the shipment's stream id) before it is
    /// created, so that no unit is ever packed twice. Repeating it with the same lines records
    /// nothing.
    AllocateParcel {
        shipment_id: String,
        lines: Vec<LineUnits>,
        now: DateTime<Utc>,
    },
    /// The parcel was cancelled while being packed: its units are free to ship again.
    ReleaseParcel {
        shipment_id: String,
        now: DateTime<Utc>,
    },
    /// What the parcel's shipment says now (the fulfilment workflow copies it over). A status
    /// already recorded, or one behind the parcel's (a late scan), records nothing.
    UpdateParcel {
        shipment_id: String,
        status: ParcelStatus,
        #[serde(default)]
        carrier: Option<String>,
        #[serde(default)]
        tracking_number: Option<String>,
        #[serde(default)]
        tracking_url: Option<String>,
        now: DateTime<Utc>,
    },
    /// Accepts a return of delivered units (`return_id`, the return's stream id) within
    /// `window_days` of their delivery. Only the platform sends it (the returns workflow).
    OpenReturn {
        return_id: String,
        lines: Vec<LineUnits>,
        window_days: u32,
        now: DateTime<Utc>,
    },
    /// The return was rejected or withdrawn: its units may be returned again.
    ReleaseReturn {
        return_id: String,
        now: DateTime<Utc>,
    },
}

/// Facts about an order. A published contract.
// As for commands: `OrderPlaced` is large, but events are folded one at a time.
#[allow(clippy::large_enum_variant)]
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
        /// The tax rule the order was taxed by. Added without a new version: absent in older
        /// events, taxed at `tax_rate_bp` on subtotal plus shipping and rounded once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tax_rule: Option<OrderTax>,
        tax: Money,
        total: Money,
        /// Added without a new version: absent in older events, which had no discounts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        discount: Option<OrderDiscount>,
        /// Added without a new version: absent in older events and without shipping zones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipping_option: Option<OrderShippingOption>,
        /// Added without a new version: absent in older events and when no vendor of the
        /// order ships at its own rates.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        vendor_shipping: Vec<VendorShipping>,
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
        /// The units given back. Added without a new version: absent in older events and in
        /// refunds of an amount.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<RefundLine>,
        at: DateTime<Utc>,
    },
    /// The payment was disputed: `amount` left the shop until the dispute is decided.
    OrderDisputeOpened {
        dispute_id: String,
        amount: Money,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The dispute was decided: won, `amount` came back; lost, it is charged back for good.
    OrderDisputeClosed {
        dispute_id: String,
        outcome: DisputeOutcome,
        amount: Money,
        at: DateTime<Utc>,
    },
    /// Units were set aside for a parcel.
    OrderParcelAllocated {
        shipment_id: String,
        lines: Vec<LineUnits>,
        at: DateTime<Utc>,
    },
    /// A parcel was cancelled before it left; its units may ship again.
    OrderParcelReleased {
        shipment_id: String,
        at: DateTime<Utc>,
    },
    /// A parcel moved on. `order_status` is the order's status after it (`partially_shipped`,
    /// `shipped`, `delivered`...), so a consumer needs no other event to tell the shopper.
    OrderParcelUpdated {
        shipment_id: String,
        status: ParcelStatus,
        carrier: Option<String>,
        tracking_number: Option<String>,
        tracking_url: Option<String>,
        order_status: OrderStatus,
        at: DateTime<Utc>,
    },
    /// A return of these units was accepted.
    OrderReturnOpened {
        return_id: String,
        lines: Vec<LineUnits>,
        at: DateTime<Utc>,
    },
    /// A return was rejected or withdrawn.
    OrderReturnReleased {
        return_id: String,
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
            OrderEvent::OrderDisputeOpened { .. } => "OrderDisputeOpened",
            OrderEvent::OrderDisputeClosed { .. } => "OrderDisputeClosed",
            OrderEvent::OrderParcelAllocated { .. } => "OrderParcelAllocated",
            OrderEvent::OrderParcelReleased { .. } => "OrderParcelReleased",
            OrderEvent::OrderParcelUpdated { .. } => "OrderParcelUpdated",
            OrderEvent::OrderReturnOpened { .. } => "OrderReturnOpened",
            OrderEvent::OrderReturnReleased { .. } => "OrderReturnReleased",
        }
    }
}

/// Where an order is in its life. `Placed → StockReserved → PaymentAuthorized → Confirmed →
/// Shipped → Delivered`, with `PartiallyShipped` between `Confirmed` and `Shipped` while only
/// some of its parcels left (once parcels are used, the status follows them); `Cancelled` from
/// any state before `Shipped` (and before any parcel is packed); `Refunded` once the whole
/// captured amount was refunded (a partial refund keeps the status and grows `refunded`).
/// Each sub-order of a marketplace order has a status too, by the same rule over its own
/// lines (see `SubOrderView::status`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// No `OrderPlaced` yet: the stream is empty.
    #[default]
    New,
    Placed,
    StockReserved,
    PaymentAuthorized,
    Confirmed,
    /// Some of its parcels left, not all of its units yet.
    PartiallyShipped,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    /// The checkout is still deciding the order: it is not confirmed or cancelled yet.
    pub fn in_checkout(&self) -> bool {
        matches!(
            self,
            OrderStatus::New
                | OrderStatus::Placed
                | OrderStatus::StockReserved
                | OrderStatus::PaymentAuthorized
        )
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Placed => "placed",
            OrderStatus::StockReserved => "stock_reserved",
            OrderStatus::PaymentAuthorized => "payment_authorized",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::PartiallyShipped => "partially_shipped",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Command as _;
    use serde_json::json;

    const NOW: &str = "2025-06-15T12:00:00Z";

    fn now() -> DateTime<Utc> {
        NOW.parse().expect("a valid instant")
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::EUR)
    }

    /// Every command in its wire form (the NATS payload) and as a value.
    fn wire_commands() -> Vec<(serde_json::Value, OrderCommand)> {
        vec![
            (
                json!({"place": {
                    "owner": {"kind": "guest", "token_sha256": "ab"},
                    "cart_id": "cart-1",
                    "lines": [{
                        "sku": "TEE-M",
                        "product_id": "p1",
                        "title": "Tee",
                        "unit_price": {"amount_minor": 1000, "currency": "EUR"},
                        "quantity": 2
                    }],
                    "shipping_address": {
                        "name": "Ada", "line1": "Main St 1", "line2": null, "city": "Berlin",
                        "postal_code": "10115", "region": null, "country": "DE", "phone": null
                    },
                    "email": "ada@example.com",
                    "shipping": {"amount_minor": 499, "currency": "EUR"},
                    "tax_rate_bp": 1900,
                    "now": NOW
                }}),
                OrderCommand::Place {
                    owner: OrderOwner::Guest {
                        token_sha256: "ab".into(),
                    },
                    cart_id: "cart-1".into(),
                    lines: vec![OrderLine {
                        sku: Sku::parse("TEE-M").expect("valid sku"),
                        product_id: "p1".into(),
                        title: "Tee".into(),
                        unit_price: eur(1000),
                        quantity: 2,
                        vendor_id: None,
                        category_id: None,
                    }],
                    shipping_address: Address {
                        name: "Ada".into(),
                        line1: "Main St 1".into(),
                        line2: None,
                        city: "Berlin".into(),
                        postal_code: "10115".into(),
                        region: None,
                        country: "DE".into(),
                        phone: None,
                    },
                    email: "ada@example.com".into(),
                    shipping: eur(499),
                    tax_rate_bp: 1900,
                    tax_rule: None,
                    discount: None,
                    shipping_option: None,
                    vendor_shipping: vec![],
                    now: now(),
                },
            ),
            (
                json!({"mark_stock_reserved": {"now": NOW}}),
                OrderCommand::MarkStockReserved { now: now() },
            ),
            (
                json!({"mark_payment_authorized": {"now": NOW}}),
                OrderCommand::MarkPaymentAuthorized { now: now() },
            ),
            (
                json!({"confirm": {"now": NOW}}),
                OrderCommand::Confirm { now: now() },
            ),
            (
                json!({"record_capture": {
                    "amount": {"amount_minor": 2499, "currency": "EUR"}, "now": NOW
                }}),
                OrderCommand::RecordCapture {
                    amount: eur(2499),
                    now: now(),
                },
            ),
            (
                json!({"ship": {"carrier": "DHL", "tracking_number": "00340434", "now": NOW}}),
                OrderCommand::Ship {
                    carrier: "DHL".into(),
                    tracking_number: "00340434".into(),
                    now: now(),
                },
            ),
            (
                json!({"mark_delivered": {"now": NOW}}),
                OrderCommand::MarkDelivered { now: now() },
            ),
            (
                json!({"cancel": {"reason": "customer_request", "note": "too late", "now": NOW}}),
                OrderCommand::Cancel {
                    reason: CancelReason::CustomerRequest,
                    note: Some("too late".into()),
                    now: now(),
                },
            ),
            (
                json!({"record_refund": {
                    "refund_id": "re_1",
                    "amount": {"amount_minor": 100, "currency": "EUR"},
                    "now": NOW
                }}),
                OrderCommand::RecordRefund {
                    refund_id: "re_1".into(),
                    amount: eur(100),
                    line: None,
                    now: now(),
                },
            ),
            (
                json!({"record_dispute": {
                    "dispute_id": "dp_1",
                    "amount": {"amount_minor": 100, "currency": "EUR"},
                    "reason": "fraudulent",
                    "now": NOW
                }}),
                OrderCommand::RecordDispute {
                    dispute_id: "dp_1".into(),
                    amount: eur(100),
                    reason: "fraudulent".into(),
                    now: now(),
                },
            ),
            (
                json!({"close_dispute": {"dispute_id": "dp_1", "outcome": "lost", "now": NOW}}),
                OrderCommand::CloseDispute {
                    dispute_id: "dp_1".into(),
                    outcome: DisputeOutcome::Lost,
                    now: now(),
                },
            ),
            (
                json!({"allocate_parcel": {
                    "shipment_id": "s1", "lines": [{"sku": "TEE-M", "quantity": 1}], "now": NOW
                }}),
                OrderCommand::AllocateParcel {
                    shipment_id: "s1".into(),
                    lines: vec![LineUnits {
                        sku: Sku::parse("TEE-M").expect("valid sku"),
                        quantity: 1,
                    }],
                    now: now(),
                },
            ),
            (
                json!({"release_parcel": {"shipment_id": "s1", "now": NOW}}),
                OrderCommand::ReleaseParcel {
                    shipment_id: "s1".into(),
                    now: now(),
                },
            ),
            (
                json!({"update_parcel": {
                    "shipment_id": "s1", "status": "out_for_delivery", "carrier": "DHL",
                    "tracking_number": "JD1", "tracking_url": null, "now": NOW
                }}),
                OrderCommand::UpdateParcel {
                    shipment_id: "s1".into(),
                    status: ParcelStatus::OutForDelivery,
                    carrier: Some("DHL".into()),
                    tracking_number: Some("JD1".into()),
                    tracking_url: None,
                    now: now(),
                },
            ),
            (
                json!({"open_return": {
                    "return_id": "r1", "lines": [{"sku": "TEE-M", "quantity": 1}],
                    "window_days": 30, "now": NOW
                }}),
                OrderCommand::OpenReturn {
                    return_id: "r1".into(),
                    lines: vec![LineUnits {
                        sku: Sku::parse("TEE-M").expect("valid sku"),
                        quantity: 1,
                    }],
                    window_days: 30,
                    now: now(),
                },
            ),
            (
                json!({"release_return": {"return_id": "r1", "now": NOW}}),
                OrderCommand::ReleaseReturn {
                    return_id: "r1".into(),
                    now: now(),
                },
            ),
        ]
    }

    #[test]
    fn every_command_round_trips_through_its_wire_form() {
        for (wire, command) in wire_commands() {
            let parsed: OrderCommand = serde_json::from_value(wire.clone()).expect("parses");
            assert_eq!(parsed, command);
            let mut written = serde_json::to_value(&command).expect("serializes");
            // `now` is written with sub-second precision; compare it as an instant.
            let name = command.name();
            let again: OrderCommand = serde_json::from_value(written.clone()).expect("parses");
            assert_eq!(again, command);
            written[name]["now"] = json!(NOW);
            assert_eq!(written, wire, "{name}");
        }
    }

    #[test]
    fn optional_fields_may_be_left_out() {
        let cancel: OrderCommand =
            serde_json::from_value(json!({"cancel": {"reason": "staff", "now": NOW}}))
                .expect("parses");
        assert_eq!(
            cancel,
            OrderCommand::Cancel {
                reason: CancelReason::Staff,
                note: None,
                now: now(),
            }
        );
        let address: Address = serde_json::from_value(json!({
            "name": "Ada", "line1": "Main St 1", "city": "Berlin",
            "postal_code": "10115", "country": "DE"
        }))
        .expect("parses");
        assert_eq!(
            (address.line2, address.region, address.phone),
            (None, None, None)
        );
    }

    #[test]
    fn a_line_names_its_vendor_on_the_wire_only_when_it_has_one() {
        let (mut wire, command) = wire_commands().remove(0);
        // Without a vendor the key is left out (as in every command written before vendors).
        assert!(wire["place"]["lines"][0].get("vendor_id").is_none());
        wire["place"]["lines"][0]["vendor_id"] = json!("acme");
        let parsed: OrderCommand = serde_json::from_value(wire.clone()).expect("parses");
        let OrderCommand::Place { lines, .. } = &parsed else {
            panic!("a place command: {parsed:?}");
        };
        assert_eq!(lines[0].vendor_id.as_deref(), Some("acme"));
        assert_ne!(parsed, command);
        let mut written = serde_json::to_value(&parsed).expect("serializes");
        written["place"]["now"] = json!(NOW);
        assert_eq!(written, wire);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        for (mut wire, command) in wire_commands() {
            let name = command.name();
            wire[name]["surprise"] = json!(1);
            assert!(
                serde_json::from_value::<OrderCommand>(wire).is_err(),
                "{name} accepted an unknown field"
            );
        }
        let (mut place, _) = wire_commands().remove(0);
        place["place"]["lines"][0]["discount"] = json!(5);
        assert!(serde_json::from_value::<OrderCommand>(place).is_err());
        let (mut place, _) = wire_commands().remove(0);
        place["place"]["shipping_address"]["floor"] = json!(3);
        assert!(serde_json::from_value::<OrderCommand>(place).is_err());
        assert!(serde_json::from_value::<OrderCommand>(json!({"teleport": {}})).is_err());
    }

    #[test]
    fn command_names_match_the_serde_tags() {
        let tags: Vec<String> = wire_commands()
            .iter()
            .map(|(_, command)| {
                let value = serde_json::to_value(command).expect("serializes");
                let object = value.as_object().expect("an externally tagged object");
                assert_eq!(object.len(), 1);
                let tag = object.keys().next().expect("one key").clone();
                assert_eq!(tag, command.name());
                tag
            })
            .collect();
        assert_eq!(tags, OrderCommand::NAMES);
    }

    #[test]
    fn cancel_reasons_and_statuses_name_themselves_as_serde_does() {
        for reason in [
            CancelReason::CustomerRequest,
            CancelReason::Staff,
            CancelReason::OutOfStock,
            CancelReason::PaymentDeclined,
            CancelReason::PaymentFailed,
            CancelReason::Abandoned,
        ] {
            assert_eq!(
                serde_json::to_value(reason).expect("serializes"),
                json!(reason.as_str())
            );
        }
        for status in [
            OrderStatus::New,
            OrderStatus::Placed,
            OrderStatus::StockReserved,
            OrderStatus::PaymentAuthorized,
            OrderStatus::Confirmed,
            OrderStatus::PartiallyShipped,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Cancelled,
            OrderStatus::Refunded,
        ] {
            assert_eq!(
                serde_json::to_value(status).expect("serializes"),
                json!(status.as_str())
            );
        }
    }
}

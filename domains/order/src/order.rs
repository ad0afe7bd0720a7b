use std::collections::{BTreeMap, BTreeSet, HashSet};

use agora_kernel::{Currency, CustomerId, Decider, Money, MoneyError, Principal, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use agora_promotion::TaxError;

use crate::{
    Address, CancelReason, DisputeOutcome, OrderCommand, OrderDiscount, OrderError, OrderEvent,
    OrderLine, OrderOwner, OrderPromotion, OrderShippingOption, OrderStatus, OrderTax, RefundLine,
    VendorShipping,
};

/// Most lines in one order.
pub const MAX_LINES: usize = 100;
/// Most units of one SKU in one order.
pub const MAX_QUANTITY: i64 = 99;
/// Largest unit price, in minor units (one million in a two-decimal currency).
pub const MAX_UNIT_PRICE: i64 = 100_000_000;
/// Largest shipping charge, in minor units.
pub const MAX_SHIPPING: i64 = 100_000_000;
/// Largest tax rate: 100 %.
pub const MAX_TAX_RATE_BP: u32 = 10_000;
/// Shortest email address (`a@b`).
pub const MIN_EMAIL_CHARS: usize = 3;
/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest address field (name, street lines, city, postal code, region).
pub const MAX_ADDRESS_FIELD_CHARS: usize = Address::MAX_FIELD_CHARS;
/// Longest phone number.
pub const MAX_PHONE_CHARS: usize = Address::MAX_PHONE_CHARS;
/// Longest line title.
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest product id, cart id and refund id.
pub const MAX_ID_CHARS: usize = 64;
/// Longest carrier name.
pub const MAX_CARRIER_CHARS: usize = 64;
/// Longest tracking number.
pub const MAX_TRACKING_CHARS: usize = 128;
/// Longest cancellation note.
pub const MAX_NOTE_CHARS: usize = 500;

/// What an order costs, all in one currency. `tax` is `tax_rate_bp` basis points of
/// `subtotal + shipping`, rounded half up to the minor unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub currency: Currency,
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
}

fn money_error(error: MoneyError) -> OrderError {
    match error {
        MoneyError::Overflow => OrderError::Overflow,
        MoneyError::CurrencyMismatch | MoneyError::InvalidCurrency => OrderError::CurrencyMismatch,
    }
}

/// The totals of `lines` plus `shipping` at `tax_rate_bp`: what `Place` records and what the
/// checkout charges. Only arithmetic is checked here (one currency, no overflow, a tax rate of
/// at most 100 %); `Place` validates the lines themselves.
pub fn totals(
    lines: &[OrderLine],
    shipping: Money,
    tax_rate_bp: u32,
) -> Result<Totals, OrderError> {
    if tax_rate_bp > MAX_TAX_RATE_BP {
        return Err(OrderError::InvalidTaxRate);
    }
    let currency = shipping.currency;
    let mut subtotal = Money::zero(currency);
    for line in lines {
        let line_total = line
            .unit_price
            .checked_mul(line.quantity)
            .map_err(money_error)?;
        subtotal = subtotal.checked_add(line_total).map_err(money_error)?;
    }
    let taxable = subtotal.checked_add(shipping).map_err(money_error)?;
    // In i128 the product cannot overflow; `div_euclid` floors, so adding half a unit first
    // rounds half up.
    let scaled = i128::from(taxable.amount_minor) * i128::from(tax_rate_bp);
    let tax =
        i64::try_from((scaled + 5_000).div_euclid(10_000)).map_err(|_| OrderError::Overflow)?;
    let tax = Money::new(tax, currency);
    let total = taxable.checked_add(tax).map_err(money_error)?;
    Ok(Totals {
        currency,
        subtotal,
        shipping,
        tax,
        total,
    })
}

/// What the shopper pays for each line and for shipping after `discount`, with the subtotal
/// (before discounts) and the items' discount. Checks that the discount fits the order: one
/// discount per line, none negative or above its line, the shipping discount within the
/// shipping fee, the promotions adding up to it, every amount in the order's currency.
struct Paid {
    subtotal: Money,
    off: Money,
    lines: Vec<Money>,
    shipping: Money,
}

fn paid(
    lines: &[OrderLine],
    shipping: Money,
    discount: Option<&OrderDiscount>,
) -> Result<Paid, OrderError> {
    let currency = shipping.currency;
    if discount.is_some_and(|d| d.line_discounts.len() != lines.len()) {
        return Err(OrderError::InvalidDiscount);
    }
    let mut subtotal = Money::zero(currency);
    let mut off = Money::zero(currency);
    let mut paid_lines = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let line_total = line
            .unit_price
            .checked_mul(line.quantity)
            .map_err(money_error)?;
        if line_total.currency != currency {
            return Err(OrderError::CurrencyMismatch);
        }
        let line_discount = discount.map_or(Money::zero(currency), |d| d.line_discounts[i]);
        if line_discount.currency != currency
            || line_discount.amount_minor < 0
            || line_discount.amount_minor > line_total.amount_minor
        {
            return Err(OrderError::InvalidDiscount);
        }
        subtotal = subtotal.checked_add(line_total).map_err(money_error)?;
        off = off.checked_add(line_discount).map_err(money_error)?;
        paid_lines.push(Money::new(
            line_total.amount_minor - line_discount.amount_minor,
            currency,
        ));
    }
    let shipping_off = discount.map_or(Money::zero(currency), |d| d.shipping_discount);
    if shipping_off.currency != currency
        || !(0..=shipping.amount_minor).contains(&shipping_off.amount_minor)
    {
        return Err(OrderError::InvalidDiscount);
    }
    if let Some(discount) = discount {
        let promoted = discount.promotions.iter().try_fold(
            (Money::zero(currency), Money::zero(currency)),
            |(items, ship), p| -> Result<(Money, Money), OrderError> {
                Ok((
                    items.checked_add(p.discount).map_err(money_error)?,
                    ship.checked_add(p.shipping_discount).map_err(money_error)?,
                ))
            },
        )?;
        if promoted != (off, shipping_off) {
            return Err(OrderError::InvalidDiscount);
        }
    }
    Ok(Paid {
        subtotal,
        off,
        lines: paid_lines,
        shipping: Money::new(shipping.amount_minor - shipping_off.amount_minor, currency),
    })
}

/// The totals of `lines` plus `shipping` at `tax_rate_bp` after `discount`: the subtotal is
/// before discounts; the tax is `tax_rate_bp` of what the shopper pays for the items and the
/// shipping (subtotal − item discounts + shipping − shipping discount), rounded half up once as
/// [`totals`] does; the total is that plus the tax. Checks that the discount fits the order
/// (see [`order_totals`]).
pub fn totals_discounted(
    lines: &[OrderLine],
    shipping: Money,
    tax_rate_bp: u32,
    discount: Option<&OrderDiscount>,
) -> Result<(Totals, Money), OrderError> {
    let Some(discount) = discount else {
        return Ok((
            totals(lines, shipping, tax_rate_bp)?,
            Money::zero(shipping.currency),
        ));
    };
    if tax_rate_bp > MAX_TAX_RATE_BP {
        return Err(OrderError::InvalidTaxRate);
    }
    let currency = shipping.currency;
    let paid = paid(lines, shipping, Some(discount))?;
    let taxable = paid
        .lines
        .iter()
        .try_fold(paid.shipping, |sum, line| sum.checked_add(*line))
        .map_err(money_error)?;
    let scaled = i128::from(taxable.amount_minor) * i128::from(tax_rate_bp);
    let tax =
        i64::try_from((scaled + 5_000).div_euclid(10_000)).map_err(|_| OrderError::Overflow)?;
    let tax = Money::new(tax, currency);
    let total = taxable.checked_add(tax).map_err(money_error)?;
    Ok((
        Totals {
            currency,
            subtotal: paid.subtotal,
            shipping,
            tax,
            total,
        },
        paid.off,
    ))
}

/// The totals of an order taxed by the rule it recorded (`tax`: its rate, whether prices
/// include tax, how shipping is taxed, the rounding), after `discount`. Tax is computed on
/// what the shopper pays for each line and for shipping (`agora_promotion::tax_at`). Prices
/// without tax: the total is what they pay plus the tax. Prices with tax: the tax is inside
/// them and the total is what they pay. Returns the totals and the items' discount; checks
/// that the discount fits the order: one discount per line, none negative or above its line,
/// the shipping discount within the shipping fee, every amount in the order's currency.
pub fn order_totals(
    lines: &[OrderLine],
    shipping: Money,
    tax: &OrderTax,
    discount: Option<&OrderDiscount>,
) -> Result<(Totals, Money), OrderError> {
    let paid = paid(lines, shipping, discount)?;
    let taxed = agora_promotion::tax_at(&tax.rate, tax.rounding, &paid.lines, paid.shipping)
        .map_err(|e| match e {
            TaxError::InvalidRate => OrderError::InvalidTaxRate,
            TaxError::CurrencyMismatch => OrderError::CurrencyMismatch,
            TaxError::NegativeAmount => OrderError::InvalidDiscount,
            _ => OrderError::Overflow,
        })?;
    Ok((
        Totals {
            currency: shipping.currency,
            subtotal: paid.subtotal,
            shipping,
            tax: taxed.tax,
            total: taxed.gross,
        },
        paid.off,
    ))
}

/// One step of an order's history, for people (the back office and the shopper's order page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// What happened, in snake case: `placed`, `stock_reserved`, `payment_authorized`,
    /// `confirmed`, `payment_captured`, `shipped`, `delivered`, `cancelled`, `refunded`.
    pub event: String,
    /// The status right after the event.
    pub status: OrderStatus,
    /// A detail: the carrier and tracking number, the cancellation reason, an amount as
    /// `1250 EUR` (minor units, never a float).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where a shipped order went with whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Why and when an order was cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub reason: CancelReason,
    pub note: Option<String>,
    pub from_status: OrderStatus,
    pub at: DateTime<Utc>,
}

/// What `Place` fixed; it never changes afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Placement {
    owner: OrderOwner,
    cart_id: String,
    lines: Vec<OrderLine>,
    shipping_address: Address,
    email: String,
    tax_rate_bp: u32,
    /// The tax rule the order was taxed by; absent in orders placed before tax rules, which
    /// were taxed at `tax_rate_bp` on subtotal plus shipping, rounded once.
    #[serde(default)]
    tax_rule: Option<OrderTax>,
    totals: Totals,
    #[serde(default)]
    discount: Option<OrderDiscount>,
    #[serde(default)]
    shipping_option: Option<OrderShippingOption>,
    #[serde(default)]
    vendor_shipping: Vec<VendorShipping>,
    placed_at: DateTime<Utc>,
}

/// The order's state, folded from its events.
///
/// Invariants (enforced by [`Order::decide`]): `status == New` exactly when nothing was
/// placed; `0 <= refunded <= captured`, and `captured` is zero or the order total; every
/// amount is in the order's currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    status: OrderStatus,
    /// `None` until `OrderPlaced`.
    placement: Option<Placement>,
    /// Minor units captured, in the order's currency.
    captured: i64,
    /// Minor units refunded so far, in the order's currency.
    refunded: i64,
    /// Every refund recorded, so that a retried `RecordRefund` records nothing.
    refund_ids: BTreeSet<String>,
    /// Units of each line given back by line refunds, so that the units of a line are
    /// refunded once and each refund of them gives back at most their share of what was paid.
    #[serde(default)]
    refunded_units: BTreeMap<Sku, i64>,
    shipment: Option<Shipment>,
    /// The order's parcels by shipment id (cancelled ones kept, marked released).
    #[serde(default)]
    parcels: BTreeMap<String, parcels::Parcel>,
    /// Returns accepted and not rejected or withdrawn, by return id.
    #[serde(default)]
    returns: BTreeMap<String, OrderReturn>,
    cancellation: Option<Cancellation>,
    updated_at: Option<DateTime<Utc>>,
    timeline: Vec<TimelineEntry>,
    /// Disputes of the payment (chargebacks), by the provider's dispute id.
    #[serde(default)]
    disputes: BTreeMap<String, OrderDispute>,
}

/// One dispute of the order's payment: `status` is `open`, `won` or `lost`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDispute {
    pub dispute_id: String,
    pub amount: Money,
    /// The provider's reason (`fraudulent`, `product_not_received`...).
    pub reason: String,
    /// `None` while open.
    pub outcome: Option<DisputeOutcome>,
    pub opened_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// One line as a shopper or the back office sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineView {
    pub sku: Sku,
    pub product_id: String,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i64,
    /// The vendor who sells the line; `None` for the shop's own goods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// The product's category when it was sold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
    pub line_total: Money,
    /// What promotions took off this line; `line_total − discount` is what it cost.
    pub discount: Money,
    /// What the shopper paid for the line: after its discount, with its tax. A refund of its
    /// units gives back at most their share of it.
    pub paid: Money,
    /// Units of the line given back by line refunds.
    #[serde(default)]
    pub refunded_units: i64,
    /// Units in parcels (packing or sent), sent, delivered, and in accepted returns.
    #[serde(default)]
    pub allocated_units: i64,
    #[serde(default)]
    pub shipped_units: i64,
    #[serde(default)]
    pub delivered_units: i64,
    #[serde(default)]
    pub returned_units: i64,
}

/// What the owner and the back office see of an order: never the guest token hash, which is
/// a credential. A marketplace vendor's user sees a narrowed copy (`Decider::view_for`): its
/// own lines, its sub-order, its parcels and returns, its share of the money, and of the
/// shopper only what shipping needs (see the `marketplace` module).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub id: String,
    pub version: u64,
    pub status: OrderStatus,
    /// `guest` or `customer`.
    pub owner_kind: String,
    pub customer_id: Option<CustomerId>,
    pub cart_id: String,
    pub email: String,
    pub shipping_address: Address,
    pub lines: Vec<OrderLineView>,
    /// One sub-order per seller of the lines (each vendor, and the shop for lines without
    /// one), in order of the sellers' first lines; empty before the order is placed.
    #[serde(default)]
    pub sub_orders: Vec<SubOrderView>,
    pub currency: Currency,
    pub subtotal: Money,
    /// Taken off the items by promotions.
    pub discount: Money,
    pub shipping: Money,
    /// Taken off the shipping fee by promotions.
    pub shipping_discount: Money,
    /// The promotions applied, in stacking order.
    pub promotions: Vec<OrderPromotion>,
    pub tax_rate_bp: u32,
    /// The tax rule the order was taxed by (jurisdiction, rates, whether prices include tax,
    /// rounding), frozen when it was placed; absent in orders placed before tax rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rule: Option<OrderTax>,
    pub tax: Money,
    pub total: Money,
    pub captured: Money,
    pub refunded: Money,
    /// The shipping option chosen at checkout at the shop's rates; absent without shipping
    /// zones, and when every line ships at a vendor's own rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_option: Option<OrderShippingOption>,
    /// What vendors shipping at their own rates charged, part of `shipping` (see
    /// [`VendorShipping`]); empty when every line ships at the shop's rates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vendor_shipping: Vec<VendorShipping>,
    pub shipment: Option<Shipment>,
    /// The parcels the order leaves in, oldest first (cancelled ones left out).
    #[serde(default)]
    pub parcels: Vec<ParcelView>,
    /// Returns accepted and not rejected or withdrawn.
    #[serde(default)]
    pub returns: Vec<OrderReturn>,
    pub cancellation: Option<Cancellation>,
    /// Disputes of the payment (chargebacks), oldest first.
    #[serde(default)]
    pub disputes: Vec<OrderDispute>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub timeline: Vec<TimelineEntry>,
}

/// How much of an order a principal may see and touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access<'a> {
    /// The platform and admins: everything.
    Admin,
    /// Staff: reads, shipping and cancelling; not the payment steps, which belong to the saga.
    BackOffice,
    /// Auditors read every order and change none.
    Auditor,
    /// The shopper who placed the order: reads, and cancels at their own request.
    Owner,
    /// A user of this vendor, which sells at least one of the order's lines: reads its share
    /// of the order (`Order::vendor_view`) and packs its own lines (`Order::vendor_may`).
    Vendor(&'a str),
    /// Everyone else: the order does not exist for them.
    Stranger,
}

fn is_admin(by: &Principal) -> bool {
    match by {
        Principal::System { .. } => true,
        Principal::Staff { role, .. } => role == "admin",
        Principal::Vendor { .. } | Principal::Guest { .. } | Principal::Customer { .. } => false,
    }
}

fn access<'a>(placed: &Placement, by: &'a Principal) -> Access<'a> {
    match (&placed.owner, by) {
        (_, Principal::System { .. }) => Access::Admin,
        (_, Principal::Staff { role, .. }) => match role.as_str() {
            "admin" => Access::Admin,
            "staff" => Access::BackOffice,
            "auditor" => Access::Auditor,
            _ => Access::Stranger,
        },
        (OrderOwner::Guest { token_sha256 }, Principal::Guest { token_sha256: t }) => {
            if agora_kernel::same_digest(token_sha256, t) {
                Access::Owner
            } else {
                Access::Stranger
            }
        }
        (OrderOwner::Customer { customer_id }, Principal::Customer { id }) if customer_id == id => {
            Access::Owner
        }
        // A vendor none of whose goods are in the order learns nothing of it.
        (_, Principal::Vendor { vendor, .. }) => {
            if placed
                .lines
                .iter()
                .any(|l| l.vendor_id.as_deref() == Some(vendor.as_str()))
            {
                Access::Vendor(vendor)
            } else {
                Access::Stranger
            }
        }
        (_, Principal::Guest { .. } | Principal::Customer { .. }) => Access::Stranger,
    }
}

/// Whether `access` may send `command` to an existing order.
fn allowed(access: Access, command: &OrderCommand) -> bool {
    match command {
        OrderCommand::Place { .. }
        | OrderCommand::MarkStockReserved { .. }
        | OrderCommand::MarkPaymentAuthorized { .. }
        | OrderCommand::Confirm { .. }
        | OrderCommand::RecordCapture { .. }
        | OrderCommand::RecordRefund { .. }
        | OrderCommand::RecordDispute { .. }
        | OrderCommand::CloseDispute { .. } => access == Access::Admin,
        OrderCommand::Ship { .. } | OrderCommand::MarkDelivered { .. } => {
            matches!(access, Access::Admin | Access::BackOffice)
        }
        // A vendor packs too, but only its own lines: `Order::vendor_may` checks which.
        OrderCommand::AllocateParcel { .. } | OrderCommand::ReleaseParcel { .. } => {
            matches!(
                access,
                Access::Admin | Access::BackOffice | Access::Vendor(_)
            )
        }
        // Parcels follow their shipments and returns are opened after the order's checks: the
        // fulfilment and returns workflows send these, never a client.
        OrderCommand::UpdateParcel { .. }
        | OrderCommand::OpenReturn { .. }
        | OrderCommand::ReleaseReturn { .. } => access == Access::Admin,
        OrderCommand::Cancel { reason, .. } => match access {
            Access::Admin | Access::BackOffice => true,
            Access::Owner => *reason == CancelReason::CustomerRequest,
            Access::Auditor | Access::Vendor(_) | Access::Stranger => false,
        },
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Non-blank and at most `max` characters.
fn present(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && chars(text) <= max
}

fn check_line(line: &OrderLine, currency: Currency) -> Result<(), OrderError> {
    if !(1..=MAX_QUANTITY).contains(&line.quantity) {
        return Err(OrderError::QuantityOutOfRange);
    }
    if !(1..=MAX_UNIT_PRICE).contains(&line.unit_price.amount_minor) {
        return Err(OrderError::InvalidPrice);
    }
    if line.unit_price.currency != currency {
        return Err(OrderError::CurrencyMismatch);
    }
    if !present(&line.product_id, MAX_ID_CHARS) || !present(&line.title, MAX_TITLE_CHARS) {
        return Err(OrderError::InvalidLine);
    }
    if line
        .vendor_id
        .as_deref()
        .is_some_and(|v| !valid_vendor_id(v))
    {
        return Err(OrderError::InvalidVendor);
    }
    if line
        .category_id
        .as_deref()
        .is_some_and(|c| !valid_vendor_id(c))
    {
        return Err(OrderError::InvalidLine);
    }
    Ok(())
}

/// A vendor id as the catalog writes it: non-blank, at most [`MAX_ID_CHARS`], no control
/// characters, and no surrounding spaces, since a vendor's users are matched to its lines by
/// exact equality.
fn valid_vendor_id(vendor_id: &str) -> bool {
    present(vendor_id, MAX_ID_CHARS)
        && vendor_id.trim() == vendor_id
        && !vendor_id.chars().any(char::is_control)
}

fn check_lines(lines: &[OrderLine], currency: Currency) -> Result<(), OrderError> {
    if lines.is_empty() {
        return Err(OrderError::Empty);
    }
    if lines.len() > MAX_LINES {
        return Err(OrderError::TooManyLines);
    }
    let mut skus = HashSet::with_capacity(lines.len());
    for line in lines {
        check_line(line, currency)?;
        if !skus.insert(&line.sku) {
            return Err(OrderError::DuplicateSku);
        }
    }
    Ok(())
}

/// A plausible address, not a deliverable one: the mailbox proves itself by receiving mail.
fn check_email(email: &str) -> Result<(), OrderError> {
    let ok = (MIN_EMAIL_CHARS..=MAX_EMAIL_CHARS).contains(&chars(email))
        && !email.chars().any(char::is_whitespace)
        && matches!(
            email.split_once('@'),
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        );
    if ok {
        Ok(())
    } else {
        Err(OrderError::InvalidEmail)
    }
}

/// Each vendor's own shipping names a vendor that sells a line of the order, once, in the
/// order's currency, and together they are within the order's shipping charge (the rest is
/// the shop's rates').
fn check_vendor_shipping(
    charges: &[VendorShipping],
    lines: &[OrderLine],
    shipping: Money,
) -> Result<(), OrderError> {
    let mut seen = BTreeSet::new();
    let mut sum = 0i64;
    for charge in charges {
        let sells = lines
            .iter()
            .any(|l| l.vendor_id.as_deref() == Some(charge.vendor_id.as_str()));
        if !sells || !seen.insert(charge.vendor_id.as_str()) {
            return Err(OrderError::InvalidShipping);
        }
        if charge.fee.currency != shipping.currency || charge.fee.amount_minor < 0 {
            return Err(OrderError::InvalidShipping);
        }
        sum = sum.saturating_add(charge.fee.amount_minor);
    }
    if sum > shipping.amount_minor {
        return Err(OrderError::InvalidShipping);
    }
    Ok(())
}

fn check_address(address: &Address) -> Result<(), OrderError> {
    if address.is_shippable() {
        Ok(())
    } else {
        Err(OrderError::InvalidAddress)
    }
}

/// Money as a timeline shows it: minor units and the currency, `1250 EUR`.
fn amount_note(amount: &Money) -> String {
    format!("{} {}", amount.amount_minor, amount.currency)
}

/// How far along the happy path a status is; `None` for `Cancelled`, which is off it. A
/// full refund needs a capture, which needs a confirmed order, so `Refunded` is at least
/// `Confirmed`.
fn progress(status: OrderStatus) -> Option<u8> {
    match status {
        OrderStatus::New => Some(0),
        OrderStatus::Placed => Some(1),
        OrderStatus::StockReserved => Some(2),
        OrderStatus::PaymentAuthorized => Some(3),
        OrderStatus::Confirmed | OrderStatus::Refunded => Some(4),
        OrderStatus::PartiallyShipped | OrderStatus::Shipped => Some(5),
        OrderStatus::Delivered => Some(6),
        OrderStatus::Cancelled => None,
    }
}

impl Order {
    pub fn status(&self) -> OrderStatus {
        self.status
    }

    /// The shopper who placed the order; `None` before it was placed.
    pub fn owner(&self) -> Option<&OrderOwner> {
        self.placement.as_ref().map(|p| &p.owner)
    }

    /// The lines as frozen at checkout; empty before the order was placed.
    pub fn lines(&self) -> &[OrderLine] {
        self.placement.as_ref().map_or(&[], |p| &p.lines)
    }

    /// What the shopper pays; `None` before the order was placed.
    pub fn total(&self) -> Option<Money> {
        self.placement.as_ref().map(|p| p.totals.total)
    }

    /// What was captured (zero or the total); `None` before the order was placed.
    pub fn captured(&self) -> Option<Money> {
        self.in_currency(self.captured)
    }

    /// What was refunded so far; `None` before the order was placed.
    pub fn refunded(&self) -> Option<Money> {
        self.in_currency(self.refunded)
    }

    fn in_currency(&self, amount_minor: i64) -> Option<Money> {
        self.placement
            .as_ref()
            .map(|p| Money::new(amount_minor, p.totals.currency))
    }

    /// A payment step that moves the order from `from` to `to`: recorded once, harmless when
    /// repeated after the order moved on, refused before its time or after a cancellation.
    fn step(
        &self,
        from: OrderStatus,
        to: OrderStatus,
        event: OrderEvent,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if self.status == from {
            return Ok(vec![event]);
        }
        match (progress(self.status), progress(to)) {
            (Some(now), Some(target)) if now >= target => Ok(vec![]),
            _ => Err(OrderError::InvalidTransition),
        }
    }

    fn place(&self, command: &OrderCommand, by: &Principal) -> Result<Vec<OrderEvent>, OrderError> {
        let OrderCommand::Place {
            owner,
            cart_id,
            lines,
            shipping_address,
            email,
            shipping,
            tax_rate_bp,
            tax_rule,
            discount,
            shipping_option,
            vendor_shipping,
            now,
        } = command
        else {
            // `decide` calls this for `Place` only.
            return Err(OrderError::InvalidTransition);
        };
        // Only the checkout (or an admin repairing one) places orders; this reveals nothing,
        // so it comes before the existence check.
        if !is_admin(by) {
            return Err(OrderError::Forbidden);
        }
        if let Some(placed) = &self.placement {
            // A retried checkout replays the same command: accept it, record nothing.
            let same = placed.owner == *owner
                && placed.cart_id == *cart_id
                && placed.lines == *lines
                && placed.shipping_address == *shipping_address
                && placed.email == *email
                && placed.totals.shipping == *shipping
                && placed.tax_rate_bp == *tax_rate_bp
                && placed.tax_rule == *tax_rule
                && placed.discount == *discount
                && placed.shipping_option == *shipping_option
                && placed.vendor_shipping == *vendor_shipping;
            return if same {
                Ok(vec![])
            } else {
                Err(OrderError::AlreadyExists)
            };
        }
        if !present(cart_id, MAX_ID_CHARS) {
            return Err(OrderError::InvalidCartId);
        }
        check_lines(lines, shipping.currency)?;
        if !(0..=MAX_SHIPPING).contains(&shipping.amount_minor) {
            return Err(OrderError::InvalidPrice);
        }
        if *tax_rate_bp > MAX_TAX_RATE_BP {
            return Err(OrderError::InvalidTaxRate);
        }
        check_email(email)?;
        check_address(shipping_address)?;
        check_vendor_shipping(vendor_shipping, lines, *shipping)?;
        // `tax_rate_bp` stays the goods' rate for readers of older views; the rule decides.
        if tax_rule
            .as_ref()
            .is_some_and(|rule| rule.rate.rate_bp != *tax_rate_bp)
        {
            return Err(OrderError::InvalidTaxRate);
        }
        let (totals, _) = match tax_rule {
            Some(rule) => order_totals(lines, *shipping, rule, discount.as_ref())?,
            None => totals_discounted(lines, *shipping, *tax_rate_bp, discount.as_ref())?,
        };
        Ok(vec![OrderEvent::OrderPlaced {
            owner: owner.clone(),
            cart_id: cart_id.clone(),
            lines: lines.clone(),
            shipping_address: shipping_address.clone(),
            email: email.clone(),
            currency: totals.currency,
            subtotal: totals.subtotal,
            shipping: totals.shipping,
            tax_rate_bp: *tax_rate_bp,
            tax_rule: tax_rule.clone(),
            tax: totals.tax,
            total: totals.total,
            discount: discount.clone(),
            shipping_option: shipping_option.clone(),
            vendor_shipping: vendor_shipping.clone(),
            at: *now,
        }])
    }

    fn record_capture(
        &self,
        total: Money,
        amount: &Money,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if self.captured > 0 {
            // A retry of the capture that was recorded; any other amount is a mistake.
            return if *amount == total {
                Ok(vec![])
            } else {
                Err(OrderError::InvalidAmount)
            };
        }
        // A confirmed order cancelled while the provider captured (the cancel raced the
        // capture) still records the money taken, so that the refund the saga owes can be
        // recorded against it.
        let capturable = match self.status {
            OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered => true,
            OrderStatus::Cancelled => self
                .cancellation
                .as_ref()
                .is_some_and(|c| c.from_status == OrderStatus::Confirmed),
            _ => false,
        };
        if !capturable {
            return Err(OrderError::InvalidTransition);
        }
        if *amount != total {
            return Err(OrderError::InvalidAmount);
        }
        Ok(vec![OrderEvent::OrderPaymentCaptured {
            amount: *amount,
            at: now,
        }])
    }

    fn ship(
        &self,
        total: Money,
        carrier: &str,
        tracking_number: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if !present(carrier, MAX_CARRIER_CHARS) || !present(tracking_number, MAX_TRACKING_CHARS) {
            return Err(OrderError::InvalidShipment);
        }
        // Stored trimmed, so that a retry differing only in spaces is still the same shipment.
        let (carrier, tracking_number) = (carrier.trim(), tracking_number.trim());
        // An order that ships in parcels follows them, never a whole-order shipment.
        if self.has_parcels() {
            return Err(OrderError::InvalidTransition);
        }
        if let Some(shipment) = &self.shipment {
            return if shipment.carrier == carrier && shipment.tracking_number == tracking_number {
                Ok(vec![])
            } else {
                Err(OrderError::InvalidTransition)
            };
        }
        match self.status {
            OrderStatus::Confirmed if self.captured == total.amount_minor => {
                Ok(vec![OrderEvent::OrderShipped {
                    carrier: carrier.to_string(),
                    tracking_number: tracking_number.to_string(),
                    at: now,
                }])
            }
            OrderStatus::Confirmed => Err(OrderError::NotPaid),
            _ => Err(OrderError::InvalidTransition),
        }
    }

    fn mark_delivered(&self, now: DateTime<Utc>) -> Result<Vec<OrderEvent>, OrderError> {
        if self
            .shipment
            .as_ref()
            .is_some_and(|s| s.delivered_at.is_some())
        {
            return Ok(vec![]);
        }
        if self.has_parcels() {
            return Err(OrderError::InvalidTransition);
        }
        match self.status {
            OrderStatus::Shipped => Ok(vec![OrderEvent::OrderDelivered { at: now }]),
            _ => Err(OrderError::InvalidTransition),
        }
    }

    fn cancel(
        &self,
        reason: CancelReason,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if note.is_some_and(|n| chars(n) > MAX_NOTE_CHARS) {
            return Err(OrderError::InvalidNote);
        }
        if self.status == OrderStatus::Confirmed && self.has_parcels() {
            // Units are being packed: the parcels are cancelled first.
            return Err(OrderError::InvalidTransition);
        }
        match self.status {
            OrderStatus::Placed
            | OrderStatus::StockReserved
            | OrderStatus::PaymentAuthorized
            | OrderStatus::Confirmed => Ok(vec![OrderEvent::OrderCancelled {
                reason,
                note: note.map(str::to_string),
                from_status: self.status,
                at: now,
            }]),
            OrderStatus::Cancelled => Ok(vec![]),
            OrderStatus::New
            | OrderStatus::PartiallyShipped
            | OrderStatus::Shipped
            | OrderStatus::Delivered
            | OrderStatus::Refunded => Err(OrderError::InvalidTransition),
        }
    }

    /// What the shopper paid for `quantity` units of the line of `sku` after the units of it
    /// already refunded: the line's total after its discount, with its tax when prices exclude
    /// tax, taxed as the order was (its recorded rule, or the single rate rounded per order),
    /// shared out over its units as `agora_promotion::prorate` does, so that refunding every
    /// unit one by one gives back exactly what the line cost.
    fn line_refundable(&self, line: &RefundLine) -> Result<Money, OrderError> {
        let placed = self.placement.as_ref().ok_or(OrderError::NotFound)?;
        let index = placed
            .lines
            .iter()
            .position(|l| l.sku == line.sku)
            .ok_or(OrderError::InvalidRefundLine)?;
        let gross = *self.lines_paid()?.get(index).ok_or(OrderError::Overflow)?;
        let already = self.refunded_units.get(&line.sku).copied().unwrap_or(0);
        agora_promotion::prorate(gross, placed.lines[index].quantity, already, line.quantity)
            .map_err(|e| match e {
                agora_promotion::PricingError::InvalidQuantity => OrderError::InvalidRefundLine,
                _ => OrderError::Overflow,
            })
    }

    /// What the shopper paid for each line: its total after its discount, with its tax when
    /// prices exclude tax, taxed as the order was (its recorded rule, or the single rate
    /// rounded per order).
    fn lines_paid(&self) -> Result<Vec<Money>, OrderError> {
        Ok(self.lines_taxed()?.iter().map(|l| l.gross).collect())
    }

    /// Each line's tax as the order was taxed (see [`Order::lines_paid`]): `gross` is what the
    /// shopper paid for the line and `tax` its share of the order's tax. Rounded per order,
    /// the lines' taxes are the running sums' roundings, so they add up with shipping's to
    /// the order's tax.
    fn lines_taxed(&self) -> Result<Vec<agora_promotion::TaxLine>, OrderError> {
        let placed = self.placement.as_ref().ok_or(OrderError::NotFound)?;
        let paid = paid(
            &placed.lines,
            placed.totals.shipping,
            placed.discount.as_ref(),
        )?;
        let rule = placed.tax_rule.clone().unwrap_or(OrderTax {
            rate: agora_promotion::AppliedRate {
                country: None,
                region: None,
                rate_bp: placed.tax_rate_bp,
                shipping_rate_bp: placed.tax_rate_bp,
                prices_include_tax: false,
            },
            rounding: agora_promotion::TaxRounding::PerOrder,
        });
        let taxed = agora_promotion::tax_at(&rule.rate, rule.rounding, &paid.lines, paid.shipping)
            .map_err(|_| OrderError::Overflow)?;
        Ok(taxed.lines)
    }

    fn record_refund(
        &self,
        currency: Currency,
        refund_id: &str,
        amount: &Money,
        line: Option<&RefundLine>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if !present(refund_id, MAX_ID_CHARS) {
            return Err(OrderError::InvalidRefundId);
        }
        if self.captured <= 0 {
            return Err(OrderError::NotPaid);
        }
        if self.refund_ids.contains(refund_id) {
            return Ok(vec![]);
        }
        if amount.currency != currency || amount.amount_minor < 1 {
            return Err(OrderError::InvalidAmount);
        }
        if let Some(line) = line {
            if amount.amount_minor > self.line_refundable(line)?.amount_minor {
                return Err(OrderError::RefundExceedsLine);
            }
        }
        let total_refunded = self
            .refunded
            .checked_add(amount.amount_minor)
            .filter(|t| t.saturating_add(self.disputed()) <= self.captured)
            .ok_or(OrderError::RefundExceedsCaptured)?;
        Ok(vec![OrderEvent::OrderRefunded {
            refund_id: refund_id.to_string(),
            amount: *amount,
            total_refunded: Money::new(total_refunded, currency),
            line: line.cloned(),
            at: now,
        }])
    }

    /// What disputes open or lost took back, in minor units.
    fn disputed(&self) -> i64 {
        self.disputes
            .values()
            .filter(|d| d.outcome != Some(DisputeOutcome::Won))
            .fold(0i64, |sum, d| sum.saturating_add(d.amount.amount_minor))
    }

    fn record_dispute(
        &self,
        currency: Currency,
        dispute_id: &str,
        amount: &Money,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if !present(dispute_id, MAX_ID_CHARS) || !present(reason, MAX_ID_CHARS) {
            return Err(OrderError::InvalidDispute);
        }
        if self.captured <= 0 {
            return Err(OrderError::NotPaid);
        }
        if self.disputes.contains_key(dispute_id) {
            return Ok(vec![]);
        }
        if amount.currency != currency || amount.amount_minor < 1 {
            return Err(OrderError::InvalidAmount);
        }
        // The payment admits no more than it still holds; the order keeps the same bound.
        let held = self.captured - self.refunded - self.disputed();
        if amount.amount_minor > held {
            return Err(OrderError::RefundExceedsCaptured);
        }
        Ok(vec![OrderEvent::OrderDisputeOpened {
            dispute_id: dispute_id.to_string(),
            amount: *amount,
            reason: reason.to_string(),
            at: now,
        }])
    }

    fn close_dispute(
        &self,
        dispute_id: &str,
        outcome: DisputeOutcome,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        match self.disputes.get(dispute_id) {
            None => Err(OrderError::InvalidDispute),
            Some(d) if d.outcome.is_some() => Ok(vec![]),
            Some(d) => Ok(vec![OrderEvent::OrderDisputeClosed {
                dispute_id: dispute_id.to_string(),
                outcome,
                amount: d.amount,
                at: now,
            }]),
        }
    }

    fn record(&mut self, at: DateTime<Utc>, event: &str, note: Option<String>) {
        self.updated_at = Some(at);
        self.timeline.push(TimelineEntry {
            at,
            event: event.to_string(),
            status: self.status,
            note,
        });
    }
}

impl Decider for Order {
    const TYPE: &'static str = "order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type View = OrderView;

    fn decide(
        &self,
        _id: &str,
        command: &OrderCommand,
        by: &Principal,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if let OrderCommand::Place { .. } = command {
            return self.place(command, by);
        }
        let Some(placed) = &self.placement else {
            return Err(OrderError::NotFound);
        };
        let access = access(placed, by);
        // A stranger learns nothing, not even that the order exists.
        if access == Access::Stranger {
            return Err(OrderError::NotFound);
        }
        if !allowed(access, command) {
            return Err(OrderError::Forbidden);
        }
        if let Access::Vendor(vendor) = access {
            self.vendor_may(vendor, command)?;
        }
        let total = placed.totals.total;
        match command {
            // Handled above; kept total so a new command cannot slip past the checks.
            OrderCommand::Place { .. } => self.place(command, by),
            OrderCommand::MarkStockReserved { now } => self.step(
                OrderStatus::Placed,
                OrderStatus::StockReserved,
                OrderEvent::OrderStockReserved { at: *now },
            ),
            OrderCommand::MarkPaymentAuthorized { now } => self.step(
                OrderStatus::StockReserved,
                OrderStatus::PaymentAuthorized,
                OrderEvent::OrderPaymentAuthorized { at: *now },
            ),
            // The saga confirms an order once its payment is authorized: from `stock_reserved`
            // it records the authorization too, in the same decision.
            OrderCommand::Confirm { now } if self.status == OrderStatus::StockReserved => Ok(vec![
                OrderEvent::OrderPaymentAuthorized { at: *now },
                OrderEvent::OrderConfirmed { at: *now },
            ]),
            OrderCommand::Confirm { now } => self.step(
                OrderStatus::PaymentAuthorized,
                OrderStatus::Confirmed,
                OrderEvent::OrderConfirmed { at: *now },
            ),
            OrderCommand::RecordCapture { amount, now } => self.record_capture(total, amount, *now),
            OrderCommand::Ship {
                carrier,
                tracking_number,
                now,
            } => self.ship(total, carrier, tracking_number, *now),
            OrderCommand::MarkDelivered { now } => self.mark_delivered(*now),
            OrderCommand::Cancel { reason, note, now } => {
                self.cancel(*reason, note.as_deref(), *now)
            }
            OrderCommand::RecordDispute {
                dispute_id,
                amount,
                reason,
                now,
            } => self.record_dispute(placed.totals.currency, dispute_id, amount, reason, *now),
            OrderCommand::CloseDispute {
                dispute_id,
                outcome,
                now,
            } => self.close_dispute(dispute_id, *outcome, *now),
            OrderCommand::RecordRefund {
                refund_id,
                amount,
                line,
                now,
            } => self.record_refund(
                placed.totals.currency,
                refund_id,
                amount,
                line.as_ref(),
                *now,
            ),
            OrderCommand::AllocateParcel {
                shipment_id,
                lines,
                now,
            } => self.allocate_parcel(total.amount_minor, shipment_id, lines, *now),
            OrderCommand::ReleaseParcel { shipment_id, now } => {
                self.release_parcel(shipment_id, *now)
            }
            OrderCommand::UpdateParcel {
                shipment_id,
                status,
                carrier,
                tracking_number,
                tracking_url,
                now,
            } => self.update_parcel(
                shipment_id,
                *status,
                carrier,
                tracking_number,
                tracking_url,
                *now,
            ),
            OrderCommand::OpenReturn {
                return_id,
                lines,
                window_days,
                now,
            } => self.open_return(return_id, lines, *window_days, *now),
            OrderCommand::ReleaseReturn { return_id, now } => self.release_return(return_id, *now),
        }
    }

    fn evolve(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::OrderPlaced {
                owner,
                cart_id,
                lines,
                shipping_address,
                email,
                currency,
                subtotal,
                shipping,
                tax_rate_bp,
                tax_rule,
                tax,
                total,
                discount,
                shipping_option,
                vendor_shipping,
                at,
            } => {
                self.placement = Some(Placement {
                    discount: discount.clone(),
                    shipping_option: shipping_option.clone(),
                    vendor_shipping: vendor_shipping.clone(),
                    tax_rule: tax_rule.clone(),
                    owner: owner.clone(),
                    cart_id: cart_id.clone(),
                    lines: lines.clone(),
                    shipping_address: shipping_address.clone(),
                    email: email.clone(),
                    tax_rate_bp: *tax_rate_bp,
                    totals: Totals {
                        currency: *currency,
                        subtotal: *subtotal,
                        shipping: *shipping,
                        tax: *tax,
                        total: *total,
                    },
                    placed_at: *at,
                });
                self.status = OrderStatus::Placed;
                self.record(*at, "placed", None);
            }
            OrderEvent::OrderStockReserved { at } => {
                self.status = OrderStatus::StockReserved;
                self.record(*at, "stock_reserved", None);
            }
            OrderEvent::OrderPaymentAuthorized { at } => {
                self.status = OrderStatus::PaymentAuthorized;
                self.record(*at, "payment_authorized", None);
            }
            OrderEvent::OrderConfirmed { at } => {
                self.status = OrderStatus::Confirmed;
                self.record(*at, "confirmed", None);
            }
            OrderEvent::OrderPaymentCaptured { amount, at } => {
                self.captured = self.captured.saturating_add(amount.amount_minor);
                self.record(*at, "payment_captured", Some(amount_note(amount)));
            }
            OrderEvent::OrderShipped {
                carrier,
                tracking_number,
                at,
            } => {
                self.status = OrderStatus::Shipped;
                self.shipment = Some(Shipment {
                    carrier: carrier.clone(),
                    tracking_number: tracking_number.clone(),
                    shipped_at: *at,
                    delivered_at: None,
                });
                self.record(*at, "shipped", Some(format!("{carrier} {tracking_number}")));
            }
            OrderEvent::OrderDelivered { at } => {
                self.status = OrderStatus::Delivered;
                if let Some(shipment) = &mut self.shipment {
                    shipment.delivered_at = Some(*at);
                }
                self.record(*at, "delivered", None);
            }
            OrderEvent::OrderCancelled {
                reason,
                note,
                from_status,
                at,
            } => {
                self.status = OrderStatus::Cancelled;
                self.cancellation = Some(Cancellation {
                    reason: *reason,
                    note: note.clone(),
                    from_status: *from_status,
                    at: *at,
                });
                let detail = match note {
                    Some(note) => format!("{}: {note}", reason.as_str()),
                    None => reason.as_str().to_string(),
                };
                self.record(*at, "cancelled", Some(detail));
            }
            OrderEvent::OrderRefunded {
                refund_id,
                amount,
                total_refunded,
                line,
                at,
            } => {
                self.refunded = total_refunded.amount_minor;
                if let Some(line) = line {
                    *self.refunded_units.entry(line.sku.clone()).or_insert(0) += line.quantity;
                }
                self.refund_ids.insert(refund_id.clone());
                // A cancelled order stays cancelled: the refund settles it, it does not
                // change why it ended.
                if self.refunded >= self.captured && self.status != OrderStatus::Cancelled {
                    self.status = OrderStatus::Refunded;
                }
                self.record(*at, "refunded", Some(amount_note(amount)));
            }
            OrderEvent::OrderDisputeOpened {
                dispute_id,
                amount,
                reason,
                at,
            } => {
                self.disputes.insert(
                    dispute_id.clone(),
                    OrderDispute {
                        dispute_id: dispute_id.clone(),
                        amount: *amount,
                        reason: reason.clone(),
                        outcome: None,
                        opened_at: *at,
                        closed_at: None,
                    },
                );
                self.record(
                    *at,
                    "dispute_opened",
                    Some(format!("{}: {reason}", amount_note(amount))),
                );
            }
            OrderEvent::OrderDisputeClosed {
                dispute_id,
                outcome,
                amount,
                at,
            } => {
                if let Some(d) = self.disputes.get_mut(dispute_id) {
                    d.outcome = Some(*outcome);
                    d.closed_at = Some(*at);
                }
                let event = match outcome {
                    DisputeOutcome::Won => "dispute_won",
                    DisputeOutcome::Lost => "dispute_lost",
                };
                self.record(*at, event, Some(amount_note(amount)));
            }
            OrderEvent::OrderParcelAllocated { .. }
            | OrderEvent::OrderParcelReleased { .. }
            | OrderEvent::OrderParcelUpdated { .. }
            | OrderEvent::OrderReturnOpened { .. }
            | OrderEvent::OrderReturnReleased { .. } => self.evolve_fulfilment(event),
        }
    }

    fn authorize_read(&self, by: &Principal) -> Result<(), OrderError> {
        match &self.placement {
            Some(placed) if access(placed, by) != Access::Stranger => Ok(()),
            _ => Err(OrderError::NotFound),
        }
    }

    fn view(&self, id: &str, version: u64) -> OrderView {
        let Some(placed) = &self.placement else {
            return empty_view(id, version);
        };
        let currency = placed.totals.currency;
        let lines_paid = self.lines_paid().unwrap_or_default();
        let lines: Vec<OrderLineView> = placed
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let (allocated_units, shipped_units, delivered_units, returned_units) =
                    self.unit_counts(&line.sku);
                OrderLineView {
                    allocated_units,
                    shipped_units,
                    delivered_units,
                    returned_units,
                    paid: lines_paid
                        .get(i)
                        .copied()
                        .unwrap_or(Money::zero(line.unit_price.currency)),
                    refunded_units: self.refunded_units.get(&line.sku).copied().unwrap_or(0),
                    discount: placed
                        .discount
                        .as_ref()
                        .and_then(|d| d.line_discounts.get(i).copied())
                        .unwrap_or(Money::zero(line.unit_price.currency)),
                    sku: line.sku.clone(),
                    product_id: line.product_id.clone(),
                    title: line.title.clone(),
                    unit_price: line.unit_price,
                    quantity: line.quantity,
                    vendor_id: line.vendor_id.clone(),
                    category_id: line.category_id.clone(),
                    // Bounded by validation, so saturation never happens.
                    line_total: Money::new(
                        line.unit_price.amount_minor.saturating_mul(line.quantity),
                        line.unit_price.currency,
                    ),
                }
            })
            .collect();
        let (owner_kind, customer_id) = match &placed.owner {
            OrderOwner::Guest { .. } => ("guest", None),
            OrderOwner::Customer { customer_id } => ("customer", Some(*customer_id)),
        };
        OrderView {
            id: id.to_string(),
            version,
            status: self.status,
            owner_kind: owner_kind.to_string(),
            customer_id,
            cart_id: placed.cart_id.clone(),
            email: placed.email.clone(),
            shipping_address: placed.shipping_address.clone(),
            sub_orders: self.sub_order_views(&lines),
            lines,
            currency,
            subtotal: placed.totals.subtotal,
            discount: placed.discount.as_ref().map_or(Money::zero(currency), |d| {
                d.promotions.iter().fold(Money::zero(currency), |sum, p| {
                    Money::new(
                        sum.amount_minor.saturating_add(p.discount.amount_minor),
                        currency,
                    )
                })
            }),
            shipping: placed.totals.shipping,
            shipping_discount: placed
                .discount
                .as_ref()
                .map_or(Money::zero(currency), |d| d.shipping_discount),
            promotions: placed
                .discount
                .as_ref()
                .map(|d| d.promotions.clone())
                .unwrap_or_default(),
            tax_rate_bp: placed.tax_rate_bp,
            tax_rule: placed.tax_rule.clone(),
            shipping_option: placed.shipping_option.clone(),
            vendor_shipping: placed.vendor_shipping.clone(),
            tax: placed.totals.tax,
            total: placed.totals.total,
            captured: Money::new(self.captured, currency),
            refunded: Money::new(self.refunded, currency),
            shipment: self.shipment.clone(),
            parcels: self.parcel_views(),
            returns: self.return_views(),
            cancellation: self.cancellation.clone(),
            disputes: self.disputes.values().cloned().collect(),
            placed_at: placed.placed_at,
            updated_at: self.updated_at.unwrap_or(placed.placed_at),
            timeline: self.timeline.clone(),
        }
    }

    /// A vendor's user sees only its share of the order (`Order::vendor_view`); everyone
    /// else the full view.
    fn view_for(&self, id: &str, version: u64, by: &Principal) -> OrderView {
        match by.vendor() {
            Some(vendor) => self.vendor_view(id, version, vendor),
            None => self.view(id, version),
        }
    }

    /// A command's reply is narrowed as a read is: a vendor packing its lines gets back only
    /// its share.
    fn command_view_for(&self, id: &str, version: u64, by: &Principal) -> OrderView {
        match by.vendor() {
            Some(vendor) => self.vendor_view(id, version, vendor),
            None => self.command_view(id, version),
        }
    }

    fn event_type(event: &OrderEvent) -> &'static str {
        event.event_type()
    }
}

/// The view of an order that was never placed. Reads of it are refused, so nobody should see
/// it; it exists because `view` must answer for every state. ISO 4217's `XXX` means "no
/// currency".
fn empty_view(id: &str, version: u64) -> OrderView {
    let none = Money::zero(Currency::parse("XXX").unwrap_or(Currency::EUR));
    OrderView {
        id: id.to_string(),
        version,
        status: OrderStatus::New,
        owner_kind: String::new(),
        customer_id: None,
        cart_id: String::new(),
        email: String::new(),
        shipping_address: Address {
            name: String::new(),
            line1: String::new(),
            line2: None,
            city: String::new(),
            postal_code: String::new(),
            region: None,
            country: String::new(),
            phone: None,
        },
        lines: vec![],
        sub_orders: vec![],
        currency: none.currency,
        subtotal: none,
        discount: none,
        shipping: none,
        shipping_discount: none,
        promotions: vec![],
        tax_rate_bp: 0,
        tax_rule: None,
        tax: none,
        total: none,
        captured: none,
        refunded: none,
        shipping_option: None,
        vendor_shipping: vec![],
        shipment: None,
        parcels: vec![],
        returns: vec![],
        cancellation: None,
        disputes: vec![],
        placed_at: DateTime::<Utc>::UNIX_EPOCH,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        timeline: vec![],
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Order, OrderEvent);

pub use agora_kernel::CqrsEnvelope;

mod marketplace;
mod parcels;

pub use marketplace::SubOrderView;
pub use parcels::{OrderReturn, ParcelView, MAX_RETURN_WINDOW_DAYS, MAX_TRACKING_URL_CHARS};

#[cfg(test)]
mod tests;

//! What a promotion offers and to whom: its terms. The aggregate validates them when they are
//! set; the pricing engine reads them.

use std::collections::BTreeSet;

use agora_kernel::{Currency, Money, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CategoryId, CustomerGroup, ProductId, PromotionError};

/// Longest promotion name, in characters.
pub const MAX_NAME_CHARS: usize = 120;
/// Most SKUs, products, categories or customer groups a promotion names, of each kind.
pub const MAX_FILTER_ENTRIES: usize = 100;
/// Most codes one batch of unique codes holds.
pub const MAX_BATCH_CODES: u32 = 10_000;
/// 100 % in basis points.
pub const FULL_BP: u32 = 10_000;
/// The priority of a promotion that states none (lower goes first).
pub const DEFAULT_PRIORITY: u32 = 100;

/// The terms of a promotion. Every amount in them is in `currency`, and the promotion applies
/// only to carts priced in that currency (a shop selling in two currencies runs one promotion
/// per currency).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionTerms {
    /// For people: the back office, and the shopper's order summary ("Summer sale").
    pub name: String,
    pub currency: Currency,
    /// Which items the promotion is about. The cart must hold at least one of them, the
    /// minimum is counted on them, and item actions discount only them. Empty: every item.
    #[serde(default)]
    pub applies_to: ItemFilter,
    /// Who and which orders may use it.
    #[serde(default)]
    pub eligibility: Eligibility,
    pub action: Action,
    #[serde(default)]
    pub window: Window,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub stacking: Stacking,
}

/// A set of items by SKU, product or category; an item matches when any entry names it. An
/// empty filter matches every item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemFilter {
    pub skus: BTreeSet<Sku>,
    pub products: BTreeSet<ProductId>,
    pub categories: BTreeSet<CategoryId>,
}

impl ItemFilter {
    /// Whether the filter names nothing, and so matches every item.
    pub fn is_everything(&self) -> bool {
        self.skus.is_empty() && self.products.is_empty() && self.categories.is_empty()
    }

    pub fn matches(&self, sku: &Sku, product: &ProductId, categories: &[CategoryId]) -> bool {
        self.is_everything()
            || self.skus.contains(sku)
            || self.products.contains(product)
            || categories.iter().any(|c| self.categories.contains(c))
    }
}

/// Conditions on the customer and the order. Every condition stated must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Eligibility {
    /// The matching items must add up to at least this, before any discount.
    pub minimum_subtotal: Option<Money>,
    /// The customer must be signed in and in one of these groups. Empty: anyone.
    pub customer_groups: BTreeSet<CustomerGroup>,
    /// Only a customer's first order (as the caller's customer facts tell).
    pub first_order_only: bool,
}

/// What the promotion gives. Percentages are basis points (`1000` = 10 %); amounts are in the
/// promotion's currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A percentage off the whole order (what is left of it after earlier promotions).
    PercentOffOrder { percent_bp: u32 },
    /// A percentage off each matching line.
    PercentOffItems { percent_bp: u32 },
    /// A fixed amount off the order, at most the order.
    AmountOffOrder { amount: Money },
    /// A fixed amount off every matching unit, at most the unit's line.
    AmountOffEachItem { amount: Money },
    /// For every `buy + get` matching units in the cart, the `get` cheapest of them are
    /// `percent_bp` off (`10000`: free).
    BuyXGetY { buy: u32, get: u32, percent_bp: u32 },
    /// The shipping fee is waived.
    FreeShipping,
}

/// When the promotion may be used: from `starts_at` (inclusive) until `ends_at` (exclusive).
/// An open end is unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Window {
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl Window {
    /// Whether `now` lies in the window: `promotion.not_yet_valid` before it,
    /// `promotion.expired` from its end on.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), PromotionError> {
        if self.starts_at.is_some_and(|start| now < start) {
            return Err(PromotionError::NotYetValid);
        }
        if self.ends_at.is_some_and(|end| now >= end) {
            return Err(PromotionError::Expired);
        }
        Ok(())
    }
}

/// How much the promotion may be used. `None`: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Redemptions in all (reserved and confirmed ones count; released ones do not).
    pub total_uses: Option<u64>,
    /// Redemptions per customer. A promotion with this limit needs a signed-in customer,
    /// since a guest cannot be counted.
    pub uses_per_customer: Option<u32>,
    /// What all redemptions together may cost the shop: item discounts plus shipping waived.
    pub budget: Option<Money>,
}

/// How the promotion combines with others on one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stacking {
    /// A combinable promotion applies together with other combinable ones; one that is not
    /// (exclusive) applies only alone.
    pub combinable: bool,
    /// Lower goes first. Promotions are considered in (priority, id) order.
    pub priority: u32,
}

impl Default for Stacking {
    /// Exclusive unless stated otherwise: stacking discounts by accident costs the shop money.
    fn default() -> Self {
        Stacking {
            combinable: false,
            priority: DEFAULT_PRIORITY,
        }
    }
}

fn check_percent(percent_bp: u32) -> Result<(), PromotionError> {
    if (1..=FULL_BP).contains(&percent_bp) {
        Ok(())
    } else {
        Err(PromotionError::InvalidPercentage)
    }
}

impl PromotionTerms {
    /// Checks every rule the terms must keep; the aggregate refuses terms that break one.
    pub fn validate(&self) -> Result<(), PromotionError> {
        let name = self.name.trim();
        if name.is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            return Err(PromotionError::InvalidName);
        }
        let in_currency = |m: &Money| -> Result<(), PromotionError> {
            if m.currency != self.currency {
                return Err(PromotionError::CurrencyMismatch);
            }
            if m.amount_minor <= 0 {
                return Err(PromotionError::InvalidAmount);
            }
            Ok(())
        };
        match &self.action {
            Action::PercentOffOrder { percent_bp } | Action::PercentOffItems { percent_bp } => {
                check_percent(*percent_bp)?
            }
            Action::AmountOffOrder { amount } | Action::AmountOffEachItem { amount } => {
                in_currency(amount)?
            }
            Action::BuyXGetY {
                buy,
                get,
                percent_bp,
            } => {
                if *buy == 0 || *get == 0 || buy.saturating_add(*get) > 1_000 {
                    return Err(PromotionError::InvalidBuyXGetY);
                }
                check_percent(*percent_bp)?;
            }
            Action::FreeShipping => {}
        }
        if let Some(minimum) = &self.eligibility.minimum_subtotal {
            in_currency(minimum)?;
        }
        if let Some(budget) = &self.limits.budget {
            in_currency(budget)?;
        }
        if self.limits.total_uses == Some(0) || self.limits.uses_per_customer == Some(0) {
            return Err(PromotionError::InvalidLimit);
        }
        if let (Some(start), Some(end)) = (self.window.starts_at, self.window.ends_at) {
            if end <= start {
                return Err(PromotionError::InvalidWindow);
            }
        }
        let filter = &self.applies_to;
        if [
            filter.skus.len(),
            filter.products.len(),
            filter.categories.len(),
            self.eligibility.customer_groups.len(),
        ]
        .iter()
        .any(|n| *n > MAX_FILTER_ENTRIES)
        {
            return Err(PromotionError::TooManyFilterEntries);
        }
        Ok(())
    }
}

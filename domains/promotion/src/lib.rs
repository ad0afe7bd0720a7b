//! Promotions, coupon codes and taxes: the pure core, no IO.
//!
//! Three parts, each usable alone:
//!
//! - [`Promotion`], an aggregate (stream type `promotion`, id a [`PromotionId`]): its terms
//!   (rules, action, window, limits, stacking), its life (draft → active ⇄ paused → ended) and
//!   its redemptions. The checkout reserves a use for an order, confirms it when the order is
//!   paid and releases it when the checkout fails or the order is cancelled.
//! - [`price`], the pricing engine: a pure function from a cart, the customer's facts and the
//!   promotions on offer to the discount of every line, the order discount, free shipping, the
//!   promotions applied in stacking order and, for an entered code that does not apply, the
//!   reason as a stable code. [`refundable`] tells what a refund of part of a discounted line
//!   gives back.
//! - [`tax`], the tax engine: rates per country and region in basis points, prices with or
//!   without tax, tax on shipping, rounding half up per line; its result records the rates
//!   used, so a placed order keeps them. [`TaxTable::flat`] is today's single rate.
//!
//! Invariants:
//! - money is integer minor units with a currency ([`Money`](agora_kernel::Money)), never a
//!   float; every amount of one computation is in one currency;
//! - `decide`, [`price`] and [`tax`] read no clock and draw no random number: time arrives as
//!   `now`, and a batch of unique codes is generated from a seed in the command;
//! - a reservation never takes a promotion past its total uses, its uses per customer or its
//!   budget, and the same order id reserves at most once;
//! - line discounts add up exactly to the order discount, no line is discounted below zero,
//!   and no total is negative.

mod codes;
mod command;
mod error;
mod event;
mod ids;
mod pricing;
mod promotion;
mod tax;
mod terms;

pub use codes::{generate_codes, CODE_ALPHABET, MAX_PREFIX_CHARS, RANDOM_CHARS};
pub use command::{CodeSpec, PromotionCommand};
pub use error::PromotionError;
pub use event::{PromotionEvent, Redeemable};
pub use ids::{
    CategoryId, CustomerGroup, InvalidName, OrderId, ProductId, PromotionCode, PromotionId,
};
pub use pricing::{
    allocate, price, prorate, refundable, AppliedPromotion, CartLine, CustomerFacts, EnteredCode,
    PricedCart, PricedLine, PricingError, PricingInput, SkippedPromotion, MAX_LINE_QUANTITY,
};
pub use promotion::{
    CodeView, Offer, Promotion, PromotionKind, PromotionStatus, PromotionView, Redemption,
    RedemptionState, PROMOTION_MANAGERS,
};
pub use tax::{
    tax, tax_at, tax_cart, AppliedRate, CountryCode, RegionCode, ShippingTax, TaxAddress, TaxError,
    TaxLine, TaxRounding, TaxRule, TaxTable, TaxedOrder, DEMO_TAX_RATE_BP, MAX_TAX_RATE_BP,
};
pub use terms::{
    Action, Eligibility, ItemFilter, Limits, PromotionTerms, Stacking, Window, DEFAULT_PRIORITY,
    FULL_BP, MAX_BATCH_CODES, MAX_FILTER_ENTRIES, MAX_NAME_CHARS,
};

pub use agora_kernel::CqrsEnvelope;

agora_kernel::contract!(Promotion {
    service: "promotion",
    description: "Promotions and coupon codes; each code redeems one promotion",
    command: PromotionCommand,
    view: PromotionView,
});

#[cfg(test)]
mod tests {
    /// A domain crate does no IO: its dependencies are the kernel, serialization, errors,
    /// cqrs-es and value types, nothing that opens a socket or a file.
    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "strum",
            "agora-kernel",
            "serde",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "uuid",
            "chrono",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }
}

//! The pricing engine: what the promotions on offer take off one cart.
//!
//! [`price`] is a pure function. Its rules, in order:
//!
//! 1. Every line is `unit_price × quantity` in the cart's currency; the shipping fee is given.
//! 2. The candidates are the active automatic promotions and the entered code's promotion.
//!    They are considered in stacking order: by `stacking.priority` (lower first), then by
//!    promotion id, so the order never depends on how the caller listed them.
//! 3. A candidate applies when it is eligible: active (`promotion.not_active`,
//!    `promotion.ended`), within its window (`promotion.not_yet_valid`, `promotion.expired`),
//!    in the cart's currency (`promotion.currency_mismatch`), its unique code not redeemed
//!    (`promotion.code_used`), the customer in one of its groups (`promotion.sign_in_required`
//!    for a guest, `promotion.customer_not_eligible`), a first order when required
//!    (`promotion.first_order_only`; a guest must sign in), uses left in all
//!    (`promotion.used_up`) and for the customer (`promotion.already_used`), budget left
//!    (`promotion.budget_exhausted`), at least one matching item
//!    (`promotion.no_matching_items`) and matching items worth the minimum before any
//!    discount (`promotion.minimum_not_reached`).
//! 4. Stacking: the first eligible candidate applies. Another applies after it only if it and
//!    every promotion applied so far are combinable (`promotion.not_combinable`): an exclusive
//!    promotion applies only alone, and the priority decides which one that is.
//! 5. Each promotion works on what is left of each line (and of the shipping fee) after the
//!    promotions before it, so the discounts can never add up to more than the order.
//!    Percentages round half up to the minor unit: per line for item actions, on the order
//!    for order actions. An order-level discount is shared over the lines in proportion to
//!    what is left of each, by largest remainder ([`allocate`]), so the line discounts add up
//!    exactly to it and none exceeds its line.
//! 6. A candidate whose discount would be zero does not apply
//!    (`promotion.nothing_to_discount`), nor one whose cost (discount plus shipping waived)
//!    would exceed its budget left (`promotion.budget_exhausted`): a promotion applies fully
//!    or not at all, which is also what `Reserve` will accept.
//!
//! The entered code's reason for not applying is reported as `code_rejection`; automatic
//! promotions that did not apply are listed in `skipped` with theirs, for the back office.

use std::collections::BTreeSet;

use agora_kernel::{Currency, CustomerId, DomainError, ErrorKind, Money, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Action, CategoryId, CustomerGroup, Offer, ProductId, PromotionCode, PromotionError,
    PromotionId, PromotionStatus, FULL_BP,
};

/// Most units of one line.
pub const MAX_LINE_QUANTITY: i64 = 10_000;

/// One line of the cart to price, with the catalog's facts about its product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub sku: Sku,
    pub product_id: ProductId,
    /// The product's categories (a promotion on a category covers its products).
    #[serde(default)]
    pub categories: Vec<CategoryId>,
    pub quantity: i64,
    /// From the catalog, never from the client.
    pub unit_price: Money,
}

/// What is known of the shopper.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFacts {
    /// The signed-in customer; `None` for a guest.
    pub customer: Option<CustomerId>,
    pub groups: BTreeSet<CustomerGroup>,
    /// Whether this would be the customer's first order (meaningless for a guest).
    pub first_order: bool,
}

/// A code the shopper entered, with what it redeems: the offer of its promotion (see
/// [`Promotion::offer`](crate::Promotion::offer)), or why there is none
/// (`promotion.unknown_code` when no promotion has the code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnteredCode {
    pub code: PromotionCode,
    pub offer: Result<Offer, PromotionError>,
}

/// Everything [`price`] needs. The caller gathers it; the engine reads nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricingInput {
    pub currency: Currency,
    pub lines: Vec<CartLine>,
    pub customer: CustomerFacts,
    /// The shipping fee before any promotion (the shop's shipping rule decides it).
    pub shipping: Money,
    /// The time the prices are for: promotion windows are checked against it.
    pub now: DateTime<Utc>,
    /// The automatic promotions on offer (inactive ones are skipped with their reason).
    pub automatic: Vec<Offer>,
    pub code: Option<EnteredCode>,
}

/// One priced line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub sku: Sku,
    pub product_id: ProductId,
    pub quantity: i64,
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub subtotal: Money,
    /// What every promotion together takes off this line; at most `subtotal`.
    pub discount: Money,
    /// `subtotal − discount`: what the shopper pays for the line (before tax).
    pub total: Money,
}

/// One promotion that applied, in stacking order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPromotion {
    pub promotion_id: PromotionId,
    pub name: String,
    /// The code it was redeemed with; `None` for an automatic promotion. `Reserve` needs it.
    pub code: Option<PromotionCode>,
    /// What it took off each line, in the order of the cart's lines.
    pub line_discounts: Vec<Money>,
    /// The sum of `line_discounts`.
    pub discount: Money,
    /// The part of the shipping fee it waived.
    pub shipping_discount: Money,
    /// `discount + shipping_discount`: what it costs the shop, the amount to reserve.
    pub cost: Money,
}

/// A promotion that did not apply, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedPromotion {
    pub promotion_id: Option<PromotionId>,
    pub code: Option<PromotionCode>,
    pub reason: PromotionError,
}

/// The priced cart. `total = subtotal − discount + shipping − shipping_discount`, never
/// negative; `discount` is exactly the sum of the lines' discounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedCart {
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    pub subtotal: Money,
    /// The order discount: the sum of every line's discount (shipping not included).
    pub discount: Money,
    /// The shipping fee before promotions.
    pub shipping: Money,
    pub shipping_discount: Money,
    /// Whether the whole shipping fee was waived (a fee of zero to begin with is not "free
    /// shipping").
    pub free_shipping: bool,
    pub total: Money,
    pub applied: Vec<AppliedPromotion>,
    /// Why the entered code does not apply, when it does not.
    pub code_rejection: Option<SkippedPromotion>,
    /// The automatic promotions that did not apply, with their reasons.
    pub skipped: Vec<SkippedPromotion>,
}

impl PricedCart {
    /// What the shopper pays for shipping.
    pub fn shipping_total(&self) -> Money {
        Money::new(
            self.shipping.amount_minor - self.shipping_discount.amount_minor,
            self.currency,
        )
    }
}

/// Why a cart could not be priced at all (as opposed to a promotion not applying).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("every price of a cart, and its shipping fee, must be in the cart's currency")]
    CurrencyMismatch,
    #[error("a line's quantity is between 1 and {MAX_LINE_QUANTITY}")]
    InvalidQuantity,
    #[error("a price or fee cannot be negative")]
    NegativeAmount,
    #[error("amount overflow")]
    Overflow,
}

impl DomainError for PricingError {
    fn code(&self) -> &'static str {
        match self {
            PricingError::CurrencyMismatch => "pricing.currency_mismatch",
            PricingError::InvalidQuantity => "pricing.invalid_quantity",
            PricingError::NegativeAmount => "pricing.negative_amount",
            PricingError::Overflow => "pricing.overflow",
        }
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

/// `amount × bp / 10 000`, rounded half up (amounts here are never negative).
fn percent_half_up(amount: i64, bp: u32) -> i64 {
    let scaled = i128::from(amount) * i128::from(bp) + i128::from(FULL_BP / 2);
    // At most `amount` since bp <= 10 000, so it fits.
    i64::try_from(scaled / i128::from(FULL_BP)).unwrap_or(amount)
}

/// Shares `total` over `weights` in proportion, by largest remainder: each share is first
/// rounded down, then the units left over go one each to the largest remainders (ties to the
/// earlier weight). The shares add up to exactly `total`; when `0 <= total <= Σ weights`
/// (weights not negative), no share exceeds its weight. Anything else gives `None`.
pub fn allocate(total: i64, weights: &[i64]) -> Option<Vec<i64>> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if total < 0 || weights.iter().any(|w| *w < 0) || i128::from(total) > sum {
        return None;
    }
    if total == 0 {
        return Some(vec![0; weights.len()]);
    }
    let total = i128::from(total);
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = total * i128::from(*w);
        shares.push(exact / sum);
        remainders.push((exact % sum, i));
    }
    let mut left = total - shares.iter().sum::<i128>();
    // Largest remainder first, then the earlier line.
    remainders.sort_by(|(ra, ia), (rb, ib)| rb.cmp(ra).then(ia.cmp(ib)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares.into_iter().map(|s| i64::try_from(s).ok()).collect()
}

/// What a refund of `quantity` units of `line` gives back when `already_refunded` of its units
/// were refunded before: what was paid for the line (its total after discounts), shared over
/// its units. Each step rounds in the shopper's favour (the cumulative share is rounded up),
/// and refunding every unit, in any steps, gives back exactly the line's total: never more.
pub fn refundable(
    line: &PricedLine,
    already_refunded: i64,
    quantity: i64,
) -> Result<Money, PricingError> {
    prorate(line.total, line.quantity, already_refunded, quantity)
}

/// The share of `paid` for `quantity` of `units` units after `already` of them: the
/// cumulative share `⌈paid × k / units⌉` at `already + quantity` minus the one at `already`.
/// Used for a line's goods ([`refundable`]) and equally for its tax.
pub fn prorate(
    paid: Money,
    units: i64,
    already: i64,
    quantity: i64,
) -> Result<Money, PricingError> {
    if units < 1 || already < 0 || quantity < 1 || already.saturating_add(quantity) > units {
        return Err(PricingError::InvalidQuantity);
    }
    if paid.amount_minor < 0 {
        return Err(PricingError::NegativeAmount);
    }
    let cumulative = |k: i64| -> i128 {
        let n = i128::from(units);
        (i128::from(paid.amount_minor) * i128::from(k) + n - 1) / n
    };
    let share = cumulative(already + quantity) - cumulative(already);
    i64::try_from(share)
        .map(|s| Money::new(s, paid.currency))
        .map_err(|_| PricingError::Overflow)
}

/// A candidate promotion and where it came from.
struct Candidate<'a> {
    offer: &'a Offer,
    from_code: bool,
}

/// The state of the cart while promotions are applied: what is left of each line and of the
/// shipping fee.
struct Remaining<'a> {
    lines: &'a [CartLine],
    subtotals: Vec<i64>,
    left: Vec<i64>,
    shipping_left: i64,
}

impl Remaining<'_> {
    fn matching(&self, offer: &Offer) -> Vec<bool> {
        self.lines
            .iter()
            .map(|l| {
                offer
                    .terms
                    .applies_to
                    .matches(&l.sku, &l.product_id, &l.categories)
            })
            .collect()
    }

    /// What `action` would take off each line and off shipping, given what is left.
    fn effect(&self, action: &Action, matching: &[bool]) -> (Vec<i64>, i64) {
        let n = self.lines.len();
        let base: i64 = self.left.iter().sum();
        match action {
            Action::PercentOffOrder { percent_bp } => {
                let total = percent_half_up(base, *percent_bp);
                (allocate(total, &self.left).unwrap_or(vec![0; n]), 0)
            }
            Action::AmountOffOrder { amount } => {
                let total = amount.amount_minor.min(base);
                (allocate(total, &self.left).unwrap_or(vec![0; n]), 0)
            }
            Action::PercentOffItems { percent_bp } => (
                (0..n)
                    .map(|i| {
                        if matching[i] {
                            percent_half_up(self.left[i], *percent_bp)
                        } else {
                            0
                        }
                    })
                    .collect(),
                0,
            ),
            Action::AmountOffEachItem { amount } => (
                (0..n)
                    .map(|i| {
                        if matching[i] {
                            amount
                                .amount_minor
                                .saturating_mul(self.lines[i].quantity)
                                .min(self.left[i])
                        } else {
                            0
                        }
                    })
                    .collect(),
                0,
            ),
            Action::BuyXGetY {
                buy,
                get,
                percent_bp,
            } => {
                let units: i64 = (0..n)
                    .filter(|i| matching[*i])
                    .map(|i| self.lines[i].quantity)
                    .sum();
                let group = i64::from(*buy) + i64::from(*get);
                let mut free = units / group * i64::from(*get);
                // The cheapest matching units are the ones discounted (ties: the earlier line).
                let mut order: Vec<usize> = (0..n).filter(|i| matching[*i]).collect();
                order.sort_by_key(|i| (self.lines[*i].unit_price.amount_minor, *i));
                let mut discounts = vec![0; n];
                for i in order {
                    if free == 0 {
                        break;
                    }
                    let take = free.min(self.lines[i].quantity);
                    free -= take;
                    let value = self.lines[i].unit_price.amount_minor.saturating_mul(take);
                    discounts[i] = percent_half_up(value, *percent_bp).min(self.left[i]);
                }
                (discounts, 0)
            }
            Action::FreeShipping => (vec![0; n], self.shipping_left),
        }
    }
}

/// Why `offer` cannot apply to this cart at all, before stacking and before its effect.
fn ineligible(
    offer: &Offer,
    input: &PricingInput,
    remaining: &Remaining,
    matching: &[bool],
) -> Option<PromotionError> {
    let terms = &offer.terms;
    match offer.status {
        PromotionStatus::Active => {}
        PromotionStatus::Ended => return Some(PromotionError::Ended),
        PromotionStatus::Draft | PromotionStatus::Paused => return Some(PromotionError::NotActive),
    }
    if let Err(reason) = terms.window.check(input.now) {
        return Some(reason);
    }
    if terms.currency != input.currency {
        return Some(PromotionError::CurrencyMismatch);
    }
    if offer.code_redeemed {
        return Some(PromotionError::CodeUsed);
    }
    let customer = &input.customer;
    let eligibility = &terms.eligibility;
    if !eligibility.customer_groups.is_empty() {
        if customer.customer.is_none() {
            return Some(PromotionError::SignInRequired);
        }
        if eligibility.customer_groups.is_disjoint(&customer.groups) {
            return Some(PromotionError::CustomerNotEligible);
        }
    }
    if eligibility.first_order_only {
        if customer.customer.is_none() {
            return Some(PromotionError::SignInRequired);
        }
        if !customer.first_order {
            return Some(PromotionError::FirstOrderOnly);
        }
    }
    let limits = &terms.limits;
    if limits.total_uses.is_some_and(|limit| offer.uses >= limit) {
        return Some(PromotionError::UsedUp);
    }
    if let Some(limit) = limits.uses_per_customer {
        if customer.customer.is_none() {
            return Some(PromotionError::SignInRequired);
        }
        if offer.customer_uses >= limit {
            return Some(PromotionError::AlreadyUsed);
        }
    }
    if limits
        .budget
        .is_some_and(|b| offer.spent.amount_minor >= b.amount_minor)
    {
        return Some(PromotionError::BudgetExhausted);
    }
    if !matching.iter().any(|m| *m) {
        return Some(PromotionError::NoMatchingItems);
    }
    if let Some(minimum) = &eligibility.minimum_subtotal {
        let matched: i64 = (0..matching.len())
            .filter(|i| matching[*i])
            .map(|i| remaining.subtotals[i])
            .sum();
        if matched < minimum.amount_minor {
            return Some(PromotionError::MinimumNotReached);
        }
    }
    None
}

/// Prices a cart: see the module documentation for the rules.
pub fn price(input: &PricingInput) -> Result<PricedCart, PricingError> {
    let currency = input.currency;
    let mut subtotals = Vec::with_capacity(input.lines.len());
    for line in &input.lines {
        if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity) {
            return Err(PricingError::InvalidQuantity);
        }
        if line.unit_price.currency != currency {
            return Err(PricingError::CurrencyMismatch);
        }
        if line.unit_price.amount_minor < 0 {
            return Err(PricingError::NegativeAmount);
        }
        let subtotal = line
            .unit_price
            .amount_minor
            .checked_mul(line.quantity)
            .ok_or(PricingError::Overflow)?;
        subtotals.push(subtotal);
    }
    if input.shipping.currency != currency {
        return Err(PricingError::CurrencyMismatch);
    }
    if input.shipping.amount_minor < 0 {
        return Err(PricingError::NegativeAmount);
    }
    let subtotal = subtotals
        .iter()
        .try_fold(0i64, |sum, s| sum.checked_add(*s))
        .ok_or(PricingError::Overflow)?;
    subtotal
        .checked_add(input.shipping.amount_minor)
        .ok_or(PricingError::Overflow)?;

    let mut remaining = Remaining {
        lines: &input.lines,
        left: subtotals.clone(),
        subtotals,
        shipping_left: input.shipping.amount_minor,
    };

    let mut code_rejection = None;
    let mut skipped = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut seen = BTreeSet::new();
    if let Some(entered) = &input.code {
        match &entered.offer {
            Ok(offer) => {
                seen.insert(offer.promotion_id);
                candidates.push(Candidate {
                    offer,
                    from_code: true,
                });
            }
            Err(reason) => {
                code_rejection = Some(SkippedPromotion {
                    promotion_id: None,
                    code: Some(entered.code.clone()),
                    reason: *reason,
                })
            }
        }
    }
    for offer in &input.automatic {
        // The same promotion listed twice (or also entered as a code) is considered once.
        if seen.insert(offer.promotion_id) {
            candidates.push(Candidate {
                offer,
                from_code: false,
            });
        }
    }
    candidates.sort_by_key(|c| (c.offer.terms.stacking.priority, c.offer.promotion_id));

    let mut applied: Vec<AppliedPromotion> = Vec::new();
    let mut all_combinable = true;
    for candidate in candidates {
        let offer = candidate.offer;
        let matching = remaining.matching(offer);
        let combinable = offer.terms.stacking.combinable;
        let outcome = ineligible(offer, input, &remaining, &matching)
            .map_or(Ok(()), Err)
            .and_then(|()| {
                let stacks = applied.is_empty() || (combinable && all_combinable);
                if !stacks {
                    return Err(PromotionError::NotCombinable);
                }
                let (lines, shipping) = remaining.effect(&offer.terms.action, &matching);
                let discount: i64 = lines.iter().sum();
                let cost = discount + shipping;
                if cost == 0 {
                    return Err(PromotionError::NothingToDiscount);
                }
                if let Some(budget) = offer.terms.limits.budget {
                    if offer.spent.amount_minor.saturating_add(cost) > budget.amount_minor {
                        return Err(PromotionError::BudgetExhausted);
                    }
                }
                Ok((lines, shipping, discount, cost))
            });
        match outcome {
            Ok((lines, shipping, discount, cost)) => {
                for (left, d) in remaining.left.iter_mut().zip(&lines) {
                    *left -= d;
                }
                remaining.shipping_left -= shipping;
                all_combinable &= combinable;
                applied.push(AppliedPromotion {
                    promotion_id: offer.promotion_id,
                    name: offer.terms.name.clone(),
                    code: if candidate.from_code {
                        offer.code.clone()
                    } else {
                        None
                    },
                    line_discounts: lines.iter().map(|d| Money::new(*d, currency)).collect(),
                    discount: Money::new(discount, currency),
                    shipping_discount: Money::new(shipping, currency),
                    cost: Money::new(cost, currency),
                });
            }
            Err(reason) => {
                let skip = SkippedPromotion {
                    promotion_id: Some(offer.promotion_id),
                    code: offer.code.clone().filter(|_| candidate.from_code),
                    reason,
                };
                if candidate.from_code {
                    code_rejection = Some(skip);
                } else {
                    skipped.push(skip);
                }
            }
        }
    }

    let lines: Vec<PricedLine> = input
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| PricedLine {
            sku: line.sku.clone(),
            product_id: line.product_id,
            quantity: line.quantity,
            unit_price: line.unit_price,
            subtotal: Money::new(remaining.subtotals[i], currency),
            discount: Money::new(remaining.subtotals[i] - remaining.left[i], currency),
            total: Money::new(remaining.left[i], currency),
        })
        .collect();
    let discount: i64 = lines.iter().map(|l| l.discount.amount_minor).sum();
    let shipping_discount = input.shipping.amount_minor - remaining.shipping_left;
    let total = remaining.left.iter().sum::<i64>() + remaining.shipping_left;
    Ok(PricedCart {
        currency,
        lines,
        subtotal: Money::new(subtotal, currency),
        discount: Money::new(discount, currency),
        shipping: input.shipping,
        shipping_discount: Money::new(shipping_discount, currency),
        free_shipping: input.shipping.amount_minor > 0 && remaining.shipping_left == 0,
        total: Money::new(total, currency),
        applied,
        code_rejection,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Eligibility, ItemFilter, Limits, PromotionTerms, Stacking, Window};
    use chrono::TimeDelta;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
    }

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    fn product(n: u128) -> ProductId {
        ProductId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn pid(n: u128) -> PromotionId {
        PromotionId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).expect("sku")
    }

    fn category(s: &str) -> CategoryId {
        CategoryId::parse(s).expect("slug")
    }

    fn group(s: &str) -> CustomerGroup {
        CustomerGroup::parse(s).expect("slug")
    }

    fn code(s: &str) -> PromotionCode {
        PromotionCode::parse(s).expect("code")
    }

    fn line(s: &str, p: u128, cat: &str, quantity: i64, unit: i64) -> CartLine {
        CartLine {
            sku: sku(s),
            product_id: product(p),
            categories: vec![category(cat)],
            quantity,
            unit_price: eur(unit),
        }
    }

    /// 2 × 20.00 tee (shirts), 1 × 15.00 mug (home), 3 × 5.00 cap (hats): 70.00, and 4.99
    /// shipping.
    fn cart() -> Vec<CartLine> {
        vec![
            line("TEE", 1, "shirts", 2, 2_000),
            line("MUG", 2, "home", 1, 1_500),
            line("CAP", 3, "hats", 3, 500),
        ]
    }

    fn terms(action: Action) -> PromotionTerms {
        PromotionTerms {
            name: "Promo".into(),
            currency: Currency::EUR,
            applies_to: ItemFilter::default(),
            eligibility: Eligibility::default(),
            action,
            window: Window::default(),
            limits: Limits::default(),
            stacking: Stacking::default(),
        }
    }

    fn combinable(priority: u32, terms: PromotionTerms) -> PromotionTerms {
        PromotionTerms {
            stacking: Stacking {
                combinable: true,
                priority,
            },
            ..terms
        }
    }

    fn offer(n: u128, terms: PromotionTerms) -> Offer {
        Offer {
            promotion_id: pid(n),
            status: PromotionStatus::Active,
            spent: Money::zero(terms.currency),
            terms,
            code: None,
            code_redeemed: false,
            uses: 0,
            customer_uses: 0,
        }
    }

    fn coded(n: u128, terms: PromotionTerms) -> EnteredCode {
        EnteredCode {
            code: code("SAVE"),
            offer: Ok(Offer {
                code: Some(code("SAVE")),
                ..offer(n, terms)
            }),
        }
    }

    fn guest() -> CustomerFacts {
        CustomerFacts::default()
    }

    fn signed_in(groups: &[&str], first_order: bool) -> CustomerFacts {
        CustomerFacts {
            customer: Some(CustomerId::from_uuid(uuid::Uuid::from_u128(77))),
            groups: groups.iter().map(|g| group(g)).collect(),
            first_order,
        }
    }

    fn input(automatic: Vec<Offer>, code: Option<EnteredCode>) -> PricingInput {
        PricingInput {
            currency: Currency::EUR,
            lines: cart(),
            customer: guest(),
            shipping: eur(499),
            now: t(100),
            automatic,
            code,
        }
    }

    fn priced(input: &PricingInput) -> PricedCart {
        price(input).expect("priced")
    }

    fn line_discounts(cart: &PricedCart) -> Vec<i64> {
        cart.lines.iter().map(|l| l.discount.amount_minor).collect()
    }

    /// Prices with the code and returns why it did not apply (`None`: it applied).
    fn code_reason(input: &PricingInput) -> Option<PromotionError> {
        let cart = priced(input);
        let applied = cart.applied.iter().any(|a| a.code.is_some());
        assert_eq!(applied, cart.code_rejection.is_none(), "{cart:?}");
        cart.code_rejection.map(|r| r.reason)
    }

    fn with_code(terms: PromotionTerms) -> PricingInput {
        input(vec![], Some(coded(9, terms)))
    }

    // ---- no promotion ----

    #[test]
    fn without_promotions_the_total_is_subtotal_plus_shipping() {
        let cart = priced(&input(vec![], None));
        assert_eq!(cart.subtotal, eur(7_000));
        assert_eq!(cart.discount, eur(0));
        assert_eq!(cart.total, eur(7_499));
        assert!(cart.applied.is_empty() && cart.code_rejection.is_none());
    }

    // ---- actions ----

    #[test]
    fn a_percentage_off_the_order_is_shared_over_the_lines_by_largest_remainder() {
        // 3.33 % of 70.00 is 2.331, rounded half up to 2.33. Shared 40:15:15: 133.14, 49.93,
        // 49.93; rounded down 133 + 49 + 49 = 231; the 2 cents left go to the two largest
        // remainders (.93 and .93, the earlier line first).
        let cart = priced(&input(
            vec![offer(1, terms(Action::PercentOffOrder { percent_bp: 333 }))],
            None,
        ));
        assert_eq!(cart.discount, eur(233));
        assert_eq!(line_discounts(&cart), vec![133, 50, 50]);
        assert_eq!(cart.total, eur(7_000 - 233 + 499));
        assert_eq!(cart.applied[0].cost, eur(233));
    }

    #[test]
    fn a_percentage_off_matching_items_discounts_only_them() {
        let shirts = PromotionTerms {
            applies_to: ItemFilter {
                categories: [category("shirts")].into(),
                ..ItemFilter::default()
            },
            ..terms(Action::PercentOffItems { percent_bp: 2_500 })
        };
        let cart = priced(&input(vec![offer(1, shirts)], None));
        assert_eq!(line_discounts(&cart), vec![1_000, 0, 0]);
    }

    #[test]
    fn percentages_round_half_up_to_the_minor_unit() {
        // 50 % of a 0.01 line is half a cent: half up gives the cent. 12.5 % of 0.20 is 2.5
        // cents: 3.
        let lines = vec![
            line("PIN", 4, "misc", 1, 1),
            line("BADGE", 5, "misc", 1, 20),
        ];
        let half = PricingInput {
            lines: lines.clone(),
            ..input(
                vec![offer(
                    1,
                    terms(Action::PercentOffItems { percent_bp: 5_000 }),
                )],
                None,
            )
        };
        assert_eq!(line_discounts(&priced(&half)), vec![1, 10]);
        let eighth = PricingInput {
            lines,
            ..input(
                vec![offer(
                    1,
                    terms(Action::PercentOffItems { percent_bp: 1_250 }),
                )],
                None,
            )
        };
        assert_eq!(line_discounts(&priced(&eighth)), vec![0, 3]);
    }

    #[test]
    fn a_fixed_amount_off_the_order_is_shared_and_never_exceeds_the_order() {
        // 10.00 shared 40:15:15 is 571.43, 214.29, 214.29: 571 + 214 + 214 = 999, and the
        // last cent goes to the largest remainder (.43).
        let cart = priced(&input(
            vec![offer(
                1,
                terms(Action::AmountOffOrder { amount: eur(1_000) }),
            )],
            None,
        ));
        assert_eq!(line_discounts(&cart), vec![572, 214, 214]);
        let huge = priced(&input(
            vec![offer(
                1,
                terms(Action::AmountOffOrder {
                    amount: eur(99_999),
                }),
            )],
            None,
        ));
        assert_eq!(huge.discount, eur(7_000));
        assert_eq!(line_discounts(&huge), vec![4_000, 1_500, 1_500]);
        assert_eq!(huge.total, eur(499));
    }

    #[test]
    fn a_fixed_amount_off_each_matching_unit_stops_at_the_line() {
        let caps = PromotionTerms {
            applies_to: ItemFilter {
                skus: [sku("CAP")].into(),
                ..ItemFilter::default()
            },
            ..terms(Action::AmountOffEachItem { amount: eur(300) })
        };
        assert_eq!(
            line_discounts(&priced(&input(vec![offer(1, caps)], None))),
            vec![0, 0, 900]
        );
        let mugs = PromotionTerms {
            applies_to: ItemFilter {
                products: [product(2)].into(),
                ..ItemFilter::default()
            },
            ..terms(Action::AmountOffEachItem { amount: eur(2_000) })
        };
        assert_eq!(
            line_discounts(&priced(&input(vec![offer(1, mugs)], None))),
            vec![0, 1_500, 0]
        );
    }

    #[test]
    fn buy_x_get_y_discounts_the_cheapest_matching_units() {
        let two_for_one = |lines: Vec<CartLine>| {
            let promo = PromotionTerms {
                applies_to: ItemFilter {
                    categories: [category("shirts"), category("hats")].into(),
                    ..ItemFilter::default()
                },
                ..terms(Action::BuyXGetY {
                    buy: 2,
                    get: 1,
                    percent_bp: 10_000,
                })
            };
            PricingInput {
                lines,
                ..input(vec![offer(1, promo)], None)
            }
        };
        // 2 tees + 3 caps = 5 matching units: one group of 3, so one cap (the cheapest) free.
        assert_eq!(
            line_discounts(&priced(&two_for_one(cart()))),
            vec![0, 0, 500]
        );
        // 2 tees + 4 caps = 6 units: two groups, two caps free.
        let mut more = cart();
        more[2].quantity = 4;
        assert_eq!(
            line_discounts(&priced(&two_for_one(more))),
            vec![0, 0, 1_000]
        );
        // 2 units only: no group, nothing to discount.
        let few = vec![line("TEE", 1, "shirts", 2, 2_000)];
        let cart = priced(&two_for_one(few));
        assert!(cart.applied.is_empty());
        assert_eq!(cart.skipped[0].reason, PromotionError::NothingToDiscount);
    }

    #[test]
    fn buy_one_get_one_half_price() {
        let promo = terms(Action::BuyXGetY {
            buy: 1,
            get: 1,
            percent_bp: 5_000,
        });
        // 6 units: 3 groups of 2, the 3 cheapest (the caps) half price: 3 × 2.50.
        let cart = priced(&input(vec![offer(1, promo)], None));
        assert_eq!(line_discounts(&cart), vec![0, 0, 750]);
    }

    #[test]
    fn free_shipping_waives_the_fee() {
        let cart = priced(&input(vec![offer(1, terms(Action::FreeShipping))], None));
        assert!(cart.free_shipping);
        assert_eq!(cart.shipping_discount, eur(499));
        assert_eq!(cart.shipping_total(), eur(0));
        assert_eq!(cart.discount, eur(0));
        assert_eq!(cart.total, eur(7_000));
        assert_eq!(cart.applied[0].cost, eur(499));
        // A fee of zero leaves nothing to waive.
        let no_fee = PricingInput {
            shipping: eur(0),
            ..with_code(terms(Action::FreeShipping))
        };
        assert_eq!(
            code_reason(&no_fee),
            Some(PromotionError::NothingToDiscount)
        );
    }

    // ---- rules ----

    #[test]
    fn the_minimum_is_counted_on_the_matching_items_before_discounts() {
        let minimum = |minor: i64| PromotionTerms {
            applies_to: ItemFilter {
                categories: [category("shirts")].into(),
                ..ItemFilter::default()
            },
            eligibility: Eligibility {
                minimum_subtotal: Some(eur(minor)),
                ..Eligibility::default()
            },
            ..terms(Action::PercentOffOrder { percent_bp: 1_000 })
        };
        // The shirts are 40.00 of the 70.00.
        assert_eq!(
            code_reason(&with_code(minimum(4_001))),
            Some(PromotionError::MinimumNotReached)
        );
        let cart = priced(&with_code(minimum(4_000)));
        assert_eq!(cart.discount, eur(700));
        assert_eq!(cart.applied[0].code, Some(code("SAVE")));
    }

    #[test]
    fn a_promotion_for_items_not_in_the_cart_does_not_apply() {
        let shoes = PromotionTerms {
            applies_to: ItemFilter {
                skus: [sku("SHOE-42")].into(),
                ..ItemFilter::default()
            },
            ..terms(Action::PercentOffItems { percent_bp: 1_000 })
        };
        assert_eq!(
            code_reason(&with_code(shoes)),
            Some(PromotionError::NoMatchingItems)
        );
    }

    #[test]
    fn a_group_promotion_needs_a_signed_in_member() {
        let vip = PromotionTerms {
            eligibility: Eligibility {
                customer_groups: [group("vip")].into(),
                ..Eligibility::default()
            },
            ..terms(Action::PercentOffOrder { percent_bp: 1_000 })
        };
        let as_customer = |customer: CustomerFacts| PricingInput {
            customer,
            ..with_code(vip.clone())
        };
        assert_eq!(
            code_reason(&as_customer(guest())),
            Some(PromotionError::SignInRequired)
        );
        assert_eq!(
            code_reason(&as_customer(signed_in(&["wholesale"], false))),
            Some(PromotionError::CustomerNotEligible)
        );
        assert_eq!(code_reason(&as_customer(signed_in(&["vip"], false))), None);
    }

    #[test]
    fn a_first_order_promotion_applies_to_a_first_order_only() {
        let welcome = PromotionTerms {
            eligibility: Eligibility {
                first_order_only: true,
                ..Eligibility::default()
            },
            ..terms(Action::PercentOffOrder { percent_bp: 1_000 })
        };
        let as_customer = |customer: CustomerFacts| PricingInput {
            customer,
            ..with_code(welcome.clone())
        };
        assert_eq!(
            code_reason(&as_customer(guest())),
            Some(PromotionError::SignInRequired)
        );
        assert_eq!(
            code_reason(&as_customer(signed_in(&[], false))),
            Some(PromotionError::FirstOrderOnly)
        );
        assert_eq!(code_reason(&as_customer(signed_in(&[], true))), None);
    }

    #[test]
    fn a_code_outside_its_window_or_not_running_says_why() {
        let window = |starts: i64, ends: i64| PromotionTerms {
            window: Window {
                starts_at: Some(t(starts)),
                ends_at: Some(t(ends)),
            },
            ..terms(Action::FreeShipping)
        };
        // Priced at t(100).
        assert_eq!(
            code_reason(&with_code(window(101, 200))),
            Some(PromotionError::NotYetValid)
        );
        assert_eq!(
            code_reason(&with_code(window(0, 100))),
            Some(PromotionError::Expired)
        );
        for (status, reason) in [
            (PromotionStatus::Draft, PromotionError::NotActive),
            (PromotionStatus::Paused, PromotionError::NotActive),
            (PromotionStatus::Ended, PromotionError::Ended),
        ] {
            let mut entered = coded(9, terms(Action::FreeShipping));
            if let Ok(offer) = &mut entered.offer {
                offer.status = status;
            }
            assert_eq!(code_reason(&input(vec![], Some(entered))), Some(reason));
        }
    }

    #[test]
    fn a_promotion_in_another_currency_does_not_apply() {
        let dollars = PromotionTerms {
            currency: Currency::USD,
            ..terms(Action::FreeShipping)
        };
        assert_eq!(
            code_reason(&with_code(dollars)),
            Some(PromotionError::CurrencyMismatch)
        );
    }

    #[test]
    fn unknown_and_redeemed_codes_say_so() {
        let unknown = EnteredCode {
            code: code("NOPE"),
            offer: Err(PromotionError::UnknownCode),
        };
        let cart = priced(&input(vec![], Some(unknown)));
        assert_eq!(
            cart.code_rejection,
            Some(SkippedPromotion {
                promotion_id: None,
                code: Some(code("NOPE")),
                reason: PromotionError::UnknownCode,
            })
        );
        let mut used = coded(9, terms(Action::FreeShipping));
        if let Ok(offer) = &mut used.offer {
            offer.code_redeemed = true;
        }
        assert_eq!(
            code_reason(&input(vec![], Some(used))),
            Some(PromotionError::CodeUsed)
        );
    }

    // ---- limits ----

    #[test]
    fn limits_reached_say_which() {
        let limited = |limits: Limits, uses: u64, customer_uses: u32, spent: i64| {
            let mut entered = coded(
                9,
                PromotionTerms {
                    limits,
                    ..terms(Action::AmountOffOrder { amount: eur(500) })
                },
            );
            if let Ok(offer) = &mut entered.offer {
                offer.uses = uses;
                offer.customer_uses = customer_uses;
                offer.spent = eur(spent);
            }
            PricingInput {
                customer: signed_in(&[], false),
                ..input(vec![], Some(entered))
            }
        };
        let uses = Limits {
            total_uses: Some(3),
            ..Limits::default()
        };
        assert_eq!(
            code_reason(&limited(uses, 3, 0, 0)),
            Some(PromotionError::UsedUp)
        );
        assert_eq!(code_reason(&limited(uses, 2, 0, 0)), None);
        let per_customer = Limits {
            uses_per_customer: Some(1),
            ..Limits::default()
        };
        assert_eq!(
            code_reason(&limited(per_customer, 1, 1, 0)),
            Some(PromotionError::AlreadyUsed)
        );
        let budget = Limits {
            budget: Some(eur(1_000)),
            ..Limits::default()
        };
        // Spent entirely, or not enough left for this order's 5.00: a promotion applies
        // fully or not at all.
        assert_eq!(
            code_reason(&limited(budget, 9, 0, 1_000)),
            Some(PromotionError::BudgetExhausted)
        );
        assert_eq!(
            code_reason(&limited(budget, 9, 0, 501)),
            Some(PromotionError::BudgetExhausted)
        );
        assert_eq!(code_reason(&limited(budget, 9, 0, 500)), None);
    }

    // ---- stacking ----

    #[test]
    fn combinable_promotions_apply_in_priority_order_each_on_what_is_left() {
        let first = offer(
            1,
            combinable(10, terms(Action::PercentOffOrder { percent_bp: 1_000 })),
        );
        let second = offer(
            2,
            combinable(20, terms(Action::AmountOffOrder { amount: eur(500) })),
        );
        // Listed in the wrong order: the engine sorts them.
        let cart = priced(&input(vec![second, first], None));
        let order: Vec<_> = cart.applied.iter().map(|a| a.promotion_id).collect();
        assert_eq!(order, vec![pid(1), pid(2)]);
        // 10 % of 70.00 = 7.00, then 5.00 off the 63.00 left.
        assert_eq!(cart.applied[0].discount, eur(700));
        assert_eq!(cart.applied[1].discount, eur(500));
        assert_eq!(cart.discount, eur(1_200));
        // Each promotion's own shares add up to its discount, and per line to the line's.
        for (i, line) in cart.lines.iter().enumerate() {
            let sum: i64 = cart
                .applied
                .iter()
                .map(|a| a.line_discounts[i].amount_minor)
                .sum();
            assert_eq!(sum, line.discount.amount_minor);
        }
    }

    #[test]
    fn equal_priorities_are_ordered_by_promotion_id() {
        let a = offer(5, combinable(10, terms(Action::FreeShipping)));
        let b = offer(
            3,
            combinable(10, terms(Action::PercentOffOrder { percent_bp: 100 })),
        );
        let cart = priced(&input(vec![a, b], None));
        let order: Vec<_> = cart.applied.iter().map(|a| a.promotion_id).collect();
        assert_eq!(order, vec![pid(3), pid(5)]);
    }

    #[test]
    fn an_exclusive_promotion_first_in_line_blocks_the_code() {
        let exclusive = offer(
            1,
            PromotionTerms {
                stacking: Stacking {
                    combinable: false,
                    priority: 1,
                },
                ..terms(Action::PercentOffOrder { percent_bp: 1_000 })
            },
        );
        let code = coded(
            9,
            combinable(50, terms(Action::AmountOffOrder { amount: eur(500) })),
        );
        let cart = priced(&input(vec![exclusive], Some(code)));
        assert_eq!(cart.applied.len(), 1);
        assert_eq!(
            cart.code_rejection.map(|r| r.reason),
            Some(PromotionError::NotCombinable)
        );
    }

    #[test]
    fn an_exclusive_code_first_in_line_wins_over_combinable_automatics() {
        let automatic = offer(
            1,
            combinable(50, terms(Action::PercentOffOrder { percent_bp: 1_000 })),
        );
        let code = coded(
            9,
            PromotionTerms {
                stacking: Stacking {
                    combinable: false,
                    priority: 5,
                },
                ..terms(Action::AmountOffOrder { amount: eur(500) })
            },
        );
        let cart = priced(&input(vec![automatic], Some(code)));
        assert_eq!(cart.applied.len(), 1);
        assert_eq!(cart.applied[0].code, Some(super::tests::code("SAVE")));
        assert_eq!(cart.skipped[0].reason, PromotionError::NotCombinable);
        assert!(cart.code_rejection.is_none());
    }

    #[test]
    fn a_promotion_after_everything_was_taken_off_has_nothing_to_discount() {
        let all = offer(
            1,
            combinable(1, terms(Action::PercentOffOrder { percent_bp: 10_000 })),
        );
        let more = coded(
            9,
            combinable(2, terms(Action::AmountOffOrder { amount: eur(100) })),
        );
        let cart = priced(&input(vec![all], Some(more)));
        assert_eq!(cart.total, eur(499));
        assert_eq!(
            cart.code_rejection.map(|r| r.reason),
            Some(PromotionError::NothingToDiscount)
        );
    }

    #[test]
    fn inactive_automatic_promotions_are_skipped_with_their_reason() {
        let mut paused = offer(1, terms(Action::FreeShipping));
        paused.status = PromotionStatus::Paused;
        let cart = priced(&input(vec![paused], None));
        assert!(cart.applied.is_empty());
        assert_eq!(
            cart.skipped,
            vec![SkippedPromotion {
                promotion_id: Some(pid(1)),
                code: None,
                reason: PromotionError::NotActive,
            }]
        );
    }

    // ---- input ----

    #[test]
    fn a_malformed_cart_is_refused() {
        let mut other_currency = input(vec![], None);
        other_currency.lines[0].unit_price = Money::new(100, Currency::USD);
        assert_eq!(price(&other_currency), Err(PricingError::CurrencyMismatch));
        let mut none = input(vec![], None);
        none.lines[1].quantity = 0;
        assert_eq!(price(&none), Err(PricingError::InvalidQuantity));
        let mut negative = input(vec![], None);
        negative.lines[2].unit_price = eur(-1);
        assert_eq!(price(&negative), Err(PricingError::NegativeAmount));
        let shipping = PricingInput {
            shipping: Money::new(1, Currency::USD),
            ..input(vec![], None)
        };
        assert_eq!(price(&shipping), Err(PricingError::CurrencyMismatch));
    }

    // ---- allocation and refunds ----

    #[test]
    fn allocation_is_exact_and_bounded() {
        assert_eq!(allocate(10, &[5, 5, 5]), Some(vec![4, 3, 3]));
        assert_eq!(allocate(2, &[1, 1, 1]), Some(vec![1, 1, 0]));
        assert_eq!(allocate(4, &[1, 1, 1]), None);
        assert_eq!(allocate(0, &[5, 0]), Some(vec![0, 0]));
        assert_eq!(allocate(5, &[5, 0]), Some(vec![5, 0]));
        assert_eq!(allocate(6, &[5, 0]), None);
        assert_eq!(allocate(-1, &[5]), None);
        assert_eq!(allocate(1, &[]), None);
    }

    #[test]
    fn a_refund_gives_back_what_was_paid_for_the_units() {
        // 3 caps for 15.00 with 5.00 off: 10.00 paid, 3.333… a unit.
        let line = PricedLine {
            sku: sku("CAP"),
            product_id: product(3),
            quantity: 3,
            unit_price: eur(500),
            subtotal: eur(1_500),
            discount: eur(500),
            total: eur(1_000),
        };
        assert_eq!(refundable(&line, 0, 1), Ok(eur(334)));
        assert_eq!(refundable(&line, 1, 1), Ok(eur(333)));
        assert_eq!(refundable(&line, 2, 1), Ok(eur(333)));
        assert_eq!(refundable(&line, 0, 3), Ok(eur(1_000)));
        assert_eq!(refundable(&line, 1, 2), Ok(eur(666)));
        assert_eq!(refundable(&line, 2, 2), Err(PricingError::InvalidQuantity));
        assert_eq!(refundable(&line, 0, 0), Err(PricingError::InvalidQuantity));
    }
}

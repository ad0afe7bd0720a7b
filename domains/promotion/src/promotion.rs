use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use agora_kernel::{CustomerId, Decider, Money, Principal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::terms::MAX_BATCH_CODES;
use crate::{
    generate_codes, CodeSpec, OrderId, PromotionCode, PromotionCommand, PromotionError,
    PromotionEvent, PromotionId, PromotionTerms, Redeemable,
};

/// Back-office roles that may create and run promotions (auditors and vendors only read or
/// nothing: a promotion spends the shop's money).
pub const PROMOTION_MANAGERS: &[&str] = &["admin", "staff"];

/// Where a promotion is in its life: draft → active ⇄ paused → ended (ended is final, and
/// reachable from any state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionStatus {
    /// Being prepared: terms can change; nobody can redeem it.
    Draft,
    /// Redeemable within its window and limits.
    Active,
    /// Stopped for now; can be activated again.
    Paused,
    /// Stopped for good.
    Ended,
}

/// How shoppers get the promotion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionKind {
    Automatic,
    /// One shared code.
    Code,
    /// A batch of codes, each redeemable once.
    UniqueCodes,
}

/// Where one order's redemption stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedemptionState {
    /// Held while the order is being paid.
    Reserved,
    /// The order was paid.
    Confirmed,
}

/// One order's use of the promotion. A released one is forgotten: its use and amount are back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub customer: Option<CustomerId>,
    pub code: Option<PromotionCode>,
    pub amount: Money,
    pub state: RedemptionState,
    pub reserved_at: DateTime<Utc>,
}

/// One promotion, folded from its events.
///
/// Invariants (enforced by [`Promotion::decide`]): `uses` is the number of open and confirmed
/// redemptions and never exceeds `limits.total_uses`; `spent` is the sum of their amounts and
/// never exceeds `limits.budget`; no customer holds more than `limits.uses_per_customer`; a
/// unique code is held by at most one order. `uses`, `spent`, `uses_by_customer` and
/// `redeemed_codes` are derived from `redemptions` and kept by [`Promotion::evolve`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// `None` until created.
    pub status: Option<PromotionStatus>,
    pub terms: Option<PromotionTerms>,
    pub kind: Option<PromotionKind>,
    /// The codes that redeem it: one for a code promotion, the batch for unique codes.
    pub codes: BTreeSet<PromotionCode>,
    /// Open and confirmed redemptions by order.
    pub redemptions: BTreeMap<OrderId, Redemption>,
    pub uses: u64,
    /// Minor units of the promotion's currency.
    pub spent_minor: i64,
    pub uses_by_customer: BTreeMap<CustomerId, u32>,
    /// Unique codes held by an order (open or confirmed).
    pub redeemed_codes: BTreeMap<PromotionCode, OrderId>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What the pricing engine needs to know of one promotion, for one customer and entered code:
/// its terms and how much of it is left. Built by [`Promotion::offer`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub promotion_id: PromotionId,
    pub status: PromotionStatus,
    pub terms: PromotionTerms,
    /// The entered code, when the promotion is a code one (and accepts it).
    pub code: Option<PromotionCode>,
    /// The entered code is a unique code another order already holds.
    pub code_redeemed: bool,
    pub uses: u64,
    /// Uses held by the customer the offer was built for (0 for a guest).
    pub customer_uses: u32,
    pub spent: Money,
}

/// One unique code as the back office sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeView {
    pub code: PromotionCode,
    pub redeemed_by: Option<OrderId>,
}

/// What the back office sees of a promotion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionView {
    pub id: String,
    pub version: u64,
    pub status: Option<PromotionStatus>,
    pub kind: Option<PromotionKind>,
    pub terms: Option<PromotionTerms>,
    /// The shared code of a code promotion.
    pub code: Option<PromotionCode>,
    pub codes_total: u64,
    pub codes_redeemed: u64,
    /// Every unique code with its holder. Only the full view (a read) lists them; a command's
    /// reply leaves this empty, since a batch can hold ten thousand.
    pub unique_codes: Vec<CodeView>,
    /// Open plus confirmed redemptions.
    pub uses: u64,
    pub open_redemptions: u64,
    pub uses_left: Option<u64>,
    pub spent: Option<Money>,
    pub budget_left: Option<Money>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Who may send `command`: managing is back-office work; redeeming belongs to the checkout
/// (the platform), with admins as the manual override.
fn authorize(command: &PromotionCommand, by: &Principal) -> Result<(), PromotionError> {
    let allowed = match by {
        Principal::System { .. } => true,
        Principal::Staff { role, .. } if command.is_redemption() => role == "admin",
        Principal::Staff { role, .. } => PROMOTION_MANAGERS.contains(&role.as_str()),
        // The shop runs promotions; a vendor's user manages none.
        Principal::Vendor { .. } | Principal::Guest { .. } | Principal::Customer { .. } => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(PromotionError::Forbidden)
    }
}

fn redeemable(codes: &CodeSpec) -> Result<Redeemable, PromotionError> {
    Ok(match codes {
        CodeSpec::Automatic => Redeemable::Automatic,
        CodeSpec::Code { code } => Redeemable::Code { code: code.clone() },
        CodeSpec::UniqueCodes {
            prefix,
            count,
            seed,
        } => {
            if !(1..=MAX_BATCH_CODES).contains(count) {
                return Err(PromotionError::InvalidCodeBatch);
            }
            let codes =
                generate_codes(prefix, *count, *seed).ok_or(PromotionError::InvalidCodeBatch)?;
            Redeemable::UniqueCodes { codes }
        }
    })
}

impl Promotion {
    fn existing(&self) -> Result<(PromotionStatus, &PromotionTerms), PromotionError> {
        match (self.status, &self.terms) {
            (Some(status), Some(terms)) => Ok((status, terms)),
            _ => Err(PromotionError::NotFound),
        }
    }

    /// The spent amount as money (in the promotion's currency).
    pub fn spent(&self) -> Option<Money> {
        self.terms
            .as_ref()
            .map(|t| Money::new(self.spent_minor, t.currency))
    }

    /// The promotion as the pricing engine needs it for `customer` and the code the shopper
    /// entered (`None` when pricing it as an automatic promotion). A code that does not redeem
    /// this promotion, a code given to an automatic promotion or none given to a code
    /// promotion is `promotion.unknown_code`; a promotion never created is
    /// `promotion.not_found`.
    pub fn offer(
        &self,
        id: PromotionId,
        customer: Option<CustomerId>,
        entered: Option<&PromotionCode>,
    ) -> Result<Offer, PromotionError> {
        let (status, terms) = self.existing()?;
        let code = match (self.kind, entered) {
            (Some(PromotionKind::Automatic), None) => None,
            (Some(PromotionKind::Code | PromotionKind::UniqueCodes), Some(code))
                if self.codes.contains(code) =>
            {
                Some(code.clone())
            }
            _ => return Err(PromotionError::UnknownCode),
        };
        Ok(Offer {
            promotion_id: id,
            status,
            terms: terms.clone(),
            code_redeemed: self.kind == Some(PromotionKind::UniqueCodes)
                && code
                    .as_ref()
                    .is_some_and(|c| self.redeemed_codes.contains_key(c)),
            code,
            uses: self.uses,
            customer_uses: customer
                .and_then(|c| self.uses_by_customer.get(&c).copied())
                .unwrap_or(0),
            spent: Money::new(self.spent_minor, terms.currency),
        })
    }

    fn reserve(
        &self,
        order_id: OrderId,
        customer: Option<CustomerId>,
        code: Option<&PromotionCode>,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Vec<PromotionEvent>, PromotionError> {
        let (status, terms) = self.existing()?;
        // A retry of the same reservation changes nothing, whatever happened since (the
        // promotion may have been paused or used up by others in between: this order already
        // holds its use). The same order with other figures is a bug in the caller.
        if let Some(held) = self.redemptions.get(&order_id) {
            return if held.customer == customer
                && held.code.as_ref() == code
                && held.amount == amount
            {
                Ok(vec![])
            } else {
                Err(PromotionError::RedemptionConflict)
            };
        }
        match status {
            PromotionStatus::Active => {}
            PromotionStatus::Ended => return Err(PromotionError::Ended),
            PromotionStatus::Draft | PromotionStatus::Paused => {
                return Err(PromotionError::NotActive)
            }
        }
        terms.window.check(now)?;
        if amount.currency != terms.currency {
            return Err(PromotionError::CurrencyMismatch);
        }
        if amount.amount_minor < 0 {
            return Err(PromotionError::InvalidAmount);
        }
        match (self.kind, code) {
            (Some(PromotionKind::Automatic), None) => {}
            (Some(PromotionKind::Code), Some(code)) if self.codes.contains(code) => {}
            (Some(PromotionKind::UniqueCodes), Some(code)) if self.codes.contains(code) => {
                if self.redeemed_codes.contains_key(code) {
                    return Err(PromotionError::CodeUsed);
                }
            }
            _ => return Err(PromotionError::UnknownCode),
        }
        let limits = &terms.limits;
        if limits.total_uses.is_some_and(|limit| self.uses >= limit) {
            return Err(PromotionError::UsedUp);
        }
        if let Some(limit) = limits.uses_per_customer {
            let customer = customer.ok_or(PromotionError::SignInRequired)?;
            if self.uses_by_customer.get(&customer).copied().unwrap_or(0) >= limit {
                return Err(PromotionError::AlreadyUsed);
            }
        }
        if let Some(budget) = &limits.budget {
            let after = self
                .spent_minor
                .checked_add(amount.amount_minor)
                .ok_or(PromotionError::Overflow)?;
            if after > budget.amount_minor {
                return Err(PromotionError::BudgetExhausted);
            }
        }
        Ok(vec![PromotionEvent::RedemptionReserved {
            order_id,
            customer,
            code: code.cloned(),
            amount,
            reserved_at: now,
        }])
    }

    fn view_without_codes(&self, id: &str, version: u64) -> PromotionView {
        let terms = self.terms.as_ref();
        let limits = terms.map(|t| t.limits).unwrap_or_default();
        PromotionView {
            id: id.to_string(),
            version,
            status: self.status,
            kind: self.kind,
            terms: self.terms.clone(),
            code: match self.kind {
                Some(PromotionKind::Code) => self.codes.iter().next().cloned(),
                _ => None,
            },
            codes_total: self.codes.len() as u64,
            codes_redeemed: self.redeemed_codes.len() as u64,
            unique_codes: Vec::new(),
            uses: self.uses,
            open_redemptions: self
                .redemptions
                .values()
                .filter(|r| r.state == RedemptionState::Reserved)
                .count() as u64,
            uses_left: limits
                .total_uses
                .map(|limit| limit.saturating_sub(self.uses)),
            spent: self.spent(),
            budget_left: limits.budget.map(|b| {
                Money::new(
                    b.amount_minor.saturating_sub(self.spent_minor).max(0),
                    b.currency,
                )
            }),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    fn take(&mut self, order_id: OrderId, redemption: Redemption) {
        self.uses += 1;
        self.spent_minor = self
            .spent_minor
            .saturating_add(redemption.amount.amount_minor);
        if let Some(customer) = redemption.customer {
            *self.uses_by_customer.entry(customer).or_default() += 1;
        }
        if self.kind == Some(PromotionKind::UniqueCodes) {
            if let Some(code) = &redemption.code {
                self.redeemed_codes.insert(code.clone(), order_id);
            }
        }
        self.redemptions.insert(order_id, redemption);
    }

    fn give_back(&mut self, order_id: &OrderId) {
        let Some(redemption) = self.redemptions.remove(order_id) else {
            return;
        };
        self.uses = self.uses.saturating_sub(1);
        self.spent_minor = self
            .spent_minor
            .saturating_sub(redemption.amount.amount_minor);
        if let Some(customer) = redemption.customer {
            if let Some(n) = self.uses_by_customer.get_mut(&customer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.uses_by_customer.remove(&customer);
                }
            }
        }
        if let Some(code) = &redemption.code {
            if self.redeemed_codes.get(code) == Some(order_id) {
                self.redeemed_codes.remove(code);
            }
        }
    }
}

impl Decider for Promotion {
    const TYPE: &'static str = "promotion";
    type Command = PromotionCommand;
    type Event = PromotionEvent;
    type Error = PromotionError;
    type View = PromotionView;

    fn decide(
        &self,
        id: &str,
        command: &PromotionCommand,
        by: &Principal,
    ) -> Result<Vec<PromotionEvent>, PromotionError> {
        authorize(command, by)?;
        // The stream id is a canonical UUID, so a promotion id in a URL names one stream only.
        let canonical = PromotionId::from_str(id).is_ok_and(|p| p.to_string() == id);
        if !canonical {
            return Err(PromotionError::NotFound);
        }
        if let PromotionCommand::Create { terms, codes, now } = command {
            if self.status.is_some() {
                return Err(PromotionError::AlreadyExists);
            }
            terms.validate()?;
            return Ok(vec![PromotionEvent::PromotionCreated {
                terms: terms.clone(),
                redeemable: redeemable(codes)?,
                created_at: *now,
            }]);
        }
        let (status, current) = self.existing()?;
        match command {
            PromotionCommand::Create { .. } => Err(PromotionError::AlreadyExists),
            PromotionCommand::Revise { terms, now } => {
                if status != PromotionStatus::Draft {
                    return Err(PromotionError::NotEditable);
                }
                terms.validate()?;
                if terms == current {
                    return Ok(vec![]);
                }
                Ok(vec![PromotionEvent::TermsRevised {
                    terms: terms.clone(),
                    revised_at: *now,
                }])
            }
            PromotionCommand::Activate { now } => match status {
                PromotionStatus::Active => Ok(vec![]),
                PromotionStatus::Ended => Err(PromotionError::Ended),
                PromotionStatus::Draft | PromotionStatus::Paused => {
                    // Activating a promotion whose window is over would show it as running
                    // while every redemption fails: refuse it now.
                    if current.window.ends_at.is_some_and(|end| *now >= end) {
                        return Err(PromotionError::Expired);
                    }
                    Ok(vec![PromotionEvent::PromotionActivated {
                        activated_at: *now,
                    }])
                }
            },
            PromotionCommand::Pause { now } => match status {
                PromotionStatus::Active => {
                    Ok(vec![PromotionEvent::PromotionPaused { paused_at: *now }])
                }
                PromotionStatus::Paused => Ok(vec![]),
                PromotionStatus::Draft => Err(PromotionError::InvalidTransition),
                PromotionStatus::Ended => Err(PromotionError::Ended),
            },
            PromotionCommand::End { now } => match status {
                PromotionStatus::Ended => Ok(vec![]),
                _ => Ok(vec![PromotionEvent::PromotionEnded { ended_at: *now }]),
            },
            PromotionCommand::Reserve {
                order_id,
                customer,
                code,
                amount,
                now,
            } => self.reserve(*order_id, *customer, code.as_ref(), *amount, *now),
            PromotionCommand::Confirm { order_id, now } => match self.redemptions.get(order_id) {
                Some(r) if r.state == RedemptionState::Reserved => {
                    Ok(vec![PromotionEvent::RedemptionConfirmed {
                        order_id: *order_id,
                        confirmed_at: *now,
                    }])
                }
                Some(_) => Ok(vec![]),
                None => Err(PromotionError::UnknownRedemption),
            },
            PromotionCommand::Release { order_id, now } => Ok(self
                .redemptions
                .get(order_id)
                .map(|r| PromotionEvent::RedemptionReleased {
                    order_id: *order_id,
                    customer: r.customer,
                    code: r.code.clone(),
                    amount: r.amount,
                    released_at: *now,
                })
                .into_iter()
                .collect()),
        }
    }

    fn evolve(&mut self, event: &PromotionEvent) {
        match event {
            PromotionEvent::PromotionCreated {
                terms,
                redeemable,
                created_at,
            } => {
                self.status = Some(PromotionStatus::Draft);
                self.terms = Some(terms.clone());
                let (kind, codes) = match redeemable {
                    Redeemable::Automatic => (PromotionKind::Automatic, BTreeSet::new()),
                    Redeemable::Code { code } => {
                        (PromotionKind::Code, BTreeSet::from([code.clone()]))
                    }
                    Redeemable::UniqueCodes { codes } => {
                        (PromotionKind::UniqueCodes, codes.iter().cloned().collect())
                    }
                };
                self.kind = Some(kind);
                self.codes = codes;
                self.created_at = Some(*created_at);
                self.updated_at = Some(*created_at);
            }
            PromotionEvent::TermsRevised { terms, revised_at } => {
                self.terms = Some(terms.clone());
                self.updated_at = Some(*revised_at);
            }
            PromotionEvent::PromotionActivated { activated_at } => {
                self.status = Some(PromotionStatus::Active);
                self.updated_at = Some(*activated_at);
            }
            PromotionEvent::PromotionPaused { paused_at } => {
                self.status = Some(PromotionStatus::Paused);
                self.updated_at = Some(*paused_at);
            }
            PromotionEvent::PromotionEnded { ended_at } => {
                self.status = Some(PromotionStatus::Ended);
                self.updated_at = Some(*ended_at);
            }
            PromotionEvent::RedemptionReserved {
                order_id,
                customer,
                code,
                amount,
                reserved_at,
            } => {
                // `decide` never reserves an order twice; a replay of such a stream still
                // keeps the counts exact.
                self.give_back(order_id);
                self.take(
                    *order_id,
                    Redemption {
                        customer: *customer,
                        code: code.clone(),
                        amount: *amount,
                        state: RedemptionState::Reserved,
                        reserved_at: *reserved_at,
                    },
                );
            }
            PromotionEvent::RedemptionConfirmed { order_id, .. } => {
                if let Some(r) = self.redemptions.get_mut(order_id) {
                    r.state = RedemptionState::Confirmed;
                }
            }
            PromotionEvent::RedemptionReleased { order_id, .. } => self.give_back(order_id),
        }
    }

    /// Promotions are the shop's back-office information (a vendor's user has none of it);
    /// shoppers learn of them through pricing.
    fn authorize_read(&self, by: &Principal) -> Result<(), PromotionError> {
        if !by.is_back_office() || by.vendor().is_some() {
            return Err(PromotionError::Forbidden);
        }
        self.existing().map(|_| ())
    }

    fn view(&self, id: &str, version: u64) -> PromotionView {
        let unique_codes = if self.kind == Some(PromotionKind::UniqueCodes) {
            self.codes
                .iter()
                .map(|code| CodeView {
                    code: code.clone(),
                    redeemed_by: self.redeemed_codes.get(code).copied(),
                })
                .collect()
        } else {
            Vec::new()
        };
        PromotionView {
            unique_codes,
            ..self.view_without_codes(id, version)
        }
    }

    /// Without the batch of codes: a command costs the same for a promotion with one code as
    /// for one with ten thousand.
    fn command_view(&self, id: &str, version: u64) -> PromotionView {
        self.view_without_codes(id, version)
    }

    fn event_type(event: &PromotionEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Promotion, PromotionEvent);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Limits, Window};
    use agora_kernel::Command as _;
    use agora_kernel::{Currency, DomainError};
    use chrono::TimeDelta;

    const ID: &str = "00000000-0000-4000-8000-0000000000a1";

    /// A fixed instant plus `seconds`: tests never read the clock either.
    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
    }

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    fn order(n: u128) -> OrderId {
        OrderId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn customer(n: u128) -> CustomerId {
        CustomerId::from_uuid(uuid::Uuid::from_u128(1_000 + n))
    }

    fn code(s: &str) -> PromotionCode {
        PromotionCode::parse(s).expect("a valid code")
    }

    fn system() -> Principal {
        Principal::system("checkout")
    }

    fn staff(role: &str) -> Principal {
        Principal::Staff {
            id: "sam".into(),
            role: role.into(),
        }
    }

    /// 10 % off the order, no limits, no window.
    fn terms() -> PromotionTerms {
        PromotionTerms {
            name: "Summer sale".into(),
            currency: Currency::EUR,
            applies_to: Default::default(),
            eligibility: Default::default(),
            action: Action::PercentOffOrder { percent_bp: 1_000 },
            window: Window::default(),
            limits: Limits::default(),
            stacking: Default::default(),
        }
    }

    fn with_limits(limits: Limits) -> PromotionTerms {
        PromotionTerms { limits, ..terms() }
    }

    fn created_with(terms: PromotionTerms, redeemable: Redeemable) -> PromotionEvent {
        PromotionEvent::PromotionCreated {
            terms,
            redeemable,
            created_at: t(0),
        }
    }

    fn created(terms: PromotionTerms) -> PromotionEvent {
        created_with(terms, Redeemable::Automatic)
    }

    fn activated() -> PromotionEvent {
        PromotionEvent::PromotionActivated { activated_at: t(1) }
    }

    fn paused() -> PromotionEvent {
        PromotionEvent::PromotionPaused { paused_at: t(2) }
    }

    fn ended() -> PromotionEvent {
        PromotionEvent::PromotionEnded { ended_at: t(3) }
    }

    /// An active automatic promotion with these terms.
    fn running(terms: PromotionTerms) -> Vec<PromotionEvent> {
        vec![created(terms), activated()]
    }

    fn reserve_for(
        order_id: OrderId,
        customer: Option<CustomerId>,
        code: Option<PromotionCode>,
        amount: i64,
    ) -> PromotionCommand {
        PromotionCommand::Reserve {
            order_id,
            customer,
            code,
            amount: eur(amount),
            now: t(10),
        }
    }

    fn reserve(n: u128, amount: i64) -> PromotionCommand {
        reserve_for(order(n), Some(customer(n)), None, amount)
    }

    fn reserved_for(
        order_id: OrderId,
        customer: Option<CustomerId>,
        code: Option<PromotionCode>,
        amount: i64,
    ) -> PromotionEvent {
        PromotionEvent::RedemptionReserved {
            order_id,
            customer,
            code,
            amount: eur(amount),
            reserved_at: t(10),
        }
    }

    fn reserved(n: u128, amount: i64) -> PromotionEvent {
        reserved_for(order(n), Some(customer(n)), None, amount)
    }

    fn state(given: &[PromotionEvent]) -> Promotion {
        let mut promotion = Promotion::default();
        for e in given {
            promotion.evolve(e);
        }
        promotion
    }

    /// Given events, when a command by a principal, then these events or this error.
    fn check(
        given: Vec<PromotionEvent>,
        by: Principal,
        when: PromotionCommand,
        then: Result<Vec<PromotionEvent>, PromotionError>,
    ) {
        assert_eq!(state(&given).decide(ID, &when, &by), then, "{when:?}");
    }

    // ---- creation and terms ----

    #[test]
    fn creating_a_promotion_records_a_draft() {
        check(
            vec![],
            staff("staff"),
            PromotionCommand::Create {
                terms: terms(),
                codes: CodeSpec::Automatic,
                now: t(0),
            },
            Ok(vec![created(terms())]),
        );
        assert_eq!(
            state(&[created(terms())]).status,
            Some(PromotionStatus::Draft)
        );
    }

    #[test]
    fn a_code_promotion_records_its_code() {
        check(
            vec![],
            staff("admin"),
            PromotionCommand::Create {
                terms: terms(),
                codes: CodeSpec::Code {
                    code: code("summer10"),
                },
                now: t(0),
            },
            Ok(vec![created_with(
                terms(),
                Redeemable::Code {
                    code: code("SUMMER10"),
                },
            )]),
        );
    }

    #[test]
    fn a_batch_of_unique_codes_is_generated_from_the_seed_and_recorded() {
        let create = PromotionCommand::Create {
            terms: terms(),
            codes: CodeSpec::UniqueCodes {
                prefix: "VIP".into(),
                count: 25,
                seed: 99,
            },
            now: t(0),
        };
        let first = state(&[]).decide(ID, &create, &staff("staff"));
        // Pure: the same command decides the same codes.
        assert_eq!(first, state(&[]).decide(ID, &create, &staff("staff")));
        let events = first.expect("created");
        let Some(PromotionEvent::PromotionCreated {
            redeemable: Redeemable::UniqueCodes { codes },
            ..
        }) = events.first()
        else {
            panic!("{events:?}")
        };
        assert_eq!(codes, &generate_codes("VIP", 25, 99).expect("valid"));
        let promotion = state(&events);
        assert_eq!(promotion.kind, Some(PromotionKind::UniqueCodes));
        assert_eq!(promotion.codes.len(), 25);
    }

    #[test]
    fn a_batch_must_hold_one_to_ten_thousand_codes_under_a_valid_prefix() {
        for (prefix, count) in [("VIP", 0), ("VIP", MAX_BATCH_CODES + 1), ("V I P", 5)] {
            check(
                vec![],
                staff("staff"),
                PromotionCommand::Create {
                    terms: terms(),
                    codes: CodeSpec::UniqueCodes {
                        prefix: prefix.into(),
                        count,
                        seed: 1,
                    },
                    now: t(0),
                },
                Err(PromotionError::InvalidCodeBatch),
            );
        }
    }

    #[test]
    fn a_promotion_cannot_be_created_twice() {
        check(
            vec![created(terms())],
            staff("staff"),
            PromotionCommand::Create {
                terms: terms(),
                codes: CodeSpec::Automatic,
                now: t(0),
            },
            Err(PromotionError::AlreadyExists),
        );
    }

    #[test]
    fn terms_that_break_a_rule_are_refused() {
        let usd = Money::new(500, Currency::USD);
        let cases: Vec<(PromotionTerms, PromotionError)> = vec![
            (
                PromotionTerms {
                    name: "  ".into(),
                    ..terms()
                },
                PromotionError::InvalidName,
            ),
            (
                PromotionTerms {
                    name: "x".repeat(121),
                    ..terms()
                },
                PromotionError::InvalidName,
            ),
            (
                PromotionTerms {
                    action: Action::PercentOffItems { percent_bp: 0 },
                    ..terms()
                },
                PromotionError::InvalidPercentage,
            ),
            (
                PromotionTerms {
                    action: Action::PercentOffOrder { percent_bp: 10_001 },
                    ..terms()
                },
                PromotionError::InvalidPercentage,
            ),
            (
                PromotionTerms {
                    action: Action::AmountOffOrder { amount: eur(0) },
                    ..terms()
                },
                PromotionError::InvalidAmount,
            ),
            (
                PromotionTerms {
                    action: Action::AmountOffEachItem { amount: usd },
                    ..terms()
                },
                PromotionError::CurrencyMismatch,
            ),
            (
                PromotionTerms {
                    action: Action::BuyXGetY {
                        buy: 2,
                        get: 0,
                        percent_bp: 10_000,
                    },
                    ..terms()
                },
                PromotionError::InvalidBuyXGetY,
            ),
            (
                PromotionTerms {
                    window: Window {
                        starts_at: Some(t(10)),
                        ends_at: Some(t(10)),
                    },
                    ..terms()
                },
                PromotionError::InvalidWindow,
            ),
            (
                with_limits(Limits {
                    total_uses: Some(0),
                    ..Limits::default()
                }),
                PromotionError::InvalidLimit,
            ),
            (
                with_limits(Limits {
                    budget: Some(usd),
                    ..Limits::default()
                }),
                PromotionError::CurrencyMismatch,
            ),
            (
                PromotionTerms {
                    eligibility: crate::Eligibility {
                        customer_groups: (0..=crate::MAX_FILTER_ENTRIES)
                            .map(|i| crate::CustomerGroup::parse(&format!("g{i}")).expect("slug"))
                            .collect(),
                        ..Default::default()
                    },
                    ..terms()
                },
                PromotionError::TooManyFilterEntries,
            ),
        ];
        for (bad, error) in cases {
            check(
                vec![],
                staff("staff"),
                PromotionCommand::Create {
                    terms: bad.clone(),
                    codes: CodeSpec::Automatic,
                    now: t(0),
                },
                Err(error),
            );
            check(
                vec![created(terms())],
                staff("staff"),
                PromotionCommand::Revise {
                    terms: bad,
                    now: t(1),
                },
                Err(error),
            );
        }
    }

    #[test]
    fn a_draft_can_be_revised_and_a_running_promotion_cannot() {
        let better = PromotionTerms {
            action: Action::PercentOffOrder { percent_bp: 1_500 },
            ..terms()
        };
        check(
            vec![created(terms())],
            staff("staff"),
            PromotionCommand::Revise {
                terms: better.clone(),
                now: t(5),
            },
            Ok(vec![PromotionEvent::TermsRevised {
                terms: better.clone(),
                revised_at: t(5),
            }]),
        );
        check(
            vec![created(terms())],
            staff("staff"),
            PromotionCommand::Revise {
                terms: terms(),
                now: t(5),
            },
            Ok(vec![]),
        );
        for given in [
            running(terms()),
            vec![created(terms()), activated(), paused()],
        ] {
            check(
                given,
                staff("staff"),
                PromotionCommand::Revise {
                    terms: better.clone(),
                    now: t(5),
                },
                Err(PromotionError::NotEditable),
            );
        }
    }

    #[test]
    fn commands_on_a_missing_or_malformed_promotion_are_not_found() {
        check(
            vec![],
            staff("staff"),
            PromotionCommand::Activate { now: t(1) },
            Err(PromotionError::NotFound),
        );
        check(
            vec![],
            system(),
            reserve(1, 100),
            Err(PromotionError::NotFound),
        );
        let create = PromotionCommand::Create {
            terms: terms(),
            codes: CodeSpec::Automatic,
            now: t(0),
        };
        for id in ["summer", "00000000-0000-4000-8000-0000000000A1"] {
            assert_eq!(
                state(&[]).decide(id, &create, &staff("staff")),
                Err(PromotionError::NotFound)
            );
        }
    }

    // ---- who may do what ----

    #[test]
    fn shoppers_and_vendors_cannot_manage_promotions() {
        let shoppers = [
            Principal::Guest {
                token_sha256: "0".repeat(64),
            },
            Principal::Customer { id: customer(1) },
            staff("vendor"),
            staff("auditor"),
        ];
        for by in shoppers {
            check(
                vec![created(terms())],
                by,
                PromotionCommand::Activate { now: t(1) },
                Err(PromotionError::Forbidden),
            );
        }
    }

    #[test]
    fn only_the_platform_or_an_admin_redeems() {
        for by in [Principal::Customer { id: customer(1) }, staff("staff")] {
            check(
                running(terms()),
                by,
                reserve(1, 100),
                Err(PromotionError::Forbidden),
            );
        }
        check(
            running(terms()),
            staff("admin"),
            reserve(1, 100),
            Ok(vec![reserved(1, 100)]),
        );
    }

    #[test]
    fn only_the_back_office_reads_a_promotion() {
        let promotion = state(&[created(terms())]);
        assert_eq!(promotion.authorize_read(&staff("auditor")), Ok(()));
        assert_eq!(
            promotion.authorize_read(&Principal::Customer { id: customer(1) }),
            Err(PromotionError::Forbidden)
        );
        assert_eq!(
            state(&[]).authorize_read(&staff("admin")),
            Err(PromotionError::NotFound)
        );
    }

    // ---- lifecycle ----

    #[test]
    fn a_draft_or_paused_promotion_is_activated() {
        for given in [
            vec![created(terms())],
            vec![created(terms()), activated(), paused()],
        ] {
            check(
                given,
                staff("staff"),
                PromotionCommand::Activate { now: t(1) },
                Ok(vec![activated()]),
            );
        }
        check(
            running(terms()),
            staff("staff"),
            PromotionCommand::Activate { now: t(1) },
            Ok(vec![]),
        );
    }

    #[test]
    fn a_promotion_whose_window_is_over_cannot_be_activated() {
        let over = PromotionTerms {
            window: Window {
                starts_at: None,
                ends_at: Some(t(1)),
            },
            ..terms()
        };
        check(
            vec![created(over)],
            staff("staff"),
            PromotionCommand::Activate { now: t(1) },
            Err(PromotionError::Expired),
        );
    }

    #[test]
    fn only_an_active_promotion_is_paused() {
        check(
            running(terms()),
            staff("staff"),
            PromotionCommand::Pause { now: t(2) },
            Ok(vec![paused()]),
        );
        check(
            vec![created(terms()), activated(), paused()],
            staff("staff"),
            PromotionCommand::Pause { now: t(2) },
            Ok(vec![]),
        );
        check(
            vec![created(terms())],
            staff("staff"),
            PromotionCommand::Pause { now: t(2) },
            Err(PromotionError::InvalidTransition),
        );
    }

    #[test]
    fn any_promotion_can_be_ended_and_an_ended_one_stays_ended() {
        for given in [
            vec![created(terms())],
            running(terms()),
            vec![created(terms()), activated(), paused()],
        ] {
            check(
                given,
                staff("staff"),
                PromotionCommand::End { now: t(3) },
                Ok(vec![ended()]),
            );
        }
        let over = vec![created(terms()), activated(), ended()];
        check(
            over.clone(),
            staff("staff"),
            PromotionCommand::End { now: t(4) },
            Ok(vec![]),
        );
        for when in [
            PromotionCommand::Activate { now: t(4) },
            PromotionCommand::Pause { now: t(4) },
        ] {
            check(
                over.clone(),
                staff("staff"),
                when,
                Err(PromotionError::Ended),
            );
        }
    }

    // ---- reserving ----

    #[test]
    fn an_active_promotion_is_reserved_for_an_order() {
        check(
            running(terms()),
            system(),
            reserve(1, 250),
            Ok(vec![reserved(1, 250)]),
        );
        let promotion = state(&[created(terms()), activated(), reserved(1, 250)]);
        assert_eq!(promotion.uses, 1);
        assert_eq!(promotion.spent(), Some(eur(250)));
    }

    #[test]
    fn reserving_twice_for_the_same_order_redeems_once() {
        let given = vec![created(terms()), activated(), reserved(1, 250)];
        check(given.clone(), system(), reserve(1, 250), Ok(vec![]));
        // Even once the promotion stopped: the order already holds its use.
        let mut later = given.clone();
        later.push(paused());
        check(later, system(), reserve(1, 250), Ok(vec![]));
        check(
            given,
            system(),
            reserve(1, 300),
            Err(PromotionError::RedemptionConflict),
        );
    }

    #[test]
    fn a_promotion_that_is_not_running_cannot_be_reserved() {
        check(
            vec![created(terms())],
            system(),
            reserve(1, 100),
            Err(PromotionError::NotActive),
        );
        check(
            vec![created(terms()), activated(), paused()],
            system(),
            reserve(1, 100),
            Err(PromotionError::NotActive),
        );
        check(
            vec![created(terms()), activated(), ended()],
            system(),
            reserve(1, 100),
            Err(PromotionError::Ended),
        );
    }

    #[test]
    fn a_reservation_outside_the_window_is_refused() {
        let window = |starts: i64, ends: i64| PromotionTerms {
            window: Window {
                starts_at: Some(t(starts)),
                ends_at: Some(t(ends)),
            },
            ..terms()
        };
        // Reservations are made at t(10).
        check(
            running(window(11, 20)),
            system(),
            reserve(1, 100),
            Err(PromotionError::NotYetValid),
        );
        check(
            running(window(0, 10)),
            system(),
            reserve(1, 100),
            Err(PromotionError::Expired),
        );
        // The start is inclusive, the end exclusive.
        check(
            running(window(10, 11)),
            system(),
            reserve(1, 100),
            Ok(vec![reserved(1, 100)]),
        );
    }

    #[test]
    fn a_reservation_in_another_currency_or_negative_is_refused() {
        check(
            running(terms()),
            system(),
            PromotionCommand::Reserve {
                order_id: order(1),
                customer: None,
                code: None,
                amount: Money::new(100, Currency::USD),
                now: t(10),
            },
            Err(PromotionError::CurrencyMismatch),
        );
        check(
            running(terms()),
            system(),
            reserve(1, -1),
            Err(PromotionError::InvalidAmount),
        );
    }

    #[test]
    fn a_promotion_is_used_up_at_its_total_uses_until_a_use_is_released() {
        let limited = with_limits(Limits {
            total_uses: Some(2),
            ..Limits::default()
        });
        let mut given = running(limited);
        given.extend([reserved(1, 100), reserved(2, 100)]);
        check(
            given.clone(),
            system(),
            reserve(3, 100),
            Err(PromotionError::UsedUp),
        );
        given.push(PromotionEvent::RedemptionReleased {
            order_id: order(1),
            customer: Some(customer(1)),
            code: None,
            amount: eur(100),
            released_at: t(11),
        });
        check(given, system(), reserve(3, 100), Ok(vec![reserved(3, 100)]));
    }

    #[test]
    fn a_customer_cannot_use_a_promotion_more_than_allowed() {
        let once = with_limits(Limits {
            uses_per_customer: Some(1),
            ..Limits::default()
        });
        let mut given = running(once.clone());
        given.push(reserved(1, 100));
        // Another order of the same customer.
        check(
            given.clone(),
            system(),
            reserve_for(order(2), Some(customer(1)), None, 100),
            Err(PromotionError::AlreadyUsed),
        );
        // Another customer is fine.
        check(
            given,
            system(),
            reserve_for(order(2), Some(customer(2)), None, 100),
            Ok(vec![reserved_for(order(2), Some(customer(2)), None, 100)]),
        );
        // A guest cannot be counted, so must sign in.
        check(
            running(once),
            system(),
            reserve_for(order(3), None, None, 100),
            Err(PromotionError::SignInRequired),
        );
    }

    #[test]
    fn a_reservation_that_would_exceed_the_budget_is_refused() {
        let budget = with_limits(Limits {
            budget: Some(eur(1_000)),
            ..Limits::default()
        });
        let mut given = running(budget);
        given.push(reserved(1, 700));
        check(
            given.clone(),
            system(),
            reserve(2, 301),
            Err(PromotionError::BudgetExhausted),
        );
        // Exactly the budget left is fine.
        check(given, system(), reserve(2, 300), Ok(vec![reserved(2, 300)]));
    }

    #[test]
    fn a_code_promotion_needs_its_code() {
        let given = vec![
            created_with(
                terms(),
                Redeemable::Code {
                    code: code("SUMMER10"),
                },
            ),
            activated(),
        ];
        for wrong in [None, Some(code("WINTER10"))] {
            check(
                given.clone(),
                system(),
                reserve_for(order(1), None, wrong, 100),
                Err(PromotionError::UnknownCode),
            );
        }
        check(
            given.clone(),
            system(),
            reserve_for(order(1), None, Some(code("summer10")), 100),
            Ok(vec![reserved_for(
                order(1),
                None,
                Some(code("SUMMER10")),
                100,
            )]),
        );
        // And an automatic promotion takes none.
        check(
            running(terms()),
            system(),
            reserve_for(order(1), None, Some(code("SUMMER10")), 100),
            Err(PromotionError::UnknownCode),
        );
    }

    #[test]
    fn a_unique_code_is_redeemed_once_until_released() {
        let codes = generate_codes("VIP", 3, 5).expect("valid");
        let first = codes[0].clone();
        let mut given = vec![
            created_with(
                terms(),
                Redeemable::UniqueCodes {
                    codes: codes.clone(),
                },
            ),
            activated(),
            reserved_for(order(1), None, Some(first.clone()), 100),
        ];
        check(
            given.clone(),
            system(),
            reserve_for(order(2), None, Some(first.clone()), 100),
            Err(PromotionError::CodeUsed),
        );
        check(
            given.clone(),
            system(),
            reserve_for(order(2), None, Some(codes[1].clone()), 100),
            Ok(vec![reserved_for(
                order(2),
                None,
                Some(codes[1].clone()),
                100,
            )]),
        );
        given.push(PromotionEvent::RedemptionReleased {
            order_id: order(1),
            customer: None,
            code: Some(first.clone()),
            amount: eur(100),
            released_at: t(11),
        });
        check(
            given,
            system(),
            reserve_for(order(2), None, Some(first.clone()), 100),
            Ok(vec![reserved_for(order(2), None, Some(first), 100)]),
        );
    }

    // ---- confirming and releasing ----

    #[test]
    fn a_reservation_is_confirmed_once() {
        let mut given = running(terms());
        given.push(reserved(1, 100));
        let confirm = PromotionCommand::Confirm {
            order_id: order(1),
            now: t(12),
        };
        let confirmed = PromotionEvent::RedemptionConfirmed {
            order_id: order(1),
            confirmed_at: t(12),
        };
        check(
            given.clone(),
            system(),
            confirm.clone(),
            Ok(vec![confirmed.clone()]),
        );
        given.push(confirmed);
        check(given.clone(), system(), confirm, Ok(vec![]));
        check(
            given,
            system(),
            PromotionCommand::Confirm {
                order_id: order(2),
                now: t(12),
            },
            Err(PromotionError::UnknownRedemption),
        );
    }

    #[test]
    fn a_reservation_made_while_running_is_confirmed_after_the_end() {
        let given = vec![created(terms()), activated(), reserved(1, 100), ended()];
        check(
            given,
            system(),
            PromotionCommand::Confirm {
                order_id: order(1),
                now: t(12),
            },
            Ok(vec![PromotionEvent::RedemptionConfirmed {
                order_id: order(1),
                confirmed_at: t(12),
            }]),
        );
    }

    #[test]
    fn releasing_gives_the_use_and_the_budget_back() {
        let limited = with_limits(Limits {
            total_uses: Some(5),
            uses_per_customer: Some(1),
            budget: Some(eur(1_000)),
        });
        let mut given = running(limited);
        let before = state(&given);
        given.push(reserved(1, 400));
        let release = PromotionCommand::Release {
            order_id: order(1),
            now: t(11),
        };
        let released = PromotionEvent::RedemptionReleased {
            order_id: order(1),
            customer: Some(customer(1)),
            code: None,
            amount: eur(400),
            released_at: t(11),
        };
        check(
            given.clone(),
            system(),
            release.clone(),
            Ok(vec![released.clone()]),
        );
        given.push(released);
        let after = state(&given);
        assert_eq!(after.uses, before.uses);
        assert_eq!(after.spent_minor, before.spent_minor);
        assert_eq!(after.uses_by_customer, before.uses_by_customer);
        assert!(after.redemptions.is_empty());
        // Releasing again (a retried compensation) records nothing.
        check(given, system(), release, Ok(vec![]));
    }

    #[test]
    fn a_confirmed_redemption_is_released_when_its_order_is_cancelled() {
        let given = vec![
            created(terms()),
            activated(),
            reserved(1, 100),
            PromotionEvent::RedemptionConfirmed {
                order_id: order(1),
                confirmed_at: t(12),
            },
        ];
        check(
            given,
            system(),
            PromotionCommand::Release {
                order_id: order(1),
                now: t(20),
            },
            Ok(vec![PromotionEvent::RedemptionReleased {
                order_id: order(1),
                customer: Some(customer(1)),
                code: None,
                amount: eur(100),
                released_at: t(20),
            }]),
        );
    }

    // ---- offers and views ----

    #[test]
    fn an_offer_tells_the_pricing_engine_what_is_left() {
        let id = PromotionId::from_str(ID).expect("uuid");
        let codes = generate_codes("VIP", 2, 5).expect("valid");
        let promotion = state(&[
            created_with(
                terms(),
                Redeemable::UniqueCodes {
                    codes: codes.clone(),
                },
            ),
            activated(),
            reserved_for(order(1), Some(customer(1)), Some(codes[0].clone()), 150),
        ]);
        let offer = promotion
            .offer(id, Some(customer(1)), Some(&codes[0]))
            .expect("offer");
        assert!(offer.code_redeemed);
        assert_eq!((offer.uses, offer.customer_uses), (1, 1));
        assert_eq!(offer.spent, eur(150));
        let fresh = promotion
            .offer(id, Some(customer(2)), Some(&codes[1]))
            .expect("offer");
        assert!(!fresh.code_redeemed);
        assert_eq!(fresh.customer_uses, 0);
        assert_eq!(
            promotion.offer(id, None, Some(&code("NOPE1"))),
            Err(PromotionError::UnknownCode)
        );
        assert_eq!(
            promotion.offer(id, None, None),
            Err(PromotionError::UnknownCode)
        );
        assert_eq!(
            state(&[]).offer(id, None, None),
            Err(PromotionError::NotFound)
        );
    }

    #[test]
    fn the_view_counts_uses_and_budget_and_only_a_read_lists_the_codes() {
        let codes = generate_codes("VIP", 3, 5).expect("valid");
        let promotion = state(&[
            created_with(
                with_limits(Limits {
                    total_uses: Some(10),
                    uses_per_customer: None,
                    budget: Some(eur(1_000)),
                }),
                Redeemable::UniqueCodes {
                    codes: codes.clone(),
                },
            ),
            activated(),
            reserved_for(order(1), None, Some(codes[2].clone()), 150),
        ]);
        let view = promotion.view(ID, 3);
        assert_eq!(view.status, Some(PromotionStatus::Active));
        assert_eq!((view.uses, view.open_redemptions), (1, 1));
        assert_eq!(view.uses_left, Some(9));
        assert_eq!(view.budget_left, Some(eur(850)));
        assert_eq!((view.codes_total, view.codes_redeemed), (3, 1));
        assert_eq!(view.unique_codes.len(), 3);
        assert!(view
            .unique_codes
            .iter()
            .any(|c| c.code == codes[2] && c.redeemed_by == Some(order(1))));
        assert!(promotion.command_view(ID, 3).unique_codes.is_empty());
    }

    #[test]
    fn every_event_type_is_its_serde_tag_and_round_trips() {
        let events = [
            created_with(terms(), Redeemable::Code { code: code("ABC") }),
            activated(),
            paused(),
            ended(),
            reserved(1, 5),
            PromotionEvent::RedemptionConfirmed {
                order_id: order(1),
                confirmed_at: t(1),
            },
        ];
        for event in events {
            let value = serde_json::to_value(&event).expect("serializes");
            assert!(value.get(event.event_type()).is_some(), "{value}");
            let back: PromotionEvent = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, event);
        }
    }

    #[test]
    fn command_names_are_their_serde_tags() {
        let all = [
            PromotionCommand::Create {
                terms: terms(),
                codes: CodeSpec::Automatic,
                now: t(0),
            },
            PromotionCommand::Revise {
                terms: terms(),
                now: t(0),
            },
            PromotionCommand::Activate { now: t(0) },
            PromotionCommand::Pause { now: t(0) },
            PromotionCommand::End { now: t(0) },
            reserve(1, 1),
            PromotionCommand::Confirm {
                order_id: order(1),
                now: t(0),
            },
            PromotionCommand::Release {
                order_id: order(1),
                now: t(0),
            },
        ];
        assert_eq!(all.len(), PromotionCommand::NAMES.len());
        for (command, name) in all.iter().zip(PromotionCommand::NAMES) {
            let value = serde_json::to_value(command).expect("serializes");
            assert!(value.get(name).is_some(), "{value}");
            assert_eq!(command.name(), *name);
            let back: PromotionCommand = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, *command);
        }
    }

    #[test]
    fn terms_arrive_in_their_wire_form_with_defaults() {
        let terms: PromotionTerms = serde_json::from_value(serde_json::json!({
            "name": "Ten off",
            "currency": "EUR",
            "action": {"amount_off_order": {"amount": {"amount_minor": 1000, "currency": "EUR"}}},
            "limits": {"uses_per_customer": 1}
        }))
        .expect("parses");
        assert_eq!(terms.stacking, crate::Stacking::default());
        assert!(!terms.stacking.combinable);
        assert_eq!(terms.limits.uses_per_customer, Some(1));
        assert!(serde_json::from_value::<PromotionTerms>(serde_json::json!({
            "name": "x", "currency": "EUR", "action": "free_shipping", "surprise": 1
        }))
        .is_err());
        assert_eq!(PromotionError::Expired.code(), "promotion.expired");
    }
}

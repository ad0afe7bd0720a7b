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
        Principal::Guest { .. } | Principal::Customer { .. } => false,
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

    /// Promotions are back-office information; shoppers learn of them through pricing.
    fn authorize_read(&self, by: &Principal) -> Result<(), PromotionError> {
        if !by.is_back_office() {
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

use std::collections::{BTreeMap, BTreeSet};

use agora_kernel::{Currency, Decider, Money, Principal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    line_share, AuthorizationOutcome, DisputeOutcome, LineShare, PaymentCommand, PaymentError,
    PaymentEvent, PaymentStatus, ProviderEventKind, RefundUnits,
};

/// Largest amount of one payment, in minor units (a hundred million in a two-decimal
/// currency). Far beyond any basket, and it keeps every sum of refunds in `i64`.
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000;
/// Longest provider code, id or reference (and our refund ids), in characters.
pub const MAX_CODE_CHARS: usize = 255;
/// Longest payment-method token, in (ASCII) characters.
pub const MAX_PAYMENT_METHOD_CHARS: usize = 128;

/// Where one refund is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Requested and reserved against the captured amount; the provider has not confirmed it.
    Pending,
    /// The provider refunded it.
    Succeeded,
    /// The provider refused it; its amount is free to be refunded again (under another id).
    Failed,
}

/// One refund of a payment, keyed by our refund id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub amount: Money,
    pub status: RefundStatus,
    /// The order line's units it gives back, for a line refund.
    #[serde(default)]
    pub line: Option<RefundUnits>,
}

/// Where one dispute (chargeback) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// The provider took the amount back; the dispute is not decided.
    Open,
    Won,
    Lost,
}

/// One dispute of the charge, keyed by the provider's dispute id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub amount: Money,
    pub reason: String,
    pub status: DisputeStatus,
}

/// One dispute as the back office sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeView {
    pub dispute_id: String,
    pub amount: Money,
    pub reason: String,
    pub status: DisputeStatus,
}

/// What `start` fixed for good: a repeated `start` must match it exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Terms {
    order_id: String,
    amount: Money,
    payment_method: String,
}

/// One payment, folded from its events (stream type `payment`, id the order id).
///
/// Invariants (enforced by [`Payment::decide`]): at most one `PaymentCaptured` per stream;
/// succeeded plus pending refunds never exceed the captured amount; a provider event id is
/// acted upon at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Payment {
    status: PaymentStatus,
    /// `None` until `PaymentStarted`: the stream is empty.
    terms: Option<Terms>,
    /// The provider's payment id, once any answer or webhook told us.
    provider_ref: Option<String>,
    /// What the shopper's client needs to confirm (3-D Secure); kept only while it can be used.
    client_secret: Option<String>,
    decline_code: Option<String>,
    failure_code: Option<String>,
    /// Set once, by the one `PaymentCaptured`; refunds are measured against it.
    captured: Option<Money>,
    /// Every refund ever requested, so a retried request or result changes nothing.
    refunds: BTreeMap<String, Refund>,
    /// Every provider event id ever received: providers redeliver webhooks, sometimes days
    /// later, and a redelivery must never act twice.
    provider_events: BTreeSet<String>,
    /// Every dispute the provider reported, by its dispute id.
    disputes: BTreeMap<String, Dispute>,
}

/// One refund as the back office sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundView {
    pub refund_id: String,
    pub amount: Money,
    pub status: RefundStatus,
    /// The order line's units it gives back, for a line refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<RefundUnits>,
}

/// What the payment service and the back office see of a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    pub id: String,
    pub version: u64,
    pub order_id: String,
    pub status: PaymentStatus,
    pub amount: Money,
    pub payment_method: String,
    pub provider_ref: Option<String>,
    /// Only while the status is `requires_action`: afterwards it is useless, so never shown.
    pub client_secret: Option<String>,
    pub decline_code: Option<String>,
    pub failure_code: Option<String>,
    /// Zero until captured.
    pub captured: Money,
    /// The sum of succeeded refunds.
    pub refunded: Money,
    /// The sum of refunds requested and not yet settled.
    pub pending_refunds: Money,
    /// Ordered by refund id.
    pub refunds: Vec<RefundView>,
    /// How many distinct provider events were received.
    pub provider_events: usize,
    /// The sum of disputes lost: money the shopper's bank took back for good.
    pub charged_back: Money,
    /// Ordered by dispute id.
    pub disputes: Vec<DisputeView>,
}

fn check_amount(amount_minor: i64) -> Result<(), PaymentError> {
    if (1..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
        Ok(())
    } else {
        Err(PaymentError::InvalidAmount)
    }
}

/// Provider codes, ids and references end up in logs, views and idempotency keys.
fn check_code(code: &str) -> Result<(), PaymentError> {
    let chars = code.chars().count();
    if (1..=MAX_CODE_CHARS).contains(&chars) && !code.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(PaymentError::InvalidCode)
    }
}

fn check_optional_code(code: Option<&str>) -> Result<(), PaymentError> {
    code.map_or(Ok(()), check_code)
}

fn check_method(method: &str) -> Result<(), PaymentError> {
    if (1..=MAX_PAYMENT_METHOD_CHARS).contains(&method.len())
        && method.bytes().all(|b| b.is_ascii_graphic())
    {
        Ok(())
    } else {
        Err(PaymentError::InvalidMethod)
    }
}

/// Who may send `command`: payment facts come from the payment service (the platform), with
/// admins as the manual override; staff may also ask for a refund.
fn authorize(command: &PaymentCommand, by: &Principal) -> Result<(), PaymentError> {
    let allowed = match by {
        Principal::System { .. } => true,
        Principal::Staff { role, .. } => {
            role == "admin"
                || (role == "staff" && matches!(command, PaymentCommand::RequestRefund { .. }))
        }
        // A payment is the shop's: a vendor's user neither reads nor moves it.
        Principal::Vendor { .. } | Principal::Guest { .. } | Principal::Customer { .. } => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(PaymentError::Forbidden)
    }
}

/// The checks that depend on the command alone, not on the payment's state.
fn validate(command: &PaymentCommand) -> Result<(), PaymentError> {
    match command {
        PaymentCommand::Start {
            amount,
            payment_method,
            ..
        } => {
            check_amount(amount.amount_minor)?;
            check_method(payment_method)
        }
        PaymentCommand::RecordAuthorization { outcome, .. } => match outcome {
            AuthorizationOutcome::Authorized { provider_ref } => check_code(provider_ref),
            AuthorizationOutcome::RequiresAction {
                provider_ref,
                client_secret,
            } => {
                check_code(provider_ref)?;
                check_optional_code(client_secret.as_deref())
            }
            AuthorizationOutcome::Declined { provider_ref, code } => {
                check_optional_code(provider_ref.as_deref())?;
                check_code(code)
            }
        },
        PaymentCommand::RecordFailure { code, .. } => check_code(code),
        PaymentCommand::RecordCapture { amount, .. } => check_amount(amount.amount_minor),
        PaymentCommand::RecordVoid { .. } => Ok(()),
        PaymentCommand::RequestRefund {
            refund_id, amount, ..
        } => {
            check_code(refund_id)?;
            amount.map_or(Ok(()), |a| check_amount(a.amount_minor))
        }
        PaymentCommand::RecordRefund { refund_id, .. } => check_code(refund_id),
        PaymentCommand::RecordRefundFailure {
            refund_id, code, ..
        } => {
            check_code(refund_id)?;
            check_code(code)
        }
        PaymentCommand::ApplyProviderEvent {
            event_id,
            provider_ref,
            kind,
            ..
        } => {
            check_code(event_id)?;
            check_optional_code(provider_ref.as_deref())?;
            match kind {
                ProviderEventKind::Authorized | ProviderEventKind::Canceled => Ok(()),
                ProviderEventKind::Captured { amount_minor } => check_amount(*amount_minor),
                ProviderEventKind::Failed { code } => check_code(code),
                ProviderEventKind::Refunded {
                    refund_id,
                    amount_minor,
                } => {
                    check_code(refund_id)?;
                    check_amount(*amount_minor)
                }
                ProviderEventKind::DisputeOpened {
                    dispute_id,
                    amount_minor,
                    reason,
                } => {
                    check_code(dispute_id)?;
                    check_code(reason)?;
                    check_amount(*amount_minor)
                }
                ProviderEventKind::DisputeClosed { dispute_id, .. } => check_code(dispute_id),
                ProviderEventKind::Other { provider_type } => check_code(provider_type),
            }
        }
    }
}

/// A placeholder currency for the view of a payment that does not exist yet: ISO-4217's
/// "no currency".
fn no_currency() -> Currency {
    Currency::parse("XXX").unwrap_or(Currency::EUR)
}

impl Payment {
    pub fn status(&self) -> PaymentStatus {
        self.status
    }

    /// The amount to authorize and at most capture; `None` before `start`.
    pub fn amount(&self) -> Option<Money> {
        self.terms.as_ref().map(|t| t.amount)
    }

    pub fn order_id(&self) -> Option<&str> {
        self.terms.as_ref().map(|t| t.order_id.as_str())
    }

    pub fn payment_method(&self) -> Option<&str> {
        self.terms.as_ref().map(|t| t.payment_method.as_str())
    }

    pub fn provider_ref(&self) -> Option<&str> {
        self.provider_ref.as_deref()
    }

    /// The client secret, only while the shopper still has to confirm.
    pub fn client_secret(&self) -> Option<&str> {
        match self.status {
            PaymentStatus::RequiresAction => self.client_secret.as_deref(),
            _ => None,
        }
    }

    /// The captured amount; `None` until captured.
    pub fn captured(&self) -> Option<Money> {
        self.captured
    }

    pub fn refund(&self, refund_id: &str) -> Option<&Refund> {
        self.refunds.get(refund_id)
    }

    /// Whether the provider event `event_id` was already received.
    pub fn has_provider_event(&self, event_id: &str) -> bool {
        self.provider_events.contains(event_id)
    }

    /// What may still be refunded: captured minus succeeded and pending refunds and the
    /// disputes open or lost (the bank already took that money back); `None` until captured.
    pub fn refundable(&self) -> Option<Money> {
        self.captured.map(|c| {
            let held = self
                .refund_total(RefundStatus::Succeeded)
                .saturating_add(self.refund_total(RefundStatus::Pending))
                .saturating_add(self.dispute_total(DisputeStatus::Open))
                .saturating_add(self.dispute_total(DisputeStatus::Lost));
            Money::new(c.amount_minor.saturating_sub(held), c.currency)
        })
    }

    pub fn dispute(&self, dispute_id: &str) -> Option<&Dispute> {
        self.disputes.get(dispute_id)
    }

    fn dispute_total(&self, status: DisputeStatus) -> i64 {
        self.disputes
            .values()
            .filter(|d| d.status == status)
            .fold(0i64, |sum, d| sum.saturating_add(d.amount.amount_minor))
    }

    fn disputed(&self) -> bool {
        self.disputes
            .values()
            .any(|d| d.status == DisputeStatus::Open)
    }

    fn refund_total(&self, status: RefundStatus) -> i64 {
        self.refunds
            .values()
            .filter(|r| r.status == status)
            .fold(0i64, |sum, r| sum.saturating_add(r.amount.amount_minor))
    }

    fn currency(&self) -> Currency {
        self.terms
            .as_ref()
            .map_or_else(no_currency, |t| t.amount.currency)
    }

    /// `PaymentRefunded` for the pending refund `refund_id` of `amount`.
    fn refunded(&self, refund_id: &str, amount: Money, at: DateTime<Utc>) -> PaymentEvent {
        let total = self
            .refund_total(RefundStatus::Succeeded)
            .saturating_add(amount.amount_minor);
        PaymentEvent::PaymentRefunded {
            refund_id: refund_id.to_string(),
            amount,
            total_refunded: Money::new(total, amount.currency),
            line: self.refunds.get(refund_id).and_then(|r| r.line.clone()),
            at,
        }
    }

    fn pending_refund(&self, refund_id: &str) -> Option<Money> {
        self.refunds
            .get(refund_id)
            .filter(|r| r.status == RefundStatus::Pending)
            .map(|r| r.amount)
    }

    fn record_authorization(
        &self,
        outcome: &AuthorizationOutcome,
        at: DateTime<Utc>,
    ) -> Vec<PaymentEvent> {
        use PaymentStatus as S;
        let event = match (self.status, outcome) {
            (
                S::Authorizing | S::RequiresAction,
                AuthorizationOutcome::Authorized { provider_ref },
            ) => PaymentEvent::PaymentAuthorized {
                provider_ref: provider_ref.clone(),
                at,
            },
            (
                S::Authorizing,
                AuthorizationOutcome::RequiresAction {
                    provider_ref,
                    client_secret,
                },
            ) => PaymentEvent::PaymentActionRequired {
                provider_ref: provider_ref.clone(),
                client_secret: client_secret.clone(),
                at,
            },
            (
                S::Authorizing | S::RequiresAction,
                AuthorizationOutcome::Declined { provider_ref, code },
            ) => PaymentEvent::PaymentDeclined {
                provider_ref: provider_ref.clone(),
                code: code.clone(),
                at,
            },
            // A repeated or stale answer: a webhook or an earlier answer already moved the
            // payment on, and the provider's later state wins.
            _ => return vec![],
        };
        vec![event]
    }

    fn record_capture(
        &self,
        terms: &Terms,
        amount: Money,
        at: DateTime<Utc>,
    ) -> Result<Vec<PaymentEvent>, PaymentError> {
        use PaymentStatus as S;
        match self.status {
            S::Authorized => {
                if amount.currency != terms.amount.currency {
                    return Err(PaymentError::CurrencyMismatch);
                }
                if amount.amount_minor > terms.amount.amount_minor {
                    return Err(PaymentError::InvalidAmount);
                }
                Ok(vec![PaymentEvent::PaymentCaptured { amount, at }])
            }
            // Captured at most once: a repeat (or our answer after the provider's webhook) is
            // a no-op, never a second capture.
            S::Captured | S::PartiallyRefunded | S::Refunded => Ok(vec![]),
            S::New | S::Authorizing | S::RequiresAction | S::Voided | S::Declined | S::Failed => {
                Err(PaymentError::InvalidTransition)
            }
        }
    }

    fn request_refund(
        &self,
        refund_id: &str,
        amount: Option<Money>,
        line: Option<&LineShare>,
        at: DateTime<Utc>,
    ) -> Result<Vec<PaymentEvent>, PaymentError> {
        // Checked before the status, so a retried request stays a no-op even after it
        // refunded the payment in full. A retry without an amount asks for what the first
        // request was given.
        if let Some(known) = self.refunds.get(refund_id) {
            let same = amount.is_none_or(|a| a == known.amount)
                && line.is_none_or(|l| known.line.as_ref() == Some(&l.units));
            return if same {
                Ok(vec![])
            } else {
                Err(PaymentError::Mismatch)
            };
        }
        let captured = match (self.status, self.captured) {
            (PaymentStatus::Captured | PaymentStatus::PartiallyRefunded, Some(c)) => c,
            _ => return Err(PaymentError::NotCaptured),
        };
        // The provider refuses to refund a disputed charge: the dispute decides.
        if self.disputed() {
            return Err(PaymentError::Disputed);
        }
        // A line refund gives back at most its units' share of what the line cost, and by
        // default exactly that; pending line refunds count, as pending amounts do below.
        let share = match line {
            None => None,
            Some(share) if share.line_paid.currency != captured.currency => {
                return Err(PaymentError::CurrencyMismatch)
            }
            Some(share) => {
                let given_back = self
                    .refunds
                    .values()
                    .filter(|r| r.status != RefundStatus::Failed)
                    .filter_map(|r| r.line.as_ref());
                Some(line_share(given_back, share)?)
            }
        };
        let amount = match (amount, share) {
            (Some(amount), Some(share)) if amount.amount_minor > share.amount_minor => {
                return Err(PaymentError::RefundExceedsLine)
            }
            (Some(amount), _) => amount,
            (None, Some(share)) => share,
            (None, None) => return Err(PaymentError::InvalidAmount),
        };
        check_amount(amount.amount_minor)?;
        if amount.currency != captured.currency {
            return Err(PaymentError::CurrencyMismatch);
        }
        // Pending refunds count: two concurrent requests can never together exceed it.
        let refundable = self.refundable().map_or(0, |r| r.amount_minor);
        if amount.amount_minor > refundable {
            return Err(PaymentError::RefundExceedsCaptured);
        }
        Ok(vec![PaymentEvent::RefundRequested {
            refund_id: refund_id.to_string(),
            amount,
            line: line.map(|l| l.units.clone()),
            at,
        }])
    }

    fn record_refund(
        &self,
        refund_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<PaymentEvent>, PaymentError> {
        match self.refunds.get(refund_id) {
            None => Err(PaymentError::UnknownRefund),
            Some(r) => match r.status {
                RefundStatus::Pending => Ok(vec![self.refunded(refund_id, r.amount, at)]),
                RefundStatus::Succeeded => Ok(vec![]),
                // Its amount was freed and may already be promised to another refund.
                RefundStatus::Failed => Err(PaymentError::InvalidTransition),
            },
        }
    }

    /// The one effect, if any, a new provider event has on the payment.
    fn consequence(
        &self,
        terms: &Terms,
        provider_ref: Option<&String>,
        kind: &ProviderEventKind,
        at: DateTime<Utc>,
    ) -> Option<PaymentEvent> {
        use PaymentStatus as S;
        match kind {
            ProviderEventKind::Authorized => match self.status {
                // Without any reference there is nothing to record; our own answer will tell.
                S::Authorizing | S::RequiresAction => provider_ref
                    .or(self.provider_ref.as_ref())
                    .map(|r| PaymentEvent::PaymentAuthorized {
                        provider_ref: r.clone(),
                        at,
                    }),
                _ => None,
            },
            ProviderEventKind::Captured { amount_minor } => match self.status {
                S::Authorizing | S::RequiresAction | S::Authorized if self.captured.is_none() => {
                    Some(PaymentEvent::PaymentCaptured {
                        amount: Money::new(*amount_minor, terms.amount.currency),
                        at,
                    })
                }
                _ => None,
            },
            ProviderEventKind::Failed { code } => match self.status {
                S::Authorizing | S::RequiresAction => Some(PaymentEvent::PaymentFailed {
                    code: code.clone(),
                    at,
                }),
                _ => None,
            },
            ProviderEventKind::Canceled => match self.status {
                S::Authorizing | S::RequiresAction | S::Authorized => {
                    Some(PaymentEvent::PaymentVoided { at })
                }
                _ => None,
            },
            // Only a refund we reserved, for the amount we reserved: anything else (a refund
            // made in the provider's dashboard, a different amount) is kept for the audit
            // trail and left to people, since counting it could exceed what was captured.
            ProviderEventKind::Refunded {
                refund_id,
                amount_minor,
            } => self
                .pending_refund(refund_id)
                .filter(|pending| pending.amount_minor == *amount_minor)
                .map(|pending| self.refunded(refund_id, pending, at)),
            // A dispute of captured money, for no more than the shop still holds; anything
            // else is kept for the audit trail and left to people.
            ProviderEventKind::DisputeOpened {
                dispute_id,
                amount_minor,
                reason,
            } => {
                let held = self.refundable()?.amount_minor;
                (!self.disputes.contains_key(dispute_id) && *amount_minor <= held).then(|| {
                    PaymentEvent::DisputeOpened {
                        dispute_id: dispute_id.clone(),
                        amount: Money::new(*amount_minor, terms.amount.currency),
                        reason: reason.clone(),
                        at,
                    }
                })
            }
            ProviderEventKind::DisputeClosed {
                dispute_id,
                outcome,
            } => self
                .disputes
                .get(dispute_id)
                .filter(|d| d.status == DisputeStatus::Open)
                .map(|d| PaymentEvent::DisputeClosed {
                    dispute_id: dispute_id.clone(),
                    outcome: *outcome,
                    amount: d.amount,
                    at,
                }),
            ProviderEventKind::Other { .. } => None,
        }
    }
}

impl Decider for Payment {
    const TYPE: &'static str = "payment";
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = PaymentError;
    type View = PaymentView;

    fn decide(
        &self,
        _id: &str,
        command: &PaymentCommand,
        by: &Principal,
    ) -> Result<Vec<PaymentEvent>, PaymentError> {
        use PaymentStatus as S;
        authorize(command, by)?;
        let Some(terms) = &self.terms else {
            return match command {
                PaymentCommand::Start {
                    order_id,
                    amount,
                    payment_method,
                    now,
                } => {
                    validate(command)?;
                    Ok(vec![PaymentEvent::PaymentStarted {
                        order_id: order_id.clone(),
                        amount: *amount,
                        payment_method: payment_method.clone(),
                        at: *now,
                    }])
                }
                _ => Err(PaymentError::NotFound),
            };
        };
        validate(command)?;
        match command {
            PaymentCommand::Start {
                order_id,
                amount,
                payment_method,
                ..
            } => {
                if terms.order_id == *order_id
                    && terms.amount == *amount
                    && terms.payment_method == *payment_method
                {
                    Ok(vec![])
                } else {
                    Err(PaymentError::Mismatch)
                }
            }
            PaymentCommand::RecordAuthorization { outcome, now } => {
                Ok(self.record_authorization(outcome, *now))
            }
            PaymentCommand::RecordFailure { code, now } => match self.status {
                S::Authorizing | S::RequiresAction => Ok(vec![PaymentEvent::PaymentFailed {
                    code: code.clone(),
                    at: *now,
                }]),
                _ => Ok(vec![]),
            },
            PaymentCommand::RecordCapture { amount, now } => {
                self.record_capture(terms, *amount, *now)
            }
            PaymentCommand::RecordVoid { now } => match self.status {
                S::Authorizing | S::RequiresAction | S::Authorized => {
                    Ok(vec![PaymentEvent::PaymentVoided { at: *now }])
                }
                S::Voided | S::Declined | S::Failed => Ok(vec![]),
                S::Captured | S::PartiallyRefunded | S::Refunded => {
                    Err(PaymentError::AlreadyCaptured)
                }
                S::New => Err(PaymentError::NotFound),
            },
            PaymentCommand::RequestRefund {
                refund_id,
                amount,
                line,
                now,
            } => self.request_refund(refund_id, *amount, line.as_ref(), *now),
            PaymentCommand::RecordRefund { refund_id, now } => self.record_refund(refund_id, *now),
            PaymentCommand::RecordRefundFailure {
                refund_id,
                code,
                now,
            } => Ok(match self.pending_refund(refund_id) {
                Some(_) => vec![PaymentEvent::RefundFailed {
                    refund_id: refund_id.clone(),
                    code: code.clone(),
                    at: *now,
                }],
                None => vec![],
            }),
            PaymentCommand::ApplyProviderEvent {
                event_id,
                provider_ref,
                kind,
                now,
            } => {
                if self.provider_events.contains(event_id) {
                    return Ok(vec![]);
                }
                let mut events = vec![PaymentEvent::ProviderEventReceived {
                    event_id: event_id.clone(),
                    provider_ref: provider_ref.clone(),
                    kind: kind.clone(),
                    at: *now,
                }];
                events.extend(self.consequence(terms, provider_ref.as_ref(), kind, *now));
                Ok(events)
            }
        }
    }

    fn evolve(&mut self, event: &PaymentEvent) {
        match event {
            PaymentEvent::PaymentStarted {
                order_id,
                amount,
                payment_method,
                ..
            } => {
                self.terms = Some(Terms {
                    order_id: order_id.clone(),
                    amount: *amount,
                    payment_method: payment_method.clone(),
                });
                self.status = PaymentStatus::Authorizing;
            }
            PaymentEvent::PaymentAuthorized { provider_ref, .. } => {
                self.provider_ref = Some(provider_ref.clone());
                self.client_secret = None;
                self.status = PaymentStatus::Authorized;
            }
            PaymentEvent::PaymentActionRequired {
                provider_ref,
                client_secret,
                ..
            } => {
                self.provider_ref = Some(provider_ref.clone());
                self.client_secret.clone_from(client_secret);
                self.status = PaymentStatus::RequiresAction;
            }
            PaymentEvent::PaymentDeclined {
                provider_ref, code, ..
            } => {
                if provider_ref.is_some() {
                    self.provider_ref.clone_from(provider_ref);
                }
                self.decline_code = Some(code.clone());
                self.client_secret = None;
                self.status = PaymentStatus::Declined;
            }
            PaymentEvent::PaymentFailed { code, .. } => {
                self.failure_code = Some(code.clone());
                self.client_secret = None;
                self.status = PaymentStatus::Failed;
            }
            PaymentEvent::PaymentCaptured { amount, .. } => {
                self.captured = Some(*amount);
                self.client_secret = None;
                self.status = PaymentStatus::Captured;
            }
            PaymentEvent::PaymentVoided { .. } => {
                self.client_secret = None;
                self.status = PaymentStatus::Voided;
            }
            PaymentEvent::RefundRequested {
                refund_id,
                amount,
                line,
                ..
            } => {
                self.refunds.insert(
                    refund_id.clone(),
                    Refund {
                        amount: *amount,
                        status: RefundStatus::Pending,
                        line: line.clone(),
                    },
                );
            }
            PaymentEvent::PaymentRefunded {
                refund_id,
                amount,
                total_refunded,
                ..
            } => {
                self.refunds
                    .entry(refund_id.clone())
                    .or_insert(Refund {
                        amount: *amount,
                        status: RefundStatus::Pending,
                        line: None,
                    })
                    .status = RefundStatus::Succeeded;
                let in_full = self
                    .captured
                    .is_some_and(|c| total_refunded.amount_minor >= c.amount_minor);
                self.status = if in_full {
                    PaymentStatus::Refunded
                } else {
                    PaymentStatus::PartiallyRefunded
                };
            }
            PaymentEvent::RefundFailed { refund_id, .. } => {
                if let Some(r) = self.refunds.get_mut(refund_id) {
                    r.status = RefundStatus::Failed;
                }
            }
            PaymentEvent::ProviderEventReceived {
                event_id,
                provider_ref,
                ..
            } => {
                self.provider_events.insert(event_id.clone());
                // A webhook may be the first to name the provider's payment (our own answer
                // was lost); never let it overwrite one we already know.
                if self.provider_ref.is_none() {
                    self.provider_ref.clone_from(provider_ref);
                }
            }
            PaymentEvent::DisputeOpened {
                dispute_id,
                amount,
                reason,
                ..
            } => {
                self.disputes.insert(
                    dispute_id.clone(),
                    Dispute {
                        amount: *amount,
                        reason: reason.clone(),
                        status: DisputeStatus::Open,
                    },
                );
            }
            PaymentEvent::DisputeClosed {
                dispute_id,
                outcome,
                ..
            } => {
                if let Some(d) = self.disputes.get_mut(dispute_id) {
                    d.status = match outcome {
                        DisputeOutcome::Won => DisputeStatus::Won,
                        DisputeOutcome::Lost => DisputeStatus::Lost,
                    };
                }
            }
        }
    }

    /// Payments are back-office information; the payment service reads as `System`. Anyone
    /// else learns nothing, not even that the payment exists.
    fn authorize_read(&self, by: &Principal) -> Result<(), PaymentError> {
        if self.terms.is_none() {
            return Err(PaymentError::NotFound);
        }
        match by {
            Principal::System { .. } => Ok(()),
            Principal::Staff { role, .. }
                if matches!(role.as_str(), "admin" | "staff" | "auditor") =>
            {
                Ok(())
            }
            _ => Err(PaymentError::NotFound),
        }
    }

    fn view(&self, id: &str, version: u64) -> PaymentView {
        let currency = self.currency();
        PaymentView {
            id: id.to_string(),
            version,
            order_id: self.order_id().unwrap_or_default().to_string(),
            status: self.status,
            amount: self.amount().unwrap_or_else(|| Money::zero(currency)),
            payment_method: self.payment_method().unwrap_or_default().to_string(),
            provider_ref: self.provider_ref.clone(),
            client_secret: self.client_secret().map(str::to_string),
            decline_code: self.decline_code.clone(),
            failure_code: self.failure_code.clone(),
            captured: self.captured.unwrap_or_else(|| Money::zero(currency)),
            refunded: Money::new(self.refund_total(RefundStatus::Succeeded), currency),
            pending_refunds: Money::new(self.refund_total(RefundStatus::Pending), currency),
            refunds: self
                .refunds
                .iter()
                .map(|(refund_id, r)| RefundView {
                    refund_id: refund_id.clone(),
                    amount: r.amount,
                    status: r.status,
                    line: r.line.clone(),
                })
                .collect(),
            provider_events: self.provider_events.len(),
            charged_back: Money::new(self.dispute_total(DisputeStatus::Lost), currency),
            disputes: self
                .disputes
                .iter()
                .map(|(dispute_id, d)| DisputeView {
                    dispute_id: dispute_id.clone(),
                    amount: d.amount,
                    reason: d.reason.clone(),
                    status: d.status,
                })
                .collect(),
        }
    }

    fn event_type(event: &PaymentEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Payment, PaymentEvent);

pub use agora_kernel::CqrsEnvelope;

#[cfg(test)]
mod tests;

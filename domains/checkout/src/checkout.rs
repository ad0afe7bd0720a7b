use agora_kernel::{Decider, DomainError, ErrorKind, Money, Principal, Sku};
use agora_order::{Address, CancelReason, OrderLine, OrderOwner};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long a checkout may wait for its payment before it is abandoned and undone.
pub const PAYMENT_WINDOW_SECS: i64 = 15 * 60;
/// How long stock stays reserved for a checkout. Longer than the payment window, so a checkout
/// that is paid in time always finds its reservations; shorter than forever, so a checkout
/// whose runner died returns its units on its own.
pub const RESERVATION_TTL_SECS: i64 = 30 * 60;
/// Refused refunds of a cancelled order after which the saga stops trying and leaves the
/// refund to staff (`refund_failed`).
pub const MAX_REFUND_ATTEMPTS: usize = 3;

/// Everything the saga needs, frozen when the checkout starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutPlan {
    pub cart_id: String,
    pub owner: OrderOwner,
    pub lines: Vec<OrderLine>,
    pub shipping_address: Address,
    pub email: String,
    pub shipping: Money,
    pub tax_rate_bp: u32,
    /// The tax rule for the shipping address, which the order records. Absent in checkouts
    /// started before tax rules: their orders are taxed at `tax_rate_bp`, rounded once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rule: Option<agora_order::OrderTax>,
    /// The order total: what is authorized and captured.
    pub amount: Money,
    /// The provider's payment-method token.
    pub payment_method: String,
    /// SHA-256 of the shopper's request, to tell a retry from a reuse of the same key.
    pub request_hash: String,
    /// What promotions took off the order. Each promotion in it holds a use reserved for
    /// this order (the order id) from the start: the saga confirms them after the capture and
    /// releases them when it compensates or reverts. Absent when none applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<agora_order::OrderDiscount>,
    /// The saga commits the reservations when it confirms the order (every checkout started
    /// since it does). A checkout started before, and past its confirmation, commits them when
    /// it finishes, as it would have then.
    #[serde(default)]
    pub commit_on_confirm: bool,
    /// The shipping option the shopper chose (its price is `shipping`); absent when the shop
    /// has no shipping zones and in checkouts started before zones existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_option: Option<agora_order::OrderShippingOption>,
    /// What vendors shipping at their own rates charge, part of `shipping`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vendor_shipping: Vec<agora_order::VendorShipping>,
}

/// What a runner observed when it performed an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    OrderPlaced,
    /// Every line is reserved.
    StockReserved,
    /// A line could not be reserved.
    StockUnavailable {
        sku: Sku,
    },
    /// The provider holds the amount.
    PaymentAuthorized,
    /// Holding the reservations after the authorization found one lapsed and its units gone.
    /// Distinct from `StockUnavailable`, so a stale reservation answer can never fail an
    /// authorized checkout.
    StockLapsed {
        sku: Sku,
    },
    /// The shopper must still confirm the payment (3-D Secure).
    PaymentPending,
    PaymentDeclined {
        code: String,
    },
    PaymentFailed {
        code: String,
    },
    OrderConfirmed,
    /// The order was cancelled by someone else (the shopper, staff) while the saga ran.
    OrderCancelled {
        reason: CancelReason,
    },
    PaymentCaptured,
    CaptureFailed {
        code: String,
    },
    /// Reservations committed, capture recorded on the order, cart closed.
    Finished,
    /// Every compensation step is done.
    Compensated,
    /// The paid order that was cancelled is refunded and its units are back in stock.
    Reverted,
    /// The provider refused the refund of a cancelled order too many times: staff must act.
    RefundFailed {
        code: String,
    },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::OrderPlaced => "order_placed",
            Outcome::StockReserved => "stock_reserved",
            Outcome::StockUnavailable { .. } => "stock_unavailable",
            Outcome::PaymentAuthorized => "payment_authorized",
            Outcome::StockLapsed { .. } => "stock_lapsed",
            Outcome::PaymentPending => "payment_pending",
            Outcome::PaymentDeclined { .. } => "payment_declined",
            Outcome::PaymentFailed { .. } => "payment_failed",
            Outcome::OrderConfirmed => "order_confirmed",
            Outcome::OrderCancelled { .. } => "order_cancelled",
            Outcome::PaymentCaptured => "payment_captured",
            Outcome::CaptureFailed { .. } => "capture_failed",
            Outcome::Finished => "finished",
            Outcome::Compensated => "compensated",
            Outcome::Reverted => "reverted",
            Outcome::RefundFailed { .. } => "refund_failed",
        }
    }
}

/// Commands on one checkout (stream id: the order id). Only the platform sends them.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckoutCommand {
    Start {
        plan: Box<CheckoutPlan>,
        now: DateTime<Utc>,
    },
    Record {
        outcome: Outcome,
        now: DateTime<Utc>,
    },
    /// Outcomes a runner observed one after the other, recorded in one commit: each is decided
    /// against the state the ones before it left, so the events are those of recording them
    /// one at a time.
    RecordSteps {
        outcomes: Vec<Outcome>,
        now: DateTime<Utc>,
    },
    /// The expiry sweep: undo a checkout still waiting for its payment past its deadline.
    Abandon { now: DateTime<Utc> },
}

/// Facts about a checkout. A published contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutEvent {
    CheckoutStarted {
        plan: Box<CheckoutPlan>,
        /// When an unpaid checkout is abandoned.
        pay_by: DateTime<Utc>,
        /// When its reservations expire on their own.
        reserve_until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// A step's outcome moved the saga forward.
    CheckoutProgressed {
        outcome: Outcome,
        at: DateTime<Utc>,
    },
    /// Several steps' outcomes, in order, moved the saga forward: what `CheckoutProgressed`
    /// would record for each, recorded as one fact (the runner records the happy path's steps
    /// together).
    CheckoutAdvanced {
        outcomes: Vec<Outcome>,
        at: DateTime<Utc>,
    },
    /// The saga failed; compensation begins.
    CheckoutFailed {
        reason: CancelReason,
        /// What went wrong, for people: `out_of_stock:TEE-M`, `card_declined`...
        detail: String,
        /// The order was already cancelled by someone else: do not cancel it again.
        order_cancelled: bool,
        at: DateTime<Utc>,
    },
    CheckoutCompensated {
        at: DateTime<Utc>,
    },
    CheckoutCompleted {
        at: DateTime<Utc>,
    },
    /// A completed checkout's order was cancelled: refund and restock.
    CheckoutReverting {
        reason: CancelReason,
        at: DateTime<Utc>,
    },
    CheckoutReverted {
        at: DateTime<Utc>,
    },
}

impl CheckoutEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            CheckoutEvent::CheckoutStarted { .. } => "CheckoutStarted",
            CheckoutEvent::CheckoutProgressed { .. } => "CheckoutProgressed",
            CheckoutEvent::CheckoutAdvanced { .. } => "CheckoutAdvanced",
            CheckoutEvent::CheckoutFailed { .. } => "CheckoutFailed",
            CheckoutEvent::CheckoutCompensated { .. } => "CheckoutCompensated",
            CheckoutEvent::CheckoutCompleted { .. } => "CheckoutCompleted",
            CheckoutEvent::CheckoutReverting { .. } => "CheckoutReverting",
            CheckoutEvent::CheckoutReverted { .. } => "CheckoutReverted",
        }
    }
}

/// Where the saga is: each phase names the action it waits to see done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    New,
    PlacingOrder,
    ReservingStock,
    Authorizing,
    AwaitingPayment,
    ConfirmingOrder,
    Capturing,
    Finishing,
    Completed,
    Compensating,
    Failed,
    Reverting,
    Reverted,
    /// The money of a cancelled order could not be returned: staff must refund it by hand.
    RefundFailed,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::New => "new",
            Phase::PlacingOrder => "placing_order",
            Phase::ReservingStock => "reserving_stock",
            Phase::Authorizing => "authorizing",
            Phase::AwaitingPayment => "awaiting_payment",
            Phase::ConfirmingOrder => "confirming_order",
            Phase::Capturing => "capturing",
            Phase::Finishing => "finishing",
            Phase::Completed => "completed",
            Phase::Compensating => "compensating",
            Phase::Failed => "failed",
            Phase::Reverting => "reverting",
            Phase::Reverted => "reverted",
            Phase::RefundFailed => "refund_failed",
        }
    }

    /// The saga has nothing left to do (until an order cancellation reverts a completed one).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::Completed | Phase::Failed | Phase::Reverted | Phase::RefundFailed
        )
    }
}

/// What the runner must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    PlaceOrder,
    /// Reserve every line (reservation id `<order id>:<sku>`), then mark the order.
    ReserveStock,
    /// Ask the payment service to authorize `amount` with the plan's payment method.
    Authorize,
    /// Look whether the pending payment was confirmed (after a webhook or the shopper's
    /// client); nothing to do while it is still pending.
    CheckPayment,
    /// Commit every reservation (from here the units are the order's, however long the capture
    /// takes; one that lapsed and lost its units fails the checkout), then confirm the order,
    /// recording its authorization.
    ConfirmOrder,
    Capture,
    /// Record the capture on the order, confirm the promotions' uses, close the cart.
    Finish,
    /// Undo: release every reservation or return its committed units (`stock_committed`: the
    /// failure came after the commit, so a commit too old for the stock to remember is
    /// returned by receiving its units), void the authorization (when one was asked for),
    /// cancel the order (unless someone already did), refund the capture (when the provider
    /// captured before the failure was noticed), reopen the cart. `Compensated` only once the
    /// money is back.
    Compensate {
        void_payment: bool,
        refund_payment: bool,
        cancel_order: Option<CancelReason>,
        stock_committed: bool,
    },
    /// Refund what was captured (until the provider settles it) and return to stock exactly
    /// what was taken: a reservation still held is released, a committed one is returned.
    /// `completed`: every line was committed (the saga finished), so a commit too old for the
    /// stock to remember is returned by receiving its units.
    Revert {
        completed: bool,
    },
    /// Nothing to do.
    Wait,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("no such checkout")]
    NotFound,
    #[error("only the platform runs checkouts")]
    Forbidden,
    #[error("this idempotency key was already used for a different checkout request")]
    KeyReused,
}

impl DomainError for CheckoutError {
    fn code(&self) -> &'static str {
        match self {
            CheckoutError::NotFound => "checkout.not_found",
            CheckoutError::Forbidden => "checkout.forbidden",
            CheckoutError::KeyReused => "checkout.idempotency_key_reused",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            CheckoutError::NotFound => ErrorKind::NotFound,
            CheckoutError::Forbidden => ErrorKind::Forbidden,
            CheckoutError::KeyReused => ErrorKind::Conflict,
        }
    }
}

/// The saga's state, folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub phase: Phase,
    pub plan: Option<CheckoutPlan>,
    pub pay_by: Option<DateTime<Utc>>,
    pub reserve_until: Option<DateTime<Utc>>,
    /// The phase the saga failed in, and why.
    pub failure: Option<(Phase, CancelReason, String)>,
    pub order_cancelled_externally: bool,
    /// The provider captured the payment although the saga failed (a cancel raced the
    /// capture): the compensation refunds instead of voiding.
    #[serde(default)]
    pub refund_due: bool,
    /// The saga recorded `Finished`: every reservation was committed (since the order was
    /// confirmed).
    #[serde(default)]
    pub completed: bool,
    /// The provider's last refusal of the refund, once the saga gave up on it.
    #[serde(default)]
    pub refund_failure: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a read of a checkout shows (back office and the platform only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutView {
    pub id: String,
    pub version: u64,
    pub phase: Phase,
    pub cart_id: Option<String>,
    pub amount: Option<Money>,
    pub request_hash: Option<String>,
    pub failure_reason: Option<CancelReason>,
    pub failure_detail: Option<String>,
    /// Why the refund of a cancelled order failed (phase `refund_failed`): staff must refund
    /// it by hand.
    #[serde(default)]
    pub refund_failure: Option<String>,
    pub pay_by: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Checkout {
    /// The next step, from what has been recorded so far. Pure: the runner calls it after
    /// every load and every recorded outcome.
    pub fn next_action(&self) -> Action {
        match self.phase {
            Phase::New
            | Phase::Completed
            | Phase::Failed
            | Phase::Reverted
            | Phase::RefundFailed => Action::Wait,
            Phase::PlacingOrder => Action::PlaceOrder,
            Phase::ReservingStock => Action::ReserveStock,
            Phase::Authorizing => Action::Authorize,
            Phase::AwaitingPayment => Action::CheckPayment,
            Phase::ConfirmingOrder => Action::ConfirmOrder,
            Phase::Capturing => Action::Capture,
            Phase::Finishing => Action::Finish,
            Phase::Reverting => Action::Revert {
                // A checkout reverts only once its order was confirmed, and it commits its
                // reservations when it confirms the order (unless it started before that).
                completed: self.completed
                    || self.plan.as_ref().is_some_and(|p| p.commit_on_confirm),
            },
            Phase::Compensating => {
                let (failed_in, reason) = match &self.failure {
                    Some((phase, reason, _)) => (*phase, *reason),
                    None => (Phase::PlacingOrder, CancelReason::PaymentFailed),
                };
                Action::Compensate {
                    // An authorization may exist from the moment one was asked for, even when
                    // its answer was lost, and the phase recorded may lag what the runner did
                    // (it records the happy path's steps together), so any authorization is
                    // voided: voiding a payment that was never asked for does nothing. Money the
                    // provider captured is refunded instead.
                    void_payment: !self.refund_due,
                    refund_payment: self.refund_due,
                    cancel_order: (!self.order_cancelled_externally).then_some(reason),
                    stock_committed: failed_in == Phase::Capturing
                        && self.plan.as_ref().is_some_and(|p| p.commit_on_confirm),
                }
            }
        }
    }

    pub fn plan(&self) -> Option<&CheckoutPlan> {
        self.plan.as_ref()
    }

    fn failed(&self, reason: CancelReason, detail: String, now: DateTime<Utc>) -> CheckoutEvent {
        CheckoutEvent::CheckoutFailed {
            reason,
            detail,
            order_cancelled: false,
            at: now,
        }
    }

    fn record(&self, outcome: &Outcome, now: DateTime<Utc>) -> Vec<CheckoutEvent> {
        let progressed = || {
            vec![CheckoutEvent::CheckoutProgressed {
                outcome: outcome.clone(),
                at: now,
            }]
        };
        use Outcome as O;
        use Phase as P;
        match (self.phase, outcome) {
            // An order cancelled by someone else stops the saga before the capture, and
            // reverts it after.
            (
                P::PlacingOrder
                | P::ReservingStock
                | P::Authorizing
                | P::AwaitingPayment
                | P::ConfirmingOrder
                | P::Capturing,
                O::OrderCancelled { reason },
            ) => vec![CheckoutEvent::CheckoutFailed {
                reason: *reason,
                detail: "order_cancelled".into(),
                order_cancelled: true,
                at: now,
            }],
            (P::Finishing | P::Completed, O::OrderCancelled { reason }) => {
                vec![CheckoutEvent::CheckoutReverting {
                    reason: *reason,
                    at: now,
                }]
            }
            (P::PlacingOrder, O::OrderPlaced) => progressed(),
            (P::ReservingStock, O::StockReserved) => progressed(),
            (P::ReservingStock, O::StockUnavailable { sku }) => {
                vec![self.failed(CancelReason::OutOfStock, format!("out_of_stock:{sku}"), now)]
            }
            (P::Authorizing, O::PaymentPending) => progressed(),
            (P::Authorizing | P::AwaitingPayment, O::PaymentAuthorized) => progressed(),
            (P::Authorizing | P::AwaitingPayment, O::PaymentDeclined { code }) => {
                vec![self.failed(CancelReason::PaymentDeclined, code.clone(), now)]
            }
            (P::Authorizing | P::AwaitingPayment, O::PaymentFailed { code }) => {
                vec![self.failed(CancelReason::PaymentFailed, code.clone(), now)]
            }
            // Holding the reservations found one lapsed and its units sold to someone else.
            (P::ConfirmingOrder, O::StockLapsed { sku }) => {
                vec![self.failed(CancelReason::OutOfStock, format!("out_of_stock:{sku}"), now)]
            }
            (P::ConfirmingOrder, O::OrderConfirmed) => progressed(),
            (P::Capturing, O::PaymentCaptured) => progressed(),
            (P::Capturing, O::CaptureFailed { code }) => {
                vec![self.failed(CancelReason::PaymentFailed, code.clone(), now)]
            }
            (P::Finishing, O::Finished) => vec![CheckoutEvent::CheckoutCompleted { at: now }],
            // The provider captured although the saga failed (a cancel landed after the capture
            // but before its record): the compensation must refund it.
            (P::Compensating, O::PaymentCaptured) if !self.refund_due => progressed(),
            (P::Compensating | P::Reverting, O::RefundFailed { .. }) => progressed(),
            (P::Compensating, O::Compensated) => {
                vec![CheckoutEvent::CheckoutCompensated { at: now }]
            }
            (P::Reverting, O::Reverted) => vec![CheckoutEvent::CheckoutReverted { at: now }],
            // Anything else is a stale or repeated observation: it records nothing.
            _ => vec![],
        }
    }
}

impl Checkout {
    /// One step's outcome moved the saga forward.
    fn progress(&mut self, outcome: &Outcome, at: DateTime<Utc>) {
        self.phase = match outcome {
            Outcome::OrderPlaced => Phase::ReservingStock,
            Outcome::StockReserved => Phase::Authorizing,
            Outcome::PaymentPending => Phase::AwaitingPayment,
            Outcome::PaymentAuthorized => Phase::ConfirmingOrder,
            Outcome::OrderConfirmed => Phase::Capturing,
            Outcome::PaymentCaptured if self.phase == Phase::Compensating => {
                self.refund_due = true;
                Phase::Compensating
            }
            Outcome::PaymentCaptured => Phase::Finishing,
            Outcome::RefundFailed { code } => {
                self.refund_failure = Some(code.clone());
                Phase::RefundFailed
            }
            _ => self.phase,
        };
        self.updated_at = Some(at);
    }
}

/// Coalesces the consecutive `CheckoutProgressed` among `events` into one `CheckoutAdvanced`
/// (a single one stays as it is).
fn advanced(events: Vec<CheckoutEvent>, at: DateTime<Utc>) -> Vec<CheckoutEvent> {
    let mut out = Vec::with_capacity(events.len());
    let mut run: Vec<Outcome> = Vec::new();
    let flush = |run: &mut Vec<Outcome>, out: &mut Vec<CheckoutEvent>| match run.len() {
        0 => {}
        1 => out.push(CheckoutEvent::CheckoutProgressed {
            outcome: run.remove(0),
            at,
        }),
        _ => out.push(CheckoutEvent::CheckoutAdvanced {
            outcomes: std::mem::take(run),
            at,
        }),
    };
    for event in events {
        match event {
            CheckoutEvent::CheckoutProgressed { outcome, .. } => run.push(outcome),
            other => {
                flush(&mut run, &mut out);
                out.push(other);
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

impl Decider for Checkout {
    const TYPE: &'static str = "checkout";
    type Command = CheckoutCommand;
    type Event = CheckoutEvent;
    type Error = CheckoutError;
    type View = CheckoutView;

    fn decide(
        &self,
        _id: &str,
        command: &CheckoutCommand,
        by: &Principal,
    ) -> Result<Vec<CheckoutEvent>, CheckoutError> {
        if !matches!(by, Principal::System { .. }) {
            return Err(CheckoutError::Forbidden);
        }
        match command {
            CheckoutCommand::Start { plan, now } => match &self.plan {
                None => Ok(vec![CheckoutEvent::CheckoutStarted {
                    plan: plan.clone(),
                    pay_by: *now + chrono::Duration::seconds(PAYMENT_WINDOW_SECS),
                    reserve_until: *now + chrono::Duration::seconds(RESERVATION_TTL_SECS),
                    at: *now,
                }]),
                Some(existing) if existing.request_hash == plan.request_hash => Ok(vec![]),
                Some(_) => Err(CheckoutError::KeyReused),
            },
            _ if self.phase == Phase::New => Err(CheckoutError::NotFound),
            CheckoutCommand::Record { outcome, now } => Ok(self.record(outcome, *now)),
            CheckoutCommand::RecordSteps { outcomes, now } => {
                let mut state = self.clone();
                let mut events = Vec::new();
                for outcome in outcomes {
                    let new = state.record(outcome, *now);
                    for e in &new {
                        state.evolve(e);
                    }
                    events.extend(new);
                }
                Ok(advanced(events, *now))
            }
            CheckoutCommand::Abandon { now } => {
                let waiting = matches!(
                    self.phase,
                    Phase::PlacingOrder
                        | Phase::ReservingStock
                        | Phase::Authorizing
                        | Phase::AwaitingPayment
                );
                match self.pay_by {
                    Some(deadline) if waiting && *now >= deadline => Ok(vec![self.failed(
                        CancelReason::Abandoned,
                        "payment_window_passed".into(),
                        *now,
                    )]),
                    _ => Ok(vec![]),
                }
            }
        }
    }

    fn evolve(&mut self, event: &CheckoutEvent) {
        match event {
            CheckoutEvent::CheckoutStarted {
                plan,
                pay_by,
                reserve_until,
                at,
            } => {
                self.plan = Some((**plan).clone());
                self.pay_by = Some(*pay_by);
                self.reserve_until = Some(*reserve_until);
                self.phase = Phase::PlacingOrder;
                self.started_at = Some(*at);
                self.updated_at = Some(*at);
            }
            CheckoutEvent::CheckoutProgressed { outcome, at } => self.progress(outcome, *at),
            CheckoutEvent::CheckoutAdvanced { outcomes, at } => {
                for outcome in outcomes {
                    self.progress(outcome, *at);
                }
            }
            CheckoutEvent::CheckoutFailed {
                reason,
                detail,
                order_cancelled,
                at,
            } => {
                self.failure = Some((self.phase, *reason, detail.clone()));
                self.order_cancelled_externally = *order_cancelled;
                self.phase = Phase::Compensating;
                self.updated_at = Some(*at);
            }
            CheckoutEvent::CheckoutCompensated { at } => {
                self.phase = Phase::Failed;
                self.updated_at = Some(*at);
            }
            CheckoutEvent::CheckoutCompleted { at } => {
                self.phase = Phase::Completed;
                self.completed = true;
                self.updated_at = Some(*at);
            }
            CheckoutEvent::CheckoutReverting { at, .. } => {
                self.phase = Phase::Reverting;
                self.updated_at = Some(*at);
            }
            CheckoutEvent::CheckoutReverted { at } => {
                self.phase = Phase::Reverted;
                self.updated_at = Some(*at);
            }
        }
    }

    fn authorize_read(&self, by: &Principal) -> Result<(), CheckoutError> {
        let allowed = match by {
            Principal::System { .. } => true,
            Principal::Staff { role, .. } => ["admin", "staff", "auditor"].contains(&role.as_str()),
            _ => false,
        };
        if self.phase == Phase::New || !allowed {
            return Err(CheckoutError::NotFound);
        }
        Ok(())
    }

    fn view(&self, id: &str, version: u64) -> CheckoutView {
        CheckoutView {
            id: id.to_string(),
            version,
            phase: self.phase,
            cart_id: self.plan.as_ref().map(|p| p.cart_id.clone()),
            amount: self.plan.as_ref().map(|p| p.amount),
            request_hash: self.plan.as_ref().map(|p| p.request_hash.clone()),
            failure_reason: self.failure.as_ref().map(|f| f.1),
            failure_detail: self.failure.as_ref().map(|f| f.2.clone()),
            refund_failure: self.refund_failure.clone(),
            pay_by: self.pay_by,
            started_at: self.started_at,
            updated_at: self.updated_at,
        }
    }

    fn event_type(event: &CheckoutEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Checkout, CheckoutEvent);

pub use agora_kernel::CqrsEnvelope;

#[cfg(test)]
mod tests;

//! The saga runner: performs each checkout's next action until the saga waits or ends.
//!
//! It is driven by the event feed (`saga_checkout`, a durable JetStream consumer shared by
//! every instance): a checkout event advances that checkout; a payment event that settles an
//! authorization advances its checkout, and a refund is copied onto the order; an order
//! cancelled by the shopper or by staff is told to its checkout. A sweep abandons checkouts
//! whose payment window passed and nudges any that stalled (a provider outage, a crash).
//!
//! Every action is idempotent (see the crate docs), so a message delivered twice, two
//! instances advancing the same checkout, or a crash between an effect and its record cost a
//! repeated request, never a repeated effect.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_cart::CartCommand;
use agora_checkout::{
    Action, Checkout, CheckoutCommand, CheckoutPlan, Outcome, Phase, MAX_REFUND_ATTEMPTS,
};
use agora_inventory::StockCommand;
use agora_inventory::StockView;
use agora_kernel::{Command, Contract, Decider, DomainError};
use agora_kernel::{CommandId, ErrorBody, ErrorKind, Money, RecordedEvent, Sku};
use agora_nats::{Bus, CommandEnvelope, CommandReply, RequestContext};
use agora_order::Order;
use agora_order::{CancelReason, OrderCommand, OrderEvent, OrderStatus, OrderView};
use agora_payment::{
    AuthorizePayment, Payment, PaymentEvent, PaymentRequest, PaymentStatus, PaymentView,
    RefundPayment, RefundStatus, RefundView,
};
use agora_promotion::PromotionCommand;
use agora_runtime::{AggregateHost, EventStore};
use async_nats::jetstream;
use chrono::Utc;
use sqlx::PgPool;

use crate::checkout_service::system;
use crate::step_id;

/// The durable consumer every runner instance shares.
pub const CONSUMER: &str = "saga_checkout";
/// The refund id of a cancelled order's refund (the n-th attempt after refusals adds `-n`).
const CANCEL_REFUND_ID: &str = "order-cancelled";
/// Deliveries after which a checkout whose provider never answers gives up and compensates.
const MAX_AUTHORIZE_DELIVERIES: u64 = 8;

/// Loads a checkout's state and version from the event store.
pub async fn load(pool: &PgPool, order_id: &str) -> Result<(Checkout, u64), ErrorBody> {
    let events = EventStore::new(pool.clone())
        .range("checkout", order_id, 0, u64::MAX)
        .await
        .map_err(|e| ErrorBody::unavailable(format!("load checkout: {e}")))?;
    let (state, version, _) = agora_runtime::fold::<Checkout>(&events)?;
    Ok((state, version))
}

/// Performs checkout actions.
pub struct Runner {
    pub host: AggregateHost<Checkout>,
    pub bus: Bus,
    pub pool: PgPool,
    /// Fault injection for tests: abort the process right after performing this action
    /// (`reserve_stock`, `authorize`...) and before recording its outcome.
    pub crash_after: Option<String>,
    /// One advance per checkout at a time in this process.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Outcomes a runner observed but has not recorded yet, on top of the recorded state `base`.
struct Unrecorded {
    base: Checkout,
    outcomes: Vec<Outcome>,
    /// The events recording them makes.
    events: u64,
}

impl Unrecorded {
    fn on(base: &Checkout) -> Self {
        Unrecorded {
            base: base.clone(),
            outcomes: Vec::new(),
            events: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// Adds an outcome; returns the checkout as recording every unrecorded outcome will leave
    /// it (the same pure decision the checkout's actor makes).
    fn push(&mut self, order_id: &str, outcome: Outcome) -> Result<Checkout, ErrorBody> {
        self.outcomes.push(outcome);
        let events = self
            .base
            .decide(
                order_id,
                &CheckoutCommand::RecordSteps {
                    outcomes: self.outcomes.clone(),
                    now: Utc::now(),
                },
                &system(),
            )
            .map_err(|e| e.to_body())?;
        let mut state = self.base.clone();
        for e in &events {
            state.evolve(e);
        }
        self.events = events.len() as u64;
        Ok(state)
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::PlaceOrder => "place_order",
        Action::ReserveStock => "reserve_stock",
        Action::Authorize => "authorize",
        Action::CheckPayment => "check_payment",
        Action::ConfirmOrder => "confirm_order",
        Action::Capture => "capture",
        Action::Finish => "finish",
        Action::Compensate { .. } => "compensate",
        Action::Revert { .. } => "revert",
        Action::Wait => "wait",
    }
}

fn ctx() -> RequestContext {
    crate::context(Duration::from_secs(15))
}

impl Runner {
    pub fn new(
        host: AggregateHost<Checkout>,
        bus: Bus,
        pool: PgPool,
        crash_after: Option<String>,
    ) -> Self {
        Runner {
            host,
            bus,
            pool,
            crash_after,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_for(&self, order_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() > 10_000 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(order_id.to_string()).or_default().clone()
    }

    async fn send<C: Command>(
        &self,
        id: &str,
        command_id: CommandId,
        command: &C,
    ) -> Result<CommandReply<<C::Contract as Contract>::View>, ErrorBody> {
        self.bus
            .send(id, command_id, system(), command, &ctx())
            .await
    }

    /// Sends a stock command for one line of the checkout for `order_id`: the endpoint is the
    /// command's own name, the command id the step `stock:<step>:<sku>` of the order.
    async fn stock(
        &self,
        order_id: &str,
        sku: &Sku,
        step: &str,
        command: &StockCommand,
    ) -> Result<CommandReply<StockView>, ErrorBody> {
        self.send(
            sku.as_str(),
            step_id(order_id, &format!("stock:{step}:{sku}")),
            command,
        )
        .await
    }

    /// Confirms (`confirm`) or releases the use of every promotion the checkout for
    /// `order_id` reserved when it started; the command id is the step
    /// `promotion:<command>:<promotion id>`, and the promotion decides each once per order.
    async fn redemptions(
        &self,
        order_id: &str,
        plan: &CheckoutPlan,
        confirm: bool,
    ) -> Result<(), ErrorBody> {
        let Some(discount) = &plan.discount else {
            return Ok(());
        };
        let Ok(order) = agora_promotion::OrderId::from_str(order_id) else {
            return Ok(());
        };
        let now = Utc::now();
        for promotion in &discount.promotions {
            let command = if confirm {
                PromotionCommand::Confirm {
                    order_id: order,
                    now,
                }
            } else {
                PromotionCommand::Release {
                    order_id: order,
                    now,
                }
            };
            self.send(
                &promotion.promotion_id,
                step_id(
                    order_id,
                    &format!("promotion:{}:{}", command.name(), promotion.promotion_id),
                ),
                &command,
            )
            .await?;
        }
        Ok(())
    }

    async fn get<K: Contract>(&self, id: &str) -> Result<K::View, ErrorBody> {
        self.bus.read::<K>(id, system(), &ctx()).await
    }

    /// Records an outcome on the checkout; its command id names the phase and the outcome, so
    /// the same observation recorded twice is one command.
    pub async fn record(
        &self,
        order_id: &str,
        phase: Phase,
        outcome: Outcome,
    ) -> Result<(), ErrorBody> {
        let command_id = step_id(
            order_id,
            &format!("record:{}:{}", phase.as_str(), outcome.label()),
        );
        self.host
            .execute(
                CommandEnvelope {
                    aggregate_id: order_id.to_string(),
                    command_id,
                    principal: system(),
                    command: CheckoutCommand::Record {
                        outcome,
                        now: Utc::now(),
                    },
                },
                ctx(),
            )
            .await?;
        Ok(())
    }

    /// Records outcomes observed one after the other in one commit (`RecordSteps`); its
    /// command id names the phase they started from and the outcomes, so the same
    /// observations recorded twice are one command. Returns the stream's version after it.
    async fn record_steps(
        &self,
        order_id: &str,
        from: Phase,
        outcomes: &[Outcome],
    ) -> Result<u64, ErrorBody> {
        let labels: Vec<&str> = outcomes.iter().map(Outcome::label).collect();
        let command_id = step_id(
            order_id,
            &format!("record:{}:{}", from.as_str(), labels.join("+")),
        );
        let reply = self
            .host
            .execute(
                CommandEnvelope {
                    aggregate_id: order_id.to_string(),
                    command_id,
                    principal: system(),
                    command: CheckoutCommand::RecordSteps {
                        outcomes: outcomes.to_vec(),
                        now: Utc::now(),
                    },
                },
                ctx(),
            )
            .await?;
        Ok(reply.version)
    }

    /// Performs next actions until the checkout waits or ends; returns its phase.
    pub async fn advance(&self, order_id: &str) -> Result<Phase, ErrorBody> {
        self.advance_from(order_id, None).await
    }

    /// Like [`Runner::advance`], starting from the checkout this instance's actor holds when it
    /// is at least at stream version `seen` (an event the feed delivered: usually the echo of
    /// this instance's own record), instead of loading the checkout from the store.
    ///
    /// The happy path's outcomes are recorded together when the checkout waits or ends (one
    /// commit instead of one per step). Every action is idempotent, so a crash that loses
    /// outcomes not yet recorded only repeats their actions, which repeat no effect.
    /// Compensation and revert steps are recorded one by one, as they happen.
    async fn advance_from(&self, order_id: &str, seen: Option<u64>) -> Result<Phase, ErrorBody> {
        let lock = self.lock_for(order_id);
        let _guard = lock.lock().await;
        let live = match seen {
            Some(seen) => self
                .host
                .snapshot(order_id)
                .await
                .filter(|(_, v)| *v >= seen),
            None => None,
        };
        let (mut state, mut version) = match live {
            Some(live) => live,
            None => load(&self.pool, order_id).await?,
        };
        if version == 0 {
            return Ok(Phase::New);
        }
        let mut unrecorded = Unrecorded::on(&state);
        for _ in 0..16 {
            let action = state.next_action();
            if action == Action::Wait {
                break;
            }
            let undoing = matches!(action, Action::Compensate { .. } | Action::Revert { .. });
            if undoing && !unrecorded.is_empty() {
                match self
                    .flush(order_id, &mut unrecorded, &state, version)
                    .await?
                {
                    Some(v) => version = v,
                    // Someone else wrote the checkout meanwhile: go on from the store.
                    None => {
                        (state, version) = load(&self.pool, order_id).await?;
                        unrecorded = Unrecorded::on(&state);
                    }
                }
                continue;
            }
            let name = action_name(&action);
            let performed = self.perform(order_id, &state, &action).await;
            let outcome = match performed {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::warn!(order = order_id, action = name, error = %e, "checkout step failed; will retry");
                    // What was observed before the failure is kept.
                    if !unrecorded.is_empty() {
                        self.flush(order_id, &mut unrecorded, &state, version)
                            .await?;
                    }
                    return Err(e);
                }
            };
            if self.crash_after.as_deref() == Some(name) {
                tracing::error!(
                    order = order_id,
                    action = name,
                    "fault injection: aborting after the effect, before its record"
                );
                std::process::abort();
            }
            let Some(outcome) = outcome else { break };
            state = unrecorded.push(order_id, outcome)?;
            if undoing {
                match self
                    .flush(order_id, &mut unrecorded, &state, version)
                    .await?
                {
                    Some(v) => version = v,
                    None => {
                        (state, version) = load(&self.pool, order_id).await?;
                        unrecorded = Unrecorded::on(&state);
                    }
                }
            }
        }
        if !unrecorded.is_empty() {
            self.flush(order_id, &mut unrecorded, &state, version)
                .await?;
        }
        Ok(state.phase)
    }

    /// Records the unrecorded outcomes, which lead from stream version `version` to `state`.
    /// Returns the version after them, or `None` when the stream is not where this runner
    /// expected it (another instance wrote it meanwhile).
    async fn flush(
        &self,
        order_id: &str,
        unrecorded: &mut Unrecorded,
        state: &Checkout,
        version: u64,
    ) -> Result<Option<u64>, ErrorBody> {
        let recorded = self
            .record_steps(order_id, unrecorded.base.phase, &unrecorded.outcomes)
            .await?;
        let as_expected = recorded == version + unrecorded.events;
        *unrecorded = Unrecorded::on(state);
        Ok(as_expected.then_some(recorded))
    }

    async fn perform(
        &self,
        order_id: &str,
        state: &Checkout,
        action: &Action,
    ) -> Result<Option<Outcome>, ErrorBody> {
        let Some(plan) = state.plan() else {
            return Ok(None);
        };
        let now = Utc::now();
        match action {
            Action::Wait => Ok(None),
            Action::PlaceOrder => self.place_order(order_id, plan).await,
            Action::ReserveStock => self.reserve_stock(order_id, state, plan, now).await,
            Action::Authorize => self.authorize(order_id, plan).await,
            Action::CheckPayment => self.check_payment(order_id).await,
            Action::ConfirmOrder => self.confirm_order(order_id, plan, now).await,
            Action::Capture => self.capture(order_id).await,
            Action::Finish => self.finish(order_id, plan, now).await,
            Action::Compensate {
                void_payment,
                refund_payment,
                cancel_order,
                stock_committed,
            } => {
                self.compensate(
                    order_id,
                    state,
                    plan,
                    now,
                    void_payment,
                    refund_payment,
                    cancel_order,
                    stock_committed,
                )
                .await
            }
            Action::Revert { completed } => self.revert(order_id, plan, now, completed).await,
        }
    }

    /// Places the order from the plan (step `place-order`).
    async fn place_order(
        &self,
        order_id: &str,
        plan: &CheckoutPlan,
    ) -> Result<Option<Outcome>, ErrorBody> {
        crate::checkout_service::CheckoutService::place_order(&self.bus, order_id, plan, &ctx())
            .await?;
        Ok(Some(Outcome::OrderPlaced))
    }

    /// Reserves every line's units until the payment deadline; a short SKU fails the checkout.
    async fn reserve_stock(
        &self,
        order_id: &str,
        state: &Checkout,
        plan: &CheckoutPlan,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<Outcome>, ErrorBody> {
        let expires_at = state
            .reserve_until
            .unwrap_or(now + chrono::Duration::minutes(30));
        let reservations = plan.lines.iter().map(|line| {
            let reserve = StockCommand::Reserve {
                reservation_id: order_id.to_string(),
                quantity: line.quantity,
                expires_at,
                order_ref: order_id.to_string(),
                now,
            };
            async move {
                let result = self.stock(order_id, &line.sku, "reserve", &reserve).await;
                (line.sku.clone(), result)
            }
        });
        let mut short = None;
        for (sku, result) in futures::future::join_all(reservations).await {
            match result {
                Ok(_) => {}
                Err(e) if e.code == "inventory.insufficient_stock" => short = Some(sku),
                Err(e) => return Err(e),
            }
        }
        if let Some(sku) = short {
            return Ok(Some(Outcome::StockUnavailable { sku }));
        }
        match self
            .send(
                order_id,
                step_id(order_id, "order:stock_reserved"),
                &OrderCommand::MarkStockReserved { now },
            )
            .await
        {
            Ok(_) => Ok(Some(Outcome::StockReserved)),
            Err(e) => self.cancelled_or(order_id, e).await,
        }
    }

    /// Asks the payment service to hold the amount.
    async fn authorize(
        &self,
        order_id: &str,
        plan: &CheckoutPlan,
    ) -> Result<Option<Outcome>, ErrorBody> {
        let reply: Result<CommandReply<PaymentView>, ErrorBody> = self
            .send(
                order_id,
                step_id(order_id, "payment:authorize"),
                &PaymentRequest::Authorize(AuthorizePayment {
                    amount: plan.amount,
                    payment_method: plan.payment_method.clone(),
                }),
            )
            .await;
        match reply {
            Ok(reply) => Ok(payment_outcome(&reply.view)),
            Err(e) if e.kind == ErrorKind::Unavailable || e.kind == ErrorKind::Internal => Err(e),
            Err(e) => Ok(Some(Outcome::PaymentFailed { code: e.code })),
        }
    }

    /// Looks at a payment waiting for the shopper's confirmation.
    async fn check_payment(&self, order_id: &str) -> Result<Option<Outcome>, ErrorBody> {
        let view: PaymentView = self.get::<Payment>(order_id).await?;
        Ok(payment_outcome(&view).filter(|o| *o != Outcome::PaymentPending))
    }

    /// Commits every line's reservation, then confirms the order (recording its
    /// authorization). From the commit the units are the order's, however long the capture
    /// takes; a compensation returns them.
    async fn confirm_order(
        &self,
        order_id: &str,
        plan: &CheckoutPlan,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<Outcome>, ErrorBody> {
        if let Some(sku) = self.commit_stock(order_id, plan, now).await? {
            return Ok(Some(Outcome::StockLapsed { sku }));
        }
        match self
            .send(
                order_id,
                step_id(order_id, "order:confirm"),
                &OrderCommand::Confirm { now },
            )
            .await
        {
            Ok(_) => Ok(Some(Outcome::OrderConfirmed)),
            Err(e) => self.cancelled_or(order_id, e).await,
        }
    }

    /// Commits the reservation of every line at once; a reservation that lapsed is reserved
    /// again first, and the first SKU whose units are gone meanwhile is returned.
    async fn commit_stock(
        &self,
        order_id: &str,
        plan: &CheckoutPlan,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<Sku>, ErrorBody> {
        let commits = plan.lines.iter().map(|line| async move {
            let commit = StockCommand::Commit {
                reservation_id: order_id.to_string(),
            };
            match self.stock(order_id, &line.sku, "commit", &commit).await {
                Err(e) if e.code == "inventory.unknown_reservation" => {}
                other => return (line, other.map(|_| ())),
            }
            // The reservation lapsed (the checkout waited longer than its reservations
            // live): take the units again if they are still there.
            let reserve = StockCommand::Reserve {
                reservation_id: order_id.to_string(),
                quantity: line.quantity,
                expires_at: now + chrono::Duration::seconds(agora_checkout::RESERVATION_TTL_SECS),
                order_ref: order_id.to_string(),
                now,
            };
            if let Err(e) = self
                .stock(order_id, &line.sku, "re-reserve", &reserve)
                .await
            {
                return (line, Err(e));
            }
            let result = self
                .stock(order_id, &line.sku, "commit-lapsed", &commit)
                .await;
            (line, result.map(|_| ()))
        });
        let mut lapsed = None;
        for (line, result) in futures::future::join_all(commits).await {
            match result {
                Ok(()) => {}
                Err(e) if e.code == "inventory.insufficient_stock" => {
                    lapsed.get_or_insert(line.sku.clone());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(lapsed)
    }

    /// Takes the held amount.
    async fn capture(&self, order_id: &str) -> Result<Option<Outcome>, ErrorBody> {
        match self
            .send(
                order_id,
                step_id(order_id, "payment:capture"),
                &PaymentRequest::Capture {},
            )
            .await
        {
            Ok(reply) if is_captured(reply.view.status) => Ok(Some(Outcome::PaymentCaptured)),
            Ok(reply) => Ok(Some(Outcome::CaptureFailed {
                code: format!("status_{:?}", reply.view.status).to_lowercase(),
            })),
            Err(e) if e.kind == ErrorKind::Unavailable || e.kind == ErrorKind::Internal => Err(e),
            Err(e) => Ok(Some(Outcome::CaptureFailed { code: e.code })),
        }
    }

    /// Records the capture on the order, confirms the promotions' uses and closes the cart.
    async fn finish(
        &self,
        order_id: &str,
        plan: &CheckoutPlan,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<Outcome>, ErrorBody> {
        // A checkout started before reservations were committed at the confirmation
        // commits them now, as it would have then.
        if !plan.commit_on_confirm {
            for line in &plan.lines {
                let commit = StockCommand::Commit {
                    reservation_id: order_id.to_string(),
                };
                let result = self.stock(order_id, &line.sku, "commit", &commit).await;
                match result {
                    Ok(_) => {}
                    Err(e) if e.kind == ErrorKind::Unavailable || e.kind == ErrorKind::Internal => {
                        return Err(e)
                    }
                    // The reservation is held from the authorization for as long as the
                    // authorization lives, so this means a cancel returned it meanwhile
                    // (the revert owns the units now) or staff released it by hand.
                    Err(e) => {
                        tracing::error!(order = order_id, sku = %line.sku, error = %e, "could not commit a paid order's reservation")
                    }
                }
            }
        }
        // Three independent aggregates: told at once.
        let record_capture = async {
            self.send::<OrderCommand>(
                order_id,
                step_id(order_id, "order:record_capture"),
                &OrderCommand::RecordCapture {
                    amount: plan.amount,
                    now,
                },
            )
            .await
            .map(|_| ())
            .or_else(|e| tolerate(e, &["order.invalid_transition"]))
        };
        tokio::try_join!(
            record_capture,
            // The order is paid: its promotions' uses are final.
            self.redemptions(order_id, plan, true),
            self.close_cart(order_id, &plan.cart_id, true),
        )?;
        metrics::counter!("agora_checkouts_total", "outcome" => "completed").increment(1);
        Ok(Some(Outcome::Finished))
    }

    /// Undoes an unpaid checkout: uses and units go back, the authorization is voided (or a capture
    /// that raced the cancel refunded), the order cancelled and the cart reopened. The three
    /// decisions are the action's own fields.
    #[allow(clippy::too_many_arguments)]
    async fn compensate(
        &self,
        order_id: &str,
        state: &Checkout,
        plan: &CheckoutPlan,
        now: chrono::DateTime<Utc>,
        void_payment: &bool,
        refund_payment: &bool,
        cancel_order: &Option<CancelReason>,
        stock_committed: &bool,
    ) -> Result<Option<Outcome>, ErrorBody> {
        // The order will not be paid: its promotions' uses and budget go back.
        self.redemptions(order_id, plan, false).await?;
        self.give_back_stock(order_id, plan, now, *stock_committed)
            .await?;
        if *void_payment {
            let voided: Result<CommandReply<PaymentView>, ErrorBody> = self
                .send(
                    order_id,
                    step_id(order_id, "payment:void"),
                    &PaymentRequest::Void {},
                )
                .await;
            match voided {
                Ok(_) => {}
                Err(e) if e.code == "payment.not_found" => {}
                // The capture won the race with the cancel: the money is refunded
                // instead (the saga records it and plans a refund).
                Err(e) if e.code == "payment.already_captured" => {
                    return Ok(Some(Outcome::PaymentCaptured))
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(reason) = cancel_order {
            let cancel = OrderCommand::Cancel {
                reason: *reason,
                note: state
                    .failure
                    .as_ref()
                    .map(|f| f.2.chars().take(500).collect()),
                now,
            };
            let _: Option<CommandReply<OrderView>> = self
                .send(order_id, step_id(order_id, "order:cancel"), &cancel)
                .await
                .map(Some)
                .or_else(|e| {
                    tolerate(e, &["order.not_found", "order.invalid_transition"]).map(|_: ()| None)
                })?;
        }
        if *refund_payment {
            if let Some(code) = self.return_money(order_id, plan).await? {
                return Ok(Some(Outcome::RefundFailed { code }));
            }
        }
        self.close_cart(order_id, &plan.cart_id, false).await?;
        metrics::counter!("agora_checkouts_total", "outcome" => "compensated").increment(1);
        Ok(Some(Outcome::Compensated))
    }

    /// Undoes a paid checkout whose order was cancelled: the units go back and the capture is refunded.
    async fn revert(
        &self,
        order_id: &str,
        plan: &CheckoutPlan,
        now: chrono::DateTime<Utc>,
        completed: &bool,
    ) -> Result<Option<Outcome>, ErrorBody> {
        self.give_back_stock(order_id, plan, now, *completed)
            .await?;
        if let Some(code) = self.return_money(order_id, plan).await? {
            return Ok(Some(Outcome::RefundFailed { code }));
        }
        // The order was cancelled and refunded: its promotions' uses go back.
        self.redemptions(order_id, plan, false).await?;
        Ok(Some(Outcome::Reverted))
    }

    /// Gives back exactly what the checkout took, once: a line still reserved is released, a
    /// committed one returned. `committed`: every line was committed, so a commit so old that
    /// the stock no longer remembers it is returned by receiving its units.
    async fn give_back_stock(
        &self,
        order_id: &str,
        plan: &CheckoutPlan,
        now: chrono::DateTime<Utc>,
        committed: bool,
    ) -> Result<(), ErrorBody> {
        for line in &plan.lines {
            let returned = self
                .stock(
                    order_id,
                    &line.sku,
                    "return",
                    &StockCommand::ReturnReservation {
                        reservation_id: order_id.to_string(),
                    },
                )
                .await;
            match returned {
                Ok(_) => {}
                Err(e) if e.code == "inventory.unknown_reservation" && committed => {
                    let receive = StockCommand::Receive {
                        quantity: line.quantity,
                        reason: Some(format!("returned: order {order_id} cancelled")),
                        now,
                    };
                    self.stock(order_id, &line.sku, "restock", &receive).await?;
                }
                // Never taken (or released already): nothing to give back.
                Err(e) if e.code == "inventory.unknown_reservation" => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Drives the refund of a cancelled order's capture until the provider settles it.
    /// `Ok(None)`: the money is back (refunded in full). `Ok(Some(code))`: the provider refused
    /// [`MAX_REFUND_ATTEMPTS`] refunds, so staff must act (alerted here). `Err`: not settled yet
    /// (a lost answer, a refusal to retry under a new refund id): the caller is retried.
    ///
    /// A pending refund is asked again with its own id (and so its provider key), which
    /// settles it without refunding twice; a refused one frees its amount, so the next
    /// attempt uses the next id (`order-cancelled`, `order-cancelled-2`...).
    async fn return_money(
        &self,
        order_id: &str,
        plan: &agora_checkout::CheckoutPlan,
    ) -> Result<Option<String>, ErrorBody> {
        // Record the capture on the order first (a cancel that raced the capture, or landed in
        // the finishing step, left it unrecorded), so the refund's copy onto it is accepted.
        let _: Option<CommandReply<OrderView>> = self
            .send(
                order_id,
                step_id(order_id, "order:record_capture"),
                &OrderCommand::RecordCapture {
                    amount: plan.amount,
                    now: Utc::now(),
                },
            )
            .await
            .map(Some)
            .or_else(|e| tolerate(e, &["order.invalid_transition"]).map(|_: ()| None))?;
        let payment: PaymentView = self.get::<Payment>(order_id).await?;
        let captured = payment.captured.amount_minor;
        if captured == 0 || payment.refunded.amount_minor >= captured {
            return Ok(None);
        }
        let ours = |r: &&RefundView| {
            r.refund_id == CANCEL_REFUND_ID
                || r.refund_id.starts_with(&format!("{CANCEL_REFUND_ID}-"))
        };
        let failed = payment
            .refunds
            .iter()
            .filter(ours)
            .filter(|r| r.status == RefundStatus::Failed)
            .count();
        let (refund_id, amount) = match payment
            .refunds
            .iter()
            .filter(ours)
            .find(|r| r.status == RefundStatus::Pending)
        {
            Some(pending) => (pending.refund_id.clone(), pending.amount),
            None if failed >= MAX_REFUND_ATTEMPTS => {
                return Ok(Some(self.refund_failed(order_id, failed)));
            }
            None => {
                let left =
                    captured - payment.refunded.amount_minor - payment.pending_refunds.amount_minor;
                if left <= 0 {
                    return Err(ErrorBody::unavailable(
                        "other refunds of this payment are still pending",
                    ));
                }
                let id = match failed {
                    0 => CANCEL_REFUND_ID.to_string(),
                    n => format!("{CANCEL_REFUND_ID}-{}", n + 1),
                };
                (id, Money::new(left, payment.captured.currency))
            }
        };
        let refunded: Result<CommandReply<PaymentView>, ErrorBody> = self
            .send(
                order_id,
                step_id(order_id, &format!("payment:refund:{refund_id}")),
                &PaymentRequest::Refund(RefundPayment {
                    refund_id: refund_id.clone(),
                    amount: Some(amount),
                    line: None,
                }),
            )
            .await;
        match refunded {
            Ok(reply) if reply.view.refunded.amount_minor >= captured => Ok(None),
            Ok(_) => Err(ErrorBody::unavailable(format!(
                "refund {refund_id} of order {order_id} is not settled yet"
            ))),
            Err(e) if e.code == "payment.refund_failed" && failed + 1 >= MAX_REFUND_ATTEMPTS => {
                Ok(Some(self.refund_failed(order_id, failed + 1)))
            }
            Err(e) => Err(e),
        }
    }

    /// The alert for a refund the provider keeps refusing: staff must return the money.
    fn refund_failed(&self, order_id: &str, attempts: usize) -> String {
        metrics::counter!("agora_refunds_failed_total").increment(1);
        tracing::error!(
            order = order_id,
            attempts,
            "the provider refused every refund of a cancelled order; staff must refund it by hand"
        );
        "refund_refused".to_string()
    }

    async fn close_cart(
        &self,
        order_id: &str,
        cart_id: &str,
        completed: bool,
    ) -> Result<(), ErrorBody> {
        let (command, step) = if completed {
            (
                CartCommand::CompleteCheckout {
                    order_id: order_id.to_string(),
                },
                "cart:complete",
            )
        } else {
            (
                CartCommand::AbortCheckout {
                    order_id: order_id.to_string(),
                },
                "cart:abort",
            )
        };
        let result = self.send(cart_id, step_id(order_id, step), &command).await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::Unavailable || e.kind == ErrorKind::Internal => Err(e),
            // Another checkout took the cart over after this one's lock lapsed.
            Err(e) => {
                tracing::warn!(order = order_id, cart = cart_id, error = %e, "cart not closed");
                Ok(())
            }
        }
    }

    /// An order step was refused: if someone cancelled the order, that is the outcome.
    async fn cancelled_or(
        &self,
        order_id: &str,
        error: ErrorBody,
    ) -> Result<Option<Outcome>, ErrorBody> {
        if error.kind != ErrorKind::Conflict {
            return Err(error);
        }
        let order: OrderView = self.get::<Order>(order_id).await?;
        match (order.status, &order.cancellation) {
            (OrderStatus::Cancelled, Some(c)) => {
                Ok(Some(Outcome::OrderCancelled { reason: c.reason }))
            }
            _ => Err(error),
        }
    }

    /// Reacts to one feed event.
    async fn handle(&self, event: &RecordedEvent, delivered: u64) -> Result<(), ErrorBody> {
        let id = event.aggregate_id.as_str();
        match event.aggregate_type.as_str() {
            "checkout" => {
                let phase = self.advance_from(id, Some(event.sequence)).await;
                if let Err(e) = &phase {
                    if delivered >= MAX_AUTHORIZE_DELIVERIES && e.kind == ErrorKind::Unavailable {
                        let (state, _) = load(&self.pool, id).await?;
                        if state.phase == Phase::Authorizing {
                            tracing::error!(order = id, error = %e, "the payment provider kept failing; giving up on this checkout");
                            self.record(
                                id,
                                Phase::Authorizing,
                                Outcome::PaymentFailed {
                                    code: "gateway_unavailable".into(),
                                },
                            )
                            .await?;
                            self.advance(id).await?;
                            return Ok(());
                        }
                    }
                }
                phase.map(|_| ())
            }
            "payment" => {
                let Ok(payment_event) =
                    <PaymentEvent as serde::Deserialize>::deserialize(&event.payload)
                else {
                    return Ok(());
                };
                match payment_event {
                    PaymentEvent::PaymentRefunded {
                        refund_id,
                        amount,
                        line,
                        ..
                    } => {
                        let _: CommandReply<OrderView> = self
                            .send(
                                id,
                                step_id(id, &format!("order:refund:{refund_id}")),
                                &OrderCommand::RecordRefund {
                                    refund_id,
                                    amount,
                                    line: line.map(|l| agora_order::RefundLine {
                                        sku: l.sku,
                                        quantity: l.quantity,
                                    }),
                                    now: Utc::now(),
                                },
                            )
                            .await?;
                        Ok(())
                    }
                    // A dispute's facts are the payment's; the order records them for its
                    // timeline and the vendors' ledger.
                    PaymentEvent::DisputeOpened {
                        dispute_id,
                        amount,
                        reason,
                        ..
                    } => {
                        let _: CommandReply<OrderView> = self
                            .send(
                                id,
                                step_id(id, &format!("order:dispute:{dispute_id}")),
                                &OrderCommand::RecordDispute {
                                    dispute_id,
                                    amount,
                                    reason,
                                    now: Utc::now(),
                                },
                            )
                            .await?;
                        Ok(())
                    }
                    PaymentEvent::DisputeClosed {
                        dispute_id,
                        outcome,
                        ..
                    } => {
                        let outcome = match outcome {
                            agora_payment::DisputeOutcome::Won => agora_order::DisputeOutcome::Won,
                            agora_payment::DisputeOutcome::Lost => {
                                agora_order::DisputeOutcome::Lost
                            }
                        };
                        // The opening first (again, as the same step): the feed hands a
                        // stream's events over concurrently, so it may not be recorded yet.
                        let payment: PaymentView = self.get::<Payment>(id).await?;
                        if let Some(d) =
                            payment.disputes.iter().find(|d| d.dispute_id == dispute_id)
                        {
                            let _: CommandReply<OrderView> = self
                                .send(
                                    id,
                                    step_id(id, &format!("order:dispute:{dispute_id}")),
                                    &OrderCommand::RecordDispute {
                                        dispute_id: dispute_id.clone(),
                                        amount: d.amount,
                                        reason: d.reason.clone(),
                                        now: Utc::now(),
                                    },
                                )
                                .await?;
                        }
                        let _: CommandReply<OrderView> = self
                            .send(
                                id,
                                step_id(id, &format!("order:dispute-closed:{dispute_id}")),
                                &OrderCommand::CloseDispute {
                                    dispute_id,
                                    outcome,
                                    now: Utc::now(),
                                },
                            )
                            .await?;
                        Ok(())
                    }
                    PaymentEvent::PaymentAuthorized { .. }
                    | PaymentEvent::PaymentDeclined { .. }
                    | PaymentEvent::PaymentFailed { .. }
                    | PaymentEvent::PaymentVoided { .. }
                    | PaymentEvent::PaymentCaptured { .. } => {
                        // Usually the answer to this runner's own request, already recorded.
                        let live = self.host.snapshot(id).await;
                        if live.is_some_and(|(s, _)| s.phase.is_terminal()) {
                            return Ok(());
                        }
                        self.advance(id).await.map(|_| ())
                    }
                    _ => Ok(()),
                }
            }
            "order" => {
                let Ok(OrderEvent::OrderCancelled { reason, .. }) =
                    <OrderEvent as serde::Deserialize>::deserialize(&event.payload)
                else {
                    return Ok(());
                };
                if !matches!(reason, CancelReason::CustomerRequest | CancelReason::Staff) {
                    // The saga cancelled it itself.
                    return Ok(());
                }
                {
                    // After any advance of this checkout in this process, which records what it
                    // did first: the cancel meets the phase the saga really reached.
                    let lock = self.lock_for(id);
                    let _guard = lock.lock().await;
                    let (state, version) = load(&self.pool, id).await?;
                    if version == 0 {
                        return Ok(());
                    }
                    self.record(id, state.phase, Outcome::OrderCancelled { reason })
                        .await?;
                }
                self.advance(id).await.map(|_| ())
            }
            _ => Ok(()),
        }
    }
}

fn is_captured(status: PaymentStatus) -> bool {
    matches!(
        status,
        PaymentStatus::Captured | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded
    )
}

/// What a payment's state says about its authorization.
fn payment_outcome(view: &PaymentView) -> Option<Outcome> {
    match view.status {
        PaymentStatus::Authorized => Some(Outcome::PaymentAuthorized),
        s if is_captured(s) => Some(Outcome::PaymentAuthorized),
        PaymentStatus::RequiresAction => Some(Outcome::PaymentPending),
        PaymentStatus::Declined => Some(Outcome::PaymentDeclined {
            code: view
                .decline_code
                .clone()
                .unwrap_or_else(|| "card_declined".into()),
        }),
        PaymentStatus::Failed => Some(Outcome::PaymentFailed {
            code: view
                .failure_code
                .clone()
                .unwrap_or_else(|| "payment_failed".into()),
        }),
        PaymentStatus::Voided => Some(Outcome::PaymentFailed {
            code: "voided".into(),
        }),
        PaymentStatus::New | PaymentStatus::Authorizing => None,
        _ => None,
    }
}

/// Turns the listed refusals (the effect already happened, or cannot apply) into success.
fn tolerate<T: Default>(e: ErrorBody, codes: &[&str]) -> Result<T, ErrorBody> {
    if codes.contains(&e.code.as_str()) {
        Ok(T::default())
    } else {
        Err(e)
    }
}

/// Runs the runner from the feed until `shutdown` resolves.
pub async fn run(
    runner: Arc<Runner>,
    js: jetstream::Context,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let subscription = agora_runtime::feed::Subscription {
        name: CONSUMER,
        aggregate_types: &["checkout", "payment", "order"],
        concurrency: 256,
        max_ack_pending: 20_000,
        // Past MAX_AUTHORIZE_DELIVERIES the runner compensates on its own; the sweep advances
        // stalled checkouts too. Parking is for what neither resolves.
        retry: agora_runtime::parked::Retry {
            max_deliver: 20,
            ..agora_runtime::parked::Retry::DEFAULT
        },
        pool: runner.pool.clone(),
    };
    let handle = move |event: RecordedEvent, delivered: u64| {
        let runner = runner.clone();
        async move { crate::on_behalf_of(&event, runner.handle(&event, delivered)).await }
    };
    agora_runtime::feed::consume(&js, subscription, handle, shutdown).await
}

/// Every few seconds: abandons checkouts whose payment window passed and advances checkouts
/// that have not moved for a while (a provider outage, a lost message).
pub async fn sweep(
    runner: Arc<Runner>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        let abandoned: Vec<String> = sqlx::query_scalar(
            "SELECT order_id FROM orders
             WHERE status IN ('placed', 'stock_reserved')
               AND placed_at < now() - make_interval(secs => $1) LIMIT 500",
        )
        .bind(agora_checkout::PAYMENT_WINDOW_SECS as f64)
        .fetch_all(&runner.pool)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "abandon scan failed");
            vec![]
        });
        for id in abandoned {
            let result = runner
                .host
                .execute(
                    CommandEnvelope {
                        aggregate_id: id.clone(),
                        command_id: CommandId::new_random(),
                        principal: system(),
                        command: CheckoutCommand::Abandon { now: Utc::now() },
                    },
                    ctx(),
                )
                .await;
            if let Err(e) = result {
                tracing::warn!(order = %id, error = %e, "abandoning failed");
            }
        }
        let stalled: Vec<String> = sqlx::query_scalar(
            "SELECT order_id FROM orders
             WHERE (status IN ('placed', 'stock_reserved', 'payment_authorized')
                    OR (status = 'confirmed' AND captured_minor = 0))
               AND updated_at < now() - interval '20 seconds'
             ORDER BY updated_at LIMIT 200",
        )
        .fetch_all(&runner.pool)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stall scan failed");
            vec![]
        });
        for id in stalled {
            if let Err(e) = runner.advance(&id).await {
                tracing::warn!(order = %id, error = %e, "advancing a stalled checkout failed");
            }
        }
    }
}

//! The fulfilment and returns runner: keeps an order, its shipments and its returns in step,
//! and finishes each received return (stock moved, money refunded).
//!
//! Driven by the event feed (durable consumer `fulfilment`, shared by every instance):
//! - a shipment created is allocated on its order (a shipment the order refuses, units it has
//!   no more of, is cancelled); units allocated on an order get their shipment created (the
//!   back office does both in one request; whichever half a crash lost, this completes);
//! - a shipment handed over or scanned is copied onto its order's parcel, which moves the
//!   order's status (`partially_shipped`, `shipped`, `delivered`) and mails the shopper once
//!   per change; a shipment cancelled frees its units on the order;
//! - a return requested is opened on its order (a return the order refuses, undelivered units
//!   or a closed window, is rejected with the order's error code); a return rejected or
//!   cancelled frees its units;
//! - a return received is finished: the shipping refund the shop's rule owes first, then each
//!   received line's stock movement (restock: `Receive`; write-off: `Receive` then `Adjust
//!   damaged`) and refund (a line refund through the payment service, which gives back exactly
//!   what the shopper paid for those units), each recorded on the return.
//!
//! Every effect has an id derived from the return or shipment and the step ([`step`]): refund
//! ids `return-<return id>-<sku>` and `return-<return id>-shipping`, stock command ids from the
//! return, the SKU and the movement. A step repeated after a crash between the effect and its
//! record (a redelivered event, the sweep) has the effect once.

use std::future::Future;
use std::time::Duration;

use agora_fulfilment::{Shipment, ShipmentCommand, ShipmentEvent, ShipmentLine, TrackingStatus};
use agora_inventory::{AdjustReason, StockCommand};
use agora_kernel::{CommandId, Contract, Decider, ErrorBody, ErrorKind, Money, RecordedEvent, Sku};
use agora_nats::{Bus, CommandReply, RequestContext};
use agora_order::{LineUnits, Order, OrderCommand, OrderEvent, OrderView, ParcelStatus};
use agora_payment::{
    LineShare, Payment, PaymentEvent, PaymentRequest, PaymentView, RefundPayment, RefundStatus,
    RefundUnits,
};
use agora_returns::{Disposition, Return, ReturnCommand, ReturnEvent, ReturnStep};
use agora_runtime::EventStore;
use async_nats::jetstream;
use chrono::Utc;
use sqlx::PgPool;

use crate::checkout_service::system;

/// The durable consumer every instance shares.
pub const CONSUMER: &str = "fulfilment";
/// Refund attempts for one line (or the shipping) before the runner leaves it to staff.
pub const MAX_REFUND_ATTEMPTS: usize = 3;

/// The command id of step `step` of the fulfilment of `scope` (a shipment or return id).
pub fn step(scope: &str, step: &str) -> CommandId {
    CommandId::from_uuid(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("agora:fulfilment:{scope}:{step}").as_bytes(),
    ))
}

/// The refund id of `sku`'s units of return `return_id` (`None`: its shipping refund), at
/// attempt `attempt` (0 the first; a refused refund is tried again under a new id).
pub fn refund_id(return_id: &str, sku: Option<&Sku>, attempt: usize) -> String {
    let what = sku.map_or("shipping", |s| s.as_str());
    match attempt {
        0 => format!("return-{return_id}-{what}"),
        n => format!("return-{return_id}-{what}-{}", n + 1),
    }
}

/// The return a refund id of [`refund_id`] belongs to.
fn return_of(refund_id: &str) -> Option<&str> {
    let rest = refund_id.strip_prefix("return-")?;
    let id = rest.get(..36)?;
    uuid::Uuid::parse_str(id).ok().map(|_| id)
}

fn ctx() -> RequestContext {
    crate::context(Duration::from_secs(15))
}

/// Turns the listed refusals (the effect already happened) into success.
fn tolerate<T: Default>(result: Result<T, ErrorBody>, codes: &[&str]) -> Result<T, ErrorBody> {
    match result {
        Err(e) if codes.contains(&e.code.as_str()) => Ok(T::default()),
        other => other,
    }
}

/// A refusal by a domain (as opposed to an outage, which is retried). A command id another
/// caller used first is no refusal: that caller (the back office's request) did the step.
fn refused(e: &ErrorBody) -> bool {
    e.code != "command.id_reused"
        && matches!(
            e.kind,
            ErrorKind::Conflict | ErrorKind::Invalid | ErrorKind::NotFound | ErrorKind::Forbidden
        )
}

/// What the shopper paid for the order's shipping: the fee after its promotions, with its tax
/// where prices exclude tax (rounded half up), never more than is left to refund.
pub fn shipping_paid(order: &OrderView) -> Money {
    let net = order.shipping.amount_minor - order.shipping_discount.amount_minor;
    let (rate_bp, included) = match &order.tax_rule {
        Some(rule) => (
            i64::from(rule.rate.shipping_rate_bp),
            rule.rate.prices_include_tax,
        ),
        None => (i64::from(order.tax_rate_bp), false),
    };
    let tax = if included {
        0
    } else {
        (net * rate_bp + 5_000) / 10_000
    };
    Money::new((net + tax).max(0), order.currency)
}

/// Runs shipments and returns along.
pub struct Fulfilment {
    pub bus: Bus,
    pub pool: PgPool,
    /// Days after delivery within which units may be returned.
    pub return_window_days: u32,
    /// Fault injection for tests: abort right after this step's effect and before its record
    /// (`return_refund`, `return_stock`).
    pub crash_after: Option<String>,
}

impl Fulfilment {
    async fn send<C: agora_kernel::Command>(
        &self,
        id: &str,
        command_id: CommandId,
        command: &C,
    ) -> Result<CommandReply<<C::Contract as Contract>::View>, ErrorBody> {
        self.bus
            .send(id, command_id, system(), command, &ctx())
            .await
    }

    async fn get<K: Contract>(&self, id: &str) -> Result<K::View, ErrorBody> {
        self.bus.read::<K>(id, system(), &ctx()).await
    }

    fn crash_point(&self, name: &str, scope: &str) {
        if self.crash_after.as_deref() == Some(name) {
            tracing::error!(
                scope,
                step = name,
                "fault injection: aborting after the effect, before its record"
            );
            std::process::abort();
        }
    }

    /// Loads a return's state from the event store.
    async fn load_return(&self, return_id: &str) -> Result<(Return, u64), ErrorBody> {
        let events = EventStore::new(self.pool.clone())
            .range("return", return_id, 0, u64::MAX)
            .await
            .map_err(|e| ErrorBody::unavailable(format!("load return: {e}")))?;
        let (state, version, _) = agora_runtime::fold::<Return>(&events)?;
        Ok((state, version))
    }

    /// Reacts to one feed event.
    pub async fn handle(&self, event: &RecordedEvent) -> Result<(), ErrorBody> {
        let id = event.aggregate_id.as_str();
        match event.aggregate_type.as_str() {
            "order" => match serde::Deserialize::deserialize(&event.payload) {
                Ok(OrderEvent::OrderParcelAllocated {
                    shipment_id, lines, ..
                }) => self.ensure_shipment(id, &shipment_id, &lines).await,
                _ => Ok(()),
            },
            "shipment" => match serde::Deserialize::deserialize(&event.payload) {
                Ok(ShipmentEvent::ShipmentCreated {
                    order_id, lines, ..
                }) => self.allocate(id, &order_id, &lines).await,
                Ok(ShipmentEvent::ShipmentHandedOver { .. })
                | Ok(ShipmentEvent::ShipmentTracked { .. }) => self.follow(id).await,
                Ok(ShipmentEvent::ShipmentCancelled { .. }) => self.release_parcel(id).await,
                Err(_) => Ok(()),
            },
            "return" => match serde::Deserialize::deserialize(&event.payload) {
                Ok(ReturnEvent::ReturnRequested {
                    order_id, lines, ..
                }) => {
                    let units: Vec<LineUnits> = lines
                        .iter()
                        .map(|l| LineUnits {
                            sku: l.sku.clone(),
                            quantity: l.quantity,
                        })
                        .collect();
                    self.open_return(id, &order_id, units).await.map(|_| ())
                }
                Ok(ReturnEvent::ReturnRejected { .. })
                | Ok(ReturnEvent::ReturnCancelled { .. }) => self.release_return(id).await,
                Ok(ReturnEvent::ReturnApproved { .. }) | Ok(ReturnEvent::ReturnClosed { .. }) => {
                    Ok(())
                }
                Ok(_) => self.finish_return(id).await,
                Err(_) => Ok(()),
            },
            "payment" => match serde::Deserialize::deserialize(&event.payload) {
                Ok(PaymentEvent::PaymentRefunded { refund_id, .. }) => {
                    match return_of(&refund_id) {
                        Some(return_id) => self.finish_return(return_id).await,
                        None => Ok(()),
                    }
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// A shipment was created: its units are allocated on the order, or the shipment is
    /// cancelled when the order has no such units left.
    async fn allocate(
        &self,
        shipment_id: &str,
        order_id: &str,
        lines: &[ShipmentLine],
    ) -> Result<(), ErrorBody> {
        let units = lines
            .iter()
            .map(|l| LineUnits {
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect();
        let allocated = self
            .send(
                order_id,
                step(shipment_id, "order:allocate"),
                &OrderCommand::AllocateParcel {
                    shipment_id: shipment_id.to_string(),
                    lines: units,
                    now: Utc::now(),
                },
            )
            .await;
        match allocated {
            Ok(_) => Ok(()),
            Err(e) if e.code == "command.id_reused" => Ok(()),
            Err(e) if refused(&e) => {
                tracing::warn!(shipment = shipment_id, order = order_id, error = %e,
                    "the order refused a shipment's units; cancelling the shipment");
                let cancelled = self
                    .send(
                        shipment_id,
                        step(shipment_id, "cancel:refused"),
                        &ShipmentCommand::Cancel { now: Utc::now() },
                    )
                    .await
                    .map(|_| ());
                tolerate(cancelled, &["shipment.invalid_transition"])
            }
            Err(e) => Err(e),
        }
    }

    /// Units were allocated on the order: their shipment exists (created here if the request
    /// that allocated them stopped before creating it).
    async fn ensure_shipment(
        &self,
        order_id: &str,
        shipment_id: &str,
        lines: &[LineUnits],
    ) -> Result<(), ErrorBody> {
        let order: OrderView = self.get::<Order>(order_id).await?;
        let command = shipment_create(&order, lines)?;
        let created = self
            .send(shipment_id, step(shipment_id, "create"), &command)
            .await
            .map(|_| ());
        tolerate(created, &["shipment.already_exists"])
    }

    /// Walks the shipment's history and copies each change of its status onto the order's
    /// parcel, in the shipment's order, each under the command id of the event it came from.
    /// Handlers of one shipment's events may run at once and in any order: each walks the
    /// same steps in the same order, a step already applied is a duplicate, and the order
    /// ignores a status its parcel has passed. So every change reaches the order exactly once
    /// and in order (one event, one mail), whichever event woke the walk.
    async fn follow(&self, shipment_id: &str) -> Result<(), ErrorBody> {
        let events = EventStore::new(self.pool.clone())
            .range("shipment", shipment_id, 0, u64::MAX)
            .await
            .map_err(|e| ErrorBody::unavailable(format!("load shipment: {e}")))?;
        let mut order_id = None;
        for recorded in &events {
            let Ok(event) = <ShipmentEvent as serde::Deserialize>::deserialize(&recorded.payload)
            else {
                continue;
            };
            let update = match event {
                ShipmentEvent::ShipmentCreated { order_id: o, .. } => {
                    order_id = Some(o);
                    continue;
                }
                ShipmentEvent::ShipmentHandedOver {
                    carrier,
                    tracking_number,
                    tracking_url,
                    ..
                } => (
                    ParcelStatus::Shipped,
                    Some(carrier),
                    Some(tracking_number),
                    tracking_url,
                ),
                // One more scan of the same status adds history, not a change.
                ShipmentEvent::ShipmentTracked { status, from, .. }
                    if status.as_str() != from.as_str() =>
                {
                    let status = match status {
                        TrackingStatus::InTransit => ParcelStatus::InTransit,
                        TrackingStatus::OutForDelivery => ParcelStatus::OutForDelivery,
                        TrackingStatus::Delivered => ParcelStatus::Delivered,
                        TrackingStatus::Exception => ParcelStatus::Exception,
                    };
                    (status, None, None, None)
                }
                ShipmentEvent::ShipmentTracked { .. } | ShipmentEvent::ShipmentCancelled { .. } => {
                    continue
                }
            };
            let Some(order_id) = order_id.as_deref() else {
                continue;
            };
            let (status, carrier, tracking_number, tracking_url) = update;
            // A parcel the order does not know yet (`order.unknown_parcel`) fails and is
            // redelivered: its allocation is on its way.
            self.send(
                order_id,
                step(shipment_id, &format!("order:parcel:{}", recorded.sequence)),
                &OrderCommand::UpdateParcel {
                    shipment_id: shipment_id.to_string(),
                    status,
                    carrier,
                    tracking_number,
                    tracking_url,
                    now: Utc::now(),
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn release_parcel(&self, shipment_id: &str) -> Result<(), ErrorBody> {
        let shipment = self.get::<Shipment>(shipment_id).await?;
        let released = self
            .send(
                &shipment.order_id,
                step(shipment_id, "order:release"),
                &OrderCommand::ReleaseParcel {
                    shipment_id: shipment_id.to_string(),
                    now: Utc::now(),
                },
            )
            .await
            .map(|_| ());
        tolerate(released, &["order.unknown_parcel"])
    }

    /// Opens a requested return on its order; a return the order refuses is rejected with the
    /// order's error code, which the shopper then reads. Returns the refusal, if any.
    pub async fn open_return(
        &self,
        return_id: &str,
        order_id: &str,
        lines: Vec<LineUnits>,
    ) -> Result<Option<ErrorBody>, ErrorBody> {
        let opened = self
            .send(
                order_id,
                step(return_id, "order:open"),
                &OrderCommand::OpenReturn {
                    return_id: return_id.to_string(),
                    lines,
                    window_days: self.return_window_days,
                    now: Utc::now(),
                },
            )
            .await;
        match opened {
            Ok(_) => Ok(None),
            Err(e) if refused(&e) => {
                let rejected = self
                    .send(
                        return_id,
                        step(return_id, "reject:refused"),
                        &ReturnCommand::Reject {
                            reason: format!("{}: {}", e.code, e.message),
                            now: Utc::now(),
                        },
                    )
                    .await
                    .map(|_| ());
                tolerate(rejected, &["return.invalid_transition"])?;
                Ok(Some(e))
            }
            Err(e) => Err(e),
        }
    }

    async fn release_return(&self, return_id: &str) -> Result<(), ErrorBody> {
        let (state, _) = self.load_return(return_id).await?;
        let view = state.view(return_id, 0);
        if view.order_id.is_empty() {
            return Ok(());
        }
        self.send(
            &view.order_id,
            step(return_id, "order:release"),
            &OrderCommand::ReleaseReturn {
                return_id: return_id.to_string(),
                now: Utc::now(),
            },
        )
        .await
        .map(|_| ())
    }

    /// Performs what a received return has left to do, recording each step on the return.
    pub async fn finish_return(&self, return_id: &str) -> Result<(), ErrorBody> {
        let (state, _) = self.load_return(return_id).await?;
        let steps = state.next_steps();
        if steps.is_empty() {
            return Ok(());
        }
        let view = state.view(return_id, 0);
        let order: OrderView = self.get::<Order>(&view.order_id).await?;
        // Every unit of the order is in a return (this one included) or refunded: the
        // same answer before and after this return's own line refunds, so a crash between a
        // refund and its record never changes the decision.
        if view.shipping_refund.is_none() {
            let whole = order
                .lines
                .iter()
                .all(|line| line.returned_units.max(line.refunded_units) >= line.quantity);
            if state.refunds_shipping(whole) {
                self.refund_shipping(return_id, &order).await?;
            }
        }
        for next in steps {
            match next {
                ReturnStep::MoveStock {
                    sku,
                    quantity,
                    disposition,
                } => {
                    self.move_stock(return_id, &sku, quantity, disposition)
                        .await?
                }
                ReturnStep::Refund { sku, quantity } => {
                    self.refund_line(return_id, &order, &sku, quantity).await?
                }
            }
        }
        Ok(())
    }

    async fn move_stock(
        &self,
        return_id: &str,
        sku: &Sku,
        quantity: i64,
        disposition: Disposition,
    ) -> Result<(), ErrorBody> {
        let reason = format!("return {return_id}");
        self.send(
            sku.as_str(),
            step(return_id, &format!("stock:receive:{sku}")),
            &StockCommand::Receive {
                quantity,
                reason: Some(reason.clone()),
                now: Utc::now(),
            },
        )
        .await?;
        if disposition == Disposition::WriteOff {
            self.send(
                sku.as_str(),
                step(return_id, &format!("stock:write_off:{sku}")),
                &StockCommand::Adjust {
                    delta: -quantity,
                    reason: AdjustReason::Damaged,
                    note: Some(format!("{reason}: written off")),
                    now: Utc::now(),
                },
            )
            .await?;
        }
        self.crash_point("return_stock", return_id);
        let recorded = self
            .send(
                return_id,
                step(return_id, &format!("record:stock:{sku}")),
                &ReturnCommand::RecordStockMoved {
                    sku: sku.clone(),
                    now: Utc::now(),
                },
            )
            .await
            .map(|_| ());
        tolerate(recorded, &["return.invalid_transition"])
    }

    /// The refund `refund_id` of the payment, once the provider settled it: `Ok(Some(amount))`
    /// when it succeeded, `Ok(None)` when it failed, an outage while it is pending.
    fn settled(payment: &PaymentView, refund_id: &str) -> Result<Option<Money>, ErrorBody> {
        match payment.refunds.iter().find(|r| r.refund_id == refund_id) {
            Some(r) if r.status == RefundStatus::Succeeded => Ok(Some(r.amount)),
            Some(r) if r.status == RefundStatus::Failed => Ok(None),
            _ => Err(ErrorBody::unavailable(format!(
                "refund {refund_id} is not settled yet"
            ))),
        }
    }

    /// Refunds through the payment with ids `attempt(0)`, `attempt(1)`...: a refund the
    /// provider refused is recorded on the return and tried again under the next id, up to
    /// [`MAX_REFUND_ATTEMPTS`]. Returns the refund that succeeded.
    async fn refund(
        &self,
        return_id: &str,
        order_id: &str,
        sku: Option<&Sku>,
        request: impl Fn(String) -> RefundPayment,
    ) -> Result<Option<(String, Money)>, ErrorBody> {
        for attempt in 0..MAX_REFUND_ATTEMPTS {
            let id = refund_id(return_id, sku, attempt);
            let payment: PaymentView = self.get::<Payment>(order_id).await?;
            // A settled refund is not asked for again; a pending one is (its request may have
            // stopped before the provider was called: the payment service then calls it, under
            // the same provider idempotency key).
            let settled = payment
                .refunds
                .iter()
                .any(|r| r.refund_id == id && r.status != RefundStatus::Pending);
            let payment = if settled {
                payment
            } else {
                let reply: Result<CommandReply<PaymentView>, ErrorBody> = self
                    .send(
                        order_id,
                        step(return_id, &format!("payment:{id}")),
                        &PaymentRequest::Refund(request(id.clone())),
                    )
                    .await;
                match reply {
                    Ok(reply) => reply.view,
                    Err(e) if e.code == "payment.refund_failed" => {
                        self.get::<Payment>(order_id).await?
                    }
                    Err(e) => return Err(e),
                }
            };
            self.crash_point("return_refund", return_id);
            match Self::settled(&payment, &id)? {
                Some(amount) => return Ok(Some((id, amount))),
                None => {
                    let failed = self
                        .send(
                            return_id,
                            step(return_id, &format!("record:failed:{id}")),
                            &ReturnCommand::RecordRefundFailed {
                                sku: sku.cloned(),
                                reason: format!("the provider refused refund {id}"),
                                now: Utc::now(),
                            },
                        )
                        .await
                        .map(|_| ());
                    tolerate(failed, &["return.invalid_transition"])?;
                }
            }
        }
        metrics::counter!("agora_refunds_failed_total").increment(1);
        tracing::error!(
            return_id,
            "the provider refused every refund of a return; staff must refund it by hand"
        );
        Ok(None)
    }

    async fn refund_line(
        &self,
        return_id: &str,
        order: &OrderView,
        sku: &Sku,
        quantity: i64,
    ) -> Result<(), ErrorBody> {
        let line = order
            .lines
            .iter()
            .find(|l| &l.sku == sku)
            .ok_or_else(|| ErrorBody::internal(format!("order has no line {sku}")))?;
        let share = LineShare {
            units: RefundUnits {
                sku: sku.clone(),
                quantity,
            },
            line_paid: line.paid,
            line_units: line.quantity,
        };
        let refunded = self
            .refund(return_id, &order.id, Some(sku), |refund_id| RefundPayment {
                refund_id,
                amount: None,
                line: Some(share.clone()),
            })
            .await?;
        let Some((refund_id, amount)) = refunded else {
            return Ok(());
        };
        let recorded = self
            .send(
                return_id,
                step(return_id, &format!("record:refund:{sku}")),
                &ReturnCommand::RecordRefund {
                    sku: sku.clone(),
                    refund_id,
                    amount,
                    now: Utc::now(),
                },
            )
            .await
            .map(|_| ());
        tolerate(
            recorded,
            &["return.already_refunded", "return.invalid_transition"],
        )
    }

    async fn refund_shipping(&self, return_id: &str, order: &OrderView) -> Result<(), ErrorBody> {
        let amount = shipping_paid(order);
        if amount.amount_minor <= 0 {
            return Ok(());
        }
        let refunded = self
            .refund(return_id, &order.id, None, |refund_id| RefundPayment {
                refund_id,
                amount: Some(amount),
                line: None,
            })
            .await?;
        let Some((refund_id, amount)) = refunded else {
            return Ok(());
        };
        let recorded = self
            .send(
                return_id,
                step(return_id, "record:shipping"),
                &ReturnCommand::RecordShippingRefund {
                    refund_id,
                    amount,
                    now: Utc::now(),
                },
            )
            .await
            .map(|_| ());
        tolerate(
            recorded,
            &["return.already_refunded", "return.invalid_transition"],
        )
    }

    /// Received returns whose steps are not all recorded (a crash, a provider outage): the
    /// sweep finishes them.
    async fn unfinished(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT return_id FROM returns
             WHERE status = 'received' AND updated_at < now() - interval '10 seconds'
             ORDER BY updated_at LIMIT 200",
        )
        .fetch_all(&self.pool)
        .await
    }
}

/// The vendor a parcel of `lines` belongs to: the one vendor selling every one of them, so
/// that vendor's users see and hand over the parcel; `None` for the shop's own goods and for a
/// parcel staff packed across vendors.
pub fn parcel_vendor(order: &OrderView, lines: &[ShipmentLine]) -> Option<String> {
    let mut vendors = lines.iter().map(|l| {
        order
            .lines
            .iter()
            .find(|o| o.sku == l.sku)
            .and_then(|o| o.vendor_id.clone())
    });
    let first = vendors.next()??;
    vendors
        .all(|v| v.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// The shipment that carries `lines` of `order`: titles and the address from the order.
pub fn shipment_create(
    order: &OrderView,
    lines: &[LineUnits],
) -> Result<ShipmentCommand, ErrorBody> {
    let lines = lines
        .iter()
        .map(|units| {
            let line = order
                .lines
                .iter()
                .find(|l| l.sku == units.sku)
                .ok_or_else(|| {
                    ErrorBody::internal(format!("order {} has no line {}", order.id, units.sku))
                })?;
            Ok(ShipmentLine {
                sku: units.sku.clone(),
                title: line.title.clone(),
                quantity: units.quantity,
            })
        })
        .collect::<Result<Vec<_>, ErrorBody>>()?;
    Ok(ShipmentCommand::Create {
        order_id: order.id.clone(),
        vendor_id: parcel_vendor(order, &lines),
        lines,
        address: order.shipping_address.clone(),
        now: Utc::now(),
    })
}

/// Runs the runner from the feed until `shutdown` resolves.
pub async fn run(
    runner: std::sync::Arc<Fulfilment>,
    js: jetstream::Context,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let subscription = agora_runtime::feed::Subscription {
        name: CONSUMER,
        aggregate_types: &["order", "shipment", "return", "payment"],
        concurrency: 64,
        max_ack_pending: 10_000,
        retry: agora_runtime::parked::Retry::DEFAULT,
        pool: runner.pool.clone(),
    };
    let handle = move |event: RecordedEvent, _delivered: u64| {
        let runner = runner.clone();
        async move { crate::on_behalf_of(&event, runner.handle(&event)).await }
    };
    agora_runtime::feed::consume(&js, subscription, handle, shutdown).await
}

/// Every few seconds: finishes received returns that stalled (a crash, a provider outage).
pub async fn sweep(
    runner: std::sync::Arc<Fulfilment>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        let ids = runner.unfinished().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "return scan failed");
            vec![]
        });
        for id in ids {
            if let Err(e) = runner.finish_return(&id).await {
                tracing::warn!(return_id = %id, error = %e, "finishing a return failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_ids_name_their_return_and_step() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let sku = Sku::parse("TEE-M").expect("sku");
        assert_eq!(refund_id(id, Some(&sku), 0), format!("return-{id}-TEE-M"));
        assert_eq!(refund_id(id, None, 2), format!("return-{id}-shipping-3"));
        assert_eq!(return_of(&refund_id(id, Some(&sku), 1)), Some(id));
        assert_eq!(return_of("order-cancelled"), None);
        assert_eq!(return_of("return-nope-TEE"), None);
    }

    #[test]
    fn steps_are_stable_and_distinct() {
        assert_eq!(step("r1", "a"), step("r1", "a"));
        assert_ne!(step("r1", "a"), step("r1", "b"));
        assert_ne!(step("r1", "a"), step("r2", "a"));
    }
}

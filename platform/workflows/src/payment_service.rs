//! `agora.payment.*`: the payment aggregate plus the provider.

use std::sync::Arc;
use std::time::Duration;

use agora_gateway::{AuthorizeRequest, GatewayError, PaymentGateway};
use agora_kernel::{CommandId, ErrorBody, ErrorKind, Principal};
use agora_nats::{codec, decode_command, CommandEnvelope, CommandReply, Handler, RequestContext};
use agora_payment::{
    AuthorizationOutcome, AuthorizePayment, Payment, PaymentCommand, PaymentRequest, PaymentStatus,
    PaymentView, RefundPayment,
};
use agora_runtime::AggregateHost;
use bytes::Bytes;
use chrono::Utc;

type Reply = CommandReply<PaymentView>;

/// Serves `agora.payment.<endpoint>`: each endpoint asks the aggregate whether the operation
/// is due, calls the provider with the operation's idempotency key, and records the answer.
/// A retry of any endpoint (after a timeout, a crash, a redelivery) repeats the provider call
/// with the same key, which returns the first answer instead of acting twice.
pub struct PaymentService {
    pub host: AggregateHost<Payment>,
    pub gateway: Arc<dyn PaymentGateway>,
}

/// The provider idempotency key of an operation on a payment.
pub fn provider_key(payment_id: &str, operation: &str) -> String {
    format!("agora/{payment_id}/{operation}")
}

fn gateway_error(e: GatewayError) -> ErrorBody {
    match e {
        GatewayError::Timeout => ErrorBody::new(
            ErrorKind::Unavailable,
            "payment.gateway_timeout",
            "the payment provider did not answer in time; retrying is safe",
        ),
        GatewayError::Unavailable(m) => ErrorBody::new(
            ErrorKind::Unavailable,
            "payment.gateway_unavailable",
            format!("the payment provider is unavailable: {m}"),
        ),
        GatewayError::Rejected { code, message } => ErrorBody::new(
            ErrorKind::Conflict,
            "payment.provider_rejected",
            format!("the payment provider refused ({code}): {message}"),
        ),
    }
}

impl PaymentService {
    async fn exec(
        &self,
        id: &str,
        command_id: CommandId,
        by: &Principal,
        command: PaymentCommand,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        self.host
            .execute(
                CommandEnvelope {
                    aggregate_id: id.to_string(),
                    command_id,
                    principal: by.clone(),
                    command,
                },
                ctx.clone(),
            )
            .await
    }

    async fn record(
        &self,
        id: &str,
        by: &Principal,
        command: PaymentCommand,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        // Recording an answer twice records nothing the second time (the aggregate's rules),
        // so a fresh command id per attempt is safe.
        self.exec(id, CommandId::new_random(), by, command, ctx)
            .await
    }

    async fn current(
        &self,
        id: &str,
        by: &Principal,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        // The payment's own service acting on it next: every step it takes from this view
        // is idempotent (the provider's keys, the aggregate's rules), so the view this
        // instance holds will do and costs no query.
        let view = self.host.read_local(id, by.clone(), ctx).await?;
        Ok(CommandReply {
            version: view.version,
            duplicate: true,
            view,
        })
    }

    /// Calls the provider's authorize, retrying a lost answer a few times with the same key.
    async fn provider_authorize(
        &self,
        id: &str,
        view: &PaymentView,
    ) -> Result<AuthorizationOutcome, GatewayError> {
        let request = AuthorizeRequest {
            idempotency_key: provider_key(id, "authorize"),
            order_id: view.order_id.clone(),
            amount: view.amount,
            payment_method: view.payment_method.clone(),
        };
        let mut last = GatewayError::Timeout;
        for attempt in 0..3u64 {
            match self.gateway.authorize(&request).await {
                Ok(outcome) => return Ok(outcome),
                Err(e @ GatewayError::Rejected { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(payment = id, attempt, error = %e, "authorization answer lost; retrying with the same key");
                    last = e;
                    tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
                }
            }
        }
        Err(last)
    }

    async fn authorize(
        &self,
        id: &str,
        by: &Principal,
        req: AuthorizePayment,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        let started = self
            .exec(
                id,
                crate::step_id(id, "payment:start"),
                by,
                PaymentCommand::Start {
                    order_id: id.to_string(),
                    amount: req.amount,
                    payment_method: req.payment_method,
                    now: Utc::now(),
                },
                ctx,
            )
            .await?;
        if started.view.status != PaymentStatus::Authorizing {
            return Ok(started);
        }
        match self.provider_authorize(id, &started.view).await {
            Ok(outcome) => {
                self.record(
                    id,
                    by,
                    PaymentCommand::RecordAuthorization {
                        outcome,
                        now: Utc::now(),
                    },
                    ctx,
                )
                .await
            }
            Err(GatewayError::Rejected { code, .. }) => {
                self.record(
                    id,
                    by,
                    PaymentCommand::RecordFailure {
                        code,
                        now: Utc::now(),
                    },
                    ctx,
                )
                .await
            }
            Err(e) => Err(gateway_error(e)),
        }
    }

    async fn confirm(
        &self,
        id: &str,
        by: &Principal,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        let current = self.current(id, by, ctx).await?;
        let view = &current.view;
        match (view.status, &view.provider_ref) {
            (PaymentStatus::RequiresAction, Some(provider_ref)) => {
                let outcome = self
                    .gateway
                    .confirm(&provider_key(id, "confirm"), provider_ref)
                    .await
                    .map_err(gateway_error)?;
                self.record(
                    id,
                    by,
                    PaymentCommand::RecordAuthorization {
                        outcome,
                        now: Utc::now(),
                    },
                    ctx,
                )
                .await
            }
            _ => Ok(current),
        }
    }

    async fn capture(
        &self,
        id: &str,
        by: &Principal,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        let current = self.current(id, by, ctx).await?;
        let view = &current.view;
        match (view.status, &view.provider_ref) {
            (
                PaymentStatus::Captured
                | PaymentStatus::PartiallyRefunded
                | PaymentStatus::Refunded,
                _,
            ) => Ok(current),
            (PaymentStatus::Authorized, Some(provider_ref)) => {
                match self
                    .gateway
                    .capture(&provider_key(id, "capture"), provider_ref, view.amount)
                    .await
                {
                    Ok(()) => {
                        self.record(
                            id,
                            by,
                            PaymentCommand::RecordCapture {
                                amount: view.amount,
                                now: Utc::now(),
                            },
                            ctx,
                        )
                        .await
                    }
                    Err(GatewayError::Rejected { code, message }) => Err(ErrorBody::new(
                        ErrorKind::Conflict,
                        "payment.capture_failed",
                        format!("{code}: {message}"),
                    )),
                    Err(e) => Err(gateway_error(e)),
                }
            }
            _ => Err(ErrorBody::new(
                ErrorKind::Conflict,
                "payment.invalid_transition",
                format!("a payment in status {:?} cannot be captured", view.status),
            )),
        }
    }

    async fn void(
        &self,
        id: &str,
        by: &Principal,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        // A void must not act on a stale view (a capture another instance recorded).
        let view = self.host.read(id, by.clone(), ctx).await?;
        let mut current = CommandReply {
            version: view.version,
            duplicate: true,
            view,
        };
        if current.view.status == PaymentStatus::Authorizing {
            // The answer to the authorization was lost: ask again with the same key to learn
            // whether money is held, and record it, before voiding.
            match self.provider_authorize(id, &current.view).await {
                Ok(outcome) => {
                    current = self
                        .record(
                            id,
                            by,
                            PaymentCommand::RecordAuthorization {
                                outcome,
                                now: Utc::now(),
                            },
                            ctx,
                        )
                        .await?;
                }
                Err(GatewayError::Rejected { code, .. }) => {
                    return self
                        .record(
                            id,
                            by,
                            PaymentCommand::RecordFailure {
                                code,
                                now: Utc::now(),
                            },
                            ctx,
                        )
                        .await;
                }
                Err(e) => return Err(gateway_error(e)),
            }
        }
        let view = &current.view;
        match (view.status, &view.provider_ref) {
            (PaymentStatus::Authorized | PaymentStatus::RequiresAction, Some(provider_ref)) => {
                match self
                    .gateway
                    .void(&provider_key(id, "void"), provider_ref)
                    .await
                {
                    Ok(()) => {}
                    Err(GatewayError::Rejected { code, message })
                        if view.status == PaymentStatus::Authorized
                            && code == "payment_intent_unexpected_state" =>
                    {
                        return self
                            .learn_lost_capture(id, by, view, provider_ref, code, message, ctx)
                            .await;
                    }
                    Err(e) => return Err(gateway_error(e)),
                }
                self.record(id, by, PaymentCommand::RecordVoid { now: Utc::now() }, ctx)
                    .await
            }
            (
                PaymentStatus::Captured
                | PaymentStatus::PartiallyRefunded
                | PaymentStatus::Refunded,
                _,
            ) => Err(ErrorBody::new(
                ErrorKind::Conflict,
                "payment.already_captured",
                "a captured payment is refunded, not voided",
            )),
            _ => Ok(current),
        }
    }

    /// The provider refused to void an authorization we hold: our capture may have reached it
    /// with its answer lost (a cancel racing the capture). Asking for the capture again with
    /// its key replays that answer, or is refused when there was none (the intent cannot be
    /// captured, since it could not be voided): it never captures twice. A capture learned this
    /// way is recorded and reported as `payment.already_captured`, so the caller refunds.
    #[allow(clippy::too_many_arguments)]
    async fn learn_lost_capture(
        &self,
        id: &str,
        by: &Principal,
        view: &PaymentView,
        provider_ref: &str,
        code: String,
        message: String,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        match self
            .gateway
            .capture(&provider_key(id, "capture"), provider_ref, view.amount)
            .await
        {
            Ok(()) => {
                self.record(
                    id,
                    by,
                    PaymentCommand::RecordCapture {
                        amount: view.amount,
                        now: Utc::now(),
                    },
                    ctx,
                )
                .await?;
                tracing::warn!(
                    payment = id,
                    "a void found the payment captured (its capture answer was lost); it must be refunded"
                );
                Err(ErrorBody::new(
                    ErrorKind::Conflict,
                    "payment.already_captured",
                    "a captured payment is refunded, not voided",
                ))
            }
            Err(GatewayError::Rejected { .. }) => {
                Err(gateway_error(GatewayError::Rejected { code, message }))
            }
            Err(e) => Err(gateway_error(e)),
        }
    }

    async fn refund(
        &self,
        id: &str,
        by: &Principal,
        req: RefundPayment,
        ctx: &RequestContext,
    ) -> Result<Reply, ErrorBody> {
        let requested = self
            .exec(
                id,
                crate::step_id(id, &format!("payment:refund:{}", req.refund_id)),
                by,
                PaymentCommand::RequestRefund {
                    refund_id: req.refund_id.clone(),
                    amount: req.amount,
                    line: req.line.clone(),
                    now: Utc::now(),
                },
                ctx,
            )
            .await?;
        // The amount the payment decided (a line refund's default is its units' share).
        let pending = requested
            .view
            .refunds
            .iter()
            .find(|r| r.refund_id == req.refund_id && refund_is_pending(r))
            .map(|r| r.amount);
        let Some(provider_ref) = requested.view.provider_ref.clone() else {
            return Ok(requested);
        };
        let Some(amount) = pending else {
            return Ok(requested);
        };
        let system = Principal::system("payment-service");
        match self
            .gateway
            .refund(
                &provider_key(id, &format!("refund/{}", req.refund_id)),
                &provider_ref,
                amount,
                &req.refund_id,
                &requested.view.order_id,
            )
            .await
        {
            Ok(_) => {
                self.record(
                    id,
                    &system,
                    PaymentCommand::RecordRefund {
                        refund_id: req.refund_id,
                        now: Utc::now(),
                    },
                    ctx,
                )
                .await
            }
            Err(GatewayError::Rejected { code, message }) => {
                self.record(
                    id,
                    &system,
                    PaymentCommand::RecordRefundFailure {
                        refund_id: req.refund_id,
                        code: code.clone(),
                        now: Utc::now(),
                    },
                    ctx,
                )
                .await?;
                Err(ErrorBody::new(
                    ErrorKind::Conflict,
                    "payment.refund_failed",
                    format!("{code}: {message}"),
                ))
            }
            Err(e) => Err(gateway_error(e)),
        }
    }
}

fn refund_is_pending(refund: &agora_payment::RefundView) -> bool {
    refund.status == agora_payment::RefundStatus::Pending
}

impl Handler for PaymentService {
    async fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        if endpoint == agora_kernel::GET {
            return agora_runtime::read(&self.host, &payload, &ctx).await;
        }
        let envelope = decode_command::<Payment>(endpoint, &payload)?;
        let id = envelope.aggregate_id.as_str();
        let by = &envelope.principal;
        let reply = match envelope.command {
            PaymentRequest::Authorize(request) => self.authorize(id, by, request, &ctx).await?,
            PaymentRequest::Confirm {} => self.confirm(id, by, &ctx).await?,
            PaymentRequest::Capture {} => self.capture(id, by, &ctx).await?,
            PaymentRequest::Void {} => self.void(id, by, &ctx).await?,
            PaymentRequest::Refund(request) => self.refund(id, by, request, &ctx).await?,
            PaymentRequest::ProviderEvent(event) => {
                self.exec(
                    id,
                    envelope.command_id,
                    by,
                    PaymentCommand::ApplyProviderEvent {
                        event_id: event.event_id,
                        provider_ref: event.provider_ref,
                        kind: event.kind,
                        now: Utc::now(),
                    },
                    &ctx,
                )
                .await?
            }
        };
        Ok(codec::encode(&reply))
    }
}

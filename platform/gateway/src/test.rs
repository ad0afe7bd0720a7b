//! `TestGateway`: a provider that behaves like Stripe's test mode, kept in Postgres.
//!
//! It plays an external system, so its state lives in its own tables (created if missing) and
//! survives our process being killed, like a real provider's would:
//!
//! - `test_gateway_intents`: one row per PaymentIntent (`pi_test_<uuid>`), with Stripe's
//!   statuses (`requires_action`, `requires_capture`, `requires_payment_method`, `succeeded`,
//!   `canceled`) and the amounts authorized, captured and refunded.
//! - `test_gateway_requests`: one row per idempotency key, with the operation, a fingerprint of
//!   its parameters and the stored response. The row is inserted *before* the effect, in the
//!   same transaction, so a concurrent call with the same key waits on it and then replays the
//!   stored response instead of performing the effect again.
//! - `test_gateway_operations`: an append-only log of the effects actually performed
//!   (`authorize`, `capture`, `void`, `refund`), for tests to count. It is also the provider's
//!   statement ([`crate::ProviderStatement`]): each capture with the fee charged for it
//!   ([`TestGateway::FEES`]), each refund with our refund id (`agora_refund_id`, as Stripe
//!   keeps it in the refund's metadata) and a fee of zero.
//! - `test_gateway_lost_answers`: how many answers to a key were lost on purpose
//!   (`pm_card_refundAnswerLost`), so the loss stops after a few calls whichever process asks.
//!
//! # Payment methods (Stripe's test tokens)
//! | token | behaviour |
//! |---|---|
//! | `pm_card_visa`, `pm_card_visa_debit`, `pm_card_mastercard`, `pm_card_amex` | authorized |
//! | `pm_card_chargeDeclined` | declined, `card_declined` |
//! | `pm_card_chargeDeclinedInsufficientFunds` | declined, `insufficient_funds` |
//! | `pm_card_authenticationRequired` | requires action (3-D Secure); `confirm` authorizes it |
//! | `pm_card_timeoutAfterCharge` | ours: the first call authorizes, stores the answer, then times out |
//! | `pm_card_unavailable` | ours: always `Unavailable`, nothing performed |
//! | `pm_card_captureAnswerLost` | ours: authorized; the capture is made, but every answer to its key in its first two seconds is lost (`Timeout`), like a partition |
//! | `pm_card_refundAnswerLost` | ours: authorized; each refund is made, but the first two answers to its key are lost (`Timeout`) |
//! | `pm_card_refundDeclined` | ours: authorized; every refund is refused (`refund_declined`) |
//! | `pm_card_refundDeclinedOnce` | ours: authorized; the first refund of the intent is refused, later ones succeed |
//!
//! Anything else (in particular a card number) is `Rejected { code: "invalid_payment_method" }`
//! and is neither stored nor logged.
//!
//! # Webhooks
//! The test gateway sends no webhooks. To exercise a webhook endpoint against it, build the
//! Stripe-shaped event JSON (with `data.object.id` the intent id and
//! `metadata.agora_order_id`) and sign it with [`crate::sign_stripe_payload`], which produces
//! the `Stripe-Signature` header value.

use agora_kernel::Money;
use agora_payment::AuthorizationOutcome;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::idempotency::{self, db, positive, Begun, Keys};
use crate::{looks_like_card_number, AuthorizeRequest, FeeRule, GatewayError, PaymentGateway};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS test_gateway_intents (
    id              text PRIMARY KEY,
    order_id        text NOT NULL,
    amount_minor    bigint NOT NULL,
    currency        text NOT NULL,
    payment_method  text NOT NULL,
    status          text NOT NULL,
    client_secret   text,
    last_error_code text,
    amount_captured bigint NOT NULL DEFAULT 0,
    amount_refunded bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS test_gateway_intents_order_id ON test_gateway_intents (order_id);

CREATE TABLE IF NOT EXISTS test_gateway_requests (
    idempotency_key text PRIMARY KEY,
    operation       text NOT NULL,
    fingerprint     text NOT NULL,
    -- NULL only inside the transaction that performs the operation.
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS test_gateway_operations (
    seq          bigserial PRIMARY KEY,
    intent_id    text NOT NULL REFERENCES test_gateway_intents (id),
    operation    text NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
    amount_minor bigint NOT NULL,
    currency     text NOT NULL,
    -- The provider's refund id for a refund.
    reference    text,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS test_gateway_operations_intent_id ON test_gateway_operations (intent_id, seq);

-- For the statement (reconciliation). Added by ALTER so that an existing database upgrades;
-- captures logged before have no fee_minor, and are read with the fee TestGateway::FEES.
ALTER TABLE test_gateway_operations ADD COLUMN IF NOT EXISTS fee_minor bigint;
ALTER TABLE test_gateway_operations ADD COLUMN IF NOT EXISTS agora_refund_id text;
CREATE INDEX IF NOT EXISTS test_gateway_operations_at ON test_gateway_operations (at);

CREATE TABLE IF NOT EXISTS test_gateway_lost_answers (
    idempotency_key text PRIMARY KEY,
    lost            integer NOT NULL
);
"#;

/// Serialises schema creation between processes starting at once (`CREATE TABLE IF NOT
/// EXISTS` alone races on Postgres' catalog).
const SCHEMA_LOCK: i64 = 0x7465_7374_6777; // "testgw"

const KEYS: Keys = Keys::new("test_gateway_requests", "test_gateway_lost_answers");

/// Stripe's test mode, played by Postgres. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct TestGateway {
    pool: PgPool,
}

/// What a payment-method token does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Card {
    Approve,
    Decline(&'static str),
    AuthenticationRequired,
    TimeoutAfterCharge,
}

impl Card {
    /// The behaviour of a token, or the answer to give at once without touching the database
    /// (an invalid token, or the simulated outage).
    fn parse(payment_method: &str) -> Result<Card, GatewayError> {
        Ok(match payment_method {
            "pm_card_visa"
            | "pm_card_visa_debit"
            | "pm_card_mastercard"
            | "pm_card_amex"
            | "pm_card_captureAnswerLost"
            | "pm_card_refundAnswerLost"
            | "pm_card_refundDeclined"
            | "pm_card_refundDeclinedOnce" => Card::Approve,
            "pm_card_chargeDeclined" => Card::Decline("card_declined"),
            "pm_card_chargeDeclinedInsufficientFunds" => Card::Decline("insufficient_funds"),
            "pm_card_authenticationRequired" => Card::AuthenticationRequired,
            "pm_card_timeoutAfterCharge" => Card::TimeoutAfterCharge,
            "pm_card_unavailable" => {
                return Err(GatewayError::Unavailable(
                    "simulated outage (pm_card_unavailable)".into(),
                ))
            }
            other if looks_like_card_number(other) => {
                return Err(GatewayError::rejected(
                    "invalid_payment_method",
                    "raw card numbers are not accepted; send a payment-method token",
                ))
            }
            _ => {
                return Err(GatewayError::rejected(
                    "invalid_payment_method",
                    "unknown payment-method token",
                ))
            }
        })
    }
}

/// What an authorized intent's token does to its capture and refunds (ours, to exercise the
/// unhappy paths after the authorization).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Later {
    Normal,
    /// The capture is made; every answer to its key within [`CAPTURE_ANSWERS_LOST_FOR`] of
    /// the capture is lost. A time rather than a count, so a burst of retries cannot use the
    /// losses up: the caller stays between the capture and its record for that long.
    CaptureAnswerLost,
    /// Each refund is made; the first [`LOST_REFUND_ANSWERS`] answers to its key are lost.
    RefundAnswerLost,
    /// Every refund is refused.
    RefundDeclined,
    /// The first refund (key) of the intent is refused; later ones succeed.
    RefundDeclinedOnce,
}

const CAPTURE_ANSWERS_LOST_FOR: &str = "2 seconds";
const LOST_REFUND_ANSWERS: i32 = 2;

impl Later {
    fn of(payment_method: &str) -> Later {
        match payment_method {
            "pm_card_captureAnswerLost" => Later::CaptureAnswerLost,
            "pm_card_refundAnswerLost" => Later::RefundAnswerLost,
            "pm_card_refundDeclined" => Later::RefundDeclined,
            "pm_card_refundDeclinedOnce" => Later::RefundDeclinedOnce,
            _ => Later::Normal,
        }
    }
}

/// The response stored with an idempotency key, replayed verbatim on a retry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Stored {
    Authorization { outcome: AuthorizationOutcome },
    Done,
    Refund { provider_refund_id: String },
    Rejected { code: String, message: String },
}

impl idempotency::Response for Stored {
    fn key_reused() -> Stored {
        Stored::rejected(
            "idempotency_key_reused",
            "the idempotency key was already used with other parameters",
        )
    }
}

impl Stored {
    fn rejected(code: &str, message: impl Into<String>) -> Stored {
        Stored::Rejected {
            code: code.to_string(),
            message: message.into(),
        }
    }

    fn into_authorization(self) -> Result<AuthorizationOutcome, GatewayError> {
        match self {
            Stored::Authorization { outcome } => Ok(outcome),
            other => Err(other.into_error()),
        }
    }

    fn into_done(self) -> Result<(), GatewayError> {
        match self {
            Stored::Done => Ok(()),
            other => Err(other.into_error()),
        }
    }

    fn into_refund(self) -> Result<String, GatewayError> {
        match self {
            Stored::Refund { provider_refund_id } => Ok(provider_refund_id),
            other => Err(other.into_error()),
        }
    }

    fn into_error(self) -> GatewayError {
        match self {
            Stored::Rejected { code, message } => GatewayError::Rejected { code, message },
            // The fingerprint includes the operation, so a stored response of another kind
            // can only come from a key reused across operations.
            _ => GatewayError::rejected(
                "idempotency_key_reused",
                "the idempotency key was used for another operation",
            ),
        }
    }
}

/// An intent as an operation needs it, read under a row lock.
struct Intent {
    status: String,
    amount_minor: i64,
    currency: String,
    amount_captured: i64,
    amount_refunded: i64,
    last_error_code: Option<String>,
    payment_method: String,
}

fn unexpected_state(action: &str, status: &str) -> Stored {
    Stored::rejected(
        "payment_intent_unexpected_state",
        format!("This PaymentIntent could not be {action} because it has a status of {status}."),
    )
}

/// What the log records of an effect besides its operation and amount.
#[derive(Clone, Copy, Debug, Default)]
struct Logged<'a> {
    /// The provider's refund id, for a refund.
    reference: Option<&'a str>,
    /// The fee charged, for a capture or a refund.
    fee_minor: Option<i64>,
    /// Our refund id, for a refund.
    agora_refund_id: Option<&'a str>,
}

impl TestGateway {
    /// The fee the test provider charges per capture: 2.9 % of the amount (rounded half away
    /// from zero) plus 30 minor units of its currency. A refund costs nothing, and the fee of
    /// a capture is not given back.
    pub const FEES: FeeRule = FeeRule {
        percent_bp: 290,
        fixed: 30,
    };

    /// Connects the gateway to `pool`, creating its tables if they are missing.
    pub async fn new(pool: PgPool) -> anyhow::Result<TestGateway> {
        idempotency::create_schema(&pool, SCHEMA_LOCK, SCHEMA, "test gateway").await?;
        Ok(TestGateway { pool })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The effects performed on one intent, in order: `(operation, amount_minor)`.
    pub async fn operations(&self, provider_ref: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT operation, amount_minor FROM test_gateway_operations \
             WHERE intent_id = $1 ORDER BY seq",
        )
        .bind(provider_ref)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("operation")?, r.try_get("amount_minor")?)))
            .collect()
    }

    /// How many times `operation` (`authorize`, `capture`, `void`, `refund`) was performed,
    /// over all intents.
    pub async fn count(&self, operation: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM test_gateway_operations WHERE operation = $1")
                .bind(operation)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// How many captures were performed for an order, over all its intents: more than one
    /// means the shopper was charged twice.
    pub async fn captures_for_order(&self, order_id: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM test_gateway_operations o \
             JOIN test_gateway_intents i ON i.id = o.intent_id \
             WHERE o.operation = 'capture' AND i.order_id = $1",
        )
        .bind(order_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The intent's Stripe status (`requires_capture`, `succeeded`...), if it exists.
    pub async fn intent_status(&self, provider_ref: &str) -> anyhow::Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT status FROM test_gateway_intents WHERE id = $1")
                .bind(provider_ref)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Whether this answer to `key` is to be lost (the `...AnswerLost` tokens): the effect
    /// stands, the caller sees a timeout, like a connection cut after the provider acted.
    async fn loses_answer(
        &self,
        key: &str,
        provider_ref: &str,
        operation: &str,
    ) -> Result<bool, GatewayError> {
        let method: Option<String> =
            sqlx::query_scalar("SELECT payment_method FROM test_gateway_intents WHERE id = $1")
                .bind(provider_ref)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        let limit = match (method.as_deref().map(Later::of), operation) {
            (Some(Later::CaptureAnswerLost), "capture") => {
                let recent: Option<bool> = sqlx::query_scalar(
                    "SELECT created_at > now() - $2::interval FROM test_gateway_requests \
                     WHERE idempotency_key = $1",
                )
                .bind(key)
                .bind(CAPTURE_ANSWERS_LOST_FOR)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
                return Ok(recent.unwrap_or(false));
            }
            (Some(Later::RefundAnswerLost), "refund") => LOST_REFUND_ANSWERS,
            _ => return Ok(false),
        };
        KEYS.lose_answer(&self.pool, key, limit).await
    }

    async fn lock_intent(
        conn: &mut PgConnection,
        provider_ref: &str,
    ) -> Result<Option<Intent>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT status, amount_minor, currency, amount_captured, amount_refunded, \
             last_error_code, payment_method FROM test_gateway_intents WHERE id = $1 FOR UPDATE",
        )
        .bind(provider_ref)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok(Intent {
                status: r.try_get("status")?,
                amount_minor: r.try_get("amount_minor")?,
                currency: r.try_get("currency")?,
                amount_captured: r.try_get("amount_captured")?,
                amount_refunded: r.try_get("amount_refunded")?,
                last_error_code: r.try_get("last_error_code")?,
                payment_method: r.try_get("payment_method")?,
            })
        })
        .transpose()
    }

    async fn log(
        conn: &mut PgConnection,
        intent_id: &str,
        operation: &str,
        amount_minor: i64,
        currency: &str,
        logged: Logged<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO test_gateway_operations \
             (intent_id, operation, amount_minor, currency, reference, fee_minor, agora_refund_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(intent_id)
        .bind(operation)
        .bind(amount_minor)
        .bind(currency)
        .bind(logged.reference)
        .bind(logged.fee_minor)
        .bind(logged.agora_refund_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn set_status(
        conn: &mut PgConnection,
        provider_ref: &str,
        status: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE test_gateway_intents SET status = $2, updated_at = now() WHERE id = $1",
        )
        .bind(provider_ref)
        .bind(status)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn perform_authorize(
        conn: &mut PgConnection,
        req: &AuthorizeRequest,
        card: Card,
    ) -> Result<Stored, sqlx::Error> {
        let id = format!("pi_test_{}", Uuid::new_v4().simple());
        let (status, client_secret, error_code, outcome) = match card {
            Card::Approve | Card::TimeoutAfterCharge => (
                "requires_capture",
                None,
                None,
                AuthorizationOutcome::Authorized {
                    provider_ref: id.clone(),
                },
            ),
            Card::Decline(code) => (
                "requires_payment_method",
                None,
                Some(code),
                AuthorizationOutcome::Declined {
                    provider_ref: Some(id.clone()),
                    code: code.to_string(),
                },
            ),
            Card::AuthenticationRequired => {
                let secret = format!("{id}_secret_{}", Uuid::new_v4().simple());
                (
                    "requires_action",
                    Some(secret.clone()),
                    None,
                    AuthorizationOutcome::RequiresAction {
                        provider_ref: id.clone(),
                        client_secret: Some(secret),
                    },
                )
            }
        };
        let currency = req.amount.currency.as_str();
        sqlx::query(
            "INSERT INTO test_gateway_intents \
             (id, order_id, amount_minor, currency, payment_method, status, client_secret, last_error_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&req.order_id)
        .bind(req.amount.amount_minor)
        .bind(currency)
        .bind(&req.payment_method)
        .bind(status)
        .bind(client_secret)
        .bind(error_code)
        .execute(&mut *conn)
        .await?;
        if status == "requires_capture" {
            Self::log(
                conn,
                &id,
                "authorize",
                req.amount.amount_minor,
                currency,
                Logged::default(),
            )
            .await?;
        }
        Ok(Stored::Authorization { outcome })
    }

    async fn perform_capture(
        conn: &mut PgConnection,
        provider_ref: &str,
        amount: Money,
    ) -> Result<Stored, sqlx::Error> {
        let Some(intent) = Self::lock_intent(conn, provider_ref).await? else {
            return Ok(no_such_intent(provider_ref));
        };
        if intent.status != "requires_capture" {
            return Ok(unexpected_state("captured", &intent.status));
        }
        if intent.currency != amount.currency.as_str() {
            return Ok(currency_mismatch(&intent.currency));
        }
        if amount.amount_minor > intent.amount_minor {
            return Ok(Stored::rejected(
                "amount_too_large",
                format!(
                    "amount_to_capture {} exceeds the authorized amount {}",
                    amount.amount_minor, intent.amount_minor
                ),
            ));
        }
        sqlx::query(
            "UPDATE test_gateway_intents SET status = 'succeeded', amount_captured = $2, \
             updated_at = now() WHERE id = $1",
        )
        .bind(provider_ref)
        .bind(amount.amount_minor)
        .execute(&mut *conn)
        .await?;
        Self::log(
            conn,
            provider_ref,
            "capture",
            amount.amount_minor,
            &intent.currency,
            Logged {
                fee_minor: Some(Self::FEES.expected(amount).amount_minor),
                ..Logged::default()
            },
        )
        .await?;
        Ok(Stored::Done)
    }

    async fn perform_void(
        conn: &mut PgConnection,
        provider_ref: &str,
    ) -> Result<Stored, sqlx::Error> {
        let Some(intent) = Self::lock_intent(conn, provider_ref).await? else {
            return Ok(no_such_intent(provider_ref));
        };
        match intent.status.as_str() {
            "requires_capture" | "requires_action" | "requires_payment_method" => {
                Self::set_status(conn, provider_ref, "canceled").await?;
                Self::log(
                    conn,
                    provider_ref,
                    "void",
                    intent.amount_minor,
                    &intent.currency,
                    Logged::default(),
                )
                .await?;
                Ok(Stored::Done)
            }
            "canceled" => Ok(Stored::Done),
            status => Ok(unexpected_state("canceled", status)),
        }
    }

    async fn perform_refund(
        conn: &mut PgConnection,
        provider_ref: &str,
        amount: Money,
        refund_id: &str,
    ) -> Result<Stored, sqlx::Error> {
        let Some(intent) = Self::lock_intent(conn, provider_ref).await? else {
            return Ok(no_such_intent(provider_ref));
        };
        if intent.status != "succeeded" {
            return Ok(unexpected_state("refunded", &intent.status));
        }
        if intent.currency != amount.currency.as_str() {
            return Ok(currency_mismatch(&intent.currency));
        }
        let refused = match Later::of(&intent.payment_method) {
            Later::RefundDeclined => true,
            // The key of this call is already stored (by `begin`): it is the first when it is
            // the only refund key of the intent.
            Later::RefundDeclinedOnce => {
                let keys: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM test_gateway_requests \
                     WHERE operation = 'refund' AND fingerprint LIKE $1",
                )
                .bind(format!("refund|{provider_ref}|%"))
                .fetch_one(&mut *conn)
                .await?;
                keys <= 1
            }
            _ => false,
        };
        if refused {
            return Ok(Stored::rejected(
                "refund_declined",
                "the card issuer declined the refund",
            ));
        }
        let refundable = intent.amount_captured - intent.amount_refunded;
        if amount.amount_minor > refundable {
            return Ok(Stored::rejected(
                "amount_too_large",
                format!(
                    "refund amount {} exceeds the {} left to refund",
                    amount.amount_minor, refundable
                ),
            ));
        }
        sqlx::query(
            "UPDATE test_gateway_intents SET amount_refunded = amount_refunded + $2, \
             updated_at = now() WHERE id = $1",
        )
        .bind(provider_ref)
        .bind(amount.amount_minor)
        .execute(&mut *conn)
        .await?;
        let refund = format!("re_test_{}", Uuid::new_v4().simple());
        Self::log(
            conn,
            provider_ref,
            "refund",
            amount.amount_minor,
            &intent.currency,
            Logged {
                reference: Some(&refund),
                fee_minor: Some(0),
                agora_refund_id: Some(refund_id),
            },
        )
        .await?;
        Ok(Stored::Refund {
            provider_refund_id: refund,
        })
    }
}

fn no_such_intent(provider_ref: &str) -> Stored {
    Stored::rejected(
        "resource_missing",
        format!("No such payment_intent: '{provider_ref}'"),
    )
}

fn currency_mismatch(expected: &str) -> Stored {
    Stored::rejected(
        "currency_mismatch",
        format!("the PaymentIntent is in {expected}"),
    )
}

#[async_trait::async_trait]
impl PaymentGateway for TestGateway {
    fn name(&self) -> &'static str {
        "test"
    }

    #[tracing::instrument(name = "test_gateway.authorize", skip_all,
        fields(key = %req.idempotency_key, order_id = %req.order_id))]
    async fn authorize(
        &self,
        req: &AuthorizeRequest,
    ) -> Result<AuthorizationOutcome, GatewayError> {
        // Validated before anything is stored: a card number must never reach the database.
        let card = Card::parse(&req.payment_method)?;
        positive(req.amount)?;
        let fingerprint = format!(
            "authorize|{}|{}|{}|{}",
            req.order_id, req.amount.amount_minor, req.amount.currency, req.payment_method
        );
        let mut tx = match KEYS
            .begin::<Stored>(&self.pool, &req.idempotency_key, "authorize", &fingerprint)
            .await?
        {
            Begun::Replay(stored) => return stored.into_authorization(),
            Begun::Fresh(tx) => tx,
        };
        let stored = Self::perform_authorize(&mut tx, req, card)
            .await
            .map_err(db)?;
        KEYS.finish(tx, &req.idempotency_key, &stored).await?;
        if card == Card::TimeoutAfterCharge {
            // The ambiguous case: the provider authorized, the answer was lost on the way.
            return Err(GatewayError::Timeout);
        }
        stored.into_authorization()
    }

    /// Plays the shopper's client completing 3-D Secure, then reads the intent. It is
    /// idempotent by state (an authorized intent stays authorized), like Stripe's GET, so the
    /// key is not stored.
    #[tracing::instrument(name = "test_gateway.confirm", skip_all,
        fields(key = %idempotency_key, provider_ref = %provider_ref))]
    async fn confirm(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
    ) -> Result<AuthorizationOutcome, GatewayError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(intent) = Self::lock_intent(&mut tx, provider_ref).await.map_err(db)? else {
            return no_such_intent(provider_ref).into_authorization();
        };
        let authorized = AuthorizationOutcome::Authorized {
            provider_ref: provider_ref.to_string(),
        };
        let outcome = match intent.status.as_str() {
            "requires_action" => {
                Self::set_status(&mut tx, provider_ref, "requires_capture")
                    .await
                    .map_err(db)?;
                Self::log(
                    &mut tx,
                    provider_ref,
                    "authorize",
                    intent.amount_minor,
                    &intent.currency,
                    Logged::default(),
                )
                .await
                .map_err(db)?;
                authorized
            }
            "requires_capture" | "succeeded" => authorized,
            "requires_payment_method" => AuthorizationOutcome::Declined {
                provider_ref: Some(provider_ref.to_string()),
                code: intent
                    .last_error_code
                    .unwrap_or_else(|| "payment_failed".into()),
            },
            status => return unexpected_state("confirmed", status).into_authorization(),
        };
        tx.commit().await.map_err(|_| GatewayError::Timeout)?;
        Ok(outcome)
    }

    #[tracing::instrument(name = "test_gateway.capture", skip_all,
        fields(key = %idempotency_key, provider_ref = %provider_ref, amount = amount.amount_minor))]
    async fn capture(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
        amount: Money,
    ) -> Result<(), GatewayError> {
        positive(amount)?;
        let fingerprint = format!(
            "capture|{provider_ref}|{}|{}",
            amount.amount_minor, amount.currency
        );
        let stored = match KEYS
            .begin(&self.pool, idempotency_key, "capture", &fingerprint)
            .await?
        {
            Begun::Replay(stored) => stored,
            Begun::Fresh(mut tx) => {
                let stored = Self::perform_capture(&mut tx, provider_ref, amount)
                    .await
                    .map_err(db)?;
                KEYS.finish(tx, idempotency_key, &stored).await?;
                stored
            }
        };
        if stored == Stored::Done
            && self
                .loses_answer(idempotency_key, provider_ref, "capture")
                .await?
        {
            return Err(GatewayError::Timeout);
        }
        stored.into_done()
    }

    #[tracing::instrument(name = "test_gateway.void", skip_all,
        fields(key = %idempotency_key, provider_ref = %provider_ref))]
    async fn void(&self, idempotency_key: &str, provider_ref: &str) -> Result<(), GatewayError> {
        let fingerprint = format!("void|{provider_ref}");
        let mut tx = match KEYS
            .begin::<Stored>(&self.pool, idempotency_key, "void", &fingerprint)
            .await?
        {
            Begun::Replay(stored) => return stored.into_done(),
            Begun::Fresh(tx) => tx,
        };
        let stored = Self::perform_void(&mut tx, provider_ref)
            .await
            .map_err(db)?;
        KEYS.finish(tx, idempotency_key, &stored).await?;
        stored.into_done()
    }

    #[tracing::instrument(name = "test_gateway.refund", skip_all,
        fields(key = %idempotency_key, provider_ref = %provider_ref, refund_id = %refund_id))]
    async fn refund(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
        amount: Money,
        refund_id: &str,
        order_id: &str,
    ) -> Result<String, GatewayError> {
        positive(amount)?;
        let fingerprint = format!(
            "refund|{provider_ref}|{}|{}|{refund_id}|{order_id}",
            amount.amount_minor, amount.currency
        );
        let stored = match KEYS
            .begin(&self.pool, idempotency_key, "refund", &fingerprint)
            .await?
        {
            Begun::Replay(stored) => stored,
            Begun::Fresh(mut tx) => {
                let stored = Self::perform_refund(&mut tx, provider_ref, amount, refund_id)
                    .await
                    .map_err(db)?;
                KEYS.finish(tx, idempotency_key, &stored).await?;
                stored
            }
        };
        if matches!(stored, Stored::Refund { .. })
            && self
                .loses_answer(idempotency_key, provider_ref, "refund")
                .await?
        {
            return Err(GatewayError::Timeout);
        }
        stored.into_refund()
    }
}

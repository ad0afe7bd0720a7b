//! `StripeGateway`: Stripe's PaymentIntents API over HTTPS.
//!
//! Authorizations are PaymentIntents confirmed at once with `capture_method=manual`; capture,
//! cancel and refunds follow. Every POST carries our idempotency key as Stripe's
//! `Idempotency-Key` (Stripe keeps keys for at least 24 hours and replays the first answer),
//! the secret key as a bearer token, and a pinned `Stripe-Version`, so that a change of the
//! account's default API version cannot change the shapes we parse.
//!
//! Errors map to [`GatewayError`] by what they tell about the effect:
//! - the request timed out, or the connection broke after it was sent → `Timeout` (unknown);
//! - the connection could not be made, or Stripe answered 5xx, 429 or 409 (a concurrent
//!   request with the same key) → `Unavailable`;
//! - any other 4xx → `Rejected` with Stripe's `error.code` (or `error.type`) and message; a
//!   reused key with other parameters is `idempotency_key_reused`, as with the test gateway.

use std::time::Duration;

use agora_kernel::Money;
use agora_payment::AuthorizationOutcome;
use reqwest::StatusCode;
use serde::Deserialize;

use crate::{looks_like_card_number, AuthorizeRequest, GatewayError, PaymentGateway};

/// The API version every request pins.
pub const STRIPE_API_VERSION: &str = "2024-06-20";
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// How to reach Stripe. Built by the binary from its configuration.
#[derive(Clone)]
pub struct StripeConfig {
    /// `sk_live_…` or `sk_test_…` (or a restricted `rk_…` key). Never printed.
    pub secret_key: String,
    /// `https://api.stripe.com`; tests point it at a local server.
    pub api_base: String,
    /// How long one request may take before its outcome is declared unknown.
    pub timeout: Duration,
}

impl StripeConfig {
    /// Stripe's production endpoint with a 30 s timeout.
    pub fn new(secret_key: impl Into<String>) -> StripeConfig {
        StripeConfig {
            secret_key: secret_key.into(),
            api_base: DEFAULT_API_BASE.to_string(),
            timeout: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"<redacted>")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The Stripe adapter. Cheap to clone (reqwest's client is a shared pool).
#[derive(Clone, Debug)]
pub struct StripeGateway {
    api: StripeApi,
}

/// What every call to Stripe shares, whichever API it uses (PaymentIntents here, Connect
/// transfers in [`crate::payout::stripe`]): the client, the credentials, the pinned version and
/// the mapping of answers to [`GatewayError`].
#[derive(Clone)]
pub(crate) struct StripeApi {
    /// Built once: it holds the connection pool and the timeout of every request.
    client: reqwest::Client,
    /// Without a trailing slash, so paths can be appended.
    api_base: String,
    /// Sent as the bearer token; never printed.
    secret_key: String,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeApi")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// Stripe's error object (`{"error": {...}}`), the fields we use.
#[derive(Debug, Default, Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    error: StripeError,
}

#[derive(Debug, Default, Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
    payment_intent: Option<Intent>,
}

#[derive(Debug, Deserialize)]
struct Intent {
    id: String,
    status: String,
    client_secret: Option<String>,
    last_payment_error: Option<LastPaymentError>,
}

#[derive(Debug, Deserialize)]
struct LastPaymentError {
    code: Option<String>,
    decline_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    status: Option<String>,
    failure_reason: Option<String>,
}

/// A 4xx answer (other than 409 and 429).
pub(crate) struct Refusal {
    status: StatusCode,
    error: StripeError,
}

impl Refusal {
    pub(crate) fn into_rejected(self) -> GatewayError {
        let code = if self.error.kind.as_deref() == Some("idempotency_error") {
            "idempotency_key_reused".to_string()
        } else {
            self.error
                .code
                .or(self.error.kind)
                .unwrap_or_else(|| format!("http_{}", self.status.as_u16()))
        };
        GatewayError::Rejected {
            code,
            message: self.error.message.unwrap_or_default(),
        }
    }
}

fn transport(e: reqwest::Error) -> GatewayError {
    let timeout = e.is_timeout();
    if e.is_connect() {
        // Nothing reached Stripe.
        GatewayError::Unavailable(format!("cannot reach Stripe: {}", e.without_url()))
    } else {
        // Timed out, or failed after the request may have been sent: unknown outcome.
        tracing::warn!(error = %e.without_url(), timeout, "Stripe call without an answer");
        GatewayError::Timeout
    }
}

/// Provider references go into URL paths: only Stripe's id alphabet is let through.
fn checked_id(provider_ref: &str) -> Result<&str, GatewayError> {
    if !provider_ref.is_empty()
        && provider_ref
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(provider_ref)
    } else {
        Err(GatewayError::rejected(
            "resource_missing",
            "not a Stripe object id",
        ))
    }
}

/// The outcome an intent's status stands for, after authorize or on a re-read.
fn outcome(intent: Intent) -> Result<AuthorizationOutcome, GatewayError> {
    match intent.status.as_str() {
        // `succeeded`: captured elsewhere (the dashboard); the money is ours all the same.
        "requires_capture" | "succeeded" => Ok(AuthorizationOutcome::Authorized {
            provider_ref: intent.id,
        }),
        "requires_action" | "requires_confirmation" | "processing" => {
            Ok(AuthorizationOutcome::RequiresAction {
                provider_ref: intent.id,
                client_secret: intent.client_secret,
            })
        }
        "requires_payment_method" => {
            let code = intent
                .last_payment_error
                .and_then(|e| e.decline_code.or(e.code))
                .unwrap_or_else(|| "payment_failed".to_string());
            Ok(AuthorizationOutcome::Declined {
                provider_ref: Some(intent.id),
                code,
            })
        }
        status => Err(GatewayError::rejected(
            "payment_intent_unexpected_state",
            format!("the PaymentIntent has a status of {status}"),
        )),
    }
}

fn minor_units(money: Money) -> String {
    money.amount_minor.to_string()
}

impl StripeGateway {
    pub fn new(config: StripeConfig) -> anyhow::Result<StripeGateway> {
        Ok(StripeGateway {
            api: StripeApi::new(config)?,
        })
    }

    pub(crate) fn api(&self) -> &StripeApi {
        &self.api
    }
}

impl StripeApi {
    pub(crate) fn new(config: StripeConfig) -> anyhow::Result<StripeApi> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("agora-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(StripeApi {
            client,
            api_base: config.api_base.trim_end_matches('/').to_string(),
            secret_key: config.secret_key,
        })
    }

    /// A form-encoded POST carrying our idempotency key as Stripe's `Idempotency-Key`.
    pub(crate) async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        form: &[(&str, String)],
    ) -> Result<Result<T, Refusal>, GatewayError> {
        let request = self
            .client
            .post(format!("{}{path}", self.api_base))
            .header("Idempotency-Key", idempotency_key)
            .form(form);
        self.send(request).await
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Result<T, Refusal>, GatewayError> {
        let request = self.client.get(format!("{}{path}", self.api_base));
        self.send(request).await
    }

    /// A GET with query parameters (a list's filters and cursor).
    pub(crate) async fn get_with_query<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Result<T, Refusal>, GatewayError> {
        let request = self
            .client
            .get(format!("{}{path}", self.api_base))
            .query(query);
        self.send(request).await
    }

    /// Sends with the credentials; `Ok(Err(_))` is a refusal the caller may interpret (a
    /// decline, an intent already canceled) before it becomes `Rejected`.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Result<T, Refusal>, GatewayError> {
        let response = request
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", STRIPE_API_VERSION)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::CONFLICT
        {
            return Err(GatewayError::Unavailable(format!(
                "Stripe answered {status}"
            )));
        }
        // The effect (if any) has happened by now; a body we cannot read or decode leaves us
        // not knowing its outcome, which a retry with the same key will tell.
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map(Ok).map_err(|e| {
                tracing::warn!(error = %e, "unexpected Stripe response body");
                GatewayError::Timeout
            });
        }
        let envelope: ErrorEnvelope = serde_json::from_slice(&body).unwrap_or_default();
        tracing::info!(
            status = status.as_u16(),
            code = envelope.error.code.as_deref(),
            "Stripe refused the request"
        );
        Ok(Err(Refusal {
            status,
            error: envelope.error,
        }))
    }
}

#[async_trait::async_trait]
impl PaymentGateway for StripeGateway {
    fn name(&self) -> &'static str {
        "stripe"
    }

    #[tracing::instrument(name = "stripe.authorize", skip_all,
        fields(key = %req.idempotency_key, order_id = %req.order_id))]
    async fn authorize(
        &self,
        req: &AuthorizeRequest,
    ) -> Result<AuthorizationOutcome, GatewayError> {
        if looks_like_card_number(&req.payment_method) {
            return Err(GatewayError::rejected(
                "invalid_payment_method",
                "raw card numbers are not accepted; send a payment-method token",
            ));
        }
        let form = [
            ("amount", minor_units(req.amount)),
            (
                "currency",
                req.amount.currency.as_str().to_ascii_lowercase(),
            ),
            ("payment_method", req.payment_method.clone()),
            ("confirm", "true".to_string()),
            ("capture_method", "manual".to_string()),
            ("payment_method_types[]", "card".to_string()),
            ("metadata[agora_order_id]", req.order_id.clone()),
        ];
        match self
            .api
            .post::<Intent>("/v1/payment_intents", &req.idempotency_key, &form)
            .await?
        {
            Ok(intent) => outcome(intent),
            Err(refusal)
                if refusal.status == StatusCode::PAYMENT_REQUIRED
                    || refusal.error.kind.as_deref() == Some("card_error") =>
            {
                let error = refusal.error;
                Ok(AuthorizationOutcome::Declined {
                    provider_ref: error.payment_intent.map(|pi| pi.id),
                    code: error
                        .decline_code
                        .or(error.code)
                        .unwrap_or_else(|| "card_declined".to_string()),
                })
            }
            Err(refusal) => Err(refusal.into_rejected()),
        }
    }

    /// A read (GET): Stripe ignores idempotency keys on reads, so none is sent.
    #[tracing::instrument(name = "stripe.confirm", skip_all,
        fields(key = %idempotency_key, provider_ref = %provider_ref))]
    async fn confirm(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
    ) -> Result<AuthorizationOutcome, GatewayError> {
        let id = checked_id(provider_ref)?;
        match self
            .api
            .get::<Intent>(&format!("/v1/payment_intents/{id}"))
            .await?
        {
            Ok(intent) => outcome(intent),
            Err(refusal) => Err(refusal.into_rejected()),
        }
    }

    #[tracing::instrument(name = "stripe.capture", skip_all,
        fields(key = %idempotency_key, provider_ref = %provider_ref, amount = amount.amount_minor))]
    async fn capture(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
        amount: Money,
    ) -> Result<(), GatewayError> {
        let id = checked_id(provider_ref)?;
        let form = [("amount_to_capture", minor_units(amount))];
        self.api
            .post::<serde_json::Value>(
                &format!("/v1/payment_intents/{id}/capture"),
                idempotency_key,
                &form,
            )
            .await?
            .map(drop)
            .map_err(Refusal::into_rejected)
    }

    #[tracing::instrument(name = "stripe.void", skip_all,
        fields(key = %idempotency_key, provider_ref = %provider_ref))]
    async fn void(&self, idempotency_key: &str, provider_ref: &str) -> Result<(), GatewayError> {
        let id = checked_id(provider_ref)?;
        match self
            .api
            .post::<serde_json::Value>(
                &format!("/v1/payment_intents/{id}/cancel"),
                idempotency_key,
                &[],
            )
            .await?
        {
            Ok(_) => Ok(()),
            // Voiding is idempotent by state: an intent canceled earlier (by another key, the
            // dashboard or Stripe's expiry of uncaptured intents) is what we asked for.
            Err(refusal)
                if refusal
                    .error
                    .payment_intent
                    .as_ref()
                    .is_some_and(|pi| pi.status == "canceled") =>
            {
                Ok(())
            }
            Err(refusal) => Err(refusal.into_rejected()),
        }
    }

    #[tracing::instrument(name = "stripe.refund", skip_all,
        fields(key = %idempotency_key, provider_ref = %provider_ref, refund_id = %refund_id))]
    async fn refund(
        &self,
        idempotency_key: &str,
        provider_ref: &str,
        amount: Money,
        refund_id: &str,
        order_id: &str,
    ) -> Result<String, GatewayError> {
        let id = checked_id(provider_ref)?;
        let form = [
            ("payment_intent", id.to_string()),
            ("amount", minor_units(amount)),
            ("metadata[agora_refund_id]", refund_id.to_string()),
            ("metadata[agora_order_id]", order_id.to_string()),
        ];
        let refund = self
            .api
            .post::<Refund>("/v1/refunds", idempotency_key, &form)
            .await?
            .map_err(Refusal::into_rejected)?;
        // Card refunds are usually `pending` or `succeeded` here; completion arrives by
        // webhook. One that failed at once will not complete.
        match refund.status.as_deref() {
            Some("failed") | Some("canceled") => Err(GatewayError::Rejected {
                code: refund
                    .failure_reason
                    .unwrap_or_else(|| "refund_failed".to_string()),
                message: format!("refund {} did not go through", refund.id),
            }),
            _ => Ok(refund.id),
        }
    }
}

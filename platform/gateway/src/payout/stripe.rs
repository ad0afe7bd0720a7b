//! `StripeConnectPayouts`: Stripe Connect transfers over HTTPS.
//!
//! A payout is one `POST /v1/transfers` from the platform's balance to the vendor's connected
//! account, with the payout id as `transfer_group` and our ids as metadata, so the transfer
//! (and the webhooks about it) lead back to the payout. The request goes through the same
//! client as [`crate::StripeGateway`]'s: the idempotency key as Stripe's `Idempotency-Key`, the
//! secret key as a bearer token, the pinned `Stripe-Version`, and the same mapping of answers:
//! - the request timed out, or the connection broke after it was sent → `Timeout` (unknown);
//! - the connection could not be made, or Stripe answered 5xx, 429 or 409 (a concurrent
//!   request with the same key, which a retry with the key resolves) → `Unavailable`;
//! - any other 4xx → `Rejected` with Stripe's `error.code` (`balance_insufficient`...) or
//!   `error.type`; a key reused with other parameters (`idempotency_error`) is
//!   `idempotency_key_reused`, as with the test provider.

use serde::Deserialize;

use super::{checked_destination, PayoutGateway, Transfer, TransferRequest};
use crate::idempotency::positive;
use crate::stripe::{Refusal, StripeApi};
use crate::{GatewayError, StripeConfig};

/// The Connect adapter. Cheap to clone (reqwest's client is a shared pool).
#[derive(Clone, Debug)]
pub struct StripeConnectPayouts {
    api: StripeApi,
}

/// Stripe's transfer object, the fields we use.
#[derive(Debug, Deserialize)]
struct StripeTransfer {
    id: String,
}

impl StripeConnectPayouts {
    pub fn new(config: StripeConfig) -> anyhow::Result<StripeConnectPayouts> {
        Ok(StripeConnectPayouts {
            api: StripeApi::new(config)?,
        })
    }
}

#[async_trait::async_trait]
impl PayoutGateway for StripeConnectPayouts {
    fn name(&self) -> &'static str {
        "stripe"
    }

    #[tracing::instrument(name = "stripe.transfer", skip_all,
        fields(key = %req.idempotency_key, payout_id = %req.payout_id,
            vendor_id = %req.vendor_id, destination = %req.destination,
            amount = req.amount.amount_minor))]
    async fn transfer(&self, req: &TransferRequest) -> Result<Transfer, GatewayError> {
        // Refused here as the test provider refuses them, so both adapters answer alike.
        checked_destination(&req.destination)?;
        positive(req.amount)?;
        let form = [
            ("amount", req.amount.amount_minor.to_string()),
            (
                "currency",
                req.amount.currency.as_str().to_ascii_lowercase(),
            ),
            ("destination", req.destination.clone()),
            ("transfer_group", req.payout_id.clone()),
            ("metadata[agora_payout_id]", req.payout_id.clone()),
            ("metadata[agora_vendor_id]", req.vendor_id.clone()),
        ];
        let transfer = self
            .api
            .post::<StripeTransfer>("/v1/transfers", &req.idempotency_key, &form)
            .await?
            .map_err(Refusal::into_rejected)?;
        Ok(Transfer { id: transfer.id })
    }
}

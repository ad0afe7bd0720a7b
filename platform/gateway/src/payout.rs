//! The payout port: how the platform pays a marketplace vendor, and its adapters.
//!
//! A payout sends money from the platform's balance to the vendor's connected account
//! (`acct_…`) as one transfer. The payout runner talks to a provider only through
//! [`PayoutGateway`]; two adapters implement it:
//!
//! - [`TestPayouts`]: a built-in provider kept in Postgres, like [`crate::TestGateway`], so
//!   that it survives our process being killed; its log of the transfers it really made is
//!   what tests count.
//! - [`StripeConnectPayouts`]: Stripe Connect transfers over HTTPS.
//!
//! # Invariants
//! The payment port's, for the same reasons (a transfer is money that does not come back):
//! - **Every call carries an idempotency key**, derived from the payout (`<payout id>/transfer`),
//!   never from the attempt. The same key with the same parameters returns the first outcome
//!   without transferring again; the same key with other parameters is
//!   `Rejected { code: "idempotency_key_reused" }`.
//! - **[`GatewayError::Timeout`] means the outcome is unknown**: the money may have left. The
//!   only correct reaction is to retry with the *same* key. [`GatewayError::Unavailable`] means
//!   nothing was transferred.
//! - A destination that is not a connected-account id (`acct_` and Stripe's id alphabet) is
//!   `Rejected { code: "invalid_destination" }`, and a zero or negative amount is
//!   `Rejected { code: "amount_too_small" }`, by both adapters, before anything is stored or
//!   sent.
//! - Secrets (the Stripe secret key) never appear in `Debug` output or logs.

use agora_kernel::Money;

use crate::GatewayError;

pub mod stripe;
pub mod test;

pub use stripe::StripeConnectPayouts;
pub use test::{PerformedTransfer, TestPayouts};

/// A payout provider, seen from the platform. Every transfer is idempotent per key.
#[async_trait::async_trait]
pub trait PayoutGateway: Send + Sync + 'static {
    /// The provider's stable name: `"test"` or `"stripe"`.
    fn name(&self) -> &'static str;

    /// Sends `req.amount` to the connected account `req.destination` (`acct_…`); returns the
    /// provider's transfer (`tr_…`).
    async fn transfer(&self, req: &TransferRequest) -> Result<Transfer, GatewayError>;
}

/// What a transfer to a vendor needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRequest {
    /// Derived from the payout (`<payout id>/transfer`), identical on every retry.
    pub idempotency_key: String,
    /// Ours; stored with the provider (Stripe's `transfer_group` and metadata
    /// `agora_payout_id`) so a transfer leads back to its payout.
    pub payout_id: String,
    /// Ours; stored with the provider (Stripe metadata `agora_vendor_id`).
    pub vendor_id: String,
    /// The vendor's connected account at the provider (`acct_…`).
    pub destination: String,
    /// Positive; in the currency of the platform balance it is taken from.
    pub amount: Money,
}

/// A transfer the provider made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    /// The provider's transfer id (`tr_…`), the same on every replay of the key.
    pub id: String,
}

/// Refuses what no provider could send money to: anything but `acct_` followed by Stripe's id
/// alphabet.
fn checked_destination(destination: &str) -> Result<(), GatewayError> {
    match destination.strip_prefix("acct_") {
        Some(rest)
            if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(())
        }
        _ => Err(GatewayError::rejected(
            "invalid_destination",
            "the destination must be a connected account id (acct_...)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connected_account_ids_are_destinations() {
        assert_eq!(checked_destination("acct_1Hx9ZtABC"), Ok(()));
        assert_eq!(checked_destination("acct_test_closed"), Ok(()));
        for bad in [
            "",
            "acct_",
            "ba_123",
            "cus_123",
            "acct_1/../../v1",
            "acct 1",
            "ACCT_1",
        ] {
            assert_eq!(
                checked_destination(bad).map_err(|e| e.code().to_string()),
                Err("invalid_destination".to_string()),
                "{bad:?}"
            );
        }
    }
}

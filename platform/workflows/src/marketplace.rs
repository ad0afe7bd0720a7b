//! The marketplace runner: keeps vendors' users bound to their vendor and pays vendors out.
//!
//! Driven by the event feed (durable consumer `marketplace`, shared by every instance):
//! - a vendor approved, reactivated or suspended binds each of its users' accounts to it (their
//!   next access token carries the vendor, so every service sees a `Principal::Vendor`); a user
//!   added is bound, a user removed unbound; a vendor closed or rejected unbinds all of them.
//!   An account bound to another vendor stays as it is (`identity.vendor_taken`, logged).
//! - a payout requested is sent through the payout provider under the idempotency key
//!   `payout/<vendor id>/<payout id>`, then recorded on the vendor as paid (with the transfer
//!   id) or failed (with the provider's reason: the money is back in the balance). A crash
//!   between the transfer and its record sends the same transfer again on redelivery or at the
//!   sweep, and the provider answers with the transfer it made: a vendor is paid once.
//!
//! Besides the feed, [`sweep`] finishes payouts left requested (a crash, a provider outage) and,
//! when a schedule is set, requests each active vendor's payout of what is available.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agora_gateway::{GatewayError, PayoutGateway, TransferRequest};
use agora_identity::AccountCommand;
use agora_kernel::{CommandId, ErrorBody, ErrorKind, Money, RecordedEvent};
use agora_nats::{Bus, RequestContext};
use agora_vendor::{PayoutOutcome, PayoutStatus, Vendor, VendorCommand, VendorEvent, VendorView};
use async_nats::jetstream;
use chrono::Utc;
use sqlx::PgPool;

use crate::checkout_service::system;

/// The durable consumer every instance shares.
pub const CONSUMER: &str = "marketplace";

/// The command id of step `step` for `scope` (a vendor event or payout).
pub fn step(scope: &str, step: &str) -> CommandId {
    CommandId::from_uuid(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("agora:marketplace:{scope}:{step}").as_bytes(),
    ))
}

/// The payout provider's idempotency key of payout `payout_id` of vendor `vendor_id`: the same
/// for every attempt, so the provider makes the transfer once.
pub fn transfer_key(vendor_id: &str, payout_id: &str) -> String {
    format!("payout/{vendor_id}/{payout_id}")
}

/// A vendor's ledger summed up, in its currency: what is still pending (sales and their
/// commission within the return window) and what it has earned and may be paid now (every
/// other entry: sales past their window, refunds and adjustments at once), before payouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerSums {
    pub pending: Money,
    pub earned_available: Money,
}

/// The sums of vendor `vendor_id`'s ledger; `None` for a vendor without entries. The one
/// reading of the ledger's balance: the payout schedule and the edge's balance use it.
pub async fn ledger_sums(pool: &PgPool, vendor_id: &str) -> Result<Option<LedgerSums>, ErrorBody> {
    let row: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT currency,
                COALESCE(sum(amount_minor) FILTER (WHERE available_at > now()), 0)::bigint,
                COALESCE(sum(amount_minor) FILTER (WHERE available_at IS NULL OR available_at <= now()), 0)::bigint
         FROM vendor_ledger WHERE vendor_id = $1
         GROUP BY currency ORDER BY count(*) DESC LIMIT 1",
    )
    .bind(vendor_id)
    .fetch_optional(pool)
    .await
    .map_err(|e| ErrorBody::unavailable(format!("vendor ledger: {e}")))?;
    match row {
        None => Ok(None),
        Some((currency, pending, earned)) => {
            let currency = agora_kernel::Currency::parse(&currency)
                .map_err(|_| ErrorBody::internal(format!("ledger currency {currency:?}")))?;
            Ok(Some(LedgerSums {
                pending: Money::new(pending, currency),
                earned_available: Money::new(earned, currency),
            }))
        }
    }
}

/// The reason recorded for a payout the provider refused: its code and message as printable
/// text the vendor aggregate accepts (no control characters, at most 500 characters), the code
/// alone when the message has nothing printable.
pub fn failure_reason(code: &str, message: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string()
    };
    let (code, message) = (clean(code), clean(message));
    let code = if code.is_empty() {
        "refused".into()
    } else {
        code
    };
    let reason = if message.is_empty() {
        code
    } else {
        format!("{code}: {message}")
    };
    reason.chars().take(500).collect()
}

fn ctx() -> RequestContext {
    crate::context(Duration::from_secs(30))
}

/// Whether the vendor's users act for it: while it is active or suspended (a suspended
/// vendor's open orders go on).
fn selling(vendor: &VendorView) -> bool {
    matches!(
        vendor.status,
        agora_vendor::VendorStatus::Active | agora_vendor::VendorStatus::Suspended
    )
}

/// Runs vendors' users and payouts along.
pub struct Marketplace {
    pub bus: Bus,
    pub pool: PgPool,
    pub payouts: Arc<dyn PayoutGateway>,
    /// Scheduled payouts: every this often, each active vendor is paid what is available
    /// (at least `minimum`); `None` pays only on request.
    pub schedule: Option<Duration>,
    /// The smallest payout.
    pub minimum_minor: i64,
    /// Fault injection for tests: abort right after this step's effect and before its record
    /// (`payout_transfer`).
    pub crash_after: Option<String>,
}

impl Marketplace {
    pub async fn handle(&self, event: &RecordedEvent) -> Result<(), ErrorBody> {
        if event.aggregate_type != "vendor" {
            return Ok(());
        }
        let vendor_id = event.aggregate_id.as_str();
        let scope = event.msg_id();
        let Ok(decoded) = serde::Deserialize::deserialize(&event.payload) else {
            return Ok(());
        };
        match decoded {
            // Each decides from the vendor as it is now, not from the event: the feed
            // delivers a vendor's events concurrently and retries late, so an old "user added"
            // must not bind an account that was removed since, nor an approval a closed
            // vendor's users.
            VendorEvent::VendorApproved { .. }
            | VendorEvent::VendorReactivated { .. }
            | VendorEvent::VendorSuspended { .. }
            | VendorEvent::VendorClosed { .. }
            | VendorEvent::VendorRejected { .. } => {
                let vendor = self.vendor(vendor_id).await?;
                for user in &vendor.users {
                    let account = user.account.to_string();
                    self.bind(&scope, vendor_id, &account, selling(&vendor))
                        .await?;
                }
                Ok(())
            }
            VendorEvent::VendorUserAdded { account, .. }
            | VendorEvent::VendorUserRemoved { account, .. } => {
                let vendor = self.vendor(vendor_id).await?;
                let member = vendor.users.iter().any(|u| u.account == account);
                self.bind(
                    &scope,
                    vendor_id,
                    &account.to_string(),
                    member && selling(&vendor),
                )
                .await
            }
            VendorEvent::VendorPayoutRequested { payout_id, .. } => {
                self.pay(vendor_id, &payout_id).await
            }
            _ => Ok(()),
        }
    }

    async fn vendor(&self, id: &str) -> Result<VendorView, ErrorBody> {
        self.bus.read::<Vendor>(id, system(), &ctx()).await
    }

    /// Binds (or unbinds) `account` to vendor `vendor_id`, once per vendor event.
    async fn bind(
        &self,
        scope: &str,
        vendor_id: &str,
        account: &str,
        bind: bool,
    ) -> Result<(), ErrorBody> {
        let vendor = vendor_id.to_string();
        let now = Utc::now();
        let (command, name) = if bind {
            (AccountCommand::BindVendor { vendor, now }, "bind")
        } else {
            (AccountCommand::UnbindVendor { vendor, now }, "unbind")
        };
        let id = step(scope, &format!("{name}/{account}"));
        match self.bus.send(account, id, system(), &command, &ctx()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::Unavailable || e.kind == ErrorKind::Internal => Err(e),
            Err(e) => {
                // An account bound elsewhere, or gone: staff sort it out; retrying changes
                // nothing.
                tracing::warn!(vendor_id, account, code = %e.code, "vendor user not {name}ed");
                Ok(())
            }
        }
    }

    /// Sends payout `payout_id` of vendor `vendor_id` if it is still requested, and records
    /// the provider's answer on the vendor.
    pub async fn pay(&self, vendor_id: &str, payout_id: &str) -> Result<(), ErrorBody> {
        let vendor = self.vendor(vendor_id).await?;
        let Some(payout) = vendor.payouts.iter().find(|p| p.id == payout_id) else {
            // Older than the view's newest payouts and so long settled, or not committed yet.
            return Ok(());
        };
        if payout.status != PayoutStatus::Requested {
            return Ok(());
        }
        let request = TransferRequest {
            idempotency_key: transfer_key(vendor_id, payout_id),
            payout_id: payout_id.to_string(),
            vendor_id: vendor_id.to_string(),
            destination: payout.destination.clone(),
            amount: payout.amount,
        };
        let outcome = match self.payouts.transfer(&request).await {
            Ok(transfer) => PayoutOutcome::Paid {
                transfer_id: transfer.id,
            },
            Err(GatewayError::Rejected { code, message }) => PayoutOutcome::Failed {
                reason: failure_reason(&code, &message),
            },
            // Unknown outcome or nothing happened: the same key again later.
            Err(e) => return Err(ErrorBody::unavailable(format!("payout {payout_id}: {e}"))),
        };
        if self.crash_after.as_deref() == Some("payout_transfer") {
            tracing::error!(
                vendor_id,
                payout_id,
                "fault injection: aborting after the transfer, before its record"
            );
            std::process::abort();
        }
        let command = VendorCommand::RecordPayout {
            payout_id: payout_id.to_string(),
            outcome,
            now: Utc::now(),
        };
        let id = step(&format!("{vendor_id}/{payout_id}"), "record");
        self.bus
            .send(vendor_id, id, system(), &command, &ctx())
            .await
            .map(|_| ())
    }

    /// Payouts requested and not settled, oldest first (a crash or an outage left them).
    async fn unsettled(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT r.aggregate_id, r.payload->>'payout_id' FROM events r
             WHERE r.aggregate_type = 'vendor' AND r.event_type = 'VendorPayoutRequested'
               AND NOT EXISTS (SELECT 1 FROM events s
                 WHERE s.aggregate_type = 'vendor' AND s.aggregate_id = r.aggregate_id
                   AND s.event_type IN ('VendorPayoutPaid', 'VendorPayoutFailed')
                   AND s.payload->>'payout_id' = r.payload->>'payout_id')
             ORDER BY r.sequence LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Requests the scheduled payout of period `period` for every active vendor with at least
    /// the minimum available; the payout id is derived from the vendor and the period, so a
    /// repeated round pays nobody twice.
    async fn scheduled(&self, period: i64) -> Result<(), ErrorBody> {
        let vendors: Vec<String> =
            sqlx::query_scalar("SELECT vendor_id FROM vendors WHERE status = 'active'")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| ErrorBody::unavailable(format!("vendors: {e}")))?;
        for vendor_id in vendors {
            let Some(LedgerSums {
                earned_available: earned,
                ..
            }) = ledger_sums(&self.pool, &vendor_id).await?
            else {
                continue;
            };
            let view = self.vendor(&vendor_id).await?;
            let taken = view.paid_out.map_or(0, |m| m.amount_minor)
                + view.payouts_outstanding.map_or(0, |m| m.amount_minor);
            let amount = earned.amount_minor - taken;
            if amount < self.minimum_minor.max(1) {
                continue;
            }
            let payout_id = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("agora:payout:{vendor_id}:scheduled:{period}").as_bytes(),
            )
            .to_string();
            let command = VendorCommand::RequestPayout {
                payout_id: payout_id.clone(),
                amount: Money::new(amount, earned.currency),
                earned_available: earned,
                minimum: Money::new(self.minimum_minor, earned.currency),
                now: Utc::now(),
            };
            let id = step(&format!("{vendor_id}/{payout_id}"), "request");
            if let Err(e) = self
                .bus
                .send(&vendor_id, id, system(), &command, &ctx())
                .await
            {
                tracing::warn!(vendor_id, code = %e.code, "scheduled payout not requested");
            }
        }
        Ok(())
    }
}

/// Runs the runner from the feed until `shutdown` resolves.
pub async fn run(
    runner: Arc<Marketplace>,
    js: jetstream::Context,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let subscription = agora_runtime::feed::Subscription {
        name: CONSUMER,
        aggregate_types: &["vendor"],
        concurrency: 16,
        max_ack_pending: 1_000,
        retry: agora_runtime::parked::Retry::DEFAULT,
        pool: runner.pool.clone(),
    };
    let handle = move |event: RecordedEvent, _delivered: u64| {
        let runner = runner.clone();
        async move { crate::on_behalf_of(&event, runner.handle(&event)).await }
    };
    agora_runtime::feed::consume(&js, subscription, handle, shutdown).await
}

/// Every few seconds: sends payouts left requested; on the schedule, requests payouts.
pub async fn sweep(
    runner: Arc<Marketplace>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let mut last_period: Option<i64> = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        match runner.unsettled().await {
            Ok(payouts) => {
                for (vendor_id, payout_id) in payouts {
                    if let Err(e) = runner.pay(&vendor_id, &payout_id).await {
                        tracing::warn!(vendor_id, payout_id, error = %e, "payout not settled");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "payout scan failed"),
        }
        if let Some(every) = runner.schedule {
            let period = Utc::now().timestamp() / every.as_secs().max(1) as i64;
            if last_period.is_some_and(|p| p != period) {
                if let Err(e) = runner.scheduled(period).await {
                    tracing::warn!(error = %e, "scheduled payouts failed");
                }
            }
            last_period = Some(period);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attempt_of_a_payout_has_one_key_and_vendors_never_share_one() {
        assert_eq!(transfer_key("v1", "p1"), transfer_key("v1", "p1"));
        assert_ne!(transfer_key("v1", "p1"), transfer_key("v2", "p1"));
        assert_eq!(step("s", "bind/a"), step("s", "bind/a"));
        assert_ne!(step("s", "bind/a"), step("s", "unbind/a"));
    }

    #[test]
    fn a_refusal_is_recorded_as_printable_text() {
        assert_eq!(
            failure_reason("account_closed", "The account is closed."),
            "account_closed: The account is closed."
        );
        assert_eq!(failure_reason("x", "a\nb\u{7}"), "x: a b");
        assert_eq!(failure_reason("", " "), "refused");
        assert_eq!(failure_reason("c", &"m".repeat(900)).chars().count(), 500);
    }
}

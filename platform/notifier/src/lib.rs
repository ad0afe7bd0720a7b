//! The notification service: turns facts into messages and delivers them, once in effect.
//!
//! Three loops share one [`Notifier`]:
//! - [`feed::run`]: the durable JetStream consumer `notifier` on order and stock events. Each
//!   event's notifications ([`agora_notifications::plan`]) are stored in one transaction before
//!   the message is acknowledged; ids are deterministic, so a redelivery stores nothing new.
//! - [`outbox::run`]: identity's `identity_outbox` rows become verification and password-reset
//!   mail (the notification takes the row's id; the token is cleared in the same transaction).
//! - [`sender::run`]: claims due rows (`FOR UPDATE SKIP LOCKED`, committed as `sending` before
//!   the SMTP transaction), delivers them by SMTP ([`transport::Mailer`], Message-ID derived from
//!   the notification id) or SMS ([`transport::Sms`]), and marks them `sent`, or schedules a
//!   retry, or marks them `failed` after the retry policy's last attempt.
//!
//! Invariants:
//! - a notification is never dropped silently: it ends `sent` or `failed` (visible in
//!   `/admin/notifications`), or waits `pending` for a channel that is not configured;
//! - an event, a redelivery or a replay yields each notification id once (primary key);
//! - a back-in-stock subscription is deleted in the transaction that stores its notification;
//! - no back-in-stock mail goes to an address whose owner has not confirmed it (double opt-in:
//!   one confirmation mail per address, a new one only after the previous link expired);
//! - delivery is at-least-once only across the few milliseconds between the server accepting a
//!   message and the `sent` update (see [`sender`]); a resend carries the same Message-ID.
//!
//! Any number of instances may run: they share the consumer and skip each other's claims.

pub mod feed;
pub mod outbox;
pub mod sender;
pub mod store;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use agora_notifications::{EmailAddress, RetryPolicy, Shop};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use transport::{Mailer, SendError, Sms, SmsConfig, SmtpConfig};

/// Everything the notifier is configured with (read by the binary).
#[derive(Clone, Debug)]
pub struct NotifierConfig {
    pub shop: Shop,
    /// Unset: email stays `pending` until a notifier with SMTP runs.
    pub smtp: Option<SmtpConfig>,
    /// Unset: no SMS is planned at all.
    pub sms: Option<SmsConfig>,
    /// Where low-stock alerts go; unset: none are sent.
    pub staff_email: Option<String>,
    pub retry: RetryPolicy,
    /// How long a `sending` claim holds before another sender takes the row up again. Longer
    /// than any SMTP transaction (the SMTP timeout is kept below half of it).
    pub lease: Duration,
    /// How often the sender and the outbox look for work when nobody woke them.
    pub poll: Duration,
    /// Fault injection for tests: abort the process at `notify_after_record` (stored, feed
    /// message not yet acknowledged), `notify_after_claim` (claimed, nothing sent) or
    /// `notify_after_send` (accepted by the server, not yet marked sent).
    pub crash_after: Option<String>,
}

/// The shared state of the notifier's loops.
pub struct Notifier {
    pub pool: PgPool,
    pub shop: Shop,
    pub staff_email: Option<EmailAddress>,
    pub mailer: Option<Mailer>,
    pub sms: Option<Sms>,
    /// Whether SMS can be planned (a provider is configured).
    pub sms_available: bool,
    pub retry: RetryPolicy,
    pub lease: Duration,
    pub poll: Duration,
    crash_after: Option<String>,
    /// Wakes the sender when this process stored new notifications (other processes' senders
    /// find them at their next poll).
    pub wake: Notify,
}

impl Notifier {
    pub fn new(pool: PgPool, config: NotifierConfig) -> anyhow::Result<Notifier> {
        let mailer = config
            .smtp
            .as_ref()
            .map(|c| {
                Mailer::new(&SmtpConfig {
                    timeout: c.timeout.min(config.lease / 2),
                    ..c.clone()
                })
            })
            .transpose()?;
        let sms = config.sms.clone().map(Sms::new).transpose()?;
        let staff_email = match config.staff_email.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                EmailAddress::parse(s)
                    .map_err(|e| anyhow::anyhow!("AGORA_STAFF_EMAIL {s:?}: {e}"))?,
            ),
            None => None,
        };
        Ok(Notifier {
            pool,
            shop: config.shop,
            staff_email,
            sms_available: sms.is_some(),
            mailer,
            sms,
            retry: config.retry,
            lease: config.lease,
            poll: config.poll,
            crash_after: config.crash_after,
            wake: Notify::new(),
        })
    }

    /// Aborts the process here when the configuration asks for it (tests only).
    fn fault(&self, point: &str) {
        if self.crash_after.as_deref() == Some(point) {
            tracing::error!(point, "fault injection: aborting");
            std::process::abort();
        }
    }
}

/// Runs the notifier's three loops until `shutdown` is cancelled. A loop that fails stops the
/// others too, so the process supervisor sees the failure.
pub async fn run(
    notifier: Arc<Notifier>,
    client: async_nats::Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let js = async_nats::jetstream::new(client);
    let stop = |token: CancellationToken| async move { token.cancelled().await };
    let (a, b, c) = tokio::join!(
        async {
            let r = feed::run(notifier.clone(), js, stop(shutdown.clone())).await;
            shutdown.cancel();
            r
        },
        sender::run(notifier.clone(), stop(shutdown.clone())),
        outbox::run(notifier.clone(), stop(shutdown.clone())),
    );
    a.and(b).and(c)
}

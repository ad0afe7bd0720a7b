//! The sender loop: claims due notifications, delivers them, records the outcome.
//!
//! A claim is its own committed transaction (`FOR UPDATE SKIP LOCKED`, so instances never take
//! the same row) that sets `status = 'sending'`, counts the attempt and sets a lease in
//! `next_attempt_at`. Only then is the SMTP transaction opened. After the server accepted the
//! message the row becomes `sent`. A failure schedules the next attempt by the retry policy,
//! or marks the row `failed` once attempts are exhausted or the provider refused for good.
//!
//! The one window left: the server accepted the message and this process died before the
//! `sent` update (one local Postgres round trip, a few milliseconds). The row then stays
//! `sending`; when its lease expires another sender delivers it again, with the same
//! Message-ID, and notes it in `last_error`. Exactly-once across SMTP cannot be had (the
//! protocol has no idempotency key), so we chose at-least-once with that narrow window over
//! at-most-once, which would lose every message whose sender died between claim and acceptance
//! (the far longer window: connecting, TLS, the whole transaction).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agora_notifications::{AfterFailure, Channel};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::transport::SendError;
use crate::Notifier;

/// A claimed notification.
struct Claimed {
    id: Uuid,
    channel: String,
    recipient: String,
    subject: String,
    text: String,
    html: String,
    attempts: i32,
    event_at: Option<DateTime<Utc>>,
}

/// Notifications claimed per round.
const BATCH: i64 = 32;

impl Notifier {
    /// Claims up to `BATCH` due notifications for this sender (committed before any delivery).
    async fn claim(&self) -> sqlx::Result<Vec<Claimed>> {
        let rows = sqlx::query(
            "UPDATE notifications n
             SET status = 'sending', attempts = n.attempts + 1,
                 next_attempt_at = now() + make_interval(secs => $2),
                 last_error = CASE WHEN n.status = 'sending'
                     THEN 'resumed after an interrupted send; the message may arrive twice with the same Message-ID'
                     ELSE n.last_error END
             FROM (SELECT id FROM notifications
                   WHERE status IN ('pending', 'sending') AND next_attempt_at <= now()
                     AND channel = ANY($3)
                   ORDER BY next_attempt_at LIMIT $1
                   FOR UPDATE SKIP LOCKED) due
             WHERE n.id = due.id
             RETURNING n.id, n.channel, n.recipient, n.subject, n.body_text, n.body_html, n.attempts, n.event_at",
        )
        .bind(BATCH)
        .bind(self.lease.as_secs_f64())
        .bind(self.channels())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Claimed {
                id: r.get("id"),
                channel: r.get("channel"),
                recipient: r.get("recipient"),
                subject: r.get("subject"),
                text: r.get("body_text"),
                html: r.get("body_html"),
                attempts: r.get("attempts"),
                event_at: r.get("event_at"),
            })
            .collect())
    }

    /// The channels this sender can deliver; rows of others wait (pending) for a sender that
    /// can, instead of failing.
    fn channels(&self) -> Vec<String> {
        let mut channels = Vec::new();
        if self.mailer.is_some() {
            channels.push(Channel::Email.as_str().to_string());
        }
        if self.sms.is_some() {
            channels.push(Channel::Sms.as_str().to_string());
        }
        channels
    }

    async fn deliver(&self, n: &Claimed) -> Result<(), SendError> {
        match Channel::parse(&n.channel) {
            Some(Channel::Email) => match &self.mailer {
                Some(m) => {
                    m.send(n.id, &n.recipient, &n.subject, &n.text, &n.html)
                        .await
                }
                None => Err(SendError {
                    permanent: false,
                    message: "no SMTP server is configured (AGORA_SMTP_URL)".into(),
                }),
            },
            Some(Channel::Sms) => match &self.sms {
                Some(s) => s.send(&n.recipient, &n.text).await,
                None => Err(SendError {
                    permanent: false,
                    message: "no SMS provider is configured (AGORA_TWILIO_*)".into(),
                }),
            },
            None => Err(SendError {
                permanent: true,
                message: format!("unknown channel {}", n.channel),
            }),
        }
    }

    /// Delivers one claimed notification and records the outcome.
    async fn send_one(&self, n: Claimed) -> sqlx::Result<()> {
        self.fault("notify_after_claim");
        match self.deliver(&n).await {
            Ok(()) => {
                if let Some(at) = n.event_at {
                    let latency = (Utc::now() - at).num_microseconds().unwrap_or(0).max(0);
                    metrics::histogram!("agora_notification_latency_seconds", "channel" => n.channel.clone())
                        .record(latency as f64 / 1e6);
                }
                self.fault("notify_after_send");
                sqlx::query(
                    "UPDATE notifications SET status = 'sent', sent_at = now()
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(n.id)
                .execute(&self.pool)
                .await?;
                metrics::counter!("agora_notifications_total", "channel" => n.channel, "outcome" => "sent")
                    .increment(1);
            }
            Err(e) => {
                let attempts = n.attempts.max(1) as u32;
                let decision = if e.permanent {
                    AfterFailure::GiveUp
                } else {
                    self.retry.after_failure(attempts)
                };
                let error: String = e.message.chars().take(1000).collect();
                match decision {
                    AfterFailure::RetryIn(delay) => {
                        tracing::warn!(id = %n.id, attempts, error = %error, retry_in = ?delay, "notification not delivered; will retry");
                        sqlx::query(
                            "UPDATE notifications SET status = 'pending', last_error = $2,
                                 next_attempt_at = now() + make_interval(secs => $3)
                             WHERE id = $1 AND status = 'sending'",
                        )
                        .bind(n.id)
                        .bind(&error)
                        .bind(delay.as_secs_f64())
                        .execute(&self.pool)
                        .await?;
                        metrics::counter!("agora_notifications_total", "channel" => n.channel, "outcome" => "retry")
                            .increment(1);
                    }
                    AfterFailure::GiveUp => {
                        tracing::error!(id = %n.id, attempts, error = %error, "notification failed for good; visible in /admin/notifications");
                        sqlx::query(
                            "UPDATE notifications SET status = 'failed', last_error = $2
                             WHERE id = $1 AND status = 'sending'",
                        )
                        .bind(n.id)
                        .bind(&error)
                        .execute(&self.pool)
                        .await?;
                        metrics::counter!("agora_notifications_total", "channel" => n.channel, "outcome" => "failed")
                            .increment(1);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Sends due notifications until `shutdown` resolves. A send in progress is finished before
/// the loop stops, so a graceful stop never leaves a row `sending`.
pub async fn run(
    notifier: Arc<Notifier>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let claimed = match notifier.claim().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming notifications failed");
                vec![]
            }
        };
        let full = claimed.len() as i64 == BATCH;
        if !claimed.is_empty() {
            let sends = claimed.into_iter().map(|n| {
                let notifier = notifier.clone();
                async move {
                    let id = n.id;
                    if let Err(e) = notifier.send_one(n).await {
                        tracing::warn!(%id, error = %e, "recording a delivery outcome failed; the lease will expire and it is sent again");
                    }
                }
            });
            futures::future::join_all(sends).await;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = notifier.wake.notified() => {}
            _ = tokio::time::sleep(notifier.poll) => {}
        }
    }
}

/// How long a claim is held before another sender may take the row up again.
pub fn default_lease() -> Duration {
    Duration::from_secs(120)
}

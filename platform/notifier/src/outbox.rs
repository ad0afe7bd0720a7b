//! Identity's mail: rows of `identity_outbox` (written by the identity service in the
//! transaction that issued the token) become notifications with the row's own id.
//!
//! Per row, in one transaction: store the rendered notification, then clear the token and set
//! `sent_at`, so the token lives on only inside the rendered message (and the notification's
//! id is the outbox id, so a retried round inserts nothing). Expired tokens are not mailed.
//!
//! The same loop mails the confirmations of back-in-stock addresses (`notify_me_addresses`, the
//! double opt-in): the notifier draws their tokens, since it renders the links.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agora_notifications::{plan, AccountLink, Audience, Content, EmailAddress, Source};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{store, Notifier};

impl Notifier {
    /// Turns the unsent outbox rows into notifications; returns how many were stored.
    pub async fn drain_identity_outbox(&self) -> anyhow::Result<u64> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('identity_outbox') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        if !exists {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT id, kind, email, token, expires_at, created_at FROM identity_outbox
             WHERE sent_at IS NULL ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED",
        )
        .fetch_all(&mut *tx)
        .await?;
        let now = Utc::now();
        let mut stored = 0;
        for row in &rows {
            let id: Uuid = row.get("id");
            let kind: String = row.get("kind");
            let email: String = row.get("email");
            let token: Option<String> = row.get("token");
            let expires_at: DateTime<Utc> = row.get("expires_at");
            let path = match kind.as_str() {
                "verify_email" => "/account/verify",
                "password_reset" => "/account/reset",
                other => {
                    tracing::warn!(%id, kind = other, "unknown identity outbox kind; skipped");
                    ""
                }
            };
            let deliverable = !path.is_empty() && expires_at > now;
            if let (true, Some(token), Ok(email)) =
                (deliverable, token, EmailAddress::parse(&email))
            {
                let link = AccountLink {
                    url: self.shop.link(&format!(
                        "{path}?token={}",
                        agora_notifications::render::encode_component(&token)
                    )),
                    expires_at,
                };
                let content = if kind == "verify_email" {
                    Content::EmailVerification(link)
                } else {
                    Content::PasswordReset(link)
                };
                let audience = Audience {
                    email,
                    preferences: None,
                };
                let drafts = plan(
                    &self.shop,
                    &Source::Outbox { id },
                    &content,
                    &audience,
                    false,
                );
                stored += store::insert_drafts(
                    &mut tx,
                    &drafts,
                    &format!("identity_outbox/{id}"),
                    Some(row.get::<DateTime<Utc>, _>("created_at")),
                )
                .await?;
            }
            sqlx::query("UPDATE identity_outbox SET token = NULL, sent_at = now() WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }
}

/// How long the link of a back-in-stock confirmation works; a new subscription of the address
/// after that sends a new one (and not before: one pending confirmation per address).
pub const CONFIRMATION_TTL: chrono::TimeDelta = chrono::TimeDelta::days(7);

impl Notifier {
    /// Mails one confirmation (double opt-in) to each address subscribed to back-in-stock mail
    /// that has none pending. Per address, in one transaction: draw a token, store its SHA-256
    /// and expiry, and store the rendered notification; the token lives on only inside the
    /// message. Returns how many were stored.
    pub async fn drain_notify_me_confirmations(&self) -> anyhow::Result<u64> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT email FROM notify_me_addresses
             WHERE mailed_at IS NULL AND confirmed_at IS NULL
             ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED",
        )
        .fetch_all(&mut *tx)
        .await?;
        let now = Utc::now();
        let expires_at = now + CONFIRMATION_TTL;
        let mut stored = 0;
        for row in &rows {
            let email_text: String = row.get("email");
            let token = hex::encode(rand::random::<[u8; 32]>());
            if let Ok(email) = EmailAddress::parse(&email_text) {
                let link = AccountLink {
                    url: self.shop.link(&format!(
                        "/notify-me/confirm?token={}",
                        agora_notifications::render::encode_component(&token)
                    )),
                    expires_at,
                };
                // Each confirmation drawn is its own notification: a fresh id, stored in the
                // transaction that marks the address mailed, so a retried round stores nothing.
                let id = Uuid::new_v4();
                let drafts = plan(
                    &self.shop,
                    &Source::Outbox { id },
                    &Content::BackInStockConfirmation(link),
                    &Audience {
                        email,
                        preferences: None,
                    },
                    false,
                );
                stored += store::insert_drafts(
                    &mut tx,
                    &drafts,
                    &format!("notify_me_addresses/{id}"),
                    Some(now),
                )
                .await?;
            } else {
                tracing::warn!("a notify-me address is not deliverable; no confirmation");
            }
            sqlx::query(
                "UPDATE notify_me_addresses SET token_sha256 = $2, expires_at = $3, mailed_at = now()
                 WHERE email = $1",
            )
            .bind(&email_text)
            .bind(store::token_sha256(&token))
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }
}

/// Drains the identity outbox every `poll` until `shutdown` resolves.
pub async fn run(
    notifier: Arc<Notifier>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    loop {
        match notifier.drain_identity_outbox().await {
            Ok(n) if n > 0 => notifier.wake.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "identity outbox round failed; retrying"),
        }
        match notifier.drain_notify_me_confirmations().await {
            Ok(n) if n > 0 => notifier.wake.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "notify-me confirmation round failed; retrying"),
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(notifier.poll.max(Duration::from_millis(200))) => {}
        }
    }
}

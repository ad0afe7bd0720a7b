//! Every SQL statement on the notifier's tables (`notifications`, `back_in_stock_subscriptions`,
//! `notification_preferences`): the feed consumer, the sender and the edge all go through here.

use agora_notifications::{Draft, EmailAddress, Preferences, Status};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// Stores drafts; a draft whose id exists already (a redelivered event) inserts nothing.
/// Returns how many were new.
pub async fn insert_drafts(
    conn: &mut PgConnection,
    drafts: &[Draft],
    source: &str,
    event_at: Option<DateTime<Utc>>,
) -> sqlx::Result<u64> {
    let mut inserted = 0;
    for d in drafts {
        inserted += sqlx::query(
            "INSERT INTO notifications (id, kind, channel, recipient, subject, body_text, body_html, source, event_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(d.id)
        .bind(d.kind.as_str())
        .bind(d.channel.as_str())
        .bind(&d.recipient)
        .bind(&d.message.subject)
        .bind(&d.message.text)
        .bind(&d.message.html)
        .bind(source)
        .bind(event_at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(inserted)
}

/// A notification as the back office sees it.
#[derive(Clone, Debug, Serialize)]
pub struct NotificationRow {
    pub id: Uuid,
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

fn to_row(r: &sqlx::postgres::PgRow) -> NotificationRow {
    NotificationRow {
        id: r.get("id"),
        kind: r.get("kind"),
        channel: r.get("channel"),
        recipient: r.get("recipient"),
        subject: r.get("subject"),
        status: r.get("status"),
        attempts: r.get("attempts"),
        next_attempt_at: r.get("next_attempt_at"),
        last_error: r.get("last_error"),
        source: r.get("source"),
        created_at: r.get("created_at"),
        sent_at: r.get("sent_at"),
    }
}

const COLUMNS: &str = "id, kind, channel, recipient, subject, status, attempts, next_attempt_at, last_error, source, created_at, sent_at";

/// Newest first, filtered by status and kind when given.
pub async fn list(
    pool: &PgPool,
    status: Option<Status>,
    kind: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<NotificationRow>, i64)> {
    let status = status.map(Status::as_str);
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notifications
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)
         ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
    ))
    .bind(status)
    .bind(kind)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)",
    )
    .bind(status)
    .bind(kind)
    .fetch_one(pool)
    .await?;
    Ok((rows.iter().map(to_row).collect(), total))
}

/// What a staff retry found.
#[derive(Debug)]
pub enum RetryOutcome {
    /// The failed notification is pending again, due now, with a fresh attempt budget.
    Queued(NotificationRow),
    NotFound,
    /// Only a failed notification can be retried; this one is in another status.
    NotFailed(String),
}

/// Puts a failed notification back in the queue (`POST /admin/notifications/{id}/retry`).
pub async fn retry(pool: &PgPool, id: Uuid) -> sqlx::Result<RetryOutcome> {
    let updated = sqlx::query(&format!(
        "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = now()
         WHERE id = $1 AND status = 'failed' RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = updated {
        return Ok(RetryOutcome::Queued(to_row(&row)));
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM notifications WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(match status {
        Some(s) => RetryOutcome::NotFailed(s),
        None => RetryOutcome::NotFound,
    })
}

/// What a back-in-stock subscription request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscribed {
    /// False when this email was already subscribed to this SKU.
    pub created: bool,
    /// Whether the address is confirmed (double opt-in); until it is, it gets no back-in-stock
    /// mail, only the one confirmation mail.
    pub confirmed: bool,
}

/// Subscribes `email` to the next time `sku` is back in stock, and asks for a confirmation of
/// the address unless it is confirmed or one is pending. Idempotent: subscribing again changes
/// nothing, and sends no second confirmation while the first one is valid.
pub async fn subscribe(
    pool: &PgPool,
    sku: &str,
    email: &EmailAddress,
    product_id: &str,
    customer_id: Option<&str>,
) -> sqlx::Result<Subscribed> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO back_in_stock_subscriptions (sku, email, product_id, customer_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT (sku, email) DO NOTHING",
    )
    .bind(sku)
    .bind(email.as_str())
    .bind(product_id)
    .bind(customer_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // A new address waits for the notifier's confirmation mail; an expired confirmation is
    // cleared so the notifier draws a new one. Anything else (pending, confirmed) stays.
    let confirmed: Option<DateTime<Utc>> = sqlx::query_scalar(
        "INSERT INTO notify_me_addresses (email) VALUES ($1)
         ON CONFLICT (email) DO UPDATE SET
             mailed_at = CASE WHEN notify_me_addresses.confirmed_at IS NULL
                               AND notify_me_addresses.expires_at < now()
                              THEN NULL ELSE notify_me_addresses.mailed_at END,
             token_sha256 = CASE WHEN notify_me_addresses.confirmed_at IS NULL
                                  AND notify_me_addresses.expires_at < now()
                                 THEN NULL ELSE notify_me_addresses.token_sha256 END
         RETURNING confirmed_at",
    )
    .bind(email.as_str())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Subscribed {
        created: inserted == 1,
        confirmed: confirmed.is_some(),
    })
}

/// The SHA-256 of a confirmation token, hex: only this is stored.
pub fn token_sha256(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Confirms the address whose confirmation mail carried `token`, if the token is valid and
/// not expired; confirming again with the same token is the same success. Returns the address.
pub async fn confirm_address(pool: &PgPool, token: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE notify_me_addresses SET confirmed_at = coalesce(confirmed_at, now())
         WHERE token_sha256 = $1 AND (confirmed_at IS NOT NULL OR expires_at > now())
         RETURNING email",
    )
    .bind(token_sha256(token))
    .fetch_optional(pool)
    .await
}

/// A customer's preferences, or the defaults.
pub async fn preferences(
    conn: &mut PgConnection,
    customer_id: &str,
) -> sqlx::Result<Option<Preferences>> {
    let stored: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT preferences FROM notification_preferences WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(&mut *conn)
    .await?;
    // A stored value that no longer parses (a field renamed) falls back to the defaults rather
    // than stopping the feed.
    Ok(stored.and_then(|v| serde_json::from_value(v).ok()))
}

pub async fn put_preferences(
    pool: &PgPool,
    customer_id: &str,
    preferences: &Preferences,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO notification_preferences (customer_id, preferences, updated_at)
         VALUES ($1, $2, now())
         ON CONFLICT (customer_id) DO UPDATE SET preferences = EXCLUDED.preferences, updated_at = now()",
    )
    .bind(customer_id)
    .bind(serde_json::to_value(preferences).unwrap_or_default())
    .execute(pool)
    .await?;
    Ok(())
}

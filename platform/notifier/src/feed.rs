//! The feed consumer: order and stock events become stored, rendered notifications.
//!
//! One durable JetStream consumer (`notifier`), shared by every notifier instance. For each
//! event the notifications it causes are written in one Postgres transaction, and the message
//! is acknowledged only after that commit. A redelivery recomputes the same deterministic ids
//! and inserts nothing; back-in-stock subscriptions are deleted in the transaction that stores
//! their notifications, so a redelivery finds none.

use std::future::Future;
use std::sync::Arc;

use agora_inventory::StockEvent;
use agora_kernel::{Decider, RecordedEvent};
use agora_notifications::{
    order_update, plan, stock_signal, Audience, Content, EmailAddress, OrderNotice, Source,
    StockSignal,
};
use agora_order::{Order, OrderEvent};
use agora_runtime::EventStore;
use async_nats::jetstream;
use sqlx::Row;

use crate::{store, Notifier};

/// The durable consumer every notifier instance shares.
pub const CONSUMER: &str = "notifier";

impl Notifier {
    /// Stores the notifications `event` causes; returns how many were new.
    pub async fn handle(&self, event: &RecordedEvent) -> anyhow::Result<u64> {
        let source = Source::Event {
            stream_type: event.aggregate_type.clone(),
            stream_id: event.aggregate_id.clone(),
            sequence: event.sequence,
        };
        let source_name = event.msg_id();
        let event_at = event.recorded_at();
        match event.aggregate_type.as_str() {
            "order" => {
                let Ok(order_event) =
                    <OrderEvent as serde::Deserialize>::deserialize(&event.payload)
                else {
                    return Ok(0);
                };
                let Some(update) = order_update(&order_event) else {
                    return Ok(0);
                };
                // The order as it was at this event, from the source of truth: a replay renders
                // the same message, and no read model's lag can make it incomplete.
                let events = EventStore::new(self.pool.clone())
                    .range("order", &event.aggregate_id, 0, event.sequence + 1)
                    .await?;
                let (order, version, _) = agora_runtime::fold::<Order>(&events)
                    .map_err(|e| anyhow::anyhow!("fold order {}: {e}", event.aggregate_id))?;
                let view = order.view(&event.aggregate_id, version);
                let Ok(email) = EmailAddress::parse(&view.email) else {
                    tracing::warn!(order = %view.id, "order email is not deliverable; no notification");
                    return Ok(0);
                };
                let mut tx = self.pool.begin().await?;
                let preferences = match &view.customer_id {
                    Some(c) => store::preferences(&mut tx, &c.to_string()).await?,
                    None => None,
                };
                let content = Content::Order(OrderNotice::from_view(&view, update));
                let audience = Audience { email, preferences };
                let drafts = plan(&self.shop, &source, &content, &audience, self.sms_available);
                let n = store::insert_drafts(&mut tx, &drafts, &source_name, event_at).await?;
                tx.commit().await?;
                Ok(n)
            }
            "stock" => {
                let Ok(stock_event) =
                    <StockEvent as serde::Deserialize>::deserialize(&event.payload)
                else {
                    return Ok(0);
                };
                let sku = event.aggregate_id.as_str();
                match stock_signal(&stock_event) {
                    Some(StockSignal::Low {
                        available,
                        threshold,
                    }) => {
                        let Some(staff) = &self.staff_email else {
                            return Ok(0);
                        };
                        let content = Content::LowStock {
                            sku: sku.to_string(),
                            available,
                            threshold,
                        };
                        let audience = Audience {
                            email: staff.clone(),
                            preferences: None,
                        };
                        let drafts = plan(&self.shop, &source, &content, &audience, false);
                        let mut conn = self.pool.acquire().await?;
                        Ok(
                            store::insert_drafts(&mut conn, &drafts, &source_name, event_at)
                                .await?,
                        )
                    }
                    Some(StockSignal::BackInStock { .. }) => {
                        self.back_in_stock(sku, &source, &source_name, event_at)
                            .await
                    }
                    None => Ok(0),
                }
            }
            _ => Ok(0),
        }
    }

    /// Notifies everyone who subscribed to `sku` before the stock came back and confirmed
    /// their address, and deletes their subscriptions in the same transaction. An unconfirmed
    /// address gets nothing and keeps its subscription, for the next return after it confirms.
    async fn back_in_stock(
        &self,
        sku: &str,
        source: &Source,
        source_name: &str,
        event_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<u64> {
        let mut tx = self.pool.begin().await?;
        // A subscription made after this event (the SKU was already available) waits for the
        // next return; without a commit time (old metadata) every subscription counts.
        let subscribers = sqlx::query(
            "SELECT s.email, s.product_id, s.customer_id, p.title
             FROM back_in_stock_subscriptions s
             JOIN notify_me_addresses a ON a.email = s.email AND a.confirmed_at IS NOT NULL
             LEFT JOIN products p USING (product_id)
             WHERE s.sku = $1 AND ($2::timestamptz IS NULL OR s.created_at <= $2)
             ORDER BY s.email FOR UPDATE OF s",
        )
        .bind(sku)
        .bind(event_at)
        .fetch_all(&mut *tx)
        .await?;
        let mut inserted = 0;
        let mut notified = Vec::with_capacity(subscribers.len());
        for row in &subscribers {
            let email_text: String = row.get("email");
            let product_id: String = row.get("product_id");
            let customer_id: Option<String> = row.get("customer_id");
            let title: Option<String> = row.get("title");
            notified.push(email_text.clone());
            let Ok(email) = EmailAddress::parse(&email_text) else {
                continue;
            };
            let preferences = match &customer_id {
                Some(c) => store::preferences(&mut tx, c).await?,
                None => None,
            };
            let content = Content::BackInStock {
                sku: sku.to_string(),
                product_title: title.unwrap_or_else(|| sku.to_string()),
                product_url: self.shop.link(&format!(
                    "/products/{}",
                    agora_notifications::render::encode_component(&product_id)
                )),
            };
            let audience = Audience { email, preferences };
            let drafts = plan(&self.shop, source, &content, &audience, self.sms_available);
            inserted += store::insert_drafts(&mut tx, &drafts, source_name, event_at).await?;
        }
        sqlx::query("DELETE FROM back_in_stock_subscriptions WHERE sku = $1 AND email = ANY($2)")
            .bind(sku)
            .bind(&notified)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(inserted)
    }
}

/// Consumes the feed until `shutdown` resolves.
pub async fn run(
    notifier: Arc<Notifier>,
    js: jetstream::Context,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let subscription = agora_runtime::feed::Subscription {
        name: CONSUMER,
        aggregate_types: &["order", "stock"],
        // Events of different streams are independent; a few at a time keep up with checkout
        // load.
        concurrency: 32,
        max_ack_pending: 10_000,
        retry: agora_runtime::parked::Retry::DEFAULT,
        pool: notifier.pool.clone(),
    };
    let handle = move |event: RecordedEvent, _delivered: u64| {
        let notifier = notifier.clone();
        async move {
            let new = notifier.handle(&event).await?;
            if new > 0 {
                notifier.wake.notify_one();
            }
            notifier.fault("notify_after_record");
            anyhow::Ok(())
        }
    };
    agora_runtime::feed::consume(&js, subscription, handle, shutdown).await
}

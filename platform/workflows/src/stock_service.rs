//! `agora.stock.*`: the stock aggregate, with a vendor's reach checked first.
//!
//! A SKU's stock stream knows nothing of who sells it: the catalog does. Which product owns a
//! SKU is fixed for life by its claim (`sku_claims`, see the product service), and a product's
//! vendor by its `ProductCreated` event, so the service reads both from the event store's
//! database before a vendor's user may read or move a SKU's stock: another vendor's SKU, the
//! shop's own, or a SKU no product owns is `403 inventory.forbidden`, and nothing is written.
//! Every other caller (the platform, staff) goes straight to the aggregate, so the checkout's
//! reservations pay nothing for it.

use agora_inventory::{InventoryError, StockItem};
use agora_kernel::{DomainError, ErrorBody, Principal};
use agora_nats::{codec, Handler, RequestContext};
use agora_runtime::AggregateService;
use bytes::Bytes;
use serde::Deserialize;
use sqlx::PgPool;

/// Serves the stock aggregate's endpoints, checking a vendor's SKUs first.
pub struct StockService {
    pub inner: AggregateService<StockItem>,
    /// The event store's database, where `sku_claims` and the product events live.
    pub pool: PgPool,
}

/// Who asks about which SKU, read from a command or a query alike (the fields both
/// `CommandEnvelope` and `QueryEnvelope` carry; the rest is ignored here).
#[derive(Deserialize)]
struct Caller {
    aggregate_id: String,
    principal: Principal,
}

/// The vendor of the product that owns `sku`: `None` when no product owns it, `Some("")` for
/// the shop's own goods.
pub async fn sku_vendor(pool: &PgPool, sku: &str) -> Result<Option<String>, ErrorBody> {
    sqlx::query_scalar::<_, Option<String>>(
        "SELECT e.payload -> 'ProductCreated' ->> 'vendor_id'
         FROM sku_claims c
         JOIN events e ON e.aggregate_type = 'product' AND e.aggregate_id = c.product_id
          AND e.event_type = 'ProductCreated'
         WHERE c.sku = $1
         LIMIT 1",
    )
    .bind(sku)
    .fetch_optional(pool)
    .await
    .map(Option::flatten)
    .map_err(|e| ErrorBody::unavailable(format!("sku vendor: {e}")))
}

impl Handler for StockService {
    async fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        // Both envelopes carry the aggregate id and the principal; a malformed one is left to
        // the aggregate service, which names its precise error.
        if let Ok(Caller {
            aggregate_id,
            principal: Principal::Vendor { vendor, .. },
        }) = codec::decode::<Caller>(&payload)
        {
            let owner = sku_vendor(&self.pool, &aggregate_id).await?;
            if owner.as_deref() != Some(vendor.as_str()) {
                return Err(InventoryError::Forbidden.to_body());
            }
        }
        self.inner.handle(endpoint, ctx, payload).await
    }
}

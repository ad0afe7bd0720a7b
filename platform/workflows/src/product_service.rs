//! `agora.product.*`: the product aggregate plus SKU ownership.
//!
//! A SKU belongs to exactly one product for life. That is a rule across aggregates (each
//! product only knows its own variants), so it is kept here, around the pure product decider:
//! before a command that brings SKUs into a product (`create`, `add_variant`) runs, the
//! service claims them in `sku_claims` (primary key on the SKU; `INSERT .. ON CONFLICT DO
//! NOTHING`), so of two products racing for one SKU, on any number of instances, exactly one
//! gets it; the other is refused with `409 catalog.sku_taken` before anything is written.
//!
//! A claim is taken before the product's events are committed, so a crash in between leaves a
//! claim whose product never got the SKU: the safe way round (the SKU is blocked, never owned
//! twice), and a retry of the same request by the same product re-claims it idempotently. A
//! command the product refuses outright gives back the claims this request took.

use agora_catalog::{CatalogError, Product, ProductCommand};
use agora_kernel::{DomainError, ErrorBody, Sku};
use agora_nats::{CommandEnvelope, Handler, RequestContext};
use agora_runtime::AggregateService;

use crate::claims::{refused, Claimed, Claims};
use bytes::Bytes;
use sqlx::PgPool;

/// Serves the product aggregate's endpoints, claiming SKUs first.
pub struct ProductService {
    /// The plain aggregate service every command ends up in.
    inner: AggregateService<Product>,
    /// The shared pool, where `sku_claims` lives (the event store's database).
    pool: PgPool,
    /// A few connections of their own, each holding one product's claim lock (a transaction
    /// lock, so a dropped request releases it) for as long as that product's command runs.
    /// Kept apart from the shared pool: the command itself needs a connection of the shared
    /// pool to commit, so holding shared connections while waiting for it would starve it
    /// under concurrent creates.
    locks: PgPool,
}

/// Concurrent SKU-bringing commands one instance runs (the rest wait for a session).
const CLAIM_SESSIONS: u32 = 4;

impl ProductService {
    /// Serves `inner`, keeping claims in `pool`'s database (the event store's).
    pub fn new(inner: AggregateService<Product>, pool: &PgPool) -> Self {
        let options = (*pool.connect_options()).clone();
        let locks = sqlx::postgres::PgPoolOptions::new()
            .max_connections(CLAIM_SESSIONS)
            .connect_lazy_with(options);
        ProductService {
            inner,
            pool: pool.clone(),
            locks,
        }
    }
}

/// The SKUs a command brings into its product, sorted (claims are taken in one order, so two
/// requests claiming overlapping sets cannot deadlock).
fn incoming_skus(command: &ProductCommand) -> Vec<Sku> {
    let mut skus: Vec<Sku> = match command {
        ProductCommand::Create { variants, .. } => variants.iter().map(|v| v.sku.clone()).collect(),
        ProductCommand::AddVariant { variant } => vec![variant.sku.clone()],
        _ => vec![],
    };
    skus.sort();
    skus.dedup();
    skus
}

const SKUS: Claims = Claims {
    table: "sku_claims",
    key: "sku",
    owner: "product_id",
};

fn store_error(e: sqlx::Error) -> ErrorBody {
    ErrorBody::unavailable(format!("sku claims: {e}"))
}

impl ProductService {
    /// Claims, runs the command, and gives back fresh claims if the product refused it. Runs
    /// under a per-product advisory lock so that a refusal's give-back cannot remove a claim a
    /// concurrent command on the same product relies on.
    async fn claim_and_run(
        &self,
        envelope: CommandEnvelope<ProductCommand>,
        skus: &[String],
        ctx: RequestContext,
    ) -> Result<Bytes, ErrorBody> {
        let product_id = envelope.aggregate_id.clone();
        let product_id = product_id.as_str();
        let mut lock = self.locks.begin().await.map_err(store_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("agora:sku-claims:{product_id}"))
            .execute(&mut *lock)
            .await
            .map_err(store_error)?;
        let fresh = match SKUS.claim(&self.pool, product_id, skus).await? {
            Claimed::Fresh(fresh) => fresh,
            Claimed::Taken(sku) => {
                let mut e = CatalogError::SkuTaken.to_body();
                e.message = format!("{sku} belongs to another product");
                return Err(e);
            }
        };
        let result = self.inner.execute(envelope, ctx).await;
        if result.as_ref().is_err_and(refused) {
            SKUS.give_back(&self.pool, product_id, &fresh).await?;
        }
        // Ending the transaction releases the lock; if that fails, dropping it rolls back,
        // which releases the lock as well.
        let _ = lock.commit().await;
        result
    }
}

impl Handler for ProductService {
    async fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        if endpoint == agora_kernel::GET {
            return self.inner.handle(endpoint, ctx, payload).await;
        }
        // A malformed command claims nothing: decoding it is its precise error.
        let envelope = agora_nats::decode_command::<Product>(endpoint, &payload)?;
        let skus: Vec<String> = incoming_skus(&envelope.command)
            .iter()
            .map(|s| s.as_str().to_string())
            .collect();
        if skus.is_empty() {
            return self.inner.execute(envelope, ctx).await;
        }
        self.claim_and_run(envelope, &skus, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_catalog::VariantInput;
    use agora_kernel::{Currency, Money};

    fn variant(sku: &str) -> VariantInput {
        VariantInput {
            sku: Sku::parse(sku).expect("sku"),
            title: sku.into(),
            price: Money::new(100, Currency::EUR),
            attributes: Default::default(),
            shipping: Default::default(),
        }
    }

    #[test]
    fn only_commands_that_bring_skus_claim_them_sorted_and_once() {
        let create = ProductCommand::Create {
            title: "t".into(),
            description: String::new(),
            image_urls: vec![],
            category_id: None,
            attributes: Default::default(),
            vendor_id: "acme".into(),
            variants: vec![variant("B"), variant("A"), variant("B")],
        };
        let names = |c: &ProductCommand| -> Vec<String> {
            incoming_skus(c)
                .iter()
                .map(|s| s.as_str().to_string())
                .collect()
        };
        assert_eq!(names(&create), ["A", "B"]);
        let add = ProductCommand::AddVariant {
            variant: variant("C"),
        };
        assert_eq!(names(&add), ["C"]);
        assert!(names(&ProductCommand::Publish {}).is_empty());
    }
}

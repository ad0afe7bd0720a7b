//! `agora.promotion.*`: the promotion aggregate plus code ownership.
//!
//! A code redeems exactly one promotion for life. Each promotion only knows its own codes, so
//! the rule is kept here, around the pure decider, the way [`crate::ProductService`] keeps SKU
//! ownership: before `create` runs, the service claims the promotion's codes in
//! `promotion_codes` (primary key on the code, `INSERT .. ON CONFLICT DO NOTHING`), so of two
//! promotions racing for one code exactly one gets it and the other is refused with
//! `409 promotion.code_taken` before anything is written. A create the promotion refuses gives
//! back the claims it took; a crash between the claim and the commit leaves a code blocked,
//! never owned twice, and a retry of the same create claims it again idempotently.
//!
//! The checkout reads the code → promotion mapping from the same table.

use agora_kernel::{ErrorBody, ErrorKind};
use agora_nats::{codec, CommandEnvelope, Handler, RequestContext};
use agora_promotion::{generate_codes, CodeSpec, Promotion, PromotionCommand};
use agora_runtime::AggregateService;
use bytes::Bytes;
use sqlx::PgPool;

/// Serves the promotion aggregate's endpoints, claiming codes first.
pub struct PromotionService {
    /// The plain aggregate service every command ends up in.
    pub inner: AggregateService<Promotion>,
    /// Where `promotion_codes` lives (the event store's database).
    pub pool: PgPool,
}

fn store_error(e: sqlx::Error) -> ErrorBody {
    ErrorBody::unavailable(format!("promotion codes: {e}"))
}

/// The codes a create brings, sorted (`None`: the spec is invalid; the aggregate says why).
fn incoming_codes(spec: &CodeSpec) -> Option<Vec<String>> {
    let mut codes: Vec<String> = match spec {
        CodeSpec::Automatic => vec![],
        CodeSpec::Code { code } => vec![code.as_str().to_string()],
        CodeSpec::UniqueCodes {
            prefix,
            count,
            seed,
        } => generate_codes(prefix, *count, *seed)?
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
    };
    codes.sort();
    codes.dedup();
    Some(codes)
}

/// Claims `codes` for `promotion_id` in one transaction, all or none; returns the codes this
/// call claimed for the first time.
async fn claim(
    pool: &PgPool,
    promotion_id: &str,
    codes: &[String],
) -> Result<Vec<String>, ErrorBody> {
    let mut tx = pool.begin().await.map_err(store_error)?;
    let fresh: Vec<String> = sqlx::query_scalar(
        "INSERT INTO promotion_codes (code, promotion_id) SELECT c, $1 FROM unnest($2::text[]) AS c
         ON CONFLICT (code) DO NOTHING RETURNING code",
    )
    .bind(promotion_id)
    .bind(codes)
    .fetch_all(&mut *tx)
    .await
    .map_err(store_error)?;
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT code FROM promotion_codes WHERE code = ANY($2) AND promotion_id <> $1 ORDER BY code LIMIT 1",
    )
    .bind(promotion_id)
    .bind(codes)
    .fetch_optional(&mut *tx)
    .await
    .map_err(store_error)?;
    if let Some(code) = taken {
        return Err(ErrorBody::new(
            ErrorKind::Conflict,
            "promotion.code_taken",
            format!("the code {code} belongs to another promotion"),
        ));
    }
    tx.commit().await.map_err(store_error)?;
    Ok(fresh)
}

impl Handler for PromotionService {
    async fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        if endpoint != "create" {
            return self.inner.handle(endpoint, ctx, payload).await;
        }
        // Malformed commands claim nothing; the aggregate service gives the precise error.
        let Ok(raw) = codec::decode::<CommandEnvelope<serde_json::Value>>(&payload) else {
            return self.inner.handle(endpoint, ctx, payload).await;
        };
        let Ok(PromotionCommand::Create { codes, .. }) = serde_json::from_value::<PromotionCommand>(
            serde_json::json!({ endpoint: raw.command }),
        ) else {
            return self.inner.handle(endpoint, ctx, payload).await;
        };
        let codes = incoming_codes(&codes).unwrap_or_default();
        if codes.is_empty() || !agora_nats::subjects::is_token(&raw.aggregate_id) {
            return self.inner.handle(endpoint, ctx, payload).await;
        }
        let fresh = claim(&self.pool, &raw.aggregate_id, &codes).await?;
        let result = self.inner.handle(endpoint, ctx, payload).await;
        if let Err(e) = &result {
            let refused = matches!(
                e.kind,
                ErrorKind::Invalid
                    | ErrorKind::Forbidden
                    | ErrorKind::NotFound
                    | ErrorKind::Conflict
            );
            if refused && !fresh.is_empty() {
                sqlx::query(
                    "DELETE FROM promotion_codes WHERE promotion_id = $1 AND code = ANY($2)",
                )
                .bind(&raw.aggregate_id)
                .bind(&fresh)
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            }
        }
        result
    }
}

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
use agora_nats::{Handler, RequestContext};
use agora_promotion::{generate_codes, CodeSpec, Promotion, PromotionCommand};
use agora_runtime::AggregateService;

use crate::claims::{refused, Claimed, Claims};
use bytes::Bytes;
use sqlx::PgPool;

/// Serves the promotion aggregate's endpoints, claiming codes first.
pub struct PromotionService {
    /// The plain aggregate service every command ends up in.
    pub inner: AggregateService<Promotion>,
    /// Where `promotion_codes` lives (the event store's database).
    pub pool: PgPool,
}

const CODES: Claims = Claims {
    table: "promotion_codes",
    key: "code",
    owner: "promotion_id",
};

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

impl Handler for PromotionService {
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
        let raw = agora_nats::decode_command::<Promotion>(endpoint, &payload)?;
        let codes = match &raw.command {
            PromotionCommand::Create { codes, .. } => incoming_codes(codes).unwrap_or_default(),
            _ => vec![],
        };
        if codes.is_empty() {
            return self.inner.execute(raw, ctx).await;
        }
        let promotion_id = raw.aggregate_id.clone();
        let fresh = match CODES.claim(&self.pool, &promotion_id, &codes).await? {
            Claimed::Fresh(fresh) => fresh,
            Claimed::Taken(code) => {
                return Err(ErrorBody::new(
                    ErrorKind::Conflict,
                    "promotion.code_taken",
                    format!("the code {code} belongs to another promotion"),
                ))
            }
        };
        let result = self.inner.execute(raw, ctx).await;
        if result.as_ref().is_err_and(refused) {
            CODES.give_back(&self.pool, &promotion_id, &fresh).await?;
        }
        result
    }
}

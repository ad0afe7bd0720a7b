//! Payment reconciliation: the provider's statement (what it captured, refunded and charged in
//! fees) against the payments' events, every mismatch stored for staff and counted in the
//! metric `agora_reconciliation_mismatches`. The matching itself is `agora_gateway::reconcile`
//! (pure); this module reads both sides and keeps the result. A nightly job (one process at a
//! time) and `agora reconcile` run it.
//!
//! Both sides cover the same payments: with `since`, our payments first recorded from then on,
//! and the provider's records from then on except those of our payments authorized before
//! (whose earlier history the window cut off). A record naming a payment we never had is
//! always reported.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use agora_gateway::{FeeRule, Mismatch, OurPayment, ProviderStatement};
use agora_kernel::Decider;
use agora_payment::Payment;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::PgPool;

/// The advisory-lock key that lets one process at a time run the nightly reconciliation.
const RECONCILE_LOCK: i64 = 0x4147_4f52_5245_434e; // "AGORRECN"

/// What one run compared and found.
#[derive(Debug, Serialize)]
pub struct Run {
    pub id: i64,
    pub provider: String,
    pub since: Option<DateTime<Utc>>,
    pub payments: u64,
    pub records: u64,
    pub fee_rule: Option<String>,
    pub mismatches: Vec<Mismatch>,
}

/// Every payment's state from its events (one ordered pass over the payment streams), with
/// the time of its first event.
async fn our_payments(pool: &PgPool) -> anyhow::Result<Vec<(OurPayment, DateTime<Utc>)>> {
    let mut rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
         FROM events WHERE aggregate_type = 'payment' ORDER BY aggregate_id, sequence",
    )
    .fetch(pool);
    let mut out = Vec::new();
    let mut current: Option<(String, Payment, u64, DateTime<Utc>)> = None;
    let finish = |(id, payment, version, first): (String, Payment, u64, DateTime<Utc>),
                  out: &mut Vec<(OurPayment, DateTime<Utc>)>| {
        if let Some(ours) = OurPayment::from_view(&payment.view(&id, version)) {
            out.push((ours, first));
        }
    };
    while let Some(row) = rows.try_next().await? {
        let e = agora_runtime::row_to_event(&row);
        if current.as_ref().map(|c| c.0.as_str()) != Some(e.aggregate_id.as_str()) {
            if let Some(done) = current.take() {
                finish(done, &mut out);
            }
            current = Some((
                e.aggregate_id.clone(),
                Payment::default(),
                0,
                e.recorded_at().unwrap_or_else(Utc::now),
            ));
        }
        if let Some((_, payment, version, _)) = current.as_mut() {
            let event: <Payment as Decider>::Event = serde_json::from_value(e.payload.clone())?;
            payment.evolve(&event);
            *version = e.sequence;
        }
    }
    if let Some(done) = current.take() {
        finish(done, &mut out);
    }
    Ok(out)
}

/// Reconciles the provider's statement against our payments and stores the run.
pub async fn run(
    pool: &PgPool,
    statement: &dyn ProviderStatement,
    provider: &str,
    fees: Option<FeeRule>,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<Run> {
    let started_at = Utc::now();
    let all = our_payments(pool).await?;
    let (ours, before): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(_, first)| since.is_none_or(|s| *first >= s));
    let cut_off: HashSet<String> = before.into_iter().map(|(p, _)| p.provider_ref).collect();
    let ours: Vec<OurPayment> = ours.into_iter().map(|(p, _)| p).collect();
    let from = since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let theirs: Vec<_> = statement
        .records(from, Utc::now() + chrono::Duration::seconds(1))
        .await
        .map_err(|e| anyhow::anyhow!("the provider's statement: {e}"))?
        .into_iter()
        .filter(|r| !cut_off.contains(&r.provider_ref))
        .collect();
    let mismatches = agora_gateway::reconcile(&ours, &theirs, fees.as_ref());

    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO reconciliation_runs (started_at, finished_at, provider, since, payments, records, mismatches, fee_rule)
         VALUES ($1, now(), $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(started_at)
    .bind(provider)
    .bind(since)
    .bind(ours.len() as i64)
    .bind(theirs.len() as i64)
    .bind(mismatches.len() as i64)
    .bind(fees.map(|f| f.to_string()))
    .fetch_one(&mut *tx)
    .await?;
    for (n, m) in mismatches.iter().enumerate() {
        let currency = m.ours.or(m.theirs).map(|money| money.currency.to_string());
        sqlx::query(
            "INSERT INTO reconciliation_mismatches
               (run_id, n, kind, payment_id, provider_ref, currency, ours_minor, theirs_minor, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(n as i32)
        .bind(m.kind.as_str())
        .bind(&m.payment_id)
        .bind(&m.provider_ref)
        .bind(currency)
        .bind(m.ours.map(|x| x.amount_minor))
        .bind(m.theirs.map(|x| x.amount_minor))
        .bind(&m.detail)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    record_metrics(&mismatches);
    Ok(Run {
        id,
        provider: provider.to_string(),
        since,
        payments: ours.len() as u64,
        records: theirs.len() as u64,
        fee_rule: fees.map(|f| f.to_string()),
        mismatches,
    })
}

/// Sets `agora_reconciliation_mismatches{kind}` to the last run's counts (0 for kinds it did
/// not find, so an alert resolves).
fn record_metrics(mismatches: &[Mismatch]) {
    use agora_gateway::MismatchKind as K;
    for kind in [
        K::CapturedHereNotThere,
        K::CapturedThereNotHere,
        K::CaptureAmountDiffers,
        K::RefundMissingThere,
        K::RefundMissingHere,
        K::RefundAmountDiffers,
        K::FeeDiffers,
        K::CurrencyDiffers,
    ] {
        let n = mismatches.iter().filter(|m| m.kind == kind).count();
        metrics::gauge!("agora_reconciliation_mismatches", "kind" => kind.as_str()).set(n as f64);
    }
    metrics::gauge!("agora_reconciliation_last_run_timestamp_seconds")
        .set(Utc::now().timestamp() as f64);
}

/// Reconciles every `every` (the last `window` of payments), in one process at a time, until
/// `shutdown` resolves. The first run is one period after start-up.
pub async fn nightly(
    pool: PgPool,
    statement: Arc<dyn ProviderStatement>,
    provider: String,
    fees: Option<FeeRule>,
    every: Duration,
    window: chrono::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let job_pool = pool.clone();
    let job = move || {
        let (pool, statement, provider) = (job_pool.clone(), statement.clone(), provider.clone());
        async move {
            let since = Utc::now() - window;
            match run(&pool, statement.as_ref(), &provider, fees, Some(since)).await {
                Ok(r) if r.mismatches.is_empty() => {
                    tracing::info!(
                        run = r.id,
                        payments = r.payments,
                        "payments reconciled: no mismatch"
                    )
                }
                Ok(r) => tracing::warn!(
                    run = r.id,
                    mismatches = r.mismatches.len(),
                    "payments reconciled: mismatches found"
                ),
                Err(e) => tracing::error!(error = %e, "payment reconciliation failed"),
            }
        }
    };
    crate::singleton::every(pool, RECONCILE_LOCK, every, false, job, shutdown).await
}

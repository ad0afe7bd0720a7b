//! Stripe's statement: its balance transactions.
//!
//! `GET /v1/balance_transactions?created[gte]=…&created[lt]=…&limit=100&expand[]=data.source`,
//! following `has_more` with `starting_after=<last id>` until the last page. Each transaction
//! becomes at most one record:
//! - `charge`, `payment` → a capture: the source is the charge; its `payment_intent` is the
//!   `provider_ref` (the charge's own id for a charge made without one); amount and fee are the
//!   transaction's.
//! - `refund`, `payment_refund` → a refund: the source is the refund; its `payment_intent` (or
//!   its `charge`) is the `provider_ref`, its id the `refund_ref`, its metadata
//!   `agora_refund_id` our refund id; the transaction's (negative) amount is negated.
//! - `refund_failure` → the same refund, reversed: a negative refund that cancels it.
//! - anything else (payouts, Stripe's own fees, disputes, transfers) is left out.
//!
//! Stripe gives amounts in the currency's smallest unit, as [`Money`] keeps them; currencies
//! are upper-cased. A transaction settled in another currency than the charge's (a conversion)
//! takes its amount from the source, in the charge's currency, and keeps its fee in the
//! settlement currency, which the matcher then does not check.
//!
//! Stripe's `created` is in whole seconds, so the range `[from, to)` is asked as
//! `created[gte]=⌈from⌉` and `created[lt]=⌈to⌉`, which selects exactly the same transactions.
//! A transaction we cannot read is `Rejected { code: "malformed_statement" }`, never skipped:
//! a skipped record would hide a mismatch.

use agora_kernel::{Currency, Money};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{ProviderRecord, ProviderStatement, RecordKind};
use crate::stripe::Refusal;
use crate::{GatewayError, StripeGateway};

/// How many transactions a page holds (Stripe's maximum).
const PAGE_SIZE: &str = "100";

/// One page of `GET /v1/balance_transactions`.
#[derive(Debug, Deserialize)]
struct Page {
    data: Vec<BalanceTransaction>,
    has_more: bool,
}

/// Stripe's balance transaction, the fields we use.
#[derive(Debug, Deserialize)]
struct BalanceTransaction {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    amount: i64,
    currency: String,
    fee: i64,
    created: i64,
    /// The charge or refund, expanded; an id if it was not, or `null`.
    #[serde(default)]
    source: Option<Value>,
}

fn malformed(id: &str, what: &str) -> GatewayError {
    GatewayError::rejected(
        "malformed_statement",
        format!("Stripe balance transaction {id}: {what}"),
    )
}

fn currency(id: &str, code: &str) -> Result<Currency, GatewayError> {
    Currency::parse(&code.to_ascii_uppercase()).map_err(|_| malformed(id, "unknown currency"))
}

/// A field that is an id, or an expanded object with an id.
fn id_field<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    let value = object.get(field)?;
    value
        .as_str()
        .or_else(|| value.get("id").and_then(Value::as_str))
}

/// Whole seconds at or after `t`.
fn ceil_seconds(t: DateTime<Utc>) -> i64 {
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

fn record(txn: BalanceTransaction) -> Result<Option<ProviderRecord>, GatewayError> {
    let kind = match txn.kind.as_str() {
        "charge" | "payment" => RecordKind::Capture,
        "refund" | "payment_refund" | "refund_failure" => RecordKind::Refund,
        _ => return Ok(None),
    };
    let id = txn.id.as_str();
    let source = txn
        .source
        .as_ref()
        .filter(|s| s.is_object())
        .ok_or_else(|| malformed(id, "the source is not expanded"))?;
    let source_id = id_field(source, "id").ok_or_else(|| malformed(id, "the source has no id"))?;
    let settled = currency(id, &txn.currency)?;
    // Money back to the shopper is positive; Stripe's transactions count it from our balance.
    let sign = match kind {
        RecordKind::Capture => 1,
        RecordKind::Refund => -1,
    };
    let presented = match source.get("currency").and_then(Value::as_str) {
        Some(code) => currency(id, code)?,
        None => settled,
    };
    let signed = txn
        .amount
        .checked_mul(sign)
        .ok_or_else(|| malformed(id, "the amount is out of range"))?;
    let amount = if presented == settled {
        Money::new(signed, settled)
    } else {
        // Converted: the charge's own amount, in the charge's currency.
        let field = match kind {
            RecordKind::Capture if source.get("amount_captured").is_some() => "amount_captured",
            _ => "amount",
        };
        let minor = source
            .get(field)
            .and_then(Value::as_i64)
            .ok_or_else(|| malformed(id, "the source has no amount"))?;
        let minor = minor
            .checked_mul(signed.signum())
            .ok_or_else(|| malformed(id, "the amount is out of range"))?;
        Money::new(minor, presented)
    };
    let fee = Money::new(txn.fee, settled);
    let at = DateTime::<Utc>::from_timestamp(txn.created, 0)
        .ok_or_else(|| malformed(id, "the creation time is out of range"))?;
    let record = match kind {
        RecordKind::Capture => ProviderRecord {
            id: txn.id.clone(),
            kind,
            provider_ref: id_field(source, "payment_intent")
                .unwrap_or(source_id)
                .to_string(),
            refund_ref: None,
            our_refund_id: None,
            amount,
            fee,
            at,
        },
        RecordKind::Refund => ProviderRecord {
            id: txn.id.clone(),
            kind,
            provider_ref: id_field(source, "payment_intent")
                .or_else(|| id_field(source, "charge"))
                .ok_or_else(|| malformed(id, "the refund names no payment"))?
                .to_string(),
            refund_ref: Some(source_id.to_string()),
            our_refund_id: source
                .get("metadata")
                .and_then(|m| m.get("agora_refund_id"))
                .and_then(Value::as_str)
                .map(str::to_string),
            amount,
            fee,
            at,
        },
    };
    Ok(Some(record))
}

#[async_trait::async_trait]
impl ProviderStatement for StripeGateway {
    #[tracing::instrument(name = "stripe.statement", skip_all, fields(%from, %to))]
    async fn records(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ProviderRecord>, GatewayError> {
        let (gte, lt) = (ceil_seconds(from), ceil_seconds(to));
        let mut records = Vec::new();
        if gte >= lt {
            return Ok(records);
        }
        let mut after: Option<String> = None;
        let mut pages = 0_usize;
        loop {
            let mut query = vec![
                ("created[gte]", gte.to_string()),
                ("created[lt]", lt.to_string()),
                ("limit", PAGE_SIZE.to_string()),
                ("expand[]", "data.source".to_string()),
            ];
            if let Some(last) = &after {
                query.push(("starting_after", last.clone()));
            }
            let page: Page = self
                .api()
                .get_with_query("/v1/balance_transactions", &query)
                .await?
                .map_err(Refusal::into_rejected)?;
            pages += 1;
            let last = page.data.last().map(|t| t.id.clone());
            for txn in page.data {
                records.extend(record(txn)?);
            }
            match (page.has_more, last) {
                (false, _) => break,
                (true, Some(last)) => after = Some(last),
                (true, None) => {
                    return Err(GatewayError::rejected(
                        "malformed_statement",
                        "Stripe announced more balance transactions after an empty page",
                    ))
                }
            }
        }
        tracing::debug!(pages, records = records.len(), "read Stripe's statement");
        records.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(records)
    }
}

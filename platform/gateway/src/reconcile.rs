//! Payment reconciliation: the provider's record of the money it moved, against ours.
//!
//! Staff import the provider's statement ([`ProviderStatement::records`]: captures and refunds
//! with their fees, [`ProviderRecord`]), take what our event store says of the same payments
//! ([`OurPayment`], built from the payment aggregate or its view), and list every difference
//! with the pure [`reconcile`]. Two adapters implement the port:
//!
//! - [`crate::TestGateway`]: its own log of the captures and refunds it really performed
//!   (`test_gateway_operations`), with the fee it charged,
//!   [`TestGateway::FEES`](crate::TestGateway::FEES)
//!   (2.9 % + 30 minor units per capture; a refund costs nothing).
//! - [`crate::StripeGateway`]: Stripe's balance transactions
//!   (`GET /v1/balance_transactions`, every page, sources expanded).
//!
//! # How the matcher pairs things
//! - Payments are paired by `provider_ref` (the provider's payment intent). Every capture record
//!   of a payment is summed, so a capture the provider split in several transactions matches
//!   our one capture. A payment nothing was captured for, on either side, is not a mismatch.
//! - Refunds are paired by the provider's refund id when we know it
//!   ([`OurRefund::provider_refund_id`]), otherwise by our refund id, which both providers
//!   echo back ([`ProviderRecord::our_refund_id`]: Stripe's metadata `agora_refund_id`). The
//!   payment aggregate does not keep the provider's refund id, so [`OurPayment::from_view`]
//!   leaves it `None` and pairing is by our id. Records of one provider refund are summed (a
//!   Stripe `refund_failure` is a negative refund that cancels it).
//! - Only money counts: a refund of ours still pending is not expected at the provider (it may
//!   be in flight), but if the provider already refunded it, that is reported as
//!   [`MismatchKind::RefundMissingHere`]; a failed refund of ours is ignored.
//! - Records are de-duplicated by id, so overlapping statements may be concatenated.
//! - Disputes are not reconciled (neither side lists them here).
//!
//! The matcher compares complete histories: `theirs` must hold every capture and refund of the
//! payments in `ours`, and `ours` every payment the records name (including payments we never
//! captured, so that a capture made only at the provider is reported with our payment id).
//! What one side lacks because it was cut off by a time window is reported as missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use agora_kernel::{Currency, Decider, Money};
use agora_payment::{Payment, PaymentView, RefundStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::GatewayError;

mod stripe;
mod test;
#[cfg(test)]
mod tests;

/// A payment provider's statement: the money it moved for us.
#[async_trait::async_trait]
pub trait ProviderStatement: Send + Sync {
    /// The captures and refunds the provider recorded at `from <= at < to`, oldest first.
    /// Other movements (payouts, the provider's own fees, disputes) are left out.
    async fn records(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ProviderRecord>, GatewayError>;
}

/// What a provider record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Money taken from the shopper (all or part of an authorization).
    Capture,
    /// Money given back to the shopper; a negative amount reverses an earlier refund.
    Refund,
}

/// One entry of the provider's statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRecord {
    /// The provider's transaction id (Stripe's balance transaction `txn_…`; `txn_test_<n>`).
    pub id: String,
    pub kind: RecordKind,
    /// The payment intent the money belongs to (our payment's `provider_ref`).
    pub provider_ref: String,
    /// The provider's refund id (`re_…`), for a refund.
    #[serde(default)]
    pub refund_ref: Option<String>,
    /// Our refund id, echoed back by the provider (Stripe metadata `agora_refund_id`), for a
    /// refund we asked for.
    #[serde(default)]
    pub our_refund_id: Option<String>,
    /// In the payment's currency: positive for a capture and for a refund (money back to the
    /// shopper); negative for the reversal of a refund.
    pub amount: Money,
    /// What the provider charged for this transaction (zero for a refund, usually). In the
    /// currency the provider settled in, which may differ from `amount`'s.
    pub fee: Money,
    pub at: DateTime<Utc>,
}

/// One refund of ours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OurRefund {
    /// Our refund id (`RefundRequested.refund_id`).
    pub refund_id: String,
    /// The provider's refund id, if we recorded it (the payment aggregate does not).
    #[serde(default)]
    pub provider_refund_id: Option<String>,
    pub amount: Money,
    /// Succeeded refunds are expected at the provider; pending ones only identify a provider
    /// refund we have not recorded yet; failed ones are ignored.
    pub status: RefundStatus,
}

/// What our event store says of one payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OurPayment {
    /// Our payment id (the order id: the payment's stream id).
    pub payment_id: String,
    /// The provider's payment intent.
    pub provider_ref: String,
    /// Zero (in the payment's currency) until captured.
    pub captured: Money,
    pub refunds: Vec<OurRefund>,
}

impl OurPayment {
    /// From the payment's view (what the back office reads). `None` for a payment that never
    /// reached the provider (no `provider_ref`): the provider cannot know it, and nothing of
    /// it was captured. Failed refunds are left out.
    pub fn from_view(view: &PaymentView) -> Option<OurPayment> {
        let provider_ref = view.provider_ref.clone()?;
        Some(OurPayment {
            payment_id: view.id.clone(),
            provider_ref,
            captured: view.captured,
            refunds: view
                .refunds
                .iter()
                .filter(|r| r.status != RefundStatus::Failed)
                .map(|r| OurRefund {
                    refund_id: r.refund_id.clone(),
                    provider_refund_id: None,
                    amount: r.amount,
                    status: r.status,
                })
                .collect(),
        })
    }

    /// From the payment aggregate folded from stream `id` (the order id); see
    /// [`OurPayment::from_view`].
    pub fn from_payment(id: &str, payment: &Payment) -> Option<OurPayment> {
        OurPayment::from_view(&payment.view(id, 0))
    }
}

/// A fee schedule: `percent_bp` basis points of the amount plus `fixed` minor units.
/// Written `"2.9%+30"`, `"1.4% + 25"`, `"2.9%"` or `"0%+30"` (at most two decimals: a basis
/// point); [`Display`](fmt::Display) writes the same form back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeeRule {
    /// Hundredths of a percent: 2.9 % is 290.
    pub percent_bp: i64,
    /// Minor units of the amount's currency, per transaction.
    pub fixed: i64,
}

impl FeeRule {
    /// The fee on `amount`, in its currency: `amount × percent_bp / 10 000`, rounded to the
    /// nearest minor unit with halves away from zero (72.5 → 73), plus `fixed`. Integer
    /// arithmetic only; saturates at `i64`'s bounds.
    pub fn expected(&self, amount: Money) -> Money {
        let product = i128::from(amount.amount_minor) * i128::from(self.percent_bp);
        let (quotient, remainder) = (product / 10_000, product % 10_000);
        let rounded = if remainder.abs() * 2 >= 10_000 {
            quotient + product.signum()
        } else {
            quotient
        };
        let total = rounded + i128::from(self.fixed);
        let total = i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX });
        Money::new(total, amount.currency)
    }
}

/// Why a fee rule could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("invalid fee rule {input:?}: {reason} (expected e.g. \"2.9%+30\")")]
pub struct FeeRuleError {
    input: String,
    reason: &'static str,
}

impl FromStr for FeeRule {
    type Err = FeeRuleError;

    fn from_str(input: &str) -> Result<FeeRule, FeeRuleError> {
        let error = |reason| FeeRuleError {
            input: input.to_string(),
            reason,
        };
        let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let (percent, fixed) = compact
            .split_once('%')
            .ok_or_else(|| error("the percentage must end with %"))?;
        let fixed = match fixed {
            "" => "0",
            rest => rest
                .strip_prefix('+')
                .ok_or_else(|| error("the fixed part must follow a +"))?,
        };
        let (units, hundredths) = match percent.split_once('.') {
            None => (percent, ""),
            Some((units, decimals)) if !decimals.is_empty() && decimals.len() <= 2 => {
                (units, decimals)
            }
            Some(_) => {
                return Err(error(
                    "the percentage takes one or two decimals (a basis point)",
                ))
            }
        };
        let digits = |s: &str, max: usize| {
            (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<i64>().ok())
                .flatten()
        };
        let units = digits(units, 3).ok_or_else(|| error("the percentage is not a number"))?;
        let decimals = match hundredths.len() {
            0 => 0,
            1 => {
                10 * digits(hundredths, 1).ok_or_else(|| error("the percentage is not a number"))?
            }
            _ => digits(hundredths, 2).ok_or_else(|| error("the percentage is not a number"))?,
        };
        let percent_bp = units * 100 + decimals;
        if percent_bp > 10_000 {
            return Err(error("the percentage exceeds 100%"));
        }
        let fixed = digits(fixed, 18)
            .ok_or_else(|| error("the fixed part is not a whole number of minor units"))?;
        Ok(FeeRule { percent_bp, fixed })
    }
}

impl fmt::Display for FeeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (units, hundredths) = (self.percent_bp / 100, self.percent_bp % 100);
        match hundredths {
            0 => write!(f, "{units}%")?,
            h if h % 10 == 0 => write!(f, "{units}.{}%", h / 10)?,
            h => write!(f, "{units}.{h:02}%")?,
        }
        if self.fixed != 0 {
            write!(f, "+{}", self.fixed)?;
        }
        Ok(())
    }
}

/// What differs between the provider's record and ours. Ordered as listed (the order of
/// [`reconcile`]'s output within one payment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// We recorded a capture; the provider has none.
    CapturedHereNotThere,
    /// The provider captured; we recorded no capture (or do not know the payment at all).
    CapturedThereNotHere,
    /// Both captured, different amounts (the provider's records of the payment summed).
    CaptureAmountDiffers,
    /// We recorded a refund (succeeded) the provider has no record of, or reversed.
    RefundMissingThere,
    /// The provider refunded; we recorded no such refund, or ours is still pending.
    RefundMissingHere,
    /// Both refunded, different amounts.
    RefundAmountDiffers,
    /// The fees on a payment's captures differ from the fee rule's (only with a rule).
    FeeDiffers,
    /// The provider's records of the payment are not in its currency; its amounts are not
    /// compared.
    CurrencyDiffers,
}

impl MismatchKind {
    /// The serialized name (`captured_here_not_there`), for metric labels and tables.
    pub fn as_str(&self) -> &'static str {
        match self {
            MismatchKind::CapturedHereNotThere => "captured_here_not_there",
            MismatchKind::CapturedThereNotHere => "captured_there_not_here",
            MismatchKind::CaptureAmountDiffers => "capture_amount_differs",
            MismatchKind::RefundMissingThere => "refund_missing_there",
            MismatchKind::RefundMissingHere => "refund_missing_here",
            MismatchKind::RefundAmountDiffers => "refund_amount_differs",
            MismatchKind::FeeDiffers => "fee_differs",
            MismatchKind::CurrencyDiffers => "currency_differs",
        }
    }
}

impl fmt::Display for MismatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference, for staff to look into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub kind: MismatchKind,
    /// Our payment, when we know one with this `provider_ref`.
    pub payment_id: Option<String>,
    pub provider_ref: String,
    /// Our amount: the capture, the refund, or the fee the rule expects.
    pub ours: Option<Money>,
    /// The provider's amount: its captures summed, its refund, or the fees it charged.
    pub theirs: Option<Money>,
    /// What differs, in words, with the ids involved (refund and transaction ids).
    pub detail: String,
}

/// Every mismatch between our payments and the provider's records, ordered by `provider_ref`,
/// then kind, then detail. Pure; see the [module documentation](self) for how things pair.
/// With a fee rule, the provider's fees on each payment's captures are checked against it.
pub fn reconcile(
    ours: &[OurPayment],
    theirs: &[ProviderRecord],
    fees: Option<&FeeRule>,
) -> Vec<Mismatch> {
    let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    for payment in ours {
        groups
            .entry(payment.provider_ref.as_str())
            .or_default()
            .ours
            .push(payment);
    }
    let mut seen = BTreeSet::new();
    for record in theirs.iter().filter(|r| seen.insert(r.id.as_str())) {
        let group = groups.entry(record.provider_ref.as_str()).or_default();
        match record.kind {
            RecordKind::Capture => group.captures.push(record),
            RecordKind::Refund => group.refunds.push(record),
        }
    }
    let mut out = Vec::new();
    for (provider_ref, mut group) in groups {
        group.provider_ref = provider_ref;
        group.ours.sort_by(|a, b| a.payment_id.cmp(&b.payment_id));
        group
            .captures
            .sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        group
            .refunds
            .sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        group.check(fees, &mut out);
    }
    out.sort_by(|a, b| {
        (&a.provider_ref, a.kind, &a.detail).cmp(&(&b.provider_ref, b.kind, &b.detail))
    });
    out
}

/// Everything known of one `provider_ref`, from both sides.
#[derive(Default)]
struct Group<'a> {
    provider_ref: &'a str,
    ours: Vec<&'a OurPayment>,
    captures: Vec<&'a ProviderRecord>,
    refunds: Vec<&'a ProviderRecord>,
}

/// One provider refund: its records summed.
struct TheirRefund<'a> {
    key: &'a str,
    refund_ref: Option<&'a str>,
    our_refund_id: Option<&'a str>,
    amount_minor: i64,
    matched: bool,
}

fn show(money: Money) -> String {
    format!("{} {}", money.amount_minor, money.currency)
}

fn ids(records: &[&ProviderRecord]) -> String {
    records
        .iter()
        .map(|r| r.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn sum(amounts: impl IntoIterator<Item = i64>) -> i64 {
    amounts.into_iter().fold(0, i64::saturating_add)
}

impl<'a> Group<'a> {
    fn report(
        &self,
        out: &mut Vec<Mismatch>,
        kind: MismatchKind,
        ours: Option<Money>,
        theirs: Option<Money>,
        detail: String,
    ) {
        out.push(Mismatch {
            kind,
            payment_id: self.ours.first().map(|p| p.payment_id.clone()),
            provider_ref: self.provider_ref.to_string(),
            ours,
            theirs,
            detail,
        });
    }

    fn check(&self, fees: Option<&FeeRule>, out: &mut Vec<Mismatch>) {
        let records = || self.captures.iter().chain(&self.refunds).copied();
        let Some(currency) = self
            .ours
            .first()
            .map(|p| p.captured.currency)
            .or_else(|| records().next().map(|r| r.amount.currency))
        else {
            return;
        };
        let our_captured = sum(self.ours.iter().map(|p| p.captured.amount_minor));
        let our_capture = (our_captured != 0).then(|| Money::new(our_captured, currency));

        let foreign: Vec<&ProviderRecord> = records()
            .filter(|r| r.amount.currency != currency)
            .collect();
        if let Some(first) = foreign.first() {
            let detail = format!(
                "the payment is in {currency}; the provider recorded {} in {}",
                ids(&foreign),
                first.amount.currency
            );
            self.report(
                out,
                MismatchKind::CurrencyDiffers,
                our_capture,
                Some(first.amount),
                detail,
            );
            return;
        }

        self.check_capture(our_capture, currency, out);
        self.check_refunds(currency, out);
        if let Some(rule) = fees {
            self.check_fees(rule, currency, out);
        }
    }

    fn check_capture(
        &self,
        our_capture: Option<Money>,
        currency: Currency,
        out: &mut Vec<Mismatch>,
    ) {
        let their_captured = sum(self.captures.iter().map(|r| r.amount.amount_minor));
        let their_capture = (their_captured != 0).then(|| Money::new(their_captured, currency));
        let ids = ids(&self.captures);
        match (our_capture, their_capture) {
            (None, None) => {}
            (Some(ours), None) => self.report(
                out,
                MismatchKind::CapturedHereNotThere,
                Some(ours),
                None,
                format!(
                    "we recorded a capture of {}; the provider has none",
                    show(ours)
                ),
            ),
            (None, Some(theirs)) => {
                let ours = if self.ours.is_empty() {
                    "we know no payment with this reference"
                } else {
                    "we recorded no capture"
                };
                self.report(
                    out,
                    MismatchKind::CapturedThereNotHere,
                    None,
                    Some(theirs),
                    format!("the provider captured {} ({ids}); {ours}", show(theirs)),
                )
            }
            (Some(ours), Some(theirs)) if ours != theirs => self.report(
                out,
                MismatchKind::CaptureAmountDiffers,
                Some(ours),
                Some(theirs),
                format!(
                    "we recorded a capture of {}; the provider captured {} ({ids})",
                    show(ours),
                    show(theirs)
                ),
            ),
            (Some(_), Some(_)) => {}
        }
    }

    fn their_refunds(&self) -> Vec<TheirRefund<'a>> {
        let mut refunds: Vec<TheirRefund<'a>> = Vec::new();
        for record in &self.refunds {
            let key = record.refund_ref.as_deref().unwrap_or(&record.id);
            match refunds.iter_mut().find(|r| r.key == key) {
                Some(refund) => {
                    refund.amount_minor = refund
                        .amount_minor
                        .saturating_add(record.amount.amount_minor);
                    refund.our_refund_id = refund.our_refund_id.or(record.our_refund_id.as_deref());
                }
                None => refunds.push(TheirRefund {
                    key,
                    refund_ref: record.refund_ref.as_deref(),
                    our_refund_id: record.our_refund_id.as_deref(),
                    amount_minor: record.amount.amount_minor,
                    matched: false,
                }),
            }
        }
        refunds
    }

    fn check_refunds(&self, currency: Currency, out: &mut Vec<Mismatch>) {
        let mut theirs = self.their_refunds();
        let mut ours: Vec<&OurRefund> = self
            .ours
            .iter()
            .flat_map(|p| &p.refunds)
            .filter(|r| r.status != RefundStatus::Failed)
            .collect();
        ours.sort_by(|a, b| a.refund_id.cmp(&b.refund_id));
        for refund in ours {
            let by_provider_id = refund.provider_refund_id.as_deref().and_then(|id| {
                theirs
                    .iter()
                    .position(|t| !t.matched && t.refund_ref == Some(id))
            });
            let found = by_provider_id.or_else(|| {
                theirs
                    .iter()
                    .position(|t| !t.matched && t.our_refund_id == Some(refund.refund_id.as_str()))
            });
            let matched = found.and_then(|i| theirs.get_mut(i)).map(|t| {
                t.matched = true;
                (t.key, t.amount_minor)
            });
            let id = &refund.refund_id;
            match (refund.status, matched) {
                (RefundStatus::Succeeded, None) => self.report(
                    out,
                    MismatchKind::RefundMissingThere,
                    Some(refund.amount),
                    None,
                    format!(
                        "our refund {id} of {} is not in the provider's record",
                        show(refund.amount)
                    ),
                ),
                (RefundStatus::Succeeded, Some((key, 0))) => self.report(
                    out,
                    MismatchKind::RefundMissingThere,
                    Some(refund.amount),
                    None,
                    format!(
                        "our refund {id} of {} was reversed at the provider ({key})",
                        show(refund.amount)
                    ),
                ),
                (RefundStatus::Succeeded, Some((key, amount)))
                    if amount != refund.amount.amount_minor =>
                {
                    let theirs = Money::new(amount, currency);
                    self.report(
                        out,
                        MismatchKind::RefundAmountDiffers,
                        Some(refund.amount),
                        Some(theirs),
                        format!(
                            "our refund {id} is {}; the provider refunded {} ({key})",
                            show(refund.amount),
                            show(theirs)
                        ),
                    )
                }
                (RefundStatus::Pending, Some((key, amount))) if amount != 0 => {
                    let theirs = Money::new(amount, currency);
                    self.report(
                        out,
                        MismatchKind::RefundMissingHere,
                        None,
                        Some(theirs),
                        format!(
                            "the provider refunded {} ({key}); our refund {id} is still pending",
                            show(theirs)
                        ),
                    )
                }
                _ => {}
            }
        }
        for refund in theirs.iter().filter(|t| !t.matched && t.amount_minor != 0) {
            let theirs = Money::new(refund.amount_minor, currency);
            let ours = match refund.our_refund_id {
                Some(id) => format!("we recorded no refund {id}"),
                None => "we recorded no such refund".to_string(),
            };
            self.report(
                out,
                MismatchKind::RefundMissingHere,
                None,
                Some(theirs),
                format!(
                    "the provider refunded {} ({}); {ours}",
                    show(theirs),
                    refund.key
                ),
            );
        }
    }

    /// The fees on the captures whose fee is in the capture's currency (a fee converted to
    /// another settlement currency cannot be checked against the rule).
    fn check_fees(&self, rule: &FeeRule, currency: Currency, out: &mut Vec<Mismatch>) {
        let checked: Vec<&ProviderRecord> = self
            .captures
            .iter()
            .copied()
            .filter(|r| r.fee.currency == r.amount.currency)
            .collect();
        if checked.is_empty() {
            return;
        }
        let expected = Money::new(
            sum(checked.iter().map(|r| rule.expected(r.amount).amount_minor)),
            currency,
        );
        let charged = Money::new(sum(checked.iter().map(|r| r.fee.amount_minor)), currency);
        if expected != charged {
            self.report(
                out,
                MismatchKind::FeeDiffers,
                Some(expected),
                Some(charged),
                format!(
                    "the provider charged {} in fees ({}); the rule {rule} expects {}",
                    show(charged),
                    ids(&checked),
                    show(expected)
                ),
            );
        }
    }
}

//! The matcher, the fee rule and `OurPayment`'s construction, given / when / then.

use agora_kernel::{Currency, Decider, Money};
use agora_payment::{Payment, PaymentEvent, RefundStatus};
use chrono::{DateTime, TimeDelta, Utc};

use super::*;

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

fn usd(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::USD)
}

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000) + TimeDelta::minutes(minutes)
}

const RULE: FeeRule = FeeRule {
    percent_bp: 290,
    fixed: 30,
};

/// A payment of ours with `captured_minor` captured (zero: not captured).
fn ours(payment_id: &str, provider_ref: &str, captured_minor: i64) -> OurPayment {
    OurPayment {
        payment_id: payment_id.to_string(),
        provider_ref: provider_ref.to_string(),
        captured: eur(captured_minor),
        refunds: vec![],
    }
}

fn refunded(mut payment: OurPayment, refund_id: &str, amount_minor: i64) -> OurPayment {
    payment.refunds.push(OurRefund {
        refund_id: refund_id.to_string(),
        provider_refund_id: None,
        amount: eur(amount_minor),
        status: RefundStatus::Succeeded,
    });
    payment
}

fn with_refund(
    mut payment: OurPayment,
    refund_id: &str,
    amount_minor: i64,
    status: RefundStatus,
) -> OurPayment {
    payment.refunds.push(OurRefund {
        refund_id: refund_id.to_string(),
        provider_refund_id: None,
        amount: eur(amount_minor),
        status,
    });
    payment
}

/// A provider capture charged exactly the rule's fee.
fn capture(id: &str, provider_ref: &str, amount_minor: i64) -> ProviderRecord {
    ProviderRecord {
        id: id.to_string(),
        kind: RecordKind::Capture,
        provider_ref: provider_ref.to_string(),
        refund_ref: None,
        our_refund_id: None,
        amount: eur(amount_minor),
        fee: RULE.expected(eur(amount_minor)),
        at: at(0),
    }
}

/// A provider refund that echoes our refund id.
fn refund(
    id: &str,
    provider_ref: &str,
    refund_ref: &str,
    our_refund_id: Option<&str>,
    amount_minor: i64,
) -> ProviderRecord {
    ProviderRecord {
        id: id.to_string(),
        kind: RecordKind::Refund,
        provider_ref: provider_ref.to_string(),
        refund_ref: Some(refund_ref.to_string()),
        our_refund_id: our_refund_id.map(str::to_string),
        amount: eur(amount_minor),
        fee: eur(0),
        at: at(10),
    }
}

/// The one mismatch of a reconciliation, or a panic listing them all.
fn only(mismatches: Vec<Mismatch>) -> Mismatch {
    assert_eq!(mismatches.len(), 1, "{mismatches:#?}");
    mismatches.into_iter().next().expect("one mismatch")
}

// ----- nothing to report -------------------------------------------------------------------

#[test]
fn matching_records_produce_no_mismatch() {
    // Given a payment captured and partly refunded here, and the same at the provider
    let ours = [refunded(ours("order-1", "pi_1", 2500), "rf-1", 500)];
    let theirs = [
        capture("txn_1", "pi_1", 2500),
        refund("txn_2", "pi_1", "re_1", Some("rf-1"), 500),
    ];
    // When they are reconciled, with the fee rule the provider applies
    let mismatches = reconcile(&ours, &theirs, Some(&RULE));
    // Then nothing differs
    assert_eq!(mismatches, vec![]);
}

#[test]
fn a_payment_captured_on_neither_side_is_not_a_mismatch() {
    // Given a payment authorized then voided, of which the provider records nothing
    let ours = [ours("order-1", "pi_1", 0)];
    // When it is reconciled against an empty statement
    let mismatches = reconcile(&ours, &[], Some(&RULE));
    // Then nothing is reported
    assert_eq!(mismatches, vec![]);
}

#[test]
fn a_capture_the_provider_split_is_summed_before_comparing() {
    // Given one capture of 2500 here, and two transactions of 1500 and 1000 at the provider
    let ours = [ours("order-1", "pi_1", 2500)];
    let theirs = [
        capture("txn_1", "pi_1", 1500),
        capture("txn_2", "pi_1", 1000),
    ];
    // When they are reconciled, fees included
    let mismatches = reconcile(&ours, &theirs, Some(&RULE));
    // Then they match: each transaction was charged the rule's fee on its own amount
    assert_eq!(mismatches, vec![]);
}

#[test]
fn a_record_listed_twice_counts_once() {
    // Given overlapping statements concatenated: the capture appears twice
    let ours = [ours("order-1", "pi_1", 2500)];
    let theirs = [
        capture("txn_1", "pi_1", 2500),
        capture("txn_1", "pi_1", 2500),
    ];
    // When they are reconciled
    let mismatches = reconcile(&ours, &theirs, Some(&RULE));
    // Then the capture is counted once and matches
    assert_eq!(mismatches, vec![]);
}

#[test]
fn a_pending_refund_the_provider_has_not_made_yet_is_not_a_mismatch() {
    // Given a refund of ours still pending, which the provider has not made
    let ours = [with_refund(
        ours("order-1", "pi_1", 2500),
        "rf-1",
        500,
        RefundStatus::Pending,
    )];
    let theirs = [capture("txn_1", "pi_1", 2500)];
    // When they are reconciled
    let mismatches = reconcile(&ours, &theirs, None);
    // Then it is taken as in flight: nothing is reported
    assert_eq!(mismatches, vec![]);
}

#[test]
fn a_failed_refund_of_ours_is_ignored() {
    // Given a refund the provider refused, and so never made
    let ours = [with_refund(
        ours("order-1", "pi_1", 2500),
        "rf-1",
        500,
        RefundStatus::Failed,
    )];
    let theirs = [capture("txn_1", "pi_1", 2500)];
    // When they are reconciled
    let mismatches = reconcile(&ours, &theirs, None);
    // Then nothing is reported
    assert_eq!(mismatches, vec![]);
}

#[test]
fn refunds_pair_by_the_providers_refund_id_when_we_know_it() {
    // Given a refund of ours that knows the provider's refund id, which the provider's record
    // does not echo our id for
    let mut payment = refunded(ours("order-1", "pi_1", 2500), "rf-1", 500);
    payment.refunds[0].provider_refund_id = Some("re_1".to_string());
    let theirs = [
        capture("txn_1", "pi_1", 2500),
        refund("txn_2", "pi_1", "re_1", None, 500),
    ];
    // When they are reconciled
    let mismatches = reconcile(&[payment], &theirs, None);
    // Then they pair up
    assert_eq!(mismatches, vec![]);
}

#[test]
fn fees_are_not_checked_without_a_rule() {
    // Given a capture the provider charged an odd fee for
    let ours = [ours("order-1", "pi_1", 2500)];
    let mut record = capture("txn_1", "pi_1", 2500);
    record.fee = eur(999);
    // When they are reconciled without a fee rule
    let mismatches = reconcile(&ours, &[record], None);
    // Then the fee is not looked at
    assert_eq!(mismatches, vec![]);
}

#[test]
fn a_fee_settled_in_another_currency_is_not_checked() {
    // Given a capture in EUR whose fee the provider took in USD (a converted settlement)
    let ours = [ours("order-1", "pi_1", 2500)];
    let mut record = capture("txn_1", "pi_1", 2500);
    record.fee = usd(120);
    // When they are reconciled with a rule
    let mismatches = reconcile(&ours, &[record], Some(&RULE));
    // Then the rule cannot apply and nothing is reported
    assert_eq!(mismatches, vec![]);
}

// ----- one test per kind -------------------------------------------------------------------

#[test]
fn a_capture_recorded_only_here_is_captured_here_not_there() {
    // Given a payment captured here, of which the provider records nothing
    let ours = [ours("order-1", "pi_1", 2500)];
    // When it is reconciled
    let mismatch = only(reconcile(&ours, &[], Some(&RULE)));
    // Then the capture is missing there
    assert_eq!(mismatch.kind, MismatchKind::CapturedHereNotThere);
    assert_eq!(mismatch.payment_id.as_deref(), Some("order-1"));
    assert_eq!(mismatch.provider_ref, "pi_1");
    assert_eq!((mismatch.ours, mismatch.theirs), (Some(eur(2500)), None));
}

#[test]
fn a_capture_made_only_at_the_provider_is_captured_there_not_here() {
    // Given a payment we never captured (voided), which the provider captured
    let ours = [ours("order-1", "pi_1", 0)];
    let theirs = [capture("txn_1", "pi_1", 2500)];
    // When they are reconciled
    let mismatch = only(reconcile(&ours, &theirs, Some(&RULE)));
    // Then the capture is missing here, and our payment is named
    assert_eq!(mismatch.kind, MismatchKind::CapturedThereNotHere);
    assert_eq!(mismatch.payment_id.as_deref(), Some("order-1"));
    assert_eq!((mismatch.ours, mismatch.theirs), (None, Some(eur(2500))));
    assert!(mismatch.detail.contains("txn_1"), "{}", mismatch.detail);
}

#[test]
fn a_capture_of_a_payment_we_do_not_know_is_captured_there_not_here() {
    // Given a provider capture whose intent matches none of our payments
    let theirs = [capture("txn_1", "pi_unknown", 2500)];
    // When it is reconciled
    let mismatch = only(reconcile(&[], &theirs, Some(&RULE)));
    // Then it is reported without a payment of ours
    assert_eq!(mismatch.kind, MismatchKind::CapturedThereNotHere);
    assert_eq!(mismatch.payment_id, None);
    assert_eq!(mismatch.provider_ref, "pi_unknown");
}

#[test]
fn capture_amounts_that_differ_are_capture_amount_differs() {
    // Given 2500 captured here and 2000 at the provider
    let ours = [ours("order-1", "pi_1", 2500)];
    let theirs = [capture("txn_1", "pi_1", 2000)];
    // When they are reconciled
    let mismatch = only(reconcile(&ours, &theirs, Some(&RULE)));
    // Then both amounts are reported
    assert_eq!(mismatch.kind, MismatchKind::CaptureAmountDiffers);
    assert_eq!(
        (mismatch.ours, mismatch.theirs),
        (Some(eur(2500)), Some(eur(2000)))
    );
}

#[test]
fn a_refund_the_provider_has_no_record_of_is_refund_missing_there() {
    // Given a refund of ours that succeeded, absent from the provider's record
    let ours = [refunded(ours("order-1", "pi_1", 2500), "rf-1", 500)];
    let theirs = [capture("txn_1", "pi_1", 2500)];
    // When they are reconciled
    let mismatch = only(reconcile(&ours, &theirs, Some(&RULE)));
    // Then our refund is missing there
    assert_eq!(mismatch.kind, MismatchKind::RefundMissingThere);
    assert_eq!((mismatch.ours, mismatch.theirs), (Some(eur(500)), None));
    assert!(mismatch.detail.contains("rf-1"), "{}", mismatch.detail);
}

#[test]
fn a_refund_reversed_at_the_provider_is_refund_missing_there() {
    // Given a refund of ours the provider made and then reversed (Stripe's refund_failure)
    let ours = [refunded(ours("order-1", "pi_1", 2500), "rf-1", 500)];
    let theirs = [
        capture("txn_1", "pi_1", 2500),
        refund("txn_2", "pi_1", "re_1", Some("rf-1"), 500),
        refund("txn_3", "pi_1", "re_1", Some("rf-1"), -500),
    ];
    // When they are reconciled
    let mismatch = only(reconcile(&ours, &theirs, Some(&RULE)));
    // Then the provider's net refund is nothing: it is missing there
    assert_eq!(mismatch.kind, MismatchKind::RefundMissingThere);
    assert!(mismatch.detail.contains("reversed"), "{}", mismatch.detail);
}

#[test]
fn a_refund_only_the_provider_made_is_refund_missing_here() {
    // Given a refund made in the provider's dashboard, which we never recorded
    let ours = [ours("order-1", "pi_1", 2500)];
    let theirs = [
        capture("txn_1", "pi_1", 2500),
        refund("txn_2", "pi_1", "re_1", None, 700),
    ];
    // When they are reconciled
    let mismatch = only(reconcile(&ours, &theirs, Some(&RULE)));
    // Then the refund is missing here
    assert_eq!(mismatch.kind, MismatchKind::RefundMissingHere);
    assert_eq!(mismatch.payment_id.as_deref(), Some("order-1"));
    assert_eq!((mismatch.ours, mismatch.theirs), (None, Some(eur(700))));
    assert!(mismatch.detail.contains("re_1"), "{}", mismatch.detail);
}

#[test]
fn a_refund_still_pending_here_but_made_there_is_refund_missing_here() {
    // Given a refund of ours still pending, which the provider made
    let ours = [with_refund(
        ours("order-1", "pi_1", 2500),
        "rf-1",
        500,
        RefundStatus::Pending,
    )];
    let theirs = [
        capture("txn_1", "pi_1", 2500),
        refund("txn_2", "pi_1", "re_1", Some("rf-1"), 500),
    ];
    // When they are reconciled
    let mismatch = only(reconcile(&ours, &theirs, Some(&RULE)));
    // Then the money left at the provider and our record does not say so
    assert_eq!(mismatch.kind, MismatchKind::RefundMissingHere);
    assert!(mismatch.detail.contains("pending"), "{}", mismatch.detail);
}

#[test]
fn refund_amounts_that_differ_are_refund_amount_differs() {
    // Given our refund of 500, which the provider made for 400
    let ours = [refunded(ours("order-1", "pi_1", 2500), "rf-1", 500)];
    let theirs = [
        capture("txn_1", "pi_1", 2500),
        refund("txn_2", "pi_1", "re_1", Some("rf-1"), 400),
    ];
    // When they are reconciled
    let mismatch = only(reconcile(&ours, &theirs, Some(&RULE)));
    // Then both amounts are reported
    assert_eq!(mismatch.kind, MismatchKind::RefundAmountDiffers);
    assert_eq!(
        (mismatch.ours, mismatch.theirs),
        (Some(eur(500)), Some(eur(400)))
    );
}

#[test]
fn a_fee_that_differs_from_the_rule_is_fee_differs() {
    // Given a capture of 2500, whose fee under 2.9%+30 is 103, charged 150
    let ours = [ours("order-1", "pi_1", 2500)];
    let mut record = capture("txn_1", "pi_1", 2500);
    record.fee = eur(150);
    // When they are reconciled with the rule
    let mismatch = only(reconcile(&ours, &[record], Some(&RULE)));
    // Then the expected fee is ours and the charged fee theirs
    assert_eq!(mismatch.kind, MismatchKind::FeeDiffers);
    assert_eq!(
        (mismatch.ours, mismatch.theirs),
        (Some(eur(103)), Some(eur(150)))
    );
    assert!(mismatch.detail.contains("2.9%+30"), "{}", mismatch.detail);
}

#[test]
fn records_in_another_currency_are_currency_differs_and_nothing_else() {
    // Given a payment in EUR which the provider captured (for another amount) in USD
    let ours = [ours("order-1", "pi_1", 2500)];
    let mut record = capture("txn_1", "pi_1", 2700);
    record.amount = usd(2700);
    record.fee = usd(108);
    // When they are reconciled
    let mismatch = only(reconcile(&ours, &[record], Some(&RULE)));
    // Then only the currency is reported: amounts in two currencies do not compare
    assert_eq!(mismatch.kind, MismatchKind::CurrencyDiffers);
    assert_eq!(
        (mismatch.ours, mismatch.theirs),
        (Some(eur(2500)), Some(usd(2700)))
    );
}

// ----- a mixed data set ----------------------------------------------------------------------

/// One payment per kind of mismatch, each with exactly that defect, among clean payments.
fn mixed() -> (Vec<OurPayment>, Vec<ProviderRecord>) {
    let mut fee_record = capture("txn_fee", "pi_fee", 1000);
    fee_record.fee = eur(60);
    let mut usd_record = capture("txn_usd", "pi_usd", 1000);
    usd_record.amount = usd(1000);
    usd_record.fee = RULE.expected(usd(1000));
    let ours = vec![
        refunded(ours("order-clean", "pi_clean", 5000), "rf-clean", 1000),
        ours("order-voided", "pi_voided", 0),
        ours("order-here", "pi_here", 1000),
        ours("order-there", "pi_there", 0),
        ours("order-amount", "pi_amount", 1000),
        refunded(ours("order-rmt", "pi_rmt", 1000), "rf-rmt", 300),
        ours("order-rmh", "pi_rmh", 1000),
        refunded(ours("order-rad", "pi_rad", 1000), "rf-rad", 300),
        ours("order-fee", "pi_fee", 1000),
        ours("order-usd", "pi_usd", 1000),
        ours("order-split", "pi_split", 1000),
    ];
    let theirs = vec![
        capture("txn_clean", "pi_clean", 5000),
        refund(
            "txn_clean_r",
            "pi_clean",
            "re_clean",
            Some("rf-clean"),
            1000,
        ),
        capture("txn_there", "pi_there", 1000),
        capture("txn_amount", "pi_amount", 900),
        capture("txn_rmt", "pi_rmt", 1000),
        capture("txn_rmh", "pi_rmh", 1000),
        refund("txn_rmh_r", "pi_rmh", "re_rmh", None, 250),
        capture("txn_rad", "pi_rad", 1000),
        refund("txn_rad_r", "pi_rad", "re_rad", Some("rf-rad"), 200),
        fee_record,
        usd_record,
        capture("txn_split_1", "pi_split", 400),
        capture("txn_split_2", "pi_split", 600),
        capture("txn_stranger", "pi_stranger", 800),
    ];
    (ours, theirs)
}

#[test]
fn each_seeded_mismatch_is_reported_once_and_nothing_else() {
    // Given a data set with one defect per kind of mismatch, and payments without any
    let (ours, theirs) = mixed();
    // When it is reconciled with the fee rule
    let mismatches = reconcile(&ours, &theirs, Some(&RULE));
    // Then each defect is reported exactly once, in provider_ref order, and nothing else
    let found: Vec<(&str, MismatchKind, Option<&str>)> = mismatches
        .iter()
        .map(|m| (m.provider_ref.as_str(), m.kind, m.payment_id.as_deref()))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "pi_amount",
                MismatchKind::CaptureAmountDiffers,
                Some("order-amount")
            ),
            ("pi_fee", MismatchKind::FeeDiffers, Some("order-fee")),
            (
                "pi_here",
                MismatchKind::CapturedHereNotThere,
                Some("order-here")
            ),
            (
                "pi_rad",
                MismatchKind::RefundAmountDiffers,
                Some("order-rad")
            ),
            ("pi_rmh", MismatchKind::RefundMissingHere, Some("order-rmh")),
            (
                "pi_rmt",
                MismatchKind::RefundMissingThere,
                Some("order-rmt")
            ),
            ("pi_stranger", MismatchKind::CapturedThereNotHere, None),
            (
                "pi_there",
                MismatchKind::CapturedThereNotHere,
                Some("order-there")
            ),
            ("pi_usd", MismatchKind::CurrencyDiffers, Some("order-usd")),
        ]
    );
}

#[test]
fn the_output_does_not_depend_on_the_order_of_the_input() {
    // Given the mixed data set, and the same with both sides reversed
    let (ours, theirs) = mixed();
    let (mut ours_reversed, mut theirs_reversed) = (ours.clone(), theirs.clone());
    ours_reversed.reverse();
    theirs_reversed.reverse();
    // When both are reconciled
    // Then the mismatches are the same, in the same order
    assert_eq!(
        reconcile(&ours, &theirs, Some(&RULE)),
        reconcile(&ours_reversed, &theirs_reversed, Some(&RULE))
    );
}

#[test]
fn several_mismatches_of_one_payment_are_ordered_by_kind() {
    // Given a payment whose capture amount, refund and fee all differ
    let ours = [refunded(ours("order-1", "pi_1", 2500), "rf-1", 500)];
    let mut record = capture("txn_1", "pi_1", 2000);
    record.fee = eur(0);
    // When it is reconciled
    let kinds: Vec<MismatchKind> = reconcile(&ours, &[record], Some(&RULE))
        .into_iter()
        .map(|m| m.kind)
        .collect();
    // Then the kinds come in their declared order
    assert_eq!(
        kinds,
        vec![
            MismatchKind::CaptureAmountDiffers,
            MismatchKind::RefundMissingThere,
            MismatchKind::FeeDiffers,
        ]
    );
}

#[test]
fn mismatch_kinds_serialize_in_snake_case_as_their_names() {
    for kind in [
        MismatchKind::CapturedHereNotThere,
        MismatchKind::CapturedThereNotHere,
        MismatchKind::CaptureAmountDiffers,
        MismatchKind::RefundMissingThere,
        MismatchKind::RefundMissingHere,
        MismatchKind::RefundAmountDiffers,
        MismatchKind::FeeDiffers,
        MismatchKind::CurrencyDiffers,
    ] {
        let json = serde_json::to_value(kind).expect("serialize");
        assert_eq!(json, serde_json::Value::from(kind.as_str()));
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert_eq!(
        MismatchKind::CapturedHereNotThere.as_str(),
        "captured_here_not_there"
    );
}

#[test]
fn a_provider_record_round_trips_through_json() {
    let record = refund("txn_2", "pi_1", "re_1", Some("rf-1"), 500);
    let json = serde_json::to_string(&record).expect("serialize");
    assert!(json.contains(r#""kind":"refund""#), "{json}");
    let back: ProviderRecord = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, record);
}

// ----- the fee rule ----------------------------------------------------------------------------

#[test]
fn the_fee_is_the_percentage_rounded_half_away_from_zero_plus_the_fixed_part() {
    // 2.9% of 2500 is 72.5 → 73, + 30
    assert_eq!(RULE.expected(eur(2500)), eur(103));
    // 2.9% of 1000 is 29 exactly, + 30
    assert_eq!(RULE.expected(eur(1000)), eur(59));
    // 2.9% of 1234 is 35.786 → 36, + 30
    assert_eq!(RULE.expected(eur(1234)), eur(66));
    // 2.9% of 1017 is 29.493 → 29, + 30
    assert_eq!(RULE.expected(eur(1017)), eur(59));
    // The currency is the amount's; huge amounts do not overflow
    assert_eq!(RULE.expected(usd(100)).currency, Currency::USD);
    let huge = FeeRule {
        percent_bp: 10_000,
        fixed: i64::MAX,
    };
    assert_eq!(huge.expected(eur(i64::MAX)), eur(i64::MAX));
}

#[test]
fn fee_rules_are_read_from_their_usual_spelling() {
    let cases = [
        ("2.9%+30", 290, 30),
        ("1.4% + 25", 140, 25),
        ("2.95%+0", 295, 0),
        ("2.9%", 290, 0),
        ("0%+30", 0, 30),
        ("3%+5", 300, 5),
        ("0.25%", 25, 0),
        ("100%", 10_000, 0),
    ];
    for (text, percent_bp, fixed) in cases {
        assert_eq!(
            text.parse::<FeeRule>(),
            Ok(FeeRule { percent_bp, fixed }),
            "{text}"
        );
    }
}

#[test]
fn garbage_is_not_a_fee_rule() {
    for text in [
        "",
        "30",
        "2.9",
        "%",
        "%+30",
        "2.9%30",
        "2.9%+",
        "2.9%+-5",
        "-1%",
        "2.955%",
        "2.%",
        ".5%",
        "2,9%+30",
        "abc%",
        "2.9%+3.5",
        "101%",
        "2.9%+30+1",
        "2.9%%",
    ] {
        let error = text.parse::<FeeRule>();
        assert!(error.is_err(), "{text:?} parsed as {error:?}");
    }
    let message = "x".parse::<FeeRule>().map_err(|e| e.to_string());
    assert!(
        message.as_ref().is_err_and(|m| m.contains("2.9%+30")),
        "{message:?}"
    );
}

#[test]
fn a_fee_rule_is_written_back_as_it_is_read() {
    for text in ["2.9%+30", "2.95%", "0%+30", "3%+5", "0.05%"] {
        let rule: FeeRule = text.parse().expect("a rule");
        assert_eq!(rule.to_string(), text);
    }
    assert_eq!(crate::TestGateway::FEES.to_string(), "2.9%+30");
}

// ----- our side, from the payment aggregate ------------------------------------------------

fn folded(events: &[PaymentEvent]) -> Payment {
    let mut payment = Payment::default();
    for event in events {
        payment.evolve(event);
    }
    payment
}

#[test]
fn our_payment_is_built_from_the_aggregate_without_failed_refunds() {
    // Given a payment captured, with one refund succeeded, one pending and one failed
    let payment = folded(&[
        PaymentEvent::PaymentStarted {
            order_id: "order-1".into(),
            amount: eur(2500),
            payment_method: "pm_card_visa".into(),
            at: at(0),
        },
        PaymentEvent::PaymentAuthorized {
            provider_ref: "pi_1".into(),
            at: at(1),
        },
        PaymentEvent::PaymentCaptured {
            amount: eur(2000),
            at: at(2),
        },
        PaymentEvent::RefundRequested {
            refund_id: "rf-a".into(),
            amount: eur(300),
            line: None,
            at: at(3),
        },
        PaymentEvent::PaymentRefunded {
            refund_id: "rf-a".into(),
            amount: eur(300),
            total_refunded: eur(300),
            line: None,
            at: at(4),
        },
        PaymentEvent::RefundRequested {
            refund_id: "rf-b".into(),
            amount: eur(200),
            line: None,
            at: at(5),
        },
        PaymentEvent::RefundRequested {
            refund_id: "rf-c".into(),
            amount: eur(100),
            line: None,
            at: at(6),
        },
        PaymentEvent::RefundFailed {
            refund_id: "rf-c".into(),
            code: "refund_declined".into(),
            at: at(7),
        },
    ]);
    // When our side of it is taken
    let ours = OurPayment::from_payment("order-1", &payment).expect("a provider_ref");
    // Then it names the intent, the capture and the refunds that may have moved money
    assert_eq!(
        ours,
        OurPayment {
            payment_id: "order-1".into(),
            provider_ref: "pi_1".into(),
            captured: eur(2000),
            refunds: vec![
                OurRefund {
                    refund_id: "rf-a".into(),
                    provider_refund_id: None,
                    amount: eur(300),
                    status: RefundStatus::Succeeded,
                },
                OurRefund {
                    refund_id: "rf-b".into(),
                    provider_refund_id: None,
                    amount: eur(200),
                    status: RefundStatus::Pending,
                },
            ],
        }
    );
    // And the view gives the same
    assert_eq!(
        OurPayment::from_view(&payment.view("order-1", 8)),
        Some(ours)
    );
}

#[test]
fn a_payment_that_never_reached_the_provider_has_no_side_to_reconcile() {
    // Given a payment started and declined before any intent existed
    let payment = folded(&[
        PaymentEvent::PaymentStarted {
            order_id: "order-1".into(),
            amount: eur(2500),
            payment_method: "pm_card_visa".into(),
            at: at(0),
        },
        PaymentEvent::PaymentDeclined {
            provider_ref: None,
            code: "card_declined".into(),
            at: at(1),
        },
    ]);
    // When our side of it is taken
    // Then there is none
    assert_eq!(OurPayment::from_payment("order-1", &payment), None);
}

#[test]
fn an_authorized_payment_not_captured_has_zero_captured_in_its_currency() {
    let payment = folded(&[
        PaymentEvent::PaymentStarted {
            order_id: "order-1".into(),
            amount: usd(2500),
            payment_method: "pm_card_visa".into(),
            at: at(0),
        },
        PaymentEvent::PaymentAuthorized {
            provider_ref: "pi_1".into(),
            at: at(1),
        },
    ]);
    let ours = OurPayment::from_payment("order-1", &payment).expect("a provider_ref");
    assert_eq!(ours.captured, usd(0));
    assert_eq!(ours.refunds, vec![]);
}

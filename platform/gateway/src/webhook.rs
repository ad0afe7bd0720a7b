//! Stripe webhooks: signature verification and parsing into [`ProviderEventKind`].
//!
//! Stripe signs each delivery with the endpoint's secret (`whsec_…`): the `Stripe-Signature`
//! header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with several `v1` values
//! while a secret is being rolled (and a `v0` in test mode, which is ignored). Verification
//! compares in constant time and refuses timestamps outside a tolerance, so a captured
//! delivery cannot be replayed later.
//!
//! Stripe delivers at least once and in no particular order; the payment aggregate
//! de-duplicates by event id, so parsing here is a pure function of the body.

use agora_payment::ProviderEventKind;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook delivery was refused. Each variant has a stable [`code`](WebhookError::code).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// No `Stripe-Signature` header (or an empty one).
    #[error("the webhook carries no signature")]
    MissingSignature,
    /// The header is not `t=<unix>,v1=<hex>…`.
    #[error("the webhook signature header is malformed")]
    MalformedSignature,
    /// No `v1` signature matches the body under our secret.
    #[error("the webhook signature does not match")]
    InvalidSignature,
    /// The signed timestamp is outside the tolerance (a replay, or a skewed clock).
    #[error("the webhook timestamp is outside the tolerance")]
    StaleTimestamp,
    /// The body is not a Stripe event we can read; the reason names what is missing.
    #[error("the webhook event is malformed: {0}")]
    MalformedEvent(String),
}

impl WebhookError {
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::MissingSignature => "webhook.missing_signature",
            WebhookError::MalformedSignature => "webhook.malformed_signature",
            WebhookError::InvalidSignature => "webhook.invalid_signature",
            WebhookError::StaleTimestamp => "webhook.stale_timestamp",
            WebhookError::MalformedEvent(_) => "webhook.malformed_event",
        }
    }
}

fn mac(secret: &str, t: i64, payload: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Checks a `Stripe-Signature` header against the raw body. `now_unix` comes from the caller
/// (tests pass a fixed clock); Stripe's own libraries use a tolerance of 300 s.
pub fn verify_stripe_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(WebhookError::MissingSignature);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(WebhookError::MalformedSignature)?;
        match key {
            "t" => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| WebhookError::MalformedSignature)?;
                if timestamp.replace(t).is_some() {
                    return Err(WebhookError::MalformedSignature);
                }
            }
            // A value that is not hex cannot match; another v1 still may.
            "v1" => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let t = timestamp.ok_or(WebhookError::MalformedSignature)?;
    if signatures.is_empty() {
        // Stripe: "no signatures found with expected scheme".
        return Err(if header.contains("v1=") {
            WebhookError::InvalidSignature
        } else {
            WebhookError::MalformedSignature
        });
    }
    let expected = mac(secret, t, payload);
    // `verify_slice` compares in constant time; `clone` keeps the state for the next value.
    if !signatures
        .iter()
        .any(|sig| expected.clone().verify_slice(sig).is_ok())
    {
        return Err(WebhookError::InvalidSignature);
    }
    let tolerance = u64::try_from(tolerance_secs).unwrap_or(0);
    if now_unix.abs_diff(t) > tolerance {
        return Err(WebhookError::StaleTimestamp);
    }
    Ok(())
}

/// The `Stripe-Signature` header value Stripe would send for `payload` at time `t`. For tests
/// and for driving a webhook endpoint by hand against the test gateway.
pub fn sign_stripe_payload(payload: &[u8], secret: &str, t: i64) -> String {
    let signature = mac(secret, t, payload).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(signature))
}

/// A verified Stripe event, reduced to what the payment needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeEvent {
    /// `evt_…`: the de-duplication key.
    pub id: String,
    /// Stripe's event type (`payment_intent.succeeded`), kept for the audit trail.
    pub provider_type: String,
    /// Unix seconds at which Stripe created the event.
    pub created: i64,
    /// The PaymentIntent the event is about (`pi_…`), when it is about one.
    pub provider_ref: Option<String>,
    /// Our order id, from the object's `metadata.agora_order_id`.
    pub order_id: Option<String>,
    pub kind: ProviderEventKind,
}

fn malformed(what: &str) -> WebhookError {
    WebhookError::MalformedEvent(what.to_string())
}

fn str_field<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

fn required_str(v: &Value, field: &str, path: &str) -> Result<String, WebhookError> {
    str_field(v, field)
        .map(str::to_string)
        .ok_or_else(|| malformed(path))
}

fn required_i64(v: &Value, field: &str, path: &str) -> Result<i64, WebhookError> {
    v.get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed(path))
}

/// Parses a (verified) event body. Unknown fields are ignored; missing required ones are
/// `MalformedEvent`. Event types that do not concern a payment become `Other`.
pub fn parse_stripe_event(payload: &[u8]) -> Result<StripeEvent, WebhookError> {
    let event: Value =
        serde_json::from_slice(payload).map_err(|_| malformed("the body is not JSON"))?;
    let id = required_str(&event, "id", "id")?;
    let provider_type = required_str(&event, "type", "type")?;
    let created = required_i64(&event, "created", "created")?;
    let object = event
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or_else(|| malformed("data.object"))?;

    let order_id = object
        .get("metadata")
        .and_then(|m| str_field(m, "agora_order_id"))
        .map(str::to_string);
    // An intent's own id, or the intent a charge or refund belongs to.
    let provider_ref = if str_field(object, "object") == Some("payment_intent")
        || provider_type.starts_with("payment_intent.")
    {
        Some(required_str(object, "id", "data.object.id")?)
    } else {
        str_field(object, "payment_intent").map(str::to_string)
    };

    let kind = match provider_type.as_str() {
        "payment_intent.amount_capturable_updated" => ProviderEventKind::Authorized,
        "payment_intent.succeeded" => ProviderEventKind::Captured {
            amount_minor: required_i64(object, "amount_received", "data.object.amount_received")?,
        },
        "payment_intent.payment_failed" => {
            let error = object.get("last_payment_error");
            let code = error
                .and_then(|e| str_field(e, "decline_code").or_else(|| str_field(e, "code")))
                .unwrap_or("payment_failed");
            ProviderEventKind::Failed {
                code: code.to_string(),
            }
        }
        "payment_intent.canceled" => ProviderEventKind::Canceled,
        "refund.created" | "refund.updated" | "charge.refund.updated" => {
            let refund_id = required_str(object, "id", "data.object.id")?;
            let status = required_str(object, "status", "data.object.status")?;
            if status == "succeeded" {
                let ours = object
                    .get("metadata")
                    .and_then(|m| str_field(m, "agora_refund_id"))
                    .map(str::to_string);
                ProviderEventKind::Refunded {
                    refund_id: ours.unwrap_or(refund_id),
                    amount_minor: required_i64(object, "amount", "data.object.amount")?,
                }
            } else {
                ProviderEventKind::Other {
                    provider_type: provider_type.clone(),
                }
            }
        }
        // A dispute withdraws the money when it is created and gives it back if won. An
        // inquiry (`warning_*`) moves no money and stays a record.
        "charge.dispute.created" | "charge.dispute.closed"
            if str_field(object, "status").is_some_and(|s| !s.starts_with("warning_")) =>
        {
            let dispute_id = required_str(object, "id", "data.object.id")?;
            if provider_type == "charge.dispute.created" {
                ProviderEventKind::DisputeOpened {
                    dispute_id,
                    amount_minor: required_i64(object, "amount", "data.object.amount")?,
                    reason: str_field(object, "reason").unwrap_or("general").to_string(),
                }
            } else {
                match str_field(object, "status") {
                    Some("won") => ProviderEventKind::DisputeClosed {
                        dispute_id,
                        outcome: agora_payment::DisputeOutcome::Won,
                    },
                    Some("lost") => ProviderEventKind::DisputeClosed {
                        dispute_id,
                        outcome: agora_payment::DisputeOutcome::Lost,
                    },
                    _ => ProviderEventKind::Other {
                        provider_type: provider_type.clone(),
                    },
                }
            }
        }
        _ => ProviderEventKind::Other {
            provider_type: provider_type.clone(),
        },
    };
    Ok(StripeEvent {
        id,
        provider_type,
        created,
        provider_ref,
        order_id,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_732_000_000;
    const TOLERANCE: i64 = 300;

    fn verify(payload: &[u8], header: &str) -> Result<(), WebhookError> {
        verify_stripe_signature(payload, header, SECRET, NOW, TOLERANCE)
    }

    #[test]
    fn a_body_signed_with_our_secret_is_accepted() {
        let body = br#"{"id":"evt_1"}"#;
        assert_eq!(
            verify(body, &sign_stripe_payload(body, SECRET, NOW)),
            Ok(())
        );
    }

    #[test]
    fn the_signature_matches_stripes_published_scheme() {
        // HMAC-SHA256("whsec_test_secret", "1732000000.{}"), computed independently.
        let header = sign_stripe_payload(b"{}", SECRET, NOW);
        let (t, v1) = header.split_once(',').expect("two parts");
        assert_eq!(t, "t=1732000000");
        assert_eq!(v1.len(), "v1=".len() + 64);
        let mut mac = HmacSha256::new_from_slice(SECRET.as_bytes()).expect("key");
        mac.update(b"1732000000.{}");
        assert_eq!(
            v1,
            format!("v1={}", hex::encode(mac.finalize().into_bytes()))
        );
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let header = sign_stripe_payload(br#"{"amount":100}"#, SECRET, NOW);
        assert_eq!(
            verify(br#"{"amount":999}"#, &header),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let body = b"{}";
        let header = sign_stripe_payload(body, "whsec_someone_else", NOW);
        assert_eq!(verify(body, &header), Err(WebhookError::InvalidSignature));
    }

    #[test]
    fn a_signature_moved_to_another_timestamp_is_refused() {
        let body = b"{}";
        let header = sign_stripe_payload(body, SECRET, NOW);
        let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(verify(body, &moved), Err(WebhookError::InvalidSignature));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let body = b"{}";
        let old = sign_stripe_payload(body, SECRET, NOW - TOLERANCE - 1);
        assert_eq!(verify(body, &old), Err(WebhookError::StaleTimestamp));
        let future = sign_stripe_payload(body, SECRET, NOW + TOLERANCE + 1);
        assert_eq!(verify(body, &future), Err(WebhookError::StaleTimestamp));
        let edge = sign_stripe_payload(body, SECRET, NOW - TOLERANCE);
        assert_eq!(verify(body, &edge), Ok(()));
    }

    #[test]
    fn one_valid_v1_among_several_is_enough() {
        let body = b"{}";
        let good = sign_stripe_payload(body, SECRET, NOW);
        let good_sig = good.split_once(",v1=").expect("v1").1;
        let wrong = sign_stripe_payload(body, "whsec_old", NOW);
        let wrong_sig = wrong.split_once(",v1=").expect("v1").1;
        let header = format!("t={NOW},v1={wrong_sig},v1=nothex,v1={good_sig},v0={wrong_sig}");
        assert_eq!(verify(body, &header), Ok(()));
        let only_wrong = format!("t={NOW},v1={wrong_sig},v0={good_sig}");
        assert_eq!(
            verify(body, &only_wrong),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn malformed_headers_are_named_as_such() {
        let body = b"{}";
        assert_eq!(verify(body, ""), Err(WebhookError::MissingSignature));
        assert_eq!(verify(body, "   "), Err(WebhookError::MissingSignature));
        for header in [
            "garbage",
            "t=abc,v1=00",
            "v1=00",
            &format!("t={NOW}"),
            &format!("t={NOW},v0=00"),
            &format!("t={NOW},t={NOW},v1=00"),
            &format!("t={NOW};v1=00"),
        ] {
            assert_eq!(
                verify(body, header),
                Err(WebhookError::MalformedSignature),
                "{header}"
            );
        }
    }

    #[test]
    fn errors_have_stable_codes() {
        assert_eq!(
            WebhookError::MissingSignature.code(),
            "webhook.missing_signature"
        );
        assert_eq!(
            WebhookError::MalformedSignature.code(),
            "webhook.malformed_signature"
        );
        assert_eq!(
            WebhookError::InvalidSignature.code(),
            "webhook.invalid_signature"
        );
        assert_eq!(
            WebhookError::StaleTimestamp.code(),
            "webhook.stale_timestamp"
        );
        assert_eq!(
            WebhookError::MalformedEvent("x".into()).code(),
            "webhook.malformed_event"
        );
    }

    /// A Stripe event around `object`, shaped like a real delivery (with fields we ignore).
    fn event(kind: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": "evt_1PQx2mLkdIwHu7ix0a1b2c3d",
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1_732_000_123,
            "data": { "object": object, "previous_attributes": {} },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": "req_abc", "idempotency_key": "pay_1/capture" },
            "type": kind
        }))
        .expect("json")
    }

    fn intent(status: &str, extra: Value) -> Value {
        let mut intent = serde_json::json!({
            "id": "pi_3PQx2mLkdIwHu7ix1a2b3c4d",
            "object": "payment_intent",
            "amount": 2500,
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": "manual",
            "client_secret": "pi_3PQx2mLkdIwHu7ix1a2b3c4d_secret_xyz",
            "currency": "eur",
            "last_payment_error": null,
            "latest_charge": "ch_3PQx2mLkdIwHu7ix1xyz",
            "livemode": false,
            "metadata": { "agora_order_id": "order-42" },
            "payment_method": "pm_1PQx2m",
            "payment_method_types": ["card"],
            "status": status
        });
        if let (Some(target), Some(extra)) = (intent.as_object_mut(), extra.as_object()) {
            target.extend(extra.clone());
        }
        intent
    }

    fn parse(kind: &str, object: Value) -> StripeEvent {
        parse_stripe_event(&event(kind, object)).expect("parses")
    }

    #[test]
    fn an_amount_becoming_capturable_is_an_authorization() {
        let e = parse(
            "payment_intent.amount_capturable_updated",
            intent(
                "requires_capture",
                serde_json::json!({"amount_capturable": 2500}),
            ),
        );
        assert_eq!(e.id, "evt_1PQx2mLkdIwHu7ix0a1b2c3d");
        assert_eq!(e.provider_type, "payment_intent.amount_capturable_updated");
        assert_eq!(e.created, 1_732_000_123);
        assert_eq!(
            e.provider_ref.as_deref(),
            Some("pi_3PQx2mLkdIwHu7ix1a2b3c4d")
        );
        assert_eq!(e.order_id.as_deref(), Some("order-42"));
        assert_eq!(e.kind, ProviderEventKind::Authorized);
    }

    #[test]
    fn a_succeeded_intent_is_a_capture_of_the_amount_received() {
        let e = parse(
            "payment_intent.succeeded",
            intent("succeeded", serde_json::json!({"amount_received": 2000})),
        );
        assert_eq!(e.kind, ProviderEventKind::Captured { amount_minor: 2000 });
    }

    #[test]
    fn a_failed_payment_carries_the_decline_code_when_there_is_one() {
        let with_decline = intent(
            "requires_payment_method",
            serde_json::json!({"last_payment_error": {
                "type": "card_error", "code": "card_declined",
                "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."
            }}),
        );
        assert_eq!(
            parse("payment_intent.payment_failed", with_decline).kind,
            ProviderEventKind::Failed {
                code: "insufficient_funds".into()
            }
        );
        let code_only = intent(
            "requires_payment_method",
            serde_json::json!({"last_payment_error": {"type": "card_error", "code": "expired_card"}}),
        );
        assert_eq!(
            parse("payment_intent.payment_failed", code_only).kind,
            ProviderEventKind::Failed {
                code: "expired_card".into()
            }
        );
        let nothing = intent("requires_payment_method", serde_json::json!({}));
        assert_eq!(
            parse("payment_intent.payment_failed", nothing).kind,
            ProviderEventKind::Failed {
                code: "payment_failed".into()
            }
        );
    }

    #[test]
    fn a_canceled_intent_is_a_cancellation() {
        let e = parse(
            "payment_intent.canceled",
            intent(
                "canceled",
                serde_json::json!({"cancellation_reason": "requested_by_customer"}),
            ),
        );
        assert_eq!(e.kind, ProviderEventKind::Canceled);
    }

    fn refund(status: &str, metadata: Value) -> Value {
        serde_json::json!({
            "id": "re_3PQx2mLkdIwHu7ix1r1e2f",
            "object": "refund",
            "amount": 700,
            "balance_transaction": "txn_1",
            "charge": "ch_3PQx2mLkdIwHu7ix1xyz",
            "created": 1_732_000_100,
            "currency": "eur",
            "metadata": metadata,
            "payment_intent": "pi_3PQx2mLkdIwHu7ix1a2b3c4d",
            "reason": null,
            "status": status
        })
    }

    #[test]
    fn a_succeeded_refund_names_our_refund_id() {
        for kind in ["refund.created", "refund.updated", "charge.refund.updated"] {
            let e = parse(
                kind,
                refund(
                    "succeeded",
                    serde_json::json!({"agora_refund_id": "rf-1", "agora_order_id": "order-42"}),
                ),
            );
            assert_eq!(
                e.kind,
                ProviderEventKind::Refunded {
                    refund_id: "rf-1".into(),
                    amount_minor: 700
                },
                "{kind}"
            );
            assert_eq!(
                e.provider_ref.as_deref(),
                Some("pi_3PQx2mLkdIwHu7ix1a2b3c4d")
            );
            assert_eq!(e.order_id.as_deref(), Some("order-42"));
        }
    }

    #[test]
    fn a_refund_made_elsewhere_is_named_by_the_providers_id() {
        let e = parse("refund.updated", refund("succeeded", serde_json::json!({})));
        assert_eq!(
            e.kind,
            ProviderEventKind::Refunded {
                refund_id: "re_3PQx2mLkdIwHu7ix1r1e2f".into(),
                amount_minor: 700
            }
        );
        assert_eq!(e.order_id, None);
    }

    #[test]
    fn a_refund_not_yet_succeeded_has_no_effect() {
        for status in ["pending", "failed", "requires_action", "canceled"] {
            let e = parse("refund.created", refund(status, serde_json::json!({})));
            assert_eq!(
                e.kind,
                ProviderEventKind::Other {
                    provider_type: "refund.created".into()
                }
            );
        }
    }

    /// A Stripe dispute object (API 2024+), about the intent the refund tests use.
    fn dispute(status: &str) -> serde_json::Value {
        serde_json::json!({
            "id": "dp_1PQx2mLkdIwHu7ix",
            "object": "dispute",
            "amount": 2500,
            "charge": "ch_3PQx2mLkdIwHu7ix1xyz",
            "currency": "eur",
            "metadata": {},
            "payment_intent": "pi_3PQx2mLkdIwHu7ix1a2b3c4d",
            "reason": "product_not_received",
            "status": status
        })
    }

    #[test]
    fn a_dispute_opens_and_closes_won_or_lost() {
        let e = parse("charge.dispute.created", dispute("needs_response"));
        assert_eq!(
            e.kind,
            ProviderEventKind::DisputeOpened {
                dispute_id: "dp_1PQx2mLkdIwHu7ix".into(),
                amount_minor: 2500,
                reason: "product_not_received".into()
            }
        );
        // A dispute names no order: the intent finds it.
        assert_eq!(e.order_id, None);
        assert_eq!(
            e.provider_ref.as_deref(),
            Some("pi_3PQx2mLkdIwHu7ix1a2b3c4d")
        );
        for (status, outcome) in [
            ("won", agora_payment::DisputeOutcome::Won),
            ("lost", agora_payment::DisputeOutcome::Lost),
        ] {
            let e = parse("charge.dispute.closed", dispute(status));
            assert_eq!(
                e.kind,
                ProviderEventKind::DisputeClosed {
                    dispute_id: "dp_1PQx2mLkdIwHu7ix".into(),
                    outcome
                }
            );
        }
    }

    #[test]
    fn an_inquiry_moves_no_money_and_is_only_recorded() {
        for (kind, status) in [
            ("charge.dispute.created", "warning_needs_response"),
            ("charge.dispute.closed", "warning_closed"),
        ] {
            let e = parse(kind, dispute(status));
            assert_eq!(
                e.kind,
                ProviderEventKind::Other {
                    provider_type: kind.into()
                }
            );
        }
    }

    #[test]
    fn other_event_types_are_kept_for_the_audit_trail() {
        let charge = serde_json::json!({
            "id": "ch_3PQx2mLkdIwHu7ix1xyz", "object": "charge", "amount": 2500,
            "payment_intent": "pi_3PQx2mLkdIwHu7ix1a2b3c4d", "metadata": {"agora_order_id": "order-42"}
        });
        let e = parse("charge.succeeded", charge);
        assert_eq!(
            e.kind,
            ProviderEventKind::Other {
                provider_type: "charge.succeeded".into()
            }
        );
        assert_eq!(
            e.provider_ref.as_deref(),
            Some("pi_3PQx2mLkdIwHu7ix1a2b3c4d")
        );
        let customer = serde_json::json!({"id": "cus_1", "object": "customer"});
        let e = parse("customer.created", customer);
        assert_eq!(e.provider_ref, None);
        assert_eq!(e.order_id, None);
    }

    #[test]
    fn events_missing_required_fields_are_malformed() {
        let malformed = |body: &[u8]| {
            matches!(
                parse_stripe_event(body),
                Err(WebhookError::MalformedEvent(_))
            )
        };
        assert!(malformed(b"not json"));
        assert!(malformed(
            br#"{"type":"payment_intent.canceled","created":1,"data":{"object":{"id":"pi_1"}}}"#
        ));
        assert!(malformed(
            br#"{"id":"evt_1","created":1,"data":{"object":{"id":"pi_1"}}}"#
        ));
        assert!(malformed(
            br#"{"id":"evt_1","type":"payment_intent.canceled","data":{"object":{"id":"pi_1"}}}"#
        ));
        assert!(malformed(
            br#"{"id":"evt_1","type":"payment_intent.canceled","created":1}"#
        ));
        assert!(malformed(
            br#"{"id":"evt_1","type":"payment_intent.canceled","created":1,"data":{"object":{}}}"#
        ));
        assert!(malformed(&event(
            "payment_intent.succeeded",
            serde_json::json!({"id": "pi_1", "object": "payment_intent"})
        )));
        assert!(malformed(&event(
            "refund.updated",
            serde_json::json!({"id": "re_1", "object": "refund", "amount": 5})
        )));
        assert!(malformed(&event(
            "refund.updated",
            serde_json::json!({"id": "re_1", "object": "refund", "status": "succeeded"})
        )));
    }
}

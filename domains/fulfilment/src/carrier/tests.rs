use super::*;
use chrono::TimeDelta;
use serde_json::{json, Value};

const SECRET: &[u8] = b"whsec_current";
const OLD_SECRET: &[u8] = b"whsec_previous";
const TOLERANCE: TimeDelta = TimeDelta::seconds(300);
const EASYPOST_SAMPLE: &[u8] = include_bytes!("../../tests/fixtures/easypost_tracker_updated.json");

/// A fixed instant plus `seconds`: tests never read the clock.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
}

fn unix(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

fn generic_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_id": "scan-81723",
        "tracking_number": "JD014600003SE",
        "carrier": "DHL",
        "status": "in_transit",
        "occurred_at": "2025-06-15T14:03:20+02:00",
        "description": "Departed facility",
        "location": "Leipzig, DE"
    }))
    .expect("serializes")
}

/// `bytes` with one bit of the byte at `index` flipped.
fn flipped(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[index] ^= 0x01;
    bytes
}

/// A header whose hex signature has one nibble changed at its last character.
fn tampered(header: &str) -> String {
    let mut chars: Vec<char> = header.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

fn easypost_event(description: &str, tracker: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "evt_0123456789abcdef0123456789abcdef",
        "object": "Event",
        "created_at": "2024-08-27T12:03:11.000Z",
        "description": description,
        "mode": "test",
        "previous_attributes": {},
        "pending_urls": [],
        "completed_urls": [],
        "status": "pending",
        "result": tracker
    }))
    .expect("serializes")
}

fn tracker(status: &str, details: Value) -> Value {
    json!({
        "id": "trk_0123",
        "object": "Tracker",
        "tracking_code": "EZ4000000004",
        "status": status,
        "carrier": "UPS",
        "updated_at": "2024-08-27T12:03:09Z",
        "tracking_details": details
    })
}

fn detail(status: &str, datetime: &str, message: &str, city: Value) -> Value {
    json!({
        "object": "TrackingDetail",
        "message": message,
        "status": status,
        "datetime": datetime,
        "tracking_location": {
            "object": "TrackingLocation", "city": city, "state": "CA", "country": "US", "zip": null
        }
    })
}

// Our own shape: signatures

#[test]
fn a_generic_signature_made_with_the_secret_passes() {
    let body = generic_body();
    let header = sign_generic(SECRET, unix(t(0)), &body);
    assert!(
        header.starts_with(&format!("t={},v1=", unix(t(0)))),
        "{header}"
    );
    assert_eq!(
        verify_generic(&[SECRET], &header, &body, t(0), TOLERANCE),
        Ok(())
    );
    // Spaces around the parts are tolerated.
    let spaced = header.replace(',', " , ");
    assert_eq!(
        verify_generic(&[SECRET], &spaced, &body, t(0), TOLERANCE),
        Ok(())
    );
}

#[test]
fn a_flipped_byte_in_the_body_or_the_signature_fails() {
    let body = generic_body();
    let header = sign_generic(SECRET, unix(t(0)), &body);
    for index in [0, body.len() / 2, body.len() - 1] {
        assert_eq!(
            verify_generic(&[SECRET], &header, &flipped(&body, index), t(0), TOLERANCE),
            Err(WebhookError::InvalidSignature)
        );
    }
    assert_eq!(
        verify_generic(&[SECRET], &tampered(&header), &body, t(0), TOLERANCE),
        Err(WebhookError::InvalidSignature)
    );
    // The timestamp is signed too: moving it breaks the signature.
    let moved = header.replacen(
        &format!("t={}", unix(t(0))),
        &format!("t={}", unix(t(1))),
        1,
    );
    assert_eq!(
        verify_generic(&[SECRET], &moved, &body, t(0), TOLERANCE),
        Err(WebhookError::InvalidSignature)
    );
}

#[test]
fn a_wrong_secret_fails() {
    let body = generic_body();
    let header = sign_generic(b"someone else's secret", unix(t(0)), &body);
    assert_eq!(
        verify_generic(&[SECRET], &header, &body, t(0), TOLERANCE),
        Err(WebhookError::InvalidSignature)
    );
    // With no secret configured nothing passes.
    let ours = sign_generic(SECRET, unix(t(0)), &body);
    assert_eq!(
        verify_generic(&[], &ours, &body, t(0), TOLERANCE),
        Err(WebhookError::InvalidSignature)
    );
}

#[test]
fn during_a_rotation_either_secret_passes() {
    let body = generic_body();
    // The receiver knows both secrets; the sender still signs with the old one.
    let old = sign_generic(OLD_SECRET, unix(t(0)), &body);
    assert_eq!(
        verify_generic(&[SECRET, OLD_SECRET], &old, &body, t(0), TOLERANCE),
        Ok(())
    );
    // The sender signs with both; a receiver that knows either one accepts.
    let new_v1 = sign_generic(SECRET, unix(t(0)), &body);
    let (_, new_signature) = new_v1.split_once(",v1=").expect("v1");
    let both = format!("{old},v1={new_signature}");
    for secrets in [[SECRET], [OLD_SECRET]] {
        assert_eq!(
            verify_generic(&secrets, &both, &body, t(0), TOLERANCE),
            Ok(())
        );
    }
    assert_eq!(
        verify_generic(&[b"retired".as_slice()], &both, &body, t(0), TOLERANCE),
        Err(WebhookError::InvalidSignature)
    );
}

#[test]
fn a_timestamp_outside_the_tolerance_is_expired() {
    let body = generic_body();
    let header = sign_generic(SECRET, unix(t(0)), &body);
    for now in [t(300), t(-300), t(0)] {
        assert_eq!(
            verify_generic(&[SECRET], &header, &body, now, TOLERANCE),
            Ok(()),
            "{now}"
        );
    }
    for now in [t(301), t(-301), t(86_400)] {
        assert_eq!(
            verify_generic(&[SECRET], &header, &body, now, TOLERANCE),
            Err(WebhookError::Expired),
            "{now}"
        );
    }
}

#[test]
fn an_expired_forgery_is_refused_for_its_signature() {
    let body = generic_body();
    let forged = sign_generic(b"guess", unix(t(-10_000)), &body);
    assert_eq!(
        verify_generic(&[SECRET], &forged, &body, t(0), TOLERANCE),
        Err(WebhookError::InvalidSignature)
    );
}

#[test]
fn malformed_headers_are_refused_as_invalid_signatures() {
    let body = generic_body();
    let good = sign_generic(SECRET, unix(t(0)), &body);
    let (_, v1) = good.split_once(",v1=").expect("v1");
    let now = unix(t(0));
    for header in [
        String::new(),
        "   ".into(),
        "garbage".into(),
        format!("t={now}"),
        format!("v1={v1}"),
        format!("t=soon,v1={v1}"),
        format!("t=-{now},v1={v1}"),
        format!("t={now},t={now},v1={v1}"),
        format!("t={now};v1={v1}"),
        format!("t={now},v1=not-hex"),
        format!("t={now},v1={v1},junk"),
        format!("t=99999999999999999999,v1={v1}"),
    ] {
        assert_eq!(
            verify_generic(&[SECRET], &header, &body, t(0), TOLERANCE),
            Err(WebhookError::InvalidSignature),
            "{header:?}"
        );
    }
}

#[test]
fn other_schemes_beside_v1_are_ignored() {
    let body = generic_body();
    let good = sign_generic(SECRET, unix(t(0)), &body);
    let (t_part, v1) = good.split_once(",v1=").expect("v1");
    let header = format!("{t_part},v0=deadbeef,v1=zz,v1={v1},v2=whatever");
    assert_eq!(
        verify_generic(&[SECRET], &header, &body, t(0), TOLERANCE),
        Ok(())
    );
}

// Our own shape: the body

#[test]
fn our_body_parses_into_a_tracking_update() {
    assert_eq!(
        parse_generic(&generic_body()),
        Ok(TrackingUpdate {
            event_id: "scan-81723".into(),
            tracking_number: "JD014600003SE".into(),
            carrier: Some("DHL".into()),
            status: TrackingStatus::InTransit,
            occurred_at: "2025-06-15T12:03:20Z".parse().expect("time"),
            description: Some("Departed facility".into()),
            location: Some("Leipzig, DE".into()),
        })
    );
    // The optional fields may be left out.
    let minimal = json!({
        "event_id": "scan-1", "tracking_number": "JD1", "status": "delivered",
        "occurred_at": "2025-06-15T12:03:20Z"
    });
    let update = parse_generic(&serde_json::to_vec(&minimal).expect("json")).expect("parses");
    assert_eq!(
        (update.carrier, update.description, update.location),
        (None, None, None)
    );
    assert_eq!(update.status, TrackingStatus::Delivered);
}

#[test]
fn our_body_refuses_unknown_fields_statuses_times_and_blank_ids() {
    let base = || -> Value {
        json!({
            "event_id": "scan-1", "tracking_number": "JD1", "status": "in_transit",
            "occurred_at": "2025-06-15T12:03:20Z"
        })
    };
    let changes: [fn(&mut Value); 8] = [
        |v| v["extra"] = json!(1),
        |v| v["status"] = json!("pre_transit"),
        |v| v["status"] = json!("InTransit"),
        |v| v["occurred_at"] = json!("15/06/2025 12:03"),
        |v| v["occurred_at"] = json!(1_750_000_000),
        |v| v["event_id"] = json!("  "),
        |v| v["tracking_number"] = json!(""),
        |v| {
            v.as_object_mut().expect("object").remove("event_id");
        },
    ];
    for change in changes {
        let mut body = base();
        change(&mut body);
        assert_eq!(
            parse_generic(&serde_json::to_vec(&body).expect("json")),
            Err(WebhookError::Malformed),
            "{body}"
        );
    }
    for body in [&b"not json"[..], b"[]", b""] {
        assert_eq!(parse_generic(body), Err(WebhookError::Malformed));
    }
}

#[test]
fn an_update_becomes_the_command_that_records_it() {
    let update = parse_generic(&generic_body()).expect("parses");
    assert_eq!(
        update.command(t(7)),
        ShipmentCommand::RecordTracking {
            event_id: "scan-81723".into(),
            status: TrackingStatus::InTransit,
            occurred_at: "2025-06-15T12:03:20Z".parse().expect("time"),
            description: Some("Departed facility".into()),
            location: Some("Leipzig, DE".into()),
            now: t(7),
        }
    );
}

// EasyPost: signatures

#[test]
fn an_easypost_signature_is_the_hex_hmac_sha256_of_the_body() {
    // RFC 4231, test case 2.
    assert_eq!(
        sign_easypost(b"Jefe", b"what do ya want for nothing?"),
        "hmac-sha256-hex=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn an_easypost_signature_made_with_the_secret_passes_and_a_changed_one_fails() {
    let header = sign_easypost(SECRET, EASYPOST_SAMPLE);
    assert_eq!(verify_easypost(&[SECRET], &header, EASYPOST_SAMPLE), Ok(()));
    assert_eq!(
        verify_easypost(&[SECRET], &format!(" {header}\n"), EASYPOST_SAMPLE),
        Ok(())
    );
    let body_flipped = flipped(EASYPOST_SAMPLE, EASYPOST_SAMPLE.len() / 2);
    let wrong_secret = sign_easypost(b"whsec_other", EASYPOST_SAMPLE);
    let (_, digest) = header.split_once('=').expect("prefix");
    for (header, body) in [
        (header.clone(), body_flipped.as_slice()),
        (tampered(&header), EASYPOST_SAMPLE),
        (wrong_secret, EASYPOST_SAMPLE),
        // The prefix is part of the scheme.
        (digest.to_string(), EASYPOST_SAMPLE),
        (format!("hmac-sha1-hex={digest}"), EASYPOST_SAMPLE),
        // A truncated digest is no digest.
        (header[..header.len() - 2].to_string(), EASYPOST_SAMPLE),
        ("hmac-sha256-hex=not-hex".into(), EASYPOST_SAMPLE),
        (String::new(), EASYPOST_SAMPLE),
    ] {
        assert_eq!(
            verify_easypost(&[SECRET], &header, body),
            Err(WebhookError::InvalidSignature),
            "{header:?}"
        );
    }
    assert_eq!(
        verify_easypost(&[], &header, EASYPOST_SAMPLE),
        Err(WebhookError::InvalidSignature)
    );
}

#[test]
fn during_a_rotation_either_easypost_secret_passes() {
    let old = sign_easypost(OLD_SECRET, EASYPOST_SAMPLE);
    let new = sign_easypost(SECRET, EASYPOST_SAMPLE);
    for header in [old, new] {
        assert_eq!(
            verify_easypost(&[SECRET, OLD_SECRET], &header, EASYPOST_SAMPLE),
            Ok(())
        );
    }
}

#[test]
fn the_easypost_secret_is_normalized_to_nfkd_before_keying() {
    let body = b"{}";
    let plain_hmac = |key: &[u8]| {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("key");
        mac.update(body);
        format!(
            "hmac-sha256-hex={}",
            hex::encode(mac.finalize().into_bytes())
        )
    };
    // A ligature decomposes to its letters; a composed accent to letter plus accent.
    assert_eq!(
        sign_easypost("\u{fb01}x".as_bytes(), body),
        plain_hmac(b"fix")
    );
    assert_eq!(
        sign_easypost("caf\u{e9}".as_bytes(), body),
        plain_hmac("cafe\u{301}".as_bytes())
    );
    assert_eq!(
        verify_easypost(
            &["caf\u{e9}".as_bytes()],
            &plain_hmac("cafe\u{301}".as_bytes()),
            body
        ),
        Ok(())
    );
    // Bytes that are not text are used as they are.
    assert_eq!(
        sign_easypost(&[0xff, 0xfe], body),
        plain_hmac(&[0xff, 0xfe])
    );
}

// EasyPost: events

#[test]
fn the_easypost_sample_parses_to_the_expected_update() {
    assert_eq!(
        parse_easypost(EASYPOST_SAMPLE),
        Ok(Some(TrackingUpdate {
            event_id: "evt_5e1c4a0e64f511efa8d2b9e3f0c2a7d1".into(),
            tracking_number: "9400100208271109123456".into(),
            carrier: Some("USPS".into()),
            status: TrackingStatus::OutForDelivery,
            occurred_at: "2024-08-27T12:02:00Z".parse().expect("time"),
            description: Some("Out for Delivery".into()),
            location: Some("CHARLESTON, SC, US".into()),
        }))
    );
}

#[test]
fn events_that_record_no_tracking_change_give_none() {
    let details = json!([detail(
        "pre_transit",
        "2024-08-24T17:12:40Z",
        "Label created",
        json!("HOUSTON")
    )]);
    for body in [
        easypost_event("tracker.updated", tracker("pre_transit", details.clone())),
        easypost_event("tracker.created", tracker("unknown", json!([]))),
        easypost_event(
            "batch.updated",
            json!({"id": "batch_1", "object": "Batch", "state": "purchased"}),
        ),
        easypost_event(
            "payment.created",
            json!({"id": "payment_1", "object": "Payment"}),
        ),
        easypost_event("refund.successful", Value::Null),
    ] {
        assert_eq!(
            parse_easypost(&body),
            Ok(None),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn every_easypost_status_maps_to_ours() {
    for (theirs, ours) in [
        ("in_transit", TrackingStatus::InTransit),
        ("out_for_delivery", TrackingStatus::OutForDelivery),
        ("available_for_pickup", TrackingStatus::OutForDelivery),
        ("delivered", TrackingStatus::Delivered),
        ("return_to_sender", TrackingStatus::Exception),
        ("failure", TrackingStatus::Exception),
        ("error", TrackingStatus::Exception),
        ("cancelled", TrackingStatus::Exception),
    ] {
        let body = easypost_event("tracker.created", tracker(theirs, json!([])));
        let update = parse_easypost(&body).expect("parses").expect("an update");
        assert_eq!(update.status, ours, "{theirs}");
    }
}

#[test]
fn the_latest_detail_by_time_gives_the_time_message_and_place() {
    // Out of order, and one in a local offset (EasyPost localizes when it knows the place).
    let details = json!([
        detail(
            "in_transit",
            "2024-08-26T09:00:00Z",
            "Departed",
            json!("OAKLAND")
        ),
        detail(
            "delivered",
            "2024-08-27T09:30:00-07:00",
            "Delivered, Front Door",
            json!("SAN JOSE")
        ),
        detail(
            "in_transit",
            "2024-08-27T15:00:00Z",
            "Arrived at Post Office",
            json!(null)
        ),
    ]);
    let body = easypost_event("tracker.updated", tracker("delivered", details));
    let update = parse_easypost(&body).expect("parses").expect("an update");
    assert_eq!(
        update,
        TrackingUpdate {
            event_id: "evt_0123456789abcdef0123456789abcdef".into(),
            tracking_number: "EZ4000000004".into(),
            carrier: Some("UPS".into()),
            status: TrackingStatus::Delivered,
            occurred_at: "2024-08-27T16:30:00Z".parse().expect("time"),
            description: Some("Delivered, Front Door".into()),
            location: Some("SAN JOSE, CA, US".into()),
        }
    );
}

#[test]
fn a_tracker_without_details_is_dated_by_its_update() {
    for details in [json!([]), json!(null)] {
        let body = easypost_event("tracker.updated", tracker("in_transit", details));
        let update = parse_easypost(&body).expect("parses").expect("an update");
        assert_eq!(
            update.occurred_at,
            "2024-08-27T12:03:09Z"
                .parse::<DateTime<Utc>>()
                .expect("time")
        );
        assert_eq!((update.description, update.location), (None, None));
    }
    // A detail without a place or message leaves them out; blank parts are skipped.
    let bare = json!([{"status": "in_transit", "datetime": "2024-08-27T10:00:00Z", "message": " ",
        "tracking_location": {"city": "", "state": null, "country": "US"}}]);
    let body = easypost_event("tracker.updated", tracker("in_transit", bare));
    let update = parse_easypost(&body).expect("parses").expect("an update");
    assert_eq!(
        (update.description, update.location),
        (None, Some("US".into()))
    );
}

#[test]
fn long_carrier_messages_are_cut_to_what_a_shipment_records() {
    let long = "x".repeat(MAX_TEXT_CHARS + 50);
    let details = json!([detail(
        "in_transit",
        "2024-08-27T10:00:00Z",
        &long,
        json!("OAKLAND")
    )]);
    let body = easypost_event("tracker.updated", tracker("in_transit", details));
    let update = parse_easypost(&body).expect("parses").expect("an update");
    assert_eq!(
        update.description.map(|d| d.chars().count()),
        Some(MAX_TEXT_CHARS)
    );
}

#[test]
fn malformed_easypost_events_are_refused() {
    let good = || -> Value {
        serde_json::from_slice(&easypost_event(
            "tracker.updated",
            tracker("in_transit", json!([])),
        ))
        .expect("json")
    };
    let changes: [fn(&mut Value); 9] = [
        |v| {
            v.as_object_mut().expect("object").remove("id");
        },
        |v| v["id"] = json!(""),
        |v| v["object"] = json!("Tracker"),
        |v| v["result"] = Value::Null,
        |v| {
            v["result"]
                .as_object_mut()
                .expect("object")
                .remove("tracking_code");
        },
        |v| v["result"]["object"] = json!("Shipment"),
        |v| v["result"]["status"] = json!("lost_in_space"),
        |v| {
            v["result"]["tracking_details"] =
                json!([{"status": "in_transit", "datetime": "yesterday"}]);
        },
        |v| {
            v["result"]
                .as_object_mut()
                .expect("object")
                .remove("updated_at");
        },
    ];
    for change in changes {
        let mut body = good();
        change(&mut body);
        assert_eq!(
            parse_easypost(&serde_json::to_vec(&body).expect("json")),
            Err(WebhookError::Malformed),
            "{body}"
        );
    }
    for body in [&b"not json"[..], b"[]", b"{}", b""] {
        assert_eq!(parse_easypost(body), Err(WebhookError::Malformed));
    }
}

#[test]
fn webhook_errors_have_stable_codes_and_kinds() {
    for (error, code, kind) in [
        (
            WebhookError::InvalidSignature,
            "webhook.invalid_signature",
            ErrorKind::Unauthenticated,
        ),
        (WebhookError::Expired, "webhook.expired", ErrorKind::Invalid),
        (
            WebhookError::Malformed,
            "webhook.malformed",
            ErrorKind::Invalid,
        ),
    ] {
        assert_eq!((error.code(), error.kind()), (code, kind));
    }
}

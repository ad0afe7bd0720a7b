//! Carrier tracking webhooks: signatures verified and bodies parsed into a [`TrackingUpdate`],
//! which becomes a [`ShipmentCommand::RecordTracking`]. Pure functions: the edge hands in the
//! header, the raw body, the secrets and the time, and does the HTTP.
//!
//! Two shapes are understood:
//! - ours ([`verify_generic`], [`parse_generic`]): header `Agora-Signature: t=<unix seconds>,
//!   v1=<hex>` where `v1` is HMAC-SHA256(secret, `"<t>.<raw body>"`), several `v1` allowed while
//!   a secret is rotated; a timestamp outside the tolerance is refused, so a captured delivery
//!   cannot be replayed later. The body is a [`TrackingUpdate`] in JSON.
//! - EasyPost's ([`verify_easypost`], [`parse_easypost`]): header `X-Hmac-Signature:
//!   hmac-sha256-hex=<hex>`, the HMAC-SHA256 of the raw body under the webhook secret after
//!   Unicode NFKD normalization (what EasyPost's own client libraries compute). The scheme
//!   carries no timestamp, so replays are caught by the event id instead
//!   (`shipment.tracking_duplicate`). The body is an `Event` whose `result` is a `Tracker`.
//!
//! Signatures are checked before anything else is looked at, and compared in constant time
//! ([`Mac::verify_slice`]): a forger learns nothing, not even whether a timestamp was fresh.
//! Carriers deliver at least once and out of order; the [`Shipment`](crate::Shipment) refuses a
//! repeated event id and a scan older than the latest, so parsing here need not remember
//! anything.

use agora_kernel::{DomainError, ErrorKind};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;

use crate::{ShipmentCommand, TrackingStatus, MAX_TEXT_CHARS};

type HmacSha256 = Hmac<Sha256>;

/// The header our own signature travels in.
pub const GENERIC_SIGNATURE_HEADER: &str = "Agora-Signature";
/// The header EasyPost's signature travels in.
pub const EASYPOST_SIGNATURE_HEADER: &str = "X-Hmac-Signature";
/// What EasyPost puts before the hex digest.
const EASYPOST_PREFIX: &str = "hmac-sha256-hex=";

/// A carrier scan, as any carrier's webhook tells it. Also the JSON body of our own shape:
/// `{"event_id", "tracking_number", "carrier"?, "status", "occurred_at", "description"?,
/// "location"?}` with `occurred_at` in RFC 3339 and no other field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingUpdate {
    /// The carrier's id of this scan: the de-duplication key.
    pub event_id: String,
    /// Which parcel: the edge finds the shipment by it.
    pub tracking_number: String,
    #[serde(default)]
    pub carrier: Option<String>,
    pub status: TrackingStatus,
    /// When the carrier says it happened.
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
}

impl TrackingUpdate {
    /// The command that records this scan on its shipment; `now` is when it arrived.
    pub fn command(&self, now: DateTime<Utc>) -> ShipmentCommand {
        ShipmentCommand::RecordTracking {
            event_id: self.event_id.clone(),
            status: self.status,
            occurred_at: self.occurred_at,
            description: self.description.clone(),
            location: self.location.clone(),
            now,
        }
    }
}

/// Why a webhook delivery was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No signature, a malformed signature header, or no signature matching any secret: one
    /// answer for all, so a forger learns nothing.
    #[error("the webhook signature is missing or does not match")]
    InvalidSignature,
    /// Correctly signed, but too long ago (or too far ahead): a replay, or a skewed clock.
    #[error("the webhook timestamp is outside the tolerance")]
    Expired,
    /// Correctly signed, but not a tracking update we can read.
    #[error("the webhook body is not a tracking update we can read")]
    Malformed,
}

impl DomainError for WebhookError {
    fn code(&self) -> &'static str {
        match self {
            WebhookError::InvalidSignature => "webhook.invalid_signature",
            WebhookError::Expired => "webhook.expired",
            WebhookError::Malformed => "webhook.malformed",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            WebhookError::InvalidSignature => ErrorKind::Unauthenticated,
            WebhookError::Expired | WebhookError::Malformed => ErrorKind::Invalid,
        }
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// A parsed `Agora-Signature` header.
struct GenericSignature<'a> {
    /// The timestamp exactly as signed.
    t: &'a str,
    unix: i64,
    /// The decoded `v1` values.
    v1: Vec<Vec<u8>>,
}

/// `t=<digits>` exactly once and at least one `v1=<hex>`; other keys (a future scheme) are
/// ignored, and so is a `v1` that is not hex, since it cannot match.
fn parse_generic_header(header: &str) -> Option<GenericSignature<'_>> {
    let mut t = None;
    let mut v1 = Vec::new();
    for item in header.trim().split(',') {
        let (key, value) = item.trim().split_once('=')?;
        match key {
            "t" => {
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                if !digits || t.replace(value).is_some() {
                    return None;
                }
            }
            "v1" => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let t = t?;
    let unix = t.parse().ok()?;
    (!v1.is_empty()).then_some(GenericSignature { t, unix, v1 })
}

fn generic_mac(secret: &[u8], t: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = mac(secret);
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks an `Agora-Signature` header against the raw body. Any `v1` matching any of
/// `secrets` passes (during a rotation, both the old and the new secret are configured, or the
/// sender signs with both). Only then is the timestamp compared with `now`: more than
/// `tolerance` apart either way is [`WebhookError::Expired`].
pub fn verify_generic(
    secrets: &[&[u8]],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let signed = parse_generic_header(header).ok_or(WebhookError::InvalidSignature)?;
    let matched = secrets.iter().any(|secret| {
        let expected = generic_mac(secret, signed.t, body);
        // `verify_slice` compares in constant time; `clone` keeps the state for the next value.
        signed
            .v1
            .iter()
            .any(|signature| expected.clone().verify_slice(signature).is_ok())
    });
    if !matched {
        return Err(WebhookError::InvalidSignature);
    }
    let signed_at = DateTime::from_timestamp(signed.unix, 0).ok_or(WebhookError::Expired)?;
    if (now - signed_at).abs() > tolerance {
        return Err(WebhookError::Expired);
    }
    Ok(())
}

/// The `Agora-Signature` header value for `body` signed with `secret` at `t` (unix seconds):
/// for our own tooling that forwards tracking, and for tests.
pub fn sign_generic(secret: &[u8], t: i64, body: &[u8]) -> String {
    let signature = generic_mac(secret, &t.to_string(), body).finalize();
    format!("t={t},v1={}", hex::encode(signature.into_bytes()))
}

/// Our own body: a [`TrackingUpdate`], nothing more, with an event id and a tracking number.
pub fn parse_generic(body: &[u8]) -> Result<TrackingUpdate, WebhookError> {
    let update: TrackingUpdate =
        serde_json::from_slice(body).map_err(|_| WebhookError::Malformed)?;
    if update.event_id.trim().is_empty() || update.tracking_number.trim().is_empty() {
        return Err(WebhookError::Malformed);
    }
    Ok(update)
}

/// EasyPost keys the HMAC with the secret normalized to NFKD, so that a secret typed with
/// composed or compatibility characters signs the same. A secret that is not UTF-8 text cannot
/// have been typed into EasyPost's dashboard; it is used as it is.
fn easypost_key(secret: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(secret) {
        Ok(text) => text.nfkd().collect::<String>().into_bytes(),
        Err(_) => secret.to_vec(),
    }
}

fn easypost_mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    let mut mac = mac(&easypost_key(secret));
    mac.update(body);
    mac
}

/// Checks an `X-Hmac-Signature` header (`hmac-sha256-hex=<hex>`) against the raw body under
/// any of `secrets`, in constant time.
pub fn verify_easypost(secrets: &[&[u8]], header: &str, body: &[u8]) -> Result<(), WebhookError> {
    let signature = header
        .trim()
        .strip_prefix(EASYPOST_PREFIX)
        .and_then(|digest| hex::decode(digest).ok())
        .ok_or(WebhookError::InvalidSignature)?;
    if secrets
        .iter()
        .any(|secret| easypost_mac(secret, body).verify_slice(&signature).is_ok())
    {
        Ok(())
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

/// The `X-Hmac-Signature` header value EasyPost sends for `body` under `secret`.
pub fn sign_easypost(secret: &[u8], body: &[u8]) -> String {
    let signature = easypost_mac(secret, body).finalize();
    format!("{EASYPOST_PREFIX}{}", hex::encode(signature.into_bytes()))
}

/// The parts of an EasyPost `Event` we read; EasyPost adds fields freely, so others are
/// ignored. `result` stays untyped until the description says it is a `Tracker`.
#[derive(Deserialize)]
struct EasyPostEvent {
    id: String,
    #[serde(default)]
    object: Option<String>,
    description: String,
    #[serde(default)]
    result: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct EasyPostTracker {
    #[serde(default)]
    object: Option<String>,
    tracking_code: String,
    status: String,
    #[serde(default)]
    carrier: Option<String>,
    #[serde(default)]
    tracking_details: Option<Vec<EasyPostDetail>>,
    #[serde(default)]
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct EasyPostDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    datetime: Option<String>,
    #[serde(default)]
    tracking_location: Option<EasyPostLocation>,
}

#[derive(Deserialize)]
struct EasyPostLocation {
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    country: Option<String>,
}

/// EasyPost's tracker status in ours; `None` for those that record nothing (`pre_transit`:
/// a label exists but the carrier has not got the parcel; `unknown`). A status EasyPost does
/// not document is refused rather than guessed.
fn easypost_status(status: &str) -> Result<Option<TrackingStatus>, WebhookError> {
    Ok(Some(match status {
        "in_transit" => TrackingStatus::InTransit,
        "out_for_delivery" | "available_for_pickup" => TrackingStatus::OutForDelivery,
        "delivered" => TrackingStatus::Delivered,
        "return_to_sender" | "failure" | "error" | "cancelled" => TrackingStatus::Exception,
        "pre_transit" | "unknown" => return Ok(None),
        _ => return Err(WebhookError::Malformed),
    }))
}

/// EasyPost's times are RFC 3339, in the scan's local offset when it knows the place; one
/// without an offset is UTC, as EasyPost documents.
fn easypost_time(text: &str) -> Result<DateTime<Utc>, WebhookError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|at| at.and_utc())
        })
        .map_err(|_| WebhookError::Malformed)
}

/// Trimmed, `None` when blank, and cut to what a shipment records: a carrier's long message
/// must not make the scan unrecordable.
fn text(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    (!value.is_empty()).then(|| value.chars().take(MAX_TEXT_CHARS).collect())
}

/// The scan an EasyPost `tracker.created` or `tracker.updated` event reports: the tracker's
/// status, and the time, message and place of its latest tracking detail (the tracker's
/// `updated_at` when it has none). `Ok(None)` for any other event, and for a tracker whose
/// status records nothing ([`easypost_status`]).
pub fn parse_easypost(body: &[u8]) -> Result<Option<TrackingUpdate>, WebhookError> {
    let event: EasyPostEvent = serde_json::from_slice(body).map_err(|_| WebhookError::Malformed)?;
    if event.id.trim().is_empty() || event.object.as_deref().is_some_and(|o| o != "Event") {
        return Err(WebhookError::Malformed);
    }
    if !matches!(
        event.description.as_str(),
        "tracker.created" | "tracker.updated"
    ) {
        return Ok(None);
    }
    let tracker: EasyPostTracker = event
        .result
        .and_then(|result| serde_json::from_value(result).ok())
        .ok_or(WebhookError::Malformed)?;
    if tracker.tracking_code.trim().is_empty()
        || tracker.object.as_deref().is_some_and(|o| o != "Tracker")
    {
        return Err(WebhookError::Malformed);
    }
    let Some(status) = easypost_status(&tracker.status)? else {
        return Ok(None);
    };
    // The latest by time, not by position; on a tie the later one in the list.
    let mut latest: Option<(DateTime<Utc>, &EasyPostDetail)> = None;
    for detail in tracker.tracking_details.iter().flatten() {
        let Some(datetime) = detail.datetime.as_deref() else {
            continue;
        };
        let at = easypost_time(datetime)?;
        if latest.is_none_or(|(previous, _)| at >= previous) {
            latest = Some((at, detail));
        }
    }
    let (occurred_at, detail) = match latest {
        Some((at, detail)) => (at, Some(detail)),
        None => (
            easypost_time(
                tracker
                    .updated_at
                    .as_deref()
                    .ok_or(WebhookError::Malformed)?,
            )?,
            None,
        ),
    };
    let location = detail.and_then(|d| d.tracking_location.as_ref()).map(|l| {
        [&l.city, &l.state, &l.country]
            .into_iter()
            .filter_map(|part| text(part.as_deref()))
            .collect::<Vec<_>>()
            .join(", ")
    });
    Ok(Some(TrackingUpdate {
        event_id: event.id.trim().to_string(),
        tracking_number: tracker.tracking_code.trim().to_string(),
        carrier: text(tracker.carrier.as_deref()),
        status,
        occurred_at,
        description: text(detail.and_then(|d| d.message.as_deref())),
        location: text(location.as_deref()),
    }))
}

#[cfg(test)]
mod tests;

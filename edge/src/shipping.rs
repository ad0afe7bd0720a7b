//! `/admin/shipping`: shipping zones and options in the back office, served by the shipping
//! service over NATS. The shop's own (`default` profile) are for staff; a marketplace vendor's
//! users keep their vendor's own rates (the profile named by the vendor's id), and staff reach
//! a vendor's with `?vendor=`. A vendor with zones of its own ships its lines at its rates and
//! is credited with what they charge. Shoppers see options through the cart's pricing
//! (`GET /store/carts/{id}/pricing?country=..`) and choose them at checkout.

use agora_kernel::Money;
use agora_shipping::{OptionKind, Rate, ShippingCommand, ShippingOption, ShippingProfile};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::put;
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use agora_kernel::Principal;

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, service, ApiError, AppState};

/// Whose shipping settings a route reads or changes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProfileQuery {
    /// A marketplace vendor's id: that vendor's own rates (staff, admins, auditors; a
    /// vendor's user may name only its own vendor). Default: the caller's vendor for a
    /// vendor's user, else the shop's own settings.
    pub vendor: Option<String>,
}

/// The profile `query` names for `principal`: a vendor's user gets its own vendor's (another
/// vendor's is `403 shipping.forbidden`); staff get the shop's, or the named vendor's when it
/// exists (`404 vendor.not_found`).
async fn profile(
    state: &AppState,
    headers: &HeaderMap,
    principal: &Principal,
    query: &ProfileQuery,
) -> Result<String, ApiError> {
    let named = match &query.vendor {
        Some(raw) => Some(params::uuid_id(raw, "vendor")?),
        None => None,
    };
    match (principal.vendor(), named) {
        (Some(own), Some(named)) if named != own => {
            Err(ApiError::from(agora_kernel::ErrorBody::new(
                agora_kernel::ErrorKind::Forbidden,
                "shipping.forbidden",
                "a vendor's user keeps its own vendor's shipping settings only",
            )))
        }
        (Some(own), _) => Ok(own.to_string()),
        (None, Some(named)) => {
            // The vendor must exist: the read answers `404 vendor.not_found` otherwise.
            let _: serde_json::Value = service::get::<agora_vendor::Vendor, _>(
                state,
                headers,
                named.clone(),
                principal.clone(),
            )
            .await?;
            Ok(named)
        }
        (None, None) => Ok(agora_shipping::DEFAULT_PROFILE.to_string()),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/shipping", axum::routing::get(get_settings))
        .route(
            "/admin/shipping/zones/{zone_id}",
            put(save_zone).delete(remove_zone),
        )
        .route(
            "/admin/shipping/zones/{zone_id}/options/{option_id}",
            put(save_option).delete(remove_option),
        )
}

/// The shop's shipping settings: `{id, version, zones: [{id, name, areas: [{country,
/// region?, postcode_prefix?}], options: [{id, name, kind, rate, free_from?, min_days,
/// max_days}]}]}`, zones in id order.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct ShippingSettings(pub serde_json::Value);

/// One area a zone covers.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaBody {
    /// ISO 3166-1 alpha-2, or `*` for every country (the rest of the world).
    #[schema(example = "US")]
    pub country: String,
    /// An ISO 3166-2 subdivision of the country (`CA` or `US-CA`).
    #[serde(default)]
    #[schema(example = "CA")]
    pub region: Option<String>,
    /// Postcodes starting with this (letters and digits; spaces ignored).
    #[serde(default)]
    #[schema(example = "941")]
    pub postcode_prefix: Option<String>,
}

/// Body of `PUT /admin/shipping/zones/{zone_id}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneBody {
    #[schema(example = "Germany", min_length = 1, max_length = 100)]
    pub name: String,
    /// 1 to 500 areas; an area belongs to one zone (`409 shipping.area_taken`).
    pub areas: Vec<AreaBody>,
}

/// Body of `PUT /admin/shipping/zones/{zone_id}/options/{option_id}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionBody {
    #[schema(example = "DHL Parcel", min_length = 1, max_length = 100)]
    pub name: String,
    /// `standard`, `express` or `pickup`.
    #[schema(value_type = String, example = "standard")]
    pub kind: OptionKind,
    /// `{"type": "flat", "price": {amount_minor, currency}}`, or `{"type": "weight" | "subtotal",
    /// "bands": [{"up_to": 1000, "price": ..}, {"up_to": null, "price": ..}]}` (grams, or minor
    /// units of the subtotal before promotions; bounds increase, only the last may be open).
    #[schema(value_type = Object)]
    pub rate: Rate,
    /// Carts whose subtotal reaches this ship free with this option.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub free_from: Option<Money>,
    /// Working days from dispatch, earliest and latest (0 to 365).
    #[schema(example = 2)]
    pub min_days: u16,
    #[schema(example = 4)]
    pub max_days: u16,
}

async fn send(
    state: &AppState,
    headers: &HeaderMap,
    query: &ProfileQuery,
    command: ShippingCommand,
) -> Result<Json<ShippingSettings>, ApiError> {
    // Shipping settings are staff's (`Sales`) and, for their own vendor, vendors' users.
    let principal = auth::back_office(state, headers, auth::Area::Fulfilment, true)?;
    let id = profile(state, headers, &principal, query).await?;
    let reply =
        service::command::<_, serde_json::Value>(state, headers, id, principal, command).await;
    // Whether a cart's shipping waits for a destination depends on the zones.
    state.pricing_memo.forget_all();
    Ok(Json(ShippingSettings(reply?.view)))
}

/// Shipping zones and options (admin, staff, auditor): the shop's, or a vendor's with
/// `?vendor=`; a vendor's user reads its own vendor's. A profile never set has no zones.
#[utoipa::path(get, path = "/admin/shipping", tag = "shipping", security(("bearer" = [])),
    params(ProfileQuery),
    responses((status = 200, body = ShippingSettings), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ProfileQuery>,
) -> Result<Json<ShippingSettings>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Fulfilment, false)?;
    let id = profile(&state, &headers, &principal, &query).await?;
    let view: serde_json::Value =
        service::get::<ShippingProfile, _>(&state, &headers, id, principal).await?;
    Ok(Json(ShippingSettings(view)))
}

/// Create a zone or replace its name and areas (admin, staff); its options stay.
#[utoipa::path(put, path = "/admin/shipping/zones/{zone_id}", tag = "shipping",
    params(("zone_id" = String, Path, description = "1 to 64 of a-z, 0-9, '-'"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once"),
           ProfileQuery),
    request_body = ZoneBody, security(("bearer" = [])),
    responses((status = 200, body = ShippingSettings), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
              (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn save_zone(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    Query(query): Query<ProfileQuery>,
    Json(body): Json<ZoneBody>,
) -> Result<Json<ShippingSettings>, ApiError> {
    let command = ShippingCommand::SaveZone {
        zone_id,
        name: body.name,
        areas: body
            .areas
            .into_iter()
            .map(|a| agora_shipping::ZoneArea {
                country: a.country,
                region: a.region,
                postcode_prefix: a.postcode_prefix,
            })
            .collect(),
    };
    send(&state, &headers, &query, command).await
}

/// Remove a zone with its options (admin, staff); removing it again changes nothing.
#[utoipa::path(delete, path = "/admin/shipping/zones/{zone_id}", tag = "shipping",
    params(("zone_id" = String, Path, description = "the zone's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once"),
           ProfileQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ShippingSettings), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn remove_zone(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    Query(query): Query<ProfileQuery>,
) -> Result<Json<ShippingSettings>, ApiError> {
    send(
        &state,
        &headers,
        &query,
        ShippingCommand::RemoveZone { zone_id },
    )
    .await
}

/// Create or replace an option of a zone (admin, staff).
#[utoipa::path(put, path = "/admin/shipping/zones/{zone_id}/options/{option_id}", tag = "shipping",
    params(("zone_id" = String, Path, description = "the zone's id"),
           ("option_id" = String, Path, description = "1 to 64 of a-z, 0-9, '-'"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once"),
           ProfileQuery),
    request_body = OptionBody, security(("bearer" = [])),
    responses((status = 200, body = ShippingSettings), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
              (status = 503, body = ApiErrorBody)))]
pub async fn save_option(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((zone_id, option_id)): Path<(String, String)>,
    Query(query): Query<ProfileQuery>,
    Json(body): Json<OptionBody>,
) -> Result<Json<ShippingSettings>, ApiError> {
    let command = ShippingCommand::SaveOption {
        zone_id,
        option: ShippingOption {
            id: option_id,
            name: body.name,
            kind: body.kind,
            rate: body.rate,
            free_from: body.free_from,
            min_days: body.min_days,
            max_days: body.max_days,
        },
    };
    send(&state, &headers, &query, command).await
}

/// Remove an option of a zone (admin, staff); removing it again changes nothing.
#[utoipa::path(delete, path = "/admin/shipping/zones/{zone_id}/options/{option_id}", tag = "shipping",
    params(("zone_id" = String, Path, description = "the zone's id"),
           ("option_id" = String, Path, description = "the option's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once"),
           ProfileQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ShippingSettings), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn remove_option(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((zone_id, option_id)): Path<(String, String)>,
    Query(query): Query<ProfileQuery>,
) -> Result<Json<ShippingSettings>, ApiError> {
    send(
        &state,
        &headers,
        &query,
        ShippingCommand::RemoveOption { zone_id, option_id },
    )
    .await
}

//! Credentials at the edge: who is calling, and may they use this route family.
//!
//! - `Authorization: Bearer <jwt>`: an access token issued by the identity service (HS256,
//!   known `kid`, our issuer and audience, not expired), verified on every request with
//!   [`agora_auth::TokenKeys::verify`] and mapped to a [`Principal`] by its roles. The configured
//!   back-office token (`admin_token`), compared in constant time, is still accepted as a
//!   bootstrap credential and stands for an admin.
//! - `X-Cart-Token`: proves possession of a guest cart (and of the orders checked out from it).
//!
//! The edge checks the route family here (a customer never reaches `/admin`); the owning
//! service then checks the object (a customer reads only their own cart, order or account).
//! Why a token was refused goes to the log only; the reply says `auth.invalid_token` or
//! `auth.token_expired`.

use agora_auth::TokenError;
use agora_kernel::{CorrelationId, CustomerId, DomainError, Principal};
use agora_nats::RequestContext;
use axum::http::{HeaderMap, StatusCode};
use uuid::Uuid;

use crate::{ApiError, AppState};

pub const CART_TOKEN_HEADER: &str = "x-cart-token";
/// The staff id recorded for requests made with the bootstrap admin token.
pub const ADMIN_TOKEN_ID: &str = "admin-token";

/// A fresh unguessable guest token: 256 random bits, hex.
pub fn new_guest_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "auth.invalid_token",
        "invalid token",
    )
}

/// The `X-Cart-Token` guest principal, if the header is present (malformed: 401).
fn cart_token(headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    // An empty header is no credential (as before bearer tokens existed).
    let Some(value) = headers.get(CART_TOKEN_HEADER).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(invalid_token)?;
    Ok(Some(Principal::Guest {
        token_sha256: agora_cart::token_sha256(token),
    }))
}

/// The guest principal proven by the `X-Cart-Token` header.
pub fn guest(headers: &HeaderMap) -> Result<Principal, ApiError> {
    cart_token(headers)?
        .ok_or_else(|| ApiError::unauthorized("the X-Cart-Token header is required"))
}

/// The principal of the `Authorization: Bearer` header, if there is one. A header that is
/// present but not a valid credential is a 401, never "anonymous".
pub fn bearer(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(invalid_token)?;
    if let Some(expected) = state.config.admin_token.as_deref() {
        if agora_auth::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Ok(Some(Principal::Staff {
                id: ADMIN_TOKEN_ID.into(),
                role: "admin".into(),
            }));
        }
    }
    let now = chrono::Utc::now().timestamp();
    let claims = state
        .config
        .token_keys
        .verify(presented, now)
        .map_err(token_error)?;
    claims.principal().map(Some).map_err(token_error)
}

/// The session (`sid`) of the caller's access token, if the request carries a valid one.
pub fn session_id(state: &AppState, headers: &HeaderMap) -> Option<Uuid> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    let claims = state
        .config
        .token_keys
        .verify(token, chrono::Utc::now().timestamp())
        .ok()?;
    Uuid::parse_str(&claims.sid).ok()
}

/// The reply for a refused token; the detailed reason is logged at debug level only.
fn token_error(e: TokenError) -> ApiError {
    tracing::debug!(reason = ?e.reason(), error = %e, "access token refused");
    let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
    ApiError::new(status, e.code(), e.to_string())
}

/// A shopper on a storefront object route: the guest of `X-Cart-Token` when that header is
/// sent (it names one cart and its orders), otherwise the signed-in caller of the bearer token
/// (a customer, or staff, whom the owning services treat as back office; a vendor's user as
/// the customer of its own account). A bearer header that is present is always verified, even when a cart token
/// is sent too.
pub fn shopper(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let signed_in = bearer(state, headers)?;
    if let Some(guest) = cart_token(headers)? {
        return Ok(guest);
    }
    match signed_in {
        Some(principal) => as_shopper(principal),
        None => Err(ApiError::unauthorized(
            "an X-Cart-Token or an Authorization: Bearer token is required",
        )),
    }
}

/// The principal a signed-in caller shops as. A vendor's user shops as the customer of its
/// own account: its own carts and orders, never the vendor's share of others' (that is the
/// back office's, `/admin/orders/{id}`). Everyone else as themselves.
pub fn as_shopper(principal: Principal) -> Result<Principal, ApiError> {
    match principal {
        Principal::Vendor { id, .. } => Uuid::parse_str(&id)
            .map(|account| Principal::Customer {
                id: CustomerId::from_uuid(account),
            })
            .map_err(|_| ApiError::forbidden("this credential has no account")),
        other => Ok(other),
    }
}

/// The signed-in caller of a `/store/customers/me...` route: their account id and principal.
/// Customers, and staff signed in to their own account (whose `sub` is their account id); the
/// bootstrap admin token has no account.
pub fn me(state: &AppState, headers: &HeaderMap) -> Result<(Uuid, Principal), ApiError> {
    let principal = bearer(state, headers)?
        .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    let id = match &principal {
        Principal::Customer { id } => Some(id.as_uuid()),
        Principal::Staff { id, .. } | Principal::Vendor { id, .. } => Uuid::parse_str(id).ok(),
        Principal::Guest { .. } | Principal::System { .. } => None,
    }
    .ok_or_else(|| ApiError::forbidden("this credential has no account"))?;
    Ok((id, principal))
}

/// The signed-in customer (see [`me`]).
pub fn customer(state: &AppState, headers: &HeaderMap) -> Result<CustomerId, ApiError> {
    me(state, headers).map(|(id, _)| CustomerId::from_uuid(id))
}

/// The back-office areas, each with the roles that may read and change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Products and categories: vendors manage their own products (the catalog service checks
    /// which are theirs).
    Catalog,
    /// Stock levels, receipts and adjustments.
    Inventory,
    /// Orders, refunds, carts and sales reports.
    Sales,
    /// One order, its parcels and its returns: staff, and vendors for their own lines (the
    /// order, shipment and return aggregates narrow a vendor to what is its own).
    Fulfilment,
    /// Accounts: staff and auditors read them; only admins grant and revoke roles.
    Accounts,
    /// The event log with hash-chain verification.
    Audit,
    /// The running platform: parked feed events and their replay.
    Operations,
}

impl Area {
    /// Roles that may call a reading (`write = false`) or changing route of this area.
    pub fn roles(self, write: bool) -> &'static [&'static str] {
        match (self, write) {
            (Area::Catalog | Area::Inventory, false) => &["admin", "staff", "vendor", "auditor"],
            (Area::Catalog | Area::Inventory, true) => &["admin", "staff", "vendor"],
            (Area::Sales, false) => &["admin", "staff", "auditor"],
            (Area::Fulfilment, false) => &["admin", "staff", "vendor", "auditor"],
            (Area::Fulfilment, true) => &["admin", "staff", "vendor"],
            (Area::Sales, true) => &["admin", "staff"],
            (Area::Accounts, false) => &["admin", "staff", "auditor"],
            (Area::Accounts, true) => &["admin"],
            (Area::Audit, _) => &["admin", "auditor"],
            (Area::Operations, false) => &["admin", "staff", "auditor"],
            (Area::Operations, true) => &["admin", "staff"],
        }
    }
}

/// The staff principal allowed into `area` (`write`: a changing route): 401 without a valid
/// credential, 403 for customers and for staff whose role the area does not admit.
pub fn back_office(
    state: &AppState,
    headers: &HeaderMap,
    area: Area,
    write: bool,
) -> Result<Principal, ApiError> {
    let principal = bearer(state, headers)?
        .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    match &principal {
        Principal::Staff { role, .. } if area.roles(write).contains(&role.as_str()) => {
            Ok(principal)
        }
        // A vendor's user, in the areas vendors work in; the owning services narrow it to
        // its vendor's share.
        Principal::Vendor { .. } if area.roles(write).contains(&"vendor") => Ok(principal),
        _ => Err(ApiError::forbidden(
            "this route needs a back-office role the credential does not carry",
        )),
    }
}

/// The NATS request context of an HTTP request: its request id becomes the correlation and
/// causation id; `traceparent` passes through.
pub fn context(state: &AppState, headers: &HeaderMap) -> RequestContext {
    let mut ctx = RequestContext::new(state.config.request_timeout);
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        if let Ok(c) = id.parse::<CorrelationId>() {
            ctx.correlation_id = c;
        }
        ctx.causation_id = id.to_string();
    }
    ctx.traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_string);
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_never_enter_the_back_office_and_auditors_only_read() {
        for area in [
            Area::Catalog,
            Area::Inventory,
            Area::Sales,
            Area::Accounts,
            Area::Audit,
        ] {
            for write in [false, true] {
                assert!(!area.roles(write).contains(&"customer"), "{area:?}");
                assert!(area.roles(write).contains(&"admin"), "{area:?}");
            }
            if area != Area::Audit {
                assert!(!area.roles(true).contains(&"auditor"), "{area:?}");
            }
            assert!(area.roles(false).contains(&"auditor"), "{area:?}");
        }
        assert_eq!(Area::Accounts.roles(true), &["admin"]);
        assert!(!Area::Audit.roles(false).contains(&"staff"));
        assert!(!Area::Sales.roles(true).contains(&"vendor"));
    }
}

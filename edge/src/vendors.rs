//! Vendors over HTTP (the marketplace's sellers), served by the `vendor` service.
//!
//! A signed-in customer applies (`POST /store/vendors`) and becomes the vendor's first admin
//! user; the storefront shows an active vendor's public page (`GET /store/vendors/{id}`: name
//! and country, nothing else); the back office reviews, suspends, reactivates and closes
//! vendors and sets their commission rules; a vendor's admin users change its details and
//! users. The vendor aggregate decides who may do what (another vendor's users, customers and
//! guests find no vendor); the edge only turns away callers outside an area early.

use agora_kernel::{CustomerId, Money, Principal};
use agora_nats::CommandReply;
use agora_vendor::{Vendor, VendorCommand, VendorRole, VendorStatus, VendorView};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiErrorBody, Json, Path};
use crate::{auth, params, service, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/store/vendors", post(apply))
        .route("/store/vendors/{id}", get(public_vendor))
        .route("/admin/vendors/{id}", get(admin_vendor))
        .route("/admin/vendors/{id}/approve", post(approve))
        .route("/admin/vendors/{id}/reject", post(reject))
        .route("/admin/vendors/{id}/suspend", post(suspend))
        .route("/admin/vendors/{id}/reactivate", post(reactivate))
        .route("/admin/vendors/{id}/close", post(close))
        .route("/admin/vendors/{id}/details", put(update_details))
        .route("/admin/vendors/{id}/users", post(add_user))
        .route("/admin/vendors/{id}/users/{account}", delete(remove_user))
        .route("/admin/vendors/{id}/commission-rules", post(set_commission))
}

/// Body of `POST /store/vendors`: the business applying to sell.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    #[schema(example = "Terra Goods", min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(example = "Terra Goods GmbH", min_length = 1, max_length = 200)]
    pub legal_name: String,
    #[schema(example = "sales@terra.example", max_length = 254)]
    pub contact_email: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "DE", min_length = 2, max_length = 2)]
    pub country: String,
    /// The payout provider's reference of the vendor's account (e.g. a Stripe Connect `acct_...`).
    #[schema(example = "acct_1Nv0FGQ9RKHgCVdK", min_length = 1, max_length = 64)]
    pub payout_account: String,
}

/// Body of `PUT /admin/vendors/{id}/details`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Details {
    pub name: String,
    pub legal_name: String,
    pub contact_email: String,
    pub payout_account: String,
}

/// An optional reason (`{}` or empty body: none).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionalReason {
    #[serde(default)]
    pub reason: Option<String>,
}

/// An empty body (`{}`).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Nothing {}

/// Body of `POST /admin/vendors/{id}/users`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// The account's id (UUID).
    pub account: String,
    /// `admin` or `member`.
    #[schema(value_type = String, example = "member")]
    pub role: VendorRole,
}

/// Body of `POST /admin/vendors/{id}/commission-rules`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    #[schema(example = "standard-2027", min_length = 1, max_length = 64)]
    pub rule_id: String,
    /// Basis points of each sold line the platform keeps (1200 = 12 %).
    #[schema(example = 1200, minimum = 0, maximum = 10000)]
    pub percent_bp: u32,
    /// A fee per line on top.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fixed: Option<Money>,
    /// Only lines of this category (`[a-z0-9-]`); absent: every line of the vendor.
    #[serde(default)]
    pub category: Option<String>,
    /// When the rule starts; never before now (a rule never reaches back to sales made).
    pub effective_from: DateTime<Utc>,
}

/// A vendor as its service shows it to the back office and its own users: `{id, version,
/// status, name, legal_name, contact_email, country, payout_account, users: [{account,
/// role}], commission_rules, ...}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct VendorBody(pub serde_json::Value);

/// What the storefront shows of an active vendor.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PublicVendorBody {
    pub id: String,
    pub name: String,
    pub country: String,
    pub active: bool,
}

fn vendor_id(raw: &str) -> Result<String, ApiError> {
    params::uuid_id(raw, "vendor")
}

async fn send(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    principal: Principal,
    command: VendorCommand,
) -> Result<Json<VendorBody>, ApiError> {
    let id = vendor_id(raw)?;
    let reply: CommandReply<serde_json::Value> =
        service::command(state, headers, id, principal, command).await?;
    Ok(Json(VendorBody(reply.view)))
}

/// Apply to sell in the shop, as the signed-in customer, who becomes the vendor's first admin
/// user once the application is approved. The `Idempotency-Key` names the vendor, so a retry
/// applies once.
#[utoipa::path(post, path = "/store/vendors", tag = "vendor", request_body = Application,
    params(("Idempotency-Key" = Option<String>, Header, description = "names the vendor: retries apply once")),
    security(("bearer" = [])),
    responses((status = 201, body = VendorBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn apply(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Application>,
) -> Result<(StatusCode, Json<VendorBody>), ApiError> {
    let applicant = auth::customer(&state, &headers)?;
    let caller = Principal::Customer { id: applicant };
    let id = service::command_id(&headers, &caller)?.to_string();
    let command = VendorCommand::Apply {
        name: body.name,
        legal_name: body.legal_name,
        contact_email: body.contact_email,
        country: body.country,
        payout_account: body.payout_account,
        applicant,
        now: Utc::now(),
    };
    // The platform files it for the applicant (the aggregate takes applications from the
    // platform only); the command id is the applicant's, so their retry is the same command.
    let command_id = service::command_id(&headers, &caller)?;
    let reply: CommandReply<serde_json::Value> = service::command_as(
        &state,
        &headers,
        id,
        command_id,
        Principal::system("vendor-applications"),
        command,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(VendorBody(reply.view))))
}

/// An active vendor's public page: its name and country. Anything else (applied, rejected,
/// suspended, closed, unknown) is `404 vendor.not_found`.
#[utoipa::path(get, path = "/store/vendors/{id}", tag = "vendor",
    params(("id" = String, Path, description = "vendor id (UUID)")),
    responses((status = 200, body = PublicVendorBody), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn public_vendor(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<PublicVendorBody>, ApiError> {
    let id = vendor_id(&raw)?;
    let not_found = || ApiError::not_found("vendor.not_found", "no such vendor");
    let view: VendorView = service::get::<Vendor, _>(
        &state,
        &headers,
        id.clone(),
        Principal::system("storefront"),
    )
    .await
    .map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            not_found()
        } else {
            e
        }
    })?;
    if view.status != VendorStatus::Active {
        return Err(not_found());
    }
    Ok(Json(PublicVendorBody {
        id,
        name: view.name,
        country: view.country,
        active: true,
    }))
}

/// A vendor, for the back office and the vendor's own users.
#[utoipa::path(get, path = "/admin/vendors/{id}", tag = "vendor",
    params(("id" = String, Path, description = "vendor id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = VendorBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn admin_vendor(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<VendorBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, false)?;
    let id = vendor_id(&raw)?;
    Ok(Json(VendorBody(
        service::get::<Vendor, _>(&state, &headers, id, principal).await?,
    )))
}

macro_rules! review_route {
    ($(#[$doc:meta])* $name:ident, $path:literal, $body:ty, |$b:ident| $command:expr) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "vendor", request_body = $body,
            params(("id" = String, Path, description = "vendor id (UUID)"),
                   ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
            security(("bearer" = [])),
            responses((status = 200, body = VendorBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
                (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
                (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
        pub async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            Path(raw): Path<String>,
            body: Bytes,
        ) -> Result<Json<VendorBody>, ApiError> {
            let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
            let $b: $body = params::optional_body(&headers, &body)?;
            send(&state, &headers, &raw, principal, $command).await
        }
    };
}

review_route!(
    /// Accept the application: the vendor may sell.
    approve, "/admin/vendors/{id}/approve", Nothing, |_b| VendorCommand::Approve { now: Utc::now() }
);
review_route!(
    /// Turn the application down, saying why.
    reject, "/admin/vendors/{id}/reject", RejectBody, |b| VendorCommand::Reject { reason: b.reason, now: Utc::now() }
);
review_route!(
    /// Stop a vendor from selling for now, saying why; its open orders go on.
    suspend, "/admin/vendors/{id}/suspend", RejectBody, |b| VendorCommand::Suspend { reason: b.reason, now: Utc::now() }
);
review_route!(
    /// Let a suspended vendor sell again.
    reactivate, "/admin/vendors/{id}/reactivate", Nothing, |_b| VendorCommand::Reactivate { now: Utc::now() }
);

/// A reason that must be given (an empty body is not one).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    #[serde(default)]
    pub reason: String,
}

/// Close the vendor for good: by the platform's admins or the vendor's own admin users.
#[utoipa::path(post, path = "/admin/vendors/{id}/close", tag = "vendor",
    request_body(content = OptionalReason, description = "optional"),
    params(("id" = String, Path, description = "vendor id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = VendorBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn close(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<VendorBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let body: OptionalReason = params::optional_body(&headers, &body)?;
    let command = VendorCommand::Close {
        reason: body.reason,
        now: Utc::now(),
    };
    send(&state, &headers, &raw, principal, command).await
}

/// Change the vendor's details (its admin users, or the platform's admins).
#[utoipa::path(put, path = "/admin/vendors/{id}/details", tag = "vendor", request_body = Details,
    params(("id" = String, Path, description = "vendor id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = VendorBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn update_details(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<Details>,
) -> Result<Json<VendorBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let command = VendorCommand::UpdateDetails {
        name: body.name,
        legal_name: body.legal_name,
        contact_email: body.contact_email,
        payout_account: body.payout_account,
        now: Utc::now(),
    };
    send(&state, &headers, &raw, principal, command).await
}

fn account_id(raw: &str) -> Result<CustomerId, ApiError> {
    params::uuid_id(raw, "account")?
        .parse()
        .map_err(|_| ApiError::bad_request("request.invalid_id", "an account id is a UUID"))
}

/// Give an account a role at the vendor (its admin users, or the platform's admins). The
/// account then signs in with the vendor role to act for it.
#[utoipa::path(post, path = "/admin/vendors/{id}/users", tag = "vendor", request_body = UserBody,
    params(("id" = String, Path, description = "vendor id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = VendorBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn add_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<UserBody>,
) -> Result<Json<VendorBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let command = VendorCommand::AddUser {
        account: account_id(&body.account)?,
        role: body.role,
        now: Utc::now(),
    };
    send(&state, &headers, &raw, principal, command).await
}

/// Take an account's role at the vendor away; the last admin user stays
/// (`409 vendor.last_admin`).
#[utoipa::path(delete, path = "/admin/vendors/{id}/users/{account}", tag = "vendor",
    params(("id" = String, Path, description = "vendor id (UUID)"),
           ("account" = String, Path, description = "account id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = VendorBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn remove_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, account)): Path<(String, String)>,
) -> Result<Json<VendorBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let command = VendorCommand::RemoveUser {
        account: account_id(&account)?,
        now: Utc::now(),
    };
    send(&state, &headers, &raw, principal, command).await
}

/// Set a commission rule from a date on (never before now: a rule never reaches back to sales
/// already made). A rule id is set once.
#[utoipa::path(post, path = "/admin/vendors/{id}/commission-rules", tag = "vendor", request_body = RuleBody,
    params(("id" = String, Path, description = "vendor id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = VendorBody), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn set_commission(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<RuleBody>,
) -> Result<Json<VendorBody>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Sales, true)?;
    let command = VendorCommand::SetCommission {
        rule_id: body.rule_id,
        percent_bp: body.percent_bp,
        fixed: body.fixed,
        category: body.category,
        effective_from: body.effective_from,
        now: Utc::now(),
    };
    send(&state, &headers, &raw, principal, command).await
}

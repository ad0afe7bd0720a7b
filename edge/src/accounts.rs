//! Accounts: sign-up, sign-in and sessions (`/store/auth/...`, through the `identity`
//! service), the signed-in customer's profile, password and saved addresses
//! (`/store/customers/me...`, through the `account` service), and the back office's view of
//! accounts and roles (`/admin/accounts/...`).
//!
//! The caller's principal goes with every account request: the account service decides who may
//! read or change an account (a stranger gets `identity.not_found`; only admins grant roles).
//! Bodies reject unknown fields, so a client cannot slip `roles`, `email_verified` or a status
//! into a profile change; ids (account, address) and times come from the edge, never the client.

use agora_identity::{Account, AccountCommand, AddressId, Role};
use agora_kernel::Principal;
use agora_nats::CommandReply;
use agora_workflows::IdentityRequest;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::checkout::AddressBody;
use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, service, ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/store/auth/refresh", post(refresh))
        .route("/store/auth/logout", post(logout))
        .route("/store/auth/verify-email", post(verify_email))
        .route("/store/customers/me", get(me).patch(update_me))
        .route("/store/customers/me/password", post(change_password))
        .route(
            "/store/customers/me/addresses",
            get(addresses).post(add_address),
        )
        .route(
            "/store/customers/me/addresses/{id}",
            patch(update_address).delete(remove_address),
        )
        .route(
            "/store/customers/me/addresses/{id}/default",
            post(set_default_address),
        )
        .route("/admin/accounts", get(list_accounts))
        .route("/admin/accounts/{id}", get(admin_account))
        .route(
            "/admin/accounts/{id}/roles/{role}",
            post(grant_role).delete(revoke_role),
        )
        .route(
            "/admin/accounts/{id}/groups",
            axum::routing::put(set_groups),
        )
}

/// The routes a client may hammer to guess passwords or flood mailboxes; the edge puts a
/// per-client rate limit in front of them.
pub fn limited_router() -> Router<AppState> {
    Router::new()
        .route("/store/auth/register", post(register))
        .route("/store/auth/login", post(login))
        .route("/store/auth/password-reset", post(request_password_reset))
        .route("/store/auth/password-reset/confirm", post(reset_password))
        .route("/store/auth/verify-email/resend", post(resend_verification))
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// Body of `POST /store/auth/register`. Roles, verification and status are the platform's to
/// set: every new account is an unverified customer.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schema(example = "ada@example.com", min_length = 3, max_length = 254)]
    pub email: String,
    /// 12 to 128 characters, not a common password, not the email.
    #[schema(
        example = "correct horse battery staple",
        min_length = 12,
        max_length = 128
    )]
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// Body of `POST /store/auth/login`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
}

/// Body of `POST /store/auth/refresh` and `/store/auth/logout`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// Body of `POST /store/auth/verify-email`: the token from the verification mail.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub token: String,
}

/// Body of `POST /store/auth/password-reset`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    #[schema(example = "ada@example.com", min_length = 3, max_length = 254)]
    pub email: String,
}

/// Body of `POST /store/auth/password-reset/confirm`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// The token from the reset mail.
    pub token: String,
    pub new_password: String,
}

/// Body of `POST /store/customers/me/password`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    pub current_password: String,
    pub new_password: String,
}

/// Body of `PATCH /store/customers/me`: only the fields given change. An empty `phone`
/// removes the phone number.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub marketing_opt_in: Option<bool>,
}

/// Body of `POST /store/customers/me/addresses`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    pub address: AddressBody,
    /// Make it the default address (the first address always is).
    #[serde(default)]
    pub make_default: bool,
}

/// A signed-in session's credentials.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct TokenPair {
    /// Send as `Authorization: Bearer <access_token>`; valid for `expires_in` seconds.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
    /// Opaque and single use: `POST /store/auth/refresh` exchanges it for a new pair. Using
    /// an exchanged one again revokes the whole session.
    pub refresh_token: String,
    pub account_id: Uuid,
    pub roles: Vec<String>,
    pub session_id: Uuid,
}

/// An account as its owner and the back office see it: email, profile, roles, addresses and
/// linked sign-in providers; never a password or a token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct AccountView(pub serde_json::Value);

/// A saved address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SavedAddress {
    pub id: Uuid,
    pub is_default: bool,
    #[schema(value_type = Object)]
    pub address: serde_json::Value,
}

/// The signed-in customer's saved addresses, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressList {
    pub items: Vec<SavedAddress>,
}

// ---------------------------------------------------------------------------------------------
// Plumbing

/// Who calls an anonymous identity endpoint: a visitor without credentials. A fresh random
/// guest hash can own nothing, so this principal can read nothing.
fn anonymous() -> Principal {
    Principal::Guest {
        token_sha256: agora_cart::token_sha256(&auth::new_guest_token()),
    }
}

/// Sends `request` to the identity service and returns the reply's view.
async fn identity<V: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    aggregate_id: String,
    principal: Principal,
    request: IdentityRequest,
) -> Result<V, ApiError> {
    let reply: CommandReply<V> =
        service::command(state, headers, aggregate_id, principal, request).await?;
    Ok(reply.view)
}

/// Sends an account command as `principal` to account `id` and returns the account after it.
async fn account_command(
    state: &AppState,
    headers: &HeaderMap,
    id: Uuid,
    principal: Principal,
    command: AccountCommand,
) -> Result<serde_json::Value, ApiError> {
    let reply: CommandReply<serde_json::Value> =
        service::command(state, headers, id.to_string(), principal, command).await?;
    Ok(reply.view)
}

async fn read_account(
    state: &AppState,
    headers: &HeaderMap,
    id: Uuid,
    principal: Principal,
) -> Result<serde_json::Value, ApiError> {
    service::get::<Account, _>(state, headers, id.to_string(), principal).await
}

/// The `addresses` of an account view.
fn address_list(view: &serde_json::Value) -> Result<AddressList, ApiError> {
    let items = serde_json::from_value(view["addresses"].clone()).map_err(ApiError::internal)?;
    Ok(AddressList { items })
}

/// The `User-Agent` kept with a session (the identity service trims and cleans it).
fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

fn address(body: AddressBody) -> agora_identity::Address {
    agora_identity::Address {
        name: body.name,
        line1: body.line1,
        line2: body.line2,
        city: body.city,
        postal_code: body.postal_code,
        region: body.region,
        country: body.country,
        phone: body.phone,
    }
}

fn address_id(raw: &str) -> Result<AddressId, ApiError> {
    Ok(AddressId::from_uuid(
        params::uuid_id(raw, "address")?
            .parse::<Uuid>()
            .map_err(ApiError::internal)?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Sign-up, sign-in, sessions

/// Create a customer account. A verification mail follows; the account can sign in at once.
/// Send an `Idempotency-Key` to make retries safe (a retry finds the same account).
#[utoipa::path(post, path = "/store/auth/register", tag = "auth", request_body = RegisterBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key create one account")),
    responses((status = 201, body = AccountView), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 429, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<RegisterBody>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let request = agora_workflows::Register {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        phone: body.phone,
    };
    let view = identity(
        &state,
        &headers,
        Uuid::new_v4().to_string(),
        anonymous(),
        IdentityRequest::Register(request),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AccountView(view))))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/store/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenPair), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 429, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> Result<Json<TokenPair>, ApiError> {
    let request = agora_workflows::Login {
        email: body.email,
        password: body.password,
        user_agent: user_agent(&headers),
    };
    let pair = identity(
        &state,
        &headers,
        Uuid::new_v4().to_string(),
        anonymous(),
        IdentityRequest::Login(request),
    )
    .await?;
    Ok(Json(pair))
}

/// Exchange a refresh token for a new pair. Each refresh token works once; presenting one
/// again revokes the session (`401 auth.refresh_token_reused`).
#[utoipa::path(post, path = "/store/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenPair), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<RefreshBody>,
) -> Result<Json<TokenPair>, ApiError> {
    let request = agora_workflows::RefreshToken {
        refresh_token: body.refresh_token,
    };
    let pair = identity(
        &state,
        &headers,
        Uuid::new_v4().to_string(),
        anonymous(),
        IdentityRequest::Refresh(request),
    )
    .await?;
    Ok(Json(pair))
}

/// Sign out: the session of this refresh token ends; its access tokens expire on their own
/// within minutes.
#[utoipa::path(post, path = "/store/auth/logout", tag = "auth", request_body = RefreshBody,
    responses((status = 204, description = "signed out"), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    let request = agora_workflows::RefreshToken {
        refresh_token: body.refresh_token,
    };
    let _: serde_json::Value = identity(
        &state,
        &headers,
        Uuid::new_v4().to_string(),
        anonymous(),
        IdentityRequest::Logout(request),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Confirm the email address with the token from the verification mail.
#[utoipa::path(post, path = "/store/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = AccountView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn verify_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<TokenBody>,
) -> Result<Json<AccountView>, ApiError> {
    let request = agora_workflows::VerifyEmail { token: body.token };
    let view = identity(
        &state,
        &headers,
        Uuid::new_v4().to_string(),
        anonymous(),
        IdentityRequest::VerifyEmail(request),
    )
    .await?;
    Ok(Json(AccountView(view)))
}

/// Ask for a password-reset mail. The answer is the same whether or not the email has an
/// account.
#[utoipa::path(post, path = "/store/auth/password-reset", tag = "auth", request_body = ResetRequestBody,
    responses((status = 202, description = "a mail is on its way if the email has an account"), (status = 400, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 429, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<ResetRequestBody>,
) -> Result<StatusCode, ApiError> {
    let request = agora_workflows::RequestPasswordReset { email: body.email };
    mail_request(
        &state,
        &headers,
        IdentityRequest::RequestPasswordReset(request),
    )
    .await
}

/// Asks the identity service to mail a link, as an anonymous visitor; the answer never tells
/// whether the email has an account.
async fn mail_request(
    state: &AppState,
    headers: &HeaderMap,
    request: IdentityRequest,
) -> Result<StatusCode, ApiError> {
    let _: serde_json::Value = identity(
        state,
        headers,
        Uuid::new_v4().to_string(),
        anonymous(),
        request,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Ask for a new verification mail (the previous link stops working). The answer is the same
/// whether or not the email has an unverified account.
#[utoipa::path(post, path = "/store/auth/verify-email/resend", tag = "auth", request_body = ResetRequestBody,
    responses((status = 202, description = "a mail is on its way if the email has an unverified account"), (status = 400, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 429, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn resend_verification(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<ResetRequestBody>,
) -> Result<StatusCode, ApiError> {
    let request = agora_workflows::ResendVerification { email: body.email };
    mail_request(
        &state,
        &headers,
        IdentityRequest::ResendVerification(request),
    )
    .await
}

/// Choose a new password with the token from the reset mail. Every session of the account
/// ends.
#[utoipa::path(post, path = "/store/auth/password-reset/confirm", tag = "auth", request_body = ResetBody,
    responses((status = 204, description = "the password was changed"), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 429, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<ResetBody>,
) -> Result<StatusCode, ApiError> {
    let request = agora_workflows::ResetPassword {
        token: body.token,
        new_password: body.new_password,
    };
    let _: serde_json::Value = identity(
        &state,
        &headers,
        Uuid::new_v4().to_string(),
        anonymous(),
        IdentityRequest::ResetPassword(request),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// The signed-in customer

/// Change the password (the current one is checked). Every other session ends.
#[utoipa::path(post, path = "/store/customers/me/password", tag = "account", request_body = ChangePasswordBody,
    security(("bearer" = [])),
    responses((status = 204, description = "the password was changed"), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    let (id, principal) = auth::me(&state, &headers)?;
    let request = agora_workflows::ChangePassword {
        current_password: body.current_password,
        new_password: body.new_password,
        keep_session: auth::session_id(&state, &headers),
    };
    let _: serde_json::Value = identity(
        &state,
        &headers,
        id.to_string(),
        principal,
        IdentityRequest::ChangePassword(request),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in customer's account.
#[utoipa::path(get, path = "/store/customers/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AccountView>, ApiError> {
    let (id, principal) = auth::me(&state, &headers)?;
    Ok(Json(AccountView(
        read_account(&state, &headers, id, principal).await?,
    )))
}

/// Change the profile: display name, phone, marketing consent. Email, roles and verification
/// cannot be changed here.
#[utoipa::path(patch, path = "/store/customers/me", tag = "account", request_body = ProfilePatch,
    security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AccountView>, ApiError> {
    let (id, principal) = auth::me(&state, &headers)?;
    let patch: ProfilePatch = params::optional_body(&headers, &body)?;
    let command = AccountCommand::UpdateProfile {
        display_name: patch.display_name,
        phone: patch.phone,
        marketing_opt_in: patch.marketing_opt_in,
    };
    Ok(Json(AccountView(
        account_command(&state, &headers, id, principal, command).await?,
    )))
}

/// The saved addresses, oldest first.
#[utoipa::path(get, path = "/store/customers/me/addresses", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = AddressList), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn addresses(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AddressList>, ApiError> {
    let (id, principal) = auth::me(&state, &headers)?;
    let view = read_account(&state, &headers, id, principal).await?;
    Ok(Json(address_list(&view)?))
}

/// Save an address. The first one becomes the default.
#[utoipa::path(post, path = "/store/customers/me/addresses", tag = "account", request_body = NewAddress,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key save one address")),
    security(("bearer" = [])),
    responses((status = 201, body = SavedAddress), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn add_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewAddress>,
) -> Result<(StatusCode, Json<SavedAddress>), ApiError> {
    let (id, principal) = auth::me(&state, &headers)?;
    // The address id follows the command id, so a retried request names the same address.
    let command_id = service::command_id(&headers, &principal)?;
    let address_id = AddressId::from_uuid(Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("agora:address:{id}:{command_id}").as_bytes(),
    ));
    let command = AccountCommand::AddAddress {
        address_id,
        address: address(body.address),
        make_default: body.make_default,
    };
    let view = account_command(&state, &headers, id, principal, command).await?;
    let saved = address_list(&view)?
        .items
        .into_iter()
        .find(|a| a.id == address_id.as_uuid())
        .ok_or_else(|| ApiError::internal("the added address is not in the account view"))?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Replace a saved address.
#[utoipa::path(patch, path = "/store/customers/me/addresses/{id}", tag = "account", request_body = AddressBody,
    params(("id" = String, Path, description = "address id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = AddressList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn update_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<AddressBody>,
) -> Result<Json<AddressList>, ApiError> {
    let address_id = address_id(&raw)?;
    let (id, principal) = auth::me(&state, &headers)?;
    let command = AccountCommand::UpdateAddress {
        address_id,
        address: address(body),
    };
    let view = account_command(&state, &headers, id, principal, command).await?;
    Ok(Json(address_list(&view)?))
}

/// Delete a saved address. When it was the default, the oldest remaining one becomes the
/// default.
#[utoipa::path(delete, path = "/store/customers/me/addresses/{id}", tag = "account",
    params(("id" = String, Path, description = "address id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = AddressList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn remove_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<AddressList>, ApiError> {
    let address_id = address_id(&raw)?;
    let (id, principal) = auth::me(&state, &headers)?;
    let command = AccountCommand::RemoveAddress { address_id };
    let view = account_command(&state, &headers, id, principal, command).await?;
    Ok(Json(address_list(&view)?))
}

/// Make a saved address the default.
#[utoipa::path(post, path = "/store/customers/me/addresses/{id}/default", tag = "account",
    params(("id" = String, Path, description = "address id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = AddressList), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn set_default_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<AddressList>, ApiError> {
    let address_id = address_id(&raw)?;
    let (id, principal) = auth::me(&state, &headers)?;
    let command = AccountCommand::SetDefaultAddress { address_id };
    let view = account_command(&state, &headers, id, principal, command).await?;
    Ok(Json(address_list(&view)?))
}

// ---------------------------------------------------------------------------------------------
// The back office

fn account_id(raw: &str) -> Result<Uuid, ApiError> {
    params::uuid_id(raw, "account")?
        .parse()
        .map_err(ApiError::internal)
}

fn role(raw: &str) -> Result<Role, ApiError> {
    raw.parse::<Role>().map_err(|_| {
        ApiError::bad_request(
            "identity.invalid_role",
            "a role is one of admin, auditor, customer, staff, vendor",
        )
    })
}

/// Query of `GET /admin/accounts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    /// Case-insensitive substring of the email, taken literally (up to 200 characters).
    pub q: Option<String>,
    /// `newest` (default) or `email`.
    pub sort: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// One account in the back office's list: its sign-in email and when it was registered. The
/// profile and the roles are the account's own (`GET /admin/accounts/{id}`).
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct AccountRow {
    pub account_id: Uuid,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountPage {
    /// Rows matching the filter, over all pages.
    pub total: i64,
    pub items: Vec<AccountRow>,
}

#[derive(sqlx::FromRow)]
struct AccountRowRecord {
    #[sqlx(flatten)]
    row: AccountRow,
    total: i64,
}

/// List accounts by email (admins, staff and auditors), from identity's email lookup table.
#[utoipa::path(get, path = "/admin/accounts", tag = "account", params(AccountFilter),
    security(("bearer" = [])),
    responses((status = 200, body = AccountPage), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<AccountFilter>,
) -> Result<Json<AccountPage>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Accounts, false)?;
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    // The order is chosen from a fixed list, never from the client's text.
    let order = match filter.sort.as_deref() {
        None | Some("newest") => "created_at DESC, email",
        Some("email") => "email",
        Some(_) => return Err(params::invalid_query("sort is newest or email")),
    };
    let pattern = params::search_text(filter.q.as_deref())?.map(|q| params::contains_pattern(&q));
    let records: Vec<AccountRowRecord> = sqlx::query_as(&format!(
        r"SELECT account_id, email, created_at, count(*) OVER () AS total
         FROM identity_emails
         WHERE ($1::text IS NULL OR email ILIKE $1 ESCAPE '\')
         ORDER BY {order}
         LIMIT $2 OFFSET $3"
    ))
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(AccountPage {
        total,
        items: records.into_iter().map(|r| r.row).collect(),
    }))
}

/// Read any account (admins, staff and auditors).
#[utoipa::path(get, path = "/admin/accounts/{id}", tag = "account",
    params(("id" = String, Path, description = "account id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn admin_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Accounts, false)?;
    let id = account_id(&raw)?;
    Ok(Json(AccountView(
        read_account(&state, &headers, id, principal).await?,
    )))
}

async fn change_role(
    state: AppState,
    headers: HeaderMap,
    raw: String,
    raw_role: String,
    grant: bool,
) -> Result<Response, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Accounts, true)?;
    let id = account_id(&raw)?;
    let role = role(&raw_role)?;
    let command = if grant {
        AccountCommand::GrantRole { role }
    } else {
        AccountCommand::RevokeRole { role }
    };
    let view = account_command(&state, &headers, id, principal, command).await?;
    Ok(Json(AccountView(view)).into_response())
}

/// Grant a role (admins only). New access tokens carry it; tokens already issued do not.
#[utoipa::path(post, path = "/admin/accounts/{id}/roles/{role}", tag = "account",
    params(("id" = String, Path, description = "account id (UUID)"), ("role" = String, Path, description = "admin, auditor, customer, staff or vendor")),
    security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn grant_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, role)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_role(state, headers, raw, role, true).await
}

/// Revoke a role (admins only; an admin cannot revoke their own admin role).
#[utoipa::path(delete, path = "/admin/accounts/{id}/roles/{role}", tag = "account",
    params(("id" = String, Path, description = "account id (UUID)"), ("role" = String, Path, description = "admin, auditor, customer, staff or vendor")),
    security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn revoke_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, role)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_role(state, headers, raw, role, false).await
}

/// Body of `PUT /admin/accounts/{id}/groups`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGroups {
    /// Every customer group the account is in from now on (each 1–64 of `a-z 0-9 -`, at most
    /// 20); `[]` takes it out of all.
    #[schema(example = json!(["vip"]))]
    pub groups: std::collections::BTreeSet<String>,
}

/// Put a customer in exactly these customer groups (admins only); promotions may be for some
/// groups only, and the cart's pricing and the checkout read them from the account.
#[utoipa::path(put, path = "/admin/accounts/{id}/groups", tag = "account", request_body = SetGroups,
    params(("id" = String, Path, description = "account id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn set_groups(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<SetGroups>,
) -> Result<Json<AccountView>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Accounts, true)?;
    let id = account_id(&raw)?;
    let command = AccountCommand::SetGroups {
        groups: body.groups,
    };
    let view = account_command(&state, &headers, id, principal, command).await;
    // The customer's pricings may change with their groups (a group's promotion).
    state.pricing_memo.customers_changed();
    Ok(Json(AccountView(view?)))
}

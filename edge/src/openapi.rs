//! The OpenAPI document, generated from the handlers' annotations, at `/openapi.json`, and an
//! interactive reference of it at `/docs`.
//!
//! Each operation's `security` is set here from its path, by the same rules `auth` applies, so
//! the document cannot forget a route: `bearer` (an access token, or the bootstrap admin
//! token) for `/admin`, `/audit` and `/store/customers/me`; `cart_token` or `bearer` for the
//! storefront's carts and orders; nothing for the public catalog, sign-in and health routes.
//! The statuses the shared layers answer (400, 401, 403, 404, 413, 415, 422) are added the same
//! way ([`add_common_responses`]); each handler's annotation lists its own reasons.

use axum::http::header::{self, HeaderValue};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "Agora", description = "Storefront, back-office and audit API of the Agora commerce platform."),
    paths(
        crate::search::search,
        crate::carts::create_cart,
        crate::carts::get_cart,
        crate::carts::add_item,
        crate::carts::change_quantity,
        crate::carts::remove_item,
        crate::carts::clear_cart,
        crate::carts::apply_code,
        crate::carts::remove_code,
        crate::carts::get_pricing,
        crate::admin::list_carts,
        crate::feed::list_parked,
        crate::feed::replay,
        crate::catalog::create_product,
        crate::catalog::update_product,
        crate::catalog::get_product,
        crate::catalog::list_products,
        crate::catalog::add_variant,
        crate::catalog::change_price,
        crate::catalog::set_variant_shipping,
        crate::catalog::remove_variant,
        crate::catalog::publish,
        crate::catalog::unpublish,
        crate::catalog::archive,
        crate::catalog::list_categories,
        crate::catalog::create_category,
        crate::catalog::rename_category,
        crate::catalog::store_products,
        crate::catalog::store_product,
        crate::catalog::store_categories,
        crate::inventory::list_stock,
        crate::inventory::low_stock,
        crate::inventory::get_stock,
        crate::inventory::movements,
        crate::inventory::receive,
        crate::inventory::adjust,
        crate::inventory::set_threshold,
        crate::orders::store_order,
        crate::orders::store_order_events,
        crate::orders::store_cancel,
        crate::orders::my_orders,
        crate::orders::list_orders,
        crate::promotions::create_promotion,
        crate::promotions::list_promotions,
        crate::promotions::get_promotion,
        crate::promotions::revise_promotion,
        crate::promotions::change_status,
        crate::promotions::redemptions_report,
        crate::shipping::get_settings,
        crate::shipping::save_zone,
        crate::shipping::remove_zone,
        crate::shipping::save_option,
        crate::shipping::remove_option,
        crate::fulfilment::queue,
        crate::fulfilment::create_shipment,
        crate::fulfilment::list_shipments,
        crate::fulfilment::admin_shipment,
        crate::fulfilment::hand_over,
        crate::fulfilment::cancel_shipment,
        crate::fulfilment::generic_webhook,
        crate::fulfilment::easypost_webhook,
        crate::fulfilment::request_return,
        crate::fulfilment::store_return,
        crate::fulfilment::store_cancel_return,
        crate::fulfilment::list_returns,
        crate::fulfilment::admin_return,
        crate::fulfilment::approve_return,
        crate::fulfilment::reject_return,
        crate::fulfilment::receive_return,
        crate::reviews::write_review,
        crate::reviews::product_reviews,
        crate::reviews::withdraw,
        crate::reviews::list_reviews,
        crate::reviews::get_review,
        crate::reviews::approve,
        crate::reviews::reject,
        crate::reviews::respond,
        crate::vendors::apply,
        crate::vendors::public_vendor,
        crate::vendors::admin_vendor,
        crate::vendors::approve,
        crate::vendors::reject,
        crate::vendors::suspend,
        crate::vendors::reactivate,
        crate::vendors::close,
        crate::vendors::update_details,
        crate::vendors::add_user,
        crate::vendors::remove_user,
        crate::vendors::set_commission,
        crate::marketplace::list_vendors,
        crate::marketplace::vendor_orders,
        crate::marketplace::vendor_shipments,
        crate::marketplace::vendor_returns,
        crate::marketplace::ledger,
        crate::marketplace::balance,
        crate::marketplace::request_payout,
        crate::marketplace::sales_report,
        crate::marketplace::sales_report_csv,
        crate::orders::admin_order,
        crate::orders::ship,
        crate::orders::deliver,
        crate::orders::admin_cancel,
        crate::orders::refund,
        crate::orders::admin_payment,
        crate::orders::daily_sales,
        crate::analytics::sales,
        crate::analytics::sales_csv,
        crate::analytics::funnel,
        crate::analytics::funnel_csv,
        crate::analytics::summary,
        crate::analytics::refunds,
        crate::analytics::refunds_csv,
        crate::checkout::checkout,
        crate::checkout::get_payment,
        crate::checkout::confirm_payment,
        crate::checkout::stripe_webhook,
        crate::audit::stream,
        crate::audit::search,
        crate::audit::event,
        crate::audit::state_as_of,
        crate::audit::diff,
        crate::audit::chain,
        crate::audit::checkpoints,
        crate::audit::sign_checkpoint,
        crate::audit::export,
        crate::reconciliation::latest,
        crate::notifications::notify_me,
        crate::notifications::confirm,
        crate::notifications::get_preferences,
        crate::notifications::put_preferences,
        crate::notifications::list,
        crate::notifications::retry,
        crate::carts::merge_cart,
        crate::accounts::register,
        crate::accounts::login,
        crate::accounts::refresh,
        crate::accounts::logout,
        crate::accounts::verify_email,
        crate::accounts::request_password_reset,
        crate::accounts::resend_verification,
        crate::accounts::reset_password,
        crate::accounts::change_password,
        crate::accounts::me,
        crate::accounts::update_me,
        crate::accounts::addresses,
        crate::accounts::add_address,
        crate::accounts::update_address,
        crate::accounts::remove_address,
        crate::accounts::set_default_address,
        crate::accounts::list_accounts,
        crate::accounts::admin_account,
        crate::accounts::grant_role,
        crate::accounts::revoke_role,
        crate::accounts::set_groups,
        crate::oidc::start,
        crate::oidc::callback,
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

struct Security;

/// The security requirements of the operations under `path`, by the rules of `auth`.
fn requirements(path: &str, method: &str) -> Vec<SecurityRequirement> {
    let bearer = || SecurityRequirement::new("bearer", Vec::<String>::new());
    let cart = || SecurityRequirement::new("cart_token", Vec::<String>::new());
    if path == "/store/customers/me/cart/merge" {
        return vec![bearer().add("cart_token", Vec::<String>::new())];
    }
    if path.starts_with("/admin")
        || path.starts_with("/audit")
        || path.starts_with("/store/customers/me")
    {
        return vec![bearer()];
    }
    if path == "/store/carts" && method == "post" {
        // Anonymous (a guest cart) or a customer's.
        return vec![SecurityRequirement::default(), bearer()];
    }
    if path.starts_with("/store/carts/") || path.starts_with("/store/orders/") {
        return vec![cart(), bearer()];
    }
    vec![]
}

/// What a status means when the edge itself answers it, before any handler's own reasons.
fn common_reason(status: &str) -> &'static str {
    match status {
        "400" => "malformed request: a path id, query or JSON that does not parse, or a NUL character (`request.*`)",
        "401" => "missing, malformed or expired credentials (`auth.*`)",
        "403" => "the credentials do not allow this (`auth.forbidden`)",
        "404" => "no such object, or not yours",
        "413" => "body over 64 KiB (`request.too_large`)",
        "415" => "a body that is not JSON (`request.unsupported_media_type`)",
        "422" => "JSON of the wrong shape or with invalid values (`request.invalid_body` or the rule's code)",
        "409" => "the object's state forbids it, or a concurrent change won (`aggregate.contention`: retry)",
        _ => "error",
    }
}

/// Adds the statuses that the edge's shared layers answer for any operation of a kind, so no
/// operation's annotation can forget them (a missing one makes a generated client or a fuzzer
/// see a contract the server does not keep):
/// - every operation: 400 (the NUL check of the path and query, malformed ids and queries);
/// - with a request body: 413, 415 and 422 (the body limit, the JSON content type, its shape);
/// - with credentials required: 401 and 403;
/// - with an id in the path: 404;
/// - a command to a service (not a read, and it lists 503): 409, since it may lose a race.
///
/// A status the operation documents already keeps its own description.
fn add_common_responses(path: &str, method: &str, operation: &mut Operation) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let mut statuses = vec!["400"];
    if operation.request_body.is_some() {
        statuses.extend(["413", "415", "422"]);
    }
    let needs_credentials = operation
        .security
        .as_ref()
        .is_some_and(|all| !all.is_empty() && !all.contains(&SecurityRequirement::default()));
    // Credentials of the wrong kind (staff on a shopper's route, a customer in the back office)
    // are refused as well as missing ones.
    if needs_credentials {
        statuses.extend(["401", "403"]);
    }
    if path.contains('{') {
        statuses.push("404");
    }
    // An operation that asks a service (it lists 503) and changes something sends a command,
    // and any command may lose a race with another change of its object.
    if method != "get" && operation.responses.responses.contains_key("503") {
        statuses.push("409");
    }
    for status in statuses {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(common_reason(status))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    }
}

/// The constraint the edge's parser enforces on a parameter, by name (and path, where one
/// name means different things), from `params`: `uuid_id`, `sku`, `category_id`, `page`.
fn parameter_schema(path: &str, name: &str) -> Option<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let integer = || {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
    };
    let uuid = || string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    let schema = match name {
        "cart_id" | "order_id" => uuid(),
        "id" if path.starts_with("/admin/categories/") => string()
            .pattern(Some(crate::params::CATEGORY_ID_PATTERN))
            .min_length(Some(1))
            .max_length(Some(64)),
        "id" => uuid(),
        "sku" => string()
            .pattern(Some(crate::params::SKU_PATTERN))
            .min_length(Some(1))
            .max_length(Some(64)),
        "role" => string().enum_values(Some(
            agora_identity::Role::ALL
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>(),
        )),
        "aggregate_type" | "aggregate_id" => string()
            .pattern(Some(crate::params::SUBJECT_TOKEN_PATTERN))
            .min_length(Some(1))
            .max_length(Some(128)),
        "limit" => integer()
            .minimum(Some(1))
            .maximum(Some(crate::params::MAX_LIMIT as f64)),
        "offset" => integer().minimum(Some(0)),
        _ => return None,
    };
    Some(schema.build().into())
}

/// Sets the schema of each path and query parameter the edge parses by a shared rule (see
/// [`parameter_schema`]), so the document states what the parser accepts: a UUID is
/// `format: uuid`, a SKU has its pattern, a page its bounds.
fn constrain_parameters(path: &str, operation: &mut Operation) {
    use utoipa::openapi::path::ParameterIn;
    for parameter in operation.parameters.iter_mut().flatten() {
        if !matches!(
            parameter.parameter_in,
            ParameterIn::Path | ParameterIn::Query
        ) {
            continue;
        }
        if let Some(schema) = parameter_schema(path, &parameter.name) {
            parameter.schema = Some(schema.into());
        }
    }
}

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from /store/auth/login (or the configured bootstrap admin token).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cart_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Cart-Token",
                "A guest cart's secret token, from POST /store/carts.",
            ))),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations: [(&str, &mut Option<Operation>); 5] = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    operation.security = Some(requirements(path, method));
                    add_common_responses(path, method, operation);
                    constrain_parameters(path, operation);
                }
            }
        }
    }
}

/// Scalar's standalone script, built in from the pinned npm package (see `build.rs`).
#[cfg(scalar_embedded)]
const SCALAR_JS: Option<&[u8]> = Some(include_bytes!(env!("AGORA_SCALAR_JS_PATH")));
#[cfg(not(scalar_embedded))]
const SCALAR_JS: Option<&[u8]> = None;

/// The policy of the docs page: everything from this server (Scalar's script included; it
/// sets inline styles), nothing from anywhere else.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    font-src 'self' data:; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// The reference page: the spec inline, Scalar's script from `/docs/scalar.js`.
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
    <title>Agora API reference</title>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1"/>
</head>
<body>
<script id="api-reference" type="application/json">
    $spec
</script>
<script src="/docs/scalar.js"></script>
</body>
</html>"#;

/// Without the built-in script: how to get it, and where the spec is.
const NO_SCALAR_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"/><title>Agora API reference</title></head>
<body><h1>Agora API reference</h1>
<p>This build does not include the interactive reference. Build with <code>AGORA_SCALAR_JS</code> set
(<code>. scripts/docs-assets.sh &amp;&amp; fetch_docs_assets</code> fetches the pinned
<code>@scalar/api-reference</code> from npm), or read the spec at <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>"#;

async fn docs() -> impl IntoResponse {
    let html = match SCALAR_JS {
        Some(_) => utoipa_scalar::Scalar::new(ApiDoc::openapi())
            .custom_html(DOCS_HTML)
            .to_html(),
        None => NO_SCALAR_HTML.to_string(),
    };
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        )],
        Html(html),
    )
}

async fn scalar_js() -> axum::response::Response {
    match SCALAR_JS {
        Some(js) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            js,
        )
            .into_response(),
        None => ApiError::not_found(
            "docs.not_built_in",
            "this build has no API reference script",
        )
        .into_response(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/openapi.json",
            get(|| async { axum::Json(ApiDoc::openapi()) }),
        )
        .route("/docs", get(docs))
        .route("/docs/scalar.js", get(scalar_js))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(op: &Operation) -> Vec<&str> {
        op.responses.responses.keys().map(String::as_str).collect()
    }

    /// Every operation lists at least the statuses its kind can produce: what the shared
    /// layers answer, and the errors of its area.
    #[test]
    fn every_operation_documents_the_statuses_of_its_kind() {
        let doc = ApiDoc::openapi();
        let mut checked = 0;
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("patch", &item.patch),
                ("delete", &item.delete),
            ] {
                let Some(op) = op else { continue };
                checked += 1;
                let has = statuses(op);
                let mut want = vec!["400"];
                if op.request_body.is_some() {
                    want.extend(["413", "415", "422"]);
                }
                if path.starts_with("/admin") || path.starts_with("/audit") {
                    want.extend(["401", "403"]);
                }
                if path.starts_with("/store/customers/me") {
                    want.push("401");
                }
                if path.starts_with("/store/carts/") || path.starts_with("/store/orders/") {
                    want.extend(["401", "404"]);
                }
                if path.contains('{') {
                    want.push("404");
                }
                if path == "/store/products/{id}/notify-me"
                    || [
                        "/store/auth/login",
                        "/store/auth/register",
                        "/store/auth/password-reset",
                    ]
                    .contains(&path.as_str())
                {
                    want.push("429");
                }
                // A command may find its object closed or lose a race; a service may be down.
                if path.starts_with("/store/carts/{cart_id}/items") {
                    want.extend(["409", "503"]);
                }
                if method != "get" && has.contains(&"503") {
                    want.push("409");
                }
                for status in want {
                    assert!(
                        has.contains(&status),
                        "{} {path} does not list {status}: {has:?}",
                        method.to_uppercase()
                    );
                }
                assert!(
                    has.iter().any(|s| s.starts_with('2') || s.starts_with('3')),
                    "{method} {path} lists no success"
                );
            }
        }
        assert!(checked > 60, "only {checked} operations");
    }
}

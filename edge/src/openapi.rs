//! The OpenAPI document, generated from the handlers' annotations, at `/openapi.json`, and an
//! interactive reference of it at `/docs`.
//!
//! Each operation's `security` is set here from its path, by the same rules `auth` applies, so
//! the document cannot forget a route: `bearer` (an access token, or the bootstrap admin
//! token) for `/admin`, `/audit` and `/store/customers/me`; `cart_token` or `bearer` for the
//! storefront's carts and orders; nothing for the public catalog, sign-in and health routes.

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
        crate::admin::list_carts,
        crate::catalog::create_product,
        crate::catalog::update_product,
        crate::catalog::get_product,
        crate::catalog::list_products,
        crate::catalog::add_variant,
        crate::catalog::change_price,
        crate::catalog::remove_variant,
        crate::catalog::publish,
        crate::catalog::unpublish,
        crate::catalog::archive,
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
        crate::orders::store_cancel,
        crate::orders::my_orders,
        crate::orders::list_orders,
        crate::orders::admin_order,
        crate::orders::ship,
        crate::orders::deliver,
        crate::orders::admin_cancel,
        crate::orders::refund,
        crate::orders::daily_sales,
        crate::checkout::checkout,
        crate::checkout::get_payment,
        crate::checkout::confirm_payment,
        crate::checkout::stripe_webhook,
        crate::audit::stream,
        crate::notifications::notify_me,
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
        crate::accounts::admin_account,
        crate::accounts::grant_role,
        crate::accounts::revoke_role,
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

//! The OpenAPI document, generated from the handlers' annotations.

use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Agora", description = "Storefront, back-office and audit API of the Agora commerce platform."),
    paths(
        crate::carts::create_cart,
        crate::carts::get_cart,
        crate::carts::add_item,
        crate::carts::change_quantity,
        crate::carts::remove_item,
        crate::carts::clear_cart,
        crate::admin::list_carts,
        crate::audit::stream,
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/openapi.json",
        get(|| async { axum::Json(ApiDoc::openapi()) }),
    )
}

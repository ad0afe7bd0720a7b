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

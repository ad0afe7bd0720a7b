//! Agora's web pages: the storefront (`/`, `/search`, `/products/..`, `/cart`, `/checkout`,
//! `/orders/..`, `/account/..`) and the back office (`/backoffice/..`), server-rendered HTML
//! served by the same HTTP server as the JSON API.
//!
//! Invariants:
//! - pages never write the database: every change is a call to the edge's JSON route for it,
//!   in process ([`api`]), which sends the command to its service over NATS; pages read read
//!   models only where the JSON API does (prices of cart lines from `products`);
//! - every POST carries the CSRF token of its session (checked in [`session::middleware`]
//!   before any handler runs);
//! - pages work without JavaScript; the one script only makes the order page live and shows
//!   dates in the viewer's time zone;
//! - the back office is gated by the API itself: a page calls the API as the signed-in person,
//!   so a role the API refuses is a 403 page.

mod account;
pub mod api;
mod image;
mod layout;
mod office;
mod returns;
pub mod session;
mod store;

use std::sync::Arc;

use agora_edge::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

/// Configuration of the pages.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Mark cookies `Secure` (the site is served over https).
    pub secure_cookies: bool,
    /// The shop's shipping and tax rules, for the cart's estimate (the checkout charges the
    /// same rules, from the same configuration).
    pub pricing: agora_workflows::Pricing,
}

/// What every page handler shares.
#[derive(Clone)]
pub struct Web {
    pub api: api::Api,
    pub state: AppState,
    pub config: Arc<WebConfig>,
}

const CSS: &str = include_str!("../assets/site.css");
const JS: &str = include_str!("../assets/live.js");

/// The pages, ready to merge beside the JSON API (`edge_router` is the API they call).
pub fn router(state: AppState, edge_router: Router, config: WebConfig) -> Router {
    let web = Web {
        api: api::Api::new(edge_router),
        state,
        config: Arc::new(config),
    };
    Router::new()
        .route("/", get(store::home))
        .route("/search", get(store::search))
        .route("/categories/{id}", get(store::category))
        .route("/products/{id}", get(store::product))
        .route("/products/{id}/reviews", post(store::write_review))
        .route("/vendors/{id}", get(store::vendor))
        .route("/products/{id}/notify", post(store::notify_me))
        .route("/cart", get(store::cart))
        .route("/cart/add", post(store::cart_add))
        .route("/cart/update", post(store::cart_update))
        .route("/cart/remove", post(store::cart_remove))
        .route("/cart/code", post(store::cart_code))
        .route("/cart/code/remove", post(store::cart_code_remove))
        .route("/checkout", get(store::checkout_form).post(store::checkout))
        .route("/orders/{id}", get(store::order))
        .route("/orders/{id}/events", get(store::order_events))
        .route("/orders/{id}/returns", post(returns::request))
        .route("/orders/{id}/returns/{rid}", get(returns::show))
        .route("/orders/{id}/returns/{rid}/cancel", post(returns::cancel))
        .route(
            "/orders/{id}/authenticate",
            get(store::authenticate_form).post(store::authenticate),
        )
        .route(
            "/account/signin",
            get(store::signin_form).post(store::signin),
        )
        .route(
            "/account/register",
            get(store::register_form).post(store::register),
        )
        .route("/account/signout", post(store::signout))
        .route(
            "/account/verify",
            get(store::verify_form).post(store::verify),
        )
        .route(
            "/account/forgot",
            get(store::forgot_form).post(store::forgot),
        )
        .route("/account/reset", get(store::reset_form).post(store::reset))
        .route("/account", get(store::account))
        .route("/account/addresses", post(store::add_address))
        .route(
            "/account/profile",
            get(account::profile_form).post(account::profile),
        )
        .route(
            "/account/password",
            get(account::password_form).post(account::password),
        )
        .route(
            "/account/notifications",
            get(account::preferences_form).post(account::preferences),
        )
        .merge(office::router())
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            session::middleware,
        ))
        .with_state(web)
        .route("/img/product.svg", get(image::product_svg))
        .route("/assets/site.css", get(css))
        .route("/assets/live.js", get(js))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
}

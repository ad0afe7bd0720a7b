//! The catalog over HTTP.
//!
//! - Back office (`/admin/products`, `/admin/categories`): changes go to the `product` and
//!   `category` services as commands; one product is read from its service (any status); lists
//!   come from the `products` read model joined with `stock_levels`.
//! - Storefront (`/store/products`, `/store/categories`): no credentials, read models only,
//!   published products only, and only the fields a shopper may see.
//!
//! A product's category and a category's parent are checked to exist here, against the
//! `categories` read model, because an aggregate sees only its own stream. The read model trails
//! the event store by a moment, so a category created an instant ago may still be reported as
//! `catalog.unknown_category`; retrying helps.

use std::collections::{BTreeMap, HashMap, HashSet};

use agora_catalog::{
    is_category_id, CatalogError, CategoryCommand, CategoryView, ProductCommand, ProductVariant,
    ProductView, ShippingDetails, VariantInput,
};
use agora_kernel::{Currency, DomainError, Money, Principal, Sku};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::types::Json as Jsonb;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiErrorBody, Json, Path, Query};
use crate::{auth, params, service, ApiError, AppState};

/// Namespace of product ids derived from an `Idempotency-Key` (a fixed, random UUID).
const PRODUCT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_43a2_9d0e_4b7a_8f55_2e3d_91c4_a7b0);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/products", get(list_products).post(create_product))
        .route(
            "/admin/products/{id}",
            get(get_product).patch(update_product),
        )
        .route("/admin/products/{id}/variants", post(add_variant))
        .route(
            "/admin/products/{id}/variants/{sku}",
            delete(remove_variant),
        )
        .route(
            "/admin/products/{id}/variants/{sku}/shipping",
            put(set_variant_shipping),
        )
        .route(
            "/admin/products/{id}/variants/{sku}/price",
            put(change_price),
        )
        .route("/admin/products/{id}/publish", post(publish))
        .route("/admin/products/{id}/unpublish", post(unpublish))
        .route("/admin/products/{id}/archive", post(archive))
        .route(
            "/admin/categories",
            get(list_categories).post(create_category),
        )
        .route("/admin/categories/{id}", patch(rename_category))
}

/// The storefront's catalog reads: public, answered from read models (the edge caches them).
pub fn store_router() -> Router<AppState> {
    Router::new()
        .route("/store/products", get(store_products))
        .route("/store/products/{id}", get(store_product))
        .route("/store/categories", get(store_categories))
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// An amount of money: integer minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Minor units (cents); a price is 1 to 100 000 000.
    #[schema(example = 1999, minimum = 1, maximum = 100000000)]
    pub amount_minor: i64,
    /// ISO-4217 code: three upper-case letters.
    #[schema(value_type = String, example = "EUR", pattern = "^[A-Z]{3}$")]
    pub currency: Currency,
}

impl From<Price> for Money {
    fn from(p: Price) -> Money {
        Money::new(p.amount_minor, p.currency)
    }
}

impl From<Money> for Price {
    fn from(m: Money) -> Price {
        Price {
            amount_minor: m.amount_minor,
            currency: m.currency,
        }
    }
}

/// One sellable variant of a product; in a request, the variant to add.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// 1–64 of `A-Z a-z 0-9 _ -`, unique within the product.
    #[schema(value_type = String, example = "TSHIRT-RED-M", pattern = "^[A-Za-z0-9_-]{1,64}$", min_length = 1, max_length = 64)]
    pub sku: Sku,
    #[schema(example = "Red, M")]
    pub title: String,
    pub price: Price,
    /// Up to 50 attributes (`size` → `M`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Weight in grams (1 to 1 000 000), for shipping rates by weight; none: weighs nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub weight_grams: Option<u32>,
    /// Packed size in millimetres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions_mm: Option<Dimensions>,
}

/// A packed item's size in millimetres, each side 1 to 10 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dimensions {
    #[schema(minimum = 1, maximum = 10000)]
    pub length: u32,
    #[schema(minimum = 1, maximum = 10000)]
    pub width: u32,
    #[schema(minimum = 1, maximum = 10000)]
    pub height: u32,
}

/// Body of `PUT /admin/products/{id}/variants/{sku}/shipping`: replaces both values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantShipping {
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000000)]
    pub weight_grams: Option<u32>,
    #[serde(default)]
    pub dimensions_mm: Option<Dimensions>,
}

impl From<VariantShipping> for ShippingDetails {
    fn from(v: VariantShipping) -> ShippingDetails {
        ShippingDetails {
            weight_grams: v.weight_grams,
            dimensions_mm: v.dimensions_mm.map(|d| agora_catalog::Dimensions {
                length: d.length,
                width: d.width,
                height: d.height,
            }),
        }
    }
}

impl From<Variant> for VariantInput {
    fn from(v: Variant) -> VariantInput {
        VariantInput {
            sku: v.sku,
            title: v.title,
            price: v.price.into(),
            attributes: v.attributes,
            shipping: VariantShipping {
                weight_grams: v.weight_grams,
                dimensions_mm: v.dimensions_mm,
            }
            .into(),
        }
    }
}

impl From<ProductVariant> for Variant {
    fn from(v: ProductVariant) -> Variant {
        Variant {
            sku: v.sku,
            title: v.title,
            price: v.price.into(),
            attributes: v.attributes,
            weight_grams: v.shipping.weight_grams,
            dimensions_mm: v.shipping.dimensions_mm.map(|d| Dimensions {
                length: d.length,
                width: d.width,
                height: d.height,
            }),
        }
    }
}

/// Body of `POST /admin/products`. The server picks the id; a new product is a draft.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// 1–200 characters.
    #[schema(example = "Organic cotton T-shirt")]
    pub title: String,
    /// Up to 10 000 characters (default empty).
    #[serde(default)]
    pub description: String,
    /// Up to 20 `https://` or `http://` URLs (default none).
    #[serde(default)]
    pub image_urls: Vec<String>,
    /// An existing category, or none.
    #[serde(default)]
    pub category_id: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The vendor who owns the product: 1–64 of `a-z 0-9 _ -`.
    #[schema(example = "acme")]
    pub vendor_id: String,
    /// Up to 100 variants, all priced in one currency (default none; publishing needs one).
    #[serde(default)]
    pub variants: Vec<Variant>,
}

/// Body of `PATCH /admin/products/{id}`: absent fields are left as they are.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Replaces the whole list.
    #[serde(default)]
    pub image_urls: Option<Vec<String>>,
    /// Absent: unchanged; `null`: the product leaves its category; an id: an existing category.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub category_id: Option<Option<String>>,
    /// Replaces the whole map.
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Tells an absent field (`None`, by `default`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A product as the back office sees it, from its service.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Product {
    pub id: String,
    /// Position in the product's event stream; grows with every change.
    pub version: u64,
    pub title: String,
    pub description: String,
    pub image_urls: Vec<String>,
    pub category_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
    /// Ordered by SKU.
    pub variants: Vec<Variant>,
    /// `draft`, `published` or `archived`.
    #[schema(example = "draft")]
    pub status: String,
    pub vendor_id: String,
}

impl From<ProductView> for Product {
    fn from(v: ProductView) -> Product {
        Product {
            id: v.id,
            version: v.version,
            title: v.title,
            description: v.description,
            image_urls: v.image_urls,
            category_id: v.category_id,
            attributes: v.attributes,
            variants: v.variants.into_iter().map(Variant::from).collect(),
            status: agora_projections::products::status_name(v.status),
            vendor_id: v.vendor_id,
        }
    }
}

/// Query of `GET /admin/products`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductFilter {
    /// `draft`, `published` or `archived`.
    pub status: Option<String>,
    pub vendor_id: Option<String>,
    /// Products directly in this category.
    pub category_id: Option<String>,
    /// Case-insensitive substring of the title, taken literally (up to 200 characters).
    pub q: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The stock of one of a product's SKUs; a SKU never received counts as zero.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct SkuStock {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

/// A product row of the back-office read model, with its stock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductRow {
    pub id: String,
    pub vendor_id: String,
    pub title: String,
    pub description: String,
    /// `draft`, `published` or `archived`.
    pub status: String,
    pub category_id: Option<String>,
    pub image_urls: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub variants: Vec<Variant>,
    /// Lowest variant price in minor units; none without variants.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub currency: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// One entry per SKU, in variant order.
    pub stock: Vec<SkuStock>,
    /// Sum of `available` over the SKUs.
    pub total_available: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    /// Rows matching the filter, over all pages.
    pub total: i64,
    pub items: Vec<ProductRow>,
}

/// Query of `GET /store/products`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StoreFilter {
    /// Products in this category or any category below it.
    pub category_id: Option<String>,
    /// Products of this marketplace vendor (UUID) only: its storefront page.
    pub vendor_id: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A published product as a shopper sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoreProduct {
    pub id: String,
    pub title: String,
    pub description: String,
    pub image_urls: Vec<String>,
    pub category_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub variants: Vec<Variant>,
    /// Lowest variant price in minor units of `currency`.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub currency: Option<String>,
    /// Whether any of its SKUs has units available.
    pub in_stock: bool,
    /// The SKUs of its variants that have units available now, in SKU order.
    #[serde(default)]
    pub available_skus: Vec<String>,
    /// The marketplace vendor who sells it; absent for the shop's own goods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold_by: Option<SoldBy>,
}

/// A marketplace vendor as a product shows it: "sold by".
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SoldBy {
    /// Its public page: `GET /store/vendors/{id}`.
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StorePage {
    pub total: i64,
    pub items: Vec<StoreProduct>,
}

/// Body of `POST /admin/categories`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategory {
    /// The new category's id: 1–64 of `a-z 0-9 -`.
    #[schema(example = "mens-shirts")]
    pub id: String,
    /// 1–100 characters.
    #[schema(example = "Men's shirts")]
    pub name: String,
    /// An existing category; fixed for good (categories never move).
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// Body of `PATCH /admin/categories/{id}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameCategory {
    pub name: String,
}

/// A category as its service sees it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Category {
    pub id: String,
    pub version: u64,
    pub name: String,
    pub parent_id: Option<String>,
}

impl From<CategoryView> for Category {
    fn from(v: CategoryView) -> Category {
        Category {
            id: v.id,
            version: v.version,
            name: v.name,
            parent_id: v.parent_id,
        }
    }
}

/// One category of the tree with the categories below it, ordered by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct CategoryNode {
    pub id: String,
    pub name: String,
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn send_product(
    state: &AppState,
    headers: &HeaderMap,
    principal: Principal,
    id: String,
    command: ProductCommand,
) -> Result<Product, ApiError> {
    let reply = service::command::<_, ProductView>(state, headers, id, principal, command).await?;
    Ok(reply.view.into())
}

async fn send_category(
    state: &AppState,
    headers: &HeaderMap,
    principal: Principal,
    id: String,
    command: CategoryCommand,
) -> Result<Category, ApiError> {
    let reply = service::command::<_, CategoryView>(state, headers, id, principal, command).await?;
    Ok(reply.view.into())
}

/// A new product's id. With an `Idempotency-Key` it is derived from the key, so a retried
/// create lands on the same stream and is answered as a duplicate instead of making a second
/// product; without one it is a fresh UUID v4.
fn new_product_id(headers: &HeaderMap, principal: &Principal) -> Result<String, ApiError> {
    if headers.contains_key(service::IDEMPOTENCY_KEY_HEADER) {
        let command_id = service::command_id(headers, principal)?;
        Ok(
            Uuid::new_v5(&PRODUCT_ID_NAMESPACE, command_id.as_uuid().as_bytes())
                .hyphenated()
                .to_string(),
        )
    } else {
        Ok(Uuid::new_v4().hyphenated().to_string())
    }
}

fn domain_error(e: CatalogError) -> ApiError {
    e.to_body().into()
}

fn unknown_category(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "catalog.unknown_category",
        format!("there is no category {id:?}"),
    )
}

/// Checks that category `id` is well-formed (else `invalid`) and exists in the read model.
async fn ensure_category(
    state: &AppState,
    id: &str,
    invalid: CatalogError,
) -> Result<(), ApiError> {
    if !is_category_id(id) {
        return Err(domain_error(invalid));
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM categories WHERE category_id = $1)")
            .bind(id)
            .fetch_one(&state.pool)
            .await?;
    if exists {
        Ok(())
    } else {
        Err(unknown_category(id))
    }
}

const STATUSES: &[&str] = &["draft", "published", "archived"];

// ---------------------------------------------------------------------------------------------
// Back office: products

/// Create a draft product. Send an `Idempotency-Key` to make retries safe: the same key
/// always names the same product. A SKU belongs to one product for life: a SKU another product
/// holds (or ever held) is refused with `409 catalog.sku_taken`.
#[utoipa::path(post, path = "/admin/products", tag = "catalog", request_body = CreateProduct,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key create one product")),
    security(("bearer" = [])),
    responses((status = 201, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn create_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CreateProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    if let Some(category) = &body.category_id {
        ensure_category(&state, category, CatalogError::InvalidCategoryId).await?;
    }
    let id = new_product_id(&headers, &principal)?;
    let command = ProductCommand::Create {
        title: body.title,
        description: body.description,
        image_urls: body.image_urls,
        category_id: body.category_id,
        attributes: body.attributes,
        vendor_id: body.vendor_id,
        variants: body.variants.into_iter().map(VariantInput::from).collect(),
    };
    let product = send_product(&state, &headers, principal, id, command).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// Change a product's title, description, images, category or attributes.
#[utoipa::path(patch, path = "/admin/products/{id}", tag = "catalog", request_body = UpdateProduct,
    params(("id" = String, Path, description = "product id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn update_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<UpdateProduct>,
) -> Result<Json<Product>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let id = params::product_id(&raw)?;
    if let Some(Some(category)) = &body.category_id {
        ensure_category(&state, category, CatalogError::InvalidCategoryId).await?;
    }
    let command = ProductCommand::Update {
        title: body.title,
        description: body.description,
        image_urls: body.image_urls,
        category_id: body.category_id,
        attributes: body.attributes,
    };
    Ok(Json(
        send_product(&state, &headers, principal, id, command).await?,
    ))
}

/// Read one product, whatever its status (strongly consistent: served by its service).
#[utoipa::path(get, path = "/admin/products/{id}", tag = "catalog",
    params(("id" = String, Path, description = "product id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn get_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Product>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, false)?;
    let id = params::product_id(&raw)?;
    let view: ProductView =
        service::get::<agora_catalog::Product, _>(&state, &headers, id, principal).await?;
    Ok(Json(view.into()))
}

/// Add a variant to a product. Its SKU must not belong to another product
/// (`409 catalog.sku_taken`); a SKU this product held before may come back.
#[utoipa::path(post, path = "/admin/products/{id}/variants", tag = "catalog", request_body = Variant,
    params(("id" = String, Path, description = "product id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn add_variant(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<Variant>,
) -> Result<Json<Product>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let id = params::product_id(&raw)?;
    let command = ProductCommand::AddVariant {
        variant: body.into(),
    };
    Ok(Json(
        send_product(&state, &headers, principal, id, command).await?,
    ))
}

/// Set the price of one variant.
#[utoipa::path(put, path = "/admin/products/{id}/variants/{sku}/price", tag = "catalog", request_body = Price,
    params(("id" = String, Path, description = "product id (UUID)"), ("sku" = String, Path, description = "the variant's SKU"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn change_price(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, raw_sku)): Path<(String, String)>,
    Json(body): Json<Price>,
) -> Result<Json<Product>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let id = params::product_id(&raw)?;
    let sku = params::sku(&raw_sku)?;
    let command = ProductCommand::ChangePrice {
        sku,
        price: body.into(),
    };
    Ok(Json(
        send_product(&state, &headers, principal, id, command).await?,
    ))
}

/// Set the weight and packed size of one variant (replacing both), which shipping rates by
/// weight use.
#[utoipa::path(put, path = "/admin/products/{id}/variants/{sku}/shipping", tag = "catalog", request_body = VariantShipping,
    params(("id" = String, Path, description = "product id (UUID)"), ("sku" = String, Path, description = "the variant's SKU"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn set_variant_shipping(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, raw_sku)): Path<(String, String)>,
    Json(body): Json<VariantShipping>,
) -> Result<Json<Product>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let id = params::product_id(&raw)?;
    let sku = params::sku(&raw_sku)?;
    let command = ProductCommand::SetShipping {
        sku,
        shipping: body.into(),
    };
    Ok(Json(
        send_product(&state, &headers, principal, id, command).await?,
    ))
}

/// Remove a variant (a published product keeps at least one).
#[utoipa::path(delete, path = "/admin/products/{id}/variants/{sku}", tag = "catalog",
    params(("id" = String, Path, description = "product id (UUID)"), ("sku" = String, Path, description = "the variant's SKU"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn remove_variant(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, raw_sku)): Path<(String, String)>,
) -> Result<Json<Product>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let id = params::product_id(&raw)?;
    let sku = params::sku(&raw_sku)?;
    let command = ProductCommand::RemoveVariant { sku };
    Ok(Json(
        send_product(&state, &headers, principal, id, command).await?,
    ))
}

/// Sends one of the body-less life-cycle commands.
async fn life_cycle(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    command: ProductCommand,
) -> Result<Json<Product>, ApiError> {
    let principal = auth::back_office(state, headers, auth::Area::Catalog, true)?;
    let id = params::product_id(raw)?;
    Ok(Json(
        send_product(state, headers, principal, id, command).await?,
    ))
}

/// Make a product visible to shoppers (it needs a variant); a no-op when it already is.
#[utoipa::path(post, path = "/admin/products/{id}/publish", tag = "catalog",
    params(("id" = String, Path, description = "product id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Product>, ApiError> {
    life_cycle(&state, &headers, &raw, ProductCommand::Publish {}).await
}

/// Take a product back to draft; a no-op on a draft.
#[utoipa::path(post, path = "/admin/products/{id}/unpublish", tag = "catalog",
    params(("id" = String, Path, description = "product id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn unpublish(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Product>, ApiError> {
    life_cycle(&state, &headers, &raw, ProductCommand::Unpublish {}).await
}

/// Retire a product for good: an archived product accepts no further change.
#[utoipa::path(post, path = "/admin/products/{id}/archive", tag = "catalog",
    params(("id" = String, Path, description = "product id (UUID)")),
    security(("bearer" = [])),
    responses((status = 200, body = Product), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn archive(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Product>, ApiError> {
    life_cycle(&state, &headers, &raw, ProductCommand::Archive {}).await
}

/// The columns of a product row shared by the back-office list and its decoding.
#[derive(Debug, sqlx::FromRow)]
struct ProductRecord {
    product_id: String,
    vendor_id: String,
    title: String,
    description: String,
    status: String,
    category_id: Option<String>,
    image_urls: Jsonb<Vec<String>>,
    attributes: Jsonb<BTreeMap<String, String>>,
    variants: Jsonb<Vec<ProductVariant>>,
    price_min: Option<i64>,
    price_max: Option<i64>,
    currency: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    stock: Jsonb<Vec<SkuStock>>,
    total_available: i64,
    total: i64,
}

impl From<ProductRecord> for ProductRow {
    fn from(r: ProductRecord) -> ProductRow {
        ProductRow {
            id: r.product_id,
            vendor_id: r.vendor_id,
            title: r.title,
            description: r.description,
            status: r.status,
            category_id: r.category_id,
            image_urls: r.image_urls.0,
            attributes: r.attributes.0,
            variants: r.variants.0.into_iter().map(Variant::from).collect(),
            price_min: r.price_min,
            price_max: r.price_max,
            currency: r.currency,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            stock: r.stock.0,
            total_available: r.total_available,
        }
    }
}

/// List products of the read model with their stock, most recently changed first.
#[utoipa::path(get, path = "/admin/products", tag = "catalog", params(ProductFilter),
    security(("bearer" = [])),
    responses((status = 200, body = ProductPage), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<ProductFilter>,
) -> Result<Json<ProductPage>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, false)?;
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    // A vendor's user lists its own vendor's products, whatever the filter asks.
    let vendor_filter = match principal.vendor() {
        Some(vendor) => Some(vendor.to_string()),
        None => filter.vendor_id.clone(),
    };
    if let Some(status) = &filter.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(params::invalid_query(
                "status is draft, published or archived",
            ));
        }
    }
    let pattern = params::search_text(filter.q.as_deref())?.map(|q| params::contains_pattern(&q));
    // Every SKU of the product appears in `stock`, in variant order; one never received has no
    // `stock_levels` row yet and counts as zero.
    let records: Vec<ProductRecord> = sqlx::query_as(
        r"SELECT p.product_id, p.vendor_id, p.title, p.description, p.status, p.category_id,
                p.image_urls, p.attributes, p.variants, p.price_min, p.price_max, p.currency,
                p.version, p.created_at, p.updated_at, st.stock, st.total_available,
                count(*) OVER () AS total
         FROM products p
         CROSS JOIN LATERAL (
             SELECT COALESCE(jsonb_agg(jsonb_build_object(
                        'sku', u.sku,
                        'on_hand', COALESCE(s.on_hand, 0),
                        'reserved', COALESCE(s.reserved, 0),
                        'available', COALESCE(s.available, 0)) ORDER BY u.ord), '[]'::jsonb) AS stock,
                    COALESCE(sum(s.available), 0)::bigint AS total_available
             FROM unnest(p.skus) WITH ORDINALITY AS u (sku, ord)
             LEFT JOIN stock_levels s ON s.sku = u.sku
         ) st
         WHERE ($1::text IS NULL OR p.status = $1)
           AND ($2::text IS NULL OR p.vendor_id = $2)
           AND ($3::text IS NULL OR p.category_id = $3)
           AND ($4::text IS NULL OR p.title ILIKE $4 ESCAPE '\')
         ORDER BY p.updated_at DESC, p.product_id
         LIMIT $5 OFFSET $6",
    )
    .bind(&filter.status)
    .bind(&vendor_filter)
    .bind(&filter.category_id)
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(ProductPage {
        total,
        items: records.into_iter().map(ProductRow::from).collect(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Back office: categories

/// Query of `GET /admin/categories`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CategoryFilter {
    /// Case-insensitive substring of the name or the id, taken literally (up to 200
    /// characters).
    pub q: Option<String>,
    /// Only the children of this category.
    pub parent_id: Option<String>,
    /// `name` (default), `newest` or `products` (most products first).
    pub sort: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A category of the read model, as the back office lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct CategoryRow {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    /// Products of any status filed directly under this category.
    pub product_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryPage {
    /// Rows matching the filter, over all pages.
    pub total: i64,
    pub items: Vec<CategoryRow>,
}

#[derive(sqlx::FromRow)]
struct CategoryRowRecord {
    #[sqlx(flatten)]
    row: CategoryRow,
    total: i64,
}

/// List categories of the read model, filtered by name and parent, paged.
#[utoipa::path(get, path = "/admin/categories", tag = "catalog", params(CategoryFilter),
    security(("bearer" = [])),
    responses((status = 200, body = CategoryPage), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)))]
pub async fn list_categories(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<CategoryFilter>,
) -> Result<Json<CategoryPage>, ApiError> {
    auth::back_office(&state, &headers, auth::Area::Catalog, false)?;
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    if let Some(parent) = &filter.parent_id {
        if !is_category_id(parent) {
            return Err(params::invalid_query(
                "parent_id is 1 to 64 characters of a-z, 0-9 or '-'",
            ));
        }
    }
    // The order is chosen from a fixed list, never from the client's text.
    let order = match filter.sort.as_deref() {
        None | Some("name") => "c.name, c.category_id",
        Some("newest") => "c.created_at DESC, c.category_id",
        Some("products") => "product_count DESC, c.name, c.category_id",
        Some(_) => return Err(params::invalid_query("sort is name, newest or products")),
    };
    let pattern = params::search_text(filter.q.as_deref())?.map(|q| params::contains_pattern(&q));
    let records: Vec<CategoryRowRecord> = sqlx::query_as(&format!(
        r"SELECT c.category_id AS id, c.name, c.parent_id, c.created_at, c.updated_at,
                (SELECT count(*) FROM products p WHERE p.category_id = c.category_id) AS product_count,
                count(*) OVER () AS total
         FROM categories c
         WHERE ($1::text IS NULL OR c.name ILIKE $1 ESCAPE '\' OR c.category_id ILIKE $1 ESCAPE '\')
           AND ($2::text IS NULL OR c.parent_id = $2)
         ORDER BY {order}
         LIMIT $3 OFFSET $4"
    ))
    .bind(&pattern)
    .bind(&filter.parent_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(CategoryPage {
        total,
        items: records.into_iter().map(|r| r.row).collect(),
    }))
}

/// Create a category, at the top of the tree or under an existing one.
#[utoipa::path(post, path = "/admin/categories", tag = "catalog", request_body = CreateCategory,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 201, body = Category), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody),
        (status = 503, body = ApiErrorBody)))]
pub async fn create_category(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CreateCategory>,
) -> Result<(StatusCode, Json<Category>), ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    if !is_category_id(&body.id) {
        return Err(domain_error(CatalogError::InvalidCategoryId));
    }
    if let Some(parent) = &body.parent_id {
        if parent == &body.id {
            return Err(domain_error(CatalogError::InvalidParent));
        }
        ensure_category(&state, parent, CatalogError::InvalidParent).await?;
    }
    let command = CategoryCommand::Create {
        name: body.name,
        parent_id: body.parent_id,
    };
    let category = send_category(&state, &headers, principal, body.id, command).await?;
    Ok((StatusCode::CREATED, Json(category)))
}

/// Rename a category.
#[utoipa::path(patch, path = "/admin/categories/{id}", tag = "catalog", request_body = RenameCategory,
    params(("id" = String, Path, description = "category id"),
           ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key apply once")),
    security(("bearer" = [])),
    responses((status = 200, body = Category), (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
pub async fn rename_category(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Json(body): Json<RenameCategory>,
) -> Result<Json<Category>, ApiError> {
    let principal = auth::back_office(&state, &headers, auth::Area::Catalog, true)?;
    let id = params::category_id(&raw)?;
    let command = CategoryCommand::Rename { name: body.name };
    Ok(Json(
        send_category(&state, &headers, principal, id, command).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Storefront

/// A published product's public columns, plus which of its SKUs are available.
#[derive(Debug, sqlx::FromRow)]
struct StoreRecord {
    product_id: String,
    title: String,
    description: String,
    category_id: Option<String>,
    image_urls: Jsonb<Vec<String>>,
    attributes: Jsonb<BTreeMap<String, String>>,
    variants: Jsonb<Vec<ProductVariant>>,
    price_min: Option<i64>,
    price_max: Option<i64>,
    currency: Option<String>,
    available_skus: Vec<String>,
    /// The active marketplace vendor selling it, if any.
    vendor_id: Option<String>,
    vendor_name: Option<String>,
}

impl From<StoreRecord> for StoreProduct {
    fn from(r: StoreRecord) -> StoreProduct {
        StoreProduct {
            id: r.product_id,
            title: r.title,
            description: r.description,
            category_id: r.category_id,
            image_urls: r.image_urls.0,
            attributes: r.attributes.0,
            variants: r.variants.0.into_iter().map(Variant::from).collect(),
            price_min: r.price_min,
            price_max: r.price_max,
            currency: r.currency,
            in_stock: !r.available_skus.is_empty(),
            available_skus: r.available_skus,
            sold_by: r
                .vendor_id
                .zip(r.vendor_name)
                .map(|(id, name)| SoldBy { id, name }),
        }
    }
}

/// The columns shoppers may see: never the status or the folded state, and of the vendor
/// only a marketplace vendor's id and name (its public page).
const STORE_COLUMNS: &str = "p.product_id, p.title, p.description, p.category_id, p.image_urls,
    p.attributes, p.variants, p.price_min, p.price_max, p.currency,
    ARRAY(SELECT s.sku FROM stock_levels s WHERE s.sku = ANY (p.skus) AND s.available > 0
          ORDER BY s.sku) AS available_skus,
    sv.vendor_id, sv.name AS vendor_name";

/// Joins the product's marketplace vendor, if it is one (a product whose vendor is not
/// active is never shown, so only an active one can be found).
const STORE_VENDOR_JOIN: &str = "LEFT JOIN vendors sv ON sv.vendor_id = p.vendor_id";

#[derive(Debug, sqlx::FromRow)]
struct StorePageRecord {
    #[sqlx(flatten)]
    product: StoreRecord,
    total: i64,
}

/// Published products, most recently changed first; `category_id` includes its subcategories.
#[utoipa::path(get, path = "/store/products", tag = "storefront", params(StoreFilter),
    responses((status = 200, body = StorePage), (status = 400, body = ApiErrorBody)))]
pub async fn store_products(
    State(state): State<AppState>,
    Query(filter): Query<StoreFilter>,
) -> Result<Json<StorePage>, ApiError> {
    let (limit, offset) = params::page(filter.limit, filter.offset)?;
    let vendor = filter
        .vendor_id
        .as_deref()
        .map(|v| params::uuid_id(v, "vendor"))
        .transpose()?;
    if let Some(category) = &filter.category_id {
        if !is_category_id(category) {
            return Err(params::invalid_query(
                "category_id is 1 to 64 characters of a-z, 0-9 or '-'",
            ));
        }
    }
    // `UNION` (not `UNION ALL`) stops the walk even if the tree ever held a cycle.
    let records: Vec<StorePageRecord> = sqlx::query_as(&format!(
        "WITH RECURSIVE subtree (category_id) AS (
             SELECT category_id FROM categories WHERE category_id = $1
             UNION
             SELECT c.category_id FROM categories c JOIN subtree t ON c.parent_id = t.category_id
         )
         SELECT {STORE_COLUMNS}, count(*) OVER () AS total
         FROM products p {STORE_VENDOR_JOIN}
         WHERE p.status = 'published'
           AND NOT EXISTS (SELECT 1 FROM vendors v WHERE v.vendor_id = p.vendor_id AND v.status <> 'active')
           AND ($1::text IS NULL OR p.category_id IN (SELECT category_id FROM subtree))
           AND ($4::text IS NULL OR (p.vendor_id = $4 AND sv.status = 'active'))
         ORDER BY p.updated_at DESC, p.product_id
         LIMIT $2 OFFSET $3"
    ))
    .bind(&filter.category_id)
    .bind(limit)
    .bind(offset)
    .bind(&vendor)
    .fetch_all(&state.pool)
    .await?;
    let total = records.first().map(|r| r.total).unwrap_or(0);
    Ok(Json(StorePage {
        total,
        items: records
            .into_iter()
            .map(|r| StoreProduct::from(r.product))
            .collect(),
    }))
}

/// One published product. Drafts, archived products and those of a marketplace vendor that is
/// suspended or closed do not exist for shoppers.
#[utoipa::path(get, path = "/store/products/{id}", tag = "storefront",
    params(("id" = String, Path, description = "product id (UUID)")),
    responses((status = 200, body = StoreProduct), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
pub async fn store_product(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<StoreProduct>, ApiError> {
    let id = params::product_id(&raw)?;
    let record: Option<StoreRecord> = sqlx::query_as(&format!(
        "SELECT {STORE_COLUMNS} FROM products p {STORE_VENDOR_JOIN}
         WHERE p.product_id = $1 AND p.status = 'published'
           AND NOT EXISTS (SELECT 1 FROM vendors v WHERE v.vendor_id = p.vendor_id AND v.status <> 'active')"
    ))
    .bind(&id)
    .fetch_optional(&state.pool)
    .await?;
    record
        .map(|r| Json(r.into()))
        .ok_or_else(|| domain_error(CatalogError::NotFound))
}

#[derive(Debug, sqlx::FromRow)]
struct CategoryRecord {
    category_id: String,
    name: String,
    parent_id: Option<String>,
}

/// The whole category tree: top-level categories with their descendants, each level by name.
#[utoipa::path(get, path = "/store/categories", tag = "storefront",
    responses((status = 200, body = Vec<CategoryNode>)))]
pub async fn store_categories(
    State(state): State<AppState>,
) -> Result<Json<Vec<CategoryNode>>, ApiError> {
    let rows: Vec<CategoryRecord> =
        sqlx::query_as("SELECT category_id, name, parent_id FROM categories")
            .fetch_all(&state.pool)
            .await?;
    Ok(Json(category_tree(rows)))
}

/// Nests categories under their parents, each level ordered by name then id. A category whose
/// parent is not (yet) in the read model is shown at the top rather than hidden with its
/// branch. Every node is placed at most once, so even a cycle could not loop; its members,
/// having no way up to the top, would simply not be shown.
fn category_tree(mut rows: Vec<CategoryRecord>) -> Vec<CategoryNode> {
    rows.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.category_id.cmp(&b.category_id))
    });
    let known: HashSet<String> = rows.iter().map(|r| r.category_id.clone()).collect();
    let mut by_parent: HashMap<Option<String>, Vec<CategoryRecord>> = HashMap::new();
    for row in rows {
        let parent = row.parent_id.clone().filter(|p| known.contains(p));
        by_parent.entry(parent).or_default().push(row);
    }
    fn nodes(
        parent: Option<String>,
        by_parent: &mut HashMap<Option<String>, Vec<CategoryRecord>>,
    ) -> Vec<CategoryNode> {
        by_parent
            .remove(&parent)
            .unwrap_or_default()
            .into_iter()
            .map(|row| CategoryNode {
                children: nodes(Some(row.category_id.clone()), by_parent),
                id: row.category_id,
                name: row.name,
            })
            .collect()
    }
    nodes(None, &mut by_parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(id: &str, name: &str, parent: Option<&str>) -> CategoryRecord {
        CategoryRecord {
            category_id: id.into(),
            name: name.into(),
            parent_id: parent.map(str::to_string),
        }
    }

    fn node(id: &str, name: &str, children: Vec<CategoryNode>) -> CategoryNode {
        CategoryNode {
            id: id.into(),
            name: name.into(),
            children,
        }
    }

    #[test]
    fn categories_nest_under_their_parents_ordered_by_name() {
        let tree = category_tree(vec![
            row("shirts", "Shirts", Some("men")),
            row("women", "Women", None),
            row("men", "Men", None),
            row("coats", "Coats", Some("men")),
            row("linen", "Linen", Some("shirts")),
        ]);
        assert_eq!(
            tree,
            vec![
                node(
                    "men",
                    "Men",
                    vec![
                        node("coats", "Coats", vec![]),
                        node("shirts", "Shirts", vec![node("linen", "Linen", vec![])]),
                    ]
                ),
                node("women", "Women", vec![]),
            ]
        );
    }

    #[test]
    fn a_category_whose_parent_is_missing_is_shown_at_the_top() {
        let tree = category_tree(vec![row("shirts", "Shirts", Some("men"))]);
        assert_eq!(tree, vec![node("shirts", "Shirts", vec![])]);
    }

    #[test]
    fn a_cycle_cannot_make_the_tree_loop() {
        let tree = category_tree(vec![
            row("a", "A", Some("b")),
            row("b", "B", Some("a")),
            row("c", "C", Some("c")),
            row("top", "Top", None),
        ]);
        assert_eq!(tree, vec![node("top", "Top", vec![])]);
    }

    #[test]
    fn the_tree_serializes_as_nested_json() {
        let tree = category_tree(vec![row("men", "Men", None), row("s", "S", Some("men"))]);
        assert_eq!(
            serde_json::to_value(tree).expect("serializes"),
            json!([{"id": "men", "name": "Men", "children": [{"id": "s", "name": "S", "children": []}]}])
        );
    }

    #[test]
    fn an_update_tells_absent_from_null_category() {
        let absent: UpdateProduct = serde_json::from_value(json!({"title": "x"})).expect("parses");
        let cleared: UpdateProduct =
            serde_json::from_value(json!({"category_id": null})).expect("parses");
        let set: UpdateProduct =
            serde_json::from_value(json!({"category_id": "shoes"})).expect("parses");
        assert_eq!(absent.category_id, None);
        assert_eq!(cleared.category_id, Some(None));
        assert_eq!(set.category_id, Some(Some("shoes".into())));
    }

    #[test]
    fn request_bodies_reject_fields_the_client_may_not_send() {
        let variant =
            json!({"sku": "A", "title": "t", "price": {"amount_minor": 100, "currency": "EUR"}});
        let create = |extra: serde_json::Value| {
            let mut body = json!({"title": "T", "vendor_id": "acme", "variants": [variant]});
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            serde_json::from_value::<CreateProduct>(body)
        };
        assert!(create(json!({})).is_ok());
        for field in ["status", "version", "id", "price_min", "now"] {
            assert!(create(json!({ field: "x" })).is_err(), "{field}");
        }
        assert!(serde_json::from_value::<Variant>(json!({
            "sku": "A", "title": "t", "price": {"amount_minor": 1, "currency": "EUR"}, "stock": 3
        }))
        .is_err());
        assert!(serde_json::from_value::<Variant>(json!({
            "sku": "A", "title": "t", "price": {"amount_minor": 1, "currency": "eur"}
        }))
        .is_err());
        assert!(serde_json::from_value::<Price>(
            json!({"amount_minor": 1, "currency": "EUR", "tax": 0})
        )
        .is_err());
        assert!(serde_json::from_value::<UpdateProduct>(json!({"status": "published"})).is_err());
        assert!(
            serde_json::from_value::<RenameCategory>(json!({"name": "n", "parent_id": "x"}))
                .is_err()
        );
    }

    #[test]
    fn retried_creates_with_one_key_name_one_product() {
        let mut headers = HeaderMap::new();
        headers.insert(
            service::IDEMPOTENCY_KEY_HEADER,
            axum::http::HeaderValue::from_static("create-tee-1"),
        );
        let sam = Principal::Staff {
            id: "sam".into(),
            role: "staff".into(),
        };
        let first = new_product_id(&headers, &sam).expect("id");
        assert_eq!(new_product_id(&headers, &sam).expect("id"), first);
        assert!(params::product_id(&first).is_ok());
        let acme = Principal::Staff {
            id: "acme".into(),
            role: "vendor".into(),
        };
        assert_ne!(new_product_id(&headers, &acme).expect("id"), first);
        let fresh = new_product_id(&HeaderMap::new(), &sam).expect("id");
        assert_ne!(fresh, first);
        assert_eq!(Uuid::parse_str(&fresh).map(|u| u.get_version_num()), Ok(4));
    }

    #[test]
    fn a_product_view_keeps_its_status_name() {
        let view: ProductView = serde_json::from_value(json!({
            "id": "5f0c6a0e-8b1d-4c52-9e3a-0b6b8c8f9a11", "version": 3, "title": "T",
            "description": "", "image_urls": [], "category_id": null, "attributes": {},
            "variants": [{"sku": "A", "title": "t", "price": {"amount_minor": 100, "currency": "EUR"}, "attributes": {}}],
            "status": "published", "vendor_id": "acme"
        }))
        .expect("a view");
        let product = Product::from(view);
        assert_eq!(product.status, "published");
        assert_eq!(
            serde_json::to_value(&product.variants).expect("serializes"),
            json!([{"sku": "A", "title": "t", "price": {"amount_minor": 100, "currency": "EUR"}, "attributes": {}}])
        );
    }
}

//! The storefront pages: browse, search, product, cart, checkout, order, account.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use agora_kernel::{Currency, Money};
use agora_order::{OrderStatus, OrderView};
use agora_search::SearchResult;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use futures::Stream;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{enc, ApiFailure, Creds};
use crate::layout::{csrf, date, error_box, error_page, money, money_json, page, product_image};
use crate::session::{session_value, Ctx, CART_COOKIE, ORDER_COOKIE, SESSION_COOKIE};
use crate::Web;

type Page = Result<Response, Response>;

fn fail(ctx: &Ctx) -> impl Fn(ApiFailure) -> Response + '_ {
    move |e| error_page(ctx, &e)
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A redirect that also sets cookies.
fn see_other_with(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = see_other(to);
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// Categories by id, flattened from the tree, with their names.
async fn category_names(web: &Web, creds: &Creds) -> (Vec<Value>, HashMap<String, String>) {
    let tree: Vec<Value> = web
        .api
        .get("/store/categories", creds)
        .await
        .unwrap_or_default();
    let mut names = HashMap::new();
    fn walk(nodes: &[Value], names: &mut HashMap<String, String>) {
        for n in nodes {
            if let (Some(id), Some(name)) = (n["id"].as_str(), n["name"].as_str()) {
                names.insert(id.to_string(), name.to_string());
            }
            if let Some(children) = n["children"].as_array() {
                walk(children, names);
            }
        }
    }
    walk(&tree, &mut names);
    (tree, names)
}

/// What a product card shows, from a search hit or a storefront product.
struct Card {
    id: String,
    title: String,
    category_id: Option<String>,
    price_min: i64,
    price_max: i64,
    currency: String,
    in_stock: bool,
    rating_tenths: Option<i32>,
}

impl From<&agora_search::ProductDoc> for Card {
    fn from(p: &agora_search::ProductDoc) -> Card {
        Card {
            id: p.id.clone(),
            title: p.title.clone(),
            category_id: p.category_id.clone(),
            price_min: p.price_min,
            price_max: p.price_max,
            currency: p.currency.clone(),
            in_stock: p.in_stock,
            rating_tenths: p.rating_tenths,
        }
    }
}

impl Card {
    /// A product of `GET /store/products` (JSON).
    fn of_store_product(p: &Value) -> Card {
        let text = |field: &str| p[field].as_str().unwrap_or_default().to_string();
        Card {
            id: text("id"),
            title: text("title"),
            category_id: p["category_id"].as_str().map(str::to_string),
            price_min: p["price_min"].as_i64().unwrap_or(0),
            price_max: p["price_max"].as_i64().unwrap_or(0),
            currency: text("currency"),
            in_stock: p["in_stock"].as_bool().unwrap_or(false),
            rating_tenths: None,
        }
    }
}

fn product_cards(hits: &[agora_search::ProductDoc]) -> Markup {
    cards(&hits.iter().map(Card::from).collect::<Vec<_>>())
}

fn cards(cards: &[Card]) -> Markup {
    html! {
        ul.grid {
            @for p in cards {
                li.card {
                    img src=(product_image(&p.title, p.category_id.as_deref())) alt="" width="400" height="300" loading="lazy";
                    div.body {
                        h3 { a href=(format!("/products/{}", enc(&p.id))) { (p.title) } }
                        div.price-range {
                            span { (money(p.price_min, &p.currency)) }
                            @if p.price_max != p.price_min { " " span { "– " (money(p.price_max, &p.currency)) } }
                        }
                        @if p.in_stock { span.badge.ok { "In stock" } } @else { span.badge.bad { "Out of stock" } }
                        @if let Some(r) = p.rating_tenths { " " span.muted { (format!("★ {}.{}", r / 10, r % 10)) } }
                    }
                }
            }
        }
    }
}

/// `GET /`: categories, featured and new products.
pub async fn home(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Page {
    let creds = ctx.person();
    let (tree, _) = category_names(&web, &creds).await;
    let newest: SearchResult = web
        .api
        .get("/store/search?sort=newest&per_page=8", &creds)
        .await
        .map_err(fail(&ctx))?;
    let featured: SearchResult = web
        .api
        .get("/store/search?sort=rating&in_stock=true&per_page=4", &creds)
        .await
        .map_err(fail(&ctx))?;
    Ok(page(
        &ctx,
        "Shop",
        html! {
            h1 { "Welcome to Agora" }
            h2 { "Categories" }
            @if tree.is_empty() { p.empty { "No categories yet." } }
            ul.cats {
                @for c in &tree {
                    li { a href=(format!("/categories/{}", enc(c["id"].as_str().unwrap_or_default()))) { (c["name"].as_str().unwrap_or_default()) } }
                }
            }
            h2 { "Featured" }
            @if featured.hits.is_empty() { p.empty { "Nothing featured yet." } } @else { (product_cards(&featured.hits)) }
            h2 { "New arrivals" }
            @if newest.hits.is_empty() { p.empty { "No products yet." } } @else { (product_cards(&newest.hits)) }
        },
    )
    .into_response())
}

/// The search page's state; all of it lives in the URL so a search can be shared.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    category: Option<String>,
    /// In major units as people type them (`25` or `25.50`).
    #[serde(default)]
    price_min: Option<String>,
    #[serde(default)]
    price_max: Option<String>,
    #[serde(default)]
    in_stock: Option<String>,
    #[serde(default)]
    rating_min: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    page: Option<String>,
    /// The category of a category page (`/categories/{id}`): it comes from the path, so it is
    /// never a query field and cannot be removed by a filter.
    #[serde(skip)]
    fixed_category: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `25`, `25.5` or `25.50` in major units to minor units, without floating point.
pub(crate) fn major_to_minor(raw: &str) -> Option<i64> {
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if frac.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.is_empty() {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    whole.checked_mul(100)?.checked_add(frac)
}

impl SearchForm {
    fn page(&self) -> u32 {
        non_empty(&self.page)
            .and_then(|p| p.parse().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    }

    /// The page's path: the category page's, or the search page's.
    fn path(&self) -> String {
        match &self.fixed_category {
            Some(id) => format!("/categories/{}", enc(id)),
            None => "/search".to_string(),
        }
    }

    /// The category the results are limited to: the page's own, or the filter's.
    fn category(&self) -> Option<&str> {
        self.fixed_category
            .as_deref()
            .or_else(|| non_empty(&self.category))
    }

    /// This page's own URL with some fields replaced (`None` removes a field).
    fn url_with(&self, changes: &[(&str, Option<String>)]) -> String {
        let mut fields: Vec<(&str, String)> = [
            ("q", &self.q),
            ("category", &self.category),
            ("price_min", &self.price_min),
            ("price_max", &self.price_max),
            ("in_stock", &self.in_stock),
            ("rating_min", &self.rating_min),
            ("sort", &self.sort),
            ("page", &self.page),
        ]
        .into_iter()
        .filter_map(|(k, v)| non_empty(v).map(|v| (k, v.to_string())))
        .collect();
        for (k, v) in changes {
            fields.retain(|(f, _)| f != k);
            if let Some(v) = v {
                fields.push((k, v.clone()));
            }
        }
        if self.fixed_category.is_some() {
            fields.retain(|(f, _)| *f != "category");
        }
        format!(
            "{}?{}",
            self.path(),
            serde_urlencoded::to_string(&fields).unwrap_or_default()
        )
    }

    /// The API query, or a message for a field people typed wrong.
    fn api_query(&self) -> Result<String, String> {
        let mut q: Vec<(&str, String)> = vec![("per_page", "12".into())];
        if let Some(v) = non_empty(&self.q) {
            q.push(("q", v.into()));
        }
        if let Some(v) = self.category() {
            q.push(("category", v.into()));
        }
        for (field, name) in [
            ("price_min", &self.price_min),
            ("price_max", &self.price_max),
        ] {
            if let Some(v) = non_empty(name) {
                let minor = major_to_minor(v).ok_or_else(|| {
                    format!("Enter the price as a number, like 25 or 25.50 (not \"{v}\").")
                })?;
                q.push((field, minor.to_string()));
            }
        }
        if non_empty(&self.in_stock).is_some() {
            q.push(("in_stock", "true".into()));
        }
        if let Some(v) = non_empty(&self.rating_min) {
            q.push(("rating_min", v.into()));
        }
        if let Some(v) = non_empty(&self.sort) {
            q.push(("sort", v.into()));
        }
        q.push(("page", self.page().to_string()));
        Ok(format!(
            "/store/search?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        ))
    }
}

const SORTS: [(&str, &str); 5] = [
    ("relevance", "Best match"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
    ("rating", "Rating"),
    ("newest", "Newest"),
];

/// `GET /search`: typo-tolerant search with filters, facet counts, sorting and paging.
pub async fn search(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(form): Query<SearchForm>,
) -> Page {
    listing(&web, &ctx, form).await
}

/// `GET /categories/{id}`: the category's products (its subcategories' too) with the search
/// page's filters, facets, sorting and paging; the state lives in the URL as on `/search`.
pub async fn category(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(mut form): Query<SearchForm>,
) -> Page {
    form.fixed_category = Some(id);
    listing(&web, &ctx, form).await
}

/// The path from the top of the tree down to category `id` (ids and names), and the node.
fn category_trail<'a>(tree: &'a [Value], id: &str) -> Option<(Vec<(String, String)>, &'a Value)> {
    for node in tree {
        let here = (
            node["id"].as_str().unwrap_or_default().to_string(),
            node["name"].as_str().unwrap_or_default().to_string(),
        );
        if here.0 == id {
            return Some((vec![here], node));
        }
        let children = node["children"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if let Some((mut trail, found)) = category_trail(children, id) {
            trail.insert(0, here);
            return Some((trail, found));
        }
    }
    None
}

/// "Shop › Clothing › Shirts": links to each category of a trail (the last one too, unless it
/// is the current page).
fn breadcrumbs(trail: &[(String, String)], last_is_current: bool) -> Markup {
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            ol {
                li { a href="/" { "Shop" } }
                @for (i, (id, name)) in trail.iter().enumerate() {
                    @if last_is_current && i + 1 == trail.len() {
                        li { span aria-current="page" { (name) } }
                    } @else {
                        li { a href=(format!("/categories/{}", enc(id))) { (name) } }
                    }
                }
            }
        }
    }
}

async fn listing(web: &Web, ctx: &Ctx, form: SearchForm) -> Page {
    let creds = ctx.person();
    let (tree, names) = category_names(web, &creds).await;
    // A category page of a category that does not exist is a 404, not an empty list.
    let trail = match &form.fixed_category {
        Some(id) => match category_trail(&tree, id) {
            Some((trail, node)) => Some((trail, node.clone())),
            None => {
                return Err(error_page(
                    ctx,
                    &ApiFailure {
                        status: StatusCode::NOT_FOUND,
                        code: "catalog.not_found".into(),
                        message: "no such category".into(),
                    },
                ))
            }
        },
        None => None,
    };
    let (result, problem): (Option<SearchResult>, Option<String>) = match form.api_query() {
        Ok(uri) => match web.api.get::<SearchResult>(&uri, &creds).await {
            Ok(r) => (Some(r), None),
            Err(e) if e.status.is_client_error() => (None, Some(e.message)),
            Err(e) => return Err(error_page(ctx, &e)),
        },
        Err(message) => (None, Some(message)),
    };
    let title = match (non_empty(&form.q), form.category()) {
        (Some(q), Some(c)) if form.fixed_category.is_some() => format!(
            "{} · results for “{q}”",
            names.get(c).cloned().unwrap_or_else(|| c.to_string())
        ),
        (Some(q), _) => format!("Results for “{q}”"),
        (None, Some(c)) => names.get(c).cloned().unwrap_or_else(|| c.to_string()),
        _ => "All products".to_string(),
    };
    let action = form.path();
    let subcategories: Vec<(String, String)> = trail
        .as_ref()
        .and_then(|(_, node)| node["children"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let sort = non_empty(&form.sort).unwrap_or("relevance");
    let current_page = form.page();
    let mut sorted_names: Vec<(&String, &String)> = names.iter().collect();
    sorted_names.sort_by(|a, b| a.1.cmp(b.1));
    let content = html! {
        @if let Some((trail, _)) = &trail { (breadcrumbs(trail, true)) }
        h1 { (title) }
        (error_box(problem.as_deref()))
        div.layout-search {
            aside.filters aria-label="Filters" {
                @if !subcategories.is_empty() {
                    h2 { "Subcategories" }
                    ul #subcategories {
                        @for (id, name) in &subcategories {
                            @let count = result.as_ref().and_then(|r| r.facets.categories.get(id.as_str())).copied();
                            li { a href=(format!("/categories/{}", enc(id))) { (name) } @if let Some(n) = count { " (" (n) ")" } }
                        }
                    }
                }
                form #filters method="get" action=(action) {
                    @if form.fixed_category.is_some() {
                        label for="f-q" { "Search in this category" }
                        input #f-q type="search" name="q" value=(non_empty(&form.q).unwrap_or(""));
                    } @else if let Some(q) = non_empty(&form.q) { input type="hidden" name="q" value=(q); }
                    @if let Some(s) = non_empty(&form.sort) { input type="hidden" name="sort" value=(s); }
                    @if form.fixed_category.is_none() {
                        label for="f-category" { "Category" }
                        select #f-category name="category" {
                            option value="" { "Any category" }
                            @for (id, name) in &sorted_names {
                                @let count = result.as_ref().and_then(|r| r.facets.categories.get(id.as_str())).copied();
                                option value=(id) selected[non_empty(&form.category) == Some(id.as_str())] {
                                    (name) @if let Some(n) = count { " (" (n) ")" }
                                }
                            }
                        }
                    }
                    label for="f-min" { "Min price" }
                    input #f-min type="text" inputmode="decimal" name="price_min" value=(non_empty(&form.price_min).unwrap_or(""));
                    label for="f-max" { "Max price" }
                    input #f-max type="text" inputmode="decimal" name="price_max" value=(non_empty(&form.price_max).unwrap_or(""));
                    label for="f-rating" { "Rating" }
                    select #f-rating name="rating_min" {
                        option value="" { "Any rating" }
                        @for r in ["4.0", "3.0", "2.0"] {
                            option value=(r) selected[non_empty(&form.rating_min) == Some(r)] { (r) " stars and up" }
                        }
                    }
                    label.inline {
                        input type="checkbox" name="in_stock" value="1" checked[non_empty(&form.in_stock).is_some()];
                        "In stock only"
                    }
                    p { button type="submit" { "Apply filters" } }
                }
                @if let Some(r) = result.as_ref().filter(|r| r.facets.price_ranges.iter().any(|b| b.count > 0)) {
                    h2 { "Price" }
                    ul {
                        @for b in &r.facets.price_ranges {
                            @if b.count > 0 {
                                li {
                                    a href=(form.url_with(&[
                                        ("price_min", Some(format!("{}", b.min / 100))),
                                        ("price_max", b.max.map(|m| format!("{}", m / 100))),
                                        ("page", None)])) {
                                        (money(b.min, "EUR"))
                                        @if let Some(m) = b.max { " – " (money(m, "EUR")) } @else { " and up" }
                                    }
                                    " (" (b.count) ")"
                                }
                            }
                        }
                    }
                }
            }
            section aria-label="Results" {
                @if let Some(r) = &result {
                    div.toolbar {
                        p #result-count { (r.total) @if r.total == 1 { " product" } @else { " products" } }
                        form method="get" action=(action) class="inline-form" {
                            @for (k, v) in [("q", &form.q), ("category", &form.category), ("price_min", &form.price_min),
                                            ("price_max", &form.price_max), ("in_stock", &form.in_stock), ("rating_min", &form.rating_min)] {
                                @if let Some(v) = non_empty(v).filter(|_| k != "category" || form.fixed_category.is_none()) { input type="hidden" name=(k) value=(v); }
                            }
                            label for="f-sort" { "Sort by" }
                            select #f-sort name="sort" {
                                @for (value, label) in SORTS {
                                    option value=(value) selected[sort == value] { (label) }
                                }
                            }
                            button.secondary type="submit" { "Sort" }
                        }
                    }
                    @if r.hits.is_empty() {
                        div.empty { p { "No products match. Try fewer filters or another word." } }
                    } @else {
                        (product_cards(&r.hits))
                    }
                    @let pages = r.total.div_ceil(u64::from(r.per_page.max(1)));
                    @if pages > 1 {
                        nav.pager aria-label="Pages" {
                            @if current_page > 1 { a rel="prev" href=(form.url_with(&[("page", Some((current_page - 1).to_string()))])) { "← Previous" } }
                            span { "Page " (current_page) " of " (pages) }
                            @if u64::from(current_page) < pages { a rel="next" href=(form.url_with(&[("page", Some((current_page + 1).to_string()))])) { "Next →" } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(ctx, &title, content).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ProductParams {
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /products/{id}`: picture, variants with price and availability, add to cart, and
/// notify-me for a variant that is out of stock.
pub async fn product(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(params): Query<ProductParams>,
) -> Page {
    let p: Value = web
        .api
        .get(&format!("/store/products/{}", enc(&id)), &ctx.person())
        .await
        .map_err(fail(&ctx))?;
    let title = p["title"].as_str().unwrap_or_default().to_string();
    let (tree, _) = category_names(&web, &ctx.person()).await;
    let trail = p["category_id"]
        .as_str()
        .and_then(|c| category_trail(&tree, c))
        .map(|(trail, _)| trail)
        .unwrap_or_default();
    let variants = p["variants"].as_array().cloned().unwrap_or_default();
    let skus: Vec<String> = variants
        .iter()
        .filter_map(|v| v["sku"].as_str().map(str::to_string))
        .collect();
    // The SKUs with units available now, as the storefront API tells every shopper.
    let available: HashSet<&str> = p["available_skus"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let out_of_stock: Vec<&str> = skus
        .iter()
        .map(String::as_str)
        .filter(|s| !available.contains(s))
        .collect();
    let first_available = skus.iter().position(|s| available.contains(s.as_str()));
    let reviews: Value = web
        .api
        .get(
            &format!("/store/products/{}/reviews?limit=10", enc(&id)),
            &ctx.person(),
        )
        .await
        .map_err(fail(&ctx))?;
    let content = html! {
        (breadcrumbs(&trail, false))
        @if let Some(n) = &params.notice { div.notice role="status" { (n) } }
        (error_box(params.error.as_deref()))
        div.product {
            img src=(product_image(&title, p["category_id"].as_str())) alt=(format!("Picture of {title}")) width="400" height="300";
            div {
                h1 { (title) }
                @if let (Some(vendor), Some(name)) = (p["sold_by"]["id"].as_str(), p["sold_by"]["name"].as_str()) {
                    p.sold-by { "Sold by " a href=(format!("/vendors/{}", enc(vendor))) { (name) } }
                }
                p { (p["description"].as_str().unwrap_or_default()) }
                form method="post" action="/cart/add" {
                    (csrf(&ctx))
                    input type="hidden" name="product_id" value=(id);
                    fieldset {
                        legend { "Choose a variant" }
                        ul.variants {
                            @for (i, v) in variants.iter().enumerate() {
                                @let sku = v["sku"].as_str().unwrap_or_default();
                                @let in_stock = available.contains(sku);
                                li {
                                    label.inline {
                                        input type="radio" name="sku" value=(sku) checked[first_available == Some(i)] disabled[!in_stock];
                                        (v["title"].as_str().unwrap_or(sku)) " — "
                                        span.price { (money_json(&v["price"])) } " "
                                        @if in_stock { span.badge.ok { "In stock" } } @else { span.badge.bad { "Out of stock" } }
                                    }
                                }
                            }
                        }
                        label for="qty" { "Quantity" }
                        input #qty type="number" name="quantity" value="1" min="1" max="99";
                    }
                    @if first_available.is_some() {
                        button type="submit" { "Add to cart" }
                    } @else {
                        p { span.badge.bad { "Out of stock" } }
                    }
                }
                @if let Some(avg) = reviews["average_tenths"].as_i64() {
                    p.rating { a href="#reviews" {
                        span.stars aria-hidden="true" { (crate::office::reviews::stars((avg + 5) / 10)) } " "
                        (format!("{}.{} out of 5", avg / 10, avg % 10)) " · "
                        @let n = reviews["count"].as_i64().unwrap_or(0);
                        (n) @if n == 1 { " review" } @else { " reviews" }
                    } }
                }
                @if !out_of_stock.is_empty() {
                    h2 { "Tell me when it is back" }
                    form method="post" action=(format!("/products/{}/notify", enc(&id))) {
                        (csrf(&ctx))
                        label for="notify-sku" { "Variant" }
                        select #notify-sku name="sku" {
                            @for sku in &out_of_stock { option value=(sku) { (sku) } }
                        }
                        label for="notify-email" { "Email" }
                        input #notify-email type="email" name="email" required autocomplete="email";
                        p { button.secondary type="submit" { "Notify me" } }
                    }
                }
            }
        }
    };
    let content = html! { (content) (reviews_section(&ctx, &id, &reviews)) };
    Ok(page(&ctx, &title, content).into_response())
}

/// A product's published reviews, and the form to write one (signed-in shoppers).
fn reviews_section(ctx: &Ctx, product: &str, reviews: &Value) -> Markup {
    let list = reviews["reviews"].as_array().cloned().unwrap_or_default();
    let can_write = ctx
        .session
        .as_ref()
        .is_some_and(|s| !matches!(s.principal, agora_kernel::Principal::Staff { .. }));
    let text = |v: &Value, f: &str| v[f].as_str().unwrap_or_default().to_string();
    html! {
        section #reviews aria-labelledby="reviews-title" {
            h2 #reviews-title { "Reviews" }
            @if list.is_empty() { p.empty { "No reviews yet." } }
            ul.reviews {
                @for r in &list {
                    li.review {
                        p { span.stars aria-label=(format!("{} of 5 stars", r["rating"].as_i64().unwrap_or(0))) { (crate::office::reviews::stars(r["rating"].as_i64().unwrap_or(0))) } " " strong { (text(r, "title")) } }
                        @if !text(r, "body").is_empty() { p { (text(r, "body")) } }
                        p.muted { (text(r, "author_name"))
                            @if r["verified_purchase"].as_bool() == Some(true) { " · " span.badge.ok { "Verified purchase" } } }
                        @if let Some(answer) = r["response"].as_str() {
                            blockquote.response { p { strong { @if r["response_by"] == "vendor" { "The seller answers: " } @else { "The shop answers: " } } (answer) } }
                        }
                    }
                }
            }
            @if can_write {
                h3 { "Write a review" }
                form #review-form method="post" action=(format!("/products/{}/reviews", enc(product))) {
                    (csrf(ctx))
                    input type="hidden" name="key" value=(uuid::Uuid::new_v4().to_string());
                    label for="review-rating" { "Rating" }
                    select #review-rating name="rating" required {
                        @for n in (1..=5).rev() { option value=(n) { (n) @if n == 1 { " star" } @else { " stars" } } }
                    }
                    label for="review-title" { "Title" }
                    input #review-title type="text" name="title" required maxlength="120";
                    label for="review-body" { "Your review" }
                    textarea #review-body name="body" rows="4" maxlength="5000" {}
                    label for="review-name" { "Shown as" }
                    input #review-name type="text" name="display_name" required maxlength="80" autocomplete="nickname";
                    p { button type="submit" { "Send review" } }
                    p.muted { "Reviews appear once the shop has checked them. Writing again replaces yours." }
                }
            } @else {
                p { a href=(format!("/account/signin?next={}", enc(&format!("/products/{product}#reviews")))) { "Sign in to write a review" } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    rating: u8,
    title: String,
    #[serde(default)]
    body: String,
    display_name: String,
    key: String,
}

/// `POST /products/{id}/reviews`: sends the signed-in shopper's review for moderation.
pub async fn write_review(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Response {
    let back = format!("/products/{}", enc(&id));
    if ctx.session.is_none() {
        return see_other(&format!("/account/signin?next={}", enc(&back)));
    }
    let result = web
        .api
        .post(
            &format!("/store/products/{}/reviews", enc(&id)),
            &ctx.person(),
            Some(&form.key),
            &json!({"rating": form.rating, "title": form.title.trim(), "body": form.body.trim(),
                    "display_name": form.display_name.trim()}),
        )
        .await;
    match result {
        Ok(_) => see_other(&format!(
            "{back}?notice={}#reviews",
            enc("Thank you: your review will appear once the shop has checked it.")
        )),
        Err(e) if e.status.is_client_error() => {
            see_other(&format!("{back}?error={}#reviews", enc(&e.message)))
        }
        Err(e) => error_page(&ctx, &e),
    }
}

/// Products per page of a vendor's storefront page.
const VENDOR_PAGE_SIZE: u32 = 24;

#[derive(Debug, Default, Deserialize)]
pub struct VendorPageParams {
    #[serde(default)]
    page: Option<String>,
}

/// `GET /vendors/{id}`: an active marketplace vendor's page, with its products. A vendor that
/// is not active (or does not exist) is "Not found", as its products are.
pub async fn vendor(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(params): Query<VendorPageParams>,
) -> Page {
    let creds = ctx.person();
    let vendor: Value = web
        .api
        .get(&format!("/store/vendors/{}", enc(&id)), &creds)
        .await
        .map_err(fail(&ctx))?;
    let page_number = params
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|p| (1..=10_000).contains(p))
        .unwrap_or(1);
    let products: Value = web
        .api
        .get(
            &format!(
                "/store/products?vendor_id={}&limit={VENDOR_PAGE_SIZE}&offset={}",
                enc(&id),
                (page_number - 1) * VENDOR_PAGE_SIZE
            ),
            &creds,
        )
        .await
        .map_err(fail(&ctx))?;
    let name = vendor["name"].as_str().unwrap_or_default().to_string();
    let total = products["total"].as_i64().unwrap_or(0);
    let items: Vec<Card> = products["items"]
        .as_array()
        .map(|items| items.iter().map(Card::of_store_product).collect())
        .unwrap_or_default();
    let pages = (total + i64::from(VENDOR_PAGE_SIZE) - 1) / i64::from(VENDOR_PAGE_SIZE);
    let link = |n: u32| format!("/vendors/{}?page={n}", enc(&id));
    let content = html! {
        h1 { (name) }
        p.muted {
            "A seller on Agora, based in " (vendor["country"].as_str().unwrap_or_default()) ". "
            (total) @if total == 1 { " product" } @else { " products" } "."
        }
        @if items.is_empty() { p.empty { "No products for sale right now." } } @else { (cards(&items)) }
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page_number > 1 { a rel="prev" href=(link(page_number - 1)) { "Previous" } " " }
                span { "Page " (page_number) " of " (pages) }
                @if i64::from(page_number) < pages { " " a rel="next" href=(link(page_number + 1)) { "Next" } }
            }
        }
    };
    Ok(page(&ctx, &name, content).into_response())
}

#[derive(Debug, Deserialize)]
pub struct NotifyForm {
    sku: String,
    email: String,
}

/// `POST /products/{id}/notify`.
pub async fn notify_me(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Form(form): Form<NotifyForm>,
) -> Response {
    let result = web
        .api
        .post(
            &format!("/store/products/{}/notify-me", enc(&id)),
            &ctx.person(),
            None,
            &json!({"sku": form.sku, "email": form.email}),
        )
        .await;
    let back = format!("/products/{}", enc(&id));
    match result {
        Ok(_) => see_other(&format!(
            "{back}?notice={}",
            enc("We will email you when it is back.")
        )),
        Err(e) if e.status.is_client_error() => {
            see_other(&format!("{back}?error={}", enc(&e.message)))
        }
        Err(e) => error_page(&ctx, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// Cart

/// The cart as the API shows it, if the visitor has an open one.
async fn open_cart(web: &Web, ctx: &Ctx) -> Option<Value> {
    let cart = ctx.cart.as_ref()?;
    let view: Value = web
        .api
        .get(&format!("/store/carts/{}", enc(&cart.id)), &ctx.for_cart())
        .await
        .ok()?;
    (view["status"] == "open").then_some(view)
}

/// Creates a cart for the visitor: the customer's own when signed in as one, else a guest
/// cart with its token. Returns the cart reference and its cookie.
async fn new_cart(
    web: &Web,
    ctx: &Ctx,
) -> Result<(crate::session::CartRef, HeaderValue), ApiFailure> {
    let customer = ctx.session.as_ref().filter(|s| s.role() == "customer");
    let creds = if customer.is_some() {
        ctx.person()
    } else {
        Creds {
            peer: ctx.peer,
            ..Creds::default()
        }
    };
    let created = web
        .api
        .post("/store/carts", &creds, None, &json!({}))
        .await?;
    let id = created["cart_id"].as_str().unwrap_or_default().to_string();
    let token = created["cart_token"].as_str().map(str::to_string);
    let value = format!("{id}~{}", token.clone().unwrap_or_default());
    Ok((
        crate::session::CartRef { id, token },
        ctx.cookie(CART_COOKIE, &value, Some(60 * 60 * 24 * 30)),
    ))
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    quantity: Option<String>,
    #[serde(default)]
    product_id: Option<String>,
}

/// `POST /cart/add`.
pub async fn cart_add(
    State(web): State<Web>,
    Extension(mut ctx): Extension<Ctx>,
    Form(form): Form<AddForm>,
) -> Response {
    let back = form
        .product_id
        .as_deref()
        .map(|p| format!("/products/{}", enc(p)))
        .unwrap_or_else(|| "/".into());
    let Some(sku) = form.sku.filter(|s| !s.is_empty()) else {
        return see_other(&format!("{back}?error={}", enc("Choose a variant first.")));
    };
    let quantity: i64 = form
        .quantity
        .as_deref()
        .and_then(|q| q.trim().parse().ok())
        .unwrap_or(1);
    let mut cookies = Vec::new();
    if open_cart(&web, &ctx).await.is_none() {
        match new_cart(&web, &ctx).await {
            Ok((cart, cookie)) => {
                ctx.cart = Some(cart);
                cookies.push(cookie);
            }
            Err(e) => return error_page(&ctx, &e),
        }
    }
    let Some(cart) = ctx.cart.clone() else {
        return see_other(&back);
    };
    let result = web
        .api
        .post(
            &format!("/store/carts/{}/items", enc(&cart.id)),
            &ctx.for_cart(),
            None,
            &json!({"sku": sku, "quantity": quantity}),
        )
        .await;
    match result {
        Ok(_) => see_other_with("/cart?added=1", cookies),
        Err(e) if e.status.is_client_error() => {
            see_other_with(&format!("{back}?error={}", enc(&e.message)), cookies)
        }
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Debug, Deserialize)]
pub struct LineForm {
    sku: String,
    #[serde(default)]
    quantity: Option<String>,
}

/// `POST /cart/update`: a new quantity for one line (0 removes it).
pub async fn cart_update(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<LineForm>,
) -> Response {
    let Some(cart) = &ctx.cart else {
        return see_other("/cart");
    };
    let quantity: i64 = form
        .quantity
        .as_deref()
        .and_then(|q| q.trim().parse().ok())
        .unwrap_or(-1);
    let uri = format!("/store/carts/{}/items/{}", enc(&cart.id), enc(&form.sku));
    if quantity == 0 {
        change_cart(&web, &ctx, axum::http::Method::DELETE, &uri, None).await
    } else {
        let body = json!({"quantity": quantity});
        change_cart(&web, &ctx, axum::http::Method::PATCH, &uri, Some(&body)).await
    }
}

/// Sends one change of the visitor's cart to the API and goes back to the cart page, with the
/// API's message when it refused the change.
async fn change_cart(
    web: &Web,
    ctx: &Ctx,
    method: axum::http::Method,
    uri: &str,
    body: Option<&Value>,
) -> Response {
    match web.api.call(method, uri, &ctx.for_cart(), None, body).await {
        Ok(_) => see_other("/cart"),
        Err(e) if e.status.is_client_error() => {
            see_other(&format!("/cart?error={}", enc(&e.message)))
        }
        Err(e) => error_page(ctx, &e),
    }
}

/// `POST /cart/remove`.
pub async fn cart_remove(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<LineForm>,
) -> Response {
    let Some(cart) = &ctx.cart else {
        return see_other("/cart");
    };
    let uri = format!("/store/carts/{}/items/{}", enc(&cart.id), enc(&form.sku));
    change_cart(&web, &ctx, axum::http::Method::DELETE, &uri, None).await
}

/// One priced line of a cart.
struct PricedLine {
    sku: String,
    product_id: String,
    title: String,
    variant: String,
    unit: Money,
    quantity: i64,
}

/// The lines of a cart's pricing (`GET /store/carts/{id}/pricing`), as the cart page shows
/// them.
fn lines_of_pricing(pricing: &Value) -> Vec<PricedLine> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    pricing["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| PricedLine {
                    sku: text(&l["sku"]),
                    product_id: text(&l["product_id"]),
                    title: match l["product_title"].as_str() {
                        Some(t) if !t.is_empty() => t.to_string(),
                        _ => text(&l["title"]),
                    },
                    variant: text(&l["variant_title"]),
                    unit: Money::new(
                        l["unit_price"]["amount_minor"].as_i64().unwrap_or(0),
                        l["unit_price"]["currency"]
                            .as_str()
                            .and_then(|c| Currency::parse(c).ok())
                            .unwrap_or(Currency::EUR),
                    ),
                    quantity: l["quantity"].as_i64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Prices the cart's lines from the `products` read model (the one the checkout prices from).
async fn priced_lines(web: &Web, cart: &Value) -> Vec<PricedLine> {
    let lines: Vec<(String, i64)> = cart["lines"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| Some((l["sku"].as_str()?.to_string(), l["quantity"].as_i64()?)))
                .collect()
        })
        .unwrap_or_default();
    let skus: Vec<String> = lines.iter().map(|(s, _)| s.clone()).collect();
    let rows: Vec<(String, String, Option<String>, Value)> = sqlx::query_as(
        "SELECT product_id, title, category_id, variants FROM products WHERE skus && $1 AND status = 'published'",
    )
    .bind(&skus)
    .fetch_all(&web.state.pool)
    .await
    .unwrap_or_default();
    let mut by_sku: HashMap<String, (String, String, Option<String>, Value)> = HashMap::new();
    for (product_id, title, category, variants) in rows {
        for v in variants.as_array().cloned().unwrap_or_default() {
            if let Some(sku) = v["sku"].as_str() {
                by_sku.insert(
                    sku.to_string(),
                    (
                        product_id.clone(),
                        title.clone(),
                        category.clone(),
                        v.clone(),
                    ),
                );
            }
        }
    }
    lines
        .into_iter()
        .map(|(sku, quantity)| {
            let found = by_sku.get(&sku);
            let price = found.map(|f| &f.3["price"]);
            let currency = price
                .and_then(|p| p["currency"].as_str())
                .and_then(|c| Currency::parse(c).ok())
                .unwrap_or(Currency::EUR);
            PricedLine {
                product_id: found.map(|f| f.0.clone()).unwrap_or_default(),
                title: found.map(|f| f.1.clone()).unwrap_or_else(|| sku.clone()),
                variant: found
                    .and_then(|f| f.3["title"].as_str().map(str::to_string))
                    .unwrap_or_default(),
                unit: Money::new(
                    price.and_then(|p| p["amount_minor"].as_i64()).unwrap_or(0),
                    currency,
                ),
                quantity,
                sku,
            }
        })
        .collect()
}

/// The cart priced by the checkout service (`GET /store/carts/{id}/pricing`): the lines'
/// discounts, the promotions and the code, shipping, tax and total, as a checkout would price
/// it. `country` taxes for that destination; without it the shop's fallback rule estimates.
async fn cart_pricing(
    web: &Web,
    ctx: &Ctx,
    id: &str,
    to: Option<Destination<'_>>,
) -> Result<Value, ApiFailure> {
    let query = match to.filter(|to| to.country.len() == 2) {
        None => String::new(),
        Some(to) => {
            let mut query = format!("?country={}", enc(to.country));
            for (key, value) in [("postcode", to.postcode), ("shipping_option", to.option)] {
                if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) {
                    query.push_str(&format!("&{key}={}", enc(value)));
                }
            }
            if let Some(vendors) = to.vendors.filter(|v| !v.is_empty()) {
                let pairs: Vec<String> = vendors.iter().map(|(v, o)| format!("{v}:{o}")).collect();
                query.push_str(&format!(
                    "&vendor_shipping_options={}",
                    enc(&pairs.join(","))
                ));
            }
            query
        }
    };
    web.api
        .get(
            &format!("/store/carts/{}/pricing{query}", enc(id)),
            &ctx.for_cart(),
        )
        .await
}

/// Where a cart would ship, for its pricing: the country, the postcode and the shipping
/// option chosen (default: the cheapest).
#[derive(Clone, Copy)]
struct Destination<'a> {
    country: &'a str,
    postcode: Option<&'a str>,
    option: Option<&'a str>,
    /// The option chosen for each vendor shipping at its own rates.
    vendors: Option<&'a BTreeMap<String, String>>,
}

/// The pricing of a checkout form's address, or why the shop cannot ship there (a
/// `shipping.*` refusal, shown where the delivery options would be).
async fn checkout_pricing(
    web: &Web,
    ctx: &Ctx,
    cart: &Value,
    form: &CheckoutForm,
) -> (Option<Value>, Option<String>) {
    let vendor_options = form.vendor_options();
    let to = Destination {
        country: if form.country.is_empty() {
            "GB"
        } else {
            &form.country
        },
        postcode: Some(&form.postal_code),
        option: Some(&form.shipping_option),
        vendors: Some(&vendor_options),
    };
    let priced =
        match cart_pricing(web, ctx, cart["id"].as_str().unwrap_or_default(), Some(to)).await {
            Ok(p) => Ok(p),
            Err(e) if e.code == "shipping.option_unavailable" => {
                // An option chosen does not ship to the new address: offer the others.
                let to = Destination {
                    option: None,
                    vendors: None,
                    ..to
                };
                cart_pricing(web, ctx, cart["id"].as_str().unwrap_or_default(), Some(to)).await
            }
            Err(e) => Err(e),
        };
    match priced {
        Ok(mut p) => {
            name_vendors(web, ctx, &mut p).await;
            (Some(p), None)
        }
        Err(e) if e.code.starts_with("shipping.") => (None, Some(e.message)),
        Err(_) => (None, None),
    }
}

/// Names each vendor of the pricing's `vendor_shipping` (`vendor_name`), as its storefront
/// page does; a vendor that cannot be read keeps its id.
async fn name_vendors(web: &Web, ctx: &Ctx, pricing: &mut Value) {
    let Some(groups) = pricing["vendor_shipping"].as_array_mut() else {
        return;
    };
    for group in groups {
        let id = group["vendor_id"].as_str().unwrap_or_default().to_string();
        let name = web
            .api
            .get::<Value>(&format!("/store/vendors/{}", enc(&id)), &ctx.person())
            .await
            .ok()
            .and_then(|v| v["name"].as_str().map(str::to_string));
        group["vendor_name"] = json!(name.unwrap_or(id));
    }
}

/// The delivery choice of the checkout form: the options that ship the cart to the address
/// entered, with their price and estimate, the one priced checked.
fn delivery_box(pricing: Option<&Value>, refusal: Option<&str>) -> Markup {
    let options = pricing
        .and_then(|p| p["shipping_options"].as_array().cloned())
        .unwrap_or_default();
    let chosen = pricing
        .and_then(|p| p["shipping_option"]["option_id"].as_str())
        .unwrap_or_default()
        .to_string();
    let vendors = pricing
        .and_then(|p| p["vendor_shipping"].as_array().cloned())
        .unwrap_or_default();
    html! {
        @if refusal.is_some() || !options.is_empty() || !vendors.is_empty() {
            fieldset #delivery {
                legend { "Delivery" }
                @if let Some(refusal) = refusal { p.error #delivery-error role="alert" { (refusal) } }
                @if !vendors.is_empty() && !options.is_empty() { p.muted { "Shipped by the shop" } }
                (delivery_options("shipping_option", &options, &chosen))
                @for group in &vendors {
                    @let vendor = group["vendor_id"].as_str().unwrap_or_default();
                    div.vendor-delivery data-vendor=(vendor) {
                        p.muted { "Shipped by " strong { (group["vendor_name"].as_str().unwrap_or(vendor)) } }
                        @let chosen = group["option"]["option_id"].as_str().unwrap_or_default().to_string();
                        @let options = group["options"].as_array().cloned().unwrap_or_default();
                        (delivery_options(&format!("{VENDOR_OPTION_FIELD}{vendor}"), &options, &chosen))
                    }
                }
                button.secondary #update-delivery type="submit" name="update" value="1" formnovalidate { "Update delivery options for this address" }
            }
        }
    }
}

/// One radio group of delivery options named `field`, `chosen` checked.
fn delivery_options(field: &str, options: &[Value], chosen: &str) -> Markup {
    html! {
        @for o in options {
            @let id = o["option_id"].as_str().unwrap_or_default();
            label.inline data-option=(id) {
                input type="radio" name=(field) value=(id) checked[id == chosen];
                strong { (o["name"].as_str().unwrap_or_default()) }
                " · " (crate::layout::days(o["min_days"].as_u64().unwrap_or(0), o["max_days"].as_u64().unwrap_or(0))) " · "
                @if o["free"].as_bool().unwrap_or(false) || o["price"]["amount_minor"].as_i64() == Some(0) { "Free" } @else { (money_json(&o["price"])) }
            }
            br;
        }
    }
}

/// The totals of a priced cart, with every promotion that applies named on its own line.
fn totals_box(p: &Value) -> Markup {
    let zero = |k: &str| p[k]["amount_minor"].as_i64().unwrap_or(0) == 0;
    let estimated = p["tax_estimated"].as_bool().unwrap_or(false);
    let rate = p["tax_rule"]["rate"]["rate_bp"].as_u64().unwrap_or(0);
    let included = p["tax_rule"]["rate"]["prices_include_tax"]
        .as_bool()
        .unwrap_or(false);
    let shipping_paid = p["shipping"]["amount_minor"].as_i64().unwrap_or(0)
        - p["shipping_discount"]["amount_minor"].as_i64().unwrap_or(0);
    let currency = p["currency"].as_str().unwrap_or("EUR");
    let promotions = p["promotions"].as_array().cloned().unwrap_or_default();
    html! {
        div.totals aria-label="Totals" {
            div { span { "Subtotal" } span #cart-subtotal { (money_json(&p["subtotal"])) } }
            @for promo in &promotions {
                @if promo["discount"]["amount_minor"].as_i64().unwrap_or(0) > 0 {
                    div.discount {
                        span { (promo["name"].as_str().unwrap_or("Promotion"))
                            @if let Some(code) = promo["code"].as_str() { " (" (code) ")" } }
                        span { "−" (money_json(&promo["discount"])) }
                    }
                }
            }
            div { span { "Shipping" } span #cart-shipping {
                @if p["shipping_pending"].as_bool().unwrap_or(false) { "Calculated at checkout" }
                @else if shipping_paid == 0 { "Free" } @else { (money(shipping_paid, currency)) }
            } }
            div { span { @if included { "Tax included (" } @else { "Tax (" } (format!("{}.{:02} %", rate / 100, rate % 100)) @if estimated { ", estimated" } ")" }
                span #cart-tax { (money_json(&p["tax"])) } }
            div.grand { span { "Total" } span #cart-total { (money_json(&p["total"])) } }
            @if !zero("discount") || !zero("shipping_discount") {
                p.muted #cart-savings { "You save "
                    (money(p["discount"]["amount_minor"].as_i64().unwrap_or(0) + p["shipping_discount"]["amount_minor"].as_i64().unwrap_or(0), currency)) "." }
            }
        }
    }
}

/// The code form of the cart page: the code kept on the cart, what it does or why it does not
/// apply, and a form to enter or remove one.
fn code_box(ctx: &Ctx, pricing: Option<&Value>, code: Option<&str>) -> Markup {
    let rejection = pricing.and_then(|p| p["code_rejection"]["message"].as_str());
    let applied = pricing.and_then(|p| {
        p["promotions"]
            .as_array()?
            .iter()
            .find(|promo| promo["code"].as_str().is_some() && promo["code"].as_str() == code)
            .cloned()
    });
    html! {
        section.code-box aria-labelledby="code-title" {
            h2 #code-title { "Promotion code" }
            @if let Some(code) = code {
                @if let Some(promo) = &applied {
                    p #code-status .notice role="status" { "Code " strong { (code) } " applied: " (promo["name"].as_str().unwrap_or("")) "." }
                } @else if let Some(why) = rejection {
                    p #code-status .error role="alert" { "Code " strong { (code) } " does not apply: " (why) }
                } @else {
                    p #code-status { "Code " strong { (code) } }
                }
                form.inline-form method="post" action="/cart/code/remove" {
                    (csrf(ctx))
                    button.link #remove-code type="submit" { "Remove code " (code) }
                }
            } @else {
                form.inline-form #code-form method="post" action="/cart/code" {
                    (csrf(ctx))
                    label for="cart-code" { "Code" }
                    input #cart-code type="text" name="code" autocomplete="off" maxlength="40" required;
                    button.secondary #apply-code type="submit" { "Apply" }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /cart/code`: keeps a code on the cart.
pub async fn cart_code(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some(cart) = &ctx.cart else {
        return see_other("/cart");
    };
    let uri = format!("/store/carts/{}/code", enc(&cart.id));
    let body = json!({"code": form.code.trim()});
    change_cart(&web, &ctx, axum::http::Method::PUT, &uri, Some(&body)).await
}

/// `POST /cart/code/remove`.
pub async fn cart_code_remove(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Response {
    let Some(cart) = &ctx.cart else {
        return see_other("/cart");
    };
    let uri = format!("/store/carts/{}/code", enc(&cart.id));
    change_cart(&web, &ctx, axum::http::Method::DELETE, &uri, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct CartParams {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    added: Option<String>,
}

/// `GET /cart`.
pub async fn cart(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(params): Query<CartParams>,
) -> Page {
    // The pricing carries the cart's lines, their titles, the code and the cart's status, so
    // it is all the page needs (and the edge keeps it between changes of the cart). A cart
    // that cannot be priced (an item no longer for sale) is shown from the cart and the
    // catalog, with the reason.
    let priced = match &ctx.cart {
        Some(c) => Some(cart_pricing(&web, &ctx, &c.id, None).await),
        None => None,
    };
    let (lines, code, pricing, pricing_error) = match priced {
        None => (Vec::new(), None, None, None),
        Some(Ok(p)) if p["cart_status"] != "open" => (Vec::new(), None, None, None),
        Some(Ok(p)) => {
            let lines = lines_of_pricing(&p);
            let code = p["code"].as_str().map(str::to_string);
            (lines, code, Some(p), None)
        }
        Some(Err(e)) if e.code == "cart.empty" => (Vec::new(), None, None, None),
        Some(Err(e)) => match open_cart(&web, &ctx).await {
            Some(cart) => {
                let lines = priced_lines(&web, &cart).await;
                let code = cart["code"].as_str().map(str::to_string);
                let error = (!lines.is_empty()).then_some(e.message);
                (lines, code, None, error)
            }
            None => (Vec::new(), None, None, None),
        },
    };
    let line_discount = |sku: &str| -> i64 {
        pricing
            .as_ref()
            .and_then(|p| p["lines"].as_array())
            .and_then(|ls| ls.iter().find(|l| l["sku"] == sku))
            .and_then(|l| l["discount"]["amount_minor"].as_i64())
            .unwrap_or(0)
    };
    let content = html! {
        h1 { "Your cart" }
        @if params.added.is_some() { div.notice role="status" { "Added to your cart." } }
        (error_box(params.error.as_deref().or(pricing_error.as_deref())))
        @if lines.is_empty() {
            div.empty { p { "Your cart is empty." } p { a.button href="/search" { "Browse products" } } }
        } @else {
            div.table-wrap {
                table.stack #cart-lines {
                    caption.sr-only { "Items in your cart" }
                    thead { tr { th scope="col" { "Item" } th scope="col" { "Price" } th scope="col" { "Quantity" } th.num scope="col" { "Line total" } th scope="col" { span.sr-only { "Remove" } } } }
                    tbody {
                        @for l in &lines {
                            tr data-sku=(l.sku) {
                                td {
                                    a href=(format!("/products/{}", enc(&l.product_id))) { (l.title) }
                                    br; span.muted { (l.variant) " · " (l.sku) }
                                }
                                td data-label="Price" { (money(l.unit.amount_minor, &l.unit.currency.to_string())) }
                                td {
                                    form.inline-form method="post" action="/cart/update" {
                                        (csrf(&ctx))
                                        input type="hidden" name="sku" value=(l.sku);
                                        label.sr-only for=(format!("q-{}", l.sku)) { "Quantity of " (l.title) " " (l.variant) }
                                        input id=(format!("q-{}", l.sku)) type="number" name="quantity" value=(l.quantity) min="0" max="99" style="width:5rem";
                                        button.secondary type="submit" { "Update" }
                                    }
                                }
                                td.num {
                                    @let off = line_discount(&l.sku);
                                    @if off > 0 {
                                        del.muted { (money(l.unit.amount_minor * l.quantity, &l.unit.currency.to_string())) } " "
                                        span.line-discounted { (money(l.unit.amount_minor * l.quantity - off, &l.unit.currency.to_string())) }
                                    } @else {
                                        (money(l.unit.amount_minor * l.quantity, &l.unit.currency.to_string()))
                                    }
                                }
                                td {
                                    form method="post" action="/cart/remove" {
                                        (csrf(&ctx))
                                        input type="hidden" name="sku" value=(l.sku);
                                        button.link type="submit" aria-label=(format!("Remove {} {}", l.title, l.variant)) { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (code_box(&ctx, pricing.as_ref(), code.as_deref()))
            @if let Some(p) = &pricing { (totals_box(p)) }
            p style="text-align:right" { a.button #to-checkout href="/checkout" { "Check out" } }
        }
    };
    Ok(page(&ctx, "Cart", content).into_response())
}

// ---------------------------------------------------------------------------------------------
// Checkout

/// The checkout form's fields (also what it shows again after an error).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    email: String,
    /// Set to create an account while checking out.
    #[serde(default)]
    password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    payment_method: String,
    /// A promotion code, if the shopper has one.
    #[serde(default)]
    code: String,
    /// One per rendering of the form: a resubmitted form places the same order once.
    #[serde(default)]
    key: String,
    /// The delivery option chosen (an option id of the cart's pricing for the address).
    #[serde(default)]
    shipping_option: String,
    /// Set by the button that shows the delivery options for the address entered, instead
    /// of placing the order.
    #[serde(default)]
    update: String,
    /// The other fields: the delivery option chosen for each marketplace vendor that ships
    /// at its own rates is `ship_vendor_<vendor id>`.
    #[serde(flatten)]
    other: BTreeMap<String, String>,
}

/// The field that carries the delivery option chosen for a vendor's own rates.
const VENDOR_OPTION_FIELD: &str = "ship_vendor_";

impl CheckoutForm {
    /// The delivery option chosen for each vendor shipping at its own rates, by vendor id.
    fn vendor_options(&self) -> BTreeMap<String, String> {
        self.other
            .iter()
            .filter_map(|(k, v)| {
                let vendor = k.strip_prefix(VENDOR_OPTION_FIELD)?;
                let option = v.trim();
                (!vendor.is_empty() && !option.is_empty())
                    .then(|| (vendor.to_string(), option.to_string()))
            })
            .collect()
    }
}

const CARDS: [(&str, &str); 5] = [
    ("pm_card_visa", "Visa ending 4242"),
    ("pm_card_mastercard", "Mastercard ending 4444"),
    (
        "pm_card_authenticationRequired",
        "Card that asks for 3-D Secure",
    ),
    ("pm_card_chargeDeclined", "Card that is declined"),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "Card with insufficient funds",
    ),
];

fn checkout_page(
    ctx: &Ctx,
    form: &CheckoutForm,
    error: Option<&str>,
    pricing: Option<&Value>,
    shipping_refusal: Option<&str>,
) -> Response {
    let key = uuid::Uuid::new_v4().to_string();
    let method = if form.payment_method.is_empty() {
        "pm_card_visa"
    } else {
        form.payment_method.as_str()
    };
    let country = if form.country.is_empty() {
        "GB"
    } else {
        form.country.as_str()
    };
    let content = html! {
        h1 { "Checkout" }
        (error_box(error))
        form #checkout method="post" action="/checkout" {
            (csrf(ctx))
            input type="hidden" name="key" value=(key);
            div.two {
                div {
                    fieldset {
                        legend { "Contact" }
                        label for="email" { "Email" }
                        input #email type="email" name="email" value=(form.email) required autocomplete="email";
                        @if !ctx.signed_in() {
                            label for="password" { "Password (optional: create an account)" }
                            input #password type="password" name="password" autocomplete="new-password" minlength="12" aria-describedby="password-help";
                            p #password-help .muted { "At least 12 characters. Leave empty to check out as a guest." }
                        }
                    }
                    fieldset {
                        legend { "Shipping address" }
                        label for="name" { "Full name" }
                        input #name type="text" name="name" value=(form.name) required autocomplete="name";
                        label for="line1" { "Address" }
                        input #line1 type="text" name="line1" value=(form.line1) required autocomplete="address-line1";
                        label for="line2" { "Address line 2 (optional)" }
                        input #line2 type="text" name="line2" value=(form.line2) autocomplete="address-line2";
                        label for="city" { "City" }
                        input #city type="text" name="city" value=(form.city) required autocomplete="address-level2";
                        label for="postal_code" { "Postal code" }
                        input #postal_code type="text" name="postal_code" value=(form.postal_code) required autocomplete="postal-code";
                        label for="country" { "Country" }
                        select #country name="country" autocomplete="country" {
                            @for (code, label) in [("GB", "United Kingdom"), ("DE", "Germany"), ("FR", "France"), ("NL", "Netherlands"), ("US", "United States")] {
                                option value=(code) selected[country == code] { (label) }
                            }
                        }
                    }
                }
                div {
                    (delivery_box(pricing, shipping_refusal))
                    fieldset {
                        legend { "Payment (test cards)" }
                        @for (value, label) in CARDS {
                            label.inline {
                                input type="radio" name="payment_method" value=(value) checked[method == value];
                                (label)
                            }
                            br;
                        }
                    }
                    fieldset {
                        legend { "Promotion code" }
                        label for="code" { "Code (optional)" }
                        input #code type="text" name="code" value=(form.code) autocomplete="off" maxlength="40" aria-describedby="code-help";
                        p #code-help .muted { "The code kept on your cart is filled in; empty the field to check out without it." }
                    }
                    @if let Some(p) = pricing { (totals_box(p)) }
                    p { button #pay type="submit" { "Place order and pay" } }
                }
            }
        }
    };
    page(ctx, "Checkout", content).into_response()
}

/// `GET /checkout`.
pub async fn checkout_form(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Page {
    let Some(cart) = open_cart(&web, &ctx).await else {
        return Ok(see_other("/cart"));
    };
    if cart["lines"].as_array().is_none_or(|l| l.is_empty()) {
        return Ok(see_other("/cart"));
    }
    let mut form = CheckoutForm {
        code: cart["code"].as_str().unwrap_or_default().to_string(),
        ..CheckoutForm::default()
    };
    if ctx.signed_in() {
        if let Ok(me) = web
            .api
            .get::<Value>("/store/customers/me", &ctx.person())
            .await
        {
            form.email = me["email"].as_str().unwrap_or_default().to_string();
            form.name = me["display_name"].as_str().unwrap_or_default().to_string();
        }
        // The address book's default address fills the shipping address.
        let saved: Vec<Value> = web
            .api
            .get::<Value>("/store/customers/me/addresses", &ctx.person())
            .await
            .ok()
            .and_then(|v| v["items"].as_array().cloned())
            .unwrap_or_default();
        if let Some(a) = saved
            .iter()
            .find(|a| a["is_default"].as_bool().unwrap_or(false))
            .map(|a| &a["address"])
        {
            let field = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            form.name = field("name");
            form.line1 = field("line1");
            form.line2 = field("line2");
            form.city = field("city");
            form.postal_code = field("postal_code");
            form.country = field("country");
        }
    }
    let (pricing, refusal) = checkout_pricing(&web, &ctx, &cart, &form).await;
    Ok(checkout_page(
        &ctx,
        &form,
        None,
        pricing.as_ref(),
        refusal.as_deref(),
    ))
}

/// Signs in and returns the session cookie and the new session.
async fn sign_in(
    web: &Web,
    ctx: &Ctx,
    email: &str,
    password: &str,
) -> Result<(crate::session::Session, HeaderValue), ApiFailure> {
    let creds = Creds {
        peer: ctx.peer,
        ..Creds::default()
    };
    let pair = web
        .api
        .post(
            "/store/auth/login",
            &creds,
            None,
            &json!({"email": email, "password": password}),
        )
        .await?;
    let access = pair["access_token"].as_str().unwrap_or_default();
    let refresh = pair["refresh_token"].as_str().unwrap_or_default();
    let bad = || ApiFailure {
        status: StatusCode::BAD_GATEWAY,
        code: "web.bad_tokens".into(),
        message: "the identity service answered tokens the site cannot keep".into(),
    };
    let value = session_value(access, refresh).ok_or_else(bad)?;
    let principal = crate::session::principal_of(web, access).ok_or_else(bad)?;
    Ok((
        crate::session::Session {
            access: access.into(),
            refresh: refresh.into(),
            principal,
        },
        ctx.cookie(SESSION_COOKIE, &value, Some(60 * 60 * 24 * 30)),
    ))
}

/// Moves a guest cart into the signed-in customer's cart; returns the new cart cookie.
async fn merge_guest_cart(web: &Web, ctx: &Ctx) -> Option<HeaderValue> {
    let cart = ctx.cart.as_ref()?;
    let token = cart.token.clone()?;
    if ctx.session.as_ref().map(|s| s.role()) != Some("customer") {
        return None;
    }
    let creds = Creds {
        bearer: ctx.session.as_ref().map(|s| s.access.clone()),
        cart_token: Some(token),
        peer: ctx.peer,
    };
    let merged = web
        .api
        .post(
            "/store/customers/me/cart/merge",
            &creds,
            None,
            &json!({"cart_id": cart.id}),
        )
        .await
        .ok()?;
    let id = merged["id"].as_str()?;
    Some(ctx.cookie(CART_COOKIE, &format!("{id}~"), Some(60 * 60 * 24 * 30)))
}

/// How a payment attempt ended, as far as the shopper must know now.
enum PaymentOutcome {
    Proceed,
    NeedsAction,
    Refused(String),
}

/// Waits (a few seconds at most) for the payment provider's first answer.
async fn first_payment_answer(web: &Web, creds: &Creds, order_id: &str) -> PaymentOutcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let payment: Option<Value> = web
            .api
            .get(&format!("/store/orders/{}/payment", enc(order_id)), creds)
            .await
            .ok();
        let order: Option<Value> = web
            .api
            .get(&format!("/store/orders/{}", enc(order_id)), creds)
            .await
            .ok();
        let status = payment
            .as_ref()
            .and_then(|p| p["status"].as_str())
            .unwrap_or_default()
            .to_string();
        let order_status = order
            .as_ref()
            .and_then(|o| o["status"].as_str())
            .unwrap_or_default()
            .to_string();
        match status.as_str() {
            "requires_action" => return PaymentOutcome::NeedsAction,
            "declined" | "failed" => return PaymentOutcome::Refused(
                "Your card was declined. Nothing was charged; choose another card and try again."
                    .into(),
            ),
            "authorized" | "captured" => return PaymentOutcome::Proceed,
            _ => {}
        }
        if order_status == "cancelled" {
            let reason = order
                .as_ref()
                .and_then(|o| o["cancellation"]["reason"].as_str())
                .unwrap_or("the order could not be completed");
            return PaymentOutcome::Refused(format!("The order was not placed: {reason}."));
        }
        if tokio::time::Instant::now() >= deadline {
            return PaymentOutcome::Proceed;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Waits until the cart is open again after a refused payment (the checkout hands it back).
async fn until_cart_reopened(web: &Web, ctx: &Ctx) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if open_cart(web, ctx).await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// `POST /checkout`: (register,) place the order, and follow the payment's first answer.
pub async fn checkout(
    State(web): State<Web>,
    Extension(mut ctx): Extension<Ctx>,
    Form(form): Form<CheckoutForm>,
) -> Response {
    let mut cookies: Vec<HeaderValue> = Vec::new();
    let Some(cart) = open_cart(&web, &ctx).await else {
        return see_other("/cart");
    };
    let (pricing, refusal) = checkout_pricing(&web, &ctx, &cart, &form).await;
    if !form.update.is_empty() {
        // Show the delivery options for the address entered; nothing is placed.
        return checkout_page(&ctx, &form, None, pricing.as_ref(), refusal.as_deref());
    }
    let again = |ctx: &Ctx, message: &str, cookies: Vec<HeaderValue>| {
        let mut response = checkout_page(
            ctx,
            &form,
            Some(message),
            pricing.as_ref(),
            refusal.as_deref(),
        );
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        for c in cookies {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
        response
    };
    if !ctx.signed_in() && !form.password.is_empty() {
        let creds = Creds {
            peer: ctx.peer,
            ..Creds::default()
        };
        let registered = web
            .api
            .post(
                "/store/auth/register",
                &creds,
                None,
                &json!({"email": form.email, "password": form.password, "display_name": form.name}),
            )
            .await;
        if let Err(e) = registered {
            return again(
                &ctx,
                &format!("Could not create your account: {}", e.message),
                cookies,
            );
        }
        match sign_in(&web, &ctx, &form.email, &form.password).await {
            Ok((session, cookie)) => {
                ctx.session = Some(session);
                cookies.push(cookie);
            }
            Err(e) => {
                return again(
                    &ctx,
                    &format!("Could not sign you in: {}", e.message),
                    cookies,
                )
            }
        }
        if let Some(cookie) = merge_guest_cart(&web, &ctx).await {
            let value = cookie.to_str().unwrap_or_default().to_string();
            if let Some(id) = value
                .split_once('=')
                .and_then(|(_, v)| v.split_once('~'))
                .map(|(id, _)| id.to_string())
            {
                ctx.cart = Some(crate::session::CartRef { id, token: None });
            }
            cookies.push(cookie);
        }
    }
    let Some(cart_ref) = ctx.cart.clone() else {
        return see_other("/cart");
    };
    let key = if form.key.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        form.key.clone()
    };
    let body = json!({
        "email": form.email,
        "shipping_address": {
            "name": form.name, "line1": form.line1,
            "line2": (!form.line2.is_empty()).then_some(&form.line2),
            "city": form.city, "postal_code": form.postal_code, "country": form.country,
        },
        "payment_method": form.payment_method,
    });
    let mut body = body;
    if !form.shipping_option.trim().is_empty() {
        body["shipping_option"] = json!(form.shipping_option.trim());
    }
    let vendor_options = form.vendor_options();
    if !vendor_options.is_empty() {
        body["vendor_shipping_options"] = json!(vendor_options);
    }
    let creds = ctx.for_cart();
    if !form.code.trim().is_empty() {
        body["code"] = json!(form.code.trim());
    } else if cart["code"].is_string() {
        // The shopper emptied the field: check out without the cart's code.
        let removed = web
            .api
            .call(
                axum::http::Method::DELETE,
                &format!("/store/carts/{}/code", enc(&cart_ref.id)),
                &creds,
                None,
                None,
            )
            .await;
        if let Err(e) = removed {
            return again(&ctx, &e.message, cookies);
        }
    }
    let placed = web
        .api
        .post(
            &format!("/store/carts/{}/checkout", enc(&cart_ref.id)),
            &creds,
            Some(&key),
            &body,
        )
        .await;
    let order_id = match placed {
        Ok(reply) => reply["order_id"].as_str().unwrap_or_default().to_string(),
        Err(e) if e.status.is_client_error() => return again(&ctx, &e.message, cookies),
        Err(e) => return error_page(&ctx, &e),
    };
    if let Some(token) = &cart_ref.token {
        cookies.push(ctx.cookie(
            ORDER_COOKIE,
            &format!("{order_id}~{token}"),
            Some(60 * 60 * 24 * 30),
        ));
    }
    match first_payment_answer(&web, &creds, &order_id).await {
        PaymentOutcome::Refused(message) => {
            until_cart_reopened(&web, &ctx).await;
            again(&ctx, &message, cookies)
        }
        PaymentOutcome::NeedsAction => {
            see_other_with(&format!("/orders/{}/authenticate", enc(&order_id)), cookies)
        }
        PaymentOutcome::Proceed => {
            // The cart became the order; the next purchase starts a new cart.
            cookies.push(ctx.clear(CART_COOKIE));
            see_other_with(&format!("/orders/{}", enc(&order_id)), cookies)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Orders

/// Credentials that may read `order_id`: the session, or the guest token of its cart.
pub(crate) fn order_creds(ctx: &Ctx, order_id: &str) -> Creds {
    let mut creds = ctx.person();
    if let Some((id, token)) = &ctx.order {
        if id == order_id {
            creds.cart_token = Some(token.clone());
        }
    }
    if creds.bearer.is_none() && creds.cart_token.is_none() {
        creds.cart_token = ctx.cart.as_ref().and_then(|c| c.token.clone());
    }
    creds
}

/// The status for people, and the badge's tone.
fn status_label(status: OrderStatus) -> (&'static str, &'static str) {
    match status {
        OrderStatus::New | OrderStatus::Placed => ("Placed", "warn"),
        OrderStatus::StockReserved => ("Reserving payment", "warn"),
        OrderStatus::PaymentAuthorized => ("Payment authorized", "warn"),
        OrderStatus::Confirmed => ("Confirmed", "ok"),
        OrderStatus::PartiallyShipped => ("Partly shipped", "ok"),
        OrderStatus::Shipped => ("Shipped", "ok"),
        OrderStatus::Delivered => ("Delivered", "ok"),
        OrderStatus::Cancelled => ("Cancelled", "bad"),
        OrderStatus::Refunded => ("Refunded", "bad"),
    }
}

fn status_key(status: OrderStatus) -> &'static str {
    status.as_str()
}

pub fn timeline(order: &OrderView) -> Markup {
    html! {
        @for t in &order.timeline {
            li {
                strong { (t.event.replace('_', " ")) } " · " (date(&t.at))
                @if let Some(n) = &t.note { br; span.muted { (n) } }
            }
        }
    }
}

/// Whether the order has left checkout (the live timeline stops there).
fn is_final(order: &OrderView) -> bool {
    !order.status.in_checkout()
}

/// `GET /orders/{id}`: the order, its totals and a timeline that follows it live.
pub async fn order(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<OrderQuery>,
) -> Page {
    let creds = order_creds(&ctx, &id);
    let order: OrderView = web
        .api
        .get(&format!("/store/orders/{}", enc(&id)), &creds)
        .await
        .map_err(fail(&ctx))?;
    let payment: Option<Value> = web
        .api
        .get(&format!("/store/orders/{}/payment", enc(&id)), &creds)
        .await
        .ok();
    let requires_action = payment
        .as_ref()
        .is_some_and(|p| p["status"] == "requires_action");
    let (label, tone) = status_label(order.status);
    let c = order.currency.to_string();
    let live = (!is_final(&order)).then(|| format!("/orders/{}/events", enc(&id)));
    let content = html! {
        h1 { "Order " span.muted { (&order.id[..8.min(order.id.len())]) } }
        p { "Status: " strong #order-status .badge .(tone) data-status=(status_key(order.status)) aria-live="polite" { (label) } }
        p #payment-action hidden[!requires_action] {
            "Your bank asks you to confirm this payment. "
            a href=(format!("/orders/{}/authenticate", enc(&id))) { "Confirm payment" }
        }
        div.two data-live=[live.clone()] {
            section {
                h2 { "Items" }
                div.table-wrap {
                    table.stack {
                        thead { tr { th scope="col" { "Item" } th scope="col" { "Qty" } th.num scope="col" { "Total" } } }
                        tbody {
                            @for l in &order.lines {
                                tr { td { (l.title) br; span.muted { (l.sku.as_str()) } } td data-label="Quantity" { (l.quantity) } td.num data-label="Total" { (money(l.line_total.amount_minor, &c)) } }
                            }
                        }
                    }
                }
                div.totals {
                    div { span { "Subtotal" } span { (money(order.subtotal.amount_minor, &c)) } }
                    @for p in &order.promotions {
                        @if p.discount.amount_minor > 0 {
                            div.discount { span { "Discount: " (p.name) @if let Some(code) = &p.code { " (" (code) ")" } } span { "−" (money(p.discount.amount_minor, &c)) } }
                        }
                    }
                    div { span { "Shipping" @if let Some(o) = &order.shipping_option { span #order-shipping-option { " (" (o.name) ", " (crate::layout::days(o.min_days.into(), o.max_days.into())) ")" } } } span { (money(order.shipping.amount_minor, &c)) } }
                    @for vs in &order.vendor_shipping {
                        div.muted.vendor-shipping data-vendor=(vs.vendor_id) { span { "incl. shipped by its seller: " (vs.option.name) " (" (crate::layout::days(vs.option.min_days.into(), vs.option.max_days.into())) ")" } span { (money(vs.fee.amount_minor, &c)) } }
                    }
                    @if order.shipping_discount.amount_minor > 0 {
                        div.discount { span { "Shipping discount" } span { "−" (money(order.shipping_discount.amount_minor, &c)) } }
                    }
                    div { span { "Tax" @if let Some(t) = &order.tax_rule { " (" (tax_label(t)) ")" } } span { (money(order.tax.amount_minor, &c)) } }
                    div.grand { span { "Total" } span { (money(order.total.amount_minor, &c)) } }
                    @if order.refunded.amount_minor > 0 { div { span { "Refunded" } span { (money(order.refunded.amount_minor, &c)) } } }
                }
                h2 { "Shipping to" }
                p { (order.shipping_address.name) br; (order.shipping_address.line1) br; (order.shipping_address.postal_code) " " (order.shipping_address.city) br; (order.shipping_address.country) }
                (crate::returns::order_section(&ctx, &order, q.return_error.as_deref()))
            }
            section {
                h2 { "Timeline" }
                ol.timeline #timeline { (timeline(&order)) }
                @if live.is_some() { noscript { p { a href=(format!("/orders/{}", enc(&id))) { "Reload to see the latest status" } } } }
            }
        }
    };
    Ok(page(&ctx, "Order", content).into_response())
}

/// The order page's query: what a refused return request said.
#[derive(Debug, Default, Deserialize)]
pub struct OrderQuery {
    #[serde(default)]
    return_error: Option<String>,
}

/// How the order's tax was worked out, for its totals: "19 %", "7.25 % included".
fn tax_label(t: &agora_order::OrderTax) -> String {
    let bp = t.rate.rate_bp;
    let rate = format!("{}.{:02}", bp / 100, bp % 100);
    let rate = rate.trim_end_matches('0').trim_end_matches('.');
    if t.rate.prices_include_tax {
        format!("{rate} % included")
    } else {
        format!("{rate} %")
    }
}

/// What the live order page needs to know of an order now.
async fn order_update(web: &Web, creds: &Creds, id: &str) -> Option<(u64, bool, Value)> {
    let order: OrderView = web
        .api
        .get(&format!("/store/orders/{}", enc(id)), creds)
        .await
        .ok()?;
    let requires_action = web
        .api
        .get::<Value>(&format!("/store/orders/{}/payment", enc(id)), creds)
        .await
        .is_ok_and(|p| p["status"] == "requires_action");
    let (label, tone) = status_label(order.status);
    let final_ = is_final(&order);
    let data = json!({
        "status": status_key(order.status),
        "status_label": label,
        "tone": tone,
        "timeline_html": timeline(&order).into_string(),
        "requires_action": requires_action,
        "final": final_,
    });
    Some((order.version, requires_action, data))
}

/// `GET /orders/{id}/events`: server-sent events with the order's status and timeline,
/// driven by the event feed: every event of the order's streams (order, payment, checkout:
/// `agora.evt.*.<id>`) wakes the page's stream, which reads the order (as the viewer may) and
/// sends it when it changed, until it leaves `placed` (or two minutes pass). A slow re-read
/// every few seconds covers an event published before the subscription began.
pub async fn order_events(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    use futures::StreamExt;

    struct Live {
        web: Web,
        creds: Creds,
        id: String,
        feed: Option<async_nats::Subscriber>,
        seen: Option<(u64, bool)>,
        deadline: tokio::time::Instant,
        done: bool,
    }
    let creds = order_creds(&ctx, &id);
    let feed = if agora_nats::subjects::is_token(&id) {
        web.state
            .bus
            .client()
            .subscribe(agora_nats::subjects::events_with_id(&id))
            .await
            .ok()
    } else {
        None
    };
    let live = Live {
        web,
        creds,
        id,
        feed,
        seen: None,
        deadline: tokio::time::Instant::now() + Duration::from_secs(120),
        done: false,
    };
    let stream = futures::stream::unfold(live, |mut live| async move {
        if live.done {
            return None;
        }
        loop {
            if tokio::time::Instant::now() >= live.deadline {
                live.done = true;
                return Some((Ok(Event::default().event("end").data("timeout")), live));
            }
            let Some((version, requires_action, data)) =
                order_update(&live.web, &live.creds, &live.id).await
            else {
                live.done = true;
                return Some((Ok(Event::default().event("end").data("unavailable")), live));
            };
            if live.seen != Some((version, requires_action)) {
                live.seen = Some((version, requires_action));
                live.done = data["final"] == true;
                let event = Event::default().event("order").data(data.to_string());
                return Some((Ok(event), live));
            }
            // Nothing new: wait for the next event of the order's streams (or the slow re-read).
            let fallback = Duration::from_secs(3);
            match live.feed.as_mut() {
                Some(feed) => {
                    if let Ok(None) = tokio::time::timeout(fallback, feed.next()).await {
                        live.feed = None;
                    }
                }
                None => tokio::time::sleep(fallback).await,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /orders/{id}/authenticate`: the 3-D Secure step of the test provider.
pub async fn authenticate_form(Extension(ctx): Extension<Ctx>, Path(id): Path<String>) -> Response {
    page(
        &ctx,
        "Confirm payment",
        html! {
            h1 { "Confirm your payment" }
            p { "Your bank asks you to confirm this payment (3-D Secure, test provider)." }
            form method="post" action=(format!("/orders/{}/authenticate", enc(&id))) {
                (csrf(&ctx))
                button #confirm-payment type="submit" { "Confirm payment" }
            }
        },
    )
    .into_response()
}

/// `POST /orders/{id}/authenticate`.
pub async fn authenticate(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    let creds = order_creds(&ctx, &id);
    match web
        .api
        .post(
            &format!("/store/orders/{}/payment/confirm", enc(&id)),
            &creds,
            None,
            &json!({}),
        )
        .await
    {
        Ok(_) => see_other_with(
            &format!("/orders/{}", enc(&id)),
            vec![ctx.clear(CART_COOKIE)],
        ),
        Err(e) => error_page(&ctx, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts

#[derive(Debug, Default, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NextParam {
    #[serde(default)]
    next: Option<String>,
}

/// Only a path on this site may follow sign-in (no open redirect).
fn safe_next(next: Option<&str>, default: &str) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or(default)
        .to_string()
}

fn signin_page(ctx: &Ctx, email: &str, next: &str, error: Option<&str>) -> Response {
    page(
        ctx,
        "Sign in",
        html! {
            h1 { "Sign in" }
            (error_box(error))
            form method="post" action="/account/signin" style="max-width:26rem" {
                (csrf(ctx))
                input type="hidden" name="next" value=(next);
                label for="email" { "Email" }
                input #email type="email" name="email" value=(email) required autocomplete="username";
                label for="password" { "Password" }
                input #password type="password" name="password" required autocomplete="current-password";
                p { button #signin type="submit" { "Sign in" } }
            }
            p { "New here? " a href="/account/register" { "Create an account" } }
            p { a href="/account/forgot" { "Forgot your password?" } }
        },
    )
    .into_response()
}

/// `GET /account/signin`.
pub async fn signin_form(Extension(ctx): Extension<Ctx>, Query(q): Query<NextParam>) -> Response {
    signin_page(&ctx, "", &safe_next(q.next.as_deref(), "/account"), None)
}

/// `POST /account/signin`: signs in, and moves a guest cart into the customer's cart.
pub async fn signin(
    State(web): State<Web>,
    Extension(mut ctx): Extension<Ctx>,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = safe_next(form.next.as_deref(), "/account");
    match sign_in(&web, &ctx, &form.email, &form.password).await {
        Ok((session, cookie)) => {
            let staff = session.is_staff();
            ctx.session = Some(session);
            let mut cookies = vec![cookie];
            if let Some(cart) = merge_guest_cart(&web, &ctx).await {
                cookies.push(cart);
            }
            let to = if staff && next == "/account" {
                "/backoffice".to_string()
            } else {
                next
            };
            see_other_with(&to, cookies)
        }
        Err(e) if e.status.is_client_error() => {
            let mut r = signin_page(&ctx, &form.email, &next, Some(&e.message));
            *r.status_mut() = e.status;
            r
        }
        Err(e) => error_page(&ctx, &e),
    }
}

fn register_page(ctx: &Ctx, email: &str, name: &str, error: Option<&str>) -> Response {
    page(
        ctx,
        "Create an account",
        html! {
            h1 { "Create an account" }
            (error_box(error))
            form method="post" action="/account/register" style="max-width:26rem" {
                (csrf(ctx))
                label for="name" { "Name" }
                input #name type="text" name="name" value=(name) autocomplete="name";
                label for="email" { "Email" }
                input #email type="email" name="email" value=(email) required autocomplete="email";
                label for="password" { "Password" }
                input #password type="password" name="password" required minlength="12" autocomplete="new-password" aria-describedby="pw-help";
                p #pw-help .muted { "At least 12 characters, not a common password." }
                p { button #register type="submit" { "Create account" } }
            }
        },
    )
    .into_response()
}

/// `GET /account/register`.
pub async fn register_form(Extension(ctx): Extension<Ctx>) -> Response {
    register_page(&ctx, "", "", None)
}

#[derive(Debug, Default, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    name: String,
}

/// `POST /account/register`: creates the account and signs in.
pub async fn register(
    State(web): State<Web>,
    Extension(mut ctx): Extension<Ctx>,
    Form(form): Form<RegisterForm>,
) -> Response {
    let creds = Creds {
        peer: ctx.peer,
        ..Creds::default()
    };
    let display_name = (!form.name.trim().is_empty()).then(|| form.name.trim().to_string());
    if let Err(e) = web
        .api
        .post(
            "/store/auth/register",
            &creds,
            None,
            &json!({"email": form.email, "password": form.password, "display_name": display_name}),
        )
        .await
    {
        let mut r = register_page(&ctx, &form.email, &form.name, Some(&e.message));
        *r.status_mut() = if e.status.is_client_error() {
            e.status
        } else {
            StatusCode::BAD_GATEWAY
        };
        return r;
    }
    match sign_in(&web, &ctx, &form.email, &form.password).await {
        Ok((session, cookie)) => {
            ctx.session = Some(session);
            let mut cookies = vec![cookie];
            if let Some(cart) = merge_guest_cart(&web, &ctx).await {
                cookies.push(cart);
            }
            see_other_with("/account", cookies)
        }
        Err(e) => error_page(&ctx, &e),
    }
}

/// `POST /account/signout`: revokes the session at the identity service, drops the cookies.
pub async fn signout(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Response {
    if let Some(session) = &ctx.session {
        // Revoking is what matters; a failure is logged and the cookies still go.
        if let Err(e) = web
            .api
            .post(
                "/store/auth/logout",
                &ctx.person(),
                None,
                &json!({"refresh_token": session.refresh}),
            )
            .await
        {
            tracing::warn!(error = %e, "logout was not confirmed by the identity service");
        }
    }
    see_other_with(
        "/",
        vec![
            ctx.clear(SESSION_COOKIE),
            ctx.clear(CART_COOKIE),
            ctx.clear(ORDER_COOKIE),
        ],
    )
}

/// `GET /account`: profile and orders.
pub async fn account(State(web): State<Web>, Extension(ctx): Extension<Ctx>) -> Page {
    if !ctx.signed_in() {
        return Ok(see_other("/account/signin?next=/account"));
    }
    let me: Value = web
        .api
        .get("/store/customers/me", &ctx.person())
        .await
        .map_err(fail(&ctx))?;
    let orders: Value = web
        .api
        .get("/store/customers/me/orders", &ctx.person())
        .await
        .unwrap_or(Value::Null);
    let addresses: Vec<Value> = web
        .api
        .get::<Value>("/store/customers/me/addresses", &ctx.person())
        .await
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default();
    let list: Vec<Value> = orders
        .as_array()
        .cloned()
        .or_else(|| orders["items"].as_array().cloned())
        .unwrap_or_default();
    let content = html! {
        (crate::account::account_links())
        h1 { "Your account" }
        p { "Signed in as " strong #account-email { (me["email"].as_str().unwrap_or_default()) } }
        @if let Some(name) = me["display_name"].as_str() { p { "Name: " (name) } }
        h2 { "Address book" }
        @if addresses.is_empty() { p.muted { "No saved addresses yet." } }
        ul #addresses {
            @for a in &addresses {
                li {
                    (a["address"]["name"].as_str().unwrap_or_default()) ", "
                    (a["address"]["line1"].as_str().unwrap_or_default()) ", "
                    (a["address"]["postal_code"].as_str().unwrap_or_default()) " "
                    (a["address"]["city"].as_str().unwrap_or_default()) ", "
                    (a["address"]["country"].as_str().unwrap_or_default())
                    @if a["is_default"].as_bool().unwrap_or(false) { " " span.badge { "default" } }
                }
            }
        }
        details {
            summary { "Add an address" }
            form #address-form method="post" action="/account/addresses" style="max-width:30rem" {
                (csrf(&ctx))
                label for="a-name" { "Full name" }
                input #a-name type="text" name="name" required autocomplete="name";
                label for="a-line1" { "Address" }
                input #a-line1 type="text" name="line1" required autocomplete="address-line1";
                label for="a-city" { "City" }
                input #a-city type="text" name="city" required autocomplete="address-level2";
                label for="a-postal" { "Postal code" }
                input #a-postal type="text" name="postal_code" required autocomplete="postal-code";
                label for="a-country" { "Country (2 letters)" }
                input #a-country type="text" name="country" required maxlength="2" value="GB" autocomplete="country";
                label.inline { input type="checkbox" name="make_default" value="1" checked; "Use as my default address" }
                p { button type="submit" { "Save address" } }
            }
        }
        h2 { "Orders" }
        @if list.is_empty() {
            div.empty { p { "No orders yet." } }
        } @else {
            div.table-wrap {
                table.stack {
                    thead { tr { th scope="col" { "Order" } th scope="col" { "Status" } th.num scope="col" { "Total" } } }
                    tbody {
                        @for o in &list {
                            @let oid = o["id"].as_str().or(o["order_id"].as_str()).unwrap_or_default();
                            tr {
                                td { a href=(format!("/orders/{}", enc(oid))) { (&oid[..8.min(oid.len())]) } }
                                td { (o["status"].as_str().unwrap_or_default()) }
                                td.num { (money_json(&o["total"])) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&ctx, "Account", content).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenParam {
    #[serde(default)]
    token: String,
}

/// A small page with one form (the email links' landing pages).
fn token_page(
    ctx: &Ctx,
    title: &str,
    intro: &str,
    action: &str,
    token: &str,
    with_password: bool,
    error: Option<&str>,
) -> Response {
    page(
        ctx,
        title,
        html! {
            h1 { (title) }
            (error_box(error))
            p { (intro) }
            form method="post" action=(action) style="max-width:26rem" {
                (csrf(ctx))
                input type="hidden" name="token" value=(token);
                @if with_password {
                    label for="new_password" { "New password" }
                    input #new_password type="password" name="new_password" required minlength="12" autocomplete="new-password";
                }
                p { button type="submit" { (title) } }
            }
        },
    )
    .into_response()
}

fn done_page(ctx: &Ctx, title: &str, message: &str) -> Response {
    page(ctx, title, html! { h1 { (title) } div.notice role="status" { (message) } p { a href="/account/signin" { "Sign in" } } })
        .into_response()
}

/// `GET /account/verify?token=`: the verification mail's link (a button, so a mail scanner
/// that follows links does not verify on its own).
pub async fn verify_form(Extension(ctx): Extension<Ctx>, Query(q): Query<TokenParam>) -> Response {
    token_page(
        &ctx,
        "Confirm your email",
        "Confirm that this address is yours.",
        "/account/verify",
        &q.token,
        false,
        None,
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    email: String,
}

/// `POST /account/verify`.
pub async fn verify(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<TokenForm>,
) -> Response {
    let creds = Creds {
        peer: ctx.peer,
        ..Creds::default()
    };
    match web
        .api
        .post(
            "/store/auth/verify-email",
            &creds,
            None,
            &json!({"token": form.token}),
        )
        .await
    {
        Ok(_) => done_page(
            &ctx,
            "Email confirmed",
            "Thank you: your email address is confirmed.",
        ),
        Err(e) if e.status.is_client_error() => {
            let mut r = token_page(
                &ctx,
                "Confirm your email",
                "Confirm that this address is yours.",
                "/account/verify",
                &form.token,
                false,
                Some(&e.message),
            );
            *r.status_mut() = e.status;
            r
        }
        Err(e) => error_page(&ctx, &e),
    }
}

/// `GET /account/forgot`: asks for a password-reset mail.
pub async fn forgot_form(Extension(ctx): Extension<Ctx>) -> Response {
    page(
        &ctx,
        "Reset your password",
        html! {
            h1 { "Reset your password" }
            form method="post" action="/account/forgot" style="max-width:26rem" {
                (csrf(&ctx))
                label for="email" { "Email" }
                input #email type="email" name="email" required autocomplete="email";
                p { button type="submit" { "Send me a link" } }
            }
        },
    )
    .into_response()
}

/// `POST /account/forgot`: the same answer whether or not the address has an account.
pub async fn forgot(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<TokenForm>,
) -> Response {
    let creds = Creds {
        peer: ctx.peer,
        ..Creds::default()
    };
    match web
        .api
        .post(
            "/store/auth/password-reset",
            &creds,
            None,
            &json!({"email": form.email}),
        )
        .await
    {
        Ok(_) => done_page(
            &ctx,
            "Check your mail",
            "If this address has an account, a link to reset the password is on its way.",
        ),
        Err(e) => error_page(&ctx, &e),
    }
}

/// `GET /account/reset?token=`: the reset mail's link.
pub async fn reset_form(Extension(ctx): Extension<Ctx>, Query(q): Query<TokenParam>) -> Response {
    token_page(
        &ctx,
        "Choose a new password",
        "At least 12 characters, not a common password.",
        "/account/reset",
        &q.token,
        true,
        None,
    )
}

/// `POST /account/reset`.
pub async fn reset(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<TokenForm>,
) -> Response {
    let creds = Creds {
        peer: ctx.peer,
        ..Creds::default()
    };
    match web
        .api
        .post(
            "/store/auth/password-reset/confirm",
            &creds,
            None,
            &json!({"token": form.token, "new_password": form.new_password}),
        )
        .await
    {
        Ok(_) => done_page(
            &ctx,
            "Password changed",
            "Your password is changed; sign in with the new one.",
        ),
        Err(e) if e.status.is_client_error() => {
            let mut r = token_page(
                &ctx,
                "Choose a new password",
                "At least 12 characters, not a common password.",
                "/account/reset",
                &form.token,
                true,
                Some(&e.message),
            );
            *r.status_mut() = e.status;
            r
        }
        Err(e) => error_page(&ctx, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_typed_by_people_become_minor_units_without_floats() {
        assert_eq!(major_to_minor("25"), Some(2500));
        assert_eq!(major_to_minor("25.5"), Some(2550));
        assert_eq!(major_to_minor("25.05"), Some(2505));
        for bad in ["", "-1", "1.234", "1,5", "abc", ".5"] {
            assert_eq!(major_to_minor(bad), None, "{bad}");
        }
    }

    #[test]
    fn sign_in_only_continues_to_a_page_of_this_site() {
        assert_eq!(safe_next(Some("/cart"), "/account"), "/cart");
        for open in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(open), "/account"), "/account", "{open}");
        }
    }

    #[test]
    fn a_category_page_keeps_its_state_under_its_own_path() {
        let form = SearchForm {
            q: Some("tee".into()),
            // A category field in the query cannot widen or move a category page.
            category: Some("elsewhere".into()),
            fixed_category: Some("mens-shirts".into()),
            ..SearchForm::default()
        };
        let next = form.url_with(&[("page", Some("2".into()))]);
        assert!(next.starts_with("/categories/mens-shirts?"), "{next}");
        assert!(!next.contains("elsewhere"), "{next}");
        assert!(next.contains("q=tee") && next.contains("page=2"), "{next}");
        let api = form.api_query().expect("a valid query");
        assert!(api.contains("category=mens-shirts"), "{api}");
        assert!(!api.contains("elsewhere"), "{api}");
    }

    #[test]
    fn a_category_trail_runs_from_the_top_of_the_tree() {
        let tree = vec![
            json!({"id": "men", "name": "Men", "children": [
            {"id": "mens-shirts", "name": "Shirts", "children": []}]}),
            json!({"id": "home", "name": "Home", "children": []}),
        ];
        let (trail, node) = category_trail(&tree, "mens-shirts").expect("found");
        assert_eq!(
            trail,
            vec![
                ("men".to_string(), "Men".to_string()),
                ("mens-shirts".to_string(), "Shirts".to_string())
            ]
        );
        assert_eq!(node["name"], "Shirts");
        assert!(category_trail(&tree, "nowhere").is_none());
    }

    #[test]
    fn a_search_url_keeps_its_state_and_changes_one_field() {
        let form = SearchForm {
            q: Some("tee".into()),
            in_stock: Some("1".into()),
            page: Some("3".into()),
            ..SearchForm::default()
        };
        let next = form.url_with(&[("page", Some("4".into()))]);
        assert!(
            next.contains("q=tee") && next.contains("in_stock=1") && next.contains("page=4"),
            "{next}"
        );
        assert!(!next.contains("page=3"), "{next}");
        assert_eq!(
            form.api_query().map(|q| q.contains("in_stock=true")),
            Ok(true)
        );
        let typo = SearchForm {
            price_min: Some("ten".into()),
            ..SearchForm::default()
        };
        assert!(
            typo.api_query().is_err(),
            "a price that is not a number is said, not sent"
        );
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    make_default: Option<String>,
}

/// `POST /account/addresses`: saves an address in the address book.
pub async fn add_address(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<AddressForm>,
) -> Response {
    if !ctx.signed_in() {
        return see_other("/account/signin?next=/account");
    }
    let body = json!({
        "address": {"name": form.name.trim(), "line1": form.line1.trim(), "city": form.city.trim(),
                    "postal_code": form.postal_code.trim(), "country": form.country.trim().to_uppercase()},
        "make_default": form.make_default.is_some(),
    });
    match web
        .api
        .post("/store/customers/me/addresses", &ctx.person(), None, &body)
        .await
    {
        Ok(_) => see_other("/account"),
        Err(e) => error_page(&ctx, &e),
    }
}

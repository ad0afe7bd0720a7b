//! The back office's shipping settings: zones with the areas they cover, options with their
//! rates, through the API's `/admin/shipping` routes.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{back, back_with_error, flash, gate, get_json, hundredths, office_page, Flash, Page};
use crate::api::enc;
use crate::layout::{csrf, money};
use crate::session::Ctx;
use crate::Web;
use agora_shipping::{Band, Rate, ShippingProfileView, Zone, ZoneArea};

const HERE: &str = "/backoffice/shipping";

/// Whose rates a page or form is about: a marketplace vendor's (staff open them from the
/// vendor's page), else the shop's own. A vendor's user always gets its own vendor's: the API
/// decides that from its credential and refuses another's.
#[derive(Debug, Default, Deserialize)]
pub struct Whose {
    #[serde(default)]
    vendor: Option<String>,
}

impl Whose {
    fn vendor(&self) -> Option<&str> {
        self.vendor
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// `?vendor=<id>` for the API's routes and this page, or nothing.
    fn query(&self) -> String {
        self.vendor()
            .map_or(String::new(), |v| format!("?vendor={}", enc(v)))
    }

    /// This page, for these rates.
    fn here(&self) -> String {
        format!("{HERE}{}", self.query())
    }
}

/// An area from its written form: `DE`, `US-CA`, `DE 10` (or `DE 10*`, as
/// [`ZoneArea::label`] shows it), `*`.
fn parse_area(text: &str) -> Value {
    let (place, prefix) = match text.split_once(' ') {
        Some((place, prefix)) => (place, Some(prefix.trim())),
        None => (text, None),
    };
    let (country, region) = match place.split_once('-') {
        Some((c, r)) => (c, Some(r)),
        None => (place, None),
    };
    json!({"country": country, "region": region, "postcode_prefix": prefix})
}

fn rate_text(rate: &Rate) -> String {
    let bands = |bands: &[Band], unit: &dyn Fn(i64) -> String| {
        bands
            .iter()
            .map(|b| {
                let up_to = b
                    .up_to
                    .map_or("and more".to_string(), |u| format!("up to {}", unit(u)));
                format!(
                    "{up_to}: {}",
                    money(b.price.amount_minor, b.price.currency.as_str())
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match rate {
        Rate::Flat { price } => format!(
            "Flat {}",
            money(price.amount_minor, price.currency.as_str())
        ),
        Rate::Weight { bands: b } => format!("By weight: {}", bands(b, &|g| format!("{g} g"))),
        Rate::Subtotal { bands: b } => format!("By subtotal: {}", bands(b, &|m| hundredths(m))),
    }
}

/// `GET /backoffice/shipping`: every zone with its areas and options, and the forms that
/// change them.
pub async fn settings(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<Flash>,
    Query(whose): Query<Whose>,
) -> Page {
    gate(&ctx)?;
    // A vendor's user gets its own vendor's rates from the same route.
    let vendor = super::vendors::vendor_of(&ctx).is_some();
    let whose = if vendor { Whose::default() } else { whose };
    let settings = get_json(&web, &ctx, &format!("/admin/shipping{}", whose.query())).await?;
    // Staff looking at a vendor's rates see whose they are.
    let vendor_name = match whose.vendor() {
        Some(v) => get_json(&web, &ctx, &format!("/admin/vendors/{}", enc(v))).await?["name"]
            .as_str()
            .map(str::to_string),
        None => None,
    };
    let zones = serde_json::from_value::<ShippingProfileView>(settings)
        .map(|view| view.zones)
        .unwrap_or_default();
    Ok(office_page(
        &ctx,
        "Shipping",
        html! {
            @if vendor {
                h1 { "Your shipping rates" }
                (flash(&f))
                p.muted { "With at least one zone, your products ship at your own rates: the shopper pays them for your parcels, chosen at checkout, and your ledger is credited with what they paid. A destination ships by the most specific zone that covers it: a postcode prefix before a region, a region before a country, a country before “*” (everywhere else); carts to a destination none of your zones covers cannot check out." }
                @if zones.is_empty() { div.empty { p { "No zones yet: your products ship at the shop's rates, and the shop keeps what shoppers pay for shipping." } } }
            } @else if let Some(name) = &vendor_name {
                h1 { "Shipping rates of " (name) }
                (flash(&f))
                p.muted { "This vendor's own rates: with at least one zone, its products ship at them, and its ledger is credited with what shoppers pay for them. Without any, they ship at the shop's rates. " a href=(HERE) { "The shop's own rates" } }
                @if zones.is_empty() { div.empty { p { "No zones: its products ship at the shop's rates." } } }
            } @else {
                h1 { "Shipping zones and options" }
                (flash(&f))
                p.muted { "A destination ships by the most specific zone that covers it: a postcode prefix before a region, a region before a country, a country before “*” (everywhere else). Without any zone the shop charges its one configured rate. Marketplace vendors may keep rates of their own for their products." }
                @if zones.is_empty() { div.empty { p { "No zones yet: every order pays the configured flat rate." } } }
            }
            @for zone in &zones {
                @let zone_id = zone.id.as_str();
                section.zone data-zone=(zone_id) aria-labelledby=(format!("zone-{zone_id}")) {
                    h2 id=(format!("zone-{zone_id}")) { (zone.name) " " span.muted { "(" (zone_id) ")" } }
                    p { "Covers: " span.areas { (zone.areas.iter().map(ZoneArea::label).collect::<Vec<_>>().join(", ")) } }
                    @let options = &zone.options;
                    @if options.is_empty() { p.muted { "No options: carts to this zone cannot check out." } } @else {
                        div.table-wrap { table.stack {
                            thead { tr { th scope="col" { "Option" } th scope="col" { "Kind" } th scope="col" { "Rate" } th scope="col" { "Free from" } th scope="col" { "Delivery" } th scope="col" { span.visually-hidden { "Actions" } } } }
                            tbody { @for o in options {
                                @let option_id = o.id.as_str();
                                tr data-option=(option_id) {
                                    td data-label="Option" { (o.name) " " span.muted { "(" (option_id) ")" } }
                                    td data-label="Kind" { (o.kind.as_str()) }
                                    td data-label="Rate" { (rate_text(&o.rate)) }
                                    td data-label="Free from" { @if let Some(f) = o.free_from { (money(f.amount_minor, f.currency.as_str())) } @else { "—" } }
                                    td data-label="Delivery" { (crate::layout::days(o.min_days.into(), o.max_days.into())) }
                                    td data-label="Actions" {
                                        form.inline-form method="post" action=(format!("{HERE}/zones/{}/options/{}/remove{}", enc(zone_id), enc(option_id), whose.query())) {
                                            (csrf(&ctx))
                                            button.secondary type="submit" aria-label=(format!("Remove option {option_id}")) { "Remove" }
                                        }
                                    }
                                }
                            } }
                        } }
                    }
                    form.inline-form method="post" action=(format!("{HERE}/zones/{}/remove{}", enc(zone_id), whose.query())) {
                        (csrf(&ctx))
                        button.secondary type="submit" aria-label=(format!("Remove zone {zone_id}")) { "Remove zone" }
                    }
                }
            }
            div.two {
                (zone_form(&ctx, &whose))
                (option_form(&ctx, &zones, &whose))
            }
        },
    ))
}

fn zone_form(ctx: &Ctx, whose: &Whose) -> Markup {
    html! {
        form #zone-form method="post" action=(format!("{HERE}/zones{}", whose.query())) {
            (csrf(ctx))
            fieldset {
                legend { "Add or change a zone" }
                label for="zone-id" { "Zone id" }
                input #zone-id type="text" name="zone_id" required pattern="[a-z0-9-]{1,64}" aria-describedby="zone-id-help";
                p #zone-id-help .muted { "Lower-case letters, digits and “-”; an existing id changes that zone." }
                label for="zone-name" { "Name" }
                input #zone-name type="text" name="name" required maxlength="100";
                label for="zone-areas" { "Areas, one per line" }
                textarea #zone-areas name="areas" rows="4" required aria-describedby="zone-areas-help" {}
                p #zone-areas-help .muted { "A country (DE), a region (US-CA), a postcode prefix (DE 10) or * for everywhere else." }
                button type="submit" { "Save zone" }
            }
        }
    }
}

fn option_form(ctx: &Ctx, zones: &[Zone], whose: &Whose) -> Markup {
    html! {
        form #option-form method="post" action=(format!("{HERE}/options{}", whose.query())) {
            (csrf(ctx))
            fieldset {
                legend { "Add or change an option" }
                label for="option-zone" { "Zone" }
                select #option-zone name="zone_id" required {
                    @for z in zones { option value=(z.id) { (z.name) } }
                }
                label for="option-id" { "Option id" }
                input #option-id type="text" name="option_id" required pattern="[a-z0-9-]{1,64}";
                label for="option-name" { "Name shoppers see" }
                input #option-name type="text" name="name" required maxlength="100";
                label for="option-kind" { "Kind" }
                select #option-kind name="kind" {
                    option value="standard" { "Standard" }
                    option value="express" { "Express" }
                    option value="pickup" { "Pickup point" }
                }
                label for="option-rate" { "Rate" }
                select #option-rate name="rate" {
                    option value="flat" { "Flat" }
                    option value="weight" { "By weight" }
                    option value="subtotal" { "By subtotal" }
                }
                label for="option-price" { "Flat price" }
                input #option-price type="text" inputmode="decimal" name="price" placeholder="4.90";
                label for="option-bands" { "Bands, one per line (weight or subtotal rates)" }
                textarea #option-bands name="bands" rows="3" aria-describedby="option-bands-help" {}
                p #option-bands-help .muted { "“1000 4.90” charges 4.90 up to 1000 g (or, by subtotal, “49.99 4.90” up to 49.99); “* 9.90” for everything above." }
                label for="option-free" { "Free from (optional)" }
                input #option-free type="text" inputmode="decimal" name="free_from" placeholder="50.00";
                label for="option-min" { "Delivery days, earliest" }
                input #option-min type="number" name="min_days" min="0" max="365" value="2" required;
                label for="option-max" { "Delivery days, latest" }
                input #option-max type="number" name="max_days" min="0" max="365" value="4" required;
                label for="option-currency" { "Currency" }
                input #option-currency type="text" name="currency" value="EUR" pattern="[A-Z]{3}" required;
                button type="submit" { "Save option" }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ZoneForm {
    #[serde(default)]
    zone_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    areas: String,
}

/// `POST /backoffice/shipping/zones`: the API's `PUT /admin/shipping/zones/{id}`.
pub async fn save_zone(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(whose): Query<Whose>,
    Form(form): Form<ZoneForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let areas: Vec<Value> = form
        .areas
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(parse_area)
        .collect();
    let result = web
        .api
        .call(
            Method::PUT,
            &format!(
                "/admin/shipping/zones/{}{}",
                enc(form.zone_id.trim()),
                whose.query()
            ),
            &ctx.person(),
            None,
            Some(&json!({"name": form.name, "areas": areas})),
        )
        .await;
    back(&whose.here(), result, &ctx)
}

#[derive(Debug, Deserialize)]
pub struct OptionForm {
    #[serde(default)]
    zone_id: String,
    #[serde(default)]
    option_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    rate: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    bands: String,
    #[serde(default)]
    free_from: String,
    #[serde(default)]
    min_days: String,
    #[serde(default)]
    max_days: String,
    #[serde(default)]
    currency: String,
}

/// The option's rate from the form, or what to tell staff.
fn rate_of(form: &OptionForm, currency: &str) -> Result<Value, String> {
    let money = |text: &str| {
        crate::store::major_to_minor(text.trim())
            .map(|minor| json!({"amount_minor": minor, "currency": currency}))
            .ok_or_else(|| format!("Enter prices like 4.90, not “{}”", text.trim()))
    };
    if form.rate == "flat" {
        return Ok(json!({"type": "flat", "price": money(&form.price)?}));
    }
    let by_weight = form.rate == "weight";
    let bands = form
        .bands
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (up_to, price) = line.split_once(char::is_whitespace).ok_or_else(|| {
                format!("A band is a bound and a price, like “1000 4.90”: “{line}”")
            })?;
            let up_to = match up_to.trim() {
                "*" => Value::Null,
                bound if by_weight => json!(bound
                    .parse::<i64>()
                    .map_err(|_| format!("A weight bound is whole grams: “{bound}”"))?),
                bound => json!(crate::store::major_to_minor(bound)
                    .ok_or_else(|| format!("A subtotal bound is like 49.99: “{bound}”"))?),
            };
            Ok(json!({"up_to": up_to, "price": money(price)?}))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(json!({"type": if by_weight { "weight" } else { "subtotal" }, "bands": bands}))
}

/// `POST /backoffice/shipping/options`: the API's
/// `PUT /admin/shipping/zones/{zone}/options/{option}`.
pub async fn save_option(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Query(whose): Query<Whose>,
    Form(form): Form<OptionForm>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let here = whose.here();
    let currency = form.currency.trim().to_ascii_uppercase();
    let rate = match rate_of(&form, &currency) {
        Ok(rate) => rate,
        Err(message) => return back_with_error(&here, &message),
    };
    let free_from = match form.free_from.trim() {
        "" => Value::Null,
        text => match crate::store::major_to_minor(text) {
            Some(minor) => json!({"amount_minor": minor, "currency": currency}),
            None => return back_with_error(&here, "Enter the free-from amount like 50.00"),
        },
    };
    let (Ok(min_days), Ok(max_days)) = (
        form.min_days.trim().parse::<u16>(),
        form.max_days.trim().parse::<u16>(),
    ) else {
        return back_with_error(&here, "Delivery days are whole numbers from 0 to 365");
    };
    let result = web
        .api
        .call(
            Method::PUT,
            &format!(
                "/admin/shipping/zones/{}/options/{}{}",
                enc(form.zone_id.trim()),
                enc(form.option_id.trim()),
                whose.query()
            ),
            &ctx.person(),
            None,
            Some(&json!({"name": form.name, "kind": form.kind, "rate": rate,
                         "free_from": free_from, "min_days": min_days, "max_days": max_days})),
        )
        .await;
    back(&here, result, &ctx)
}

/// `POST /backoffice/shipping/zones/{zone}/remove`.
pub async fn remove_zone(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path(zone): Path<String>,
    Query(whose): Query<Whose>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let result = web
        .api
        .call(
            Method::DELETE,
            &format!("/admin/shipping/zones/{}{}", enc(&zone), whose.query()),
            &ctx.person(),
            None,
            None,
        )
        .await;
    back(&whose.here(), result, &ctx)
}

/// `POST /backoffice/shipping/zones/{zone}/options/{option}/remove`.
pub async fn remove_option(
    State(web): State<Web>,
    Extension(ctx): Extension<Ctx>,
    Path((zone, option)): Path<(String, String)>,
    Query(whose): Query<Whose>,
) -> Response {
    if let Err(r) = gate(&ctx) {
        return r;
    }
    let result = web
        .api
        .call(
            Method::DELETE,
            &format!(
                "/admin/shipping/zones/{}/options/{}{}",
                enc(&zone),
                enc(&option),
                whose.query()
            ),
            &ctx.person(),
            None,
            None,
        )
        .await;
    back(&whose.here(), result, &ctx)
}

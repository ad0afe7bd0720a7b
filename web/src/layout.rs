//! The page shell, shared bits of markup, and formatting for people (money, dates).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::api::{enc, ApiFailure};
use crate::session::{Ctx, CSRF_FIELD};

/// Formats minor units of `currency` for people: `€12.50`, `$3.00`, `1 200 JPY`.
pub fn money(amount_minor: i64, currency: &str) -> String {
    let (symbol, decimals) = match currency {
        "EUR" => ("€", 2),
        "USD" => ("$", 2),
        "GBP" => ("£", 2),
        "JPY" | "KRW" => ("", 0),
        _ => ("", 2),
    };
    let negative = amount_minor < 0;
    let abs = amount_minor.unsigned_abs();
    let number = if decimals == 0 {
        abs.to_string()
    } else {
        format!("{}.{:02}", abs / 100, abs % 100)
    };
    let sign = if negative { "-" } else { "" };
    if symbol.is_empty() {
        format!("{sign}{number} {currency}")
    } else {
        format!("{sign}{symbol}{number}")
    }
}

/// Money from a JSON `{amount_minor, currency}`.
pub fn money_json(value: &serde_json::Value) -> String {
    money(
        value["amount_minor"].as_i64().unwrap_or(0),
        value["currency"].as_str().unwrap_or("EUR"),
    )
}

/// A date for people: UTC on the server, rewritten to the viewer's zone by the page script.
pub fn date(at: &chrono::DateTime<chrono::Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M UTC")) } }
}

/// The hidden CSRF field every changing form carries.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(ctx.csrf); }
}

/// The generated image of a product (see `image.rs`).
pub fn product_image(title: &str, category: Option<&str>) -> String {
    format!(
        "/img/product.svg?t={}&c={}",
        enc(title),
        enc(category.unwrap_or(""))
    )
}

/// A whole page: header with search, cart and account links, the content, a footer.
pub fn page(ctx: &Ctx, title: &str, content: Markup) -> Html<String> {
    let staff = ctx.session.as_ref().is_some_and(|s| s.is_staff());
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Agora" }
                    link rel="stylesheet" href="/assets/site.css";
                    script src="/assets/live.js" defer {}
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.site {
                        div.bar {
                            a.logo href="/" { "Agora" }
                            form.search action="/search" method="get" role="search" {
                                label.sr-only for="site-q" { "Search products" }
                                input #site-q type="search" name="q" placeholder="Search products";
                                button type="submit" { "Search" }
                            }
                            nav.top aria-label="Account" {
                                a href="/cart" { "Cart" }
                                @if staff { a href="/backoffice" { "Back office" } }
                                @if ctx.signed_in() {
                                    a href="/account" { "Account" }
                                    form method="post" action="/account/signout" {
                                        (csrf(ctx))
                                        button.link type="submit" { "Sign out" }
                                    }
                                } @else {
                                    a href="/account/signin" { "Sign in" }
                                    a href="/account/register" { "Register" }
                                }
                            }
                        }
                    }
                    main #main { (content) }
                    footer.site { "Agora demo shop · prices include the tax shown at checkout" }
                }
            }
        }
        .into_string(),
    )
}

/// A minimal page for errors raised before a visitor context exists.
pub fn bare_page(title: &str, message: &str) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Agora" }
                    link rel="stylesheet" href="/assets/site.css";
                }
                body { main #main { h1 { (title) } p { (message) } p { a href="/" { "Back to the shop" } } } }
            }
        }
        .into_string(),
    )
}

/// An error page with the status of the failure (403 stays 403, 404 stays 404).
pub fn error_page(ctx: &Ctx, failure: &ApiFailure) -> Response {
    let (title, text) = match failure.status {
        StatusCode::FORBIDDEN => (
            "Not allowed",
            "Your account may not open this page.".to_string(),
        ),
        StatusCode::NOT_FOUND => ("Not found", "There is nothing here.".to_string()),
        StatusCode::UNAUTHORIZED => ("Please sign in", "Sign in to open this page.".to_string()),
        s if s.is_server_error() => (
            "Something went wrong",
            "The shop could not answer just now. Please try again in a moment.".to_string(),
        ),
        _ => ("Cannot do that", failure.message.clone()),
    };
    let status = if failure.status.is_client_error() || failure.status.is_server_error() {
        failure.status
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (
        status,
        page(
            ctx,
            title,
            html! {
                h1 { (title) }
                p { (text) }
                @if failure.status == StatusCode::UNAUTHORIZED { p { a href="/account/signin" { "Sign in" } } }
                p { a href="/" { "Back to the shop" } }
            },
        ),
    )
        .into_response()
}

/// An error message shown in place, above a form.
pub fn error_box(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            div.error role="alert" { (m) }
        }
    }
}

/// A delivery estimate as people read it: `1 day`, `2–4 days`.
pub fn days(min: u64, max: u64) -> String {
    match (min, max) {
        (1, 1) => "1 day".into(),
        (a, b) if a == b => format!("{a} days"),
        (a, b) => format!("{a}–{b} days"),
    }
}

/// The units a per-line form asks for: each `qty:<sku>` field with a positive whole number, in
/// SKU order (zero and empty fields are lines left out). `Err` when a field is not a whole
/// number of at least zero.
pub fn form_quantities(
    form: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(&str, i64)>, &'static str> {
    let mut lines = vec![];
    for (name, value) in form {
        let Some(sku) = name.strip_prefix("qty:") else {
            continue;
        };
        match value.trim() {
            "" => {}
            text => match text.parse::<i64>() {
                Ok(0) => {}
                Ok(q) if q > 0 => lines.push((sku, q)),
                _ => return Err("Quantities are whole numbers"),
            },
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_formatted_for_their_currency() {
        assert_eq!(money(1250, "EUR"), "€12.50");
        assert_eq!(money(5, "USD"), "$0.05");
        assert_eq!(money(-300, "GBP"), "-£3.00");
        assert_eq!(money(1200, "JPY"), "1200 JPY");
        assert_eq!(money(999, "CHF"), "9.99 CHF");
    }
}

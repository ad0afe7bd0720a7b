//! Generated product images: an SVG drawn from the product's name and category, so demo
//! products have a picture without any image file or network. The same name and category
//! always give the same picture (the colour comes from the category, the shape from the name).

use axum::extract::Query;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ImageParams {
    #[serde(default)]
    t: String,
    #[serde(default)]
    c: String,
}

/// FNV-1a: a small stable hash (not for security), so colours do not change between builds.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn initials(title: &str) -> String {
    title
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// The picture of one product.
pub fn svg(title: &str, category: &str) -> String {
    let title: String = title.chars().take(80).collect();
    let category: String = category.chars().take(40).collect();
    let hue = hash(if category.is_empty() {
        &title
    } else {
        &category
    }) % 360;
    let shape = hash(&title);
    let accent = (hue + 40 + shape % 80) % 360;
    let cx = 60 + shape % 280;
    let cy = 40 + (shape >> 8) % 200;
    let r = 50 + (shape >> 16) % 70;
    let label = escape(&category.replace('-', " "));
    let text = escape(&initials(&title));
    let name = escape(&title);
    // Written as XML by hand: an SVG loaded as an image must be well-formed XML, and HTML
    // templates leave void elements unclosed.
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" width="400" height="300" role="img" aria-label="{name}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl({hue},55%,88%)"/><stop offset="1" stop-color="hsl({hue},45%,72%)"/></linearGradient></defs><rect width="400" height="300" fill="url(#g)"/><circle cx="{cx}" cy="{cy}" r="{r}" fill="hsl({accent},50%,60%)" opacity="0.45"/><rect x="{rx}" y="{ry}" width="120" height="60" rx="14" fill="hsl({hue},40%,40%)" opacity="0.25"/><text x="200" y="165" text-anchor="middle" font-family="system-ui, sans-serif" font-size="84" font-weight="700" fill="hsl({hue},45%,22%)">{text}</text>"#,
        rx = 40 + shape % 200,
        ry = 150 + (shape >> 24) % 80,
    );
    if !label.is_empty() {
        out.push_str(&format!(
            r#"<text x="200" y="270" text-anchor="middle" font-family="system-ui, sans-serif" font-size="20" fill="hsl({hue},35%,25%)">{label}</text>"#
        ));
    }
    out.push_str("</svg>");
    out
}

/// Escapes text for XML content and attribute values.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `GET /img/product.svg?t=<title>&c=<category>`.
pub async fn product_svg(Query(p): Query<ImageParams>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        svg(&p.t, &p.c),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_product_always_gets_the_same_picture_and_others_differ() {
        assert_eq!(svg("Organic tee", "shirts"), svg("Organic tee", "shirts"));
        assert_ne!(svg("Organic tee", "shirts"), svg("Wool socks", "socks"));
        assert!(svg("Organic tee", "shirts").contains(">OT<"));
        // An image must be XML: every element closed (HTML templates leave `<stop>` open).
        assert!(!svg("Organic tee", "shirts").contains("\"><rect"));
        assert!(svg("Organic tee", "shirts").contains("/><stop"));
    }

    #[test]
    fn names_are_escaped_in_the_picture() {
        let picture = svg("<script>alert(1)</script>", "x\"y");
        assert!(!picture.contains("<script>"));
    }
}

//! Generated product images: an SVG drawn from the product's name and category, so demo
//! products have a picture without any image file or network. The same name and category
//! always give the same picture (the colour comes from the category, the shape from the name).

use axum::extract::Query;
use axum::http::header;
use axum::response::IntoResponse;
use maud::html;
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
    let label: String = category.replace('-', " ");
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" width="400" height="300" role="img" aria-label=(title) {
            defs {
                linearGradient #g x1="0" y1="0" x2="1" y2="1" {
                    stop offset="0" stop-color=(format!("hsl({hue},55%,88%)"));
                    stop offset="1" stop-color=(format!("hsl({hue},45%,72%)"));
                }
            }
            rect width="400" height="300" fill="url(#g)";
            circle cx=(cx) cy=(cy) r=(r) fill=(format!("hsl({accent},50%,60%)")) opacity="0.45";
            rect x=(40 + shape % 200) y=(150 + (shape >> 24) % 80) width="120" height="60" rx="14"
                fill=(format!("hsl({hue},40%,40%)")) opacity="0.25";
            text x="200" y="165" text-anchor="middle" font-family="system-ui, sans-serif" font-size="84"
                font-weight="700" fill=(format!("hsl({hue},45%,22%)")) { (initials(&title)) }
            @if !label.is_empty() {
                text x="200" y="270" text-anchor="middle" font-family="system-ui, sans-serif" font-size="20"
                    fill=(format!("hsl({hue},35%,25%)")) { (label) }
            }
        }
    }
    .into_string()
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
    }

    #[test]
    fn names_are_escaped_in_the_picture() {
        let picture = svg("<script>alert(1)</script>", "x\"y");
        assert!(!picture.contains("<script>"));
    }
}

//! Rendering: every kind becomes a subject, a plain-text part and an HTML part (and a short
//! SMS text), built from one small document model so the two parts always say the same thing.
//!
//! Money is formatted from integer minor units with the currency's exponent; there is no
//! floating point anywhere. Every text that came from a user or the catalog is HTML-escaped.

use agora_kernel::Money;
use agora_order::{CancelReason, OrderStatus, ParcelStatus};

use crate::content::{AccountLink, Content, OrderNotice, OrderUpdate};

/// The shop as messages name it, from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shop {
    /// `Agora Outfitters`.
    pub name: String,
    /// The storefront's base URL without a trailing slash (`https://shop.example`).
    pub base_url: String,
}

impl Shop {
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Shop {
        Shop {
            name: name.into(),
            base_url: base_url.into().trim_end_matches('/').to_string(),
        }
    }

    /// An absolute link into the storefront.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Digits after the decimal point for a currency (ISO 4217 minor unit).
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `1234` EUR → `12.34 EUR`; `-5` EUR → `-0.05 EUR`; `500` JPY → `500 JPY`. Integer arithmetic
/// only.
pub fn format_money(money: Money) -> String {
    let currency = money.currency.as_str();
    let exp = exponent(currency);
    let sign = if money.amount_minor < 0 { "-" } else { "" };
    let abs = money.amount_minor.unsigned_abs();
    if exp == 0 {
        return format!("{sign}{abs} {currency}");
    }
    let unit = 10u64.pow(exp);
    format!(
        "{sign}{}.{:0width$} {currency}",
        abs / unit,
        abs % unit,
        width = exp as usize
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a URL path or query.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The carrier's public tracking page for a parcel, when the carrier is one we know.
pub fn tracking_url(carrier: &str, tracking_number: &str) -> Option<String> {
    let n = encode_component(tracking_number.trim());
    let carrier: String = carrier
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let url = match carrier.as_str() {
        "dhl" => format!("https://www.dhl.com/global-en/home/tracking.html?tracking-id={n}"),
        "ups" => format!("https://www.ups.com/track?tracknum={n}"),
        "fedex" => format!("https://www.fedex.com/fedextrack/?trknbr={n}"),
        "usps" => format!("https://tools.usps.com/go/TrackConfirmAction?tLabels={n}"),
        "dpd" => format!("https://tracking.dpd.de/status/en_US/parcel/{n}"),
        "royalmail" => format!("https://www.royalmail.com/track-your-item#/tracking-results/{n}"),
        _ => return None,
    };
    Some(url)
}

fn reason_text(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::CustomerRequest => "at your request",
        CancelReason::Staff => "by our team",
        CancelReason::OutOfStock => "because an item ran out of stock",
        CancelReason::PaymentDeclined => "because the payment was declined",
        CancelReason::PaymentFailed => "because the payment could not be completed",
        CancelReason::Abandoned => "because the payment was not completed in time",
    }
}

/// The document model both parts are rendered from.
struct Doc {
    subject: String,
    greeting: Option<String>,
    paragraphs: Vec<String>,
    order: Option<OrderNotice>,
    /// A call to action: label and absolute URL.
    action: Option<(String, String)>,
}

fn short_id(order_id: &str) -> &str {
    order_id.get(..8).unwrap_or(order_id)
}

fn order_doc(shop: &Shop, notice: &OrderNotice) -> Doc {
    let number = short_id(&notice.order_id).to_uppercase();
    let order_url = shop.link(&format!("/orders/{}", encode_component(&notice.order_id)));
    let (subject, paragraphs, action, show_order) = match &notice.update {
        OrderUpdate::Placed => (
            format!("We received your order {number}"),
            vec!["We received your order. It is confirmed as soon as your payment is.".into()],
            Some(("View your order".to_string(), order_url)),
            true,
        ),
        OrderUpdate::Confirmed => (
            format!("Order confirmation {number}"),
            vec!["Thank you for your order. Your payment is authorized and we are preparing your parcel.".into()],
            Some(("View your order".to_string(), order_url)),
            true,
        ),
        OrderUpdate::Cancelled { reason } => (
            format!("Your order {number} was cancelled"),
            vec![format!(
                "Your order was cancelled {}. Any payment taken is refunded to your original payment method.",
                reason_text(*reason)
            )],
            Some(("View your order".to_string(), order_url)),
            true,
        ),
        OrderUpdate::Shipped {
            carrier,
            tracking_number,
        } => {
            let link = tracking_url(carrier, tracking_number).unwrap_or(order_url);
            (
                format!("Your order {number} is on its way"),
                vec![format!(
                    "Your order was handed to {carrier}. Tracking number: {tracking_number}."
                )],
                Some(("Track your parcel".to_string(), link)),
                false,
            )
        }
        OrderUpdate::Delivered => (
            format!("Your order {number} was delivered"),
            vec!["Your parcel was delivered. We hope you enjoy it.".into()],
            Some(("View your order".to_string(), order_url)),
            false,
        ),
        OrderUpdate::Parcel {
            status,
            carrier,
            tracking_number,
            tracking_url: link,
            order_status,
        } => {
            let carrier = carrier.as_deref().unwrap_or("the carrier");
            let number_text = tracking_number
                .as_deref()
                .map(|n| format!(" Tracking number: {n}."))
                .unwrap_or_default();
            let link = link
                .clone()
                .or_else(|| {
                    tracking_number
                        .as_deref()
                        .and_then(|n| tracking_url(carrier, n))
                })
                .unwrap_or(order_url);
            let rest = if *order_status == OrderStatus::PartiallyShipped {
                " The rest of your order follows in another parcel."
            } else {
                ""
            };
            let (subject, text) = match status {
                ParcelStatus::Packing | ParcelStatus::Shipped => (
                    format!("A parcel of your order {number} is on its way"),
                    format!("A parcel of your order was handed to {carrier}.{number_text}{rest}"),
                ),
                ParcelStatus::InTransit => (
                    format!("Your parcel for order {number} is in transit"),
                    format!("{carrier} is carrying your parcel.{number_text}"),
                ),
                ParcelStatus::OutForDelivery => (
                    format!("Your parcel for order {number} is out for delivery"),
                    format!("Your parcel arrives today with {carrier}.{number_text}"),
                ),
                ParcelStatus::Delivered => (
                    format!("Your parcel for order {number} was delivered"),
                    format!("{carrier} delivered your parcel. We hope you enjoy it.{rest}"),
                ),
                ParcelStatus::Exception => (
                    format!("A problem with your parcel for order {number}"),
                    format!("{carrier} reported a problem delivering your parcel. Follow the tracking link for what happens next.{number_text}"),
                ),
            };
            (
                subject,
                vec![text],
                Some(("Track your parcel".to_string(), link)),
                false,
            )
        }
        OrderUpdate::Refunded {
            amount,
            total_refunded,
        } => (
            format!("A refund for order {number}"),
            vec![format!(
                "We refunded {} to your original payment method ({} refunded in total for this order).",
                format_money(*amount),
                format_money(*total_refunded)
            )],
            Some(("View your order".to_string(), order_url)),
            false,
        ),
    };
    Doc {
        subject: format!("{subject} · {}", shop.name),
        greeting: Some(format!("Hello {},", notice.customer_name)),
        paragraphs,
        order: show_order.then(|| notice.clone()),
        action,
    }
}

fn account_doc(shop: &Shop, link: &AccountLink, verification: bool) -> Doc {
    let expires = link.expires_at.format("%Y-%m-%d %H:%M UTC");
    let (subject, text, label) = if verification {
        (
            "Confirm your email address",
            format!("Please confirm your email address for your {} account. The link works until {expires}.", shop.name),
            "Confirm my email address",
        )
    } else {
        (
            "Reset your password",
            format!("Someone asked to reset the password of your {} account. If it was you, choose a new password; the link works once, until {expires}. If it was not you, ignore this message: your password stays the same.", shop.name),
            "Choose a new password",
        )
    };
    Doc {
        subject: format!("{subject} · {}", shop.name),
        greeting: Some("Hello,".into()),
        paragraphs: vec![text],
        order: None,
        action: Some((label.into(), link.url.clone())),
    }
}

fn doc(shop: &Shop, content: &Content) -> Doc {
    match content {
        Content::Order(notice) => order_doc(shop, notice),
        Content::EmailVerification(link) => account_doc(shop, link, true),
        Content::PasswordReset(link) => account_doc(shop, link, false),
        Content::LowStock {
            sku,
            available,
            threshold,
        } => Doc {
            subject: format!("Low stock: {sku} ({available} left) · {}", shop.name),
            greeting: None,
            paragraphs: vec![format!(
                "{sku} is down to {available} available, at or below its threshold of {threshold}. Receive more stock to keep selling it."
            )],
            order: None,
            action: Some((
                "Open the stock item".into(),
                shop.link(&format!("/admin/inventory/{}", encode_component(sku))),
            )),
        },
        Content::BackInStock {
            sku,
            product_title,
            product_url,
        } => Doc {
            subject: format!("{product_title} is back in stock · {}", shop.name),
            greeting: Some("Hello,".into()),
            paragraphs: vec![
                format!("Good news: {product_title} ({sku}) is available again. You asked us to tell you; we will not write again about it."),
            ],
            order: None,
            action: Some(("Shop it now".into(), product_url.clone())),
        },
        Content::BackInStockConfirmation(link) => Doc {
            subject: format!("Confirm back-in-stock alerts · {}", shop.name),
            greeting: Some("Hello,".into()),
            paragraphs: vec![format!(
                "Someone asked {} to write to this address when a sold-out item is back in stock. If it was you, confirm the address; the link works until {}. If it was not you, ignore this message: we will not write to you again.",
                shop.name,
                link.expires_at.format("%Y-%m-%d %H:%M UTC")
            )],
            order: None,
            action: Some(("Confirm my address".into(), link.url.clone())),
        },
    }
}

fn order_text(notice: &OrderNotice, out: &mut String) {
    out.push_str(&format!("Order {}\n\n", notice.order_id));
    for l in &notice.lines {
        out.push_str(&format!(
            "{} × {} ({}) at {}: {}\n",
            l.quantity,
            l.title,
            l.sku,
            format_money(l.unit_price),
            format_money(l.line_total)
        ));
    }
    out.push_str(&format!(
        "\nSubtotal: {}\nShipping: {}\nTax: {}\nTotal: {}\n\n",
        format_money(notice.subtotal),
        format_money(notice.shipping),
        format_money(notice.tax),
        format_money(notice.total)
    ));
}

fn order_html(notice: &OrderNotice, out: &mut String) {
    out.push_str(&format!(
        "<p>Order <strong>{}</strong></p>\n<table cellpadding=\"4\" style=\"border-collapse:collapse\">\n<tr><th align=\"left\">Item</th><th align=\"left\">SKU</th><th align=\"right\">Qty</th><th align=\"right\">Price</th><th align=\"right\">Total</th></tr>\n",
        escape_html(&notice.order_id)
    ));
    for l in &notice.lines {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td align=\"right\">{}</td><td align=\"right\">{}</td><td align=\"right\">{}</td></tr>\n",
            escape_html(&l.title),
            escape_html(&l.sku),
            l.quantity,
            format_money(l.unit_price),
            format_money(l.line_total)
        ));
    }
    for (label, amount) in [
        ("Subtotal", notice.subtotal),
        ("Shipping", notice.shipping),
        ("Tax", notice.tax),
        ("Total", notice.total),
    ] {
        out.push_str(&format!(
            "<tr><td colspan=\"4\" align=\"right\">{label}</td><td align=\"right\">{}</td></tr>\n",
            format_money(amount)
        ));
    }
    out.push_str("</table>\n");
}

/// Renders `content` as an email.
pub fn render(shop: &Shop, content: &Content) -> Rendered {
    let d = doc(shop, content);
    let mut text = String::new();
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family:sans-serif\">\n",
        escape_html(&d.subject)
    );
    if let Some(g) = &d.greeting {
        text.push_str(&format!("{g}\n\n"));
        html.push_str(&format!("<p>{}</p>\n", escape_html(g)));
    }
    for p in &d.paragraphs {
        text.push_str(&format!("{p}\n\n"));
        html.push_str(&format!("<p>{}</p>\n", escape_html(p)));
    }
    if let Some(order) = &d.order {
        order_text(order, &mut text);
        order_html(order, &mut html);
    }
    if let Some((label, url)) = &d.action {
        text.push_str(&format!("{label}: {url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            escape_html(url),
            escape_html(label)
        ));
    }
    text.push_str(&format!("{}\n{}\n", shop.name, shop.base_url));
    html.push_str(&format!(
        "<p style=\"color:#666\"><a href=\"{}\">{}</a></p>\n</body></html>\n",
        escape_html(&shop.base_url),
        escape_html(&shop.name)
    ));
    Rendered {
        subject: d.subject,
        text,
        html,
    }
}

/// Renders `content` as one SMS: the subject and the link, nothing else (no order lines).
pub fn render_sms(shop: &Shop, content: &Content) -> String {
    let d = doc(shop, content);
    match d.action {
        Some((_, url)) => format!("{}: {url}", d.subject),
        None => d.subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;

    fn money(minor: i64, currency: &str) -> Money {
        Money::new(minor, Currency::parse(currency).expect("currency"))
    }

    #[test]
    fn money_is_formatted_from_minor_units_with_the_currency_exponent() {
        assert_eq!(format_money(money(1234, "EUR")), "12.34 EUR");
        assert_eq!(format_money(money(5, "EUR")), "0.05 EUR");
        assert_eq!(format_money(money(-5, "EUR")), "-0.05 EUR");
        assert_eq!(format_money(money(500, "JPY")), "500 JPY");
        assert_eq!(format_money(money(1_001, "KWD")), "1.001 KWD");
        assert_eq!(
            format_money(money(i64::MIN, "EUR")),
            "-92233720368547758.08 EUR"
        );
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        assert_eq!(
            escape_html("<b>\"Tom & Jerry's\"</b>"),
            "&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn known_carriers_get_a_tracking_link_with_an_encoded_number() {
        assert_eq!(
            tracking_url("DHL", "JD 01/2").as_deref(),
            Some("https://www.dhl.com/global-en/home/tracking.html?tracking-id=JD%2001%2F2")
        );
        assert_eq!(
            tracking_url("Royal Mail", "AB1").as_deref(),
            Some("https://www.royalmail.com/track-your-item#/tracking-results/AB1")
        );
        assert_eq!(tracking_url("Bob's Couriers", "1"), None);
    }

    #[test]
    fn the_shop_link_has_no_double_slash() {
        let shop = Shop::new("Shop", "https://shop.example/");
        assert_eq!(shop.link("/orders/1"), "https://shop.example/orders/1");
    }
}

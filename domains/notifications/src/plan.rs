use uuid::Uuid;

use crate::render::{render, render_sms};
use crate::{
    notification_id, Channel, Content, EmailAddress, Kind, Preferences, Rendered, Shop, Source,
};

/// Who hears about something: an email address, and the preferences of the customer behind it
/// (`None` for a guest, a subscriber without an account, or staff: the defaults apply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience {
    pub email: EmailAddress,
    pub preferences: Option<Preferences>,
}

/// One notification to store, rendered, with its deterministic id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub id: Uuid,
    pub kind: Kind,
    pub channel: Channel,
    /// An email address or an E.164 phone number.
    pub recipient: String,
    pub message: Rendered,
}

/// Decides the notifications `content` causes for `audience`: one per channel the audience's
/// preferences allow, each rendered and given its deterministic id. Pure: the same inputs give
/// the same drafts, byte for byte.
pub fn plan(
    shop: &Shop,
    source: &Source,
    content: &Content,
    audience: &Audience,
    sms_available: bool,
) -> Vec<Draft> {
    let kind = content.kind();
    let defaults = Preferences::default();
    let preferences = audience.preferences.as_ref().unwrap_or(&defaults);
    preferences
        .channels(kind.category(), sms_available)
        .into_iter()
        .filter_map(|channel| {
            let (recipient, message) = match channel {
                Channel::Email => (audience.email.as_str().to_string(), render(shop, content)),
                Channel::Sms => {
                    let phone = preferences.phone.as_ref()?;
                    let text = render_sms(shop, content);
                    (
                        phone.as_str().to_string(),
                        Rendered {
                            subject: String::new(),
                            html: String::new(),
                            text,
                        },
                    )
                }
            };
            // Only the email of an outbox row takes the row's id; any other channel derives
            // its own.
            let source = match (source, channel) {
                (Source::Outbox { id }, Channel::Sms) => Source::Event {
                    stream_type: "outbox".into(),
                    stream_id: id.to_string(),
                    sequence: 0,
                },
                _ => source.clone(),
            };
            Some(Draft {
                id: notification_id(&source, kind, channel, &recipient),
                kind,
                channel,
                recipient,
                message,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccountLink, ChannelChoice, LineSummary, OrderNotice, OrderUpdate, Phone};
    use agora_kernel::{Currency, Money};
    use chrono::{DateTime, Utc};

    fn shop() -> Shop {
        Shop::new("Agora Outfitters", "https://shop.example")
    }

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    fn source() -> Source {
        Source::Event {
            stream_type: "order".into(),
            stream_id: "7f3e2a10-0000-4000-8000-000000000001".into(),
            sequence: 5,
        }
    }

    fn notice(update: OrderUpdate) -> Content {
        Content::Order(OrderNotice {
            order_id: "7f3e2a10-0000-4000-8000-000000000001".into(),
            customer_name: "Ada <Lovelace>".into(),
            update,
            lines: vec![
                LineSummary {
                    title: "Organic tee".into(),
                    sku: "TEE-M".into(),
                    quantity: 2,
                    unit_price: eur(1_999),
                    line_total: eur(3_998),
                },
                LineSummary {
                    title: "Socks & more".into(),
                    sku: "SOCK-1".into(),
                    quantity: 1,
                    unit_price: eur(500),
                    line_total: eur(500),
                },
            ],
            subtotal: eur(4_498),
            shipping: eur(499),
            tax: eur(949),
            total: eur(5_946),
        })
    }

    fn guest() -> Audience {
        Audience {
            email: EmailAddress::parse("ada@example.com").expect("valid"),
            preferences: None,
        }
    }

    fn sms_customer() -> Audience {
        Audience {
            preferences: Some(Preferences {
                order_updates: ChannelChoice {
                    email: true,
                    sms: true,
                },
                phone: Some(Phone::parse("+4915112345678").expect("valid")),
                sms_opt_in: true,
                ..Preferences::default()
            }),
            ..guest()
        }
    }

    /// Given the content and the audience, when planned, then these (kind, channel,
    /// recipient) drafts result.
    fn check(
        content: &Content,
        audience: &Audience,
        sms: bool,
        expected: &[(Kind, Channel, &str)],
    ) -> Vec<Draft> {
        let drafts = plan(&shop(), &source(), content, audience, sms);
        let got: Vec<(Kind, Channel, &str)> = drafts
            .iter()
            .map(|d| (d.kind, d.channel, d.recipient.as_str()))
            .collect();
        assert_eq!(got, expected);
        drafts
    }

    #[test]
    fn a_guest_order_confirmation_is_one_email_with_lines_and_totals() {
        let drafts = check(
            &notice(OrderUpdate::Confirmed),
            &guest(),
            true,
            &[(Kind::OrderConfirmed, Channel::Email, "ada@example.com")],
        );
        let m = &drafts[0].message;
        assert_eq!(m.subject, "Order confirmation 7F3E2A10 · Agora Outfitters");
        for part in [&m.text, &m.html] {
            for expected in [
                "Organic tee",
                "TEE-M",
                "19.99 EUR",
                "39.98 EUR",
                "5.00 EUR",
                "44.98 EUR",
                "4.99 EUR",
                "9.49 EUR",
                "59.46 EUR",
                "https://shop.example/orders/7f3e2a10-0000-4000-8000-000000000001",
            ] {
                assert!(part.contains(expected), "{expected} missing from {part}");
            }
        }
        assert!(m
            .text
            .contains("2 × Organic tee (TEE-M) at 19.99 EUR: 39.98 EUR"));
        assert!(m.text.contains("Total: 59.46 EUR"));
        assert!(m.html.contains("Hello Ada &lt;Lovelace&gt;,"));
        assert!(m.html.contains("Socks &amp; more"));
        assert!(!m.html.contains("<Lovelace>"));
    }

    #[test]
    fn planning_twice_gives_the_same_ids_and_bytes() {
        let a = plan(
            &shop(),
            &source(),
            &notice(OrderUpdate::Confirmed),
            &sms_customer(),
            true,
        );
        let b = plan(
            &shop(),
            &source(),
            &notice(OrderUpdate::Confirmed),
            &sms_customer(),
            true,
        );
        assert_eq!(a, b);
        assert_ne!(a[0].id, a[1].id);
    }

    #[test]
    fn an_opted_in_customer_with_a_phone_also_gets_a_text() {
        let drafts = check(
            &notice(OrderUpdate::Shipped {
                carrier: "UPS".into(),
                tracking_number: "1Z999".into(),
            }),
            &sms_customer(),
            true,
            &[
                (Kind::OrderShipped, Channel::Email, "ada@example.com"),
                (Kind::OrderShipped, Channel::Sms, "+4915112345678"),
            ],
        );
        assert_eq!(
            drafts[1].message.text,
            "Your order 7F3E2A10 is on its way · Agora Outfitters: https://www.ups.com/track?tracknum=1Z999"
        );
        assert!(drafts[0]
            .message
            .text
            .contains("handed to UPS. Tracking number: 1Z999."));
    }

    #[test]
    fn without_a_provider_no_text_is_planned() {
        check(
            &notice(OrderUpdate::Delivered),
            &sms_customer(),
            false,
            &[(Kind::OrderDelivered, Channel::Email, "ada@example.com")],
        );
    }

    #[test]
    fn a_customer_who_turned_order_mail_off_gets_none() {
        let audience = Audience {
            preferences: Some(Preferences {
                order_updates: ChannelChoice {
                    email: false,
                    sms: false,
                },
                ..Preferences::default()
            }),
            ..guest()
        };
        check(&notice(OrderUpdate::Confirmed), &audience, true, &[]);
    }

    #[test]
    fn a_password_reset_takes_the_outbox_id_and_shows_the_link() {
        let id = Uuid::from_u128(42);
        let content = Content::PasswordReset(AccountLink {
            url: "https://shop.example/account/reset?token=abc".into(),
            expires_at: "2026-01-02T03:04:00Z"
                .parse::<DateTime<Utc>>()
                .expect("time"),
        });
        let drafts = plan(
            &shop(),
            &Source::Outbox { id },
            &content,
            &sms_customer(),
            true,
        );
        assert_eq!(drafts.len(), 1, "security mail never goes by SMS");
        assert_eq!(drafts[0].id, id);
        assert_eq!(drafts[0].kind, Kind::PasswordReset);
        assert!(drafts[0]
            .message
            .text
            .contains("https://shop.example/account/reset?token=abc"));
        assert!(drafts[0]
            .message
            .text
            .contains("until 2026-01-02 03:04 UTC"));
    }

    #[test]
    fn a_refund_names_the_amounts() {
        let drafts = check(
            &notice(OrderUpdate::Refunded {
                amount: eur(1_000),
                total_refunded: eur(1_500),
            }),
            &guest(),
            true,
            &[(Kind::OrderRefunded, Channel::Email, "ada@example.com")],
        );
        assert!(drafts[0].message.text.contains("We refunded 10.00 EUR"));
        assert!(drafts[0]
            .message
            .text
            .contains("15.00 EUR refunded in total"));
    }

    #[test]
    fn stock_mails_name_the_sku() {
        let staff = Audience {
            email: EmailAddress::parse("staff@shop.example").expect("valid"),
            preferences: None,
        };
        let drafts = check(
            &Content::LowStock {
                sku: "TEE-M".into(),
                available: 2,
                threshold: 5,
            },
            &staff,
            true,
            &[(Kind::LowStock, Channel::Email, "staff@shop.example")],
        );
        assert!(drafts[0]
            .message
            .subject
            .starts_with("Low stock: TEE-M (2 left)"));
        let drafts = check(
            &Content::BackInStock {
                sku: "TEE-M".into(),
                product_title: "Organic tee".into(),
                product_url: "https://shop.example/products/p1".into(),
            },
            &guest(),
            true,
            &[(Kind::BackInStock, Channel::Email, "ada@example.com")],
        );
        assert!(drafts[0]
            .message
            .html
            .contains("href=\"https://shop.example/products/p1\""));
    }
}

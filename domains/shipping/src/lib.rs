//! Shipping: where the shop ships, how, and at what price.
//!
//! One aggregate, [`ShippingProfile`] (stream type `shipping_profile`), holds the zones and
//! their options: id `default` for the shop's own settings, a marketplace vendor's id for the
//! vendor's own rates (a vendor with zones ships its lines at them, one charge per vendor,
//! credited to it; the other lines ship at the shop's). A zone covers areas: a country
//! (`*` for every country), optionally a region of it (ISO 3166-2) and a postcode prefix. An
//! option (standard, express, pickup) has a [`Rate`]: flat, by weight bands or by subtotal
//! bands, an optional free-from threshold and a delivery estimate in days.
//!
//! [`quote`] is the pure price list: the most specific zone covering the destination (a
//! postcode prefix over a region over a country over `*`; one area belongs to one zone, so
//! the winner is unique) offers its options that take the parcel, cheapest first;
//! `shipping.no_zone` when no zone covers the destination. The checkout quotes with the
//! profile as its committed events leave it and records the chosen option on the order.
//!
//! Invariants (enforced by [`ShippingProfile::decide`]): areas and options are valid and
//! stored normalized; an area belongs to one zone; band bounds strictly increase and only the
//! last band may be open; all prices of an option share one currency; only staff and admins
//! change the settings, and a vendor's users its own vendor's; only the back office reads
//! them (shoppers see quotes).
//!
//! Error codes: `shipping.forbidden`, `shipping.not_found`, `shipping.invalid_name`,
//! `shipping.invalid_area`, `shipping.area_count`, `shipping.area_taken`,
//! `shipping.zone_not_found`, `shipping.option_not_found`, `shipping.too_many`,
//! `shipping.invalid_rate`, `shipping.invalid_estimate`, `shipping.invalid_destination`,
//! `shipping.no_zone`, `shipping.option_unavailable`.

mod error;
mod profile;
mod rates;

pub use error::ShippingError;
pub use profile::{ShippingCommand, ShippingEvent, ShippingProfile, ShippingProfileView};
pub use rates::{
    choose, quote, zone_for, Band, Destination, OptionKind, Parcel, Rate, ShippingOption,
    ShippingQuote, Zone, ZoneArea,
};

/// The shop's own profile's stream id.
pub const DEFAULT_PROFILE: &str = "default";
/// Zones per profile.
pub const MAX_ZONES: usize = 2_000;
/// Areas per zone.
pub const MAX_AREAS: usize = 500;
/// Options per zone.
pub const MAX_OPTIONS_PER_ZONE: usize = 50;
/// Bands per banded rate.
pub const MAX_BANDS: usize = 50;
/// Largest price or threshold, in minor units (1,000,000.00).
pub const MAX_PRICE_MINOR: i64 = 100_000_000;

/// A zone or option id: 1 to 64 lower-case letters, digits and `-`.
fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A display name: 1 to 100 characters, not only spaces.
fn is_name(name: &str) -> bool {
    !name.trim().is_empty() && name.chars().count() <= 100
}

agora_kernel::contract!(ShippingProfile {
    service: "shipping",
    description: "Shipping zones, options and rates",
    command: ShippingCommand,
    view: ShippingProfileView,
});

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::{Currency, Money};

    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "strum",
            "agora-kernel",
            "serde",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "chrono",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").expect("valid in the test"))
    }

    fn area(spec: &str) -> ZoneArea {
        // "US-CA 941" → country US, region CA, prefix 941.
        let (place, prefix) = match spec.split_once(' ') {
            Some((place, prefix)) => (place, Some(prefix.to_string())),
            None => (spec, None),
        };
        let (country, region) = match place.split_once('-') {
            Some((c, r)) => (c, Some(r.to_string())),
            None => (place, None),
        };
        ZoneArea {
            country: country.into(),
            region,
            postcode_prefix: prefix,
        }
        .normalized()
        .expect("valid in the test")
    }

    fn flat(id: &str, price: i64) -> ShippingOption {
        ShippingOption {
            id: id.into(),
            name: id.into(),
            kind: OptionKind::Standard,
            rate: Rate::Flat { price: eur(price) },
            free_from: None,
            min_days: 2,
            max_days: 4,
        }
    }

    fn zone(id: &str, areas: &[&str], options: Vec<ShippingOption>) -> Zone {
        Zone {
            id: id.into(),
            name: id.into(),
            areas: areas.iter().map(|a| area(a)).collect(),
            options,
        }
    }

    fn to(country: &str, region: Option<&str>, postcode: Option<&str>) -> Destination {
        Destination::new(country, region, postcode).expect("valid in the test")
    }

    fn parcel(weight_grams: i64, subtotal: i64) -> Parcel {
        Parcel {
            weight_grams,
            subtotal: eur(subtotal),
        }
    }

    /// Given `zones`, when a parcel is quoted to `dest`, then these option ids at these
    /// prices (or this error).
    fn check(
        zones: &[Zone],
        dest: Destination,
        parcel: Parcel,
        then: Result<Vec<(&str, i64)>, ShippingError>,
    ) {
        let got = quote(zones, &dest, parcel).map(|quotes| {
            quotes
                .into_iter()
                .map(|q| (q.option_id, q.price.amount_minor))
                .collect::<Vec<_>>()
        });
        let then = then.map(|v| {
            v.into_iter()
                .map(|(id, p)| (id.to_string(), p))
                .collect::<Vec<_>>()
        });
        assert_eq!(got, then);
    }

    fn world() -> Vec<Zone> {
        vec![
            zone("rest", &["*"], vec![flat("world", 2500)]),
            zone("us", &["US"], vec![flat("us", 900)]),
            zone("california", &["US-CA"], vec![flat("ca", 700)]),
            zone("sf", &["US-CA 941"], vec![flat("sf", 500)]),
            zone("sf-downtown", &["US-CA 9410"], vec![flat("downtown", 300)]),
            zone("nyc", &["US 100"], vec![flat("nyc", 600)]),
        ]
    }

    #[test]
    fn a_country_zone_covers_the_whole_country() {
        check(
            &world(),
            to("US", Some("TX"), Some("73301")),
            parcel(0, 1000),
            Ok(vec![("us", 900)]),
        );
    }

    #[test]
    fn a_region_beats_its_country() {
        check(
            &world(),
            to("us", Some("US-CA"), Some("90210")),
            parcel(0, 1000),
            Ok(vec![("ca", 700)]),
        );
    }

    #[test]
    fn a_postcode_prefix_beats_its_region_and_a_longer_prefix_a_shorter_one() {
        check(
            &world(),
            to("US", Some("CA"), Some("94117")),
            parcel(0, 1000),
            Ok(vec![("sf", 500)]),
        );
        check(
            &world(),
            to("US", Some("CA"), Some("94107")),
            parcel(0, 1000),
            Ok(vec![("downtown", 300)]),
        );
    }

    #[test]
    fn a_postcode_prefix_without_a_region_beats_the_country() {
        check(
            &world(),
            to("US", Some("NY"), Some("10001")),
            parcel(0, 1000),
            Ok(vec![("nyc", 600)]),
        );
    }

    #[test]
    fn a_region_in_words_is_no_region_and_spaces_in_postcodes_do_not_count() {
        check(
            &world(),
            to("US", Some("California"), Some("941 17")),
            parcel(0, 1000),
            Ok(vec![("us", 900)]),
        );
    }

    #[test]
    fn the_rest_of_the_world_zone_takes_what_no_other_covers() {
        check(
            &world(),
            to("JP", None, None),
            parcel(0, 1000),
            Ok(vec![("world", 2500)]),
        );
    }

    #[test]
    fn without_a_covering_zone_the_quote_says_where_we_do_not_ship() {
        let zones = vec![zone("de", &["DE"], vec![flat("standard", 490)])];
        check(
            &zones,
            to("fr", None, Some("75001")),
            parcel(0, 1000),
            Err(ShippingError::NoZone("FR 75001".into())),
        );
        check(
            &[],
            to("DE", None, None),
            parcel(0, 1000),
            Err(ShippingError::NoZone("DE".into())),
        );
    }

    #[test]
    fn a_destination_needs_a_country_code() {
        assert_eq!(
            Destination::new("Germany", None, None),
            Err(ShippingError::InvalidDestination)
        );
    }

    fn band(up_to: Option<i64>, price: i64) -> Band {
        Band {
            up_to,
            price: eur(price),
        }
    }

    #[test]
    fn a_weight_rate_charges_the_first_band_the_parcel_fits_and_drops_the_option_beyond_the_last() {
        let zones = vec![zone(
            "de",
            &["DE"],
            vec![ShippingOption {
                rate: Rate::Weight {
                    bands: vec![band(Some(1000), 490), band(Some(5000), 790)],
                },
                ..flat("parcel", 0)
            }],
        )];
        let de = || to("DE", None, None);
        check(&zones, de(), parcel(0, 1000), Ok(vec![("parcel", 490)]));
        check(&zones, de(), parcel(1000, 1000), Ok(vec![("parcel", 490)]));
        check(&zones, de(), parcel(1001, 1000), Ok(vec![("parcel", 790)]));
        check(&zones, de(), parcel(5001, 1000), Ok(vec![]));
    }

    #[test]
    fn an_open_last_band_takes_any_weight() {
        let zones = vec![zone(
            "de",
            &["DE"],
            vec![ShippingOption {
                rate: Rate::Weight {
                    bands: vec![band(Some(1000), 490), band(None, 1490)],
                },
                ..flat("parcel", 0)
            }],
        )];
        check(
            &zones,
            to("DE", None, None),
            parcel(250_000, 1000),
            Ok(vec![("parcel", 1490)]),
        );
    }

    #[test]
    fn a_subtotal_rate_charges_by_the_cart_before_promotions() {
        let zones = vec![zone(
            "de",
            &["DE"],
            vec![ShippingOption {
                rate: Rate::Subtotal {
                    bands: vec![band(Some(2999), 690), band(Some(9999), 390), band(None, 0)],
                },
                ..flat("tiered", 0)
            }],
        )];
        let de = || to("DE", None, None);
        check(&zones, de(), parcel(0, 2999), Ok(vec![("tiered", 690)]));
        check(&zones, de(), parcel(0, 3000), Ok(vec![("tiered", 390)]));
        check(&zones, de(), parcel(0, 10_000), Ok(vec![("tiered", 0)]));
    }

    #[test]
    fn an_option_ships_free_from_its_threshold() {
        let zones = vec![zone(
            "de",
            &["DE"],
            vec![ShippingOption {
                free_from: Some(eur(5000)),
                ..flat("standard", 490)
            }],
        )];
        let de = || to("DE", None, None);
        check(&zones, de(), parcel(0, 4999), Ok(vec![("standard", 490)]));
        let quotes = quote(&zones, &de(), parcel(0, 5000)).expect("valid in the test");
        assert_eq!(quotes[0].price, eur(0));
        assert!(quotes[0].free);
    }

    #[test]
    fn options_come_cheapest_first_and_an_option_in_another_currency_is_not_offered() {
        let usd = Currency::parse("USD").expect("valid in the test");
        let zones = vec![zone(
            "de",
            &["DE"],
            vec![
                ShippingOption {
                    kind: OptionKind::Express,
                    min_days: 1,
                    max_days: 1,
                    ..flat("express", 990)
                },
                flat("standard", 490),
                ShippingOption {
                    kind: OptionKind::Pickup,
                    ..flat("pickup", 0)
                },
                ShippingOption {
                    rate: Rate::Flat {
                        price: Money::new(100, usd),
                    },
                    ..flat("dollars", 0)
                },
            ],
        )];
        check(
            &zones,
            to("DE", None, None),
            parcel(0, 1000),
            Ok(vec![("pickup", 0), ("standard", 490), ("express", 990)]),
        );
    }

    #[test]
    fn the_chosen_option_must_be_offered_and_none_chosen_is_the_cheapest() {
        let zones = vec![zone(
            "de",
            &["DE"],
            vec![flat("standard", 490), flat("express", 990)],
        )];
        let quotes =
            quote(&zones, &to("DE", None, None), parcel(0, 1000)).expect("valid in the test");
        assert_eq!(
            choose(&quotes, None).expect("valid in the test").option_id,
            "standard"
        );
        assert_eq!(
            choose(&quotes, Some("express"))
                .expect("valid in the test")
                .price,
            eur(990)
        );
        assert_eq!(
            choose(&quotes, Some("drone")),
            Err(ShippingError::OptionUnavailable)
        );
        assert_eq!(choose(&[], None), Err(ShippingError::OptionUnavailable));
    }
}

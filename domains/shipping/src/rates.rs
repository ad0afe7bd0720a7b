//! Zones, options and rates, and the pure quote: which options ship a parcel to a destination
//! and at what price.

use agora_kernel::{subdivision, Currency, Money};
use serde::{Deserialize, Serialize};

use crate::{ShippingError, MAX_BANDS, MAX_PRICE_MINOR};

/// Where a zone ships: a country (`*`: every country), optionally narrowed to a region of it
/// and to postcodes that start with a prefix. Stored normalized (upper case, the region
/// without its country prefix, the prefix without spaces), so equal areas compare equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneArea {
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode_prefix: Option<String>,
}

/// How specific a matching area is: a postcode prefix beats a region, a region beats a
/// country, a country beats `*`; a longer prefix beats a shorter one.
type Specificity = (usize, bool, bool);

impl ZoneArea {
    /// The area in its normal form, or `shipping.invalid_area`.
    pub fn normalized(&self) -> Result<ZoneArea, ShippingError> {
        let country = self.country.trim().to_ascii_uppercase();
        let any = country == "*";
        if !any && !is_country(&country) {
            return Err(ShippingError::InvalidArea);
        }
        let region = match self.region.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(_) if any => return Err(ShippingError::InvalidArea),
            Some(region) => Some(subdivision(&country, region).ok_or(ShippingError::InvalidArea)?),
        };
        let postcode_prefix = match self.postcode_prefix.as_deref() {
            None => None,
            Some(_) if any => return Err(ShippingError::InvalidArea),
            Some(prefix) => {
                let prefix = postcode(prefix);
                if prefix.is_empty() || prefix.len() > 10 {
                    return Err(ShippingError::InvalidArea);
                }
                Some(prefix)
            }
        };
        Ok(ZoneArea {
            country,
            region,
            postcode_prefix,
        })
    }

    /// How specifically this (normalized) area covers `to`; `None` when it does not.
    fn covers(&self, to: &Destination) -> Option<Specificity> {
        if self.country == "*" {
            return Some((0, false, false));
        }
        if self.country != to.country {
            return None;
        }
        if let Some(region) = &self.region {
            if to.region.as_ref() != Some(region) {
                return None;
            }
        }
        let prefix = match &self.postcode_prefix {
            None => 0,
            Some(prefix)
                if to
                    .postcode
                    .as_deref()
                    .is_some_and(|p| p.starts_with(prefix)) =>
            {
                prefix.len()
            }
            Some(_) => return None,
        };
        Some((prefix, self.region.is_some(), true))
    }

    /// The area as people write it: `US-CA 9*`, `DE`, `*`.
    pub fn label(&self) -> String {
        let mut label = self.country.clone();
        if let Some(region) = &self.region {
            label = format!("{label}-{region}");
        }
        if let Some(prefix) = &self.postcode_prefix {
            label = format!("{label} {prefix}*");
        }
        label
    }
}

fn is_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// A postcode's letters and digits, upper case: `sw1a 1aa` and `SW1A-1AA` are `SW1A1AA`.
fn postcode(raw: &str) -> String {
    raw.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Where a parcel goes, normalized: the country, its region as a subdivision code (a region
/// in another form is no region as far as zones go, as for tax) and the postcode's letters and
/// digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    country: String,
    region: Option<String>,
    postcode: Option<String>,
}

impl Destination {
    pub fn new(
        country: &str,
        region: Option<&str>,
        postcode_raw: Option<&str>,
    ) -> Result<Destination, ShippingError> {
        let country = country.trim().to_ascii_uppercase();
        if !is_country(&country) {
            return Err(ShippingError::InvalidDestination);
        }
        let region = region.and_then(|r| subdivision(&country, r));
        let postcode = postcode_raw.map(postcode).filter(|p| !p.is_empty());
        Ok(Destination {
            country,
            region,
            postcode,
        })
    }

    /// The destination as people write it, for error messages: `US-CA 94107`.
    pub fn label(&self) -> String {
        let mut label = self.country.clone();
        if let Some(region) = &self.region {
            label = format!("{label}-{region}");
        }
        if let Some(postcode) = &self.postcode {
            label = format!("{label} {postcode}");
        }
        label
    }
}

/// The kind of service an option is, for the shopper's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionKind {
    Standard,
    Express,
    /// Collected by the shopper from a pickup point or locker.
    Pickup,
}

impl OptionKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OptionKind::Standard => "standard",
            OptionKind::Express => "express",
            OptionKind::Pickup => "pickup",
        }
    }
}

/// One band of a banded rate: parcels up to `up_to` (inclusive; `None`: no upper bound) pay
/// `price`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub up_to: Option<i64>,
    pub price: Money,
}

/// What an option charges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rate {
    /// One price whatever the parcel.
    Flat { price: Money },
    /// By the parcel's weight in grams (the sum of its variants' weights; a variant without a
    /// weight weighs nothing). A parcel heavier than every band is not offered the option.
    Weight { bands: Vec<Band> },
    /// By the cart's subtotal in minor units, before promotions.
    Subtotal { bands: Vec<Band> },
}

impl Rate {
    fn prices(&self) -> Vec<Money> {
        match self {
            Rate::Flat { price } => vec![*price],
            Rate::Weight { bands } | Rate::Subtotal { bands } => {
                bands.iter().map(|b| b.price).collect()
            }
        }
    }

    /// The rate's currency (all its prices share it once validated; a banded rate without
    /// bands is refused, and has none).
    pub fn currency(&self) -> Option<Currency> {
        match self {
            Rate::Flat { price } => Some(price.currency),
            Rate::Weight { bands } | Rate::Subtotal { bands } => {
                bands.first().map(|b| b.price.currency)
            }
        }
    }

    fn check(&self) -> Result<(), ShippingError> {
        if let Rate::Weight { bands } | Rate::Subtotal { bands } = self {
            if bands.is_empty() || bands.len() > MAX_BANDS {
                return Err(ShippingError::InvalidRate);
            }
            let mut last: Option<i64> = None;
            for (i, band) in bands.iter().enumerate() {
                match band.up_to {
                    None if i + 1 == bands.len() => {}
                    None => return Err(ShippingError::InvalidRate),
                    Some(up_to) if up_to < 0 || last.is_some_and(|l| up_to <= l) => {
                        return Err(ShippingError::InvalidRate)
                    }
                    Some(up_to) => last = Some(up_to),
                }
            }
        }
        let currency = self.currency().ok_or(ShippingError::InvalidRate)?;
        if self
            .prices()
            .iter()
            .any(|p| p.currency != currency || !(0..=MAX_PRICE_MINOR).contains(&p.amount_minor))
        {
            return Err(ShippingError::InvalidRate);
        }
        Ok(())
    }

    /// The price for a parcel of `weight_grams` and `subtotal_minor`; `None` when no band
    /// takes it.
    fn price(&self, weight_grams: i64, subtotal_minor: i64) -> Option<Money> {
        let (bands, measure) = match self {
            Rate::Flat { price } => return Some(*price),
            Rate::Weight { bands } => (bands, weight_grams),
            Rate::Subtotal { bands } => (bands, subtotal_minor),
        };
        bands
            .iter()
            .find(|b| b.up_to.is_none_or(|up_to| measure <= up_to))
            .map(|b| b.price)
    }
}

/// A way to ship to a zone, with its rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingOption {
    pub id: String,
    pub name: String,
    pub kind: OptionKind,
    pub rate: Rate,
    /// A cart whose subtotal (before promotions) reaches this ships free with this option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_from: Option<Money>,
    /// Working days from dispatch to delivery, earliest and latest.
    pub min_days: u16,
    pub max_days: u16,
}

impl ShippingOption {
    /// Checks every field; the option as stored (names trimmed).
    pub fn checked(&self) -> Result<ShippingOption, ShippingError> {
        if !crate::is_id(&self.id) || !crate::is_name(&self.name) {
            return Err(ShippingError::InvalidName);
        }
        self.rate.check()?;
        if self.free_from.is_some_and(|f| {
            Some(f.currency) != self.rate.currency()
                || !(0..=MAX_PRICE_MINOR).contains(&f.amount_minor)
        }) {
            return Err(ShippingError::InvalidRate);
        }
        if self.min_days > self.max_days || self.max_days > 365 {
            return Err(ShippingError::InvalidEstimate);
        }
        Ok(ShippingOption {
            name: self.name.trim().to_string(),
            ..self.clone()
        })
    }
}

/// A zone: where it ships and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub areas: Vec<ZoneArea>,
    pub options: Vec<ShippingOption>,
}

impl Zone {
    fn covers(&self, to: &Destination) -> Option<Specificity> {
        self.areas.iter().filter_map(|a| a.covers(to)).max()
    }
}

/// What is shipped: its weight and the cart's subtotal before promotions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parcel {
    pub weight_grams: i64,
    pub subtotal: Money,
}

/// One option offered for a parcel and destination, with its price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingQuote {
    pub zone_id: String,
    pub option_id: String,
    pub name: String,
    pub kind: OptionKind,
    pub price: Money,
    /// The option's free-from threshold made it free.
    pub free: bool,
    pub min_days: u16,
    pub max_days: u16,
}

/// The zone that ships to `to`: the one with the most specific covering area (a postcode
/// prefix over a region over a country over `*`, a longer prefix over a shorter one). One
/// area belongs to one zone, so the winner is unique; `shipping.no_zone` when none covers it.
pub fn zone_for<'z>(zones: &'z [Zone], to: &Destination) -> Result<&'z Zone, ShippingError> {
    zones
        .iter()
        .filter_map(|z| z.covers(to).map(|s| (s, z)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, z)| z)
        .ok_or_else(|| ShippingError::NoZone(to.label()))
}

/// The options that ship `parcel` to `to`, cheapest first (then fastest, then by name): the
/// most specific zone's options whose rate takes the parcel, in the parcel's currency. An
/// option whose free-from threshold the subtotal reaches costs nothing.
pub fn quote(
    zones: &[Zone],
    to: &Destination,
    parcel: Parcel,
) -> Result<Vec<ShippingQuote>, ShippingError> {
    let zone = zone_for(zones, to)?;
    let mut quotes: Vec<ShippingQuote> = zone
        .options
        .iter()
        .filter(|o| o.rate.currency() == Some(parcel.subtotal.currency))
        .filter_map(|o| {
            let price = o
                .rate
                .price(parcel.weight_grams, parcel.subtotal.amount_minor)?;
            let free = o
                .free_from
                .is_some_and(|f| parcel.subtotal.amount_minor >= f.amount_minor);
            Some(ShippingQuote {
                zone_id: zone.id.clone(),
                option_id: o.id.clone(),
                name: o.name.clone(),
                kind: o.kind,
                price: if free {
                    Money::zero(price.currency)
                } else {
                    price
                },
                free,
                min_days: o.min_days,
                max_days: o.max_days,
            })
        })
        .collect();
    quotes.sort_by(|a, b| {
        (a.price.amount_minor, a.max_days, &a.name).cmp(&(
            b.price.amount_minor,
            b.max_days,
            &b.name,
        ))
    });
    Ok(quotes)
}

/// The option `option_id` from `quotes`, or the cheapest when none is asked for;
/// `shipping.option_unavailable` when the asked one is not among them (or none is).
pub fn choose(
    quotes: &[ShippingQuote],
    option_id: Option<&str>,
) -> Result<ShippingQuote, ShippingError> {
    match option_id {
        Some(id) => quotes.iter().find(|q| q.option_id == id),
        None => quotes.first(),
    }
    .cloned()
    .ok_or(ShippingError::OptionUnavailable)
}

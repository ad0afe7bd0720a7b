//! The tax engine: the tax on an order, per line, by where it ships.
//!
//! Rules:
//! - A [`TaxTable`] holds rules in basis points (`1900` = 19 %). The rule for an address is
//!   the one for its country and region, else the one for its country, else the table's
//!   fallback (a rule for no country: everywhere); none is `tax.no_rate`.
//! - A rule says whether the shop's prices there include tax. Tax-exclusive: the tax of an
//!   amount is `amount × rate / 10 000` and the shopper pays amount plus tax. Tax-inclusive:
//!   the amount already contains the tax, which is `amount × rate / (10 000 + rate)`, and the
//!   shopper pays the amount.
//! - Shipping is taxed per the rule: at the goods' rate, exempt, or at its own rate; it is
//!   inclusive or exclusive like the goods.
//! - Tax is computed on what the shopper pays: each line's total after discounts, and the
//!   shipping fee after any promotion waived part of it.
//! - **Rounding: half up, per line** (shipping counts as one more line), to the minor unit.
//!   Per line, so that each line of an invoice shows a tax that, added up, is the invoice's
//!   tax, and a refund of one line refunds exactly the tax shown on it. Half up (a half goes
//!   away from zero) rather than half even because it is the rule tax authorities and
//!   shoppers expect from an invoice (commercial rounding: EU VAT practice, most US states),
//!   and it is the rule `agora_order::totals` already uses, so a one-line order gives the
//!   same tax as today. Half even would remove a bias of at most half a minor unit per line,
//!   which no authority asks of a shop.
//! - [`tax_at`] takes the rounding explicitly ([`TaxRounding`]): per line as above, or per
//!   order, where the taxes at one rate are added up exactly and rounded once (shipping joins
//!   the goods when taxed at their rate), which is `agora_order::totals`' rule and so the
//!   default for the flat `AGORA_TAX_RATE_BP` configuration. Per order, each line shows the
//!   difference of rounded running sums, so lines still add up to the order's tax.
//! - The result records the rule used ([`AppliedRate`]), so a placed order keeps the rates it
//!   was taxed at even when the table changes later.
//!
//! [`TaxTable::flat`] is today's configuration (`AGORA_TAX_RATE_BP`: one rate everywhere, on
//! subtotal plus shipping, prices without tax). It differs from today's single rounding of the
//! order's tax in one way only: it rounds each line, so for an order of n lines the tax can
//! differ from today's by at most (n + 1) / 2 minor units.

use agora_kernel::{Currency, DomainError, ErrorKind, Money};
use serde::{Deserialize, Serialize};

use crate::{PricedCart, FULL_BP};

/// Largest tax rate: 100 % (the order aggregate's limit too).
pub const MAX_TAX_RATE_BP: u32 = 10_000;
/// The demo's rate, `AGORA_TAX_RATE_BP`'s default.
pub const DEMO_TAX_RATE_BP: u32 = 1_900;

/// An ISO 3166-1 alpha-2 country code (`DE`, `US`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses two letters; lower case is accepted and upper-cased.
    pub fn parse(s: &str) -> Result<CountryCode, TaxError> {
        let b = s.trim().to_ascii_uppercase().into_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(CountryCode([b[0], b[1]]))
        } else {
            Err(TaxError::InvalidJurisdiction)
        }
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XX")
    }
}

/// A region within a country: the part of an ISO 3166-2 code after the dash (`CA` of
/// `US-CA`), 1 to 3 letters or digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

impl RegionCode {
    pub fn parse(s: &str) -> Result<RegionCode, TaxError> {
        let r = s.trim().to_ascii_uppercase();
        if (1..=3).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(RegionCode(r))
        } else {
            Err(TaxError::InvalidJurisdiction)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_form {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = TaxError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_form!(CountryCode);
text_form!(RegionCode);

/// Where an order ships, as far as tax cares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxAddress {
    pub country: CountryCode,
    #[serde(default)]
    pub region: Option<RegionCode>,
}

/// How shipping is taxed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShippingTax {
    /// At the goods' rate (EU VAT: shipping follows the goods).
    SameAsGoods,
    /// Not taxed (many US states when shipping is stated separately).
    Exempt,
    /// At its own rate.
    Rate { rate_bp: u32 },
}

/// The tax of one jurisdiction: a country, a region of one, or (no country) everywhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRule {
    /// `None`: the fallback for every address without a rule of its own.
    #[serde(default)]
    pub country: Option<CountryCode>,
    /// Only with a country.
    #[serde(default)]
    pub region: Option<RegionCode>,
    pub rate_bp: u32,
    /// Whether the shop's prices there already include the tax.
    pub prices_include_tax: bool,
    pub shipping: ShippingTax,
}

impl TaxRule {
    fn shipping_rate_bp(&self) -> u32 {
        match self.shipping {
            ShippingTax::SameAsGoods => self.rate_bp,
            ShippingTax::Exempt => 0,
            ShippingTax::Rate { rate_bp } => rate_bp,
        }
    }
}

/// The shop's tax rules, checked when built: rates within `0..=MAX_TAX_RATE_BP`, a region
/// only with a country, at most one rule per jurisdiction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<TaxRule>", into = "Vec<TaxRule>")]
pub struct TaxTable {
    rules: Vec<TaxRule>,
}

impl TaxTable {
    pub fn new(rules: Vec<TaxRule>) -> Result<TaxTable, TaxError> {
        let mut seen = std::collections::BTreeSet::new();
        for rule in &rules {
            if rule.rate_bp > MAX_TAX_RATE_BP || rule.shipping_rate_bp() > MAX_TAX_RATE_BP {
                return Err(TaxError::InvalidRate);
            }
            if rule.country.is_none() && rule.region.is_some() {
                return Err(TaxError::InvalidJurisdiction);
            }
            if !seen.insert((rule.country, rule.region.clone())) {
                return Err(TaxError::DuplicateRule);
            }
        }
        Ok(TaxTable { rules })
    }

    /// One rate everywhere, on goods and shipping, prices without tax: today's
    /// `AGORA_TAX_RATE_BP`.
    pub fn flat(rate_bp: u32) -> Result<TaxTable, TaxError> {
        TaxTable::new(vec![TaxRule {
            country: None,
            region: None,
            rate_bp,
            prices_include_tax: false,
            shipping: ShippingTax::SameAsGoods,
        }])
    }

    /// The demo's configuration: [`TaxTable::flat`] at [`DEMO_TAX_RATE_BP`] (19 %).
    pub fn demo() -> TaxTable {
        TaxTable {
            rules: vec![TaxRule {
                country: None,
                region: None,
                rate_bp: DEMO_TAX_RATE_BP,
                prices_include_tax: false,
                shipping: ShippingTax::SameAsGoods,
            }],
        }
    }

    pub fn rules(&self) -> &[TaxRule] {
        &self.rules
    }

    /// The rule for `address`: its region's, else its country's, else the fallback.
    pub fn rule_for(&self, address: &TaxAddress) -> Result<&TaxRule, TaxError> {
        let find = |country: Option<CountryCode>, region: Option<&RegionCode>| {
            self.rules
                .iter()
                .find(|r| r.country == country && r.region.as_ref() == region)
        };
        address
            .region
            .as_ref()
            .and_then(|region| find(Some(address.country), Some(region)))
            .or_else(|| find(Some(address.country), None))
            .or_else(|| find(None, None))
            .ok_or(TaxError::NoRate)
    }
}

impl TaxTable {
    /// Parses the compact text form that configuration uses (`AGORA_TAX_RULES`): rules
    /// separated by commas, each `JURISDICTION:RATE_BP[:incl|:excl][:shipping=same|exempt|RATE_BP]`.
    /// The jurisdiction is a country (`DE`), a region of one (`US-CA`) or `*` (everywhere
    /// else); prices exclude tax unless `incl` is given; shipping is taxed at the goods' rate
    /// unless said otherwise. Example: `DE:1900:incl,US-CA:725:excl:shipping=exempt,*:1900`.
    /// The table is then checked as [`TaxTable::new`] checks it.
    pub fn parse(text: &str) -> Result<TaxTable, TaxError> {
        let rules = text
            .split(',')
            .map(str::trim)
            .filter(|rule| !rule.is_empty())
            .map(parse_rule)
            .collect::<Result<Vec<_>, _>>()?;
        if rules.is_empty() {
            return Err(TaxError::InvalidRuleText);
        }
        TaxTable::new(rules)
    }
}

fn parse_rate(text: &str) -> Result<u32, TaxError> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TaxError::InvalidRuleText);
    }
    text.parse::<u32>().map_err(|_| TaxError::InvalidRate)
}

fn parse_rule(text: &str) -> Result<TaxRule, TaxError> {
    let mut fields = text.split(':').map(str::trim);
    let jurisdiction = fields.next().ok_or(TaxError::InvalidRuleText)?;
    let (country, region) = if jurisdiction == "*" {
        (None, None)
    } else {
        match jurisdiction.split_once('-') {
            Some((country, region)) => (
                Some(CountryCode::parse(country)?),
                Some(RegionCode::parse(region)?),
            ),
            None => (Some(CountryCode::parse(jurisdiction)?), None),
        }
    };
    let rate_bp = parse_rate(fields.next().ok_or(TaxError::InvalidRuleText)?)?;
    let mut prices_include_tax = None;
    let mut shipping = None;
    for field in fields {
        match field.to_ascii_lowercase().as_str() {
            "incl" if prices_include_tax.is_none() => prices_include_tax = Some(true),
            "excl" if prices_include_tax.is_none() => prices_include_tax = Some(false),
            other => match other.strip_prefix("shipping=") {
                Some(how) if shipping.is_none() => {
                    shipping = Some(match how {
                        "same" => ShippingTax::SameAsGoods,
                        "exempt" => ShippingTax::Exempt,
                        rate => ShippingTax::Rate {
                            rate_bp: parse_rate(rate)?,
                        },
                    })
                }
                _ => return Err(TaxError::InvalidRuleText),
            },
        }
    }
    Ok(TaxRule {
        country,
        region,
        rate_bp,
        prices_include_tax: prices_include_tax.unwrap_or(false),
        shipping: shipping.unwrap_or(ShippingTax::SameAsGoods),
    })
}

impl TryFrom<Vec<TaxRule>> for TaxTable {
    type Error = TaxError;
    fn try_from(rules: Vec<TaxRule>) -> Result<Self, Self::Error> {
        TaxTable::new(rules)
    }
}

impl From<TaxTable> for Vec<TaxRule> {
    fn from(table: TaxTable) -> Self {
        table.rules
    }
}

/// The rule an order was taxed by, as it is recorded with the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRate {
    pub country: Option<CountryCode>,
    pub region: Option<RegionCode>,
    pub rate_bp: u32,
    pub shipping_rate_bp: u32,
    pub prices_include_tax: bool,
}

/// The tax of one line (or of shipping): `net + tax = gross`, where gross is what the shopper
/// pays for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxLine {
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

/// An order's tax: per line, for shipping, in total, and the rate used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxedOrder {
    pub rate: AppliedRate,
    pub lines: Vec<TaxLine>,
    pub shipping: TaxLine,
    /// The sums over the lines and shipping; `gross` is what the shopper pays in all.
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

/// Why an order could not be taxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TaxError {
    #[error("no tax rule covers this address")]
    NoRate,
    #[error("a tax rate is between 0 and {MAX_TAX_RATE_BP} basis points")]
    InvalidRate,
    #[error("a country is two letters, a region one to three letters or digits of a country")]
    InvalidJurisdiction,
    #[error("a jurisdiction has at most one tax rule")]
    DuplicateRule,
    #[error("every amount of an order must be in one currency")]
    CurrencyMismatch,
    #[error("an amount to tax cannot be negative")]
    NegativeAmount,
    #[error("amount overflow")]
    Overflow,
    #[error("tax rounding is `line` or `order`")]
    InvalidRounding,
    #[error("a tax rule is COUNTRY[-REGION]:RATE_BP[:incl|excl][:shipping=same|exempt|RATE_BP], `*` for everywhere")]
    InvalidRuleText,
}

impl DomainError for TaxError {
    fn code(&self) -> &'static str {
        match self {
            TaxError::NoRate => "tax.no_rate",
            TaxError::InvalidRate => "tax.invalid_rate",
            TaxError::InvalidJurisdiction => "tax.invalid_jurisdiction",
            TaxError::DuplicateRule => "tax.duplicate_rule",
            TaxError::CurrencyMismatch => "tax.currency_mismatch",
            TaxError::NegativeAmount => "tax.negative_amount",
            TaxError::Overflow => "tax.overflow",
            TaxError::InvalidRounding => "tax.invalid_rounding",
            TaxError::InvalidRuleText => "tax.invalid_rule_text",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            TaxError::Overflow => ErrorKind::Internal,
            _ => ErrorKind::Invalid,
        }
    }
}

/// `numerator / denominator` rounded half up (both positive or zero numerator).
fn div_half_up(numerator: i128, denominator: i128) -> i128 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// The tax of one amount at `rate_bp`, inclusive or exclusive, rounded half up.
fn tax_line(amount: Money, rate_bp: u32, inclusive: bool) -> Result<TaxLine, TaxError> {
    if amount.amount_minor < 0 {
        return Err(TaxError::NegativeAmount);
    }
    let value = i128::from(amount.amount_minor) * i128::from(rate_bp);
    let full = i128::from(FULL_BP);
    let tax = if inclusive {
        div_half_up(value, full + i128::from(rate_bp))
    } else {
        div_half_up(value, full)
    };
    let tax = i64::try_from(tax).map_err(|_| TaxError::Overflow)?;
    let (net, gross) = if inclusive {
        (amount.amount_minor - tax, amount.amount_minor)
    } else {
        (
            amount.amount_minor,
            amount
                .amount_minor
                .checked_add(tax)
                .ok_or(TaxError::Overflow)?,
        )
    };
    let currency = amount.currency;
    Ok(TaxLine {
        net: Money::new(net, currency),
        tax: Money::new(tax, currency),
        gross: Money::new(gross, currency),
    })
}

/// How an order's tax is rounded to the minor unit (always half up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxRounding {
    /// Each line (and shipping) is rounded on its own; the order's tax is their sum. An
    /// invoice line shows a tax that a refund of that line gives back exactly.
    #[default]
    PerLine,
    /// The order's tax is rounded once per rate: the exact taxes of the lines taxed at one
    /// rate (shipping joins the goods when it is taxed at their rate) are added up and rounded
    /// once, which is what `agora_order::totals` always did. Each line still shows a tax: the
    /// rounded running sum up to it minus the one before it, so the lines add up to the
    /// order's tax and each is within one minor unit of its exact tax.
    PerOrder,
}

impl TaxRounding {
    /// `line` or `order`, as configuration spells it.
    pub fn parse(s: &str) -> Result<TaxRounding, TaxError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "line" | "per_line" => Ok(TaxRounding::PerLine),
            "order" | "per_order" => Ok(TaxRounding::PerOrder),
            _ => Err(TaxError::InvalidRounding),
        }
    }
}

impl From<&TaxRule> for AppliedRate {
    fn from(rule: &TaxRule) -> AppliedRate {
        AppliedRate {
            country: rule.country,
            region: rule.region.clone(),
            rate_bp: rule.rate_bp,
            shipping_rate_bp: rule.shipping_rate_bp(),
            prices_include_tax: rule.prices_include_tax,
        }
    }
}

/// Taxes an order shipping to `address`: `lines` are what the shopper pays for each line
/// (after discounts) and `shipping` what they pay for shipping, all in one currency. See the
/// module documentation for the rules; this rounds per line.
pub fn tax(
    table: &TaxTable,
    address: &TaxAddress,
    lines: &[Money],
    shipping: Money,
) -> Result<TaxedOrder, TaxError> {
    let rule = table.rule_for(address)?;
    tax_at(
        &AppliedRate::from(rule),
        TaxRounding::PerLine,
        lines,
        shipping,
    )
}

/// Taxes an order at a rate already chosen (the one an order recorded when it was placed),
/// rounded as `rounding` says. [`tax`] is this at the table's rule for the address, per line.
pub fn tax_at(
    rate: &AppliedRate,
    rounding: TaxRounding,
    lines: &[Money],
    shipping: Money,
) -> Result<TaxedOrder, TaxError> {
    if rate.rate_bp > MAX_TAX_RATE_BP || rate.shipping_rate_bp > MAX_TAX_RATE_BP {
        return Err(TaxError::InvalidRate);
    }
    let currency: Currency = shipping.currency;
    if lines.iter().any(|l| l.currency != currency) {
        return Err(TaxError::CurrencyMismatch);
    }
    let inclusive = rate.prices_include_tax;
    let (lines, shipping) = match rounding {
        TaxRounding::PerLine => (
            lines
                .iter()
                .map(|amount| tax_line(*amount, rate.rate_bp, inclusive))
                .collect::<Result<Vec<_>, _>>()?,
            tax_line(shipping, rate.shipping_rate_bp, inclusive)?,
        ),
        TaxRounding::PerOrder => {
            let mut goods = RunningTax::new(rate.rate_bp, inclusive);
            let lines = lines
                .iter()
                .map(|amount| goods.next(*amount))
                .collect::<Result<Vec<_>, _>>()?;
            // Shipping at the goods' rate joins their running sum (one rounding in all, as
            // `agora_order::totals` does); at its own rate it is a group of its own.
            let shipping = if rate.shipping_rate_bp == rate.rate_bp {
                goods.next(shipping)?
            } else {
                RunningTax::new(rate.shipping_rate_bp, inclusive).next(shipping)?
            };
            (lines, shipping)
        }
    };
    let sum = |field: fn(&TaxLine) -> Money| -> Result<Money, TaxError> {
        lines
            .iter()
            .chain(std::iter::once(&shipping))
            .try_fold(Money::zero(currency), |total, line| {
                total.checked_add(field(line))
            })
            .map_err(|_| TaxError::Overflow)
    };
    Ok(TaxedOrder {
        rate: rate.clone(),
        net: sum(|l| l.net)?,
        tax: sum(|l| l.tax)?,
        gross: sum(|l| l.gross)?,
        lines,
        shipping,
    })
}

/// Per-order rounding of the amounts taxed at one rate: each amount's tax is the rounded tax
/// of the running sum so far minus the rounded tax of the sum before it.
struct RunningTax {
    rate_bp: u32,
    inclusive: bool,
    /// The amounts so far, in minor units (i128: a hundred lines cannot overflow it).
    sum: i128,
    /// The rounded tax of `sum`.
    taxed: i128,
}

impl RunningTax {
    fn new(rate_bp: u32, inclusive: bool) -> RunningTax {
        RunningTax {
            rate_bp,
            inclusive,
            sum: 0,
            taxed: 0,
        }
    }

    fn next(&mut self, amount: Money) -> Result<TaxLine, TaxError> {
        if amount.amount_minor < 0 {
            return Err(TaxError::NegativeAmount);
        }
        self.sum += i128::from(amount.amount_minor);
        let value = self.sum * i128::from(self.rate_bp);
        let full = i128::from(FULL_BP);
        let taxed = if self.inclusive {
            div_half_up(value, full + i128::from(self.rate_bp))
        } else {
            div_half_up(value, full)
        };
        let tax = i64::try_from(taxed - self.taxed).map_err(|_| TaxError::Overflow)?;
        self.taxed = taxed;
        let (net, gross) = if self.inclusive {
            (amount.amount_minor - tax, amount.amount_minor)
        } else {
            (
                amount.amount_minor,
                amount
                    .amount_minor
                    .checked_add(tax)
                    .ok_or(TaxError::Overflow)?,
            )
        };
        let currency = amount.currency;
        Ok(TaxLine {
            net: Money::new(net, currency),
            tax: Money::new(tax, currency),
            gross: Money::new(gross, currency),
        })
    }
}

/// Taxes a priced cart: its lines' totals after discounts and its shipping after promotions.
pub fn tax_cart(
    table: &TaxTable,
    address: &TaxAddress,
    cart: &PricedCart,
) -> Result<TaxedOrder, TaxError> {
    let lines: Vec<Money> = cart.lines.iter().map(|l| l.total).collect();
    tax(table, address, &lines, cart.shipping_total())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    fn country(s: &str) -> CountryCode {
        CountryCode::parse(s).expect("country")
    }

    fn address(c: &str, region: Option<&str>) -> TaxAddress {
        TaxAddress {
            country: country(c),
            region: region.map(|r| RegionCode::parse(r).expect("region")),
        }
    }

    fn line(net: i64, tax: i64, gross: i64) -> TaxLine {
        TaxLine {
            net: eur(net),
            tax: eur(tax),
            gross: eur(gross),
        }
    }

    /// Germany: 19 %, prices include VAT, shipping taxed like the goods. California: 7.25 %,
    /// prices without tax, shipping exempt. No other rule, so no fallback.
    fn table() -> TaxTable {
        TaxTable::new(vec![
            TaxRule {
                country: Some(country("DE")),
                region: None,
                rate_bp: 1_900,
                prices_include_tax: true,
                shipping: ShippingTax::SameAsGoods,
            },
            TaxRule {
                country: Some(country("US")),
                region: Some(RegionCode::parse("CA").expect("region")),
                rate_bp: 725,
                prices_include_tax: false,
                shipping: ShippingTax::Exempt,
            },
        ])
        .expect("valid")
    }

    /// The worked example. One order: 2 tees at 20.00 with 10 % off (36.00 paid), a mug at
    /// 12.50, shipping 4.99.
    ///
    /// Shipped to Germany (19 %, prices include tax): the tax is inside each amount,
    /// `amount × 1900 / 11900`, rounded half up per line:
    ///
    /// | line     | gross | tax = gross × 19/119        | net   |
    /// |----------|-------|-----------------------------|-------|
    /// | tees     | 36.00 | 574.79… → 5.75              | 30.25 |
    /// | mug      | 12.50 | 199.58… → 2.00              | 10.50 |
    /// | shipping |  4.99 |  79.67… → 0.80              |  4.19 |
    /// | total    | 53.49 | 8.55                        | 44.94 |
    ///
    /// The shopper pays 53.49, the prices as shown.
    ///
    /// Shipped to California (7.25 %, prices without tax, shipping exempt): the tax is added,
    /// `amount × 725 / 10000`, rounded half up per line:
    ///
    /// | line     | net   | tax = net × 7.25 %          | gross |
    /// |----------|-------|-----------------------------|-------|
    /// | tees     | 36.00 | 261.00 → 2.61               | 38.61 |
    /// | mug      | 12.50 |  90.625 → 0.91 (half up)    | 13.41 |
    /// | shipping |  4.99 | exempt → 0.00               |  4.99 |
    /// | total    | 53.49 | 3.52                        | 57.01 |
    ///
    /// The shopper pays 57.01. New York has no rule and the table no fallback: `tax.no_rate`.
    #[test]
    fn a_worked_example_in_two_countries_one_with_prices_including_tax() {
        let lines = [eur(3_600), eur(1_250)];
        let shipping = eur(499);

        let germany = tax(&table(), &address("de", None), &lines, shipping).expect("taxed");
        assert_eq!(
            germany.rate,
            AppliedRate {
                country: Some(country("DE")),
                region: None,
                rate_bp: 1_900,
                shipping_rate_bp: 1_900,
                prices_include_tax: true,
            }
        );
        assert_eq!(
            germany.lines,
            vec![line(3_025, 575, 3_600), line(1_050, 200, 1_250)]
        );
        assert_eq!(germany.shipping, line(419, 80, 499));
        assert_eq!(
            (germany.net, germany.tax, germany.gross),
            (eur(4_494), eur(855), eur(5_349))
        );

        // A German region without a rule of its own takes the country's.
        let bavaria = tax(&table(), &address("DE", Some("BY")), &lines, shipping);
        assert_eq!(bavaria.map(|t| t.gross), Ok(eur(5_349)));

        let california =
            tax(&table(), &address("US", Some("CA")), &lines, shipping).expect("taxed");
        assert_eq!(
            california.rate,
            AppliedRate {
                country: Some(country("US")),
                region: Some(RegionCode::parse("CA").expect("region")),
                rate_bp: 725,
                shipping_rate_bp: 0,
                prices_include_tax: false,
            }
        );
        assert_eq!(
            california.lines,
            vec![line(3_600, 261, 3_861), line(1_250, 91, 1_341)]
        );
        assert_eq!(california.shipping, line(499, 0, 499));
        assert_eq!(
            (california.net, california.tax, california.gross),
            (eur(5_349), eur(352), eur(5_701))
        );

        assert_eq!(
            tax(&table(), &address("US", Some("NY")), &lines, shipping),
            Err(TaxError::NoRate)
        );
    }

    #[test]
    fn rounding_is_half_up_per_line() {
        let five = TaxTable::flat(500).expect("valid");
        let anywhere = address("FR", None);
        // 5 % of 0.10, 0.30 and 0.50 is 0.5, 1.5 and 2.5 cents: half up gives 1, 2 and 3
        // (half even would give 0, 2 and 2).
        let taxed = tax(&five, &anywhere, &[eur(10), eur(30), eur(50)], eur(0)).expect("taxed");
        let taxes: Vec<i64> = taxed.lines.iter().map(|l| l.tax.amount_minor).collect();
        assert_eq!(taxes, vec![1, 2, 3]);
        // Per line: three lines of 0.10 are taxed 1 cent each, 3 in all, where one rounding of
        // the 0.30 total would give 2.
        let per_line = tax(&five, &anywhere, &[eur(10); 3], eur(0)).expect("taxed");
        assert_eq!(per_line.tax, eur(3));
    }

    #[test]
    fn the_demo_table_is_todays_single_rate_on_subtotal_plus_shipping() {
        let demo = TaxTable::demo();
        assert_eq!(Ok(demo.clone()), TaxTable::flat(DEMO_TAX_RATE_BP));
        // Today (`agora_order::totals`): (subtotal + shipping) × rate, rounded half up once.
        let today = |subtotal: i64, shipping: i64| ((subtotal + shipping) * 1_900 + 5_000) / 10_000;
        for (price, shipping) in [(1_999, 499), (2_500, 0), (12_345, 499), (1, 1)] {
            let taxed =
                tax(&demo, &address("NL", None), &[eur(price)], eur(shipping)).expect("taxed");
            // One line plus shipping: two roundings instead of one, at most one cent apart.
            assert!((taxed.tax.amount_minor - today(price, shipping)).abs() <= 1);
            assert_eq!(
                taxed.gross.amount_minor,
                price + shipping + taxed.tax.amount_minor
            );
            assert_eq!(taxed.rate.rate_bp, 1_900);
            assert_eq!(taxed.rate.country, None);
        }
        // The everyday case agrees exactly: 19.99 + 4.99 → 4.75 today, 3.80 + 0.95 here.
        let taxed = tax(&demo, &address("NL", None), &[eur(1_999)], eur(499)).expect("taxed");
        assert_eq!(taxed.tax, eur(today(1_999, 499)));
    }

    #[test]
    fn a_priced_cart_is_taxed_on_what_the_shopper_pays() {
        use crate::{price, CustomerFacts, PricingInput};
        let cart = price(&PricingInput {
            currency: Currency::EUR,
            lines: vec![crate::CartLine {
                sku: agora_kernel::Sku::parse("TEE").expect("sku"),
                product_id: crate::ProductId::from_uuid(uuid::Uuid::from_u128(1)),
                categories: vec![],
                quantity: 2,
                unit_price: eur(2_000),
            }],
            customer: CustomerFacts::default(),
            shipping: eur(499),
            now: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            automatic: vec![],
            code: None,
        })
        .expect("priced");
        let taxed = tax_cart(&TaxTable::demo(), &address("DE", None), &cart).expect("taxed");
        // 40.00 × 19 % = 7.60, 4.99 × 19 % = 0.9481 → 0.95.
        assert_eq!(taxed.tax, eur(855));
        assert_eq!(taxed.gross, eur(4_000 + 499 + 855));
    }

    #[test]
    fn a_table_is_checked_when_built() {
        let rule = |country: Option<&str>, region: Option<&str>, rate_bp: u32| TaxRule {
            country: country.map(|c| CountryCode::parse(c).expect("country")),
            region: region.map(|r| RegionCode::parse(r).expect("region")),
            rate_bp,
            prices_include_tax: false,
            shipping: ShippingTax::SameAsGoods,
        };
        assert_eq!(
            TaxTable::new(vec![rule(Some("DE"), None, 10_001)]),
            Err(TaxError::InvalidRate)
        );
        assert_eq!(
            TaxTable::new(vec![rule(None, Some("CA"), 100)]),
            Err(TaxError::InvalidJurisdiction)
        );
        assert_eq!(
            TaxTable::new(vec![
                rule(Some("DE"), None, 100),
                rule(Some("DE"), None, 200)
            ]),
            Err(TaxError::DuplicateRule)
        );
        let mut own_rate = rule(Some("DE"), None, 100);
        own_rate.shipping = ShippingTax::Rate { rate_bp: 20_000 };
        assert_eq!(TaxTable::new(vec![own_rate]), Err(TaxError::InvalidRate));
        // The wire form is checked too.
        assert!(serde_json::from_value::<TaxTable>(serde_json::json!([
            {"country": "DE", "rate_bp": 1900, "prices_include_tax": true, "shipping": "same_as_goods"},
            {"country": "DE", "rate_bp": 700, "prices_include_tax": true, "shipping": "exempt"}
        ]))
        .is_err());
        assert!(CountryCode::parse("DEU").is_err());
        assert!(RegionCode::parse("ABCD").is_err());
    }

    #[test]
    fn amounts_in_two_currencies_or_negative_are_refused() {
        let demo = TaxTable::demo();
        let anywhere = address("DE", None);
        assert_eq!(
            tax(&demo, &anywhere, &[Money::new(1, Currency::USD)], eur(0)),
            Err(TaxError::CurrencyMismatch)
        );
        assert_eq!(
            tax(&demo, &anywhere, &[eur(-1)], eur(0)),
            Err(TaxError::NegativeAmount)
        );
    }

    #[test]
    fn the_compact_form_parses_into_a_checked_table() {
        let table =
            TaxTable::parse("DE:1900:incl, us-ca:725:excl:shipping=exempt ,*:1900").expect("valid");
        assert_eq!(
            table.rules(),
            &[
                TaxRule {
                    country: Some(country("DE")),
                    region: None,
                    rate_bp: 1_900,
                    prices_include_tax: true,
                    shipping: ShippingTax::SameAsGoods,
                },
                TaxRule {
                    country: Some(country("US")),
                    region: Some(RegionCode::parse("CA").expect("region")),
                    rate_bp: 725,
                    prices_include_tax: false,
                    shipping: ShippingTax::Exempt,
                },
                TaxRule {
                    country: None,
                    region: None,
                    rate_bp: 1_900,
                    prices_include_tax: false,
                    shipping: ShippingTax::SameAsGoods,
                },
            ]
        );
        let own = TaxTable::parse("FR:2000:shipping=550").expect("valid");
        assert_eq!(own.rules()[0].shipping, ShippingTax::Rate { rate_bp: 550 });
        for (bad, why) in [
            ("", TaxError::InvalidRuleText),
            ("DE", TaxError::InvalidRuleText),
            ("DE:19%", TaxError::InvalidRuleText),
            ("DE:-1", TaxError::InvalidRuleText),
            ("DE:1900:incl:excl", TaxError::InvalidRuleText),
            ("DE:1900:gross", TaxError::InvalidRuleText),
            ("DEU:1900", TaxError::InvalidJurisdiction),
            ("DE:10001", TaxError::InvalidRate),
            ("DE:1900,DE:700", TaxError::DuplicateRule),
        ] {
            assert_eq!(TaxTable::parse(bad), Err(why), "{bad}");
        }
    }

    /// Per order, the taxes of the amounts at one rate are rounded once: the flat table gives
    /// exactly what `agora_order::totals` gives, `(subtotal + shipping) × rate` rounded half
    /// up once, and each line's tax is the difference of rounded running sums.
    #[test]
    fn per_order_rounding_rounds_once_per_rate() {
        let five = AppliedRate::from(&TaxTable::flat(500).expect("valid").rules()[0]);
        // Three lines of 0.10 at 5 %: 0.5 cent each, 1.5 cents in all → 2 (per line: 3).
        let taxed = tax_at(&five, TaxRounding::PerOrder, &[eur(10); 3], eur(0)).expect("taxed");
        assert_eq!(taxed.tax, eur(2));
        let taxes: Vec<i64> = taxed.lines.iter().map(|l| l.tax.amount_minor).collect();
        // Running sums 0.5, 1.0, 1.5 round to 1, 1, 2.
        assert_eq!(taxes, vec![1, 0, 1]);
        let demo = AppliedRate::from(&TaxTable::demo().rules()[0]);
        let today = |subtotal: i64, shipping: i64| ((subtotal + shipping) * 1_900 + 5_000) / 10_000;
        for (prices, shipping) in [
            (vec![1_999, 2_599], 499),
            (vec![1, 1, 1], 1),
            (vec![333; 7], 0),
        ] {
            let lines: Vec<Money> = prices.iter().copied().map(eur).collect();
            let taxed = tax_at(&demo, TaxRounding::PerOrder, &lines, eur(shipping)).expect("taxed");
            assert_eq!(taxed.tax.amount_minor, today(prices.iter().sum(), shipping));
        }
        // Shipping at its own rate is rounded on its own.
        let mut split = five.clone();
        split.shipping_rate_bp = 0;
        let taxed = tax_at(&split, TaxRounding::PerOrder, &[eur(10)], eur(10)).expect("taxed");
        assert_eq!((taxed.tax, taxed.shipping.tax), (eur(1), eur(0)));
        assert_eq!(TaxRounding::parse("order"), Ok(TaxRounding::PerOrder));
        assert_eq!(TaxRounding::parse("LINE"), Ok(TaxRounding::PerLine));
        assert_eq!(TaxRounding::parse("half"), Err(TaxError::InvalidRounding));
    }

    #[test]
    fn every_tax_code_is_namespaced_and_unique() {
        let all = [
            TaxError::NoRate,
            TaxError::InvalidRate,
            TaxError::InvalidJurisdiction,
            TaxError::DuplicateRule,
            TaxError::CurrencyMismatch,
            TaxError::NegativeAmount,
            TaxError::Overflow,
            TaxError::InvalidRounding,
            TaxError::InvalidRuleText,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| c.starts_with("tax.")));
    }
}

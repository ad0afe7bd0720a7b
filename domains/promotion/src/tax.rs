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

/// Taxes an order shipping to `address`: `lines` are what the shopper pays for each line
/// (after discounts) and `shipping` what they pay for shipping, all in one currency. See the
/// module documentation for the rules.
pub fn tax(
    table: &TaxTable,
    address: &TaxAddress,
    lines: &[Money],
    shipping: Money,
) -> Result<TaxedOrder, TaxError> {
    let rule = table.rule_for(address)?;
    let currency: Currency = shipping.currency;
    if lines.iter().any(|l| l.currency != currency) {
        return Err(TaxError::CurrencyMismatch);
    }
    let inclusive = rule.prices_include_tax;
    let lines = lines
        .iter()
        .map(|amount| tax_line(*amount, rule.rate_bp, inclusive))
        .collect::<Result<Vec<_>, _>>()?;
    let shipping = tax_line(shipping, rule.shipping_rate_bp(), inclusive)?;
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
        rate: AppliedRate {
            country: rule.country,
            region: rule.region.clone(),
            rate_bp: rule.rate_bp,
            shipping_rate_bp: rule.shipping_rate_bp(),
            prices_include_tax: inclusive,
        },
        net: sum(|l| l.net)?,
        tax: sum(|l| l.tax)?,
        gross: sum(|l| l.gross)?,
        lines,
        shipping,
    })
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

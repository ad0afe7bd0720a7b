//! What the platform keeps of a vendor's sale: a pure function of the vendor's commission
//! rules, the sold line and the moment it was sold.

use agora_kernel::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::VendorError;

/// A whole, in basis points: 10 000 bp is 100 %.
pub const FULL_BP: u32 = 10_000;

/// One commission rule of a vendor, as `CommissionRuleSet` recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommissionRule {
    /// Set once, never changed: another rule gets another id.
    pub rule_id: String,
    /// The share of the line the platform keeps, in basis points (`0..=10_000`).
    pub percent_bp: u32,
    /// A fee per line on top of the percentage; absent is none.
    pub fixed: Option<Money>,
    /// The product category the rule is for (`books`); absent: every line of the vendor.
    pub category: Option<String>,
    /// From when the rule applies (sales at or after it).
    pub effective_from: DateTime<Utc>,
}

/// The rule that prices a line of `category` sold at `sold_at`, if any: among the rules in
/// force then (`effective_from <= sold_at`), one for the line's category beats a vendor-wide
/// one, and among rules of the same kind the latest `effective_from` wins. Of two rules with
/// the same kind and `effective_from`, the later in `rules` wins (a vendor keeps its rules in
/// the order they were set, see `Vendor::commission_rules`).
pub fn applicable_rule<'a>(
    rules: &'a [CommissionRule],
    category: Option<&str>,
    sold_at: DateTime<Utc>,
) -> Option<&'a CommissionRule> {
    let latest = |kind: Option<&str>| {
        rules
            .iter()
            .filter(|r| r.effective_from <= sold_at && r.category.as_deref() == kind)
            .fold(None, |best: Option<&CommissionRule>, rule| match best {
                Some(best) if best.effective_from > rule.effective_from => Some(best),
                _ => Some(rule),
            })
    };
    category
        .and_then(|category| latest(Some(category)))
        .or_else(|| latest(None))
}

/// The commission on a line of `category` worth `line_amount`, sold at `sold_at`, under
/// `rules` (see [`applicable_rule`]): the rule's percentage of the line, rounded half up to
/// the minor unit, plus its fixed fee; never more than the line and never negative. No rule
/// in force: zero.
///
/// Errors: a negative line is `vendor.invalid_amount`; a fixed fee in another currency than
/// the line is `vendor.currency_mismatch`.
pub fn commission(
    rules: &[CommissionRule],
    category: Option<&str>,
    line_amount: Money,
    sold_at: DateTime<Utc>,
) -> Result<Money, VendorError> {
    if line_amount.amount_minor < 0 {
        return Err(VendorError::InvalidAmount);
    }
    let Some(rule) = applicable_rule(rules, category, sold_at) else {
        return Ok(Money::zero(line_amount.currency));
    };
    let fixed = match rule.fixed {
        None => 0,
        Some(fee) if fee.currency != line_amount.currency => {
            return Err(VendorError::CurrencyMismatch)
        }
        Some(fee) => i128::from(fee.amount_minor),
    };
    // i128: a line of i64::MAX times 10 000 bp does not fit in i64.
    let line = i128::from(line_amount.amount_minor);
    let full = i128::from(FULL_BP);
    let percent = (line * i128::from(rule.percent_bp) + full / 2) / full;
    let total = (percent + fixed).clamp(0, line);
    let total = i64::try_from(total).map_err(|_| VendorError::InvalidAmount)?;
    Ok(Money::new(total, line_amount.currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;
    use chrono::TimeDelta;

    fn day(n: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000 + n)
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::EUR)
    }

    fn rule(id: &str, percent_bp: u32, category: Option<&str>, from: i64) -> CommissionRule {
        CommissionRule {
            rule_id: id.into(),
            percent_bp,
            fixed: None,
            category: category.map(str::to_string),
            effective_from: day(from),
        }
    }

    fn with_fee(mut rule: CommissionRule, fee: Money) -> CommissionRule {
        rule.fixed = Some(fee);
        rule
    }

    /// Given rules, when a line of `category` worth `amount` sells on `sold`, then this.
    fn check(
        rules: &[CommissionRule],
        category: Option<&str>,
        amount: Money,
        sold: i64,
        then: Result<Money, VendorError>,
    ) {
        assert_eq!(
            commission(rules, category, amount, day(sold)),
            then,
            "{category:?} {amount:?} on day {sold}"
        );
    }

    /// 10 % on everything from day 0, 15 % from day 10; books 5 % from day 5.
    fn rules() -> Vec<CommissionRule> {
        vec![
            rule("base", 1000, None, 0),
            rule("books", 500, Some("books"), 5),
            rule("base-2", 1500, None, 10),
        ]
    }

    #[test]
    fn without_a_rule_in_force_the_commission_is_zero() {
        check(&[], Some("books"), eur(10_000), 0, Ok(eur(0)));
        // Rules that start later do not apply yet.
        check(&rules(), None, eur(10_000), -1, Ok(eur(0)));
    }

    #[test]
    fn a_vendor_wide_rule_prices_every_line() {
        check(&rules(), None, eur(10_000), 0, Ok(eur(1000)));
        check(&rules(), Some("garden"), eur(10_000), 3, Ok(eur(1000)));
    }

    #[test]
    fn a_rule_for_the_lines_category_beats_a_vendor_wide_one() {
        check(&rules(), Some("books"), eur(10_000), 5, Ok(eur(500)));
        // Even a newer vendor-wide rule does not replace the category's.
        check(&rules(), Some("books"), eur(10_000), 12, Ok(eur(500)));
        // Before the category's rule starts, the vendor-wide one applies.
        check(&rules(), Some("books"), eur(10_000), 4, Ok(eur(1000)));
    }

    #[test]
    fn the_latest_rule_in_force_wins_and_never_reaches_back() {
        check(&rules(), None, eur(10_000), 9, Ok(eur(1000)));
        check(&rules(), None, eur(10_000), 10, Ok(eur(1500)));
        check(&rules(), None, eur(10_000), 99, Ok(eur(1500)));
        // The order of the rules does not matter, only their dates.
        let mut reversed = rules();
        reversed.reverse();
        check(&reversed, None, eur(10_000), 9, Ok(eur(1000)));
        check(&reversed, None, eur(10_000), 10, Ok(eur(1500)));
    }

    #[test]
    fn of_two_rules_from_the_same_moment_the_one_set_later_wins() {
        let rules = [rule("a", 1000, None, 0), rule("b", 2000, None, 0)];
        check(&rules, None, eur(10_000), 0, Ok(eur(2000)));
    }

    #[test]
    fn percentages_round_half_up_to_the_minor_unit() {
        // 12.5 % of 0.20 is 2.5 cents: 3. Of 0.12 it is 1.5: 2. Of 0.11, 1.375: 1.
        let rules = [rule("r", 1250, None, 0)];
        check(&rules, None, eur(20), 0, Ok(eur(3)));
        check(&rules, None, eur(12), 0, Ok(eur(2)));
        check(&rules, None, eur(11), 0, Ok(eur(1)));
        // One basis point of 50.00 is half a cent: up. Of 49.99, less than half: down.
        let one_bp = [rule("r", 1, None, 0)];
        check(&one_bp, None, eur(5000), 0, Ok(eur(1)));
        check(&one_bp, None, eur(4999), 0, Ok(eur(0)));
    }

    #[test]
    fn the_fixed_fee_comes_on_top_of_the_percentage() {
        let rules = [with_fee(rule("r", 1000, None, 0), eur(30))];
        check(&rules, None, eur(10_000), 0, Ok(eur(1030)));
        let fee_only = [with_fee(rule("r", 0, None, 0), eur(30))];
        check(&fee_only, None, eur(10_000), 0, Ok(eur(30)));
    }

    #[test]
    fn the_commission_never_exceeds_the_line() {
        let rules = [with_fee(rule("r", 1000, None, 0), eur(50))];
        check(&rules, None, eur(40), 0, Ok(eur(40)));
        check(&rules, None, eur(0), 0, Ok(eur(0)));
        let everything = [with_fee(rule("r", FULL_BP, None, 0), eur(1))];
        check(&everything, None, eur(999), 0, Ok(eur(999)));
        // The largest line does not overflow.
        let full = [rule("r", FULL_BP, None, 0)];
        check(&full, None, eur(i64::MAX), 0, Ok(eur(i64::MAX)));
    }

    #[test]
    fn the_commission_is_never_negative() {
        // Rules set through the vendor never have a negative fee; a rule from elsewhere
        // still cannot pay the vendor.
        let rules = [with_fee(rule("r", 0, None, 0), eur(-50))];
        check(&rules, None, eur(1000), 0, Ok(eur(0)));
    }

    #[test]
    fn a_negative_line_is_refused() {
        check(&rules(), None, eur(-1), 0, Err(VendorError::InvalidAmount));
    }

    #[test]
    fn a_fee_in_another_currency_than_the_line_is_refused() {
        let rules = [with_fee(rule("r", 1000, None, 0), eur(30))];
        check(
            &rules,
            None,
            Money::new(10_000, Currency::USD),
            0,
            Err(VendorError::CurrencyMismatch),
        );
        // A percentage alone works in any currency.
        check(
            &[rule("r", 1000, None, 0)],
            None,
            Money::new(10_000, Currency::USD),
            0,
            Ok(Money::new(1000, Currency::USD)),
        );
    }

    #[test]
    fn the_applicable_rule_is_named() {
        let rules = rules();
        let id = |category, sold| {
            applicable_rule(&rules, category, day(sold)).map(|r| r.rule_id.as_str())
        };
        assert_eq!(id(Some("books"), 7), Some("books"));
        assert_eq!(id(Some("books"), 2), Some("base"));
        assert_eq!(id(None, 11), Some("base-2"));
        assert_eq!(id(None, -3), None);
    }
}

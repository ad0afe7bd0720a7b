//! The vendor's ledger: a pure fold of money entries (each from one recorded event) into what
//! the platform holds for the vendor, what the vendor may be paid and what was paid out.

use std::collections::BTreeMap;

use agora_kernel::{Currency, Money};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::VendorError;

/// Longest ledger entry id (`order/<uuid>/<sequence>` and the like).
pub const MAX_ENTRY_ID_CHARS: usize = 200;

/// What moved the vendor's money. The sign of an entry's amount follows its kind: see
/// [`EntryKind::allows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A sold line: the vendor earns it (positive), once the return window is over.
    Sale,
    /// What the shopper paid for shipping the vendor's lines at the vendor's own rates
    /// (positive): the vendor ships them. Held with the sale.
    Shipping,
    /// What the platform keeps of a sale (negative), held with the sale.
    Commission,
    /// Money given back to a shopper (negative).
    Refund,
    /// A payment the shopper's bank took back (negative).
    Chargeback,
    /// A correction either way, a commission given back with a refund for instance.
    Adjustment,
    /// Money sent to the vendor's payout account (negative).
    Payout,
    /// A payout the provider could not make: the money is back (positive).
    PayoutFailed,
}

impl EntryKind {
    /// Whether an entry of this kind may carry `amount_minor`: sales and failed payouts are
    /// at least zero (and so is shipping), commission, refunds, chargebacks and payouts at most zero, adjustments
    /// either.
    pub fn allows(&self, amount_minor: i64) -> bool {
        match self {
            EntryKind::Sale | EntryKind::Shipping | EntryKind::PayoutFailed => amount_minor >= 0,
            EntryKind::Commission
            | EntryKind::Refund
            | EntryKind::Chargeback
            | EntryKind::Payout => amount_minor <= 0,
            EntryKind::Adjustment => true,
        }
    }

    /// Whether entries of this kind wait for their `available_at` (the end of the return
    /// window); every other kind counts against the available balance at once.
    pub fn is_held(&self) -> bool {
        matches!(
            self,
            EntryKind::Sale | EntryKind::Shipping | EntryKind::Commission
        )
    }
}

/// One movement of the vendor's money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// The event it comes from (`order/<id>/<sequence>`): a figure can always be traced back
    /// to its events, and the same event applied twice counts once.
    pub id: String,
    pub kind: EntryKind,
    /// Signed, as [`EntryKind::allows`] says.
    pub amount: Money,
    pub at: DateTime<Utc>,
    /// For a sale or its commission: when the money stops being pending (the end of the
    /// return window); absent, at once. Other kinds never carry one.
    #[serde(default)]
    pub available_at: Option<DateTime<Utc>>,
}

impl LedgerEntry {
    /// Whether the entry is still pending at `now`: a sale or commission whose
    /// `available_at` has not come yet.
    pub fn is_pending(&self, now: DateTime<Utc>) -> bool {
        self.kind.is_held() && self.available_at.is_some_and(|from| now < from)
    }
}

/// The vendor's money at one moment, in the ledger's currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    /// Sales less their commission still inside the return window.
    pub pending: Money,
    /// What may be paid out: sales and commission out of the window, less refunds,
    /// chargebacks and payouts, plus adjustments and failed payouts. It can be negative (a
    /// refund of a sale still pending, say): the vendor owes it.
    pub available: Money,
    /// Payouts less failed payouts.
    pub paid_out: Money,
    /// What the vendor earned that may be paid out, before any payout: `available` over
    /// every entry but payouts and failed payouts, which is `available + paid_out`. The
    /// vendor aggregate takes this figure ([`crate::VendorCommand::RequestPayout`]'s
    /// `earned_available`) and subtracts the payouts it allowed itself, so that a payout
    /// requested but not yet in the ledger still counts.
    pub earned_available: Money,
}

/// The entries of one vendor in one currency, each id once, in the order applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    currency: Currency,
    entries: Vec<LedgerEntry>,
    /// Entry id to its index in `entries`, so that a repeated entry is found at once.
    ids: BTreeMap<String, usize>,
    /// The sum of every amount's magnitude. Kept within `i64`, so that no balance, which is a
    /// partial signed sum of the same amounts, can overflow.
    gross: i64,
}

fn valid_id(id: &str) -> bool {
    (1..=MAX_ENTRY_ID_CHARS).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

impl Ledger {
    /// An empty ledger in `currency` (the shop's).
    pub fn new(currency: Currency) -> Ledger {
        Ledger {
            currency,
            entries: Vec::new(),
            ids: BTreeMap::new(),
            gross: 0,
        }
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Every entry, in the order applied: what each figure comes from.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// The entries still pending at `now`: what [`Balances::pending`] adds up.
    pub fn pending_entries(&self, now: DateTime<Utc>) -> impl Iterator<Item = &LedgerEntry> {
        self.entries.iter().filter(move |e| e.is_pending(now))
    }

    /// Records `entry`; `Ok(true)` if it was new, `Ok(false)` if the same entry was already
    /// recorded (a replayed event counts once).
    ///
    /// Errors: `vendor.invalid_entry` (a malformed id, an amount of the wrong sign for its
    /// kind, an `available_at` on a kind that is never held), `vendor.currency_mismatch` (not
    /// the ledger's currency), `vendor.entry_conflict` (the id was recorded with other
    /// content), `vendor.invalid_amount` (the amounts would no longer add up within `i64`).
    pub fn apply(&mut self, entry: LedgerEntry) -> Result<bool, VendorError> {
        if !valid_id(&entry.id)
            || !entry.kind.allows(entry.amount.amount_minor)
            || (entry.available_at.is_some() && !entry.kind.is_held())
        {
            return Err(VendorError::InvalidEntry);
        }
        if entry.amount.currency != self.currency {
            return Err(VendorError::CurrencyMismatch);
        }
        if let Some(&index) = self.ids.get(&entry.id) {
            return if self.entries[index] == entry {
                Ok(false)
            } else {
                Err(VendorError::EntryConflict)
            };
        }
        self.gross = entry
            .amount
            .amount_minor
            .checked_abs()
            .and_then(|magnitude| self.gross.checked_add(magnitude))
            .ok_or(VendorError::InvalidAmount)?;
        self.ids.insert(entry.id.clone(), self.entries.len());
        self.entries.push(entry);
        Ok(true)
    }

    /// The balances at `now`: see [`Balances`].
    pub fn balances(&self, now: DateTime<Utc>) -> Balances {
        // `gross` bounds every partial sum, so plain additions cannot overflow.
        let (mut pending, mut available, mut paid_out) = (0i64, 0i64, 0i64);
        for entry in &self.entries {
            let amount = entry.amount.amount_minor;
            if entry.is_pending(now) {
                pending += amount;
            } else {
                available += amount;
            }
            if matches!(entry.kind, EntryKind::Payout | EntryKind::PayoutFailed) {
                // Payouts are negative and failed payouts positive: both subtract.
                paid_out -= amount;
            }
        }
        Balances {
            pending: Money::new(pending, self.currency),
            available: Money::new(available, self.currency),
            paid_out: Money::new(paid_out, self.currency),
            // The sum of the entries that are neither pending nor payouts: bounded by
            // `gross` like the others.
            earned_available: Money::new(available + paid_out, self.currency),
        }
    }

    /// The available balance at `now` over every entry but payouts and failed payouts: what
    /// the vendor earned and may be paid, before any payout ([`Balances::earned_available`]).
    /// The caller of [`crate::VendorCommand::RequestPayout`] passes it as `earned_available`.
    pub fn earned_available(&self, now: DateTime<Utc>) -> Money {
        let earned = self
            .entries
            .iter()
            .filter(|e| !matches!(e.kind, EntryKind::Payout | EntryKind::PayoutFailed))
            .filter(|e| !e.is_pending(now))
            .map(|e| e.amount.amount_minor)
            .sum();
        Money::new(earned, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn day(n: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000 + n)
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::EUR)
    }

    fn entry(id: &str, kind: EntryKind, amount: i64, at: i64) -> LedgerEntry {
        LedgerEntry {
            id: id.into(),
            kind,
            amount: eur(amount),
            at: day(at),
            available_at: None,
        }
    }

    fn held(id: &str, kind: EntryKind, amount: i64, at: i64, until: i64) -> LedgerEntry {
        LedgerEntry {
            available_at: Some(day(until)),
            ..entry(id, kind, amount, at)
        }
    }

    fn balances(pending: i64, available: i64, paid_out: i64, earned_available: i64) -> Balances {
        Balances {
            pending: eur(pending),
            available: eur(available),
            paid_out: eur(paid_out),
            earned_available: eur(earned_available),
        }
    }

    /// The balances of `ledger` at `now`, which [`Ledger::earned_available`] agrees with.
    fn at(ledger: &Ledger, now: DateTime<Utc>) -> Balances {
        let balances = ledger.balances(now);
        assert_eq!(ledger.earned_available(now), balances.earned_available);
        balances
    }

    fn ledger(entries: impl IntoIterator<Item = LedgerEntry>) -> Ledger {
        let mut ledger = Ledger::new(Currency::EUR);
        for entry in entries {
            ledger.apply(entry).expect("a valid entry");
        }
        ledger
    }

    /// Two orders sold with a 14-day return window and 12 % commission; the second is
    /// refunded in full on day 2, with its commission given back.
    fn sales() -> Vec<LedgerEntry> {
        vec![
            held("order/1/3", EntryKind::Sale, 10_000, 0, 14),
            held("order/1/4", EntryKind::Commission, -1_200, 0, 14),
            held("order/2/3", EntryKind::Sale, 5_000, 1, 15),
            held("order/2/4", EntryKind::Commission, -600, 1, 15),
            entry("order/2/9", EntryKind::Refund, -5_000, 2),
            entry("order/2/10", EntryKind::Adjustment, 600, 2),
        ]
    }

    #[test]
    fn an_empty_ledger_holds_nothing() {
        assert_eq!(
            at(&Ledger::new(Currency::EUR), day(0)),
            balances(0, 0, 0, 0)
        );
    }

    #[test]
    fn a_worked_example_from_sale_to_payout() {
        let mut ledger = ledger(sales());
        // Inside the return window: both sales less their commission are pending; the
        // refund and the commission given back count at once, so the vendor owes 44.00 for
        // now.
        assert_eq!(at(&ledger, day(5)), balances(13_200, -4_400, 0, -4_400));
        let pending: Vec<&str> = ledger
            .pending_entries(day(5))
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(
            pending,
            ["order/1/3", "order/1/4", "order/2/3", "order/2/4"]
        );
        // The first window closes on day 14, the second on day 15.
        assert_eq!(at(&ledger, day(14)), balances(4_400, 4_400, 0, 4_400));
        assert_eq!(at(&ledger, day(20)), balances(0, 8_800, 0, 8_800));
        // The payout takes everything available; it fails, and is made again.
        ledger
            .apply(entry("payout/1/1", EntryKind::Payout, -8_800, 21))
            .expect("a payout");
        assert_eq!(at(&ledger, day(21)), balances(0, 0, 8_800, 8_800));
        ledger
            .apply(entry("payout/1/2", EntryKind::PayoutFailed, 8_800, 22))
            .expect("a failed payout");
        assert_eq!(at(&ledger, day(22)), balances(0, 8_800, 0, 8_800));
        ledger
            .apply(entry("payout/2/1", EntryKind::Payout, -8_800, 23))
            .expect("a payout");
        assert_eq!(at(&ledger, day(23)), balances(0, 0, 8_800, 8_800));
        // Every figure traces back to its events.
        let ids: Vec<&str> = ledger.entries().iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "order/1/3",
                "order/1/4",
                "order/2/3",
                "order/2/4",
                "order/2/9",
                "order/2/10",
                "payout/1/1",
                "payout/1/2",
                "payout/2/1"
            ]
        );
    }

    #[test]
    fn earned_available_counts_every_entry_out_of_its_window_but_payouts() {
        let mut ledger = ledger(sales());
        for extra in [
            held("order/3/3", EntryKind::Sale, 2_000, 3, 17),
            held("order/3/4", EntryKind::Commission, -240, 3, 17),
            entry("order/1/7", EntryKind::Chargeback, -500, 4),
            entry("fix/1", EntryKind::Adjustment, -100, 4),
            entry("payout/1/1", EntryKind::Payout, -3_000, 16),
            entry("payout/1/2", EntryKind::PayoutFailed, 3_000, 17),
            entry("payout/2/1", EntryKind::Payout, -2_000, 18),
        ] {
            ledger.apply(extra).expect("a valid entry");
        }
        // Day 16: both first windows are over (8 800), the third sale is still pending; the
        // chargeback and the adjustment count at once.
        assert_eq!(ledger.earned_available(day(16)), eur(8_200));
        // Payouts, failed or not, change the available balance, never what was earned.
        assert_eq!(at(&ledger, day(16)).available, eur(6_200));
        assert_eq!(
            at(&ledger, day(20)),
            balances(0, 7_960, 2_000, 9_960),
            "the third window is over too"
        );
        assert_eq!(
            Ledger::new(Currency::USD).earned_available(day(0)),
            Money::zero(Currency::USD)
        );
    }

    #[test]
    fn an_entry_applied_twice_counts_once() {
        let mut ledger = ledger(sales());
        let before = at(&ledger, day(20));
        for entry in sales() {
            assert_eq!(ledger.apply(entry), Ok(false));
        }
        assert_eq!(at(&ledger, day(20)), before);
        assert_eq!(ledger.entries().len(), sales().len());
    }

    #[test]
    fn an_entry_id_with_other_content_is_a_conflict() {
        let mut ledger = ledger(sales());
        assert_eq!(
            ledger.apply(entry("order/2/9", EntryKind::Refund, -4_000, 2)),
            Err(VendorError::EntryConflict)
        );
        assert_eq!(ledger.entries().len(), sales().len());
    }

    #[test]
    fn a_sale_without_a_window_is_available_at_once() {
        let ledger = ledger([
            entry("order/1/3", EntryKind::Sale, 1_000, 0),
            entry("order/1/4", EntryKind::Commission, -100, 0),
        ]);
        assert_eq!(at(&ledger, day(0)), balances(0, 900, 0, 900));
    }

    #[test]
    fn a_chargeback_counts_against_available_at_once() {
        let ledger = ledger([
            held("order/1/3", EntryKind::Sale, 1_000, 0, 14),
            entry("order/1/7", EntryKind::Chargeback, -1_000, 3),
        ]);
        assert_eq!(at(&ledger, day(3)), balances(1_000, -1_000, 0, -1_000));
        assert_eq!(at(&ledger, day(14)), balances(0, 0, 0, 0));
    }

    #[test]
    fn every_kind_has_its_sign() {
        let refused = [
            entry("s", EntryKind::Sale, -1, 0),
            entry("c", EntryKind::Commission, 1, 0),
            entry("r", EntryKind::Refund, 1, 0),
            entry("b", EntryKind::Chargeback, 1, 0),
            entry("p", EntryKind::Payout, 1, 0),
            entry("f", EntryKind::PayoutFailed, -1, 0),
        ];
        for entry in refused {
            assert_eq!(
                Ledger::new(Currency::EUR).apply(entry.clone()),
                Err(VendorError::InvalidEntry),
                "{entry:?}"
            );
        }
        for amount in [-5, 0, 5] {
            assert_eq!(
                Ledger::new(Currency::EUR).apply(entry("a", EntryKind::Adjustment, amount, 0)),
                Ok(true)
            );
        }
    }

    #[test]
    fn only_sales_and_commission_wait_for_a_date() {
        for kind in [
            EntryKind::Refund,
            EntryKind::Chargeback,
            EntryKind::Adjustment,
            EntryKind::Payout,
            EntryKind::PayoutFailed,
        ] {
            assert_eq!(
                Ledger::new(Currency::EUR).apply(held("x", kind, 0, 0, 14)),
                Err(VendorError::InvalidEntry),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn an_entry_names_its_event() {
        for id in [
            String::new(),
            "order 1".into(),
            "x".repeat(MAX_ENTRY_ID_CHARS + 1),
        ] {
            assert_eq!(
                Ledger::new(Currency::EUR).apply(entry(&id, EntryKind::Sale, 1, 0)),
                Err(VendorError::InvalidEntry)
            );
        }
        let longest = "x".repeat(MAX_ENTRY_ID_CHARS);
        assert_eq!(
            Ledger::new(Currency::EUR).apply(entry(&longest, EntryKind::Sale, 1, 0)),
            Ok(true)
        );
    }

    #[test]
    fn a_ledger_is_in_one_currency() {
        let mut ledger = Ledger::new(Currency::EUR);
        let mut dollars = entry("order/1/3", EntryKind::Sale, 1_000, 0);
        dollars.amount = Money::new(1_000, Currency::USD);
        assert_eq!(ledger.apply(dollars), Err(VendorError::CurrencyMismatch));
        assert_eq!(ledger.currency(), Currency::EUR);
    }

    #[test]
    fn amounts_that_could_overflow_a_balance_are_refused() {
        let mut ledger = ledger([entry("a", EntryKind::Sale, i64::MAX - 1, 0)]);
        assert_eq!(
            ledger.apply(entry("b", EntryKind::Refund, -2, 0)),
            Err(VendorError::InvalidAmount)
        );
        assert_eq!(
            Ledger::new(Currency::EUR).apply(entry("m", EntryKind::Adjustment, i64::MIN, 0)),
            Err(VendorError::InvalidAmount)
        );
        assert_eq!(ledger.apply(entry("c", EntryKind::Refund, -1, 0)), Ok(true));
        assert_eq!(
            at(&ledger, day(0)),
            balances(0, i64::MAX - 2, 0, i64::MAX - 2)
        );
    }

    #[test]
    fn kinds_and_entries_have_a_wire_form() {
        let entry = held("order/1/3", EntryKind::PayoutFailed, 5, 0, 1);
        let value = serde_json::to_value(&entry).expect("serializes");
        assert_eq!(value["kind"], "payout_failed");
        let back: LedgerEntry = serde_json::from_value(value).expect("round-trips");
        assert_eq!(back, entry);
    }
}

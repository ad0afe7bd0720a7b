use std::collections::{BTreeMap, BTreeSet, VecDeque};

use agora_kernel::{Decider, Principal, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AdjustReason, InventoryError, StockCommand, StockEvent};

/// Largest quantity in one command (receipt, adjustment, reservation).
pub const MAX_QUANTITY: i64 = 1_000_000;
/// Largest low-stock threshold.
pub const MAX_THRESHOLD: i64 = 1_000_000;
/// The low-stock threshold of a SKU nobody has set one for.
pub const DEFAULT_LOW_STOCK_THRESHOLD: i64 = 5;
/// Most units on hand for one SKU. Far beyond any warehouse, and it keeps every sum in `i64`.
pub const MAX_ON_HAND: i64 = 1_000_000_000_000;
/// Longest receipt reason or adjustment note, in characters.
pub const MAX_NOTE_CHARS: usize = 200;
/// Longest reservation id, in characters.
pub const MAX_RESERVATION_ID_CHARS: usize = 64;
/// Longest order reference, in characters.
pub const MAX_ORDER_REF_CHARS: usize = 64;
/// How many committed reservation ids a stock item remembers, so that a retried commit is a
/// no-op. Retries come within seconds; the bound keeps a best-seller's state small.
pub const REMEMBERED_COMMITS: usize = 1_000;

/// Units held for an order until it is paid (committed), released or expired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub quantity: i64,
    pub expires_at: DateTime<Utc>,
    /// The order (or checkout) the units are held for; for people and logs, not for logic.
    pub order_ref: String,
}

/// A reservation that became a sale, remembered so that a repeated `Commit` (or a late
/// `Reserve` retry of the same id) changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedReservation {
    pub reservation_id: String,
    pub quantity: i64,
    /// Its units came back on hand (`ReservationReturned`): returning it again changes nothing.
    #[serde(default)]
    pub returned: bool,
}

/// The stock of one SKU, folded from its events. Every SKU implicitly exists with nothing on
/// hand: the first `Receive` needs no creation step.
///
/// Invariants (enforced by [`StockItem::decide`]): `0 <= reserved() <= on_hand <= MAX_ON_HAND`,
/// so `available() >= 0`; every reservation holds `1..=MAX_QUANTITY` units. The running sum of
/// reserved units and the expiry index always describe `reservations` exactly (kept by
/// [`StockItem::evolve`], so change the state only through it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredStockItem")]
pub struct StockItem {
    /// Units physically in the warehouse, reserved or not.
    pub on_hand: i64,
    /// Open reservations by reservation id.
    pub reservations: BTreeMap<String, Reservation>,
    /// `LowStock` fires when availability falls to this or below.
    pub low_stock_threshold: i64,
    /// The most recent commits, oldest first, at most [`REMEMBERED_COMMITS`].
    pub recent_commits: VecDeque<CommittedReservation>,
    /// Units held by `reservations`, kept up to date by `evolve` so that availability costs
    /// O(1) on a SKU with thousands of open reservations (a flash sale). Not serialized: a
    /// stored state (read models keep one) is summed again when it is read back, so it can
    /// never disagree with the map.
    #[serde(skip)]
    reserved: i64,
    /// The open reservations by expiry, then id, so that finding the due ones (on every
    /// `Reserve`) costs what is due rather than a scan of every open reservation. Derived like
    /// `reserved`: kept by `evolve`, not serialized, rebuilt when a stored state is read back.
    #[serde(skip)]
    expiring: BTreeSet<(DateTime<Utc>, String)>,
}

impl Default for StockItem {
    fn default() -> Self {
        StockItem {
            on_hand: 0,
            reservations: BTreeMap::new(),
            low_stock_threshold: DEFAULT_LOW_STOCK_THRESHOLD,
            recent_commits: VecDeque::new(),
            reserved: 0,
            expiring: BTreeSet::new(),
        }
    }
}

/// The serialized form of [`StockItem`]: every field but the derived ones (the running
/// `reserved` sum and the expiry index), which [`From`] rebuilds from the reservations. Missing fields take their defaults, so `{}` is an
/// empty SKU with the default threshold.
#[derive(Deserialize)]
#[serde(default)]
struct StoredStockItem {
    on_hand: i64,
    reservations: BTreeMap<String, Reservation>,
    low_stock_threshold: i64,
    recent_commits: VecDeque<CommittedReservation>,
}

impl Default for StoredStockItem {
    fn default() -> Self {
        StoredStockItem {
            on_hand: 0,
            reservations: BTreeMap::new(),
            low_stock_threshold: DEFAULT_LOW_STOCK_THRESHOLD,
            recent_commits: VecDeque::new(),
        }
    }
}

impl From<StoredStockItem> for StockItem {
    fn from(stored: StoredStockItem) -> Self {
        let reserved = stored
            .reservations
            .values()
            .fold(0i64, |sum, r| sum.saturating_add(r.quantity));
        let expiring = stored
            .reservations
            .iter()
            .map(|(id, r)| (r.expires_at, id.clone()))
            .collect();
        StockItem {
            on_hand: stored.on_hand,
            reservations: stored.reservations,
            low_stock_threshold: stored.low_stock_threshold,
            recent_commits: stored.recent_commits,
            reserved,
            expiring,
        }
    }
}

/// The numbers availability depends on, without the reservations themselves: enough to tell
/// what a command's events do to availability without cloning the state.
#[derive(Clone, Copy, Debug)]
struct Levels {
    on_hand: i64,
    reserved: i64,
    threshold: i64,
}

impl Levels {
    fn available(self) -> i64 {
        self.on_hand.saturating_sub(self.reserved)
    }

    /// `StockItem::evolve` on the numbers alone. Exact for the events `decide` produces: each
    /// one that opens or closes a reservation carries that reservation's quantity.
    fn after(mut self, events: &[StockEvent]) -> Levels {
        for event in events {
            match event {
                StockEvent::StockReceived { on_hand_after, .. }
                | StockEvent::StockAdjusted { on_hand_after, .. }
                | StockEvent::ReservationReturned { on_hand_after, .. } => {
                    self.on_hand = *on_hand_after
                }
                StockEvent::ThresholdSet { threshold } => self.threshold = *threshold,
                StockEvent::ReservationExtended { .. } => {}
                StockEvent::StockReserved { quantity, .. } => {
                    self.reserved = self.reserved.saturating_add(*quantity);
                }
                StockEvent::ReservationReleased { quantity, .. }
                | StockEvent::ReservationExpired { quantity, .. } => {
                    self.reserved = self.reserved.saturating_sub(*quantity);
                }
                StockEvent::ReservationCommitted {
                    quantity,
                    on_hand_after,
                    ..
                } => {
                    self.reserved = self.reserved.saturating_sub(*quantity);
                    self.on_hand = *on_hand_after;
                }
                StockEvent::LowStock { .. }
                | StockEvent::OutOfStock {}
                | StockEvent::BackInStock { .. } => {}
            }
        }
        self
    }

    /// Availability with the threshold in force, as [`crossing`] compares them.
    fn signal_input(self) -> (i64, i64) {
        (self.available(), self.threshold)
    }
}

/// One open reservation as the back office sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationView {
    pub id: String,
    pub quantity: i64,
    pub expires_at: DateTime<Utc>,
    pub order_ref: String,
}

/// What the back office sees of a SKU's stock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockView {
    pub sku: String,
    pub version: u64,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub low_stock_threshold: i64,
    /// How many reservations are open, in every view.
    pub open_reservations: u64,
    /// The open reservations, ordered by reservation id. Only the full view (a read) lists
    /// them; a command's reply leaves this empty, since a hot SKU can hold thousands.
    pub reservations: Vec<ReservationView>,
}

fn check_quantity(quantity: i64) -> Result<(), InventoryError> {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        Ok(())
    } else {
        Err(InventoryError::QuantityOutOfRange)
    }
}

fn longer_than(text: Option<&str>, max: usize) -> bool {
    text.is_some_and(|t| t.chars().count() > max)
}

/// Back-office roles that may receive and adjust stock and set thresholds (auditors only read).
pub const STOCK_KEEPERS: &[&str] = &["admin", "staff", "vendor"];

/// Who may send `command`: moving stock is back-office work; reservations belong to the
/// checkout saga and the expiry job (the platform), with admins as the manual override.
fn authorize(command: &StockCommand, by: &Principal) -> Result<(), InventoryError> {
    let allowed = match command {
        // Vendors move only their own products' stock: the edge checks whose a SKU is (the
        // catalog knows; this stream does not).
        StockCommand::Receive { .. }
        | StockCommand::Adjust { .. }
        | StockCommand::SetThreshold { .. } => match by {
            Principal::System { .. } => true,
            Principal::Staff { role, .. } => STOCK_KEEPERS.contains(&role.as_str()),
            // A vendor's user keeps stock too, of its own SKUs only: the stream knows no vendor,
            // so the inventory service checks the SKU's product first (`StockService` in
            // agora-workflows), and the edge before it.
            Principal::Vendor { .. } => true,
            Principal::Guest { .. } | Principal::Customer { .. } => false,
        },
        StockCommand::Reserve { .. }
        | StockCommand::Hold { .. }
        | StockCommand::Release { .. }
        | StockCommand::Commit { .. }
        | StockCommand::ExpireDue { .. }
        | StockCommand::ReturnReservation { .. } => match by {
            Principal::System { .. } => true,
            Principal::Staff { role, .. } => role == "admin",
            Principal::Vendor { .. } | Principal::Guest { .. } | Principal::Customer { .. } => {
                false
            }
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(InventoryError::Forbidden)
    }
}

/// The signal, if any, for availability moving from `before` to `after` (each with the
/// threshold in force at that moment). At most one can apply: `OutOfStock` needs `after == 0`,
/// `BackInStock` needs `before == 0`, and `LowStock` needs both to be positive.
fn crossing(before: (i64, i64), after: (i64, i64)) -> Option<StockEvent> {
    let ((available_before, threshold_before), (available, threshold)) = (before, after);
    if available_before > 0 && available == 0 {
        Some(StockEvent::OutOfStock {})
    } else if available_before == 0 && available > 0 {
        Some(StockEvent::BackInStock { available })
    } else if available_before > threshold_before && available <= threshold && available > 0 {
        Some(StockEvent::LowStock {
            available,
            threshold,
        })
    } else {
        None
    }
}

impl StockItem {
    /// Units held by open reservations (a running sum: O(1)).
    pub fn reserved(&self) -> i64 {
        self.reserved
    }

    /// Units that can still be reserved: on hand minus reserved.
    pub fn available(&self) -> i64 {
        self.levels().available()
    }

    fn levels(&self) -> Levels {
        Levels {
            on_hand: self.on_hand,
            reserved: self.reserved,
            threshold: self.low_stock_threshold,
        }
    }

    /// The view without the list of reservations.
    fn levels_view(&self, id: &str, version: u64) -> StockView {
        StockView {
            sku: id.to_string(),
            version,
            on_hand: self.on_hand,
            reserved: self.reserved(),
            available: self.available(),
            low_stock_threshold: self.low_stock_threshold,
            open_reservations: self.reservations.len() as u64,
            reservations: Vec::new(),
        }
    }

    /// Closes a reservation, if open, and takes it out of the running sum and the expiry index.
    fn unreserve(&mut self, reservation_id: &str) {
        if let Some((id, closed)) = self.reservations.remove_entry(reservation_id) {
            self.reserved = self.reserved.saturating_sub(closed.quantity);
            self.expiring.remove(&(closed.expires_at, id));
        }
    }

    fn committed(&self, reservation_id: &str) -> Option<&CommittedReservation> {
        self.recent_commits
            .iter()
            .find(|c| c.reservation_id == reservation_id)
    }

    /// One `ReservationExpired` per reservation due at `now` (`expires_at <= now`), ordered by
    /// reservation id.
    fn expiries(&self, now: DateTime<Utc>) -> Vec<StockEvent> {
        let mut due: Vec<&String> = self
            .expiring
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .map(|(_, id)| id)
            .collect();
        due.sort_unstable();
        due.into_iter()
            .filter_map(|id| {
                self.reservations
                    .get(id)
                    .map(|r| StockEvent::ReservationExpired {
                        reservation_id: id.clone(),
                        quantity: r.quantity,
                    })
            })
            .collect()
    }

    /// The movements `command` causes, before any signal.
    fn movements(&self, command: &StockCommand) -> Result<Vec<StockEvent>, InventoryError> {
        match command {
            StockCommand::Receive {
                quantity,
                reason,
                now,
            } => {
                check_quantity(*quantity)?;
                if longer_than(reason.as_deref(), MAX_NOTE_CHARS) {
                    return Err(InventoryError::ReasonTooLong);
                }
                let on_hand_after = self
                    .on_hand
                    .checked_add(*quantity)
                    .filter(|after| *after <= MAX_ON_HAND)
                    .ok_or(InventoryError::OnHandLimit)?;
                Ok(vec![StockEvent::StockReceived {
                    quantity: *quantity,
                    reason: reason.clone(),
                    on_hand_after,
                    received_at: *now,
                }])
            }
            StockCommand::Adjust {
                delta,
                reason,
                note,
                now,
            } => {
                if *delta == 0 || delta.unsigned_abs() > MAX_QUANTITY.unsigned_abs() {
                    return Err(InventoryError::InvalidDelta);
                }
                let contradicts = match reason {
                    AdjustReason::Damaged | AdjustReason::Lost => *delta > 0,
                    AdjustReason::Found => *delta < 0,
                    AdjustReason::Recount | AdjustReason::Correction => false,
                };
                if contradicts {
                    return Err(InventoryError::DeltaContradictsReason);
                }
                if longer_than(note.as_deref(), MAX_NOTE_CHARS) {
                    return Err(InventoryError::NoteTooLong);
                }
                let on_hand_after = self
                    .on_hand
                    .checked_add(*delta)
                    .ok_or(InventoryError::OnHandLimit)?;
                // Reserved units are promised to orders: a correction may not take them away.
                // Since reserved >= 0, this also keeps on hand from going negative.
                if on_hand_after < self.reserved() {
                    return Err(InventoryError::BelowReserved);
                }
                if on_hand_after > MAX_ON_HAND {
                    return Err(InventoryError::OnHandLimit);
                }
                Ok(vec![StockEvent::StockAdjusted {
                    delta: *delta,
                    reason: *reason,
                    note: note.clone(),
                    on_hand_after,
                    adjusted_at: *now,
                }])
            }
            StockCommand::SetThreshold { threshold } => {
                if !(0..=MAX_THRESHOLD).contains(threshold) {
                    return Err(InventoryError::InvalidThreshold);
                }
                if *threshold == self.low_stock_threshold {
                    return Ok(vec![]);
                }
                Ok(vec![StockEvent::ThresholdSet {
                    threshold: *threshold,
                }])
            }
            StockCommand::Reserve {
                reservation_id,
                quantity,
                expires_at,
                order_ref,
                now,
            }
            | StockCommand::Hold {
                reservation_id,
                quantity,
                expires_at,
                order_ref,
                now,
            } => {
                let extend = matches!(command, StockCommand::Hold { .. });
                if reservation_id.trim().is_empty()
                    || reservation_id.chars().count() > MAX_RESERVATION_ID_CHARS
                {
                    return Err(InventoryError::InvalidReservationId);
                }
                check_quantity(*quantity)?;
                if order_ref.chars().count() > MAX_ORDER_REF_CHARS {
                    return Err(InventoryError::InvalidOrderRef);
                }
                if expires_at <= now {
                    return Err(InventoryError::InvalidExpiry);
                }
                let mut events = self.expiries(*now);
                // The same reservation again (a retry) changes nothing; the same id for another
                // quantity is a bug in the caller, and guessing which one it meant would be worse.
                // A reservation expiring now no longer holds its id.
                let open = self
                    .reservations
                    .get(reservation_id)
                    .filter(|r| r.expires_at > *now);
                if extend
                    && open.is_some_and(|r| r.quantity == *quantity && r.expires_at < *expires_at)
                {
                    // Holding the units longer (an authorized checkout): the same units, later.
                    events.push(StockEvent::ReservationExtended {
                        reservation_id: reservation_id.clone(),
                        expires_at: *expires_at,
                    });
                    return Ok(events);
                }
                let held = open
                    .map(|r| r.quantity)
                    .or_else(|| self.committed(reservation_id).map(|c| c.quantity));
                match held {
                    Some(held) if held == *quantity => return Ok(events),
                    Some(_) => return Err(InventoryError::ReservationConflict),
                    None => {}
                }
                // Failing here records nothing, expiries included: they are not lost, only left
                // for the next `ExpireDue` (or the next successful `Reserve`).
                if self.levels().after(&events).available() < *quantity {
                    return Err(InventoryError::InsufficientStock);
                }
                events.push(StockEvent::StockReserved {
                    reservation_id: reservation_id.clone(),
                    quantity: *quantity,
                    expires_at: *expires_at,
                    order_ref: order_ref.clone(),
                });
                Ok(events)
            }
            StockCommand::Release { reservation_id } => Ok(self
                .reservations
                .get(reservation_id)
                .map(|r| StockEvent::ReservationReleased {
                    reservation_id: reservation_id.clone(),
                    quantity: r.quantity,
                })
                .into_iter()
                .collect()),
            StockCommand::Commit { reservation_id } => {
                match self.reservations.get(reservation_id) {
                    Some(r) => Ok(vec![StockEvent::ReservationCommitted {
                        reservation_id: reservation_id.clone(),
                        quantity: r.quantity,
                        // The reservation is part of reserved, so this stays >= reserved - q >= 0.
                        on_hand_after: self.on_hand.saturating_sub(r.quantity),
                    }]),
                    None if self.committed(reservation_id).is_some() => Ok(vec![]),
                    None => Err(InventoryError::UnknownReservation),
                }
            }
            StockCommand::ExpireDue { now } => Ok(self.expiries(*now)),
            StockCommand::ReturnReservation { reservation_id } => {
                if let Some(r) = self.reservations.get(reservation_id) {
                    return Ok(vec![StockEvent::ReservationReleased {
                        reservation_id: reservation_id.clone(),
                        quantity: r.quantity,
                    }]);
                }
                match self.committed(reservation_id) {
                    Some(c) if c.returned => Ok(vec![]),
                    Some(c) => {
                        let on_hand_after = self
                            .on_hand
                            .checked_add(c.quantity)
                            .filter(|after| *after <= MAX_ON_HAND)
                            .ok_or(InventoryError::OnHandLimit)?;
                        Ok(vec![StockEvent::ReservationReturned {
                            reservation_id: reservation_id.clone(),
                            quantity: c.quantity,
                            on_hand_after,
                        }])
                    }
                    None => Err(InventoryError::UnknownReservation),
                }
            }
        }
    }
}

impl Decider for StockItem {
    const TYPE: &'static str = "stock";
    type Command = StockCommand;
    type Event = StockEvent;
    type Error = InventoryError;
    type View = StockView;

    /// The movements of `command`, followed by at most one signal comparing availability (and
    /// the threshold) before and after all of them.
    fn decide(
        &self,
        id: &str,
        command: &StockCommand,
        by: &Principal,
    ) -> Result<Vec<StockEvent>, InventoryError> {
        authorize(command, by)?;
        if Sku::parse(id).is_err() {
            return Err(InventoryError::InvalidSku);
        }
        let mut events = self.movements(command)?;
        if events.is_empty() {
            return Ok(events);
        }
        let before = self.levels();
        let after = before.after(&events);
        if let Some(signal) = crossing(before.signal_input(), after.signal_input()) {
            events.push(signal);
        }
        Ok(events)
    }

    fn evolve(&mut self, event: &StockEvent) {
        match event {
            StockEvent::StockReceived { on_hand_after, .. }
            | StockEvent::StockAdjusted { on_hand_after, .. } => self.on_hand = *on_hand_after,
            StockEvent::ThresholdSet { threshold } => self.low_stock_threshold = *threshold,
            StockEvent::StockReserved {
                reservation_id,
                quantity,
                expires_at,
                order_ref,
            } => {
                // `decide` never reserves an open id again; replaying such a stream still
                // keeps the derived fields exact.
                self.unreserve(reservation_id);
                self.reserved = self.reserved.saturating_add(*quantity);
                self.expiring.insert((*expires_at, reservation_id.clone()));
                self.reservations.insert(
                    reservation_id.clone(),
                    Reservation {
                        quantity: *quantity,
                        expires_at: *expires_at,
                        order_ref: order_ref.clone(),
                    },
                );
            }
            StockEvent::ReservationReleased { reservation_id, .. }
            | StockEvent::ReservationExpired { reservation_id, .. } => {
                self.unreserve(reservation_id);
            }
            StockEvent::ReservationExtended {
                reservation_id,
                expires_at,
            } => {
                if let Some(r) = self.reservations.get_mut(reservation_id) {
                    self.expiring
                        .remove(&(r.expires_at, reservation_id.clone()));
                    r.expires_at = *expires_at;
                    self.expiring.insert((*expires_at, reservation_id.clone()));
                }
            }
            StockEvent::ReservationReturned {
                reservation_id,
                on_hand_after,
                ..
            } => {
                self.on_hand = *on_hand_after;
                if let Some(c) = self
                    .recent_commits
                    .iter_mut()
                    .find(|c| c.reservation_id == *reservation_id)
                {
                    c.returned = true;
                }
            }
            StockEvent::ReservationCommitted {
                reservation_id,
                quantity,
                on_hand_after,
            } => {
                self.unreserve(reservation_id);
                self.on_hand = *on_hand_after;
                self.recent_commits.push_back(CommittedReservation {
                    reservation_id: reservation_id.clone(),
                    quantity: *quantity,
                    returned: false,
                });
                while self.recent_commits.len() > REMEMBERED_COMMITS {
                    self.recent_commits.pop_front();
                }
            }
            // Signals describe a change; they are not one.
            StockEvent::LowStock { .. }
            | StockEvent::OutOfStock {}
            | StockEvent::BackInStock { .. } => {}
        }
    }

    /// Stock levels are back-office information. A SKU that never received stock reads as zero.
    fn authorize_read(&self, by: &Principal) -> Result<(), InventoryError> {
        if by.is_back_office() {
            Ok(())
        } else {
            Err(InventoryError::Forbidden)
        }
    }

    /// The levels and every open reservation: what a read (`GET`) and the stock projection see.
    fn view(&self, id: &str, version: u64) -> StockView {
        StockView {
            reservations: self
                .reservations
                .iter()
                .map(|(id, r)| ReservationView {
                    id: id.clone(),
                    quantity: r.quantity,
                    expires_at: r.expires_at,
                    order_ref: r.order_ref.clone(),
                })
                .collect(),
            ..self.levels_view(id, version)
        }
    }

    /// The levels and the count of open reservations, without listing them: a command's reply
    /// costs the same on a SKU with one reservation as on one with ten thousand.
    fn command_view(&self, id: &str, version: u64) -> StockView {
        self.levels_view(id, version)
    }

    fn event_type(event: &StockEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(StockItem, StockEvent);

pub use agora_kernel::CqrsEnvelope;

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::{CustomerId, DomainError};
    use chrono::TimeDelta;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const SKU: &str = "TEE-BLACK-M";

    /// A fixed instant plus `seconds`: tests never read the clock either.
    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
    }

    fn system() -> Principal {
        Principal::system("checkout")
    }

    fn staff(role: &str) -> Principal {
        Principal::Staff {
            id: "sam".into(),
            role: role.into(),
        }
    }

    fn shoppers() -> [Principal; 2] {
        [
            Principal::Guest {
                token_sha256: "0".repeat(64),
            },
            Principal::Customer {
                id: CustomerId::new_random(),
            },
        ]
    }

    fn received(quantity: i64, on_hand_after: i64) -> StockEvent {
        StockEvent::StockReceived {
            quantity,
            reason: None,
            on_hand_after,
            received_at: t(0),
        }
    }

    fn reserved(id: &str, quantity: i64, expires_at: DateTime<Utc>) -> StockEvent {
        StockEvent::StockReserved {
            reservation_id: id.into(),
            quantity,
            expires_at,
            order_ref: format!("order-{id}"),
        }
    }

    fn receive(quantity: i64) -> StockCommand {
        StockCommand::Receive {
            quantity,
            reason: None,
            now: t(0),
        }
    }

    fn adjust(delta: i64, reason: AdjustReason) -> StockCommand {
        StockCommand::Adjust {
            delta,
            reason,
            note: None,
            now: t(0),
        }
    }

    fn reserve(id: &str, quantity: i64, now: DateTime<Utc>) -> StockCommand {
        StockCommand::Reserve {
            reservation_id: id.into(),
            quantity,
            expires_at: now + TimeDelta::minutes(15),
            order_ref: format!("order-{id}"),
            now,
        }
    }

    fn state(given: &[StockEvent]) -> StockItem {
        let mut stock = StockItem::default();
        for e in given {
            stock.evolve(e);
        }
        stock
    }

    /// Given events, when a command by a principal, then these events or this error.
    fn check(
        given: Vec<StockEvent>,
        by: Principal,
        when: StockCommand,
        then: Result<Vec<StockEvent>, InventoryError>,
    ) {
        assert_eq!(state(&given).decide(SKU, &when, &by), then, "{when:?}");
    }

    /// Ten on hand, threshold 5: comfortably in stock.
    fn ten() -> Vec<StockEvent> {
        vec![received(10, 10)]
    }

    #[test]
    fn the_first_receipt_puts_a_sku_in_stock() {
        check(
            vec![],
            staff("staff"),
            StockCommand::Receive {
                quantity: 10,
                reason: Some("PO-17".into()),
                now: t(0),
            },
            Ok(vec![
                StockEvent::StockReceived {
                    quantity: 10,
                    reason: Some("PO-17".into()),
                    on_hand_after: 10,
                    received_at: t(0),
                },
                StockEvent::BackInStock { available: 10 },
            ]),
        );
    }

    #[test]
    fn receiving_more_adds_to_on_hand_without_a_signal() {
        check(ten(), system(), receive(5), Ok(vec![received(5, 15)]));
    }

    #[test]
    fn every_quantity_is_between_1_and_a_million() {
        for quantity in [0, -1, MAX_QUANTITY + 1, i64::MIN, i64::MAX] {
            check(
                ten(),
                system(),
                receive(quantity),
                Err(InventoryError::QuantityOutOfRange),
            );
            check(
                ten(),
                system(),
                reserve("r1", quantity, t(0)),
                Err(InventoryError::QuantityOutOfRange),
            );
        }
        check(
            vec![],
            system(),
            receive(MAX_QUANTITY),
            Ok(vec![
                received(MAX_QUANTITY, MAX_QUANTITY),
                StockEvent::BackInStock {
                    available: MAX_QUANTITY,
                },
            ]),
        );
    }

    #[test]
    fn a_receipt_reason_is_at_most_200_characters() {
        check(
            ten(),
            system(),
            StockCommand::Receive {
                quantity: 1,
                reason: Some("r".repeat(201)),
                now: t(0),
            },
            Err(InventoryError::ReasonTooLong),
        );
    }

    #[test]
    fn on_hand_never_exceeds_its_limit() {
        check(
            vec![received(1, MAX_ON_HAND)],
            system(),
            receive(1),
            Err(InventoryError::OnHandLimit),
        );
        check(
            vec![received(1, MAX_ON_HAND)],
            system(),
            adjust(1, AdjustReason::Found),
            Err(InventoryError::OnHandLimit),
        );
        // Even a state that could not have been recorded does not overflow.
        let absurd = StockItem {
            on_hand: i64::MAX,
            ..StockItem::default()
        };
        assert_eq!(
            absurd.decide(SKU, &receive(1), &system()),
            Err(InventoryError::OnHandLimit)
        );
    }

    #[test]
    fn an_adjustment_records_the_reason_and_the_new_on_hand() {
        check(
            ten(),
            staff("staff"),
            StockCommand::Adjust {
                delta: -2,
                reason: AdjustReason::Damaged,
                note: Some("crushed box".into()),
                now: t(60),
            },
            Ok(vec![StockEvent::StockAdjusted {
                delta: -2,
                reason: AdjustReason::Damaged,
                note: Some("crushed box".into()),
                on_hand_after: 8,
                adjusted_at: t(60),
            }]),
        );
    }

    #[test]
    fn an_adjustment_is_a_non_zero_change_of_at_most_a_million() {
        for delta in [0, MAX_QUANTITY + 1, -MAX_QUANTITY - 1, i64::MIN, i64::MAX] {
            check(
                ten(),
                system(),
                adjust(delta, AdjustReason::Correction),
                Err(InventoryError::InvalidDelta),
            );
        }
    }

    #[test]
    fn an_adjustment_goes_the_way_its_reason_says() {
        for (delta, reason) in [
            (1, AdjustReason::Damaged),
            (1, AdjustReason::Lost),
            (-1, AdjustReason::Found),
        ] {
            check(
                ten(),
                system(),
                adjust(delta, reason),
                Err(InventoryError::DeltaContradictsReason),
            );
        }
        for delta in [-1, 1] {
            for reason in [AdjustReason::Recount, AdjustReason::Correction] {
                assert!(state(&ten())
                    .decide(SKU, &adjust(delta, reason), &system())
                    .is_ok());
            }
        }
    }

    #[test]
    fn an_adjustment_note_is_at_most_200_characters() {
        check(
            ten(),
            system(),
            StockCommand::Adjust {
                delta: 1,
                reason: AdjustReason::Found,
                note: Some("n".repeat(201)),
                now: t(0),
            },
            Err(InventoryError::NoteTooLong),
        );
    }

    #[test]
    fn an_adjustment_cannot_take_on_hand_below_what_is_reserved() {
        let given = vec![received(10, 10), reserved("r1", 7, t(900))];
        check(
            given.clone(),
            system(),
            adjust(-4, AdjustReason::Lost),
            Err(InventoryError::BelowReserved),
        );
        // Down to exactly the reserved quantity is fine, and empties availability.
        check(
            given,
            system(),
            adjust(-3, AdjustReason::Lost),
            Ok(vec![
                StockEvent::StockAdjusted {
                    delta: -3,
                    reason: AdjustReason::Lost,
                    note: None,
                    on_hand_after: 7,
                    adjusted_at: t(0),
                },
                StockEvent::OutOfStock {},
            ]),
        );
        // With nothing reserved, the floor is zero.
        check(
            vec![received(3, 3)],
            system(),
            adjust(-4, AdjustReason::Recount),
            Err(InventoryError::BelowReserved),
        );
    }

    #[test]
    fn a_threshold_is_between_0_and_a_million() {
        for threshold in [-1, MAX_THRESHOLD + 1, i64::MIN] {
            check(
                ten(),
                staff("staff"),
                StockCommand::SetThreshold { threshold },
                Err(InventoryError::InvalidThreshold),
            );
        }
        check(
            ten(),
            staff("staff"),
            StockCommand::SetThreshold { threshold: 2 },
            Ok(vec![StockEvent::ThresholdSet { threshold: 2 }]),
        );
        check(
            ten(),
            staff("staff"),
            StockCommand::SetThreshold {
                threshold: DEFAULT_LOW_STOCK_THRESHOLD,
            },
            Ok(vec![]),
        );
    }

    #[test]
    fn raising_the_threshold_above_availability_signals_low_stock() {
        check(
            ten(),
            staff("staff"),
            StockCommand::SetThreshold { threshold: 12 },
            Ok(vec![
                StockEvent::ThresholdSet { threshold: 12 },
                StockEvent::LowStock {
                    available: 10,
                    threshold: 12,
                },
            ]),
        );
    }

    #[test]
    fn a_reservation_holds_available_units() {
        check(
            ten(),
            system(),
            reserve("r1", 3, t(0)),
            Ok(vec![reserved("r1", 3, t(900))]),
        );
        let stock = state(&[received(10, 10), reserved("r1", 3, t(900))]);
        assert_eq!(
            (stock.on_hand, stock.reserved(), stock.available()),
            (10, 3, 7)
        );
    }

    #[test]
    fn reserving_more_than_is_available_is_refused() {
        check(
            vec![received(10, 10), reserved("r1", 8, t(900))],
            system(),
            reserve("r2", 3, t(0)),
            Err(InventoryError::InsufficientStock),
        );
        check(
            vec![],
            system(),
            reserve("r1", 1, t(0)),
            Err(InventoryError::InsufficientStock),
        );
    }

    #[test]
    fn a_reservation_first_expires_those_that_are_due() {
        let given = vec![received(10, 10), reserved("old", 4, t(100))];
        // At t(100) the old reservation is due (expiry is inclusive), freeing its units; the
        // signal compares availability before the expiry (6) with after the reservation (1).
        check(
            given,
            system(),
            reserve("new", 9, t(100)),
            Ok(vec![
                StockEvent::ReservationExpired {
                    reservation_id: "old".into(),
                    quantity: 4,
                },
                StockEvent::StockReserved {
                    reservation_id: "new".into(),
                    quantity: 9,
                    expires_at: t(100) + TimeDelta::minutes(15),
                    order_ref: "order-new".into(),
                },
                StockEvent::LowStock {
                    available: 1,
                    threshold: 5,
                },
            ]),
        );
    }

    #[test]
    fn a_refused_reservation_records_no_expiry_and_expire_due_does() {
        let given = vec![
            received(10, 10),
            reserved("old", 4, t(100)),
            reserved("live", 4, t(10_000)),
        ];
        // Even with the old reservation expired only 6 would be available.
        check(
            given.clone(),
            system(),
            reserve("big", 7, t(200)),
            Err(InventoryError::InsufficientStock),
        );
        check(
            given,
            system(),
            StockCommand::ExpireDue { now: t(200) },
            Ok(vec![StockEvent::ReservationExpired {
                reservation_id: "old".into(),
                quantity: 4,
            }]),
        );
    }

    #[test]
    fn expiring_with_nothing_due_records_nothing() {
        check(
            vec![received(10, 10), reserved("r1", 4, t(100))],
            system(),
            StockCommand::ExpireDue { now: t(99) },
            Ok(vec![]),
        );
    }

    #[test]
    fn due_reservations_expire_in_reservation_id_order_whatever_their_expiry() {
        check(
            vec![
                received(10, 10),
                reserved("c", 1, t(10)),
                reserved("a", 2, t(50)),
                reserved("d", 1, t(70)),
                reserved("b", 3, t(20)),
            ],
            system(),
            StockCommand::ExpireDue { now: t(50) },
            Ok(vec![
                StockEvent::ReservationExpired {
                    reservation_id: "a".into(),
                    quantity: 2,
                },
                StockEvent::ReservationExpired {
                    reservation_id: "b".into(),
                    quantity: 3,
                },
                StockEvent::ReservationExpired {
                    reservation_id: "c".into(),
                    quantity: 1,
                },
            ]),
        );
    }

    #[test]
    fn expiring_the_last_hold_puts_a_sku_back_in_stock() {
        check(
            vec![
                received(5, 5),
                reserved("a", 2, t(50)),
                reserved("b", 3, t(60)),
            ],
            system(),
            StockCommand::ExpireDue { now: t(60) },
            Ok(vec![
                StockEvent::ReservationExpired {
                    reservation_id: "a".into(),
                    quantity: 2,
                },
                StockEvent::ReservationExpired {
                    reservation_id: "b".into(),
                    quantity: 3,
                },
                StockEvent::BackInStock { available: 5 },
            ]),
        );
    }

    #[test]
    fn reserving_the_same_id_and_quantity_again_changes_nothing() {
        let given = vec![received(10, 10), reserved("r1", 3, t(900))];
        check(given.clone(), system(), reserve("r1", 3, t(1)), Ok(vec![]));
        check(
            given,
            system(),
            reserve("r1", 4, t(1)),
            Err(InventoryError::ReservationConflict),
        );
    }

    #[test]
    fn reserving_a_committed_id_again_changes_nothing() {
        let given = vec![
            received(10, 10),
            reserved("r1", 3, t(900)),
            StockEvent::ReservationCommitted {
                reservation_id: "r1".into(),
                quantity: 3,
                on_hand_after: 7,
            },
        ];
        check(given.clone(), system(), reserve("r1", 3, t(1)), Ok(vec![]));
        check(
            given,
            system(),
            reserve("r1", 2, t(1)),
            Err(InventoryError::ReservationConflict),
        );
    }

    #[test]
    fn a_reservation_needs_a_valid_id_order_ref_and_expiry() {
        for id in ["", "  ", &"r".repeat(65)] {
            check(
                ten(),
                system(),
                reserve(id, 1, t(0)),
                Err(InventoryError::InvalidReservationId),
            );
        }
        check(
            ten(),
            system(),
            StockCommand::Reserve {
                reservation_id: "r1".into(),
                quantity: 1,
                expires_at: t(900),
                order_ref: "o".repeat(65),
                now: t(0),
            },
            Err(InventoryError::InvalidOrderRef),
        );
        for expires_at in [t(0), t(-1)] {
            check(
                ten(),
                system(),
                StockCommand::Reserve {
                    reservation_id: "r1".into(),
                    quantity: 1,
                    expires_at,
                    order_ref: "o".into(),
                    now: t(0),
                },
                Err(InventoryError::InvalidExpiry),
            );
        }
    }

    #[test]
    fn releasing_gives_the_units_back() {
        check(
            vec![received(10, 10), reserved("r1", 10, t(900))],
            system(),
            StockCommand::Release {
                reservation_id: "r1".into(),
            },
            Ok(vec![
                StockEvent::ReservationReleased {
                    reservation_id: "r1".into(),
                    quantity: 10,
                },
                StockEvent::BackInStock { available: 10 },
            ]),
        );
    }

    #[test]
    fn releasing_an_unknown_reservation_changes_nothing() {
        check(
            ten(),
            system(),
            StockCommand::Release {
                reservation_id: "nope".into(),
            },
            Ok(vec![]),
        );
    }

    #[test]
    fn committing_sells_the_reserved_units_without_a_signal() {
        check(
            vec![received(10, 10), reserved("r1", 7, t(900))],
            system(),
            StockCommand::Commit {
                reservation_id: "r1".into(),
            },
            Ok(vec![StockEvent::ReservationCommitted {
                reservation_id: "r1".into(),
                quantity: 7,
                on_hand_after: 3,
            }]),
        );
    }

    #[test]
    fn committing_twice_changes_nothing_the_second_time() {
        check(
            vec![
                received(10, 10),
                reserved("r1", 7, t(900)),
                StockEvent::ReservationCommitted {
                    reservation_id: "r1".into(),
                    quantity: 7,
                    on_hand_after: 3,
                },
            ],
            system(),
            StockCommand::Commit {
                reservation_id: "r1".into(),
            },
            Ok(vec![]),
        );
    }

    fn hold(id: &str, quantity: i64, until: DateTime<Utc>, now: DateTime<Utc>) -> StockCommand {
        StockCommand::Hold {
            reservation_id: id.into(),
            quantity,
            expires_at: until,
            order_ref: format!("order-{id}"),
            now,
        }
    }

    fn committed(id: &str, quantity: i64, on_hand_after: i64) -> StockEvent {
        StockEvent::ReservationCommitted {
            reservation_id: id.into(),
            quantity,
            on_hand_after,
        }
    }

    fn return_reservation(id: &str) -> StockCommand {
        StockCommand::ReturnReservation {
            reservation_id: id.into(),
        }
    }

    #[test]
    fn an_authorized_reservation_is_held_longer_and_does_not_expire_at_its_first_expiry() {
        // Given a reservation with a short life, when the checkout holds it (authorized),
        // then the expiry job at its first expiry leaves it, another buyer cannot take its
        // units, and the late commit sells them.
        let given = vec![received(3, 3), reserved("r1", 2, t(10))];
        let extended = StockEvent::ReservationExtended {
            reservation_id: "r1".into(),
            expires_at: t(100_000),
        };
        check(
            given.clone(),
            system(),
            hold("r1", 2, t(100_000), t(5)),
            Ok(vec![extended.clone()]),
        );
        let mut given = given;
        given.push(extended);
        check(
            given.clone(),
            system(),
            StockCommand::ExpireDue { now: t(3_600) },
            Ok(vec![]),
        );
        check(
            given.clone(),
            system(),
            reserve("r2", 2, t(3_600)),
            Err(InventoryError::InsufficientStock),
        );
        check(
            given.clone(),
            system(),
            StockCommand::Commit {
                reservation_id: "r1".into(),
            },
            Ok(vec![committed("r1", 2, 1)]),
        );
        // Holding again, or the original reservation retried, changes nothing.
        check(
            given.clone(),
            system(),
            hold("r1", 2, t(100_000), t(6)),
            Ok(vec![]),
        );
        check(
            given.clone(),
            system(),
            hold("r1", 2, t(10), t(6)),
            Ok(vec![]),
        );
        check(given, system(), reserve("r1", 2, t(6)), Ok(vec![]));
    }

    #[test]
    fn holding_a_lapsed_reservation_reserves_it_again_when_the_units_are_still_there() {
        let given = vec![received(3, 3), reserved("r1", 2, t(10))];
        check(
            given.clone(),
            system(),
            hold("r1", 2, t(100_000), t(20)),
            Ok(vec![
                StockEvent::ReservationExpired {
                    reservation_id: "r1".into(),
                    quantity: 2,
                },
                StockEvent::StockReserved {
                    reservation_id: "r1".into(),
                    quantity: 2,
                    expires_at: t(100_000),
                    order_ref: "order-r1".into(),
                },
            ]),
        );
        // Someone else bought them meanwhile: the hold fails.
        let mut sold = given;
        sold.push(StockEvent::ReservationExpired {
            reservation_id: "r1".into(),
            quantity: 2,
        });
        sold.push(reserved("r2", 3, t(900)));
        check(
            sold,
            system(),
            hold("r1", 2, t(100_000), t(20)),
            Err(InventoryError::InsufficientStock),
        );
    }

    #[test]
    fn returning_gives_back_exactly_what_was_taken_once() {
        // Held, not yet sold: released.
        check(
            vec![received(10, 10), reserved("r1", 2, t(900))],
            system(),
            return_reservation("r1"),
            Ok(vec![StockEvent::ReservationReleased {
                reservation_id: "r1".into(),
                quantity: 2,
            }]),
        );
        // Sold: back on hand, once.
        let sold = vec![
            received(10, 10),
            reserved("r1", 2, t(900)),
            committed("r1", 2, 8),
        ];
        let returned = StockEvent::ReservationReturned {
            reservation_id: "r1".into(),
            quantity: 2,
            on_hand_after: 10,
        };
        check(
            sold.clone(),
            system(),
            return_reservation("r1"),
            Ok(vec![returned.clone()]),
        );
        let mut back = sold;
        back.push(returned);
        assert_eq!(state(&back).on_hand, 10);
        check(back.clone(), system(), return_reservation("r1"), Ok(vec![]));
        // A late commit of a returned sale sells nothing again.
        check(
            back,
            system(),
            StockCommand::Commit {
                reservation_id: "r1".into(),
            },
            Ok(vec![]),
        );
        // Never taken (or expired): nothing to give back.
        check(
            vec![
                received(10, 10),
                reserved("r1", 2, t(10)),
                StockEvent::ReservationExpired {
                    reservation_id: "r1".into(),
                    quantity: 2,
                },
            ],
            system(),
            return_reservation("r1"),
            Err(InventoryError::UnknownReservation),
        );
        for shopper in shoppers() {
            check(
                vec![received(10, 10), reserved("r1", 2, t(900))],
                shopper,
                return_reservation("r1"),
                Err(InventoryError::Forbidden),
            );
        }
    }

    #[test]
    fn committing_an_unknown_reservation_is_not_found() {
        let error = state(&ten())
            .decide(
                SKU,
                &StockCommand::Commit {
                    reservation_id: "nope".into(),
                },
                &system(),
            )
            .expect_err("unknown");
        assert_eq!(error, InventoryError::UnknownReservation);
        assert_eq!(error.kind(), agora_kernel::ErrorKind::NotFound);
    }

    #[test]
    fn only_the_most_recent_commits_are_remembered() {
        let mut stock = state(&[received(1_000_000, 1_000_000)]);
        for i in 0..=REMEMBERED_COMMITS {
            let id = format!("r{i}");
            stock.evolve(&reserved(&id, 1, t(900)));
            stock.evolve(&StockEvent::ReservationCommitted {
                reservation_id: id,
                quantity: 1,
                on_hand_after: stock.on_hand - 1,
            });
        }
        assert_eq!(stock.recent_commits.len(), REMEMBERED_COMMITS);
        let commit = |id: &str| StockCommand::Commit {
            reservation_id: id.into(),
        };
        assert_eq!(
            stock.decide(SKU, &commit("r0"), &system()),
            Err(InventoryError::UnknownReservation)
        );
        assert_eq!(stock.decide(SKU, &commit("r1"), &system()), Ok(vec![]));
    }

    #[test]
    fn low_stock_fires_once_when_availability_falls_to_the_threshold() {
        check(
            ten(),
            system(),
            reserve("r1", 5, t(0)),
            Ok(vec![
                reserved("r1", 5, t(900)),
                StockEvent::LowStock {
                    available: 5,
                    threshold: 5,
                },
            ]),
        );
        // Falling further while already low is not a new crossing.
        check(
            vec![received(10, 10), reserved("r1", 5, t(900))],
            system(),
            reserve("r2", 2, t(0)),
            Ok(vec![reserved("r2", 2, t(900))]),
        );
        // Rising back above the threshold and falling again is.
        check(
            vec![received(10, 10), reserved("r1", 5, t(900)), received(5, 15)],
            system(),
            reserve("r2", 6, t(0)),
            Ok(vec![
                reserved("r2", 6, t(900)),
                StockEvent::LowStock {
                    available: 4,
                    threshold: 5,
                },
            ]),
        );
    }

    #[test]
    fn out_of_stock_replaces_low_stock_when_availability_falls_to_zero() {
        check(
            ten(),
            system(),
            reserve("r1", 10, t(0)),
            Ok(vec![reserved("r1", 10, t(900)), StockEvent::OutOfStock {}]),
        );
    }

    #[test]
    fn back_in_stock_fires_when_availability_leaves_zero() {
        check(
            vec![received(10, 10), reserved("r1", 10, t(900))],
            staff("staff"),
            receive(2),
            Ok(vec![
                received(2, 12),
                StockEvent::BackInStock { available: 2 },
            ]),
        );
    }

    #[test]
    fn a_zero_threshold_never_signals_low_stock() {
        check(
            vec![received(10, 10), StockEvent::ThresholdSet { threshold: 0 }],
            system(),
            reserve("r1", 9, t(0)),
            Ok(vec![reserved("r1", 9, t(900))]),
        );
    }

    #[test]
    fn signals_change_no_state() {
        let before = state(&ten());
        let mut after = before.clone();
        for signal in [
            StockEvent::LowStock {
                available: 1,
                threshold: 5,
            },
            StockEvent::OutOfStock {},
            StockEvent::BackInStock { available: 1 },
        ] {
            assert!(signal.is_signal());
            after.evolve(&signal);
        }
        assert_eq!(after, before);
    }

    #[test]
    fn shoppers_may_not_touch_stock() {
        let commands = [
            receive(1),
            adjust(1, AdjustReason::Found),
            StockCommand::SetThreshold { threshold: 1 },
            reserve("r1", 1, t(0)),
            StockCommand::Release {
                reservation_id: "r1".into(),
            },
            StockCommand::Commit {
                reservation_id: "r1".into(),
            },
            StockCommand::ExpireDue { now: t(0) },
        ];
        for by in shoppers() {
            for command in &commands {
                check(
                    ten(),
                    by.clone(),
                    command.clone(),
                    Err(InventoryError::Forbidden),
                );
            }
            assert_eq!(
                state(&ten()).authorize_read(&by),
                Err(InventoryError::Forbidden)
            );
        }
    }

    #[test]
    fn only_the_platform_and_admins_handle_reservations() {
        let reservation_commands = [
            reserve("r1", 1, t(0)),
            StockCommand::Release {
                reservation_id: "r1".into(),
            },
            StockCommand::Commit {
                reservation_id: "r1".into(),
            },
            StockCommand::ExpireDue { now: t(0) },
        ];
        for by in [staff("staff"), staff("vendor"), staff("auditor")] {
            for command in &reservation_commands {
                check(
                    ten(),
                    by.clone(),
                    command.clone(),
                    Err(InventoryError::Forbidden),
                );
            }
            assert_eq!(state(&ten()).authorize_read(&by), Ok(()));
        }
        // Stock keepers move stock; an auditor (or any other back-office role) only reads it.
        for by in [staff("staff"), staff("vendor"), staff("admin")] {
            assert!(state(&ten()).decide(SKU, &receive(1), &by).is_ok());
        }
        for by in [staff("auditor"), staff("support")] {
            for command in [
                receive(1),
                adjust(1, AdjustReason::Found),
                StockCommand::SetThreshold { threshold: 1 },
            ] {
                check(ten(), by.clone(), command, Err(InventoryError::Forbidden));
            }
        }
        check(
            ten(),
            staff("admin"),
            reserve("r1", 1, t(0)),
            Ok(vec![reserved("r1", 1, t(900))]),
        );
    }

    #[test]
    fn the_stream_id_must_be_a_sku() {
        for id in ["", "a b", "a/b", &"x".repeat(65)] {
            assert_eq!(
                StockItem::default().decide(id, &receive(1), &system()),
                Err(InventoryError::InvalidSku),
                "{id:?}"
            );
        }
    }

    #[test]
    fn the_view_shows_levels_and_open_reservations() {
        let stock = state(&[
            received(10, 10),
            reserved("b", 2, t(900)),
            reserved("a", 3, t(600)),
            StockEvent::ThresholdSet { threshold: 4 },
        ]);
        assert_eq!(
            stock.view(SKU, 4),
            StockView {
                sku: SKU.into(),
                version: 4,
                on_hand: 10,
                reserved: 5,
                available: 5,
                low_stock_threshold: 4,
                open_reservations: 2,
                reservations: vec![
                    ReservationView {
                        id: "a".into(),
                        quantity: 3,
                        expires_at: t(600),
                        order_ref: "order-a".into(),
                    },
                    ReservationView {
                        id: "b".into(),
                        quantity: 2,
                        expires_at: t(900),
                        order_ref: "order-b".into(),
                    },
                ],
            }
        );
        // A SKU that never received stock reads as empty, with the default threshold.
        let empty = StockItem::default().view(SKU, 0);
        assert_eq!(
            (empty.on_hand, empty.available, empty.low_stock_threshold),
            (0, 0, 5)
        );
    }

    #[test]
    fn a_command_reply_counts_the_open_reservations_without_listing_them() {
        let given = vec![
            received(10, 10),
            reserved("a", 3, t(600)),
            reserved("b", 2, t(900)),
        ];
        let when = reserve("c", 1, t(0));
        let mut stock = state(&given);
        let events = stock.decide(SKU, &when, &system()).expect("reserves");
        for e in &events {
            stock.evolve(e);
        }
        let reply = stock.command_view(SKU, 4);
        assert_eq!(
            reply,
            StockView {
                sku: SKU.into(),
                version: 4,
                on_hand: 10,
                reserved: 6,
                available: 4,
                low_stock_threshold: 5,
                open_reservations: 3,
                reservations: vec![],
            }
        );
        // The full view (a read) has the same numbers and lists all three.
        let full = stock.view(SKU, 4);
        assert_eq!(
            full.reservations
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(
            StockView {
                reservations: vec![],
                ..full
            },
            reply
        );
    }

    #[test]
    fn the_running_reserved_sum_follows_every_way_a_reservation_closes() {
        let mut stock = state(&[
            received(20, 20),
            reserved("a", 3, t(600)),
            reserved("b", 4, t(600)),
            reserved("c", 5, t(600)),
            reserved("d", 6, t(600)),
        ]);
        assert_eq!(stock.reserved(), 18);
        for (event, reserved) in [
            (
                StockEvent::ReservationReleased {
                    reservation_id: "a".into(),
                    quantity: 3,
                },
                15,
            ),
            (
                StockEvent::ReservationExpired {
                    reservation_id: "b".into(),
                    quantity: 4,
                },
                11,
            ),
            (
                StockEvent::ReservationCommitted {
                    reservation_id: "c".into(),
                    quantity: 5,
                    on_hand_after: 15,
                },
                6,
            ),
            // Closing a reservation that is not open changes nothing.
            (
                StockEvent::ReservationReleased {
                    reservation_id: "a".into(),
                    quantity: 3,
                },
                6,
            ),
        ] {
            stock.evolve(&event);
            assert_eq!(stock.reserved(), reserved, "{event:?}");
        }
        assert_eq!((stock.on_hand, stock.available()), (15, 9));
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let stock = state(&[received(10, 10), reserved("a", 3, t(600))]);
        let json = serde_json::to_string(&stock).expect("serializes");
        // The running sum is derived, not stored: the stored shape is unchanged.
        assert!(!json.contains("\"reserved\""), "{json}");
        let parsed = serde_json::from_str::<StockItem>(&json).expect("parses");
        assert_eq!(parsed, stock);
        assert_eq!((parsed.reserved(), parsed.available()), (3, 7));
        // An empty object is the default state, threshold included.
        assert_eq!(
            serde_json::from_str::<StockItem>("{}").expect("parses"),
            StockItem::default()
        );
    }

    fn random_command(rng: &mut StdRng, now: DateTime<Utc>) -> StockCommand {
        let id = format!("r{}", rng.random_range::<i64, _>(0..=7));
        // Now and then a quantity outside the limits, to exercise refusals too.
        let quantity = match rng.random_range::<i64, _>(0..=19) {
            0 => 0,
            1 => MAX_QUANTITY + 1,
            _ => rng.random_range::<i64, _>(1..=12),
        };
        match rng.random_range::<i64, _>(0..=9) {
            0 | 1 => StockCommand::Receive {
                quantity,
                reason: None,
                now,
            },
            2 => {
                let delta = rng.random_range::<i64, _>(-12..=12);
                StockCommand::Adjust {
                    delta,
                    reason: if delta < 0 {
                        AdjustReason::Damaged
                    } else {
                        AdjustReason::Recount
                    },
                    note: None,
                    now,
                }
            }
            3 => StockCommand::SetThreshold {
                threshold: rng.random_range::<i64, _>(-1..=12),
            },
            4..=6 => StockCommand::Reserve {
                reservation_id: id,
                quantity,
                expires_at: now + TimeDelta::seconds(rng.random_range::<i64, _>(-30..=600)),
                order_ref: "order".into(),
                now,
            },
            7 => StockCommand::Release { reservation_id: id },
            8 => StockCommand::Commit { reservation_id: id },
            _ => StockCommand::ExpireDue { now },
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Level {
        Out,
        Low,
        Plenty,
    }

    fn level(stock: &StockItem) -> Level {
        let available =
            stock.on_hand - stock.reservations.values().map(|r| r.quantity).sum::<i64>();
        if available == 0 {
            Level::Out
        } else if available <= stock.low_stock_threshold {
            Level::Low
        } else {
            Level::Plenty
        }
    }

    #[test]
    fn random_command_sequences_keep_stock_non_negative_and_signal_exactly_on_crossings() {
        let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
        for seed in 0..400u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut stock = StockItem::default();
            let mut now = t(0);
            for _ in 0..150 {
                now += TimeDelta::seconds(rng.random_range::<i64, _>(0..=120));
                let command = random_command(&mut rng, now);
                let before = stock.clone();
                let events = match stock.decide(SKU, &command, &system()) {
                    Ok(events) => events,
                    Err(error) => {
                        assert!(error.code().starts_with("inventory."));
                        *outcomes.entry(error.code()).or_default() += 1;
                        continue;
                    }
                };
                // Signals come last, at most one per command.
                let movements = events.iter().take_while(|e| !e.is_signal()).count();
                let signals = &events[movements..];
                assert!(signals.len() <= 1, "{events:?}");
                assert!(signals.iter().all(StockEvent::is_signal), "{events:?}");
                for e in &events {
                    stock.evolve(e);
                    *outcomes.entry(e.event_type()).or_default() += 1;
                }
                // The invariants, recomputed from scratch rather than through the helpers.
                let reserved: i64 = stock.reservations.values().map(|r| r.quantity).sum();
                assert!(stock.on_hand >= 0, "seed {seed}: {stock:?}");
                assert!(stock.on_hand - reserved >= 0, "seed {seed}: {stock:?}");
                // The running sum `evolve` keeps equals the map's sum, and folding just the
                // numbers over the events (what `decide` does) lands on the same levels.
                assert_eq!(stock.reserved(), reserved, "seed {seed}: {command:?}");
                let folded = before.levels().after(&events);
                assert_eq!(
                    (folded.on_hand, folded.reserved, folded.threshold),
                    (stock.on_hand, reserved, stock.low_stock_threshold),
                    "seed {seed}: {command:?}"
                );
                // So does the expiry index.
                let expiring: BTreeSet<(DateTime<Utc>, String)> = stock
                    .reservations
                    .iter()
                    .map(|(id, r)| (r.expires_at, id.clone()))
                    .collect();
                assert_eq!(stock.expiring, expiring, "seed {seed}: {command:?}");
                // A state read back from JSON (read models store it) rebuilds both from its map.
                let stored = serde_json::to_value(&stock).expect("serializes");
                let read_back: StockItem = serde_json::from_value(stored).expect("parses");
                assert_eq!(read_back, stock, "seed {seed}");
                assert_eq!(read_back.reserved(), reserved, "seed {seed}");
                assert!(stock
                    .reservations
                    .values()
                    .all(|r| (1..=MAX_QUANTITY).contains(&r.quantity)));
                // A signal exactly when the level crosses, and the right one.
                let available = stock.available();
                let expected = match (level(&before), level(&stock)) {
                    (Level::Out, Level::Out) => None,
                    (Level::Out, _) => Some(StockEvent::BackInStock { available }),
                    (_, Level::Out) => Some(StockEvent::OutOfStock {}),
                    (Level::Plenty, Level::Low) => Some(StockEvent::LowStock {
                        available,
                        threshold: stock.low_stock_threshold,
                    }),
                    (Level::Low, _) | (Level::Plenty, Level::Plenty) => None,
                };
                assert_eq!(
                    signals.first(),
                    expected.as_ref(),
                    "seed {seed}: {command:?}"
                );
            }
        }
        // The sequences must actually reach every interesting outcome.
        for outcome in [
            "StockReceived",
            "StockAdjusted",
            "ThresholdSet",
            "StockReserved",
            "ReservationReleased",
            "ReservationCommitted",
            "ReservationExpired",
            "LowStock",
            "OutOfStock",
            "BackInStock",
            "inventory.insufficient_stock",
            "inventory.below_reserved",
            "inventory.quantity_out_of_range",
            "inventory.reservation_conflict",
            "inventory.unknown_reservation",
            "inventory.invalid_expiry",
        ] {
            assert!(
                outcomes.get(outcome).copied().unwrap_or(0) > 0,
                "never saw {outcome}: {outcomes:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_cqrs_es_aggregate_delegates_to_decide() {
        use cqrs_es::test::TestFramework;
        TestFramework::<StockItem>::with(())
            .given(ten())
            .when_async(CqrsEnvelope {
                id: SKU.into(),
                by: system(),
                command: reserve("r1", 10, t(0)),
            })
            .await
            .then_expect_events(vec![reserved("r1", 10, t(900)), StockEvent::OutOfStock {}]);
        TestFramework::<StockItem>::with(())
            .given(ten())
            .when_async(CqrsEnvelope {
                id: SKU.into(),
                by: system(),
                command: reserve("r1", 11, t(0)),
            })
            .await
            .then_expect_error(InventoryError::InsufficientStock);
    }
}

//! The `Return` aggregate (an RMA). The module is not called `return`, which is a keyword.

use std::collections::{BTreeMap, BTreeSet};

use agora_kernel::{CustomerId, Decider, Money, MoneyError, Principal, Sku};
use agora_order::OrderOwner;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Disposition, ReceivedLine, ReturnCommand, ReturnError, ReturnEvent, ReturnLine, ReturnReason,
};

/// Most lines in one return (an order has at most as many).
pub const MAX_LINES: usize = 100;
/// Most units of one line in one return.
pub const MAX_QUANTITY: i64 = 10_000;
/// Longest line title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest note of the shopper on a line.
pub const MAX_NOTE_CHARS: usize = 1_000;
/// Longest order id.
pub const MAX_ORDER_ID_CHARS: usize = 64;
/// Longest rejection reason and refund failure reason.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest refund id (the payment provider's, or the payment stream's).
pub const MAX_REFUND_ID_CHARS: usize = 64;
/// Longest vendor id of a line (as long as the catalog's).
pub const MAX_VENDOR_ID_CHARS: usize = 64;

/// Where a return is in its life: `Requested → Approved → Received → Closed`, or it ends
/// `Rejected` (by the back office) or `Cancelled` (by the shopper or the back office) while
/// still `Requested`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    /// No `ReturnRequested` yet: the stream is empty.
    #[default]
    New,
    Requested,
    Approved,
    Rejected,
    /// The parcel arrived; the runner moves stock and refunds line by line.
    Received,
    /// Every received line was moved and refunded.
    Closed,
    Cancelled,
}

impl ReturnStatus {
    /// The wire name (`requested`), as serde writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReturnStatus::New => "new",
            ReturnStatus::Requested => "requested",
            ReturnStatus::Approved => "approved",
            ReturnStatus::Rejected => "rejected",
            ReturnStatus::Received => "received",
            ReturnStatus::Closed => "closed",
            ReturnStatus::Cancelled => "cancelled",
        }
    }
}

/// What the runner still has to do for a received return, as [`Return::next_steps`] tells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStep {
    /// Restock or write off the received units of `sku`, then send `RecordStockMoved`.
    MoveStock {
        sku: Sku,
        quantity: i64,
        disposition: Disposition,
    },
    /// Refund the received units of `sku` through the order's payment (the order caps a line
    /// refund at what those units cost), then send `RecordRefund`.
    Refund { sku: Sku, quantity: i64 },
}

/// The latest refund failure the runner reported, for the back office.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundFailure {
    /// The line whose refund failed; absent for the shipping refund.
    pub sku: Option<Sku>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// What `Request` fixed; it never changes afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Request {
    order_id: String,
    owner: OrderOwner,
    lines: Vec<ReturnLine>,
    requested_at: DateTime<Utc>,
}

/// A refund recorded for a line or for the shipping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Refunded {
    refund_id: String,
    amount: Money,
}

/// The return's state, folded from its events.
///
/// Invariants (enforced by [`Return::decide`]): `status == New` exactly when nothing was
/// requested; `received` is empty before `Received` and afterwards names distinct requested
/// SKUs with `1..=` their requested units; `stock_moved` and `refunds` only name received
/// SKUs; every refund is in one currency, each refund id is recorded once, and their sum fits
/// in `i64`; `Closed` exactly when, after receipt, every received line is moved and refunded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    status: ReturnStatus,
    /// `None` until `ReturnRequested`.
    request: Option<Request>,
    /// The units that arrived, as the warehouse recorded them.
    received: Vec<ReceivedLine>,
    /// Received lines whose stock was moved, so that a retried move records nothing.
    stock_moved: BTreeSet<Sku>,
    /// Received lines refunded, with their refund, so that a retried refund records nothing.
    refunds: BTreeMap<Sku, Refunded>,
    shipping_refund: Option<Refunded>,
    rejection_reason: Option<String>,
    last_refund_failure: Option<RefundFailure>,
    updated_at: Option<DateTime<Utc>>,
}

/// One line as the shopper or the back office sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLineView {
    pub sku: Sku,
    pub title: String,
    /// Units the shopper asked to return.
    pub quantity: i64,
    pub reason: ReturnReason,
    pub note: Option<String>,
    /// The vendor who sold the line; absent for the shop's own lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// Units that arrived; absent before receipt and for a line that did not arrive.
    pub received_quantity: Option<i64>,
    pub disposition: Option<Disposition>,
    /// The received units were restocked or written off.
    pub stock_moved: bool,
    /// What the line's refund gave back, and its refund id; absent until refunded.
    pub refunded: Option<Money>,
    pub refund_id: Option<String>,
}

/// What the owner and the back office see of a return: never the guest token hash, which is
/// a credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnView {
    pub id: String,
    pub version: u64,
    pub order_id: String,
    pub status: ReturnStatus,
    /// `guest` or `customer` (empty for a return never requested).
    pub owner_kind: String,
    pub customer_id: Option<CustomerId>,
    pub lines: Vec<ReturnLineView>,
    pub rejection_reason: Option<String>,
    pub shipping_refund: Option<Money>,
    /// The line refunds plus the shipping refund recorded so far; absent before the first.
    /// Once closed, it is what `ReturnClosed` recorded.
    pub refunded_total: Option<Money>,
    pub last_refund_failure: Option<RefundFailure>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How much of a return a principal may see and touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// The platform (the returns workflow and its runner): everything.
    Platform,
    /// Admins and staff: reads, and deciding, receiving and cancelling returns.
    BackOffice,
    /// Auditors read every return and change none.
    Auditor,
    /// The shopper who owns the order: reads, and cancels.
    Owner,
    /// A user of the vendor who sold every line of the return: reads, decides and receives
    /// it, as staff do; it neither opens nor withdraws returns (the shopper's and the
    /// platform's) nor records the runner's steps.
    Vendor,
    /// Everyone else, other back-office roles included (they may not read returns), and a
    /// vendor's user when any line is not its vendor's: the return does not exist for them.
    Stranger,
}

/// Whether every line of the return was sold by `vendor`. A return that spans several vendors
/// (or holds the shop's own lines) is no single vendor's: staff handle it.
fn all_lines_of(request: &Request, vendor: &str) -> bool {
    !request.lines.is_empty()
        && request
            .lines
            .iter()
            .all(|l| l.vendor_id.as_deref() == Some(vendor))
}

fn access(request: &Request, by: &Principal) -> Access {
    match (&request.owner, by) {
        (_, Principal::System { .. }) => Access::Platform,
        (_, Principal::Staff { role, .. }) => match role.as_str() {
            "admin" | "staff" => Access::BackOffice,
            "auditor" => Access::Auditor,
            _ => Access::Stranger,
        },
        (OrderOwner::Guest { token_sha256 }, Principal::Guest { token_sha256: t })
            if agora_kernel::same_digest(token_sha256, t) =>
        {
            Access::Owner
        }
        (OrderOwner::Customer { customer_id }, Principal::Customer { id }) if customer_id == id => {
            Access::Owner
        }
        (_, Principal::Vendor { vendor, .. }) if all_lines_of(request, vendor) => Access::Vendor,
        (_, Principal::Vendor { .. } | Principal::Guest { .. } | Principal::Customer { .. }) => {
            Access::Stranger
        }
    }
}

/// Whether `access` may send `command` to an existing return.
fn allowed(access: Access, command: &ReturnCommand) -> bool {
    match command {
        ReturnCommand::Request { .. }
        | ReturnCommand::RecordStockMoved { .. }
        | ReturnCommand::RecordRefund { .. }
        | ReturnCommand::RecordShippingRefund { .. }
        | ReturnCommand::RecordRefundFailed { .. } => access == Access::Platform,
        ReturnCommand::Approve { .. }
        | ReturnCommand::Reject { .. }
        | ReturnCommand::Receive { .. } => matches!(
            access,
            Access::Platform | Access::BackOffice | Access::Vendor
        ),
        ReturnCommand::Cancel { .. } => {
            matches!(
                access,
                Access::Platform | Access::BackOffice | Access::Owner
            )
        }
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Non-blank and at most `max` characters.
fn present(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && chars(text) <= max
}

/// A guest owner must be a SHA-256 digest: an empty or short "hash" would let a guest
/// presenting the same nonsense read and cancel the return.
fn check_owner(owner: &OrderOwner) -> Result<(), ReturnError> {
    match owner {
        OrderOwner::Guest { token_sha256 }
            if token_sha256.len() != 64 || !token_sha256.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Err(ReturnError::InvalidOwner)
        }
        OrderOwner::Guest { .. } | OrderOwner::Customer { .. } => Ok(()),
    }
}

/// A vendor id as the vendor workflow issues them (a UUID or a slug). It is compared exactly
/// with a vendor principal's, so it is kept as given and refused if it could not be one: a
/// space or a control character would make a line that no vendor could ever match.
fn check_vendor_id(vendor_id: Option<&str>) -> Result<(), ReturnError> {
    let ok = vendor_id.is_none_or(|id| {
        (1..=MAX_VENDOR_ID_CHARS).contains(&chars(id))
            && !id.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if ok {
        Ok(())
    } else {
        Err(ReturnError::InvalidVendorId)
    }
}

fn check_lines(lines: &[ReturnLine]) -> Result<(), ReturnError> {
    if lines.is_empty() {
        return Err(ReturnError::Empty);
    }
    if lines.len() > MAX_LINES {
        return Err(ReturnError::TooManyLines);
    }
    let mut skus = BTreeSet::new();
    for line in lines {
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(ReturnError::QuantityOutOfRange);
        }
        if !present(&line.title, MAX_TITLE_CHARS) {
            return Err(ReturnError::InvalidTitle);
        }
        if line
            .note
            .as_deref()
            .is_some_and(|n| chars(n) > MAX_NOTE_CHARS)
        {
            return Err(ReturnError::NoteTooLong);
        }
        check_vendor_id(line.vendor_id.as_deref())?;
        if !skus.insert(&line.sku) {
            return Err(ReturnError::DuplicateSku);
        }
    }
    Ok(())
}

fn check_reason(reason: &str) -> Result<(), ReturnError> {
    if present(reason, MAX_REASON_CHARS) {
        Ok(())
    } else {
        Err(ReturnError::InvalidReason)
    }
}

fn check_refund(refund_id: &str, amount: &Money) -> Result<(), ReturnError> {
    if !present(refund_id, MAX_REFUND_ID_CHARS) {
        return Err(ReturnError::InvalidRefundId);
    }
    if amount.amount_minor < 0 {
        return Err(ReturnError::InvalidAmount);
    }
    Ok(())
}

/// The received lines keyed by SKU, so that two receipts listing the same units in another
/// order are the same receipt.
fn by_sku(lines: &[ReceivedLine]) -> BTreeMap<&Sku, (i64, Disposition)> {
    lines
        .iter()
        .map(|l| (&l.sku, (l.quantity, l.disposition)))
        .collect()
}

impl Return {
    pub fn status(&self) -> ReturnStatus {
        self.status
    }

    /// The order the units come from; `None` before the return was requested.
    pub fn order_id(&self) -> Option<&str> {
        self.request.as_ref().map(|r| r.order_id.as_str())
    }

    /// The order's owner; `None` before the return was requested.
    pub fn owner(&self) -> Option<&OrderOwner> {
        self.request.as_ref().map(|r| &r.owner)
    }

    /// The requested lines; empty before the return was requested.
    pub fn lines(&self) -> &[ReturnLine] {
        self.request.as_ref().map_or(&[], |r| &r.lines)
    }

    /// The units that arrived; empty before receipt.
    pub fn received_lines(&self) -> &[ReceivedLine] {
        &self.received
    }

    /// The line refunds plus the shipping refund recorded so far; `None` before the first.
    pub fn refunded_total(&self) -> Option<Money> {
        self.sum_of_refunds().ok().flatten()
    }

    /// What the runner still has to do, in this order: move the stock of every received line
    /// not moved yet, then refund every received line not refunded yet. Empty unless the
    /// return is `Received` (so, once closed, nothing is left). The shipping refund is not a
    /// step: whether one is owed depends on the order (see [`Return::refunds_shipping`]).
    pub fn next_steps(&self) -> Vec<ReturnStep> {
        if self.status != ReturnStatus::Received {
            return vec![];
        }
        let moves = self
            .received
            .iter()
            .filter(|l| !self.stock_moved.contains(&l.sku))
            .map(|l| ReturnStep::MoveStock {
                sku: l.sku.clone(),
                quantity: l.quantity,
                disposition: l.disposition,
            });
        let refunds = self
            .received
            .iter()
            .filter(|l| !self.refunds.contains_key(&l.sku))
            .map(|l| ReturnStep::Refund {
                sku: l.sku.clone(),
                quantity: l.quantity,
            });
        moves.chain(refunds).collect()
    }

    /// Whether the shop owes the order's shipping back with this return. The shop's rule:
    /// shipping is refunded when every unit of the order is returned (`whole_order_returned`,
    /// which the runner learns from the order: its units returned before plus the ones this
    /// return received) and at least one line of this return is returned for a reason that is
    /// the shop's fault ([`ReturnReason::is_shop_fault`]): a shopper who changed their mind
    /// pays the shipping, one the shop let down does not.
    ///
    /// The lines considered are the received ones once the return was received (units that
    /// never arrived prove nothing), else the requested ones (a forecast for the shopper).
    /// Only this return's reasons count: a return that completes the order for "no longer
    /// needed" refunds no shipping, even if an earlier return of the same order was damaged.
    /// A return never requested, rejected or cancelled refunds nothing.
    pub fn refunds_shipping(&self, whole_order_returned: bool) -> bool {
        let Some(request) = &self.request else {
            return false;
        };
        let shop_fault = |sku: &Sku| {
            request
                .lines
                .iter()
                .any(|l| l.sku == *sku && l.reason.is_shop_fault())
        };
        whole_order_returned
            && match self.status {
                ReturnStatus::New | ReturnStatus::Rejected | ReturnStatus::Cancelled => false,
                ReturnStatus::Requested | ReturnStatus::Approved => {
                    request.lines.iter().any(|l| l.reason.is_shop_fault())
                }
                ReturnStatus::Received | ReturnStatus::Closed => {
                    self.received.iter().any(|l| shop_fault(&l.sku))
                }
            }
    }

    fn sum_of_refunds(&self) -> Result<Option<Money>, MoneyError> {
        let amounts = self
            .refunds
            .values()
            .chain(self.shipping_refund.as_ref())
            .map(|r| r.amount);
        let mut sum: Option<Money> = None;
        for amount in amounts {
            sum = Some(match sum {
                None => amount,
                Some(sum) => sum.checked_add(amount)?,
            });
        }
        Ok(sum)
    }

    /// Refuses a refund that would mix currencies or overflow the return's sum of refunds.
    fn check_sum_with(&self, amount: Money) -> Result<(), ReturnError> {
        let sum = self
            .sum_of_refunds()
            .map_err(|_| ReturnError::InvalidAmount)?;
        match sum.map(|sum| sum.checked_add(amount)) {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(MoneyError::CurrencyMismatch | MoneyError::InvalidCurrency)) => {
                Err(ReturnError::CurrencyMismatch)
            }
            Some(Err(MoneyError::Overflow)) => Err(ReturnError::InvalidAmount),
        }
    }

    fn refund_id_used(&self, refund_id: &str) -> bool {
        self.refunds
            .values()
            .chain(self.shipping_refund.as_ref())
            .any(|r| r.refund_id == refund_id)
    }

    fn received_line(&self, sku: &Sku) -> Option<&ReceivedLine> {
        self.received.iter().find(|l| l.sku == *sku)
    }

    /// Refuses a SKU the return never asked for.
    fn requested(&self, request: &Request, sku: &Sku) -> Result<(), ReturnError> {
        if request.lines.iter().any(|l| l.sku == *sku) {
            Ok(())
        } else {
            Err(ReturnError::UnknownLine)
        }
    }

    /// Every received line was moved and refunded: the return is done.
    fn settled(&self) -> bool {
        self.status == ReturnStatus::Received
            && !self.received.is_empty()
            && self
                .received
                .iter()
                .all(|l| self.stock_moved.contains(&l.sku) && self.refunds.contains_key(&l.sku))
    }

    fn request(
        &self,
        command: &ReturnCommand,
        by: &Principal,
    ) -> Result<Vec<ReturnEvent>, ReturnError> {
        let ReturnCommand::Request {
            order_id,
            owner,
            lines,
            now,
        } = command
        else {
            // `decide` calls this for `Request` only.
            return Err(ReturnError::InvalidTransition);
        };
        // Only the returns workflow opens returns, once the order accepted them; refusing
        // everyone else first reveals nothing about whether the stream exists.
        if !matches!(by, Principal::System { .. }) {
            return Err(ReturnError::Forbidden);
        }
        if self.request.is_some() {
            return Err(ReturnError::AlreadyExists);
        }
        if !present(order_id, MAX_ORDER_ID_CHARS) {
            return Err(ReturnError::InvalidOrderId);
        }
        check_owner(owner)?;
        check_lines(lines)?;
        Ok(vec![ReturnEvent::ReturnRequested {
            order_id: order_id.clone(),
            owner: owner.clone(),
            lines: lines.clone(),
            at: *now,
        }])
    }

    fn receive(
        &self,
        request: &Request,
        lines: &[ReceivedLine],
        now: DateTime<Utc>,
    ) -> Result<Vec<ReturnEvent>, ReturnError> {
        if lines.is_empty() {
            return Err(ReturnError::Empty);
        }
        let mut skus = BTreeSet::new();
        for line in lines {
            let requested = request
                .lines
                .iter()
                .find(|l| l.sku == line.sku)
                .ok_or(ReturnError::UnknownLine)?;
            if !skus.insert(&line.sku) {
                return Err(ReturnError::DuplicateSku);
            }
            if line.quantity < 1 {
                return Err(ReturnError::QuantityOutOfRange);
            }
            if line.quantity > requested.quantity {
                return Err(ReturnError::ExceedsRequested);
            }
        }
        match self.status {
            ReturnStatus::Approved => Ok(vec![ReturnEvent::ReturnReceived {
                lines: lines.to_vec(),
                at: now,
            }]),
            // A retried receipt records nothing; a different one is not a retry.
            ReturnStatus::Received | ReturnStatus::Closed
                if by_sku(&self.received) == by_sku(lines) =>
            {
                Ok(vec![])
            }
            _ => Err(ReturnError::InvalidTransition),
        }
    }

    fn record_stock_moved(
        &self,
        request: &Request,
        sku: &Sku,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReturnEvent>, ReturnError> {
        self.requested(request, sku)?;
        if self.stock_moved.contains(sku) {
            return Ok(vec![]);
        }
        if self.status != ReturnStatus::Received {
            return Err(ReturnError::InvalidTransition);
        }
        let line = self
            .received_line(sku)
            .ok_or(ReturnError::LineNotReceived)?;
        Ok(vec![ReturnEvent::ReturnStockMoved {
            sku: sku.clone(),
            quantity: line.quantity,
            disposition: line.disposition,
            at: now,
        }])
    }

    fn record_refund(
        &self,
        request: &Request,
        sku: &Sku,
        refund_id: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReturnEvent>, ReturnError> {
        check_refund(refund_id, &amount)?;
        self.requested(request, sku)?;
        if let Some(recorded) = self.refunds.get(sku) {
            // The same refund again is a retry; anything else would refund the line twice.
            return if recorded.refund_id == refund_id && recorded.amount == amount {
                Ok(vec![])
            } else {
                Err(ReturnError::AlreadyRefunded)
            };
        }
        if self.status != ReturnStatus::Received {
            return Err(ReturnError::InvalidTransition);
        }
        if self.received_line(sku).is_none() {
            return Err(ReturnError::LineNotReceived);
        }
        if self.refund_id_used(refund_id) {
            return Err(ReturnError::DuplicateRefundId);
        }
        self.check_sum_with(amount)?;
        Ok(vec![ReturnEvent::ReturnLineRefunded {
            sku: sku.clone(),
            refund_id: refund_id.to_string(),
            amount,
            at: now,
        }])
    }

    fn record_shipping_refund(
        &self,
        refund_id: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReturnEvent>, ReturnError> {
        check_refund(refund_id, &amount)?;
        if let Some(recorded) = &self.shipping_refund {
            return if recorded.refund_id == refund_id && recorded.amount == amount {
                Ok(vec![])
            } else {
                Err(ReturnError::AlreadyRefunded)
            };
        }
        // Once closed it is too late: `ReturnClosed` already recorded what was refunded.
        if self.status != ReturnStatus::Received {
            return Err(ReturnError::InvalidTransition);
        }
        if self.refund_id_used(refund_id) {
            return Err(ReturnError::DuplicateRefundId);
        }
        self.check_sum_with(amount)?;
        Ok(vec![ReturnEvent::ReturnShippingRefunded {
            refund_id: refund_id.to_string(),
            amount,
            at: now,
        }])
    }

    fn record_refund_failed(
        &self,
        request: &Request,
        sku: Option<&Sku>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReturnEvent>, ReturnError> {
        check_reason(reason)?;
        if let Some(sku) = sku {
            self.requested(request, sku)?;
        }
        if self.status != ReturnStatus::Received {
            return Err(ReturnError::InvalidTransition);
        }
        if sku.is_some_and(|sku| self.received_line(sku).is_none()) {
            return Err(ReturnError::LineNotReceived);
        }
        Ok(vec![ReturnEvent::ReturnRefundFailed {
            sku: sku.cloned(),
            reason: reason.to_string(),
            at: now,
        }])
    }

    /// `events`, followed by `ReturnClosed` when they settle the return, so that the last
    /// line step and the close are one commit and no runner has to remember to close.
    fn closing(
        &self,
        mut events: Vec<ReturnEvent>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReturnEvent>, ReturnError> {
        if events.is_empty() {
            return Ok(events);
        }
        let mut after = self.clone();
        for event in &events {
            after.evolve(event);
        }
        if after.settled() {
            // A settled return has refunded every received line, so the sum exists.
            let refunded = after.refunded_total().ok_or(ReturnError::InvalidAmount)?;
            events.push(ReturnEvent::ReturnClosed { refunded, at: now });
        }
        Ok(events)
    }
}

impl Decider for Return {
    const TYPE: &'static str = "return";
    type Command = ReturnCommand;
    type Event = ReturnEvent;
    type Error = ReturnError;
    type View = ReturnView;

    fn decide(
        &self,
        _id: &str,
        command: &ReturnCommand,
        by: &Principal,
    ) -> Result<Vec<ReturnEvent>, ReturnError> {
        if let ReturnCommand::Request { .. } = command {
            return self.request(command, by);
        }
        let Some(request) = &self.request else {
            return Err(ReturnError::NotFound);
        };
        let access = access(request, by);
        // A stranger learns nothing, not even that the return exists.
        if access == Access::Stranger {
            return Err(ReturnError::NotFound);
        }
        if !allowed(access, command) {
            return Err(ReturnError::Forbidden);
        }
        let events = match command {
            // Handled above; kept total so a new command cannot slip past the checks.
            ReturnCommand::Request { .. } => self.request(command, by),
            ReturnCommand::Approve { now } => match self.status {
                ReturnStatus::Requested => Ok(vec![ReturnEvent::ReturnApproved { at: *now }]),
                ReturnStatus::Approved => Ok(vec![]),
                _ => Err(ReturnError::InvalidTransition),
            },
            ReturnCommand::Reject { reason, now } => {
                check_reason(reason)?;
                match self.status {
                    ReturnStatus::Requested => Ok(vec![ReturnEvent::ReturnRejected {
                        reason: reason.clone(),
                        at: *now,
                    }]),
                    ReturnStatus::Rejected => Ok(vec![]),
                    _ => Err(ReturnError::InvalidTransition),
                }
            }
            ReturnCommand::Cancel { now } => match self.status {
                ReturnStatus::Requested => Ok(vec![ReturnEvent::ReturnCancelled { at: *now }]),
                ReturnStatus::Cancelled => Ok(vec![]),
                _ => Err(ReturnError::InvalidTransition),
            },
            ReturnCommand::Receive { lines, now } => self.receive(request, lines, *now),
            ReturnCommand::RecordStockMoved { sku, now } => {
                self.record_stock_moved(request, sku, *now)
            }
            ReturnCommand::RecordRefund {
                sku,
                refund_id,
                amount,
                now,
            } => self.record_refund(request, sku, refund_id, *amount, *now),
            ReturnCommand::RecordShippingRefund {
                refund_id,
                amount,
                now,
            } => self.record_shipping_refund(refund_id, *amount, *now),
            ReturnCommand::RecordRefundFailed { sku, reason, now } => {
                self.record_refund_failed(request, sku.as_ref(), reason, *now)
            }
        }?;
        self.closing(events, command.now())
    }

    fn evolve(&mut self, event: &ReturnEvent) {
        self.updated_at = Some(event.at());
        match event {
            ReturnEvent::ReturnRequested {
                order_id,
                owner,
                lines,
                at,
            } => {
                self.request = Some(Request {
                    order_id: order_id.clone(),
                    owner: owner.clone(),
                    lines: lines.clone(),
                    requested_at: *at,
                });
                self.status = ReturnStatus::Requested;
            }
            ReturnEvent::ReturnApproved { .. } => self.status = ReturnStatus::Approved,
            ReturnEvent::ReturnRejected { reason, .. } => {
                self.status = ReturnStatus::Rejected;
                self.rejection_reason = Some(reason.clone());
            }
            ReturnEvent::ReturnCancelled { .. } => self.status = ReturnStatus::Cancelled,
            ReturnEvent::ReturnReceived { lines, .. } => {
                self.status = ReturnStatus::Received;
                self.received = lines.clone();
            }
            ReturnEvent::ReturnStockMoved { sku, .. } => {
                self.stock_moved.insert(sku.clone());
            }
            ReturnEvent::ReturnLineRefunded {
                sku,
                refund_id,
                amount,
                ..
            } => {
                self.refunds.insert(
                    sku.clone(),
                    Refunded {
                        refund_id: refund_id.clone(),
                        amount: *amount,
                    },
                );
            }
            ReturnEvent::ReturnShippingRefunded {
                refund_id, amount, ..
            } => {
                self.shipping_refund = Some(Refunded {
                    refund_id: refund_id.clone(),
                    amount: *amount,
                });
            }
            ReturnEvent::ReturnRefundFailed { sku, reason, at } => {
                self.last_refund_failure = Some(RefundFailure {
                    sku: sku.clone(),
                    reason: reason.clone(),
                    at: *at,
                });
            }
            ReturnEvent::ReturnClosed { .. } => self.status = ReturnStatus::Closed,
        }
    }

    fn authorize_read(&self, by: &Principal) -> Result<(), ReturnError> {
        match &self.request {
            Some(request) if access(request, by) != Access::Stranger => Ok(()),
            _ => Err(ReturnError::NotFound),
        }
    }

    fn view(&self, id: &str, version: u64) -> ReturnView {
        let (order_id, owner_kind, customer_id, requested_at) = match &self.request {
            None => (String::new(), "", None, DateTime::<Utc>::UNIX_EPOCH),
            Some(request) => {
                let (kind, customer_id) = match &request.owner {
                    OrderOwner::Guest { .. } => ("guest", None),
                    OrderOwner::Customer { customer_id } => ("customer", Some(*customer_id)),
                };
                (
                    request.order_id.clone(),
                    kind,
                    customer_id,
                    request.requested_at,
                )
            }
        };
        let lines = self
            .lines()
            .iter()
            .map(|line| {
                let received = self.received_line(&line.sku);
                let refund = self.refunds.get(&line.sku);
                ReturnLineView {
                    sku: line.sku.clone(),
                    title: line.title.clone(),
                    quantity: line.quantity,
                    reason: line.reason,
                    note: line.note.clone(),
                    vendor_id: line.vendor_id.clone(),
                    received_quantity: received.map(|r| r.quantity),
                    disposition: received.map(|r| r.disposition),
                    stock_moved: self.stock_moved.contains(&line.sku),
                    refunded: refund.map(|r| r.amount),
                    refund_id: refund.map(|r| r.refund_id.clone()),
                }
            })
            .collect();
        ReturnView {
            id: id.to_string(),
            version,
            order_id,
            status: self.status,
            owner_kind: owner_kind.to_string(),
            customer_id,
            lines,
            rejection_reason: self.rejection_reason.clone(),
            shipping_refund: self.shipping_refund.as_ref().map(|r| r.amount),
            refunded_total: self.refunded_total(),
            last_refund_failure: self.last_refund_failure.clone(),
            requested_at,
            updated_at: self.updated_at.unwrap_or(requested_at),
        }
    }

    /// A vendor's user sees what is its own: its lines, their refunds, the status; not the
    /// shopper's id, the refunds' ids and failures, nor the shop's shipping refund.
    fn view_for(&self, id: &str, version: u64, by: &Principal) -> ReturnView {
        for_caller(self.view(id, version), by)
    }

    fn command_view_for(&self, id: &str, version: u64, by: &Principal) -> ReturnView {
        for_caller(self.command_view(id, version), by)
    }

    fn event_type(event: &ReturnEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Return, ReturnEvent);

pub use agora_kernel::CqrsEnvelope;

#[cfg(test)]
mod tests;

/// `view` as `by` may see it: whole, or narrowed for a vendor's user (see
/// [`Decider::view_for`] on [`Return`]).
fn for_caller(mut view: ReturnView, by: &Principal) -> ReturnView {
    if by.vendor().is_none() {
        return view;
    }
    view.customer_id = None;
    view.shipping_refund = None;
    view.last_refund_failure = None;
    let mut refunded: Option<Money> = None;
    for line in &mut view.lines {
        line.refund_id = None;
        if let Some(m) = line.refunded {
            refunded = Some(match refunded {
                Some(r) => Money::new(r.amount_minor + m.amount_minor, m.currency),
                None => m,
            });
        }
    }
    view.refunded_total = refunded;
    view
}

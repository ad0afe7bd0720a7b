use super::*;
use agora_kernel::Currency;
use chrono::TimeDelta;

const ID: &str = "0b7f3a52-6c1d-4e8f-9a2b-3c4d5e6f7a81";

/// A fixed instant plus `seconds`: tests never read the clock either.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
}

/// The moment of every runner step in these tests.
fn later() -> DateTime<Utc> {
    t(40)
}

fn token_hash(seed: char) -> String {
    seed.to_string().repeat(64)
}

fn guest() -> Principal {
    Principal::Guest {
        token_sha256: token_hash('a'),
    }
}

fn other_guest() -> Principal {
    Principal::Guest {
        token_sha256: token_hash('b'),
    }
}

fn customer_id() -> CustomerId {
    "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69"
        .parse()
        .expect("valid customer id")
}

fn customer() -> Principal {
    Principal::Customer { id: customer_id() }
}

fn other_customer() -> Principal {
    Principal::Customer {
        id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
            .parse()
            .expect("valid customer id"),
    }
}

fn system() -> Principal {
    Principal::system("returns")
}

fn staff(role: &str) -> Principal {
    Principal::Staff {
        id: "sam".into(),
        role: role.into(),
    }
}

/// A user of vendor `vendor`.
fn vendor(vendor: &str) -> Principal {
    Principal::Vendor {
        id: "vic".into(),
        vendor: vendor.into(),
    }
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

fn usd(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::USD)
}

fn sku(s: &str) -> Sku {
    Sku::parse(s).expect("valid sku")
}

fn line(code: &str, quantity: i64, reason: ReturnReason) -> ReturnLine {
    ReturnLine {
        sku: sku(code),
        title: format!("Product {code}"),
        quantity,
        reason,
        note: None,
        vendor_id: None,
    }
}

/// A line sold by `vendor_id`.
fn sold_by(vendor_id: &str, mut line: ReturnLine) -> ReturnLine {
    line.vendor_id = Some(vendor_id.into());
    line
}

/// Two units of A arrived damaged; one of B does not fit.
fn lines() -> Vec<ReturnLine> {
    vec![
        line("A", 2, ReturnReason::Damaged),
        line("B", 1, ReturnReason::SizeOrFit),
    ]
}

fn guest_owner() -> OrderOwner {
    OrderOwner::Guest {
        token_sha256: token_hash('a'),
    }
}

fn request_with(owner: OrderOwner, lines: Vec<ReturnLine>) -> ReturnCommand {
    ReturnCommand::Request {
        order_id: "order-1".into(),
        owner,
        lines,
        now: t(0),
    }
}

fn request() -> ReturnCommand {
    request_with(guest_owner(), lines())
}

fn requested_with(owner: OrderOwner, lines: Vec<ReturnLine>) -> ReturnEvent {
    ReturnEvent::ReturnRequested {
        order_id: "order-1".into(),
        owner,
        lines,
        at: t(0),
    }
}

fn requested() -> ReturnEvent {
    requested_with(guest_owner(), lines())
}

fn got(code: &str, quantity: i64, disposition: Disposition) -> ReceivedLine {
    ReceivedLine {
        sku: sku(code),
        quantity,
        disposition,
    }
}

/// Everything arrived: A goes back on the shelf, B is written off.
fn everything() -> Vec<ReceivedLine> {
    vec![
        got("A", 2, Disposition::Restock),
        got("B", 1, Disposition::WriteOff),
    ]
}

fn receive(lines: Vec<ReceivedLine>) -> ReturnCommand {
    ReturnCommand::Receive { lines, now: t(30) }
}

fn received(lines: Vec<ReceivedLine>) -> ReturnEvent {
    ReturnEvent::ReturnReceived { lines, at: t(30) }
}

fn move_stock(code: &str) -> ReturnCommand {
    ReturnCommand::RecordStockMoved {
        sku: sku(code),
        now: later(),
    }
}

fn stock_moved(code: &str, quantity: i64, disposition: Disposition) -> ReturnEvent {
    ReturnEvent::ReturnStockMoved {
        sku: sku(code),
        quantity,
        disposition,
        at: later(),
    }
}

fn refund(code: &str, refund_id: &str, amount: Money) -> ReturnCommand {
    ReturnCommand::RecordRefund {
        sku: sku(code),
        refund_id: refund_id.into(),
        amount,
        now: later(),
    }
}

fn refunded(code: &str, refund_id: &str, amount: Money) -> ReturnEvent {
    ReturnEvent::ReturnLineRefunded {
        sku: sku(code),
        refund_id: refund_id.into(),
        amount,
        at: later(),
    }
}

fn refund_shipping(refund_id: &str, amount: Money) -> ReturnCommand {
    ReturnCommand::RecordShippingRefund {
        refund_id: refund_id.into(),
        amount,
        now: later(),
    }
}

fn shipping_refunded(refund_id: &str, amount: Money) -> ReturnEvent {
    ReturnEvent::ReturnShippingRefunded {
        refund_id: refund_id.into(),
        amount,
        at: later(),
    }
}

fn refund_failed(code: Option<&str>, reason: &str) -> ReturnCommand {
    ReturnCommand::RecordRefundFailed {
        sku: code.map(sku),
        reason: reason.into(),
        now: later(),
    }
}

fn closed(refunded: Money) -> ReturnEvent {
    ReturnEvent::ReturnClosed {
        refunded,
        at: later(),
    }
}

fn approve() -> ReturnCommand {
    ReturnCommand::Approve { now: t(10) }
}

fn reject(reason: &str) -> ReturnCommand {
    ReturnCommand::Reject {
        reason: reason.into(),
        now: t(10),
    }
}

fn cancel() -> ReturnCommand {
    ReturnCommand::Cancel { now: t(10) }
}

fn at_requested() -> Vec<ReturnEvent> {
    vec![requested()]
}

fn at_approved() -> Vec<ReturnEvent> {
    vec![requested(), ReturnEvent::ReturnApproved { at: t(10) }]
}

fn at_rejected() -> Vec<ReturnEvent> {
    vec![
        requested(),
        ReturnEvent::ReturnRejected {
            reason: "worn".into(),
            at: t(10),
        },
    ]
}

fn at_cancelled() -> Vec<ReturnEvent> {
    vec![requested(), ReturnEvent::ReturnCancelled { at: t(10) }]
}

fn at_received() -> Vec<ReturnEvent> {
    let mut events = at_approved();
    events.push(received(everything()));
    events
}

/// Received, with everything but B's refund done.
fn at_almost_done() -> Vec<ReturnEvent> {
    let mut events = at_received();
    events.extend([
        stock_moved("A", 2, Disposition::Restock),
        stock_moved("B", 1, Disposition::WriteOff),
        refunded("A", "re_a", eur(2000)),
    ]);
    events
}

fn at_closed() -> Vec<ReturnEvent> {
    let mut events = at_almost_done();
    events.extend([refunded("B", "re_b", eur(500)), closed(eur(2500))]);
    events
}

fn with(
    mut given: Vec<ReturnEvent>,
    more: impl IntoIterator<Item = ReturnEvent>,
) -> Vec<ReturnEvent> {
    given.extend(more);
    given
}

fn state(given: &[ReturnEvent]) -> Return {
    let mut rma = Return::default();
    for e in given {
        rma.evolve(e);
    }
    rma
}

/// Given events, when a command by a principal, then these events or this error.
fn check(
    given: Vec<ReturnEvent>,
    by: Principal,
    when: ReturnCommand,
    then: Result<Vec<ReturnEvent>, ReturnError>,
) {
    assert_eq!(
        state(&given).decide(ID, &when, &by),
        then,
        "{when:?} by {by:?}"
    );
}

/// One command of each kind but `Request`, all valid in some state.
fn every_later_command() -> Vec<ReturnCommand> {
    vec![
        approve(),
        reject("worn"),
        cancel(),
        receive(everything()),
        move_stock("A"),
        refund("A", "re_a", eur(2000)),
        refund_shipping("re_s", eur(499)),
        refund_failed(Some("A"), "declined"),
    ]
}

fn is_platform_only(command: &ReturnCommand) -> bool {
    matches!(
        command,
        ReturnCommand::RecordStockMoved { .. }
            | ReturnCommand::RecordRefund { .. }
            | ReturnCommand::RecordShippingRefund { .. }
            | ReturnCommand::RecordRefundFailed { .. }
    )
}

// Requesting.

#[test]
fn requesting_a_return_records_the_order_its_owner_and_its_lines() {
    check(vec![], system(), request(), Ok(vec![requested()]));
    let owner = OrderOwner::Customer {
        customer_id: customer_id(),
    };
    check(
        vec![],
        system(),
        request_with(owner.clone(), lines()),
        Ok(vec![requested_with(owner, lines())]),
    );
}

#[test]
fn only_the_platform_requests_returns() {
    for by in [
        staff("admin"),
        staff("staff"),
        staff("auditor"),
        guest(),
        customer(),
    ] {
        check(vec![], by.clone(), request(), Err(ReturnError::Forbidden));
        // Even on an existing return: the refusal comes first and reveals nothing.
        check(at_requested(), by, request(), Err(ReturnError::Forbidden));
    }
}

#[test]
fn requesting_an_existing_return_again_is_a_conflict() {
    for given in [at_requested(), at_cancelled(), at_closed()] {
        check(given, system(), request(), Err(ReturnError::AlreadyExists));
    }
}

#[test]
fn a_request_needs_one_to_a_hundred_lines_of_distinct_skus() {
    let check_lines = |lines: Vec<ReturnLine>, then: Result<(), ReturnError>| {
        let expected = then.map(|()| vec![requested_with(guest_owner(), lines.clone())]);
        check(
            vec![],
            system(),
            request_with(guest_owner(), lines),
            expected,
        );
    };
    let many = |n: usize| -> Vec<ReturnLine> {
        (0..n)
            .map(|i| line(&format!("SKU-{i}"), 1, ReturnReason::Other))
            .collect()
    };
    check_lines(vec![], Err(ReturnError::Empty));
    check_lines(many(MAX_LINES), Ok(()));
    check_lines(many(MAX_LINES + 1), Err(ReturnError::TooManyLines));
    check_lines(
        vec![
            line("A", 1, ReturnReason::Damaged),
            line("A", 1, ReturnReason::Other),
        ],
        Err(ReturnError::DuplicateSku),
    );
}

/// One way to change a valid line, for tests that try many.
type Change<'a> = &'a dyn Fn(&mut ReturnLine);

#[test]
fn a_request_line_has_a_bounded_quantity_a_title_and_at_most_a_short_note() {
    let one = |change: &dyn Fn(&mut ReturnLine)| {
        let mut line = line("A", 1, ReturnReason::Defective);
        change(&mut line);
        vec![line]
    };
    let refused: [(Change, ReturnError); 6] = [
        (&|l| l.quantity = 0, ReturnError::QuantityOutOfRange),
        (&|l| l.quantity = -1, ReturnError::QuantityOutOfRange),
        (
            &|l| l.quantity = MAX_QUANTITY + 1,
            ReturnError::QuantityOutOfRange,
        ),
        (&|l| l.title = "  ".into(), ReturnError::InvalidTitle),
        (
            &|l| l.title = "é".repeat(MAX_TITLE_CHARS + 1),
            ReturnError::InvalidTitle,
        ),
        (
            &|l| l.note = Some("é".repeat(MAX_NOTE_CHARS + 1)),
            ReturnError::NoteTooLong,
        ),
    ];
    for (change, error) in refused {
        check(
            vec![],
            system(),
            request_with(guest_owner(), one(change)),
            Err(error),
        );
    }
    // The limits themselves are fine; characters are counted, not bytes.
    let at_limits = one(&|l| {
        l.quantity = MAX_QUANTITY;
        l.title = "é".repeat(MAX_TITLE_CHARS);
        l.note = Some("é".repeat(MAX_NOTE_CHARS));
    });
    check(
        vec![],
        system(),
        request_with(guest_owner(), at_limits.clone()),
        Ok(vec![requested_with(guest_owner(), at_limits)]),
    );
}

#[test]
fn a_request_names_its_order() {
    for order_id in [
        String::new(),
        "   ".into(),
        "o".repeat(MAX_ORDER_ID_CHARS + 1),
    ] {
        check(
            vec![],
            system(),
            ReturnCommand::Request {
                order_id,
                owner: guest_owner(),
                lines: lines(),
                now: t(0),
            },
            Err(ReturnError::InvalidOrderId),
        );
    }
}

#[test]
fn a_guest_owner_is_recorded_by_a_token_hash_only() {
    for token_sha256 in [String::new(), "ab".into(), "g".repeat(64), "a".repeat(65)] {
        check(
            vec![],
            system(),
            request_with(OrderOwner::Guest { token_sha256 }, lines()),
            Err(ReturnError::InvalidOwner),
        );
    }
}

// Deciding: approve, reject, cancel.

#[test]
fn admins_staff_and_the_platform_approve_a_requested_return() {
    for by in [staff("admin"), staff("staff"), system()] {
        check(
            at_requested(),
            by,
            approve(),
            Ok(vec![ReturnEvent::ReturnApproved { at: t(10) }]),
        );
    }
}

#[test]
fn approving_again_records_nothing() {
    check(at_approved(), staff("staff"), approve(), Ok(vec![]));
}

#[test]
fn a_return_decided_otherwise_or_received_can_no_longer_be_approved() {
    for given in [at_rejected(), at_cancelled(), at_received(), at_closed()] {
        check(
            given,
            staff("staff"),
            approve(),
            Err(ReturnError::InvalidTransition),
        );
    }
}

#[test]
fn admins_staff_and_the_platform_reject_a_requested_return_saying_why() {
    for by in [staff("admin"), staff("staff"), system()] {
        check(
            at_requested(),
            by,
            reject("worn"),
            Ok(vec![ReturnEvent::ReturnRejected {
                reason: "worn".into(),
                at: t(10),
            }]),
        );
    }
}

#[test]
fn rejecting_again_records_nothing() {
    check(at_rejected(), staff("staff"), reject("worn"), Ok(vec![]));
    check(at_rejected(), staff("staff"), reject("other"), Ok(vec![]));
}

#[test]
fn a_rejection_needs_a_short_reason() {
    for reason in [String::new(), " ".into(), "x".repeat(MAX_REASON_CHARS + 1)] {
        check(
            at_requested(),
            staff("staff"),
            reject(&reason),
            Err(ReturnError::InvalidReason),
        );
    }
}

#[test]
fn an_approved_or_cancelled_return_can_no_longer_be_rejected() {
    for given in [at_approved(), at_cancelled(), at_received(), at_closed()] {
        check(
            given,
            staff("staff"),
            reject("worn"),
            Err(ReturnError::InvalidTransition),
        );
    }
}

#[test]
fn the_owner_the_back_office_and_the_platform_cancel_a_requested_return() {
    let by_customer = vec![requested_with(
        OrderOwner::Customer {
            customer_id: customer_id(),
        },
        lines(),
    )];
    let cancelled = Ok(vec![ReturnEvent::ReturnCancelled { at: t(10) }]);
    check(at_requested(), guest(), cancel(), cancelled.clone());
    check(by_customer, customer(), cancel(), cancelled.clone());
    for by in [staff("admin"), staff("staff"), system()] {
        check(at_requested(), by, cancel(), cancelled.clone());
    }
}

#[test]
fn cancelling_again_records_nothing() {
    check(at_cancelled(), guest(), cancel(), Ok(vec![]));
}

#[test]
fn a_decided_return_can_no_longer_be_cancelled() {
    for given in [at_approved(), at_rejected(), at_received(), at_closed()] {
        check(
            given,
            guest(),
            cancel(),
            Err(ReturnError::InvalidTransition),
        );
    }
}

// Receiving.

#[test]
fn receiving_an_approved_return_records_what_arrived() {
    for by in [staff("admin"), staff("staff"), system()] {
        check(
            at_approved(),
            by,
            receive(everything()),
            Ok(vec![received(everything())]),
        );
    }
}

#[test]
fn a_receipt_may_leave_out_lines_and_units_that_did_not_arrive() {
    let one_a = vec![got("A", 1, Disposition::Restock)];
    check(
        at_approved(),
        staff("staff"),
        receive(one_a.clone()),
        Ok(vec![received(one_a)]),
    );
}

#[test]
fn a_receipt_names_requested_lines_once_and_at_most_their_units() {
    let refused = [
        (vec![], ReturnError::Empty),
        (
            vec![got("C", 1, Disposition::Restock)],
            ReturnError::UnknownLine,
        ),
        (
            vec![
                got("A", 1, Disposition::Restock),
                got("A", 1, Disposition::WriteOff),
            ],
            ReturnError::DuplicateSku,
        ),
        (
            vec![got("A", 0, Disposition::Restock)],
            ReturnError::QuantityOutOfRange,
        ),
        (
            vec![got("A", -2, Disposition::Restock)],
            ReturnError::QuantityOutOfRange,
        ),
        (
            vec![got("A", 3, Disposition::Restock)],
            ReturnError::ExceedsRequested,
        ),
    ];
    for (lines, error) in refused {
        check(at_approved(), staff("staff"), receive(lines), Err(error));
    }
}

#[test]
fn a_return_is_received_only_once_approved() {
    for given in [at_requested(), at_rejected(), at_cancelled()] {
        check(
            given,
            staff("staff"),
            receive(everything()),
            Err(ReturnError::InvalidTransition),
        );
    }
}

#[test]
fn receiving_the_same_units_again_records_nothing_in_any_order() {
    let reordered = vec![
        got("B", 1, Disposition::WriteOff),
        got("A", 2, Disposition::Restock),
    ];
    for given in [at_received(), at_closed()] {
        check(
            given.clone(),
            staff("staff"),
            receive(everything()),
            Ok(vec![]),
        );
        check(
            given,
            staff("staff"),
            receive(reordered.clone()),
            Ok(vec![]),
        );
    }
}

#[test]
fn receiving_other_units_after_the_receipt_is_refused() {
    for lines in [
        vec![got("A", 2, Disposition::Restock)],
        vec![
            got("A", 2, Disposition::WriteOff),
            got("B", 1, Disposition::WriteOff),
        ],
        vec![
            got("A", 1, Disposition::Restock),
            got("B", 1, Disposition::WriteOff),
        ],
    ] {
        check(
            at_received(),
            staff("staff"),
            receive(lines),
            Err(ReturnError::InvalidTransition),
        );
    }
}

// Moving stock.

#[test]
fn the_runner_records_moved_stock_with_the_received_units_and_disposition() {
    check(
        at_received(),
        system(),
        move_stock("A"),
        Ok(vec![stock_moved("A", 2, Disposition::Restock)]),
    );
    check(
        at_received(),
        system(),
        move_stock("B"),
        Ok(vec![stock_moved("B", 1, Disposition::WriteOff)]),
    );
}

#[test]
fn moving_stock_again_records_nothing() {
    let given = with(at_received(), [stock_moved("A", 2, Disposition::Restock)]);
    check(given, system(), move_stock("A"), Ok(vec![]));
    check(at_closed(), system(), move_stock("B"), Ok(vec![]));
}

#[test]
fn stock_is_moved_only_for_received_lines() {
    check(
        at_received(),
        system(),
        move_stock("C"),
        Err(ReturnError::UnknownLine),
    );
    let only_a = with(
        at_approved(),
        [received(vec![got("A", 1, Disposition::Restock)])],
    );
    check(
        only_a,
        system(),
        move_stock("B"),
        Err(ReturnError::LineNotReceived),
    );
    for given in [at_requested(), at_approved(), at_rejected(), at_cancelled()] {
        check(
            given,
            system(),
            move_stock("A"),
            Err(ReturnError::InvalidTransition),
        );
    }
}

// Refunding lines.

#[test]
fn the_runner_records_a_line_refund() {
    check(
        at_received(),
        system(),
        refund("A", "re_a", eur(2000)),
        Ok(vec![refunded("A", "re_a", eur(2000))]),
    );
}

#[test]
fn a_refund_may_give_back_nothing_but_never_less() {
    check(
        at_received(),
        system(),
        refund("A", "re_a", eur(0)),
        Ok(vec![refunded("A", "re_a", eur(0))]),
    );
    check(
        at_received(),
        system(),
        refund("A", "re_a", eur(-1)),
        Err(ReturnError::InvalidAmount),
    );
}

#[test]
fn refunding_a_line_again_with_the_same_refund_records_nothing() {
    let given = with(at_received(), [refunded("A", "re_a", eur(2000))]);
    check(given, system(), refund("A", "re_a", eur(2000)), Ok(vec![]));
    // Also once the return closed: the last refund's retry arrives after the close.
    check(
        at_closed(),
        system(),
        refund("B", "re_b", eur(500)),
        Ok(vec![]),
    );
}

#[test]
fn refunding_a_refunded_line_with_another_refund_is_a_conflict() {
    let given = with(at_received(), [refunded("A", "re_a", eur(2000))]);
    check(
        given.clone(),
        system(),
        refund("A", "re_other", eur(2000)),
        Err(ReturnError::AlreadyRefunded),
    );
    check(
        given,
        system(),
        refund("A", "re_a", eur(1999)),
        Err(ReturnError::AlreadyRefunded),
    );
}

#[test]
fn refunds_are_for_received_lines_only() {
    check(
        at_received(),
        system(),
        refund("C", "re_c", eur(1)),
        Err(ReturnError::UnknownLine),
    );
    let only_a = with(
        at_approved(),
        [received(vec![got("A", 1, Disposition::Restock)])],
    );
    check(
        only_a,
        system(),
        refund("B", "re_b", eur(500)),
        Err(ReturnError::LineNotReceived),
    );
    for given in [at_requested(), at_approved(), at_rejected(), at_cancelled()] {
        check(
            given,
            system(),
            refund("A", "re_a", eur(2000)),
            Err(ReturnError::InvalidTransition),
        );
    }
}

#[test]
fn a_refund_needs_a_refund_id() {
    for refund_id in [
        String::new(),
        "  ".into(),
        "r".repeat(MAX_REFUND_ID_CHARS + 1),
    ] {
        check(
            at_received(),
            system(),
            refund("A", &refund_id, eur(2000)),
            Err(ReturnError::InvalidRefundId),
        );
        check(
            at_received(),
            system(),
            refund_shipping(&refund_id, eur(499)),
            Err(ReturnError::InvalidRefundId),
        );
    }
}

#[test]
fn a_refund_id_is_recorded_for_one_line_or_the_shipping_only() {
    let given = with(at_received(), [refunded("A", "re_1", eur(2000))]);
    check(
        given.clone(),
        system(),
        refund("B", "re_1", eur(500)),
        Err(ReturnError::DuplicateRefundId),
    );
    check(
        given,
        system(),
        refund_shipping("re_1", eur(499)),
        Err(ReturnError::DuplicateRefundId),
    );
    let given = with(at_received(), [shipping_refunded("re_1", eur(499))]);
    check(
        given,
        system(),
        refund("A", "re_1", eur(2000)),
        Err(ReturnError::DuplicateRefundId),
    );
}

#[test]
fn the_refunds_of_a_return_are_in_one_currency() {
    let given = with(at_received(), [refunded("A", "re_a", eur(2000))]);
    check(
        given.clone(),
        system(),
        refund("B", "re_b", usd(500)),
        Err(ReturnError::CurrencyMismatch),
    );
    check(
        given,
        system(),
        refund_shipping("re_s", usd(499)),
        Err(ReturnError::CurrencyMismatch),
    );
}

#[test]
fn refunds_whose_sum_would_overflow_are_refused() {
    let given = with(at_received(), [refunded("A", "re_a", eur(i64::MAX))]);
    check(
        given,
        system(),
        refund("B", "re_b", eur(1)),
        Err(ReturnError::InvalidAmount),
    );
}

// Refunding shipping.

#[test]
fn the_runner_records_a_shipping_refund() {
    check(
        at_received(),
        system(),
        refund_shipping("re_s", eur(499)),
        Ok(vec![shipping_refunded("re_s", eur(499))]),
    );
}

#[test]
fn shipping_is_refunded_at_most_once() {
    let given = with(at_received(), [shipping_refunded("re_s", eur(499))]);
    check(
        given.clone(),
        system(),
        refund_shipping("re_s", eur(499)),
        Ok(vec![]),
    );
    check(
        given.clone(),
        system(),
        refund_shipping("re_other", eur(499)),
        Err(ReturnError::AlreadyRefunded),
    );
    check(
        given,
        system(),
        refund_shipping("re_s", eur(1)),
        Err(ReturnError::AlreadyRefunded),
    );
}

#[test]
fn shipping_is_refunded_only_while_the_return_is_received() {
    for given in [at_requested(), at_approved(), at_rejected(), at_cancelled()] {
        check(
            given,
            system(),
            refund_shipping("re_s", eur(499)),
            Err(ReturnError::InvalidTransition),
        );
    }
    // Too late once closed: the runner refunds shipping before the last line step.
    check(
        at_closed(),
        system(),
        refund_shipping("re_s", eur(499)),
        Err(ReturnError::InvalidTransition),
    );
}

// Refund failures.

#[test]
fn a_failed_refund_is_recorded_and_the_return_stays_received() {
    check(
        at_received(),
        system(),
        refund_failed(Some("A"), "card expired"),
        Ok(vec![ReturnEvent::ReturnRefundFailed {
            sku: Some(sku("A")),
            reason: "card expired".into(),
            at: later(),
        }]),
    );
    check(
        at_received(),
        system(),
        refund_failed(None, "provider down"),
        Ok(vec![ReturnEvent::ReturnRefundFailed {
            sku: None,
            reason: "provider down".into(),
            at: later(),
        }]),
    );
    let failed = state(&with(
        at_received(),
        [ReturnEvent::ReturnRefundFailed {
            sku: Some(sku("A")),
            reason: "card expired".into(),
            at: later(),
        }],
    ));
    assert_eq!(failed.status(), ReturnStatus::Received);
    assert_eq!(failed.next_steps(), state(&at_received()).next_steps());
}

#[test]
fn a_refund_failure_names_a_reason_and_a_received_line() {
    for reason in [String::new(), "x".repeat(MAX_REASON_CHARS + 1)] {
        check(
            at_received(),
            system(),
            refund_failed(Some("A"), &reason),
            Err(ReturnError::InvalidReason),
        );
    }
    check(
        at_received(),
        system(),
        refund_failed(Some("C"), "declined"),
        Err(ReturnError::UnknownLine),
    );
    let only_a = with(
        at_approved(),
        [received(vec![got("A", 1, Disposition::Restock)])],
    );
    check(
        only_a,
        system(),
        refund_failed(Some("B"), "declined"),
        Err(ReturnError::LineNotReceived),
    );
}

#[test]
fn refund_failures_are_reported_only_while_the_return_is_received() {
    for given in [at_approved(), at_rejected(), at_closed()] {
        check(
            given,
            system(),
            refund_failed(Some("A"), "declined"),
            Err(ReturnError::InvalidTransition),
        );
    }
}

// Closing.

#[test]
fn the_last_line_refund_closes_the_return_with_the_sum_refunded() {
    check(
        at_almost_done(),
        system(),
        refund("B", "re_b", eur(500)),
        Ok(vec![refunded("B", "re_b", eur(500)), closed(eur(2500))]),
    );
}

#[test]
fn the_last_stock_move_closes_the_return_too() {
    let given = with(
        at_received(),
        [
            stock_moved("A", 2, Disposition::Restock),
            refunded("A", "re_a", eur(2000)),
            refunded("B", "re_b", eur(500)),
        ],
    );
    check(
        given,
        system(),
        move_stock("B"),
        Ok(vec![
            stock_moved("B", 1, Disposition::WriteOff),
            closed(eur(2500)),
        ]),
    );
}

#[test]
fn a_shipping_refund_recorded_first_counts_in_what_the_closed_return_refunded() {
    let given = with(at_almost_done(), [shipping_refunded("re_s", eur(499))]);
    check(
        given,
        system(),
        refund("B", "re_b", eur(500)),
        Ok(vec![refunded("B", "re_b", eur(500)), closed(eur(2999))]),
    );
}

#[test]
fn a_partly_received_return_closes_once_its_received_lines_are_done() {
    let given = with(
        at_approved(),
        [
            received(vec![got("A", 1, Disposition::Restock)]),
            stock_moved("A", 1, Disposition::Restock),
        ],
    );
    check(
        given,
        system(),
        refund("A", "re_a", eur(1000)),
        Ok(vec![refunded("A", "re_a", eur(1000)), closed(eur(1000))]),
    );
}

#[test]
fn a_return_with_steps_left_stays_open() {
    check(
        at_received(),
        system(),
        refund_shipping("re_s", eur(499)),
        Ok(vec![shipping_refunded("re_s", eur(499))]),
    );
    check(
        with(at_received(), [stock_moved("A", 2, Disposition::Restock)]),
        system(),
        refund("A", "re_a", eur(2000)),
        Ok(vec![refunded("A", "re_a", eur(2000))]),
    );
    check(
        at_almost_done(),
        system(),
        refund_failed(Some("B"), "declined"),
        Ok(vec![ReturnEvent::ReturnRefundFailed {
            sku: Some(sku("B")),
            reason: "declined".into(),
            at: later(),
        }]),
    );
}

#[test]
fn a_closed_return_is_closed_with_every_step_recorded() {
    let rma = state(&at_closed());
    assert_eq!(rma.status(), ReturnStatus::Closed);
    assert_eq!(rma.refunded_total(), Some(eur(2500)));
    assert_eq!(rma.next_steps(), vec![]);
}

// Who may do what.

#[test]
fn only_the_platform_records_stock_moves_refunds_and_failures() {
    for command in every_later_command().into_iter().filter(is_platform_only) {
        for by in [staff("admin"), staff("staff"), staff("auditor"), guest()] {
            check(
                at_received(),
                by,
                command.clone(),
                Err(ReturnError::Forbidden),
            );
        }
    }
}

#[test]
fn the_owner_and_auditors_may_not_approve_reject_or_receive() {
    for (given, command) in [
        (at_requested(), approve()),
        (at_requested(), reject("worn")),
        (at_approved(), receive(everything())),
    ] {
        for by in [guest(), staff("auditor")] {
            check(
                given.clone(),
                by,
                command.clone(),
                Err(ReturnError::Forbidden),
            );
        }
    }
}

#[test]
fn auditors_may_not_cancel() {
    check(
        at_requested(),
        staff("auditor"),
        cancel(),
        Err(ReturnError::Forbidden),
    );
}

#[test]
fn strangers_learn_nothing_about_a_return() {
    let strangers = [other_guest(), customer(), other_customer(), staff("vendor")];
    for command in every_later_command() {
        for by in strangers.clone() {
            check(
                at_received(),
                by.clone(),
                command.clone(),
                Err(ReturnError::NotFound),
            );
            assert_eq!(
                state(&at_received()).authorize_read(&by),
                Err(ReturnError::NotFound)
            );
        }
    }
    // A customer's return is nobody else's either, a guest's included.
    let by_customer = vec![requested_with(
        OrderOwner::Customer {
            customer_id: customer_id(),
        },
        lines(),
    )];
    for by in [guest(), other_customer()] {
        check(
            by_customer.clone(),
            by.clone(),
            cancel(),
            Err(ReturnError::NotFound),
        );
        assert_eq!(
            state(&by_customer).authorize_read(&by),
            Err(ReturnError::NotFound)
        );
    }
}

#[test]
fn commands_to_a_return_never_requested_find_nothing() {
    for command in every_later_command() {
        for by in [system(), staff("admin"), guest()] {
            check(vec![], by, command.clone(), Err(ReturnError::NotFound));
        }
    }
}

#[test]
fn the_platform_the_back_office_auditors_and_the_owner_read_a_return() {
    for by in [
        system(),
        staff("admin"),
        staff("staff"),
        staff("auditor"),
        guest(),
    ] {
        assert_eq!(state(&at_received()).authorize_read(&by), Ok(()), "{by:?}");
    }
    let by_customer = vec![requested_with(
        OrderOwner::Customer {
            customer_id: customer_id(),
        },
        lines(),
    )];
    assert_eq!(state(&by_customer).authorize_read(&customer()), Ok(()));
    // Nobody reads a return that was never requested.
    assert_eq!(
        Return::default().authorize_read(&system()),
        Err(ReturnError::NotFound)
    );
}

// Marketplace vendors.

/// Both lines of `lines()`, sold by `vendor_id`.
fn lines_of(vendor_id: &str) -> Vec<ReturnLine> {
    lines().into_iter().map(|l| sold_by(vendor_id, l)).collect()
}

/// A (guest's) return of lines all sold by `acme`, requested.
fn acme_requested() -> Vec<ReturnEvent> {
    vec![requested_with(guest_owner(), lines_of("acme"))]
}

fn acme_approved() -> Vec<ReturnEvent> {
    with(
        acme_requested(),
        [ReturnEvent::ReturnApproved { at: t(10) }],
    )
}

fn acme_received() -> Vec<ReturnEvent> {
    with(acme_approved(), [received(everything())])
}

/// A return of A from `acme` and B from `globex`.
fn mixed_requested() -> Vec<ReturnEvent> {
    let [a, b] = [
        line("A", 2, ReturnReason::Damaged),
        line("B", 1, ReturnReason::SizeOrFit),
    ];
    vec![requested_with(
        guest_owner(),
        vec![sold_by("acme", a), sold_by("globex", b)],
    )]
}

#[test]
fn a_request_records_the_vendor_of_each_line() {
    let lines = vec![
        sold_by("acme", line("A", 2, ReturnReason::Damaged)),
        line("B", 1, ReturnReason::SizeOrFit),
    ];
    check(
        vec![],
        system(),
        request_with(guest_owner(), lines.clone()),
        Ok(vec![requested_with(guest_owner(), lines.clone())]),
    );
    let rma = state(&[requested_with(guest_owner(), lines)]);
    let vendors: Vec<_> = rma.lines().iter().map(|l| l.vendor_id.as_deref()).collect();
    assert_eq!(vendors, [Some("acme"), None]);
}

#[test]
fn a_lines_vendor_id_is_1_to_64_characters_without_spaces_or_controls() {
    let too_long = "v".repeat(MAX_VENDOR_ID_CHARS + 1);
    for vendor_id in ["", " ", "ac me", "acme\t", "ac\u{0}me", &too_long] {
        let lines = vec![sold_by(vendor_id, line("A", 1, ReturnReason::Damaged))];
        check(
            vec![],
            system(),
            request_with(guest_owner(), lines),
            Err(ReturnError::InvalidVendorId),
        );
    }
    let longest = "é".repeat(MAX_VENDOR_ID_CHARS);
    for vendor_id in ["acme", "0b7f3a52-6c1d-4e8f-9a2b-3c4d5e6f7a81", &longest] {
        let lines = vec![sold_by(vendor_id, line("A", 1, ReturnReason::Damaged))];
        check(
            vec![],
            system(),
            request_with(guest_owner(), lines.clone()),
            Ok(vec![requested_with(guest_owner(), lines)]),
        );
    }
}

#[test]
fn the_vendor_of_every_line_reads_approves_and_rejects_the_return() {
    assert_eq!(
        state(&acme_requested()).authorize_read(&vendor("acme")),
        Ok(())
    );
    check(
        acme_requested(),
        vendor("acme"),
        approve(),
        Ok(vec![ReturnEvent::ReturnApproved { at: t(10) }]),
    );
    check(
        acme_requested(),
        vendor("acme"),
        reject("worn"),
        Ok(vec![ReturnEvent::ReturnRejected {
            reason: "worn".into(),
            at: t(10),
        }]),
    );
    // Retries and refusals of state are the same as for staff.
    check(acme_approved(), vendor("acme"), approve(), Ok(vec![]));
    check(
        acme_approved(),
        vendor("acme"),
        reject("worn"),
        Err(ReturnError::InvalidTransition),
    );
}

#[test]
fn the_vendor_of_every_line_receives_the_return() {
    check(
        acme_approved(),
        vendor("acme"),
        receive(everything()),
        Ok(vec![received(everything())]),
    );
    check(
        acme_received(),
        vendor("acme"),
        receive(everything()),
        Ok(vec![]),
    );
    check(
        acme_approved(),
        vendor("acme"),
        receive(vec![got("A", 3, Disposition::Restock)]),
        Err(ReturnError::ExceedsRequested),
    );
    assert_eq!(
        state(&acme_received()).authorize_read(&vendor("acme")),
        Ok(())
    );
}

#[test]
fn another_vendor_finds_no_return() {
    for given in [acme_requested(), acme_approved(), acme_received()] {
        for command in every_later_command() {
            check(
                given.clone(),
                vendor("globex"),
                command,
                Err(ReturnError::NotFound),
            );
        }
        assert_eq!(
            state(&given).authorize_read(&vendor("globex")),
            Err(ReturnError::NotFound)
        );
    }
}

#[test]
fn the_shops_own_returns_do_not_exist_for_a_vendor() {
    for given in [at_requested(), at_received()] {
        for command in every_later_command() {
            check(
                given.clone(),
                vendor("acme"),
                command,
                Err(ReturnError::NotFound),
            );
        }
        assert_eq!(
            state(&given).authorize_read(&vendor("acme")),
            Err(ReturnError::NotFound)
        );
    }
    // Nor does a return that was never requested.
    check(
        vec![],
        vendor("acme"),
        approve(),
        Err(ReturnError::NotFound),
    );
    assert_eq!(
        Return::default().authorize_read(&vendor("acme")),
        Err(ReturnError::NotFound)
    );
}

#[test]
fn a_return_spanning_vendors_is_no_vendors_but_staff_handle_it() {
    let mut acme_and_shop = lines();
    acme_and_shop[0].vendor_id = Some("acme".into());
    let acme_and_shop = vec![requested_with(guest_owner(), acme_and_shop)];
    for given in [mixed_requested(), acme_and_shop] {
        for by in [vendor("acme"), vendor("globex")] {
            for command in [approve(), reject("worn"), cancel()] {
                check(
                    given.clone(),
                    by.clone(),
                    command,
                    Err(ReturnError::NotFound),
                );
            }
            assert_eq!(
                state(&given).authorize_read(&by),
                Err(ReturnError::NotFound)
            );
        }
        for by in [staff("admin"), staff("staff"), staff("auditor"), system()] {
            assert_eq!(state(&given).authorize_read(&by), Ok(()), "{by:?}");
        }
        check(
            given,
            staff("staff"),
            approve(),
            Ok(vec![ReturnEvent::ReturnApproved { at: t(10) }]),
        );
    }
    let mixed_approved = with(
        mixed_requested(),
        [ReturnEvent::ReturnApproved { at: t(10) }],
    );
    check(
        mixed_approved.clone(),
        vendor("acme"),
        receive(vec![got("A", 2, Disposition::Restock)]),
        Err(ReturnError::NotFound),
    );
    check(
        mixed_approved,
        staff("staff"),
        receive(everything()),
        Ok(vec![received(everything())]),
    );
}

#[test]
fn a_vendor_may_not_request_or_withdraw_a_return() {
    let own = request_with(guest_owner(), lines_of("acme"));
    check(
        vec![],
        vendor("acme"),
        own.clone(),
        Err(ReturnError::Forbidden),
    );
    check(
        acme_requested(),
        vendor("acme"),
        own,
        Err(ReturnError::Forbidden),
    );
    check(
        acme_requested(),
        vendor("acme"),
        cancel(),
        Err(ReturnError::Forbidden),
    );
    // The shopper still withdraws a vendor's return.
    check(
        acme_requested(),
        guest(),
        cancel(),
        Ok(vec![ReturnEvent::ReturnCancelled { at: t(10) }]),
    );
}

#[test]
fn a_vendor_records_none_of_the_runners_steps() {
    for command in every_later_command().into_iter().filter(is_platform_only) {
        check(
            acme_received(),
            vendor("acme"),
            command,
            Err(ReturnError::Forbidden),
        );
    }
}

#[test]
fn staff_the_platform_and_the_owner_handle_a_vendors_return_as_before() {
    for by in [staff("admin"), staff("staff"), system()] {
        check(
            acme_requested(),
            by.clone(),
            approve(),
            Ok(vec![ReturnEvent::ReturnApproved { at: t(10) }]),
        );
        check(
            acme_approved(),
            by,
            receive(everything()),
            Ok(vec![received(everything())]),
        );
    }
    for by in [staff("auditor"), guest()] {
        assert_eq!(state(&acme_received()).authorize_read(&by), Ok(()));
        check(acme_requested(), by, approve(), Err(ReturnError::Forbidden));
    }
    check(
        acme_received(),
        system(),
        move_stock("A"),
        Ok(vec![stock_moved("A", 2, Disposition::Restock)]),
    );
    for by in [other_guest(), other_customer(), staff("vendor")] {
        assert_eq!(
            state(&acme_received()).authorize_read(&by),
            Err(ReturnError::NotFound)
        );
    }
}

#[test]
fn the_view_shows_the_vendor_of_each_line() {
    let view = state(&mixed_requested()).view(ID, 1);
    let vendors: Vec<_> = view.lines.iter().map(|l| l.vendor_id.as_deref()).collect();
    assert_eq!(vendors, [Some("acme"), Some("globex")]);
    let json = serde_json::to_value(&view).expect("serializes");
    assert_eq!(json["lines"][1]["vendor_id"], "globex");
    // The shop's own lines keep the view's old shape.
    let json = serde_json::to_value(state(&at_requested()).view(ID, 1)).expect("serializes");
    assert!(json["lines"][0].get("vendor_id").is_none(), "{json}");
}

#[test]
fn returns_requested_before_vendors_still_read_as_the_shops() {
    let stored = serde_json::json!({"ReturnRequested": {
        "order_id": "order-1",
        "owner": {"kind": "guest", "token_sha256": token_hash('a')},
        "lines": [
            {"sku": "A", "title": "Product A", "quantity": 2, "reason": "damaged", "note": null},
            {"sku": "B", "title": "Product B", "quantity": 1, "reason": "size_or_fit", "note": null}
        ],
        "at": t(0)
    }});
    let event: ReturnEvent = serde_json::from_value(stored.clone()).expect("parses");
    assert_eq!(event, requested());
    // And the shop's own lines are still written in that shape.
    assert_eq!(serde_json::to_value(&event).expect("serializes"), stored);
    let rma = state(&[event]);
    assert!(rma.lines().iter().all(|l| l.vendor_id.is_none()));
    assert_eq!(
        rma.authorize_read(&vendor("acme")),
        Err(ReturnError::NotFound)
    );
    // A vendor's return round-trips, as event and as stored state.
    for event in acme_received() {
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(
            serde_json::from_value::<ReturnEvent>(json).expect("parses"),
            event
        );
    }
    let rma = state(&acme_received());
    let json = serde_json::to_value(&rma).expect("serializes");
    assert_eq!(serde_json::from_value::<Return>(json).expect("parses"), rma);
}

// What the runner is told.

#[test]
fn nothing_is_left_to_do_before_the_return_is_received() {
    for given in [
        vec![],
        at_requested(),
        at_approved(),
        at_rejected(),
        at_cancelled(),
    ] {
        assert_eq!(state(&given).next_steps(), vec![], "{given:?}");
    }
}

#[test]
fn a_received_return_moves_every_received_line_then_refunds_it() {
    assert_eq!(
        state(&at_received()).next_steps(),
        vec![
            ReturnStep::MoveStock {
                sku: sku("A"),
                quantity: 2,
                disposition: Disposition::Restock,
            },
            ReturnStep::MoveStock {
                sku: sku("B"),
                quantity: 1,
                disposition: Disposition::WriteOff,
            },
            ReturnStep::Refund {
                sku: sku("A"),
                quantity: 2,
            },
            ReturnStep::Refund {
                sku: sku("B"),
                quantity: 1,
            },
        ]
    );
}

#[test]
fn the_steps_left_shrink_as_the_runner_records_them() {
    let partly = with(
        at_received(),
        [
            stock_moved("A", 2, Disposition::Restock),
            refunded("B", "re_b", eur(500)),
        ],
    );
    assert_eq!(
        state(&partly).next_steps(),
        vec![
            ReturnStep::MoveStock {
                sku: sku("B"),
                quantity: 1,
                disposition: Disposition::WriteOff,
            },
            ReturnStep::Refund {
                sku: sku("A"),
                quantity: 2,
            },
        ]
    );
    assert_eq!(
        state(&at_almost_done()).next_steps(),
        vec![ReturnStep::Refund {
            sku: sku("B"),
            quantity: 1,
        }]
    );
}

#[test]
fn units_that_did_not_arrive_are_neither_moved_nor_refunded() {
    let only_a = with(
        at_approved(),
        [received(vec![got("A", 1, Disposition::WriteOff)])],
    );
    assert_eq!(
        state(&only_a).next_steps(),
        vec![
            ReturnStep::MoveStock {
                sku: sku("A"),
                quantity: 1,
                disposition: Disposition::WriteOff,
            },
            ReturnStep::Refund {
                sku: sku("A"),
                quantity: 1,
            },
        ]
    );
}

#[test]
fn a_runner_following_the_steps_closes_the_return() {
    let mut given = at_received();
    // Shipping first, as the crate documentation tells the runner.
    let rma = state(&given);
    assert!(rma.refunds_shipping(true));
    let events = rma
        .decide(ID, &refund_shipping("re_s", eur(499)), &system())
        .expect("records the shipping refund");
    given.extend(events);
    let mut rounds = 0;
    loop {
        let rma = state(&given);
        let Some(step) = rma.next_steps().into_iter().next() else {
            break;
        };
        rounds += 1;
        assert!(rounds <= 4, "the steps never end");
        let command = match step {
            ReturnStep::MoveStock { sku, .. } => {
                ReturnCommand::RecordStockMoved { sku, now: later() }
            }
            ReturnStep::Refund { sku, quantity } => ReturnCommand::RecordRefund {
                refund_id: format!("re_{sku}"),
                sku,
                amount: eur(1000 * quantity),
                now: later(),
            },
        };
        let events = rma
            .decide(ID, &command, &system())
            .expect("a step is recorded");
        given.extend(events);
    }
    let rma = state(&given);
    assert_eq!(rounds, 4);
    assert_eq!(rma.status(), ReturnStatus::Closed);
    assert_eq!(given.last(), Some(&closed(eur(3000 + 499))));
}

#[test]
fn shipping_is_refunded_when_the_whole_order_comes_back_through_the_shops_fault() {
    assert!(state(&at_received()).refunds_shipping(true));
    assert!(state(&at_closed()).refunds_shipping(true));
    // Before receipt it is a forecast from the requested lines.
    assert!(state(&at_requested()).refunds_shipping(true));
    assert!(state(&at_approved()).refunds_shipping(true));
}

#[test]
fn shipping_is_not_refunded_when_part_of_the_order_is_kept() {
    for given in [at_requested(), at_received(), at_closed()] {
        assert!(!state(&given).refunds_shipping(false));
    }
}

#[test]
fn shipping_is_not_refunded_when_the_shopper_changed_their_mind() {
    let not_our_fault = vec![
        line("A", 2, ReturnReason::NoLongerNeeded),
        line("B", 1, ReturnReason::SizeOrFit),
        line("C", 1, ReturnReason::Other),
    ];
    let given = vec![
        requested_with(guest_owner(), not_our_fault),
        ReturnEvent::ReturnApproved { at: t(10) },
    ];
    assert!(!state(&given).refunds_shipping(true));
}

#[test]
fn only_received_lines_count_towards_the_shops_fault() {
    // A (damaged) never arrived; B (size) did.
    let only_b = with(
        at_approved(),
        [received(vec![got("B", 1, Disposition::Restock)])],
    );
    assert!(!state(&only_b).refunds_shipping(true));
    let only_a = with(
        at_approved(),
        [received(vec![got("A", 1, Disposition::Restock)])],
    );
    assert!(state(&only_a).refunds_shipping(true));
}

#[test]
fn a_return_that_never_went_ahead_refunds_no_shipping() {
    for given in [vec![], at_rejected(), at_cancelled()] {
        assert!(!state(&given).refunds_shipping(true), "{given:?}");
    }
}

// What people see.

#[test]
fn the_view_shows_each_lines_progress_and_the_money_given_back() {
    let given = with(
        at_received(),
        [
            shipping_refunded("re_s", eur(499)),
            stock_moved("A", 2, Disposition::Restock),
            refunded("A", "re_a", eur(2000)),
        ],
    );
    let view = state(&given).view(ID, 6);
    assert_eq!(
        view,
        ReturnView {
            id: ID.into(),
            version: 6,
            order_id: "order-1".into(),
            status: ReturnStatus::Received,
            owner_kind: "guest".into(),
            customer_id: None,
            lines: vec![
                ReturnLineView {
                    sku: sku("A"),
                    title: "Product A".into(),
                    quantity: 2,
                    reason: ReturnReason::Damaged,
                    note: None,
                    vendor_id: None,
                    received_quantity: Some(2),
                    disposition: Some(Disposition::Restock),
                    stock_moved: true,
                    refunded: Some(eur(2000)),
                    refund_id: Some("re_a".into()),
                },
                ReturnLineView {
                    sku: sku("B"),
                    title: "Product B".into(),
                    quantity: 1,
                    reason: ReturnReason::SizeOrFit,
                    note: None,
                    vendor_id: None,
                    received_quantity: Some(1),
                    disposition: Some(Disposition::WriteOff),
                    stock_moved: false,
                    refunded: None,
                    refund_id: None,
                },
            ],
            rejection_reason: None,
            shipping_refund: Some(eur(499)),
            refunded_total: Some(eur(2499)),
            last_refund_failure: None,
            requested_at: t(0),
            updated_at: later(),
        }
    );
}

#[test]
fn the_view_of_a_rejected_return_says_why() {
    let view = state(&at_rejected()).view(ID, 2);
    assert_eq!(view.status, ReturnStatus::Rejected);
    assert_eq!(view.rejection_reason.as_deref(), Some("worn"));
    assert_eq!(view.refunded_total, None);
    assert_eq!(view.updated_at, t(10));
    assert!(view.lines.iter().all(|l| l.received_quantity.is_none()));
}

#[test]
fn the_view_shows_the_latest_refund_failure() {
    let failure = |reason: &str| ReturnEvent::ReturnRefundFailed {
        sku: Some(sku("A")),
        reason: reason.into(),
        at: later(),
    };
    let view = state(&with(at_received(), [failure("first"), failure("second")])).view(ID, 6);
    assert_eq!(
        view.last_refund_failure,
        Some(RefundFailure {
            sku: Some(sku("A")),
            reason: "second".into(),
            at: later(),
        })
    );
}

#[test]
fn the_view_never_contains_the_guest_token_hash() {
    for given in [at_requested(), at_received(), at_closed()] {
        let view = state(&given).view(ID, 1);
        let json = serde_json::to_string(&view).expect("serializes");
        assert!(!json.contains(&token_hash('a')), "{json}");
        assert_eq!(view.owner_kind, "guest");
        assert_eq!(view.customer_id, None);
    }
}

#[test]
fn the_view_of_a_customers_return_names_the_customer() {
    let given = vec![requested_with(
        OrderOwner::Customer {
            customer_id: customer_id(),
        },
        lines(),
    )];
    let view = state(&given).view(ID, 1);
    assert_eq!(view.owner_kind, "customer");
    assert_eq!(view.customer_id, Some(customer_id()));
}

#[test]
fn a_return_never_requested_has_an_empty_view() {
    let view = Return::default().view(ID, 0);
    assert_eq!(view.status, ReturnStatus::New);
    assert_eq!(view.owner_kind, "");
    assert!(view.lines.is_empty());
}

#[test]
fn statuses_name_themselves_as_serde_does() {
    for status in [
        ReturnStatus::New,
        ReturnStatus::Requested,
        ReturnStatus::Approved,
        ReturnStatus::Rejected,
        ReturnStatus::Received,
        ReturnStatus::Closed,
        ReturnStatus::Cancelled,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("serializes"),
            serde_json::json!(status.as_str())
        );
    }
}

#[test]
fn a_stored_state_reads_back_the_same() {
    let rma = state(&with(
        at_almost_done(),
        [shipping_refunded("re_s", eur(499))],
    ));
    let json = serde_json::to_value(&rma).expect("serializes");
    let back: Return = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, rma);
}

#[test]
fn the_aggregate_states_its_published_names() {
    assert_eq!(<Return as Decider>::TYPE, "return");
    for event in at_closed() {
        assert_eq!(Return::event_type(&event), event.event_type());
        assert_eq!(Return::event_version(&event), "1");
    }
}

#[test]
fn a_vendor_reads_its_return_without_the_shoppers_id_or_the_shops_shipping_refund() {
    let given = with(
        acme_received(),
        [
            shipping_refunded("return-r-shipping", eur(594)),
            refunded("A", "return-r-A", eur(1000)),
        ],
    );
    let mut rma = Return::default();
    for e in &given {
        rma.evolve(e);
    }
    let whole = rma.view_for("r", 4, &staff("staff"));
    assert_eq!(whole.shipping_refund, Some(eur(594)));
    assert_eq!(whole.refunded_total, Some(eur(1594)));
    let narrowed = rma.view_for("r", 4, &vendor("acme"));
    assert_eq!(narrowed.customer_id, None);
    assert_eq!(narrowed.shipping_refund, None);
    assert_eq!(narrowed.refunded_total, Some(eur(1000)));
    assert!(narrowed.lines.iter().all(|l| l.refund_id.is_none()));
    assert_eq!(narrowed.lines, {
        let mut lines = whole.lines.clone();
        lines.iter_mut().for_each(|l| l.refund_id = None);
        lines
    });
    // A command's reply to the vendor is narrowed the same way.
    assert_eq!(rma.command_view_for("r", 4, &vendor("acme")), narrowed);
}

use super::*;
use agora_kernel::DomainError;
use chrono::TimeDelta;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ID: &str = "7d1c2f9e-5a34-4c1b-8f0e-2b6a9d3c4e51";

/// A fixed instant plus `seconds`: tests never read the clock either.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
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
    Principal::system("checkout")
}

fn staff(role: &str) -> Principal {
    Principal::Staff {
        id: "sam".into(),
        role: role.into(),
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

fn line(code: &str, quantity: i64, unit_price: i64) -> OrderLine {
    OrderLine {
        sku: sku(code),
        product_id: format!("product-{code}"),
        title: format!("Product {code}"),
        unit_price: eur(unit_price),
        quantity,
        vendor_id: None,
        category_id: None,
    }
}

fn address() -> Address {
    Address {
        name: "Ada Lovelace".into(),
        line1: "Hauptstraße 1".into(),
        line2: None,
        city: "Berlin".into(),
        postal_code: "10115".into(),
        region: None,
        country: "DE".into(),
        phone: Some("+49 30 1234567".into()),
    }
}

/// One way to spoil a valid value, for tests that try many.
type Change<'a, T> = Box<dyn Fn(&mut T) + 'a>;

/// The content of a `Place` command, so that a test can change one field.
#[derive(Clone)]
struct Placing {
    owner: OrderOwner,
    cart_id: String,
    lines: Vec<OrderLine>,
    shipping_address: Address,
    email: String,
    shipping: Money,
    tax_rate_bp: u32,
    tax_rule: Option<OrderTax>,
    shipping_option: Option<OrderShippingOption>,
    vendor_shipping: Vec<VendorShipping>,
    now: DateTime<Utc>,
}

impl Placing {
    fn command(self) -> OrderCommand {
        OrderCommand::Place {
            owner: self.owner,
            cart_id: self.cart_id,
            lines: self.lines,
            shipping_address: self.shipping_address,
            email: self.email,
            shipping: self.shipping,
            tax_rate_bp: self.tax_rate_bp,
            tax_rule: self.tax_rule,
            discount: None,
            shipping_option: self.shipping_option,
            vendor_shipping: self.vendor_shipping,
            now: self.now,
        }
    }
}

/// A guest's order: 2 × 10.00 + 1 × 5.00, 4.99 shipping, 20 % tax.
fn placing() -> Placing {
    Placing {
        owner: OrderOwner::Guest {
            token_sha256: token_hash('a'),
        },
        cart_id: "cart-1".into(),
        lines: vec![line("A", 2, 1000), line("B", 1, 500)],
        shipping_address: address(),
        email: "ada@example.com".into(),
        shipping: eur(499),
        tax_rate_bp: 2000,
        tax_rule: None,
        shipping_option: None,
        vendor_shipping: vec![],
        now: t(0),
    }
}

const TOTAL: i64 = 3599;

/// What `placing()` records: subtotal 2500, shipping 499, tax 20 % of 2999 = 599.8 → 600.
fn placed() -> OrderEvent {
    OrderEvent::OrderPlaced {
        owner: OrderOwner::Guest {
            token_sha256: token_hash('a'),
        },
        cart_id: "cart-1".into(),
        lines: vec![line("A", 2, 1000), line("B", 1, 500)],
        shipping_address: address(),
        email: "ada@example.com".into(),
        currency: Currency::EUR,
        subtotal: eur(2500),
        shipping: eur(499),
        tax_rate_bp: 2000,
        tax_rule: None,
        tax: eur(600),
        total: eur(TOTAL),
        discount: None,
        shipping_option: None,
        vendor_shipping: vec![],
        at: t(0),
    }
}

fn placed_by_customer() -> OrderEvent {
    let mut p = placing();
    p.owner = OrderOwner::Customer {
        customer_id: customer_id(),
    };
    let events = Order::default()
        .decide(ID, &p.command(), &system())
        .expect("places");
    events.into_iter().next().expect("one event")
}

fn capture(amount: Money) -> OrderCommand {
    OrderCommand::RecordCapture { amount, now: t(40) }
}

fn ship(carrier: &str, tracking_number: &str) -> OrderCommand {
    OrderCommand::Ship {
        carrier: carrier.into(),
        tracking_number: tracking_number.into(),
        now: t(50),
    }
}

fn cancel(reason: CancelReason) -> OrderCommand {
    OrderCommand::Cancel {
        reason,
        note: None,
        now: t(70),
    }
}

fn refund(refund_id: &str, amount: Money) -> OrderCommand {
    OrderCommand::RecordRefund {
        refund_id: refund_id.into(),
        amount,
        line: None,
        now: t(80),
    }
}

fn refunded(refund_id: &str, amount: i64, total_refunded: i64) -> OrderEvent {
    OrderEvent::OrderRefunded {
        refund_id: refund_id.into(),
        amount: eur(amount),
        total_refunded: eur(total_refunded),
        line: None,
        at: t(80),
    }
}

/// The happy path's events, in order.
fn journey() -> Vec<OrderEvent> {
    vec![
        placed(),
        OrderEvent::OrderStockReserved { at: t(10) },
        OrderEvent::OrderPaymentAuthorized { at: t(20) },
        OrderEvent::OrderConfirmed { at: t(30) },
        OrderEvent::OrderPaymentCaptured {
            amount: eur(TOTAL),
            at: t(40),
        },
        OrderEvent::OrderShipped {
            carrier: "DHL".into(),
            tracking_number: "00340434".into(),
            at: t(50),
        },
        OrderEvent::OrderDelivered { at: t(60) },
    ]
}

fn history(steps: usize) -> Vec<OrderEvent> {
    journey().into_iter().take(steps).collect()
}

fn at_placed() -> Vec<OrderEvent> {
    history(1)
}
fn at_stock_reserved() -> Vec<OrderEvent> {
    history(2)
}
fn at_payment_authorized() -> Vec<OrderEvent> {
    history(3)
}
fn at_confirmed() -> Vec<OrderEvent> {
    history(4)
}
/// Confirmed and captured.
fn at_paid() -> Vec<OrderEvent> {
    history(5)
}
fn at_shipped() -> Vec<OrderEvent> {
    history(6)
}
fn at_delivered() -> Vec<OrderEvent> {
    history(7)
}
fn at_refunded() -> Vec<OrderEvent> {
    let mut given = at_paid();
    given.push(refunded("r1", TOTAL, TOTAL));
    given
}
fn at_cancelled() -> Vec<OrderEvent> {
    let mut given = at_placed();
    given.push(OrderEvent::OrderCancelled {
        reason: CancelReason::OutOfStock,
        note: None,
        from_status: OrderStatus::Placed,
        at: t(70),
    });
    given
}
/// Captured, then cancelled: the saga owes a refund.
fn at_paid_then_cancelled() -> Vec<OrderEvent> {
    let mut given = at_paid();
    given.push(OrderEvent::OrderCancelled {
        reason: CancelReason::Staff,
        note: None,
        from_status: OrderStatus::Confirmed,
        at: t(70),
    });
    given
}

fn state(given: &[OrderEvent]) -> Order {
    let mut order = Order::default();
    for e in given {
        order.evolve(e);
    }
    order
}

/// Given events, when a command by a principal, then these events or this error.
fn check(
    given: Vec<OrderEvent>,
    by: Principal,
    when: OrderCommand,
    then: Result<Vec<OrderEvent>, OrderError>,
) {
    assert_eq!(
        state(&given).decide(ID, &when, &by),
        then,
        "{when:?} by {by:?}"
    );
}

/// One command of each kind, all valid in some state.
fn every_command() -> Vec<OrderCommand> {
    vec![
        placing().command(),
        OrderCommand::MarkStockReserved { now: t(10) },
        OrderCommand::MarkPaymentAuthorized { now: t(20) },
        OrderCommand::Confirm { now: t(30) },
        capture(eur(TOTAL)),
        ship("DHL", "00340434"),
        OrderCommand::MarkDelivered { now: t(60) },
        cancel(CancelReason::CustomerRequest),
        refund("r1", eur(100)),
    ]
}

// Placing.

#[test]
fn placing_a_valid_order_records_it_with_totals_computed_here() {
    check(vec![], system(), placing().command(), Ok(vec![placed()]));
    check(
        vec![],
        staff("admin"),
        placing().command(),
        Ok(vec![placed()]),
    );
}

#[test]
fn tax_is_rounded_half_up_from_subtotal_plus_shipping() {
    // 3 × 3.33 + 4.99 shipping at 19 %: 14.98 × 0.19 = 2.8462 → 2.85.
    assert_eq!(
        totals(&[line("A", 3, 333)], eur(499), 1900),
        Ok(Totals {
            currency: Currency::EUR,
            subtotal: eur(999),
            shipping: eur(499),
            tax: eur(285),
            total: eur(1783),
        })
    );
    let tax = |price: i64, bp: u32| {
        totals(&[line("A", 1, price)], eur(0), bp)
            .map(|t| (t.tax.amount_minor, t.total.amount_minor))
    };
    // Exactly half a cent rounds up (not to even); less than half rounds down.
    assert_eq!(tax(25, 1000), Ok((3, 28)));
    assert_eq!(tax(15, 1000), Ok((2, 17)));
    assert_eq!(tax(24, 1000), Ok((2, 26)));
    assert_eq!(tax(26, 1000), Ok((3, 29)));
    assert_eq!(tax(1234, 0), Ok((0, 1234)));
    assert_eq!(tax(1234, MAX_TAX_RATE_BP), Ok((1234, 2468)));
}

#[test]
fn totals_refuse_mixed_currencies_overflow_and_absurd_tax_rates() {
    assert_eq!(
        totals(&[line("A", 1, 100)], usd(0), 0),
        Err(OrderError::CurrencyMismatch)
    );
    assert_eq!(
        totals(&[line("A", 2, i64::MAX)], eur(0), 0),
        Err(OrderError::Overflow)
    );
    assert_eq!(
        totals(&[line("A", 1, i64::MAX)], eur(1), 0),
        Err(OrderError::Overflow)
    );
    assert_eq!(
        totals(&[line("A", 1, i64::MAX - 10)], eur(0), MAX_TAX_RATE_BP),
        Err(OrderError::Overflow)
    );
    assert_eq!(
        totals(&[line("A", 1, 100)], eur(0), MAX_TAX_RATE_BP + 1),
        Err(OrderError::InvalidTaxRate)
    );
}

#[test]
fn only_the_platform_and_admins_place_orders() {
    for by in [
        staff("staff"),
        staff("auditor"),
        staff("vendor"),
        guest(),
        customer(),
    ] {
        check(
            vec![],
            by.clone(),
            placing().command(),
            Err(OrderError::Forbidden),
        );
        check(
            at_placed(),
            by,
            placing().command(),
            Err(OrderError::Forbidden),
        );
    }
}

#[test]
fn placing_again_with_the_same_content_records_nothing() {
    let mut later = placing();
    later.now = t(999);
    for given in [at_placed(), at_paid(), at_cancelled()] {
        check(given, system(), later.clone().command(), Ok(vec![]));
    }
}

#[test]
fn placing_again_with_different_content_is_refused() {
    let variants: Vec<Change<'_, Placing>> = vec![
        Box::new(|p| {
            p.owner = OrderOwner::Guest {
                token_sha256: token_hash('c'),
            }
        }),
        Box::new(|p| p.cart_id = "cart-2".into()),
        Box::new(|p| p.lines[0].quantity = 3),
        Box::new(|p| p.shipping_address.city = "Hamburg".into()),
        Box::new(|p| p.email = "bob@example.com".into()),
        Box::new(|p| p.shipping = eur(0)),
        Box::new(|p| p.tax_rate_bp = 1900),
    ];
    for change in variants {
        let mut p = placing();
        change(&mut p);
        check(
            at_placed(),
            system(),
            p.command(),
            Err(OrderError::AlreadyExists),
        );
    }
}

/// Places `p` on a new stream and expects `error`.
fn refused(p: Placing, error: OrderError) {
    check(vec![], system(), p.command(), Err(error));
}

/// Places `p` on a new stream and expects it to be recorded.
fn accepted(p: Placing) {
    let result = Order::default().decide(ID, &p.command(), &system());
    assert!(
        matches!(result.as_deref(), Ok([OrderEvent::OrderPlaced { .. }])),
        "{result:?}"
    );
}

#[test]
fn an_order_has_between_one_and_a_hundred_lines() {
    let mut p = placing();
    p.lines.clear();
    refused(p, OrderError::Empty);
    let many = |n: usize| {
        (0..n)
            .map(|i| line(&format!("S{i}"), 1, 100))
            .collect::<Vec<_>>()
    };
    let mut p = placing();
    p.lines = many(MAX_LINES + 1);
    refused(p, OrderError::TooManyLines);
    let mut p = placing();
    p.lines = many(MAX_LINES);
    accepted(p);
}

#[test]
fn each_sku_appears_on_one_line_only() {
    let mut p = placing();
    p.lines.push(line("A", 1, 1000));
    refused(p, OrderError::DuplicateSku);
}

#[test]
fn quantities_are_between_1_and_99() {
    for quantity in [0, -1, MAX_QUANTITY + 1, i64::MAX, i64::MIN] {
        let mut p = placing();
        p.lines[1].quantity = quantity;
        refused(p, OrderError::QuantityOutOfRange);
    }
    let mut p = placing();
    p.lines[0].quantity = MAX_QUANTITY;
    accepted(p);
}

#[test]
fn unit_prices_are_positive_and_shipping_is_not_negative() {
    for price in [0, -1, MAX_UNIT_PRICE + 1, i64::MIN] {
        let mut p = placing();
        p.lines[0].unit_price = eur(price);
        refused(p, OrderError::InvalidPrice);
    }
    for shipping in [-1, MAX_SHIPPING + 1] {
        let mut p = placing();
        p.shipping = eur(shipping);
        refused(p, OrderError::InvalidPrice);
    }
    let mut p = placing();
    p.lines[0].unit_price = eur(MAX_UNIT_PRICE);
    p.shipping = eur(0);
    accepted(p);
    let mut p = placing();
    p.shipping = eur(MAX_SHIPPING);
    accepted(p);
}

#[test]
fn every_amount_is_in_one_currency() {
    let mut p = placing();
    p.lines[1].unit_price = usd(500);
    refused(p, OrderError::CurrencyMismatch);
    let mut p = placing();
    p.shipping = usd(499);
    refused(p, OrderError::CurrencyMismatch);
}

#[test]
fn the_tax_rate_is_at_most_one_hundred_percent() {
    let mut p = placing();
    p.tax_rate_bp = MAX_TAX_RATE_BP + 1;
    refused(p, OrderError::InvalidTaxRate);
    let mut p = placing();
    p.tax_rate_bp = MAX_TAX_RATE_BP;
    accepted(p);
}

#[test]
fn the_email_has_one_at_sign_with_text_on_both_sides_and_no_spaces() {
    let long_local = "a".repeat(MAX_EMAIL_CHARS - 2);
    for email in [
        "".to_string(),
        "a@".into(),
        "@b".into(),
        "ab".into(),
        "a@@b".into(),
        "a@b@c".into(),
        "a b@c".into(),
        "a@b\tc".into(),
        "ada@example.com\n".into(),
        format!("{long_local}x@b"),
    ] {
        let mut p = placing();
        p.email = email.clone();
        refused(p, OrderError::InvalidEmail);
    }
    for email in ["a@b".to_string(), format!("{long_local}@b")] {
        let mut p = placing();
        p.email = email;
        accepted(p);
    }
}

#[test]
fn the_address_needs_name_street_city_postal_code_and_a_country_code() {
    let long = "x".repeat(MAX_ADDRESS_FIELD_CHARS + 1);
    let variants: Vec<Change<'_, Address>> = vec![
        Box::new(|a| a.name = "  ".into()),
        Box::new(|a| a.line1 = String::new()),
        Box::new(|a| a.city = "\t".into()),
        Box::new(|a| a.postal_code = String::new()),
        Box::new(|a| a.name = long.clone()),
        Box::new(|a| a.line1 = long.clone()),
        Box::new(|a| a.city = long.clone()),
        Box::new(|a| a.postal_code = long.clone()),
        Box::new(|a| a.line2 = Some(long.clone())),
        Box::new(|a| a.region = Some(long.clone())),
        Box::new(|a| a.country = "de".into()),
        Box::new(|a| a.country = "DEU".into()),
        Box::new(|a| a.country = "D".into()),
        Box::new(|a| a.country = String::new()),
        Box::new(|a| a.country = "DÉ".into()),
        Box::new(|a| a.phone = Some("1".repeat(MAX_PHONE_CHARS + 1))),
    ];
    for change in variants {
        let mut p = placing();
        change(&mut p.shipping_address);
        refused(p, OrderError::InvalidAddress);
    }
    // Limits count characters, not bytes.
    let mut p = placing();
    let most = "ß".repeat(MAX_ADDRESS_FIELD_CHARS);
    p.shipping_address = Address {
        name: most.clone(),
        line1: most.clone(),
        line2: Some(most.clone()),
        city: most.clone(),
        postal_code: most.clone(),
        region: Some(most),
        country: "FR".into(),
        phone: Some("1".repeat(MAX_PHONE_CHARS)),
    };
    accepted(p);
}

#[test]
fn lines_need_a_product_id_and_a_title() {
    let variants: Vec<Change<'_, OrderLine>> = vec![
        Box::new(|l| l.product_id = String::new()),
        Box::new(|l| l.product_id = " ".into()),
        Box::new(|l| l.product_id = "p".repeat(MAX_ID_CHARS + 1)),
        Box::new(|l| l.title = String::new()),
        Box::new(|l| l.title = "t".repeat(MAX_TITLE_CHARS + 1)),
    ];
    for change in variants {
        let mut p = placing();
        change(&mut p.lines[0]);
        refused(p, OrderError::InvalidLine);
    }
    let mut p = placing();
    p.lines[0].product_id = "p".repeat(MAX_ID_CHARS);
    p.lines[0].title = "é".repeat(MAX_TITLE_CHARS);
    accepted(p);
}

#[test]
fn the_cart_id_is_1_to_64_characters() {
    for cart_id in [String::new(), "  ".into(), "c".repeat(MAX_ID_CHARS + 1)] {
        let mut p = placing();
        p.cart_id = cart_id;
        refused(p, OrderError::InvalidCartId);
    }
}

// Existence and ownership.

#[test]
fn every_command_but_place_on_a_new_order_is_not_found() {
    for command in every_command().into_iter().skip(1) {
        for by in [system(), guest()] {
            check(vec![], by, command.clone(), Err(OrderError::NotFound));
        }
    }
    assert_eq!(
        Order::default().authorize_read(&system()),
        Err(OrderError::NotFound)
    );
}

#[test]
fn someone_elses_order_looks_missing() {
    for by in [other_guest(), other_customer(), customer(), staff("vendor")] {
        for command in every_command().into_iter().skip(1) {
            check(at_paid(), by.clone(), command, Err(OrderError::NotFound));
        }
        assert_eq!(
            state(&at_paid()).authorize_read(&by),
            Err(OrderError::NotFound)
        );
    }
    // And the other way round: a guest is no owner of a customer's order.
    let given = vec![placed_by_customer()];
    check(
        given.clone(),
        guest(),
        cancel(CancelReason::CustomerRequest),
        Err(OrderError::NotFound),
    );
    assert_eq!(
        state(&given).authorize_read(&guest()),
        Err(OrderError::NotFound)
    );
    assert_eq!(state(&given).authorize_read(&customer()), Ok(()));
}

#[test]
fn the_owner_reads_and_cancels_at_their_own_request_only() {
    let guest_order = at_placed();
    let customer_order = vec![placed_by_customer()];
    for (given, owner) in [(guest_order, guest()), (customer_order, customer())] {
        assert_eq!(state(&given).authorize_read(&owner), Ok(()));
        let result = state(&given).decide(ID, &cancel(CancelReason::CustomerRequest), &owner);
        assert!(
            matches!(
                result.as_deref(),
                Ok([OrderEvent::OrderCancelled {
                    reason: CancelReason::CustomerRequest,
                    from_status: OrderStatus::Placed,
                    ..
                }])
            ),
            "{result:?}"
        );
        for reason in [
            CancelReason::Staff,
            CancelReason::OutOfStock,
            CancelReason::PaymentDeclined,
            CancelReason::PaymentFailed,
            CancelReason::Abandoned,
        ] {
            check(
                given.clone(),
                owner.clone(),
                cancel(reason),
                Err(OrderError::Forbidden),
            );
        }
        // Everything else is the platform's or the back office's business.
        for command in every_command() {
            if matches!(command, OrderCommand::Cancel { .. }) {
                continue;
            }
            check(
                given.clone(),
                owner.clone(),
                command,
                Err(OrderError::Forbidden),
            );
        }
    }
}

#[test]
fn staff_ship_and_cancel_but_payment_steps_belong_to_the_platform() {
    let by = staff("staff");
    assert_eq!(state(&at_placed()).authorize_read(&by), Ok(()));
    for command in [
        OrderCommand::MarkStockReserved { now: t(10) },
        OrderCommand::MarkPaymentAuthorized { now: t(20) },
        OrderCommand::Confirm { now: t(30) },
        capture(eur(TOTAL)),
        refund("r1", eur(100)),
    ] {
        check(at_placed(), by.clone(), command, Err(OrderError::Forbidden));
    }
    check(
        at_paid(),
        by.clone(),
        ship("DHL", "1"),
        Ok(vec![OrderEvent::OrderShipped {
            carrier: "DHL".into(),
            tracking_number: "1".into(),
            at: t(50),
        }]),
    );
    check(
        at_shipped(),
        by.clone(),
        OrderCommand::MarkDelivered { now: t(60) },
        Ok(vec![OrderEvent::OrderDelivered { at: t(60) }]),
    );
    check(
        at_placed(),
        by,
        cancel(CancelReason::Staff),
        Ok(vec![OrderEvent::OrderCancelled {
            reason: CancelReason::Staff,
            note: None,
            from_status: OrderStatus::Placed,
            at: t(70),
        }]),
    );
}

#[test]
fn an_auditor_reads_any_order_but_changes_none() {
    let by = staff("auditor");
    for given in [at_placed(), vec![placed_by_customer()], at_delivered()] {
        assert_eq!(state(&given).authorize_read(&by), Ok(()));
    }
    for command in every_command() {
        check(at_paid(), by.clone(), command, Err(OrderError::Forbidden));
    }
}

// The happy path.

#[test]
fn the_happy_path_records_each_step_once() {
    let commands = [
        OrderCommand::MarkStockReserved { now: t(10) },
        OrderCommand::MarkPaymentAuthorized { now: t(20) },
        OrderCommand::Confirm { now: t(30) },
        capture(eur(TOTAL)),
        ship("DHL", "00340434"),
        OrderCommand::MarkDelivered { now: t(60) },
    ];
    let journey = journey();
    for (i, command) in commands.into_iter().enumerate() {
        check(
            history(i + 1),
            system(),
            command,
            Ok(vec![journey[i + 1].clone()]),
        );
    }
    assert_eq!(state(&journey).status(), OrderStatus::Delivered);
}

#[test]
fn confirming_an_order_with_reserved_stock_records_its_authorization_too() {
    check(
        at_stock_reserved(),
        system(),
        OrderCommand::Confirm { now: t(30) },
        Ok(vec![
            OrderEvent::OrderPaymentAuthorized { at: t(30) },
            OrderEvent::OrderConfirmed { at: t(30) },
        ]),
    );
}

#[test]
fn payment_steps_repeated_after_the_order_moved_on_record_nothing() {
    let steps = [
        (OrderCommand::MarkStockReserved { now: t(10) }, 2),
        (OrderCommand::MarkPaymentAuthorized { now: t(20) }, 3),
        (OrderCommand::Confirm { now: t(30) }, 4),
    ];
    for (command, reached) in steps {
        for n in reached..=journey().len() {
            check(history(n), system(), command.clone(), Ok(vec![]));
        }
        check(at_refunded(), system(), command, Ok(vec![]));
    }
}

#[test]
fn payment_steps_out_of_order_or_after_cancelling_are_refused() {
    let reserve = OrderCommand::MarkStockReserved { now: t(10) };
    let authorize = OrderCommand::MarkPaymentAuthorized { now: t(20) };
    let confirm = OrderCommand::Confirm { now: t(30) };
    for (given, command) in [
        (at_placed(), authorize.clone()),
        (at_placed(), confirm.clone()),
        (at_cancelled(), reserve),
        (at_cancelled(), authorize),
        (at_cancelled(), confirm),
    ] {
        check(given, system(), command, Err(OrderError::InvalidTransition));
    }
}

#[test]
fn the_capture_must_be_the_order_total_once_confirmed() {
    for amount in [eur(TOTAL - 1), eur(TOTAL + 1), usd(TOTAL)] {
        check(
            at_confirmed(),
            system(),
            capture(amount),
            Err(OrderError::InvalidAmount),
        );
    }
    for given in [
        at_placed(),
        at_stock_reserved(),
        at_payment_authorized(),
        at_cancelled(),
    ] {
        check(
            given,
            system(),
            capture(eur(TOTAL)),
            Err(OrderError::InvalidTransition),
        );
    }
}

#[test]
fn a_capture_that_raced_the_cancel_of_a_confirmed_order_is_recorded_so_it_can_be_refunded() {
    let mut given = at_confirmed();
    given.push(OrderEvent::OrderCancelled {
        reason: CancelReason::CustomerRequest,
        note: None,
        from_status: OrderStatus::Confirmed,
        at: t(35),
    });
    let captured = OrderEvent::OrderPaymentCaptured {
        amount: eur(TOTAL),
        at: t(40),
    };
    check(
        given.clone(),
        system(),
        capture(eur(TOTAL)),
        Ok(vec![captured.clone()]),
    );
    given.push(captured);
    let order = state(&given);
    assert_eq!(order.status(), OrderStatus::Cancelled);
    check(
        given,
        system(),
        refund("order-cancelled", eur(TOTAL)),
        Ok(vec![refunded("order-cancelled", TOTAL, TOTAL)]),
    );
}

#[test]
fn a_repeated_capture_records_nothing_but_a_different_one_is_refused() {
    for given in [
        at_paid(),
        at_shipped(),
        at_delivered(),
        at_refunded(),
        at_paid_then_cancelled(),
    ] {
        check(given.clone(), system(), capture(eur(TOTAL)), Ok(vec![]));
        check(
            given,
            system(),
            capture(eur(1)),
            Err(OrderError::InvalidAmount),
        );
    }
}

#[test]
fn nothing_ships_before_it_is_paid() {
    check(
        at_confirmed(),
        system(),
        ship("DHL", "1"),
        Err(OrderError::NotPaid),
    );
    for given in [
        at_placed(),
        at_stock_reserved(),
        at_payment_authorized(),
        at_cancelled(),
        at_paid_then_cancelled(),
        at_refunded(),
    ] {
        check(
            given,
            system(),
            ship("DHL", "1"),
            Err(OrderError::InvalidTransition),
        );
    }
}

#[test]
fn a_shipment_needs_a_carrier_and_a_tracking_number() {
    for (carrier, tracking) in [
        ("", "1"),
        (" ", "1"),
        ("DHL", ""),
        ("DHL", "\t"),
        (&"c".repeat(MAX_CARRIER_CHARS + 1)[..], "1"),
        ("DHL", &"9".repeat(MAX_TRACKING_CHARS + 1)[..]),
    ] {
        check(
            at_paid(),
            system(),
            ship(carrier, tracking),
            Err(OrderError::InvalidShipment),
        );
    }
    // Surrounding spaces are dropped.
    check(
        at_paid(),
        system(),
        ship(" UPS ", " 1Z999 "),
        Ok(vec![OrderEvent::OrderShipped {
            carrier: "UPS".into(),
            tracking_number: "1Z999".into(),
            at: t(50),
        }]),
    );
}

#[test]
fn shipping_again_is_harmless_only_with_the_same_parcel() {
    for given in [at_shipped(), at_delivered()] {
        check(given.clone(), system(), ship("DHL", "00340434"), Ok(vec![]));
        check(
            given.clone(),
            system(),
            ship(" DHL", "00340434 "),
            Ok(vec![]),
        );
        check(
            given.clone(),
            system(),
            ship("DHL", "00340435"),
            Err(OrderError::InvalidTransition),
        );
        check(
            given,
            system(),
            ship("UPS", "00340434"),
            Err(OrderError::InvalidTransition),
        );
    }
}

#[test]
fn only_a_shipped_order_is_delivered() {
    let deliver = OrderCommand::MarkDelivered { now: t(60) };
    check(at_delivered(), system(), deliver.clone(), Ok(vec![]));
    for given in [
        at_placed(),
        at_stock_reserved(),
        at_payment_authorized(),
        at_confirmed(),
        at_paid(),
        at_cancelled(),
        at_refunded(),
    ] {
        check(
            given,
            system(),
            deliver.clone(),
            Err(OrderError::InvalidTransition),
        );
    }
}

// Cancelling.

#[test]
fn an_order_is_cancelled_from_any_status_before_shipping() {
    for (given, from_status) in [
        (at_placed(), OrderStatus::Placed),
        (at_stock_reserved(), OrderStatus::StockReserved),
        (at_payment_authorized(), OrderStatus::PaymentAuthorized),
        (at_confirmed(), OrderStatus::Confirmed),
        (at_paid(), OrderStatus::Confirmed),
    ] {
        check(
            given,
            system(),
            OrderCommand::Cancel {
                reason: CancelReason::PaymentDeclined,
                note: Some("card declined".into()),
                now: t(70),
            },
            Ok(vec![OrderEvent::OrderCancelled {
                reason: CancelReason::PaymentDeclined,
                note: Some("card declined".into()),
                from_status,
                at: t(70),
            }]),
        );
    }
}

#[test]
fn cancelling_twice_records_nothing_and_after_shipping_is_refused() {
    check(
        at_cancelled(),
        system(),
        cancel(CancelReason::Staff),
        Ok(vec![]),
    );
    for given in [at_shipped(), at_delivered(), at_refunded()] {
        check(
            given,
            system(),
            cancel(CancelReason::Staff),
            Err(OrderError::InvalidTransition),
        );
    }
}

#[test]
fn a_cancellation_note_is_at_most_500_characters() {
    let with_note = |note: String| OrderCommand::Cancel {
        reason: CancelReason::Staff,
        note: Some(note),
        now: t(70),
    };
    check(
        at_placed(),
        system(),
        with_note("n".repeat(MAX_NOTE_CHARS + 1)),
        Err(OrderError::InvalidNote),
    );
    let result = state(&at_placed()).decide(ID, &with_note("ñ".repeat(MAX_NOTE_CHARS)), &system());
    assert!(result.is_ok(), "{result:?}");
}

// Refunds.

#[test]
fn nothing_is_refunded_before_it_was_captured() {
    for given in [at_placed(), at_confirmed(), at_cancelled()] {
        check(
            given,
            system(),
            refund("r1", eur(100)),
            Err(OrderError::NotPaid),
        );
    }
}

#[test]
fn a_refund_is_positive_in_the_order_currency_and_within_the_capture() {
    for amount in [eur(0), eur(-1), usd(100)] {
        check(
            at_paid(),
            system(),
            refund("r1", amount),
            Err(OrderError::InvalidAmount),
        );
    }
    for amount in [TOTAL + 1, i64::MAX] {
        check(
            at_paid(),
            system(),
            refund("r1", eur(amount)),
            Err(OrderError::RefundExceedsCaptured),
        );
    }
    let mut given = at_paid();
    given.push(refunded("r1", 3000, 3000));
    check(
        given.clone(),
        system(),
        refund("r2", eur(TOTAL - 3000 + 1)),
        Err(OrderError::RefundExceedsCaptured),
    );
    check(
        given,
        system(),
        refund("r2", eur(TOTAL - 3000)),
        Ok(vec![refunded("r2", TOTAL - 3000, TOTAL)]),
    );
}

#[test]
fn a_refund_id_is_1_to_64_characters() {
    for id in [String::new(), " ".into(), "r".repeat(MAX_ID_CHARS + 1)] {
        check(
            at_paid(),
            system(),
            refund(&id, eur(100)),
            Err(OrderError::InvalidRefundId),
        );
    }
}

#[test]
fn a_known_refund_id_records_nothing() {
    let mut given = at_paid();
    given.push(refunded("r1", 1000, 1000));
    check(given.clone(), system(), refund("r1", eur(1000)), Ok(vec![]));
    check(given, system(), refund("r1", eur(5)), Ok(vec![]));
    check(
        at_refunded(),
        system(),
        refund("r1", eur(TOTAL)),
        Ok(vec![]),
    );
}

#[test]
fn a_partial_refund_keeps_the_status_and_a_full_one_makes_it_refunded() {
    for given in [at_paid(), at_shipped(), at_delivered()] {
        let status = state(&given).status();
        let mut order = state(&given);
        let events = order
            .decide(ID, &refund("r1", eur(1000)), &system())
            .expect("partial refund");
        assert_eq!(events, vec![refunded("r1", 1000, 1000)]);
        order.evolve(&events[0]);
        assert_eq!(order.status(), status);
        assert_eq!(order.refunded(), Some(eur(1000)));
        let events = order
            .decide(ID, &refund("r2", eur(TOTAL - 1000)), &system())
            .expect("the rest");
        assert_eq!(events, vec![refunded("r2", TOTAL - 1000, TOTAL)]);
        order.evolve(&events[0]);
        assert_eq!(order.status(), OrderStatus::Refunded);
        assert_eq!(order.refunded(), order.captured());
        check(
            {
                let mut g = given.clone();
                g.push(refunded("r1", 1000, 1000));
                g.push(refunded("r2", TOTAL - 1000, TOTAL));
                g
            },
            system(),
            refund("r3", eur(1)),
            Err(OrderError::RefundExceedsCaptured),
        );
    }
}

#[test]
fn a_cancelled_order_stays_cancelled_when_fully_refunded() {
    let given = at_paid_then_cancelled();
    check(
        given.clone(),
        system(),
        refund("r1", eur(TOTAL)),
        Ok(vec![refunded("r1", TOTAL, TOTAL)]),
    );
    let mut order = state(&given);
    order.evolve(&refunded("r1", TOTAL, TOTAL));
    assert_eq!(order.status(), OrderStatus::Cancelled);
    assert_eq!(order.refunded(), Some(eur(TOTAL)));
}

// State, view and timeline.

#[test]
fn the_getters_answer_what_the_saga_needs() {
    let empty = Order::default();
    assert_eq!(empty.status(), OrderStatus::New);
    assert_eq!(
        (
            empty.owner(),
            empty.lines(),
            empty.total(),
            empty.captured(),
            empty.refunded()
        ),
        (None, &[][..], None, None, None)
    );
    let order = state(&at_paid());
    assert_eq!(order.status(), OrderStatus::Confirmed);
    assert_eq!(
        order.owner(),
        Some(&OrderOwner::Guest {
            token_sha256: token_hash('a')
        })
    );
    assert_eq!(order.lines(), &[line("A", 2, 1000), line("B", 1, 500)][..]);
    assert_eq!(order.total(), Some(eur(TOTAL)));
    assert_eq!(order.captured(), Some(eur(TOTAL)));
    assert_eq!(order.refunded(), Some(eur(0)));
}

#[test]
fn the_timeline_tells_the_story_with_details() {
    let mut given = journey();
    given.push(refunded("r1", 1250, 1250));
    let order = state(&given);
    let timeline: Vec<(&str, OrderStatus, Option<&str>)> = order
        .timeline
        .iter()
        .map(|e| (e.event.as_str(), e.status, e.note.as_deref()))
        .collect();
    assert_eq!(
        timeline,
        vec![
            ("placed", OrderStatus::Placed, None),
            ("stock_reserved", OrderStatus::StockReserved, None),
            ("payment_authorized", OrderStatus::PaymentAuthorized, None),
            ("confirmed", OrderStatus::Confirmed, None),
            ("payment_captured", OrderStatus::Confirmed, Some("3599 EUR")),
            ("shipped", OrderStatus::Shipped, Some("DHL 00340434")),
            ("delivered", OrderStatus::Delivered, None),
            ("refunded", OrderStatus::Delivered, Some("1250 EUR")),
        ]
    );
    let times: Vec<_> = order.timeline.iter().map(|e| e.at).collect();
    assert_eq!(times, [0, 10, 20, 30, 40, 50, 60, 80].map(t).to_vec());

    let mut given = at_placed();
    given.push(OrderEvent::OrderCancelled {
        reason: CancelReason::OutOfStock,
        note: None,
        from_status: OrderStatus::Placed,
        at: t(70),
    });
    let last = state(&given).timeline.last().cloned().expect("an entry");
    assert_eq!(
        (last.event.as_str(), last.status, last.note.as_deref()),
        ("cancelled", OrderStatus::Cancelled, Some("out_of_stock"))
    );
    // A step without a detail leaves the note out of the JSON.
    let json = serde_json::to_value(&state(&at_placed()).timeline[0]).expect("serializes");
    assert!(json.get("note").is_none(), "{json}");
}

#[test]
fn the_view_shows_the_order_and_never_the_token_hash() {
    let mut given = at_shipped();
    given.push(refunded("r1", 1000, 1000));
    let view = state(&given).view(ID, 7);
    assert_eq!(view.id, ID);
    assert_eq!(view.version, 7);
    assert_eq!(view.status, OrderStatus::Shipped);
    assert_eq!(view.owner_kind, "guest");
    assert_eq!(view.customer_id, None);
    assert_eq!(view.cart_id, "cart-1");
    assert_eq!(view.email, "ada@example.com");
    assert_eq!(view.shipping_address, address());
    assert_eq!(
        view.lines[0],
        OrderLineView {
            sku: sku("A"),
            product_id: "product-A".into(),
            title: "Product A".into(),
            unit_price: eur(1000),
            quantity: 2,
            vendor_id: None,
            category_id: None,
            line_total: eur(2000),
            discount: eur(0),
            // 20 % on top: what a refund of its units can give back at most.
            paid: eur(2400),
            refunded_units: 0,
            allocated_units: 0,
            shipped_units: 0,
            delivered_units: 0,
            returned_units: 0,
        }
    );
    assert_eq!(view.lines[1].line_total, eur(500));
    assert_eq!(view.lines[1].paid, eur(600));
    assert_eq!(view.currency, Currency::EUR);
    assert_eq!(
        (view.subtotal, view.shipping, view.tax, view.total),
        (eur(2500), eur(499), eur(600), eur(TOTAL))
    );
    assert_eq!(view.tax_rate_bp, 2000);
    assert_eq!((view.captured, view.refunded), (eur(TOTAL), eur(1000)));
    assert_eq!(
        view.shipment,
        Some(Shipment {
            carrier: "DHL".into(),
            tracking_number: "00340434".into(),
            shipped_at: t(50),
            delivered_at: None,
        })
    );
    assert_eq!(view.cancellation, None);
    assert_eq!((view.placed_at, view.updated_at), (t(0), t(80)));
    assert_eq!(view.timeline.len(), 7);

    let json = serde_json::to_string(&view).expect("serializes");
    assert!(!json.contains(&token_hash('a')), "{json}");
    assert!(!json.contains("token"), "{json}");
    let back: OrderView = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, view);
}

#[test]
fn a_customer_order_view_names_the_customer_and_a_cancelled_one_says_why() {
    let mut order = state(&[placed_by_customer()]);
    order.evolve(&OrderEvent::OrderCancelled {
        reason: CancelReason::CustomerRequest,
        note: Some("changed my mind".into()),
        from_status: OrderStatus::Placed,
        at: t(70),
    });
    let view = order.view(ID, 2);
    assert_eq!(view.owner_kind, "customer");
    assert_eq!(view.customer_id, Some(customer_id()));
    assert_eq!(
        view.cancellation,
        Some(Cancellation {
            reason: CancelReason::CustomerRequest,
            note: Some("changed my mind".into()),
            from_status: OrderStatus::Placed,
            at: t(70),
        })
    );
    assert_eq!(
        view.timeline.last().and_then(|e| e.note.as_deref()),
        Some("customer_request: changed my mind")
    );
}

#[test]
fn a_delivered_order_view_has_the_delivery_time() {
    let view = state(&at_delivered()).view(ID, 7);
    assert_eq!(view.shipment.and_then(|s| s.delivered_at), Some(t(60)));
}

#[test]
fn a_new_order_has_an_empty_view() {
    let view = Order::default().view(ID, 0);
    assert_eq!(view.status, OrderStatus::New);
    assert!(view.lines.is_empty() && view.timeline.is_empty());
    assert_eq!(view.total.amount_minor, 0);
}

#[test]
fn the_state_round_trips_through_json() {
    let mut given = at_paid();
    given.push(refunded("r1", 1000, 1000));
    let order = state(&given);
    let json = serde_json::to_string(&order).expect("serializes");
    assert_eq!(serde_json::from_str::<Order>(&json).expect("parses"), order);
}

#[test]
fn every_event_has_its_stable_type_name() {
    let mut events = journey();
    events.push(at_cancelled().pop().expect("cancelled"));
    events.push(refunded("r1", 1, 1));
    let names: Vec<_> = events.iter().map(<Order as Decider>::event_type).collect();
    assert_eq!(
        names,
        [
            "OrderPlaced",
            "OrderStockReserved",
            "OrderPaymentAuthorized",
            "OrderConfirmed",
            "OrderPaymentCaptured",
            "OrderShipped",
            "OrderDelivered",
            "OrderCancelled",
            "OrderRefunded",
        ]
    );
    // The serde tag is the type name too.
    for event in &events {
        let json = serde_json::to_value(event).expect("serializes");
        assert!(json.get(event.event_type()).is_some(), "{json}");
        let back: OrderEvent = serde_json::from_value(json).expect("parses");
        assert_eq!(&back, event);
    }
    assert_eq!(<Order as Decider>::TYPE, "order");
}
#[test]
fn random_command_sequences_keep_the_money_invariants() {
    let mut seen = BTreeSet::new();
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut order = state(&at_placed());
        for step in 0..40 {
            let amount = match rng.random_range::<u64, _>(0..4) {
                0 => eur(TOTAL),
                1 => eur(1 + rng.random_range::<u64, _>(0..TOTAL as u64) as i64),
                2 => eur(rng.random_range::<u64, _>(0..2 * TOTAL as u64) as i64),
                _ => usd(TOTAL),
            };
            let command = match rng.random_range::<u64, _>(0..10) {
                0 => OrderCommand::MarkStockReserved { now: t(step) },
                1 => OrderCommand::MarkPaymentAuthorized { now: t(step) },
                2 => OrderCommand::Confirm { now: t(step) },
                3 => capture(amount),
                4 => ship("DHL", &format!("{}", rng.random_range::<u64, _>(0..2))),
                5 => OrderCommand::MarkDelivered { now: t(step) },
                6 if rng.random_range::<u64, _>(0..4) == 0 => cancel(CancelReason::Staff),
                _ => refund(&format!("r{}", rng.random_range::<u64, _>(0..6)), amount),
            };
            let by = if rng.random_range::<u64, _>(0..8) == 0 {
                staff("staff")
            } else {
                system()
            };
            match order.decide(ID, &command, &by) {
                Ok(events) => {
                    // One event per command, but a confirmation from `stock_reserved`, which
                    // records the authorization with it.
                    assert!(
                        events.len() <= 1
                            || matches!(command, OrderCommand::Confirm { .. }) && events.len() == 2
                    );
                    for e in &events {
                        seen.insert(e.event_type());
                        order.evolve(e);
                    }
                }
                Err(e) => {
                    seen.insert(e.code());
                }
            }
            let (captured, refunded) = (order.captured, order.refunded);
            assert!(captured == 0 || captured == TOTAL, "{order:?}");
            assert!((0..=captured).contains(&refunded), "{order:?}");
            if order.shipment.is_some() {
                assert_eq!(captured, TOTAL, "{order:?}");
            }
            if order.status == OrderStatus::Refunded {
                assert_eq!(refunded, captured);
            }
        }
    }
    for outcome in [
        "OrderShipped",
        "OrderDelivered",
        "OrderCancelled",
        "OrderRefunded",
        "order.not_paid",
        "order.invalid_amount",
        "order.refund_exceeds_captured",
        "order.invalid_transition",
        "order.forbidden",
    ] {
        assert!(seen.contains(outcome), "never saw {outcome}: {seen:?}");
    }
}

#[tokio::test]
async fn the_cqrs_es_aggregate_delegates_to_decide() {
    use cqrs_es::test::TestFramework;
    TestFramework::<Order>::with(())
        .given_no_previous_events()
        .when_async(CqrsEnvelope {
            id: ID.into(),
            by: system(),
            command: placing().command(),
        })
        .await
        .then_expect_events(vec![placed()]);
    TestFramework::<Order>::with(())
        .given(at_confirmed())
        .when_async(CqrsEnvelope {
            id: ID.into(),
            by: system(),
            command: ship("DHL", "1"),
        })
        .await
        .then_expect_error(OrderError::NotPaid);
}

/// Germany's rule: 19 %, prices include VAT, shipping taxed like the goods, rounded per line.
fn german_vat() -> OrderTax {
    OrderTax {
        rate: agora_promotion::AppliedRate {
            country: Some(agora_promotion::CountryCode::parse("DE").expect("country")),
            region: None,
            rate_bp: 1900,
            shipping_rate_bp: 1900,
            prices_include_tax: true,
        },
        rounding: agora_promotion::TaxRounding::PerLine,
    }
}

/// `placing()` taxed by `german_vat()`: the prices include the tax, so the shopper pays
/// 25.00 + 4.99 = 29.99, of which the tax is, per line, 20.00 × 19/119 = 3.193… → 3.19,
/// 5.00 × 19/119 = 0.798… → 0.80, 4.99 × 19/119 = 0.796… → 0.80: 4.79 in all.
#[test]
fn an_order_taxed_by_a_rule_with_prices_including_tax_records_the_rule() {
    let mut p = placing();
    p.tax_rate_bp = 1900;
    p.tax_rule = Some(german_vat());
    let mut expected = placed();
    if let OrderEvent::OrderPlaced {
        tax_rate_bp,
        tax_rule,
        tax,
        total,
        ..
    } = &mut expected
    {
        *tax_rate_bp = 1900;
        *tax_rule = Some(german_vat());
        *tax = eur(479);
        *total = eur(2999);
    }
    check(
        vec![],
        system(),
        p.clone().command(),
        Ok(vec![expected.clone()]),
    );
    // The view shows the rule the order was taxed by, whatever the shop's rules become.
    let view = state(&[expected.clone()]).view(ID, 1);
    assert_eq!(view.tax_rule, Some(german_vat()));
    assert_eq!((view.tax, view.total), (eur(479), eur(2999)));
    // A retry with the same rule records nothing; with another it is another order.
    check(
        vec![expected.clone()],
        system(),
        p.clone().command(),
        Ok(vec![]),
    );
    let mut other = p.clone();
    other.tax_rule = Some(OrderTax {
        rounding: agora_promotion::TaxRounding::PerOrder,
        ..german_vat()
    });
    check(
        vec![expected],
        system(),
        other.command(),
        Err(OrderError::AlreadyExists),
    );
    // The goods' rate in `tax_rate_bp` must be the rule's.
    let mut mismatched = p;
    mismatched.tax_rate_bp = 2000;
    check(
        vec![],
        system(),
        mismatched.command(),
        Err(OrderError::InvalidTaxRate),
    );
}

/// A flat rule rounded per order gives exactly what an order without a rule gives.
#[test]
fn a_flat_rule_rounded_per_order_matches_the_single_rate() {
    let flat = OrderTax {
        rate: agora_promotion::AppliedRate {
            country: None,
            region: None,
            rate_bp: 2000,
            shipping_rate_bp: 2000,
            prices_include_tax: false,
        },
        rounding: agora_promotion::TaxRounding::PerOrder,
    };
    let lines = [line("A", 3, 333), line("B", 1, 1)];
    for shipping in [0, 1, 499] {
        let (with_rule, _) = order_totals(&lines, eur(shipping), &flat, None).expect("totals");
        let without = totals(&lines, eur(shipping), 2000).expect("totals");
        assert_eq!(with_rule, without);
    }
}

/// `placing()` with 25 % off the two units of A (5.00 off its 20.00) and paid in full.
///
/// What the shopper paid: A 15.00, B 5.00, shipping 4.99: 24.99; tax 20 % once, 4.998 →
/// 5.00; total 29.99. Line A's share of the tax (the running sums of the per-order rounding):
/// 15.00 × 20 % = 3.00, so A cost 18.00 with its tax, 9.00 a unit, where its price with tax
/// would be 12.00 a unit.
fn paid_with_a_discount() -> Vec<OrderEvent> {
    let mut command = placing().command();
    if let OrderCommand::Place { discount, .. } = &mut command {
        *discount = Some(OrderDiscount {
            line_discounts: vec![eur(500), eur(0)],
            shipping_discount: eur(0),
            promotions: vec![OrderPromotion {
                promotion_id: "promo-1".into(),
                name: "25 % off A".into(),
                code: None,
                discount: eur(500),
                shipping_discount: eur(0),
            }],
        });
    }
    let placed = Order::default()
        .decide(ID, &command, &system())
        .expect("places");
    let OrderEvent::OrderPlaced { tax, total, .. } = &placed[0] else {
        panic!("placed");
    };
    assert_eq!((*tax, *total), (eur(500), eur(2999)));
    let mut events = placed;
    events.extend([
        OrderEvent::OrderStockReserved { at: t(10) },
        OrderEvent::OrderPaymentAuthorized { at: t(20) },
        OrderEvent::OrderConfirmed { at: t(30) },
        OrderEvent::OrderPaymentCaptured {
            amount: eur(2999),
            at: t(40),
        },
    ]);
    events
}

fn refund_line(refund_id: &str, amount: i64, code: &str, quantity: i64) -> OrderCommand {
    OrderCommand::RecordRefund {
        refund_id: refund_id.into(),
        amount: eur(amount),
        line: Some(RefundLine {
            sku: sku(code),
            quantity,
        }),
        now: t(80),
    }
}

fn line_refunded(
    refund_id: &str,
    amount: i64,
    total: i64,
    code: &str,
    quantity: i64,
) -> OrderEvent {
    OrderEvent::OrderRefunded {
        refund_id: refund_id.into(),
        amount: eur(amount),
        total_refunded: eur(total),
        line: Some(RefundLine {
            sku: sku(code),
            quantity,
        }),
        at: t(80),
    }
}

#[test]
fn a_refund_of_a_discounted_line_gives_back_at_most_what_was_paid_for_it() {
    // One unit of A cost 9.00 with its tax: 9.01 is refused, as is its undiscounted 12.00.
    for amount in [901, 1200] {
        check(
            paid_with_a_discount(),
            system(),
            refund_line("r1", amount, "A", 1),
            Err(OrderError::RefundExceedsLine),
        );
    }
    check(
        paid_with_a_discount(),
        system(),
        refund_line("r1", 900, "A", 1),
        Ok(vec![line_refunded("r1", 900, 900, "A", 1)]),
    );
    // Less than the share is fine (a goodwill partial refund).
    check(
        paid_with_a_discount(),
        system(),
        refund_line("r1", 100, "A", 1),
        Ok(vec![line_refunded("r1", 100, 100, "A", 1)]),
    );
    // The units of a line are refunded once: after one unit, one is left, worth 9.00.
    let mut given = paid_with_a_discount();
    given.push(line_refunded("r1", 900, 900, "A", 1));
    check(
        given.clone(),
        system(),
        refund_line("r2", 900, "A", 2),
        Err(OrderError::InvalidRefundLine),
    );
    check(
        given.clone(),
        system(),
        refund_line("r2", 901, "A", 1),
        Err(OrderError::RefundExceedsLine),
    );
    check(
        given.clone(),
        system(),
        refund_line("r2", 900, "A", 1),
        Ok(vec![line_refunded("r2", 900, 1800, "A", 1)]),
    );
    // The undiscounted line B: 5.00 plus its 1.00 of tax.
    check(
        given.clone(),
        system(),
        refund_line("r2", 601, "B", 1),
        Err(OrderError::RefundExceedsLine),
    );
    check(
        given.clone(),
        system(),
        refund_line("r2", 600, "B", 1),
        Ok(vec![line_refunded("r2", 600, 1500, "B", 1)]),
    );
    // A SKU the order does not hold, or no unit at all, is no line refund.
    for (code, quantity) in [("C", 1), ("A", 0)] {
        check(
            given.clone(),
            system(),
            refund_line("r2", 1, code, quantity),
            Err(OrderError::InvalidRefundLine),
        );
    }
    // A retried refund records nothing, whatever it says.
    check(given, system(), refund_line("r1", 900, "A", 1), Ok(vec![]));
}

/// Prices with tax included: a unit refunds its share of the discounted price, tax inside.
#[test]
fn a_line_refund_of_an_order_taxed_with_prices_including_tax_is_within_the_price_paid() {
    let mut p = placing();
    p.tax_rate_bp = 1900;
    p.tax_rule = Some(german_vat());
    let mut given = Order::default()
        .decide(ID, &p.command(), &system())
        .expect("places");
    given.extend([
        OrderEvent::OrderStockReserved { at: t(10) },
        OrderEvent::OrderPaymentAuthorized { at: t(20) },
        OrderEvent::OrderConfirmed { at: t(30) },
        OrderEvent::OrderPaymentCaptured {
            amount: eur(2999),
            at: t(40),
        },
    ]);
    // A: 2 × 10.00, tax included: 10.00 a unit, not a cent more.
    check(
        given.clone(),
        system(),
        refund_line("r1", 1001, "A", 1),
        Err(OrderError::RefundExceedsLine),
    );
    check(
        given,
        system(),
        refund_line("r1", 1000, "A", 1),
        Ok(vec![line_refunded("r1", 1000, 1000, "A", 1)]),
    );
}

// Disputes.

fn record_dispute(dispute_id: &str, amount: i64) -> OrderCommand {
    OrderCommand::RecordDispute {
        dispute_id: dispute_id.into(),
        amount: eur(amount),
        reason: "fraudulent".into(),
        now: t(90),
    }
}

fn dispute_opened(dispute_id: &str, amount: i64) -> OrderEvent {
    OrderEvent::OrderDisputeOpened {
        dispute_id: dispute_id.into(),
        amount: eur(amount),
        reason: "fraudulent".into(),
        at: t(90),
    }
}

fn close_dispute(dispute_id: &str, outcome: DisputeOutcome) -> OrderCommand {
    OrderCommand::CloseDispute {
        dispute_id: dispute_id.into(),
        outcome,
        now: t(95),
    }
}

fn dispute_closed(dispute_id: &str, outcome: DisputeOutcome, amount: i64) -> OrderEvent {
    OrderEvent::OrderDisputeClosed {
        dispute_id: dispute_id.into(),
        outcome,
        amount: eur(amount),
        at: t(95),
    }
}

#[test]
fn a_dispute_of_a_paid_order_is_recorded_once_and_within_what_the_shop_holds() {
    check(
        at_paid(),
        system(),
        record_dispute("dp_1", TOTAL),
        Ok(vec![dispute_opened("dp_1", TOTAL)]),
    );
    for given in [at_placed(), at_confirmed()] {
        check(
            given,
            system(),
            record_dispute("dp_1", 100),
            Err(OrderError::NotPaid),
        );
    }
    let mut refunded_part = at_paid();
    refunded_part.push(refunded("r1", 1000, 1000));
    check(
        refunded_part.clone(),
        system(),
        record_dispute("dp_1", TOTAL - 999),
        Err(OrderError::RefundExceedsCaptured),
    );
    refunded_part.push(dispute_opened("dp_1", TOTAL - 1000));
    // The same dispute again records nothing; no refund fits beside it.
    check(
        refunded_part.clone(),
        system(),
        record_dispute("dp_1", TOTAL - 1000),
        Ok(vec![]),
    );
    check(
        refunded_part,
        system(),
        refund("r2", eur(1)),
        Err(OrderError::RefundExceedsCaptured),
    );
    for id in ["", " "] {
        check(
            at_paid(),
            system(),
            record_dispute(id, 100),
            Err(OrderError::InvalidDispute),
        );
    }
}

#[test]
fn only_the_platform_records_disputes() {
    let mut given = at_paid();
    given.push(dispute_opened("dp_1", 100));
    for (by, error) in [
        (staff("staff"), OrderError::Forbidden),
        // Roles that do not read orders learn nothing, as strangers do.
        (staff("support"), OrderError::NotFound),
        (guest(), OrderError::Forbidden),
        (other_guest(), OrderError::NotFound),
    ] {
        check(
            given.clone(),
            by.clone(),
            record_dispute("dp_2", 100),
            Err(error.clone()),
        );
        check(
            given.clone(),
            by,
            close_dispute("dp_1", DisputeOutcome::Won),
            Err(error),
        );
    }
}

#[test]
fn a_dispute_is_closed_once_and_shows_in_the_view_and_the_timeline() {
    let mut given = at_delivered();
    given.push(dispute_opened("dp_1", TOTAL));
    check(
        given.clone(),
        system(),
        close_dispute("dp_9", DisputeOutcome::Lost),
        Err(OrderError::InvalidDispute),
    );
    check(
        given.clone(),
        system(),
        close_dispute("dp_1", DisputeOutcome::Lost),
        Ok(vec![dispute_closed("dp_1", DisputeOutcome::Lost, TOTAL)]),
    );
    given.push(dispute_closed("dp_1", DisputeOutcome::Lost, TOTAL));
    check(
        given.clone(),
        system(),
        close_dispute("dp_1", DisputeOutcome::Won),
        Ok(vec![]),
    );
    let view = state(&given).view(ID, 9);
    // The status follows the goods, not the money: it stays delivered.
    assert_eq!(view.status, OrderStatus::Delivered);
    assert_eq!(view.disputes.len(), 1);
    assert_eq!(view.disputes[0].outcome, Some(DisputeOutcome::Lost));
    let events: Vec<&str> = view.timeline.iter().map(|e| e.event.as_str()).collect();
    assert!(
        events.ends_with(&["dispute_opened", "dispute_lost"]),
        "{events:?}"
    );
    assert_eq!(
        view.timeline.last().and_then(|e| e.note.as_deref()),
        Some("3599 EUR")
    );
}

#[test]
fn a_won_dispute_gives_the_money_back_to_refund() {
    let mut given = at_paid();
    given.extend([
        dispute_opened("dp_1", TOTAL),
        dispute_closed("dp_1", DisputeOutcome::Won, TOTAL),
    ]);
    check(
        given,
        system(),
        refund("r1", eur(TOTAL)),
        Ok(vec![refunded("r1", TOTAL, TOTAL)]),
    );
}

mod marketplace;
mod parcels;

//! Marketplace sub-orders and vendor access, given/when/then. The order of `market()` has
//! four lines from three sellers: A (2 × 10.00) and C (1 × 3.00) sold by `acme`, B
//! (1 × 5.00) by `globex`, and D (1 × 2.00) the shop's own; 4.99 shipping, 20 % tax.

use super::parcels::{allocate, allocated, return_opened, units, update};
use super::*;
use crate::{LineUnits, ParcelStatus};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

/// Subtotal 30.00, shipping 4.99, tax 20 % of 34.99 = 6.998 → 7.00.
const MARKET_TOTAL: i64 = 4199;

fn vendor(vendor: &str) -> Principal {
    Principal::Vendor {
        id: format!("{vendor}-user"),
        vendor: vendor.into(),
    }
}

fn sold_by(code: &str, quantity: i64, unit_price: i64, vendor: Option<&str>) -> OrderLine {
    OrderLine {
        vendor_id: vendor.map(str::to_string),
        ..line(code, quantity, unit_price)
    }
}

fn market() -> Placing {
    Placing {
        lines: vec![
            sold_by("A", 2, 1000, Some(ACME)),
            sold_by("B", 1, 500, Some(GLOBEX)),
            sold_by("C", 1, 300, Some(ACME)),
            sold_by("D", 1, 200, None),
        ],
        ..placing()
    }
}

/// Places `p` the way the checkout does and returns what was recorded.
fn placed_as(p: Placing) -> OrderEvent {
    Order::default()
        .decide(ID, &p.command(), &system())
        .expect("places")
        .into_iter()
        .next()
        .expect("one event")
}

/// The marketplace order, placed and nothing more.
fn market_placed() -> Vec<OrderEvent> {
    vec![placed_as(market())]
}

/// The marketplace order, confirmed and captured.
fn market_paid() -> Vec<OrderEvent> {
    vec![
        placed_as(market()),
        OrderEvent::OrderStockReserved { at: t(10) },
        OrderEvent::OrderPaymentAuthorized { at: t(20) },
        OrderEvent::OrderConfirmed { at: t(30) },
        OrderEvent::OrderPaymentCaptured {
            amount: eur(MARKET_TOTAL),
            at: t(40),
        },
    ]
}

/// `given` and what `command` by `by` records on it.
fn then_after(mut given: Vec<OrderEvent>, by: Principal, command: OrderCommand) -> Vec<OrderEvent> {
    let events = state(&given)
        .decide(ID, &command, &by)
        .expect("the command is accepted");
    given.extend(events);
    given
}

/// Paid; acme's lines in parcel `p-acme`, globex's in `p-globex`, both packing.
fn market_packed() -> Vec<OrderEvent> {
    let given = then_after(
        market_paid(),
        vendor(ACME),
        allocate("p-acme", vec![units("A", 2), units("C", 1)]),
    );
    then_after(
        given,
        vendor(GLOBEX),
        allocate("p-globex", vec![units("B", 1)]),
    )
}

fn sub_order_statuses(given: &[OrderEvent]) -> Vec<(Option<String>, OrderStatus)> {
    state(given)
        .view(ID, 1)
        .sub_orders
        .into_iter()
        .map(|s| (s.vendor_id, s.status))
        .collect()
}

fn statuses(
    acme: OrderStatus,
    globex: OrderStatus,
    shop: OrderStatus,
) -> Vec<(Option<String>, OrderStatus)> {
    vec![
        (Some(ACME.into()), acme),
        (Some(GLOBEX.into()), globex),
        (None, shop),
    ]
}

// Placing.

#[test]
fn a_line_names_its_vendor_with_an_id_like_any_other() {
    let with_vendor = |vendor_id: &str| {
        let mut p = market();
        p.lines[0].vendor_id = Some(vendor_id.to_string());
        p
    };
    for bad in [
        String::new(),
        " ".into(),
        " acme".into(),
        "acme\n".into(),
        "ac\u{7}me".into(),
        "v".repeat(MAX_ID_CHARS + 1),
    ] {
        check(
            vec![],
            system(),
            with_vendor(&bad).command(),
            Err(OrderError::InvalidVendor),
        );
    }
    let longest = "v".repeat(MAX_ID_CHARS);
    let placed = placed_as(with_vendor(&longest));
    assert!(
        matches!(&placed, OrderEvent::OrderPlaced { lines, .. }
            if lines[0].vendor_id.as_deref() == Some(longest.as_str())),
        "{placed:?}"
    );
    assert_eq!(OrderError::InvalidVendor.code(), "order.invalid_vendor");
}

#[test]
fn an_order_placed_before_vendors_still_reads_as_the_shops_own() {
    let json = serde_json::json!({"OrderPlaced": {
        "owner": {"kind": "guest", "token_sha256": token_hash('a')},
        "cart_id": "cart-1",
        "lines": [
            {"sku": "A", "product_id": "product-A", "title": "Product A",
             "unit_price": {"amount_minor": 1000, "currency": "EUR"}, "quantity": 2},
            {"sku": "B", "product_id": "product-B", "title": "Product B",
             "unit_price": {"amount_minor": 500, "currency": "EUR"}, "quantity": 1}
        ],
        "shipping_address": serde_json::to_value(address()).expect("serializes"),
        "email": "ada@example.com",
        "currency": "EUR",
        "subtotal": {"amount_minor": 2500, "currency": "EUR"},
        "shipping": {"amount_minor": 499, "currency": "EUR"},
        "tax_rate_bp": 2000,
        "tax": {"amount_minor": 600, "currency": "EUR"},
        "total": {"amount_minor": TOTAL, "currency": "EUR"},
        "at": t(0)
    }});
    let event: OrderEvent = serde_json::from_value(json).expect("an old event parses");
    assert_eq!(event, placed());
    // Written back, a line without a vendor still has no `vendor_id` key.
    let written = serde_json::to_value(&event).expect("serializes");
    assert!(written["OrderPlaced"]["lines"][0]
        .get("vendor_id")
        .is_none());

    let view = state(&[event]).view(ID, 1);
    assert!(view.lines.iter().all(|l| l.vendor_id.is_none()));
    let shop = &view.sub_orders[..];
    assert_eq!(shop.len(), 1);
    assert_eq!(
        (&shop[0].vendor_id, shop[0].status, &shop[0].skus),
        (&None, OrderStatus::Placed, &vec![sku("A"), sku("B")])
    );
    assert_eq!((shop[0].subtotal, shop[0].paid), (eur(2500), eur(3000)));
    // A view written before sub-orders existed reads too.
    let mut old_view = serde_json::to_value(&view).expect("serializes");
    old_view
        .as_object_mut()
        .expect("an object")
        .remove("sub_orders");
    let read: OrderView = serde_json::from_value(old_view).expect("an old view parses");
    assert!(read.sub_orders.is_empty());
}

#[test]
fn vendor_ids_survive_the_events_the_state_and_the_view() {
    let given = market_packed();
    for event in &given {
        let json = serde_json::to_string(event).expect("serializes");
        assert_eq!(
            &serde_json::from_str::<OrderEvent>(&json).expect("parses"),
            event
        );
    }
    let order = state(&given);
    let json = serde_json::to_string(&order).expect("serializes");
    assert_eq!(serde_json::from_str::<Order>(&json).expect("parses"), order);
    let view = order.view(ID, 9);
    let vendors: Vec<Option<&str>> = view.lines.iter().map(|l| l.vendor_id.as_deref()).collect();
    assert_eq!(vendors, [Some(ACME), Some(GLOBEX), Some(ACME), None]);
    let json = serde_json::to_value(&view).expect("serializes");
    assert_eq!(json["lines"][1]["vendor_id"], GLOBEX);
    assert!(json["lines"][3].get("vendor_id").is_none());
    assert!(json["sub_orders"][2].get("vendor_id").is_none());
    assert_eq!(
        serde_json::from_value::<OrderView>(json).expect("parses"),
        view
    );
}

// Sub-orders.

#[test]
fn sub_orders_group_the_lines_by_seller_in_order_of_their_first_line() {
    let view = state(&market_paid()).view(ID, 5);
    let [acme, globex, shop] = &view.sub_orders[..] else {
        panic!("three sellers: {:?}", view.sub_orders);
    };
    assert_eq!(
        *acme,
        SubOrderView {
            vendor_id: Some(ACME.into()),
            status: OrderStatus::Confirmed,
            skus: vec![sku("A"), sku("C")],
            subtotal: eur(2300),
            discount: eur(0),
            // Tax rounded once per order, shared by running sums: A 4.00, C 0.60.
            paid: eur(2760),
            shipping: eur(0),
            shipping_option: None,
            units: 3,
            allocated_units: 0,
            shipped_units: 0,
            delivered_units: 0,
            returned_units: 0,
            refunded_units: 0,
        }
    );
    assert_eq!(
        (
            &globex.vendor_id,
            &globex.skus,
            globex.subtotal,
            globex.paid,
            globex.units
        ),
        (&Some(GLOBEX.into()), &vec![sku("B")], eur(500), eur(600), 1)
    );
    assert_eq!(
        (
            &shop.vendor_id,
            &shop.skus,
            shop.subtotal,
            shop.paid,
            shop.units
        ),
        (&None, &vec![sku("D")], eur(200), eur(240), 1)
    );
    // The sellers' shares and the shipping with its tax (4.99 + 1.00) make the total.
    let paid: i64 = view.sub_orders.iter().map(|s| s.paid.amount_minor).sum();
    assert_eq!(paid + 599, MARKET_TOTAL);
    assert_eq!(view.total, eur(MARKET_TOTAL));
}

#[test]
fn a_sub_order_has_the_orders_status_until_it_is_confirmed_and_once_cancelled() {
    let placed = market_placed();
    assert_eq!(
        sub_order_statuses(&placed),
        statuses(
            OrderStatus::Placed,
            OrderStatus::Placed,
            OrderStatus::Placed
        )
    );
    let reserved = then_after(
        placed.clone(),
        system(),
        OrderCommand::MarkStockReserved { now: t(10) },
    );
    assert_eq!(
        sub_order_statuses(&reserved),
        statuses(
            OrderStatus::StockReserved,
            OrderStatus::StockReserved,
            OrderStatus::StockReserved
        )
    );
    let cancelled = then_after(placed, system(), cancel(CancelReason::OutOfStock));
    assert_eq!(
        sub_order_statuses(&cancelled),
        statuses(
            OrderStatus::Cancelled,
            OrderStatus::Cancelled,
            OrderStatus::Cancelled
        )
    );
}

#[test]
fn each_sub_order_follows_its_own_parcels_and_the_order_follows_them_all() {
    let mut given = market_packed();
    assert_eq!(
        sub_order_statuses(&given),
        statuses(
            OrderStatus::Confirmed,
            OrderStatus::Confirmed,
            OrderStatus::Confirmed
        )
    );
    let steps = [
        // acme's parcel leaves and arrives; globex's and the shop's lines have not left.
        (
            "p-acme",
            ParcelStatus::Shipped,
            200,
            OrderStatus::PartiallyShipped,
            statuses(
                OrderStatus::Shipped,
                OrderStatus::Confirmed,
                OrderStatus::Confirmed,
            ),
        ),
        (
            "p-acme",
            ParcelStatus::Delivered,
            300,
            OrderStatus::PartiallyShipped,
            statuses(
                OrderStatus::Delivered,
                OrderStatus::Confirmed,
                OrderStatus::Confirmed,
            ),
        ),
        (
            "p-globex",
            ParcelStatus::InTransit,
            310,
            OrderStatus::PartiallyShipped,
            statuses(
                OrderStatus::Delivered,
                OrderStatus::Shipped,
                OrderStatus::Confirmed,
            ),
        ),
    ];
    for (parcel, status, at, order_status, sub_orders) in steps {
        given = then_after(given, system(), update(parcel, status, at));
        assert_eq!(state(&given).status(), order_status, "{parcel} {status:?}");
        assert_eq!(
            sub_order_statuses(&given),
            sub_orders,
            "{parcel} {status:?}"
        );
    }
    // The shop ships its own line: every unit left, one sub-order is still on its way.
    given = then_after(
        given,
        staff("staff"),
        allocate("p-shop", vec![units("D", 1)]),
    );
    given = then_after(
        given,
        system(),
        update("p-shop", ParcelStatus::Delivered, 320),
    );
    assert_eq!(state(&given).status(), OrderStatus::Shipped);
    assert_eq!(
        sub_order_statuses(&given),
        statuses(
            OrderStatus::Delivered,
            OrderStatus::Shipped,
            OrderStatus::Delivered
        )
    );
    given = then_after(
        given,
        system(),
        update("p-globex", ParcelStatus::Delivered, 400),
    );
    assert_eq!(state(&given).status(), OrderStatus::Delivered);
    let acme = &state(&given).view(ID, 1).sub_orders[0];
    assert_eq!(
        (
            acme.allocated_units,
            acme.shipped_units,
            acme.delivered_units
        ),
        (3, 3, 3)
    );
}

#[test]
fn a_sub_order_is_refunded_once_every_unit_of_it_was() {
    let refund_b = OrderCommand::RecordRefund {
        refund_id: "re-b".into(),
        amount: eur(600),
        line: Some(RefundLine {
            sku: sku("B"),
            quantity: 1,
        }),
        now: t(80),
    };
    let given = then_after(market_paid(), system(), refund_b);
    // A partial refund of the order: the order stays confirmed.
    assert_eq!(state(&given).status(), OrderStatus::Confirmed);
    assert_eq!(
        sub_order_statuses(&given),
        statuses(
            OrderStatus::Confirmed,
            OrderStatus::Refunded,
            OrderStatus::Confirmed
        )
    );
    assert_eq!(state(&given).view(ID, 1).sub_orders[1].refunded_units, 1);
    // The whole capture refunded: every sub-order with the order.
    let given = then_after(given, system(), refund("re-rest", eur(MARKET_TOTAL - 600)));
    assert_eq!(state(&given).status(), OrderStatus::Refunded);
    assert_eq!(
        sub_order_statuses(&given),
        statuses(
            OrderStatus::Refunded,
            OrderStatus::Refunded,
            OrderStatus::Refunded
        )
    );
}

// Vendor access.

#[test]
fn a_vendor_without_a_line_in_the_order_finds_no_order() {
    for (given, by) in [
        (market_paid(), vendor("initech")),
        // An order from before vendors has no vendor's lines at all.
        (at_paid(), vendor(ACME)),
    ] {
        assert_eq!(state(&given).authorize_read(&by), Err(OrderError::NotFound));
        for command in every_command().into_iter().skip(1).chain([
            allocate("p1", vec![units("A", 1)]),
            OrderCommand::ReleaseParcel {
                shipment_id: "p1".into(),
                now: t(150),
            },
        ]) {
            check(
                given.clone(),
                by.clone(),
                command,
                Err(OrderError::NotFound),
            );
        }
    }
    assert_eq!(
        Order::default().authorize_read(&vendor(ACME)),
        Err(OrderError::NotFound)
    );
}

#[test]
fn a_vendor_reads_the_order_but_changes_nothing_beyond_packing_its_lines() {
    assert_eq!(state(&market_paid()).authorize_read(&vendor(ACME)), Ok(()));
    assert_eq!(
        state(&market_paid()).authorize_read(&vendor(GLOBEX)),
        Ok(())
    );
    let mut commands = every_command();
    commands.extend([
        update("p-acme", ParcelStatus::Shipped, 200),
        OrderCommand::OpenReturn {
            return_id: "r1".into(),
            lines: vec![units("A", 1)],
            window_days: 30,
            now: t(500),
        },
        OrderCommand::ReleaseReturn {
            return_id: "r1".into(),
            now: t(520),
        },
        cancel(CancelReason::Staff),
    ]);
    for command in commands {
        check(
            market_packed(),
            vendor(ACME),
            command,
            Err(OrderError::Forbidden),
        );
    }
}

#[test]
fn a_vendor_packs_its_own_lines() {
    check(
        market_paid(),
        vendor(ACME),
        allocate("p1", vec![units("C", 1), units("A", 1)]),
        Ok(vec![allocated("p1", vec![units("A", 1), units("C", 1)])]),
    );
    // The order's own checks still apply.
    check(
        market_paid(),
        vendor(ACME),
        allocate("p1", vec![units("A", 3)]),
        Err(OrderError::ExceedsUnshipped),
    );
    check(
        market_packed(),
        vendor(ACME),
        allocate("p-acme", vec![units("A", 2), units("C", 1)]),
        Ok(vec![]),
    );
}

#[test]
fn a_vendor_packing_another_sellers_line_is_forbidden_and_records_nothing() {
    for lines in [
        vec![units("B", 1)],
        vec![units("A", 1), units("B", 1)],
        // The shop's own line, and a SKU the order does not have: a vendor cannot probe.
        vec![units("D", 1)],
        vec![units("Z", 1)],
    ] {
        check(
            market_paid(),
            vendor(ACME),
            allocate("p1", lines),
            Err(OrderError::Forbidden),
        );
    }
    // Nor may it reuse the shipment id of another seller's parcel.
    check(
        market_packed(),
        vendor(ACME),
        allocate("p-globex", vec![units("A", 1)]),
        Err(OrderError::Forbidden),
    );
}

#[test]
fn a_vendor_releases_only_parcels_all_of_whose_units_are_its_own() {
    let release = |shipment_id: &str| OrderCommand::ReleaseParcel {
        shipment_id: shipment_id.into(),
        now: t(150),
    };
    check(
        market_packed(),
        vendor(ACME),
        release("p-acme"),
        Ok(vec![OrderEvent::OrderParcelReleased {
            shipment_id: "p-acme".into(),
            at: t(150),
        }]),
    );
    // Staff packed A with B: the parcel is not acme's alone.
    let mixed = then_after(
        market_paid(),
        staff("staff"),
        allocate("p-mixed", vec![units("A", 1), units("B", 1)]),
    );
    for (given, shipment_id) in [
        (market_packed(), "p-globex"),
        (mixed, "p-mixed"),
        (market_packed(), "p-nowhere"),
    ] {
        check(
            given,
            vendor(ACME),
            release(shipment_id),
            Err(OrderError::Forbidden),
        );
    }
    let released = then_after(market_packed(), vendor(ACME), release("p-acme"));
    check(released, vendor(ACME), release("p-acme"), Ok(vec![]));
}

// What a vendor sees.

#[test]
fn a_vendor_sees_only_its_lines_and_no_customer_data_beyond_shipping() {
    let mut given = then_after(
        vec![placed_as(Placing {
            owner: OrderOwner::Customer {
                customer_id: customer_id(),
            },
            ..market()
        })],
        system(),
        OrderCommand::MarkStockReserved { now: t(10) },
    );
    // From `stock_reserved` the confirmation records the authorization too.
    given = then_after(given, system(), OrderCommand::Confirm { now: t(30) });
    given = then_after(given, system(), capture(eur(MARKET_TOTAL)));
    given = then_after(given, vendor(ACME), allocate("p-acme", vec![units("A", 2)]));
    let order = state(&given);
    let full = order.view(ID, 6);
    let view = order.view_for(ID, 6, &vendor(ACME));

    let skus: Vec<&Sku> = view.lines.iter().map(|l| &l.sku).collect();
    assert_eq!(skus, [&sku("A"), &sku("C")]);
    assert_eq!(view.lines[0], full.lines[0]);
    assert_eq!(view.sub_orders, vec![full.sub_orders[0].clone()]);
    assert_eq!(
        (view.email.as_str(), view.customer_id, view.cart_id.as_str()),
        ("", None, "")
    );
    assert!(view.promotions.is_empty() && view.shipment.is_none());
    // Its money: A 20.00 + C 3.00, with their 4.60 of the order's 7.00 tax.
    assert_eq!(
        (view.subtotal, view.discount, view.tax, view.total),
        (eur(2300), eur(0), eur(460), eur(2760))
    );
    assert_eq!(
        (
            view.shipping,
            view.shipping_discount,
            view.captured,
            view.refunded
        ),
        (eur(0), eur(0), eur(0), eur(0))
    );
    // What it needs to ship, and the order's progress, stay.
    assert_eq!(view.shipping_address, address());
    assert_eq!(
        (view.id.as_str(), view.version, view.status, view.placed_at),
        (ID, 6, full.status, full.placed_at)
    );
    assert_eq!(view.parcels, full.parcels);
    let events: Vec<&str> = view.timeline.iter().map(|e| e.event.as_str()).collect();
    let all: Vec<&str> = full.timeline.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, all);
    assert!(view.timeline.iter().all(|e| e.note.is_none()));

    let json = serde_json::to_string(&view).expect("serializes");
    for secret in [
        "ada@example.com",
        "cart-1",
        GLOBEX,
        "product-B",
        "product-D",
        &customer_id().to_string(),
        &MARKET_TOTAL.to_string(),
    ] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
}

#[test]
fn a_vendor_sees_only_parcels_and_returns_of_its_own_lines() {
    let mut given = then_after(
        market_paid(),
        staff("staff"),
        allocate("p-mixed", vec![units("A", 1), units("B", 1)]),
    );
    given = then_after(given, vendor(ACME), allocate("p-acme", vec![units("A", 1)]));
    for parcel in ["p-mixed", "p-acme"] {
        given = then_after(
            given,
            system(),
            update(parcel, ParcelStatus::Delivered, 300),
        );
    }
    given.push(return_opened(
        "r-mixed",
        vec![units("A", 1), units("B", 1)],
        500,
    ));
    given.push(return_opened("r-globex", vec![units("B", 1)], 510));
    let order = state(&given);

    let acme = order.view_for(ID, 9, &vendor(ACME));
    let parcels: Vec<&str> = acme
        .parcels
        .iter()
        .map(|p| p.shipment_id.as_str())
        .collect();
    assert_eq!(parcels, ["p-acme"]);
    assert_eq!(acme.returns.len(), 1);
    assert_eq!(
        (acme.returns[0].return_id.as_str(), &acme.returns[0].lines),
        ("r-mixed", &vec![units("A", 1)])
    );
    // Its line still counts every unit of it, in whatever parcel it went.
    assert_eq!(
        (acme.lines[0].delivered_units, acme.lines[0].returned_units),
        (2, 1)
    );

    let globex = order.view_for(ID, 9, &vendor(GLOBEX));
    assert!(globex.parcels.is_empty());
    let returns: Vec<(&str, &Vec<LineUnits>)> = globex
        .returns
        .iter()
        .map(|r| (r.return_id.as_str(), &r.lines))
        .collect();
    assert_eq!(
        returns,
        [
            ("r-mixed", &vec![units("B", 1)]),
            ("r-globex", &vec![units("B", 1)])
        ]
    );
}

#[test]
fn a_vendors_share_of_tax_included_in_prices_is_inside_its_total() {
    let given = vec![placed_as(Placing {
        tax_rate_bp: 1900,
        tax_rule: Some(german_vat()),
        ..market()
    })];
    let view = state(&given).view_for(ID, 1, &vendor(ACME));
    // Per line: 20.00 × 19/119 = 3.193… → 3.19, 3.00 × 19/119 = 0.478… → 0.48.
    assert_eq!(
        (view.subtotal, view.tax, view.total),
        (eur(2300), eur(367), eur(2300))
    );
}

#[test]
fn a_command_reply_to_a_vendor_is_narrowed_too() {
    let given = then_after(
        market_paid(),
        vendor(ACME),
        allocate("p-acme", vec![units("A", 2)]),
    );
    let order = state(&given);
    let reply = order.command_view_for(ID, 6, &vendor(ACME));
    assert_eq!(reply, order.view_for(ID, 6, &vendor(ACME)));
    assert!(reply
        .lines
        .iter()
        .all(|l| l.vendor_id.as_deref() == Some(ACME)));
    assert_eq!(reply.email, "");
    assert_eq!(reply.total, eur(2760));
}

#[test]
fn everyone_else_sees_the_whole_order_as_before() {
    let given = market_packed();
    let order = state(&given);
    let full = order.view(ID, 7);
    assert_eq!(full.lines.len(), 4);
    assert_eq!(full.email, "ada@example.com");
    assert_eq!(
        (full.total, full.captured),
        (eur(MARKET_TOTAL), eur(MARKET_TOTAL))
    );
    for by in [
        system(),
        staff("staff"),
        staff("admin"),
        staff("auditor"),
        guest(),
    ] {
        assert_eq!(order.view_for(ID, 7, &by), full, "{by:?}");
        assert_eq!(order.command_view_for(ID, 7, &by), full, "{by:?}");
    }
    // An order without vendors reads exactly as it did.
    let plain = state(&at_shipped());
    assert_eq!(plain.view_for(ID, 6, &guest()), plain.view(ID, 6));
}

// Shipping at a vendor's own rates.

fn option(id: &str) -> OrderShippingOption {
    OrderShippingOption {
        zone_id: "eu".into(),
        option_id: id.into(),
        name: id.into(),
        kind: "standard".into(),
        min_days: 1,
        max_days: 3,
    }
}

/// The market order where acme ships its lines at its own rates for 2.99 of the 4.99, and
/// the rest ships at the shop's `standard` for 2.00.
fn market_own_shipping() -> Placing {
    Placing {
        shipping_option: Some(option("standard")),
        vendor_shipping: vec![VendorShipping {
            vendor_id: ACME.into(),
            fee: eur(299),
            option: option("acme-post"),
        }],
        ..market()
    }
}

#[test]
fn a_vendors_own_shipping_is_recorded_and_shown_on_its_sub_order() {
    let placed = placed_as(market_own_shipping());
    let OrderEvent::OrderPlaced {
        shipping,
        total,
        ref vendor_shipping,
        ..
    } = placed
    else {
        panic!("placed: {placed:?}");
    };
    // The order's shipping and totals are what they were: the vendor's charge is part of it.
    assert_eq!((shipping, total), (eur(499), eur(MARKET_TOTAL)));
    assert_eq!(vendor_shipping.len(), 1);
    let order = state(std::slice::from_ref(&placed));
    let view = order.view(ID, 1);
    assert_eq!(view.vendor_shipping, market_own_shipping().vendor_shipping);
    let [acme, globex, shop] = &view.sub_orders[..] else {
        panic!("three sellers: {:?}", view.sub_orders);
    };
    assert_eq!(
        (acme.shipping, acme.shipping_option.clone()),
        (eur(299), Some(option("acme-post")))
    );
    // Globex ships at the shop's rates, as the shop's own lines do.
    for other in [globex, shop] {
        assert_eq!(
            (other.shipping, other.shipping_option.clone()),
            (eur(0), Some(option("standard")))
        );
    }
    // Acme sees its own charge and option; globex sees the shop's option and no charge of
    // another vendor.
    let seen = order.view_for(ID, 1, &vendor(ACME));
    assert_eq!(
        (
            seen.shipping,
            seen.shipping_option,
            seen.vendor_shipping.len()
        ),
        (eur(299), Some(option("acme-post")), 1)
    );
    let seen = order.view_for(ID, 1, &vendor(GLOBEX));
    assert_eq!(
        (seen.shipping, seen.shipping_option, seen.vendor_shipping),
        (eur(0), Some(option("standard")), vec![])
    );
    // A retried placement is the same order; another charge is not.
    assert_eq!(
        order.decide(ID, &market_own_shipping().command(), &system()),
        Ok(vec![])
    );
    let mut other = market_own_shipping();
    other.vendor_shipping[0].fee = eur(300);
    assert_eq!(
        order.decide(ID, &other.command(), &system()),
        Err(OrderError::AlreadyExists)
    );
}

#[test]
fn a_vendors_own_shipping_names_a_seller_of_the_order_once_within_its_shipping() {
    let charge = |vendor: &str, fee: i64| VendorShipping {
        vendor_id: vendor.into(),
        fee: eur(fee),
        option: option("own"),
    };
    for bad in [
        // Not a seller of the order's lines.
        vec![charge("initech", 100)],
        // Twice.
        vec![charge(ACME, 100), charge(ACME, 100)],
        // More than the order's shipping.
        vec![charge(ACME, 300), charge(GLOBEX, 200)],
        // Negative.
        vec![charge(ACME, -1)],
        // Another currency.
        vec![VendorShipping {
            fee: Money::new(100, Currency::parse("USD").expect("valid")),
            ..charge(ACME, 0)
        }],
    ] {
        let placing = Placing {
            vendor_shipping: bad.clone(),
            ..market()
        };
        assert_eq!(
            Order::default().decide(ID, &placing.command(), &system()),
            Err(OrderError::InvalidShipping),
            "{bad:?}"
        );
    }
    // Both vendors at their own rates, for all of it.
    let placing = Placing {
        vendor_shipping: vec![charge(ACME, 300), charge(GLOBEX, 199)],
        ..market()
    };
    assert!(Order::default()
        .decide(ID, &placing.command(), &system())
        .is_ok());
}

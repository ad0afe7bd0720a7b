//! Parcels and returns, given/when/then. The order of `placing()` has two lines: 2 × A and
//! 1 × B, so three units.

use super::*;
use crate::{LineUnits, ParcelStatus};

const DAY: i64 = 86_400;

pub(super) fn units(code: &str, quantity: i64) -> LineUnits {
    LineUnits {
        sku: sku(code),
        quantity,
    }
}

pub(super) fn allocate(shipment_id: &str, lines: Vec<LineUnits>) -> OrderCommand {
    OrderCommand::AllocateParcel {
        shipment_id: shipment_id.into(),
        lines,
        now: t(100),
    }
}

pub(super) fn allocated(shipment_id: &str, lines: Vec<LineUnits>) -> OrderEvent {
    OrderEvent::OrderParcelAllocated {
        shipment_id: shipment_id.into(),
        lines,
        at: t(100),
    }
}

pub(super) fn update(shipment_id: &str, status: ParcelStatus, at: i64) -> OrderCommand {
    OrderCommand::UpdateParcel {
        shipment_id: shipment_id.into(),
        status,
        carrier: Some("DHL".into()),
        tracking_number: Some(format!("JD-{shipment_id}")),
        tracking_url: None,
        now: t(at),
    }
}

/// The event `update` records when the order ends up at `order_status`.
pub(super) fn updated(
    shipment_id: &str,
    status: ParcelStatus,
    at: i64,
    order_status: OrderStatus,
) -> OrderEvent {
    OrderEvent::OrderParcelUpdated {
        shipment_id: shipment_id.into(),
        status,
        carrier: Some("DHL".into()),
        tracking_number: Some(format!("JD-{shipment_id}")),
        tracking_url: None,
        order_status,
        at: t(at),
    }
}

fn open_return(return_id: &str, lines: Vec<LineUnits>, at: i64) -> OrderCommand {
    OrderCommand::OpenReturn {
        return_id: return_id.into(),
        lines,
        window_days: 30,
        now: t(at),
    }
}

pub(super) fn return_opened(return_id: &str, lines: Vec<LineUnits>, at: i64) -> OrderEvent {
    OrderEvent::OrderReturnOpened {
        return_id: return_id.into(),
        lines,
        at: t(at),
    }
}

/// Paid, A in parcel p1 and B in parcel p2, both packing.
fn at_packed() -> Vec<OrderEvent> {
    let mut given = at_paid();
    given.push(allocated("p1", vec![units("A", 2)]));
    given.push(allocated("p2", vec![units("B", 1)]));
    given
}

/// Both parcels delivered: p1 at t(300), p2 at t(400).
fn at_parcels_delivered() -> Vec<OrderEvent> {
    let mut given = at_packed();
    given.push(updated(
        "p1",
        ParcelStatus::Shipped,
        200,
        OrderStatus::PartiallyShipped,
    ));
    given.push(updated(
        "p2",
        ParcelStatus::Shipped,
        210,
        OrderStatus::Shipped,
    ));
    given.push(updated(
        "p1",
        ParcelStatus::Delivered,
        300,
        OrderStatus::Shipped,
    ));
    given.push(updated(
        "p2",
        ParcelStatus::Delivered,
        400,
        OrderStatus::Delivered,
    ));
    given
}

#[test]
fn staff_set_units_aside_for_a_parcel_listed_in_sku_order() {
    check(
        at_paid(),
        staff("staff"),
        allocate("p1", vec![units("B", 1), units("A", 1)]),
        Ok(vec![allocated("p1", vec![units("A", 1), units("B", 1)])]),
    );
    check(
        at_paid(),
        system(),
        allocate("p1", vec![units("A", 2), units("B", 1)]),
        Ok(vec![allocated("p1", vec![units("A", 2), units("B", 1)])]),
    );
}

#[test]
fn allocating_the_same_parcel_again_records_nothing_and_other_lines_are_refused() {
    check(
        at_packed(),
        staff("staff"),
        allocate("p1", vec![units("A", 2)]),
        Ok(vec![]),
    );
    check(
        at_packed(),
        staff("staff"),
        allocate("p1", vec![units("A", 1)]),
        Err(OrderError::InvalidTransition),
    );
}

#[test]
fn no_unit_is_packed_twice() {
    let mut given = at_paid();
    given.push(allocated("p1", vec![units("A", 1)]));
    check(
        given.clone(),
        staff("staff"),
        allocate("p2", vec![units("A", 2)]),
        Err(OrderError::ExceedsUnshipped),
    );
    check(
        given,
        staff("staff"),
        allocate("p2", vec![units("A", 1), units("B", 1)]),
        Ok(vec![allocated("p2", vec![units("A", 1), units("B", 1)])]),
    );
    check(
        at_packed(),
        staff("staff"),
        allocate("p3", vec![units("B", 1)]),
        Err(OrderError::ExceedsUnshipped),
    );
    check(
        at_parcels_delivered(),
        staff("staff"),
        allocate("p3", vec![units("B", 1)]),
        Err(OrderError::ExceedsUnshipped),
    );
}

#[test]
fn only_a_paid_order_is_packed_and_never_one_shipped_the_old_way() {
    check(
        at_confirmed(),
        staff("staff"),
        allocate("p1", vec![units("A", 1)]),
        Err(OrderError::NotPaid),
    );
    check(
        at_placed(),
        staff("staff"),
        allocate("p1", vec![units("A", 1)]),
        Err(OrderError::InvalidTransition),
    );
    check(
        at_paid_then_cancelled(),
        staff("staff"),
        allocate("p1", vec![units("A", 1)]),
        Err(OrderError::InvalidTransition),
    );
    check(
        at_shipped(),
        staff("staff"),
        allocate("p1", vec![units("A", 1)]),
        Err(OrderError::InvalidTransition),
    );
}

#[test]
fn a_parcel_names_lines_of_the_order_with_sensible_quantities() {
    let bad: Vec<(&str, Vec<LineUnits>, OrderError)> = vec![
        ("p1", vec![], OrderError::InvalidUnits),
        (" ", vec![units("A", 1)], OrderError::InvalidUnits),
        ("p1", vec![units("A", 0)], OrderError::InvalidUnits),
        ("p1", vec![units("A", -1)], OrderError::InvalidUnits),
        (
            "p1",
            vec![units("A", 1), units("A", 1)],
            OrderError::InvalidUnits,
        ),
        ("p1", vec![units("Z", 1)], OrderError::UnknownLine),
        ("p1", vec![units("A", 3)], OrderError::ExceedsUnshipped),
    ];
    for (id, lines, error) in bad {
        check(
            at_paid(),
            staff("staff"),
            allocate(id, lines.clone()),
            Err(error),
        );
    }
    let long = "p".repeat(MAX_ID_CHARS + 1);
    check(
        at_paid(),
        staff("staff"),
        allocate(&long, vec![units("A", 1)]),
        Err(OrderError::InvalidUnits),
    );
}

#[test]
fn shoppers_and_auditors_do_not_pack_and_only_the_platform_moves_parcels() {
    check(
        at_paid(),
        guest(),
        allocate("p1", vec![units("A", 1)]),
        Err(OrderError::Forbidden),
    );
    check(
        at_paid(),
        other_guest(),
        allocate("p1", vec![units("A", 1)]),
        Err(OrderError::NotFound),
    );
    check(
        at_paid(),
        staff("auditor"),
        allocate("p1", vec![units("A", 1)]),
        Err(OrderError::Forbidden),
    );
    check(
        at_packed(),
        staff("staff"),
        update("p1", ParcelStatus::Shipped, 200),
        Err(OrderError::Forbidden),
    );
    check(
        at_packed(),
        staff("staff"),
        open_return("r1", vec![units("A", 1)], 500),
        Err(OrderError::Forbidden),
    );
}

#[test]
fn the_order_status_follows_its_parcels() {
    let mut given = at_packed();
    let steps = [
        (
            "p1",
            ParcelStatus::Shipped,
            200,
            OrderStatus::PartiallyShipped,
        ),
        ("p2", ParcelStatus::Shipped, 210, OrderStatus::Shipped),
        ("p1", ParcelStatus::InTransit, 220, OrderStatus::Shipped),
        ("p1", ParcelStatus::Delivered, 300, OrderStatus::Shipped),
        (
            "p2",
            ParcelStatus::OutForDelivery,
            350,
            OrderStatus::Shipped,
        ),
        ("p2", ParcelStatus::Delivered, 400, OrderStatus::Delivered),
    ];
    for (parcel, status, at, order_status) in steps {
        let events = state(&given)
            .decide(ID, &update(parcel, status, at), &system())
            .expect("moves on");
        assert_eq!(events, vec![updated(parcel, status, at, order_status)]);
        given.extend(events);
        assert_eq!(state(&given).status(), order_status, "{parcel} {status:?}");
    }
}

#[test]
fn a_repeated_or_late_scan_records_nothing_and_nothing_follows_a_delivery() {
    let mut given = at_packed();
    given.push(updated(
        "p1",
        ParcelStatus::InTransit,
        220,
        OrderStatus::PartiallyShipped,
    ));
    for late in [ParcelStatus::Shipped, ParcelStatus::InTransit] {
        check(given.clone(), system(), update("p1", late, 230), Ok(vec![]));
    }
    check(
        at_parcels_delivered(),
        system(),
        update("p1", ParcelStatus::Exception, 500),
        Ok(vec![]),
    );
    // A problem, then the carrier tries again.
    given.push(updated(
        "p1",
        ParcelStatus::Exception,
        240,
        OrderStatus::PartiallyShipped,
    ));
    check(
        given,
        system(),
        update("p1", ParcelStatus::InTransit, 250),
        Ok(vec![updated(
            "p1",
            ParcelStatus::InTransit,
            250,
            OrderStatus::PartiallyShipped,
        )]),
    );
}

#[test]
fn a_parcel_leaves_with_a_carrier_and_tracking_number_and_must_exist() {
    let mut bare = update("p1", ParcelStatus::Shipped, 200);
    if let OrderCommand::UpdateParcel {
        carrier,
        tracking_number,
        ..
    } = &mut bare
    {
        *carrier = None;
        *tracking_number = None;
    }
    check(
        at_packed(),
        system(),
        bare,
        Err(OrderError::InvalidShipment),
    );
    check(
        at_packed(),
        system(),
        update("nope", ParcelStatus::Shipped, 200),
        Err(OrderError::UnknownParcel),
    );
    check(
        at_packed(),
        system(),
        update("p1", ParcelStatus::Packing, 200),
        Ok(vec![]),
    );
}

#[test]
fn a_parcel_cancelled_while_packing_frees_its_units() {
    let released = OrderEvent::OrderParcelReleased {
        shipment_id: "p1".into(),
        at: t(150),
    };
    let release = OrderCommand::ReleaseParcel {
        shipment_id: "p1".into(),
        now: t(150),
    };
    check(
        at_packed(),
        staff("staff"),
        release.clone(),
        Ok(vec![released.clone()]),
    );
    let mut given = at_packed();
    given.push(released);
    check(given.clone(), system(), release.clone(), Ok(vec![]));
    check(
        given.clone(),
        staff("staff"),
        allocate("p3", vec![units("A", 2)]),
        Ok(vec![allocated("p3", vec![units("A", 2)])]),
    );
    assert!(state(&given)
        .view(ID, 1)
        .parcels
        .iter()
        .all(|p| p.shipment_id != "p1"));
    let mut sent = at_packed();
    sent.push(updated(
        "p1",
        ParcelStatus::Shipped,
        200,
        OrderStatus::PartiallyShipped,
    ));
    check(
        sent,
        staff("staff"),
        release,
        Err(OrderError::InvalidTransition),
    );
}

#[test]
fn an_order_being_packed_is_not_cancelled_nor_shipped_the_old_way() {
    check(
        at_packed(),
        staff("staff"),
        cancel(CancelReason::Staff),
        Err(OrderError::InvalidTransition),
    );
    check(
        at_packed(),
        guest(),
        cancel(CancelReason::CustomerRequest),
        Err(OrderError::InvalidTransition),
    );
    check(
        at_packed(),
        staff("staff"),
        ship("DHL", "1"),
        Err(OrderError::InvalidTransition),
    );
    check(
        at_parcels_delivered(),
        staff("staff"),
        OrderCommand::MarkDelivered { now: t(600) },
        Err(OrderError::InvalidTransition),
    );
}

#[test]
fn delivered_units_are_returned_within_the_window() {
    check(
        at_parcels_delivered(),
        system(),
        open_return("r1", vec![units("A", 1)], 300 + 30 * DAY),
        Ok(vec![return_opened(
            "r1",
            vec![units("A", 1)],
            300 + 30 * DAY,
        )]),
    );
    check(
        at_parcels_delivered(),
        system(),
        open_return("r1", vec![units("A", 1)], 301 + 30 * DAY),
        Err(OrderError::ReturnWindowClosed),
    );
    // B was delivered later, so its window closes later.
    check(
        at_parcels_delivered(),
        system(),
        open_return("r1", vec![units("B", 1)], 400 + 30 * DAY),
        Ok(vec![return_opened(
            "r1",
            vec![units("B", 1)],
            400 + 30 * DAY,
        )]),
    );
}

#[test]
fn units_not_delivered_yet_are_not_returned() {
    let mut given = at_packed();
    given.push(updated(
        "p1",
        ParcelStatus::Delivered,
        300,
        OrderStatus::PartiallyShipped,
    ));
    check(
        given.clone(),
        system(),
        open_return("r1", vec![units("B", 1)], 500),
        Err(OrderError::NotDelivered),
    );
    check(
        given,
        system(),
        open_return("r1", vec![units("A", 2)], 500),
        Ok(vec![return_opened("r1", vec![units("A", 2)], 500)]),
    );
    check(
        at_paid(),
        system(),
        open_return("r1", vec![units("A", 1)], 500),
        Err(OrderError::NotDelivered),
    );
}

#[test]
fn a_unit_is_returned_once_and_a_released_return_frees_its_units() {
    let mut given = at_parcels_delivered();
    given.push(return_opened("r1", vec![units("A", 2)], 500));
    check(
        given.clone(),
        system(),
        open_return("r1", vec![units("A", 2)], 510),
        Ok(vec![]),
    );
    check(
        given.clone(),
        system(),
        open_return("r2", vec![units("A", 1)], 510),
        Err(OrderError::ExceedsReturnable),
    );
    let released = OrderEvent::OrderReturnReleased {
        return_id: "r1".into(),
        at: t(520),
    };
    check(
        given.clone(),
        system(),
        OrderCommand::ReleaseReturn {
            return_id: "r1".into(),
            now: t(520),
        },
        Ok(vec![released.clone()]),
    );
    given.push(released);
    check(
        given,
        system(),
        open_return("r2", vec![units("A", 1)], 530),
        Ok(vec![return_opened("r2", vec![units("A", 1)], 530)]),
    );
}

#[test]
fn units_refunded_already_are_not_returned() {
    let mut given = at_parcels_delivered();
    given.push(OrderEvent::OrderRefunded {
        refund_id: "re-1".into(),
        amount: eur(1200),
        total_refunded: eur(1200),
        line: Some(RefundLine {
            sku: sku("A"),
            quantity: 1,
        }),
        at: t(450),
    });
    check(
        given.clone(),
        system(),
        open_return("r1", vec![units("A", 2)], 500),
        Err(OrderError::ExceedsReturnable),
    );
    check(
        given,
        system(),
        open_return("r1", vec![units("A", 1)], 500),
        Ok(vec![return_opened("r1", vec![units("A", 1)], 500)]),
    );
}

#[test]
fn an_order_delivered_the_old_way_can_be_returned_too() {
    check(
        at_delivered(),
        system(),
        open_return("r1", vec![units("B", 1)], 61),
        Ok(vec![return_opened("r1", vec![units("B", 1)], 61)]),
    );
    check(
        at_shipped(),
        system(),
        open_return("r1", vec![units("B", 1)], 61),
        Err(OrderError::NotDelivered),
    );
}

#[test]
fn the_view_counts_each_lines_units_and_lists_parcels_and_returns() {
    let mut given = at_parcels_delivered();
    given.push(return_opened("r1", vec![units("A", 1)], 500));
    let view = state(&given).view(ID, 9);
    let a = &view.lines[0];
    assert_eq!(
        (
            a.allocated_units,
            a.shipped_units,
            a.delivered_units,
            a.returned_units
        ),
        (2, 2, 2, 1)
    );
    assert_eq!(view.parcels.len(), 2);
    assert_eq!(view.parcels[0].shipment_id, "p1");
    assert_eq!(view.parcels[0].status, ParcelStatus::Delivered);
    assert_eq!(view.parcels[0].shipped_at, Some(t(200)));
    assert_eq!(view.parcels[0].delivered_at, Some(t(300)));
    assert_eq!(view.parcels[0].tracking_number.as_deref(), Some("JD-p1"));
    assert_eq!(view.returns.len(), 1);
    assert_eq!(view.status, OrderStatus::Delivered);
    assert!(view
        .timeline
        .iter()
        .any(|t| t.event == "parcel_delivered" && t.note.as_deref() == Some("DHL JD-p2")));
}

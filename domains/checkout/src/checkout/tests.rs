use super::*;
use agora_kernel::Currency;

const ID: &str = "5f0c9d3e-0000-4000-8000-000000000001";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("valid time")
}

fn later(secs: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(secs)
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn plan(hash: &str) -> CheckoutPlan {
    CheckoutPlan {
        cart_id: "cart-1".into(),
        owner: OrderOwner::Guest {
            token_sha256: "ab".repeat(32),
        },
        lines: vec![OrderLine {
            sku: Sku::parse("TEE-M").expect("sku"),
            product_id: "p1".into(),
            title: "Tee".into(),
            unit_price: eur(1500),
            quantity: 2,
            vendor_id: None,
            category_id: None,
        }],
        shipping_address: Address {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: "10115".into(),
            region: None,
            country: "DE".into(),
            phone: None,
        },
        email: "ada@example.com".into(),
        shipping: eur(499),
        tax_rate_bp: 0,
        tax_rule: None,
        amount: eur(3499),
        payment_method: "pm_card_visa".into(),
        request_hash: hash.into(),
        discount: None,
        commit_on_confirm: true,
        shipping_option: None,
        vendor_shipping: vec![],
    }
}

fn platform() -> Principal {
    Principal::system("checkout")
}

fn started() -> CheckoutEvent {
    CheckoutEvent::CheckoutStarted {
        plan: Box::new(plan("h1")),
        pay_by: later(PAYMENT_WINDOW_SECS),
        reserve_until: later(RESERVATION_TTL_SECS),
        at: now(),
    }
}

fn progressed(outcome: Outcome) -> CheckoutEvent {
    CheckoutEvent::CheckoutProgressed { outcome, at: now() }
}

fn record(outcome: Outcome) -> CheckoutCommand {
    CheckoutCommand::Record {
        outcome,
        now: now(),
    }
}

fn fold(given: &[CheckoutEvent]) -> Checkout {
    let mut checkout = Checkout::default();
    for e in given {
        checkout.evolve(e);
    }
    checkout
}

/// Given events, when a command by the platform, then these events or this error.
fn check(
    given: Vec<CheckoutEvent>,
    when: CheckoutCommand,
    then: Result<Vec<CheckoutEvent>, CheckoutError>,
) {
    assert_eq!(fold(&given).decide(ID, &when, &platform()), then);
}

/// The events of the happy path up to (and including) the outcome named.
fn happy_until(last: &str) -> Vec<CheckoutEvent> {
    let mut events = vec![started()];
    for outcome in [
        Outcome::OrderPlaced,
        Outcome::StockReserved,
        Outcome::PaymentAuthorized,
        Outcome::OrderConfirmed,
        Outcome::PaymentCaptured,
    ] {
        let label = outcome.label();
        events.push(progressed(outcome));
        if label == last {
            break;
        }
    }
    events
}

#[test]
fn a_checkout_starts_with_its_deadlines() {
    check(
        vec![],
        CheckoutCommand::Start {
            plan: Box::new(plan("h1")),
            now: now(),
        },
        Ok(vec![started()]),
    );
}

#[test]
fn the_same_request_again_is_a_replay_and_a_different_one_is_refused() {
    let start = |hash: &str| CheckoutCommand::Start {
        plan: Box::new(plan(hash)),
        now: later(5),
    };
    check(vec![started()], start("h1"), Ok(vec![]));
    check(vec![started()], start("h2"), Err(CheckoutError::KeyReused));
}

#[test]
fn only_the_platform_runs_a_checkout() {
    let shopper = Principal::Guest {
        token_sha256: "ab".repeat(32),
    };
    let checkout = fold(&[started()]);
    assert_eq!(
        checkout.decide(ID, &record(Outcome::OrderPlaced), &shopper),
        Err(CheckoutError::Forbidden)
    );
    assert_eq!(
        checkout.authorize_read(&shopper),
        Err(CheckoutError::NotFound)
    );
    assert_eq!(checkout.authorize_read(&platform()), Ok(()));
}

#[test]
fn outcomes_on_a_missing_checkout_are_not_found() {
    check(
        vec![],
        record(Outcome::OrderPlaced),
        Err(CheckoutError::NotFound),
    );
}

#[test]
fn the_happy_path_walks_every_action_in_order() {
    let mut events = vec![started()];
    let steps = [
        (Action::PlaceOrder, Outcome::OrderPlaced),
        (Action::ReserveStock, Outcome::StockReserved),
        (Action::Authorize, Outcome::PaymentAuthorized),
        (Action::ConfirmOrder, Outcome::OrderConfirmed),
        (Action::Capture, Outcome::PaymentCaptured),
        (Action::Finish, Outcome::Finished),
    ];
    for (action, outcome) in steps {
        let checkout = fold(&events);
        assert_eq!(checkout.next_action(), action);
        let new = checkout
            .decide(ID, &record(outcome), &platform())
            .expect("accepted");
        assert_eq!(new.len(), 1);
        events.extend(new);
    }
    let done = fold(&events);
    assert_eq!(done.phase, Phase::Completed);
    assert_eq!(done.next_action(), Action::Wait);
}

#[test]
fn a_pending_payment_waits_for_confirmation() {
    let mut given = happy_until("stock_reserved");
    given.push(progressed(Outcome::PaymentPending));
    assert_eq!(fold(&given).next_action(), Action::CheckPayment);
    check(
        given.clone(),
        record(Outcome::PaymentAuthorized),
        Ok(vec![progressed(Outcome::PaymentAuthorized)]),
    );
    // Still pending: nothing new.
    check(given, record(Outcome::PaymentPending), Ok(vec![]));
}

#[test]
fn stale_and_repeated_outcomes_record_nothing() {
    let given = happy_until("payment_authorized");
    for outcome in [
        Outcome::OrderPlaced,
        Outcome::StockReserved,
        Outcome::PaymentAuthorized,
        Outcome::PaymentCaptured,
        Outcome::Finished,
        Outcome::Compensated,
        Outcome::StockUnavailable {
            sku: Sku::parse("TEE-M").expect("sku"),
        },
    ] {
        check(given.clone(), record(outcome), Ok(vec![]));
    }
}

#[test]
fn missing_stock_fails_the_checkout_and_compensation_releases_and_voids_whatever_was_asked() {
    let given = happy_until("order_placed");
    let failed = CheckoutEvent::CheckoutFailed {
        reason: CancelReason::OutOfStock,
        detail: "out_of_stock:TEE-M".into(),
        order_cancelled: false,
        at: now(),
    };
    check(
        given.clone(),
        record(Outcome::StockUnavailable {
            sku: Sku::parse("TEE-M").expect("sku"),
        }),
        Ok(vec![failed.clone()]),
    );
    let mut failing = given;
    failing.push(failed);
    // The phase recorded may lag what the runner did, so the compensation voids whatever
    // authorization exists (nothing, when none was asked for).
    assert_eq!(
        fold(&failing).next_action(),
        Action::Compensate {
            void_payment: true,
            refund_payment: false,
            cancel_order: Some(CancelReason::OutOfStock),
            stock_committed: false,
        }
    );
    check(
        failing.clone(),
        record(Outcome::Compensated),
        Ok(vec![CheckoutEvent::CheckoutCompensated { at: now() }]),
    );
    failing.push(CheckoutEvent::CheckoutCompensated { at: now() });
    let failed = fold(&failing);
    assert_eq!(failed.phase, Phase::Failed);
    assert_eq!(failed.next_action(), Action::Wait);
    // Compensation happens once: a second failure or completion records nothing.
    check(failing, record(Outcome::Compensated), Ok(vec![]));
}

#[test]
fn a_declined_payment_compensates_with_a_void() {
    let given = happy_until("stock_reserved");
    let mut failing = given.clone();
    failing.extend(
        fold(&given)
            .decide(
                ID,
                &record(Outcome::PaymentDeclined {
                    code: "card_declined".into(),
                }),
                &platform(),
            )
            .expect("accepted"),
    );
    assert_eq!(
        fold(&failing).next_action(),
        Action::Compensate {
            void_payment: true,
            refund_payment: false,
            cancel_order: Some(CancelReason::PaymentDeclined),
            stock_committed: false,
        }
    );
}

#[test]
fn a_failed_capture_compensates_a_confirmed_order() {
    let mut given = happy_until("order_confirmed");
    given.extend(
        fold(&given)
            .decide(
                ID,
                &record(Outcome::CaptureFailed {
                    code: "expired".into(),
                }),
                &platform(),
            )
            .expect("accepted"),
    );
    // The stock was committed when the order was confirmed: it is returned.
    assert_eq!(
        fold(&given).next_action(),
        Action::Compensate {
            void_payment: true,
            refund_payment: false,
            cancel_order: Some(CancelReason::PaymentFailed),
            stock_committed: true,
        }
    );
}

#[test]
fn once_captured_the_saga_never_compensates() {
    let given = happy_until("payment_captured");
    for outcome in [
        Outcome::CaptureFailed { code: "x".into() },
        Outcome::PaymentDeclined { code: "x".into() },
        Outcome::Compensated,
    ] {
        check(given.clone(), record(outcome), Ok(vec![]));
    }
    check(
        given,
        CheckoutCommand::Abandon {
            now: later(PAYMENT_WINDOW_SECS * 10),
        },
        Ok(vec![]),
    );
}

#[test]
fn an_order_cancelled_by_the_shopper_mid_checkout_is_not_cancelled_again() {
    let given = happy_until("stock_reserved");
    let mut failing = given.clone();
    failing.extend(
        fold(&given)
            .decide(
                ID,
                &record(Outcome::OrderCancelled {
                    reason: CancelReason::CustomerRequest,
                }),
                &platform(),
            )
            .expect("accepted"),
    );
    assert_eq!(
        fold(&failing).next_action(),
        Action::Compensate {
            void_payment: true,
            refund_payment: false,
            cancel_order: None,
            stock_committed: false,
        }
    );
}

#[test]
fn a_paid_order_cancelled_later_is_reverted_once() {
    let mut given = happy_until("payment_captured");
    given.push(CheckoutEvent::CheckoutCompleted { at: now() });
    let reverting = CheckoutEvent::CheckoutReverting {
        reason: CancelReason::Staff,
        at: now(),
    };
    check(
        given.clone(),
        record(Outcome::OrderCancelled {
            reason: CancelReason::Staff,
        }),
        Ok(vec![reverting.clone()]),
    );
    given.push(reverting);
    assert_eq!(
        fold(&given).next_action(),
        Action::Revert { completed: true }
    );
    check(
        given.clone(),
        record(Outcome::OrderCancelled {
            reason: CancelReason::Staff,
        }),
        Ok(vec![]),
    );
    check(
        given,
        record(Outcome::Reverted),
        Ok(vec![CheckoutEvent::CheckoutReverted { at: now() }]),
    );
}

fn cancelled_by(reason: CancelReason) -> CheckoutCommand {
    record(Outcome::OrderCancelled { reason })
}

/// Folds `given`, decides `command` and appends what it records.
fn after(mut given: Vec<CheckoutEvent>, command: CheckoutCommand) -> Vec<CheckoutEvent> {
    let new = fold(&given)
        .decide(ID, &command, &platform())
        .expect("accepted");
    given.extend(new);
    given
}

#[test]
fn a_cancel_before_the_capture_voids_the_authorization() {
    // Given a confirmed order whose capture has not happened, when the shopper cancels,
    // then the saga fails without cancelling the order again and voids the authorization.
    let failing = after(
        happy_until("order_confirmed"),
        cancelled_by(CancelReason::CustomerRequest),
    );
    assert_eq!(fold(&failing).phase, Phase::Compensating);
    assert_eq!(
        fold(&failing).next_action(),
        Action::Compensate {
            void_payment: true,
            refund_payment: false,
            cancel_order: None,
            stock_committed: true,
        }
    );
    // The capture that raced the void lost it: its failure is stale.
    check(
        failing.clone(),
        record(Outcome::CaptureFailed {
            code: "payment.capture_failed".into(),
        }),
        Ok(vec![]),
    );
    let done = after(failing, record(Outcome::Compensated));
    assert_eq!(fold(&done).phase, Phase::Failed);
}

#[test]
fn a_cancel_after_the_provider_captured_but_before_the_record_refunds_instead_of_voiding() {
    // Given a cancel recorded while capturing, when the capture's outcome arrives late (or
    // the void finds the payment captured), then the compensation refunds the money.
    let failing = after(
        happy_until("order_confirmed"),
        cancelled_by(CancelReason::CustomerRequest),
    );
    check(
        failing.clone(),
        record(Outcome::PaymentCaptured),
        Ok(vec![progressed(Outcome::PaymentCaptured)]),
    );
    let refunding = after(failing, record(Outcome::PaymentCaptured));
    let state = fold(&refunding);
    assert_eq!(state.phase, Phase::Compensating);
    assert_eq!(
        state.next_action(),
        Action::Compensate {
            void_payment: false,
            refund_payment: true,
            cancel_order: None,
            stock_committed: true,
        }
    );
    // Seen twice, it is one observation; compensation still happens once.
    check(
        refunding.clone(),
        record(Outcome::PaymentCaptured),
        Ok(vec![]),
    );
    let done = after(refunding, record(Outcome::Compensated));
    assert_eq!(fold(&done).phase, Phase::Failed);
    check(done.clone(), record(Outcome::Compensated), Ok(vec![]));
    check(done, record(Outcome::Finished), Ok(vec![]));
}

#[test]
fn a_cancel_during_the_finishing_step_reverts_what_was_taken() {
    // Given a captured payment whose finishing step has not completed, when the shopper
    // cancels, then the saga reverts; the late `Finished` of that step records nothing.
    let reverting = after(
        happy_until("payment_captured"),
        cancelled_by(CancelReason::CustomerRequest),
    );
    let state = fold(&reverting);
    assert_eq!(state.phase, Phase::Reverting);
    // Every line was committed when the order was confirmed.
    assert_eq!(state.next_action(), Action::Revert { completed: true });
    // A checkout started before reservations were committed at the confirmation commits
    // them when it finishes: not every line may have been, the stock tells which ones were.
    let mut older = reverting.clone();
    if let CheckoutEvent::CheckoutStarted { plan, .. } = &mut older[0] {
        plan.commit_on_confirm = false;
    }
    assert_eq!(
        fold(&older).next_action(),
        Action::Revert { completed: false }
    );
    check(reverting.clone(), record(Outcome::Finished), Ok(vec![]));
    check(
        reverting,
        record(Outcome::Reverted),
        Ok(vec![CheckoutEvent::CheckoutReverted { at: now() }]),
    );
}

#[test]
fn a_refund_refused_too_often_is_left_to_staff_and_never_reverted() {
    let mut given = happy_until("payment_captured");
    given.push(CheckoutEvent::CheckoutCompleted { at: now() });
    let reverting = after(given, cancelled_by(CancelReason::Staff));
    let refused = Outcome::RefundFailed {
        code: "refund_declined".into(),
    };
    let given = after(reverting, record(refused.clone()));
    let state = fold(&given);
    assert_eq!(state.phase, Phase::RefundFailed);
    assert!(state.phase.is_terminal());
    assert_eq!(state.next_action(), Action::Wait);
    let view = state.view(ID, 3);
    assert_eq!(view.refund_failure.as_deref(), Some("refund_declined"));
    // A late `Reverted` cannot claim the money is back.
    check(given, record(Outcome::Reverted), Ok(vec![]));
    // The same from a compensation that had to refund.
    let failing = after(
        happy_until("order_confirmed"),
        cancelled_by(CancelReason::CustomerRequest),
    );
    let refunding = after(failing, record(Outcome::PaymentCaptured));
    let given = after(refunding, record(refused));
    assert_eq!(fold(&given).phase, Phase::RefundFailed);
    check(given, record(Outcome::Compensated), Ok(vec![]));
}

#[test]
fn a_lapsed_reservation_found_sold_when_committing_it_fails_the_checkout_with_a_void() {
    let given = after(
        happy_until("payment_authorized"),
        record(Outcome::StockLapsed {
            sku: Sku::parse("TEE-M").expect("sku"),
        }),
    );
    assert_eq!(
        fold(&given).next_action(),
        Action::Compensate {
            void_payment: true,
            refund_payment: false,
            cancel_order: Some(CancelReason::OutOfStock),
            stock_committed: false,
        }
    );
}

#[test]
fn an_unpaid_checkout_is_abandoned_only_after_its_window() {
    let mut given = happy_until("stock_reserved");
    given.push(progressed(Outcome::PaymentPending));
    check(
        given.clone(),
        CheckoutCommand::Abandon {
            now: later(PAYMENT_WINDOW_SECS - 1),
        },
        Ok(vec![]),
    );
    check(
        given,
        CheckoutCommand::Abandon {
            now: later(PAYMENT_WINDOW_SECS),
        },
        Ok(vec![CheckoutEvent::CheckoutFailed {
            reason: CancelReason::Abandoned,
            detail: "payment_window_passed".into(),
            order_cancelled: false,
            at: later(PAYMENT_WINDOW_SECS),
        }]),
    );
}

#[test]
fn reservations_outlive_the_payment_window() {
    const { assert!(RESERVATION_TTL_SECS > PAYMENT_WINDOW_SECS) };
}

#[test]
fn commands_arrive_in_their_wire_form_and_reject_unknown_fields() {
    let value = serde_json::json!({"record": {
        "outcome": {"outcome": "stock_unavailable", "sku": "TEE-M"},
        "now": "2027-01-15T08:00:00Z"
    }});
    let command: CheckoutCommand = serde_json::from_value(value).expect("parses");
    assert!(matches!(
        command,
        CheckoutCommand::Record {
            outcome: Outcome::StockUnavailable { .. },
            ..
        }
    ));
    assert!(serde_json::from_value::<CheckoutCommand>(
        serde_json::json!({"abandon": {"now": "2027-01-15T08:00:00Z", "force": true}})
    )
    .is_err());
}

#[test]
fn the_domain_depends_on_no_io_crate() {
    let allowed = [
        "strum",
        "agora-cart",
        "agora-kernel",
        "agora-order",
        "agora-shipping",
        "serde",
        "serde_json",
        "thiserror",
        "cqrs-es",
        "chrono",
    ];
    agora_kernel::assert_only_dependencies(include_str!("../../Cargo.toml"), &allowed);
}

#[test]
fn steps_recorded_together_are_one_fact_that_leaves_the_state_of_recording_them_one_at_a_time() {
    let outcomes = vec![
        Outcome::OrderPlaced,
        Outcome::StockReserved,
        Outcome::PaymentAuthorized,
        Outcome::OrderConfirmed,
        Outcome::PaymentCaptured,
        Outcome::Finished,
    ];
    let mut one_by_one = fold(&[started()]);
    for outcome in &outcomes {
        let events = one_by_one
            .decide(ID, &record(outcome.clone()), &platform())
            .expect("recorded");
        for e in &events {
            one_by_one.evolve(e);
        }
    }
    assert_eq!(one_by_one.phase, Phase::Completed);
    let together = CheckoutCommand::RecordSteps {
        outcomes: outcomes.clone(),
        now: now(),
    };
    check(
        vec![started()],
        together.clone(),
        Ok(vec![
            CheckoutEvent::CheckoutAdvanced {
                outcomes: outcomes[..5].to_vec(),
                at: now(),
            },
            CheckoutEvent::CheckoutCompleted { at: now() },
        ]),
    );
    let events = fold(&[started()])
        .decide(ID, &together, &platform())
        .expect("recorded");
    let mut given = vec![started()];
    given.extend(events);
    assert_eq!(fold(&given), one_by_one);
}

#[test]
fn steps_recorded_together_after_a_failure_record_the_failure_and_nothing_stale() {
    // The order was placed, then the card declined: the steps after the decline are stale.
    check(
        vec![started()],
        CheckoutCommand::RecordSteps {
            outcomes: vec![
                Outcome::OrderPlaced,
                Outcome::StockReserved,
                Outcome::PaymentDeclined {
                    code: "card_declined".into(),
                },
                Outcome::OrderConfirmed,
            ],
            now: now(),
        },
        Ok(vec![
            CheckoutEvent::CheckoutAdvanced {
                outcomes: vec![Outcome::OrderPlaced, Outcome::StockReserved],
                at: now(),
            },
            CheckoutEvent::CheckoutFailed {
                reason: CancelReason::PaymentDeclined,
                detail: "card_declined".into(),
                order_cancelled: false,
                at: now(),
            },
        ]),
    );
    // Recorded again (a retry of the same observation), nothing new.
    check(
        happy_until("stock_reserved"),
        CheckoutCommand::RecordSteps {
            outcomes: vec![Outcome::OrderPlaced, Outcome::StockReserved],
            now: now(),
        },
        Ok(vec![]),
    );
}

use super::*;
use agora_kernel::{CustomerId, DomainError};
use chrono::TimeDelta;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ID: &str = "order-1";
/// The amount every test payment is started for.
const AMOUNT: i64 = 10_000;

/// A fixed instant plus `seconds`: tests never read the clock either.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
}

/// The instant every command in these tests happens at, unless a test is about time.
fn now() -> DateTime<Utc> {
    t(0)
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

fn system() -> Principal {
    Principal::system("payments")
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

// ---- events -------------------------------------------------------------------------------

fn started() -> PaymentEvent {
    PaymentEvent::PaymentStarted {
        order_id: ID.into(),
        amount: eur(AMOUNT),
        payment_method: "pm_card_visa".into(),
        at: now(),
    }
}

fn action_required() -> PaymentEvent {
    PaymentEvent::PaymentActionRequired {
        provider_ref: "pi_1".into(),
        client_secret: Some("pi_1_secret_abc".into()),
        at: now(),
    }
}

fn authorized() -> PaymentEvent {
    PaymentEvent::PaymentAuthorized {
        provider_ref: "pi_1".into(),
        at: now(),
    }
}

fn declined() -> PaymentEvent {
    PaymentEvent::PaymentDeclined {
        provider_ref: Some("pi_1".into()),
        code: "card_declined".into(),
        at: now(),
    }
}

fn failed() -> PaymentEvent {
    PaymentEvent::PaymentFailed {
        code: "provider_unavailable".into(),
        at: now(),
    }
}

fn voided() -> PaymentEvent {
    PaymentEvent::PaymentVoided { at: now() }
}

fn captured(amount_minor: i64) -> PaymentEvent {
    PaymentEvent::PaymentCaptured {
        amount: eur(amount_minor),
        at: now(),
    }
}

fn refund_requested(refund_id: &str, amount_minor: i64) -> PaymentEvent {
    PaymentEvent::RefundRequested {
        refund_id: refund_id.into(),
        amount: eur(amount_minor),
        line: None,
        at: now(),
    }
}

fn refunded(refund_id: &str, amount_minor: i64, total_minor: i64) -> PaymentEvent {
    PaymentEvent::PaymentRefunded {
        refund_id: refund_id.into(),
        amount: eur(amount_minor),
        total_refunded: eur(total_minor),
        line: None,
        at: now(),
    }
}

fn refund_failed(refund_id: &str) -> PaymentEvent {
    PaymentEvent::RefundFailed {
        refund_id: refund_id.into(),
        code: "expired_card".into(),
        at: now(),
    }
}

fn received(event_id: &str, kind: ProviderEventKind) -> PaymentEvent {
    PaymentEvent::ProviderEventReceived {
        event_id: event_id.into(),
        provider_ref: Some("pi_1".into()),
        kind,
        at: now(),
    }
}

// ---- histories ----------------------------------------------------------------------------

fn requiring_action() -> Vec<PaymentEvent> {
    vec![started(), action_required()]
}

fn authorized_payment() -> Vec<PaymentEvent> {
    vec![started(), authorized()]
}

fn captured_payment() -> Vec<PaymentEvent> {
    vec![started(), authorized(), captured(AMOUNT)]
}

/// One history per status a started payment can be in, by status.
fn every_started_status() -> Vec<(PaymentStatus, Vec<PaymentEvent>)> {
    let mut partially = captured_payment();
    partially.extend([refund_requested("r1", 100), refunded("r1", 100, 100)]);
    let mut fully = captured_payment();
    fully.extend([
        refund_requested("r1", AMOUNT),
        refunded("r1", AMOUNT, AMOUNT),
    ]);
    vec![
        (PaymentStatus::Authorizing, vec![started()]),
        (PaymentStatus::RequiresAction, requiring_action()),
        (PaymentStatus::Authorized, authorized_payment()),
        (PaymentStatus::Captured, captured_payment()),
        (PaymentStatus::PartiallyRefunded, partially),
        (PaymentStatus::Refunded, fully),
        (PaymentStatus::Voided, vec![started(), voided()]),
        (PaymentStatus::Declined, vec![started(), declined()]),
        (PaymentStatus::Failed, vec![started(), failed()]),
    ]
}

fn histories_in(statuses: &[PaymentStatus]) -> Vec<Vec<PaymentEvent>> {
    every_started_status()
        .into_iter()
        .filter(|(status, _)| statuses.contains(status))
        .map(|(_, history)| history)
        .collect()
}

// ---- commands -----------------------------------------------------------------------------

fn start(amount: Money) -> PaymentCommand {
    PaymentCommand::Start {
        order_id: ID.into(),
        amount,
        payment_method: "pm_card_visa".into(),
        now: now(),
    }
}

fn authorization(outcome: AuthorizationOutcome) -> PaymentCommand {
    PaymentCommand::RecordAuthorization {
        outcome,
        now: now(),
    }
}

fn authorized_outcome() -> AuthorizationOutcome {
    AuthorizationOutcome::Authorized {
        provider_ref: "pi_1".into(),
    }
}

fn action_outcome() -> AuthorizationOutcome {
    AuthorizationOutcome::RequiresAction {
        provider_ref: "pi_1".into(),
        client_secret: Some("pi_1_secret_abc".into()),
    }
}

fn declined_outcome() -> AuthorizationOutcome {
    AuthorizationOutcome::Declined {
        provider_ref: Some("pi_1".into()),
        code: "card_declined".into(),
    }
}

fn failure() -> PaymentCommand {
    PaymentCommand::RecordFailure {
        code: "provider_unavailable".into(),
        now: now(),
    }
}

fn capture(amount: Money) -> PaymentCommand {
    PaymentCommand::RecordCapture { amount, now: now() }
}

fn void() -> PaymentCommand {
    PaymentCommand::RecordVoid { now: now() }
}

fn request_refund(refund_id: &str, amount: Money) -> PaymentCommand {
    PaymentCommand::RequestRefund {
        refund_id: refund_id.into(),
        amount: Some(amount),
        line: None,
        now: now(),
    }
}

fn record_refund(refund_id: &str) -> PaymentCommand {
    PaymentCommand::RecordRefund {
        refund_id: refund_id.into(),
        now: now(),
    }
}

fn refund_failure(refund_id: &str) -> PaymentCommand {
    PaymentCommand::RecordRefundFailure {
        refund_id: refund_id.into(),
        code: "expired_card".into(),
        now: now(),
    }
}

fn webhook(event_id: &str, kind: ProviderEventKind) -> PaymentCommand {
    PaymentCommand::ApplyProviderEvent {
        event_id: event_id.into(),
        provider_ref: Some("pi_1".into()),
        kind,
        now: now(),
    }
}

fn captured_kind(amount_minor: i64) -> ProviderEventKind {
    ProviderEventKind::Captured { amount_minor }
}

fn state(given: &[PaymentEvent]) -> Payment {
    let mut payment = Payment::default();
    for e in given {
        payment.evolve(e);
    }
    payment
}

/// Given events, when a command by a principal, then these events or this error.
#[track_caller]
fn check(
    given: Vec<PaymentEvent>,
    by: Principal,
    when: PaymentCommand,
    then: Result<Vec<PaymentEvent>, PaymentError>,
) {
    assert_eq!(state(&given).decide(ID, &when, &by), then, "when {when:?}");
}

// ---- start --------------------------------------------------------------------------------

#[test]
fn starting_a_payment_records_its_terms() {
    check(vec![], system(), start(eur(AMOUNT)), Ok(vec![started()]));
    let payment = state(&[started()]);
    assert_eq!(payment.status(), PaymentStatus::Authorizing);
    assert_eq!(payment.order_id(), Some(ID));
    assert_eq!(payment.amount(), Some(eur(AMOUNT)));
    assert_eq!(payment.payment_method(), Some("pm_card_visa"));
    assert_eq!(payment.provider_ref(), None);
    assert_eq!(payment.captured(), None);
}

#[test]
fn starting_again_with_the_same_terms_changes_nothing_in_any_status() {
    for (_, history) in every_started_status() {
        check(history, system(), start(eur(AMOUNT)), Ok(vec![]));
    }
}

#[test]
fn starting_again_with_different_terms_is_a_mismatch() {
    let different = [
        PaymentCommand::Start {
            order_id: "order-2".into(),
            amount: eur(AMOUNT),
            payment_method: "pm_card_visa".into(),
            now: now(),
        },
        start(eur(AMOUNT + 1)),
        start(Money::new(AMOUNT, Currency::USD)),
        PaymentCommand::Start {
            order_id: ID.into(),
            amount: eur(AMOUNT),
            payment_method: "pm_card_mastercard".into(),
            now: now(),
        },
    ];
    for command in different {
        check(
            vec![started()],
            system(),
            command.clone(),
            Err(PaymentError::Mismatch),
        );
        check(
            captured_payment(),
            system(),
            command,
            Err(PaymentError::Mismatch),
        );
    }
}

#[test]
fn an_amount_is_between_1_and_ten_billion_minor_units() {
    for amount_minor in [0, -1, MAX_AMOUNT_MINOR + 1, i64::MAX, i64::MIN] {
        check(
            vec![],
            system(),
            start(eur(amount_minor)),
            Err(PaymentError::InvalidAmount),
        );
    }
    for amount_minor in [1, MAX_AMOUNT_MINOR] {
        assert!(state(&[])
            .decide(ID, &start(eur(amount_minor)), &system())
            .is_ok());
    }
}

#[test]
fn a_payment_method_is_a_token_of_printable_ascii() {
    let method = |m: &str| PaymentCommand::Start {
        order_id: ID.into(),
        amount: eur(AMOUNT),
        payment_method: m.into(),
        now: now(),
    };
    for bad in [
        String::new(),
        "a".repeat(MAX_PAYMENT_METHOD_CHARS + 1),
        "pm card".into(),
        "pm_carte_é".into(),
        "pm_\n".into(),
    ] {
        check(
            vec![],
            system(),
            method(&bad),
            Err(PaymentError::InvalidMethod),
        );
    }
    let longest = "a".repeat(MAX_PAYMENT_METHOD_CHARS);
    assert!(state(&[]).decide(ID, &method(&longest), &system()).is_ok());
}

#[test]
fn any_command_but_start_on_a_missing_payment_is_not_found() {
    let commands = [
        authorization(authorized_outcome()),
        failure(),
        capture(eur(AMOUNT)),
        void(),
        request_refund("r1", eur(1)),
        record_refund("r1"),
        refund_failure("r1"),
        webhook("evt_1", captured_kind(AMOUNT)),
    ];
    for command in commands {
        check(vec![], system(), command, Err(PaymentError::NotFound));
    }
}

// ---- authorization ------------------------------------------------------------------------

#[test]
fn the_providers_answer_moves_an_authorizing_payment() {
    check(
        vec![started()],
        system(),
        authorization(authorized_outcome()),
        Ok(vec![authorized()]),
    );
    check(
        vec![started()],
        system(),
        authorization(action_outcome()),
        Ok(vec![action_required()]),
    );
    check(
        vec![started()],
        system(),
        authorization(declined_outcome()),
        Ok(vec![declined()]),
    );
    let payment = state(&[started(), declined()]);
    assert_eq!(payment.status(), PaymentStatus::Declined);
    assert_eq!(payment.provider_ref(), Some("pi_1"));
}

#[test]
fn the_shoppers_confirmation_authorizes_or_declines_a_payment_requiring_action() {
    check(
        requiring_action(),
        system(),
        authorization(authorized_outcome()),
        Ok(vec![authorized()]),
    );
    check(
        requiring_action(),
        system(),
        authorization(action_outcome()),
        Ok(vec![]),
    );
    check(
        requiring_action(),
        system(),
        authorization(declined_outcome()),
        Ok(vec![declined()]),
    );
}

#[test]
fn a_stale_or_repeated_authorization_answer_changes_nothing() {
    let later = [
        PaymentStatus::Authorized,
        PaymentStatus::Captured,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
        PaymentStatus::Voided,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
    ];
    for history in histories_in(&later) {
        for outcome in [authorized_outcome(), action_outcome(), declined_outcome()] {
            check(
                history.clone(),
                system(),
                authorization(outcome),
                Ok(vec![]),
            );
        }
    }
}

#[test]
fn provider_codes_ids_and_refs_are_1_to_255_characters_without_control_characters() {
    let longest = "é".repeat(MAX_CODE_CHARS);
    let too_long = "a".repeat(MAX_CODE_CHARS + 1);
    for bad in ["", too_long.as_str(), "card\ndeclined", "\u{7f}"] {
        let commands = [
            authorization(AuthorizationOutcome::Authorized {
                provider_ref: bad.into(),
            }),
            authorization(AuthorizationOutcome::RequiresAction {
                provider_ref: "pi_1".into(),
                client_secret: Some(bad.into()),
            }),
            authorization(AuthorizationOutcome::Declined {
                provider_ref: None,
                code: bad.into(),
            }),
            PaymentCommand::RecordFailure {
                code: bad.into(),
                now: now(),
            },
            PaymentCommand::ApplyProviderEvent {
                event_id: bad.into(),
                provider_ref: None,
                kind: ProviderEventKind::Authorized,
                now: now(),
            },
            PaymentCommand::ApplyProviderEvent {
                event_id: "evt_1".into(),
                provider_ref: Some(bad.into()),
                kind: ProviderEventKind::Authorized,
                now: now(),
            },
            webhook(
                "evt_1",
                ProviderEventKind::Other {
                    provider_type: bad.into(),
                },
            ),
        ];
        for command in commands {
            check(
                vec![started()],
                system(),
                command,
                Err(PaymentError::InvalidCode),
            );
        }
        for command in [
            request_refund(bad, eur(1)),
            record_refund(bad),
            PaymentCommand::RecordRefundFailure {
                refund_id: "r1".into(),
                code: bad.into(),
                now: now(),
            },
            webhook(
                "evt_1",
                ProviderEventKind::Refunded {
                    refund_id: bad.into(),
                    amount_minor: 1,
                },
            ),
        ] {
            check(
                captured_payment(),
                system(),
                command,
                Err(PaymentError::InvalidCode),
            );
        }
    }
    check(
        vec![started()],
        system(),
        authorization(AuthorizationOutcome::Authorized {
            provider_ref: longest.clone(),
        }),
        Ok(vec![PaymentEvent::PaymentAuthorized {
            provider_ref: longest,
            at: now(),
        }]),
    );
}

// ---- failure ------------------------------------------------------------------------------

#[test]
fn a_failure_ends_a_payment_still_being_authorized() {
    for history in [vec![started()], requiring_action()] {
        check(history, system(), failure(), Ok(vec![failed()]));
    }
    let payment = state(&[started(), action_required(), failed()]);
    assert_eq!(payment.status(), PaymentStatus::Failed);
    assert_eq!(
        payment.view(ID, 3).failure_code.as_deref(),
        Some("provider_unavailable")
    );
}

#[test]
fn a_failure_after_the_providers_answer_changes_nothing() {
    let later = [
        PaymentStatus::Authorized,
        PaymentStatus::Captured,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
        PaymentStatus::Voided,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
    ];
    for history in histories_in(&later) {
        check(history, system(), failure(), Ok(vec![]));
    }
}

// ---- capture ------------------------------------------------------------------------------

#[test]
fn capturing_an_authorized_payment_records_the_captured_amount() {
    check(
        authorized_payment(),
        system(),
        capture(eur(AMOUNT)),
        Ok(vec![captured(AMOUNT)]),
    );
    check(
        authorized_payment(),
        system(),
        capture(eur(1)),
        Ok(vec![captured(1)]),
    );
    let payment = state(&captured_payment());
    assert_eq!(payment.status(), PaymentStatus::Captured);
    assert_eq!(payment.captured(), Some(eur(AMOUNT)));
    assert_eq!(payment.refundable(), Some(eur(AMOUNT)));
}

#[test]
fn a_capture_is_in_the_payments_currency_and_within_the_authorized_amount() {
    check(
        authorized_payment(),
        system(),
        capture(Money::new(AMOUNT, Currency::USD)),
        Err(PaymentError::CurrencyMismatch),
    );
    for amount_minor in [0, -5, AMOUNT + 1] {
        check(
            authorized_payment(),
            system(),
            capture(eur(amount_minor)),
            Err(PaymentError::InvalidAmount),
        );
    }
}

#[test]
fn a_payment_is_captured_at_most_once() {
    let captured_statuses = [
        PaymentStatus::Captured,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];
    for history in histories_in(&captured_statuses) {
        for amount_minor in [AMOUNT, 1] {
            check(
                history.clone(),
                system(),
                capture(eur(amount_minor)),
                Ok(vec![]),
            );
        }
    }
}

#[test]
fn only_an_authorized_payment_can_be_captured() {
    let not_authorized = [
        PaymentStatus::Authorizing,
        PaymentStatus::RequiresAction,
        PaymentStatus::Voided,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
    ];
    for history in histories_in(&not_authorized) {
        check(
            history,
            system(),
            capture(eur(AMOUNT)),
            Err(PaymentError::InvalidTransition),
        );
    }
}

// ---- void ---------------------------------------------------------------------------------

#[test]
fn voiding_before_the_capture_releases_the_payment() {
    let open = [
        PaymentStatus::Authorizing,
        PaymentStatus::RequiresAction,
        PaymentStatus::Authorized,
    ];
    for history in histories_in(&open) {
        check(history, system(), void(), Ok(vec![voided()]));
    }
}

#[test]
fn voiding_an_ended_payment_changes_nothing() {
    let ended = [
        PaymentStatus::Voided,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
    ];
    for history in histories_in(&ended) {
        check(history, system(), void(), Ok(vec![]));
    }
}

#[test]
fn a_captured_payment_cannot_be_voided() {
    let captured_statuses = [
        PaymentStatus::Captured,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];
    for history in histories_in(&captured_statuses) {
        check(
            history,
            system(),
            void(),
            Err(PaymentError::AlreadyCaptured),
        );
    }
}

// ---- refunds ------------------------------------------------------------------------------

#[test]
fn a_refund_request_reserves_part_of_the_captured_amount() {
    check(
        captured_payment(),
        system(),
        request_refund("r1", eur(2_500)),
        Ok(vec![refund_requested("r1", 2_500)]),
    );
    let mut history = captured_payment();
    history.push(refund_requested("r1", 2_500));
    let payment = state(&history);
    // Requesting changes no status: the money is not back yet.
    assert_eq!(payment.status(), PaymentStatus::Captured);
    assert_eq!(payment.refundable(), Some(eur(AMOUNT - 2_500)));
    assert_eq!(
        payment.refund("r1"),
        Some(&Refund {
            amount: eur(2_500),
            status: RefundStatus::Pending,
            line: None,
        })
    );
}

#[test]
fn only_a_captured_payment_can_be_refunded() {
    let uncaptured = [
        PaymentStatus::Authorizing,
        PaymentStatus::RequiresAction,
        PaymentStatus::Authorized,
        PaymentStatus::Voided,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
        PaymentStatus::Refunded,
    ];
    for history in histories_in(&uncaptured) {
        check(
            history,
            system(),
            request_refund("r2", eur(1)),
            Err(PaymentError::NotCaptured),
        );
    }
}

#[test]
fn requesting_the_same_refund_again_changes_nothing_and_another_amount_is_a_mismatch() {
    for status in [
        RefundStatus::Pending,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ] {
        let mut history = captured_payment();
        history.push(refund_requested("r1", AMOUNT));
        match status {
            RefundStatus::Pending => {}
            RefundStatus::Succeeded => history.push(refunded("r1", AMOUNT, AMOUNT)),
            RefundStatus::Failed => history.push(refund_failed("r1")),
        }
        // Even after it refunded the payment in full, a retried request is a no-op.
        check(
            history.clone(),
            system(),
            request_refund("r1", eur(AMOUNT)),
            Ok(vec![]),
        );
        check(
            history.clone(),
            system(),
            request_refund("r1", eur(AMOUNT - 1)),
            Err(PaymentError::Mismatch),
        );
        check(
            history,
            system(),
            request_refund("r1", Money::new(AMOUNT, Currency::USD)),
            Err(PaymentError::Mismatch),
        );
    }
}

#[test]
fn a_refund_is_positive_and_in_the_payments_currency() {
    check(
        captured_payment(),
        system(),
        request_refund("r1", Money::new(100, Currency::USD)),
        Err(PaymentError::CurrencyMismatch),
    );
    for amount_minor in [0, -100] {
        check(
            captured_payment(),
            system(),
            request_refund("r1", eur(amount_minor)),
            Err(PaymentError::InvalidAmount),
        );
    }
}

#[test]
fn concurrent_refunds_can_never_together_exceed_what_was_captured() {
    // A partial capture: refunds are measured against what was captured, not authorized.
    let mut history = vec![started(), authorized(), captured(6_000)];
    check(
        history.clone(),
        system(),
        request_refund("r1", eur(6_001)),
        Err(PaymentError::RefundExceedsCaptured),
    );
    history.push(refund_requested("r1", 4_000));
    // The first refund is still pending, yet it already counts.
    check(
        history.clone(),
        system(),
        request_refund("r2", eur(2_001)),
        Err(PaymentError::RefundExceedsCaptured),
    );
    check(
        history.clone(),
        system(),
        request_refund("r2", eur(2_000)),
        Ok(vec![refund_requested("r2", 2_000)]),
    );
    history.extend([refund_requested("r2", 2_000), refunded("r1", 4_000, 4_000)]);
    check(
        history.clone(),
        staff("staff"),
        request_refund("r3", eur(1)),
        Err(PaymentError::RefundExceedsCaptured),
    );
    history.push(refunded("r2", 2_000, 6_000));
    let payment = state(&history);
    assert_eq!(payment.status(), PaymentStatus::Refunded);
    assert_eq!(payment.refundable(), Some(eur(0)));
}

#[test]
fn a_failed_refund_frees_its_amount() {
    let mut history = captured_payment();
    history.push(refund_requested("r1", AMOUNT));
    check(
        history.clone(),
        system(),
        request_refund("r2", eur(1)),
        Err(PaymentError::RefundExceedsCaptured),
    );
    check(
        history.clone(),
        system(),
        refund_failure("r1"),
        Ok(vec![refund_failed("r1")]),
    );
    history.push(refund_failed("r1"));
    check(
        history,
        system(),
        request_refund("r2", eur(AMOUNT)),
        Ok(vec![refund_requested("r2", AMOUNT)]),
    );
}

#[test]
fn recording_a_refund_settles_it_and_counts_the_total() {
    let mut history = captured_payment();
    history.extend([refund_requested("r1", 3_000), refund_requested("r2", 7_000)]);
    check(
        history.clone(),
        system(),
        record_refund("r1"),
        Ok(vec![refunded("r1", 3_000, 3_000)]),
    );
    history.push(refunded("r1", 3_000, 3_000));
    assert_eq!(state(&history).status(), PaymentStatus::PartiallyRefunded);
    check(
        history.clone(),
        system(),
        record_refund("r2"),
        Ok(vec![refunded("r2", 7_000, AMOUNT)]),
    );
    history.push(refunded("r2", 7_000, AMOUNT));
    assert_eq!(state(&history).status(), PaymentStatus::Refunded);
}

#[test]
fn recording_a_refund_twice_changes_nothing() {
    let mut history = captured_payment();
    history.extend([refund_requested("r1", 3_000), refunded("r1", 3_000, 3_000)]);
    check(history.clone(), system(), record_refund("r1"), Ok(vec![]));
    check(
        history,
        system(),
        webhook(
            "evt_refund",
            ProviderEventKind::Refunded {
                refund_id: "r1".into(),
                amount_minor: 3_000,
            },
        ),
        Ok(vec![received(
            "evt_refund",
            ProviderEventKind::Refunded {
                refund_id: "r1".into(),
                amount_minor: 3_000,
            },
        )]),
    );
}

#[test]
fn recording_an_unknown_refund_is_not_found() {
    check(
        captured_payment(),
        system(),
        record_refund("r9"),
        Err(PaymentError::UnknownRefund),
    );
}

#[test]
fn a_failed_refund_cannot_later_be_recorded_as_refunded() {
    let mut history = captured_payment();
    history.extend([refund_requested("r1", 3_000), refund_failed("r1")]);
    check(
        history,
        system(),
        record_refund("r1"),
        Err(PaymentError::InvalidTransition),
    );
}

#[test]
fn a_refund_failure_is_recorded_only_for_a_pending_refund() {
    let mut history = captured_payment();
    check(history.clone(), system(), refund_failure("r9"), Ok(vec![]));
    history.extend([refund_requested("r1", 3_000), refund_failed("r1")]);
    check(history.clone(), system(), refund_failure("r1"), Ok(vec![]));
    history.extend([refund_requested("r2", 3_000), refunded("r2", 3_000, 3_000)]);
    check(history, system(), refund_failure("r2"), Ok(vec![]));
}

// ---- provider events ----------------------------------------------------------------------

#[test]
fn a_provider_event_is_recorded_before_its_consequence() {
    check(
        authorized_payment(),
        system(),
        webhook("evt_1", captured_kind(AMOUNT)),
        Ok(vec![
            received("evt_1", captured_kind(AMOUNT)),
            captured(AMOUNT),
        ]),
    );
}

#[test]
fn a_redelivered_provider_event_changes_nothing() {
    let mut history = authorized_payment();
    history.push(received("evt_1", ProviderEventKind::Canceled));
    // The same id, even carrying another kind, is the same event: it acted once already.
    for kind in [ProviderEventKind::Canceled, captured_kind(AMOUNT)] {
        check(
            history.clone(),
            system(),
            webhook("evt_1", kind),
            Ok(vec![]),
        );
    }
    let payment = state(&history);
    assert!(payment.has_provider_event("evt_1"));
    assert_eq!(payment.view(ID, 3).provider_events, 1);
}

#[test]
fn an_authorized_webhook_authorizes_a_payment_awaiting_the_provider() {
    check(
        vec![started()],
        system(),
        webhook("evt_1", ProviderEventKind::Authorized),
        Ok(vec![
            received("evt_1", ProviderEventKind::Authorized),
            authorized(),
        ]),
    );
    // Without a reference in the webhook, the one we know is used.
    let anonymous = |event_id: &str| PaymentCommand::ApplyProviderEvent {
        event_id: event_id.into(),
        provider_ref: None,
        kind: ProviderEventKind::Authorized,
        now: now(),
    };
    let anonymous_received = PaymentEvent::ProviderEventReceived {
        event_id: "evt_1".into(),
        provider_ref: None,
        kind: ProviderEventKind::Authorized,
        at: now(),
    };
    check(
        requiring_action(),
        system(),
        anonymous("evt_1"),
        Ok(vec![anonymous_received.clone(), authorized()]),
    );
    // With no reference at all there is nothing to record but the event; our own answer
    // will authorize it.
    check(
        vec![started()],
        system(),
        anonymous("evt_1"),
        Ok(vec![anonymous_received]),
    );
}

#[test]
fn a_webhook_names_the_providers_payment_when_our_answer_was_lost() {
    let payment = state(&[started(), received("evt_1", captured_kind(AMOUNT))]);
    assert_eq!(payment.provider_ref(), Some("pi_1"));
    // A known reference is never overwritten by a webhook.
    let other = PaymentEvent::ProviderEventReceived {
        event_id: "evt_2".into(),
        provider_ref: Some("pi_other".into()),
        kind: ProviderEventKind::Other {
            provider_type: "charge.updated".into(),
        },
        at: now(),
    };
    let payment = state(&[started(), authorized(), other]);
    assert_eq!(payment.provider_ref(), Some("pi_1"));
}

#[test]
fn a_captured_webhook_captures_a_payment_not_yet_captured() {
    let open = [
        PaymentStatus::Authorizing,
        PaymentStatus::RequiresAction,
        PaymentStatus::Authorized,
    ];
    for history in histories_in(&open) {
        // The provider's word on the amount wins; it is in the payment's currency.
        check(
            history,
            system(),
            webhook("evt_1", captured_kind(AMOUNT - 1)),
            Ok(vec![
                received("evt_1", captured_kind(AMOUNT - 1)),
                captured(AMOUNT - 1),
            ]),
        );
    }
    for amount_minor in [0, -1, MAX_AMOUNT_MINOR + 1] {
        check(
            authorized_payment(),
            system(),
            webhook("evt_1", captured_kind(amount_minor)),
            Err(PaymentError::InvalidAmount),
        );
    }
}

#[test]
fn a_captured_webhook_then_our_capture_captures_once() {
    let mut history = authorized_payment();
    history.extend([received("evt_1", captured_kind(AMOUNT)), captured(AMOUNT)]);
    check(history, system(), capture(eur(AMOUNT)), Ok(vec![]));
}

#[test]
fn our_capture_then_a_captured_webhook_captures_once() {
    check(
        captured_payment(),
        system(),
        webhook("evt_1", captured_kind(AMOUNT)),
        Ok(vec![received("evt_1", captured_kind(AMOUNT))]),
    );
}

#[test]
fn an_authorized_webhook_after_the_capture_changes_nothing() {
    check(
        captured_payment(),
        system(),
        webhook("evt_1", ProviderEventKind::Authorized),
        Ok(vec![received("evt_1", ProviderEventKind::Authorized)]),
    );
}

#[test]
fn failed_and_canceled_webhooks_end_only_a_payment_they_can_still_end() {
    let failed_kind = ProviderEventKind::Failed {
        code: "provider_unavailable".into(),
    };
    for (status, history) in every_started_status() {
        let then = match status {
            PaymentStatus::Authorizing | PaymentStatus::RequiresAction => {
                vec![received("evt_1", failed_kind.clone()), failed()]
            }
            _ => vec![received("evt_1", failed_kind.clone())],
        };
        check(
            history.clone(),
            system(),
            webhook("evt_1", failed_kind.clone()),
            Ok(then),
        );
        let then = match status {
            PaymentStatus::Authorizing
            | PaymentStatus::RequiresAction
            | PaymentStatus::Authorized => {
                vec![received("evt_2", ProviderEventKind::Canceled), voided()]
            }
            _ => vec![received("evt_2", ProviderEventKind::Canceled)],
        };
        check(
            history,
            system(),
            webhook("evt_2", ProviderEventKind::Canceled),
            Ok(then),
        );
    }
}

#[test]
fn a_refunded_webhook_settles_only_a_pending_refund_of_the_same_amount() {
    let refunded_kind = |refund_id: &str, amount_minor: i64| ProviderEventKind::Refunded {
        refund_id: refund_id.into(),
        amount_minor,
    };
    let mut history = captured_payment();
    history.push(refund_requested("r1", 3_000));
    check(
        history.clone(),
        system(),
        webhook("evt_1", refunded_kind("r1", 3_000)),
        Ok(vec![
            received("evt_1", refunded_kind("r1", 3_000)),
            refunded("r1", 3_000, 3_000),
        ]),
    );
    // A refund made in the provider's dashboard, or another amount, is only recorded.
    for kind in [
        refunded_kind("re_dashboard", 500),
        refunded_kind("r1", 2_999),
    ] {
        check(
            history.clone(),
            system(),
            webhook("evt_1", kind.clone()),
            Ok(vec![received("evt_1", kind)]),
        );
    }
    // Then our own record of the same refund is a no-op.
    history.extend([
        received("evt_1", refunded_kind("r1", 3_000)),
        refunded("r1", 3_000, 3_000),
    ]);
    check(history, system(), record_refund("r1"), Ok(vec![]));
}

#[test]
fn other_provider_events_are_only_recorded() {
    let kind = ProviderEventKind::Other {
        provider_type: "charge.dispute.created".into(),
    };
    for (_, history) in every_started_status() {
        check(
            history,
            system(),
            webhook("evt_1", kind.clone()),
            Ok(vec![received("evt_1", kind.clone())]),
        );
    }
}

// ---- disputes -----------------------------------------------------------------------------

fn dispute_opened_kind(dispute_id: &str, amount_minor: i64) -> ProviderEventKind {
    ProviderEventKind::DisputeOpened {
        dispute_id: dispute_id.into(),
        amount_minor,
        reason: "fraudulent".into(),
    }
}

fn dispute_closed_kind(dispute_id: &str, outcome: DisputeOutcome) -> ProviderEventKind {
    ProviderEventKind::DisputeClosed {
        dispute_id: dispute_id.into(),
        outcome,
    }
}

fn dispute_opened(dispute_id: &str, amount_minor: i64) -> PaymentEvent {
    PaymentEvent::DisputeOpened {
        dispute_id: dispute_id.into(),
        amount: eur(amount_minor),
        reason: "fraudulent".into(),
        at: now(),
    }
}

fn dispute_closed(dispute_id: &str, outcome: DisputeOutcome, amount_minor: i64) -> PaymentEvent {
    PaymentEvent::DisputeClosed {
        dispute_id: dispute_id.into(),
        outcome,
        amount: eur(amount_minor),
        at: now(),
    }
}

/// A captured payment of `AMOUNT` with 3,000 refunded and the dispute `dp_1` open for the rest.
fn disputed_payment() -> Vec<PaymentEvent> {
    let mut history = captured_payment();
    history.extend([
        refund_requested("r1", 3_000),
        refunded("r1", 3_000, 3_000),
        received("evt_d1", dispute_opened_kind("dp_1", AMOUNT - 3_000)),
        dispute_opened("dp_1", AMOUNT - 3_000),
    ]);
    history
}

#[test]
fn a_dispute_of_captured_money_is_recorded_with_its_amount_and_reason() {
    let mut history = captured_payment();
    history.extend([refund_requested("r1", 3_000), refunded("r1", 3_000, 3_000)]);
    check(
        history,
        system(),
        webhook("evt_d1", dispute_opened_kind("dp_1", AMOUNT - 3_000)),
        Ok(vec![
            received("evt_d1", dispute_opened_kind("dp_1", AMOUNT - 3_000)),
            dispute_opened("dp_1", AMOUNT - 3_000),
        ]),
    );
    let view = state(&disputed_payment()).view(ID, 7);
    assert_eq!(view.disputes.len(), 1);
    assert_eq!(view.disputes[0].status, DisputeStatus::Open);
    assert_eq!(view.disputes[0].reason, "fraudulent");
    assert_eq!(view.charged_back, eur(0));
}

#[test]
fn a_dispute_of_money_not_captured_or_not_held_is_only_recorded() {
    // Before the capture, for more than the shop holds, and the same dispute again.
    let mut refunded_history = captured_payment();
    refunded_history.extend([refund_requested("r1", 3_000), refunded("r1", 3_000, 3_000)]);
    let cases = [
        (authorized_payment(), dispute_opened_kind("dp_1", 1_000)),
        (
            refunded_history,
            dispute_opened_kind("dp_1", AMOUNT - 2_999),
        ),
        (disputed_payment(), dispute_opened_kind("dp_1", 100)),
    ];
    for (history, kind) in cases {
        check(
            history,
            system(),
            webhook("evt_d2", kind.clone()),
            Ok(vec![received("evt_d2", kind)]),
        );
    }
}

#[test]
fn no_refund_is_made_while_a_dispute_is_open() {
    check(
        disputed_payment(),
        staff("admin"),
        request_refund("r2", eur(100)),
        Err(PaymentError::Disputed),
    );
    // A retried request of a refund made before the dispute stays a no-op.
    check(
        disputed_payment(),
        staff("admin"),
        request_refund("r1", eur(3_000)),
        Ok(vec![]),
    );
}

#[test]
fn a_closed_dispute_is_won_or_lost_once() {
    for outcome in [DisputeOutcome::Won, DisputeOutcome::Lost] {
        check(
            disputed_payment(),
            system(),
            webhook("evt_d2", dispute_closed_kind("dp_1", outcome)),
            Ok(vec![
                received("evt_d2", dispute_closed_kind("dp_1", outcome)),
                dispute_closed("dp_1", outcome, AMOUNT - 3_000),
            ]),
        );
        let mut history = disputed_payment();
        history.extend([
            received("evt_d2", dispute_closed_kind("dp_1", outcome)),
            dispute_closed("dp_1", outcome, AMOUNT - 3_000),
        ]);
        // Closing it again (another event id) or an unknown dispute: only recorded.
        for kind in [
            dispute_closed_kind("dp_1", DisputeOutcome::Won),
            dispute_closed_kind("dp_9", DisputeOutcome::Lost),
        ] {
            check(
                history.clone(),
                system(),
                webhook("evt_d3", kind.clone()),
                Ok(vec![received("evt_d3", kind)]),
            );
        }
    }
}

#[test]
fn a_lost_dispute_is_charged_back_and_a_won_one_may_be_refunded_again() {
    let mut lost = disputed_payment();
    lost.extend([dispute_closed("dp_1", DisputeOutcome::Lost, AMOUNT - 3_000)]);
    let payment = state(&lost);
    assert_eq!(payment.refundable(), Some(eur(0)));
    let view = payment.view(ID, 8);
    assert_eq!(view.charged_back, eur(AMOUNT - 3_000));
    assert_eq!(view.disputes[0].status, DisputeStatus::Lost);
    check(
        lost,
        staff("admin"),
        request_refund("r2", eur(1)),
        Err(PaymentError::RefundExceedsCaptured),
    );

    let mut won = disputed_payment();
    won.extend([dispute_closed("dp_1", DisputeOutcome::Won, AMOUNT - 3_000)]);
    assert_eq!(state(&won).refundable(), Some(eur(AMOUNT - 3_000)));
    assert_eq!(state(&won).view(ID, 8).charged_back, eur(0));
    check(
        won,
        staff("admin"),
        request_refund("r2", eur(100)),
        Ok(vec![refund_requested("r2", 100)]),
    );
}

#[test]
fn only_the_platform_records_disputes() {
    for by in [staff("staff"), staff("support")]
        .into_iter()
        .chain(shoppers())
    {
        check(
            captured_payment(),
            by,
            webhook("evt_d1", dispute_opened_kind("dp_1", 100)),
            Err(PaymentError::Forbidden),
        );
    }
}

// ---- races --------------------------------------------------------------------------------

/// The four sources of "this payment is authorized or captured" that race in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The shopper's client confirmed 3-D Secure and we recorded the provider's answer.
    Confirmation,
    AuthorizedWebhook,
    CapturedWebhook,
    /// Our own capture call's answer.
    OurCapture,
}

/// Every distinct ordering of `remaining` (a multiset given as counts per source).
fn interleavings(
    remaining: &mut [(Source, usize)],
    prefix: &mut Vec<Source>,
    out: &mut Vec<Vec<Source>>,
) {
    if remaining.iter().all(|(_, n)| *n == 0) {
        out.push(prefix.clone());
        return;
    }
    for i in 0..remaining.len() {
        if remaining[i].1 == 0 {
            continue;
        }
        remaining[i].1 -= 1;
        prefix.push(remaining[i].0);
        interleavings(remaining, prefix, out);
        prefix.pop();
        remaining[i].1 += 1;
    }
}

#[test]
fn every_interleaving_of_confirmation_webhooks_and_our_capture_captures_exactly_once() {
    let mut orders = Vec::new();
    interleavings(
        &mut [
            (Source::Confirmation, 2),
            (Source::AuthorizedWebhook, 2),
            (Source::CapturedWebhook, 2),
            (Source::OurCapture, 2),
        ],
        &mut Vec::new(),
        &mut orders,
    );
    assert_eq!(orders.len(), 2520); // 8! / (2!)^4
                                    // A repeated webhook is either the provider redelivering one event (same id) or the
                                    // provider sending the fact twice (distinct ids); both must capture once.
    for redelivered in [true, false] {
        for order in &orders {
            let mut payment = state(&requiring_action());
            let mut recorded = Vec::new();
            let mut seen = [0usize; 2];
            for source in order {
                let command = match source {
                    Source::Confirmation => authorization(authorized_outcome()),
                    Source::AuthorizedWebhook | Source::CapturedWebhook => {
                        let which = usize::from(*source == Source::CapturedWebhook);
                        seen[which] += 1;
                        let n = if redelivered { 1 } else { seen[which] };
                        let kind = match source {
                            Source::AuthorizedWebhook => ProviderEventKind::Authorized,
                            _ => captured_kind(AMOUNT),
                        };
                        webhook(&format!("evt_{which}_{n}"), kind)
                    }
                    Source::OurCapture => capture(eur(AMOUNT)),
                };
                match payment.decide(ID, &command, &system()) {
                    Ok(events) => {
                        for e in &events {
                            payment.evolve(e);
                        }
                        recorded.extend(events);
                    }
                    // Our capture before anything authorized the payment is refused (the
                    // service never sends it then); nothing else may fail.
                    Err(e) => assert_eq!(
                        (source, e, payment.status()),
                        (
                            &Source::OurCapture,
                            PaymentError::InvalidTransition,
                            PaymentStatus::RequiresAction
                        ),
                        "{order:?}"
                    ),
                }
            }
            let captures = recorded
                .iter()
                .filter(|e| matches!(e, PaymentEvent::PaymentCaptured { .. }))
                .count();
            assert_eq!(
                captures, 1,
                "{order:?} redelivered={redelivered}: {recorded:?}"
            );
            assert_eq!(payment.status(), PaymentStatus::Captured, "{order:?}");
            assert_eq!(payment.captured(), Some(eur(AMOUNT)));
            // Our capture retried afterwards is still a no-op.
            assert_eq!(
                payment.decide(ID, &capture(eur(AMOUNT)), &system()),
                Ok(vec![])
            );
        }
    }
}

fn random_command(rng: &mut StdRng) -> PaymentCommand {
    let refund_id = format!("r{}", rng.random_range::<u64, _>(0..4));
    let amount = eur([1, 999, 2_500, 5_000, AMOUNT][rng.random_range::<u64, _>(0..5) as usize]);
    let event_id = format!("evt_{}", rng.random_range::<u64, _>(0..8));
    match rng.random_range::<u64, _>(0..12) {
        0 => authorization(
            [authorized_outcome(), action_outcome(), declined_outcome()]
                [rng.random_range::<u64, _>(0..3) as usize]
                .clone(),
        ),
        1 => failure(),
        2 => capture(amount),
        3 => void(),
        4 | 5 => request_refund(&refund_id, amount),
        6 => record_refund(&refund_id),
        7 => refund_failure(&refund_id),
        _ => webhook(
            &event_id,
            match rng.random_range::<u64, _>(0..6) {
                0 => ProviderEventKind::Authorized,
                1 => captured_kind(amount.amount_minor),
                2 => ProviderEventKind::Failed {
                    code: "expired".into(),
                },
                3 => ProviderEventKind::Canceled,
                4 => ProviderEventKind::Refunded {
                    refund_id,
                    amount_minor: amount.amount_minor,
                },
                _ => ProviderEventKind::Other {
                    provider_type: "charge.updated".into(),
                },
            },
        ),
    }
}

#[test]
fn random_sequences_never_capture_twice_never_refund_more_than_captured_and_repeats_change_nothing()
{
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for seed in 0..300 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut payment = state(&[started()]);
        let mut history = vec![started()];
        for _ in 0..40 {
            let command = random_command(&mut rng);
            let first = payment.decide(ID, &command, &system());
            match &first {
                Ok(events) => {
                    for e in events {
                        *outcomes.entry(e.event_type()).or_default() += 1;
                        payment.evolve(e);
                    }
                    history.extend(events.iter().cloned());
                    // Every command is idempotent: sent again, it records nothing.
                    assert_eq!(
                        payment.decide(ID, &command, &system()),
                        Ok(vec![]),
                        "seed {seed}: {command:?}"
                    );
                }
                Err(e) => {
                    *outcomes.entry(e.code()).or_default() += 1;
                    assert_eq!(payment.decide(ID, &command, &system()), first);
                }
            }
            let captures = history
                .iter()
                .filter(|e| matches!(e, PaymentEvent::PaymentCaptured { .. }))
                .count();
            assert!(captures <= 1, "seed {seed}: {history:?}");
            let view = payment.view(ID, history.len() as u64);
            let captured = view.captured.amount_minor;
            assert!(
                view.refunded.amount_minor + view.pending_refunds.amount_minor <= captured,
                "seed {seed}: {view:?}"
            );
            let refunded_events: i64 = history
                .iter()
                .filter_map(|e| match e {
                    PaymentEvent::PaymentRefunded { amount, .. } => Some(amount.amount_minor),
                    _ => None,
                })
                .sum();
            assert_eq!(refunded_events, view.refunded.amount_minor, "seed {seed}");
            let expected_status = match view.refunded.amount_minor {
                0 => None,
                r if r == captured => Some(PaymentStatus::Refunded),
                _ => Some(PaymentStatus::PartiallyRefunded),
            };
            if let Some(status) = expected_status {
                assert_eq!(view.status, status, "seed {seed}");
            }
            assert_eq!(state(&history), payment, "a replay gives the same state");
        }
    }
    for outcome in [
        "PaymentAuthorized",
        "PaymentActionRequired",
        "PaymentDeclined",
        "PaymentFailed",
        "PaymentCaptured",
        "PaymentVoided",
        "RefundRequested",
        "PaymentRefunded",
        "RefundFailed",
        "ProviderEventReceived",
        "payment.invalid_transition",
        "payment.already_captured",
        "payment.not_captured",
        "payment.mismatch",
        "payment.refund_exceeds_captured",
        "payment.unknown_refund",
    ] {
        assert!(
            outcomes.get(outcome).copied().unwrap_or(0) > 0,
            "never saw {outcome}: {outcomes:?}"
        );
    }
}

// ---- who may act --------------------------------------------------------------------------

fn one_command_of_each_kind() -> Vec<PaymentCommand> {
    vec![
        start(eur(AMOUNT)),
        authorization(authorized_outcome()),
        failure(),
        capture(eur(AMOUNT)),
        void(),
        request_refund("r1", eur(1)),
        record_refund("r1"),
        refund_failure("r1"),
        webhook("evt_1", ProviderEventKind::Canceled),
    ]
}

#[test]
fn shoppers_and_other_roles_may_not_touch_payments() {
    let mut outsiders = shoppers().to_vec();
    outsiders.extend([staff("auditor"), staff("support"), staff("")]);
    for by in outsiders {
        for command in one_command_of_each_kind() {
            for given in [vec![], captured_payment()] {
                check(
                    given,
                    by.clone(),
                    command.clone(),
                    Err(PaymentError::Forbidden),
                );
            }
        }
    }
}

#[test]
fn staff_may_only_request_refunds_while_admins_and_the_platform_may_do_everything() {
    for command in one_command_of_each_kind() {
        let is_refund_request = matches!(command, PaymentCommand::RequestRefund { .. });
        let by_staff = state(&captured_payment()).decide(ID, &command, &staff("staff"));
        if is_refund_request {
            assert_eq!(by_staff, Ok(vec![refund_requested("r1", 1)]));
        } else {
            assert_eq!(by_staff, Err(PaymentError::Forbidden), "{command:?}");
        }
        for by in [staff("admin"), system()] {
            assert_ne!(
                state(&captured_payment()).decide(ID, &command, &by),
                Err(PaymentError::Forbidden)
            );
        }
    }
}

#[test]
fn only_the_back_office_reads_a_payment_and_a_missing_one_is_not_found() {
    let payment = state(&[started()]);
    for by in [system(), staff("admin"), staff("staff"), staff("auditor")] {
        assert_eq!(payment.authorize_read(&by), Ok(()));
        assert_eq!(
            Payment::default().authorize_read(&by),
            Err(PaymentError::NotFound)
        );
    }
    let mut outsiders = shoppers().to_vec();
    outsiders.push(staff("support"));
    for by in outsiders {
        assert_eq!(payment.authorize_read(&by), Err(PaymentError::NotFound));
    }
}

// ---- view and state -----------------------------------------------------------------------

#[test]
fn the_view_shows_the_client_secret_only_while_action_is_required() {
    let view = state(&requiring_action()).view(ID, 2);
    assert_eq!(view.client_secret.as_deref(), Some("pi_1_secret_abc"));
    assert_eq!(view.status, PaymentStatus::RequiresAction);
    for history in [
        vec![started(), action_required(), authorized()],
        vec![started(), action_required(), declined()],
        vec![started(), action_required(), failed()],
        vec![started(), action_required(), voided()],
        vec![
            started(),
            action_required(),
            received("evt_1", captured_kind(AMOUNT)),
            captured(AMOUNT),
        ],
    ] {
        let payment = state(&history);
        assert_eq!(payment.client_secret(), None);
        let json = serde_json::to_string(&payment.view(ID, 3)).expect("serializes");
        assert!(!json.contains("secret_abc"), "{json}");
    }
}

#[test]
fn the_view_sums_refunds_by_status() {
    let mut history = captured_payment();
    history.extend([
        refund_requested("r1", 1_000),
        refunded("r1", 1_000, 1_000),
        refund_requested("r2", 2_000),
        refund_requested("r3", 3_000),
        refund_failed("r3"),
        received("evt_1", ProviderEventKind::Authorized),
    ]);
    let view = state(&history).view(ID, 9);
    assert_eq!(
        view,
        PaymentView {
            id: ID.into(),
            version: 9,
            order_id: ID.into(),
            status: PaymentStatus::PartiallyRefunded,
            amount: eur(AMOUNT),
            payment_method: "pm_card_visa".into(),
            provider_ref: Some("pi_1".into()),
            client_secret: None,
            decline_code: None,
            failure_code: None,
            captured: eur(AMOUNT),
            refunded: eur(1_000),
            pending_refunds: eur(2_000),
            refunds: vec![
                RefundView {
                    refund_id: "r1".into(),
                    amount: eur(1_000),
                    status: RefundStatus::Succeeded,
                    line: None,
                },
                RefundView {
                    refund_id: "r2".into(),
                    amount: eur(2_000),
                    status: RefundStatus::Pending,
                    line: None,
                },
                RefundView {
                    refund_id: "r3".into(),
                    amount: eur(3_000),
                    status: RefundStatus::Failed,
                    line: None,
                },
            ],
            provider_events: 1,
            charged_back: eur(0),
            disputes: vec![],
        }
    );
    assert_eq!(state(&history).refundable(), Some(eur(AMOUNT - 3_000)));
}

#[test]
fn the_view_of_an_uncaptured_payment_counts_zero_in_its_currency() {
    let view = state(&[started(), declined()]).view(ID, 2);
    assert_eq!(view.captured, eur(0));
    assert_eq!(view.refunded, eur(0));
    assert_eq!(view.pending_refunds, eur(0));
    assert_eq!(view.decline_code.as_deref(), Some("card_declined"));
}

#[test]
fn events_carry_the_time_of_their_command() {
    let later = PaymentCommand::RecordCapture {
        amount: eur(AMOUNT),
        now: t(42),
    };
    check(
        authorized_payment(),
        system(),
        later,
        Ok(vec![PaymentEvent::PaymentCaptured {
            amount: eur(AMOUNT),
            at: t(42),
        }]),
    );
}

#[test]
fn the_state_round_trips_through_json() {
    let mut history = captured_payment();
    history.extend([
        refund_requested("r1", 1_000),
        received("evt_1", ProviderEventKind::Authorized),
    ]);
    let payment = state(&history);
    let json = serde_json::to_string(&payment).expect("serializes");
    assert_eq!(
        serde_json::from_str::<Payment>(&json).expect("parses"),
        payment
    );
    assert_eq!(
        serde_json::from_str::<Payment>("{}").expect("parses"),
        Payment::default()
    );
}

#[tokio::test]
async fn the_cqrs_es_aggregate_delegates_to_decide() {
    use cqrs_es::test::TestFramework;
    TestFramework::<Payment>::with(())
        .given(captured_payment())
        .when_async(CqrsEnvelope {
            id: ID.into(),
            by: system(),
            command: capture(eur(AMOUNT)),
        })
        .await
        .then_expect_events(vec![]);
    TestFramework::<Payment>::with(())
        .given(authorized_payment())
        .when_async(CqrsEnvelope {
            id: ID.into(),
            by: system(),
            command: capture(eur(AMOUNT)),
        })
        .await
        .then_expect_events(vec![captured(AMOUNT)]);
    TestFramework::<Payment>::with(())
        .given(captured_payment())
        .when_async(CqrsEnvelope {
            id: ID.into(),
            by: system(),
            command: void(),
        })
        .await
        .then_expect_error(PaymentError::AlreadyCaptured);
}

fn line_share(sku: &str, quantity: i64, line_paid_minor: i64, line_units: i64) -> LineShare {
    LineShare {
        units: RefundUnits {
            sku: agora_kernel::Sku::parse(sku).expect("sku"),
            quantity,
        },
        line_paid: eur(line_paid_minor),
        line_units,
    }
}

fn request_line_refund(refund_id: &str, amount_minor: i64, share: LineShare) -> PaymentCommand {
    PaymentCommand::RequestRefund {
        refund_id: refund_id.into(),
        amount: Some(eur(amount_minor)),
        line: Some(share),
        now: now(),
    }
}

#[test]
fn a_line_refund_gives_back_at_most_what_its_units_cost_and_pending_ones_count() {
    // A line of 3 units for which the shopper paid €10.00 after its discount: the units'
    // shares are 3.34, 3.33 and 3.33, so every unit refunded in any steps gives back exactly
    // the €10.00 paid, never the €12.00 it listed at.
    let mut payment = Payment::default();
    for e in captured_payment() {
        payment.evolve(&e);
    }
    let staff = || staff("staff");
    let too_much = request_line_refund("r1", 335, line_share("TEE-1", 1, 1_000, 3));
    assert_eq!(
        payment.decide(ID, &too_much, &staff()),
        Err(PaymentError::RefundExceedsLine)
    );
    let first = request_line_refund("r1", 334, line_share("TEE-1", 1, 1_000, 3));
    let events = payment.decide(ID, &first, &staff()).expect("first unit");
    for e in &events {
        payment.evolve(e);
    }
    // The pending first unit counts: two more units are worth 6.66, not 6.67.
    let two = request_line_refund("r2", 667, line_share("TEE-1", 2, 1_000, 3));
    assert_eq!(
        payment.decide(ID, &two, &staff()),
        Err(PaymentError::RefundExceedsLine)
    );
    let two = request_line_refund("r2", 666, line_share("TEE-1", 2, 1_000, 3));
    let events = payment.decide(ID, &two, &staff()).expect("two more units");
    assert!(matches!(
        &events[..],
        [PaymentEvent::RefundRequested { line: Some(units), .. }] if units.quantity == 2
    ));
    for e in &events {
        payment.evolve(e);
    }
    // Without an amount a line refund is exactly its units' share, and its retry (same id,
    // no amount) is the same request, whatever was refunded since.
    let by_default = PaymentCommand::RequestRefund {
        refund_id: "r0".into(),
        amount: None,
        line: Some(line_share("TEE-1", 1, 1_000, 3)),
        now: now(),
    };
    let mut fresh = Payment::default();
    for e in captured_payment() {
        fresh.evolve(&e);
    }
    let events = fresh
        .decide(ID, &by_default, &staff())
        .expect("default amount");
    assert!(matches!(
        &events[..],
        [PaymentEvent::RefundRequested { amount, .. }] if amount.amount_minor == 334
    ));
    for e in &events {
        fresh.evolve(e);
    }
    assert_eq!(fresh.decide(ID, &by_default, &staff()), Ok(vec![]));
    // Every unit is given back: no unit is left to refund.
    let more = request_line_refund("r3", 1, line_share("TEE-1", 1, 1_000, 3));
    assert_eq!(
        payment.decide(ID, &more, &staff()),
        Err(PaymentError::InvalidRefundLine)
    );
    // The provider's answer carries the units on to the order.
    let done = payment
        .decide(ID, &record_refund("r2"), &system())
        .expect("recorded");
    assert!(matches!(
        &done[..],
        [PaymentEvent::PaymentRefunded { line: Some(units), .. }] if units.quantity == 2
    ));
}

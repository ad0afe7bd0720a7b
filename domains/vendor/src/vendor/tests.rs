use super::*;
use agora_kernel::Currency;
use chrono::TimeDelta;

const ID: &str = "5d0c9e1b-7a4f-4c2e-8b3d-6f1a2e9c7b40";

/// A fixed instant plus `seconds`: tests never read the clock either.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
}

fn account(id: &str) -> CustomerId {
    id.parse().expect("a valid customer id")
}

/// The applicant: the vendor's first admin.
fn ada() -> CustomerId {
    account("3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69")
}

/// A member added later.
fn ben() -> CustomerId {
    account("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
}

/// An account that is not a user of this vendor (another vendor's, say).
fn cat() -> CustomerId {
    account("0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5")
}

fn system() -> Principal {
    Principal::system("vendors")
}

fn staff(role: &str) -> Principal {
    Principal::Staff {
        id: "sam".into(),
        role: role.into(),
    }
}

/// How a vendor's user acts: by account id, for this vendor.
fn user(account: CustomerId) -> Principal {
    user_of(ID, account)
}

/// A user acting for the vendor `vendor`.
fn user_of(vendor: &str, account: CustomerId) -> Principal {
    Principal::Vendor {
        id: account.to_string(),
        vendor: vendor.into(),
    }
}

/// Another vendor's id.
const OTHER: &str = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918";

fn customer(account: CustomerId) -> Principal {
    Principal::Customer { id: account }
}

fn guest() -> Principal {
    Principal::Guest {
        token_sha256: "a".repeat(64),
    }
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::EUR)
}

fn usd(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::USD)
}

fn details() -> Details {
    Details {
        name: "Acme Books".into(),
        legal_name: "Acme Books GmbH".into(),
        contact_email: "shop@acme.example".into(),
        payout_account: "acct_1Nv0FGQ9RKHgCVdK".into(),
    }
}

fn new_details() -> Details {
    Details {
        name: "Acme Books & Games".into(),
        legal_name: "Acme Media GmbH".into(),
        contact_email: "hello@acme.example".into(),
        payout_account: "acct_2Xy".into(),
    }
}

fn apply_with(details: Details, country: &str) -> VendorCommand {
    VendorCommand::Apply {
        name: details.name,
        legal_name: details.legal_name,
        contact_email: details.contact_email,
        country: country.into(),
        payout_account: details.payout_account,
        applicant: ada(),
        now: t(0),
    }
}

fn apply() -> VendorCommand {
    apply_with(details(), "DE")
}

fn applied() -> VendorEvent {
    let d = details();
    VendorEvent::VendorApplied {
        vendor_id: ID.into(),
        name: d.name,
        legal_name: d.legal_name,
        contact_email: d.contact_email,
        country: "DE".into(),
        payout_account: d.payout_account,
        applicant: ada(),
        at: t(0),
    }
}

fn approve() -> VendorCommand {
    VendorCommand::Approve { now: t(10) }
}

fn approved() -> VendorEvent {
    VendorEvent::VendorApproved { at: t(10) }
}

fn reject(reason: &str) -> VendorCommand {
    VendorCommand::Reject {
        reason: reason.into(),
        now: t(10),
    }
}

fn rejected(reason: &str) -> VendorEvent {
    VendorEvent::VendorRejected {
        reason: reason.into(),
        at: t(10),
    }
}

fn suspend(reason: &str) -> VendorCommand {
    VendorCommand::Suspend {
        reason: reason.into(),
        now: t(20),
    }
}

fn suspended(reason: &str) -> VendorEvent {
    VendorEvent::VendorSuspended {
        reason: reason.into(),
        at: t(20),
    }
}

fn reactivate() -> VendorCommand {
    VendorCommand::Reactivate { now: t(30) }
}

fn reactivated() -> VendorEvent {
    VendorEvent::VendorReactivated { at: t(30) }
}

fn close(reason: Option<&str>) -> VendorCommand {
    VendorCommand::Close {
        reason: reason.map(str::to_string),
        now: t(90),
    }
}

fn closed(reason: Option<&str>) -> VendorEvent {
    VendorEvent::VendorClosed {
        reason: reason.map(str::to_string),
        at: t(90),
    }
}

fn update(details: Details) -> VendorCommand {
    VendorCommand::UpdateDetails {
        name: details.name,
        legal_name: details.legal_name,
        contact_email: details.contact_email,
        payout_account: details.payout_account,
        now: t(40),
    }
}

fn updated(details: Details) -> VendorEvent {
    VendorEvent::VendorDetailsUpdated {
        name: details.name,
        legal_name: details.legal_name,
        contact_email: details.contact_email,
        payout_account: details.payout_account,
        at: t(40),
    }
}

fn add(account: CustomerId, role: VendorRole) -> VendorCommand {
    VendorCommand::AddUser {
        account,
        role,
        now: t(50),
    }
}

fn added(account: CustomerId, role: VendorRole) -> VendorEvent {
    VendorEvent::VendorUserAdded {
        account,
        role,
        at: t(50),
    }
}

fn role_changed(account: CustomerId, role: VendorRole) -> VendorEvent {
    VendorEvent::VendorUserRoleChanged {
        account,
        role,
        at: t(50),
    }
}

fn remove(account: CustomerId) -> VendorCommand {
    VendorCommand::RemoveUser {
        account,
        now: t(60),
    }
}

fn removed(account: CustomerId) -> VendorEvent {
    VendorEvent::VendorUserRemoved { account, at: t(60) }
}

/// The moment rules are set in these tests.
const RULES_SET_AT: i64 = 70;

fn rule(id: &str, percent_bp: u32, category: Option<&str>, from: i64) -> CommissionRule {
    CommissionRule {
        rule_id: id.into(),
        percent_bp,
        fixed: None,
        category: category.map(str::to_string),
        effective_from: t(from),
    }
}

fn set(rule: CommissionRule) -> VendorCommand {
    VendorCommand::SetCommission {
        rule_id: rule.rule_id,
        percent_bp: rule.percent_bp,
        fixed: rule.fixed,
        category: rule.category,
        effective_from: rule.effective_from,
        now: t(RULES_SET_AT),
    }
}

fn rule_set(rule: CommissionRule) -> VendorEvent {
    VendorEvent::CommissionRuleSet {
        rule_id: rule.rule_id,
        percent_bp: rule.percent_bp,
        fixed: rule.fixed,
        category: rule.category,
        effective_from: rule.effective_from,
        at: t(RULES_SET_AT),
    }
}

/// 10 % plus 0.30 on every line from `RULES_SET_AT + 30` on.
fn base_rule() -> CommissionRule {
    CommissionRule {
        fixed: Some(eur(30)),
        ..rule("base", 1000, None, RULES_SET_AT + 30)
    }
}

/// The moment payouts are requested in these tests, and settled ten seconds later.
const PAYOUT_AT: i64 = 100;
/// The marketplace's minimum payout in these tests: 10.00.
const MINIMUM: i64 = 1_000;

fn request(id: &str, amount: i64, earned_available: i64) -> VendorCommand {
    VendorCommand::RequestPayout {
        payout_id: id.into(),
        amount: eur(amount),
        earned_available: eur(earned_available),
        minimum: eur(MINIMUM),
        now: t(PAYOUT_AT),
    }
}

/// A payout to the payout account of the application.
fn requested(id: &str, amount: i64) -> VendorEvent {
    VendorEvent::VendorPayoutRequested {
        payout_id: id.into(),
        amount: eur(amount),
        destination: details().payout_account,
        at: t(PAYOUT_AT),
    }
}

fn record(id: &str, outcome: PayoutOutcome) -> VendorCommand {
    VendorCommand::RecordPayout {
        payout_id: id.into(),
        outcome,
        now: t(PAYOUT_AT + 10),
    }
}

fn record_paid(id: &str, transfer_id: &str) -> VendorCommand {
    record(
        id,
        PayoutOutcome::Paid {
            transfer_id: transfer_id.into(),
        },
    )
}

fn record_failed(id: &str, reason: &str) -> VendorCommand {
    record(
        id,
        PayoutOutcome::Failed {
            reason: reason.into(),
        },
    )
}

fn paid(id: &str, transfer_id: &str) -> VendorEvent {
    VendorEvent::VendorPayoutPaid {
        payout_id: id.into(),
        transfer_id: transfer_id.into(),
        at: t(PAYOUT_AT + 10),
    }
}

fn failed(id: &str, reason: &str) -> VendorEvent {
    VendorEvent::VendorPayoutFailed {
        payout_id: id.into(),
        reason: reason.into(),
        at: t(PAYOUT_AT + 10),
    }
}

fn at_applied() -> Vec<VendorEvent> {
    vec![applied()]
}

fn at_active() -> Vec<VendorEvent> {
    vec![applied(), approved()]
}

fn at_rejected() -> Vec<VendorEvent> {
    vec![applied(), rejected("no VAT id")]
}

fn at_suspended() -> Vec<VendorEvent> {
    with(at_active(), [suspended("fraud check")])
}

fn at_closed() -> Vec<VendorEvent> {
    with(at_active(), [closed(Some("retiring"))])
}

/// Active, with Ada (admin) and Ben (member).
fn at_team() -> Vec<VendorEvent> {
    with(at_active(), [added(ben(), VendorRole::Member)])
}

fn with(
    mut given: Vec<VendorEvent>,
    more: impl IntoIterator<Item = VendorEvent>,
) -> Vec<VendorEvent> {
    given.extend(more);
    given
}

fn state(given: &[VendorEvent]) -> Vendor {
    let mut vendor = Vendor::default();
    for e in given {
        vendor.evolve(e);
    }
    vendor
}

/// Given events, when a command by a principal, then these events or this error.
fn check(
    given: Vec<VendorEvent>,
    by: Principal,
    when: VendorCommand,
    then: Result<Vec<VendorEvent>, VendorError>,
) {
    assert_eq!(
        state(&given).decide(ID, &when, &by),
        then,
        "{when:?} by {by:?}"
    );
}

/// One command of each kind but `Apply`.
fn every_later_command() -> Vec<VendorCommand> {
    vec![
        approve(),
        reject("no VAT id"),
        suspend("fraud check"),
        reactivate(),
        close(None),
        update(new_details()),
        add(cat(), VendorRole::Member),
        remove(ben()),
        set(base_rule()),
        request("2025-06", 5_000, 8_800),
        record_paid("2025-06", "tr_1"),
    ]
}

/// The review and commission commands, for staff and the platform.
fn is_back_office_only(command: &VendorCommand) -> bool {
    matches!(
        command,
        VendorCommand::Approve { .. }
            | VendorCommand::Reject { .. }
            | VendorCommand::Suspend { .. }
            | VendorCommand::Reactivate { .. }
            | VendorCommand::SetCommission { .. }
            | VendorCommand::RecordPayout { .. }
    )
}

// Applying.

#[test]
fn applying_records_the_details_and_makes_the_applicant_the_first_admin() {
    check(vec![], system(), apply(), Ok(vec![applied()]));
    let vendor = state(&at_applied());
    assert_eq!(vendor.status(), VendorStatus::Applied);
    assert_eq!(vendor.role_of(&ada()), Some(VendorRole::Admin));
    assert_eq!(
        vendor.users(),
        [VendorUser {
            account: ada(),
            role: VendorRole::Admin
        }]
    );
    assert_eq!(vendor.name(), "Acme Books");
    assert_eq!(vendor.country(), Some("DE"));
}

#[test]
fn only_the_platform_applies() {
    for by in [
        staff("admin"),
        staff("staff"),
        staff("auditor"),
        user(ada()),
        customer(ada()),
        guest(),
    ] {
        check(vec![], by.clone(), apply(), Err(VendorError::Forbidden));
        // Even on an existing vendor: the refusal comes first and reveals nothing.
        check(at_active(), by, apply(), Err(VendorError::Forbidden));
    }
}

#[test]
fn applying_again_with_the_same_details_records_nothing() {
    for given in [at_applied(), at_active(), at_rejected(), at_closed()] {
        check(given, system(), apply(), Ok(vec![]));
    }
    // The application is what is compared, not the details updated since.
    check(
        with(at_active(), [updated(new_details())]),
        system(),
        apply(),
        Ok(vec![]),
    );
}

#[test]
fn applying_again_with_other_details_is_a_conflict() {
    let other_applicant = VendorCommand::Apply {
        name: details().name,
        legal_name: details().legal_name,
        contact_email: details().contact_email,
        country: "DE".into(),
        payout_account: details().payout_account,
        applicant: ben(),
        now: t(0),
    };
    for command in [
        apply_with(new_details(), "DE"),
        apply_with(details(), "FR"),
        other_applicant,
    ] {
        check(
            at_applied(),
            system(),
            command,
            Err(VendorError::AlreadyExists),
        );
    }
}

/// One way to change valid details, for tests that try many.
type Change<'a> = &'a dyn Fn(&mut Details);

fn changed(change: Change) -> Details {
    let mut details = details();
    change(&mut details);
    details
}

/// Details each refused with its own code, for `Apply` and `UpdateDetails` alike.
fn refused_details() -> Vec<(Details, VendorError)> {
    let refused: [(Change, VendorError); 16] = [
        (&|d| d.name = String::new(), VendorError::InvalidName),
        (&|d| d.name = "   ".into(), VendorError::InvalidName),
        (&|d| d.name = "Acme\nBooks".into(), VendorError::InvalidName),
        (
            &|d| d.name = "é".repeat(MAX_NAME_CHARS + 1),
            VendorError::InvalidName,
        ),
        (
            &|d| d.legal_name = " ".into(),
            VendorError::InvalidLegalName,
        ),
        (
            &|d| d.legal_name = "é".repeat(MAX_LEGAL_NAME_CHARS + 1),
            VendorError::InvalidLegalName,
        ),
        (
            &|d| d.contact_email = String::new(),
            VendorError::InvalidEmail,
        ),
        (
            &|d| d.contact_email = "shop".into(),
            VendorError::InvalidEmail,
        ),
        (
            &|d| d.contact_email = "@acme".into(),
            VendorError::InvalidEmail,
        ),
        (
            &|d| d.contact_email = "shop@".into(),
            VendorError::InvalidEmail,
        ),
        (
            &|d| d.contact_email = "a@b@c".into(),
            VendorError::InvalidEmail,
        ),
        (
            &|d| d.contact_email = "sh op@acme".into(),
            VendorError::InvalidEmail,
        ),
        (
            &|d| d.contact_email = format!("{}@acme.example", "a".repeat(MAX_EMAIL_CHARS)),
            VendorError::InvalidEmail,
        ),
        (
            &|d| d.payout_account = String::new(),
            VendorError::InvalidPayoutAccount,
        ),
        (
            &|d| d.payout_account = "acct 1".into(),
            VendorError::InvalidPayoutAccount,
        ),
        (
            &|d| d.payout_account = "a".repeat(MAX_PAYOUT_ACCOUNT_CHARS + 1),
            VendorError::InvalidPayoutAccount,
        ),
    ];
    refused
        .into_iter()
        .map(|(change, error)| (changed(change), error))
        .collect()
}

/// Details at every limit: characters are counted, not bytes.
fn details_at_limits() -> Details {
    Details {
        name: "é".repeat(MAX_NAME_CHARS),
        legal_name: "é".repeat(MAX_LEGAL_NAME_CHARS),
        contact_email: format!("{}@b", "a".repeat(MAX_EMAIL_CHARS - 2)),
        payout_account: "~".repeat(MAX_PAYOUT_ACCOUNT_CHARS),
    }
}

#[test]
fn an_application_has_a_name_a_legal_name_an_email_and_a_payout_account() {
    for (details, error) in refused_details() {
        check(vec![], system(), apply_with(details, "DE"), Err(error));
    }
    let at_limits = details_at_limits();
    let d = at_limits.clone();
    check(
        vec![],
        system(),
        apply_with(at_limits, "DE"),
        Ok(vec![VendorEvent::VendorApplied {
            vendor_id: ID.into(),
            name: d.name,
            legal_name: d.legal_name,
            contact_email: d.contact_email,
            country: "DE".into(),
            payout_account: d.payout_account,
            applicant: ada(),
            at: t(0),
        }]),
    );
}

#[test]
fn an_application_names_a_country_by_its_two_letter_code() {
    for country in ["", "D", "de", "DEU", "D1", "ÄÖ"] {
        check(
            vec![],
            system(),
            apply_with(details(), country),
            Err(VendorError::InvalidCountry),
        );
    }
}

// Reviewing: approve, reject, suspend, reactivate.

#[test]
fn admins_staff_and_the_platform_approve_an_application() {
    for by in [staff("admin"), staff("staff"), system()] {
        check(at_applied(), by, approve(), Ok(vec![approved()]));
    }
}

#[test]
fn approving_again_records_nothing() {
    check(at_active(), staff("staff"), approve(), Ok(vec![]));
}

#[test]
fn only_an_application_is_approved() {
    // A suspended vendor is reactivated, not approved again.
    for given in [at_suspended(), at_rejected(), at_closed()] {
        check(
            given,
            staff("staff"),
            approve(),
            Err(VendorError::InvalidTransition),
        );
    }
}

#[test]
fn admins_staff_and_the_platform_reject_an_application_saying_why() {
    for by in [staff("admin"), staff("staff"), system()] {
        check(
            at_applied(),
            by,
            reject("no VAT id"),
            Ok(vec![rejected("no VAT id")]),
        );
    }
}

#[test]
fn rejecting_again_records_nothing() {
    check(
        at_rejected(),
        staff("staff"),
        reject("no VAT id"),
        Ok(vec![]),
    );
    check(at_rejected(), staff("staff"), reject("other"), Ok(vec![]));
}

#[test]
fn reasons_are_short_and_not_blank() {
    let reasons = [
        String::new(),
        "  ".into(),
        "\u{7}".into(),
        "x".repeat(MAX_REASON_CHARS + 1),
    ];
    for reason in reasons {
        check(
            at_applied(),
            staff("staff"),
            reject(&reason),
            Err(VendorError::InvalidReason),
        );
        check(
            at_active(),
            staff("staff"),
            suspend(&reason),
            Err(VendorError::InvalidReason),
        );
        check(
            at_active(),
            staff("admin"),
            close(Some(&reason)),
            Err(VendorError::InvalidReason),
        );
    }
    let longest = "é".repeat(MAX_REASON_CHARS);
    check(
        at_applied(),
        staff("staff"),
        reject(&longest),
        Ok(vec![rejected(&longest)]),
    );
}

#[test]
fn an_approved_or_closed_vendor_can_no_longer_be_rejected() {
    for given in [at_active(), at_suspended(), at_closed()] {
        check(
            given,
            staff("staff"),
            reject("no VAT id"),
            Err(VendorError::InvalidTransition),
        );
    }
}

#[test]
fn admins_staff_and_the_platform_suspend_an_active_vendor_saying_why() {
    for by in [staff("admin"), staff("staff"), system()] {
        check(
            at_active(),
            by,
            suspend("fraud check"),
            Ok(vec![suspended("fraud check")]),
        );
    }
}

#[test]
fn suspending_again_records_nothing() {
    check(
        at_suspended(),
        staff("staff"),
        suspend("fraud check"),
        Ok(vec![]),
    );
}

#[test]
fn only_an_active_vendor_is_suspended() {
    for given in [at_applied(), at_rejected(), at_closed()] {
        check(
            given,
            staff("staff"),
            suspend("fraud check"),
            Err(VendorError::InvalidTransition),
        );
    }
}

#[test]
fn admins_staff_and_the_platform_reactivate_a_suspended_vendor() {
    for by in [staff("admin"), staff("staff"), system()] {
        check(at_suspended(), by, reactivate(), Ok(vec![reactivated()]));
    }
    // And it may be suspended again.
    check(
        with(at_suspended(), [reactivated()]),
        staff("staff"),
        suspend("again"),
        Ok(vec![suspended("again")]),
    );
}

#[test]
fn reactivating_an_active_vendor_records_nothing() {
    check(
        with(at_suspended(), [reactivated()]),
        staff("staff"),
        reactivate(),
        Ok(vec![]),
    );
}

#[test]
fn only_a_suspended_vendor_is_reactivated() {
    for given in [at_applied(), at_rejected(), at_closed()] {
        check(
            given,
            staff("staff"),
            reactivate(),
            Err(VendorError::InvalidTransition),
        );
    }
}

// Closing.

#[test]
fn its_admin_user_an_admin_or_the_platform_close_a_vendor() {
    for given in [at_applied(), at_active(), at_suspended()] {
        for by in [user(ada()), staff("admin"), system()] {
            check(
                given.clone(),
                by,
                close(Some("retiring")),
                Ok(vec![closed(Some("retiring"))]),
            );
        }
    }
}

#[test]
fn a_vendor_closes_without_saying_why() {
    check(
        at_active(),
        user(ada()),
        close(None),
        Ok(vec![closed(None)]),
    );
}

#[test]
fn closing_again_records_nothing() {
    check(at_closed(), user(ada()), close(None), Ok(vec![]));
    check(at_closed(), system(), close(Some("other")), Ok(vec![]));
}

#[test]
fn a_rejected_application_is_not_closed() {
    check(
        at_rejected(),
        staff("admin"),
        close(None),
        Err(VendorError::InvalidTransition),
    );
}

// Details.

#[test]
fn its_admin_user_an_admin_or_the_platform_update_the_details() {
    for given in [at_applied(), at_active(), at_suspended()] {
        for by in [user(ada()), staff("admin"), system()] {
            check(
                given.clone(),
                by,
                update(new_details()),
                Ok(vec![updated(new_details())]),
            );
        }
    }
    // One field is enough to be a change.
    let renamed = changed(&|d| d.name = "Acme".into());
    check(
        at_active(),
        user(ada()),
        update(renamed.clone()),
        Ok(vec![updated(renamed)]),
    );
}

#[test]
fn updating_to_the_same_details_records_nothing() {
    check(at_active(), user(ada()), update(details()), Ok(vec![]));
    let given = with(at_active(), [updated(new_details())]);
    check(
        given.clone(),
        user(ada()),
        update(new_details()),
        Ok(vec![]),
    );
    // Back to the original is a change again.
    check(
        given,
        user(ada()),
        update(details()),
        Ok(vec![updated(details())]),
    );
}

#[test]
fn updated_details_are_checked_like_an_application() {
    for (details, error) in refused_details() {
        check(at_active(), user(ada()), update(details), Err(error));
    }
    check(
        at_active(),
        user(ada()),
        update(details_at_limits()),
        Ok(vec![updated(details_at_limits())]),
    );
}

#[test]
fn a_rejected_or_closed_vendor_keeps_its_details() {
    for given in [at_rejected(), at_closed()] {
        check(
            given,
            staff("admin"),
            update(new_details()),
            Err(VendorError::InvalidTransition),
        );
    }
}

// Users.

#[test]
fn its_admin_user_an_admin_or_the_platform_add_users() {
    for by in [user(ada()), staff("admin"), system()] {
        check(
            at_active(),
            by.clone(),
            add(ben(), VendorRole::Member),
            Ok(vec![added(ben(), VendorRole::Member)]),
        );
        check(
            at_applied(),
            by,
            add(ben(), VendorRole::Admin),
            Ok(vec![added(ben(), VendorRole::Admin)]),
        );
    }
}

#[test]
fn adding_a_user_again_with_the_same_role_records_nothing() {
    check(
        at_team(),
        user(ada()),
        add(ben(), VendorRole::Member),
        Ok(vec![]),
    );
    check(
        at_team(),
        user(ada()),
        add(ada(), VendorRole::Admin),
        Ok(vec![]),
    );
}

#[test]
fn adding_a_user_with_another_role_changes_the_role() {
    check(
        at_team(),
        user(ada()),
        add(ben(), VendorRole::Admin),
        Ok(vec![role_changed(ben(), VendorRole::Admin)]),
    );
    let two_admins = with(at_team(), [role_changed(ben(), VendorRole::Admin)]);
    check(
        two_admins,
        user(ben()),
        add(ada(), VendorRole::Member),
        Ok(vec![role_changed(ada(), VendorRole::Member)]),
    );
}

#[test]
fn the_last_admin_is_never_demoted() {
    check(
        at_team(),
        staff("admin"),
        add(ada(), VendorRole::Member),
        Err(VendorError::LastAdmin),
    );
}

#[test]
fn its_admin_user_an_admin_or_the_platform_remove_users() {
    for by in [user(ada()), staff("admin"), system()] {
        check(at_team(), by, remove(ben()), Ok(vec![removed(ben())]));
    }
    // An admin may remove another admin, or themselves, while one admin is left.
    let two_admins = with(at_team(), [role_changed(ben(), VendorRole::Admin)]);
    check(
        two_admins.clone(),
        user(ada()),
        remove(ben()),
        Ok(vec![removed(ben())]),
    );
    check(
        two_admins,
        user(ada()),
        remove(ada()),
        Ok(vec![removed(ada())]),
    );
}

#[test]
fn the_last_admin_is_never_removed() {
    for by in [user(ada()), staff("admin"), system()] {
        check(at_team(), by, remove(ada()), Err(VendorError::LastAdmin));
    }
}

#[test]
fn removing_an_account_that_is_no_user_records_nothing() {
    let without_ben = with(at_team(), [removed(ben())]);
    check(without_ben, user(ada()), remove(ben()), Ok(vec![]));
    check(at_team(), user(ada()), remove(cat()), Ok(vec![]));
}

#[test]
fn a_removed_user_may_be_added_again() {
    let without_ben = with(at_team(), [removed(ben())]);
    check(
        without_ben,
        user(ada()),
        add(ben(), VendorRole::Admin),
        Ok(vec![added(ben(), VendorRole::Admin)]),
    );
}

#[test]
fn a_vendor_has_a_bounded_number_of_users() {
    let full = with(
        at_active(),
        (1..MAX_USERS).map(|n| added(account_n(n), VendorRole::Member)),
    );
    assert_eq!(state(&full).users().len(), MAX_USERS);
    check(
        full.clone(),
        user(ada()),
        add(cat(), VendorRole::Member),
        Err(VendorError::TooManyUsers),
    );
    // Changing a role adds nobody.
    check(
        full,
        user(ada()),
        add(account_n(1), VendorRole::Admin),
        Ok(vec![role_changed(account_n(1), VendorRole::Admin)]),
    );
}

/// The `n`th of many accounts.
fn account_n(n: usize) -> CustomerId {
    account(&format!("00000000-0000-4000-8000-{n:012x}"))
}

#[test]
fn a_rejected_or_closed_vendor_keeps_its_users() {
    for given in [
        with(at_team(), [closed(None)]),
        with(
            vec![applied(), added(ben(), VendorRole::Member)],
            [rejected("no VAT id")],
        ),
    ] {
        for command in [
            add(cat(), VendorRole::Member),
            add(ben(), VendorRole::Admin),
            remove(ben()),
        ] {
            check(
                given.clone(),
                staff("admin"),
                command,
                Err(VendorError::InvalidTransition),
            );
        }
    }
}

// Commission rules.

#[test]
fn admins_staff_and_the_platform_set_commission_rules() {
    for given in [at_applied(), at_active(), at_suspended()] {
        for by in [staff("admin"), staff("staff"), system()] {
            check(
                given.clone(),
                by,
                set(base_rule()),
                Ok(vec![rule_set(base_rule())]),
            );
        }
    }
}

#[test]
fn a_rule_may_take_effect_at_once_but_never_in_the_past() {
    let now = rule("now", 1000, None, RULES_SET_AT);
    check(
        at_active(),
        staff("staff"),
        set(now.clone()),
        Ok(vec![rule_set(now)]),
    );
    check(
        at_active(),
        staff("staff"),
        set(rule("past", 1000, None, RULES_SET_AT - 1)),
        Err(VendorError::RetroactiveRule),
    );
}

#[test]
fn setting_the_same_rule_again_records_nothing() {
    let given = with(at_active(), [rule_set(base_rule())]);
    check(given.clone(), staff("staff"), set(base_rule()), Ok(vec![]));
    // Even once it took effect: a late retry is still a retry.
    let late = VendorCommand::SetCommission {
        rule_id: "base".into(),
        percent_bp: 1000,
        fixed: Some(eur(30)),
        category: None,
        effective_from: t(RULES_SET_AT + 30),
        now: t(RULES_SET_AT + 1000),
    };
    check(given, staff("staff"), late, Ok(vec![]));
}

#[test]
fn a_rule_id_is_never_given_other_terms() {
    let given = with(at_active(), [rule_set(base_rule())]);
    let others = [
        CommissionRule {
            percent_bp: 1200,
            ..base_rule()
        },
        CommissionRule {
            fixed: None,
            ..base_rule()
        },
        CommissionRule {
            category: Some("books".into()),
            ..base_rule()
        },
        CommissionRule {
            effective_from: t(RULES_SET_AT + 31),
            ..base_rule()
        },
    ];
    for other in others {
        check(
            given.clone(),
            staff("staff"),
            set(other),
            Err(VendorError::RuleExists),
        );
    }
}

#[test]
fn a_rule_has_an_id_a_percentage_a_fee_and_a_category_of_the_right_shape() {
    let refused = [
        (
            CommissionRule {
                rule_id: String::new(),
                ..base_rule()
            },
            VendorError::InvalidRuleId,
        ),
        (
            CommissionRule {
                rule_id: "base 2".into(),
                ..base_rule()
            },
            VendorError::InvalidRuleId,
        ),
        (
            CommissionRule {
                rule_id: "r".repeat(MAX_RULE_ID_CHARS + 1),
                ..base_rule()
            },
            VendorError::InvalidRuleId,
        ),
        (
            CommissionRule {
                percent_bp: FULL_BP + 1,
                ..base_rule()
            },
            VendorError::InvalidPercent,
        ),
        (
            CommissionRule {
                fixed: Some(eur(-1)),
                ..base_rule()
            },
            VendorError::InvalidFee,
        ),
    ];
    let categories = [
        String::new(),
        "Books".into(),
        "books & games".into(),
        "bücher".into(),
        "c".repeat(MAX_CATEGORY_CHARS + 1),
    ];
    let bad_categories = categories.into_iter().map(|category| {
        (
            CommissionRule {
                category: Some(category),
                ..base_rule()
            },
            VendorError::InvalidCategory,
        )
    });
    for (rule, error) in refused.into_iter().chain(bad_categories) {
        check(at_active(), staff("staff"), set(rule), Err(error));
    }
    let at_limits = CommissionRule {
        rule_id: "~".repeat(MAX_RULE_ID_CHARS),
        percent_bp: FULL_BP,
        fixed: Some(eur(0)),
        category: Some(format!("a-0{}", "z".repeat(MAX_CATEGORY_CHARS - 3))),
        ..base_rule()
    };
    check(
        at_active(),
        staff("staff"),
        set(at_limits.clone()),
        Ok(vec![rule_set(at_limits)]),
    );
}

#[test]
fn the_fixed_fees_of_a_vendor_are_in_one_currency() {
    let given = with(at_active(), [rule_set(base_rule())]);
    let dollars = CommissionRule {
        fixed: Some(usd(30)),
        ..rule("usd", 1000, Some("books"), RULES_SET_AT + 40)
    };
    check(
        given.clone(),
        staff("staff"),
        set(dollars),
        Err(VendorError::CurrencyMismatch),
    );
    // A rule without a fee has no currency to mismatch.
    let percent_only = rule("books", 500, Some("books"), RULES_SET_AT + 40);
    check(
        given,
        staff("staff"),
        set(percent_only.clone()),
        Ok(vec![rule_set(percent_only)]),
    );
}

#[test]
fn a_vendor_has_a_bounded_number_of_rules() {
    let full = with(
        at_active(),
        (0..MAX_RULES).map(|n| rule_set(rule(&format!("r{n}"), 1000, None, RULES_SET_AT))),
    );
    check(
        full.clone(),
        staff("staff"),
        set(base_rule()),
        Err(VendorError::TooManyRules),
    );
    // A retry of a rule set is still harmless.
    check(
        full,
        staff("staff"),
        set(rule("r0", 1000, None, RULES_SET_AT)),
        Ok(vec![]),
    );
}

#[test]
fn a_rejected_or_closed_vendor_gets_no_new_rules() {
    for given in [at_rejected(), at_closed()] {
        check(
            given,
            staff("admin"),
            set(base_rule()),
            Err(VendorError::InvalidTransition),
        );
    }
}

#[test]
fn rules_are_kept_by_the_date_they_take_effect() {
    let given = with(
        at_active(),
        [
            rule_set(rule("later", 1500, None, 500)),
            rule_set(rule("books", 500, Some("books"), 200)),
            rule_set(base_rule()),
            rule_set(rule("same-moment", 1200, None, 500)),
        ],
    );
    let vendor = state(&given);
    let ids: Vec<&str> = vendor
        .commission_rules()
        .iter()
        .map(|r| r.rule_id.as_str())
        .collect();
    // Equal dates keep the order they were set in, so the later-set rule wins.
    assert_eq!(ids, ["base", "books", "later", "same-moment"]);
    let commission = |category, sold| {
        vendor
            .commission(category, eur(10_000), t(sold))
            .expect("a commission")
    };
    assert_eq!(commission(None, RULES_SET_AT), eur(0));
    assert_eq!(commission(None, RULES_SET_AT + 30), eur(1030));
    assert_eq!(commission(Some("books"), 200), eur(500));
    assert_eq!(commission(Some("garden"), 200), eur(1030));
    assert_eq!(commission(None, 500), eur(1200));
}

// Who may do what.

#[test]
fn staff_and_auditors_may_not_change_details_or_users_or_close() {
    for command in [
        update(new_details()),
        add(cat(), VendorRole::Member),
        remove(ben()),
        close(None),
    ] {
        for by in [staff("staff"), staff("auditor")] {
            check(at_team(), by, command.clone(), Err(VendorError::Forbidden));
        }
    }
}

#[test]
fn a_member_user_only_reads() {
    for command in every_later_command() {
        check(at_team(), user(ben()), command, Err(VendorError::Forbidden));
    }
    assert_eq!(state(&at_team()).authorize_read(&user(ben())), Ok(()));
}

#[test]
fn vendor_users_neither_review_their_vendor_nor_set_its_commission() {
    for command in every_later_command()
        .into_iter()
        .filter(is_back_office_only)
    {
        check(
            at_team(),
            user(ada()),
            command.clone(),
            Err(VendorError::Forbidden),
        );
    }
}

#[test]
fn auditors_change_nothing() {
    for command in every_later_command() {
        check(
            at_team(),
            staff("auditor"),
            command,
            Err(VendorError::Forbidden),
        );
    }
}

#[test]
fn strangers_learn_nothing_about_a_vendor() {
    let strangers = [
        // Another vendor's user.
        user(cat()),
        // The applicant as a customer: vendor users act as back office.
        customer(ada()),
        customer(cat()),
        guest(),
        // A user of this vendor acting for another vendor.
        user_of(OTHER, ada()),
        // A vendor principal whose id is no account.
        Principal::Vendor {
            id: "acme".into(),
            vendor: ID.into(),
        },
        // The former way vendor users acted: a staff role says nothing of which vendor.
        Principal::Staff {
            id: ada().to_string(),
            role: "vendor".into(),
        },
        // A back-office role that does not deal with vendors.
        staff("support"),
        // A user's account with another role is not the user.
        Principal::Staff {
            id: ada().to_string(),
            role: "support".into(),
        },
    ];
    for by in strangers {
        for command in every_later_command() {
            check(
                at_team(),
                by.clone(),
                command.clone(),
                Err(VendorError::NotFound),
            );
        }
        assert_eq!(
            state(&at_team()).authorize_read(&by),
            Err(VendorError::NotFound),
            "{by:?}"
        );
    }
}

#[test]
fn a_removed_user_is_a_stranger() {
    let without_ben = with(at_team(), [removed(ben())]);
    assert_eq!(
        state(&without_ben).authorize_read(&user(ben())),
        Err(VendorError::NotFound)
    );
    check(
        without_ben,
        user(ben()),
        close(None),
        Err(VendorError::NotFound),
    );
}

#[test]
fn a_demoted_admin_loses_the_admin_commands() {
    let demoted = with(
        at_team(),
        [
            role_changed(ben(), VendorRole::Admin),
            role_changed(ada(), VendorRole::Member),
        ],
    );
    check(
        demoted.clone(),
        user(ada()),
        close(None),
        Err(VendorError::Forbidden),
    );
    check(demoted, user(ben()), close(None), Ok(vec![closed(None)]));
}

#[test]
fn commands_to_a_vendor_never_applied_find_nothing() {
    for command in every_later_command() {
        for by in [system(), staff("admin"), user(ada())] {
            check(vec![], by, command.clone(), Err(VendorError::NotFound));
        }
    }
}

#[test]
fn the_platform_the_back_office_and_its_own_users_read_a_vendor() {
    for by in [
        system(),
        staff("admin"),
        staff("staff"),
        staff("auditor"),
        user(ada()),
        user(ben()),
    ] {
        assert_eq!(state(&at_team()).authorize_read(&by), Ok(()), "{by:?}");
    }
    // Nobody reads a vendor that never applied.
    assert_eq!(
        Vendor::default().authorize_read(&system()),
        Err(VendorError::NotFound)
    );
}

// Payouts.

#[test]
fn a_payout_within_the_balance_goes_to_the_current_payout_account() {
    for by in [system(), staff("admin"), staff("staff"), user(ada())] {
        check(
            at_team(),
            by,
            request("2025-06", 8_800, 8_800),
            Ok(vec![requested("2025-06", 8_800)]),
        );
    }
    let moved = with(at_active(), [updated(new_details())]);
    check(
        moved,
        system(),
        request("2025-06", 5_000, 8_800),
        Ok(vec![VendorEvent::VendorPayoutRequested {
            payout_id: "2025-06".into(),
            amount: eur(5_000),
            destination: new_details().payout_account,
            at: t(PAYOUT_AT),
        }]),
    );
}

#[test]
fn a_payout_above_the_balance_is_refused() {
    check(
        at_active(),
        system(),
        request("2025-06", 8_801, 8_800),
        Err(VendorError::InsufficientBalance),
    );
    // A vendor that owes money (a refund before the sale was available) is paid nothing.
    check(
        at_active(),
        system(),
        request("2025-06", MINIMUM, -4_400),
        Err(VendorError::InsufficientBalance),
    );
}

#[test]
fn of_two_payouts_that_together_exceed_the_balance_the_second_is_refused() {
    // Two requests read the same balance; the aggregate decides them one after the other.
    let first = request("a", 5_000, 8_800);
    let second = request("b", 4_000, 8_800);
    check(
        at_active(),
        user(ada()),
        first,
        Ok(vec![requested("a", 5_000)]),
    );
    let after_first = with(at_active(), [requested("a", 5_000)]);
    check(
        after_first.clone(),
        system(),
        second,
        Err(VendorError::InsufficientBalance),
    );
    check(
        after_first.clone(),
        system(),
        request("b", 3_800, 8_800),
        Ok(vec![requested("b", 3_800)]),
    );
    // A paid payout counts as much as one under way.
    let after_paid = with(after_first, [paid("a", "tr_1")]);
    check(
        after_paid,
        system(),
        request("b", 3_801, 8_800),
        Err(VendorError::InsufficientBalance),
    );
}

#[test]
fn a_payout_is_more_than_zero_and_at_least_the_minimum() {
    for amount in [MINIMUM - 1, 0, -5] {
        check(
            at_active(),
            system(),
            request("2025-06", amount, 8_800),
            Err(VendorError::BelowMinimum),
        );
    }
    let no_minimum = VendorCommand::RequestPayout {
        payout_id: "2025-06".into(),
        amount: eur(0),
        earned_available: eur(8_800),
        minimum: eur(0),
        now: t(PAYOUT_AT),
    };
    check(
        at_active(),
        system(),
        no_minimum,
        Err(VendorError::BelowMinimum),
    );
    let negative_minimum = VendorCommand::RequestPayout {
        payout_id: "2025-06".into(),
        amount: eur(5_000),
        earned_available: eur(8_800),
        minimum: eur(-1),
        now: t(PAYOUT_AT),
    };
    check(
        at_active(),
        system(),
        negative_minimum,
        Err(VendorError::InvalidAmount),
    );
    check(
        at_active(),
        system(),
        request("2025-06", MINIMUM, MINIMUM),
        Ok(vec![requested("2025-06", MINIMUM)]),
    );
}

#[test]
fn requesting_a_payout_again_with_the_same_id_and_amount_records_nothing() {
    let given = with(at_active(), [requested("2025-06", 8_800)]);
    // Though the payout itself now takes the whole balance.
    check(
        given.clone(),
        system(),
        request("2025-06", 8_800, 8_800),
        Ok(vec![]),
    );
    // Whatever became of it, and of the vendor, since.
    for more in [
        paid("2025-06", "tr_1"),
        failed("2025-06", "account closed"),
        suspended("fraud check"),
    ] {
        check(
            with(given.clone(), [more]),
            system(),
            request("2025-06", 8_800, 0),
            Ok(vec![]),
        );
    }
}

#[test]
fn a_payout_id_with_another_amount_is_a_conflict() {
    let given = with(at_active(), [requested("2025-06", 5_000)]);
    check(
        given.clone(),
        system(),
        request("2025-06", 3_000, 8_800),
        Err(VendorError::PayoutConflict),
    );
    let dollars = VendorCommand::RequestPayout {
        payout_id: "2025-06".into(),
        amount: usd(5_000),
        earned_available: usd(8_800),
        minimum: usd(MINIMUM),
        now: t(PAYOUT_AT),
    };
    check(given, system(), dollars, Err(VendorError::PayoutConflict));
}

#[test]
fn a_paid_payout_records_its_transfer() {
    let given = with(at_active(), [requested("2025-06", 8_800)]);
    check(
        given.clone(),
        system(),
        record_paid("2025-06", "tr_1"),
        Ok(vec![paid("2025-06", "tr_1")]),
    );
    let vendor = state(&with(given, [paid("2025-06", "tr_1")]));
    let payout = vendor.payout("2025-06").expect("a payout");
    assert_eq!(payout.status, PayoutStatus::Paid);
    assert_eq!(payout.transfer_id.as_deref(), Some("tr_1"));
    assert_eq!(payout.settled_at, Some(t(PAYOUT_AT + 10)));
}

#[test]
fn a_failed_payout_gives_the_money_back() {
    let given = with(at_active(), [requested("2025-06", 8_800)]);
    check(
        given.clone(),
        system(),
        request("2025-06-b", 8_800, 8_800),
        Err(VendorError::InsufficientBalance),
    );
    check(
        given.clone(),
        staff("admin"),
        record_failed("2025-06", "account closed"),
        Ok(vec![failed("2025-06", "account closed")]),
    );
    let after_failure = with(given, [failed("2025-06", "account closed")]);
    // Made again, under a new id.
    check(
        after_failure.clone(),
        system(),
        request("2025-06-b", 8_800, 8_800),
        Ok(vec![requested("2025-06-b", 8_800)]),
    );
    let vendor = state(&after_failure);
    let payout = vendor.payout("2025-06").expect("a payout");
    assert_eq!(payout.status, PayoutStatus::Failed);
    assert_eq!(payout.reason.as_deref(), Some("account closed"));
}

#[test]
fn recording_the_same_outcome_again_records_nothing() {
    let given = with(at_active(), [requested("2025-06", 8_800)]);
    let was_paid = with(given.clone(), [paid("2025-06", "tr_1")]);
    check(
        was_paid,
        system(),
        record_paid("2025-06", "tr_1"),
        Ok(vec![]),
    );
    let has_failed = with(given, [failed("2025-06", "account closed")]);
    check(
        has_failed.clone(),
        system(),
        record_failed("2025-06", "account closed"),
        Ok(vec![]),
    );
    // The first reason stands.
    check(
        has_failed,
        system(),
        record_failed("2025-06", "retried: account closed"),
        Ok(vec![]),
    );
}

#[test]
fn a_payout_never_gets_a_contradicting_outcome() {
    let given = with(at_active(), [requested("2025-06", 8_800)]);
    let was_paid = with(given.clone(), [paid("2025-06", "tr_1")]);
    let has_failed = with(given, [failed("2025-06", "account closed")]);
    for (given, command) in [
        (was_paid.clone(), record_failed("2025-06", "account closed")),
        // A second transfer would pay the vendor twice.
        (was_paid, record_paid("2025-06", "tr_2")),
        (has_failed, record_paid("2025-06", "tr_1")),
    ] {
        check(given, system(), command, Err(VendorError::PayoutConflict));
    }
}

#[test]
fn an_outcome_for_an_unknown_payout_is_refused() {
    let given = with(at_active(), [requested("2025-06", 8_800)]);
    check(
        given,
        system(),
        record_paid("2025-07", "tr_1"),
        Err(VendorError::UnknownPayout),
    );
}

#[test]
fn only_the_platform_and_admins_record_a_payouts_outcome() {
    let given = with(at_team(), [requested("2025-06", 8_800)]);
    for by in [staff("staff"), staff("auditor"), user(ada()), user(ben())] {
        check(
            given.clone(),
            by,
            record_paid("2025-06", "tr_1"),
            Err(VendorError::Forbidden),
        );
    }
}

#[test]
fn a_payouts_outcome_is_recorded_whatever_became_of_the_vendor() {
    let given = with(at_active(), [requested("2025-06", 8_800)]);
    for status in [suspended("fraud check"), closed(None)] {
        check(
            with(given.clone(), [status]),
            system(),
            record_paid("2025-06", "tr_1"),
            Ok(vec![paid("2025-06", "tr_1")]),
        );
    }
}

#[test]
fn a_vendors_admin_user_may_request_a_payout_and_a_member_may_not() {
    check(
        at_team(),
        user(ada()),
        request("2025-06", 8_800, 8_800),
        Ok(vec![requested("2025-06", 8_800)]),
    );
    check(
        at_team(),
        user(ben()),
        request("2025-06", 8_800, 8_800),
        Err(VendorError::Forbidden),
    );
    check(
        at_team(),
        staff("auditor"),
        request("2025-06", 8_800, 8_800),
        Err(VendorError::Forbidden),
    );
}

#[test]
fn another_vendors_user_finds_no_vendor_to_pay_out() {
    // Cat is nobody here; Ada is this vendor's admin, but acting for another vendor.
    for by in [user(cat()), user_of(OTHER, ada()), user_of(OTHER, cat())] {
        check(
            at_team(),
            by.clone(),
            request("2025-06", 8_800, 8_800),
            Err(VendorError::NotFound),
        );
        check(
            with(at_team(), [requested("2025-06", 8_800)]),
            by,
            record_paid("2025-06", "tr_1"),
            Err(VendorError::NotFound),
        );
    }
}

#[test]
fn a_suspended_vendor_is_not_paid_out_until_reactivated() {
    check(
        at_suspended(),
        system(),
        request("2025-06", 8_800, 8_800),
        Err(VendorError::PayoutsFrozen),
    );
    check(
        with(at_suspended(), [reactivated()]),
        system(),
        request("2025-06", 8_800, 8_800),
        Ok(vec![requested("2025-06", 8_800)]),
    );
}

#[test]
fn a_closed_vendor_gets_its_final_payout_and_an_applicant_none() {
    check(
        at_closed(),
        user(ada()),
        request("final", 8_800, 8_800),
        Ok(vec![requested("final", 8_800)]),
    );
    for given in [at_applied(), at_rejected()] {
        check(
            given,
            system(),
            request("2025-06", 8_800, 8_800),
            Err(VendorError::InvalidTransition),
        );
    }
}

#[test]
fn a_payout_is_in_the_vendors_one_currency() {
    let mixed = |amount: Money, earned: Money, minimum: Money| VendorCommand::RequestPayout {
        payout_id: "2025-06".into(),
        amount,
        earned_available: earned,
        minimum,
        now: t(PAYOUT_AT),
    };
    for command in [
        mixed(usd(5_000), eur(8_800), eur(MINIMUM)),
        mixed(eur(5_000), usd(8_800), eur(MINIMUM)),
        mixed(eur(5_000), eur(8_800), usd(MINIMUM)),
    ] {
        check(
            at_active(),
            system(),
            command,
            Err(VendorError::CurrencyMismatch),
        );
    }
    let dollars = mixed(usd(5_000), usd(8_800), usd(MINIMUM));
    // The fees' currency, or the first payout's, is the vendor's.
    for given in [
        with(at_active(), [rule_set(base_rule())]),
        with(at_active(), [requested("2025-05", 1_000)]),
    ] {
        check(
            given,
            system(),
            dollars.clone(),
            Err(VendorError::CurrencyMismatch),
        );
    }
    let dollar_fee = CommissionRule {
        fixed: Some(usd(30)),
        ..base_rule()
    };
    check(
        with(at_active(), [requested("2025-05", 1_000)]),
        staff("staff"),
        set(dollar_fee),
        Err(VendorError::CurrencyMismatch),
    );
    // A vendor without fees or payouts is paid in the currency it first is.
    let in_dollars = VendorEvent::VendorPayoutRequested {
        payout_id: "2025-06".into(),
        amount: usd(5_000),
        destination: details().payout_account,
        at: t(PAYOUT_AT),
    };
    check(at_active(), system(), dollars, Ok(vec![in_dollars]));
}

#[test]
fn payout_and_transfer_ids_are_bounded_visible_ascii_and_reasons_are_reasons() {
    let given = with(at_active(), [requested("2025-06", 5_000)]);
    for id in [
        String::new(),
        "2025 06".into(),
        "zahlung-ü".into(),
        "p".repeat(MAX_PAYOUT_ID_CHARS + 1),
    ] {
        check(
            at_active(),
            system(),
            request(&id, 5_000, 8_800),
            Err(VendorError::InvalidPayoutId),
        );
        check(
            given.clone(),
            system(),
            record_paid(&id, "tr_1"),
            Err(VendorError::InvalidPayoutId),
        );
    }
    let longest = "~".repeat(MAX_PAYOUT_ID_CHARS);
    check(
        at_active(),
        system(),
        request(&longest, 5_000, 8_800),
        Ok(vec![requested(&longest, 5_000)]),
    );
    for transfer in [
        String::new(),
        "tr 1".into(),
        "t".repeat(MAX_TRANSFER_ID_CHARS + 1),
    ] {
        check(
            given.clone(),
            system(),
            record_paid("2025-06", &transfer),
            Err(VendorError::InvalidTransferId),
        );
    }
    let longest = "t".repeat(MAX_TRANSFER_ID_CHARS);
    check(
        given.clone(),
        system(),
        record_paid("2025-06", &longest),
        Ok(vec![paid("2025-06", &longest)]),
    );
    for reason in [String::new(), " ".into(), "x".repeat(MAX_REASON_CHARS + 1)] {
        check(
            given.clone(),
            system(),
            record_failed("2025-06", &reason),
            Err(VendorError::InvalidReason),
        );
    }
}

// Vendor principals.

#[test]
fn the_vendor_knows_its_own_id_from_its_application() {
    assert_eq!(state(&at_applied()).id(), ID);
    assert_eq!(Vendor::default().id(), "");
}

#[test]
fn a_vendors_user_acts_only_for_the_vendor_it_names() {
    assert_eq!(state(&at_team()).authorize_read(&user(ben())), Ok(()));
    assert_eq!(
        state(&at_team()).authorize_read(&user_of(OTHER, ben())),
        Err(VendorError::NotFound)
    );
    check(
        at_team(),
        user_of(OTHER, ada()),
        close(None),
        Err(VendorError::NotFound),
    );
    check(at_team(), user(ada()), close(None), Ok(vec![closed(None)]));
}

/// An application recorded before `vendor_id` was: the state does not know its id.
fn at_legacy_team() -> Vec<VendorEvent> {
    let mut given = at_team();
    if let Some(VendorEvent::VendorApplied { vendor_id, .. }) = given.first_mut() {
        vendor_id.clear();
    }
    given
}

#[test]
fn a_vendor_applied_before_its_id_was_recorded_is_read_by_no_vendor_principal() {
    let vendor = state(&at_legacy_team());
    assert_eq!(vendor.id(), "");
    for by in [user(ada()), user_of("", ada())] {
        assert_eq!(vendor.authorize_read(&by), Err(VendorError::NotFound));
    }
    assert_eq!(vendor.authorize_read(&system()), Ok(()));
    // A command is told its stream id, so its users still act for it.
    check(
        at_legacy_team(),
        user(ada()),
        close(None),
        Ok(vec![closed(None)]),
    );
    check(
        at_legacy_team(),
        user_of("", ada()),
        close(None),
        Err(VendorError::NotFound),
    );
}

// What people see.

#[test]
fn the_view_shows_the_details_users_rules_and_dates() {
    let given = with(
        at_team(),
        [
            updated(new_details()),
            rule_set(rule("later", 1500, None, 500)),
            rule_set(base_rule()),
        ],
    );
    let view = state(&given).view(ID, 6);
    let n = new_details();
    assert_eq!(
        view,
        VendorView {
            id: ID.into(),
            version: 6,
            status: VendorStatus::Active,
            name: n.name,
            legal_name: n.legal_name,
            contact_email: n.contact_email,
            country: "DE".into(),
            payout_account: n.payout_account,
            // By account id: Ada's starts with 3, Ben's with 9.
            users: vec![
                VendorUser {
                    account: ada(),
                    role: VendorRole::Admin,
                },
                VendorUser {
                    account: ben(),
                    role: VendorRole::Member,
                },
            ],
            commission_rules: vec![base_rule(), rule("later", 1500, None, 500)],
            rejection_reason: None,
            suspension_reason: None,
            closing_reason: None,
            applied_at: t(0),
            updated_at: t(RULES_SET_AT),
            payouts: vec![],
            payout_count: 0,
            // The fees' currency.
            payouts_outstanding: Some(eur(0)),
            paid_out: Some(eur(0)),
        }
    );
}

#[test]
fn the_view_says_why_a_vendor_is_suspended_until_it_is_reactivated() {
    let view = state(&at_suspended()).view(ID, 3);
    assert_eq!(view.status, VendorStatus::Suspended);
    assert_eq!(view.suspension_reason.as_deref(), Some("fraud check"));
    assert_eq!(view.updated_at, t(20));
    let view = state(&with(at_suspended(), [reactivated()])).view(ID, 4);
    assert_eq!(view.status, VendorStatus::Active);
    assert_eq!(view.suspension_reason, None);
}

#[test]
fn the_view_says_why_a_vendor_was_rejected_or_closed() {
    let view = state(&at_rejected()).view(ID, 2);
    assert_eq!(view.status, VendorStatus::Rejected);
    assert_eq!(view.rejection_reason.as_deref(), Some("no VAT id"));
    let view = state(&at_closed()).view(ID, 3);
    assert_eq!(view.status, VendorStatus::Closed);
    assert_eq!(view.closing_reason.as_deref(), Some("retiring"));
}

#[test]
fn a_vendor_never_applied_has_an_empty_view() {
    let view = Vendor::default().view(ID, 0);
    assert_eq!(view.status, VendorStatus::New);
    assert_eq!(view.name, "");
    assert!(view.users.is_empty());
    assert_eq!(view.applied_at, DateTime::<Utc>::UNIX_EPOCH);
}

#[test]
fn the_storefront_sees_an_approved_vendors_name_country_and_whether_it_sells() {
    let public = |given: Vec<VendorEvent>| state(&given).public_view(ID);
    assert_eq!(
        public(at_active()),
        Some(PublicVendor {
            id: ID.into(),
            name: "Acme Books".into(),
            country: "DE".into(),
            active: true,
        })
    );
    for given in [at_suspended(), at_closed()] {
        let view = public(given).expect("an approved vendor is public");
        assert!(!view.active);
    }
    // The current name, not the applied one.
    let renamed = public(with(at_active(), [updated(new_details())]));
    assert_eq!(renamed.map(|v| v.name), Some(new_details().name));
}

#[test]
fn the_storefront_never_sees_an_applicant() {
    for given in [
        vec![],
        at_applied(),
        at_rejected(),
        with(at_applied(), [closed(None)]),
    ] {
        assert_eq!(state(&given).public_view(ID), None, "{given:?}");
    }
}

#[test]
fn the_public_view_has_no_contact_payout_account_or_users() {
    let view = state(&at_team()).public_view(ID);
    let json = serde_json::to_string(&view).expect("serializes");
    for secret in [
        "shop@acme.example".to_string(),
        "acct_1Nv0FGQ9RKHgCVdK".into(),
        "Acme Books GmbH".into(),
        ada().to_string(),
    ] {
        assert!(!json.contains(&secret), "{json}");
    }
}

#[test]
fn the_view_shows_the_latest_payouts_newest_first_with_their_totals() {
    let given = with(
        at_active(),
        [
            requested("a", 3_000),
            requested("b", 2_000),
            paid("a", "tr_1"),
            requested("c", 1_500),
            failed("b", "account closed"),
        ],
    );
    let view = state(&given).view(ID, 7);
    let ids: Vec<&str> = view.payouts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["c", "b", "a"]);
    assert_eq!(view.payout_count, 3);
    assert_eq!(view.payouts_outstanding, Some(eur(1_500)));
    assert_eq!(view.paid_out, Some(eur(3_000)));
    assert_eq!(
        view.payouts[1],
        PayoutView {
            id: "b".into(),
            amount: eur(2_000),
            destination: details().payout_account,
            status: PayoutStatus::Failed,
            transfer_id: None,
            reason: Some("account closed".into()),
            requested_at: t(PAYOUT_AT),
            settled_at: Some(t(PAYOUT_AT + 10)),
        }
    );
    let json = serde_json::to_value(&view.payouts[2]).expect("serializes");
    assert_eq!(json["status"], "paid");
    assert_eq!(json["transfer_id"], "tr_1");
}

#[test]
fn the_view_shows_a_bounded_number_of_payouts_and_the_state_keeps_all() {
    let count = MAX_VIEW_PAYOUTS + 5;
    let all_requested = with(
        at_active(),
        (0..count).map(|n| requested(&format!("p{n}"), 1_000)),
    );
    // A payout still waiting for the provider is listed however old (the runner sends it).
    assert_eq!(state(&all_requested).view(ID, 99).payouts.len(), count);
    // Settled ones beyond the newest are left out of the view, and kept in the state.
    let given = with(
        all_requested,
        (0..5).map(|n| paid(&format!("p{n}"), &format!("tr_{n}"))),
    );
    let vendor = state(&given);
    assert_eq!(vendor.payouts().len(), count);
    let view = vendor.view(ID, 99);
    assert_eq!(view.payouts.len(), MAX_VIEW_PAYOUTS);
    assert_eq!(view.payout_count, count);
    assert_eq!(view.payouts[0].id, format!("p{}", count - 1));
    // Every payout still counts.
    assert_eq!(
        view.payouts_outstanding,
        Some(eur(1_000 * (count as i64 - 5)))
    );
    assert_eq!(view.paid_out, Some(eur(5_000)));
    check(
        given,
        system(),
        request("one-more", 1_000, 1_000 * count as i64),
        Err(VendorError::InsufficientBalance),
    );
}

#[test]
fn a_vendor_without_a_currency_has_no_payout_totals() {
    let view = state(&at_active()).view(ID, 2);
    assert!(view.payouts.is_empty());
    assert_eq!(view.payouts_outstanding, None);
    assert_eq!(view.paid_out, None);
}

#[test]
fn payout_statuses_name_themselves_as_serde_does() {
    for status in [
        PayoutStatus::Requested,
        PayoutStatus::Paid,
        PayoutStatus::Failed,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("serializes"),
            serde_json::json!(status.as_str())
        );
    }
}

#[test]
fn statuses_name_themselves_as_serde_does() {
    for status in [
        VendorStatus::New,
        VendorStatus::Applied,
        VendorStatus::Active,
        VendorStatus::Suspended,
        VendorStatus::Rejected,
        VendorStatus::Closed,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("serializes"),
            serde_json::json!(status.as_str())
        );
    }
}

#[test]
fn a_stored_state_reads_back_the_same() {
    let vendor = state(&with(
        at_team(),
        [
            rule_set(base_rule()),
            updated(new_details()),
            requested("a", 3_000),
            paid("a", "tr_1"),
            suspended("fraud check"),
        ],
    ));
    let json = serde_json::to_value(&vendor).expect("serializes");
    let back: Vendor = serde_json::from_value(json.clone()).expect("deserializes");
    assert_eq!(back, vendor);
    // A state stored before the id and payouts were kept reads back without them.
    let mut older = json;
    if let Some(fields) = older.as_object_mut() {
        fields.remove("id");
        fields.remove("payouts");
    }
    let back: Vendor = serde_json::from_value(older).expect("deserializes");
    assert_eq!(back.id(), "");
    assert!(back.payouts().is_empty());
}

#[test]
fn the_aggregate_states_its_published_names() {
    assert_eq!(<Vendor as Decider>::TYPE, "vendor");
    let payouts = [
        requested("a", 1_000),
        paid("a", "tr_1"),
        failed("b", "account closed"),
    ];
    for event in with(with(at_closed(), [rule_set(base_rule())]), payouts) {
        assert_eq!(Vendor::event_type(&event), event.event_type());
        assert_eq!(Vendor::event_version(&event), "1");
    }
}

#[test]
fn the_cqrs_es_aggregate_delegates_to_decide() {
    use cqrs_es::test::TestFramework;
    let envelope = |by: Principal, command: VendorCommand| CqrsEnvelope {
        id: ID.into(),
        by,
        command,
    };
    TestFramework::<Vendor>::with(())
        .given(at_applied())
        .when(envelope(staff("staff"), approve()))
        .then_expect_events(vec![approved()]);
    TestFramework::<Vendor>::with(())
        .given(at_team())
        .when(envelope(system(), remove(ada())))
        .then_expect_error(VendorError::LastAdmin);
}

use super::*;
use crate::{
    MAX_ADDRESS_FIELD_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_PHONE_CHARS, MAX_PROVIDER_CHARS,
    MAX_SUBJECT_CHARS,
};
use agora_kernel::Command as _;
use agora_kernel::DomainError;
use chrono::TimeDelta;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ID: &str = "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69";
const OTHER_ID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const VENDOR: &str = "c4a1e2b3-7d5f-4e6a-9b8c-0d1e2f3a4b5c";
const OTHER_VENDOR: &str = "d5b2f3c4-8e6a-4f7b-8c9d-1e2f3a4b5c6d";

/// A fixed instant plus `seconds`: tests never read the clock either.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
}

/// A well-formed token hash (64 lower-case hex digits), different for each seed.
fn hash(seed: char) -> String {
    format!("{:064x}", u32::from(seed))
}

fn account_id() -> AccountId {
    ID.parse().expect("a uuid")
}

fn owner() -> Principal {
    Principal::Customer {
        id: ID.parse().expect("a uuid"),
    }
}

fn other_customer() -> Principal {
    Principal::Customer {
        id: OTHER_ID.parse().expect("a uuid"),
    }
}

fn guest() -> Principal {
    Principal::Guest {
        token_sha256: hash('g'),
    }
}

fn system() -> Principal {
    Principal::system("identity")
}

/// Someone else in the back office.
fn staff(role: &str) -> Principal {
    Principal::Staff {
        id: OTHER_ID.into(),
        role: role.into(),
    }
}

/// The account's own user, signed in with a back-office role.
fn self_staff(role: &str) -> Principal {
    Principal::Staff {
        id: ID.into(),
        role: role.into(),
    }
}

fn address_id(n: u128) -> AddressId {
    AddressId::from_uuid(uuid::Uuid::from_u128(n))
}

fn address(city: &str) -> Address {
    Address {
        name: "Ada Lovelace".into(),
        line1: "Hauptstraße 1".into(),
        line2: None,
        city: city.into(),
        postal_code: "10115".into(),
        region: None,
        country: "DE".into(),
        phone: Some("+49 30 1234567".into()),
    }
}

fn register(email: &str, display_name: &str) -> AccountCommand {
    AccountCommand::Register {
        email: email.into(),
        display_name: display_name.into(),
        password_set: true,
        verification_token_sha256: hash('v'),
        verification_expires_at: t(3600),
        now: t(0),
    }
}

fn registered() -> AccountEvent {
    AccountEvent::AccountRegistered {
        account_id: account_id(),
        email: "ada@example.com".into(),
        display_name: "Ada".into(),
        roles: vec![Role::Customer],
        password_set: true,
        at: t(0),
    }
}

fn verification_issued(seed: char, expires_at: DateTime<Utc>) -> AccountEvent {
    AccountEvent::VerificationIssued {
        token_sha256: hash(seed),
        expires_at,
        at: t(0),
    }
}

fn reset_requested(seed: char, expires_at: DateTime<Utc>) -> AccountEvent {
    AccountEvent::PasswordResetRequested {
        token_sha256: hash(seed),
        expires_at,
        at: t(100),
    }
}

fn added(n: u128, city: &str, is_default: bool) -> AccountEvent {
    AccountEvent::AddressAdded {
        address_id: address_id(n),
        address: address(city),
        is_default,
    }
}

fn verify(seed: char, now: DateTime<Utc>) -> AccountCommand {
    AccountCommand::VerifyEmail {
        token_sha256: hash(seed),
        now,
    }
}

fn reset(seed: char, now: DateTime<Utc>) -> AccountCommand {
    AccountCommand::ResetPassword {
        token_sha256: hash(seed),
        now,
    }
}

fn add(n: u128, city: &str, make_default: bool) -> AccountCommand {
    AccountCommand::AddAddress {
        address_id: address_id(n),
        address: address(city),
        make_default,
    }
}

fn profile(
    display_name: Option<&str>,
    phone: Option<&str>,
    marketing_opt_in: Option<bool>,
) -> AccountCommand {
    AccountCommand::UpdateProfile {
        display_name: display_name.map(str::to_string),
        phone: phone.map(str::to_string),
        marketing_opt_in,
    }
}

fn link(provider: &str, subject: &str, email_verified: bool) -> AccountCommand {
    AccountCommand::LinkIdentity {
        provider: provider.into(),
        subject: subject.into(),
        email_verified,
        now: t(200),
    }
}

fn bind(vendor: &str) -> AccountCommand {
    AccountCommand::BindVendor {
        vendor: vendor.into(),
        now: t(300),
    }
}

fn unbind(vendor: &str) -> AccountCommand {
    AccountCommand::UnbindVendor {
        vendor: vendor.into(),
        now: t(400),
    }
}

fn bound(vendor: &str) -> AccountEvent {
    AccountEvent::AccountVendorBound {
        vendor: vendor.into(),
        at: t(300),
    }
}

fn unbound(vendor: &str) -> AccountEvent {
    AccountEvent::AccountVendorUnbound {
        vendor: vendor.into(),
        at: t(400),
    }
}

/// A user of another account, acting for `vendor`.
fn vendor_user(vendor: &str) -> Principal {
    Principal::Vendor {
        id: OTHER_ID.into(),
        vendor: vendor.into(),
    }
}

/// Registered, with a verification token `v` valid until `t(3600)`.
fn at_registered() -> Vec<AccountEvent> {
    vec![registered(), verification_issued('v', t(3600))]
}

fn at_verified() -> Vec<AccountEvent> {
    let mut given = at_registered();
    given.push(AccountEvent::EmailVerified { at: t(10) });
    given
}

/// With a password-reset token `r` valid until `t(1000)`.
fn at_reset_requested() -> Vec<AccountEvent> {
    let mut given = at_verified();
    given.push(reset_requested('r', t(1000)));
    given
}

/// With addresses 1 (the default, Berlin), 2 (Hamburg) and 3 (Munich), oldest first.
fn at_three_addresses() -> Vec<AccountEvent> {
    let mut given = at_verified();
    given.push(added(1, "Berlin", true));
    given.push(added(2, "Hamburg", false));
    given.push(added(3, "Munich", false));
    given
}

fn at_closed() -> Vec<AccountEvent> {
    let mut given = at_three_addresses();
    given.push(AccountEvent::AccountClosed {
        revoke_sessions: true,
        at: t(500),
    });
    given
}

fn state(given: &[AccountEvent]) -> Account {
    let mut account = Account::default();
    for e in given {
        account.evolve(e);
    }
    account
}

/// Given events, when a command by a principal, then these events or this error.
fn check(
    given: Vec<AccountEvent>,
    by: Principal,
    when: AccountCommand,
    then: Result<Vec<AccountEvent>, IdentityError>,
) {
    assert_eq!(
        state(&given).decide(ID, &when, &by),
        then,
        "{when:?} by {by:?}"
    );
}

/// Decides `when` on `given` and folds the events in: the state afterwards.
fn after(given: &[AccountEvent], by: Principal, when: AccountCommand) -> Account {
    let mut account = state(given);
    let events = account.decide(ID, &when, &by).expect("accepted");
    for e in &events {
        account.evolve(e);
    }
    account
}

/// One command of each kind but `register`, each accepted on `at_three_addresses()` by the
/// platform.
fn every_command() -> Vec<AccountCommand> {
    vec![
        verify('v', t(20)),
        AccountCommand::IssueVerification {
            token_sha256: hash('w'),
            expires_at: t(9000),
            now: t(20),
        },
        AccountCommand::RequestPasswordReset {
            token_sha256: hash('r'),
            expires_at: t(9000),
            now: t(20),
        },
        reset('r', t(20)),
        AccountCommand::ChangePassword { now: t(20) },
        profile(Some("Ada L."), None, None),
        add(4, "Bremen", false),
        AccountCommand::UpdateAddress {
            address_id: address_id(2),
            address: address("Hannover"),
        },
        AccountCommand::RemoveAddress {
            address_id: address_id(3),
        },
        AccountCommand::SetDefaultAddress {
            address_id: address_id(2),
        },
        AccountCommand::GrantRole { role: Role::Vendor },
        AccountCommand::RevokeRole {
            role: Role::Customer,
        },
        AccountCommand::SetGroups {
            groups: groups(&["vip"]),
        },
        link("google", "1234", false),
        AccountCommand::Close { now: t(20) },
        bind(VENDOR),
        unbind(VENDOR),
    ]
}

/// What only the platform may send (admins neither).
fn platform_only_commands() -> Vec<&'static str> {
    vec!["bind_vendor", "unbind_vendor"]
}

/// What the owner may send (the rest of `every_command()` is the back office's).
fn owners_commands() -> Vec<&'static str> {
    vec![
        "change_password",
        "update_profile",
        "add_address",
        "update_address",
        "remove_address",
        "set_default_address",
        "close",
    ]
}

// Registration.

#[test]
fn registering_records_a_normalized_email_the_customer_role_and_a_verification_token() {
    check(
        vec![],
        system(),
        register("  Ada@Example.COM ", " Ada "),
        Ok(vec![registered(), verification_issued('v', t(3600))]),
    );
    let account = state(&at_registered());
    assert_eq!(account.status(), AccountStatus::Active);
    assert_eq!(account.email(), Some("ada@example.com"));
    assert_eq!(account.roles(), vec![Role::Customer]);
    assert_eq!(account.account_id(), Some(account_id()));
    assert!(!account.email_verified() && !account.is_closed() && account.has_password());
}

#[test]
fn an_account_created_by_a_provider_sign_in_has_no_password() {
    let command = AccountCommand::Register {
        email: "ada@example.com".into(),
        display_name: "Ada".into(),
        password_set: false,
        verification_token_sha256: hash('v'),
        verification_expires_at: t(3600),
        now: t(0),
    };
    let account = after(&[], system(), command);
    assert!(!account.has_password());
}

#[test]
fn only_the_platform_registers_accounts() {
    for by in [
        staff("admin"),
        staff("staff"),
        owner(),
        other_customer(),
        guest(),
    ] {
        check(
            vec![],
            by.clone(),
            register("ada@example.com", "Ada"),
            Err(IdentityError::Forbidden),
        );
        // The same answer for an existing account: registering probes nothing.
        check(
            at_registered(),
            by,
            register("ada@example.com", "Ada"),
            Err(IdentityError::Forbidden),
        );
    }
}

#[test]
fn registering_an_existing_account_is_refused() {
    for given in [at_registered(), at_closed()] {
        check(
            given,
            system(),
            register("bob@example.com", "Bob"),
            Err(IdentityError::AlreadyRegistered),
        );
    }
}

#[test]
fn registration_checks_the_email_the_name_and_the_token() {
    for email in [
        "",
        "ada",
        "ada@example",
        "a d a@example.com",
        "ada@@example.com",
    ] {
        check(
            vec![],
            system(),
            register(email, "Ada"),
            Err(IdentityError::InvalidEmail),
        );
    }
    for name in [
        "".to_string(),
        "   ".into(),
        "x".repeat(MAX_DISPLAY_NAME_CHARS + 1),
    ] {
        check(
            vec![],
            system(),
            register("ada@example.com", &name),
            Err(IdentityError::InvalidName),
        );
    }
    let with_token = |hash: String, expires_at: DateTime<Utc>| AccountCommand::Register {
        email: "ada@example.com".into(),
        display_name: "Ada".into(),
        password_set: true,
        verification_token_sha256: hash,
        verification_expires_at: expires_at,
        now: t(0),
    };
    for (hash, expires_at) in [
        (String::new(), t(3600)),
        ("V".repeat(64), t(3600)),
        ("v".repeat(63), t(3600)),
        (hash('v'), t(0)),
        (hash('v'), t(-1)),
    ] {
        check(
            vec![],
            system(),
            with_token(hash, expires_at),
            Err(IdentityError::InvalidNewToken),
        );
    }
}

#[test]
fn an_account_id_is_a_uuid() {
    assert_eq!(
        Account::default().decide("ada", &register("ada@example.com", "Ada"), &system()),
        Err(IdentityError::NotFound)
    );
}

#[test]
fn nothing_but_registration_happens_to_an_unregistered_account() {
    for command in every_command() {
        for by in [system(), staff("admin"), owner()] {
            check(vec![], by, command.clone(), Err(IdentityError::NotFound));
        }
    }
    assert_eq!(
        Account::default().authorize_read(&system()),
        Err(IdentityError::NotFound)
    );
}

// Email verification.

#[test]
fn the_current_verification_token_verifies_the_email() {
    check(
        at_registered(),
        system(),
        verify('v', t(10)),
        Ok(vec![AccountEvent::EmailVerified { at: t(10) }]),
    );
    check(
        at_registered(),
        staff("admin"),
        verify('v', t(3599)),
        Ok(vec![AccountEvent::EmailVerified { at: t(3599) }]),
    );
    assert!(state(&at_verified()).email_verified());
}

#[test]
fn a_verification_token_works_once_and_a_verified_email_stays_verified() {
    // Once verified, verifying again records nothing, whatever the token.
    for seed in ['v', 'x'] {
        check(at_verified(), system(), verify(seed, t(20)), Ok(vec![]));
    }
    let account = state(&at_verified());
    assert_eq!(
        account.verification.as_ref().map(|t| t.used),
        Some(true),
        "the token is spent"
    );
}

#[test]
fn a_verification_token_expires() {
    for now in [t(3600), t(3601), t(100_000)] {
        check(
            at_registered(),
            system(),
            verify('v', now),
            Err(IdentityError::TokenExpired),
        );
    }
}

#[test]
fn a_wrong_or_malformed_verification_token_is_invalid() {
    for token in [hash('x'), String::new(), "v".repeat(63), "V".repeat(64)] {
        check(
            at_registered(),
            system(),
            AccountCommand::VerifyEmail {
                token_sha256: token,
                now: t(10),
            },
            Err(IdentityError::InvalidToken),
        );
    }
}

#[test]
fn only_the_newest_verification_token_counts() {
    let resend = AccountCommand::IssueVerification {
        token_sha256: hash('w'),
        expires_at: t(7200),
        now: t(50),
    };
    check(
        at_registered(),
        system(),
        resend.clone(),
        Ok(vec![AccountEvent::VerificationIssued {
            token_sha256: hash('w'),
            expires_at: t(7200),
            at: t(50),
        }]),
    );
    let mut given = at_registered();
    given.push(AccountEvent::VerificationIssued {
        token_sha256: hash('w'),
        expires_at: t(7200),
        at: t(50),
    });
    check(
        given.clone(),
        system(),
        verify('v', t(60)),
        Err(IdentityError::InvalidToken),
    );
    // The new token has its own, later expiry.
    check(
        given,
        system(),
        verify('w', t(5000)),
        Ok(vec![AccountEvent::EmailVerified { at: t(5000) }]),
    );
}

#[test]
fn a_verified_email_gets_no_new_verification_token() {
    check(
        at_verified(),
        system(),
        AccountCommand::IssueVerification {
            token_sha256: hash('w'),
            expires_at: t(7200),
            now: t(50),
        },
        Ok(vec![]),
    );
}

#[test]
fn a_new_token_is_a_well_formed_hash_that_expires_later() {
    for (token, expires_at) in [
        ("w".repeat(10), t(7200)),
        ("W".repeat(64), t(7200)),
        (hash('w'), t(50)),
    ] {
        check(
            at_registered(),
            system(),
            AccountCommand::IssueVerification {
                token_sha256: token.clone(),
                expires_at,
                now: t(50),
            },
            Err(IdentityError::InvalidNewToken),
        );
        check(
            at_registered(),
            system(),
            AccountCommand::RequestPasswordReset {
                token_sha256: token,
                expires_at,
                now: t(50),
            },
            Err(IdentityError::InvalidNewToken),
        );
    }
}

// Password reset and change.

#[test]
fn requesting_a_reset_records_the_token() {
    check(
        at_verified(),
        system(),
        AccountCommand::RequestPasswordReset {
            token_sha256: hash('r'),
            expires_at: t(1000),
            now: t(100),
        },
        Ok(vec![reset_requested('r', t(1000))]),
    );
}

#[test]
fn a_reset_token_resets_the_password_once_and_revokes_every_session() {
    let reset_done = AccountEvent::PasswordReset {
        revoke_sessions: true,
        at: t(200),
    };
    check(
        at_reset_requested(),
        system(),
        reset('r', t(200)),
        Ok(vec![reset_done.clone()]),
    );
    let mut given = at_reset_requested();
    given.push(reset_done);
    check(
        given,
        system(),
        reset('r', t(201)),
        Err(IdentityError::InvalidToken),
    );
}

#[test]
fn a_reset_token_expires() {
    for now in [t(1000), t(1001)] {
        check(
            at_reset_requested(),
            system(),
            reset('r', now),
            Err(IdentityError::TokenExpired),
        );
    }
    let result = state(&at_reset_requested()).decide(ID, &reset('r', t(999)), &system());
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn only_the_newest_reset_token_counts() {
    let mut given = at_reset_requested();
    given.push(reset_requested('s', t(2000)));
    check(
        given.clone(),
        system(),
        reset('r', t(200)),
        Err(IdentityError::InvalidToken),
    );
    check(
        given,
        system(),
        reset('s', t(1500)),
        Ok(vec![AccountEvent::PasswordReset {
            revoke_sessions: true,
            at: t(1500),
        }]),
    );
}

#[test]
fn no_reset_token_works_before_a_reset_was_requested() {
    for seed in ['r', 'v'] {
        check(
            at_verified(),
            system(),
            reset(seed, t(20)),
            Err(IdentityError::InvalidToken),
        );
    }
}

#[test]
fn changing_the_password_voids_a_pending_reset_token() {
    let mut given = at_reset_requested();
    given.push(AccountEvent::PasswordChanged { at: t(150) });
    check(
        given,
        system(),
        reset('r', t(200)),
        Err(IdentityError::InvalidToken),
    );
}

#[test]
fn an_account_without_a_password_gets_one_by_resetting_it() {
    let mut account = state(&[
        AccountEvent::AccountRegistered {
            account_id: account_id(),
            email: "ada@example.com".into(),
            display_name: "Ada".into(),
            roles: vec![Role::Customer],
            password_set: false,
            at: t(0),
        },
        reset_requested('r', t(1000)),
    ]);
    assert!(!account.has_password());
    let events = account
        .decide(ID, &reset('r', t(200)), &system())
        .expect("resets");
    account.evolve(&events[0]);
    assert!(account.has_password());
}

#[test]
fn the_owner_and_the_platform_change_the_password_and_nobody_else() {
    let change = AccountCommand::ChangePassword { now: t(30) };
    let changed = Ok(vec![AccountEvent::PasswordChanged { at: t(30) }]);
    for by in [owner(), system(), self_staff("vendor"), self_staff("admin")] {
        check(at_verified(), by, change.clone(), changed.clone());
    }
    for by in [staff("admin"), staff("staff"), staff("auditor")] {
        check(
            at_verified(),
            by,
            change.clone(),
            Err(IdentityError::Forbidden),
        );
    }
    for by in [other_customer(), guest(), staff("vendor")] {
        check(
            at_verified(),
            by,
            change.clone(),
            Err(IdentityError::NotFound),
        );
    }
}

// Profile.

#[test]
fn a_profile_update_records_only_what_changed() {
    check(
        at_verified(),
        owner(),
        profile(Some(" Ada L. "), Some(" +49 30 1 "), Some(false)),
        Ok(vec![AccountEvent::ProfileUpdated {
            display_name: Some("Ada L.".into()),
            phone: Some(PhoneChange::Set("+49 30 1".into())),
            marketing_opt_in: None,
        }]),
    );
    check(
        at_verified(),
        owner(),
        profile(Some("Ada"), None, Some(true)),
        Ok(vec![AccountEvent::ProfileUpdated {
            display_name: None,
            phone: None,
            marketing_opt_in: Some(true),
        }]),
    );
    let account = after(
        &at_verified(),
        owner(),
        profile(Some("Ada L."), Some("+49 30 1"), Some(true)),
    );
    let view = account.view(ID, 4);
    assert_eq!(
        (
            view.display_name.as_str(),
            view.phone.as_deref(),
            view.marketing_opt_in
        ),
        ("Ada L.", Some("+49 30 1"), true)
    );
}

#[test]
fn a_profile_update_that_changes_nothing_records_nothing() {
    check(
        at_verified(),
        owner(),
        profile(None, None, None),
        Ok(vec![]),
    );
    check(
        at_verified(),
        owner(),
        profile(Some(" Ada "), Some(""), Some(false)),
        Ok(vec![]),
    );
}

#[test]
fn a_blank_phone_removes_the_phone_number() {
    let mut given = at_verified();
    given.push(AccountEvent::ProfileUpdated {
        display_name: None,
        phone: Some(PhoneChange::Set("+49 30 1".into())),
        marketing_opt_in: None,
    });
    check(
        given.clone(),
        owner(),
        profile(None, Some("  "), None),
        Ok(vec![AccountEvent::ProfileUpdated {
            display_name: None,
            phone: Some(PhoneChange::Removed),
            marketing_opt_in: None,
        }]),
    );
    check(
        given,
        owner(),
        profile(None, Some("+49 30 1"), None),
        Ok(vec![]),
    );
    let account = after(
        &at_verified(),
        owner(),
        profile(None, Some("+49 30 1"), None),
    );
    assert_eq!(account.phone.as_deref(), Some("+49 30 1"));
}

#[test]
fn a_profile_needs_a_valid_name_and_phone() {
    for name in ["", " ", &"x".repeat(MAX_DISPLAY_NAME_CHARS + 1)] {
        check(
            at_verified(),
            owner(),
            profile(Some(name), None, None),
            Err(IdentityError::InvalidName),
        );
    }
    for phone in ["call me", &"1".repeat(MAX_PHONE_CHARS + 1)] {
        check(
            at_verified(),
            owner(),
            profile(None, Some(phone), None),
            Err(IdentityError::InvalidPhone),
        );
    }
}

// Addresses.

#[test]
fn the_first_address_becomes_the_default() {
    check(
        at_verified(),
        owner(),
        add(1, "Berlin", false),
        Ok(vec![added(1, "Berlin", true)]),
    );
    let mut given = at_verified();
    given.push(added(1, "Berlin", true));
    check(
        given,
        owner(),
        add(2, "Hamburg", false),
        Ok(vec![added(2, "Hamburg", false)]),
    );
}

#[test]
fn an_address_added_as_default_takes_the_default_over() {
    check(
        at_three_addresses(),
        owner(),
        add(4, "Bremen", true),
        Ok(vec![added(4, "Bremen", true)]),
    );
    let account = after(&at_three_addresses(), owner(), add(4, "Bremen", true));
    let defaults: Vec<_> = account
        .view(ID, 9)
        .addresses
        .iter()
        .filter(|a| a.is_default)
        .map(|a| a.id)
        .collect();
    assert_eq!(defaults, vec![address_id(4)]);
}

#[test]
fn an_account_has_at_most_20_addresses() {
    let mut given = at_verified();
    for n in 1..=MAX_ADDRESSES as u128 {
        given.push(added(n, "Berlin", n == 1));
    }
    check(
        given.clone(),
        owner(),
        add(99, "Bremen", false),
        Err(IdentityError::TooManyAddresses),
    );
    // Removing one makes room again.
    let account = after(
        &given,
        owner(),
        AccountCommand::RemoveAddress {
            address_id: address_id(5),
        },
    );
    let result = account.decide(ID, &add(99, "Bremen", false), &owner());
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn removing_the_default_makes_the_oldest_remaining_address_the_default() {
    check(
        at_three_addresses(),
        owner(),
        AccountCommand::RemoveAddress {
            address_id: address_id(1),
        },
        Ok(vec![
            AccountEvent::AddressRemoved {
                address_id: address_id(1),
            },
            AccountEvent::DefaultAddressSet {
                address_id: address_id(2),
            },
        ]),
    );
    // The oldest, not the first of some other order: make 3 the default, then remove it.
    let mut given = at_three_addresses();
    given.push(AccountEvent::DefaultAddressSet {
        address_id: address_id(3),
    });
    check(
        given,
        owner(),
        AccountCommand::RemoveAddress {
            address_id: address_id(3),
        },
        Ok(vec![
            AccountEvent::AddressRemoved {
                address_id: address_id(3),
            },
            AccountEvent::DefaultAddressSet {
                address_id: address_id(1),
            },
        ]),
    );
}

#[test]
fn removing_another_address_keeps_the_default_and_removing_the_last_leaves_none() {
    check(
        at_three_addresses(),
        owner(),
        AccountCommand::RemoveAddress {
            address_id: address_id(2),
        },
        Ok(vec![AccountEvent::AddressRemoved {
            address_id: address_id(2),
        }]),
    );
    let mut given = at_verified();
    given.push(added(1, "Berlin", true));
    let account = after(
        &given,
        owner(),
        AccountCommand::RemoveAddress {
            address_id: address_id(1),
        },
    );
    assert!(account.addresses.is_empty() && account.default_address.is_none());
    // And the next address is the default again.
    let events = account
        .decide(ID, &add(2, "Hamburg", false), &owner())
        .expect("adds");
    assert_eq!(events, vec![added(2, "Hamburg", true)]);
}

#[test]
fn setting_the_default_address_moves_it_and_repeating_records_nothing() {
    let set = |n| AccountCommand::SetDefaultAddress {
        address_id: address_id(n),
    };
    check(
        at_three_addresses(),
        owner(),
        set(3),
        Ok(vec![AccountEvent::DefaultAddressSet {
            address_id: address_id(3),
        }]),
    );
    check(at_three_addresses(), owner(), set(1), Ok(vec![]));
}

#[test]
fn updating_an_address_records_the_new_one_and_an_identical_one_records_nothing() {
    let update = |city: &str| AccountCommand::UpdateAddress {
        address_id: address_id(2),
        address: address(city),
    };
    check(
        at_three_addresses(),
        owner(),
        update("Kiel"),
        Ok(vec![AccountEvent::AddressUpdated {
            address_id: address_id(2),
            address: address("Kiel"),
        }]),
    );
    check(
        at_three_addresses(),
        owner(),
        update(" Hamburg "),
        Ok(vec![]),
    );
    let account = after(&at_three_addresses(), owner(), update("Kiel"));
    let view = account.view(ID, 9);
    assert_eq!(view.addresses[1].address.city, "Kiel");
    assert!(view.addresses[0].is_default && !view.addresses[1].is_default);
}

#[test]
fn an_unknown_address_cannot_be_updated_removed_or_made_default() {
    for command in [
        AccountCommand::UpdateAddress {
            address_id: address_id(9),
            address: address("Kiel"),
        },
        AccountCommand::RemoveAddress {
            address_id: address_id(9),
        },
        AccountCommand::SetDefaultAddress {
            address_id: address_id(9),
        },
    ] {
        check(
            at_three_addresses(),
            owner(),
            command,
            Err(IdentityError::UnknownAddress),
        );
    }
}

#[test]
fn adding_a_known_address_id_again_records_nothing_unless_it_differs() {
    check(
        at_three_addresses(),
        owner(),
        add(2, "Hamburg", false),
        Ok(vec![]),
    );
    check(
        at_three_addresses(),
        owner(),
        add(2, "Kiel", false),
        Err(IdentityError::InvalidAddress),
    );
}

/// One way to spoil a valid value, for tests that try many.
type Change<'a, T> = Box<dyn Fn(&mut T) + 'a>;

#[test]
fn an_address_needs_name_street_city_postal_code_and_a_country_code() {
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
        Box::new(|a| a.phone = Some("1".repeat(MAX_PHONE_CHARS + 1))),
        Box::new(|a| a.country = "de".into()),
        Box::new(|a| a.country = "DEU".into()),
        Box::new(|a| a.country = "D".into()),
        Box::new(|a| a.country = "D1".into()),
        Box::new(|a| a.country = String::new()),
        Box::new(|a| a.name = "Ada\u{0}".into()),
    ];
    for change in variants {
        let mut bad = address("Berlin");
        change(&mut bad);
        let command = AccountCommand::AddAddress {
            address_id: address_id(9),
            address: bad.clone(),
            make_default: false,
        };
        check(
            at_three_addresses(),
            owner(),
            command,
            Err(IdentityError::InvalidAddress),
        );
        check(
            at_three_addresses(),
            owner(),
            AccountCommand::UpdateAddress {
                address_id: address_id(1),
                address: bad,
            },
            Err(IdentityError::InvalidAddress),
        );
    }
}

#[test]
fn an_address_is_recorded_trimmed_without_blank_optional_fields() {
    let messy = Address {
        name: " Ada Lovelace ".into(),
        line1: "Hauptstraße 1 ".into(),
        line2: Some("  ".into()),
        city: " Berlin".into(),
        postal_code: "10115".into(),
        region: Some(String::new()),
        country: " DE ".into(),
        phone: Some(" +49 30 1234567 ".into()),
    };
    check(
        at_verified(),
        owner(),
        AccountCommand::AddAddress {
            address_id: address_id(1),
            address: messy,
            make_default: false,
        },
        Ok(vec![added(1, "Berlin", true)]),
    );
}

// Customer groups.

fn groups(names: &[&str]) -> std::collections::BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn admins_put_a_customer_in_groups_and_only_they_do() {
    let set = AccountCommand::SetGroups {
        groups: groups(&["vip", "wholesale-2026"]),
    };
    check(
        at_verified(),
        staff("admin"),
        set.clone(),
        Ok(vec![AccountEvent::GroupsSet {
            groups: groups(&["vip", "wholesale-2026"]),
        }]),
    );
    let mut given = at_verified();
    given.push(AccountEvent::GroupsSet {
        groups: groups(&["vip", "wholesale-2026"]),
    });
    // The same groups again change nothing; the view lists them.
    check(given.clone(), system(), set.clone(), Ok(vec![]));
    assert_eq!(
        state(&given).view(ID, 9).groups,
        vec!["vip", "wholesale-2026"]
    );
    for by in [owner(), staff("staff"), staff("auditor")] {
        check(
            at_verified(),
            by,
            set.clone(),
            Err(IdentityError::Forbidden),
        );
    }
    for bad in [&["VIP"][..], &[""], &["a b"], &["x".repeat(65).as_str()]] {
        check(
            at_verified(),
            system(),
            AccountCommand::SetGroups {
                groups: groups(bad),
            },
            Err(IdentityError::InvalidGroup),
        );
    }
    let too_many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
    check(
        at_verified(),
        system(),
        AccountCommand::SetGroups {
            groups: too_many.into_iter().collect(),
        },
        Err(IdentityError::InvalidGroup),
    );
}

// Roles.

#[test]
fn admins_and_the_platform_grant_and_revoke_roles() {
    for by in [system(), staff("admin"), self_staff("admin")] {
        check(
            at_verified(),
            by.clone(),
            AccountCommand::GrantRole { role: Role::Staff },
            Ok(vec![AccountEvent::RoleGranted { role: Role::Staff }]),
        );
        check(
            at_verified(),
            by,
            AccountCommand::RevokeRole {
                role: Role::Customer,
            },
            Ok(vec![AccountEvent::RoleRevoked {
                role: Role::Customer,
            }]),
        );
    }
}

#[test]
fn nobody_else_grants_or_revokes_roles() {
    for command in [
        AccountCommand::GrantRole { role: Role::Admin },
        AccountCommand::RevokeRole {
            role: Role::Customer,
        },
    ] {
        for by in [
            owner(),
            staff("staff"),
            staff("auditor"),
            self_staff("vendor"),
        ] {
            check(
                at_verified(),
                by,
                command.clone(),
                Err(IdentityError::Forbidden),
            );
        }
        for by in [other_customer(), guest(), staff("vendor"), staff("root")] {
            check(
                at_verified(),
                by,
                command.clone(),
                Err(IdentityError::NotFound),
            );
        }
    }
}

#[test]
fn granting_a_held_role_or_revoking_a_missing_one_records_nothing() {
    check(
        at_verified(),
        staff("admin"),
        AccountCommand::GrantRole {
            role: Role::Customer,
        },
        Ok(vec![]),
    );
    check(
        at_verified(),
        staff("admin"),
        AccountCommand::RevokeRole { role: Role::Vendor },
        Ok(vec![]),
    );
}

#[test]
fn an_admin_cannot_revoke_their_own_admin_role() {
    let mut given = at_verified();
    given.push(AccountEvent::RoleGranted { role: Role::Admin });
    let demote = AccountCommand::RevokeRole { role: Role::Admin };
    check(
        given.clone(),
        self_staff("admin"),
        demote.clone(),
        Err(IdentityError::CannotDemoteSelf),
    );
    // Another admin, or the platform, may.
    for by in [staff("admin"), system()] {
        check(
            given.clone(),
            by,
            demote.clone(),
            Ok(vec![AccountEvent::RoleRevoked { role: Role::Admin }]),
        );
    }
    // And an admin may drop their other roles.
    check(
        given,
        self_staff("admin"),
        AccountCommand::RevokeRole {
            role: Role::Customer,
        },
        Ok(vec![AccountEvent::RoleRevoked {
            role: Role::Customer,
        }]),
    );
}

#[test]
fn a_customer_only_account_may_lose_its_last_role() {
    let account = after(
        &at_verified(),
        staff("admin"),
        AccountCommand::RevokeRole {
            role: Role::Customer,
        },
    );
    assert!(account.roles().is_empty());
    assert!(account.view(ID, 4).roles.is_empty());
}

#[test]
fn roles_are_listed_sorted_by_name() {
    let mut given = at_verified();
    for role in [Role::Vendor, Role::Admin, Role::Staff, Role::Auditor] {
        given.push(AccountEvent::RoleGranted { role });
    }
    assert_eq!(state(&given).roles(), Role::ALL.to_vec());
    assert_eq!(state(&given).view(ID, 7).roles, Role::ALL.to_vec());
}

// Vendor binding.

#[test]
fn binding_an_account_to_a_vendor_records_it_and_the_view_shows_it() {
    check(
        at_verified(),
        system(),
        bind(VENDOR),
        Ok(vec![bound(VENDOR)]),
    );
    let account = after(&at_verified(), system(), bind(VENDOR));
    assert_eq!(account.vendor(), Some(VENDOR));
    assert_eq!(account.view(ID, 4).vendor.as_deref(), Some(VENDOR));
    // Binding grants no role: the identity service puts `vendor` in the token itself.
    assert_eq!(account.roles(), vec![Role::Customer]);
    assert_eq!(state(&at_verified()).view(ID, 3).vendor, None);
}

#[test]
fn binding_an_account_to_its_vendor_again_records_nothing() {
    let mut given = at_verified();
    given.push(bound(VENDOR));
    check(given, system(), bind(VENDOR), Ok(vec![]));
}

#[test]
fn binding_an_account_bound_to_another_vendor_is_refused_and_records_nothing() {
    let mut given = at_verified();
    given.push(bound(OTHER_VENDOR));
    check(
        given.clone(),
        system(),
        bind(VENDOR),
        Err(IdentityError::VendorTaken),
    );
    assert_eq!(IdentityError::VendorTaken.code(), "identity.vendor_taken");
    assert_eq!(
        IdentityError::VendorTaken.kind(),
        agora_kernel::ErrorKind::Conflict
    );
    // Once unbound from the other, it may be bound.
    given.push(unbound(OTHER_VENDOR));
    check(given, system(), bind(VENDOR), Ok(vec![bound(VENDOR)]));
}

#[test]
fn unbinding_its_vendor_records_it_and_the_view_shows_none() {
    let mut given = at_verified();
    given.push(bound(VENDOR));
    check(
        given.clone(),
        system(),
        unbind(VENDOR),
        Ok(vec![unbound(VENDOR)]),
    );
    let account = after(&given, system(), unbind(VENDOR));
    assert_eq!(account.vendor(), None);
    assert_eq!(account.view(ID, 5).vendor, None);
}

#[test]
fn unbinding_a_vendor_the_account_is_not_bound_to_records_nothing() {
    // Never bound, and a retried unbinding.
    check(at_verified(), system(), unbind(VENDOR), Ok(vec![]));
    let mut given = at_verified();
    given.push(bound(VENDOR));
    given.push(unbound(VENDOR));
    check(given.clone(), system(), unbind(VENDOR), Ok(vec![]));
    // A late removal from the old vendor leaves the newer binding alone.
    given.push(bound(OTHER_VENDOR));
    check(given.clone(), system(), unbind(VENDOR), Ok(vec![]));
    assert_eq!(state(&given).vendor(), Some(OTHER_VENDOR));
}

#[test]
fn only_the_platform_binds_or_unbinds_a_vendor() {
    let mut given = at_verified();
    given.push(bound(VENDOR));
    for command in [bind(VENDOR), bind(OTHER_VENDOR), unbind(VENDOR)] {
        for by in [
            owner(),
            staff("admin"),
            staff("staff"),
            staff("auditor"),
            self_staff("admin"),
            self_staff("vendor"),
            Principal::Vendor {
                id: ID.into(),
                vendor: VENDOR.into(),
            },
        ] {
            check(
                given.clone(),
                by,
                command.clone(),
                Err(IdentityError::Forbidden),
            );
        }
        // To anyone else the account does not exist, even to a user of its own vendor.
        for by in [
            other_customer(),
            guest(),
            staff("vendor"),
            vendor_user(VENDOR),
            vendor_user(OTHER_VENDOR),
        ] {
            check(
                given.clone(),
                by,
                command.clone(),
                Err(IdentityError::NotFound),
            );
        }
    }
    check(vec![], system(), bind(VENDOR), Err(IdentityError::NotFound));
}

#[test]
fn a_vendor_id_is_1_to_64_visible_ascii_characters() {
    let mut given = at_verified();
    given.push(bound(VENDOR));
    let too_long = "v".repeat(crate::MAX_VENDOR_ID_CHARS + 1);
    for bad in ["", " ", "acme corp", "acmé", "acme\n", too_long.as_str()] {
        for command in [bind(bad), unbind(bad)] {
            check(
                given.clone(),
                system(),
                command,
                Err(IdentityError::InvalidVendor),
            );
        }
    }
    check(
        at_verified(),
        system(),
        bind(&"v".repeat(crate::MAX_VENDOR_ID_CHARS)),
        Ok(vec![bound(&"v".repeat(crate::MAX_VENDOR_ID_CHARS))]),
    );
}

#[test]
fn a_closed_account_is_neither_bound_nor_unbound() {
    let mut given = at_closed();
    given.push(bound(VENDOR));
    for command in [bind(VENDOR), bind(OTHER_VENDOR), unbind(VENDOR)] {
        check(given.clone(), system(), command, Err(IdentityError::Closed));
    }
}

#[test]
fn state_and_view_recorded_before_vendors_existed_read_as_unbound() {
    let account = state(&at_verified());
    let mut json = serde_json::to_value(&account).expect("serializes");
    json.as_object_mut().expect("an object").remove("vendor");
    let back: Account = serde_json::from_value(json).expect("parses");
    assert_eq!(back.vendor(), None);
    assert_eq!(back, account);
    let mut view = serde_json::to_value(account.view(ID, 3)).expect("serializes");
    view.as_object_mut().expect("an object").remove("vendor");
    let back: AccountView = serde_json::from_value(view).expect("parses");
    assert_eq!(back.vendor, None);
}

// Linked identities.

#[test]
fn linking_an_identity_records_it() {
    check(
        at_verified(),
        system(),
        link("https://accounts.google.com", "1234", true),
        Ok(vec![AccountEvent::IdentityLinked {
            provider: "https://accounts.google.com".into(),
            subject: "1234".into(),
            at: t(200),
        }]),
    );
}

#[test]
fn a_provider_that_vouches_for_the_email_verifies_it() {
    check(
        at_registered(),
        system(),
        link("github", "42", true),
        Ok(vec![
            AccountEvent::IdentityLinked {
                provider: "github".into(),
                subject: "42".into(),
                at: t(200),
            },
            AccountEvent::EmailVerified { at: t(200) },
        ]),
    );
    check(
        at_registered(),
        system(),
        link("github", "42", false),
        Ok(vec![AccountEvent::IdentityLinked {
            provider: "github".into(),
            subject: "42".into(),
            at: t(200),
        }]),
    );
    let account = after(&at_registered(), system(), link("github", "42", true));
    assert!(account.email_verified());
    // The mailed link then has nothing left to do.
    assert_eq!(
        account.decide(ID, &verify('v', t(300)), &system()),
        Ok(vec![])
    );
    // An email verified already is not verified again.
    check(
        at_verified(),
        system(),
        link("github", "42", true),
        Ok(vec![AccountEvent::IdentityLinked {
            provider: "github".into(),
            subject: "42".into(),
            at: t(200),
        }]),
    );
}

#[test]
fn linking_a_linked_identity_again_records_nothing() {
    let mut given = at_registered();
    given.push(AccountEvent::IdentityLinked {
        provider: "github".into(),
        subject: "42".into(),
        at: t(200),
    });
    check(
        given.clone(),
        system(),
        link("github", "42", true),
        Ok(vec![]),
    );
    // Another subject at the same provider is another identity.
    let result = state(&given).decide(ID, &link("github", "43", false), &system());
    assert!(matches!(
        result.as_deref(),
        Ok([AccountEvent::IdentityLinked { .. }])
    ));
}

#[test]
fn a_linked_identity_needs_a_provider_and_a_subject_and_an_account_links_at_most_ten() {
    let long_provider = "p".repeat(MAX_PROVIDER_CHARS + 1);
    let long_subject = "s".repeat(MAX_SUBJECT_CHARS + 1);
    for (provider, subject) in [
        ("", "42"),
        ("github", ""),
        ("git hub", "42"),
        ("github", "4 2"),
        ("github\n", "42"),
        (long_provider.as_str(), "42"),
        ("github", long_subject.as_str()),
    ] {
        check(
            at_verified(),
            system(),
            link(provider, subject, false),
            Err(IdentityError::InvalidIdentity),
        );
    }
    let mut given = at_verified();
    for n in 0..MAX_LINKED_IDENTITIES {
        given.push(AccountEvent::IdentityLinked {
            provider: "github".into(),
            subject: n.to_string(),
            at: t(200),
        });
    }
    check(
        given,
        system(),
        link("google", "1", false),
        Err(IdentityError::InvalidIdentity),
    );
}

#[test]
fn only_the_platform_and_admins_link_identities() {
    check(
        at_verified(),
        owner(),
        link("github", "42", false),
        Err(IdentityError::Forbidden),
    );
    let result = state(&at_verified()).decide(ID, &link("github", "42", false), &staff("admin"));
    assert!(result.is_ok(), "{result:?}");
}

// Closing.

#[test]
fn closing_the_account_asks_for_every_session_to_end() {
    for by in [owner(), system(), staff("admin")] {
        check(
            at_three_addresses(),
            by,
            AccountCommand::Close { now: t(500) },
            Ok(vec![AccountEvent::AccountClosed {
                revoke_sessions: true,
                at: t(500),
            }]),
        );
    }
    assert!(state(&at_closed()).is_closed());
}

#[test]
fn a_closed_account_accepts_nothing() {
    for command in every_command() {
        check(
            at_closed(),
            system(),
            command.clone(),
            Err(IdentityError::Closed),
        );
        // Authorization comes first: an admin never changes a password nor binds a vendor.
        let for_admin = if command.name() == "change_password"
            || platform_only_commands().contains(&command.name())
        {
            IdentityError::Forbidden
        } else {
            IdentityError::Closed
        };
        check(at_closed(), staff("admin"), command.clone(), Err(for_admin));
        // To its former owner it no longer exists.
        check(
            at_closed(),
            owner(),
            command.clone(),
            Err(IdentityError::NotFound),
        );
    }
}

#[test]
fn only_the_back_office_reads_a_closed_account() {
    let account = state(&at_closed());
    for by in [system(), staff("admin"), staff("staff"), staff("auditor")] {
        assert_eq!(account.authorize_read(&by), Ok(()), "{by:?}");
    }
    for by in [owner(), other_customer(), guest(), staff("vendor")] {
        assert_eq!(
            account.authorize_read(&by),
            Err(IdentityError::NotFound),
            "{by:?}"
        );
    }
}

// Who may do what.

#[test]
fn strangers_learn_nothing_about_an_account() {
    for command in every_command() {
        for by in [
            other_customer(),
            guest(),
            staff("vendor"),
            staff("customer"),
            staff(""),
        ] {
            check(
                at_three_addresses(),
                by,
                command.clone(),
                Err(IdentityError::NotFound),
            );
        }
    }
    let account = state(&at_three_addresses());
    for by in [other_customer(), guest(), staff("vendor")] {
        assert_eq!(account.authorize_read(&by), Err(IdentityError::NotFound));
    }
}

#[test]
fn staff_and_auditors_only_read() {
    let account = state(&at_three_addresses());
    for by in [staff("staff"), staff("auditor")] {
        assert_eq!(account.authorize_read(&by), Ok(()));
        for command in every_command() {
            check(
                at_three_addresses(),
                by.clone(),
                command,
                Err(IdentityError::Forbidden),
            );
        }
    }
}

#[test]
fn the_owner_manages_profile_addresses_password_and_closing_and_nothing_else() {
    let account = state(&at_three_addresses());
    let self_vendor = Principal::Vendor {
        id: ID.into(),
        vendor: VENDOR.into(),
    };
    for by in [owner(), self_staff("vendor"), self_vendor] {
        assert_eq!(account.authorize_read(&by), Ok(()));
        for command in every_command() {
            let result = account.decide(ID, &command, &by);
            if owners_commands().contains(&command.name()) {
                assert!(result.is_ok(), "{command:?}: {result:?}");
            } else {
                assert_eq!(result, Err(IdentityError::Forbidden), "{command:?}");
            }
        }
    }
}

#[test]
fn the_platform_does_everything_and_admins_all_but_changing_a_password_or_binding_a_vendor() {
    let mut given = at_three_addresses();
    given.push(reset_requested('r', t(1000)));
    let account = state(&given);
    for command in every_command() {
        let result = account.decide(ID, &command, &system());
        assert!(result.is_ok(), "{command:?}: {result:?}");
        let result = account.decide(ID, &command, &staff("admin"));
        if command.name() == "change_password" || platform_only_commands().contains(&command.name())
        {
            assert_eq!(result, Err(IdentityError::Forbidden));
        } else {
            assert!(result.is_ok(), "{command:?}: {result:?}");
        }
    }
}

#[test]
fn every_command_kind_is_tried_above() {
    let mut names: Vec<_> = every_command().iter().map(AccountCommand::name).collect();
    names.insert(0, "register");
    assert_eq!(names, AccountCommand::NAMES);
}

// View and state.

#[test]
fn the_view_shows_the_account_and_never_a_token_hash() {
    let mut given = at_three_addresses();
    given.push(reset_requested('r', t(1000)));
    given.push(AccountEvent::IdentityLinked {
        provider: "github".into(),
        subject: "42".into(),
        at: t(200),
    });
    given.push(AccountEvent::ProfileUpdated {
        display_name: None,
        phone: Some(PhoneChange::Set("+49 30 1".into())),
        marketing_opt_in: Some(true),
    });
    given.push(AccountEvent::RoleGranted { role: Role::Vendor });
    given.push(bound(VENDOR));
    let account = state(&given);
    let view = account.view(ID, 11);
    assert_eq!(
        view,
        AccountView {
            id: ID.into(),
            version: 11,
            status: AccountStatus::Active,
            email: "ada@example.com".into(),
            email_verified: true,
            display_name: "Ada".into(),
            phone: Some("+49 30 1".into()),
            marketing_opt_in: true,
            roles: vec![Role::Customer, Role::Vendor],
            groups: vec![],
            addresses: vec![
                AddressView {
                    id: address_id(1),
                    is_default: true,
                    address: address("Berlin"),
                },
                AddressView {
                    id: address_id(2),
                    is_default: false,
                    address: address("Hamburg"),
                },
                AddressView {
                    id: address_id(3),
                    is_default: false,
                    address: address("Munich"),
                },
            ],
            linked_identities: vec![LinkedIdentity {
                provider: "github".into(),
                subject: "42".into(),
                linked_at: t(200),
            }],
            has_password: true,
            created_at: Some(t(0)),
            closed_at: None,
            vendor: Some(VENDOR.into()),
        }
    );
    // A fresh verification token too, which the state holds.
    let mut unverified = at_registered();
    unverified.push(reset_requested('r', t(1000)));
    for account in [account, state(&unverified), state(&at_closed())] {
        assert!(account.verification.is_some());
        let json = serde_json::to_string(&account.view(ID, 1)).expect("serializes");
        for seed in ['v', 'r'] {
            assert!(!json.contains(&hash(seed)), "{json}");
        }
        assert!(
            !json.contains("sha256") && !json.contains("token"),
            "{json}"
        );
        let back: AccountView = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, account.view(ID, 1));
    }
}

#[test]
fn a_closed_account_view_says_when() {
    let view = state(&at_closed()).view(ID, 9);
    assert_eq!(view.status, AccountStatus::Closed);
    assert_eq!(view.closed_at, Some(t(500)));
}

#[test]
fn an_unregistered_account_has_an_empty_view() {
    let account = Account::default();
    assert_eq!(account.email(), None);
    assert!(account.roles().is_empty());
    let view = account.view(ID, 0);
    assert_eq!(view.status, AccountStatus::New);
    assert!(view.addresses.is_empty() && view.roles.is_empty() && view.created_at.is_none());
}

#[test]
fn the_state_round_trips_through_json() {
    let mut given = at_three_addresses();
    given.push(reset_requested('r', t(1000)));
    given.push(bound(VENDOR));
    let account = state(&given);
    let json = serde_json::to_string(&account).expect("serializes");
    assert_eq!(
        serde_json::from_str::<Account>(&json).expect("parses"),
        account
    );
}

#[test]
fn every_event_has_its_stable_type_name() {
    let events = vec![
        registered(),
        verification_issued('v', t(3600)),
        AccountEvent::EmailVerified { at: t(1) },
        reset_requested('r', t(1000)),
        AccountEvent::PasswordReset {
            revoke_sessions: true,
            at: t(2),
        },
        AccountEvent::PasswordChanged { at: t(3) },
        AccountEvent::ProfileUpdated {
            display_name: Some("A".into()),
            phone: None,
            marketing_opt_in: None,
        },
        added(1, "Berlin", true),
        AccountEvent::AddressUpdated {
            address_id: address_id(1),
            address: address("Kiel"),
        },
        AccountEvent::AddressRemoved {
            address_id: address_id(1),
        },
        AccountEvent::DefaultAddressSet {
            address_id: address_id(1),
        },
        AccountEvent::RoleGranted { role: Role::Admin },
        AccountEvent::RoleRevoked { role: Role::Admin },
        AccountEvent::IdentityLinked {
            provider: "github".into(),
            subject: "42".into(),
            at: t(4),
        },
        AccountEvent::AccountClosed {
            revoke_sessions: true,
            at: t(5),
        },
        bound(VENDOR),
        unbound(VENDOR),
    ];
    let names: Vec<_> = events
        .iter()
        .map(<Account as Decider>::event_type)
        .collect();
    assert_eq!(
        names,
        [
            "AccountRegistered",
            "VerificationIssued",
            "EmailVerified",
            "PasswordResetRequested",
            "PasswordReset",
            "PasswordChanged",
            "ProfileUpdated",
            "AddressAdded",
            "AddressUpdated",
            "AddressRemoved",
            "DefaultAddressSet",
            "RoleGranted",
            "RoleRevoked",
            "IdentityLinked",
            "AccountClosed",
            "AccountVendorBound",
            "AccountVendorUnbound",
        ]
    );
    // The serde tag is the type name too.
    for event in &events {
        let json = serde_json::to_value(event).expect("serializes");
        assert!(json.get(event.event_type()).is_some(), "{json}");
        let back: AccountEvent = serde_json::from_value(json).expect("parses");
        assert_eq!(&back, event);
    }
    assert_eq!(<Account as Decider>::TYPE, "account");
}
#[test]
fn random_address_book_changes_keep_one_default_and_at_most_20_addresses() {
    let mut seen = BTreeSet::new();
    for seed in 0..200u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut account = state(&at_verified());
        for _ in 0..80 {
            let id = u128::from(rng.random_range::<u64, _>(0..30));
            let command = match rng.random_range::<u64, _>(0..5) {
                0 | 1 => add(id, "Berlin", rng.random_range::<u64, _>(0..3) == 0),
                2 => AccountCommand::RemoveAddress {
                    address_id: address_id(id),
                },
                3 => AccountCommand::SetDefaultAddress {
                    address_id: address_id(id),
                },
                _ => AccountCommand::UpdateAddress {
                    address_id: address_id(id),
                    address: address(if rng.random_range::<u64, _>(0..2) == 0 {
                        "Kiel"
                    } else {
                        "Berlin"
                    }),
                },
            };
            match account.decide(ID, &command, &owner()) {
                Ok(events) => {
                    for e in &events {
                        seen.insert(e.event_type());
                        account.evolve(e);
                    }
                }
                Err(e) => {
                    seen.insert(e.code());
                }
            }
            let view = account.view(ID, 0);
            assert!(view.addresses.len() <= MAX_ADDRESSES);
            let defaults = view.addresses.iter().filter(|a| a.is_default).count();
            assert_eq!(
                defaults,
                usize::from(!view.addresses.is_empty()),
                "{view:?}"
            );
            let ids: BTreeSet<_> = view.addresses.iter().map(|a| a.id).collect();
            assert_eq!(ids.len(), view.addresses.len());
        }
    }
    for outcome in [
        "AddressAdded",
        "AddressRemoved",
        "AddressUpdated",
        "DefaultAddressSet",
        "identity.too_many_addresses",
        "identity.unknown_address",
    ] {
        assert!(seen.contains(outcome), "never saw {outcome}: {seen:?}");
    }
}

use super::*;
use agora_kernel::Command as _;
use serde_json::json;

const NOW: &str = "2025-06-15T12:00:00Z";
const LATER: &str = "2025-06-16T12:00:00Z";
const ADDRESS_ID: &str = "0b6f2d4e-1c3a-4b5d-8e7f-9a0b1c2d3e4f";
const ACCOUNT_ID: &str = "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69";
const TOKEN_ID: &str = "7d1c2f9e-5a34-4c1b-8f0e-2b6a9d3c4e51";
const NEXT_TOKEN_ID: &str = "8e2d3f0a-6b45-4d2c-9f1e-3c7b0e4d5f62";
const VENDOR_ID: &str = "c4a1e2b3-7d5f-4e6a-9b8c-0d1e2f3a4b5c";

fn now() -> DateTime<Utc> {
    NOW.parse().expect("a valid instant")
}

fn later() -> DateTime<Utc> {
    LATER.parse().expect("a valid instant")
}

fn hash(seed: char) -> String {
    seed.to_string().repeat(64)
}

fn address_id() -> AddressId {
    ADDRESS_ID.parse().expect("a uuid")
}

fn address() -> Address {
    Address {
        name: "Ada".into(),
        line1: "Main St 1".into(),
        line2: None,
        city: "Berlin".into(),
        postal_code: "10115".into(),
        region: None,
        country: "DE".into(),
        phone: None,
    }
}

fn address_json() -> serde_json::Value {
    json!({
        "name": "Ada", "line1": "Main St 1", "line2": null, "city": "Berlin",
        "postal_code": "10115", "region": null, "country": "DE", "phone": null
    })
}

/// Every account command in its wire form (the NATS payload) and as a value.
fn account_commands() -> Vec<(serde_json::Value, AccountCommand)> {
    vec![
        (
            json!({"register": {
                "email": "ada@example.com", "display_name": "Ada", "password_set": true,
                "verification_token_sha256": hash('a'), "verification_expires_at": LATER,
                "now": NOW
            }}),
            AccountCommand::Register {
                email: "ada@example.com".into(),
                display_name: "Ada".into(),
                password_set: true,
                verification_token_sha256: hash('a'),
                verification_expires_at: later(),
                now: now(),
            },
        ),
        (
            json!({"verify_email": {"token_sha256": hash('a'), "now": NOW}}),
            AccountCommand::VerifyEmail {
                token_sha256: hash('a'),
                now: now(),
            },
        ),
        (
            json!({"issue_verification": {
                "token_sha256": hash('b'), "expires_at": LATER, "now": NOW
            }}),
            AccountCommand::IssueVerification {
                token_sha256: hash('b'),
                expires_at: later(),
                now: now(),
            },
        ),
        (
            json!({"request_password_reset": {
                "token_sha256": hash('c'), "expires_at": LATER, "now": NOW
            }}),
            AccountCommand::RequestPasswordReset {
                token_sha256: hash('c'),
                expires_at: later(),
                now: now(),
            },
        ),
        (
            json!({"reset_password": {"token_sha256": hash('c'), "now": NOW}}),
            AccountCommand::ResetPassword {
                token_sha256: hash('c'),
                now: now(),
            },
        ),
        (
            json!({"change_password": {"now": NOW}}),
            AccountCommand::ChangePassword { now: now() },
        ),
        (
            json!({"update_profile": {
                "display_name": "Ada L.", "phone": "+49 30 1", "marketing_opt_in": true
            }}),
            AccountCommand::UpdateProfile {
                display_name: Some("Ada L.".into()),
                phone: Some("+49 30 1".into()),
                marketing_opt_in: Some(true),
            },
        ),
        (
            json!({"add_address": {
                "address_id": ADDRESS_ID, "address": address_json(), "make_default": true
            }}),
            AccountCommand::AddAddress {
                address_id: address_id(),
                address: address(),
                make_default: true,
            },
        ),
        (
            json!({"update_address": {"address_id": ADDRESS_ID, "address": address_json()}}),
            AccountCommand::UpdateAddress {
                address_id: address_id(),
                address: address(),
            },
        ),
        (
            json!({"remove_address": {"address_id": ADDRESS_ID}}),
            AccountCommand::RemoveAddress {
                address_id: address_id(),
            },
        ),
        (
            json!({"set_default_address": {"address_id": ADDRESS_ID}}),
            AccountCommand::SetDefaultAddress {
                address_id: address_id(),
            },
        ),
        (
            json!({"grant_role": {"role": "vendor"}}),
            AccountCommand::GrantRole { role: Role::Vendor },
        ),
        (
            json!({"revoke_role": {"role": "admin"}}),
            AccountCommand::RevokeRole { role: Role::Admin },
        ),
        (
            json!({"set_groups": {"groups": ["vip"]}}),
            AccountCommand::SetGroups {
                groups: ["vip".to_string()].into_iter().collect(),
            },
        ),
        (
            json!({"link_identity": {
                "provider": "https://accounts.google.com", "subject": "1234567890",
                "email_verified": true, "now": NOW
            }}),
            AccountCommand::LinkIdentity {
                provider: "https://accounts.google.com".into(),
                subject: "1234567890".into(),
                email_verified: true,
                now: now(),
            },
        ),
        (
            json!({"close": {"now": NOW}}),
            AccountCommand::Close { now: now() },
        ),
        (
            json!({"bind_vendor": {"vendor": VENDOR_ID, "now": NOW}}),
            AccountCommand::BindVendor {
                vendor: VENDOR_ID.into(),
                now: now(),
            },
        ),
        (
            json!({"unbind_vendor": {"vendor": VENDOR_ID, "now": NOW}}),
            AccountCommand::UnbindVendor {
                vendor: VENDOR_ID.into(),
                now: now(),
            },
        ),
    ]
}

/// Every session command in its wire form and as a value.
fn session_commands() -> Vec<(serde_json::Value, SessionCommand)> {
    vec![
        (
            json!({"start": {
                "account_id": ACCOUNT_ID, "token_id": TOKEN_ID, "token_sha256": hash('a'),
                "expires_at": LATER, "user_agent": "Firefox", "now": NOW
            }}),
            SessionCommand::Start {
                account_id: ACCOUNT_ID.parse().expect("a uuid"),
                token_id: TOKEN_ID.parse().expect("a uuid"),
                token_sha256: hash('a'),
                expires_at: later(),
                user_agent: Some("Firefox".into()),
                now: now(),
            },
        ),
        (
            json!({"rotate": {
                "presented_sha256": hash('a'), "new_token_id": NEXT_TOKEN_ID,
                "new_token_sha256": hash('b'), "new_expires_at": LATER, "now": NOW
            }}),
            SessionCommand::Rotate {
                presented_sha256: hash('a'),
                new_token_id: NEXT_TOKEN_ID.parse().expect("a uuid"),
                new_token_sha256: hash('b'),
                new_expires_at: later(),
                now: now(),
            },
        ),
        (
            json!({"revoke": {"reason": "logout", "now": NOW}}),
            SessionCommand::Revoke {
                reason: RevokeReason::Logout,
                now: now(),
            },
        ),
    ]
}

/// Parses `wire`, checks it is `command`, and writes it back to the same JSON.
fn round_trip<C>(wire: &serde_json::Value, command: &C)
where
    C: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let parsed: C = serde_json::from_value(wire.clone()).expect("parses");
    assert_eq!(&parsed, command);
    let written = serde_json::to_value(command).expect("serializes");
    assert_eq!(&written, wire);
}

#[test]
fn every_command_round_trips_through_its_wire_form() {
    for (wire, command) in account_commands() {
        round_trip(&wire, &command);
    }
    for (wire, command) in session_commands() {
        round_trip(&wire, &command);
    }
}

#[test]
fn optional_fields_may_be_left_out() {
    let profile: AccountCommand =
        serde_json::from_value(json!({"update_profile": {}})).expect("parses");
    assert_eq!(
        profile,
        AccountCommand::UpdateProfile {
            display_name: None,
            phone: None,
            marketing_opt_in: None,
        }
    );
    let add: AccountCommand = serde_json::from_value(json!({"add_address": {
        "address_id": ADDRESS_ID,
        "address": {
            "name": "Ada", "line1": "Main St 1", "city": "Berlin",
            "postal_code": "10115", "country": "DE"
        }
    }}))
    .expect("parses");
    assert_eq!(
        add,
        AccountCommand::AddAddress {
            address_id: address_id(),
            address: address(),
            make_default: false,
        }
    );
    let start: SessionCommand = serde_json::from_value(json!({"start": {
        "account_id": ACCOUNT_ID, "token_id": TOKEN_ID, "token_sha256": hash('a'),
        "expires_at": LATER, "now": NOW
    }}))
    .expect("parses");
    assert!(matches!(
        start,
        SessionCommand::Start {
            user_agent: None,
            ..
        }
    ));
}

#[test]
fn unknown_fields_are_rejected() {
    for (mut wire, command) in account_commands() {
        let name = command.name();
        wire[name]["surprise"] = json!(1);
        assert!(
            serde_json::from_value::<AccountCommand>(wire).is_err(),
            "{name} accepted an unknown field"
        );
    }
    for (mut wire, command) in session_commands() {
        let name = command.name();
        wire[name]["surprise"] = json!(1);
        assert!(
            serde_json::from_value::<SessionCommand>(wire).is_err(),
            "{name} accepted an unknown field"
        );
    }
    // Mass assignment: a client cannot slip in roles, a verified flag or a floor.
    for (name, field) in [
        ("register", "roles"),
        ("register", "email_verified"),
        ("update_profile", "roles"),
        ("update_profile", "email"),
    ] {
        let (mut wire, _) = account_commands()
            .into_iter()
            .find(|(_, c)| c.name() == name)
            .expect("a command");
        wire[name][field] = json!(["admin"]);
        assert!(serde_json::from_value::<AccountCommand>(wire).is_err());
    }
    let (mut add, _) = account_commands().remove(7);
    add["add_address"]["address"]["floor"] = json!(3);
    assert!(serde_json::from_value::<AccountCommand>(add).is_err());
    assert!(serde_json::from_value::<AccountCommand>(json!({"teleport": {}})).is_err());
    assert!(serde_json::from_value::<SessionCommand>(json!({"teleport": {}})).is_err());
}

#[test]
fn unknown_roles_and_revoke_reasons_are_rejected() {
    for role in ["root", "Admin", "ADMIN", ""] {
        assert!(
            serde_json::from_value::<AccountCommand>(json!({"grant_role": {"role": role}}))
                .is_err()
        );
        assert_eq!(role.parse::<Role>(), Err(IdentityError::InvalidRole));
    }
    assert!(serde_json::from_value::<SessionCommand>(
        json!({"revoke": {"reason": "bored", "now": NOW}})
    )
    .is_err());
}

/// The externally tagged name of `command` as serde writes it.
fn tag<C: Serialize>(command: &C) -> String {
    let value = serde_json::to_value(command).expect("serializes");
    let object = value.as_object().expect("an externally tagged object");
    assert_eq!(object.len(), 1);
    object.keys().next().expect("one key").clone()
}

#[test]
fn command_names_match_the_serde_tags() {
    let tags: Vec<String> = account_commands()
        .iter()
        .map(|(_, command)| {
            let tag = tag(command);
            assert_eq!(tag, command.name());
            tag
        })
        .collect();
    assert_eq!(tags, AccountCommand::NAMES);
    let tags: Vec<String> = session_commands()
        .iter()
        .map(|(_, command)| {
            let tag = tag(command);
            assert_eq!(tag, command.name());
            tag
        })
        .collect();
    assert_eq!(tags, SessionCommand::NAMES);
}

#[test]
fn roles_reasons_and_statuses_name_themselves_as_serde_does() {
    for role in Role::ALL {
        assert_eq!(
            serde_json::to_value(role).expect("serializes"),
            json!(role.as_str())
        );
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        assert_eq!(role.to_string(), role.as_str());
    }
    let mut sorted = Role::ALL;
    sorted.sort();
    assert_eq!(sorted, Role::ALL);
    assert!(Role::ALL.windows(2).all(|w| w[0].as_str() < w[1].as_str()));
    for reason in [
        RevokeReason::Logout,
        RevokeReason::PasswordReset,
        RevokeReason::Admin,
        RevokeReason::ReuseDetected,
    ] {
        assert_eq!(
            serde_json::to_value(reason).expect("serializes"),
            json!(reason.as_str())
        );
    }
    for status in [
        AccountStatus::New,
        AccountStatus::Active,
        AccountStatus::Closed,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("serializes"),
            json!(status.as_str())
        );
    }
    for status in [
        SessionStatus::New,
        SessionStatus::Active,
        SessionStatus::Revoked,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("serializes"),
            json!(status.as_str())
        );
    }
}

#[test]
fn account_and_customer_ids_convert_into_each_other() {
    let customer: CustomerId = ACCOUNT_ID.parse().expect("a uuid");
    let account = AccountId::from(customer);
    assert_eq!(account.to_string(), ACCOUNT_ID);
    assert_eq!(CustomerId::from(account), customer);
    assert!("not-a-uuid".parse::<AccountId>().is_err());
}

#[test]
fn a_profile_update_event_names_only_what_changed() {
    let event = AccountEvent::ProfileUpdated {
        display_name: None,
        phone: Some(PhoneChange::Removed),
        marketing_opt_in: None,
    };
    let json = serde_json::to_value(&event).expect("serializes");
    assert_eq!(json, json!({"ProfileUpdated": {"phone": "removed"}}));
    assert_eq!(
        serde_json::from_value::<AccountEvent>(json).expect("parses"),
        event
    );
    let set = AccountEvent::ProfileUpdated {
        display_name: Some("Ada".into()),
        phone: Some(PhoneChange::Set("+49 1".into())),
        marketing_opt_in: Some(false),
    };
    assert_eq!(
        serde_json::to_value(&set).expect("serializes"),
        json!({"ProfileUpdated": {
            "display_name": "Ada", "phone": {"set": "+49 1"}, "marketing_opt_in": false
        }})
    );
}

#[test]
fn vendor_binding_events_have_their_published_shape() {
    for (event, wire) in [
        (
            AccountEvent::AccountVendorBound {
                vendor: VENDOR_ID.into(),
                at: now(),
            },
            json!({"AccountVendorBound": {"vendor": VENDOR_ID, "at": NOW}}),
        ),
        (
            AccountEvent::AccountVendorUnbound {
                vendor: VENDOR_ID.into(),
                at: now(),
            },
            json!({"AccountVendorUnbound": {"vendor": VENDOR_ID, "at": NOW}}),
        ),
    ] {
        assert_eq!(serde_json::to_value(&event).expect("serializes"), wire);
        assert_eq!(
            serde_json::from_value::<AccountEvent>(wire).expect("parses"),
            event
        );
    }
}

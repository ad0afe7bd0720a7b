use super::*;
use crate::MAX_USER_AGENT_CHARS;
use agora_kernel::DomainError;
use chrono::TimeDelta;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;

/// The family id.
const ID: &str = "5b0e3c1d-2a4f-4e6b-8c7d-9f0a1b2c3d4e";
const ACCOUNT: &str = "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69";

/// A fixed instant plus `seconds`: tests never read the clock either.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
}

/// A well-formed token hash (64 lower-case hex digits), different for each seed.
fn hash(seed: char) -> String {
    format!("{:064x}", u32::from(seed))
}

/// The hash of the `n`th token of a long family.
fn nth_hash(n: u64) -> String {
    format!("{n:064x}")
}

fn token_id(n: u128) -> TokenId {
    TokenId::from_uuid(uuid::Uuid::from_u128(n))
}

fn account_id() -> AccountId {
    ACCOUNT.parse().expect("a uuid")
}

fn system() -> Principal {
    Principal::system("identity")
}

fn staff(role: &str) -> Principal {
    Principal::Staff {
        id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
        role: role.into(),
    }
}

fn customer() -> Principal {
    Principal::Customer {
        id: ACCOUNT.parse().expect("a uuid"),
    }
}

fn guest() -> Principal {
    Principal::Guest {
        token_sha256: hash('a'),
    }
}

fn start(user_agent: Option<&str>) -> SessionCommand {
    SessionCommand::Start {
        account_id: account_id(),
        token_id: token_id(1),
        token_sha256: hash('a'),
        expires_at: t(3600),
        user_agent: user_agent.map(str::to_string),
        now: t(0),
    }
}

/// Token 1 (`a`), valid until `t(3600)`.
fn started() -> SessionEvent {
    SessionEvent::SessionStarted {
        account_id: account_id(),
        token_id: token_id(1),
        token_sha256: hash('a'),
        expires_at: t(3600),
        user_agent: Some("Firefox".into()),
        at: t(0),
    }
}

/// Presents `presented` at `now` for token `to` (hash `seed`), valid for an hour.
fn rotate(presented: &str, to: u128, seed: &str, now: DateTime<Utc>) -> SessionCommand {
    SessionCommand::Rotate {
        presented_sha256: presented.to_string(),
        new_token_id: token_id(to),
        new_token_sha256: seed.to_string(),
        new_expires_at: now + TimeDelta::hours(1),
        now,
    }
}

fn rotated(from: u128, to: u128, seed: &str, at: DateTime<Utc>) -> SessionEvent {
    SessionEvent::TokenRotated {
        from_token_id: token_id(from),
        to_token_id: token_id(to),
        token_sha256: seed.to_string(),
        expires_at: at + TimeDelta::hours(1),
        at,
    }
}

fn revoked(reason: RevokeReason, at: DateTime<Utc>) -> SessionEvent {
    SessionEvent::SessionRevoked { reason, at }
}

fn at_started() -> Vec<SessionEvent> {
    vec![started()]
}

/// Token 1 (`a`) was exchanged for token 2 (`b`, valid until `t(4600)`) at `t(1000)`.
fn at_rotated() -> Vec<SessionEvent> {
    vec![started(), rotated(1, 2, &hash('b'), t(1000))]
}

/// Token 1 was presented again after it was exchanged.
fn at_reuse_detected() -> Vec<SessionEvent> {
    let mut given = at_rotated();
    given.push(SessionEvent::ReuseDetected {
        token_id: token_id(1),
        at: t(1100),
    });
    given.push(revoked(RevokeReason::ReuseDetected, t(1100)));
    given
}

fn state(given: &[SessionEvent]) -> Session {
    let mut session = Session::default();
    for e in given {
        session.evolve(e);
    }
    session
}

/// Given events, when a command by a principal, then these events or this error.
fn check(
    given: Vec<SessionEvent>,
    by: Principal,
    when: SessionCommand,
    then: Result<Vec<SessionEvent>, IdentityError>,
) {
    assert_eq!(
        state(&given).decide(ID, &when, &by),
        then,
        "{when:?} by {by:?}"
    );
}

// Starting.

#[test]
fn starting_a_session_records_its_first_token() {
    check(
        vec![],
        system(),
        start(Some(" Firefox ")),
        Ok(vec![started()]),
    );
    let session = state(&at_started());
    assert!(session.is_active());
    assert_eq!(session.account_id(), Some(account_id()));
    assert_eq!(session.current_token_id(), Some(token_id(1)));
}

#[test]
fn a_session_starts_once() {
    for given in [at_started(), at_reuse_detected()] {
        check(
            given,
            system(),
            start(None),
            Err(IdentityError::AlreadyRegistered),
        );
    }
}

#[test]
fn a_blank_user_agent_is_left_out_and_a_long_or_odd_one_refused() {
    let result = Session::default().decide(ID, &start(Some("  ")), &system());
    assert!(
        matches!(
            result.as_deref(),
            Ok([SessionEvent::SessionStarted {
                user_agent: None,
                ..
            }])
        ),
        "{result:?}"
    );
    let longest = "u".repeat(MAX_USER_AGENT_CHARS);
    let result = Session::default().decide(ID, &start(Some(&longest)), &system());
    assert!(result.is_ok(), "{result:?}");
    for ua in [
        "u".repeat(MAX_USER_AGENT_CHARS + 1),
        "curl\r\nX-Evil: 1".into(),
    ] {
        check(
            vec![],
            system(),
            start(Some(&ua)),
            Err(IdentityError::InvalidUserAgent),
        );
    }
}

#[test]
fn a_session_starts_with_a_well_formed_unexpired_token() {
    for (token, expires_at) in [
        ("a".repeat(63), t(3600)),
        ("A".repeat(64), t(3600)),
        (String::new(), t(3600)),
        (hash('a'), t(0)),
        (hash('a'), t(-5)),
    ] {
        check(
            vec![],
            system(),
            SessionCommand::Start {
                account_id: account_id(),
                token_id: token_id(1),
                token_sha256: token,
                expires_at,
                user_agent: None,
                now: t(0),
            },
            Err(IdentityError::InvalidNewToken),
        );
    }
}

// Who may.

#[test]
fn only_the_platform_sends_session_commands() {
    let commands = [
        start(None),
        rotate(&hash('a'), 2, &hash('b'), t(10)),
        SessionCommand::Revoke {
            reason: RevokeReason::Admin,
            now: t(10),
        },
    ];
    for given in [vec![], at_started()] {
        for command in &commands {
            // Those who may read are told no; the rest learn nothing.
            for by in [staff("admin"), staff("auditor")] {
                check(
                    given.clone(),
                    by,
                    command.clone(),
                    Err(IdentityError::Forbidden),
                );
            }
            for by in [staff("staff"), staff("vendor"), customer(), guest()] {
                check(
                    given.clone(),
                    by,
                    command.clone(),
                    Err(IdentityError::NotFound),
                );
            }
        }
    }
}

#[test]
fn the_platform_admins_and_auditors_read_a_session() {
    let session = state(&at_rotated());
    for by in [system(), staff("admin"), staff("auditor")] {
        assert_eq!(session.authorize_read(&by), Ok(()), "{by:?}");
        assert_eq!(
            Session::default().authorize_read(&by),
            Err(IdentityError::NotFound)
        );
    }
    // Not even the account's owner: the service answers for them.
    for by in [staff("staff"), staff("vendor"), customer(), guest()] {
        assert_eq!(
            session.authorize_read(&by),
            Err(IdentityError::NotFound),
            "{by:?}"
        );
    }
}

// Rotation.

#[test]
fn the_current_token_is_exchanged_for_a_new_one() {
    check(
        at_started(),
        system(),
        rotate(&hash('a'), 2, &hash('b'), t(1000)),
        Ok(vec![rotated(1, 2, &hash('b'), t(1000))]),
    );
    check(
        at_rotated(),
        system(),
        rotate(&hash('b'), 3, &hash('c'), t(2000)),
        Ok(vec![rotated(2, 3, &hash('c'), t(2000))]),
    );
    let session = state(&at_rotated());
    assert_eq!(session.current_token_id(), Some(token_id(2)));
    assert_eq!(session.view(ID, 2).rotations, 1);
}

#[test]
fn reusing_a_rotated_token_revokes_the_whole_family() {
    check(
        at_rotated(),
        system(),
        rotate(&hash('a'), 3, &hash('c'), t(1100)),
        Ok(vec![
            SessionEvent::ReuseDetected {
                token_id: token_id(1),
                at: t(1100),
            },
            revoked(RevokeReason::ReuseDetected, t(1100)),
        ]),
    );
    let session = state(&at_reuse_detected());
    assert_eq!(session.status(), SessionStatus::Revoked);
    assert_eq!(
        session.view(ID, 4).revoked_reason,
        Some(RevokeReason::ReuseDetected)
    );
}

#[test]
fn after_a_reuse_no_token_of_the_family_works() {
    // Neither the current token (whoever holds it, the thief or the user)...
    check(
        at_reuse_detected(),
        system(),
        rotate(&hash('b'), 3, &hash('c'), t(1200)),
        Err(IdentityError::SessionRevoked),
    );
    // ...nor the reused one, which changes nothing more.
    check(
        at_reuse_detected(),
        system(),
        rotate(&hash('a'), 3, &hash('c'), t(1200)),
        Err(IdentityError::SessionRevoked),
    );
}

#[test]
fn a_token_is_exchanged_once() {
    // Rotating twice with the same token: the second time is a reuse.
    let mut session = state(&at_started());
    let first = session
        .decide(ID, &rotate(&hash('a'), 2, &hash('b'), t(1000)), &system())
        .expect("rotates");
    for e in &first {
        session.evolve(e);
    }
    let second = session
        .decide(ID, &rotate(&hash('a'), 3, &hash('c'), t(1001)), &system())
        .expect("detects reuse");
    assert_eq!(
        second
            .iter()
            .map(SessionEvent::event_type)
            .collect::<Vec<_>>(),
        ["ReuseDetected", "SessionRevoked"]
    );
}

#[test]
fn a_rotated_token_is_a_reuse_even_after_it_expired() {
    check(
        at_rotated(),
        system(),
        rotate(&hash('a'), 3, &hash('c'), t(100_000)),
        Ok(vec![
            SessionEvent::ReuseDetected {
                token_id: token_id(1),
                at: t(100_000),
            },
            revoked(RevokeReason::ReuseDetected, t(100_000)),
        ]),
    );
}

#[test]
fn an_expired_token_is_not_exchanged() {
    for now in [t(3600), t(3601)] {
        check(
            at_started(),
            system(),
            rotate(&hash('a'), 2, &hash('b'), now),
            Err(IdentityError::TokenExpired),
        );
    }
    let result =
        state(&at_started()).decide(ID, &rotate(&hash('a'), 2, &hash('b'), t(3599)), &system());
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn an_unknown_token_is_invalid() {
    for presented in [hash('z'), String::new(), "a".repeat(63), "A".repeat(64)] {
        for given in [vec![], at_started(), at_rotated()] {
            check(
                given,
                system(),
                rotate(&presented, 3, &hash('c'), t(100)),
                Err(IdentityError::InvalidToken),
            );
        }
    }
}

#[test]
fn a_new_token_must_be_well_formed_unexpired_and_new() {
    let mut commands = vec![
        // Malformed.
        rotate(&hash('b'), 3, "c", t(1500)),
        // The current hash, an old hash, the current id, an old id.
        rotate(&hash('b'), 3, &hash('b'), t(1500)),
        rotate(&hash('b'), 3, &hash('a'), t(1500)),
        rotate(&hash('b'), 2, &hash('c'), t(1500)),
        rotate(&hash('b'), 1, &hash('c'), t(1500)),
    ];
    commands.push(SessionCommand::Rotate {
        presented_sha256: hash('b'),
        new_token_id: token_id(3),
        new_token_sha256: hash('c'),
        new_expires_at: t(1500),
        now: t(1500),
    });
    for command in commands {
        check(
            at_rotated(),
            system(),
            command,
            Err(IdentityError::InvalidNewToken),
        );
    }
}

#[test]
fn a_family_remembers_its_last_100_rotated_tokens() {
    // Token n has hash nth_hash(n); tokens 0..=101 were current in turn.
    let mut given = vec![SessionEvent::SessionStarted {
        account_id: account_id(),
        token_id: token_id(0),
        token_sha256: nth_hash(0),
        expires_at: t(3600),
        user_agent: None,
        at: t(0),
    }];
    let last = MAX_REMEMBERED_TOKENS as u64 + 1;
    for n in 1..=last {
        given.push(rotated(
            u128::from(n - 1),
            u128::from(n),
            &nth_hash(n),
            t(n as i64),
        ));
    }
    let session = state(&given);
    assert_eq!(session.rotated.len(), MAX_REMEMBERED_TOKENS);
    assert_eq!(session.view(ID, 0).rotations, last);
    // Token 0 is forgotten: merely unknown. Token 1 is remembered: a reuse.
    assert_eq!(
        session.check_rotation(&nth_hash(0), t(200)),
        RotationVerdict::Unknown
    );
    assert_eq!(
        session.check_rotation(&nth_hash(1), t(200)),
        RotationVerdict::ReuseDetected
    );
    assert_eq!(
        session.check_rotation(&nth_hash(last), t(200)),
        RotationVerdict::Rotate
    );
    check(
        given,
        system(),
        rotate(&nth_hash(0), 500, &hash('c'), t(200)),
        Err(IdentityError::InvalidToken),
    );
}

#[test]
fn the_rotation_verdict_tells_the_service_what_a_presented_token_is() {
    let rotated_once = state(&at_rotated());
    let cases = [
        (
            Session::default(),
            hash('a'),
            t(10),
            RotationVerdict::Unknown,
        ),
        (
            rotated_once.clone(),
            hash('b'),
            t(1500),
            RotationVerdict::Rotate,
        ),
        (
            rotated_once.clone(),
            hash('a'),
            t(1500),
            RotationVerdict::ReuseDetected,
        ),
        (
            rotated_once.clone(),
            hash('b'),
            t(4600),
            RotationVerdict::Expired,
        ),
        (
            rotated_once.clone(),
            hash('z'),
            t(1500),
            RotationVerdict::Unknown,
        ),
        (
            state(&at_reuse_detected()),
            hash('b'),
            t(1500),
            RotationVerdict::Revoked,
        ),
        (
            state(&at_reuse_detected()),
            hash('a'),
            t(1500),
            RotationVerdict::Revoked,
        ),
        (
            state(&at_reuse_detected()),
            hash('z'),
            t(1500),
            RotationVerdict::Unknown,
        ),
    ];
    for (session, presented, now, verdict) in cases {
        assert_eq!(
            session.check_rotation(&presented, now),
            verdict,
            "{presented}"
        );
        // decide agrees with the verdict.
        let decided = session.decide(ID, &rotate(&presented, 9, &hash('y'), now), &system());
        let expected = match verdict {
            RotationVerdict::Rotate => Ok(vec!["TokenRotated"]),
            RotationVerdict::ReuseDetected => Ok(vec!["ReuseDetected", "SessionRevoked"]),
            RotationVerdict::Expired => Err(IdentityError::TokenExpired),
            RotationVerdict::Revoked => Err(IdentityError::SessionRevoked),
            RotationVerdict::Unknown => Err(IdentityError::InvalidToken),
        };
        let types = decided.map(|events| {
            events
                .iter()
                .map(SessionEvent::event_type)
                .collect::<Vec<_>>()
        });
        assert_eq!(types, expected, "{verdict:?}");
    }
}

// Revocation.

#[test]
fn logging_out_revokes_the_session_and_then_no_token_works() {
    check(
        at_rotated(),
        system(),
        SessionCommand::Revoke {
            reason: RevokeReason::Logout,
            now: t(2000),
        },
        Ok(vec![revoked(RevokeReason::Logout, t(2000))]),
    );
    let mut given = at_rotated();
    given.push(revoked(RevokeReason::Logout, t(2000)));
    check(
        given.clone(),
        system(),
        rotate(&hash('b'), 3, &hash('c'), t(2100)),
        Err(IdentityError::SessionRevoked),
    );
    let view = state(&given).view(ID, 3);
    assert_eq!(
        (view.status, view.revoked_reason, view.revoked_at),
        (
            SessionStatus::Revoked,
            Some(RevokeReason::Logout),
            Some(t(2000))
        )
    );
}

#[test]
fn revoking_twice_records_nothing_and_an_unknown_session_is_not_found() {
    for given in [at_reuse_detected(), {
        let mut g = at_started();
        g.push(revoked(RevokeReason::PasswordReset, t(50)));
        g
    }] {
        check(
            given,
            system(),
            SessionCommand::Revoke {
                reason: RevokeReason::Logout,
                now: t(3000),
            },
            Ok(vec![]),
        );
    }
    check(
        vec![],
        system(),
        SessionCommand::Revoke {
            reason: RevokeReason::Logout,
            now: t(3000),
        },
        Err(IdentityError::NotFound),
    );
}

// View and state.

#[test]
fn the_view_shows_the_session_and_never_a_token_hash() {
    let view = state(&at_rotated()).view(ID, 2);
    assert_eq!(
        view,
        SessionView {
            id: ID.into(),
            version: 2,
            status: SessionStatus::Active,
            account_id: Some(account_id()),
            current_token_id: Some(token_id(2)),
            expires_at: Some(t(4600)),
            rotations: 1,
            user_agent: Some("Firefox".into()),
            revoked_reason: None,
            revoked_at: None,
            created_at: Some(t(0)),
            last_rotated_at: Some(t(1000)),
        }
    );
    for given in [at_started(), at_rotated(), at_reuse_detected()] {
        let json = serde_json::to_string(&state(&given).view(ID, 1)).expect("serializes");
        for seed in ['a', 'b'] {
            assert!(!json.contains(&hash(seed)), "{json}");
        }
        assert!(!json.contains("sha256"), "{json}");
        let back: SessionView = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, state(&given).view(ID, 1));
    }
}

#[test]
fn a_session_that_never_started_has_an_empty_view() {
    let view = Session::default().view(ID, 0);
    assert_eq!(view.status, SessionStatus::New);
    assert_eq!((view.account_id, view.current_token_id), (None, None));
}

#[test]
fn the_state_round_trips_through_json() {
    let session = state(&at_reuse_detected());
    let json = serde_json::to_string(&session).expect("serializes");
    assert_eq!(
        serde_json::from_str::<Session>(&json).expect("parses"),
        session
    );
}

#[test]
fn every_event_has_its_stable_type_name() {
    let events = at_reuse_detected();
    let names: Vec<_> = events
        .iter()
        .map(<Session as Decider>::event_type)
        .collect();
    assert_eq!(
        names,
        [
            "SessionStarted",
            "TokenRotated",
            "ReuseDetected",
            "SessionRevoked"
        ]
    );
    for event in &events {
        let json = serde_json::to_value(event).expect("serializes");
        assert!(json.get(event.event_type()).is_some(), "{json}");
        let back: SessionEvent = serde_json::from_value(json).expect("parses");
        assert_eq!(&back, event);
    }
    assert_eq!(<Session as Decider>::TYPE, "session");
}
#[test]
fn random_presentations_never_revive_a_family_or_exchange_a_token_twice() {
    let mut seen = BTreeSet::new();
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut session = state(&[SessionEvent::SessionStarted {
            account_id: account_id(),
            token_id: token_id(0),
            token_sha256: nth_hash(0),
            expires_at: t(600),
            user_agent: None,
            at: t(0),
        }]);
        // Hashes of tokens issued so far (index = token number), and those exchanged.
        let mut issued = 1u64;
        let mut exchanged = BTreeSet::new();
        for step in 1..60i64 {
            let now = t(step * 20);
            let command = if rng.random_range::<u64, _>(0..15) == 0 {
                SessionCommand::Revoke {
                    reason: RevokeReason::Logout,
                    now,
                }
            } else {
                // Mostly the newest token, sometimes an older one or garbage.
                let presented = match rng.random_range::<u64, _>(0..6) {
                    0 => nth_hash(rng.random_range::<u64, _>(0..issued)),
                    1 => hash('z'),
                    _ => nth_hash(issued - 1),
                };
                SessionCommand::Rotate {
                    presented_sha256: presented,
                    new_token_id: token_id(u128::from(issued)),
                    new_token_sha256: nth_hash(issued),
                    new_expires_at: now
                        + TimeDelta::seconds(rng.random_range::<u64, _>(0..100) as i64 + 1),
                    now,
                }
            };
            let was_revoked = session.status() == SessionStatus::Revoked;
            match session.decide(ID, &command, &system()) {
                Ok(events) => {
                    for e in &events {
                        seen.insert(e.event_type());
                        if let SessionEvent::TokenRotated { from_token_id, .. } = e {
                            assert!(!was_revoked, "a revoked family rotated");
                            assert!(exchanged.insert(*from_token_id), "exchanged twice");
                            issued += 1;
                        }
                        session.evolve(e);
                    }
                }
                Err(e) => {
                    seen.insert(e.code());
                }
            }
            if was_revoked {
                assert_eq!(session.status(), SessionStatus::Revoked);
            }
            assert!(session.rotated.len() <= MAX_REMEMBERED_TOKENS);
        }
    }
    for outcome in [
        "TokenRotated",
        "ReuseDetected",
        "SessionRevoked",
        "identity.token_expired",
        "identity.session_revoked",
        "identity.invalid_token",
    ] {
        assert!(seen.contains(outcome), "never saw {outcome}: {seen:?}");
    }
}

//! cqrs-es compatibility: both aggregates also run inside `cqrs_es::CqrsFramework` (and its
//! `TestFramework`), delegating to the pure `decide`/`evolve`.

use crate::{Account, AccountEvent, Session, SessionEvent};

agora_kernel::cqrs_aggregate!(Account, AccountEvent);
agora_kernel::cqrs_aggregate!(Session, SessionEvent);

#[cfg(test)]
mod tests {
    use agora_kernel::{CqrsEnvelope, Principal};
    use chrono::{DateTime, TimeDelta, Utc};
    use cqrs_es::test::TestFramework;

    use crate::{Account, Session};
    use crate::{
        AccountCommand, AccountEvent, AccountId, IdentityError, Role, SessionCommand, SessionEvent,
        TokenId,
    };

    const ACCOUNT: &str = "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69";
    const FAMILY: &str = "5b0e3c1d-2a4f-4e6b-8c7d-9f0a1b2c3d4e";

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
    }

    fn hash(seed: char) -> String {
        seed.to_string().repeat(64)
    }

    fn envelope<C>(id: &str, command: C) -> CqrsEnvelope<C> {
        CqrsEnvelope {
            id: id.into(),
            by: Principal::system("identity"),
            command,
        }
    }

    #[tokio::test]
    async fn the_cqrs_es_account_delegates_to_decide() {
        let account_id: AccountId = ACCOUNT.parse().expect("a uuid");
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when_async(envelope(
                ACCOUNT,
                AccountCommand::Register {
                    email: "Ada@Example.com".into(),
                    display_name: "Ada".into(),
                    password_set: true,
                    verification_token_sha256: hash('a'),
                    verification_expires_at: t(3600),
                    now: t(0),
                },
            ))
            .await
            .then_expect_events(vec![
                AccountEvent::AccountRegistered {
                    account_id,
                    email: "ada@example.com".into(),
                    display_name: "Ada".into(),
                    roles: vec![Role::Customer],
                    password_set: true,
                    at: t(0),
                },
                AccountEvent::VerificationIssued {
                    token_sha256: hash('a'),
                    expires_at: t(3600),
                    at: t(0),
                },
            ]);
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when_async(envelope(
                ACCOUNT,
                AccountCommand::VerifyEmail {
                    token_sha256: hash('a'),
                    now: t(1),
                },
            ))
            .await
            .then_expect_error(IdentityError::NotFound);
    }

    #[tokio::test]
    async fn the_cqrs_es_session_delegates_to_decide() {
        let started = SessionEvent::SessionStarted {
            account_id: ACCOUNT.parse().expect("a uuid"),
            token_id: TokenId::from_uuid(uuid::Uuid::from_u128(1)),
            token_sha256: hash('a'),
            expires_at: t(3600),
            user_agent: None,
            at: t(0),
        };
        TestFramework::<Session>::with(())
            .given(vec![started])
            .when_async(envelope(
                FAMILY,
                SessionCommand::Rotate {
                    presented_sha256: hash('b'),
                    new_token_id: TokenId::from_uuid(uuid::Uuid::from_u128(2)),
                    new_token_sha256: hash('c'),
                    new_expires_at: t(7200),
                    now: t(10),
                },
            ))
            .await
            .then_expect_error(IdentityError::InvalidToken);
    }
}

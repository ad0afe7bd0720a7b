//! The identity service over NATS (`agora.identity.*`) against a running platform: sign-up,
//! email verification, sign-in, refresh-token rotation and reuse, sign-out, password reset and
//! change, the bootstrap admin and provider sign-in.

mod common;

use std::time::Duration;

use agora::{Config, Roles};
use agora_kernel::{CommandId, CustomerId, ErrorBody, Principal};
use agora_nats::Bus;
use agora_workflows::{
    ChangePassword, IdentityRequest, Login, OidcLogin, RefreshToken, Register,
    RequestPasswordReset, ResendVerification, ResetPassword, VerifyEmail,
};
use common::{spawn_app_with, system_command, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a different long passphrase";

/// A platform running the identity services only, and a client of its bus.
struct Identity {
    app: TestApp,
    bus: Bus,
}

async fn identity() -> Identity {
    identity_with(|_| {}).await
}

async fn identity_with(tweak: impl FnOnce(&mut Config)) -> Identity {
    let roles = Roles::services(vec!["account".into(), "session".into(), "identity".into()]);
    let app = spawn_app_with(roles, tweak).await;
    let bus = app.bus().await;
    Identity { app, bus }
}

/// An anonymous visitor, as the edge would send one.
fn visitor() -> Principal {
    Principal::Guest {
        token_sha256: "0".repeat(64),
    }
}

fn customer(account: &str) -> Principal {
    Principal::Customer {
        id: account.parse::<CustomerId>().expect("uuid"),
    }
}

impl Identity {
    async fn send(
        &self,
        principal: Principal,
        aggregate_id: &str,
        command_id: CommandId,
        request: IdentityRequest,
    ) -> Result<Value, ErrorBody> {
        let ctx = agora_nats::RequestContext::new(Duration::from_secs(30));
        self.bus
            .call(aggregate_id, command_id, principal, &request, &ctx)
            .await
    }

    /// A visitor's request with a fresh command id.
    async fn anon(&self, request: IdentityRequest) -> Result<Value, ErrorBody> {
        self.send(
            visitor(),
            &Uuid::new_v4().to_string(),
            CommandId::new_random(),
            request,
        )
        .await
    }

    async fn register(&self, email: &str) -> String {
        let reply = self
            .anon(register(email, PASSWORD))
            .await
            .expect("register");
        reply["view"]["id"].as_str().expect("id").to_string()
    }

    async fn login(&self, email: &str, password: &str) -> Result<Value, ErrorBody> {
        self.anon(login(email, password))
            .await
            .map(|reply| reply["view"].clone())
    }

    async fn refresh(&self, token: &Value) -> Result<Value, ErrorBody> {
        self.anon(refresh(token))
            .await
            .map(|reply| reply["view"].clone())
    }

    /// The newest mail of `kind` queued for `account`: (outbox id, email, token).
    async fn mail(&self, account: &str, kind: &str) -> (Uuid, String, String) {
        sqlx::query_as(
            "SELECT id, email, token FROM identity_outbox WHERE account_id = $1 AND kind = $2
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(Uuid::parse_str(account).expect("uuid"))
        .bind(kind)
        .fetch_one(&self.app.pool)
        .await
        .expect("a queued mail")
    }

    /// The principal the edge would derive from an access token.
    fn principal_of(&self, pair: &Value) -> Principal {
        let keys = agora::token_keys(&self.app.config).expect("keys");
        let claims = keys
            .verify(
                pair["access_token"].as_str().expect("token"),
                chrono::Utc::now().timestamp(),
            )
            .expect("a valid access token");
        assert_eq!(claims.sid, pair["session_id"].as_str().expect("sid"));
        claims.principal().expect("principal")
    }

    async fn events_containing(&self, text: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'
             OR metadata::text LIKE '%' || $1 || '%'",
        )
        .bind(text)
        .fetch_one(&self.app.pool)
        .await
        .expect("count")
    }
}

fn code(result: Result<Value, ErrorBody>) -> String {
    match result {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e.code,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registering_mails_a_link_that_verifies_the_email() {
    let id = identity().await;
    let command_id = CommandId::new_random();
    let signup = IdentityRequest::Register(Register {
        email: " Ada@Example.COM ".into(),
        password: PASSWORD.into(),
        display_name: None,
        phone: Some("+49 30 1234".into()),
    });
    let reply = id
        .send(visitor(), "x", command_id, signup.clone())
        .await
        .expect("register");
    let account = reply["view"]["id"].as_str().expect("id").to_string();
    assert_eq!(reply["duplicate"], false);
    assert_eq!(reply["view"]["email"], "ada@example.com");
    assert_eq!(reply["view"]["display_name"], "ada");
    assert_eq!(reply["view"]["phone"], "+49 30 1234");
    assert_eq!(reply["view"]["email_verified"], false);
    assert_eq!(reply["view"]["has_password"], true);
    assert_eq!(reply["view"]["roles"], json!(["customer"]));

    // A retry of the same command is the same account, and queues no second mail.
    let again = id
        .send(visitor(), "y", command_id, signup)
        .await
        .expect("retry");
    assert_eq!(again["view"]["id"], account.as_str());
    assert_eq!(again["duplicate"], true);

    let (mail_id, email, token) = id.mail(&account, "verify_email").await;
    let mails: i64 = sqlx::query_scalar("SELECT count(*) FROM identity_outbox")
        .fetch_one(&id.app.pool)
        .await
        .expect("count");
    assert_eq!(mails, 1);
    assert_eq!(email, "ada@example.com");
    // The row is named by the event that issued the token (`VerificationIssued`, sequence 2).
    let account_id: agora_identity::AccountId = account.parse().expect("uuid");
    assert_eq!(mail_id, agora_workflows::outbox_id(account_id, 2));
    // Neither the password nor the raw token reached an event.
    assert_eq!(id.events_containing(PASSWORD).await, 0);
    assert_eq!(id.events_containing(&token).await, 0);

    // A forged token of the same account does not verify.
    let forged = format!("{account}.{}", "A".repeat(43));
    assert_eq!(
        code(id.anon(verify(&forged)).await),
        "identity.invalid_token"
    );
    assert_eq!(
        code(id.anon(verify(&"nonsense")).await),
        "identity.invalid_token"
    );
    let verified = id.anon(verify(&token)).await.expect("verify");
    assert_eq!(verified["view"]["email_verified"], true);
    // Following the link again changes nothing and is no error.
    let twice = id.anon(verify(&token)).await.expect("verify again");
    assert_eq!(twice["view"]["email_verified"], true);

    // The policy and the email format are checked before anything is written.
    assert_eq!(
        code(id.anon(register("bo@example.com", "short")).await),
        "auth.password_too_short"
    );
    assert_eq!(
        code(id.anon(register("not an email", PASSWORD)).await),
        "identity.invalid_email"
    );
    let emails: i64 = sqlx::query_scalar("SELECT count(*) FROM identity_emails")
        .fetch_one(&id.app.pool)
        .await
        .expect("count");
    assert_eq!(emails, 1);
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_registrations_of_one_email_exactly_one_wins() {
    let id = identity().await;
    let attempts = ["ada@example.com", "ADA@example.com", " ada@Example.com"]
        .iter()
        .cycle()
        .take(8)
        .map(|email| id.anon(register(email, PASSWORD)));
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code, "identity.email_taken");
        assert_eq!(r.kind.http_status(), 409);
    }
    let registered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'account' AND event_type = 'AccountRegistered'",
    )
    .fetch_one(&id.app.pool)
    .await
    .expect("count");
    assert_eq!(registered, 1);
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let id = identity().await;
    let account = id.register("ada@example.com").await;
    let pair = id.login("Ada@Example.com", PASSWORD).await.expect("login");
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["account_id"], account.as_str());
    assert_eq!(pair["roles"], json!(["customer"]));
    assert_eq!(id.principal_of(&pair), customer(&account));

    let wrong = id.login("ada@example.com", "not the password at all").await;
    let unknown = id.login("nobody@example.com", PASSWORD).await;
    let malformed = id.login("nobody", PASSWORD).await;
    let (wrong, unknown, malformed) = (
        wrong.expect_err("wrong password"),
        unknown.expect_err("unknown email"),
        malformed.expect_err("malformed email"),
    );
    assert_eq!(wrong.code, "auth.invalid_credentials");
    assert_eq!(wrong.kind.http_status(), 401);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, malformed);

    // A closed account cannot sign in, nor refresh a session it had.
    system_command(
        &id.bus,
        &account,
        &agora_identity::AccountCommand::Close {
            now: chrono::Utc::now(),
        },
    )
    .await
    .expect("close");
    assert_eq!(
        id.login("ada@example.com", PASSWORD)
            .await
            .expect_err("closed"),
        wrong
    );
    assert_eq!(
        code(id.refresh(&pair["refresh_token"]).await),
        "identity.session_revoked"
    );
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_rotates_and_a_reused_token_revokes_the_whole_family() {
    let id = identity().await;
    let account = id.register("ada@example.com").await;
    let first = id.login("ada@example.com", PASSWORD).await.expect("login");
    let session = first["session_id"].clone();

    let rotate = CommandId::new_random();
    let refresh = IdentityRequest::Refresh(RefreshToken {
        refresh_token: text(&first["refresh_token"]),
    });
    let second = id
        .send(visitor(), "x", rotate, refresh.clone())
        .await
        .expect("refresh")["view"]
        .clone();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["session_id"], session);
    assert_eq!(id.principal_of(&second), customer(&account));
    // The same refresh again (a retry) cannot hand out its token twice, and revokes nothing.
    assert_eq!(
        code(id.send(visitor(), "x", rotate, refresh).await),
        "identity.refresh_replayed"
    );
    let third = id.refresh(&second["refresh_token"]).await.expect("refresh");

    // The first token, exchanged long ago, comes back: someone holds a copy.
    let reused = id
        .refresh(&first["refresh_token"])
        .await
        .expect_err("reuse");
    assert_eq!(reused.code, "auth.refresh_token_reused");
    assert_eq!(reused.kind.http_status(), 401);
    // The whole family is over, the newest token too.
    assert_eq!(
        code(id.refresh(&third["refresh_token"]).await),
        "identity.session_revoked"
    );
    let revoked: bool = sqlx::query_scalar(
        "SELECT revoked_at IS NOT NULL FROM identity_sessions WHERE session_id = $1",
    )
    .bind(Uuid::parse_str(session.as_str().expect("sid")).expect("uuid"))
    .fetch_one(&id.app.pool)
    .await
    .expect("row");
    assert!(revoked);
    assert_eq!(
        code(id.refresh(&json!("garbage")).await),
        "identity.invalid_token"
    );
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_ends_the_session_and_can_be_repeated() {
    let id = identity().await;
    id.register("ada@example.com").await;
    let pair = id.login("ada@example.com", PASSWORD).await.expect("login");
    let other = id.login("ada@example.com", PASSWORD).await.expect("login");
    let logout = IdentityRequest::Logout(RefreshToken {
        refresh_token: text(&pair["refresh_token"]),
    });
    id.anon(logout.clone()).await.expect("logout");
    assert_eq!(
        code(id.refresh(&pair["refresh_token"]).await),
        "identity.session_revoked"
    );
    id.anon(logout).await.expect("logout again");
    // Another device's session is untouched.
    id.refresh(&other["refresh_token"])
        .await
        .expect("other session");
    // A token of no session ends nothing.
    let stranger = format!("{}.{}", Uuid::new_v4(), "A".repeat(43));
    assert_eq!(
        code(
            id.anon(IdentityRequest::Logout(RefreshToken {
                refresh_token: stranger
            }))
            .await
        ),
        "identity.invalid_token"
    );
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_reset_replaces_the_password_and_ends_every_session() {
    let id = identity().await;
    let account = id.register("ada@example.com").await;
    let phone = id.login("ada@example.com", PASSWORD).await.expect("login");
    let laptop = id.login("ada@example.com", PASSWORD).await.expect("login");

    // The same answer whether or not the email has an account.
    let unknown = id
        .anon(IdentityRequest::RequestPasswordReset(
            RequestPasswordReset {
                email: "nobody@example.com".into(),
            },
        ))
        .await
        .expect("unknown");
    let known = id
        .anon(IdentityRequest::RequestPasswordReset(
            RequestPasswordReset {
                email: "ADA@example.com".into(),
            },
        ))
        .await
        .expect("known");
    assert_eq!(unknown, known);
    let (_, email, token) = id.mail(&account, "password_reset").await;
    assert_eq!(email, "ada@example.com");
    assert_eq!(id.events_containing(&token).await, 0);

    assert_eq!(
        code(
            id.anon(IdentityRequest::ResetPassword(ResetPassword {
                token: token.clone(),
                new_password: "short".into()
            }))
            .await
        ),
        "auth.password_too_short"
    );
    id.anon(IdentityRequest::ResetPassword(ResetPassword {
        token: token.clone(),
        new_password: NEW_PASSWORD.into(),
    }))
    .await
    .expect("reset");
    for session in [&phone, &laptop] {
        assert_eq!(
            code(id.refresh(&session["refresh_token"]).await),
            "identity.session_revoked"
        );
    }
    assert_eq!(
        code(id.login("ada@example.com", PASSWORD).await),
        "auth.invalid_credentials"
    );
    id.login("ada@example.com", NEW_PASSWORD)
        .await
        .expect("the new password");
    // A reset link works once.
    assert_eq!(
        code(
            id.anon(IdentityRequest::ResetPassword(ResetPassword {
                token: token.clone(),
                new_password: "yet another passphrase".into()
            }))
            .await
        ),
        "identity.invalid_token"
    );
    assert_eq!(id.events_containing(NEW_PASSWORD).await, 0);
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let id = identity().await;
    let account = id.register("ada@example.com").await;
    let here = id.login("ada@example.com", PASSWORD).await.expect("login");
    let elsewhere = id.login("ada@example.com", PASSWORD).await.expect("login");
    let change = |current: &str| {
        IdentityRequest::ChangePassword(ChangePassword {
            current_password: current.into(),
            new_password: NEW_PASSWORD.into(),
            keep_session: Some(text(&here["session_id"]).parse().expect("a session id")),
        })
    };

    assert_eq!(
        code(
            id.send(
                customer(&account),
                &account,
                CommandId::new_random(),
                change("not the password at all"),
            )
            .await
        ),
        "auth.invalid_credentials"
    );
    // Nobody but the account's user changes its password.
    let stranger = Uuid::new_v4().to_string();
    assert_eq!(
        code(
            id.send(
                customer(&stranger),
                &account,
                CommandId::new_random(),
                change(PASSWORD),
            )
            .await
        ),
        "identity.not_found"
    );
    let changed = id
        .send(
            customer(&account),
            &account,
            CommandId::new_random(),
            change(PASSWORD),
        )
        .await
        .expect("change");
    assert_eq!(changed["view"]["id"], account.as_str());
    assert_eq!(
        code(id.refresh(&elsewhere["refresh_token"]).await),
        "identity.session_revoked"
    );
    id.refresh(&here["refresh_token"])
        .await
        .expect("this session stays");
    assert_eq!(
        code(id.login("ada@example.com", PASSWORD).await),
        "auth.invalid_credentials"
    );
    id.login("ada@example.com", NEW_PASSWORD)
        .await
        .expect("the new password");
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bootstrap_email_becomes_admin_once_it_is_verified() {
    let id = identity_with(|c| c.bootstrap_admin_email = Some("Boss@Shop.test".into())).await;
    let boss = id.register("boss@shop.test").await;
    let clerk = id.register("clerk@shop.test").await;
    // Anyone can type an email; only its owner can follow the link.
    let before = id.login("boss@shop.test", PASSWORD).await.expect("login");
    assert_eq!(before["roles"], json!(["customer"]));

    for account in [&boss, &clerk] {
        let (_, _, token) = id.mail(account, "verify_email").await;
        id.anon(verify(&token)).await.expect("verify");
    }
    let pair = id.login("boss@shop.test", PASSWORD).await.expect("login");
    assert_eq!(pair["roles"], json!(["admin", "customer"]));
    assert_eq!(
        id.principal_of(&pair),
        Principal::Staff {
            id: boss.clone(),
            role: "admin".into()
        }
    );
    let clerk_pair = id.login("clerk@shop.test", PASSWORD).await.expect("login");
    assert_eq!(clerk_pair["roles"], json!(["customer"]));
    // Roles change through the account service; the next refresh carries them.
    let admin = Principal::Staff {
        id: boss.clone(),
        role: "admin".into(),
    };
    let grant = agora_identity::AccountCommand::GrantRole {
        role: agora_identity::Role::Staff,
    };
    let ctx = agora_nats::RequestContext::new(Duration::from_secs(30));
    let _: Value = id
        .bus
        .call(&clerk, CommandId::new_random(), admin, &grant, &ctx)
        .await
        .expect("grant");
    let refreshed = id
        .refresh(&clerk_pair["refresh_token"])
        .await
        .expect("refresh");
    assert_eq!(refreshed["roles"], json!(["customer", "staff"]));
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_sign_in_creates_then_links_by_email_then_finds_by_subject() {
    let id = identity().await;
    let oidc = |provider: &str, subject: &str, email: &str, verified: bool| {
        IdentityRequest::OidcLogin(OidcLogin {
            provider: provider.into(),
            subject: subject.into(),
            email: email.into(),
            email_verified: verified,
            user_agent: None,
        })
    };
    let edge = || Principal::system("edge");
    let send = |request: IdentityRequest| {
        let id = &id;
        async move {
            id.send(
                edge(),
                &Uuid::new_v4().to_string(),
                CommandId::new_random(),
                request,
            )
            .await
            .map(|reply| reply["view"].clone())
        }
    };

    // A new identity with a new email: a new account, without a password, email verified.
    let created = send(oidc("google", "g-1", "new@example.com", true))
        .await
        .expect("create");
    let new_account = created["account_id"].as_str().expect("id").to_string();
    let view = common::system_get::<agora_identity::Account>(&id.bus, &new_account)
        .await
        .expect("account");
    assert_eq!(view["has_password"], false);
    assert_eq!(view["email_verified"], true);
    assert_eq!(view["linked_identities"][0]["subject"], "g-1");
    assert_eq!(id.principal_of(&created), customer(&new_account));
    assert_eq!(
        code(id.login("new@example.com", PASSWORD).await),
        "auth.invalid_credentials"
    );

    // An existing account with that verified email gets the identity linked.
    let existing = id.register("ada@example.com").await;
    let linked = send(oidc("github", "gh-7", "ADA@example.com", true))
        .await
        .expect("link");
    assert_eq!(linked["account_id"], existing.as_str());
    // Without the provider vouching for the email, nothing is linked.
    assert_eq!(
        code(send(oidc("gitlab", "gl-1", "ada@example.com", false)).await),
        "identity.email_taken"
    );

    // Later sign-ins find the account by the identity, whatever email the provider reports.
    let found = send(oidc("github", "gh-7", "changed@example.com", false))
        .await
        .expect("find");
    assert_eq!(found["account_id"], existing.as_str());
    let again = send(oidc("google", "g-1", "new@example.com", true))
        .await
        .expect("find");
    assert_eq!(again["account_id"], new_account.as_str());
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM identity_emails")
        .fetch_one(&id.app.pool)
        .await
        .expect("count");
    assert_eq!(accounts, 2);

    // Only the edge, which verified the provider's token, may vouch for an identity.
    assert_eq!(
        code(
            id.send(
                visitor(),
                "x",
                CommandId::new_random(),
                oidc("github", "gh-7", "ada@example.com", true),
            )
            .await
        ),
        "identity.forbidden"
    );
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_rehashes_a_password_stored_below_the_current_cost() {
    let id = identity_with(|c| c.argon2_t = Some(3)).await;
    let account = id.register("ada@example.com").await;
    // As if stored before the cost went up: the default is t=2.
    let old = agora_auth::PasswordHasher::default()
        .hash(PASSWORD)
        .expect("hash");
    assert!(old.contains("t=2"));
    sqlx::query("UPDATE identity_credentials SET password_hash = $2 WHERE account_id = $1")
        .bind(Uuid::parse_str(&account).expect("uuid"))
        .bind(&old)
        .execute(&id.app.pool)
        .await
        .expect("downgrade");
    id.login("ada@example.com", PASSWORD).await.expect("login");
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM identity_credentials WHERE account_id = $1")
            .bind(Uuid::parse_str(&account).expect("uuid"))
            .fetch_one(&id.app.pool)
            .await
            .expect("hash");
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"),
        "{stored}"
    );
    id.login("ada@example.com", PASSWORD)
        .await
        .expect("the rehashed password");
    id.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_identity_service_runs_alone_in_its_process() {
    // `agora service identity`: its own account and session hosts, beside another process
    // serving `account` and `session`.
    let mut id = identity_with(|_| {}).await;
    id.app
        .also_start(Roles {
            services: vec!["identity".into()],
            ..Roles::default()
        })
        .await;
    for n in 0..4 {
        let email = format!("user{n}@example.com");
        let account = id.register(&email).await;
        let pair = id.login(&email, PASSWORD).await.expect("login");
        assert_eq!(id.principal_of(&pair), customer(&account));
        id.refresh(&pair["refresh_token"]).await.expect("refresh");
    }
    id.app.stop().await;
}

/// The configuration as the binary would parse it from `args`.
fn parsed_config(args: &[&str]) -> Config {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }
    let args = std::iter::once("agora").chain(args.iter().copied());
    <Cli as clap::Parser>::parse_from(args).config
}

#[test]
fn configured_keys_rotate_and_weak_keys_or_hashing_are_refused() {
    let old = "old:an-old-secret-of-at-least-32-bytes!!";
    let new = "new:a-new-secret-of-at-least-32-bytes!!!";
    let before = agora::token_keys(&parsed_config(&["--jwt-keys", old])).expect("keys");
    let after =
        agora::token_keys(&parsed_config(&["--jwt-keys", &format!("{new}, {old}")])).expect("keys");
    assert_eq!(after.signing_kid(), "new");
    let now = chrono::Utc::now().timestamp();
    let claims = before.new_claims(
        Uuid::new_v4().to_string(),
        vec!["customer".into()],
        "s",
        now,
    );
    // A token signed before the rotation still verifies; one of the new key does not verify
    // with the old set.
    after
        .verify(&before.issue(&claims), now)
        .expect("old token after rotation");
    assert!(before.verify(&after.issue(&claims), now).is_err());

    for weak in [
        "short:too-short",
        "no-colon-here-but-long-enough-1234567890",
    ] {
        assert!(
            agora::token_keys(&parsed_config(&["--jwt-keys", weak])).is_err(),
            "{weak}"
        );
    }
    // Unset: one random key, the same for every part of this process.
    let a = agora::token_keys(&parsed_config(&[])).expect("generated");
    let b = agora::token_keys(&parsed_config(&[])).expect("generated");
    b.verify(&a.issue(&claims), now)
        .expect("one generated key per process");

    assert!(agora::password_hasher(&parsed_config(&[])).is_ok());
    assert!(agora::password_hasher(&parsed_config(&["--argon2-m-kib", "8192"])).is_err());
    assert!(agora::password_hasher(&parsed_config(&["--argon2-t", "1"])).is_err());
    assert!(
        agora::identity_settings(&parsed_config(&["--bootstrap-admin-email", "nope"])).is_err()
    );
    let settings = agora::identity_settings(&parsed_config(&[
        "--bootstrap-admin-email",
        " Boss@Shop.TEST ",
    ]))
    .expect("settings");
    assert_eq!(
        settings.bootstrap_admin_email.as_deref(),
        Some("boss@shop.test")
    );
}

/// A lost or expired verification mail can be asked for again: the new link works and the old
/// one stops working; once verified, or for an unknown email, nothing is mailed and the answer
/// is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_verification_link_replaces_the_old_one() {
    let id = identity().await;
    let account = id.register("resend@example.com").await;
    let (first_id, _, first) = id.mail(&account, "verify_email").await;
    let outbox = |id: &Identity| {
        let pool = id.app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM identity_outbox")
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(outbox(&id).await, 1);

    // Unknown emails get the same answer and no mail.
    let unknown = id
        .anon(IdentityRequest::ResendVerification(ResendVerification {
            email: "nobody@example.com".into(),
        }))
        .await
        .expect("same answer");
    let resent = id
        .anon(IdentityRequest::ResendVerification(ResendVerification {
            email: "Resend@Example.com".into(),
        }))
        .await
        .expect("resend");
    assert_eq!(unknown, resent);
    assert_eq!(outbox(&id).await, 2);
    let (second_id, email, second) = id.mail(&account, "verify_email").await;
    assert_ne!(second_id, first_id);
    assert_eq!(email, "resend@example.com");
    assert_ne!(second, first);

    // Only the newest link counts.
    assert_eq!(
        code(id.anon(verify(&first)).await),
        "identity.invalid_token"
    );
    let verified = id.anon(verify(&second)).await.expect("verify");
    assert_eq!(verified["view"]["email_verified"], true);

    // Verified: asking again mails nothing.
    id.anon(IdentityRequest::ResendVerification(ResendVerification {
        email: "resend@example.com".into(),
    }))
    .await
    .expect("same answer");
    assert_eq!(outbox(&id).await, 2);
    assert_eq!(
        code(
            id.anon(IdentityRequest::ResendVerification(ResendVerification {
                email: "not an email".into()
            }))
            .await
        ),
        "identity.invalid_email"
    );
    id.app.stop().await;
}

/// The identity requests these tests send, built as the edge builds them.
fn register(email: impl ToString, password: impl ToString) -> IdentityRequest {
    IdentityRequest::Register(Register {
        email: email.to_string(),
        password: password.to_string(),
        display_name: None,
        phone: None,
    })
}

fn login(email: impl ToString, password: impl ToString) -> IdentityRequest {
    IdentityRequest::Login(Login {
        email: email.to_string(),
        password: password.to_string(),
        user_agent: None,
    })
}

fn refresh(token: &Value) -> IdentityRequest {
    IdentityRequest::Refresh(RefreshToken {
        refresh_token: text(token),
    })
}

fn verify(token: &impl ToString) -> IdentityRequest {
    IdentityRequest::VerifyEmail(VerifyEmail {
        token: token.to_string(),
    })
}

/// A JSON string's text (any other value as JSON).
fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

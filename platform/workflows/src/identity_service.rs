//! `agora.identity.*`: sign-up, sign-in and everything around passwords and sessions, over the
//! pure `Account` and `Session` aggregates, with the tables of migration `0006_identity.sql`
//! beside them.
//!
//! What this service owns and the aggregates cannot: password hashing (argon2id, on blocking
//! threads, a few at a time), random tokens (only their SHA-256 reaches an event), the email
//! and provider-identity lookups, the list of an account's sessions, and the mail outbox.
//! Order of writes: a lookup row or credential is written before the event that makes it
//! reachable (a row without its event is harmless), an outbox row right after the event that
//! issued its token (a crash in between loses that one mail; asking again sends another).
//!
//! Access tokens are built from the account as it is when they are issued (sign-in, and every
//! refresh): `sub` the account id, `roles` its roles, and for an account bound to a
//! marketplace vendor the `vendor` claim with the `vendor` role (added if the account lacks
//! it), so every service sees `Principal::Vendor`. An account bound to no vendor gets neither
//! (a `vendor` role it holds is left out: it means nothing without a vendor). A binding made
//! or ended reaches the next token, so within one access-token lifetime.
//!
//! The platform-only account commands are not this service's: the `account` service serves
//! one endpoint per [`AccountCommand`], so the vendor workflow binds and unbinds with
//! `agora.account.bind_vendor` / `agora.account.unbind_vendor` (a typed `Bus::send` of
//! `AccountCommand::BindVendor` / `UnbindVendor` as a `Principal::System`).

use std::sync::Arc;

use agora_auth::{
    check_password_policy, new_opaque_token, token_sha256, PasswordHasher, TokenKeys,
    ACCESS_TOKEN_TTL_SECS,
};
use agora_identity::{
    normalize_email, Account, AccountCommand, AccountId, AccountStatus, AccountView, IdentityError,
    RevokeReason, Role, Session, SessionCommand, SessionStatus, SessionView, TokenId,
};
use agora_kernel::{CommandId, Decider, DomainError, ErrorBody, ErrorKind, Principal};
use agora_nats::{codec, decode_command, CommandEnvelope, CommandReply, Handler, RequestContext};
use agora_runtime::{AggregateHost, EventStore};
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::identity_contract::*;

/// Lifetimes and the bootstrap admin, from configuration.
#[derive(Clone, Debug)]
pub struct IdentitySettings {
    /// An account whose email this is (normalized) becomes admin once the email is verified.
    pub bootstrap_admin_email: Option<String>,
    /// How long a refresh token can wait to be exchanged.
    pub refresh_ttl: TimeDelta,
    /// How long an email-verification link works.
    pub verification_ttl: TimeDelta,
    /// How long a password-reset link works.
    pub reset_ttl: TimeDelta,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            bootstrap_admin_email: None,
            refresh_ttl: TimeDelta::days(30),
            verification_ttl: TimeDelta::hours(48),
            reset_ttl: TimeDelta::hours(1),
        }
    }
}

/// Serves `agora.identity.<request>` ([`IdentityRequest`]).
pub struct IdentityService {
    accounts: AggregateHost<Account>,
    sessions: AggregateHost<Session>,
    pool: PgPool,
    /// Signs access tokens.
    keys: Arc<TokenKeys>,
    hasher: Arc<PasswordHasher>,
    settings: IdentitySettings,
    /// Each argon2id hash takes ~19 MiB and a core for tens of milliseconds: a burst of logins
    /// queues here instead of exhausting memory on the blocking pool.
    hash_slots: Arc<Semaphore>,
}

/// Which mail an outbox row asks for.
#[derive(Clone, Copy, Debug)]
enum Mail {
    VerifyEmail,
    PasswordReset,
}

impl Mail {
    fn kind(self) -> &'static str {
        match self {
            Mail::VerifyEmail => "verify_email",
            Mail::PasswordReset => "password_reset",
        }
    }
}

/// The envelope of a request without its body.
struct Request {
    aggregate_id: String,
    command_id: CommandId,
    principal: Principal,
}

fn system() -> Principal {
    Principal::system("identity")
}

/// The roles an access token carries: the account's, with `vendor` exactly when the account is
/// bound to a vendor (binding makes it a vendor's user whatever roles it holds, and the role
/// means nothing without a vendor). Sorted by name, as the account lists them.
fn token_roles(roles: &[Role], vendor: Option<&str>) -> Vec<String> {
    let mut roles: std::collections::BTreeSet<Role> = roles
        .iter()
        .copied()
        .filter(|r| *r != Role::Vendor)
        .collect();
    if vendor.is_some() {
        roles.insert(Role::Vendor);
    }
    roles.into_iter().map(|r| r.as_str().to_string()).collect()
}

fn db(e: sqlx::Error) -> ErrorBody {
    ErrorBody::unavailable(format!("identity tables: {e}"))
}

/// A token that cannot be ours, or names a stream that does not exist, is simply invalid:
/// nobody learns whether an account or session exists.
fn not_found_is_invalid_token(e: ErrorBody) -> ErrorBody {
    if e.code == IdentityError::NotFound.code() {
        IdentityError::InvalidToken.to_body()
    } else {
        e
    }
}

/// Whether an error proves the command was not applied (and never will be).
fn definitely_refused(e: &ErrorBody) -> bool {
    !matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal)
}

/// Runs `commands` against a fresh account as the platform, without IO: whatever the account
/// service would refuse is refused before anything is written.
fn dry_run(id: AccountId, commands: &[&AccountCommand]) -> Result<(), ErrorBody> {
    let mut account = Account::default();
    let id = id.to_string();
    for command in commands {
        let events = account
            .decide(&id, command, &system())
            .map_err(|e| e.to_body())?;
        for event in &events {
            account.evolve(event);
        }
    }
    Ok(())
}

impl IdentityService {
    pub fn new(
        accounts: AggregateHost<Account>,
        sessions: AggregateHost<Session>,
        pool: PgPool,
        keys: Arc<TokenKeys>,
        hasher: Arc<PasswordHasher>,
        settings: IdentitySettings,
    ) -> Self {
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        IdentityService {
            accounts,
            sessions,
            pool,
            keys,
            hasher,
            settings,
            hash_slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Runs password work on a blocking thread, a bounded number at a time.
    async fn with_hasher<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, ErrorBody> {
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|_| ErrorBody::unavailable("shutting down"))?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || work(&hasher))
            .await
            .map_err(|_| ErrorBody::internal("password hashing failed"))
    }

    async fn hash_password(&self, password: String) -> Result<String, ErrorBody> {
        self.with_hasher(move |h| h.hash(&password))
            .await?
            .map_err(|e| e.to_body())
    }

    /// Spends a verification's time and refuses: unknown emails answer like wrong passwords.
    async fn refuse_credentials<T>(&self, password: String) -> Result<T, ErrorBody> {
        self.with_hasher(move |h| h.verify_dummy(&password)).await?;
        Err(IdentityServiceError::InvalidCredentials.to_body())
    }

    async fn account(
        &self,
        id: AccountId,
        command_id: CommandId,
        by: Principal,
        command: AccountCommand,
        ctx: &RequestContext,
    ) -> Result<CommandReply<AccountView>, ErrorBody> {
        self.accounts
            .execute(
                CommandEnvelope {
                    aggregate_id: id.to_string(),
                    command_id,
                    principal: by,
                    command,
                },
                ctx.clone(),
            )
            .await
    }

    async fn session(
        &self,
        id: Uuid,
        command_id: CommandId,
        command: SessionCommand,
        ctx: &RequestContext,
    ) -> Result<CommandReply<SessionView>, ErrorBody> {
        self.sessions
            .execute(
                CommandEnvelope {
                    aggregate_id: id.to_string(),
                    command_id,
                    principal: system(),
                    command,
                },
                ctx.clone(),
            )
            .await
    }

    async fn read_account(
        &self,
        id: AccountId,
        ctx: &RequestContext,
    ) -> Result<Option<AccountView>, ErrorBody> {
        match self.accounts.read(&id.to_string(), system(), ctx).await {
            Ok(view) => Ok(Some(view)),
            Err(e) if e.code == IdentityError::NotFound.code() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A fresh one-time token naming `stream`, and its hash.
    fn new_token(stream: Uuid) -> (String, String) {
        let token = compose_token(stream, &new_opaque_token());
        let hash = token_sha256(&token);
        (token, hash)
    }

    async fn account_of_email(&self, email: &str) -> Result<Option<AccountId>, ErrorBody> {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT account_id FROM identity_emails WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        Ok(id.map(AccountId::from_uuid))
    }

    /// Claims `email` for `account`. Of concurrent claims exactly one inserts; a claim by the
    /// account that holds the email already (a retry) succeeds again.
    async fn reserve_email(&self, email: &str, account: AccountId) -> Result<(), ErrorBody> {
        sqlx::query(
            "INSERT INTO identity_emails (email, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(email)
        .bind(account.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        // A new statement sees a concurrent claim that won.
        match self.account_of_email(email).await? {
            Some(owner) if owner == account => Ok(()),
            Some(_) => Err(IdentityServiceError::EmailTaken.to_body()),
            // The account id holds another email: the command id was reused.
            None => Err(IdentityServiceError::CommandReused.to_body()),
        }
    }

    /// Undoes [`Self::reserve_email`] after the registration was refused for good.
    async fn release_email(&self, email: &str, account: AccountId) -> Result<(), ErrorBody> {
        sqlx::query("DELETE FROM identity_emails WHERE email = $1 AND account_id = $2")
            .bind(email)
            .bind(account.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM identity_credentials WHERE account_id = $1")
            .bind(account.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn store_password(&self, account: AccountId, phc: &str) -> Result<(), ErrorBody> {
        sqlx::query(
            "INSERT INTO identity_credentials (account_id, password_hash) VALUES ($1, $2)
             ON CONFLICT (account_id) DO UPDATE SET password_hash = $2, updated_at = now()",
        )
        .bind(account.as_uuid())
        .bind(phc)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn password_of(&self, account: AccountId) -> Result<Option<String>, ErrorBody> {
        let phc: Option<Option<String>> = sqlx::query_scalar(
            "SELECT password_hash FROM identity_credentials WHERE account_id = $1",
        )
        .bind(account.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(phc.flatten())
    }

    /// Queues the mail carrying `token`, issued by the account event at `sequence`.
    async fn mail(
        &self,
        account: AccountId,
        sequence: u64,
        mail: Mail,
        email: &str,
        token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), ErrorBody> {
        sqlx::query(
            "INSERT INTO identity_outbox (id, account_id, kind, email, token, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(outbox_id(account, sequence))
        .bind(account.as_uuid())
        .bind(mail.kind())
        .bind(email)
        .bind(token)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Grants admin to the configured bootstrap email once its owner proved the mailbox.
    async fn bootstrap_admin(
        &self,
        view: AccountView,
        ctx: &RequestContext,
    ) -> Result<AccountView, ErrorBody> {
        let wanted = self.settings.bootstrap_admin_email.as_deref() == Some(view.email.as_str())
            && view.email_verified
            && view.status == AccountStatus::Active
            && !view.roles.contains(&Role::Admin);
        if !wanted {
            return Ok(view);
        }
        let id: AccountId = view
            .id
            .parse()
            .map_err(|_| IdentityError::NotFound.to_body())?;
        tracing::warn!(account = %id, "granting admin to the bootstrap admin email");
        // One command id per account: an admin who was demoted later is not promoted again.
        let command_id = derived_command_id(CommandId::from_uuid(id.as_uuid()), "bootstrap-admin");
        let reply = self
            .account(
                id,
                command_id,
                system(),
                AccountCommand::GrantRole { role: Role::Admin },
                ctx,
            )
            .await?;
        Ok(reply.view)
    }

    /// Opens a session (refresh-token family) for `account` and signs its first tokens.
    async fn open_session(
        &self,
        account: &AccountView,
        command_id: CommandId,
        user_agent: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<CommandReply<TokenPair>, ErrorBody> {
        let account_id: AccountId = account
            .id
            .parse()
            .map_err(|_| ErrorBody::internal("account id is not a uuid"))?;
        // A fresh family per sign-in: a retried login opens another session, and the one whose
        // reply was lost expires unused (its refresh token was never handed out).
        let session_id = Uuid::new_v4();
        let (refresh_token, hash) = Self::new_token(session_id);
        let now = Utc::now();
        // Listed before it starts, so a revoke-all can never miss it.
        sqlx::query("INSERT INTO identity_sessions (session_id, account_id) VALUES ($1, $2)")
            .bind(session_id)
            .bind(account_id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        let started = self
            .session(
                session_id,
                command_id,
                SessionCommand::Start {
                    account_id,
                    token_id: TokenId::new_random(),
                    token_sha256: hash,
                    expires_at: now + self.settings.refresh_ttl,
                    user_agent: clean_user_agent(user_agent),
                    now,
                },
                ctx,
            )
            .await?;
        Ok(CommandReply {
            version: started.version,
            duplicate: false,
            view: self.token_pair(account_id, account, session_id, refresh_token, now),
        })
    }

    fn token_pair(
        &self,
        account_id: AccountId,
        account: &AccountView,
        session_id: Uuid,
        refresh_token: String,
        now: DateTime<Utc>,
    ) -> TokenPair {
        let vendor = account.vendor.clone();
        let roles = token_roles(&account.roles, vendor.as_deref());
        let claims = self
            .keys
            .new_claims(
                account_id.to_string(),
                roles.clone(),
                session_id.to_string(),
                now.timestamp(),
            )
            .with_vendor(vendor);
        TokenPair {
            access_token: self.keys.issue(&claims),
            token_type: "Bearer".into(),
            expires_in: ACCESS_TOKEN_TTL_SECS,
            refresh_token,
            account_id,
            roles,
            session_id,
        }
    }

    /// Ends every live session of `account` but `keep`.
    async fn revoke_sessions(
        &self,
        account: AccountId,
        keep: Option<Uuid>,
        cause: CommandId,
        ctx: &RequestContext,
    ) -> Result<(), ErrorBody> {
        let live: Vec<Uuid> = sqlx::query_scalar(
            "SELECT session_id FROM identity_sessions WHERE account_id = $1 AND revoked_at IS NULL",
        )
        .bind(account.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        for session_id in live.into_iter().filter(|id| Some(*id) != keep) {
            let revoked = self
                .session(
                    session_id,
                    derived_command_id(cause, &format!("revoke:{session_id}")),
                    SessionCommand::Revoke {
                        reason: RevokeReason::PasswordReset,
                        now: Utc::now(),
                    },
                    ctx,
                )
                .await;
            match revoked {
                Ok(_) => {}
                // Listed but never started (its start failed): nothing to end.
                Err(e) if e.code == IdentityError::NotFound.code() => {}
                Err(e) => return Err(e),
            }
            self.mark_revoked(session_id).await?;
        }
        Ok(())
    }

    async fn mark_revoked(&self, session_id: Uuid) -> Result<(), ErrorBody> {
        sqlx::query(
            "UPDATE identity_sessions SET revoked_at = now() WHERE session_id = $1 AND revoked_at IS NULL",
        )
        .bind(session_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn register(
        &self,
        request: &Request,
        req: Register,
        ctx: &RequestContext,
    ) -> Result<CommandReply<AccountView>, ErrorBody> {
        let email = normalize_email(&req.email).map_err(|e| e.to_body())?;
        check_password_policy(&req.password, &email).map_err(|e| e.to_body())?;
        let account_id = registered_account_id(request.command_id);
        let display_name = req
            .display_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| default_display_name(&email));
        let now = Utc::now();
        let (token, hash) = Self::new_token(account_id.as_uuid());
        let expires_at = now + self.settings.verification_ttl;
        let register = AccountCommand::Register {
            email: email.clone(),
            display_name,
            password_set: true,
            verification_token_sha256: hash,
            verification_expires_at: expires_at,
            now,
        };
        let profile = req.phone.map(|phone| AccountCommand::UpdateProfile {
            display_name: None,
            phone: Some(phone),
            marketing_opt_in: None,
        });
        let mut planned = vec![&register];
        planned.extend(profile.as_ref());
        dry_run(account_id, &planned)?;
        let phc = self.hash_password(req.password).await?;
        self.reserve_email(&email, account_id).await?;
        // Nobody can sign in before the account is registered, so the hash may come first. A
        // retry keeps the first attempt's hash.
        sqlx::query(
            "INSERT INTO identity_credentials (account_id, password_hash) VALUES ($1, $2)
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account_id.as_uuid())
        .bind(&phc)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let registered = match self
            .account(account_id, request.command_id, system(), register, ctx)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                if definitely_refused(&e) {
                    self.release_email(&email, account_id).await?;
                }
                return Err(e);
            }
        };
        if !registered.duplicate {
            // `Register` ends with `VerificationIssued`: the reply's version is its sequence.
            self.mail(
                account_id,
                registered.version,
                Mail::VerifyEmail,
                &email,
                &token,
                expires_at,
            )
            .await?;
        }
        let Some(profile) = profile else {
            return Ok(registered);
        };
        let updated = self
            .account(
                account_id,
                derived_command_id(request.command_id, "profile"),
                system(),
                profile,
                ctx,
            )
            .await?;
        Ok(CommandReply {
            duplicate: registered.duplicate,
            ..updated
        })
    }

    /// The account `email` and `password` sign in to, or `auth.invalid_credentials` after the
    /// same amount of work whatever was wrong.
    async fn check_credentials(
        &self,
        email: &str,
        password: String,
        ctx: &RequestContext,
    ) -> Result<AccountView, ErrorBody> {
        let Ok(email) = normalize_email(email) else {
            return self.refuse_credentials(password).await;
        };
        // One query whatever is missing, so the database time does not tell either.
        let found: Option<(Uuid, Option<String>)> = sqlx::query_as(
            "SELECT e.account_id, c.password_hash FROM identity_emails e
             LEFT JOIN identity_credentials c USING (account_id) WHERE e.email = $1",
        )
        .bind(&email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some((account_id, Some(phc))) = found else {
            return self.refuse_credentials(password).await;
        };
        let account_id = AccountId::from_uuid(account_id);
        let stored = phc.clone();
        let (ok, rehashed) = self
            .with_hasher(move |h| {
                if !h.verify(&password, &stored) {
                    return (false, None);
                }
                let rehashed = h
                    .needs_rehash(&stored)
                    .then(|| h.hash(&password).ok())
                    .flatten();
                (true, rehashed)
            })
            .await?;
        if !ok {
            return Err(IdentityServiceError::InvalidCredentials.to_body());
        }
        let view = match self.read_account(account_id, ctx).await? {
            Some(view) if view.status == AccountStatus::Active => view,
            // Closed (or never registered): the same answer as a wrong password.
            _ => return Err(IdentityServiceError::InvalidCredentials.to_body()),
        };
        if let Some(new) = rehashed {
            // Only if nobody changed the password meanwhile.
            sqlx::query(
                "UPDATE identity_credentials SET password_hash = $3, updated_at = now()
                 WHERE account_id = $1 AND password_hash = $2",
            )
            .bind(account_id.as_uuid())
            .bind(&phc)
            .bind(&new)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        }
        Ok(view)
    }

    async fn login(
        &self,
        request: &Request,
        req: Login,
        ctx: &RequestContext,
    ) -> Result<CommandReply<TokenPair>, ErrorBody> {
        let view = self
            .check_credentials(&req.email, req.password, ctx)
            .await?;
        let view = self.bootstrap_admin(view, ctx).await?;
        self.open_session(&view, request.command_id, req.user_agent.as_deref(), ctx)
            .await
    }

    async fn refresh(
        &self,
        request: &Request,
        req: RefreshToken,
        ctx: &RequestContext,
    ) -> Result<CommandReply<TokenPair>, ErrorBody> {
        let session_id = token_stream(&req.refresh_token)
            .ok_or_else(|| IdentityError::InvalidToken.to_body())?;
        let (refresh_token, hash) = Self::new_token(session_id);
        let now = Utc::now();
        let rotated = self
            .session(
                session_id,
                request.command_id,
                SessionCommand::Rotate {
                    presented_sha256: token_sha256(&req.refresh_token),
                    new_token_id: TokenId::new_random(),
                    new_token_sha256: hash,
                    new_expires_at: now + self.settings.refresh_ttl,
                    now,
                },
                ctx,
            )
            .await
            .map_err(not_found_is_invalid_token)?;
        if rotated.duplicate {
            return Err(IdentityServiceError::RefreshReplayed.to_body());
        }
        if rotated.view.status == SessionStatus::Revoked {
            // The aggregate saw a rotated token again and revoked the whole family.
            self.mark_revoked(session_id).await?;
            tracing::warn!(session = %session_id, "refresh token reused; session revoked");
            return Err(IdentityServiceError::RefreshTokenReused.to_body());
        }
        let account_id = rotated
            .view
            .account_id
            .ok_or_else(|| ErrorBody::internal("an active session without an account"))?;
        let account = match self.read_account(account_id, ctx).await? {
            Some(view) if view.status == AccountStatus::Active => view,
            _ => {
                // The account was closed: its sessions end now.
                self.session(
                    session_id,
                    derived_command_id(request.command_id, "account-closed"),
                    SessionCommand::Revoke {
                        reason: RevokeReason::Admin,
                        now,
                    },
                    ctx,
                )
                .await?;
                self.mark_revoked(session_id).await?;
                return Err(IdentityError::SessionRevoked.to_body());
            }
        };
        Ok(CommandReply {
            version: rotated.version,
            duplicate: false,
            view: self.token_pair(account_id, &account, session_id, refresh_token, now),
        })
    }

    async fn logout(
        &self,
        request: &Request,
        req: RefreshToken,
        ctx: &RequestContext,
    ) -> Result<CommandReply<Ack>, ErrorBody> {
        let session_id = token_stream(&req.refresh_token)
            .ok_or_else(|| IdentityError::InvalidToken.to_body())?;
        // Only a holder of one of the family's tokens may end it: the verdict needs the token
        // hashes, which only the folded state holds (never a view).
        let events = EventStore::new(self.pool.clone())
            .range(Session::TYPE, &session_id.to_string(), 0, u64::MAX)
            .await
            .map_err(|e| ErrorBody::unavailable(format!("load session: {e}")))?;
        let (state, version, _) = agora_runtime::fold::<Session>(&events)?;
        let verdict = state.check_rotation(&token_sha256(&req.refresh_token), Utc::now());
        use agora_identity::RotationVerdict as V;
        let reply = match verdict {
            V::Unknown => return Err(IdentityError::InvalidToken.to_body()),
            // Already over: logging out twice is fine.
            V::Revoked => CommandReply {
                version,
                duplicate: true,
                view: Ack {},
            },
            V::Rotate | V::Expired | V::ReuseDetected => {
                let revoked = self
                    .session(
                        session_id,
                        request.command_id,
                        SessionCommand::Revoke {
                            reason: RevokeReason::Logout,
                            now: Utc::now(),
                        },
                        ctx,
                    )
                    .await?;
                CommandReply {
                    version: revoked.version,
                    duplicate: revoked.duplicate,
                    view: Ack {},
                }
            }
        };
        self.mark_revoked(session_id).await?;
        Ok(reply)
    }

    async fn verify_email(
        &self,
        request: &Request,
        req: VerifyEmail,
        ctx: &RequestContext,
    ) -> Result<CommandReply<AccountView>, ErrorBody> {
        let account_id = token_stream(&req.token)
            .map(AccountId::from_uuid)
            .ok_or_else(|| IdentityError::InvalidToken.to_body())?;
        let verified = self
            .account(
                account_id,
                request.command_id,
                system(),
                AccountCommand::VerifyEmail {
                    token_sha256: token_sha256(&req.token),
                    now: Utc::now(),
                },
                ctx,
            )
            .await
            .map_err(not_found_is_invalid_token)?;
        let view = self.bootstrap_admin(verified.view, ctx).await?;
        Ok(CommandReply {
            version: view.version,
            duplicate: verified.duplicate,
            view,
        })
    }

    async fn request_password_reset(
        &self,
        request: &Request,
        req: RequestPasswordReset,
        ctx: &RequestContext,
    ) -> Result<CommandReply<Ack>, ErrorBody> {
        let email = normalize_email(&req.email).map_err(|e| e.to_body())?;
        let same_answer = CommandReply {
            version: 0,
            duplicate: false,
            view: Ack {},
        };
        let Some(account_id) = self.account_of_email(&email).await? else {
            return Ok(same_answer);
        };
        match self.read_account(account_id, ctx).await? {
            Some(view) if view.status == AccountStatus::Active => {}
            _ => return Ok(same_answer),
        }
        let (token, hash) = Self::new_token(account_id.as_uuid());
        let now = Utc::now();
        let expires_at = now + self.settings.reset_ttl;
        let requested = self
            .account(
                account_id,
                request.command_id,
                system(),
                AccountCommand::RequestPasswordReset {
                    token_sha256: hash,
                    expires_at,
                    now,
                },
                ctx,
            )
            .await?;
        // A repeated request recorded nothing new: this token is not the account's.
        if !requested.duplicate {
            self.mail(
                account_id,
                requested.version,
                Mail::PasswordReset,
                &email,
                &token,
                expires_at,
            )
            .await?;
        }
        Ok(same_answer)
    }

    async fn resend_verification(
        &self,
        request: &Request,
        req: ResendVerification,
        ctx: &RequestContext,
    ) -> Result<CommandReply<Ack>, ErrorBody> {
        let email = normalize_email(&req.email).map_err(|e| e.to_body())?;
        let same_answer = CommandReply {
            version: 0,
            duplicate: false,
            view: Ack {},
        };
        let Some(account_id) = self.account_of_email(&email).await? else {
            return Ok(same_answer);
        };
        let before = match self.read_account(account_id, ctx).await? {
            Some(view) if view.status == AccountStatus::Active && !view.email_verified => {
                view.version
            }
            _ => return Ok(same_answer),
        };
        let (token, hash) = Self::new_token(account_id.as_uuid());
        let now = Utc::now();
        let expires_at = now + self.settings.verification_ttl;
        let issued = self
            .account(
                account_id,
                request.command_id,
                system(),
                AccountCommand::IssueVerification {
                    token_sha256: hash,
                    expires_at,
                    now,
                },
                ctx,
            )
            .await?;
        // A repeated request, or an email verified in the meantime, recorded nothing new: this
        // token is not the account's, so it is not mailed.
        if !issued.duplicate && issued.version > before {
            self.mail(
                account_id,
                issued.version,
                Mail::VerifyEmail,
                &email,
                &token,
                expires_at,
            )
            .await?;
        }
        Ok(same_answer)
    }

    async fn reset_password(
        &self,
        request: &Request,
        req: ResetPassword,
        ctx: &RequestContext,
    ) -> Result<CommandReply<Ack>, ErrorBody> {
        let account_id = token_stream(&req.token)
            .map(AccountId::from_uuid)
            .ok_or_else(|| IdentityError::InvalidToken.to_body())?;
        let view = match self.read_account(account_id, ctx).await? {
            Some(view) if view.status == AccountStatus::Active => view,
            _ => return Err(IdentityError::InvalidToken.to_body()),
        };
        check_password_policy(&req.new_password, &view.email).map_err(|e| e.to_body())?;
        let phc = self.hash_password(req.new_password).await?;
        let reset = self
            .account(
                account_id,
                request.command_id,
                system(),
                AccountCommand::ResetPassword {
                    token_sha256: token_sha256(&req.token),
                    now: Utc::now(),
                },
                ctx,
            )
            .await
            .map_err(not_found_is_invalid_token)?;
        // Also on a repeat: the first attempt may have stopped right after the event.
        self.store_password(account_id, &phc).await?;
        self.revoke_sessions(account_id, None, request.command_id, ctx)
            .await?;
        Ok(CommandReply {
            version: reset.version,
            duplicate: reset.duplicate,
            view: Ack {},
        })
    }

    async fn change_password(
        &self,
        request: &Request,
        req: ChangePassword,
        ctx: &RequestContext,
    ) -> Result<CommandReply<AccountView>, ErrorBody> {
        let account_id: AccountId = request
            .aggregate_id
            .parse()
            .map_err(|_| IdentityError::NotFound.to_body())?;
        let is_owner = match &request.principal {
            Principal::Customer { id } => id.as_uuid() == account_id.as_uuid(),
            Principal::Staff { id, .. } | Principal::Vendor { id, .. } => {
                Uuid::parse_str(id).is_ok_and(|id| id == account_id.as_uuid())
            }
            Principal::Guest { .. } | Principal::System { .. } => false,
        };
        if !is_owner {
            return Err(IdentityError::NotFound.to_body());
        }
        // The owner's read: a closed account is not found.
        let view = self
            .accounts
            .read(&account_id.to_string(), request.principal.clone(), ctx)
            .await?;
        let Some(phc) = self.password_of(account_id).await? else {
            return self.refuse_credentials(req.current_password).await;
        };
        let current = req.current_password;
        let ok = self.with_hasher(move |h| h.verify(&current, &phc)).await?;
        if !ok {
            return Err(IdentityServiceError::InvalidCredentials.to_body());
        }
        check_password_policy(&req.new_password, &view.email).map_err(|e| e.to_body())?;
        let new = self.hash_password(req.new_password).await?;
        let changed = self
            .account(
                account_id,
                request.command_id,
                request.principal.clone(),
                AccountCommand::ChangePassword { now: Utc::now() },
                ctx,
            )
            .await?;
        self.store_password(account_id, &new).await?;
        self.revoke_sessions(account_id, req.keep_session, request.command_id, ctx)
            .await?;
        Ok(changed)
    }

    async fn oidc_login(
        &self,
        request: &Request,
        req: OidcLogin,
        ctx: &RequestContext,
    ) -> Result<CommandReply<TokenPair>, ErrorBody> {
        // Only the edge, having verified the provider's id token, may vouch for an identity.
        if !matches!(request.principal, Principal::System { .. }) {
            return Err(IdentityError::Forbidden.to_body());
        }
        let now = Utc::now();
        let link = AccountCommand::LinkIdentity {
            provider: req.provider.clone(),
            subject: req.subject.clone(),
            email_verified: req.email_verified,
            now,
        };
        let linked: Option<Uuid> = sqlx::query_scalar(
            "SELECT account_id FROM identity_oidc_links WHERE provider = $1 AND subject = $2",
        )
        .bind(&req.provider)
        .bind(&req.subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let account_id = match linked {
            Some(id) => AccountId::from_uuid(id),
            None => self.link_or_register(request, &req, link, ctx).await?,
        };
        let view = match self.read_account(account_id, ctx).await? {
            Some(view) if view.status == AccountStatus::Active => view,
            _ => return Err(IdentityServiceError::InvalidCredentials.to_body()),
        };
        let view = self.bootstrap_admin(view, ctx).await?;
        self.open_session(
            &view,
            derived_command_id(request.command_id, "session"),
            req.user_agent.as_deref(),
            ctx,
        )
        .await
    }

    /// A provider identity seen for the first time: linked to the account with its verified
    /// email, or given a new account (without a password).
    async fn link_or_register(
        &self,
        request: &Request,
        req: &OidcLogin,
        link: AccountCommand,
        ctx: &RequestContext,
    ) -> Result<AccountId, ErrorBody> {
        let email = normalize_email(&req.email).map_err(|e| e.to_body())?;
        let now = Utc::now();
        let account_id = match self.account_of_email(&email).await? {
            Some(existing) => {
                // Linking on an unverified email would hand the account to whoever typed it.
                if !req.email_verified {
                    return Err(IdentityServiceError::EmailTaken.to_body());
                }
                self.account(
                    existing,
                    derived_command_id(request.command_id, "link"),
                    system(),
                    link,
                    ctx,
                )
                .await
                .map_err(|e| {
                    if e.code == IdentityError::NotFound.code() {
                        IdentityServiceError::InvalidCredentials.to_body()
                    } else {
                        e
                    }
                })?;
                existing
            }
            None => {
                let account_id = provider_account_id(&req.provider, &req.subject);
                let (token, hash) = Self::new_token(account_id.as_uuid());
                let expires_at = now + self.settings.verification_ttl;
                let register = AccountCommand::Register {
                    email: email.clone(),
                    display_name: default_display_name(&email),
                    password_set: false,
                    verification_token_sha256: hash,
                    verification_expires_at: expires_at,
                    now,
                };
                dry_run(account_id, &[&register, &link])?;
                self.reserve_email(&email, account_id).await?;
                // Ids derived from the identity: concurrent first sign-ins make one account.
                let cause = CommandId::from_uuid(account_id.as_uuid());
                let registered = match self
                    .account(
                        account_id,
                        derived_command_id(cause, "oidc-register"),
                        system(),
                        register,
                        ctx,
                    )
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        if definitely_refused(&e) {
                            self.release_email(&email, account_id).await?;
                        }
                        return Err(e);
                    }
                };
                if !registered.duplicate && !req.email_verified {
                    self.mail(
                        account_id,
                        registered.version,
                        Mail::VerifyEmail,
                        &email,
                        &token,
                        expires_at,
                    )
                    .await?;
                }
                self.account(
                    account_id,
                    derived_command_id(cause, "oidc-link"),
                    system(),
                    link,
                    ctx,
                )
                .await?;
                account_id
            }
        };
        sqlx::query(
            "INSERT INTO identity_oidc_links (provider, subject, account_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(&req.provider)
        .bind(&req.subject)
        .bind(account_id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(account_id)
    }
}

impl Handler for IdentityService {
    async fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        let raw = decode_command::<Identity>(endpoint, &payload)?;
        let request = Request {
            aggregate_id: raw.aggregate_id,
            command_id: raw.command_id,
            principal: raw.principal,
        };
        let (r, ctx) = (&request, &ctx);
        // Each request is the method of the same name.
        Ok(match raw.command {
            IdentityRequest::Register(q) => codec::encode(&self.register(r, q, ctx).await?),
            IdentityRequest::Login(q) => codec::encode(&self.login(r, q, ctx).await?),
            IdentityRequest::Refresh(q) => codec::encode(&self.refresh(r, q, ctx).await?),
            IdentityRequest::Logout(q) => codec::encode(&self.logout(r, q, ctx).await?),
            IdentityRequest::VerifyEmail(q) => codec::encode(&self.verify_email(r, q, ctx).await?),
            IdentityRequest::RequestPasswordReset(q) => {
                codec::encode(&self.request_password_reset(r, q, ctx).await?)
            }
            IdentityRequest::ResendVerification(q) => {
                codec::encode(&self.resend_verification(r, q, ctx).await?)
            }
            IdentityRequest::ResetPassword(q) => {
                codec::encode(&self.reset_password(r, q, ctx).await?)
            }
            IdentityRequest::ChangePassword(q) => {
                codec::encode(&self.change_password(r, q, ctx).await?)
            }
            IdentityRequest::OidcLogin(q) => codec::encode(&self.oidc_login(r, q, ctx).await?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VENDOR: &str = "c4a1e2b3-7d5f-4e6a-9b8c-0d1e2f3a4b5c";

    #[test]
    fn a_bound_accounts_token_carries_the_vendor_role() {
        assert_eq!(
            token_roles(&[Role::Customer], Some(VENDOR)),
            ["customer", "vendor"]
        );
        assert_eq!(
            token_roles(&[Role::Customer, Role::Vendor], Some(VENDOR)),
            ["customer", "vendor"]
        );
        assert_eq!(
            token_roles(&[Role::Admin, Role::Customer], Some(VENDOR)),
            ["admin", "customer", "vendor"]
        );
    }

    #[test]
    fn an_unbound_accounts_token_drops_the_vendor_role() {
        assert_eq!(
            token_roles(&[Role::Customer, Role::Vendor], None),
            ["customer"]
        );
        assert_eq!(token_roles(&[Role::Vendor], None), Vec::<String>::new());
        assert_eq!(
            token_roles(&[Role::Auditor, Role::Customer, Role::Staff], None),
            ["auditor", "customer", "staff"]
        );
    }

    #[test]
    fn issued_claims_make_a_bound_account_a_vendor_principal() {
        let keys = agora_auth::TokenKeys::new(
            "https://agora.test",
            "agora-api",
            agora_auth::HmacKey::generate("k1").expect("key"),
            vec![],
        )
        .expect("keys");
        let account = "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69";
        let issue = |roles: &[Role], vendor: Option<&str>| {
            let claims = keys
                .new_claims(
                    account,
                    token_roles(roles, vendor),
                    "session",
                    1_800_000_000,
                )
                .with_vendor(vendor.map(str::to_string));
            keys.verify(&keys.issue(&claims), 1_800_000_000)
                .expect("verifies")
                .principal()
        };
        assert_eq!(
            issue(&[Role::Customer], Some(VENDOR)),
            Ok(Principal::Vendor {
                id: account.into(),
                vendor: VENDOR.into(),
            })
        );
        assert_eq!(
            issue(&[Role::Customer, Role::Vendor], None),
            Ok(Principal::Customer {
                id: account.parse().expect("a uuid"),
            })
        );
        assert_eq!(
            issue(&[Role::Staff], Some(VENDOR)),
            Ok(Principal::Staff {
                id: account.into(),
                role: "staff".into(),
            })
        );
    }
}

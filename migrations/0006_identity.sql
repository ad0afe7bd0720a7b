-- Identity's tables beside its event streams (`account`, `session`). The aggregates decide;
-- these tables hold what an aggregate cannot: lookups across streams (an email or a provider
-- identity to its account, an account to its sessions), the password hashes, and the mails the
-- notifier still has to send. Passwords and raw tokens never reach an event.

-- One row per registered email (normalized: trimmed, lower case). The primary key makes
-- registration race-safe: of two registrations of one email, exactly one inserts its row. The
-- account id is derived from the registering command's id, so a retry of the same command finds
-- its own row again.
CREATE TABLE IF NOT EXISTS identity_emails
(
    email      text PRIMARY KEY,
    account_id uuid        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The argon2id PHC string of each account's password; NULL (or no row) for an account created
-- by a provider sign-in until it resets a password. Written only after the account event that
-- allows it (`AccountRegistered`, `PasswordReset`, `PasswordChanged`) or a rehash at login.
CREATE TABLE IF NOT EXISTS identity_credentials
(
    account_id    uuid PRIMARY KEY,
    password_hash text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The sessions (refresh-token families) of each account, so that a password reset or change can
-- revoke them all. The `session` stream is the truth; `revoked_at` only spares a revoke-all the
-- families already known to be over.
CREATE TABLE IF NOT EXISTS identity_sessions
(
    session_id uuid PRIMARY KEY,
    account_id uuid        NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS identity_sessions_live ON identity_sessions (account_id) WHERE revoked_at IS NULL;

-- Provider identities (OpenID Connect `iss`/provider name and `sub`) linked to accounts. The
-- account's `IdentityLinked` event is the record; this row is the lookup, and its primary key
-- makes one identity belong to one account.
CREATE TABLE IF NOT EXISTS identity_oidc_links
(
    provider   text        NOT NULL,
    subject    text        NOT NULL,
    account_id uuid        NOT NULL,
    linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);

-- Mails to send: email verification and password reset links. The identity service inserts a
-- row right after the account event that issued the token is committed; `id` is a UUID v5 of
-- that event (`agora:account/<account id>/<sequence>`), so a repeated insert does nothing. The
-- raw token lives only here, only until the notifier mailed it and set it NULL.
CREATE TABLE IF NOT EXISTS identity_outbox
(
    id         uuid PRIMARY KEY,
    account_id uuid        NOT NULL,
    -- 'verify_email' | 'password_reset'
    kind       text        NOT NULL CHECK (kind IN ('verify_email', 'password_reset')),
    email      text        NOT NULL,
    token      text,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX IF NOT EXISTS identity_outbox_unsent ON identity_outbox (created_at) WHERE sent_at IS NULL;

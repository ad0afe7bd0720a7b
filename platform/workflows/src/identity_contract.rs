//! Request and reply bodies of the identity service (`agora.identity.<endpoint>`), shared with
//! the edge, and the service's pure helpers: the token format, derived ids and its own error
//! codes.
//!
//! Every request is a [`CommandEnvelope`](agora_nats::CommandEnvelope) whose `command` holds one
//! of the bodies below; every reply a [`CommandReply`](agora_nats::CommandReply). Bodies that
//! carry a password or a token deliberately have no `Debug`, so they cannot end up in a log.

use agora_identity::{AccountId, AccountView};
use agora_kernel::{CommandId, DomainError, ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A request to the identity service (`agora.identity.<request>`). Each variant names the
/// method of [`crate::IdentityService`] that answers it; replies differ per request (below).
#[derive(Clone, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum IdentityRequest {
    Register(Register),
    Login(Login),
    Refresh(RefreshToken),
    Logout(RefreshToken),
    VerifyEmail(VerifyEmail),
    RequestPasswordReset(RequestPasswordReset),
    ResendVerification(ResendVerification),
    ResetPassword(ResetPassword),
    ChangePassword(ChangePassword),
    OidcLogin(OidcLogin),
}

/// The identity service: sign-up, sign-in and credentials over the `account` and `session`
/// aggregates. It has no view of its own (`get` is the account's and the session's).
pub struct Identity;

agora_kernel::contract!(Identity {
    service: "identity",
    description: "Sign-up, sign-in, sessions, email verification and passwords",
    readable: false,
    command: IdentityRequest,
    view: Ack,
});

/// `agora.identity.register` → `CommandReply<AccountView>`. The envelope's aggregate id is
/// ignored: the account id is derived from the command id, so a retry finds the same account.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub email: String,
    pub password: String,
    /// Defaults to the email's local part.
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// `agora.identity.login` → `CommandReply<TokenPair>`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
    /// Kept with the session (trimmed to 256 characters, control characters dropped).
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// `agora.identity.refresh` → `CommandReply<TokenPair>` and `agora.identity.logout` →
/// `CommandReply<Ack>`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshToken {
    pub refresh_token: String,
}

/// `agora.identity.verify_email` → `CommandReply<AccountView>`: the token from the mail.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmail {
    pub token: String,
}

/// `agora.identity.request_password_reset` → `CommandReply<Ack>`, the same whether or not an
/// account has this email.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestPasswordReset {
    pub email: String,
}

/// `agora.identity.resend_verification` → `CommandReply<Ack>`: mails a new verification link
/// (the previous one stops working) when an active, unverified account has this email. The
/// answer is the same whether or not one has, so it tells nobody which emails have accounts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendVerification {
    pub email: String,
}

/// `agora.identity.reset_password` → `CommandReply<Ack>`; revokes every session of the account.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub token: String,
    pub new_password: String,
}

/// `agora.identity.change_password` → `CommandReply<AccountView>`. The envelope's aggregate id
/// is the account id and its principal must be that account's own user. Every other session of
/// the account is revoked.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
    /// The session to keep (the `sid` of the caller's access token); unset, every session ends.
    #[serde(default)]
    pub keep_session: Option<Uuid>,
}

/// `agora.identity.oidc_login` → `CommandReply<TokenPair>`: sent by the edge, as a
/// `Principal::System`, after it verified the provider's id token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcLogin {
    /// The provider's name or issuer URL.
    pub provider: String,
    /// The provider's stable user id (`sub`).
    pub subject: String,
    pub email: String,
    /// Whether the provider vouches for the email (`email_verified`); only then is an existing
    /// account with that email linked.
    pub email_verified: bool,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// A signed-in session's credentials (RFC 6749 §5.1 names, plus who signed in).
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenPair {
    /// HS256 JWT, valid for `expires_in` seconds.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
    /// Opaque, single use: `refresh` exchanges it for a new pair.
    pub refresh_token: String,
    pub account_id: AccountId,
    pub roles: Vec<String>,
    /// The session (refresh-token family), also the access token's `sid`.
    pub session_id: Uuid,
}

/// The view of endpoints that tell nothing (`logout`, `request_password_reset`,
/// `reset_password`): `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {}

/// An account as `register`, `verify_email` and `change_password` answer it.
pub type AccountReply = agora_nats::CommandReply<AccountView>;

/// The identity service's own refusals (the aggregates' are `identity.*`, the password
/// policy's `auth.password_*`). Codes are stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityServiceError {
    #[error("an account with this email exists already")]
    EmailTaken,
    /// Unknown email, wrong password, closed account: one answer, so nobody learns which.
    #[error("the email or password is wrong")]
    InvalidCredentials,
    /// A refresh token that was already exchanged was presented: the session is revoked.
    #[error("this refresh token was used already; the session is revoked, sign in again")]
    RefreshTokenReused,
    /// The same refresh command (same command id) came again: its new token was handed out
    /// once and cannot be handed out again.
    #[error("this refresh was done already; use the token it returned, or sign in again")]
    RefreshReplayed,
    /// A command id reused for a registration of another email.
    #[error("this command id was used for another registration")]
    CommandReused,
}

impl DomainError for IdentityServiceError {
    fn code(&self) -> &'static str {
        match self {
            IdentityServiceError::EmailTaken => "identity.email_taken",
            IdentityServiceError::InvalidCredentials => "auth.invalid_credentials",
            IdentityServiceError::RefreshTokenReused => "auth.refresh_token_reused",
            IdentityServiceError::RefreshReplayed => "identity.refresh_replayed",
            IdentityServiceError::CommandReused => "identity.command_reused",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            IdentityServiceError::EmailTaken
            | IdentityServiceError::RefreshReplayed
            | IdentityServiceError::CommandReused => ErrorKind::Conflict,
            IdentityServiceError::InvalidCredentials | IdentityServiceError::RefreshTokenReused => {
                ErrorKind::Unauthenticated
            }
        }
    }
}

/// Characters of the secret part of a token: 32 random bytes in base64url without padding.
const SECRET_CHARS: usize = 43;

/// A token that names the stream it belongs to: `<uuid>.<secret>`. Refresh tokens name their
/// session, verification and reset tokens their account, so no table maps tokens to streams;
/// only the SHA-256 of the whole token is stored (in the stream's events).
pub fn compose_token(stream: Uuid, secret: &str) -> String {
    format!("{}.{secret}", stream.hyphenated())
}

/// The stream a token names, if it has the shape [`compose_token`] gives; anything else is not
/// one of our tokens.
pub fn token_stream(token: &str) -> Option<Uuid> {
    let (id, secret) = token.split_once('.')?;
    let well_formed = id.len() == 36
        && secret.len() == SECRET_CHARS
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return None;
    }
    Uuid::parse_str(id).ok()
}

fn v5(name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes())
}

/// The account a `register` command creates: the same for every retry of that command.
pub fn registered_account_id(command_id: CommandId) -> AccountId {
    AccountId::from_uuid(v5(&format!("agora:identity:register:{command_id}")))
}

/// The account a first sign-in with a provider identity creates: the same for every sign-in
/// with that identity, so two concurrent first sign-ins create one account.
pub fn provider_account_id(provider: &str, subject: &str) -> AccountId {
    // Length-prefixed, so no provider/subject pair can collide with another.
    AccountId::from_uuid(v5(&format!(
        "agora:identity:oidc:{}:{provider}:{subject}",
        provider.len()
    )))
}

/// The command id of step `step` taken on behalf of command `cause`: the same on every retry.
pub fn derived_command_id(cause: CommandId, step: &str) -> CommandId {
    CommandId::from_uuid(v5(&format!("agora:identity:{cause}:{step}")))
}

/// The id of the outbox row for the account event at `sequence` that issued a token.
pub fn outbox_id(account: AccountId, sequence: u64) -> Uuid {
    v5(&format!("agora:account/{account}/{sequence}"))
}

/// A display name for an account that did not give one: the email's local part.
pub fn default_display_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email).trim();
    let name: String = local
        .chars()
        .filter(|c| !c.is_control())
        .take(agora_identity::MAX_DISPLAY_NAME_CHARS)
        .collect();
    if name.is_empty() {
        "customer".into()
    } else {
        name
    }
}

/// A user agent as it is kept with a session: informational, so cleaned rather than refused.
pub fn clean_user_agent(user_agent: Option<&str>) -> Option<String> {
    let cleaned: String = user_agent?
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(agora_identity::MAX_USER_AGENT_CHARS)
        .collect();
    let cleaned = cleaned.trim().to_string();
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdefghijABCDEFGHIJ-_0123456789x";

    #[test]
    fn a_composed_token_names_its_stream() {
        let id = Uuid::from_u128(7);
        assert_eq!(SECRET.len(), SECRET_CHARS);
        assert_eq!(token_stream(&compose_token(id, SECRET)), Some(id));
    }

    #[test]
    fn anything_but_a_composed_token_names_no_stream() {
        let id = Uuid::from_u128(7).hyphenated().to_string();
        for bad in [
            String::new(),
            "garbage".into(),
            format!("{id}."),
            format!("{id}.{}", &SECRET[1..]),
            format!("{id}.{SECRET}x"),
            format!("{id}.{}", SECRET.replace('-', "+")),
            format!("{}.{SECRET}", Uuid::from_u128(7).simple()),
            format!("not-a-uuid-but-thirty-six-characters.{SECRET}"),
            format!("{id}{SECRET}"),
        ] {
            assert_eq!(token_stream(&bad), None, "{bad}");
        }
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = CommandId::from_uuid(Uuid::from_u128(1));
        let b = CommandId::from_uuid(Uuid::from_u128(2));
        assert_eq!(registered_account_id(a), registered_account_id(a));
        assert_ne!(registered_account_id(a), registered_account_id(b));
        assert_eq!(derived_command_id(a, "x"), derived_command_id(a, "x"));
        assert_ne!(derived_command_id(a, "x"), derived_command_id(a, "y"));
        assert_ne!(derived_command_id(a, "x"), derived_command_id(b, "x"));
        let account = registered_account_id(a);
        assert_eq!(outbox_id(account, 2), outbox_id(account, 2));
        assert_ne!(outbox_id(account, 2), outbox_id(account, 3));
    }

    #[test]
    fn provider_identities_cannot_collide_by_shifting_the_separator() {
        assert_eq!(
            provider_account_id("google", "42"),
            provider_account_id("google", "42")
        );
        assert_ne!(
            provider_account_id("a:b", "c"),
            provider_account_id("a", "b:c")
        );
    }

    #[test]
    fn the_default_display_name_is_the_local_part() {
        assert_eq!(default_display_name("ada@example.com"), "ada");
        assert_eq!(default_display_name("@example.com"), "customer");
    }

    #[test]
    fn a_user_agent_is_cleaned_and_capped() {
        assert_eq!(clean_user_agent(None), None);
        assert_eq!(clean_user_agent(Some("  ")), None);
        assert_eq!(
            clean_user_agent(Some(" curl/8\u{7}.0 ")),
            Some("curl/8.0".into())
        );
        let long = "x".repeat(1000);
        assert_eq!(
            clean_user_agent(Some(&long)).map(|s| s.chars().count()),
            Some(agora_identity::MAX_USER_AGENT_CHARS)
        );
    }

    #[test]
    fn every_service_code_is_unique_and_of_the_documented_kind() {
        use IdentityServiceError::*;
        let all = [
            (EmailTaken, "identity.email_taken", ErrorKind::Conflict),
            (
                InvalidCredentials,
                "auth.invalid_credentials",
                ErrorKind::Unauthenticated,
            ),
            (
                RefreshTokenReused,
                "auth.refresh_token_reused",
                ErrorKind::Unauthenticated,
            ),
            (
                RefreshReplayed,
                "identity.refresh_replayed",
                ErrorKind::Conflict,
            ),
            (
                CommandReused,
                "identity.command_reused",
                ErrorKind::Conflict,
            ),
        ];
        for (e, code, kind) in all {
            assert_eq!((e.code(), e.kind()), (code, kind));
        }
        let codes: std::collections::BTreeSet<_> = all.iter().map(|(e, ..)| e.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}

use std::collections::VecDeque;

use agora_kernel::{Decider, Principal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate;
use crate::{
    AccountId, IdentityError, RevokeReason, SessionCommand, SessionEvent, SessionStatus, TokenId,
};
use agora_kernel::same_digest;

/// How many rotated token hashes a session remembers for reuse detection. A token older than
/// that is merely unknown (`identity.invalid_token`), which still refuses it.
pub const MAX_REMEMBERED_TOKENS: usize = 100;

/// What presenting a refresh token to a session amounts to; see [`Session::check_rotation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationVerdict {
    /// The current token of an active family, unexpired: it may be exchanged once.
    Rotate,
    /// A token of this family that was already exchanged: whoever presents it may have stolen
    /// it (or the legitimate user holds a stolen family's old token), so the whole family is
    /// revoked (RFC 6819 §5.2.2.3, OWASP).
    ReuseDetected,
    /// The current token, past its expiry.
    Expired,
    /// A token of this family, which was revoked.
    Revoked,
    /// Not a token of this family (or too old to be remembered).
    Unknown,
}

/// The refresh token that may be exchanged next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct CurrentToken {
    id: TokenId,
    sha256: String,
    expires_at: DateTime<Utc>,
}

/// A token that was exchanged already; presenting it again betrays a copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RotatedToken {
    id: TokenId,
    sha256: String,
}

/// Which of the family's tokens a presented hash is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    Current,
    Rotated(TokenId),
    None,
}

/// Why and when a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Revocation {
    reason: RevokeReason,
    at: DateTime<Utc>,
}

/// A session: one refresh-token family, folded from its events.
///
/// Invariants (enforced by [`Session::decide`]): `status == New` exactly when nothing was
/// started; an active family has exactly one current token; each token is exchanged at most
/// once; at most [`MAX_REMEMBERED_TOKENS`] rotated hashes are kept; a revoked family never
/// becomes active again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    status: SessionStatus,
    account_id: Option<AccountId>,
    user_agent: Option<String>,
    current: Option<CurrentToken>,
    /// Oldest first.
    rotated: VecDeque<RotatedToken>,
    rotations: u64,
    revocation: Option<Revocation>,
    created_at: Option<DateTime<Utc>>,
    last_rotated_at: Option<DateTime<Utc>>,
}

/// What the platform and the back office see of a session: never a token hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub version: u64,
    pub status: SessionStatus,
    pub account_id: Option<AccountId>,
    pub current_token_id: Option<TokenId>,
    /// When the current token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many times a token was exchanged.
    pub rotations: u64,
    pub user_agent: Option<String>,
    pub revoked_reason: Option<RevokeReason>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_rotated_at: Option<DateTime<Utc>>,
}

/// Sessions are the platform's business: only it sends commands (acting for the user); admins
/// and auditors read. Everyone else learns nothing.
fn authorize_command(by: &Principal) -> Result<(), IdentityError> {
    match by {
        Principal::System { .. } => Ok(()),
        _ if may_read(by) => Err(IdentityError::Forbidden),
        _ => Err(IdentityError::NotFound),
    }
}

fn may_read(by: &Principal) -> bool {
    match by {
        Principal::System { .. } => true,
        Principal::Staff { role, .. } => matches!(role.as_str(), "admin" | "auditor"),
        Principal::Vendor { .. } | Principal::Customer { .. } | Principal::Guest { .. } => false,
    }
}

impl Session {
    pub fn status(&self) -> SessionStatus {
        self.status
    }

    pub fn is_active(&self) -> bool {
        self.status == SessionStatus::Active
    }

    /// The account signed in; `None` before the session started.
    pub fn account_id(&self) -> Option<AccountId> {
        self.account_id
    }

    pub fn current_token_id(&self) -> Option<TokenId> {
        self.current.as_ref().map(|t| t.id)
    }

    /// Which of this family's tokens `presented` is. Every remembered hash is compared, in
    /// constant time and without stopping at a match, so the time taken says nothing about
    /// which one (if any) matched.
    fn find(&self, presented: &str) -> Match {
        let mut found = match &self.current {
            Some(current) if same_digest(&current.sha256, presented) => Match::Current,
            _ => Match::None,
        };
        for old in &self.rotated {
            if same_digest(&old.sha256, presented) && found == Match::None {
                found = Match::Rotated(old.id);
            }
        }
        found
    }

    /// What presenting the refresh token whose hash is `presented_sha256` at `now` amounts to.
    /// The service may call it before sending `Rotate`; `decide` bases its answer on it:
    /// `Rotate` rotates, `ReuseDetected` revokes the family (and the command succeeds with
    /// those events), `Expired`, `Revoked` and `Unknown` are `identity.token_expired`,
    /// `identity.session_revoked` and `identity.invalid_token`.
    pub fn check_rotation(&self, presented_sha256: &str, now: DateTime<Utc>) -> RotationVerdict {
        self.judge(presented_sha256, now).0
    }

    /// The verdict, with the token that was matched.
    fn judge(&self, presented_sha256: &str, now: DateTime<Utc>) -> (RotationVerdict, Match) {
        let found = self.find(presented_sha256);
        let verdict = match (found, &self.current) {
            (Match::None, _) | (_, None) => RotationVerdict::Unknown,
            _ if self.status == SessionStatus::Revoked => RotationVerdict::Revoked,
            (Match::Rotated(_), _) => RotationVerdict::ReuseDetected,
            (Match::Current, Some(current)) if now >= current.expires_at => {
                RotationVerdict::Expired
            }
            (Match::Current, Some(_)) => RotationVerdict::Rotate,
        };
        (verdict, found)
    }

    fn start(
        &self,
        account_id: AccountId,
        token_id: TokenId,
        token_sha256: &str,
        expires_at: DateTime<Utc>,
        user_agent: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionEvent>, IdentityError> {
        if self.status != SessionStatus::New {
            return Err(IdentityError::AlreadyRegistered);
        }
        validate::new_token(token_sha256, expires_at, now)?;
        let user_agent = validate::user_agent(user_agent)?;
        Ok(vec![SessionEvent::SessionStarted {
            account_id,
            token_id,
            token_sha256: token_sha256.to_string(),
            expires_at,
            user_agent,
            at: now,
        }])
    }

    fn rotate(
        &self,
        presented_sha256: &str,
        new_token_id: TokenId,
        new_token_sha256: &str,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionEvent>, IdentityError> {
        match self.judge(presented_sha256, now) {
            (RotationVerdict::Unknown, _) => Err(IdentityError::InvalidToken),
            (RotationVerdict::Revoked, _) => Err(IdentityError::SessionRevoked),
            (RotationVerdict::Expired, _) => Err(IdentityError::TokenExpired),
            (RotationVerdict::ReuseDetected, Match::Rotated(token_id)) => Ok(vec![
                SessionEvent::ReuseDetected { token_id, at: now },
                SessionEvent::SessionRevoked {
                    reason: RevokeReason::ReuseDetected,
                    at: now,
                },
            ]),
            // `judge` only finds reuse of a rotated token; kept total rather than panicking.
            (RotationVerdict::ReuseDetected, _) => Err(IdentityError::InvalidToken),
            (RotationVerdict::Rotate, _) => {
                let Some(current) = &self.current else {
                    return Err(IdentityError::InvalidToken);
                };
                validate::new_token(new_token_sha256, new_expires_at, now)?;
                // A new token must be new: a repeated hash or id would blur reuse detection.
                let seen_id = current.id == new_token_id
                    || self.rotated.iter().any(|old| old.id == new_token_id);
                if seen_id || self.find(new_token_sha256) != Match::None {
                    return Err(IdentityError::InvalidNewToken);
                }
                Ok(vec![SessionEvent::TokenRotated {
                    from_token_id: current.id,
                    to_token_id: new_token_id,
                    token_sha256: new_token_sha256.to_string(),
                    expires_at: new_expires_at,
                    at: now,
                }])
            }
        }
    }

    fn revoke(
        &self,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionEvent>, IdentityError> {
        match self.status {
            SessionStatus::New => Err(IdentityError::NotFound),
            SessionStatus::Revoked => Ok(vec![]),
            SessionStatus::Active => Ok(vec![SessionEvent::SessionRevoked { reason, at: now }]),
        }
    }
}

impl Decider for Session {
    const TYPE: &'static str = "session";
    type Command = SessionCommand;
    type Event = SessionEvent;
    type Error = IdentityError;
    type View = SessionView;

    fn decide(
        &self,
        _id: &str,
        command: &SessionCommand,
        by: &Principal,
    ) -> Result<Vec<SessionEvent>, IdentityError> {
        authorize_command(by)?;
        match command {
            SessionCommand::Start {
                account_id,
                token_id,
                token_sha256,
                expires_at,
                user_agent,
                now,
            } => self.start(
                *account_id,
                *token_id,
                token_sha256,
                *expires_at,
                user_agent.as_deref(),
                *now,
            ),
            SessionCommand::Rotate {
                presented_sha256,
                new_token_id,
                new_token_sha256,
                new_expires_at,
                now,
            } => self.rotate(
                presented_sha256,
                *new_token_id,
                new_token_sha256,
                *new_expires_at,
                *now,
            ),
            SessionCommand::Revoke { reason, now } => self.revoke(*reason, *now),
        }
    }

    fn evolve(&mut self, event: &SessionEvent) {
        match event {
            SessionEvent::SessionStarted {
                account_id,
                token_id,
                token_sha256,
                expires_at,
                user_agent,
                at,
            } => {
                self.status = SessionStatus::Active;
                self.account_id = Some(*account_id);
                self.current = Some(CurrentToken {
                    id: *token_id,
                    sha256: token_sha256.clone(),
                    expires_at: *expires_at,
                });
                self.user_agent = user_agent.clone();
                self.created_at = Some(*at);
            }
            SessionEvent::TokenRotated {
                to_token_id,
                token_sha256,
                expires_at,
                at,
                ..
            } => {
                let next = CurrentToken {
                    id: *to_token_id,
                    sha256: token_sha256.clone(),
                    expires_at: *expires_at,
                };
                if let Some(previous) = self.current.replace(next) {
                    self.rotated.push_back(RotatedToken {
                        id: previous.id,
                        sha256: previous.sha256,
                    });
                }
                while self.rotated.len() > MAX_REMEMBERED_TOKENS {
                    self.rotated.pop_front();
                }
                self.rotations = self.rotations.saturating_add(1);
                self.last_rotated_at = Some(*at);
            }
            // The revocation that follows in the same commit changes the state.
            SessionEvent::ReuseDetected { .. } => {}
            SessionEvent::SessionRevoked { reason, at } => {
                self.status = SessionStatus::Revoked;
                self.revocation = Some(Revocation {
                    reason: *reason,
                    at: *at,
                });
            }
        }
    }

    fn authorize_read(&self, by: &Principal) -> Result<(), IdentityError> {
        if self.status != SessionStatus::New && may_read(by) {
            Ok(())
        } else {
            Err(IdentityError::NotFound)
        }
    }

    fn view(&self, id: &str, version: u64) -> SessionView {
        SessionView {
            id: id.to_string(),
            version,
            status: self.status,
            account_id: self.account_id,
            current_token_id: self.current_token_id(),
            expires_at: self.current.as_ref().map(|t| t.expires_at),
            rotations: self.rotations,
            user_agent: self.user_agent.clone(),
            revoked_reason: self.revocation.map(|r| r.reason),
            revoked_at: self.revocation.map(|r| r.at),
            created_at: self.created_at,
            last_rotated_at: self.last_rotated_at,
        }
    }

    fn event_type(event: &SessionEvent) -> &'static str {
        event.event_type()
    }
}

#[cfg(test)]
mod tests;

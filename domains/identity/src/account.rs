use std::collections::BTreeSet;

use agora_kernel::{Decider, Principal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::{self, MAX_ADDRESSES, MAX_GROUPS, MAX_LINKED_IDENTITIES};
use crate::{
    AccountCommand, AccountEvent, AccountId, AccountStatus, Address, AddressId, IdentityError,
    PhoneChange, Role,
};
use agora_kernel::same_digest;

/// A mailed one-time token (email verification or password reset), kept only as its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct OneTimeToken {
    sha256: String,
    expires_at: DateTime<Utc>,
    /// Set when the token was redeemed: every token works once.
    used: bool,
}

impl OneTimeToken {
    /// Whether `presented` redeems this token at `now`: it must be this token (compared in
    /// constant time), unused, and unexpired. The expiry is told apart only to whoever holds
    /// the token itself.
    fn redeem(
        token: Option<&OneTimeToken>,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        let Some(token) = token else {
            return Err(IdentityError::InvalidToken);
        };
        if !same_digest(&token.sha256, presented) || token.used {
            return Err(IdentityError::InvalidToken);
        }
        if now >= token.expires_at {
            return Err(IdentityError::TokenExpired);
        }
        Ok(())
    }
}

/// One saved address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SavedAddress {
    id: AddressId,
    address: Address,
}

/// An OAuth / OpenID Connect identity linked to an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    pub provider: String,
    pub subject: String,
    pub linked_at: DateTime<Utc>,
}

/// An account's state, folded from its events.
///
/// Invariants (enforced by [`Account::decide`]): `status == New` exactly when nothing was
/// registered; at most [`MAX_ADDRESSES`] addresses, and exactly one of them is the default
/// whenever there is any; each token hash is the newest issued of its kind and works once;
/// bound to at most one vendor, and only the platform binds or unbinds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    status: AccountStatus,
    /// The stream id, recorded at registration so that reads can recognise the owner.
    account_id: Option<AccountId>,
    /// Normalized (trimmed, lower case).
    email: String,
    email_verified: bool,
    display_name: String,
    phone: Option<String>,
    marketing_opt_in: bool,
    roles: BTreeSet<Role>,
    /// The customer groups it is in (promotions may be for some groups only).
    #[serde(default)]
    groups: BTreeSet<String>,
    /// Oldest first, so that the oldest remaining address can inherit the default.
    addresses: Vec<SavedAddress>,
    default_address: Option<AddressId>,
    identities: Vec<LinkedIdentity>,
    /// Whether the service holds a password hash for the account (not the hash itself).
    password_set: bool,
    /// The newest email-verification token.
    verification: Option<OneTimeToken>,
    /// The newest password-reset token.
    reset: Option<OneTimeToken>,
    created_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    /// The marketplace vendor the account is a user of, if any: its access tokens carry it.
    #[serde(default)]
    vendor: Option<String>,
}

/// A saved address as the owner and the back office see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressView {
    pub id: AddressId,
    pub is_default: bool,
    pub address: Address,
}

/// What the owner and the back office see of an account: never a token hash, nor anything
/// about the password but whether there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub id: String,
    pub version: u64,
    pub status: AccountStatus,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub phone: Option<String>,
    pub marketing_opt_in: bool,
    /// Sorted by name.
    pub roles: Vec<Role>,
    /// The customer groups it is in, sorted.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Oldest first.
    pub addresses: Vec<AddressView>,
    pub linked_identities: Vec<LinkedIdentity>,
    pub has_password: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The marketplace vendor the account is a user of (bound by the platform), if any.
    #[serde(default)]
    pub vendor: Option<String>,
}

/// What a principal is to an account. Several can hold at once: an admin's own account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Access {
    /// The platform: everything.
    system: bool,
    /// An admin: everything but changing someone's password and binding vendors.
    admin: bool,
    /// Admins, staff and auditors read every account.
    back_office: bool,
    /// The account's own user (as a customer, or as staff signed in to their own account):
    /// profile, addresses, password change and closing.
    owner: bool,
}

impl Access {
    fn of(account_id: Option<AccountId>, by: &Principal) -> Access {
        let is_self = |id: &str| {
            account_id.is_some_and(|account| {
                uuid::Uuid::parse_str(id).is_ok_and(|id| id == account.as_uuid())
            })
        };
        match by {
            Principal::System { .. } => Access {
                system: true,
                back_office: true,
                ..Access::default()
            },
            Principal::Staff { id, role } => Access {
                admin: role == "admin",
                back_office: matches!(role.as_str(), "admin" | "staff" | "auditor"),
                owner: is_self(id),
                ..Access::default()
            },
            // A vendor's user is, for its own account, its owner.
            Principal::Vendor { id, .. } => Access {
                owner: is_self(id),
                ..Access::default()
            },
            Principal::Customer { id } => Access {
                owner: account_id.is_some_and(|account| account.as_uuid() == id.as_uuid()),
                ..Access::default()
            },
            Principal::Guest { .. } => Access::default(),
        }
    }

    /// Whether the principal may send `command` to an existing account.
    fn allows(self, command: &AccountCommand) -> bool {
        match command {
            AccountCommand::Register { .. } => self.system,
            AccountCommand::ChangePassword { .. } => self.system || self.owner,
            AccountCommand::UpdateProfile { .. }
            | AccountCommand::AddAddress { .. }
            | AccountCommand::UpdateAddress { .. }
            | AccountCommand::RemoveAddress { .. }
            | AccountCommand::SetDefaultAddress { .. }
            | AccountCommand::Close { .. } => self.system || self.admin || self.owner,
            AccountCommand::VerifyEmail { .. }
            | AccountCommand::IssueVerification { .. }
            | AccountCommand::RequestPasswordReset { .. }
            | AccountCommand::ResetPassword { .. }
            | AccountCommand::GrantRole { .. }
            | AccountCommand::RevokeRole { .. }
            | AccountCommand::SetGroups { .. }
            | AccountCommand::LinkIdentity { .. } => self.system || self.admin,
            // Made and ended by the vendor workflow as the vendor's users change: an admin
            // binding accounts by hand would bypass the vendor's own list of users.
            AccountCommand::BindVendor { .. } | AccountCommand::UnbindVendor { .. } => self.system,
        }
    }
}

impl Account {
    pub fn status(&self) -> AccountStatus {
        self.status
    }

    /// The account's id; `None` before registration.
    pub fn account_id(&self) -> Option<AccountId> {
        self.account_id
    }

    /// The roles the account holds, sorted by name (what access tokens carry).
    pub fn roles(&self) -> Vec<Role> {
        self.roles.iter().copied().collect()
    }

    /// The normalized email; `None` before registration.
    pub fn email(&self) -> Option<&str> {
        (self.status != AccountStatus::New).then_some(self.email.as_str())
    }

    pub fn email_verified(&self) -> bool {
        self.email_verified
    }

    pub fn is_closed(&self) -> bool {
        self.status == AccountStatus::Closed
    }

    /// Whether the account has a password (an account created by a provider sign-in has none
    /// until it resets or sets one).
    pub fn has_password(&self) -> bool {
        self.password_set
    }

    /// The marketplace vendor the account is bound to, if any.
    pub fn vendor(&self) -> Option<&str> {
        self.vendor.as_deref()
    }

    fn address(&self, id: AddressId) -> Option<&SavedAddress> {
        self.addresses.iter().find(|a| a.id == id)
    }

    fn register(
        &self,
        id: &str,
        command: &AccountCommand,
        by: &Principal,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        let AccountCommand::Register {
            email,
            display_name,
            password_set,
            verification_token_sha256,
            verification_expires_at,
            now,
        } = command
        else {
            return Err(IdentityError::Forbidden);
        };
        // The same answer whether or not the account exists: nobody but the platform learns.
        if !matches!(by, Principal::System { .. }) {
            return Err(IdentityError::Forbidden);
        }
        if self.status != AccountStatus::New {
            return Err(IdentityError::AlreadyRegistered);
        }
        // An id that is not a UUID cannot name an account.
        let account_id = id
            .parse::<AccountId>()
            .map_err(|_| IdentityError::NotFound)?;
        let email = validate::normalize_email(email)?;
        let display_name = validate::display_name(display_name)?;
        validate::new_token(verification_token_sha256, *verification_expires_at, *now)?;
        Ok(vec![
            AccountEvent::AccountRegistered {
                account_id,
                email,
                display_name,
                roles: vec![Role::Customer],
                password_set: *password_set,
                at: *now,
            },
            AccountEvent::VerificationIssued {
                token_sha256: verification_token_sha256.clone(),
                expires_at: *verification_expires_at,
                at: *now,
            },
        ])
    }

    fn verify_email(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        if self.email_verified {
            return Ok(vec![]);
        }
        OneTimeToken::redeem(self.verification.as_ref(), token_sha256, now)?;
        Ok(vec![AccountEvent::EmailVerified { at: now }])
    }

    fn issue_verification(
        &self,
        token_sha256: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        validate::new_token(token_sha256, expires_at, now)?;
        // Nothing to verify: no mail goes out.
        if self.email_verified {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::VerificationIssued {
            token_sha256: token_sha256.to_string(),
            expires_at,
            at: now,
        }])
    }

    fn request_password_reset(
        &self,
        token_sha256: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        validate::new_token(token_sha256, expires_at, now)?;
        Ok(vec![AccountEvent::PasswordResetRequested {
            token_sha256: token_sha256.to_string(),
            expires_at,
            at: now,
        }])
    }

    fn reset_password(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        OneTimeToken::redeem(self.reset.as_ref(), token_sha256, now)?;
        Ok(vec![AccountEvent::PasswordReset {
            revoke_sessions: true,
            at: now,
        }])
    }

    fn update_profile(
        &self,
        display_name: Option<&str>,
        phone: Option<&str>,
        marketing_opt_in: Option<bool>,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        let display_name = match display_name {
            Some(name) => Some(validate::display_name(name)?).filter(|n| *n != self.display_name),
            None => None,
        };
        let phone = match phone {
            None => None,
            Some(phone) if phone.trim().is_empty() => {
                self.phone.is_some().then_some(PhoneChange::Removed)
            }
            Some(phone) => {
                let phone = validate::phone(phone)?;
                (self.phone.as_ref() != Some(&phone)).then_some(PhoneChange::Set(phone))
            }
        };
        let marketing_opt_in = marketing_opt_in.filter(|m| *m != self.marketing_opt_in);
        if display_name.is_none() && phone.is_none() && marketing_opt_in.is_none() {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::ProfileUpdated {
            display_name,
            phone,
            marketing_opt_in,
        }])
    }

    fn add_address(
        &self,
        address_id: AddressId,
        address: &Address,
        make_default: bool,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        let address = validate::address(address)?;
        if let Some(saved) = self.address(address_id) {
            // A retry records nothing; another address under a known id is a mistake.
            return if saved.address == address {
                Ok(vec![])
            } else {
                Err(IdentityError::InvalidAddress)
            };
        }
        if self.addresses.len() >= MAX_ADDRESSES {
            return Err(IdentityError::TooManyAddresses);
        }
        Ok(vec![AccountEvent::AddressAdded {
            address_id,
            address,
            is_default: make_default || self.default_address.is_none(),
        }])
    }

    fn update_address(
        &self,
        address_id: AddressId,
        address: &Address,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        let saved = self
            .address(address_id)
            .ok_or(IdentityError::UnknownAddress)?;
        let address = validate::address(address)?;
        if saved.address == address {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::AddressUpdated {
            address_id,
            address,
        }])
    }

    fn remove_address(&self, address_id: AddressId) -> Result<Vec<AccountEvent>, IdentityError> {
        if self.address(address_id).is_none() {
            return Err(IdentityError::UnknownAddress);
        }
        let mut events = vec![AccountEvent::AddressRemoved { address_id }];
        if self.default_address == Some(address_id) {
            if let Some(oldest) = self.addresses.iter().find(|a| a.id != address_id) {
                events.push(AccountEvent::DefaultAddressSet {
                    address_id: oldest.id,
                });
            }
        }
        Ok(events)
    }

    fn set_default_address(
        &self,
        address_id: AddressId,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        if self.address(address_id).is_none() {
            return Err(IdentityError::UnknownAddress);
        }
        if self.default_address == Some(address_id) {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::DefaultAddressSet { address_id }])
    }

    fn revoke_role(&self, role: Role, access: Access) -> Result<Vec<AccountEvent>, IdentityError> {
        // An admin locking themselves out could leave the platform without one; another admin
        // (or the platform) must do it.
        if role == Role::Admin && access.admin && access.owner {
            return Err(IdentityError::CannotDemoteSelf);
        }
        if !self.roles.contains(&role) {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::RoleRevoked { role }])
    }

    fn bind_vendor(
        &self,
        vendor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        validate::vendor_id(vendor)?;
        match self.vendor.as_deref() {
            // A retried binding (a redelivered approval or user addition).
            Some(bound) if bound == vendor => Ok(vec![]),
            // One vendor per account: the workflow must unbind it from the other first.
            Some(_) => Err(IdentityError::VendorTaken),
            None => Ok(vec![AccountEvent::AccountVendorBound {
                vendor: vendor.to_string(),
                at: now,
            }]),
        }
    }

    fn unbind_vendor(
        &self,
        vendor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        validate::vendor_id(vendor)?;
        // Unbinding a vendor the account is not bound to (any more) is a retry or a late
        // removal: it must not end a newer binding, and it need not fail.
        if self.vendor.as_deref() != Some(vendor) {
            return Ok(vec![]);
        }
        Ok(vec![AccountEvent::AccountVendorUnbound {
            vendor: vendor.to_string(),
            at: now,
        }])
    }

    fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        email_verified: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        validate::identity(provider, subject)?;
        if self
            .identities
            .iter()
            .any(|i| i.provider == provider && i.subject == subject)
        {
            return Ok(vec![]);
        }
        if self.identities.len() >= MAX_LINKED_IDENTITIES {
            return Err(IdentityError::InvalidIdentity);
        }
        let mut events = vec![AccountEvent::IdentityLinked {
            provider: provider.to_string(),
            subject: subject.to_string(),
            at: now,
        }];
        if email_verified && !self.email_verified {
            events.push(AccountEvent::EmailVerified { at: now });
        }
        Ok(events)
    }
}

impl Decider for Account {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = IdentityError;
    type View = AccountView;

    fn decide(
        &self,
        id: &str,
        command: &AccountCommand,
        by: &Principal,
    ) -> Result<Vec<AccountEvent>, IdentityError> {
        if let AccountCommand::Register { .. } = command {
            return self.register(id, command, by);
        }
        if self.status == AccountStatus::New {
            return Err(IdentityError::NotFound);
        }
        let access = Access::of(self.account_id, by);
        // A stranger learns nothing, not even that the account exists; a closed account exists
        // only for the back office.
        let visible = access.back_office || (access.owner && !self.is_closed());
        if !visible {
            return Err(IdentityError::NotFound);
        }
        if !access.allows(command) {
            return Err(IdentityError::Forbidden);
        }
        if self.is_closed() {
            return Err(IdentityError::Closed);
        }
        match command {
            // Handled above; kept total so a new command cannot slip past the checks.
            AccountCommand::Register { .. } => self.register(id, command, by),
            AccountCommand::VerifyEmail { token_sha256, now } => {
                self.verify_email(token_sha256, *now)
            }
            AccountCommand::IssueVerification {
                token_sha256,
                expires_at,
                now,
            } => self.issue_verification(token_sha256, *expires_at, *now),
            AccountCommand::RequestPasswordReset {
                token_sha256,
                expires_at,
                now,
            } => self.request_password_reset(token_sha256, *expires_at, *now),
            AccountCommand::ResetPassword { token_sha256, now } => {
                self.reset_password(token_sha256, *now)
            }
            AccountCommand::ChangePassword { now } => {
                Ok(vec![AccountEvent::PasswordChanged { at: *now }])
            }
            AccountCommand::UpdateProfile {
                display_name,
                phone,
                marketing_opt_in,
            } => self.update_profile(display_name.as_deref(), phone.as_deref(), *marketing_opt_in),
            AccountCommand::AddAddress {
                address_id,
                address,
                make_default,
            } => self.add_address(*address_id, address, *make_default),
            AccountCommand::UpdateAddress {
                address_id,
                address,
            } => self.update_address(*address_id, address),
            AccountCommand::RemoveAddress { address_id } => self.remove_address(*address_id),
            AccountCommand::SetDefaultAddress { address_id } => {
                self.set_default_address(*address_id)
            }
            AccountCommand::GrantRole { role } => {
                if self.roles.contains(role) {
                    Ok(vec![])
                } else {
                    Ok(vec![AccountEvent::RoleGranted { role: *role }])
                }
            }
            AccountCommand::RevokeRole { role } => self.revoke_role(*role, access),
            AccountCommand::SetGroups { groups } => {
                let well_formed = |g: &String| {
                    (1..=64).contains(&g.len())
                        && g.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                };
                if groups.len() > MAX_GROUPS || !groups.iter().all(well_formed) {
                    return Err(IdentityError::InvalidGroup);
                }
                if *groups == self.groups {
                    Ok(vec![])
                } else {
                    Ok(vec![AccountEvent::GroupsSet {
                        groups: groups.clone(),
                    }])
                }
            }
            AccountCommand::LinkIdentity {
                provider,
                subject,
                email_verified,
                now,
            } => self.link_identity(provider, subject, *email_verified, *now),
            AccountCommand::Close { now } => Ok(vec![AccountEvent::AccountClosed {
                revoke_sessions: true,
                at: *now,
            }]),
            AccountCommand::BindVendor { vendor, now } => self.bind_vendor(vendor, *now),
            AccountCommand::UnbindVendor { vendor, now } => self.unbind_vendor(vendor, *now),
        }
    }

    fn evolve(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::AccountRegistered {
                account_id,
                email,
                display_name,
                roles,
                password_set,
                at,
            } => {
                self.status = AccountStatus::Active;
                self.account_id = Some(*account_id);
                self.email = email.clone();
                self.display_name = display_name.clone();
                self.roles = roles.iter().copied().collect();
                self.password_set = *password_set;
                self.created_at = Some(*at);
            }
            AccountEvent::VerificationIssued {
                token_sha256,
                expires_at,
                ..
            } => {
                self.verification = Some(OneTimeToken {
                    sha256: token_sha256.clone(),
                    expires_at: *expires_at,
                    used: false,
                });
            }
            AccountEvent::EmailVerified { .. } => {
                self.email_verified = true;
                if let Some(token) = &mut self.verification {
                    token.used = true;
                }
            }
            AccountEvent::PasswordResetRequested {
                token_sha256,
                expires_at,
                ..
            } => {
                self.reset = Some(OneTimeToken {
                    sha256: token_sha256.clone(),
                    expires_at: *expires_at,
                    used: false,
                });
            }
            AccountEvent::PasswordReset { .. } | AccountEvent::PasswordChanged { .. } => {
                self.password_set = true;
                // A new password also voids a pending reset link: it was asked for the old one.
                if let Some(token) = &mut self.reset {
                    token.used = true;
                }
            }
            AccountEvent::ProfileUpdated {
                display_name,
                phone,
                marketing_opt_in,
            } => {
                if let Some(name) = display_name {
                    self.display_name = name.clone();
                }
                match phone {
                    Some(PhoneChange::Set(phone)) => self.phone = Some(phone.clone()),
                    Some(PhoneChange::Removed) => self.phone = None,
                    None => {}
                }
                if let Some(opt_in) = marketing_opt_in {
                    self.marketing_opt_in = *opt_in;
                }
            }
            AccountEvent::AddressAdded {
                address_id,
                address,
                is_default,
            } => {
                self.addresses.push(SavedAddress {
                    id: *address_id,
                    address: address.clone(),
                });
                if *is_default {
                    self.default_address = Some(*address_id);
                }
            }
            AccountEvent::AddressUpdated {
                address_id,
                address,
            } => {
                if let Some(saved) = self.addresses.iter_mut().find(|a| a.id == *address_id) {
                    saved.address = address.clone();
                }
            }
            AccountEvent::AddressRemoved { address_id } => {
                self.addresses.retain(|a| a.id != *address_id);
                if self.default_address == Some(*address_id) {
                    self.default_address = None;
                }
            }
            AccountEvent::DefaultAddressSet { address_id } => {
                self.default_address = Some(*address_id);
            }
            AccountEvent::RoleGranted { role } => {
                self.roles.insert(*role);
            }
            AccountEvent::RoleRevoked { role } => {
                self.roles.remove(role);
            }
            AccountEvent::GroupsSet { groups } => self.groups = groups.clone(),
            AccountEvent::IdentityLinked {
                provider,
                subject,
                at,
            } => self.identities.push(LinkedIdentity {
                provider: provider.clone(),
                subject: subject.clone(),
                linked_at: *at,
            }),
            AccountEvent::AccountClosed { at, .. } => {
                self.status = AccountStatus::Closed;
                self.closed_at = Some(*at);
            }
            AccountEvent::AccountVendorBound { vendor, .. } => self.vendor = Some(vendor.clone()),
            AccountEvent::AccountVendorUnbound { vendor, .. } => {
                if self.vendor.as_ref() == Some(vendor) {
                    self.vendor = None;
                }
            }
        }
    }

    fn authorize_read(&self, by: &Principal) -> Result<(), IdentityError> {
        let access = Access::of(self.account_id, by);
        let visible = match self.status {
            AccountStatus::New => false,
            AccountStatus::Active => access.back_office || access.owner,
            AccountStatus::Closed => access.back_office,
        };
        if visible {
            Ok(())
        } else {
            Err(IdentityError::NotFound)
        }
    }

    fn view(&self, id: &str, version: u64) -> AccountView {
        AccountView {
            id: id.to_string(),
            version,
            status: self.status,
            email: self.email.clone(),
            email_verified: self.email_verified,
            display_name: self.display_name.clone(),
            phone: self.phone.clone(),
            marketing_opt_in: self.marketing_opt_in,
            roles: self.roles(),
            groups: self.groups.iter().cloned().collect(),
            addresses: self
                .addresses
                .iter()
                .map(|saved| AddressView {
                    id: saved.id,
                    is_default: self.default_address == Some(saved.id),
                    address: saved.address.clone(),
                })
                .collect(),
            linked_identities: self.identities.clone(),
            has_password: self.password_set,
            created_at: self.created_at,
            closed_at: self.closed_at,
            vendor: self.vendor.clone(),
        }
    }

    fn event_type(event: &AccountEvent) -> &'static str {
        event.event_type()
    }
}

#[cfg(test)]
mod tests;

//! The `Vendor` aggregate: one seller of the marketplace, its users, its commission rules and
//! its payouts.

use std::collections::BTreeMap;

use agora_kernel::{Currency, CustomerId, Decider, Money, Principal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::commission::{commission, CommissionRule, FULL_BP};
use crate::{PayoutOutcome, VendorCommand, VendorError, VendorEvent, VendorRole};

/// Longest shop name.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest legal name.
pub const MAX_LEGAL_NAME_CHARS: usize = 200;
/// Longest contact email (RFC 5321's limit on a path).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest payout account reference.
pub const MAX_PAYOUT_ACCOUNT_CHARS: usize = 64;
/// Longest rejection, suspension or closing reason.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest commission rule id.
pub const MAX_RULE_ID_CHARS: usize = 64;
/// Longest category of a commission rule.
pub const MAX_CATEGORY_CHARS: usize = 64;
/// Most users of one vendor.
pub const MAX_USERS: usize = 50;
/// Most commission rules of one vendor, over its whole life (rules are never removed).
pub const MAX_RULES: usize = 200;
/// Longest payout id (the caller's, also the provider's idempotency key).
pub const MAX_PAYOUT_ID_CHARS: usize = 64;
/// Longest transfer id of the payout provider.
pub const MAX_TRANSFER_ID_CHARS: usize = 128;
/// Most payouts [`VendorView::payouts`] shows: the latest ones. The state keeps every payout,
/// since each one counts against the balance until it fails.
pub const MAX_VIEW_PAYOUTS: usize = 50;

/// Where a vendor is in its life: `Applied → Active ⇄ Suspended`, or `Applied → Rejected`;
/// `Applied`, `Active` and `Suspended` may end `Closed`. `Rejected` and `Closed` are final.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VendorStatus {
    /// No `VendorApplied` yet: the stream is empty.
    #[default]
    New,
    /// Waiting for the back office's decision.
    Applied,
    /// Approved: it sells.
    Active,
    /// It may not sell until reactivated.
    Suspended,
    Rejected,
    Closed,
}

impl VendorStatus {
    /// The wire name (`applied`), as serde writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            VendorStatus::New => "new",
            VendorStatus::Applied => "applied",
            VendorStatus::Active => "active",
            VendorStatus::Suspended => "suspended",
            VendorStatus::Rejected => "rejected",
            VendorStatus::Closed => "closed",
        }
    }

    /// Whether the vendor's details, users and rules may still change.
    fn is_open(&self) -> bool {
        matches!(
            self,
            VendorStatus::Applied | VendorStatus::Active | VendorStatus::Suspended
        )
    }
}

/// One account that acts for the vendor, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorUser {
    pub account: CustomerId,
    pub role: VendorRole,
}

/// Where a payout is: `Requested → Paid` or `Requested → Failed`, both final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Allowed and counted against the balance; the provider has not answered yet.
    Requested,
    /// The provider made the transfer.
    Paid,
    /// The provider could not pay: the amount no longer counts against the balance.
    Failed,
}

impl PayoutStatus {
    /// The wire name (`requested`), as serde writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            PayoutStatus::Requested => "requested",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
        }
    }
}

/// One payout of the vendor, as its events tell it. Also what the state keeps of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutView {
    /// The caller's payout id.
    pub id: String,
    pub amount: Money,
    /// The payout account it goes to: the vendor's when it was requested.
    pub destination: String,
    pub status: PayoutStatus,
    /// The provider's transfer, once paid.
    pub transfer_id: Option<String>,
    /// Why the provider could not pay, once failed.
    pub reason: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// When it was paid or failed.
    pub settled_at: Option<DateTime<Utc>>,
}

/// The details a vendor's admin may change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Details {
    name: String,
    legal_name: String,
    contact_email: String,
    payout_account: String,
}

/// What `Apply` recorded; kept as it was so that a retried application is recognised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Application {
    details: Details,
    country: String,
    applicant: CustomerId,
    applied_at: DateTime<Utc>,
}

/// The vendor's state, folded from its events.
///
/// Invariants (enforced by [`Vendor::decide`]): `status == New` exactly when nothing was
/// applied; from the application on, `users` holds `1..=MAX_USERS` accounts, at least one of
/// them an admin; `rules` holds at most `MAX_RULES` rules with distinct ids, sorted by
/// `effective_from` and, for equal ones, in the order they were set; their fixed fees are
/// non-negative and in one currency; `payouts` have distinct ids, in the order requested,
/// all in that currency, and those requested or paid never added up to more than the
/// `earned_available` of the request that allowed the latest of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vendor {
    /// The vendor's own id (its stream id), from `VendorApplied`: a vendor's user acts for
    /// one vendor, and [`Decider::authorize_read`] is not told which stream it reads. Empty
    /// before the application, and for applications recorded before it was kept.
    #[serde(default)]
    id: String,
    status: VendorStatus,
    /// `None` until `VendorApplied`.
    application: Option<Application>,
    /// The details as they are now.
    details: Details,
    users: BTreeMap<CustomerId, VendorRole>,
    rules: Vec<CommissionRule>,
    /// Whether the vendor was ever approved, so that the storefront never shows a vendor
    /// that only applied.
    approved: bool,
    rejection_reason: Option<String>,
    /// The reason of the current suspension; cleared on reactivation.
    suspension_reason: Option<String>,
    closing_reason: Option<String>,
    updated_at: Option<DateTime<Utc>>,
    /// Every payout ever requested, in the order requested: a requested or paid one counts
    /// against the balance forever, so none is dropped.
    #[serde(default)]
    payouts: Vec<PayoutView>,
}

/// What the vendor's users and the back office see of a vendor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorView {
    pub id: String,
    pub version: u64,
    pub status: VendorStatus,
    pub name: String,
    pub legal_name: String,
    pub contact_email: String,
    pub country: String,
    pub payout_account: String,
    /// Ordered by account id.
    pub users: Vec<VendorUser>,
    /// Ordered by `effective_from`, then in the order they were set.
    pub commission_rules: Vec<CommissionRule>,
    pub rejection_reason: Option<String>,
    /// Present while suspended.
    pub suspension_reason: Option<String>,
    pub closing_reason: Option<String>,
    pub applied_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest [`MAX_VIEW_PAYOUTS`] payouts, and any older one still requested, newest first.
    #[serde(default)]
    pub payouts: Vec<PayoutView>,
    /// How many payouts were ever requested (`payouts` may show fewer).
    #[serde(default)]
    pub payout_count: usize,
    /// The payouts requested and not yet paid or failed, added up; `None` while the vendor
    /// has no currency yet (no payout and no fixed commission fee).
    #[serde(default)]
    pub payouts_outstanding: Option<Money>,
    /// The payouts paid, added up; `None` as for `payouts_outstanding`.
    #[serde(default)]
    pub paid_out: Option<Money>,
}

/// What the storefront shows of a vendor: no contact, no payout account, no users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicVendor {
    pub id: String,
    pub name: String,
    pub country: String,
    /// It sells now (neither suspended nor closed).
    pub active: bool,
}

/// How much of a vendor a principal may see and touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// The platform (the vendor workflow and its jobs): everything.
    Platform,
    /// Admins of the platform: everything but applying, which is the workflow's.
    Admin,
    /// Staff: reads, the review (approve, reject, suspend, reactivate) and commission rules.
    Staff,
    /// Auditors read every vendor and change none.
    Auditor,
    /// An admin user of this vendor: reads, its details and users, closing it.
    VendorAdmin,
    /// A member user of this vendor: reads.
    VendorMember,
    /// Everyone else (customers, guests, other vendors' users, other back-office roles): the
    /// vendor does not exist for them.
    Stranger,
}

/// How far `by` reaches into the vendor `vendor_id` whose users are `users`.
fn access(users: &BTreeMap<CustomerId, VendorRole>, vendor_id: &str, by: &Principal) -> Access {
    match by {
        Principal::System { .. } => Access::Platform,
        Principal::Staff { role, .. } => match role.as_str() {
            "admin" => Access::Admin,
            "staff" => Access::Staff,
            "auditor" => Access::Auditor,
            // `vendor` among them: a vendor's user is `Principal::Vendor` now, and a staff
            // token naming that role says nothing about which vendor it acts for.
            _ => Access::Stranger,
        },
        // A vendor's user acts for the vendor it names only, and only while its account is
        // one of that vendor's users. An empty `vendor_id` (an application recorded before
        // ids were kept, read without its stream id) matches nobody: fail closed.
        Principal::Vendor { id, vendor } if !vendor_id.is_empty() && vendor == vendor_id => {
            match id.parse::<CustomerId>().ok().and_then(|a| users.get(&a)) {
                Some(VendorRole::Admin) => Access::VendorAdmin,
                Some(VendorRole::Member) => Access::VendorMember,
                None => Access::Stranger,
            }
        }
        // A vendor's user never acts as the customer its account also is.
        Principal::Vendor { .. } | Principal::Guest { .. } | Principal::Customer { .. } => {
            Access::Stranger
        }
    }
}

/// Whether `access` may send `command` to an existing vendor.
fn allowed(access: Access, command: &VendorCommand) -> bool {
    use Access::*;
    match command {
        VendorCommand::Apply { .. } => access == Platform,
        VendorCommand::Approve { .. }
        | VendorCommand::Reject { .. }
        | VendorCommand::Suspend { .. }
        | VendorCommand::Reactivate { .. }
        | VendorCommand::SetCommission { .. } => matches!(access, Platform | Admin | Staff),
        VendorCommand::Close { .. }
        | VendorCommand::UpdateDetails { .. }
        | VendorCommand::AddUser { .. }
        | VendorCommand::RemoveUser { .. } => matches!(access, Platform | Admin | VendorAdmin),
        // On demand by its admin user, on schedule by the platform, or by the back office.
        VendorCommand::RequestPayout { .. } => {
            matches!(access, Platform | Admin | Staff | VendorAdmin)
        }
        // What the provider said: the runner that called it, or an admin who checked.
        VendorCommand::RecordPayout { .. } => matches!(access, Platform | Admin),
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Non-blank, no control characters and at most `max` characters.
fn present(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && chars(text) <= max && !text.chars().any(char::is_control)
}

/// `1..=max` printable ASCII characters, no spaces: an identifier from elsewhere.
fn visible_ascii(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

/// A plausible address, not a deliverable one: the mailbox proves itself by receiving mail.
fn check_email(email: &str) -> Result<(), VendorError> {
    let ok = chars(email) <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(
            email.split_once('@'),
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        );
    if ok {
        Ok(())
    } else {
        Err(VendorError::InvalidEmail)
    }
}

fn check_details(details: &Details) -> Result<(), VendorError> {
    if !present(&details.name, MAX_NAME_CHARS) {
        return Err(VendorError::InvalidName);
    }
    if !present(&details.legal_name, MAX_LEGAL_NAME_CHARS) {
        return Err(VendorError::InvalidLegalName);
    }
    check_email(&details.contact_email)?;
    if !visible_ascii(&details.payout_account, MAX_PAYOUT_ACCOUNT_CHARS) {
        return Err(VendorError::InvalidPayoutAccount);
    }
    Ok(())
}

fn check_country(country: &str) -> Result<(), VendorError> {
    if country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(VendorError::InvalidCountry)
    }
}

fn check_reason(reason: &str) -> Result<(), VendorError> {
    if present(reason, MAX_REASON_CHARS) {
        Ok(())
    } else {
        Err(VendorError::InvalidReason)
    }
}

/// A category is a catalog slug: `1..=64` of `a-z`, `0-9` and `-`.
fn check_category(category: &str) -> Result<(), VendorError> {
    let ok = (1..=MAX_CATEGORY_CHARS).contains(&category.len())
        && category
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(VendorError::InvalidCategory)
    }
}

/// The rule's own shape, whatever the vendor already has.
fn check_rule(rule: &CommissionRule) -> Result<(), VendorError> {
    if !visible_ascii(&rule.rule_id, MAX_RULE_ID_CHARS) {
        return Err(VendorError::InvalidRuleId);
    }
    if rule.percent_bp > FULL_BP {
        return Err(VendorError::InvalidPercent);
    }
    if rule.fixed.is_some_and(|fee| fee.amount_minor < 0) {
        return Err(VendorError::InvalidFee);
    }
    if let Some(category) = &rule.category {
        check_category(category)?;
    }
    Ok(())
}

impl Vendor {
    pub fn status(&self) -> VendorStatus {
        self.status
    }

    /// The shop name; empty before the application.
    pub fn name(&self) -> &str {
        &self.details.name
    }

    /// The country of the application; `None` before it.
    pub fn country(&self) -> Option<&str> {
        self.application.as_ref().map(|a| a.country.as_str())
    }

    /// Every user, ordered by account id.
    pub fn users(&self) -> Vec<VendorUser> {
        self.users
            .iter()
            .map(|(account, role)| VendorUser {
                account: *account,
                role: *role,
            })
            .collect()
    }

    /// The role of `account` at this vendor, if it is a user.
    pub fn role_of(&self, account: &CustomerId) -> Option<VendorRole> {
        self.users.get(account).copied()
    }

    /// The vendor's own id, from its application; empty before it, and for applications
    /// recorded before the id was kept.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The currency of the vendor's money: its payouts', else its fixed commission fees';
    /// `None` while it has neither.
    pub fn currency(&self) -> Option<Currency> {
        self.payouts
            .first()
            .map(|p| p.amount.currency)
            .or_else(|| self.rules.iter().find_map(|r| r.fixed).map(|f| f.currency))
    }

    /// Every payout ever requested, in the order requested.
    pub fn payouts(&self) -> &[PayoutView] {
        &self.payouts
    }

    /// The payout with the id `payout_id`, if it was requested.
    pub fn payout(&self, payout_id: &str) -> Option<&PayoutView> {
        self.payouts.iter().find(|p| p.id == payout_id)
    }

    /// The payouts with `status`, added up in minor units. `i128`: the sum of every payout
    /// ever requested (failed ones too) may leave `i64`.
    fn payout_total(&self, status: PayoutStatus) -> i128 {
        self.payouts
            .iter()
            .filter(|p| p.status == status)
            .map(|p| i128::from(p.amount.amount_minor))
            .sum()
    }

    /// The payouts with `status`, added up, in the vendor's currency (see
    /// [`VendorView::payouts_outstanding`]).
    fn payout_money(&self, status: PayoutStatus) -> Option<Money> {
        // Never more than `i64::MAX`: requested and paid payouts together never exceed the
        // `earned_available` (an `i64`) that allowed the latest of them.
        let total = i64::try_from(self.payout_total(status)).unwrap_or(i64::MAX);
        self.currency().map(|currency| Money::new(total, currency))
    }

    /// Every commission rule ever set, by `effective_from`, equal ones in the order set: the
    /// order [`crate::commission`] expects.
    pub fn commission_rules(&self) -> &[CommissionRule] {
        &self.rules
    }

    /// The commission on a line of this vendor: [`crate::commission`] with its rules.
    pub fn commission(
        &self,
        category: Option<&str>,
        line_amount: Money,
        sold_at: DateTime<Utc>,
    ) -> Result<Money, VendorError> {
        commission(&self.rules, category, line_amount, sold_at)
    }

    /// What the storefront may show: `None` for a vendor that was never approved (an
    /// applicant is nobody's business), else its name and country and whether it sells now.
    pub fn public_view(&self, id: &str) -> Option<PublicVendor> {
        let application = self.application.as_ref().filter(|_| self.approved)?;
        Some(PublicVendor {
            id: id.to_string(),
            name: self.details.name.clone(),
            country: application.country.clone(),
            active: self.status == VendorStatus::Active,
        })
    }

    fn admins(&self) -> usize {
        self.users
            .values()
            .filter(|role| **role == VendorRole::Admin)
            .count()
    }

    /// Refuses a change to a rejected or closed vendor.
    fn open(&self) -> Result<(), VendorError> {
        if self.status.is_open() {
            Ok(())
        } else {
            Err(VendorError::InvalidTransition)
        }
    }

    fn apply(
        &self,
        id: &str,
        command: &VendorCommand,
        by: &Principal,
    ) -> Result<Vec<VendorEvent>, VendorError> {
        let VendorCommand::Apply {
            name,
            legal_name,
            contact_email,
            country,
            payout_account,
            applicant,
            now,
        } = command
        else {
            // `decide` calls this for `Apply` only.
            return Err(VendorError::InvalidTransition);
        };
        // Only the vendor workflow files applications, for the signed-in applicant; refusing
        // everyone else first reveals nothing about whether the stream exists.
        if !matches!(by, Principal::System { .. }) {
            return Err(VendorError::Forbidden);
        }
        let details = Details {
            name: name.clone(),
            legal_name: legal_name.clone(),
            contact_email: contact_email.clone(),
            payout_account: payout_account.clone(),
        };
        check_details(&details)?;
        check_country(country)?;
        if let Some(application) = &self.application {
            // The same application again is a retry of the workflow; another is not.
            let same = application.details == details
                && application.country == *country
                && application.applicant == *applicant;
            return if same {
                Ok(vec![])
            } else {
                Err(VendorError::AlreadyExists)
            };
        }
        Ok(vec![VendorEvent::VendorApplied {
            vendor_id: id.to_string(),
            name: name.clone(),
            legal_name: legal_name.clone(),
            contact_email: contact_email.clone(),
            country: country.clone(),
            payout_account: payout_account.clone(),
            applicant: *applicant,
            at: *now,
        }])
    }

    fn update_details(
        &self,
        details: Details,
        now: DateTime<Utc>,
    ) -> Result<Vec<VendorEvent>, VendorError> {
        check_details(&details)?;
        if details == self.details {
            return Ok(vec![]);
        }
        self.open()?;
        Ok(vec![VendorEvent::VendorDetailsUpdated {
            name: details.name,
            legal_name: details.legal_name,
            contact_email: details.contact_email,
            payout_account: details.payout_account,
            at: now,
        }])
    }

    fn add_user(
        &self,
        account: CustomerId,
        role: VendorRole,
        now: DateTime<Utc>,
    ) -> Result<Vec<VendorEvent>, VendorError> {
        let current = self.users.get(&account).copied();
        if current == Some(role) {
            return Ok(vec![]);
        }
        self.open()?;
        match current {
            Some(VendorRole::Admin) if self.admins() == 1 => Err(VendorError::LastAdmin),
            Some(_) => Ok(vec![VendorEvent::VendorUserRoleChanged {
                account,
                role,
                at: now,
            }]),
            None if self.users.len() >= MAX_USERS => Err(VendorError::TooManyUsers),
            None => Ok(vec![VendorEvent::VendorUserAdded {
                account,
                role,
                at: now,
            }]),
        }
    }

    fn remove_user(
        &self,
        account: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Vec<VendorEvent>, VendorError> {
        let Some(role) = self.users.get(&account) else {
            // Not (or no longer) a user: what a retried removal wants is already true.
            return Ok(vec![]);
        };
        self.open()?;
        if *role == VendorRole::Admin && self.admins() == 1 {
            return Err(VendorError::LastAdmin);
        }
        Ok(vec![VendorEvent::VendorUserRemoved { account, at: now }])
    }

    fn set_commission(
        &self,
        rule: CommissionRule,
        now: DateTime<Utc>,
    ) -> Result<Vec<VendorEvent>, VendorError> {
        check_rule(&rule)?;
        if let Some(set) = self.rules.iter().find(|r| r.rule_id == rule.rule_id) {
            // The same rule again is a retry (even once its date has passed); anything else
            // would change a rule that may already have priced sales.
            return if *set == rule {
                Ok(vec![])
            } else {
                Err(VendorError::RuleExists)
            };
        }
        self.open()?;
        if rule.effective_from < now {
            return Err(VendorError::RetroactiveRule);
        }
        if let Some(fee) = rule.fixed {
            // One currency across the vendor's fees and payouts.
            if self.currency().is_some_and(|c| c != fee.currency) {
                return Err(VendorError::CurrencyMismatch);
            }
        }
        if self.rules.len() >= MAX_RULES {
            return Err(VendorError::TooManyRules);
        }
        Ok(vec![VendorEvent::CommissionRuleSet {
            rule_id: rule.rule_id,
            percent_bp: rule.percent_bp,
            fixed: rule.fixed,
            category: rule.category,
            effective_from: rule.effective_from,
            at: now,
        }])
    }

    /// Allows a payout if it fits in what the vendor earned less every payout under way or
    /// made. The one place a vendor's payouts are serialized: one command at a time per
    /// vendor, so two requests never both take the same money.
    fn request_payout(
        &self,
        payout_id: &str,
        amount: Money,
        earned_available: Money,
        minimum: Money,
        now: DateTime<Utc>,
    ) -> Result<Vec<VendorEvent>, VendorError> {
        if !visible_ascii(payout_id, MAX_PAYOUT_ID_CHARS) {
            return Err(VendorError::InvalidPayoutId);
        }
        if let Some(payout) = self.payout(payout_id) {
            // The same request again is a retry (whatever became of the payout since, and
            // whatever the balance now is); another amount under the id is not. A failed
            // payout is made again under a new id.
            return if payout.amount == amount {
                Ok(vec![])
            } else {
                Err(VendorError::PayoutConflict)
            };
        }
        let currency = amount.currency;
        if earned_available.currency != currency
            || minimum.currency != currency
            || self.currency().is_some_and(|c| c != currency)
        {
            return Err(VendorError::CurrencyMismatch);
        }
        if minimum.amount_minor < 0 {
            return Err(VendorError::InvalidAmount);
        }
        if amount.amount_minor <= 0 || amount.amount_minor < minimum.amount_minor {
            return Err(VendorError::BelowMinimum);
        }
        match self.status {
            // A closed vendor is still paid what it earned: its final payout.
            VendorStatus::Active | VendorStatus::Closed => {}
            VendorStatus::Suspended => return Err(VendorError::PayoutsFrozen),
            VendorStatus::New | VendorStatus::Applied | VendorStatus::Rejected => {
                return Err(VendorError::InvalidTransition)
            }
        }
        let committed =
            self.payout_total(PayoutStatus::Requested) + self.payout_total(PayoutStatus::Paid);
        if i128::from(amount.amount_minor) > i128::from(earned_available.amount_minor) - committed {
            return Err(VendorError::InsufficientBalance);
        }
        Ok(vec![VendorEvent::VendorPayoutRequested {
            payout_id: payout_id.to_string(),
            amount,
            destination: self.details.payout_account.clone(),
            at: now,
        }])
    }

    /// Records the provider's answer for a payout: once, and never a contradicting one.
    fn record_payout(
        &self,
        payout_id: &str,
        outcome: &PayoutOutcome,
        now: DateTime<Utc>,
    ) -> Result<Vec<VendorEvent>, VendorError> {
        if !visible_ascii(payout_id, MAX_PAYOUT_ID_CHARS) {
            return Err(VendorError::InvalidPayoutId);
        }
        match outcome {
            PayoutOutcome::Paid { transfer_id } => {
                if !visible_ascii(transfer_id, MAX_TRANSFER_ID_CHARS) {
                    return Err(VendorError::InvalidTransferId);
                }
            }
            PayoutOutcome::Failed { reason } => check_reason(reason)?,
        }
        let payout = self.payout(payout_id).ok_or(VendorError::UnknownPayout)?;
        // Whatever the vendor's status: the provider's answer is a fact to record.
        match (payout.status, outcome) {
            (PayoutStatus::Requested, PayoutOutcome::Paid { transfer_id }) => {
                Ok(vec![VendorEvent::VendorPayoutPaid {
                    payout_id: payout_id.to_string(),
                    transfer_id: transfer_id.clone(),
                    at: now,
                }])
            }
            (PayoutStatus::Requested, PayoutOutcome::Failed { reason }) => {
                Ok(vec![VendorEvent::VendorPayoutFailed {
                    payout_id: payout_id.to_string(),
                    reason: reason.clone(),
                    at: now,
                }])
            }
            // The same transfer again is a retry; another transfer would be a second payment.
            (PayoutStatus::Paid, PayoutOutcome::Paid { transfer_id })
                if payout.transfer_id.as_ref() == Some(transfer_id) =>
            {
                Ok(vec![])
            }
            // A failure again is a retry, whatever it says: the first reason stands.
            (PayoutStatus::Failed, PayoutOutcome::Failed { .. }) => Ok(vec![]),
            _ => Err(VendorError::PayoutConflict),
        }
    }
}

impl Decider for Vendor {
    const TYPE: &'static str = "vendor";
    type Command = VendorCommand;
    type Event = VendorEvent;
    type Error = VendorError;
    type View = VendorView;

    fn decide(
        &self,
        id: &str,
        command: &VendorCommand,
        by: &Principal,
    ) -> Result<Vec<VendorEvent>, VendorError> {
        if let VendorCommand::Apply { .. } = command {
            return self.apply(id, command, by);
        }
        if self.application.is_none() {
            return Err(VendorError::NotFound);
        }
        // The stream id, which a command always has: the recorded one may be missing (see
        // `Vendor::id`).
        let access = access(&self.users, id, by);
        // A stranger learns nothing, not even that the vendor exists.
        if access == Access::Stranger {
            return Err(VendorError::NotFound);
        }
        if !allowed(access, command) {
            return Err(VendorError::Forbidden);
        }
        match command {
            // Handled above; kept total so a new command cannot slip past the checks.
            VendorCommand::Apply { .. } => self.apply(id, command, by),
            VendorCommand::Approve { now } => match self.status {
                VendorStatus::Applied => Ok(vec![VendorEvent::VendorApproved { at: *now }]),
                VendorStatus::Active => Ok(vec![]),
                _ => Err(VendorError::InvalidTransition),
            },
            VendorCommand::Reject { reason, now } => {
                check_reason(reason)?;
                match self.status {
                    VendorStatus::Applied => Ok(vec![VendorEvent::VendorRejected {
                        reason: reason.clone(),
                        at: *now,
                    }]),
                    VendorStatus::Rejected => Ok(vec![]),
                    _ => Err(VendorError::InvalidTransition),
                }
            }
            VendorCommand::Suspend { reason, now } => {
                check_reason(reason)?;
                match self.status {
                    VendorStatus::Active => Ok(vec![VendorEvent::VendorSuspended {
                        reason: reason.clone(),
                        at: *now,
                    }]),
                    VendorStatus::Suspended => Ok(vec![]),
                    _ => Err(VendorError::InvalidTransition),
                }
            }
            VendorCommand::Reactivate { now } => match self.status {
                VendorStatus::Suspended => Ok(vec![VendorEvent::VendorReactivated { at: *now }]),
                VendorStatus::Active => Ok(vec![]),
                _ => Err(VendorError::InvalidTransition),
            },
            VendorCommand::Close { reason, now } => {
                if let Some(reason) = reason {
                    check_reason(reason)?;
                }
                match self.status {
                    VendorStatus::Applied | VendorStatus::Active | VendorStatus::Suspended => {
                        Ok(vec![VendorEvent::VendorClosed {
                            reason: reason.clone(),
                            at: *now,
                        }])
                    }
                    VendorStatus::Closed => Ok(vec![]),
                    VendorStatus::New | VendorStatus::Rejected => {
                        Err(VendorError::InvalidTransition)
                    }
                }
            }
            VendorCommand::UpdateDetails {
                name,
                legal_name,
                contact_email,
                payout_account,
                now,
            } => self.update_details(
                Details {
                    name: name.clone(),
                    legal_name: legal_name.clone(),
                    contact_email: contact_email.clone(),
                    payout_account: payout_account.clone(),
                },
                *now,
            ),
            VendorCommand::AddUser { account, role, now } => self.add_user(*account, *role, *now),
            VendorCommand::RemoveUser { account, now } => self.remove_user(*account, *now),
            VendorCommand::SetCommission {
                rule_id,
                percent_bp,
                fixed,
                category,
                effective_from,
                now,
            } => self.set_commission(
                CommissionRule {
                    rule_id: rule_id.clone(),
                    percent_bp: *percent_bp,
                    fixed: *fixed,
                    category: category.clone(),
                    effective_from: *effective_from,
                },
                *now,
            ),
            VendorCommand::RequestPayout {
                payout_id,
                amount,
                earned_available,
                minimum,
                now,
            } => self.request_payout(payout_id, *amount, *earned_available, *minimum, *now),
            VendorCommand::RecordPayout {
                payout_id,
                outcome,
                now,
            } => self.record_payout(payout_id, outcome, *now),
        }
    }

    fn evolve(&mut self, event: &VendorEvent) {
        self.updated_at = Some(event.at());
        match event {
            VendorEvent::VendorApplied {
                vendor_id,
                name,
                legal_name,
                contact_email,
                country,
                payout_account,
                applicant,
                at,
            } => {
                self.id = vendor_id.clone();
                let details = Details {
                    name: name.clone(),
                    legal_name: legal_name.clone(),
                    contact_email: contact_email.clone(),
                    payout_account: payout_account.clone(),
                };
                self.application = Some(Application {
                    details: details.clone(),
                    country: country.clone(),
                    applicant: *applicant,
                    applied_at: *at,
                });
                self.details = details;
                self.users.insert(*applicant, VendorRole::Admin);
                self.status = VendorStatus::Applied;
            }
            VendorEvent::VendorApproved { .. } => {
                self.status = VendorStatus::Active;
                self.approved = true;
            }
            VendorEvent::VendorRejected { reason, .. } => {
                self.status = VendorStatus::Rejected;
                self.rejection_reason = Some(reason.clone());
            }
            VendorEvent::VendorSuspended { reason, .. } => {
                self.status = VendorStatus::Suspended;
                self.suspension_reason = Some(reason.clone());
            }
            VendorEvent::VendorReactivated { .. } => {
                self.status = VendorStatus::Active;
                self.suspension_reason = None;
            }
            VendorEvent::VendorClosed { reason, .. } => {
                self.status = VendorStatus::Closed;
                self.closing_reason = reason.clone();
            }
            VendorEvent::VendorDetailsUpdated {
                name,
                legal_name,
                contact_email,
                payout_account,
                ..
            } => {
                self.details = Details {
                    name: name.clone(),
                    legal_name: legal_name.clone(),
                    contact_email: contact_email.clone(),
                    payout_account: payout_account.clone(),
                };
            }
            VendorEvent::VendorUserAdded { account, role, .. }
            | VendorEvent::VendorUserRoleChanged { account, role, .. } => {
                self.users.insert(*account, *role);
            }
            VendorEvent::VendorUserRemoved { account, .. } => {
                self.users.remove(account);
            }
            VendorEvent::CommissionRuleSet {
                rule_id,
                percent_bp,
                fixed,
                category,
                effective_from,
                ..
            } => {
                // After every rule from the same moment or earlier: equal dates keep the
                // order they were set in, which `commission` relies on.
                let at = self
                    .rules
                    .partition_point(|r| r.effective_from <= *effective_from);
                self.rules.insert(
                    at,
                    CommissionRule {
                        rule_id: rule_id.clone(),
                        percent_bp: *percent_bp,
                        fixed: *fixed,
                        category: category.clone(),
                        effective_from: *effective_from,
                    },
                );
            }
            VendorEvent::VendorPayoutRequested {
                payout_id,
                amount,
                destination,
                at,
            } => self.payouts.push(PayoutView {
                id: payout_id.clone(),
                amount: *amount,
                destination: destination.clone(),
                status: PayoutStatus::Requested,
                transfer_id: None,
                reason: None,
                requested_at: *at,
                settled_at: None,
            }),
            VendorEvent::VendorPayoutPaid {
                payout_id,
                transfer_id,
                at,
            } => {
                if let Some(payout) = self.payouts.iter_mut().find(|p| p.id == *payout_id) {
                    payout.status = PayoutStatus::Paid;
                    payout.transfer_id = Some(transfer_id.clone());
                    payout.settled_at = Some(*at);
                }
            }
            VendorEvent::VendorPayoutFailed {
                payout_id,
                reason,
                at,
            } => {
                if let Some(payout) = self.payouts.iter_mut().find(|p| p.id == *payout_id) {
                    payout.status = PayoutStatus::Failed;
                    payout.reason = Some(reason.clone());
                    payout.settled_at = Some(*at);
                }
            }
        }
    }

    fn authorize_read(&self, by: &Principal) -> Result<(), VendorError> {
        if self.application.is_some() && access(&self.users, &self.id, by) != Access::Stranger {
            Ok(())
        } else {
            Err(VendorError::NotFound)
        }
    }

    fn view(&self, id: &str, version: u64) -> VendorView {
        let (country, applied_at) = match &self.application {
            None => (String::new(), DateTime::<Utc>::UNIX_EPOCH),
            Some(application) => (application.country.clone(), application.applied_at),
        };
        VendorView {
            id: id.to_string(),
            version,
            status: self.status,
            name: self.details.name.clone(),
            legal_name: self.details.legal_name.clone(),
            contact_email: self.details.contact_email.clone(),
            country,
            payout_account: self.details.payout_account.clone(),
            users: self.users(),
            commission_rules: self.rules.clone(),
            rejection_reason: self.rejection_reason.clone(),
            suspension_reason: self.suspension_reason.clone(),
            closing_reason: self.closing_reason.clone(),
            applied_at,
            updated_at: self.updated_at.unwrap_or(applied_at),
            // The newest, and every payout still waiting for the provider however old: the
            // runner sends what the view lists.
            payouts: self
                .payouts
                .iter()
                .rev()
                .enumerate()
                .filter(|(i, p)| *i < MAX_VIEW_PAYOUTS || p.status == PayoutStatus::Requested)
                .map(|(_, p)| p.clone())
                .collect(),
            payout_count: self.payouts.len(),
            payouts_outstanding: self.payout_money(PayoutStatus::Requested),
            paid_out: self.payout_money(PayoutStatus::Paid),
        }
    }

    fn event_type(event: &VendorEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Vendor, VendorEvent);

pub use agora_kernel::CqrsEnvelope;

#[cfg(test)]
mod tests;

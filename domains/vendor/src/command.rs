//! The vendor's commands and the value types they share with its events. Field and variant
//! names are published (commands are NATS payloads, events are stored forever): never rename
//! them.

use agora_kernel::{CustomerId, Money};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a user of a vendor may do for it. Either may read the vendor; an admin also changes
/// its details and users and may close it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VendorRole {
    Admin,
    Member,
}

impl VendorRole {
    /// The wire name (`admin`), as serde writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            VendorRole::Admin => "admin",
            VendorRole::Member => "member",
        }
    }
}

/// What the payout provider said of a payout the vendor aggregate allowed: the runner that
/// called the provider records it with [`VendorCommand::RecordPayout`]. On the wire it is
/// tagged by `status`: `{"status": "paid", "transfer_id": "tr_1"}` or
/// `{"status": "failed", "reason": "account closed"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum PayoutOutcome {
    /// The provider made the transfer; `transfer_id` is its reference (`tr_1Nv0...`).
    Paid { transfer_id: String },
    /// The provider could not pay, and says why: the money is the vendor's again.
    Failed { reason: String },
}

/// Commands on one vendor (stream id: the vendor id, a UUID chosen by the caller). Every
/// variant name is also the NATS endpoint name (`agora.vendor.<name>`); see
/// `VendorCommand::NAMES` (from `agora_kernel::Command`). Every command carries `now`:
/// `decide` reads no clock.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum VendorCommand {
    /// Opens the vendor's application. Only the platform sends it: the vendor workflow, on
    /// behalf of the signed-in `applicant`, who becomes the vendor's first user, an admin.
    Apply {
        /// The shop name shoppers see.
        name: String,
        /// The company's registered name, for invoices and payouts.
        legal_name: String,
        contact_email: String,
        /// ISO 3166 alpha-2 (`DE`); fixed by the application.
        country: String,
        /// The payment provider's reference of the account payouts go to (`acct_1Nv0...`);
        /// never bank details.
        payout_account: String,
        applicant: CustomerId,
        now: DateTime<Utc>,
    },
    /// The back office accepts the application: the vendor may sell.
    Approve { now: DateTime<Utc> },
    /// The back office turns the application down, saying why (the applicant reads it).
    Reject { reason: String, now: DateTime<Utc> },
    /// The back office stops an active vendor from selling, saying why.
    Suspend { reason: String, now: DateTime<Utc> },
    /// The back office lets a suspended vendor sell again.
    Reactivate { now: DateTime<Utc> },
    /// The vendor stops for good: by its own admin, an admin of the platform or the platform.
    Close {
        #[serde(default)]
        reason: Option<String>,
        now: DateTime<Utc>,
    },
    /// Replaces the vendor's details (the country stays what the application said).
    UpdateDetails {
        name: String,
        legal_name: String,
        contact_email: String,
        payout_account: String,
        now: DateTime<Utc>,
    },
    /// Gives the account `account` the role `role` at this vendor: adds it, or changes its
    /// role if it is a user already.
    AddUser {
        account: CustomerId,
        role: VendorRole,
        now: DateTime<Utc>,
    },
    /// Takes the account `account` off the vendor's users.
    RemoveUser {
        account: CustomerId,
        now: DateTime<Utc>,
    },
    /// Sets a commission rule from `effective_from` on: the platform keeps `percent_bp` of a
    /// sold line (basis points) plus `fixed`, for lines of `category` or, without one, for
    /// every line. A rule id is set once and never changed; a later rule replaces an earlier
    /// one from its own `effective_from`, never before `now`.
    SetCommission {
        rule_id: String,
        percent_bp: u32,
        #[serde(default)]
        fixed: Option<Money>,
        #[serde(default)]
        category: Option<String>,
        effective_from: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Asks to pay the vendor `amount` (to its payout account as it is now), under the id
    /// `payout_id` the caller chose (the same id again is a retry). The aggregate serializes
    /// the vendor's payouts: it allows the payout only if `amount` fits in `earned_available`
    /// less every payout requested or paid and not failed, so two concurrent requests never
    /// pay out more than the vendor has. Sent by the payout runner (scheduled), an admin or
    /// staff, or the vendor's admin user (on demand).
    RequestPayout {
        /// `1..=64` visible ASCII characters (`2025-06-15`, `manual/3f2b...`).
        payout_id: String,
        /// What to pay: more than zero and at least `minimum`.
        amount: Money,
        /// What the caller read from the ledger read model: the vendor's available balance
        /// over every entry except payouts and failed payouts
        /// ([`crate::Ledger::earned_available`]).
        earned_available: Money,
        /// The smallest payout the marketplace makes (configuration, at least zero).
        minimum: Money,
        now: DateTime<Utc>,
    },
    /// Records what the payout provider said of the payout `payout_id`: it paid, or it could
    /// not (then the amount counts as the vendor's again). Only the platform (the payout
    /// runner) and admins send it.
    RecordPayout {
        payout_id: String,
        outcome: PayoutOutcome,
        now: DateTime<Utc>,
    },
}

impl VendorCommand {
    /// The moment the command was sent, which every command carries.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            VendorCommand::Apply { now, .. }
            | VendorCommand::Approve { now }
            | VendorCommand::Reject { now, .. }
            | VendorCommand::Suspend { now, .. }
            | VendorCommand::Reactivate { now }
            | VendorCommand::Close { now, .. }
            | VendorCommand::UpdateDetails { now, .. }
            | VendorCommand::AddUser { now, .. }
            | VendorCommand::RemoveUser { now, .. }
            | VendorCommand::SetCommission { now, .. }
            | VendorCommand::RequestPayout { now, .. }
            | VendorCommand::RecordPayout { now, .. } => *now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;
    use serde_json::json;

    const NOW: &str = "2025-06-15T12:00:00Z";
    const FROM: &str = "2025-07-01T00:00:00Z";
    const ACCOUNT: &str = "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69";

    fn now() -> DateTime<Utc> {
        NOW.parse().expect("a valid instant")
    }

    fn account() -> CustomerId {
        ACCOUNT.parse().expect("a valid customer id")
    }

    /// Every command in its wire form (the NATS payload) and as a value.
    fn wire_commands() -> Vec<(serde_json::Value, VendorCommand)> {
        vec![
            (
                json!({"apply": {
                    "name": "Acme", "legal_name": "Acme GmbH", "contact_email": "shop@acme.example",
                    "country": "DE", "payout_account": "acct_1Nv0", "applicant": ACCOUNT,
                    "now": NOW
                }}),
                VendorCommand::Apply {
                    name: "Acme".into(),
                    legal_name: "Acme GmbH".into(),
                    contact_email: "shop@acme.example".into(),
                    country: "DE".into(),
                    payout_account: "acct_1Nv0".into(),
                    applicant: account(),
                    now: now(),
                },
            ),
            (
                json!({"approve": {"now": NOW}}),
                VendorCommand::Approve { now: now() },
            ),
            (
                json!({"reject": {"reason": "no VAT id", "now": NOW}}),
                VendorCommand::Reject {
                    reason: "no VAT id".into(),
                    now: now(),
                },
            ),
            (
                json!({"suspend": {"reason": "fraud check", "now": NOW}}),
                VendorCommand::Suspend {
                    reason: "fraud check".into(),
                    now: now(),
                },
            ),
            (
                json!({"reactivate": {"now": NOW}}),
                VendorCommand::Reactivate { now: now() },
            ),
            (
                json!({"close": {"reason": "retiring", "now": NOW}}),
                VendorCommand::Close {
                    reason: Some("retiring".into()),
                    now: now(),
                },
            ),
            (
                json!({"update_details": {
                    "name": "Acme", "legal_name": "Acme AG", "contact_email": "a@b",
                    "payout_account": "acct_2", "now": NOW
                }}),
                VendorCommand::UpdateDetails {
                    name: "Acme".into(),
                    legal_name: "Acme AG".into(),
                    contact_email: "a@b".into(),
                    payout_account: "acct_2".into(),
                    now: now(),
                },
            ),
            (
                json!({"add_user": {"account": ACCOUNT, "role": "member", "now": NOW}}),
                VendorCommand::AddUser {
                    account: account(),
                    role: VendorRole::Member,
                    now: now(),
                },
            ),
            (
                json!({"remove_user": {"account": ACCOUNT, "now": NOW}}),
                VendorCommand::RemoveUser {
                    account: account(),
                    now: now(),
                },
            ),
            (
                json!({"set_commission": {
                    "rule_id": "books-2025", "percent_bp": 1250,
                    "fixed": {"amount_minor": 30, "currency": "EUR"}, "category": "books",
                    "effective_from": FROM, "now": NOW
                }}),
                VendorCommand::SetCommission {
                    rule_id: "books-2025".into(),
                    percent_bp: 1250,
                    fixed: Some(Money::new(30, Currency::EUR)),
                    category: Some("books".into()),
                    effective_from: FROM.parse().expect("a valid instant"),
                    now: now(),
                },
            ),
            (
                json!({"request_payout": {
                    "payout_id": "2025-06-15",
                    "amount": {"amount_minor": 8800, "currency": "EUR"},
                    "earned_available": {"amount_minor": 10000, "currency": "EUR"},
                    "minimum": {"amount_minor": 1000, "currency": "EUR"},
                    "now": NOW
                }}),
                VendorCommand::RequestPayout {
                    payout_id: "2025-06-15".into(),
                    amount: Money::new(8800, Currency::EUR),
                    earned_available: Money::new(10_000, Currency::EUR),
                    minimum: Money::new(1000, Currency::EUR),
                    now: now(),
                },
            ),
            (
                json!({"record_payout": {
                    "payout_id": "2025-06-15",
                    "outcome": {"status": "paid", "transfer_id": "tr_1Nv0"},
                    "now": NOW
                }}),
                VendorCommand::RecordPayout {
                    payout_id: "2025-06-15".into(),
                    outcome: PayoutOutcome::Paid {
                        transfer_id: "tr_1Nv0".into(),
                    },
                    now: now(),
                },
            ),
            (
                json!({"record_payout": {
                    "payout_id": "2025-06-15",
                    "outcome": {"status": "failed", "reason": "account closed"},
                    "now": NOW
                }}),
                VendorCommand::RecordPayout {
                    payout_id: "2025-06-15".into(),
                    outcome: PayoutOutcome::Failed {
                        reason: "account closed".into(),
                    },
                    now: now(),
                },
            ),
        ]
    }

    #[test]
    fn every_command_arrives_in_its_wire_form() {
        for (wire, command) in wire_commands() {
            let parsed: VendorCommand = serde_json::from_value(wire).expect("parses");
            assert_eq!(parsed, command);
            assert_eq!(parsed.now(), now());
        }
    }

    #[test]
    fn optional_fields_may_be_left_out() {
        let close: VendorCommand =
            serde_json::from_value(json!({"close": {"now": NOW}})).expect("parses");
        assert_eq!(
            close,
            VendorCommand::Close {
                reason: None,
                now: now()
            }
        );
        let vendor_wide: VendorCommand = serde_json::from_value(json!({"set_commission": {
            "rule_id": "base", "percent_bp": 1000, "effective_from": FROM, "now": NOW
        }}))
        .expect("parses");
        assert!(matches!(
            vendor_wide,
            VendorCommand::SetCommission {
                fixed: None,
                category: None,
                ..
            }
        ));
    }

    #[test]
    fn unknown_fields_roles_and_malformed_values_are_rejected() {
        for (mut wire, command) in wire_commands() {
            let name: &'static str = (&command).into();
            wire[name]["surprise"] = json!(1);
            assert!(
                serde_json::from_value::<VendorCommand>(wire).is_err(),
                "{name} accepted an unknown field"
            );
        }
        let (mut add, _) = wire_commands().remove(7);
        add["add_user"]["role"] = json!("owner");
        assert!(serde_json::from_value::<VendorCommand>(add).is_err());
        let (mut add, _) = wire_commands().remove(7);
        add["add_user"]["account"] = json!("not-a-uuid");
        assert!(serde_json::from_value::<VendorCommand>(add).is_err());
        let (mut rule, _) = wire_commands().remove(9);
        rule["set_commission"]["percent_bp"] = json!(-1);
        assert!(serde_json::from_value::<VendorCommand>(rule).is_err());
        let (mut rule, _) = wire_commands().remove(9);
        rule["set_commission"]["percent_bp"] = json!(12.5);
        assert!(serde_json::from_value::<VendorCommand>(rule).is_err());
        // Time is never optional.
        assert!(serde_json::from_value::<VendorCommand>(json!({"approve": {}})).is_err());
    }

    #[test]
    fn a_payout_outcome_is_paid_with_a_transfer_or_failed_with_a_reason() {
        let outcome = |value| serde_json::from_value::<PayoutOutcome>(value);
        for refused in [
            json!({"status": "paid"}),
            json!({"status": "failed"}),
            json!({"status": "paid", "reason": "x"}),
            json!({"status": "paid", "transfer_id": "tr_1", "surprise": 1}),
            json!({"status": "refunded", "transfer_id": "tr_1"}),
            json!({"paid": {"transfer_id": "tr_1"}}),
        ] {
            assert!(outcome(refused.clone()).is_err(), "{refused}");
        }
        let paid = PayoutOutcome::Paid {
            transfer_id: "tr_1".into(),
        };
        assert_eq!(
            serde_json::to_value(&paid).expect("serializes"),
            json!({"status": "paid", "transfer_id": "tr_1"})
        );
    }

    #[test]
    fn roles_name_themselves_as_serde_does() {
        for role in [VendorRole::Admin, VendorRole::Member] {
            assert_eq!(
                serde_json::to_value(role).expect("serializes"),
                json!(role.as_str())
            );
        }
    }
}

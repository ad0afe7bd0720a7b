use agora_kernel::{CustomerId, Money};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::VendorRole;

/// Facts about a vendor. A published contract: variants and fields are never renamed; a
/// change of shape gets a new event version and an upcaster. Every event carries the `now` of
/// the command that caused it as `at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VendorEvent {
    /// The application was filed. The `applicant` is from then on the vendor's first user,
    /// with the role `admin` (no `VendorUserAdded` is recorded for them).
    VendorApplied {
        /// The vendor's own id (its stream id), so that its state knows which vendor a
        /// vendor's user must act for. Empty in applications recorded before it was kept.
        #[serde(default)]
        vendor_id: String,
        name: String,
        legal_name: String,
        contact_email: String,
        country: String,
        payout_account: String,
        applicant: CustomerId,
        at: DateTime<Utc>,
    },
    VendorApproved {
        at: DateTime<Utc>,
    },
    VendorRejected {
        reason: String,
        at: DateTime<Utc>,
    },
    VendorSuspended {
        reason: String,
        at: DateTime<Utc>,
    },
    VendorReactivated {
        at: DateTime<Utc>,
    },
    VendorClosed {
        reason: Option<String>,
        at: DateTime<Utc>,
    },
    /// The details as they are from now on, all of them.
    VendorDetailsUpdated {
        name: String,
        legal_name: String,
        contact_email: String,
        payout_account: String,
        at: DateTime<Utc>,
    },
    VendorUserAdded {
        account: CustomerId,
        role: VendorRole,
        at: DateTime<Utc>,
    },
    /// A user's new role.
    VendorUserRoleChanged {
        account: CustomerId,
        role: VendorRole,
        at: DateTime<Utc>,
    },
    VendorUserRemoved {
        account: CustomerId,
        at: DateTime<Utc>,
    },
    /// A commission rule, in force from `effective_from` (never before `at`).
    CommissionRuleSet {
        rule_id: String,
        percent_bp: u32,
        fixed: Option<Money>,
        category: Option<String>,
        effective_from: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// A payout was allowed: `amount` counts against the vendor's balance from now on, until
    /// it fails. `destination` is the payout account the vendor had at `at`; the payout
    /// runner pays it there under the provider idempotency key `payout_id`.
    VendorPayoutRequested {
        payout_id: String,
        amount: Money,
        destination: String,
        at: DateTime<Utc>,
    },
    /// The provider made the transfer `transfer_id` for the payout.
    VendorPayoutPaid {
        payout_id: String,
        transfer_id: String,
        at: DateTime<Utc>,
    },
    /// The provider could not make the payout: its amount is the vendor's again.
    VendorPayoutFailed {
        payout_id: String,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl VendorEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            VendorEvent::VendorApplied { .. } => "VendorApplied",
            VendorEvent::VendorApproved { .. } => "VendorApproved",
            VendorEvent::VendorRejected { .. } => "VendorRejected",
            VendorEvent::VendorSuspended { .. } => "VendorSuspended",
            VendorEvent::VendorReactivated { .. } => "VendorReactivated",
            VendorEvent::VendorClosed { .. } => "VendorClosed",
            VendorEvent::VendorDetailsUpdated { .. } => "VendorDetailsUpdated",
            VendorEvent::VendorUserAdded { .. } => "VendorUserAdded",
            VendorEvent::VendorUserRoleChanged { .. } => "VendorUserRoleChanged",
            VendorEvent::VendorUserRemoved { .. } => "VendorUserRemoved",
            VendorEvent::CommissionRuleSet { .. } => "CommissionRuleSet",
            VendorEvent::VendorPayoutRequested { .. } => "VendorPayoutRequested",
            VendorEvent::VendorPayoutPaid { .. } => "VendorPayoutPaid",
            VendorEvent::VendorPayoutFailed { .. } => "VendorPayoutFailed",
        }
    }

    /// The moment the event records.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            VendorEvent::VendorApplied { at, .. }
            | VendorEvent::VendorApproved { at }
            | VendorEvent::VendorRejected { at, .. }
            | VendorEvent::VendorSuspended { at, .. }
            | VendorEvent::VendorReactivated { at }
            | VendorEvent::VendorClosed { at, .. }
            | VendorEvent::VendorDetailsUpdated { at, .. }
            | VendorEvent::VendorUserAdded { at, .. }
            | VendorEvent::VendorUserRoleChanged { at, .. }
            | VendorEvent::VendorUserRemoved { at, .. }
            | VendorEvent::CommissionRuleSet { at, .. }
            | VendorEvent::VendorPayoutRequested { at, .. }
            | VendorEvent::VendorPayoutPaid { at, .. }
            | VendorEvent::VendorPayoutFailed { at, .. } => *at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;

    #[test]
    fn the_event_type_is_the_serde_tag() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let account: CustomerId = "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69"
            .parse()
            .expect("a valid customer id");
        let events = [
            VendorEvent::VendorApplied {
                vendor_id: "5d0c9e1b-7a4f-4c2e-8b3d-6f1a2e9c7b40".into(),
                name: "Acme".into(),
                legal_name: "Acme GmbH".into(),
                contact_email: "shop@acme.example".into(),
                country: "DE".into(),
                payout_account: "acct_1".into(),
                applicant: account,
                at,
            },
            VendorEvent::VendorApproved { at },
            VendorEvent::VendorRejected {
                reason: "no VAT id".into(),
                at,
            },
            VendorEvent::VendorSuspended {
                reason: "fraud check".into(),
                at,
            },
            VendorEvent::VendorReactivated { at },
            VendorEvent::VendorClosed { reason: None, at },
            VendorEvent::VendorDetailsUpdated {
                name: "Acme".into(),
                legal_name: "Acme AG".into(),
                contact_email: "a@b".into(),
                payout_account: "acct_2".into(),
                at,
            },
            VendorEvent::VendorUserAdded {
                account,
                role: VendorRole::Member,
                at,
            },
            VendorEvent::VendorUserRoleChanged {
                account,
                role: VendorRole::Admin,
                at,
            },
            VendorEvent::VendorUserRemoved { account, at },
            VendorEvent::CommissionRuleSet {
                rule_id: "base".into(),
                percent_bp: 1000,
                fixed: Some(Money::new(30, Currency::EUR)),
                category: Some("books".into()),
                effective_from: at,
                at,
            },
            VendorEvent::VendorPayoutRequested {
                payout_id: "2025-06-15".into(),
                amount: Money::new(8800, Currency::EUR),
                destination: "acct_1".into(),
                at,
            },
            VendorEvent::VendorPayoutPaid {
                payout_id: "2025-06-15".into(),
                transfer_id: "tr_1".into(),
                at,
            },
            VendorEvent::VendorPayoutFailed {
                payout_id: "2025-06-15".into(),
                reason: "account closed".into(),
                at,
            },
        ];
        for event in events {
            let value = serde_json::to_value(&event).expect("serializes");
            assert!(value.get(event.event_type()).is_some(), "{value}");
            assert_eq!(event.at(), at);
            let back: VendorEvent = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, event);
        }
    }

    /// Applications stored before the vendor's id was kept read back, with an empty id.
    #[test]
    fn an_application_recorded_without_the_vendor_id_still_reads() {
        let stored = serde_json::json!({"VendorApplied": {
            "name": "Acme", "legal_name": "Acme GmbH", "contact_email": "shop@acme.example",
            "country": "DE", "payout_account": "acct_1",
            "applicant": "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69", "at": "2025-06-15T12:00:00Z"
        }});
        let event: VendorEvent = serde_json::from_value(stored).expect("reads");
        assert!(
            matches!(event, VendorEvent::VendorApplied { vendor_id, .. } if vendor_id.is_empty())
        );
    }
}

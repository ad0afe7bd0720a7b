//! Vendors: the sellers of the marketplace (many vendors selling in one shop), what the
//! platform keeps of their sales, and what it owes and pays them.
//!
//! Three parts, each usable alone:
//!
//! - [`Vendor`], an aggregate, one stream per vendor (stream type `vendor`, id a UUID chosen
//!   by the caller), served as NATS service `vendor`: the application, its review and the
//!   vendor's life, `Applied → Active ⇄ Suspended`, or `Applied → Rejected`, and `Closed`
//!   from any of `Applied`, `Active` and `Suspended`; its details, its users, its commission
//!   rules and its payouts. The storefront reads [`Vendor::public_view`], never the full view.
//! - [`commission`], a pure function: what the platform keeps of one sold line under a
//!   vendor's [`CommissionRule`]s.
//! - [`Ledger`], a pure fold of [`LedgerEntry`]s (each from one recorded event) into the
//!   vendor's [`Balances`]: pending, available, paid out, and earned available (available
//!   before any payout, what a payout request is checked against).
//!
//! Payouts: the payout runner (scheduled) or a person (on demand) reads the vendor's
//! [`Ledger::earned_available`] from the ledger read model and sends
//! [`VendorCommand::RequestPayout`]; the aggregate, one command at a time per vendor, allows
//! it only if it fits in that figure less every payout of the vendor requested or paid (not
//! failed), and records `VendorPayoutRequested` with the vendor's payout account. The runner
//! then pays it through the payout provider (with the payout id as idempotency key) and sends
//! [`VendorCommand::RecordPayout`] with the provider's answer: `VendorPayoutPaid`, or
//! `VendorPayoutFailed`, after which the amount counts as the vendor's again.
//!
//! Invariants (enforced by [`Vendor`]'s `decide`, [`commission`] and [`Ledger::apply`]):
//! - money is integer minor units with a currency, never a float; `decide` reads no clock
//!   (time arrives as `now` in every command) and [`Ledger::balances`] is asked for a moment;
//! - only the platform files an application (the vendor workflow, for the signed-in
//!   applicant, who becomes the vendor's first user, an admin); a vendor always keeps at
//!   least one admin user, and an account is a user at most once;
//! - a commission rule is set once under its id and never changed, takes effect at its
//!   `effective_from`, never before the command's `now` (no rule reaches back to sales
//!   already made); its percentage is `0..=10_000` basis points and its fixed fee is
//!   non-negative; a vendor's fixed fees and payouts are in one currency;
//! - a commission is the applicable rule's percentage of the line, rounded half up, plus its
//!   fee, between zero and the line; a category's rule beats a vendor-wide one, the latest
//!   in force wins;
//! - a ledger is in one currency, counts each entry id once, and each amount has its kind's
//!   sign; a sale and its commission stay pending until their `available_at` (the end of
//!   the return window), every other entry counts against the available balance at once;
//! - a payout is more than zero and at least the minimum; the payouts of a vendor requested
//!   or paid never add up to more than the `earned_available` of the request that allowed
//!   the latest of them; a payout is paid or failed once, never both; an active or closed
//!   vendor is paid out (a closed one its final payout), a suspended one is not until it is
//!   reactivated, an applicant or a rejected one never;
//! - retries are harmless: repeating an application, a decision, a suspension, a
//!   reactivation, a closing, the same details, the same user and role, a removal, the same
//!   rule, a payout request with the same id and amount, or a payout's outcome records
//!   nothing;
//! - access: the platform and admins may do everything (admins all but applying); staff
//!   read, review (approve, reject, suspend, reactivate), set commission rules and request
//!   payouts; only the platform and admins record a payout's outcome; auditors only read; a
//!   vendor's own users (`Principal::Vendor { id: <account id>, vendor: <this vendor's id> }`
//!   whose account is one of its users) read it, and its admin users also change its details
//!   and users, may close it and request payouts; to anyone else (customers, guests, other
//!   vendors' users, a vendor principal naming another vendor, `Principal::Staff` with any
//!   role but `admin`, `staff` and `auditor`, the former `vendor` role included) a vendor
//!   does not exist (`vendor.not_found`), while a reader outside a command's rule gets
//!   `vendor.forbidden`. A vendor applied before its id was recorded in `VendorApplied` is
//!   read by no vendor principal (its commands still work: `decide` is told the stream id).
//!
//! Error codes ([`VendorError`]): `vendor.not_found`, `vendor.unknown_payout` (not found);
//! `vendor.forbidden`; `vendor.already_exists`, `vendor.invalid_transition`,
//! `vendor.last_admin`, `vendor.too_many_users`, `vendor.rule_exists`,
//! `vendor.too_many_rules`, `vendor.entry_conflict`, `vendor.insufficient_balance`,
//! `vendor.payout_conflict`, `vendor.payouts_frozen` (conflicts); `vendor.retroactive_rule`,
//! `vendor.invalid_name`, `vendor.invalid_legal_name`, `vendor.invalid_email`,
//! `vendor.invalid_country`, `vendor.invalid_payout_account`, `vendor.invalid_reason`,
//! `vendor.invalid_rule_id`, `vendor.invalid_percent`, `vendor.invalid_fee`,
//! `vendor.invalid_category`, `vendor.currency_mismatch`, `vendor.invalid_entry`,
//! `vendor.invalid_amount`, `vendor.below_minimum`, `vendor.invalid_payout_id`,
//! `vendor.invalid_transfer_id` (invalid input).

mod command;
mod commission;
mod error;
mod event;
mod ledger;
mod vendor;

pub use command::{PayoutOutcome, VendorCommand, VendorRole};
pub use commission::{applicable_rule, commission, CommissionRule, FULL_BP};
pub use error::VendorError;
pub use event::VendorEvent;
pub use ledger::{Balances, EntryKind, Ledger, LedgerEntry, MAX_ENTRY_ID_CHARS};
pub use vendor::{
    CqrsEnvelope, PayoutStatus, PayoutView, PublicVendor, Vendor, VendorStatus, VendorUser,
    VendorView, MAX_CATEGORY_CHARS, MAX_EMAIL_CHARS, MAX_LEGAL_NAME_CHARS, MAX_NAME_CHARS,
    MAX_PAYOUT_ACCOUNT_CHARS, MAX_PAYOUT_ID_CHARS, MAX_REASON_CHARS, MAX_RULES, MAX_RULE_ID_CHARS,
    MAX_TRANSFER_ID_CHARS, MAX_USERS, MAX_VIEW_PAYOUTS,
};

agora_kernel::contract!(Vendor {
    service: "vendor",
    description: "Marketplace vendors: applications, users, commission rules and payouts; one \
                  actor per vendor",
    command: VendorCommand,
    view: VendorView,
});

#[cfg(test)]
mod tests {
    use super::*;

    /// A domain crate does no IO: its dependencies are the kernel, serialization, errors,
    /// cqrs-es and time values, nothing that opens a socket or a file.
    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "agora-kernel",
            "serde",
            "strum",
            "thiserror",
            "cqrs-es",
            "chrono",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }

    #[test]
    fn command_names_are_their_serde_tags() {
        let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let account: agora_kernel::CustomerId = "3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69"
            .parse()
            .expect("a valid customer id");
        agora_kernel::check_names(&[
            VendorCommand::Apply {
                name: "Acme".into(),
                legal_name: "Acme GmbH".into(),
                contact_email: "shop@acme.example".into(),
                country: "DE".into(),
                payout_account: "acct_1".into(),
                applicant: account,
                now,
            },
            VendorCommand::Approve { now },
            VendorCommand::Reject {
                reason: "no VAT id".into(),
                now,
            },
            VendorCommand::Suspend {
                reason: "fraud check".into(),
                now,
            },
            VendorCommand::Reactivate { now },
            VendorCommand::Close { reason: None, now },
            VendorCommand::UpdateDetails {
                name: "Acme".into(),
                legal_name: "Acme AG".into(),
                contact_email: "a@b".into(),
                payout_account: "acct_2".into(),
                now,
            },
            VendorCommand::AddUser {
                account,
                role: VendorRole::Member,
                now,
            },
            VendorCommand::RemoveUser { account, now },
            VendorCommand::SetCommission {
                rule_id: "base".into(),
                percent_bp: 1000,
                fixed: Some(agora_kernel::Money::new(30, agora_kernel::Currency::EUR)),
                category: Some("books".into()),
                effective_from: now,
                now,
            },
            VendorCommand::RequestPayout {
                payout_id: "2025-06-15".into(),
                amount: agora_kernel::Money::new(8800, agora_kernel::Currency::EUR),
                earned_available: agora_kernel::Money::new(8800, agora_kernel::Currency::EUR),
                minimum: agora_kernel::Money::new(1000, agora_kernel::Currency::EUR),
                now,
            },
            VendorCommand::RecordPayout {
                payout_id: "2025-06-15".into(),
                outcome: PayoutOutcome::Paid {
                    transfer_id: "tr_1".into(),
                },
                now,
            },
        ]);
    }

    #[test]
    fn the_contract_names_the_service_and_its_endpoints() {
        use agora_kernel::{Contract, Decider};
        assert_eq!(<Vendor as Contract>::SERVICE, "vendor");
        assert_eq!(<Vendor as Decider>::TYPE, "vendor");
        assert_eq!(
            <Vendor as Contract>::endpoints(),
            [
                "apply",
                "approve",
                "reject",
                "suspend",
                "reactivate",
                "close",
                "update_details",
                "add_user",
                "remove_user",
                "set_commission",
                "request_payout",
                "record_payout",
                "get",
            ]
        );
    }
}

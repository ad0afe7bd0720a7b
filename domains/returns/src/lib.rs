//! Returns: a shopper's request (an RMA) to send back units of delivered order lines, and how
//! far it got (decided, received, restocked, refunded).
//!
//! One aggregate, [`Return`], one stream per return (stream type `return`, id a UUID chosen
//! by the caller), served as NATS service `return`. Whether units may be returned at all (they
//! were delivered, the return window is open, they were not returned already) is the order's
//! decision, taken before this stream is created: the returns workflow asks the order, then
//! sends [`ReturnCommand::Request`]. From there this aggregate keeps the return's own life,
//! `Requested → Approved → Received → Closed` (or `Rejected`, or `Cancelled` while still
//! requested), and tells a runner what is left to do. Time always arrives inside commands
//! (`now`); `decide` never reads a clock.
//!
//! The runner, once a return is `Received`:
//! 1. decides whether shipping is owed with [`Return::refunds_shipping`] (the shop's rule:
//!    every unit of the order is now returned and at least one of this return's lines is the
//!    shop's fault, [`ReturnReason::is_shop_fault`]); if so, it refunds it and records
//!    `RecordShippingRefund` *first*, before any line step;
//! 2. performs [`Return::next_steps`] (move each received line's stock, then refund each
//!    received line through the order), recording each with `RecordStockMoved` /
//!    `RecordRefund`, or `RecordRefundFailed` and a retry later.
//!
//! The step that leaves every received line moved and refunded also records `ReturnClosed`
//! (the sum of the line refunds and the shipping refund) in the same batch: closing is a
//! consequence, not a command a runner could forget. That is why a shipping refund must come
//! before the last line step: a closed return refuses it (`return.invalid_transition`).
//!
//! Marketplace vendors: each requested line carries the `vendor_id` of the order line it comes
//! from (absent for the shop's own lines, and in returns requested before vendors), copied by
//! the returns workflow from the order. A vendor's user handles a return only when it sold
//! every line of it. A return that spans several vendors (or mixes a vendor's lines with the
//! shop's) belongs to no single vendor: staff decide and receive it, and no vendor sees it.
//!
//! Invariants (enforced by [`Return::decide`]):
//! - a return has `1..=MAX_LINES` lines with distinct SKUs, quantities in `1..=MAX_QUANTITY`,
//!   a non-blank title, a bounded note and, if any, a vendor id of 1 to `MAX_VENDOR_ID_CHARS`
//!   characters without whitespace or control characters; the owner is the order's (a guest
//!   by the SHA-256 of their token), and the vendors are the order lines', set by the
//!   platform, never by a client;
//! - only received units are moved and refunded, at most the requested units of each line,
//!   each line's stock once and its refund once; every refund is in one currency, each refund
//!   id is recorded once, and the shipping refund at most once;
//! - retries are harmless: repeating an approval, rejection, cancellation, the same receipt,
//!   a stock move or the same refund records nothing;
//! - only the platform opens returns and records stock moves and refunds; admins and staff
//!   approve, reject, receive and cancel; the owner may only read and cancel; auditors only
//!   read; a vendor's user (`Principal::Vendor`) reads, approves, rejects and receives only a
//!   return whose every line is its vendor's, and may not open or cancel (withdraw) it; to
//!   anyone else (other back-office roles included, and a vendor's user for a return with
//!   any line of another vendor or of the shop) a return does not exist
//!   (`return.not_found`, exactly as a missing one), while a reader outside a command's rule
//!   gets `return.forbidden` (opening a return is `return.forbidden` to all but the
//!   platform, whatever the stream holds);
//! - the view never contains the guest token hash.
//!
//! Error codes ([`ReturnError`]): `return.not_found`, `return.forbidden`,
//! `return.already_exists`, `return.invalid_transition`, `return.already_refunded`,
//! `return.duplicate_refund_id`, `return.line_not_received` (conflicts); `return.empty`,
//! `return.too_many_lines`, `return.duplicate_sku`, `return.quantity_out_of_range`,
//! `return.exceeds_requested`, `return.unknown_line`, `return.invalid_title`,
//! `return.note_too_long`, `return.invalid_vendor_id`, `return.invalid_order_id`,
//! `return.invalid_owner`, `return.invalid_reason`, `return.invalid_refund_id`,
//! `return.invalid_amount`, `return.currency_mismatch` (invalid input).

mod command;
mod error;
mod event;
mod rma;

pub use command::{Disposition, ReceivedLine, ReturnCommand, ReturnLine, ReturnReason};
pub use error::ReturnError;
pub use event::ReturnEvent;
pub use rma::{
    CqrsEnvelope, RefundFailure, Return, ReturnLineView, ReturnStatus, ReturnStep, ReturnView,
    MAX_LINES, MAX_NOTE_CHARS, MAX_ORDER_ID_CHARS, MAX_QUANTITY, MAX_REASON_CHARS,
    MAX_REFUND_ID_CHARS, MAX_TITLE_CHARS, MAX_VENDOR_ID_CHARS,
};

agora_kernel::contract!(Return {
    service: "return",
    description: "Returns (RMAs) of delivered order lines: one actor per return",
    command: ReturnCommand,
    view: ReturnView,
});

#[cfg(test)]
mod tests {
    use super::*;

    /// A domain crate does no IO: its dependencies are the kernel, the order's value types,
    /// serialization, errors, cqrs-es and time values, nothing that opens a socket or a file.
    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "strum",
            "agora-kernel",
            "agora-order",
            "serde",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "chrono",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }

    #[test]
    fn command_names_are_their_serde_tags() {
        let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let sku = agora_kernel::Sku::parse("TEE-1").expect("sku");
        let eur = agora_kernel::Money::new(100, agora_kernel::Currency::EUR);
        agora_kernel::check_names(&[
            ReturnCommand::Request {
                order_id: "o1".into(),
                owner: agora_order::OrderOwner::Guest {
                    token_sha256: "a".repeat(64),
                },
                lines: vec![ReturnLine {
                    sku: sku.clone(),
                    title: "Tee".into(),
                    quantity: 1,
                    reason: ReturnReason::Damaged,
                    note: None,
                    vendor_id: Some("acme".into()),
                }],
                now,
            },
            ReturnCommand::Approve { now },
            ReturnCommand::Reject {
                reason: "worn".into(),
                now,
            },
            ReturnCommand::Cancel { now },
            ReturnCommand::Receive {
                lines: vec![ReceivedLine {
                    sku: sku.clone(),
                    quantity: 1,
                    disposition: Disposition::Restock,
                }],
                now,
            },
            ReturnCommand::RecordStockMoved {
                sku: sku.clone(),
                now,
            },
            ReturnCommand::RecordRefund {
                sku: sku.clone(),
                refund_id: "re_1".into(),
                amount: eur,
                now,
            },
            ReturnCommand::RecordShippingRefund {
                refund_id: "re_2".into(),
                amount: eur,
                now,
            },
            ReturnCommand::RecordRefundFailed {
                sku: Some(sku),
                reason: "declined".into(),
                now,
            },
        ]);
    }

    #[test]
    fn the_contract_names_the_service_and_its_endpoints() {
        use agora_kernel::{Contract, Decider};
        assert_eq!(<Return as Contract>::SERVICE, "return");
        assert_eq!(<Return as Decider>::TYPE, "return");
        assert_eq!(
            <Return as Contract>::endpoints(),
            [
                "request",
                "approve",
                "reject",
                "cancel",
                "receive",
                "record_stock_moved",
                "record_refund",
                "record_shipping_refund",
                "record_refund_failed",
                "get",
            ]
        );
    }
}

//! Product reviews: a shopper's rating and words about a product, moderated by staff before
//! anyone else reads them, answered by whoever sells the product.
//!
//! [`Review`] is an aggregate, one stream per shopper and product (stream type `review`, id a
//! UUID the edge derives from both, so a shopper has one review of a product and writing again
//! edits it), served as NATS service `review`. Its life: `Pending → Approved`, `Pending |
//! Approved → Rejected` (a reason, for the author), an edit sends it back to `Pending`, and the
//! author may withdraw it at any time (`Withdrawn`; submitting again revives it, pending).
//!
//! Invariants (enforced by [`Review`]'s `decide`):
//! - a rating is 1 to 5 stars; a title 1 to [`MAX_TITLE_CHARS`] characters, a body up to
//!   [`MAX_BODY_CHARS`], the author's display name 1 to [`MAX_NAME_CHARS`], a response 1 to
//!   [`MAX_RESPONSE_CHARS`], a rejection reason 1 to [`MAX_REASON_CHARS`], none with control
//!   characters but a body's and a response's line breaks and tabs; `decide` reads no clock;
//! - the product and its vendor are fixed by the platform when the review is first
//!   submitted, and whether the author bought it each time it is written (the edge reads them
//!   from the catalog and the author's orders), never by the author;
//! - retries are harmless: the same submission, an approval of an approved review, a
//!   rejection of a rejected one, a withdrawal of a withdrawn one and the same response
//!   record nothing;
//! - access: only a customer submits, and only as the author of the stream it started (the
//!   platform may submit for any customer it names); the author edits and withdraws; staff
//!   and admins moderate; the product's vendor's users respond (and staff, for the shop's own
//!   products and any other); the author, staff, admins, auditors and the product's vendor's
//!   users read it, the vendor without the author's customer id; to anyone else it does not
//!   exist (`review.not_found`), while a reader outside a command's rule gets
//!   `review.forbidden`.
//!
//! Error codes ([`ReviewError`]): `review.not_found` (not found); `review.forbidden`;
//! `review.invalid_transition` (conflict); `review.invalid_rating`, `review.invalid_title`,
//! `review.invalid_body`, `review.invalid_name`, `review.invalid_response`,
//! `review.invalid_reason`, `review.invalid_product` (invalid input).

mod contract;
mod error;
mod review;

pub use contract::{Responder, ReviewCommand, ReviewEvent};
pub use error::ReviewError;
pub use review::{
    CqrsEnvelope, Review, ReviewStatus, ReviewView, MAX_BODY_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS,
    MAX_REASON_CHARS, MAX_RESPONSE_CHARS, MAX_TITLE_CHARS,
};

agora_kernel::contract!(Review {
    service: "review",
    description: "Product reviews: submitted by shoppers, moderated by staff, answered by the \
                  seller; one actor per shopper and product",
    command: ReviewCommand,
    view: ReviewView,
});

#[cfg(test)]
mod tests {
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
}

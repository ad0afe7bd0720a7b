//! The review's wire contract: commands and events. Published names: never rename them.

use agora_kernel::CustomerId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Commands on one review (stream id: derived from the author and the product). Variant names
/// are the NATS endpoint names (`agora.review.<name>`).
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReviewCommand {
    /// Writes the review, or rewrites it (back to pending). The product, its vendor and
    /// `verified_purchase` come from the platform; the author is the customer sending it.
    Submit {
        product_id: String,
        /// The marketplace vendor selling the product; absent for the shop's own goods.
        #[serde(default)]
        vendor_id: Option<String>,
        /// The author when the platform submits for a customer (demo data, imports); a
        /// customer's own submission leaves it out and is its own author.
        #[serde(default)]
        author: Option<CustomerId>,
        /// How the author is shown (`Ada L.`).
        author_name: String,
        /// 1 to 5 stars.
        rating: u8,
        title: String,
        #[serde(default)]
        body: String,
        /// Whether the author had bought the product when writing.
        verified_purchase: bool,
        now: DateTime<Utc>,
    },
    /// The author takes the review down.
    Withdraw { now: DateTime<Utc> },
    /// Moderation: the review is published.
    Approve { now: DateTime<Utc> },
    /// Moderation: the review is not published (or taken down), with a reason for the author.
    Reject { reason: String, now: DateTime<Utc> },
    /// The seller's public answer to a published review; a new one replaces the last.
    Respond { text: String, now: DateTime<Utc> },
}

/// Who answered a review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Responder {
    /// A user of the product's vendor.
    Vendor,
    /// The shop's staff.
    Shop,
}

/// Facts about a review. A published contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReviewEvent {
    ReviewSubmitted {
        product_id: String,
        vendor_id: Option<String>,
        author: CustomerId,
        author_name: String,
        rating: u8,
        title: String,
        body: String,
        verified_purchase: bool,
        at: DateTime<Utc>,
    },
    /// The author rewrote it (or submitted again after withdrawing): pending again.
    ReviewEdited {
        author_name: String,
        rating: u8,
        title: String,
        body: String,
        verified_purchase: bool,
        at: DateTime<Utc>,
    },
    ReviewApproved {
        at: DateTime<Utc>,
    },
    ReviewRejected {
        reason: String,
        at: DateTime<Utc>,
    },
    ReviewWithdrawn {
        at: DateTime<Utc>,
    },
    ReviewResponded {
        text: String,
        by: Responder,
        at: DateTime<Utc>,
    },
}

impl ReviewEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            ReviewEvent::ReviewSubmitted { .. } => "ReviewSubmitted",
            ReviewEvent::ReviewEdited { .. } => "ReviewEdited",
            ReviewEvent::ReviewApproved { .. } => "ReviewApproved",
            ReviewEvent::ReviewRejected { .. } => "ReviewRejected",
            ReviewEvent::ReviewWithdrawn { .. } => "ReviewWithdrawn",
            ReviewEvent::ReviewResponded { .. } => "ReviewResponded",
        }
    }
}

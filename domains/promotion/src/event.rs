use agora_kernel::{CustomerId, Money};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{OrderId, PromotionCode, PromotionTerms};

/// How shoppers get a promotion, as recorded: the codes themselves, never the seed that drew
/// them, so a replay never runs the generator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redeemable {
    Automatic,
    Code { code: PromotionCode },
    UniqueCodes { codes: Vec<PromotionCode> },
}

/// Facts about one promotion. A published contract: variants and fields are never renamed; a
/// change of shape gets a new event version and an upcaster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PromotionEvent {
    PromotionCreated {
        terms: PromotionTerms,
        redeemable: Redeemable,
        created_at: DateTime<Utc>,
    },
    TermsRevised {
        terms: PromotionTerms,
        revised_at: DateTime<Utc>,
    },
    PromotionActivated {
        activated_at: DateTime<Utc>,
    },
    PromotionPaused {
        paused_at: DateTime<Utc>,
    },
    PromotionEnded {
        ended_at: DateTime<Utc>,
    },
    RedemptionReserved {
        order_id: OrderId,
        customer: Option<CustomerId>,
        code: Option<PromotionCode>,
        amount: Money,
        reserved_at: DateTime<Utc>,
    },
    RedemptionConfirmed {
        order_id: OrderId,
        confirmed_at: DateTime<Utc>,
    },
    /// The use and `amount` went back (to the customer's count and the code too).
    RedemptionReleased {
        order_id: OrderId,
        customer: Option<CustomerId>,
        code: Option<PromotionCode>,
        amount: Money,
        released_at: DateTime<Utc>,
    },
}

impl PromotionEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            PromotionEvent::PromotionCreated { .. } => "PromotionCreated",
            PromotionEvent::TermsRevised { .. } => "TermsRevised",
            PromotionEvent::PromotionActivated { .. } => "PromotionActivated",
            PromotionEvent::PromotionPaused { .. } => "PromotionPaused",
            PromotionEvent::PromotionEnded { .. } => "PromotionEnded",
            PromotionEvent::RedemptionReserved { .. } => "RedemptionReserved",
            PromotionEvent::RedemptionConfirmed { .. } => "RedemptionConfirmed",
            PromotionEvent::RedemptionReleased { .. } => "RedemptionReleased",
        }
    }
}

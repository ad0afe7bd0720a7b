use agora_kernel::{CustomerId, Money};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{OrderId, PromotionCode, PromotionTerms};

/// How shoppers get a promotion, chosen when it is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CodeSpec {
    /// No code: the promotion applies by itself to every cart it fits.
    Automatic,
    /// One shared code, usable up to the promotion's limits (`SUMMER10`).
    Code { code: PromotionCode },
    /// A batch of `count` unique codes `PREFIX-XXXXXXXX`, each redeemable once, generated
    /// deterministically from `seed` (see [`generate_codes`](crate::generate_codes)), so that
    /// `decide` stays pure and a retried create decides the same codes.
    UniqueCodes {
        prefix: String,
        count: u32,
        seed: u64,
    },
}

/// Commands on one promotion (the stream id is its [`PromotionId`](crate::PromotionId)).
/// Time always arrives as `now`: `decide` never reads a clock. Each variant name is also the
/// NATS endpoint name (`agora.promotion.<name>`); see [`PromotionCommand::NAMES`].
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PromotionCommand {
    /// Creates the promotion as a draft.
    Create {
        terms: PromotionTerms,
        codes: CodeSpec,
        now: DateTime<Utc>,
    },
    /// Replaces the terms of a draft (codes stay as created).
    Revise {
        terms: PromotionTerms,
        now: DateTime<Utc>,
    },
    /// Draft or paused → active.
    Activate { now: DateTime<Utc> },
    /// Active → paused: no new redemptions; open ones can still be confirmed or released.
    Pause { now: DateTime<Utc> },
    /// Any state but ended → ended, for good. Open redemptions can still be confirmed or
    /// released, since their orders were placed while the promotion ran.
    End { now: DateTime<Utc> },
    /// Holds one use (and `amount` of the budget) for an order. Idempotent per order id: the
    /// same order with the same customer, code and amount again records nothing.
    Reserve {
        order_id: OrderId,
        /// The signed-in customer; `None` for a guest.
        #[serde(default)]
        customer: Option<CustomerId>,
        /// The code the shopper entered; required for a code promotion.
        #[serde(default)]
        code: Option<PromotionCode>,
        /// What the promotion costs this order (item discounts plus shipping waived), as the
        /// pricing engine computed it.
        amount: Money,
        now: DateTime<Utc>,
    },
    /// The order was paid: the use is final. Confirming again records nothing.
    Confirm {
        order_id: OrderId,
        now: DateTime<Utc>,
    },
    /// Gives the use and the budget back (a failed checkout, or a cancelled order). Releasing
    /// an unknown or already released order records nothing, so compensations can be retried.
    Release {
        order_id: OrderId,
        now: DateTime<Utc>,
    },
}

impl PromotionCommand {
    /// Whether the command redeems (the checkout's business) rather than manages.
    pub fn is_redemption(&self) -> bool {
        matches!(
            self,
            PromotionCommand::Reserve { .. }
                | PromotionCommand::Confirm { .. }
                | PromotionCommand::Release { .. }
        )
    }
}

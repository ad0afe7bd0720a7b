use serde::{Deserialize, Serialize};

/// What a notification is about. The wire names (`order_confirmed`) are stored in the
/// `notifications` table and shown in the back office: never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The order was placed and is waiting for the shopper's payment confirmation (3-D Secure).
    OrderPlaced,
    /// Payment authorized and the order confirmed: the order confirmation.
    OrderConfirmed,
    OrderCancelled,
    OrderShipped,
    OrderDelivered,
    OrderRefunded,
    /// One parcel of an order moved on (sent, in transit, out for delivery, delivered, or a
    /// problem): one mail per change of the parcel's status.
    ParcelUpdate,
    EmailVerification,
    PasswordReset,
    /// To staff: a SKU fell to its low-stock threshold.
    LowStock,
    /// To a shopper who asked: a SKU is available again.
    BackInStock,
    /// To an address someone subscribed to back-in-stock mail: confirm it was you (double
    /// opt-in); no back-in-stock mail goes to the address before.
    BackInStockConfirmation,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::OrderPlaced,
        Kind::OrderConfirmed,
        Kind::OrderCancelled,
        Kind::OrderShipped,
        Kind::OrderDelivered,
        Kind::OrderRefunded,
        Kind::ParcelUpdate,
        Kind::EmailVerification,
        Kind::PasswordReset,
        Kind::LowStock,
        Kind::BackInStock,
        Kind::BackInStockConfirmation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OrderPlaced => "order_placed",
            Kind::OrderConfirmed => "order_confirmed",
            Kind::OrderCancelled => "order_cancelled",
            Kind::OrderShipped => "order_shipped",
            Kind::OrderDelivered => "order_delivered",
            Kind::OrderRefunded => "order_refunded",
            Kind::ParcelUpdate => "parcel_update",
            Kind::EmailVerification => "email_verification",
            Kind::PasswordReset => "password_reset",
            Kind::LowStock => "low_stock",
            Kind::BackInStock => "back_in_stock",
            Kind::BackInStockConfirmation => "back_in_stock_confirmation",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn category(self) -> Category {
        match self {
            Kind::OrderPlaced
            | Kind::OrderConfirmed
            | Kind::OrderCancelled
            | Kind::OrderShipped
            | Kind::OrderDelivered
            | Kind::OrderRefunded
            | Kind::ParcelUpdate => Category::OrderUpdates,
            // Asked for by whoever typed the address, before any preference applies: like
            // account mail, it is one email and cannot be turned off.
            Kind::EmailVerification | Kind::PasswordReset | Kind::BackInStockConfirmation => {
                Category::Account
            }
            Kind::LowStock => Category::StaffAlerts,
            Kind::BackInStock => Category::BackInStock,
        }
    }
}

/// Kinds grouped the way a customer chooses them. Only [`Category::OrderUpdates`] and
/// [`Category::BackInStock`] are the customer's choice; account mail is security mail and staff
/// alerts go to the configured staff address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    OrderUpdates,
    BackInStock,
    Account,
    StaffAlerts,
}

/// How a notification travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [Channel::Email, Channel::Sms]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Where a notification is in its delivery.
///
/// `pending → sending → sent`, or `sending → pending` (a failure with attempts left, retried at
/// `next_attempt_at`), or `sending → failed` (attempts exhausted; staff may retry it, which makes
/// it `pending` again).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    /// Claimed by a sender, which committed this before it opened the SMTP transaction.
    Sending,
    Sent,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Sending,
            Status::Sent,
            Status::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_match_serde() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("serializes"),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(Kind::parse("order_shipped_twice"), None);
        assert_eq!(Status::parse("failed"), Some(Status::Failed));
        assert_eq!(Channel::parse("sms"), Some(Channel::Sms));
    }
}

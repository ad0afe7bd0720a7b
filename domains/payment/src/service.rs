//! The payment service's contract (`agora.payment.<request>`): what the checkout saga, the edge
//! and the back office ask of a payment. The service turns each request into provider calls
//! and [`crate::PaymentCommand`]s; the aggregate's own commands never travel on the bus.

use agora_kernel::Money;
use serde::{Deserialize, Serialize};

use crate::{Payment, PaymentView, ProviderEventKind};

/// A request to the payment service; the envelope's aggregate id is the payment id.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PaymentRequest {
    /// Starts the payment and asks the provider to hold `amount`.
    Authorize(AuthorizePayment),
    /// The shopper confirmed (3-D Secure): ask the provider where the authorization stands.
    Confirm {},
    /// Takes the held amount.
    Capture {},
    /// Releases the held amount.
    Void {},
    /// Gives back part or all of the captured amount, once per `refund_id`.
    Refund(RefundPayment),
    /// A webhook the edge verified.
    ProviderEvent(ProviderEvent),
}

/// `agora.payment.authorize`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizePayment {
    pub amount: Money,
    pub payment_method: String,
}

/// `agora.payment.refund`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundPayment {
    pub refund_id: String,
    /// `None` with a `line`: exactly what those units cost.
    #[serde(default)]
    pub amount: Option<Money>,
    /// For a refund of units of one order line: the line's facts from the order, which cap
    /// the amount at what the shopper paid for those units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<crate::LineShare>,
}

/// `agora.payment.provider_event`: a webhook the edge verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEvent {
    pub event_id: String,
    #[serde(default)]
    pub provider_ref: Option<String>,
    pub kind: ProviderEventKind,
}

agora_kernel::contract!(Payment {
    service: "payment",
    description: "Payments: the payment aggregate and the provider behind it",
    command: PaymentRequest,
    view: PaymentView,
});

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Currency;

    #[test]
    fn request_names_are_their_serde_tags() {
        let eur = |minor| Money::new(minor, Currency::EUR);
        agora_kernel::check_names(&[
            PaymentRequest::Authorize(AuthorizePayment {
                amount: eur(100),
                payment_method: "pm_card_visa".into(),
            }),
            PaymentRequest::Confirm {},
            PaymentRequest::Capture {},
            PaymentRequest::Void {},
            PaymentRequest::Refund(RefundPayment {
                refund_id: "r1".into(),
                amount: Some(eur(100)),
                line: None,
            }),
            PaymentRequest::ProviderEvent(ProviderEvent {
                event_id: "evt_1".into(),
                provider_ref: Some("pi_1".into()),
                kind: ProviderEventKind::Authorized,
            }),
        ]);
    }
}

use serde::{Deserialize, Serialize};

use crate::{Category, Channel, NotificationError};

/// A syntactically plausible email address, lower-cased so that one person subscribing twice
/// with different capitals is one subscription. (Whether it exists only delivery can tell.)
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<EmailAddress, NotificationError> {
        let s = s.trim().to_lowercase();
        let ok = (3..=254).contains(&s.len())
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
            && match s.split_once('@') {
                Some((local, domain)) => {
                    (1..=64).contains(&local.len())
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            };
        if ok {
            Ok(EmailAddress(s))
        } else {
            Err(NotificationError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = NotificationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

/// A phone number in E.164 form (`+4915112345678`), the form SMS providers take.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Phone, NotificationError> {
        let s = s.trim();
        let digits = s.strip_prefix('+').unwrap_or("");
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Phone(s.to_string()))
        } else {
            Err(NotificationError::InvalidPhone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = NotificationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

/// Which channels a customer wants for one category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelChoice {
    pub email: bool,
    #[serde(default)]
    pub sms: bool,
}

/// A customer's notification preferences (`/store/customers/me/notifications`). Guests have
/// the defaults: order updates by email, nothing by SMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub order_updates: ChannelChoice,
    pub back_in_stock: ChannelChoice,
    /// Where text messages go.
    #[serde(default)]
    pub phone: Option<Phone>,
    /// The explicit consent to receive text messages; without it nothing goes by SMS.
    #[serde(default)]
    pub sms_opt_in: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            order_updates: ChannelChoice {
                email: true,
                sms: false,
            },
            back_in_stock: ChannelChoice {
                email: true,
                sms: false,
            },
            phone: None,
            sms_opt_in: false,
        }
    }
}

impl Preferences {
    /// Checks the rules a stored preference set keeps: asking for SMS anywhere needs a phone
    /// and the opt-in.
    pub fn validate(self) -> Result<Preferences, NotificationError> {
        if self.order_updates.sms || self.back_in_stock.sms {
            if self.phone.is_none() {
                return Err(NotificationError::SmsNeedsPhone);
            }
            if !self.sms_opt_in {
                return Err(NotificationError::SmsNeedsOptIn);
            }
        }
        Ok(self)
    }

    /// The channels a message of `category` takes for this customer. Account (security) mail
    /// always goes by email and never by SMS; staff alerts are not a customer's. SMS needs the
    /// opt-in, a phone and a configured provider (`sms_available`).
    pub fn channels(&self, category: Category, sms_available: bool) -> Vec<Channel> {
        let choice = match category {
            Category::Account | Category::StaffAlerts => return vec![Channel::Email],
            Category::OrderUpdates => self.order_updates,
            Category::BackInStock => self.back_in_stock,
        };
        let mut channels = Vec::new();
        if choice.email {
            channels.push(Channel::Email);
        }
        if choice.sms && self.sms_opt_in && self.phone.is_some() && sms_available {
            channels.push(Channel::Sms);
        }
        channels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone() -> Option<Phone> {
        Some(Phone::parse("+4915112345678").expect("valid"))
    }

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(
            EmailAddress::parse(" Ada@Example.COM ").map(|e| e.as_str().to_string()),
            Ok("ada@example.com".into())
        );
        for bad in [
            "",
            "ada",
            "ada@example",
            "a b@x.org",
            "a@@x.org",
            "<a@x.org>",
            "a@x..org",
            "a@.x.org",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(NotificationError::InvalidEmail),
                "{bad}"
            );
        }
    }

    #[test]
    fn phones_are_e164() {
        assert!(Phone::parse("+4915112345678").is_ok());
        for bad in [
            "015112345678",
            "+0151123456",
            "+49 151 123",
            "+1234567",
            "+1234567890123456",
        ] {
            assert_eq!(
                Phone::parse(bad),
                Err(NotificationError::InvalidPhone),
                "{bad}"
            );
        }
    }

    #[test]
    fn sms_needs_a_phone_and_the_opt_in() {
        let wants_sms = Preferences {
            order_updates: ChannelChoice {
                email: true,
                sms: true,
            },
            ..Preferences::default()
        };
        assert_eq!(
            wants_sms.clone().validate(),
            Err(NotificationError::SmsNeedsPhone)
        );
        let with_phone = Preferences {
            phone: phone(),
            ..wants_sms.clone()
        };
        assert_eq!(
            with_phone.clone().validate(),
            Err(NotificationError::SmsNeedsOptIn)
        );
        let opted_in = Preferences {
            sms_opt_in: true,
            ..with_phone
        };
        assert!(opted_in.clone().validate().is_ok());
        assert_eq!(
            opted_in.channels(Category::OrderUpdates, true),
            vec![Channel::Email, Channel::Sms]
        );
        assert_eq!(
            opted_in.channels(Category::OrderUpdates, false),
            vec![Channel::Email],
            "no SMS without a configured provider"
        );
    }

    #[test]
    fn security_mail_cannot_be_turned_off_and_never_goes_by_sms() {
        let everything_off = Preferences {
            order_updates: ChannelChoice {
                email: false,
                sms: true,
            },
            back_in_stock: ChannelChoice {
                email: false,
                sms: false,
            },
            phone: phone(),
            sms_opt_in: true,
        };
        assert_eq!(
            everything_off.channels(Category::Account, true),
            vec![Channel::Email]
        );
        assert_eq!(
            everything_off.channels(Category::OrderUpdates, true),
            vec![Channel::Sms]
        );
        assert_eq!(everything_off.channels(Category::BackInStock, true), vec![]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = serde_json::json!({
            "order_updates": {"email": true}, "back_in_stock": {"email": true}, "fax": true
        });
        assert!(serde_json::from_value::<Preferences>(json).is_err());
    }
}

//! Parsing and limits for what commands carry. Normalizing functions return the form that is
//! recorded (trimmed, lower-cased email), so a retry that differs only in spacing records the
//! same thing.

use chrono::{DateTime, Utc};

use crate::{Address, IdentityError};

/// Shortest email address (`a@b.c` is five; RFC 5321 allows less, the dot rule does not).
pub const MIN_EMAIL_CHARS: usize = 3;
/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
/// Longest phone number (profile and address).
pub const MAX_PHONE_CHARS: usize = 32;
/// Longest address field (name, street lines, city, postal code, region), as for orders.
pub const MAX_ADDRESS_FIELD_CHARS: usize = 200;
/// Most saved addresses per account.
pub const MAX_ADDRESSES: usize = 20;
/// Most customer groups one account is in.
pub const MAX_GROUPS: usize = 20;
/// Longest user agent kept with a session.
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// Longest provider name or issuer URL of a linked identity.
pub const MAX_PROVIDER_CHARS: usize = 255;
/// Longest provider subject (OpenID Connect caps `sub` at 255 ASCII characters).
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Most linked identities per account.
pub const MAX_LINKED_IDENTITIES: usize = 10;
/// Length of a token hash: SHA-256 in lower-case hex.
pub const TOKEN_SHA256_HEX_CHARS: usize = 64;
/// Longest vendor id an account is bound to (vendor ids are UUIDs, 36 characters).
pub const MAX_VENDOR_ID_CHARS: usize = 64;

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// The form an email is recorded and looked up in: trimmed and lower case. The service
/// normalizes with this same function before checking that an email is not taken.
///
/// A plausible address, not a deliverable one: the mailbox proves itself by receiving the
/// verification link.
pub fn normalize_email(email: &str) -> Result<String, IdentityError> {
    let email = email.trim().to_lowercase();
    let plausible = (MIN_EMAIL_CHARS..=MAX_EMAIL_CHARS).contains(&chars(&email))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(
            email.split_once('@'),
            Some((local, domain)) if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        );
    if plausible {
        Ok(email)
    } else {
        Err(IdentityError::InvalidEmail)
    }
}

/// A display name, trimmed.
pub(crate) fn display_name(name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    if name.is_empty() || chars(name) > MAX_DISPLAY_NAME_CHARS || has_control(name) {
        return Err(IdentityError::InvalidName);
    }
    Ok(name.to_string())
}

/// A profile phone number, trimmed: digits with the usual separators, at least one digit.
pub(crate) fn phone(phone: &str) -> Result<String, IdentityError> {
    let phone = phone.trim();
    let ok = chars(phone) <= MAX_PHONE_CHARS
        && phone.chars().any(|c| c.is_ascii_digit())
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()./".contains(c));
    if ok {
        Ok(phone.to_string())
    } else {
        Err(IdentityError::InvalidPhone)
    }
}

/// An address with every field trimmed and blank optional fields left out; refused unless the
/// required fields are present, every field is within its limit and the country is two
/// upper-case letters. At least as strict as an order's address, so a saved address can always
/// be shipped to.
pub(crate) fn address(address: &Address) -> Result<Address, IdentityError> {
    let required = |text: &str| {
        let text = text.trim();
        (!text.is_empty() && chars(text) <= MAX_ADDRESS_FIELD_CHARS && !has_control(text))
            .then(|| text.to_string())
            .ok_or(IdentityError::InvalidAddress)
    };
    let optional = |text: &Option<String>, max: usize| match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if chars(text) <= max && !has_control(text) => Ok(Some(text.to_string())),
        Some(_) => Err(IdentityError::InvalidAddress),
    };
    let country = address.country.trim();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(IdentityError::InvalidAddress);
    }
    Ok(Address {
        name: required(&address.name)?,
        line1: required(&address.line1)?,
        line2: optional(&address.line2, MAX_ADDRESS_FIELD_CHARS)?,
        city: required(&address.city)?,
        postal_code: required(&address.postal_code)?,
        region: optional(&address.region, MAX_ADDRESS_FIELD_CHARS)?,
        country: country.to_string(),
        phone: optional(&address.phone, MAX_PHONE_CHARS)?,
    })
}

/// Whether `hash` looks like what the service stores: SHA-256 as 64 lower-case hex digits.
pub(crate) fn is_token_sha256(hash: &str) -> bool {
    hash.len() == TOKEN_SHA256_HEX_CHARS
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A token about to be issued: a well-formed hash that expires after `now`.
pub(crate) fn new_token(
    hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), IdentityError> {
    if is_token_sha256(hash) && expires_at > now {
        Ok(())
    } else {
        Err(IdentityError::InvalidNewToken)
    }
}

/// A user agent, trimmed; a blank one is left out.
pub(crate) fn user_agent(user_agent: Option<&str>) -> Result<Option<String>, IdentityError> {
    match user_agent.map(str::trim) {
        None | Some("") => Ok(None),
        Some(ua) if chars(ua) <= MAX_USER_AGENT_CHARS && !has_control(ua) => {
            Ok(Some(ua.to_string()))
        }
        Some(_) => Err(IdentityError::InvalidUserAgent),
    }
}

/// A provider and subject, taken exactly as given (they are compared, not displayed), without
/// whitespace or control characters.
pub(crate) fn identity(provider: &str, subject: &str) -> Result<(), IdentityError> {
    let token = |text: &str, max: usize| {
        !text.is_empty()
            && chars(text) <= max
            && !text.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if token(provider, MAX_PROVIDER_CHARS) && token(subject, MAX_SUBJECT_CHARS) {
        Ok(())
    } else {
        Err(IdentityError::InvalidIdentity)
    }
}

/// A vendor id, taken exactly as given (it is compared with the vendor's stream id, not
/// displayed): 1 to [`MAX_VENDOR_ID_CHARS`] visible ASCII characters, so no spaces, control
/// characters or look-alike Unicode can make two ids of one vendor.
pub(crate) fn vendor_id(vendor: &str) -> Result<(), IdentityError> {
    if (1..=MAX_VENDOR_ID_CHARS).contains(&vendor.len())
        && vendor.bytes().all(|b| b.is_ascii_graphic())
    {
        Ok(())
    } else {
        Err(IdentityError::InvalidVendor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalize_email("  Ada.Lovelace@Example.COM \n"),
            Ok("ada.lovelace@example.com".to_string())
        );
        assert_eq!(normalize_email("a@b.c"), Ok("a@b.c".to_string()));
    }

    #[test]
    fn an_email_has_one_at_sign_a_dot_in_the_domain_and_no_spaces() {
        let long_local = "a".repeat(MAX_EMAIL_CHARS - 4);
        for email in [
            "".to_string(),
            "a@".into(),
            "@b.c".into(),
            "ab.c".into(),
            "a@@b.c".into(),
            "a@b@c.d".into(),
            "a b@c.d".into(),
            "a@b\tc.d".into(),
            "a@bc".into(),
            "a@.bc".into(),
            "a@bc.".into(),
            "a@b..c".into(),
            "a\u{0}@b.c".into(),
            format!("{long_local}x@b.c"),
        ] {
            assert_eq!(
                normalize_email(&email),
                Err(IdentityError::InvalidEmail),
                "{email:?}"
            );
        }
        let longest = format!("{long_local}@b.c");
        assert_eq!(chars(&longest), MAX_EMAIL_CHARS);
        assert_eq!(normalize_email(&longest), Ok(longest.clone()));
    }

    #[test]
    fn display_names_are_trimmed_non_empty_and_bounded() {
        assert_eq!(display_name("  Ada "), Ok("Ada".to_string()));
        let longest = "ñ".repeat(MAX_DISPLAY_NAME_CHARS);
        assert_eq!(display_name(&longest), Ok(longest.clone()));
        for name in [
            String::new(),
            " \t ".into(),
            "n".repeat(MAX_DISPLAY_NAME_CHARS + 1),
            "Ada\u{7}".into(),
            "A\nda".into(),
        ] {
            assert_eq!(display_name(&name), Err(IdentityError::InvalidName));
        }
    }

    #[test]
    fn phones_are_digits_and_separators_within_32_characters() {
        assert_eq!(
            phone(" +49 (30) 123-45.67 "),
            Ok("+49 (30) 123-45.67".into())
        );
        assert_eq!(phone(&"1".repeat(MAX_PHONE_CHARS)).map(|p| p.len()), Ok(32));
        for bad in [
            "1".repeat(MAX_PHONE_CHARS + 1),
            "+-()".into(),
            "call me".into(),
            "12a".into(),
        ] {
            assert_eq!(phone(&bad), Err(IdentityError::InvalidPhone), "{bad}");
        }
    }

    #[test]
    fn vendor_ids_are_1_to_64_visible_ascii_characters() {
        let longest = "v".repeat(MAX_VENDOR_ID_CHARS);
        for good in [
            "0b6f2d4e-1c3a-4b5d-8e7f-9a0b1c2d3e4f",
            "v",
            longest.as_str(),
        ] {
            assert_eq!(vendor_id(good), Ok(()), "{good}");
        }
        for bad in [
            String::new(),
            "v".repeat(MAX_VENDOR_ID_CHARS + 1),
            " acme".into(),
            "ac me".into(),
            "acme\n".into(),
            "acmé".into(),
            "\u{0}".into(),
        ] {
            assert_eq!(
                vendor_id(&bad),
                Err(IdentityError::InvalidVendor),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn token_hashes_are_64_lower_case_hex_digits() {
        assert!(is_token_sha256(&"0123456789abcdef".repeat(4)));
        for bad in [
            String::new(),
            "a".repeat(63),
            "a".repeat(65),
            "A".repeat(64),
            "g".repeat(64),
        ] {
            assert!(!is_token_sha256(&bad), "{bad}");
        }
    }
}

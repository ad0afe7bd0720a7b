//! The ids and names a promotion speaks of. Parse, don't validate: a value that exists is well
//! formed, so the aggregate and the engines never check one again.

use serde::{Deserialize, Serialize};

agora_kernel::typed_id!(
    /// A promotion: the stream id of its [`Promotion`](crate::Promotion), chosen by the caller
    /// (the edge derives it from the `Idempotency-Key`), so a retried create lands on the same
    /// stream.
    PromotionId,
    "promotion"
);
agora_kernel::typed_id!(
    /// An order (the order stream's UUID, which is also the checkout's): a redemption is held
    /// for one order, and the order id makes `Reserve` idempotent.
    OrderId,
    "order"
);
agora_kernel::typed_id!(
    /// A catalog product (the product stream's canonical UUID).
    ProductId,
    "product"
);

/// Why a name was refused; the caller maps it to its own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed {0}")]
pub struct InvalidName(pub &'static str);

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A catalog category, by its id: a lower-case slug of 1 to 64 `a-z 0-9 -` (the catalog's
/// rule for a category stream id, such as `mens-shirts`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryId(String);

impl CategoryId {
    pub fn parse(s: &str) -> Result<CategoryId, InvalidName> {
        if is_slug(s) {
            Ok(CategoryId(s.to_string()))
        } else {
            Err(InvalidName("category id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A customer group (`vip`, `staff-discount`, `wholesale`): a lower-case slug of 1 to 64
/// `a-z 0-9 -`. Identity (or the back office) says which groups a customer is in; a promotion
/// only names them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerGroup(String);

impl CustomerGroup {
    pub fn parse(s: &str) -> Result<CustomerGroup, InvalidName> {
        if is_slug(s) {
            Ok(CustomerGroup(s.to_string()))
        } else {
            Err(InvalidName("customer group"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A coupon code as a shopper types it and as it is stored: 3 to 40 characters of
/// `A-Z 0-9 - _`. Parsing trims the input and upper-cases it, so `summer-10 ` and `SUMMER-10`
/// are the same code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PromotionCode(String);

impl PromotionCode {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 40;

    pub fn parse(s: &str) -> Result<PromotionCode, InvalidName> {
        let code = s.trim().to_ascii_uppercase();
        let ok = (Self::MIN_LEN..=Self::MAX_LEN).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_".contains(&b));
        if ok {
            Ok(PromotionCode(code))
        } else {
            Err(InvalidName("promotion code"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_conversions!(CategoryId);
string_conversions!(CustomerGroup);
string_conversions!(PromotionCode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_trimmed_and_upper_cased() {
        assert_eq!(
            PromotionCode::parse(" summer-10 ").map(|c| c.to_string()),
            Ok("SUMMER-10".to_string())
        );
        for bad in ["", "AB", "HAS SPACE", "a.b.c", &"X".repeat(41), "ÉTÉ10"] {
            assert!(PromotionCode::parse(bad).is_err(), "{bad}");
        }
        // The wire form is parsed too, so a stored code is always canonical.
        assert_eq!(
            serde_json::from_str::<PromotionCode>("\"welcome\"")
                .map(|c| c.to_string())
                .ok(),
            Some("WELCOME".to_string())
        );
    }

    #[test]
    fn categories_and_groups_are_slugs() {
        assert!(CategoryId::parse("mens-shirts").is_ok());
        assert!(CustomerGroup::parse("vip").is_ok());
        for bad in ["", "Shirts", "a_b", "a b", &"a".repeat(65)] {
            assert!(CategoryId::parse(bad).is_err(), "{bad}");
            assert!(CustomerGroup::parse(bad).is_err(), "{bad}");
        }
    }
}

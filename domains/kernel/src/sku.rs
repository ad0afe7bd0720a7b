use serde::{Deserialize, Serialize};

/// A stock-keeping unit code: 1 to 64 characters of `A-Z a-z 0-9 _ -`. It names the SKU's
/// stock stream, so it must be usable as one NATS subject token (no `.`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a SKU is 1 to 64 characters of letters, digits, '_' or '-'")]
pub struct InvalidSku;

impl Sku {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Sku, InvalidSku> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
        if ok {
            Ok(Sku(s.to_string()))
        } else {
            Err(InvalidSku)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = InvalidSku;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Sku::parse(&s)
    }
}

impl From<Sku> for String {
    fn from(s: Sku) -> String {
        s.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_validated() {
        assert!(Sku::parse("TSHIRT-RED_M1").is_ok());
        assert!(Sku::parse("A.B").is_err());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("has space").is_err());
        assert!(Sku::parse(&"x".repeat(65)).is_err());
        assert!(serde_json::from_str::<Sku>("\"a/b\"").is_err());
    }
}

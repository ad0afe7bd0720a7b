use serde::{Deserialize, Serialize};

/// A postal address: an order's shipping address, an address saved in an account (so that
/// checkout can copy a saved one as it is). `country` is an ISO 3166-1 alpha-2 code (`DE`);
/// `region` a subdivision (`CA` or `US-CA`) where the country has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    #[serde(default)]
    pub region: Option<String>,
    pub country: String,
    #[serde(default)]
    pub phone: Option<String>,
}

impl Address {
    /// Longest field but the phone, in characters.
    pub const MAX_FIELD_CHARS: usize = 200;
    /// Longest phone number, in characters.
    pub const MAX_PHONE_CHARS: usize = 32;

    /// Whether a parcel can be labelled with it: name, first line, city and postcode present,
    /// every field within its limit, the country two upper-case letters. The rule of an
    /// order's shipping address and of a shipment's.
    pub fn is_shippable(&self) -> bool {
        let chars = |t: &str| t.chars().count();
        let present = |t: &String| !t.trim().is_empty() && chars(t) <= Self::MAX_FIELD_CHARS;
        let at_most = |t: &Option<String>, max: usize| t.as_deref().is_none_or(|t| chars(t) <= max);
        let country = self.country.as_bytes();
        [&self.name, &self.line1, &self.city, &self.postal_code]
            .into_iter()
            .all(present)
            && at_most(&self.line2, Self::MAX_FIELD_CHARS)
            && at_most(&self.region, Self::MAX_FIELD_CHARS)
            && at_most(&self.phone, Self::MAX_PHONE_CHARS)
            && country.len() == 2
            && country.iter().all(u8::is_ascii_uppercase)
    }
}

/// A region as an ISO 3166-2 subdivision code of `country` (`CA` or `US-CA` for the US), upper
/// case and without the country: 1 to 3 letters or digits. `None` for anything else
/// (`California`, or another country's code), which is no region as far as tax and shipping
/// zones go.
pub fn subdivision(country: &str, region: &str) -> Option<String> {
    let country = country.trim().to_ascii_uppercase();
    let region = region.trim().to_ascii_uppercase();
    let own = match region.split_once('-') {
        Some((c, r)) if c == country => r.to_string(),
        Some(_) => return None,
        None => region,
    };
    ((1..=3).contains(&own.len()) && own.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(own)
}

#[cfg(test)]
mod subdivision_tests {
    use super::subdivision;

    #[test]
    fn a_subdivision_is_its_code_with_or_without_its_own_country() {
        assert_eq!(subdivision("US", "ca").as_deref(), Some("CA"));
        assert_eq!(subdivision("us", "US-CA").as_deref(), Some("CA"));
        assert_eq!(subdivision("US", "FR-CA"), None);
        assert_eq!(subdivision("US", "California"), None);
        assert_eq!(subdivision("US", ""), None);
    }
}

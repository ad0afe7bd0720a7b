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

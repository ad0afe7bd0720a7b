use agora_kernel::{DomainError, ErrorKind};

use crate::{MAX_AREAS, MAX_BANDS, MAX_OPTIONS_PER_ZONE, MAX_ZONES};

/// Why a shipping command, read or quote was refused. Codes are stable API: never rename one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShippingError {
    #[error("only the back office changes the shop's shipping settings")]
    Forbidden,
    #[error("no such shipping profile")]
    NotFound,
    #[error("a zone or option id is 1 to 64 characters of lower-case letters, digits and '-'; a name is 1 to 100 characters")]
    InvalidName,
    #[error("an area is a country (ISO 3166-1 alpha-2, or '*' for every country), optionally a region of it (ISO 3166-2: 'CA' or 'US-CA') and a postcode prefix (1 to 10 letters or digits)")]
    InvalidArea,
    #[error("a zone covers 1 to {MAX_AREAS} areas, each once")]
    AreaCount,
    #[error("{area} is already covered by zone '{zone}': one area belongs to one zone, so the most specific zone is always one")]
    AreaTaken { area: String, zone: String },
    #[error("no such shipping zone")]
    ZoneNotFound,
    #[error("no such shipping option in this zone")]
    OptionNotFound,
    #[error(
        "a shop has at most {MAX_ZONES} zones and a zone at most {MAX_OPTIONS_PER_ZONE} options"
    )]
    TooMany,
    #[error("a rate is a flat price, or 1 to {MAX_BANDS} weight or subtotal bands with strictly increasing upper bounds (only the last may be open), every price between 0 and 1,000,000.00 and in one currency with the free-from threshold")]
    InvalidRate,
    #[error("a delivery estimate is 0 to 365 days, the earliest not after the latest")]
    InvalidEstimate,
    #[error("a destination is a country (ISO 3166-1 alpha-2), optionally a region and a postcode")]
    InvalidDestination,
    #[error("we do not ship to {0}: no shipping zone covers it")]
    NoZone(String),
    #[error("that shipping option is not offered for this cart and destination")]
    OptionUnavailable,
}

impl DomainError for ShippingError {
    fn code(&self) -> &'static str {
        match self {
            ShippingError::Forbidden => "shipping.forbidden",
            ShippingError::NotFound => "shipping.not_found",
            ShippingError::InvalidName => "shipping.invalid_name",
            ShippingError::InvalidArea => "shipping.invalid_area",
            ShippingError::AreaCount => "shipping.area_count",
            ShippingError::AreaTaken { .. } => "shipping.area_taken",
            ShippingError::ZoneNotFound => "shipping.zone_not_found",
            ShippingError::OptionNotFound => "shipping.option_not_found",
            ShippingError::TooMany => "shipping.too_many",
            ShippingError::InvalidRate => "shipping.invalid_rate",
            ShippingError::InvalidEstimate => "shipping.invalid_estimate",
            ShippingError::InvalidDestination => "shipping.invalid_destination",
            ShippingError::NoZone(_) => "shipping.no_zone",
            ShippingError::OptionUnavailable => "shipping.option_unavailable",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            ShippingError::Forbidden => ErrorKind::Forbidden,
            ShippingError::NotFound
            | ShippingError::ZoneNotFound
            | ShippingError::OptionNotFound => ErrorKind::NotFound,
            ShippingError::AreaTaken { .. } => ErrorKind::Conflict,
            ShippingError::InvalidName
            | ShippingError::InvalidArea
            | ShippingError::AreaCount
            | ShippingError::TooMany
            | ShippingError::InvalidRate
            | ShippingError::InvalidEstimate
            | ShippingError::InvalidDestination
            | ShippingError::NoZone(_)
            | ShippingError::OptionUnavailable => ErrorKind::Invalid,
        }
    }
}

use std::fmt;
use std::str::FromStr;

/// A malformed id in input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind} id")]
pub struct ParseIdError {
    pub kind: &'static str,
}

/// Declares a typed id: a UUID newtype that serializes as its hyphenated string and can only be
/// built from a UUID or parsed from text, so ids of different aggregates never mix.
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            pub const KIND: &'static str = $kind;
            pub fn from_uuid(id: uuid::Uuid) -> Self {
                Self(id)
            }
            pub fn new_random() -> Self {
                Self(uuid::Uuid::new_v4())
            }
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| $crate::ParseIdError { kind: $kind })
            }
        }
    };
}

typed_id!(
    /// Identifies one command; a retried command carries the same id and never doubles an effect.
    CommandId,
    "command"
);
typed_id!(
    /// Ties together everything one user action caused, across services.
    CorrelationId,
    "correlation"
);
typed_id!(
    /// A registered customer.
    CustomerId,
    "customer"
);

// Keep the imports used when the macro is expanded elsewhere.
#[allow(dead_code)]
fn _assert_traits<T: fmt::Display + FromStr>() {}

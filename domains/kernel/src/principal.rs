use serde::{Deserialize, Serialize};

use crate::CustomerId;

/// Who is acting. Authenticated at the edge (or by the process itself for `System`), carried in
/// every command envelope, checked by the owning aggregate and recorded in event metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// An anonymous shopper proving possession of an object by its secret token. Only the
    /// SHA-256 of the token is ever stored; the token itself stays with the shopper.
    Guest { token_sha256: String },
    /// A signed-in customer.
    Customer { id: CustomerId },
    /// Back-office staff with a role name (`staff`, `admin`, `auditor`).
    Staff { id: String, role: String },
    /// A user of one marketplace vendor (an account bound to the vendor by the vendor
    /// workflow): acts in the back office for that vendor only, and every owning aggregate
    /// shows it only what is the vendor's.
    Vendor { id: String, vendor: String },
    /// The platform itself (sagas, expiry jobs, seeding).
    System { name: String },
}

impl Principal {
    pub fn system(name: &str) -> Principal {
        Principal::System {
            name: name.to_string(),
        }
    }

    /// The form recorded in event metadata: never the guest token hash, which is a credential.
    pub fn audit_label(&self) -> serde_json::Value {
        match self {
            Principal::Guest { .. } => serde_json::json!({"kind": "guest"}),
            Principal::Customer { id } => serde_json::json!({"kind": "customer", "id": id}),
            Principal::Staff { id, role } => {
                serde_json::json!({"kind": "staff", "id": id, "role": role})
            }
            Principal::Vendor { id, vendor } => {
                serde_json::json!({"kind": "vendor", "id": id, "vendor": vendor})
            }
            Principal::System { name } => serde_json::json!({"kind": "system", "id": name}),
        }
    }

    /// Who this caller is, for telling one caller's command ids from another's: the platform is
    /// one caller whatever part of it acts (a webhook and a saga may send the same command);
    /// every guest is "guest" here, since a guest's identity (its token) is a credential that
    /// is never recorded, and what a guest may see is decided by the aggregate it proves
    /// possession of.
    pub fn caller(&self) -> Caller {
        match self {
            Principal::Guest { .. } => Caller::Guest,
            Principal::Customer { id } => Caller::Customer(id.to_string()),
            Principal::Staff { id, .. } | Principal::Vendor { id, .. } => Caller::Staff(id.clone()),
            Principal::System { .. } => Caller::Platform,
        }
    }

    /// A string that identifies this principal for scoping idempotency keys: the same key sent
    /// by two principals must name two different commands. Unlike [`Principal::caller`] it
    /// tells guests apart (by their token's hash), so it is never recorded.
    pub fn idempotency_scope(&self) -> String {
        match self {
            Principal::Guest { token_sha256 } => format!("guest:{token_sha256}"),
            Principal::Customer { id } => format!("customer:{id}"),
            Principal::Staff { id, .. } => format!("staff:{id}"),
            Principal::Vendor { id, vendor } => format!("vendor:{vendor}:{id}"),
            Principal::System { name } => format!("system:{name}"),
        }
    }

    /// Whether the caller acts in the back office: staff, a vendor's user, or the platform.
    pub fn is_back_office(&self) -> bool {
        matches!(
            self,
            Principal::Staff { .. } | Principal::Vendor { .. } | Principal::System { .. }
        )
    }

    /// The vendor this caller acts for, when it is a vendor's user.
    pub fn vendor(&self) -> Option<&str> {
        match self {
            Principal::Vendor { vendor, .. } => Some(vendor),
            _ => None,
        }
    }
}

/// The caller of a recorded command, as far as event metadata tells it (see
/// [`Principal::caller`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    Guest,
    Customer(String),
    Staff(String),
    Platform,
    /// Metadata written before callers were recorded, or unreadable: matches no caller.
    Unknown,
}

impl Caller {
    /// The caller recorded in an event's metadata (`actor`, written by
    /// [`Principal::audit_label`]).
    pub fn from_label(label: &serde_json::Value) -> Caller {
        let id = || label.get("id").and_then(|i| i.as_str()).map(str::to_string);
        match label.get("kind").and_then(|k| k.as_str()) {
            Some("guest") => Caller::Guest,
            Some("customer") => id().map_or(Caller::Unknown, Caller::Customer),
            // A vendor's user is recorded with its vendor, and is one caller by its account.
            Some("staff") | Some("vendor") => id().map_or(Caller::Unknown, Caller::Staff),
            Some("system") => Caller::Platform,
            _ => Caller::Unknown,
        }
    }
}

/// Whether two secret digests (a guest token's SHA-256 hex, a stored token hash) are equal, in
/// time that depends only on their lengths (which are not secret), so a guessed hash cannot be
/// confirmed byte by byte.
pub fn same_digest(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_label_names_the_caller_that_made_it() {
        let customer = Principal::Customer {
            id: CustomerId::from_uuid(uuid::Uuid::from_u128(7)),
        };
        let staff = Principal::Staff {
            id: "sam".into(),
            role: "staff".into(),
        };
        let vendor = Principal::Vendor {
            id: "vic".into(),
            vendor: "acme".into(),
        };
        for p in [
            customer,
            staff,
            vendor,
            Principal::system("saga"),
            Principal::Guest {
                token_sha256: "ab".into(),
            },
        ] {
            assert_eq!(Caller::from_label(&p.audit_label()), p.caller());
        }
        assert_eq!(
            Principal::system("webhook").caller(),
            Principal::system("saga").caller()
        );
        assert_eq!(
            Caller::from_label(&serde_json::Value::Null),
            Caller::Unknown
        );
    }

    #[test]
    fn idempotency_scopes_tell_every_principal_apart() {
        let a = Principal::Guest {
            token_sha256: "a".into(),
        };
        let b = Principal::Guest {
            token_sha256: "b".into(),
        };
        assert_ne!(a.idempotency_scope(), b.idempotency_scope());
        assert_ne!(
            Principal::Staff {
                id: "x".into(),
                role: "staff".into()
            }
            .idempotency_scope(),
            Principal::system("x").idempotency_scope()
        );
        assert_ne!(
            Principal::Vendor {
                id: "x".into(),
                vendor: "a".into()
            }
            .idempotency_scope(),
            Principal::Vendor {
                id: "x".into(),
                vendor: "b".into()
            }
            .idempotency_scope()
        );
    }
}

#[cfg(test)]
mod same_digest_tests {
    use super::same_digest;

    #[test]
    fn comparison_needs_equal_length_and_content() {
        assert!(same_digest("abc", "abc"));
        assert!(!same_digest("abc", "abd"));
        assert!(!same_digest("abc", "abcd"));
        assert!(same_digest("", ""));
    }
}

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
    /// Back-office staff with a role name (`staff`, `admin`, ...).
    Staff { id: String, role: String },
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
            Principal::System { name } => serde_json::json!({"kind": "system", "id": name}),
        }
    }

    pub fn is_back_office(&self) -> bool {
        matches!(self, Principal::Staff { .. } | Principal::System { .. })
    }
}

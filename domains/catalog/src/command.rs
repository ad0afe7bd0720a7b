use std::collections::BTreeMap;

use agora_kernel::{Money, Sku};
use serde::{Deserialize, Serialize};

/// One variant as a caller describes it, in `Create` and `AddVariant`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    pub sku: Sku,
    pub title: String,
    pub price: Money,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Weight and size, for shipping rates by weight and for packing.
    #[serde(default, skip_serializing_if = "ShippingDetails::is_empty")]
    pub shipping: ShippingDetails,
}

/// What shipping needs to know of a variant. Absent values are unknown: a variant without a
/// weight adds nothing to a parcel's weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingDetails {
    /// Grams, 1 to 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<u32>,
    /// Millimetres, each side 1 to 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions_mm: Option<Dimensions>,
}

impl ShippingDetails {
    pub fn is_empty(&self) -> bool {
        self.weight_grams.is_none() && self.dimensions_mm.is_none()
    }
}

/// A packed item's size in millimetres.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimensions {
    pub length: u32,
    pub width: u32,
    pub height: u32,
}

/// Commands on one product. The product id is the stream id, a UUID chosen by the caller, so a
/// retried `Create` lands on the same stream. Each variant name is also the NATS endpoint name
/// (`agora.product.<name>`); see [`ProductCommand::NAMES`].
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ProductCommand {
    /// Creates a draft product. A vendor may only create products for itself.
    Create {
        title: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        image_urls: Vec<String>,
        #[serde(default)]
        category_id: Option<String>,
        #[serde(default)]
        attributes: BTreeMap<String, String>,
        vendor_id: String,
        #[serde(default)]
        variants: Vec<VariantInput>,
    },
    /// Changes the given fields; an absent field is left as it is. `category_id` has three
    /// states: absent (unchanged), `null` (the product leaves its category) or a category id.
    /// `attributes` and `image_urls` replace the whole map or list.
    Update {
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        image_urls: Option<Vec<String>>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::double_option::deserialize"
        )]
        category_id: Option<Option<String>>,
        #[serde(default)]
        attributes: Option<BTreeMap<String, String>>,
    },
    AddVariant {
        variant: VariantInput,
    },
    ChangePrice {
        sku: Sku,
        price: Money,
    },
    RemoveVariant {
        sku: Sku,
    },
    /// Sets a variant's weight and size (replacing both).
    SetShipping {
        sku: Sku,
        shipping: ShippingDetails,
    },
    /// Makes the product visible to shoppers; a no-op when it already is.
    Publish {},
    /// Takes a published product back to draft; a no-op on a draft.
    Unpublish {},
    /// Retires the product for good: an archived product accepts no further command.
    Archive {},
}

/// Commands on one category. The category id is the stream id, a slug chosen by the caller
/// (`mens-shirts`). There is deliberately no command that moves a category: see
/// [`crate::Category`] for why the parent is fixed.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CategoryCommand {
    Create {
        name: String,
        #[serde(default)]
        parent_id: Option<String>,
    },
    Rename {
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::Command as _;
    use serde_json::json;

    fn tag(value: &serde_json::Value) -> String {
        value
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default()
    }

    #[test]
    fn command_names_are_their_serde_tags() {
        let sku = Sku::parse("A").expect("valid sku");
        let price = Money::new(100, agora_kernel::Currency::EUR);
        let all = [
            ProductCommand::Create {
                title: "t".into(),
                description: String::new(),
                image_urls: vec![],
                category_id: None,
                attributes: BTreeMap::new(),
                vendor_id: "v".into(),
                variants: vec![],
            },
            ProductCommand::Update {
                title: None,
                description: None,
                image_urls: None,
                category_id: None,
                attributes: None,
            },
            ProductCommand::AddVariant {
                variant: VariantInput {
                    sku: sku.clone(),
                    title: "t".into(),
                    price,
                    attributes: BTreeMap::new(),
                    shipping: Default::default(),
                },
            },
            ProductCommand::ChangePrice {
                sku: sku.clone(),
                price,
            },
            ProductCommand::RemoveVariant { sku: sku.clone() },
            ProductCommand::SetShipping {
                sku,
                shipping: ShippingDetails {
                    weight_grams: Some(250),
                    dimensions_mm: None,
                },
            },
            ProductCommand::Publish {},
            ProductCommand::Unpublish {},
            ProductCommand::Archive {},
        ];
        assert_eq!(all.len(), ProductCommand::NAMES.len());
        for (command, name) in all.iter().zip(ProductCommand::NAMES) {
            let value = serde_json::to_value(command).expect("serializes");
            assert_eq!(tag(&value), *name);
            assert_eq!(command.name(), *name);
            assert_eq!(
                serde_json::from_value::<ProductCommand>(value).expect("round-trips"),
                *command
            );
        }
        let all = [
            CategoryCommand::Create {
                name: "n".into(),
                parent_id: None,
            },
            CategoryCommand::Rename { name: "n".into() },
        ];
        for (command, name) in all.iter().zip(CategoryCommand::NAMES) {
            assert_eq!(
                tag(&serde_json::to_value(command).expect("serializes")),
                *name
            );
            assert_eq!(command.name(), *name);
        }
    }

    #[test]
    fn an_update_tells_absent_from_null_category() {
        let absent: ProductCommand =
            serde_json::from_value(json!({"update": {"title": "x"}})).expect("parses");
        let cleared: ProductCommand =
            serde_json::from_value(json!({"update": {"category_id": null}})).expect("parses");
        let set: ProductCommand =
            serde_json::from_value(json!({"update": {"category_id": "shoes"}})).expect("parses");
        let category = |c: &ProductCommand| match c {
            ProductCommand::Update { category_id, .. } => category_id.clone(),
            _ => None,
        };
        assert_eq!(category(&absent), None);
        assert_eq!(category(&cleared), Some(None));
        assert_eq!(category(&set), Some(Some("shoes".into())));
        for command in [absent, cleared, set] {
            let back: ProductCommand =
                serde_json::from_value(serde_json::to_value(&command).expect("serializes"))
                    .expect("round-trips");
            assert_eq!(back, command);
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(
            serde_json::from_value::<ProductCommand>(json!({"publish": {"force": true}})).is_err()
        );
        assert!(serde_json::from_value::<ProductCommand>(
            json!({"change_price": {"sku": "A", "price": {"amount_minor": 1, "currency": "EUR"}, "x": 1}})
        )
        .is_err());
        assert!(serde_json::from_value::<ProductCommand>(json!({"add_variant": {"variant": {
            "sku": "A", "title": "t", "price": {"amount_minor": 1, "currency": "EUR"}, "stock": 3
        }}}))
        .is_err());
        assert!(serde_json::from_value::<CategoryCommand>(
            json!({"rename": {"name": "n", "parent_id": "x"}})
        )
        .is_err());
    }
}

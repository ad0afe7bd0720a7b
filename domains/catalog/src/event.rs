use std::collections::BTreeMap;

use agora_kernel::{Money, Sku};
use serde::{Deserialize, Serialize};

use crate::ProductVariant;

/// Facts about a product. A published contract: variants and fields are never renamed; a
/// change of shape gets a new event version and an upcaster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductEvent {
    /// A draft product came into being. Text fields are recorded as normalised by `decide`
    /// (titles trimmed).
    ProductCreated {
        vendor_id: String,
        title: String,
        description: String,
        image_urls: Vec<String>,
        category_id: Option<String>,
        attributes: BTreeMap<String, String>,
        variants: Vec<ProductVariant>,
    },
    /// Only the fields that changed are present. `category_id` is absent when unchanged and
    /// `null` when the product left its category.
    ProductUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image_urls: Option<Vec<String>>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::double_option::deserialize"
        )]
        category_id: Option<Option<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attributes: Option<BTreeMap<String, String>>,
    },
    VariantAdded {
        variant: ProductVariant,
    },
    PriceChanged {
        sku: Sku,
        price: Money,
    },
    VariantShippingSet {
        sku: Sku,
        shipping: crate::ShippingDetails,
    },
    VariantRemoved {
        sku: Sku,
    },
    ProductPublished {},
    ProductUnpublished {},
    ProductArchived {},
}

impl ProductEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            ProductEvent::ProductCreated { .. } => "ProductCreated",
            ProductEvent::ProductUpdated { .. } => "ProductUpdated",
            ProductEvent::VariantAdded { .. } => "VariantAdded",
            ProductEvent::PriceChanged { .. } => "PriceChanged",
            ProductEvent::VariantRemoved { .. } => "VariantRemoved",
            ProductEvent::VariantShippingSet { .. } => "VariantShippingSet",
            ProductEvent::ProductPublished { .. } => "ProductPublished",
            ProductEvent::ProductUnpublished { .. } => "ProductUnpublished",
            ProductEvent::ProductArchived { .. } => "ProductArchived",
        }
    }
}

/// Facts about a category. A published contract, like [`ProductEvent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CategoryEvent {
    CategoryCreated {
        name: String,
        parent_id: Option<String>,
    },
    CategoryRenamed {
        name: String,
    },
}

impl CategoryEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            CategoryEvent::CategoryCreated { .. } => "CategoryCreated",
            CategoryEvent::CategoryRenamed { .. } => "CategoryRenamed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_event_type_is_the_serde_tag() {
        let events = [
            ProductEvent::ProductUpdated {
                title: Some("t".into()),
                description: None,
                image_urls: None,
                category_id: Some(None),
                attributes: None,
            },
            ProductEvent::ProductPublished {},
            ProductEvent::VariantRemoved {
                sku: Sku::parse("A").expect("valid sku"),
            },
        ];
        for event in events {
            let value = serde_json::to_value(&event).expect("serializes");
            assert!(value.get(event.event_type()).is_some(), "{value}");
            let back: ProductEvent = serde_json::from_value(value).expect("round-trips");
            assert_eq!(back, event);
        }
        let event = CategoryEvent::CategoryRenamed { name: "n".into() };
        let value = serde_json::to_value(&event).expect("serializes");
        assert!(value.get(event.event_type()).is_some(), "{value}");
    }

    #[test]
    fn a_product_update_records_only_the_changed_fields() {
        let event = ProductEvent::ProductUpdated {
            title: None,
            description: Some("d".into()),
            image_urls: None,
            category_id: Some(None),
            attributes: None,
        };
        assert_eq!(
            serde_json::to_value(&event).expect("serializes"),
            json!({"ProductUpdated": {"description": "d", "category_id": null}})
        );
    }
}

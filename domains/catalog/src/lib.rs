//! The catalog: products (with their sellable variants and prices) and the category tree.
//!
//! Two aggregates, each its own event stream: [`Product`] (stream type `product`, id a UUID
//! chosen by the caller) and [`Category`] (stream type `category`, id a slug such as
//! `mens-shirts`). Prices live here and nowhere else: carts and orders read them from the
//! catalog, never from the client.
//!
//! Invariants (enforced by the aggregates' `decide`):
//! - every text field, list and map is within a documented limit (the `MAX_*` constants);
//! - a product's SKUs are unique, every price is in `1..=MAX_PRICE_MINOR` minor units, and all
//!   of a product's variants are priced in one currency;
//! - a published product has at least one variant; an archived product never changes again;
//! - only admins, staff and the platform change the catalog; a vendor changes only its own
//!   products and cannot tell another vendor's product from a missing one; shoppers change
//!   nothing and see only published products;
//! - a category's parent is fixed at creation, so the tree has no cycles (given that the caller
//!   checks the parent exists; see [`Category`]).
//!
//! Cross-stream references (a product's `category_id`, a category's `parent_id`) are checked
//! for form only: an aggregate sees nothing but its own stream.

mod category;
mod command;
mod error;
mod event;
mod product;

pub use category::{
    is_category_id, Category, CategoryStatus, CategoryView, MAX_CATEGORY_ID_CHARS, MAX_NAME_CHARS,
};
pub use command::{CategoryCommand, Dimensions, ProductCommand, ShippingDetails, VariantInput};
pub use error::CatalogError;
pub use event::{CategoryEvent, ProductEvent};
pub use product::{
    Product, ProductStatus, ProductVariant, ProductView, Variant, MAX_ATTRIBUTES,
    MAX_ATTRIBUTE_KEY_CHARS, MAX_ATTRIBUTE_VALUE_CHARS, MAX_DESCRIPTION_CHARS, MAX_IMAGES,
    MAX_IMAGE_URL_CHARS, MAX_PRICE_MINOR, MAX_TITLE_CHARS, MAX_VARIANTS, MAX_VENDOR_ID_CHARS,
};

pub use agora_kernel::CqrsEnvelope;

/// Serde support for `Option<Option<T>>` fields: absent means "leave unchanged" (`None`),
/// `null` means "clear" (`Some(None)`), a value means "set" (`Some(Some(v))`). Pair it with
/// `#[serde(default, skip_serializing_if = "Option::is_none")]` so it round-trips.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

agora_kernel::contract!(Product {
    service: "product",
    description: "Products and their variants; each SKU owned by one product",
    command: ProductCommand,
    view: ProductView,
});

agora_kernel::contract!(Category {
    service: "category",
    description: "The category tree",
    command: CategoryCommand,
    view: CategoryView,
});

#[cfg(test)]
mod tests {
    /// A domain crate does no IO: its dependencies are the kernel, serialization, errors,
    /// cqrs-es and value types, nothing that opens a socket or a file.
    #[test]
    fn the_crate_depends_on_no_io_crate() {
        let allowed = [
            "strum",
            "agora-kernel",
            "serde",
            "serde_json",
            "thiserror",
            "cqrs-es",
            "uuid",
            "chrono",
        ];
        agora_kernel::assert_only_dependencies(include_str!("../Cargo.toml"), &allowed);
    }
}

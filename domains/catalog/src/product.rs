use std::collections::{BTreeMap, BTreeSet};

use agora_kernel::{Currency, Decider, Money, Principal, Sku};
use serde::{Deserialize, Serialize};

use crate::category::is_category_id;
use crate::{CatalogError, ProductCommand, ProductEvent, ShippingDetails, VariantInput};

/// Longest product or variant title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Most images per product.
pub const MAX_IMAGES: usize = 20;
/// Longest image URL, in characters.
pub const MAX_IMAGE_URL_CHARS: usize = 2_048;
/// Most attributes per product, and per variant.
pub const MAX_ATTRIBUTES: usize = 50;
/// Heaviest variant, in grams (one tonne).
pub const MAX_WEIGHT_GRAMS: u32 = 1_000_000;
/// Longest side of a variant, in millimetres.
pub const MAX_SIDE_MM: u32 = 10_000;
/// Longest attribute key, in characters.
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 64;
/// Longest attribute value, in characters.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 256;
/// Most variants per product.
pub const MAX_VARIANTS: usize = 100;
/// Highest price, in minor units (one million of a two-decimal currency).
pub const MAX_PRICE_MINOR: i64 = 100_000_000;
/// Longest vendor id.
pub const MAX_VENDOR_ID_CHARS: usize = 64;

/// Where a product is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// No `ProductCreated` yet: the stream is empty.
    #[default]
    New,
    /// Being prepared; only the back office and the owning vendor see it.
    Draft,
    /// Visible to everyone.
    Published,
    /// Retired for good; accepts no command, visible to the back office only.
    Archived,
}

/// One sellable variant, as the product holds it (the SKU is the map key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub title: String,
    pub price: Money,
    pub attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "ShippingDetails::is_empty")]
    pub shipping: ShippingDetails,
}

/// One variant with its SKU: the form recorded in events and shown in the view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductVariant {
    pub sku: Sku,
    pub title: String,
    pub price: Money,
    pub attributes: BTreeMap<String, String>,
    /// Added without a new event version: absent in older events (nothing known).
    #[serde(default, skip_serializing_if = "ShippingDetails::is_empty")]
    pub shipping: ShippingDetails,
}

/// The product's state, folded from its events.
///
/// Invariants (enforced by [`Product::decide`]): every text field is within its limit; SKUs are
/// unique (they are the map keys); every price is in `1..=MAX_PRICE_MINOR` and all prices share
/// one currency; a published product has at least one variant; an archived product never
/// changes again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub status: ProductStatus,
    /// The vendor who owns the product; a vendor principal sees and changes only its own.
    pub vendor_id: String,
    pub title: String,
    pub description: String,
    pub image_urls: Vec<String>,
    /// A category id; whether that category exists is checked by the caller, not here (the
    /// aggregate sees only its own stream).
    pub category_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub variants: BTreeMap<Sku, Variant>,
}

/// What a reader sees of a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    pub id: String,
    pub version: u64,
    pub title: String,
    pub description: String,
    pub image_urls: Vec<String>,
    pub category_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
    /// Ordered by SKU.
    pub variants: Vec<ProductVariant>,
    pub status: ProductStatus,
    pub vendor_id: String,
}

/// How much of the catalog a principal may touch.
enum Access<'a> {
    /// Admins, staff and the platform itself: everything.
    BackOffice,
    /// A vendor's user: only products whose `vendor_id` is its vendor's id.
    Vendor(&'a str),
    /// Shoppers and staff without a catalog role: read published products only.
    Public,
}

fn access(by: &Principal) -> Access<'_> {
    match by {
        Principal::System { .. } => Access::BackOffice,
        Principal::Staff { role, .. } if role == "admin" || role == "staff" => Access::BackOffice,
        Principal::Vendor { vendor, .. } => Access::Vendor(vendor),
        Principal::Staff { .. } | Principal::Guest { .. } | Principal::Customer { .. } => {
            Access::Public
        }
    }
}

/// A title trimmed of surrounding spaces, or `error` if it is then empty or too long.
fn valid_title(title: &str, error: CatalogError) -> Result<String, CatalogError> {
    let trimmed = title.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_TITLE_CHARS {
        return Err(error);
    }
    Ok(trimmed.to_string())
}

fn check_description(description: &str) -> Result<(), CatalogError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(CatalogError::DescriptionTooLong);
    }
    Ok(())
}

fn check_image_urls(urls: &[String]) -> Result<(), CatalogError> {
    if urls.len() > MAX_IMAGES {
        return Err(CatalogError::TooManyImages);
    }
    for url in urls {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let ok = match rest {
            // Something must follow the scheme, and a URL never holds raw spaces or controls.
            Some(rest) => {
                !rest.is_empty()
                    && url.chars().count() <= MAX_IMAGE_URL_CHARS
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !ok {
            return Err(CatalogError::InvalidImageUrl);
        }
    }
    Ok(())
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), CatalogError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(CatalogError::TooManyAttributes);
    }
    for (key, value) in attributes {
        if key.trim().is_empty()
            || key.chars().count() > MAX_ATTRIBUTE_KEY_CHARS
            || value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS
        {
            return Err(CatalogError::InvalidAttribute);
        }
    }
    Ok(())
}

fn check_vendor_id(vendor_id: &str) -> Result<(), CatalogError> {
    let ok = !vendor_id.is_empty()
        && vendor_id.len() <= MAX_VENDOR_ID_CHARS
        && vendor_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CatalogError::InvalidVendorId)
    }
}

fn check_category_ref(category_id: Option<&str>) -> Result<(), CatalogError> {
    match category_id {
        Some(id) if !is_category_id(id) => Err(CatalogError::InvalidCategoryId),
        _ => Ok(()),
    }
}

fn check_price(price: Money) -> Result<(), CatalogError> {
    if (1..=MAX_PRICE_MINOR).contains(&price.amount_minor) {
        Ok(())
    } else {
        Err(CatalogError::InvalidPrice)
    }
}

/// The recorded form of a variant, or why the input is not one.
fn valid_variant(input: &VariantInput) -> Result<ProductVariant, CatalogError> {
    let title = valid_title(&input.title, CatalogError::InvalidVariantTitle)?;
    check_price(input.price)?;
    check_attributes(&input.attributes)?;
    check_shipping(&input.shipping)?;
    Ok(ProductVariant {
        sku: input.sku.clone(),
        title,
        price: input.price,
        attributes: input.attributes.clone(),
        shipping: input.shipping,
    })
}

/// A weight of 1 g to 1 t and sides of 1 mm to 10 m.
fn check_shipping(shipping: &ShippingDetails) -> Result<(), CatalogError> {
    let weight_ok = shipping
        .weight_grams
        .is_none_or(|w| (1..=MAX_WEIGHT_GRAMS).contains(&w));
    let size_ok = shipping.dimensions_mm.is_none_or(|d| {
        [d.length, d.width, d.height]
            .iter()
            .all(|side| (1..=MAX_SIDE_MM).contains(side))
    });
    if weight_ok && size_ok {
        Ok(())
    } else {
        Err(CatalogError::InvalidShipping)
    }
}

/// Whether `id` is a UUID in its canonical form (lower-case, hyphenated), which is also a valid
/// subject token, so one product never has two spellings.
fn is_product_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|uuid| uuid.hyphenated().to_string() == id)
}

impl Product {
    /// The currency every variant is priced in, if there is a variant.
    pub fn currency(&self) -> Option<Currency> {
        self.variants.values().next().map(|v| v.price.currency)
    }

    /// The `ProductUpdated` carrying only what differs from the current state, if anything.
    fn update(
        &self,
        title: Option<&str>,
        description: Option<&str>,
        image_urls: Option<&[String]>,
        category_id: Option<Option<&str>>,
        attributes: Option<&BTreeMap<String, String>>,
    ) -> Result<Vec<ProductEvent>, CatalogError> {
        let title = match title {
            Some(t) => Some(valid_title(t, CatalogError::InvalidTitle)?),
            None => None,
        };
        if let Some(d) = description {
            check_description(d)?;
        }
        if let Some(urls) = image_urls {
            check_image_urls(urls)?;
        }
        if let Some(c) = category_id {
            check_category_ref(c)?;
        }
        if let Some(a) = attributes {
            check_attributes(a)?;
        }
        let title = title.filter(|t| *t != self.title);
        let description = description
            .filter(|d| *d != self.description)
            .map(str::to_string);
        let image_urls = image_urls
            .filter(|u| *u != self.image_urls.as_slice())
            .map(<[String]>::to_vec);
        let category_id = category_id
            .filter(|c| *c != self.category_id.as_deref())
            .map(|c| c.map(str::to_string));
        let attributes = attributes.filter(|a| **a != self.attributes).cloned();
        if title.is_none()
            && description.is_none()
            && image_urls.is_none()
            && category_id.is_none()
            && attributes.is_none()
        {
            return Ok(vec![]);
        }
        Ok(vec![ProductEvent::ProductUpdated {
            title,
            description,
            image_urls,
            category_id,
            attributes,
        }])
    }

    fn add_variant(&self, input: &VariantInput) -> Result<Vec<ProductEvent>, CatalogError> {
        let variant = valid_variant(input)?;
        if self.variants.contains_key(&variant.sku) {
            return Err(CatalogError::DuplicateSku);
        }
        if self.variants.len() >= MAX_VARIANTS {
            return Err(CatalogError::TooManyVariants);
        }
        if self
            .currency()
            .is_some_and(|currency| currency != variant.price.currency)
        {
            return Err(CatalogError::CurrencyMismatch);
        }
        Ok(vec![ProductEvent::VariantAdded { variant }])
    }

    fn change_price(&self, sku: &Sku, price: Money) -> Result<Vec<ProductEvent>, CatalogError> {
        check_price(price)?;
        let Some(variant) = self.variants.get(sku) else {
            return Err(CatalogError::UnknownVariant);
        };
        // The other variants fix the currency; a product's only variant may change it.
        if self
            .variants
            .iter()
            .any(|(other, v)| other != sku && v.price.currency != price.currency)
        {
            return Err(CatalogError::CurrencyMismatch);
        }
        if variant.price == price {
            return Ok(vec![]);
        }
        Ok(vec![ProductEvent::PriceChanged {
            sku: sku.clone(),
            price,
        }])
    }

    fn remove_variant(&self, sku: &Sku) -> Result<Vec<ProductEvent>, CatalogError> {
        if !self.variants.contains_key(sku) {
            return Err(CatalogError::UnknownVariant);
        }
        if self.status == ProductStatus::Published && self.variants.len() == 1 {
            return Err(CatalogError::LastVariant);
        }
        Ok(vec![ProductEvent::VariantRemoved { sku: sku.clone() }])
    }

    /// Every command but `Create`, on a product that exists, by a back-office principal
    /// (`vendor` is `None`) or a vendor.
    fn change(
        &self,
        vendor: Option<&str>,
        command: &ProductCommand,
    ) -> Result<Vec<ProductEvent>, CatalogError> {
        // Another vendor's product looks missing: a vendor learns nothing about it.
        if self.status == ProductStatus::New || vendor.is_some_and(|v| v != self.vendor_id) {
            return Err(CatalogError::NotFound);
        }
        if self.status == ProductStatus::Archived {
            return Err(CatalogError::Archived);
        }
        match command {
            // `decide` handles creation; kept total so a new command cannot slip past it.
            ProductCommand::Create { .. } => Err(CatalogError::AlreadyExists),
            ProductCommand::Update {
                title,
                description,
                image_urls,
                category_id,
                attributes,
            } => self.update(
                title.as_deref(),
                description.as_deref(),
                image_urls.as_deref(),
                category_id.as_ref().map(Option::as_deref),
                attributes.as_ref(),
            ),
            ProductCommand::AddVariant { variant } => self.add_variant(variant),
            ProductCommand::ChangePrice { sku, price } => self.change_price(sku, *price),
            ProductCommand::RemoveVariant { sku } => self.remove_variant(sku),
            ProductCommand::SetShipping { sku, shipping } => {
                check_shipping(shipping)?;
                match self.variants.get(sku) {
                    None => Err(CatalogError::UnknownVariant),
                    Some(v) if v.shipping == *shipping => Ok(vec![]),
                    Some(_) => Ok(vec![ProductEvent::VariantShippingSet {
                        sku: sku.clone(),
                        shipping: *shipping,
                    }]),
                }
            }
            ProductCommand::Publish {} => match self.status {
                ProductStatus::Published => Ok(vec![]),
                _ if self.variants.is_empty() => Err(CatalogError::NoVariants),
                _ => Ok(vec![ProductEvent::ProductPublished {}]),
            },
            ProductCommand::Unpublish {} => match self.status {
                ProductStatus::Published => Ok(vec![ProductEvent::ProductUnpublished {}]),
                _ => Ok(vec![]),
            },
            ProductCommand::Archive {} => Ok(vec![ProductEvent::ProductArchived {}]),
        }
    }
}

impl Decider for Product {
    const TYPE: &'static str = "product";
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = CatalogError;
    type View = ProductView;

    fn decide(
        &self,
        id: &str,
        command: &ProductCommand,
        by: &Principal,
    ) -> Result<Vec<ProductEvent>, CatalogError> {
        let vendor = match access(by) {
            Access::Public => return Err(CatalogError::Forbidden),
            Access::BackOffice => None,
            Access::Vendor(vendor) => Some(vendor),
        };
        let ProductCommand::Create {
            title,
            description,
            image_urls,
            category_id,
            attributes,
            vendor_id,
            variants,
        } = command
        else {
            return self.change(vendor, command);
        };
        if self.status != ProductStatus::New {
            return Err(CatalogError::AlreadyExists);
        }
        if !is_product_id(id) {
            return Err(CatalogError::InvalidProductId);
        }
        check_vendor_id(vendor_id)?;
        if vendor.is_some_and(|v| v != vendor_id) {
            return Err(CatalogError::Forbidden);
        }
        let title = valid_title(title, CatalogError::InvalidTitle)?;
        check_description(description)?;
        check_image_urls(image_urls)?;
        check_category_ref(category_id.as_deref())?;
        check_attributes(attributes)?;
        if variants.len() > MAX_VARIANTS {
            return Err(CatalogError::TooManyVariants);
        }
        let mut skus = BTreeSet::new();
        let mut recorded: Vec<ProductVariant> = Vec::with_capacity(variants.len());
        for input in variants {
            let variant = valid_variant(input)?;
            if !skus.insert(variant.sku.clone()) {
                return Err(CatalogError::DuplicateSku);
            }
            if recorded
                .first()
                .is_some_and(|first| first.price.currency != variant.price.currency)
            {
                return Err(CatalogError::CurrencyMismatch);
            }
            recorded.push(variant);
        }
        Ok(vec![ProductEvent::ProductCreated {
            vendor_id: vendor_id.clone(),
            title,
            description: description.clone(),
            image_urls: image_urls.clone(),
            category_id: category_id.clone(),
            attributes: attributes.clone(),
            variants: recorded,
        }])
    }

    fn evolve(&mut self, event: &ProductEvent) {
        match event {
            ProductEvent::ProductCreated {
                vendor_id,
                title,
                description,
                image_urls,
                category_id,
                attributes,
                variants,
            } => {
                self.status = ProductStatus::Draft;
                self.vendor_id = vendor_id.clone();
                self.title = title.clone();
                self.description = description.clone();
                self.image_urls = image_urls.clone();
                self.category_id = category_id.clone();
                self.attributes = attributes.clone();
                self.variants = variants
                    .iter()
                    .map(|v| {
                        (
                            v.sku.clone(),
                            Variant {
                                title: v.title.clone(),
                                price: v.price,
                                attributes: v.attributes.clone(),
                                shipping: v.shipping,
                            },
                        )
                    })
                    .collect();
            }
            ProductEvent::ProductUpdated {
                title,
                description,
                image_urls,
                category_id,
                attributes,
            } => {
                if let Some(title) = title {
                    self.title = title.clone();
                }
                if let Some(description) = description {
                    self.description = description.clone();
                }
                if let Some(image_urls) = image_urls {
                    self.image_urls = image_urls.clone();
                }
                if let Some(category_id) = category_id {
                    self.category_id = category_id.clone();
                }
                if let Some(attributes) = attributes {
                    self.attributes = attributes.clone();
                }
            }
            ProductEvent::VariantAdded { variant } => {
                self.variants.insert(
                    variant.sku.clone(),
                    Variant {
                        title: variant.title.clone(),
                        price: variant.price,
                        attributes: variant.attributes.clone(),
                        shipping: variant.shipping,
                    },
                );
            }
            ProductEvent::VariantShippingSet { sku, shipping } => {
                if let Some(variant) = self.variants.get_mut(sku) {
                    variant.shipping = *shipping;
                }
            }
            ProductEvent::PriceChanged { sku, price } => {
                if let Some(variant) = self.variants.get_mut(sku) {
                    variant.price = *price;
                }
            }
            ProductEvent::VariantRemoved { sku } => {
                self.variants.remove(sku);
            }
            ProductEvent::ProductPublished {} => self.status = ProductStatus::Published,
            ProductEvent::ProductUnpublished {} => self.status = ProductStatus::Draft,
            ProductEvent::ProductArchived {} => self.status = ProductStatus::Archived,
        }
    }

    fn authorize_read(&self, by: &Principal) -> Result<(), CatalogError> {
        let visible = match self.status {
            ProductStatus::New => false,
            ProductStatus::Published => true,
            ProductStatus::Draft | ProductStatus::Archived => match access(by) {
                Access::BackOffice => true,
                Access::Vendor(vendor) => vendor == self.vendor_id,
                Access::Public => false,
            },
        };
        if visible {
            Ok(())
        } else {
            Err(CatalogError::NotFound)
        }
    }

    fn view(&self, id: &str, version: u64) -> ProductView {
        ProductView {
            id: id.to_string(),
            version,
            title: self.title.clone(),
            description: self.description.clone(),
            image_urls: self.image_urls.clone(),
            category_id: self.category_id.clone(),
            attributes: self.attributes.clone(),
            variants: self
                .variants
                .iter()
                .map(|(sku, v)| ProductVariant {
                    sku: sku.clone(),
                    title: v.title.clone(),
                    price: v.price,
                    attributes: v.attributes.clone(),
                    shipping: v.shipping,
                })
                .collect(),
            status: self.status,
            vendor_id: self.vendor_id.clone(),
        }
    }

    fn event_type(event: &ProductEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Product, ProductEvent);

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::CustomerId;
    use serde_json::json;

    const ID: &str = "0b4f8a3e-3c2f-4a57-9d0c-8c5e4d7e0a11";

    /// A back-office principal; `("vendor", v)` is a user of vendor `v`.
    fn staff(role: &str, id: &str) -> Principal {
        if role == "vendor" {
            return Principal::Vendor {
                id: format!("user-of-{id}"),
                vendor: id.into(),
            };
        }
        Principal::Staff {
            id: id.into(),
            role: role.into(),
        }
    }

    fn admin() -> Principal {
        staff("admin", "ada")
    }

    fn acme() -> Principal {
        staff("vendor", "acme")
    }

    fn guest() -> Principal {
        Principal::Guest {
            token_sha256: "0".repeat(64),
        }
    }

    fn customer() -> Principal {
        Principal::Customer {
            id: CustomerId::new_random(),
        }
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).expect("valid sku")
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::EUR)
    }

    fn usd(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::USD)
    }

    fn variant(s: &str, price: Money) -> ProductVariant {
        ProductVariant {
            sku: sku(s),
            title: format!("Variant {s}"),
            price,
            attributes: BTreeMap::new(),
            shipping: ShippingDetails::default(),
        }
    }

    fn input(s: &str, price: Money) -> VariantInput {
        VariantInput {
            sku: sku(s),
            title: format!("Variant {s}"),
            price,
            attributes: BTreeMap::new(),
            shipping: ShippingDetails::default(),
        }
    }

    /// A draft product of vendor `acme` with the given variants.
    fn created_with(variants: Vec<ProductVariant>) -> ProductEvent {
        ProductEvent::ProductCreated {
            vendor_id: "acme".into(),
            title: "Tee".into(),
            description: "Soft.".into(),
            image_urls: vec!["https://img.example/tee.jpg".into()],
            category_id: Some("shirts".into()),
            attributes: BTreeMap::from([("material".into(), "cotton".into())]),
            variants,
        }
    }

    fn created() -> ProductEvent {
        created_with(vec![variant("TEE-M", eur(1999))])
    }

    fn published() -> Vec<ProductEvent> {
        vec![created(), ProductEvent::ProductPublished {}]
    }

    fn archived() -> Vec<ProductEvent> {
        vec![created(), ProductEvent::ProductArchived {}]
    }

    /// A `Create` command as it arrives from the edge, with `overrides` merged into a valid one.
    fn create(overrides: serde_json::Value) -> ProductCommand {
        let mut fields = json!({
            "title": "  Tee  ",
            "description": "Soft.",
            "image_urls": ["https://img.example/tee.jpg"],
            "category_id": "shirts",
            "attributes": {"material": "cotton"},
            "vendor_id": "acme",
            "variants": [
                {"sku": "TEE-M", "title": "Variant TEE-M", "price": {"amount_minor": 1999, "currency": "EUR"}}
            ]
        });
        if let (Some(fields), Some(overrides)) = (fields.as_object_mut(), overrides.as_object()) {
            for (k, v) in overrides {
                fields.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(json!({ "create": fields })).expect("a valid create command")
    }

    fn update(fields: serde_json::Value) -> ProductCommand {
        serde_json::from_value(json!({ "update": fields })).expect("a valid update command")
    }

    fn state(given: &[ProductEvent]) -> Product {
        let mut product = Product::default();
        for e in given {
            product.evolve(e);
        }
        product
    }

    /// Given events, when a command by a principal, then these events or this error.
    fn check(
        given: Vec<ProductEvent>,
        by: Principal,
        when: ProductCommand,
        then: Result<Vec<ProductEvent>, CatalogError>,
    ) {
        assert_eq!(state(&given).decide(ID, &when, &by), then, "{when:?}");
    }

    /// Every command kind, valid on `created()`, for checks that must hold whatever the command.
    fn every_command() -> Vec<ProductCommand> {
        vec![
            create(json!({})),
            update(json!({"title": "New"})),
            ProductCommand::AddVariant {
                variant: input("TEE-L", eur(1999)),
            },
            ProductCommand::ChangePrice {
                sku: sku("TEE-M"),
                price: eur(2499),
            },
            ProductCommand::RemoveVariant { sku: sku("TEE-M") },
            ProductCommand::SetShipping {
                sku: sku("TEE-M"),
                shipping: parcel(),
            },
            ProductCommand::Publish {},
            ProductCommand::Unpublish {},
            ProductCommand::Archive {},
        ]
    }

    fn parcel() -> ShippingDetails {
        ShippingDetails {
            weight_grams: Some(180),
            dimensions_mm: Some(crate::Dimensions {
                length: 300,
                width: 200,
                height: 20,
            }),
        }
    }

    #[test]
    fn a_variant_gets_its_weight_and_size_once_and_the_view_shows_them() {
        check(
            vec![created()],
            admin(),
            ProductCommand::SetShipping {
                sku: sku("TEE-M"),
                shipping: parcel(),
            },
            Ok(vec![ProductEvent::VariantShippingSet {
                sku: sku("TEE-M"),
                shipping: parcel(),
            }]),
        );
        let product = state(&[
            created(),
            ProductEvent::VariantShippingSet {
                sku: sku("TEE-M"),
                shipping: parcel(),
            },
        ]);
        assert_eq!(product.view("p", 2).variants[0].shipping, parcel());
        check(
            vec![
                created(),
                ProductEvent::VariantShippingSet {
                    sku: sku("TEE-M"),
                    shipping: parcel(),
                },
            ],
            admin(),
            ProductCommand::SetShipping {
                sku: sku("TEE-M"),
                shipping: parcel(),
            },
            Ok(vec![]),
        );
    }

    #[test]
    fn a_weight_or_size_out_of_range_or_an_unknown_variant_is_refused() {
        for shipping in [
            ShippingDetails {
                weight_grams: Some(0),
                dimensions_mm: None,
            },
            ShippingDetails {
                weight_grams: Some(MAX_WEIGHT_GRAMS + 1),
                dimensions_mm: None,
            },
            ShippingDetails {
                weight_grams: None,
                dimensions_mm: Some(crate::Dimensions {
                    length: 10,
                    width: 0,
                    height: 10,
                }),
            },
        ] {
            check(
                vec![created()],
                admin(),
                ProductCommand::SetShipping {
                    sku: sku("TEE-M"),
                    shipping,
                },
                Err(CatalogError::InvalidShipping),
            );
        }
        check(
            vec![created()],
            admin(),
            ProductCommand::SetShipping {
                sku: sku("NOPE"),
                shipping: parcel(),
            },
            Err(CatalogError::UnknownVariant),
        );
    }

    #[test]
    fn an_admin_creates_a_draft_product_with_a_trimmed_title() {
        check(vec![], admin(), create(json!({})), Ok(vec![created()]));
        assert_eq!(state(&[created()]).status, ProductStatus::Draft);
    }

    #[test]
    fn staff_and_the_system_may_create_products_for_any_vendor() {
        for by in [staff("staff", "sam"), Principal::system("seed")] {
            check(vec![], by, create(json!({})), Ok(vec![created()]));
        }
    }

    #[test]
    fn a_vendor_creates_products_only_for_itself() {
        check(vec![], acme(), create(json!({})), Ok(vec![created()]));
        check(
            vec![],
            staff("vendor", "globex"),
            create(json!({})),
            Err(CatalogError::Forbidden),
        );
    }

    #[test]
    fn shoppers_and_staff_without_a_catalog_role_may_not_change_anything() {
        for by in [guest(), customer(), staff("support", "sue")] {
            for command in every_command() {
                check(
                    vec![],
                    by.clone(),
                    command.clone(),
                    Err(CatalogError::Forbidden),
                );
                check(
                    published(),
                    by.clone(),
                    command,
                    Err(CatalogError::Forbidden),
                );
            }
        }
    }

    #[test]
    fn a_product_cannot_be_created_twice() {
        check(
            vec![created()],
            admin(),
            create(json!({})),
            Err(CatalogError::AlreadyExists),
        );
        check(
            archived(),
            admin(),
            create(json!({})),
            Err(CatalogError::AlreadyExists),
        );
    }

    #[test]
    fn a_product_id_must_be_a_canonical_uuid() {
        for id in [
            "",
            "tee",
            "0B4F8A3E-3C2F-4A57-9D0C-8C5E4D7E0A11",
            "{0b4f8a3e-3c2f-4a57-9d0c-8c5e4d7e0a11}",
            "0b4f8a3e3c2f4a579d0c8c5e4d7e0a11",
        ] {
            assert_eq!(
                Product::default().decide(id, &create(json!({})), &admin()),
                Err(CatalogError::InvalidProductId),
                "{id}"
            );
        }
    }

    #[test]
    fn a_title_is_1_to_200_characters_after_trimming() {
        for title in [String::new(), "   ".into(), "x".repeat(201)] {
            check(
                vec![],
                admin(),
                create(json!({ "title": title })),
                Err(CatalogError::InvalidTitle),
            );
        }
        // Characters, not bytes: 200 two-byte characters fit.
        let long = "é".repeat(200);
        let Ok(events) = state(&[]).decide(ID, &create(json!({ "title": long })), &admin()) else {
            panic!("a 200-character title is accepted");
        };
        assert!(
            matches!(&events[..], [ProductEvent::ProductCreated { title, .. }] if *title == long)
        );
    }

    #[test]
    fn a_description_is_at_most_10000_characters() {
        check(
            vec![],
            admin(),
            create(json!({ "description": "x".repeat(10_001) })),
            Err(CatalogError::DescriptionTooLong),
        );
        assert!(state(&[])
            .decide(
                ID,
                &create(json!({ "description": "x".repeat(10_000) })),
                &admin()
            )
            .is_ok());
    }

    #[test]
    fn image_urls_are_limited_and_must_be_web_urls() {
        let urls: Vec<String> = (0..21)
            .map(|i| format!("https://img.example/{i}"))
            .collect();
        check(
            vec![],
            admin(),
            create(json!({ "image_urls": urls })),
            Err(CatalogError::TooManyImages),
        );
        let long = format!("https://{}", "x".repeat(2_041));
        for bad in [
            "ftp://img.example/a",
            "https://",
            "img.example/a",
            "https://a b",
            "javascript:alert(1)",
            &long,
        ] {
            check(
                vec![],
                admin(),
                create(json!({ "image_urls": [bad] })),
                Err(CatalogError::InvalidImageUrl),
            );
        }
        let ok = format!("https://{}", "x".repeat(2_040));
        assert!(state(&[])
            .decide(
                ID,
                &create(json!({ "image_urls": [ok, "http://img.example/a"] })),
                &admin()
            )
            .is_ok());
    }

    #[test]
    fn attributes_are_limited_in_number_and_size() {
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        check(
            vec![],
            admin(),
            create(json!({ "attributes": many })),
            Err(CatalogError::TooManyAttributes),
        );
        for (k, v) in [
            (String::new(), "v".to_string()),
            (" ".into(), "v".into()),
            ("k".repeat(65), "v".into()),
            ("k".into(), "v".repeat(257)),
        ] {
            check(
                vec![],
                admin(),
                create(json!({ "attributes": { k: v } })),
                Err(CatalogError::InvalidAttribute),
            );
        }
        let fifty: BTreeMap<String, String> = (0..50)
            .map(|i| (format!("{i:0>64}"), "v".repeat(256)))
            .collect();
        assert!(state(&[])
            .decide(ID, &create(json!({ "attributes": fifty })), &admin())
            .is_ok());
        // Variants obey the same limits.
        check(
            vec![created()],
            admin(),
            ProductCommand::AddVariant {
                variant: VariantInput {
                    attributes: BTreeMap::from([("".into(), "v".into())]),
                    ..input("TEE-L", eur(1999))
                },
            },
            Err(CatalogError::InvalidAttribute),
        );
    }

    #[test]
    fn a_vendor_id_is_a_lower_case_slug() {
        for vendor_id in [
            String::new(),
            "Acme".into(),
            "ac me".into(),
            "acme.".into(),
            "a".repeat(65),
        ] {
            check(
                vec![],
                admin(),
                create(json!({ "vendor_id": vendor_id })),
                Err(CatalogError::InvalidVendorId),
            );
        }
        assert!(state(&[])
            .decide(ID, &create(json!({ "vendor_id": "a_b-9" })), &admin())
            .is_ok());
    }

    #[test]
    fn a_category_reference_must_be_a_category_id() {
        for bad in ["Shirts", "", "a_b"] {
            check(
                vec![],
                admin(),
                create(json!({ "category_id": bad })),
                Err(CatalogError::InvalidCategoryId),
            );
            check(
                vec![created()],
                admin(),
                update(json!({ "category_id": bad })),
                Err(CatalogError::InvalidCategoryId),
            );
        }
    }

    #[test]
    fn a_product_may_start_without_variants_but_not_with_more_than_100() {
        let Ok(events) = state(&[]).decide(ID, &create(json!({ "variants": [] })), &admin()) else {
            panic!("a product without variants is a valid draft");
        };
        assert!(
            matches!(&events[..], [ProductEvent::ProductCreated { variants, .. }] if variants.is_empty())
        );
        let variants: Vec<VariantInput> = (0..101)
            .map(|i| input(&format!("S{i}"), eur(100)))
            .collect();
        check(
            vec![],
            admin(),
            create(json!({ "variants": variants })),
            Err(CatalogError::TooManyVariants),
        );
        let hundred: Vec<ProductVariant> = (0..100)
            .map(|i| variant(&format!("S{i}"), eur(100)))
            .collect();
        check(
            vec![created_with(hundred)],
            admin(),
            ProductCommand::AddVariant {
                variant: input("S100", eur(100)),
            },
            Err(CatalogError::TooManyVariants),
        );
    }

    #[test]
    fn skus_are_unique_within_a_product() {
        check(
            vec![],
            admin(),
            create(json!({ "variants": [input("A", eur(100)), input("A", eur(200))] })),
            Err(CatalogError::DuplicateSku),
        );
        check(
            vec![created()],
            admin(),
            ProductCommand::AddVariant {
                variant: input("TEE-M", eur(100)),
            },
            Err(CatalogError::DuplicateSku),
        );
    }

    #[test]
    fn a_price_is_positive_and_at_most_the_maximum() {
        for amount in [0, -1, MAX_PRICE_MINOR + 1, i64::MIN, i64::MAX] {
            check(
                vec![],
                admin(),
                create(json!({ "variants": [input("A", eur(amount))] })),
                Err(CatalogError::InvalidPrice),
            );
            check(
                vec![created()],
                admin(),
                ProductCommand::AddVariant {
                    variant: input("TEE-L", eur(amount)),
                },
                Err(CatalogError::InvalidPrice),
            );
            check(
                vec![created()],
                admin(),
                ProductCommand::ChangePrice {
                    sku: sku("TEE-M"),
                    price: eur(amount),
                },
                Err(CatalogError::InvalidPrice),
            );
        }
        check(
            vec![created()],
            admin(),
            ProductCommand::ChangePrice {
                sku: sku("TEE-M"),
                price: eur(MAX_PRICE_MINOR),
            },
            Ok(vec![ProductEvent::PriceChanged {
                sku: sku("TEE-M"),
                price: eur(MAX_PRICE_MINOR),
            }]),
        );
    }

    #[test]
    fn all_variants_of_a_product_share_one_currency() {
        check(
            vec![],
            admin(),
            create(json!({ "variants": [input("A", eur(100)), input("B", usd(100))] })),
            Err(CatalogError::CurrencyMismatch),
        );
        check(
            vec![created()],
            admin(),
            ProductCommand::AddVariant {
                variant: input("TEE-L", usd(1999)),
            },
            Err(CatalogError::CurrencyMismatch),
        );
        let two = vec![created_with(vec![
            variant("TEE-M", eur(1999)),
            variant("TEE-L", eur(1999)),
        ])];
        check(
            two,
            admin(),
            ProductCommand::ChangePrice {
                sku: sku("TEE-M"),
                price: usd(1999),
            },
            Err(CatalogError::CurrencyMismatch),
        );
        // The only variant may move the product to another currency.
        check(
            vec![created()],
            admin(),
            ProductCommand::ChangePrice {
                sku: sku("TEE-M"),
                price: usd(2199),
            },
            Ok(vec![ProductEvent::PriceChanged {
                sku: sku("TEE-M"),
                price: usd(2199),
            }]),
        );
        // A product without variants takes the currency of its first one.
        check(
            vec![created_with(vec![])],
            admin(),
            ProductCommand::AddVariant {
                variant: input("TEE-L", usd(1999)),
            },
            Ok(vec![ProductEvent::VariantAdded {
                variant: variant("TEE-L", usd(1999)),
            }]),
        );
    }

    #[test]
    fn a_variant_title_is_1_to_200_characters_after_trimming() {
        for title in ["", "  ", &"x".repeat(201)] {
            check(
                vec![created()],
                admin(),
                ProductCommand::AddVariant {
                    variant: VariantInput {
                        title: title.into(),
                        ..input("TEE-L", eur(100))
                    },
                },
                Err(CatalogError::InvalidVariantTitle),
            );
        }
        check(
            vec![created()],
            admin(),
            ProductCommand::AddVariant {
                variant: VariantInput {
                    title: " Large ".into(),
                    ..input("TEE-L", eur(100))
                },
            },
            Ok(vec![ProductEvent::VariantAdded {
                variant: ProductVariant {
                    title: "Large".into(),
                    ..variant("TEE-L", eur(100))
                },
            }]),
        );
    }

    #[test]
    fn an_update_records_only_the_fields_that_changed() {
        check(
            vec![created()],
            admin(),
            update(
                json!({"title": " Tee ", "description": "Softer.", "attributes": {"material": "cotton"}}),
            ),
            Ok(vec![ProductEvent::ProductUpdated {
                title: None,
                description: Some("Softer.".into()),
                image_urls: None,
                category_id: None,
                attributes: None,
            }]),
        );
        check(
            vec![created()],
            admin(),
            update(json!({"title": "Organic tee", "image_urls": [], "attributes": {}})),
            Ok(vec![ProductEvent::ProductUpdated {
                title: Some("Organic tee".into()),
                description: None,
                image_urls: Some(vec![]),
                category_id: None,
                attributes: Some(BTreeMap::new()),
            }]),
        );
    }

    #[test]
    fn an_update_that_changes_nothing_records_nothing() {
        check(vec![created()], admin(), update(json!({})), Ok(vec![]));
        check(
            vec![created()],
            admin(),
            update(
                json!({"title": "Tee", "category_id": "shirts", "image_urls": ["https://img.example/tee.jpg"]}),
            ),
            Ok(vec![]),
        );
    }

    #[test]
    fn a_product_joins_and_leaves_a_category() {
        let moved = ProductEvent::ProductUpdated {
            title: None,
            description: None,
            image_urls: None,
            category_id: Some(Some("tops".into())),
            attributes: None,
        };
        check(
            vec![created()],
            admin(),
            update(json!({"category_id": "tops"})),
            Ok(vec![moved.clone()]),
        );
        let left = ProductEvent::ProductUpdated {
            title: None,
            description: None,
            image_urls: None,
            category_id: Some(None),
            attributes: None,
        };
        check(
            vec![created()],
            admin(),
            update(json!({"category_id": null})),
            Ok(vec![left.clone()]),
        );
        // Leaving twice changes nothing the second time.
        check(
            vec![created(), left.clone()],
            admin(),
            update(json!({"category_id": null})),
            Ok(vec![]),
        );
        assert_eq!(
            state(&[created(), moved]).category_id.as_deref(),
            Some("tops")
        );
        assert_eq!(state(&[created(), left]).category_id, None);
    }

    #[test]
    fn an_update_is_validated_like_a_creation() {
        let cases = [
            (json!({"title": " "}), CatalogError::InvalidTitle),
            (
                json!({"description": "x".repeat(10_001)}),
                CatalogError::DescriptionTooLong,
            ),
            (
                json!({"image_urls": ["ftp://x"]}),
                CatalogError::InvalidImageUrl,
            ),
            (
                json!({"attributes": {"": "v"}}),
                CatalogError::InvalidAttribute,
            ),
        ];
        for (fields, error) in cases {
            check(vec![created()], admin(), update(fields), Err(error));
        }
    }

    #[test]
    fn changing_a_price_records_it_and_the_same_price_changes_nothing() {
        check(
            vec![created()],
            admin(),
            ProductCommand::ChangePrice {
                sku: sku("TEE-M"),
                price: eur(2499),
            },
            Ok(vec![ProductEvent::PriceChanged {
                sku: sku("TEE-M"),
                price: eur(2499),
            }]),
        );
        check(
            vec![created()],
            admin(),
            ProductCommand::ChangePrice {
                sku: sku("TEE-M"),
                price: eur(1999),
            },
            Ok(vec![]),
        );
        check(
            vec![created()],
            admin(),
            ProductCommand::ChangePrice {
                sku: sku("NOPE"),
                price: eur(1999),
            },
            Err(CatalogError::UnknownVariant),
        );
    }

    #[test]
    fn removing_a_variant_requires_it_to_exist() {
        check(
            vec![created()],
            admin(),
            ProductCommand::RemoveVariant { sku: sku("TEE-M") },
            Ok(vec![ProductEvent::VariantRemoved { sku: sku("TEE-M") }]),
        );
        check(
            vec![created()],
            admin(),
            ProductCommand::RemoveVariant { sku: sku("NOPE") },
            Err(CatalogError::UnknownVariant),
        );
    }

    #[test]
    fn a_published_product_keeps_its_last_variant() {
        check(
            published(),
            admin(),
            ProductCommand::RemoveVariant { sku: sku("TEE-M") },
            Err(CatalogError::LastVariant),
        );
        let two = vec![
            created_with(vec![
                variant("TEE-M", eur(1999)),
                variant("TEE-L", eur(1999)),
            ]),
            ProductEvent::ProductPublished {},
        ];
        check(
            two,
            admin(),
            ProductCommand::RemoveVariant { sku: sku("TEE-M") },
            Ok(vec![ProductEvent::VariantRemoved { sku: sku("TEE-M") }]),
        );
    }

    #[test]
    fn publishing_needs_at_least_one_variant() {
        check(
            vec![created_with(vec![])],
            admin(),
            ProductCommand::Publish {},
            Err(CatalogError::NoVariants),
        );
        check(
            vec![created()],
            admin(),
            ProductCommand::Publish {},
            Ok(vec![ProductEvent::ProductPublished {}]),
        );
    }

    #[test]
    fn publishing_a_published_product_changes_nothing() {
        check(published(), admin(), ProductCommand::Publish {}, Ok(vec![]));
    }

    #[test]
    fn unpublishing_takes_a_product_back_to_draft() {
        check(
            published(),
            admin(),
            ProductCommand::Unpublish {},
            Ok(vec![ProductEvent::ProductUnpublished {}]),
        );
        let mut given = published();
        given.push(ProductEvent::ProductUnpublished {});
        assert_eq!(state(&given).status, ProductStatus::Draft);
        check(
            vec![created()],
            admin(),
            ProductCommand::Unpublish {},
            Ok(vec![]),
        );
    }

    #[test]
    fn drafts_and_published_products_can_be_archived() {
        for given in [vec![created()], published()] {
            check(
                given,
                admin(),
                ProductCommand::Archive {},
                Ok(vec![ProductEvent::ProductArchived {}]),
            );
        }
    }

    #[test]
    fn an_archived_product_accepts_no_command() {
        for command in every_command().into_iter().skip(1) {
            check(
                archived(),
                admin(),
                command.clone(),
                Err(CatalogError::Archived),
            );
            check(archived(), acme(), command, Err(CatalogError::Archived));
        }
    }

    #[test]
    fn commands_on_a_missing_product_are_not_found() {
        for command in every_command().into_iter().skip(1) {
            check(vec![], admin(), command, Err(CatalogError::NotFound));
        }
    }

    #[test]
    fn a_vendor_changes_its_own_products() {
        check(
            vec![created()],
            acme(),
            ProductCommand::Publish {},
            Ok(vec![ProductEvent::ProductPublished {}]),
        );
    }

    #[test]
    fn another_vendors_product_looks_missing() {
        let globex = staff("vendor", "globex");
        for given in [vec![created()], published(), archived()] {
            for command in every_command().into_iter().skip(1) {
                check(
                    given.clone(),
                    globex.clone(),
                    command,
                    Err(CatalogError::NotFound),
                );
            }
            assert_eq!(
                state(&given).authorize_read(&globex).is_ok(),
                given == published()
            );
        }
    }

    #[test]
    fn anyone_may_read_a_published_product() {
        let product = state(&published());
        for by in [
            guest(),
            customer(),
            staff("support", "sue"),
            staff("vendor", "globex"),
            admin(),
        ] {
            assert_eq!(product.authorize_read(&by), Ok(()));
        }
    }

    #[test]
    fn drafts_and_archived_products_are_back_office_only() {
        for given in [vec![created()], archived()] {
            let product = state(&given);
            for by in [
                admin(),
                staff("staff", "sam"),
                Principal::system("job"),
                acme(),
            ] {
                assert_eq!(product.authorize_read(&by), Ok(()));
            }
            for by in [
                guest(),
                customer(),
                staff("support", "sue"),
                staff("vendor", "globex"),
            ] {
                assert_eq!(product.authorize_read(&by), Err(CatalogError::NotFound));
            }
        }
    }

    #[test]
    fn a_product_that_was_never_created_cannot_be_read() {
        for by in [admin(), Principal::system("job"), acme(), guest()] {
            assert_eq!(
                Product::default().authorize_read(&by),
                Err(CatalogError::NotFound)
            );
        }
    }

    #[test]
    fn the_view_lists_variants_in_sku_order() {
        let mut given = vec![created()];
        given.push(ProductEvent::VariantAdded {
            variant: variant("TEE-L", eur(2199)),
        });
        given.push(ProductEvent::PriceChanged {
            sku: sku("TEE-M"),
            price: eur(1799),
        });
        let view = state(&given).view(ID, 3);
        assert_eq!(view.id, ID);
        assert_eq!(view.version, 3);
        assert_eq!(view.status, ProductStatus::Draft);
        assert_eq!(view.vendor_id, "acme");
        assert_eq!(
            view.variants,
            vec![variant("TEE-L", eur(2199)), variant("TEE-M", eur(1799))]
        );
        let json = serde_json::to_value(&view).expect("serializes");
        assert_eq!(json["status"], "draft");
        assert_eq!(
            json["variants"][1]["price"],
            json!({"amount_minor": 1799, "currency": "EUR"})
        );
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let product = state(&published());
        let json = serde_json::to_string(&product).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Product>(&json).expect("parses"),
            product
        );
    }

    #[tokio::test]
    async fn the_cqrs_es_aggregate_delegates_to_decide() {
        use crate::CqrsEnvelope;
        use cqrs_es::test::TestFramework;
        TestFramework::<Product>::with(())
            .given(vec![created()])
            .when_async(CqrsEnvelope {
                id: ID.into(),
                by: acme(),
                command: ProductCommand::Publish {},
            })
            .await
            .then_expect_events(vec![ProductEvent::ProductPublished {}]);
        TestFramework::<Product>::with(())
            .given(archived())
            .when_async(CqrsEnvelope {
                id: ID.into(),
                by: admin(),
                command: ProductCommand::Publish {},
            })
            .await
            .then_expect_error(CatalogError::Archived);
    }
}

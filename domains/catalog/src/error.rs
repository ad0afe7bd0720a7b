use agora_kernel::{DomainError, ErrorKind};

use crate::category::{MAX_CATEGORY_ID_CHARS, MAX_NAME_CHARS};
use crate::product::{
    MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY_CHARS, MAX_ATTRIBUTE_VALUE_CHARS, MAX_DESCRIPTION_CHARS,
    MAX_IMAGES, MAX_IMAGE_URL_CHARS, MAX_PRICE_MINOR, MAX_TITLE_CHARS, MAX_VARIANTS,
    MAX_VENDOR_ID_CHARS,
};

/// Why a product or category command (or read) was refused. Codes are stable API: never rename
/// one. Both aggregates of the catalog share this type, so a code means the same thing on both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The object does not exist, or the principal may not know that it does (a vendor asking
    /// about another vendor's product, a shopper asking about a draft).
    #[error("no such product or category")]
    NotFound,
    #[error("a product or category with this id already exists")]
    AlreadyExists,
    /// Shoppers (guests, customers) and staff without a catalog role never change the catalog.
    #[error("you may not change the catalog")]
    Forbidden,
    #[error("the product is archived and accepts no changes")]
    Archived,
    #[error("a product id is a lower-case hyphenated UUID")]
    InvalidProductId,
    #[error("a category id is 1 to {MAX_CATEGORY_ID_CHARS} characters of a-z, 0-9 or '-'")]
    InvalidCategoryId,
    #[error("a vendor id is 1 to {MAX_VENDOR_ID_CHARS} characters of a-z, 0-9, '_' or '-'")]
    InvalidVendorId,
    #[error("a title is 1 to {MAX_TITLE_CHARS} characters and not only spaces")]
    InvalidTitle,
    #[error("a description is at most {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    #[error("a product has at most {MAX_IMAGES} images")]
    TooManyImages,
    #[error("an image URL starts with https:// or http://, contains no spaces or control characters and is at most {MAX_IMAGE_URL_CHARS} characters")]
    InvalidImageUrl,
    #[error("a product or variant has at most {MAX_ATTRIBUTES} attributes")]
    TooManyAttributes,
    #[error("an attribute key is 1 to {MAX_ATTRIBUTE_KEY_CHARS} characters and not only spaces; a value is at most {MAX_ATTRIBUTE_VALUE_CHARS}")]
    InvalidAttribute,
    #[error("a product has at most {MAX_VARIANTS} variants")]
    TooManyVariants,
    #[error("a variant title is 1 to {MAX_TITLE_CHARS} characters and not only spaces")]
    InvalidVariantTitle,
    #[error("a SKU appears at most once in a product")]
    DuplicateSku,
    /// Another product owns this SKU: a SKU belongs to one product for life (the catalog
    /// service's claim, not the product's own state, decides this).
    #[error("another product owns this SKU")]
    SkuTaken,
    #[error("the product has no variant with this SKU")]
    UnknownVariant,
    #[error("a price is more than 0 and at most {MAX_PRICE_MINOR} minor units")]
    InvalidPrice,
    #[error("a weight is 1 to 1,000,000 grams and each side 1 to 10,000 millimetres")]
    InvalidShipping,
    #[error("all variants of a product are priced in the same currency")]
    CurrencyMismatch,
    #[error("a product needs at least one variant to be published")]
    NoVariants,
    #[error("a published product keeps at least one variant; unpublish it first")]
    LastVariant,
    #[error("a category name is 1 to {MAX_NAME_CHARS} characters and not only spaces")]
    InvalidName,
    #[error("a parent category id is 1 to {MAX_CATEGORY_ID_CHARS} characters of a-z, 0-9 or '-' and is not the category itself")]
    InvalidParent,
}

impl DomainError for CatalogError {
    fn code(&self) -> &'static str {
        match self {
            CatalogError::NotFound => "catalog.not_found",
            CatalogError::AlreadyExists => "catalog.already_exists",
            CatalogError::Forbidden => "catalog.forbidden",
            CatalogError::Archived => "catalog.archived",
            CatalogError::InvalidProductId => "catalog.invalid_product_id",
            CatalogError::InvalidCategoryId => "catalog.invalid_category_id",
            CatalogError::InvalidVendorId => "catalog.invalid_vendor_id",
            CatalogError::InvalidTitle => "catalog.invalid_title",
            CatalogError::DescriptionTooLong => "catalog.description_too_long",
            CatalogError::TooManyImages => "catalog.too_many_images",
            CatalogError::InvalidImageUrl => "catalog.invalid_image_url",
            CatalogError::TooManyAttributes => "catalog.too_many_attributes",
            CatalogError::InvalidAttribute => "catalog.invalid_attribute",
            CatalogError::TooManyVariants => "catalog.too_many_variants",
            CatalogError::InvalidVariantTitle => "catalog.invalid_variant_title",
            CatalogError::DuplicateSku => "catalog.duplicate_sku",
            CatalogError::SkuTaken => "catalog.sku_taken",
            CatalogError::UnknownVariant => "catalog.unknown_variant",
            CatalogError::InvalidPrice => "catalog.invalid_price",
            CatalogError::InvalidShipping => "catalog.invalid_shipping",
            CatalogError::CurrencyMismatch => "catalog.currency_mismatch",
            CatalogError::NoVariants => "catalog.no_variants",
            CatalogError::LastVariant => "catalog.last_variant",
            CatalogError::InvalidName => "catalog.invalid_name",
            CatalogError::InvalidParent => "catalog.invalid_parent",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            CatalogError::NotFound => ErrorKind::NotFound,
            CatalogError::Forbidden => ErrorKind::Forbidden,
            CatalogError::AlreadyExists
            | CatalogError::Archived
            | CatalogError::NoVariants
            | CatalogError::LastVariant
            | CatalogError::SkuTaken => ErrorKind::Conflict,
            CatalogError::InvalidProductId
            | CatalogError::InvalidCategoryId
            | CatalogError::InvalidVendorId
            | CatalogError::InvalidTitle
            | CatalogError::DescriptionTooLong
            | CatalogError::TooManyImages
            | CatalogError::InvalidImageUrl
            | CatalogError::TooManyAttributes
            | CatalogError::InvalidAttribute
            | CatalogError::TooManyVariants
            | CatalogError::InvalidVariantTitle
            | CatalogError::DuplicateSku
            | CatalogError::UnknownVariant
            | CatalogError::InvalidPrice
            | CatalogError::InvalidShipping
            | CatalogError::CurrencyMismatch
            | CatalogError::InvalidName
            | CatalogError::InvalidParent => ErrorKind::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_namespaced_and_unique() {
        let all = [
            CatalogError::NotFound,
            CatalogError::AlreadyExists,
            CatalogError::Forbidden,
            CatalogError::Archived,
            CatalogError::InvalidProductId,
            CatalogError::InvalidCategoryId,
            CatalogError::InvalidVendorId,
            CatalogError::InvalidTitle,
            CatalogError::DescriptionTooLong,
            CatalogError::TooManyImages,
            CatalogError::InvalidImageUrl,
            CatalogError::TooManyAttributes,
            CatalogError::InvalidAttribute,
            CatalogError::TooManyVariants,
            CatalogError::InvalidVariantTitle,
            CatalogError::DuplicateSku,
            CatalogError::SkuTaken,
            CatalogError::UnknownVariant,
            CatalogError::InvalidPrice,
            CatalogError::InvalidShipping,
            CatalogError::CurrencyMismatch,
            CatalogError::NoVariants,
            CatalogError::LastVariant,
            CatalogError::InvalidName,
            CatalogError::InvalidParent,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| c.starts_with("catalog.")));
    }
}

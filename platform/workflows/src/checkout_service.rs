//! `agora.checkout.start`: from a shopper's cart to a placed order and a running saga.

use std::collections::{BTreeMap, BTreeSet};

use agora_cart::Cart;
use agora_cart::{CartCommand, CartView};
use agora_catalog::{Product, ProductStatus, ProductView};
use agora_checkout::{
    CartPricing, Checkout, CheckoutCommand, CheckoutPlan, CheckoutRequest, CheckoutView,
    CodeRejection, PricedCartLine, QuoteCart, StartCheckout, VendorShippingQuote,
};
use agora_kernel::{
    Command as _, CustomerId, Decider, DomainError, ErrorBody, ErrorKind, Money, Principal, Sku,
};
use agora_nats::{
    check_id, codec, decode_command, Bus, CommandEnvelope, CommandReply, Handler, RequestContext,
};
use agora_order::{
    Address, Order, OrderCommand, OrderDiscount, OrderLine, OrderOwner, OrderPromotion,
    OrderShippingOption, OrderTax, OrderView, VendorShipping,
};
use agora_promotion::{
    AppliedRate, CartLine, CategoryId, CountryCode, CustomerFacts, CustomerGroup, EnteredCode,
    OrderId as PromotionOrderId, PricedCart, PricingInput, ProductId, PromotionCode,
    PromotionCommand, PromotionError, RegionCode, TaxAddress, TaxRounding, TaxTable,
};
use agora_runtime::AggregateHost;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::str::FromStr;

use crate::promotion_book::PromotionBook;
use crate::shipping_book::ShippingBook;
use crate::step_id;
use agora_shipping::{Destination, Parcel, ShippingError, ShippingQuote, Zone, DEFAULT_PROFILE};
use std::sync::Arc;

/// The shop's shipping and tax rules, from configuration.
#[derive(Clone, Debug)]
pub struct Pricing {
    /// Shipping charged per order, in minor units of the order's currency.
    pub shipping_flat_minor: i64,
    /// Orders whose subtotal reaches this ship free.
    pub free_shipping_from_minor: Option<i64>,
    /// The flat rate (`AGORA_TAX_RATE_BP`, 1900 = 19 %): the cart page's estimate before an
    /// address is known, and the whole of `tax` when no rules are configured.
    pub tax_rate_bp: u32,
    /// The tax rules per country and region that the checkout taxes by the shipping address.
    pub tax: TaxTable,
    /// How the checkout rounds the tax: per order (the flat rate's rule since the start) or
    /// per line.
    pub tax_rounding: TaxRounding,
}

impl Pricing {
    /// The rule that taxes an order shipping to `address`: its country and region's, else its
    /// country's, else the fallback; `tax.no_rate` (422) when the shop has none for it. The
    /// region is the address's `region` as an ISO 3166-2 subdivision (`CA` or `US-CA`); a
    /// region in another form (`California`) is no region as far as tax goes.
    pub fn tax_rule(&self, address: &Address) -> Result<OrderTax, ErrorBody> {
        self.tax_rule_for(&address.country, address.region.as_deref())
    }

    /// [`Self::tax_rule`] for a destination known only by its country and region.
    pub fn tax_rule_for(&self, country: &str, region: Option<&str>) -> Result<OrderTax, ErrorBody> {
        let country = CountryCode::parse(country)
            .map_err(|_| agora_order::OrderError::InvalidAddress.to_body())?;
        let region = region
            .and_then(|region| agora_kernel::subdivision(country.as_str(), region))
            .and_then(|own| RegionCode::parse(&own).ok());
        let rule = self
            .tax
            .rule_for(&TaxAddress { country, region })
            .map_err(|e| e.to_body())?;
        Ok(OrderTax {
            rate: AppliedRate::from(rule),
            rounding: self.tax_rounding,
        })
    }

    /// The rule that estimates the tax before the destination is known: the shop's fallback
    /// rule (`*`), else the flat rate on prices without tax.
    pub fn estimated_tax_rule(&self) -> OrderTax {
        let rate = match self.tax.rules().iter().find(|r| r.country.is_none()) {
            Some(rule) => AppliedRate::from(rule),
            None => AppliedRate {
                country: None,
                region: None,
                rate_bp: self.tax_rate_bp,
                shipping_rate_bp: self.tax_rate_bp,
                prices_include_tax: false,
            },
        };
        OrderTax {
            rate,
            rounding: self.tax_rounding,
        }
    }
}

/// What the catalog says of a cart's lines: their prices and titles, each product's
/// category, and the parcel's weight (variants without a weight count nothing).
struct CatalogLines {
    lines: Vec<OrderLine>,
    categories: BTreeMap<String, Option<String>>,
    /// Each line's weight (unit weight × quantity), in line order.
    weights: Vec<i64>,
    /// Each line's product title and variant title, in line order.
    titles: Vec<(String, String)>,
}

/// How a cart ships: see [`CheckoutService::shipping`]. `fee` is the whole charge; `option`,
/// `options` are the shop's rates' for the lines no vendor ships at its own rates.
struct Shipping {
    fee: Money,
    option: Option<ShippingQuote>,
    options: Vec<ShippingQuote>,
    pending: bool,
    vendors: Vec<VendorShippingQuote>,
}

impl Shipping {
    /// What the order records of the vendors' own shipping.
    fn vendor_charges(&self) -> Vec<VendorShipping> {
        self.vendors
            .iter()
            .filter_map(|v| {
                Some(VendorShipping {
                    vendor_id: v.vendor_id.clone(),
                    fee: v.fee,
                    option: order_option(v.option.as_ref()?),
                })
            })
            .collect()
    }
}

/// The shop's profile and those of the vendors whose lines are in `priced`, by profile id.
type Profiles = BTreeMap<String, Arc<Vec<Zone>>>;

/// The profiles a cart may ship with: the shop's own, and each of its lines' sellers'.
fn vendors_of(priced: &CatalogLines) -> Vec<&str> {
    let mut ids: Vec<&str> = vec![DEFAULT_PROFILE];
    for line in &priced.lines {
        if let Some(v) = line.vendor_id.as_deref() {
            if !ids.contains(&v) {
                ids.push(v);
            }
        }
    }
    ids
}

/// The order's record of the option chosen.
fn order_option(quote: &ShippingQuote) -> OrderShippingOption {
    OrderShippingOption {
        zone_id: quote.zone_id.clone(),
        option_id: quote.option_id.clone(),
        name: quote.name.clone(),
        kind: quote.kind.as_str().to_string(),
        min_days: quote.min_days,
        max_days: quote.max_days,
    }
}

/// What [`CheckoutService::offers`] gathers for the pricing engine.
struct Offers {
    customer: Option<CustomerId>,
    groups: BTreeSet<CustomerGroup>,
    first_order: bool,
    automatic: Vec<agora_promotion::Offer>,
    entered: Option<EnteredCode>,
}

impl Offers {
    /// The first moment after `now` at which one of these promotions starts or ends: until
    /// then, the same cart prices the same unless something it reads changes.
    fn next_boundary(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.automatic
            .iter()
            .chain(self.entered.iter().filter_map(|e| e.offer.as_ref().ok()))
            .flat_map(|o| [o.terms.window.starts_at, o.terms.window.ends_at])
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// Serves `agora.checkout.start` and `agora.checkout.get`.
pub struct CheckoutService {
    pub host: AggregateHost<Checkout>,
    pub bus: Bus,
    pub pool: PgPool,
    pub pricing: Pricing,
    /// The promotions it prices with, folded in memory and caught up on every use.
    pub promotions: PromotionBook,
    /// The shipping zones it quotes with, folded in memory and caught up on every use.
    pub shipping: ShippingBook,
    /// Fault injection for tests: `reserve_promotions` aborts the process right after the
    /// promotions' uses are held, before the checkout's commit point.
    pub crash_after: Option<String>,
}

pub(crate) fn system() -> Principal {
    Principal::system("checkout")
}

fn unavailable_item(sku: &Sku) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::Conflict,
        "checkout.item_unavailable",
        format!("{sku} is not for sale any more; remove it from the cart"),
    )
}

impl CheckoutService {
    /// The catalog's current price and title of every line: the SKU claims map SKUs to their
    /// one owning product, each product's own service answers with its authoritative state.
    /// Also returns each product's category, which promotions may be about.
    async fn price(
        &self,
        cart: &CartView,
        ctx: &RequestContext,
    ) -> Result<CatalogLines, ErrorBody> {
        let skus: Vec<String> = cart.lines.iter().map(|l| l.sku.to_string()).collect();
        // The SKU's owner is its claim (one product per SKU for life), not whichever product's
        // read-model row happens to list the code.
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT sku, product_id FROM sku_claims WHERE sku = ANY($1)")
                .bind(&skus)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| ErrorBody::unavailable(format!("price lookup failed: {e}")))?;
        let owners: BTreeMap<String, String> = rows.into_iter().collect();
        let product_ids: BTreeSet<String> = owners.values().cloned().collect();
        let lookups = product_ids
            .iter()
            .map(|id| self.bus.read::<Product>(id, system(), ctx));
        let mut by_sku: BTreeMap<String, (ProductView, usize)> = BTreeMap::new();
        for product in futures::future::join_all(lookups).await {
            let product = match product {
                Ok(p) => p,
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if product.status != ProductStatus::Published {
                continue;
            }
            for (i, variant) in product.variants.iter().enumerate() {
                if owners.get(variant.sku.as_str()) == Some(&product.id) {
                    by_sku.insert(variant.sku.to_string(), (product.clone(), i));
                }
            }
        }
        // A suspended or closed marketplace vendor's products are off sale (its open orders go
        // on): the vendors read model says which of these products' vendors do not sell now.
        let vendor_ids: BTreeSet<&str> =
            by_sku.values().map(|(p, _)| p.vendor_id.as_str()).collect();
        let vendor_ids: Vec<&str> = vendor_ids.into_iter().collect();
        let off_sale: Vec<String> = sqlx::query_scalar(
            "SELECT vendor_id FROM vendors WHERE vendor_id = ANY($1) AND status <> 'active'",
        )
        .bind(&vendor_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| ErrorBody::unavailable(format!("vendor lookup failed: {e}")))?;
        if !off_sale.is_empty() {
            by_sku.retain(|_, (p, _)| !off_sale.contains(&p.vendor_id));
        }
        let categories = by_sku
            .values()
            .map(|(p, _)| (p.id.clone(), p.category_id.clone()))
            .collect();
        let mut weights: Vec<i64> = Vec::with_capacity(cart.lines.len());
        let mut titles: Vec<(String, String)> = Vec::with_capacity(cart.lines.len());
        let lines = cart
            .lines
            .iter()
            .map(|line| {
                let (product, i) = by_sku
                    .get(line.sku.as_str())
                    .ok_or_else(|| unavailable_item(&line.sku))?;
                let variant = &product.variants[*i];
                weights.push(
                    i64::from(variant.shipping.weight_grams.unwrap_or(0))
                        .saturating_mul(line.quantity),
                );
                let title = if variant.title.trim().is_empty() {
                    product.title.clone()
                } else {
                    format!("{} — {}", product.title, variant.title)
                };
                titles.push((product.title.clone(), variant.title.clone()));
                Ok(OrderLine {
                    sku: line.sku.clone(),
                    product_id: product.id.clone(),
                    title: title.chars().take(500).collect(),
                    unit_price: variant.price,
                    quantity: line.quantity,
                    // The seller and the category as they are at the sale: the vendor's
                    // sub-order and the commission rule its line falls under.
                    vendor_id: Some(product.vendor_id.clone()),
                    category_id: product.category_id.clone(),
                })
            })
            .collect::<Result<Vec<_>, ErrorBody>>()?;
        Ok(CatalogLines {
            lines,
            categories,
            weights,
            titles,
        })
    }

    /// The promotions on offer to `customer` (and the checkout `order`, if any): the active
    /// automatic ones and the promotion of the entered `code`, each as its committed events
    /// leave it (see [`PromotionBook`]), and whether this is the customer's first order. None
    /// of it depends on the cart's lines, so it is gathered while the catalog prices them.
    async fn offers(
        &self,
        order: Option<&str>,
        customer: Option<CustomerId>,
        code: Option<&PromotionCode>,
        ctx: &RequestContext,
    ) -> Result<Offers, ErrorBody> {
        let order = order.and_then(|o| PromotionOrderId::from_str(o).ok());
        let first_order = async {
            match customer {
                Some(id) => sqlx::query_scalar::<_, bool>(
                    "SELECT NOT EXISTS (SELECT 1 FROM orders WHERE customer_id = $1 AND status <> 'cancelled')",
                )
                .bind(id.as_uuid())
                .fetch_one(&self.pool)
                .await
                .map_err(|e| ErrorBody::unavailable(format!("promotions: {e}"))),
                None => Ok(false),
            }
        };
        let entered = async {
            match code {
                None => Ok(None),
                Some(code) => Ok::<_, ErrorBody>(Some(EnteredCode {
                    code: code.clone(),
                    offer: self.promotions.for_code(code, customer, order).await?,
                })),
            }
        };
        // The customer groups the account is in (a guest is in none).
        let groups = async {
            let Some(id) = customer else {
                return Ok(BTreeSet::new());
            };
            let account: agora_identity::AccountView = self
                .bus
                .read::<agora_identity::Account>(&id.to_string(), system(), ctx)
                .await?;
            Ok::<_, ErrorBody>(
                account
                    .groups
                    .iter()
                    .filter_map(|g| CustomerGroup::parse(g).ok())
                    .collect(),
            )
        };
        let (first_order, automatic, entered, groups) = tokio::try_join!(
            first_order,
            self.promotions.automatic(customer, order),
            entered,
            groups
        )?;
        Ok(Offers {
            customer,
            groups,
            first_order,
            automatic,
            entered,
        })
    }

    /// Prices `lines` with `offers`: the pure engine, given what the catalog and the
    /// promotions said.
    fn promote(
        lines: &[OrderLine],
        categories: &BTreeMap<String, Option<String>>,
        offers: Offers,
        shipping: Money,
        now: DateTime<Utc>,
    ) -> Result<PricedCart, ErrorBody> {
        let cart_lines = lines
            .iter()
            .map(|line| {
                Ok(CartLine {
                    sku: line.sku.clone(),
                    product_id: ProductId::from_str(&line.product_id)
                        .map_err(|_| unavailable_item(&line.sku))?,
                    categories: categories
                        .get(&line.product_id)
                        .cloned()
                        .flatten()
                        .and_then(|c| CategoryId::parse(&c).ok())
                        .into_iter()
                        .collect(),
                    quantity: line.quantity,
                    unit_price: line.unit_price,
                })
            })
            .collect::<Result<Vec<_>, ErrorBody>>()?;
        agora_promotion::price(&PricingInput {
            currency: shipping.currency,
            lines: cart_lines,
            customer: CustomerFacts {
                customer: offers.customer,
                groups: offers.groups,
                first_order: offers.first_order,
            },
            shipping,
            now,
            automatic: offers.automatic,
            code: offers.entered,
        })
        .map_err(|e| e.to_body())
    }

    /// The discount a priced cart records on its order, if any promotion applied.
    fn order_discount(priced: &PricedCart) -> Option<OrderDiscount> {
        (!priced.applied.is_empty()).then(|| OrderDiscount {
            line_discounts: priced.lines.iter().map(|l| l.discount).collect(),
            shipping_discount: priced.shipping_discount,
            promotions: priced
                .applied
                .iter()
                .map(|a| OrderPromotion {
                    promotion_id: a.promotion_id.to_string(),
                    name: a.name.clone(),
                    code: a.code.as_ref().map(|c| c.as_str().to_string()),
                    discount: a.discount,
                    shipping_discount: a.shipping_discount,
                })
                .collect(),
        })
    }

    /// Sends `command` to every promotion of `discount` for the checkout `order_id` (step
    /// `promotion:<command>:<promotion id>`, so a retried checkout redeems once).
    async fn redeem(
        &self,
        order_id: &str,
        discount: &OrderDiscount,
        command: impl Fn(&OrderPromotion) -> PromotionCommand,
        ctx: &RequestContext,
    ) -> Result<(), ErrorBody> {
        for promotion in &discount.promotions {
            let command = command(promotion);
            let step = format!("promotion:{}:{}", command.name(), promotion.promotion_id);
            self.bus
                .send(
                    &promotion.promotion_id,
                    step_id(order_id, &step),
                    system(),
                    &command,
                    ctx,
                )
                .await?;
        }
        Ok(())
    }

    /// Gives back what [`Self::redeem`] reserved for a checkout that did not start.
    async fn release(
        &self,
        order_id: &str,
        discount: Option<&OrderDiscount>,
        ctx: &RequestContext,
    ) {
        let (Some(discount), Ok(order)) = (discount, PromotionOrderId::from_str(order_id)) else {
            return;
        };
        let released = self
            .redeem(
                order_id,
                discount,
                |_| PromotionCommand::Release {
                    order_id: order,
                    now: Utc::now(),
                },
                ctx,
            )
            .await;
        if let Err(e) = released {
            tracing::error!(order = order_id, error = %e, "could not release the promotions of a checkout that did not start");
        }
    }

    /// The cart priced from the catalog, with the shipping profiles of the shop and of the
    /// cart's vendors as their committed events leave them.
    async fn price_and_profiles(
        &self,
        cart: &CartView,
        ctx: &RequestContext,
    ) -> Result<(CatalogLines, Profiles), ErrorBody> {
        let catalog = self.price(cart, ctx).await?;
        let profiles = self.shipping.profiles(&vendors_of(&catalog)).await?;
        Ok((catalog, profiles))
    }

    /// What shipping costs and how the cart ships. The lines of a marketplace vendor with
    /// shipping zones of its own ship at its rates, one charge per such vendor (its option
    /// from `vendor_options`, else its cheapest; `shipping.no_zone` when it does not ship to
    /// `to`), which the vendor is credited with. Every other line (the shop's, and those of
    /// vendors without rates) ships at the shop's rates, as one parcel: see
    /// [`Self::shop_shipping`]. Naming an option for a vendor that ships none of the lines at
    /// its own rates is `shipping.option_unavailable`.
    fn shipping(
        &self,
        profiles: &Profiles,
        priced: &CatalogLines,
        to: Option<&Destination>,
        option: Option<&str>,
        vendor_options: &BTreeMap<String, String>,
    ) -> Result<Shipping, ErrorBody> {
        let lines = &priced.lines;
        let currency = lines
            .first()
            .map(|l| l.unit_price.currency)
            .ok_or_else(|| ErrorBody::new(ErrorKind::Invalid, "cart.empty", "the cart is empty"))?;
        let mut shop: Vec<usize> = vec![];
        let mut vendors: Vec<(&str, Vec<usize>)> = vec![];
        for (i, line) in lines.iter().enumerate() {
            let own_rates = line.vendor_id.as_deref().filter(|v| {
                *v != DEFAULT_PROFILE && profiles.get(*v).is_some_and(|z| !z.is_empty())
            });
            match own_rates {
                Some(v) => match vendors.iter_mut().find(|(id, _)| *id == v) {
                    Some((_, of)) => of.push(i),
                    None => vendors.push((v, vec![i])),
                },
                None => shop.push(i),
            }
        }
        if let Some(other) = vendor_options
            .keys()
            .find(|k| !vendors.iter().any(|(v, _)| v == k))
        {
            let mut body = ShippingError::OptionUnavailable.to_body();
            body.message = format!("{other} ships none of the cart's lines at its own rates");
            return Err(body);
        }
        let parcel = |of: &[usize]| {
            let subtotal: i128 = of
                .iter()
                .map(|&i| lines[i].unit_price.amount_minor as i128 * lines[i].quantity as i128)
                .sum();
            Parcel {
                weight_grams: of
                    .iter()
                    .map(|&i| priced.weights.get(i).copied().unwrap_or(0))
                    .fold(0i64, i64::saturating_add),
                subtotal: Money::new(subtotal.min(i64::MAX as i128) as i64, currency),
            }
        };
        let mut shipping = if shop.is_empty() {
            if option.is_some() {
                return Err(ShippingError::OptionUnavailable.to_body());
            }
            Shipping {
                fee: Money::zero(currency),
                option: None,
                options: vec![],
                pending: false,
                vendors: vec![],
            }
        } else {
            let zones = profiles.get(DEFAULT_PROFILE).cloned().unwrap_or_default();
            self.shop_shipping(&zones, parcel(&shop), to, option)?
        };
        for (vendor, of) in vendors {
            let skus = of.iter().map(|&i| lines[i].sku.to_string()).collect();
            let quote = match to {
                None => VendorShippingQuote {
                    vendor_id: vendor.to_string(),
                    skus,
                    options: vec![],
                    option: None,
                    fee: Money::zero(currency),
                    pending: true,
                },
                Some(to) => {
                    let zones = profiles.get(vendor).cloned().unwrap_or_default();
                    let options = agora_shipping::quote(&zones, to, parcel(&of)).map_err(|e| {
                        let mut body = e.to_body();
                        if matches!(e, ShippingError::NoZone(_)) {
                            body.message =
                                format!("vendor {vendor} does not ship to {}", to.label());
                        }
                        body
                    })?;
                    let chosen = vendor_options.get(vendor).map(String::as_str);
                    let chosen = agora_shipping::choose(&options, chosen).map_err(|e| {
                        let mut body = e.to_body();
                        body.message = format!("vendor {vendor} offers no such shipping option");
                        body
                    })?;
                    VendorShippingQuote {
                        vendor_id: vendor.to_string(),
                        skus,
                        fee: chosen.price,
                        option: Some(chosen),
                        options,
                        pending: false,
                    }
                }
            };
            shipping.fee = Money::new(
                shipping
                    .fee
                    .amount_minor
                    .saturating_add(quote.fee.amount_minor),
                currency,
            );
            shipping.pending |= quote.pending;
            shipping.vendors.push(quote);
        }
        Ok(shipping)
    }

    /// What the lines shipping at the shop's rates (`parcel`) cost: without shipping zones, the
    /// shop's one configured rate (free from its threshold) and no option may be named; with
    /// zones, the options of the most specific zone covering `to` (`shipping.no_zone` when
    /// none does), the named one or else the cheapest (`shipping.option_unavailable` when the
    /// named one is not offered). With zones but no destination yet (a cart page), shipping
    /// is pending.
    fn shop_shipping(
        &self,
        zones: &[Zone],
        parcel: Parcel,
        to: Option<&Destination>,
        option: Option<&str>,
    ) -> Result<Shipping, ErrorBody> {
        let currency = parcel.subtotal.currency;
        if zones.is_empty() {
            if option.is_some() {
                return Err(ShippingError::OptionUnavailable.to_body());
            }
            let free = self
                .pricing
                .free_shipping_from_minor
                .is_some_and(|from| parcel.subtotal.amount_minor >= from);
            let fee = if free {
                0
            } else {
                self.pricing.shipping_flat_minor
            };
            return Ok(Shipping {
                fee: Money::new(fee, currency),
                option: None,
                options: vec![],
                pending: false,
                vendors: vec![],
            });
        }
        let Some(to) = to else {
            return Ok(Shipping {
                fee: Money::zero(currency),
                option: None,
                options: vec![],
                pending: true,
                vendors: vec![],
            });
        };
        let options = agora_shipping::quote(zones, to, parcel).map_err(|e| e.to_body())?;
        let chosen = agora_shipping::choose(&options, option).map_err(|e| e.to_body())?;
        Ok(Shipping {
            fee: chosen.price,
            option: Some(chosen),
            options,
            pending: false,
            vendors: vec![],
        })
    }

    /// Places the order of a started checkout (idempotent); the reply is the order as the
    /// shopper sees it. The saga's runner places it too (the same command id) and records it
    /// with the steps after it, in one commit.
    pub(crate) async fn place_order(
        bus: &Bus,
        order_id: &str,
        plan: &CheckoutPlan,
        ctx: &RequestContext,
    ) -> Result<CommandReply<OrderView>, ErrorBody> {
        let place = OrderCommand::Place {
            owner: plan.owner.clone(),
            cart_id: plan.cart_id.clone(),
            lines: plan.lines.clone(),
            shipping_address: plan.shipping_address.clone(),
            email: plan.email.clone(),
            shipping: plan.shipping,
            tax_rate_bp: plan.tax_rate_bp,
            tax_rule: plan.tax_rule.clone(),
            discount: plan.discount.clone(),
            shipping_option: plan.shipping_option.clone(),
            vendor_shipping: plan.vendor_shipping.clone(),
            now: Utc::now(),
        };
        bus.send(
            order_id,
            step_id(order_id, "place-order"),
            system(),
            &place,
            ctx,
        )
        .await
    }

    async fn start(
        &self,
        envelope: CommandEnvelope<StartCheckout>,
        ctx: &RequestContext,
    ) -> Result<CommandReply<OrderView>, ErrorBody> {
        let order_id = envelope.aggregate_id.clone();
        let shopper = envelope.principal.clone();
        let req = envelope.command;
        let owner = match &shopper {
            Principal::Guest { token_sha256 } => OrderOwner::Guest {
                token_sha256: token_sha256.clone(),
            },
            Principal::Customer { id } => OrderOwner::Customer { customer_id: *id },
            Principal::Staff { .. } | Principal::Vendor { .. } | Principal::System { .. } => {
                return Err(ErrorBody::new(
                    ErrorKind::Forbidden,
                    "checkout.forbidden",
                    "only shoppers check out their own carts",
                ))
            }
        };
        // A retry of a checkout that already started: the same request gets the same order;
        // the same key with another request is refused.
        match self.host.read(&order_id, system(), ctx).await {
            Ok(existing) => return self.replay(&order_id, &shopper, &req, existing, ctx).await,
            Err(e) if e.code == "checkout.not_found" => {}
            Err(e) => return Err(e),
        }
        let cart: CartView = self
            .bus
            .read::<Cart>(&req.cart_id, shopper.clone(), ctx)
            .await?;
        if cart.lines.is_empty() {
            return Err(agora_cart::CartError::Empty.to_body());
        }
        // The code of the request, else the one kept on the cart.
        let code = match req.code.as_deref() {
            Some(raw) => {
                Some(PromotionCode::parse(raw).map_err(|_| PromotionError::UnknownCode.to_body())?)
            }
            None => cart.code.clone(),
        };
        let customer = match &owner {
            OrderOwner::Customer { customer_id } => Some(*customer_id),
            OrderOwner::Guest { .. } => None,
        };
        let ((catalog, profiles), offers) = tokio::try_join!(
            self.price_and_profiles(&cart, ctx),
            self.offers(Some(&order_id), customer, code.as_ref(), ctx),
        )?;
        let address = &req.shipping_address;
        let to = Destination::new(
            &address.country,
            address.region.as_deref(),
            Some(&address.postal_code),
        )
        .map_err(|_| agora_order::OrderError::InvalidAddress.to_body())?;
        let shipped = self.shipping(
            &profiles,
            &catalog,
            Some(&to),
            req.shipping_option.as_deref(),
            &req.vendor_shipping_options,
        )?;
        let shipping = shipped.fee;
        let shipping_option = shipped.option.as_ref().map(order_option);
        let vendor_shipping = shipped.vendor_charges();
        let CatalogLines {
            lines, categories, ..
        } = catalog;
        let now = Utc::now();
        let priced = Self::promote(&lines, &categories, offers, shipping, now)?;
        // A code the shopper entered must apply, or the checkout says why (`promotion.*`).
        if let Some(rejected) = &priced.code_rejection {
            return Err(rejected.reason.to_body());
        }
        let discount = Self::order_discount(&priced);
        // Taxed by the shop's rule for the shipping address, recorded with the order so that a
        // later change of the rules never changes it.
        let tax_rule = self.pricing.tax_rule(&req.shipping_address)?;
        // The order this checkout will place must be valid before anything is written: the
        // same pure decision the order service makes.
        let place = OrderCommand::Place {
            owner: owner.clone(),
            cart_id: req.cart_id.clone(),
            lines: lines.clone(),
            shipping_address: req.shipping_address.clone(),
            email: req.email.clone(),
            shipping,
            tax_rate_bp: tax_rule.rate.rate_bp,
            tax_rule: Some(tax_rule.clone()),
            discount: discount.clone(),
            shipping_option: shipping_option.clone(),
            vendor_shipping: vendor_shipping.clone(),
            now,
        };
        Order::default()
            .decide(&order_id, &place, &system())
            .map_err(|e| e.to_body())?;
        let (totals, _) = agora_order::order_totals(&lines, shipping, &tax_rule, discount.as_ref())
            .map_err(|e| e.to_body())?;
        let payment_method = req.payment_method.trim().to_string();
        if payment_method.is_empty()
            || payment_method.len() > 128
            || !payment_method.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(ErrorBody::new(
                ErrorKind::Invalid,
                "checkout.invalid_payment_method",
                "payment_method must be a provider token such as pm_card_visa",
            ));
        }
        let plan = CheckoutPlan {
            cart_id: req.cart_id.clone(),
            owner,
            lines,
            shipping_address: req.shipping_address.clone(),
            email: req.email.clone(),
            shipping,
            tax_rate_bp: tax_rule.rate.rate_bp,
            tax_rule: Some(tax_rule),
            amount: totals.total,
            payment_method,
            request_hash: req.request_hash.clone(),
            discount: discount.clone(),
            commit_on_confirm: true,
            shipping_option,
            vendor_shipping,
        };
        // Hold each applied promotion's use and amount for this order before anything else
        // is locked or recorded, so a promotion used up meanwhile refuses this checkout
        // (`409 promotion.used_up`, `promotion.budget_exhausted`...) instead of a placed order
        // carrying a discount nobody holds. The order id makes each reservation idempotent.
        if let Some(discount) = &discount {
            let order = PromotionOrderId::from_str(&order_id).map_err(|_| {
                ErrorBody::new(
                    ErrorKind::Invalid,
                    "request.invalid_id",
                    "malformed order id",
                )
            })?;
            let customer = match &plan.owner {
                OrderOwner::Customer { customer_id } => Some(*customer_id),
                OrderOwner::Guest { .. } => None,
            };
            let reserved = self
                .redeem(
                    &order_id,
                    discount,
                    |p| PromotionCommand::Reserve {
                        order_id: order,
                        customer,
                        code: p.code.as_deref().and_then(|c| PromotionCode::parse(c).ok()),
                        amount: Money::new(
                            p.discount.amount_minor + p.shipping_discount.amount_minor,
                            p.discount.currency,
                        ),
                        now,
                    },
                    ctx,
                )
                .await;
            if let Err(e) = reserved {
                self.release(&order_id, Some(discount), ctx).await;
                return Err(e);
            }
            if self.crash_after.as_deref() == Some("reserve_promotions") {
                tracing::error!(
                    order = order_id,
                    "fault injection: aborting after holding promotions, before the commit point"
                );
                std::process::abort();
            }
        }
        match self
            .lock_and_start(&order_id, &shopper, &req, &plan, now, ctx)
            .await
        {
            Ok(started) => {
                metrics::counter!("agora_checkouts_started_total").increment(1);
                let placed = Self::place_order(&self.bus, &order_id, &plan, ctx).await?;
                // The runner may have placed the order first; what makes this reply a replay
                // is whether this request started the checkout.
                Ok(CommandReply {
                    duplicate: started.duplicate,
                    ..placed
                })
            }
            Err(e) => {
                // Refused before the commit point (another checkout holds the cart...): the
                // promotions held for this order go back. An unknown outcome (a timeout) may
                // have started the saga, which then owns them: leave them to it.
                if !matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal) {
                    self.release(&order_id, plan.discount.as_ref(), ctx).await;
                }
                Err(e)
            }
        }
    }

    /// Prices the cart as [`Self::start`] would, without holding or recording anything: the
    /// cart pricing shoppers see before they check out.
    async fn quote(
        &self,
        shopper: &Principal,
        req: &QuoteCart,
        ctx: &RequestContext,
    ) -> Result<CartPricing, ErrorBody> {
        // Read on the caller's authority: only who may read the cart may price it.
        let cart: CartView = self
            .bus
            .read::<Cart>(&req.cart_id, shopper.clone(), ctx)
            .await?;
        if cart.lines.is_empty() {
            return Err(agora_cart::CartError::Empty.to_body());
        }
        let customer = match shopper {
            Principal::Customer { id } => Some(*id),
            _ => None,
        };
        let tax_rule = match req.country.as_deref() {
            Some(country) => Some(self.pricing.tax_rule_for(country, req.region.as_deref())?),
            None => None,
        };
        // A code that cannot be a code is priced as no code, and said so.
        let entered = req
            .code
            .clone()
            .or_else(|| cart.code.as_ref().map(|c| c.as_str().to_string()));
        let code = entered
            .as_deref()
            .and_then(|raw| PromotionCode::parse(raw).ok());
        let ((catalog, profiles), offers) = tokio::try_join!(
            self.price_and_profiles(&cart, ctx),
            self.offers(None, customer, code.as_ref(), ctx),
        )?;
        let to = match req.country.as_deref() {
            Some(country) => Some(
                Destination::new(country, req.region.as_deref(), req.postcode.as_deref())
                    .map_err(|e| e.to_body())?,
            ),
            None => None,
        };
        let shipped = self.shipping(
            &profiles,
            &catalog,
            to.as_ref(),
            req.shipping_option.as_deref(),
            &req.vendor_shipping_options,
        )?;
        let shipping = shipped.fee;
        let CatalogLines {
            lines,
            categories,
            titles,
            ..
        } = catalog;
        let now = Utc::now();
        let valid_until = offers.next_boundary(now);
        let priced = Self::promote(&lines, &categories, offers, shipping, now)?;
        let rejection = match (&entered, &code, &priced.code_rejection) {
            (Some(_), None, _) => Some(PromotionError::UnknownCode.to_body()),
            (_, _, Some(skipped)) => Some(skipped.reason.to_body()),
            _ => None,
        };
        let discount = Self::order_discount(&priced);
        let (tax_estimated, tax_rule) = match tax_rule {
            Some(rule) => (false, rule),
            None => (true, self.pricing.estimated_tax_rule()),
        };
        let (totals, _) = agora_order::order_totals(&lines, shipping, &tax_rule, discount.as_ref())
            .map_err(|e| e.to_body())?;
        Ok(CartPricing {
            cart_id: cart.id,
            cart_version: cart.version,
            cart_status: cart.status,
            currency: priced.currency,
            lines: lines
                .iter()
                .zip(&priced.lines)
                .zip(titles)
                .map(
                    |((line, p), (product_title, variant_title))| PricedCartLine {
                        sku: line.sku.to_string(),
                        product_id: line.product_id.clone(),
                        title: line.title.clone(),
                        product_title,
                        variant_title,
                        quantity: line.quantity,
                        unit_price: line.unit_price,
                        subtotal: p.subtotal,
                        discount: p.discount,
                        total: p.total,
                    },
                )
                .collect(),
            subtotal: priced.subtotal,
            discount: priced.discount,
            shipping: priced.shipping,
            shipping_pending: shipped.pending,
            shipping_options: shipped.options,
            shipping_option: shipped.option,
            vendor_shipping: shipped.vendors,
            shipping_discount: priced.shipping_discount,
            tax: totals.tax,
            total: totals.total,
            tax_rule,
            tax_estimated,
            promotions: discount.map(|d| d.promotions).unwrap_or_default(),
            code: code.map(|c| c.as_str().to_string()).or(entered),
            code_rejection: rejection.map(|e| CodeRejection {
                error: e.code,
                message: e.message,
            }),
            valid_until,
        })
    }

    /// Locks the cart and records the saga's start: the commit point.
    async fn lock_and_start(
        &self,
        order_id: &str,
        shopper: &Principal,
        req: &StartCheckout,
        plan: &CheckoutPlan,
        now: DateTime<Utc>,
        ctx: &RequestContext,
    ) -> Result<CommandReply<CheckoutView>, ErrorBody> {
        let order_id = order_id.to_string();
        // Lock the cart on the shopper's authority (the cart service checks ownership), so a
        // second checkout of the same cart is refused instead of becoming a second order.
        self.bus
            .send(
                &req.cart_id,
                step_id(&order_id, "lock-cart"),
                shopper.clone(),
                &CartCommand::BeginCheckout {
                    order_id: order_id.clone(),
                    now,
                },
                ctx,
            )
            .await?;
        // The checkout stream's first event is the commit point, and the request hash is part
        // of its command id: two requests with one key and different bodies race as two
        // different commands, so the stream decides both and the loser meets the winner's plan
        // (`checkout.idempotency_key_reused`) instead of being answered as a retry of it.
        self.host
            .execute(
                CommandEnvelope {
                    aggregate_id: order_id.clone(),
                    command_id: step_id(&order_id, &format!("start:{}", plan.request_hash)),
                    principal: system(),
                    command: CheckoutCommand::Start {
                        plan: Box::new(plan.clone()),
                        now,
                    },
                },
                ctx.clone(),
            )
            .await
    }

    async fn replay(
        &self,
        order_id: &str,
        shopper: &Principal,
        req: &StartCheckout,
        existing: CheckoutView,
        ctx: &RequestContext,
    ) -> Result<CommandReply<OrderView>, ErrorBody> {
        if existing.request_hash.as_deref() != Some(req.request_hash.as_str()) {
            return Err(agora_checkout::CheckoutError::KeyReused.to_body());
        }
        // The shopper must own the order they replay (the order service checks).
        let order = self.bus.read::<Order>(order_id, shopper.clone(), ctx).await;
        match order {
            Ok(view) => Ok(CommandReply {
                version: view.version,
                duplicate: true,
                view,
            }),
            // Started but the order was not placed yet (a crash in between): place it now.
            Err(e) if e.kind == ErrorKind::NotFound => {
                let state = crate::runner::load(self.host_store(), order_id).await?;
                match state.0.plan() {
                    Some(plan) => {
                        let reply = Self::place_order(&self.bus, order_id, plan, ctx).await?;
                        Ok(CommandReply {
                            duplicate: true,
                            ..reply
                        })
                    }
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn host_store(&self) -> &PgPool {
        &self.pool
    }
}

impl Handler for CheckoutService {
    async fn handle(
        &self,
        endpoint: &'static str,
        ctx: RequestContext,
        payload: Bytes,
    ) -> Result<Bytes, ErrorBody> {
        if endpoint == agora_kernel::GET {
            return agora_runtime::read(&self.host, &payload, &ctx).await;
        }
        let envelope = decode_command::<Checkout>(endpoint, &payload)?;
        let start = match envelope.command {
            CheckoutRequest::Start(start) => start,
            CheckoutRequest::Quote(quote) => {
                check_id(&quote.cart_id)?;
                let pricing = self.quote(&envelope.principal, &quote, &ctx).await?;
                return Ok(codec::encode(&pricing));
            }
        };
        check_id(&start.cart_id)?;
        let envelope = CommandEnvelope {
            aggregate_id: envelope.aggregate_id,
            command_id: envelope.command_id,
            principal: envelope.principal,
            command: start,
        };
        let reply = self.start(envelope, &ctx).await?;
        Ok(codec::encode(&reply))
    }
}

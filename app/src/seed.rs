//! Demo data, created through the same NATS commands a shopper's requests become.

use std::time::Duration;

use agora_cart::CartCommand;
use agora_identity::{AccountCommand, Role};
use agora_kernel::{Command, CommandId, Principal, Sku};
use agora_nats::{Bus, RequestContext};
use agora_promotion::PromotionCommand;
use agora_workflows::IdentityRequest;

/// A guest cart the seed created, so a newcomer can try it with curl.
pub struct SeededCart {
    pub cart_id: String,
    pub token: String,
}

const DEMO_SKUS: &[&str] = &[
    "TEE-BLACK-M",
    "TEE-WHITE-L",
    "MUG-CERAMIC",
    "SOCKS-WOOL-42",
    "CAP-NAVY",
];

/// Creates `carts` demo guest carts with a few items each. Deterministic for a given `seed`:
/// the same SKUs and quantities (ids and tokens are random, as they must be). With `catalog`
/// (the seed and size of a catalog made by [`seed_catalog`]), the items are that catalog's
/// published SKUs with stock, so the carts can be priced and checked out; without it, a few
/// fixed SKUs.
pub async fn seed_carts(
    bus: &Bus,
    carts: usize,
    seed: u64,
    catalog: Option<(u64, u64)>,
) -> anyhow::Result<Vec<SeededCart>> {
    let for_sale: Vec<String> = match catalog {
        Some((catalog_seed, products)) => (0..products.min(200))
            .map(|i| crate::catalog_seed::product(catalog_seed, i))
            .filter(|p| p.publish)
            .flat_map(|p| p.stock)
            .filter(|(_, quantity)| *quantity >= 10)
            .map(|(sku, _)| sku.to_string())
            .collect(),
        None => Vec::new(),
    };
    let skus: Vec<&str> = if for_sale.is_empty() {
        DEMO_SKUS.to_vec()
    } else {
        for_sale.iter().map(String::as_str).collect()
    };
    let mut out = Vec::with_capacity(carts);
    for i in 0..carts {
        let token = hex_token();
        let principal = Principal::Guest {
            token_sha256: agora_cart::token_sha256(&token),
        };
        let cart_id = uuid::Uuid::new_v4().to_string();
        send(bus, &cart_id, &principal, CartCommand::Create {}).await?;
        let lines = 1 + ((seed as usize + i) % 3);
        for l in 0..lines {
            let sku = skus[(seed as usize + i * 7 + l * 3) % skus.len()];
            let quantity = 1 + ((seed as usize + i + l) % 4) as i64;
            let sku = Sku::parse(sku).map_err(|e| anyhow::anyhow!("demo SKU {sku}: {e}"))?;
            send(
                bus,
                &cart_id,
                &principal,
                CartCommand::AddItem { sku, quantity },
            )
            .await?;
        }
        out.push(SeededCart { cart_id, token });
    }
    Ok(out)
}

async fn send(
    bus: &Bus,
    id: &str,
    principal: &Principal,
    command: CartCommand,
) -> anyhow::Result<()> {
    let ctx = RequestContext::new(Duration::from_secs(10));
    bus.send(
        id,
        CommandId::new_random(),
        principal.clone(),
        &command,
        &ctx,
    )
    .await
    .map_err(|e| anyhow::anyhow!("seed {}: {e}", command.name()))?;
    Ok(())
}

fn hex_token() -> String {
    uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string()
}

/// What seeding the catalog created.
#[derive(Debug, Default)]
pub struct CatalogSeeded {
    pub categories: usize,
    pub products: u64,
    pub published: u64,
    pub skus: u64,
}

/// A command id derived from a name, so re-running the seed repeats no effect.
fn seed_command_id(name: &str) -> CommandId {
    CommandId::from_uuid(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        name.as_bytes(),
    ))
}

async fn send_as_system<C: Command>(
    bus: &Bus,
    id: &str,
    command_id: CommandId,
    command: &C,
) -> anyhow::Result<()> {
    let ctx = RequestContext::new(Duration::from_secs(30));
    bus.send(id, command_id, Principal::system("seed"), command, &ctx)
        .await
        .map_err(|e| {
            let service = <C::Contract as agora_kernel::Contract>::SERVICE;
            anyhow::anyhow!("seed {service}.{} {id}: {e}", command.name())
        })?;
    Ok(())
}

/// Creates the demo category tree and `products` products (published, with stock) through the
/// services, `concurrency` products at a time. Deterministic and idempotent for a given `seed`.
pub async fn seed_catalog(
    bus: &Bus,
    products: u64,
    seed: u64,
    concurrency: usize,
    progress: indicatif::ProgressBar,
) -> anyhow::Result<CatalogSeeded> {
    use futures::StreamExt;
    let mut report = CatalogSeeded::default();
    for (id, command) in crate::catalog_seed::categories() {
        let cid = seed_command_id(&format!("seed/category/{id}"));
        send_as_system(bus, &id, cid, &command).await?;
        report.categories += 1;
    }
    progress.set_length(products);
    let results = futures::stream::iter(0..products)
        .map(|i| {
            let progress = progress.clone();
            async move {
                let p = crate::catalog_seed::product(seed, i);
                let key = format!("seed/{seed}/product/{i}");
                send_as_system(
                    bus,
                    &p.id,
                    seed_command_id(&format!("{key}/create")),
                    &p.create,
                )
                .await?;
                if p.publish {
                    let publish = agora_catalog::ProductCommand::Publish {};
                    send_as_system(
                        bus,
                        &p.id,
                        seed_command_id(&format!("{key}/publish")),
                        &publish,
                    )
                    .await?;
                }
                for (sku, quantity) in &p.stock {
                    if *quantity > 0 {
                        let receive = agora_inventory::StockCommand::Receive {
                            quantity: *quantity,
                            reason: Some("initial stock".into()),
                            now: chrono::Utc::now(),
                        };
                        let cid = seed_command_id(&format!("{key}/receive/{sku}"));
                        send_as_system(bus, sku.as_str(), cid, &receive).await?;
                    }
                }
                progress.inc(1);
                anyhow::Ok((p.publish, p.stock.len() as u64))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for r in results {
        let (published, skus) = r?;
        report.products += 1;
        report.published += u64::from(published);
        report.skus += skus;
    }
    progress.finish_and_clear();
    Ok(report)
}

/// How long after the seed the catalog became searchable.
pub struct Searchable {
    /// Until the Postgres index held every product and stock event.
    pub postgres: Duration,
    /// Until, in addition, Meilisearch confirmed every write (the outbox is empty).
    pub meilisearch: Option<Duration>,
}

/// Waits (up to `limit`) until every product and stock event is in the Postgres index and,
/// with `meilisearch`, until Meilisearch confirmed every write; timed from `since`.
pub async fn until_searchable(
    pool: &sqlx::PgPool,
    meilisearch: bool,
    since: std::time::Instant,
    limit: Duration,
) -> anyhow::Result<Searchable> {
    let started = since;
    let mut postgres = None;
    loop {
        if postgres.is_none() {
            let current: bool = sqlx::query_scalar(
                "SELECT NOT EXISTS (
                    SELECT 1 FROM (SELECT aggregate_type, aggregate_id, max(sequence) AS s FROM events
                                   WHERE aggregate_type IN ('product', 'stock') GROUP BY 1, 2) e
                    LEFT JOIN search_sources s USING (aggregate_type, aggregate_id)
                    WHERE s.version IS DISTINCT FROM e.s)",
            )
            .fetch_one(pool)
            .await?;
            if current {
                postgres = Some(started.elapsed());
            }
        }
        if let Some(postgres) = postgres {
            if !meilisearch {
                return Ok(Searchable {
                    postgres,
                    meilisearch: None,
                });
            }
            let shipped: bool =
                sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM search_meili_backlog)")
                    .fetch_one(pool)
                    .await?;
            if shipped {
                return Ok(Searchable {
                    postgres,
                    meilisearch: Some(started.elapsed()),
                });
            }
        }
        if started.elapsed() > limit {
            anyhow::bail!("the catalog was not searchable {limit:?} after the seed");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The demo back-office login that `agora all --seed-staff` creates (and `scripts/demo` prints).
pub const DEMO_STAFF_EMAIL: &str = "staff@agora.test";
/// Its password: a demo credential, printed on purpose; never seed it into a real shop.
pub const DEMO_STAFF_PASSWORD: &str = "demo-backoffice-2026";

/// Creates the demo staff account through the identity service (as a sign-up would) and
/// grants it the `admin` role through the account service, as the platform. Safe to run on
/// every start: an existing account is found by signing in, and granting a role it holds
/// changes nothing. Returns the account id.
/// Registers the account `email` through the identity service, as a sign-up would, or finds
/// it by signing in when it exists from an earlier start. Returns its id.
async fn seed_account(
    bus: &Bus,
    email: &str,
    password: &str,
    name: &str,
) -> anyhow::Result<String> {
    let anonymous = Principal::Guest {
        token_sha256: agora_cart::token_sha256(&hex_token()),
    };
    let registered = request(
        bus,
        &uuid::Uuid::new_v4().to_string(),
        &anonymous,
        &IdentityRequest::Register(agora_workflows::Register {
            email: email.into(),
            password: password.into(),
            display_name: Some(name.into()),
            phone: None,
        }),
    )
    .await;
    match registered {
        Ok(view) => view["id"].as_str().map(str::to_string),
        // Taken: the account exists from an earlier start; signing in names it.
        Err(refused) => request(
            bus,
            &uuid::Uuid::new_v4().to_string(),
            &anonymous,
            &IdentityRequest::Login(agora_workflows::Login {
                email: email.into(),
                password: password.into(),
                user_agent: Some("agora-seed".into()),
            }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{email}: register: {refused}; sign in: {e}"))?["account_id"]
            .as_str()
            .map(str::to_string),
    }
    .ok_or_else(|| anyhow::anyhow!("the identity service named no account for {email}"))
}

/// The demo vendors' password (their logins are in `catalog_seed::MARKETPLACE`): a demo
/// credential, printed on purpose.
pub const DEMO_VENDOR_PASSWORD: &str = "demo-vendor-2026";

/// Creates the demo's marketplace vendors (`catalog_seed::MARKETPLACE`): each admin user's
/// account, the vendor's application for it, its approval (the marketplace runner then binds
/// the account to the vendor) and a 12 % commission rule. Safe to run on every start: the
/// same stream and command ids, and a rule already set stays as it is.
pub async fn seed_vendors(bus: &Bus) -> anyhow::Result<()> {
    let platform = Principal::system("seed");
    for (slug, name, email) in crate::catalog_seed::MARKETPLACE {
        let account = seed_account(bus, email, DEMO_VENDOR_PASSWORD, name).await?;
        let vendor = crate::catalog_seed::vendor_id(slug);
        let now = chrono::Utc::now();
        let applicant: agora_kernel::CustomerId = account
            .parse()
            .map_err(|_| anyhow::anyhow!("account id {account} is no UUID"))?;
        let steps = [
            (
                "apply",
                agora_vendor::VendorCommand::Apply {
                    name: name.to_string(),
                    legal_name: format!("{name} GmbH"),
                    contact_email: email.to_string(),
                    country: "DE".into(),
                    payout_account: format!("acct_demo_{slug}"),
                    applicant,
                    now,
                },
            ),
            ("approve", agora_vendor::VendorCommand::Approve { now }),
            (
                "commission",
                agora_vendor::VendorCommand::SetCommission {
                    rule_id: "demo-12".into(),
                    percent_bp: 1200,
                    fixed: None,
                    category: None,
                    effective_from: now + chrono::Duration::seconds(5),
                    now,
                },
            ),
        ];
        for (step, command) in steps {
            let cid = seed_command_id(&format!("seed/vendor/{slug}/{step}"));
            let ctx = RequestContext::new(Duration::from_secs(30));
            let sent: Result<agora_nats::CommandReply<serde_json::Value>, _> = bus
                .call(&vendor, cid, platform.clone(), &command, &ctx)
                .await;
            if let Err(e) = sent {
                // From an earlier start: the rule exists (set with an earlier moment).
                if e.code != "vendor.rule_exists" {
                    anyhow::bail!("demo vendor {slug}: {step}: {}", e.message);
                }
            }
        }
    }
    Ok(())
}

pub async fn seed_staff(bus: &Bus) -> anyhow::Result<String> {
    let id = seed_account(bus, DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD, "Demo staff").await?;
    if let Err(e) = request(
        bus,
        &id,
        &Principal::system("seed"),
        &AccountCommand::GrantRole { role: Role::Admin },
    )
    .await
    {
        // A role already held is refused as a conflict; anything else is worth a look.
        tracing::info!(error = %e, "demo staff role not granted again");
    }
    Ok(id)
}

/// One command over NATS; the view after it.
async fn request<C: Command>(
    bus: &Bus,
    id: &str,
    principal: &Principal,
    command: &C,
) -> anyhow::Result<serde_json::Value> {
    let ctx = RequestContext::new(Duration::from_secs(30));
    let reply: agora_nats::CommandReply<serde_json::Value> = bus
        .call(
            id,
            CommandId::new_random(),
            principal.clone(),
            command,
            &ctx,
        )
        .await
        .map_err(|e| {
            let service = <C::Contract as agora_kernel::Contract>::SERVICE;
            anyhow::anyhow!("{service}.{}: {}", command.name(), e.message)
        })?;
    Ok(reply.view)
}

/// The demo's promotion code: 10 % off orders of €50 or more.
pub const DEMO_CODE: &str = "SUMMER10";

/// Creates and activates the demo's code promotion ([`DEMO_CODE`]) through the promotion
/// service, as the platform. Safe to run on every start: the same stream and command ids.
pub async fn seed_promotions(bus: &Bus) -> anyhow::Result<()> {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"agora:demo-promotion:summer10")
        .to_string();
    let terms: agora_promotion::PromotionTerms = serde_json::from_value(serde_json::json!({
        "name": "Summer: 10 % off from €50",
        "currency": "EUR",
        "action": {"percent_off_order": {"percent_bp": 1000}},
        "eligibility": {"minimum_subtotal": {"amount_minor": 5000, "currency": "EUR"}},
    }))?;
    let now = chrono::Utc::now();
    send_as_system(
        bus,
        &id,
        seed_command_id("demo-promotion:summer10:create"),
        &PromotionCommand::Create {
            terms,
            codes: agora_promotion::CodeSpec::Code {
                code: agora_promotion::PromotionCode::parse(DEMO_CODE)?,
            },
            now,
        },
    )
    .await?;
    send_as_system(
        bus,
        &id,
        seed_command_id("demo-promotion:summer10:activate"),
        &PromotionCommand::Activate { now },
    )
    .await
}

/// The demo shop's shipping zones: Germany (standard by weight, free from €50; express), the
/// rest of the EU, the United Kingdom, the United States, and the rest of the world; and the
/// marketplace vendor Lumen Lighting's own rates. Sent as ordinary commands with fixed ids,
/// so seeding again changes nothing.
pub async fn seed_shipping(bus: &Bus) -> anyhow::Result<()> {
    use agora_shipping::ShippingCommand;
    let eur = |minor: i64| serde_json::json!({"amount_minor": minor, "currency": "EUR"});
    let zones = [
        ("de", "Germany", vec!["DE"]),
        (
            "eu",
            "European Union",
            vec![
                "AT", "BE", "BG", "CY", "CZ", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
                "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
            ],
        ),
        ("gb", "United Kingdom", vec!["GB"]),
        ("us", "United States", vec!["US"]),
        ("world", "Rest of the world", vec!["*"]),
    ];
    let options = [
        (
            "de",
            "standard",
            serde_json::json!({"name": "DHL Parcel", "kind": "standard",
            "rate": {"type": "weight", "bands": [{"up_to": 1000, "price": eur(490)},
                {"up_to": 5000, "price": eur(690)}, {"up_to": 31500, "price": eur(990)}]},
            "free_from": eur(5000), "min_days": 1, "max_days": 3}),
        ),
        (
            "de",
            "express",
            serde_json::json!({"name": "DHL Express", "kind": "express",
            "rate": {"type": "flat", "price": eur(1290)}, "min_days": 1, "max_days": 1}),
        ),
        (
            "de",
            "packstation",
            serde_json::json!({"name": "Packstation pickup", "kind": "pickup",
            "rate": {"type": "flat", "price": eur(390)}, "min_days": 1, "max_days": 3}),
        ),
        (
            "eu",
            "standard",
            serde_json::json!({"name": "EU Parcel", "kind": "standard",
            "rate": {"type": "weight", "bands": [{"up_to": 2000, "price": eur(990)},
                {"up_to": null, "price": eur(1490)}]},
            "free_from": eur(10_000), "min_days": 3, "max_days": 6}),
        ),
        (
            "gb",
            "standard",
            serde_json::json!({"name": "Royal Mail International", "kind": "standard",
            "rate": {"type": "flat", "price": eur(1290)}, "min_days": 3, "max_days": 7}),
        ),
        (
            "us",
            "standard",
            serde_json::json!({"name": "USPS via DHL", "kind": "standard",
            "rate": {"type": "subtotal", "bands": [{"up_to": 9999, "price": eur(1990)},
                {"up_to": null, "price": eur(990)}]},
            "min_days": 5, "max_days": 10}),
        ),
        (
            "us",
            "express",
            serde_json::json!({"name": "DHL Express Worldwide", "kind": "express",
            "rate": {"type": "flat", "price": eur(3490)}, "min_days": 2, "max_days": 3}),
        ),
        (
            "world",
            "standard",
            serde_json::json!({"name": "International Parcel", "kind": "standard",
            "rate": {"type": "weight", "bands": [{"up_to": 2000, "price": eur(2490)},
                {"up_to": null, "price": eur(3990)}]},
            "min_days": 7, "max_days": 14}),
        ),
    ];
    let profile = agora_shipping::DEFAULT_PROFILE;
    for (id, name, countries) in zones {
        let command = ShippingCommand::SaveZone {
            zone_id: id.into(),
            name: name.into(),
            areas: countries
                .iter()
                .map(|c| agora_shipping::ZoneArea {
                    country: c.to_string(),
                    region: None,
                    postcode_prefix: None,
                })
                .collect(),
        };
        let command_id = seed_command_id(&format!("demo-shipping:zone:{id}"));
        send_as_system(bus, profile, command_id, &command).await?;
    }
    for (zone, id, option) in options {
        let mut option = option;
        option["id"] = serde_json::json!(id);
        let command = ShippingCommand::SaveOption {
            zone_id: zone.into(),
            option: serde_json::from_value(option)?,
        };
        let command_id = seed_command_id(&format!("demo-shipping:option:{zone}:{id}"));
        send_as_system(bus, profile, command_id, &command).await?;
    }
    // Lumen Lighting ships its lamps itself, at its own rates, everywhere; Terra Goods ships
    // at the shop's.
    let lumen = crate::catalog_seed::vendor_id("lumen");
    let own = [
        ShippingCommand::SaveZone {
            zone_id: "everywhere".into(),
            name: "Everywhere".into(),
            areas: vec![agora_shipping::ZoneArea {
                country: "*".into(),
                region: None,
                postcode_prefix: None,
            }],
        },
        ShippingCommand::SaveOption {
            zone_id: "everywhere".into(),
            option: serde_json::from_value(serde_json::json!({"id": "lumen-courier",
                "name": "Lumen Courier", "kind": "standard",
                "rate": {"type": "flat", "price": eur(590)}, "free_from": eur(15000),
                "min_days": 2, "max_days": 5}))?,
        },
        ShippingCommand::SaveOption {
            zone_id: "everywhere".into(),
            option: serde_json::from_value(serde_json::json!({"id": "lumen-express",
                "name": "Lumen Express", "kind": "express",
                "rate": {"type": "flat", "price": eur(1490)}, "min_days": 1, "max_days": 2}))?,
        },
    ];
    for (i, command) in own.iter().enumerate() {
        let command_id = seed_command_id(&format!("demo-shipping:lumen:{i}"));
        send_as_system(bus, &lumen, command_id, command).await?;
    }
    Ok(())
}

/// Display names of the demo shoppers who review products.
const REVIEWERS: &[&str] = &[
    "Ada L.",
    "Grace H.",
    "Alan T.",
    "Katherine J.",
    "Linus T.",
    "Barbara L.",
    "Edsger D.",
    "Margaret H.",
    "Dennis R.",
    "Frances A.",
    "Ken T.",
    "Radia P.",
];

/// What demo reviews say, by rating (1 to 5 stars).
fn review_words(rating: u8, pick: u64) -> (&'static str, &'static str) {
    const WORDS: [&[(&str, &str)]; 5] = [
        &[(
            "Not as described",
            "It arrived scratched and smaller than the pictures suggest.",
        )],
        &[(
            "Disappointing",
            "Does the job, but the finish wore off within weeks.",
        )],
        &[(
            "Fine for the price",
            "Nothing special, nothing wrong. Delivery was quick.",
        )],
        &[
            ("Very good", "Solid and well made; I would buy it again."),
            (
                "Happy with it",
                "Exactly what I needed, and it looks great at home.",
            ),
        ],
        &[
            ("Excellent", "Beautiful quality, better than I expected."),
            (
                "Love it",
                "Second one I have bought; gifts for the whole family next.",
            ),
            (
                "Perfect",
                "Great materials, careful packaging, fast delivery.",
            ),
        ],
    ];
    let options = WORDS[usize::from(rating.clamp(1, 5) - 1)];
    options[(pick % options.len() as u64) as usize]
}

/// Reviews of the demo catalog: every third of the first 300 products gets one to four
/// approved reviews from demo shoppers (most of them verified purchases), so product pages,
/// ratings and the rating filter have something to show. Deterministic and idempotent.
pub async fn seed_reviews(bus: &Bus, products: u64, seed: u64) -> anyhow::Result<u64> {
    use futures::StreamExt;
    let marketplace: Vec<String> = crate::catalog_seed::MARKETPLACE
        .iter()
        .map(|(slug, ..)| crate::catalog_seed::vendor_id(slug))
        .collect();
    let mut jobs = Vec::new();
    for i in (0..products.min(300)).filter(|i| i % 3 == 0) {
        let p = crate::catalog_seed::product(seed, i);
        let agora_catalog::ProductCommand::Create { vendor_id, .. } = &p.create else {
            continue;
        };
        if !p.publish {
            continue;
        }
        let vendor = marketplace.contains(vendor_id).then(|| vendor_id.clone());
        let mut rng = crate::catalog_seed::Rng::new(seed ^ 0x5245_5649_4557 ^ i);
        for k in 0..1 + rng.below(4) {
            let shopper = (i * 7 + k) % 60;
            let author = agora_kernel::CustomerId::from_uuid(uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("agora:demo-shopper:{shopper}").as_bytes(),
            ));
            let rating = [5u8, 5, 4, 4, 4, 3, 2, 5, 1, 4][rng.below(10) as usize];
            let (title, body) = review_words(rating, rng.below(3));
            let submit = agora_review::ReviewCommand::Submit {
                product_id: p.id.clone(),
                vendor_id: vendor.clone(),
                author: Some(author),
                author_name: REVIEWERS[(shopper % REVIEWERS.len() as u64) as usize].to_string(),
                rating,
                title: title.to_string(),
                body: body.to_string(),
                verified_purchase: rng.below(5) != 0,
                now: chrono::Utc::now(),
            };
            jobs.push((
                agora_edge::review_id(&author, &p.id),
                format!("seed/{seed}/review/{i}/{k}"),
                submit,
            ));
        }
    }
    let results = futures::stream::iter(jobs)
        .map(|(id, key, submit)| async move {
            send_as_system(bus, &id, seed_command_id(&format!("{key}/submit")), &submit).await?;
            let approve = agora_review::ReviewCommand::Approve {
                now: chrono::Utc::now(),
            };
            send_as_system(
                bus,
                &id,
                seed_command_id(&format!("{key}/approve")),
                &approve,
            )
            .await
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut seeded = 0;
    for r in results {
        r?;
        seeded += 1;
    }
    Ok(seeded)
}

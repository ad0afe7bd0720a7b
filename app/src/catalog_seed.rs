//! A realistic demo catalog: a category tree, products with plausible names, descriptions,
//! variants and prices, and stock. Deterministic for a given seed value: the same seed always
//! produces the same catalog (ids included), so tests and benchmarks can rely on it.

use agora_catalog::{CategoryCommand, ProductCommand, VariantInput};
use agora_kernel::{Currency, Money, Sku};

/// SplitMix64: tiny, fast, and the same on every platform and version.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A leaf category and what is sold in it: (noun, SKU code, base price in cents).
struct Leaf {
    id: &'static str,
    name: &'static str,
    parent: &'static str,
    goods: &'static [(&'static str, &'static str, i64)],
}

const ROOTS: &[(&str, &str)] = &[
    ("kitchen", "Kitchen"),
    ("home", "Home"),
    ("fashion", "Fashion"),
    ("sports", "Sports & Outdoors"),
    ("electronics", "Electronics"),
];

const LEAVES: &[Leaf] = &[
    Leaf {
        id: "kitchen-appliances",
        name: "Kitchen appliances",
        parent: "kitchen",
        goods: &[
            ("Blender", "BLND", 6900),
            ("Kettle", "KETL", 3900),
            ("Toaster", "TOST", 4500),
            ("Coffee Maker", "COFM", 8900),
            ("Espresso Machine", "ESPM", 24900),
            ("Stand Mixer", "MIXR", 19900),
        ],
    },
    Leaf {
        id: "cookware",
        name: "Cookware",
        parent: "kitchen",
        goods: &[
            ("Frying Pan", "FPAN", 3500),
            ("Saucepan", "SPAN", 2900),
            ("Dutch Oven", "DOVN", 7900),
            ("Wok", "WOKK", 3200),
        ],
    },
    Leaf {
        id: "tableware",
        name: "Tableware",
        parent: "kitchen",
        goods: &[
            ("Coffee Mug", "MUGG", 1200),
            ("Dinner Plate", "PLAT", 1500),
            ("Serving Bowl", "BOWL", 1900),
            ("Wine Glass", "GLAS", 1100),
        ],
    },
    Leaf {
        id: "furniture",
        name: "Furniture",
        parent: "home",
        goods: &[
            ("Dining Chair", "CHAR", 8900),
            ("Coffee Table", "CTBL", 14900),
            ("Writing Desk", "DESK", 19900),
            ("Bookshelf", "SHLF", 12900),
        ],
    },
    Leaf {
        id: "lighting",
        name: "Lighting",
        parent: "home",
        goods: &[
            ("Table Lamp", "LAMP", 4900),
            ("Pendant Light", "PEND", 7900),
            ("Floor Lamp", "FLMP", 9900),
        ],
    },
    Leaf {
        id: "textiles",
        name: "Home textiles",
        parent: "home",
        goods: &[
            ("Throw Blanket", "BLNK", 3900),
            ("Cushion Cover", "CUSH", 1900),
            ("Area Rug", "RUGG", 11900),
            ("Linen Curtain", "CURT", 4900),
        ],
    },
    Leaf {
        id: "mens",
        name: "Men",
        parent: "fashion",
        goods: &[
            ("T-Shirt", "TSHM", 1900),
            ("Slim Jeans", "JNSM", 5900),
            ("Rain Jacket", "JCKM", 8900),
            ("Sneakers", "SNKM", 7900),
        ],
    },
    Leaf {
        id: "womens",
        name: "Women",
        parent: "fashion",
        goods: &[
            ("Summer Dress", "DRSW", 4900),
            ("Silk Blouse", "BLSW", 5900),
            ("Pleated Skirt", "SKRW", 3900),
            ("Ankle Boots", "BOTW", 9900),
        ],
    },
    Leaf {
        id: "accessories",
        name: "Accessories",
        parent: "fashion",
        goods: &[
            ("Baseball Cap", "CAPP", 1900),
            ("Leather Belt", "BELT", 2900),
            ("Wallet", "WLLT", 3500),
            ("Backpack", "BKPK", 6900),
            ("Sunglasses", "SUNG", 4900),
        ],
    },
    Leaf {
        id: "outdoor",
        name: "Outdoor",
        parent: "sports",
        goods: &[
            ("Camping Tent", "TENT", 15900),
            ("Sleeping Bag", "SLBG", 8900),
            ("Hiking Boots", "HKBT", 12900),
            ("Water Bottle", "BOTL", 1900),
        ],
    },
    Leaf {
        id: "fitness",
        name: "Fitness",
        parent: "sports",
        goods: &[
            ("Yoga Mat", "YOGA", 2900),
            ("Dumbbell Set", "DMBL", 5900),
            ("Kettlebell", "KTBL", 3900),
            ("Resistance Band", "RBND", 1500),
        ],
    },
    Leaf {
        id: "cycling",
        name: "Cycling",
        parent: "sports",
        goods: &[
            ("Bike Helmet", "HLMT", 5900),
            ("Bike Light", "BLGT", 2500),
            ("Cycling Gloves", "CGLV", 2200),
        ],
    },
    Leaf {
        id: "audio",
        name: "Audio",
        parent: "electronics",
        goods: &[
            ("Headphones", "HDPH", 12900),
            ("Bluetooth Speaker", "SPKR", 7900),
            ("Earbuds", "EARB", 8900),
        ],
    },
    Leaf {
        id: "computing",
        name: "Computing",
        parent: "electronics",
        goods: &[
            ("Mechanical Keyboard", "KYBD", 9900),
            ("Wireless Mouse", "MOUS", 3900),
            ("Monitor", "MNTR", 22900),
            ("Laptop Stand", "LSTD", 3900),
        ],
    },
    Leaf {
        id: "phone-accessories",
        name: "Phone accessories",
        parent: "electronics",
        goods: &[
            ("Fast Charger", "CHRG", 2500),
            ("Phone Case", "CASE", 1900),
            ("Power Bank", "PWRB", 3900),
        ],
    },
];

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Modern",
    "Compact",
    "Premium",
    "Eco",
    "Vintage",
    "Smart",
    "Ultra",
    "Essential",
    "Deluxe",
    "Nordic",
    "Urban",
    "Rustic",
    "Minimal",
    "Sturdy",
    "Lightweight",
    "Handmade",
    "Pro",
    "Everyday",
    "Travel",
];
const MATERIALS: &[&str] = &[
    "Black",
    "White",
    "Oak",
    "Walnut",
    "Steel",
    "Ceramic",
    "Cotton",
    "Wool",
    "Bamboo",
    "Copper",
    "Navy",
    "Olive",
    "Graphite",
    "Sand",
    "Linen",
    "Leather",
    "Glass",
    "Terracotta",
];
const VENDORS: &[&str] = &[
    "northwind",
    "acme",
    "lumen",
    "terra",
    "brightside",
    "oakhouse",
    "fieldcraft",
    "kinetic",
];
/// The brands that sell as marketplace vendors in the demo (the others are the shop's own):
/// slug, shop name, the demo login of its admin user.
pub const MARKETPLACE: &[(&str, &str, &str)] = &[
    ("terra", "Terra Goods", "terra@agora.test"),
    ("lumen", "Lumen Lighting", "lumen@agora.test"),
];

/// The vendor id of a brand: a marketplace vendor's stream id (a UUID derived from the slug),
/// else the slug, which no vendor stream has (the shop's own goods).
pub fn vendor_id(slug: &str) -> String {
    if MARKETPLACE.iter().any(|(s, ..)| *s == slug) {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("agora:demo-vendor:{slug}").as_bytes(),
        )
        .to_string()
    } else {
        slug.to_string()
    }
}

const SIZES: &[&str] = &["S", "M", "L", "XL"];
const FEATURES: &[&str] = &[
    "built to last for years of daily use",
    "designed in Scandinavia",
    "made from responsibly sourced materials",
    "easy to clean and dishwasher safe",
    "with a two-year warranty",
    "a customer favourite since launch",
    "packed in plastic-free packaging",
    "tested by our in-house team",
];

/// One category to create: (id, command).
pub fn categories() -> Vec<(String, CategoryCommand)> {
    let mut out: Vec<(String, CategoryCommand)> = ROOTS
        .iter()
        .map(|(id, name)| {
            (
                id.to_string(),
                CategoryCommand::Create {
                    name: name.to_string(),
                    parent_id: None,
                },
            )
        })
        .collect();
    out.extend(LEAVES.iter().map(|l| {
        (
            l.id.to_string(),
            CategoryCommand::Create {
                name: l.name.to_string(),
                parent_id: Some(l.parent.to_string()),
            },
        )
    }));
    out
}

/// One generated product: its id, create command, whether to publish it, and stock per SKU.
pub struct SeedProduct {
    pub id: String,
    pub create: ProductCommand,
    pub publish: bool,
    pub stock: Vec<(Sku, i64)>,
}

/// The `index`-th product of the catalog for `seed`.
pub fn product(seed: u64, index: u64) -> SeedProduct {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407));
    let leaf = rng.pick(LEAVES);
    let &(noun, code, base) = rng.pick(leaf.goods);
    let adjective = rng.pick(ADJECTIVES);
    let material = rng.pick(MATERIALS);
    let vendor = rng.pick(VENDORS);
    let title = format!("{adjective} {material} {noun}");
    let description = format!(
        "The {} {} from {}: {}, {}. {} finish.",
        adjective.to_lowercase(),
        noun.to_lowercase(),
        vendor,
        rng.pick(FEATURES),
        rng.pick(FEATURES),
        material
    );
    // Prices vary ±40 % around the base and end in 9 (or 5) cents, like real shops.
    let factor = 60 + rng.below(81) as i64;
    let price = ((base * factor / 100) / 10) * 10 + if rng.below(2) == 0 { 9 } else { 5 };
    let variant_count = 1 + rng.below(3) as usize;
    let mut variants = Vec::with_capacity(variant_count);
    let mut stock = Vec::with_capacity(variant_count);
    for v in 0..variant_count {
        let size = SIZES[v % SIZES.len()];
        let sku = Sku::parse(&format!("{code}-{index:07}-{size}"))
            .unwrap_or_else(|_| fallback_sku(index, v));
        let mut attributes = std::collections::BTreeMap::new();
        attributes.insert("size".to_string(), size.to_string());
        attributes.insert("colour".to_string(), material.to_string());
        variants.push(VariantInput {
            sku: sku.clone(),
            title: format!("{title} ({size})"),
            price: Money::new(price + 500 * v as i64, Currency::EUR),
            attributes,
            // Derived from the index, not drawn, so the rest of the catalog stays as it was.
            shipping: agora_catalog::ShippingDetails {
                weight_grams: Some(200 + (index as u32 % 37) * 50 + 100 * v as u32),
                dimensions_mm: Some(agora_catalog::Dimensions {
                    length: 300,
                    width: 220,
                    height: 40 + 10 * v as u32,
                }),
            },
        });
        // About one SKU in eight starts out of stock.
        let quantity = if rng.below(8) == 0 {
            0
        } else {
            1 + rng.below(200) as i64
        };
        stock.push((sku, quantity));
    }
    let id = uuid::Uuid::from_u64_pair(seed, index).to_string();
    SeedProduct {
        id,
        create: ProductCommand::Create {
            title,
            description,
            image_urls: vec![format!(
                "https://images.example.com/{}/{index}.jpg",
                code.to_lowercase()
            )],
            category_id: Some(leaf.id.to_string()),
            attributes: [("material".to_string(), material.to_string())]
                .into_iter()
                .collect(),
            vendor_id: vendor_id(vendor),
            variants,
        },
        // About one product in twenty stays a draft.
        publish: rng.below(20) != 0,
        stock,
    }
}

fn fallback_sku(index: u64, v: usize) -> Sku {
    // Every generated code is valid; this only satisfies the type without a panic path.
    Sku::parse(&format!("SKU-{index}-{v}")).unwrap_or_else(|_| fallback_sku(0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_catalog() {
        let a: Vec<String> = (0..50)
            .map(|i| format!("{:?}", product(7, i).create))
            .collect();
        let b: Vec<String> = (0..50)
            .map(|i| format!("{:?}", product(7, i).create))
            .collect();
        assert_eq!(a, b);
        let c: Vec<String> = (0..50)
            .map(|i| format!("{:?}", product(8, i).create))
            .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn every_leaf_has_a_root_parent() {
        for leaf in LEAVES {
            assert!(
                ROOTS.iter().any(|(id, _)| *id == leaf.parent),
                "{}",
                leaf.id
            );
        }
        assert_eq!(categories().len(), ROOTS.len() + LEAVES.len());
    }

    #[test]
    fn generated_products_look_real() {
        let p = product(42, 3);
        let ProductCommand::Create {
            title, variants, ..
        } = &p.create
        else {
            panic!("create")
        };
        assert!(title.split(' ').count() >= 3);
        assert!(!variants.is_empty() && variants.iter().all(|v| v.price.amount_minor > 0));
        assert_eq!(p.stock.len(), variants.len());
    }
}

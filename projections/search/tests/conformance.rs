//! The conformance suite: the behaviour every [`SearchIndex`] must share, checked against a
//! hand-written catalog of sixty products. It runs on Postgres in every test run and on
//! Meilisearch when `MEILI_URL` (and optionally `MEILI_KEY`) is set.

mod fake_meili;
mod fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::time::Duration;

use agora_search::{
    MeiliSearch, PgSearch, PriceBucket, ProductDoc, Search, SearchError, SearchIndex, SearchQuery,
    SearchResult, Sort,
};
use agora_testkit::TestDb;
use anyhow::{ensure, Context};
use fake_meili::{FakeMeili, Script};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Harness

async fn pg_search(db: &TestDb) -> anyhow::Result<PgSearch> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&db.url())
        .await
        .context("connect to the test database")?;
    Ok(PgSearch::new(pool))
}

fn all() -> SearchQuery {
    SearchQuery {
        per_page: 100,
        ..SearchQuery::default()
    }
}

fn text(q: &str) -> SearchQuery {
    SearchQuery {
        q: Some(q.to_string()),
        ..all()
    }
}

fn ids(result: &SearchResult) -> Vec<String> {
    result.hits.iter().map(|d| d.id.clone()).collect()
}

fn id_set(docs: impl IntoIterator<Item = impl AsRef<str>>) -> BTreeSet<String> {
    docs.into_iter().map(|d| d.as_ref().to_string()).collect()
}

fn has_word_starting(haystack: &str, prefix: &str) -> bool {
    haystack
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w.to_lowercase().starts_with(prefix))
}

/// The order the contract specifies for a sort without query words.
fn expected_order(docs: &[ProductDoc], sort: Sort) -> Vec<String> {
    let mut docs: Vec<&ProductDoc> = docs.iter().collect();
    // Tie-breakers first (stable sort): newest first, then id.
    docs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    match sort {
        Sort::Relevance | Sort::Newest => {}
        Sort::PriceAsc => docs.sort_by_key(|d| d.price_min),
        Sort::PriceDesc => docs.sort_by_key(|d| std::cmp::Reverse(d.price_min)),
        // Unrated last: None < Some, so reverse an Option ordering that puts None first.
        Sort::RatingDesc => docs.sort_by_key(|d| std::cmp::Reverse(d.rating_tenths)),
    }
    docs.into_iter().map(|d| d.id.clone()).collect()
}

fn expected_facets(docs: &[&ProductDoc]) -> (BTreeMap<String, u64>, Vec<PriceBucket>) {
    let mut categories = BTreeMap::new();
    for doc in docs {
        for category in id_set(&doc.category_path) {
            *categories.entry(category).or_insert(0) += 1;
        }
    }
    let mut buckets = PriceBucket::empty_buckets();
    for doc in docs {
        for bucket in buckets.iter_mut() {
            if bucket.contains(doc.price_min) {
                bucket.count += 1;
            }
        }
    }
    (categories, buckets)
}

/// Searches and checks the answer against the fixture filtered by `keep`: same ids, same total,
/// same facets.
async fn check_filter<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
    query: SearchQuery,
    keep: impl Fn(&ProductDoc) -> bool,
) -> anyhow::Result<()> {
    let expected: Vec<&ProductDoc> = fixture.iter().filter(|d| keep(d)).collect();
    let result = index.search(&query).await?;
    ensure!(
        result.total == expected.len() as u64,
        "{query:?}: total {} but the fixture has {}",
        result.total,
        expected.len()
    );
    ensure!(
        id_set(ids(&result)) == id_set(expected.iter().map(|d| &d.id)),
        "{query:?}: hits {:?}",
        ids(&result)
    );
    let (categories, buckets) = expected_facets(&expected);
    ensure!(
        result.facets.categories == categories,
        "{query:?}: category facets {:?}, expected {categories:?}",
        result.facets.categories
    );
    ensure!(
        result.facets.price_ranges == buckets,
        "{query:?}: price buckets {:?}, expected {buckets:?}",
        result.facets.price_ranges
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The suite

/// Every check, in an order where the destructive ones come last. `index` must be empty.
async fn conformance<S: SearchIndex>(index: &S) -> anyhow::Result<()> {
    let fixture = fixture::products();
    index.ensure().await.context("ensure")?;
    index.ensure().await.context("ensure a second time")?;
    index.upsert(&fixture).await.context("index the fixture")?;

    an_empty_query_returns_everything_newest_first(index, &fixture)
        .await
        .context("an empty query returns everything newest first")?;
    a_query_word_with_one_typo_still_finds_the_product(index)
        .await
        .context("a query word with one typo still finds the product")?;
    an_exact_title_match_ranks_before_description_only_matches(index, &fixture)
        .await
        .context("an exact title match ranks before description-only matches")?;
    a_sku_finds_its_product(index)
        .await
        .context("a SKU finds its product")?;
    queries_that_name_a_product_rank_it_first(index)
        .await
        .context("queries that name a product rank it first")?;
    each_filter_agrees_with_the_fixture(index, &fixture)
        .await
        .context("each filter agrees with the fixture")?;
    every_sort_orders_the_hits_as_specified(index, &fixture)
        .await
        .context("every sort orders the hits as specified")?;
    a_sort_also_orders_text_matches(index)
        .await
        .context("a sort also orders text matches")?;
    page_two_continues_page_one_without_overlap(index, &fixture)
        .await
        .context("page two continues page one without overlap")?;
    invalid_queries_are_rejected_with_a_stable_code(index)
        .await
        .context("invalid queries are rejected with a stable code")?;
    hostile_input_is_treated_as_data(index, &fixture)
        .await
        .context("hostile input is treated as data")?;
    upserting_an_existing_id_replaces_the_document(index, &fixture)
        .await
        .context("upserting an existing id replaces the document")?;
    set_in_stock_flips_the_filter_and_ignores_unknown_ids(index, &fixture)
        .await
        .context("set_in_stock flips the filter and ignores unknown ids")?;
    delete_removes_documents_and_ignores_unknown_ids(index, &fixture)
        .await
        .context("delete removes documents and ignores unknown ids")?;
    a_rebuild_leaves_exactly_the_new_documents_searchable(index, &fixture)
        .await
        .context("a rebuild leaves exactly the new documents searchable")?;
    Ok(())
}

/// The relevance set: queries a shopper types when they mean one product of the fixture, and
/// that product. Both backends must rank it first (title words, a few typos, SKUs), however the
/// rest of the page is ordered. The pairs are written by hand, not derived from either backend.
const RELEVANCE_SET: &[(&str, &str)] = &[
    ("ethiopian coffee", "p01"),
    ("colombian coffee beans", "p02"),
    ("espresso machine", "p03"),
    ("coffee grinder", "p04"),
    ("countertop blender", "p05"),
    ("personal blender", "p06"),
    ("electric kettle", "p07"),
    ("gooseneck kettle", "p08"),
    ("whistling kettle", "p09"),
    ("tea sampler", "p10"),
    ("coffee dripper", "p11"),
    ("french press", "p12"),
    ("cast iron skillet", "p13"),
    ("frying pan", "p14"),
    ("stock pot", "p15"),
    ("dutch oven", "p16"),
    ("toaster", "p17"),
    ("stand mixer", "p18"),
    ("chef knife", "p19"),
    ("cutting board", "p20"),
    ("trail running shoes", "p21"),
    ("road running shoes", "p22"),
    ("racing flats", "p23"),
    ("hiking boots", "p24"),
    ("snow boots", "p25"),
    ("wellies", "p26"),
    ("merino socks", "p27"),
    ("chelsea boots", "p28"),
    ("duvet cover", "p29"),
    ("memory foam pillow", "p30"),
    ("linen sheet set", "p31"),
    ("weighted blanket", "p32"),
    ("desk lamp", "p33"),
    ("floor lamp", "p34"),
    ("fairy lights", "p35"),
    ("smart bulb", "p36"),
    ("soy candle", "p37"),
    ("wool throw", "p38"),
    ("plant pot", "p39"),
    ("wall clock", "p40"),
    ("tent", "p41"),
    ("sleeping bag", "p42"),
    ("camping stove", "p43"),
    ("water bottle", "p44"),
    ("headlamp", "p45"),
    ("camp chair", "p46"),
    ("hiking backpack", "p47"),
    ("trekking poles", "p48"),
    ("wireless headphones", "p49"),
    ("bluetooth speaker", "p50"),
    ("turntable", "p51"),
    ("earbuds", "p52"),
    ("usb charger", "p53"),
    ("power bank", "p54"),
    ("gift card", "p56"),
    ("cold brew coffee", "p57"),
    ("matcha whisk", "p58"),
    ("milk frother", "p59"),
    ("rice cooker", "p60"),
    // One typo each.
    ("espreso machine", "p03"),
    ("turntabel", "p51"),
    ("headphnes", "p49"),
    ("trekking polles", "p48"),
    // SKUs.
    ("COF-ETH-250", "p01"),
    ("HPH-NC-BLK", "p49"),
];

async fn queries_that_name_a_product_rank_it_first<S: SearchIndex>(
    index: &S,
) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for (q, want) in RELEVANCE_SET {
        let result = index.search(&text(q)).await?;
        let top: Vec<String> = ids(&result).into_iter().take(3).collect();
        if top.first().map(String::as_str) != Some(*want) {
            wrong.push(format!("{q:?}: wanted {want} first, got {top:?}"));
        }
    }
    ensure!(
        wrong.is_empty(),
        "{} of {} queries ranked another product first:\n{}",
        wrong.len(),
        RELEVANCE_SET.len(),
        wrong.join("\n")
    );
    Ok(())
}

async fn an_empty_query_returns_everything_newest_first<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    for q in [None, Some(""), Some("   ")] {
        let result = index
            .search(&SearchQuery {
                q: q.map(str::to_string),
                ..all()
            })
            .await?;
        ensure!(
            result.total == fixture.len() as u64,
            "total {}",
            result.total
        );
        ensure!(
            ids(&result) == expected_order(fixture, Sort::Relevance),
            "q={q:?}: order {:?}",
            ids(&result)
        );
    }
    let first = index.search(&all()).await?;
    let fetched = first
        .hits
        .iter()
        .find(|d| d.id == "p12")
        .context("p12 is in the catalog")?;
    let original = fixture.iter().find(|d| d.id == "p12").context("fixture")?;
    ensure!(
        fetched == original,
        "a hit comes back as indexed: {fetched:?}"
    );
    Ok(())
}

async fn a_query_word_with_one_typo_still_finds_the_product<S: SearchIndex>(
    index: &S,
) -> anyhow::Result<()> {
    let cases: [(&str, &str, &[&str]); 3] = [
        ("cofee", "coffee", &["p01", "p02", "p04", "p11", "p57"]),
        ("blendr", "blender", &["p05", "p06"]),
        ("runing shoes", "running", &["p21", "p22"]),
    ];
    for (q, word, must_find) in cases {
        let result = index.search(&text(q)).await?;
        let found = id_set(ids(&result));
        for id in must_find {
            ensure!(found.contains(*id), "{q:?} misses {id}: {:?}", ids(&result));
        }
        let top = result.hits.first().context("no hits")?;
        ensure!(
            has_word_starting(&top.title, word),
            "{q:?}: the first hit is {:?}",
            top.title
        );
    }
    Ok(())
}

async fn an_exact_title_match_ranks_before_description_only_matches<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    for word in ["kettle", "coffee"] {
        let in_title = id_set(
            fixture
                .iter()
                .filter(|d| has_word_starting(&d.title, word))
                .map(|d| &d.id),
        );
        let only_in_description = id_set(
            fixture
                .iter()
                .filter(|d| {
                    !has_word_starting(&d.title, word) && has_word_starting(&d.description, word)
                })
                .map(|d| &d.id),
        );
        let result = index.search(&text(word)).await?;
        let hits = ids(&result);
        ensure!(
            id_set(&hits[..in_title.len().min(hits.len())]) == in_title,
            "{word:?}: the first hits {hits:?} are not the title matches {in_title:?}"
        );
        let rest = id_set(&hits[in_title.len()..]);
        ensure!(
            only_in_description.is_subset(&rest),
            "{word:?}: description matches {only_in_description:?} missing from {hits:?}"
        );
    }
    Ok(())
}

async fn a_sku_finds_its_product<S: SearchIndex>(index: &S) -> anyhow::Result<()> {
    for (sku, id) in [
        ("BLD-900-BLK", "p05"),
        ("RUN-TRL-43", "p21"),
        ("cof-eth-250", "p01"),
    ] {
        let result = index.search(&text(sku)).await?;
        ensure!(
            result.hits.first().map(|d| d.id.as_str()) == Some(id),
            "{sku:?}: {:?}",
            ids(&result)
        );
    }
    Ok(())
}

async fn each_filter_agrees_with_the_fixture<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    let in_category =
        |c: &'static str| move |d: &ProductDoc| d.category_path.iter().any(|p| p == c);
    check_filter(index, fixture, all(), |_| true).await?;
    for category in [
        "kitchen",
        "kitchen-appliances",
        "coffee-tea",
        "footwear",
        "audio",
    ] {
        let query = SearchQuery {
            category: Some(category.into()),
            ..all()
        };
        check_filter(index, fixture, query, in_category(category)).await?;
    }
    let query = SearchQuery {
        category: Some("no-such-category".into()),
        ..all()
    };
    check_filter(index, fixture, query, |_| false).await?;
    let query = SearchQuery {
        price_min: Some(2_500),
        price_max: Some(10_000),
        ..all()
    };
    check_filter(index, fixture, query, |d| {
        (2_500..=10_000).contains(&d.price_min)
    })
    .await?;
    let query = SearchQuery {
        price_min: Some(25_000),
        ..all()
    };
    check_filter(index, fixture, query, |d| d.price_min >= 25_000).await?;
    let query = SearchQuery {
        price_max: Some(999),
        ..all()
    };
    check_filter(index, fixture, query, |d| d.price_min <= 999).await?;
    let query = SearchQuery {
        rating_min_tenths: Some(45),
        ..all()
    };
    check_filter(index, fixture, query, |d| {
        d.rating_tenths.is_some_and(|r| r >= 45)
    })
    .await?;
    let query = SearchQuery {
        rating_min_tenths: Some(0),
        ..all()
    };
    check_filter(index, fixture, query, |d| d.rating_tenths.is_some()).await?;
    for in_stock in [true, false] {
        let query = SearchQuery {
            in_stock: Some(in_stock),
            ..all()
        };
        check_filter(index, fixture, query, |d| d.in_stock == in_stock).await?;
    }
    let query = SearchQuery {
        category: Some("kitchen".into()),
        in_stock: Some(true),
        price_max: Some(5_000),
        rating_min_tenths: Some(40),
        ..all()
    };
    check_filter(index, fixture, query, |d| {
        in_category("kitchen")(d)
            && d.in_stock
            && d.price_min <= 5_000
            && d.rating_tenths.is_some_and(|r| r >= 40)
    })
    .await?;
    // Filters and words together: a filter narrows a text match exactly.
    let result = index
        .search(&SearchQuery {
            in_stock: Some(false),
            ..text("blender")
        })
        .await?;
    ensure!(
        ids(&result) == ["p06"],
        "out-of-stock blenders: {:?}",
        ids(&result)
    );
    Ok(())
}

async fn every_sort_orders_the_hits_as_specified<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    for sort in [
        Sort::Relevance,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::RatingDesc,
        Sort::Newest,
    ] {
        let result = index.search(&SearchQuery { sort, ..all() }).await?;
        ensure!(
            ids(&result) == expected_order(fixture, sort),
            "{sort:?}: {:?}",
            ids(&result)
        );
    }
    Ok(())
}

async fn a_sort_also_orders_text_matches<S: SearchIndex>(index: &S) -> anyhow::Result<()> {
    let result = index
        .search(&SearchQuery {
            sort: Sort::PriceAsc,
            ..text("coffee")
        })
        .await?;
    ensure!(result.hits.len() >= 5, "coffee matches: {:?}", ids(&result));
    ensure!(
        result
            .hits
            .windows(2)
            .all(|w| w[0].price_min <= w[1].price_min),
        "not cheapest first: {:?}",
        result.hits.iter().map(|d| d.price_min).collect::<Vec<_>>()
    );
    let result = index
        .search(&SearchQuery {
            sort: Sort::RatingDesc,
            ..text("kettle")
        })
        .await?;
    let ratings: Vec<_> = result.hits.iter().map(|d| d.rating_tenths).collect();
    ensure!(
        ratings.windows(2).all(|w| match (w[0], w[1]) {
            (Some(a), Some(b)) => a >= b,
            (_, None) => true,
            (None, Some(_)) => false,
        }),
        "not best rated first: {ratings:?}"
    );
    Ok(())
}

async fn page_two_continues_page_one_without_overlap<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    let page = |page, per_page| SearchQuery {
        page,
        per_page,
        ..all()
    };
    let first = index.search(&page(1, 7)).await?;
    let second = index.search(&page(2, 7)).await?;
    let both = index.search(&page(1, 14)).await?;
    ensure!(
        first.total == 60 && second.total == 60,
        "totals change between pages"
    );
    ensure!(
        (first.page, first.per_page, second.page) == (1, 7, 2),
        "page numbers"
    );
    let joined: Vec<_> = ids(&first).into_iter().chain(ids(&second)).collect();
    ensure!(joined == ids(&both), "pages {joined:?} vs {:?}", ids(&both));
    ensure!(id_set(&joined).len() == 14, "pages overlap");
    let last = index.search(&page(9, 7)).await?;
    ensure!(
        last.hits.len() == fixture.len() - 56,
        "last page: {:?}",
        ids(&last)
    );
    let beyond = index.search(&page(10, 7)).await?;
    ensure!(beyond.hits.is_empty() && beyond.total == 60, "past the end");

    // Text matches page the same way.
    let coffee = index.search(&text("coffee")).await?;
    let mut paged = Vec::new();
    for n in 1..=coffee.total.div_ceil(2) as u32 {
        let result = index
            .search(&SearchQuery {
                page: n,
                per_page: 2,
                ..text("coffee")
            })
            .await?;
        ensure!(
            result.total == coffee.total,
            "text total changes between pages"
        );
        paged.extend(ids(&result));
    }
    ensure!(
        paged == ids(&coffee),
        "paged {paged:?} vs {:?}",
        ids(&coffee)
    );
    Ok(())
}

async fn invalid_queries_are_rejected_with_a_stable_code<S: SearchIndex>(
    index: &S,
) -> anyhow::Result<()> {
    let invalid = [
        SearchQuery {
            per_page: 0,
            ..all()
        },
        SearchQuery {
            per_page: 101,
            ..all()
        },
        SearchQuery { page: 0, ..all() },
        SearchQuery { page: 101, ..all() },
        SearchQuery {
            price_min: Some(-1),
            ..all()
        },
        SearchQuery {
            price_max: Some(-5),
            ..all()
        },
        SearchQuery {
            price_min: Some(10),
            price_max: Some(9),
            ..all()
        },
        SearchQuery {
            rating_min_tenths: Some(51),
            ..all()
        },
        SearchQuery {
            rating_min_tenths: Some(-1),
            ..all()
        },
        text(&"k".repeat(201)),
        SearchQuery {
            category: Some("kitchen\" OR in_stock = true".into()),
            ..all()
        },
    ];
    for query in invalid {
        match index.search(&query).await {
            Err(e @ SearchError::Invalid(_)) => {
                ensure!(e.code() == "search.invalid_query", "code {}", e.code());
            }
            other => anyhow::bail!("{query:?} was not rejected: {:?}", other.map(|r| r.total)),
        }
    }
    Ok(())
}

async fn hostile_input_is_treated_as_data<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    for q in [
        "'; DROP TABLE search_products; --",
        "coffee:* | !kettle & (",
        "\\\"\" OR 1=1",
        "%_%",
        "🙂☕",
    ] {
        index
            .search(&text(q))
            .await
            .with_context(|| format!("searching {q:?}"))?;
    }
    let everything = index.search(&all()).await?;
    ensure!(
        everything.total == fixture.len() as u64,
        "the catalog changed"
    );
    Ok(())
}

async fn upserting_an_existing_id_replaces_the_document<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    let mut doc = fixture
        .iter()
        .find(|d| d.id == "p39")
        .context("p39")?
        .clone();
    doc.title = "Zyzzyva Terracotta Planter".into();
    doc.price_min = 1_300;
    doc.price_max = 1_300;
    index.upsert(std::slice::from_ref(&doc)).await?;
    let found = index.search(&text("zyzzyva")).await?;
    ensure!(
        found.hits == [doc.clone()],
        "replaced doc: {:?}",
        found.hits
    );
    let old = index.search(&text("ceramic plant")).await?;
    ensure!(
        !ids(&old).contains(&"p39".to_string()),
        "the old title still matches"
    );
    ensure!(
        index.search(&all()).await?.total == 60,
        "an upsert of an existing id added a doc"
    );
    // Put the original back for the checks that follow.
    let original = fixture.iter().find(|d| d.id == "p39").context("p39")?;
    index.upsert(std::slice::from_ref(original)).await?;
    Ok(())
}

async fn set_in_stock_flips_the_filter_and_ignores_unknown_ids<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    let in_stock = |v| SearchQuery {
        in_stock: Some(v),
        ..all()
    };
    let before = index.search(&in_stock(true)).await?.total;
    index
        .set_in_stock(&[
            ("p07".to_string(), false),
            ("p06".to_string(), true),
            ("p13".to_string(), true),
            ("no-such-product".to_string(), false),
        ])
        .await?;
    let after = index.search(&in_stock(true)).await?;
    ensure!(
        after.total == before,
        "one out, one in: {} vs {before}",
        after.total
    );
    ensure!(
        !ids(&after).contains(&"p07".to_string()),
        "p07 still in stock"
    );
    ensure!(ids(&after).contains(&"p06".to_string()), "p06 not in stock");
    let out = index.search(&in_stock(false)).await?;
    ensure!(
        ids(&out).contains(&"p07".to_string()),
        "p07 not out of stock"
    );
    ensure!(
        index.search(&all()).await?.total == fixture.len() as u64,
        "an unknown id created a document"
    );
    index
        .set_in_stock(&[("p07".to_string(), true), ("p06".to_string(), false)])
        .await?;
    Ok(())
}

async fn delete_removes_documents_and_ignores_unknown_ids<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    index
        .delete(&[
            "p05".to_string(),
            "p49".to_string(),
            "no-such-product".to_string(),
        ])
        .await?;
    index.delete(&[]).await?;
    let result = index.search(&all()).await?;
    ensure!(
        result.total == fixture.len() as u64 - 2,
        "total {}",
        result.total
    );
    let blender = index.search(&text("countertop blender")).await?;
    ensure!(
        !ids(&blender).contains(&"p05".to_string()),
        "p05 still found"
    );
    let headphones = index.search(&text("headphones")).await?;
    ensure!(
        headphones.total == 0,
        "p49 still found: {:?}",
        ids(&headphones)
    );
    let audio = index
        .search(&SearchQuery {
            category: Some("audio".into()),
            ..all()
        })
        .await?;
    ensure!(
        audio.facets.categories.get("audio") == Some(&3),
        "facets still count p49: {:?}",
        audio.facets.categories
    );
    Ok(())
}

async fn a_rebuild_leaves_exactly_the_new_documents_searchable<S: SearchIndex>(
    index: &S,
    fixture: &[ProductDoc],
) -> anyhow::Result<()> {
    let subset: Vec<ProductDoc> = fixture
        .iter()
        .filter(|d| {
            [
                "p01", "p02", "p05", "p07", "p21", "p33", "p41", "p49", "p55", "p60",
            ]
            .contains(&d.id.as_str())
        })
        .cloned()
        .collect();
    let target = index.begin_rebuild().await?;
    // The live index still answers while the rebuild fills.
    ensure!(
        index.search(&all()).await?.total == 58,
        "the live index changed"
    );
    index.upsert_into(&target, &subset[..4]).await?;
    index.upsert_into(&target, &subset[4..]).await?;
    ensure!(
        index.search(&all()).await?.total == 58,
        "the live index changed"
    );
    index.finish_rebuild(target).await?;

    let result = index.search(&all()).await?;
    ensure!(
        result.total == subset.len() as u64,
        "total {}",
        result.total
    );
    ensure!(
        ids(&result) == expected_order(&subset, Sort::Relevance),
        "after the rebuild: {:?}",
        ids(&result)
    );
    let typo = index.search(&text("cofee")).await?;
    ensure!(
        id_set(ids(&typo)) == id_set(["p01", "p02"]),
        "typo search: {:?}",
        ids(&typo)
    );
    let (categories, _) = expected_facets(&subset.iter().collect::<Vec<_>>());
    ensure!(
        result.facets.categories == categories,
        "facets after the rebuild"
    );

    // The swapped-in index is a normal live index: ensure, writes and a second rebuild work.
    index.ensure().await?;
    index.delete(&["p60".to_string()]).await?;
    ensure!(
        index.search(&all()).await?.total == 9,
        "delete after the rebuild"
    );
    let target = index.begin_rebuild().await?;
    index.upsert_into(&target, &subset[..1]).await?;
    index.finish_rebuild(target).await?;
    ensure!(
        ids(&index.search(&all()).await?) == ["p01"],
        "second rebuild"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn postgres_search_passes_the_conformance_suite() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pg = pg_search(&db).await?;
    conformance(&pg).await?;

    // A rebuild leaves one table (and its vocabulary) with one set of indexes, named after the
    // live table.
    let pool = sqlx::PgPool::connect(&db.url()).await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'search_products%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        tables,
        [
            "search_products",
            "search_products_paths",
            "search_products_words"
        ]
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'search_products' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        indexes,
        [
            "search_products_category_cov_idx",
            "search_products_newest_c_idx",
            "search_products_pkey",
            "search_products_price_cov_idx",
            "search_products_tsv_idx",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn the_combined_search_without_meilisearch_passes_the_conformance_suite() -> anyhow::Result<()>
{
    let db = TestDb::create().await?;
    let pool = sqlx::PgPool::connect(&db.url()).await?;
    let search = Search::postgres(PgSearch::with_table(pool, "products_search")?);
    conformance(&search).await
}

#[tokio::test]
async fn meilisearch_passes_the_conformance_suite_when_meili_url_is_set() -> anyhow::Result<()> {
    let Ok(url) = std::env::var("MEILI_URL") else {
        eprintln!("MEILI_URL is not set: the Meilisearch conformance run is skipped");
        return Ok(());
    };
    let key = std::env::var("MEILI_KEY").ok();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let uid = format!("agora_search_test_{}_{nanos}", std::process::id());
    let meili = MeiliSearch::new(&url, key.as_deref(), &uid)?;
    let outcome = conformance(&meili).await;
    meili
        .delete_index()
        .await
        .context("delete the test index")?;
    outcome
}

#[tokio::test]
async fn meilisearch_at_a_closed_port_is_unavailable() -> anyhow::Result<()> {
    let meili = MeiliSearch::new("http://127.0.0.1:1", None, "products")?;
    let err = meili
        .search(&all())
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(err.code(), "search.unavailable");
    let err = meili.ensure().await.expect_err("nothing listens on port 1");
    assert!(err.is_unavailable(), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn a_meilisearch_that_never_answers_times_out_as_unavailable() -> anyhow::Result<()> {
    // Accepts connections (the kernel completes the handshake) but never reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", silent.local_addr()?);
    let meili = MeiliSearch::new(&url, None, "products")?
        .with_timeouts(Duration::from_millis(200), Duration::from_secs(1));
    let err = meili
        .search(&all())
        .await
        .expect_err("the server never answers");
    assert!(err.is_unavailable(), "{err:?}");
    drop(silent);
    Ok(())
}

#[tokio::test]
async fn search_answers_from_postgres_when_meilisearch_is_unreachable() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pg = pg_search(&db).await?;
    let search = Search::new(
        pg.clone(),
        Some(MeiliSearch::new("http://127.0.0.1:1", None, "products")?),
    );
    let fixture = fixture::products();

    // Postgres is written first, so a failed Meilisearch write still leaves Postgres current,
    // and the error reaches the caller so that it retries.
    let err = search.ensure().await.expect_err("meilisearch is down");
    assert!(err.is_unavailable(), "{err:?}");
    let err = search
        .upsert(&fixture)
        .await
        .expect_err("meilisearch is down");
    assert!(err.is_unavailable(), "{err:?}");

    let result = search.search(&text("cofee")).await?;
    assert!(
        ids(&result).contains(&"p01".to_string()),
        "{:?}",
        ids(&result)
    );
    let everything = search.search(&all()).await?;
    assert_eq!(everything.total, 60);
    assert_eq!(everything, pg.search(&all()).await?);

    // An invalid query is the caller's mistake: no fallback, the stable code.
    let err = search
        .search(&SearchQuery { page: 0, ..all() })
        .await
        .expect_err("page 0");
    assert_eq!(err.code(), "search.invalid_query");
    Ok(())
}

#[tokio::test]
async fn concurrent_ensure_calls_on_a_fresh_database_all_succeed() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pg = pg_search(&db).await?;
    let (a, b, c) = tokio::join!(pg.ensure(), pg.ensure(), pg.ensure());
    a?;
    b?;
    c?;
    pg.upsert(&fixture::products()).await?;
    assert_eq!(pg.search(&all()).await?.total, 60);
    Ok(())
}

#[tokio::test]
async fn documents_both_backends_would_refuse_are_rejected_before_any_write() -> anyhow::Result<()>
{
    let db = TestDb::create().await?;
    let pg = pg_search(&db).await?;
    pg.ensure().await?;
    let mut docs = fixture::products();
    docs[3].id = "bad id".into();
    let err = pg.upsert(&docs).await.expect_err("a bad id");
    assert_eq!(err.code(), "search.invalid_document");
    assert_eq!(
        pg.search(&all()).await?.total,
        0,
        "nothing of the batch was written"
    );
    let mut docs = fixture::products();
    docs[5].category_path = vec!["kitchen".into(), "mugs\u{1f}cups".into()];
    let err = pg
        .upsert(&docs)
        .await
        .expect_err("a control character in a category id");
    assert_eq!(err.code(), "search.invalid_document");
    docs[5].category_path = vec![String::new()];
    let err = pg.upsert(&docs).await.expect_err("an empty category id");
    assert_eq!(err.code(), "search.invalid_document");
    assert_eq!(pg.search(&all()).await?.total, 0);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Our side of the Meilisearch wire, against a scripted fake (no real server runs here)

fn fake_client(fake: &FakeMeili) -> anyhow::Result<MeiliSearch> {
    Ok(MeiliSearch::new(&fake.url, Some("test-key"), "products")?)
}

#[tokio::test]
async fn ensure_creates_the_index_and_sends_the_settings_the_contract_needs() -> anyhow::Result<()>
{
    let fake = FakeMeili::start(Script::default()).await;
    fake_client(&fake)?.ensure().await?;
    assert_eq!(
        fake.calls(),
        ["POST /indexes", "PATCH /indexes/products/settings"]
    );
    let requests = fake.requests();
    assert_eq!(
        requests[0].body,
        json!({"uid": "products", "primaryKey": "id"})
    );
    let settings = &requests[1].body;
    assert_eq!(
        settings["searchableAttributes"],
        json!(["title", "skus", "description"])
    );
    assert_eq!(
        settings["filterableAttributes"],
        json!([
            "category_path",
            "price_min",
            "price_bucket",
            "rating_tenths",
            "in_stock",
            "vendor_id"
        ])
    );
    assert_eq!(
        settings["sortableAttributes"],
        json!(["price_min", "rating_tenths", "created_at_ts", "id"])
    );
    assert_eq!(
        settings["rankingRules"],
        json!([
            "sort",
            "words",
            "typo",
            "attribute",
            "proximity",
            "exactness"
        ])
    );
    assert_eq!(settings["typoTolerance"]["enabled"], json!(true));
    assert_eq!(settings["pagination"], json!({"maxTotalHits": 10_000}));
    assert_eq!(settings["faceting"]["maxValuesPerFacet"], json!(1_000));
    Ok(())
}

#[tokio::test]
async fn ensure_accepts_an_index_that_already_exists() -> anyhow::Result<()> {
    let fake = FakeMeili::start(Script {
        failing: vec![("POST", "/indexes", "index_already_exists")],
        ..Script::default()
    })
    .await;
    fake_client(&fake)?.ensure().await?;
    Ok(())
}

#[tokio::test]
async fn a_failed_task_is_an_error_although_the_sdk_returns_it_as_ok() -> anyhow::Result<()> {
    let fake = FakeMeili::start(Script {
        failing: vec![
            (
                "PATCH",
                "/indexes/products/settings",
                "invalid_settings_ranking_rules",
            ),
            (
                "POST",
                "/indexes/products/documents",
                "invalid_document_fields",
            ),
        ],
        ..Script::default()
    })
    .await;
    let meili = fake_client(&fake)?;
    let err = meili.ensure().await.expect_err("the settings task failed");
    assert_eq!(err.code(), "search.internal");
    let detail = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        detail.contains("invalid_settings_ranking_rules"),
        "{detail}"
    );
    let err = meili
        .upsert(&fixture::products())
        .await
        .expect_err("the document task failed");
    assert_eq!(err.code(), "search.internal");
    Ok(())
}

#[tokio::test]
async fn a_task_that_never_finishes_is_unavailable_after_the_task_timeout() -> anyhow::Result<()> {
    let fake = FakeMeili::start(Script {
        stuck: true,
        ..Script::default()
    })
    .await;
    let meili =
        fake_client(&fake)?.with_timeouts(Duration::from_secs(1), Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = meili
        .delete(&["p01".to_string()])
        .await
        .expect_err("the task never finishes");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_search_is_one_search_request_with_exact_totals_and_price_bucket_facet_counts(
) -> anyhow::Result<()> {
    let doc = fixture::products().remove(6);
    let mut hit = serde_json::to_value(&doc)?;
    hit["created_at_ts"] = json!(doc.created_at.timestamp());
    hit["price_bucket"] = json!(agora_search::price_bucket(doc.price_min));
    let fake = FakeMeili::start(Script {
        replies: vec![(
            "POST",
            "/indexes/products/search",
            json!({"hits": [hit], "query": "kettle", "processingTimeMs": 1,
                   "hitsPerPage": 5, "page": 2, "totalPages": 9, "totalHits": 42,
                   "facetDistribution": {
                       "category_path": {"kitchen": 42, "kitchen-appliances": 30},
                       "price_bucket": {"0": 1, "1": 2, "2": 3, "3": 4, "5": 27}},
                   "facetStats": {}}),
        )],
        ..Script::default()
    })
    .await;
    let query = SearchQuery {
        q: Some("kettle".into()),
        category: Some("kitchen".into()),
        in_stock: Some(true),
        sort: Sort::PriceAsc,
        page: 2,
        per_page: 5,
        ..SearchQuery::default()
    };
    let result = fake_client(&fake)?.search(&query).await?;

    assert_eq!(fake.calls(), ["POST /indexes/products/search"]);
    let request = &fake.requests()[0];
    assert!(
        !request.chunked,
        "the body goes with its length, not streamed in chunks"
    );
    assert_eq!(request.authorization.as_deref(), Some("Bearer test-key"));
    let page = &request.body;
    assert_eq!(page["q"], "kettle");
    assert_eq!(
        (page["page"].clone(), page["hitsPerPage"].clone()),
        (json!(2), json!(5))
    );
    assert_eq!(
        page["filter"],
        "category_path = \"kitchen\" AND in_stock = true"
    );
    assert_eq!(
        page["sort"],
        json!(["price_min:asc", "created_at_ts:desc", "id:asc"])
    );
    assert_eq!(page["facets"], json!(["category_path", "price_bucket"]));
    assert!(
        page.get("offset").is_none() && page.get("limit").is_none(),
        "page-based only"
    );

    assert_eq!(result.total, 42);
    assert_eq!((result.page, result.per_page), (2, 5));
    assert_eq!(result.hits, [doc]);
    assert_eq!(
        result.facets.categories.get("kitchen-appliances"),
        Some(&30)
    );
    let counts: Vec<u64> = result.facets.price_ranges.iter().map(|b| b.count).collect();
    assert_eq!(
        counts,
        [1, 2, 3, 4, 0, 27],
        "a bucket nobody is in counts 0"
    );
    Ok(())
}

#[tokio::test]
async fn set_in_stock_patches_only_documents_that_exist() -> anyhow::Result<()> {
    let fake = FakeMeili::start(Script {
        replies: vec![(
            "POST",
            "/indexes/products/documents/fetch",
            json!({"results": [{"id": "p1"}], "offset": 0, "limit": 2, "total": 1}),
        )],
        ..Script::default()
    })
    .await;
    fake_client(&fake)?
        .set_in_stock(&[
            ("p1".to_string(), true),
            ("ghost".to_string(), true),
            ("p1".to_string(), false),
        ])
        .await?;
    assert_eq!(
        fake.calls(),
        [
            "POST /indexes/products/documents/fetch",
            "PUT /indexes/products/documents?primaryKey=id"
        ]
    );
    let requests = fake.requests();
    assert_eq!(requests[0].body["ids"], json!(["ghost", "p1"]));
    assert_eq!(requests[0].body["fields"], json!(["id"]));
    assert_eq!(requests[1].body, json!([{"id": "p1", "in_stock": false}]));
    Ok(())
}

#[tokio::test]
async fn a_meilisearch_rebuild_fills_a_fresh_index_swaps_it_in_and_deletes_the_old_one(
) -> anyhow::Result<()> {
    let index = |uid: &str| json!({"uid": uid, "primaryKey": "id", "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"});
    let fake = FakeMeili::start(Script {
        replies: vec![(
            "GET",
            "/indexes",
            json!({"results": [index("products"), index("products_rebuild_17"), index("other")],
                   "offset": 0, "limit": 100, "total": 3}),
        )],
        ..Script::default()
    })
    .await;
    let meili = fake_client(&fake)?;
    let target = meili.begin_rebuild().await?;
    meili
        .upsert_into(&target, &fixture::products()[..3])
        .await?;
    meili.finish_rebuild(target).await?;

    let requests = fake.requests();
    let created = requests
        .iter()
        .find(|r| r.method == "POST" && r.path == "/indexes")
        .and_then(|r| r.body["uid"].as_str())
        .context("a rebuild index was created")?
        .to_string();
    assert!(created.starts_with("products_rebuild_"), "{created}");
    assert_eq!(
        fake.calls(),
        [
            "GET /indexes?offset=0&limit=100".to_string(),
            "DELETE /indexes/products_rebuild_17".to_string(),
            "POST /indexes".to_string(),
            format!("PATCH /indexes/{created}/settings"),
            format!("POST /indexes/{created}/documents?primaryKey=id"),
            "POST /indexes".to_string(),
            "PATCH /indexes/products/settings".to_string(),
            "POST /swap-indexes".to_string(),
            format!("DELETE /indexes/{created}"),
        ]
    );
    let swap = requests
        .iter()
        .find(|r| r.path == "/swap-indexes")
        .context("swap")?;
    assert_eq!(swap.body, json!([{"indexes": ["products", created]}]));
    let docs = requests
        .iter()
        .find(|r| r.path.contains("/documents"))
        .context("documents")?;
    assert_eq!(docs.body.as_array().map(Vec::len), Some(3));
    assert_eq!(
        docs.body[0]["created_at_ts"],
        json!(fixture::products()[0].created_at.timestamp())
    );
    Ok(())
}

/// The search table as the release before the vocabulary made it (trigram index aside).
const PREVIOUS_SCHEMA: &str = "
CREATE OR REPLACE FUNCTION agora_search_join(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$;
CREATE TABLE search_products (
    id            text        NOT NULL,
    title         text        NOT NULL,
    description   text        NOT NULL,
    vendor_id     text        NOT NULL,
    category_id   text,
    category_path text[]      NOT NULL,
    price_min     bigint      NOT NULL,
    price_max     bigint      NOT NULL,
    currency      text        NOT NULL,
    rating_tenths integer,
    in_stock      boolean     NOT NULL,
    skus          text[]      NOT NULL,
    image_url     text,
    created_at    timestamptz NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A')
        || setweight(to_tsvector('simple'::regconfig, agora_search_join(skus)), 'A')
        || setweight(to_tsvector('simple'::regconfig, description), 'B')
    ) STORED,
    CONSTRAINT search_products_pkey PRIMARY KEY (id)
);
CREATE INDEX search_products_tsv_idx ON search_products USING gin (tsv);
CREATE INDEX search_products_category_path_idx ON search_products USING gin (category_path);
CREATE INDEX search_products_price_min_idx ON search_products (price_min);
CREATE INDEX search_products_newest_idx ON search_products (created_at DESC, id);
";

#[tokio::test]
async fn ensure_upgrades_a_table_made_by_the_previous_version() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = sqlx::PgPool::connect(&db.url()).await?;
    sqlx::raw_sql(PREVIOUS_SCHEMA).execute(&pool).await?;
    let docs = fixture::products();
    sqlx::query(
        "INSERT INTO search_products (id, title, description, vendor_id, category_id, \
             category_path, price_min, price_max, currency, rating_tenths, in_stock, skus, \
             image_url, created_at) \
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS d(id text, title text, \
             description text, vendor_id text, category_id text, category_path text[], \
             price_min bigint, price_max bigint, currency text, rating_tenths integer, \
             in_stock boolean, skus text[], image_url text, created_at timestamptz)",
    )
    .bind(sqlx::types::Json(&docs))
    .execute(&pool)
    .await?;

    let pg = pg_search(&db).await?;
    pg.ensure().await?;

    // The vocabulary and the paths were filled from the rows already there.
    let typo = pg.search(&text("blendr")).await?;
    ensure!(
        id_set(ids(&typo)).is_superset(&id_set(["p05", "p06"])),
        "typo search after the upgrade: {:?}",
        ids(&typo)
    );
    let kitchen = pg
        .search(&SearchQuery {
            category: Some("kitchen".into()),
            ..all()
        })
        .await?;
    let expected = docs
        .iter()
        .filter(|d| d.category_path.iter().any(|c| c == "kitchen"))
        .count() as u64;
    ensure!(
        expected > 0 && kitchen.total == expected,
        "{} != {expected}",
        kitchen.total
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'search_products' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    ensure!(
        indexes
            == [
                "search_products_category_cov_idx",
                "search_products_newest_c_idx",
                "search_products_pkey",
                "search_products_price_cov_idx",
                "search_products_tsv_idx",
            ],
        "{indexes:?}"
    );
    // A second start changes nothing.
    pg.ensure().await?;
    ensure!(pg.search(&text("blendr")).await?.total == typo.total);
    Ok(())
}

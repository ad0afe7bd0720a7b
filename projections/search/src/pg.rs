//! The Postgres backend: one table, full-text search plus trigram typo tolerance.
//!
//! Design:
//! - the table holds the document as columns plus a generated `tsv`: title and SKUs with weight A,
//!   description with weight B, all with the `simple` configuration (lower-casing, no stemming
//!   and no stop words), because Meilisearch does not stem either and SKUs must stay intact;
//! - a query word matches when it is a lexeme of `tsv` (the last word as a prefix while it is
//!   being typed) or, for words of five letters or more, when its trigram `word_similarity` to
//!   the title reaches 0.5 (`<%` with `pg_trgm.word_similarity_threshold` set per transaction,
//!   so the GIN trigram index serves it). All words must match;
//! - relevance ranks documents whose title or SKUs hold every word exactly first, then those that
//!   hold every word anywhere, then typo matches; within a tier by `ts_rank`, then trigram
//!   similarity, then newest, then id;
//! - hits, total and facets are read in one `REPEATABLE READ` read-only transaction, so they
//!   describe the same snapshot; facets are SQL over the filtered set (`unnest(category_path)`,
//!   `width_bucket(price_min, bounds)`);
//! - user input only ever travels as bound parameters; the SQL text is built from fixed
//!   fragments and the table name, which is validated configuration.
//!
//! Trigram similarity is a little more generous than Meilisearch's one-typo rule (`shoes` is
//! 0.5 similar to `shower`); such matches rank last.

use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{Executor, PgPool, Postgres, QueryBuilder};
use tracing::Instrument;

use crate::text::{all_words_tsquery, plain, words, Word};
use crate::{
    Facets, PriceBucket, ProductDoc, SearchError, SearchIndex, SearchQuery, SearchResult, Sort,
    PRICE_BUCKET_BOUNDS,
};

/// The live table's default name.
pub const DEFAULT_TABLE: &str = "search_products";
/// Minimum trigram word similarity for a typo match.
const TYPO_SIMILARITY: &str = "0.5";
/// Serialises `ensure` and rebuild DDL of all processes on one database ("agorasrc").
const DDL_LOCK: i64 = 0x6167_6f72_6173_7263;
/// Documents per `INSERT` statement; one upsert call is still one transaction.
const CHUNK: usize = 500;
/// Suffixes of the secondary indexes; names are `<table>_<suffix>`, renamed with the table.
const INDEX_SUFFIXES: [&str; 5] = [
    "tsv_idx",
    "title_trgm_idx",
    "category_path_idx",
    "price_min_idx",
    "newest_idx",
];
const COLUMNS: &str = "id, title, description, vendor_id, category_id, category_path, price_min, \
     price_max, currency, rating_tenths, in_stock, skus, image_url, created_at";

/// Search over a Postgres table.
#[derive(Clone, Debug)]
pub struct PgSearch {
    /// Shared with the rest of the process; search holds no connection of its own.
    pool: PgPool,
    /// The live table; a rebuild fills `<table>_rebuild` and renames it into place.
    table: String,
}

/// A table name that could not be used safely in SQL text.
#[derive(Debug, thiserror::Error)]
#[error("table name must be 1 to 40 characters of a-z 0-9 _, not starting with a digit")]
pub struct InvalidTableName;

/// The table a rebuild fills; only [`PgSearch::begin_rebuild`] makes one.
#[derive(Debug)]
pub struct PgRebuild {
    table: String,
}

impl PgSearch {
    /// Search over [`DEFAULT_TABLE`].
    pub fn new(pool: PgPool) -> PgSearch {
        PgSearch {
            pool,
            table: DEFAULT_TABLE.to_string(),
        }
    }

    /// Search over another table, e.g. one per tenant or per test. At most 40 characters, so
    /// that `<table>_rebuild_title_trgm_idx` still fits Postgres's 63-byte identifiers.
    pub fn with_table(pool: PgPool, table: &str) -> Result<PgSearch, InvalidTableName> {
        let ok = (1..=40).contains(&table.len())
            && table
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !table.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(InvalidTableName);
        }
        Ok(PgSearch {
            pool,
            table: table.to_string(),
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn rebuild_table(&self) -> String {
        format!("{}_rebuild", self.table)
    }

    async fn upsert_table(&self, table: &str, docs: &[ProductDoc]) -> Result<(), SearchError> {
        for doc in docs {
            doc.validate()?;
        }
        let docs = last_per_key(docs, |d| d.id.as_str());
        if docs.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO {table} ({COLUMNS}) \
             SELECT {COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS d(\
                 id text, title text, description text, vendor_id text, category_id text, \
                 category_path text[], price_min bigint, price_max bigint, currency text, \
                 rating_tenths integer, in_stock boolean, skus text[], image_url text, \
                 created_at timestamptz) \
             ON CONFLICT (id) DO UPDATE SET \
                 title = EXCLUDED.title, description = EXCLUDED.description, \
                 vendor_id = EXCLUDED.vendor_id, category_id = EXCLUDED.category_id, \
                 category_path = EXCLUDED.category_path, price_min = EXCLUDED.price_min, \
                 price_max = EXCLUDED.price_max, currency = EXCLUDED.currency, \
                 rating_tenths = EXCLUDED.rating_tenths, in_stock = EXCLUDED.in_stock, \
                 skus = EXCLUDED.skus, image_url = EXCLUDED.image_url, \
                 created_at = EXCLUDED.created_at"
        );
        let mut tx = self.pool.begin().await?;
        for chunk in docs.chunks(CHUNK) {
            sqlx::query(&sql)
                .bind(sqlx::types::Json(chunk))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Creates the extension, the helper function and a table (with its secondary indexes when
    /// asked), holding the DDL lock so that concurrent starts do not race on the catalog.
    async fn create_table(
        &self,
        table: &str,
        drop_first: bool,
        with_indexes: bool,
    ) -> Result<(), SearchError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(DDL_LOCK)
            .execute(&mut *tx)
            .await?;
        let mut ddl = String::from(PREAMBLE);
        if drop_first {
            ddl.push_str(&format!("DROP TABLE IF EXISTS {table};\n"));
        }
        ddl.push_str(&create_table_sql(table));
        if with_indexes {
            ddl.push_str(&index_sql(table, table));
        }
        // `Executor::execute` rather than `RawSql::execute`: the latter's future is not `Send`
        // for every lifetime, which the trait's `Send` bound needs.
        (&mut *tx).execute(sqlx::raw_sql(&ddl)).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The extension and an immutable `text[] -> text` join: `array_to_string` is only `STABLE`,
/// which a generated column does not accept.
const PREAMBLE: &str = "\
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE OR REPLACE FUNCTION agora_search_join(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$;
";

fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
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
    CONSTRAINT {table}_pkey PRIMARY KEY (id)
);
"
    )
}

/// Secondary indexes of `table`, named `<prefix>_<suffix>` in the order of [`INDEX_SUFFIXES`].
fn index_sql(table: &str, prefix: &str) -> String {
    let defs = [
        "USING gin (tsv)",
        "USING gin (title gin_trgm_ops)",
        "USING gin (category_path)",
        "(price_min)",
        "(created_at DESC, id)",
    ];
    INDEX_SUFFIXES
        .iter()
        .zip(defs)
        .map(|(suffix, def)| {
            format!("CREATE INDEX IF NOT EXISTS {prefix}_{suffix} ON {table} {def};\n")
        })
        .collect()
}

/// Keeps the last occurrence of each key, in first-seen order: `ON CONFLICT` cannot touch one
/// row twice in a statement, and the last write of a batch is the one that should win.
fn last_per_key<'a, T: Clone>(items: &'a [T], key: impl Fn(&'a T) -> &'a str) -> Vec<T> {
    let mut position = std::collections::HashMap::new();
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        match position.get(key(item)) {
            Some(&i) => out[i] = item.clone(),
            None => {
                position.insert(key(item), out.len());
                out.push(item.clone());
            }
        }
    }
    out
}

fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, query: &SearchQuery, words: &[Word]) {
    qb.push(" WHERE TRUE");
    for word in words {
        qb.push(" AND (p.tsv @@ to_tsquery('simple', ")
            .push_bind(word.tsquery())
            .push(")");
        if word.fuzzy {
            qb.push(" OR ")
                .push_bind(word.text.clone())
                .push(" <% p.title");
        }
        qb.push(")");
    }
    if let Some(category) = &query.category {
        qb.push(" AND p.category_path @> ARRAY[")
            .push_bind(category.clone())
            .push("]::text[]");
    }
    if let Some(min) = query.price_min {
        qb.push(" AND p.price_min >= ").push_bind(min);
    }
    if let Some(max) = query.price_max {
        qb.push(" AND p.price_min <= ").push_bind(max);
    }
    if let Some(rating) = query.rating_min_tenths {
        qb.push(" AND p.rating_tenths >= ").push_bind(rating);
    }
    if let Some(in_stock) = query.in_stock {
        qb.push(" AND p.in_stock = ").push_bind(in_stock);
    }
}

fn push_order(qb: &mut QueryBuilder<'_, Postgres>, sort: Sort, words: &[Word]) {
    const TIE: &str = "p.created_at DESC, p.id COLLATE \"C\"";
    match sort {
        Sort::Relevance if !words.is_empty() => {
            let all = all_words_tsquery(words);
            qb.push(" ORDER BY CASE WHEN ts_filter(p.tsv, '{a}') @@ to_tsquery('simple', ")
                .push_bind(all.clone())
                .push(") THEN 0 WHEN p.tsv @@ to_tsquery('simple', ")
                .push_bind(all.clone())
                .push(") THEN 1 ELSE 2 END, ts_rank(p.tsv, to_tsquery('simple', ")
                .push_bind(all)
                .push(")) DESC, word_similarity(")
                .push_bind(plain(words))
                .push(", p.title) DESC, ")
                .push(TIE);
        }
        Sort::Relevance | Sort::Newest => {
            qb.push(" ORDER BY ").push(TIE);
        }
        Sort::PriceAsc => {
            qb.push(" ORDER BY p.price_min ASC, ").push(TIE);
        }
        Sort::PriceDesc => {
            qb.push(" ORDER BY p.price_min DESC, ").push(TIE);
        }
        Sort::RatingDesc => {
            qb.push(" ORDER BY p.rating_tenths DESC NULLS LAST, ")
                .push(TIE);
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    title: String,
    description: String,
    vendor_id: String,
    category_id: Option<String>,
    category_path: Vec<String>,
    price_min: i64,
    price_max: i64,
    currency: String,
    rating_tenths: Option<i32>,
    in_stock: bool,
    skus: Vec<String>,
    image_url: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Row> for ProductDoc {
    fn from(r: Row) -> ProductDoc {
        ProductDoc {
            id: r.id,
            title: r.title,
            description: r.description,
            vendor_id: r.vendor_id,
            category_id: r.category_id,
            category_path: r.category_path,
            price_min: r.price_min,
            price_max: r.price_max,
            currency: r.currency,
            rating_tenths: r.rating_tenths,
            in_stock: r.in_stock,
            skus: r.skus,
            image_url: r.image_url,
            created_at: r.created_at,
        }
    }
}

impl SearchIndex for PgSearch {
    type Rebuild = PgRebuild;

    async fn ensure(&self) -> Result<(), SearchError> {
        self.create_table(&self.table, false, true).await
    }

    async fn upsert(&self, docs: &[ProductDoc]) -> Result<(), SearchError> {
        self.upsert_table(&self.table, docs)
            .instrument(tracing::debug_span!(
                "search.upsert",
                backend = "postgres",
                docs = docs.len()
            ))
            .await
    }

    async fn delete(&self, ids: &[String]) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(&format!("DELETE FROM {} WHERE id = ANY($1)", self.table))
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_in_stock(&self, stock: &[(String, bool)]) -> Result<(), SearchError> {
        let stock = last_per_key(stock, |(id, _)| id.as_str());
        if stock.is_empty() {
            return Ok(());
        }
        let (ids, flags): (Vec<String>, Vec<bool>) = stock.into_iter().unzip();
        sqlx::query(&format!(
            "UPDATE {} AS p SET in_stock = u.in_stock \
             FROM unnest($1::text[], $2::boolean[]) AS u(id, in_stock) \
             WHERE p.id = u.id AND p.in_stock IS DISTINCT FROM u.in_stock",
            self.table
        ))
        .bind(ids)
        .bind(flags)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResult, SearchError> {
        query.validate()?;
        let span = tracing::debug_span!(
            "search.query",
            backend = "postgres",
            table = %self.table,
            page = query.page,
            total = tracing::field::Empty,
        );
        async {
            let started = Instant::now();
            let words = query.text().map(words).unwrap_or_default();

            let mut tx = self.pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)")
                .bind(TYPO_SIMILARITY)
                .execute(&mut *tx)
                .await?;

            let mut facets_sql = QueryBuilder::<Postgres>::new(format!(
                "WITH m AS (SELECT p.id, p.category_path, p.price_min FROM {} AS p",
                self.table
            ));
            push_filters(&mut facets_sql, query, &words);
            facets_sql
                .push(
                    ") SELECT 'total' AS kind, '' AS key, count(*) AS n FROM m \
                     UNION ALL \
                     SELECT 'category', c.cat, count(DISTINCT m.id) \
                     FROM m CROSS JOIN LATERAL unnest(m.category_path) AS c(cat) GROUP BY c.cat \
                     UNION ALL \
                     SELECT 'price', b.bucket::text, count(*) FROM (\
                         SELECT width_bucket(m.price_min, ",
                )
                .push_bind(PRICE_BUCKET_BOUNDS.to_vec())
                .push("::bigint[]) AS bucket FROM m) AS b GROUP BY b.bucket");
            let facet_rows: Vec<(String, String, i64)> =
                facets_sql.build_query_as().fetch_all(&mut *tx).await?;

            let mut hits_sql =
                QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM {} AS p", self.table));
            push_filters(&mut hits_sql, query, &words);
            push_order(&mut hits_sql, query.sort, &words);
            hits_sql
                .push(" LIMIT ")
                .push_bind(i64::from(query.per_page))
                .push(" OFFSET ")
                .push_bind(i64::from(query.offset()));
            let rows: Vec<Row> = hits_sql.build_query_as().fetch_all(&mut *tx).await?;
            tx.commit().await?;

            let mut total = 0;
            let mut facets = Facets {
                categories: Default::default(),
                price_ranges: PriceBucket::empty_buckets(),
            };
            for (kind, key, n) in facet_rows {
                let n = u64::try_from(n).unwrap_or(0);
                match kind.as_str() {
                    "total" => total = n,
                    "category" => {
                        facets.categories.insert(key, n);
                    }
                    // width_bucket numbers the buckets from 1; 0 is "below the first bound".
                    _ => {
                        if let Some(bucket) = key
                            .parse::<usize>()
                            .ok()
                            .and_then(|b| b.checked_sub(1))
                            .and_then(|b| facets.price_ranges.get_mut(b))
                        {
                            bucket.count = n;
                        }
                    }
                }
            }
            tracing::Span::current().record("total", total);
            metrics::histogram!("agora_search_query_seconds", "backend" => "postgres")
                .record(started.elapsed().as_secs_f64());
            Ok(SearchResult {
                hits: rows.into_iter().map(ProductDoc::from).collect(),
                total,
                page: query.page,
                per_page: query.per_page,
                facets,
            })
        }
        .instrument(span)
        .await
    }

    async fn begin_rebuild(&self) -> Result<PgRebuild, SearchError> {
        let table = self.rebuild_table();
        // Secondary indexes come in `finish_rebuild`: filling a bare table is faster.
        self.create_table(&table, true, false).await?;
        tracing::info!(table = %table, "search rebuild table created");
        Ok(PgRebuild { table })
    }

    async fn upsert_into(
        &self,
        target: &PgRebuild,
        docs: &[ProductDoc],
    ) -> Result<(), SearchError> {
        self.upsert_table(&target.table, docs).await
    }

    async fn finish_rebuild(&self, target: PgRebuild) -> Result<(), SearchError> {
        let live = &self.table;
        let new = &target.table;
        let old = format!("{live}_old");
        // Build the indexes before the swap: the swap then only renames, so searches wait
        // for the exclusive lock a moment, not for an index build.
        (&self.pool)
            .execute(sqlx::raw_sql(&index_sql(new, new)))
            .await?;
        let mut swap = format!(
            "DROP TABLE IF EXISTS {old};\n\
             ALTER TABLE IF EXISTS {live} RENAME TO {old};\n\
             ALTER TABLE {new} RENAME TO {live};\n\
             DROP TABLE IF EXISTS {old};\n\
             ALTER INDEX {new}_pkey RENAME TO {live}_pkey;\n"
        );
        for suffix in INDEX_SUFFIXES {
            swap.push_str(&format!(
                "ALTER INDEX {new}_{suffix} RENAME TO {live}_{suffix};\n"
            ));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(DDL_LOCK)
            .execute(&mut *tx)
            .await?;
        (&mut *tx).execute(sqlx::raw_sql(&swap)).await?;
        tx.commit().await?;
        tracing::info!(table = %live, "search rebuild swapped in");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn table_names_that_are_not_plain_identifiers_are_refused() {
        let pool = || {
            sqlx::postgres::PgPoolOptions::new()
                .connect_lazy("postgres://localhost/x")
                .expect("lazy pool")
        };
        for bad in [
            "",
            "1abc",
            "Search",
            "a;drop table x",
            "a-b",
            &"a".repeat(41),
        ] {
            assert!(PgSearch::with_table(pool(), bad).is_err(), "{bad:?}");
        }
        assert!(PgSearch::with_table(pool(), "search_products_t1").is_ok());
    }

    #[test]
    fn the_last_write_of_a_batch_wins_and_order_is_kept() {
        let items = [("a", 1), ("b", 2), ("a", 3)];
        let out = last_per_key(&items, |(k, _)| *k);
        assert_eq!(out, [("a", 3), ("b", 2)]);
    }

    #[test]
    fn every_index_is_named_after_its_table() {
        let sql = index_sql("t_rebuild", "t_rebuild");
        for suffix in INDEX_SUFFIXES {
            assert!(sql.contains(&format!("t_rebuild_{suffix} ON t_rebuild")));
        }
    }
}

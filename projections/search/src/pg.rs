//! The Postgres backend: one table, full-text search, typo tolerance from the index's own words.
//!
//! Design:
//! - the table holds the document as columns plus generated `tsv` (title, SKUs and description)
//!   and `title_tsv` (title and SKUs), with the `simple` configuration (lower-casing, no
//!   stemming and no stop words), because Meilisearch does not stem either and SKUs must stay
//!   intact; both are stripped of positions (nothing ranks by them), which keeps rows small;
//! - typo tolerance works on words, as Meilisearch's does: `<table>_words` holds every
//!   alphabetic lexeme (4–64 letters) the index has seen. For each query word of five letters
//!   or more, the known words starting with the same letter and of a fitting length are read
//!   and kept when they are within the word's typo budget (one typo from five letters, two
//!   from nine; insert, delete, replace or swap; see `text::Word::typo_distance`); they join
//!   the word as alternatives in one `tsquery`. So every query is a single GIN lookup on
//!   `tsv`, however common its words. All words must match;
//! - relevance ranks documents whose title or SKUs hold every word exactly first, then those that
//!   hold every word anywhere, then those whose title matches with typos, then the rest; within
//!   a tier the shorter title first (the words are more of it), then newest, then id. Every
//!   tier test is a `@@` on a stored `tsvector` (`title_tsv` holds title and SKUs), so ranking
//!   a large match set costs little;
//! - a category filter first reads the known category keys that hold the category from
//!   `<table>_paths` (a handful of rows), then selects `category_key = ANY(keys)`: each key is a
//!   range of a covering index, so a category's facets are an index-only scan;
//! - with words, one scan of the matches feeds both the facets and the ranking (a materialized
//!   set of narrow rows), and only the page's documents are then read whole; without words the
//!   page comes from an index in sort order that stops early;
//! - hits, total and facets are read in one `REPEATABLE READ` read-only transaction, so they
//!   describe the same snapshot; total and facets come from one aggregate over the filtered set,
//!   grouped by `(category_key, width_bucket(price_min, bounds))` (a few dozen groups; the key is
//!   the category path joined into one text, which groups much faster than an array), which
//!   Rust sums into the total, the category counts and the price buckets; JIT is off for these
//!   short queries (compiling costs more than it saves);
//! - user input only ever travels as bound parameters; the SQL text is built from fixed
//!   fragments and the table name, which is validated configuration.
//!
//! Words are never removed from `<table>_words` (a word no product holds any more matches
//! nothing); a rebuild starts it afresh.

use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{Executor, PgPool, Postgres, QueryBuilder};
use tracing::Instrument;

use crate::text::{all_words_tsquery, corrections, matching_tsquery, words, Word};
use crate::{
    Facets, PriceBucket, ProductDoc, SearchError, SearchIndex, SearchQuery, SearchResult, Sort,
    PRICE_BUCKET_BOUNDS,
};

/// The live table's default name.
pub const DEFAULT_TABLE: &str = "search_products";
/// Longest table name: `<table>_rebuild_category_cov_idx` must fit in 63 bytes.
const MAX_TABLE_NAME: usize = 36;
/// Joins the ids of a category path in `category_key`.
const PATH_KEY_SEPARATOR: char = '\u{1f}';
/// Known words read per mistyped query word, at most (a guard for huge vocabularies).
const MAX_CANDIDATES: i64 = 5_000;
/// Opens every search transaction: one snapshot, no writes, no JIT (these queries take
/// milliseconds; compiling them would take longer), and memory enough to keep a large match
/// set and its aggregate off disk.
const BEGIN_SEARCH: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
     SET LOCAL jit = off; SET LOCAL work_mem = '32MB'";
/// Serialises `ensure` and rebuild DDL of all processes on one database ("agorasrc").
const DDL_LOCK: i64 = 0x6167_6f72_6173_7263;
/// Documents per `INSERT` statement; one upsert call is still one transaction.
const CHUNK: usize = 500;
/// Suffixes of the secondary indexes; names are `<table>_<suffix>`, renamed with the table.
const INDEX_SUFFIXES: [&str; 4] = [
    "tsv_idx",
    "category_cov_idx",
    "price_cov_idx",
    "newest_c_idx",
];
/// Indexes of earlier versions that `ensure` drops.
const RETIRED_INDEX_SUFFIXES: [&str; 4] = [
    "newest_idx",
    "title_trgm_idx",
    "price_min_idx",
    "category_path_idx",
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
#[error("table name must be 1 to 36 characters of a-z 0-9 _, not starting with a digit")]
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

    /// Search over another table, e.g. one per tenant or per test. At most 36 characters, so
    /// that the longest derived name, `<table>_rebuild_category_cov_idx`, still fits
    /// Postgres's 63-byte identifiers.
    pub fn with_table(pool: PgPool, table: &str) -> Result<PgSearch, InvalidTableName> {
        let ok = (1..=MAX_TABLE_NAME).contains(&table.len())
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

    /// Adds the words and category keys of the documents `ids` of `table` to its lookup tables.
    async fn add_lookups(
        &self,
        conn: &mut sqlx::PgConnection,
        table: &str,
        ids: &[String],
    ) -> Result<(), SearchError> {
        for sql in lookup_inserts(table, |_| "p.id = ANY($1)".to_string()) {
            sqlx::query(&sql).bind(ids).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// The known category keys (paths) that hold `category`.
    async fn category_keys(
        &self,
        conn: &mut sqlx::PgConnection,
        category: &str,
    ) -> Result<Vec<String>, SearchError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT k.category_key FROM {}_paths AS k \
             WHERE string_to_array(k.category_key, E'\\x1f') @> ARRAY[$1]::text[]",
            self.table
        ))
        .bind(category)
        .fetch_all(conn)
        .await?)
    }

    /// For each fuzzy word, the known words it may stand for (empty for the others).
    async fn corrections(
        &self,
        conn: &mut sqlx::PgConnection,
        words: &[Word],
    ) -> Result<Vec<Vec<String>>, SearchError> {
        let fuzzy: Vec<(usize, &Word)> = words
            .iter()
            .enumerate()
            .filter(|(_, w)| w.typos() > 0)
            .collect();
        let mut out = vec![Vec::new(); words.len()];
        if fuzzy.is_empty() {
            return Ok(out);
        }
        let (mut lo, mut hi, mut shortest, mut longest) = (vec![], vec![], vec![], vec![]);
        for (_, w) in &fuzzy {
            // A typo on the first letter counts twice, so candidates share it, except that a
            // nine-letter word may spend both typos there; those few are not looked up.
            let first = w.text.chars().next().unwrap_or('a');
            let next = char::from_u32(u32::from(first) + 1).unwrap_or(char::MAX);
            let len = w.text.chars().count();
            lo.push(first.to_string());
            hi.push(next.to_string());
            shortest.push(i32::try_from(len.saturating_sub(w.typos()).max(4)).unwrap_or(4));
            longest.push(if w.prefix {
                i32::MAX
            } else {
                i32::try_from(len + w.typos()).unwrap_or(i32::MAX)
            });
        }
        let rows: Vec<(i64, String)> = sqlx::query_as(&format!(
            "SELECT q.i, v.word FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[]) \
                 WITH ORDINALITY AS q(lo, hi, shortest, longest, i) \
             CROSS JOIN LATERAL (\
                 SELECT k.word FROM {}_words AS k \
                 WHERE k.word >= q.lo COLLATE \"C\" AND k.word < q.hi COLLATE \"C\" \
                   AND length(k.word) BETWEEN q.shortest AND q.longest \
                 LIMIT $5) AS v",
            self.table
        ))
        .bind(lo)
        .bind(hi)
        .bind(shortest)
        .bind(longest)
        .bind(MAX_CANDIDATES)
        .fetch_all(conn)
        .await?;
        let mut candidates: Vec<Vec<&str>> = vec![Vec::new(); fuzzy.len()];
        for (i, word) in &rows {
            if let Some(list) = usize::try_from(*i - 1)
                .ok()
                .and_then(|i| candidates.get_mut(i))
            {
                list.push(word);
            }
        }
        for ((at, word), known) in fuzzy.iter().zip(candidates) {
            out[*at] = corrections(word, known);
        }
        Ok(out)
    }

    async fn upsert_table(&self, table: &str, docs: &[ProductDoc]) -> Result<(), SearchError> {
        let mut tx = self.pool.begin().await?;
        self.write_docs(&mut tx, table, docs).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Inserts or replaces documents of the live table inside the caller's transaction, so that
    /// a projection writes its index in the same commit as its own state and checkpoint.
    pub async fn upsert_in(
        &self,
        conn: &mut sqlx::PgConnection,
        docs: &[ProductDoc],
    ) -> Result<(), SearchError> {
        self.write_docs(conn, &self.table, docs).await
    }

    /// Removes documents of the live table inside the caller's transaction.
    pub async fn delete_in(
        &self,
        conn: &mut sqlx::PgConnection,
        ids: &[String],
    ) -> Result<(), SearchError> {
        sqlx::query(&format!("DELETE FROM {} WHERE id = ANY($1)", self.table))
            .bind(ids)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Sets `in_stock` of existing documents inside the caller's transaction. Returns the ids of
    /// the documents whose flag changed: a document whose flag already was the given one is
    /// not rewritten (no new row version, no index maintenance), and nothing downstream needs
    /// to hear about it.
    pub async fn set_in_stock_in(
        &self,
        conn: &mut sqlx::PgConnection,
        stock: &[(String, bool)],
    ) -> Result<Vec<String>, SearchError> {
        let stock = last_per_key(stock, |(id, _)| id.as_str());
        if stock.is_empty() {
            return Ok(vec![]);
        }
        let (ids, flags): (Vec<String>, Vec<bool>) = stock.into_iter().unzip();
        Ok(sqlx::query_scalar(&format!(
            "UPDATE {} AS p SET in_stock = u.in_stock \
             FROM unnest($1::text[], $2::boolean[]) AS u(id, in_stock) \
             WHERE p.id = u.id AND p.in_stock IS DISTINCT FROM u.in_stock \
             RETURNING p.id",
            self.table
        ))
        .bind(ids)
        .bind(flags)
        .fetch_all(conn)
        .await?)
    }

    /// The stored documents among `ids` (missing ids are left out), in no particular order.
    pub async fn get(&self, ids: &[String]) -> Result<Vec<ProductDoc>, SearchError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM {} WHERE id = ANY($1)",
            self.table
        ))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ProductDoc::from).collect())
    }

    async fn write_docs(
        &self,
        conn: &mut sqlx::PgConnection,
        table: &str,
        docs: &[ProductDoc],
    ) -> Result<(), SearchError> {
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
        for chunk in docs.chunks(CHUNK) {
            sqlx::query(&sql)
                .bind(sqlx::types::Json(chunk))
                .execute(&mut *conn)
                .await?;
        }
        let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        self.add_lookups(conn, table, &ids).await?;
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
        // Tables made before relevance and facets used them.
        ddl.push_str(&add_column_if_missing(table, "title_tsv", TITLE_TSV));
        ddl.push_str(&add_column_if_missing(table, "category_key", CATEGORY_KEY));
        if drop_first {
            ddl.push_str(&format!(
                "DROP TABLE IF EXISTS {table}_words;\nDROP TABLE IF EXISTS {table}_paths;\n"
            ));
        }
        ddl.push_str(&create_lookup_tables_sql(table));
        if with_indexes {
            for suffix in RETIRED_INDEX_SUFFIXES {
                ddl.push_str(&format!("DROP INDEX IF EXISTS {table}_{suffix};\n"));
            }
            ddl.push_str(&index_sql(table, table));
            // A table made before the lookup tables existed fills them once.
            for sql in lookup_inserts(table, |lookup| {
                format!("NOT EXISTS (SELECT 1 FROM {lookup})")
            }) {
                ddl.push_str(&sql);
                ddl.push_str(";\n");
            }
        }
        // `Executor::execute` rather than `RawSql::execute`: the latter's future is not `Send`
        // for every lifetime, which the trait's `Send` bound needs.
        (&mut *tx).execute(sqlx::raw_sql(&ddl)).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// An immutable `text[] -> text` join: `array_to_string` is only `STABLE`, which a generated
/// column does not accept.
/// `agora_search_path_key` joins a category path with U+001F, which no category id holds (see
/// `ProductDoc::validate`): one text value groups faster than an array.
const PREAMBLE: &str = "\
CREATE OR REPLACE FUNCTION agora_search_join(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$;
CREATE OR REPLACE FUNCTION agora_search_path_key(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_to_string($1, E'\\x1f'), '') $$;
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
    tsv tsvector GENERATED ALWAYS AS (strip(
        to_tsvector('simple'::regconfig, title)
        || to_tsvector('simple'::regconfig, agora_search_join(skus))
        || to_tsvector('simple'::regconfig, description)
    )) STORED,
    title_tsv {TITLE_TSV},
    category_key {CATEGORY_KEY},
    CONSTRAINT {table}_pkey PRIMARY KEY (id)
);
"
    )
}

/// Title and SKUs, for the relevance tiers.
const TITLE_TSV: &str = "tsvector GENERATED ALWAYS AS (strip(
        to_tsvector('simple'::regconfig, title)
        || to_tsvector('simple'::regconfig, agora_search_join(skus))
    )) STORED";
/// The category path as one text, for facets and category filters.
const CATEGORY_KEY: &str = "text GENERATED ALWAYS AS (agora_search_path_key(category_path)) STORED";

/// Adds `column` to `table` when it lacks it. Checked first because `ADD COLUMN IF NOT EXISTS`
/// takes the table's exclusive lock even when the column is there, and every start runs this.
fn add_column_if_missing(table: &str, column: &str, definition: &str) -> String {
    format!(
        "DO $do$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{table}'::regclass
                   AND attname = '{column}' AND NOT attisdropped) THEN
        ALTER TABLE {table} ADD COLUMN {column} {definition};
    END IF;
END $do$;
"
    )
}

/// The statements that add to `<table>_words` and `<table>_paths` what the rows of `table`
/// chosen by `rows(lookup table)` hold and they lack (`p` names the row). In key order, so two
/// writers adding the same new keys cannot deadlock.
fn lookup_inserts(table: &str, rows: impl Fn(&str) -> String) -> [String; 2] {
    let words = format!("{table}_words");
    let paths = format!("{table}_paths");
    [
        format!(
            "INSERT INTO {words} (word) \
             SELECT DISTINCT w FROM {table} AS p CROSS JOIN LATERAL unnest(tsvector_to_array(p.tsv)) AS w \
             WHERE {} AND w ~ '^[[:alpha:]]{{4,64}}$' \
               AND NOT EXISTS (SELECT 1 FROM {words} AS k WHERE k.word = w) \
             ORDER BY w ON CONFLICT DO NOTHING",
            rows(&words)
        ),
        format!(
            "INSERT INTO {paths} (category_key) \
             SELECT DISTINCT p.category_key FROM {table} AS p \
             WHERE {} \
               AND NOT EXISTS (SELECT 1 FROM {paths} AS k WHERE k.category_key = p.category_key) \
             ORDER BY 1 ON CONFLICT DO NOTHING",
            rows(&paths)
        ),
    ]
}

/// The vocabulary of `table`: byte order (`"C"`), so that "words starting with this letter" is
/// a range of the primary key. And its paths: every `category_key` seen, so that a category
/// filter becomes "one of these few keys" (exact even for a product whose path was written
/// while its category was still unknown). Neither forgets: an unused key or word matches nothing.
fn create_lookup_tables_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table}_words (
    word text COLLATE \"C\" NOT NULL,
    CONSTRAINT {table}_words_pkey PRIMARY KEY (word)
);
CREATE TABLE IF NOT EXISTS {table}_paths (
    category_key text COLLATE \"C\" NOT NULL,
    CONSTRAINT {table}_paths_pkey PRIMARY KEY (category_key)
);
"
    )
}

/// Secondary indexes of `table`, named `<prefix>_<suffix>` in the order of [`INDEX_SUFFIXES`].
fn index_sql(table: &str, prefix: &str) -> String {
    let defs = [
        "USING gin (tsv)",
        // Category filters: the keys holding the category (from `<table>_paths`), each an
        // index-only range of this index, which also covers what the facets read.
        "(category_key) INCLUDE (price_min, in_stock, rating_tenths)",
        // Price filters and sorts; it also covers what the facets read, so a price-filtered
        // aggregate can be an index-only scan.
        "(price_min) INCLUDE (in_stock, rating_tenths, category_key)",
        // The tie-break orders ids bytewise; an index in another collation could not serve it.
        "(created_at DESC, id COLLATE \"C\")",
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

/// `matching` is the query's `tsquery` (every word or one of its corrections), if it has words.
/// `category_keys` are the known keys holding the query's category, if it names one: a document
/// is in the category when its key is one of them (read first, so the planner sees the values
/// and reads each key's range of the covering index).
fn push_filters(
    qb: &mut QueryBuilder<'_, Postgres>,
    query: &SearchQuery,
    matching: Option<&str>,
    category_keys: Option<&[String]>,
) {
    qb.push(" WHERE TRUE");
    if let Some(matching) = matching {
        qb.push(" AND p.tsv @@ to_tsquery('simple', ")
            .push_bind(matching.to_string())
            .push(")");
    }
    if let Some(keys) = category_keys {
        qb.push(" AND p.category_key = ANY(")
            .push_bind(keys.to_vec())
            .push(")");
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

/// The `ORDER BY` keys of `sort` over the rows named `r`. With words, relevance needs the
/// `tier` and `title_len` columns that [`PgSearch::search`] computes: title or SKUs hold every
/// word (0), the document does (1), the title matches with typos (2), the rest (3); then the
/// shorter title (the words are more of it), then newest.
fn order_keys(sort: Sort, words: bool, r: &str) -> String {
    let tie = format!("{r}.created_at DESC, {r}.id COLLATE \"C\"");
    match sort {
        Sort::Relevance if words => format!("{r}.tier, {r}.title_len, {tie}"),
        Sort::Relevance | Sort::Newest => tie,
        Sort::PriceAsc => format!("{r}.price_min ASC, {tie}"),
        Sort::PriceDesc => format!("{r}.price_min DESC, {tie}"),
        Sort::RatingDesc => format!("{r}.rating_tenths DESC NULLS LAST, {tie}"),
    }
}

/// A row of the text search's one statement: a facet group (path key, bucket, count) or a page
/// entry (count = position, id).
type CombinedRow = (Option<String>, Option<i32>, i64, Option<String>);

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

            let limit = i64::from(query.per_page);
            let offset = i64::from(query.offset());
            let mut tx = self.pool.begin_with(BEGIN_SEARCH).await?;
            let category_keys = match &query.category {
                None => None,
                Some(category) => Some(self.category_keys(&mut tx, category).await?),
            };
            let (groups, rows) = if words.is_empty() {
                // No words: the facets aggregate the filtered set, and the page comes from an
                // index in sort order that stops after `offset + limit` rows.
                let mut facets_sql = QueryBuilder::<Postgres>::new(
                    "SELECT p.category_key, width_bucket(p.price_min, ",
                );
                facets_sql
                    .push_bind(PRICE_BUCKET_BOUNDS.to_vec())
                    .push(format!(
                        "::bigint[]) AS bucket, count(*) AS n FROM {} AS p",
                        self.table
                    ));
                push_filters(&mut facets_sql, query, None, category_keys.as_deref());
                facets_sql.push(" GROUP BY 1, 2");
                let groups: Vec<(String, i32, i64)> =
                    facets_sql.build_query_as().fetch_all(&mut *tx).await?;

                let mut hits_sql = QueryBuilder::<Postgres>::new(format!(
                    "SELECT {COLUMNS} FROM {} AS p",
                    self.table
                ));
                push_filters(&mut hits_sql, query, None, category_keys.as_deref());
                hits_sql
                    .push(format!(" ORDER BY {}", order_keys(query.sort, false, "p")))
                    .push(" LIMIT ")
                    .push_bind(limit)
                    .push(" OFFSET ")
                    .push_bind(offset);
                let rows: Vec<Row> = hits_sql.build_query_as().fetch_all(&mut *tx).await?;
                (groups, rows)
            } else {
                // Words: every match must be visited for the facets and ranked for the page,
                // so one scan feeds both (a materialized set of narrow rows), and only the
                // page's documents are read whole.
                let corrections = self.corrections(&mut tx, &words).await?;
                let matching = matching_tsquery(&words, &corrections);
                let exact = all_words_tsquery(&words);
                let mut sql = QueryBuilder::<Postgres>::new(
                    "WITH m AS MATERIALIZED (SELECT p.id, p.category_key, p.price_min, \
                     p.created_at, p.rating_tenths, length(p.title) AS title_len, ",
                );
                if query.sort == Sort::Relevance {
                    sql.push("CASE WHEN p.title_tsv @@ to_tsquery('simple', ")
                        .push_bind(exact.clone())
                        .push(") THEN 0 WHEN p.tsv @@ to_tsquery('simple', ")
                        .push_bind(exact)
                        .push(") THEN 1 WHEN p.title_tsv @@ to_tsquery('simple', ")
                        .push_bind(matching.clone())
                        .push(") THEN 2 ELSE 3 END AS tier");
                } else {
                    sql.push("0 AS tier");
                }
                sql.push(format!(" FROM {} AS p", self.table));
                push_filters(&mut sql, query, Some(&matching), category_keys.as_deref());
                sql.push("), f AS (SELECT category_key, width_bucket(price_min, ")
                    .push_bind(PRICE_BUCKET_BOUNDS.to_vec())
                    .push("::bigint[]) AS bucket, count(*) AS n FROM m GROUP BY 1, 2), ")
                    .push("h AS (SELECT s.id, row_number() OVER () AS n FROM (SELECT m.id FROM m ORDER BY ")
                    .push(order_keys(query.sort, true, "m"))
                    .push(" LIMIT ")
                    .push_bind(limit)
                    .push(" OFFSET ")
                    .push_bind(offset)
                    .push(") AS s) SELECT category_key, bucket, n, NULL::text AS id FROM f \
                           UNION ALL SELECT NULL, NULL, n, id FROM h");
                let out: Vec<CombinedRow> = sql.build_query_as().fetch_all(&mut *tx).await?;
                let mut groups = Vec::new();
                let mut page: Vec<(i64, String)> = Vec::new();
                for (path, bucket, n, id) in out {
                    match (path, bucket, id) {
                        (Some(path), Some(bucket), None) => groups.push((path, bucket, n)),
                        (_, _, Some(id)) => page.push((n, id)),
                        _ => {}
                    }
                }
                page.sort_unstable();
                let ids: Vec<String> = page.into_iter().map(|(_, id)| id).collect();
                let mut rows: Vec<Row> = sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM {} AS p WHERE p.id = ANY($1)",
                    self.table
                ))
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?;
                rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
                (groups, rows)
            };
            tx.commit().await?;

            let mut total = 0;
            let mut facets = Facets {
                categories: Default::default(),
                price_ranges: PriceBucket::empty_buckets(),
            };
            for (path_key, bucket, n) in groups {
                let n = u64::try_from(n).unwrap_or(0);
                total += n;
                let mut seen: Vec<&str> = Vec::new();
                for category in path_key.split(PATH_KEY_SEPARATOR).filter(|c| !c.is_empty()) {
                    if !seen.contains(&category) {
                        seen.push(category);
                        *facets.categories.entry(category.to_string()).or_insert(0) += n;
                    }
                }
                // width_bucket numbers the buckets from 1; 0 is "below the first bound".
                if let Some(b) = usize::try_from(bucket)
                    .ok()
                    .and_then(|b| b.checked_sub(1))
                    .and_then(|b| facets.price_ranges.get_mut(b))
                {
                    b.count += n;
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
        // The documents, then their lookup tables: each new one replaces the live one, whose
        // primary key name it then takes.
        let mut swap = String::new();
        for part in ["", "_words", "_paths"] {
            swap.push_str(&format!(
                "DROP TABLE IF EXISTS {old}{part};\n\
                 ALTER TABLE IF EXISTS {live}{part} RENAME TO {old}{part};\n\
                 ALTER TABLE {new}{part} RENAME TO {live}{part};\n\
                 DROP TABLE IF EXISTS {old}{part};\n\
                 ALTER INDEX {new}{part}_pkey RENAME TO {live}{part}_pkey;\n"
            ));
        }
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
            &"a".repeat(MAX_TABLE_NAME + 1),
        ] {
            assert!(PgSearch::with_table(pool(), bad).is_err(), "{bad:?}");
        }
        assert!(PgSearch::with_table(pool(), "search_products_t1").is_ok());
        assert!(PgSearch::with_table(pool(), &"a".repeat(MAX_TABLE_NAME)).is_ok());
    }

    #[test]
    fn the_last_write_of_a_batch_wins_and_order_is_kept() {
        let items = [("a", 1), ("b", 2), ("a", 3)];
        let out = last_per_key(&items, |(k, _)| *k);
        assert_eq!(out, [("a", 3), ("b", 2)]);
    }

    #[test]
    fn every_derived_name_fits_an_identifier() {
        let table = "a".repeat(MAX_TABLE_NAME);
        let rebuild = format!("{table}_rebuild");
        let longest = INDEX_SUFFIXES
            .iter()
            .chain(["words_pkey", "paths_pkey", "pkey"].iter())
            .map(|suffix| format!("{rebuild}_{suffix}").len())
            .max();
        assert!(longest.is_some_and(|n| n <= 63), "{longest:?}");
    }

    #[test]
    fn every_index_is_named_after_its_table() {
        let sql = index_sql("t_rebuild", "t_rebuild");
        for suffix in INDEX_SUFFIXES {
            assert!(sql.contains(&format!("t_rebuild_{suffix} ON t_rebuild")));
        }
    }
}

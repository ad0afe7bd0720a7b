-- What the search projection folds from the feed: product and stock streams (for the search
-- documents and their in-stock flag), and which product owns which SKU. The search index itself
-- (the Postgres table `search_products`, or a Meilisearch index) is created by the search
-- backend on start.
CREATE TABLE IF NOT EXISTS search_sources
(
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    state          jsonb       NOT NULL,
    version        bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE IF NOT EXISTS search_sku_products
(
    sku        text PRIMARY KEY,
    product_id text NOT NULL
);

-- Products whose Meilisearch document could not be written (Meilisearch down): Postgres search
-- stays current and answers meanwhile; a background job re-sends these once Meilisearch is back.
CREATE TABLE IF NOT EXISTS search_meili_backlog
(
    product_id text PRIMARY KEY,
    since      timestamptz NOT NULL DEFAULT now()
);

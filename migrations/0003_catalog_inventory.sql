-- Read models of the catalog and inventory, built by projections from the event feed. Each row
-- keeps the aggregate state it was folded from (`state`) and the last applied sequence
-- (`version`), so replays are skipped and rebuilds give the same rows.

CREATE TABLE IF NOT EXISTS products
(
    product_id  text PRIMARY KEY,
    vendor_id   text        NOT NULL,
    title       text        NOT NULL,
    description text        NOT NULL,
    status      text        NOT NULL,
    category_id text,
    image_urls  jsonb       NOT NULL,
    attributes  jsonb       NOT NULL,
    variants    jsonb       NOT NULL,
    skus        text[]      NOT NULL,
    price_min   bigint,
    price_max   bigint,
    currency    text,
    state       jsonb       NOT NULL,
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS products_status ON products (status, updated_at DESC);
CREATE INDEX IF NOT EXISTS products_vendor ON products (vendor_id);
CREATE INDEX IF NOT EXISTS products_skus ON products USING gin (skus);

CREATE TABLE IF NOT EXISTS categories
(
    category_id text PRIMARY KEY,
    name        text        NOT NULL,
    parent_id   text,
    state       jsonb       NOT NULL,
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS stock_levels
(
    sku                 text PRIMARY KEY,
    on_hand             bigint      NOT NULL,
    reserved            bigint      NOT NULL,
    available           bigint      NOT NULL CHECK (available >= 0),
    low_stock_threshold bigint      NOT NULL,
    state               jsonb       NOT NULL,
    version             bigint      NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS stock_levels_low ON stock_levels (available) WHERE available <= low_stock_threshold;

-- The movements ledger: one row per stock event, keyed by its stream position.
CREATE TABLE IF NOT EXISTS stock_movements
(
    sku            text        NOT NULL,
    sequence       bigint      NOT NULL,
    kind           text        NOT NULL,
    on_hand_delta  bigint      NOT NULL,
    reserved_delta bigint      NOT NULL,
    reason         text,
    note           text,
    reservation_id text,
    at             timestamptz NOT NULL,
    actor          jsonb       NOT NULL,
    PRIMARY KEY (sku, sequence)
);
CREATE INDEX IF NOT EXISTS stock_movements_at ON stock_movements (at DESC);

-- Live reservations, for the expiry job and the back office.
CREATE TABLE IF NOT EXISTS stock_reservations
(
    sku            text        NOT NULL,
    reservation_id text        NOT NULL,
    quantity       bigint      NOT NULL,
    expires_at     timestamptz NOT NULL,
    order_ref      text        NOT NULL,
    PRIMARY KEY (sku, reservation_id)
);
CREATE INDEX IF NOT EXISTS stock_reservations_expiry ON stock_reservations (expires_at);

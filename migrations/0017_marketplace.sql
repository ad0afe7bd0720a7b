-- The marketplace's read models.

-- The search projection lists a product only while its vendor is active: a vendor that is
-- suspended, reactivated or closed rewrites its products' documents, found by vendor.
CREATE INDEX IF NOT EXISTS search_sources_product_vendor
    ON search_sources ((state ->> 'vendor_id')) WHERE aggregate_type = 'product';

-- The vendors of an order's lines (`orders` row), and one row per vendor of each order: the
-- vendor's back-office order list, newest first, without scanning other vendors' orders.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS vendor_ids text[] NOT NULL DEFAULT '{}';
CREATE TABLE IF NOT EXISTS vendor_orders
(
    vendor_id      text        NOT NULL,
    order_id       text        NOT NULL,
    -- The order's status (the vendor's own sub-order status is on the order's view).
    status         text        NOT NULL,
    currency       text        NOT NULL,
    -- The vendor's lines only: their sum before discounts, their units and their count.
    subtotal_minor bigint      NOT NULL,
    units          bigint      NOT NULL,
    line_count     integer     NOT NULL,
    -- Where it ships to (city and country only: what a list needs).
    ship_city      text        NOT NULL,
    ship_country   text        NOT NULL,
    placed_at      timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (vendor_id, order_id)
);
CREATE INDEX IF NOT EXISTS vendor_orders_newest ON vendor_orders (vendor_id, placed_at DESC, order_id);
CREATE INDEX IF NOT EXISTS vendor_orders_order ON vendor_orders (order_id);

-- The back office's list of vendors, from the vendor's view.
CREATE TABLE IF NOT EXISTS vendors
(
    vendor_id     text PRIMARY KEY,
    -- `applied`, `active`, `suspended`, `rejected`, `closed`.
    status        text        NOT NULL,
    name          text        NOT NULL,
    country       text        NOT NULL,
    contact_email text        NOT NULL,
    users         integer     NOT NULL,
    version       bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS vendors_status ON vendors (status, created_at DESC);

-- The vendors' ledger, from the orders' events: one row per order (the stream's last applied
-- sequence) and, beside it, one row per money entry. Every entry names the event it came from
-- (`source_*`), so a figure can be traced back; payouts live on the vendor's own stream.
CREATE TABLE IF NOT EXISTS vendor_sales
(
    order_id text PRIMARY KEY,
    version  bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS vendor_ledger
(
    entry_id        text PRIMARY KEY,
    vendor_id       text        NOT NULL,
    -- `sale`, `commission`, `refund`, `adjustment`, ... (`agora_vendor::EntryKind`).
    kind            text        NOT NULL,
    -- Signed as the kind says: sales positive, commission and refunds negative.
    amount_minor    bigint      NOT NULL,
    currency        text        NOT NULL,
    at              timestamptz NOT NULL,
    -- Pending until then (sales and their commission: the end of the return window).
    available_at    timestamptz,
    order_id        text        NOT NULL,
    sku             text,
    -- The commission rule applied, for a commission.
    rule_id         text,
    source_type     text        NOT NULL,
    source_id       text        NOT NULL,
    source_sequence bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS vendor_ledger_vendor ON vendor_ledger (vendor_id, at DESC, entry_id);

-- A vendor's parcels and returns (the one vendor whose lines a parcel or return holds; none
-- for the shop's own and for those spanning vendors, which staff handle).
ALTER TABLE shipments ADD COLUMN IF NOT EXISTS vendor_id text;
CREATE INDEX IF NOT EXISTS shipments_vendor ON shipments (vendor_id, created_at DESC, shipment_id);
ALTER TABLE returns ADD COLUMN IF NOT EXISTS vendor_id text;
CREATE INDEX IF NOT EXISTS returns_vendor ON returns (vendor_id, created_at DESC, return_id);

-- Analytics, filled by replaying the event store (`agora project rebuild analytics_orders`...):
-- three projections, one per stream type, each owning its tables (see
-- projections/src/analytics.rs). Money is in minor units of the row's currency. A day is a UTC
-- day of the event's `recorded_at`.

-- `analytics_orders`: one row per order, from its events.
CREATE TABLE IF NOT EXISTS analytics_orders
(
    order_id       text PRIMARY KEY,
    -- `customer:<uuid>`, or `guest:<sha256 of the lower-cased email>`.
    customer_key   text    NOT NULL,
    currency       text    NOT NULL,
    placed_day     date    NOT NULL,
    confirmed_day  date,
    cancelled_day  date,
    -- Whether the order is a sale in the sales tables now: confirmed and not cancelled.
    counted        boolean NOT NULL,
    total_minor    bigint  NOT NULL,
    refunded_minor bigint  NOT NULL,
    version        bigint  NOT NULL
);

-- The companion tables of `analytics_orders` (rebuilt and swapped with it). A sale counts on
-- its confirmation day; an order cancelled after its confirmation is taken back out of that
-- day (with the refunds counted against it), so cancelled orders never count.

-- Sales per day and currency: the orders confirmed that day, and the refunds of sales that
-- went through that day.
CREATE TABLE IF NOT EXISTS analytics_sales_daily
(
    day            date   NOT NULL,
    currency       text   NOT NULL,
    orders         bigint NOT NULL,
    units          bigint NOT NULL,
    -- The lines before discounts.
    subtotal_minor bigint NOT NULL,
    -- What promotions took off the items and the shipping.
    discount_minor bigint NOT NULL,
    -- The shipping fees before their discount.
    shipping_minor bigint NOT NULL,
    tax_minor      bigint NOT NULL,
    -- What the shoppers paid.
    total_minor    bigint NOT NULL,
    refunds        bigint NOT NULL,
    refunded_minor bigint NOT NULL,
    PRIMARY KEY (day, currency)
);

-- Sales per day, SKU and currency. `revenue_minor` is what the shoppers paid for the lines
-- (after their discount, with their tax); refunds are those of units of the line.
CREATE TABLE IF NOT EXISTS analytics_sales_products
(
    day             date   NOT NULL,
    currency        text   NOT NULL,
    product_id      text   NOT NULL,
    sku             text   NOT NULL,
    title           text   NOT NULL,
    -- The marketplace vendor selling it; NULL for the shop's own goods.
    vendor_id       text,
    orders          bigint NOT NULL,
    units           bigint NOT NULL,
    gross_minor     bigint NOT NULL,
    discount_minor  bigint NOT NULL,
    revenue_minor   bigint NOT NULL,
    refunded_units  bigint NOT NULL,
    refunded_minor  bigint NOT NULL,
    PRIMARY KEY (day, currency, sku, product_id)
);
CREATE INDEX IF NOT EXISTS analytics_sales_products_vendor
    ON analytics_sales_products (vendor_id, day) WHERE vendor_id IS NOT NULL;

-- The same per category ('' for lines sold without one).
CREATE TABLE IF NOT EXISTS analytics_sales_categories
(
    day            date   NOT NULL,
    currency       text   NOT NULL,
    category_id    text   NOT NULL,
    orders         bigint NOT NULL,
    units          bigint NOT NULL,
    gross_minor    bigint NOT NULL,
    discount_minor bigint NOT NULL,
    revenue_minor  bigint NOT NULL,
    refunded_units bigint NOT NULL,
    refunded_minor bigint NOT NULL,
    PRIMARY KEY (day, currency, category_id)
);

-- The same per vendor ('' for the shop's own lines).
CREATE TABLE IF NOT EXISTS analytics_sales_vendors
(
    day            date   NOT NULL,
    currency       text   NOT NULL,
    vendor_id      text   NOT NULL,
    orders         bigint NOT NULL,
    units          bigint NOT NULL,
    gross_minor    bigint NOT NULL,
    discount_minor bigint NOT NULL,
    revenue_minor  bigint NOT NULL,
    refunded_units bigint NOT NULL,
    refunded_minor bigint NOT NULL,
    PRIMARY KEY (day, currency, vendor_id)
);

-- Every refund that went through, by day, reason and currency (those of cancelled orders
-- too, under `order_cancelled`).
CREATE TABLE IF NOT EXISTS analytics_refunds_daily
(
    day          date   NOT NULL,
    reason       text   NOT NULL,
    currency     text   NOT NULL,
    refunds      bigint NOT NULL,
    amount_minor bigint NOT NULL,
    PRIMARY KEY (day, reason, currency)
);

-- Sales per customer and day, for counting customers and repeat customers.
CREATE TABLE IF NOT EXISTS analytics_customer_days
(
    customer_key text   NOT NULL,
    day          date   NOT NULL,
    orders       bigint NOT NULL,
    PRIMARY KEY (customer_key, day)
);
CREATE INDEX IF NOT EXISTS analytics_customer_days_day ON analytics_customer_days (day);

-- `analytics_carts`: one row per cart, the days of the funnel's first two stages.
CREATE TABLE IF NOT EXISTS analytics_carts
(
    cart_id        text PRIMARY KEY,
    created_day    date,
    -- The day it first got an item (added, or absorbed from a guest cart).
    first_item_day date,
    version        bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS analytics_carts_created ON analytics_carts (created_day);
CREATE INDEX IF NOT EXISTS analytics_carts_first_item ON analytics_carts (first_item_day);

-- `analytics_checkouts`: one row per checkout, the days of the funnel's last two stages.
CREATE TABLE IF NOT EXISTS analytics_checkouts
(
    checkout_id text PRIMARY KEY,
    started_day date,
    -- The day the payment was captured (the saga moved on to finishing).
    paid_day    date,
    -- The day the saga failed (it compensates and is never paid after).
    failed_day  date,
    version     bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS analytics_checkouts_started ON analytics_checkouts (started_day);
CREATE INDEX IF NOT EXISTS analytics_checkouts_paid ON analytics_checkouts (paid_day);

-- Read models of orders, built by the `orders` projection from the order events alone (no
-- folded aggregate is kept). `version` is the last applied stream sequence: an event with a
-- sequence at or below it is a replay and is skipped, and so are its sales figures.

-- One row per order, for the back office and the shopper's order history. The owner appears as
-- its kind and, for a customer, its id: a guest's token hash is a credential and never leaves
-- the event store.
CREATE TABLE IF NOT EXISTS orders
(
    order_id         text PRIMARY KEY,
    -- `guest` or `customer`.
    owner_kind       text        NOT NULL,
    customer_id      uuid,
    email            text        NOT NULL,
    -- An `OrderStatus` name: `placed`, `stock_reserved`, ..., `cancelled`, `refunded`.
    status           text        NOT NULL,
    currency         text        NOT NULL,
    subtotal_minor   bigint      NOT NULL,
    shipping_minor   bigint      NOT NULL,
    tax_minor        bigint      NOT NULL,
    total_minor      bigint      NOT NULL,
    captured_minor   bigint      NOT NULL,
    -- Refunded so far (the newest refund's running total).
    refunded_minor   bigint      NOT NULL,
    line_count       integer     NOT NULL,
    -- Units over all lines.
    item_count       bigint      NOT NULL,
    lines            jsonb       NOT NULL,
    shipping_address jsonb       NOT NULL,
    carrier          text,
    tracking_number  text,
    cancel_reason    text,
    placed_at        timestamptz NOT NULL,
    -- The `at` of the newest applied event.
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status_placed ON orders (status, placed_at DESC);
CREATE INDEX IF NOT EXISTS orders_placed ON orders (placed_at DESC);
CREATE INDEX IF NOT EXISTS orders_customer_placed ON orders (customer_id, placed_at DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS orders_email ON orders (lower(email));

-- Sales per UTC day and currency, derived from the same events in the same transactions as
-- `orders`, and only when the event moved the order's row forward, so each event counts once.
-- A day is the UTC date of the event's `at`: an order counts as sold on the day it was
-- confirmed, a refund on the day it went through.
CREATE TABLE IF NOT EXISTS daily_sales
(
    day                            date   NOT NULL,
    currency                       text   NOT NULL,
    orders_confirmed               bigint NOT NULL DEFAULT 0,
    -- Sum of the totals of the orders confirmed that day.
    gross_minor                    bigint NOT NULL DEFAULT 0,
    refunded_minor                 bigint NOT NULL DEFAULT 0,
    -- Orders cancelled that day after they had been confirmed.
    orders_cancelled_after_confirm bigint NOT NULL DEFAULT 0,
    -- Units of the orders confirmed that day.
    items_sold                     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency)
);

-- Read-model rows hold read-model columns only. The projections of streams that grow without
-- bound keep their folded aggregate in a private companion table (rebuilt and swapped with the
-- read model), and the promotions read model lists its redemptions as rows, which the
-- redemptions report joins instead of the aggregate's JSON.
CREATE TABLE IF NOT EXISTS product_states
(
    product_id text PRIMARY KEY,
    state      jsonb       NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO product_states (product_id, state, created_at)
SELECT product_id, state, created_at FROM products ON CONFLICT DO NOTHING;
ALTER TABLE products DROP COLUMN IF EXISTS state;

CREATE TABLE IF NOT EXISTS stock_states
(
    sku        text PRIMARY KEY,
    state      jsonb       NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO stock_states (sku, state, created_at)
SELECT sku, state, created_at FROM stock_levels ON CONFLICT DO NOTHING;
ALTER TABLE stock_levels DROP COLUMN IF EXISTS state;

CREATE TABLE IF NOT EXISTS promotion_states
(
    promotion_id text PRIMARY KEY,
    state        jsonb       NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS promotion_redemptions
(
    promotion_id text   NOT NULL,
    order_id     text   NOT NULL,
    -- `open` (reserved) or `confirmed`.
    state        text   NOT NULL,
    amount_minor bigint NOT NULL,
    PRIMARY KEY (promotion_id, order_id)
);
INSERT INTO promotion_states (promotion_id, state, created_at)
SELECT promotion_id, state, created_at FROM promotions ON CONFLICT DO NOTHING;
INSERT INTO promotion_redemptions (promotion_id, order_id, state, amount_minor)
SELECT p.promotion_id, r.key,
       CASE WHEN r.value ->> 'state' = 'confirmed' THEN 'confirmed' ELSE 'open' END,
       (r.value -> 'amount' ->> 'amount_minor')::bigint
  FROM promotions p, jsonb_each(p.state -> 'redemptions') r
ON CONFLICT DO NOTHING;
ALTER TABLE promotions DROP COLUMN IF EXISTS state;

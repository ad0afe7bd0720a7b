-- Which product owns each SKU. A SKU is owned by exactly one product for life: the catalog
-- service inserts the claim (`INSERT .. ON CONFLICT DO NOTHING`, so of two racing products only
-- one gets the row) before the product's command runs, and nothing deletes a claim once the
-- product holds the SKU, not even removing the variant or archiving the product. Checkout maps
-- a SKU to its product through this table, so another product that carries the same code (data
-- from before this table) is never used to price it.
CREATE TABLE IF NOT EXISTS sku_claims
(
    sku        text PRIMARY KEY,
    product_id text        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sku_claims_product ON sku_claims (product_id);

-- Existing products: every SKU a product ever had (from the event store, the truth, so a SKU
-- whose variant was removed stays its product's), claimed by the product created first.
INSERT INTO sku_claims (sku, product_id, claimed_at)
SELECT DISTINCT ON (c.sku) c.sku, c.product_id, p.created_at
FROM (SELECT v ->> 'sku' AS sku, e.aggregate_id AS product_id
      FROM events e, json_array_elements(e.payload -> 'ProductCreated' -> 'variants') v
      WHERE e.aggregate_type = 'product' AND e.event_type = 'ProductCreated'
      UNION
      SELECT e.payload -> 'VariantAdded' -> 'variant' ->> 'sku', e.aggregate_id
      FROM events e
      WHERE e.aggregate_type = 'product' AND e.event_type = 'VariantAdded') c
JOIN (SELECT aggregate_id AS product_id,
             min((metadata ->> 'recorded_at')::timestamptz) AS created_at
      FROM events
      WHERE aggregate_type = 'product' AND event_type = 'ProductCreated'
      GROUP BY aggregate_id) p USING (product_id)
WHERE c.sku IS NOT NULL
ORDER BY c.sku, p.created_at, c.product_id
ON CONFLICT (sku) DO NOTHING;

-- Product reviews: the read model of the `review` streams (one row per review, from its view)
-- for the storefront's product pages (approved ones, newest first) and the back office's
-- moderation queue and each vendor's reviews.
CREATE TABLE IF NOT EXISTS reviews
(
    review_id         text PRIMARY KEY,
    product_id        text        NOT NULL,
    -- The marketplace vendor selling the product; NULL for the shop's own goods.
    vendor_id         text,
    customer_id       text        NOT NULL,
    author_name       text        NOT NULL,
    rating            smallint    NOT NULL,
    title             text        NOT NULL,
    body              text        NOT NULL,
    verified_purchase boolean     NOT NULL,
    -- `pending`, `approved`, `rejected`, `withdrawn`.
    status            text        NOT NULL,
    rejection_reason  text,
    response          text,
    -- `vendor` or `shop`.
    response_by       text,
    response_at       timestamptz,
    version           bigint      NOT NULL,
    submitted_at      timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_product ON reviews (product_id, status, submitted_at DESC);
CREATE INDEX IF NOT EXISTS reviews_vendor ON reviews (vendor_id, status, updated_at DESC) WHERE vendor_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS reviews_status ON reviews (status, updated_at DESC);
CREATE INDEX IF NOT EXISTS reviews_customer ON reviews (customer_id, updated_at DESC);

-- The search projection folds reviews too (a product's rating is the average of its approved
-- reviews), and finds a product's reviews by the product.
CREATE INDEX IF NOT EXISTS search_sources_review_product
    ON search_sources ((state -> 'subject' ->> 'product_id')) WHERE aggregate_type = 'review';

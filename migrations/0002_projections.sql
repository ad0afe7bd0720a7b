-- Where each projection has got to in the feed (JetStream stream sequence), written in the
-- same transaction as the read-model rows it covers.
CREATE TABLE IF NOT EXISTS projection_checkpoints
(
    projection  text PRIMARY KEY,
    stream_seq  bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The cart read model for the back office. `version` is the last applied stream sequence:
-- an event with a sequence at or below it is a replay and is skipped.
CREATE TABLE IF NOT EXISTS carts
(
    cart_id     text PRIMARY KEY,
    owner_kind  text        NOT NULL,
    customer_id uuid,
    status      text        NOT NULL,
    line_count  integer     NOT NULL,
    item_count  bigint      NOT NULL,
    lines       jsonb       NOT NULL,
    state       jsonb       NOT NULL,
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS carts_customer ON carts (customer_id);
CREATE INDEX IF NOT EXISTS carts_updated ON carts (updated_at DESC);

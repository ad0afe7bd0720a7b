-- The back office's lists of shipments and returns, one row per stream, written from the
-- aggregate's view (`version` is the stream's last sequence and guards every write, so a replay
-- gives the same rows). Shipments and returns are short streams: nothing else is kept.
CREATE TABLE IF NOT EXISTS shipments
(
    shipment_id     text PRIMARY KEY,
    order_id        text        NOT NULL,
    -- `packing`, `shipped`, `in_transit`, `out_for_delivery`, `delivered`, `exception`,
    -- `cancelled`.
    status          text        NOT NULL,
    carrier         text,
    tracking_number text,
    -- SKU and quantity per line, as the view lists them.
    lines           jsonb       NOT NULL,
    units           bigint      NOT NULL,
    country         text        NOT NULL,
    version         bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS shipments_created ON shipments (created_at DESC, shipment_id);
CREATE INDEX IF NOT EXISTS shipments_order ON shipments (order_id);
-- The carrier webhook finds a parcel by its tracking number.
CREATE INDEX IF NOT EXISTS shipments_tracking ON shipments (tracking_number);

CREATE TABLE IF NOT EXISTS returns
(
    return_id      text PRIMARY KEY,
    order_id       text        NOT NULL,
    -- `requested`, `approved`, `rejected`, `cancelled`, `received`, `closed`.
    status         text        NOT NULL,
    customer_id    text,
    units          bigint      NOT NULL,
    refunded_minor bigint,
    currency       text,
    version        bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS returns_created ON returns (created_at DESC, return_id);
CREATE INDEX IF NOT EXISTS returns_status ON returns (status, updated_at);
CREATE INDEX IF NOT EXISTS returns_order ON returns (order_id);

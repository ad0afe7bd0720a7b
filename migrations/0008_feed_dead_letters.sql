-- Outbox rows the relay could not publish at all (a payload over the server's max_payload, an
-- id that is no subject token). They leave the outbox so the rows behind them keep moving; the
-- event itself stays in `events`, so consumers fill the hole from the store when the stream's
-- next event arrives, and staff can see here what never reached the feed.
CREATE TABLE IF NOT EXISTS feed_dead_letters
(
    outbox_id      bigint PRIMARY KEY,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    event_type     text        NOT NULL,
    error          text        NOT NULL,
    dead_at        timestamptz NOT NULL DEFAULT now()
);

-- Feed events a consumer failed to handle on every delivery it allowed itself: parked here
-- (and terminated in JetStream) so the rest of the feed moves on. Staff list and replay them
-- (`/admin/feed/parked`, `agora feed parked|replay`); a replay runs the consumer's own handler
-- on the event read back from the store and deletes the row on success.
CREATE TABLE IF NOT EXISTS feed_parked
(
    id             bigserial PRIMARY KEY,
    consumer       text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    event_type     text        NOT NULL,
    stream_seq     bigint      NOT NULL,
    deliveries     bigint      NOT NULL,
    error          text        NOT NULL,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, aggregate_type, aggregate_id, sequence)
);

-- Nothing read the JetStream position projections wrote here: the durable consumer keeps the
-- resume position, and its pending count is the lag. Read models keep their own per-row
-- sequence guard.
DROP TABLE IF EXISTS projection_checkpoints;

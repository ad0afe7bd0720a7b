-- Payment reconciliation: each run compares the provider's statement (captures, refunds,
-- fees) with the payments' events and keeps every mismatch it found. Staff read the latest
-- run; the metric `agora_reconciliation_mismatches` alerts on it.
CREATE TABLE IF NOT EXISTS reconciliation_runs
(
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    -- `test` or `stripe`.
    provider    text        NOT NULL,
    -- Payments authorized from this instant on (and the provider's records from then); null:
    -- the whole history.
    since       timestamptz,
    payments    bigint      NOT NULL,
    records     bigint      NOT NULL,
    mismatches  bigint      NOT NULL,
    -- The fee rule checked, e.g. `2.9%+30`; null: fees not checked.
    fee_rule    text
);

CREATE TABLE IF NOT EXISTS reconciliation_mismatches
(
    run_id       bigint NOT NULL REFERENCES reconciliation_runs (id) ON DELETE CASCADE,
    n            integer NOT NULL,
    -- `captured_here_not_there`, `captured_there_not_here`, `capture_amount_differs`,
    -- `refund_missing_there`, `refund_missing_here`, `refund_amount_differs`, `fee_differs`,
    -- `currency_differs` (`agora_gateway::MismatchKind`).
    kind         text   NOT NULL,
    payment_id   text,
    provider_ref text   NOT NULL,
    currency     text,
    ours_minor   bigint,
    theirs_minor bigint,
    detail       text   NOT NULL,
    PRIMARY KEY (run_id, n)
);

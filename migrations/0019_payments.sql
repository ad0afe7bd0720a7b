-- The payments read model: one row per payment (stream id: the order id), from its view. A
-- provider's webhook that names only its own payment (a dispute names the intent, not our
-- order) finds the payment here; the back office lists disputes from it.
CREATE TABLE IF NOT EXISTS payments
(
    payment_id         text PRIMARY KEY,
    order_id           text        NOT NULL,
    -- `authorizing`, `authorized`, `captured`, `refunded`... (`agora_payment::PaymentStatus`).
    status             text        NOT NULL,
    provider_ref       text,
    currency           text        NOT NULL,
    amount_minor       bigint      NOT NULL,
    captured_minor     bigint      NOT NULL,
    refunded_minor     bigint      NOT NULL,
    charged_back_minor bigint      NOT NULL,
    -- Disputes not decided yet.
    open_disputes      integer     NOT NULL,
    disputes           integer     NOT NULL,
    version            bigint      NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_provider_ref ON payments (provider_ref) WHERE provider_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_disputed ON payments (updated_at DESC) WHERE disputes > 0;

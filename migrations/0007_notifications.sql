-- Notifications: the notifier's own state (not a read model, not events). See
-- platform/notifier/src/lib.rs for the delivery rules.

-- One row per message to send. The id is deterministic (UUID v5 of the source event, kind,
-- channel and recipient; an identity outbox row's own id), so a redelivered or replayed event
-- inserts nothing: `INSERT ... ON CONFLICT (id) DO NOTHING`.
--
-- status: pending → sending → sent; sending → pending (retry at next_attempt_at) or → failed.
-- A `sending` row's next_attempt_at is its lease: a sender that died mid-send leaves the row
-- `sending`, and once the lease passed another sender takes it up again (same Message-ID).
CREATE TABLE IF NOT EXISTS notifications
(
    id              uuid PRIMARY KEY,
    kind            text        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    -- What caused it: `order/<id>/<sequence>`, `stock/<sku>/<sequence>`, `identity_outbox/<id>`.
    source          text        NOT NULL,
    -- When the causing event was committed (its recorded_at): the start of the latency metric.
    event_at        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS notifications_listing ON notifications (created_at DESC, id);

-- Shoppers waiting for a SKU (`POST /store/products/{id}/notify-me`). One row per SKU and
-- email; deleted in the transaction that stores the back-in-stock notifications.
CREATE TABLE IF NOT EXISTS back_in_stock_subscriptions
(
    sku         text        NOT NULL,
    email       text        NOT NULL,
    product_id  text        NOT NULL,
    customer_id text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, email)
);

-- A customer's choices (`/store/customers/me/notifications`), as agora_notifications::Preferences.
CREATE TABLE IF NOT EXISTS notification_preferences
(
    customer_id text PRIMARY KEY,
    preferences jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

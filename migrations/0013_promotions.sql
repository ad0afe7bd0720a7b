-- Which promotion each code redeems. A code names one promotion for life: the promotion
-- service inserts the claims (`INSERT .. ON CONFLICT DO NOTHING`, so of two promotions racing
-- for a code only one gets the row) before the promotion's `create` runs, and gives back the
-- fresh claims of a create the promotion refused. Checkout finds the entered code's promotion
-- here. Codes are stored as entered after normalisation (upper case).
CREATE TABLE IF NOT EXISTS promotion_codes
(
    code         text PRIMARY KEY,
    promotion_id text        NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS promotion_codes_promotion ON promotion_codes (promotion_id);

-- The back office's list of promotions and the checkout's list of active automatic ones, one
-- row per promotion folded from its stream (`state` is the folded aggregate, `version` its
-- last sequence, which guards every write so a replay gives the same rows).
CREATE TABLE IF NOT EXISTS promotions
(
    promotion_id     text PRIMARY KEY,
    name             text        NOT NULL,
    -- `draft`, `active`, `paused` or `ended`.
    status           text        NOT NULL,
    -- `automatic`, `code` or `unique_codes`.
    kind             text        NOT NULL,
    currency         text        NOT NULL,
    -- The shared code of a `code` promotion.
    code             text,
    priority         integer     NOT NULL,
    -- Uses held or final (reserved and confirmed), and of them the confirmed ones.
    uses             bigint      NOT NULL,
    confirmed_uses   bigint      NOT NULL,
    -- Discount given (reserved and confirmed), minor units of `currency`.
    spent_minor      bigint      NOT NULL,
    confirmed_minor  bigint      NOT NULL,
    total_uses       bigint,
    budget_minor     bigint,
    state            jsonb       NOT NULL,
    version          bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS promotions_created ON promotions (created_at DESC, promotion_id);
CREATE INDEX IF NOT EXISTS promotions_active_automatic ON promotions (status, kind);

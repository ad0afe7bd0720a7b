-- Double opt-in of back-in-stock mail. `POST /store/products/{id}/notify-me` needs no sign-in,
-- so anyone may type any address: an address gets back-in-stock mail only after its owner
-- followed the link of the one confirmation mail it was sent.
--
-- One row per address, not per subscription: subscribing one address to many SKUs sends one
-- confirmation, and confirming it activates all of them. The notifier mails rows with
-- `mailed_at IS NULL` (it draws the token, stores its SHA-256 and puts the token only in the
-- message); a new confirmation is drawn only once the previous one expired.
CREATE TABLE IF NOT EXISTS notify_me_addresses
(
    email        text PRIMARY KEY,
    token_sha256 text UNIQUE,
    expires_at   timestamptz,
    mailed_at    timestamptz,
    confirmed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS notify_me_addresses_unmailed
    ON notify_me_addresses (created_at) WHERE mailed_at IS NULL AND confirmed_at IS NULL;

-- Addresses subscribed before double opt-in are not trusted either: each gets one
-- confirmation mail, and their subscriptions wait for it.
INSERT INTO notify_me_addresses (email)
SELECT DISTINCT email FROM back_in_stock_subscriptions
ON CONFLICT (email) DO NOTHING;

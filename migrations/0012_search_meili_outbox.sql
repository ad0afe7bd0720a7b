-- The Meilisearch backlog becomes the search projection's outbox. The projection never calls
-- Meilisearch: in the transaction that updates the Postgres index it records here which product
-- Meilisearch must hear about, and a sender ships these rows in batches, several tasks in flight,
-- deleting a row only once Meilisearch confirmed the task (and only if the row did not change
-- meanwhile, hence `rev`). `whole` is false when only the in-stock flag changed, so the sender
-- sends a partial update of that field alone.
CREATE SEQUENCE IF NOT EXISTS search_meili_backlog_rev;
ALTER TABLE search_meili_backlog
    ADD COLUMN IF NOT EXISTS whole boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS rev bigint NOT NULL DEFAULT nextval('search_meili_backlog_rev');
CREATE INDEX IF NOT EXISTS search_meili_backlog_rev_idx ON search_meili_backlog (rev);

-- The cart and category read models keep only read-model columns: their projections fold the
-- (short) streams from the event store instead of a copy of the aggregate in the row, so a
-- cart's row no longer holds its guest-token hash or any other private field of the aggregate.
ALTER TABLE carts DROP COLUMN IF EXISTS state;
ALTER TABLE categories DROP COLUMN IF EXISTS state;

-- A vendor's order list filtered by status (the orders to ship, the dashboard) reads only the
-- rows of that status, newest first, however many orders the vendor has.
CREATE INDEX IF NOT EXISTS vendor_orders_status ON vendor_orders (vendor_id, status, placed_at DESC, order_id);

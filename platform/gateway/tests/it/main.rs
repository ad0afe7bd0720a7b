//! The crate's one integration-test binary: the test providers against a private Postgres
//! database each, and the Stripe adapters against a local server that plays Stripe's API; each
//! provider's statement (reconciliation) likewise.

mod fake_stripe;
mod stripe;
mod stripe_payouts;
mod stripe_statement;
mod test_gateway;
mod test_payouts;
mod test_statement;

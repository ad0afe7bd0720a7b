//! The crate's one integration-test binary: the test providers against a private Postgres
//! database each, and the Stripe adapters against a local server that plays Stripe's API.

mod fake_stripe;
mod stripe;
mod stripe_payouts;
mod test_gateway;
mod test_payouts;

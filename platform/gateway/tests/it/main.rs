//! The crate's one integration-test binary: the test gateway against a private Postgres
//! database, and the Stripe adapter against a local server that plays Stripe's API.

mod stripe;
mod test_gateway;

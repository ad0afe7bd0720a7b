//! Everything Agora says over NATS: subjects, headers, the JSON codec, the typed request helper
//! and the micro-service host.
//!
//! Invariants:
//! - no other crate builds a subject string; they call [`subjects`];
//! - every request carries a deadline, a correlation id and a causation id in headers
//!   ([`RequestContext`]); a service never starts work whose deadline has passed;
//! - an error reply always carries `Nats-Service-Error` (message), `Nats-Service-Error-Code`
//!   (the HTTP status the edge should use) and `Agora-Error-Code` (the stable code).

pub mod codec;
mod context;
mod contract;
mod envelope;
mod request;
mod service;
pub mod subjects;

pub use context::{headers, RequestContext};
pub use contract::{check_id, decode_command, decode_query};
pub use envelope::{CommandEnvelope, CommandReply, QueryEnvelope};
pub use request::Bus;
pub use service::{serve_endpoints, Handler, ServiceSpec};

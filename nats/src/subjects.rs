//! The subject grammar. Service and endpoint names are lower-case `[a-z0-9_-]`; aggregate ids
//! are `[A-Za-z0-9_-]` (UUIDs, SKUs, slugs); nothing else, so no id can inject a `.` or wildcard.
//!
//! ```text
//! agora.<service>.<endpoint>            request-reply endpoint of a micro service
//!                                       (queue group "agora", one group per service)
//! agora.evt.<aggregate_type>.<id>       the event feed: one subject per stream, in the
//!                                       JetStream stream AGORA_EVENTS
//! agora.feed.wake                       "new events committed": wakes the feed relay (core NATS,
//!                                       best effort; the relay also polls)
//! agora.feed.replay.<consumer>          replay one parked event through a feed consumer's
//!                                       handler (request-reply, queue group "agora")
//! $SRV.PING|INFO|STATS[.<service>]      discovery, answered by the NATS micro-services API
//! ```

/// The JetStream stream that carries every committed event.
pub const EVENT_STREAM: &str = "AGORA_EVENTS";
/// Every subject of the event feed.
pub const ALL_EVENTS: &str = "agora.evt.>";
/// Published after every commit to wake the feed relay without waiting for its next poll.
pub const FEED_WAKE: &str = "agora.feed.wake";
/// Where the instances of feed consumer `consumer` take requests to replay one of its parked
/// events: `agora.feed.replay.<consumer>`.
pub fn feed_replay(consumer: &str) -> String {
    debug_assert!(is_token(consumer));
    format!("agora.feed.replay.{consumer}")
}

/// The queue group every service instance joins, so requests are shared between instances.
pub const QUEUE_GROUP: &str = "agora";

/// The group prefix of a service's endpoints: `agora.<service>`.
pub fn service_group(service: &str) -> String {
    debug_assert!(is_token(service));
    format!("agora.{service}")
}

/// A request-reply endpoint: `agora.<service>.<endpoint>`.
pub fn endpoint(service: &str, endpoint: &str) -> String {
    debug_assert!(is_token(service) && is_token(endpoint));
    format!("agora.{service}.{endpoint}")
}

/// The feed subject of one stream: `agora.evt.<aggregate_type>.<id>`.
pub fn event(aggregate_type: &str, aggregate_id: &str) -> String {
    debug_assert!(is_token(aggregate_type) && is_token(aggregate_id));
    format!("agora.evt.{aggregate_type}.{aggregate_id}")
}

/// Every feed subject of one aggregate type: `agora.evt.<aggregate_type>.>`.
pub fn events_of(aggregate_type: &str) -> String {
    debug_assert!(is_token(aggregate_type));
    format!("agora.evt.{aggregate_type}.>")
}

/// The feed subjects of every stream with id `aggregate_id`, of any type:
/// `agora.evt.*.<aggregate_id>` (an order's own stream, its checkout's and its payment's).
pub fn events_with_id(aggregate_id: &str) -> String {
    debug_assert!(is_token(aggregate_id));
    format!("agora.evt.*.{aggregate_id}")
}

/// Whether `s` can be one subject token in the grammar above.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_grammar() {
        assert_eq!(endpoint("cart", "add_item"), "agora.cart.add_item");
        assert_eq!(
            event("cart", "0b4f8a3e-3c2f-4a57-9d0c-8c5e4d7e0a11"),
            "agora.evt.cart.0b4f8a3e-3c2f-4a57-9d0c-8c5e4d7e0a11"
        );
        assert_eq!(events_of("cart"), "agora.evt.cart.>");
    }

    #[test]
    fn tokens_reject_wildcards_and_separators() {
        for bad in ["", "a.b", "*", ">", "a b", "é"] {
            assert!(!is_token(bad), "{bad:?}");
        }
        assert!(is_token("0b4f8a3e-3c2f-4a57-9d0c-8c5e4d7e0a11"));
    }
}

use uuid::Uuid;

use crate::{Channel, Kind};

/// The namespace of notification ids (a fixed random UUID; changing it would change every id).
const NAMESPACE: Uuid = Uuid::from_u128(0x5e1f_0c2a_8d4b_4b7e_9a61_3f0d_2c7b_91a4);

/// What caused a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// One event of the log: stream type, stream id and sequence name it exactly once.
    Event {
        stream_type: String,
        stream_id: String,
        sequence: u64,
    },
    /// A row of another context's outbox (identity's mail), whose id is already unique: the
    /// notification takes that id.
    Outbox { id: Uuid },
}

/// The deterministic id of a notification: UUID v5 of the source event, the kind, the channel
/// and the recipient. The same event seen twice (a redelivery, a replay, two notifier
/// instances) gives the same id, and the table's primary key turns the second insert into
/// nothing. Recipients compare case-insensitively.
pub fn notification_id(source: &Source, kind: Kind, channel: Channel, recipient: &str) -> Uuid {
    match source {
        Source::Outbox { id } => *id,
        Source::Event {
            stream_type,
            stream_id,
            sequence,
        } => {
            let name = format!(
                "{stream_type}\n{stream_id}\n{sequence}\n{}\n{}\n{}",
                kind.as_str(),
                channel.as_str(),
                recipient.trim().to_lowercase()
            );
            Uuid::new_v5(&NAMESPACE, name.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> Source {
        Source::Event {
            stream_type: "order".into(),
            stream_id: "0b5c".into(),
            sequence: seq,
        }
    }

    #[test]
    fn the_same_event_kind_channel_and_recipient_give_the_same_id() {
        let a = notification_id(&event(4), Kind::OrderConfirmed, Channel::Email, "ada@x.org");
        let b = notification_id(&event(4), Kind::OrderConfirmed, Channel::Email, "ADA@x.org");
        assert_eq!(a, b);
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn any_difference_gives_another_id() {
        let base = notification_id(&event(4), Kind::OrderConfirmed, Channel::Email, "a@x.org");
        let others = [
            notification_id(&event(5), Kind::OrderConfirmed, Channel::Email, "a@x.org"),
            notification_id(&event(4), Kind::OrderShipped, Channel::Email, "a@x.org"),
            notification_id(&event(4), Kind::OrderConfirmed, Channel::Sms, "a@x.org"),
            notification_id(&event(4), Kind::OrderConfirmed, Channel::Email, "b@x.org"),
        ];
        for other in others {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn an_outbox_row_keeps_its_id() {
        let id = Uuid::from_u128(7);
        assert_eq!(
            notification_id(
                &Source::Outbox { id },
                Kind::PasswordReset,
                Channel::Email,
                "a@x.org"
            ),
            id
        );
    }
}

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{DomainError, Principal};

/// The pure core of an event-sourced aggregate: `decide` turns a command into events (or a
/// domain error) without IO, clock or randomness; `evolve` folds one event into the state.
/// The actor runtime (`agora-runtime`) is the shell that loads, persists and replies.
pub trait Decider: Default + Clone + Send + Sync + 'static {
    /// The stream type, also the event-store `aggregate_type` and the feed subject token.
    /// A published contract: never rename it.
    const TYPE: &'static str;
    type Command: Clone + Serialize + DeserializeOwned + Send + Sync + std::fmt::Debug + 'static;
    type Event: Clone + Serialize + DeserializeOwned + Send + Sync + std::fmt::Debug + 'static;
    type Error: DomainError + Send + 'static;
    /// What a command or a read replies with: never credentials or internal fields.
    type View: Serialize + Send + 'static;

    fn decide(
        &self,
        id: &str,
        command: &Self::Command,
        by: &Principal,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    fn evolve(&mut self, event: &Self::Event);

    /// Whether a read of this aggregate by `by` is allowed (ownership), and the aggregate exists.
    fn authorize_read(&self, by: &Principal) -> Result<(), Self::Error>;

    /// Whether `by` may read the aggregate `id`; defaults to [`Decider::authorize_read`]. An
    /// aggregate whose stream id names its owner (a vendor's own shipping rates) decides here.
    /// The host calls this one.
    fn authorize_read_of(&self, _id: &str, by: &Principal) -> Result<(), Self::Error> {
        self.authorize_read(by)
    }

    /// The full view: what a read of the aggregate replies with.
    fn view(&self, id: &str, version: u64) -> Self::View;

    /// What a command's reply carries; defaults to the full view. An aggregate whose view
    /// grows with its state (a hot SKU's open reservations) can reply with a summary instead,
    /// so that a command costs the same however large the aggregate has grown.
    fn command_view(&self, id: &str, version: u64) -> Self::View {
        self.view(id, version)
    }

    /// What a read by `by` replies with, once [`Decider::authorize_read`] allowed it; defaults
    /// to the full view. An aggregate that shows a caller only its share (a marketplace
    /// vendor sees its own lines of an order) narrows it here, so the narrowing holds for
    /// every way the view leaves the host.
    fn view_for(&self, id: &str, version: u64, _by: &Principal) -> Self::View {
        self.view(id, version)
    }

    /// What a command's reply to `by` carries; defaults to [`Decider::command_view`]. Narrow it
    /// as [`Decider::view_for`] does.
    fn command_view_for(&self, id: &str, version: u64, _by: &Principal) -> Self::View {
        self.command_view(id, version)
    }

    /// The stable event type name recorded in the store (`ItemAdded`).
    fn event_type(event: &Self::Event) -> &'static str;

    /// The event payload version; bump it (and add an upcaster) when a payload changes shape.
    fn event_version(_event: &Self::Event) -> &'static str {
        "1"
    }
}

/// A command as cqrs-es sees it: the stream id and the principal travel with it.
pub struct CqrsEnvelope<C> {
    pub id: String,
    pub by: Principal,
    pub command: C,
}

/// Implements cqrs-es's `DomainEvent` for a decider's event and `Aggregate` for the decider,
/// both delegating to the pure `decide`/`evolve`, so postgres-es and the cqrs-es test framework
/// can run any aggregate. The calling crate depends on `cqrs-es`; this crate does not.
///
/// ```ignore
/// agora_kernel::cqrs_aggregate!(Cart, CartEvent);
/// ```
#[macro_export]
macro_rules! cqrs_aggregate {
    ($aggregate:ty, $event:ty) => {
        impl ::cqrs_es::DomainEvent for $event {
            fn event_type(&self) -> String {
                <$aggregate as $crate::Decider>::event_type(self).to_string()
            }
            fn event_version(&self) -> String {
                <$aggregate as $crate::Decider>::event_version(self).to_string()
            }
        }

        impl ::cqrs_es::Aggregate for $aggregate {
            const TYPE: &'static str = <$aggregate as $crate::Decider>::TYPE;
            type Command = $crate::CqrsEnvelope<<$aggregate as $crate::Decider>::Command>;
            type Event = $event;
            type Error = <$aggregate as $crate::Decider>::Error;
            type Services = ();

            async fn handle(
                &mut self,
                envelope: Self::Command,
                _services: &(),
                sink: &::cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), Self::Error> {
                for event in
                    $crate::Decider::decide(self, &envelope.id, &envelope.command, &envelope.by)?
                {
                    sink.write(event, self).await;
                }
                Ok(())
            }

            fn apply(&mut self, event: Self::Event) {
                $crate::Decider::evolve(self, &event);
            }
        }
    };
}

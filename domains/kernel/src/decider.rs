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

    fn view(&self, id: &str, version: u64) -> Self::View;

    /// The stable event type name recorded in the store (`ItemAdded`).
    fn event_type(event: &Self::Event) -> &'static str;

    /// The event payload version; bump it (and add an upcaster) when a payload changes shape.
    fn event_version(_event: &Self::Event) -> &'static str {
        "1"
    }
}

//! A service's published contract: one typed definition of what a bounded context answers on
//! the bus. Callers name a command value, never an endpoint string: the transport derives the
//! endpoint `agora.<service>.<command name>` from the contract.
//!
//! ```ignore
//! agora_kernel::contract!(Cart {
//!     service: "cart",
//!     description: "Shopping carts: one actor per live cart",
//!     command: CartCommand,
//!     view: CartView,
//! });
//! ```
//!
//! A command enum derives its names with `strum` (`IntoStaticStr`, `VariantNames`, both
//! `serialize_all = "snake_case"`, like its serde tags); [`check_names`] is the test that the two
//! agree.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The endpoint that reads one aggregate's current view (`agora.<service>.get`).
pub const GET: &str = "get";

/// What one service answers on the bus.
pub trait Contract: Send + Sync + 'static {
    /// The micro-service name; its endpoints are `agora.<SERVICE>.<command name>`. A published
    /// contract: never rename it.
    const SERVICE: &'static str;
    /// What `$SRV.INFO` says about the service.
    const DESCRIPTION: &'static str;
    /// Whether the service answers [`GET`] with a [`Contract::View`].
    const READABLE: bool = true;
    /// Everything the service can be asked to do, one variant per endpoint.
    type Command: Command<Contract = Self>;
    /// What a read replies with, and what a command's reply carries.
    type View: Serialize + DeserializeOwned + Send + 'static;

    /// Every endpoint name: the commands', then [`GET`] when the service is readable.
    fn endpoints() -> Vec<&'static str> {
        let mut endpoints = <Self::Command as Command>::NAMES.to_vec();
        if Self::READABLE {
            endpoints.push(GET);
        }
        endpoints
    }
}

/// A command enum of a [`Contract`]: it travels whole (`{"add_item": {..}}`) to the endpoint
/// named by its variant.
pub trait Command: Serialize + DeserializeOwned + Send + Sync + 'static {
    type Contract: Contract<Command = Self>;
    /// Every variant's name, which is its endpoint name.
    const NAMES: &'static [&'static str];
    /// This command's name, the same as its serde tag.
    fn name(&self) -> &'static str;
}

/// Implements [`Contract`] for a marker (or the aggregate) type and [`Command`] for its command
/// enum, whose names come from `strum`'s derives. The calling crate depends on `strum`.
#[macro_export]
macro_rules! contract {
    ($contract:ty {
        service: $service:literal,
        description: $description:literal,
        $(readable: $readable:literal,)?
        command: $command:ty,
        view: $view:ty $(,)?
    }) => {
        impl $crate::Contract for $contract {
            const SERVICE: &'static str = $service;
            const DESCRIPTION: &'static str = $description;
            $(const READABLE: bool = $readable;)?
            type Command = $command;
            type View = $view;
        }

        impl $crate::Command for $command {
            type Contract = $contract;
            const NAMES: &'static [&'static str] = <$command as ::strum::VariantNames>::VARIANTS;
            fn name(&self) -> &'static str {
                self.into()
            }
        }
    };
}

/// Checks a command enum's contract against its serde shape, given one command of every
/// variant: each serializes under the tag [`Command::name`] gives it, the names are
/// [`Command::NAMES`] in order, and each decodes back to the same JSON. For each command crate's
/// tests.
pub fn check_names<C: Command>(every_variant: &[C]) {
    assert_eq!(
        every_variant.len(),
        C::NAMES.len(),
        "give one command of every variant"
    );
    for (command, name) in every_variant.iter().zip(C::NAMES) {
        assert_eq!(command.name(), *name, "names are in declaration order");
        let json = serde_json::to_value(command).expect("a command serializes");
        let tag = match &json {
            serde_json::Value::Object(map) if map.len() == 1 => map.keys().next().cloned(),
            serde_json::Value::String(unit) => Some(unit.clone()),
            _ => None,
        };
        assert_eq!(tag.as_deref(), Some(*name), "serde tags {json} as its name");
        let back: C = serde_json::from_value(json.clone()).expect("a command decodes");
        assert_eq!(
            serde_json::to_value(&back).expect("a command serializes"),
            json
        );
    }
}

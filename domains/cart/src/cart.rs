use std::collections::BTreeMap;

use agora_kernel::{CustomerId, Decider, Principal, Sku};
use agora_promotion::PromotionCode;
use serde::{Deserialize, Serialize};

use crate::{CartCommand, CartError, CartEvent};

/// Most units of one SKU in one cart.
pub const MAX_QUANTITY: i64 = 99;
/// Most distinct SKUs in one cart.
pub const MAX_LINES: usize = 100;
/// How long a checkout holds its lock on a cart before another checkout may take it over.
pub const CHECKOUT_LOCK_SECS: i64 = 15 * 60;

/// Who owns a cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CartOwner {
    /// A guest, identified by the SHA-256 of the cart's secret token.
    Guest {
        token_sha256: String,
    },
    Customer {
        customer_id: CustomerId,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CartStatus {
    /// No `CartCreated` yet: the stream is empty.
    #[default]
    New,
    Open,
    Merged,
    /// Locked by a checkout in progress: lines cannot change.
    CheckingOut,
    /// Turned into an order: closed for good.
    CheckedOut,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartLine {
    pub sku: Sku,
    pub quantity: i64,
}

/// The cart's state, folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub owner: Option<CartOwner>,
    pub status: CartStatus,
    pub lines: BTreeMap<Sku, i64>,
    pub merged_into: Option<String>,
    /// The checkout holding (or that last held) the cart, and when it began.
    #[serde(default)]
    pub checkout: Option<(String, chrono::DateTime<chrono::Utc>)>,
    /// The promotion code the shopper entered, if any.
    #[serde(default)]
    pub code: Option<PromotionCode>,
}

/// What a shopper sees of a cart: no token hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartView {
    pub id: String,
    pub version: u64,
    pub status: CartStatus,
    pub customer_id: Option<CustomerId>,
    pub lines: Vec<CartLine>,
    pub item_count: i64,
    pub merged_into: Option<String>,
    /// The order of the checkout in progress or completed.
    #[serde(default)]
    pub order_id: Option<String>,
    /// The promotion code the shopper entered (pricing says whether it applies).
    #[serde(default)]
    pub code: Option<PromotionCode>,
}

/// Back-office roles that may read any cart (the sales area's readers). No staff role may
/// change a cart: only its owner does, and the platform drives its checkout.
pub const BACK_OFFICE_READERS: &[&str] = &["admin", "staff", "auditor"];

impl Cart {
    /// Whether `by` is the shopper who owns the cart: the guest holding its token, or the
    /// customer it belongs to. Nobody else, staff included.
    fn owned_by(&self, by: &Principal) -> bool {
        match (&self.owner, by) {
            (Some(CartOwner::Guest { token_sha256 }), Principal::Guest { token_sha256: t }) => {
                agora_kernel::same_digest(token_sha256, t)
            }
            (Some(CartOwner::Customer { customer_id }), Principal::Customer { id }) => {
                customer_id == id
            }
            _ => false,
        }
    }

    /// Whether `by` may read the cart: its owner, the platform, and back-office readers.
    fn readable_by(&self, by: &Principal) -> bool {
        match by {
            Principal::System { .. } => true,
            Principal::Staff { role, .. } => BACK_OFFICE_READERS.contains(&role.as_str()),
            // A cart holds no vendor's data but the shopper's.
            Principal::Vendor { .. } => false,
            Principal::Guest { .. } | Principal::Customer { .. } => self.owned_by(by),
        }
    }

    fn open_for(&self, by: &Principal) -> Result<(), CartError> {
        // Anyone who may not read the cart learns nothing, not even that it exists.
        if self.status == CartStatus::New || !self.readable_by(by) {
            return Err(CartError::NotFound);
        }
        if !self.owned_by(by) {
            return Err(CartError::Forbidden);
        }
        match self.status {
            CartStatus::Merged | CartStatus::CheckedOut => Err(CartError::Closed),
            CartStatus::CheckingOut => Err(CartError::CheckoutInProgress),
            CartStatus::New | CartStatus::Open => Ok(()),
        }
    }

    /// The checkout commands: the lock lives beside the cart's own rules.
    fn decide_checkout(
        &self,
        command: &CartCommand,
        by: &Principal,
    ) -> Result<Vec<CartEvent>, CartError> {
        if self.status == CartStatus::New || !self.readable_by(by) {
            return Err(CartError::NotFound);
        }
        // The owner starts a checkout; the platform (the saga) completes or aborts it.
        if !self.owned_by(by) && !matches!(by, Principal::System { .. }) {
            return Err(CartError::Forbidden);
        }
        let holder = self.checkout.as_ref().map(|(order, _)| order.as_str());
        match command {
            CartCommand::BeginCheckout { order_id, now } => match self.status {
                CartStatus::CheckedOut if holder == Some(order_id) => Ok(vec![]),
                CartStatus::Merged | CartStatus::CheckedOut => Err(CartError::Closed),
                CartStatus::CheckingOut if holder == Some(order_id) => Ok(vec![]),
                CartStatus::CheckingOut => {
                    let since = self.checkout.as_ref().map(|(_, at)| *at).unwrap_or(*now);
                    if (*now - since).num_seconds() < CHECKOUT_LOCK_SECS {
                        return Err(CartError::CheckoutInProgress);
                    }
                    Ok(vec![CartEvent::CheckoutBegun {
                        order_id: order_id.clone(),
                        at: *now,
                    }])
                }
                CartStatus::New | CartStatus::Open if self.lines.is_empty() => {
                    Err(CartError::Empty)
                }
                CartStatus::New | CartStatus::Open => Ok(vec![CartEvent::CheckoutBegun {
                    order_id: order_id.clone(),
                    at: *now,
                }]),
            },
            CartCommand::CompleteCheckout { order_id } => {
                if !matches!(by, Principal::System { .. }) {
                    return Err(CartError::Forbidden);
                }
                match self.status {
                    CartStatus::CheckedOut if holder == Some(order_id) => Ok(vec![]),
                    CartStatus::CheckingOut if holder == Some(order_id) => {
                        Ok(vec![CartEvent::CheckedOut {
                            order_id: order_id.clone(),
                        }])
                    }
                    _ => Err(CartError::CheckoutMismatch),
                }
            }
            CartCommand::AbortCheckout { order_id } => {
                if !matches!(by, Principal::System { .. }) {
                    return Err(CartError::Forbidden);
                }
                // A late abort of a checkout that no longer holds the cart changes nothing.
                if self.status == CartStatus::CheckingOut && holder == Some(order_id) {
                    Ok(vec![CartEvent::CheckoutAborted {
                        order_id: order_id.clone(),
                    }])
                } else {
                    Ok(vec![])
                }
            }
            _ => Err(CartError::NotFound),
        }
    }

    fn check_quantity(quantity: i64) -> Result<(), CartError> {
        if (1..=MAX_QUANTITY).contains(&quantity) {
            Ok(())
        } else {
            Err(CartError::QuantityOutOfRange)
        }
    }

    /// The events that adding `quantity` of `sku` produces, checking every limit.
    fn add(&self, sku: &Sku, quantity: i64) -> Result<CartEvent, CartError> {
        Self::check_quantity(quantity)?;
        match self.lines.get(sku) {
            Some(existing) => Self::check_quantity(existing + quantity)?,
            None if self.lines.len() >= MAX_LINES => return Err(CartError::TooManyLines),
            None => {}
        }
        Ok(CartEvent::ItemAdded {
            sku: sku.clone(),
            quantity,
        })
    }
}

impl Decider for Cart {
    const TYPE: &'static str = "cart";
    type Command = CartCommand;
    type Event = CartEvent;
    type Error = CartError;
    type View = CartView;

    fn decide(
        &self,
        id: &str,
        command: &CartCommand,
        by: &Principal,
    ) -> Result<Vec<CartEvent>, CartError> {
        if let CartCommand::Create {} = command {
            if self.status != CartStatus::New {
                return Err(CartError::AlreadyExists);
            }
            let owner = match by {
                Principal::Guest { token_sha256 } => CartOwner::Guest {
                    token_sha256: token_sha256.clone(),
                },
                Principal::Customer { id } => CartOwner::Customer { customer_id: *id },
                // Back-office and system carts have no shopper to own them.
                Principal::Staff { .. } | Principal::Vendor { .. } | Principal::System { .. } => {
                    return Err(CartError::NotFound)
                }
            };
            return Ok(vec![CartEvent::CartCreated { owner }]);
        }
        if matches!(
            command,
            CartCommand::BeginCheckout { .. }
                | CartCommand::CompleteCheckout { .. }
                | CartCommand::AbortCheckout { .. }
        ) {
            return self.decide_checkout(command, by);
        }
        self.open_for(by)?;
        let events = match command {
            // Handled above; kept total so a new command cannot slip past the owner check.
            CartCommand::Create {} => return Err(CartError::AlreadyExists),
            CartCommand::AddItem { sku, quantity } => vec![self.add(sku, *quantity)?],
            CartCommand::ChangeQuantity { sku, quantity } => {
                Self::check_quantity(*quantity)?;
                match self.lines.get(sku) {
                    None => return Err(CartError::ItemNotInCart),
                    Some(q) if q == quantity => vec![],
                    Some(_) => vec![CartEvent::QuantityChanged {
                        sku: sku.clone(),
                        quantity: *quantity,
                    }],
                }
            }
            CartCommand::RemoveItem { sku } => {
                if !self.lines.contains_key(sku) {
                    return Err(CartError::ItemNotInCart);
                }
                vec![CartEvent::ItemRemoved { sku: sku.clone() }]
            }
            CartCommand::Clear {} if self.lines.is_empty() => vec![],
            CartCommand::Clear {} => vec![CartEvent::CartCleared {}],
            CartCommand::AbsorbGuestCart {
                source_cart_id,
                lines,
                code,
            } => {
                if !matches!(self.owner, Some(CartOwner::Customer { .. })) {
                    return Err(CartError::MergeTargetIsGuest);
                }
                if source_cart_id == id {
                    return Err(CartError::MergeIntoSelf);
                }
                // Quantities add up, capped at the per-line maximum rather than refusing the
                // whole merge: a shopper signing in must not lose their cart over a limit.
                let mut merged = self.lines.clone();
                let mut absorbed = Vec::new();
                for line in lines {
                    Self::check_quantity(line.quantity)?;
                    let current = merged.get(&line.sku).copied().unwrap_or(0);
                    if current == 0 && merged.len() >= MAX_LINES {
                        continue;
                    }
                    let added = (MAX_QUANTITY - current).min(line.quantity);
                    if added > 0 {
                        merged.insert(line.sku.clone(), current + added);
                        absorbed.push(CartLine {
                            sku: line.sku.clone(),
                            quantity: added,
                        });
                    }
                }
                vec![CartEvent::GuestCartAbsorbed {
                    source_cart_id: source_cart_id.clone(),
                    lines: absorbed,
                    code: code.clone().filter(|_| self.code.is_none()),
                }]
            }
            CartCommand::ApplyCode { code } if self.code.as_ref() == Some(code) => vec![],
            CartCommand::ApplyCode { code } => vec![CartEvent::CodeApplied { code: code.clone() }],
            CartCommand::RemoveCode {} if self.code.is_none() => vec![],
            CartCommand::RemoveCode {} => vec![CartEvent::CodeRemoved {}],
            CartCommand::BeginCheckout { .. }
            | CartCommand::CompleteCheckout { .. }
            | CartCommand::AbortCheckout { .. } => return self.decide_checkout(command, by),
            CartCommand::MarkMerged { target_cart_id } => {
                if target_cart_id == id {
                    return Err(CartError::MergeIntoSelf);
                }
                vec![CartEvent::CartMerged {
                    target_cart_id: target_cart_id.clone(),
                }]
            }
        };
        Ok(events)
    }

    fn evolve(&mut self, event: &CartEvent) {
        match event {
            CartEvent::CartCreated { owner } => {
                self.owner = Some(owner.clone());
                self.status = CartStatus::Open;
            }
            CartEvent::ItemAdded { sku, quantity } => {
                *self.lines.entry(sku.clone()).or_insert(0) += quantity;
            }
            CartEvent::QuantityChanged { sku, quantity } => {
                self.lines.insert(sku.clone(), *quantity);
            }
            CartEvent::ItemRemoved { sku } => {
                self.lines.remove(sku);
            }
            CartEvent::CartCleared {} => self.lines.clear(),
            CartEvent::GuestCartAbsorbed { lines, code, .. } => {
                for line in lines {
                    *self.lines.entry(line.sku.clone()).or_insert(0) += line.quantity;
                }
                if code.is_some() {
                    self.code = code.clone();
                }
            }
            CartEvent::CodeApplied { code } => self.code = Some(code.clone()),
            CartEvent::CodeRemoved {} => self.code = None,
            CartEvent::CartMerged { target_cart_id } => {
                self.status = CartStatus::Merged;
                self.merged_into = Some(target_cart_id.clone());
            }
            CartEvent::CheckoutBegun { order_id, at } => {
                self.status = CartStatus::CheckingOut;
                self.checkout = Some((order_id.clone(), *at));
            }
            CartEvent::CheckedOut { .. } => self.status = CartStatus::CheckedOut,
            CartEvent::CheckoutAborted { .. } => self.status = CartStatus::Open,
        }
    }

    fn authorize_read(&self, by: &Principal) -> Result<(), CartError> {
        if self.status == CartStatus::New || !self.readable_by(by) {
            return Err(CartError::NotFound);
        }
        Ok(())
    }

    fn view(&self, id: &str, version: u64) -> CartView {
        CartView {
            id: id.to_string(),
            version,
            status: self.status,
            customer_id: match &self.owner {
                Some(CartOwner::Customer { customer_id }) => Some(*customer_id),
                _ => None,
            },
            lines: self
                .lines
                .iter()
                .map(|(sku, quantity)| CartLine {
                    sku: sku.clone(),
                    quantity: *quantity,
                })
                .collect(),
            item_count: self.lines.values().sum(),
            merged_into: self.merged_into.clone(),
            order_id: match self.status {
                CartStatus::CheckingOut | CartStatus::CheckedOut => {
                    self.checkout.as_ref().map(|(order, _)| order.clone())
                }
                _ => None,
            },
            code: self.code.clone(),
        }
    }

    fn event_type(event: &CartEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Cart, CartEvent);

pub use agora_kernel::CqrsEnvelope;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_sha256;

    const ID: &str = "0b4f8a3e-3c2f-4a57-9d0c-8c5e4d7e0a11";

    fn guest() -> Principal {
        Principal::Guest {
            token_sha256: token_sha256("secret"),
        }
    }

    fn sku(s: &str) -> Sku {
        Sku::parse(s).expect("valid sku")
    }

    fn created() -> CartEvent {
        CartEvent::CartCreated {
            owner: CartOwner::Guest {
                token_sha256: token_sha256("secret"),
            },
        }
    }

    /// Given events, when a command by a principal, then these events or this error.
    fn check(
        given: Vec<CartEvent>,
        by: Principal,
        when: CartCommand,
        then: Result<Vec<CartEvent>, CartError>,
    ) {
        let mut cart = Cart::default();
        for e in &given {
            cart.evolve(e);
        }
        assert_eq!(cart.decide(ID, &when, &by), then);
    }

    #[test]
    fn a_guest_creates_a_cart_they_own() {
        check(vec![], guest(), CartCommand::Create {}, Ok(vec![created()]));
    }

    #[test]
    fn a_cart_cannot_be_created_twice() {
        check(
            vec![created()],
            guest(),
            CartCommand::Create {},
            Err(CartError::AlreadyExists),
        );
    }

    #[test]
    fn adding_to_a_missing_cart_is_not_found() {
        check(
            vec![],
            guest(),
            CartCommand::AddItem {
                sku: sku("A"),
                quantity: 1,
            },
            Err(CartError::NotFound),
        );
    }

    #[test]
    fn adding_an_item_records_it() {
        check(
            vec![created()],
            guest(),
            CartCommand::AddItem {
                sku: sku("A"),
                quantity: 2,
            },
            Ok(vec![CartEvent::ItemAdded {
                sku: sku("A"),
                quantity: 2,
            }]),
        );
    }

    #[test]
    fn quantities_outside_the_limits_are_rejected() {
        for q in [0, -1, MAX_QUANTITY + 1, i64::MAX, i64::MIN] {
            check(
                vec![created()],
                guest(),
                CartCommand::AddItem {
                    sku: sku("A"),
                    quantity: q,
                },
                Err(CartError::QuantityOutOfRange),
            );
        }
        check(
            vec![
                created(),
                CartEvent::ItemAdded {
                    sku: sku("A"),
                    quantity: 90,
                },
            ],
            guest(),
            CartCommand::AddItem {
                sku: sku("A"),
                quantity: 10,
            },
            Err(CartError::QuantityOutOfRange),
        );
    }

    #[test]
    fn a_cart_holds_at_most_max_lines() {
        let mut given = vec![created()];
        for i in 0..MAX_LINES {
            given.push(CartEvent::ItemAdded {
                sku: sku(&format!("S{i}")),
                quantity: 1,
            });
        }
        check(
            given.clone(),
            guest(),
            CartCommand::AddItem {
                sku: sku("NEW"),
                quantity: 1,
            },
            Err(CartError::TooManyLines),
        );
        // Adding to an existing line is still fine.
        check(
            given,
            guest(),
            CartCommand::AddItem {
                sku: sku("S0"),
                quantity: 1,
            },
            Ok(vec![CartEvent::ItemAdded {
                sku: sku("S0"),
                quantity: 1,
            }]),
        );
    }

    fn staff(role: &str) -> Principal {
        Principal::Staff {
            id: format!("{role}-1"),
            role: role.into(),
        }
    }

    #[test]
    fn back_office_readers_see_a_cart_but_no_staff_role_changes_it() {
        let mut cart = Cart::default();
        cart.evolve(&created());
        for role in BACK_OFFICE_READERS {
            assert_eq!(cart.authorize_read(&staff(role)), Ok(()), "{role} reads");
            for when in [
                CartCommand::AddItem {
                    sku: sku("A"),
                    quantity: 1,
                },
                CartCommand::Clear {},
                CartCommand::BeginCheckout {
                    order_id: "o".into(),
                    now: chrono::DateTime::UNIX_EPOCH,
                },
            ] {
                check(
                    vec![created()],
                    staff(role),
                    when,
                    Err(CartError::Forbidden),
                );
            }
        }
        assert_eq!(
            cart.authorize_read(&Principal::system("saga")),
            Ok(()),
            "the platform reads"
        );
        check(
            vec![created()],
            Principal::system("saga"),
            CartCommand::AddItem {
                sku: sku("A"),
                quantity: 1,
            },
            Err(CartError::Forbidden),
        );
    }

    #[test]
    fn a_vendor_cannot_tell_a_cart_exists() {
        let mut cart = Cart::default();
        cart.evolve(&created());
        assert_eq!(
            cart.authorize_read(&staff("vendor")),
            Err(CartError::NotFound)
        );
        check(
            vec![created()],
            staff("vendor"),
            CartCommand::AddItem {
                sku: sku("A"),
                quantity: 1,
            },
            Err(CartError::NotFound),
        );
    }

    #[test]
    fn someone_elses_cart_looks_missing() {
        let other = Principal::Guest {
            token_sha256: token_sha256("other"),
        };
        check(
            vec![created()],
            other.clone(),
            CartCommand::AddItem {
                sku: sku("A"),
                quantity: 1,
            },
            Err(CartError::NotFound),
        );
        let mut cart = Cart::default();
        cart.evolve(&created());
        assert_eq!(cart.authorize_read(&other), Err(CartError::NotFound));
        assert_eq!(cart.authorize_read(&guest()), Ok(()));
        let customer = Principal::Customer {
            id: CustomerId::new_random(),
        };
        assert_eq!(cart.authorize_read(&customer), Err(CartError::NotFound));
    }

    #[test]
    fn changing_and_removing_require_the_line() {
        check(
            vec![created()],
            guest(),
            CartCommand::ChangeQuantity {
                sku: sku("A"),
                quantity: 3,
            },
            Err(CartError::ItemNotInCart),
        );
        check(
            vec![created()],
            guest(),
            CartCommand::RemoveItem { sku: sku("A") },
            Err(CartError::ItemNotInCart),
        );
        let with_a = vec![
            created(),
            CartEvent::ItemAdded {
                sku: sku("A"),
                quantity: 1,
            },
        ];
        check(
            with_a.clone(),
            guest(),
            CartCommand::ChangeQuantity {
                sku: sku("A"),
                quantity: 3,
            },
            Ok(vec![CartEvent::QuantityChanged {
                sku: sku("A"),
                quantity: 3,
            }]),
        );
        check(
            with_a.clone(),
            guest(),
            CartCommand::ChangeQuantity {
                sku: sku("A"),
                quantity: 1,
            },
            Ok(vec![]),
        );
        check(
            with_a,
            guest(),
            CartCommand::RemoveItem { sku: sku("A") },
            Ok(vec![CartEvent::ItemRemoved { sku: sku("A") }]),
        );
    }

    #[test]
    fn clearing_an_empty_cart_changes_nothing() {
        check(vec![created()], guest(), CartCommand::Clear {}, Ok(vec![]));
    }

    #[test]
    fn a_customer_cart_absorbs_a_guest_cart_capping_quantities() {
        let customer_id = CustomerId::new_random();
        let customer = Principal::Customer { id: customer_id };
        let given = vec![
            CartEvent::CartCreated {
                owner: CartOwner::Customer { customer_id },
            },
            CartEvent::ItemAdded {
                sku: sku("A"),
                quantity: 95,
            },
        ];
        check(
            given,
            customer,
            CartCommand::AbsorbGuestCart {
                source_cart_id: "g".into(),
                lines: vec![
                    CartLine {
                        sku: sku("A"),
                        quantity: 10,
                    },
                    CartLine {
                        sku: sku("B"),
                        quantity: 2,
                    },
                ],
                code: None,
            },
            Ok(vec![CartEvent::GuestCartAbsorbed {
                source_cart_id: "g".into(),
                lines: vec![
                    CartLine {
                        sku: sku("A"),
                        quantity: 4,
                    },
                    CartLine {
                        sku: sku("B"),
                        quantity: 2,
                    },
                ],
                code: None,
            }]),
        );
    }

    #[test]
    fn a_guest_cart_cannot_absorb_another() {
        check(
            vec![created()],
            guest(),
            CartCommand::AbsorbGuestCart {
                source_cart_id: "g".into(),
                lines: vec![],
                code: None,
            },
            Err(CartError::MergeTargetIsGuest),
        );
    }

    fn code(s: &str) -> PromotionCode {
        PromotionCode::parse(s).expect("valid code")
    }

    #[test]
    fn the_owner_keeps_one_code_on_the_cart_and_can_take_it_off() {
        check(
            vec![created()],
            guest(),
            CartCommand::ApplyCode {
                code: code("SUMMER10"),
            },
            Ok(vec![CartEvent::CodeApplied {
                code: code("SUMMER10"),
            }]),
        );
        let with_code = vec![
            created(),
            CartEvent::CodeApplied {
                code: code("SUMMER10"),
            },
        ];
        // The same code again changes nothing; another replaces it.
        check(
            with_code.clone(),
            guest(),
            CartCommand::ApplyCode {
                code: code("summer10"),
            },
            Ok(vec![]),
        );
        check(
            with_code.clone(),
            guest(),
            CartCommand::ApplyCode {
                code: code("WINTER"),
            },
            Ok(vec![CartEvent::CodeApplied {
                code: code("WINTER"),
            }]),
        );
        check(
            with_code.clone(),
            guest(),
            CartCommand::RemoveCode {},
            Ok(vec![CartEvent::CodeRemoved {}]),
        );
        check(
            vec![created()],
            guest(),
            CartCommand::RemoveCode {},
            Ok(vec![]),
        );
        let mut cart = Cart::default();
        for e in &with_code {
            cart.evolve(e);
        }
        assert_eq!(cart.view(ID, 2).code, Some(code("SUMMER10")));
    }

    #[test]
    fn nobody_but_the_owner_sets_a_code_and_not_during_a_checkout() {
        let someone = Principal::Guest {
            token_sha256: token_sha256("another"),
        };
        let apply = CartCommand::ApplyCode {
            code: code("SUMMER10"),
        };
        check(
            vec![created()],
            someone,
            apply.clone(),
            Err(CartError::NotFound),
        );
        check(
            vec![created()],
            staff("staff"),
            apply.clone(),
            Err(CartError::Forbidden),
        );
        let mut locked = with_line();
        locked.push(begun("o1", 0));
        check(locked, guest(), apply, Err(CartError::CheckoutInProgress));
    }

    #[test]
    fn a_guest_carts_code_moves_over_only_to_a_cart_without_one() {
        let customer_id = CustomerId::new_random();
        let customer = Principal::Customer { id: customer_id };
        let created = CartEvent::CartCreated {
            owner: CartOwner::Customer { customer_id },
        };
        let absorb = CartCommand::AbsorbGuestCart {
            source_cart_id: "g".into(),
            lines: vec![],
            code: Some(code("GUEST5")),
        };
        check(
            vec![created.clone()],
            customer.clone(),
            absorb.clone(),
            Ok(vec![CartEvent::GuestCartAbsorbed {
                source_cart_id: "g".into(),
                lines: vec![],
                code: Some(code("GUEST5")),
            }]),
        );
        check(
            vec![created, CartEvent::CodeApplied { code: code("MINE") }],
            customer,
            absorb,
            Ok(vec![CartEvent::GuestCartAbsorbed {
                source_cart_id: "g".into(),
                lines: vec![],
                code: None,
            }]),
        );
    }

    #[test]
    fn a_merged_cart_is_closed() {
        let given = vec![
            created(),
            CartEvent::CartMerged {
                target_cart_id: "t".into(),
            },
        ];
        check(
            given,
            guest(),
            CartCommand::AddItem {
                sku: sku("A"),
                quantity: 1,
            },
            Err(CartError::Closed),
        );
    }

    #[test]
    fn the_view_never_shows_the_token_hash() {
        let mut cart = Cart::default();
        cart.evolve(&created());
        cart.evolve(&CartEvent::ItemAdded {
            sku: sku("A"),
            quantity: 2,
        });
        let json = serde_json::to_string(&cart.view(ID, 2)).expect("serializes");
        assert!(!json.contains(&token_sha256("secret")));
        assert!(json.contains("\"item_count\":2"));
    }

    #[tokio::test]
    async fn the_cqrs_es_aggregate_delegates_to_decide() {
        use cqrs_es::test::TestFramework;
        TestFramework::<Cart>::with(())
            .given(vec![created()])
            .when_async(CqrsEnvelope {
                id: ID.into(),
                by: guest(),
                command: CartCommand::AddItem {
                    sku: sku("A"),
                    quantity: 1,
                },
            })
            .await
            .then_expect_events(vec![CartEvent::ItemAdded {
                sku: sku("A"),
                quantity: 1,
            }]);
    }

    fn at(secs: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid time")
    }

    fn with_line() -> Vec<CartEvent> {
        vec![
            created(),
            CartEvent::ItemAdded {
                sku: sku("A"),
                quantity: 1,
            },
        ]
    }

    fn begun(order: &str, secs: i64) -> CartEvent {
        CartEvent::CheckoutBegun {
            order_id: order.into(),
            at: at(secs),
        }
    }

    fn begin(order: &str, secs: i64) -> CartCommand {
        CartCommand::BeginCheckout {
            order_id: order.into(),
            now: at(secs),
        }
    }

    fn platform() -> Principal {
        Principal::system("checkout")
    }

    #[test]
    fn the_owner_begins_a_checkout_which_freezes_the_lines() {
        check(
            with_line(),
            guest(),
            begin("o1", 0),
            Ok(vec![begun("o1", 0)]),
        );
        let mut given = with_line();
        given.push(begun("o1", 0));
        check(
            given.clone(),
            guest(),
            CartCommand::AddItem {
                sku: sku("B"),
                quantity: 1,
            },
            Err(CartError::CheckoutInProgress),
        );
        // The same checkout again changes nothing; another one waits for the lock.
        check(given.clone(), guest(), begin("o1", 5), Ok(vec![]));
        check(
            given.clone(),
            guest(),
            begin("o2", 5),
            Err(CartError::CheckoutInProgress),
        );
        // An abandoned lock can be taken over.
        check(
            given,
            guest(),
            begin("o2", CHECKOUT_LOCK_SECS),
            Ok(vec![begun("o2", CHECKOUT_LOCK_SECS)]),
        );
    }

    #[test]
    fn an_empty_cart_cannot_be_checked_out() {
        check(
            vec![created()],
            guest(),
            begin("o1", 0),
            Err(CartError::Empty),
        );
    }

    #[test]
    fn another_guest_cannot_check_out_a_cart() {
        let other = Principal::Guest {
            token_sha256: token_sha256("other"),
        };
        check(with_line(), other, begin("o1", 0), Err(CartError::NotFound));
    }

    #[test]
    fn only_the_platform_completes_or_aborts_and_only_for_the_holder() {
        let mut given = with_line();
        given.push(begun("o1", 0));
        let complete = |o: &str| CartCommand::CompleteCheckout { order_id: o.into() };
        let abort = |o: &str| CartCommand::AbortCheckout { order_id: o.into() };
        check(
            given.clone(),
            guest(),
            complete("o1"),
            Err(CartError::Forbidden),
        );
        check(
            given.clone(),
            platform(),
            complete("o2"),
            Err(CartError::CheckoutMismatch),
        );
        check(given.clone(), platform(), abort("o2"), Ok(vec![]));
        check(
            given.clone(),
            platform(),
            complete("o1"),
            Ok(vec![CartEvent::CheckedOut {
                order_id: "o1".into(),
            }]),
        );
        check(
            given.clone(),
            platform(),
            abort("o1"),
            Ok(vec![CartEvent::CheckoutAborted {
                order_id: "o1".into(),
            }]),
        );
        let mut done = given.clone();
        done.push(CartEvent::CheckedOut {
            order_id: "o1".into(),
        });
        check(done.clone(), platform(), complete("o1"), Ok(vec![]));
        check(done.clone(), guest(), begin("o1", 1), Ok(vec![]));
        check(done, guest(), begin("o3", 1), Err(CartError::Closed));
        let mut aborted = given;
        aborted.push(CartEvent::CheckoutAborted {
            order_id: "o1".into(),
        });
        check(
            aborted,
            guest(),
            CartCommand::AddItem {
                sku: sku("B"),
                quantity: 1,
            },
            Ok(vec![CartEvent::ItemAdded {
                sku: sku("B"),
                quantity: 1,
            }]),
        );
    }
}

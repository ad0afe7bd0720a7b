//! Property tests of the promotion core: whatever the cart, the promotions and the order of
//! redemptions, the invariants of `lib.rs` hold.

use agora_kernel::{Currency, CustomerId, Decider, Money, Principal, Sku};
use agora_promotion::{
    allocate, price, prorate, refundable, tax, tax_at, Action, AppliedRate, CartLine, CategoryId,
    CodeSpec, CountryCode, CustomerFacts, Eligibility, EnteredCode, ItemFilter, Limits, Offer,
    OrderId, PricingInput, ProductId, Promotion, PromotionCode, PromotionCommand, PromotionId,
    PromotionStatus, PromotionTerms, ShippingTax, Stacking, TaxAddress, TaxRounding, TaxRule,
    TaxTable, Window, MAX_TAX_RATE_BP,
};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

const ID: &str = "00000000-0000-4000-8000-0000000000a1";

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000)
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn sku(i: usize) -> Sku {
    Sku::parse(&format!("SKU-{i}")).expect("sku")
}

fn category(i: usize) -> CategoryId {
    CategoryId::parse(&format!("cat-{i}")).expect("slug")
}

fn arb_line() -> impl Strategy<Value = CartLine> {
    (0usize..6, 0usize..3, 1i64..=20, 0i64..=50_000).prop_map(|(s, c, quantity, unit)| CartLine {
        sku: sku(s),
        product_id: ProductId::from_uuid(uuid::Uuid::from_u128(s as u128)),
        categories: vec![category(c)],
        quantity,
        unit_price: eur(unit),
    })
}

fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (1u32..=10_000).prop_map(|percent_bp| Action::PercentOffOrder { percent_bp }),
        (1u32..=10_000).prop_map(|percent_bp| Action::PercentOffItems { percent_bp }),
        (1i64..=200_000).prop_map(|a| Action::AmountOffOrder { amount: eur(a) }),
        (1i64..=60_000).prop_map(|a| Action::AmountOffEachItem { amount: eur(a) }),
        (1u32..=4, 1u32..=3, 1u32..=10_000).prop_map(|(buy, get, percent_bp)| {
            Action::BuyXGetY {
                buy,
                get,
                percent_bp,
            }
        }),
        Just(Action::FreeShipping),
    ]
}

fn arb_filter() -> impl Strategy<Value = ItemFilter> {
    (
        proptest::collection::btree_set(0usize..6, 0..3),
        proptest::collection::btree_set(0usize..3, 0..2),
    )
        .prop_map(|(skus, categories)| ItemFilter {
            skus: skus.into_iter().map(sku).collect(),
            products: Default::default(),
            categories: categories.into_iter().map(category).collect(),
        })
}

fn arb_offer(n: u128) -> impl Strategy<Value = Offer> {
    (
        arb_action(),
        arb_filter(),
        any::<bool>(),
        0u32..5,
        proptest::option::of(0i64..100_000),
        proptest::option::of(1i64..50_000),
    )
        .prop_map(
            move |(action, applies_to, combinable, priority, minimum, budget)| {
                let terms = PromotionTerms {
                    name: format!("promo {n}"),
                    currency: Currency::EUR,
                    applies_to,
                    eligibility: Eligibility {
                        minimum_subtotal: minimum.map(eur),
                        ..Eligibility::default()
                    },
                    action,
                    window: Window::default(),
                    limits: Limits {
                        budget: budget.map(eur),
                        ..Limits::default()
                    },
                    stacking: Stacking {
                        combinable,
                        priority,
                    },
                };
                Offer {
                    promotion_id: PromotionId::from_uuid(uuid::Uuid::from_u128(n)),
                    status: PromotionStatus::Active,
                    terms,
                    code: None,
                    code_redeemed: false,
                    uses: 0,
                    customer_uses: 0,
                    spent: eur(0),
                }
            },
        )
}

fn arb_input() -> impl Strategy<Value = PricingInput> {
    (
        proptest::collection::vec(arb_line(), 1..8),
        0i64..=2_000,
        proptest::collection::vec(arb_offer(1), 0..1),
        proptest::collection::vec(arb_offer(2), 0..1),
        proptest::collection::vec(arb_offer(3), 0..1),
        proptest::option::of(arb_offer(4)),
    )
        .prop_map(|(lines, shipping, a, b, c, code)| PricingInput {
            currency: Currency::EUR,
            lines,
            customer: CustomerFacts::default(),
            shipping: eur(shipping),
            now: now(),
            automatic: a.into_iter().chain(b).chain(c).collect(),
            code: code.map(|offer| {
                let code = PromotionCode::parse("SAVE").expect("code");
                EnteredCode {
                    code: code.clone(),
                    offer: Ok(Offer {
                        code: Some(code),
                        ..offer
                    }),
                }
            }),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Totals are never negative; the line discounts add up to the order discount and each
    /// stays within its line; each applied promotion's shares add up to its discount; the
    /// total is what is left of the lines and the shipping.
    #[test]
    fn pricing_keeps_its_invariants(input in arb_input()) {
        let cart = price(&input).expect("priced");
        prop_assert!(cart.total.amount_minor >= 0);
        let line_sum: i64 = cart.lines.iter().map(|l| l.discount.amount_minor).sum();
        prop_assert_eq!(line_sum, cart.discount.amount_minor);
        for line in &cart.lines {
            prop_assert!(line.discount.amount_minor >= 0);
            prop_assert!(line.discount.amount_minor <= line.subtotal.amount_minor);
            prop_assert_eq!(
                line.total.amount_minor,
                line.subtotal.amount_minor - line.discount.amount_minor
            );
        }
        let mut applied_sum = 0;
        for applied in &cart.applied {
            let shares: i64 = applied.line_discounts.iter().map(|d| d.amount_minor).sum();
            prop_assert_eq!(shares, applied.discount.amount_minor);
            prop_assert_eq!(
                applied.cost.amount_minor,
                applied.discount.amount_minor + applied.shipping_discount.amount_minor
            );
            prop_assert!(applied.cost.amount_minor > 0);
            applied_sum += applied.discount.amount_minor;
        }
        prop_assert_eq!(applied_sum, cart.discount.amount_minor);
        prop_assert!(cart.shipping_discount.amount_minor <= cart.shipping.amount_minor);
        prop_assert_eq!(
            cart.total.amount_minor,
            cart.subtotal.amount_minor - cart.discount.amount_minor
                + cart.shipping.amount_minor - cart.shipping_discount.amount_minor
        );
        // Exclusive means alone.
        if cart.applied.len() > 1 {
            let all = input.automatic.iter().chain(input.code.iter().filter_map(|c| c.offer.as_ref().ok()));
            for applied in &cart.applied {
                let offer = all.clone().find(|o| o.promotion_id == applied.promotion_id).expect("offered");
                prop_assert!(offer.terms.stacking.combinable);
            }
        }
        // Stacking order: priorities never decrease along the applied list.
        let priority = |id: PromotionId| {
            input.automatic.iter().chain(input.code.iter().filter_map(|c| c.offer.as_ref().ok()))
                .find(|o| o.promotion_id == id).map(|o| o.terms.stacking.priority)
        };
        let priorities: Vec<_> = cart.applied.iter().map(|a| priority(a.promotion_id)).collect();
        prop_assert!(priorities.windows(2).all(|w| w[0] <= w[1]));
        // The same input in another order prices the same.
        let mut reversed = input.clone();
        reversed.automatic.reverse();
        prop_assert_eq!(price(&reversed).expect("priced"), cart);
    }

    /// Largest remainder: exact, and no share above its weight.
    #[test]
    fn allocation_is_exact_and_never_exceeds_a_weight(
        weights in proptest::collection::vec(0i64..1_000_000, 1..12),
        pick in any::<u64>(),
    ) {
        let sum: i64 = weights.iter().sum();
        let total = i64::try_from(pick % (sum as u64 + 1)).expect("within the sum");
        let shares = allocate(total, &weights).expect("allocates");
        prop_assert_eq!(shares.iter().sum::<i64>(), total);
        for (share, weight) in shares.iter().zip(&weights) {
            prop_assert!(*share >= 0 && share <= weight);
        }
    }

    /// Refunding every unit of a line, in any steps, gives back exactly what was paid.
    #[test]
    fn refunds_in_any_steps_add_up_to_what_was_paid(
        paid in 0i64..10_000_000,
        steps in proptest::collection::vec(1i64..5, 1..10),
    ) {
        let units: i64 = steps.iter().sum();
        let mut already = 0;
        let mut refunded = 0;
        for step in steps {
            let share = prorate(eur(paid), units, already, step).expect("prorated");
            prop_assert!(share.amount_minor >= 0);
            refunded += share.amount_minor;
            already += step;
        }
        prop_assert_eq!(refunded, paid);
    }

    /// A priced line's refund is never more than the line's total.
    #[test]
    fn a_line_refund_never_exceeds_its_total(input in arb_input()) {
        let cart = price(&input).expect("priced");
        for line in &cart.lines {
            let all = refundable(line, 0, line.quantity).expect("refundable");
            prop_assert_eq!(all, line.total);
        }
    }

    /// Per order, one rate everywhere without tax in prices is exactly the single rounding of
    /// `(lines + shipping) × rate` that orders always had, and the lines' taxes add up to it,
    /// each within one minor unit of its exact tax.
    #[test]
    fn per_order_rounding_is_the_single_rounding(
        amounts in proptest::collection::vec(0i64..1_000_000, 0..8),
        shipping in 0i64..5_000,
        rate_bp in 0u32..=MAX_TAX_RATE_BP,
    ) {
        let rate = AppliedRate {
            country: None,
            region: None,
            rate_bp,
            shipping_rate_bp: rate_bp,
            prices_include_tax: false,
        };
        let lines: Vec<Money> = amounts.iter().copied().map(eur).collect();
        let taxed = tax_at(&rate, TaxRounding::PerOrder, &lines, eur(shipping)).expect("taxed");
        let taxable = i128::from(amounts.iter().sum::<i64>() + shipping);
        let once = (taxable * i128::from(rate_bp) * 2 + 10_000) / 20_000;
        prop_assert_eq!(i128::from(taxed.tax.amount_minor), once);
        let lines_tax: i64 = taxed.lines.iter().chain([&taxed.shipping]).map(|l| l.tax.amount_minor).sum();
        prop_assert_eq!(lines_tax, taxed.tax.amount_minor);
        for (l, amount) in taxed.lines.iter().zip(&amounts) {
            let exact = i128::from(*amount) * i128::from(rate_bp);
            prop_assert!((i128::from(l.tax.amount_minor) * 10_000 - exact).abs() <= 10_000);
        }
    }

    /// Per line, net + tax = gross, and an inclusive price's tax is within the price.
    #[test]
    fn tax_lines_add_up(
        amounts in proptest::collection::vec(0i64..1_000_000, 0..8),
        shipping in 0i64..5_000,
        rate_bp in 0u32..=MAX_TAX_RATE_BP,
        inclusive in any::<bool>(),
    ) {
        let table = TaxTable::new(vec![TaxRule {
            country: None,
            region: None,
            rate_bp,
            prices_include_tax: inclusive,
            shipping: ShippingTax::SameAsGoods,
        }]).expect("valid");
        let address = TaxAddress { country: CountryCode::parse("DE").expect("country"), region: None };
        let lines: Vec<Money> = amounts.iter().copied().map(eur).collect();
        let taxed = tax(&table, &address, &lines, eur(shipping)).expect("taxed");
        for (l, amount) in taxed.lines.iter().zip(&amounts) {
            prop_assert_eq!(l.net.amount_minor + l.tax.amount_minor, l.gross.amount_minor);
            prop_assert!(l.tax.amount_minor >= 0);
            if inclusive {
                prop_assert_eq!(l.gross.amount_minor, *amount);
                prop_assert!(l.net.amount_minor >= 0);
            } else {
                prop_assert_eq!(l.net.amount_minor, *amount);
            }
        }
        prop_assert_eq!(taxed.net.amount_minor + taxed.tax.amount_minor, taxed.gross.amount_minor);
    }
}

// ---- redemptions ----

#[derive(Clone, Debug)]
enum Step {
    Reserve {
        order: u8,
        customer: u8,
        amount: i64,
    },
    Confirm {
        order: u8,
    },
    Release {
        order: u8,
    },
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..12, 0u8..4, 0i64..400).prop_map(|(order, customer, amount)| Step::Reserve { order, customer, amount }),
        1 => (0u8..12).prop_map(|order| Step::Confirm { order }),
        2 => (0u8..12).prop_map(|order| Step::Release { order }),
    ]
}

fn order_id(n: u8) -> OrderId {
    OrderId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1))
}

fn customer_id(n: u8) -> CustomerId {
    CustomerId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 100))
}

fn command(step: &Step) -> PromotionCommand {
    match *step {
        Step::Reserve {
            order,
            customer,
            amount,
        } => PromotionCommand::Reserve {
            order_id: order_id(order),
            customer: Some(customer_id(customer)),
            code: None,
            amount: eur(amount),
            now: now(),
        },
        Step::Confirm { order } => PromotionCommand::Confirm {
            order_id: order_id(order),
            now: now(),
        },
        Step::Release { order } => PromotionCommand::Release {
            order_id: order_id(order),
            now: now(),
        },
    }
}

/// Runs `command` as the runtime would: decide, then fold the events in.
fn run(
    promotion: &mut Promotion,
    command: &PromotionCommand,
) -> Result<usize, agora_promotion::PromotionError> {
    let events = promotion.decide(ID, command, &Principal::system("checkout"))?;
    for event in &events {
        promotion.evolve(event);
    }
    Ok(events.len())
}

fn running(limits: Limits) -> Promotion {
    let mut promotion = Promotion::default();
    let terms = PromotionTerms {
        name: "Limited".into(),
        currency: Currency::EUR,
        applies_to: ItemFilter::default(),
        eligibility: Eligibility::default(),
        action: Action::FreeShipping,
        window: Window::default(),
        limits,
        stacking: Stacking::default(),
    };
    let by = Principal::system("seed");
    for command in [
        PromotionCommand::Create {
            terms,
            codes: CodeSpec::Automatic,
            now: now(),
        },
        PromotionCommand::Activate { now: now() },
    ] {
        for event in promotion.decide(ID, &command, &by).expect("set up") {
            promotion.evolve(&event);
        }
    }
    promotion
}

fn arb_limits() -> impl Strategy<Value = Limits> {
    (
        proptest::option::of(1u64..8),
        proptest::option::of(1u32..3),
        proptest::option::of(1i64..2_000),
    )
        .prop_map(|(total_uses, uses_per_customer, budget)| Limits {
            total_uses,
            uses_per_customer,
            budget: budget.map(eur),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the sequence of reserves, confirms and releases, the promotion never holds
    /// more uses than allowed in all or per customer, nor spends more than its budget, and its
    /// counts always describe its redemptions.
    #[test]
    fn a_reservation_sequence_never_exceeds_uses_or_budget(
        limits in arb_limits(),
        steps in proptest::collection::vec(arb_step(), 1..60),
    ) {
        let mut promotion = running(limits);
        for step in &steps {
            let _ = run(&mut promotion, &command(step));
            if let Some(total) = limits.total_uses {
                prop_assert!(promotion.uses <= total);
            }
            if let Some(budget) = limits.budget {
                prop_assert!(promotion.spent_minor <= budget.amount_minor);
            }
            if let Some(per_customer) = limits.uses_per_customer {
                prop_assert!(promotion.uses_by_customer.values().all(|n| *n <= per_customer));
            }
            prop_assert_eq!(promotion.uses, promotion.redemptions.len() as u64);
            prop_assert_eq!(
                promotion.spent_minor,
                promotion.redemptions.values().map(|r| r.amount.amount_minor).sum::<i64>()
            );
        }
    }

    /// Reserving twice with the same order id redeems once.
    #[test]
    fn reserving_twice_with_the_same_order_redeems_once(
        limits in arb_limits(),
        before in proptest::collection::vec(arb_step(), 0..20),
        order in 0u8..12,
        customer in 0u8..4,
        amount in 0i64..400,
    ) {
        let mut promotion = running(limits);
        for step in &before {
            let _ = run(&mut promotion, &command(step));
        }
        let reserve = command(&Step::Reserve { order, customer, amount });
        let first = run(&mut promotion, &reserve);
        let after_first = promotion.clone();
        let second = run(&mut promotion, &reserve);
        match first {
            // Taken now or held already: the retry records nothing and changes nothing.
            Ok(_) => {
                prop_assert_eq!(second, Ok(0));
                prop_assert_eq!(&promotion, &after_first);
            }
            // Refused: the retry is refused the same way (nothing changed in between).
            Err(error) => prop_assert_eq!(second, Err(error)),
        }
    }

    /// A release right after a successful reserve restores the promotion exactly.
    #[test]
    fn release_after_reserve_restores(
        limits in arb_limits(),
        before in proptest::collection::vec(arb_step(), 0..20),
        order in 12u8..20,
        customer in 0u8..4,
        amount in 0i64..400,
    ) {
        let mut promotion = running(limits);
        for step in &before {
            let _ = run(&mut promotion, &command(step));
        }
        let restored = promotion.clone();
        if run(&mut promotion, &command(&Step::Reserve { order, customer, amount })) == Ok(1) {
            prop_assert_eq!(run(&mut promotion, &command(&Step::Release { order })), Ok(1));
            prop_assert_eq!(promotion, restored);
        }
    }
}

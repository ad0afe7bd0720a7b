use super::*;
use agora_kernel::{CustomerId, Sku};
use chrono::TimeDelta;

const ID: &str = "0b7e6c1e-7d4f-4c38-9a57-3f1f2f8f0c11";

/// A fixed instant plus `seconds`: tests never read the clock either.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
}

fn system() -> Principal {
    Principal::system("carrier-webhook")
}

fn staff(role: &str) -> Principal {
    Principal::Staff {
        id: "sam".into(),
        role: role.into(),
    }
}

/// A user of vendor `vendor`.
fn vendor(vendor: &str) -> Principal {
    Principal::Vendor {
        id: "vic".into(),
        vendor: vendor.into(),
    }
}

fn shoppers() -> [Principal; 2] {
    [
        Principal::Guest {
            token_sha256: "0".repeat(64),
        },
        Principal::Customer {
            id: CustomerId::new_random(),
        },
    ]
}

fn line(sku: &str, quantity: i64) -> ShipmentLine {
    ShipmentLine {
        sku: Sku::parse(sku).expect("sku"),
        title: format!("Product {sku}"),
        quantity,
    }
}

fn address() -> Address {
    Address {
        name: "Ada Lovelace".into(),
        line1: "12 Analytical Row".into(),
        line2: None,
        city: "London".into(),
        postal_code: "N1 9GU".into(),
        region: None,
        country: "GB".into(),
        phone: Some("+44 20 7946 0000".into()),
    }
}

fn create_with(lines: Vec<ShipmentLine>) -> ShipmentCommand {
    ShipmentCommand::Create {
        order_id: "order-1".into(),
        vendor_id: None,
        lines,
        address: address(),
        now: t(0),
    }
}

/// A parcel of the shop's own lines.
fn create() -> ShipmentCommand {
    create_with(vec![line("TEE-BLACK-M", 2), line("MUG-1", 1)])
}

/// The same parcel, of `vendor_id`'s lines.
fn create_for(vendor_id: Option<&str>) -> ShipmentCommand {
    ShipmentCommand::Create {
        order_id: "order-1".into(),
        vendor_id: vendor_id.map(str::to_string),
        lines: vec![line("TEE-BLACK-M", 2), line("MUG-1", 1)],
        address: address(),
        now: t(0),
    }
}

fn hand_over(carrier: &str, tracking_number: &str) -> ShipmentCommand {
    ShipmentCommand::HandOver {
        carrier: carrier.into(),
        tracking_number: tracking_number.into(),
        tracking_url: None,
        now: t(60),
    }
}

fn track(event_id: &str, status: TrackingStatus, occurred: i64) -> ShipmentCommand {
    ShipmentCommand::RecordTracking {
        event_id: event_id.into(),
        status,
        occurred_at: t(occurred),
        description: None,
        location: None,
        now: t(occurred + 5),
    }
}

fn cancel() -> ShipmentCommand {
    ShipmentCommand::Cancel { now: t(30) }
}

fn created() -> ShipmentEvent {
    created_for(None)
}

fn created_for(vendor_id: Option<&str>) -> ShipmentEvent {
    ShipmentEvent::ShipmentCreated {
        order_id: "order-1".into(),
        vendor_id: vendor_id.map(str::to_string),
        lines: vec![line("TEE-BLACK-M", 2), line("MUG-1", 1)],
        address: address(),
        at: t(0),
    }
}

fn handed_over() -> ShipmentEvent {
    ShipmentEvent::ShipmentHandedOver {
        carrier: "DHL".into(),
        tracking_number: "JD014600003SE".into(),
        tracking_url: None,
        at: t(60),
    }
}

fn tracked(
    event_id: &str,
    status: TrackingStatus,
    from: ShipmentStatus,
    occurred: i64,
) -> ShipmentEvent {
    ShipmentEvent::ShipmentTracked {
        event_id: event_id.into(),
        status,
        from,
        occurred_at: t(occurred),
        description: None,
        location: None,
        at: t(occurred + 5),
    }
}

fn cancelled() -> ShipmentEvent {
    ShipmentEvent::ShipmentCancelled { at: t(30) }
}

/// Created: being packed.
fn packing() -> Vec<ShipmentEvent> {
    vec![created()]
}

/// Handed to DHL, no scan yet.
fn shipped() -> Vec<ShipmentEvent> {
    vec![created(), handed_over()]
}

/// Handed over, scanned in transit at t(1000).
fn in_transit() -> Vec<ShipmentEvent> {
    vec![
        created(),
        handed_over(),
        tracked(
            "evt-1",
            TrackingStatus::InTransit,
            ShipmentStatus::Shipped,
            1000,
        ),
    ]
}

/// Delivered at t(5000).
fn delivered() -> Vec<ShipmentEvent> {
    let mut events = in_transit();
    events.push(tracked(
        "evt-2",
        TrackingStatus::Delivered,
        ShipmentStatus::InTransit,
        5000,
    ));
    events
}

fn state(given: &[ShipmentEvent]) -> Shipment {
    let mut shipment = Shipment::default();
    for e in given {
        shipment.evolve(e);
    }
    shipment
}

/// Given events, when a command by a principal, then these events or this error.
fn check(
    given: Vec<ShipmentEvent>,
    by: Principal,
    when: ShipmentCommand,
    then: Result<Vec<ShipmentEvent>, ShipmentError>,
) {
    assert_eq!(state(&given).decide(ID, &when, &by), then, "{when:?}");
}

// Create

#[test]
fn creating_a_shipment_records_its_lines_and_address_and_starts_packing() {
    check(vec![], staff("staff"), create(), Ok(vec![created()]));
    assert_eq!(state(&packing()).status(), ShipmentStatus::Packing);
    assert_eq!(state(&packing()).order_id(), Some("order-1"));
}

#[test]
fn only_the_platform_admins_and_staff_create_shipments() {
    for by in [system(), staff("admin"), staff("staff")] {
        check(vec![], by, create(), Ok(vec![created()]));
    }
    for role in ["auditor", "vendor", "support"] {
        check(vec![], staff(role), create(), Err(ShipmentError::Forbidden));
    }
    for by in shoppers() {
        check(vec![], by, create(), Err(ShipmentError::NotFound));
    }
}

#[test]
fn a_shipment_is_created_once() {
    check(
        packing(),
        system(),
        create(),
        Err(ShipmentError::AlreadyExists),
    );
    check(
        in_transit(),
        staff("admin"),
        create_with(vec![line("OTHER", 1)]),
        Err(ShipmentError::AlreadyExists),
    );
    // Who may not create learns nothing about whether it exists.
    check(
        packing(),
        staff("auditor"),
        create(),
        Err(ShipmentError::Forbidden),
    );
    check(
        packing(),
        shoppers()[0].clone(),
        create(),
        Err(ShipmentError::NotFound),
    );
}

#[test]
fn a_shipment_has_between_1_and_200_lines() {
    check(
        vec![],
        system(),
        create_with(vec![]),
        Err(ShipmentError::Empty),
    );
    let many = |n: usize| (0..n).map(|i| line(&format!("SKU-{i}"), 1)).collect();
    check(
        vec![],
        system(),
        create_with(many(MAX_LINES + 1)),
        Err(ShipmentError::TooManyLines),
    );
    assert!(Shipment::default()
        .decide(ID, &create_with(many(MAX_LINES)), &system())
        .is_ok());
}

#[test]
fn a_sku_appears_on_one_line_only() {
    check(
        vec![],
        system(),
        create_with(vec![line("TEE", 1), line("MUG", 1), line("TEE", 2)]),
        Err(ShipmentError::DuplicateSku),
    );
}

#[test]
fn every_quantity_is_between_1_and_10_000() {
    for quantity in [0, -1, MAX_QUANTITY + 1, i64::MIN, i64::MAX] {
        check(
            vec![],
            system(),
            create_with(vec![line("TEE", quantity)]),
            Err(ShipmentError::QuantityOutOfRange),
        );
    }
    for quantity in [1, MAX_QUANTITY] {
        assert!(Shipment::default()
            .decide(ID, &create_with(vec![line("TEE", quantity)]), &system())
            .is_ok());
    }
}

#[test]
fn a_line_title_is_non_blank_and_at_most_200_characters() {
    for title in [String::new(), "   ".into(), "é".repeat(MAX_TITLE_CHARS + 1)] {
        let mut bad = line("TEE", 1);
        bad.title = title;
        check(
            vec![],
            system(),
            create_with(vec![bad]),
            Err(ShipmentError::InvalidTitle),
        );
    }
    let mut longest = line("TEE", 1);
    longest.title = "é".repeat(MAX_TITLE_CHARS);
    assert!(Shipment::default()
        .decide(ID, &create_with(vec![longest]), &system())
        .is_ok());
}

#[test]
fn an_order_id_is_non_blank_and_at_most_64_characters() {
    for order_id in [
        String::new(),
        " ".into(),
        "o".repeat(MAX_ORDER_ID_CHARS + 1),
    ] {
        check(
            vec![],
            system(),
            ShipmentCommand::Create {
                order_id,
                vendor_id: None,
                lines: vec![line("TEE", 1)],
                address: address(),
                now: t(0),
            },
            Err(ShipmentError::InvalidOrderId),
        );
    }
}

#[test]
fn an_address_needs_its_fields_and_a_two_letter_country() {
    let variants: [fn(&mut Address); 5] = [
        |a| a.name = " ".into(),
        |a| a.city = String::new(),
        |a| a.country = "gb".into(),
        |a| a.country = "GBR".into(),
        |a| a.phone = Some("1".repeat(MAX_PHONE_CHARS + 1)),
    ];
    for change in variants {
        let mut bad = address();
        change(&mut bad);
        check(
            vec![],
            system(),
            ShipmentCommand::Create {
                order_id: "order-1".into(),
                vendor_id: None,
                lines: vec![line("TEE", 1)],
                address: bad,
                now: t(0),
            },
            Err(ShipmentError::InvalidAddress),
        );
    }
}

#[test]
fn commands_on_a_shipment_that_does_not_exist_are_not_found() {
    for command in [
        hand_over("DHL", "JD1"),
        track("evt-1", TrackingStatus::InTransit, 100),
        cancel(),
    ] {
        check(vec![], system(), command, Err(ShipmentError::NotFound));
    }
}

// Vendors

/// Packing the lines of vendor `acme`.
fn acme_packing() -> Vec<ShipmentEvent> {
    vec![created_for(Some("acme"))]
}

/// `acme`'s parcel, handed to DHL.
fn acme_shipped() -> Vec<ShipmentEvent> {
    vec![created_for(Some("acme")), handed_over()]
}

#[test]
fn a_vendor_creates_a_parcel_of_its_own_lines() {
    check(
        vec![],
        vendor("acme"),
        create_for(Some("acme")),
        Ok(vec![created_for(Some("acme"))]),
    );
    let shipment = state(&acme_packing());
    assert_eq!(shipment.vendor_id(), Some("acme"));
    assert_eq!(shipment.status(), ShipmentStatus::Packing);
}

#[test]
fn a_vendor_may_not_create_a_parcel_of_another_vendor_or_of_the_shop() {
    for vendor_id in [Some("globex"), None, Some("acme ")] {
        for given in [vec![], packing(), acme_packing()] {
            // Refused before anything is looked at: nothing is recorded, and whether the
            // stream exists is not revealed.
            check(
                given,
                vendor("acme"),
                create_for(vendor_id),
                Err(ShipmentError::Forbidden),
            );
        }
    }
}

#[test]
fn the_platform_admins_and_staff_create_parcels_of_any_vendor() {
    for by in [system(), staff("admin"), staff("staff")] {
        for vendor_id in [Some("acme"), Some("globex"), None] {
            check(
                vec![],
                by.clone(),
                create_for(vendor_id),
                Ok(vec![created_for(vendor_id)]),
            );
        }
    }
    check(
        vec![],
        staff("auditor"),
        create_for(Some("acme")),
        Err(ShipmentError::Forbidden),
    );
}

#[test]
fn a_vendors_create_on_a_taken_id_is_a_conflict_like_anyone_elses() {
    for given in [packing(), vec![created_for(Some("globex"))], acme_packing()] {
        check(
            given,
            vendor("acme"),
            create_for(Some("acme")),
            Err(ShipmentError::AlreadyExists),
        );
    }
}

#[test]
fn a_vendor_id_is_1_to_64_characters_without_spaces_or_controls() {
    let too_long = "v".repeat(MAX_VENDOR_ID_CHARS + 1);
    for vendor_id in [
        "",
        " ",
        "ac me",
        " acme",
        "acme\n",
        "ac\u{0}me",
        "ac\u{7f}me",
        &too_long,
    ] {
        check(
            vec![],
            system(),
            create_for(Some(vendor_id)),
            Err(ShipmentError::InvalidVendorId),
        );
    }
    let longest = "é".repeat(MAX_VENDOR_ID_CHARS);
    for vendor_id in ["acme", "0b7e6c1e-7d4f-4c38-9a57-3f1f2f8f0c11", &longest] {
        check(
            vec![],
            system(),
            create_for(Some(vendor_id)),
            Ok(vec![created_for(Some(vendor_id))]),
        );
    }
}

#[test]
fn a_vendor_reads_hands_over_and_cancels_its_own_parcels() {
    assert_eq!(
        state(&acme_packing()).authorize_read(&vendor("acme")),
        Ok(())
    );
    assert_eq!(
        state(&acme_shipped()).authorize_read(&vendor("acme")),
        Ok(())
    );
    check(
        acme_packing(),
        vendor("acme"),
        hand_over("DHL", "JD014600003SE"),
        Ok(vec![handed_over()]),
    );
    check(
        acme_packing(),
        vendor("acme"),
        cancel(),
        Ok(vec![cancelled()]),
    );
    // Retries and refusals of state are the same as for the warehouse.
    check(
        acme_shipped(),
        vendor("acme"),
        hand_over("DHL", "JD014600003SE"),
        Ok(vec![]),
    );
    check(
        acme_shipped(),
        vendor("acme"),
        cancel(),
        Err(ShipmentError::InvalidTransition),
    );
}

#[test]
fn to_a_vendor_a_parcel_of_another_vendor_or_of_the_shop_does_not_exist() {
    let others = [
        vec![created_for(Some("globex"))],
        vec![created_for(Some("globex")), handed_over()],
        packing(),
        shipped(),
    ];
    for given in others {
        for command in [
            hand_over("DHL", "JD014600003SE"),
            cancel(),
            track("evt-1", TrackingStatus::InTransit, 100),
        ] {
            check(
                given.clone(),
                vendor("acme"),
                command,
                Err(ShipmentError::NotFound),
            );
        }
        assert_eq!(
            state(&given).authorize_read(&vendor("acme")),
            Err(ShipmentError::NotFound)
        );
    }
    // ... exactly as a parcel that does not exist.
    for command in [hand_over("DHL", "JD1"), cancel()] {
        check(
            vec![],
            vendor("acme"),
            command,
            Err(ShipmentError::NotFound),
        );
    }
    assert_eq!(
        Shipment::default().authorize_read(&vendor("acme")),
        Err(ShipmentError::NotFound)
    );
}

#[test]
fn a_vendor_records_no_tracking_even_on_its_own_parcel() {
    check(
        acme_shipped(),
        vendor("acme"),
        track("evt-1", TrackingStatus::InTransit, 100),
        Err(ShipmentError::Forbidden),
    );
}

#[test]
fn the_back_office_handles_a_vendors_parcel_as_any_other() {
    for by in [system(), staff("admin"), staff("staff"), staff("auditor")] {
        assert_eq!(state(&acme_shipped()).authorize_read(&by), Ok(()), "{by:?}");
    }
    for by in [system(), staff("admin"), staff("staff")] {
        check(
            acme_packing(),
            by.clone(),
            hand_over("DHL", "JD014600003SE"),
            Ok(vec![handed_over()]),
        );
        check(acme_packing(), by, cancel(), Ok(vec![cancelled()]));
    }
    check(
        acme_shipped(),
        system(),
        track("evt-1", TrackingStatus::InTransit, 1000),
        Ok(vec![tracked(
            "evt-1",
            TrackingStatus::InTransit,
            ShipmentStatus::Shipped,
            1000,
        )]),
    );
    check(
        acme_packing(),
        staff("auditor"),
        cancel(),
        Err(ShipmentError::Forbidden),
    );
    for by in shoppers() {
        assert_eq!(
            state(&acme_shipped()).authorize_read(&by),
            Err(ShipmentError::NotFound)
        );
    }
}

#[test]
fn the_view_names_the_vendor_of_the_parcel() {
    assert_eq!(
        state(&acme_shipped()).view(ID, 2).vendor_id.as_deref(),
        Some("acme")
    );
    let shop = state(&shipped()).view(ID, 2);
    assert_eq!(shop.vendor_id, None);
    // Absent rather than null, so the view of the shop's parcel keeps its old shape.
    let json = serde_json::to_value(&shop).expect("serializes");
    assert!(json.get("vendor_id").is_none(), "{json}");
    let json = serde_json::to_value(state(&acme_shipped()).view(ID, 2)).expect("serializes");
    assert_eq!(json["vendor_id"], "acme");
}

#[test]
fn events_recorded_before_vendors_still_read_as_the_shops_parcels() {
    let stored = serde_json::json!({"ShipmentCreated": {
        "order_id": "order-1",
        "lines": [
            {"sku": "TEE-BLACK-M", "title": "Product TEE-BLACK-M", "quantity": 2},
            {"sku": "MUG-1", "title": "Product MUG-1", "quantity": 1}
        ],
        "address": serde_json::to_value(address()).expect("serializes"),
        "at": t(0)
    }});
    let event: ShipmentEvent = serde_json::from_value(stored.clone()).expect("parses");
    assert_eq!(event, created());
    // And the shop's own parcel is still written in that shape, byte for byte.
    assert_eq!(serde_json::to_value(&event).expect("serializes"), stored);
    let shipment = state(&[event]);
    assert_eq!(shipment.vendor_id(), None);
    assert_eq!(
        shipment.authorize_read(&vendor("acme")),
        Err(ShipmentError::NotFound)
    );
    // A state stored before vendors reads back too.
    let mut json = serde_json::to_value(state(&shipped())).expect("serializes");
    assert!(json["packing"].get("vendor_id").is_none(), "{json}");
    json["packing"]
        .as_object_mut()
        .expect("packing is an object")
        .remove("vendor_id");
    assert_eq!(
        serde_json::from_value::<Shipment>(json).expect("parses"),
        state(&shipped())
    );
}

#[test]
fn a_vendors_parcel_round_trips_through_json() {
    for event in acme_shipped() {
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(
            serde_json::from_value::<ShipmentEvent>(json).expect("parses"),
            event
        );
    }
    let shipment = state(&acme_shipped());
    let json = serde_json::to_string(&shipment).expect("serializes");
    assert_eq!(
        serde_json::from_str::<Shipment>(&json).expect("parses"),
        shipment
    );
}

// HandOver

#[test]
fn handing_over_records_the_trimmed_carrier_and_tracking_and_ships_the_parcel() {
    check(
        packing(),
        staff("staff"),
        ShipmentCommand::HandOver {
            carrier: " DHL ".into(),
            tracking_number: " JD014600003SE\n".into(),
            tracking_url: None,
            now: t(60),
        },
        Ok(vec![handed_over()]),
    );
    check(
        packing(),
        system(),
        ShipmentCommand::HandOver {
            carrier: "UPS".into(),
            tracking_number: "1Z999AA10123456784".into(),
            tracking_url: Some("https://www.ups.com/track?tracknum=1Z999AA10123456784".into()),
            now: t(60),
        },
        Ok(vec![ShipmentEvent::ShipmentHandedOver {
            carrier: "UPS".into(),
            tracking_number: "1Z999AA10123456784".into(),
            tracking_url: Some("https://www.ups.com/track?tracknum=1Z999AA10123456784".into()),
            at: t(60),
        }]),
    );
    assert_eq!(state(&shipped()).status(), ShipmentStatus::Shipped);
    assert_eq!(state(&shipped()).tracking_number(), Some("JD014600003SE"));
}

#[test]
fn handing_over_again_with_the_same_tracking_records_nothing() {
    for given in [shipped(), in_transit(), delivered()] {
        check(
            given.clone(),
            system(),
            hand_over("DHL", "JD014600003SE"),
            Ok(vec![]),
        );
        // Spaces and another tracking URL do not make it another hand-over.
        check(
            given,
            staff("staff"),
            ShipmentCommand::HandOver {
                carrier: "DHL ".into(),
                tracking_number: " JD014600003SE".into(),
                tracking_url: Some("https://dhl.example/t/JD014600003SE".into()),
                now: t(90),
            },
            Ok(vec![]),
        );
    }
}

#[test]
fn handing_over_again_with_other_tracking_is_an_invalid_transition() {
    for command in [hand_over("DHL", "JD999"), hand_over("UPS", "JD014600003SE")] {
        check(
            shipped(),
            system(),
            command,
            Err(ShipmentError::InvalidTransition),
        );
    }
}

#[test]
fn a_cancelled_shipment_cannot_be_handed_over() {
    check(
        vec![created(), cancelled()],
        system(),
        hand_over("DHL", "JD014600003SE"),
        Err(ShipmentError::InvalidTransition),
    );
}

#[test]
fn a_carrier_is_non_blank_and_at_most_64_characters() {
    for carrier in [
        String::new(),
        "  ".into(),
        "c".repeat(MAX_CARRIER_CHARS + 1),
    ] {
        check(
            packing(),
            system(),
            hand_over(&carrier, "JD1"),
            Err(ShipmentError::InvalidCarrier),
        );
    }
    assert!(state(&packing())
        .decide(
            ID,
            &hand_over(&"c".repeat(MAX_CARRIER_CHARS), "JD1"),
            &system()
        )
        .is_ok());
}

#[test]
fn a_tracking_number_is_1_to_64_letters_digits_dashes_or_underscores() {
    for number in [
        String::new(),
        "   ".into(),
        "JD 123".into(),
        "JD/123".into(),
        "JD.123".into(),
        "JDé123".into(),
        "9".repeat(MAX_TRACKING_NUMBER_CHARS + 1),
    ] {
        check(
            packing(),
            system(),
            hand_over("DHL", &number),
            Err(ShipmentError::InvalidTrackingNumber),
        );
    }
    for number in ["A", "jd_0146-0000", &"9".repeat(MAX_TRACKING_NUMBER_CHARS)] {
        assert!(state(&packing())
            .decide(ID, &hand_over("DHL", number), &system())
            .is_ok());
    }
}

#[test]
fn a_tracking_url_is_https_and_at_most_500_characters() {
    let with_url = |url: &str| ShipmentCommand::HandOver {
        carrier: "DHL".into(),
        tracking_number: "JD1".into(),
        tracking_url: Some(url.into()),
        now: t(60),
    };
    let too_long = format!("https://t.example/{}", "x".repeat(MAX_TRACKING_URL_CHARS));
    for url in [
        "",
        "https://",
        "http://t.example/JD1",
        "javascript:alert(1)",
        "HTTPS://t.example/JD1",
        "https://t.example/a b",
        too_long.as_str(),
    ] {
        check(
            packing(),
            system(),
            with_url(url),
            Err(ShipmentError::InvalidTrackingUrl),
        );
    }
    let longest = format!(
        "https://t.example/{}",
        "x".repeat(MAX_TRACKING_URL_CHARS - "https://t.example/".len())
    );
    assert!(state(&packing())
        .decide(ID, &with_url(&longest), &system())
        .is_ok());
}

#[test]
fn only_the_platform_admins_and_staff_hand_over_and_cancel() {
    for by in [system(), staff("admin"), staff("staff")] {
        assert!(state(&packing())
            .decide(ID, &hand_over("DHL", "JD1"), &by)
            .is_ok());
        check(packing(), by, cancel(), Ok(vec![cancelled()]));
    }
    for role in ["auditor", "vendor"] {
        for command in [hand_over("DHL", "JD1"), cancel()] {
            check(
                packing(),
                staff(role),
                command,
                Err(ShipmentError::Forbidden),
            );
        }
    }
    for by in shoppers() {
        for command in [hand_over("DHL", "JD1"), cancel()] {
            check(packing(), by.clone(), command, Err(ShipmentError::NotFound));
        }
    }
}

// RecordTracking

#[test]
fn tracking_moves_the_status_and_remembers_the_status_before() {
    check(
        shipped(),
        system(),
        ShipmentCommand::RecordTracking {
            event_id: "evt-1".into(),
            status: TrackingStatus::InTransit,
            occurred_at: t(1000),
            description: Some("Departed facility".into()),
            location: Some("Leipzig, DE".into()),
            now: t(1005),
        },
        Ok(vec![ShipmentEvent::ShipmentTracked {
            event_id: "evt-1".into(),
            status: TrackingStatus::InTransit,
            from: ShipmentStatus::Shipped,
            occurred_at: t(1000),
            description: Some("Departed facility".into()),
            location: Some("Leipzig, DE".into()),
            at: t(1005),
        }]),
    );
    check(
        in_transit(),
        system(),
        track("evt-2", TrackingStatus::OutForDelivery, 2000),
        Ok(vec![tracked(
            "evt-2",
            TrackingStatus::OutForDelivery,
            ShipmentStatus::InTransit,
            2000,
        )]),
    );
    assert_eq!(state(&in_transit()).status(), ShipmentStatus::InTransit);
    assert_eq!(state(&delivered()).status(), ShipmentStatus::Delivered);
}

#[test]
fn a_second_scan_of_the_same_status_adds_history_without_changing_the_status() {
    let second = tracked(
        "evt-2",
        TrackingStatus::InTransit,
        ShipmentStatus::InTransit,
        1500,
    );
    check(
        in_transit(),
        system(),
        track("evt-2", TrackingStatus::InTransit, 1500),
        Ok(vec![second.clone()]),
    );
    let mut given = in_transit();
    given.push(second);
    let shipment = state(&given);
    assert_eq!(shipment.status(), ShipmentStatus::InTransit);
    assert_eq!(shipment.history().len(), 2);
}

#[test]
fn tracking_before_the_hand_over_is_refused() {
    check(
        packing(),
        system(),
        track("evt-1", TrackingStatus::InTransit, 100),
        Err(ShipmentError::NotHandedOver),
    );
}

#[test]
fn tracking_a_cancelled_shipment_is_an_invalid_transition() {
    check(
        vec![created(), cancelled()],
        system(),
        track("evt-1", TrackingStatus::InTransit, 100),
        Err(ShipmentError::InvalidTransition),
    );
}

#[test]
fn a_tracking_event_is_recorded_once() {
    // A redelivered webhook, whatever it says now.
    for status in [TrackingStatus::InTransit, TrackingStatus::Exception] {
        check(
            in_transit(),
            system(),
            track("evt-1", status, 1000),
            Err(ShipmentError::TrackingDuplicate),
        );
    }
    // The delivery's own scan again is a duplicate, not stale: the webhook can acknowledge it.
    check(
        delivered(),
        system(),
        track("evt-2", TrackingStatus::Delivered, 5000),
        Err(ShipmentError::TrackingDuplicate),
    );
}

#[test]
fn tracking_older_than_the_latest_recorded_scan_is_stale() {
    check(
        in_transit(),
        system(),
        track("evt-0", TrackingStatus::InTransit, 999),
        Err(ShipmentError::TrackingStale),
    );
    // The same instant is not older: carriers often stamp several scans alike.
    check(
        in_transit(),
        system(),
        track("evt-0", TrackingStatus::OutForDelivery, 1000),
        Ok(vec![tracked(
            "evt-0",
            TrackingStatus::OutForDelivery,
            ShipmentStatus::InTransit,
            1000,
        )]),
    );
    // Before any scan, the carrier's clock is not compared with the hand-over.
    assert!(state(&shipped())
        .decide(
            ID,
            &track("evt-1", TrackingStatus::InTransit, -500),
            &system()
        )
        .is_ok());
}

#[test]
fn nothing_is_tracked_after_delivery() {
    for status in [
        TrackingStatus::InTransit,
        TrackingStatus::Exception,
        TrackingStatus::Delivered,
    ] {
        check(
            delivered(),
            system(),
            track("evt-9", status, 9000),
            Err(ShipmentError::TrackingStale),
        );
    }
}

#[test]
fn an_exception_can_be_followed_by_more_tracking() {
    let mut given = in_transit();
    given.push(tracked(
        "evt-2",
        TrackingStatus::Exception,
        ShipmentStatus::InTransit,
        2000,
    ));
    assert_eq!(state(&given).status(), ShipmentStatus::Exception);
    check(
        given,
        system(),
        track("evt-3", TrackingStatus::InTransit, 3000),
        Ok(vec![tracked(
            "evt-3",
            TrackingStatus::InTransit,
            ShipmentStatus::Exception,
            3000,
        )]),
    );
}

#[test]
fn tracking_event_ids_are_1_to_128_characters() {
    for event_id in [
        String::new(),
        "  ".into(),
        "e".repeat(MAX_EVENT_ID_CHARS + 1),
    ] {
        check(
            shipped(),
            system(),
            track(&event_id, TrackingStatus::InTransit, 100),
            Err(ShipmentError::InvalidEventId),
        );
    }
    assert!(state(&shipped())
        .decide(
            ID,
            &track(
                &"e".repeat(MAX_EVENT_ID_CHARS),
                TrackingStatus::InTransit,
                100
            ),
            &system()
        )
        .is_ok());
}

#[test]
fn tracking_description_and_location_are_at_most_500_characters() {
    let with =
        |description: Option<String>, location: Option<String>| ShipmentCommand::RecordTracking {
            event_id: "evt-1".into(),
            status: TrackingStatus::InTransit,
            occurred_at: t(100),
            description,
            location,
            now: t(100),
        };
    let long = "ä".repeat(MAX_TEXT_CHARS + 1);
    check(
        shipped(),
        system(),
        with(Some(long.clone()), None),
        Err(ShipmentError::InvalidDescription),
    );
    check(
        shipped(),
        system(),
        with(None, Some(long)),
        Err(ShipmentError::InvalidLocation),
    );
    let longest = "ä".repeat(MAX_TEXT_CHARS);
    assert!(state(&shipped())
        .decide(ID, &with(Some(longest.clone()), Some(longest)), &system())
        .is_ok());
}

#[test]
fn only_the_platform_and_admins_record_tracking() {
    let scan = track("evt-1", TrackingStatus::InTransit, 100);
    for by in [system(), staff("admin")] {
        assert!(state(&shipped()).decide(ID, &scan, &by).is_ok());
    }
    for role in ["staff", "auditor", "vendor"] {
        check(
            shipped(),
            staff(role),
            scan.clone(),
            Err(ShipmentError::Forbidden),
        );
    }
    for by in shoppers() {
        check(shipped(), by, scan.clone(), Err(ShipmentError::NotFound));
    }
}

// Cancel

#[test]
fn cancelling_a_shipment_being_packed_records_it_once() {
    check(packing(), staff("staff"), cancel(), Ok(vec![cancelled()]));
    let given = vec![created(), cancelled()];
    assert_eq!(state(&given).status(), ShipmentStatus::Cancelled);
    check(given, system(), cancel(), Ok(vec![]));
}

#[test]
fn a_parcel_the_carrier_has_cannot_be_cancelled() {
    for given in [shipped(), in_transit(), delivered()] {
        check(
            given,
            system(),
            cancel(),
            Err(ShipmentError::InvalidTransition),
        );
    }
}

// Reads and the view

#[test]
fn the_platform_and_back_office_readers_read_a_shipment_and_nobody_else() {
    let shipment = state(&shipped());
    for by in [system(), staff("admin"), staff("staff"), staff("auditor")] {
        assert_eq!(shipment.authorize_read(&by), Ok(()), "{by:?}");
    }
    let [guest, customer] = shoppers();
    for by in [staff("vendor"), guest, customer] {
        assert_eq!(
            shipment.authorize_read(&by),
            Err(ShipmentError::NotFound),
            "{by:?}"
        );
    }
    // An empty stream is no shipment, for anyone.
    assert_eq!(
        Shipment::default().authorize_read(&system()),
        Err(ShipmentError::NotFound)
    );
}

#[test]
fn the_view_shows_the_lines_the_carrier_and_the_tracking_history() {
    let given = vec![
        created(),
        ShipmentEvent::ShipmentHandedOver {
            carrier: "DHL".into(),
            tracking_number: "JD014600003SE".into(),
            tracking_url: Some("https://dhl.example/t/JD014600003SE".into()),
            at: t(60),
        },
        ShipmentEvent::ShipmentTracked {
            event_id: "evt-1".into(),
            status: TrackingStatus::InTransit,
            from: ShipmentStatus::Shipped,
            occurred_at: t(1000),
            description: Some("Departed facility".into()),
            location: Some("Leipzig, DE".into()),
            at: t(1005),
        },
        tracked(
            "evt-2",
            TrackingStatus::Delivered,
            ShipmentStatus::InTransit,
            5000,
        ),
    ];
    assert_eq!(
        state(&given).view(ID, 4),
        ShipmentView {
            id: ID.into(),
            version: 4,
            order_id: "order-1".into(),
            vendor_id: None,
            status: ShipmentStatus::Delivered,
            lines: vec![line("TEE-BLACK-M", 2), line("MUG-1", 1)],
            address: address(),
            carrier: Some("DHL".into()),
            tracking_number: Some("JD014600003SE".into()),
            tracking_url: Some("https://dhl.example/t/JD014600003SE".into()),
            created_at: t(0),
            handed_over_at: Some(t(60)),
            delivered_at: Some(t(5000)),
            history: vec![
                TrackingEntry {
                    event_id: "evt-1".into(),
                    status: TrackingStatus::InTransit,
                    occurred_at: t(1000),
                    description: Some("Departed facility".into()),
                    location: Some("Leipzig, DE".into()),
                },
                TrackingEntry {
                    event_id: "evt-2".into(),
                    status: TrackingStatus::Delivered,
                    occurred_at: t(5000),
                    description: None,
                    location: None,
                },
            ],
        }
    );
    let packing = state(&packing()).view(ID, 1);
    assert_eq!(packing.status, ShipmentStatus::Packing);
    assert_eq!(
        (packing.carrier, packing.handed_over_at, packing.history),
        (None, None, vec![])
    );
}

#[test]
fn statuses_name_themselves_as_serde_does() {
    for status in [
        ShipmentStatus::New,
        ShipmentStatus::Packing,
        ShipmentStatus::Shipped,
        ShipmentStatus::InTransit,
        ShipmentStatus::OutForDelivery,
        ShipmentStatus::Delivered,
        ShipmentStatus::Exception,
        ShipmentStatus::Cancelled,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("serializes"),
            serde_json::json!(status.as_str())
        );
    }
    assert_eq!(ShipmentStatus::default(), ShipmentStatus::New);
}

#[test]
fn the_state_round_trips_through_json() {
    let shipment = state(&delivered());
    let json = serde_json::to_string(&shipment).expect("serializes");
    assert_eq!(
        serde_json::from_str::<Shipment>(&json).expect("parses"),
        shipment
    );
}

#[tokio::test]
async fn the_cqrs_es_aggregate_delegates_to_decide() {
    use cqrs_es::test::TestFramework;
    TestFramework::<Shipment>::with(())
        .given(shipped())
        .when_async(CqrsEnvelope {
            id: ID.into(),
            by: system(),
            command: track("evt-1", TrackingStatus::InTransit, 1000),
        })
        .await
        .then_expect_events(vec![tracked(
            "evt-1",
            TrackingStatus::InTransit,
            ShipmentStatus::Shipped,
            1000,
        )]);
    TestFramework::<Shipment>::with(())
        .given(packing())
        .when_async(CqrsEnvelope {
            id: ID.into(),
            by: system(),
            command: track("evt-1", TrackingStatus::InTransit, 1000),
        })
        .await
        .then_expect_error(ShipmentError::NotHandedOver);
    // A vendor creating for another vendor records nothing.
    TestFramework::<Shipment>::with(())
        .given_no_previous_events()
        .when_async(CqrsEnvelope {
            id: ID.into(),
            by: vendor("acme"),
            command: create_for(Some("globex")),
        })
        .await
        .then_expect_error(ShipmentError::Forbidden);
}

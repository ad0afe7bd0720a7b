use super::*;
use agora_kernel::{DomainError, ErrorKind};
use chrono::TimeDelta;

/// The stream: one shopper's review of one product (the edge derives it from both).
const ID: &str = "c4a1e6f2-3b7d-4e8a-9f10-2b3c4d5e6f70";
/// The product every test review is about.
const PRODUCT: &str = "prod-wool-sweater";
/// The marketplace vendor selling it.
const ACME: &str = "5d0c9e1b-7a4f-4c2e-8b3d-6f1a2e9c7b40";
/// Another vendor, selling something else.
const OTHER_VENDOR: &str = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918";
/// Why the moderators rejected the test review.
const REASON: &str = "names another shopper";
/// The seller's answer in these tests.
const THANKS: &str = "Thank you, Ada!";

/// A fixed instant plus `seconds`: tests never read the clock either.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_750_000_000 + seconds)
}

/// When the review is first submitted.
const SUBMITTED_AT: i64 = 0;
/// When the moderators approve it.
const APPROVED_AT: i64 = 10;
/// When the moderators reject it.
const REJECTED_AT: i64 = 20;
/// When the author withdraws it.
const WITHDRAWN_AT: i64 = 30;
/// When the author submits it again.
const EDITED_AT: i64 = 40;
/// When it is answered.
const RESPONDED_AT: i64 = 50;

fn account(id: &str) -> CustomerId {
    id.parse().expect("a valid customer id")
}

/// The author.
fn ada() -> CustomerId {
    account("3f2b8c1a-0d4e-4f6a-9b7c-1e2d3c4b5a69")
}

/// Another shopper.
fn bob() -> CustomerId {
    account("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
}

fn customer(id: CustomerId) -> Principal {
    Principal::Customer { id }
}

fn system() -> Principal {
    Principal::system("reviews")
}

fn staff(role: &str) -> Principal {
    Principal::Staff {
        id: "sam".into(),
        role: role.into(),
    }
}

/// A user of the vendor selling the product.
fn seller() -> Principal {
    Principal::Vendor {
        id: "vic".into(),
        vendor: ACME.into(),
    }
}

/// A user of a vendor that does not sell the product.
fn other_seller() -> Principal {
    Principal::Vendor {
        id: "olga".into(),
        vendor: OTHER_VENDOR.into(),
    }
}

fn guest() -> Principal {
    Principal::Guest {
        token_sha256: "a".repeat(64),
    }
}

/// Everyone to whom a review does not exist.
fn strangers() -> Vec<Principal> {
    vec![
        customer(bob()),
        guest(),
        other_seller(),
        // A back-office role that is none of staff, admin or auditor.
        staff("support"),
    ]
}

/// Everyone who reads the test review (sold by `ACME`).
fn readers() -> Vec<Principal> {
    vec![
        customer(ada()),
        staff("staff"),
        staff("admin"),
        staff("auditor"),
        system(),
        seller(),
    ]
}

// ---- commands and events --------------------------------------------------------------------

/// What a submission says, and the facts the platform adds to it.
#[derive(Clone, Debug)]
struct Draft {
    product_id: String,
    vendor_id: Option<String>,
    author_name: String,
    rating: u8,
    title: String,
    body: String,
    verified_purchase: bool,
}

fn draft() -> Draft {
    Draft {
        product_id: PRODUCT.into(),
        vendor_id: Some(ACME.into()),
        author_name: "Ada L.".into(),
        rating: 4,
        title: "Warm and well made".into(),
        body: "Wore it all winter.\nNo pilling yet.".into(),
        verified_purchase: true,
    }
}

/// The same review of a product the shop sells itself.
fn shop_draft() -> Draft {
    Draft {
        vendor_id: None,
        ..draft()
    }
}

/// The author's second thoughts.
fn rewrite() -> Draft {
    Draft {
        rating: 2,
        title: "Pilled after a month".into(),
        body: "Warm, but it pilled after a month.".into(),
        ..draft()
    }
}

fn submit_at(author: Option<CustomerId>, d: Draft, at: i64) -> ReviewCommand {
    ReviewCommand::Submit {
        product_id: d.product_id,
        vendor_id: d.vendor_id,
        author,
        author_name: d.author_name,
        rating: d.rating,
        title: d.title,
        body: d.body,
        verified_purchase: d.verified_purchase,
        now: t(at),
    }
}

/// A customer's own first submission.
fn submit(d: Draft) -> ReviewCommand {
    submit_at(None, d, SUBMITTED_AT)
}

/// A customer's own later submission.
fn resubmit(d: Draft) -> ReviewCommand {
    submit_at(None, d, EDITED_AT)
}

/// The platform's first submission for `author`.
fn submit_for(author: CustomerId, d: Draft) -> ReviewCommand {
    submit_at(Some(author), d, SUBMITTED_AT)
}

fn submitted_by(author: CustomerId, d: Draft) -> ReviewEvent {
    ReviewEvent::ReviewSubmitted {
        product_id: d.product_id,
        vendor_id: d.vendor_id,
        author,
        author_name: d.author_name,
        rating: d.rating,
        title: d.title,
        body: d.body,
        verified_purchase: d.verified_purchase,
        at: t(SUBMITTED_AT),
    }
}

/// Ada's review.
fn submitted(d: Draft) -> ReviewEvent {
    submitted_by(ada(), d)
}

fn edited(d: Draft) -> ReviewEvent {
    ReviewEvent::ReviewEdited {
        author_name: d.author_name,
        rating: d.rating,
        title: d.title,
        body: d.body,
        verified_purchase: d.verified_purchase,
        at: t(EDITED_AT),
    }
}

fn approve() -> ReviewCommand {
    ReviewCommand::Approve {
        now: t(APPROVED_AT),
    }
}

fn approved() -> ReviewEvent {
    ReviewEvent::ReviewApproved { at: t(APPROVED_AT) }
}

fn reject(reason: &str) -> ReviewCommand {
    ReviewCommand::Reject {
        reason: reason.into(),
        now: t(REJECTED_AT),
    }
}

fn rejected(reason: &str) -> ReviewEvent {
    ReviewEvent::ReviewRejected {
        reason: reason.into(),
        at: t(REJECTED_AT),
    }
}

fn withdraw() -> ReviewCommand {
    ReviewCommand::Withdraw {
        now: t(WITHDRAWN_AT),
    }
}

fn withdrawn() -> ReviewEvent {
    ReviewEvent::ReviewWithdrawn {
        at: t(WITHDRAWN_AT),
    }
}

fn respond(text: &str) -> ReviewCommand {
    ReviewCommand::Respond {
        text: text.into(),
        now: t(RESPONDED_AT),
    }
}

fn responded(text: &str, by: Responder) -> ReviewEvent {
    ReviewEvent::ReviewResponded {
        text: text.into(),
        by,
        at: t(RESPONDED_AT),
    }
}

/// One command of each kind but `Submit`.
fn every_later_command() -> Vec<ReviewCommand> {
    vec![withdraw(), approve(), reject(REASON), respond(THANKS)]
}

// ---- histories ------------------------------------------------------------------------------

fn pending() -> Vec<ReviewEvent> {
    vec![submitted(draft())]
}

fn approved_review() -> Vec<ReviewEvent> {
    with(pending(), [approved()])
}

fn rejected_review() -> Vec<ReviewEvent> {
    with(pending(), [rejected(REASON)])
}

/// Published, then taken down by the moderators.
fn taken_down() -> Vec<ReviewEvent> {
    with(approved_review(), [rejected(REASON)])
}

fn withdrawn_review() -> Vec<ReviewEvent> {
    with(pending(), [withdrawn()])
}

/// Published and answered by the seller.
fn answered() -> Vec<ReviewEvent> {
    with(approved_review(), [responded(THANKS, Responder::Vendor)])
}

/// A published review of one of the shop's own products.
fn shop_review() -> Vec<ReviewEvent> {
    vec![submitted(shop_draft()), approved()]
}

/// A history for every status a submitted review can be in, several ways of getting there.
fn every_submitted_status() -> Vec<(ReviewStatus, Vec<ReviewEvent>)> {
    vec![
        (ReviewStatus::Pending, pending()),
        (
            ReviewStatus::Pending,
            with(rejected_review(), [edited(rewrite())]),
        ),
        (ReviewStatus::Approved, approved_review()),
        (ReviewStatus::Approved, answered()),
        (ReviewStatus::Rejected, rejected_review()),
        (ReviewStatus::Rejected, taken_down()),
        (ReviewStatus::Withdrawn, withdrawn_review()),
        (ReviewStatus::Withdrawn, with(answered(), [withdrawn()])),
        (
            ReviewStatus::Withdrawn,
            with(rejected_review(), [withdrawn()]),
        ),
    ]
}

fn with(
    mut given: Vec<ReviewEvent>,
    more: impl IntoIterator<Item = ReviewEvent>,
) -> Vec<ReviewEvent> {
    given.extend(more);
    given
}

fn state(given: &[ReviewEvent]) -> Review {
    let mut review = Review::default();
    for e in given {
        review.evolve(e);
    }
    review
}

/// Given events, when a command by a principal, then these events or this error.
fn check(
    given: Vec<ReviewEvent>,
    by: Principal,
    when: ReviewCommand,
    then: Result<Vec<ReviewEvent>, ReviewError>,
) {
    assert_eq!(
        state(&given).decide(ID, &when, &by),
        then,
        "{when:?} by {by:?} given {given:?}"
    );
}

// ---- submitting -----------------------------------------------------------------------------

#[test]
fn a_customer_submits_a_review_as_its_author() {
    check(
        vec![],
        customer(ada()),
        submit(draft()),
        Ok(vec![submitted(draft())]),
    );
    let review = state(&pending());
    assert_eq!(review.status(), ReviewStatus::Pending);
    assert_eq!(review.product_id(), Some(PRODUCT));
    assert_eq!(review.vendor_id(), Some(ACME));
    assert_eq!(review.author(), Some(ada()));
}

#[test]
fn a_review_of_the_shops_own_product_has_no_vendor() {
    check(
        vec![],
        customer(ada()),
        submit(shop_draft()),
        Ok(vec![submitted(shop_draft())]),
    );
    let review = state(&[submitted(shop_draft())]);
    assert_eq!(review.vendor_id(), None);
    assert_eq!(review.product_id(), Some(PRODUCT));
}

#[test]
fn the_platform_submits_for_the_customer_it_names() {
    check(
        vec![],
        system(),
        submit_for(bob(), draft()),
        Ok(vec![submitted_by(bob(), draft())]),
    );
    assert_eq!(state(&[submitted_by(bob(), draft())]).author(), Some(bob()));
}

#[test]
fn the_platform_must_name_the_author() {
    check(
        vec![],
        system(),
        submit(draft()),
        Err(ReviewError::Forbidden),
    );
}

#[test]
fn a_customer_never_names_the_author_not_even_itself() {
    for author in [ada(), bob()] {
        check(
            vec![],
            customer(ada()),
            submit_for(author, draft()),
            Err(ReviewError::Forbidden),
        );
    }
}

#[test]
fn only_customers_and_the_platform_submit() {
    for by in [
        staff("staff"),
        staff("admin"),
        staff("auditor"),
        seller(),
        other_seller(),
        guest(),
    ] {
        for command in [submit(draft()), submit_for(ada(), draft())] {
            check(
                vec![],
                by.clone(),
                command.clone(),
                Err(ReviewError::Forbidden),
            );
            // Nor on an existing review: the refusal is the same and reveals nothing.
            check(pending(), by.clone(), command, Err(ReviewError::Forbidden));
        }
    }
}

#[test]
fn refusing_a_submitter_comes_before_checking_what_it_sent() {
    let bad = Draft {
        rating: 0,
        title: String::new(),
        ..draft()
    };
    for (given, by) in [
        (vec![], guest()),
        (vec![], staff("admin")),
        (pending(), customer(bob())),
    ] {
        check(given, by, submit(bad.clone()), Err(ReviewError::Forbidden));
    }
}

/// One way to change a valid draft, for tests that try many.
type Change<'a> = &'a dyn Fn(&mut Draft);

fn changed(change: Change) -> Draft {
    let mut d = draft();
    change(&mut d);
    d
}

/// Drafts each refused with its own code, for a first submission and an edit alike.
fn refused_drafts() -> Vec<(Draft, ReviewError)> {
    use ReviewError::*;
    let refused: Vec<(Change, ReviewError)> = vec![
        (&|d| d.rating = 0, InvalidRating),
        (&|d| d.rating = 6, InvalidRating),
        (&|d| d.rating = u8::MAX, InvalidRating),
        (&|d| d.title = String::new(), InvalidTitle),
        (&|d| d.title = "   ".into(), InvalidTitle),
        (&|d| d.title = "\u{a0}\u{3000}".into(), InvalidTitle),
        (&|d| d.title = "x".repeat(MAX_TITLE_CHARS + 1), InvalidTitle),
        (&|d| d.title = "é".repeat(MAX_TITLE_CHARS + 1), InvalidTitle),
        (&|d| d.title = "Warm\nand well made".into(), InvalidTitle),
        (&|d| d.title = "Warm\r\nand well made".into(), InvalidTitle),
        (&|d| d.title = "Warm\tand well made".into(), InvalidTitle),
        (&|d| d.title = "Warm and well made\n".into(), InvalidTitle),
        (&|d| d.author_name = "Ada L.\n".into(), InvalidName),
        (&|d| d.title = "Warm\u{7}".into(), InvalidTitle),
        (&|d| d.title = "\u{1b}[31mWarm".into(), InvalidTitle),
        (&|d| d.body = "x".repeat(MAX_BODY_CHARS + 1), InvalidBody),
        (&|d| d.body = "Wore it\u{0}".into(), InvalidBody),
        (&|d| d.body = "\u{1b}[2J".into(), InvalidBody),
        (&|d| d.body = "a\u{7f}b".into(), InvalidBody),
        (&|d| d.author_name = String::new(), InvalidName),
        (&|d| d.author_name = "  ".into(), InvalidName),
        (
            &|d| d.author_name = "x".repeat(MAX_NAME_CHARS + 1),
            InvalidName,
        ),
        (&|d| d.author_name = "Ada\nL.".into(), InvalidName),
        (&|d| d.author_name = "Ada\u{0}".into(), InvalidName),
        (&|d| d.product_id = String::new(), InvalidProduct),
        (&|d| d.product_id = "   ".into(), InvalidProduct),
        (
            &|d| d.product_id = "p".repeat(MAX_ID_CHARS + 1),
            InvalidProduct,
        ),
        (&|d| d.product_id = "prod\n1".into(), InvalidProduct),
        (&|d| d.vendor_id = Some(String::new()), InvalidProduct),
        (&|d| d.vendor_id = Some(" ".into()), InvalidProduct),
        (
            &|d| d.vendor_id = Some("v".repeat(MAX_ID_CHARS + 1)),
            InvalidProduct,
        ),
        (&|d| d.vendor_id = Some("acme\u{0}".into()), InvalidProduct),
    ];
    refused
        .into_iter()
        .map(|(change, error)| (changed(change), error))
        .collect()
}

#[test]
fn a_submission_is_refused_with_the_code_of_what_is_wrong() {
    for (d, error) in refused_drafts() {
        check(
            vec![],
            customer(ada()),
            submit(d.clone()),
            Err(error.clone()),
        );
        check(
            vec![],
            system(),
            submit_for(ada(), d.clone()),
            Err(error.clone()),
        );
        // An edit is held to the same rules.
        check(approved_review(), customer(ada()), resubmit(d), Err(error));
    }
}

#[test]
fn a_submission_at_the_limits_is_accepted() {
    let accepted: Vec<Change> = vec![
        &|d| d.rating = 1,
        &|d| d.rating = 5,
        &|d| d.title = "x".repeat(MAX_TITLE_CHARS),
        // Characters are counted, not bytes.
        &|d| d.title = "é".repeat(MAX_TITLE_CHARS),
        &|d| d.title = "W".into(),
        &|d| d.title = " Warm, and well made! ".into(),
        &|d| d.body = String::new(),
        &|d| d.body = "x".repeat(MAX_BODY_CHARS),
        &|d| d.body = "é".repeat(MAX_BODY_CHARS),
        // A body may hold line breaks.
        &|d| d.body = "Warm.\n\nWell made.".into(),
        &|d| d.body = "Warm.\r\nWell made.\r\n".into(),
        &|d| d.author_name = "x".repeat(MAX_NAME_CHARS),
        &|d| d.author_name = "Ана Л.".into(),
        &|d| d.product_id = "p".repeat(MAX_ID_CHARS),
        &|d| d.vendor_id = Some("v".repeat(MAX_ID_CHARS)),
        &|d| d.vendor_id = None,
        &|d| d.verified_purchase = false,
    ];
    for change in accepted {
        let d = changed(change);
        check(
            vec![],
            customer(ada()),
            submit(d.clone()),
            Ok(vec![submitted(d)]),
        );
    }
}

// ---- resubmitting ---------------------------------------------------------------------------

#[test]
fn submitting_the_same_review_again_records_nothing() {
    for (status, given) in every_submitted_status() {
        if status == ReviewStatus::Withdrawn {
            continue;
        }
        let current = if given.contains(&edited(rewrite())) {
            rewrite()
        } else {
            draft()
        };
        check(
            given.clone(),
            customer(ada()),
            resubmit(current.clone()),
            Ok(vec![]),
        );
        check(
            given,
            system(),
            submit_at(Some(ada()), current, EDITED_AT),
            Ok(vec![]),
        );
    }
}

#[test]
fn the_vendor_named_first_stays_whatever_a_later_submission_says() {
    // The platform fixes the vendor at the first submission: a later one naming another
    // vendor (or none) changes nothing, and an edit keeps the first vendor.
    for vendor_id in [Some(OTHER_VENDOR.to_string()), None] {
        check(
            pending(),
            customer(ada()),
            resubmit(Draft {
                vendor_id: vendor_id.clone(),
                ..draft()
            }),
            Ok(vec![]),
        );
        check(
            pending(),
            customer(ada()),
            resubmit(Draft {
                vendor_id,
                ..rewrite()
            }),
            Ok(vec![edited(rewrite())]),
        );
    }
    let review = state(&with(pending(), [edited(rewrite())]));
    assert_eq!(review.vendor_id(), Some(ACME));
}

#[test]
fn submitting_other_words_edits_the_review_and_sends_it_back_to_moderation() {
    for given in [
        pending(),
        approved_review(),
        rejected_review(),
        taken_down(),
        answered(),
    ] {
        check(
            given.clone(),
            customer(ada()),
            resubmit(rewrite()),
            Ok(vec![edited(rewrite())]),
        );
        check(
            given.clone(),
            system(),
            submit_at(Some(ada()), rewrite(), EDITED_AT),
            Ok(vec![edited(rewrite())]),
        );
        let review = state(&with(given, [edited(rewrite())]));
        assert_eq!(review.status(), ReviewStatus::Pending);
        assert_eq!(review.author(), Some(ada()));
        assert_eq!(review.product_id(), Some(PRODUCT));
    }
}

#[test]
fn every_part_of_the_words_counts_as_an_edit() {
    let edits: Vec<Change> = vec![
        &|d| d.rating = 5,
        &|d| d.title = "Warm and well made!".into(),
        &|d| d.body = String::new(),
        &|d| d.body = "Wore it all winter.\r\nNo pilling yet.".into(),
        &|d| d.author_name = "Ada Lovelace".into(),
    ];
    for change in edits {
        let d = changed(change);
        check(
            approved_review(),
            customer(ada()),
            resubmit(d.clone()),
            Ok(vec![edited(d)]),
        );
    }
}

#[test]
fn an_edit_clears_the_rejection_reason_and_keeps_the_response() {
    let view = state(&rejected_review()).view(ID, 2);
    assert_eq!(view.rejection_reason.as_deref(), Some(REASON));

    let review = state(&with(rejected_review(), [edited(rewrite())]));
    let view = review.view(ID, 3);
    assert_eq!(view.status, ReviewStatus::Pending);
    assert_eq!(view.rejection_reason, None);
    assert_eq!(view.rating, 2);
    assert_eq!(view.title, rewrite().title);

    let review = state(&with(answered(), [rejected(REASON), edited(rewrite())]));
    let view = review.view(ID, 5);
    assert_eq!(view.rejection_reason, None);
    assert_eq!(
        view.response,
        Some(Response {
            text: THANKS.into(),
            by: Responder::Vendor,
            at: t(RESPONDED_AT),
        })
    );
}

#[test]
fn another_customer_cannot_write_on_someone_elses_review() {
    for (_, given) in every_submitted_status() {
        check(
            given.clone(),
            customer(bob()),
            resubmit(draft()),
            Err(ReviewError::Forbidden),
        );
        check(
            given.clone(),
            customer(bob()),
            resubmit(rewrite()),
            Err(ReviewError::Forbidden),
        );
        check(
            given,
            system(),
            submit_at(Some(bob()), draft(), EDITED_AT),
            Err(ReviewError::Forbidden),
        );
    }
}

#[test]
fn a_review_stays_about_its_product() {
    let elsewhere = Draft {
        product_id: "prod-wool-scarf".into(),
        ..draft()
    };
    for (_, given) in every_submitted_status() {
        check(
            given.clone(),
            customer(ada()),
            resubmit(elsewhere.clone()),
            Err(ReviewError::InvalidProduct),
        );
        check(
            given,
            system(),
            submit_at(Some(ada()), elsewhere.clone(), EDITED_AT),
            Err(ReviewError::InvalidProduct),
        );
    }
}

#[test]
fn submitting_after_withdrawing_brings_the_review_back_for_moderation() {
    for given in [
        withdrawn_review(),
        with(answered(), [withdrawn()]),
        with(rejected_review(), [withdrawn()]),
    ] {
        // Even the very same words: the submission itself is the wish to publish again.
        check(
            given.clone(),
            customer(ada()),
            resubmit(draft()),
            Ok(vec![edited(draft())]),
        );
        check(
            given.clone(),
            customer(ada()),
            resubmit(rewrite()),
            Ok(vec![edited(rewrite())]),
        );
        let review = state(&with(given, [edited(draft())]));
        assert_eq!(review.status(), ReviewStatus::Pending);
        assert_eq!(review.view(ID, 9).rejection_reason, None);
    }
    // Once back, the same words again record nothing.
    check(
        with(withdrawn_review(), [edited(draft())]),
        customer(ada()),
        resubmit(draft()),
        Ok(vec![]),
    );
}

// ---- withdrawing ----------------------------------------------------------------------------

#[test]
fn the_author_withdraws_the_review_at_any_time() {
    for (status, given) in every_submitted_status() {
        let then = if status == ReviewStatus::Withdrawn {
            vec![]
        } else {
            vec![withdrawn()]
        };
        check(given.clone(), customer(ada()), withdraw(), Ok(then));
        let review = state(&with(given, [withdrawn()]));
        assert_eq!(review.status(), ReviewStatus::Withdrawn);
    }
}

#[test]
fn withdrawing_again_records_nothing() {
    check(withdrawn_review(), customer(ada()), withdraw(), Ok(vec![]));
    check(withdrawn_review(), system(), withdraw(), Ok(vec![]));
}

#[test]
fn the_platform_also_withdraws_a_review() {
    check(pending(), system(), withdraw(), Ok(vec![withdrawn()]));
    check(
        approved_review(),
        system(),
        withdraw(),
        Ok(vec![withdrawn()]),
    );
}

#[test]
fn readers_other_than_the_author_may_not_withdraw() {
    for by in [staff("staff"), staff("admin"), staff("auditor"), seller()] {
        for (_, given) in every_submitted_status() {
            check(given, by.clone(), withdraw(), Err(ReviewError::Forbidden));
        }
    }
}

#[test]
fn to_strangers_a_review_does_not_exist() {
    for by in strangers() {
        for (_, given) in every_submitted_status() {
            for command in every_later_command() {
                check(
                    given.clone(),
                    by.clone(),
                    command,
                    Err(ReviewError::NotFound),
                );
            }
            // Even a command they could never send well tells them nothing more.
            for command in [reject(""), respond("")] {
                check(
                    given.clone(),
                    by.clone(),
                    command,
                    Err(ReviewError::NotFound),
                );
            }
        }
    }
}

// ---- moderating -----------------------------------------------------------------------------

#[test]
fn staff_admins_and_the_platform_approve_a_pending_review() {
    for by in [staff("staff"), staff("admin"), system()] {
        check(pending(), by.clone(), approve(), Ok(vec![approved()]));
        check(
            with(rejected_review(), [edited(rewrite())]),
            by,
            approve(),
            Ok(vec![approved()]),
        );
    }
    assert_eq!(state(&approved_review()).status(), ReviewStatus::Approved);
}

#[test]
fn approving_again_records_nothing() {
    for by in [staff("staff"), staff("admin"), system()] {
        check(approved_review(), by.clone(), approve(), Ok(vec![]));
        check(answered(), by, approve(), Ok(vec![]));
    }
}

#[test]
fn only_a_pending_review_is_approved() {
    for (status, given) in every_submitted_status() {
        if matches!(status, ReviewStatus::Rejected | ReviewStatus::Withdrawn) {
            check(
                given,
                staff("staff"),
                approve(),
                Err(ReviewError::InvalidTransition),
            );
        }
    }
}

#[test]
fn staff_admins_and_the_platform_reject_a_pending_or_published_review_saying_why() {
    for by in [staff("staff"), staff("admin"), system()] {
        for given in [pending(), approved_review(), answered()] {
            check(
                given,
                by.clone(),
                reject(REASON),
                Ok(vec![rejected(REASON)]),
            );
        }
    }
    let review = state(&taken_down());
    assert_eq!(review.status(), ReviewStatus::Rejected);
    assert_eq!(review.view(ID, 3).rejection_reason.as_deref(), Some(REASON));
}

#[test]
fn rejecting_again_records_nothing_whatever_the_reason() {
    for given in [rejected_review(), taken_down()] {
        check(given.clone(), staff("staff"), reject(REASON), Ok(vec![]));
        check(given, staff("admin"), reject("off topic"), Ok(vec![]));
    }
}

#[test]
fn a_withdrawn_review_is_not_rejected() {
    for (status, given) in every_submitted_status() {
        if status == ReviewStatus::Withdrawn {
            check(
                given,
                staff("staff"),
                reject(REASON),
                Err(ReviewError::InvalidTransition),
            );
        }
    }
}

#[test]
fn a_rejection_needs_a_short_reason_on_one_line() {
    for reason in [
        String::new(),
        "   ".into(),
        "x".repeat(MAX_REASON_CHARS + 1),
        "names\nanother shopper".into(),
        "names\u{0}".into(),
    ] {
        check(
            pending(),
            staff("staff"),
            reject(&reason),
            Err(ReviewError::InvalidReason),
        );
    }
    let longest = "é".repeat(MAX_REASON_CHARS);
    check(
        pending(),
        staff("staff"),
        reject(&longest),
        Ok(vec![rejected(&longest)]),
    );
}

#[test]
fn auditors_sellers_and_authors_do_not_moderate() {
    for by in [staff("auditor"), seller(), customer(ada())] {
        for (_, given) in every_submitted_status() {
            check(
                given.clone(),
                by.clone(),
                approve(),
                Err(ReviewError::Forbidden),
            );
            check(
                given,
                by.clone(),
                reject(REASON),
                Err(ReviewError::Forbidden),
            );
        }
    }
}

// ---- responding -----------------------------------------------------------------------------

#[test]
fn the_sellers_users_answer_a_published_review_as_the_vendor() {
    check(
        approved_review(),
        seller(),
        respond(THANKS),
        Ok(vec![responded(THANKS, Responder::Vendor)]),
    );
    let view = state(&answered()).view(ID, 3);
    assert_eq!(
        view.response,
        Some(Response {
            text: THANKS.into(),
            by: Responder::Vendor,
            at: t(RESPONDED_AT),
        })
    );
}

#[test]
fn staff_and_admins_answer_any_published_review_as_the_shop() {
    for by in [staff("staff"), staff("admin")] {
        for given in [approved_review(), shop_review(), answered()] {
            check(
                given,
                by.clone(),
                respond(THANKS),
                Ok(vec![responded(THANKS, Responder::Shop)]),
            );
        }
    }
}

#[test]
fn the_same_answer_again_records_nothing_another_replaces_it() {
    check(answered(), seller(), respond(THANKS), Ok(vec![]));
    check(
        answered(),
        seller(),
        respond("Glad you like it."),
        Ok(vec![responded("Glad you like it.", Responder::Vendor)]),
    );
    let by_shop = with(approved_review(), [responded(THANKS, Responder::Shop)]);
    check(by_shop.clone(), staff("staff"), respond(THANKS), Ok(vec![]));
    // The same words from someone else are their answer.
    check(
        by_shop,
        seller(),
        respond(THANKS),
        Ok(vec![responded(THANKS, Responder::Vendor)]),
    );
    let replaced = state(&with(
        answered(),
        [ReviewEvent::ReviewResponded {
            text: "Glad you like it.".into(),
            by: Responder::Shop,
            at: t(RESPONDED_AT + 1),
        }],
    ));
    assert_eq!(
        replaced.view(ID, 4).response,
        Some(Response {
            text: "Glad you like it.".into(),
            by: Responder::Shop,
            at: t(RESPONDED_AT + 1),
        })
    );
}

#[test]
fn only_a_published_review_is_answered() {
    for (status, given) in every_submitted_status() {
        if status == ReviewStatus::Approved {
            continue;
        }
        for by in [seller(), staff("staff")] {
            check(
                given.clone(),
                by,
                respond(THANKS),
                Err(ReviewError::InvalidTransition),
            );
        }
    }
}

#[test]
fn an_answer_is_short_and_not_blank() {
    for text in [
        String::new(),
        " \n ".into(),
        "x".repeat(MAX_RESPONSE_CHARS + 1),
        "Thanks\u{7}".into(),
        "\u{1b}[1mThanks".into(),
    ] {
        check(
            approved_review(),
            seller(),
            respond(&text),
            Err(ReviewError::InvalidResponse),
        );
    }
    let longest = "é".repeat(MAX_RESPONSE_CHARS);
    check(
        approved_review(),
        seller(),
        respond(&longest),
        Ok(vec![responded(&longest, Responder::Vendor)]),
    );
}

#[test]
fn another_vendors_users_do_not_see_the_review_to_answer_it() {
    check(
        approved_review(),
        other_seller(),
        respond(THANKS),
        Err(ReviewError::NotFound),
    );
    // Nor does any vendor's user see a review of the shop's own product.
    for by in [seller(), other_seller()] {
        check(
            shop_review(),
            by,
            respond(THANKS),
            Err(ReviewError::NotFound),
        );
    }
}

#[test]
fn auditors_authors_and_the_platform_do_not_answer() {
    for by in [staff("auditor"), customer(ada()), system()] {
        for given in [approved_review(), answered(), shop_review()] {
            check(
                given,
                by.clone(),
                respond(THANKS),
                Err(ReviewError::Forbidden),
            );
        }
    }
}

// ---- before the first submission ------------------------------------------------------------

#[test]
fn a_review_never_submitted_does_not_exist() {
    let mut everyone = readers();
    everyone.extend(strangers());
    for by in everyone {
        for command in every_later_command() {
            check(vec![], by.clone(), command, Err(ReviewError::NotFound));
        }
        assert_eq!(
            Review::default().authorize_read(&by),
            Err(ReviewError::NotFound),
            "{by:?}"
        );
    }
    assert_eq!(Review::default().status(), ReviewStatus::New);
    assert_eq!(Review::default().author(), None);
    assert_eq!(Review::default().product_id(), None);
}

// ---- reading --------------------------------------------------------------------------------

#[test]
fn the_author_the_back_office_and_the_sellers_users_read_a_review() {
    for (_, given) in every_submitted_status() {
        let review = state(&given);
        for by in readers() {
            assert_eq!(review.authorize_read(&by), Ok(()), "{by:?}");
        }
        for by in strangers() {
            assert_eq!(
                review.authorize_read(&by),
                Err(ReviewError::NotFound),
                "{by:?}"
            );
        }
    }
}

#[test]
fn no_vendors_user_reads_a_review_of_the_shops_own_product() {
    let review = state(&shop_review());
    for by in [seller(), other_seller()] {
        assert_eq!(review.authorize_read(&by), Err(ReviewError::NotFound));
    }
    for by in [customer(ada()), staff("auditor"), system()] {
        assert_eq!(review.authorize_read(&by), Ok(()));
    }
}

#[test]
fn the_view_shows_the_review_as_last_written() {
    assert_eq!(
        state(&pending()).view(ID, 1),
        ReviewView {
            id: ID.into(),
            version: 1,
            status: ReviewStatus::Pending,
            product_id: PRODUCT.into(),
            vendor_id: Some(ACME.into()),
            author_id: Some(ada()),
            author_name: "Ada L.".into(),
            rating: 4,
            title: "Warm and well made".into(),
            body: "Wore it all winter.\nNo pilling yet.".into(),
            verified_purchase: true,
            rejection_reason: None,
            response: None,
            submitted_at: Some(t(SUBMITTED_AT)),
            updated_at: Some(t(SUBMITTED_AT)),
        }
    );
    let history = with(
        answered(),
        [rejected(REASON), withdrawn(), edited(rewrite())],
    );
    assert_eq!(
        state(&history).view(ID, 6),
        ReviewView {
            id: ID.into(),
            version: 6,
            status: ReviewStatus::Pending,
            product_id: PRODUCT.into(),
            vendor_id: Some(ACME.into()),
            author_id: Some(ada()),
            author_name: "Ada L.".into(),
            rating: 2,
            title: "Pilled after a month".into(),
            body: "Warm, but it pilled after a month.".into(),
            verified_purchase: true,
            rejection_reason: None,
            response: Some(Response {
                text: THANKS.into(),
                by: Responder::Vendor,
                at: t(RESPONDED_AT),
            }),
            // The first submission's time stays; the last change is the edit.
            submitted_at: Some(t(SUBMITTED_AT)),
            updated_at: Some(t(EDITED_AT)),
        }
    );
}

#[test]
fn each_event_moves_the_last_change() {
    for (given, at) in [
        (approved_review(), APPROVED_AT),
        (rejected_review(), REJECTED_AT),
        (withdrawn_review(), WITHDRAWN_AT),
        (answered(), RESPONDED_AT),
        (with(pending(), [edited(rewrite())]), EDITED_AT),
    ] {
        let view = state(&given).view(ID, 1);
        assert_eq!(view.updated_at, Some(t(at)), "{given:?}");
        assert_eq!(view.submitted_at, Some(t(SUBMITTED_AT)));
    }
}

#[test]
fn a_vendors_user_sees_neither_the_authors_id_nor_the_moderators_reason() {
    let review = state(&with(answered(), [rejected(REASON)]));
    let full = review.view(ID, 4);
    assert_eq!(full.author_id, Some(ada()));
    assert_eq!(full.rejection_reason.as_deref(), Some(REASON));
    let expected = ReviewView {
        author_id: None,
        rejection_reason: None,
        ..full.clone()
    };
    assert_eq!(review.view_for(ID, 4, &seller()), expected);
    assert_eq!(review.command_view_for(ID, 4, &seller()), expected);
    let json = serde_json::to_value(review.view_for(ID, 4, &seller())).expect("a view serializes");
    assert!(json.get("author_id").is_none(), "{json}");
    assert!(json.get("rejection_reason").is_none(), "{json}");
    assert_eq!(json["response"]["text"], THANKS);
    assert_eq!(json["author_name"], "Ada L.");
    // Every other reader sees the whole review.
    for by in [
        customer(ada()),
        staff("staff"),
        staff("admin"),
        staff("auditor"),
        system(),
    ] {
        assert_eq!(review.view_for(ID, 4, &by), full, "{by:?}");
        assert_eq!(review.command_view_for(ID, 4, &by), full, "{by:?}");
    }
}

#[test]
fn a_view_travels_as_json_and_back() {
    let view = state(&with(answered(), [rejected(REASON)])).view(ID, 4);
    let json = serde_json::to_value(&view).expect("a view serializes");
    assert_eq!(json["status"], "rejected");
    assert_eq!(json["author_id"], ada().to_string());
    assert_eq!(json["response"]["by"], "vendor");
    let back: ReviewView = serde_json::from_value(json).expect("a view decodes");
    assert_eq!(back, view);
}

// ---- the contract ---------------------------------------------------------------------------

#[test]
fn statuses_have_their_wire_names() {
    for status in [
        ReviewStatus::New,
        ReviewStatus::Pending,
        ReviewStatus::Approved,
        ReviewStatus::Rejected,
        ReviewStatus::Withdrawn,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("a status serializes"),
            status.as_str()
        );
    }
}

#[test]
fn every_event_has_its_type_name_and_survives_the_store() {
    let events = [
        submitted(draft()),
        edited(rewrite()),
        approved(),
        rejected(REASON),
        withdrawn(),
        responded(THANKS, Responder::Vendor),
    ];
    let names: Vec<&str> = events.iter().map(Review::event_type).collect();
    assert_eq!(
        names,
        [
            "ReviewSubmitted",
            "ReviewEdited",
            "ReviewApproved",
            "ReviewRejected",
            "ReviewWithdrawn",
            "ReviewResponded",
        ]
    );
    for event in events {
        let json = serde_json::to_value(&event).expect("an event serializes");
        assert!(json.get(event.event_type()).is_some(), "{json}");
        let back: ReviewEvent = serde_json::from_value(json).expect("an event decodes");
        assert_eq!(back, event);
    }
}

#[test]
fn a_snapshot_folds_back_to_the_same_review() {
    let review = state(&with(answered(), [rejected(REASON)]));
    let json = serde_json::to_value(&review).expect("a review serializes");
    let back: Review = serde_json::from_value(json).expect("a review decodes");
    assert_eq!(back, review);
    let empty: Review = serde_json::from_value(serde_json::json!({})).expect("an empty one too");
    assert_eq!(empty, Review::default());
}

#[test]
fn command_names_are_their_serde_tags() {
    let now = t(0);
    agora_kernel::check_names(&[
        ReviewCommand::Submit {
            product_id: PRODUCT.into(),
            vendor_id: Some(ACME.into()),
            author: Some(ada()),
            author_name: "Ada L.".into(),
            rating: 4,
            title: "Warm and well made".into(),
            body: "Wore it all winter.".into(),
            verified_purchase: true,
            now,
        },
        ReviewCommand::Withdraw { now },
        ReviewCommand::Approve { now },
        ReviewCommand::Reject {
            reason: REASON.into(),
            now,
        },
        ReviewCommand::Respond {
            text: THANKS.into(),
            now,
        },
    ]);
}

#[test]
fn a_customers_submission_may_leave_out_the_platforms_fields() {
    let json = serde_json::json!({"submit": {
        "product_id": PRODUCT,
        "author_name": "Ada L.",
        "rating": 4,
        "title": "Warm and well made",
        "verified_purchase": false,
        "now": t(0),
    }});
    let command: ReviewCommand = serde_json::from_value(json).expect("a submission decodes");
    assert_eq!(
        command,
        submit(Draft {
            vendor_id: None,
            body: String::new(),
            verified_purchase: false,
            ..draft()
        })
    );
    let unknown = serde_json::json!({"approve": {"now": t(0), "by": "sam"}});
    assert!(serde_json::from_value::<ReviewCommand>(unknown).is_err());
}

/// Every error, its code and the kind its code says.
fn every_error() -> Vec<(ReviewError, &'static str, ErrorKind)> {
    use ErrorKind::*;
    let all = vec![
        (ReviewError::NotFound, "review.not_found", NotFound),
        (ReviewError::Forbidden, "review.forbidden", Forbidden),
        (
            ReviewError::InvalidTransition,
            "review.invalid_transition",
            Conflict,
        ),
        (ReviewError::InvalidRating, "review.invalid_rating", Invalid),
        (ReviewError::InvalidTitle, "review.invalid_title", Invalid),
        (ReviewError::InvalidBody, "review.invalid_body", Invalid),
        (ReviewError::InvalidName, "review.invalid_name", Invalid),
        (
            ReviewError::InvalidResponse,
            "review.invalid_response",
            Invalid,
        ),
        (ReviewError::InvalidReason, "review.invalid_reason", Invalid),
        (
            ReviewError::InvalidProduct,
            "review.invalid_product",
            Invalid,
        ),
    ];
    // A new variant does not compile until it is listed above.
    for (error, _, _) in &all {
        match error {
            ReviewError::NotFound
            | ReviewError::Forbidden
            | ReviewError::InvalidTransition
            | ReviewError::InvalidRating
            | ReviewError::InvalidTitle
            | ReviewError::InvalidBody
            | ReviewError::InvalidName
            | ReviewError::InvalidResponse
            | ReviewError::InvalidReason
            | ReviewError::InvalidProduct => {}
        }
    }
    all
}

#[test]
fn every_error_code_is_namespaced_unique_and_of_the_kind_it_says() {
    let all = every_error();
    assert_eq!(all.len(), 10, "every variant is listed once");
    let codes: std::collections::BTreeSet<&str> = all.iter().map(|(e, _, _)| e.code()).collect();
    assert_eq!(codes.len(), all.len(), "codes are unique");
    for (error, code, kind) in all {
        assert_eq!(error.code(), code);
        assert!(code.starts_with("review."), "{code}");
        assert_eq!(error.kind(), kind, "{code}");
        let said = match code {
            "review.not_found" => ErrorKind::NotFound,
            "review.forbidden" => ErrorKind::Forbidden,
            "review.invalid_transition" => ErrorKind::Conflict,
            c if c.starts_with("review.invalid_") => ErrorKind::Invalid,
            other => panic!("{other} is not a documented code"),
        };
        assert_eq!(error.kind(), said, "{code}");
        assert!(!error.to_string().is_empty());
    }
}

//! The actor host against a real Postgres: restarts after panics, passivation, races between
//! instances, idempotent command ids.

use std::time::Duration;

use agora_kernel::{CommandId, Decider, DomainError, ErrorKind, Principal};
use agora_nats::{CommandEnvelope, RequestContext};
use agora_runtime::{AggregateHost, EventStore, HostConfig};
use agora_testkit::{eventually, TestDb};
use serde::{Deserialize, Serialize};

/// A minimal aggregate for exercising the runtime.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Counter {
    total: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum CounterCommand {
    Add(i64),
    Panic,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum CounterEvent {
    Added(i64),
}

#[derive(Debug, thiserror::Error)]
#[error("negative")]
struct Negative;

impl DomainError for Negative {
    fn code(&self) -> &'static str {
        "counter.negative"
    }
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

impl Decider for Counter {
    const TYPE: &'static str = "counter";
    type Command = CounterCommand;
    type Event = CounterEvent;
    type Error = Negative;
    type View = i64;

    fn decide(
        &self,
        _: &str,
        command: &CounterCommand,
        _: &Principal,
    ) -> Result<Vec<CounterEvent>, Negative> {
        match command {
            CounterCommand::Add(n) if *n < 0 => Err(Negative),
            CounterCommand::Add(n) => Ok(vec![CounterEvent::Added(*n)]),
            CounterCommand::Panic => panic!("a bug in decide"),
        }
    }
    fn evolve(&mut self, event: &CounterEvent) {
        let CounterEvent::Added(n) = event;
        self.total += n;
    }
    /// Everyone may read a counter but a guest without the owner's token.
    fn authorize_read(&self, by: &Principal) -> Result<(), Negative> {
        match by {
            Principal::Guest { token_sha256 } if token_sha256 != "owner" => Err(Negative),
            _ => Ok(()),
        }
    }
    fn view(&self, _: &str, _: u64) -> i64 {
        self.total
    }
    fn event_type(_: &CounterEvent) -> &'static str {
        "Added"
    }
}

impl cqrs_es::DomainEvent for CounterEvent {
    fn event_type(&self) -> String {
        "Added".into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

impl cqrs_es::Aggregate for Counter {
    const TYPE: &'static str = "counter";
    type Command = CounterCommand;
    type Event = CounterEvent;
    type Error = Negative;
    type Services = ();
    async fn handle(
        &mut self,
        _: CounterCommand,
        _: &(),
        _: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Negative> {
        Ok(())
    }
    fn apply(&mut self, event: CounterEvent) {
        self.evolve(&event);
    }
}

async fn store() -> (TestDb, EventStore) {
    let db = TestDb::create().await.expect("db");
    let pool = sqlx::PgPool::connect(&db.url()).await.expect("pool");
    agora_runtime::MIGRATOR.run(&pool).await.expect("migrate");
    (db, EventStore::new(pool))
}

fn envelope(
    id: &str,
    command_id: CommandId,
    command: CounterCommand,
) -> CommandEnvelope<CounterCommand> {
    CommandEnvelope {
        aggregate_id: id.into(),
        command_id,
        principal: Principal::system("test"),
        command,
    }
}

fn ctx() -> RequestContext {
    RequestContext::new(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_actor_is_replaced_and_the_host_lives_on() {
    let (_db, store) = store().await;
    let host = AggregateHost::<Counter>::start(store, HostConfig::default())
        .await
        .expect("host");
    let ok = host
        .execute(
            envelope("c1", CommandId::new_random(), CounterCommand::Add(2)),
            ctx(),
        )
        .await
        .expect("add");
    assert_eq!(ok.view, 2);
    let err = host
        .execute(
            envelope("c1", CommandId::new_random(), CounterCommand::Panic),
            ctx(),
        )
        .await
        .expect_err("panics");
    assert_eq!(err.kind, ErrorKind::Internal);
    // The next command runs on a fresh actor that reloaded the stream.
    let ok = host
        .execute(
            envelope("c1", CommandId::new_random(), CounterCommand::Add(3)),
            ctx(),
        )
        .await
        .expect("add");
    assert_eq!((ok.view, ok.version), (5, 2));
    // Domain errors are replies, not failures.
    let err = host
        .execute(
            envelope("c1", CommandId::new_random(), CounterCommand::Add(-1)),
            ctx(),
        )
        .await
        .expect_err("rejected");
    assert_eq!(err.code, "counter.negative");
    // A batch that recorded nothing left the live state as it was.
    let ok = host
        .execute(
            envelope("c1", CommandId::new_random(), CounterCommand::Add(4)),
            ctx(),
        )
        .await
        .expect("add");
    assert_eq!((ok.view, ok.version), (9, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_actors_are_passivated_and_reload_on_the_next_command() {
    let (_db, store) = store().await;
    let config = HostConfig {
        idle_after: Duration::from_millis(100),
        ..HostConfig::default()
    };
    let host = AggregateHost::<Counter>::start(store, config)
        .await
        .expect("host");
    for i in 0..20 {
        host.execute(
            envelope(
                &format!("c{i}"),
                CommandId::new_random(),
                CounterCommand::Add(1),
            ),
            ctx(),
        )
        .await
        .expect("add");
    }
    assert!(host.live_actors() > 0);
    eventually(Duration::from_secs(10), || async {
        (host.live_actors() == 0).then_some(())
    })
    .await
    .expect("passivated");
    let ok = host
        .execute(
            envelope("c3", CommandId::new_random(), CounterCommand::Add(1)),
            ctx(),
        )
        .await
        .expect("add");
    assert_eq!((ok.view, ok.version), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_racing_on_one_stream_lose_nothing_and_never_repeat_a_command() {
    let (_db, store) = store().await;
    let a = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    let b = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    let ids: Vec<CommandId> = (0..40).map(|_| CommandId::new_random()).collect();
    // Every command is sent to both hosts at once: each must apply exactly once.
    let runs = ids.iter().flat_map(|id| {
        [
            a.execute(envelope("hot", *id, CounterCommand::Add(1)), ctx()),
            b.execute(envelope("hot", *id, CounterCommand::Add(1)), ctx()),
        ]
    });
    let results = futures::future::join_all(runs).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let events = store.load::<Counter>("hot").await.expect("load");
    assert_eq!(events.len(), 40);
    assert!(agora_kernel::verify_chain(&events).intact);
    let duplicates = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.duplicate))
        .count();
    assert_eq!(
        duplicates, 40,
        "each command's second delivery was recognised"
    );
    // A retry after everything settled returns the first outcome.
    let again = a
        .execute(envelope("hot", ids[0], CounterCommand::Add(1)), ctx())
        .await
        .expect("retry");
    assert!(again.duplicate);
    let first = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .find(|r| !r.duplicate && r.version == again.version);
    assert!(first.is_some_and(|f| f.view == again.view));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_queued_behind_a_commit_share_the_next_transaction() {
    let (_db, store) = store().await;
    let host = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    let runs = (0..200).map(|_| {
        host.execute(
            envelope("hot", CommandId::new_random(), CounterCommand::Add(1)),
            ctx(),
        )
    });
    let results = futures::future::join_all(runs).await;
    assert!(results.iter().all(Result::is_ok));
    let versions: std::collections::HashSet<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.version)
        .collect();
    assert_eq!(versions.len(), 200, "every command got its own version");
    // Rows inserted by one transaction share its xmin.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE aggregate_id = 'hot'",
    )
    .fetch_one(store.pool())
    .await
    .expect("count");
    assert!(
        transactions < 100,
        "200 commands took {transactions} transactions"
    );
    let events = store.load::<Counter>("hot").await.expect("load");
    assert_eq!(events.len(), 200);
    assert!(agora_kernel::verify_chain(&events).intact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_sees_what_another_instance_wrote() {
    let (_db, store) = store().await;
    let a = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    let b = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    b.execute(
        envelope("shared", CommandId::new_random(), CounterCommand::Add(1)),
        ctx(),
    )
    .await
    .expect("add");
    // `b` holds the aggregate in memory at version 1; `a` now writes twice more.
    for _ in 0..2 {
        a.execute(
            envelope("shared", CommandId::new_random(), CounterCommand::Add(10)),
            ctx(),
        )
        .await
        .expect("add");
    }
    let seen = b
        .read("shared", Principal::system("test"), &ctx())
        .await
        .expect("read");
    assert_eq!(seen, 21);
    // And `b`'s next command builds on the fresh state without a conflict round.
    let next = b
        .execute(
            envelope("shared", CommandId::new_random(), CounterCommand::Add(1)),
            ctx(),
        )
        .await
        .expect("add");
    assert_eq!((next.view, next.version), (22, 4));
}

/// Found under the 1,000-checkout rush: a command whose caller's deadline passed while it
/// waited in the mailbox used to be dropped without a reply, which the host took for a failed
/// actor (500 `internal`, and the healthy actor forgotten while it lived on). It is a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_past_its_deadline_is_a_timeout_not_a_failure() {
    let (_db, store) = store().await;
    let host = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    host.execute(
        envelope("late", CommandId::new_random(), CounterCommand::Add(1)),
        ctx(),
    )
    .await
    .expect("add");
    assert_eq!(host.live_actors(), 1);
    let mut late = ctx();
    late.deadline_ms = late.deadline_ms.saturating_sub(60_000);
    let err = host
        .execute(
            envelope("late", CommandId::new_random(), CounterCommand::Add(5)),
            late,
        )
        .await
        .expect_err("too late");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Unavailable, "service.timeout")
    );
    // Nothing ran, and the actor was kept.
    assert_eq!(host.live_actors(), 1);
    let ok = host
        .execute(
            envelope("late", CommandId::new_random(), CounterCommand::Add(2)),
            ctx(),
        )
        .await
        .expect("add");
    assert_eq!((ok.view, ok.version), (3, 2));
}

/// An aggregate whose full view grows with its history while its command view does not, like
/// a hot SKU's open reservations: which one each reply carries is the host's choice.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Tally {
    entries: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Tallied(i64);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TallyView {
    count: usize,
    /// Listed by reads only.
    entries: Vec<i64>,
}

impl Decider for Tally {
    const TYPE: &'static str = "tally";
    type Command = i64;
    type Event = Tallied;
    type Error = Negative;
    type View = TallyView;

    fn decide(&self, _: &str, n: &i64, _: &Principal) -> Result<Vec<Tallied>, Negative> {
        Ok(vec![Tallied(*n)])
    }
    fn evolve(&mut self, Tallied(n): &Tallied) {
        self.entries.push(*n);
    }
    fn authorize_read(&self, _: &Principal) -> Result<(), Negative> {
        Ok(())
    }
    fn view(&self, _: &str, _: u64) -> TallyView {
        TallyView {
            count: self.entries.len(),
            entries: self.entries.clone(),
        }
    }
    fn command_view(&self, _: &str, _: u64) -> TallyView {
        TallyView {
            count: self.entries.len(),
            entries: vec![],
        }
    }
    fn event_type(_: &Tallied) -> &'static str {
        "Tallied"
    }
}

agora_kernel::cqrs_aggregate!(Tally, Tallied);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reply_with_the_command_view_and_reads_with_the_full_view() {
    let (_db, store) = store().await;
    let host = AggregateHost::<Tally>::start(store, HostConfig::default())
        .await
        .expect("host");
    let tally = |command_id, n| CommandEnvelope {
        aggregate_id: "t1".into(),
        command_id,
        principal: Principal::system("test"),
        command: n,
    };
    let first = CommandId::new_random();
    let ok = host.execute(tally(first, 1), ctx()).await.expect("first");
    let summary = |count| TallyView {
        count,
        entries: vec![],
    };
    assert_eq!((ok.view, ok.version), (summary(1), 1));
    let second = CommandId::new_random();
    let ok = host.execute(tally(second, 2), ctx()).await.expect("second");
    assert_eq!((ok.view, ok.version), (summary(2), 2));
    // A repeated command replies as its first run did, whether it was the latest command or
    // an older one (whose view is folded again from the store).
    for (command_id, version) in [(second, 2u64), (first, 1)] {
        let again = host
            .execute(tally(command_id, 9), ctx())
            .await
            .expect("again");
        assert!(again.duplicate);
        assert_eq!(
            (again.view, again.version),
            (summary(version as usize), version)
        );
    }
    let read = host
        .read("t1", Principal::system("test"), &ctx())
        .await
        .expect("read");
    assert_eq!(
        read,
        TallyView {
            count: 2,
            entries: vec![1, 2],
        }
    );
}

fn as_principal(
    principal: Principal,
    command_id: CommandId,
    n: i64,
) -> CommandEnvelope<CounterCommand> {
    CommandEnvelope {
        principal,
        ..envelope("shared", command_id, CounterCommand::Add(n))
    }
}

fn customer(n: u128) -> Principal {
    Principal::Customer {
        id: agora_kernel::CustomerId::from_uuid(uuid::Uuid::from_u128(n)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_id_replayed_by_another_caller_reveals_nothing() {
    let (_db, store) = store().await;
    let host = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    let id = CommandId::new_random();
    let first = host
        .execute(as_principal(customer(1), id, 5), ctx())
        .await
        .expect("first");
    assert!(!first.duplicate);
    let stranger = |host: AggregateHost<Counter>, who: Principal| async move {
        host.execute(as_principal(who, id, 7), ctx()).await
    };
    for who in [
        customer(2),
        Principal::Staff {
            id: "v".into(),
            role: "vendor".into(),
        },
        Principal::system("saga"),
        Principal::Guest {
            token_sha256: "owner".into(),
        },
    ] {
        let e = stranger(host.clone(), who.clone())
            .await
            .expect_err("another caller's duplicate is refused");
        assert_eq!(
            (e.code.as_str(), e.kind),
            ("command.id_reused", ErrorKind::Conflict),
            "{who:?}"
        );
    }
    // The first caller still gets its answer, also from a fresh host that reloads the stream
    // (the caller comes from the events' metadata).
    let again = host
        .execute(as_principal(customer(1), id, 7), ctx())
        .await
        .expect("same caller");
    assert!(again.duplicate);
    assert_eq!(again.view, 5);
    drop(host);
    let fresh = AggregateHost::<Counter>::start(store, HostConfig::default())
        .await
        .expect("host");
    let e = stranger(fresh.clone(), customer(2))
        .await
        .expect_err("refused after reload");
    assert_eq!(e.code, "command.id_reused");
    assert!(
        fresh
            .execute(as_principal(customer(1), id, 7), ctx())
            .await
            .expect("same caller after reload")
            .duplicate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_is_answered_only_with_what_its_caller_may_read() {
    let (_db, store) = store().await;
    let host = AggregateHost::<Counter>::start(store, HostConfig::default())
        .await
        .expect("host");
    let owner = Principal::Guest {
        token_sha256: "owner".into(),
    };
    let other_guest = Principal::Guest {
        token_sha256: "someone-else".into(),
    };
    let id = CommandId::new_random();
    host.execute(as_principal(owner.clone(), id, 3), ctx())
        .await
        .expect("first");
    // Guests all look alike in metadata (their tokens are never recorded): the aggregate's own
    // read rule decides what a guest's duplicate may see.
    let e = host
        .execute(as_principal(other_guest, id, 3), ctx())
        .await
        .expect_err("a guest without the token learns nothing");
    assert_eq!(e.code, "counter.negative");
    let again = host
        .execute(as_principal(owner, id, 3), ctx())
        .await
        .expect("the owner");
    assert!(again.duplicate);
    assert_eq!(again.view, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_is_one_caller_whatever_part_of_it_repeats_a_command() {
    let (_db, store) = store().await;
    let host = AggregateHost::<Counter>::start(store, HostConfig::default())
        .await
        .expect("host");
    let id = CommandId::new_random();
    host.execute(
        as_principal(Principal::system("stripe-webhook"), id, 4),
        ctx(),
    )
    .await
    .expect("webhook");
    let again = host
        .execute(as_principal(Principal::system("checkout"), id, 4), ctx())
        .await
        .expect("the saga's repeat is a duplicate");
    assert!(again.duplicate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_command_is_decided_on_an_empty_aggregate_only_when_the_stream_is_new() {
    // A fresh actor decides a creating command without reading the stream; the append proves
    // the stream new. On a stream that has events, the append conflicts and the command is
    // decided again on the stored aggregate: a repeated command id is recognised, a new one
    // lands after the stored events, never over them.
    let (_db, store) = store().await;
    let first = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    let id = CommandId::new_random();
    let created = first
        .execute(envelope("blind", id, CounterCommand::Add(5)), ctx())
        .await
        .expect("create");
    assert_eq!(
        (created.view, created.version, created.duplicate),
        (5, 1, false)
    );

    let fresh = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    let repeated = fresh
        .execute(envelope("blind", id, CounterCommand::Add(5)), ctx())
        .await
        .expect("repeat");
    assert!(repeated.duplicate);
    assert_eq!((repeated.view, repeated.version), (5, 1));

    let other = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    let added = other
        .execute(
            envelope("blind", CommandId::new_random(), CounterCommand::Add(2)),
            ctx(),
        )
        .await
        .expect("add");
    assert_eq!((added.view, added.version, added.duplicate), (7, 2, false));
    // A refused first command writes nothing and is refused on the stored aggregate.
    let refused = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host")
        .execute(
            envelope("blind", CommandId::new_random(), CounterCommand::Add(-1)),
            ctx(),
        )
        .await;
    assert_eq!(
        refused.err().map(|e| e.code),
        Some("counter.negative".into())
    );

    let events = store.load::<Counter>("blind").await.expect("load");
    assert_eq!(events.len(), 2);
    assert!(agora_kernel::verify_chain(&events).intact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_book_folds_what_any_host_committed_and_catches_up_on_every_use() {
    let (db, store) = store().await;
    let a = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("host");
    for n in 1..=3 {
        a.execute(
            envelope("book", CommandId::new_random(), CounterCommand::Add(n)),
            ctx(),
        )
        .await
        .expect("add");
    }
    let pool = sqlx::PgPool::connect(&db.url()).await.expect("pool");
    let book = agora_runtime::StreamBook::<Counter>::new(pool, 100);
    let first = book.current(&["book", "empty"]).await.expect("fold");
    assert_eq!((first["book"].state.total, first["book"].version), (6, 3));
    assert_eq!(first["empty"].version, 0, "a stream without events");

    // Another host (another process, as it were) commits more: the next use sees it.
    let b = AggregateHost::<Counter>::start(store.clone(), HostConfig::default())
        .await
        .expect("second host");
    b.execute(
        envelope("book", CommandId::new_random(), CounterCommand::Add(10)),
        ctx(),
    )
    .await
    .expect("add on the other host");
    let again = book.current(&["book"]).await.expect("catch up");
    assert_eq!((again["book"].state.total, again["book"].version), (16, 4));
    // Nothing new: the same state, without folding anything twice.
    let same = book.current(&["book"]).await.expect("again");
    assert_eq!((same["book"].state.total, same["book"].version), (16, 4));
}

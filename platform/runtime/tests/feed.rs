//! The feed against a real Postgres and NATS server. The relay stops publishing when it loses
//! its lock, a standby takes over, and a row that cannot be published is set aside. The
//! reactors' consumer loop settles each event alone, parks one that keeps failing, and replays
//! it on request.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_runtime::parked::{self, ReplayError, Retry};

use agora_nats::subjects;
use agora_testkit::{eventually, TestDb, TestNats};
use async_nats::jetstream;
use sqlx::{Connection, PgPool};
use tokio::sync::oneshot;

/// The relay's advisory-lock key (see `feed.rs`).
const RELAY_LOCK: i64 = 0x4147_4f52_4101;
const WAIT: Duration = Duration::from_secs(20);

struct Setup {
    _db: TestDb,
    _nats: TestNats,
    db_url: String,
    pool: PgPool,
    client: async_nats::Client,
}

async fn setup() -> anyhow::Result<Setup> {
    let db = TestDb::create().await?;
    let nats = TestNats::start()?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&db.url())
        .await?;
    agora_runtime::MIGRATOR.run(&pool).await?;
    let client = async_nats::connect(nats.url()).await?;
    Ok(Setup {
        db_url: db.url(),
        _db: db,
        _nats: nats,
        pool,
        client,
    })
}

/// A relay running until the returned sender is dropped or fired.
fn start_relay(
    s: &Setup,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(agora_runtime::feed::run_relay(
        s.pool.clone(),
        s.client.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    (stop, task)
}

/// Commits an event the way the store does as far as the feed cares: the trigger adds its
/// outbox row.
async fn commit(pool: &PgPool, id: &str, sequence: i64, payload: serde_json::Value) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('counter', $1, $2, 'Added', '1.0', $3, '{}')",
    )
    .bind(id)
    .bind(sequence)
    .bind(sqlx::types::Json(payload))
    .execute(pool)
    .await
    .expect("insert event");
}

async fn outbox_len(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM event_outbox")
        .fetch_one(pool)
        .await
        .expect("count outbox")
}

/// The feed subjects JetStream holds, in stream order.
async fn published(client: &async_nats::Client) -> Vec<String> {
    let js = jetstream::new(client.clone());
    let mut stream = js
        .get_stream(subjects::EVENT_STREAM)
        .await
        .expect("feed stream");
    let last = stream
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut subjects = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            subjects.push(m.subject.to_string());
        }
    }
    subjects
}

/// The backend holding the relay lock in this test's database, if any (other databases on the
/// server have relays of their own).
async fn lock_holder(pool: &PgPool) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND ((classid::bigint << 32) | objid::bigint) = $1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(RELAY_LOCK)
    .fetch_optional(pool)
    .await
    .expect("read pg_locks")
}

#[tokio::test]
async fn a_relay_whose_lock_connection_dies_stops_publishing_and_a_standby_takes_over(
) -> anyhow::Result<()> {
    let s = setup().await?;
    let (stop_a, relay_a) = start_relay(&s);
    commit(&s.pool, "a", 1, serde_json::json!({"Added": 1})).await;
    eventually(WAIT, || async {
        (outbox_len(&s.pool).await == 0).then_some(())
    })
    .await?;
    let holder = lock_holder(&s.pool).await.expect("relay A holds the lock");

    // Relay A's lock connection dies (as on a network cut or a Postgres restart of that
    // backend). Another session takes the lock at once, standing for a standby that won the
    // election and now publishes: from here on, A must not publish a single row.
    let mut other = sqlx::PgConnection::connect(&s.db_url).await?;
    // It queues for the lock first, so the moment A's backend is gone the lock is granted to
    // it: A, reconnecting, finds it taken.
    let waiter = tokio::spawn(async move {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(RELAY_LOCK)
            .execute(&mut other)
            .await
            .map(|_| other)
    });
    eventually(WAIT, || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
               AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(RELAY_LOCK)
        .fetch_one(&s.pool)
        .await
        .ok()?;
        (waiting == 1).then_some(())
    })
    .await?;
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(holder)
        .fetch_one(&s.pool)
        .await?;
    assert!(terminated);
    let mut other = tokio::time::timeout(WAIT, waiter).await???;
    // A second relay stands by meanwhile.
    let (stop_b, relay_b) = start_relay(&s);

    commit(&s.pool, "a", 2, serde_json::json!({"Added": 2})).await;
    // Proving that nothing is published needs a wait: twenty relay polls (100 ms each).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        outbox_len(&s.pool).await,
        1,
        "a relay published without holding the lock"
    );
    assert_eq!(published(&s.client).await, vec!["agora.evt.counter.a"]);

    // A stops for good; when the lock is free again, the standby B takes over and publishes.
    let _ = stop_a.send(());
    relay_a.await??;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(RELAY_LOCK)
        .execute(&mut other)
        .await?;
    eventually(WAIT, || async {
        (outbox_len(&s.pool).await == 0).then_some(())
    })
    .await?;
    assert_eq!(
        published(&s.client).await,
        vec!["agora.evt.counter.a", "agora.evt.counter.a"]
    );
    assert!(lock_holder(&s.pool).await.is_some(), "B holds the lock");
    let _ = stop_b.send(());
    relay_b.await??;
    Ok(())
}

#[tokio::test]
async fn a_row_that_cannot_be_published_is_set_aside_and_the_rows_behind_it_are_published(
) -> anyhow::Result<()> {
    let s = setup().await?;
    let (stop, relay) = start_relay(&s);
    let max_payload = s.client.server_info().max_payload;
    commit(&s.pool, "good", 1, serde_json::json!({"Added": 1})).await;
    // Bigger than anything the server accepts in one message.
    let huge = "x".repeat(max_payload + 1);
    commit(&s.pool, "huge", 1, serde_json::json!({ "note": huge })).await;
    // An id that is no subject token (the store does not check; the subject grammar does).
    commit(&s.pool, "not a token", 1, serde_json::json!({"Added": 1})).await;
    commit(&s.pool, "good", 2, serde_json::json!({"Added": 2})).await;

    eventually(WAIT, || async {
        (outbox_len(&s.pool).await == 0).then_some(())
    })
    .await?;
    assert_eq!(
        published(&s.client).await,
        vec!["agora.evt.counter.good", "agora.evt.counter.good"]
    );
    let dead: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, error FROM feed_dead_letters ORDER BY outbox_id",
    )
    .fetch_all(&s.pool)
    .await?;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!((dead[0].0.as_str(), dead[0].1), ("huge", 1));
    assert!(dead[0].2.contains("max payload"), "{}", dead[0].2);
    assert_eq!((dead[1].0.as_str(), dead[1].1), ("not a token", 1));
    let _ = stop.send(());
    relay.await??;
    Ok(())
}

#[tokio::test]
async fn a_reactor_parks_an_event_that_keeps_failing_handles_the_others_and_replays_it_on_request(
) -> anyhow::Result<()> {
    let s = setup().await?;
    let (stop_relay, relay) = start_relay(&s);
    let cured = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(Mutex::new(BTreeSet::new()));
    let handle = {
        let (cured, handled) = (cured.clone(), handled.clone());
        move |event: agora_kernel::RecordedEvent, _delivered: u64| {
            let (cured, handled) = (cured.clone(), handled.clone());
            async move {
                if event.aggregate_id == "poison" && !cured.load(Ordering::SeqCst) {
                    return Err("the handler chokes on this event");
                }
                handled.lock().expect("lock").insert(event.msg_id());
                Ok(())
            }
        }
    };
    let subscription = agora_runtime::feed::Subscription {
        name: "test_reactor",
        aggregate_types: &["counter"],
        concurrency: 4,
        max_ack_pending: 100,
        retry: Retry {
            max_deliver: 3,
            step: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        },
        pool: s.pool.clone(),
    };
    let js = jetstream::new(s.client.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let reactor = tokio::spawn(async move {
        agora_runtime::feed::consume(&js, subscription, handle, async move {
            let _ = stopped.await;
        })
        .await
    });
    commit(&s.pool, "good", 1, serde_json::json!({"Added": 1})).await;
    commit(&s.pool, "poison", 1, serde_json::json!({"Added": 2})).await;
    commit(&s.pool, "good", 2, serde_json::json!({"Added": 3})).await;

    let parked = eventually(WAIT, || async {
        let (_, items) = parked::list_parked(&s.pool, 10, 0).await.ok()?;
        (items.len() == 1).then(|| items[0].clone())
    })
    .await?;
    assert_eq!(
        (
            parked.consumer.as_str(),
            parked.aggregate_type.as_str(),
            parked.aggregate_id.as_str(),
            parked.sequence,
            parked.event_type.as_str(),
            parked.deliveries
        ),
        ("test_reactor", "counter", "poison", 1, "Added", 3)
    );
    assert!(parked.stream_seq > 0);
    assert_eq!(parked.error, "the handler chokes on this event");
    let expected: BTreeSet<String> = ["counter/good/1", "counter/good/2"]
        .map(String::from)
        .into();
    assert_eq!(*handled.lock().expect("lock"), expected);

    // A replay runs the same handler: still failing, the event stays parked.
    let again = parked::replay_parked(&s.pool, &s.client, parked.id).await;
    assert!(matches!(again, Err(ReplayError::Failed(_))), "{again:?}");
    assert_eq!(parked::list_parked(&s.pool, 10, 0).await?.0, 1);

    // Fixed: the replay delivers it and the parked row goes.
    cured.store(true, Ordering::SeqCst);
    parked::replay_parked(&s.pool, &s.client, parked.id).await?;
    assert!(handled.lock().expect("lock").contains("counter/poison/1"));
    assert_eq!(parked::list_parked(&s.pool, 10, 0).await?.0, 0);
    let gone = parked::replay_parked(&s.pool, &s.client, parked.id).await;
    assert!(matches!(gone, Err(ReplayError::NotFound(_))), "{gone:?}");

    let _ = stop.send(());
    reactor.await??;
    let _ = stop_relay.send(());
    relay.await??;
    Ok(())
}

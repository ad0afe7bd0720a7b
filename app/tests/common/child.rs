//! The `agora all` binary as a child process, for tests that kill it (`kill -9` or an injected
//! fault) and start it again on the same database and NATS server.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agora_testkit::{eventually, TestDb, TestNats};

use super::ADMIN;

pub struct Agora {
    pub child: Child,
    pub base: String,
}

/// Starts `agora all` on `port`, with `AGORA_FAULT_CRASH_AFTER` set to `crash_after` when given
/// and the extra environment `env`.
pub fn spawn_agora(
    nats: &TestNats,
    db: &TestDb,
    port: u16,
    crash_after: Option<&str>,
    env: &[(&str, &str)],
) -> Agora {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command.envs(env.iter().copied());
    command
        .arg("all")
        .env("AGORA_DATABASE_URL", db.url())
        .env("AGORA_NATS_URL", nats.url())
        .env("AGORA_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("AGORA_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(step) = crash_after {
        command.env("AGORA_FAULT_CRASH_AFTER", step);
    }
    Agora {
        child: command.spawn().expect("spawn agora"),
        base: format!("http://127.0.0.1:{port}"),
    }
}

impl Drop for Agora {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn ready(http: &reqwest::Client, base: &str) {
    eventually(Duration::from_secs(60), || async {
        let r = http.get(format!("{base}/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .expect("agora became ready");
}

/// Waits for the process to die on its own (the injected fault), or fails.
pub fn died(agora: &mut Agora, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = agora.child.try_wait() {
            return !status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

//! Notifications end to end, through real protocols: a real SMTP server on loopback (Python's
//! aiosmtpd, started by the test, recording every message it accepts) and a local HTTP server
//! shaped like Twilio's Messages API.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora::Roles;
use agora_notifications::render::format_money;
use agora_order::OrderCommand;
use agora_testkit::{eventually, free_port};
use common::shop::{self, cart, checkout_ok, settled};
use common::{spawn_app_with, system_command, until_sql, TestApp, ADMIN};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// A real SMTP server: aiosmtpd, installed like nats-server into .agora/tools.

const SINK: &str = r#"
import email, itertools, json, os, sys, threading
from email import policy
from aiosmtpd.controller import Controller

port, out = int(sys.argv[1]), sys.argv[2]
counter = itertools.count()

class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "message_id": str(msg["message-id"]),
            "subject": str(msg["subject"]),
            "text": plain.get_content() if plain else "",
            "html": html.get_content() if html else "",
        }
        path = os.path.join(out, "%d-%06d.json" % (os.getpid(), next(counter)))
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"

controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

fn tools_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.agora/tools")
}

/// Makes sure aiosmtpd is importable from .agora/tools (installs it from PyPI the first time).
/// The tests of this binary run at once; one of them installs while the others wait, since
/// concurrent `pip install --target` into one folder trip over each other on a fresh clone.
fn ensure_aiosmtpd() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install_aiosmtpd);
}

fn install_aiosmtpd() {
    let tools = tools_dir();
    let importable = |tools: &PathBuf| {
        Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .env("PYTHONPATH", tools)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if importable(&tools) {
        return;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&tools)
        .arg("aiosmtpd==1.4.6")
        .status()
        .expect("run pip");
    assert!(
        status.success() && importable(&tools),
        "could not install aiosmtpd"
    );
}

/// One received message, as the SMTP server decoded it.
#[derive(Debug, Clone, serde::Deserialize)]
struct Mail {
    rcpt_tos: Vec<String>,
    message_id: String,
    subject: String,
    text: String,
    html: String,
}

struct SmtpServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    fn new() -> SmtpServer {
        ensure_aiosmtpd();
        SmtpServer {
            child: None,
            port: free_port().expect("port"),
            dir: tempfile::tempdir().expect("dir"),
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts (or restarts) the server on its port; returns once it accepts connections.
    fn start(&mut self) {
        let script = self.dir.path().join("sink.py");
        std::fs::write(&script, SINK).expect("write sink");
        let mail_dir = self.dir.path().join("mail");
        std::fs::create_dir_all(&mail_dir).expect("mail dir");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(self.port.to_string())
            .arg(&mail_dir)
            .env("PYTHONPATH", tools_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn messages(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail")) else {
            return vec![];
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("mail json"))
            .collect()
    }

    /// Waits until at least `n` messages arrived, and returns them all. Up to a minute: a feed
    /// message delivered to a notifier that was killed comes back only after the consumer's
    /// 30-s `ack_wait`, and a killed notifier may have taken the order's events with it.
    async fn until(&self, n: usize) -> Vec<Mail> {
        eventually(Duration::from_secs(60), || async {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
        .await
        .unwrap_or_else(|_| panic!("{n} message(s) did not arrive: {:?}", self.messages()))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------

/// Every role but the notifier in the app; the notifier runs as its own "process" so a test
/// can stop and restart it.
fn without_notifier() -> Roles {
    let mut roles = Roles::all();
    roles.services.retain(|s| s != "notifier");
    roles
}

async fn start_notifier(app: &mut TestApp) {
    app.also_start(Roles {
        services: vec!["notifier".into()],
        ..Roles::default()
    })
    .await;
}

async fn stop_notifier(app: &mut TestApp) {
    app.others
        .pop()
        .expect("a notifier")
        .stop()
        .await
        .expect("stop");
}

async fn sell(app: &TestApp, sku: &str, price: i64, stock: i64) -> String {
    let id = shop::product(&app.http, &app.base, &[(sku, price)], stock).await;
    shop::until_for_sale(&app.pool, &[sku]).await;
    id
}

/// Waits until the notifier's consumer has acknowledged everything the feed holds.
async fn notifier_caught_up(app: &TestApp) {
    let js = async_nats::jetstream::new(async_nats::connect(app.nats.url()).await.expect("nats"));
    eventually(Duration::from_secs(30), || async {
        let stream = js.get_stream("AGORA_EVENTS").await.ok()?;
        let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM event_outbox")
            .fetch_one(&app.pool)
            .await
            .ok()?;
        let info = stream.consumer_info("notifier").await.ok()?;
        (outbox == 0 && info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    })
    .await
    .expect("the notifier caught up with the feed");
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

async fn admin_notifications(app: &TestApp, query: &str) -> Value {
    let r = app
        .http
        .get(format!("{}/admin/notifications?{query}", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_confirmation_arrives_once_with_its_lines_and_totals_even_when_the_feed_redelivers(
) {
    let mut smtp = SmtpServer::new();
    smtp.start();
    let url = smtp.url();
    let mut app = spawn_app_with(without_notifier(), |c| {
        c.notify.smtp_url = Some(url);
        c.notify.shop_name = "Agora Outfitters".into();
        c.notify.shop_url = "https://shop.example".into();
        c.notify.mail_from = "Agora Outfitters <orders@shop.example>".into();
    })
    .await;
    start_notifier(&mut app).await;
    sell(&app, "MAIL-TEE", 2_000, 10).await;
    sell(&app, "MAIL-SOCK", 350, 10).await;
    let bus = app.bus().await;

    let c = cart(&app.http, &app.base, &[("MAIL-TEE", 2), ("MAIL-SOCK", 3)]).await;
    // The notifier stops mid-way: the order is placed and confirmed while it is down.
    stop_notifier(&mut app).await;
    let order_id = checkout_ok(&app.http, &app.base, &c, "mail-1", "pm_card_visa").await;
    let order = settled(&bus, &order_id, Duration::from_secs(60)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    start_notifier(&mut app).await;

    let mails = smtp.until(1).await;
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, vec!["ada@example.com".to_string()]);
    assert_eq!(
        mail.subject,
        format!(
            "Order confirmation {} · Agora Outfitters",
            order_id[..8].to_uppercase()
        )
    );
    let money = |v: &Value| {
        format_money(serde_json::from_value(v.clone()).expect("money in the order view"))
    };
    // 2 × 20.00 + 3 × 3.50 = 50.50, shipping 4.99, tax 19 % of 55.49 = 10.54, total 66.03.
    assert_eq!(money(&order["total"]), "66.03 EUR");
    for part in [&mail.text, &mail.html] {
        for expected in [
            order_id.clone(),
            "MAIL-TEE".into(),
            "MAIL-SOCK".into(),
            "20.00 EUR".into(),
            "40.00 EUR".into(),
            "3.50 EUR".into(),
            "10.50 EUR".into(),
            money(&order["subtotal"]),
            money(&order["shipping"]),
            money(&order["tax"]),
            money(&order["total"]),
            format!("https://shop.example/orders/{order_id}"),
        ] {
            assert!(part.contains(&expected), "{expected} missing from:\n{part}");
        }
    }
    assert!(mail.text.contains("Total: 66.03 EUR"), "{}", mail.text);
    // The server accepted the mail a moment before the notifier records it as sent.
    let id: uuid::Uuid = eventually(Duration::from_secs(30), || async {
        sqlx::query_scalar(
            "SELECT id FROM notifications WHERE kind = 'order_confirmed' AND status = 'sent'",
        )
        .fetch_optional(&app.pool)
        .await
        .ok()
        .flatten()
    })
    .await
    .expect("the notification is marked sent");
    assert_eq!(mail.message_id, format!("<{id}@shop.example>"));

    // The feed redelivers everything: the consumer is deleted and the notifier restarted, so
    // every order event arrives again. Nothing new is stored, nothing is sent again.
    stop_notifier(&mut app).await;
    let js = async_nats::jetstream::new(async_nats::connect(app.nats.url()).await.expect("nats"));
    js.get_stream("AGORA_EVENTS")
        .await
        .expect("stream")
        .delete_consumer("notifier")
        .await
        .expect("delete consumer");
    start_notifier(&mut app).await;
    notifier_caught_up(&app).await;
    // A second, concurrent notifier instance changes nothing either.
    start_notifier(&mut app).await;
    notifier_caught_up(&app).await;
    assert_eq!(count(&app, "SELECT count(*) FROM notifications").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM notifications WHERE status = 'sent'"
        )
        .await,
        1
    );
    assert_eq!(smtp.messages().len(), 1, "{:?}", smtp.messages());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smtp_down_is_retried_then_failed_and_a_staff_retry_delivers_once_when_it_is_back() {
    let mut smtp = SmtpServer::new();
    let url = smtp.url();
    let app = spawn_app_with(Roles::all(), |c| {
        c.notify.smtp_url = Some(url);
        c.notify.notify_max_attempts = 3;
        c.notify.notify_retry_base_ms = 200;
        c.notify.notify_retry_cap_ms = 400;
    })
    .await;
    sell(&app, "DOWN-TEE", 1_000, 10).await;
    let c = cart(&app.http, &app.base, &[("DOWN-TEE", 1)]).await;
    let order_id = checkout_ok(&app.http, &app.base, &c, "down-1", "pm_card_visa").await;

    // Nothing listens on the SMTP port: three attempts, then failed, with the reason.
    until_sql(
        &app.pool,
        "SELECT count(*) = 1 FROM notifications WHERE status = 'failed' AND attempts = 3",
        Duration::from_secs(60),
    )
    .await;
    let failed = admin_notifications(&app, "status=failed&kind=order_confirmed").await;
    assert_eq!(failed["total"], 1, "{failed}");
    let item = &failed["items"][0];
    assert_eq!(item["recipient"], "ada@example.com");
    assert!(
        item["last_error"].as_str().unwrap_or("").contains("smtp"),
        "{item}"
    );
    assert!(item["subject"]
        .as_str()
        .unwrap_or("")
        .contains(&order_id[..8].to_uppercase()));
    let id = item["id"].as_str().expect("id").to_string();
    assert_eq!(admin_notifications(&app, "status=sent").await["total"], 0);

    // Unknown ids and notifications that did not fail cannot be retried.
    let r = app
        .http
        .post(format!(
            "{}/admin/notifications/{}/retry",
            app.base,
            uuid::Uuid::nil()
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status(), 404);
    let r = app
        .http
        .post(format!("{}/admin/notifications/{id}/retry", app.base))
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status(), 401, "the back office needs credentials");

    // The server is back; staff retry; the message arrives once.
    smtp.start();
    let r = app
        .http
        .post(format!("{}/admin/notifications/{id}/retry", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let mails = smtp.until(1).await;
    until_sql(
        &app.pool,
        "SELECT count(*) = 1 FROM notifications WHERE status = 'sent'",
        Duration::from_secs(30),
    )
    .await;
    let r = app
        .http
        .post(format!("{}/admin/notifications/{id}/retry", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status(), 409, "a sent notification is not retried");
    assert_eq!(mails.len(), 1);
    assert_eq!(smtp.messages().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_back_in_stock_subscription_is_notified_once_then_cleared() {
    let mut smtp = SmtpServer::new();
    smtp.start();
    let url = smtp.url();
    let app = spawn_app_with(Roles::all(), |c| {
        c.notify.smtp_url = Some(url);
        c.notify.shop_url = "https://shop.example".into();
    })
    .await;
    let product = sell(&app, "BIS-TEE", 1_500, 0).await;
    let notify_me = |email: &'static str, sku: &'static str| {
        let http = app.http.clone();
        let url = format!("{}/store/products/{product}/notify-me", app.base);
        async move {
            http.post(url)
                .json(&json!({"sku": sku, "email": email}))
                .send()
                .await
                .expect("notify-me")
        }
    };
    let r = notify_me("Grace@Example.com", "BIS-TEE").await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.expect("json")["created"], true);
    let r = notify_me("grace@example.com", "BIS-TEE").await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.expect("json")["created"],
        false,
        "subscribing twice is one subscription"
    );
    assert_eq!(notify_me("not-an-email", "BIS-TEE").await.status(), 422);
    assert_eq!(notify_me("a@example.com", "OTHER-SKU").await.status(), 404);

    // Double opt-in: one confirmation mail, whose link confirms the address.
    let confirmation = smtp.until(1).await.remove(0);
    assert_eq!(confirmation.rcpt_tos, vec!["grace@example.com".to_string()]);
    let token = confirmation_token(&confirmation);
    let r = confirm(&app, &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json")["email"],
        "grace@example.com"
    );

    // Stock arrives: one message, and the subscription is gone.
    let receive = |quantity: i64| {
        let http = app.http.clone();
        let url = format!("{}/admin/inventory/BIS-TEE/receive", app.base);
        async move {
            let r = http
                .post(url)
                .bearer_auth(ADMIN)
                .json(&json!({"quantity": quantity}))
                .send()
                .await
                .expect("receive");
            assert!(r.status().is_success());
        }
    };
    receive(3).await;
    let mails = smtp.until(2).await;
    assert_eq!(mails[1].rcpt_tos, vec!["grace@example.com".to_string()]);
    assert!(
        mails[1].subject.contains("is back in stock"),
        "{}",
        mails[1].subject
    );
    assert!(mails[1]
        .html
        .contains(&format!("https://shop.example/products/{product}")));
    assert_eq!(
        count(&app, "SELECT count(*) FROM back_in_stock_subscriptions").await,
        0
    );
    // While it is in stock, nobody subscribes.
    assert_eq!(notify_me("late@example.com", "BIS-TEE").await.status(), 409);

    // Sold out and back again: nobody is subscribed any more, nothing is sent.
    let r = app
        .http
        .post(format!("{}/admin/inventory/BIS-TEE/adjust", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"delta": -3, "reason": "lost"}))
        .send()
        .await
        .expect("adjust");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    receive(2).await;
    notifier_caught_up(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM notifications WHERE kind = 'back_in_stock'"
        )
        .await,
        1
    );
    assert_eq!(smtp.messages().len(), 2);
    app.stop().await;
}

/// The token of a confirmation mail's link.
fn confirmation_token(mail: &Mail) -> String {
    assert!(
        mail.subject.contains("Confirm back-in-stock alerts"),
        "{}",
        mail.subject
    );
    let marker = "https://shop.example/notify-me/confirm?token=";
    let start = mail.text.find(marker).expect("a confirmation link") + marker.len();
    mail.text[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

async fn confirm(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/store/notify-me/confirm", app.base))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("confirm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unconfirmed_address_gets_one_confirmation_and_no_back_in_stock_mail() {
    let mut smtp = SmtpServer::new();
    smtp.start();
    let url = smtp.url();
    let app = spawn_app_with(Roles::all(), |c| {
        c.notify.smtp_url = Some(url);
        c.notify.shop_url = "https://shop.example".into();
    })
    .await;
    let tee = sell(&app, "OPT-TEE", 1_500, 0).await;
    let cap = sell(&app, "OPT-CAP", 900, 0).await;
    let notify_me = |product: String, sku: &'static str| {
        let http = app.http.clone();
        let url = format!("{}/store/products/{product}/notify-me", app.base);
        async move {
            let r = http
                .post(url)
                .json(&json!({"sku": sku, "email": "victim@example.com"}))
                .send()
                .await
                .expect("notify-me");
            assert_eq!(r.status(), 202);
            r.json::<Value>().await.expect("json")
        }
    };
    // Someone subscribes an address that is not theirs, twice, and to two products.
    let first = notify_me(tee.clone(), "OPT-TEE").await;
    assert_eq!(
        (first["created"].clone(), first["confirmed"].clone()),
        (json!(true), json!(false))
    );
    notify_me(tee.clone(), "OPT-TEE").await;
    notify_me(cap.clone(), "OPT-CAP").await;
    let mails = smtp.until(1).await;
    assert_eq!(mails[0].rcpt_tos, vec!["victim@example.com".to_string()]);
    let token = confirmation_token(&mails[0]);

    // Stock comes back while the address is unconfirmed: no back-in-stock mail.
    let r = app
        .http
        .post(format!("{}/admin/inventory/OPT-TEE/receive", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"quantity": 2}))
        .send()
        .await
        .expect("receive");
    assert!(r.status().is_success());
    notifier_caught_up(&app).await;
    // Whatever the notifier stored is sent by now; nothing may be a back-in-stock mail.
    until_sql(
        &app.pool,
        "SELECT count(*) = 0 FROM notifications WHERE status IN ('pending', 'sending')",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM notifications WHERE kind = 'back_in_stock'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM notifications WHERE kind = 'back_in_stock_confirmation'"
        )
        .await,
        1,
        "one pending confirmation per address, however often it is subscribed"
    );
    assert_eq!(smtp.messages().len(), 1);

    // A wrong token confirms nothing; the mailed one confirms the address.
    assert_eq!(confirm(&app, &"0".repeat(64)).await.status(), 404);
    assert_eq!(confirm(&app, &token).await.status(), 200);
    assert_eq!(
        confirm(&app, &token).await.status(),
        200,
        "confirming twice is one success"
    );
    let again = notify_me(cap.clone(), "OPT-CAP").await;
    assert_eq!(again["confirmed"], true);

    // The cap comes back: now the confirmed address hears about it.
    let r = app
        .http
        .post(format!("{}/admin/inventory/OPT-CAP/receive", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .expect("receive");
    assert!(r.status().is_success());
    let mails = smtp.until(2).await;
    assert!(
        mails[1].subject.contains("is back in stock"),
        "{}",
        mails[1].subject
    );
    assert_eq!(mails[1].rcpt_tos, vec!["victim@example.com".to_string()]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_me_is_rate_limited_per_client_across_products() {
    let app = spawn_app_with(Roles::all(), |c| {
        c.edge_security.auth_rate_per_minute = 1;
        c.edge_security.auth_rate_burst = 3;
    })
    .await;
    let tee = sell(&app, "RL-TEE", 1_500, 0).await;
    let cap = sell(&app, "RL-CAP", 900, 0).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for (i, (product, sku)) in [(&tee, "RL-TEE"), (&cap, "RL-CAP")]
        .into_iter()
        .cycle()
        .take(5)
        .enumerate()
    {
        let r = app
            .http
            .post(format!("{}/store/products/{product}/notify-me", app.base))
            .json(&json!({"sku": sku, "email": format!("someone{i}@example.com")}))
            .send()
            .await
            .expect("notify-me");
        if r.status() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![202, 202, 202, 429, 429]);
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
    assert_eq!(
        count(&app, "SELECT count(*) FROM notify_me_addresses").await,
        3
    );
    app.stop().await;
}

/// A stand-in for Twilio's Messages API: records each request's form and Authorization.
async fn twilio_stand_in() -> (
    String,
    Arc<Mutex<Vec<(String, String, Vec<(String, String)>)>>>,
) {
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    type Seen = Arc<Mutex<Vec<(String, String, Vec<(String, String)>)>>>;
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            axum::routing::post(
                |State(seen): State<Seen>,
                 Path(sid): Path<String>,
                 headers: HeaderMap,
                 axum::Form(form): axum::Form<Vec<(String, String)>>| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    seen.lock().expect("lock").push((sid, auth, form));
                    (
                        axum::http::StatusCode::CREATED,
                        axum::Json(json!({"sid": "SM0001", "status": "queued"})),
                    )
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opted_in_customer_gets_a_text_through_the_sms_provider() {
    use base64::Engine;
    let mut smtp = SmtpServer::new();
    smtp.start();
    let url = smtp.url();
    let (twilio, seen) = twilio_stand_in().await;
    let app = spawn_app_with(Roles::all(), |c| {
        c.notify.smtp_url = Some(url);
        c.notify.shop_url = "https://shop.example".into();
        c.notify.twilio_account_sid = Some("AC123".into());
        c.notify.twilio_auth_token = Some("secret-token".into());
        c.notify.twilio_from = Some("+15005550006".into());
        c.notify.twilio_api_base = twilio;
    })
    .await;
    let customer = uuid::Uuid::new_v4().to_string();
    let preferences: agora_notifications::Preferences = serde_json::from_value(json!({
        "order_updates": {"email": true, "sms": true},
        "back_in_stock": {"email": true},
        "phone": "+4915112345678",
        "sms_opt_in": true
    }))
    .expect("preferences");
    agora_notifier::store::put_preferences(
        &app.pool,
        &customer,
        &preferences.validate().expect("valid"),
    )
    .await
    .expect("store preferences");

    // A customer's order, walked to confirmed by the platform's own commands.
    let bus = app.bus().await;
    let order_id = uuid::Uuid::new_v4().to_string();
    let now = chrono::Utc::now();
    let eur = |minor| agora_kernel::Money::new(minor, agora_kernel::Currency::EUR);
    let place = OrderCommand::Place {
        owner: agora_order::OrderOwner::Customer {
            customer_id: customer.parse().expect("a customer id"),
        },
        cart_id: "cart-sms".into(),
        lines: vec![agora_order::OrderLine {
            sku: agora_kernel::Sku::parse("SMS-TEE").expect("sku"),
            product_id: "p-sms".into(),
            title: "Tee".into(),
            unit_price: eur(1200),
            quantity: 1,
            vendor_id: None,
            category_id: None,
        }],
        shipping_address: agora_kernel::Address {
            name: "Grace".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: "10115".into(),
            region: None,
            country: "DE".into(),
            phone: None,
        },
        email: "grace@example.com".into(),
        shipping: eur(0),
        tax_rate_bp: 0,
        tax_rule: None,
        discount: None,
        shipping_option: None,
        vendor_shipping: vec![],
        now,
    };
    system_command(&bus, &order_id, &place)
        .await
        .expect("place");
    for step in [
        OrderCommand::MarkStockReserved { now },
        OrderCommand::MarkPaymentAuthorized { now },
        OrderCommand::Confirm { now },
    ] {
        system_command(&bus, &order_id, &step)
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e:?}"));
    }

    let texts = eventually(Duration::from_secs(30), || async {
        let s = seen.lock().expect("lock").clone();
        (!s.is_empty()).then_some(s)
    })
    .await
    .expect("a text was sent");
    let (sid, auth, form) = &texts[0];
    assert_eq!(sid, "AC123");
    let expected = base64::engine::general_purpose::STANDARD.encode("AC123:secret-token");
    assert_eq!(auth, &format!("Basic {expected}"));
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("To"), "+4915112345678");
    assert_eq!(field("From"), "+15005550006");
    assert!(
        field("Body").starts_with("Order confirmation"),
        "{}",
        field("Body")
    );
    assert!(field("Body").contains(&format!("https://shop.example/orders/{order_id}")));
    // The email went too, and both rows are sent.
    let mails = smtp.until(1).await;
    assert_eq!(mails[0].rcpt_tos, vec!["grace@example.com".to_string()]);
    until_sql(
        &app.pool,
        "SELECT count(*) = 2 FROM notifications WHERE status = 'sent'",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(seen.lock().expect("lock").len(), 1);
    app.stop().await;
}

/// `agora service notifier` as a child process, so a fault can kill it for real. Only the
/// notifier: a child running every role would also answer checkout requests, and a fault that
/// kills it would take a checkout in flight down with it.
struct Agora(Child);

impl Drop for Agora {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_agora(app: &TestApp, smtp: &str, crash_after: Option<&str>) -> Agora {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .args(["service", "notifier"])
        .env("AGORA_DATABASE_URL", app.db.url())
        .env("AGORA_NATS_URL", app.nats.url())
        .env("AGORA_ADMIN_TOKEN", ADMIN)
        .env("AGORA_JWT_KEYS", common::TEST_JWT_KEYS)
        .env("AGORA_SMTP_URL", smtp)
        .env("AGORA_NOTIFY_LEASE_SECS", "2")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(point) = crash_after {
        command.env("AGORA_FAULT_CRASH_AFTER", point);
    }
    Agora(command.spawn().expect("spawn agora"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notifier_killed_mid_send_or_before_its_ack_sends_the_confirmation_once() {
    let mut smtp = SmtpServer::new();
    smtp.start();
    // The in-process app only provides the database, NATS and the shop set-up; the notifier
    // under test runs in a child process that the faults kill.
    let app = spawn_app_with(without_notifier(), |_| {}).await;
    sell(&app, "KILL-TEE", 2_500, 10).await;
    let bus = app.bus().await;
    for (round, fault) in ["notify_after_record", "notify_after_claim"]
        .iter()
        .enumerate()
    {
        let mut child = spawn_agora(&app, &smtp.url(), Some(fault));
        let c = cart(&app.http, &app.base, &[("KILL-TEE", 1)]).await;
        let order_id = checkout_ok(
            &app.http,
            &app.base,
            &c,
            &format!("kill-{round}"),
            "pm_card_visa",
        )
        .await;
        settled(&bus, &order_id, Duration::from_secs(60)).await;
        let died = eventually(Duration::from_secs(60), || {
            let status = child.0.try_wait().ok().flatten();
            async move { status.map(|s| !s.success()) }
        })
        .await
        .expect("the process exited");
        assert!(died, "the fault {fault} did not fire");
        drop(child);
        let _child = spawn_agora(&app, &smtp.url(), None);
        let mails = smtp.until(round + 1).await;
        until_sql(
            &app.pool,
            &format!(
                "SELECT count(*) = {} FROM notifications WHERE status = 'sent'",
                round + 1
            ),
            Duration::from_secs(60),
        )
        .await;
        let for_order = mails.iter().filter(|m| m.text.contains(&order_id)).count();
        assert_eq!(for_order, 1, "after {fault}: {mails:?}");
    }
    // The claimed-then-killed one was taken up again after its lease, and says so.
    let resumed = count(
        &app,
        "SELECT count(*) FROM notifications WHERE attempts = 2 AND last_error LIKE 'resumed%'",
    )
    .await;
    assert_eq!(resumed, 1);
    assert_eq!(smtp.messages().len(), 2);
    app.stop().await;
}

/// The token in a mailed account link (`…?token=<token>`), percent-decoded.
fn link_token(text: &str, path: &str) -> String {
    let start = text
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let rest = &text[start..];
    let rest = &rest[rest.find("token=").expect("token=") + "token=".len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '&')
        .unwrap_or(rest.len());
    rest[..end].replace("%2E", ".").replace("%2e", ".")
}

/// Identity's mail goes through the notifier: registering over HTTP mails a verification link
/// whose token verifies the email, once; a password reset mails a link whose token sets the new
/// password. The raw tokens leave the outbox once the mail holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registration_and_password_reset_mail_links_that_work_once() {
    let mut smtp = SmtpServer::new();
    smtp.start();
    let url = smtp.url();
    let app = spawn_app_with(Roles::all(), |c| {
        c.notify.smtp_url = Some(url);
        c.notify.shop_name = "Agora Outfitters".into();
        c.notify.shop_url = "https://shop.example".into();
    })
    .await;
    let post = |path: &str, body: Value| {
        app.http
            .post(format!("{}{path}", app.base))
            .json(&body)
            .send()
    };
    let email = "grace@example.com";
    let r = post(
        "/store/auth/register",
        json!({"email": email, "password": "correct horse battery staple"}),
    )
    .await
    .expect("register");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);

    let mails = smtp.until(1).await;
    assert_eq!(mails[0].rcpt_tos, vec![email.to_string()]);
    let token = link_token(&mails[0].text, "https://shop.example/account/verify");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM identity_outbox WHERE token IS NOT NULL"
        )
        .await,
        0,
        "the raw token left the outbox once mailed"
    );
    let r = post("/store/auth/verify-email", json!({"token": token}))
        .await
        .expect("verify");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = post("/store/auth/verify-email", json!({"token": token}))
        .await
        .expect("verify again");
    // A repeated verification is a retry: the same answer, nothing recorded twice.
    assert_eq!(r.status(), 200);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = 'EmailVerified'"
        )
        .await,
        1
    );

    let r = post("/store/auth/password-reset", json!({"email": email}))
        .await
        .expect("reset request");
    assert!(r.status().is_success(), "{}", r.status());
    let mails = smtp.until(2).await;
    let reset = mails
        .iter()
        .find(|m| m.text.contains("/account/reset"))
        .expect("a reset mail");
    let token = link_token(&reset.text, "https://shop.example/account/reset");
    let r = post(
        "/store/auth/password-reset/confirm",
        json!({"token": token, "new_password": "a brand new passphrase 42"}),
    )
    .await
    .expect("reset");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let r = post(
        "/store/auth/password-reset/confirm",
        json!({"token": token, "new_password": "yet another passphrase 77"}),
    )
    .await
    .expect("reset again");
    assert!(
        r.status().is_client_error(),
        "a reset link works once: {}",
        r.status()
    );
    let r = post(
        "/store/auth/login",
        json!({"email": email, "password": "a brand new passphrase 42"}),
    )
    .await
    .expect("login");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = post(
        "/store/auth/login",
        json!({"email": email, "password": "correct horse battery staple"}),
    )
    .await
    .expect("old login");
    assert_eq!(r.status(), 401);
    // Exactly the two mails: nothing was sent twice.
    notifier_caught_up(&app).await;
    assert_eq!(smtp.messages().len(), 2);
    app.stop().await;
}

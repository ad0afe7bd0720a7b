//! Every role's process is observable: a process running only a service serves `/metrics` on
//! its own address.

mod common;

use agora::Roles;
use agora_testkit::{TestDb, TestNats};

#[tokio::test]
async fn a_service_only_process_serves_its_metrics() {
    // The process-wide recorder, as `agora` installs it at start-up.
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this test binary");
    let nats = TestNats::start().expect("nats");
    let db = TestDb::create().await.expect("db");
    let mut config = common::config(&nats, &db);
    config.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"));
    let platform = agora::start(&config, &Roles::services(vec!["cart".into()]), Some(handle))
        .await
        .expect("start the cart service alone");
    assert_eq!(platform.http_addr, None, "no edge in this process");
    let addr = platform.metrics_addr.expect("a metrics address");

    // A command the cart service answers (a cart nobody created: rejected) is counted.
    let bus = agora_nats::Bus::new(async_nats::connect(nats.url()).await.expect("nats"));
    let rejected = common::system_command(
        &bus,
        &uuid::Uuid::new_v4().to_string(),
        &agora_cart::CartCommand::Clear {},
    )
    .await;
    assert!(rejected.is_err(), "{rejected:?}");
    let scraped = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        scraped.contains(r#"agora_commands_total{aggregate="cart",outcome="rejected"} 1"#),
        "{scraped}"
    );
    platform.stop().await.expect("stop");
}

//! The standalone verifier, run as an auditor would: a directory or file, a public key, an exit
//! code.

#[path = "../src/test_support.rs"]
mod test_support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use agora_audit::{
    write_checkpoint_file, AuditKey, Checkpoint, CheckpointFile, ExportWriter, StreamHead,
};
use chrono::{TimeZone, Utc};
use test_support::chained_stream;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agora-audit-verify"))
        .args(args)
        .output()
        .expect("the verifier runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_export(dir: &Path, key: &AuditKey) {
    let mut writer = ExportWriter::create(
        dir,
        serde_json::json!({"streams": ["order/o-1", "cart/c-1"]}),
    )
    .expect("create");
    let orders = chained_stream("order", "o-1", 4);
    let carts = chained_stream("cart", "c-1", 2);
    for event in orders
        .iter()
        .take(2)
        .chain(&carts)
        .chain(orders.iter().skip(2))
    {
        writer.push(event).expect("push");
    }
    writer
        .finish(
            key,
            Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
                .single()
                .expect("time"),
        )
        .expect("finish");
}

#[test]
fn the_verifier_accepts_a_good_export_and_rejects_a_tampered_one() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let dir = root.path().join("export");
    let key = AuditKey::generate();
    write_export(&dir, &key);
    let public = key.public_key();
    let dir_arg = dir.to_str().expect("a UTF-8 path");

    let ok = run(&["export", dir_arg, "--public-key", &public.to_hex()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert_eq!(
        text(&ok.stdout).trim(),
        format!(
            "OK: 6 events in 2 streams, signed by key {}",
            public.key_id()
        )
    );

    // The key may also be given as a file.
    let key_file = root.path().join("audit.pub");
    fs::write(&key_file, format!("{}\n", public.to_hex())).expect("write key file");
    let ok = run(&[
        "export",
        dir_arg,
        "--public-key",
        key_file.to_str().expect("utf-8"),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));

    let other = AuditKey::generate().public_key().to_hex();
    let wrong_key = run(&["export", dir_arg, "--public-key", &other]);
    assert_eq!(wrong_key.status.code(), Some(1));
    assert!(text(&wrong_key.stderr).starts_with("FAILED: "));

    let events = dir.join("events.jsonl");
    let tampered = fs::read_to_string(&events)
        .expect("read")
        .replacen("SKU-3", "SKU-9", 1);
    fs::write(&events, tampered).expect("write");
    let failed = run(&["export", dir_arg, "--public-key", &public.to_hex()]);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = text(&failed.stderr);
    assert!(stderr.starts_with("FAILED: "), "{stderr}");
    assert!(stderr.contains("events.jsonl"), "{stderr}");
    assert!(failed.stdout.is_empty());
}

#[test]
fn the_verifier_checks_a_published_checkpoint_file() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let key = AuditKey::generate();
    let heads: Vec<StreamHead> = [("order", "o-1", 4), ("cart", "c-1", 2)]
        .into_iter()
        .map(|(aggregate_type, aggregate_id, n)| {
            let stream = chained_stream(aggregate_type, aggregate_id, n);
            StreamHead::from_event(stream.last().expect("events")).expect("a hash")
        })
        .collect();
    let created_at = Utc
        .with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
        .single()
        .expect("time");
    let file = CheckpointFile {
        checkpoint: Checkpoint::sign(&key, created_at, &heads),
        heads,
    };
    let path = write_checkpoint_file(root.path(), &file).expect("written");
    let path_arg = path.to_str().expect("a UTF-8 path");
    let public = key.public_key().to_hex();

    let ok = run(&["checkpoint", path_arg, "--public-key", &public]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).starts_with("OK: checkpoint of 6 events in 2 streams"));

    let mut altered = file.clone();
    altered.heads[0].sequence += 1;
    fs::write(&path, serde_json::to_vec(&altered).expect("json")).expect("write");
    let failed = run(&["checkpoint", path_arg, "--public-key", &public]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(text(&failed.stderr).starts_with("FAILED: checkpoint heads"));
}

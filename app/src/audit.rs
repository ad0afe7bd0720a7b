//! The auditor's proofs against the event store: signed checkpoints of every stream's head,
//! the whole store's verification against them, and signed exports. The cryptography and the
//! file formats are `agora-audit`'s; this module reads and writes Postgres.
//!
//! Invariants: the signing key never enters the database (it is read from a file); a
//! checkpoint anchors every stream's head at one moment and stores only the heads that moved
//! since the checkpoint before it; verification streams the events (its memory grows with the
//! number of streams, never with their length).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agora_audit::{AuditKey, Checkpoint, CheckpointFile, Problem, PublicKey, StreamHead};
use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::{PgPool, Row};

/// The advisory-lock key that lets one process at a time take the timer's checkpoints.
const CHECKPOINT_LOCK: i64 = 0x4147_4f52_4155_4454; // "AGORAUDT"

/// Every stream's head now: its last sequence and that event's recorded hash.
pub async fn current_heads(pool: &PgPool) -> Result<Vec<StreamHead>, sqlx::Error> {
    let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT ON (aggregate_type, aggregate_id)
                aggregate_type, aggregate_id, sequence, metadata->>'hash'
         FROM events ORDER BY aggregate_type, aggregate_id, sequence DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(aggregate_type, aggregate_id, sequence, hash)| StreamHead {
                aggregate_type,
                aggregate_id,
                sequence: sequence as u64,
                hash: hash.unwrap_or_default(),
            },
        )
        .collect())
}

/// The heads checkpoint `id` anchored (each stream's row of the greatest checkpoint <= id).
pub async fn anchored_heads(pool: &PgPool, id: i64) -> Result<Vec<StreamHead>, sqlx::Error> {
    let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (aggregate_type, aggregate_id) aggregate_type, aggregate_id, sequence, hash
         FROM audit_checkpoint_heads WHERE checkpoint_id <= $1
         ORDER BY aggregate_type, aggregate_id, checkpoint_id DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(aggregate_type, aggregate_id, sequence, hash)| StreamHead {
                aggregate_type,
                aggregate_id,
                sequence: sequence as u64,
                hash,
            },
        )
        .collect())
}

/// A stored checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct StoredCheckpoint {
    pub id: i64,
    pub checkpoint: Checkpoint,
    pub published_to: Option<String>,
}

/// The latest checkpoint, if any.
pub async fn latest_checkpoint(pool: &PgPool) -> Result<Option<StoredCheckpoint>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, created_at, streams, events, merkle_root, key_id, public_key, signature, published_to
         FROM audit_checkpoints ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| StoredCheckpoint {
        id: r.get("id"),
        checkpoint: Checkpoint {
            created_at: r.get("created_at"),
            streams: r.get::<i64, _>("streams") as u64,
            events: r.get::<i64, _>("events") as u64,
            merkle_root: r.get("merkle_root"),
            key_id: r.get("key_id"),
            public_key: r.get("public_key"),
            signature: r.get("signature"),
        },
        published_to: r.get("published_to"),
    }))
}

/// Takes a checkpoint now: reads every stream's head, signs the Merkle root over them, stores
/// the checkpoint with the heads that moved since the last one, and publishes it as a file
/// into `publish_dir` when given.
pub async fn take_checkpoint(
    pool: &PgPool,
    key: &AuditKey,
    publish_dir: Option<&Path>,
) -> anyhow::Result<StoredCheckpoint> {
    let heads = current_heads(pool).await?;
    // Microseconds: what Postgres keeps, so the stored checkpoint signs what it says.
    let now = Utc::now();
    let created_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let checkpoint = Checkpoint::sign(key, created_at, &heads);
    let previous: HashMap<(String, String), u64> = match latest_checkpoint(pool).await? {
        Some(last) => anchored_heads(pool, last.id)
            .await?
            .into_iter()
            .map(|h| ((h.aggregate_type, h.aggregate_id), h.sequence))
            .collect(),
        None => HashMap::new(),
    };
    let moved: Vec<&StreamHead> = heads
        .iter()
        .filter(|h| {
            previous.get(&(h.aggregate_type.clone(), h.aggregate_id.clone())) != Some(&h.sequence)
        })
        .collect();
    let published_to = match publish_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            let file = CheckpointFile {
                checkpoint: checkpoint.clone(),
                heads: heads.clone(),
            };
            Some(
                agora_audit::write_checkpoint_file(dir, &file)?
                    .display()
                    .to_string(),
            )
        }
        None => None,
    };
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_checkpoints
           (created_at, streams, events, merkle_root, key_id, public_key, signature, published_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(checkpoint.created_at)
    .bind(checkpoint.streams as i64)
    .bind(checkpoint.events as i64)
    .bind(&checkpoint.merkle_root)
    .bind(&checkpoint.key_id)
    .bind(&checkpoint.public_key)
    .bind(&checkpoint.signature)
    .bind(&published_to)
    .fetch_one(&mut *tx)
    .await?;
    for chunk in moved.chunks(5_000) {
        let types: Vec<&str> = chunk.iter().map(|h| h.aggregate_type.as_str()).collect();
        let ids: Vec<&str> = chunk.iter().map(|h| h.aggregate_id.as_str()).collect();
        let sequences: Vec<i64> = chunk.iter().map(|h| h.sequence as i64).collect();
        let hashes: Vec<&str> = chunk.iter().map(|h| h.hash.as_str()).collect();
        sqlx::query(
            "INSERT INTO audit_checkpoint_heads (checkpoint_id, aggregate_type, aggregate_id, sequence, hash)
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[])",
        )
        .bind(id)
        .bind(&types)
        .bind(&ids)
        .bind(&sequences)
        .bind(&hashes)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    metrics::gauge!("agora_audit_checkpoint_streams").set(checkpoint.streams as f64);
    metrics::gauge!("agora_audit_checkpoint_timestamp_seconds").set(created_at.timestamp() as f64);
    Ok(StoredCheckpoint {
        id,
        checkpoint,
        published_to,
    })
}

/// Takes a checkpoint every `every`, in one process at a time (an advisory lock), until
/// `shutdown` resolves.
pub async fn checkpoints(
    pool: PgPool,
    key: AuditKey,
    every: Duration,
    publish_dir: Option<PathBuf>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let job_pool = pool.clone();
    let key = std::sync::Arc::new(key);
    let job = move || {
        let (pool, key, publish_dir) = (job_pool.clone(), key.clone(), publish_dir.clone());
        async move {
            match take_checkpoint(&pool, &key, publish_dir.as_deref()).await {
                Ok(c) => tracing::info!(
                    checkpoint = c.id,
                    streams = c.checkpoint.streams,
                    root = %c.checkpoint.merkle_root,
                    "audit checkpoint signed"
                ),
                Err(e) => tracing::error!(error = %e, "audit checkpoint failed"),
            }
        }
    };
    crate::singleton::every(pool, CHECKPOINT_LOCK, every, true, job, shutdown).await
}

/// What `agora audit verify` found.
#[derive(Debug, Default, Serialize)]
pub struct Verification {
    pub streams: u64,
    pub events: u64,
    /// The checkpoint compared against, if any.
    pub checkpoint: Option<i64>,
    /// Whether the checkpoint's signature and anchored heads check out.
    pub checkpoint_ok: Option<bool>,
    pub checkpoint_problem: Option<String>,
    /// Every stream that does not check out.
    pub findings: Vec<agora_audit::StreamFinding>,
    pub seconds: f64,
}

impl Verification {
    pub fn clean(&self) -> bool {
        self.findings.is_empty() && self.checkpoint_ok != Some(false)
    }
}

/// Re-checks every stream's hash chain and compares each with the latest checkpoint, whose
/// signature is checked with `key`. Streams the store in one ordered pass; `progress` is told
/// each event.
pub async fn verify_store(
    pool: &PgPool,
    key: Option<&PublicKey>,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Verification> {
    let started = std::time::Instant::now();
    let mut report = Verification::default();
    let mut anchored: HashMap<(String, String), StreamHead> = HashMap::new();
    if let Some(last) = latest_checkpoint(pool).await? {
        report.checkpoint = Some(last.id);
        let heads = anchored_heads(pool, last.id).await?;
        let signature = match key {
            Some(key) => last.checkpoint.verify_signature(key),
            None => PublicKey::from_hex(&last.checkpoint.public_key)
                .and_then(|k| last.checkpoint.verify_signature(&k)),
        };
        let problem = signature
            .and_then(|()| last.checkpoint.verify_heads(&heads))
            .err()
            .map(|e| e.to_string());
        report.checkpoint_ok = Some(problem.is_none());
        report.checkpoint_problem = problem;
        anchored = heads
            .into_iter()
            .map(|h| ((h.aggregate_type.clone(), h.aggregate_id.clone()), h))
            .collect();
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    progress.set_length(total.max(0) as u64);
    let mut rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
         FROM events ORDER BY aggregate_type, aggregate_id, sequence",
    )
    .fetch(pool);
    let mut current: Option<agora_audit::StreamVerifier> = None;
    let mut current_key: Option<(String, String)> = None;
    let finish = |verifier: agora_audit::StreamVerifier, report: &mut Verification| {
        let finding = verifier.finish();
        report.streams += 1;
        if finding.problem.is_some() {
            report.findings.push(finding);
        }
    };
    while let Some(row) = rows.try_next().await? {
        let event = agora_runtime::row_to_event(&row);
        let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
        if current_key.as_ref() != Some(&key) {
            if let Some(v) = current.take() {
                finish(v, &mut report);
            }
            let head = anchored.remove(&key);
            current = Some(agora_audit::StreamVerifier::new(
                &key.0,
                &key.1,
                head.as_ref(),
            ));
            current_key = Some(key);
        }
        if let Some(v) = current.as_mut() {
            v.push(&event);
        }
        report.events += 1;
        if report.events % 1024 == 0 {
            progress.set_position(report.events);
        }
    }
    if let Some(v) = current.take() {
        finish(v, &mut report);
    }
    // Streams anchored that have no event left at all.
    let mut gone: Vec<StreamHead> = anchored.into_values().collect();
    gone.sort_by(|a, b| {
        (&a.aggregate_type, &a.aggregate_id).cmp(&(&b.aggregate_type, &b.aggregate_id))
    });
    for head in gone {
        let verifier =
            agora_audit::StreamVerifier::new(&head.aggregate_type, &head.aggregate_id, Some(&head));
        finish(verifier, &mut report);
        report.streams -= 1;
    }
    progress.set_position(report.events);
    progress.finish_and_clear();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One line of the verification's findings, for a person.
pub fn describe(finding: &agora_audit::StreamFinding) -> String {
    let stream = format!("{}/{}", finding.aggregate_type, finding.aggregate_id);
    match &finding.problem {
        None => format!("{stream}: intact"),
        Some(Problem::ChainBroken { at }) => {
            format!("{stream}: hash chain broken at sequence {at}")
        }
        Some(Problem::RewrittenSinceCheckpoint {
            sequence,
            anchored,
            found,
        }) => format!(
            "{stream}: history rewritten since the checkpoint: event {sequence} hashes to {found}, the checkpoint anchored {anchored}"
        ),
        Some(Problem::TruncatedSinceCheckpoint {
            anchored_sequence,
            found_sequence,
        }) => format!(
            "{stream}: events deleted since the checkpoint: it anchored {anchored_sequence} events, {found_sequence} are left"
        ),
        Some(Problem::MissingSinceCheckpoint) => {
            format!("{stream}: the whole stream was deleted since the checkpoint")
        }
    }
}

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct ExportSelection {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `type/id` streams; empty: every stream.
    pub streams: Vec<(String, String)>,
}

/// Writes a signed export of the selected events into `dir`: per stream in sequence order,
/// streamed from Postgres.
pub async fn export(
    pool: &PgPool,
    key: &AuditKey,
    dir: &Path,
    selection: &ExportSelection,
) -> anyhow::Result<agora_audit::ExportManifest> {
    let described = serde_json::json!({
        "from": selection.from,
        "to": selection.to,
        "streams": selection.streams.iter().map(|(t, i)| format!("{t}/{i}")).collect::<Vec<_>>(),
    });
    let mut writer = agora_audit::ExportWriter::create(dir, described)?;
    let types: Vec<&str> = selection.streams.iter().map(|(t, _)| t.as_str()).collect();
    let ids: Vec<&str> = selection.streams.iter().map(|(_, i)| i.as_str()).collect();
    let mut rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
         FROM events
         WHERE ($1::timestamptz IS NULL OR recorded_at >= $1)
           AND ($2::timestamptz IS NULL OR recorded_at < $2)
           AND (cardinality($3::text[]) = 0 OR (aggregate_type, aggregate_id) IN
                (SELECT * FROM UNNEST($3::text[], $4::text[])))
         ORDER BY aggregate_type, aggregate_id, sequence",
    )
    .bind(selection.from)
    .bind(selection.to)
    .bind(&types)
    .bind(&ids)
    .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        writer.push(&agora_runtime::row_to_event(&row))?;
    }
    Ok(writer.finish(key, Utc::now())?)
}

/// The auditor's key held by this process, for the edge's on-demand checkpoints and exports
/// (its `Debug` never shows the key).
#[derive(Debug)]
pub struct KeySigner {
    pub pool: PgPool,
    pub key: AuditKey,
    pub publish_dir: Option<PathBuf>,
}

#[async_trait::async_trait]
impl agora_edge::audit::Signer for KeySigner {
    async fn checkpoint(&self) -> anyhow::Result<i64> {
        Ok(
            take_checkpoint(&self.pool, &self.key, self.publish_dir.as_deref())
                .await?
                .id,
        )
    }

    async fn export(
        &self,
        dir: &Path,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        streams: Vec<(String, String)>,
    ) -> anyhow::Result<u64> {
        let selection = ExportSelection { from, to, streams };
        Ok(export(&self.pool, &self.key, dir, &selection).await?.events)
    }
}

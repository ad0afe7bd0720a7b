//! Signed checkpoints: a Merkle root of the stream heads, anchored at a time by a key.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::{merkle_root, AuditKey, ProofError, PublicKey, StreamHead};

/// The first line of every checkpoint message; a new encoding gets a new version.
const CHECKPOINT_V1: &str = "agora-checkpoint-v1";

/// A signed checkpoint: what was anchored, when, by which key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Whole microseconds: the signed text has no finer precision.
    pub created_at: DateTime<Utc>,
    /// The number of heads.
    pub streams: u64,
    /// The sum of the heads' sequences: the number of events anchored.
    pub events: u64,
    /// The hex Merkle root of the heads ([`merkle_root`]).
    pub merkle_root: String,
    pub key_id: String,
    /// The hex public key, for convenience only: verification uses the key the caller gives.
    pub public_key: String,
    /// The hex Ed25519 signature over [`Checkpoint::message`].
    pub signature: String,
}

/// The sum of the heads' sequences.
fn event_total(heads: &[StreamHead]) -> u64 {
    heads
        .iter()
        .fold(0u64, |sum, head| sum.saturating_add(head.sequence))
}

impl Checkpoint {
    /// The exact bytes signed, a versioned line-based text:
    /// `agora-checkpoint-v1\n<created_at, RFC 3339 with microseconds and Z>\n<streams>\n<events>\n<merkle_root>\n<key_id>\n`.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "{CHECKPOINT_V1}\n{}\n{}\n{}\n{}\n{}\n",
            self.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.streams,
            self.events,
            self.merkle_root,
            self.key_id
        )
        .into_bytes()
    }

    /// Anchors `heads` (one per stream, any order) at `created_at`, truncated to microseconds.
    pub fn sign(key: &AuditKey, created_at: DateTime<Utc>, heads: &[StreamHead]) -> Checkpoint {
        let public_key = key.public_key();
        let mut checkpoint = Checkpoint {
            created_at: created_at.trunc_subsecs(6),
            streams: heads.len() as u64,
            events: event_total(heads),
            merkle_root: merkle_root(heads),
            key_id: public_key.key_id(),
            public_key: public_key.to_hex(),
            signature: String::new(),
        };
        checkpoint.signature = hex::encode(key.sign(&checkpoint.message()).to_bytes());
        checkpoint
    }

    /// The signature is the given key's over message(), and the key id matches. Never trust
    /// `public_key` inside: it must equal the given key too.
    pub fn verify_signature(&self, key: &PublicKey) -> Result<(), ProofError> {
        const WHAT: &str = "checkpoint";
        if self.key_id != key.key_id() {
            return Err(ProofError::KeyMismatch {
                what: WHAT,
                expected: key.key_id(),
                found: self.key_id.clone(),
            });
        }
        if self.public_key != key.to_hex() {
            return Err(ProofError::KeyMismatch {
                what: WHAT,
                expected: key.to_hex(),
                found: self.public_key.clone(),
            });
        }
        if self.created_at.trunc_subsecs(6) != self.created_at {
            return Err(ProofError::Malformed {
                what: WHAT,
                reason: "created_at has sub-microsecond digits, which the signature does not cover"
                    .to_string(),
            });
        }
        key.verify(WHAT, &self.message(), &self.signature)
    }

    /// The heads are exactly what was anchored: count, event sum and Merkle root recompute to
    /// the signed values, and no stream appears twice.
    pub fn verify_heads(&self, heads: &[StreamHead]) -> Result<(), ProofError> {
        let mut streams = BTreeSet::new();
        for head in heads {
            if !streams.insert((head.aggregate_type.as_str(), head.aggregate_id.as_str())) {
                return Err(ProofError::HeadsMismatch(format!(
                    "stream {}/{} has more than one head",
                    head.aggregate_type, head.aggregate_id
                )));
            }
        }
        if heads.len() as u64 != self.streams {
            return Err(ProofError::HeadsMismatch(format!(
                "{} heads, but the checkpoint anchored {} streams",
                heads.len(),
                self.streams
            )));
        }
        let events = event_total(heads);
        if events != self.events {
            return Err(ProofError::HeadsMismatch(format!(
                "the heads add up to {events} events, but the checkpoint anchored {}",
                self.events
            )));
        }
        let root = merkle_root(heads);
        if root != self.merkle_root {
            return Err(ProofError::HeadsMismatch(format!(
                "the heads' Merkle root is {root}, but the checkpoint anchored {}",
                self.merkle_root
            )));
        }
        Ok(())
    }
}

/// A published checkpoint file (for a place the auditor controls): the checkpoint plus its heads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFile {
    pub checkpoint: Checkpoint,
    pub heads: Vec<StreamHead>,
}

impl CheckpointFile {
    /// Verifies the signature with `key` and that the heads recompute to what it signed.
    pub fn verify(&self, key: &PublicKey) -> Result<(), ProofError> {
        self.checkpoint.verify_signature(key)?;
        self.checkpoint.verify_heads(&self.heads)
    }
}

/// Writes `file` into `dir` as `checkpoint-<YYYYMMDDTHHMMSSffffffZ>-<first 12 hex of the root>.json`,
/// atomically (a temporary file in `dir`, synced, then renamed over). Returns its path.
pub fn write_checkpoint_file(dir: &Path, file: &CheckpointFile) -> Result<PathBuf, ProofError> {
    let checkpoint = &file.checkpoint;
    let root = &checkpoint.merkle_root;
    if root.len() != 64 || !root.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ProofError::Malformed {
            what: "checkpoint",
            reason: "the Merkle root is not 64 hex characters".to_string(),
        });
    }
    let name = format!(
        "checkpoint-{}-{}.json",
        checkpoint.created_at.format("%Y%m%dT%H%M%S%6fZ"),
        &root[..12]
    );
    let path = dir.join(name);
    let mut json = serde_json::to_vec_pretty(file).map_err(|e| ProofError::Malformed {
        what: "checkpoint",
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    fs::create_dir_all(dir).map_err(|e| ProofError::io("create directory", dir, e))?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| ProofError::io("create a temporary file in", dir, e))?;
    temp.write_all(&json)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| ProofError::io("write checkpoint", &path, e))?;
    temp.persist(&path)
        .map_err(|e| ProofError::io("write checkpoint", &path, e.error))?;
    // Make the rename itself durable; not every platform can open a directory to sync it.
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(path)
}

/// Reads a checkpoint file written by [`write_checkpoint_file`]. Verifying it is separate:
/// [`CheckpointFile::verify`].
pub fn read_checkpoint_file(path: &Path) -> Result<CheckpointFile, ProofError> {
    let bytes = fs::read(path).map_err(|e| ProofError::io("read checkpoint", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ProofError::Malformed {
        what: "checkpoint file",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn heads() -> Vec<StreamHead> {
        (1..=4u64)
            .map(|i| StreamHead {
                aggregate_type: if i % 2 == 0 { "cart" } else { "order" }.to_string(),
                aggregate_id: format!("id-{i}"),
                sequence: i * 3,
                hash: format!("{i:064x}"),
            })
            .collect()
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 14, 15, 9, 26)
            .single()
            .expect("a valid time")
            + Duration::nanoseconds(535_897_932)
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_its_key_and_its_heads() {
        let key = AuditKey::generate();
        let heads = heads();
        let checkpoint = Checkpoint::sign(&key, at(), &heads);
        assert_eq!(checkpoint.streams, 4);
        assert_eq!(checkpoint.events, 3 + 6 + 9 + 12);
        assert_eq!(checkpoint.merkle_root, merkle_root(&heads));
        checkpoint
            .verify_signature(&key.public_key())
            .expect("the signature verifies");
        let mut shuffled = heads.clone();
        shuffled.reverse();
        checkpoint
            .verify_heads(&shuffled)
            .expect("the heads verify");
    }

    #[test]
    fn the_signed_message_is_versioned_text_with_microseconds() {
        let key = AuditKey::generate();
        let checkpoint = Checkpoint::sign(&key, at(), &heads());
        let text = String::from_utf8(checkpoint.message()).expect("the message is text");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "agora-checkpoint-v1");
        assert_eq!(lines[1], "2026-03-14T15:09:26.535897Z");
        assert_eq!(lines[2], "4");
        assert_eq!(lines[3], "30");
        assert_eq!(lines[4], checkpoint.merkle_root);
        assert_eq!(lines[5], checkpoint.key_id);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn another_key_does_not_verify_the_checkpoint() {
        let key = AuditKey::generate();
        let other = AuditKey::generate().public_key();
        let checkpoint = Checkpoint::sign(&key, at(), &heads());
        assert!(matches!(
            checkpoint.verify_signature(&other),
            Err(ProofError::KeyMismatch { .. })
        ));
        // Relabelled with the other key's id and public key, the signature still fails.
        let mut relabelled = checkpoint.clone();
        relabelled.key_id = other.key_id();
        relabelled.public_key = other.to_hex();
        assert!(matches!(
            relabelled.verify_signature(&other),
            Err(ProofError::BadSignature { .. })
        ));
    }

    #[test]
    fn altered_heads_fail_verify_heads() {
        let key = AuditKey::generate();
        let heads = heads();
        let checkpoint = Checkpoint::sign(&key, at(), &heads);

        let mut rewritten = heads.clone();
        rewritten[2].hash = "f".repeat(64);
        let error = checkpoint
            .verify_heads(&rewritten)
            .expect_err("another hash");
        assert!(error.to_string().contains("Merkle root"), "{error}");

        let mut longer = heads.clone();
        longer[0].sequence += 1;
        let error = checkpoint.verify_heads(&longer).expect_err("another sum");
        assert!(error.to_string().contains("events"), "{error}");

        let error = checkpoint
            .verify_heads(&heads[..3])
            .expect_err("a head fewer");
        assert!(error.to_string().contains("streams"), "{error}");

        let mut twice = heads.clone();
        twice[1] = twice[0].clone();
        assert!(checkpoint.verify_heads(&twice).is_err());
    }

    #[test]
    fn any_altered_signed_field_fails_the_signature() {
        let key = AuditKey::generate();
        let public = key.public_key();
        let checkpoint = Checkpoint::sign(&key, at(), &heads());
        type Alteration = fn(&mut Checkpoint);
        let alterations: [(&str, Alteration); 5] = [
            ("streams", |c| c.streams += 1),
            ("events", |c| c.events -= 1),
            ("merkle_root", |c| c.merkle_root = "0".repeat(64)),
            ("created_at", |c| c.created_at += Duration::microseconds(1)),
            ("signature", |c| c.signature = "00".repeat(64)),
        ];
        for (field, alter) in alterations {
            let mut altered = checkpoint.clone();
            alter(&mut altered);
            assert!(
                matches!(
                    altered.verify_signature(&public),
                    Err(ProofError::BadSignature { .. })
                ),
                "{field}"
            );
        }
        let mut finer = checkpoint.clone();
        finer.created_at += Duration::nanoseconds(1);
        assert!(finer.verify_signature(&public).is_err());
    }

    #[test]
    fn a_checkpoint_file_round_trips_and_verifies() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = AuditKey::generate();
        let heads = heads();
        let file = CheckpointFile {
            checkpoint: Checkpoint::sign(&key, at(), &heads),
            heads,
        };
        let path = write_checkpoint_file(dir.path(), &file).expect("the file is written");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a file name");
        assert_eq!(
            name,
            format!(
                "checkpoint-20260314T150926535897Z-{}.json",
                &file.checkpoint.merkle_root[..12]
            )
        );
        let read = read_checkpoint_file(&path).expect("the file reads");
        assert_eq!(read, file);
        read.verify(&key.public_key()).expect("it verifies");
        assert_eq!(
            fs::read_dir(dir.path()).expect("list").count(),
            1,
            "no temporary file is left behind"
        );
    }
}

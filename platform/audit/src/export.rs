//! Signed, self-verifying exports.
//!
//! An export is a directory of three files:
//! - `events.jsonl`: one [`RecordedEvent`] per line (serde_json), each stream in sequence order,
//!   streams possibly interleaved;
//! - `manifest.json`: an [`ExportManifest`] (format `agora-export-v1`) that pins `events.jsonl` by
//!   its SHA-256 and summarises every stream (first sequence and its `prev_hash`, last sequence
//!   and hash, count);
//! - `manifest.sig`: the hex Ed25519 signature over `manifest.json`'s exact bytes.
//!
//! The writer copies events as the store holds them; it checks only that each stream's sequences
//! are consecutive. Whether the chains are intact is for [`verify_export`] to say.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use agora_kernel::{RecordedEvent, GENESIS_HASH};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AuditKey, ProofError, PublicKey};

/// The format of the manifests this crate writes and verifies.
pub const EXPORT_FORMAT: &str = "agora-export-v1";
const EVENTS_FILE: &str = "events.jsonl";
const MANIFEST_FILE: &str = "manifest.json";
const SIGNATURE_FILE: &str = "manifest.sig";
const MANIFEST: &str = "export manifest";

/// What an export holds, signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportManifest {
    /// [`EXPORT_FORMAT`].
    pub format: String,
    pub created_at: DateTime<Utc>,
    /// What was asked for, e.g. `{"from": .., "to": .., "streams": [..]}`; informative.
    pub selection: serde_json::Value,
    /// The number of lines of `events.jsonl`.
    pub events: u64,
    /// The hex SHA-256 of `events.jsonl`.
    pub events_sha256: String,
    /// One entry per stream, sorted by `(aggregate_type, aggregate_id)`.
    pub streams: Vec<ExportStream>,
    pub key_id: String,
    /// The signer's hex public key, for convenience only: verification uses the key given.
    pub public_key: String,
}

/// One stream's part of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportStream {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The first exported sequence (1 when the export starts at the stream's beginning).
    pub first_sequence: u64,
    /// The `prev_hash` of the first exported event: the genesis hash when it is sequence 1.
    pub first_prev_hash: String,
    pub last_sequence: u64,
    pub last_hash: String,
    pub events: u64,
}

impl ExportStream {
    fn name(&self) -> String {
        format!("{}/{}", self.aggregate_type, self.aggregate_id)
    }
}

/// What a verified export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub events: u64,
    pub streams: u64,
}

/// Writes an export one event at a time: memory holds one line and one summary per stream.
pub struct ExportWriter {
    dir: PathBuf,
    events_path: PathBuf,
    file: BufWriter<File>,
    hasher: Sha256,
    line: Vec<u8>,
    selection: serde_json::Value,
    events: u64,
    streams: HashMap<(String, String), ExportStream>,
}

impl std::fmt::Debug for ExportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWriter")
            .field("dir", &self.dir)
            .field("events", &self.events)
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl ExportWriter {
    /// Creates `dir` (must not exist or be empty) and starts `events.jsonl`.
    pub fn create(dir: &Path, selection: serde_json::Value) -> Result<Self, ProofError> {
        match fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(ProofError::ExportDirNotEmpty(dir.to_path_buf()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)
                    .map_err(|e| ProofError::io("create export directory", dir, e))?;
            }
            Err(e) => return Err(ProofError::io("open export directory", dir, e)),
        }
        let events_path = dir.join(EVENTS_FILE);
        let file = create_new(&events_path)?;
        Ok(ExportWriter {
            dir: dir.to_path_buf(),
            events_path,
            file: BufWriter::new(file),
            hasher: Sha256::new(),
            line: Vec::new(),
            selection,
            events: 0,
            streams: HashMap::new(),
        })
    }

    /// Appends one event (one JSON line, serde_json of RecordedEvent). Events of one stream must
    /// come in sequence order (streams may interleave), and carry `prev_hash` and `hash` in their
    /// metadata.
    pub fn push(&mut self, event: &RecordedEvent) -> Result<(), ProofError> {
        let unexportable = |reason: String| ProofError::Unexportable {
            stream: format!("{}/{}", event.aggregate_type, event.aggregate_id),
            sequence: event.sequence,
            reason,
        };
        let prev_hash = event
            .metadata
            .get("prev_hash")
            .and_then(|h| h.as_str())
            .ok_or_else(|| unexportable("its metadata has no prev_hash".to_string()))?;
        let hash = event
            .recorded_hash()
            .ok_or_else(|| unexportable("its metadata has no hash".to_string()))?;
        let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
        match self.streams.get(&key) {
            Some(stream) if stream.last_sequence.checked_add(1) != Some(event.sequence) => {
                return Err(unexportable(format!(
                    "sequence {} was exported last, so {} must come next \
                     (events of one stream must come in sequence order)",
                    stream.last_sequence,
                    stream.last_sequence.saturating_add(1)
                )));
            }
            None if event.sequence == 0 => {
                return Err(unexportable("sequences start at 1".to_string()));
            }
            _ => {}
        }

        self.line.clear();
        serde_json::to_writer(&mut self.line, event)
            .map_err(|e| unexportable(format!("it does not serialize: {e}")))?;
        self.line.push(b'\n');
        self.file
            .write_all(&self.line)
            .map_err(|e| ProofError::io("write", &self.events_path, e))?;
        self.hasher.update(&self.line);
        self.events += 1;

        let stream = self.streams.entry(key).or_insert_with(|| ExportStream {
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            first_sequence: event.sequence,
            first_prev_hash: prev_hash.to_string(),
            last_sequence: event.sequence,
            last_hash: String::new(),
            events: 0,
        });
        stream.last_sequence = event.sequence;
        stream.last_hash = hash.to_string();
        stream.events += 1;
        Ok(())
    }

    /// Writes manifest.json (format, created_at, selection, events count, sha256 of
    /// events.jsonl, per-stream entries sorted, key_id, public_key) and manifest.sig (hex
    /// Ed25519 signature over manifest.json's exact bytes), the signature last.
    pub fn finish(
        self,
        key: &AuditKey,
        created_at: DateTime<Utc>,
    ) -> Result<ExportManifest, ProofError> {
        let events_path = self.events_path;
        let file = self
            .file
            .into_inner()
            .map_err(|e| ProofError::io("write", &events_path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| ProofError::io("write", &events_path, e))?;

        let mut streams: Vec<ExportStream> = self.streams.into_values().collect();
        streams.sort_by(|a, b| {
            (&a.aggregate_type, &a.aggregate_id).cmp(&(&b.aggregate_type, &b.aggregate_id))
        });
        let public_key = key.public_key();
        let manifest = ExportManifest {
            format: EXPORT_FORMAT.to_string(),
            created_at,
            selection: self.selection,
            events: self.events,
            events_sha256: hex::encode(self.hasher.finalize()),
            streams,
            key_id: public_key.key_id(),
            public_key: public_key.to_hex(),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| ProofError::Malformed {
                what: MANIFEST,
                reason: e.to_string(),
            })?;
        bytes.push(b'\n');
        write_new(&self.dir.join(MANIFEST_FILE), &bytes)?;
        let signature = hex::encode(key.sign(&bytes).to_bytes());
        write_new(
            &self.dir.join(SIGNATURE_FILE),
            format!("{signature}\n").as_bytes(),
        )?;
        if let Ok(handle) = File::open(&self.dir) {
            let _ = handle.sync_all();
        }
        Ok(manifest)
    }
}

fn create_new(path: &Path) -> Result<File, ProofError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| ProofError::io("create", path, e))
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ProofError> {
    let mut file = create_new(path)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| ProofError::io("write", path, e))
}

/// Verifies an export directory with the GIVEN key, in order: the signature over
/// `manifest.json`'s bytes; the format; the SHA-256 of `events.jsonl`; every line is a
/// [`RecordedEvent`]; per stream, the chain (sequences consecutive from the manifest's first, the
/// first `prev_hash` the manifest's, each `prev_hash` the previous event's hash, each recomputed
/// hash the recorded one) and the manifest's last hash and counts; no stream outside the
/// manifest. Reads `events.jsonl` twice (digest, then lines), one line at a time.
pub fn verify_export(dir: &Path, key: &PublicKey) -> Result<ExportReport, ProofError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = fs::read(&manifest_path).map_err(|e| ProofError::io("read", &manifest_path, e))?;
    let signature_path = dir.join(SIGNATURE_FILE);
    let signature = fs::read_to_string(&signature_path)
        .map_err(|e| ProofError::io("read", &signature_path, e))?;
    key.verify(MANIFEST, &bytes, &signature)?;

    let malformed = |e: serde_json::Error| ProofError::Malformed {
        what: MANIFEST,
        reason: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(malformed)?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != EXPORT_FORMAT {
        return Err(ProofError::UnsupportedFormat {
            expected: EXPORT_FORMAT,
            found: format.to_string(),
        });
    }
    let manifest: ExportManifest = serde_json::from_value(value).map_err(malformed)?;
    if manifest.key_id != key.key_id() {
        return Err(ProofError::KeyMismatch {
            what: MANIFEST,
            expected: key.key_id(),
            found: manifest.key_id,
        });
    }
    if manifest.public_key != key.to_hex() {
        return Err(ProofError::KeyMismatch {
            what: MANIFEST,
            expected: key.to_hex(),
            found: manifest.public_key,
        });
    }

    let events_path = dir.join(EVENTS_FILE);
    let mut hasher = Sha256::new();
    let mut file = File::open(&events_path).map_err(|e| ProofError::io("read", &events_path, e))?;
    io::copy(&mut file, &mut hasher).map_err(|e| ProofError::io("read", &events_path, e))?;
    let digest = hex::encode(hasher.finalize());
    if digest != manifest.events_sha256 {
        return Err(ProofError::EventsDigestMismatch {
            expected: manifest.events_sha256,
            found: digest,
        });
    }

    let mut chains = Chains::new(&manifest.streams)?;
    let file = File::open(&events_path).map_err(|e| ProofError::io("read", &events_path, e))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ProofError::io("read", &events_path, e))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let event: RecordedEvent =
            serde_json::from_slice(&line).map_err(|e| ProofError::BadEventLine {
                line: line_no,
                reason: e.to_string(),
            })?;
        chains.push(&event, line_no)?;
    }
    chains.finish(&manifest)
}

/// The chain state of every stream a manifest lists, while its events are read.
struct Chains<'m> {
    /// By aggregate type, then aggregate id (so `&str`s of any lifetime look them up).
    streams: HashMap<&'m str, HashMap<&'m str, Chain<'m>>>,
    events: u64,
}

struct Chain<'m> {
    entry: &'m ExportStream,
    /// The last verified event's sequence and hash.
    last: Option<(u64, String)>,
    events: u64,
}

impl<'m> Chains<'m> {
    fn new(entries: &'m [ExportStream]) -> Result<Self, ProofError> {
        let mut streams: HashMap<&str, HashMap<&str, Chain>> = HashMap::new();
        for entry in entries {
            let malformed = |reason: &str| ProofError::Malformed {
                what: MANIFEST,
                reason: format!("stream {} {reason}", entry.name()),
            };
            if entry.first_sequence == 0 {
                return Err(malformed("starts at sequence 0"));
            }
            if entry.first_sequence == 1 && entry.first_prev_hash != GENESIS_HASH {
                return Err(malformed(
                    "starts at sequence 1 but not from the genesis hash",
                ));
            }
            let chain = Chain {
                entry,
                last: None,
                events: 0,
            };
            let ids: &mut HashMap<&str, Chain> =
                streams.entry(entry.aggregate_type.as_str()).or_default();
            if ids.insert(entry.aggregate_id.as_str(), chain).is_some() {
                return Err(malformed("is listed twice"));
            }
        }
        Ok(Chains { streams, events: 0 })
    }

    fn push(&mut self, event: &RecordedEvent, line: u64) -> Result<(), ProofError> {
        let name = || format!("{}/{}", event.aggregate_type, event.aggregate_id);
        let chain = self
            .streams
            .get_mut(event.aggregate_type.as_str())
            .and_then(|ids| ids.get_mut(event.aggregate_id.as_str()));
        let Some(chain) = chain else {
            return Err(ProofError::UnlistedStream {
                stream: name(),
                line,
            });
        };
        let broken = |reason: String| ProofError::ChainBroken {
            stream: name(),
            line,
            reason,
        };
        let (expected_sequence, expected_prev, prev_source) = match &chain.last {
            None => (
                chain.entry.first_sequence,
                chain.entry.first_prev_hash.as_str(),
                "the manifest's first prev_hash",
            ),
            Some((sequence, hash)) => (
                sequence.saturating_add(1),
                hash.as_str(),
                "the previous event's hash",
            ),
        };
        if event.sequence != expected_sequence {
            return Err(broken(format!(
                "sequence {} where {expected_sequence} was expected (a gap, reorder or duplicate)",
                event.sequence
            )));
        }
        let recorded_prev = event.metadata.get("prev_hash").and_then(|h| h.as_str());
        if recorded_prev != Some(expected_prev) {
            return Err(broken(format!(
                "sequence {}: prev_hash is {}, not {prev_source} {expected_prev}",
                event.sequence,
                recorded_prev.unwrap_or("missing")
            )));
        }
        let hash = event.compute_hash(expected_prev);
        if event.recorded_hash() != Some(hash.as_str()) {
            return Err(broken(format!(
                "sequence {}: the recorded hash {} is not the recomputed {hash} (the event was edited)",
                event.sequence,
                event.recorded_hash().unwrap_or("missing")
            )));
        }
        chain.last = Some((event.sequence, hash));
        chain.events += 1;
        self.events += 1;
        Ok(())
    }

    fn finish(self, manifest: &ExportManifest) -> Result<ExportReport, ProofError> {
        for entry in &manifest.streams {
            let chain = self
                .streams
                .get(entry.aggregate_type.as_str())
                .and_then(|ids| ids.get(entry.aggregate_id.as_str()));
            let Some(chain) = chain else {
                continue;
            };
            let mismatch = |reason: String| ProofError::ManifestMismatch {
                subject: format!("stream {}", entry.name()),
                reason,
            };
            if chain.events != entry.events {
                return Err(mismatch(format!(
                    "the export holds {} of its events, the manifest lists {}",
                    chain.events, entry.events
                )));
            }
            if let Some((last_sequence, last_hash)) = &chain.last {
                if *last_sequence != entry.last_sequence {
                    return Err(mismatch(format!(
                        "its last sequence is {last_sequence}, the manifest says {}",
                        entry.last_sequence
                    )));
                }
                if *last_hash != entry.last_hash {
                    return Err(mismatch(format!(
                        "its last hash is {last_hash}, the manifest says {}",
                        entry.last_hash
                    )));
                }
            }
        }
        if self.events != manifest.events {
            return Err(ProofError::ManifestMismatch {
                subject: "the export".to_string(),
                reason: format!(
                    "events.jsonl holds {} events, the manifest says {}",
                    self.events, manifest.events
                ),
            });
        }
        Ok(ExportReport {
            events: self.events,
            streams: manifest.streams.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::chained_stream;
    use chrono::TimeZone;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
            .single()
            .expect("a valid time")
    }

    /// Three streams, interleaved round-robin.
    fn interleaved() -> Vec<RecordedEvent> {
        let streams = [
            chained_stream("order", "o-1", 5),
            chained_stream("cart", "c-1", 3),
            chained_stream("payment", "p-1", 4),
        ];
        let mut events = Vec::new();
        for i in 0..5 {
            for stream in &streams {
                if let Some(event) = stream.get(i) {
                    events.push(event.clone());
                }
            }
        }
        events
    }

    fn export(dir: &Path, key: &AuditKey, events: &[RecordedEvent]) -> ExportManifest {
        let mut writer = ExportWriter::create(dir, json!({"streams": ["all"]})).expect("create");
        for event in events {
            writer.push(event).expect("push");
        }
        writer.finish(key, at()).expect("finish")
    }

    fn flip_byte(path: &Path, index: usize) {
        let mut bytes = fs::read(path).expect("read");
        bytes[index] ^= 0x01;
        fs::write(path, bytes).expect("write");
    }

    #[test]
    fn an_export_of_interleaved_streams_verifies() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = AuditKey::generate();
        let manifest = export(dir.path(), &key, &interleaved());
        assert_eq!(manifest.events, 12);
        let names: Vec<&str> = manifest
            .streams
            .iter()
            .map(|s| s.aggregate_type.as_str())
            .collect();
        assert_eq!(names, ["cart", "order", "payment"]);
        let order = &manifest.streams[1];
        assert_eq!(
            (order.first_sequence, order.last_sequence, order.events),
            (1, 5, 5)
        );
        assert_eq!(order.first_prev_hash, GENESIS_HASH);
        let report = verify_export(dir.path(), &key.public_key()).expect("the export verifies");
        assert_eq!(
            report,
            ExportReport {
                events: 12,
                streams: 3
            }
        );
    }

    #[test]
    fn flipping_a_single_byte_anywhere_in_the_events_fails_verification() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = AuditKey::generate();
        export(dir.path(), &key, &interleaved());
        let events_path = dir.path().join(EVENTS_FILE);
        let original = fs::read(&events_path).expect("read");
        // Every line's first, middle and last byte (its newline), and a spread of others: each
        // verification checks a signature, which is slow in unoptimised test builds.
        let mut indices: Vec<usize> = (0..original.len()).step_by(53).collect();
        let mut start = 0;
        for (end, _) in original.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            indices.extend([start, (start + end) / 2, end]);
            start = end + 1;
        }
        for index in indices {
            flip_byte(&events_path, index);
            let error = verify_export(dir.path(), &key.public_key()).expect_err("tampered");
            assert!(
                matches!(error, ProofError::EventsDigestMismatch { .. }),
                "byte {index}: {error}"
            );
            fs::write(&events_path, &original).expect("restore");
        }
        verify_export(dir.path(), &key.public_key()).expect("restored, it verifies again");
    }

    #[test]
    fn flipping_a_byte_of_the_manifest_fails_its_signature() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = AuditKey::generate();
        export(dir.path(), &key, &interleaved());
        let manifest_path = dir.path().join(MANIFEST_FILE);
        let original = fs::read(&manifest_path).expect("read");
        for index in [
            0,
            original.len() / 3,
            original.len() / 2,
            original.len() - 1,
        ] {
            flip_byte(&manifest_path, index);
            let error = verify_export(dir.path(), &key.public_key()).expect_err("tampered");
            assert!(matches!(error, ProofError::BadSignature { .. }), "{error}");
            assert!(error.to_string().contains("export manifest"), "{error}");
            fs::write(&manifest_path, &original).expect("restore");
        }
    }

    #[test]
    fn another_public_key_fails_verification() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = AuditKey::generate();
        export(dir.path(), &key, &interleaved());
        let error =
            verify_export(dir.path(), &AuditKey::generate().public_key()).expect_err("another key");
        assert!(matches!(error, ProofError::BadSignature { .. }), "{error}");
    }

    #[test]
    fn an_export_that_starts_mid_stream_verifies() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = AuditKey::generate();
        let stream = chained_stream("order", "o-1", 9);
        let manifest = export(dir.path(), &key, &stream[4..]);
        let entry = &manifest.streams[0];
        assert_eq!(entry.first_sequence, 5);
        assert_eq!(
            Some(entry.first_prev_hash.as_str()),
            stream[3].recorded_hash()
        );
        assert_eq!(entry.events, 5);
        let report = verify_export(dir.path(), &key.public_key()).expect("it verifies");
        assert_eq!(
            report,
            ExportReport {
                events: 5,
                streams: 1
            }
        );
    }

    #[test]
    fn an_export_re_signed_over_a_broken_chain_still_fails_on_the_chain() {
        // The signer exports faithfully; an edited event in the store shows up on verification.
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = AuditKey::generate();
        let mut events = interleaved();
        events[4].payload = json!({"edited": true});
        export(dir.path(), &key, &events);
        let error = verify_export(dir.path(), &key.public_key()).expect_err("edited");
        assert!(
            matches!(error, ProofError::ChainBroken { line: 5, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("edited"), "{error}");
    }

    #[test]
    fn the_writer_refuses_out_of_order_events_and_a_non_empty_directory() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stream = chained_stream("order", "o-1", 3);
        let mut writer = ExportWriter::create(dir.path(), json!({})).expect("an empty directory");
        writer.push(&stream[0]).expect("first");
        assert!(matches!(
            writer.push(&stream[2]),
            Err(ProofError::Unexportable { .. })
        ));
        writer.push(&stream[1]).expect("second");
        assert!(matches!(
            ExportWriter::create(dir.path(), json!({})),
            Err(ProofError::ExportDirNotEmpty(_))
        ));
    }

    /// Edits the manifest (and maybe the events) and signs it again with the real key: what a
    /// buggy or compromised exporter could produce. The chain checks must still catch it.
    fn resign(dir: &Path, key: &AuditKey, edit: impl FnOnce(&mut ExportManifest, &mut String)) {
        let manifest_path = dir.join(MANIFEST_FILE);
        let events_path = dir.join(EVENTS_FILE);
        let mut manifest: ExportManifest =
            serde_json::from_slice(&fs::read(&manifest_path).expect("read")).expect("parse");
        let mut events = fs::read_to_string(&events_path).expect("read");
        edit(&mut manifest, &mut events);
        fs::write(&events_path, &events).expect("write");
        manifest.events_sha256 = hex::encode(Sha256::digest(events.as_bytes()));
        let bytes = serde_json::to_vec_pretty(&manifest).expect("serialize");
        fs::write(&manifest_path, &bytes).expect("write");
        let signature = hex::encode(key.sign(&bytes).to_bytes());
        fs::write(dir.join(SIGNATURE_FILE), signature).expect("write");
    }

    fn verify_resigned(
        key: &AuditKey,
        edit: impl FnOnce(&mut ExportManifest, &mut String),
    ) -> ProofError {
        let dir = tempfile::tempdir().expect("a temporary directory");
        export(dir.path(), key, &interleaved());
        resign(dir.path(), key, |_, _| {});
        verify_export(dir.path(), &key.public_key()).expect("re-signed unchanged, it verifies");
        resign(dir.path(), key, edit);
        verify_export(dir.path(), &key.public_key()).expect_err("the edit is caught")
    }

    #[test]
    fn a_signed_manifest_that_disagrees_with_the_events_fails() {
        let key = AuditKey::generate();

        let error = verify_resigned(&key, |m, _| {
            m.streams.remove(0);
        });
        assert!(
            matches!(error, ProofError::UnlistedStream { .. }),
            "{error}"
        );

        let error = verify_resigned(&key, |m, _| m.streams[1].last_hash = "0".repeat(64));
        assert!(error.to_string().contains("last hash"), "{error}");

        let error = verify_resigned(&key, |m, _| m.streams[1].events += 1);
        assert!(
            matches!(error, ProofError::ManifestMismatch { .. }),
            "{error}"
        );

        let error = verify_resigned(&key, |m, _| m.events += 1);
        assert!(
            matches!(error, ProofError::ManifestMismatch { .. }),
            "{error}"
        );

        let error = verify_resigned(&key, |m, _| m.streams[1].first_sequence = 2);
        assert!(matches!(error, ProofError::ChainBroken { .. }), "{error}");

        let error = verify_resigned(&key, |m, _| m.streams[1].first_prev_hash = "1".repeat(64));
        assert!(matches!(error, ProofError::Malformed { .. }), "{error}");

        let error = verify_resigned(&key, |m, _| m.format = "agora-export-v0".to_string());
        assert!(
            matches!(error, ProofError::UnsupportedFormat { .. }),
            "{error}"
        );
    }

    #[test]
    fn signed_events_that_are_reordered_dropped_or_not_json_fail() {
        let key = AuditKey::generate();
        let lines = |events: &mut String| -> Vec<String> {
            events.lines().map(|line| format!("{line}\n")).collect()
        };

        let error = verify_resigned(&key, |_, events| {
            let mut all = lines(events);
            // Lines 1 and 4 are order/o-1 sequences 1 and 2 (three streams, round-robin).
            all.swap(0, 3);
            *events = all.concat();
        });
        assert!(error.to_string().contains("was expected"), "{error}");

        let error = verify_resigned(&key, |m, events| {
            let mut all = lines(events);
            all.remove(4);
            *events = all.concat();
            m.events -= 1;
        });
        assert!(
            matches!(error, ProofError::ChainBroken { line: 7, .. }),
            "{error}"
        );

        let error = verify_resigned(&key, |_, events| events.push_str("not json\n"));
        assert!(
            matches!(error, ProofError::BadEventLine { line: 13, .. }),
            "{error}"
        );
    }

    #[test]
    fn an_empty_export_verifies() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = AuditKey::generate();
        export(&dir.path().join("new"), &key, &[]);
        let report = verify_export(&dir.path().join("new"), &key.public_key()).expect("verifies");
        assert_eq!(
            report,
            ExportReport {
                events: 0,
                streams: 0
            }
        );
    }
}

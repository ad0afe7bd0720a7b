use serde::{Deserialize, Serialize};

/// One committed event as stored in Postgres and carried on the feed. The wire form of the
/// event log: auditors, projections and the relay all read this shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// 1-based position in the stream; consecutive, no gaps.
    pub sequence: u64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    /// [`crate::EventMetadata`], kept as JSON so old metadata shapes still load.
    pub metadata: serde_json::Value,
}

impl RecordedEvent {
    /// The feed's de-duplication key: `<type>/<id>/<sequence>`.
    pub fn msg_id(&self) -> String {
        format!(
            "{}/{}/{}",
            self.aggregate_type, self.aggregate_id, self.sequence
        )
    }

    /// Recomputes this event's chain hash from `prev_hash`.
    pub fn compute_hash(&self, prev_hash: &str) -> String {
        crate::chain_hash(
            prev_hash,
            &self.aggregate_type,
            &self.aggregate_id,
            self.sequence,
            &self.event_type,
            &self.event_version,
            &self.payload,
            &self.metadata,
        )
    }

    pub fn recorded_hash(&self) -> Option<&str> {
        self.metadata.get("hash").and_then(|h| h.as_str())
    }

    pub fn recorded_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.metadata
            .get("recorded_at")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
    }
}

/// The result of checking a stream's hash chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainVerdict {
    pub events: u64,
    pub intact: bool,
    /// The first sequence whose hash or position does not check out.
    pub broken_at: Option<u64>,
    pub head_hash: String,
}

/// Verifies that `events` (one stream, in order) are complete (1, 2, 3, ...) and that every
/// recorded hash matches the recomputed chain.
pub fn verify_chain(events: &[RecordedEvent]) -> ChainVerdict {
    let mut prev = crate::GENESIS_HASH.to_string();
    for (i, event) in events.iter().enumerate() {
        let expected_seq = i as u64 + 1;
        let hash = event.compute_hash(&prev);
        let prev_ok =
            event.metadata.get("prev_hash").and_then(|h| h.as_str()) == Some(prev.as_str());
        if event.sequence != expected_seq
            || !prev_ok
            || event.recorded_hash() != Some(hash.as_str())
        {
            return ChainVerdict {
                events: events.len() as u64,
                intact: false,
                broken_at: Some(expected_seq),
                head_hash: prev,
            };
        }
        prev = hash;
    }
    ChainVerdict {
        events: events.len() as u64,
        intact: true,
        broken_at: None,
        head_hash: prev,
    }
}

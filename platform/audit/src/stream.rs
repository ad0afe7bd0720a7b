//! Verifying one stream as it is now against its chain and its anchored head.

use agora_kernel::{RecordedEvent, GENESIS_HASH};
use serde::Serialize;

use crate::StreamHead;

/// What a stream's current events say against an anchored head (pure; the caller streams events
/// from Postgres). Feed a stream's events in order; it verifies the chain incrementally in
/// constant memory (sequence consecutive from 1, `prev_hash` links, recomputed hash == recorded
/// hash), and at the end compares with the anchored head if any.
#[derive(Clone, Debug)]
pub struct StreamVerifier {
    aggregate_type: String,
    aggregate_id: String,
    anchored: Option<StreamHead>,
    /// Events pushed, intact or not.
    events: u64,
    /// The hash of the last event that checked out (the genesis hash before any).
    head_hash: String,
    /// The sequence of the last event that checked out (0 before any).
    last_sequence: u64,
    broken_at: Option<u64>,
    /// The recomputed hash of the event at the anchored sequence, once seen.
    hash_at_anchor: Option<String>,
}

/// The verdict on one stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StreamFinding {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// Events pushed.
    pub events: u64,
    /// The hash of the last event that checked out: the stream's head when there is no problem.
    pub head_hash: String,
    pub problem: Option<Problem>,
}

/// What is wrong with a stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The chain itself does not check out at this sequence (edited without recomputing, gap, reorder).
    ChainBroken { at: u64 },
    /// The chain checks out but the event at the anchored sequence has another hash: history rewritten and re-hashed.
    RewrittenSinceCheckpoint {
        sequence: u64,
        anchored: String,
        found: String,
    },
    /// The stream is shorter than it was when anchored: events deleted.
    TruncatedSinceCheckpoint {
        anchored_sequence: u64,
        found_sequence: u64,
    },
    /// The stream was anchored but has no events at all now.
    MissingSinceCheckpoint,
}

impl StreamVerifier {
    /// Starts verifying one stream; `anchored` is its head in the latest checkpoint, if any.
    pub fn new(aggregate_type: &str, aggregate_id: &str, anchored: Option<&StreamHead>) -> Self {
        StreamVerifier {
            aggregate_type: aggregate_type.to_string(),
            aggregate_id: aggregate_id.to_string(),
            anchored: anchored.cloned(),
            events: 0,
            head_hash: GENESIS_HASH.to_string(),
            last_sequence: 0,
            broken_at: None,
            hash_at_anchor: None,
        }
    }

    /// Checks the next event of the stream. After the first break it only counts.
    pub fn push(&mut self, event: &RecordedEvent) {
        self.events += 1;
        if self.broken_at.is_some() {
            return;
        }
        let expected = self.last_sequence + 1;
        let prev_ok = event.metadata.get("prev_hash").and_then(|h| h.as_str())
            == Some(self.head_hash.as_str());
        let ours =
            event.aggregate_type == self.aggregate_type && event.aggregate_id == self.aggregate_id;
        if !ours || event.sequence != expected || !prev_ok {
            self.broken_at = Some(expected);
            return;
        }
        let hash = event.compute_hash(&self.head_hash);
        if event.recorded_hash() != Some(hash.as_str()) {
            self.broken_at = Some(expected);
            return;
        }
        if self.anchored.as_ref().map(|head| head.sequence) == Some(event.sequence) {
            self.hash_at_anchor = Some(hash.clone());
        }
        self.last_sequence = event.sequence;
        self.head_hash = hash;
    }

    /// The verdict: a broken chain first, then how the stream compares with its anchored head.
    pub fn finish(self) -> StreamFinding {
        let problem = self.problem();
        StreamFinding {
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            events: self.events,
            head_hash: self.head_hash,
            problem,
        }
    }

    fn problem(&self) -> Option<Problem> {
        if let Some(at) = self.broken_at {
            return Some(Problem::ChainBroken { at });
        }
        let anchored = self.anchored.as_ref().filter(|head| head.sequence > 0)?;
        if self.events == 0 {
            return Some(Problem::MissingSinceCheckpoint);
        }
        if self.last_sequence < anchored.sequence {
            return Some(Problem::TruncatedSinceCheckpoint {
                anchored_sequence: anchored.sequence,
                found_sequence: self.last_sequence,
            });
        }
        match &self.hash_at_anchor {
            Some(found) if *found == anchored.hash => None,
            found => Some(Problem::RewrittenSinceCheckpoint {
                sequence: anchored.sequence,
                anchored: anchored.hash.clone(),
                found: found.clone().unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{chained_stream, rechain};
    use serde_json::json;

    fn verify(events: &[RecordedEvent], anchored: Option<&StreamHead>) -> StreamFinding {
        let mut verifier = StreamVerifier::new("order", "o-1", anchored);
        for event in events {
            verifier.push(event);
        }
        verifier.finish()
    }

    fn head_at(events: &[RecordedEvent], sequence: u64) -> StreamHead {
        let event = &events[sequence as usize - 1];
        StreamHead::from_event(event).expect("the event has a hash")
    }

    #[test]
    fn an_intact_stream_has_no_problem_with_or_without_an_anchor() {
        let events = chained_stream("order", "o-1", 6);
        let last = events.last().expect("six events");
        let finding = verify(&events, None);
        assert_eq!(finding.problem, None);
        assert_eq!(finding.events, 6);
        assert_eq!(Some(finding.head_hash.as_str()), last.recorded_hash());
        for sequence in 1..=6 {
            let anchored = head_at(&events, sequence);
            assert_eq!(verify(&events, Some(&anchored)).problem, None, "{sequence}");
        }
    }

    #[test]
    fn a_payload_edited_without_rehashing_breaks_the_chain_at_that_sequence() {
        let mut events = chained_stream("order", "o-1", 6);
        events[3].payload = json!({"total": 1});
        let finding = verify(&events, Some(&head_at(&events, 6)));
        assert_eq!(finding.problem, Some(Problem::ChainBroken { at: 4 }));
        assert_eq!(finding.events, 6);
        assert_eq!(Some(finding.head_hash.as_str()), events[2].recorded_hash());
    }

    #[test]
    fn a_gap_or_a_reorder_breaks_the_chain() {
        let mut events = chained_stream("order", "o-1", 5);
        events.remove(2);
        assert_eq!(
            verify(&events, None).problem,
            Some(Problem::ChainBroken { at: 3 })
        );
        let mut events = chained_stream("order", "o-1", 5);
        events.swap(1, 2);
        assert_eq!(
            verify(&events, None).problem,
            Some(Problem::ChainBroken { at: 2 })
        );
    }

    #[test]
    fn a_rewrite_rehashed_by_an_attacker_passes_the_chain_but_not_the_anchor() {
        let original = chained_stream("order", "o-1", 6);
        let mut rewritten = original.clone();
        rewritten[2].payload = json!({"total": 1});
        rechain(&mut rewritten);
        assert!(agora_kernel::verify_chain(&rewritten).intact);
        assert_eq!(verify(&rewritten, None).problem, None);
        // Anchored before the edit: the anchor cannot tell.
        assert_eq!(
            verify(&rewritten, Some(&head_at(&original, 2))).problem,
            None
        );
        // Anchored at or after the edit: the anchored hash differs.
        for sequence in 3..=6 {
            let anchored = head_at(&original, sequence);
            assert_eq!(
                verify(&rewritten, Some(&anchored)).problem,
                Some(Problem::RewrittenSinceCheckpoint {
                    sequence,
                    anchored: anchored.hash.clone(),
                    found: head_at(&rewritten, sequence).hash,
                }),
                "{sequence}"
            );
        }
    }

    #[test]
    fn a_deleted_last_event_is_a_truncation_since_the_checkpoint() {
        let mut events = chained_stream("order", "o-1", 6);
        let anchored = head_at(&events, 6);
        events.pop();
        assert_eq!(
            verify(&events, Some(&anchored)).problem,
            Some(Problem::TruncatedSinceCheckpoint {
                anchored_sequence: 6,
                found_sequence: 5
            })
        );
    }

    #[test]
    fn an_anchored_stream_without_events_is_missing() {
        let events = chained_stream("order", "o-1", 3);
        let finding = verify(&[], Some(&head_at(&events, 3)));
        assert_eq!(finding.problem, Some(Problem::MissingSinceCheckpoint));
        assert_eq!(finding.events, 0);
    }

    #[test]
    fn a_new_stream_that_was_never_anchored_is_clean() {
        assert_eq!(
            verify(&chained_stream("order", "o-1", 2), None).problem,
            None
        );
        assert_eq!(verify(&[], None).problem, None);
    }

    #[test]
    fn an_event_of_another_stream_breaks_the_chain() {
        let events = chained_stream("order", "o-2", 2);
        assert_eq!(
            verify(&events, None).problem,
            Some(Problem::ChainBroken { at: 1 })
        );
    }

    #[test]
    fn a_problem_serializes_with_its_kind() {
        let value = serde_json::to_value(Problem::ChainBroken { at: 4 }).expect("serializes");
        assert_eq!(value, json!({"kind": "chain_broken", "at": 4}));
        let value = serde_json::to_value(Problem::MissingSinceCheckpoint).expect("serializes");
        assert_eq!(value, json!({"kind": "missing_since_checkpoint"}));
    }
}

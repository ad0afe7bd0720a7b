//! The Merkle tree over stream heads.
//!
//! Leaf encoding (v1): `sha256(json)` where `json` is serde_json's compact text of the array
//! `["agora-stream-head-v1", aggregate_type, aggregate_id, sequence, hash]`. JSON strings are
//! quoted and escaped, so the encoding is unambiguous (no two different heads share it), and the
//! leading tag keeps a leaf from ever being read as an inner node (whose preimage is 64 raw hash
//! bytes). Leaves are ordered by `(aggregate_type, aggregate_id, sequence, hash)`, so the order
//! heads are given in does not matter. Inner nodes are rs_merkle's: `sha256(left ‖ right)`, a
//! lone last node is promoted unchanged. The root of an empty set is `sha256("")`
//! (`e3b0c442…b855`).

use agora_kernel::RecordedEvent;
use rs_merkle::{algorithms::Sha256, Hasher, MerkleProof, MerkleTree};
use serde::{Deserialize, Serialize};

/// The tag that starts every leaf's encoding.
const LEAF_TAG: &str = "agora-stream-head-v1";

/// One stream's head as anchored: its last sequence and that event's recorded chain hash.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamHead {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: u64,
    pub hash: String,
}

impl StreamHead {
    /// The head a stream has when `event` is its last event; `None` when the event has no
    /// recorded hash.
    pub fn from_event(event: &RecordedEvent) -> Option<StreamHead> {
        Some(StreamHead {
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            hash: event.recorded_hash()?.to_string(),
        })
    }

    /// The leaf of this head in the tree (see the module doc for the encoding).
    fn leaf(&self) -> [u8; 32] {
        let encoded = serde_json::json!([
            LEAF_TAG,
            self.aggregate_type,
            self.aggregate_id,
            self.sequence,
            self.hash
        ]);
        Sha256::hash(encoded.to_string().as_bytes())
    }
}

/// Proof that one head is a leaf of a root: its position among `leaf_count` sorted leaves and
/// rs_merkle's proof (sibling hashes, direct order) in hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub leaf_count: u64,
    pub proof: String,
}

/// The sorted leaves of `heads`.
fn sorted_leaves(heads: &[StreamHead]) -> (Vec<&StreamHead>, Vec<[u8; 32]>) {
    let mut sorted: Vec<&StreamHead> = heads.iter().collect();
    sorted.sort();
    let leaves = sorted.iter().map(|head| head.leaf()).collect();
    (sorted, leaves)
}

/// The Merkle root (hex) over `heads`, in any order; `sha256("")` for none.
pub fn merkle_root(heads: &[StreamHead]) -> String {
    let (_, leaves) = sorted_leaves(heads);
    let root = MerkleTree::<Sha256>::from_leaves(&leaves)
        .root()
        .unwrap_or_else(|| Sha256::hash(&[]));
    hex::encode(root)
}

/// The proof that `head` (all its fields) is one of `heads`; `None` when it is not.
pub fn inclusion_proof(heads: &[StreamHead], head: &StreamHead) -> Option<InclusionProof> {
    let (sorted, leaves) = sorted_leaves(heads);
    let index = sorted.iter().position(|candidate| *candidate == head)?;
    let proof = MerkleTree::<Sha256>::from_leaves(&leaves).proof(&[index]);
    Some(InclusionProof {
        leaf_index: index as u64,
        leaf_count: leaves.len() as u64,
        proof: hex::encode(proof.to_bytes()),
    })
}

/// Whether `proof` shows `head` to be a leaf of the tree whose root is `root_hex`. Malformed
/// input (bad hex, an index outside the tree) is simply not a proof.
pub fn verify_inclusion(root_hex: &str, head: &StreamHead, proof: &InclusionProof) -> bool {
    let mut root = [0u8; 32];
    if hex::decode_to_slice(root_hex, &mut root).is_err() {
        return false;
    }
    let (Ok(index), Ok(count)) = (
        usize::try_from(proof.leaf_index),
        usize::try_from(proof.leaf_count),
    ) else {
        return false;
    };
    if count == 0 || index >= count {
        return false;
    }
    let Ok(bytes) = hex::decode(&proof.proof) else {
        return false;
    };
    let Ok(merkle_proof) = MerkleProof::<Sha256>::from_bytes(&bytes) else {
        return false;
    };
    merkle_proof.verify(root, &[index], &[head.leaf()], count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(aggregate_type: &str, aggregate_id: &str, sequence: u64, hash: &str) -> StreamHead {
        StreamHead {
            aggregate_type: aggregate_type.to_string(),
            aggregate_id: aggregate_id.to_string(),
            sequence,
            hash: hash.to_string(),
        }
    }

    fn heads() -> Vec<StreamHead> {
        vec![
            head("order", "o-1", 4, &"a".repeat(64)),
            head("cart", "c-9", 2, &"b".repeat(64)),
            head("cart", "c-1", 7, &"c".repeat(64)),
            head("payment", "p-3", 1, &"d".repeat(64)),
            head("order", "o-2", 3, &"e".repeat(64)),
        ]
    }

    #[test]
    fn the_root_does_not_depend_on_the_order_of_the_heads() {
        let heads = heads();
        let root = merkle_root(&heads);
        let mut reversed = heads.clone();
        reversed.reverse();
        assert_eq!(merkle_root(&reversed), root);
        let mut rotated = heads.clone();
        rotated.rotate_left(2);
        assert_eq!(merkle_root(&rotated), root);
        assert_eq!(root.len(), 64);
    }

    #[test]
    fn the_root_changes_when_any_field_of_any_head_changes() {
        let heads = heads();
        let root = merkle_root(&heads);
        for i in 0..heads.len() {
            let mut changed = heads.clone();
            changed[i].aggregate_type.push('x');
            assert_ne!(merkle_root(&changed), root, "aggregate_type of head {i}");
            let mut changed = heads.clone();
            changed[i].aggregate_id.push('x');
            assert_ne!(merkle_root(&changed), root, "aggregate_id of head {i}");
            let mut changed = heads.clone();
            changed[i].sequence += 1;
            assert_ne!(merkle_root(&changed), root, "sequence of head {i}");
            let mut changed = heads.clone();
            changed[i].hash = "f".repeat(64);
            assert_ne!(merkle_root(&changed), root, "hash of head {i}");
        }
        let mut fewer = heads.clone();
        fewer.pop();
        assert_ne!(merkle_root(&fewer), root);
    }

    #[test]
    fn fields_cannot_be_shifted_across_the_boundary_between_them() {
        let a = [head("cart", "x:1", 1, "h")];
        let b = [head("cart:x", "1", 1, "h")];
        assert_ne!(merkle_root(&a), merkle_root(&b));
    }

    #[test]
    fn the_root_of_no_heads_is_the_sha256_of_nothing() {
        assert_eq!(
            merkle_root(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn an_inclusion_proof_verifies_for_every_head_and_any_set_size() {
        let all = heads();
        for size in 1..=all.len() {
            let heads = &all[..size];
            let root = merkle_root(heads);
            for head in heads {
                let proof = inclusion_proof(heads, head).expect("the head is in the set");
                assert!(verify_inclusion(&root, head, &proof), "{size} heads");
            }
        }
    }

    #[test]
    fn an_inclusion_proof_fails_for_a_wrong_head_or_root() {
        let heads = heads();
        let root = merkle_root(&heads);
        let proof = inclusion_proof(&heads, &heads[1]).expect("the head is in the set");
        let mut wrong = heads[1].clone();
        wrong.sequence += 1;
        assert!(!verify_inclusion(&root, &wrong, &proof));
        assert!(!verify_inclusion(&root, &heads[0], &proof));
        assert!(!verify_inclusion(&"0".repeat(64), &heads[1], &proof));
        assert!(!verify_inclusion("not hex", &heads[1], &proof));
        assert!(inclusion_proof(&heads, &wrong).is_none());
    }

    #[test]
    fn a_proof_with_an_index_outside_the_tree_is_not_a_proof() {
        let heads = heads();
        let root = merkle_root(&heads);
        let mut proof = inclusion_proof(&heads, &heads[0]).expect("the head is in the set");
        proof.leaf_index = proof.leaf_count;
        assert!(!verify_inclusion(&root, &heads[0], &proof));
        proof.leaf_index = 0;
        proof.leaf_count = 0;
        assert!(!verify_inclusion(&root, &heads[0], &proof));
    }
}

//! The proof layer of the auditor's console: what lets someone outside the platform check that
//! the event log was not rewritten, without trusting the database that holds it.
//!
//! - [`merkle_root`], [`inclusion_proof`], [`verify_inclusion`]: a Merkle tree (rs_merkle,
//!   SHA-256) over stream heads, the last sequence and chain hash of each stream.
//! - [`Checkpoint`]: a Merkle root of all heads, with counts and a time, signed with Ed25519 by
//!   an [`AuditKey`]; published as a [`CheckpointFile`] to a place the auditor controls.
//! - [`StreamVerifier`]: checks one stream's events as they are now, in constant memory, against
//!   its own hash chain and against the head a checkpoint anchored ([`Problem`] says what broke).
//! - [`ExportWriter`] and [`verify_export`]: a signed export (`events.jsonl`, `manifest.json`,
//!   `manifest.sig`) that verifies on its own; the `agora-audit-verify` binary does it with
//!   nothing but the directory and the public key.
//!
//! # Invariants
//! - **Nothing is trusted from the document being verified.** Signatures are checked with the
//!   public key the caller gives, never the one a checkpoint or manifest carries; a document that
//!   names another key fails.
//! - **The signed bytes are canonical and versioned.** A checkpoint signs the line-based text of
//!   [`Checkpoint::message`] (`agora-checkpoint-v1`); an export signs `manifest.json`'s exact
//!   bytes, which pin `events.jsonl` by its SHA-256 (`agora-export-v1`).
//! - **The secret key never reaches the database or a log.** It lives in a file (mode 0600 on
//!   unix), its `Debug` is redacted, and its seed is wiped from memory after use.
//! - **Memory does not grow with the number of events.** Streams are verified and exported one
//!   event at a time; only per-stream summaries are kept.
//! - **Pure but for files and randomness.** No database, no network, no clock: times arrive as
//!   values, events arrive from the caller.

mod checkpoint;
mod error;
mod export;
mod key;
mod merkle;
mod stream;

#[cfg(test)]
mod test_support;

pub use checkpoint::{read_checkpoint_file, write_checkpoint_file, Checkpoint, CheckpointFile};
pub use error::ProofError;
pub use export::{
    verify_export, ExportManifest, ExportReport, ExportStream, ExportWriter, EXPORT_FORMAT,
};
pub use key::{AuditKey, PublicKey};
pub use merkle::{inclusion_proof, merkle_root, verify_inclusion, InclusionProof, StreamHead};
pub use stream::{Problem, StreamFinding, StreamVerifier};

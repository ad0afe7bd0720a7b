use std::path::PathBuf;

/// Why a proof could not be made, read or verified. The `Display` text says what failed and is
/// what the verifier prints; it never contains secret key material.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// Reading or writing a file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key is not 64 hex characters, or not a usable Ed25519 key.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A document (checkpoint, manifest, signature file) does not have the expected shape.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// The Ed25519 signature does not verify with the given public key.
    #[error(
        "the signature of the {what} does not verify with public key {key_id}: \
         the {what} was altered or signed by another key"
    )]
    BadSignature { what: &'static str, key_id: String },
    /// The document names another key than the one the caller gave.
    #[error("the {what} names key {found}, but the given public key is {expected}")]
    KeyMismatch {
        what: &'static str,
        expected: String,
        found: String,
    },
    /// The heads of a checkpoint do not recompute to what was signed.
    #[error("checkpoint heads do not match what was signed: {0}")]
    HeadsMismatch(String),
    /// The export's manifest is of another format.
    #[error("unsupported export format {found:?} (expected {expected:?})")]
    UnsupportedFormat {
        expected: &'static str,
        found: String,
    },
    /// `events.jsonl` is not the file the signed manifest pins.
    #[error(
        "events.jsonl has sha256 {found}, but the signed manifest says {expected}: \
         the events file was altered"
    )]
    EventsDigestMismatch { expected: String, found: String },
    /// A line of `events.jsonl` is not a recorded event.
    #[error("events.jsonl line {line} is not a recorded event: {reason}")]
    BadEventLine { line: u64, reason: String },
    /// An exported event does not continue its stream's hash chain.
    #[error("events.jsonl line {line}: stream {stream}: {reason}")]
    ChainBroken {
        stream: String,
        line: u64,
        reason: String,
    },
    /// An exported event belongs to a stream that the manifest does not list.
    #[error("events.jsonl line {line}: stream {stream} is not listed in the manifest")]
    UnlistedStream { stream: String, line: u64 },
    /// A stream's events (or the export's totals) differ from the manifest's summary.
    #[error("{subject} does not match the manifest: {reason}")]
    ManifestMismatch { subject: String, reason: String },
    /// The export directory already holds files.
    #[error("export directory {} already exists and is not empty", .0.display())]
    ExportDirNotEmpty(PathBuf),
    /// An event given to [`crate::ExportWriter::push`] cannot be exported as it is.
    #[error("cannot export stream {stream} sequence {sequence}: {reason}")]
    Unexportable {
        stream: String,
        sequence: u64,
        reason: String,
    },
}

impl ProofError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ProofError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

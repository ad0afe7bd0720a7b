//! The Ed25519 keys that sign checkpoints and exports.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ProofError;

/// The signing key of checkpoints and exports. The database never holds it: it lives in a file
/// holding the 32-byte seed as 64 hex characters. `Debug` shows only the key id.
pub struct AuditKey {
    signing: SigningKey,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("key_id", &self.public_key().key_id())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl AuditKey {
    /// A new key from the operating system's random source.
    ///
    /// # Panics
    /// When the operating system has no random source, as key generation cannot go on without.
    pub fn generate() -> AuditKey {
        Self::try_generate().expect("the operating system provides random bytes")
    }

    fn try_generate() -> Result<AuditKey, ProofError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|e| ProofError::InvalidKey(format!("no random source: {e}")))?;
        Ok(AuditKey {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads a key file: the seed as 64 hex characters, optionally followed by a newline. The
    /// error never quotes the file's content.
    pub fn from_file(path: &Path) -> Result<AuditKey, ProofError> {
        let text = Zeroizing::new(
            fs::read_to_string(path).map_err(|e| ProofError::io("read audit key", path, e))?,
        );
        let hex_seed = text.trim_end_matches(['\n', '\r']);
        let mut seed = Zeroizing::new([0u8; 32]);
        if hex_seed.len() != 64 || hex::decode_to_slice(hex_seed, seed.as_mut()).is_err() {
            return Err(ProofError::InvalidKey(format!(
                "{} must hold the key's 32-byte seed as 64 hex characters",
                path.display()
            )));
        }
        Ok(AuditKey {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads the key file, or creates it with a new key (mode 0600 on unix, written atomically)
    /// when there is none. Two processes racing to create it end up with the same key.
    pub fn load_or_create(path: &Path) -> Result<AuditKey, ProofError> {
        match fs::symlink_metadata(path) {
            Ok(_) => return Self::from_file(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProofError::io("inspect audit key", path, e)),
        }
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(|e| ProofError::io("create directory", dir, e))?;
        let key = Self::try_generate()?;
        // tempfile creates the file readable by its owner only (0600 on unix).
        let mut file = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| ProofError::io("create audit key in", dir, e))?;
        let seed_hex = Zeroizing::new(hex::encode(key.signing.to_bytes()));
        file.write_all(seed_hex.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| ProofError::io("write audit key", path, e))?;
        match file.persist_noclobber(path) {
            Ok(_) => Ok(key),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Self::from_file(path),
            Err(e) => Err(ProofError::io("write audit key", path, e.error)),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }
}

/// An Ed25519 public key: what an auditor holds to verify checkpoints and exports.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Parses 64 hex characters (surrounding whitespace ignored). Refuses bytes that are not a
    /// point of the curve and weak (small-order) keys, which would verify forged signatures.
    pub fn from_hex(s: &str) -> Result<PublicKey, ProofError> {
        let s = s.trim();
        let mut bytes = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut bytes).is_err() {
            return Err(ProofError::InvalidKey(
                "a public key is 64 hex characters".to_string(),
            ));
        }
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
            ProofError::InvalidKey("the bytes are not an Ed25519 public key".to_string())
        })?;
        if key.is_weak() {
            return Err(ProofError::InvalidKey(
                "a weak (small-order) Ed25519 public key is refused".to_string(),
            ));
        }
        Ok(PublicKey(key))
    }

    /// A short id: the first 16 hex chars of sha256(public key bytes).
    pub fn key_id(&self) -> String {
        let mut id = hex::encode(Sha256::digest(self.0.as_bytes()));
        id.truncate(16);
        id
    }

    /// Reads a key given either as 64 hex chars or as a path to a file holding them.
    pub fn from_arg(arg: &str) -> Result<PublicKey, ProofError> {
        let trimmed = arg.trim();
        if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Self::from_hex(trimmed);
        }
        let path = Path::new(arg);
        let text = fs::read_to_string(path).map_err(|e| {
            ProofError::InvalidKey(format!(
                "{arg:?} is neither 64 hex characters nor a readable key file ({e})"
            ))
        })?;
        Self::from_hex(&text).map_err(|e| match e {
            ProofError::InvalidKey(reason) => {
                ProofError::InvalidKey(format!("{}: {reason}", path.display()))
            }
            other => other,
        })
    }

    /// Verifies an Ed25519 signature given in hex, strictly (no malleable signatures, no weak
    /// keys).
    pub(crate) fn verify(
        &self,
        what: &'static str,
        message: &[u8],
        signature_hex: &str,
    ) -> Result<(), ProofError> {
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(signature_hex.trim(), &mut bytes).map_err(|_| {
            ProofError::Malformed {
                what,
                reason: "the signature is not 128 hex characters".to_string(),
            }
        })?;
        self.0
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .map_err(|_| ProofError::BadSignature {
                what,
                key_id: self.key_id(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_of_a_key_shows_its_id_and_never_its_secret() {
        let key = AuditKey::generate();
        let shown = format!("{key:?}");
        let secret = hex::encode(key.signing.to_bytes());
        assert!(shown.contains(&key.public_key().key_id()));
        assert!(!shown.contains(&secret));
        assert!(!shown.contains(&secret[..16]));
    }

    #[test]
    fn a_created_key_file_loads_back_as_the_same_key_and_is_private() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("keys").join("audit.key");
        let created = AuditKey::load_or_create(&path).expect("the key is created");
        let loaded = AuditKey::load_or_create(&path).expect("the key is loaded");
        assert_eq!(created.public_key(), loaded.public_key());
        let from_file = AuditKey::from_file(&path).expect("the key file reads");
        assert_eq!(created.public_key(), from_file.public_key());
        let text = fs::read_to_string(&path).expect("the key file reads as text");
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_file_without_newline_loads_and_a_malformed_one_is_refused_without_echo() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("audit.key");
        fs::write(&path, "11".repeat(32)).expect("write");
        AuditKey::from_file(&path).expect("64 hex characters are a key");
        fs::write(&path, "zz".repeat(32)).expect("write");
        let error = AuditKey::from_file(&path).expect_err("not hex").to_string();
        assert!(!error.contains("zzzz"), "{error}");
        fs::write(&path, "11".repeat(31)).expect("write");
        assert!(AuditKey::from_file(&path).is_err());
    }

    #[test]
    fn a_public_key_round_trips_through_hex_and_has_a_16_character_id() {
        let key = AuditKey::generate().public_key();
        let parsed = PublicKey::from_hex(&key.to_hex()).expect("its own hex parses");
        assert_eq!(parsed, key);
        assert_eq!(key.key_id().len(), 16);
        assert_eq!(
            key.key_id(),
            hex::encode(Sha256::digest(hex::decode(key.to_hex()).expect("hex")))[..16]
        );
        assert_ne!(key.key_id(), AuditKey::generate().public_key().key_id());
    }

    #[test]
    fn a_public_key_argument_is_hex_or_a_file_holding_hex() {
        let key = AuditKey::generate().public_key();
        assert_eq!(PublicKey::from_arg(&key.to_hex()).expect("hex"), key);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("audit.pub");
        fs::write(&path, format!("{}\n", key.to_hex())).expect("write");
        let arg = path.to_str().expect("a UTF-8 path");
        assert_eq!(PublicKey::from_arg(arg).expect("a key file"), key);
        assert!(PublicKey::from_arg("no-such-file").is_err());
        assert!(PublicKey::from_hex("00").is_err());
    }

    #[test]
    fn a_weak_public_key_is_refused() {
        // The identity point: a small-order key under which forged signatures verify.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(PublicKey::from_hex(&hex::encode(identity)).is_err());
    }
}

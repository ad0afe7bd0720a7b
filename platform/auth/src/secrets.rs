//! Opaque secrets: refresh, email-verification and password-reset tokens, OAuth `state` and
//! `nonce`. The holder gets the token; we store only its SHA-256 and compare in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Random bytes in one opaque token: 256 bits, beyond any guessing or birthday bound.
pub const OPAQUE_TOKEN_BYTES: usize = 32;

/// A fresh token of 256 random bits, base64url without padding (43 characters), safe in URLs,
/// headers and cookies. Never log it; store [`token_sha256`] of it.
pub fn new_opaque_token() -> String {
    let mut bytes = [0u8; OPAQUE_TOKEN_BYTES];
    // ThreadRng is a CSPRNG seeded from the operating system and reseeded periodically.
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The lower-case hex SHA-256 of a token: the form that is stored and looked up. A token has 256
/// bits of entropy, so an unsalted fast hash is enough (unlike passwords).
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// first differ. Lengths are not secret here (hashes and tokens have fixed lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opaque_token_is_43_url_safe_characters_and_never_repeats() {
        let a = new_opaque_token();
        let b = new_opaque_token();
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("base64url").len(), 32);
    }

    #[test]
    fn the_stored_form_is_the_hex_sha256_of_the_token() {
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
        assert!(!constant_time_eq(b"same", b"same!"));
        assert!(constant_time_eq(b"", b""));
    }
}

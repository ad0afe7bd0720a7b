//! Deterministic generation of a batch of unique codes.
//!
//! `decide` must stay pure, so the randomness comes from a seed in the command (the back office
//! draws it). The same prefix, count and seed always give the same codes, so a retried command
//! decides the same events. The generated codes are recorded in the event itself: replaying a
//! stream never runs the generator, which may therefore change without changing history.

use std::collections::BTreeSet;

use crate::PromotionCode;

/// The characters of the random part: upper-case letters and digits without the easily
/// confused `0 O 1 I` (32 symbols, so each character carries 5 bits).
pub const CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Random characters per code: 40 bits, so even 10 000 codes are unguessable by trying.
pub const RANDOM_CHARS: usize = 8;
/// Longest prefix of a generated code.
pub const MAX_PREFIX_CHARS: usize = 16;

/// SplitMix64 (Steele, Lea and Flood): a tiny, well-mixed generator that needs no crate. The
/// codes need to be unpredictable to shoppers, not cryptographic: the seed is the secret.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `count` distinct codes `PREFIX-XXXXXXXX`, in generation order, or `None` when the prefix
/// is not a valid code start (empty or at most [`MAX_PREFIX_CHARS`] of `A-Z 0-9 - _`, upper
/// case after trimming). A duplicate draw is skipped, so the batch always has `count` codes.
pub fn generate_codes(prefix: &str, count: u32, seed: u64) -> Option<Vec<PromotionCode>> {
    let prefix = prefix.trim().to_ascii_uppercase();
    if prefix.len() > MAX_PREFIX_CHARS
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_".contains(&b))
    {
        return None;
    }
    let mut rng = SplitMix64(seed);
    let mut seen = BTreeSet::new();
    let mut codes = Vec::with_capacity(count as usize);
    while codes.len() < count as usize {
        let bits = rng.next();
        let random: String = (0..RANDOM_CHARS)
            .map(|i| CODE_ALPHABET[((bits >> (5 * i)) & 31) as usize] as char)
            .collect();
        let text = if prefix.is_empty() {
            random
        } else {
            format!("{prefix}-{random}")
        };
        let code = PromotionCode::parse(&text).ok()?;
        if seen.insert(code.clone()) {
            codes.push(code);
        }
    }
    Some(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_codes() {
        let a = generate_codes("spring", 50, 42);
        assert_eq!(a, generate_codes("SPRING", 50, 42));
        assert_ne!(a, generate_codes("SPRING", 50, 43));
        let a = a.unwrap_or_default();
        assert_eq!(a.len(), 50);
        assert!(a.iter().all(|c| c.as_str().starts_with("SPRING-")
            && c.as_str().len() == "SPRING-".len() + RANDOM_CHARS));
    }

    #[test]
    fn a_batch_has_no_duplicates() {
        let codes = generate_codes("", 10_000, 7).unwrap_or_default();
        let distinct: BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10_000);
    }

    #[test]
    fn a_bad_prefix_is_refused() {
        assert_eq!(generate_codes("has space", 1, 1), None);
        assert_eq!(generate_codes(&"P".repeat(17), 1, 1), None);
    }
}

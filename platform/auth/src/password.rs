//! Passwords: argon2id hashing into PHC strings, verification, rehash detection and the
//! registration policy (NIST SP 800-63B: length and blocklists, no composition rules).

use std::sync::OnceLock;

use agora_kernel::{DomainError, ErrorKind};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

/// Fewest characters (Unicode scalar values) a new password may have. NIST asks for at least 8;
/// we ask for 12 because we rate-limit but cannot rule out an offline attack on a leaked table.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters a password may have. NIST asks to accept at least 64; the cap also bounds the
/// work an attacker can make argon2's initial BLAKE2b pass do.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// A password longer than this many bytes is never hashed or verified (128 characters of at most
/// 4 UTF-8 bytes each), so a login request cannot make us hash megabytes.
const MAX_PASSWORD_BYTES: usize = MAX_PASSWORD_CHARS * 4;
/// Fewest distinct characters a new password needs (`aaaaaaaaaaaa`, `abababababab` are refused).
pub const MIN_DISTINCT_CHARS: usize = 5;
/// The email's local part is only searched for in the password when it has at least this many
/// characters; shorter ones (`al@…`) would refuse innocent passwords.
const MIN_EMAIL_PART_CHARS: usize = 4;
/// Salt length in bytes (argon2's recommended 16).
const SALT_BYTES: usize = 16;

/// Bounds on parameters read back from a stored PHC string: a corrupted or planted row must not
/// make one verification allocate gigabytes or run for minutes.
const MAX_STORED_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_STORED_ITERATIONS: u32 = 64;
const MAX_STORED_PARALLELISM: u32 = 64;

/// OWASP's Password Storage Cheat Sheet lists these argon2id (memory KiB, iterations) pairs as
/// equally acceptable minimums, all with parallelism 1. Parameters at or above any one row pass.
pub const OWASP_ARGON2ID_MINIMUMS: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

/// The most common passwords (one a line, lower case), from public breach-frequency lists.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Runs of characters that people type as "passwords"; any 12-character slice of one is refused.
const SEQUENCES: [&str; 6] = [
    "abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba",
    "012345678901234567890",
    "098765432109876543210",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
];

/// argon2id cost parameters. The defaults are OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory per hash in KiB; the main cost for an attacker with GPUs.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes; 1 keeps one login on one core so that logins, not lanes, use the cores.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// Whether these parameters reach at least one row of OWASP's argon2id minimums.
    pub fn meets_owasp_minimum(&self) -> bool {
        self.parallelism >= 1
            && OWASP_ARGON2ID_MINIMUMS
                .iter()
                .any(|&(m, t)| self.memory_kib >= m && self.iterations >= t)
    }

    fn to_argon2(self) -> Result<Params, HashError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|_| HashError::InvalidParams)
    }
}

/// Why hashing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The parameters are below OWASP's argon2id minimum or out of argon2's range.
    #[error("argon2id parameters are below the OWASP minimum or out of range")]
    InvalidParams,
    /// The password is longer than [`MAX_PASSWORD_CHARS`]; it is refused before any hashing.
    #[error("the password is longer than {MAX_PASSWORD_CHARS} characters")]
    PasswordTooLong,
    /// argon2 itself failed (it cannot with valid parameters; kept so nothing panics).
    #[error("password hashing failed")]
    Hashing,
}

impl DomainError for HashError {
    fn code(&self) -> &'static str {
        match self {
            HashError::InvalidParams => "auth.invalid_hash_params",
            HashError::PasswordTooLong => "auth.password_too_long",
            HashError::Hashing => "auth.hashing_failed",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            HashError::PasswordTooLong => ErrorKind::Invalid,
            HashError::InvalidParams | HashError::Hashing => ErrorKind::Internal,
        }
    }
}

/// Hashes and verifies passwords with argon2id at fixed parameters.
pub struct PasswordHasher {
    /// The parameters of every new hash; stored hashes below them need a rehash.
    params: Argon2Params,
    /// The argon2 context built from `params` once.
    argon2: Argon2<'static>,
    /// A PHC string of a random password at `params`, verified against for unknown emails so
    /// that their logins take as long as real ones. Made on first use: constructing stays cheap.
    dummy_phc: OnceLock<String>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        // The default parameters are OWASP's row itself, so construction cannot fail; build the
        // context directly rather than unwrap.
        let params = Argon2Params::default();
        PasswordHasher {
            params,
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT),
            dummy_phc: OnceLock::new(),
        }
    }
}

impl PasswordHasher {
    /// A hasher at `params`, refused when they are below OWASP's argon2id minimums.
    pub fn new(params: Argon2Params) -> Result<Self, HashError> {
        if !params.meets_owasp_minimum() {
            return Err(HashError::InvalidParams);
        }
        Self::new_unchecked(params)
    }

    /// Skips the OWASP check: only for this crate's tests, which need cheap hashes.
    fn new_unchecked(params: Argon2Params) -> Result<Self, HashError> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.to_argon2()?);
        Ok(PasswordHasher {
            params,
            argon2,
            dummy_phc: OnceLock::new(),
        })
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Hashes `password` with a fresh random salt into a PHC string
    /// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). The policy is not checked here.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        if password.len() > MAX_PASSWORD_BYTES || password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(HashError::PasswordTooLong);
        }
        let mut salt = [0u8; SALT_BYTES];
        // ThreadRng is a CSPRNG seeded from the OS, reseeded periodically.
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|_| HashError::Hashing)?;
        let phc = self
            .argon2
            .hash_password(password.as_bytes(), &salt)
            .map_err(|_| HashError::Hashing)?;
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `phc`, using the parameters stored in it.
    /// argon2 compares the outputs in constant time. A malformed PHC string, one with absurd
    /// parameters, or an over-long password gives `false`.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let Ok(stored) = Params::try_from(&parsed) else {
            return false;
        };
        if stored.m_cost() > MAX_STORED_MEMORY_KIB
            || stored.t_cost() > MAX_STORED_ITERATIONS
            || stored.p_cost() > MAX_STORED_PARALLELISM
        {
            return false;
        }
        self.argon2
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    /// Spends the time of one verification at the current parameters and returns nothing:
    /// call it when a login names an unknown email, so that the reply time does not tell
    /// whether an account exists.
    pub fn verify_dummy(&self, password: &str) {
        // Clamp like `verify` does, so an over-long password is as fast for unknown emails as
        // for known ones (both refuse it before hashing).
        if password.len() > MAX_PASSWORD_BYTES {
            return;
        }
        let phc = self.dummy_phc.get_or_init(|| {
            let mut random = [0u8; 32];
            rand::rng().fill_bytes(&mut random);
            // Hashing a 64-character password cannot fail at valid parameters; on the
            // impossible failure the PHC stays empty and verification below is simply fast.
            self.hash(&hex::encode(random)).unwrap_or_default()
        });
        let _ = std::hint::black_box(self.verify(password, phc));
    }

    /// Whether a stored PHC string should be replaced by a fresh hash at the next successful
    /// login: it is not argon2id v19, any cost is below the current one, or it does not parse.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        if parsed.algorithm != argon2::ARGON2ID_IDENT
            || parsed.version != Some(Version::V0x13 as u32)
        {
            return true;
        }
        let Ok(stored) = Params::try_from(&parsed) else {
            return true;
        };
        stored.m_cost() < self.params.memory_kib
            || stored.t_cost() < self.params.iterations
            || stored.p_cost() < self.params.parallelism
            || stored.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
                < Params::DEFAULT_OUTPUT_LEN
    }
}

/// Why a new password is refused. Codes are stable; the edge shows the message to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password may have at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password is among the most common passwords")]
    TooCommon,
    #[error("the password contains your email address")]
    ContainsEmail,
    #[error("the password needs at least {MIN_DISTINCT_CHARS} different characters")]
    Repetitive,
}

impl DomainError for PolicyError {
    fn code(&self) -> &'static str {
        match self {
            PolicyError::TooShort => "auth.password_too_short",
            PolicyError::TooLong => "auth.password_too_long",
            PolicyError::TooCommon => "auth.password_too_common",
            PolicyError::ContainsEmail => "auth.password_contains_email",
            PolicyError::Repetitive => "auth.password_repetitive",
        }
    }
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

/// Checks a new password (registration, reset, change) against NIST SP 800-63B: a length range,
/// a blocklist of common passwords and keyboard runs, context words (the email) and repetition.
/// No composition rules (digits, symbols, cases): they make passwords worse, not stronger.
/// Rules are checked cheapest first; the first that fails is returned.
pub fn check_password_policy(password: &str, email: &str) -> Result<(), PolicyError> {
    let chars = password.chars().count();
    if chars > MAX_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(PolicyError::TooLong);
    }
    if chars < MIN_PASSWORD_CHARS {
        return Err(PolicyError::TooShort);
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return Err(PolicyError::Repetitive);
    }
    let lower = password.to_lowercase();
    if email_parts(email)
        .iter()
        .any(|part| lower.contains(part.as_str()))
    {
        return Err(PolicyError::ContainsEmail);
    }
    if is_common(&lower) {
        return Err(PolicyError::TooCommon);
    }
    Ok(())
}

/// The lower-case forms of the email's local part worth searching for: the whole part, the part
/// before a `+tag`, and the part without `.`/`_`/`-` separators; each only if long enough.
fn email_parts(email: &str) -> Vec<String> {
    let local = email
        .rsplit_once('@')
        .map_or(email, |(local, _)| local)
        .trim()
        .to_lowercase();
    let untagged = local.split('+').next().unwrap_or("").to_string();
    let joined: String = untagged
        .chars()
        .filter(|c| !matches!(c, '.' | '_' | '-'))
        .collect();
    let mut parts = vec![local, untagged, joined];
    parts.retain(|p| p.chars().count() >= MIN_EMAIL_PART_CHARS);
    parts.dedup();
    parts
}

/// Whether a lower-cased password is on the list, is a common password with digits or symbols
/// appended (`password2024!`), or is a slice of a keyboard or alphabet run.
fn is_common(lower: &str) -> bool {
    let listed = |candidate: &str| {
        !candidate.is_empty()
            && COMMON_PASSWORDS
                .lines()
                .map(str::trim)
                .any(|line| !line.starts_with('#') && line == candidate)
    };
    if listed(lower) {
        return true;
    }
    let stem = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    if stem.chars().count() >= 4 && listed(stem) {
        return true;
    }
    SEQUENCES.iter().any(|run| run.contains(lower))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters so the tests that do not exercise the defaults stay fast in debug builds.
    fn cheap() -> PasswordHasher {
        PasswordHasher::new_unchecked(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .expect("valid cheap params")
    }

    #[test]
    fn a_password_hashed_with_the_defaults_verifies_and_a_wrong_one_does_not() {
        let hasher = PasswordHasher::default();
        let phc = hasher.hash("correct horse battery").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse battery", &phc));
        assert!(!hasher.verify("correct horse batterz", &phc));
        assert!(!hasher.needs_rehash(&phc));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_their_salt() {
        let hasher = cheap();
        let a = hasher.hash("same password here").expect("hash");
        let b = hasher.hash("same password here").expect("hash");
        assert_ne!(a, b);
        assert!(hasher.verify("same password here", &a));
        assert!(hasher.verify("same password here", &b));
    }

    #[test]
    fn a_malformed_or_absurd_phc_string_never_verifies() {
        let hasher = cheap();
        assert!(!hasher.verify("anything at all", ""));
        assert!(!hasher.verify("anything at all", "plaintext-password"));
        assert!(!hasher.verify("anything at all", "$argon2id$v=19$m=64,t=1,p=1$bad$bad"));
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!hasher.verify("anything at all", huge));
        assert!(hasher.needs_rehash("not a phc string"));
    }

    #[test]
    fn a_hash_made_with_weaker_parameters_needs_a_rehash() {
        let weak = cheap().hash("an old password!").expect("hash");
        let current = PasswordHasher::default();
        // Still verifies (parameters come from the PHC string) but must be upgraded.
        assert!(current.verify("an old password!", &weak));
        assert!(current.needs_rehash(&weak));

        let fewer_passes = PasswordHasher::new(Argon2Params {
            memory_kib: 47_104,
            iterations: 1,
            parallelism: 1,
        })
        .expect("an OWASP row")
        .hash("another password")
        .expect("hash");
        assert!(current.needs_rehash(&fewer_passes));
    }

    #[test]
    fn an_argon2i_hash_needs_a_rehash_to_argon2id() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::DEFAULT)
            .hash_password(b"legacy password", &salt)
            .expect("hash")
            .to_string();
        assert!(PasswordHasher::default().needs_rehash(&argon2i));
    }

    #[test]
    fn parameters_below_the_owasp_minimum_are_refused() {
        let weak = Argon2Params {
            memory_kib: 19_456,
            iterations: 1,
            parallelism: 1,
        };
        assert_eq!(
            PasswordHasher::new(weak).err(),
            Some(HashError::InvalidParams)
        );
        assert!(Argon2Params::default().meets_owasp_minimum());
        for (m, t) in OWASP_ARGON2ID_MINIMUMS {
            let row = Argon2Params {
                memory_kib: m,
                iterations: t,
                parallelism: 1,
            };
            assert!(row.meets_owasp_minimum(), "{row:?}");
        }
    }

    #[test]
    fn an_over_long_password_is_refused_before_hashing() {
        let hasher = cheap();
        let long = "x".repeat(MAX_PASSWORD_CHARS + 1);
        assert_eq!(hasher.hash(&long), Err(HashError::PasswordTooLong));
        let phc = hasher.hash(&"y".repeat(MAX_PASSWORD_CHARS)).expect("hash");
        assert!(!hasher.verify(&"y".repeat(10_000), &phc));
    }

    #[test]
    fn the_dummy_verification_uses_a_hash_at_the_current_parameters() {
        // A verification's cost depends only on the parameters in the PHC string, so a dummy
        // hash at the current parameters costs what a real login costs (timing is not asserted:
        // the machine is shared).
        let hasher = PasswordHasher::default();
        hasher.verify_dummy("someone@unknown.example's guess");
        let dummy = hasher.dummy_phc.get().expect("made on first use");
        assert!(
            dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{dummy}"
        );
        assert!(!hasher.needs_rehash(dummy));
    }

    fn check(password: &str, email: &str, expected: Result<(), PolicyError>) {
        assert_eq!(
            check_password_policy(password, email),
            expected,
            "password {password:?}, email {email:?}"
        );
    }

    #[test]
    fn a_long_unusual_password_passes_the_policy() {
        check("violet tractor sings", "alice@example.com", Ok(()));
        check("Zürich-Tram-Nr-11", "bob@example.com", Ok(()));
    }

    #[test]
    fn a_password_under_twelve_characters_is_too_short() {
        check("k9#mQ2$vL7!", "a@example.com", Err(PolicyError::TooShort));
        // Characters, not bytes: eleven two-byte letters are still too short.
        check("äöüßéèêëïîô", "a@example.com", Err(PolicyError::TooShort));
    }

    #[test]
    fn a_password_over_128_characters_is_too_long() {
        let long: String = "abcdefghij".repeat(13);
        check(&long, "a@example.com", Err(PolicyError::TooLong));
        check(&long[..128], "a@example.com", Ok(()));
    }

    #[test]
    fn a_common_password_is_refused_even_with_digits_appended() {
        check("password1234", "a@example.com", Err(PolicyError::TooCommon));
        check(
            "Iloveyou2024!",
            "a@example.com",
            Err(PolicyError::TooCommon),
        );
        check(
            "qwertyuiop123",
            "a@example.com",
            Err(PolicyError::TooCommon),
        );
        check(
            "abcdefghijklmn",
            "a@example.com",
            Err(PolicyError::TooCommon),
        );
        check("123456789012", "a@example.com", Err(PolicyError::TooCommon));
    }

    #[test]
    fn the_common_password_list_has_at_least_200_entries() {
        let entries = COMMON_PASSWORDS
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert!(entries >= 200, "{entries}");
        assert!(COMMON_PASSWORDS
            .lines()
            .all(|l| l.starts_with('#') || l == l.to_lowercase().trim()));
    }

    #[test]
    fn a_password_containing_the_email_local_part_is_refused() {
        check(
            "MyNameIsAlice!!",
            "alice@example.com",
            Err(PolicyError::ContainsEmail),
        );
        check(
            "xx-john.smith-xx",
            "John.Smith+shop@example.com",
            Err(PolicyError::ContainsEmail),
        );
        check(
            "johnsmith-rocks",
            "john.smith@example.com",
            Err(PolicyError::ContainsEmail),
        );
        // A local part shorter than four characters is not searched for.
        check("bob is my uncle", "bob@example.com", Ok(()));
    }

    #[test]
    fn a_password_with_fewer_than_five_distinct_characters_is_repetitive() {
        check(
            "aaaaaaaaaaaaaaaa",
            "a@example.com",
            Err(PolicyError::Repetitive),
        );
        check(
            "abcdabcdabcdabcd",
            "a@example.com",
            Err(PolicyError::Repetitive),
        );
        check("abcdeabcdeabcde", "a@example.com", Ok(()));
    }

    #[test]
    fn policy_codes_are_stable() {
        let codes = [
            PolicyError::TooShort,
            PolicyError::TooLong,
            PolicyError::TooCommon,
            PolicyError::ContainsEmail,
            PolicyError::Repetitive,
        ]
        .map(|e| e.code());
        assert_eq!(
            codes,
            [
                "auth.password_too_short",
                "auth.password_too_long",
                "auth.password_too_common",
                "auth.password_contains_email",
                "auth.password_repetitive",
            ]
        );
        assert_eq!(PolicyError::TooShort.kind(), ErrorKind::Invalid);
    }
}

//! Turning query text into words, the way both backends are meant to see them.
//!
//! Meilisearch splits on separators, matches the last word as a prefix (unless the query ends
//! with a separator), allows one typo in words of five letters or more and considers only the
//! first ten words. Postgres gets the same words from here: each becomes a `tsquery` lexeme made
//! only of alphanumeric characters, so no query text can be read as `tsquery` syntax.

/// Meilisearch ignores query words past the tenth; so do we.
pub(crate) const MAX_WORDS: usize = 10;
/// Words at least this long may match with one typo (Meilisearch's default `oneTypo`).
pub(crate) const MIN_CHARS_FOR_TYPO: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    /// Lower-case, alphanumeric only.
    pub text: String,
    /// The last word of a query still being typed matches any word it starts.
    pub prefix: bool,
    /// Long enough to match with one typo.
    pub fuzzy: bool,
}

impl Word {
    /// This word as a `tsquery` operand (`coffee` or `coff:*`).
    pub fn tsquery(&self) -> String {
        if self.prefix {
            format!("{}:*", self.text)
        } else {
            self.text.clone()
        }
    }
}

pub(crate) fn words(q: &str) -> Vec<Word> {
    let mut words: Vec<Word> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(|w| {
            let text = w.to_lowercase();
            let fuzzy = text.chars().count() >= MIN_CHARS_FOR_TYPO;
            Word {
                text,
                prefix: false,
                fuzzy,
            }
        })
        .collect();
    let still_typing = q.chars().last().is_some_and(char::is_alphanumeric);
    if let Some(last) = words.last_mut() {
        last.prefix = still_typing;
    }
    words
}

/// All words must match: `a & b & c:*`.
pub(crate) fn all_words_tsquery(words: &[Word]) -> String {
    words
        .iter()
        .map(Word::tsquery)
        .collect::<Vec<_>>()
        .join(" & ")
}

/// The words joined by single spaces, for trigram similarity against the title.
pub(crate) fn plain(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_tsquery_operators_are_dropped() {
        let w = words("COF-ETH-250 & 'x' | !(y):* ");
        let texts: Vec<_> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["cof", "eth", "250", "x", "y"]);
        assert_eq!(all_words_tsquery(&w), "cof & eth & 250 & x & y");
    }

    #[test]
    fn the_last_word_is_a_prefix_while_it_is_being_typed() {
        assert_eq!(all_words_tsquery(&words("french pre")), "french & pre:*");
        assert_eq!(all_words_tsquery(&words("french press ")), "french & press");
    }

    #[test]
    fn only_words_of_five_letters_or_more_allow_a_typo() {
        let w = words("tea cofee");
        assert!(!w[0].fuzzy);
        assert!(w[1].fuzzy);
    }

    #[test]
    fn words_past_the_tenth_are_ignored() {
        let q = (0..15)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(words(&q).len(), MAX_WORDS);
    }

    #[test]
    fn a_query_of_only_separators_has_no_words() {
        assert!(words(" -- !! ").is_empty());
    }
}

//! Turning query text into words, the way both backends are meant to see them.
//!
//! Meilisearch splits on separators, matches the last word as a prefix (unless the query ends
//! with a separator), allows one typo in words of five letters or more and two from nine
//! letters (a typo being an inserted, deleted, replaced or swapped letter; one on the first
//! letter counts twice) and considers only the first ten words. Postgres gets the same words from here: each becomes a `tsquery` lexeme made
//! only of alphanumeric characters, so no query text can be read as `tsquery` syntax.

/// Meilisearch ignores query words past the tenth; so do we.
pub(crate) const MAX_WORDS: usize = 10;
/// Words at least this long may match with one typo (Meilisearch's default `oneTypo`).
pub(crate) const MIN_CHARS_FOR_TYPO: usize = 5;
/// Words at least this long may match with two typos (Meilisearch's default `twoTypos`).
pub(crate) const MIN_CHARS_FOR_TWO_TYPOS: usize = 9;
/// At most this many known words stand in for one mistyped query word, closest first.
pub(crate) const MAX_CORRECTIONS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    /// Lower-case, alphanumeric only.
    pub text: String,
    /// The last word of a query still being typed matches any word it starts.
    pub prefix: bool,
}

impl Word {
    /// How many typos this word may carry: 0, 1 or 2.
    pub fn typos(&self) -> usize {
        let chars = self.text.chars().count();
        if chars >= MIN_CHARS_FOR_TWO_TYPOS {
            2
        } else if chars >= MIN_CHARS_FOR_TYPO {
            1
        } else {
            0
        }
    }

    /// Whether the known word `candidate` matches this word with at most [`Word::typos`]
    /// typos, and with how many. An exact match (or, for a prefix, a word it starts) is
    /// `Some(0)`. A typo on the first letter counts twice, as in Meilisearch; for a prefix the
    /// candidate's best-matching start is compared.
    pub fn typo_distance(&self, candidate: &str) -> Option<usize> {
        let allowed = self.typos();
        let query: Vec<char> = self.text.chars().collect();
        let word: Vec<char> = candidate.chars().collect();
        let (Some(q0), Some(w0)) = (query.first(), word.first()) else {
            return None;
        };
        let first = usize::from(q0 != w0);
        let distance = |w: &[char]| {
            let w: String = w.iter().collect();
            strsim::osa_distance(&self.text, &w) + first
        };
        let best = if self.prefix {
            let shortest = query.len().saturating_sub(allowed).max(1);
            let longest = (query.len() + allowed).min(word.len());
            (shortest..=longest).map(|n| distance(&word[..n])).min()?
        } else {
            distance(&word)
        };
        (best <= allowed).then_some(best)
    }

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
        .map(|w| Word {
            text: w.to_lowercase(),
            prefix: false,
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

/// Every word must match, each as itself or as one of its `corrections` (known words within
/// its typo budget, given per word in the same order): `(cofee | coffee) & mug:*`.
/// Corrections are lexemes of the index, alphabetic only, so they are safe `tsquery` operands.
pub(crate) fn matching_tsquery(words: &[Word], corrections: &[Vec<String>]) -> String {
    words
        .iter()
        .enumerate()
        .map(
            |(i, w)| match corrections.get(i).filter(|c| !c.is_empty()) {
                None => w.tsquery(),
                Some(c) => format!("({} | {})", w.tsquery(), c.join(" | ")),
            },
        )
        .collect::<Vec<_>>()
        .join(" & ")
}

/// The known words that `word` may stand for: within its typo budget, not already matched by
/// the word itself (equal, or started by a prefix), closest first then alphabetical, at most
/// [`MAX_CORRECTIONS`].
pub(crate) fn corrections<'a>(
    word: &Word,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut found: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|c| {
            if word.prefix {
                !c.starts_with(word.text.as_str())
            } else {
                *c != word.text
            }
        })
        .filter_map(|c| word.typo_distance(c).map(|d| (d, c)))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
        .into_iter()
        .take(MAX_CORRECTIONS)
        .map(|(_, c)| c.to_string())
        .collect()
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
        assert_eq!(w[0].typos(), 0);
        assert_eq!(w[1].typos(), 1);
    }

    #[test]
    fn words_past_the_tenth_are_ignored() {
        let q = (0..15)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(words(&q).len(), MAX_WORDS);
    }

    fn word(text: &str, prefix: bool) -> Word {
        let mut w = words(text).remove(0);
        w.prefix = prefix;
        w
    }

    #[test]
    fn one_typo_from_five_letters_two_from_nine() {
        assert_eq!(word("lamp", false).typos(), 0);
        assert_eq!(word("cofee", false).typos(), 1);
        assert_eq!(word("espresso", false).typos(), 1);
        assert_eq!(word("bookshelf", false).typos(), 2);
    }

    #[test]
    fn a_typo_is_an_insertion_deletion_replacement_or_swap() {
        let cases = [
            ("cofee", "coffee", Some(1)),
            ("blendr", "blender", Some(1)),
            ("jaket", "jacket", Some(1)),
            ("latop", "laptop", Some(1)),
            ("ketlte", "kettle", Some(1)),
            ("toastr", "toaster", Some(1)),
            ("coffee", "coffee", Some(0)),
            ("cofe", "coffee", None),
            ("blendrr", "blender", Some(1)),
            ("bleder", "blunder", None),
            ("bokshelff", "bookshelf", Some(2)),
            ("boookshelff", "bookshelf", Some(2)),
            ("bokshelv", "bookshelf", None),
            ("bookkshelv", "bookshelf", Some(2)),
            ("bkkshef", "bookshelf", None),
        ];
        for (query, known, expected) in cases {
            assert_eq!(
                word(query, false).typo_distance(known),
                expected,
                "{query} ~ {known}"
            );
        }
    }

    #[test]
    fn a_typo_on_the_first_letter_counts_twice() {
        assert_eq!(word("vlender", false).typo_distance("blender"), None);
        assert_eq!(word("vookshelf", false).typo_distance("bookshelf"), Some(2));
    }

    #[test]
    fn a_prefix_matches_the_start_of_a_known_word_with_typos() {
        assert_eq!(word("blendr", true).typo_distance("blenders"), Some(1));
        assert_eq!(word("espres", true).typo_distance("espresso"), Some(0));
        assert_eq!(word("epsres", true).typo_distance("espresso"), Some(1));
        assert_eq!(word("blendr", false).typo_distance("blenders"), None);
    }

    #[test]
    fn corrections_leave_out_what_the_word_matches_itself_and_come_closest_first() {
        let known = ["coffee", "cofee", "coffees", "toffee", "cover"];
        assert_eq!(corrections(&word("cofee", false), known), ["coffee"]);
        assert_eq!(
            corrections(&word("cofee", true), known),
            ["coffee", "coffees"]
        );
    }

    #[test]
    fn the_matching_query_puts_corrections_beside_each_word() {
        let w = words("cofee mug");
        let c = vec![vec!["coffee".to_string()], vec![]];
        assert_eq!(matching_tsquery(&w, &c), "(cofee | coffee) & mug:*");
        assert_eq!(matching_tsquery(&w, &[]), "cofee & mug:*");
    }

    #[test]
    fn a_query_of_only_separators_has_no_words() {
        assert!(words(" -- !! ").is_empty());
    }
}

//! Words as every search sees them: lower-case, diacritics folded ("Café"
//! is "cafe"), a light English stem ("printers" is "printer"), the most
//! common English words left out. Article search and the blind word index
//! of sealed records both stand on it, so a word typed in one search box
//! means the same in every other.

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Words too common to say anything: left out of queries, and out of the
/// blind index (where they would be the easiest hashes to guess by frequency).
pub const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "my", "of", "on", "or", "the", "to", "what", "when", "why", "with",
];

/// Longest prefix the blind index keeps of a word: a longer query word is
/// cut to it (the few words sharing their first twelve letters share a hash).
pub const MAX_PREFIX: usize = 12;
/// Shortest prefix the blind index keeps ("pri" finds "printer").
pub const MIN_PREFIX: usize = 3;
/// Most words a query keeps.
pub const MAX_QUERY_TERMS: usize = 8;

/// The words of a text as written: runs of letters and digits.
pub fn raw_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// One word lower-cased with its diacritics folded away.
pub fn fold(word: &str) -> String {
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A light English stem: plural and verb endings off, never below three letters.
pub fn stem(word: &str) -> String {
    if !word.is_ascii() || word.len() <= 4 {
        return word.to_string();
    }
    for suffix in ["ies", "ing", "es", "ed", "s"] {
        if let Some(base) = word.strip_suffix(suffix)
            && base.len() >= 3
            && !(suffix == "s" && base.ends_with('s'))
        {
            return base.to_string();
        }
    }
    word.to_string()
}

/// The first `n` characters of `word`.
fn head(word: &str, n: usize) -> &str {
    word.char_indices().nth(n).map_or(word, |(i, _)| &word[..i])
}

/// The terms of `text` a blind index stores, added to `out`: for each
/// meaningful word (two characters or more, not a stop word), every
/// prefix of its stem from [`MIN_PREFIX`] to [`MAX_PREFIX`] characters, or
/// the whole word when it is shorter. Digits joined by spaces or dashes
/// ("+44 20 7946 0958") also count as one word, so a phone number is found
/// however it is typed.
pub fn index_terms(text: &str, out: &mut std::collections::BTreeSet<String>) {
    for raw in raw_words(text) {
        let word = stem(&fold(raw));
        let len = word.chars().count();
        if len < 2 || STOP_WORDS.contains(&word.as_str()) {
            continue;
        }
        if len < MIN_PREFIX {
            out.insert(word);
            continue;
        }
        for n in MIN_PREFIX..=len.min(MAX_PREFIX) {
            out.insert(head(&word, n).to_string());
        }
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if numeric && digits.len() >= MIN_PREFIX && raw_words(text).nth(1).is_some() {
        for n in MIN_PREFIX..=digits.len().min(MAX_PREFIX) {
            out.insert(digits[..n].to_string());
        }
    }
}

/// The terms of a query, each to be found as a prefix of a stored word:
/// folded, stemmed and cut like the index's, stop words left out (unless
/// nothing else is left), one-letter words always, at most
/// [`MAX_QUERY_TERMS`]. Empty when nothing is searchable.
pub fn query_terms(q: &str) -> Vec<String> {
    let all: Vec<String> = raw_words(q)
        .map(|w| stem(&fold(w)))
        .filter(|w| w.chars().count() >= 2)
        .collect();
    let meaningful: Vec<&String> = all
        .iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect();
    let mut terms: Vec<String> = Vec::new();
    for word in meaningful {
        let term = head(word, MAX_PREFIX).to_string();
        if !terms.contains(&term) {
            terms.push(term);
        }
        if terms.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    terms
}

/// Whether a written word is found by one of `terms` (from [`query_terms`]).
pub fn word_matches(raw: &str, terms: &[String]) -> bool {
    let word = stem(&fold(raw));
    terms.iter().any(|t| word.starts_with(t.as_str()))
}

/// About `width` words of `text` from a little before its first match,
/// HTML-escaped, matches wrapped in `<mark>`; empty when nothing matches.
pub fn snippet(text: &str, terms: &[String], width: usize) -> String {
    let hit = |t: &str| raw_words(t).any(|w| word_matches(w, terms));
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let Some(first) = tokens.iter().position(|t| hit(t)) else {
        return String::new();
    };
    window(&tokens, first, width, |token| {
        if hit(token) {
            format!("<mark>{}</mark>", escape(token))
        } else {
            escape(token)
        }
    })
}

/// The words of `text` around its first match, as plain text (from its
/// start when nothing matches).
pub fn excerpt(text: &str, terms: &[String], width: usize) -> String {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let first = tokens
        .iter()
        .position(|t| raw_words(t).any(|w| word_matches(w, terms)))
        .unwrap_or(0);
    window(&tokens, first, width, str::to_string)
}

/// `width` tokens from four before `first`, each as `show` writes it,
/// with `…` where words are left out.
fn window(tokens: &[&str], first: usize, width: usize, show: impl Fn(&str) -> String) -> String {
    let start = first.saturating_sub(4);
    let end = (start + width).min(tokens.len());
    let shown: Vec<String> = tokens[start..end].iter().map(|t| show(t)).collect();
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(&shown.join(" "));
    if end < tokens.len() {
        out.push('…');
    }
    out
}

/// Text safe inside HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_plain_text_around_the_first_match() {
        let terms = query_terms("printer");
        assert_eq!(
            excerpt(
                "one two three four five six the <b>Printers</b> jam",
                &terms,
                6
            ),
            "…four five six the <b>Printers</b> jam"
        );
        assert_eq!(excerpt("Printers", &terms, 6), "Printers");
    }
    use std::collections::BTreeSet;

    fn terms(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        index_terms(text, &mut out);
        out
    }

    #[test]
    fn words_are_folded_stemmed_and_cut_into_prefixes() {
        let t = terms("The Café's printers");
        assert!(t.contains("caf") && t.contains("cafe"), "{t:?}");
        assert!(t.contains("pri") && t.contains("printer"), "{t:?}");
        assert!(!t.contains("printers") && !t.contains("the") && !t.contains("s"));
        let long = terms("internationalization");
        assert!(long.contains("internationa") && long.iter().all(|w| w.len() <= MAX_PREFIX));
        assert!(terms("OS 17").contains("os"));
        let phone = terms("+44 20 7946 0958");
        assert!(
            phone.contains("442079460958") && phone.contains("7946"),
            "{phone:?}"
        );
        assert!(!terms("Ticket 20 of 44").contains("2044"));
    }

    #[test]
    fn queries_become_the_same_terms_as_the_index() {
        assert_eq!(
            query_terms("How do I fix PRINTERS?"),
            vec!["fix", "printer"]
        );
        assert_eq!(query_terms("Crème brûlée"), vec!["creme", "brulee"]);
        assert_eq!(query_terms("internationalisation"), vec!["internationa"]);
        assert!(query_terms("the a of").is_empty());
        assert!(
            query_terms("' OR 1=1 --")
                .iter()
                .all(|t| t.chars().all(char::is_alphanumeric))
        );
        assert!(query_terms(&"word ".repeat(100)).len() == 1);
        for q in ["Printers", "print", "updating"] {
            let mut stored = BTreeSet::new();
            index_terms("Printers stopped updating", &mut stored);
            assert!(query_terms(q).iter().all(|t| stored.contains(t)), "{q}");
        }
    }

    #[test]
    fn snippets_mark_matches_and_escape_the_rest() {
        let q = query_terms("printer");
        let s = snippet(
            "one two three <b>four</b> five six: the Printers jam",
            &q,
            6,
        );
        assert_eq!(
            s,
            "…&lt;b&gt;four&lt;/b&gt; five six: the <mark>Printers</mark> jam"
        );
        assert_eq!(snippet("nothing here", &q, 6), "");
    }
}

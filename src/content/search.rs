//! Full-text search, the same on both databases by construction: the text
//! is split into lower-case words here, in Rust, and stored that way, so
//! SQLite FTS5 and PostgreSQL's `simple` configuration see identical words.
//! A query is reduced to words too (nothing else of it reaches SQL), each
//! matched as a prefix of its light stem ("printers" finds "printer",
//! "updating" finds "updated"), all of them required. Ranking is the same
//! on both: every word in the title first, then in the summary, then
//! newest first. The database's index only finds which pieces hold every
//! term; which of them are live, and their order, is worked out here from
//! the live pieces' titles, summaries and publication times held in memory
//! ([`rank`]).

pub use crate::platform::words::escape;
use crate::platform::words::{STOP_WORDS, stem};

/// Words of a text for the index: lower-case letters and digits, one space apart.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in words(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    out
}

/// The words of a text as written: runs of letters and digits.
fn raw_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    raw_words(text).map(str::to_lowercase)
}

/// Plain text of a Markdown source: what a reader sees, without markup.
pub fn plain_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, Parser, TagEnd};
    let mut out = String::with_capacity(markdown.len());
    for event in Parser::new(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::TableCell,
            ) => out.push(' '),
            _ => {}
        }
    }
    out
}

pub const MAX_QUERY_CHARS: usize = 200;
const MAX_TERMS: usize = 8;
const MAX_TERM_CHARS: usize = 40;

/// A parsed query: the prefixes every match must contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<String>,
}

impl Query {
    /// `None` when nothing searchable is left (empty, or only punctuation).
    pub fn parse(q: &str) -> Option<Query> {
        let q: String = q.chars().take(MAX_QUERY_CHARS).collect();
        // One-letter prefixes match nearly everything and say nothing.
        let all: Vec<String> = words(&q)
            .filter(|w| (2..=MAX_TERM_CHARS).contains(&w.chars().count()))
            .collect();
        let meaningful: Vec<&String> = all
            .iter()
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .collect();
        let chosen: Vec<&String> = if meaningful.is_empty() {
            all.iter().collect()
        } else {
            meaningful
        };
        let mut terms: Vec<String> = Vec::new();
        for word in chosen {
            let stem = stem(word);
            if !terms.contains(&stem) {
                terms.push(stem);
            }
            if terms.len() == MAX_TERMS {
                break;
            }
        }
        (!terms.is_empty()).then_some(Query { terms })
    }

    /// Whether a word of `token` starts with a term, in any case. Terms
    /// are lower-case; most are ASCII, compared without lower-casing.
    fn matches(&self, token: &str) -> bool {
        raw_words(token).any(|w| {
            self.terms.iter().any(|t| {
                if t.is_ascii() {
                    w.as_bytes()
                        .get(..t.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(t.as_bytes()))
                } else {
                    w.to_lowercase().starts_with(t.as_str())
                }
            })
        })
    }

    /// About `width` words of `text` around the densest cluster of matches,
    /// HTML-escaped, matches wrapped in `<mark>`.
    pub fn snippet(&self, text: &str, width: usize) -> String {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        if tokens.is_empty() {
            return String::new();
        }
        let hits: Vec<bool> = tokens.iter().map(|t| self.matches(t)).collect();
        let width = width.min(tokens.len());
        let mut count = hits[..width].iter().filter(|h| **h).count();
        let (mut best_count, mut best_start) = (count, 0);
        for start in 1..=tokens.len() - width {
            count += usize::from(hits[start + width - 1]);
            count -= usize::from(hits[start - 1]);
            if count > best_count {
                (best_count, best_start) = (count, start);
            }
        }
        // Start a little before the first hit so it reads as a sentence,
        // as long as the last hit stays in.
        let window = best_start..best_start + width;
        if let (Some(first), Some(last)) = (
            window.clone().find(|&i| hits[i]),
            window.rev().find(|&i| hits[i]),
        ) {
            best_start = best_start
                .min(first.saturating_sub(4))
                .max((last + 1).saturating_sub(width));
        }
        let end = (best_start + width).min(tokens.len());
        let mut out = String::new();
        if best_start > 0 {
            out.push('…');
        }
        for (i, token) in tokens[best_start..end].iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            if hits[best_start + i] {
                // Mark the word, not the punctuation around it.
                let start = token.find(char::is_alphanumeric).unwrap_or(0);
                let end = token
                    .char_indices()
                    .rfind(|(_, c)| c.is_alphanumeric())
                    .map_or(token.len(), |(i, c)| i + c.len_utf8());
                out.push_str(&escape(&token[..start]));
                out.push_str("<mark>");
                out.push_str(&escape(&token[start..end]));
                out.push_str("</mark>");
                out.push_str(&escape(&token[end..]));
            } else {
                out.push_str(&escape(token));
            }
        }
        if end < tokens.len() {
            out.push('…');
        }
        out
    }
}

/// The pieces matching a query, in the order they are shown.
#[derive(Debug, PartialEq, Eq)]
pub struct Ranked {
    /// Ids of the first matches (as many as a visitor may page through).
    pub ids: Vec<i64>,
    /// How many live pieces match.
    pub total: i64,
}

crate::heap_size_of_fields!(Ranked { ids });
crate::heap_size_of_fields!(LivePiece { title, summary });
impl crate::platform::memory::HeapSize for LivePieces {
    fn heap_size(&self) -> usize {
        self.0.heap_size()
    }
}

impl Ranked {
    /// The ids on page `page_no` (from 1) of `per_page`.
    pub fn page(&self, page_no: usize, per_page: usize) -> &[i64] {
        let start = page_no.saturating_sub(1).saturating_mul(per_page);
        let end = start.saturating_add(per_page).min(self.ids.len());
        self.ids.get(start..end).unwrap_or_default()
    }
}

/// What ranking needs of one live piece.
#[derive(Debug, Clone)]
struct LivePiece {
    published: i64,
    /// Normalised words, each after a space, so `" term"` finds a word
    /// starting with the term.
    title: Box<str>,
    summary: Box<str>,
}

/// Every live piece, by id: a flat table, as ids are dense and a search
/// looks up thousands of them. Kept in the page cache, so an edit or a
/// publication coming due drops it like any page.
#[derive(Debug, Default)]
pub struct LivePieces(Vec<Option<LivePiece>>);

impl LivePieces {
    /// From `(id, publication time, title, summary)` of each live piece.
    pub fn new<'a>(pieces: impl IntoIterator<Item = (i64, i64, &'a str, &'a str)>) -> LivePieces {
        let spaced = |text: &str| -> Box<str> { format!(" {}", normalize(text)).into() };
        let mut table: Vec<Option<LivePiece>> = Vec::new();
        for (id, published, title, summary) in pieces {
            let Ok(i) = usize::try_from(id) else { continue };
            if i >= table.len() {
                table.resize(i + 1, None);
            }
            table[i] = Some(LivePiece {
                published,
                title: spaced(title),
                summary: spaced(summary),
            });
        }
        LivePieces(table)
    }

    fn get(&self, id: i64) -> Option<&LivePiece> {
        self.0.get(usize::try_from(id).ok()?)?.as_ref()
    }
}

/// Orders the live pieces among `anywhere` (those with every term in the
/// title first, then in the summary, then newest first, then highest id)
/// and keeps the first `keep`.
pub fn rank(anywhere: &[i64], query: &Query, live: &LivePieces, keep: usize) -> Ranked {
    let needles: Vec<String> = query.terms.iter().map(|t| format!(" {t}")).collect();
    let has_all = |text: &str| needles.iter().all(|n| text.contains(n.as_str()));
    let mut keys: Vec<(u8, i64, i64)> = anywhere
        .iter()
        .filter_map(|&id| {
            let piece = live.get(id)?;
            let tier = 2 * u8::from(has_all(&piece.title)) + u8::from(has_all(&piece.summary));
            Some((tier, piece.published, id))
        })
        .collect();
    let total = keys.len() as i64;
    let first = |a: &(u8, i64, i64), b: &(u8, i64, i64)| b.cmp(a);
    if keep == 0 {
        keys.clear();
    } else if keys.len() > keep {
        keys.select_nth_unstable_by(keep - 1, first);
        keys.truncate(keep);
    }
    keys.sort_unstable_by(first);
    Ranked {
        ids: keys.into_iter().map(|(_, _, id)| id).collect(),
        total,
    }
}

/// FTS5 syntax for the pieces holding a word that starts with `term`: a
/// quoted prefix phrase. Terms are letters and digits only, so quoting is safe.
pub fn fts5_prefix(term: &str) -> String {
    format!("\"{term}\"*")
}

/// PostgreSQL `to_tsquery` syntax for the same.
pub fn tsquery_prefix(term: &str) -> String {
    format!("{term}:*")
}

/// The ids in every one of `lists` (each sorted), smallest list first.
pub fn intersect(lists: &[std::sync::Arc<Vec<i64>>]) -> Vec<i64> {
    let Some(shortest) = lists.iter().min_by_key(|l| l.len()) else {
        return Vec::new();
    };
    shortest
        .iter()
        .copied()
        .filter(|id| lists.iter().all(|l| l.binary_search(id).is_ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_intersection_keeps_what_every_term_matched() {
        let list = |ids: &[i64]| std::sync::Arc::new(ids.to_vec());
        let lists = [
            list(&[1, 3, 5, 7, 9]),
            list(&[3, 4, 5, 9]),
            list(&[0, 3, 9, 12]),
        ];
        assert_eq!(intersect(&lists), vec![3, 9]);
        assert_eq!(intersect(&lists[..1]), vec![1, 3, 5, 7, 9]);
        assert_eq!(intersect(&[list(&[1, 2]), list(&[])]), Vec::<i64>::new());
        assert!(intersect(&[]).is_empty());
    }

    #[test]
    fn ranking_puts_title_then_summary_then_newest_first_and_leaves_out_what_is_not_live() {
        // id, publication time, title, summary; 6 is not live (a draft, or scheduled).
        let live = LivePieces::new([
            (
                1,
                100,
                "Printers: the Spooler",
                "Restart the printer spooler.",
            ),
            (2, 500, "Other", "Nothing here."),
            (3, 300, "Other", "When printers stop, check the spooler."),
            (4, 400, "Other", "Spooler only."),
            (5, 50, "Fix printer spoolers", "Nothing."),
            (7, 300, "Other", "Nothing."),
            (-1, 9, "Printer spooler", "Printer spooler"),
        ]);
        let q = Query::parse("printers spooler").unwrap();
        let anywhere = [1, 2, 3, 4, 5, 6, 7];
        let ranked = rank(&anywhere, &q, &live, 100);
        // 1: title and summary; 5: title; 3: summary ("printer" needs a
        // word starting with it, so 4's summary does not count); then 2, 4,
        // 7 newest first.
        assert_eq!(ranked.ids, vec![1, 5, 3, 2, 4, 7]);
        assert_eq!(ranked.total, 6);
        // A term inside a word is not a match: "pool" is not "spooler".
        let pool = Query::parse("pool").unwrap();
        assert_eq!(rank(&[1, 5], &pool, &live, 100).ids, vec![1, 5]);
        // Same time, same tier: the higher id first.
        assert_eq!(rank(&[3, 7], &pool, &live, 100).ids, vec![7, 3]);
        // Keeping fewer keeps the first ones, in order; the total stays.
        let few = rank(&anywhere, &q, &live, 4);
        assert_eq!((few.ids, few.total), (vec![1, 5, 3, 2], 6));
        assert!(rank(&anywhere, &q, &live, 0).ids.is_empty());
        assert_eq!(rank(&[6, 8, -1, 1000], &q, &live, 10).total, 0);
        // Pages of the kept ids.
        assert_eq!(ranked.page(1, 4), &[1, 5, 3, 2]);
        assert_eq!(ranked.page(2, 4), &[4, 7]);
        assert!(ranked.page(3, 4).is_empty());
        assert!(ranked.page(usize::MAX, usize::MAX).is_empty());
        assert_eq!(ranked.page(0, 2), &[1, 5]);
    }

    #[test]
    fn text_is_normalised_to_plain_words() {
        assert_eq!(
            normalize("Outlook.exe — Error 0x80070002 in KB5034441's Update!"),
            "outlook exe error 0x80070002 in kb5034441 s update"
        );
        assert_eq!(
            plain_text(
                "# Title\n\nSome **bold** `code` and [a link](https://x.y).\n\n- one\n- two"
            ),
            "Title Some bold code and a link. one two "
        );
    }

    #[test]
    fn hostile_queries_become_harmless_words() {
        for q in [
            "\"",
            "'",
            "*",
            "\" OR 1=1 --",
            "NEAR(",
            "title:",
            "'; DROP TABLE articles; --",
            "<script>alert(1)</script>",
            "a & b | !c <-> d",
            "^",
            "(((",
            "{title}: x",
        ] {
            if let Some(parsed) = Query::parse(q) {
                for t in &parsed.terms {
                    assert!(t.chars().all(char::is_alphanumeric), "{q:?} gave {t:?}");
                }
            }
        }
        assert!(Query::parse("  \"*^ ").is_none());
        assert!(Query::parse("").is_none());
        assert_eq!(Query::parse(&"x".repeat(10_000)), None);
        assert!(Query::parse(&"word ".repeat(1000)).unwrap().terms.len() <= MAX_TERMS);
    }

    #[test]
    fn queries_keep_meaningful_words_and_stem_them() {
        let q = Query::parse("How do I fix printers that keep jamming?").unwrap();
        assert_eq!(q.terms, vec!["fix", "printer", "that", "keep", "jamm"]);
        assert_eq!(fts5_prefix(&q.terms[1]), "\"printer\"*");
        assert_eq!(Query::parse("how to").unwrap().terms, vec!["how", "to"]);
        assert_eq!(Query::parse("a b c"), None);
        assert_eq!(
            tsquery_prefix(&Query::parse("Outlook").unwrap().terms[0]),
            "outlook:*"
        );
        assert_eq!(Query::parse("access").unwrap().terms, vec!["access"]);
        assert_eq!(Query::parse("updates").unwrap().terms, vec!["updat"]);
    }

    #[test]
    fn snippets_mark_matches_and_escape_the_rest() {
        let q = Query::parse("printer").unwrap();
        let text = "Intro words here. <b>Tip</b>: restart the Printers spooler, then the printer.";
        let s = q.snippet(text, 8);
        assert!(
            s.contains("<mark>Printers</mark>") && s.contains("<mark>printer</mark>."),
            "{s}"
        );
        assert!(!s.contains("<b>"));
        assert_eq!(q.snippet("", 8), "");
    }
}

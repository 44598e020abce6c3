//! What we hold about a person, the way they read it: the export's rows
//! turned into cards with one summary line each and their fields written
//! as the inventory says (`Column::shown`), grouped by what the person did.
//! Generic over the inventory, like the export: a new table is shown with
//! no code here.

use super::{
    erasure::TableExport,
    inventory::{Column, Inventory, Shown, Table},
};
use crate::platform::templates::{money, readable_date_in};
use chrono_tz::Tz;
use serde_json::Value;
use std::collections::BTreeMap;

const NULL: &Value = &Value::Null;

/// Tables of one feature, under the first one's title ("Support requests").
pub struct Group {
    pub id: String,
    pub title: &'static str,
    pub sections: Vec<Section>,
}

pub struct Section {
    pub table: &'static str,
    pub title: &'static str,
    pub cards: Vec<Card>,
}

/// One row.
pub struct Card {
    pub summary: String,
    /// The row's id, for the correction form (never shown).
    pub row_id: String,
    pub items: Vec<Item>,
    /// Labels of personal fields kept for our systems only (fingerprints):
    /// named on the page, their values only in the download.
    pub also_kept: Vec<&'static str>,
}

pub struct Item {
    pub column: &'static str,
    pub label: &'static str,
    pub explanation: &'static str,
    pub value: Shape,
    pub correctable: bool,
}

/// A value as it is laid out on the page.
pub enum Shape {
    /// Nothing stored.
    Empty,
    Line(String),
    /// A moment (epoch ms), shown as a `<time>` in the reader's zone.
    Moment(i64),
    /// Text of several lines, kept as written.
    Paragraphs(String),
    /// Named values recorded together.
    Record(Vec<(String, String)>),
    /// An outgoing mail: who to, its subject, its plain text.
    Mail {
        to: String,
        subject: String,
        text: String,
    },
}

impl Shape {
    /// The value to prefill a correction with.
    pub fn as_text(&self) -> &str {
        match self {
            Shape::Line(s) | Shape::Paragraphs(s) => s,
            _ => "",
        }
    }
}

/// The export, as groups of cards, in the inventory's order with our own
/// record and the mails we sent last; summaries date rows in `zone`.
pub fn groups(
    inventory: &Inventory,
    exports: &[TableExport],
    zone: Tz,
    correctable: impl Fn(&str, &str) -> bool,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for export in exports {
        let Some(table) = inventory.table(export.table) else {
            continue;
        };
        // Rows with nothing a person reads (word fingerprints, say, one row
        // each) are one card that counts them; the download holds them all.
        let hidden = table.columns.iter().all(|c| c.shown == Shown::Internal);
        let cards = if hidden && export.rows.len() > 1 {
            let mut card = card(table, &export.rows[0], zone, &correctable);
            card.summary = format!("{} · {} entries", card.summary, export.rows.len());
            card.row_id = String::new();
            vec![card]
        } else {
            export
                .rows
                .iter()
                .map(|row| card(table, row, zone, &correctable))
                .collect()
        };
        let section = Section {
            table: table.name,
            title: table.title,
            cards,
        };
        match groups.iter_mut().find(|g| {
            g.sections
                .first()
                .and_then(|s| inventory.table(s.table))
                .is_some_and(|t| t.feature == table.feature)
        }) {
            Some(group) => group.sections.push(section),
            None => groups.push(Group {
                id: format!("g-{}", table.name.replace('_', "-")),
                title: table.title,
                sections: vec![section],
            }),
        }
    }
    // What the person did first; the mails we sent and the record that ties
    // it all together after.
    groups.sort_by_key(|g| {
        g.sections
            .iter()
            .any(|s| matches!(s.table, "outbox" | "subjects"))
    });
    groups
}

fn card(
    table: &'static Table,
    row: &BTreeMap<&'static str, Value>,
    zone: Tz,
    correctable: &impl Fn(&str, &str) -> bool,
) -> Card {
    let mut items = Vec::new();
    let mut also_kept = Vec::new();
    for column in table.columns {
        let value = row.get(column.column).unwrap_or(NULL);
        let personal = table.personal.iter().any(|f| f.column == column.column);
        if column.shown == Shown::Internal {
            if personal && !column.label.is_empty() {
                also_kept.push(column.label);
            }
            continue;
        }
        let value = shape(column.shown, value);
        if matches!(value, Shape::Empty) && !personal {
            continue;
        }
        items.push(Item {
            column: column.column,
            label: column.label,
            explanation: column.explanation,
            correctable: correctable(table.name, column.column),
            value,
        });
    }
    Card {
        summary: summary(table, row, zone),
        row_id: row.get("id").map(|v| v.to_string()).unwrap_or_default(),
        items,
        also_kept,
    }
}

/// A row in one line, from the table's `summary` pattern, its dates the
/// days in `zone`.
pub fn summary(table: &Table, row: &BTreeMap<&'static str, Value>, zone: Tz) -> String {
    let parts: Vec<String> = table
        .summary
        .split(" · ")
        .filter_map(|part| fill(part, table, row, zone))
        .collect();
    if parts.is_empty() {
        table.title.to_string()
    } else {
        parts.join(" · ")
    }
}

/// A part of a summary with its placeholders filled; `None` when it names
/// columns and every one of them is empty.
fn fill(
    part: &str,
    table: &Table,
    row: &BTreeMap<&'static str, Value>,
    zone: Tz,
) -> Option<String> {
    let mut out = String::new();
    let mut rest = part;
    let (mut named, mut found) = (false, false);
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c)?;
        let name = &rest[open + 1..close];
        named = true;
        let shown = column_of(table, name).map_or(Shown::Text, |c| c.shown);
        if let Some(text) = short(shown, row.get(name).unwrap_or(NULL), zone) {
            out.push_str(&text);
            found = true;
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    (!named || found).then(|| out.trim().to_string())
}

fn column_of(table: &Table, name: &str) -> Option<&'static Column> {
    table.columns.iter().find(|c| c.column == name)
}

/// A value in a summary: dates without the hour, a mail by its subject,
/// long text cut.
fn short(shown: Shown, value: &Value, zone: Tz) -> Option<String> {
    match (shown, value) {
        (Shown::DateTime, Value::Number(n)) => n.as_i64().map(|ms| readable_date_in(ms, zone)),
        (Shown::Mail, Value::Object(mail)) => mail
            .get("subject")
            .and_then(Value::as_str)
            .map(|s| format!("“{s}”")),
        (Shown::Internal, _) => None,
        _ => match shape(shown, value) {
            Shape::Line(s) | Shape::Paragraphs(s) => Some(cut(&s, 60)),
            _ => None,
        },
    }
}

fn cut(text: &str, chars: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= chars {
        return line;
    }
    let mut out: String = line.chars().take(chars).collect();
    out.push('…');
    out
}

/// A value laid out as its column says.
pub fn shape(shown: Shown, value: &Value) -> Shape {
    let text = || match value {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let line = |s: Option<String>| s.map_or(Shape::Empty, Shape::Line);
    match shown {
        Shown::Text | Shown::Email | Shown::Phone | Shown::Reference | Shown::Number => {
            line(text())
        }
        Shown::Paragraphs => text().map_or(Shape::Empty, Shape::Paragraphs),
        Shown::Status => line(text().map(|s| words(&s))),
        Shown::List => line(text().map(|s| {
            s.split(',')
                .map(|w| words(w.trim()))
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })),
        Shown::DateTime => value.as_i64().map_or(Shape::Empty, Shape::Moment),
        Shown::Money => line(value.as_i64().map(money)),
        Shown::YesNo => line(
            value
                .as_i64()
                .map(|v| (if v == 0 { "no" } else { "yes" }).into()),
        ),
        Shown::File => line(text().map(|s| file_size(&s))),
        Shown::Record => match value {
            Value::Object(fields) => Shape::Record(
                fields
                    .iter()
                    .map(|(k, v)| (sentence_case(&words(k)), record_value(v)))
                    .collect(),
            ),
            _ => line(text()),
        },
        Shown::Mail => match value {
            Value::Object(mail) => {
                let get = |k: &str| mail.get(k).and_then(Value::as_str).unwrap_or_default();
                Shape::Mail {
                    to: get("to").to_string(),
                    subject: get("subject").to_string(),
                    text: without_tokens(get("text").trim_end()),
                }
            }
            _ => line(text()),
        },
        Shown::Internal => Shape::Empty,
    }
}

/// A mail's text with the secret part of its links cut ("example.com/
/// newsletter/confirm/…"): a person reads where a link led, not a token
/// full of numbers. The download keeps the whole text.
fn without_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..start]);
        let len = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '>' | '"'))
            .unwrap_or(rest.len() - start);
        out.push_str(&short_link(&rest[start..start + len]));
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

fn short_link(url: &str) -> String {
    let bare = url.split_once("://").map_or(url, |(_, after)| after);
    let bare = bare.split(['?', '#']).next().unwrap_or(bare);
    let secret = |segment: &str| {
        segment.len() >= 16
            || segment
                .split(|c: char| !c.is_ascii_digit())
                .any(|digits| digits.len() >= 8)
    };
    let mut kept = Vec::new();
    for segment in bare.split('/') {
        if secret(segment) {
            kept.push("…");
            break;
        }
        kept.push(segment);
    }
    kept.join("/")
}

/// `awaiting_reply` or `ticket-received` as words.
fn words(s: &str) -> String {
    s.replace(['_', '-'], " ")
}

fn sentence_case(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn record_value(v: &Value) -> String {
    match v {
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{}: {}", words(k), record_value(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(a) => a.iter().map(record_value).collect::<Vec<_>>().join(", "),
        Value::Number(n) => n.to_string(),
    }
}

/// A file's size from the export's text of it (hexadecimal when binary).
fn file_size(stored: &str) -> String {
    let hex = stored.len().is_multiple_of(2) && stored.bytes().all(|b| b.is_ascii_hexdigit());
    let bytes = if hex { stored.len() / 2 } else { stored.len() };
    match bytes {
        0..=1023 => format!("a file of {bytes} bytes"),
        1024..=1_048_575 => format!("a file of {} KB", bytes.div_ceil(1024)),
        _ => format!("a file of {:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::inventory::{Retention, Table};
    use serde_json::json;

    const TICKETS: Table = Table {
        name: "tickets",
        feature: "support",
        title: "Support requests",
        summary: "Support request {reference} · {status} · {closed_at} · {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::UntilErased,
        personal: &[],
        other: &["reference", "status", "created_at", "closed_at"],
        columns: &[
            Column::new("reference", "Reference", Shown::Reference, "r"),
            Column::new("status", "Status", Shown::Status, "s"),
            Column::new("created_at", "Sent", Shown::DateTime, "c"),
            Column::new("closed_at", "Closed", Shown::DateTime, "c"),
        ],
    };

    #[test]
    fn a_row_reads_as_one_line_without_its_empty_parts() {
        let row: BTreeMap<&'static str, Value> = [
            ("reference", json!("OC-2026-000001")),
            ("status", json!("awaiting_reply")),
            ("created_at", json!(1_796_605_997_241_i64)),
            ("closed_at", Value::Null),
        ]
        .into_iter()
        .collect();
        // 01:13 UTC on the 7th is the evening of the 6th at the company.
        assert_eq!(
            summary(&TICKETS, &row, chrono_tz::America::Los_Angeles),
            "Support request OC-2026-000001 · awaiting reply · 6 Dec 2026"
        );
    }

    #[test]
    fn values_read_as_a_person_reads_them() {
        let line = |shown, v| match shape(shown, &v) {
            Shape::Line(s) => s,
            _ => String::from("(not a line)"),
        };
        assert_eq!(line(Shown::Money, json!(4900)), "$49.00");
        assert!(matches!(
            shape(Shown::DateTime, &json!(1_796_605_997_241_i64)),
            Shape::Moment(1_796_605_997_241)
        ));
        assert_eq!(line(Shown::YesNo, json!(1)), "yes");
        assert_eq!(
            line(Shown::List, json!("product-news,events")),
            "product news, events"
        );
        assert_eq!(line(Shown::File, json!("89504e47")), "a file of 4 bytes");
        assert!(matches!(shape(Shown::Text, &json!("")), Shape::Empty));
        let mail =
            json!({"to": "a@example.com", "subject": "Hi", "text": "Body", "html": "<p>Body</p>"});
        assert!(
            matches!(shape(Shown::Mail, &mail), Shape::Mail { subject, text, .. } if subject == "Hi" && text == "Body")
        );
        assert_eq!(
            short(Shown::Mail, &mail, chrono_tz::UTC).as_deref(),
            Some("“Hi”")
        );
    }

    #[test]
    fn links_in_a_mail_lose_their_tokens_and_keep_where_they_lead() {
        assert_eq!(
            without_tokens(
                "Confirm (https://x.test/newsletter/confirm/12-1796605997241.c2lnbmF0dXJl)\n\
                 See https://x.test/articles/printers?utm=1 or https://x.test/my-data/aGVsbG8gd29ybGQgaGVsbG8."
            ),
            "Confirm (x.test/newsletter/confirm/…)\nSee x.test/articles/printers or x.test/my-data/…"
        );
    }
}

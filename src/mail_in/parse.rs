//! Reading one RFC 5322 message (with `mail-parser`) into what the intake
//! needs: who wrote, what about, which of our mails it answers, whether a
//! robot sent it (RFC 3834), and whether it is a delivery report (RFC 3464)
//! or a complaint (RFC 5965). Pure: no database, so it can be fuzzed.

use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// Larger messages are quarantined unread (an MTA's usual limit is 25 MB).
pub const MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;
/// Parts looked at for attachments and reports; the rest are counted only.
const MAX_PARTS_READ: usize = 200;

/// A message as the intake sees it.
#[derive(Debug, Default)]
pub struct Incoming {
    /// Its Message-ID, or a hash of the whole message when it has none:
    /// what makes a message read twice count once.
    pub key: String,
    /// Its Message-ID, when it has one fit to quote in a header of ours
    /// (`<…@…>` of printable ASCII).
    pub message_id: Option<String>,
    /// The sender's address as written (`None`: missing or unreadable).
    pub from: Option<String>,
    /// The sender's name, cleaned (may be empty).
    pub from_name: String,
    /// The subject, one line, without controls.
    pub subject: String,
    /// Message-IDs it answers: `In-Reply-To` first, then `References` newest first.
    pub answers: Vec<String>,
    /// Where it was delivered (To, Cc, Delivered-To, X-Original-To): a VERP
    /// bounce address is among them.
    pub delivered_to: Vec<String>,
    /// Why it looks automatic, if it does.
    pub robot: Option<&'static str>,
    pub kind: Kind,
    /// The text (HTML turned into text), untrimmed.
    pub text: String,
    pub files: Vec<File>,
    /// Files not read at all because the message has too many parts.
    pub parts_skipped: usize,
}

#[derive(Debug)]
pub struct File {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Person,
    /// A delivery status notification (RFC 3464).
    Bounce(Report),
    /// A feedback report (RFC 5965 ARF): someone marked our mail as spam.
    Complaint(Report),
}

/// What a report says about one of our mails.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Message-IDs of the original mail (from the returned headers).
    pub original: Vec<String>,
    /// `failed`, `delayed`, `delivered`… (a bounce's Action).
    pub action: String,
    /// The enhanced status code, `5.1.1`.
    pub status: String,
    /// The recipient the report is about.
    pub recipient: String,
}

impl Report {
    /// A permanent failure: 5.x.x, or "failed" with no code.
    pub fn is_hard(&self) -> bool {
        self.status.starts_with('5') || (self.status.is_empty() && self.action == "failed")
    }

    /// A temporary failure worth counting: 4.x.x that failed or was delayed.
    pub fn is_soft(&self) -> bool {
        !self.is_hard()
            && (self.status.starts_with('4') || self.action == "delayed")
            && matches!(self.action.as_str(), "failed" | "delayed" | "")
    }
}

/// Why a message could not be taken (it is quarantined, never dropped).
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    TooLarge,
    NotMail,
    NoSender,
}

impl Unreadable {
    pub fn label(&self) -> &'static str {
        match self {
            Unreadable::TooLarge => "larger than 40 MB",
            Unreadable::NotMail => "not a mail message (no headers could be read)",
            Unreadable::NoSender => "no sender address that we could answer",
        }
    }
}

/// Parses a message. Never panics, whatever the bytes.
pub fn parse(raw: &[u8]) -> Result<Incoming, Unreadable> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(Unreadable::TooLarge);
    }
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or(Unreadable::NotMail)?;
    let key = match message
        .message_id()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        Some(id) => clean_id(id),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    };
    let message_id = message
        .message_id()
        .map(clean_id)
        .filter(|id| quotable_id(id))
        .map(|id| format!("<{id}>"));
    let sender = message.from().and_then(|a| a.first());
    let from = sender
        .and_then(|a| a.address())
        .map(|a| a.trim().to_string())
        .filter(|a| a.contains('@') && !a.chars().any(char::is_control));
    let from_name = sender
        .and_then(|a| a.name())
        .map(|n| one_line(n, 100))
        .unwrap_or_default();
    let subject = one_line(message.subject().unwrap_or(""), 150);
    let mut answers = ids_of(message.in_reply_to());
    let mut references = ids_of(message.references());
    references.reverse();
    answers.extend(references);
    answers.dedup();
    let mut delivered_to = Vec::new();
    for address in [message.to(), message.cc()].into_iter().flatten() {
        delivered_to.extend(
            address
                .iter()
                .filter_map(|a| a.address())
                .map(str::to_string),
        );
    }
    for name in ["Delivered-To", "X-Original-To", "Envelope-To"] {
        for value in message.header_values(name) {
            if let Some(v) = value.as_text() {
                delivered_to.push(v.trim().trim_matches(['<', '>']).to_string());
            }
        }
    }
    let robot = robot_reason(&message, from.as_deref());
    let kind = report_kind(&message);
    let text = message
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let mut files = Vec::new();
    let mut parts_skipped = 0;
    for (i, part) in message.attachments().enumerate() {
        if i >= MAX_PARTS_READ {
            parts_skipped += 1;
            continue;
        }
        if matches!(part.body, PartType::Message(_)) || is_report_part(part) {
            continue;
        }
        let name = part
            .attachment_name()
            .map(|n| one_line(n, 120))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "attachment".into());
        files.push(File {
            name,
            bytes: part.contents().to_vec(),
        });
    }
    if from.is_none() && kind == Kind::Person {
        return Err(Unreadable::NoSender);
    }
    Ok(Incoming {
        key,
        message_id,
        from,
        from_name,
        subject,
        answers,
        delivered_to,
        robot,
        kind,
        text,
        files,
        parts_skipped,
    })
}

/// A header's text on one line: controls (CR, LF, NUL…) become spaces, so
/// no decoded encoded-word can smuggle a header into a mail we write.
pub fn one_line(s: &str, max_chars: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'))
        .collect();
    flat.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max_chars)
        .collect()
}

/// A Message-ID we may repeat in `In-Reply-To` without letting its
/// sender write anything else into our header.
fn quotable_id(id: &str) -> bool {
    id.len() <= 250
        && id.contains('@')
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\'))
}

fn clean_id(id: &str) -> String {
    one_line(id.trim().trim_matches(['<', '>']), 250)
}

fn ids_of(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let mut out: Vec<String> = match value {
        mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => vec![],
    };
    out.truncate(50);
    out.into_iter()
        .map(|id| clean_id(&id))
        .filter(|id| id.contains('@'))
        .collect()
}

/// RFC 3834's signs of a message no person wrote, and the usual robot senders.
fn robot_reason(message: &mail_parser::Message<'_>, from: Option<&str>) -> Option<&'static str> {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if header("Auto-Submitted").is_some_and(|v| !v.is_empty() && !v.starts_with("no")) {
        return Some("it says it was sent automatically (Auto-Submitted)");
    }
    if header("Precedence").is_some_and(|v| {
        ["bulk", "list", "junk"]
            .iter()
            .any(|p| v.trim_matches('"') == *p)
    }) {
        return Some("it is bulk or list mail (Precedence)");
    }
    if header("List-Id").is_some() || header("List-Unsubscribe").is_some() {
        return Some("it comes from a mailing list");
    }
    if header("X-Autoreply").is_some() || header("X-Autorespond").is_some() {
        return Some("it is an automatic reply");
    }
    if header("Return-Path").is_some_and(|v| v == "<>") {
        return Some("it has no return address (a system message)");
    }
    let local = from
        .and_then(|f| f.rsplit_once('@'))
        .map(|(l, _)| l.to_ascii_lowercase())
        .unwrap_or_default();
    if [
        "mailer-daemon",
        "postmaster",
        "noreply",
        "no-reply",
        "do-not-reply",
        "donotreply",
    ]
    .iter()
    .any(|r| local == *r || local.starts_with(&format!("{r}+")))
    {
        return Some("it comes from a robot address");
    }
    None
}

fn is_report_part(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        let sub = ct.subtype().unwrap_or("").to_ascii_lowercase();
        (ct.ctype().eq_ignore_ascii_case("message")
            && matches!(
                sub.as_str(),
                "delivery-status" | "feedback-report" | "global-delivery-status"
            ))
            || (ct.ctype().eq_ignore_ascii_case("text") && sub == "rfc822-headers")
    })
}

/// A bounce or a complaint, from `multipart/report`'s report-type.
fn report_kind(message: &mail_parser::Message<'_>) -> Kind {
    let Some(ct) = message.content_type() else {
        return Kind::Person;
    };
    if !ct.ctype().eq_ignore_ascii_case("multipart")
        || !ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    {
        return Kind::Person;
    }
    let report_type = ct
        .attribute("report-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut report = Report::default();
    for part in message.parts.iter().take(MAX_PARTS_READ) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let sub = ct.subtype().unwrap_or("").to_ascii_lowercase();
        match (ct.ctype().to_ascii_lowercase().as_str(), sub.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") => {
                read_fields(part.contents(), &mut report);
            }
            ("message", "feedback-report") => {
                read_fields(part.contents(), &mut report);
            }
            ("message", "rfc822" | "global") => {
                if let PartType::Message(inner) = &part.body
                    && let Some(id) = inner.message_id()
                {
                    report.original.push(clean_id(id));
                }
            }
            ("text", "rfc822-headers") => {
                if let Some(inner) = MessageParser::default().parse_headers(part.contents())
                    && let Some(id) = inner.message_id()
                {
                    report.original.push(clean_id(id));
                }
            }
            _ => {}
        }
    }
    report.original.retain(|id| id.contains('@'));
    match report_type.as_str() {
        "delivery-status" | "global-delivery-status" => Kind::Bounce(report),
        "feedback-report" => Kind::Complaint(report),
        _ => Kind::Person,
    }
}

/// Reads the `Name: value` fields of a delivery-status or feedback-report
/// part; the first recipient's Action and Status win.
fn read_fields(bytes: &[u8], report: &mut Report) {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "action" if report.action.is_empty() => {
                report.action = value.to_ascii_lowercase();
            }
            "status" if report.status.is_empty() => {
                report.status = value
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(12)
                    .collect();
            }
            "final-recipient" | "original-rcpt-to" if report.recipient.is_empty() => {
                report.recipient = one_line(value.rsplit(';').next().unwrap_or(""), 200);
            }
            "feedback-type" if report.action.is_empty() => {
                report.action = one_line(&value.to_ascii_lowercase(), 40);
            }
            _ => {}
        }
    }
}

/// The text a person wrote, without the quoted history and signature below
/// it; `None` when nothing was trimmed (or trimming would leave nothing).
pub fn trim_quoted(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_end();
        let lower = t.trim_start().to_ascii_lowercase();
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
        let attribution = (lower.starts_with("on ")
            && (lower.ends_with("wrote:") || next.to_ascii_lowercase().ends_with("wrote:")))
            || lower.starts_with("le ") && lower.ends_with("a écrit :")
            || lower.starts_with("am ") && lower.ends_with("schrieb:");
        let separator = t == "--"
            || t == "-- "
            || lower.starts_with("-----original message-----")
            || lower.starts_with("________________")
            || (lower.starts_with("from:")
                && i > 0
                && lines[i - 1].trim().is_empty()
                && lines[i + 1..].iter().any(|l| {
                    l.to_ascii_lowercase().starts_with("sent:")
                        || l.to_ascii_lowercase().starts_with("subject:")
                }));
        if attribution || separator {
            cut = i;
            break;
        }
    }
    // Quoted lines left at the end (a reply above a quote without attribution).
    while cut > 0 {
        let l = lines[cut - 1].trim();
        if l.starts_with('>') || l.is_empty() {
            cut -= 1;
        } else {
            break;
        }
    }
    let kept = lines[..cut].join("\n").trim().to_string();
    if kept.is_empty() || cut == lines.len() {
        None
    } else {
        Some(kept)
    }
}

/// A ticket reference quoted in a subject, `[OC-2026-000123]` or bare.
pub fn reference_in(subject: &str) -> Option<String> {
    let upper = subject.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let mut from = 0;
    while let Some(at) = upper[from..].find("OC-") {
        let start = from + at;
        let rest = &bytes[start + 3..];
        let year = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if year == 4 && rest.get(4) == Some(&b'-') {
            let digits = rest[5..].iter().take_while(|b| b.is_ascii_digit()).count();
            if (6..=12).contains(&digits) {
                return Some(upper[start..start + 3 + 5 + digits].to_string());
            }
        }
        from = start + 3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_loses_its_quoted_history() {
        let text = "Thanks, that fixed it.\n\nAnn\n\nOn Mon, 7 Dec 2026 at 10:00, Officecomms <help@officecomms.test> wrote:\n> Please restart the service.\n> Dana\n";
        assert_eq!(trim_quoted(text).unwrap(), "Thanks, that fixed it.\n\nAnn");
        let sig = "It works.\n-- \nAnn Example\nACME Ltd";
        assert_eq!(trim_quoted(sig).unwrap(), "It works.");
        assert_eq!(trim_quoted("Just text.\nTwo lines."), None);
        assert_eq!(trim_quoted("> only a quote"), None, "nothing would be left");
        let outlook =
            "Yes please.\n\n-----Original Message-----\nFrom: Officecomms\nSent: Monday\n";
        assert_eq!(trim_quoted(outlook).unwrap(), "Yes please.");
    }

    #[test]
    fn only_a_plain_message_id_is_repeated_in_our_headers() {
        let with = |id: &str| {
            parse(format!("From: a@example.com\r\nMessage-ID: {id}\r\n\r\nHi\r\n").as_bytes())
                .unwrap()
                .message_id
        };
        assert_eq!(
            with("<abc.1@mx.example.com>").as_deref(),
            Some("<abc.1@mx.example.com>")
        );
        assert_eq!(
            with("abc.2@mx.example.com").as_deref(),
            Some("<abc.2@mx.example.com>")
        );
        for odd in [
            "<no-at-sign>",
            "<a\"b@example.com>",
            "<caf\u{e9}@example.com>",
        ] {
            assert_eq!(with(odd), None, "{odd}");
        }
        assert!(
            quotable_id("x@y")
                && !quotable_id("x y@z")
                && !quotable_id(&format!("{}@y", "a".repeat(250)))
        );
    }

    #[test]
    fn references_are_found_in_subjects() {
        assert_eq!(
            reference_in("Re: [OC-2026-000123] Printer").as_deref(),
            Some("OC-2026-000123")
        );
        assert_eq!(
            reference_in("re: oc-2026-0001234 x").as_deref(),
            Some("OC-2026-0001234")
        );
        assert_eq!(reference_in("OC-26-000123"), None);
        assert_eq!(reference_in("OC-2026-12"), None);
        assert_eq!(
            reference_in("OC-OC-2026-000001").as_deref(),
            Some("OC-2026-000001")
        );
    }

    #[test]
    fn headers_cannot_be_smuggled_through_an_encoded_subject() {
        let raw = b"From: Ann <ann@example.test>\r\nSubject: =?utf-8?B?SGVsbG8NCkJjYzogZXZpbEBleGFtcGxlLnRlc3Q=?=\r\n\r\nBody\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.subject, "Hello Bcc: evil@example.test");
        assert!(!m.subject.contains('\n'));
    }

    #[test]
    fn robots_are_recognised() {
        let auto = b"From: ann@example.test\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway\r\n";
        assert!(parse(auto).unwrap().robot.is_some());
        let no = b"From: ann@example.test\r\nAuto-Submitted: no\r\nSubject: Hi\r\n\r\nHi\r\n";
        assert!(parse(no).unwrap().robot.is_none());
        let daemon = b"From: MAILER-DAEMON@mx.example.test\r\nSubject: x\r\n\r\nx\r\n";
        assert!(parse(daemon).unwrap().robot.is_some());
        let list =
            b"From: ann@example.test\r\nList-Id: <news.example.test>\r\nSubject: x\r\n\r\nx\r\n";
        assert!(parse(list).unwrap().robot.is_some());
    }

    #[test]
    fn garbage_is_unreadable_not_a_panic() {
        assert_eq!(parse(b"").unwrap_err(), Unreadable::NotMail);
        assert!(parse(b"\0\0\0\xff\xfe").is_err());
        assert_eq!(
            parse(b"Subject: no sender\r\n\r\nbody").unwrap_err(),
            Unreadable::NoSender
        );
    }

    /// The fuzz target's properties on mutations of real messages, so they
    /// hold in every `cargo test` too (`fuzz/` explores further).
    #[test]
    fn mutated_messages_never_panic_and_stay_one_line() {
        use rand::{Rng, SeedableRng};
        let seeds: [&[u8]; 3] = [
            b"From: =?utf-8?B?QW5u?= <ann@example.test>\r\nSubject: Re: [OC-2026-000001] x\r\nIn-Reply-To: <a@b>\r\nReferences: <c@d> <e@f>\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html; charset=koi8-r\r\n\r\n<p>Hi</p>\r\n--b\r\nContent-Type: image/png; name=a.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n",
            b"From: MAILER-DAEMON@x\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=q\r\n\r\n--q\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.1.1\r\n--q\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <m@x>\r\n\r\nx\r\n--q--\r\n",
            b"From: a@b\r\nSubject: =?iso-8859-1?Q?=0D=0ABcc:_x?=\r\n\r\nOn Mon wrote:\r\n> q\r\n-- \r\nsig\r\n",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        for _ in 0..3000 {
            let mut m = seeds[rng.random_range(0..seeds.len())].to_vec();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..m.len());
                match rng.random_range(0..3) {
                    0 => m[at] = rng.random(),
                    1 => {
                        m.remove(at);
                    }
                    _ => m.insert(at, {
                        let pool = b"\r\n:;=?<>-\0";
                        pool[rng.random_range(0..pool.len())]
                    }),
                }
            }
            if let Ok(parsed) = parse(&m) {
                assert!(!parsed.subject.chars().any(char::is_control));
                assert!(!parsed.from_name.chars().any(char::is_control));
                if let Some(t) = trim_quoted(&parsed.text) {
                    assert!(t.len() <= parsed.text.len());
                }
            }
        }
    }

    #[test]
    fn a_delivery_report_names_the_original() {
        let raw = "From: MAILER-DAEMON@mx.example.test\r\nTo: bounces+abc@officecomms.test\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.test\r\n\r\nFinal-Recipient: rfc822; gone@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <orig123@officecomms.test>\r\nSubject: News\r\n\r\n--b--\r\n";
        let m = parse(raw.as_bytes()).unwrap();
        let Kind::Bounce(report) = m.kind else {
            panic!("not a bounce: {:?}", m.kind)
        };
        assert_eq!(
            report.original,
            vec!["orig123@officecomms.test".to_string()]
        );
        assert_eq!(report.status, "5.1.1");
        assert_eq!(report.recipient, "gone@example.test");
        assert!(report.is_hard());
        assert!(
            m.delivered_to
                .contains(&"bounces+abc@officecomms.test".to_string())
        );
    }
}

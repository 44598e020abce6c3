//! CAN-SPAM by construction. [`prepare`] is the one door every campaign
//! message goes through (test sends, scheduling and the send itself): it
//! checks the campaign and the site, and only what it returns can make a
//! recipient's message ([`Prepared::message_for`]), which verifies once more
//! that the footer, the unsubscribe link and the RFC 8058 headers are there.

use super::db::Draft;
use crate::platform::{
    forms::EmailAddress,
    mail::OutgoingMail,
    settings::SiteSettings,
    templates::{markdown_to_mail_html, markdown_to_text},
};
use lettre::message::Mailbox;

/// A check that failed: the form field it belongs to and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub field: &'static str,
    pub message: String,
}

fn fail(field: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        field,
        message: message.into(),
    }
}

/// Subject prefixes that pretend a campaign is a reply or a forward.
const FAKE_PREFIXES: &[&str] = &["re", "fw", "fwd", "aw", "wg", "tr", "sv", "vs"];

fn fakes_a_reply(subject: &str) -> bool {
    let s = subject
        .trim_start_matches(|c: char| c.is_whitespace() || c == '[' || c == '(')
        .to_lowercase();
    let word: String = s.chars().take_while(|c| c.is_alphabetic()).collect();
    // "[Re]:" closes its bracket before the colon.
    let rest = s[word.len()..].trim_start_matches([']', ')']).trim_start();
    // "Re:", "RE :", "Fwd[2]:" all count.
    let rest = rest
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .map_or(rest, |(_, after)| after.trim_start());
    FAKE_PREFIXES.contains(&word.as_str()) && (rest.starts_with(':') || rest.starts_with('：'))
}

/// Whether a base URL may carry unsubscribe links: RFC 8058 wants HTTPS;
/// plain HTTP only for a site on this machine (development and tests).
fn unsubscribe_base_ok(base: &url::Url) -> bool {
    match base.scheme() {
        "https" => true,
        "http" => matches!(
            base.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
        ),
        _ => false,
    }
}

/// Every check of a campaign against the law and the site settings.
pub fn check(draft: &Draft, site: &SiteSettings, base_url: &url::Url) -> Vec<Failure> {
    let mut failures = Vec::new();
    let from_name = draft.from_name.trim();
    if from_name.is_empty() {
        failures.push(fail(
            "from_name",
            "From: give the sender's name, so people know who writes.",
        ));
    } else if from_name.chars().count() > 80
        || from_name
            .chars()
            .any(|c| matches!(c, '@' | '<' | '>' | '"') || c.is_control())
    {
        failures.push(fail(
            "from_name",
            "From: the sender's name must be a plain name (no address, no @ < > or quotes), at most 80 characters.",
        ));
    }
    if site.contact_email.parse::<lettre::Address>().is_err() {
        failures.push(fail(
            "from_name",
            "From: the contact email in the site settings is not a valid address; fix it in Settings.",
        ));
    }
    if draft.reply_to.parse::<EmailAddress>().is_err() {
        failures.push(fail(
            "reply_to",
            "Reply-To: enter a valid address where replies reach us, like news@officecomms.com.",
        ));
    }
    let subject = draft.subject.trim();
    if subject.is_empty() {
        failures.push(fail("subject", "Subject: a campaign needs a subject."));
    } else if fakes_a_reply(subject) {
        failures.push(fail(
            "subject",
            "Subject: it must not pretend to be a reply or a forward (RE:, FW:, Fwd:).",
        ));
    } else if subject.chars().count() > 150 || subject.chars().any(char::is_control) {
        failures.push(fail(
            "subject",
            "Subject: one line of at most 150 characters.",
        ));
    }
    if draft.commercial && draft.ad_label.trim().is_empty() {
        failures.push(fail(
            "ad_label",
            "Advertisement: a commercial campaign must say it is an advertisement; fill in the label.",
        ));
    }
    if site.postal_address.trim().chars().count() < 10 {
        failures.push(fail(
            "postal_address",
            "Postal address: every mail must show our physical postal address; set it in Settings.",
        ));
    }
    if !unsubscribe_base_ok(base_url) {
        failures.push(fail(
            "unsubscribe",
            format!(
                "Unsubscribe: the site's base URL ({base_url}) must use https for one-click unsubscribe links (RFC 8058)."
            ),
        ));
    }
    if draft.body.trim().is_empty() {
        failures.push(fail("body", "Body: write the campaign's text."));
    }
    if super::topics_from_text(&draft.topics).is_empty() {
        failures.push(fail("topics", "Topics: choose at least one topic."));
    }
    failures
}

/// A campaign that passed every check, rendered once; the only way to make
/// a campaign message.
pub struct Prepared {
    subject: String,
    from: Mailbox,
    reply_to: String,
    ad_label: String,
    body_text: String,
    body_html: String,
    topics: String,
    company: String,
    postal_address: String,
    pub commercial: bool,
    pub topic_keys: Vec<String>,
}

/// The per-recipient part of a message.
pub struct Addressee<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub unsubscribe_url: &'a str,
    pub preferences_url: &'a str,
}

crate::email_template! {
    struct CampaignMail {
        subject: String,
        ad_label: String,
        name: String,
        body_text: String,
        body_html: String,
        topics: String,
        company: String,
        postal_address: String,
        unsubscribe_url: String,
        preferences_url: String,
    }
    subject "email/campaign/subject.txt",
    text "email/campaign/body.txt",
    html "email/campaign/body.html",
}

impl CampaignMail {
    /// Whether the campaign's text greets the reader itself.
    fn greets(&self) -> bool {
        crate::platform::mail::starts_with_greeting(&self.body_text)
    }
}

/// Checks a campaign; on success renders its body once for all recipients.
pub fn prepare(
    draft: &Draft,
    site: &SiteSettings,
    base_url: &url::Url,
) -> Result<Prepared, Vec<Failure>> {
    let failures = check(draft, site, base_url);
    if !failures.is_empty() {
        return Err(failures);
    }
    let address = site
        .contact_email
        .parse::<lettre::Address>()
        .map_err(|_| vec![fail("from_name", "From: invalid contact email")])?;
    let topic_keys = super::topics_from_text(&draft.topics);
    let topics = super::TOPICS
        .iter()
        .filter(|(k, _)| topic_keys.iter().any(|t| t == k))
        .map(|(_, label)| label.to_lowercase())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Prepared {
        subject: draft.subject.trim().to_string(),
        from: Mailbox::new(Some(draft.from_name.trim().to_string()), address),
        reply_to: draft
            .reply_to
            .parse::<EmailAddress>()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        ad_label: if draft.commercial {
            draft.ad_label.trim().to_string()
        } else {
            String::new()
        },
        body_text: markdown_to_text(draft.body.trim()),
        body_html: markdown_to_mail_html(&draft.body),
        topics,
        company: site.company_name.clone(),
        postal_address: site.postal_address.trim().to_string(),
        commercial: draft.commercial,
        topic_keys,
    })
}

impl Prepared {
    /// The message for one recipient, verified before it is returned.
    pub fn message_for(&self, to: &Addressee<'_>) -> anyhow::Result<OutgoingMail> {
        use crate::platform::mail::EmailTemplate;
        let mail = CampaignMail {
            subject: self.subject.clone(),
            ad_label: self.ad_label.clone(),
            name: to.name.to_string(),
            body_text: self.body_text.clone(),
            body_html: self.body_html.clone(),
            topics: self.topics.clone(),
            company: self.company.clone(),
            postal_address: self.postal_address.clone(),
            unsubscribe_url: to.unsubscribe_url.to_string(),
            preferences_url: to.preferences_url.to_string(),
        };
        let mut out = mail.to_mail(to.email)?;
        out.headers = vec![
            ("From".into(), self.from.to_string()),
            ("Reply-To".into(), self.reply_to.clone()),
            (
                "List-Unsubscribe".into(),
                format!("<{}>", to.unsubscribe_url),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ];
        verify(&out, self, to)?;
        Ok(out)
    }
}

/// What must be in every message whatever the templates say.
fn verify(mail: &OutgoingMail, p: &Prepared, to: &Addressee<'_>) -> anyhow::Result<()> {
    let html = mail.html.as_deref().unwrap_or_default();
    let escaped_url = to.unsubscribe_url.replace('&', "&amp;");
    anyhow::ensure!(
        mail.text.contains(to.unsubscribe_url) && html.contains(&escaped_url),
        "campaign message without its unsubscribe link"
    );
    anyhow::ensure!(
        mail.text.contains(&p.postal_address),
        "campaign message without the postal address"
    );
    anyhow::ensure!(
        !p.commercial || mail.text.trim_start().starts_with(&p.ad_label),
        "commercial campaign message not identified as an advertisement"
    );
    anyhow::ensure!(
        !mail.subject.is_empty() && !fakes_a_reply(&mail.subject),
        "campaign message with a deceptive subject"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            subject: "November news".into(),
            from_name: "officecomms news".into(),
            reply_to: "news@officecomms.com".into(),
            body: "# Hello\n\nSome **news**.".into(),
            topics: "tips".into(),
            commercial: false,
            ad_label: String::new(),
        }
    }

    fn base() -> url::Url {
        "https://officecomms.com/".parse().unwrap()
    }

    #[test]
    fn a_good_campaign_passes_and_carries_everything() {
        let p = prepare(&draft(), &SiteSettings::demo(), &base()).unwrap();
        let m = p
            .message_for(&Addressee {
                email: "ann@example.com",
                name: "Ann",
                unsubscribe_url: "https://officecomms.com/unsubscribe/t.x",
                preferences_url: "https://officecomms.com/newsletter/preferences/t.x",
            })
            .unwrap();
        assert!(m.text.contains("1200 Harbor Street"));
        assert!(m.html.as_deref().unwrap().contains("<strong>news</strong>"));
        assert!(m.headers.contains(&(
            "List-Unsubscribe-Post".into(),
            "List-Unsubscribe=One-Click".into()
        )));
    }

    #[test]
    fn each_check_names_its_field() {
        let site = SiteSettings::demo();
        let fields = |d: Draft, site: &SiteSettings, base: &url::Url| -> Vec<&'static str> {
            check(&d, site, base).into_iter().map(|f| f.field).collect()
        };
        for subject in [
            "RE: your order",
            "Fwd: news",
            "fw : x",
            "[Re]: x",
            "  Re[2]: hi",
            "",
        ] {
            let d = Draft {
                subject: subject.into(),
                ..draft()
            };
            assert_eq!(fields(d, &site, &base()), vec!["subject"], "{subject:?}");
        }
        for ok in [
            "Recipes for Outlook",
            "Forward planning",
            "Re-install guide",
        ] {
            let d = Draft {
                subject: ok.into(),
                ..draft()
            };
            assert!(fields(d, &site, &base()).is_empty(), "{ok:?}");
        }
        let d = Draft {
            from_name: "support@bank.com".into(),
            ..draft()
        };
        assert_eq!(fields(d, &site, &base()), vec!["from_name"]);
        let d = Draft {
            reply_to: "nobody".into(),
            ..draft()
        };
        assert_eq!(fields(d, &site, &base()), vec!["reply_to"]);
        let d = Draft {
            commercial: true,
            ..draft()
        };
        assert_eq!(fields(d, &site, &base()), vec!["ad_label"]);
        let no_address = SiteSettings {
            postal_address: " ".into(),
            ..SiteSettings::demo()
        };
        assert_eq!(
            fields(draft(), &no_address, &base()),
            vec!["postal_address"]
        );
        let plain: url::Url = "http://officecomms.com/".parse().unwrap();
        assert_eq!(fields(draft(), &site, &plain), vec!["unsubscribe"]);
        let local: url::Url = "http://127.0.0.1:8080/".parse().unwrap();
        assert!(fields(draft(), &site, &local).is_empty());
    }
}

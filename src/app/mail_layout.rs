//! Every transactional mail is on the one layout (`templates/email/layout.*`):
//! the brand, one greeting, a readable plain-text part, the postal address
//! and why the person gets it. Here, in the layer that sees every feature.

use crate::{
    chat::conversations::{TranscriptLine, TranscriptMail, VerifyMail},
    newsletter::public::ConfirmMail,
    platform::{
        mail::{EmailTemplate, OutgoingMail, with_postal_address},
        settings::SiteSettings,
    },
    privacy::{
        account::SignInMail,
        incidents::BreachMail,
        mydata::{ErasedMail, LinkMail},
    },
    shop::handlers::{LineView, OrderMail, TotalView},
    staff::{handlers::InviteMail, notifications::NoticeMail},
    support::{
        csat::CsatMail,
        tickets::{ReceivedMail, ReplyMail},
    },
    webhooks::DisabledMail,
};

const LINK: &str = "https://officecomms.test/a/link?x=1&y=2";

fn company() -> String {
    SiteSettings::demo().company_name
}

/// Each transactional mail with everyday values, by template name.
fn every_mail() -> Vec<(&'static str, OutgoingMail)> {
    let c = company;
    let to = "ann@example.com";
    let mails: Vec<(&str, anyhow::Result<OutgoingMail>)> = vec![
        (
            "ticket_received",
            ReceivedMail {
                name: "Ann".into(),
                reference: "OC-2026-000001".into(),
                title: "Printer offline".into(),
                link: LINK.into(),
                company: c(),
            }
            .to_mail(to),
        ),
        (
            "ticket_reply",
            ReplyMail {
                name: "Ann".into(),
                reference: "OC-2026-000001".into(),
                title: "Printer offline".into(),
                link: LINK.into(),
                company: c(),
                agent: "Sam".into(),
                body: "Please restart it.\n\nSam".into(),
            }
            .to_mail(to),
        ),
        (
            "ticket_reply (the agent greets)",
            ReplyMail {
                name: "Ann".into(),
                reference: "OC-2026-000001".into(),
                title: "Printer offline".into(),
                link: LINK.into(),
                company: c(),
                agent: "Sam".into(),
                body: "Hello Ann, please restart it.".into(),
            }
            .to_mail(to),
        ),
        (
            "chat_transcript",
            TranscriptMail {
                name: "Ann".into(),
                company: c(),
                lines: vec![TranscriptLine {
                    who: "You".into(),
                    at: "7 Dec 2026, 09:15 PST".into(),
                    body: "My printer is offline".into(),
                }],
            }
            .to_mail(to),
        ),
        (
            "chat_verify",
            VerifyMail {
                name: "Ann".into(),
                company: c(),
                link: LINK.into(),
                days: 7,
            }
            .to_mail(to),
        ),
        (
            "my_data_link",
            LinkMail {
                company: c(),
                link: LINK.into(),
                hours: 24,
            }
            .to_mail(to),
        ),
        (
            "my_data_erased",
            ErasedMail {
                company: c(),
                rows: 12,
            }
            .to_mail(to),
        ),
        (
            "newsletter_confirm",
            ConfirmMail {
                company: c(),
                name: String::new(),
                topics: "product news".into(),
                link: LINK.into(),
                days: 7,
            }
            .to_mail(to),
        ),
        (
            "order_received",
            OrderMail {
                company: c(),
                reference: "OR-2026-000001".into(),
                name: "Ann".into(),
                lines: vec![LineView {
                    service_id: 1,
                    name: "Setup".into(),
                    billing: "one-off",
                    unit_price: "$49.00".into(),
                    quantity: 2,
                    total: "$98.00".into(),
                }],
                totals: vec![TotalView {
                    label: "one-off",
                    amount: "$98.00".into(),
                }],
            }
            .to_mail(to),
        ),
        (
            "staff_invite",
            InviteMail {
                inviter: "Kim".into(),
                company: c(),
                link: LINK.into(),
            }
            .to_mail(to),
        ),
        (
            "staff_notice",
            NoticeMail {
                subject: "OC-2026-000001 was assigned to you by Sam".into(),
                sentence: "OC-2026-000001 was assigned to you by Sam.".into(),
                link: LINK.into(),
                choice: "Someone assigns a ticket to you".into(),
                settings_link: LINK.into(),
                company: c(),
            }
            .to_mail(to),
        ),
        (
            "breach_notice",
            BreachMail {
                company: c(),
                title: "Lost laptop".into(),
                description: "A laptop was stolen.".into(),
                link: LINK.into(),
            }
            .to_mail(to),
        ),
        (
            "account_sign_in",
            SignInMail {
                company: c(),
                link: LINK.into(),
                minutes: 30,
            }
            .to_mail(to),
        ),
        (
            "csat_request",
            CsatMail {
                name: "Ann".into(),
                reference: "OC-2026-000001".into(),
                title: "Printer offline".into(),
                company: c(),
                links: vec![
                    (
                        1,
                        "Very unsatisfied",
                        "https://officecomms.test/csat/t?score=1".into(),
                    ),
                    (
                        5,
                        "Very satisfied",
                        "https://officecomms.test/csat/t?score=5".into(),
                    ),
                ],
            }
            .to_mail(to),
        ),
        (
            "webhook_disabled",
            DisabledMail {
                endpoint: "Acme CRM".into(),
                company: c(),
                link: LINK.into(),
            }
            .to_mail(to),
        ),
    ];
    let site = SiteSettings::demo();
    mails
        .into_iter()
        .map(|(name, mail)| (name, with_postal_address(&site, &mail.expect(name))))
        .collect()
}

fn greetings(text: &str) -> usize {
    text.lines()
        .filter(|l| crate::platform::mail::starts_with_greeting(l))
        .count()
}

#[test]
fn every_mail_template_is_in_the_layout_test() {
    let names: Vec<&str> = every_mail().iter().map(|(name, _)| *name).collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email");
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let template = entry.file_name().to_string_lossy().to_string();
        // The campaign is a newsletter, not a transactional mail.
        assert!(
            template == "campaign" || names.contains(&template.as_str()),
            "templates/email/{template} is not in every_mail()"
        );
    }
}

#[test]
fn every_transactional_mail_is_on_the_layout_with_one_greeting_and_readable_text() {
    let site = SiteSettings::demo();
    for (name, mail) in every_mail() {
        let html = mail.html.as_deref().unwrap_or_default();
        let text = &mail.text;
        assert!(
            html.starts_with("<!doctype html>") && html.contains("aria-roledescription=\"email\""),
            "{name}: not on the layout"
        );
        assert!(
            html.contains("font-family:-apple-system"),
            "{name}: the system fonts"
        );
        assert!(
            html.contains(&format!(">{}</td>", site.company_name)),
            "{name}: the brand heads the mail"
        );
        for part in [html, text.as_str()] {
            assert!(
                part.contains("1200 Harbor Street"),
                "{name}: the postal address"
            );
            assert!(
                !part.contains("{postal-address}"),
                "{name}: the address slot is filled"
            );
            assert!(
                !part.contains("officecomms, officecomms")
                    && !part.contains("officecomms<br>officecomms"),
                "{name}: the company named once in the address"
            );
            assert!(
                part.contains("You receive this email because"),
                "{name}: why they get it"
            );
        }
        assert_eq!(greetings(text), 1, "{name}: one greeting in\n{text}");
        assert_eq!(
            html.matches(">Hello").count(),
            1,
            "{name}: one greeting in the HTML"
        );
        for syntax in ["](", "**", "# ", "<", "&amp;", "&#"] {
            assert!(
                !text.contains(syntax),
                "{name}: {syntax:?} in the plain text:\n{text}"
            );
        }
        if html.contains("href=\"https://officecomms.test/a/link") {
            assert_eq!(
                html.matches("font-weight:700;line-height:1.2;color:#ffffff")
                    .count(),
                1,
                "{name}: one call-to-action button"
            );
            assert!(
                text.contains(&format!("({LINK})")),
                "{name}: the link reads \"text (URL)\":\n{text}"
            );
        }
    }
}

//! The newsletter: double opt-in subscriptions with consent proof, topics
//! and a preference page without login, campaigns that cannot leave without
//! passing the CAN-SPAM checks ([`compliance`]), one-click unsubscribe onto
//! the global suppression list, and CSV import and export.

pub mod api;
pub mod campaigns;
pub mod compliance;
pub mod db;
pub mod public;
pub mod runner;
pub mod subscribers;

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use crate::{
    AppState,
    platform::crypto::Keyring,
    privacy::inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
};
use axum::{
    Router,
    routing::{get, post},
};

/// Topics a subscriber can choose: `(key, label)`.
pub const TOPICS: &[(&str, &str)] = &[
    ("product-updates", "Product updates"),
    ("tips", "Tips and how-tos"),
    ("offers", "Offers on our services"),
];

/// How long a confirmation link works.
pub const CONFIRM_DAYS: i64 = 7;
const DAY_MS: i64 = 86_400_000;
const CONFIRM_PURPOSE: &str = "newsletter-confirm";
const LINK_PURPOSE: &str = "newsletter-link";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/newsletter",
            get(public::show_subscribe).post(public::subscribe),
        )
        .route(
            "/newsletter/confirm/{token}",
            get(public::show_confirm).post(public::confirm),
        )
        .route(
            "/newsletter/preferences/{token}",
            get(public::show_preferences).post(public::save_preferences),
        )
        .route(
            "/unsubscribe/{token}",
            get(public::show_unsubscribe).post(public::unsubscribe),
        )
        .route(
            "/admin/campaigns",
            get(campaigns::list_campaigns).post(campaigns::create_campaign),
        )
        .route("/admin/campaigns/new", get(campaigns::new_campaign))
        .route(
            "/admin/campaigns/{id}",
            get(campaigns::show_campaign).post(campaigns::act_on_campaign),
        )
        .route(
            "/admin/campaigns/{id}/send",
            get(campaigns::show_send_confirm).post(campaigns::confirm_send),
        )
        .route(
            "/admin/campaigns/{id}/pause",
            post(campaigns::pause_campaign),
        )
        .route(
            "/admin/campaigns/{id}/resume",
            post(campaigns::resume_campaign),
        )
        .route("/admin/subscribers", get(subscribers::list_subscribers))
        .route(
            "/admin/subscribers/export.csv",
            get(subscribers::export_csv),
        )
        .route("/admin/subscribers/import", post(subscribers::import_csv))
}

/// Topics as stored: known keys, comma-separated, in [`TOPICS`] order.
pub fn topics_to_text(chosen: &[String]) -> String {
    TOPICS
        .iter()
        .filter(|(k, _)| chosen.iter().any(|c| c == k))
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(",")
}

pub fn topics_from_text(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| TOPICS.iter().any(|(k, _)| k == t))
        .map(str::to_string)
        .collect()
}

/// The confirmation link's token: subscriber and expiry, signed.
pub fn confirm_token(keyring: &Keyring, subscriber_id: i64, now: i64) -> String {
    keyring.sign(
        CONFIRM_PURPOSE,
        &format!("{subscriber_id}-{}", now + CONFIRM_DAYS * DAY_MS),
    )
}

#[derive(Debug, PartialEq, Eq)]
pub enum ConfirmToken {
    Valid(i64),
    Expired,
    Forged,
}

pub fn check_confirm_token(keyring: &Keyring, token: &str, now: i64) -> ConfirmToken {
    let parsed = keyring.verify(CONFIRM_PURPOSE, token).and_then(|data| {
        let (id, expires) = data.split_once('-')?;
        Some((id.parse::<i64>().ok()?, expires.parse::<i64>().ok()?))
    });
    match parsed {
        None => ConfirmToken::Forged,
        Some((_, expires)) if expires < now => ConfirmToken::Expired,
        Some((id, _)) => ConfirmToken::Valid(id),
    }
}

/// How long the preference link of a mail (or of the confirmation page)
/// opens the subscriber's settings: later mails carry fresh links.
pub const LINK_DAYS: i64 = 365;

/// The token of the unsubscribe and preference links in a mail: which
/// subscriber and which campaign (0: none), and until when the preference
/// page opens with it, signed. Unsubscribing works with it for ever.
pub fn link_token(keyring: &Keyring, subscriber_id: i64, campaign_id: i64, now: i64) -> String {
    let expires = now + LINK_DAYS * DAY_MS;
    keyring.sign(
        LINK_PURPOSE,
        &format!("{subscriber_id}-{campaign_id}-{expires}"),
    )
}

/// A genuine link token: subscriber, campaign, and whether it has expired
/// at `now` (links from before expiries existed count as expired).
#[derive(Debug, PartialEq, Eq)]
pub struct LinkToken {
    pub subscriber: i64,
    pub campaign: i64,
    pub expired: bool,
}

pub fn check_link_token(keyring: &Keyring, token: &str, now: i64) -> Option<LinkToken> {
    let data = keyring.verify(LINK_PURPOSE, token)?;
    let mut parts = data.splitn(3, '-');
    let subscriber = parts.next()?.parse().ok()?;
    let campaign = parts.next()?.parse().ok()?;
    let expired = match parts.next() {
        Some(expires) => expires.parse::<i64>().ok()? < now,
        None => true,
    };
    Some(LinkToken {
        subscriber,
        campaign,
        expired,
    })
}

/// Campaign subjects and bodies, for the integrity scan.
pub const SCAN_SOURCES: &[crate::platform::scan::Source] =
    &[crate::platform::scan::Source::Query {
        kind: "campaign",
        sql: "SELECT CAST(id AS TEXT), subject || ' ' || body FROM newsletter_campaigns",
    }];

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] = &[
    NavItem::new(
        "Marketing",
        "Subscribers",
        "/admin/subscribers",
        Role::Admin,
    )
    .icon(Icon::Mail),
    NavItem::new("Marketing", "Campaigns", "/admin/campaigns", Role::Admin).icon(Icon::Megaphone),
];

pub const TABLES: &[Table] = &[
    Table {
        name: "newsletter_subscribers",
        feature: "newsletter subscription",
        title: "Newsletter subscription",
        summary: "Newsletter · {status} · {topics}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::UntilErased,
        personal: &[
            Field {
                column: "email",
                label: "the email address you subscribed with",
                category: Category::Contact,
                purpose: "to send you the newsletter topics you chose",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "name",
                label: "the name you gave when subscribing (optional)",
                category: Category::Identity,
                purpose: "to greet you in the newsletter",
                encrypted: true,
                shared_with: &[],
            },
            Field {
                column: "consent_ip_hash",
                label: "a keyed hash of the network address you subscribed from",
                category: Category::Technical,
                purpose: "to prove when and how you agreed to receive the newsletter",
                encrypted: false,
                shared_with: &[],
            },
        ],
        other: &[
            "id",
            "subject_id",
            "status",
            "topics",
            "created_at",
            "confirmed_at",
            "unsubscribed_at",
            "consent_at",
            "consent_source",
            "consent_policy",
        ],
        columns: &[
            Column::new(
                "email",
                "Address",
                Shown::Email,
                "Where we send the newsletter topics you chose.",
            ),
            Column::new(
                "name",
                "Name",
                Shown::Text,
                "If you gave it, to greet you in the newsletter.",
            ),
            Column::new(
                "status",
                "Status",
                Shown::Status,
                "Whether you confirmed your subscription, or unsubscribed.",
            ),
            Column::new(
                "topics",
                "Topics",
                Shown::List,
                "The topics you chose to receive.",
            ),
            Column::new(
                "created_at",
                "Signed up",
                Shown::DateTime,
                "When you asked to subscribe.",
            ),
            Column::new(
                "confirmed_at",
                "Confirmed",
                Shown::DateTime,
                "When you confirmed from the email we sent.",
            ),
            Column::new(
                "unsubscribed_at",
                "Unsubscribed",
                Shown::DateTime,
                "When you unsubscribed, if you did.",
            ),
            Column::new(
                "consent_at",
                "Consent given",
                Shown::DateTime,
                "When you agreed to receive the newsletter, kept as proof.",
            ),
            Column::new(
                "consent_source",
                "Where you agreed",
                Shown::Status,
                "Which form you agreed on, kept as proof.",
            ),
            Column::new(
                "consent_policy",
                "Privacy policy you saw",
                Shown::Reference,
                "The version of this privacy policy in force when you agreed.",
            ),
            Column::new(
                "consent_ip_hash",
                "Fingerprint of your network address",
                Shown::Internal,
                "A keyed fingerprint of the network address you subscribed from, kept as proof of how you agreed.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
        ],
    },
    Table {
        name: "newsletter_campaigns",
        feature: "newsletter campaigns (staff only)",
        title: "Newsletter campaigns",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "created_at",
            "updated_at",
            "created_by",
            "subject",
            "from_name",
            "reply_to",
            "body",
            "topics",
            "commercial",
            "ad_label",
            "status",
            "scheduled_at",
            "started_at",
            "finished_at",
            "enqueued_through",
            "suppressed",
            "unsubscribed",
        ],
        columns: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_tokens_expire_and_cannot_be_forged() {
        let keyring = Keyring::from_secret(&[5; 32]);
        let token = confirm_token(&keyring, 42, 1_000);
        assert_eq!(
            check_confirm_token(&keyring, &token, 2_000),
            ConfirmToken::Valid(42)
        );
        assert_eq!(
            check_confirm_token(&keyring, &token, 1_000 + 8 * DAY_MS),
            ConfirmToken::Expired
        );
        let forged = token.replacen("42", "43", 1);
        assert_eq!(
            check_confirm_token(&keyring, &forged, 2_000),
            ConfirmToken::Forged
        );
        let other = Keyring::from_secret(&[6; 32]);
        assert_eq!(
            check_confirm_token(&other, &token, 2_000),
            ConfirmToken::Forged
        );
    }

    #[test]
    fn topics_keep_only_known_keys_in_order() {
        let chosen = vec!["tips".to_string(), "bogus".into(), "product-updates".into()];
        assert_eq!(topics_to_text(&chosen), "product-updates,tips");
        assert_eq!(
            topics_from_text("tips, nope,offers"),
            vec!["tips".to_string(), "offers".into()]
        );
    }
}

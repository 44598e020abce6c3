//! The helpdesk's own settings, kept as `support.*` keys in the shared
//! settings table and edited by admins at `/admin/tickets/settings`.

use super::sla::{self, Targets};
use crate::platform::{
    db::{Db, Tx},
    settings,
};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupportSettings {
    /// Accepted submissions per IP address in any rolling hour (Zammad's default: 20).
    pub per_ip_hour: i64,
    /// Accepted submissions per IP address in any rolling day (Zammad's default: 240).
    pub per_ip_day: i64,
    /// A form sent back sooner than this after it was shown is a robot's.
    pub min_fill_secs: i64,
    /// A form older than this must be reloaded.
    pub max_form_age_secs: i64,
    /// Products offered in the form; the person may also type another.
    pub products: Vec<String>,
    /// Region assumed for phone numbers typed without a `+` country code.
    pub phone_region: String,
    /// First- and next-response targets per priority, in business time.
    pub sla_targets: Targets,
    /// Business hours, local time: first and last weekday (1 = Monday) and hours.
    pub business_days: (u32, u32),
    /// Local time in the company's zone (`SiteSettings::time_zone`).
    pub business_hours: (u32, u32),
    /// Ask the requester for a satisfaction rating when a ticket is first solved.
    pub csat_enabled: bool,
    /// A waiting live chat nobody answers for this long becomes a ticket.
    pub chat_unanswered_secs: i64,
    /// A chat nobody accepted for this long is notified to the agents.
    pub chat_waiting_notify_secs: i64,
    /// Temporary delivery failures of marketing mail in a row after which
    /// an address gets no more; `None` until an admin saves one: the
    /// configured default (`OFFICECOMMS_SOFT_BOUNCE_LIMIT`).
    pub soft_bounce_limit: Option<i64>,
}

impl Default for SupportSettings {
    fn default() -> Self {
        SupportSettings {
            per_ip_hour: 20,
            per_ip_day: 240,
            min_fill_secs: 3,
            max_form_age_secs: 24 * 3600,
            products: [
                "Microsoft 365",
                "Windows",
                "Google Workspace",
                "QuickBooks",
                "Zoom",
                "Adobe Acrobat",
                "Printers and scanners",
            ]
            .map(String::from)
            .to_vec(),
            phone_region: "US".into(),
            sla_targets: Targets::default(),
            business_days: (1, 5),
            business_hours: (9, 17),
            csat_enabled: true,
            chat_unanswered_secs: 120,
            chat_waiting_notify_secs: 60,
            soft_bounce_limit: None,
        }
    }
}

/// `(key, label, help)` of every editable setting, in form order.
pub const FIELDS: &[(&str, &str, &str)] = &[
    (
        "per_ip_hour",
        "Requests per IP address and hour",
        "Accepted contact-form submissions from one address in any hour.",
    ),
    (
        "per_ip_day",
        "Requests per IP address and day",
        "Accepted contact-form submissions from one address in any day.",
    ),
    (
        "min_fill_secs",
        "Fastest human fill time (seconds)",
        "A form sent back sooner than this after it was shown is refused as automated.",
    ),
    (
        "max_form_age_secs",
        "Form lifetime (seconds)",
        "An older form must be reloaded.",
    ),
    (
        "products",
        "Products (one per line)",
        "Offered in the form; people may also type another.",
    ),
    (
        "phone_region",
        "Phone region",
        "Two-letter country assumed for numbers typed without +country code.",
    ),
    // The response targets, shown as one table (see `is_target`).
    ("sla_first_urgent", "Urgent: first response", ""),
    ("sla_next_urgent", "Urgent: next response", ""),
    ("sla_first_high", "High: first response", ""),
    ("sla_next_high", "High: next response", ""),
    ("sla_first_normal", "Normal: first response", ""),
    ("sla_next_normal", "Normal: next response", ""),
    ("sla_first_low", "Low: first response", ""),
    ("sla_next_low", "Low: next response", ""),
    (
        "business_days",
        "Business days",
        "First and last weekday, 1 = Monday, like 1-5.",
    ),
    (
        "business_hours",
        "Business hours",
        "Opening and closing hour, 24-hour clock, like 9-17, in the company's time zone (site settings).",
    ),
    (
        "csat",
        "Satisfaction ratings",
        "When a ticket is first solved, mail its requester one request to rate our help from 1 to 5.",
    ),
    (
        "chat_unanswered_secs",
        "Seconds before an unanswered chat becomes a ticket",
        "A live chat nobody answers in this time is turned into a support ticket answered by email (30 to 86400).",
    ),
    (
        "chat_waiting_notify_secs",
        "Seconds before agents are told a chat waits",
        "A live chat nobody has accepted in this time is notified once to the agents online (to every active agent when none is), as each chose in their settings (10 to 86400; below the ticket time above to be useful).",
    ),
    (
        "soft_bounce_limit",
        "Temporary delivery failures before marketing mail stops",
        "After this many temporary failures in a row (a full mailbox, a server down: 4.x.x bounces) an address gets no more newsletters; one that reaches the person starts the count over. A permanent failure or a spam complaint stops it at once (1 to 100).",
    ),
];

/// Before targets had priorities, one first-response target in hours: it
/// is the normal priority's until an admin saves the targets.
const LEGACY_FIRST_RESPONSE: &str = "support.sla_first_response_hours";

/// A response target's key: `(response, priority)` of `sla_first_high`.
fn target_key(key: &str) -> Option<(sla::Response, &str)> {
    let (response, priority) = if let Some(p) = key.strip_prefix("sla_first_") {
        (sla::Response::First, p)
    } else {
        (sla::Response::Next, key.strip_prefix("sla_next_")?)
    };
    super::labels::PRIORITIES
        .contains(&priority)
        .then_some((response, priority))
}

/// Whether `key` is one of the response targets.
pub fn is_target(key: &str) -> bool {
    target_key(key).is_some()
}

fn range(v: &str, lo: u32, hi: u32) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (lo <= a && a <= b && b <= hi).then_some((a, b))
}

impl SupportSettings {
    /// The value of a setting as shown in the form.
    pub fn get(&self, key: &str) -> String {
        if let Some((response, priority)) = target_key(key) {
            let t = self.sla_targets.of(priority);
            return sla::minutes_words(match response {
                sla::Response::First => t.first_min,
                sla::Response::Next => t.next_min,
            });
        }
        match key {
            "per_ip_hour" => self.per_ip_hour.to_string(),
            "per_ip_day" => self.per_ip_day.to_string(),
            "min_fill_secs" => self.min_fill_secs.to_string(),
            "max_form_age_secs" => self.max_form_age_secs.to_string(),
            "products" => self.products.join("\n"),
            "phone_region" => self.phone_region.clone(),
            "business_days" => format!("{}-{}", self.business_days.0, self.business_days.1),
            "business_hours" => format!("{}-{}", self.business_hours.0, self.business_hours.1),
            "csat" => if self.csat_enabled { "on" } else { "off" }.into(),
            "chat_unanswered_secs" => self.chat_unanswered_secs.to_string(),
            "chat_waiting_notify_secs" => self.chat_waiting_notify_secs.to_string(),
            "soft_bounce_limit" => self
                .soft_bounce_limit
                .map(|n| n.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// Applies one typed value; an error message when it is not usable.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), &'static str> {
        let v = value.trim();
        let number = |lo: i64, hi: i64| -> Result<i64, &'static str> {
            v.parse::<i64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or("Please enter a whole number in the allowed range.")
        };
        if let Some((response, priority)) = target_key(key) {
            let minutes = sla::parse_minutes(v)
                .filter(|m| (1..=60_000).contains(m))
                .ok_or(
                    "Please enter a business time like 4 h, 45 min or 1 h 30 min (from 1 minute to 1000 hours).",
                )?;
            let target = self
                .sla_targets
                .of_mut(priority)
                .ok_or("Unknown setting.")?;
            match response {
                sla::Response::First => target.first_min = minutes,
                sla::Response::Next => target.next_min = minutes,
            }
            return Ok(());
        }
        match key {
            "per_ip_hour" => self.per_ip_hour = number(1, 1_000_000)?,
            "per_ip_day" => self.per_ip_day = number(1, 10_000_000)?,
            "min_fill_secs" => self.min_fill_secs = number(0, 600)?,
            "max_form_age_secs" => self.max_form_age_secs = number(60, 30 * 86_400)?,
            "products" => {
                let list: Vec<String> = v
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| l.chars().take(80).collect())
                    .collect();
                if list.is_empty() {
                    return Err("Please list at least one product.");
                }
                self.products = list;
            }
            "phone_region" => {
                let code = v.to_ascii_uppercase();
                if code.parse::<phonenumber::country::Id>().is_err() {
                    return Err("Please enter a two-letter country code, like US.");
                }
                self.phone_region = code;
            }
            "business_days" => {
                self.business_days = range(v, 1, 7).ok_or("Please enter two weekdays, like 1-5.")?
            }
            "business_hours" => {
                self.business_hours = range(v, 0, 24)
                    .filter(|(a, b)| a < b)
                    .ok_or("Please enter two hours, like 9-17.")?
            }
            "csat" => {
                self.csat_enabled = match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err("Please choose on or off."),
                }
            }
            "chat_unanswered_secs" => self.chat_unanswered_secs = number(30, 86_400)?,
            "chat_waiting_notify_secs" => self.chat_waiting_notify_secs = number(10, 86_400)?,
            "soft_bounce_limit" => self.soft_bounce_limit = Some(number(1, 100)?),
            _ => return Err("Unknown setting."),
        }
        Ok(())
    }

    /// The soft-bounce limit in force: the saved one, else `configured`.
    pub fn soft_bounce_limit(&self, configured: u32) -> i64 {
        self.soft_bounce_limit.unwrap_or(i64::from(configured))
    }

    /// Shows the configured soft-bounce limit until one is saved.
    pub fn with_configured(mut self, soft_bounce_limit: u32) -> SupportSettings {
        self.soft_bounce_limit = Some(self.soft_bounce_limit(soft_bounce_limit));
        self
    }

    fn from_map(map: &BTreeMap<String, String>) -> SupportSettings {
        let mut s = SupportSettings::default();
        if let Some(hours) = map.get(LEGACY_FIRST_RESPONSE) {
            let _ = s.set("sla_first_normal", hours);
        }
        for (key, _, _) in FIELDS {
            if let Some(v) = map.get(&format!("support.{key}")) {
                // A stored value that no longer parses keeps the default.
                let _ = s.set(key, v);
            }
        }
        s
    }
}

pub async fn load(db: &Db) -> Result<SupportSettings, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM settings WHERE key LIKE 'support.%'")
            .fetch_all(&db.pool)
            .await?;
    Ok(SupportSettings::from_map(&rows.into_iter().collect()))
}

pub async fn save(tx: &mut Tx, s: &SupportSettings) -> Result<(), sqlx::Error> {
    for (key, _, _) in FIELDS {
        settings::put(tx, &format!("support.{key}"), &s.get(key)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_refuse_nonsense() {
        let mut s = SupportSettings::default();
        let map: BTreeMap<String, String> = FIELDS
            .iter()
            .map(|(k, _, _)| (format!("support.{k}"), s.get(k)))
            .collect();
        assert_eq!(SupportSettings::from_map(&map), s);
        assert!(s.set("per_ip_hour", "0").is_err());
        assert!(s.set("business_hours", "17-9").is_err());
        assert!(s.set("phone_region", "XX").is_err());
        assert!(s.set("chat_unanswered_secs", "5").is_err());
        assert!(s.set("chat_unanswered_secs", "two minutes").is_err());
        s.set("chat_unanswered_secs", "300").unwrap();
        assert_eq!(s.chat_unanswered_secs, 300);
        assert!(s.set("chat_waiting_notify_secs", "0").is_err());
        assert!(s.set("chat_waiting_notify_secs", "-60").is_err());
        s.set("chat_waiting_notify_secs", "45").unwrap();
        assert_eq!(s.chat_waiting_notify_secs, 45);
        s.set("phone_region", "gb").unwrap();
        assert_eq!(s.phone_region, "GB");
        s.set("business_days", "2-6").unwrap();
        assert_eq!(s.business_days, (2, 6));
        assert_eq!(s.soft_bounce_limit(3), 3, "the configured default");
        for bad in ["0", "101", "three", "-1", ""] {
            assert!(s.set("soft_bounce_limit", bad).is_err(), "{bad}");
        }
        s.set("soft_bounce_limit", " 5 ").unwrap();
        assert_eq!(s.soft_bounce_limit(3), 5);
    }

    #[test]
    fn response_targets_are_business_times_per_priority() {
        let mut s = SupportSettings::default();
        assert_eq!(s.get("sla_first_urgent"), "1 h");
        assert_eq!(s.get("sla_next_low"), "48 h");
        s.set("sla_first_urgent", "45 min").unwrap();
        s.set("sla_next_high", "1 h 30 min").unwrap();
        assert_eq!(s.sla_targets.of("urgent").first_min, 45);
        assert_eq!(s.sla_targets.of("high").next_min, 90);
        assert_eq!(s.get("sla_next_high"), "1 h 30 min");
        for bad in ["0", "0 min", "-1 h", "1001 h", "1.5", "soon", ""] {
            assert!(s.set("sla_first_low", bad).is_err(), "{bad}");
        }
        assert!(s.set("sla_first_someday", "1 h").is_err());
        assert_eq!(s.sla_targets.of("low").first_min, 24 * 60, "unchanged");
        // The one target of before is the normal priority's first response.
        let old: BTreeMap<String, String> =
            [(LEGACY_FIRST_RESPONSE.to_string(), "6".to_string())].into();
        assert_eq!(
            SupportSettings::from_map(&old)
                .sla_targets
                .of("normal")
                .first_min,
            360
        );
        // Once saved, the new key wins.
        let mut both = old.clone();
        both.insert("support.sla_first_normal".into(), "5 h".into());
        assert_eq!(
            SupportSettings::from_map(&both)
                .sla_targets
                .of("normal")
                .first_min,
            300
        );
    }
}

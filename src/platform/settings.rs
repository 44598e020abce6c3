//! Site settings (company, postal address, contact email…) kept in the
//! `settings` table and cached in memory; editing them refreshes the cache.

use super::{
    db::{Db, Tx},
    inventory::{Retention, Table},
};
use chrono_tz::Tz;
use std::{collections::BTreeMap, sync::Arc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSettings {
    pub company_name: String,
    pub tagline: String,
    /// The physical postal address, shown in the footer, the policy and every mail.
    pub postal_address: String,
    pub contact_email: String,
    pub contact_phone: String,
    /// The company's time zone (IANA): business hours, and the times shown
    /// to visitors and to staff who have not picked their own.
    pub time_zone: Tz,
    /// The third-party tag, while switched on (`tags.*` keys, read by the
    /// consent feature's [`TagReader`]).
    pub third_party: Option<ThirdPartyTag>,
    /// Days backups are kept (configuration, not an editable setting): the
    /// policy states how long erased data can remain in them.
    pub backup_keep_days: u32,
    /// Forms whose age question an admin switched off (`age_question.<form>`
    /// = `off`); every other form asks.
    pub age_question_off: Vec<String>,
    /// Services that receive personal data in webhook events (endpoints
    /// whose admin ticked "include personal data"): the policy names them.
    pub webhook_recipients: Vec<String>,
}

/// A configured, switched-on third-party tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThirdPartyTag {
    pub name: String,
    pub script_url: String,
    pub init_script: String,
    pub policy_url: String,
    /// Origins beyond the script's own, normalised.
    pub origins: Vec<String>,
}

/// Reads the third-party tag from the stored settings (the consent feature
/// owns those keys and their validation; the application registers it).
pub type TagReader = fn(&BTreeMap<String, String>) -> Option<ThirdPartyTag>;

/// The settings key of a form's age question: `age_question.<form>`.
pub const AGE_QUESTION_PREFIX: &str = "age_question.";

/// `(key, label)` of every setting, in form order.
pub const FIELDS: &[(&str, &str)] = &[
    ("company_name", "Company name"),
    ("tagline", "Tagline"),
    ("postal_address", "Postal address"),
    ("contact_email", "Contact email"),
    ("contact_phone", "Contact phone"),
    ("time_zone", "Company time zone"),
];

/// The company's zone until an admin picks one (officecomms is in Oakland).
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::America::Los_Angeles;

/// An IANA time zone name ("America/Los_Angeles"), checked against the tz
/// database; the message says what is wrong.
pub fn parse_time_zone(name: &str) -> Result<Tz, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err("Please choose a time zone, like America/Los_Angeles.");
    }
    name.parse::<Tz>()
        .map_err(|_| "This is not a time zone we know: use an IANA name, like Europe/Berlin.")
}

impl SiteSettings {
    /// The postal address without the company's name in front, for a line
    /// that names the company first ("officecomms, 1200 Harbor Street…"
    /// reads "1200 Harbor Street…").
    pub fn street_address(&self) -> &str {
        let address = self.postal_address.trim();
        address
            .strip_prefix(self.company_name.trim())
            .map(|rest| rest.trim_start_matches([',', ' ', '\n', '\r']))
            .filter(|rest| !rest.is_empty() && !self.company_name.trim().is_empty())
            .unwrap_or(address)
    }

    /// officecomms.com, the demo company.
    pub fn demo() -> SiteSettings {
        SiteSettings {
            company_name: "officecomms".into(),
            tagline: "Friendly help with the software your office runs on".into(),
            postal_address: "officecomms, 1200 Harbor Street, Suite 400, Oakland, CA 94607, USA"
                .into(),
            contact_email: "hello@officecomms.com".into(),
            contact_phone: "+1 510 555 0142".into(),
            time_zone: DEFAULT_TIME_ZONE,
            third_party: None,
            backup_keep_days: 30,
            age_question_off: Vec::new(),
            webhook_recipients: Vec::new(),
        }
    }

    fn from_map(map: &BTreeMap<String, String>, read_tag: Option<TagReader>) -> SiteSettings {
        let demo = SiteSettings::demo();
        let get = |k: &str, d: String| map.get(k).cloned().unwrap_or(d);
        SiteSettings {
            company_name: get("company_name", demo.company_name),
            tagline: get("tagline", demo.tagline),
            postal_address: get("postal_address", demo.postal_address),
            contact_email: get("contact_email", demo.contact_email),
            contact_phone: get("contact_phone", demo.contact_phone),
            time_zone: map
                .get("time_zone")
                .and_then(|z| parse_time_zone(z).ok())
                .unwrap_or(demo.time_zone),
            third_party: read_tag.and_then(|read| read(map)),
            backup_keep_days: demo.backup_keep_days,
            age_question_off: map
                .iter()
                .filter(|(k, v)| k.starts_with(AGE_QUESTION_PREFIX) && v.as_str() == "off")
                .map(|(k, _)| k[AGE_QUESTION_PREFIX.len()..].to_string())
                .collect(),
            webhook_recipients: {
                let mut names: Vec<String> = map
                    .iter()
                    .filter(|(k, _)| k.starts_with(super::webhooks::DISCLOSURE_PREFIX))
                    .map(|(_, v)| v.clone())
                    .collect();
                names.sort();
                names.dedup();
                names
            },
        }
    }

    /// Whether the form named `form` asks the year of birth (the age gate).
    pub fn asks_age(&self, form: &str) -> bool {
        !self.age_question_off.iter().any(|f| f == form)
    }

    pub fn get(&self, key: &str) -> &str {
        match key {
            "time_zone" => self.time_zone.name(),
            "company_name" => &self.company_name,
            "tagline" => &self.tagline,
            "postal_address" => &self.postal_address,
            "contact_email" => &self.contact_email,
            "contact_phone" => &self.contact_phone,
            _ => "",
        }
    }

    /// The domain of the contact address, for Message-IDs.
    pub fn mail_domain(&self) -> &str {
        self.contact_email
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("localhost")
    }
}

/// The settings stored in the database, with the configured backup window.
pub async fn load(
    db: &Db,
    read_tag: Option<TagReader>,
    backup_keep_days: u32,
) -> anyhow::Result<Arc<SiteSettings>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM settings")
        .fetch_all(&db.pool)
        .await?;
    Ok(Arc::new(SiteSettings {
        backup_keep_days,
        ..SiteSettings::from_map(&rows.into_iter().collect(), read_tag)
    }))
}

pub async fn is_empty(db: &Db) -> anyhow::Result<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM settings")
        .fetch_one(&db.pool)
        .await?;
    Ok(n == 0)
}

pub async fn put(tx: &mut Tx, key: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes every setting whose key starts with `prefix`.
pub async fn remove_prefix(tx: &mut Tx, prefix: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM settings WHERE substr(key, 1, length($1)) = $1")
        .bind(prefix)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Raw value of one setting outside [`SiteSettings`] (features keep their own keys here).
pub async fn get_raw(db: &Db, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await
}

pub const TABLES: &[Table] = &[Table {
    name: "settings",
    feature: "site configuration",
    title: "Site settings",
    summary: "",
    subject_column: None,
    created_column: None,
    retention: Retention::UntilErased,
    personal: &[],
    other: &["key", "value"],
    columns: &[],
}];

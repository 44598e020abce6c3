//! The privacy policy, generated from the data inventory and the site
//! settings, so it cannot drift from what the code stores. Its version is a
//! hash of its text: any change to the inventory or settings makes a new one.

use super::inventory::{self, Cookie, Field, Inventory, Table};
use crate::platform::settings::SiteSettings;
use askama::Template;
use sha2::{Digest, Sha256};

pub struct Policy {
    pub markdown: String,
    /// Short hash of the text, recorded with every consent.
    pub version: String,
}

pub fn generate(site: &SiteSettings, inventory: &Inventory) -> Policy {
    let body = Body {
        site,
        fields: inventory.fields().collect(),
        cookies: inventory::COOKIES,
        age_forms: super::age::FORMS,
    }
    .render()
    // Into a String, with filters that cannot fail: rendering cannot fail.
    .expect("the policy template renders");
    let version = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    let markdown = format!("# Privacy policy\n\nPolicy version `{version}`.\n\n{body}");
    Policy { markdown, version }
}

/// Records this version if new; returns when it first took effect.
pub async fn record(db: &crate::platform::db::Db, policy: &Policy) -> Result<i64, sqlx::Error> {
    super::db::save_policy_version(db, &policy.version, &policy.markdown).await?;
    Ok(super::db::policy_version(db, &policy.version)
        .await?
        .map(|(_, at)| at)
        .unwrap_or_default())
}

/// The policy's text below its title and version (`templates/privacy/policy.md`).
#[derive(Template)]
#[template(path = "privacy/policy.md", escape = "none")]
struct Body<'a> {
    site: &'a SiteSettings,
    fields: Vec<(&'static Table, &'static Field)>,
    cookies: &'static [Cookie],
    /// `(form, label)`: each form's age question, asked or not per the site settings.
    age_forms: &'static [(&'static str, &'static str)],
}

mod filters {
    use std::fmt::Display;

    /// Text made safe for one cell of a Markdown table: a `|` would end the
    /// cell and a line break the row.
    #[askama::filter_fn]
    pub fn cell(text: impl Display, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(text.to_string().replace('|', "\\|").replace('\n', " "))
    }
}

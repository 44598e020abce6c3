//! The privacy policy, generated from the data inventory and the site
//! settings, so it cannot drift from what the code stores. Its version is a
//! hash of its text: any change to the inventory or settings makes a new one.

use super::inventory::{self, Cookie, Field, Inventory, Table};
use crate::platform::{settings::SiteSettings, templates::readable_date};
use askama::Template;
use sha2::{Digest, Sha256};

pub struct Policy {
    /// The title and the text, as Markdown.
    pub markdown: String,
    /// Short hash of the text, recorded with every consent.
    pub version: String,
}

/// How a person names a version: its number in the order versions took
/// effect on this site, and when its text took effect (stored with it).
pub struct Label {
    pub number: i64,
    pub updated_at: i64,
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Version {} · last updated {}",
            self.number,
            readable_date(self.updated_at)
        )
    }
}

const TITLE: &str = "# Privacy policy\n\n";

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
    let markdown = format!("{TITLE}{body}");
    Policy { markdown, version }
}

impl Policy {
    /// The policy with its version label under the title, as `officecomms
    /// policy` prints it.
    pub fn document(&self, label: &Label) -> String {
        format!("{TITLE}{label}.\n\n{}", body_of(&self.markdown))
    }
}

/// The text of a stored version below its title (and, in versions stored
/// before labels, below its hash line), for a page that writes both itself.
pub fn body_of(markdown: &str) -> &str {
    let text = markdown.strip_prefix(TITLE).unwrap_or(markdown);
    match text.strip_prefix("Policy version `") {
        Some(rest) => rest.split_once("\n\n").map_or(text, |(_, below)| below),
        None => text,
    }
}

/// Records this version if new (when its text first takes effect); returns
/// its label.
pub async fn record(db: &crate::platform::db::Db, policy: &Policy) -> Result<Label, sqlx::Error> {
    super::db::save_policy_version(db, &policy.version, &policy.markdown).await?;
    label(db, &policy.version).await.map(|l| {
        l.unwrap_or(Label {
            number: 1,
            updated_at: crate::platform::now_ms(),
        })
    })
}

/// The label of a stored version, if it exists.
pub async fn label(
    db: &crate::platform::db::Db,
    version: &str,
) -> Result<Option<Label>, sqlx::Error> {
    let versions = super::db::policy_versions(db).await?;
    let count = versions.len() as i64;
    Ok(versions
        .iter()
        .position(|(v, _)| v == version)
        .map(|i| Label {
            number: count - i as i64,
            updated_at: versions[i].1,
        }))
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

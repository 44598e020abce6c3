//! The privacy policy, generated from the data inventory and the site
//! settings, so it cannot drift from what the code stores. Its version is a
//! hash of its text: any change to the inventory or settings makes a new one.

use super::inventory::{self, CookieCategory, Inventory};
use crate::platform::settings::SiteSettings;
use sha2::{Digest, Sha256};
use std::fmt::Write;

pub struct Policy {
    pub markdown: String,
    /// Short hash of the text, recorded with every consent.
    pub version: String,
}

pub fn generate(site: &SiteSettings, inventory: &Inventory) -> Policy {
    let body = body(site, inventory);
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

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn body(site: &SiteSettings, inventory: &Inventory) -> String {
    let company = &site.company_name;
    let mut md = String::new();
    let _ = write!(
        md,
        "This policy explains what {company} collects when you use this website, why, \
         how long we keep it, and how you can see, correct or erase it. It is generated \
         from the same list of data fields that our software uses, so it always matches \
         what we actually store.\n\n"
    );

    md.push_str("## Who we are\n\n");
    let _ = write!(
        md,
        "{company}, {address}. Email: {email}. Phone: {phone}.\n\n",
        address = site.postal_address,
        email = site.contact_email,
        phone = site.contact_phone
    );

    md.push_str("## What we collect and why\n\n");
    md.push_str(
        "We only collect what you give us through our forms, and what is needed to run \
         the site. Fields marked *encrypted* are stored encrypted with a key that belongs \
         to you alone; erasing your data destroys that key.\n\n",
    );
    md.push_str("| Data | Collected by | Why | Kept for | Stored | Shared with |\n");
    md.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for (table, field) in inventory.fields() {
        let _ = writeln!(
            md,
            "| {} ({}) | {} | {} | {} | {} | {} |",
            cell(field.label),
            field.category.label(),
            cell(table.feature),
            cell(field.purpose),
            table.retention.describe(),
            if field.encrypted {
                "encrypted"
            } else {
                "protected, not encrypted"
            },
            if field.shared_with.is_empty() {
                "nobody".to_string()
            } else {
                field.shared_with.join(", ")
            },
        );
    }
    md.push('\n');

    md.push_str("## We never sell your data\n\n");
    md.push_str(
        "Your personal data is never sold, traded or otherwise transferred to anyone \
         outside our company. Where a row above says *nobody*, nobody else receives it.\n\n",
    );

    md.push_str("## Third parties\n\n");
    match &site.third_party {
        None => md.push_str(
            "No third-party script, tracker or advertising runs on this site: every page, \
             script and image comes from our own server, and our visit statistics are \
             counted there.\n\n",
        ),
        Some(tag) => {
            let _ = write!(
                md,
                "| Third party | Loaded from | When | What it receives |\n| --- | --- | --- | --- |\n\
                 | {name} | {origin} | only if you allow *marketing* on the [cookie page](/cookies), \
                 never when your browser sends Do Not Track or Global Privacy Control, never for \
                 anyone under 13 | your IP address, browser details and the pages you visit; it may \
                 set cookies of its own |\n\n",
                name = cell(&tag.name),
                origin = cell(&tag.origin()),
            );
            if !tag.policy_url.is_empty() {
                let _ = write!(
                    md,
                    "{name}'s own privacy policy applies to what it receives: <{url}>.\n\n",
                    name = tag.name,
                    url = tag.policy_url
                );
            }
        }
    }

    md.push_str("## Cookies\n\n");
    md.push_str("| Cookie | Category | Purpose | Lifetime |\n| --- | --- | --- | --- |\n");
    for c in inventory::COOKIES {
        let category = match c.category {
            CookieCategory::Necessary => "necessary",
            CookieCategory::Preferences => "preferences",
            CookieCategory::Analytics => "analytics",
            CookieCategory::Marketing => "marketing",
        };
        let _ = writeln!(
            md,
            "| `{}` | {category} | {} | {} |",
            c.name,
            cell(c.purpose),
            c.lifetime
        );
    }
    md.push_str(
        "\nNo cookie outside the *necessary* category is set before you agree to it. \
         You can see and change your choices at any time on the [cookie page](/cookies).\n\n",
    );

    md.push_str("## Do Not Track and Global Privacy Control\n\n");
    md.push_str(
        "We honour Do Not Track. If your browser sends `DNT: 1` or `Sec-GPC: 1`, we set no \
         tracking cookies, do no behavioural tracking, show no personalised advertising, \
         and leave your visit out of our traffic figures.\n\n",
    );

    md.push_str("## Children under 13\n\n");
    md.push_str(
        "In keeping with the Children's Online Privacy Protection Act (COPPA), we do not \
         collect any information from anyone under 13 years of age. Our forms ask for your \
         age; when the answer is under 13 nothing is stored and nothing is sent. A parent \
         who believes we hold a child's data can ask us to erase it at once.\n\n",
    );

    md.push_str("## Email from us (CAN-SPAM)\n\n");
    md.push_str(
        "Our emails have honest subject lines and senders, identify advertising as such, \
         carry our postal address, and include a link to unsubscribe. Unsubscribing works \
         at once and removes you from all correspondence, not just one list.\n\n",
    );

    md.push_str("## Your rights: see, correct and erase your data\n\n");
    md.push_str(
        "On the [my data page](/my-data) you enter your email address and we send you a \
         link that lets you see everything we hold about you, download it, correct your \
         contact details, or erase all of it. You need no account, and the page answers the \
         same whether or not we know your address.\n\n",
    );
    let days = site.backup_keep_days;
    let _ = write!(
        md,
        "Erasing deletes your data from the site at once and destroys your key. We keep \
         encrypted backups, each for at most {days} days: erased data can remain in encrypted \
         backups for up to {days} days; a restore erases it again before the site serves.\n\n",
    );

    md.push_str("## Security and data breaches\n\n");
    md.push_str(
        "The site is served over encrypted connections where configured, sets strict \
         security headers and secure cookies, and encrypts personal data at rest. If a data \
         breach affects you, we will tell you by an in-site notification within 7 business \
         days of finding it.\n\n",
    );

    md.push_str("## Changes to this policy\n\n");
    md.push_str(
        "Each version of this policy has its own version number (shown at the top); every \
         consent you give records the version you saw.\n\n",
    );

    md.push_str("## Contact us\n\n");
    let _ = writeln!(
        md,
        "Questions about this policy or your data: write to {email}, use our \
         [contact form](/contact), or post to {address}.",
        email = site.contact_email,
        address = site.postal_address
    );
    md
}

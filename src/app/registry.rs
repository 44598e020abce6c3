//! The registries, built once at start from each feature's declarations:
//! the data inventory (`TABLES`), the integrity scan's sources
//! (`SCAN_SOURCES`), the back office's navigation (`ADMIN_NAV`), the hooks
//! features add to the lower layers, and the demo site. Adding a feature
//! means adding its lines here, and nowhere below.

use crate::{
    analytics, chat, consent, content, newsletter, ops,
    platform::{self, db::Db, inventory::Inventory, state::Registry},
    privacy, shop, site, staff, support, surveys,
};

/// Every table each layer and feature declares, in the policy's order.
pub fn inventory() -> Inventory {
    Inventory::new(&[
        platform::settings::TABLES,
        platform::mail::TABLES,
        platform::subjects::TABLES,
        privacy::TABLES,
        staff::TABLES,
        ops::TABLES,
        shop::TABLES,
        surveys::TABLES,
        support::TABLES,
        content::TABLES,
        newsletter::TABLES,
        consent::TABLES,
        analytics::TABLES,
        chat::TABLES,
    ])
}

pub fn build() -> Registry {
    Registry {
        inventory: inventory(),
        scan_sources: [
            ops::integrity::SCAN_SOURCES,
            content::SCAN_SOURCES,
            support::SCAN_SOURCES,
            chat::SCAN_SOURCES,
        ]
        .iter()
        .flat_map(|s| s.iter())
        .collect(),
        admin_nav: [
            support::ADMIN_NAV,
            chat::ADMIN_NAV,
            content::ADMIN_NAV,
            surveys::ADMIN_NAV,
            newsletter::ADMIN_NAV,
            analytics::ADMIN_NAV,
            shop::ADMIN_NAV,
            privacy::ADMIN_NAV,
            staff::ADMIN_NAV,
            ops::ADMIN_NAV,
        ]
        .iter()
        .flat_map(|s| s.iter())
        .collect(),
        read_tag: Some(consent::tags::ThirdPartyTag::from_settings),
        browser_links: vec![consent::link_browser],
    }
}

/// The demo site of officecomms.com, into an empty database.
pub async fn seed_demo(db: &Db) -> anyhow::Result<()> {
    site::seed_demo(db).await?;
    shop::seed_demo(db).await?;
    surveys::seed_demo(db).await?;
    content::seed_demo(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        platform::{inventory::Retention, settings::SiteSettings},
        privacy::policy::generate,
    };
    use sha2::Digest;

    #[test]
    fn every_table_and_column_is_declared_once() {
        let mut seen = std::collections::HashSet::new();
        for t in inventory().tables() {
            assert!(seen.insert(t.name), "table {} declared twice", t.name);
            let mut cols = std::collections::HashSet::new();
            for c in t
                .other
                .iter()
                .copied()
                .chain(t.personal.iter().map(|f| f.column))
            {
                assert!(cols.insert(c), "{}.{} declared twice", t.name, c);
            }
            if !t.personal.is_empty() {
                assert!(
                    t.subject_column.is_some()
                        || matches!(
                            t.retention,
                            Retention::WhileAccountExists
                                | Retention::Days(_)
                                | Retention::Suppression
                        ),
                    "{} holds personal data but no way to find or expire it",
                    t.name
                );
            }
        }
    }

    #[test]
    fn undeclared_columns_are_reported() {
        let cols = vec![("staff_users".to_string(), "shoe_size".to_string())];
        let (missing, _) = inventory().undeclared(&cols);
        assert_eq!(missing, vec!["staff_users.shoe_size".to_string()]);
    }

    #[test]
    fn the_back_office_lists_each_area_once() {
        let nav = build().admin_nav;
        let mut hrefs: Vec<_> = nav.iter().map(|i| i.href).collect();
        hrefs.sort_unstable();
        hrefs.dedup();
        assert_eq!(hrefs.len(), nav.len());
        assert!(hrefs.contains(&"/admin/tickets") && hrefs.contains(&"/admin/integrity"));
    }

    #[test]
    fn policy_states_every_promise_and_every_field() {
        let inventory = inventory();
        let policy = generate(&SiteSettings::demo(), &inventory);
        let md = &policy.markdown;
        for promise in [
            "We honour Do Not Track",
            "under 13",
            "never sold, traded or otherwise transferred",
            "within 7 business days",
            "removes you from all correspondence",
            "/my-data",
            "hello@officecomms.com",
            "1200 Harbor Street",
        ] {
            assert!(md.contains(promise), "policy lacks {promise:?}");
        }
        for (_, field) in inventory.fields() {
            assert!(
                md.contains(field.label),
                "policy lacks field {}",
                field.label
            );
        }
    }

    #[test]
    fn policy_version_follows_the_text() {
        let inventory = inventory();
        let a = generate(&SiteSettings::demo(), &inventory);
        let mut other = SiteSettings::demo();
        other.postal_address = "Somewhere else".into();
        assert_ne!(a.version, generate(&other, &inventory).version);
        assert_eq!(
            a.version,
            generate(&SiteSettings::demo(), &inventory).version
        );
    }

    /// Today's policy text, built as it was before the template, to show the
    /// template writes the same bytes (kept only while the template lands).
    mod legacy {
        use crate::platform::{
            inventory::{CookieCategory, Inventory},
            settings::SiteSettings,
        };
        use crate::privacy::inventory;
        use std::fmt::Write;

        fn cell(s: &str) -> String {
            s.replace('|', "\\|").replace('\n', " ")
        }

        pub fn body(site: &SiteSettings, inventory: &Inventory) -> String {
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
    }

    fn tag(policy_url: &str) -> crate::platform::settings::ThirdPartyTag {
        crate::platform::settings::ThirdPartyTag {
            name: "Ads | Co\nLtd".into(),
            script_url: "https://tags.example.com/t.js".into(),
            init_script: "init()".into(),
            policy_url: policy_url.into(),
            origins: vec![],
        }
    }

    #[test]
    fn the_policy_template_writes_the_text_the_code_wrote() {
        let inventory = inventory();
        let hostile = SiteSettings {
            company_name: "A | B {{ x }} {% if %} <b>&amp;</b>".into(),
            postal_address: "line one\nline | two".into(),
            contact_email: "a|b@example.com".into(),
            contact_phone: "`+1`".into(),
            ..SiteSettings::demo()
        };
        for site in [
            SiteSettings::demo(),
            SiteSettings {
                third_party: Some(tag("https://tags.example.com/privacy")),
                ..SiteSettings::demo()
            },
            SiteSettings {
                third_party: Some(tag("")),
                ..hostile.clone()
            },
            hostile,
        ] {
            let body = legacy::body(&site, &inventory);
            let version = hex::encode(&sha2::Sha256::digest(body.as_bytes())[..6]);
            let expected = format!("# Privacy policy\n\nPolicy version `{version}`.\n\n{body}");
            let policy = generate(&site, &inventory);
            assert_eq!(policy.markdown, expected);
            assert_eq!(policy.version, version);
        }
    }
}

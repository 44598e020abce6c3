//! The registries, built once at start from each feature's declarations:
//! the data inventory (`TABLES`), the integrity scan's sources
//! (`SCAN_SOURCES`), the back office's navigation (`ADMIN_NAV`), the hooks
//! features add to the lower layers, and the demo site. Adding a feature
//! means adding its lines here, and nowhere below.

use crate::{
    analytics, chat, consent, content, mail_in, newsletter, ops,
    platform::{self, db::Db, inventory::Inventory, state::Registry},
    privacy, shop, site, staff, support, surveys,
};

/// Every table each layer and feature declares, in the policy's order.
pub fn inventory() -> Inventory {
    Inventory::new(&[
        platform::settings::TABLES,
        platform::mail::TABLES,
        platform::search_index::TABLES,
        platform::subjects::TABLES,
        privacy::TABLES,
        privacy::account::TABLES,
        staff::TABLES,
        ops::TABLES,
        shop::TABLES,
        surveys::TABLES,
        support::TABLES,
        support::csat::TABLES,
        mail_in::TABLES,
        content::TABLES,
        newsletter::TABLES,
        consent::TABLES,
        analytics::TABLES,
        chat::TABLES,
        platform::webhooks::TABLES,
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
            shop::SCAN_SOURCES,
            surveys::SCAN_SOURCES,
            newsletter::SCAN_SOURCES,
        ]
        .iter()
        .flat_map(|s| s.iter())
        .collect(),
        admin_nav: [
            support::ADMIN_NAV,
            mail_in::ADMIN_NAV,
            chat::ADMIN_NAV,
            content::ADMIN_NAV,
            surveys::ADMIN_NAV,
            newsletter::ADMIN_NAV,
            analytics::ADMIN_NAV,
            shop::ADMIN_NAV,
            privacy::ADMIN_NAV,
            staff::ADMIN_NAV,
            crate::webhooks::ADMIN_NAV,
            ops::ADMIN_NAV,
        ]
        .iter()
        .flat_map(|s| s.iter())
        .collect(),
        read_tag: Some(consent::tags::ThirdPartyTag::from_settings),
        unread_notifications: Some(staff::notifications::count_unread),
        browser_links: vec![consent::link_browser],
        corrections: vec![
            newsletter::public::address_corrected,
            support::public::phone_corrected,
            support::search::field_corrected,
        ],
        refusals: vec![
            newsletter::public::recipient_refused,
            support::tickets::recipient_refused,
        ],
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

    /// What the my-data page and the export show comes from the inventory:
    /// a table a person sees, or a personal field anywhere, without a
    /// presentation and an explanation would reach them as a raw value.
    #[test]
    fn every_field_says_how_a_person_sees_it_and_why_we_keep_it() {
        use crate::platform::inventory::Shown;
        let mut titles = std::collections::HashSet::new();
        for t in inventory().tables() {
            assert!(
                !t.title.trim().is_empty() && titles.insert(t.title),
                "{}: its title is missing or another table's",
                t.name
            );
            let declared: Vec<&str> = t
                .other
                .iter()
                .copied()
                .chain(t.personal.iter().map(|f| f.column))
                .collect();
            let shown: Vec<&str> = if t.subject_column.is_some() {
                declared.clone()
            } else {
                t.personal.iter().map(|f| f.column).collect()
            };
            for column in shown {
                let c = t
                    .columns
                    .iter()
                    .find(|c| c.column == column)
                    .unwrap_or_else(|| panic!("{}.{column} declares no presentation", t.name));
                assert!(
                    c.explanation.trim().len() > 10,
                    "{}.{column} has no explanation",
                    t.name
                );
                assert!(
                    c.shown == Shown::Internal || !c.label.trim().is_empty(),
                    "{}.{column} is shown without a label",
                    t.name
                );
            }
            for c in t.columns {
                assert!(
                    declared.contains(&c.column),
                    "{}.{} is presented but not declared",
                    t.name,
                    c.column
                );
                let personal = t.personal.iter().any(|f| f.column == c.column);
                assert!(
                    c.shown != Shown::Internal || !personal || !c.label.is_empty(),
                    "{}.{}: an internal personal field needs a label to be named on the page",
                    t.name,
                    c.column
                );
            }
            if t.subject_column.is_some() {
                assert!(!t.summary.is_empty(), "{} has no summary line", t.name);
                for placeholder in t.summary.split('{').skip(1) {
                    let name = placeholder.split('}').next().unwrap_or_default();
                    let column = t.columns.iter().find(|c| c.column == name);
                    assert!(
                        column.is_some_and(|c| c.shown != Shown::Internal),
                        "{}'s summary names {name}, which is not a shown column",
                        t.name
                    );
                }
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
            "erased data can remain in encrypted backups for up to 30 days; a restore erases it again",
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

    fn tag(policy_url: &str) -> crate::platform::settings::ThirdPartyTag {
        crate::platform::settings::ThirdPartyTag {
            name: "Ads | Co\nLtd".into(),
            script_url: "https://tags.example.com/t.js".into(),
            init_script: "init()".into(),
            policy_url: policy_url.into(),
            origins: vec![],
        }
    }

    /// The whole policy of the demo site, as it was last reviewed: a change
    /// to its text (a new field, a new promise, a stray blank line in the
    /// template) shows as a diff of `tests/snapshots/privacy_policy.md`.
    #[test]
    fn the_demo_policy_reads_as_last_reviewed() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/snapshots/privacy_policy.md"
        );
        let md = generate(&SiteSettings::demo(), &inventory()).markdown;
        if std::env::var_os("OFFICECOMMS_BLESS").is_some() {
            std::fs::write(path, &md).expect("writing the policy snapshot");
        }
        let reviewed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            md == reviewed,
            "the policy's text changed: if that is meant, run \
             `OFFICECOMMS_BLESS=1 cargo test --lib policy` and review the diff of {path}"
        );
    }

    #[test]
    fn a_third_party_tag_is_listed_with_its_cells_kept_whole() {
        let inventory = inventory();
        let with_tag = |policy_url: &str| SiteSettings {
            third_party: Some(tag(policy_url)),
            ..SiteSettings::demo()
        };
        let md = generate(&with_tag("https://tags.example.com/privacy"), &inventory).markdown;
        assert!(
            md.contains(
                "| Ads \\| Co Ltd | https://tags.example.com | only if you allow *marketing*"
            ),
            "{md}"
        );
        assert!(md.contains(
            "own privacy policy applies to what it receives: <https://tags.example.com/privacy>.\n\n## Cookies"
        ));
        assert!(!md.contains("No third-party script"));
        let md = generate(&with_tag(""), &inventory).markdown;
        assert!(md.contains("set cookies of its own |\n\n## Cookies"));
        assert!(!md.contains("own privacy policy"));
    }
}

//! The data inventory: every column of every table is declared here once,
//! either as a personal-data field (with category, purpose, retention,
//! encryption and sharing) or as holding no personal data. The privacy
//! policy, the my-data export, erasure and the retention purge are all read
//! from it, and a test fails when the schema has a column it does not declare.
//!
//! A feature registers its tables by exposing `pub const TABLES: &[Table]`
//! and adding it to [`REGISTERED`]: that is the whole step.

/// Each feature's declarations; add a line when a feature stores data.
const REGISTERED: &[&[Table]] = &[
    crate::platform::settings::TABLES,
    crate::platform::mail::TABLES,
    crate::privacy::subjects::TABLES,
    crate::privacy::TABLES,
    crate::staff::TABLES,
    crate::ops::TABLES,
    crate::shop::TABLES,
    crate::surveys::TABLES,
    crate::support::TABLES,
    crate::content::TABLES,
    crate::newsletter::TABLES,
    crate::consent::TABLES,
    crate::analytics::TABLES,
    crate::chat::TABLES,
];

/// Cookies we set, for the policy and the cookie page.
pub const COOKIES: &[Cookie] = &[
    Cookie {
        name: "oc_consent",
        category: CookieCategory::Necessary,
        purpose: "Remembers your cookie choices (signed), with a random number that ties your changes of mind together in our record of consents. It does not identify you.",
        lifetime: "6 months, then we ask again",
    },
    Cookie {
        name: "oc_csrf",
        category: CookieCategory::Necessary,
        purpose: "Protects our forms against cross-site request forgery.",
        lifetime: "until you close your browser",
    },
    Cookie {
        name: "oc_age",
        category: CookieCategory::Necessary,
        purpose: "Remembers, for this visit only, that a form was answered with an age under 13, so no personal data is taken.",
        lifetime: "until you close your browser",
    },
    Cookie {
        name: "oc_mydata",
        category: CookieCategory::Necessary,
        purpose: "Keeps the my-data page open in the browser that followed the emailed link, and only there.",
        lifetime: "until you close your browser (the access itself ends after an hour)",
    },
    Cookie {
        name: "oc_session",
        category: CookieCategory::Necessary,
        purpose: "Keeps staff members signed in to the back office.",
        lifetime: "12 hours",
    },
    Cookie {
        name: "oc_cart",
        category: CookieCategory::Necessary,
        purpose: "Holds your shopping cart (which services, how many), signed so it cannot be altered. It holds no identifier and nothing about you.",
        lifetime: "7 days, or until you send the order request",
    },
    Cookie {
        name: "oc_surveys",
        category: CookieCategory::Necessary,
        purpose: "Remembers which surveys this browser has answered (their numbers only, signed), so each is answered once. It holds no identifier: we cannot tell who you are from it.",
        lifetime: "one year",
    },
];

pub struct Table {
    pub name: &'static str,
    /// The feature that collects it, as a person would name it.
    pub feature: &'static str,
    /// Column linking a row to its data subject (`subjects.id`), if any.
    pub subject_column: Option<&'static str>,
    /// Column with the row's creation time in epoch milliseconds, for retention.
    pub created_column: Option<&'static str>,
    pub retention: Retention,
    pub personal: &'static [Field],
    /// Columns that hold no personal data.
    pub other: &'static [&'static str],
}

pub struct Field {
    pub column: &'static str,
    pub label: &'static str,
    pub category: Category,
    pub purpose: &'static str,
    /// Encrypted at rest under the subject's key (XChaCha20-Poly1305).
    pub encrypted: bool,
    /// Who else receives it; empty means nobody.
    pub shared_with: &'static [&'static str],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Identity,
    Contact,
    Message,
    Technical,
    Account,
}

impl Category {
    pub fn label(self) -> &'static str {
        match self {
            Category::Identity => "identity",
            Category::Contact => "contact details",
            Category::Message => "what you wrote to us",
            Category::Technical => "technical data",
            Category::Account => "staff account",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Deleted this many days after creation.
    Days(u32),
    /// Kept until the person asks for erasure.
    UntilErased,
    /// Kept while the staff account exists.
    WhileAccountExists,
    /// A keyed hash kept for good so we never write to the person again.
    Suppression,
}

impl Retention {
    pub fn describe(self) -> String {
        match self {
            Retention::Days(d) => format!("{d} days"),
            Retention::UntilErased => "until you ask us to erase it".into(),
            Retention::WhileAccountExists => "while the staff account exists".into(),
            Retention::Suppression => {
                "for good, as a keyed hash only, so we never write to you again".into()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieCategory {
    Necessary,
    Preferences,
    Analytics,
    Marketing,
}

pub struct Cookie {
    pub name: &'static str,
    pub category: CookieCategory,
    pub purpose: &'static str,
    pub lifetime: &'static str,
}

/// Every registered table.
pub fn tables() -> impl Iterator<Item = &'static Table> {
    REGISTERED.iter().flat_map(|t| t.iter())
}

pub fn table(name: &str) -> Option<&'static Table> {
    tables().find(|t| t.name == name)
}

/// Every personal-data field with its table.
pub fn fields() -> impl Iterator<Item = (&'static Table, &'static Field)> {
    tables().flat_map(|t| t.personal.iter().map(move |f| (t, f)))
}

/// Columns present in the schema but not declared, and declared but absent.
pub fn undeclared(columns: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let declared = |t: &str, c: &str| {
        table(t)
            .is_some_and(|tab| tab.other.contains(&c) || tab.personal.iter().any(|f| f.column == c))
    };
    let missing_from_inventory = columns
        .iter()
        .filter(|(t, c)| !declared(t, c))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    let missing_from_schema = tables()
        .flat_map(|t| {
            t.other
                .iter()
                .copied()
                .chain(t.personal.iter().map(|f| f.column))
                .map(move |c| (t.name, c))
        })
        .filter(|(t, c)| !columns.iter().any(|(a, b)| a == t && b == c))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    (missing_from_inventory, missing_from_schema)
}

/// Encryption context of a field: binds a ciphertext to its column.
pub fn context(table: &str, column: &str) -> String {
    format!("{table}.{column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_and_column_is_declared_once() {
        let mut seen = std::collections::HashSet::new();
        for t in tables() {
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
        let (missing, _) = undeclared(&cols);
        assert_eq!(missing, vec!["staff_users.shoe_size".to_string()]);
    }
}

//! The data inventory's vocabulary: how a feature declares every column of
//! its tables, either as a personal-data field (category, purpose,
//! retention, encryption, sharing) or as holding no personal data, and the
//! [`Inventory`] the application builds from those declarations at start.
//! The privacy layer reads it to write the policy, export, erase and purge;
//! a test fails when the schema has a column it does not declare.

pub struct Table {
    pub name: &'static str,
    /// The feature that collects it, as a person would name it.
    pub feature: &'static str,
    /// What its rows are, as a heading a person reads ("Support requests");
    /// no two tables share one.
    pub title: &'static str,
    /// How one row reads in a line, for tables a person sees: text with
    /// `{column}` placeholders, in parts joined by ` · `; a part whose
    /// columns are empty is left out ("Support request {reference} ·
    /// {status} · {created_at}"). Empty for tables without a subject.
    pub summary: &'static str,
    /// Column linking a row to its data subject (`subjects.id`), if any.
    pub subject_column: Option<&'static str>,
    /// Column with the row's creation time in epoch milliseconds, for retention.
    pub created_column: Option<&'static str>,
    pub retention: Retention,
    pub personal: &'static [Field],
    /// Columns that hold no personal data.
    pub other: &'static [&'static str],
    /// How each column reaches the person, in the order they read it: every
    /// column of a table with a subject, and every personal field of the
    /// others (a test holds the inventory to it).
    pub columns: &'static [Column],
}

/// The explanation of a row's own number.
pub const ROW_ID: &str = "Our number for this entry, which links its parts together.";
/// The explanation of the column naming a row's data subject.
pub const SUBJECT_ID: &str = "The number of your record with us, which links everything we hold about you so that we can show, export or erase it together.";

/// How a person sees one column, on the my-data page and in the export.
pub struct Column {
    pub column: &'static str,
    /// Short label beside the value ("Contact number").
    pub label: &'static str,
    pub shown: Shown,
    /// Why we keep it or what it is, in plain words.
    pub explanation: &'static str,
}

impl Column {
    pub const fn new(
        column: &'static str,
        label: &'static str,
        shown: Shown,
        explanation: &'static str,
    ) -> Column {
        Column {
            column,
            label,
            shown,
            explanation,
        }
    }

    /// A column for our systems only: hidden on the page, in the export.
    pub const fn internal(column: &'static str, explanation: &'static str) -> Column {
        Column::new(column, "", Shown::Internal, explanation)
    }
}

/// The kinds of value a person sees, each written the way they read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Short text, as stored.
    Text,
    /// Text of several lines (a message), kept as written.
    Paragraphs,
    /// A word from a fixed list (`awaiting_reply` reads "awaiting reply").
    Status,
    Email,
    Phone,
    /// A moment (epoch milliseconds): "7 Dec 2026, 09:15".
    DateTime,
    /// An amount in cents: "$49.00".
    Money,
    /// A reference a person quotes to us ("OC-2026-000001").
    Reference,
    /// 0 or 1: "no" or "yes".
    YesNo,
    /// A small count (a quantity).
    Number,
    /// A list stored as comma-separated words.
    List,
    /// Named values recorded together (a consent receipt).
    Record,
    /// An outgoing mail: its subject in the summary, its plain text on demand.
    Mail,
    /// A file's bytes: its size on the page, the bytes in the export.
    File,
    /// For our systems (ids, keys, hashes): in the export only.
    Internal,
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

impl CookieCategory {
    pub fn label(self) -> &'static str {
        match self {
            CookieCategory::Necessary => "necessary",
            CookieCategory::Preferences => "preferences",
            CookieCategory::Analytics => "analytics",
            CookieCategory::Marketing => "marketing",
        }
    }
}

pub struct Cookie {
    pub name: &'static str,
    pub category: CookieCategory,
    pub purpose: &'static str,
    pub lifetime: &'static str,
}

/// Every declared table, gathered once at start by the application layer
/// from each feature's `TABLES`.
#[derive(Default)]
pub struct Inventory {
    tables: Vec<&'static Table>,
}

impl Inventory {
    pub fn new(declared: &[&'static [Table]]) -> Inventory {
        Inventory {
            tables: declared.iter().flat_map(|t| t.iter()).collect(),
        }
    }

    pub fn tables(&self) -> impl Iterator<Item = &'static Table> + '_ {
        self.tables.iter().copied()
    }

    pub fn table(&self, name: &str) -> Option<&'static Table> {
        self.tables().find(|t| t.name == name)
    }

    /// How a column of a table reaches the person, if declared.
    pub fn column(&self, table: &str, column: &str) -> Option<&'static Column> {
        self.table(table)?
            .columns
            .iter()
            .find(|c| c.column == column)
    }

    /// Every personal-data field with its table.
    pub fn fields(&self) -> impl Iterator<Item = (&'static Table, &'static Field)> + '_ {
        self.tables()
            .flat_map(|t| t.personal.iter().map(move |f| (t, f)))
    }

    /// Columns present in the schema but not declared, and declared but absent.
    pub fn undeclared(&self, columns: &[(String, String)]) -> (Vec<String>, Vec<String>) {
        let declared = |t: &str, c: &str| {
            self.table(t).is_some_and(|tab| {
                tab.other.contains(&c) || tab.personal.iter().any(|f| f.column == c)
            })
        };
        let missing_from_inventory = columns
            .iter()
            .filter(|(t, c)| !declared(t, c))
            .map(|(t, c)| format!("{t}.{c}"))
            .collect();
        let missing_from_schema = self
            .tables()
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
}

/// Encryption context of a field: binds a ciphertext to its column.
pub fn context(table: &str, column: &str) -> String {
    format!("{table}.{column}")
}

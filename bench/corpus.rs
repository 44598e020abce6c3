//! A synthetic knowledge base for benchmarks: deterministic, varied
//! support-desk text, stored the way the editor stores it (article, tags,
//! search entry). Shared by `seed_articles` and the search speed test.

use officecomms::{
    content::{
        db::{self, Fields},
        model::{Kind, Slug, Status},
        search::{normalize, plain_text},
    },
    platform::db::Db,
};

pub const PRODUCTS: &[&str] = &[
    "Microsoft Outlook",
    "Windows",
    "Printers",
    "Backups",
    "Microsoft Teams",
    "Excel",
    "OneDrive",
    "Wi-Fi",
    "QuickBooks",
    "Antivirus",
];

const TOPICS: &[&str] = &[
    "outlook",
    "password",
    "printer",
    "spooler",
    "driver",
    "backup",
    "restore",
    "update",
    "windows",
    "mailbox",
    "calendar",
    "sync",
    "onedrive",
    "teams",
    "excel",
    "macro",
    "network",
    "wifi",
    "router",
    "vpn",
    "firewall",
    "license",
    "activation",
    "install",
    "uninstall",
    "crash",
    "freeze",
    "slow",
    "error",
    "profile",
    "signin",
    "scanner",
    "toner",
    "queue",
    "duplex",
    "sharepoint",
    "permissions",
    "folder",
    "archive",
    "signature",
    "attachment",
    "meeting",
    "microphone",
    "camera",
    "headset",
    "monitor",
    "docking",
    "bluetooth",
    "keyboard",
    "battery",
    "ransomware",
    "phishing",
    "spam",
    "quarantine",
    "certificate",
    "browser",
    "cache",
    "cookies",
    "invoice",
    "payroll",
    "database",
    "server",
    "snapshot",
    "retention",
    "encryption",
    "bitlocker",
    "recovery",
    "laptop",
    "desktop",
    "tablet",
    "iphone",
    "android",
    "authenticator",
    "token",
];

const WORDS: &[&str] = &[
    "the",
    "and",
    "to",
    "of",
    "if",
    "when",
    "your",
    "you",
    "click",
    "open",
    "settings",
    "check",
    "then",
    "restart",
    "choose",
    "select",
    "menu",
    "button",
    "window",
    "computer",
    "office",
    "again",
    "first",
    "after",
    "before",
    "usually",
    "often",
    "sometimes",
    "works",
    "stops",
    "shows",
    "message",
    "screen",
    "account",
    "team",
    "colleague",
    "admin",
    "rights",
    "minutes",
    "hours",
    "daily",
    "weekly",
    "quickly",
    "safely",
    "carefully",
    "new",
    "old",
    "same",
    "other",
    "missing",
    "stuck",
    "fails",
    "keeps",
    "asks",
    "opens",
    "closes",
    "saves",
    "sends",
    "prints",
    "loads",
    "connects",
    "tries",
    "finds",
    "helps",
    "fixes",
    "causes",
    "because",
    "while",
    "without",
    "with",
    "from",
    "into",
    "on",
    "in",
    "at",
    "for",
    "by",
    "about",
    "around",
];

/// A small deterministic generator (no dependency, same text every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() as usize) % list.len()]
    }
}

pub struct Synthetic {
    pub title: String,
    pub slug: String,
    pub summary: String,
    pub body: String,
    pub product: &'static str,
    pub tags: Vec<String>,
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        // About one word in four is a topic word, the rest filler.
        let w = if rng.next().is_multiple_of(4) {
            rng.pick(TOPICS)
        } else {
            rng.pick(WORDS)
        };
        s.push_str(w);
    }
    let mut c = s.chars();
    match c.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), c.as_str()),
        None => s,
    }
}

/// Article number `i`: about 350 words, a heading or two, a list.
pub fn article(i: usize) -> Synthetic {
    let mut rng = Rng(i as u64 * 7919 + 17);
    let a = rng.pick(TOPICS);
    let b = rng.pick(TOPICS);
    let title = format!(
        "{} {} {} {}",
        [
            "Fix",
            "Understand",
            "Set up",
            "Repair",
            "Speed up",
            "Secure"
        ][i % 6],
        a,
        b,
        i
    );
    let slug = Slug::from_text(&title).expect("a slug").to_string();
    let summary = sentence(&mut rng, 18);
    let mut body = String::new();
    for section in 0..3 {
        body.push_str(&format!("## {} {}\n\n", rng.pick(TOPICS), section + 1));
        for _ in 0..3 {
            body.push_str(&sentence(&mut rng, 14));
            body.push(' ');
            body.push_str(&sentence(&mut rng, 12));
            body.push_str("\n\n");
        }
        body.push_str(&format!(
            "- {}\n- {}\n\n",
            sentence(&mut rng, 6),
            sentence(&mut rng, 6)
        ));
    }
    Synthetic {
        title,
        slug,
        summary,
        body,
        product: PRODUCTS[i % PRODUCTS.len()],
        tags: if a == b {
            vec![a.to_string()]
        } else {
            vec![a.to_string(), b.to_string()]
        },
    }
}

/// What people type: common and rare words, several words, typos, prefixes,
/// and hostile input.
pub const QUERIES: &[&str] = &[
    "outlook",
    "outlook password",
    "printer spooler",
    "windows update error",
    "backup restore",
    "teams microphone",
    "excel macro crash",
    "onedrive sync stuck",
    "vpn",
    "the",
    "how to fix my printer",
    "ransomware recovery backup",
    "bitlocker",
    "signature attachment",
    "fix",
    "zzzz",
    "print",
    "passwords",
    "\" OR 1=1 --",
    "<script>alert(1)</script>",
    "NEAR(outlook printer)",
    "upd",
    "network router wifi slow",
    "authenticator token iphone",
];

/// Stores `n` synthetic published articles, spread over the last `n` hours.
pub async fn seed(db: &Db, n: usize, now: i64) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    for i in 0..n {
        let a = article(i);
        let plain = plain_text(&a.body);
        let at = now - (n - i) as i64 * 3_600_000;
        let fields = Fields {
            kind: if i.is_multiple_of(5) {
                Kind::Post
            } else {
                Kind::Article
            },
            slug: &a.slug,
            title: &a.title,
            summary: &a.summary,
            body: &a.body,
            product: a.product,
            seo_title: "",
            seo_description: "",
            cover_image: None,
            status: Status::Published,
            publish_at: Some(at),
            word_count: plain.split_whitespace().count() as i64,
        };
        let id = db::insert(&mut tx, &fields, None, at).await?;
        db::set_tags(&mut tx, id, &a.tags).await?;
        let summary = format!("{} {} {}", a.summary, a.product, a.tags.join(" "));
        db::reindex(
            db,
            &mut tx,
            id,
            &normalize(&a.title),
            &normalize(&summary),
            &normalize(&plain),
        )
        .await?;
        if i % 1000 == 999 {
            tx.commit().await?;
            tx = db.begin().await?;
        }
    }
    db::bump_version(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

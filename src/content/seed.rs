//! The demo site's articles and blog posts, written for officecomms.com and
//! stored through the same save path as an editor's (revisions, search,
//! audit), on the first start with demo content on.

use super::Content;
use super::{
    editing::{self, Author, Change, Cover, SaveError},
    model::{ArticleInput, Kind, Slug, State, parse_tags},
};
use crate::platform::{db::Db, now_ms};
use anyhow::{Context, bail};

const DEMO: &[&str] = &[
    include_str!("demo/outlook-keeps-asking-for-password.md"),
    include_str!("demo/repair-outlook-data-file.md"),
    include_str!("demo/shared-mailbox-missing-in-outlook.md"),
    include_str!("demo/print-jobs-stuck-in-queue.md"),
    include_str!("demo/add-network-printer-by-ip.md"),
    include_str!("demo/windows-update-stuck.md"),
    include_str!("demo/schedule-windows-updates.md"),
    include_str!("demo/3-2-1-backups-for-small-offices.md"),
    include_str!("demo/restore-a-previous-version-of-a-file.md"),
    include_str!("demo/slow-pc-checklist.md"),
    include_str!("demo/blog-what-1000-outlook-tickets-taught-us.md"),
    include_str!("demo/blog-test-your-restores.md"),
    include_str!("demo/blog-windows-10-after-end-of-support.md"),
    include_str!("demo/blog-a-website-without-trackers.md"),
    include_str!("demo/blog-printer-habits.md"),
];

/// One demo piece: `key: value` lines, a line `---`, then the Markdown body.
struct Demo {
    input: ArticleInput,
    days_ago: i64,
}

fn parse(source: &str) -> anyhow::Result<Demo> {
    let (head, body) = source
        .split_once("\n---\n")
        .context("front matter ends with ---")?;
    let field = |key: &str| -> anyhow::Result<String> {
        head.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
            .map(str::to_string)
            .with_context(|| format!("front matter lacks {key}"))
    };
    let kind = match field("kind")?.as_str() {
        "article" => Kind::Article,
        "post" => Kind::Post,
        other => bail!("unknown kind {other}"),
    };
    Ok(Demo {
        input: ArticleInput {
            kind,
            title: field("title")?,
            slug: Slug::parse(&field("slug")?),
            summary: field("summary")?,
            body: body.trim().to_string(),
            product: field("product").unwrap_or_default(),
            tags: parse_tags(&field("tags")?).map_err(anyhow::Error::msg)?,
            seo_title: field("seo_title").unwrap_or_default(),
            seo_description: field("seo_description").unwrap_or_default(),
            state: State::Published,
            publish_at: None,
        },
        days_ago: field("days_ago")?.parse().context("days_ago")?,
    })
}

/// Stores the demo articles and posts, oldest first, each dated `days_ago`.
pub async fn seed_demo(db: &Db) -> anyhow::Result<()> {
    let mut demos = DEMO
        .iter()
        .map(|s| parse(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    demos.sort_by_key(|d| std::cmp::Reverse(d.days_ago));
    for demo in demos {
        // Written on the day it was published: created, updated and
        // published are the same moment.
        let content = Content::detached();
        let at = now_ms() - demo.days_ago * 86_400_000;
        let change = Change {
            input: &demo.input,
            cover: Cover::Keep,
            action: "create",
            base_version: None,
        };
        match editing::save(db, &content, at, Author::System("demo"), None, change).await {
            Ok(_) => {}
            Err(SaveError::Other(e)) => return Err(anyhow::anyhow!("{e:?}")),
            Err(e) => bail!("demo piece {:?}: {e:?}", demo.input.title),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_piece_parses_and_is_substantial() {
        let demos: Vec<Demo> = DEMO.iter().map(|s| parse(s).unwrap()).collect();
        let articles = demos
            .iter()
            .filter(|d| d.input.kind == Kind::Article)
            .count();
        let posts = demos.iter().filter(|d| d.input.kind == Kind::Post).count();
        assert!(
            articles >= 8 && posts >= 4,
            "{articles} articles, {posts} posts"
        );
        for d in &demos {
            assert!(
                d.input.slug.is_some(),
                "{} has no valid slug",
                d.input.title
            );
            assert!(!d.input.tags.is_empty() && !d.input.summary.is_empty());
            let words = d.input.body.split_whitespace().count();
            assert!(words > 150, "{} has only {words} words", d.input.title);
        }
    }
}

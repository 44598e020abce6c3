//! Queries of the content domain. "Live" means published with a
//! publication time at or before `now` (the content clock), so scheduled
//! pieces appear by themselves.

use super::{
    model::{Kind, Status},
    search::{self, LivePieces},
};
use crate::platform::db::{Backend, Db, Tx, placeholders, trusted_sql};
use std::collections::HashMap;

macro_rules! select_article {
    ($rest:literal) => {
        concat!(
            "SELECT id, kind, slug, title, summary, body, product, seo_title, seo_description, \
             cover_image, status, publish_at, word_count, author_id, created_at, updated_at \
             FROM articles ",
            $rest
        )
    };
}

#[derive(sqlx::FromRow)]
struct ArticleRow {
    id: i64,
    kind: String,
    slug: String,
    title: String,
    summary: String,
    body: String,
    product: String,
    seo_title: String,
    seo_description: String,
    cover_image: Option<String>,
    status: String,
    publish_at: Option<i64>,
    word_count: i64,
    author_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

/// An article or post as stored, with its tags.
#[derive(Clone, Debug)]
pub struct Article {
    pub id: i64,
    pub kind: Kind,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub body: String,
    pub product: String,
    pub seo_title: String,
    pub seo_description: String,
    pub cover_image: Option<String>,
    pub status: Status,
    pub publish_at: Option<i64>,
    pub word_count: i64,
    pub author_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: Vec<String>,
}

impl ArticleRow {
    fn into_article(self, tags: Vec<String>) -> Article {
        Article {
            id: self.id,
            kind: Kind::parse(&self.kind).unwrap_or(Kind::Article),
            slug: self.slug,
            title: self.title,
            summary: self.summary,
            body: self.body,
            product: self.product,
            seo_title: self.seo_title,
            seo_description: self.seo_description,
            cover_image: self.cover_image,
            status: Status::parse(&self.status).unwrap_or(Status::Draft),
            publish_at: self.publish_at,
            word_count: self.word_count,
            author_id: self.author_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            tags,
        }
    }
}

async fn with_tags(db: &Db, row: Option<ArticleRow>) -> Result<Option<Article>, sqlx::Error> {
    match row {
        Some(row) => {
            let tags = tags_of(db, row.id).await?;
            Ok(Some(row.into_article(tags)))
        }
        None => Ok(None),
    }
}

pub async fn tags_of(db: &Db, id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT tag FROM article_tags WHERE article_id = $1 ORDER BY tag")
        .bind(id)
        .fetch_all(&db.pool)
        .await
}

/// Any article by id, whatever its state (for editors).
pub async fn get(db: &Db, id: i64) -> Result<Option<Article>, sqlx::Error> {
    let row = sqlx::query_as(select_article!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    with_tags(db, row).await
}

/// The live article with this slug, of any kind.
pub async fn live_by_slug(db: &Db, slug: &str, now: i64) -> Result<Option<Article>, sqlx::Error> {
    let row = sqlx::query_as(select_article!(
        "WHERE slug = $1 AND status = 'published' AND publish_at <= $2"
    ))
    .bind(slug)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    with_tags(db, row).await
}

/// Where an old slug leads now: `(kind, current slug)` of a live article.
pub async fn redirect_target(
    db: &Db,
    old_slug: &str,
    now: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.kind, a.slug FROM article_redirects r JOIN articles a ON a.id = r.article_id \
         WHERE r.old_slug = $1 AND a.status = 'published' AND a.publish_at <= $2",
    )
    .bind(old_slug)
    .bind(now)
    .fetch_optional(&db.pool)
    .await
}

/// A line in a list of articles.
#[derive(Clone, Debug)]
pub struct Teaser {
    pub kind: Kind,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub product: String,
    pub publish_at: i64,
    pub updated_at: i64,
    pub word_count: i64,
}

crate::heap_size_of_fields!(Teaser {
    slug,
    title,
    summary,
    product
});

impl Teaser {
    pub fn path(&self) -> String {
        self.kind.path(&self.slug)
    }
}

type TeaserRow = (
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    i64,
    i64,
);
/// A teaser row with a count after it (a window total).
type CountedRow = (
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    i64,
    i64,
    i64,
);

fn teaser(
    (kind, slug, title, summary, product, publish_at, updated_at, word_count): TeaserRow,
) -> Teaser {
    Teaser {
        kind: Kind::parse(&kind).unwrap_or(Kind::Article),
        slug,
        title,
        summary,
        product,
        publish_at: publish_at.unwrap_or_default(),
        updated_at,
        word_count,
    }
}

/// Which live pieces a list shows; empty strings mean "any".
#[derive(Clone, Debug, Default)]
pub struct LiveFilter<'a> {
    pub kind: Option<Kind>,
    pub product: Option<&'a str>,
    pub tag: Option<&'a str>,
}

/// One page of live pieces, newest first, and how many there are in all.
pub async fn list_live(
    db: &Db,
    filter: &LiveFilter<'_>,
    now: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Teaser>, i64), sqlx::Error> {
    let rows: Vec<CountedRow> = sqlx::query_as(
            "SELECT a.kind, a.slug, a.title, a.summary, a.product, a.publish_at, a.updated_at, \
             a.word_count, COUNT(*) OVER () FROM articles a \
             WHERE a.status = 'published' AND a.publish_at <= $1 \
             AND ($2 = '' OR a.kind = $2) AND ($3 = '' OR a.product = $3) \
             AND ($4 = '' OR EXISTS (SELECT 1 FROM article_tags t WHERE t.article_id = a.id AND t.tag = $4)) \
             ORDER BY a.publish_at DESC, a.id DESC LIMIT $5 OFFSET $6",
        )
        .bind(now)
        .bind(filter.kind.map_or("", Kind::as_str))
        .bind(filter.product.unwrap_or(""))
        .bind(filter.tag.unwrap_or(""))
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await?;
    let total = rows.first().map_or(0, |r| r.8);
    let teasers = rows
        .into_iter()
        .map(|(a, b, c, d, e, f, g, h, _)| teaser((a, b, c, d, e, f, g, h)))
        .collect();
    Ok((teasers, total))
}

/// The newest `per` live help articles of each product, with each product's total.
pub async fn top_per_product(
    db: &Db,
    now: i64,
    per: i64,
) -> Result<Vec<(Teaser, i64)>, sqlx::Error> {
    let rows: Vec<CountedRow> = sqlx::query_as(
            "SELECT kind, slug, title, summary, product, publish_at, updated_at, word_count, n FROM ( \
             SELECT a.kind, a.slug, a.title, a.summary, a.product, a.publish_at, a.updated_at, a.word_count, \
             ROW_NUMBER() OVER (PARTITION BY a.product ORDER BY a.publish_at DESC, a.id DESC) AS rn, \
             COUNT(*) OVER (PARTITION BY a.product) AS n \
             FROM articles a WHERE a.kind = 'article' AND a.status = 'published' AND a.publish_at <= $1 \
             ) x WHERE rn <= $2 ORDER BY publish_at DESC",
        )
        .bind(now)
        .bind(per)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(a, b, c, d, e, f, g, h, n)| (teaser((a, b, c, d, e, f, g, h)), n))
        .collect())
}

/// Tags of live pieces (of one kind, or all) with how often each is used.
pub async fn tag_counts(
    db: &Db,
    kind: Option<Kind>,
    now: i64,
    limit: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.tag, COUNT(*) FROM article_tags t JOIN articles a ON a.id = t.article_id \
         WHERE a.status = 'published' AND a.publish_at <= $1 AND ($2 = '' OR a.kind = $2) \
         GROUP BY t.tag ORDER BY COUNT(*) DESC, t.tag LIMIT $3",
    )
    .bind(now)
    .bind(kind.map_or("", Kind::as_str))
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Up to `limit` live pieces sharing the most tags (or the product) with `article`.
pub async fn related(
    db: &Db,
    article: &Article,
    now: i64,
    limit: i64,
) -> Result<Vec<Teaser>, sqlx::Error> {
    let rows: Vec<TeaserRow> = sqlx::query_as(
        "SELECT a.kind, a.slug, a.title, a.summary, a.product, a.publish_at, a.updated_at, a.word_count \
         FROM articles a LEFT JOIN article_tags t ON t.article_id = a.id \
         AND t.tag IN (SELECT tag FROM article_tags WHERE article_id = $1) \
         WHERE a.id <> $1 AND a.status = 'published' AND a.publish_at <= $2 \
         AND (t.tag IS NOT NULL OR (a.product = $3 AND $3 <> '')) \
         GROUP BY a.id, a.kind, a.slug, a.title, a.summary, a.product, a.publish_at, a.updated_at, a.word_count \
         ORDER BY COUNT(t.tag) + CASE WHEN a.product = $3 THEN 1 ELSE 0 END DESC, \
         CASE WHEN a.kind = $4 THEN 0 ELSE 1 END, a.publish_at DESC, a.id DESC LIMIT $5",
    )
    .bind(article.id)
    .bind(now)
    .bind(&article.product)
    .bind(article.kind.as_str())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(teaser).collect())
}

/// Every live piece, for the sitemap: `(kind, slug, last change)`.
pub async fn live_pages(db: &Db, now: i64) -> Result<Vec<(Kind, String, i64)>, sqlx::Error> {
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT kind, slug, updated_at, publish_at FROM articles \
         WHERE status = 'published' AND publish_at <= $1 ORDER BY publish_at DESC, id DESC",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, slug, updated, published)| {
            let kind = Kind::parse(&kind).unwrap_or(Kind::Article);
            (kind, slug, updated.max(published.unwrap_or_default()))
        })
        .collect())
}

/// The newest live pieces in full, for the feed.
pub async fn newest_live(db: &Db, now: i64, limit: i64) -> Result<Vec<Article>, sqlx::Error> {
    let rows: Vec<ArticleRow> = sqlx::query_as(select_article!(
        "WHERE status = 'published' AND publish_at <= $1 ORDER BY publish_at DESC, id DESC LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut articles = Vec::with_capacity(rows.len());
    for row in rows {
        let tags = tags_of(db, row.id).await?;
        articles.push(row.into_article(tags));
    }
    Ok(articles)
}

/// The next moment a scheduled piece goes live, if any.
pub async fn next_publication(db: &Db, now: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(publish_at) FROM articles WHERE status = 'published' AND publish_at > $1",
    )
    .bind(now)
    .fetch_one(&db.pool)
    .await
}

/// Changes with every edit on any instance.
pub async fn content_version(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM content_state WHERE id = 1")
        .fetch_one(&db.pool)
        .await
}

pub async fn bump_version(tx: &mut Tx) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE content_state SET version = version + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The ids of the pieces (live or not) whose search entry holds a word
/// starting with `term`, anywhere: see [`super::search::rank`] for the rest.
pub async fn term_matches(db: &Db, term: &str) -> Result<Vec<i64>, sqlx::Error> {
    // Thousands of ids come back as one string rather than thousands of
    // rows: a row through the driver costs more than its match in the index.
    let (sql, expression) = match db.backend {
        Backend::Sqlite => (
            "SELECT group_concat(rowid) FROM article_search WHERE article_search MATCH $1",
            search::fts5_prefix(term),
        ),
        Backend::Postgres => (
            "SELECT string_agg(article_id::text, ',') FROM article_search \
             WHERE body @@ to_tsquery('simple', $1)",
            search::tsquery_prefix(term),
        ),
    };
    let ids: Option<String> = sqlx::query_scalar(sql)
        .bind(expression)
        .fetch_one(&db.pool)
        .await?;
    let ids = ids.unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len() / 4);
    out.extend(ids.split(',').filter_map(|id| id.parse::<i64>().ok()));
    Ok(out)
}

/// Every live piece, as search ranks it.
pub async fn live_pieces(db: &Db, now: i64) -> Result<LivePieces, sqlx::Error> {
    let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT id, publish_at, title, summary FROM articles \
         WHERE status = 'published' AND publish_at <= $1",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    Ok(LivePieces::new(rows.iter().map(
        |(id, at, title, summary)| (*id, *at, title.as_str(), summary.as_str()),
    )))
}

/// A search result before it is shown.
pub struct Hit {
    pub kind: Kind,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub body: String,
    pub publish_at: i64,
}

/// The pieces `ids` names, in that order (missing ones left out).
pub async fn hits(db: &Db, ids: &[i64]) -> Result<Vec<Hit>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, kind, slug, title, summary, body, publish_at FROM articles WHERE id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query_as::<_, (i64, String, String, String, String, String, Option<i64>)>(
        trusted_sql(sql),
    );
    for id in ids {
        query = query.bind(*id);
    }
    let mut by_id: HashMap<i64, Hit> = query
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(|(id, kind, slug, title, summary, body, publish_at)| {
            let hit = Hit {
                kind: Kind::parse(&kind).unwrap_or(Kind::Article),
                slug,
                title,
                summary,
                body,
                publish_at: publish_at.unwrap_or_default(),
            };
            (id, hit)
        })
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Replaces the search entry of an article (text already normalised).
pub async fn reindex(
    db: &Db,
    tx: &mut Tx,
    id: i64,
    title: &str,
    summary: &str,
    body: &str,
) -> Result<(), sqlx::Error> {
    unindex(db, tx, id).await?;
    sqlx::query(db.pick(
        "INSERT INTO article_search (rowid, article_id, title, summary, body) VALUES ($1, $1, $2, $3, $4)",
        "INSERT INTO article_search (article_id, title, summary, body) VALUES ($1, \
         strip(to_tsvector('simple', $2)), strip(to_tsvector('simple', $3)), \
         strip(to_tsvector('simple', $2 || ' ' || $3 || ' ' || $4)))",
    ))
    .bind(id)
    .bind(title)
    .bind(summary)
    .bind(body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn unindex(db: &Db, tx: &mut Tx, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(db.pick(
        "DELETE FROM article_search WHERE rowid = $1",
        "DELETE FROM article_search WHERE article_id = $1",
    ))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The article using `slug`, if any.
pub async fn slug_owner(tx: &mut Tx, slug: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM articles WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&mut **tx)
        .await
}

/// The fields written on create and update.
pub struct Fields<'a> {
    pub kind: Kind,
    pub slug: &'a str,
    pub title: &'a str,
    pub summary: &'a str,
    pub body: &'a str,
    pub product: &'a str,
    pub seo_title: &'a str,
    pub seo_description: &'a str,
    pub cover_image: Option<&'a str>,
    pub status: Status,
    pub publish_at: Option<i64>,
    pub word_count: i64,
}

pub async fn insert(
    tx: &mut Tx,
    f: &Fields<'_>,
    author_id: Option<i64>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO articles (kind, slug, title, summary, body, product, seo_title, seo_description, \
         cover_image, status, publish_at, word_count, author_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
    )
    .bind(f.kind.as_str())
    .bind(f.slug)
    .bind(f.title)
    .bind(f.summary)
    .bind(f.body)
    .bind(f.product)
    .bind(f.seo_title)
    .bind(f.seo_description)
    .bind(f.cover_image)
    .bind(f.status.as_str())
    .bind(f.publish_at)
    .bind(f.word_count)
    .bind(author_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

pub async fn update(tx: &mut Tx, id: i64, f: &Fields<'_>, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE articles SET kind = $1, slug = $2, title = $3, summary = $4, body = $5, product = $6, \
         seo_title = $7, seo_description = $8, cover_image = $9, status = $10, publish_at = $11, \
         word_count = $12, updated_at = $13 WHERE id = $14",
    )
    .bind(f.kind.as_str())
    .bind(f.slug)
    .bind(f.title)
    .bind(f.summary)
    .bind(f.body)
    .bind(f.product)
    .bind(f.seo_title)
    .bind(f.seo_description)
    .bind(f.cover_image)
    .bind(f.status.as_str())
    .bind(f.publish_at)
    .bind(f.word_count)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `updated_at` of an article, locked for this transaction's update.
pub async fn updated_at(db: &Db, tx: &mut Tx, id: i64) -> Result<Option<i64>, sqlx::Error> {
    // SQLite's write lock is already held (BEGIN IMMEDIATE).
    sqlx::query_scalar(db.pick(
        "SELECT updated_at FROM articles WHERE id = $1",
        "SELECT updated_at FROM articles WHERE id = $1 FOR UPDATE",
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

pub async fn set_tags(tx: &mut Tx, id: i64, tags: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM article_tags WHERE article_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for tag in tags {
        sqlx::query("INSERT INTO article_tags (article_id, tag) VALUES ($1, $2)")
            .bind(id)
            .bind(tag)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Remembers that `old_slug` now means article `id`.
pub async fn add_redirect(
    tx: &mut Tx,
    old_slug: &str,
    id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    drop_redirect(tx, old_slug).await?;
    sqlx::query(
        "INSERT INTO article_redirects (old_slug, article_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(old_slug)
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A slug taken by a live article stops redirecting elsewhere.
pub async fn drop_redirect(tx: &mut Tx, slug: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM article_redirects WHERE old_slug = $1")
        .bind(slug)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn old_slugs(db: &Db, id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT old_slug FROM article_redirects WHERE article_id = $1 ORDER BY created_at DESC",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
}

pub async fn delete(db: &Db, tx: &mut Tx, id: i64) -> Result<bool, sqlx::Error> {
    unindex(db, tx, id).await?;
    // SQLite enforces the cascades too, but say it once for both.
    for sql in [
        "DELETE FROM article_tags WHERE article_id = $1",
        "DELETE FROM article_redirects WHERE article_id = $1",
        "DELETE FROM article_revisions WHERE article_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut **tx).await?;
    }
    let deleted = sqlx::query("DELETE FROM articles WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

/// A saved version of an article.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Revision {
    pub id: i64,
    pub article_id: i64,
    pub created_at: i64,
    pub author_id: Option<i64>,
    pub action: String,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub body: String,
    pub product: String,
    /// Comma-separated.
    pub tags: String,
    pub seo_title: String,
    pub seo_description: String,
    pub cover_image: Option<String>,
    pub status: String,
    pub publish_at: Option<i64>,
}

pub async fn insert_revision(tx: &mut Tx, r: &Revision) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO article_revisions (article_id, created_at, author_id, action, slug, title, summary, \
         body, product, tags, seo_title, seo_description, cover_image, status, publish_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    )
    .bind(r.article_id)
    .bind(r.created_at)
    .bind(r.author_id)
    .bind(&r.action)
    .bind(&r.slug)
    .bind(&r.title)
    .bind(&r.summary)
    .bind(&r.body)
    .bind(&r.product)
    .bind(&r.tags)
    .bind(&r.seo_title)
    .bind(&r.seo_description)
    .bind(&r.cover_image)
    .bind(&r.status)
    .bind(r.publish_at)
    .fetch_one(&mut **tx)
    .await
}

macro_rules! select_revision {
    ($rest:literal) => {
        concat!(
            "SELECT id, article_id, created_at, author_id, action, slug, title, summary, body, product, \
             tags, seo_title, seo_description, cover_image, status, publish_at FROM article_revisions ",
            $rest
        )
    };
}

/// Every revision of an article, newest first.
pub async fn revisions(db: &Db, article_id: i64) -> Result<Vec<Revision>, sqlx::Error> {
    sqlx::query_as(select_revision!("WHERE article_id = $1 ORDER BY id DESC"))
        .bind(article_id)
        .fetch_all(&db.pool)
        .await
}

pub async fn revision(db: &Db, article_id: i64, id: i64) -> Result<Option<Revision>, sqlx::Error> {
    sqlx::query_as(select_revision!("WHERE article_id = $1 AND id = $2"))
        .bind(article_id)
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

/// A row of the editors' list.
pub struct Listed {
    pub id: i64,
    pub kind: Kind,
    pub slug: String,
    pub title: String,
    pub product: String,
    pub status: Status,
    pub publish_at: Option<i64>,
    pub updated_at: i64,
}

/// The editors' filters; empty strings mean "any".
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct EditorFilter {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub page: Option<i64>,
}

pub async fn list_for_editors(
    db: &Db,
    filter: &EditorFilter,
    now: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let sql = db.pick(
        "SELECT id, kind, slug, title, product, status, publish_at, updated_at, COUNT(*) OVER () FROM articles \
         WHERE ($1 = '' OR instr(lower(title || ' ' || slug || ' ' || summary || ' ' || product), lower($1)) > 0) \
         AND ($2 = '' OR kind = $2) AND ($3 = '' OR product = $3) \
         AND ($4 = '' OR (CASE WHEN status = 'published' AND publish_at > $5 THEN 'scheduled' ELSE status END) = $4) \
         ORDER BY updated_at DESC, id DESC LIMIT $6 OFFSET $7",
        "SELECT id, kind, slug, title, product, status, publish_at, updated_at, COUNT(*) OVER () FROM articles \
         WHERE ($1 = '' OR strpos(lower(title || ' ' || slug || ' ' || summary || ' ' || product), lower($1)) > 0) \
         AND ($2 = '' OR kind = $2) AND ($3 = '' OR product = $3) \
         AND ($4 = '' OR (CASE WHEN status = 'published' AND publish_at > $5 THEN 'scheduled' ELSE status END) = $4) \
         ORDER BY updated_at DESC, id DESC LIMIT $6 OFFSET $7",
    );
    type ListedRow = (
        i64,
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        i64,
        i64,
    );
    let rows: Vec<ListedRow> = sqlx::query_as(sql)
        .bind(filter.q.trim())
        .bind(&filter.kind)
        .bind(&filter.product)
        .bind(&filter.state)
        .bind(now)
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await?;
    let total = rows.first().map_or(0, |r| r.8);
    let listed = rows
        .into_iter()
        .map(
            |(id, kind, slug, title, product, status, publish_at, updated_at, _)| Listed {
                id,
                kind: Kind::parse(&kind).unwrap_or(Kind::Article),
                slug,
                title,
                product,
                status: Status::parse(&status).unwrap_or(Status::Draft),
                publish_at,
                updated_at,
            },
        )
        .collect();
    Ok((listed, total))
}

/// Every product named on any article, for the editors' filter and form.
pub async fn products(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT product FROM articles WHERE product <> '' ORDER BY product")
        .fetch_all(&db.pool)
        .await
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM articles")
        .fetch_one(&db.pool)
        .await
}

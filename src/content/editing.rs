//! Writing content: every save is one transaction that stores the article,
//! its tags, its search entry, a revision, the slug redirect after a rename,
//! the audit entry and the content version; the page cache is dropped after
//! the commit.

use super::Content;
use super::{
    db::{self, Article, Fields, Revision},
    model::{ArticleInput, Slug, State, Status},
    search::{normalize, plain_text},
};
use crate::{
    error::AppError,
    platform::{db::Db, forms::FieldErrors},
    staff::{
        StaffUser,
        audit::{self, Actor},
    },
};

/// Who saves: a staff member, or the system (demo content).
#[derive(Clone, Copy)]
pub enum Author<'a> {
    Staff(&'a StaffUser),
    System(&'static str),
}

impl Author<'_> {
    fn id(&self) -> Option<i64> {
        match self {
            Author::Staff(u) => Some(u.id),
            Author::System(_) => None,
        }
    }

    fn actor(&self) -> Actor<'_> {
        match self {
            Author::Staff(u) => Actor::Staff(u),
            Author::System(name) => Actor::System(name),
        }
    }
}

/// Why a save did not happen.
#[derive(Debug)]
pub enum SaveError {
    /// Field messages to show beside the form.
    Invalid(FieldErrors),
    /// Someone else saved since the editor opened it; holds the new version.
    Conflict(i64),
    Other(AppError),
}

impl From<AppError> for SaveError {
    fn from(e: AppError) -> Self {
        SaveError::Other(e)
    }
}

impl From<sqlx::Error> for SaveError {
    fn from(e: sqlx::Error) -> Self {
        SaveError::Other(e.into())
    }
}

/// A cover image change that comes with a save.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cover {
    Keep,
    Set(String),
    Remove,
}

pub struct Change<'a> {
    pub input: &'a ArticleInput,
    pub cover: Cover,
    /// `create`, `update`, `restore`, `cover`: the audit action and the revision note.
    pub action: &'static str,
    /// `updated_at` of the version the editor started from.
    pub base_version: Option<i64>,
}

/// Creates (`id: None`) or updates an article. Returns its id.
pub async fn save(
    db: &Db,
    content: &Content,
    now: i64,
    author: Author<'_>,
    id: Option<i64>,
    change: Change<'_>,
) -> Result<i64, SaveError> {
    let input = change.input;
    let existing = match id {
        Some(id) => Some(db::get(db, id).await?.ok_or(AppError::NotFound)?),
        None => None,
    };
    let mut tx = db.begin().await?;
    if let Some(old) = &existing {
        let current = db::updated_at(db, &mut tx, old.id)
            .await?
            .ok_or(AppError::NotFound)?;
        if change.base_version.is_some_and(|v| v != current) || old.updated_at != current {
            return Err(SaveError::Conflict(current));
        }
    }

    let slug = match (&input.slug, &existing) {
        (Some(wanted), _) => {
            let owner = db::slug_owner(&mut tx, wanted.as_str()).await?;
            if owner.is_some() && owner != id {
                let mut errors = FieldErrors::default();
                errors.add(
                    "slug",
                    "Another article already uses this address. Choose another one.",
                );
                return Err(SaveError::Invalid(errors));
            }
            wanted.clone()
        }
        (None, Some(old)) => Slug::parse(&old.slug).unwrap_or_else(|| fallback_slug(old.id)),
        (None, None) => free_slug(&mut tx, &input.title).await?,
    };

    let (status, publish_at) = match input.state {
        State::Draft => (Status::Draft, input.publish_at),
        State::Unpublished => (Status::Unpublished, input.publish_at),
        State::Scheduled => (Status::Published, input.publish_at),
        // Published means visible now; a date in the past is kept (backdating).
        State::Published => (
            Status::Published,
            Some(input.publish_at.map_or(now, |t| t.min(now))),
        ),
    };
    let cover_image = match &change.cover {
        Cover::Keep => existing.as_ref().and_then(|a| a.cover_image.clone()),
        Cover::Set(name) => Some(name.clone()),
        Cover::Remove => None,
    };
    let plain = plain_text(&input.body);
    let fields = Fields {
        kind: input.kind,
        slug: slug.as_str(),
        title: &input.title,
        summary: &input.summary,
        body: &input.body,
        product: &input.product,
        seo_title: &input.seo_title,
        seo_description: &input.seo_description,
        cover_image: cover_image.as_deref(),
        status,
        publish_at,
        word_count: plain.split_whitespace().count() as i64,
    };
    let id = match &existing {
        Some(old) => {
            db::update(&mut tx, old.id, &fields, now).await?;
            if old.slug != slug.as_str() {
                db::add_redirect(&mut tx, &old.slug, old.id, now).await?;
            }
            old.id
        }
        None => db::insert(&mut tx, &fields, author.id(), now).await?,
    };
    db::drop_redirect(&mut tx, slug.as_str()).await?;
    db::set_tags(&mut tx, id, &input.tags).await?;
    let indexed_summary = format!(
        "{} {} {}",
        input.summary,
        input.product,
        input.tags.join(" ")
    );
    db::reindex(
        db,
        &mut tx,
        id,
        &normalize(&input.title),
        &normalize(&indexed_summary),
        &normalize(&plain),
    )
    .await?;
    db::insert_revision(
        &mut tx,
        &Revision {
            id: 0,
            article_id: id,
            created_at: now,
            author_id: author.id(),
            action: change.action.to_string(),
            slug: slug.to_string(),
            title: input.title.clone(),
            summary: input.summary.clone(),
            body: input.body.clone(),
            product: input.product.clone(),
            tags: input.tags.join(", "),
            seo_title: input.seo_title.clone(),
            seo_description: input.seo_description.clone(),
            cover_image: cover_image.clone(),
            status: status.as_str().to_string(),
            publish_at,
        },
    )
    .await?;
    db::bump_version(&mut tx).await?;
    let detail = describe(existing.as_ref(), &fields, &input.tags, now);
    audit::record(
        &mut tx,
        author.actor(),
        change.action,
        "article",
        id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    content.cache.invalidate();
    Ok(id)
}

fn fallback_slug(id: i64) -> Slug {
    Slug::from_text(&format!("article-{id}")).expect("a valid slug")
}

/// The title's slug, numbered until no article uses it.
async fn free_slug(tx: &mut crate::platform::db::Tx, title: &str) -> Result<Slug, SaveError> {
    let base = Slug::from_text(title).unwrap_or_else(|| Slug::from_text("article").expect("valid"));
    let mut candidate = base.clone();
    for n in 2..=1000 {
        if db::slug_owner(tx, candidate.as_str()).await?.is_none() {
            return Ok(candidate);
        }
        candidate = base.numbered(n);
    }
    Err(SaveError::Other(AppError::Unprocessable(
        "Too many articles share this title; please choose the address yourself.".into(),
    )))
}

/// The audit detail: the address, the state change and which fields changed.
fn describe(old: Option<&Article>, new: &Fields<'_>, tags: &[String], now: i64) -> String {
    let state = State::of(new.status, new.publish_at, now).as_str();
    let Some(old) = old else {
        return format!("{} /{}: {state}", new.kind.as_str(), new.slug);
    };
    let mut changed = Vec::new();
    for (name, differs) in [
        ("kind", old.kind != new.kind),
        ("slug", old.slug != new.slug),
        ("title", old.title != new.title),
        ("summary", old.summary != new.summary),
        ("body", old.body != new.body),
        ("product", old.product != new.product),
        ("tags", old.tags != tags),
        ("seo title", old.seo_title != new.seo_title),
        (
            "seo description",
            old.seo_description != new.seo_description,
        ),
        ("cover", old.cover_image.as_deref() != new.cover_image),
        ("publication time", old.publish_at != new.publish_at),
    ] {
        if differs {
            changed.push(name);
        }
    }
    let before = State::of(old.status, old.publish_at, now).as_str();
    let mut detail = format!("/{}: {before} -> {state}", new.slug);
    if old.slug != new.slug {
        detail = format!("/{} -> {detail}", old.slug);
    }
    if !changed.is_empty() {
        detail.push_str("; changed ");
        detail.push_str(&changed.join(", "));
    }
    detail
}

/// The editable content of an article as it stands, for saves that change
/// only part of it (cover, restore).
pub fn input_of(article: &Article, now: i64) -> ArticleInput {
    ArticleInput {
        kind: article.kind,
        title: article.title.clone(),
        slug: None,
        summary: article.summary.clone(),
        body: article.body.clone(),
        product: article.product.clone(),
        tags: article.tags.clone(),
        seo_title: article.seo_title.clone(),
        seo_description: article.seo_description.clone(),
        state: State::of(article.status, article.publish_at, now),
        publish_at: article.publish_at,
    }
}

/// Brings back the content of an earlier revision (title, text, tags,
/// product, SEO fields, cover) as a new revision; address and publication
/// state stay as they are.
pub async fn restore(
    db: &Db,
    content: &Content,
    now: i64,
    author: Author<'_>,
    article_id: i64,
    revision_id: i64,
) -> Result<i64, SaveError> {
    let article = db::get(db, article_id).await?.ok_or(AppError::NotFound)?;
    let rev = db::revision(db, article_id, revision_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut input = input_of(&article, now);
    input.title = rev.title;
    input.summary = rev.summary;
    input.body = rev.body;
    input.product = rev.product;
    input.tags = super::model::parse_tags(&rev.tags).unwrap_or_default();
    input.seo_title = rev.seo_title;
    input.seo_description = rev.seo_description;
    let cover = match rev.cover_image {
        Some(name) => Cover::Set(name),
        None => Cover::Remove,
    };
    save(
        db,
        content,
        now,
        author,
        Some(article_id),
        Change {
            input: &input,
            cover,
            action: "restore",
            base_version: Some(article.updated_at),
        },
    )
    .await
}

/// Deletes an article with its revisions and old slugs.
pub async fn delete(db: &Db, content: &Content, user: &StaffUser, id: i64) -> Result<(), AppError> {
    let article = db::get(db, id).await?.ok_or(AppError::NotFound)?;
    let mut tx = db.begin().await?;
    if !db::delete(db, &mut tx, id).await? {
        return Err(AppError::NotFound);
    }
    db::bump_version(&mut tx).await?;
    audit::record(
        &mut tx,
        Actor::Staff(user),
        "delete",
        "article",
        id,
        &format!("/{}: {}", article.slug, article.title),
    )
    .await?;
    tx.commit().await?;
    content.cache.invalidate();
    Ok(())
}

//! Articles and blog posts in the JSON API: listed with the editors'
//! filters, read, written (the same checks and the same Markdown
//! sanitising as the editor, one transaction with revision and audit
//! entry), published and deleted, by calling `editing`.

use super::{
    db::{self, Article, EditorFilter},
    editing::{self, Author, Change, Cover, SaveError},
    model::{ArticleForm, State},
};
use crate::{
    AppState,
    platform::{
        api::{
            ApiError, ApiResult, Id, Json, Query, Refusals, cursor, page_size, parse_cursor, time,
        },
        templates::markdown_to_html,
    },
    staff::tokens::{ArticlesRead, ArticlesWrite, Bearer},
};
use axum::{
    Router,
    extract::State as Extract,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/articles", get(list_articles).post(create_article))
        .route(
            "/api/v1/articles/{id}",
            get(get_article).put(update_article).delete(delete_article),
        )
        .route("/api/v1/articles/{id}/publish", post(publish_article))
}

/// This feature's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_articles,
    create_article,
    get_article,
    update_article,
    delete_article,
    publish_article
))]
pub struct Doc;

/// An article or blog post as listed.
#[derive(Serialize, ToSchema)]
pub struct ArticleSummary {
    pub id: i64,
    /// `article` (help article) or `post` (blog post).
    pub kind: String,
    pub slug: String,
    pub title: String,
    pub product: String,
    /// `draft`, `scheduled`, `published` or `unpublished`.
    pub state: String,
    pub publish_at: Option<String>,
    pub updated_at: String,
}

/// One page of articles.
#[derive(Serialize, ToSchema)]
pub struct ArticleList {
    pub items: Vec<ArticleSummary>,
    /// Pass as `?cursor=` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A whole article.
#[derive(Serialize, ToSchema)]
pub struct ArticleDetail {
    #[serde(flatten)]
    pub summary: ArticleSummary,
    pub summary_text: String,
    /// The Markdown as written.
    pub body: String,
    /// The body as the site shows it: Markdown rendered and sanitised.
    pub body_html: String,
    pub tags: Vec<String>,
    pub seo_title: String,
    pub seo_description: String,
    /// Its address on the site.
    pub path: String,
    /// Send back as `version` when updating, to be told of a colleague's save (409).
    pub version: i64,
}

fn detail_of(a: &Article, now: i64) -> ArticleDetail {
    ArticleDetail {
        summary: ArticleSummary {
            id: a.id,
            kind: a.kind.as_str().into(),
            slug: a.slug.clone(),
            title: a.title.clone(),
            product: a.product.clone(),
            state: State::of(a.status, a.publish_at, now).as_str().into(),
            publish_at: a.publish_at.map(time),
            updated_at: time(a.updated_at),
        },
        summary_text: a.summary.clone(),
        body: a.body.clone(),
        body_html: markdown_to_html(&a.body),
        tags: a.tags.clone(),
        seo_title: a.seo_title.clone(),
        seo_description: a.seo_description.clone(),
        path: a.kind.path(&a.slug),
        version: a.updated_at,
    }
}

/// The editors' filters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ArticleListQuery {
    /// Text in the title, address, summary or product.
    pub q: Option<String>,
    /// `article` or `post`.
    pub kind: Option<String>,
    /// `draft`, `scheduled`, `published` or `unpublished`.
    pub state: Option<String>,
    pub product: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100; 50 when not given.
    pub limit: Option<i64>,
}

/// Lists articles and posts, drafts too, most recently changed first.
#[utoipa::path(get, path = "/api/v1/articles", tag = "articles",
    params(ArticleListQuery),
    responses((status = 200, description = "A page of articles", body = ArticleList), Refusals),
    security(("bearer" = ["articles:read"])))]
pub async fn list_articles(
    _: Bearer<ArticlesRead>,
    Extract(state): Extract<AppState>,
    Query(query): Query<ArticleListQuery>,
) -> ApiResult<Json<ArticleList>> {
    let limit = page_size(query.limit)?;
    // The editors' list pages by position: the cursor holds it.
    let offset = parse_cursor(query.cursor.as_deref())?.map_or(0, |(offset, _)| offset.max(0));
    let filter = EditorFilter {
        q: query.q.unwrap_or_default(),
        kind: query.kind.unwrap_or_default(),
        state: query.state.unwrap_or_default(),
        product: query.product.unwrap_or_default(),
        page: None,
    };
    let now = state.clock.now();
    let (rows, total) = db::list_for_editors(&state.db, &filter, now, limit, offset).await?;
    let next = offset + rows.len() as i64;
    let items: Vec<ArticleSummary> = rows
        .into_iter()
        .map(|a| ArticleSummary {
            id: a.id,
            kind: a.kind.as_str().into(),
            slug: a.slug,
            title: a.title,
            product: a.product,
            state: State::of(a.status, a.publish_at, now).as_str().into(),
            publish_at: a.publish_at.map(time),
            updated_at: time(a.updated_at),
        })
        .collect();
    let last = items.last().map(|a| a.id);
    Ok(Json(ArticleList {
        next_cursor: last.filter(|_| next < total).map(|id| cursor(next, id)),
        items,
    }))
}

async fn load(state: &AppState, id: i64) -> ApiResult<Article> {
    db::get(&state.db, id).await?.ok_or(ApiError::NotFound)
}

/// Reads an article or post.
#[utoipa::path(get, path = "/api/v1/articles/{id}", tag = "articles",
    params(("id" = i64, Path, description = "The article's id")),
    responses((status = 200, description = "The article", body = ArticleDetail), Refusals),
    security(("bearer" = ["articles:read"])))]
pub async fn get_article(
    _: Bearer<ArticlesRead>,
    Extract(state): Extract<AppState>,
    Id(id): Id,
) -> ApiResult<Json<ArticleDetail>> {
    let article = load(&state, id).await?;
    Ok(Json(detail_of(&article, state.clock.now())))
}

/// An article or post as written.
#[derive(Deserialize, ToSchema)]
pub struct ArticleRequest {
    /// `article` or `post`.
    pub kind: String,
    pub title: String,
    /// Made from the title when empty.
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub summary: String,
    /// Markdown; raw HTML in it is sanitised as in the editor.
    pub body: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub seo_title: String,
    #[serde(default)]
    pub seo_description: String,
    /// `draft` (the default), `scheduled`, `published` or `unpublished`.
    #[serde(default)]
    pub state: String,
    /// `YYYY-MM-DDTHH:MM` in UTC; required for `scheduled`.
    #[serde(default)]
    pub publish_at: String,
    /// `version` from a read: a colleague's save since then is a 409.
    pub version: Option<i64>,
}

impl ArticleRequest {
    fn form(self) -> ArticleForm {
        ArticleForm {
            kind: self.kind,
            title: self.title,
            slug: self.slug,
            summary: self.summary,
            body: self.body,
            product: self.product,
            tags: self.tags.join(", "),
            seo_title: self.seo_title,
            seo_description: self.seo_description,
            state: if self.state.is_empty() {
                "draft".into()
            } else {
                self.state
            },
            publish_at: self.publish_at,
            version: self.version.map(|v| v.to_string()).unwrap_or_default(),
            action: "save".into(),
        }
    }
}

/// Saves through the editor's one transaction; the article as stored.
async fn save(
    state: &AppState,
    caller: &crate::staff::tokens::Caller,
    id: Option<i64>,
    form: ArticleForm,
    action: &'static str,
) -> ApiResult<ArticleDetail> {
    let now = state.clock.now();
    let input = form.validate(now, chrono_tz::UTC)?;
    let change = Change {
        input: &input,
        cover: Cover::Keep,
        action,
        base_version: form.version(),
    };
    let saved = editing::save(
        &state.db,
        &state.content,
        now,
        Author::Staff(&caller.user),
        id,
        change,
    )
    .await;
    let id = match saved {
        Ok(id) => id,
        Err(SaveError::Invalid(errors)) => return Err(errors.into()),
        Err(SaveError::Conflict(current)) => {
            return Err(ApiError::Status(
                StatusCode::CONFLICT,
                format!(
                    "Someone saved this article since version {}; read it again (version {current}) and send your change on top of it.",
                    form.version.as_str()
                ),
            ));
        }
        Err(SaveError::Other(e)) => return Err(e.into()),
    };
    Ok(detail_of(&load(state, id).await?, now))
}

/// Writes a new article or post.
#[utoipa::path(post, path = "/api/v1/articles", tag = "articles",
    request_body = ArticleRequest,
    responses((status = 201, description = "Saved", body = ArticleDetail), Refusals),
    security(("bearer" = ["articles:write"])))]
pub async fn create_article(
    Bearer(caller, ..): Bearer<ArticlesWrite>,
    Extract(state): Extract<AppState>,
    Json(request): Json<ArticleRequest>,
) -> ApiResult<Response> {
    let saved = save(&state, &caller, None, request.form(), "create").await?;
    let location = format!("/api/v1/articles/{}", saved.summary.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(saved),
    )
        .into_response())
}

/// Replaces an article's content.
#[utoipa::path(put, path = "/api/v1/articles/{id}", tag = "articles",
    params(("id" = i64, Path, description = "The article's id")),
    request_body = ArticleRequest,
    responses(
        (status = 200, description = "Saved", body = ArticleDetail),
        (status = 409, description = "Saved by someone else since `version`", body = crate::platform::api::ErrorBody),
        Refusals),
    security(("bearer" = ["articles:write"])))]
pub async fn update_article(
    Bearer(caller, ..): Bearer<ArticlesWrite>,
    Extract(state): Extract<AppState>,
    Id(id): Id,
    Json(request): Json<ArticleRequest>,
) -> ApiResult<Json<ArticleDetail>> {
    load(&state, id).await?;
    Ok(Json(
        save(&state, &caller, Some(id), request.form(), "update").await?,
    ))
}

/// Publishes an article or post now.
#[utoipa::path(post, path = "/api/v1/articles/{id}/publish", tag = "articles",
    params(("id" = i64, Path, description = "The article's id")),
    responses((status = 200, description = "Published", body = ArticleDetail), Refusals),
    security(("bearer" = ["articles:write"])))]
pub async fn publish_article(
    Bearer(caller, ..): Bearer<ArticlesWrite>,
    Extract(state): Extract<AppState>,
    Id(id): Id,
) -> ApiResult<Json<ArticleDetail>> {
    let article = load(&state, id).await?;
    let form = ArticleForm {
        kind: article.kind.as_str().into(),
        title: article.title.clone(),
        slug: article.slug.clone(),
        summary: article.summary.clone(),
        body: article.body.clone(),
        product: article.product.clone(),
        tags: article.tags.join(", "),
        seo_title: article.seo_title.clone(),
        seo_description: article.seo_description.clone(),
        state: State::Published.as_str().into(),
        publish_at: String::new(),
        version: article.updated_at.to_string(),
        action: "save".into(),
    };
    Ok(Json(save(&state, &caller, Some(id), form, "update").await?))
}

/// Deletes an article or post with its revisions.
#[utoipa::path(delete, path = "/api/v1/articles/{id}", tag = "articles",
    params(("id" = i64, Path, description = "The article's id")),
    responses((status = 204, description = "Deleted"), Refusals),
    security(("bearer" = ["articles:write"])))]
pub async fn delete_article(
    Bearer(caller, ..): Bearer<ArticlesWrite>,
    Extract(state): Extract<AppState>,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    editing::delete(&state.db, &state.content, &caller.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The editors' back office: list, create, edit with preview, schedule,
//! cover upload, delete with confirmation, revisions to compare and restore.

use super::{
    covers,
    db::{self, Article, EditorFilter, Listed, Revision},
    diff,
    editing::{self, Author, Change, Cover, SaveError},
    model::{ArticleForm, Kind, State, Status, datetime_input},
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        forms::{FieldErrors, Form},
        templates::{Page, markdown_to_html, render, render_with},
    },
    staff::{Editor, Staff},
};
use axum::{
    extract::{Multipart, Path, Query, State as Extract},
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

const PER_PAGE: i64 = 50;

struct Row {
    item: Listed,
    state: State,
    public_path: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "content/admin_list.html")]
struct ListPage {
    page: Page,
    filter: EditorFilter,
    rows: Vec<Row>,
    total: i64,
    page_no: i64,
    pages: i64,
    products: Vec<String>,
    kinds: [Kind; 2],
    states: [State; 4],
    notice: &'static str,
}

impl ListPage {
    fn page_href(&self, n: i64) -> String {
        let f = &self.filter;
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &f.q)
            .append_pair("kind", &f.kind)
            .append_pair("state", &f.state)
            .append_pair("product", &f.product)
            .append_pair("page", &n.to_string())
            .finish();
        format!("/admin/articles?{query}")
    }
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
}

fn notice(done: &str) -> &'static str {
    match done {
        "saved" => "Saved.",
        "restored" => "The earlier version is back, saved as a new revision.",
        "cover" => "Cover image saved.",
        "cover-removed" => "Cover image removed.",
        "deleted" => "Deleted.",
        _ => "",
    }
}

pub async fn list_articles(
    _: Staff<Editor>,
    Extract(state): Extract<AppState>,
    page: Page,
    Query(filter): Query<EditorFilter>,
    Query(done): Query<Done>,
) -> AppResult<Response> {
    let now = state.clock.now();
    let page_no = filter.page.unwrap_or(1).clamp(1, 10_000);
    let (items, total) =
        db::list_for_editors(&state.db, &filter, now, PER_PAGE, (page_no - 1) * PER_PAGE).await?;
    let rows = items
        .into_iter()
        .map(|item| {
            let state = State::of(item.status, item.publish_at, now);
            Row {
                public_path: (state == State::Published).then(|| item.kind.path(&item.slug)),
                state,
                item,
            }
        })
        .collect();
    render(&ListPage {
        page: page.titled("Articles and posts"),
        products: db::products(&state.db).await?,
        filter,
        rows,
        total,
        page_no,
        pages: ((total + PER_PAGE - 1) / PER_PAGE).max(1),
        kinds: Kind::ALL,
        states: State::ALL,
        notice: notice(&done.done),
    })
}

/// What the edit page shows besides the form, for an existing article.
struct Info {
    id: i64,
    state: State,
    public_path: Option<String>,
    cover_path: Option<String>,
    old_slugs: Vec<String>,
    revisions: usize,
    updated_at: i64,
}

#[derive(askama::Template)]
#[template(path = "content/admin_edit.html")]
struct EditPage {
    page: Page,
    form: ArticleForm,
    errors: FieldErrors,
    preview: Option<String>,
    notice: String,
    /// `ok` or `error`: how the notice looks.
    alert: &'static str,
    info: Option<Info>,
    products: Vec<String>,
    kinds: [Kind; 2],
    states: [State; 4],
    max_cover_mb: usize,
}

impl EditPage {
    fn action(&self) -> String {
        match &self.info {
            Some(info) => format!("/admin/articles/{}", info.id),
            None => "/admin/articles/new".into(),
        }
    }
}

fn form_of(article: &Article, now: i64, zone: chrono_tz::Tz) -> ArticleForm {
    ArticleForm {
        kind: article.kind.as_str().into(),
        title: article.title.clone(),
        slug: article.slug.clone(),
        summary: article.summary.clone(),
        body: article.body.clone(),
        product: article.product.clone(),
        tags: article.tags.join(", "),
        seo_title: article.seo_title.clone(),
        seo_description: article.seo_description.clone(),
        state: State::of(article.status, article.publish_at, now)
            .as_str()
            .into(),
        publish_at: datetime_input(article.publish_at, zone),
        version: article.updated_at.to_string(),
        action: String::new(),
    }
}

async fn info_of(state: &AppState, article: &Article, now: i64) -> AppResult<Info> {
    let article_state = State::of(article.status, article.publish_at, now);
    Ok(Info {
        id: article.id,
        state: article_state,
        public_path: (article_state == State::Published).then(|| article.kind.path(&article.slug)),
        cover_path: article.cover_image.as_deref().map(covers::path),
        old_slugs: db::old_slugs(&state.db, article.id).await?,
        revisions: db::revisions(&state.db, article.id).await?.len(),
        updated_at: article.updated_at,
    })
}

/// The form as it is to be shown again.
struct Shown {
    status: StatusCode,
    form: ArticleForm,
    errors: FieldErrors,
    preview: Option<String>,
    notice: String,
    alert: &'static str,
}

impl Shown {
    fn form(status: StatusCode, form: ArticleForm) -> Shown {
        Shown {
            status,
            form,
            errors: FieldErrors::default(),
            preview: None,
            notice: String::new(),
            alert: "ok",
        }
    }
}

async fn edit_page(
    state: &AppState,
    page: Page,
    article: Option<&Article>,
    shown: Shown,
) -> AppResult<Response> {
    let now = state.clock.now();
    let info = match article {
        Some(a) => Some(info_of(state, a, now).await?),
        None => None,
    };
    let title = match &info {
        Some(_) => format!("Edit: {}", shown.form.title),
        None => "New article or post".into(),
    };
    let body = EditPage {
        page: page.titled(title),
        form: shown.form,
        errors: shown.errors,
        preview: shown.preview,
        notice: shown.notice,
        alert: shown.alert,
        info,
        products: db::products(&state.db).await?,
        kinds: Kind::ALL,
        states: State::ALL,
        max_cover_mb: covers::MAX_BYTES / (1024 * 1024),
    };
    let mut response = render_with(shown.status, &body)?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct NewParams {
    #[serde(default)]
    kind: String,
}

pub async fn new_article(
    _: Staff<Editor>,
    Extract(state): Extract<AppState>,
    page: Page,
    Query(params): Query<NewParams>,
) -> AppResult<Response> {
    let form = ArticleForm {
        kind: Kind::parse(&params.kind)
            .unwrap_or(Kind::Article)
            .as_str()
            .into(),
        state: State::Draft.as_str().into(),
        ..ArticleForm::default()
    };
    edit_page(&state, page, None, Shown::form(StatusCode::OK, form)).await
}

pub async fn create_article(
    Staff(user, ..): Staff<Editor>,
    Extract(state): Extract<AppState>,
    page: Page,
    Form(form): Form<ArticleForm>,
) -> AppResult<Response> {
    submit(&state, &user, page, None, form).await
}

pub async fn edit_article(
    _: Staff<Editor>,
    Extract(state): Extract<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> AppResult<Response> {
    let article = db::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let shown = Shown {
        notice: notice(&done.done).into(),
        ..Shown::form(
            StatusCode::OK,
            form_of(&article, state.clock.now(), page.zone()),
        )
    };
    edit_page(&state, page, Some(&article), shown).await
}

pub async fn update_article(
    Staff(user, ..): Staff<Editor>,
    Extract(state): Extract<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ArticleForm>,
) -> AppResult<Response> {
    submit(&state, &user, page, Some(id), form).await
}

/// Preview or save, from the new or the edit form.
async fn submit(
    state: &AppState,
    user: &crate::staff::StaffUser,
    page: Page,
    id: Option<i64>,
    mut form: ArticleForm,
) -> AppResult<Response> {
    let article = match id {
        Some(id) => Some(db::get(&state.db, id).await?.ok_or(AppError::NotFound)?),
        None => None,
    };
    let article = article.as_ref();
    if form.is_preview() {
        let shown = Shown {
            preview: Some(markdown_to_html(&form.body)),
            ..Shown::form(StatusCode::OK, form)
        };
        return edit_page(state, page, article, shown).await;
    }
    let invalid = |form, errors| Shown {
        errors,
        ..Shown::form(StatusCode::UNPROCESSABLE_ENTITY, form)
    };
    let input = match form.validate(state.clock.now(), page.zone()) {
        Ok(input) => input,
        Err(errors) => return edit_page(state, page, article, invalid(form, errors)).await,
    };
    let change = Change {
        input: &input,
        cover: Cover::Keep,
        action: if id.is_some() { "update" } else { "create" },
        base_version: form.version(),
    };
    match editing::save(
        &state.db,
        &state.content,
        state.clock.now(),
        Author::Staff(user),
        id,
        change,
    )
    .await
    {
        Ok(id) => Ok(Redirect::to(&format!("/admin/articles/{id}?done=saved")).into_response()),
        Err(SaveError::Invalid(errors)) => {
            edit_page(state, page, article, invalid(form, errors)).await
        }
        Err(SaveError::Conflict(current)) => {
            // Saving again overwrites, now that the editor has been told.
            form.version = current.to_string();
            let fresh = db::get(&state.db, id.unwrap_or_default()).await?;
            let shown = Shown {
                notice: "Someone else saved this article while you were editing. \
                         Your text below is not saved yet: compare it with the revision \
                         history, then save again to replace their version."
                    .into(),
                alert: "error",
                ..Shown::form(StatusCode::CONFLICT, form)
            };
            edit_page(state, page, fresh.as_ref().or(article), shown).await
        }
        Err(SaveError::Other(e)) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct PreviewForm {
    #[serde(default)]
    body: String,
}

/// The live preview's fragment: the same sanitised rendering as the page.
pub async fn preview_markdown(
    _: Staff<Editor>,
    Form(form): Form<PreviewForm>,
) -> AppResult<Response> {
    let mut response = Html(markdown_to_html(&form.body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub async fn upload_cover(
    Staff(user, ..): Staff<Editor>,
    Extract(state): Extract<AppState>,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let unreadable =
        |_| AppError::BadRequest("The upload could not be read. Please try again.".into());
    let mut bytes: Option<Vec<u8>> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() != Some("cover") {
            continue;
        }
        let mut buf = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            if buf.len() + chunk.len() > covers::MAX_BYTES {
                return Err(AppError::PayloadTooLarge);
            }
            buf.extend_from_slice(&chunk);
        }
        bytes = Some(buf);
    }
    let bytes = bytes
        .ok_or_else(|| AppError::Unprocessable("Please choose an image file to upload.".into()))?;
    let name = covers::store(&state, &bytes).await?;
    change_cover(&state, &user, id, Cover::Set(name), "cover").await
}

pub async fn remove_cover(
    Staff(user, ..): Staff<Editor>,
    Extract(state): Extract<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    change_cover(&state, &user, id, Cover::Remove, "cover-removed").await
}

async fn change_cover(
    state: &AppState,
    user: &crate::staff::StaffUser,
    id: i64,
    cover: Cover,
    done: &str,
) -> AppResult<Response> {
    let article = db::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let input = editing::input_of(&article, state.clock.now());
    let change = Change {
        input: &input,
        cover,
        action: "cover",
        base_version: None,
    };
    match editing::save(
        &state.db,
        &state.content,
        state.clock.now(),
        Author::Staff(user),
        Some(id),
        change,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/admin/articles/{id}?done={done}")).into_response()),
        Err(SaveError::Other(e)) => Err(e),
        Err(SaveError::Conflict(_)) | Err(SaveError::Invalid(_)) => Err(AppError::Unprocessable(
            "The article changed meanwhile. Please go back, reload it and try again.".into(),
        )),
    }
}

#[derive(askama::Template)]
#[template(path = "content/admin_delete.html")]
struct DeletePage {
    page: Page,
    article: Article,
    revisions: usize,
}

pub async fn confirm_delete(
    _: Staff<Editor>,
    Extract(state): Extract<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let article = db::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let revisions = db::revisions(&state.db, id).await?.len();
    render(&DeletePage {
        page: page.titled(format!("Delete: {}", article.title)),
        article,
        revisions,
    })
}

pub async fn delete_article(
    Staff(user, ..): Staff<Editor>,
    Extract(state): Extract<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    editing::delete(&state.db, &state.content, &user, id).await?;
    Ok(Redirect::to("/admin/articles?done=deleted").into_response())
}

#[derive(askama::Template)]
#[template(path = "content/admin_revisions.html")]
struct RevisionsPage {
    page: Page,
    article: Article,
    revisions: Vec<Revision>,
}

pub async fn list_revisions(
    _: Staff<Editor>,
    Extract(state): Extract<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let article = db::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let revisions = db::revisions(&state.db, id).await?;
    render(&RevisionsPage {
        page: page.titled(format!("History: {}", article.title)),
        article,
        revisions,
    })
}

/// One field of a revision beside the current version.
struct FieldChange {
    label: &'static str,
    then: String,
    now: String,
}

impl FieldChange {
    fn changed(&self) -> bool {
        self.then != self.now
    }
}

#[derive(askama::Template)]
#[template(path = "content/admin_revision.html")]
struct RevisionPage {
    page: Page,
    article: Article,
    revision: Revision,
    fields: Vec<FieldChange>,
    lines: Vec<diff::Line>,
    body_changed: bool,
}

pub async fn show_revision(
    _: Staff<Editor>,
    Extract(state): Extract<AppState>,
    page: Page,
    Path((id, rev)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let article = db::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let revision = db::revision(&state.db, id, rev)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let status_then = Status::parse(&revision.status).unwrap_or(Status::Draft);
    let field = |label, then: &str, now: &str| FieldChange {
        label,
        then: then.to_string(),
        now: now.to_string(),
    };
    let fields = vec![
        field("Title", &revision.title, &article.title),
        field("Address", &revision.slug, &article.slug),
        field("Summary", &revision.summary, &article.summary),
        field("Product", &revision.product, &article.product),
        field("Tags", &revision.tags, &article.tags.join(", ")),
        field("SEO title", &revision.seo_title, &article.seo_title),
        field(
            "SEO description",
            &revision.seo_description,
            &article.seo_description,
        ),
        field(
            "Cover",
            revision.cover_image.as_deref().unwrap_or("none"),
            article.cover_image.as_deref().unwrap_or("none"),
        ),
        field(
            "State",
            State::of(status_then, revision.publish_at, now).as_str(),
            State::of(article.status, article.publish_at, now).as_str(),
        ),
        field(
            "Publication time",
            &revision
                .publish_at
                .map_or_else(String::new, |t| page.time(&t)),
            &article
                .publish_at
                .map_or_else(String::new, |t| page.time(&t)),
        ),
    ];
    let lines = diff::lines(&revision.body, &article.body);
    render(&RevisionPage {
        page: page.titled(format!("Revision {rev}: {}", article.title)),
        body_changed: revision.body != article.body,
        article,
        revision,
        fields,
        lines,
    })
}

pub async fn restore_revision(
    Staff(user, ..): Staff<Editor>,
    Extract(state): Extract<AppState>,
    Path((id, rev)): Path<(i64, i64)>,
) -> AppResult<Response> {
    match editing::restore(
        &state.db,
        &state.content,
        state.clock.now(),
        Author::Staff(&user),
        id,
        rev,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/admin/articles/{id}?done=restored")).into_response()),
        Err(SaveError::Other(e)) => Err(e),
        Err(SaveError::Conflict(_)) => Err(AppError::Unprocessable(
            "The article changed meanwhile. Please reload and try again.".into(),
        )),
        Err(SaveError::Invalid(_)) => Err(AppError::Unprocessable(
            "That version cannot be restored under the current address.".into(),
        )),
    }
}

/// Articles and posts whose title, slug, summary or product holds `q`, for
/// the back office's global search (the editors' list's own filter).
pub async fn search_for_editors(
    state: &AppState,
    q: &str,
    limit: i64,
) -> AppResult<Vec<crate::platform::nav::SearchHit>> {
    let filter = EditorFilter {
        q: q.to_string(),
        ..EditorFilter::default()
    };
    let now = state.clock.now();
    let (items, _) = db::list_for_editors(&state.db, &filter, now, limit, 0).await?;
    Ok(items
        .into_iter()
        .map(|item| crate::platform::nav::SearchHit {
            detail: format!(
                "{} · {}{}",
                item.kind.label(),
                State::of(item.status, item.publish_at, now).as_str(),
                if item.product.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", item.product)
                }
            ),
            href: format!("/admin/articles/{}", item.id),
            title: item.title,
        })
        .collect())
}

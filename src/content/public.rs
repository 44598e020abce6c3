//! The public side: help articles, blog, tags, search, feed, sitemap, robots.txt.

use super::{
    cache::{HTML, PRIVATE, PUBLIC, SharedPage, Validators, conditional},
    db::{LiveFilter, Teaser},
    model::{Kind, Slug, reading_minutes},
    search::{self, Query},
    views::{self, ArticleView, ArticlesIndex, Crumb, ListPage, Lookup, absolute},
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::templates::{CSRF_PLACEHOLDER, Page, SharedVariant},
    privacy::Privacy,
};
use anyhow::Context;
use askama::Template;
use axum::{
    extract::{MatchedPath, Path, Query as UrlQuery, State},
    http::{HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

impl Teaser {
    pub fn date(&self) -> String {
        views::date(self.publish_at)
    }

    pub fn iso_date(&self) -> String {
        views::rfc3339(self.publish_at)
    }

    pub fn minutes(&self) -> i64 {
        reading_minutes(self.word_count)
    }
}

/// Drops stale cache entries and returns the content clock's "now".
async fn fresh(state: &AppState, page: &Page) -> AppResult<i64> {
    let now = state.clock.now();
    state
        .content
        .cache
        .ensure_fresh(&state.db, &page.site, now)
        .await?;
    Ok(now)
}

fn moved_permanently(path: &str) -> Response {
    match HeaderValue::from_str(path) {
        Ok(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => AppError::NotFound.into_response(),
    }
}

fn html(
    validators: &Validators,
    template: &impl Template,
    last_modified: i64,
) -> AppResult<Response> {
    let body = template.render().context("rendering template")?;
    Ok(conditional(
        validators,
        HTML,
        PRIVATE,
        body,
        Some(last_modified),
    ))
}

#[derive(Template)]
#[template(path = "content/article.html")]
struct ArticlePage<'a> {
    page: Page,
    view: &'a ArticleView,
}

pub async fn show_article(
    State(state): State<AppState>,
    page: Page,
    validators: Validators,
    route: MatchedPath,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    show(state, page, validators, route, Kind::Article, &slug).await
}

pub async fn show_post(
    State(state): State<AppState>,
    page: Page,
    validators: Validators,
    route: MatchedPath,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    show(state, page, validators, route, Kind::Post, &slug).await
}

async fn show(
    state: AppState,
    page: Page,
    validators: Validators,
    route: MatchedPath,
    kind: Kind,
    slug: &str,
) -> AppResult<Response> {
    let slug = Slug::parse(slug).ok_or(AppError::NotFound)?;
    let now = fresh(&state, &page).await?;
    let lookup = views::article(&state, slug.as_str(), now).await?;
    let view = match &*lookup {
        Lookup::Moved(path) => return Ok(moved_permanently(path)),
        Lookup::Live(view) if view.kind != kind => {
            return Ok(moved_permanently(&view.kind.path(&view.slug)));
        }
        Lookup::Live(view) => view,
    };
    let make = |page: Page| ArticlePage {
        page: page.titled(view.page_title.clone()),
        view,
    };
    // The whole page is the same for every visitor with the same privacy
    // choices but for the CSRF token: render it once, stamp the token in.
    // Later requests for it are answered before routing (`answer_shared`).
    let Some(variant) = page.shared_variant() else {
        return html(&validators, &make(page), view.updated);
    };
    let token = page.csrf.clone();
    let shared = state
        .content
        .cache
        .get_or_fill(&variant.page_key(&page.path), now, || async {
            let page = page.with_csrf(CSRF_PLACEHOLDER);
            let body = make(page).render().context("rendering template")?;
            Ok(SharedPage::new(
                &body,
                CSRF_PLACEHOLDER,
                view.updated,
                route,
            ))
        })
        .await?;
    Ok(shared.respond(&validators, &token))
}

/// Answers a request from the page [`show`] rendered for this path and
/// this visitor's variant, if the cache holds it, before routing: the
/// router, the extractors and the article lookup are most of what a page
/// costs once it is rendered. The answer is the one `show` would give,
/// since `show` stored it and the cache drops it on every change. `None`:
/// the router takes the request (and reports any error).
pub async fn answer_shared(
    state: &AppState,
    request: &Parts,
    privacy: &Privacy,
    token: &str,
) -> Option<Response> {
    if !matches!(request.method, Method::GET | Method::HEAD) {
        return None;
    }
    let cache = &state.content.cache;
    let key = SharedVariant::new(privacy, &state.notices()).page_key(request.uri.path());
    // Most requests are for something else (files, forms, the back office):
    // they leave here without asking whether the cache is current, which
    // may ask the database. A hit is kept unless the check cleared the cache.
    let generation = cache.generation();
    let shared = cache.get::<SharedPage>(&key)?;
    let now = state.clock.now();
    cache
        .ensure_fresh(&state.db, &state.site(), now)
        .await
        .ok()?;
    let shared = if cache.generation() == generation {
        shared
    } else {
        cache.get::<SharedPage>(&key)?
    };
    Some(shared.respond(&Validators::of(&request.headers), token))
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    product: Option<String>,
}

#[derive(Template)]
#[template(path = "content/articles.html")]
struct ArticlesIndexPage<'a> {
    page: Page,
    index: &'a ArticlesIndex,
    canonical: String,
}

#[derive(Template)]
#[template(path = "content/list.html")]
struct ListTemplate<'a> {
    page: Page,
    heading: String,
    intro: String,
    list: &'a ListPage,
    /// Path and query up to where `page=N` is appended.
    page_link: String,
    canonical: String,
    crumbs: Vec<Crumb>,
}

impl ListTemplate<'_> {
    fn page_href(&self, n: i64) -> String {
        format!("{}page={n}", self.page_link)
    }
}

pub async fn list_articles(
    State(state): State<AppState>,
    page: Page,
    validators: Validators,
    UrlQuery(params): UrlQuery<ListParams>,
) -> AppResult<Response> {
    let now = fresh(&state, &page).await?;
    let base = &state.config.base_url;
    match params.product.as_deref().map(str::trim) {
        Some(product) if !product.is_empty() => {
            let n = params.page.unwrap_or(1);
            let filter = LiveFilter {
                kind: Some(Kind::Article),
                product: Some(product),
                tag: None,
            };
            let list = views::list_page(&state, filter, n, now).await?;
            if list.total == 0 {
                return Err(AppError::NotFound);
            }
            let path = views::product_path(product);
            let template = ListTemplate {
                page: page.titled(format!("{product} help articles")),
                heading: product.to_string(),
                intro: format!("Help articles about {product}."),
                list: &list,
                page_link: format!("{path}&"),
                canonical: absolute(base, &page_path(&path, n, '&')),
                crumbs: vec![
                    crumb("Home", "/"),
                    crumb(Kind::Article.section_name(), "/articles"),
                ],
            };
            html(&validators, &template, list.last_modified)
        }
        _ => {
            let index = views::articles_index(&state, now).await?;
            let template = ArticlesIndexPage {
                page: page.titled("Help articles"),
                index: &index,
                canonical: absolute(base, "/articles"),
            };
            html(&validators, &template, index.last_modified)
        }
    }
}

fn crumb(label: &str, href: &str) -> Crumb {
    Crumb {
        label: label.into(),
        href: href.into(),
    }
}

fn page_path(path: &str, n: i64, joiner: char) -> String {
    if n > 1 {
        format!("{path}{joiner}page={n}")
    } else {
        path.to_string()
    }
}

pub async fn list_posts(
    State(state): State<AppState>,
    page: Page,
    validators: Validators,
    UrlQuery(params): UrlQuery<ListParams>,
) -> AppResult<Response> {
    let now = fresh(&state, &page).await?;
    let n = params.page.unwrap_or(1);
    let filter = LiveFilter {
        kind: Some(Kind::Post),
        ..LiveFilter::default()
    };
    let list = views::list_page(&state, filter, n, now).await?;
    let title = if n > 1 {
        format!("Blog, page {n}")
    } else {
        "Blog".into()
    };
    let template = ListTemplate {
        page: page.titled(title),
        heading: "Blog".into(),
        intro: "Notes from the support desk: what we see, what we fix, what we recommend.".into(),
        list: &list,
        page_link: "/blog?".into(),
        canonical: absolute(&state.config.base_url, &page_path("/blog", n, '?')),
        crumbs: vec![crumb("Home", "/")],
    };
    html(&validators, &template, list.last_modified)
}

pub async fn show_tag(
    State(state): State<AppState>,
    page: Page,
    validators: Validators,
    Path(tag): Path<String>,
    UrlQuery(params): UrlQuery<ListParams>,
) -> AppResult<Response> {
    let tag = Slug::parse(&tag).ok_or(AppError::NotFound)?;
    let now = fresh(&state, &page).await?;
    let n = params.page.unwrap_or(1);
    let filter = LiveFilter {
        tag: Some(tag.as_str()),
        ..LiveFilter::default()
    };
    let list = views::list_page(&state, filter, n, now).await?;
    if list.total == 0 {
        return Err(AppError::NotFound);
    }
    let path = format!("/tags/{tag}");
    let template = ListTemplate {
        page: page.titled(format!("Tagged “{tag}”")),
        heading: format!("Tagged “{tag}”"),
        intro: String::new(),
        list: &list,
        page_link: format!("{path}?"),
        canonical: absolute(&state.config.base_url, &page_path(&path, n, '?')),
        crumbs: vec![crumb("Home", "/"), crumb("Help articles", "/articles")],
    };
    html(&validators, &template, list.last_modified)
}

#[derive(Deserialize, Default)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "content/search.html")]
struct SearchPage<'a> {
    page: Page,
    q: String,
    searched: bool,
    results: &'a [views::SearchResult],
    total: i64,
    page_no: i64,
    pages: i64,
}

impl SearchPage<'_> {
    fn page_href(&self, n: i64) -> String {
        let q: String = url::form_urlencoded::byte_serialize(self.q.as_bytes()).collect();
        format!("/search?q={q}&page={n}")
    }
}

pub async fn search(
    State(state): State<AppState>,
    page: Page,
    UrlQuery(params): UrlQuery<SearchParams>,
) -> AppResult<Response> {
    let q: String = params.q.chars().take(search::MAX_QUERY_CHARS).collect();
    let page_no = params.page.unwrap_or(1).clamp(1, views::SEARCH_PAGES);
    let found = match Query::parse(&q) {
        Some(query) => {
            let now = fresh(&state, &page).await?;
            Some(views::search(&state, &query, page_no, now).await?)
        }
        None => None,
    };
    let (results, total) = found
        .as_ref()
        .map_or((&[][..], 0), |r| (&r.list[..], r.total));
    let title = if q.trim().is_empty() {
        "Search".to_string()
    } else {
        format!("Search: {}", q.trim())
    };
    let template = SearchPage {
        page: page.titled(title),
        searched: !q.trim().is_empty(),
        q,
        results,
        total,
        page_no,
        pages: ((total + views::SEARCH_PAGE_SIZE - 1) / views::SEARCH_PAGE_SIZE).max(1),
    };
    let mut response = crate::platform::templates::render(&template)?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

pub async fn show_feed(
    State(state): State<AppState>,
    page: Page,
    validators: Validators,
) -> AppResult<Response> {
    let now = fresh(&state, &page).await?;
    let feed = views::feed(&state, now).await?;
    Ok(conditional(
        &validators,
        "application/atom+xml; charset=utf-8",
        PUBLIC,
        feed.body.clone(),
        Some(feed.last_modified),
    ))
}

pub async fn show_sitemap(
    State(state): State<AppState>,
    page: Page,
    validators: Validators,
) -> AppResult<Response> {
    let now = fresh(&state, &page).await?;
    let sitemap = views::sitemap(&state, now).await?;
    Ok(conditional(
        &validators,
        "application/xml; charset=utf-8",
        PUBLIC,
        sitemap.body.clone(),
        Some(sitemap.last_modified),
    ))
}

/// Crawlers may read the content; private and per-person pages are off limits.
pub async fn show_robots(State(state): State<AppState>, validators: Validators) -> Response {
    let body = format!(
        "User-agent: *\n\
         Disallow: /admin\n\
         Disallow: /search\n\
         Disallow: /my-data\n\
         Disallow: /cart\n\
         Disallow: /unsubscribe/\n\
         Disallow: /newsletter/confirm/\n\
         Allow: /\n\n\
         Sitemap: {}\n",
        absolute(&state.config.base_url, "/sitemap.xml")
    );
    conditional(&validators, "text/plain; charset=utf-8", PUBLIC, body, None)
}

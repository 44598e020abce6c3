//! What the public pages show, built from the database once and kept in the
//! page cache until the content changes.

use super::{
    db::{self, Article, LiveFilter, Teaser},
    model::{Kind, reading_minutes},
    search::{self, Query, plain_text},
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{settings::SiteSettings, templates::markdown_to_html},
};
use serde_json::json;
use std::sync::Arc;

pub const PAGE_SIZE: i64 = 10;
const PER_PRODUCT: i64 = 8;
const FEED_ENTRIES: i64 = 20;

/// An absolute URL on this site.
pub fn absolute(base: &url::Url, path: &str) -> String {
    base.join(path.trim_start_matches('/'))
        .map(String::from)
        .unwrap_or_else(|_| path.to_string())
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%-d %B %Y")
        .to_string()
}

crate::heap_size_of_fields!(Crumb { label, href });
crate::heap_size_of_fields!(ArticleView {
    slug,
    title,
    page_title,
    description,
    summary,
    body_html,
    product,
    tags,
    cover_path,
    image_url,
    canonical,
    related,
    crumbs,
    json_ld,
});
crate::heap_size_of_fields!(ProductGroup {
    product,
    label,
    path,
    teasers
});
crate::heap_size_of_fields!(ArticlesIndex { groups, tags });
crate::heap_size_of_fields!(ListPage { items });
crate::heap_size_of_fields!(SiteFile { body });
crate::heap_size_of_fields!(SearchResult {
    path,
    title,
    date,
    snippet
});
crate::heap_size_of_fields!(SearchResults { list });

impl crate::platform::memory::HeapSize for Lookup {
    fn heap_size(&self) -> usize {
        match self {
            Lookup::Live(view) => view.heap_size(),
            Lookup::Moved(to) => to.heap_size(),
        }
    }
}

/// A link in the breadcrumb trail.
pub struct Crumb {
    pub label: String,
    pub href: String,
}

/// A live article or post, ready to show.
pub struct ArticleView {
    pub kind: Kind,
    pub slug: String,
    pub title: String,
    /// `<title>`: the SEO title, or the title.
    pub page_title: String,
    /// Meta description: the SEO description, the summary, or the opening words.
    pub description: String,
    pub summary: String,
    pub body_html: String,
    pub product: String,
    pub tags: Vec<String>,
    pub cover_path: Option<String>,
    pub image_url: Option<String>,
    pub canonical: String,
    pub published: i64,
    pub updated: i64,
    pub reading_minutes: i64,
    pub related: Vec<Teaser>,
    pub crumbs: Vec<Crumb>,
    /// JSON-LD, escaped for a `<script type="application/ld+json">` block.
    pub json_ld: String,
}

impl ArticleView {
    pub fn published_date(&self) -> String {
        date(self.published)
    }

    pub fn published_iso(&self) -> String {
        rfc3339(self.published)
    }

    pub fn updated_iso(&self) -> String {
        rfc3339(self.updated)
    }

    pub fn was_updated(&self) -> bool {
        self.updated > self.published + 86_400_000
    }

    pub fn updated_date(&self) -> String {
        date(self.updated)
    }
}

/// What a slug leads to.
pub enum Lookup {
    Live(Box<ArticleView>),
    /// An old slug, or a slug asked for under the other section.
    Moved(String),
}

/// The live piece behind `slug`, or where it moved.
pub async fn article(state: &AppState, slug: &str, now: i64) -> AppResult<Arc<Lookup>> {
    let key = ["slug:", slug].concat();
    state
        .content
        .cache
        .get_or_fill(&key, now, || async {
            if let Some(article) = db::live_by_slug(&state.db, slug, now).await? {
                return Ok(Lookup::Live(Box::new(
                    build_article(state, article, now).await?,
                )));
            }
            match db::redirect_target(&state.db, slug, now).await? {
                Some((kind, slug)) => {
                    let kind = Kind::parse(&kind).unwrap_or(Kind::Article);
                    Ok(Lookup::Moved(kind.path(&slug)))
                }
                None => Err(AppError::NotFound),
            }
        })
        .await
}

async fn build_article(state: &AppState, a: Article, now: i64) -> AppResult<ArticleView> {
    let base = &state.config.base_url;
    let site = state.site();
    let path = a.kind.path(&a.slug);
    let canonical = absolute(base, &path);
    let related = db::related(&state.db, &a, now, 3).await?;
    let description = [&a.seo_description, &a.summary]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| opening_words(&a.body, 160));
    let cover_path = a.cover_image.as_deref().map(super::covers::path);
    let image_url = cover_path.as_deref().map(|p| absolute(base, p));
    let published = a.publish_at.unwrap_or(a.created_at);
    let mut crumbs = vec![
        Crumb {
            label: "Home".into(),
            href: "/".into(),
        },
        Crumb {
            label: a.kind.section_name().into(),
            href: a.kind.section().into(),
        },
    ];
    if a.kind == Kind::Article && !a.product.is_empty() {
        crumbs.push(Crumb {
            label: a.product.clone(),
            href: product_path(&a.product),
        });
    }
    let page_title = if a.seo_title.is_empty() {
        a.title.clone()
    } else {
        a.seo_title.clone()
    };
    let mut view = ArticleView {
        kind: a.kind,
        slug: a.slug.clone(),
        page_title,
        description,
        summary: a.summary.clone(),
        body_html: markdown_to_html(&a.body),
        product: a.product.clone(),
        tags: a.tags.clone(),
        cover_path,
        image_url,
        canonical,
        published,
        updated: a.updated_at.max(published),
        reading_minutes: reading_minutes(a.word_count),
        related,
        crumbs,
        json_ld: String::new(),
        title: a.title,
    };
    view.json_ld = json_ld(&view, &site, base, a.word_count);
    Ok(view)
}

pub fn product_path(product: &str) -> String {
    format!(
        "/articles?product={}",
        url::form_urlencoded::byte_serialize(product.as_bytes()).collect::<String>()
    )
}

fn opening_words(markdown: &str, max_chars: usize) -> String {
    let text = plain_text(markdown);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars).collect();
    match cut.rsplit_once(' ') {
        Some((head, _)) => format!("{head}…"),
        None => cut,
    }
}

/// schema.org `Article` and `BreadcrumbList`, safe inside a script data
/// block: `<`, `>` and `&` are written as JSON escapes, so no text can
/// close the element.
fn json_ld(view: &ArticleView, site: &SiteSettings, base: &url::Url, words: i64) -> String {
    let organisation = json!({
        "@type": "Organization",
        "name": site.company_name,
        "url": base.as_str(),
    });
    let mut article = json!({
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": view.title,
        "description": view.description,
        "datePublished": rfc3339(view.published),
        "dateModified": rfc3339(view.updated),
        "url": view.canonical,
        "mainEntityOfPage": view.canonical,
        "author": organisation,
        "publisher": organisation,
        "wordCount": words,
        "keywords": view.tags.join(", "),
        "inLanguage": "en",
    });
    if let Some(image) = &view.image_url {
        article["image"] = json!(image);
    }
    if !view.product.is_empty() {
        article["about"] = json!(view.product);
    }
    let mut items: Vec<serde_json::Value> = view
        .crumbs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"@type": "ListItem", "position": i + 1, "name": c.label, "item": absolute(base, &c.href)})
        })
        .collect();
    items.push(json!({"@type": "ListItem", "position": items.len() + 1, "name": view.title}));
    let crumbs = json!({
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": items,
    });
    serde_json::to_string(&json!([article, crumbs]))
        .unwrap_or_else(|_| "[]".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A product's section on the help index.
pub struct ProductGroup {
    pub product: String,
    pub label: String,
    pub path: String,
    pub total: i64,
    pub teasers: Vec<Teaser>,
}

impl ProductGroup {
    pub fn more(&self) -> i64 {
        self.total - self.teasers.len() as i64
    }
}

pub struct ArticlesIndex {
    pub groups: Vec<ProductGroup>,
    pub tags: Vec<(String, i64)>,
    pub last_modified: i64,
}

/// `/articles`: help articles grouped by product, and their tags.
pub async fn articles_index(state: &AppState, now: i64) -> AppResult<Arc<ArticlesIndex>> {
    state
        .content
        .cache
        .get_or_fill("index:articles", now, || async {
            let rows = db::top_per_product(&state.db, now, PER_PRODUCT).await?;
            let mut groups: Vec<ProductGroup> = Vec::new();
            let mut last_modified = 0;
            for (teaser, total) in rows {
                last_modified = last_modified.max(teaser.updated_at.max(teaser.publish_at));
                match groups.iter_mut().find(|g| g.product == teaser.product) {
                    Some(g) => g.teasers.push(teaser),
                    None => groups.push(ProductGroup {
                        label: if teaser.product.is_empty() {
                            "General".into()
                        } else {
                            teaser.product.clone()
                        },
                        path: product_path(&teaser.product),
                        product: teaser.product.clone(),
                        total,
                        teasers: vec![teaser],
                    }),
                }
            }
            groups.sort_by(|a, b| {
                (a.product.is_empty(), a.label.to_lowercase())
                    .cmp(&(b.product.is_empty(), b.label.to_lowercase()))
            });
            let tags = db::tag_counts(&state.db, Some(Kind::Article), now, 40).await?;
            Ok(ArticlesIndex {
                groups,
                tags,
                last_modified,
            })
        })
        .await
}

/// A page of a list: the blog, a product, a tag.
pub struct ListPage {
    pub items: Vec<Teaser>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub last_modified: i64,
}

impl ListPage {
    pub fn has_prev(&self) -> bool {
        self.page > 1
    }

    pub fn has_next(&self) -> bool {
        self.page < self.pages
    }
}

/// One page of live pieces; pages past the end are 404 (except an empty first page).
pub async fn list_page(
    state: &AppState,
    filter: LiveFilter<'_>,
    page: i64,
    now: i64,
) -> AppResult<Arc<ListPage>> {
    if !(1..=100_000).contains(&page) {
        return Err(AppError::NotFound);
    }
    let key = format!(
        "list:{}:{}:{}:{page}",
        filter.kind.map_or("", Kind::as_str),
        filter.product.unwrap_or(""),
        filter.tag.unwrap_or("")
    );
    state
        .content
        .cache
        .get_or_fill(&key, now, || async {
            let (items, total) =
                db::list_live(&state.db, &filter, now, PAGE_SIZE, (page - 1) * PAGE_SIZE).await?;
            if items.is_empty() && page > 1 {
                return Err(AppError::NotFound);
            }
            let last_modified = items
                .iter()
                .map(|t| t.updated_at.max(t.publish_at))
                .max()
                .unwrap_or(0);
            Ok(ListPage {
                items,
                total,
                page,
                pages: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1),
                last_modified,
            })
        })
        .await
}

/// A file that is the same for every visitor (feed, sitemap).
pub struct SiteFile {
    pub body: axum::body::Bytes,
    pub last_modified: i64,
}

/// `/feed.xml`: the newest articles and posts as Atom.
pub async fn feed(state: &AppState, now: i64) -> AppResult<Arc<SiteFile>> {
    state
        .content
        .cache
        .get_or_fill("file:feed", now, || async {
            let articles = db::newest_live(&state.db, now, FEED_ENTRIES).await?;
            let site = state.site();
            let base = &state.config.base_url;
            let updated = articles
                .iter()
                .map(|a| a.updated_at.max(a.publish_at.unwrap_or(0)))
                .max()
                .unwrap_or(0);
            let host = base.host_str().unwrap_or("localhost");
            let mut x = String::with_capacity(64 * 1024);
            x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
            x.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n");
            element(&mut x, "title", &site.company_name);
            element(&mut x, "subtitle", &site.tagline);
            x.push_str(&format!(
                "<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
                xml(&absolute(base, "/feed.xml"))
            ));
            x.push_str(&format!(
                "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
                xml(base.as_str())
            ));
            element(&mut x, "id", base.as_str());
            element(&mut x, "updated", &rfc3339(updated));
            x.push_str(&format!(
                "<author><name>{}</name><uri>{}</uri></author>\n",
                xml(&site.company_name),
                xml(base.as_str())
            ));
            for a in &articles {
                let published = a.publish_at.unwrap_or(a.created_at);
                let link = absolute(base, &a.kind.path(&a.slug));
                x.push_str("<entry>\n");
                element(&mut x, "title", &a.title);
                x.push_str(&format!(
                    "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
                    xml(&link)
                ));
                element(&mut x, "id", &format!("tag:{host},2026:content-{}", a.id));
                element(&mut x, "published", &rfc3339(published));
                element(&mut x, "updated", &rfc3339(a.updated_at.max(published)));
                if !a.summary.is_empty() {
                    element(&mut x, "summary", &a.summary);
                }
                for tag in &a.tags {
                    x.push_str(&format!("<category term=\"{}\"/>\n", xml(tag)));
                }
                x.push_str("<content type=\"html\">");
                x.push_str(&xml(&markdown_to_html(&a.body)));
                x.push_str("</content>\n</entry>\n");
            }
            x.push_str("</feed>\n");
            Ok(SiteFile {
                body: x.into(),
                last_modified: updated,
            })
        })
        .await
}

/// `/sitemap.xml`: every live page, and no other.
pub async fn sitemap(state: &AppState, now: i64) -> AppResult<Arc<SiteFile>> {
    state
        .content
        .cache
        .get_or_fill("file:sitemap", now, || async {
            let pages = db::live_pages(&state.db, now).await?;
            let tags = db::tag_counts(&state.db, None, now, 10_000).await?;
            let base = &state.config.base_url;
            let newest = pages.iter().map(|p| p.2).max().unwrap_or(0);
            let mut x = String::with_capacity(128 + pages.len() * 128);
            x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            x.push_str("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
            let mut url = |path: &str, lastmod: Option<i64>| {
                x.push_str("<url><loc>");
                x.push_str(&xml(&absolute(base, path)));
                x.push_str("</loc>");
                if let Some(ms) = lastmod.filter(|ms| *ms > 0) {
                    x.push_str("<lastmod>");
                    x.push_str(&rfc3339(ms));
                    x.push_str("</lastmod>");
                }
                x.push_str("</url>\n");
            };
            for path in ["/", "/articles", "/blog"] {
                url(path, Some(newest));
            }
            url("/privacy", None);
            for (kind, slug, lastmod) in &pages {
                url(&kind.path(slug), Some(*lastmod));
            }
            for (tag, _) in &tags {
                url(&format!("/tags/{tag}"), None);
            }
            x.push_str("</urlset>\n");
            Ok(SiteFile {
                body: x.into(),
                last_modified: newest,
            })
        })
        .await
}

fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&xml(text));
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

/// Text escaped for XML, without the characters XML 1.0 cannot hold.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Results shown per search page, and how many pages a visitor may go through.
pub const SEARCH_PAGE_SIZE: i64 = 10;
pub const SEARCH_PAGES: i64 = 100;

pub struct SearchResult {
    pub path: String,
    pub title: String,
    pub label: &'static str,
    pub date: String,
    /// Escaped text with `<mark>`ed matches.
    pub snippet: String,
}

/// One page of results for a query.
pub struct SearchResults {
    pub list: Vec<SearchResult>,
    pub total: i64,
}

/// Page `page_no` of the results for `query`. Three entries of the page
/// cache serve it, each dropped like any other (an edit, a publication
/// coming due, another instance's edit): the live pieces (publication
/// times, titles and summaries), the query's ranking (the first
/// [`SEARCH_PAGES`] pages of ids), and the page itself. So a new query
/// costs the database one look-up in the index, and each further page of
/// it one fetch of ten rows.
pub async fn search(
    state: &AppState,
    query: &Query,
    page_no: i64,
    now: i64,
) -> AppResult<Arc<SearchResults>> {
    let terms = query.terms.join(" ");
    let key = format!("search:{page_no}:{terms}");
    state
        .content
        .cache
        .get_or_fill(&key, now, || async {
            let ranked = ranking(state, query, &terms, now).await?;
            let ids = ranked.page(page_no as usize, SEARCH_PAGE_SIZE as usize);
            let list = db::hits(&state.db, ids)
                .await?
                .into_iter()
                .map(|hit| {
                    let text = format!("{} {}", hit.summary, plain_text(&hit.body));
                    SearchResult {
                        path: hit.kind.path(&hit.slug),
                        title: hit.title,
                        label: hit.kind.label(),
                        date: date(hit.publish_at),
                        snippet: query.snippet(&text, 30),
                    }
                })
                .collect();
            Ok(SearchResults {
                list,
                total: ranked.total,
            })
        })
        .await
}

/// The ranking of a query (`terms` are its terms, joined): the first
/// [`SEARCH_PAGES`] pages of ids and the number of matches.
async fn ranking(
    state: &AppState,
    query: &Query,
    terms: &str,
    now: i64,
) -> AppResult<Arc<search::Ranked>> {
    let cache = &state.content.cache;
    cache
        .get_or_fill(&format!("search:{terms}"), now, || async {
            let live = cache
                .get_or_fill_pinned("search-live", now, || async {
                    Ok(db::live_pieces(&state.db, now).await?)
                })
                .await?;
            let anywhere = matches(state, query, now).await?;
            let keep = (SEARCH_PAGES * SEARCH_PAGE_SIZE) as usize;
            Ok(search::rank(&anywhere, query, &live, keep))
        })
        .await
}

/// The ids of the pieces (live or not) holding every term of `query`. Each
/// term's matches come from the index once and are kept until the next
/// change: terms recur far more than whole queries, and most of a query's
/// cost in the index is expanding each term's prefix.
async fn matches(state: &AppState, query: &Query, now: i64) -> AppResult<Vec<i64>> {
    let mut lists = Vec::with_capacity(query.terms.len());
    for term in &query.terms {
        let ids = state
            .content
            .cache
            .get_or_fill_term(term, now, || async {
                let mut ids = db::term_matches(&state.db, term).await?;
                ids.sort_unstable();
                Ok(ids)
            })
            .await?;
        lists.push(ids);
    }
    Ok(search::intersect(&lists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped_and_cleaned() {
        assert_eq!(
            xml("a<b>&\"'\u{1}\u{FFFE}c"),
            "a&lt;b&gt;&amp;&quot;&apos;c"
        );
    }

    #[test]
    fn urls_are_made_absolute_under_the_base() {
        let base: url::Url = "https://example.com/help/".parse().unwrap();
        assert_eq!(
            absolute(&base, "/blog/x"),
            "https://example.com/help/blog/x"
        );
    }

    #[test]
    fn descriptions_fall_back_to_the_opening_words() {
        let d = opening_words("# Title\n\nOne two three four five six", 14);
        assert_eq!(d, "Title One two…");
    }
}

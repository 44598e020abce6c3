//! Articles and blog: the knowledge base, the blog, tags, search, the Atom
//! feed, the sitemap and robots.txt, and the editors' back office.
//!
//! Pages are built once from the database and kept in the in-memory page
//! cache ([`cache`]) until an edit, another instance's edit, a scheduled
//! publication or a settings change; every response carries an `ETag` and
//! `Last-Modified` and answers 304 when the browser has it.

pub mod api;
pub mod cache;
pub mod covers;
pub mod db;
pub mod diff;
pub mod editing;
pub mod model;
pub mod search;
pub mod views;

mod admin;
pub use admin::search_for_editors;
mod public;
mod seed;

pub use public::answer_shared;
pub use seed::seed_demo;

use crate::platform::{
    context::Role,
    nav::{Icon, NavItem},
};
use crate::{
    AppState,
    privacy::inventory::{Retention, Table},
};
use axum::{
    Router,
    routing::{get, post},
};

/// Article and post bodies, for the integrity scan.
pub const SCAN_SOURCES: &[crate::platform::scan::Source] =
    &[crate::platform::scan::Source::Query {
        kind: "article",
        sql: "SELECT CAST(id AS TEXT), body FROM articles",
    }];

/// This feature's links in the back office's navigation.
pub const ADMIN_NAV: &[NavItem] =
    &[NavItem::new("Content", "Articles", "/admin/articles", Role::Editor).icon(Icon::Article)];

/// Content tables hold no personal data: authors are staff ids.
pub const TABLES: &[Table] = &[
    Table {
        name: "articles",
        feature: "help articles and blog",
        title: "Articles and blog posts",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "kind",
            "slug",
            "title",
            "summary",
            "body",
            "product",
            "seo_title",
            "seo_description",
            "cover_image",
            "status",
            "publish_at",
            "word_count",
            "author_id",
            "created_at",
            "updated_at",
        ],
        columns: &[],
    },
    Table {
        name: "article_tags",
        feature: "help articles and blog",
        title: "Article tags",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["article_id", "tag"],
        columns: &[],
    },
    Table {
        name: "article_redirects",
        feature: "help articles and blog",
        title: "Article redirects",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["old_slug", "article_id", "created_at"],
        columns: &[],
    },
    Table {
        name: "article_revisions",
        feature: "help articles and blog",
        title: "Article revisions",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "article_id",
            "created_at",
            "author_id",
            "action",
            "slug",
            "title",
            "summary",
            "body",
            "product",
            "tags",
            "seo_title",
            "seo_description",
            "cover_image",
            "status",
            "publish_at",
        ],
        columns: &[],
    },
    Table {
        name: "article_search",
        feature: "help articles and blog",
        title: "Article search index",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["article_id", "title", "summary", "body"],
        columns: &[],
    },
    Table {
        name: "content_state",
        feature: "help articles and blog",
        title: "Content version",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &["id", "version"],
        columns: &[],
    },
];

/// The content domain's share of the application state.
pub struct Content {
    pub cache: cache::PageCache,
}

impl Content {
    /// With the page cache reporting to `metrics`, within `budget` bytes.
    pub fn new(metrics: &crate::platform::metrics::Metrics, budget: usize) -> Content {
        Content {
            cache: cache::PageCache::new(metrics, budget),
        }
    }

    /// With a cache reporting nowhere (the demo seed, tests).
    pub fn detached() -> Content {
        Content {
            cache: cache::PageCache::detached(cache::DEFAULT_BUDGET),
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/articles", get(public::list_articles))
        .route("/articles/{slug}", get(public::show_article))
        .route("/blog", get(public::list_posts))
        .route("/blog/{slug}", get(public::show_post))
        .route("/tags/{tag}", get(public::show_tag))
        .route("/search", get(public::search))
        .route("/feed.xml", get(public::show_feed))
        .route("/sitemap.xml", get(public::show_sitemap))
        .route("/robots.txt", get(public::show_robots))
        .route("/media/covers/{name}", get(covers::serve_cover))
        .route("/admin/articles", get(admin::list_articles))
        .route(
            "/admin/articles/new",
            get(admin::new_article).post(admin::create_article),
        )
        .route("/admin/articles/preview", post(admin::preview_markdown))
        .route(
            "/admin/articles/{id}",
            get(admin::edit_article).post(admin::update_article),
        )
        .route("/admin/articles/{id}/cover", post(admin::upload_cover))
        .route(
            "/admin/articles/{id}/cover/remove",
            post(admin::remove_cover),
        )
        .route(
            "/admin/articles/{id}/delete",
            get(admin::confirm_delete).post(admin::delete_article),
        )
        .route("/admin/articles/{id}/revisions", get(admin::list_revisions))
        .route(
            "/admin/articles/{id}/revisions/{rev}",
            get(admin::show_revision),
        )
        .route(
            "/admin/articles/{id}/revisions/{rev}/restore",
            post(admin::restore_revision),
        )
}

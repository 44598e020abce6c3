-- Articles (knowledge base) and blog posts, their tags, old slugs, revisions
-- and the full-text index. No personal data: authors are staff ids.

CREATE TABLE articles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    body TEXT NOT NULL,
    product TEXT NOT NULL,
    seo_title TEXT NOT NULL,
    seo_description TEXT NOT NULL,
    cover_image TEXT,
    status TEXT NOT NULL,
    publish_at INTEGER,
    word_count INTEGER NOT NULL,
    author_id INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX articles_live ON articles(kind, status, publish_at);
CREATE INDEX articles_product ON articles(product);
-- Covers the visibility check of every search match without reading bodies.
CREATE INDEX articles_visibility ON articles(id, status, publish_at);

CREATE TABLE article_tags (
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (article_id, tag)
);
CREATE INDEX article_tags_tag ON article_tags(tag);

CREATE TABLE article_redirects (
    old_slug TEXT PRIMARY KEY NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX article_redirects_article ON article_redirects(article_id);

CREATE TABLE article_revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    author_id INTEGER,
    action TEXT NOT NULL,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    body TEXT NOT NULL,
    product TEXT NOT NULL,
    tags TEXT NOT NULL,
    seo_title TEXT NOT NULL,
    seo_description TEXT NOT NULL,
    cover_image TEXT,
    status TEXT NOT NULL,
    publish_at INTEGER
);
CREATE INDEX article_revisions_article ON article_revisions(article_id, id);

-- Search text normalised in Rust (lower-case words separated by spaces) so
-- both backends tokenise it the same way; rowid = articles.id.
CREATE VIRTUAL TABLE article_search USING fts5(
    article_id UNINDEXED, title, summary, body,
    tokenize = 'unicode61 remove_diacritics 0'
);

-- Bumped by every edit, so other instances know to drop their page cache.
CREATE TABLE content_state (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version INTEGER NOT NULL
);
INSERT INTO content_state (id, version) VALUES (1, 0);

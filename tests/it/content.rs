//! Articles and blog: public pages, search, feed, sitemap, caching, and the
//! editors' back office, on SQLite and PostgreSQL.

use crate::{both, helpers::*};
use officecomms::content::{answer_shared, db as content_db, model::datetime_input};
use std::collections::BTreeSet;

const HOUR: i64 = 3_600_000;
/// The company's zone in tests (the default), where editors without a zone
/// of their own type times.
const LA: chrono_tz::Tz = chrono_tz::America::Los_Angeles;

/// Creates a piece through the editor's form (defaults: published help
/// article); returns its id. The client must be signed in as an editor.
async fn create(app: &TestApp, fields: &[(&str, &str)]) -> i64 {
    let r = app
        .post_form("/admin/articles/new", &with_defaults(fields))
        .await;
    assert_eq!(r.status(), 303, "create: {}", r.text().await.unwrap());
    id_from(&r)
}

/// Saves the edit form of `id` with these fields over its current values.
async fn update(app: &TestApp, id: i64, fields: &[(&str, &str)]) -> reqwest::Response {
    let article = content_db::get(&app.state.db, id).await.unwrap().unwrap();
    let version = article.updated_at.to_string();
    let tags = article.tags.join(", ");
    let state = if article.status.as_str() == "published" {
        "published"
    } else {
        article.status.as_str()
    };
    let mut all: Vec<(&str, &str)> = vec![
        ("kind", article.kind.as_str()),
        ("title", &article.title),
        ("slug", &article.slug),
        ("summary", &article.summary),
        ("body", &article.body),
        ("product", &article.product),
        ("tags", &tags),
        ("state", state),
        ("version", &version),
        ("action", "save"),
    ];
    for (k, v) in fields {
        all.retain(|(key, _)| key != k);
        all.push((k, v));
    }
    app.post_form(&format!("/admin/articles/{id}"), &all).await
}

fn with_defaults<'a>(fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("kind", "article"),
        ("state", "published"),
        ("body", "Some helpful text."),
        ("action", "save"),
    ];
    for (k, v) in fields {
        all.retain(|(key, _)| key != k);
        all.push((k, v));
    }
    all
}

fn id_from(r: &reqwest::Response) -> i64 {
    let location = r.headers()["location"].to_str().unwrap();
    location
        .trim_start_matches("/admin/articles/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no id in {location}"))
}

fn locations(sitemap: &str) -> BTreeSet<String> {
    let doc = roxmltree::Document::parse(sitemap).expect("sitemap is XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("loc"))
        .map(|n| n.text().unwrap().to_string())
        .collect()
}

/// Every tag of an HTML text (text itself is escaped, so each `<` opens a
/// tag) holds nothing that runs: no dangerous element, no event handler,
/// no inline style, no script-capable URL.
/// No active element in the page's main content (the layout's own forms,
/// newsletter and cookie choices, are outside it).
fn assert_inert(html: &str) {
    let html = html
        .split("<main")
        .nth(1)
        .and_then(|m| m.split("</main>").next())
        .unwrap_or(html);
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap().to_lowercase();
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        for bad in [
            "iframe", "object", "embed", "svg", "math", "style", "base", "form", "input", "button",
            "frame",
        ] {
            assert_ne!(name, bad, "<{tag}> survived");
        }
        let handler = tag.match_indices(" on").any(|(i, _)| {
            let rest = &tag[i + 3..];
            let letters = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
            letters > 0 && rest[letters..].starts_with('=')
        });
        assert!(!handler, "event handler in <{tag}>");
        for bad in [
            "style=",
            "srcdoc",
            "formaction",
            "http-equiv",
            "evil.example",
        ] {
            assert!(!tag.contains(bad), "{bad} in <{tag}>");
        }
        for scheme in ["javascript:", "vbscript:", "data:"] {
            for quote in ["\"", "'", ""] {
                assert!(
                    !tag.contains(&format!("={quote}{scheme}")),
                    "{scheme} URL in <{tag}>"
                );
            }
        }
    }
}

/// The first Atom child element called `name`.
fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.has_tag_name(("http://www.w3.org/2005/Atom", name)))
}

/// The JSON-LD data block of a page, parsed.
fn json_ld(page: &str) -> serde_json::Value {
    let open = "<script type=\"application/ld+json\">";
    let start = page.find(open).expect("a JSON-LD block") + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).expect("JSON-LD parses")
}

both! {
    async fn the_demo_site_ships_help_articles_and_blog_posts(backend) {
        let app = TestApp::spawn(backend).await;
        let (status, sitemap) = app.get_text("/sitemap.xml").await;
        assert_eq!(status, 200);
        let locs = locations(&sitemap);
        let articles: Vec<_> = locs.iter().filter(|l| l.contains("/articles/")).collect();
        let posts: Vec<_> = locs.iter().filter(|l| l.contains("/blog/")).collect();
        assert!(articles.len() >= 8 && posts.len() >= 4, "{articles:?} {posts:?}");

        let (_, index) = app.get_text("/articles").await;
        for product in ["Microsoft Outlook", "Printers", "Windows", "Backups"] {
            assert!(index.contains(&format!(">{product}</a></h2>")), "index lacks {product}");
        }
        assert!(index.contains("href=\"/tags/outlook\""));

        // The blog, newest first, with dates and reading times.
        let (_, blog) = app.get_text("/blog").await;
        let newest = blog.find("/blog/five-printer-habits").unwrap();
        let older = blog.find("/blog/what-1000-outlook-tickets-taught-us").unwrap();
        assert!(newest < older, "newest first");
        assert!(blog.contains("min read"));

        let (_, tag) = app.get_text("/tags/printers").await;
        assert!(tag.contains("Print jobs stuck in the queue") && tag.contains("Five printer habits"));
        assert_eq!(app.get("/tags/no-such-tag").await.status(), 404);
        assert_eq!(app.get("/articles?product=Printers").await.status(), 200);
    }

    async fn an_article_page_carries_its_metadata_breadcrumbs_and_related_reading(backend) {
        let app = TestApp::spawn(backend).await;
        let base = app.state.config.base_url.to_string();
        let (status, page) = app.get_text("/articles/print-jobs-stuck-in-queue").await;
        assert_eq!(status, 200);
        let canonical = format!("{base}articles/print-jobs-stuck-in-queue");
        assert!(page.contains(&format!("<link rel=\"canonical\" href=\"{canonical}\">")));
        assert!(page.contains("<meta property=\"og:type\" content=\"article\">"));
        assert!(page.contains("<meta property=\"og:title\" content=\"Print jobs stuck in the queue\">"));
        assert!(page.contains(&format!("<meta property=\"og:url\" content=\"{canonical}\">")));
        assert!(page.contains("<meta name=\"twitter:card\" content=\"summary\">"));
        assert!(page.contains("<meta name=\"description\" content=\"When a document sits"));
        assert!(page.contains("<title>Print jobs stuck in the queue · officecomms</title>"));

        let ld = json_ld(&page);
        assert_eq!(ld[0]["@type"], "Article");
        assert_eq!(ld[0]["headline"], "Print jobs stuck in the queue");
        assert_eq!(ld[0]["url"], canonical.as_str());
        assert_eq!(ld[0]["publisher"]["name"], "officecomms");
        assert_eq!(ld[1]["@type"], "BreadcrumbList");
        assert_eq!(ld[1]["itemListElement"][2]["name"], "Printers");

        assert!(page.contains("aria-label=\"Breadcrumb\""));
        assert!(page.contains("<li><a href=\"/articles\">Help articles</a></li>"));
        assert!(page.contains("2 min read"));
        // Headings have anchors; code blocks and lists render.
        assert!(page.contains("<h2 id=\"clear-the-queue\">Clear the queue<a class=\"anchor\" href=\"#clear-the-queue\""));
        assert!(page.contains("<pre><code") && page.contains("Stop-Service -Name Spooler"));
        // Related reading shares tags: the other printer pieces.
        let related = &page[page.find("id=\"related-heading\"").expect("related section")..];
        assert!(related.contains("/articles/add-network-printer-by-ip"));
        assert!(related.contains("/blog/five-printer-habits"));
        assert!(!related.contains("/articles/print-jobs-stuck-in-queue\""));
        // A table renders too.
        let (_, table) = app.get_text("/articles/windows-update-stuck").await;
        assert!(table.contains("<table>") && table.contains("<td>0x80070002</td>"));
    }

    async fn an_xss_corpus_in_markdown_renders_inert(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        let corpus = r#"
# <img src=x onerror=alert(1)> Heading {#"><script>alert(1)</script>}

<script>alert('raw')</script>
<SCRIPT SRC=//evil.example/x.js></SCRIPT>
<img src="x" onerror="alert(2)"><svg onload=alert(3)><svg><g onload="alert(4)"></g></svg>
<iframe src="javascript:alert(5)"></iframe><object data="x.swf"></object><embed src="x.swf">
<a href="javascript:alert(6)">js link</a> <a href="JaVaScRiPt:alert(7)">mixed case</a>
<a href="jav&#x09;ascript:alert(8)">entity tab</a> <a href=" javascript:alert(9)">space</a>
<a href="vbscript:msgbox(10)">vb</a> <a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxMSk8L3NjcmlwdD4=">data</a>
[md link](javascript:alert(12)) [md data](data:text/html,<script>alert(13)</script>) ![img](javascript:alert(14))
<javascript:alert(15)>
<div style="background:url(javascript:alert(16))" onclick="alert(17)">styled</div>
<details open ontoggle=alert(18)><summary>x</summary></details>
<form action="javascript:alert(19)"><input onfocus=alert(20) autofocus><button formaction=javascript:alert(21)>b</button></form>
<math><mtext><table><mglyph><style><img src=x onerror=alert(22)></style></mglyph></table></mtext></math>
<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example"><link rel=stylesheet href=//evil.example/x.css>
<style>body{background:red}</style>
<p onmouseover="alert(23)" id="ok">hover</p>
<iframe srcdoc="<script>alert(24)</script>"></iframe>

| a | <img src=x onerror=alert(25)> |
|---|---|
| `<script>alert(26)</script>` | **bold** |

Safe [link](https://example.com/help) stays.
"#;
        let title = "</script><script>alert('title')</script> Hostile";
        create(&app, &[("title", title), ("slug", "hostile"), ("body", corpus), ("summary", "\"><script>alert('summary')</script>")]).await;
        let anonymous = client();
        // A visitor who has made their cookie choice: no consent banner (a form) on the page.
        let login = anonymous.get(app.url("/admin/login")).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&login);
        anonymous.post(app.url("/cookies")).form(&[("csrf", csrf.as_str()), ("choice", "reject")]).send().await.unwrap();
        let page = anonymous.get(app.url("/articles/hostile")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        // Only our own script elements: files under /static/ and the JSON-LD data block.
        let scripts: Vec<&str> = page.match_indices("<script").map(|(i, _)| &page[i..i + 40]).collect();
        let inline: Vec<&&str> = scripts.iter().filter(|s| !s.starts_with("<script src=\"/static/")).collect();
        assert_eq!(inline.len(), 1, "{scripts:?}");
        assert_eq!(page.matches("<script type=\"application/ld+json\">").count(), 1);
        assert_inert(&page);
        // Escaped where shown as text, intact as data in JSON-LD.
        assert!(page.contains("&#60;/script&#62;&#60;script&#62;alert(&#39;title&#39;)"), "the title is escaped");
        assert_eq!(json_ld(&page)[0]["headline"], title);
        assert!(page.contains("<a href=\"https://example.com/help\" rel=\"noopener noreferrer\">link</a>"));
        assert!(page.contains("<code>&lt;script&gt;alert(26)&lt;/script&gt;</code>"));

        // The editor's live preview renders the same way.
        let csrf = app.csrf().await;
        let preview = app.client.post(app.url("/admin/articles/preview")).header("x-csrf-token", csrf)
            .form(&[("body", corpus)]).send().await.unwrap().text().await.unwrap();
        assert!(!preview.to_lowercase().contains("<script") && preview.contains("<strong>bold</strong>"));
        assert_inert(&preview);

        // And the feed carries it escaped, inert once unescaped.
        let (_, feed) = app.get_text("/feed.xml").await;
        let doc = roxmltree::Document::parse(&feed).unwrap();
        let content = doc.descendants().find(|n| n.has_tag_name("content")).unwrap().text().unwrap();
        assert!(!content.to_lowercase().contains("<script") && content.contains("Safe <a href"));
        assert_inert(content);
    }

    async fn a_scheduled_post_appears_by_itself_at_its_time(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        let now = app.state.clock.now();
        let at = datetime_input(Some(now + 2 * HOUR), LA);
        let id = create(&app, &[
            ("kind", "post"), ("title", "Coming soon: the printer amnesty"), ("state", "scheduled"),
            ("publish_at", &at), ("body", "Bring us your oldest printer zanzibarquux."),
        ]).await;
        let path = "/blog/coming-soon-the-printer-amnesty";
        // Before its time it is nowhere (and these pages are now cached).
        assert_eq!(app.get(path).await.status(), 404);
        for page in ["/blog", "/feed.xml", "/sitemap.xml", "/search?q=zanzibarquux"] {
            let (_, body) = app.get_text(page).await;
            assert!(!body.contains("printer amnesty") && !body.contains("printer-amnesty"), "{page} shows it early");
        }
        let (_, list) = app.get_text("/admin/articles?state=scheduled").await;
        assert!(list.contains("Coming soon: the printer amnesty") && list.contains("state-scheduled"));

        // Three hours later, with no edit and no restart, it is everywhere.
        app.state.clock.advance(3 * HOUR);
        let (status, page) = app.get_text(path).await;
        assert_eq!(status, 200, "appears at its time");
        assert!(page.contains("Bring us your oldest printer"));
        let (_, blog) = app.get_text("/blog").await;
        assert!(blog.find(path).unwrap() < blog.find("/blog/five-printer-habits").unwrap(), "newest first");
        let (_, feed) = app.get_text("/feed.xml").await;
        assert!(feed.contains("Coming soon: the printer amnesty"));
        assert!(locations(&app.get_text("/sitemap.xml").await.1).iter().any(|l| l.ends_with(path)));
        assert!(app.get_text("/search?q=zanzibarquux").await.1.contains(path));
        let article = content_db::get(&app.state.db, id).await.unwrap().unwrap();
        assert_eq!(article.publish_at, Some(now + 2 * HOUR - (now + 2 * HOUR) % 60_000));
    }

    async fn an_editor_types_publication_times_in_their_own_zone_across_dst(backend) {
        let app = TestApp::spawn(backend).await;
        // The company in Berlin, the editor in California: the editor's zone counts.
        let mut tx = app.state.db.begin().await.unwrap();
        officecomms::platform::settings::put(&mut tx, "time_zone", "Europe/Berlin").await.unwrap();
        tx.commit().await.unwrap();
        app.state.reload_site().await.unwrap();
        let email = app.login_as("editor").await;
        sqlx::query("UPDATE staff_users SET time_zone = 'America/Los_Angeles' WHERE email = $1")
            .bind(&email).execute(&app.state.db.pool).await.unwrap();
        let (_, form) = app.get_text("/admin/articles/new").await;
        assert!(form.contains("<label for=\"publish_at\">Publication time (America/Los_Angeles)</label>"), "{form}");
        // Saturday 13 March 2027, 09:30 in California is still winter time
        // (UTC-8); on Sunday the 14th clocks go forward (UTC-7).
        let id = create(&app, &[("title", "Spring cleaning"), ("state", "scheduled"), ("publish_at", "2027-03-13T09:30")]).await;
        let stored = |app: &TestApp| {
            let db = app.state.db.clone();
            async move { content_db::get(&db, id).await.unwrap().unwrap().publish_at.unwrap() }
        };
        let utc = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap().and_utc().timestamp_millis();
        assert_eq!(stored(&app).await, utc("2027-03-13 17:30"));
        let r = update(&app, id, &[("state", "scheduled"), ("publish_at", "2027-03-14T09:30")]).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert_eq!(stored(&app).await, utc("2027-03-14 16:30"), "summer time: an hour less to UTC");
        // The form shows it back as typed, in the editor's zone, and the
        // list names the zone of the time it shows.
        let (_, form) = app.get_text(&format!("/admin/articles/{id}")).await;
        assert!(form.contains("value=\"2027-03-14T09:30\""), "{form}");
        let (_, list) = app.get_text("/admin/articles?state=scheduled").await;
        assert!(list.contains("14 Mar 2027, 09:30 PDT") && !list.contains("(UTC)"), "{list}");
        // 02:30 on the 14th never happens there: read as 03:30 summer time.
        let r = update(&app, id, &[("state", "scheduled"), ("publish_at", "2027-03-14T02:30")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(stored(&app).await, utc("2027-03-14 10:30"));
    }

    async fn a_renamed_slug_redirects_permanently(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        let id = create(&app, &[("title", "Fix the scanner")]).await;
        assert_eq!(app.get("/articles/fix-the-scanner").await.status(), 200);
        assert_eq!(update(&app, id, &[("slug", "Scan to Email Setup")]).await.status(), 303);
        assert_eq!(update(&app, id, &[("slug", "scan-to-email")]).await.status(), 303);
        for old in ["/articles/fix-the-scanner", "/articles/scan-to-email-setup"] {
            let r = app.get(old).await;
            assert_eq!(r.status(), 301, "{old}");
            assert_eq!(r.headers()["location"], "/articles/scan-to-email");
        }
        assert_eq!(app.get("/articles/scan-to-email").await.status(), 200);
        // The same slug under the other section leads to the right one.
        let r = app.get("/blog/scan-to-email").await;
        assert_eq!(r.status(), 301);
        assert_eq!(r.headers()["location"], "/articles/scan-to-email");
        // The editor sees the old addresses.
        let (_, edit) = app.get_text(&format!("/admin/articles/{id}")).await;
        assert!(edit.contains("<code>/fix-the-scanner</code>"));
        // A new article may take an old address; then it is its own again.
        create(&app, &[("title", "Fix the scanner"), ("body", "A newer article.")]).await;
        let (status, page) = app.get_text("/articles/fix-the-scanner").await;
        assert_eq!(status, 200);
        assert!(page.contains("A newer article."));
        // A slug in use by another article is refused, with what was typed kept.
        let r = update(&app, id, &[("slug", "fix-the-scanner"), ("title", "Typed title")]).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("Another article already uses this address") && body.contains("value=\"Typed title\""));
    }

    async fn search_finds_and_ranks_and_shrugs_off_hostile_queries(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        create(&app, &[("title", "Zebrafrog printers explained"), ("body", "All about it.")]).await;
        create(&app, &[("title", "Another topic"), ("body", "Later on we mention zebrafrog printers in passing.")]).await;
        create(&app, &[("title", "Zebrafrog draft"), ("state", "draft")]).await;

        let (status, page) = app.get_text("/search?q=zebrafrog").await;
        assert_eq!(status, 200);
        assert!(page.contains("2 results for “zebrafrog”"), "{page}");
        let title_hit = page.find("/articles/zebrafrog-printers-explained").unwrap();
        let body_hit = page.find("/articles/another-topic").unwrap();
        assert!(title_hit < body_hit, "a match in the title ranks above a newer match in the text");
        assert!(!page.contains("zebrafrog-draft"), "drafts are not found");
        assert!(page.contains("<mark>zebrafrog</mark>"));
        // Plurals and endings, several words, any case.
        let (_, page) = app.get_text("/search?q=ZEBRAFROGS+printer").await;
        assert!(page.contains("2 results"));
        // Demo content is found by what people type.
        let (_, page) = app.get_text("/search?q=outlook+password").await;
        assert!(page.find("/articles/outlook-keeps-asking-for-password").is_some());

        for q in [
            "\"", "'", "*", "\"unbalanced", "zebrafrog\" OR \"1\"=\"1", "'; DROP TABLE articles; --",
            "NEAR(zebrafrog printers)", "title:zebrafrog", "{title}: x", "zebrafrog AND NOT", "a & b | !c <-> d",
            "%", "_", "\\", "<script>alert(1)</script>", "&lt;", "\u{0}", "ünïcödé", "(((((", ":*", "🙂",
        ] {
            let r = app.client.get(app.url("/search")).query(&[("q", q)]).send().await.unwrap();
            assert_eq!(r.status(), 200, "{q:?}");
            let body = r.text().await.unwrap();
            assert!(!body.contains("<script>alert(1)"), "{q:?} reflected");
            assert!(body.contains("<h1>Search</h1>"));
        }
        let long = "zebrafrog ".repeat(5000);
        assert_eq!(app.client.get(app.url("/search")).query(&[("q", &long)]).send().await.unwrap().status(), 200);
        assert_eq!(app.get("/search?q=zebrafrog&page=abc").await.status(), 400);
        assert_eq!(app.get("/search?q=zebrafrog&page=-3").await.status(), 200);
        // Articles still there after all that.
        assert!(app.get_text("/search?q=zebrafrog").await.1.contains("2 results"));
        // Results are cached, and an edit drops them: a third match shows at once.
        create(&app, &[("title", "Zebrafrog scanners"), ("body", "Not printers.")]).await;
        assert!(app.get_text("/search?q=zebrafrog").await.1.contains("3 results"));
    }

    async fn the_feed_is_valid_atom(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        create(&app, &[("title", "Draft in the feed?"), ("state", "draft")]).await;
        let r = app.get("/feed.xml").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/atom+xml; charset=utf-8");
        let xml = r.text().await.unwrap();
        let doc = roxmltree::Document::parse(&xml).expect("the feed is well-formed XML");
        let atom = "http://www.w3.org/2005/Atom";
        let feed = doc.root_element();
        assert!(feed.has_tag_name((atom, "feed")));
        for required in ["id", "title", "updated", "author"] {
            assert!(child(feed, required).is_some(), "feed lacks {required}");
        }
        let base = app.state.config.base_url.to_string();
        assert!(feed.children().any(|c| c.has_tag_name((atom, "link")) && c.attribute("rel") == Some("self")
            && c.attribute("href") == Some(&format!("{base}feed.xml"))));
        let entries: Vec<_> = feed.children().filter(|c| c.has_tag_name((atom, "entry"))).collect();
        assert!(entries.len() >= 12, "{} entries", entries.len());
        let mut ids = BTreeSet::new();
        for e in &entries {
            for required in ["id", "title", "updated", "published", "content"] {
                assert!(child(*e, required).is_some(), "entry lacks {required}");
            }
            assert!(ids.insert(child(*e, "id").unwrap().text().unwrap().to_string()), "ids are unique");
            let updated = child(*e, "updated").unwrap().text().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(updated).is_ok(), "{updated}");
            let href = child(*e, "link").unwrap().attribute("href").unwrap();
            assert!(href.starts_with(&base), "{href}");
            assert_eq!(child(*e, "content").unwrap().attribute("type"), Some("html"));
        }
        assert!(!xml.contains("Draft in the feed?"));
        let first = child(entries[0], "title").unwrap().text().unwrap();
        assert_eq!(first, "Five printer habits that save a support call", "newest first");
    }

    async fn the_sitemap_lists_every_published_page_and_no_draft(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        let _ = app.get("/sitemap.xml").await; // cached before the edits below
        create(&app, &[("title", "Published extra")]).await;
        create(&app, &[("title", "Secret draft"), ("state", "draft")]).await;
        let later = datetime_input(Some(app.state.clock.now() + 24 * HOUR), LA);
        create(&app, &[("title", "Scheduled extra"), ("state", "scheduled"), ("publish_at", &later)]).await;
        let gone = create(&app, &[("title", "Withdrawn extra")]).await;
        update(&app, gone, &[("state", "unpublished")]).await;
        assert_eq!(app.get("/articles/withdrawn-extra").await.status(), 404);

        let r = app.get("/sitemap.xml").await;
        assert_eq!(r.headers()["content-type"], "application/xml; charset=utf-8");
        let locs = locations(&r.text().await.unwrap());
        let base = app.state.config.base_url.to_string();
        let now = app.state.clock.now();
        let live = content_db::live_pages(&app.state.db, now).await.unwrap();
        assert!(live.len() >= 13);
        for (kind, slug, _) in &live {
            let url = format!("{base}{}", kind.path(slug).trim_start_matches('/'));
            assert!(locs.contains(&url), "sitemap lacks {url}");
            assert_eq!(app.get(&kind.path(slug)).await.status(), 200);
        }
        assert!(locs.contains(&format!("{base}articles/published-extra")));
        for hidden in ["secret-draft", "scheduled-extra", "withdrawn-extra"] {
            assert!(!locs.iter().any(|l| l.contains(hidden)), "{hidden} listed");
        }
        for page in ["", "articles", "blog", "tags/printers"] {
            assert!(locs.contains(&format!("{base}{page}")), "sitemap lacks /{page}");
        }
        let (_, robots) = app.get_text("/robots.txt").await;
        assert!(robots.contains(&format!("Sitemap: {base}sitemap.xml")) && robots.contains("Disallow: /admin"));
    }

    async fn a_repeated_request_gets_304_until_the_page_changes(backend) {
        let app = TestApp::spawn(backend).await;
        let path = "/articles/repair-outlook-data-file";
        let first = app.get(path).await;
        assert_eq!(first.status(), 200);
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        let modified = first.headers()["last-modified"].to_str().unwrap().to_string();
        assert!(etag.starts_with("W/\""));
        assert_eq!(first.headers()["cache-control"], "private, no-cache");

        let again = app.client.get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.text().await.unwrap().is_empty());
        let since = app.client.get(app.url(path)).header("if-modified-since", &modified).send().await.unwrap();
        assert_eq!(since.status(), 304);
        let other = app.client.get(app.url(path)).header("if-none-match", "W/\"something-else\"").send().await.unwrap();
        assert_eq!(other.status(), 200);

        // Compressed for those who ask.
        let gz = app.client.get(app.url(path)).header("accept-encoding", "br").send().await.unwrap();
        assert_eq!(gz.headers()["content-encoding"], "br");

        // An edit invalidates the cached page: new text, new validator.
        app.login_as("editor").await;
        let id = content_db::live_by_slug(&app.state.db, "repair-outlook-data-file", app.state.clock.now())
            .await.unwrap().unwrap().id;
        assert_eq!(update(&app, id, &[("title", "Repair an Outlook data file, revised")]).await.status(), 303);
        let anonymous = client();
        let fresh = anonymous.get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(fresh.status(), 200);
        assert_ne!(fresh.headers()["etag"], etag.as_str());
        assert!(fresh.text().await.unwrap().contains("Repair an Outlook data file, revised"));

        // The feed, shared by everyone, revalidates too.
        let feed = app.get("/feed.xml").await;
        let feed_etag = feed.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(feed.headers()["cache-control"], "public, max-age=300");
        let again = app.client.get(app.url("/feed.xml")).header("if-none-match", &feed_etag).send().await.unwrap();
        assert_eq!(again.status(), 304);
    }

    async fn only_editors_and_admins_manage_content(backend) {
        let app = TestApp::spawn(backend).await;
        let r = app.get("/admin/articles").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin/login");
        let r = app.post_form("/admin/articles/new", &with_defaults(&[("title", "Sneaky")])).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin/login");
        assert_eq!(app.get("/articles/sneaky").await.status(), 404);

        let agent = app.staff_client("agent").await.client;
        for path in ["/admin/articles", "/admin/articles/1"] {
            assert_eq!(agent.get(app.url(path)).send().await.unwrap().status(), 403);
        }

        for role in ["editor", "admin"] {
            let staff = app.staff_client(role).await.client;
            let r = staff.get(app.url("/admin/articles")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{role}");
            assert!(r.text().await.unwrap().contains("Outlook keeps asking for your password"));
        }
    }

    async fn editors_filter_and_search_their_list(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        create(&app, &[("title", "Quokka draft note"), ("state", "draft"), ("product", "Quokka Suite")]).await;
        let (_, all) = app.get_text("/admin/articles").await;
        assert!(all.contains("16 pieces"), "15 demo pieces and the draft");
        let (_, drafts) = app.get_text("/admin/articles?state=draft").await;
        assert!(drafts.contains("1 piece.") && drafts.contains("Quokka draft note"));
        let (_, found) = app.get_text("/admin/articles?q=QUOKKA").await;
        assert!(found.contains("Quokka draft note") && !found.contains("Outlook keeps asking"));
        let (_, posts) = app.get_text("/admin/articles?kind=post").await;
        assert!(posts.contains("5 pieces") && posts.contains("Five printer habits"));
        let (_, product) = app.get_text("/admin/articles?product=Printers").await;
        assert!(product.contains("Print jobs stuck") && !product.contains("Outlook keeps asking"));
        let (_, odd) = app.get_text("/admin/articles?q=%25_%27%22&state=nonsense").await;
        assert!(odd.contains("0 pieces"));
    }

    async fn a_preview_renders_without_saving_and_bad_input_comes_back(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        let before = content_db::count(&app.state.db).await.unwrap();
        let r = app.post_form("/admin/articles/new", &with_defaults(&[
            ("title", "Preview me"), ("body", "## Steps\n\n1. **Open** it"), ("action", "preview"),
        ])).await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(body.contains("<h2 id=\"steps\">Steps"), "rendered preview");
        assert!(body.contains("<strong>Open</strong>"));
        assert!(body.contains("value=\"Preview me\""), "the form keeps what was typed");
        assert_eq!(content_db::count(&app.state.db).await.unwrap(), before, "nothing saved");

        let r = app.post_form("/admin/articles/new", &with_defaults(&[
            ("title", "  "), ("body", "Typed text stays"), ("tags", "a,b,c,d,e,f,g,h,i,j,k"), ("state", "scheduled"), ("publish_at", "yesterday"),
        ])).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        for message in ["Please give it a title.", "Use at most 10 tags.", "Use a date and time like"] {
            assert!(body.contains(message), "{message}");
        }
        assert!(body.contains("Typed text stays"));
        let past = datetime_input(Some(app.state.clock.now() - HOUR), LA);
        let r = app.post_form("/admin/articles/new", &with_defaults(&[("title", "Late"), ("state", "scheduled"), ("publish_at", &past)])).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("needs a publication time in the future"));
        let r = app.post_form("/admin/articles/new", &[("title", "x"), ("kind", "essay"), ("state", "published"), ("body", "b")]).await;
        assert_eq!(r.status(), 422);
        assert_eq!(app.get("/admin/articles/999999").await.status(), 404);
        assert_eq!(app.get("/admin/articles/abc").await.status(), 400);
        assert_eq!(content_db::count(&app.state.db).await.unwrap(), before);
    }

    async fn every_edit_is_audited_and_revisions_compare_and_restore(backend) {
        let app = TestApp::spawn(backend).await;
        let email = app.login_as("editor").await;
        let id = create(&app, &[("title", "Map a network drive"), ("body", "Line one.\n\nOld line two.")]).await;
        update(&app, id, &[("title", "Map a network drive in Windows 11"), ("body", "Line one.\n\nNew line two.")]).await;

        let audit = officecomms::staff::db::list_audit(&app.state.db, "article", 50).await.unwrap();
        let mine: Vec<_> = audit.iter().filter(|e| e.target_id == id.to_string()).collect();
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().all(|e| e.actor_label == email && e.target_kind == "article"));
        assert_eq!(mine[0].action, "update");
        assert!(mine[0].detail.contains("changed title, body"), "{}", mine[0].detail);
        assert_eq!(mine[1].action, "create");

        let (_, history) = app.get_text(&format!("/admin/articles/{id}/revisions")).await;
        let revisions = content_db::revisions(&app.state.db, id).await.unwrap();
        assert_eq!(revisions.len(), 2);
        let first = revisions.last().unwrap().id;
        assert!(history.contains(&format!("/admin/articles/{id}/revisions/{first}")));
        let (_, compare) = app.get_text(&format!("/admin/articles/{id}/revisions/{first}")).await;
        assert!(compare.contains("<span class=\"removed\">- Old line two.") && compare.contains("<span class=\"added\">+ New line two."));
        assert!(compare.contains("<tr class=\"changed\"><th scope=\"row\">Title</th><td>Map a network drive</td>"));

        let r = app.post_form(&format!("/admin/articles/{id}/revisions/{first}/restore"), &[]).await;
        assert_eq!(r.status(), 303);
        let article = content_db::get(&app.state.db, id).await.unwrap().unwrap();
        assert_eq!(article.title, "Map a network drive");
        assert!(article.body.contains("Old line two."));
        assert_eq!(article.slug, "map-a-network-drive", "the address stays");
        assert_eq!(content_db::revisions(&app.state.db, id).await.unwrap().len(), 3);
        assert!(app.get_text("/articles/map-a-network-drive").await.1.contains("Old line two."));
        let audit = officecomms::staff::db::list_audit(&app.state.db, "restore", 5).await.unwrap();
        assert_eq!(audit[0].target_id, id.to_string());

        // Two editors on one version: the second save is told, not lost.
        let stale = article.updated_at.to_string();
        update(&app, id, &[("body", "First editor's words.")]).await;
        let r = update(&app, id, &[("body", "Second editor's words."), ("version", &stale)]).await;
        assert_eq!(r.status(), 409);
        let body = r.text().await.unwrap();
        assert!(body.contains("Someone else saved this article") && body.contains("Second editor&#39;s words."));
        let article = content_db::get(&app.state.db, id).await.unwrap().unwrap();
        assert_eq!(article.body, "First editor's words.");
    }

    async fn deleting_asks_first_then_removes_the_page_everywhere(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        let id = create(&app, &[("title", "Short lived"), ("body", "Soon gone vanishword.")]).await;
        update(&app, id, &[("slug", "short-lived-2")]).await;
        assert_eq!(app.get("/articles/short-lived-2").await.status(), 200);
        let (status, confirm) = app.get_text(&format!("/admin/articles/{id}/delete")).await;
        assert_eq!(status, 200);
        assert!(confirm.contains("It cannot be undone") && confirm.contains("Delete for good"));
        assert_eq!(app.get("/articles/short-lived-2").await.status(), 200, "asking deletes nothing");

        let r = app.post_form(&format!("/admin/articles/{id}/delete"), &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin/articles?done=deleted");
        for path in ["/articles/short-lived-2", "/articles/short-lived"] {
            assert_eq!(app.get(path).await.status(), 404, "{path}");
        }
        assert!(!app.get_text("/sitemap.xml").await.1.contains("short-lived"));
        assert!(app.get_text("/search?q=vanishword").await.1.contains("Nothing matches"));
        assert!(content_db::revisions(&app.state.db, id).await.unwrap().is_empty());
        let audit = officecomms::staff::db::list_audit(&app.state.db, "delete", 5).await.unwrap();
        assert!(audit[0].detail.contains("Short lived"));
        assert_eq!(app.post_form(&format!("/admin/articles/{id}/delete"), &[]).await.status(), 404);
    }

    async fn a_cover_image_is_checked_by_its_content_and_served_for_a_year(backend) {
        let app = TestApp::spawn_with(backend, |c| c.body_limit = 8 * 1024 * 1024).await;
        app.login_as("editor").await;
        let id = create(&app, &[("title", "With a cover")]).await;
        let upload = |name: &'static str, bytes: Vec<u8>| {
            let app = &app;
            async move {
                let csrf = app.csrf().await;
                let form = reqwest::multipart::Form::new()
                    .text("csrf", csrf)
                    .part("cover", reqwest::multipart::Part::bytes(bytes).file_name(name).mime_str("image/png").unwrap());
                app.client.post(app.url(&format!("/admin/articles/{id}/cover"))).multipart(form).send().await.unwrap()
            }
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[0u8; 64]);
        let r = upload("cover.png", png.clone()).await;
        assert_eq!(r.status(), 303);
        let article = content_db::get(&app.state.db, id).await.unwrap().unwrap();
        let name = article.cover_image.expect("cover stored");
        assert!(app.dir.path().join("uploads/covers").join(&name).exists());
        let r = app.get(&format!("/media/covers/{name}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(r.bytes().await.unwrap().to_vec(), png);
        let (_, page) = app.get_text("/articles/with-a-cover").await;
        assert!(page.contains(&format!("<img class=\"cover\" src=\"/media/covers/{name}\"")));
        assert!(page.contains("<meta name=\"twitter:card\" content=\"summary_large_image\">"));
        assert!(page.contains(&format!("/media/covers/{name}\">")) && page.contains("og:image"));

        // A script named like a picture is refused, and so is an SVG.
        let r = upload("evil.png", b"<script>alert(1)</script>".to_vec()).await;
        assert_eq!(r.status(), 415);
        assert!(r.text().await.unwrap().contains("PNG, JPEG or WebP"));
        assert_eq!(upload("x.svg", b"<svg onload=alert(1)/>".to_vec()).await.status(), 415);
        // Too big.
        let mut big = b"\xFF\xD8\xFF".to_vec();
        big.resize(5 * 1024 * 1024 + 10, 0);
        assert_eq!(upload("big.jpg", big).await.status(), 413);
        let article = content_db::get(&app.state.db, id).await.unwrap().unwrap();
        assert_eq!(article.cover_image.as_deref(), Some(name.as_str()), "the old cover stays");
        // Only stored names are served.
        for bad in ["../officecomms.key", "x.png", "..%2Fofficecomms.key"] {
            assert_eq!(app.get(&format!("/media/covers/{bad}")).await.status(), 404, "{bad}");
        }
        // Removed on request.
        assert_eq!(app.post_form(&format!("/admin/articles/{id}/cover/remove"), &[]).await.status(), 303);
        assert!(!app.get_text("/articles/with-a-cover").await.1.contains("class=\"cover\""));
    }

    async fn another_instance_sees_an_edit_within_seconds(backend) {
        // Instances share a database only on PostgreSQL.
        if let Backend::Postgres(_) = backend {
            let a = TestApp::spawn(backend).await;
            let b = a.sibling().await;
            let path = "/articles/slow-pc-checklist";
            assert!(b.get_text(path).await.1.contains("A slow PC checklist"));
            a.login_as("editor").await;
            let id = content_db::live_by_slug(&a.state.db, "slow-pc-checklist", a.state.clock.now())
                .await.unwrap().unwrap().id;
            update(&a, id, &[("title", "A slow PC checklist, 2027 edition")]).await;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                if b.get_text(path).await.1.contains("2027 edition") {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "the other instance kept its stale page");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test]
async fn an_editor_creates_and_publishes_an_article_in_a_real_browser() {
    use crate::browser::{click, type_into, wait_text};
    use fantoccini::Locator;
    let Some(browser) = crate::browser::Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_staff("ed@officecomms.test", "editor").await;
    let c = &browser.client;

    browser.sign_in(&app, "ed@officecomms.test").await;

    c.goto(&app.url("/admin/articles")).await.unwrap();
    click(c, Locator::LinkText("New help article")).await;
    let title = "Load a label printer without jams";
    type_into(c, Locator::Id("title"), title).await;
    type_into(c, Locator::Id("product"), "Printers").await;
    type_into(c, Locator::Id("tags"), "printers, labels").await;
    type_into(
        c,
        Locator::Id("body"),
        "## Load the roll\n\nFeed the labels **face up** and close the lid.",
    )
    .await;
    // The live preview follows the typing, rendered by the server.
    wait_text(
        c,
        "document.querySelector('#live-preview h2') && document.querySelector('#live-preview h2').textContent",
        "Load the roll",
    )
    .await;
    let strong = c
        .find(Locator::Css("#live-preview strong"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(strong, "face up");

    click(c, Locator::Css("input[name=state][value=published]")).await;
    click(c, Locator::Css("button[name=action][value=save]")).await;
    wait_text(c, "location.search", "done=saved").await;
    let main = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        main.contains("Saved.") && main.contains("published"),
        "{main}"
    );

    click(c, Locator::LinkText("View the live page")).await;
    wait_text(
        c,
        "location.pathname",
        "/articles/load-a-label-printer-without-jams",
    )
    .await;
    let h1 = c
        .find(Locator::Css("main h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, title);
    let crumbs = c
        .find(Locator::Css("nav.breadcrumbs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(crumbs.contains("Help articles") && crumbs.contains("Printers"));
    // The JSON-LD data block is in the page as data (CSP does not apply to it).
    let headline = c
        .execute(
            "return JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)[0].headline",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(headline, title);
    browser.close().await;
}

#[path = "../../bench/corpus.rs"]
mod corpus;

/// Search over 10,000 articles as the search page runs it (index look-up,
/// ranking, one page of rows, snippets, the page cache), timed per request:
/// 20 rounds of every query, each round asking for other result pages, so
/// the first round looks every query up and the rest fetch further pages.
/// Run it with `--release --ignored`.
mod search_speed {
    use super::corpus;
    use crate::helpers::{Backend, TestApp};
    use officecomms::content::{search, views};
    use std::time::{Duration, Instant};

    async fn run(backend: Backend) {
        let app = TestApp::spawn_with(backend, |c| c.workers = false).await;
        let now = app.state.clock.now();
        let started = Instant::now();
        corpus::seed(&app.state.db, 10_000, now).await.unwrap();
        eprintln!("seeded 10,000 articles in {:.1?}", started.elapsed());
        let mut times: Vec<Duration> = Vec::new();
        let mut found = 0;
        for round in 0..20 {
            for (i, q) in corpus::QUERIES.iter().enumerate() {
                let t = Instant::now();
                if let Some(query) = search::Query::parse(q) {
                    let page_no = 1 + (round * 37 + i as i64 * 11) % views::SEARCH_PAGES;
                    let results = views::search(&app.state, &query, page_no, now)
                        .await
                        .unwrap();
                    if round == 0 {
                        found += results.total;
                    }
                }
                times.push(t.elapsed());
            }
        }
        times.sort();
        let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        eprintln!(
            "{} searches: p50 {:.2?}, p99 {:.2?}, max {:.2?} ({found} matches in the first round)",
            times.len(),
            at(0.50),
            at(0.99),
            times[times.len() - 1]
        );
        assert!(found > 10_000, "the corpus is found");
        assert!(at(0.99) < Duration::from_millis(20), "p99 {:?}", at(0.99));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark: run with --release --ignored"]
    async fn sqlite() {
        run(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark: run with --release --ignored"]
    async fn postgres() {
        if let Some(b) = Backend::postgres() {
            run(b).await
        }
    }
}

both! {
    async fn a_page_rendered_once_for_many_visitors_carries_each_ones_own_token_and_choices(backend) {
        let app = TestApp::spawn(backend).await;
        let path = "/articles/outlook-keeps-asking-for-password";
        let token_of = |r: &reqwest::Response| {
            r.headers()["set-cookie"].to_str().unwrap().strip_prefix("oc_csrf=").unwrap().split(';').next().unwrap().to_string()
        };
        // Two new visitors: each page holds that visitor's token and no other.
        let (a, b) = (client(), client());
        let ra = a.get(app.url(path)).send().await.unwrap();
        let ta = token_of(&ra);
        let pa = ra.text().await.unwrap();
        // Rendered once; from now on answered before routing.
        let request = axum::http::Request::get(path).body(()).unwrap().into_parts().0;
        let anonymous = officecomms::privacy::Privacy::default();
        let stored = answer_shared(&app.state, &request, &anonymous, "tok3n").await.expect("answered from the cache");
        assert_eq!(stored.status(), 200);
        let stored = axum::body::to_bytes(stored.into_body(), usize::MAX).await.unwrap();
        assert_eq!(String::from_utf8(stored.to_vec()).unwrap(), pa.replace(&ta, "tok3n"));
        let other = axum::http::Request::get("/articles/no-such-page").body(()).unwrap().into_parts().0;
        assert!(answer_shared(&app.state, &other, &anonymous, "t").await.is_none());
        let rb = b.get(app.url(path)).send().await.unwrap();
        assert_eq!(rb.headers()["vary"], "accept-encoding");
        let tb = token_of(&rb);
        let pb = rb.text().await.unwrap();
        assert_ne!(ta, tb);
        assert_eq!(extract_csrf(&pa), ta);
        assert_eq!(extract_csrf(&pb), tb);
        assert!(!pb.contains(&ta) && !pb.contains("Placeholder"), "no token but the visitor's own");
        // The same bytes otherwise, and a repeat is a 304.
        assert_eq!(pa.replace(&ta, "T"), pb.replace(&tb, "T"));
        let etag = a.get(app.url(path)).send().await.unwrap().headers()["etag"].clone();
        assert_eq!(a.get(app.url(path)).header("if-none-match", etag).send().await.unwrap().status(), 304);

        // Do Not Track, a choice made: each sees their own layout.
        let dnt = client().get(app.url(path)).header("dnt", "1").send().await.unwrap().text().await.unwrap();
        assert!(dnt.contains("we honour it") && !pa.contains("we honour it"));
        let csrf = extract_csrf(&pa);
        a.post(app.url("/cookies")).form(&[("csrf", csrf.as_str()), ("choice", "reject")]).send().await.unwrap();
        let decided = a.get(app.url(path)).send().await.unwrap().text().await.unwrap();
        assert!(pa.contains("id=\"consent-banner\"") && !decided.contains("id=\"consent-banner\""));
        assert!(pb.contains("id=\"consent-banner\""));

        // A HEAD is answered the same way, without the body.
        let head = a.head(app.url(path)).send().await.unwrap();
        assert_eq!((head.status().as_u16(), head.headers()["content-type"].to_str().unwrap()), (200, "text/html; charset=utf-8"));
        assert!(head.text().await.unwrap().is_empty());
        // Counted under the route, not as unmatched: the five pages and the 304.
        let (_, metrics) = app.get_text("/metrics").await;
        for (method, status, n) in [("GET", 200, 5), ("GET", 304, 1), ("HEAD", 200, 1)] {
            let line = format!("officecomms_http_requests_total{{method=\"{method}\",route=\"/articles/{{slug}}\",status=\"{status}\"}} {n}\n");
            assert!(metrics.contains(&line), "{line} in {metrics}");
        }

        // A browser that takes gzip gets the same page, deflated once for
        // everyone with its own token spliced in.
        let gz = a.get(app.url(path)).header("accept-encoding", "gzip, deflate, br, zstd").send().await.unwrap();
        assert_eq!(gz.headers()["content-encoding"], "gzip");
        let bytes = gz.bytes().await.unwrap();
        assert!(bytes.len() < decided.len() / 2);
        let mut unzipped = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, decided);
    }
}

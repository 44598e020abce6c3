//! The one way to render a page: an askama template holding a [`Page`]
//! (site settings, privacy context, CSRF token, signed-in staff member) and
//! extending `layout.html`, turned into a response by [`render`].

use super::{
    assets::Assets,
    context::{Notices, Privacy, StaffUser},
    http::CsrfToken,
    nav::{Icon, NavItem},
    settings::SiteSettings,
    state::Platform,
};
use crate::error::{AppError, AppResult};
use anyhow::Context;
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{StatusCode, request::Parts},
    response::{Html, IntoResponse, Response},
};
use chrono_tz::Tz;
use std::sync::Arc;

/// Stands for the visitor's CSRF token in a page rendered once for many
/// visitors; replaced by each visitor's own token when it is sent.
pub const CSRF_PLACEHOLDER: &str = "ocCsrfTokenPlaceholder7c1e";

/// What every page's layout needs.
#[derive(Clone)]
pub struct Page {
    pub site: Arc<SiteSettings>,
    pub privacy: Privacy,
    pub csrf: String,
    pub path: String,
    /// The query string (without `?`), for the navigation's current link.
    pub query: String,
    pub title: String,
    pub staff: Option<StaffUser>,
    pub assets: Arc<Assets>,
    /// Published data breach notices, shown on every page.
    pub notices: Arc<Notices>,
    /// The back office's navigation (only shown to staff).
    pub nav_items: Arc<[&'static NavItem]>,
    /// The figure beside each of `nav_items` (same order), computed for
    /// the staff shell only.
    pub nav_counts: Arc<[Option<i64>]>,
    /// The member's unread notifications (the top bar's bell), for the
    /// staff shell only.
    pub unread: Option<i64>,
    /// When the page is made (epoch ms, the platform's clock), for relative
    /// times.
    pub now: i64,
}

impl Page {
    pub fn new(state: &Platform, parts: &Parts) -> Page {
        Page {
            site: state.site(),
            privacy: parts
                .extensions
                .get::<Privacy>()
                .cloned()
                .unwrap_or_default(),
            csrf: parts
                .extensions
                .get::<CsrfToken>()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            title: String::new(),
            staff: parts.extensions.get::<StaffUser>().cloned(),
            assets: state.assets.clone(),
            notices: state.notices(),
            nav_items: state.registry.admin_nav.clone(),
            nav_counts: Arc::new([]),
            unread: None,
            now: state.clock.now(),
        }
    }

    /// A back-office page: laid out in the staff shell rather than the
    /// public site's (a signed-in member gets the sidebar and top bar).
    pub fn is_back_office(&self) -> bool {
        self.path == "/admin" || self.path.starts_with("/admin/")
    }

    /// The staff shell with its sidebar: a signed-in member on a back-office page.
    pub fn staff_shell(&self) -> bool {
        self.staff.is_some() && self.is_back_office()
    }

    /// The sidebar: this member's links by group, in order, with their
    /// counts and which one is the current page.
    pub fn nav_groups(&self) -> Vec<NavGroup> {
        let Some(role) = self.staff.as_ref().map(|s| s.role) else {
            return vec![];
        };
        let mut groups: Vec<NavGroup> = vec![];
        for (i, item) in self.nav_items.iter().enumerate() {
            if !role.allows(item.role) {
                continue;
            }
            let link = NavLink {
                label: item.label,
                href: item.href,
                icon: item.icon,
                count: self.nav_counts.get(i).copied().flatten(),
                count_meaning: item.count.map(|(_, m)| m).unwrap_or_default(),
                current: self.nav_current(item.href),
            };
            match groups.iter_mut().find(|g| g.name == item.group) {
                Some(group) => group.links.push(link),
                None => groups.push(NavGroup {
                    name: item.group,
                    links: vec![link],
                }),
            }
        }
        groups
    }

    /// Whether a sidebar link leads to this page. A link with a query
    /// ("/admin/tickets?assignee=me") is current only with that query; a
    /// plain one covers its whole section unless a more particular link is.
    fn nav_current(&self, href: &str) -> bool {
        match href.split_once('?') {
            Some((path, query)) => self.path == path && self.query == query,
            None if href == "/admin" => self.path == "/admin",
            None => {
                (self.path == href || self.path.starts_with(&format!("{href}/")))
                    && !self.nav_items.iter().any(|i| {
                        i.href.starts_with(href) && i.href.contains('?') && self.nav_current(i.href)
                    })
            }
        }
    }

    /// The bell's accessible name: "Notifications, 3 unread".
    pub fn bell_label(&self) -> String {
        match self.unread.unwrap_or(0) {
            0 => "Notifications, none unread".into(),
            n => format!("Notifications, {n} unread"),
        }
    }

    pub fn unread_count(&self) -> i64 {
        self.unread.unwrap_or(0)
    }

    /// The signed-in member's initial, for the top bar's badge.
    pub fn initial(&self) -> String {
        self.staff
            .as_ref()
            .and_then(|s| s.display_name.chars().next())
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default()
    }

    /// The sidebar's icon as inline SVG (decorative: the label says it).
    /// (By value or by reference: askama passes a path as written and a
    /// field by reference.)
    pub fn icon(&self, icon: impl std::borrow::Borrow<Icon>) -> IconSvg {
        IconSvg(icon.borrow().path())
    }

    /// What makes this page's layout differ between visitors who are not
    /// signed in, besides the CSRF token: their privacy signals and choices
    /// and the published notices. `None` for staff, whose pages are never
    /// shared. A new per-visitor part of the layout must be added here.
    pub fn shared_variant(&self) -> Option<SharedVariant> {
        if self.staff.is_some() {
            return None;
        }
        Some(SharedVariant::new(&self.privacy, &self.notices))
    }

    /// The same page with `token` where the CSRF token goes (see
    /// [`CSRF_PLACEHOLDER`]).
    pub fn with_csrf(mut self, token: &str) -> Page {
        self.csrf = token.to_string();
        self
    }

    pub fn titled(mut self, title: impl Into<String>) -> Page {
        self.title = title.into();
        self
    }

    /// The content-hashed URL of a static file.
    pub fn asset(&self, name: &str) -> String {
        self.assets.url(name)
    }

    /// Whether a staff member may see an admin area, for the navigation.
    pub fn staff_can(&self, role: &str) -> bool {
        let required = super::context::Role::parse(role);
        self.staff
            .as_ref()
            .is_some_and(|s| required.is_some_and(|r| s.role.allows(r)))
    }

    /// `aria-current` for navigation links.
    pub fn current(&self, prefix: &str) -> &'static str {
        let here = if prefix == "/" {
            self.path == "/"
        } else {
            self.path.starts_with(prefix)
        };
        if here { "page" } else { "false" }
    }
}

/// A group of the staff sidebar.
pub struct NavGroup {
    pub name: &'static str,
    pub links: Vec<NavLink>,
}

/// A link of the staff sidebar.
pub struct NavLink {
    pub label: &'static str,
    pub href: &'static str,
    pub icon: Icon,
    pub count: Option<i64>,
    pub count_meaning: &'static str,
    pub current: bool,
}

impl NavLink {
    /// A zero is shown quietly.
    pub fn count_class(&self) -> &'static str {
        if self.count == Some(0) {
            "count zero"
        } else {
            "count"
        }
    }
}

/// An icon's markup; its path data is ours (`Icon::path`), never input.
pub struct IconSvg(&'static str);

impl std::fmt::Display for IconSvg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<svg class=\"icon\" viewBox=\"0 0 24 24\" width=\"20\" height=\"20\" aria-hidden=\"true\" focusable=\"false\"><path d=\"{}\"/></svg>",
            self.0
        )
    }
}

impl askama::filters::HtmlSafe for IconSvg {}

/// Which shared rendering of a page a visitor gets (see
/// [`Page::shared_variant`]); written into cache keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedVariant {
    signals: u8,
    /// The version of the notices in force.
    notices: u64,
}

impl SharedVariant {
    /// The variant of a visitor who is not signed in.
    pub fn new(privacy: &Privacy, notices: &Notices) -> Self {
        let c = &privacy.consent;
        let signals = [
            privacy.do_not_track,
            privacy.global_privacy_control,
            privacy.child,
            c.decided,
            c.preferences,
            c.analytics,
            c.marketing,
        ]
        .iter()
        .fold(0u8, |bits, &b| bits << 1 | u8::from(b));
        SharedVariant {
            signals,
            notices: notices.version,
        }
    }

    /// The cache key of the page at `path` in this variant. Built by hand:
    /// it is made on every page request, and `format!` costs a few times more.
    pub fn page_key(&self, path: &str) -> String {
        let mut key = String::with_capacity(path.len() + 32);
        key.push_str("html:");
        key.push_str(path);
        for (separator, mut n) in [(':', u64::from(self.signals)), (':', self.notices)] {
            key.push(separator);
            loop {
                key.push(char::from_digit((n & 15) as u32, 16).expect("a hex digit"));
                n >>= 4;
                if n == 0 {
                    break;
                }
            }
        }
        key
    }
}

impl<S> FromRequestParts<S> for Page
where
    S: Send + Sync,
    Platform: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let platform = Platform::from_ref(state);
        let mut page = Page::new(&platform, parts);
        // The sidebar's figures: for staff pages only, so a visitor's page
        // costs no query more.
        if page.staff_shell()
            && let Some(staff) = &page.staff
        {
            page.nav_counts = nav_counts(&platform, staff, &page.nav_items).await?;
            if let Some(count) = platform.registry.unread_notifications {
                page.unread = Some(count(&platform, staff).await.map_err(AppError::Internal)?);
            }
        }
        Ok(page)
    }
}

/// The count of each navigation link that has one and that this member sees.
async fn nav_counts(
    platform: &Platform,
    staff: &StaffUser,
    items: &[&'static NavItem],
) -> AppResult<Arc<[Option<i64>]>> {
    let counts = items.iter().map(|item| async move {
        match item.count {
            Some((count, _)) if staff.role.allows(item.role) => {
                count(platform, staff).await.map(Some)
            }
            _ => Ok(None),
        }
    });
    Ok(futures_util::future::try_join_all(counts)
        .await
        .map_err(AppError::Internal)?
        .into())
}

/// Renders a template into an HTML response.
pub fn render(template: &impl askama::Template) -> AppResult<Response> {
    Ok(Html(template.render().context("rendering template")?).into_response())
}

/// Renders a template into an HTML response with this status: above all a
/// form shown again with what the person typed and a message beside each
/// field (`StatusCode::UNPROCESSABLE_ENTITY`).
pub fn render_with(status: StatusCode, template: &impl askama::Template) -> AppResult<Response> {
    let mut response = render(template)?;
    *response.status_mut() = status;
    Ok(response)
}

/// Markdown to HTML, sanitised: no script, no event handlers, no
/// `javascript:` or `data:` URLs, whatever the source. Headings get an `id`
/// made from their text and a `#` link to themselves (for a web page; see
/// [`markdown_to_mail_html`]).
pub fn markdown_to_html(markdown: &str) -> String {
    markdown_html(markdown, true)
}

/// [`markdown_to_html`] for a mail: no `#` links beside the headings, which
/// a mail client would show as stray characters.
pub fn markdown_to_mail_html(markdown: &str) -> String {
    markdown_html(markdown, false)
}

/// Markdown as plain text for the text part of a mail: no Markdown syntax
/// left (`#`, `**`, `[..](..)`), links as "text (URL)", list items as
/// "- ", paragraphs apart.
pub fn markdown_to_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut out = String::new();
    let mut links: Vec<String> = Vec::new();
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let blank_line = |out: &mut String| {
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
    };
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::BlockQuote(_))
            | Event::Start(Tag::CodeBlock(_) | Tag::Table(_))
                if lists.is_empty() =>
            {
                blank_line(&mut out);
            }
            Event::End(TagEnd::Heading(_) | TagEnd::Paragraph | TagEnd::CodeBlock)
            | Event::End(TagEnd::TableRow | TagEnd::TableHead)
                if !out.ends_with('\n') =>
            {
                out.push('\n');
            }
            Event::Start(Tag::List(first)) => {
                if lists.is_empty() {
                    blank_line(&mut out);
                }
                lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = links.pop() {
                    let shown = url.trim_start_matches("mailto:");
                    if !out.ends_with(shown) {
                        out.push_str(&format!(" ({url})"));
                    }
                }
            }
            Event::Start(Tag::Image { dest_url, .. }) => links.push(dest_url.to_string()),
            Event::End(TagEnd::Image) => {
                if let Some(url) = links.pop() {
                    out.push_str(&format!(" ({url})"));
                }
            }
            Event::End(TagEnd::TableCell) => out.push_str("  "),
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Rule => {
                blank_line(&mut out);
                out.push_str("----\n");
            }
            _ => {}
        }
    }
    out.trim().to_string()
}

fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn markdown_html(markdown: &str, anchors: bool) -> String {
    use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_HEADING_ATTRIBUTES);
    let mut events: Vec<Event> = Parser::new_ext(markdown, options).collect();
    let mut used = std::collections::HashSet::new();
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading { id, .. }) = &events[i] {
            let end = events[i..]
                .iter()
                .position(|e| matches!(e, Event::End(TagEnd::Heading(_))))
                .map_or(events.len(), |p| i + p);
            let text: String = events[i + 1..end]
                .iter()
                .filter_map(|e| match e {
                    Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                    _ => None,
                })
                .collect();
            let wanted = anchor_id(id.as_deref().unwrap_or(&text));
            let mut unique = wanted.clone();
            let mut n = 1;
            while !used.insert(unique.clone()) {
                n += 1;
                unique = format!("{wanted}-{n}");
            }
            if let Event::Start(Tag::Heading { id, .. }) = &mut events[i] {
                *id = Some(CowStr::from(unique.clone()));
            }
            if anchors {
                let link = format!(
                    "<a class=\"anchor\" href=\"#{unique}\" aria-label=\"Link to this section: {}\">#</a>",
                    escape_attribute(&text)
                );
                events.insert(end.min(events.len()), Event::InlineHtml(CowStr::from(link)));
            }
            i = end + 1;
        }
        i += 1;
    }
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .add_generic_attributes(["id"])
        .add_allowed_classes("a", ["anchor"])
        .add_tag_attributes("a", ["aria-label"])
        .clean(&out)
        .to_string()
}

/// A heading's anchor: lower-case ASCII letters and digits joined by `-`.
fn anchor_id(text: &str) -> String {
    let mut id = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !id.is_empty() {
            id.push('-');
        }
        id.push_str(&word.to_ascii_lowercase());
        if id.len() > 60 {
            break;
        }
    }
    if id.is_empty() { "section".into() } else { id }
}

/// The day of a moment (epoch ms) in UTC: "7 Dec 2026".
pub fn readable_date(ms: i64) -> String {
    readable_date_in(ms, chrono_tz::UTC)
}

/// The day of a moment (epoch ms) in `zone`: "7 Dec 2026".
pub fn readable_date_in(ms: i64, zone: Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&zone).format("%-d %b %Y").to_string())
        .unwrap_or_default()
}

/// An amount in cents as a price: "$1,234.50".
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// A timestamp (epoch ms) as UTC text for pages.
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A timestamp (epoch ms) as people read it in `zone`, the zone named:
/// "7 Dec 2026, 09:15 PST" (DST-correct).
pub fn format_in_zone(ms: i64, zone: Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&zone)
                .format("%-d %b %Y, %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default()
}

impl Page {
    /// The zone times are shown in: the signed-in staff member's own, else
    /// the company's (shared pages are the same for every visitor).
    pub fn zone(&self) -> Tz {
        self.staff
            .as_ref()
            .and_then(|s| s.time_zone)
            .unwrap_or(self.site.time_zone)
    }

    /// The viewer's zone by its IANA name, for labels ("America/Los_Angeles").
    pub fn zone_name(&self) -> &'static str {
        self.zone().name()
    }

    pub fn time(&self, ms: &i64) -> String {
        format_in_zone(*ms, self.zone())
    }

    pub fn maybe_time(&self, ms: &Option<i64>) -> String {
        ms.map(|ms| format_in_zone(ms, self.zone()))
            .unwrap_or_else(|| "never".into())
    }

    /// A moment as a `<time>` element: relative words ("3 min ago"), the
    /// exact time in the viewer's zone on hover. Only for pages that are
    /// never shared between visitors (staff pages, a person's own pages):
    /// the words age.
    pub fn when(&self, ms: &i64) -> When {
        When {
            at: *ms,
            now: self.now,
            zone: self.zone(),
        }
    }
}

/// See [`Page::when`]; writes its own markup (the text is digits and fixed
/// words only), so templates need no `|safe`.
pub struct When {
    at: i64,
    now: i64,
    zone: Tz,
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(at) = chrono::DateTime::from_timestamp_millis(self.at) else {
            return Ok(());
        };
        write!(
            f,
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            at.format("%Y-%m-%dT%H:%M:%SZ"),
            format_in_zone(self.at, self.zone),
            relative_words(self.now - self.at)
        )
    }
}

impl askama::filters::HtmlSafe for When {}

impl Page {
    /// A deadline as people plan by it: "Tue 8 Dec 2026, 17:00" in the
    /// viewer's zone, in a `<time>` element whose title names the zone.
    pub fn deadline(&self, ms: &i64) -> TimeTag {
        TimeTag::deadline(*ms, self.zone())
    }

    /// A moment on a visitor's page, as a `<time>` element: the exact time
    /// in the company's zone, named ("7 Dec 2026, 09:15 PST"), which
    /// `static/times.js` rewrites in the visitor's own zone where the
    /// browser tells it; the title holds it to the second.
    pub fn at(&self, ms: &i64) -> TimeTag {
        TimeTag::moment(*ms, self.site.time_zone)
    }
}

/// A `<time>` element: the instant in UTC as its `datetime`, its text and
/// title in `zone` ([`Page::deadline`], [`Page::at`]). It writes its own
/// markup (digits, day and month names and the zone's abbreviation only),
/// so templates need no `|safe`.
pub struct TimeTag {
    at: i64,
    zone: Tz,
    title: &'static str,
    text: &'static str,
}

impl TimeTag {
    /// "Tue 8 Dec 2026, 17:00", the zone named on hover.
    fn deadline(at: i64, zone: Tz) -> TimeTag {
        TimeTag {
            at,
            zone,
            title: "%a %-d %b %Y, %H:%M %Z",
            text: "%a %-d %b %Y, %H:%M",
        }
    }

    /// "7 Dec 2026, 09:15 PST", to the second on hover.
    fn moment(at: i64, zone: Tz) -> TimeTag {
        TimeTag {
            at,
            zone,
            title: "%-d %b %Y, %H:%M:%S %Z",
            text: "%-d %b %Y, %H:%M %Z",
        }
    }
}

impl std::fmt::Display for TimeTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(at) = chrono::DateTime::from_timestamp_millis(self.at) else {
            return Ok(());
        };
        let local = at.with_timezone(&self.zone);
        write!(
            f,
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            at.format("%Y-%m-%dT%H:%M:%SZ"),
            local.format(self.title),
            local.format(self.text)
        )
    }
}

impl askama::filters::HtmlSafe for TimeTag {}

/// "just now", "3 min ago", "in 2 h", "5 days ago" for a difference in ms
/// (positive: in the past).
pub fn relative_words(ago_ms: i64) -> String {
    let future = ago_ms < 0;
    let seconds = ago_ms.unsigned_abs() / 1000;
    let amount = match seconds {
        0..=44 => return "just now".into(),
        45..=3_599 => format!("{} min", seconds.div_ceil(60).max(1)),
        3_600..=86_399 => format!("{} h", seconds / 3_600),
        86_400..=172_799 => "1 day".into(),
        _ => format!("{} days", seconds / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_cannot_smuggle_script() {
        let html = super::markdown_to_html(
            "<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)> [d](data:text/html,hi)",
        );
        assert!(!html.contains("<script"));
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("onerror"));
        assert!(!html.contains("data:"));
    }

    #[test]
    fn moments_read_as_words_with_the_exact_time_on_hover() {
        let at = 1_796_605_997_241;
        let when = super::When {
            at,
            now: at + 3 * 60_000,
            zone: chrono_tz::America::Los_Angeles,
        };
        assert_eq!(
            when.to_string(),
            "<time datetime=\"2026-12-07T01:13:17Z\" title=\"6 Dec 2026, 17:13 PST\">3 min ago</time>"
        );
        // Summer in California is UTC-7, and named so.
        assert_eq!(
            super::format_in_zone(1_784_132_100_000, chrono_tz::America::Los_Angeles),
            "15 Jul 2026, 09:15 PDT"
        );
        assert_eq!(
            super::TimeTag::deadline(1_796_778_000_000, chrono_tz::America::Los_Angeles)
                .to_string(),
            "<time datetime=\"2026-12-09T01:00:00Z\" title=\"Tue 8 Dec 2026, 17:00 PST\">Tue 8 Dec 2026, 17:00</time>"
        );
        assert_eq!(super::relative_words(10_000), "just now");
        assert_eq!(super::relative_words(-2 * 3_600_000), "in 2 h");
        assert_eq!(super::relative_words(5 * 86_400_000), "5 days ago");
    }

    #[test]
    fn a_visitors_moment_is_exact_in_the_companys_zone_named_for_the_script_to_localise() {
        let moment = super::TimeTag::moment(1_796_605_997_241, chrono_tz::America::Los_Angeles);
        assert_eq!(
            moment.to_string(),
            "<time datetime=\"2026-12-07T01:13:17Z\" title=\"6 Dec 2026, 17:13:17 PST\">6 Dec 2026, 17:13 PST</time>"
        );
        // The day follows the zone too: 01:13 UTC is still the 6th in California.
        assert_eq!(
            super::readable_date_in(1_796_605_997_241, chrono_tz::America::Los_Angeles),
            "6 Dec 2026"
        );
    }

    #[test]
    fn headings_get_unique_anchors() {
        let html = super::markdown_to_html(
            "# Fix `Outlook` now\n\n## Steps\n\n## Steps\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        );
        assert!(html.contains("<h1 id=\"fix-outlook-now\">Fix <code>Outlook</code> now<a class=\"anchor\" href=\"#fix-outlook-now\""), "{html}");
        assert!(html.contains("id=\"steps\"") && html.contains("id=\"steps-2\""));
        assert!(html.contains("<table>") && html.contains("<td>1</td>"));
    }
}

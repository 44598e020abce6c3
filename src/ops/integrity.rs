//! The integrity scan: checks that every static file the server hands out
//! is byte for byte the one built into this release, and reads stored
//! content and uploads for injected scripts, frames, event handlers,
//! script URLs and links to blocklisted hosts. Findings are stored, shown
//! at /admin/integrity, and resolved by the first scan that no longer sees
//! them. It runs from `officecomms scan`, the admin page and a daily job.
//!
//! What it reads is the registry of [`Source`]s the application gathered
//! from every feature's `SCAN_SOURCES` (`app::registry`).

use super::{UPLOADS_DIR, db};
use crate::{
    AppState,
    platform::{now_ms, scan::Source},
};
use anyhow::Context;
use axum::body::Body;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::{
    collections::BTreeSet,
    io::Read,
    path::{Path, PathBuf},
    time::Duration,
};
use tower::ServiceExt;

include!(concat!(env!("OUT_DIR"), "/asset_digests.rs"));

/// What exists in the platform itself: site settings and uploaded files.
pub const SCAN_SOURCES: &[Source] = &[
    Source::Query {
        kind: "setting",
        sql: "SELECT key, value FROM settings",
    },
    Source::Files {
        kind: "upload",
        dir: UPLOADS_DIR,
    },
];

/// Files larger than this are read only this far.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// The longest detail kept with a finding.
const MAX_DETAIL_CHARS: usize = 160;

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// A static file is served with other bytes than were built.
    AssetChanged,
    /// A static file has no build-time hash to check it against.
    AssetUnknown,
    Script,
    /// `iframe`, `frame`, `object` or `embed`.
    Frame,
    /// An `on…=` attribute, such as `onerror`.
    EventHandler,
    /// A `javascript:` or `vbscript:` URL.
    ScriptUrl,
    /// A link to a host on the blocklist.
    BlockedHost,
}

impl Rule {
    const ALL: [Rule; 7] = [
        Rule::AssetChanged,
        Rule::AssetUnknown,
        Rule::Script,
        Rule::Frame,
        Rule::EventHandler,
        Rule::ScriptUrl,
        Rule::BlockedHost,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Rule::AssetChanged => "asset-changed",
            Rule::AssetUnknown => "asset-unknown",
            Rule::Script => "script",
            Rule::Frame => "frame",
            Rule::EventHandler => "event-handler",
            Rule::ScriptUrl => "script-url",
            Rule::BlockedHost => "blocked-host",
        }
    }

    pub fn parse(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            Rule::AssetChanged => "static file differs from the release",
            Rule::AssetUnknown => "static file not in the release",
            Rule::Script => "script tag",
            Rule::Frame => "frame or embedded object",
            Rule::EventHandler => "inline event handler",
            Rule::ScriptUrl => "script URL",
            Rule::BlockedHost => "link to a blocked host",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub kind: String,
    pub item_id: String,
    pub rule: Rule,
    pub detail: String,
}

/// The outcome of one scan.
#[derive(Debug)]
pub struct Report {
    pub scan_id: i64,
    pub items: usize,
    pub findings: Vec<Finding>,
    /// Sources that could not be read; their earlier findings stay open.
    pub errors: Vec<String>,
}

/// Runs a full scan and stores its findings.
pub async fn scan(state: &AppState, started_by: &str) -> anyhow::Result<Report> {
    let started_at = now_ms();
    let scan_id = db::start_scan(&state.db, started_at, started_by).await?;
    let mut findings = Vec::new();
    let mut errors = Vec::new();
    let mut failed: Vec<&str> = Vec::new();
    let mut items = 0;
    match check_assets(state).await {
        Ok((n, found)) => {
            items += n;
            findings.extend(found);
        }
        Err(e) => {
            errors.push(format!("asset: {e:#}"));
            failed.push("asset");
        }
    }
    for &source in &state.registry.scan_sources {
        match read_source(state, source).await {
            Ok((n, found)) => {
                items += n;
                findings.extend(found);
            }
            Err(e) => {
                tracing::error!(kind = source.kind(), error = ?e, "integrity scan source failed");
                errors.push(format!("{}: {e:#}", source.kind()));
                failed.push(source.kind());
            }
        }
    }
    findings.sort();
    findings.dedup();
    db::finish_scan(
        &state.db, scan_id, started_at, &findings, &failed, items, &errors,
    )
    .await?;
    Ok(Report {
        scan_id,
        items,
        findings,
        errors,
    })
}

/// Runs the scan every `scan_interval_hours` (counted from the last scan
/// of any instance, so restarts do not skip or repeat it) until shutdown.
pub async fn run_daily(state: AppState) {
    let hours = state.config.scan_interval_hours;
    if hours == 0 {
        return;
    }
    let every = i64::try_from(hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let mut stop = state.shutdown.subscribe();
    // The first look waits a minute, so a start is not slowed by it.
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = Duration::from_secs(3600);
        let last = match db::last_scan_started(&state.db).await {
            Ok(last) => last,
            Err(e) => {
                tracing::error!(error = ?e, "reading the last integrity scan");
                continue;
            }
        };
        let due_in = last.map_or(0, |t| t + every - now_ms());
        if due_in > 0 {
            wait = wait.min(Duration::from_millis(due_in.unsigned_abs()));
            continue;
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            report = scan(&state, "schedule") => match report {
                Ok(r) if r.findings.is_empty() => {
                    tracing::info!(items = r.items, "integrity scan found nothing");
                }
                Ok(r) => tracing::warn!(
                    items = r.items,
                    findings = r.findings.len(),
                    "integrity scan found problems: see /admin/integrity"
                ),
                Err(e) => tracing::error!(error = ?e, "integrity scan"),
            },
        }
    }
}

/// The build-time SHA-256 of a static file, by its name in `assets.rs`.
fn expected_digest(name: &str) -> Option<&'static str> {
    let suffix = format!("/{name}");
    ASSET_DIGESTS
        .iter()
        .find(|(path, _)| *path == name)
        .or_else(|| {
            ASSET_DIGESTS
                .iter()
                .find(|(path, _)| path.ends_with(&suffix))
        })
        .map(|(_, digest)| *digest)
}

/// Requests every static file through the real router, as a browser
/// would, and compares what comes back with the build-time hash.
async fn check_assets(state: &AppState) -> anyhow::Result<(usize, Vec<Finding>)> {
    let app = crate::app::service(state.clone());
    let mut findings = Vec::new();
    let mut names: Vec<_> = state.assets.iter().collect();
    names.sort_by_key(|(name, _)| *name);
    for (name, asset) in &names {
        let finding = |rule, detail: String| Finding {
            kind: "asset".into(),
            item_id: name.to_string(),
            rule,
            detail,
        };
        let Some(expected) = expected_digest(name) else {
            findings.push(finding(
                Rule::AssetUnknown,
                format!("no build-time hash for {name}"),
            ));
            continue;
        };
        let request = axum::http::Request::get(format!("/static/{}", asset.hashed_name))
            .body(Body::empty())
            .context("asset request")?;
        let response = app.clone().oneshot(request).await?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .context("reading a served asset")?;
        let served = hex::encode(Sha256::digest(&body));
        if !status.is_success() || served != expected {
            findings.push(finding(
                Rule::AssetChanged,
                format!(
                    "served {} (status {}), built {}",
                    &served[..16],
                    status.as_u16(),
                    &expected[..16]
                ),
            ));
        }
    }
    Ok((names.len(), findings))
}

async fn read_source(state: &AppState, source: &Source) -> anyhow::Result<(usize, Vec<Finding>)> {
    let blocklist = &state.config.scan_blocklist;
    let mut findings = Vec::new();
    let mut items = 0;
    match source {
        Source::Query { kind, sql } => {
            let mut rows =
                sqlx::query_as::<_, (String, Option<String>)>(*sql).fetch(&state.db.pool);
            while let Some(row) = rows.next().await {
                let (id, text) = row.with_context(|| format!("reading {kind}"))?;
                items += 1;
                inspect_item(
                    kind,
                    &id,
                    text.as_deref().unwrap_or(""),
                    blocklist,
                    &mut findings,
                );
            }
        }
        Source::Files { kind, dir } => {
            let root = state.config.data_dir.join(dir);
            let (kind, blocklist) = (*kind, blocklist.clone());
            return tokio::task::spawn_blocking(move || scan_files(kind, &root, &blocklist))
                .await
                .context("file scan task")?;
        }
        Source::Custom { kind, items: read } => {
            for item in read(state).await? {
                items += 1;
                inspect_item(kind, &item.id, &item.text, blocklist, &mut findings);
            }
        }
    }
    Ok((items, findings))
}

fn scan_files(
    kind: &str,
    root: &Path,
    blocklist: &[String],
) -> anyhow::Result<(usize, Vec<Finding>)> {
    let mut findings = Vec::new();
    let mut pending: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut items = 0;
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let path = entry.path();
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                pending.push(path);
                continue;
            }
            if !file_type.is_file() {
                continue; // symlinks and the like are not ours
            }
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .and_then(|f| f.take(MAX_FILE_BYTES).read_to_end(&mut bytes))
                .with_context(|| format!("reading {}", path.display()))?;
            let id = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            items += 1;
            inspect_item(
                kind,
                &id,
                &String::from_utf8_lossy(&bytes),
                blocklist,
                &mut findings,
            );
        }
    }
    Ok((items, findings))
}

fn inspect_item(kind: &str, id: &str, text: &str, blocklist: &[String], out: &mut Vec<Finding>) {
    for (rule, detail) in inspect(text, blocklist) {
        out.push(Finding {
            kind: kind.to_string(),
            item_id: id.to_string(),
            rule,
            detail,
        });
    }
}

/// Looks through one text for what should never be in stored content.
pub fn inspect(text: &str, blocklist: &[String]) -> BTreeSet<(Rule, String)> {
    // ASCII lower-casing keeps byte offsets, so `lower` indexes `text`.
    let lower = text.to_ascii_lowercase();
    let mut found = BTreeSet::new();
    for (start, end) in tags(&lower) {
        let tag = &lower[start..end];
        let name: String = tag[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match name.as_str() {
            "script" => {
                found.insert((Rule::Script, excerpt(text, start, end)));
            }
            "iframe" | "frame" | "frameset" | "object" | "embed" => {
                found.insert((Rule::Frame, excerpt(text, start, end)));
            }
            _ => {}
        }
        if !name.is_empty() && has_event_handler(tag) {
            found.insert((Rule::EventHandler, excerpt(text, start, end)));
        }
    }
    for scheme in ["javascript:", "vbscript:"] {
        for (at, _) in lower.match_indices(scheme) {
            let before = lower[..at].trim_end_matches([' ', '\t', '\n', '\r']);
            if before.ends_with(['=', '"', '\'', '(', '<']) {
                found.insert((Rule::ScriptUrl, excerpt(text, at, at + 60)));
            }
        }
    }
    if !blocklist.is_empty() {
        for (start, host) in link_hosts(&lower) {
            if blocklist
                .iter()
                .any(|b| host == *b || host.ends_with(&format!(".{b}")))
            {
                let end = lower[start..]
                    .find(|c: char| c.is_whitespace() || "\"'<>()`".contains(c))
                    .map_or(lower.len(), |e| start + e);
                found.insert((Rule::BlockedHost, excerpt(text, start, end)));
            }
        }
    }
    found
}

/// `(start, end)` of every `<…>` that opens a tag, end exclusive.
fn tags(lower: &str) -> Vec<(usize, usize)> {
    let bytes = lower.as_bytes();
    lower
        .match_indices('<')
        .filter(|(at, _)| bytes.get(at + 1).is_some_and(|b| b.is_ascii_alphabetic()))
        .map(|(at, _)| {
            let end = lower[at..]
                .find('>')
                .map_or(lower.len(), |e| at + e + 1)
                .min(at + 4096);
            (at, lower.floor_char_boundary(end))
        })
        .collect()
}

/// Whether a tag carries an `on…=` attribute.
fn has_event_handler(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    tag.match_indices("on").any(|(at, _)| {
        let after_separator = at > 0
            && matches!(
                bytes[at - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'"' | b'\''
            );
        let name_len = bytes[at + 2..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let rest = tag[at + 2 + name_len..].trim_start();
        after_separator && name_len > 0 && rest.starts_with('=')
    })
}

/// `(position, host)` of every absolute or protocol-relative link.
fn link_hosts(lower: &str) -> Vec<(usize, String)> {
    let bytes = lower.as_bytes();
    let mut out = Vec::new();
    for (at, _) in lower.match_indices("//") {
        let scheme_start = lower[..at]
            .trim_end_matches(':')
            .rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+' && c != '-' && c != '.')
            .map_or(0, |p| p + 1);
        let start = if at > 0 && bytes[at - 1] == b':' {
            let scheme = &lower[scheme_start..at - 1];
            if !matches!(scheme, "http" | "https" | "ftp" | "ws" | "wss") {
                continue;
            }
            scheme_start
        } else if at > 0 && matches!(bytes[at - 1], b'"' | b'\'' | b'=' | b'(') {
            at
        } else {
            continue;
        };
        let authority: &str = lower[at + 2..]
            .split(|c: char| "/?#\"'<>()\\`".contains(c) || c.is_whitespace())
            .next()
            .unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let host = host_port
            .split(':')
            .next()
            .unwrap_or("")
            .trim_end_matches('.');
        if !host.is_empty() && !host.starts_with('[') {
            out.push((start, host.to_string()));
        }
    }
    out
}

/// The original text from `start`, at most `end` and [`MAX_DETAIL_CHARS`].
fn excerpt(text: &str, start: usize, end: usize) -> String {
    let end = text.floor_char_boundary(end.min(text.len()));
    let piece: String = text[start..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_DETAIL_CHARS)
        .collect();
    piece
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str, blocklist: &[&str]) -> Vec<Rule> {
        let blocklist: Vec<String> = blocklist.iter().map(|s| s.to_string()).collect();
        inspect(text, &blocklist)
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    #[test]
    fn scripts_frames_handlers_and_script_urls_are_found_in_any_case() {
        assert_eq!(
            rules("Hello <ScRiPt>alert(1)</script>", &[]),
            [Rule::Script]
        );
        assert_eq!(
            rules("<iframe src=\"https://x.test\"></iframe>", &[]),
            [Rule::Frame]
        );
        assert_eq!(
            rules("<img src=x onerror=alert(1)>", &[]),
            [Rule::EventHandler]
        );
        assert_eq!(rules("<svg/onload = 'x'>", &[]), [Rule::EventHandler]);
        assert_eq!(
            rules("<a href=\" javascript:alert(1)\">", &[]),
            [Rule::ScriptUrl]
        );
        assert_eq!(rules("[x](javascript:alert(1))", &[]), [Rule::ScriptUrl]);
    }

    #[test]
    fn ordinary_prose_and_markup_are_left_alone() {
        let prose = "Turn the router on and off. 3 < 4 and 5 > 2. Read about JavaScript: \
                     it runs in the browser. <p class=\"one\">Done</p> <a href=\"/contact\">contact</a> \
                     <button>on=off</button> https://example.com/help";
        assert!(rules(prose, &["evil.test"]).is_empty(), "{prose}");
    }

    #[test]
    fn links_to_blocked_hosts_and_their_subdomains_are_found() {
        let blocked = &["evil.test"];
        assert_eq!(
            rules("see https://evil.test/x", blocked),
            [Rule::BlockedHost]
        );
        assert_eq!(
            rules("<img src=\"//cdn.EVIL.test/p.gif\">", blocked),
            [Rule::BlockedHost]
        );
        assert_eq!(
            rules("http://user@evil.test:8080/", blocked),
            [Rule::BlockedHost]
        );
        assert!(rules("https://notevil.test/ https://evil.test.example/", blocked).is_empty());
    }

    #[test]
    fn details_are_short_and_cut_on_character_boundaries() {
        let text = format!("<script>{}</script>", "é".repeat(400));
        let found = inspect(&text, &[]);
        let (_, detail) = found.iter().next().unwrap();
        assert!(detail.chars().count() <= MAX_DETAIL_CHARS);
        assert!(detail.starts_with("<script>"));
    }

    #[test]
    fn every_served_asset_has_a_build_time_hash() {
        let assets = crate::platform::assets::Assets::load();
        for (name, asset) in assets.iter() {
            let expected = expected_digest(name).unwrap_or_else(|| panic!("no hash for {name}"));
            assert_eq!(expected, hex::encode(Sha256::digest(asset.bytes)), "{name}");
        }
    }
}

//! Static files compiled into the binary and served under content-hashed
//! names (`app.3f2a9c1b.css`) with a year-long immutable cache, so a CDN or
//! browser may keep them forever and a new release changes the name.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use super::state::Platform;
use crate::error::AppError;

include!(concat!(env!("OUT_DIR"), "/asset_digests.rs"));

/// `(name served, path under static/, bytes)`.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.css", "app.css", include_bytes!("../../static/app.css")),
    ("app.js", "app.js", include_bytes!("../../static/app.js")),
    (
        "admin.css",
        "admin.css",
        include_bytes!("../../static/admin.css"),
    ),
    (
        "admin.js",
        "admin.js",
        include_bytes!("../../static/admin.js"),
    ),
    (
        "content.css",
        "content.css",
        include_bytes!("../../static/content.css"),
    ),
    (
        "articles.js",
        "articles.js",
        include_bytes!("../../static/articles.js"),
    ),
    (
        "favicon.svg",
        "favicon.svg",
        include_bytes!("../../static/favicon.svg"),
    ),
    (
        "support.css",
        "support.css",
        include_bytes!("../../static/support.css"),
    ),
    (
        "account.css",
        "account.css",
        include_bytes!("../../static/account.css"),
    ),
    (
        "consent.js",
        "consent.js",
        include_bytes!("../../static/consent.js"),
    ),
    (
        "chat.css",
        "chat.css",
        include_bytes!("../../static/chat.css"),
    ),
    (
        "mydata.css",
        "mydata.css",
        include_bytes!("../../static/mydata.css"),
    ),
    ("chat.js", "chat.js", include_bytes!("../../static/chat.js")),
    (
        "times.js",
        "times.js",
        include_bytes!("../../static/times.js"),
    ),
    (
        "chat-console.js",
        "chat-console.js",
        include_bytes!("../../static/chat-console.js"),
    ),
    (
        "admin-pages.css",
        "admin-pages.css",
        include_bytes!("../../static/admin-pages.css"),
    ),
    (
        "dashboard.js",
        "dashboard.js",
        include_bytes!("../../static/dashboard.js"),
    ),
    (
        "tickets.js",
        "tickets.js",
        include_bytes!("../../static/tickets.js"),
    ),
    (
        "api-docs.js",
        "api-docs.js",
        include_bytes!("../../static/api-docs.js"),
    ),
    (
        "swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui-bundle.js",
        include_bytes!("../../static/vendor/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "vendor/swagger-ui/swagger-ui.css",
        include_bytes!("../../static/vendor/swagger-ui/swagger-ui.css"),
    ),
];

pub struct Asset {
    pub hashed_name: String,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

pub struct Assets {
    by_name: HashMap<&'static str, Asset>,
    by_hashed: HashMap<String, &'static str>,
}

impl Assets {
    pub fn load() -> Assets {
        let mut by_name = HashMap::new();
        let mut by_hashed = HashMap::new();
        for &(name, path, bytes) in FILES {
            // The digest build.rs took: hashing the files here would read
            // all 2 MB of them into memory at every start.
            let digest = match ASSET_DIGESTS.iter().find(|(p, _)| *p == path) {
                Some((_, hex)) => hex[..12].to_string(),
                None => hex::encode(&Sha256::digest(bytes)[..6]),
            };
            let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
            let hashed_name = format!("{stem}.{digest}.{ext}");
            by_hashed.insert(hashed_name.clone(), name);
            by_name.insert(
                name,
                Asset {
                    hashed_name,
                    bytes,
                    content_type: content_type(ext),
                },
            );
        }
        Assets { by_name, by_hashed }
    }

    /// The URL of an asset by its plain name, for templates.
    pub fn url(&self, name: &str) -> String {
        match self.by_name.get(name) {
            Some(a) => format!("/static/{}", a.hashed_name),
            None => format!("/static/{name}"),
        }
    }

    /// `(name, hashed name, bytes)` of every file, for the integrity scan.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Asset)> {
        self.by_name.iter().map(|(k, v)| (*k, v))
    }
}

fn content_type(ext: &str) -> &'static str {
    match ext {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

pub async fn serve_asset(
    State(state): State<Platform>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    let assets = &state.assets;
    let (asset, immutable) = match assets.by_hashed.get(&file) {
        Some(name) => (&assets.by_name[name], true),
        None => (
            assets
                .by_name
                .get(file.as_str())
                .ok_or(AppError::NotFound)?,
            false,
        ),
    };
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        asset.bytes,
    )
        .into_response())
}

//! Cover images: PNG, JPEG or WebP, recognised by their first bytes (never
//! by name or declared type), size-limited, stored under the data dir with a
//! name made from their content, and served as immutable files.

use crate::{AppState, error::AppError};
use anyhow::Context;
use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

pub const MAX_BYTES: usize = 5 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
    Webp,
}

impl ImageType {
    /// The type the bytes really are, whatever the file was called.
    pub fn sniff(bytes: &[u8]) -> Option<ImageType> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageType::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageType::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageType::Webp)
        } else {
            None
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ImageType::Png => "png",
            ImageType::Jpeg => "jpg",
            ImageType::Webp => "webp",
        }
    }

    fn from_extension(ext: &str) -> Option<ImageType> {
        match ext {
            "png" => Some(ImageType::Png),
            "jpg" => Some(ImageType::Jpeg),
            "webp" => Some(ImageType::Webp),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
            ImageType::Webp => "image/webp",
        }
    }
}

fn dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("uploads").join("covers")
}

/// The public path of a stored cover.
pub fn path(name: &str) -> String {
    format!("/media/covers/{name}")
}

/// Checks and stores an uploaded image; returns its file name.
pub async fn store(state: &AppState, bytes: &[u8]) -> Result<String, AppError> {
    if bytes.len() > MAX_BYTES {
        return Err(AppError::PayloadTooLarge);
    }
    if bytes.is_empty() {
        return Err(AppError::Unprocessable(
            "Please choose an image file to upload.".into(),
        ));
    }
    let kind = ImageType::sniff(bytes).ok_or_else(|| {
        AppError::UnsupportedMediaType(
            "A cover must be a PNG, JPEG or WebP image. That file is not one of those.".into(),
        )
    })?;
    let name = format!(
        "{}.{}",
        hex::encode(&Sha256::digest(bytes)[..16]),
        kind.extension()
    );
    let dir = dir(state);
    let target = dir.join(&name);
    if tokio::fs::try_exists(&target).await.unwrap_or(false) {
        return Ok(name);
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    // Written aside and renamed, so a reader never sees half a file.
    let partial = dir.join(format!(".{name}.{}", crate::platform::random_token(6)));
    tokio::fs::write(&partial, bytes)
        .await
        .with_context(|| format!("writing {}", partial.display()))?;
    tokio::fs::rename(&partial, &target)
        .await
        .with_context(|| format!("storing {}", target.display()))?;
    Ok(name)
}

/// A stored name: 32 hex digits and a known extension, nothing else.
fn parse_name(name: &str) -> Option<ImageType> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 32 || !stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    ImageType::from_extension(ext)
}

/// `GET /media/covers/{name}`: the name is the content's hash, so it never changes.
pub async fn serve_cover(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let kind = parse_name(&name).ok_or(AppError::NotFound)?;
    let bytes = match tokio::fs::read(dir(&state).join(&name)).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AppError::NotFound),
        Err(e) => return Err(anyhow::Error::new(e).context("reading a cover").into()),
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(kind.content_type()),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_content() {
        assert_eq!(
            ImageType::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ImageType::Png)
        );
        assert_eq!(
            ImageType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            ImageType::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageType::Webp)
        );
        assert_eq!(ImageType::sniff(b"<svg onload=alert(1)>"), None);
        assert_eq!(ImageType::sniff(b"GIF89a"), None);
        assert_eq!(ImageType::sniff(b"RIFF\0\0\0\0WAVE"), None);
    }

    #[test]
    fn only_stored_names_are_served() {
        assert_eq!(
            parse_name(&format!("{}.png", "a".repeat(32))),
            Some(ImageType::Png)
        );
        for bad in [
            "../officecomms.key",
            "x.png",
            &format!("{}.svg", "a".repeat(32)),
            &format!("{}.png.png", "a".repeat(32)),
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}

//! Form input: an extractor whose rejections become our error page, field
//! errors for re-rendering a form with what the person typed, and parsed
//! value types that cannot hold invalid values.

use crate::error::AppError;
use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use serde::de::DeserializeOwned;
use std::{collections::BTreeMap, fmt, str::FromStr};

/// A URL-encoded form, like `axum::Form`, but stricter: invalid UTF-8 is
/// refused rather than silently replaced, and every rejection is a clear
/// message with the right status.
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(AppError::UnsupportedMediaType(
                "Please send the form as a normal web form.".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                unreadable()
            }
        })?;
        decode(&bytes).map(Form)
    }
}

/// Decodes a URL-encoded body, refusing invalid UTF-8 instead of replacing it.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    for pair in bytes.split(|b| *b == b'&') {
        let spaced: Vec<u8> = pair
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        match percent_encoding::percent_decode(&spaced).decode_utf8() {
            Err(_) => {
                return Err(AppError::BadRequest(
                    "The form could not be read: it contains text that is not valid UTF-8. Please type it again.".into(),
                ));
            }
            // No one types a NUL, and PostgreSQL text cannot hold one.
            Ok(text) if text.contains('\0') => {
                return Err(AppError::BadRequest(
                    "The form could not be read: it contains a NUL character. Please type it again.".into(),
                ));
            }
            Ok(_) => {}
        }
    }
    serde_urlencoded::from_bytes(bytes).map_err(|_| unreadable())
}

fn unreadable() -> AppError {
    AppError::BadRequest(
        "The form could not be read. Please go back, check what you entered and send it again."
            .into(),
    )
}

/// Messages beside form fields.
#[derive(Clone, Debug, Default)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    /// A required text field: its trimmed value, or an empty string with
    /// `missing` (nothing typed) or what [`text`] found wrong beside `field`.
    pub fn required(
        &mut self,
        field: &'static str,
        value: &str,
        max_chars: usize,
        missing: &str,
    ) -> String {
        match text(value, max_chars) {
            Ok(Some(v)) => v,
            Ok(None) => {
                self.add(field, missing);
                String::new()
            }
            Err(e) => {
                self.add(field, e);
                String::new()
            }
        }
    }

    pub fn get(&self, field: &str) -> &str {
        self.0.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each failed field and its message, by field name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// `Ok(())` when no field failed.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The status of a form page showing these errors: 422 when a field
    /// failed, 200 otherwise.
    pub fn status(&self) -> StatusCode {
        if self.0.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    }
}

/// A syntactically valid email address, normalised (trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl FromStr for EmailAddress {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("Please enter your email address.");
        }
        if s.len() > 254 {
            return Err("That email address is too long.");
        }
        match lettre::Address::from_str(s) {
            Ok(a) if a.domain().contains('.') || a.domain() == "localhost" => {
                Ok(EmailAddress(a.to_string()))
            }
            _ => Err("Please enter a valid email address, like name@example.com."),
        }
    }
}

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Trims a text field and checks its length; `None` when empty.
pub fn text(value: &str, max_chars: usize) -> Result<Option<String>, String> {
    let v = value.trim();
    if v.chars().count() > max_chars {
        return Err(format!("Please keep this under {max_chars} characters."));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err("This contains characters we cannot accept.".into());
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// Whether a checkbox was ticked: present with a non-empty value.
pub fn checked(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_parsed_once_at_the_edge() {
        assert_eq!(
            "  ann@example.com "
                .parse::<EmailAddress>()
                .unwrap()
                .as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "a b@example.com",
            "ann@example",
        ] {
            assert!(bad.parse::<EmailAddress>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn text_fields_are_bounded() {
        assert_eq!(text("  hi ", 5).unwrap().as_deref(), Some("hi"));
        assert_eq!(text("   ", 5).unwrap(), None);
        assert!(text("toolong", 3).is_err());
        assert!(text("nul\0", 10).is_err());
    }
}

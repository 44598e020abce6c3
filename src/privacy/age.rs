//! The age gate (COPPA), one component for every form that collects personal
//! data. The question is neutral ("year of birth"); an answer that may be
//! under 13 stores nothing, sends nothing, shows a kind page and is
//! remembered for the browser session, so an immediate retry with another
//! year does not get through (the FTC's advice).
//!
//! A form uses it in two steps: include `privacy/age_field.html` in the
//! template (it reads `form.birth_year` and `errors`), and take an
//! [`AgeGate`] in the handler and call [`AgeGate::check`] before anything
//! else: `?` ends the handler with the refusal.

use super::Privacy;
use crate::{
    error::{AppError, AppResult},
    platform::{
        crypto::Keyring,
        state::Platform,
        templates::{Page, render_with},
    },
};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::Response,
};
use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::Datelike;
use std::convert::Infallible;

pub const AGE_COOKIE: &str = "oc_age";
const SIGNING_PURPOSE: &str = "age-gate";
/// The form field every form uses.
pub const FIELD: &str = "birth_year";

/// The forms that collect personal data and may ask the age question:
/// `(key, label)`. An admin chooses per form whether it asks (site
/// settings `age_question.<key>`, default: it asks); the policy says which do.
pub const FORMS: &[(&str, &str)] = &[
    (NEWSLETTER, "Newsletter (asked on the confirmation page)"),
    (CONTACT, "Contact form and support requests"),
    (CHAT, "Live chat"),
    (CHECKOUT, "Checkout (order requests)"),
    (SURVEYS, "Surveys (when you leave your contact details)"),
];
pub const NEWSLETTER: &str = "newsletter";
pub const CONTACT: &str = "contact";
pub const CHAT: &str = "chat";
pub const CHECKOUT: &str = "checkout";
pub const SURVEYS: &str = "surveys";

#[derive(Debug, PartialEq, Eq)]
pub enum Age {
    /// Old enough: go on.
    Ok,
    /// May be under 13: store nothing, send nothing, call [`refuse`].
    Child,
    /// Not a usable answer: show this beside the field.
    Invalid(&'static str),
}

/// The age gate of one request, taken by a handler as an extractor: holds
/// what the refusal needs (the page, and the platform for the key that
/// signs the cookie and whether it must be secure), so the handler only
/// says where the answer is.
pub struct AgeGate {
    page: Page,
    platform: Platform,
}

impl AgeGate {
    /// Judges the year-of-birth answer: `Ok(Some(message))` to show beside
    /// the field when it is not a usable answer, `Ok(None)` when the person
    /// is old enough, and the kind refusal as the error when they may be
    /// under 13 (or this browser already answered so).
    pub fn check(&self, birth_year: &str) -> AppResult<Option<&'static str>> {
        match assess(&self.page.privacy, birth_year) {
            Age::Ok => Ok(None),
            Age::Invalid(message) => Ok(Some(message)),
            Age::Child => Err(self.refusal()),
        }
    }

    /// [`AgeGate::check`] for the form `form` (one of [`FORMS`]): where an
    /// admin switched its question off, only a browser remembered as a
    /// child is refused.
    pub fn check_form(&self, form: &str, birth_year: &str) -> AppResult<Option<&'static str>> {
        if !self.page.site.asks_age(form) {
            self.check_remembered()?;
            return Ok(None);
        }
        self.check(birth_year)
    }

    /// Refuses a browser remembered as a child, for a form that does not
    /// ask the age itself (an answer to a ticket, an anonymous survey).
    pub fn check_remembered(&self) -> AppResult<()> {
        if self.page.privacy.child {
            return Err(self.refusal());
        }
        Ok(())
    }

    fn refusal(&self) -> AppError {
        let secure = self.platform.config.is_https();
        match refuse(self.page.clone(), &self.platform.keyring, secure) {
            Ok(response) => AppError::Answered(Box::new(response)),
            Err(e) => e,
        }
    }
}

impl<S> FromRequestParts<S> for AgeGate
where
    S: Send + Sync,
    Platform: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let platform = Platform::from_ref(state);
        Ok(AgeGate {
            page: Page::new(&platform, parts),
            platform,
        })
    }
}

/// Judges a year-of-birth answer; a child remembered for this session stays one.
pub fn assess(privacy: &Privacy, birth_year: &str) -> Age {
    if privacy.child {
        return Age::Child;
    }
    assess_year(birth_year, chrono::Utc::now().year())
}

fn assess_year(birth_year: &str, this_year: i32) -> Age {
    let answer = birth_year.trim();
    if answer.is_empty() {
        return Age::Invalid("Please enter your year of birth.");
    }
    let Ok(year) = answer.parse::<i32>() else {
        return Age::Invalid("Please enter a four-digit year, like 1985.");
    };
    if year > this_year || year < this_year - 120 {
        return Age::Invalid("Please enter a four-digit year, like 1985.");
    }
    // With only a year we cannot tell 12 from 13: whoever may be under 13 is treated as such.
    if this_year - year <= 13 {
        Age::Child
    } else {
        Age::Ok
    }
}

/// Whether the signed session cookie says this browser answered as a child.
pub fn remembered_child(cookie_value: Option<&str>, keyring: &Keyring) -> bool {
    cookie_value.and_then(|v| keyring.verify(SIGNING_PURPOSE, v)) == Some("child")
}

#[derive(askama::Template)]
#[template(path = "privacy/under_13.html")]
struct Under13Page {
    page: Page,
}

/// The kind refusal, remembering the answer for the browser session.
fn refuse(page: Page, keyring: &Keyring, secure: bool) -> AppResult<Response> {
    let mut response = render_with(
        StatusCode::FORBIDDEN,
        &Under13Page {
            page: page.titled("Thank you for visiting"),
        },
    )?;
    let cookie = Cookie::build((AGE_COOKIE, keyring.sign(SIGNING_PURPOSE, "child")))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anyone_who_may_be_under_13_is_a_child() {
        assert_eq!(assess_year("1985", 2026), Age::Ok);
        assert_eq!(assess_year("2012", 2026), Age::Ok);
        assert_eq!(assess_year("2013", 2026), Age::Child);
        assert_eq!(assess_year(" 2020 ", 2026), Age::Child);
        for bad in ["", "abc", "85", "2027", "1800", "19 85"] {
            assert!(matches!(assess_year(bad, 2026), Age::Invalid(_)), "{bad:?}");
        }
    }

    #[test]
    fn a_remembered_child_stays_one_whatever_year_comes_next() {
        let keyring = Keyring::from_secret(&[3; 32]);
        let signed = keyring.sign(SIGNING_PURPOSE, "child");
        assert!(remembered_child(Some(&signed), &keyring));
        assert!(
            !remembered_child(Some("child"), &keyring),
            "an unsigned cookie is ignored"
        );
        let privacy = Privacy {
            child: true,
            ..Privacy::default()
        };
        assert_eq!(assess(&privacy, "1970"), Age::Child);
    }
}

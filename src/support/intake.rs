//! The contact form at the edge: reading it (URL-encoded or multipart,
//! strictly UTF-8), spam defences (honeypot, signed timestamp), and turning
//! what was typed into a [`NewTicket`] or messages beside each field.

use super::settings::SupportSettings;
use crate::{
    AppState,
    error::AppError,
    platform::{
        crypto::Keyring,
        forms::{EmailAddress, FieldErrors, text},
        random_token,
    },
    privacy::age,
};
use axum::{
    body::Bytes,
    extract::{FromRequest, Multipart, Request},
    http::{StatusCode, header},
};

pub const MAX_DETAILS_CHARS: usize = 10_000;
pub const MAX_ATTACHMENTS: usize = 3;
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
const STAMP_PURPOSE: &str = "contact-form";

/// The contact form as typed: every field a string, so it can be shown again.
#[derive(Clone, Debug, Default)]
pub struct ContactForm {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub product: String,
    pub product_other: String,
    pub subject: String,
    pub details: String,
    pub birth_year: String,
    /// The honeypot: hidden from people, filled in by robots.
    pub website: String,
    /// Signed `shown-at:nonce`; the nonce makes a double submit one ticket.
    pub token: String,
}

impl ContactForm {
    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "name" => &mut self.name,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "product" => &mut self.product,
            "product_other" => &mut self.product_other,
            "subject" => &mut self.subject,
            "details" => &mut self.details,
            "birth_year" => &mut self.birth_year,
            "website" => &mut self.website,
            "token" => &mut self.token,
            _ => return,
        };
        *slot = value;
    }
}

/// A file as uploaded.
pub struct Upload {
    pub filename: String,
    pub bytes: Bytes,
}

/// The form, its files, and fields that could not be read as text.
pub struct ContactInput {
    pub form: ContactForm,
    pub uploads: Vec<Upload>,
    pub unreadable: FieldErrors,
}

const NOT_UTF8: &str = "This contains text that is not valid UTF-8. Please type it again.";

impl FromRequest<AppState> for ContactInput {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut input = ContactInput {
            form: ContactForm::default(),
            uploads: vec![],
            unreadable: FieldErrors::default(),
        };
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let bytes = Bytes::from_request(req, state)
                .await
                .map_err(|_| AppError::PayloadTooLarge)?;
            for pair in bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
                let mut kv = pair.splitn(2, |b| *b == b'=');
                let (k, v) = (kv.next().unwrap_or(b""), kv.next().unwrap_or(b""));
                let decode = |raw: &[u8]| -> Option<String> {
                    let spaced: Vec<u8> = raw
                        .iter()
                        .map(|&b| if b == b'+' { b' ' } else { b })
                        .collect();
                    percent_encoding::percent_decode(&spaced)
                        .decode_utf8()
                        .ok()
                        .map(|s| s.into_owned())
                };
                let Some(key) = decode(k) else { continue };
                match decode(v) {
                    Some(value) => input.form.set(&key, value),
                    None => input.not_utf8(&key),
                }
            }
        } else if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, state)
                .await
                .map_err(|_| unreadable())?;
            while let Some(field) = multipart.next_field().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge
                } else {
                    unreadable()
                }
            })? {
                let name = field.name().unwrap_or("").to_string();
                let filename = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(|_| unreadable())?;
                if name == "attachments" {
                    // An empty file input still sends a part, with no name and no bytes.
                    if let Some(filename) = filename.filter(|f| !f.is_empty() || !bytes.is_empty())
                    {
                        input.uploads.push(Upload { filename, bytes });
                    }
                    continue;
                }
                match String::from_utf8(bytes.to_vec()) {
                    Ok(value) => input.form.set(&name, value.replace("\r\n", "\n")),
                    Err(_) => input.not_utf8(&name),
                }
            }
        } else {
            return Err(AppError::UnsupportedMediaType(
                "Please send the form as a normal web form.".into(),
            ));
        }
        Ok(input)
    }
}

impl ContactInput {
    fn not_utf8(&mut self, field: &str) {
        if let Some(&known) = [
            "name",
            "email",
            "phone",
            "product",
            "product_other",
            "subject",
            "details",
            "birth_year",
        ]
        .iter()
        .find(|f| **f == field)
        {
            self.unreadable.add(known, NOT_UTF8);
        } else {
            self.unreadable.add("form", NOT_UTF8);
        }
    }
}

fn unreadable() -> AppError {
    AppError::BadRequest(
        "The form could not be read. Please go back, check what you entered and send it again."
            .into(),
    )
}

/// A fresh signed token for a form shown now.
pub fn new_token(keyring: &Keyring, now_ms: i64) -> String {
    keyring.sign(STAMP_PURPOSE, &format!("{now_ms}:{}", random_token(16)))
}

/// Why a submission was refused before its fields were even looked at.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Honeypot,
    BadToken,
    TooFast(i64),
    Stale,
    HourLimit(i64),
    DayLimit(i64),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::HourLimit(_) | Refusal::DayLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    pub fn message(&self, contact_email: &str) -> String {
        match self {
            Refusal::Honeypot => "We did not accept this because a field that people cannot see was filled in, which automated programs do. If you are a person, please check the form and send it again.".into(),
            Refusal::BadToken => "This form has expired or was changed on its way to us. We have loaded a fresh one: please check it and send it again.".into(),
            Refusal::TooFast(secs) => format!("This form came back {secs} seconds after it was shown, faster than a person can fill it in, so we took it for an automated program. Please check it and send it again."),
            Refusal::Stale => "This form was open for too long and has expired. We have loaded a fresh one: please check it and send it again.".into(),
            Refusal::HourLimit(n) => format!("We have already received {n} requests from your network in the last hour, which is as many as we accept. Please try again later, or email us at {contact_email}."),
            Refusal::DayLimit(n) => format!("We have already received {n} requests from your network today, which is as many as we accept. Please try again tomorrow, or email us at {contact_email}."),
        }
    }
}

/// Checks the honeypot and the signed token; returns the form's nonce.
pub fn check_stamp(
    form: &ContactForm,
    keyring: &Keyring,
    now_ms: i64,
    settings: &SupportSettings,
) -> Result<String, Refusal> {
    if !form.website.trim().is_empty() {
        return Err(Refusal::Honeypot);
    }
    let data = keyring
        .verify(STAMP_PURPOSE, form.token.trim())
        .ok_or(Refusal::BadToken)?;
    let (shown, nonce) = data.split_once(':').ok_or(Refusal::BadToken)?;
    let shown: i64 = shown.parse().map_err(|_| Refusal::BadToken)?;
    let age_secs = (now_ms - shown) / 1000;
    if now_ms - shown < settings.min_fill_secs * 1000 {
        return Err(Refusal::TooFast(age_secs.max(0)));
    }
    if age_secs > settings.max_form_age_secs {
        return Err(Refusal::Stale);
    }
    Ok(nonce.to_string())
}

/// A validated attachment.
pub struct Attachment {
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Bytes,
}

/// A validated support request.
pub struct NewTicket {
    pub name: String,
    pub email: EmailAddress,
    pub phone: Option<String>,
    pub phone_e164: Option<String>,
    /// A product from the list, or `other` with `product_other` typed.
    pub product: String,
    pub product_other: Option<String>,
    pub title: String,
    pub details: String,
    pub attachments: Vec<Attachment>,
}

pub const OTHER_PRODUCT: &str = "other";

/// A form to show again: what was typed and what is wrong with it.
pub struct Invalid {
    pub form: ContactForm,
    pub errors: FieldErrors,
}

/// Checks every field; the age question is judged by the caller first
/// (`age_problem`: what to show beside it, if the answer was not usable).
pub fn validate(
    input: ContactInput,
    age_problem: Option<&'static str>,
    settings: &SupportSettings,
) -> Result<NewTicket, Box<Invalid>> {
    let ContactInput {
        form,
        uploads,
        mut unreadable,
    } = input;
    let errors = &mut unreadable;
    if let Some(m) = age_problem {
        errors.add(age::FIELD, m);
    }
    let mut required =
        |field: &'static str, value: &str, max: usize, missing: &str| match text(value, max) {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                errors.add(field, missing);
                None
            }
            Err(e) => {
                errors.add(field, e);
                None
            }
        };
    let name = required("name", &form.name, 100, "Please tell us your name.");
    let title = required(
        "subject",
        &form.subject,
        150,
        "Please give your request a short subject.",
    );
    let details = required(
        "details",
        &form.details,
        MAX_DETAILS_CHARS,
        "Please describe what you need help with.",
    );
    let email = match form.email.parse::<EmailAddress>() {
        Ok(e) => Some(e),
        Err(m) => {
            errors.add("email", m);
            None
        }
    };
    let (phone, phone_e164) = match text(&form.phone, 40) {
        Ok(Some(p)) if !p.chars().any(|c| c.is_ascii_digit()) => {
            errors.add(
                "phone",
                "Please enter a phone number with digits, or leave it empty.",
            );
            (None, None)
        }
        Ok(Some(p)) => {
            let e164 = to_e164(&p, &settings.phone_region);
            (Some(p), e164)
        }
        Ok(None) => (None, None),
        Err(e) => {
            errors.add("phone", e);
            (None, None)
        }
    };
    let product_other = match text(&form.product_other, 80) {
        Ok(v) => v,
        Err(e) => {
            errors.add("product_other", e);
            None
        }
    };
    let chosen = form.product.trim();
    let product = if settings.products.iter().any(|p| p == chosen) {
        Some(chosen.to_string())
    } else if (chosen.is_empty() || chosen == OTHER_PRODUCT) && product_other.is_some() {
        Some(OTHER_PRODUCT.to_string())
    } else if chosen.is_empty() || chosen == OTHER_PRODUCT {
        if !errors.has("product_other") {
            errors.add(
                "product",
                "Please choose the product from the list, or type its name.",
            );
        }
        None
    } else {
        errors.add(
            "product",
            "That product is not in our list any more. Please choose again, or type its name.",
        );
        None
    };
    let attachments = check_uploads(uploads, errors);
    match (name, email, product, title, details) {
        (Some(name), Some(email), Some(product), Some(title), Some(details))
            if errors.is_empty() =>
        {
            Ok(NewTicket {
                name,
                email,
                phone,
                phone_e164,
                product_other: if product == OTHER_PRODUCT {
                    product_other
                } else {
                    None
                },
                product,
                title,
                details,
                attachments,
            })
        }
        _ => Err(Box::new(Invalid {
            form,
            errors: unreadable,
        })),
    }
}

/// The number in E.164 (`+15105550142`) when it parses as a valid number.
pub fn to_e164(typed: &str, region: &str) -> Option<String> {
    let region = region.parse::<phonenumber::country::Id>().ok();
    let number = phonenumber::parse(region, typed).ok()?;
    phonenumber::is_valid(&number)
        .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
}

fn check_uploads(uploads: Vec<Upload>, errors: &mut FieldErrors) -> Vec<Attachment> {
    if uploads.len() > MAX_ATTACHMENTS {
        errors.add(
            "attachments",
            format!("Please attach at most {MAX_ATTACHMENTS} files."),
        );
        return vec![];
    }
    let mut out = vec![];
    for upload in uploads {
        let filename = clean_filename(&upload.filename);
        if upload.bytes.is_empty() {
            errors.add("attachments", format!("{filename} is empty."));
        } else if upload.bytes.len() > MAX_ATTACHMENT_BYTES {
            errors.add(
                "attachments_size",
                format!("{filename} is larger than 5 MB. Please attach a smaller file."),
            );
        } else if let Some(content_type) = sniff(&upload.bytes) {
            out.push(Attachment {
                filename,
                content_type,
                bytes: upload.bytes,
            });
        } else {
            errors.add(
                "attachments_type",
                format!("{filename} is not an image, a PDF or plain text (we check what the file contains, not its name). Please attach one of those."),
            );
        }
    }
    out
}

/// The name part of an uploaded file's name, without controls, bounded.
fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(120).collect();
    if clean.trim().is_empty() {
        "attachment".into()
    } else {
        clean.trim().to_string()
    }
}

/// The type of a file judged by its content alone (magic bytes): images,
/// PDF and UTF-8 plain text. Anything else, whatever its name, is `None`.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
    ];
    if let Some((_, t)) = SIGNATURES.iter().find(|(sig, _)| bytes.starts_with(sig)) {
        return Some(t);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(body).ok()?;
    let binary = text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0c'));
    (!binary).then_some("text/plain; charset=utf-8")
}

/// Which status a form with these errors answers with: the most specific one.
pub fn error_status(errors: &FieldErrors, all_fields: &[&str]) -> StatusCode {
    let other = all_fields
        .iter()
        .any(|f| !f.starts_with("attachments_") && errors.has(f));
    if other {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if errors.has("attachments_size") {
        StatusCode::PAYLOAD_TOO_LARGE
    } else if errors.has("attachments_type") {
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_judged_by_content_not_name() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), Some("image/jpeg"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            sniff("Fehler beim Öffnen\r\n".as_bytes()),
            Some("text/plain; charset=utf-8")
        );
        // A Windows executable, whatever it is called.
        assert_eq!(sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0"), None);
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0"), None);
        assert_eq!(sniff(b"PK\x03\x04\x14\0"), None);
        assert_eq!(
            sniff(&[0xc3, 0x28, 0x41]),
            None,
            "invalid UTF-8 is not text"
        );
    }

    #[test]
    fn phone_numbers_get_e164_when_they_parse() {
        assert_eq!(
            to_e164("(510) 555-0142", "US").as_deref(),
            Some("+15105550142")
        );
        assert_eq!(to_e164("123", "US"), None, "too short to be a number");
        assert_eq!(
            to_e164("(415) 555-2671", "US").as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            to_e164("+44 20 7946 0958", "US").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            to_e164("020 7946 0958", "GB").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(to_e164("call me", "US"), None);
    }

    #[test]
    fn the_stamp_refuses_robots_and_stale_forms() {
        let keyring = Keyring::from_secret(&[9; 32]);
        let s = SupportSettings::default();
        let now = 1_800_000_000_000;
        let mut form = ContactForm {
            token: new_token(&keyring, now - 10_000),
            ..ContactForm::default()
        };
        assert!(check_stamp(&form, &keyring, now, &s).is_ok());
        assert_eq!(
            check_stamp(&form, &keyring, now - 9_000, &s),
            Err(Refusal::TooFast(1))
        );
        assert_eq!(
            check_stamp(&form, &keyring, now + 2 * 86_400_000, &s),
            Err(Refusal::Stale)
        );
        form.token = form.token.replacen("1799", "1798", 1);
        assert_eq!(
            check_stamp(&form, &keyring, now, &s),
            Err(Refusal::BadToken)
        );
        form.token = new_token(&keyring, now - 10_000);
        form.website = "http://spam.example".into();
        assert_eq!(
            check_stamp(&form, &keyring, now, &s),
            Err(Refusal::Honeypot)
        );
    }

    #[test]
    fn uploaded_names_lose_their_paths() {
        assert_eq!(clean_filename("C:\\Users\\ann\\shot.png"), "shot.png");
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("\u{7}"), "attachment");
    }
}

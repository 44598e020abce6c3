//! Paths that carry a secret (a signed link, an access token, an order
//! reference): what analytics counts and what the logs say shows the route,
//! never the token.

use std::borrow::Cow;

/// Every path prefix followed by a token segment.
pub const TOKEN_PREFIXES: &[&str] = &[
    "/support/tickets/",
    "/contact/received/",
    "/newsletter/confirm/",
    "/newsletter/preferences/",
    "/unsubscribe/",
    "/my-data/",
    "/account/sign-in/",
    "/csat/",
    "/checkout/",
    "/chat/verify/",
    "/admin/invite/",
];

/// `path` with the token segment after a [`TOKEN_PREFIXES`] prefix replaced
/// by `{token}` (`/my-data/abc/export.json` → `/my-data/{token}/export.json`);
/// any other path as it is.
pub fn redact_tokens(path: &str) -> Cow<'_, str> {
    for prefix in TOKEN_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            return Cow::Owned(format!("{prefix}{{token}}{tail}"));
        }
    }
    Cow::Borrowed(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_replaced_and_other_paths_kept() {
        assert_eq!(
            redact_tokens("/support/tickets/12-v0.abcDEF_-"),
            "/support/tickets/{token}"
        );
        assert_eq!(
            redact_tokens("/my-data/s3cr3t/export.json"),
            "/my-data/{token}/export.json"
        );
        assert_eq!(redact_tokens("/unsubscribe/x.y"), "/unsubscribe/{token}");
        assert_eq!(redact_tokens("/my-data"), "/my-data");
        assert_eq!(redact_tokens("/my-data/"), "/my-data/");
        assert_eq!(redact_tokens("/articles/hello"), "/articles/hello");
    }
}

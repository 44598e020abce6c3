//! Markdown rendering and sanitising: never panics, never lets script through.
//!
//! The check reads the tags of the output (as html5ever serialises them:
//! text escapes `<`, attribute values are double-quoted with `"` escaped),
//! so `javascript:` written as plain text is fine and the same words in an
//! `href` are not.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let html = officecomms::platform::templates::markdown_to_html(text).to_string();
        for (tag, attributes) in tags(&html) {
            assert!(
                !matches!(
                    tag.as_str(),
                    "script" | "style" | "iframe" | "object" | "embed"
                ),
                "<{tag}> survived sanitising: {html}"
            );
            for (name, value) in attributes {
                assert!(
                    !name.starts_with("on"),
                    "event handler {name} survived: {html}"
                );
                if matches!(name.as_str(), "href" | "src" | "action" | "formaction") {
                    // Browsers ignore whitespace and control characters in a scheme.
                    let url: String = value
                        .chars()
                        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
                        .collect::<String>()
                        .to_ascii_lowercase();
                    for scheme in ["javascript:", "vbscript:", "data:"] {
                        assert!(!url.starts_with(scheme), "{scheme} URL survived: {html}");
                    }
                }
            }
        }
    }
});

/// Each start tag's lower-cased name and attributes (values with `&amp;` and
/// `&quot;` undone; other entities cannot form a scheme's letters here
/// because the serialiser writes them as characters).
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if rest.starts_with('/') || rest.starts_with('!') {
            continue;
        }
        let name_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let tag = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        let mut attributes = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
            if rest.is_empty() || rest.starts_with('>') {
                break;
            }
            let attr_end = rest
                .find(|c: char| c == '=' || c.is_ascii_whitespace() || c == '>')
                .unwrap_or(rest.len());
            let name = rest[..attr_end].to_ascii_lowercase();
            rest = &rest[attr_end..];
            let mut value = String::new();
            if let Some(quoted) = rest.strip_prefix("=\"") {
                let close = quoted.find('"').expect("attribute values are closed");
                value = quoted[..close]
                    .replace("&quot;", "\"")
                    .replace("&amp;", "&");
                rest = &quoted[close + 1..];
            }
            attributes.push((name, value));
        }
        found.push((tag, attributes));
    }
    found
}

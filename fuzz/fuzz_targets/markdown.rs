//! Markdown rendering and sanitising: never panics, never lets script through.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let html = officecomms::platform::templates::markdown_to_html(text).to_ascii_lowercase();
        assert!(!html.contains("<script"), "script survived sanitising");
        assert!(!html.contains("javascript:"), "javascript: URL survived");
        assert!(!html.contains(" onerror="), "event handler survived");
    }
});

//! Chat frames: any text a WebSocket client sends is a frame or a clear
//! refusal, never a panic; the fields the server keeps are cleaned safely.
#![no_main]
use libfuzzer_sys::fuzz_target;
use officecomms::chat::{
    conversations::{clean_body, clean_name, clean_page},
    protocol::{StaffFrame, VisitorFrame},
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = serde_json::from_str::<VisitorFrame>(text);
    let _ = serde_json::from_str::<StaffFrame>(text);
    if let Ok(name) = clean_name(text) {
        assert!(!name.chars().any(char::is_control));
    }
    let _ = clean_page(text);
    if let Ok(body) = clean_body(text) {
        assert!(!body.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
    }
});

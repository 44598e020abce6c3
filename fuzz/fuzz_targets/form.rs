//! Form decoding: any body gives a value or a clear error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Contact {
    name: String,
    email: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    quantity: Option<i64>,
}

fuzz_target!(|data: &[u8]| {
    let _ = officecomms::platform::forms::decode::<Contact>(data);
    let _ = officecomms::platform::forms::decode::<HashMap<String, String>>(data);
});

//! Subscriber CSV import: any file gives rows or a clear error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = officecomms::newsletter::subscribers::parse_csv(data);
});

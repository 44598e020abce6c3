//! Mail in: any bytes on the MTA pipe or in an IMAP mailbox parse into a
//! message or a clear reason to quarantine it, never a panic; what the
//! intake keeps of the headers is one line without controls, and trimming
//! quoted history never grows the text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use officecomms::mail_in::parse::{parse, reference_in, trim_quoted};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(m) => {
            assert!(!m.subject.chars().any(char::is_control));
            assert!(!m.from_name.chars().any(char::is_control));
            assert!(m.subject.chars().count() <= 150);
            assert!(m.answers.len() <= 100);
            // Quoted in our acknowledgement's In-Reply-To: nothing else fits in.
            if let Some(id) = &m.message_id {
                assert!(id.starts_with('<') && id.ends_with('>') && id.len() <= 252);
                assert!(id.bytes().all(|b| b.is_ascii_graphic()));
                assert_eq!(id.matches(['<', '>']).count(), 2);
            }
            if let Some(trimmed) = trim_quoted(&m.text) {
                assert!(trimmed.len() <= m.text.len());
            }
            if let Some(r) = reference_in(&m.subject) {
                assert!(r.starts_with("OC-"));
            }
        }
        Err(why) => assert!(!why.label().is_empty()),
    }
});

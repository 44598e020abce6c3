//! Field encryption at rest (XChaCha20-Poly1305 under per-subject keys),
//! a keyed-hash blind index for lookups, and signed tokens. All keys derive
//! from one secret in the key file (`DATA_DIR/officecomms.key`, mode 0600).

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::{fmt, path::Path};

type HmacSha256 = Hmac<Sha256>;
const NONCE_LEN: usize = 24;

/// A 256-bit data key; each data subject has one, stored only wrapped.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    pub fn generate() -> DataKey {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        DataKey(key)
    }

    /// Encrypts `plaintext`, bound to `context` (say `"tickets.email"`) so a
    /// ciphertext moved to another column does not decrypt. Output: nonce ‖ ciphertext.
    pub fn encrypt(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn decrypt(&self, context: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            bail!("ciphertext too short");
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("decryption failed for {context}"))
    }

    pub fn encrypt_str(&self, context: &str, plaintext: &str) -> Vec<u8> {
        self.encrypt(context, plaintext.as_bytes())
    }

    pub fn decrypt_string(&self, context: &str, sealed: &[u8]) -> anyhow::Result<String> {
        String::from_utf8(self.decrypt(context, sealed)?).context("decrypted field is not UTF-8")
    }
}

/// Every key of the installation, derived from the one secret.
#[derive(Clone)]
pub struct Keyring {
    wrapping: DataKey,
    system: DataKey,
    index: [u8; 32],
    search: [u8; 32],
    signing: [u8; 32],
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

impl Keyring {
    pub fn from_secret(secret: &[u8; 32]) -> Keyring {
        let derive = |label: &str| -> [u8; 32] {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).expect("any key length");
            mac.update(label.as_bytes());
            mac.finalize().into_bytes().into()
        };
        Keyring {
            wrapping: DataKey(derive("officecomms key-wrapping v1")),
            system: DataKey(derive("officecomms system-data v1")),
            index: derive("officecomms blind-index v1"),
            search: derive("officecomms search-words v1"),
            signing: derive("officecomms signing v1"),
        }
    }

    /// Reads the key file, which must exist: a command that only stores
    /// (`mail-in`) never makes a key of its own, or what it sealed would
    /// be unreadable to the site.
    pub fn load(path: &Path) -> anyhow::Result<Keyring> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading key file {} (start `officecomms serve` or `migrate` on this data dir first)",
                path.display()
            )
        })?;
        Keyring::parse(&text)
    }

    fn parse(text: &str) -> anyhow::Result<Keyring> {
        let bytes = hex::decode(text.trim()).context("key file is not hex")?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("key file must hold 32 bytes"))?;
        Ok(Keyring::from_secret(&secret))
    }

    /// Reads the key file, creating it (mode 0600) with a fresh secret if absent.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Keyring> {
        match std::fs::read_to_string(path) {
            Ok(text) => Keyring::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                rand::fill(&mut secret);
                write_private(path, format!("{}\n", hex::encode(secret)).as_bytes())
                    .with_context(|| format!("creating key file {}", path.display()))?;
                Ok(Keyring::from_secret(&secret))
            }
            Err(e) => Err(e).with_context(|| format!("reading key file {}", path.display())),
        }
    }

    /// Key for personal data that belongs to no subject yet (say a mail to a
    /// staff member); never used where erasure must shred.
    pub fn system_key(&self) -> &DataKey {
        &self.system
    }

    pub fn wrap(&self, subject_id: i64, key: &DataKey) -> Vec<u8> {
        self.wrapping
            .encrypt(&format!("subject-key:{subject_id}"), &key.0)
    }

    pub fn unwrap(&self, subject_id: i64, wrapped: &[u8]) -> anyhow::Result<DataKey> {
        let raw = self
            .wrapping
            .decrypt(&format!("subject-key:{subject_id}"), wrapped)?;
        Ok(DataKey(raw.try_into().map_err(|_| {
            anyhow::anyhow!("wrapped key has wrong length")
        })?))
    }

    /// Keyed hash of a normalised value: finds a subject by email without
    /// storing the email in the clear.
    pub fn blind_index(&self, kind: &str, normalised: &str) -> Vec<u8> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.index).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Keyed hash of one search term of one kind of record (`ticket`,
    /// `order`, …), cut to 64 bits: a blind word index stores these only.
    /// The kind is in the hash, so the same word in a ticket and in an
    /// order gives two unrelated values.
    pub fn search_hash(&self, kind: &str, term: &str) -> i64 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.search).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(term.as_bytes());
        let bytes = mac.finalize().into_bytes();
        i64::from_be_bytes(bytes[..8].try_into().expect("32-byte MAC"))
    }

    /// Signs `data` for `purpose`; the result is URL-safe.
    pub fn sign(&self, purpose: &str, data: &str) -> String {
        format!("{data}.{}", URL_SAFE_NO_PAD.encode(self.mac(purpose, data)))
    }

    /// Returns the signed data if the signature is good.
    pub fn verify<'a>(&self, purpose: &str, signed: &'a str) -> Option<&'a str> {
        let (data, sig) = signed.rsplit_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.signing).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data.as_bytes());
        mac.verify_slice(&sig).ok().map(|_| data)
    }

    fn mac(&self, purpose: &str, data: &str) -> Vec<u8> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.signing).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertext_is_bound_to_its_column_and_key() {
        let key = DataKey::generate();
        let sealed = key.encrypt_str("tickets.email", "ann@example.com");
        assert!(!sealed.windows(3).any(|w| w == b"ann"));
        assert_eq!(
            key.decrypt_string("tickets.email", &sealed).unwrap(),
            "ann@example.com"
        );
        assert!(key.decrypt("tickets.name", &sealed).is_err());
        assert!(
            DataKey::generate()
                .decrypt("tickets.email", &sealed)
                .is_err()
        );
    }

    #[test]
    fn wrapped_keys_open_only_for_their_subject() {
        let ring = Keyring::from_secret(&[7; 32]);
        let key = DataKey::generate();
        let wrapped = ring.wrap(1, &key);
        let back = ring.unwrap(1, &wrapped).unwrap();
        assert_eq!(back.0, key.0);
        assert!(ring.unwrap(2, &wrapped).is_err());
    }

    #[test]
    fn signatures_refuse_tampering_and_other_purposes() {
        let ring = Keyring::from_secret(&[1; 32]);
        let signed = ring.sign("cart", "abc");
        assert_eq!(ring.verify("cart", &signed), Some("abc"));
        assert_eq!(ring.verify("other", &signed), None);
        assert_eq!(ring.verify("cart", &signed.replace("abc", "abd")), None);
        assert_eq!(
            ring.blind_index("email", "a@b.c"),
            ring.blind_index("email", "a@b.c")
        );
        assert_ne!(
            ring.blind_index("email", "a@b.c"),
            Keyring::from_secret(&[2; 32]).blind_index("email", "a@b.c")
        );
    }

    #[test]
    fn key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let a = Keyring::load_or_create(&path).unwrap();
        let b = Keyring::load_or_create(&path).unwrap();
        assert_eq!(a.index, b.index);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}

//! Two-step sign-in for staff: TOTP (RFC 6238, 30-second steps, six
//! digits) with ten single-use recovery codes. The shared secret is sealed
//! under the system key; recovery codes are kept as keyed hashes. A code is
//! accepted once: the newest accepted time step is stored and an update
//! that does not move it forward fails, on every instance at once.

use super::StaffUser;
use crate::platform::{
    Platform,
    crypto::Keyring,
    db::{Db, Tx},
    settings,
};
use anyhow::Context;
use totp_rs::{Builder, Totp};

/// The settings key that, set to `on`, requires two-step sign-in of every member.
pub const REQUIRE_SETTING: &str = "staff.require_two_factor";
/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODES: usize = 10;
const SECRET_BYTES: usize = 20;
const RECOVERY_KIND: &str = "staff-recovery-code";
/// Letters and digits that cannot be mistaken for one another.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

fn seal_context(user_id: i64) -> String {
    format!("staff_two_factor.secret:{user_id}")
}

/// Whether admins require two-step sign-in of every member.
pub async fn required(db: &Db) -> anyhow::Result<bool> {
    Ok(settings::get_raw(db, REQUIRE_SETTING).await?.as_deref() == Some("on"))
}

/// The authenticator's view of a secret: issuer and account shown in the app.
fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> anyhow::Result<Totp> {
    let issuer = issuer.replace(':', " ");
    let issuer = if issuer.trim().is_empty() {
        "officecomms".to_string()
    } else {
        issuer.trim().to_string()
    };
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account.replace(':', ""))
        .build()
        .map_err(|e| anyhow::anyhow!("building the TOTP: {e:?}"))
}

/// A member's second factor as stored.
struct Stored {
    secret: Vec<u8>,
    enabled_at: Option<i64>,
}

async fn stored(db: &Db, keyring: &Keyring, user_id: i64) -> anyhow::Result<Option<Stored>> {
    let row: Option<(Vec<u8>, Option<i64>)> =
        sqlx::query_as("SELECT secret, enabled_at FROM staff_two_factor WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await
            .context("reading the second factor")?;
    row.map(|(sealed, enabled_at)| {
        Ok(Stored {
            secret: keyring
                .system_key()
                .decrypt(&seal_context(user_id), &sealed)?,
            enabled_at,
        })
    })
    .transpose()
}

/// What a member's account page says about their second factor.
pub struct Status {
    /// When it was switched on, if it is.
    pub enabled_at: Option<i64>,
    /// Recovery codes not used yet.
    pub codes_left: i64,
    /// Admins require it of everyone.
    pub required: bool,
}

pub async fn status(db: &Db, user_id: i64) -> anyhow::Result<Status> {
    let enabled_at: Option<Option<i64>> =
        sqlx::query_scalar("SELECT enabled_at FROM staff_two_factor WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await?;
    let codes_left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM staff_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(Status {
        enabled_at: enabled_at.flatten(),
        codes_left,
        required: required(db).await?,
    })
}

pub async fn is_enabled(db: &Db, user_id: i64) -> anyhow::Result<bool> {
    Ok(status(db, user_id).await?.enabled_at.is_some())
}

/// An enrolment waiting for its first code: what the member copies into
/// their authenticator app.
pub struct Enrolment {
    /// `otpauth://totp/…`, also drawn as the QR code.
    pub uri: String,
    /// The secret in base32, in groups of four for typing.
    pub secret: String,
    /// The QR code as inline SVG, drawn here (no script, no other site).
    pub qr_svg: String,
}

/// Starts (or continues) an enrolment: a fresh secret unless one is waiting
/// for its first code. `None` when the member already has a second factor.
pub async fn enrolment(state: &Platform, user: &StaffUser) -> anyhow::Result<Option<Enrolment>> {
    let secret = match stored(&state.db, &state.keyring, user.id).await? {
        Some(s) if s.enabled_at.is_some() => return Ok(None),
        Some(s) => s.secret,
        None => {
            let mut secret = vec![0u8; SECRET_BYTES];
            rand::fill(&mut secret[..]);
            let sealed = state
                .keyring
                .system_key()
                .encrypt(&seal_context(user.id), &secret);
            let mut tx = state.db.begin().await?;
            // Two tabs starting at once: the first secret stays.
            let started = sqlx::query(
                "INSERT INTO staff_two_factor (user_id, secret, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user.id)
            .bind(sealed)
            .bind(state.clock.now())
            .execute(&mut *tx)
            .await
            .context("starting an enrolment")?
            .rows_affected();
            if started == 1 {
                super::audit::record(
                    &mut tx,
                    super::audit::Actor::Staff(user),
                    "two-factor-start",
                    "staff_user",
                    user.id,
                    "setting up two-step sign-in: a new secret made",
                )
                .await?;
            }
            tx.commit().await?;
            match stored(&state.db, &state.keyring, user.id).await? {
                Some(s) if s.enabled_at.is_none() => s.secret,
                _ => return Ok(None),
            }
        }
    };
    let totp = totp(secret, &state.site().company_name, &user.email)?;
    let uri = totp
        .to_url()
        .map_err(|e| anyhow::anyhow!("otpauth URI: {e:?}"))?;
    let b32 = totp.secret().to_base32();
    let secret = b32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Some(Enrolment {
        qr_svg: qr_svg(&uri)?,
        uri,
        secret,
    }))
}

/// The QR code of `text` as an inline SVG element (without the XML prolog).
fn qr_svg(text: &str) -> anyhow::Result<String> {
    use qrcode::{EcLevel, QrCode, render::svg};
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .context("drawing the QR code")?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" class=\"qr\" ",
        1,
    ))
}

/// Normalises what a person typed: spaces and dashes go, letters lower.
fn normalise(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn now_secs(state: &Platform) -> u64 {
    u64::try_from(state.clock.now() / 1000).unwrap_or(0)
}

/// Confirms an enrolment with its first code: switches the second factor
/// on and returns the recovery codes, shown once. `None` for a wrong code.
pub async fn confirm(
    state: &Platform,
    tx: &mut Tx,
    user: &StaffUser,
    typed: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    let Some(pending) = stored(&state.db, &state.keyring, user.id).await? else {
        return Ok(None);
    };
    if pending.enabled_at.is_some() {
        return Ok(None);
    }
    let totp = totp(pending.secret, &state.site().company_name, &user.email)?;
    let Some(step) = totp.check(&normalise(typed), now_secs(state)) else {
        return Ok(None);
    };
    let switched = sqlx::query(
        "UPDATE staff_two_factor SET enabled_at = $1, last_step = $2 \
         WHERE user_id = $3 AND enabled_at IS NULL",
    )
    .bind(state.clock.now())
    .bind(i64::try_from(step).unwrap_or(i64::MAX))
    .bind(user.id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if switched != 1 {
        return Ok(None);
    }
    Ok(Some(new_recovery_codes(state, tx, user.id).await?))
}

/// Replaces a member's recovery codes with ten fresh ones.
async fn new_recovery_codes(
    state: &Platform,
    tx: &mut Tx,
    user_id: i64,
) -> anyhow::Result<Vec<String>> {
    sqlx::query("DELETE FROM staff_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut raw = [0u8; 10];
        rand::fill(&mut raw);
        let letters: String = raw
            .iter()
            .map(|b| RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()] as char)
            .collect();
        sqlx::query(
            "INSERT INTO staff_recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(state.keyring.blind_index(RECOVERY_KIND, &letters))
        .bind(state.clock.now())
        .execute(&mut **tx)
        .await?;
        codes.push(format!("{}-{}", &letters[..5], &letters[5..]));
    }
    Ok(codes)
}

/// How a member proved the second step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A code from their authenticator app.
    Code,
    /// One of their recovery codes, now used up.
    RecoveryCode,
}

impl Proof {
    /// What it was, with its article ("a recovery code"), for the audit log.
    pub fn label(self) -> &'static str {
        match self {
            Proof::Code => "an authenticator code",
            Proof::RecoveryCode => "a recovery code",
        }
    }
}

/// Checks a code (six digits) or a recovery code for a member with a
/// second factor, and uses it up in `tx`. `None`: wrong, or already used.
pub async fn verify(
    state: &Platform,
    tx: &mut Tx,
    user: &StaffUser,
    typed: &str,
) -> anyhow::Result<Option<Proof>> {
    let typed = normalise(typed);
    if typed.is_empty() || typed.len() > 40 {
        return Ok(None);
    }
    if typed.len() == 6 && typed.bytes().all(|b| b.is_ascii_digit()) {
        let Some(stored) = stored(&state.db, &state.keyring, user.id).await? else {
            return Ok(None);
        };
        if stored.enabled_at.is_none() {
            return Ok(None);
        }
        let totp = totp(stored.secret, &state.site().company_name, &user.email)?;
        let Some(step) = totp.check(&typed, now_secs(state)) else {
            return Ok(None);
        };
        // Only a newer step than any accepted before: a code seen once
        // (over a shoulder, in a proxy's log) is worthless afterwards.
        let moved = sqlx::query(
            "UPDATE staff_two_factor SET last_step = $1 \
             WHERE user_id = $2 AND enabled_at IS NOT NULL AND last_step < $1",
        )
        .bind(i64::try_from(step).unwrap_or(i64::MAX))
        .bind(user.id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        return Ok((moved == 1).then_some(Proof::Code));
    }
    let used = sqlx::query(
        "UPDATE staff_recovery_codes SET used_at = $1 \
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(state.clock.now())
    .bind(user.id)
    .bind(state.keyring.blind_index(RECOVERY_KIND, &typed))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok((used == 1).then_some(Proof::RecoveryCode))
}

/// Switches a member's second factor off and forgets its secret and codes.
pub async fn disable(tx: &mut Tx, user_id: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM staff_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM staff_two_factor WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Abandons an enrolment not confirmed yet (the member chose "cancel");
/// false when there was none.
pub async fn cancel_enrolment(tx: &mut Tx, user_id: i64) -> anyhow::Result<bool> {
    let gone =
        sqlx::query("DELETE FROM staff_two_factor WHERE user_id = $1 AND enabled_at IS NULL")
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    Ok(gone == 1)
}

/// Whether admins require a second factor `user_id` has not set up: their
/// session is good for setting it up (and signing out) only.
pub async fn owed(db: &Db, user_id: i64) -> anyhow::Result<bool> {
    let owed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM settings WHERE key = $1 AND value = 'on' AND NOT EXISTS \
         (SELECT 1 FROM staff_two_factor WHERE user_id = $2 AND enabled_at IS NOT NULL)",
    )
    .bind(REQUIRE_SETTING)
    .bind(user_id)
    .fetch_one(&db.pool)
    .await
    .context("is a second factor owed")?;
    Ok(owed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(normalise(" 123 456 "), "123456");
        assert_eq!(normalise("ABCDE-fghjk"), "abcdefghjk");
    }

    #[test]
    fn the_qr_code_is_an_inline_svg_with_a_name() {
        let svg =
            qr_svg("otpauth://totp/officecomms:dana@example.com?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label="));
        assert!(!svg.contains("<?xml"));
        assert!(svg.contains("<path"));
    }

    #[test]
    fn codes_from_the_secret_check_against_their_step() {
        let t = totp(vec![7; 20], "officecomms", "dana@example.com").unwrap();
        let now = 1_800_000_000;
        let code = t.generate(now).to_string();
        assert_eq!(t.check(&code, now), Some(now / 30));
        assert_eq!(t.check("000000x", now), None);
        assert!(t.to_url().unwrap().starts_with("otpauth://totp/"));
    }
}

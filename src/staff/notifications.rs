//! The one way to tell a staff member something needs them (issue 25): a
//! notification in the back office (the top bar's bell, `/admin/notifications`)
//! and/or a mail through the outbox, as the member chose at `/admin/account`,
//! written in the caller's transaction and kept once per dedupe key.
//!
//! Features say what happened with a [`Notice`] (a [`Kind`], what it is
//! about, a link); the words are made here, so every kind reads the same
//! in the list and in the mail. A notice never carries what a person wrote;
//! the requester's name, where it is shown, is sealed under their key.

use super::db;
use crate::platform::{
    Platform,
    db::{Db, Tx},
    mail::{self, EmailTemplate, Recipient},
    subjects::{self, Subject},
};
use anyhow::Context;
use futures_util::future::BoxFuture;

/// What a notification is about; each member chooses, per kind, mail and/or
/// the back office.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The requester of a ticket assigned to you answered.
    VisitorAnswered,
    /// Someone else assigned a ticket to you.
    AssignedToYou,
    /// A live chat has waited longer than the support setting.
    ChatWaiting,
    /// A ticket nears its response target.
    SlaNearing,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::VisitorAnswered,
        Kind::AssignedToYou,
        Kind::ChatWaiting,
        Kind::SlaNearing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VisitorAnswered => "visitor_answered",
            Kind::AssignedToYou => "assigned_to_you",
            Kind::ChatWaiting => "chat_waiting",
            Kind::SlaNearing => "sla_nearing",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The row of the choices table on the account page.
    pub fn label(self) -> &'static str {
        match self {
            Kind::VisitorAnswered => "A requester answers a ticket assigned to you",
            Kind::AssignedToYou => "Someone assigns a ticket to you",
            Kind::ChatWaiting => "A visitor waits in live chat",
            Kind::SlaNearing => "A ticket nears its response target",
        }
    }

    /// `(by mail, in the back office)` for a member who never chose: all
    /// on, except mail for waiting chats (they are answered in minutes, in
    /// the console, or not at all).
    pub fn defaults(self) -> Choice {
        Choice {
            kind: self,
            by_mail: self != Kind::ChatWaiting,
            in_app: true,
        }
    }
}

/// One member's choice for one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    pub kind: Kind,
    pub by_mail: bool,
    pub in_app: bool,
}

/// What happened, as a feature tells it.
pub struct Notice<'a> {
    pub kind: Kind,
    /// What it is about as people name it: a ticket's reference.
    pub about: String,
    /// The rest of the words: who assigned ("Sam"), how long a chat waited
    /// ("2 min"). Never personal data of a visitor.
    pub detail: String,
    /// The requester and their name, for "Dana Whitfield answered …": the
    /// name is stored sealed under their key, never put in a mail, and the
    /// notification goes when they are erased.
    pub person: Option<(&'a Subject, &'a str)>,
    /// Where it leads, a path inside the back office (`/admin/tickets/7`).
    pub link: String,
    /// Keeps one notification (and one mail) per member and key.
    pub key: String,
}

/// The words of a notification; `person` is the requester's name, if known.
fn title(kind: Kind, about: &str, detail: &str, person: Option<&str>) -> String {
    match kind {
        Kind::VisitorAnswered => match person {
            Some(name) if !name.is_empty() => format!("{name} answered {about}"),
            _ => format!("The requester answered {about}"),
        },
        Kind::AssignedToYou => format!("{about} was assigned to you by {detail}"),
        Kind::ChatWaiting => format!("A visitor has waited {detail} in chat"),
        Kind::SlaNearing if detail.is_empty() => format!("{about} nears its response target"),
        Kind::SlaNearing => format!("{about}: {detail}"),
    }
}

/// A mail's subject: the words without the requester's name.
fn mail_subject(kind: Kind, about: &str, detail: &str) -> String {
    match kind {
        Kind::VisitorAnswered => format!("New answer on {about}"),
        _ => title(kind, about, detail, None),
    }
}

crate::email_template!(pub struct NoticeMail { subject: String, sentence: String, link: String, choice: String, settings_link: String, company: String }
    subject "email/staff_notice/subject.txt",
    text "email/staff_notice/body.txt",
    html "email/staff_notice/body.html",
);

/// The member's choices, the defaults where they never chose.
pub async fn choices(db: &Db, user_id: i64) -> Result<Vec<Choice>, sqlx::Error> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT kind, by_mail, in_app FROM staff_notification_choices WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(Kind::ALL
        .into_iter()
        .map(|kind| {
            rows.iter().find(|(k, ..)| k == kind.as_str()).map_or(
                kind.defaults(),
                |(_, mail, app)| Choice {
                    kind,
                    by_mail: *mail != 0,
                    in_app: *app != 0,
                },
            )
        })
        .collect())
}

async fn choice_in(tx: &mut Tx, user_id: i64, kind: Kind) -> Result<Choice, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT by_mail, in_app FROM staff_notification_choices WHERE user_id = $1 AND kind = $2",
    )
    .bind(user_id)
    .bind(kind.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map_or(kind.defaults(), |(mail, app)| Choice {
        kind,
        by_mail: mail != 0,
        in_app: app != 0,
    }))
}

/// Stores every kind's choice of the member.
pub async fn save_choices(tx: &mut Tx, user_id: i64, all: &[Choice]) -> Result<(), sqlx::Error> {
    for c in all {
        sqlx::query(
            "INSERT INTO staff_notification_choices (user_id, kind, by_mail, in_app) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, kind) DO UPDATE SET by_mail = excluded.by_mail, in_app = excluded.in_app",
        )
        .bind(user_id)
        .bind(c.kind.as_str())
        .bind(i64::from(c.by_mail))
        .bind(i64::from(c.in_app))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Tells staff member `user_id` about `notice`, as they chose, in `tx`: a
/// notification in the back office and/or a mail through the outbox, each
/// once per `notice.key`. Nothing for a disabled or unknown member. Returns
/// whether anything new was recorded or enqueued.
pub async fn notify(
    platform: &Platform,
    tx: &mut Tx,
    user_id: i64,
    notice: &Notice<'_>,
) -> anyhow::Result<bool> {
    let Some((email, _, disabled)) = db::user_state(tx, user_id).await? else {
        return Ok(false);
    };
    if disabled != 0 {
        return Ok(false);
    }
    let choice = choice_in(tx, user_id, notice.kind).await?;
    let mut done = false;
    if choice.in_app {
        let (subject_id, person) = match notice.person {
            Some((subject, name)) => (
                Some(subject.id),
                Some(subject.seal("staff_notifications", "person", name)),
            ),
            None => (None, None),
        };
        let inserted = sqlx::query(
            "INSERT INTO staff_notifications (user_id, kind, about, detail, link, subject_id, person, dedupe_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (user_id, dedupe_key) DO NOTHING",
        )
        .bind(user_id)
        .bind(notice.kind.as_str())
        .bind(&notice.about)
        .bind(&notice.detail)
        .bind(&notice.link)
        .bind(subject_id)
        .bind(person)
        .bind(&notice.key)
        .bind(platform.clock.now())
        .execute(&mut **tx)
        .await
        .context("recording a staff notification")?
        .rows_affected();
        done |= inserted > 0;
    }
    if choice.by_mail {
        let site = platform.site();
        let absolute = |path: &str| -> anyhow::Result<String> {
            Ok(platform
                .config
                .base_url
                .join(path.trim_start_matches('/'))
                .context("building a back-office link")?
                .to_string())
        };
        let subject = mail_subject(notice.kind, &notice.about, &notice.detail);
        let mail = NoticeMail {
            sentence: format!("{subject}."),
            subject,
            link: absolute(&notice.link)?,
            choice: notice.kind.label().to_string(),
            settings_link: absolute("/admin/account#notifications")?,
            company: site.company_name.clone(),
        };
        let reason = format!("staff-{}", notice.kind.as_str().replace('_', "-"));
        done |= mail::enqueue(
            tx,
            &platform.keyring,
            &site,
            Recipient::System,
            &reason,
            &format!("{reason}:{user_id}:{}", notice.key),
            &mail.to_mail(&email)?,
        )
        .await?;
    }
    Ok(done)
}

/// Unread notifications of the signed-in member (the top bar's bell).
pub fn count_unread<'a>(
    platform: &'a Platform,
    user: &'a super::StaffUser,
) -> BoxFuture<'a, anyhow::Result<i64>> {
    Box::pin(async move { Ok(unread(&platform.db, user.id).await?) })
}

pub async fn unread(db: &Db, user_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM staff_notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&db.pool)
    .await
}

/// A notification as the list shows it.
pub struct Listed {
    pub id: i64,
    pub title: String,
    pub created_at: i64,
    pub read: bool,
}

/// The member's newest notifications, at most `limit`, in words.
pub async fn list(platform: &Platform, user_id: i64, limit: i64) -> anyhow::Result<Vec<Listed>> {
    type Row = (
        i64,
        String,
        String,
        String,
        Option<i64>,
        Option<Vec<u8>>,
        i64,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, kind, about, detail, subject_id, person, created_at, read_at FROM staff_notifications \
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(&platform.db.pool)
    .await?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.4).collect();
    let keys = subjects::keys_of(&platform.db, &platform.keyring, &ids).await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(id, kind, about, detail, subject_id, person, created_at, read_at)| {
                let kind = Kind::parse(&kind)?;
                // The name opens with the requester's key; erased, it reads
                // "The requester".
                let name = match (subject_id, person) {
                    (Some(sid), Some(sealed)) => keys.get(&sid).and_then(|key| {
                        Subject {
                            id: sid,
                            key: key.clone(),
                        }
                        .open("staff_notifications", "person", &sealed)
                        .ok()
                    }),
                    _ => None,
                };
                Some(Listed {
                    id,
                    title: title(kind, &about, &detail, name.as_deref()),
                    created_at,
                    read: read_at.is_some(),
                })
            },
        )
        .collect())
}

/// Marks one of the member's notifications read; its link, or `None` when
/// it is not theirs.
pub async fn open(
    tx: &mut Tx,
    user_id: i64,
    id: i64,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let link: Option<String> =
        sqlx::query_scalar("SELECT link FROM staff_notifications WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
    if link.is_some() {
        sqlx::query(
            "UPDATE staff_notifications SET read_at = $1 WHERE id = $2 AND user_id = $3 AND read_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(link)
}

/// Marks every notification of the member read; how many were unread.
pub async fn mark_all_read(tx: &mut Tx, user_id: i64, now: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE staff_notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_as_sentences_and_mails_never_name_the_requester() {
        assert_eq!(
            title(
                Kind::VisitorAnswered,
                "OC-2026-000123",
                "",
                Some("Dana Whitfield")
            ),
            "Dana Whitfield answered OC-2026-000123"
        );
        assert_eq!(
            mail_subject(Kind::VisitorAnswered, "OC-2026-000123", ""),
            "New answer on OC-2026-000123"
        );
        assert_eq!(
            title(Kind::AssignedToYou, "OC-2026-000123", "Sam", None),
            "OC-2026-000123 was assigned to you by Sam"
        );
        assert_eq!(
            title(Kind::ChatWaiting, "", "2 min", None),
            "A visitor has waited 2 min in chat"
        );
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("everything"), None);
    }
}

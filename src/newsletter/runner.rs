//! The campaign runner: starts scheduled campaigns when their time comes
//! and queues their mail in batches, each batch one transaction that moves
//! the campaign's cursor, so a crash or a second instance never queues a
//! recipient twice (the outbox's dedupe key makes sure of it too).

use super::{
    compliance::{self, Addressee, Prepared},
    db::{self, Campaign, Draft},
    link_token,
};
use crate::{
    AppState,
    platform::{
        mail::{self, Queued},
        now_ms,
    },
    privacy::{
        erasure,
        subjects::{self, Subject},
    },
};
use anyhow::Context;
use std::time::Duration;

/// Outbox reasons of campaign mail start with this.
pub const REASON_PREFIX: &str = "campaign:";
/// Subscribers read, checked and queued per transaction: a batch's
/// rendered and sealed mails are what the runner holds in memory at once
/// (about 10 KB each for a short campaign).
const BATCH: i64 = 250;
/// At most this many of a campaign's mails wait in the outbox: the next
/// subscribers are read as the outbox drains, so the memory, the outbox
/// and the log stay small whatever the list's size, and a pause holds
/// little (issue 26).
const AHEAD: i64 = 2000;

/// What a look at the sending campaigns found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A batch was queued; there may be more at once.
    Queued,
    /// The outbox holds enough of a campaign's mail for now.
    Waiting,
    /// Nothing to do.
    Idle,
}

pub fn reason(campaign_id: i64) -> String {
    format!("{REASON_PREFIX}{campaign_id}")
}

pub fn draft_of(c: &Campaign) -> Draft {
    Draft {
        subject: c.subject.clone(),
        from_name: c.from_name.clone(),
        reply_to: c.reply_to.clone(),
        body: c.body.clone(),
        topics: c.topics.clone(),
        commercial: c.commercial != 0,
        ad_label: c.ad_label.clone(),
    }
}

/// Runs until shutdown, looking for work every second.
pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let pause = match run_due(&state).await {
            Ok(Step::Queued) => continue,
            // The outbox drains a batch in about half a second at speed.
            Ok(Step::Waiting) => Duration::from_millis(25),
            Ok(Step::Idle) => Duration::from_secs(1),
            Err(e) => {
                tracing::error!(error = ?e, "campaign runner");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Queues one batch of every campaign that is sending (and has room in
/// the outbox).
pub async fn run_due(state: &AppState) -> anyhow::Result<Step> {
    let mut step = Step::Idle;
    for campaign in db::due_campaigns(&state.db, now_ms()).await? {
        if state.stopping() {
            return Ok(Step::Idle);
        }
        step = match (step, queue_batch(state, &campaign).await?) {
            (Step::Queued, _) | (_, Step::Queued) => Step::Queued,
            (Step::Waiting, _) | (_, Step::Waiting) => Step::Waiting,
            _ => Step::Idle,
        };
    }
    Ok(step)
}

/// The unsubscribe and preference links of one subscriber for one campaign.
pub fn links(
    state: &AppState,
    subscriber_id: i64,
    campaign_id: i64,
) -> anyhow::Result<(String, String)> {
    let token = link_token(&state.keyring, subscriber_id, campaign_id, now_ms());
    let base = &state.config.base_url;
    Ok((
        base.join(&format!("unsubscribe/{token}"))?.to_string(),
        base.join(&format!("newsletter/preferences/{token}"))?
            .to_string(),
    ))
}

/// Queues the next batch of a sending campaign.
async fn queue_batch(state: &AppState, campaign: &Campaign) -> anyhow::Result<Step> {
    let site = state.site();
    // The same checks as at the press of the button: settings may have
    // changed since (the postal address removed, say). Then it waits.
    let prepared = match compliance::prepare(&draft_of(campaign), &site, &state.config.base_url) {
        Ok(p) => p,
        Err(failures) => {
            tracing::warn!(
                campaign = campaign.id,
                ?failures,
                "campaign paused: a check fails"
            );
            let mut tx = state.db.begin().await?;
            db::set_status(&mut tx, campaign.id, &["sending"], "paused", None).await?;
            tx.commit().await?;
            return Ok(Step::Idle);
        }
    };
    if mail::pending(&state.db, &reason(campaign.id)).await? >= AHEAD {
        return Ok(Step::Waiting);
    }
    let rows = db::confirmed_after(&state.db, campaign.enqueued_through, BATCH).await?;
    let Some(last) = rows.last().map(|r| r.id) else {
        // All queued; it is sent once nothing of it waits in the outbox.
        let waiting = mail::counts(&state.db, &reason(campaign.id))
            .await?
            .iter()
            .any(|(status, n)| matches!(status.as_str(), "pending" | "held") && *n > 0);
        if !waiting {
            db::finish(&state.db, campaign.id, now_ms()).await?;
        }
        return Ok(Step::Idle);
    };
    let keys = subjects::keys_of(
        &state.db,
        &state.keyring,
        &rows.iter().map(|r| r.subject_id).collect::<Vec<_>>(),
    )
    .await?;
    let mut recipients = Vec::with_capacity(rows.len());
    for row in &rows {
        let wants = super::topics_from_text(&row.topics)
            .iter()
            .any(|t| prepared.topic_keys.contains(t));
        let Some(key) = keys.get(&row.subject_id) else {
            continue; // erased meanwhile
        };
        if !wants {
            continue;
        }
        let subject = Subject {
            id: row.subject_id,
            key: key.clone(),
        };
        let email = subject.open("newsletter_subscribers", "email", &row.email)?;
        let name = match &row.name {
            Some(sealed) => subject.open("newsletter_subscribers", "name", sealed)?,
            None => String::new(),
        };
        let index = state
            .keyring
            .blind_index("email", &subjects::normalise_email(&email));
        recipients.push((row.id, subject, email, name, index));
    }
    let indexes: Vec<Vec<u8>> = recipients.iter().map(|r| r.4.clone()).collect();
    let suppressed = erasure::suppressed_among(&state.db, &indexes).await?;
    let mut skipped = 0;
    let mut items = Vec::with_capacity(recipients.len());
    for (subscriber_id, subject, email, name, index) in &recipients {
        if suppressed.contains(index) {
            skipped += 1;
            continue;
        }
        items.push(message(
            state,
            &prepared,
            campaign.id,
            *subscriber_id,
            subject,
            email,
            name,
        )?);
    }
    let mut tx = state.db.begin().await?;
    if !db::advance(
        &mut tx,
        campaign.id,
        campaign.enqueued_through,
        last,
        skipped,
    )
    .await?
    {
        // Paused, or another instance queued this batch first.
        return Ok(Step::Idle);
    }
    mail::enqueue_many(&mut tx, &site, &reason(campaign.id), &items)
        .await
        .context("queueing a campaign batch")?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Step::Queued)
}

fn message<'a>(
    state: &AppState,
    prepared: &Prepared,
    campaign_id: i64,
    subscriber_id: i64,
    subject: &'a Subject,
    email: &str,
    name: &str,
) -> anyhow::Result<Queued<'a>> {
    let (unsubscribe_url, preferences_url) = links(state, subscriber_id, campaign_id)?;
    let mail = prepared.message_for(&Addressee {
        email,
        name,
        unsubscribe_url: &unsubscribe_url,
        preferences_url: &preferences_url,
    })?;
    Ok(Queued {
        subject,
        dedupe_key: format!("{}:{subscriber_id}", reason(campaign_id)),
        mail,
    })
}

/// How many subscribers a campaign sent now would reach: confirmed, asking
/// for one of its topics, not erased or suppressed.
pub async fn recipient_count(state: &AppState, campaign: &Campaign) -> anyhow::Result<i64> {
    let topics = super::topics_from_text(&campaign.topics);
    let mut count = 0;
    let mut after = 0;
    loop {
        let rows = db::confirmed_after(&state.db, after, 1000).await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        after = last;
        let wanting: Vec<_> = rows
            .iter()
            .filter(|r| {
                super::topics_from_text(&r.topics)
                    .iter()
                    .any(|t| topics.contains(t))
            })
            .collect();
        let keys = subjects::keys_of(
            &state.db,
            &state.keyring,
            &wanting.iter().map(|r| r.subject_id).collect::<Vec<_>>(),
        )
        .await?;
        let mut indexes = vec![];
        for row in wanting {
            let Some(key) = keys.get(&row.subject_id) else {
                continue;
            };
            let subject = Subject {
                id: row.subject_id,
                key: key.clone(),
            };
            let email = subject.open("newsletter_subscribers", "email", &row.email)?;
            indexes.push(
                state
                    .keyring
                    .blind_index("email", &subjects::normalise_email(&email)),
            );
        }
        let suppressed = erasure::suppressed_among(&state.db, &indexes).await?;
        count += indexes.iter().filter(|i| !suppressed.contains(*i)).count() as i64;
    }
    Ok(count)
}

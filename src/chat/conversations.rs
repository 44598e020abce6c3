//! The rules of a conversation: starting one from the pre-chat answers,
//! opening it with its subject's key, posting, staff actions, the offline
//! message that becomes a support ticket, and the transcript by mail.

use super::{
    db::{self, ConversationRow},
    hub::{Event, NewMessage, Stored},
    protocol::{ServerFrame, Summary},
};
use crate::{
    AppState,
    platform::{
        forms::EmailAddress,
        mail::{self, EmailTemplate, Recipient},
        templates::format_in_zone,
    },
    privacy::subjects::{self, Subject},
    staff::{
        StaffUser,
        audit::{self, Actor},
        notifications::{self, Kind, Notice},
    },
    support::{intake::NewTicket, tickets},
};
use anyhow::Context;
use std::collections::HashMap;

const TOKEN_PURPOSE: &str = "chat-conversation";
/// Longest message, in characters.
pub const MAX_BODY_CHARS: usize = 4_000;
pub const MAX_NAME_CHARS: usize = 100;

crate::email_template!(pub struct VerifyMail { name: String, company: String, link: String, days: i64 }
    subject "email/chat_verify/subject.txt",
    text "email/chat_verify/body.txt",
    html "email/chat_verify/body.html",
);

/// How long the link confirming a chatter's email works.
pub const VERIFY_DAYS: i64 = 7;
const VERIFY_PURPOSE: &str = "chat-email";

/// The token of the link confirming a conversation's email.
pub fn verify_email_token(state: &AppState, conversation: i64, now: i64) -> String {
    let expires = now + VERIFY_DAYS * 86_400_000;
    state
        .keyring
        .sign(VERIFY_PURPOSE, &format!("{conversation}-{expires}"))
}

/// The conversation of a genuine email-confirmation token; `Err(())` when
/// it was genuine but has expired.
pub fn check_verify_email_token(
    state: &AppState,
    token: &str,
    now: i64,
) -> Option<Result<i64, ()>> {
    let (id, expires) = state
        .keyring
        .verify(VERIFY_PURPOSE, token)?
        .split_once('-')?;
    let (id, expires): (i64, i64) = (id.parse().ok()?, expires.parse().ok()?);
    Some(if now <= expires { Ok(id) } else { Err(()) })
}

crate::email_template!(pub struct TranscriptMail { name: String, company: String, lines: Vec<TranscriptLine> }
    subject "email/chat_transcript/subject.txt",
    text "email/chat_transcript/body.txt",
    html "email/chat_transcript/body.html",
);

pub struct TranscriptLine {
    pub who: String,
    pub at: String,
    pub body: String,
}

/// The token that lets a visitor resume their conversation (signed, so it
/// survives restarts and works on every instance). It names the
/// conversation's start too: it dies with the conversation's retention,
/// and never opens a later conversation given the same id.
pub fn token(state: &AppState, conversation: &Conversation) -> String {
    let row = &conversation.row;
    state
        .keyring
        .sign(TOKEN_PURPOSE, &format!("{}-{}", row.id, row.created_at))
}

/// `(conversation, started at)` of a token that is genuine and within the
/// conversation's retention at `now`.
pub fn verify(state: &AppState, token: &str, now: i64) -> Option<(i64, i64)> {
    const DAY_MS: i64 = 86_400_000;
    let (id, created) = state
        .keyring
        .verify(TOKEN_PURPOSE, token)?
        .split_once('-')?;
    let (id, created): (i64, i64) = (id.parse().ok()?, created.parse().ok()?);
    (now <= created + i64::from(super::RETENTION_DAYS) * DAY_MS).then_some((id, created))
}

/// A conversation, decrypted.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub row: ConversationRow,
    pub subject: Subject,
    pub name: String,
    pub email: String,
    pub page: String,
}

impl Conversation {
    pub fn id(&self) -> i64 {
        self.row.id
    }

    /// An email given and confirmed by its owner: only then is it theirs.
    pub fn email_verified(&self) -> bool {
        !self.email.is_empty() && self.row.email_verified_at.is_some()
    }

    pub fn summary(&self, staff_names: &HashMap<i64, String>) -> Summary {
        Summary {
            conversation: self.row.id,
            status: self.row.status.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified(),
            page: self.page.clone(),
            agent_id: self.row.agent_id,
            agent: self
                .row
                .agent_id
                .and_then(|id| staff_names.get(&id).cloned())
                .unwrap_or_default(),
            team: String::new(),
            team_id: None,
            last_seq: self.row.last_seq,
            created_at: self.row.created_at,
            updated_at: self.row.updated_at,
        }
    }

    pub fn seal(&self, column: &str, value: &str) -> Vec<u8> {
        let table = if column == "body" {
            "chat_messages"
        } else {
            "chat_conversations"
        };
        self.subject.seal(table, column, value)
    }
}

/// Opens a row with its subject's key; `None` once the subject was erased.
pub fn decrypt(state: &AppState, row: ConversationRow) -> anyhow::Result<Option<Conversation>> {
    let Some(wrapped) = &row.wrapped_key else {
        return Ok(None);
    };
    let subject = Subject {
        id: row.subject_id,
        key: state.keyring.unwrap(row.subject_id, wrapped)?,
    };
    let open = |column: &str, v: &Option<Vec<u8>>| -> anyhow::Result<String> {
        v.as_deref()
            .map(|v| subject.open("chat_conversations", column, v))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(Some(Conversation {
        name: subject.open("chat_conversations", "name", &row.name)?,
        email: open("email", &row.email)?,
        page: open("page", &row.page)?,
        row,
        subject,
    }))
}

pub async fn load(state: &AppState, id: i64) -> anyhow::Result<Option<Conversation>> {
    match db::conversation(&state.db, id).await? {
        Some(row) => decrypt(state, row),
        None => Ok(None),
    }
}

/// Cleans a page address the visitor's browser reported: a path on our site only.
pub fn clean_page(page: &str) -> Option<String> {
    let page = page.trim();
    if page.is_empty() || page.len() > 500 {
        return None;
    }
    let path = match url::Url::parse(page) {
        Ok(u) => {
            let mut p = u.path().to_string();
            if let Some(q) = u.query() {
                p.push('?');
                p.push_str(q);
            }
            p
        }
        Err(_) if page.starts_with('/') => page.to_string(),
        Err(_) => return None,
    };
    // The agent needs the page, not a secret link in it.
    let path = crate::platform::paths::redact_tokens(&path).into_owned();
    Some(path.chars().filter(|c| !c.is_control()).collect())
}

/// Validates a visitor's name: present, short, no control characters.
pub fn clean_name(name: &str) -> Result<String, &'static str> {
    let name: String = name.trim().chars().filter(|c| !c.is_control()).collect();
    if name.is_empty() {
        return Err("Please tell us your name.");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("That name is too long (100 characters at most).");
    }
    Ok(name)
}

/// Validates the topic a visitor picked: blank (none), or one of the
/// support form's products; `Ok(Err(message))` for anything else.
pub async fn clean_topic(
    state: &AppState,
    topic: &str,
) -> anyhow::Result<Result<Option<String>, &'static str>> {
    let topic = topic.trim();
    if topic.is_empty() {
        return Ok(Ok(None));
    }
    let topics = crate::support::settings::load(&state.db).await?.products;
    Ok(match topics.into_iter().find(|t| t == topic) {
        Some(t) => Ok(Some(t)),
        None => Err("Please choose one of the topics."),
    })
}

/// Validates a message body: text, not empty, not too long. Control
/// characters other than newlines and tabs are dropped.
pub fn clean_body(body: &str) -> Result<String, &'static str> {
    let body: String = body
        .trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    if body.is_empty() {
        return Err("The message is empty.");
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err("The message is too long (4,000 characters at most).");
    }
    Ok(body)
}

/// Starts a conversation: with an email, under that person's subject (so
/// it is in their my-data export and erasure); without, under a subject of
/// its own that no email can find. Its words (name, email, topic) go into
/// the chats' word index and a trigger on the channel "chat" may route it
/// to a team, all in the transaction that stores it. `topic` is one of
/// the support form's products (checked by [`clean_topic`]).
pub async fn start(
    state: &AppState,
    name: &str,
    email: Option<&EmailAddress>,
    page: Option<&str>,
    topic: Option<&str>,
) -> anyhow::Result<Conversation> {
    let mut tx = state.db.begin().await?;
    let subject = match email {
        Some(e) => subjects::find_or_create(&mut tx, &state.keyring, e.as_str()).await?,
        None => subjects::create_anonymous(&mut tx, &state.keyring).await?,
    };
    let seal = |column: &str, v: &str| subject.seal("chat_conversations", column, v);
    let created_at = crate::platform::now_ms();
    let (sealed_name, sealed_email, sealed_page) = (
        seal("name", name),
        email.map(|e| seal("email", e.as_str())),
        page.map(|p| seal("page", p)),
    );
    let id = db::insert_conversation(
        &mut tx,
        &db::NewConversation {
            subject_id: subject.id,
            name: &sealed_name,
            email: sealed_email.as_deref(),
            page: sealed_page.as_deref(),
            topic,
            created_at,
        },
    )
    .await?;
    let email_text = email.map(EmailAddress::as_str).unwrap_or_default();
    let mut texts = vec![name, email_text];
    texts.extend(topic);
    let record = super::search::record(id, subject.id, created_at);
    super::search::index(&state.keyring, &mut tx, record, &texts).await?;
    if let Some((team, trigger)) =
        crate::support::automations::route_chat(&mut tx, topic.unwrap_or_default(), email_text)
            .await?
    {
        db::set_team(&mut tx, id, Some(team)).await?;
        let detail = format!("{trigger} on a new chat: team {team}");
        audit::record(
            &mut tx,
            Actor::System("trigger"),
            "trigger",
            "chat",
            id,
            &detail,
        )
        .await?;
    }
    crate::platform::webhooks::enqueue(
        &mut tx,
        &state.keyring,
        state.clock.now(),
        crate::platform::webhooks::Event {
            kind: "chat.started",
            subject: Some(&subject),
            data: serde_json::json!({ "conversation_id": id }),
            personal: serde_json::json!({
                "visitor": { "name": name, "email": email.map(|e| e.as_str()) },
                "page": page,
            }),
        },
    )
    .await?;
    // Anyone can type any address: agents see its history only once the
    // address's owner confirms it by the link mailed to it.
    if let Some(email) = email {
        let site = state.site();
        let link = state
            .config
            .base_url
            .join(&format!(
                "chat/verify/{}",
                verify_email_token(state, id, crate::platform::now_ms())
            ))?
            .to_string();
        let mail = VerifyMail {
            name: name.to_string(),
            company: site.company_name.clone(),
            link,
            days: VERIFY_DAYS,
        };
        mail::enqueue(
            &mut tx,
            &state.keyring,
            &site,
            Recipient::Subject(&subject),
            "chat-verify",
            &format!("chat-verify:{id}"),
            &mail.to_mail(email.as_str())?,
        )
        .await?;
    }
    tx.commit().await?;
    if email.is_some() {
        state.mail_wakeup.notify_one();
    }
    state
        .chat
        .publish(Event::Changed { conversation: id })
        .await?;
    load(state, id)
        .await?
        .context("the conversation just created vanished")
}

/// Stores a message of the conversation; `None` when it is closed.
pub async fn post(
    state: &AppState,
    conversation: &Conversation,
    from: &'static str,
    staff: Option<&StaffUser>,
    body: &str,
    client_id: Option<String>,
) -> anyhow::Result<Option<Stored>> {
    let name = match staff {
        Some(s) => s.display_name.clone(),
        None if from == "visitor" => conversation.name.clone(),
        None => String::new(),
    };
    state
        .chat
        .store(NewMessage {
            conversation: conversation.id(),
            subject_id: conversation.subject.id,
            from,
            staff_id: staff.map(|s| s.id),
            name,
            client_id,
            body: body.to_string(),
            sealed: conversation.seal("body", body),
        })
        .await
}

/// Messages with `after < seq <= upto`, decrypted, as frames.
pub async fn history(
    state: &AppState,
    conversation: &Conversation,
    after: i64,
    upto: i64,
    staff_names: &HashMap<i64, String>,
) -> anyhow::Result<Vec<ServerFrame>> {
    db::messages(&state.db, conversation.id(), after, upto)
        .await?
        .into_iter()
        .map(|m| {
            let name = match m.sender.as_str() {
                "visitor" => conversation.name.clone(),
                _ => m
                    .staff_id
                    .and_then(|id| staff_names.get(&id).cloned())
                    .unwrap_or_default(),
            };
            Ok(ServerFrame::Message {
                conversation: conversation.id(),
                seq: m.seq,
                from: m.sender,
                name,
                body: conversation
                    .subject
                    .open("chat_messages", "body", &m.body)?,
                at: m.created_at,
            })
        })
        .collect()
}

/// Staff display names by id.
pub async fn staff_names(state: &AppState) -> anyhow::Result<HashMap<i64, String>> {
    Ok(crate::staff::db::list_users(&state.db, "")
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect())
}

/// Why a staff action was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    /// Not in a state that allows it (already taken, closed…).
    Conflict(&'static str),
}

/// Accepts a waiting conversation (or takes over an active one); audited.
pub async fn accept(
    state: &AppState,
    staff: &StaffUser,
    id: i64,
) -> anyhow::Result<Result<(), Refused>> {
    change(
        state,
        staff,
        id,
        "active",
        Some(staff.id),
        "waiting",
        "chat.accept",
    )
    .await
}

/// Hands an active conversation to another agent; audited.
pub async fn transfer(
    state: &AppState,
    staff: &StaffUser,
    id: i64,
    to: i64,
) -> anyhow::Result<Result<(), Refused>> {
    let agents = crate::staff::db::active_agents(&state.db).await?;
    if !agents.iter().any(|(id, _)| *id == to) {
        return Ok(Err(Refused::Conflict("There is no agent with that id.")));
    }
    change(
        state,
        staff,
        id,
        "active",
        Some(to),
        "waiting,active",
        "chat.transfer",
    )
    .await
}

/// Closes a conversation; audited.
pub async fn close(
    state: &AppState,
    staff: &StaffUser,
    id: i64,
) -> anyhow::Result<Result<(), Refused>> {
    let Some(c) = load(state, id).await? else {
        return Ok(Err(Refused::NotFound));
    };
    post(
        state,
        &c,
        "system",
        None,
        &format!("{} closed the chat.", staff.display_name),
        None,
    )
    .await?;
    change(
        state,
        staff,
        id,
        "closed",
        c.row.agent_id,
        "waiting,active",
        "chat.close",
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn change(
    state: &AppState,
    staff: &StaffUser,
    id: i64,
    status: &str,
    agent: Option<i64>,
    from: &str,
    action: &str,
) -> anyhow::Result<Result<(), Refused>> {
    let Some(c) = load(state, id).await? else {
        return Ok(Err(Refused::NotFound));
    };
    let mut tx = state.db.begin().await?;
    if !db::set_state(&mut tx, id, status, agent, from).await? {
        tx.rollback().await?;
        return Ok(Err(Refused::Conflict(match c.row.status.as_str() {
            "closed" => "This chat is closed.",
            _ => "Another agent has already taken this chat.",
        })));
    }
    let detail = match agent {
        Some(a) if action == "chat.transfer" => format!("to staff #{a}"),
        _ => String::new(),
    };
    audit::record(&mut tx, Actor::Staff(staff), action, "chat", id, &detail).await?;
    tx.commit().await?;
    if action == "chat.accept" || action == "chat.transfer" {
        let names = staff_names(state).await?;
        let who = agent
            .and_then(|a| names.get(&a).cloned())
            .unwrap_or_default();
        post(
            state,
            &c,
            "system",
            None,
            &format!("{who} joined the chat."),
            None,
        )
        .await?;
    }
    state
        .chat
        .publish(Event::Changed { conversation: id })
        .await?;
    Ok(Ok(()))
}

/// Moves a conversation to a team (`None`: to no team), given by an agent;
/// audited. `team` must name an existing team (the caller checks).
pub async fn route(
    state: &AppState,
    staff: &StaffUser,
    id: i64,
    team: Option<(i64, &str)>,
) -> anyhow::Result<Result<(), Refused>> {
    let mut tx = state.db.begin().await?;
    if !db::set_team(&mut tx, id, team.map(|(t, _)| t)).await? {
        return Ok(Err(Refused::NotFound));
    }
    let detail = team.map_or("no team".to_string(), |(t, name)| {
        format!("to team {t} ({name})")
    });
    audit::record(
        &mut tx,
        Actor::Staff(staff),
        "chat.route",
        "chat",
        id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    state
        .chat
        .publish(Event::Changed { conversation: id })
        .await?;
    Ok(Ok(()))
}

/// Records that a staff member looked at a conversation.
pub async fn audit_view(state: &AppState, staff: &StaffUser, id: i64) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    audit::record(&mut tx, Actor::Staff(staff), "chat.view", "chat", id, "").await?;
    tx.commit().await?;
    Ok(())
}

/// Nobody can answer live (no agent online, or none answered in time): the
/// visitor's message, after the conversation so far, becomes a support
/// ticket acknowledged by mail (the support form's intake), and the chat is
/// closed with a note. `body` may be absent once the visitor has written
/// (an unanswered chat only needs the address). Returns the reference; the
/// support form's per-address limits apply: `Ok(Err(..))` when exceeded.
pub async fn leave_message(
    state: &AppState,
    conversation: &Conversation,
    email: &EmailAddress,
    body: Option<&str>,
    ip_hash: &[u8],
) -> anyhow::Result<Result<String, &'static str>> {
    if let Some(reference) = &conversation.row.ticket_reference {
        return Ok(Ok(reference.clone()));
    }
    let now = chrono::Utc::now().timestamp_millis();
    if !tickets::within_intake_limits(state, ip_hash, now).await? {
        return Ok(Err(
            "Too many messages from your network today; please email us instead.",
        ));
    }
    let names = staff_names(state).await?;
    let earlier = history(state, conversation, 0, i64::MAX, &names).await?;
    let mut details = body.unwrap_or_default().to_string();
    let zone = state.site().time_zone;
    if !earlier.is_empty() {
        details.push_str(if details.is_empty() {
            "The live chat, which nobody answered in time:\n\n"
        } else {
            "\n\n--- Chat so far ---\n"
        });
        for frame in earlier {
            if let ServerFrame::Message {
                name,
                body,
                at,
                from,
                ..
            } = frame
            {
                let who = if from == "system" {
                    "—"
                } else {
                    name.as_str()
                };
                details.push_str(&format!("[{}] {who}: {body}\n", format_in_zone(at, zone)));
            }
        }
    }
    let new = NewTicket {
        name: conversation.name.clone(),
        email: email.clone(),
        phone: None,
        phone_e164: None,
        product: crate::support::intake::OTHER_PRODUCT.to_string(),
        product_other: Some("Live chat".into()),
        title: format!("Chat message from {}", conversation.name),
        details: details.trim_end().to_string(),
        attachments: vec![],
    };
    // The nonce makes a repeated request (a reconnect) create one ticket.
    let nonce = format!("chat-{}", conversation.id());
    let reference = match tickets::create(state, &new, &nonce, ip_hash).await? {
        tickets::Created::New { reference, .. } | tickets::Created::Existing { reference, .. } => {
            reference
        }
    };
    // What the visitor wrote shows in the chat as sent, then the note.
    if let Some(body) = body {
        post(state, conversation, "visitor", None, body, None).await?;
    }
    let note =
        format!("Your message is support ticket {reference}. We'll answer by email to {email}.");
    post(state, conversation, "system", None, &note, None).await?;
    let mut tx = state.db.begin().await?;
    if let Some((subject_id, started)) =
        db::set_ticket(&mut tx, conversation.id(), reference.as_str()).await?
    {
        let record = super::search::record(conversation.id(), subject_id, started);
        super::search::index(&state.keyring, &mut tx, record, &[reference.as_str()]).await?;
    }
    tx.commit().await?;
    state
        .chat
        .publish(Event::Changed {
            conversation: conversation.id(),
        })
        .await?;
    Ok(Ok(reference.to_string()))
}

/// Chats a visitor has been waiting in longer than the support setting
/// with no answer: with an email, each becomes a ticket with the
/// conversation as its first message (and is closed with a note); without,
/// it is marked unanswered and the visitor is asked for an address. Run by
/// [`run_unanswered`]; tests call it with the moved clock. Returns how many
/// chats it handled.
pub async fn sweep_unanswered(state: &AppState, now: i64) -> anyhow::Result<usize> {
    let wait_ms = crate::support::settings::load(&state.db)
        .await?
        .chat_unanswered_secs
        * 1000;
    let mut handled = 0;
    for id in db::unanswered(&state.db, now - wait_ms).await? {
        // Marking first: of several instances, one handles each chat.
        if !db::mark_unanswered(&state.db, id, now).await? {
            continue;
        }
        handled += 1;
        let Some(c) = load(state, id).await? else {
            continue;
        };
        match c.email.parse::<EmailAddress>() {
            Ok(email) => {
                // The chat's start passed the new-chat limit; its ticket is
                // counted against the chat, not against a network.
                let ip_hash = state.keyring.blind_index("ip", &format!("chat-{id}"));
                if let Err(refused) = leave_message(state, &c, &email, None, &ip_hash).await? {
                    tracing::warn!(conversation = id, refused, "unanswered chat not ticketed");
                }
            }
            Err(_) => {
                post(
                    state,
                    &c,
                    "system",
                    None,
                    "Sorry, nobody could answer in time. Leave your email and we'll answer your messages by email.",
                    None,
                )
                .await?;
                state
                    .chat
                    .publish(Event::Changed { conversation: id })
                    .await?;
            }
        }
    }
    Ok(handled)
}

/// How long a visitor has waited, in words: "45 s", "2 min", "1 h".
fn waited_words(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3_599 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3_600),
    }
}

/// Chats nobody accepted within the support setting
/// (`chat_waiting_notify_secs`): the agents online in the console, or every
/// active agent when none is, are told once per chat, as each chose. Run
/// by [`run_unanswered`]; tests call it with the moved clock. Returns how
/// many chats it told about.
pub async fn notify_waiting(state: &AppState, now: i64) -> anyhow::Result<usize> {
    let wait_ms = crate::support::settings::load(&state.db)
        .await?
        .chat_waiting_notify_secs
        * 1000;
    let mut told = 0;
    for (id, since) in db::waiting_unnotified(&state.db, now - wait_ms).await? {
        let mut tx = state.db.begin().await?;
        // Marking first: of several instances, one tells about each chat.
        if !db::mark_waiting_notified(&mut tx, id, now).await? {
            continue;
        }
        // Presence is stamped with the real time, not the moved clock.
        let online = db::agents_online(
            &state.db,
            crate::platform::now_ms() - super::hub::PRESENCE_WINDOW_MS,
        )
        .await?;
        // A chat routed to a team waits for that team: its members online,
        // or all its active members; anyone else only when it has none.
        let team: Vec<i64> = match db::team_of(&mut tx, id).await? {
            Some(team) => crate::support::db::active_team_members(&mut tx, team)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
            None => vec![],
        };
        let team_online: Vec<i64> = team
            .iter()
            .copied()
            .filter(|m| online.contains(m))
            .collect();
        let agents = if !team_online.is_empty() {
            team_online
        } else if !team.is_empty() {
            team
        } else if online.is_empty() {
            crate::staff::db::active_agents(&state.db)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        } else {
            online
        };
        let notice = Notice {
            kind: Kind::ChatWaiting,
            about: "a live chat".into(),
            detail: waited_words(now - since),
            person: None,
            link: format!("/admin/chat/{id}"),
            key: format!("chat-waiting:{id}"),
        };
        for agent in agents {
            notifications::notify(state, &mut tx, agent, &notice).await?;
        }
        tx.commit().await?;
        told += 1;
    }
    if told > 0 {
        state.mail_wakeup.notify_one();
    }
    Ok(told)
}

/// Tells agents of waiting chats and turns unanswered chats into tickets,
/// every few seconds, until shutdown.
pub async fn run_unanswered(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = notify_waiting(&state, state.clock.now()).await {
                    tracing::warn!(error = format!("{e:#}"), "waiting chats");
                }
                if let Err(e) = sweep_unanswered(&state, state.clock.now()).await {
                    tracing::warn!(error = format!("{e:#}"), "unanswered chats");
                }
            }
            _ = super::hub::stopped(&mut shutdown) => return,
        }
    }
}

/// Mails the transcript through the outbox, once per address and length of
/// the conversation.
pub async fn mail_transcript(
    state: &AppState,
    conversation: &Conversation,
    to: &EmailAddress,
) -> anyhow::Result<()> {
    let names = staff_names(state).await?;
    let site = state.site();
    let lines = history(state, conversation, 0, i64::MAX, &names)
        .await?
        .into_iter()
        .filter_map(|f| match f {
            ServerFrame::Message {
                name,
                body,
                at,
                from,
                ..
            } => Some(TranscriptLine {
                who: if from == "system" { "—".into() } else { name },
                at: format_in_zone(at, site.time_zone),
                body,
            }),
            _ => None,
        })
        .collect::<Vec<_>>();
    let transcript = TranscriptMail {
        name: conversation.name.clone(),
        company: site.company_name.clone(),
        lines,
    };
    let mut tx = state.db.begin().await?;
    let subject = subjects::find_or_create(&mut tx, &state.keyring, to.as_str()).await?;
    mail::enqueue(
        &mut tx,
        &state.keyring,
        &site,
        Recipient::Subject(&subject),
        "chat-transcript",
        &format!(
            "chat-transcript:{}:{}:{}",
            conversation.id(),
            conversation.row.last_seq,
            subjects::normalise_email(to.as_str())
        ),
        &transcript.to_mail(to.as_str())?,
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Marks `seq` read by one side and tells the other.
pub async fn mark_read(
    state: &AppState,
    conversation: i64,
    by_staff: bool,
    seq: i64,
) -> anyhow::Result<()> {
    let mark = db::mark_read(&state.db, conversation, by_staff, seq).await?;
    if mark == seq {
        state
            .chat
            .publish(Event::Read {
                conversation,
                by: if by_staff { "agent" } else { "visitor" }.into(),
                seq,
            })
            .await?;
    }
    Ok(())
}

/// Earlier contacts of the same person, for the agent: chats and tickets,
/// once the visitor has confirmed the email is theirs (none before).
pub struct VisitorContext {
    pub chats: Vec<(i64, String, i64)>,
    pub tickets: Vec<(i64, String, String, i64)>,
}

pub async fn visitor_context(
    state: &AppState,
    conversation: &Conversation,
) -> anyhow::Result<VisitorContext> {
    if !conversation.email_verified() {
        return Ok(VisitorContext {
            chats: vec![],
            tickets: vec![],
        });
    }
    let chats = if conversation.email.is_empty() {
        vec![]
    } else {
        db::by_subject(&state.db, conversation.subject.id)
            .await?
            .into_iter()
            .filter(|c| c.id != conversation.id())
            .map(|c| (c.id, c.status, c.created_at))
            .collect()
    };
    let tickets = if conversation.email.is_empty() {
        vec![]
    } else {
        crate::support::tickets::of_subject(state, conversation.subject.id)
            .await?
            .into_iter()
            .map(|t| (t.id, t.reference, t.title, t.created_at))
            .collect()
    };
    Ok(VisitorContext { chats, tickets })
}

/// A person's chats whose address they confirmed by the link mailed to it,
/// newest first: a chat someone else started with their address is not
/// theirs to read.
pub async fn confirmed_of_subject(
    state: &AppState,
    subject_id: i64,
) -> anyhow::Result<Vec<Conversation>> {
    let mut out = vec![];
    for row in db::by_subject(&state.db, subject_id).await? {
        if let Some(c) = decrypt(state, row)?
            && c.email_verified()
        {
            out.push(c);
        }
    }
    Ok(out)
}

/// One message of a chat, decrypted, as its visitor reads it back.
pub struct AccountChatLine {
    pub from_visitor: bool,
    pub name: String,
    pub body: String,
    pub at: i64,
}

/// Every message of a conversation, in order.
pub async fn transcript_lines(
    state: &AppState,
    conversation: &Conversation,
) -> anyhow::Result<Vec<AccountChatLine>> {
    let names = staff_names(state).await?;
    db::messages(&state.db, conversation.id(), 0, conversation.row.last_seq)
        .await?
        .into_iter()
        .map(|m| {
            let from_visitor = m.sender == "visitor";
            Ok(AccountChatLine {
                from_visitor,
                name: if from_visitor {
                    conversation.name.clone()
                } else {
                    m.staff_id
                        .and_then(|id| names.get(&id).cloned())
                        .unwrap_or_default()
                },
                body: conversation
                    .subject
                    .open("chat_messages", "body", &m.body)?,
                at: m.created_at,
            })
        })
        .collect()
}

/// A chat waiting for an agent, for the dashboard.
pub struct WaitingChat {
    pub id: i64,
    pub name: String,
    /// When the visitor started it (epoch ms): the wait began then.
    pub since: i64,
}

/// Chats waiting for an agent, longest waiting first.
pub async fn waiting(state: &AppState) -> anyhow::Result<Vec<WaitingChat>> {
    let mut chats = vec![];
    for row in super::db::by_status(&state.db, &["waiting"], 200).await? {
        if let Some(c) = decrypt(state, row)? {
            chats.push(WaitingChat {
                id: c.id(),
                name: c.name.clone(),
                since: c.row.created_at,
            });
        }
    }
    chats.sort_by_key(|c| (c.since, c.id));
    Ok(chats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_page_keeps_the_route_but_not_a_secret_link() {
        assert_eq!(
            clean_page("https://officecomms.com/support/tickets/12~abc.sig?sent=1").as_deref(),
            Some("/support/tickets/{token}")
        );
        assert_eq!(
            clean_page("/articles/slow-pc-checklist").as_deref(),
            Some("/articles/slow-pc-checklist")
        );
    }
}

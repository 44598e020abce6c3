//! The hub: one writer task per instance gives each message its
//! per-conversation `seq` and stores it before anyone sees it; events then
//! reach the connections of this instance through in-process channels and,
//! on PostgreSQL, every other instance through `LISTEN/NOTIFY` (the
//! notification is sent inside the storing transaction, so instances receive
//! messages in commit order, which is `seq` order).

use super::db;
use crate::platform::{
    db::{Backend, Db},
    now_ms,
};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap, hash_map::Entry},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// The `LISTEN/NOTIFY` channel shared by every instance.
pub const CHANNEL: &str = "officecomms_chat";
/// NOTIFY payloads must stay under 8000 bytes; longer messages travel as a
/// reference and are read from the database by the receiving connection.
const MAX_PAYLOAD: usize = 7_000;
/// A console not heard from for this long no longer counts as online.
pub const PRESENCE_WINDOW_MS: i64 = 60_000;

/// Tunables of every chat connection.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Larger text frames are answered with an error frame.
    pub max_frame: usize,
    /// Larger messages close the connection (1009).
    pub max_message: usize,
    pub ping_every: Duration,
    /// Closed after this long without a frame from the client.
    pub idle_after: Duration,
    /// Time a new connection has to say hello.
    pub hello_within: Duration,
    pub per_second: u32,
    pub burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 16 * 1024,
            max_message: 64 * 1024,
            ping_every: Duration::from_secs(25),
            idle_after: Duration::from_secs(30 * 60),
            hello_within: Duration::from_secs(20),
            per_second: 5,
            burst: 20,
        }
    }
}

/// What travels between connections and instances.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Message {
        conversation: i64,
        seq: i64,
        from: String,
        name: String,
        /// Absent when too long for a notification: read it from the database.
        body: Option<String>,
        at: i64,
    },
    Typing {
        conversation: i64,
        from: String,
    },
    Read {
        conversation: i64,
        by: String,
        seq: i64,
    },
    /// Status, agent or details changed: consoles and the visitor reload it.
    Changed {
        conversation: i64,
    },
    /// A console came, went or changed its status.
    Presence,
}

impl Event {
    pub fn conversation(&self) -> Option<i64> {
        match self {
            Event::Message { conversation, .. }
            | Event::Typing { conversation, .. }
            | Event::Read { conversation, .. }
            | Event::Changed { conversation } => Some(*conversation),
            Event::Presence => None,
        }
    }
}

/// A message to store.
#[derive(Debug)]
pub struct NewMessage {
    pub conversation: i64,
    pub subject_id: i64,
    /// `visitor`, `agent` or `system`.
    pub from: &'static str,
    pub staff_id: Option<i64>,
    /// Shown as the author.
    pub name: String,
    pub client_id: Option<String>,
    pub body: String,
    /// `body` sealed under the conversation's subject key.
    pub sealed: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub seq: i64,
    pub at: i64,
    /// The client id was stored before: this is the first copy's seq.
    pub duplicate: bool,
}

struct Job {
    message: NewMessage,
    reply: oneshot::Sender<anyhow::Result<Option<Stored>>>,
}

/// This instance's subscribers.
struct Local {
    conversations: Mutex<HashMap<i64, broadcast::Sender<Arc<Event>>>>,
    staff: broadcast::Sender<Arc<Event>>,
    agents_online: watch::Sender<i64>,
    visitors: AtomicUsize,
    consoles: AtomicUsize,
}

impl Local {
    fn dispatch(&self, event: Event) {
        let event = Arc::new(event);
        if let Some(c) = event.conversation() {
            let map = self.conversations.lock().expect("chat subscribers");
            if let Some(tx) = map.get(&c) {
                let _ = tx.send(event.clone());
            }
        }
        let _ = self.staff.send(event);
    }

    async fn refresh_presence(&self, db: &Db) {
        match db::agents_online(db, now_ms() - PRESENCE_WINDOW_MS).await {
            Ok(agents) => {
                self.agents_online.send_if_modified(|n| {
                    let changed = *n != agents.len() as i64;
                    *n = agents.len() as i64;
                    changed
                });
            }
            Err(e) => tracing::warn!(error = %e, "reading chat presence"),
        }
    }
}

/// The chat hub of this instance, cheap to clone.
#[derive(Clone)]
pub struct Hub {
    db: Db,
    local: Arc<Local>,
    writer: mpsc::Sender<Job>,
    limits: Arc<RwLock<Limits>>,
}

impl Hub {
    /// Starts the writer and, on PostgreSQL, the listener. Both stop when
    /// `shutdown` turns true.
    pub async fn start(
        db: Db,
        keyring: crate::platform::crypto::Keyring,
        database_url: &str,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Hub> {
        let local = Arc::new(Local {
            conversations: Mutex::default(),
            staff: broadcast::channel(1024).0,
            agents_online: watch::Sender::new(0),
            visitors: AtomicUsize::new(0),
            consoles: AtomicUsize::new(0),
        });
        local.refresh_presence(&db).await;
        let (writer, jobs) = mpsc::channel(4096);
        tokio::spawn(write_messages(
            db.clone(),
            keyring,
            local.clone(),
            jobs,
            shutdown.clone(),
        ));
        if db.backend == Backend::Postgres {
            let mut listener = sqlx::postgres::PgListener::connect(database_url)
                .await
                .context("opening the chat's LISTEN connection")?;
            listener
                .listen(CHANNEL)
                .await
                .context("LISTEN for chat events")?;
            tokio::spawn(listen(
                db.clone(),
                local.clone(),
                listener,
                shutdown.clone(),
            ));
        }
        tokio::spawn(watch_presence(db.clone(), local.clone(), shutdown));
        Ok(Hub {
            db,
            local,
            writer,
            limits: Arc::default(),
        })
    }

    /// A hub with no writer, listener or presence watch, for a command
    /// that holds no chat (`mail-in`): storing a message through it fails.
    pub fn detached(db: Db) -> Hub {
        Hub {
            db,
            local: Arc::new(Local {
                conversations: Mutex::default(),
                staff: broadcast::channel(1).0,
                agents_online: watch::Sender::new(0),
                visitors: AtomicUsize::new(0),
                consoles: AtomicUsize::new(0),
            }),
            writer: mpsc::channel(1).0,
            limits: Arc::default(),
        }
    }

    pub fn limits(&self) -> Limits {
        *self.limits.read().expect("chat limits")
    }

    /// Changes the limits of connections opened from now on (tests, tuning).
    pub fn set_limits(&self, limits: Limits) {
        *self.limits.write().expect("chat limits") = limits;
    }

    /// Stores a message (in `seq` order, before anyone sees it) and hands it
    /// to every subscriber. `None` when the conversation is closed or gone.
    pub async fn store(&self, message: NewMessage) -> anyhow::Result<Option<Stored>> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job { message, reply })
            .await
            .map_err(|_| anyhow::anyhow!("the chat writer has stopped"))?;
        answer.await.context("the chat writer dropped a message")?
    }

    /// Sends an event that is not stored (typing, read, changes, presence).
    pub async fn publish(&self, event: Event) -> anyhow::Result<()> {
        match self.db.backend {
            Backend::Sqlite => {
                if event == Event::Presence {
                    self.local.refresh_presence(&self.db).await;
                }
                self.local.dispatch(event);
            }
            Backend::Postgres => {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(serde_json::to_string(&event)?)
                    .execute(&self.db.pool)
                    .await
                    .context("publishing a chat event")?;
            }
        }
        Ok(())
    }

    /// Events of one conversation, until the returned guard is dropped.
    pub fn subscribe(&self, conversation: i64) -> Subscription {
        let rx = self
            .local
            .conversations
            .lock()
            .expect("chat subscribers")
            .entry(conversation)
            .or_insert_with(|| broadcast::channel(16).0)
            .subscribe();
        self.local.visitors.fetch_add(1, Ordering::Relaxed);
        Subscription {
            rx: Some(rx),
            conversation: Some(conversation),
            local: self.local.clone(),
        }
    }

    /// Every event (staff consoles).
    pub fn subscribe_all(&self) -> Subscription {
        self.local.consoles.fetch_add(1, Ordering::Relaxed);
        Subscription {
            rx: Some(self.local.staff.subscribe()),
            conversation: None,
            local: self.local.clone(),
        }
    }

    pub fn agents_online(&self) -> watch::Receiver<i64> {
        self.local.agents_online.subscribe()
    }

    /// Open visitor and console connections on this instance.
    pub fn connections(&self) -> (usize, usize) {
        (
            self.local.visitors.load(Ordering::Relaxed),
            self.local.consoles.load(Ordering::Relaxed),
        )
    }
}

/// A connection's registration; dropping it (however the connection ends)
/// unsubscribes and forgets the conversation's channel once nobody listens.
pub struct Subscription {
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    conversation: Option<i64>,
    local: Arc<Local>,
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<Arc<Event>, broadcast::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        match self.conversation {
            Some(c) => {
                self.local.visitors.fetch_sub(1, Ordering::Relaxed);
                let mut map = self.local.conversations.lock().expect("chat subscribers");
                if map.get(&c).is_some_and(|tx| tx.receiver_count() == 0) {
                    map.remove(&c);
                }
            }
            None => {
                self.local.consoles.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Queues `chat.message` for the batch's new messages, in its transaction;
/// one look-up when no endpoint follows chat messages.
async fn raise_webhooks(
    tx: &mut crate::platform::db::Tx,
    db: &Db,
    keyring: &crate::platform::crypto::Keyring,
    messages: &[(&NewMessage, i64)],
    now: i64,
) -> anyhow::Result<()> {
    use crate::platform::{subjects, webhooks};
    if messages.is_empty() || !webhooks::followed(tx, "chat.message").await? {
        return Ok(());
    }
    let ids: Vec<i64> = messages.iter().map(|(m, _)| m.subject_id).collect();
    let keys = subjects::keys_of(db, keyring, &ids).await?;
    for (m, seq) in messages {
        let Some(key) = keys.get(&m.subject_id) else {
            continue;
        };
        let subject = subjects::Subject {
            id: m.subject_id,
            key: key.clone(),
        };
        webhooks::enqueue(
            tx,
            keyring,
            now,
            webhooks::Event {
                kind: "chat.message",
                subject: Some(&subject),
                data: serde_json::json!({
                    "conversation_id": m.conversation,
                    "seq": seq,
                    "from": m.from,
                    "staff_id": m.staff_id,
                }),
                personal: serde_json::json!({ "author": m.name, "body": m.body }),
            },
        )
        .await?;
    }
    Ok(())
}

/// The writer: takes what is queued, stores it in one transaction (group
/// commit), then answers and dispatches in `seq` order.
async fn write_messages(
    db: Db,
    keyring: crate::platform::crypto::Keyring,
    local: Arc<Local>,
    mut jobs: mpsc::Receiver<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            job = jobs.recv() => match job { Some(j) => j, None => return },
            _ = stopped(&mut shutdown) => return,
        };
        let mut batch = vec![first];
        while batch.len() < 128 {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        match write_batch(&db, &keyring, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    if let (Some(stored), Backend::Sqlite) = (&outcome, db.backend)
                        && !stored.duplicate
                    {
                        local.dispatch(message_event(&job.message, stored, true));
                    }
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "storing chat messages");
                for job in batch {
                    let _ = job
                        .reply
                        .send(Err(anyhow::anyhow!("storing the message failed")));
                }
            }
        }
    }
}

/// Adds the words of the batch's new messages from visitors and agents to
/// the chats' word index, in the transaction that stores them: one record
/// a conversation (its messages' words together), one statement for all.
async fn index_words(
    tx: &mut crate::platform::db::Tx,
    keyring: &crate::platform::crypto::Keyring,
    messages: &[(&NewMessage, i64)],
    taken: &HashMap<i64, (i64, i64)>,
) -> anyhow::Result<()> {
    let mut texts: BTreeMap<i64, (crate::platform::search_index::Record, Vec<&str>)> =
        BTreeMap::new();
    for (m, _) in messages {
        let Some((_, started)) = taken.get(&m.conversation) else {
            continue;
        };
        if m.from == "system" {
            continue;
        }
        texts
            .entry(m.conversation)
            .or_insert_with(|| {
                (
                    super::search::record(m.conversation, m.subject_id, *started),
                    vec![],
                )
            })
            .1
            .push(m.body.as_str());
    }
    let records: Vec<_> = texts
        .values()
        .map(|(record, texts)| (*record, texts.as_slice()))
        .collect();
    super::search::WORDS
        .add_many(tx, keyring, &records)
        .await
        .context("indexing chat messages' words")?;
    Ok(())
}

fn message_event(m: &NewMessage, stored: &Stored, with_body: bool) -> Event {
    Event::Message {
        conversation: m.conversation,
        seq: stored.seq,
        from: m.from.to_string(),
        name: m.name.clone(),
        body: with_body.then(|| m.body.clone()),
        at: stored.at,
    }
}

async fn write_batch(
    db: &Db,
    keyring: &crate::platform::crypto::Keyring,
    batch: &[Job],
) -> anyhow::Result<Vec<Option<Stored>>> {
    // Three statements for the whole batch, whatever its size: the writer's
    // time per message is what a busy chat waits on.
    let now = now_ms();
    let mut tx = db.begin().await?;
    let resent: Vec<(i64, &str)> = batch
        .iter()
        .filter_map(|j| Some((j.message.conversation, j.message.client_id.as_deref()?)))
        .collect();
    let known = db::seqs_of_client_ids(&mut tx, &resent).await?;

    /// What becomes of each message of the batch.
    enum Plan {
        /// Stored before under its client id, with this seq.
        Stored(i64),
        /// The same client id as an earlier message of this batch.
        RepeatOf(usize),
        New,
    }
    let mut first_of: HashMap<(i64, &str), usize> = HashMap::new();
    let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
    let plans: Vec<Plan> = batch
        .iter()
        .enumerate()
        .map(|(i, job)| {
            let m = &job.message;
            if let Some(id) = m.client_id.as_deref() {
                if let Some(seq) = known.get(&(m.conversation, id.to_string())) {
                    return Plan::Stored(*seq);
                }
                match first_of.entry((m.conversation, id)) {
                    Entry::Occupied(first) => return Plan::RepeatOf(*first.get()),
                    Entry::Vacant(slot) => {
                        slot.insert(i);
                    }
                }
            }
            *counts.entry(m.conversation).or_default() += 1;
            Plan::New
        })
        .collect();

    // Each open conversation's new messages take consecutive seqs, in batch order.
    let last = db::take_seqs(&mut tx, &counts, now).await?;
    let mut next: HashMap<i64, i64> = counts
        .iter()
        .filter_map(|(c, n)| Some((*c, last.get(c)?.0 - n + 1)))
        .collect();
    let mut outcomes: Vec<Option<Stored>> = Vec::with_capacity(batch.len());
    let mut rows = Vec::new();
    let mut notices = Vec::new();
    let mut raised = Vec::new();
    for (job, plan) in batch.iter().zip(&plans) {
        let m = &job.message;
        let outcome = match plan {
            Plan::Stored(seq) => Some(Stored {
                seq: *seq,
                at: now,
                duplicate: true,
            }),
            Plan::RepeatOf(first) => outcomes[*first].as_ref().map(|s: &Stored| Stored {
                duplicate: true,
                ..*s
            }),
            Plan::New => next.get_mut(&m.conversation).map(|seq| {
                *seq += 1;
                Stored {
                    seq: *seq - 1,
                    at: now,
                    duplicate: false,
                }
            }),
        };
        if let (Plan::New, Some(stored)) = (plan, &outcome) {
            raised.push((m, stored.seq));
            rows.push(db::NewMessageRow {
                conversation: m.conversation,
                subject_id: m.subject_id,
                seq: stored.seq,
                sender: m.from,
                staff_id: m.staff_id,
                client_id: m.client_id.as_deref(),
                body: &m.sealed,
                created_at: now,
            });
            if db.backend == Backend::Postgres {
                let mut event = message_event(m, stored, true);
                if serde_json::to_string(&event)?.len() > MAX_PAYLOAD {
                    event = message_event(m, stored, false);
                }
                notices.push(event);
            }
        }
        outcomes.push(outcome);
    }
    db::insert_messages(&mut tx, &rows).await?;
    index_words(&mut tx, keyring, &raised, &last).await?;
    raise_webhooks(&mut tx, db, keyring, &raised, now).await?;
    // One notification per batch (as many as fit), sent at commit in seq order.
    for payload in payloads(&notices)? {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    // On disk before the sender's echo tells them it was stored.
    db.synced().await?;
    Ok(outcomes)
}

/// JSON arrays of events, each under the notification size limit.
fn payloads(events: &[Event]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 2;
    for e in events {
        let json = serde_json::to_string(e)?;
        if !current.is_empty() && size + json.len() + 1 > MAX_PAYLOAD {
            out.push(format!("[{}]", current.join(",")));
            current.clear();
            size = 2;
        }
        size += json.len() + 1;
        current.push(json);
    }
    if !current.is_empty() {
        out.push(format!("[{}]", current.join(",")));
    }
    Ok(out)
}

/// A notification: one event (typing, presence…) or a batch of messages.
#[derive(Deserialize)]
#[serde(untagged)]
enum Payload {
    One(Event),
    Many(Vec<Event>),
}

/// PostgreSQL: every instance's events, in commit order, to this one's
/// connections.
async fn listen(
    db: Db,
    local: Arc<Local>,
    mut listener: sqlx::postgres::PgListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let received = tokio::select! {
            n = listener.recv() => n,
            _ = stopped(&mut shutdown) => return,
        };
        match received {
            Ok(n) => match serde_json::from_str::<Payload>(n.payload()) {
                Ok(Payload::One(Event::Presence)) => {
                    local.refresh_presence(&db).await;
                    local.dispatch(Event::Presence);
                }
                Ok(Payload::One(event)) => local.dispatch(event),
                Ok(Payload::Many(events)) => events.into_iter().for_each(|e| local.dispatch(e)),
                Err(e) => tracing::warn!(error = %e, "unreadable chat notification"),
            },
            Err(e) => {
                // PgListener reconnects by itself; connections repair any gap
                // from the database when the next seq arrives.
                tracing::warn!(error = %e, "chat listener");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Consoles of a crashed instance stop counting after the presence window.
async fn watch_presence(db: Db, local: Arc<Local>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    loop {
        tokio::select! {
            _ = tick.tick() => local.refresh_presence(&db).await,
            _ = stopped(&mut shutdown) => return,
        }
    }
}

/// Resolves once shutdown has begun.
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_batches_stay_under_the_limit_and_keep_the_order() {
        let events: Vec<Event> = (1..=40)
            .map(|seq| Event::Message {
                conversation: 1,
                seq,
                from: "visitor".into(),
                name: "Ann".into(),
                body: Some("x".repeat(500)),
                at: 0,
            })
            .collect();
        let payloads = payloads(&events).unwrap();
        assert!(payloads.len() > 1);
        let mut seqs = vec![];
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            match serde_json::from_str::<Payload>(p).unwrap() {
                Payload::Many(batch) => seqs.extend(batch.into_iter().map(|e| match e {
                    Event::Message { seq, .. } => seq,
                    _ => 0,
                })),
                Payload::One(_) => panic!("a batch is an array"),
            }
        }
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
        let one = serde_json::to_string(&Event::Presence).unwrap();
        assert!(matches!(
            serde_json::from_str::<Payload>(&one).unwrap(),
            Payload::One(Event::Presence)
        ));
    }
}

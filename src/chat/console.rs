//! The staff side of `/admin/chat/ws`: presence, the queue, following
//! conversations, accept / transfer / close, replies, typing and read state.

use super::{
    conversations::{self, Conversation, Refused},
    db,
    hub::{Event, Limits},
    protocol::{ServerFrame, StaffFrame},
    socket::{self, Inbound},
};
use crate::{
    AppState,
    platform::{random_token, token_hash},
    staff::{self, Agent, Role, Staff, StaffUser, auth::SESSION_COOKIE},
};
use axum::{
    extract::{
        State,
        ws::{WebSocket, WebSocketUpgrade},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use std::{collections::HashMap, time::Instant};
use tokio::sync::broadcast::error::RecvError;

/// `GET /admin/chat/ws` (agents and admins).
pub async fn staff_socket(
    State(state): State<AppState>,
    Staff(user, _): Staff<Agent>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = socket::check_origin(&headers, &state.config.base_url) {
        return e.into_response();
    }
    // `Staff` found the session, so the cookie is there.
    let session = CookieJar::from_headers(&headers)
        .get(SESSION_COOKIE)
        .map(|c| token_hash(c.value()))
        .unwrap_or_default();
    let limits = state.chat.limits();
    socket::configure(ws, &limits)
        .on_upgrade(move |ws| run(state, ws, user, session, limits))
        .into_response()
}

/// How often an open console asks whether its agent may still see the chats.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Removes the console's presence row however the connection ends.
struct PresenceGuard {
    state: AppState,
    connection: String,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let state = self.state.clone();
        let connection = std::mem::take(&mut self.connection);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = db::presence_remove(&state.db, &connection).await {
                    tracing::warn!(error = %e, "removing chat presence");
                }
                let _ = state.chat.publish(Event::Presence).await;
            });
        }
    }
}

struct Console {
    state: AppState,
    user: StaffUser,
    names: HashMap<i64, String>,
    /// Team names by id, for each conversation's summary.
    teams: HashMap<i64, String>,
    /// Conversations this console opened, with the last seq sent.
    following: HashMap<i64, (Conversation, i64)>,
}

async fn run(state: AppState, mut ws: WebSocket, user: StaffUser, session: String, limits: Limits) {
    let connection = random_token(12);
    if let Err(e) = db::presence_upsert(&state.db, &connection, user.id, "online").await {
        tracing::error!(error = %e, "chat presence");
        return;
    }
    let _guard = PresenceGuard {
        state: state.clone(),
        connection: connection.clone(),
    };
    // Before the console frame: a change made once the agent sees the
    // console must not slip past.
    let mut access_changes = state.staff_changes.subscribe();
    let mut events = state.chat.subscribe_all();
    let _ = state.chat.publish(Event::Presence).await;
    let mut agents = state.chat.agents_online();
    let mut shutdown = state.shutdown.subscribe();
    let limiter = socket::limiter(&Limits {
        per_second: limits.per_second * 4,
        burst: limits.burst * 4,
        ..limits
    });
    let mut console = Console {
        state: state.clone(),
        user,
        names: conversations::staff_names(&state).await.unwrap_or_default(),
        teams: HashMap::new(),
        following: HashMap::new(),
    };
    console.refresh_teams().await;
    match console.queue().await {
        Ok(list) => {
            let hello = ServerFrame::Console {
                agent_id: console.user.id,
                agent: console.user.display_name.clone(),
                agents_online: *agents.borrow_and_update(),
                conversations: list,
            };
            if !socket::send(&mut ws, &hello).await {
                return;
            }
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "chat queue");
            return;
        }
    }
    let mut tick = tokio::time::interval(limits.ping_every);
    tick.tick().await;
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.tick().await;
    let mut last_heard = Instant::now();
    loop {
        // Access is re-read before any frame is acted on, on a timer, and
        // at once when this agent's access changes on this instance.
        let check_now = tokio::select! {
            inbound = socket::next(&mut ws, &limits) => Some(inbound),
            _ = recheck.tick() => None,
            changed = access_changes.recv() => {
                // Another member's change leaves this console alone.
                let concerns_me = !matches!(changed, Ok(id) if id != console.user.id);
                if concerns_me && !console.recheck(&session, &mut ws).await {
                    return;
                }
                continue;
            }
            event = events.recv() => {
                let frames = match event {
                    Ok(event) => console.deliver(&event).await,
                    Err(RecvError::Lagged(_)) => console.catch_up_all().await,
                    Err(RecvError::Closed) => return,
                };
                for f in frames {
                    if !socket::send(&mut ws, &f).await { return }
                }
                continue;
            }
            Ok(()) = agents.changed() => {
                let n = *agents.borrow_and_update();
                if !socket::send(&mut ws, &ServerFrame::Status { agents_online: n }).await { return }
                continue;
            }
            _ = tick.tick() => {
                if last_heard.elapsed() > limits.ping_every * 2 { return }
                let _ = db::presence_touch(&state.db, &connection).await;
                if !socket::ping(&mut ws).await { return }
                continue;
            }
            _ = super::hub::stopped(&mut shutdown) => {
                socket::close(&mut ws, socket::CLOSE_RESTART, "restarting").await;
                return;
            }
        };
        let Some(inbound) = check_now else {
            if !console.recheck(&session, &mut ws).await {
                return;
            }
            continue;
        };
        last_heard = Instant::now();
        let text = match inbound {
            Inbound::Gone => return,
            Inbound::Alive => continue,
            Inbound::TooLarge => {
                let e = ServerFrame::error(
                    "too_large",
                    format!("Frames are limited to {} KiB.", limits.max_frame / 1024),
                );
                if !socket::send(&mut ws, &e).await {
                    return;
                }
                continue;
            }
            Inbound::Binary => {
                let e =
                    ServerFrame::error("binary", "Only text frames are part of the chat protocol.");
                if !socket::send(&mut ws, &e).await {
                    return;
                }
                continue;
            }
            Inbound::Text(t) => t,
        };
        let frame = match serde_json::from_str::<StaffFrame>(&text) {
            Ok(f) => f,
            Err(e) => {
                if !socket::send(&mut ws, &socket::malformed(&e)).await {
                    return;
                }
                continue;
            }
        };
        if !matches!(frame, StaffFrame::Typing { .. }) && limiter.check().is_err() {
            let e = ServerFrame::error("rate_limited", "Too many frames; please wait a moment.");
            if !socket::send(&mut ws, &e).await {
                return;
            }
            continue;
        }
        // Access is re-read before any frame is acted on.
        if !console.recheck(&session, &mut ws).await {
            return;
        }
        let replies = match console.handle(frame, &connection).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "chat console frame");
                vec![ServerFrame::error(
                    "internal",
                    "Something went wrong on our side.",
                )]
            }
        };
        for r in replies {
            if !socket::send(&mut ws, &r).await {
                return;
            }
        }
    }
}

impl Console {
    /// Reads the agent's access again: false (and the socket closed) once
    /// they signed out, were disabled or lost the agent role. A failed
    /// look-up keeps the console; the next check decides.
    async fn recheck(&mut self, session: &str, ws: &mut WebSocket) -> bool {
        match staff::db::user_for_session(&self.state.db, session).await {
            Ok(Some(u)) if u.role.allows(Role::Agent) => {
                self.user = u;
                true
            }
            Ok(_) => {
                socket::close(ws, socket::CLOSE_POLICY, "signed out").await;
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-checking a chat console's session");
                true
            }
        }
    }

    /// Waiting and active conversations, for the console's list.
    async fn queue(&mut self) -> anyhow::Result<Vec<super::protocol::Summary>> {
        let rows = db::by_status(&self.state.db, &["waiting", "active"], 200).await?;
        let mut out = Vec::new();
        for row in rows {
            if let Some(c) = conversations::decrypt(&self.state, row)? {
                out.push(self.summary(&c).await);
            }
        }
        Ok(out)
    }

    /// A conversation's summary with its team's name (team names are
    /// read again when a chat names a team this console does not know).
    async fn summary(&mut self, c: &Conversation) -> super::protocol::Summary {
        let mut summary = c.summary(&self.names);
        if let Some(team) = c.row.team_id {
            if !self.teams.contains_key(&team) {
                self.refresh_teams().await;
            }
            summary.team = self.teams.get(&team).cloned().unwrap_or_default();
            summary.team_id = Some(team);
        }
        summary
    }

    async fn refresh_teams(&mut self) {
        if let Ok(teams) = crate::support::automations::teams(&self.state).await {
            self.teams = teams.into_iter().map(|t| (t.id, t.name)).collect();
        }
    }

    async fn refresh_names(&mut self) {
        if let Ok(n) = conversations::staff_names(&self.state).await {
            self.names = n;
        }
    }

    async fn conversation(&self, id: i64) -> anyhow::Result<Option<Conversation>> {
        match self.following.get(&id) {
            Some((c, _)) => Ok(Some(c.clone())),
            None => conversations::load(&self.state, id).await,
        }
    }

    /// Messages of a followed conversation after what was sent, up to `upto`.
    async fn catch_up(&mut self, id: i64, upto: i64) -> Vec<ServerFrame> {
        let Some((c, last)) = self.following.get(&id) else {
            return vec![];
        };
        match conversations::history(&self.state, c, *last, upto, &self.names).await {
            Ok(frames) => {
                if let Some(ServerFrame::Message { seq, .. }) = frames.last()
                    && let Some(entry) = self.following.get_mut(&id)
                {
                    entry.1 = *seq;
                }
                frames
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "chat console replay");
                vec![]
            }
        }
    }

    async fn catch_up_all(&mut self) -> Vec<ServerFrame> {
        let ids: Vec<i64> = self.following.keys().copied().collect();
        let mut out = vec![];
        for id in ids {
            out.extend(self.catch_up(id, i64::MAX).await);
        }
        out
    }

    async fn deliver(&mut self, event: &Event) -> Vec<ServerFrame> {
        match event {
            Event::Message {
                conversation,
                seq,
                from,
                name,
                body,
                at,
            } => {
                let live = |body: &String| ServerFrame::Message {
                    conversation: *conversation,
                    seq: *seq,
                    from: from.clone(),
                    name: name.clone(),
                    body: body.clone(),
                    at: *at,
                };
                match self.following.get_mut(conversation) {
                    Some((_, last)) if *seq <= *last => vec![],
                    Some((_, last)) if *seq == *last + 1 && body.is_some() => {
                        *last = *seq;
                        body.as_ref().map(live).into_iter().collect()
                    }
                    Some(_) => self.catch_up(*conversation, *seq).await,
                    // Not followed: shown as it comes, for the unread marks.
                    None => body.as_ref().map(live).into_iter().collect(),
                }
            }
            Event::Typing { conversation, from } if from == "visitor" => {
                vec![ServerFrame::Typing {
                    conversation: *conversation,
                    from: from.clone(),
                }]
            }
            Event::Read {
                conversation,
                by,
                seq,
            } if by == "visitor" => vec![ServerFrame::Read {
                conversation: *conversation,
                by: by.clone(),
                seq: *seq,
            }],
            Event::Changed { conversation } => {
                match conversations::load(&self.state, *conversation).await {
                    Ok(Some(c)) => {
                        if c.row.agent_id.is_some_and(|a| !self.names.contains_key(&a)) {
                            self.refresh_names().await;
                        }
                        let summary = self.summary(&c).await;
                        if let Some(entry) = self.following.get_mut(conversation) {
                            entry.0 = c;
                        }
                        vec![ServerFrame::Conversation(Box::new(summary))]
                    }
                    _ => vec![],
                }
            }
            _ => vec![],
        }
    }

    async fn handle(
        &mut self,
        frame: StaffFrame,
        connection: &str,
    ) -> anyhow::Result<Vec<ServerFrame>> {
        let state = self.state.clone();
        let refused = |r: Refused| match r {
            Refused::NotFound => ServerFrame::error("not_found", "There is no such conversation."),
            Refused::Conflict(m) => ServerFrame::error("conflict", m),
        };
        Ok(match frame {
            StaffFrame::Presence { status } => {
                if status != "online" && status != "away" {
                    return Ok(vec![ServerFrame::error(
                        "invalid",
                        "Presence is online or away.",
                    )]);
                }
                db::presence_upsert(&state.db, connection, self.user.id, &status).await?;
                state.chat.publish(Event::Presence).await?;
                vec![]
            }
            StaffFrame::Open {
                conversation,
                after,
            } => {
                let Some(c) = conversations::load(&state, conversation).await? else {
                    return Ok(vec![refused(Refused::NotFound)]);
                };
                conversations::audit_view(&state, &self.user, conversation).await?;
                let summary = self.summary(&c).await;
                self.following.insert(conversation, (c, after.max(0)));
                let mut frames = vec![ServerFrame::Conversation(Box::new(summary))];
                frames.extend(self.catch_up(conversation, i64::MAX).await);
                frames
            }
            StaffFrame::Accept { conversation } => {
                match conversations::accept(&state, &self.user, conversation).await? {
                    Ok(()) => vec![],
                    Err(r) => vec![refused(r)],
                }
            }
            StaffFrame::Transfer { conversation, to } => {
                match conversations::transfer(&state, &self.user, conversation, to).await? {
                    Ok(()) => vec![],
                    Err(r) => vec![refused(r)],
                }
            }
            StaffFrame::Close { conversation } => {
                match conversations::close(&state, &self.user, conversation).await? {
                    Ok(()) => vec![],
                    Err(r) => vec![refused(r)],
                }
            }
            StaffFrame::Message {
                conversation,
                body,
                id,
            } => {
                let body = match conversations::clean_body(&body) {
                    Ok(b) => b,
                    Err(m) => return Ok(vec![ServerFrame::error("invalid", m)]),
                };
                if id.as_ref().is_some_and(|c| c.is_empty() || c.len() > 64) {
                    return Ok(vec![ServerFrame::error(
                        "invalid",
                        "A message id is 1 to 64 characters.",
                    )]);
                }
                let Some(c) = self.conversation(conversation).await? else {
                    return Ok(vec![refused(Refused::NotFound)]);
                };
                // Answering a waiting chat takes it.
                if c.row.status == "waiting" {
                    let _ = conversations::accept(&state, &self.user, conversation).await?;
                }
                match conversations::post(&state, &c, "agent", Some(&self.user), &body, id.clone())
                    .await?
                {
                    Some(stored) => vec![ServerFrame::Ack {
                        conversation,
                        id,
                        seq: stored.seq,
                    }],
                    None => vec![ServerFrame::error("closed", "This conversation is closed.")],
                }
            }
            StaffFrame::Typing { conversation } => {
                state
                    .chat
                    .publish(Event::Typing {
                        conversation,
                        from: "agent".into(),
                    })
                    .await?;
                vec![]
            }
            StaffFrame::Read { conversation, seq } => {
                conversations::mark_read(&state, conversation, true, seq).await?;
                vec![]
            }
        })
    }
}

//! The visitor's side of `/chat/ws`: hello (pre-chat answers or resume),
//! replay from the database then live events, and the visitor's frames.

use super::{
    conversations::{self, Conversation},
    hub::{Event, Limits},
    protocol::{Resume, ServerFrame, VisitorFrame},
    socket::{self, Inbound},
};
use crate::{
    AppState,
    platform::{ClientIp, forms::EmailAddress, now_ms},
    privacy::{
        Privacy,
        age::{self, Age},
    },
};
use axum::{
    extract::{
        State,
        ws::{WebSocket, WebSocketUpgrade},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use std::net::IpAddr;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};
use tokio::sync::broadcast::error::RecvError;

/// `GET /chat/ws`: the origin check, then the socket.
pub async fn visitor_socket(
    State(state): State<AppState>,
    privacy: Privacy,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = socket::check_origin(&headers, &state.config.base_url) {
        return e.into_response();
    }
    let limits = state.chat.limits();
    // Kept only as the support form keeps it: a keyed hash, for its limits.
    let ip_hash = state.keyring.blind_index("ip", &ip.to_string());
    socket::configure(ws, &limits)
        .on_upgrade(move |ws| run(state, ws, privacy, limits, ip, ip_hash))
        .into_response()
}

async fn run(
    state: AppState,
    mut ws: WebSocket,
    privacy: Privacy,
    limits: Limits,
    ip: IpAddr,
    ip_hash: Vec<u8>,
) {
    let hello = tokio::time::timeout(limits.hello_within, first_frame(&mut ws, &limits)).await;
    let Ok(Some(hello)) = hello else {
        socket::close(&mut ws, socket::CLOSE_POLICY, "hello expected").await;
        return;
    };
    let (conversation, after) = match begin(&state, &privacy, ip, hello).await {
        Ok(begun) => begun,
        Err(refusal) => {
            socket::send(&mut ws, &refusal).await;
            socket::close(&mut ws, socket::CLOSE_POLICY, "refused").await;
            return;
        }
    };
    Session {
        state,
        conversation,
        last_sent: after,
        limits,
        names: HashMap::new(),
        ip_hash,
    }
    .serve(ws)
    .await;
}

/// Waits for the first text frame and reads it as `hello`.
async fn first_frame(ws: &mut WebSocket, limits: &Limits) -> Option<VisitorFrame> {
    loop {
        match socket::next(ws, limits).await {
            Inbound::Text(t) => match serde_json::from_str::<VisitorFrame>(&t) {
                Ok(f @ VisitorFrame::Hello { .. }) => return Some(f),
                Ok(_) => {
                    let e = ServerFrame::error("hello_expected", "Say hello first.");
                    socket::send(ws, &e).await;
                }
                Err(e) => {
                    socket::send(ws, &socket::malformed(&e)).await;
                }
            },
            Inbound::TooLarge => {
                socket::send(ws, &too_large(limits)).await;
            }
            Inbound::Binary => {
                socket::send(ws, &binary()).await;
            }
            Inbound::Alive => {}
            Inbound::Gone => return None,
        }
    }
}

fn too_large(limits: &Limits) -> ServerFrame {
    ServerFrame::error(
        "too_large",
        format!("Frames are limited to {} KiB.", limits.max_frame / 1024),
    )
}

fn binary() -> ServerFrame {
    ServerFrame::error("binary", "Only text frames are part of the chat protocol.")
}

fn internal() -> ServerFrame {
    ServerFrame::error(
        "internal",
        "Something went wrong on our side; please try again.",
    )
}

/// A new conversation from the pre-chat answers, or the one to resume.
async fn begin(
    state: &AppState,
    privacy: &Privacy,
    ip: IpAddr,
    hello: VisitorFrame,
) -> Result<(Conversation, i64), ServerFrame> {
    let VisitorFrame::Hello {
        name,
        email,
        birth_year,
        page,
        topic,
        resume,
    } = hello
    else {
        return Err(ServerFrame::error("hello_expected", "Say hello first."));
    };
    if let Some(Resume {
        conversation,
        token,
        after,
    }) = resume
    {
        let invalid = || {
            ServerFrame::error(
                "invalid_token",
                "This conversation cannot be resumed; please start a new one.",
            )
        };
        let Some((id, started)) = conversations::verify(state, &token, now_ms()) else {
            return Err(invalid());
        };
        if id != conversation || after < 0 {
            return Err(invalid());
        }
        return match conversations::load(state, conversation).await {
            Ok(Some(c)) if c.row.created_at == started => Ok((c, after)),
            Ok(_) => Err(invalid()),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "resuming a chat");
                Err(internal())
            }
        };
    }
    // Where an admin switched the chat's age question off, only a browser
    // remembered as a child is refused.
    let verdict = if state.site().asks_age(age::CHAT) {
        age::assess(privacy, birth_year.as_deref().unwrap_or(""))
    } else if privacy.child {
        Age::Child
    } else {
        Age::Ok
    };
    match verdict {
        Age::Ok => {}
        Age::Child => {
            return Err(ServerFrame::error(
                "under_13",
                "Thank you for visiting. We can't chat with children under 13, and nothing you typed was kept.",
            ));
        }
        Age::Invalid(message) => return Err(ServerFrame::error("birth_year", message)),
    }
    let name = conversations::clean_name(name.as_deref().unwrap_or(""))
        .map_err(|m| ServerFrame::error("name", m))?;
    let email = match email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => Some(
            e.parse::<EmailAddress>()
                .map_err(|m| ServerFrame::error("email", m))?,
        ),
    };
    let page = page.as_deref().and_then(conversations::clean_page);
    let topic = match conversations::clean_topic(state, topic.as_deref().unwrap_or("")).await {
        Ok(Ok(t)) => t,
        Ok(Err(m)) => return Err(ServerFrame::error("topic", m)),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "reading the chat topics");
            return Err(internal());
        }
    };
    if state.rate_limits.check_chat_start(ip).is_err() {
        return Err(ServerFrame::error(
            "rate_limited",
            "Too many new chats from your network just now; please wait a minute.",
        ));
    }
    match conversations::start(
        state,
        &name,
        email.as_ref(),
        page.as_deref(),
        topic.as_deref(),
    )
    .await
    {
        Ok(c) => {
            crate::analytics::goal_for(state, privacy, "chat_started");
            Ok((c, 0))
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "starting a chat");
            Err(internal())
        }
    }
}

struct Session {
    state: AppState,
    conversation: Conversation,
    /// The highest seq this connection has sent: every later one is sent
    /// once, in order, from the live stream or (after a gap) the database.
    last_sent: i64,
    limits: Limits,
    names: HashMap<i64, String>,
    ip_hash: Vec<u8>,
}

impl Session {
    async fn serve(mut self, mut ws: WebSocket) {
        let state = self.state.clone();
        // Subscribe before replaying, so nothing stored in between is missed.
        let mut events = state.chat.subscribe(self.conversation.id());
        let mut agents = state.chat.agents_online();
        let mut shutdown = state.shutdown.subscribe();
        let limiter = socket::limiter(&self.limits);
        let welcome = ServerFrame::Welcome {
            conversation: self.conversation.id(),
            token: conversations::token(&state, &self.conversation),
            name: self.conversation.name.clone(),
            status: self.conversation.row.status.clone(),
            agents_online: *agents.borrow_and_update(),
            last_seq: self.conversation.row.last_seq,
            read_seq: self.conversation.row.staff_read_seq,
        };
        if !socket::send(&mut ws, &welcome).await || !self.catch_up(&mut ws, i64::MAX).await {
            return;
        }
        let agents_now = *agents.borrow();
        let status = match &self.conversation.row.ticket_reference {
            Some(reference) => Some(ServerFrame::Ticket {
                reference: reference.clone(),
            }),
            None => self.offline_frame(agents_now),
        };
        if let Some(frame) = status
            && !socket::send(&mut ws, &frame).await
        {
            return;
        }
        let mut tick = tokio::time::interval(self.limits.ping_every);
        tick.tick().await;
        let mut last_heard = Instant::now();
        let mut last_active = Instant::now();
        let mut last_typing: Option<Instant> = None;
        loop {
            tokio::select! {
                inbound = socket::next(&mut ws, &self.limits) => {
                    last_heard = Instant::now();
                    let frame = match inbound {
                        Inbound::Gone => return,
                        Inbound::Alive => continue,
                        Inbound::TooLarge => { if !socket::send(&mut ws, &too_large(&self.limits)).await { return } continue }
                        Inbound::Binary => { if !socket::send(&mut ws, &binary()).await { return } continue }
                        Inbound::Text(t) => t,
                    };
                    last_active = Instant::now();
                    let frame = match serde_json::from_str::<VisitorFrame>(&frame) {
                        Ok(f) => f,
                        Err(e) => { if !socket::send(&mut ws, &socket::malformed(&e)).await { return } continue }
                    };
                    if let VisitorFrame::Typing {} = frame {
                        // Typing is throttled, not counted against the message limit.
                        if last_typing.is_none_or(|t| t.elapsed() >= Duration::from_millis(800)) {
                            last_typing = Some(Instant::now());
                            let _ = state.chat.publish(Event::Typing { conversation: self.conversation.id(), from: "visitor".into() }).await;
                        }
                        continue;
                    }
                    if limiter.check().is_err() {
                        let e = ServerFrame::error("rate_limited", "You are sending messages too fast; please wait a moment.");
                        if !socket::send(&mut ws, &e).await { return }
                        continue;
                    }
                    let reply = match self.handle(frame).await {
                        Ok(reply) => reply,
                        Err(e) => {
                            tracing::error!(error = format!("{e:#}"), "chat visitor frame");
                            Some(internal())
                        }
                    };
                    if let Some(reply) = reply && !socket::send(&mut ws, &reply).await {
                        return;
                    }
                }
                event = events.recv() => {
                    let ok = match event {
                        Ok(event) => self.deliver(&mut ws, &event).await,
                        Err(RecvError::Lagged(_)) => self.catch_up(&mut ws, i64::MAX).await,
                        Err(RecvError::Closed) => false,
                    };
                    if !ok { return }
                }
                Ok(()) = agents.changed() => {
                    let n = *agents.borrow_and_update();
                    if !socket::send(&mut ws, &ServerFrame::Status { agents_online: n }).await { return }
                    if let Some(offline) = self.offline_frame(n) && !socket::send(&mut ws, &offline).await { return }
                }
                _ = tick.tick() => {
                    if last_active.elapsed() > self.limits.idle_after {
                        socket::close(&mut ws, socket::CLOSE_NORMAL, "idle").await;
                        return;
                    }
                    // Not even a pong for two pings: the peer is gone.
                    if last_heard.elapsed() > self.limits.ping_every * 2 {
                        socket::close(&mut ws, socket::CLOSE_GOING_AWAY, "no heartbeat").await;
                        return;
                    }
                    if !socket::ping(&mut ws).await { return }
                }
                _ = super::hub::stopped(&mut shutdown) => {
                    socket::close(&mut ws, socket::CLOSE_RESTART, "restarting").await;
                    return;
                }
            }
        }
    }

    /// Sends what was stored after `last_sent` (up to `upto`), from the database.
    async fn catch_up(&mut self, ws: &mut WebSocket, upto: i64) -> bool {
        if self.names.is_empty() {
            match conversations::staff_names(&self.state).await {
                Ok(n) => self.names = n,
                Err(e) => tracing::warn!(error = format!("{e:#}"), "staff names"),
            }
        }
        let frames = match conversations::history(
            &self.state,
            &self.conversation,
            self.last_sent,
            upto,
            &self.names,
        )
        .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "chat replay");
                return socket::send(ws, &internal()).await;
            }
        };
        for frame in frames {
            if let ServerFrame::Message { seq, .. } = frame {
                self.last_sent = seq;
            }
            if !socket::send(ws, &frame).await {
                return false;
            }
        }
        true
    }

    async fn deliver(&mut self, ws: &mut WebSocket, event: &Event) -> bool {
        match event {
            Event::Message {
                conversation,
                seq,
                from,
                name,
                body,
                at,
            } => {
                if *seq <= self.last_sent {
                    return true;
                }
                match body {
                    Some(body) if *seq == self.last_sent + 1 => {
                        self.last_sent = *seq;
                        socket::send(
                            ws,
                            &ServerFrame::Message {
                                conversation: *conversation,
                                seq: *seq,
                                from: from.clone(),
                                name: name.clone(),
                                body: body.clone(),
                                at: *at,
                            },
                        )
                        .await
                    }
                    // A gap (or a body too long to travel): from the database.
                    _ => self.catch_up(ws, *seq).await,
                }
            }
            Event::Typing { conversation, from } if from != "visitor" => {
                socket::send(
                    ws,
                    &ServerFrame::Typing {
                        conversation: *conversation,
                        from: from.clone(),
                    },
                )
                .await
            }
            Event::Read {
                conversation,
                by,
                seq,
            } if by != "visitor" => {
                socket::send(
                    ws,
                    &ServerFrame::Read {
                        conversation: *conversation,
                        by: by.clone(),
                        seq: *seq,
                    },
                )
                .await
            }
            Event::Changed { conversation } => {
                match conversations::load(&self.state, *conversation).await {
                    Ok(Some(c)) => {
                        if c.row.agent_id.is_some_and(|a| !self.names.contains_key(&a)) {
                            self.names.clear();
                            if let Ok(n) = conversations::staff_names(&self.state).await {
                                self.names = n;
                            }
                        }
                        let mut summary = c.summary(&self.names);
                        // The visitor needs the state and the agent's name, nothing else.
                        summary.email = String::new();
                        summary.page = String::new();
                        let ticketed = self.conversation.row.ticket_reference.is_none()
                            && c.row.ticket_reference.is_some();
                        let unanswered = self.conversation.row.unanswered_at.is_none()
                            && c.row.unanswered_at.is_some();
                        self.conversation = c;
                        if !socket::send(ws, &ServerFrame::Conversation(Box::new(summary))).await {
                            return false;
                        }
                        // Turned into a ticket, or unanswered, behind the visitor's back (the sweep).
                        let news = match &self.conversation.row.ticket_reference {
                            Some(reference) if ticketed => Some(ServerFrame::Ticket {
                                reference: reference.clone(),
                            }),
                            _ if unanswered => self.offline_frame(0),
                            _ => None,
                        };
                        match news {
                            Some(frame) => socket::send(ws, &frame).await,
                            None => true,
                        }
                    }
                    Ok(None) => false,
                    Err(e) => {
                        tracing::warn!(error = format!("{e:#}"), "reloading a chat");
                        true
                    }
                }
            }
            _ => true,
        }
    }

    /// Answers one frame of the visitor (after the hello).
    async fn handle(&mut self, frame: VisitorFrame) -> anyhow::Result<Option<ServerFrame>> {
        let state = &self.state;
        let id = self.conversation.id();
        Ok(match frame {
            VisitorFrame::Hello { .. } => Some(ServerFrame::error(
                "already_started",
                "This connection already has a conversation.",
            )),
            VisitorFrame::Typing {} => None,
            VisitorFrame::Message {
                body,
                id: client_id,
            } => {
                let body = match conversations::clean_body(&body) {
                    Ok(b) => b,
                    Err(m) => return Ok(Some(ServerFrame::error("invalid", m))),
                };
                if client_id
                    .as_ref()
                    .is_some_and(|c| c.is_empty() || c.len() > 64)
                {
                    return Ok(Some(ServerFrame::error(
                        "invalid",
                        "A message id is 1 to 64 characters.",
                    )));
                }
                match conversations::post(
                    state,
                    &self.conversation,
                    "visitor",
                    None,
                    &body,
                    client_id.clone(),
                )
                .await?
                {
                    Some(stored) => Some(ServerFrame::Ack {
                        conversation: id,
                        id: client_id,
                        seq: stored.seq,
                    }),
                    None => Some(ServerFrame::error(
                        "closed",
                        "This conversation is closed; start a new one to write again.",
                    )),
                }
            }
            VisitorFrame::Read { seq } => {
                conversations::mark_read(state, id, false, seq).await?;
                None
            }
            VisitorFrame::Page { url } => {
                if let Some(page) = conversations::clean_page(&url) {
                    super::db::set_page(&state.db, id, &self.conversation.seal("page", &page))
                        .await?;
                    self.conversation.page = page;
                    state
                        .chat
                        .publish(Event::Changed { conversation: id })
                        .await?;
                }
                None
            }
            VisitorFrame::LeaveMessage { body, email } => {
                // Once the visitor has written, the chat so far is the message.
                let body = match conversations::clean_body(&body) {
                    Ok(b) => Some(b),
                    Err(_) if body.trim().is_empty() && self.visitor_has_written().await? => None,
                    Err(m) => return Ok(Some(ServerFrame::error("invalid", m))),
                };
                let email = match self.email_for(email.as_deref()) {
                    Ok(e) => e,
                    Err(frame) => return Ok(Some(frame)),
                };
                let reference = match conversations::leave_message(
                    state,
                    &self.conversation,
                    &email,
                    body.as_deref(),
                    &self.ip_hash,
                )
                .await?
                {
                    Ok(r) => r,
                    Err(m) => return Ok(Some(ServerFrame::error("rate_limited", m))),
                };
                self.conversation.row.ticket_reference = Some(reference.clone());
                Some(ServerFrame::Ticket { reference })
            }
            VisitorFrame::Transcript { email } => {
                let email = match self.email_for(email.as_deref()) {
                    Ok(e) => e,
                    Err(frame) => return Ok(Some(frame)),
                };
                if crate::privacy::erasure::is_suppressed(state, email.as_str()).await? {
                    return Ok(Some(ServerFrame::error(
                        "suppressed",
                        "This address asked us never to write to it again.",
                    )));
                }
                if let Some(fresh) = conversations::load(state, id).await? {
                    self.conversation = fresh;
                }
                conversations::mail_transcript(state, &self.conversation, &email).await?;
                Some(ServerFrame::Transcript {
                    to: email.to_string(),
                })
            }
        })
    }

    /// Whether the visitor has sent a message in this conversation.
    async fn visitor_has_written(&self) -> anyhow::Result<bool> {
        Ok(
            super::db::messages(&self.state.db, self.conversation.id(), 0, i64::MAX)
                .await?
                .iter()
                .any(|m| m.sender == "visitor"),
        )
    }

    /// The `offline` frame while nobody can answer this waiting chat live:
    /// no agent online, or nobody answered in time.
    fn offline_frame(&self, agents_online: i64) -> Option<ServerFrame> {
        let row = &self.conversation.row;
        if row.status != "waiting" || row.ticket_reference.is_some() {
            return None;
        }
        let reason = match (row.unanswered_at, agents_online) {
            (Some(_), _) => "unanswered",
            (None, 0) => "nobody_online",
            _ => return None,
        };
        let email_needed = self.conversation.email.is_empty();
        let message = match (reason, email_needed) {
            ("unanswered", _) => {
                "Sorry, nobody could answer in time. Leave your email and we'll answer your messages by email."
            }
            (_, true) => {
                "Nobody is online right now. Leave your message and email and we'll answer by email."
            }
            _ => "Nobody is online right now. Leave your message and we'll answer by email.",
        };
        Some(ServerFrame::Offline {
            reason: reason.into(),
            email_needed,
            message: message.into(),
        })
    }

    /// The address given in the frame, else the one of the pre-chat step.
    fn email_for(&self, given: Option<&str>) -> Result<EmailAddress, ServerFrame> {
        let typed = given.map(str::trim).filter(|e| !e.is_empty());
        let email = typed.unwrap_or(self.conversation.email.as_str());
        if email.is_empty() {
            return Err(ServerFrame::error(
                "email",
                "Please give an email address so we can answer you.",
            ));
        }
        email.parse().map_err(|m| ServerFrame::error("email", m))
    }
}

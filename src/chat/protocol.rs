//! The frames of `/chat/ws` and `/admin/chat/ws`: JSON text frames, each
//! with a `type`. `docs/chat-protocol.md` describes them for people.

use serde::{Deserialize, Serialize};

/// What a visitor's widget sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum VisitorFrame {
    /// Starts a conversation (pre-chat answers) or resumes one.
    Hello {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        email: Option<String>,
        #[serde(default)]
        birth_year: Option<String>,
        /// The page the visitor is on, shown to the agent.
        #[serde(default)]
        page: Option<String>,
        /// One of the support form's products, if the visitor picked one.
        #[serde(default)]
        topic: Option<String>,
        #[serde(default)]
        resume: Option<Resume>,
    },
    Message {
        body: String,
        /// Chosen by the client; sending the same id again (after a
        /// reconnect) stores the message once.
        #[serde(default)]
        id: Option<String>,
    },
    Typing {},
    Read {
        seq: i64,
    },
    /// The visitor moved to another page (the widget follows them).
    Page {
        url: String,
    },
    /// Nobody can answer live: the message (and the chat so far) becomes a
    /// support ticket. The body may be empty once the visitor has written.
    LeaveMessage {
        #[serde(default)]
        body: String,
        #[serde(default)]
        email: Option<String>,
    },
    /// Mail me the transcript (to the email given, or the one of the chat).
    Transcript {
        #[serde(default)]
        email: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    pub conversation: i64,
    pub token: String,
    /// The last `seq` the client saw; every later message is replayed once.
    #[serde(default)]
    pub after: i64,
}

/// What the staff console sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StaffFrame {
    /// `online` or `away`.
    Presence {
        status: String,
    },
    /// Follow a conversation: replays its messages after `after`, then live.
    Open {
        conversation: i64,
        #[serde(default)]
        after: i64,
    },
    Accept {
        conversation: i64,
    },
    Transfer {
        conversation: i64,
        to: i64,
    },
    Close {
        conversation: i64,
    },
    Message {
        conversation: i64,
        body: String,
        #[serde(default)]
        id: Option<String>,
    },
    Typing {
        conversation: i64,
    },
    Read {
        conversation: i64,
        seq: i64,
    },
}

/// A conversation as the console lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub conversation: i64,
    pub status: String,
    pub name: String,
    pub email: String,
    /// Whether the visitor proved the email is theirs (a link mailed to it).
    #[serde(default)]
    pub email_verified: bool,
    pub page: String,
    pub agent_id: Option<i64>,
    pub agent: String,
    /// The team the chat is routed to (staff only; blank for the visitor).
    #[serde(default)]
    pub team: String,
    /// That team's id, so a console narrowed to the agent's teams keeps
    /// only theirs (staff only; none for the visitor).
    #[serde(default)]
    pub team_id: Option<i64>,
    pub last_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the server sends, to visitors and staff alike.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        conversation: i64,
        token: String,
        name: String,
        status: String,
        agents_online: i64,
        last_seq: i64,
        /// The last seq the other side has read.
        read_seq: i64,
    },
    /// The staff console's greeting: who you are and the open conversations.
    Console {
        agent_id: i64,
        agent: String,
        agents_online: i64,
        conversations: Vec<Summary>,
    },
    Message {
        conversation: i64,
        seq: i64,
        /// `visitor`, `agent` or `system`.
        from: String,
        name: String,
        body: String,
        at: i64,
    },
    /// The message with the client's `id` is stored as `seq`.
    Ack {
        conversation: i64,
        id: Option<String>,
        seq: i64,
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
    Status {
        agents_online: i64,
    },
    /// A conversation changed (accepted, transferred, closed, new).
    Conversation(Box<Summary>),
    /// Nobody can answer live: what the visitor writes now becomes a
    /// support ticket (`leave_message`). `reason`: `nobody_online` or
    /// `unanswered`; `email_needed` when the chat has no address yet.
    Offline {
        reason: String,
        email_needed: bool,
        message: String,
    },
    /// The left message (or the unanswered chat) became this support ticket.
    Ticket {
        reference: String,
    },
    /// The transcript is on its way to this address.
    Transcript {
        to: String,
    },
    Error {
        code: String,
        message: String,
    },
}

impl ServerFrame {
    pub fn error(code: &str, message: impl Into<String>) -> ServerFrame {
        ServerFrame::Error {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"type\":\"error\"}".into())
    }
}

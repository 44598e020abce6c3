//! What visitor and staff connections share: the origin check, frame
//! limits, the rate limiter and sending frames.

use super::{hub::Limits, protocol::ServerFrame};
use axum::{
    extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    http::{HeaderMap, header},
};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_RESTART: u16 = 1012;

/// A browser always sends `Origin` on a WebSocket upgrade: it must be our
/// own site. (A client without one is not a browser and gains nothing by
/// leaving it out: it could send any value.)
pub fn origin_allowed(headers: &HeaderMap, base_url: &url::Url) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    match url::Url::parse(origin) {
        Ok(o) => o.origin() == base_url.origin(),
        Err(_) => false,
    }
}

/// [`origin_allowed`] as the answer a foreign page gets: 403, through the
/// one error type like every other refusal.
pub fn check_origin(
    headers: &HeaderMap,
    base_url: &url::Url,
) -> Result<(), crate::error::AppError> {
    if origin_allowed(headers, base_url) {
        Ok(())
    } else {
        Err(crate::error::AppError::Forbidden)
    }
}

/// The upgrade with our size limits and small buffers (an idle connection
/// should cost little memory).
pub fn configure(ws: WebSocketUpgrade, limits: &Limits) -> WebSocketUpgrade {
    ws.max_message_size(limits.max_message)
        .max_frame_size(limits.max_message)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

pub fn limiter(limits: &Limits) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(limits.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limits.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
}

/// One frame from the client, judged.
pub enum Inbound {
    Text(String),
    /// A text frame over the frame limit: answered with an error frame.
    TooLarge,
    /// Binary frames are not part of the protocol.
    Binary,
    /// Ping or pong: the peer is alive.
    Alive,
    /// The peer closed, vanished, or sent more than the message limit
    /// (already answered with close code 1009).
    Gone,
}

pub async fn next(ws: &mut WebSocket, limits: &Limits) -> Inbound {
    match ws.recv().await {
        None | Some(Ok(Message::Close(_))) => Inbound::Gone,
        Some(Ok(Message::Text(t))) if t.len() > limits.max_message => {
            close(ws, CLOSE_TOO_BIG, "message too big").await;
            Inbound::Gone
        }
        Some(Ok(Message::Text(t))) if t.len() > limits.max_frame => Inbound::TooLarge,
        Some(Ok(Message::Text(t))) => Inbound::Text(t.to_string()),
        Some(Ok(Message::Binary(_))) => Inbound::Binary,
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Inbound::Alive,
        Some(Err(e)) => {
            // tungstenite refuses a message over `max_message_size` with a
            // capacity error; tell the client why before hanging up.
            let text = format!("{e:#}");
            if text.contains("too long") || text.contains("Space limit") {
                close(ws, CLOSE_TOO_BIG, "message too big").await;
            }
            Inbound::Gone
        }
    }
}

/// Sends a frame; false when the connection is gone.
pub async fn send(ws: &mut WebSocket, frame: &ServerFrame) -> bool {
    ws.send(Message::Text(frame.to_json().into())).await.is_ok()
}

pub async fn close(ws: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

pub async fn ping(ws: &mut WebSocket) -> bool {
    ws.send(Message::Ping(Default::default())).await.is_ok()
}

/// The error frame for input that is not a frame of the protocol.
pub fn malformed(e: &serde_json::Error) -> ServerFrame {
    ServerFrame::error(
        "malformed",
        format!("Not a frame of the chat protocol: {e}"),
    )
}

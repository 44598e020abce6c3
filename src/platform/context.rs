//! The per-request context every page needs, defined here at the bottom so
//! every layer can read it; the application's site middleware fills it in
//! (privacy signals, consent choices, the age answer, the CSRF token), the
//! staff layer adds the signed-in member. Nothing that tracks may run
//! without asking [`Privacy`].

use super::{http::client_ip, state::Platform};
use crate::error::AppError;
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, request::Parts},
};
use std::{convert::Infallible, net::IpAddr};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privacy {
    /// `DNT: 1` was sent.
    pub do_not_track: bool,
    /// `Sec-GPC: 1` (Global Privacy Control) was sent.
    pub global_privacy_control: bool,
    /// This browser answered an age question as possibly under 13 this session.
    pub child: bool,
    /// The visitor's cookie choices (the signed consent cookie).
    pub consent: Consent,
}

impl Privacy {
    pub fn from_headers(headers: &HeaderMap) -> Privacy {
        let is_one = |name: &str| {
            headers
                .get(name)
                .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
        };
        Privacy {
            do_not_track: is_one("dnt"),
            global_privacy_control: is_one("sec-gpc"),
            child: false,
            consent: Default::default(),
        }
    }

    /// The visitor asked not to be tracked, by DNT or GPC.
    pub fn opted_out(&self) -> bool {
        self.do_not_track || self.global_privacy_control
    }

    /// Whether anything that tracks (analytics, marketing) may run.
    pub fn tracking_allowed(&self) -> bool {
        !self.opted_out() && !self.child
    }

    /// Whether this visit is counted in our own (cookieless, server-side)
    /// statistics: tracking allowed, and analytics not refused.
    pub fn counted(&self) -> bool {
        self.tracking_allowed() && (!self.consent.decided || self.consent.analytics)
    }

    /// Whether marketing (third-party tags) may run: tracking allowed and
    /// marketing explicitly accepted.
    pub fn marketing_allowed(&self) -> bool {
        self.tracking_allowed() && self.consent.decided && self.consent.marketing
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Privacy {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<Privacy>() {
            Some(p) => p.clone(),
            None => Privacy::from_headers(&parts.headers),
        })
    }
}

/// One visitor's cookie choices, read from the signed consent cookie by the
/// consent feature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consent {
    /// A choice was made; before the first one, nothing optional is on.
    pub decided: bool,
    pub preferences: bool,
    pub analytics: bool,
    pub marketing: bool,
    /// Random id of this browser's choices, the same across changes of mind.
    pub id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Agent,
    Editor,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Agent, Role::Editor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Editor => "editor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// An admin can do everything; others only their own area.
    pub fn allows(self, required: Role) -> bool {
        self == Role::Admin || self == required
    }
}

/// The signed-in staff member, as pages see them (the staff layer reads it
/// from the session and puts it on the request).
#[derive(Clone, Debug)]
pub struct StaffUser {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// The zone they read times in; `None`: the company's.
    pub time_zone: Option<chrono_tz::Tz>,
}

/// A published breach notice shown on every page.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicNotice {
    pub title: String,
    pub description: String,
    pub published_at: i64,
}

/// The notices in force, with a version that changes with the list: shared
/// pages are cached per version.
#[derive(Debug, Default)]
pub struct Notices {
    pub version: u64,
    pub items: Vec<PublicNotice>,
}

/// The visitor's network address, as the rate limits see it (the nearest
/// untrusted hop when a trusted proxy forwarded the request).
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    Platform: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let platform = Platform::from_ref(state);
        Ok(ClientIp(client_ip(
            &parts.headers,
            &parts.extensions,
            &platform.config.trust_proxy,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_signal_turns_tracking_off() {
        let mut h = HeaderMap::new();
        assert!(Privacy::from_headers(&h).tracking_allowed());
        h.insert("dnt", "1".parse().unwrap());
        assert!(!Privacy::from_headers(&h).tracking_allowed());
        let mut h = HeaderMap::new();
        h.insert("sec-gpc", "1".parse().unwrap());
        assert!(Privacy::from_headers(&h).global_privacy_control);
        let mut h = HeaderMap::new();
        h.insert("dnt", "0".parse().unwrap());
        assert!(Privacy::from_headers(&h).tracking_allowed());
    }
}

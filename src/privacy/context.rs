//! The per-request privacy context: the visitor's signals read once, handed
//! to every handler and template. Nothing that tracks may run without asking it.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, request::Parts},
};
use std::convert::Infallible;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privacy {
    /// `DNT: 1` was sent.
    pub do_not_track: bool,
    /// `Sec-GPC: 1` (Global Privacy Control) was sent.
    pub global_privacy_control: bool,
    /// This browser answered an age question as possibly under 13 this session.
    pub child: bool,
    /// The visitor's cookie choices (the signed consent cookie).
    pub consent: crate::consent::Consent,
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

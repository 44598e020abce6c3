//! The cart, kept in a signed cookie and nowhere else: no server-side
//! session, no identifier, only `service id × quantity` lines and the time
//! the cart was last changed. It is a necessary cookie (the visitor asked
//! for it by adding a service), so it works with Do Not Track and without
//! consent. A cookie whose signature does not verify, or that cannot be
//! parsed, is refused and replaced by an empty cart; one older than
//! [`MAX_AGE_DAYS`] is treated as empty.

use crate::platform::crypto::Keyring;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

pub const COOKIE: &str = "oc_cart";
const SIGNING_PURPOSE: &str = "cart";
const VERSION: &str = "c1";
/// How long a cart is kept; the cookie's lifetime and the staleness limit.
pub const MAX_AGE_DAYS: i64 = 7;
/// Bounds that keep the cookie small and the totals sane.
pub const MAX_QUANTITY: i64 = 100;
pub const MAX_LINES: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cart {
    /// `(service id, quantity)`, in the order they were added; quantities 1..=MAX_QUANTITY.
    pub lines: Vec<(i64, i64)>,
}

/// What reading the cookie found.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// No cookie, or a good one.
    Fresh(Cart),
    /// Signed by us but older than [`MAX_AGE_DAYS`]: emptied.
    Stale,
    /// Not signed by us, or unreadable: refused and emptied.
    Tampered,
}

impl Loaded {
    pub fn cart(&self) -> Cart {
        match self {
            Loaded::Fresh(c) => c.clone(),
            _ => Cart::default(),
        }
    }

    /// The message to show when the cookie could not be used.
    pub fn problem(&self) -> Option<&'static str> {
        match self {
            Loaded::Fresh(_) => None,
            Loaded::Stale => Some("Your cart was older than a week, so we emptied it."),
            Loaded::Tampered => Some(
                "Your cart could not be read (it was changed outside this site), so we emptied it.",
            ),
        }
    }
}

/// Why a change to the cart was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum CartError {
    BadQuantity,
    TooMany,
    Full,
}

impl CartError {
    pub fn message(&self) -> String {
        match self {
            CartError::BadQuantity => {
                format!("Please enter a whole number of at least 1 and at most {MAX_QUANTITY}.")
            }
            CartError::TooMany => format!("You can order at most {MAX_QUANTITY} of one service."),
            CartError::Full => format!("Your cart holds at most {MAX_LINES} different services."),
        }
    }
}

/// Parses a quantity typed by a person: a whole number, 0..=MAX_QUANTITY
/// (0 only where it means "remove").
pub fn parse_quantity(raw: &str) -> Result<i64, CartError> {
    match raw.trim().parse::<i64>() {
        Ok(q) if (0..=MAX_QUANTITY).contains(&q) => Ok(q),
        Ok(q) if q > MAX_QUANTITY => Err(CartError::TooMany),
        _ => Err(CartError::BadQuantity),
    }
}

impl Cart {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn quantity_of(&self, service: i64) -> i64 {
        self.lines
            .iter()
            .find(|(id, _)| *id == service)
            .map_or(0, |(_, q)| *q)
    }

    /// Adds `quantity` (at least 1) of a service.
    pub fn add(&mut self, service: i64, quantity: i64) -> Result<(), CartError> {
        if quantity < 1 {
            return Err(CartError::BadQuantity);
        }
        match self.lines.iter_mut().find(|(id, _)| *id == service) {
            Some((_, q)) => {
                if *q + quantity > MAX_QUANTITY {
                    return Err(CartError::TooMany);
                }
                *q += quantity;
            }
            None => {
                if self.lines.len() >= MAX_LINES {
                    return Err(CartError::Full);
                }
                if quantity > MAX_QUANTITY {
                    return Err(CartError::TooMany);
                }
                self.lines.push((service, quantity));
            }
        }
        Ok(())
    }

    /// Sets a line's quantity; 0 removes it.
    pub fn set(&mut self, service: i64, quantity: i64) -> Result<(), CartError> {
        if !(0..=MAX_QUANTITY).contains(&quantity) {
            return Err(if quantity > MAX_QUANTITY {
                CartError::TooMany
            } else {
                CartError::BadQuantity
            });
        }
        if quantity == 0 {
            self.remove(service);
            return Ok(());
        }
        match self.lines.iter_mut().find(|(id, _)| *id == service) {
            Some((_, q)) => *q = quantity,
            None => return self.add(service, quantity),
        }
        Ok(())
    }

    pub fn remove(&mut self, service: i64) {
        self.lines.retain(|(id, _)| *id != service);
    }

    fn encode(&self, now_ms: i64) -> String {
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|(id, q)| format!("{id}x{q}"))
            .collect();
        format!("{VERSION}-{now_ms}-{}", lines.join("_"))
    }

    fn decode(data: &str) -> Option<(Cart, i64)> {
        let mut parts = data.splitn(3, '-');
        if parts.next()? != VERSION {
            return None;
        }
        let at: i64 = parts.next()?.parse().ok()?;
        let body = parts.next()?;
        let mut cart = Cart::default();
        if !body.is_empty() {
            for line in body.split('_') {
                let (id, q) = line.split_once('x')?;
                let (id, q): (i64, i64) = (id.parse().ok()?, q.parse().ok()?);
                if id < 1 || cart.quantity_of(id) > 0 {
                    return None;
                }
                cart.add(id, q).ok()?;
            }
        }
        Some((cart, at))
    }

    /// Reads the cart cookie from a request's headers.
    pub fn load(headers: &HeaderMap, keyring: &Keyring, now_ms: i64) -> Loaded {
        let jar = CookieJar::from_headers(headers);
        let Some(cookie) = jar.get(COOKIE) else {
            return Loaded::Fresh(Cart::default());
        };
        let Some((cart, at)) = keyring
            .verify(SIGNING_PURPOSE, cookie.value())
            .and_then(Cart::decode)
        else {
            return Loaded::Tampered;
        };
        if at > now_ms + 60_000 {
            return Loaded::Tampered;
        }
        if now_ms - at > MAX_AGE_DAYS * 86_400_000 {
            return Loaded::Stale;
        }
        Loaded::Fresh(cart)
    }

    /// The `Set-Cookie` value holding this cart (an empty cart removes the cookie).
    pub fn cookie(&self, keyring: &Keyring, secure: bool, now_ms: i64) -> String {
        let mut cookie =
            Cookie::build((COOKIE, keyring.sign(SIGNING_PURPOSE, &self.encode(now_ms))))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(secure)
                .build();
        if self.is_empty() {
            cookie.make_removal();
            return cookie.to_string();
        }
        // `time` is not a dependency of ours, so Max-Age is written by hand.
        format!("{cookie}; Max-Age={}", MAX_AGE_DAYS * 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_str(cookie).unwrap());
        h
    }

    fn value(set_cookie: &str) -> String {
        set_cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("oc_cart=")
            .to_string()
    }

    #[test]
    fn a_cart_survives_its_cookie_and_nothing_else_does() {
        let ring = Keyring::from_secret(&[5; 32]);
        let mut cart = Cart::default();
        cart.add(3, 2).unwrap();
        cart.add(7, 1).unwrap();
        cart.add(3, 1).unwrap();
        let now = 1_800_000_000_000;
        let set = cart.cookie(&ring, false, now);
        assert!(set.contains("HttpOnly") && set.contains("Max-Age"));
        let good = value(&set);
        assert_eq!(
            Cart::load(&headers(&format!("oc_cart={good}")), &ring, now),
            Loaded::Fresh(Cart {
                lines: vec![(3, 3), (7, 1)]
            })
        );
        let forged = good.replacen("3x3", "3x9", 1);
        assert_eq!(
            Cart::load(&headers(&format!("oc_cart={forged}")), &ring, now),
            Loaded::Tampered
        );
        let other_key = Keyring::from_secret(&[6; 32]);
        assert_eq!(
            Cart::load(&headers(&format!("oc_cart={good}")), &other_key, now),
            Loaded::Tampered
        );
        assert_eq!(
            Cart::load(&headers("oc_cart=garbage"), &ring, now),
            Loaded::Tampered
        );
        let week = MAX_AGE_DAYS * 86_400_000;
        assert_eq!(
            Cart::load(&headers(&format!("oc_cart={good}")), &ring, now + week + 1),
            Loaded::Stale
        );
        // Signed but out of bounds (made with our key by a bug, say): still refused.
        let huge = ring.sign(SIGNING_PURPOSE, &format!("c1-{now}-3x1000"));
        assert_eq!(
            Cart::load(&headers(&format!("oc_cart={huge}")), &ring, now),
            Loaded::Tampered
        );
    }

    #[test]
    fn quantities_are_bounded() {
        assert_eq!(parse_quantity("3"), Ok(3));
        assert_eq!(parse_quantity(" 0 "), Ok(0));
        assert_eq!(parse_quantity("-1"), Err(CartError::BadQuantity));
        assert_eq!(parse_quantity("101"), Err(CartError::TooMany));
        assert_eq!(
            parse_quantity("99999999999999999999999"),
            Err(CartError::BadQuantity)
        );
        assert_eq!(parse_quantity("1.5"), Err(CartError::BadQuantity));
        let mut cart = Cart::default();
        assert_eq!(cart.add(1, 0), Err(CartError::BadQuantity));
        cart.add(1, 100).unwrap();
        assert_eq!(cart.add(1, 1), Err(CartError::TooMany));
        for id in 2..=MAX_LINES as i64 {
            cart.add(id, 1).unwrap();
        }
        assert_eq!(cart.add(99, 1), Err(CartError::Full));
        cart.set(1, 0).unwrap();
        assert_eq!(cart.quantity_of(1), 0);
    }
}

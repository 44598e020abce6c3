//! The webhook outbox (Standard Webhooks). A feature raises an event with
//! [`enqueue`] in the transaction of the change that causes it; one row per
//! subscribed endpoint is written, sealed under the person's key when the
//! event concerns one. [`deliver_due`] posts due rows, signed
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…`), retrying
//! with backoff for about a day. Requests go only to public addresses unless
//! the endpoint's admin allowed private ones: names are resolved by a
//! resolver that drops refused addresses, so the check holds at connect
//! time, whatever the name resolved to when the endpoint was saved.

use super::{
    crypto::Keyring,
    db::{Db, Tx, placeholders, trusted_sql},
    inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
    now_ms, random_token,
    state::Platform,
    subjects::{self, Subject},
};
use anyhow::Context;
use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

pub const TABLES: &[Table] = &[
    Table {
        name: "webhook_endpoints",
        feature: "webhooks to services our staff connect",
        title: "Webhook endpoints",
        summary: "",
        subject_column: None,
        created_column: None,
        retention: Retention::UntilErased,
        personal: &[],
        other: &[
            "id",
            "name",
            "url",
            "secret",
            "events",
            "include_personal",
            "allow_private",
            "enabled",
            "created_at",
            "failing_since",
            "disabled_at",
            "disabled_reason",
        ],
        columns: &[],
    },
    Table {
        name: "webhook_deliveries",
        feature: "webhooks to services our staff connect",
        title: "Notices sent to services we use",
        summary: "{event} · {status} · {created_at}",
        subject_column: Some("subject_id"),
        created_column: Some("created_at"),
        retention: Retention::Days(30),
        personal: &[Field {
            column: "payload",
            label: "notices of events that concern you, for services our staff connected (your details go only to those named under Third parties)",
            category: Category::Message,
            purpose: "to tell the services our staff use that something happened (a support request arrived, say)",
            encrypted: true,
            shared_with: &[],
        }],
        other: &[
            "id",
            "endpoint_id",
            "event",
            "msg_id",
            "subject_id",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
            "claimed_until",
            "last_attempt_at",
            "last_status",
            "last_latency_ms",
            "last_error",
            "delivered_at",
        ],
        columns: &[
            Column::new(
                "payload",
                "Notice",
                Shown::Record,
                "What the notice said: the event, its time, and the references it carried.",
            ),
            Column::new(
                "event",
                "What happened",
                Shown::Status,
                "The kind of event the notice was about (for example a new support request).",
            ),
            Column::new(
                "status",
                "Delivery",
                Shown::Status,
                "Whether the receiving service has accepted the notice yet.",
            ),
            Column::new(
                "created_at",
                "Raised",
                Shown::DateTime,
                "When the event happened.",
            ),
            Column::new(
                "delivered_at",
                "Delivered",
                Shown::DateTime,
                "When the receiving service accepted it.",
            ),
            Column::new(
                "attempts",
                "Delivery attempts",
                Shown::Number,
                "How many times our server tried to hand it over.",
            ),
            Column::internal("id", ROW_ID),
            Column::internal("subject_id", SUBJECT_ID),
            Column::internal("endpoint_id", "Which receiving service the notice was for."),
            Column::internal(
                "msg_id",
                "The notice's unique name, so the receiver never handles it twice.",
            ),
            Column::internal(
                "next_attempt_at",
                "When our server tries again after a failed attempt.",
            ),
            Column::internal(
                "claimed_until",
                "A short lock our sender holds while it sends.",
            ),
            Column::internal(
                "last_attempt_at",
                "When our server last tried to hand it over.",
            ),
            Column::internal("last_status", "The receiving service's last answer code."),
            Column::internal(
                "last_latency_ms",
                "How long the receiving service took to answer.",
            ),
            Column::internal(
                "last_error",
                "What went wrong on the last failed attempt, if anything did.",
            ),
        ],
    },
];

/// Every event an endpoint can subscribe to, with what it means.
pub const EVENTS: &[(&str, &str)] = &[
    ("ticket.created", "a support request arrives"),
    ("ticket.replied", "a ticket gets a reply"),
    ("ticket.status_changed", "a ticket's status changes"),
    ("chat.started", "a visitor starts a chat"),
    ("chat.message", "a chat message is sent"),
    (
        "subscriber.confirmed",
        "a newsletter subscription is confirmed",
    ),
    ("subscriber.unsubscribed", "someone unsubscribes"),
    ("order.created", "an order request arrives"),
    ("survey.response", "a survey is answered"),
    ("privacy.erasure", "someone's data is erased"),
];

/// Settings keys (`webhooks.personal.<endpoint id>` = its name) naming the
/// endpoints that receive personal data, for the privacy policy.
pub const DISCLOSURE_PREFIX: &str = "webhooks.personal.";
const PAYLOAD_CONTEXT: &str = "webhook_deliveries.payload";
const SECRET_CONTEXT: &str = "webhook_endpoints.secret";
/// Seconds before each retry (Standard Webhooks' schedule, about a day in all).
const RETRY_AFTER_SECS: &[i64] = &[5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/// An endpoint failing this long is switched off and the admins are told.
pub const DISABLE_AFTER_MS: i64 = 3 * 24 * 3_600_000;
const CONCURRENCY: usize = 8;
const BATCH: i64 = 100;

/// Something that happened, for the endpoints that subscribed to it.
pub struct Event<'a> {
    /// One of [`EVENTS`].
    pub kind: &'static str,
    /// The person it concerns: their key seals the payload, so erasing
    /// them makes every queued copy unreadable (and erasure deletes it);
    /// the payload carries their `person_id`.
    pub subject: Option<&'a Subject>,
    /// Ids and references (a JSON object), sent to every subscriber.
    pub data: serde_json::Value,
    /// Personal fields (a JSON object), sent only to endpoints whose admin
    /// ticked "include personal data".
    pub personal: serde_json::Value,
}

/// A new signing secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let mut raw = [0u8; 24];
    rand::fill(&mut raw);
    format!("whsec_{}", STANDARD.encode(raw))
}

/// Seals a signing secret for storage.
pub fn seal_secret(keyring: &Keyring, secret: &str) -> Vec<u8> {
    keyring.system_key().encrypt_str(SECRET_CONTEXT, secret)
}

pub fn open_secret(keyring: &Keyring, sealed: &[u8]) -> anyhow::Result<String> {
    keyring.system_key().decrypt_string(SECRET_CONTEXT, sealed)
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key
/// being the base64 after `whsec_`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .context("webhook secret is not base64")?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Whether any enabled endpoint follows `kind` (a hot path can skip
/// building events nobody wants).
pub async fn followed(tx: &mut Tx, kind: &str) -> anyhow::Result<bool> {
    let lists: Vec<String> =
        sqlx::query_scalar("SELECT events FROM webhook_endpoints WHERE enabled = 1")
            .fetch_all(&mut **tx)
            .await
            .context("reading webhook endpoints")?;
    Ok(lists.iter().any(|l| l.split(',').any(|e| e == kind)))
}

/// Queues `event` for every enabled endpoint subscribed to it, in the
/// caller's transaction; returns how many deliveries were queued.
pub async fn enqueue(
    tx: &mut Tx,
    keyring: &Keyring,
    now: i64,
    event: Event<'_>,
) -> anyhow::Result<u64> {
    let endpoints: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, events, include_personal FROM webhook_endpoints WHERE enabled = 1",
    )
    .fetch_all(&mut **tx)
    .await
    .context("reading webhook endpoints")?;
    let mut queued = 0;
    for (endpoint_id, events, include_personal) in endpoints {
        if !events.split(',').any(|e| e == event.kind) {
            continue;
        }
        let mut data = event.data.clone();
        if let (Some(data), Some(subject)) = (data.as_object_mut(), event.subject) {
            // Lets a receiver match later events (an erasure) to earlier ones.
            data.insert("person_id".into(), subject.id.into());
        }
        if include_personal != 0
            && let (Some(data), Some(personal)) = (data.as_object_mut(), event.personal.as_object())
        {
            data.extend(personal.clone());
        }
        let timestamp = chrono::DateTime::from_timestamp_millis(now)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = serde_json::to_vec(&serde_json::json!({
            "type": event.kind,
            "timestamp": timestamp,
            "data": data,
        }))?;
        let sealed = match event.subject {
            Some(s) => s.key.encrypt(PAYLOAD_CONTEXT, &body),
            None => keyring.system_key().encrypt(PAYLOAD_CONTEXT, &body),
        };
        sqlx::query(
            "INSERT INTO webhook_deliveries (endpoint_id, event, msg_id, subject_id, payload, status, \
             created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
        )
        .bind(endpoint_id)
        .bind(event.kind)
        .bind(format!("msg_{}", random_token(18)))
        .bind(event.subject.map(|s| s.id))
        .bind(sealed)
        .bind(now)
        .execute(&mut **tx)
        .await
        .context("queueing a webhook")?;
        queued += 1;
    }
    Ok(queued)
}

/// Whether a request may go to `ip`. Private, loopback, link-local,
/// shared and reserved ranges need the admin's explicit permission; cloud
/// metadata addresses are never allowed. An IPv6 address that carries an
/// IPv4 one (IPv4-mapped, 6to4, NAT64, Teredo, IPv4-compatible) is judged
/// by the address it carries, so `2002:a9fe:a9fe::` is the metadata
/// service and `64:ff9b::10.0.0.1` a private host.
pub fn address_allowed(ip: IpAddr, allow_private: bool) -> bool {
    let ip = ip.to_canonical();
    let carried = match ip {
        IpAddr::V6(v6) => carried_v4(v6),
        IpAddr::V4(_) => Carried::None,
    };
    let metadata = |ip: IpAddr| {
        [
            IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
            IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
        ]
        .contains(&ip)
    };
    if metadata(ip)
        || carried.addresses().any(|v4| metadata(IpAddr::V4(v4)))
        || ip.is_unspecified()
        || ip.is_multicast()
    {
        return false;
    }
    let public = match (ip, carried) {
        (IpAddr::V4(v4), _) => v4_public(v4),
        // Through a relay to the IPv4 address it names: public if that is.
        (_, Carried::Relayed(v4)) => v4_public(v4),
        // A tunnel to a host behind a NAT, or a form no network routes.
        (_, Carried::Tunnel(..) | Carried::Compatible(_)) => false,
        (IpAddr::V6(v6), Carried::None) => v6_public(v6),
    };
    public || allow_private
}

/// An IPv4 address inside an IPv6 one.
#[derive(Clone, Copy)]
enum Carried {
    None,
    /// 6to4 (`2002:AABB:CCDD::/48`) or NAT64 (`64:ff9b::/96`): a relay
    /// forwards to this address.
    Relayed(Ipv4Addr),
    /// Teredo (`2001:0::/32`): the server and the client (NATed) address.
    Tunnel(Ipv4Addr, Ipv4Addr),
    /// IPv4-compatible (`::a.b.c.d`), deprecated since 2006.
    Compatible(Ipv4Addr),
}

impl Carried {
    fn addresses(self) -> impl Iterator<Item = Ipv4Addr> {
        let (a, b) = match self {
            Carried::None => (None, None),
            Carried::Relayed(v4) | Carried::Compatible(v4) => (Some(v4), None),
            Carried::Tunnel(server, client) => (Some(server), Some(client)),
        };
        a.into_iter().chain(b)
    }
}

fn carried_v4(v6: Ipv6Addr) -> Carried {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0x2002, hi, lo, ..] => Carried::Relayed(v4(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Carried::Relayed(v4(hi, lo)),
        [0x2001, 0, shi, slo, .., chi, clo] => Carried::Tunnel(v4(shi, slo), v4(!chi, !clo)),
        // `::` and `::1` are the unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Carried::Compatible(v4(hi, lo)),
        _ => Carried::None,
    }
}

fn v4_public(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_unspecified()
        || v4.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn v6_public(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    !(v6.is_loopback()
        // unique local fc00::/7, link-local fe80::/10, old site-local fec0::/10
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // documentation, ORCHID, benchmarking
        || (s[0] == 0x2001 && s[1] == 0xdb8)
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x10)
        || (s[0] == 0x2001 && s[1] == 0x2 && s[2] == 0)
        // NAT64 for local use (64:ff9b:1::/48), other forms of 64:ff9b::/32
        || (s[0] == 0x64 && s[1] == 0xff9b)
        // discard-only 100::/64
        || (s[0] == 0x100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
        // IPv4-mapped and -translated forms not handled above
        || (s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0)))
}

/// Checks an endpoint's URL as an admin typed it: https (or http to this
/// machine, for testing), a host, no credentials. The message says what is wrong.
pub fn check_url(raw: &str) -> Result<url::Url, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2_000 {
        return Err("Enter the endpoint's address, like https://example.com/hooks/officecomms.");
    }
    let url = url::Url::parse(raw)
        .map_err(|_| "This is not a web address: it should look like https://example.com/hooks.")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Leave credentials out of the address: the signature proves the sender.");
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("The address needs a host name."),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("Use an https:// address (plain http only reaches this machine, for testing)."),
    }
}

/// A resolver that keeps only the addresses a request may go to.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| address_allowed(a.ip(), allow_private))
                .collect();
            if allowed.is_empty() {
                let shown: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "refused: {host} resolves to {}, not a public address",
                    shown.join(", ")
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP clients deliveries go through: one that reaches public
/// addresses only, one for endpoints allowed private ones. No redirects
/// (a redirect could point anywhere), no proxy from the environment.
#[derive(Clone)]
pub struct Sender {
    public_only: reqwest::Client,
    private_too: reqwest::Client,
}

/// What an attempt came to.
#[derive(Debug)]
pub struct Attempt {
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// Why it failed (no answer, or not 2xx).
    pub error: Option<String>,
}

impl Attempt {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

impl Sender {
    pub fn new() -> anyhow::Result<Sender> {
        let build = |allow_private| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(GuardedResolver { allow_private }))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .user_agent("officecomms-webhooks/1")
                .build()
                .context("building the webhook client")
        };
        Ok(Sender {
            public_only: build(false)?,
            private_too: build(true)?,
        })
    }

    /// Posts one signed message to `url`.
    pub async fn post(
        &self,
        url: &str,
        allow_private: bool,
        secret: &str,
        msg_id: &str,
        body: Vec<u8>,
    ) -> Attempt {
        let started = Instant::now();
        let failed = |e: String| Attempt {
            status: None,
            latency_ms: started.elapsed().as_millis() as i64,
            error: Some(e),
        };
        let url = match check_url(url) {
            Ok(u) => u,
            Err(e) => return failed(e.to_string()),
        };
        // An address written out is not resolved: check it here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !address_allowed(ip, allow_private)
        {
            return failed(format!("refused: {ip} is not a public address"));
        }
        let timestamp = now_ms() / 1000;
        let signature = match sign(secret, msg_id, timestamp, &body) {
            Ok(s) => s,
            Err(e) => return failed(format!("{e:#}")),
        };
        let client = if allow_private {
            &self.private_too
        } else {
            &self.public_only
        };
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let latency_ms = started.elapsed().as_millis() as i64;
        match sent {
            Ok(r) if r.status().is_success() => Attempt {
                status: Some(r.status().as_u16()),
                latency_ms,
                error: None,
            },
            Ok(r) => Attempt {
                status: Some(r.status().as_u16()),
                latency_ms,
                error: Some(format!("answered {}", r.status())),
            },
            Err(e) => {
                let mut chain = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    chain.push_str(": ");
                    chain.push_str(&s.to_string());
                    source = s.source();
                }
                Attempt {
                    status: None,
                    latency_ms,
                    error: Some(chain),
                }
            }
        }
    }
}

type Claimed = (i64, i64, String, Option<i64>, Option<Vec<u8>>, i64);

/// An endpoint as the sender needs it.
struct Target {
    url: String,
    secret: String,
    allow_private: bool,
    enabled: bool,
}

/// What a round of deliveries did.
#[derive(Default, Debug)]
pub struct Round {
    pub handled: usize,
    /// Endpoints switched off in this round after failing for three days:
    /// `(id, name)`, for the admins to be told.
    pub disabled: Vec<(i64, String)>,
}

/// Claims and delivers the due webhooks.
pub async fn deliver_due(state: &Platform, sender: &Sender) -> anyhow::Result<Round> {
    let db = &state.db;
    // The platform's clock, which tests move; signatures keep the real time.
    let now = state.clock.now();
    // An endpoint that failed and then got no new event (nothing left to
    // retry) is still switched off three days on.
    let stale = switch_off_stale(db, now).await?;
    let claim = db.pick(
        "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
         ORDER BY id LIMIT $3) RETURNING id, endpoint_id, msg_id, subject_id, payload, attempts",
        "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, endpoint_id, msg_id, subject_id, payload, attempts",
    );
    let rows: Vec<Claimed> = sqlx::query_as(claim)
        .bind(now + 60_000)
        .bind(now)
        .bind(BATCH)
        .fetch_all(&db.pool)
        .await
        .context("claiming webhook deliveries")?;
    let mut round = Round {
        handled: 0,
        disabled: stale,
    };
    if rows.is_empty() {
        return Ok(round);
    }
    let targets = targets(state, rows.iter().map(|r| r.1)).await?;
    let subject_ids: Vec<i64> = rows.iter().filter_map(|r| r.3).collect();
    let keys = subjects::keys_of(db, &state.keyring, &subject_ids).await?;
    let attempts = futures_util::stream::iter(rows.into_iter().map(
        |(id, endpoint_id, msg_id, subject_id, payload, attempts)| {
            let target = targets.get(&endpoint_id);
            let key = match subject_id {
                Some(sid) => keys.get(&sid),
                None => Some(state.keyring.system_key()),
            };
            let body = match (key, payload) {
                (Some(key), Some(sealed)) => key.decrypt(PAYLOAD_CONTEXT, &sealed).ok(),
                _ => None,
            };
            async move {
                let Some(target) = target.filter(|t| t.enabled) else {
                    return (
                        id,
                        endpoint_id,
                        attempts,
                        Err("the endpoint is switched off"),
                    );
                };
                let Some(body) = body else {
                    return (
                        id,
                        endpoint_id,
                        attempts,
                        Err("the person's data was erased"),
                    );
                };
                let attempt = sender
                    .post(
                        &target.url,
                        target.allow_private,
                        &target.secret,
                        &msg_id,
                        body,
                    )
                    .await;
                (id, endpoint_id, attempts, Ok(attempt))
            }
        },
    ))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    // One transaction for the round's outcomes: one commit, not two a delivery.
    let mut tx = db.begin().await?;
    for (id, endpoint_id, attempts, outcome) in attempts {
        round.handled += 1;
        let now = state.clock.now();
        match outcome {
            Err(why) => {
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'cancelled', claimed_until = NULL, \
                     last_error = $1 WHERE id = $2",
                )
                .bind(why)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            Ok(attempt) => {
                let tried = attempts + 1;
                let (status, next) = if attempt.ok() {
                    ("delivered", None)
                } else {
                    match RETRY_AFTER_SECS.get(usize::try_from(attempts).unwrap_or(usize::MAX)) {
                        Some(secs) => ("pending", Some(now + secs * 1000)),
                        None => ("failed", None),
                    }
                };
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, \
                     claimed_until = NULL, last_attempt_at = $4, last_status = $5, last_latency_ms = $6, \
                     last_error = $7, delivered_at = $8 WHERE id = $9",
                )
                .bind(status)
                .bind(tried)
                .bind(next)
                .bind(now)
                .bind(attempt.status.map(i64::from))
                .bind(attempt.latency_ms)
                .bind(attempt.error.as_deref())
                .bind(attempt.ok().then_some(now))
                .bind(id)
                .execute(&mut *tx)
                .await
                .context("recording a webhook attempt")?;
                if attempt.ok() {
                    sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = NULL \
                         WHERE id = $1 AND failing_since IS NOT NULL",
                    )
                    .bind(endpoint_id)
                    .execute(&mut *tx)
                    .await?;
                } else if let Some(name) = record_failure(&mut tx, endpoint_id, now).await? {
                    round.disabled.push((endpoint_id, name));
                }
            }
        }
    }
    tx.commit().await?;
    Ok(round)
}

/// Notes a failure; switches the endpoint off when it has failed for three
/// days (its name returned, once).
async fn record_failure(tx: &mut Tx, endpoint_id: i64, now: i64) -> anyhow::Result<Option<String>> {
    sqlx::query(
        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $1) WHERE id = $2",
    )
    .bind(now)
    .bind(endpoint_id)
    .execute(&mut **tx)
    .await?;
    let switched_off: Option<String> = sqlx::query_scalar(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_at = $1, \
         disabled_reason = 'failing for three days' \
         WHERE id = $2 AND enabled = 1 AND failing_since <= $3 RETURNING name",
    )
    .bind(now)
    .bind(endpoint_id)
    .bind(now - DISABLE_AFTER_MS)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(switched_off)
}

/// Switches off every endpoint failing for three days by `now`, whether or
/// not a delivery is due: `(id, name)` of each, once. A read first, so the
/// sender's round takes no write lock when there is nothing to do.
async fn switch_off_stale(db: &Db, now: i64) -> anyhow::Result<Vec<(i64, String)>> {
    let due: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_endpoints WHERE enabled = 1 AND failing_since <= $1",
    )
    .bind(now - DISABLE_AFTER_MS)
    .fetch_one(&db.pool)
    .await
    .context("looking for endpoints failing for three days")?;
    if due == 0 {
        return Ok(vec![]);
    }
    sqlx::query_as(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_at = $1, \
         disabled_reason = 'failing for three days' \
         WHERE enabled = 1 AND failing_since <= $2 RETURNING id, name",
    )
    .bind(now)
    .bind(now - DISABLE_AFTER_MS)
    .fetch_all(&db.pool)
    .await
    .context("switching off endpoints failing for three days")
}

async fn targets(
    state: &Platform,
    ids: impl Iterator<Item = i64>,
) -> anyhow::Result<HashMap<i64, Target>> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!(
        "SELECT id, url, secret, allow_private, enabled FROM webhook_endpoints WHERE id IN ({})",
        placeholders(1, ids.len())
    );
    let mut q =
        sqlx::query_as::<_, (i64, String, Vec<u8>, i64, i64)>(trusted_sql(sql)).persistent(false);
    for id in &ids {
        q = q.bind(id);
    }
    let mut out = HashMap::new();
    for (id, url, secret, allow_private, enabled) in q.fetch_all(&state.db.pool).await? {
        out.insert(
            id,
            Target {
                url,
                secret: open_secret(&state.keyring, &secret)?,
                allow_private: allow_private != 0,
                enabled: enabled != 0,
            },
        );
    }
    Ok(out)
}

/// Sends a delivery again from the start of its schedule (same message id,
/// so a receiver that saw it can tell). False when it cannot be: its
/// payload is gone (the person was erased).
pub async fn resend(db: &Db, endpoint_id: i64, delivery_id: i64) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
         claimed_until = NULL WHERE id = $2 AND endpoint_id = $3 AND payload IS NOT NULL \
         AND status <> 'pending'",
    )
    .bind(now_ms())
    .bind(delivery_id)
    .bind(endpoint_id)
    .execute(&db.pool)
    .await?
    .rows_affected()
        == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(new_secret().starts_with("whsec_"));
    }

    #[test]
    fn private_link_local_and_metadata_addresses_are_refused() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!address_allowed(ip.parse().unwrap(), false), "{ip}");
        }
        assert!(address_allowed("93.184.216.34".parse().unwrap(), false));
        assert!(address_allowed("2606:4700::1111".parse().unwrap(), false));
        assert!(address_allowed("127.0.0.1".parse().unwrap(), true));
        assert!(!address_allowed("169.254.169.254".parse().unwrap(), true));
    }

    #[test]
    fn ipv6_forms_that_carry_an_ipv4_address_are_judged_by_it() {
        let refused = [
            // IPv4-mapped
            "::ffff:127.0.0.1",
            "::ffff:192.168.0.1",
            "::ffff:169.254.169.254",
            // 6to4 of 10.0.0.1, 127.0.0.1, 192.168.1.1
            "2002:a00:1::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            // Teredo, whatever it carries
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::1",
            // IPv4-compatible, deprecated: never, even of a public address
            "::10.0.0.1",
            "::127.0.0.1",
            "::93.184.216.34",
            // NAT64 of private addresses
            "64:ff9b::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::192.168.1.1",
            // NAT64 for local use, site-local, discard-only
            "64:ff9b:1::a00:1",
            "fec0::1",
            "100::1",
        ];
        for ip in refused {
            assert!(!address_allowed(ip.parse().unwrap(), false), "{ip}");
        }
        // The metadata service, however it is wrapped: never, even with
        // private addresses allowed.
        for ip in [
            "::ffff:169.254.169.254",
            "2002:a9fe:a9fe::1",
            "64:ff9b::a9fe:a9fe",
            "::169.254.169.254",
            // Teredo with the metadata service as server, or as client (its bits inverted)
            "2001:0:a9fe:a9fe::1",
            "2001:0:4136:e378::5601:5601",
        ] {
            assert!(!address_allowed(ip.parse().unwrap(), true), "{ip}");
        }
        // A public IPv4 address behind 6to4 or NAT64 (an IPv6-only host
        // reaching an IPv4 site) is public.
        for ip in [
            "2002:5db8:d822::1",
            "64:ff9b::93.184.216.34",
            "::ffff:93.184.216.34",
        ] {
            assert!(address_allowed(ip.parse().unwrap(), false), "{ip}");
        }
        // An admin who allowed private addresses may use these forms.
        assert!(address_allowed("64:ff9b::10.0.0.1".parse().unwrap(), true));
        assert!(address_allowed("2002:a00:1::1".parse().unwrap(), true));
    }

    #[test]
    fn endpoints_are_https_except_on_this_machine() {
        assert!(check_url("https://hooks.example.com/x").is_ok());
        assert!(check_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_url("http://localhost:9000/x").is_ok());
        assert!(check_url("http://hooks.example.com/x").is_err());
        assert!(check_url("ftp://hooks.example.com/x").is_err());
        assert!(check_url("https://user:pw@hooks.example.com/x").is_err());
        assert!(check_url("not a url").is_err());
    }
}

//! The in-memory cache of rendered content, and conditional responses.
//!
//! What is cached is everything a page costs to make (queries, Markdown,
//! related articles, JSON-LD, search results, feeds, the sitemap). Article
//! and post pages are cached whole, once per privacy variant of the layout
//! (`Page::shared_variant`), with a placeholder where each visitor's CSRF
//! token is stamped in; other pages render the per-visitor layout around
//! the cached parts. No visitor ever receives another's page. Once stored,
//! such a page is answered before routing (`public::answer_shared`), and to
//! clients that take gzip in pieces deflated once, the token spliced in.
//!
//! An entry is dropped when:
//! - an edit commits on this instance ([`PageCache::invalidate`]);
//! - another instance edited (the `content_state` version, polled at most
//!   once a second);
//! - a scheduled piece comes due (the cache knows the next publication time);
//! - the site settings change (company name in feeds and JSON-LD).
//!
//! A page filled from data read before an invalidation is never stored:
//! each fill remembers the generation and clock it started from.

use crate::{
    error::AppResult,
    platform::{
        db::Db,
        memory::{CacheMeter, ENTRY_OVERHEAD, HeapSize},
        metrics::Metrics,
        settings::SiteSettings,
    },
};
use axum::{
    body::{Body, Bytes, HttpBody},
    extract::FromRequestParts,
    extract::MatchedPath,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use http_body::{Frame, SizeHint};
use sha2::{Digest, Sha256};
use siphasher::sip128::{Hasher128, SipHasher13};
use std::{
    any::Any,
    cell::RefCell,
    collections::HashMap,
    hash::Hasher,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, RwLock,
        atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::SeqCst},
    },
    task::{Context, Poll},
};

type Entry = Arc<dyn Any + Send + Sync>;

/// How often an instance asks the database whether another one edited.
const POLL_MS: i64 = 1_000;

/// The default budget of the whole cache: 24 MiB (see [`Budgets`]).
pub const DEFAULT_BUDGET: usize = 24 << 20;

/// How a cache budget is shared: half for pages (rendered pages, lists,
/// feeds, search results), a sixth for search terms' matches, a third for
/// search's table of live pieces (one entry, about 250 bytes a piece:
/// 10,000 articles take 2.5 MB).
#[derive(Clone, Copy, Debug)]
pub struct Budgets {
    pub pages: usize,
    pub terms: usize,
    pub live: usize,
}

impl Budgets {
    pub fn of(total: usize) -> Budgets {
        Budgets {
            pages: total / 2,
            terms: total / 6,
            live: total / 3,
        }
    }
}

/// A value and what it costs.
struct Stored {
    value: Entry,
    size: usize,
}

/// Entries under one budget: when a new one would pass it, arbitrary
/// entries go until an eighth of the budget is free (so eviction runs
/// once per many stores, not at each); one larger than the budget is
/// served but not kept.
struct Shelf<K> {
    map: HashMap<K, Stored>,
    bytes: usize,
    meter: CacheMeter,
}

impl<K: std::borrow::Borrow<str> + std::hash::Hash + Eq> Shelf<K> {
    fn new(meter: CacheMeter) -> Shelf<K> {
        Shelf {
            map: HashMap::new(),
            bytes: 0,
            meter,
        }
    }

    fn insert(&mut self, key: K, value: Entry, size: usize) {
        let budget = self.meter.budget();
        if size > budget {
            return;
        }
        if let Some(old) = self.map.remove(key.borrow()) {
            self.bytes -= old.size;
        }
        if self.bytes + size > budget {
            let keep = budget - budget / 8;
            let mut victims = Vec::new();
            let mut freed = 0;
            for (k, stored) in &self.map {
                if self.bytes - freed + size <= keep {
                    break;
                }
                freed += stored.size;
                victims.push(k.borrow().to_string());
            }
            for k in &victims {
                self.map.remove(k.as_str());
            }
            self.bytes -= freed;
            self.meter.evicted(victims.len());
        }
        self.map.insert(key, Stored { value, size });
        self.bytes += size;
        self.report();
    }

    fn clear(&mut self) {
        self.map.clear();
        // The table's own memory goes too: a burst of pages does not stay
        // allocated after the edit that drops them.
        self.map.shrink_to_fit();
        self.bytes = 0;
        self.report();
    }

    /// The map's slot is in each entry's [`ENTRY_OVERHEAD`].
    fn report(&self) {
        self.meter.set(self.bytes, self.map.len());
    }

    fn get(&self, key: &str) -> Option<Entry> {
        self.map.get(key).map(|s| s.value.clone())
    }
}

/// What an entry of `value` under `key` costs.
fn cost<T: HeapSize>(key: &str, value: &T) -> usize {
    value.total_size() + key.len() + ENTRY_OVERHEAD
}

pub struct PageCache {
    entries: RwLock<Shelf<String>>,
    /// Search terms' matches, on a shelf of their own: random queries fill
    /// `entries` with rankings and would evict them, and a term comes back
    /// in query after query.
    terms: RwLock<Shelf<String>>,
    /// Entries many pages are built from (search's live pieces): never
    /// evicted to make room, dropped with the others on every clear.
    pinned: RwLock<Shelf<&'static str>>,
    /// One fill of a pinned entry at a time; the others wait for it.
    pinning: tokio::sync::Mutex<()>,
    /// Serialises clearing against storing, and holds what was last seen.
    fresh: Mutex<Seen>,
    generation: AtomicU64,
    /// Content clock time at which the next scheduled piece goes live.
    valid_until: AtomicI64,
    /// Content clock time of the last time-based clear; older fills are stale.
    epoch_start: AtomicI64,
    polled_at: AtomicI64,
    site_ptr: AtomicUsize,
}

#[derive(Default)]
struct Seen {
    version: Option<i64>,
    /// Held so its address cannot be reused by a later settings value.
    site: Option<Arc<SiteSettings>>,
}

impl PageCache {
    /// A cache reporting to `metrics` as `content_pages`,
    /// `content_search_terms` and `content_search_live`, within `budget`
    /// bytes in all.
    pub fn new(metrics: &Metrics, budget: usize) -> PageCache {
        let b = Budgets::of(budget);
        PageCache::with_meters(
            metrics.cache("content_pages", b.pages),
            metrics.cache("content_search_terms", b.terms),
            metrics.cache("content_search_live", b.live),
        )
    }

    /// A cache reporting nowhere (tests).
    pub fn detached(budget: usize) -> PageCache {
        let b = Budgets::of(budget);
        PageCache::with_meters(
            CacheMeter::detached(b.pages),
            CacheMeter::detached(b.terms),
            CacheMeter::detached(b.live),
        )
    }

    fn with_meters(pages: CacheMeter, terms: CacheMeter, live: CacheMeter) -> PageCache {
        PageCache {
            entries: RwLock::new(Shelf::new(pages)),
            terms: RwLock::new(Shelf::new(terms)),
            pinned: RwLock::new(Shelf::new(live)),
            pinning: tokio::sync::Mutex::new(()),
            fresh: Mutex::new(Seen::default()),
            generation: AtomicU64::new(0),
            valid_until: AtomicI64::new(0),
            epoch_start: AtomicI64::new(i64::MIN),
            polled_at: AtomicI64::new(i64::MIN / 2),
            site_ptr: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Seen> {
        self.fresh.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clear(&self, _held: &mut MutexGuard<'_, Seen>) {
        self.generation.fetch_add(1, SeqCst);
        for shelf in [&self.entries, &self.terms] {
            shelf.write().unwrap_or_else(|e| e.into_inner()).clear();
        }
        self.pinned
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Stores with `store` unless the content changed since `generation`
    /// was read, or the fill started before the last time-based clear.
    fn store_if_current(&self, generation: u64, now: i64, store: impl FnOnce()) {
        let _seen = self.lock();
        if self.generation.load(SeqCst) == generation && now >= self.epoch_start.load(SeqCst) {
            store();
        }
    }

    /// Drops every entry; the next request also looks up the next
    /// scheduled publication again. Call after an edit commits.
    pub fn invalidate(&self) {
        let mut seen = self.lock();
        self.clear(&mut seen);
        self.valid_until.store(0, SeqCst);
    }

    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the pages shelf (as reported in `/metrics`, less the table).
    pub fn bytes(&self) -> usize {
        self.entries.read().map(|e| e.bytes).unwrap_or(0)
    }

    /// Drops what is out of date; call before reading the cache.
    pub async fn ensure_fresh(
        &self,
        db: &Db,
        site: &Arc<SiteSettings>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let site_ptr = Arc::as_ptr(site) as usize;
        if self.site_ptr.load(SeqCst) != site_ptr {
            let mut seen = self.lock();
            seen.site = Some(site.clone());
            self.site_ptr.store(site_ptr, SeqCst);
            self.clear(&mut seen);
        }

        let polled = self.polled_at.load(SeqCst);
        if now.saturating_sub(polled) >= POLL_MS
            && self
                .polled_at
                .compare_exchange(polled, now, SeqCst, SeqCst)
                .is_ok()
        {
            let version = super::db::content_version(db).await?;
            let mut seen = self.lock();
            if seen.version != Some(version) {
                seen.version = Some(version);
                self.clear(&mut seen);
            }
        }

        if now >= self.valid_until.load(SeqCst) {
            let generation = {
                let mut seen = self.lock();
                if now < self.valid_until.load(SeqCst) {
                    return Ok(());
                }
                self.clear(&mut seen);
                self.epoch_start.store(now, SeqCst);
                // Others skip the query meanwhile; what they fill is current.
                self.valid_until.store(i64::MAX, SeqCst);
                self.generation.load(SeqCst)
            };
            match super::db::next_publication(db, now).await {
                Ok(next) => {
                    let _seen = self.lock();
                    if self.generation.load(SeqCst) == generation {
                        self.valid_until.store(next.unwrap_or(i64::MAX), SeqCst);
                    }
                }
                Err(e) => {
                    self.valid_until.store(0, SeqCst);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Bumped by every clear: an entry taken under the same generation is
    /// still current.
    pub fn generation(&self) -> u64 {
        self.generation.load(SeqCst)
    }

    /// The value of type `T` cached under `key`, if any; current only
    /// after [`PageCache::ensure_fresh`].
    pub fn get<T: Send + Sync + 'static>(&self, key: &str) -> Option<Arc<T>> {
        stored(&self.entries, key)
    }

    /// The cached value under `key`, or `fill`'s, stored unless the content
    /// changed while it was being made. Errors (404s included) are not stored.
    pub async fn get_or_fill<T, F, Fut>(&self, key: &str, now: i64, fill: F) -> AppResult<Arc<T>>
    where
        T: HeapSize + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<T>>,
    {
        self.fill_shelf(&self.entries, key, now, fill).await
    }

    /// Like [`PageCache::get_or_fill`], for the ids a search term matches.
    pub async fn get_or_fill_term<Fut>(
        &self,
        term: &str,
        now: i64,
        fill: impl FnOnce() -> Fut,
    ) -> AppResult<Arc<Vec<i64>>>
    where
        Fut: Future<Output = AppResult<Vec<i64>>>,
    {
        self.fill_shelf(&self.terms, term, now, fill).await
    }

    async fn fill_shelf<T, F, Fut>(
        &self,
        shelf: &RwLock<Shelf<String>>,
        key: &str,
        now: i64,
        fill: F,
    ) -> AppResult<Arc<T>>
    where
        T: HeapSize + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<T>>,
    {
        if let Some(value) = stored(shelf, key) {
            return Ok(value);
        }
        let generation = self.generation.load(SeqCst);
        let value = Arc::new(fill().await?);
        let size = cost(key, &*value);
        self.store_if_current(generation, now, || {
            shelf.write().unwrap_or_else(|e| e.into_inner()).insert(
                key.to_string(),
                value.clone() as Entry,
                size,
            );
        });
        Ok(value)
    }

    /// Like [`PageCache::get_or_fill`], for an entry many pages are built
    /// from: never evicted to make room for others, and filled once however
    /// many ask at once. One larger than its budget is not kept.
    pub async fn get_or_fill_pinned<T, F, Fut>(
        &self,
        key: &'static str,
        now: i64,
        fill: F,
    ) -> AppResult<Arc<T>>
    where
        T: HeapSize + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<T>>,
    {
        if let Some(value) = stored(&self.pinned, key) {
            return Ok(value);
        }
        let _one = self.pinning.lock().await;
        if let Some(value) = stored(&self.pinned, key) {
            return Ok(value);
        }
        let generation = self.generation.load(SeqCst);
        let value = Arc::new(fill().await?);
        let size = cost(key, &*value);
        self.store_if_current(generation, now, || {
            self.pinned
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, value.clone() as Entry, size);
        });
        Ok(value)
    }
}

/// The value of type `T` stored under `key`, if any.
fn stored<K, T>(shelf: &RwLock<Shelf<K>>, key: &str) -> Option<Arc<T>>
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
    T: Send + Sync + 'static,
{
    let entry = shelf.read().unwrap_or_else(|e| e.into_inner()).get(key)?;
    entry.downcast::<T>().ok()
}

/// An HTTP date (`Last-Modified`).
pub fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `Last-Modified` for `ms`. Each thread keeps the last one it made: a busy
/// page asks for the same value again and again, and formatting a date
/// costs more than the rest of the header.
fn last_modified_header(ms: i64) -> Option<HeaderValue> {
    thread_local! {
        static LAST: RefCell<Option<(i64, HeaderValue)>> = const { RefCell::new(None) };
    }
    let secs = ms.div_euclid(1000);
    LAST.with_borrow_mut(|last| {
        if let Some((made_for, value)) = last
            && *made_for == secs
        {
            return Some(value.clone());
        }
        let value = HeaderValue::from_str(&http_date(ms)).ok()?;
        *last = Some((secs, value.clone()));
        Some(value)
    })
}

fn parse_http_date(v: &HeaderValue) -> Option<i64> {
    let s = v.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|t| t.timestamp())
}

/// A weak validator over the exact bytes sent.
pub fn etag_of(body: &[u8]) -> String {
    weak_etag(&Sha256::digest(body))
}

/// `W/"…"` around the first 12 bytes of a digest, in hex.
fn weak_etag(digest: &[u8]) -> String {
    let mut etag = *b"W/\"000000000000000000000000\"";
    hex::encode_to_slice(&digest[..12], &mut etag[3..27]).expect("24 digits");
    String::from_utf8_lossy(&etag).into_owned()
}

fn etag_matches(header: &HeaderValue, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let ours = opaque(etag);
    header
        .to_str()
        .map(|v| v.split(',').any(|t| t.trim() == "*" || opaque(t) == ours))
        .unwrap_or(false)
}

/// What a conditional answer needs of the request: its validators, and
/// not a copy of every header.
pub struct Validators {
    if_none_match: Option<HeaderValue>,
    if_modified_since: Option<HeaderValue>,
    /// Whether the client takes gzip (a [`SharedPage`] is sent in it).
    gzip: bool,
}

impl Validators {
    pub fn of(headers: &HeaderMap) -> Validators {
        Validators {
            if_none_match: headers.get(header::IF_NONE_MATCH).cloned(),
            if_modified_since: headers.get(header::IF_MODIFIED_SINCE).cloned(),
            gzip: accepts_gzip(headers),
        }
    }
}

/// Whether `Accept-Encoding` allows gzip: named with a weight above zero,
/// or not named and `*` allowed (RFC 9110 §12.5.3).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None, None);
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut params = item.split(';');
        let name = params.next().unwrap_or("").trim();
        let weight = params
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight);
        } else if name == "*" {
            any = Some(weight);
        }
    }
    gzip.or(any).is_some_and(|w| w > 0.0)
}

impl<S: Sync> FromRequestParts<S> for Validators {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Validators::of(&parts.headers))
    }
}

/// Cache-Control of pages holding the per-visitor layout.
pub const PRIVATE: &str = "private, no-cache";
/// Cache-Control of files that are the same for everyone (feed, sitemap).
pub const PUBLIC: &str = "public, max-age=300";

/// A response that carries `ETag` and `Last-Modified` and answers 304 when
/// the client already has these bytes (`If-None-Match` first, then
/// `If-Modified-Since`, as RFC 9110 orders them).
pub fn conditional(
    request: &Validators,
    content_type: &'static str,
    cache_control: &'static str,
    body: impl Into<Bytes>,
    last_modified: Option<i64>,
) -> Response {
    let body: Bytes = body.into();
    let etag = etag_of(&body);
    conditional_tagged(
        request,
        content_type,
        cache_control,
        body,
        etag,
        last_modified,
    )
}

/// A page rendered once for many visitors, cut where each visitor's token
/// goes, so that sending it copies nothing (see [`SharedPage::stamp`]).
pub struct SharedPage {
    pieces: Arc<[Bytes]>,
    /// The same pieces deflated one by one, for clients that take gzip:
    /// each ends on a byte boundary (the last one ends the stream), so each
    /// visitor's token goes between them as a stored block and nothing is
    /// compressed per request.
    deflated: Arc<[Bytes]>,
    /// CRC-32 of each piece, combined with the token's for the gzip trailer.
    crcs: Box<[crc32fast::Hasher]>,
    /// Bytes in `pieces`, and in `deflated`.
    plain_len: usize,
    deflated_len: usize,
    /// Keyed with the page's SHA-256: what remains to hash per visitor is
    /// the token, and SipHash does that in a fraction of a SHA-256 block.
    validator: SipHasher13,
    last_modified: i64,
    /// The route that made it, for the request metrics.
    route: MatchedPath,
}

impl HeapSize for SharedPage {
    fn heap_size(&self) -> usize {
        let arc = 2 * std::mem::size_of::<usize>();
        let slices = 2 * (arc + self.pieces.len() * std::mem::size_of::<Bytes>());
        slices
            + self.plain_len
            + self.deflated_len
            + std::mem::size_of_val::<[crc32fast::Hasher]>(&self.crcs)
            + self.route.as_str().len()
    }
}

/// A gzip member's header: deflate, no name, no time, unknown system.
const GZIP_HEADER: &[u8] = &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

impl SharedPage {
    pub fn new(
        body: &str,
        placeholder: &str,
        last_modified: i64,
        route: MatchedPath,
    ) -> SharedPage {
        let digest = Sha256::digest(body.as_bytes());
        let key: [u8; 16] = digest[..16].try_into().expect("16 bytes");
        let pieces: Arc<[Bytes]> = body
            .split(placeholder)
            .map(|piece| Bytes::copy_from_slice(piece.as_bytes()))
            .collect();
        let last = pieces.len() - 1;
        let deflated: Arc<[Bytes]> = pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| deflate(piece, i == last))
            .collect();
        let total = |pieces: &[Bytes]| pieces.iter().map(Bytes::len).sum();
        SharedPage {
            plain_len: total(&pieces),
            deflated_len: total(&deflated),
            deflated,
            crcs: pieces
                .iter()
                .map(|piece| {
                    let mut crc = crc32fast::Hasher::new();
                    crc.update(piece);
                    crc
                })
                .collect(),
            pieces,
            validator: SipHasher13::new_with_key(&key),
            last_modified,
            route,
        }
    }

    /// The response to a visitor holding `token`: the page stamped with
    /// it (in gzip if the client takes it), or 304 when the browser has
    /// these bytes.
    pub fn respond(&self, validators: &Validators, token: &str) -> Response {
        let gzip = validators.gzip && token.len() <= usize::from(u16::MAX);
        let (body, etag) = self.stamp(token, gzip);
        let mut response = conditional_tagged(
            validators,
            HTML,
            PRIVATE,
            body,
            etag,
            Some(self.last_modified),
        );
        if gzip {
            let h = response.headers_mut();
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            h.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        response.extensions_mut().insert(self.route.clone());
        response
    }

    /// The page with this visitor's token where the placeholder stood, and
    /// its validator: the token hashed under the page's digest (a few bytes
    /// hashed per request instead of the whole page). The validator is the
    /// same in gzip: a weak one, for the same content.
    fn stamp(&self, token: &str, gzip: bool) -> (Body, String) {
        let mut hasher = self.validator;
        hasher.write(token.as_bytes());
        let etag = weak_etag(&hasher.finish128().as_bytes());
        let body = if gzip {
            // A stored block: not final, no compression, length and its
            // complement, the bytes (RFC 1951 §3.2.4).
            let len = token.len() as u16;
            let mut stored = Vec::with_capacity(5 + token.len());
            stored.push(0);
            stored.extend_from_slice(&len.to_le_bytes());
            stored.extend_from_slice(&(!len).to_le_bytes());
            stored.extend_from_slice(token.as_bytes());
            let mut token_crc = crc32fast::Hasher::new();
            token_crc.update(token.as_bytes());
            let mut crc = self.crcs[0].clone();
            for piece in &self.crcs[1..] {
                crc.combine(&token_crc);
                crc.combine(piece);
            }
            let length = self.plain_len + token.len() * (self.pieces.len() - 1);
            let mut trailer = Vec::with_capacity(8);
            trailer.extend_from_slice(&crc.finalize().to_le_bytes());
            trailer.extend_from_slice(&(length as u32).to_le_bytes());
            Stamped::new(
                Bytes::from_static(GZIP_HEADER),
                (self.deflated.clone(), self.deflated_len),
                Bytes::from(stored),
                Bytes::from(trailer),
            )
        } else {
            Stamped::new(
                Bytes::new(),
                (self.pieces.clone(), self.plain_len),
                Bytes::copy_from_slice(token.as_bytes()),
                Bytes::new(),
            )
        };
        (Body::new(body), etag)
    }
}

/// Raw deflate of `piece` on its own; a piece that is not the last ends
/// with a sync flush (an empty stored block: byte-aligned, not final).
fn deflate(piece: &[u8], last: bool) -> Bytes {
    use flate2::{Compression, write::DeflateEncoder};
    use std::io::Write;
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(piece).expect("deflating in memory");
    let out = if last {
        encoder.finish().expect("deflating in memory")
    } else {
        encoder.flush().expect("deflating in memory");
        std::mem::take(encoder.get_mut())
    };
    Bytes::from(out)
}

/// The shared pieces with the token between each two, after `head` and
/// before `tail`, sent as they are.
struct Stamped {
    head: Bytes,
    pieces: Arc<[Bytes]>,
    token: Bytes,
    tail: Bytes,
    /// 0: the head; then odd: the piece `next / 2`, even: the token; last:
    /// the tail.
    next: usize,
    remaining: u64,
}

impl Stamped {
    /// `pieces` with the number of bytes in them.
    fn new(
        head: Bytes,
        (pieces, len): (Arc<[Bytes]>, usize),
        token: Bytes,
        tail: Bytes,
    ) -> Stamped {
        let remaining = head.len() + len + token.len() * (pieces.len() - 1) + tail.len();
        Stamped {
            head,
            pieces,
            token,
            tail,
            next: 0,
            remaining: remaining as u64,
        }
    }

    fn chunks(&self) -> usize {
        self.pieces.len() * 2 + 1
    }
}

impl HttpBody for Stamped {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        while self.next < self.chunks() {
            let i = self.next;
            self.next += 1;
            let chunk = if i == 0 {
                self.head.clone()
            } else if i == self.chunks() - 1 {
                self.tail.clone()
            } else if i % 2 == 1 {
                self.pieces[i / 2].clone()
            } else {
                self.token.clone()
            };
            if !chunk.is_empty() {
                self.remaining -= chunk.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// [`conditional`] with a validator already known.
pub fn conditional_tagged(
    request: &Validators,
    content_type: &'static str,
    cache_control: &'static str,
    body: impl Into<Body>,
    etag: String,
    last_modified: Option<i64>,
) -> Response {
    let not_modified = match &request.if_none_match {
        Some(v) => etag_matches(v, &etag),
        None => match (&request.if_modified_since, last_modified) {
            (Some(since), Some(ms)) => parse_http_date(since).is_some_and(|s| ms / 1000 <= s),
            _ => false,
        },
    };
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.into().into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = response.headers_mut();
    // Room for these and the site's own headers, so the map grows once.
    h.reserve(16);
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = last_modified.and_then(last_modified_header) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response
}

pub const HTML: &str = "text/html; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pinned_entry_outlives_eviction_is_filled_once_and_goes_with_a_clear() {
        let cache = PageCache::detached(8 * 1024);
        let fills = AtomicUsize::new(0);
        let fill = || async {
            fills.fetch_add(1, SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(42_i64)
        };
        // Asked twice at once: filled once, both get the value.
        let (a, b) = tokio::join!(
            cache.get_or_fill_pinned("live", 0, fill),
            cache.get_or_fill_pinned("live", 0, fill)
        );
        assert_eq!((*a.unwrap(), *b.unwrap()), (42, 42));
        assert_eq!(fills.load(SeqCst), 1);
        // Many more pages than the cache holds: pages are evicted, it stays.
        for i in 0..100 {
            let key = format!("page:{i}");
            cache
                .get_or_fill(&key, 0, || async { Ok(i) })
                .await
                .unwrap();
        }
        assert!(cache.bytes() <= 4 * 1024);
        assert!(cache.len() < 100);
        assert_eq!(
            *cache.get_or_fill_pinned("live", 0, fill).await.unwrap(),
            42
        );
        assert_eq!(fills.load(SeqCst), 1);
        // An edit drops it with everything else.
        cache.invalidate();
        cache.get_or_fill_pinned("live", 0, fill).await.unwrap();
        assert_eq!(fills.load(SeqCst), 2);
    }

    async fn sent(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    /// A `MatchedPath` can only come from a router.
    async fn matched_path() -> MatchedPath {
        let app = axum::Router::new().route(
            "/p/{x}",
            axum::routing::get(|m: MatchedPath| async move {
                let mut r = Response::new(Body::empty());
                r.extensions_mut().insert(m);
                r
            }),
        );
        let request = axum::http::Request::get("/p/1")
            .body(Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
        response.extensions().get::<MatchedPath>().unwrap().clone()
    }

    #[tokio::test]
    async fn a_shared_page_is_stamped_the_same_in_gzip_as_plain() {
        use std::io::Read;
        let matched = matched_path().await;
        let text = "<p>Restart the print spooler, then clear the queue.</p>\n".repeat(80);
        let body = format!("TOKEN{text}<form>TOKEN</form>{text}<a data-csrf=\"TOKEN\">ünïcode</a>");
        let page = SharedPage::new(&body, "TOKEN", 0, matched);
        let token = "abcDEF0123456789-_abcDEF0123456789-_abcDEF0";
        let expected = body.replace("TOKEN", token);
        let plain = HeaderMap::new();
        let mut gzip = HeaderMap::new();
        gzip.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );

        let r = page.respond(&Validators::of(&plain), token);
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        let etag = r.headers()[header::ETAG].clone();
        assert_eq!(sent(r).await, expected.as_bytes());

        let r = page.respond(&Validators::of(&gzip), token);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::VARY], "accept-encoding");
        assert_eq!(r.headers()[header::ETAG], etag);
        let compressed = sent(r).await;
        assert!(
            compressed.len() < expected.len() / 4,
            "{} bytes",
            compressed.len()
        );
        // A strict decoder: checks the CRC and the length in the trailer.
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, expected);
        // Another visitor, another token, in the same shared pieces.
        let other = page.respond(&Validators::of(&gzip), "zz");
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&sent(other).await[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, body.replace("TOKEN", "zz"));
    }

    #[test]
    fn gzip_is_taken_only_when_the_client_allows_it() {
        let takes = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        for yes in [
            "gzip",
            "gzip, deflate, br, zstd",
            "br;q=1, GZIP;q=0.5",
            "*",
            "br, *;q=0.1",
            "x-gzip",
        ] {
            assert!(takes(yes), "{yes}");
        }
        for no in [
            "",
            "br",
            "identity",
            "gzip;q=0",
            "gzip;q=0, *",
            "*;q=0",
            "gzip;q=nonsense",
            "gzipped",
        ] {
            assert!(!takes(no), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn etags_compare_weakly_and_in_lists() {
        let etag = etag_of(b"hello");
        let strong = etag.trim_start_matches("W/").to_string();
        for header in [etag.clone(), strong, format!("\"x\", {etag}"), "*".into()] {
            assert!(etag_matches(
                &HeaderValue::from_str(&header).unwrap(),
                &etag
            ));
        }
        assert!(!etag_matches(
            &HeaderValue::from_static("W/\"nope\""),
            &etag
        ));
    }

    #[test]
    fn last_modified_round_trips() {
        let ms = 1_700_000_000_123;
        let v = HeaderValue::from_str(&http_date(ms)).unwrap();
        assert_eq!(parse_http_date(&v), Some(ms / 1000));
    }

    #[test]
    fn a_fill_started_before_an_invalidation_is_not_stored() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let cache = PageCache::detached(1 << 20);
            let v: Arc<i32> = cache
                .get_or_fill("k", 0, || async {
                    cache.invalidate();
                    Ok(1)
                })
                .await
                .unwrap();
            assert_eq!(*v, 1);
            assert!(cache.is_empty());
            cache.get_or_fill("k", 0, || async { Ok(2) }).await.unwrap();
            let again: Arc<i32> = cache.get_or_fill("k", 0, || async { Ok(3) }).await.unwrap();
            assert_eq!(*again, 2);
        });
    }
}

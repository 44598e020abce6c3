//! The in-memory aggregator: page views and goals are counted here in the
//! request path (a map lookup and a set insert per dimension, under one
//! short lock) and handed to the database in batches by [`Aggregator::take`].
//!
//! Unique visitors are settled at flush time, not here: each new
//! (visitor, dimension, key) of a day becomes a mark, and a mark counts only
//! if the database has not seen it yet. That keeps the count exact across
//! restarts and instances; the per-day sets here only avoid sending the
//! same mark twice.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

/// Days since 1970-01-01 of the company's calendar: traffic is counted by
/// the day the company lives in, so "today" on the dashboard is its today.
pub type Day = i64;

/// The day (in `zone`, the company's) holding the moment `ms`.
pub fn day_of(ms: i64, zone: chrono_tz::Tz) -> Day {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    (crate::platform::zones::date_in(ms, zone) - epoch).num_days()
}

/// `2026-11-25` for a day number.
pub fn day_label(day: Day) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A day number for `2026-11-25`.
pub fn parse_day(s: &str) -> Option<Day> {
    let date = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((date - epoch).num_days())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Total,
    Path,
    Referrer,
    Campaign,
    Device,
    Browser,
    Goal,
}

impl Dim {
    pub const ALL: [Dim; 7] = [
        Dim::Total,
        Dim::Path,
        Dim::Referrer,
        Dim::Campaign,
        Dim::Device,
        Dim::Browser,
        Dim::Goal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Total => "total",
            Dim::Path => "path",
            Dim::Referrer => "referrer",
            Dim::Campaign => "campaign",
            Dim::Device => "device",
            Dim::Browser => "browser",
            Dim::Goal => "goal",
        }
    }
}

/// A counted page view.
#[derive(Clone, Copy, Debug)]
pub struct Hit<'a> {
    pub day: Day,
    /// The day's salted hash of IP address and user agent.
    pub visitor: u128,
    pub path: &'a str,
    /// The referring site's host, when it is another site.
    pub referrer: Option<&'a str>,
    pub campaign: Option<&'a str>,
    pub device: &'static str,
    pub browser: &'static str,
}

/// The maps counted into on every page view hash with foldhash (seeded per
/// process) rather than SipHash: a view hashes a dozen keys, and SipHash
/// made that a tenth of the cost of serving a page.
type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;
type FastSet<T> = HashSet<T, foldhash::quality::RandomState>;

#[derive(Default)]
struct Slot {
    /// Views (or goal completions) not yet flushed.
    views: i64,
    /// Visitors already marked today for this key (flushed or not).
    seen: FastSet<u128>,
}

// `DayBucket::slots` is indexed by `Dim as usize` and read back through `Dim::ALL`.
const _: () = {
    let mut i = 0;
    while i < Dim::ALL.len() {
        assert!(Dim::ALL[i] as usize == i);
        i += 1;
    }
};

#[derive(Default)]
struct DayBucket {
    /// Per dimension (`Dim as usize`), per key.
    slots: [FastMap<Box<str>, Slot>; Dim::ALL.len()],
    marks: Vec<Mark>,
}

/// A visitor seen for a (dimension, key) for the first time by this instance today.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub day: Day,
    pub dim: Dim,
    pub key: String,
    pub visitor: u128,
    /// For [`Dim::Total`]: the page the visit started on.
    pub entry: Option<String>,
    /// Order of marking across shards: of a visitor's marks, the first one
    /// the flush writes is the one that counts, so it must be the earliest
    /// (its entry page is where the visit started).
    pub order: u64,
}

/// What a flush writes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Views per (day, dimension, key).
    pub views: BTreeMap<(Day, Dim, String), i64>,
    pub marks: Vec<Mark>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.views.is_empty() && self.marks.is_empty()
    }
}

/// Counts in shards, so that worker threads counting at the same time
/// rarely wait for each other: each thread keeps to one shard. A visitor
/// seen by two shards is marked twice, which the flush settles like any
/// other known mark, so counts stay exact.
pub struct Aggregator {
    shards: Box<[Mutex<Days>]>,
}

type Days = BTreeMap<Day, DayBucket>;

const SHARDS: usize = 8;

impl Default for Aggregator {
    fn default() -> Aggregator {
        Aggregator {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl DayBucket {
    /// Counts one view of `key` in `dim`; true when the visitor is new to it.
    fn count(&mut self, dim: Dim, key: &str, visitor: Option<u128>) -> bool {
        let keys = &mut self.slots[dim as usize];
        let slot = match keys.get_mut(key) {
            Some(slot) => slot,
            None => keys.entry(key.into()).or_default(),
        };
        slot.views += 1;
        visitor.is_some_and(|v| slot.seen.insert(v))
    }

    fn mark(&mut self, day: Day, dim: Dim, key: &str, visitor: u128, entry: Option<&str>) {
        static ORDER: AtomicU64 = AtomicU64::new(0);
        self.marks.push(Mark {
            day,
            dim,
            key: key.to_string(),
            visitor,
            entry: entry.map(str::to_string),
            order: ORDER.fetch_add(1, Ordering::Relaxed),
        });
    }
}

impl Aggregator {
    /// The calling thread's shard.
    fn shard(&self) -> MutexGuard<'_, Days> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let i = SHARD.with(|i| *i) % self.shards.len();
        self.shards[i].lock().expect("analytics lock")
    }

    /// Counts a page view.
    pub fn record(&self, hit: &Hit<'_>) {
        let mut days = self.shard();
        let bucket = days.entry(hit.day).or_default();
        let v = Some(hit.visitor);
        if bucket.count(Dim::Total, "", v) {
            bucket.mark(hit.day, Dim::Total, "", hit.visitor, Some(hit.path));
        }
        let mut dims = [
            (Dim::Path, Some(hit.path)),
            (Dim::Referrer, hit.referrer),
            (Dim::Campaign, hit.campaign),
            (Dim::Device, Some(hit.device)),
            (Dim::Browser, Some(hit.browser)),
        ];
        for (dim, key) in dims.iter_mut() {
            if let Some(key) = key
                && bucket.count(*dim, key, v)
            {
                bucket.mark(hit.day, *dim, key, hit.visitor, None);
            }
        }
    }

    /// Counts a goal completion, by a known visitor or (outside a request) nobody in particular.
    pub fn goal(&self, day: Day, name: &str, visitor: Option<u128>) {
        let mut days = self.shard();
        let bucket = days.entry(day).or_default();
        if bucket.count(Dim::Goal, name, visitor)
            && let Some(v) = visitor
        {
            bucket.mark(day, Dim::Goal, name, v, None);
        }
    }

    /// Takes what is not yet flushed. Days before `today` are forgotten once
    /// taken: their visitors can no longer come back under the same hash.
    pub fn take(&self, today: Day) -> Batch {
        let mut batch = Batch::default();
        for shard in &self.shards {
            let mut days = shard.lock().expect("analytics lock");
            for (day, bucket) in days.iter_mut() {
                for (dim, keys) in Dim::ALL.into_iter().zip(bucket.slots.iter_mut()) {
                    for (key, slot) in keys.iter_mut() {
                        if slot.views != 0 {
                            *batch.views.entry((*day, dim, key.to_string())).or_default() +=
                                slot.views;
                            slot.views = 0;
                        }
                    }
                }
                batch.marks.append(&mut bucket.marks);
            }
            days.retain(|day, _| *day >= today);
        }
        batch.marks.sort_unstable_by_key(|m| m.order);
        batch
    }

    /// Puts back a batch that could not be written, to try again later.
    pub fn restore(&self, batch: Batch) {
        let mut days = self.shard();
        for ((day, dim, key), n) in batch.views {
            let keys = &mut days.entry(day).or_default().slots[dim as usize];
            keys.entry(key.into_boxed_str()).or_default().views += n;
        }
        for mark in batch.marks {
            days.entry(mark.day).or_default().marks.push(mark);
        }
    }

    /// `(bytes, keys)` held: the keys counted into, the visitor sets, the
    /// marks waiting. An estimate from capacities (a hash table's slot and
    /// its control byte per entry it has room for).
    pub fn size(&self) -> (usize, usize) {
        let (mut bytes, mut keys) = (0, 0);
        for shard in &self.shards {
            let days = shard.lock().expect("analytics lock");
            for bucket in days.values() {
                bytes += std::mem::size_of::<DayBucket>();
                for slots in &bucket.slots {
                    keys += slots.len();
                    bytes += slots.capacity() * (std::mem::size_of::<(Box<str>, Slot)>() + 1);
                    for (key, slot) in slots {
                        bytes += key.len() + slot.seen.capacity() * (16 + 1);
                    }
                }
                bytes += bucket.marks.capacity() * std::mem::size_of::<Mark>()
                    + bucket
                        .marks
                        .iter()
                        .map(|m| m.key.capacity() + m.entry.as_ref().map_or(0, String::capacity))
                        .sum::<usize>();
            }
        }
        (bytes, keys)
    }

    /// Forgets the keys with nothing left to flush, and with them the
    /// day's visitor sets; returns how many keys went. Counts stay exact:
    /// a visitor seen again is marked again and the flush finds the mark
    /// already written (the sets only save that work). Call after a flush.
    pub fn forget_seen(&self) -> usize {
        let mut forgotten = 0;
        for shard in &self.shards {
            let mut days = shard.lock().expect("analytics lock");
            for bucket in days.values_mut() {
                // Room the last flush's marks left behind.
                bucket.marks.shrink_to_fit();
                for slots in bucket.slots.iter_mut() {
                    let before = slots.len();
                    slots.retain(|_, slot| slot.views != 0);
                    slots.shrink_to_fit();
                    forgotten += before - slots.len();
                }
            }
        }
        forgotten
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(day: Day, visitor: u128, path: &str) -> Hit<'_> {
        Hit {
            day,
            visitor,
            path,
            referrer: None,
            campaign: None,
            device: "desktop",
            browser: "Firefox",
        }
    }

    #[test]
    fn forgetting_the_visitor_sets_frees_memory_and_keeps_counts_exact() {
        let a = Aggregator::default();
        for v in 0..2_000u128 {
            a.record(&hit(1, v, &format!("/page/{}", v % 50)));
        }
        let (full, keys) = a.size();
        assert!(keys >= 50, "{keys} keys");
        assert!(full > 2_000 * 16, "{full} bytes for 2,000 visitors");
        // Views not yet flushed are never forgotten.
        assert_eq!(a.forget_seen(), 0);
        let first = a.take(1);
        assert_eq!(first.views[&(1, Dim::Total, String::new())], 2_000);
        assert!(a.forget_seen() >= 50);
        let (after, _) = a.size();
        assert!(after < full / 10, "{after} bytes left of {full}");
        // A visitor seen again is marked again (the flush settles it), and
        // the views count once each.
        a.record(&hit(1, 7, "/page/7"));
        let again = a.take(1);
        assert_eq!(again.views[&(1, Dim::Total, String::new())], 1);
        assert!(
            again
                .marks
                .iter()
                .any(|m| m.visitor == 7 && m.dim == Dim::Total)
        );
    }

    #[test]
    fn views_add_up_and_each_visitor_is_marked_once_per_key() {
        let a = Aggregator::default();
        a.record(&hit(10, 1, "/"));
        a.record(&hit(10, 1, "/"));
        a.record(&hit(10, 1, "/blog"));
        a.record(&Hit {
            referrer: Some("news.example"),
            campaign: Some("autumn"),
            ..hit(10, 2, "/blog")
        });
        a.goal(10, "query_sent", Some(2));
        a.goal(10, "query_sent", None);
        let batch = a.take(10);
        let views = |dim, key: &str| batch.views.get(&(10, dim, key.to_string())).copied();
        assert_eq!(views(Dim::Total, ""), Some(4));
        assert_eq!(views(Dim::Path, "/"), Some(2));
        assert_eq!(views(Dim::Path, "/blog"), Some(2));
        assert_eq!(views(Dim::Referrer, "news.example"), Some(1));
        assert_eq!(views(Dim::Campaign, "autumn"), Some(1));
        assert_eq!(views(Dim::Browser, "Firefox"), Some(4));
        assert_eq!(views(Dim::Goal, "query_sent"), Some(2));
        let marks = |dim, key: &str| {
            batch
                .marks
                .iter()
                .filter(|m| m.dim == dim && m.key == key)
                .count()
        };
        assert_eq!(marks(Dim::Total, ""), 2);
        assert_eq!(marks(Dim::Path, "/blog"), 2);
        assert_eq!(marks(Dim::Goal, "query_sent"), 1);
        let entry = batch
            .marks
            .iter()
            .find(|m| m.dim == Dim::Total && m.visitor == 1)
            .unwrap();
        assert_eq!(entry.entry.as_deref(), Some("/"));
        // Nothing twice: a second take is empty, and a known visitor makes no new mark.
        assert!(a.take(10).is_empty());
        a.record(&hit(10, 1, "/"));
        let again = a.take(10);
        assert_eq!(again.views.get(&(10, Dim::Total, String::new())), Some(&1));
        assert!(again.marks.is_empty());
    }

    #[test]
    fn a_failed_flush_loses_nothing_and_old_days_are_forgotten() {
        let a = Aggregator::default();
        a.record(&hit(10, 1, "/"));
        let batch = a.take(11);
        a.restore(batch);
        a.record(&hit(11, 1, "/"));
        let batch = a.take(11);
        assert_eq!(batch.views.get(&(10, Dim::Total, String::new())), Some(&1));
        assert_eq!(batch.views.get(&(11, Dim::Total, String::new())), Some(&1));
        // Total, path, device and browser: day 10 from the restore, day 11 new.
        assert_eq!(batch.marks.len(), 8);
    }

    #[test]
    fn threads_counting_at_once_lose_no_view() {
        let a = Aggregator::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..1_000u128 {
                        a.record(&hit(10, i % 10, "/"));
                    }
                });
            }
        });
        let batch = a.take(10);
        assert_eq!(
            batch.views.get(&(10, Dim::Total, String::new())),
            Some(&4_000)
        );
        assert_eq!(batch.views.get(&(10, Dim::Path, "/".into())), Some(&4_000));
        // Each thread marks a visitor at most once; the flush settles repeats.
        let totals = batch.marks.iter().filter(|m| m.dim == Dim::Total);
        let visitors: HashSet<u128> = totals.clone().map(|m| m.visitor).collect();
        assert_eq!(visitors.len(), 10);
        assert!(totals.count() <= 40);
        // In marking order across shards, so a visitor's first mark (and entry page) counts.
        assert!(batch.marks.windows(2).all(|w| w[0].order < w[1].order));
    }

    #[test]
    fn days_have_labels_and_parse_back() {
        assert_eq!(day_label(0), "1970-01-01");
        assert_eq!(
            parse_day("2026-11-25").map(day_label).as_deref(),
            Some("2026-11-25")
        );
        assert_eq!(day_of(-1, chrono_tz::UTC), -1);
        // 03:00 UTC on 8 Dec 2026 is still the 7th in California.
        let late = 1_796_698_800_000;
        assert_eq!(day_label(day_of(late, chrono_tz::UTC)), "2026-12-08");
        assert_eq!(
            day_label(day_of(late, chrono_tz::America::Los_Angeles)),
            "2026-12-07"
        );
        assert_eq!(parse_day("2026-13-01"), None);
    }
}

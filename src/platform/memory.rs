//! Memory the process keeps on purpose. Every in-process cache or buffer
//! has a budget in bytes, evicts (or forgets) when over it, and reports
//! what it holds in `/metrics`:
//!
//! ```text
//! officecomms_cache_bytes{cache="content_pages"} 1843200
//! officecomms_cache_entries{cache="content_pages"} 212
//! officecomms_cache_budget_bytes{cache="content_pages"} 12582912
//! officecomms_cache_evictions_total{cache="content_pages"} 0
//! ```
//!
//! Sizes are estimates of the heap bytes a value holds ([`HeapSize`]), plus
//! the value itself and a fixed overhead per entry (map slot, key, `Arc`
//! header): close enough to budget by, cheap enough to compute once when
//! an entry is stored. `bench/results/2026-12-07-memory.md` says what each
//! cache costs at its default budget.

use prometheus_client::metrics::{counter::Counter, gauge::Gauge};

/// What one entry costs beyond its value and key: the map's slot, the
/// `Arc`'s counts, the size kept beside it.
pub const ENTRY_OVERHEAD: usize = 64;

/// The heap bytes a value holds (not counting the value itself).
pub trait HeapSize {
    fn heap_size(&self) -> usize;

    /// The value itself and what it holds.
    fn total_size(&self) -> usize
    where
        Self: Sized,
    {
        std::mem::size_of::<Self>() + self.heap_size()
    }
}

macro_rules! no_heap {
    ($($t:ty),*) => { $(impl HeapSize for $t { fn heap_size(&self) -> usize { 0 } })* };
}
no_heap!(
    (),
    bool,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    &'static str
);

impl HeapSize for String {
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for Box<str> {
    fn heap_size(&self) -> usize {
        self.len()
    }
}

impl HeapSize for axum::body::Bytes {
    fn heap_size(&self) -> usize {
        self.len()
    }
}

impl<T: HeapSize> HeapSize for Vec<T> {
    fn heap_size(&self) -> usize {
        self.capacity() * std::mem::size_of::<T>()
            + self.iter().map(HeapSize::heap_size).sum::<usize>()
    }
}

impl<T: HeapSize> HeapSize for Box<[T]> {
    fn heap_size(&self) -> usize {
        std::mem::size_of_val::<[T]>(self) + self.iter().map(HeapSize::heap_size).sum::<usize>()
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_size(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap_size)
    }
}

impl<T: HeapSize> HeapSize for Box<T> {
    fn heap_size(&self) -> usize {
        self.as_ref().total_size()
    }
}

impl<A: HeapSize, B: HeapSize> HeapSize for (A, B) {
    fn heap_size(&self) -> usize {
        self.0.heap_size() + self.1.heap_size()
    }
}

/// `impl HeapSize for Type` as the sum of the named fields' heap sizes
/// (list the fields that hold memory: strings, vectors, boxes).
#[macro_export]
macro_rules! heap_size_of_fields {
    ($t:ty { $($field:ident),* $(,)? }) => {
        impl $crate::platform::memory::HeapSize for $t {
            fn heap_size(&self) -> usize {
                0 $(+ $crate::platform::memory::HeapSize::heap_size(&self.$field))*
            }
        }
    };
}

/// One cache's figures in `/metrics` and its budget. Cheap to clone (the
/// gauges are shared).
#[derive(Clone, Debug)]
pub struct CacheMeter {
    bytes: Gauge,
    entries: Gauge,
    evictions: Counter,
    budget: usize,
}

impl CacheMeter {
    pub(super) fn new(bytes: Gauge, entries: Gauge, evictions: Counter, budget: usize) -> Self {
        CacheMeter {
            bytes,
            entries,
            evictions,
            budget,
        }
    }

    /// A meter registered nowhere (tests of a cache alone).
    pub fn detached(budget: usize) -> CacheMeter {
        CacheMeter::new(
            Gauge::default(),
            Gauge::default(),
            Counter::default(),
            budget,
        )
    }

    /// The most bytes the cache may hold.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// What the cache holds now.
    pub fn set(&self, bytes: usize, entries: usize) {
        self.bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.entries.set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// `n` entries were dropped to stay within the budget.
    pub fn evicted(&self, n: usize) {
        self.evictions.inc_by(n as u64);
    }

    pub fn bytes(&self) -> usize {
        usize::try_from(self.bytes.get()).unwrap_or(0)
    }

    pub fn entries(&self) -> usize {
        usize::try_from(self.entries.get()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_what_is_held() {
        let s = String::from("hello");
        assert_eq!(s.heap_size(), s.capacity());
        let v: Vec<String> = vec!["ab".into(), "cdef".into()];
        assert_eq!(
            v.heap_size(),
            v.capacity() * std::mem::size_of::<String>() + 2 + 4
        );
        assert_eq!(Some(7i64).heap_size(), 0);
        let meter = CacheMeter::detached(100);
        meter.set(40, 2);
        meter.evicted(3);
        assert_eq!(
            (meter.bytes(), meter.entries(), meter.budget()),
            (40, 2, 100)
        );
    }
}

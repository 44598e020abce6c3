use clap::Parser;

// A page costs about ninety small allocations; mimalloc serves them from
// per-thread pages at a fraction of glibc malloc's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// SQLite allocates with the C library's malloc on its connections' own
// threads, and glibc gives each thread an arena of its own: eight pooled
// connections left freed pages spread over eight arenas (39 MB at the peak
// of a 50,000-mail campaign against 13 MB in two, bench/results/
// 2026-12-07-memory.md). Two arenas are enough for two writers' worth of
// contention; mimalloc serves the Rust side.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::ffi::c_int;
    const M_ARENA_MAX: c_int = -8;
    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    // SAFETY: called first thing in main, before any thread exists; mallopt
    // only sets an allocator parameter.
    unsafe {
        mallopt(M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    officecomms::cli::run(officecomms::cli::Cli::parse())
}

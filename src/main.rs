use clap::Parser;

// A page costs about ninety small allocations; mimalloc serves them from
// per-thread pages at a fraction of glibc malloc's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    officecomms::cli::run(officecomms::cli::Cli::parse())
}

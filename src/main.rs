use clap::Parser;

fn main() -> anyhow::Result<()> {
    officecomms::cli::run(officecomms::cli::Cli::parse())
}

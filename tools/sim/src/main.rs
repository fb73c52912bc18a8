//! `kraken-sim`: the simulator, standalone.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "kraken-sim",
    about = "A Kraken Spot exchange simulator (WebSocket v2 + REST)"
)]
struct Cli {
    #[command(flatten)]
    args: kraken_sim::cli::Args,
}

fn main() -> std::process::ExitCode {
    kraken_sim::cli::run(Cli::parse().args)
}

//! `kraken-exec`: the command-line tool around the engine.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kraken_exec::SymbolTable;
use kraken_exec::protocol::Decoder;

mod decode_cmd;
mod demo;

#[derive(Parser)]
#[command(
    name = "kraken-exec",
    version,
    about = "Low-latency execution engine for Kraken Spot WebSocket v2"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Trade against the embedded simulator (TLS) with a sample market maker, then reconcile
    /// the engine's view with the simulator's ledger. Exit 0 when they agree.
    Demo {
        /// How long to trade, in seconds.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Inject disconnects and a token invalidation, to show recovery.
        #[arg(long)]
        faults: bool,
        /// Seed of the simulated market.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Read raw Kraken v2 frames (one per line) from stdin; print one JSON object per frame
    /// with the message kind and every field the engine extracted (decimals as exact strings).
    Decode {
        /// Symbols to intern (frames naming others decode with symbol "?").
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "BTC/USD,ETH/USD,SOL/USD,ETH/BTC"
        )]
        symbols: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Demo {
            duration,
            faults,
            seed,
        } => ExitCode::from(demo::run(demo::DemoArgs {
            duration: std::time::Duration::from_secs(duration),
            faults,
            seed,
        })),
        Cmd::Decode { symbols } => {
            let table = SymbolTable::from_names(symbols.iter().map(String::as_str));
            let mut decoder = Decoder::new();
            let stdin = std::io::stdin().lock();
            let mut out = std::io::stdout().lock();
            let mut errors = 0u64;
            for line in stdin.split(b'\n') {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("kraken-exec decode: reading stdin: {e}");
                        return ExitCode::from(2);
                    }
                };
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v = decode_cmd::frame_json(&mut decoder, line, &table);
                errors += u64::from(v.get("error").is_some());
                if writeln!(out, "{v}").is_err() {
                    return ExitCode::SUCCESS; // closed pipe
                }
            }
            if errors > 0 {
                eprintln!("kraken-exec decode: {errors} frame(s) did not decode");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
    }
}

//! `kraken-exec`: the command-line tool around the engine.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kraken_exec::SymbolTable;
use kraken_exec::protocol::Decoder;

mod book_cmd;
mod config_file;
mod decode_cmd;
mod demo;
mod journal_cmd;
mod ops;

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
    /// Run kraken-sim standalone (same flags as the `kraken-sim` binary).
    Sim(kraken_sim::cli::Args),
    /// Place one order (validate-only unless --live). Credentials: KRAKEN_API_KEY,
    /// KRAKEN_API_SECRET.
    Place {
        #[command(flatten)]
        conn: ops::Conn,
        /// Symbol, e.g. BTC/USD.
        #[arg(long)]
        symbol: String,
        /// buy or sell.
        #[arg(long)]
        side: String,
        /// Quantity (base asset).
        #[arg(long)]
        qty: String,
        /// limit or market.
        #[arg(long = "type", default_value = "limit")]
        order_type: String,
        /// Limit price.
        #[arg(long)]
        price: Option<String>,
        /// Client order id.
        #[arg(long)]
        cl_ord_id: Option<String>,
        /// Really place the order (default: Kraken validates it only).
        #[arg(long)]
        live: bool,
    },
    /// Amend an order in place.
    Amend {
        #[command(flatten)]
        conn: ops::Conn,
        /// Kraken order id.
        #[arg(long)]
        order_id: Option<String>,
        /// Client order id.
        #[arg(long)]
        cl_ord_id: Option<String>,
        /// New limit price.
        #[arg(long)]
        price: Option<rust_decimal::Decimal>,
        /// New total quantity.
        #[arg(long)]
        qty: Option<rust_decimal::Decimal>,
    },
    /// Cancel one order.
    Cancel {
        #[command(flatten)]
        conn: ops::Conn,
        /// Kraken order id.
        #[arg(long)]
        order_id: Option<String>,
        /// Client order id.
        #[arg(long)]
        cl_ord_id: Option<String>,
    },
    /// Cancel every open order.
    CancelAll {
        #[command(flatten)]
        conn: ops::Conn,
    },
    /// List open orders.
    Orders {
        #[command(flatten)]
        conn: ops::Conn,
    },
    /// Stream executions (fills and status changes).
    Watch {
        #[command(flatten)]
        conn: ops::Conn,
        /// Stop after this many seconds (0: run until interrupted).
        #[arg(long, default_value_t = 0)]
        seconds: u64,
        /// One JSON object per line: fills (`"event":"fill"`, with `exec_id`, the figures and
        /// whether it was recovered or historical) and status changes.
        #[arg(long)]
        json: bool,
    },
    /// A pair's order book: live from the public WebSocket (`--symbol`, no credentials; a
    /// ladder per checksummed update), or replayed from a capture of raw v2 frames (`--replay`,
    /// one per line, as received), printing `checksum ok` or `checksum MISMATCH` per frame.
    /// The depth: `--depth` if given, else (replay) the capture's subscribe acknowledgement,
    /// else 10 (Kraken's default). Exit 1 on a replayed mismatch, or if the live book cannot
    /// be had (connection or subscription refused).
    Book {
        /// The capture (`.jsonl`).
        #[arg(long, conflicts_with = "symbol", required_unless_present = "symbol")]
        replay: Option<std::path::PathBuf>,
        /// The pair to show live (`BTC/USD`).
        #[arg(long)]
        symbol: Option<String>,
        /// The subscribed depth (10, 25, 100, 500 or 1000).
        #[arg(long)]
        depth: Option<usize>,
        /// Public WebSocket URL (`ws://` only to this machine).
        #[arg(long, default_value = "wss://ws.kraken.com/v2")]
        url: String,
        /// Extra CA certificates (PEM) to trust, e.g. a simulator's.
        #[arg(long)]
        ca: Option<std::path::PathBuf>,
        /// Levels a side to show.
        #[arg(long, default_value_t = 5)]
        levels: usize,
        /// Stop after this many book updates (0: run until interrupted).
        #[arg(long, default_value_t = 0)]
        updates: u64,
    },
    /// Print a journal (the directory of `EngineConfig::journal`), one record per line: in
    /// words, or `--json`. Exit 2 if its tail is torn (the records before it are printed).
    Journal {
        /// The journal's directory.
        path: std::path::PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
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
    let op = |r: Result<(), ops::Failure>| match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kraken-exec: {}", e.message);
            ExitCode::from(e.code)
        }
    };
    match cli.command {
        Cmd::Sim(args) => kraken_sim::cli::run(args),
        Cmd::Place {
            conn,
            symbol,
            side,
            qty,
            order_type,
            price,
            cl_ord_id,
            live,
        } => op(ops::place(
            &conn,
            &symbol,
            &side,
            &qty,
            &order_type,
            price.as_deref(),
            cl_ord_id.as_deref(),
            live,
        )),
        Cmd::Amend {
            conn,
            order_id,
            cl_ord_id,
            price,
            qty,
        } => op(ops::amend(&conn, order_id, cl_ord_id, price, qty)),
        Cmd::Cancel {
            conn,
            order_id,
            cl_ord_id,
        } => op(ops::cancel(&conn, order_id, cl_ord_id)),
        Cmd::CancelAll { conn } => op(ops::cancel_all(&conn)),
        Cmd::Orders { conn } => op(ops::orders(&conn)),
        Cmd::Watch {
            conn,
            seconds,
            json,
        } => op(ops::watch(&conn, seconds, json)),
        Cmd::Demo {
            duration,
            faults,
            seed,
        } => ExitCode::from(demo::run(demo::DemoArgs {
            duration: std::time::Duration::from_secs(duration),
            faults,
            seed,
        })),
        Cmd::Journal { path, json } => journal_cmd::run(&path, json),
        Cmd::Book {
            replay,
            symbol,
            depth,
            url,
            ca,
            levels,
            updates,
        } => match (replay, symbol) {
            (Some(path), _) => book_cmd::replay(&path, depth),
            (None, Some(symbol)) => book_cmd::live(&book_cmd::Live {
                symbol,
                depth: depth.unwrap_or(10),
                url,
                ca,
                levels,
                updates,
            }),
            (None, None) => ExitCode::from(2),
        },
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

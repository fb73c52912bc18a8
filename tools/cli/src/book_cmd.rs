//! `kraken-exec book --symbol PAIR`: a live ladder from the public WebSocket, through the
//! engine's own public session and books (checksummed), on this thread.
//!
//! `kraken-exec book --replay FILE.jsonl`: replays the `book` frames of a capture of raw v2
//! frames (one per line, as received: status, acks, heartbeats and other channels mixed in),
//! keeping each pair's book and checking Kraken's checksum on every frame that carries one.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use kraken_exec::SymbolTable;
use kraken_exec::market::{Applied, Book};
use kraken_exec::protocol::{Decoder, Inbound};
use serde_json::Value;

/// Replays `path`; the depth of each pair `depth` if given, else from the capture's subscribe
/// acknowledgement, else 10 (Kraken's default). Exit 0 if every checksum matched, 1 on any mismatch,
/// 2 if the file cannot be read or holds no book frame.
pub fn replay(path: &Path, depth: Option<usize>) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kraken-exec book: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    // First pass: the pairs the book frames name, and the depths their acks give.
    let mut symbols: Vec<String> = Vec::new();
    let mut depths: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let ack = &v["result"];
        if v["method"] == "subscribe"
            && ack["channel"] == "book"
            && let (Some(s), Some(d)) = (ack["symbol"].as_str(), ack["depth"].as_u64())
        {
            depths.insert(s.to_string(), d as usize);
        }
        if v["channel"] == "book" {
            for d in v["data"].as_array().into_iter().flatten() {
                if let Some(s) = d["symbol"].as_str()
                    && !symbols.iter().any(|x| x == s)
                {
                    symbols.push(s.to_string());
                }
            }
        }
    }
    if symbols.is_empty() {
        eprintln!("kraken-exec book: {}: no book frame", path.display());
        return ExitCode::from(2);
    }
    let table = SymbolTable::from_names(symbols.iter().map(String::as_str));
    let mut books: Vec<Book> = symbols
        .iter()
        .map(|s| Book::new(depth.or_else(|| depths.get(s).copied()).unwrap_or(10)))
        .collect();
    let mut d = Decoder::new();
    let mut out = std::io::stdout().lock();
    let (mut ok, mut bad, mut unchecked) = (0u64, 0u64, 0u64);
    for (n, line) in text.lines().enumerate() {
        let Ok(Inbound::Book {
            kind,
            symbol,
            checksum,
            ..
        }) = d.decode(line.as_bytes(), &table)
        else {
            continue;
        };
        let Some(book) = books.get_mut(usize::from(symbol.0)) else {
            continue;
        };
        let name = &symbols[usize::from(symbol.0)];
        let said = match book.apply(kind, d.book_bids(), d.book_asks(), checksum) {
            Applied::Ok if checksum.is_some() => {
                ok += 1;
                "checksum ok".to_string()
            }
            Applied::Ok => {
                unchecked += 1;
                "no checksum".to_string()
            }
            Applied::Mismatch { expected, computed } => {
                bad += 1;
                format!("checksum MISMATCH (Kraken {expected}, ours {computed})")
            }
            Applied::NoSnapshot => {
                unchecked += 1;
                "update before a snapshot (or after a mismatch): skipped".to_string()
            }
        };
        let top = match (book.best_bid(), book.best_ask()) {
            (Some(b), Some(a)) => format!("  {} / {}", b.price, a.price),
            _ => String::new(),
        };
        let kind = match kind {
            kraken_exec::protocol::FrameKind::Snapshot => "snapshot",
            kraken_exec::protocol::FrameKind::Update => "update",
        };
        let _ = writeln!(out, "line {:>6} {name} {kind}: {said}{top}", n + 1);
    }
    let _ = writeln!(
        out,
        "{ok} checksums ok, {bad} mismatched, {unchecked} frames not checked"
    );
    if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `book --symbol`'s arguments.
pub struct Live {
    /// The pair.
    pub symbol: String,
    /// Levels a side subscribed.
    pub depth: usize,
    /// Public WebSocket URL.
    pub url: String,
    /// Extra CA certificates.
    pub ca: Option<std::path::PathBuf>,
    /// Levels a side shown.
    pub levels: usize,
    /// Stop after this many updates (0: never).
    pub updates: u64,
}

/// Connection attempts in a row that end the command.
const CONNECT_ATTEMPTS: u32 = 3;

/// Runs the live ladder. Exit 0 after `updates` checksummed updates; 1 if the pair's book
/// cannot be had (the connection keeps failing, the subscription is refused); 2 on bad
/// arguments.
pub fn live(a: &Live) -> ExitCode {
    use kraken_exec::internals::{BookOutcome, Books, MarketConfig, MarketSession};
    use kraken_exec::internals::{ConnectionState, Event, MarketCommand};
    use kraken_exec::internals::{EngineStats, now_ns};
    use kraken_exec::internals::{Feed, Read};
    use kraken_exec::internals::{WsUrl, client_tls_config};
    use kraken_exec::protocol::MarketChannel;
    use std::time::Duration;

    let fail = |code: u8, msg: String| {
        eprintln!("kraken-exec book: {msg}");
        ExitCode::from(code)
    };
    if !kraken_exec::market::book::DEPTHS.contains(&a.depth) {
        return fail(
            2,
            format!(
                "depth {} is not one Kraken offers (10, 25, 100, 500, 1000)",
                a.depth
            ),
        );
    }
    let url = match WsUrl::parse(&a.url) {
        Ok(u) => u,
        Err(e) => return fail(2, e.to_string()),
    };
    let loopback = url.host == "localhost"
        || url
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if !url.tls && !loopback {
        return fail(
            2,
            "a plain ws:// URL is only allowed to this machine".into(),
        );
    }
    let ca = match &a.ca {
        Some(p) => match std::fs::read(p) {
            Ok(b) => Some(b),
            Err(e) => return fail(2, format!("{}: {e}", p.display())),
        },
        None => None,
    };
    let tls = match client_tls_config(ca.as_deref()) {
        Ok(t) => t,
        Err(e) => return fail(2, e.to_string()),
    };
    let symbols = SymbolTable::from_names([a.symbol.as_str()]);
    let sym = kraken_exec::SymbolId(0);
    let cfg = MarketConfig {
        seed: now_ns(),
        ..MarketConfig::default()
    };
    let session = MarketSession::new(
        cfg,
        symbols,
        std::sync::Arc::new(EngineStats::default()),
        now_ns(),
    );
    let mut feed = Feed::new(url, tls, Duration::from_secs(10), session);
    let mut books = Books::new();
    books.track(sym, a.depth);
    let depth = a.depth as u16;
    feed.session.handle_command(
        now_ns(),
        MarketCommand::Subscribe {
            symbol: sym,
            channel: MarketChannel::Book { depth },
        },
    );
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut out = std::io::stdout().lock();
    let (mut updates, mut failed_connects, mut mismatches) = (0u64, 0u32, 0u64);
    loop {
        let now = now_ns();
        feed.poll_connect(now);
        while feed.read_one() == Read::Frame {}
        feed.handle_timeout(now_ns());
        while let Some(ev) = feed.session.poll_event() {
            match ev {
                Event::MarketConnection(ConnectionState::Connected) => failed_connects = 0,
                Event::MarketConnection(ConnectionState::Disconnected) => {
                    books.on_disconnected(|_| {});
                    if !feed.is_connected() {
                        failed_connects += 1;
                    }
                    if failed_connects >= CONNECT_ATTEMPTS {
                        return fail(1, format!("cannot connect to {}", a.url));
                    }
                    eprintln!("kraken-exec book: disconnected; reconnecting");
                }
                Event::MarketSubscription { error: Some(e), .. } => {
                    return fail(
                        1,
                        format!("subscription to {} refused: {}", a.symbol, e.as_str()),
                    );
                }
                Event::Book(c) => match books.on_chunk(&c) {
                    BookOutcome::Changed => {
                        let Some(b) = books.get(sym) else { continue };
                        updates += 1;
                        if ladder(&mut out, tty, &a.symbol, b, a.levels, updates, mismatches)
                            .is_err()
                        {
                            return ExitCode::SUCCESS; // closed pipe
                        }
                        if a.updates > 0 && updates >= a.updates {
                            feed.shutdown();
                            return ExitCode::SUCCESS;
                        }
                    }
                    BookOutcome::Invalid(why) => {
                        mismatches += 1;
                        eprintln!("kraken-exec book: checksum MISMATCH ({why:?}): resubscribing");
                    }
                    BookOutcome::Nothing => {}
                },
                _ => {}
            }
        }
        while let Some(s) = books.take_resync() {
            feed.session
                .handle_command(now_ns(), MarketCommand::ResyncBook { symbol: s });
            feed.pump_out();
        }
        let wait = feed
            .session
            .poll_timeout()
            .map_or(50_000_000, |t| t.saturating_sub(now_ns()).min(50_000_000));
        feed.wait(Duration::from_nanos(wait.max(1)));
    }
}

/// Prints the top `levels` of each side: a redrawn ladder on a terminal, one line per update
/// otherwise (best bid and ask).
fn ladder(
    out: &mut impl Write,
    tty: bool,
    symbol: &str,
    b: &Book,
    levels: usize,
    n: u64,
    mismatches: u64,
) -> std::io::Result<()> {
    let fmt = |l: Option<kraken_exec::protocol::BookLevel>| {
        l.map_or("-".to_string(), |l| format!("{} @ {}", l.qty, l.price))
    };
    if !tty {
        return writeln!(
            out,
            "{n} {symbol} bid {} | ask {} checksum ok",
            fmt(b.best_bid()),
            fmt(b.best_ask())
        );
    }
    write!(
        out,
        "\x1b[H\x1b[2J{symbol}  update {n}  checksum ok  mismatches {mismatches}\r\n"
    )?;
    for l in b.asks().iter().take(levels).rev() {
        write!(out, "            {:>16} {:>16}\r\n", l.price, l.qty)?;
    }
    write!(out, "  ---------------------------------------------\r\n")?;
    for l in b.bids().iter().take(levels) {
        write!(out, "{:>16} {:>16}\r\n", l.qty, l.price)?;
    }
    out.flush()
}

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

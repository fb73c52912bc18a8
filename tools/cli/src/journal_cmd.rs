//! `kraken-exec journal DIR`: a journal, one record per line, in words or as JSON.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use kraken_exec::journal::{self, Entry};
use serde_json::{Value, json};

fn opt<T: ToString>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |v| Value::String(v.to_string()))
}

/// One record as JSON.
fn to_json(seq: u64, time_us: i64, e: &Entry) -> Value {
    let at = kraken_exec::Timestamp(time_us).to_string();
    match e {
        Entry::Header(h) => {
            json!({"seq": seq, "record": "header", "segment": h.segment, "version": h.version})
        }
        Entry::Intent {
            req_id,
            method: m,
            cl_ord_id,
            order_id,
            symbol,
            side,
            qty,
            price,
            deadline,
            validate,
        } => {
            json!({"seq": seq, "at": at, "record": "intent", "req_id": req_id.0, "method": m.as_str(),
            "cl_ord_id": opt(cl_ord_id.as_ref()), "order_id": opt(order_id.as_ref()), "symbol_id": symbol.0,
            "side": opt(side.as_ref()), "qty": opt(qty.as_ref()), "price": opt(price.as_ref()),
            "deadline": opt(deadline.as_ref()), "validate": validate})
        }
        Entry::Ack {
            req_id,
            order_id,
            cl_ord_id,
        } => json!({"seq": seq, "at": at, "record": "ack", "req_id": req_id.0,
            "order_id": opt(order_id.as_ref()), "cl_ord_id": opt(cl_ord_id.as_ref())}),
        Entry::Reject { req_id, error } => json!({"seq": seq, "at": at, "record": "reject",
            "req_id": req_id.0, "error": error.as_str()}),
        Entry::Fill(f) => {
            json!({"seq": seq, "at": at, "record": "fill", "exec_id": f.exec_id.as_str(),
            "order_id": f.order_id.as_str(), "cl_ord_id": opt(f.cl_ord_id.as_ref()), "symbol_id": f.symbol.0,
            "side": opt(f.side.as_ref()), "qty": f.qty.to_string(), "price": f.price.to_string(),
            "fee": opt(f.fee.as_ref()), "fee_asset": f.fee_asset.as_str(),
            "liquidity": opt(f.liquidity.as_ref()), "timestamp": opt(f.timestamp.as_ref())})
        }
        Entry::Status {
            order_id,
            cl_ord_id,
            symbol,
            status: st,
        } => json!({"seq": seq, "at": at, "record": "status", "order_id": opt(order_id.as_ref()),
            "cl_ord_id": opt(cl_ord_id.as_ref()), "symbol_id": symbol.0, "status": st.as_str()}),
        Entry::Checkpoint {
            sequence,
            last_fill,
        } => json!({"seq": seq, "at": at, "record": "checkpoint", "sequence": sequence,
            "last_fill": last_fill.to_string()}),
        Entry::Start { instance } => json!({"seq": seq, "at": at, "record": "start",
            "instance": format!("{instance:016x}")}),
        Entry::Position {
            symbol,
            position: p,
        } => json!({"seq": seq, "at": at,
            "record": "position", "symbol_id": symbol.0, "qty": p.qty.to_string(),
            "avg_price": p.avg_price.to_string(), "realized_pnl": p.realized_pnl.to_string(),
            "fees": p.fees.to_string(), "volume": p.volume.to_string()}),
        Entry::AtRisk { since } => json!({"seq": seq, "at": at, "record": "at_risk",
            "since": opt(since.as_ref())}),
        // A record of a newer version: shown as such.
        _ => json!({"seq": seq, "at": at, "record": "unknown"}),
    }
}

/// One record in words.
fn to_words(v: &Value) -> String {
    let g = |k: &str| match &v[k] {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let head = format!("{:>8} {}", g("seq"), g("at"));
    match v["record"].as_str().unwrap_or("") {
        "intent" => format!(
            "{head} intent   #{} {}{} {} {} @ {} (cl_ord_id {}, order {})",
            g("req_id"),
            g("method"),
            if v["validate"] == true {
                " (validate only)"
            } else {
                ""
            },
            g("side"),
            g("qty"),
            g("price"),
            g("cl_ord_id"),
            g("order_id")
        ),
        "ack" => format!(
            "{head} accepted #{} order {} (cl_ord_id {})",
            g("req_id"),
            g("order_id"),
            g("cl_ord_id")
        ),
        "reject" => format!("{head} refused  #{}: {}", g("req_id"), g("error")),
        "fill" => format!(
            "{head} fill     {} {} {} @ {} fee {} {} (order {}, {})",
            g("exec_id"),
            g("side"),
            g("qty"),
            g("price"),
            g("fee"),
            g("fee_asset"),
            g("order_id"),
            g("timestamp")
        ),
        "status" => format!(
            "{head} status   order {} (cl_ord_id {}) is {}",
            g("order_id"),
            g("cl_ord_id"),
            g("status")
        ),
        "checkpoint" => format!(
            "{head} checkpoint at sequence {}, last fill {}",
            g("sequence"),
            g("last_fill")
        ),
        "start" => format!("{head} start    engine {} began appending", g("instance")),
        "at_risk" => format!(
            "{head} at risk  fills since {} not yet read back",
            g("since")
        ),
        "position" => format!(
            "{head} position symbol {} holds {} at {} (realised {}, fees {}, volume {})",
            g("symbol_id"),
            g("qty"),
            g("avg_price"),
            g("realized_pnl"),
            g("fees"),
            g("volume")
        ),
        other => format!("{head} {other}"),
    }
}

/// Prints the journal in `dir`; exit 0, or 1 if it cannot be read, 2 if its tail is torn.
pub fn run(dir: &Path, as_json: bool) -> ExitCode {
    let replay = match journal::read(dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kraken-exec journal: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    for (seq, t, e) in &replay.entries {
        let v = to_json(*seq, *t, e);
        let line = if as_json { v.to_string() } else { to_words(&v) };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::from(1);
        }
    }
    if let Some(t) = &replay.torn {
        eprintln!(
            "kraken-exec journal: {} is torn at byte {} ({:?}); the records before it are above",
            t.path.display(),
            t.offset,
            t.why
        );
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

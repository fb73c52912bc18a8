//! `kraken-exec decode`: frames in, JSON out, for debugging captures.

use kraken_exec::SymbolTable;
use kraken_exec::protocol::{
    AckResult, BalanceEntry, Decoder, ExecutionReport, FrameKind, Inbound, InstrumentPair,
};
use serde_json::{Map, Value, json};

fn dec(d: Option<rust_decimal::Decimal>) -> Value {
    d.map_or(Value::Null, |d| Value::String(d.to_string()))
}

fn s<T: ToString>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |v| Value::String(v.to_string()))
}

fn kind(k: FrameKind) -> &'static str {
    match k {
        FrameKind::Snapshot => "snapshot",
        FrameKind::Update => "update",
    }
}

/// Drops nulls so the output lists what the frame carried.
fn compact(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, compact(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(compact).collect()),
        v => v,
    }
}

fn execution(r: &ExecutionReport, t: &SymbolTable) -> Value {
    json!({
        "order_id": r.order_id.as_str(),
        "exec_type": s(r.exec_type),
        "order_status": s(r.order_status),
        "timestamp": s(r.timestamp),
        "symbol": r.symbol.map(|id| t.name(id).to_string()),
        "side": s(r.side),
        "order_type": s(r.order_type),
        "order_qty": dec(r.order_qty),
        "cash_order_qty": dec(r.cash_order_qty),
        "display_qty": dec(r.display_qty),
        "limit_price": dec(r.limit_price),
        "limit_price_type": s(r.limit_price_type),
        "time_in_force": s(r.time_in_force),
        "post_only": r.post_only,
        "reduce_only": r.reduce_only,
        "margin": r.margin,
        "cl_ord_id": s(r.cl_ord_id),
        "order_userref": r.order_userref,
        "effective_time": s(r.effective_time),
        "expire_time": s(r.expire_time),
        "cum_qty": dec(r.cum_qty),
        "cum_cost": dec(r.cum_cost),
        "avg_price": dec(r.avg_price),
        "fee_usd_equiv": dec(r.fee_usd_equiv),
        "exec_id": s(r.exec_id),
        "trade_id": r.trade_id,
        "last_qty": dec(r.last_qty),
        "last_price": dec(r.last_price),
        "cost": dec(r.cost),
        "liquidity_ind": s(r.liquidity),
        "fees": r.fees().iter().map(|f| json!({"asset": f.asset.as_str(), "qty": f.qty.to_string()})).collect::<Vec<_>>(),
        "reason": s(r.reason),
        "amended": r.amended,
        "triggers": r.triggers.map(|tr| json!({
            "reference": s(tr.reference), "price": dec(tr.price), "price_type": s(tr.price_type),
            "status": s(tr.status), "last_price": dec(tr.last_price),
        })),
    })
}

fn balance(b: &BalanceEntry) -> Value {
    json!({
        "asset": b.asset.as_str(), "balance": dec(b.balance), "amount": dec(b.amount), "fee": dec(b.fee),
        "ledger_id": s(b.ledger_id), "ref_id": s(b.ref_id), "type": s(b.kind), "timestamp": s(b.timestamp),
    })
}

fn pair(p: &InstrumentPair) -> Value {
    json!({
        "symbol": p.symbol.as_str(), "base": p.base.as_str(), "quote": p.quote.as_str(), "status": s(p.status),
        "price_increment": dec(p.price_increment), "qty_increment": dec(p.qty_increment),
        "qty_min": dec(p.qty_min), "cost_min": dec(p.cost_min),
        "price_precision": p.price_precision, "qty_precision": p.qty_precision,
    })
}

fn ack(r: &AckResult, d: &Decoder) -> Value {
    match r {
        AckResult::None => Value::Null,
        AckResult::Order { order_id, cl_ord_id, order_userref } => {
            json!({"order_id": s(*order_id), "cl_ord_id": s(*cl_ord_id), "order_userref": order_userref})
        }
        AckResult::Amend { amend_id, order_id, cl_ord_id } => {
            json!({"amend_id": s(*amend_id), "order_id": s(*order_id), "cl_ord_id": s(*cl_ord_id)})
        }
        AckResult::Edit { order_id, original_order_id } => {
            json!({"order_id": s(*order_id), "original_order_id": s(*original_order_id)})
        }
        AckResult::Count(n) => json!({"count": n}),
        AckResult::CancelAfter { current_time, trigger_time } => {
            json!({"current_time": s(*current_time), "trigger_time": s(*trigger_time)})
        }
        AckResult::Batch { .. } => Value::Array(
            d.batch()
                .iter()
                .map(|i| json!({"order_id": s(i.order_id), "cl_ord_id": s(i.cl_ord_id), "order_userref": i.order_userref, "error": s(i.error)}))
                .collect(),
        ),
        AckResult::Subscription { channel, maxratecount, symbol } => {
            json!({"channel": format!("{channel:?}").to_lowercase(), "maxratecount": maxratecount, "symbol": symbol.map(|s| s.0)})
        }
        _ => Value::Null,
    }
}

/// One frame as JSON: `{"kind": ..., ...}` or `{"error": ...}`.
pub fn frame_json(d: &mut Decoder, frame: &[u8], t: &SymbolTable) -> Value {
    let v = match d.decode(frame, t) {
        Err(e) => return json!({"error": e.to_string(), "error_kind": format!("{e:?}")}),
        Ok(Inbound::Response(r)) => json!({
            "kind": "response",
            "method": format!("{:?}", r.method),
            "req_id": r.req_id,
            "success": r.success,
            "error": s(r.error),
            "error_kind": r.error_kind.map(|k| format!("{k:?}")),
            "result": ack(&r.result, d),
            "warnings": r.warnings,
            "time_in": s(r.time_in),
            "time_out": s(r.time_out),
        }),
        Ok(Inbound::Executions {
            kind: k, sequence, ..
        }) => json!({
            "kind": "executions", "type": kind(k), "sequence": sequence,
            "data": d.executions().iter().map(|r| execution(r, t)).collect::<Vec<_>>(),
        }),
        Ok(Inbound::Balances {
            kind: k, sequence, ..
        }) => json!({
            "kind": "balances", "type": kind(k), "sequence": sequence,
            "data": d.balances().iter().map(balance).collect::<Vec<_>>(),
        }),
        Ok(Inbound::Instrument { kind: k, .. }) => json!({
            "kind": "instrument", "type": kind(k),
            "pairs": d.pairs().iter().map(pair).collect::<Vec<_>>(),
            "assets": d.assets().iter().map(|a| json!({"id": a.id.as_str(), "status": a.status.as_str(), "precision": a.precision})).collect::<Vec<_>>(),
        }),
        Ok(Inbound::Status(st)) => {
            json!({"kind": "status", "system": s(st.system), "connection_id": st.connection_id.map(|c| c.to_string())})
        }
        Ok(Inbound::Heartbeat) => json!({"kind": "heartbeat"}),
        Ok(Inbound::Trade { kind: k, .. }) => json!({
            "kind": "trade", "type": kind(k),
            "data": d.trades().iter().map(|t| json!({
                "side": t.side.map(|x| x.as_str()), "price": t.price.to_string(),
                "qty": t.qty.to_string(), "trade_id": t.trade_id,
                "timestamp": t.timestamp.map(|x| x.to_string())})).collect::<Vec<_>>(),
        }),
        Ok(Inbound::Ticker { kind: k, .. }) => {
            let o = |v: Option<rust_decimal::Decimal>| v.map(|v| v.to_string());
            json!({
                "kind": "ticker", "type": kind(k),
                "data": d.tickers().iter().map(|t| json!({
                    "bid": o(t.bid), "bid_qty": o(t.bid_qty), "ask": o(t.ask), "ask_qty": o(t.ask_qty),
                    "last": o(t.last), "volume": o(t.volume), "vwap": o(t.vwap), "low": o(t.low),
                    "high": o(t.high), "change": o(t.change), "change_pct": o(t.change_pct)})).collect::<Vec<_>>(),
            })
        }
        Ok(Inbound::Book {
            kind: k,
            checksum,
            timestamp,
            ..
        }) => {
            let levels = |ls: &[kraken_exec::protocol::messages::BookLevel]| {
                ls.iter()
                    .map(|l| json!({"price": l.price.to_string(), "qty": l.qty.to_string()}))
                    .collect::<Vec<_>>()
            };
            json!({"kind": "book", "type": kind(k), "bids": levels(d.book_bids()),
                "asks": levels(d.book_asks()), "checksum": checksum,
                "timestamp": timestamp.map(|t| t.to_string())})
        }
        // A kind of frame this tool does not know yet.
        Ok(_) => json!({"kind": "other"}),
    };
    compact(v)
}

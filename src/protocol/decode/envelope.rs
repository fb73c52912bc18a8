//! The envelope of a frame: `method` (acknowledgements) or `channel` (data), its type, and the
//! market-data payloads (book levels, trades, ticker).

use crate::error::{DecodeError, KrakenErrorKind};
use crate::ids::{SymbolId, SymbolTable};
use crate::protocol::messages::*;
use crate::types::*;

use super::Outputs;
use super::R;
use super::acks::ack_result;
use super::executions::{balance, execution};
use super::instruments::instrument;
use super::tape::*;

pub(super) fn frame_kind(s: Option<&str>) -> R<FrameKind> {
    match s {
        Some("snapshot") => Ok(FrameKind::Snapshot),
        Some("update") | None => Ok(FrameKind::Update),
        Some(_) => Err(DecodeError::InvalidField("type")),
    }
}

pub(super) fn top_level<'de>(
    c: &mut Cursor<'_, 'de>,
    symbols: &SymbolTable,
    out: &mut Outputs<'_>,
) -> R<Inbound> {
    let root = c.next()?;
    let mut channel: Option<&'de str> = None;
    let mut method: Option<&'de str> = None;
    let mut kind: Option<&'de str> = None;
    let mut data: Option<Cursor<'_, 'de>> = None;
    let mut result: Option<Cursor<'_, 'de>> = None;
    let mut resp = Response {
        method: Method::Other,
        req_id: None,
        success: true,
        error: None,
        error_kind: None,
        result: AckResult::None,
        warnings: 0,
        time_in: None,
        time_out: None,
    };
    let mut sequence = None;
    let mut success: Option<bool> = None;
    let mut orders_cancelled = None;
    c.object(root, "root", |c, k, v| {
        match k {
            "channel" => channel = Some(c.str(v, "channel")?),
            "method" => method = Some(c.str(v, "method")?),
            "type" => kind = Some(c.str(v, "type")?),
            "sequence" => sequence = Some(c.u64(v, "sequence")?),
            "req_id" if !is_null(&v) => resp.req_id = Some(c.u64(v, "req_id")?),
            "success" => success = Some(c.bool(v, "success")?),
            "error" if !is_null(&v) => {
                let e = c.str(v, "error")?;
                resp.error = Some(Text::truncating(e));
                resp.error_kind = Some(KrakenErrorKind::classify(e));
            }
            // A time this version cannot read never costs the ack it comes with.
            "time_in" => resp.time_in = c.lenient_time(v, "time_in", &mut Unknowns::default())?,
            "time_out" => {
                resp.time_out = c.lenient_time(v, "time_out", &mut Unknowns::default())?
            }
            "orders_cancelled" => orders_cancelled = Some(c.u64(v, "orders_cancelled")?),
            "data" | "result" => {
                // Remember where the payload starts; it is parsed once the kind is known.
                let at = Cursor { i: c.i - 1, ..*c };
                if k == "data" {
                    data = Some(at);
                } else {
                    result = Some(at);
                }
                return c.skip(v);
            }
            _ => return c.skip(v),
        }
        Ok(())
    })?;

    if let Some(m) = method {
        resp.method = Method::from_wire(m);
        resp.success = success.unwrap_or(resp.error.is_none());
        if let Some(mut rc) = result {
            let v = rc.next()?;
            resp.result = ack_result(&mut rc, v, resp.method, symbols, out, &mut resp.warnings)?;
        } else if let Some(n) = orders_cancelled {
            resp.result = AckResult::Count(n);
        }
        return Ok(Inbound::Response(resp));
    }
    let Some(ch) = channel else {
        return Err(DecodeError::UnknownMessage);
    };
    match ch {
        "heartbeat" => Ok(Inbound::Heartbeat),
        "executions" => {
            out.executions.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    out.executions.push(ExecutionReport::default());
                    let slot = out.executions.len() - 1;
                    execution(c, e, symbols, &mut out.executions[slot])
                })?;
            }
            Ok(Inbound::Executions {
                kind: frame_kind(kind)?,
                sequence,
                len: out.executions.len(),
            })
        }
        "balances" => {
            out.balances.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    let b = balance(c, e)?;
                    out.balances.push(b);
                    Ok(())
                })?;
            }
            Ok(Inbound::Balances {
                kind: frame_kind(kind)?,
                sequence,
                len: out.balances.len(),
            })
        }
        "instrument" => {
            out.pairs.clear();
            out.assets.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                instrument(&mut dc, v, out)?;
            }
            Ok(Inbound::Instrument {
                kind: frame_kind(kind)?,
                pairs: out.pairs.len(),
                assets: out.assets.len(),
            })
        }
        "book" => {
            out.bids.clear();
            out.asks.clear();
            let (mut symbol, mut checksum, mut timestamp) = (SymbolId::UNKNOWN, None, None);
            let mut pairs = 0u32;
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    // One pair per frame (Kraken's way): levels of several could not be told
                    // apart in the two lists.
                    pairs += 1;
                    if pairs > 1 {
                        return Err(DecodeError::InvalidField("data"));
                    }
                    c.object(e, "data", |c, k, v| {
                        match k {
                            "symbol" => {
                                symbol = symbols
                                    .get(c.str(v, "symbol")?)
                                    .unwrap_or(SymbolId::UNKNOWN)
                            }
                            "bids" => book_levels(c, v, "bids", out.bids)?,
                            "asks" => book_levels(c, v, "asks", out.asks)?,
                            "checksum" => {
                                checksum = Some(
                                    u32::try_from(c.u64(v, "checksum")?)
                                        .map_err(|_| DecodeError::InvalidField("checksum"))?,
                                )
                            }
                            "timestamp" => {
                                timestamp =
                                    c.lenient_time(v, "timestamp", &mut Unknowns::default())?
                            }
                            _ => c.skip(v)?,
                        }
                        Ok(())
                    })
                })?;
            }
            Ok(Inbound::Book {
                kind: frame_kind(kind)?,
                symbol,
                checksum,
                timestamp,
            })
        }
        "trade" => {
            out.trades.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    let mut t = PublicTrade::default();
                    let u = &mut Unknowns::default();
                    c.object(e, "data", |c, k, v| {
                        match k {
                            "symbol" => {
                                t.symbol = symbols
                                    .get(c.str(v, "symbol")?)
                                    .unwrap_or(SymbolId::UNKNOWN)
                            }
                            "side" => t.side = c.lenient(v, "side", Side::from_wire, u)?,
                            "price" => t.price = c.decimal(v, "price")?,
                            "qty" => t.qty = c.decimal(v, "qty")?,
                            "ord_type" => {
                                t.ord_type = c.lenient(v, "ord_type", OrderType::from_wire, u)?
                            }
                            "trade_id" => t.trade_id = Some(c.u64(v, "trade_id")?),
                            "timestamp" => t.timestamp = c.lenient_time(v, "timestamp", u)?,
                            _ => c.skip(v)?,
                        }
                        Ok(())
                    })?;
                    out.trades.push(t);
                    Ok(())
                })?;
            }
            Ok(Inbound::Trade {
                kind: frame_kind(kind)?,
                len: out.trades.len(),
            })
        }
        "ticker" => {
            out.tickers.clear();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    let mut t = Ticker::default();
                    c.object(e, "data", |c, k, v| {
                        let d = |c: &Cursor<'_, 'de>, f| c.decimal(v, f).map(Some);
                        match k {
                            "symbol" => {
                                t.symbol = symbols
                                    .get(c.str(v, "symbol")?)
                                    .unwrap_or(SymbolId::UNKNOWN)
                            }
                            "bid" => t.bid = d(c, "bid")?,
                            "bid_qty" => t.bid_qty = d(c, "bid_qty")?,
                            "ask" => t.ask = d(c, "ask")?,
                            "ask_qty" => t.ask_qty = d(c, "ask_qty")?,
                            "last" => t.last = d(c, "last")?,
                            "volume" => t.volume = d(c, "volume")?,
                            "vwap" => t.vwap = d(c, "vwap")?,
                            "low" => t.low = d(c, "low")?,
                            "high" => t.high = d(c, "high")?,
                            "change" => t.change = d(c, "change")?,
                            "change_pct" => t.change_pct = d(c, "change_pct")?,
                            "timestamp" => {
                                t.timestamp =
                                    c.lenient_time(v, "timestamp", &mut Unknowns::default())?
                            }
                            _ => c.skip(v)?,
                        }
                        Ok(())
                    })?;
                    out.tickers.push(t);
                    Ok(())
                })?;
            }
            Ok(Inbound::Ticker {
                kind: frame_kind(kind)?,
                len: out.tickers.len(),
            })
        }
        "status" => {
            let mut st = Status::default();
            if let Some(mut dc) = data {
                let v = dc.next()?;
                dc.array(v, "data", |c, e| {
                    c.object(e, "data", |c, k, v| {
                        match k {
                            "system" => {
                                st.system = Some(c.wire(v, "system", SystemStatus::from_wire)?)
                            }
                            "connection_id" => st.connection_id = Some(c.u64(v, "connection_id")?),
                            _ => c.skip(v)?,
                        }
                        Ok(())
                    })
                })?;
            }
            Ok(Inbound::Status(st))
        }
        _ => Err(DecodeError::UnknownMessage),
    }
}

/// A `bids` or `asks` array of `{"price":…,"qty":…}` into `out`, the digits as sent.
pub(super) fn book_levels<'de>(
    c: &mut Cursor<'_, 'de>,
    v: Val<'de>,
    field: &'static str,
    out: &mut Vec<BookLevel>,
) -> R<()> {
    c.array(v, field, |c, e| {
        let mut l = BookLevel::default();
        let (mut price, mut qty) = (false, false);
        c.object(e, field, |c, k, v| {
            match k {
                "price" => {
                    l.price = c.decimal(v, "price")?;
                    price = true;
                }
                "qty" => {
                    l.qty = c.decimal(v, "qty")?;
                    qty = true;
                }
                _ => c.skip(v)?,
            }
            Ok(())
        })?;
        if !(price && qty) {
            return Err(DecodeError::InvalidField(field));
        }
        out.push(l);
        Ok(())
    })
}

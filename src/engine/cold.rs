//! The cold thread: REST over a kept-alive `ureq` agent. Fetches WebSocket tokens, places and
//! cancels orders over REST while the WebSocket is down, and looks orders up to resolve unknown
//! outcomes. It may allocate; nothing here is on the hot path.

use std::collections::VecDeque;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use rust_decimal::Decimal;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::clock;
use crate::engine::msg::{LargeCommand, OrderCommand};
use crate::error::KrakenErrorKind;
use crate::ids::{AssetCode, ExecId, OrderId, RequestId, SymbolId};
use crate::order::OrderRef;
use crate::orders::NotSentReason;
use crate::protocol::messages::{
    AckResult, BatchItem, ExecutionReport, Fee, Method, Response, Text,
};
use crate::protocol::rest::{self, Credentials, RestError, RestOrderStatus, WsToken};
use crate::time::Timestamp;
use crate::types::{ExecType, Liquidity, OrderStatus};

/// Work for the cold thread.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum ColdRequest {
    /// Fetch a fresh WebSocket token.
    Token,
    /// Send a small command over REST, unless `expires_ns` (monotonic) has passed by then.
    Order {
        req_id: RequestId,
        cmd: OrderCommand,
        sent_ns: u64,
        expires_ns: u64,
    },
    /// Send a large command over REST, unless `expires_ns` has passed by then.
    Large {
        req_id: RequestId,
        cmd: LargeCommand,
        sent_ns: u64,
        expires_ns: u64,
    },
    /// Look an order up; the exchange cannot have opened it before `since`.
    Lookup {
        target: OrderRef,
        since: Timestamp,
        until: Timestamp,
    },
    /// Fetch the account's trades after `since` (fills the executions channel may not have
    /// delivered: those of a disconnected window beyond the snapshot's last 50, or of a gap).
    /// ... up to `end` (fixed, so the pages stay put), resuming at offset `ofs`.
    Trades {
        since: Timestamp,
        end: Timestamp,
        ofs: u64,
    },
    /// Arm (or with 0 disarm) the dead man's switch over REST while the socket is down.
    DeadMan { timeout_secs: u32 },
    /// List every order opened in the window, once it has closed: an edit whose answer was
    /// lost may have opened a replacement nothing else names (it has no client id).
    Discover { since: Timestamp, until: Timestamp },
    /// Stop.
    Shutdown,
}

/// Results of the cold thread.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum ColdReply {
    Token(Result<WsToken, String>),
    Response {
        response: Response,
        items: Vec<BatchItem>,
        sent_ns: u64,
    },
    /// A REST order call got no answer Kraken wrote (transport failure, timeout, 5xx page,
    /// unreadable body): it may have executed. Looked up, never resent.
    Unknown {
        req_id: RequestId,
    },
    /// The dead man's switch over REST: whether Kraken acknowledged it.
    DeadMan {
        timeout_secs: u32,
        ok: bool,
    },
    /// A REST order the cold thread did not send.
    NotSent {
        req_id: RequestId,
        reason: NotSentReason,
    },
    /// Lookups, in one batch.
    Resolved(Vec<Lookup>),
    /// Trades from `TradesHistory` in [`since`, `end`], as execution reports (oldest first);
    /// `complete: false` if the window was not read to its end: then read it again from
    /// `next_ofs` (why in `error`).
    Trades {
        reports: Vec<ExecutionReport>,
        since: Timestamp,
        end: Timestamp,
        next_ofs: u64,
        complete: bool,
        error: Option<String>,
    },
}

/// How REST calls travel: over HTTP, or (in the crate's deterministic simulation) straight
/// into an in-memory exchange.
pub(crate) enum Http {
    Agent(ureq::Agent),
    /// (method, path, headers, body) → the body answered, whatever its status; `Err`: no
    /// answer (a reset).
    #[cfg(test)]
    #[allow(clippy::type_complexity)]
    Memory(Box<dyn FnMut(&str, &str, &[(&str, &str)], &[u8]) -> Result<Vec<u8>, String> + Send>),
}

impl Http {
    /// GET `url`: the body, whatever the status.
    fn get(&mut self, url: &str) -> Result<Vec<u8>, String> {
        match self {
            Http::Agent(a) => a
                .get(url)
                .call()
                .map_err(|e| e.to_string())
                .and_then(|mut r| r.body_mut().read_to_vec().map_err(|e| e.to_string())),
            #[cfg(test)]
            Http::Memory(f) => f("GET", path_of(url), &[], &[]),
        }
    }

    /// POST `body` to `url`: the body answered, whatever the status.
    fn post(
        &mut self,
        url: &str,
        headers: &[(&str, &str)],
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        match self {
            Http::Agent(a) => {
                let mut req = a.post(url).content_type(content_type);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                let mut r = req.send(body).map_err(|e| e.to_string())?;
                r.body_mut().read_to_vec().map_err(|e| format!("body: {e}"))
            }
            #[cfg(test)]
            Http::Memory(f) => {
                let mut all = headers.to_vec();
                all.push(("content-type", content_type));
                f("POST", path_of(url), &all, body)
            }
        }
    }
}

#[cfg(test)]
fn path_of(url: &str) -> &str {
    url.find("/0/").map_or(url, |i| &url[i..])
}

pub(crate) struct Cold {
    pub http: Http,
    pub rest_url: String,
    pub creds: Credentials,
    /// The v2 symbols, by symbol id.
    pub symbols: Vec<String>,
    /// REST pair name per symbol id: configured, or resolved from `AssetPairs` (`None`: not
    /// resolved yet, or Kraken lists no such pair).
    pub rest_pairs: Vec<Option<String>>,
    /// Quote asset per symbol id (REST fees are charged in it).
    pub quotes: Vec<AssetCode>,
    /// Pair keys and altnames → symbol id, from `AssetPairs` (loaded when first needed).
    pub pair_names: Option<Vec<(String, usize)>>,
    pub nonce: u64,
    pub body: Vec<u8>,
    /// Set when the engine stops: no order is sent over REST after that.
    pub stop: Arc<AtomicBool>,
    /// Shared counters (the exchange's clock offset is read from them).
    pub stats: Arc<crate::engine::stats::EngineStats>,
    /// Kraken's REST call counter as modelled (`None`: not modelled).
    pub rest_counter: Option<crate::risk::RestCallCounter>,
    /// The next call goes out even if the model says wait (a clean stop's last disarm of the
    /// dead man's switch: there is no later).
    pub past_the_counter: bool,
    /// A call found no room on the modelled REST counter (set by `post`; a lookup round
    /// reads it to leave what it did not reach for a later round, not call it failed).
    pub throttled: bool,
    /// Pages of closed orders a lookup round may read (the cold loop sets it: none after a
    /// round that ran out of counter, whose next asks about each order by its client id).
    pub page_budget: usize,
}

/// Kraken's answer when the REST call counter is over its maximum.
const RATE_LIMITED: &[u8] = b"EAPI:Rate limit exceeded";

/// What a REST order call came to.
#[allow(clippy::large_enum_variant)]
pub(crate) enum RestOutcome {
    /// Kraken answered: accepted, or refused with its own error.
    Answered(Response, Vec<BatchItem>),
    /// No answer Kraken wrote: the call may have executed.
    Unknown,
    /// Not sent at all.
    NotSent(NotSentReason),
}

impl RestOutcome {
    fn of(method: Method, req_id: RequestId, r: Result<AckResult, RestError>) -> Self {
        match r {
            Err(e) if !e.is_exchange_error() => {
                tracing::warn!(req_id = req_id.0, error = %e, "REST order call: outcome unknown");
                RestOutcome::Unknown
            }
            r => RestOutcome::Answered(Cold::response(method, req_id, r), Vec::new()),
        }
    }
}

/// A ureq agent that keeps connections alive and trusts `extra_ca_pem` (the simulator's CA)
/// instead of the webpki roots when given.
pub(crate) fn agent(extra_ca_pem: Option<&[u8]>, timeout: Duration) -> Result<ureq::Agent, String> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if let Some(pem) = extra_ca_pem {
        let cert = Certificate::from_pem(pem).map_err(|e| e.to_string())?;
        tls = tls.root_certs(RootCerts::new_with_certs(&[cert]));
    }
    let cfg = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_idle_connections_per_host(2)
        .max_idle_age(Duration::from_secs(300))
        .build();
    Ok(cfg.into())
}

impl Cold {
    fn exchange_offset(&self) -> i64 {
        self.stats.exchange_offset_us.load(Ordering::Relaxed)
    }

    fn exchange_offset_lo(&self) -> i64 {
        self.stats.exchange_offset_lo_us.load(Ordering::Relaxed)
    }

    fn next_nonce(&mut self) -> u64 {
        // Strictly increasing, ahead of the wall clock in microseconds.
        let wall = clock::wall().0.max(0) as u64;
        self.nonce = (self.nonce + 1).max(wall);
        self.nonce
    }

    fn post(&mut self, method: &str, json: bool) -> Result<Vec<u8>, RestError> {
        // Kraken's REST call counter, modelled: calls wait their turn rather than be refused
        // (and count against the key for minutes). The cold loop holds a token request, a
        // dead man's switch refresh or a cancel-all back until it fits (`rest_wait_ns`), and
        // starts a background round only with room for it; a call that still finds no room is
        // answered `Throttled` and retried by its owner. Order entry costs 0.
        let cost = crate::risk::rest_call_cost(method);
        let force = std::mem::take(&mut self.past_the_counter);
        if let Some(counter) = self.rest_counter.as_mut() {
            let now = clock::now_ns();
            let wait = counter.wait_ns(cost, now);
            if wait > 0 && !force {
                self.throttled = true;
                return Err(RestError::Throttled {
                    wait_ms: wait / 1_000_000,
                });
            }
            counter.charge(cost, now);
        }
        let path = format!("/0/private/{method}");
        let nonce = self.nonce;
        let sign = rest::sign(&path, nonce, &self.body, &self.creds.secret);
        let ct = if json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded; charset=utf-8"
        };
        let url = format!("{}{}", self.rest_url.trim_end_matches('/'), path);
        let headers = [
            ("API-Key", self.creds.key.as_str()),
            ("API-Sign", sign.as_str()),
        ];
        let resp = self.http.post(&url, &headers, ct, &self.body);
        // Only Kraken's own error envelope is a refusal; every other failure is reported as
        // what it is (no answer, or an answer that is not Kraken's), never as a rejection.
        match resp {
            Ok(body) => {
                if let Some(c) = self.rest_counter.as_mut()
                    && body.windows(RATE_LIMITED.len()).any(|w| w == RATE_LIMITED)
                {
                    c.on_rate_limited(clock::now_ns());
                }
                Ok(body)
            }
            Err(e) => {
                tracing::warn!(method, error = %e, "REST call failed");
                Err(RestError::Transport(e))
            }
        }
    }

    /// The REST pair of symbol `s`, from `AssetPairs` (loaded on first use).
    fn pair(&mut self, s: SymbolId) -> Option<String> {
        self.load_pair_names();
        self.rest_pairs.get(usize::from(s.0)).cloned().flatten()
    }

    pub fn token(&mut self) -> Result<WsToken, String> {
        let n = self.next_nonce();
        rest::nonce_form(&mut self.body, n);
        let mut body = self
            .post("GetWebSocketsToken", false)
            .map_err(|e| e.to_string())?;
        rest::parse_token(&mut body).map_err(|e| e.to_string())
    }

    fn response(method: Method, req_id: RequestId, r: Result<AckResult, RestError>) -> Response {
        let (success, result, error, error_kind) = match r {
            Ok(a) => (true, a, None, None),
            Err(e) => {
                let kind = e.kind().unwrap_or(KrakenErrorKind::Other);
                (
                    false,
                    AckResult::None,
                    Some(Text::truncating(&e.to_string().replacen("kraken: ", "", 1))),
                    Some(kind),
                )
            }
        };
        Response {
            method,
            req_id: Some(req_id.0),
            success,
            error,
            error_kind,
            result,
            warnings: 0,
            time_in: None,
            time_out: None,
        }
    }

    fn cancel_one(&mut self, target: &OrderRef) -> Result<AckResult, RestError> {
        let n = self.next_nonce();
        rest::cancel_order_form(&mut self.body, n, target);
        let mut b = self.post("CancelOrder", false)?;
        rest::parse_count(&mut b)?;
        Ok(match target {
            OrderRef::OrderId(id) => AckResult::Order {
                order_id: Some(*id),
                cl_ord_id: None,
                order_userref: None,
            },
            OrderRef::ClOrdId(c) => AckResult::Order {
                order_id: None,
                cl_ord_id: Some(*c),
                order_userref: None,
            },
            OrderRef::UserRef(u) => AckResult::Order {
                order_id: None,
                cl_ord_id: None,
                order_userref: Some(i64::from(*u)),
            },
        })
    }

    /// How long (ns) a call of `method` must wait for the modelled REST counter (0 when it
    /// fits now, or when the counter is not modelled).
    pub fn rest_wait_ns(&mut self, method: &str) -> u64 {
        self.rest_wait_for(crate::risk::rest_call_cost(method))
    }

    /// How long (ns) until the modelled REST counter has room for `cost` calls.
    pub fn rest_wait_for(&mut self, cost: u32) -> u64 {
        self.rest_counter
            .as_mut()
            .map_or(0, |c| c.wait_ns(cost, clock::now_ns()))
    }

    /// `CancelAllOrdersAfter`: whether Kraken acknowledged it.
    pub fn cancel_after(&mut self, timeout_secs: u32) -> bool {
        let n = self.next_nonce();
        rest::cancel_all_after_form(&mut self.body, n, timeout_secs);
        match self
            .post("CancelAllOrdersAfter", false)
            .and_then(|mut b| rest::parse_cancel_after(&mut b))
        {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "dead man's switch over REST failed");
                false
            }
        }
    }

    /// Executes a small command over REST; Kraken's answer comes in the shape of a WS
    /// response.
    pub fn order(&mut self, req_id: RequestId, cmd: &OrderCommand) -> RestOutcome {
        let n = self.next_nonce();
        let (method, r) = match cmd {
            OrderCommand::Add { order, .. } => {
                let Some(pair) = self.pair(order.symbol) else {
                    return RestOutcome::NotSent(NotSentReason::NoRestPair);
                };
                rest::add_order_form(&mut self.body, n, order, &pair);
                let r = self
                    .post("AddOrder", false)
                    .and_then(|mut b| rest::parse_add_order(&mut b))
                    .map(|ids| AckResult::Order {
                        order_id: ids.first().and_then(|s| OrderId::new(s)),
                        cl_ord_id: order.tag.cl_ord_id(),
                        order_userref: None,
                    });
                (Method::AddOrder, r)
            }
            OrderCommand::Amend { amend, .. } => {
                rest::amend_order_form(&mut self.body, n, amend);
                let r = self
                    .post("AmendOrder", false)
                    .and_then(|mut b| rest::parse_amend(&mut b))
                    .map(|id| {
                        let (order_id, cl_ord_id) = amend.target.ids();
                        AckResult::Amend {
                            amend_id: crate::ids::InlineStr::new(&id),
                            order_id,
                            cl_ord_id,
                        }
                    });
                (Method::AmendOrder, r)
            }
            OrderCommand::Edit { edit, .. } => {
                let Some(pair) = self.pair(edit.symbol) else {
                    return RestOutcome::NotSent(NotSentReason::NoRestPair);
                };
                rest::edit_order_form(&mut self.body, n, edit, &pair);
                let r = self
                    .post("EditOrder", false)
                    .and_then(|mut b| rest::parse_edit(&mut b))
                    .map(|(new, orig)| AckResult::Edit {
                        order_id: OrderId::new(&new),
                        original_order_id: OrderId::new(&orig),
                    });
                (Method::EditOrder, r)
            }
            OrderCommand::CancelOne { target, .. } => {
                (Method::CancelOrder, self.cancel_one(target))
            }
            OrderCommand::CancelAll { .. } => {
                rest::nonce_form(&mut self.body, n);
                let r = self
                    .post("CancelAll", false)
                    .and_then(|mut b| rest::parse_count(&mut b))
                    .map(AckResult::Count);
                (Method::CancelAll, r)
            }
            OrderCommand::CancelAfter { timeout_secs, .. } => {
                rest::cancel_all_after_form(&mut self.body, n, *timeout_secs);
                let r = self
                    .post("CancelAllOrdersAfter", false)
                    .and_then(|mut b| rest::parse_cancel_after(&mut b))
                    .map(|(c, t)| AckResult::CancelAfter {
                        current_time: c,
                        trigger_time: t,
                    });
                (Method::CancelAllOrdersAfter, r)
            }
            // Announced without its request: the session never hands one over.
            OrderCommand::Large { .. } => (
                Method::Other,
                Err(RestError::Kraken(vec![
                    "EGeneral:Invalid arguments:not a REST order command".into(),
                ])),
            ),
        };
        RestOutcome::of(method, req_id, r)
    }

    /// Executes a large command over REST.
    pub fn large(&mut self, req_id: RequestId, cmd: &LargeCommand) -> RestOutcome {
        match cmd {
            LargeCommand::Cancel(c) => {
                // REST cancels one order per call: every order is asked, whatever happened to
                // the others. The first failure is reported; a call with no answer makes the
                // whole request's outcome unknown.
                let mut first_err = None;
                let mut unknown = false;
                for r in &c.refs {
                    match self.cancel_one(r) {
                        Ok(_) => {}
                        Err(e) if !e.is_exchange_error() => unknown = true,
                        Err(e) => {
                            first_err.get_or_insert(e);
                        }
                    }
                }
                if unknown {
                    return RestOutcome::Unknown;
                }
                let r = first_err.map_or(Ok(AckResult::None), Err);
                RestOutcome::Answered(Self::response(Method::CancelOrder, req_id, r), Vec::new())
            }
            LargeCommand::BatchAdd(b) => {
                let Some(pair) = self.pair(b.symbol) else {
                    return RestOutcome::NotSent(NotSentReason::NoRestPair);
                };
                let n = self.next_nonce();
                rest::add_order_batch_json(&mut self.body, n, b, &pair);
                match self
                    .post("AddOrderBatch", true)
                    .and_then(|mut body| rest::parse_add_order_batch(&mut body))
                {
                    Ok(results) => {
                        let items: Vec<BatchItem> = results
                            .iter()
                            .zip(&b.orders)
                            .map(|(r, o)| BatchItem {
                                order_id: r.as_ref().ok().and_then(|s| OrderId::new(s)),
                                cl_ord_id: o.tag.cl_ord_id(),
                                order_userref: None,
                                error: r.as_ref().err().map(|e| Text::truncating(e)),
                            })
                            .collect();
                        let len = items.len();
                        RestOutcome::Answered(
                            Self::response(Method::BatchAdd, req_id, Ok(AckResult::Batch { len })),
                            items,
                        )
                    }
                    Err(e) => RestOutcome::of(Method::BatchAdd, req_id, Err(e)),
                }
            }
            LargeCommand::BatchCancel(b) => {
                let n = self.next_nonce();
                rest::cancel_order_batch_json(&mut self.body, n, b);
                let r = self
                    .post("CancelOrderBatch", true)
                    .and_then(|mut body| rest::parse_count(&mut body))
                    .map(AckResult::Count);
                RestOutcome::of(Method::BatchCancel, req_id, r)
            }
        }
    }

    /// The trades after `since` as `trade` execution reports, oldest first, paging through
    /// `TradesHistory` (50 a page, newest first). `complete` is false if a call failed or
    /// `MAX_TRADE_PAGES` ran out before the window did: what was read is still returned (the
    /// tracker drops repeats), and the caller asks again.
    pub fn trades_since(&mut self, since: Timestamp, end: Timestamp, ofs: u64) -> ColdReply {
        self.load_pair_names();
        let mut out = Vec::new();
        let mut ofs = ofs;
        let mut complete = false;
        let mut error = None;
        for _ in 0..MAX_TRADE_PAGES {
            let n = self.next_nonce();
            rest::trades_history_form(&mut self.body, n, since, Some(end), ofs);
            let page = self
                .post("TradesHistory", false)
                .and_then(|mut b| rest::parse_trades_history(&mut b));
            let (page, count) = match page {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "trade history page failed");
                    error = Some(e.to_string());
                    break;
                }
            };
            let mut unmapped = None;
            for t in &page {
                match self.trade_report(t) {
                    Some(r) => out.push(r),
                    None => {
                        unmapped = Some(format!("trade {} of unmapped pair {}", t.txid, t.pair))
                    }
                }
            }
            if let Some(e) = unmapped {
                // Never dropped: this page is read again later (its other trades dedupe).
                tracing::error!(error = %e, "trade history: window read again later");
                error = Some(e);
                break;
            }
            ofs += page.len() as u64;
            if page.is_empty() || ofs >= count {
                complete = true;
                break;
            }
        }
        out.reverse();
        ColdReply::Trades {
            reports: out,
            since,
            end,
            next_ofs: ofs,
            complete,
            error,
        }
    }

    /// Kraken reports trades under the pair's key (`XXBTZUSD`), orders take its altname
    /// (`XBTUSD`), WebSocket v2 says `BTC/USD`: the public `AssetPairs` maps them, once
    /// loaded (asked again on the next need if it failed).
    fn load_pair_names(&mut self) {
        if self.pair_names.is_some() {
            return;
        }
        let url = format!(
            "{}/0/public/AssetPairs",
            self.rest_url.trim_end_matches('/')
        );
        let pairs = self
            .http
            .get(&url)
            .and_then(|mut b| rest::parse_asset_pairs(&mut b).map_err(|e| e.to_string()));
        match pairs {
            Ok(pairs) => {
                let mut map = Vec::new();
                for (i, symbol) in self.symbols.iter().enumerate() {
                    // A configured name must be one Kraken lists; otherwise the symbol decides.
                    let configured = self.rest_pairs.get(i).cloned().flatten();
                    let found = match &configured {
                        Some(name) => pairs.iter().find(|p| p.altname == *name || p.key == *name),
                        None => rest::rest_pair_for(symbol, &pairs),
                    };
                    match found {
                        Some(p) => {
                            map.push((p.key.clone(), i));
                            map.push((p.altname.clone(), i));
                            if let Some(slot) = self.rest_pairs.get_mut(i) {
                                *slot = Some(configured.unwrap_or_else(|| p.altname.clone()));
                            }
                        }
                        None => {
                            tracing::error!(
                                symbol,
                                "AssetPairs lists no pair for this symbol: no REST fallback or trade recovery for it"
                            )
                        }
                    }
                }
                self.pair_names = Some(map);
            }
            Err(e) => tracing::warn!(error = %e, "AssetPairs failed"),
        }
    }

    fn trade_report(&self, t: &rest::RestTrade) -> Option<ExecutionReport> {
        let symbol = self
            .pair_names
            .iter()
            .flatten()
            .find(|(name, _)| *name == t.pair)
            .map(|&(_, i)| i)?;
        let mut r = ExecutionReport {
            order_id: OrderId::new(&t.order_txid)?,
            exec_type: Some(ExecType::Trade),
            timestamp: Some(t.time),
            symbol: Some(SymbolId(symbol as u16)),
            side: t.side,
            exec_id: Some(ExecId::new(&t.txid)?),
            trade_id: t.trade_id,
            last_qty: Some(t.vol),
            last_price: Some(t.price),
            cost: Some(t.cost),
            liquidity: t.maker.map(|m| {
                if m {
                    Liquidity::Maker
                } else {
                    Liquidity::Taker
                }
            }),
            ..ExecutionReport::default()
        };
        if let Some(&asset) = self.quotes.get(symbol) {
            r.fees[0] = Fee { asset, qty: t.fee };
            r.fee_count = 1;
        }
        Some(r)
    }

    /// Posts the body prepared for `method` and parses the orders it returns; `None` (logged)
    /// if the call or its answer failed.
    /// `QueryOrders` of these Kraken ids.
    fn query_orders(&mut self, ids: &[&str]) -> Result<Vec<rest::RestOrder>, RestError> {
        let n = self.next_nonce();
        rest::query_orders_form(&mut self.body, n, ids);
        self.post("QueryOrders", false)
            .and_then(|mut b| rest::parse_orders(&mut b))
            .inspect_err(|e| tracing::warn!(error = %e, "order lookup failed"))
    }

    fn orders(&mut self, method: &str) -> Option<Vec<rest::RestOrder>> {
        self.post(method, false)
            .and_then(|mut b| rest::parse_orders(&mut b))
            .map_err(|e| tracing::warn!(method, error = %e, "order lookup failed"))
            .ok()
    }

    /// Every order opened in `[since, until]`: open now, or closed since. `None` if a call
    /// failed or the window holds more than a round may read.
    pub fn discover(&mut self, since: Timestamp, until: Timestamp) -> Option<Vec<Lookup>> {
        let mut found = Vec::new();
        let mut add = |orders: Vec<rest::RestOrder>| {
            for o in orders
                .iter()
                .filter(|o| o.opentm.is_none_or(|t| t >= since && t <= until))
            {
                if let Some(id) = OrderId::new(&o.txid) {
                    found.push(Lookup::of(OrderRef::OrderId(id), o));
                }
            }
        };
        let n = self.next_nonce();
        rest::open_orders_form(&mut self.body, n, None);
        add(self.orders("OpenOrders")?);
        let mut ofs = 0u64;
        for _ in 0..MAX_PAGES_PER_ROUND {
            let n = self.next_nonce();
            rest::closed_orders_since_form(&mut self.body, n, since, Some(until), ofs, None);
            let (page, count) = self
                .post("ClosedOrders", false)
                .and_then(|mut b| rest::parse_orders_page(&mut b))
                .map_err(|e| tracing::warn!(error = %e, "order discovery failed"))
                .ok()?;
            ofs += page.len() as u64;
            let done = page.is_empty() || ofs >= count;
            add(page);
            if done {
                return Some(found);
            }
        }
        None
    }

    /// Looks orders up in one go, whatever their number: every open order (one `OpenOrders`),
    /// then the closed ones opened in each target's window (`ClosedOrders` pages, `start` and
    /// `end`), then any Kraken ids still missing (`QueryOrders`, 50 a call). A handful of calls instead of one or two per
    /// order, which Kraken's REST rate limit would not allow after a disconnect with many
    /// requests in flight. `None` for an order the exchange does not show.
    /// Returns what it decided (found, not placed, or `Unknown` where a call failed) and the
    /// targets it did not reach this round, to be searched in a later round.
    pub fn lookup_many(&mut self, windows: &[LookupWindow]) -> (Vec<Lookup>, Vec<LookupWindow>) {
        self.throttled = false;
        let targets: Vec<OrderRef> = windows.iter().map(|w| w.0).collect();
        let targets = &targets[..];
        let mut found: Vec<Option<Lookup>> = vec![None; targets.len()];
        let mut failed = false;
        // A client id may have named several orders (reused after each closed): the one we
        // look for is the newest, opened last.
        let mut opened: Vec<Option<Timestamp>> = vec![None; targets.len()];
        let mut take = |orders: Vec<rest::RestOrder>, found: &mut Vec<Option<Lookup>>| {
            for o in orders {
                for (i, t) in targets.iter().enumerate() {
                    let hit = match t {
                        OrderRef::ClOrdId(c) => o.cl_ord_id.as_deref() == Some(c.as_str()),
                        OrderRef::OrderId(id) => o.txid == id.as_str(),
                        OrderRef::UserRef(_) => false,
                    };
                    let newer = found[i].is_none()
                        || (matches!(t, OrderRef::ClOrdId(_)) && o.opentm > opened[i]);
                    if hit && newer {
                        found[i] = Some(Lookup::of(*t, &o));
                        opened[i] = o.opentm;
                    }
                }
            }
        };
        let n = self.next_nonce();
        rest::open_orders_form(&mut self.body, n, None);
        match self.orders("OpenOrders") {
            Some(o) => take(o, &mut found),
            None => failed = true,
        }
        // Client ids not open: searched among the orders closed that were opened in their
        // windows (each bounded at both ends around its submission). Overlapping windows are
        // read together; a window read to its end decides every id in it; "not found" is
        // concluded only for an id whose search was complete.
        let mut decided: Vec<bool> = targets
            .iter()
            .zip(&found)
            .map(|(t, f)| f.is_some() || !matches!(t, OrderRef::ClOrdId(_)))
            .collect();
        let mut groups: Vec<(Timestamp, Timestamp, Vec<usize>)> = Vec::new();
        let mut order: Vec<usize> = (0..targets.len()).filter(|&i| !decided[i]).collect();
        order.sort_by_key(|&i| windows[i].1);
        for i in order {
            let (_, start, end) = windows[i];
            match groups.last_mut() {
                Some((_, gend, members)) if start <= *gend => {
                    *gend = (*gend).max(end);
                    members.push(i);
                }
                _ => groups.push((start, end, vec![i])),
            }
        }
        let mut pages = 0;
        for (start, end, members) in &groups {
            let mut ofs = 0u64;
            while !failed && pages < self.page_budget.min(MAX_PAGES_PER_ROUND) {
                if members.iter().all(|&i| found[i].is_some()) {
                    break;
                }
                pages += 1;
                let n = self.next_nonce();
                rest::closed_orders_since_form(&mut self.body, n, *start, Some(*end), ofs, None);
                match self
                    .post("ClosedOrders", false)
                    .and_then(|mut b| rest::parse_orders_page(&mut b))
                {
                    Ok((page, count)) => {
                        ofs += page.len() as u64;
                        let empty = page.is_empty();
                        take(page, &mut found);
                        if empty || ofs >= count {
                            members.iter().for_each(|&i| decided[i] = true);
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "order lookup failed");
                        failed = true;
                    }
                }
            }
        }
        // Ids whose window was too busy to read: the first few are asked about one by one,
        // each query complete for its id. The rest stay undecided (unknown, asked again).
        if !failed {
            let mut asked = 0;
            for i in 0..targets.len() {
                let OrderRef::ClOrdId(c) = targets[i] else {
                    continue;
                };
                if decided[i] || found[i].is_some() {
                    continue;
                }
                if asked == MAX_FILTERED_PER_ROUND {
                    break;
                }
                asked += 1;
                let n = self.next_nonce();
                let (_, start, end) = windows[i];
                rest::closed_orders_since_form(
                    &mut self.body,
                    n,
                    start,
                    Some(end),
                    0,
                    Some(c.as_str()),
                );
                match self
                    .post("ClosedOrders", false)
                    .and_then(|mut b| rest::parse_orders_page(&mut b))
                {
                    Ok((page, _)) => {
                        take(page, &mut found);
                        decided[i] = true;
                    }
                    Err(e) => tracing::warn!(error = %e, "order lookup failed"),
                }
            }
        }
        let ids: Vec<&str> = targets
            .iter()
            .zip(&found)
            .filter_map(|(t, f)| match (t, f) {
                (OrderRef::OrderId(id), None) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let mut ids_failed = failed;
        for chunk in ids.chunks(50) {
            match self.query_orders(chunk) {
                Ok(o) => take(o, &mut found),
                // One id Kraken does not have fails the whole call: each is asked alone,
                // and one it answers that way for is not there.
                Err(e) if invalid_order(&e) => {
                    for id in chunk {
                        match self.query_orders(std::slice::from_ref(id)) {
                            Ok(o) => take(o, &mut found),
                            // Not there: left unfound, which a complete answer decides.
                            Err(e) if invalid_order(&e) => {}
                            Err(_) => ids_failed = true,
                        }
                    }
                }
                Err(_) => ids_failed = true,
            }
        }
        let mut out = Vec::with_capacity(targets.len());
        let mut later = Vec::new();
        // A call the modelled counter had no room for failed nothing: what the round did not
        // settle is searched again in a later round, with more room.
        let throttled = self.throttled;
        for (i, (f, decided)) in found.into_iter().zip(decided).enumerate() {
            let t = targets[i];
            let undecided = match t {
                OrderRef::OrderId(_) => ids_failed,
                _ => failed || !decided,
            };
            match f {
                Some(l) => out.push(l),
                None if throttled && undecided => later.push(windows[i]),
                // Not reached this round (a busy window): searched again, not "not found".
                None if undecided && !failed && !matches!(t, OrderRef::OrderId(_)) => {
                    later.push(windows[i])
                }
                None => out.push(Lookup {
                    target: t,
                    order_id: None,
                    // A failed search says nothing: still unknown, asked again later.
                    status: undecided.then_some(OrderStatus::Unknown),
                    filled: None,
                }),
            }
        }
        (out, later)
    }
}

/// Kraken's answer for an order id it does not have.
fn invalid_order(e: &RestError) -> bool {
    matches!(e, RestError::Kraken(errs) if errs.iter().any(|x| x == "EOrder:Invalid order"))
}

/// What a lookup found of one order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lookup {
    pub target: OrderRef,
    pub order_id: Option<OrderId>,
    /// `None`: the exchange does not show it; `Unknown`: the lookup itself failed.
    pub status: Option<OrderStatus>,
    pub filled: Option<Decimal>,
}

impl Lookup {
    fn of(target: OrderRef, o: &rest::RestOrder) -> Self {
        let status = match o.status {
            RestOrderStatus::Pending => OrderStatus::PendingNew,
            RestOrderStatus::Open if o.vol_exec.is_zero() => OrderStatus::Open,
            RestOrderStatus::Open => OrderStatus::PartiallyFilled,
            RestOrderStatus::Closed => OrderStatus::Filled,
            RestOrderStatus::Canceled => OrderStatus::Canceled,
            RestOrderStatus::Expired => OrderStatus::Expired,
        };
        Self {
            target,
            order_id: OrderId::new(&o.txid),
            status: Some(status),
            filled: Some(o.vol_exec),
        }
    }
}

/// An order to look up, and the window (exchange time) it can have been opened in.
pub(crate) type LookupWindow = (OrderRef, Timestamp, Timestamp);

/// Lookups are done in rounds, between which the cold thread serves everything else (tokens,
/// REST orders, the dead man's switch): a round reads at most this many `ClosedOrders` pages
/// (50 orders each; a page settles up to 50 orders for one call)...
pub(crate) const MAX_PAGES_PER_ROUND: usize = 8;
/// ... asks about at most this many client ids one by one (each query exact for its id) ...
const MAX_FILTERED_PER_ROUND: usize = 16;
/// ... and takes at most this many targets.
const TARGETS_PER_ROUND: usize = 256;

/// Pages of `TradesHistory` fetched after a reconnect or gap (50 trades each).
const MAX_TRADE_PAGES: usize = 40;

/// Kraken refuses a `deadline` less than this far ahead.
const MIN_DEADLINE_NS: u64 = 500_000_000;
/// ... or more than this far.
const MAX_DEADLINE_NS: u64 = 60_000_000_000;

/// Order of service: stopping first, then tokens (a reconnect waits on them), then orders
/// (they age; lookups and history pages do not), then the rest in arrival order.
fn priority(r: &ColdRequest) -> u8 {
    match r {
        ColdRequest::Shutdown => 0,
        ColdRequest::Token | ColdRequest::DeadMan { .. } => 1,
        ColdRequest::Order { .. } | ColdRequest::Large { .. } => 2,
        ColdRequest::Lookup { .. } | ColdRequest::Trades { .. } | ColdRequest::Discover { .. } => 3,
    }
}

/// Gives a REST fallback request Kraken's `deadline` (the matching engine refuses it after
/// then), no later than its local expiry. `None`: too late to send at all.
fn with_deadline<T>(
    expires_ns: u64,
    now_ns: u64,
    offset_us: i64,
    own: &mut Option<crate::time::Timestamp>,
    cmd: T,
) -> Option<T> {
    if expires_ns == u64::MAX {
        return Some(cmd);
    }
    let left = expires_ns.checked_sub(now_ns)?;
    if left < MIN_DEADLINE_NS {
        return None;
    }
    let at = crate::time::Timestamp(
        clock::wall().0 + offset_us + (left.min(MAX_DEADLINE_NS) / 1_000) as i64,
    );
    *own = Some(own.map_or(at, |d| d.min(at)));
    Some(cmd)
}

/// Applies the deadline rule to a small command; `None`: expired, not to be sent.
fn stamp_command(
    mut cmd: OrderCommand,
    expires_ns: u64,
    now_ns: u64,
    offset_us: i64,
) -> Option<OrderCommand> {
    match &mut cmd {
        OrderCommand::Add { order, .. } => {
            with_deadline(expires_ns, now_ns, offset_us, &mut order.deadline, ())
        }
        OrderCommand::Amend { amend, .. } => {
            with_deadline(expires_ns, now_ns, offset_us, &mut amend.deadline, ())
        }
        OrderCommand::Edit { edit, .. } => {
            with_deadline(expires_ns, now_ns, offset_us, &mut edit.deadline, ())
        }
        // A late cancel cannot add risk: cancels do not expire.
        _ => Some(()),
    }
    .map(|()| cmd)
}

/// Applies the deadline rule to a large command.
fn stamp_large(
    mut cmd: LargeCommand,
    expires_ns: u64,
    now_ns: u64,
    offset_us: i64,
) -> Option<LargeCommand> {
    match &mut cmd {
        LargeCommand::BatchAdd(b) => {
            with_deadline(expires_ns, now_ns, offset_us, &mut b.deadline, ())
        }
        LargeCommand::Cancel(_) | LargeCommand::BatchCancel(_) => Some(()),
    }
    .map(|()| cmd)
}

fn answered(req_id: RequestId, sent_ns: u64, o: RestOutcome) -> ColdReply {
    match o {
        RestOutcome::Answered(response, items) => ColdReply::Response {
            response,
            items,
            sent_ns,
        },
        RestOutcome::Unknown => ColdReply::Unknown { req_id },
        RestOutcome::NotSent(reason) => ColdReply::NotSent { req_id, reason },
    }
}

/// A window of time to list the account's orders in: `(since, until, not before, failures)`.
type Discovery = (Timestamp, Timestamp, Timestamp, u32);

/// What a round of background reading (a lookup round, a discovery, a trade history page)
/// needs of the REST call counter before it starts: a listing of open orders and a page of
/// closed ones, or a history page. Started with less, it would spend the counter on its first
/// call and be refused the second, and try again and again without ever finishing.
const BACKGROUND_ROUND_COST: u32 = 2;

/// What the next lookup round waits for after one that ran out of counter: room for several
/// pages (every tier's counter holds it), so that rounds make progress instead of each
/// spending the little that decayed on its first calls.
const THROTTLED_ROUND_COST: u32 = 10;

/// What the cold loop did in one step.
pub(crate) enum Step {
    /// Nothing due: wait for a request, or until this long (a lookup window closes).
    Idle(Option<Duration>),
    /// These replies (maybe none: a lookup went into the backlog).
    Replies(Vec<ColdReply>),
    /// Stopped; these are the last replies.
    Stopped(Vec<ColdReply>),
}

/// The cold thread's work, one step at a time (the thread blocks between steps; the
/// deterministic simulation calls `step` on its own clock). See [`priority`] for the order of
/// service. Orders are never sent once the engine stops, nor after their expiry: they are
/// answered `NotSent`.
#[derive(Default)]
pub(crate) struct ColdLoop {
    queue: VecDeque<ColdRequest>,
    /// Orders to look up, and whether they were searched before (not found yet): searched a
    /// round at a time, when nothing else waits.
    backlog: VecDeque<(LookupWindow, bool)>,
    /// Windows to list once closed (`Discover`), and not before when (after a failure).
    discoveries: VecDeque<Discovery>,
    /// Calls held back until the modelled REST counter has room for them (monotonic ns): a
    /// token request, a dead man's switch refresh, a cancel-all. While one waits, background
    /// reads wait too, so they cannot take the room it waits for; orders the counter does not
    /// count go on.
    deferred: Vec<(u64, ColdRequest)>,
    /// The last lookup round ran out of counter: the next waits for [`THROTTLED_ROUND_COST`].
    starved: bool,
}

impl ColdLoop {
    /// A request to serve.
    pub fn push(&mut self, r: ColdRequest) {
        self.queue.push_back(r);
    }

    /// Serves the most urgent request, or a round of lookups when no request waits.
    pub fn step(&mut self, cold: &mut Cold) -> Step {
        // An order is searched for once the window it could have been opened in has closed:
        // then a complete search that does not find it means it was never placed. Until then,
        // a search can only find it: what it does not find is searched again. Windows are in
        // the exchange's time.
        // The exchange's time at the latest it can be: a window is closed only when the
        // exchange has certainly passed its end (the lower bound of the clock offset).
        let wall = Timestamp(clock::wall().0 + cold.exchange_offset_lo());
        let now = clock::now_ns();
        let mut i = 0;
        while i < self.deferred.len() {
            if self.deferred[i].0 <= now {
                let (_, r) = self.deferred.swap_remove(i);
                self.queue.push_back(r);
            } else {
                i += 1;
            }
        }
        // Background reads wait while a token or a switch refresh waits for the counter, and
        // until the counter has room for a whole round.
        let background_wait = cold.rest_wait_for(if self.starved {
            THROTTLED_ROUND_COST
        } else {
            BACKGROUND_ROUND_COST
        });
        let holding = !self.deferred.is_empty() || background_wait > 0;
        let due = |(w, searched): &(LookupWindow, bool)| !searched || w.2 <= wall;
        if self.queue.is_empty()
            && !holding
            && let Some(i) = self
                .discoveries
                .iter()
                .position(|&(_, until, not_before, _)| until <= wall && not_before <= wall)
            && let Some((since, until, _, failures)) = self.discoveries.remove(i)
        {
            return match cold.discover(since, until) {
                Some(found) => Step::Replies(vec![ColdReply::Resolved(found)]),
                None => {
                    // Again after 1 s, 2 s, 4 s, … at most a minute.
                    let backoff_us = 1_000_000i64 << failures.min(6);
                    let later = Timestamp(wall.0 + backoff_us.min(60_000_000));
                    self.discoveries
                        .push_back((since, until, later, failures + 1));
                    Step::Replies(Vec::new())
                }
            };
        }
        if self.queue.is_empty() && !holding && self.backlog.iter().any(due) {
            let mut round = Vec::with_capacity(TARGETS_PER_ROUND);
            self.backlog.retain(|e| {
                let take = due(e) && round.len() < TARGETS_PER_ROUND;
                if take {
                    round.push(e.0);
                }
                !take
            });
            // After a round that ran out of counter, this one asks about each order by its
            // client id (a call each, every answer complete) instead of paging through busy
            // windows again from their start: paging that never fits would never finish.
            cold.page_budget = if self.starved { 0 } else { MAX_PAGES_PER_ROUND };
            let (found, later) = cold.lookup_many(&round);
            self.starved = cold.throttled;
            self.backlog.extend(later.into_iter().map(|w| (w, false)));
            let mut settled = Vec::with_capacity(found.len());
            for l in found {
                let window = round.iter().find(|w| w.0 == l.target).copied();
                match window {
                    Some(w) if l.status.is_none() && w.2 > wall => {
                        self.backlog.push_back((w, true))
                    }
                    _ => settled.push(l),
                }
            }
            let replies = if settled.is_empty() {
                Vec::new()
            } else {
                vec![ColdReply::Resolved(settled)]
            };
            return Step::Replies(replies);
        }
        let next = (0..self.queue.len())
            .filter(|&i| !holding || priority(&self.queue[i]) <= 2)
            .min_by_key(|&i| priority(&self.queue[i]));
        let Some(req) = next.and_then(|i| self.queue.remove(i)) else {
            // Wait for work, for the next lookup window to close, or for the REST counter.
            // Background work that is held waits at least until what holds it is over.
            let first_deferred = self.deferred.iter().map(|d| d.0.saturating_sub(now)).min();
            let hold_ns = background_wait.max(first_deferred.unwrap_or(0));
            let wake = self
                .backlog
                .iter()
                .map(|(w, _)| w.2)
                .chain(self.discoveries.iter().map(|d| d.1.max(d.2)))
                .map(|t| t.0.saturating_sub(wall.0).max(0) as u64 * 1_000 + 1_000_000)
                .chain(self.queue.iter().map(|_| 0))
                .map(|ns| ns.max(hold_ns))
                .chain(self.deferred.iter().map(|d| d.0.saturating_sub(now)))
                .min()
                .map(Duration::from_nanos);
            return Step::Idle(wake);
        };
        // A call the REST counter has no room for yet waits for it (held back, not refused:
        // Kraken would refuse it, and a cancel-all refused helps no one): a token, the
        // switch, and the two order calls the counter counts. Orders it does not count go on.
        let counted = match &req {
            ColdRequest::Token => Some("GetWebSocketsToken"),
            ColdRequest::DeadMan { .. }
            | ColdRequest::Order {
                cmd: OrderCommand::CancelAfter { .. },
                ..
            } => Some("CancelAllOrdersAfter"),
            ColdRequest::Order {
                cmd: OrderCommand::CancelAll { .. },
                ..
            } => Some("CancelAll"),
            _ => None,
        };
        if let Some(method) = counted {
            let wait = cold.rest_wait_ns(method);
            if wait > 0 {
                self.deferred.push((now + wait, req));
                return Step::Replies(Vec::new());
            }
        }
        let stopping = cold.stop.load(Ordering::Relaxed);
        let reply = match req {
            ColdRequest::Token => ColdReply::Token(cold.token()),
            ColdRequest::DeadMan { timeout_secs } => ColdReply::DeadMan {
                timeout_secs,
                ok: cold.cancel_after(timeout_secs),
            },
            ColdRequest::Order { req_id, .. } | ColdRequest::Large { req_id, .. } if stopping => {
                ColdReply::NotSent {
                    req_id,
                    reason: NotSentReason::Shutdown,
                }
            }
            ColdRequest::Order {
                req_id,
                cmd,
                sent_ns,
                expires_ns,
            } => match stamp_command(cmd, expires_ns, now, cold.exchange_offset()) {
                None => ColdReply::NotSent {
                    req_id,
                    reason: NotSentReason::Expired,
                },
                Some(cmd) => {
                    let outcome = cold.order(req_id, &cmd);
                    answered(req_id, sent_ns, outcome)
                }
            },
            ColdRequest::Large {
                req_id,
                cmd,
                sent_ns,
                expires_ns,
            } => match stamp_large(cmd, expires_ns, now, cold.exchange_offset()) {
                None => ColdReply::NotSent {
                    req_id,
                    reason: NotSentReason::Expired,
                },
                Some(cmd) => {
                    let outcome = cold.large(req_id, &cmd);
                    answered(req_id, sent_ns, outcome)
                }
            },
            ColdRequest::Lookup {
                target,
                since,
                until,
            } => {
                // Into the backlog, each order once (its earliest window kept).
                match self.backlog.iter_mut().find(|(w, _)| w.0 == target) {
                    Some((w, _)) => {
                        w.1 = w.1.min(since);
                        w.2 = w.2.max(until);
                    }
                    None => self.backlog.push_back(((target, since, until), false)),
                }
                return Step::Replies(Vec::new());
            }
            ColdRequest::Trades { since, end, ofs } => cold.trades_since(since, end, ofs),
            ColdRequest::Discover { since, until } => {
                self.discoveries.push_back((since, until, since, 0));
                return Step::Replies(Vec::new());
            }
            ColdRequest::Shutdown => {
                // Orders still queued were accepted from the strategy: say they were not sent.
                // A queued disarm of the dead man's switch is the clean stop's last word.
                let mut last = Vec::new();
                let waiting = self.deferred.drain(..).map(|(_, r)| r);
                for r in waiting.chain(self.queue.drain(..)).collect::<Vec<_>>() {
                    last.push(match r {
                        ColdRequest::Order { req_id, .. } | ColdRequest::Large { req_id, .. } => {
                            ColdReply::NotSent {
                                req_id,
                                reason: NotSentReason::Shutdown,
                            }
                        }
                        ColdRequest::DeadMan { timeout_secs: 0 } => {
                            // The last word: sent even if the modelled counter says wait.
                            cold.past_the_counter = true;
                            ColdReply::DeadMan {
                                timeout_secs: 0,
                                ok: cold.cancel_after(0),
                            }
                        }
                        _ => continue,
                    });
                }
                return Step::Stopped(last);
            }
        };
        Step::Replies(vec![reply])
    }
}

/// The cold thread: blocks for requests, steps the loop, sends the replies.
pub(crate) fn run(mut cold: Cold, rx: Receiver<ColdRequest>, tx: Sender<ColdReply>) {
    let mut work = ColdLoop::default();
    loop {
        work.queue.extend(rx.try_iter());
        let (replies, stop) = match work.step(&mut cold) {
            Step::Idle(wake) => {
                let r = match wake {
                    Some(d) => match rx.recv_timeout(d) {
                        Ok(r) => Some(r),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    },
                    None => match rx.recv() {
                        Ok(r) => Some(r),
                        Err(_) => break,
                    },
                };
                if let Some(r) = r {
                    work.push(r);
                }
                continue;
            }
            Step::Replies(r) => (r, false),
            Step::Stopped(r) => (r, true),
        };
        for reply in replies {
            if tx.send(reply).is_err() {
                return;
            }
        }
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::engine::clock::simulated;
    use crate::protocol::rest::{ApiSecret, Credentials};

    const S: u64 = 1_000_000_000;

    /// A cold side whose REST calls land here: the methods called, in order, each answered
    /// with Kraken's success envelope around `result`.
    fn cold(calls: Arc<Mutex<Vec<String>>>) -> Cold {
        let creds = Credentials {
            key: "k".into(),
            secret: ApiSecret::from_base64("c2VjcmV0").expect("base64"),
        };
        let cfg = crate::engine::EngineConfig::new(creds, &["BTC/USD"]);
        let http = Http::Memory(Box::new(move |_, path, _, _| {
            let method = path.rsplit('/').next().unwrap_or("").to_string();
            let result = match method.as_str() {
                "GetWebSocketsToken" => r#"{"token":"t","expires":900}"#,
                "CancelAll" | "CancelOrder" => r#"{"count":1}"#,
                _ => r#"{"currentTime":"2025-01-01T00:00:00Z","triggerTime":"0"}"#,
            };
            calls.lock().expect("calls").push(method);
            Ok(format!(r#"{{"error":[],"result":{result}}}"#).into_bytes())
        }));
        crate::engine::cold_for(
            &cfg,
            http,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
            Arc::new(crate::engine::EngineStats::default()),
        )
    }

    #[test]
    fn calls_the_rest_counter_has_no_room_for_wait_for_it_without_holding_up_orders() {
        simulated::set(10 * S, 1_735_689_600_000_000);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut c = cold(calls.clone());
        // Kraken said the counter is full (another client on the key spent it).
        c.rest_counter
            .as_mut()
            .expect("modelled by default")
            .on_rate_limited(10 * S);
        let mut l = ColdLoop::default();
        l.push(ColdRequest::Token);
        l.push(ColdRequest::Trades {
            since: Timestamp(0),
            end: Timestamp(1),
            ofs: 0,
        });
        l.push(ColdRequest::Order {
            req_id: RequestId(7),
            cmd: OrderCommand::CancelAll {
                req_id: RequestId(7),
            },
            sent_ns: 10 * S,
            expires_ns: u64::MAX,
        });
        l.push(ColdRequest::Order {
            req_id: RequestId(8),
            cmd: OrderCommand::CancelOne {
                req_id: RequestId(8),
                target: OrderRef::OrderId(crate::OrderId::new("OAAAAA-BBBBB-CCCCCC").expect("id")),
            },
            sent_ns: 10 * S,
            expires_ns: u64::MAX,
        });
        // Until the counter has room: the token and the cancel-all wait (neither is answered
        // as failed), the trade history read waits behind them instead of taking their room,
        // and the cancel, which the counter does not count, goes at once.
        let mut now = 10 * S;
        let mut answered = Vec::new();
        while answered.len() < 3 {
            match l.step(&mut c) {
                Step::Idle(Some(d)) => now += d.as_nanos() as u64,
                Step::Replies(r) => answered.extend(r.into_iter().map(|r| match r {
                    ColdReply::Token(Ok(_)) => "token",
                    ColdReply::Response { response, .. } if response.success => {
                        match response.method {
                            Method::CancelAll => "cancel-all",
                            _ => "cancel",
                        }
                    }
                    _ => "something else",
                })),
                _ => panic!("stopped"),
            }
            assert!(now < 30 * S, "still waiting at {now}");
            simulated::set(now, 1_735_689_600_000_000);
        }
        assert_eq!(answered, ["cancel", "token", "cancel-all"]);
        assert_eq!(
            *calls.lock().expect("calls"),
            ["CancelOrder", "GetWebSocketsToken", "CancelAll"]
        );
        // Starter decays 0.33 calls a second: room for two calls in about 6 s.
        let waited = now - 10 * S;
        assert!((6 * S..7 * S).contains(&waited), "waited {waited} ns");
        simulated::clear();
    }

    /// A lookup round that runs out of the modelled REST counter part way (a busy window: a
    /// thousand closed orders to page through) has failed nothing: the order is not reported
    /// unknown, and the next round, once the counter has room for several calls, asks about it
    /// by its client id instead of paging from the start again. (Such rounds used to count as
    /// failed lookups and page from the start each time, never getting through.)
    #[test]
    fn a_lookup_round_out_of_counter_fails_nothing_and_the_next_asks_by_client_id() {
        simulated::set(10 * S, 1_735_689_600_000_000);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        let creds = Credentials {
            key: "k".into(),
            secret: ApiSecret::from_base64("c2VjcmV0").expect("base64"),
        };
        let cfg = crate::engine::EngineConfig::new(creds, &["BTC/USD"]);
        let order = |txid: &str, cl: &str| {
            format!(
                r#""{txid}":{{"status":"closed","cl_ord_id":"{cl}","opentm":1735689601.0,"vol":"1","vol_exec":"1","cost":"100","fee":"0","price":"100","descr":{{"pair":"XBTUSD","type":"buy","ordertype":"limit","price":"100"}}}}"#
            )
        };
        let http = Http::Memory(Box::new(move |_, path, _, body| {
            let method = path.rsplit('/').next().unwrap_or("").to_string();
            let filtered = String::from_utf8_lossy(body).contains("cl_ord_id=");
            let result = match method.as_str() {
                "OpenOrders" => r#"{"open":{}}"#.to_string(),
                "ClosedOrders" if filtered => {
                    format!(
                        r#"{{"closed":{{{}}},"count":1}}"#,
                        order("OTARGET-AAAAA-BBBBBB", "mine")
                    )
                }
                // A busy window: a page of others' orders, of a thousand.
                "ClosedOrders" => {
                    let page: Vec<String> = (0..50)
                        .map(|i| order(&format!("OOTHER-{i:05}-CCCCCC"), "theirs"))
                        .collect();
                    format!(r#"{{"closed":{{{}}},"count":1000}}"#, page.join(","))
                }
                _ => "{}".to_string(),
            };
            log.lock().expect("calls").push(format!(
                "{method}{}",
                if filtered { " by client id" } else { "" }
            ));
            Ok(format!(r#"{{"error":[],"result":{result}}}"#).into_bytes())
        }));
        let mut c = crate::engine::cold_for(
            &cfg,
            http,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
            Arc::new(crate::engine::EngineStats::default()),
        );
        c.rest_counter
            .as_mut()
            .expect("modelled by default")
            .on_rate_limited(10 * S);
        let target = OrderRef::ClOrdId(crate::ids::ClOrdId::new("mine").expect("id"));
        let mut l = ColdLoop::default();
        l.push(ColdRequest::Lookup {
            target,
            since: Timestamp(1_735_689_600_000_000),
            until: Timestamp(1_735_689_602_000_000),
        });
        let mut now = 10 * S;
        let mut verdicts = Vec::new();
        while verdicts.is_empty() {
            match l.step(&mut c) {
                Step::Idle(Some(d)) => now += d.as_nanos() as u64,
                Step::Idle(None) => now += S,
                Step::Replies(r) => {
                    for reply in r {
                        if let ColdReply::Resolved(found) = reply {
                            verdicts.extend(found.into_iter().map(|f| (f.target, f.status)));
                        }
                    }
                }
                Step::Stopped(_) => panic!("stopped"),
            }
            assert!(now < 200 * S, "still looking at {now}");
            simulated::set(now, 1_735_689_600_000_000);
        }
        assert_eq!(
            verdicts,
            [(target, Some(OrderStatus::Filled))],
            "found, never failed"
        );
        let calls = calls.lock().expect("calls").clone();
        assert_eq!(
            calls,
            [
                // The first round: room for two calls, the window needs twenty pages.
                "OpenOrders",
                "ClosedOrders",
                // The next, with room for ten: by client id.
                "OpenOrders",
                "ClosedOrders by client id",
            ]
        );
        simulated::clear();
    }
}

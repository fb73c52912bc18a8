//! The cold thread: REST over a kept-alive `ureq` agent. Fetches WebSocket tokens, places and
//! cancels orders over REST while the WebSocket is down, and looks orders up to resolve unknown
//! outcomes. It may allocate; nothing here is on the hot path.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use rust_decimal::Decimal;

use crate::engine::clock;
use crate::engine::msg::{Command, LargeCommand};
use crate::error::KrakenErrorKind;
use crate::ids::{OrderId, SymbolId};
use crate::order::{OrderRef, OrderTarget};
use crate::protocol::messages::{AckResult, BatchItem, Method, Response, Text};
use crate::protocol::rest::{self, Credentials, RestError, RestOrderStatus, WsToken};
use crate::types::OrderStatus;

/// Work for the cold thread.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum ColdRequest {
    /// Fetch a fresh WebSocket token.
    Token,
    /// Send a small command over REST.
    Order {
        req_id: u64,
        cmd: Command,
        sent_ns: u64,
    },
    /// Send a large command over REST.
    Large {
        req_id: u64,
        cmd: LargeCommand,
        sent_ns: u64,
    },
    /// Look an order up.
    Lookup { target: OrderRef },
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
    Resolved {
        target: OrderRef,
        order_id: Option<OrderId>,
        status: Option<OrderStatus>,
        filled: Option<Decimal>,
    },
}

pub(crate) struct Cold {
    pub agent: ureq::Agent,
    pub rest_url: String,
    pub creds: Credentials,
    /// REST pair name per symbol id.
    pub rest_pairs: Vec<String>,
    pub nonce: u64,
    pub body: Vec<u8>,
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
    fn next_nonce(&mut self) -> u64 {
        // Strictly increasing, ahead of the wall clock in microseconds.
        let wall = clock::wall().0.max(0) as u64;
        self.nonce = (self.nonce + 1).max(wall);
        self.nonce
    }

    fn post(&mut self, method: &str, json: bool) -> Result<Vec<u8>, RestError> {
        let path = format!("/0/private/{method}");
        let nonce = self.nonce;
        let sign = rest::sign(&path, nonce, &self.body, &self.creds.secret);
        let ct = if json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded; charset=utf-8"
        };
        let url = format!("{}{}", self.rest_url.trim_end_matches('/'), path);
        let resp = self
            .agent
            .post(&url)
            .header("API-Key", &self.creds.key)
            .header("API-Sign", &sign)
            .content_type(ct)
            .send(&self.body[..]);
        match resp {
            Ok(mut r) => r
                .body_mut()
                .read_to_vec()
                .map_err(|_| RestError::Malformed("unreadable body")),
            Err(e) => {
                tracing::warn!(method, error = %e, "REST call failed");
                Err(RestError::Kraken(vec![format!("EService:Unavailable:{e}")]))
            }
        }
    }

    fn pair(&self, s: SymbolId) -> String {
        self.rest_pairs
            .get(usize::from(s.0))
            .cloned()
            .unwrap_or_default()
    }

    pub fn token(&mut self) -> Result<WsToken, String> {
        let n = self.next_nonce();
        rest::nonce_form(&mut self.body, n);
        let mut body = self
            .post("GetWebSocketsToken", false)
            .map_err(|e| e.to_string())?;
        rest::parse_token(&mut body).map_err(|e| e.to_string())
    }

    fn response(method: Method, req_id: u64, r: Result<AckResult, RestError>) -> Response {
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
            req_id: Some(req_id),
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
            OrderRef::Id(id) => AckResult::Order {
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

    /// Executes a small command over REST, in the shape of a WS response.
    pub fn order(&mut self, req_id: u64, cmd: &Command) -> Response {
        let n = self.next_nonce();
        let (method, r) = match cmd {
            Command::Add { order, .. } => {
                let pair = self.pair(order.symbol);
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
            Command::Amend { amend, .. } => {
                rest::amend_order_form(&mut self.body, n, amend);
                let r = self
                    .post("AmendOrder", false)
                    .and_then(|mut b| rest::parse_amend(&mut b))
                    .map(|id| {
                        let (order_id, cl_ord_id) = match amend.target {
                            OrderTarget::OrderId(o) => (Some(o), None),
                            OrderTarget::ClOrdId(c) => (None, Some(c)),
                        };
                        AckResult::Amend {
                            amend_id: crate::ids::InlineStr::new(&id),
                            order_id,
                            cl_ord_id,
                        }
                    });
                (Method::AmendOrder, r)
            }
            Command::Edit { edit, .. } => {
                let pair = self.pair(edit.symbol);
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
            Command::CancelOne { target, .. } => (Method::CancelOrder, self.cancel_one(target)),
            Command::CancelAll { .. } => {
                rest::nonce_form(&mut self.body, n);
                let r = self
                    .post("CancelAll", false)
                    .and_then(|mut b| rest::parse_count(&mut b))
                    .map(AckResult::Count);
                (Method::CancelAll, r)
            }
            Command::CancelAfter { timeout_secs, .. } => {
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
            Command::Large { .. } | Command::Lookup { .. } => (
                Method::Other,
                Err(RestError::Malformed("not a REST order command")),
            ),
        };
        Self::response(method, req_id, r)
    }

    /// Executes a large command over REST.
    pub fn large(&mut self, req_id: u64, cmd: &LargeCommand) -> (Response, Vec<BatchItem>) {
        match cmd {
            LargeCommand::Cancel(c) => {
                // REST cancels one order per call; report the first failure, if any.
                let mut last = Ok(AckResult::None);
                for r in &c.refs {
                    last = self.cancel_one(r);
                    if last.is_err() {
                        break;
                    }
                }
                (
                    Self::response(Method::CancelOrder, req_id, last),
                    Vec::new(),
                )
            }
            LargeCommand::BatchAdd(b) => {
                let n = self.next_nonce();
                let pair = self.pair(b.symbol);
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
                        (
                            Self::response(Method::BatchAdd, req_id, Ok(AckResult::Batch { len })),
                            items,
                        )
                    }
                    Err(e) => (Self::response(Method::BatchAdd, req_id, Err(e)), Vec::new()),
                }
            }
            LargeCommand::BatchCancel(b) => {
                let n = self.next_nonce();
                rest::cancel_order_batch_json(&mut self.body, n, b);
                let r = self
                    .post("CancelOrderBatch", true)
                    .and_then(|mut body| rest::parse_count(&mut body))
                    .map(AckResult::Count);
                (Self::response(Method::BatchCancel, req_id, r), Vec::new())
            }
        }
    }

    /// Looks an order up: by client id among open orders, or by Kraken id with QueryOrders.
    pub fn lookup(
        &mut self,
        target: &OrderRef,
    ) -> (Option<OrderId>, Option<OrderStatus>, Option<Decimal>) {
        let n = self.next_nonce();
        let found = match target {
            OrderRef::ClOrdId(c) => {
                rest::open_orders_form(&mut self.body, n, Some(c.as_str()));
                self.post("OpenOrders", false)
                    .and_then(|mut b| rest::parse_orders(&mut b))
            }
            OrderRef::Id(id) => {
                rest::query_orders_form(&mut self.body, n, &[id.as_str()]);
                self.post("QueryOrders", false)
                    .and_then(|mut b| rest::parse_orders(&mut b))
            }
            OrderRef::UserRef(_) => Ok(Vec::new()),
        };
        match found {
            Ok(orders) => {
                let o = orders.into_iter().find(|o| match target {
                    OrderRef::ClOrdId(c) => {
                        o.cl_ord_id.as_deref() == Some(c.as_str()) || o.cl_ord_id.is_none()
                    }
                    OrderRef::Id(id) => o.txid == id.as_str(),
                    OrderRef::UserRef(_) => false,
                });
                match o {
                    Some(o) => {
                        let status = match o.status {
                            RestOrderStatus::Pending => OrderStatus::PendingNew,
                            RestOrderStatus::Open if o.vol_exec.is_zero() => OrderStatus::Open,
                            RestOrderStatus::Open => OrderStatus::PartiallyFilled,
                            RestOrderStatus::Closed => OrderStatus::Filled,
                            RestOrderStatus::Canceled => OrderStatus::Canceled,
                            RestOrderStatus::Expired => OrderStatus::Expired,
                        };
                        (OrderId::new(&o.txid), Some(status), Some(o.vol_exec))
                    }
                    None => (None, None, None),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "order lookup failed");
                (None, Some(OrderStatus::Unknown), None)
            }
        }
    }
}

/// The cold thread's loop.
pub(crate) fn run(mut cold: Cold, rx: Receiver<ColdRequest>, tx: Sender<ColdReply>) {
    while let Ok(req) = rx.recv() {
        let reply = match req {
            ColdRequest::Token => ColdReply::Token(cold.token()),
            ColdRequest::Order {
                req_id,
                cmd,
                sent_ns,
            } => {
                let response = cold.order(req_id, &cmd);
                ColdReply::Response {
                    response,
                    items: Vec::new(),
                    sent_ns,
                }
            }
            ColdRequest::Large {
                req_id,
                cmd,
                sent_ns,
            } => {
                let (response, items) = cold.large(req_id, &cmd);
                ColdReply::Response {
                    response,
                    items,
                    sent_ns,
                }
            }
            ColdRequest::Lookup { target } => {
                let (order_id, status, filled) = cold.lookup(&target);
                ColdReply::Resolved {
                    target,
                    order_id,
                    status,
                    filled,
                }
            }
            ColdRequest::Shutdown => break,
        };
        if tx.send(reply).is_err() {
            break;
        }
    }
}

//! Helpers shared by the tests that run the engine against kraken-sim over TLS.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use kraken_exec::engine::{self, ConnectionState, EngineConfig, IdleStrategy, Strategy, Trader};
use kraken_exec::orders::{Fill, NotSent, RequestAck, RequestFailure, StatusChange};
use kraken_exec::{ClOrdId, DecodeError, OrderRef, OrderStatus};
use kraken_sim::{Sim, SimConfig};
use rust_decimal::Decimal;
use serde_json::Value;

#[derive(Default)]
pub struct Rec {
    pub fills: Vec<Fill>,
    pub changes: Vec<StatusChange>,
    pub unknown: Vec<kraken_exec::RequestId>,
    pub decode_errors: Vec<DecodeError>,
    pub states: Vec<ConnectionState>,
    pub balances: usize,
    pub balance_entries: Vec<kraken_exec::protocol::messages::BalanceEntry>,
    pub acks: Vec<RequestAck>,
    pub rejects: Vec<RequestFailure>,
    pub not_sent: Vec<NotSent>,
    pub recovery_failing: Vec<String>,
}

impl Strategy for Rec {
    fn on_execution(&mut self, f: &Fill) {
        self.fills.push(*f);
    }
    fn on_status_change(&mut self, c: &StatusChange) {
        self.changes.push(*c);
    }
    fn on_unknown_outcome(&mut self, req_id: kraken_exec::RequestId) {
        self.unknown.push(req_id);
    }
    fn on_decode_error(&mut self, e: DecodeError) {
        self.decode_errors.push(e);
    }
    fn on_connection(&mut self, s: ConnectionState) {
        self.states.push(s);
    }
    fn on_balance(&mut self, b: &kraken_exec::protocol::messages::BalanceEntry) {
        self.balances += 1;
        self.balance_entries.push(*b);
    }
    fn on_ack(&mut self, a: &RequestAck) {
        self.acks.push(*a);
    }
    fn on_reject(&mut self, r: &RequestFailure) {
        self.rejects.push(*r);
    }
    fn on_not_sent(&mut self, n: &NotSent) {
        self.not_sent.push(*n);
    }
    fn on_recovery_failing(&mut self, error: &str) {
        self.recovery_failing.push(error.to_string());
    }
}

pub fn sim(market_flow: bool) -> Sim {
    Sim::start(SimConfig {
        tls: true,
        market_flow,
        ..SimConfig::default()
    })
    .unwrap()
}

pub fn config(s: &Sim) -> EngineConfig {
    let mut cfg = EngineConfig::simulator(s, &["BTC/USD", "ETH/USD"]);
    cfg.idle = IdleStrategy::Block(Duration::from_millis(1));
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg
}

pub fn start(s: &Sim, tweak: impl FnOnce(&mut EngineConfig)) -> (Trader, Rec) {
    let mut cfg = config(s);
    tweak(&mut cfg);
    let mut t = engine::start(cfg).unwrap();
    let mut rec = Rec::default();
    assert!(
        t.wait_ready(&mut rec, Duration::from_secs(10)),
        "engine not ready: {:?}",
        rec.states
    );
    (t, rec)
}

pub fn until(
    t: &mut Trader,
    rec: &mut Rec,
    secs: u64,
    what: impl Fn(&Trader, &Rec) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        t.poll(rec);
        if what(t, rec) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    t.poll(rec);
    what(t, rec)
}

/// Disconnections the strategy has been told of.
pub fn downs(r: &Rec) -> usize {
    r.states
        .iter()
        .filter(|s| **s == ConnectionState::Disconnected)
        .count()
}

pub fn status(t: &Trader, c: ClOrdId) -> Option<OrderStatus> {
    t.order_status(&OrderRef::ClOrdId(c)).map(|o| o.status)
}

pub fn cid(s: &str) -> ClOrdId {
    ClOrdId::new(s).unwrap()
}

pub fn d(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

/// [`start`], then waits until Kraken has acknowledged the dead man's switch, so no
/// authenticated request of the engine's own is still on its way when a test injects a fault.
pub fn start_armed(s: &Sim, tweak: impl FnOnce(&mut EngineConfig)) -> (Trader, Rec) {
    let (mut t, mut rec) = start(s, tweak);
    assert!(until(&mut t, &mut rec, 5, |t, _| t
        .statistics()
        .dead_man_armed));
    (t, rec)
}

/// The simulator's request log: every order-entry request it received, in order.
pub fn requests(s: &Sim) -> Vec<Value> {
    s.ledger()["requests"].as_array().unwrap().clone()
}

/// The logged requests that name `cl_ord_id`.
pub fn requests_naming(s: &Sim, cl_ord_id: &str) -> Vec<Value> {
    requests(s)
        .into_iter()
        .filter(|r| {
            r["cl_ord_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == cl_ord_id)
        })
        .collect()
}

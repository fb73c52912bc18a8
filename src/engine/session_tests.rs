//! The session's rules on simulated time: no socket, no clock, no thread.

use std::sync::Arc;

use rust_decimal_macros::dec;
use serde_json::Value;

use super::*;
use crate::ids::{RequestId, SymbolId};
use crate::order::AddOrder;
use crate::protocol::rest::WsToken;
use crate::types::Side;

const MS: u64 = 1_000_000;
const S: u64 = 1_000 * MS;

/// A session and everything it asked for, in order.
struct Fix {
    s: Session,
    now: u64,
    /// Frames written (`<close>` for a close), as JSON.
    tx: Vec<String>,
    events: Vec<Event>,
    cold: Vec<ColdRequest>,
    stats: Arc<EngineStats>,
    /// Subscriptions `alive_until` answered.
    answered: Vec<u64>,
}

fn config() -> SessionConfig {
    SessionConfig {
        request_timeout_ns: 5 * S,
        order_deadline_ns: 5 * S,
        watchdog_ns: 9 * S,
        dead_man_timeout_secs: 60,
        dead_man_refresh_ns: 20 * S,
        token_refresh_ns: 600 * S,
        backoff_min_ns: 100 * MS,
        backoff_max_ns: 10 * S,
        subscribe_balances: false,
        seed: 7,
    }
}

impl Fix {
    fn new() -> Self {
        Self::with(config())
    }

    fn with(cfg: SessionConfig) -> Self {
        let stats = Arc::new(EngineStats::default());
        let now = 1_000 * S;
        let s = Session::new(
            cfg,
            SymbolTable::from_names(["BTC/USD"]),
            stats.clone(),
            now,
            Timestamp(1_700_000_000_000_000),
        );
        let mut f = Self {
            s,
            now,
            tx: Vec::new(),
            events: Vec::new(),
            cold: Vec::new(),
            stats,
            answered: Vec::new(),
        };
        f.pump();
        f
    }

    fn pump(&mut self) {
        while let Some(t) = self.s.poll_transmit() {
            self.tx.push(match t {
                Transmit::Text(b) => String::from_utf8(b.to_vec()).unwrap(),
                Transmit::Close => "<close>".into(),
            });
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
        while let Some(c) = self.s.poll_cold() {
            self.cold.push(c);
        }
    }

    /// Moves the clock to `t`, running the timers due on the way in order.
    fn run_until(&mut self, t: u64) {
        while let Some(next) = self.s.poll_timeout().filter(|&n| n <= t) {
            self.now = self.now.max(next);
            self.s.handle_timeout(self.now);
            self.pump();
        }
        self.now = t;
        self.s.handle_timeout(t);
        self.pump();
    }

    fn advance(&mut self, d: u64) {
        self.run_until(self.now + d);
    }

    fn token(&mut self, t: &str) {
        let reply = ColdReply::Token(Ok(WsToken {
            token: t.into(),
            expires_secs: 900,
        }));
        self.s.handle_cold(self.now, reply);
        self.pump();
    }

    /// Socket up; the public `instrument` subscription answered.
    fn connect(&mut self) {
        assert!(self.s.poll_connect(self.now), "the session wants a socket");
        self.s.handle_connected(self.now);
        self.pump();
        let id = self.last_req_id("subscribe", Some("instrument"));
        self.ack(
            "subscribe",
            id,
            r#"{"channel":"instrument","snapshot":true}"#,
        );
    }

    /// Moves the clock to `t` with a heartbeat every second (the exchange is there, and
    /// answers the executions subscriptions the session sends meanwhile: its quiet-stream
    /// resyncs).
    fn alive_until(&mut self, t: u64) {
        while self.now < t {
            let step = (t - self.now).min(S);
            self.advance(step);
            self.frame(r#"{"channel":"heartbeat"}"#);
            let subs: Vec<u64> = self
                .sent("subscribe")
                .iter()
                .filter(|v| v["params"]["channel"] == "executions")
                .filter_map(|v| v["req_id"].as_u64())
                .filter(|id| !self.answered.contains(id))
                .collect();
            for id in subs {
                self.answered.push(id);
                self.ack(
                    "subscribe",
                    id,
                    r#"{"channel":"executions","maxratecount":180,"snapshot":true}"#,
                );
            }
        }
    }

    fn frame(&mut self, text: &str) {
        self.s.handle_frame(self.now, text.as_bytes());
        self.pump();
    }

    /// The frames written with this method, parsed.
    fn sent(&self, method: &str) -> Vec<Value> {
        self.tx
            .iter()
            .filter(|t| t.as_str() != "<close>")
            .map(|t| serde_json::from_str::<Value>(t).unwrap())
            .filter(|v| v["method"] == method)
            .collect()
    }

    fn last_req_id(&self, method: &str, channel: Option<&str>) -> u64 {
        self.sent(method)
            .iter()
            .rev()
            .find(|v| channel.is_none_or(|c| v["params"]["channel"] == c))
            .and_then(|v| v["req_id"].as_u64())
            .unwrap_or_else(|| panic!("no {method} {channel:?} sent"))
    }

    fn ack(&mut self, method: &str, req_id: u64, result: &str) {
        self.frame(&format!(
            r#"{{"method":"{method}","req_id":{req_id},"result":{result},"success":true,"time_in":"2023-11-14T22:13:20.000000Z","time_out":"2023-11-14T22:13:20.000100Z"}}"#
        ));
    }

    fn refuse(&mut self, method: &str, req_id: u64, error: &str) {
        self.frame(&format!(
            r#"{{"method":"{method}","req_id":{req_id},"error":"{error}","success":false,"time_in":"2023-11-14T22:13:20.000000Z","time_out":"2023-11-14T22:13:20.000100Z"}}"#
        ));
    }

    fn ack_executions(&mut self) {
        let id = self.last_req_id("subscribe", Some("executions"));
        self.answered.push(id);
        self.ack(
            "subscribe",
            id,
            r#"{"channel":"executions","maxratecount":180,"snapshot":true}"#,
        );
    }

    /// Token, socket, executions subscribed.
    fn ready() -> Self {
        let mut f = Self::new();
        f.token("T1");
        f.connect();
        f.ack_executions();
        assert!(f.s.is_ready());
        f
    }

    fn add(&mut self, req_id: u64) {
        let order = AddOrder::limit(SymbolId(0), Side::Buy, dec!(1), dec!(100));
        self.s.handle_command(
            self.now,
            Command::Order(OrderCommand::Add {
                req_id: RequestId(req_id),
                order,
            }),
            None,
            self.now,
            false,
        );
        self.pump();
    }

    /// Asks the session to look an order up; the window it hands to the REST thread.
    fn lookup_window(&mut self, since_ns: u64, deadline: Option<Timestamp>) -> (i64, i64) {
        let target = OrderRef::ClOrdId(crate::ids::ClOrdId::new("c1").unwrap());
        let cmd = Command::Lookup {
            target,
            since_ns,
            deadline,
        };
        self.s.handle_command(self.now, cmd, None, 0, false);
        self.pump();
        self.cold
            .iter()
            .rev()
            .find_map(|c| match c {
                ColdRequest::Lookup { since, until, .. } => Some((since.0, until.0)),
                _ => None,
            })
            .expect("a lookup for the REST thread")
    }

    /// The trade-history reads asked of the REST thread, in order: (since, end, offset).
    fn trades_asked(&self) -> Vec<(Timestamp, Timestamp, u64)> {
        self.cold
            .iter()
            .filter_map(|c| match c {
                ColdRequest::Trades { since, end, ofs } => Some((*since, *end, *ofs)),
                _ => None,
            })
            .collect()
    }

    fn unknowns(&self) -> Vec<(u64, bool)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::UnknownOutcome {
                    req_id,
                    disconnected,
                } => Some((req_id.0, *disconnected)),
                _ => None,
            })
            .collect()
    }

    fn states(&self) -> Vec<ConnectionState> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Connection(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    fn closes(&self) -> usize {
        self.tx.iter().filter(|t| *t == "<close>").count()
    }

    fn token_requests(&self) -> usize {
        self.cold
            .iter()
            .filter(|c| matches!(c, ColdRequest::Token))
            .count()
    }
}

fn execution(seq: u64, exec_id: &str) -> String {
    format!(
        r#"{{"channel":"executions","type":"update","data":[{{"order_id":"OA","exec_id":"{exec_id}","exec_type":"trade","symbol":"BTC/USD","side":"buy","last_qty":0.1,"last_price":100.0,"cost":10.0,"order_type":"limit","timestamp":"2023-11-14T22:13:20.000000Z","order_status":"partially_filled","cum_qty":0.1,"fees":[{{"asset":"USD","qty":0.01}}]}}],"sequence":{seq}}}"#
    )
}

#[test]
fn a_connection_needs_a_fresh_token_and_becomes_ready_on_the_executions_ack() {
    let mut f = Fix::new();
    assert_eq!(f.token_requests(), 1, "the token is asked for at once");
    assert!(!f.s.poll_connect(f.now), "no socket without a token");
    f.token("T1");
    f.connect();
    let subs = f.sent("subscribe");
    let exec = subs
        .iter()
        .find(|v| v["params"]["channel"] == "executions")
        .unwrap();
    assert_eq!(exec["params"]["token"], "T1");
    assert_eq!(exec["params"]["snap_orders"], true);
    assert_eq!(exec["params"]["snap_trades"], true);
    assert!(!f.s.is_ready(), "connected is not ready");
    f.ack_executions();
    assert_eq!(
        f.states(),
        [
            ConnectionState::Connecting(1),
            ConnectionState::Connected,
            ConnectionState::Ready
        ]
    );
    // Ready arms the dead man's switch over the socket at once.
    let dm = f.sent("cancel_all_orders_after");
    assert_eq!(dm.len(), 1);
    assert_eq!(dm[0]["params"]["timeout"], 60);
    assert!(
        f.events
            .iter()
            .any(|e| matches!(e, Event::MaxRateCount(180)))
    );
}

#[test]
fn a_request_unanswered_by_its_deadline_is_unknown_once_and_never_resent() {
    let mut f = Fix::ready();
    f.add(1);
    let sent_at = f.now;
    assert_eq!(f.sent("add_order").len(), 1);
    assert_eq!(
        f.s.timers.get(Timer::RequestDeadline),
        Some(sent_at + 5 * S)
    );
    f.run_until(sent_at + 5 * S - 1);
    assert!(f.unknowns().is_empty(), "not before the deadline");
    f.run_until(sent_at + 5 * S);
    assert_eq!(f.unknowns(), [(1, false)]);
    // A late answer is still delivered: it is the truth.
    f.ack("add_order", 1, r#"{"order_id":"OA"}"#);
    assert!(f.events.iter().any(
        |e| matches!(e, Event::Response { response, sent_ns: 0, .. } if response.req_id == Some(1))
    ));
    f.advance(120 * S);
    assert_eq!(f.unknowns(), [(1, false)], "reported once");
    assert_eq!(f.sent("add_order").len(), 1, "never resent");
}

#[test]
fn answered_requests_leave_no_deadline_behind() {
    let mut f = Fix::ready();
    for id in 1..=100 {
        f.add(id);
        f.ack("add_order", id, r#"{"order_id":"OA"}"#);
    }
    assert_eq!(f.s.in_flight(), 0);
    assert!(
        f.s.deadlines.is_empty(),
        "the deadline queue empties with the answers"
    );
    assert_eq!(f.s.timers.get(Timer::RequestDeadline), None);
    f.advance(60 * S);
    assert!(f.unknowns().is_empty());
}

#[test]
fn a_lost_connection_makes_its_requests_unknown_at_once_in_the_order_sent() {
    let mut f = Fix::ready();
    for id in [5, 3, 9] {
        f.add(id);
    }
    f.ack("add_order", 3, r#"{"order_id":"OA"}"#);
    f.s.handle_disconnected(f.now, "reset");
    f.pump();
    assert_eq!(f.unknowns(), [(5, true), (9, true)]);
    assert_eq!(f.s.in_flight(), 0);
    assert_eq!(f.s.timers.get(Timer::RequestDeadline), None);
    assert_eq!(f.states().last(), Some(&ConnectionState::Disconnected));
    // A fresh token for the next connection; none of the requests is written again.
    assert_eq!(f.token_requests(), 2);
    assert!(
        !f.s.poll_connect(f.now + 10 * S),
        "not before the new token"
    );
    f.token("T2");
    f.run_until(f.now + 10 * S);
    f.connect();
    f.ack_executions();
    let exec = f.sent("subscribe");
    assert_eq!(exec.last().unwrap()["params"]["token"], "T2");
    assert_eq!(f.sent("add_order").len(), 3);
    // While down, a new order goes to REST with an expiry one request timeout from its call.
    f.s.handle_disconnected(f.now, "again");
    f.add(11);
    let rest = f
        .cold
        .iter()
        .find_map(|c| match c {
            ColdRequest::Order {
                req_id: RequestId(11),
                expires_ns,
                ..
            } => Some(*expires_ns),
            _ => None,
        })
        .expect("over REST");
    assert_eq!(rest, f.now + 5 * S);
}

#[test]
fn reconnects_back_off_and_only_a_stable_session_resets_the_backoff() {
    let mut f = Fix::new();
    f.token("T1");
    let mut delays = Vec::new();
    for _ in 0..8 {
        let start = f.now;
        assert!(f.s.poll_connect(f.now));
        // The server accepts and closes at once (maintenance).
        f.s.handle_connected(f.now);
        f.s.handle_disconnected(f.now, "closed by peer");
        f.pump();
        f.token("T");
        let due = f.s.timers.get(Timer::Reconnect).unwrap();
        delays.push(due - start);
        assert!(!f.s.poll_connect(due - 1));
        f.run_until(due);
    }
    // Doubling from 100 ms to 10 s, each jittered into [d/2, d].
    let nominal = [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000];
    for (d, n) in delays.iter().zip(nominal) {
        assert!(*d >= n * MS / 2 && *d <= n * MS, "{delays:?}");
    }
    // A session that stayed ready for 30 s resets it.
    assert!(f.s.poll_connect(f.now));
    f.s.handle_connected(f.now);
    f.pump();
    f.ack_executions();
    f.alive_until(f.now + 31 * S);
    let start = f.now;
    f.s.handle_disconnected(f.now, "reset");
    f.pump();
    let due = f.s.timers.get(Timer::Reconnect).unwrap();
    assert!(due - start <= 100 * MS, "backoff reset: {}", due - start);
}

#[test]
fn a_sequence_gap_resubscribes_and_reads_the_trades_of_the_gap_duplicates_are_not_gaps() {
    let mut f = Fix::ready();
    f.frame(&execution(1, "E1"));
    f.frame(&execution(2, "E2"));
    f.frame(&execution(2, "E2"));
    assert_eq!(f.stats.duplicate_frames.load(Ordering::Relaxed), 1);
    assert!(f.sent("unsubscribe").is_empty());
    f.advance(2 * S);
    f.frame(&execution(4, "E4"));
    assert!(f.events.iter().any(|e| matches!(
        e,
        Event::SequenceGap {
            expected: 3,
            got: 4
        }
    )));
    // What arrived is delivered (fills dedupe by exec_id downstream).
    let execs = f
        .events
        .iter()
        .filter(|e| matches!(e, Event::Execution { .. }))
        .count();
    assert_eq!(execs, 3);
    assert_eq!(f.sent("unsubscribe").len(), 1);
    assert_eq!(f.stats.disconnects.load(Ordering::Relaxed), 0);
    // Subscribed again: the trade history from before the last good frame, with a margin.
    assert!(f.trades_asked().is_empty());
    f.ack_executions();
    let (since, _, _) = f.trades_asked()[0];
    let last_good_wall = f.s.wall_at(f.now - 2 * S);
    assert_eq!(since.0, last_good_wall - FILL_RECOVERY_MARGIN_US);
    // The new snapshot's sequence starts a new count.
    f.frame(r#"{"channel":"executions","type":"snapshot","data":[],"sequence":1}"#);
    f.frame(&execution(2, "E5"));
    assert_eq!(f.stats.sequence_gaps.load(Ordering::Relaxed), 1);
}

#[test]
fn a_silent_connection_is_pinged_then_dropped_by_the_watchdog() {
    let mut f = Fix::ready();
    let quiet_from = f.now;
    f.run_until(quiet_from + 3 * S);
    assert!(
        f.sent("ping").is_empty(),
        "quiet for exactly a third is fine"
    );
    f.run_until(quiet_from + 3 * S + 1);
    assert_eq!(f.sent("ping").len(), 1);
    f.run_until(quiet_from + 8 * S);
    assert_eq!(f.sent("ping").len(), 1, "one ping in flight at a time");
    assert_eq!(f.closes(), 0);
    f.run_until(quiet_from + 9 * S + 1);
    assert_eq!(f.closes(), 1, "the watchdog gives the socket up");
    assert_eq!(f.states().last(), Some(&ConnectionState::Disconnected));
    // An answered ping feeds the watchdog.
    let mut g = Fix::ready();
    let mut answered = 0;
    for _ in 0..10 {
        g.advance(3 * S + 1);
        let ids: Vec<u64> = g.sent("ping")[answered..]
            .iter()
            .filter_map(|v| v["req_id"].as_u64())
            .collect();
        answered += ids.len();
        for id in ids {
            g.frame(&format!(
                r#"{{"method":"pong","req_id":{id},"time_in":"2023-11-14T22:13:20.000000Z","time_out":"2023-11-14T22:13:20.000100Z"}}"#
            ));
        }
    }
    assert!(answered >= 5);
    assert_eq!(g.closes(), 0);
}

#[test]
fn refused_subscriptions_are_retried_with_backoff_then_the_connection_is_made_again() {
    let mut f = Fix::new();
    f.token("T1");
    f.connect();
    for n in 1..=5 {
        let id = f.last_req_id("subscribe", Some("executions"));
        f.refuse("subscribe", id, "EGeneral:Internal error");
        assert_eq!(f.closes(), 0);
        let due = f.s.timers.get(Timer::SubscriptionRetry).unwrap();
        let before = f.sent("subscribe").len();
        f.run_until(due);
        assert_eq!(f.sent("subscribe").len(), before + 1, "retry {n}");
    }
    let id = f.last_req_id("subscribe", Some("executions"));
    f.refuse("subscribe", id, "EGeneral:Internal error");
    assert_eq!(f.closes(), 1, "the sixth failure in a row reconnects");
    // An unanswered subscription counts as a failure at its deadline.
    let mut g = Fix::new();
    g.token("T1");
    g.connect();
    let before = g.sent("subscribe").len();
    g.advance(5 * S);
    assert!(g.s.timers.get(Timer::SubscriptionRetry).is_some());
    g.advance(S);
    assert!(g.sent("subscribe").len() > before);
}

#[test]
fn the_dead_mans_switch_is_refreshed_on_the_socket_then_over_rest_while_it_is_down() {
    let mut f = Fix::ready();
    let start = f.now;
    f.alive_until(start + 20 * S);
    assert_eq!(f.sent("cancel_all_orders_after").len(), 1);
    f.alive_until(start + 20 * S + 1);
    assert_eq!(f.sent("cancel_all_orders_after").len(), 2);
    f.s.handle_disconnected(f.now, "reset");
    f.pump();
    let rest = |f: &Fix| {
        f.cold
            .iter()
            .filter(|c| matches!(c, ColdRequest::DeadMan { timeout_secs: 60 }))
            .count()
    };
    assert_eq!(rest(&f), 0);
    f.advance(21 * S);
    assert_eq!(rest(&f), 1);
    f.advance(21 * S);
    assert_eq!(rest(&f), 1, "one REST refresh at a time");
    f.s.handle_cold(
        f.now,
        ColdReply::DeadMan {
            timeout_secs: 60,
            ok: true,
        },
    );
    f.advance(21 * S);
    assert_eq!(rest(&f), 2);
    // A clean stop disarms it (over REST: the socket is down).
    f.s.handle_shutdown(f.now, false);
    f.pump();
    assert!(
        f.cold
            .iter()
            .any(|c| matches!(c, ColdRequest::DeadMan { timeout_secs: 0 }))
    );
    // A crash does not.
    let mut g = Fix::ready();
    g.s.handle_shutdown(g.now, true);
    g.pump();
    assert!(
        g.sent("cancel_all_orders_after")
            .iter()
            .all(|v| v["params"]["timeout"] == 60)
    );
    assert!(
        !g.cold
            .iter()
            .any(|c| matches!(c, ColdRequest::DeadMan { .. }))
    );
}

#[test]
fn the_token_is_refreshed_before_it_expires_and_an_invalid_session_reconnects() {
    let mut f = Fix::ready();
    assert_eq!(f.token_requests(), 1);
    f.alive_until(f.now + 599 * S);
    assert_eq!(f.token_requests(), 1, "not before its time");
    f.alive_until(f.now + S);
    assert_eq!(f.token_requests(), 2);
    f.token("T2");
    f.add(1);
    assert_eq!(f.sent("add_order")[0]["params"]["token"], "T2");
    f.refuse("add_order", 1, "ESession:Invalid session");
    assert!(f.events.iter().any(
        |e| matches!(e, Event::Response { response, .. } if response.req_id == Some(1) && !response.success)
    ));
    assert_eq!(f.closes(), 1);
    assert!(
        f.unknowns().is_empty(),
        "the refused request is answered, not unknown"
    );
    assert_eq!(f.token_requests(), 3);
}

#[test]
fn lookups_search_the_window_the_order_could_have_been_opened_in() {
    let mut f = Fix::ready();
    // The executions ack measured the exchange's clock: 1_700_000_000 s → ack at 2023-11-14
    // 22:13:20 (= 1_700_000_000 s): offset 0 as our anchor says the same.
    assert_eq!(f.s.exchange_offset_us, Some(0));
    let submitted = f.now;
    f.advance(7 * S);
    let (since, until) = f.lookup_window(submitted, None);
    let sub = f.s.wall_at(submitted);
    assert_eq!(since, sub - LOOKUP_MARGIN_US);
    assert_eq!(until, sub + 5_000_000 + LOOKUP_MARGIN_US);
}

#[test]
fn an_acknowledged_request_with_no_executions_frame_after_it_resyncs_the_stream() {
    let mut f = Fix::ready();
    f.frame(&execution(1, "E1"));
    f.advance(MS);
    f.add(1);
    f.ack("add_order", 1, r#"{"order_id":"OA"}"#);
    // The exchange's frames for it were the last before a quiet spell, and were lost.
    f.alive_until(f.now + 2 * S - 1);
    assert!(f.sent("unsubscribe").is_empty(), "not before 2 s");
    f.alive_until(f.now + 2);
    assert_eq!(f.sent("unsubscribe").len(), 1);
    assert_eq!(f.stats.silent_stream_resyncs.load(Ordering::Relaxed), 1);
    f.ack_executions();
    assert!(
        !f.trades_asked().is_empty(),
        "the trades since are read again"
    );
    // A frame after the request (before or after its ack) is the stream alive: no resync.
    let mut g = Fix::ready();
    g.add(1);
    g.frame(&execution(1, "E1"));
    g.ack("add_order", 1, r#"{"order_id":"OA"}"#);
    g.add(2);
    g.ack("add_order", 2, r#"{"order_id":"OB"}"#);
    g.frame(&execution(2, "E2"));
    g.alive_until(g.now + 10 * S);
    assert!(g.sent("unsubscribe").is_empty());
    // Nor after requests that change nothing: validate-only, a cancel-all of nothing.
    let mut h = Fix::ready();
    h.add(1);
    h.ack("add_order", 1, r#"{"cl_ord_id":"v"}"#);
    h.s.handle_command(
        h.now,
        Command::Order(OrderCommand::CancelAll {
            req_id: RequestId(2),
        }),
        None,
        h.now,
        false,
    );
    h.pump();
    h.ack("cancel_all", 2, r#"{"count":0}"#);
    h.alive_until(h.now + 10 * S);
    assert!(h.sent("unsubscribe").is_empty());
}

#[test]
fn a_timed_out_request_on_a_live_connection_resyncs_the_stream() {
    let mut f = Fix::ready();
    f.add(1);
    f.alive_until(f.now + 5 * S);
    assert_eq!(f.unknowns(), [(1, false)]);
    assert_eq!(
        f.sent("unsubscribe").len(),
        1,
        "its frames may be lost with its ack"
    );
    assert_eq!(f.closes(), 0);
}

#[test]
fn a_quiet_executions_stream_is_checked_with_a_fresh_snapshot_every_minute() {
    let mut f = Fix::ready();
    // First looked at a minute after ready (no wake-up before).
    assert_eq!(f.s.timers.get(Timer::QuietResync), Some(f.now + 60 * S));
    f.frame(&execution(1, "E1"));
    let quiet_from = f.now;
    f.alive_until(quiet_from + 60 * S - 1);
    assert!(f.sent("unsubscribe").is_empty());
    f.alive_until(quiet_from + 60 * S);
    assert_eq!(f.sent("unsubscribe").len(), 1);
    assert_eq!(f.stats.quiet_resyncs.load(Ordering::Relaxed), 1);
    // A frame restarts the minute.
    f.alive_until(quiet_from + 90 * S);
    f.frame(&execution(2, "E2"));
    f.alive_until(quiet_from + 149 * S);
    assert_eq!(f.sent("unsubscribe").len(), 1);
    f.alive_until(quiet_from + 151 * S);
    assert_eq!(f.sent("unsubscribe").len(), 2);
    assert_eq!(f.closes(), 0);
}

#[test]
fn a_lookup_window_reaches_the_deadline_its_request_carried() {
    // The deadline was stamped while a slow network inflated the measured clock offset by
    // 4.5 s; the offset measures small again by the time the lookup is made.
    let mut f = Fix::ready();
    assert_eq!(f.s.exchange_offset_us, Some(0));
    let submitted = f.now;
    let stamped = Timestamp(f.s.wall_at(submitted) + 4_500_000 + 5_000_000);
    f.advance(7 * S);
    let (_, until) = f.lookup_window(submitted, Some(stamped));
    assert_eq!(until, stamped.0 + LOOKUP_MARGIN_US);
}

/// An add read back from an earlier process's journal has no submission time in this
/// process's clock: the deadline it carried bounds its window at both ends, so "not found"
/// is decided as soon as that has passed (not after a quarter of an hour of history).
#[test]
fn an_add_from_an_earlier_process_is_looked_up_within_its_deadline() {
    let mut f = Fix::ready();
    f.advance(60 * S);
    let deadline = Timestamp(f.s.wall_at(f.now) - 20_000_000);
    // Whatever the order deadline of the process that sent it: at most a minute before.
    assert_eq!(
        f.lookup_window(0, Some(deadline)),
        (
            deadline.0 - 60_000_000 - LOOKUP_MARGIN_US,
            deadline.0 + LOOKUP_MARGIN_US
        )
    );
}

#[test]
fn the_clock_offset_is_bounded_from_both_sides() {
    // Sent at our 0, received by the exchange at +3 s (its clock), answered at +3 s, read by us
    // at +4 s: the offset is at most +3 s and at least -1 s.
    let mut f = Fix::new();
    f.token("T1");
    f.connect();
    let id = f.last_req_id("subscribe", Some("executions"));
    f.advance(4 * S);
    let sent_wall = f.s.wall_at(f.now - 4 * S);
    let t_in = Timestamp(sent_wall + 3_000_000);
    f.frame(&format!(
        r#"{{"method":"subscribe","req_id":{id},"result":{{"channel":"executions","snapshot":true}},"success":true,"time_in":"{}","time_out":"{}"}}"#,
        t_in, t_in
    ));
    assert_eq!(f.s.exchange_offset_us, Some(3_000_000));
    assert_eq!(
        f.stats.exchange_offset_lo_us.load(Ordering::Relaxed),
        -1_000_000
    );
}

#[test]
fn token_failures_back_off_like_connections_and_a_success_resets_them() {
    let mut f = Fix::new();
    let mut delays = Vec::new();
    for _ in 0..3 {
        let start = f.now;
        f.s.handle_cold(f.now, ColdReply::Token(Err("EAPI:Invalid key".into())));
        f.pump();
        let due = f.s.timers.get(Timer::Reconnect).unwrap();
        delays.push(due - start);
        assert!(!f.s.poll_connect(due - 1), "not before the backoff");
        let asked = f.token_requests();
        f.run_until(due);
        assert!(
            !f.s.poll_connect(f.now),
            "no token yet: it asks for one instead"
        );
        f.pump();
        assert_eq!(f.token_requests(), asked + 1);
    }
    // 100 ms doubling, jittered into [d/2, d].
    for (d, n) in delays.iter().zip([200u64, 400, 800]) {
        assert!(*d >= n * MS / 2 && *d <= n * MS, "{delays:?}");
    }
    assert_eq!(f.stats.token_failures.load(Ordering::Relaxed), 3);
    f.token("T1");
    assert_eq!(f.stats.tokens_fetched.load(Ordering::Relaxed), 1);
    assert!(f.s.poll_connect(f.now));
    f.s.handle_connect_failed(f.now, "refused");
    let start = f.now;
    f.s.handle_cold(f.now, ColdReply::Token(Err("x".into())));
    let d = f.s.timers.get(Timer::Reconnect).unwrap() - start;
    assert!(
        (100 * MS..=200 * MS).contains(&d),
        "reset after a success: {d}"
    );
}

#[test]
fn an_incomplete_trade_history_is_read_on_from_where_it_stopped_backing_off() {
    let mut f = Fix::ready();
    f.frame(&execution(1, "E1"));
    f.advance(S);
    f.frame(&execution(3, "E3"));
    f.ack_executions();
    let (since, end, ofs) = f.trades_asked()[0];
    assert_eq!(ofs, 0);
    let trades = Fix::trades_asked;
    let reply = |next_ofs: u64, complete: bool| ColdReply::Trades {
        reports: Vec::new(),
        since,
        end,
        next_ofs,
        complete,
        error: (!complete).then(|| "EService:Busy".to_string()),
    };
    let mut delays = Vec::new();
    for (i, ofs) in [50u64, 100, 150].into_iter().enumerate() {
        let start = f.now;
        f.s.handle_cold(f.now, reply(ofs, false));
        f.pump();
        let due = f.s.timers.get(Timer::TradesFetch).unwrap();
        delays.push((due - start) / S);
        f.alive_until(due - 1);
        assert_eq!(trades(&f).len(), i + 1, "not before its time");
        f.alive_until(due);
        assert_eq!(
            trades(&f).last(),
            Some(&(since, end, ofs)),
            "resumed where it stopped"
        );
    }
    assert_eq!(delays, [2, 4, 8]);
    let failing: Vec<_> = f
        .events
        .iter()
        .filter(|e| matches!(e, Event::RecoveryFailing { .. }))
        .collect();
    assert_eq!(failing.len(), 1, "reported once, at the third failure");
    assert_eq!(f.stats.recovery_failures.load(Ordering::Relaxed), 1);
    // Complete: nothing more is read, and the count starts over.
    f.s.handle_cold(f.now, reply(200, true));
    f.pump();
    let n = trades(&f).len();
    f.alive_until(f.now + 30 * S);
    assert_eq!(trades(&f).len(), n);
    assert_eq!(f.s.trades_failures, 0);
}

#[test]
fn rest_answers_reach_the_strategy_as_the_socket_s_do() {
    let mut f = Fix::new();
    let response = crate::protocol::messages::Response {
        method: crate::protocol::messages::Method::AddOrder,
        req_id: Some(7),
        success: true,
        error: None,
        error_kind: None,
        result: AckResult::None,
        warnings: 0,
        time_in: None,
        time_out: None,
    };
    let item = crate::protocol::messages::BatchItem::default();
    f.s.handle_cold(
        f.now,
        ColdReply::Response {
            response,
            items: vec![item, item],
            sent_ns: 5,
        },
    );
    f.s.handle_cold(
        f.now,
        ColdReply::Unknown {
            req_id: RequestId(8),
        },
    );
    f.s.handle_cold(
        f.now,
        ColdReply::NotSent {
            req_id: RequestId(9),
            reason: NotSentReason::Expired,
        },
    );
    f.pump();
    let kinds: Vec<String> = f
        .events
        .iter()
        .map(|e| match e {
            Event::BatchItem { index, .. } => format!("item {index}"),
            Event::Response { route, sent_ns, .. } => format!("response {route:?} {sent_ns}"),
            Event::UnknownOutcome {
                req_id,
                disconnected,
            } => format!("unknown {req_id} {disconnected}"),
            Event::NotSent { req_id, .. } => format!("not sent {req_id}"),
            other => format!("{other:?}"),
        })
        .filter(|k| !k.starts_with("Connection"))
        .collect();
    assert_eq!(
        kinds,
        [
            "item 0",
            "item 1",
            "response Rest 5",
            "unknown 8 false",
            "not sent 9"
        ]
    );
    assert_eq!(f.stats.unknown_outcomes.load(Ordering::Relaxed), 1);
    // The dead man's switch over REST: armed when Kraken said so, not when it refused.
    f.s.handle_cold(
        f.now,
        ColdReply::DeadMan {
            timeout_secs: 60,
            ok: true,
        },
    );
    assert!(f.stats.dead_man_armed.load(Ordering::Relaxed));
    assert_eq!(f.stats.dead_man_refreshes.load(Ordering::Relaxed), 1);
    f.s.handle_cold(
        f.now,
        ColdReply::DeadMan {
            timeout_secs: 60,
            ok: false,
        },
    );
    assert!(!f.stats.dead_man_armed.load(Ordering::Relaxed));
    f.s.handle_cold(
        f.now,
        ColdReply::DeadMan {
            timeout_secs: 0,
            ok: true,
        },
    );
    assert!(!f.stats.dead_man_armed.load(Ordering::Relaxed), "disarmed");
    assert_eq!(f.stats.dead_man_refreshes.load(Ordering::Relaxed), 1);
}

#[test]
fn undecodable_frames_are_counted_and_balances_and_status_pass_through() {
    let mut f = Fix::ready();
    f.frame("CloudFlare WebSocket proxy restarting");
    f.frame(r#"{"channel":"executions","type":"update","data":[{"order_id":1}]}"#);
    f.frame(r#"{"channel":"#);
    assert_eq!(f.stats.decode_errors.load(Ordering::Relaxed), 3);
    assert_eq!(f.stats.non_json_frames.load(Ordering::Relaxed), 1);
    f.frame(
        r#"{"channel":"balances","type":"snapshot","data":[{"asset":"USD","asset_class":"currency","balance":5.0,"wallets":[{"type":"spot","id":"main","balance":5.0}]}],"sequence":1}"#,
    );
    f.frame(
        r#"{"channel":"balances","type":"update","data":[{"asset":"USD","asset_class":"currency","amount":1.0,"balance":6.0,"fee":0.0,"ledger_id":"L","ref_id":"R","timestamp":"2023-11-14T22:13:20.000000Z","type":"deposit","category":"deposit","wallet_type":"spot","wallet_id":"main"}],"sequence":2}"#,
    );
    let snaps: Vec<bool> = f
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Balance { snapshot, .. } => Some(*snapshot),
            _ => None,
        })
        .collect();
    assert_eq!(snaps, [true, false]);
    f.frame(
        r#"{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":1,"system":"cancel_only","version":"2.0.10"}]}"#,
    );
    assert!(f.events.iter().any(|e| matches!(e, Event::Status(_))));
}

#[test]
fn a_lookup_with_no_submission_time_searches_the_last_fifteen_minutes() {
    let mut f = Fix::ready();
    assert_eq!(f.s.exchange_offset_us, Some(0));
    f.advance(7 * S);
    let ex_now = f.s.wall_at(f.now);
    let quarter_hour_us = 900_000_000;
    assert_eq!(
        f.lookup_window(0, None),
        (ex_now - quarter_hour_us, ex_now + LOOKUP_MARGIN_US)
    );
    // Submitted longer ago than that: the window starts a quarter of an hour back too.
    f.advance(20 * 60 * S);
    let ex_now = f.s.wall_at(f.now);
    let (since, _) = f.lookup_window(f.now - 19 * 60 * S, None);
    assert_eq!(since, ex_now - quarter_hour_us - LOOKUP_MARGIN_US);
}

#[test]
fn a_new_wall_clock_reading_moves_the_lookup_windows_with_it() {
    let mut f = Fix::ready();
    f.advance(7 * S);
    let (since, until) = f.lookup_window(0, None);
    // The wall clock was stepped 2 s ahead (NTP): windows of exchange time follow it.
    let wall = Timestamp(f.s.wall_at(f.now) + 2_000_000);
    f.s.handle_wall_clock(f.now, wall);
    assert_eq!(
        f.lookup_window(0, None),
        (since + 2_000_000, until + 2_000_000)
    );
}

#[test]
fn a_failed_connect_backs_off_and_the_socket_may_open_the_moment_the_backoff_ends() {
    let mut f = Fix::new();
    f.token("T1");
    assert!(f.s.poll_connect(f.now));
    f.s.handle_connect_failed(f.now, "connection refused");
    f.pump();
    let due = f.s.timers.get(Timer::Reconnect).expect("a backoff");
    // The first failure: 200 ms, jittered into [100 ms, 200 ms].
    assert!(
        (100 * MS..=200 * MS).contains(&(due - f.now)),
        "{}",
        due - f.now
    );
    assert!(!f.s.poll_connect(f.now), "not at once");
    assert!(!f.s.poll_connect(due - 1));
    // The driver may ask before it runs the timers.
    assert!(f.s.poll_connect(due), "the backoff is over");
    f.pump();
    assert_eq!(f.states().last(), Some(&ConnectionState::Connecting(2)));
}

#[test]
fn a_new_connection_is_kept_alive_and_watched_from_its_handshake() {
    let mut f = Fix::new();
    f.token("T1");
    assert!(f.s.poll_connect(f.now));
    let up = f.now;
    f.s.handle_connected(up);
    f.pump();
    assert_eq!(f.s.timers.get(Timer::Watchdog), Some(up + 9 * S));
    assert_eq!(f.s.timers.get(Timer::KeepAlive), Some(up + 3 * S));
    // Nothing wakes the session before the connection has been quiet for a third of the
    // watchdog (the subscriptions' deadlines come later).
    assert_eq!(f.s.poll_timeout(), Some(up + 3 * S));
}

#[test]
fn control_frames_and_paused_reading_keep_the_watchdog_quiet() {
    for paused in [false, true] {
        let mut f = Fix::ready();
        let start = f.now;
        while f.now < start + 30 * S {
            f.advance(2 * S);
            if paused {
                // The strategy's ring is full: the driver does not read the socket.
                f.s.handle_reading_paused(f.now);
            } else {
                // Pings and pongs from the exchange, no text frame.
                f.s.handle_control_frame(f.now);
            }
        }
        f.pump();
        assert_eq!(f.closes(), 0, "paused: {paused}");
        assert!(f.sent("ping").is_empty(), "not quiet (paused: {paused})");
        assert_eq!(f.states().last(), Some(&ConnectionState::Ready));
    }
}

#[test]
fn an_event_given_back_comes_out_first() {
    let mut f = Fix::ready();
    f.s.handle_frame(f.now, execution(1, "E1").as_bytes());
    let first = f.s.poll_event().expect("the execution");
    assert!(matches!(first, Event::Execution { .. }));
    // The strategy's ring was full: the driver gives it back, and the notice before it.
    f.s.unpoll_event(first);
    f.s.unpoll_event(Event::EventRingFull);
    assert!(matches!(f.s.poll_event(), Some(Event::EventRingFull)));
    assert!(matches!(f.s.poll_event(), Some(Event::Execution { .. })));
    assert!(f.s.poll_event().is_none());
}

#[test]
fn requests_in_flight_are_those_still_awaiting_their_answer() {
    let mut f = Fix::ready();
    for id in 1..=3 {
        f.add(id);
    }
    assert_eq!(f.s.in_flight(), 3);
    f.ack("add_order", 2, r#"{"order_id":"OB"}"#);
    assert_eq!(f.s.in_flight(), 2);
    f.advance(5 * S);
    assert_eq!(f.s.in_flight(), 0, "the others timed out");
}

#[test]
fn a_rest_fallback_order_expires_one_request_timeout_after_the_strategy_issued_it() {
    let mut f = Fix::new();
    let issued = f.now;
    f.advance(2 * S);
    let order = AddOrder::limit(SymbolId(0), Side::Buy, dec!(1), dec!(100));
    // Issued 2 s ago; at an unknown time (0: now); stamped ahead of our clock (now).
    for (id, at_ns) in [(1, issued), (2, 0), (3, f.now + S)] {
        let cmd = OrderCommand::Add {
            req_id: RequestId(id),
            order,
        };
        f.s.handle_command(f.now, Command::Order(cmd), None, at_ns, false);
    }
    f.pump();
    let expiries: Vec<(u64, u64)> = f
        .cold
        .iter()
        .filter_map(|c| match c {
            ColdRequest::Order {
                req_id, expires_ns, ..
            } => Some((req_id.0, *expires_ns)),
            _ => None,
        })
        .collect();
    assert_eq!(
        expiries,
        [(1, issued + 5 * S), (2, f.now + 5 * S), (3, f.now + 5 * S)]
    );
}

/// Ready, with the exchange's clock measured `offset_us` ahead of ours (its receive time on
/// the executions subscription).
fn ready_with_offset(offset_us: i64) -> Fix {
    let mut f = Fix::new();
    f.token("T1");
    f.connect();
    let id = f.last_req_id("subscribe", Some("executions"));
    let t_in = Timestamp(f.s.wall_at(f.now) + offset_us);
    f.frame(&format!(
        r#"{{"method":"subscribe","req_id":{id},"result":{{"channel":"executions","snapshot":true}},"success":true,"time_in":"{t_in}","time_out":"{t_in}"}}"#
    ));
    assert!(f.s.is_ready());
    assert_eq!(f.s.exchange_offset_us, Some(offset_us));
    f
}

#[test]
fn lookup_windows_are_in_the_exchange_s_time_and_a_submission_ahead_of_now_counts_as_unknown() {
    let mut f = ready_with_offset(3_000_000);
    f.advance(7 * S);
    let ex_now = f.s.wall_at(f.now) + 3_000_000;
    let last_quarter_hour = (ex_now - 900_000_000, ex_now + LOOKUP_MARGIN_US);
    assert_eq!(f.lookup_window(0, None), last_quarter_hour);
    // A submission time ahead of our clock is not to be trusted.
    assert_eq!(f.lookup_window(f.now + S, None), last_quarter_hour);
}

#[test]
fn the_trade_history_after_a_loss_is_read_up_to_now_in_the_exchange_s_time_with_a_margin() {
    let mut f = ready_with_offset(3_000_000);
    f.frame(&execution(1, "E1"));
    f.advance(S);
    f.frame(&execution(3, "E3"));
    f.ack_executions();
    let (_, end, _) = f.trades_asked()[0];
    // (The answer to the resubscription measured the offset again.)
    let offset = f.s.exchange_offset_us.unwrap();
    assert_ne!(offset, 0);
    assert_eq!(end.0, f.s.wall_at(f.now) + offset + FILL_RECOVERY_MARGIN_US);
}

#[test]
fn each_refused_subscription_is_retried_after_its_own_backoff() {
    let mut f = Fix::with(SessionConfig {
        subscribe_balances: true,
        ..config()
    });
    f.token("T1");
    f.connect();
    let channel_sent = |f: &Fix, c: &str| {
        f.sent("subscribe")
            .iter()
            .filter(|v| v["params"]["channel"] == c)
            .count()
    };
    assert_eq!(channel_sent(&f, "balances"), 1);
    let t0 = f.now;
    let id = f.last_req_id("subscribe", Some("executions"));
    f.refuse("subscribe", id, "EGeneral:Internal error");
    f.advance(50 * MS);
    let id = f.last_req_id("subscribe", Some("balances"));
    f.refuse("subscribe", id, "EGeneral:Internal error");
    // The first failure waits 100-200 ms, the second (in a row) 200-400 ms after it.
    f.run_until(t0 + 100 * MS - 1);
    assert_eq!(channel_sent(&f, "executions"), 1, "not before its backoff");
    f.run_until(t0 + 200 * MS);
    assert_eq!(channel_sent(&f, "executions"), 2);
    assert_eq!(channel_sent(&f, "balances"), 1, "not before its backoff");
    f.run_until(t0 + 450 * MS);
    assert_eq!(channel_sent(&f, "balances"), 2);
    assert_eq!(channel_sent(&f, "executions"), 2);
    assert_eq!(f.closes(), 0);
}

#[test]
fn the_trade_history_is_read_again_only_once_subscribed_and_after_its_backoff() {
    let mut f = Fix::ready();
    f.frame(&execution(1, "E1"));
    f.advance(S);
    f.frame(&execution(3, "E3"));
    f.ack_executions();
    let trades = |f: &Fix| f.trades_asked().len();
    let (since, end, _) = f.trades_asked()[0];
    let incomplete = ColdReply::Trades {
        reports: Vec::new(),
        since,
        end,
        next_ofs: 50,
        complete: false,
        error: Some("EService:Busy".into()),
    };
    f.s.handle_cold(f.now, incomplete);
    f.pump();
    let due =
        f.s.timers
            .get(Timer::TradesFetch)
            .expect("read again later");
    // A fresh executions subscription meanwhile (after another gap) does not cut the
    // backoff short.
    f.advance(S / 2);
    f.frame(&execution(5, "E5"));
    f.frame(&execution(7, "E7"));
    f.ack_executions();
    assert_eq!(trades(&f), 1, "not before its backoff");
    // Down when it is due: read once subscribed again.
    f.s.handle_disconnected(f.now, "reset");
    f.pump();
    f.run_until(due);
    assert_eq!(trades(&f), 1, "not while down");
    f.token("T2");
    f.run_until(f.now + 10 * S);
    f.connect();
    assert_eq!(trades(&f), 1, "not before the executions subscription");
    f.ack_executions();
    assert_eq!(trades(&f), 2);
}

#[test]
fn the_stats_say_authenticated_only_while_orders_go_over_the_socket() {
    let mut f = Fix::new();
    f.token("T1");
    f.connect();
    assert!(f.stats.connected.load(Ordering::Relaxed));
    assert!(!f.stats.authenticated.load(Ordering::Relaxed));
    f.ack_executions();
    assert!(f.stats.authenticated.load(Ordering::Relaxed));
    f.s.handle_disconnected(f.now, "reset");
    assert!(!f.stats.connected.load(Ordering::Relaxed));
    assert!(!f.stats.authenticated.load(Ordering::Relaxed));
}

#[test]
fn a_retried_subscription_left_unanswered_is_retried_again() {
    let mut f = Fix::new();
    f.token("T1");
    f.connect();
    let executions = |f: &Fix| {
        f.sent("subscribe")
            .iter()
            .filter(|v| v["params"]["channel"] == "executions")
            .count()
    };
    let id = f.last_req_id("subscribe", Some("executions"));
    f.advance(S);
    f.refuse("subscribe", id, "EGeneral:Internal error");
    // The exchange is there (heartbeats) but does not answer the retry.
    for _ in 0..10 {
        f.advance(S);
        f.frame(r#"{"channel":"heartbeat"}"#);
    }
    // Refused, retried (within 200 ms); unanswered for 5 s, retried again (within 400 ms).
    assert_eq!(executions(&f), 3);
    assert_eq!(f.closes(), 0);
}

#[test]
fn fills_an_earlier_process_may_have_missed_are_read_from_the_trade_history_once_subscribed() {
    let last = Timestamp(1_699_999_000_000_000);
    // (exchange time of its last fill: a second's margin; our clock: ten seconds'; already
    // at risk, journaled with its margin: none)
    for (case, since) in [
        (0, last.0 - 1_000_000),
        (1, last.0 - 10_000_000),
        (2, last.0),
    ] {
        let mut f = Fix::new();
        match case {
            0 => f.s.recover_fills_since(last, true),
            1 => f.s.recover_fills_since(last, false),
            _ => f.s.recover_fills_since_at_risk(last),
        }
        f.pump();
        assert!(
            f.events.iter().any(|e| matches!(
                e,
                Event::FillsAtRisk { since: Some(s) } if s.0 == since
            )),
            "case {case}"
        );
        f.token("T1");
        f.connect();
        f.ack_executions();
        let asked = f.trades_asked().first().map(|(s, _, _)| s.0);
        assert_eq!(asked, Some(since), "case {case}");
    }
}

/// The window an order of unknown outcome can have been opened in, in the exchange's time,
/// end to end in each case: an intent from a previous process (its deadline alone), no known
/// submission (the 15-minute lookback), a submission now, one older than the lookback, and a
/// deadline before or after the window our clock gives.
#[test]
fn the_lookup_window_in_each_case() {
    let mut f = Fix::new();
    let w0 = 1_700_000_000_000_000i64; // wall time (µs) at f.now
    let now = f.now + 2_000 * S;
    let ex_now = w0 + 2_000_000_000;
    let s = 1_000_000i64;
    // Unmeasured clock offset: margin 10 s.
    let d = ex_now - 50 * s;
    assert_eq!(
        f.s.window(now, 0, Some(Timestamp(d))),
        (d - 70 * s, d + 10 * s)
    );
    let last_15_min = (ex_now - 900 * s, ex_now + 10 * s);
    assert_eq!(f.s.window(now, 0, None), last_15_min);
    assert_eq!(f.s.window(now, now + 1, None), last_15_min);
    // Submitted 1,000 s ago, before the lookback: clamped to it.
    assert_eq!(
        f.s.window(now, now - 1_000 * S, None),
        (ex_now - 910 * s, ex_now - 900 * s)
    );
    // Measured offset (250 ms): margin 1 s.
    f.s.exchange_offset_us = Some(250_000);
    let ex_now = ex_now + 250_000;
    assert_eq!(f.s.window(now, now, None), (ex_now - s, ex_now + 6 * s));
    // Submitted 2 s ago with the deadline its request carried (order deadline 5 s).
    let ex_since = ex_now - 2 * s;
    let early = ex_since + s;
    assert_eq!(
        f.s.window(now, now - 2 * S, Some(Timestamp(early))),
        (ex_since - 5 * s, ex_since + 6 * s)
    );
    let late = ex_since + 20 * s;
    assert_eq!(
        f.s.window(now, now - 2 * S, Some(Timestamp(late))),
        (ex_since - s, late + s)
    );
}

/// A request refused with "deadline elapsed" means our deadlines no longer follow the
/// exchange's clock: the clock is measured again with one ping, however many requests were
/// refused; another refusal measures nothing.
#[test]
fn a_deadline_refusal_measures_the_exchange_clock_again_once() {
    let mut f = Fix::ready();
    f.add(1);
    let first = f.last_req_id("add_order", None);
    f.add(2);
    let second = f.last_req_id("add_order", None);
    f.add(3);
    let third = f.last_req_id("add_order", None);
    let pings = f.sent("ping").len();
    f.refuse("add_order", first, "EOrder:Insufficient funds");
    assert_eq!(
        f.sent("ping").len(),
        pings,
        "another refusal measures nothing"
    );
    f.refuse("add_order", second, "EService:Deadline elapsed");
    assert_eq!(f.sent("ping").len(), pings + 1);
    f.refuse("add_order", third, "EService:Deadline elapsed");
    assert_eq!(f.sent("ping").len(), pings + 1, "one ping at a time");
}

/// A cancel of several orders is answered once per order: it stays in flight (and becomes
/// unknown at its deadline) until every answer came, but one refusal settles it.
#[test]
fn a_cancel_of_several_orders_waits_for_every_answer_but_a_refusal_settles_it() {
    use crate::ids::OrderId;
    use crate::order::CancelOrder;
    let cancel_two = |f: &mut Fix, req_id: u64| {
        let mut refs = arrayvec::ArrayVec::new();
        refs.push(OrderRef::OrderId(OrderId::new("OA").unwrap()));
        refs.push(OrderRef::OrderId(OrderId::new("OB").unwrap()));
        let cmd = Command::Order(OrderCommand::Large {
            req_id: RequestId(req_id),
            method: crate::protocol::messages::Method::CancelOrder,
        });
        let large = Some(LargeCommand::Cancel(CancelOrder { refs }));
        f.s.handle_command(f.now, cmd, large.as_ref(), f.now, false);
        f.pump();
    };
    let mut f = Fix::ready();
    cancel_two(&mut f, 1);
    f.ack("cancel_order", 1, r#"{"order_id":"OA"}"#);
    f.advance(5 * S);
    assert_eq!(f.unknowns(), [(1, false)], "the second answer never came");

    let mut f = Fix::ready();
    cancel_two(&mut f, 2);
    f.refuse("cancel_order", 2, "EOrder:Unknown order");
    f.advance(5 * S);
    assert!(f.unknowns().is_empty(), "refused: not unknown");
}

/// An executions frame read at the very instant a request was sent came after it: the
/// request's ack does not then wait for one more.
#[test]
fn executions_read_at_the_instant_of_sending_count_as_after_it() {
    let mut f = Fix::ready();
    f.advance(S);
    f.add(1);
    f.frame(&execution(2, "E1"));
    f.advance(MS);
    f.ack("add_order", 1, r#"{"order_id":"OA"}"#);
    assert_eq!(f.s.timers.get(Timer::ExecConfirm), None);
    // Without that frame, the ack waits for one.
    let mut g = Fix::ready();
    g.advance(S);
    g.add(1);
    g.advance(MS);
    g.ack("add_order", 1, r#"{"order_id":"OA"}"#);
    assert!(g.s.timers.get(Timer::ExecConfirm).is_some());
}

/// A report holding values this version does not know is delivered, and each such value is
/// counted.
#[test]
fn unknown_values_in_reports_are_counted() {
    let mut f = Fix::ready();
    f.frame(
        r#"{"channel":"executions","type":"update","data":[{"order_id":"OA","exec_type":"teleported","order_status":"elsewhere","timestamp":"2023-11-14T22:13:20.000000Z"}],"sequence":2}"#,
    );
    assert_eq!(f.stats.unknown_values.load(Ordering::Relaxed), 2);
    assert!(
        f.events
            .iter()
            .any(|e| matches!(e, Event::Execution { .. }))
    );
    f.frame(&execution(3, "E1"));
    assert_eq!(f.stats.unknown_values.load(Ordering::Relaxed), 2);
}

/// The dead man's switch over the socket: armed when Kraken acknowledges it; refused as an
/// invalid session, the connection is made again with a fresh token; refused otherwise, the
/// connection stays (the next refresh tries again).
#[test]
fn the_dead_mans_switch_on_the_socket_armed_by_its_ack_and_an_invalid_session_reconnects() {
    let armed = |f: &Fix| f.stats.dead_man_armed.load(Ordering::Relaxed);
    let mut f = Fix::ready();
    let dm = f.last_req_id("cancel_all_orders_after", None);
    assert!(!armed(&f), "not before Kraken says so");
    f.ack(
        "cancel_all_orders_after",
        dm,
        r#"{"currentTime":"2023-11-14T22:13:20Z","triggerTime":"2023-11-14T22:14:20Z"}"#,
    );
    assert!(armed(&f));

    let mut f = Fix::ready();
    let dm = f.last_req_id("cancel_all_orders_after", None);
    f.refuse("cancel_all_orders_after", dm, "EGeneral:Internal error");
    assert_eq!((f.closes(), armed(&f)), (0, false));

    let mut f = Fix::ready();
    let tokens = f.token_requests();
    let dm = f.last_req_id("cancel_all_orders_after", None);
    f.refuse("cancel_all_orders_after", dm, "ESession:Invalid session");
    assert_eq!(f.closes(), 1);
    assert_eq!(f.states().last(), Some(&ConnectionState::Disconnected));
    f.advance(10 * S);
    assert!(
        f.token_requests() > tokens,
        "a fresh token for the next connection"
    );
}

/// The executions subscription refused as an invalid session makes the connection again
/// with a fresh token at once; refused otherwise, it is asked again on the same connection.
#[test]
fn an_invalid_session_on_subscribing_reconnects_other_refusals_retry() {
    let mut f = Fix::new();
    f.token("T1");
    f.connect();
    let tokens = f.token_requests();
    let id = f.last_req_id("subscribe", Some("executions"));
    f.refuse("subscribe", id, "ESession:Invalid session");
    assert_eq!(f.closes(), 1);
    f.advance(10 * S);
    assert!(f.token_requests() > tokens);

    let mut g = Fix::new();
    g.token("T1");
    g.connect();
    let id = g.last_req_id("subscribe", Some("executions"));
    g.refuse("subscribe", id, "EGeneral:Internal error");
    assert_eq!(g.closes(), 0);
}

/// Which acknowledged requests are followed by executions frames (the ack then waits for
/// one): orders placed, changed or cancelled; not a validate-only add, a batch that placed
/// nothing, a cancel-all that cancelled nothing, or a subscription.
#[test]
fn acknowledged_requests_that_change_orders_are_followed_by_executions() {
    use crate::protocol::messages::Method::*;
    let ack = |method, result| Response {
        method,
        req_id: Some(1),
        success: true,
        error: None,
        error_kind: None,
        result,
        warnings: 0,
        time_in: None,
        time_out: None,
    };
    let placed = AckResult::Order {
        order_id: Some(crate::ids::OrderId::new("OA").unwrap()),
        cl_ord_id: None,
        order_userref: None,
    };
    let validated = AckResult::Order {
        order_id: None,
        cl_ord_id: None,
        order_userref: None,
    };
    let cases = [
        (ack(AddOrder, placed), false, true),
        (ack(AddOrder, validated), false, false),
        (ack(BatchAdd, AckResult::Batch { len: 2 }), true, true),
        (ack(BatchAdd, AckResult::Batch { len: 2 }), false, false),
        (ack(AmendOrder, AckResult::None), false, true),
        (ack(EditOrder, AckResult::None), false, true),
        (ack(CancelOrder, placed), false, true),
        (ack(CancelAll, AckResult::Count(0)), false, false),
        (ack(CancelAll, AckResult::Count(2)), false, true),
        (ack(BatchCancel, AckResult::Count(0)), false, false),
        (ack(BatchCancel, AckResult::Count(1)), false, true),
        (ack(BatchCancel, AckResult::None), false, true),
        (ack(Subscribe, AckResult::None), false, false),
        (ack(CancelAllOrdersAfter, AckResult::None), false, false),
    ];
    for (i, (r, batch_orders, want)) in cases.into_iter().enumerate() {
        assert_eq!(causes_executions(&r, batch_orders), want, "case {i}: {r:?}");
    }
}

/// A batch command whose body never came is not sent, over REST either.
#[test]
fn a_large_command_without_its_body_is_not_sent_over_rest_either() {
    let mut f = Fix::new();
    assert!(!f.s.is_ready());
    let cmd = Command::Order(OrderCommand::Large {
        req_id: RequestId(4),
        method: crate::protocol::messages::Method::BatchAdd,
    });
    f.s.handle_command(f.now, cmd, None, f.now, false);
    f.pump();
    assert!(
        !f.cold
            .iter()
            .any(|c| matches!(c, ColdRequest::Order { .. } | ColdRequest::Large { .. })),
        "{:?}",
        f.cold.len()
    );
}

/// Request ids up to 2^52 are the strategy's, above are the session's own: an answer carrying
/// 2^52 is the strategy's (here a late one), never swallowed as the session's.
#[test]
fn the_strategy_s_request_ids_reach_up_to_the_session_s_own() {
    let mut f = Fix::ready();
    f.ack("add_order", INTERNAL, r#"{"order_id":"OA"}"#);
    assert!(f.events.iter().any(
        |e| matches!(e, Event::Response { response, .. } if response.req_id == Some(INTERNAL))
    ));
}

/// The trade history read completely puts "no fills at risk" on record, once; not while a
/// gap seen during the read needs another one.
#[test]
fn a_complete_trade_history_clears_the_fills_at_risk_unless_another_gap_came() {
    let cleared = |f: &Fix| {
        f.events
            .iter()
            .filter(|e| matches!(e, Event::FillsAtRisk { since: None }))
            .count()
    };
    let asked = Fix::trades_asked;
    let complete = |(since, end, _): (Timestamp, Timestamp, u64)| ColdReply::Trades {
        reports: Vec::new(),
        since,
        end,
        next_ofs: 0,
        complete: true,
        error: None,
    };
    for gap_during_read in [false, true] {
        let mut f = Fix::ready();
        f.frame(&execution(1, "E1"));
        f.advance(S);
        f.frame(&execution(3, "E3"));
        f.ack_executions();
        let first = *asked(&f).last().expect("the history is read");
        if gap_during_read {
            f.frame(&execution(5, "E5"));
            f.frame(&execution(7, "E7"));
        }
        f.s.handle_cold(f.now, complete(first));
        f.pump();
        if gap_during_read {
            assert_eq!(cleared(&f), 0, "another read is due");
            assert_eq!(asked(&f).len(), 2);
        } else {
            assert_eq!(cleared(&f), 1);
            assert_eq!(asked(&f).len(), 1);
        }
    }
}

/// A stop disarms the dead man's switch where it can: on the socket when ready, over REST
/// when the socket is down but was ever up; not at all when it is off, or when no connection
/// ever armed it. A crash leaves it armed.
#[test]
fn a_stop_disarms_the_dead_mans_switch_where_it_was_armed() {
    let disarms = |f: &Fix| {
        let socket = f
            .sent("cancel_all_orders_after")
            .iter()
            .filter(|v| v["params"]["timeout"] == 0)
            .count();
        let rest = f
            .cold
            .iter()
            .filter(|c| matches!(c, ColdRequest::DeadMan { timeout_secs: 0 }))
            .count();
        (socket, rest)
    };
    let mut f = Fix::ready();
    f.s.handle_shutdown(f.now, false);
    f.pump();
    assert_eq!(disarms(&f), (1, 0), "on the socket");
    assert_eq!(f.closes(), 1, "then the socket is closed");
    assert!(!f.s.is_ready());

    let mut f = Fix::ready();
    f.s.handle_disconnected(f.now, "reset");
    f.pump();
    f.s.handle_shutdown(f.now, false);
    f.pump();
    assert_eq!(disarms(&f), (0, 1), "over REST");
    assert_eq!(f.closes(), 0, "no socket to close");

    let mut f = Fix::new();
    f.s.handle_shutdown(f.now, false);
    f.pump();
    assert_eq!(disarms(&f), (0, 0), "never armed");

    let mut off = config();
    off.dead_man_timeout_secs = 0;
    for down in [false, true] {
        let mut f = Fix::with(off.clone());
        f.token("T1");
        f.connect();
        f.ack_executions();
        if down {
            f.s.handle_disconnected(f.now, "reset");
        }
        f.s.handle_shutdown(f.now, false);
        f.pump();
        assert_eq!(disarms(&f), (0, 0), "switched off (down: {down})");
    }

    let mut f = Fix::ready();
    f.s.handle_shutdown(f.now, true);
    f.pump();
    assert_eq!(disarms(&f), (0, 0), "a crash");
}

/// Each request becomes unknown at its own deadline: the first's does not take the next with
/// it, and a deadline found late (the loop woke after it) is still honoured.
#[test]
fn requests_become_unknown_each_at_its_own_deadline() {
    let mut f = Fix::ready();
    f.add(1);
    let first = f.now;
    f.advance(S);
    f.add(2);
    f.run_until(first + 5 * S);
    assert_eq!(f.unknowns(), [(1, false)]);
    // The loop wakes 2 s after the second's deadline.
    f.now = first + 8 * S;
    f.s.handle_timeout(f.now);
    f.pump();
    assert_eq!(f.unknowns(), [(1, false), (2, false)]);
}

/// The watchdog gives a socket up only when it has been quiet for longer than the watchdog
/// time, counted from the handshake or from the last frame; checked at the handshake's
/// watchdog time, it next looks one watchdog time after the last frame.
#[test]
fn the_watchdog_drops_a_socket_only_after_more_than_its_time_of_quiet() {
    let mut f = Fix::new();
    f.token("T1");
    assert!(f.s.poll_connect(f.now));
    let up = f.now;
    f.s.handle_connected(up);
    f.pump();
    f.run_until(up + 9 * S);
    assert_eq!(f.closes(), 0, "quiet for exactly the watchdog time");
    f.run_until(up + 9 * S + 1);
    assert_eq!(f.closes(), 1);

    let mut g = Fix::new();
    g.token("T1");
    assert!(g.s.poll_connect(g.now));
    let up = g.now;
    g.s.handle_connected(up);
    g.pump();
    g.advance(S);
    g.frame(r#"{"channel":"heartbeat"}"#);
    let last = g.now;
    g.run_until(up + 9 * S);
    assert_eq!(g.closes(), 0);
    assert_eq!(g.s.timers.get(Timer::Watchdog), Some(last + 9 * S + 1));
}

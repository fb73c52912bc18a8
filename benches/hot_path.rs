//! The engine's hot path without sockets, and one SPSC ring hop between threads.
//!
//! - `order_round_trip_no_socket`: everything the two engine threads do for one order, in one
//!   thread: validation against the instrument, the rate counter, the tracker's submit, the
//!   command ring (push, pop), encode `add_order`; then decode of the ack and of the
//!   `canceled` executions frame, the event ring, the tracker applying both (status events to
//!   a strategy). What remains in a real round trip is TLS, the kernel and the exchange.
//! - `order_round_trip_no_socket_deadline`: the same with Kraken's `deadline` on the order, as
//!   the engine now sends every order request (the stamp and its encoding).
//! - `rtrb_ping_pong`: one `Copy` command-sized value to a thread pinned on the other core and
//!   back (two hops), busy-polling both ends.
//!
//! Run: `cargo bench --bench hot_path`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use kraken_exec::internals::{Command, Issued, OrderCommand};
use kraken_exec::protocol::{Decoder, Inbound, encode};
use kraken_exec::risk::{RateCounter, Tier, Transaction};
use kraken_exec::{
    AddOrder, Instrument, OrderTracker, PairStatus, Side, SymbolTable, Timestamp, TrackerConfig,
};
use rust_decimal_macros::dec;

/// Order lifecycles in flight at once before ids are reused: more than the tracker retains.
const K: u64 = 8192;

fn oid(i: u64) -> String {
    format!("O{:05}-{:05}-{:06}", i % 100_000, i % 7, i)
}

fn order_round_trip(c: &mut Criterion) {
    round_trip(c, "order_round_trip_no_socket", false);
    round_trip(c, "order_round_trip_no_socket_deadline", true);
}

/// `deadline`: as the engine sends every order since it carries Kraken's `deadline` (a clock
/// read, an atomic load for the exchange's clock offset, and the timestamp encoded).
fn round_trip(c: &mut Criterion, name: &str, deadline: bool) {
    let offset = std::sync::atomic::AtomicI64::new(0);
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let btc = syms.get("BTC/USD").unwrap();
    let ins = Instrument {
        symbol: btc,
        status: PairStatus::Online,
        price_increment: dec!(0.1),
        qty_increment: dec!(0.00000001),
        qty_min: dec!(0.0001),
        cost_min: dec!(0.5),
    };
    let o = AddOrder::limit(btc, Side::Buy, dec!(0.0125), dec!(65000.1)).post_only();
    let mut rate = RateCounter::new(Tier::Pro, syms.len());
    rate.calibrate(1_000_000);
    let mut cfg = TrackerConfig::default();
    cfg.retention = 1000;
    let mut tracker = OrderTracker::new(cfg, syms.len());
    let (mut cmd_tx, mut cmd_rx) = rtrb::RingBuffer::<Issued>::new(1024);
    let mut dec = Decoder::new();
    let mut out = Vec::with_capacity(1024);
    let token = "G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY";
    // The exchange's answers, written up front: request i gets ack i % K.
    let frames: Vec<(Vec<u8>, Vec<u8>)> = (0..K)
        .map(|i| {
            let o = oid(i);
            (
                format!(r#"{{"method":"add_order","req_id":{},"result":{{"order_id":"{o}"}},"success":true,"time_in":"2023-09-21T14:15:07.197274Z","time_out":"2023-09-21T14:15:07.205301Z"}}"#, i + 1).into_bytes(),
                format!(r#"{{"channel":"executions","type":"update","data":[{{"timestamp":"2023-09-22T10:33:05.709982Z","order_status":"canceled","exec_type":"canceled","cum_qty":0,"reason":"User requested","order_id":"{o}"}}],"sequence":{}}}"#, i + 2).into_bytes(),
            )
        })
        .collect();
    let mut events = 0u64;
    let mut n = 0u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            let slot = n % K;

            let req_id = kraken_exec::RequestId(slot + 1);
            // A second apart: the rate counter decays between orders, as at a sustainable pace.
            let now = n * 1_000_000_000;
            n += 1;
            // Strategy thread: validate, rate-count, track, push.
            o.validate(&ins, Timestamp(0)).unwrap();
            // The engine stamps the deadline after validation.
            let mut o = o;
            if deadline {
                let wall = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros() as i64;
                o.deadline = Some(Timestamp(wall + offset.load(Ordering::Relaxed) + 5_000_000));
            }
            rate.try_charge(btc, Transaction::Add, now).unwrap();
            tracker.submit_add(req_id, &o, now, &mut |_| events += 1);
            let _ = cmd_tx.push(Issued {
                cmd: Command::Order(OrderCommand::Add { req_id, order: o }),
                at_ns: now,
            });
            // I/O thread: pop, encode.
            if let Ok(Issued {
                cmd: Command::Order(OrderCommand::Add { req_id, order }),
                ..
            }) = cmd_rx.pop()
            {
                encode::add_order(&mut out, &order, &syms, token, req_id.0);
                black_box(out.len());
            }
            // The answers: decode, then the strategy applies them.
            let (ack, canceled) = &frames[slot as usize];
            if let Ok(Inbound::Response(r)) = dec.decode(ack, &syms) {
                tracker.on_response(&r, dec.batch(), now, &mut |_| events += 1);
            }
            if let Ok(Inbound::Executions { kind, .. }) = dec.decode(canceled, &syms) {
                tracker.on_executions(kind, dec.executions(), now, &mut |_| events += 1);
            }
        })
    });
    // Every order was opened and cancelled: the path did its work.
    assert_eq!(tracker.stats().orders_cancelled, n);
    assert_eq!(tracker.stats().active_orders, 0);
    black_box(events);
}

fn ring_hop(c: &mut Criterion) {
    let (mut to_tx, mut to_rx) = rtrb::RingBuffer::<Issued>::new(1024);
    let (mut back_tx, mut back_rx) = rtrb::RingBuffer::<Issued>::new(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    // The echo thread on core 1, the bench on core 0 (the engine's layout).
    let echo = std::thread::spawn(move || {
        let _ = core_affinity::set_for_current(core_affinity::CoreId { id: 1 });
        while !s.load(Ordering::Relaxed) {
            if let Ok(v) = to_rx.pop() {
                let _ = back_tx.push(v);
            } else {
                std::hint::spin_loop();
            }
        }
    });
    let _ = core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
    let msg = Issued {
        cmd: Command::Order(OrderCommand::CancelAll {
            req_id: kraken_exec::RequestId(7),
        }),
        at_ns: 1,
    };
    c.bench_function("rtrb_ping_pong_two_hops", |b| {
        b.iter(|| {
            let _ = to_tx.push(black_box(msg));
            loop {
                if let Ok(v) = back_rx.pop() {
                    black_box(v);
                    break;
                }
                std::hint::spin_loop();
            }
        })
    });
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
}

/// A sink that keeps nothing: the socket's place, so only framing is measured.
struct Sink;

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(black_box(buf).len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Read for Sink {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

/// Framing an encoded add_order as a masked client text frame: ours (a reused buffer) next to
/// tungstenite's `Message` API (what the engine used before), same payload, same run.
fn ws_framing(c: &mut Criterion) {
    let syms = SymbolTable::from_names(["BTC/USD"]);
    let o = AddOrder::limit(
        syms.get("BTC/USD").unwrap(),
        Side::Buy,
        dec!(0.0125),
        dec!(65000.1),
    )
    .post_only();
    let mut payload = Vec::with_capacity(512);
    encode::add_order(
        &mut payload,
        &o,
        &syms,
        "G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY",
        123_456,
    );
    let text = std::str::from_utf8(&payload).unwrap().to_string();
    let mut g = c.benchmark_group("ws_frame_add_order");
    let mut out = Vec::with_capacity(1024);
    g.bench_function("kraken_exec_frame_into", |b| {
        b.iter(|| {
            kraken_exec::internals::frame_into(&mut out, black_box(text.as_bytes()), [1, 2, 3, 4]);
            black_box(out.len());
        })
    });
    let mut ws =
        tungstenite::WebSocket::from_raw_socket(Sink, tungstenite::protocol::Role::Client, None);
    g.bench_function("tungstenite_message", |b| {
        b.iter(|| {
            ws.write(tungstenite::Message::text(black_box(text.as_str())))
                .unwrap();
            ws.flush().unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, order_round_trip, ring_hop, ws_framing);
criterion_main!(benches);

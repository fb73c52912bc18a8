//! Latency harness. Every figure in one run, on one machine, against loopback servers:
//!
//! - `floor-tcp`: raw TCP ping-pong with the size of an add_order request/ack.
//! - `floor-wss`: the same over TLS + WebSocket (rustls + tungstenite), no Kraken logic.
//! - `engine`: kraken-exec `add_order` → ack in the strategy's hands, and `cancel_order` → ack,
//!   through the whole engine (validation, rings, I/O thread, TLS, decode, tracker) against
//!   kraken-reflector.
//! - `interleaved`: the floor and kraken-exec same-thread in turns of `--batch` round trips on
//!   one thread and core, so the machine's slow spells fall on both.
//! - `all`: the three, one after the other, with the overhead over the floor.
//!
//! Clients busy-poll; servers block in `read` (this machine has two cores).
//! Histograms go to `<out>/<name>.hgrm` (HdrHistogram percentile distribution format).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

mod engine_runs;
mod peers;
use hdrhistogram::Histogram;
use kraken_exec::engine::{self, EngineConfig, IdleStrategy, Strategy};
use kraken_exec::orders::StatusChange;
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_exec::{AddOrder, ClOrdId, OrderRef, OrderStatus, Side};
use kraken_reflector::Reflector;
use rust_decimal::Decimal;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Round trips per measure.
    #[arg(long, global = true, default_value_t = 20_000)]
    n: usize,
    /// Warm-up round trips (not recorded).
    #[arg(long, global = true, default_value_t = 2_000)]
    warmup: usize,
    /// Where the .hgrm files go.
    #[arg(long, global = true, default_value = "target/latency")]
    out: PathBuf,
    /// A quick pass (3,000 round trips, 500 warm-up): under two minutes for `all`.
    #[arg(long, global = true)]
    quick: bool,
    /// Core the servers run on. 0 (default): beside the strategy thread, which yields when
    /// idle, so the I/O thread has core 1 alone and tick-to-wire is clean. 1: beside the I/O
    /// thread, so the strategy has core 0 alone and wire-to-strategy is clean.
    #[arg(long, global = true, default_value_t = 0)]
    server_core: usize,
    /// Engines in same-thread mode: the strategy's thread drives the sockets, pinned to core
    /// 1 (no I/O thread).
    #[arg(long, global = true)]
    same_thread: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Raw TCP ping-pong.
    FloorTcp,
    /// TLS + WebSocket ping-pong.
    FloorWss {
        /// The client's socket blocking, not busy-polled: no spin is counted when the client's
        /// instructions are counted (callgrind; PERF.md "Instructions per round trip").
        #[arg(long)]
        blocking: bool,
    },
    /// kraken-exec against the reflector over TLS: add/cancel round trips, and the engine's
    /// own tick-to-wire and wire-to-strategy.
    Engine,
    /// The same against kraken-sim (matching, rate counter, ledger).
    EngineSim,
    /// Tick-to-trade, wire to wire at the server: a book update written → the add_order it
    /// caused read (reflector), beside the TLS + WebSocket floor in the same run.
    TickToTrade,
    /// add → ack with 1, 10, 100, 1000 orders resting (reflector).
    Scale,
    /// add → ack at fixed order rates, open loop (reflector).
    Rate,
    /// The TLS + WebSocket floor, kraken-exec in both layouts, kraken-async-rs and
    /// python-kraken-sdk: same reflector, same run, overheads over the floor.
    Peers,
    /// The TLS + WebSocket floor and kraken-exec same-thread taken in turns (`--batch` round
    /// trips of each), same thread and core, so the machine's slow spells fall on both: the
    /// overhead over the floor, and its median over the turns.
    Interleaved {
        /// Round trips of each per turn.
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
    /// Everything, in one run.
    All,
    /// kraken-sim's request throughput from one connection (pipelined add_order).
    SimThroughput {
        /// Orders resting on the book (placed before the run, far from the market).
        #[arg(long, default_value_t = 0)]
        resting: usize,
    },
    /// kraken-exec's sustained order rate: adds (each then cancelled) through the whole engine
    /// against the reflector, up to 256 in flight.
    EngineThroughput,
}

/// Request and answer sizes of one add_order round trip (our encoded request, the reflector's
/// ack), so the floors move the same bytes.
const REQ: usize = 230;
const RESP: usize = 190;

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("bounds")
}

fn report(name: &str, h: &Histogram<u64>, out: &PathBuf) {
    println!(
        "{name:<28} p50 {:>8.2} µs  p90 {:>8.2}  p99 {:>8.2}  p99.9 {:>8.2}  max {:>9.2}  n {}",
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.9) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.value_at_quantile(0.999) as f64 / 1e3,
        h.max() as f64 / 1e3,
        h.len()
    );
    let _ = std::fs::create_dir_all(out);
    let mut s = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in h.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            1.0 / (1.0 - q)
        } else {
            f64::INFINITY
        };
        s.push_str(&format!(
            "{:12.3} {:14.12} {:10} {:14.2}\n",
            v.value_iterated_to() as f64 / 1e3,
            q,
            v.count_since_last_iteration(),
            inv
        ));
    }
    s.push_str(&format!(
        "#[Mean = {:.3}, StdDeviation = {:.3}]\n",
        h.mean() / 1e3,
        h.stdev() / 1e3
    ));
    s.push_str(&format!(
        "#[Max = {:.3}, Total count = {}]\n",
        h.max() as f64 / 1e3,
        h.len()
    ));
    let _ = std::fs::write(out.join(format!("{name}.hgrm")), s);
}

fn pin(core: usize) {
    let _ = core_affinity::set_for_current(core_affinity::CoreId { id: core });
}

fn floor_tcp(n: usize, warmup: usize) -> Histogram<u64> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; REQ];
        let resp = [b'x'; RESP];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&resp).is_err() {
                break;
            }
        }
    });
    // The client takes the I/O thread's place: alone on core 1, the server on core 0.
    pin(1);
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    c.set_nonblocking(true).unwrap();
    let req = [b'y'; REQ];
    let mut buf = [0u8; RESP];
    let mut h = hist();
    for i in 0..n + warmup {
        let t = Instant::now();
        c.write_all(&req).unwrap();
        let mut got = 0;
        while got < RESP {
            match c.read(&mut buf[got..]) {
                Ok(0) => panic!("server closed"),
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        }
        if i >= warmup {
            let _ = h.record(t.elapsed().as_nanos() as u64);
        }
    }
    pin(0);
    h
}

fn floor_wss(n: usize, warmup: usize) -> Histogram<u64> {
    let mut f = FloorWss::start();
    pin(1);
    let mut h = hist();
    for i in 0..n + warmup {
        let d = f.round_trip();
        if i >= warmup {
            let _ = h.record(d);
        }
    }
    pin(0);
    h
}

/// The TLS + WebSocket floor: a rustls + tungstenite client and an echo server thread that
/// answers each text message with one of an ack's size.
pub struct FloorWss {
    ws: tungstenite::WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
    req: String,
}

impl FloorWss {
    /// Starts the server (its thread on this thread's core) and connects a client to it.
    pub fn start() -> Self {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let scfg = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![ck.cert.der().clone()], key)
                .unwrap(),
        );
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            let conn = rustls::ServerConnection::new(scfg).unwrap();
            let mut ws = tungstenite::accept(rustls::StreamOwned::new(conn, s)).unwrap();
            let resp = "x".repeat(RESP);
            while let Ok(m) = ws.read() {
                if m.is_text() && ws.send(tungstenite::Message::text(resp.clone())).is_err() {
                    break;
                }
            }
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let ccfg = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_nodelay(true).unwrap();
        let conn = rustls::ClientConnection::new(ccfg, "localhost".try_into().unwrap()).unwrap();
        let (ws, _) = tungstenite::client(
            format!("wss://localhost:{port}/v2"),
            rustls::StreamOwned::new(conn, tcp),
        )
        .unwrap();
        ws.get_ref().sock.set_nonblocking(true).unwrap();
        Self {
            ws,
            req: "y".repeat(REQ),
        }
    }

    /// One request written → its answer read, busy-polling, in ns.
    pub fn round_trip(&mut self) -> u64 {
        let ws = &mut self.ws;
        let t = Instant::now();
        let mut r = ws.send(tungstenite::Message::text(self.req.clone()));
        while let Err(tungstenite::Error::Io(e)) = &r {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                break;
            }
            r = ws.flush();
        }
        loop {
            match ws.read() {
                Ok(m) if m.is_text() => break,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::hint::spin_loop()
                }
                Err(e) => panic!("{e}"),
            }
        }
        t.elapsed().as_nanos() as u64
    }
}

/// Pipelines `n` requests (add_order, cancel_order, alternating) on one plain WebSocket and
/// counts the acks: the simulator's sustained request rate from one connection.
fn sim_throughput(n: usize, resting: usize) -> f64 {
    use kraken_sim::{Sim, SimConfig, Tier};
    // The simulator's threads on core 1, this client on core 0.
    let sim = std::thread::spawn(|| {
        pin(1);
        Sim::start(SimConfig {
            market_flow: false,
            tier: Tier::Unlimited,
            ..SimConfig::default()
        })
    })
    .join()
    .unwrap()
    .unwrap();
    let now = sim.now();
    let token = sim.with_exchange(|e| e.issue_token(0, now));
    // A deep book first: buys from 20,000 down, sells from 120,000 up, one tick apart.
    sim.with_exchange(|e| {
        for i in 0..resting {
            let buy = i % 2 == 0;
            let ticks = rust_decimal::Decimal::from(i / 2) / rust_decimal::Decimal::from(10);
            let px = if buy {
                rust_decimal::Decimal::from(20_000) - ticks
            } else {
                rust_decimal::Decimal::from(120_000) + ticks
            };
            let o = kraken_sim::exchange::NewOrder {
                symbol: "BTC/USD".into(),
                buy,
                order_type: "limit".into(),
                qty: Some(rust_decimal::Decimal::new(1, 4)),
                limit_price: Some(px),
                tif: "gtc".into(),
                ..Default::default()
            };
            e.add_order(0, &o, now).expect("a resting order");
        }
    });
    let (mut ws, _) = tungstenite::connect(sim.ws_url()).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_nodelay(true).unwrap();
    }
    let t0 = Instant::now();
    let (mut sent, mut acked) = (0usize, 0usize);
    let window = 256;
    while acked < n {
        while sent < n && sent - acked < window {
            // Adds far from the market (they rest, nothing trades), each followed by its cancel,
            // so the book stays small and every request does real work.
            let m = if sent % 2 == 0 {
                let (side, px) = if sent % 4 == 0 {
                    ("buy", "30000.0")
                } else {
                    ("sell", "99000.0")
                };
                format!(
                    r#"{{"method":"add_order","params":{{"order_type":"limit","side":"{side}","order_qty":0.0001,"limit_price":{px},"symbol":"BTC/USD","cl_ord_id":"t{}","token":"{token}"}},"req_id":{sent}}}"#,
                    sent / 2
                )
            } else {
                format!(
                    r#"{{"method":"cancel_order","params":{{"cl_ord_id":["t{}"],"token":"{token}"}},"req_id":{sent}}}"#,
                    sent / 2
                )
            };
            ws.write(tungstenite::Message::text(m)).unwrap();
            sent += 1;
        }
        ws.flush().unwrap();
        match ws.read().unwrap() {
            tungstenite::Message::Text(t)
                if t.as_str().starts_with(r#"{"method":"add_order""#)
                    || t.as_str().starts_with(r#"{"method":"cancel_order""#) =>
            {
                assert!(t.as_str().contains(r#""success":true"#), "{}", t.as_str());
                acked += 1;
            }
            _ => {}
        }
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

#[derive(Default)]
struct Opened(Vec<ClOrdId>);

impl Strategy for Opened {
    fn on_status_change(&mut self, c: &StatusChange) {
        if let (OrderStatus::Open, Some(id)) = (c.to, c.cl_ord_id) {
            self.0.push(id);
        }
    }
}

fn engine_throughput(n: u64) -> (f64, engine::Statistics) {
    let r = Reflector::start(true, false).unwrap();
    let creds = Credentials {
        key: "bench".into(),
        secret: ApiSecret::from_base64("c2VjcmV0").unwrap(),
    };
    let mut cfg = EngineConfig::new(creds, &["BTC/USD"]);
    cfg.ws_url = r.ws_url.clone();
    cfg.rest_url = r.rest_url.clone();
    // The reflector answers REST in plain HTTP on loopback.
    cfg.allow_insecure_local = true;
    cfg.extra_ca_pem = r.ca_pem.clone().map(String::into_bytes);
    cfg.idle = IdleStrategy::Spin;
    cfg.io_core = Some(1);
    cfg.subscribe_balances = false;
    cfg.ring_capacity = 4096;
    let mut t = engine::start(cfg).unwrap();
    pin(0);
    let mut opened = Opened::default();
    assert!(
        t.wait_ready(&mut opened, Duration::from_secs(10)),
        "engine not ready"
    );
    let btc = t.symbol("BTC/USD").unwrap();
    let price = Decimal::new(650001, 1);
    let (mut sent, mut acked, mut in_flight) = (0u64, 0u64, 0u64);
    let t0 = Instant::now();
    while acked < n {
        while sent < n && in_flight < 256 {
            let id = ClOrdId::with_counter("tp", sent).unwrap();
            match t
                .add_order(AddOrder::limit(btc, Side::Buy, Decimal::new(1, 2), price).cl_ord_id(id))
            {
                Ok(_) => {
                    sent += 1;
                    in_flight += 1;
                }
                Err(_) => break,
            }
        }
        if t.poll(&mut opened) == 0 {
            std::thread::yield_now();
        }
        for id in opened.0.drain(..) {
            acked += 1;
            in_flight -= 1;
            if let Some(oid) = t
                .order_status(&OrderRef::ClOrdId(id))
                .and_then(|o| o.order_id)
            {
                let _ = t.cancel_order(OrderRef::OrderId(oid));
            }
        }
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    let s = t.statistics();
    let _ = t.shutdown();
    (rate, s)
}

/// Latency by percentile of the round trips, as a PNG next to the histograms (matplotlib, in
/// the peers' venv).
fn plot(out: &std::path::Path) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let png = out.join("latency.png");
    let st = std::process::Command::new(root.join("../../target/peers/venv/bin/python"))
        .arg(root.join("plot.py"))
        .arg(out)
        .arg(&png)
        .status();
    if !matches!(st, Ok(s) if s.success()) {
        println!("plot skipped (run tools/latency/peers/setup.sh for matplotlib)");
    }
}

fn report_engine(tag: &str, r: &engine_runs::EngineRun, out: &PathBuf) {
    report(&format!("{tag}_add_to_ack"), &r.add, out);
    report(&format!("{tag}_add_to_first_exec"), &r.add_to_exec, out);
    report(&format!("{tag}_cancel_to_ack"), &r.cancel, out);
    report(&format!("{tag}_tick_to_pop"), &r.report.tick_to_pop, out);
    report(&format!("{tag}_tick_to_wire"), &r.report.tick_to_wire, out);
    report(
        &format!("{tag}_frame_to_ring"),
        &r.report.frame_to_ring,
        out,
    );
    report(
        &format!("{tag}_wire_to_strategy"),
        &r.report.wire_to_strategy,
        out,
    );
    println!(
        "  ({} orders over the WebSocket, {} refused locally, {} decode errors, {} frames in)",
        r.stats.websocket_orders, r.stats.refused_locally, r.stats.decode_errors, r.stats.frames_in
    );
}

fn main() {
    let mut cli = Cli::parse();
    // Servers start from this thread and inherit its core: 0, shared with the strategy thread
    // (which yields when idle), so the engine's I/O thread has core 1 to itself. The floors'
    // clients take core 1 the same way.
    pin(0);
    if cli.quick {
        cli.n = 3_000;
        cli.warmup = 500;
    }
    let out = cli.out.clone();
    engine_runs::SAME_THREAD.store(cli.same_thread, std::sync::atomic::Ordering::Relaxed);
    println!(
        "round trips on loopback, {} measured after {} warm-up; client pinned, server blocking",
        cli.n, cli.warmup
    );
    let run_floor_tcp = || {
        let h = floor_tcp(cli.n, cli.warmup);
        report("floor_tcp", &h, &out);
        h
    };
    let run_floor_wss = || {
        let h = floor_wss(cli.n, cli.warmup);
        report("floor_tls_ws", &h, &out);
        h
    };
    let run_engine = |server: &engine_runs::Server, tag: &str| {
        let r = engine_runs::rtt(server, cli.n, cli.warmup, 0);
        report_engine(tag, &r, &out);
        r
    };
    let run_t2t = || {
        let server = engine_runs::Server::reflector(cli.server_core);
        let h = engine_runs::tick_to_trade(&server, cli.n, cli.warmup);
        report("kraken_exec_tick_to_trade", &h, &out);
        h
    };
    let run_scale = |n: usize| {
        let server = engine_runs::Server::reflector(cli.server_core);
        for resting in [1usize, 10, 100, 1000] {
            let r = engine_runs::rtt(&server, n, cli.warmup.min(n), resting);
            let tag = format!("scale_open_{resting}");
            // Only the round trip: the engine's own histograms also hold the burst that
            // placed the resting orders.
            report(&format!("{tag}_add_to_ack"), &r.add, &out);
        }
    };
    let run_peers = |ours: &Histogram<u64>| {
        let mut got = Vec::new();
        if let Err(e) = peers::setup() {
            println!("peers skipped: {e}");
            return got;
        }
        // Python is slow: fewer round trips keep the run short, and its percentiles are stable.
        for (peer, n) in [
            ("kraken-async-rs", cli.n),
            ("python-kraken-sdk", cli.n.min(5_000)),
        ] {
            match peers::run(peer, n, cli.warmup.min(n), &out) {
                Ok(h) => {
                    report(
                        &format!("peer_{}_add_to_ack", peer.replace('-', "_")),
                        &h,
                        &out,
                    );
                    for q in [0.5, 0.99] {
                        println!(
                            "  p{}: {peer} / kraken-exec = {:.1}x",
                            q * 100.0,
                            h.value_at_quantile(q) as f64 / ours.value_at_quantile(q) as f64
                        );
                    }
                    got.push((peer.to_string(), h));
                }
                Err(e) => println!("{peer}: {e}"),
            }
        }
        got
    };
    let run_rate = |n: usize| {
        let server = engine_runs::Server::reflector(cli.server_core);
        for rate in [1_000u64, 10_000, 30_000] {
            let (h, _) = engine_runs::paced(&server, rate, n);
            report(&format!("rate_{rate}_per_s_add_to_ack"), &h, &out);
        }
    };
    match cli.cmd {
        Cmd::FloorTcp => {
            run_floor_tcp();
        }
        Cmd::FloorWss { blocking: false } => {
            run_floor_wss();
        }
        Cmd::FloorWss { blocking: true } => {
            let mut f = FloorWss::start();
            f.ws.get_ref().sock.set_nonblocking(false).unwrap();
            pin(1);
            let t = Instant::now();
            for _ in 0..cli.n + cli.warmup {
                f.round_trip();
            }
            println!(
                "{} blocking floor round trips, {:.1} µs each",
                cli.n + cli.warmup,
                t.elapsed().as_secs_f64() * 1e6 / (cli.n + cli.warmup) as f64
            );
        }
        Cmd::Engine => {
            run_engine(
                &engine_runs::Server::reflector(cli.server_core),
                "kraken_exec",
            );
        }
        Cmd::EngineSim => {
            run_engine(
                &engine_runs::Server::sim(cli.server_core),
                "kraken_exec_sim",
            );
        }
        Cmd::Scale => run_scale(cli.n),
        Cmd::TickToTrade => {
            let w = run_floor_wss();
            let h = run_t2t();
            for q in [0.5, 0.99, 0.999] {
                let d = h.value_at_quantile(q) as f64 - w.value_at_quantile(q) as f64;
                println!(
                    "at p{}: tick-to-trade over the TLS+WS floor {:.2} µs",
                    q * 100.0,
                    d / 1e3
                );
            }
        }
        Cmd::Peers => {
            // One run: the floor, both of our layouts, the peers; overheads over the floor.
            let floor = run_floor_wss();
            let mut ours = Vec::new();
            for (same, tag) in [
                (false, "kraken_exec_threaded"),
                (true, "kraken_exec_same_thread"),
            ] {
                engine_runs::SAME_THREAD.store(same, std::sync::atomic::Ordering::Relaxed);
                let e = run_engine(&engine_runs::Server::reflector(cli.server_core), tag);
                ours.push((tag, e.add));
            }
            engine_runs::SAME_THREAD.store(cli.same_thread, std::sync::atomic::Ordering::Relaxed);
            let peers = run_peers(&ours[1].1);
            let over = |h: &Histogram<u64>, q: f64| {
                (h.value_at_quantile(q) as f64 - floor.value_at_quantile(q) as f64) / 1e3
            };
            println!("add → ack over the TLS + WebSocket floor (µs, same run):");
            for (tag, h) in ours
                .iter()
                .map(|(t, h)| (t.to_string(), h))
                .chain(peers.iter().map(|(p, h)| (p.clone(), h)))
            {
                println!(
                    "  {tag:<28} p50 {:>7.2}  p99 {:>7.2}",
                    over(h, 0.5),
                    over(h, 0.99)
                );
            }
            for (peer, h) in &peers {
                for (tag, e) in &ours {
                    println!(
                        "  overhead ratio {peer} / {tag}: p50 {:.2}x  p99 {:.2}x",
                        over(h, 0.5) / over(e, 0.5),
                        over(h, 0.99) / over(e, 0.99)
                    );
                }
            }
        }
        Cmd::Interleaved { batch } => {
            // The floor's server starts from this thread, on core 0 beside the reflector's;
            // both clients then run on core 1.
            let mut floor = FloorWss::start();
            let server = engine_runs::Server::reflector(cli.server_core);
            let (f, o, mut diffs) =
                engine_runs::interleaved(&server, &mut floor, cli.n, cli.warmup, batch);
            pin(0);
            report("interleaved_floor_tls_ws", &f, &out);
            report("interleaved_kraken_exec_same_thread_add_to_ack", &o, &out);
            let over =
                |q: f64| (o.value_at_quantile(q) as f64 - f.value_at_quantile(q) as f64) / 1e3;
            println!(
                "add → ack over the TLS + WebSocket floor, in turns of {batch}: p50 {:.2} µs  p99 {:.2} µs",
                over(0.5),
                over(0.99)
            );
            diffs.sort_unstable();
            let at = |q: f64| diffs[((diffs.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
            if !diffs.is_empty() {
                println!(
                    "  per turn, our median − the floor's: median {:.2} µs, quartiles {:.2} / {:.2} µs, over {} turns",
                    at(0.5),
                    at(0.25),
                    at(0.75),
                    diffs.len()
                );
            }
        }
        Cmd::Rate => run_rate(cli.n),
        Cmd::EngineThroughput => {
            let (r, s) = engine_throughput(cli.n as u64);
            println!(
                "kraken-exec: {} orders acked (each then cancelled) at {:.0} orders/s; {} requests over the WebSocket, {} refused locally",
                cli.n, r, s.websocket_orders, s.refused_locally
            );
        }
        Cmd::SimThroughput { resting } => {
            let r = sim_throughput(cli.n, resting);
            println!(
                "kraken-sim: {} order requests (add/cancel) from one connection, {resting} orders resting, at {:.0} requests/s",
                cli.n, r
            );
        }
        Cmd::All => {
            run_floor_tcp();
            let w = run_floor_wss();
            let e = run_engine(
                &engine_runs::Server::reflector(cli.server_core),
                "kraken_exec",
            );
            for q in [0.5, 0.99] {
                let d = e.add.value_at_quantile(q) as f64 - w.value_at_quantile(q) as f64;
                println!(
                    "at p{}: overhead over the TLS+WS floor {:.2} µs",
                    q * 100.0,
                    d / 1e3
                );
            }
            let _ = run_peers(&e.add);
            run_engine(
                &engine_runs::Server::sim(cli.server_core),
                "kraken_exec_sim",
            );
            run_scale(cli.n / 4);
            run_rate(cli.n);
            let (r, _) = engine_throughput(cli.n as u64 * 5);
            println!("kraken-exec: {:.0} orders/s acked (each then cancelled)", r);
            let r = sim_throughput(cli.n * 5, 0);
            println!("kraken-sim: {:.0} order requests/s from one connection", r);
            plot(&out);
        }
    }
}

//! `kraken-exec demo`: the engine trading against the embedded simulator over TLS, with a
//! small market-making strategy, a live status line, and a reconciliation against the
//! simulator's ledger at the end.

use std::io::Write;
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;
use kraken_exec::engine::{self, ConnectionState, EngineConfig, Strategy, Trader};
use kraken_exec::orders::{Fill, StatusChange};
use kraken_exec::risk::Tier;
use kraken_exec::{AddOrder, AmendOrder, BatchAdd, ClOrdId, OrderRef, OrderStatus, Side, SymbolId};
use kraken_sim::{Sim, SimConfig};
use rust_decimal::Decimal;

/// Demo options.
pub struct DemoArgs {
    /// How long to trade.
    pub duration: Duration,
    /// Inject disconnects and a token invalidation while trading.
    pub faults: bool,
    /// Market seed.
    pub seed: u64,
}

#[derive(Default)]
struct Book {
    /// Every fill delivered to the strategy, as delivered (compared with the ledger at the end).
    delivered: Vec<Fill>,
    fills: u64,
    filled_qty: Decimal,
    changes: u64,
    state: Option<ConnectionState>,
    reconnects: u64,
}

impl Strategy for Book {
    fn on_execution(&mut self, f: &Fill) {
        self.delivered.push(*f);
        self.fills += 1;
        self.filled_qty += f.qty;
    }
    fn on_status_change(&mut self, _: &StatusChange) {
        self.changes += 1;
    }
    fn on_connection(&mut self, s: ConnectionState) {
        if s == ConnectionState::Disconnected {
            self.reconnects += 1;
        }
        self.state = Some(s);
    }
}

/// A two-sided quote around the market: one bid, one ask, amended when the market moves,
/// cancelled and replaced now and then.
struct Quoter {
    symbol: SymbolId,
    tick: Decimal,
    spread_ticks: i64,
    size: Decimal,
    bid: Option<ClOrdId>,
    ask: Option<ClOrdId>,
    quoted_mid: Decimal,
    seq: u64,
    last_requote: Instant,
}

impl Quoter {
    fn id(&mut self) -> ClOrdId {
        self.seq += 1;
        ClOrdId::with_counter("mm-", self.seq).expect("short id")
    }

    fn live(t: &Trader, c: Option<ClOrdId>) -> bool {
        c.and_then(|c| t.order_status(&OrderRef::ClOrdId(c)))
            .is_some_and(|o| o.status.is_active() && o.status != OrderStatus::Unknown)
    }

    fn step(&mut self, t: &mut Trader, mid: Decimal) {
        let half = self.tick * Decimal::from(self.spread_ticks);
        let (bid_px, ask_px) = ((mid - half).round_dp(1), (mid + half).round_dp(1));
        let (bid_live, ask_live) = (Self::live(t, self.bid), Self::live(t, self.ask));
        if !bid_live && !ask_live {
            // Both sides in one batch.
            let (b, a) = (self.id(), self.id());
            let mut orders = ArrayVec::new();
            orders.push(
                AddOrder::limit(self.symbol, Side::Buy, self.size, bid_px)
                    .post_only()
                    .cl_ord_id(b),
            );
            orders.push(
                AddOrder::limit(self.symbol, Side::Sell, self.size, ask_px)
                    .post_only()
                    .cl_ord_id(a),
            );
            if t.batch_add(BatchAdd {
                symbol: self.symbol,
                orders,
                deadline: None,
                validate: false,
            })
            .is_ok()
            {
                (self.bid, self.ask, self.quoted_mid) = (Some(b), Some(a), mid);
            }
            return;
        }
        for (side, live, px) in [
            (Side::Buy, bid_live, bid_px),
            (Side::Sell, ask_live, ask_px),
        ] {
            if !live {
                let c = self.id();
                if t.add_order(
                    AddOrder::limit(self.symbol, side, self.size, px)
                        .post_only()
                        .cl_ord_id(c),
                )
                .is_ok()
                {
                    if side == Side::Buy {
                        self.bid = Some(c)
                    } else {
                        self.ask = Some(c)
                    }
                }
            }
        }
        if self.last_requote.elapsed() > Duration::from_secs(4) {
            // Cancel and requote from scratch now and then.
            self.last_requote = Instant::now();
            for c in [self.bid, self.ask].into_iter().flatten() {
                let _ = t.cancel_order(OrderRef::ClOrdId(c));
            }
            return;
        }
        if (mid - self.quoted_mid).abs() >= self.tick * Decimal::from(2) {
            // The market moved: amend in place (keeps the order ids).
            for (c, px) in [(self.bid, bid_px), (self.ask, ask_px)] {
                if let Some(c) = c {
                    let mut a = AmendOrder::new(OrderRef::ClOrdId(c)).price(px);
                    a.post_only = true;
                    let _ = t.amend_order(a);
                }
            }
            self.quoted_mid = mid;
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Runs the demo; returns the process exit code.
pub fn run(args: DemoArgs) -> u8 {
    let sim = match Sim::start(SimConfig {
        tls: true,
        seed: args.seed,
        walk_interval: Duration::from_millis(100),
        tier: kraken_sim::Tier::Pro,
        ..SimConfig::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kraken-exec demo: simulator: {e}");
            return 1;
        }
    };
    let mut cfg = EngineConfig::simulator(&sim, &["BTC/USD"]);
    // The layout that fits the machine: with fewer than three cores (the simulator needs one
    // too), the strategy's thread drives the sockets itself; otherwise an I/O thread does,
    // yielding rather than blocking between polls (the demo shows latency).
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let same_thread = cores < 3;
    cfg.idle = engine::IdleStrategy::Yield;
    if same_thread {
        cfg.threading = engine::Threading::SameThread;
    }
    cfg.tier = Tier::Pro;
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(500);
    println!(
        "kraken-exec demo: embedded kraken-sim at {} (TLS), {} s{}; {cores} cores: {}",
        sim.ws_url(),
        args.duration.as_secs(),
        if args.faults { ", with faults" } else { "" },
        if same_thread {
            "same-thread mode (this thread drives the sockets)"
        } else {
            "an I/O thread drives the sockets"
        }
    );
    let mut t = match engine::start(cfg) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kraken-exec demo: engine: {e}");
            return 1;
        }
    };
    let mut book = Book::default();
    if !t.wait_ready(&mut book, Duration::from_secs(10)) {
        eprintln!("kraken-exec demo: the engine did not connect");
        return 1;
    }
    let btc = t.symbol("BTC/USD").expect("configured");
    // The market maker quotes off the engine's own book (public socket, checksummed).
    if let Err(e) = t.subscribe_book(btc, 10) {
        eprintln!("kraken-exec demo: book: {e}");
        return 1;
    }
    let waiting = Instant::now();
    while t.book(btc).is_none() {
        if waiting.elapsed() > Duration::from_secs(10) {
            eprintln!("kraken-exec demo: no book from the public socket");
            return 1;
        }
        t.poll(&mut book);
        std::thread::sleep(Duration::from_millis(5));
    }
    let tick = t
        .instrument(btc)
        .map_or(Decimal::new(1, 1), |i| i.price_increment);
    let mut q = Quoter {
        symbol: btc,
        tick,
        spread_ticks: 3,
        size: Decimal::new(1, 2),
        bid: None,
        ask: None,
        quoted_mid: Decimal::ZERO,
        seq: 0,
        last_requote: Instant::now(),
    };
    let start = Instant::now();
    let mut last_line = Instant::now();
    let mut last_orders = 0;
    let mut faults_done = 0u32;
    // Best bid and ask of the engine's book, while it is in sync.
    let top = |t: &Trader| {
        let b = t.book(btc)?;
        Some((b.best_bid()?.price, b.best_ask()?.price))
    };
    let mut last_mid = Decimal::ZERO;
    // The strategy polls without pause (events and, in same-thread mode, the sockets) and
    // quotes every 20 ms.
    let mut next_step = Instant::now();
    while start.elapsed() < args.duration {
        if t.poll(&mut book) == 0 && Instant::now() < next_step {
            std::thread::yield_now();
            continue;
        }
        if Instant::now() < next_step {
            continue;
        }
        next_step = Instant::now() + Duration::from_millis(20);
        if t.connection() == ConnectionState::Ready
            && let Some((bid, ask)) = top(&t)
        {
            last_mid = (bid + ask) / Decimal::TWO;
            q.step(&mut t, last_mid);
        }
        if args.faults {
            let secs = start.elapsed().as_secs();
            if secs >= 4 + 4 * u64::from(faults_done) && faults_done < 4 {
                faults_done += 1;
                let f = match faults_done {
                    2 => "invalidate-tokens",
                    3 => "corrupt-book:1",
                    _ => "drop-now",
                };
                let _ = sim.fault(f);
                println!("\n  ! injected fault: {f}");
            }
        }
        if last_line.elapsed() >= Duration::from_secs(1) {
            let s = t.statistics();
            let orders = s.websocket_orders + s.rest_fallback_orders;
            print!(
                "\r  {:>4.1}s  {:>4} req/s  fills {:>4}  open {:>2}  wire->strategy p50 {:>5.1} µs  ack p50 {:>7.1} µs  {:?}  book {}        ",
                start.elapsed().as_secs_f64(),
                orders - last_orders,
                book.fills,
                t.active_orders().count(),
                us(s.wire_to_strategy.p50),
                us(s.ack.p50),
                t.connection(),
                top(&t).map_or("resyncing".to_string(), |(b, a)| format!("{b} / {a}"))
            );
            let _ = std::io::stdout().flush();
            last_orders = orders;
            last_line = Instant::now();
        }
    }
    println!();
    // Wind down: cancel everything, stop the market, let the last frames arrive.
    let settle = Instant::now();
    while t.connection() != ConnectionState::Ready && settle.elapsed() < Duration::from_secs(10) {
        t.poll(&mut book);
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = t.cancel_all();
    sim.with_exchange(|e| e.market_flow = false);
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(10) {
        t.poll(&mut book);
        let sim_fills = sim.with_exchange(|e| e.fills.len());
        if t.active_orders().count() == 0 && t.tracker().stats().fills as usize == sim_fills {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    t.poll(&mut book);
    let ok = summary(
        &t,
        &book,
        &sim,
        top(&t).map_or(last_mid, |(b, a)| (b + a) / Decimal::TWO),
    );
    let _ = t.shutdown();
    if ok { 0 } else { 1 }
}

fn summary(t: &Trader, book: &Book, sim: &Sim, mark: Decimal) -> bool {
    let s = t.statistics();
    let tr = s.tracker;
    println!("\nsummary");
    println!(
        "  orders   submitted {}  filled {}  cancelled {}  rejected {}  expired {}",
        tr.orders_submitted,
        tr.orders_filled,
        tr.orders_cancelled,
        tr.orders_rejected,
        tr.orders_expired
    );
    println!(
        "  routes   requests over the websocket {}  over REST (fallback) {}",
        s.websocket_orders, s.rest_fallback_orders
    );
    println!(
        "  stream   execution messages {}  fills {}  duplicate fills ignored {}  active orders {}",
        tr.execution_messages, tr.fills, tr.duplicate_fills, tr.active_orders
    );
    println!(
        "  link     connected {}  authenticated {}  connects {}  disconnects {}  sequence gaps {}  tokens {}  dead-man refreshes {}",
        s.connected,
        s.authenticated,
        s.connects,
        s.disconnects,
        s.sequence_gaps,
        s.tokens_fetched,
        s.dead_man_refreshes
    );
    let m = s.market;
    println!(
        "  market   book frames {}  checksum mismatches {}  resyncs {}  public connects {}  frame -> on_book p50 {:.1} µs p99 {:.1}",
        m.book_frames,
        m.book_mismatches,
        m.book_resyncs,
        m.connects,
        us(m.book_to_strategy.p50),
        us(m.book_to_strategy.p99)
    );
    println!(
        "  safety   breaker open {} (trips {})  refused locally {}  unknown outcomes {}  lookups {}  decode errors {}",
        s.breaker_open,
        s.breaker_trips,
        s.refused_locally,
        tr.unknown_outcomes,
        s.reconciliations,
        s.decode_errors
    );
    println!(
        "  latency  engine: wire -> strategy (frame readable -> its event in the strategy) p50 {:.1} µs  p99 {:.1}  n {}",
        us(s.wire_to_strategy.p50),
        us(s.wire_to_strategy.p99),
        s.wire_to_strategy.count
    );
    println!(
        "           ack (request written -> ack read, TLS loopback, the simulator's time included) p50 {:.1} µs  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  n {}",
        us(s.ack.p50),
        us(s.ack.p90),
        us(s.ack.p99),
        us(s.ack.p999),
        us(s.ack.max),
        s.ack.count
    );
    println!(
        "           (the demo's requests are sparse: on a VM most of an ack is the simulator's thread waking from sleep; `kraken-latency peers` measures the engine under load, PERF.md)"
    );
    for (sym, p) in t.positions() {
        println!(
            "  position {}  qty {}  avg {}  realised PnL {}  unrealised PnL at {} {}  fees {}",
            t.symbols().name(sym),
            p.qty,
            p.avg_price.round_dp(2),
            p.realized_pnl.round_dp(4),
            mark,
            p.unrealized_pnl(mark).round_dp(4),
            p.fees.round_dp(4)
        );
    }
    // Reconcile every fill and every order, both ways, against the simulator's ledger.
    let ledger = sim.ledger();
    let fills = ledger["fills"].as_array().cloned().unwrap_or_default();
    let orders = ledger["orders"].as_array().cloned().unwrap_or_default();
    let problems = reconcile(t, &book.delivered, &fills, &orders);
    if problems.is_empty() {
        println!(
            "  ledger   MATCH: every one of {} fills (exec_id, qty, price, fee) and {} orders (state, filled) agrees with the simulator's ledger, both ways",
            fills.len(),
            orders.len()
        );
        true
    } else {
        println!("  ledger   MISMATCH:");
        for p in problems.iter().take(20) {
            println!("    {p}");
        }
        false
    }
}

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str().and_then(|v| v.parse().ok()).unwrap_or_default()
}

/// Differences between what the strategy was told and the exchange's ledger: every fill
/// delivered exactly once with the ledger's qty, price and fee; every ledger order known to the
/// engine in the same state with the same filled quantity; every order the engine holds as
/// placed present in the ledger, and none it settled as not placed.
fn reconcile(
    t: &Trader,
    delivered: &[Fill],
    fills: &[serde_json::Value],
    orders: &[serde_json::Value],
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for f in delivered {
        *seen.entry(f.exec_id.as_str()).or_insert(0u32) += 1;
    }
    for (id, n) in &seen {
        if *n > 1 {
            problems.push(format!("fill {id} delivered {n} times"));
        }
        if !fills.iter().any(|f| f["exec_id"] == *id) {
            problems.push(format!("fill {id} is not in the ledger"));
        }
    }
    for f in fills {
        let id = f["exec_id"].as_str().unwrap_or_default();
        match delivered.iter().find(|m| m.exec_id.as_str() == id) {
            None => problems.push(format!("fill {id} was never delivered")),
            Some(m) => {
                let fee = m.fee.map(|f| f.qty).unwrap_or_default();
                if (m.qty, m.price, fee) != (dec(&f["qty"]), dec(&f["price"]), dec(&f["fee"])) {
                    problems.push(format!(
                        "fill {id}: {} @ {} fee {fee} vs {} @ {} fee {}",
                        m.qty, m.price, f["qty"], f["price"], f["fee"]
                    ));
                }
            }
        }
    }
    for o in orders {
        let Some(id) = o["order_id"].as_str().and_then(kraken_exec::OrderId::new) else {
            continue;
        };
        let by_cl = o["cl_ord_id"]
            .as_str()
            .and_then(|c| ClOrdId::new(c).ok())
            .and_then(|c| t.order_status(&OrderRef::ClOrdId(c)))
            .filter(|m| m.order_id.is_none_or(|m| m == id));
        let Some(m) = t.order_status(&OrderRef::OrderId(id)).or(by_cl) else {
            problems.push(format!("{id}: unknown to the engine"));
            continue;
        };
        let filled = dec(&o["filled"]);
        let want = match o["status"].as_str().unwrap_or_default() {
            "filled" => OrderStatus::Filled,
            "canceled" => OrderStatus::Canceled,
            "expired" => OrderStatus::Expired,
            "new" if filled.is_zero() => OrderStatus::Open,
            _ => OrderStatus::PartiallyFilled,
        };
        if m.filled_qty != filled || m.status != want {
            problems.push(format!(
                "{id}: engine {:?} filled {} vs exchange {want:?} filled {filled}",
                m.status, m.filled_qty
            ));
        }
    }
    for m in t.tracker().orders() {
        let at_exchange = orders.iter().any(|o| {
            m.order_id.is_some_and(|id| o["order_id"] == id.as_str())
                || (m.order_id.is_none()
                    && m.cl_ord_id.is_some_and(|c| o["cl_ord_id"] == c.as_str()))
        });
        if at_exchange != (m.status != OrderStatus::Rejected) {
            problems.push(format!(
                "{:?} ({:?}): engine {:?}, {} the ledger",
                m.order_id,
                m.cl_ord_id,
                m.status,
                if at_exchange { "in" } else { "not in" }
            ));
        }
    }
    problems
}

//! Crash and restart with real processes: the engine trades in a child process against a
//! kraken-sim in this one, and is killed with SIGKILL at seeded points (some right after it
//! announced it is in the middle of a burst of adds, so requests are in flight), then
//! restarted from its journal, again and again. After a last run that only settles, every
//! fill on the simulator's ledger was delivered exactly once across all the runs, and the
//! position and the live orders equal the ledger's.
//!
//! The child is this test binary run again with `--ignored --exact crash_child` and its
//! orders in `KXJ_CRASH_CHILD`; it reports on stdout, one `KX ...` line per fact (a pipe: a
//! line written before the kill is read after it).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kraken_exec::engine::{self, EngineConfig, IdleStrategy, Strategy, TradeError};
use kraken_exec::orders::{Fill, FillOrigin};
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_exec::risk::Tier;
use kraken_exec::{AddOrder, OrderRef, OrderStatus, Side};
use kraken_sim::{Sim, SimConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// Runs killed, then one that settles.
const KILLS: usize = 24;
/// Seed of the kill plan (a failure names it; set `KXJ_CRASH_SEED` to replay another).
const SEED: u64 = 0x6b78_6a31;

/// What the parent tells a child.
struct Orders {
    ws: String,
    rest: String,
    key: String,
    secret: String,
    journal: String,
    /// `trade`, `midburst` (announce a burst half-sent, then pause for the kill) or `settle`.
    mode: String,
}

impl Orders {
    fn encode(&self) -> String {
        [
            &self.ws,
            &self.rest,
            &self.key,
            &self.secret,
            &self.journal,
            &self.mode,
        ]
        .map(|s| s.as_str())
        .join("\u{1f}")
    }
    fn decode(s: &str) -> Orders {
        let v: Vec<&str> = s.split('\u{1f}').collect();
        Orders {
            ws: v[0].into(),
            rest: v[1].into(),
            key: v[2].into(),
            secret: v[3].into(),
            journal: v[4].into(),
            mode: v[5].into(),
        }
    }
}

/// The child's strategy: reports each fill as it hears it.
struct Reporter {
    out: std::io::Stdout,
}

impl Strategy for Reporter {
    fn on_execution(&mut self, f: &Fill) {
        let origin = match f.origin {
            FillOrigin::Live => "live",
            FillOrigin::Recovered => "recovered",
            FillOrigin::Historical => "historical",
        };
        // One write per line, straight to the pipe: what was written survives the kill.
        let mut o = self.out.lock();
        let _ = writeln!(o, "KX fill {} {} {origin}", f.exec_id.as_str(), f.qty);
        let _ = o.flush();
    }
    fn on_recovery_failing(&mut self, error: &str) {
        println!("KX recovery_failing {error}");
    }
    fn on_status_change(&mut self, c: &kraken_exec::orders::StatusChange) {
        if c.from == Some(OrderStatus::Unknown) || c.to == OrderStatus::Unknown {
            println!(
                "KX unknown_change {:?} {:?} {:?} {:?}",
                c.order_id, c.cl_ord_id, c.from, c.to
            );
        }
    }
}

/// xorshift64*: the kill plan, replayable from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The child: trades (or settles) until killed.
#[test]
#[ignore = "the crash test's child process; run by `a_trading_process_killed_again_and_again`"]
fn crash_child() {
    let Ok(spec) = std::env::var("KXJ_CRASH_CHILD") else {
        return;
    };
    let started = Instant::now();
    let o = Orders::decode(&spec);
    let mut cfg = EngineConfig::new(
        Credentials {
            key: o.key.clone(),
            secret: ApiSecret::from_base64(&o.secret).unwrap(),
        },
        &["BTC/USD"],
    );
    cfg.ws_url = o.ws.clone();
    cfg.rest_url = o.rest.clone();
    cfg.allow_insecure_local = true;
    cfg.idle = IdleStrategy::Block(Duration::from_millis(1));
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg.tier = Tier::Pro;
    cfg.journal = Some(kraken_exec::journal::JournalConfig::new(&o.journal));
    let mut t = engine::start(cfg).unwrap();
    let mut s = Reporter {
        out: std::io::stdout(),
    };
    assert!(t.wait_ready(&mut s, Duration::from_secs(20)), "not ready");
    println!("KX ready {}", started.elapsed().as_micros());
    let btc = t.symbol("BTC/USD").unwrap();
    if o.mode == "settle" {
        // Until every order is settled (lookups done) and the trade history was read.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            if t.poll(&mut s) > 0 {
                quiet_since = Instant::now();
            }
            let unsettled = t
                .tracker()
                .orders()
                .any(|o| matches!(o.status, OrderStatus::Unknown | OrderStatus::Pending));
            if !unsettled && quiet_since.elapsed() > Duration::from_secs(3) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        println!(
            "KX settle_time_ms {} unsettled {:?}",
            started.elapsed().as_millis(),
            t.tracker()
                .orders()
                .filter(|o| matches!(o.status, OrderStatus::Unknown | OrderStatus::Pending))
                .map(|o| o.cl_ord_id)
                .collect::<Vec<_>>()
        );
        let pos = t.positions().find(|(x, _)| *x == btc).map(|p| p.1.qty);
        println!("KX position {}", pos.unwrap_or_default());
        for o in t.tracker().active_orders() {
            println!(
                "KX live {} {:?} {}",
                o.order_id.map_or("-".into(), |i| i.as_str().to_string()),
                o.status,
                o.cl_ord_id.map_or("-".into(), |c| c.as_str().to_string()),
            );
        }
        let st = t.statistics();
        println!(
            "KX stats reconciliations={} recovery_failures={} offset={} restored={}",
            st.reconciliations,
            st.recovery_failures,
            st.exchange_offset_us,
            st.tracker.restored_orders
        );
        println!("KX settled");
        let _ = t.shutdown();
        return;
    }
    // Trade: every 20 ms a burst of a market buy, a market sell and a resting buy, keeping
    // at most six resting orders (the oldest cancelled).
    let mut resting: std::collections::VecDeque<OrderRef> = Default::default();
    let mut n: u64 = 0;
    loop {
        n += 1;
        let px = Decimal::from(60_000 + (n % 50) * 10);
        let burst = [
            AddOrder::market(btc, Side::Buy, dec!(0.01)),
            AddOrder::market(btc, Side::Sell, dec!(0.01)),
            AddOrder::limit(btc, Side::Buy, dec!(0.01), px),
        ];
        for (i, a) in burst.into_iter().enumerate() {
            match t.add_order(a) {
                Ok(req) => {
                    if i == 2 {
                        // Named by its request's client id once the tracker holds it.
                        if let Some(c) = t.tracker().by_req_id(req).and_then(|o| o.cl_ord_id) {
                            resting.push_back(OrderRef::ClOrdId(c));
                        }
                    }
                }
                Err(
                    TradeError::RateLimited(_)
                    | TradeError::Backpressure
                    | TradeError::BreakerOpen(_),
                ) => {}
                Err(e) => println!("KX refused {e}"),
            }
            if i == 0 && o.mode == "midburst" && n == 5 {
                // Half a burst is out (given the I/O thread time to send it) and its outcome
                // not yet heard (this thread does not poll): the parent kills now.
                std::thread::sleep(Duration::from_millis(20));
                println!("KX midburst");
                std::thread::sleep(Duration::from_secs(30));
            }
        }
        while resting.len() > 6 {
            let old = resting.pop_front().unwrap();
            let _ = t.cancel_order(old);
        }
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            t.poll(&mut s);
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// One child's run, read to its end.
#[derive(Default)]
struct Run {
    fills: Vec<(String, Decimal, String)>,
    ready_us: Option<u64>,
    position: Option<Decimal>,
    /// (order id, status).
    live: Vec<(String, String)>,
    settled: bool,
    other: Vec<String>,
}

fn spawn(o: &Orders) -> (Child, mpsc::Receiver<String>) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "crash_child", "--nocapture"])
        .env("KXJ_CRASH_CHILD", o.encode())
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = c.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(l) = line.strip_prefix("KX ") {
                let _ = tx.send(l.to_string());
            }
        }
    });
    (c, rx)
}

fn parse(run: &mut Run, line: &str) {
    let w: Vec<&str> = line.split(' ').collect();
    match w[0] {
        "fill" => run
            .fills
            .push((w[1].into(), w[2].parse().unwrap(), w[3].into())),
        "ready" => run.ready_us = w[1].parse().ok(),
        "position" => run.position = w[1].parse().ok(),
        "live" => run.live.push((w[1].into(), format!("{} {}", w[2], w[3]))),
        "settled" => run.settled = true,
        _ => run.other.push(line.into()),
    }
}

#[test]
fn a_trading_process_killed_again_and_again_delivers_every_fill_once() {
    let seed = std::env::var("KXJ_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut rng = Rng(seed | 1);
    let s = Sim::start(SimConfig {
        tier: kraken_sim::exchange::Tier::Unlimited,
        market_flow: true,
        walk_interval: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("kxj-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let orders = |mode: &str| Orders {
        ws: s.ws_url().into(),
        rest: s.rest_url().into(),
        key: s.api_key().into(),
        secret: s.api_secret().into(),
        journal: dir.display().to_string(),
        mode: mode.into(),
    };
    let mut runs: Vec<Run> = Vec::new();
    let mut plan = Vec::new();
    for k in 0..KILLS {
        // A few killed while starting (snapshot, trade history, lookups under way), a few
        // mid-burst, the rest at a random moment of trading.
        let how = match rng.below(6) {
            0 => "starting",
            1 => "midburst",
            _ => "trading",
        };
        let delay = Duration::from_millis(match how {
            "starting" => 5 + rng.below(120),
            _ => 50 + rng.below(600),
        });
        plan.push(format!("{k}:{how}:{}ms", delay.as_millis()));
        let (mut child, rx) = spawn(&orders(if how == "midburst" {
            "midburst"
        } else {
            "trade"
        }));
        let mut run = Run::default();
        let start = Instant::now();
        let give_up = start + Duration::from_secs(20);
        loop {
            let due = match how {
                "starting" => Instant::now() >= start + delay,
                "midburst" => run.other.iter().any(|l| l == "midburst"),
                _ => run
                    .ready_us
                    .is_some_and(|_| Instant::now() >= start + delay),
            };
            if due || Instant::now() > give_up {
                break;
            }
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(1)) {
                parse(&mut run, &l);
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            parse(&mut run, &l);
        }
        runs.push(run);
    }
    // The market stops; a last run settles what the others left.
    s.with_exchange(|e| e.market_flow = false);
    let (mut child, rx) = spawn(&orders("settle"));
    let mut last = Run::default();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(60)) {
        parse(&mut last, &l);
        if last.settled {
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        last.settled && status.success(),
        "the settling run: {status}"
    );
    if std::env::var("KXJ_CRASH_VERBOSE").is_ok() {
        for (k, r) in runs.iter().enumerate() {
            eprintln!("run {k} said: {:?}", r.other);
        }
        eprintln!("settling run said: {:?}", last.other);
    }
    runs.push(last);
    let ctx = format!("seed {seed:#x}, plan {plan:?}");

    let ledger = s.ledger();
    let fills = ledger["fills"].as_array().unwrap();
    let mut heard: HashMap<&str, usize> = HashMap::new();
    for r in &runs {
        for (id, _, origin) in &r.fills {
            *heard.entry(id.as_str()).or_default() += 1;
            assert_ne!(origin, "historical", "{id}: the journal knows it; {ctx}");
        }
    }
    let twice: Vec<_> = heard.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}; {ctx}");
    // A fill on record but never heard can only be the very last record of a killed
    // process: the kill fell between its append and the strategy's callback.
    let journal = kraken_exec::journal::read(&dir).unwrap();
    let mut last_of_process: HashSet<String> = HashSet::new();
    for (i, (_, _, e)) in journal.entries.iter().enumerate() {
        let ends = matches!(
            journal.entries.get(i + 1),
            None | Some((_, _, kraken_exec::journal::Entry::Start { .. }))
        );
        if let (kraken_exec::journal::Entry::Fill(f), true) = (e, ends) {
            last_of_process.insert(f.exec_id.as_str().to_string());
        }
    }
    let mut in_window = 0;
    for f in fills {
        let id = f["exec_id"].as_str().unwrap();
        if !heard.contains_key(id) {
            assert!(
                last_of_process.contains(id),
                "lost fill {id} ({} fills on the ledger); {ctx}",
                fills.len()
            );
            in_window += 1;
        }
    }
    assert_eq!(
        heard.len() + in_window,
        fills.len(),
        "every fill heard is on the ledger; {ctx}"
    );
    // The position and the live orders are the ledger's.
    let net: Decimal = fills
        .iter()
        .map(|f| {
            let q: Decimal = f["qty"].as_str().unwrap().parse().unwrap();
            if f["side"] == "buy" { q } else { -q }
        })
        .sum();
    let last = runs.last().unwrap();
    assert_eq!(last.position, Some(net), "position; {ctx}");
    let mut live_ledger: Vec<String> = ledger["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| matches!(o["status"].as_str(), Some("new" | "partially_filled")))
        .map(|o| o["order_id"].as_str().unwrap().to_string())
        .collect();
    // Adds settled as never placed (their outcome was unknown) are not at the exchange.
    for l in runs.iter().flat_map(|r| &r.other) {
        let w: Vec<&str> = l.split(' ').collect();
        if w[0] == "unknown_change" && w[4] == "Rejected" {
            let cl = w[2].trim_start_matches("Some(\"").trim_end_matches("\")");
            let placed = ledger["orders"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["cl_ord_id"] == cl);
            let asked = ledger["requests"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["cl_ord_ids"].as_array().unwrap().iter().any(|c| c == cl));
            assert!(
                !placed,
                "{cl} was settled as never placed, but it is at the exchange (asked: {asked}); {ctx}"
            );
            eprintln!("{cl}: never placed (the exchange received it: {asked})");
        }
    }
    let mut live: Vec<String> = last.live.iter().map(|l| l.0.clone()).collect();
    live_ledger.sort();
    live.sort();
    let extra: Vec<_> = last
        .live
        .iter()
        .filter(|l| !live_ledger.contains(&l.0))
        .collect();
    let missing: Vec<_> = live_ledger.iter().filter(|o| !live.contains(o)).collect();
    assert_eq!(
        live, live_ledger,
        "live orders: the engine's not at the exchange {extra:?}, the exchange's not in the engine {missing:?}; {ctx}"
    );

    let mut ready: Vec<u64> = runs.iter().filter_map(|r| r.ready_us).collect();
    ready.sort_unstable();
    let killed_mid_burst = plan.iter().filter(|p| p.contains("midburst")).count();
    eprintln!(
        "{} kills ({killed_mid_burst} mid-burst), {} fills on the ledger, each heard once \
         ({in_window} killed between record and callback); restart to ready: p50 {} µs, max {} µs \
         over {} runs",
        KILLS,
        fills.len(),
        ready.get(ready.len() / 2).copied().unwrap_or(0),
        ready.last().copied().unwrap_or(0),
        ready.len()
    );
    assert!(fills.len() > 100, "the runs traded: {}", fills.len());
    assert!(killed_mid_burst >= 2, "{ctx}");
    if std::env::var("KXJ_CRASH_VERBOSE").is_err() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The running engine: a pinned I/O thread around one WebSocket, a cold REST thread, and the
//! strategy-side [`Trader`], joined by SPSC rings (rtrb) and crossbeam channels.
//!
//! ```text
//!  strategy thread                 I/O thread (pinned)                  Kraken / kraken-sim
//!  Trader::add_order ──rtrb──►  encode ─► ws write ─────────TLS──────►  add_order
//!  Trader::poll      ◄─rtrb──   decode ◄─ ws read  ◄────────TLS───────  executions, acks
//!                                  ▲ │ crossbeam
//!                                  │ ▼
//!                               cold thread: token, REST fallback, lookups (ureq)
//! ```

pub(crate) mod clock;
mod cold;
#[cfg(test)]
mod dst;
pub(crate) mod gate;
mod io;
pub(crate) mod msg;
pub(crate) mod outbox;
pub(crate) mod reconciler;
pub(crate) mod session;
mod statistics;
pub(crate) mod stats;
mod strategy;
pub(crate) mod timers;
pub(crate) mod tls13;
mod trader;
pub(crate) mod transport;
pub(crate) mod ws_frame;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use msg::ConnectionState;
pub use statistics::{
    LatencyReport, LatencySummary, MarketStats, PacingStats, ShutdownReport, Statistics,
};
pub(crate) use stats::EngineStats;
pub use strategy::Strategy;
pub use trader::{TradeError, Trader};
pub use transport::TransportError;

use crate::ids::SymbolTable;
use crate::orders::TrackerConfig;
use crate::protocol::rest::Credentials;
use crate::risk::Tier;

/// A histogram of latencies in ns, 1 ns to 60 s at 3 significant digits: allocated once, so
/// recording never allocates.
pub(crate) fn latency_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// How far ahead the engine sets Kraken's `deadline` on order requests: the request timeout,
/// within the 0.5 s to 60 s Kraken accepts.
pub(crate) fn order_deadline(request_timeout: Duration) -> Duration {
    request_timeout.clamp(Duration::from_millis(600), Duration::from_secs(59))
}

/// What the I/O thread does when there is nothing to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdleStrategy {
    /// Busy-spin: lowest latency, burns a core (production, benchmarks).
    Spin,
    /// Yield the CPU between polls.
    Yield,
    /// Block on the socket for at most this long (tests, laptops).
    Block(Duration),
}

/// Which thread moves the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Threading {
    /// A dedicated I/O thread (pinned with `io_core`, idling as `idle` says) drives both
    /// sockets; the strategy's calls cross SPSC rings. For a machine with a core for the
    /// strategy, one for the I/O thread, and room for the rest.
    Dedicated,
    /// No I/O thread: the strategy's thread drives both sockets itself, from
    /// [`Trader::poll`] (a turn of the loop each call) and from every order call (the request
    /// is written before it returns). For a machine with fewer free cores than busy threads
    /// (a small VM, a laptop, two cores shared with the exchange's far end): nothing waits
    /// for a core to be handed over. The strategy must call `poll` often (a busy loop, as it
    /// would spin anyway); between calls nothing is read, and a reconnect blocks the call
    /// that makes it (at most `connect_timeout`). The cold thread (tokens, REST) stays.
    SameThread,
}

/// Engine configuration. [`EngineConfig::new`] gives Kraken's URLs and safe defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// WebSocket URL (`wss://ws-auth.kraken.com/v2`).
    pub ws_url: String,
    /// Public WebSocket URL for market data (`wss://ws.kraken.com/v2`), on the same I/O
    /// thread; connected only once something is subscribed.
    pub public_ws_url: String,
    /// REST base URL (`https://api.kraken.com`).
    pub rest_url: String,
    /// API credentials.
    pub credentials: Credentials,
    /// Extra CA certificates (PEM) to trust, e.g. the simulator's. Certificates are always
    /// verified.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Symbols to trade, interned in this order. The `instrument` channel supplies their rules.
    pub symbols: Vec<String>,
    /// REST pair names (`XBTUSD`) for the symbols, in the same order, to override what
    /// `AssetPairs` says (each must be a key or altname Kraken lists). Empty by default: the
    /// engine maps each v2 symbol through `AssetPairs` (`wsname`, or base and quote assets
    /// with Kraken's aliases such as XBT for BTC).
    pub rest_pairs: Vec<String>,
    /// Core to pin the I/O thread to.
    pub io_core: Option<usize>,
    /// Idle strategy of the I/O thread.
    pub idle: IdleStrategy,
    /// A dedicated I/O thread (the default) or the strategy's own thread.
    pub threading: Threading,
    /// Account tier (the executions ack's `maxratecount` recalibrates it).
    pub tier: Tier,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open.
    pub breaker_cooldown: Duration,
    /// Kraken's dead man's switch (`cancel_all_orders_after`): every order is cancelled if the
    /// engine goes silent this long. Whole seconds, under a day; `None` leaves it off.
    pub dead_man_timeout: Option<Duration>,
    /// How often the dead man's switch is refreshed.
    pub dead_man_refresh: Duration,
    /// Proactive token refresh interval (tokens are accepted for 15 minutes).
    pub token_refresh: Duration,
    /// A request with no answer by then has an unknown outcome. Order requests also carry
    /// Kraken's `deadline` this far ahead (within Kraken's 0.5 s to 60 s; a sooner deadline of
    /// the caller's is kept), so the exchange never acts on one later: an unknown outcome is
    /// then settled by a lookup of a bounded window.
    pub request_timeout: Duration,
    /// Connect (TCP + TLS + WebSocket handshake) timeout.
    pub connect_timeout: Duration,
    /// No frame for this long: reconnect.
    pub watchdog: Duration,
    /// Reconnect backoff bounds (jittered, doubling). The backoff resets only after a session
    /// that stayed up 30 s, so a server that accepts and closes is not hammered: Kraken's edge
    /// bans an address at about 150 connection attempts in 10 minutes, and the default
    /// `backoff_max` keeps a failing engine under 120.
    pub backoff_min: Duration,
    /// See `backoff_min`.
    pub backoff_max: Duration,
    /// Order tracker sizes.
    pub tracker: TrackerConfig,
    /// Slots in each ring.
    pub ring_capacity: usize,
    /// Subscribe to `balances`.
    pub subscribe_balances: bool,
    /// Opt-in queued processing: an add the local rate counter would refuse waits (per pair,
    /// in order) until the counter allows it, for at most `max_wait`, then is dropped unsent
    /// (`NotSentReason::PacingExpired`). `None` (the default): such an add is refused at once
    /// with `TradeError::RateLimited`. Cancels never wait.
    pub pacing: Option<Pacing>,
    /// Model Kraken's REST call counter at `tier` (on by default): lookups and trade history
    /// reads wait for room instead of being refused by Kraken.
    pub model_rest_counter: bool,
    /// Allow plain `ws://` and `http://` URLs, for a simulator on this machine only (the
    /// host must be a loopback address). Off by default: credentials and tokens never travel
    /// unencrypted.
    pub allow_insecure_local: bool,
    /// Keep a journal (`None`, the default: none). Requests accepted, their outcomes, status
    /// changes and fills are appended to memory-mapped segments in its directory before the
    /// strategy is told of them; `kraken-exec journal DIR` prints one. On a restart its fills
    /// are read back: a snapshot replaying one is not delivered again, and the positions hold
    /// them; fills made while no process ran are read from the trade history since its last
    /// fill and delivered once, as recovered; orders it left live are tracked again (their
    /// client ids stay reserved), and an add it left in flight is looked up, never resent. A
    /// journal of another account or symbol list is refused.
    pub journal: Option<crate::journal::JournalConfig>,
}

impl EngineConfig {
    /// Kraken's production URLs and defaults.
    pub fn new(credentials: Credentials, symbols: &[&str]) -> Self {
        Self {
            ws_url: "wss://ws-auth.kraken.com/v2".into(),
            public_ws_url: "wss://ws.kraken.com/v2".into(),
            rest_url: "https://api.kraken.com".into(),
            credentials,
            extra_ca_pem: None,
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            rest_pairs: Vec::new(),
            io_core: None,
            idle: IdleStrategy::Spin,
            threading: Threading::Dedicated,
            tier: Tier::Starter,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(60),
            dead_man_timeout: Some(Duration::from_secs(60)),
            dead_man_refresh: Duration::from_secs(20),
            token_refresh: Duration::from_secs(13 * 60),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            watchdog: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            tracker: TrackerConfig::default(),
            ring_capacity: 1 << 14,
            subscribe_balances: true,
            allow_insecure_local: false,
            model_rest_counter: true,
            pacing: None,
            journal: None,
        }
    }
}

#[cfg(feature = "simulator")]
impl EngineConfig {
    /// A configuration for the embedded simulator: its URLs, credentials and CA, and an idle
    /// strategy that blocks instead of spinning (examples, tests; the demo picks its own).
    pub fn simulator(sim: &kraken_sim::Sim, symbols: &[&str]) -> Self {
        let secret = crate::protocol::rest::ApiSecret::from_base64(sim.api_secret())
            .expect("the simulator's secret is base64");
        let mut cfg = Self::new(
            Credentials {
                key: sim.api_key().into(),
                secret,
            },
            symbols,
        );
        cfg.ws_url = sim.ws_url().into();
        // The simulator serves public and private channels on one URL.
        cfg.public_ws_url = sim.ws_url().into();
        cfg.rest_url = sim.rest_url().into();
        // The embedded simulator may run without TLS; it is on this machine.
        cfg.allow_insecure_local = sim.ca_pem().is_none();
        cfg.extra_ca_pem = sim.ca_pem().map(|p| p.as_bytes().to_vec());
        // Blocks on the socket (1 ms at most) instead of spinning: examples and tests must not
        // keep a core busy on a small machine.
        cfg.idle = IdleStrategy::Block(Duration::from_millis(1));
        cfg
    }
}

/// Queued processing of adds over the rate counter (see [`EngineConfig::pacing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// Longest an add waits in the queue before it is dropped unsent.
    pub max_wait: Duration,
    /// Adds waiting per pair at most (allocated up front); beyond it an add is refused.
    pub max_depth: usize,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// TLS setup failed.
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    /// A thread could not be spawned.
    #[error("spawn: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Refuses plain-text endpoints unless the configuration allows an insecure local one.
fn check_secure(cfg: &EngineConfig, ws: &transport::WsUrl) -> Result<(), EngineError> {
    let rest_plain = cfg.rest_url.starts_with("http://");
    if !rest_plain && !cfg.rest_url.starts_with("https://") {
        return Err(EngineError::Config(format!(
            "REST URL {} is neither https:// nor http://",
            cfg.rest_url
        )));
    }
    if ws.tls && !rest_plain {
        return Ok(());
    }
    let rest_host = cfg.rest_url["http://".len()..]
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    let loopback = |h: &str| {
        h == "localhost"
            || h.trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback())
    };
    let local = (ws.tls || loopback(&ws.host)) && (!rest_plain || loopback(rest_host));
    if cfg.allow_insecure_local && local {
        return Ok(());
    }
    Err(EngineError::Config(
        "refusing a plain ws:// or http:// URL: credentials and tokens would travel unencrypted \
         (set allow_insecure_local for a simulator on this machine)"
            .into(),
    ))
}

/// The REST side of an engine configured by `cfg`.
fn cold_for(
    cfg: &EngineConfig,
    http: cold::Http,
    stop: Arc<AtomicBool>,
    stats: Arc<EngineStats>,
) -> cold::Cold {
    cold::Cold {
        http,
        rest_url: cfg.rest_url.clone(),
        creds: cfg.credentials.clone(),
        symbols: cfg.symbols.clone(),
        rest_pairs: (0..cfg.symbols.len())
            .map(|i| cfg.rest_pairs.get(i).cloned())
            .collect(),
        pair_names: None,
        quotes: cfg
            .symbols
            .iter()
            .map(|s| {
                let quote = s.split_once('/').map_or("", |(_, q)| q);
                crate::ids::AssetCode::new(quote).unwrap_or_default()
            })
            .collect(),
        nonce: 0,
        body: Vec::with_capacity(1024),
        stop,
        stats,
        rest_counter: cfg
            .model_rest_counter
            .then(|| crate::risk::RestCallCounter::new(cfg.tier)),
        past_the_counter: false,
        throttled: false,
        page_budget: cold::MAX_PAGES_PER_ROUND,
    }
}

/// The dead man's switch's timeout in Kraken's form (whole seconds, 0: off), or why
/// `cfg.dead_man_timeout` cannot be one.
fn dead_man_secs(cfg: &EngineConfig) -> Result<u32, EngineError> {
    crate::order::CancelAllAfter::of(cfg.dead_man_timeout)
        .map(|c| c.timeout_secs)
        .map_err(|e| {
            EngineError::Config(format!(
                "dead_man_timeout {:?}: {}",
                cfg.dead_man_timeout, e.rule
            ))
        })
}

/// The session's settings from `cfg` (its dead man's switch as `dead_man_secs` gave it);
/// `seed` spreads reconnect jitter.
fn session_config(cfg: &EngineConfig, dead_man_secs: u32, seed: u64) -> session::SessionConfig {
    session::SessionConfig {
        request_timeout_ns: cfg.request_timeout.as_nanos() as u64,
        order_deadline_ns: order_deadline(cfg.request_timeout).as_nanos() as u64,
        watchdog_ns: cfg.watchdog.as_nanos() as u64,
        dead_man_timeout_secs: dead_man_secs,
        dead_man_refresh_ns: cfg.dead_man_refresh.as_nanos() as u64,
        token_refresh_ns: cfg.token_refresh.as_nanos() as u64,
        backoff_min_ns: cfg.backoff_min.as_nanos() as u64,
        backoff_max_ns: cfg.backoff_max.as_nanos() as u64,
        subscribe_balances: cfg.subscribe_balances,
        seed,
    }
}

/// The public socket's session settings from `cfg` (the private socket's timeouts).
fn market_config(cfg: &EngineConfig, seed: u64) -> crate::market::MarketConfig {
    crate::market::MarketConfig {
        watchdog_ns: cfg.watchdog.as_nanos() as u64,
        request_timeout_ns: cfg.request_timeout.as_nanos() as u64,
        backoff_min_ns: cfg.backoff_min.as_nanos() as u64,
        backoff_max_ns: cfg.backoff_max.as_nanos() as u64,
        seed: seed.rotate_left(17),
    }
}

/// What the journal of earlier processes leaves this one's session: fills made while no
/// process listened are read from the trade history since its last fill.
pub(crate) fn recover_session(session: &mut session::Session, r: &crate::journal::Recovery) {
    match (r.last_fill, r.last_record) {
        (Some(fill), _) => session.recover_fills_since(fill, true),
        (None, Some(record)) => session.recover_fills_since(record, false),
        (None, None) => {}
    }
    // A process that died during a recovery: from where that recovery started (the fills
    // the snapshot replayed since are on record, the older ones may not be).
    if let Some(since) = r.at_risk {
        session.recover_fills_since_at_risk(since);
    }
    if r.in_flight > 0 {
        tracing::warn!(
            requests = r.in_flight,
            "journal: requests were in flight when the last process stopped; their orders are looked up"
        );
    }
}

/// What an earlier process delivered and left live, taken in by this one's trader before the
/// strategy first polls; then this process's start is marked in the journal. Fills from before
/// the records (the journal's first, or `now` without one) are history: a snapshot replays
/// Kraken's last 50, however old. (The exchange's clock against ours: they agree to within the
/// offset, milliseconds.)
pub(crate) fn recover_trader(
    trader: &mut Trader,
    r: Option<&crate::journal::Recovery>,
    now: crate::time::Timestamp,
) {
    if let Some(r) = r {
        trader.restore(r);
    }
    trader.journal_start();
    trader.set_history_before(r.and_then(|r| r.first_record).unwrap_or(now));
}

/// Starts the engine: the cold thread, the I/O thread, and returns the strategy's [`Trader`].
///
/// A round trip against the embedded simulator (over TLS, certificates verified):
///
/// ```
/// use std::time::Duration;
/// use kraken_exec::engine::{self, EngineConfig};
/// use kraken_exec::{AddOrder, ClOrdId, OrderRef, OrderStatus, Side};
/// use rust_decimal_macros::dec;
///
/// let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { tls: true, market_flow: false, ..Default::default() }).unwrap();
/// let mut trader = engine::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
/// assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
///
/// let btc = trader.symbol("BTC/USD").unwrap();
/// let id = ClOrdId::new("doc-1").unwrap();
/// trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(60000)).cl_ord_id(id)).unwrap();
/// let deadline = std::time::Instant::now() + Duration::from_secs(10);
/// while trader.order_status(&OrderRef::ClOrdId(id)).map(|o| o.status) != Some(OrderStatus::Open) {
///     assert!(std::time::Instant::now() < deadline, "the order did not open");
///     trader.poll(&mut ());
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// let report = trader.shutdown();
/// assert!(report.unanswered.is_empty(), "look these up before trading on");
/// ```
pub fn start(cfg: EngineConfig) -> Result<Trader, EngineError> {
    if cfg.symbols.is_empty() {
        return Err(EngineError::Config("no symbols".into()));
    }
    let dead_man = dead_man_secs(&cfg)?;
    let url = transport::WsUrl::parse(&cfg.ws_url)?;
    check_secure(&cfg, &url)?;
    let public_url = transport::WsUrl::parse(&cfg.public_ws_url)?;
    check_secure(&cfg, &public_url)?;
    // Opened before anything starts: a journal of another account, or one that cannot be
    // written, stops the engine here.
    let journal = match &cfg.journal {
        Some(j) => {
            let (journal, replay) =
                crate::journal::Journal::open(j.clone(), &cfg.credentials.key, &cfg.symbols)
                    .map_err(|e| EngineError::Config(e.to_string()))?;
            if let Some(t) = &replay.torn {
                tracing::warn!(
                    path = %t.path.display(),
                    offset = t.offset,
                    dropped = t.records_dropped,
                    "journal: a torn tail was cut at the last good record"
                );
            }
            Some((journal, replay))
        }
        None => None,
    };
    let (journal, replay) = match journal {
        Some((j, r)) => (Some(j), Some(r)),
        None => (None, None),
    };
    let tls = transport::client_tls_config(cfg.extra_ca_pem.as_deref())?;
    let symbols = SymbolTable::from_names(cfg.symbols.iter().map(String::as_str));
    let agent = cold::agent(cfg.extra_ca_pem.as_deref(), Duration::from_secs(10))
        .map_err(EngineError::Config)?;
    let stats = Arc::new(EngineStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(AtomicBool::new(false));
    let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(cfg.ring_capacity);
    let (large_tx, large_rx) = rtrb::RingBuffer::new(64);
    let (ev_tx, ev_rx) = rtrb::RingBuffer::new(cfg.ring_capacity * 4);
    let (cold_req_tx, cold_req_rx) = crossbeam_channel::unbounded();
    let (cold_rep_tx, cold_rep_rx) = crossbeam_channel::unbounded();

    let cold = cold_for(&cfg, cold::Http::Agent(agent), stop.clone(), stats.clone());
    let cold_handle = std::thread::Builder::new()
        .name("kraken-cold".into())
        .spawn(move || cold::run(cold, cold_req_rx, cold_rep_tx))?;

    // Processes restarted together must not reconnect in step.
    let session_cfg = session_config(&cfg, dead_man, clock::wall().0 as u64);
    let mut session = session::Session::new(
        session_cfg,
        symbols.clone(),
        stats.clone(),
        clock::now_ns(),
        clock::wall(),
    );
    let recovery = replay.as_ref().map(crate::journal::Replay::recover);
    if let Some(r) = &recovery {
        recover_session(&mut session, r);
    }
    let io_cfg = io::IoConfig {
        url,
        tls: tls.clone(),
        idle: cfg.idle,
        connect_timeout: cfg.connect_timeout,
        request_timeout_ns: cfg.request_timeout.as_nanos() as u64,
    };
    let io = io::Io::new(
        io_cfg,
        session,
        cmd_rx,
        large_rx,
        ev_tx,
        cold_req_tx,
        cold_rep_rx,
        stats.clone(),
        stop.clone(),
        abort.clone(),
        crate::market::feed::Feed::new(
            public_url,
            tls.clone(),
            cfg.connect_timeout,
            crate::market::MarketSession::new(
                market_config(&cfg, clock::wall().0 as u64),
                symbols.clone(),
                stats.clone(),
                clock::now_ns(),
            ),
        ),
    );
    let (handles, inline) = match cfg.threading {
        Threading::Dedicated => {
            let core = cfg.io_core;
            let io_handle =
                std::thread::Builder::new()
                    .name("kraken-io".into())
                    .spawn(move || {
                        if let Some(id) = core {
                            // Build the CoreId directly: get_core_ids() would see only an
                            // inherited mask.
                            if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
                                tracing::warn!(core = id, "could not pin the I/O thread");
                            }
                        }
                        io.run();
                    })?;
            (vec![io_handle, cold_handle], None)
        }
        Threading::SameThread => {
            let mut io = Box::new(io);
            io.inline = true;
            io.pump_out();
            (vec![cold_handle], Some(io))
        }
    };
    let mut trader = Trader::new(
        journal, &cfg, symbols, cmd_tx, large_tx, ev_rx, stats, stop, abort, handles, inline,
    );
    // Before any event of this run is read: the strategy polls only once `start` returns.
    recover_trader(&mut trader, recovery.as_ref(), clock::wall());
    Ok(trader)
}

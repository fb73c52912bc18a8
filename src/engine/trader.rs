//! The strategy-side handle: validates, rate-counts and breaker-checks every request before it
//! reaches the command ring, and turns the event ring into tracker updates and callbacks.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;
use hdrhistogram::Histogram;
use rust_decimal::Decimal;

use crate::engine::clock::{now_ns, wall};
use crate::engine::gate::Gate;
use crate::engine::msg::{
    Command, ConnectionState, Event, Issued, LargeCommand, MarketCommand, OrderCommand, Route,
};
use crate::engine::reconciler::{Reconciler, Verdict};
use crate::engine::stats::EngineStats;
use crate::engine::{EngineConfig, latency_histogram};
use crate::error::{KrakenErrorKind, OrderError};
use crate::ids::{ClOrdId, RequestId, SymbolId, SymbolTable};
use crate::market::{Book, BookInvalid, BookOutcome, Books};
use crate::order::{
    AddOrder, AmendOrder, BatchAdd, BatchCancel, CancelOrder, ClientTag, EditOrder, OrderRef,
};
use crate::orders::{
    Fill, NotSent, Order, OrderTracker, Position, RequestAck, RequestFailure, StatusChange,
    TrackerEvent,
};
use crate::protocol::encode::MarketChannel;
use crate::protocol::messages::{BatchItem, Method};
use crate::risk::{BreakerOpen, RateCounter, RateLimited, Transaction};
use crate::types::{OrderStatus, OrderType, PairStatus, Side, SystemStatus};
use crate::validate::Instrument;

use super::statistics::{
    LatencyReport, LatencySummary, MarketStats, PacingStats, ShutdownReport, Statistics,
};
use super::strategy::Strategy;

/// A paced add is released when the counter has this much room beyond its cost (thousandths).
const PACING_HEADROOM_MILLI: u64 = 500;

/// A request refused locally, before the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TradeError {
    /// The order breaks a shape or instrument rule.
    #[error("invalid order: {0}")]
    Invalid(#[from] OrderError),
    /// No instrument rules for the symbol yet (they come from the `instrument` channel).
    #[error("no instrument rules for symbol {0:?}")]
    NoInstrument(SymbolId),
    /// The local rate counter says Kraken would refuse it.
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// The circuit breaker is open.
    #[error(transparent)]
    BreakerOpen(#[from] BreakerOpen),
    /// The exchange is in maintenance or cancel-only.
    #[error("exchange is {0:?}")]
    MarketClosed(SystemStatus),
    /// The command ring is full.
    #[error("command ring full")]
    Backpressure,
    /// A string argument did not parse (the string facade).
    #[error("bad argument `{0}`")]
    BadArgument(&'static str),
    /// The symbol is not configured.
    #[error("unknown symbol")]
    UnknownSymbol,
    /// The client order id names an order that is still live (or whose fate is not known
    /// yet): Kraken refuses it, and answers to it could not be told apart.
    #[error("client order id {0:?} is in use by a live order")]
    ClOrdIdInUse(ClOrdId),
}

/// The strategy's handle on the engine.
pub struct Trader {
    /// The journal, if configured. Written on this thread, the strategy's: a request when it
    /// is accepted (before it is queued for the wire), an outcome, status change or fill
    /// before the strategy's callback hears of it. So what the strategy was told is on record
    /// before it acts on it, and a request on record without an outcome was in flight.
    journal: Option<crate::journal::Journal>,
    /// Adds an earlier process left in flight (from its journal), looked up once connected.
    restored_lookups: Vec<OrderRef>,
    /// Fills at risk since then, not yet read back (as last journaled; carried over).
    at_risk: Option<crate::time::Timestamp>,
    cmd_tx: rtrb::Producer<Issued>,
    large_tx: rtrb::Producer<LargeCommand>,
    ev_rx: rtrb::Consumer<Event>,
    symbols: SymbolTable,
    instruments: Vec<Option<Instrument>>,
    tracker: OrderTracker,
    rate: RateCounter,
    gate: Gate,
    next_req_id: u64,
    stats: Arc<EngineStats>,
    stop: Arc<AtomicBool>,
    abort: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
    ack_latency: Histogram<u64>,
    /// Frame readable on the I/O thread → its event popped here, ns.
    wire_to_strategy: Histogram<u64>,
    connection: ConnectionState,
    batch_items: ArrayVec<BatchItem, 15>,
    pending: VecDeque<TrackerEvent>,
    reconciler: Reconciler,
    /// Windows to list for edits whose outcome is unknown, not sent yet (see
    /// `Command::Discover`).
    discoveries: Vec<(u64, Option<crate::time::Timestamp>)>,
    refused: u64,
    /// This engine instance's stamp in the client ids it assigns.
    instance: u64,
    /// Client ids assigned so far.
    auto_ids: u64,
    /// Kraken's `deadline` on every order request, this far ahead (µs).
    order_deadline_us: i64,
    /// A request with no answer by then has an unknown outcome (ns).
    request_timeout_ns: u64,
    /// Queued processing, if configured.
    pacing: Option<crate::engine::Pacing>,
    /// Adds waiting for the rate counter, per pair (capacity allocated up front).
    paced: Vec<VecDeque<PacedAdd>>,
    pacing_stats: PacingStats,
    /// How long released adds waited, ns.
    pacing_wait: Histogram<u64>,
    /// Books of the pairs subscribed, kept from the public socket's frames.
    books: Books,
    /// Same-thread mode: the I/O loop, turned by this thread (see `Threading::SameThread`).
    inline: Option<Box<crate::engine::io::Io>>,
    /// The public socket's state as last reported.
    market_connection: ConnectionState,
    /// `book` frame readable on the I/O thread → its `on_book` call, ns.
    book_to_strategy: Histogram<u64>,
}

/// An add waiting in the pacing queue.
#[derive(Clone, Copy, Debug)]
struct PacedAdd {
    req_id: RequestId,
    order: AddOrder,
    since_ns: u64,
}

impl Trader {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        journal: Option<crate::journal::Journal>,
        cfg: &EngineConfig,
        symbols: SymbolTable,
        cmd_tx: rtrb::Producer<Issued>,
        large_tx: rtrb::Producer<LargeCommand>,
        ev_rx: rtrb::Consumer<Event>,
        stats: Arc<EngineStats>,
        stop: Arc<AtomicBool>,
        abort: Arc<AtomicBool>,
        handles: Vec<JoinHandle<()>>,
        inline: Option<Box<crate::engine::io::Io>>,
    ) -> Self {
        let n = symbols.len();
        Self {
            journal,
            cmd_tx,
            large_tx,
            ev_rx,
            instruments: vec![None; n],
            tracker: OrderTracker::new(cfg.tracker, n),
            rate: RateCounter::new(cfg.tier, n),
            gate: Gate::new(
                cfg.breaker_threshold,
                cfg.breaker_cooldown.as_nanos() as u64,
            ),
            symbols,
            next_req_id: 1,
            stats,
            stop,
            abort,
            handles,
            ack_latency: latency_histogram(),
            wire_to_strategy: latency_histogram(),
            connection: ConnectionState::Disconnected,
            batch_items: ArrayVec::new(),
            pending: VecDeque::with_capacity(1024),
            reconciler: Reconciler::with_capacity(64),
            discoveries: Vec::with_capacity(8),
            restored_lookups: Vec::new(),
            at_risk: None,
            refused: 0,
            instance: instance_stamp(),
            auto_ids: 0,
            pacing: cfg.pacing,
            paced: match cfg.pacing {
                Some(p) => (0..n)
                    .map(|_| VecDeque::with_capacity(p.max_depth))
                    .collect(),
                None => Vec::new(),
            },
            pacing_stats: PacingStats::default(),
            pacing_wait: latency_histogram(),
            order_deadline_us: crate::engine::order_deadline(cfg.request_timeout).as_micros()
                as i64,
            request_timeout_ns: cfg.request_timeout.as_nanos() as u64,
            books: Books::new(),
            inline,
            market_connection: ConnectionState::Disconnected,
            book_to_strategy: latency_histogram(),
        }
    }

    /// The interned symbols.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// assert_eq!(trader.symbols().name(btc), "BTC/USD");
    /// # let _ = trader.shutdown();
    /// ```
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// The id of `name`.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// let btc = trader.symbol("BTC/USD").expect("configured");
    /// assert!(trader.symbol("DOGE/EUR").is_none()); // not in EngineConfig::symbols
    /// # let _ = trader.shutdown();
    /// ```
    pub fn symbol(&self, name: &str) -> Option<SymbolId> {
        self.symbols.get(name)
    }

    /// Trading rules of `symbol`, once the `instrument` channel delivered them.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// let rules = trader.instrument(btc).expect("the instrument channel delivered them");
    /// assert!(rules.price_increment > Decimal::ZERO);
    /// # let _ = trader.shutdown();
    /// ```
    pub fn instrument(&self, symbol: SymbolId) -> Option<&Instrument> {
        self.instruments
            .get(usize::from(symbol.0))
            .and_then(Option::as_ref)
    }

    /// Sets trading rules by hand (they are otherwise loaded from the `instrument` channel).
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// let mut rules = trader.instrument(btc).unwrap().clone();
    /// rules.qty_min = dec!(0.5);
    /// trader.set_instrument(rules);
    /// let small = AddOrder::limit(btc, Side::Buy, dec!(0.1), dec!(50000));
    /// assert!(matches!(trader.add_order(small), Err(TradeError::Invalid(_))));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn set_instrument(&mut self, ins: Instrument) {
        if let Some(slot) = self.instruments.get_mut(usize::from(ins.symbol.0)) {
            *slot = Some(ins);
        }
    }

    /// Connection state as last reported.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// assert_eq!(trader.connection(), ConnectionState::Ready); // orders go over the WebSocket
    /// # let _ = trader.shutdown();
    /// ```
    pub fn connection(&self) -> ConnectionState {
        self.connection
    }

    /// The public (market-data) socket's state as last reported: `Disconnected` while nothing
    /// is subscribed, `Connecting`, `Connected`, then `Ready` once every subscription is
    /// acknowledged (or given up).
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: true, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// assert_eq!(trader.market_connection(), ConnectionState::Disconnected); // nothing subscribed
    /// trader.subscribe_ticker(btc).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.market_connection() == ConnectionState::Ready));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn market_connection(&self) -> ConnectionState {
        self.market_connection
    }

    /// Subscribes to `symbol`'s book at `depth` levels a side (10, 25, 100, 500 or 1000; a
    /// book at another depth is replaced). The public socket connects on the first
    /// subscription. The book is read with [`book`](Self::book), and
    /// [`Strategy::on_book`] hears of every change.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: true, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// trader.subscribe_book(btc, 10).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.book(btc).is_some()));
    /// let book = trader.book(btc).unwrap();
    /// assert!(book.best_bid().unwrap().price < book.best_ask().unwrap().price);
    /// assert!(matches!(trader.subscribe_book(btc, 7), Err(TradeError::BadArgument(_))));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn subscribe_book(&mut self, symbol: SymbolId, depth: usize) -> Result<(), TradeError> {
        if !crate::market::book::DEPTHS.contains(&depth) {
            return Err(TradeError::BadArgument("depth"));
        }
        if self.books.depth(symbol) == Some(depth) {
            // Subscribed already: the book (and its subscription) stay as they are.
            return Ok(());
        }
        let depth_u16 = depth as u16;
        self.market(MarketCommand::Subscribe {
            symbol,
            channel: MarketChannel::Book { depth: depth_u16 },
        })?;
        self.books.track(symbol, depth);
        Ok(())
    }

    /// Subscribes to `symbol`'s public trades ([`Strategy::on_trade`]).
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: true, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// struct Tape(usize);
    /// impl Strategy for Tape {
    ///     fn on_trade(&mut self, _trade: &PublicTrade, _snapshot: bool) {
    ///         self.0 += 1;
    ///     }
    /// }
    /// let mut tape = Tape(0);
    /// trader.subscribe_trades(btc).unwrap();
    /// # let end = Instant::now() + Duration::from_secs(10);
    /// while tape.0 == 0 {
    ///     trader.poll(&mut tape);
    /// #   assert!(Instant::now() < end);
    /// #   std::thread::sleep(Duration::from_millis(1));
    /// }
    /// # let _ = trader.shutdown();
    /// ```
    pub fn subscribe_trades(&mut self, symbol: SymbolId) -> Result<(), TradeError> {
        self.market(MarketCommand::Subscribe {
            symbol,
            channel: MarketChannel::Trade,
        })
    }

    /// Subscribes to `symbol`'s ticker ([`Strategy::on_ticker`]).
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: true, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// struct Last(Option<Decimal>);
    /// impl Strategy for Last {
    ///     fn on_ticker(&mut self, t: &Ticker) {
    ///         self.0 = t.last;
    ///     }
    /// }
    /// let mut last = Last(None);
    /// trader.subscribe_ticker(btc).unwrap();
    /// # let end = Instant::now() + Duration::from_secs(10);
    /// while last.0.is_none() {
    ///     trader.poll(&mut last);
    /// #   assert!(Instant::now() < end);
    /// #   std::thread::sleep(Duration::from_millis(1));
    /// }
    /// # let _ = trader.shutdown();
    /// ```
    pub fn subscribe_ticker(&mut self, symbol: SymbolId) -> Result<(), TradeError> {
        self.market(MarketCommand::Subscribe {
            symbol,
            channel: MarketChannel::Ticker,
        })
    }

    /// Ends a market-data subscription (a book's depth is not compared).
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: true, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// use kraken_exec::protocol::MarketChannel;
    /// trader.subscribe_book(btc, 10).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.book(btc).is_some()));
    /// trader.unsubscribe(btc, MarketChannel::Book { depth: 10 }).unwrap();
    /// assert!(trader.book(btc).is_none());
    /// # let _ = trader.shutdown();
    /// ```
    pub fn unsubscribe(
        &mut self,
        symbol: SymbolId,
        channel: MarketChannel,
    ) -> Result<(), TradeError> {
        self.market(MarketCommand::Unsubscribe { symbol, channel })?;
        if let MarketChannel::Book { .. } = channel {
            self.books.untrack(symbol);
        }
        Ok(())
    }

    /// `symbol`'s book, if subscribed and in sync (a snapshot applied, every frame since
    /// matching Kraken's checksum, the public socket up). Read on the strategy's thread: no
    /// lock, no copy.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: true, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// trader.subscribe_book(btc, 25).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.book(btc).is_some()));
    /// if let Some(book) = trader.book(btc) {
    ///     let (bid, ask) = (book.best_bid().unwrap(), book.best_ask().unwrap());
    ///     let mid = (bid.price + ask.price) / Decimal::TWO;
    ///     assert!(mid > Decimal::ZERO && book.bids().len() <= 25);
    /// }
    /// # let _ = trader.shutdown();
    /// ```
    pub fn book(&self, symbol: SymbolId) -> Option<&Book> {
        self.books.get(symbol)
    }

    fn market(&mut self, cmd: MarketCommand) -> Result<(), TradeError> {
        let (MarketCommand::Subscribe { symbol, .. }
        | MarketCommand::Unsubscribe { symbol, .. }
        | MarketCommand::ResyncBook { symbol }) = cmd;
        if usize::from(symbol.0) >= self.symbols.len() {
            return self.refuse(TradeError::UnknownSymbol);
        }
        let issued = Issued {
            cmd: Command::Market(cmd),
            at_ns: 0,
        };
        if self.cmd_tx.push(issued).is_err() {
            return self.refuse(TradeError::Backpressure);
        }
        Ok(())
    }

    fn refuse<T>(&mut self, e: TradeError) -> Result<T, TradeError> {
        self.refused += 1;
        Err(e)
    }

    fn next_id(&mut self) -> RequestId {
        let id = RequestId(self.next_req_id);
        self.next_req_id += 1;
        id
    }

    fn gate_new_order(&mut self, now: u64) -> Result<(), TradeError> {
        match self.gate.new_order(now, self.cmd_tx.slots()) {
            Ok(()) => Ok(()),
            Err(e) => self.refuse(e),
        }
    }

    /// A client id may be used again only once its order is closed.
    fn check_client_id(&mut self, tag: &ClientTag) -> Result<(), TradeError> {
        if let Some(c) = tag.cl_ord_id()
            && (self
                .tracker
                .by_cl_ord_id(&c)
                .is_some_and(|o| o.status.is_active())
                || self
                    .paced
                    .iter()
                    .flatten()
                    .any(|p| p.order.tag.cl_ord_id() == Some(c)))
        {
            return self.refuse(TradeError::ClOrdIdInUse(c));
        }
        Ok(())
    }

    fn check_order(&mut self, o: &AddOrder) -> Result<(), TradeError> {
        self.check_client_id(&o.tag)?;
        let Some(ins) = self.instrument(o.symbol).copied() else {
            return self.refuse(TradeError::NoInstrument(o.symbol));
        };
        if let Err(e) = o.validate(&ins, wall()) {
            return self.refuse(e.into());
        }
        if self.gate.system() == Some(SystemStatus::PostOnly) && !o.post_only {
            return self.refuse(TradeError::Invalid(OrderError {
                field: crate::error::Field::PostOnly,
                rule: crate::error::Rule::PairStatus(PairStatus::PostOnly),
            }));
        }
        Ok(())
    }

    fn charge(
        &mut self,
        symbol: SymbolId,
        tx: Transaction<'_>,
        now: u64,
    ) -> Result<(), TradeError> {
        if let Err(e) = self.rate.try_charge(symbol, tx, now) {
            return self.refuse(e.into());
        }
        Ok(())
    }

    /// Takes in what the journal of earlier processes holds (before any event of this one is
    /// read), then marks this process's start in it. Its fills are known (a snapshot
    /// replaying one is a duplicate) and in the positions; the orders it left live are
    /// tracked again, so their client ids stay reserved; an add left without an outcome by a
    /// crash is tracked as `Unknown` and looked up, within the window its deadline bounds,
    /// never sent again. None of this is told to the strategy again: the earlier process's
    /// strategy heard it; what changed since arrives as events.
    pub(crate) fn restore(&mut self, r: &crate::journal::Recovery) {
        for f in &r.fills {
            self.tracker.restore_fill(f);
        }
        for &(symbol, p) in &r.positions {
            self.tracker.restore_position(symbol, p);
        }
        let now = now_ns();
        for o in &r.orders {
            if let Some(target) = self.tracker.restore_order(o, now) {
                self.restored_lookups.push(target);
            }
        }
    }

    /// When the journal began a new segment: carries over into it what the oldest segments
    /// would take with them when the size bound deletes them: each live order (as an intent
    /// of request 0, then its status), the last 50 fills, and each position. Everything the tracker holds was
    /// journaled before this (a fill is recorded as it is applied), so recovery sets each
    /// position to what is carried and adds the fills after it. Once per segment.
    fn carry_if_rotated(&mut self) {
        let Some(j) = &mut self.journal else {
            return;
        };
        if !j.take_rotated() {
            return;
        }
        use crate::journal::Entry;
        let (t, n) = (wall().0, now_ns());
        for o in self.tracker.active_orders() {
            if o.cl_ord_id.is_some() {
                j.record(
                    &Entry::Intent {
                        req_id: RequestId(0),
                        method: Method::AddOrder,
                        cl_ord_id: o.cl_ord_id,
                        order_id: o.order_id,
                        symbol: o.symbol,
                        side: o.side,
                        qty: Some(o.order_qty),
                        price: o.limit_price,
                        deadline: o.deadline,
                        validate: false,
                    },
                    t,
                    n,
                );
            }
            if o.order_id.is_some() || o.cl_ord_id.is_some() {
                j.record(
                    &Entry::Status {
                        order_id: o.order_id,
                        cl_ord_id: o.cl_ord_id,
                        symbol: o.symbol,
                        status: o.status,
                    },
                    t,
                    n,
                );
            }
        }
        // Kraken's snapshot replays the last 50 fills: those on record are carried again
        // (this process's and those an earlier one recorded), so a journal whose older
        // segments are gone still knows them (recovery counts each once, then sets each
        // position to what follows).
        j.carry_recent_fills(t, n);
        for (symbol, &position) in self.tracker.positions() {
            j.record(&Entry::Position { symbol, position }, t, n);
        }
        if self.at_risk.is_some() {
            j.record(
                &Entry::AtRisk {
                    since: self.at_risk,
                },
                t,
                n,
            );
        }
        // A carry longer than a segment began another: not carried again on its account
        // (segments are sized for many carries; see `JournalConfig::segment_bytes`).
        j.take_rotated();
    }

    /// Marks in the journal that this process starts appending: request ids after it are
    /// this process's.
    pub(crate) fn journal_start(&mut self) {
        let instance = self.instance;
        if let Some(j) = &mut self.journal {
            j.record(
                &crate::journal::Entry::Start { instance },
                wall().0,
                now_ns(),
            );
        }
    }

    /// Caught-up fills older than `t` are history (see [`crate::orders::FillOrigin`]).
    pub(crate) fn set_history_before(&mut self, t: crate::time::Timestamp) {
        self.tracker.set_history_before(Some(t));
    }

    /// `at_ns`: when the strategy called (tick-to-wire starts there).
    fn push(&mut self, cmd: Command, at_ns: u64) -> Result<(), TradeError> {
        if let (Some(j), Command::Order(o)) = (&mut self.journal, &cmd)
            && let Some(e) = intent_of(o)
        {
            j.record(&e, wall().0, now_ns());
        }
        self.carry_if_rotated();
        if let Some(io) = self.inline.as_mut()
            && !io.commands_queued()
        {
            // Same-thread mode: straight to the session and on the wire before the call
            // returns, not through the ring (nothing queued there to overtake).
            io.handle_issued(Issued { cmd, at_ns }, false);
            return Ok(());
        }
        // Room was checked before charging; a failure here is a logic error, still typed.
        self.cmd_tx
            .push(Issued { cmd, at_ns })
            .map_err(|_| TradeError::Backpressure)?;
        if let Some(io) = self.inline.as_mut() {
            // Same-thread mode behind queued commands: they go first.
            io.drain_commands(false);
        }
        Ok(())
    }

    /// A client order id for an order the strategy did not tag, so that an unknown outcome can
    /// be looked up: a 32-hex-digit id (Kraken's short UUID form), this engine's 64-bit
    /// instance stamp then a counter. Orders tagged with a userref keep it (Kraken takes one
    /// or the other).
    fn name_untagged(&mut self, tag: &mut ClientTag) {
        if *tag != ClientTag::None {
            return;
        }
        self.auto_ids += 1;
        let mut hex = [0u8; 32];
        for (i, b) in self
            .instance
            .to_be_bytes()
            .iter()
            .chain(self.auto_ids.to_be_bytes().iter())
            .enumerate()
        {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            hex[2 * i] = DIGITS[usize::from(b >> 4)];
            hex[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        if let Some(id) = std::str::from_utf8(&hex)
            .ok()
            .and_then(|s| ClOrdId::new(s).ok())
        {
            *tag = ClientTag::ClOrdId(id);
        }
    }

    /// Places an order. Returns its request id. An order without a client tag is given a
    /// client order id (see [`crate::order::AddOrder::cl_ord_id`]), so that its outcome can
    /// always be looked up.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// let id = ClOrdId::new("mm-bid-1").unwrap();
    /// let order = AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).post_only().cl_ord_id(id);
    /// let req: RequestId = trader.add_order(order).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&id.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// assert_eq!(trader.order_status(&id.into()).unwrap().req_id, Some(req));
    /// // Refused before the wire, with the reason:
    /// let dust = AddOrder::limit(btc, Side::Buy, dec!(0), dec!(50000));
    /// assert!(matches!(trader.add_order(dust), Err(TradeError::Invalid(_))));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn add_order(&mut self, mut order: AddOrder) -> Result<RequestId, TradeError> {
        let now = now_ns();
        self.name_untagged(&mut order.tag);
        self.gate_new_order(now)?;
        self.check_order(&order)?;
        if self.pacing.is_some() {
            return self.add_paced(order, now);
        }
        self.charge(order.symbol, Transaction::Add, now)?;
        self.send_add(order, now)
    }

    /// Sends a checked and charged add.
    fn send_add(&mut self, mut order: AddOrder, now: u64) -> Result<RequestId, TradeError> {
        self.stamp_deadline(&mut order.deadline);
        let req_id = self.next_id();
        let pending = &mut self.pending;
        self.tracker
            .submit_add(req_id, &order, now, &mut |e| pending.push_back(e));
        self.push(Command::Order(OrderCommand::Add { req_id, order }), now)?;
        Ok(req_id)
    }

    /// Queued processing: the add goes now if the counter allows it and none waits before it
    /// on its pair; else it waits its turn (in order, within the configured bounds).
    fn add_paced(&mut self, order: AddOrder, now: u64) -> Result<RequestId, TradeError> {
        let sym = usize::from(order.symbol.0);
        let waiting = self.paced.get(sym).is_some_and(|q| !q.is_empty());
        if !waiting {
            match self.rate.try_charge(order.symbol, Transaction::Add, now) {
                Ok(()) => return self.send_add(order, now),
                Err(e) if self.paced.get(sym).is_none() => return self.refuse(e.into()),
                Err(_) => {}
            }
        }
        let depth = self.pacing.map_or(0, |p| p.max_depth);
        let req_id = RequestId(self.next_req_id);
        let Some(q) = self.paced.get_mut(sym).filter(|q| q.len() < depth) else {
            return self.refuse(TradeError::Backpressure);
        };
        self.next_req_id += 1;
        q.push_back(PacedAdd {
            req_id,
            order,
            since_ns: now,
        });
        self.pacing_stats.queued += 1;
        // The order exists for the strategy from now on (Pending), like any other.
        let pending = &mut self.pending;
        self.tracker
            .submit_add(req_id, &order, now, &mut |e| pending.push_back(e));
        Ok(req_id)
    }

    /// Drops the waiting adds `pick` selects (the strategy cancelled them before they were
    /// sent): settled as cancelled. Returns how many.
    fn cancel_paced(&mut self, pick: impl Fn(&AddOrder) -> bool, now: u64) -> usize {
        let mut n = 0;
        for sym in 0..self.paced.len() {
            let mut i = 0;
            while i < self.paced[sym].len() {
                if !pick(&self.paced[sym][i].order) {
                    i += 1;
                    continue;
                }
                if let Some(p) = self.paced[sym].remove(i) {
                    n += 1;
                    let pending = &mut self.pending;
                    self.tracker.not_sent(
                        p.req_id,
                        crate::orders::NotSentReason::CanceledWhileQueued,
                        now,
                        &mut |e| pending.push_back(e),
                    );
                }
            }
        }
        n
    }

    /// Sends the paced adds the counter now allows, in order per pair; drops those that
    /// waited too long (reported `NotSent`).
    fn release_paced<S: Strategy + ?Sized>(&mut self, strategy: &mut S) {
        let Some(p) = self.pacing else {
            return;
        };
        let now = now_ns();
        let max_wait = p.max_wait.as_nanos() as u64;
        for sym in 0..self.paced.len() {
            while let Some(&front) = self.paced[sym].front() {
                if now.saturating_sub(front.since_ns) > max_wait {
                    self.paced[sym].pop_front();
                    self.pacing_stats.expired += 1;
                    self.tracker.not_sent(
                        front.req_id,
                        crate::orders::NotSentReason::PacingExpired,
                        now,
                        &mut |e| deliver(&mut self.journal, strategy, &e),
                    );
                    continue;
                }
                // Released with headroom: the exchange charged the earlier adds when they
                // arrived, a little after we did, so its counter is a little higher than ours.
                let room = self.rate.value_milli(front.order.symbol, now)
                    + Transaction::Add.cost_milli()
                    + PACING_HEADROOM_MILLI
                    < u64::from(self.rate.threshold()) * 1_000;
                if self.cmd_tx.slots() == 0
                    || !room
                    || self
                        .rate
                        .try_charge(front.order.symbol, Transaction::Add, now)
                        .is_err()
                {
                    break;
                }
                self.paced[sym].pop_front();
                let _ = self
                    .pacing_wait
                    .record(now.saturating_sub(front.since_ns).max(1));
                let mut order = front.order;
                self.stamp_deadline(&mut order.deadline);
                let _ = self.push(
                    Command::Order(OrderCommand::Add {
                        req_id: front.req_id,
                        order,
                    }),
                    now,
                );
            }
        }
    }

    /// The local model of Kraken's trading counter for `symbol` now, in thousandths.
    #[cfg(test)]
    pub(crate) fn rate_counter_milli(&self, symbol: SymbolId) -> u64 {
        self.rate.value_milli(symbol, now_ns())
    }

    fn age_and_symbol(&self, t: &OrderRef, now: u64) -> (u64, SymbolId) {
        self.tracker.by_ref(t).map_or((0, SymbolId::UNKNOWN), |o| {
            (now.saturating_sub(o.rested_since_ns), o.symbol)
        })
    }

    /// Gives a request Kraken's `deadline` one order deadline from now (see
    /// [`EngineConfig::request_timeout`]), or keeps the caller's if it is sooner: the exchange
    /// refuses what reaches it later, so a request with no answer can only have taken effect
    /// within a known window, which a lookup then searches completely.
    fn stamp_deadline(&self, d: &mut Option<crate::time::Timestamp>) {
        // In the exchange's time: a clock a few seconds off must not make every order late.
        let offset = self.stats.exchange_offset_us.load(Ordering::Relaxed);
        let ours = crate::time::Timestamp(wall().0 + offset + self.order_deadline_us);
        *d = Some(d.map_or(ours, |u| u.min(ours)));
    }

    /// Amends an order in place (keeps its id and priority).
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// trader.amend_order(AmendOrder::new(bid.into()).price(dec!(50100))).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).and_then(|o| o.limit_price) == Some(dec!(50100))));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn amend_order(&mut self, mut amend: AmendOrder) -> Result<RequestId, TradeError> {
        let now = now_ns();
        self.gate_new_order(now)?;
        let target = amend.target;
        let (age_ns, symbol) = self.age_and_symbol(&target, now);
        let ins = self.instrument(symbol).copied();
        if let Err(e) = amend.validate(ins.as_ref(), wall()) {
            return self.refuse(e.into());
        }
        self.charge(symbol, Transaction::Amend { age_ns }, now)?;
        self.stamp_deadline(&mut amend.deadline);
        let req_id = self.next_id();
        self.tracker
            .submit_other(req_id, Method::AmendOrder, Some(&target));
        self.push(Command::Order(OrderCommand::Amend { req_id, amend }), now)?;
        Ok(req_id)
    }

    /// Edits an order (cancel-and-replace: a new order id). Kraken does not carry the order's
    /// flags to the replacement, so `post_only` and `reduce_only` left `None` are sent again
    /// as the order has them: editing a post-only order never makes it take liquidity.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// let order_id = trader.order_status(&bid.into()).unwrap().order_id.unwrap();
    /// let mut edit = EditOrder::new(order_id, btc);
    /// edit.order_qty = Some(dec!(0.02));
    /// trader.edit_order(edit).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.active_orders().any(|o| o.order_qty == dec!(0.02))));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn edit_order(&mut self, mut edit: EditOrder) -> Result<RequestId, TradeError> {
        let now = now_ns();
        if let Some(o) = self.tracker.by_order_id(&edit.order_id) {
            edit.post_only = edit.post_only.or(o.post_only);
            edit.reduce_only = edit.reduce_only.or(o.reduce_only);
        }
        self.gate_new_order(now)?;
        let (age_ns, _) = self.age_and_symbol(&OrderRef::OrderId(edit.order_id), now);
        let ins = self.instrument(edit.symbol).copied();
        if let Err(e) = edit.validate(ins.as_ref(), wall()) {
            return self.refuse(e.into());
        }
        self.charge(edit.symbol, Transaction::Edit { age_ns }, now)?;
        self.stamp_deadline(&mut edit.deadline);
        let req_id = self.next_id();
        self.tracker.submit_edit(req_id, &edit);
        self.push(Command::Order(OrderCommand::Edit { req_id, edit }), now)?;
        Ok(req_id)
    }

    fn gate_cancel(&mut self) -> Result<(), TradeError> {
        match self.gate.cancel(self.cmd_tx.slots()) {
            Ok(()) => Ok(()),
            Err(e) => self.refuse(e),
        }
    }

    /// Cancels one order.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// trader.cancel_order(OrderRef::ClOrdId(bid)).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Canceled)));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn cancel_order(&mut self, target: OrderRef) -> Result<RequestId, TradeError> {
        let now = now_ns();
        self.gate_cancel()?;
        if self.cancel_paced(|o| target_matches(&target, o), now) > 0 {
            // It never left: cancelled here, nothing to send.
            let req_id = self.next_id();
            self.pending.push_back(TrackerEvent::Accepted(RequestAck {
                req_id,
                method: Method::CancelOrder,
                order_id: None,
                cl_ord_id: match target {
                    OrderRef::ClOrdId(c) => Some(c),
                    _ => None,
                },
            }));
            return Ok(req_id);
        }
        let (age_ns, symbol) = self.age_and_symbol(&target, now);
        // Cancels are never refused by the local counter (they reduce risk), but they count.
        self.rate
            .charge_regardless(symbol, Transaction::Cancel { age_ns }, now);
        let req_id = self.next_id();
        self.tracker
            .submit_cancel(req_id, Method::CancelOrder, &[target], 1);
        self.push(
            Command::Order(OrderCommand::CancelOne { req_id, target }),
            now,
        )?;
        Ok(req_id)
    }

    /// Cancels several orders in one `cancel_order`.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// let ask = ClOrdId::new("ask-1").unwrap();
    /// trader.add_order(AddOrder::limit(btc, Side::Sell, dec!(0.01), dec!(90000)).cl_ord_id(ask)).unwrap();
    /// let mut both = CancelOrder::one(OrderRef::ClOrdId(bid));
    /// both.refs.push(OrderRef::ClOrdId(ask));
    /// trader.cancel_orders(both).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.active_orders().next().is_none()));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn cancel_orders(&mut self, c: CancelOrder) -> Result<RequestId, TradeError> {
        if let Err(e) = c.validate() {
            return self.refuse(e.into());
        }
        self.gate_cancel()?;
        if self.large_tx.slots() == 0 {
            return self.refuse(TradeError::Backpressure);
        }
        // Waiting adds among them never leave (the exchange answers the rest).
        let now = now_ns();
        self.cancel_paced(|o| c.refs.iter().any(|r| target_matches(r, o)), now);
        for r in &c.refs {
            let (age_ns, symbol) = self.age_and_symbol(r, now);
            self.rate
                .charge_regardless(symbol, Transaction::Cancel { age_ns }, now);
        }
        let req_id = self.next_id();
        self.tracker
            .submit_cancel(req_id, Method::CancelOrder, &c.refs, c.refs.len() as u16);
        let _ = self.large_tx.push(LargeCommand::Cancel(c));
        let method = Method::CancelOrder;
        self.push(
            Command::Order(OrderCommand::Large { req_id, method }),
            now_ns(),
        )?;
        Ok(req_id)
    }

    /// Cancels every open order.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// trader.cancel_all().unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.active_orders().next().is_none()));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn cancel_all(&mut self) -> Result<RequestId, TradeError> {
        self.gate_cancel()?;
        // Adds still waiting in the pacing queue go too, before they could be sent.
        self.cancel_paced(|_| true, now_ns());
        let req_id = self.next_id();
        self.tracker.submit_other(req_id, Method::CancelAll, None);
        self.push(Command::Order(OrderCommand::CancelAll { req_id }), now_ns())?;
        Ok(req_id)
    }

    /// Arms Kraken's dead man's switch for `timeout` (whole seconds, under a day), or disarms
    /// it (`None`). The engine arms and refreshes it by itself when
    /// [`EngineConfig::dead_man_timeout`](crate::engine::EngineConfig::dead_man_timeout) is
    /// set; this is for strategies that manage it.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// let mut cfg = EngineConfig::simulator(&sim, &["BTC/USD"]);
    /// cfg.dead_man_timeout = None; // the strategy manages the switch, not the engine
    /// let mut trader = kraken_exec::start(cfg).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// struct Acks(Vec<RequestId>);
    /// impl Strategy for Acks {
    ///     fn on_ack(&mut self, ack: &RequestAck) {
    ///         self.0.push(ack.req_id);
    ///     }
    /// }
    /// let mut acks = Acks(Vec::new());
    /// let armed = trader.cancel_all_after(Some(Duration::from_secs(60))).unwrap();
    /// # let end = Instant::now() + Duration::from_secs(10);
    /// while !acks.0.contains(&armed) {
    ///     trader.poll(&mut acks); // Kraken acknowledged: every order goes in 60 s of silence
    /// #   assert!(Instant::now() < end);
    /// #   std::thread::sleep(Duration::from_millis(1));
    /// }
    /// trader.cancel_all_after(None).unwrap(); // disarmed
    /// assert!(trader.cancel_all_after(Some(Duration::from_millis(1500))).is_err()); // whole seconds
    /// # let _ = trader.shutdown();
    /// ```
    pub fn cancel_all_after(&mut self, timeout: Option<Duration>) -> Result<RequestId, TradeError> {
        let timeout_secs = match crate::order::CancelAllAfter::of(timeout) {
            Ok(c) => c.timeout_secs,
            Err(e) => return self.refuse(e.into()),
        };
        self.gate_cancel()?;
        let req_id = self.next_id();
        self.tracker
            .submit_other(req_id, Method::CancelAllOrdersAfter, None);
        self.push(
            Command::Order(OrderCommand::CancelAfter {
                req_id,
                timeout_secs,
            }),
            now_ns(),
        )?;
        Ok(req_id)
    }

    /// Places 2 to 15 orders on one symbol (untagged ones are named as by
    /// [`Trader::add_order`]).
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// let mut batch = kraken_exec::BatchAdd::new(btc);
    /// for (i, price) in [dec!(50000), dec!(49990)].into_iter().enumerate() {
    ///     let id = ClOrdId::with_counter("ladder", i as u64).unwrap();
    ///     batch.orders.push(AddOrder::limit(btc, Side::Buy, dec!(0.01), price).cl_ord_id(id));
    /// }
    /// trader.batch_add(batch).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.active_orders().filter(|o| o.status == OrderStatus::Open).count() == 2));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn batch_add(&mut self, mut batch: BatchAdd) -> Result<RequestId, TradeError> {
        let now = now_ns();
        for o in batch.orders.iter_mut() {
            self.name_untagged(&mut o.tag);
        }
        self.gate_new_order(now)?;
        let Some(ins) = self.instrument(batch.symbol).copied() else {
            return self.refuse(TradeError::NoInstrument(batch.symbol));
        };
        if let Err(e) = batch.validate(&ins, wall()) {
            return self.refuse(e.into());
        }
        for i in 0..batch.orders.len() {
            let tag = batch.orders[i].tag;
            self.check_client_id(&tag)?;
            // Twice in one batch: Kraken refuses the second, and the two could not be told
            // apart.
            if let Some(c) = tag.cl_ord_id()
                && batch.orders[..i]
                    .iter()
                    .any(|o| o.tag.cl_ord_id() == Some(c))
            {
                return self.refuse(TradeError::ClOrdIdInUse(c));
            }
        }
        if self.large_tx.slots() == 0 {
            return self.refuse(TradeError::Backpressure);
        }
        self.charge(
            batch.symbol,
            Transaction::BatchAdd {
                n: batch.orders.len() as u32,
            },
            now,
        )?;
        self.stamp_deadline(&mut batch.deadline);
        let req_id = self.next_id();
        let pending = &mut self.pending;
        self.tracker
            .submit_batch(req_id, &batch, now, &mut |e| pending.push_back(e));
        // On record an intent per order (under the batch's request), so that a crash before
        // its answer leaves each of them to be looked up.
        if let Some(j) = &mut self.journal {
            let (t, n) = (wall().0, now_ns());
            for o in &batch.orders {
                let e = add_intent(
                    req_id,
                    Method::BatchAdd,
                    o,
                    batch.symbol,
                    batch.deadline,
                    batch.validate,
                );
                j.record(&e, t, n);
            }
        }
        let _ = self.large_tx.push(LargeCommand::BatchAdd(batch));
        let method = Method::BatchAdd;
        self.push(
            Command::Order(OrderCommand::Large { req_id, method }),
            now_ns(),
        )?;
        Ok(req_id)
    }

    /// Cancels 2 to 50 orders.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// let ids = [ClOrdId::new("a").unwrap(), ClOrdId::new("b").unwrap()];
    /// for (id, price) in ids.iter().zip([dec!(50000), dec!(49990)]) {
    ///     trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), price).cl_ord_id(*id)).unwrap();
    /// }
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.active_orders().filter(|o| o.status == OrderStatus::Open).count() == 2));
    /// let mut batch = kraken_exec::BatchCancel::default();
    /// batch.refs.extend(ids.map(OrderRef::ClOrdId));
    /// trader.batch_cancel(batch).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.active_orders().next().is_none()));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn batch_cancel(&mut self, batch: BatchCancel) -> Result<RequestId, TradeError> {
        if let Err(e) = batch.validate() {
            return self.refuse(e.into());
        }
        self.gate_cancel()?;
        if self.large_tx.slots() == 0 {
            return self.refuse(TradeError::Backpressure);
        }
        let now = now_ns();
        self.cancel_paced(|o| batch.refs.iter().any(|r| target_matches(r, o)), now);
        let mut ages: ArrayVec<u64, 50> = ArrayVec::new();
        let mut symbol = SymbolId::UNKNOWN;
        for r in &batch.refs {
            let (a, s) = self.age_and_symbol(r, now);
            ages.push(a);
            symbol = s;
        }
        self.rate
            .charge_regardless(symbol, Transaction::BatchCancel { ages_ns: &ages }, now);
        let req_id = self.next_id();
        self.tracker
            .submit_cancel(req_id, Method::BatchCancel, &batch.refs, 1);
        let _ = self.large_tx.push(LargeCommand::BatchCancel(batch));
        let method = Method::BatchCancel;
        self.push(
            Command::Order(OrderCommand::Large { req_id, method }),
            now_ns(),
        )?;
        Ok(req_id)
    }

    /// The string-level facade for existing bots:
    /// `place_order("BTC/USD", "buy", "0.01", "limit", Some("65000"))`.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// trader.place_order("BTC/USD", "buy", "0.01", "limit", Some("50000")).unwrap();
    /// assert!(matches!(
    ///     trader.place_order("BTC/USD", "buy", "lots", "limit", Some("50000")),
    ///     Err(TradeError::BadArgument("qty"))
    /// ));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn place_order(
        &mut self,
        symbol: &str,
        side: &str,
        qty: &str,
        order_type: &str,
        price: Option<&str>,
    ) -> Result<RequestId, TradeError> {
        match self.parse_order(symbol, side, qty, order_type, price) {
            Ok(order) => self.add_order(order),
            Err(e) => self.refuse(e),
        }
    }

    /// Parses the facade's strings into an order (limit and market), with clear errors.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// let order = trader.parse_order("BTC/USD", "sell", "0.5", "market", None).unwrap();
    /// assert_eq!(order.side, Side::Sell);
    /// assert!(trader.parse_order("BTC/USD", "sell", "0.5", "limit", None).is_err()); // no price
    /// # let _ = trader.shutdown();
    /// ```
    pub fn parse_order(
        &self,
        symbol: &str,
        side: &str,
        qty: &str,
        order_type: &str,
        price: Option<&str>,
    ) -> Result<AddOrder, TradeError> {
        let sym = self.symbols.get(symbol).ok_or(TradeError::UnknownSymbol)?;
        let side =
            Side::from_wire(&side.to_ascii_lowercase()).ok_or(TradeError::BadArgument("side"))?;
        let qty = Decimal::from_str(qty.trim()).map_err(|_| TradeError::BadArgument("qty"))?;
        let invalid = |field, rule| TradeError::Invalid(OrderError { field, rule });
        match (order_type.to_ascii_lowercase().as_str(), price) {
            ("limit", Some(p)) => {
                let p =
                    Decimal::from_str(p.trim()).map_err(|_| TradeError::BadArgument("price"))?;
                Ok(AddOrder::limit(sym, side, qty, p))
            }
            ("limit", None) => Err(invalid(
                crate::error::Field::LimitPrice,
                crate::error::Rule::RequiredFor(OrderType::Limit),
            )),
            ("market", None) => Ok(AddOrder::market(sym, side, qty)),
            ("market", Some(_)) => Err(invalid(
                crate::error::Field::LimitPrice,
                crate::error::Rule::NotAllowedFor(OrderType::Market),
            )),
            _ => Err(TradeError::BadArgument("order_type")),
        }
    }

    /// Drains the event ring: applies every event to the tracker and calls the strategy.
    /// Returns the number of events processed.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// struct Fills(usize);
    /// impl Strategy for Fills {
    ///     fn on_execution(&mut self, _fill: &Fill) {
    ///         self.0 += 1;
    ///     }
    /// }
    /// let mut strategy = Fills(0);
    /// trader.add_order(AddOrder::market(btc, Side::Buy, dec!(0.01))).unwrap();
    /// # let end = Instant::now() + Duration::from_secs(10);
    /// while strategy.0 == 0 {
    ///     trader.poll(&mut strategy); // calls back on this thread; never blocks
    /// #   assert!(Instant::now() < end);
    /// #   std::thread::sleep(Duration::from_millis(1));
    /// }
    /// # let _ = trader.shutdown();
    /// ```
    pub fn poll<S: Strategy + ?Sized>(&mut self, strategy: &mut S) -> usize {
        if let Some(io) = self.inline.as_mut() {
            io.turn();
        }
        let n = self.drain_events(strategy);
        self.release_paced(strategy);
        self.carry_if_rotated();
        let now = now_ns();
        let tracker = &self.tracker;
        self.reconciler.due(now, |t| {
            tracker
                .by_ref(t)
                .is_some_and(|o| o.status == OrderStatus::Unknown)
        });
        while let Some(target) = self.reconciler.next_lookup() {
            let (since_ns, deadline) = self
                .tracker
                .by_ref(&target)
                .map_or((0, None), |o| (o.created_ns, o.deadline));
            if self
                .cmd_tx
                .push(Issued {
                    cmd: Command::Lookup {
                        target,
                        since_ns,
                        deadline,
                    },
                    at_ns: 0,
                })
                .is_err()
            {
                self.reconciler.unsend(target);
                break;
            }
        }
        while let Some(symbol) = self.books.take_resync() {
            let cmd = Command::Market(MarketCommand::ResyncBook { symbol });
            if self.cmd_tx.push(Issued { cmd, at_ns: 0 }).is_err() {
                self.books.untake_resync(symbol);
                break;
            }
        }
        while let Some(&(since_ns, deadline)) = self.discoveries.first() {
            let cmd = Command::Discover { since_ns, deadline };
            if self.cmd_tx.push(Issued { cmd, at_ns: 0 }).is_err() {
                break;
            }
            self.discoveries.remove(0);
        }
        n
    }

    fn apply<S: Strategy + ?Sized>(&mut self, ev: Event, s: &mut S) {
        let now = now_ns();
        let journal = &mut self.journal;
        let mut sink = |e: TrackerEvent| deliver(journal, s, &e);
        match ev {
            Event::Response {
                response,
                route,
                sent_ns,
                recv_ns,
            } => {
                if route == Route::WebSocket {
                    let _ = self
                        .wire_to_strategy
                        .record(now.saturating_sub(recv_ns).max(1));
                }
                if route == Route::WebSocket && sent_ns > 0 && response.success {
                    // Wire round trip as the I/O thread saw it: request written -> ack read.
                    let _ = self
                        .ack_latency
                        .record(recv_ns.saturating_sub(sent_ns).max(1));
                }
                if self
                    .gate
                    .on_response(response.success, response.error_kind, now)
                {
                    tracing::warn!("circuit breaker opened");
                }
                if response.error_kind == Some(KrakenErrorKind::RateLimitExceeded) {
                    let sym = response
                        .req_id
                        .and_then(|id| self.tracker.by_req_id(RequestId(id)))
                        .map(|o| o.symbol);
                    if let Some(sym) = sym {
                        self.rate.on_rate_limited(sym, now);
                    }
                }
                self.tracker
                    .on_response(&response, &self.batch_items, now, &mut sink);
                self.batch_items.clear();
            }
            Event::BatchItem { item, .. } => {
                let _ = self.batch_items.try_push(item);
            }
            Event::SnapshotBegin => self.tracker.begin_snapshot(),
            Event::Execution {
                report,
                snapshot,
                recv_ns,
            } => {
                if !snapshot {
                    let _ = self
                        .wire_to_strategy
                        .record(now.saturating_sub(recv_ns).max(1));
                }
                self.tracker.apply_report(&report, snapshot, now, &mut sink)
            }
            Event::RecoveredFill { report } => {
                // A fill already delivered of an order no longer tracked: nothing to look up.
                let known = self.tracker.by_order_id(&report.order_id).is_some()
                    || self.tracker.knows_fill(&report);
                // As a snapshot's trade: the fill counts once, the status is left to reports.
                self.tracker.apply_report(&report, true, now, &mut sink);
                if !known {
                    // An order we no longer (or never) tracked: its record came from this fill
                    // alone; a lookup settles its status.
                    self.reconciler.look_up(OrderRef::OrderId(report.order_id));
                }
            }
            Event::SnapshotEnd => {
                let reconciler = &mut self.reconciler;
                let journal = &mut self.journal;
                self.tracker.end_snapshot(&mut |e| {
                    if let TrackerEvent::StatusChange(c) = &e
                        && let (OrderStatus::Unknown, Some(id)) = (c.to, c.order_id)
                    {
                        reconciler.look_up(OrderRef::OrderId(id));
                    }
                    deliver(journal, s, &e);
                });
            }
            Event::FillsAtRisk { since } => {
                self.at_risk = since;
                if let Some(j) = &mut self.journal {
                    j.record(&crate::journal::Entry::AtRisk { since }, wall().0, now);
                }
            }
            Event::Balance { entry, .. } => s.on_balance(&entry),
            Event::Book(c) => match self.books.on_chunk(&c) {
                BookOutcome::Nothing => {}
                BookOutcome::Changed => {
                    if let Some(book) = self.books.get(c.symbol) {
                        let _ = self
                            .book_to_strategy
                            .record(now.saturating_sub(c.recv_ns).max(1));
                        s.on_book(c.symbol, book);
                    }
                }
                BookOutcome::Invalid(why) => {
                    EngineStats::inc(&self.stats.book_mismatches);
                    tracing::warn!(
                        symbol = self.symbols.name(c.symbol),
                        ?why,
                        "book out of sync: resubscribing"
                    );
                    s.on_book_invalid(c.symbol, why);
                }
            },
            Event::Trade {
                trade, snapshot, ..
            } => s.on_trade(&trade, snapshot),
            Event::Ticker { ticker, .. } => s.on_ticker(&ticker),
            Event::MarketConnection(c) => {
                self.market_connection = c;
                if c == ConnectionState::Disconnected {
                    self.books
                        .on_disconnected(|sym| s.on_book_invalid(sym, BookInvalid::Disconnected));
                }
                s.on_market_connection(c);
            }
            Event::MarketSubscription {
                symbol,
                channel,
                error,
                gave_up,
            } => s.on_market_subscription(
                symbol,
                channel,
                error.as_ref().map(|e| e.as_str()),
                gave_up,
            ),
            Event::Status(st) => {
                self.gate.on_status(st.system);
                s.on_system_status(&st);
            }
            Event::Connection(c) => {
                self.connection = c;
                if c == ConnectionState::Ready {
                    // Once the exchange's clock is measured: a lookup's window is fixed when
                    // it is asked, and before that its margins are wide.
                    for t in self.restored_lookups.drain(..) {
                        self.reconciler.look_up(t);
                    }
                }
                if self.gate.on_connection(c, now) {
                    tracing::warn!("circuit breaker opened");
                }
                s.on_connection(c);
            }
            Event::UnknownOutcome {
                req_id,
                disconnected,
            } => {
                // Every order the request concerns is looked up (never resent): untagged adds
                // carry an engine-assigned client id for this.
                for target in self.tracker.lookup_refs(req_id) {
                    self.reconciler.look_up(target);
                }
                if self.tracker.method_of(req_id) == Some(Method::EditOrder) {
                    // Its replacement, if the exchange opened one, has no client id: list the
                    // window instead. Sent within the last request timeout; its deadline at
                    // most one order deadline from now (in the exchange's clock).
                    let offset = self.stats.exchange_offset_us.load(Ordering::Relaxed);
                    let deadline =
                        crate::time::Timestamp(wall().0 + offset + self.order_deadline_us);
                    let since_ns = now.saturating_sub(self.request_timeout_ns);
                    // Sent from `poll`, like lookups (a full ring keeps it for later).
                    self.discoveries.push((since_ns, Some(deadline)));
                }
                self.tracker.on_timeout(req_id, now, &mut sink);
                if self.gate.on_unknown_outcome(disconnected, now) {
                    tracing::warn!("circuit breaker opened");
                }
                s.on_unknown_outcome(req_id);
            }
            Event::SequenceGap { .. } => {}
            Event::DecodeError(e) => s.on_decode_error(e),
            Event::MaxRateCount(m) => self.rate.calibrate(m),
            Event::Instrument(p) => {
                if let Some(sym) = self.symbols.get(p.symbol.as_str()) {
                    let ins = Instrument {
                        symbol: sym,
                        status: p.status.unwrap_or(PairStatus::Online),
                        price_increment: p.price_increment.unwrap_or(Decimal::ZERO),
                        qty_increment: p.qty_increment.unwrap_or(Decimal::ZERO),
                        qty_min: p.qty_min.unwrap_or(Decimal::ZERO),
                        cost_min: p.cost_min.unwrap_or(Decimal::ZERO),
                    };
                    self.set_instrument(ins);
                }
            }
            Event::EventRingFull => s.on_event_ring_full(),
            Event::RecoveryFailing { error } => s.on_recovery_failing(error.as_str()),
            Event::NotSent { req_id, reason } => {
                self.tracker.not_sent(req_id, reason, now, &mut sink);
            }
            Event::Resolved {
                target,
                order_id,
                status,
                filled,
            } => {
                let known = self.tracker.by_ref(&target).is_some();
                if let (OrderRef::OrderId(id), Some(st), false) = (target, status, known)
                    && st != OrderStatus::Unknown
                {
                    // Listed, not looked up: an order we had no record of.
                    self.tracker
                        .adopt(id, st, filled.unwrap_or_default(), now, &mut sink);
                    return;
                }
                self.tracker
                    .resolve(&target, order_id, status, filled, now, &mut sink);
                match self.reconciler.on_resolved(&target, status, now) {
                    Verdict::Retry { report: true } => {
                        s.on_recovery_failing("order lookups keep failing");
                    }
                    Verdict::NeverPlaced => {
                        self.tracker.give_up(&target, now, &mut sink);
                    }
                    Verdict::Retry { report: false } | Verdict::Found => {}
                }
            }
        }
    }

    /// Polls until the WebSocket is ready and every symbol has instrument rules, or `timeout`.
    /// Sleeps between polls, so it does not spin.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// // Connected, authenticated, and the rules of every symbol known:
    /// assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// assert!(trader.instrument(btc).is_some());
    /// # let _ = trader.shutdown();
    /// ```
    #[must_use = "false: the engine is not ready (not connected, or no instrument rules yet)"]
    pub fn wait_ready<S: Strategy + ?Sized>(
        &mut self,
        strategy: &mut S,
        timeout: Duration,
    ) -> bool {
        self.poll_until(strategy, timeout, |t| {
            t.connection == ConnectionState::Ready && t.instruments.iter().all(Option::is_some)
        })
    }

    /// Polls (calling `strategy` back) until `done` holds or `timeout` passes; `false` if it
    /// timed out. Sleeps a millisecond between polls, so it does not spin: for scripts, tests
    /// and start-up, not for a trading loop.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::Duration;
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// let id = ClOrdId::new("bid-1").unwrap();
    /// trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(id)).unwrap();
    /// let open = trader.poll_until(&mut (), Duration::from_secs(10), |t| {
    ///     t.order_status(&id.into()).is_some_and(|o| o.status == OrderStatus::Open)
    /// });
    /// assert!(open, "not open after 10 s");
    /// # let _ = trader.shutdown();
    /// ```
    #[must_use = "false: `done` did not hold before the timeout"]
    pub fn poll_until<S: Strategy + ?Sized>(
        &mut self,
        strategy: &mut S,
        timeout: Duration,
        mut done: impl FnMut(&Trader) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll(strategy);
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// An order by its order id or client order id (`None` for a userref, which names a
    /// group of orders: see [`active_orders`](Self::active_orders)).
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// let o = trader.order_status(&OrderRef::ClOrdId(bid)).unwrap();
    /// assert_eq!((o.status, o.limit_price), (OrderStatus::Open, Some(dec!(50000))));
    /// let by_id = trader.order_status(&OrderRef::OrderId(o.order_id.unwrap())).unwrap();
    /// assert_eq!(by_id.cl_ord_id, Some(bid));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn order_status(&self, target: &OrderRef) -> Option<&Order> {
        self.tracker.by_ref(target)
    }

    /// Orders that may still trade.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// let open: Vec<_> = trader.active_orders().filter_map(|o| o.cl_ord_id).collect();
    /// assert_eq!(open, [bid]);
    /// # let _ = trader.shutdown();
    /// ```
    pub fn active_orders(&self) -> impl Iterator<Item = &Order> {
        self.tracker.active_orders()
    }

    /// The last `limit` fills, newest first.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// trader.add_order(AddOrder::market(btc, Side::Buy, dec!(0.01))).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_history(10).next().is_some()));
    /// let last = trader.order_history(1).next().unwrap();
    /// assert_eq!(last.side, Some(Side::Buy));
    /// # let _ = trader.shutdown();
    /// ```
    pub fn order_history(&self, limit: usize) -> impl Iterator<Item = &Fill> {
        self.tracker.history().rev().take(limit)
    }

    /// Position per symbol.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// trader.add_order(AddOrder::market(btc, Side::Buy, dec!(0.01))).unwrap();
    /// assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.positions().any(|(_, p)| p.qty == dec!(0.01))));
    /// let (sym, p) = trader.positions().next().unwrap();
    /// assert_eq!(sym, btc);
    /// assert!(p.avg_price > Decimal::ZERO);
    /// # let _ = trader.shutdown();
    /// ```
    pub fn positions(&self) -> impl Iterator<Item = (SymbolId, &Position)> {
        self.tracker.positions()
    }

    /// The order tracker.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// assert_eq!(trader.tracker().stats().active_orders, 1);
    /// # let _ = trader.shutdown();
    /// ```
    pub fn tracker(&self) -> &OrderTracker {
        &self.tracker
    }

    /// Every counter.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// let s = trader.statistics();
    /// assert!(s.connected && s.authenticated);
    /// assert!(s.ack.count >= 1 && s.ack.p50 > 0); // ns
    /// # let _ = trader.shutdown();
    /// ```
    pub fn statistics(&self) -> Statistics {
        let st = &self.stats;
        let now = now_ns();
        Statistics {
            tracker: self.tracker.stats(),
            journal_failures: self.journal.as_ref().map_or(0, |j| j.failures()),
            websocket_orders: EngineStats::get(&st.websocket_orders),
            rest_fallback_orders: EngineStats::get(&st.rest_fallback_orders),
            frames_in: EngineStats::get(&st.frames_in),
            decode_errors: EngineStats::get(&st.decode_errors),
            non_json_frames: EngineStats::get(&st.non_json_frames),
            connects: EngineStats::get(&st.connects),
            disconnects: EngineStats::get(&st.disconnects),
            sequence_gaps: EngineStats::get(&st.sequence_gaps),
            duplicate_frames: EngineStats::get(&st.duplicate_frames),
            silent_stream_resyncs: EngineStats::get(&st.silent_stream_resyncs),
            quiet_resyncs: EngineStats::get(&st.quiet_resyncs),
            tokens_fetched: EngineStats::get(&st.tokens_fetched),
            dead_man_refreshes: EngineStats::get(&st.dead_man_refreshes),
            reconciliations: EngineStats::get(&st.reconciliations),
            unknown_values: EngineStats::get(&st.unknown_values),
            recovery_failures: EngineStats::get(&st.recovery_failures) + self.reconciler.reported(),
            pacing: PacingStats {
                depth: self.paced.iter().map(|q| q.len() as u64).sum(),
                wait: LatencySummary::of(&self.pacing_wait),
                ..self.pacing_stats
            },
            market: MarketStats {
                frames_in: EngineStats::get(&st.market_frames_in),
                connects: EngineStats::get(&st.market_connects),
                disconnects: EngineStats::get(&st.market_disconnects),
                book_frames: EngineStats::get(&st.book_frames),
                book_mismatches: EngineStats::get(&st.book_mismatches),
                book_resyncs: EngineStats::get(&st.book_resyncs),
                book_to_strategy: LatencySummary::of(&self.book_to_strategy),
            },
            exchange_offset_us: st.exchange_offset_us.load(Ordering::Relaxed),
            event_ring_stalls: EngineStats::get(&st.event_ring_stalls),
            refused_locally: self.refused,
            connected: st.connected.load(Ordering::Relaxed),
            authenticated: st.authenticated.load(Ordering::Relaxed),
            dead_man_armed: st.dead_man_armed.load(Ordering::Acquire),
            breaker_open: self.gate.breaker_open(now),
            breaker_trips: self.gate.breaker_trips(),
            ack: LatencySummary::of(&self.ack_latency),
            wire_to_strategy: LatencySummary::of(&self.wire_to_strategy),
        }
    }

    /// Stops the engine: every request already accepted is sent over the socket (or, if it
    /// is down, reported not sent: nothing goes over REST after this call), the answers to
    /// requests in flight are awaited briefly, the dead man's switch is disarmed, the threads
    /// joined. What arrived meanwhile (fills included) is in the report's `events`; use
    /// [`Trader::shutdown_with`] to have the strategy called instead.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000))).unwrap();
    /// let report = trader.shutdown();
    /// assert!(report.not_sent.is_empty()); // the add was on the wire before the socket closed
    /// // Anything still unanswered may have executed: look it up before trading on.
    /// for req in &report.unanswered {
    ///     eprintln!("request {req} has no known outcome");
    /// }
    /// ```
    pub fn shutdown(mut self) -> ShutdownReport {
        let mut events = Vec::new();
        let (not_sent, unanswered) = self.stop_and_drain(&mut |e| events.push(*e));
        ShutdownReport {
            latency: self.latency_report(),
            events,
            not_sent,
            unanswered,
        }
    }

    /// [`Trader::shutdown`], calling `strategy` for what arrives while stopping.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// struct Log;
    /// impl Strategy for Log {
    ///     fn on_execution(&mut self, fill: &Fill) {
    ///         eprintln!("late fill {}", fill.exec_id.as_str());
    ///     }
    /// }
    /// let report = trader.shutdown_with(&mut Log); // the last events go to the strategy
    /// assert!(report.events.is_empty()); // the strategy heard them instead
    /// ```
    pub fn shutdown_with<S: Strategy + ?Sized>(mut self, strategy: &mut S) -> ShutdownReport {
        let (not_sent, unanswered) = self.stop_and_drain(&mut |e| dispatch(strategy, e));
        ShutdownReport {
            latency: self.latency_report(),
            events: Vec::new(),
            not_sent,
            unanswered,
        }
    }

    /// Stops the threads while applying their last events; returns the requests reported not
    /// sent and those still without an outcome.
    fn stop_and_drain(
        &mut self,
        out: &mut dyn FnMut(&TrackerEvent),
    ) -> (Vec<RequestId>, Vec<RequestId>) {
        struct Collect<'a> {
            out: &'a mut dyn FnMut(&TrackerEvent),
            not_sent: Vec<RequestId>,
        }
        impl Strategy for Collect<'_> {
            fn on_execution(&mut self, f: &Fill) {
                (self.out)(&TrackerEvent::Execution(*f));
            }
            fn on_status_change(&mut self, c: &StatusChange) {
                (self.out)(&TrackerEvent::StatusChange(*c));
            }
            fn on_reject(&mut self, r: &RequestFailure) {
                (self.out)(&TrackerEvent::Rejected(*r));
            }
            fn on_ack(&mut self, a: &RequestAck) {
                (self.out)(&TrackerEvent::Accepted(*a));
            }
            fn on_not_sent(&mut self, n: &NotSent) {
                self.not_sent.push(n.req_id);
                (self.out)(&TrackerEvent::NotSent(*n));
            }
        }
        let mut c = Collect {
            out,
            not_sent: Vec::new(),
        };
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut io) = self.inline.take() {
            // Same-thread mode: the stop runs here, and the events it leaves are the strategy's.
            io.finish(true);
            self.drain_events(&mut c);
            while let Some(ev) = io.next_event() {
                self.apply(ev, &mut c);
            }
        }
        // Keep draining while the threads finish: the I/O thread never drops an event, so it
        // waits for room in the ring.
        while self.handles.iter().any(|h| !h.is_finished()) {
            if self.drain_events(&mut c) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.stop_threads();
        self.drain_events(&mut c);
        let mut unanswered: Vec<RequestId> = self.tracker.requests_in_flight().collect();
        unanswered.sort_unstable();
        (c.not_sent, unanswered)
    }

    fn drain_events<S: Strategy + ?Sized>(&mut self, s: &mut S) -> usize {
        while let Some(e) = self.pending.pop_front() {
            deliver(&mut self.journal, s, &e);
        }
        let mut n = 0;
        while let Ok(ev) = self.ev_rx.pop() {
            n += 1;
            self.apply(ev, s);
        }
        // Same-thread mode: straight from the sessions, with no ring between (two copies of
        // each event fewer). One at a time, so the I/O state stays in place while the
        // strategy's callbacks run (a callback that panics cannot take it with it).
        while let Some(ev) = self.inline.as_mut().and_then(|io| io.next_event()) {
            n += 1;
            self.apply(ev, s);
        }
        n
    }

    fn latency_report(&mut self) -> LatencyReport {
        let io = self.stats.io_latency.lock().ok().and_then(|mut h| h.take());
        let io = io.unwrap_or_else(|| crate::engine::stats::IoLatency {
            tick_to_pop: latency_histogram(),
            tick_to_wire: latency_histogram(),
            frame_to_ring: latency_histogram(),
        });
        LatencyReport {
            tick_to_pop: io.tick_to_pop,
            tick_to_wire: io.tick_to_wire,
            frame_to_ring: io.frame_to_ring,
            wire_to_strategy: std::mem::replace(&mut self.wire_to_strategy, latency_histogram()),
            ack: std::mem::replace(&mut self.ack_latency, latency_histogram()),
        }
    }

    /// Stops the engine as a crash would: the socket drops, nothing is disarmed, so Kraken's
    /// dead man's switch cancels the orders when it expires. For failure drills and tests.
    ///
    /// ```
    /// # use kraken_exec::prelude::*;
    /// # use rust_decimal_macros::dec;
    /// # use std::time::{Duration, Instant};
    /// # let sim = kraken_sim::Sim::start(kraken_sim::SimConfig { market_flow: false, ..Default::default() }).unwrap();
    /// # let mut trader = kraken_exec::start(EngineConfig::simulator(&sim, &["BTC/USD"])).unwrap();
    /// # assert!(trader.wait_ready(&mut (), Duration::from_secs(10)));
    /// # let btc = trader.symbol("BTC/USD").unwrap();
    /// # let bid = ClOrdId::new("bid-1").unwrap();
    /// # trader.add_order(AddOrder::limit(btc, Side::Buy, dec!(0.01), dec!(50000)).cl_ord_id(bid)).unwrap();
    /// # assert!(trader.poll_until(&mut (), Duration::from_secs(10), |t| t.order_status(&bid.into()).is_some_and(|o| o.status == OrderStatus::Open)));
    /// trader.kill(); // no cancel, no goodbye: the dead man's switch cancels the order later
    /// ```
    pub fn kill(mut self) {
        self.abort.store(true, Ordering::Relaxed);
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut io) = self.inline.take() {
            // Dropped without `shutdown`: the stop is run here (a crash's if unwinding).
            io.finish(true);
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Trader {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Unwinding from a panic (in a strategy callback, say): the strategy did not mean
            // to stop, so its orders stay protected by the armed dead man's switch, as after
            // a crash. A clean stop would disarm it and leave them live and unmanaged.
            self.abort.store(true, Ordering::Relaxed);
        }
        self.stop_threads();
    }
}

/// Whether `target` names the waiting add `o` (by client id; it has no Kraken id yet).
fn target_matches(target: &OrderRef, o: &AddOrder) -> bool {
    match target {
        OrderRef::ClOrdId(c) => o.tag.cl_ord_id() == Some(*c),
        OrderRef::UserRef(u) => o.tag == ClientTag::UserRef(*u),
        OrderRef::OrderId(_) => false,
    }
}

/// Distinct per engine instance, across processes and restarts: the wall clock in
/// nanoseconds mixed with the process id.
fn instance_stamp() -> u64 {
    // On simulated time (the crate's deterministic simulation) a seed must replay exactly.
    #[cfg(test)]
    if crate::engine::clock::simulated::get().is_some() {
        return wall().0 as u64;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    nanos ^ (u64::from(std::process::id()).rotate_left(40))
}

/// Records `e` in the journal (if any), then tells the strategy: the journal holds what the
/// strategy was told before it can act on it.
fn deliver<S: Strategy + ?Sized>(
    journal: &mut Option<crate::journal::Journal>,
    s: &mut S,
    e: &TrackerEvent,
) {
    if let Some(j) = journal
        && let Some(entry) = crate::journal::entry_of(e)
    {
        j.record(&entry, wall().0, now_ns());
    }
    dispatch(s, e);
}

/// The journal's record of an add (alone, or one of a batch: its pair, `deadline` and
/// `validate` are the batch's). Its quantity is the tracker's, in base units (zero for one given in the
/// quote currency), so a recovered order reads as the live one did.
fn add_intent(
    req_id: RequestId,
    method: Method,
    o: &AddOrder,
    symbol: SymbolId,
    deadline: Option<crate::time::Timestamp>,
    validate: bool,
) -> crate::journal::Entry {
    crate::journal::Entry::Intent {
        req_id,
        method,
        cl_ord_id: o.tag.cl_ord_id(),
        order_id: None,
        symbol,
        side: Some(o.side),
        qty: Some(o.base_qty()),
        price: o.limit_price,
        deadline,
        validate,
    }
}

/// The journal's record of a request accepted from the strategy.
fn intent_of(cmd: &OrderCommand) -> Option<crate::journal::Entry> {
    use crate::journal::Entry;
    let intent =
        |req_id, method, (order_id, cl_ord_id), symbol, side, qty, price, deadline| Entry::Intent {
            req_id,
            method,
            cl_ord_id,
            order_id,
            symbol,
            side,
            qty,
            price,
            deadline,
            validate: false,
        };
    Some(match *cmd {
        OrderCommand::Add { req_id, order } => add_intent(
            req_id,
            Method::AddOrder,
            &order,
            order.symbol,
            order.deadline,
            order.validate,
        ),
        OrderCommand::Amend { req_id, amend } => intent(
            req_id,
            Method::AmendOrder,
            amend.target.ids(),
            SymbolId::UNKNOWN,
            None,
            amend.order_qty,
            amend.limit_price,
            amend.deadline,
        ),
        OrderCommand::Edit { req_id, edit } => intent(
            req_id,
            Method::EditOrder,
            (Some(edit.order_id), None),
            edit.symbol,
            None,
            edit.order_qty,
            edit.limit_price,
            edit.deadline,
        ),
        OrderCommand::CancelOne { req_id, target: t } => intent(
            req_id,
            Method::CancelOrder,
            OrderRef::ids(&t),
            SymbolId::UNKNOWN,
            None,
            None,
            None,
            None,
        ),
        OrderCommand::CancelAll { req_id } => intent(
            req_id,
            Method::CancelAll,
            (None, None),
            SymbolId::UNKNOWN,
            None,
            None,
            None,
            None,
        ),
        OrderCommand::CancelAfter { req_id, .. } => intent(
            req_id,
            Method::CancelAllOrdersAfter,
            (None, None),
            SymbolId::UNKNOWN,
            None,
            None,
            None,
            None,
        ),
        // A batch's orders are on record one by one (see `batch_add`).
        OrderCommand::Large {
            method: Method::BatchAdd,
            ..
        } => return None,
        OrderCommand::Large { req_id, method } => intent(
            req_id,
            method,
            (None, None),
            SymbolId::UNKNOWN,
            None,
            None,
            None,
            None,
        ),
    })
}

fn dispatch<S: Strategy + ?Sized>(s: &mut S, e: &TrackerEvent) {
    match e {
        TrackerEvent::Execution(f) => s.on_execution(f),
        TrackerEvent::StatusChange(c) => s.on_status_change(c),
        TrackerEvent::Rejected(r) => s.on_reject(r),
        TrackerEvent::Accepted(a) => s.on_ack(a),
        TrackerEvent::NotSent(n) => s.on_not_sent(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An add given in the quote currency is journaled with the tracker's base quantity
    /// (zero), not its quote amount read as a quantity (which a restart then restored as the
    /// order's size).
    #[test]
    fn a_quote_quantity_add_is_journaled_in_base_units() {
        let order = AddOrder::market_buy_quote(SymbolId(0), rust_decimal_macros::dec!(100));
        let e = intent_of(&OrderCommand::Add {
            req_id: RequestId(1),
            order,
        });
        assert!(
            matches!(e, Some(crate::journal::Entry::Intent { qty: Some(q), .. }) if q.is_zero()),
            "{e:?}"
        );
        let order = AddOrder::limit(
            SymbolId(0),
            Side::Buy,
            rust_decimal_macros::dec!(0.5),
            rust_decimal_macros::dec!(100),
        );
        let e = intent_of(&OrderCommand::Add {
            req_id: RequestId(2),
            order,
        });
        assert!(
            matches!(e, Some(crate::journal::Entry::Intent { qty: Some(q), .. }) if q == rust_decimal_macros::dec!(0.5)),
            "{e:?}"
        );
    }

    /// A request sent through the large ring is journaled under its own method (it used to be
    /// recorded as a `batch_add` whatever it was); a `batch_add` is journaled order by order
    /// by `batch_add` itself, not as one request here.
    #[test]
    fn large_requests_are_journaled_under_their_own_method() {
        for method in [Method::CancelOrder, Method::BatchCancel] {
            let e = intent_of(&OrderCommand::Large {
                req_id: RequestId(9),
                method,
            });
            assert!(
                matches!(e, Some(crate::journal::Entry::Intent { req_id: RequestId(9), method: m, .. }) if m == method),
                "{method:?}: {e:?}"
            );
        }
        let batch = OrderCommand::Large {
            req_id: RequestId(9),
            method: Method::BatchAdd,
        };
        assert_eq!(intent_of(&batch), None);
    }
}

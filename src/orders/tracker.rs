//! The order tracker: a deterministic state machine fed requests, responses and execution
//! reports, with time passed in.
//!
//! Rules it keeps (see `docs/kraken-protocol.md` §4): executions are the source of truth for fills; delta frames
//! join by `order_id`; the ack and the executions of an order arrive in either order; fills are
//! deduplicated by `exec_id`; remaining quantity is `order_qty - filled`, never inferred from a
//! status word; a timed-out request makes the order `Unknown`, never resent.

use std::collections::{HashMap, VecDeque};

use arrayvec::ArrayVec;
use rust_decimal::Decimal;
use rustc_hash::FxBuildHasher;

use crate::error::KrakenErrorKind;
use crate::ids::{ClOrdId, ExecId, OrderId, RequestId, SymbolId};
use crate::order::{AddOrder, BatchAdd, ClientTag, EditOrder, OrderRef};
use crate::orders::dedup::ExecIdSet;
use crate::orders::position::Position;
use crate::protocol::messages::{
    AckResult, BatchItem, ExecutionReport, Fee, FrameKind, MAX_FEES, Method, Response, Text,
};
use crate::time::Timestamp;
use crate::types::{ExecType, Liquidity, OrderStatus, OrderType, Side, WireOrderStatus};

type FxMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// Sizes and bounds of the tracker. Everything is allocated up front from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerConfig {
    /// Fills kept in the execution history.
    pub history_limit: usize,
    /// Completed orders kept before the oldest are forgotten.
    pub retention: usize,
    /// Orders expected at once (live + retained); beyond it the maps grow (allocate).
    pub capacity: usize,
    /// Execution ids remembered for deduplication.
    pub dedup_capacity: usize,
    /// Requests in flight expected at once.
    pub max_in_flight: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            history_limit: 1000,
            retention: 10_000,
            capacity: 16_384,
            dedup_capacity: 100_000,
            max_in_flight: 4096,
        }
    }
}

/// One order as we know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Order {
    /// Kraken's id, once known.
    pub order_id: Option<OrderId>,
    /// The `deadline` its add request carried (exchange time): the exchange opens it no
    /// later than that, which bounds a lookup's search.
    pub deadline: Option<crate::time::Timestamp>,
    /// Client order id.
    pub cl_ord_id: Option<ClOrdId>,
    /// Userref.
    pub userref: Option<i64>,
    /// Symbol ([`SymbolId::UNKNOWN`] until a full frame names it).
    pub symbol: SymbolId,
    /// Side, once known.
    pub side: Option<Side>,
    /// Type, once known.
    pub order_type: Option<OrderType>,
    /// Lifecycle status.
    pub status: OrderStatus,
    /// Ordered quantity (base).
    pub order_qty: Decimal,
    /// Filled quantity.
    pub filled_qty: Decimal,
    /// Average fill price.
    pub avg_price: Decimal,
    /// Filled cost (quote).
    pub cum_cost: Decimal,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// Post-only, as requested or last reported.
    pub post_only: Option<bool>,
    /// Reduce-only, as requested or last reported.
    pub reduce_only: Option<bool>,
    /// Fees by asset; the first `fee_count` are set.
    pub fees: [Fee; MAX_FEES],
    /// Number of fee assets.
    pub fee_count: u8,
    /// Distinct fills seen.
    pub fill_count: u32,
    /// The exchange's error text, for a rejected order.
    pub error: Option<Text>,
    /// The last reason the exchange gave (cancel, amend, expiry).
    pub reason: Option<Text>,
    /// A cancel was sent and not yet confirmed.
    pub cancel_pending: bool,
    /// Times amended.
    pub amends: u32,
    /// Request that created it.
    pub req_id: Option<RequestId>,
    /// Monotonic ns when first seen.
    pub created_ns: u64,
    /// Monotonic ns since which it has rested unchanged (placed or last amended): its age for
    /// the rate counter.
    pub rested_since_ns: u64,
    /// Monotonic ns of the last change.
    pub updated_ns: u64,
    /// Monotonic ns when its first `executions` report was applied (0: none yet).
    pub first_report_ns: u64,
    /// Exchange time of the last report.
    pub exchange_time: Option<Timestamp>,
    fill_sum: Decimal,
    fill_cost: Decimal,
    snapshot_epoch: u32,
}

impl Order {
    fn new(symbol: SymbolId, now: u64) -> Self {
        Self {
            order_id: None,
            deadline: None,
            cl_ord_id: None,
            userref: None,
            symbol,
            side: None,
            order_type: None,
            status: OrderStatus::Pending,
            order_qty: Decimal::ZERO,
            filled_qty: Decimal::ZERO,
            avg_price: Decimal::ZERO,
            cum_cost: Decimal::ZERO,
            limit_price: None,
            post_only: None,
            reduce_only: None,
            fees: [Fee::default(); MAX_FEES],
            fee_count: 0,
            fill_count: 0,
            error: None,
            reason: None,
            cancel_pending: false,
            amends: 0,
            req_id: None,
            created_ns: now,
            rested_since_ns: now,
            updated_ns: now,
            first_report_ns: 0,
            exchange_time: None,
            fill_sum: Decimal::ZERO,
            fill_cost: Decimal::ZERO,
            snapshot_epoch: 0,
        }
    }

    /// `order_qty - filled_qty`, never negative.
    pub fn remaining_qty(&self) -> Decimal {
        self.order_qty
            .checked_sub(self.filled_qty)
            .unwrap_or_default()
            .max(Decimal::ZERO)
    }

    /// Fees by asset.
    pub fn fees(&self) -> &[Fee] {
        &self.fees[..usize::from(self.fee_count).min(MAX_FEES)]
    }

    fn add_fee(&mut self, fee: &Fee) {
        if let Some(f) = self.fees[..usize::from(self.fee_count)]
            .iter_mut()
            .find(|f| f.asset == fee.asset)
        {
            f.qty = f.qty.checked_add(fee.qty).unwrap_or(f.qty);
        } else if usize::from(self.fee_count) < MAX_FEES {
            self.fees[usize::from(self.fee_count)] = *fee;
            self.fee_count += 1;
        }
    }
}

/// A new, deduplicated fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Fill {
    /// The order.
    pub order_id: OrderId,
    /// Its client id.
    pub cl_ord_id: Option<ClOrdId>,
    /// Execution id.
    pub exec_id: ExecId,
    /// Per-pair trade id.
    pub trade_id: Option<u64>,
    /// Symbol.
    pub symbol: SymbolId,
    /// Side (`None` if no frame ever said).
    pub side: Option<Side>,
    /// Filled quantity.
    pub qty: Decimal,
    /// Fill price.
    pub price: Decimal,
    /// First fee of the fill.
    pub fee: Option<Fee>,
    /// Maker or taker.
    pub liquidity: Option<Liquidity>,
    /// Exchange time.
    pub timestamp: Option<Timestamp>,
    /// Order's filled quantity after this fill.
    pub filled_qty: Decimal,
    /// Order's remaining quantity after this fill.
    pub remaining_qty: Decimal,
    /// Heard as it happened, caught up on, or from before this engine kept records.
    pub origin: FillOrigin,
}

/// Where a fill was heard of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FillOrigin {
    /// From the executions stream as it happened.
    #[default]
    Live,
    /// Caught up on: from a snapshot or the REST trade history, after a reconnect or a restart
    /// (made while this engine was not listening). New to the strategy, counted as any fill.
    Recovered,
    /// From before this engine kept records (a snapshot replays Kraken's last 50 fills, however
    /// old): on a first start, or without a journal, those that predate the start. Delivered
    /// so the strategy can see them, never counted: not in positions, not in `fills`.
    Historical,
}

/// An order changed status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StatusChange {
    /// Kraken's id, when known.
    pub order_id: Option<OrderId>,
    /// Client id.
    pub cl_ord_id: Option<ClOrdId>,
    /// Symbol.
    pub symbol: SymbolId,
    /// Previous status; `None` for a new order.
    pub from: Option<OrderStatus>,
    /// New status.
    pub to: OrderStatus,
    /// The exchange's reason, if any.
    pub reason: Option<Text>,
}

/// A request the exchange refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RequestFailure {
    /// The request.
    pub req_id: Option<RequestId>,
    /// Its method.
    pub method: Method,
    /// The order it concerned, if one.
    pub order_id: Option<OrderId>,
    /// Its client id.
    pub cl_ord_id: Option<ClOrdId>,
    /// Classified error.
    pub kind: KrakenErrorKind,
    /// Error text.
    pub error: Text,
}

/// The exchange accepted a request (its last response arrived, successfully).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RequestAck {
    /// The request.
    pub req_id: RequestId,
    /// Its method.
    pub method: Method,
    /// The order it created or concerned, when the answer or the request names one (`None`
    /// for a validate-only add: nothing was created).
    pub order_id: Option<OrderId>,
    /// Its client id.
    pub cl_ord_id: Option<ClOrdId>,
}

/// Why an accepted request never left the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NotSentReason {
    /// The engine was shut down before it could send it.
    #[default]
    Shutdown,
    /// It waited for REST fallback longer than its deadline and was dropped unsent.
    Expired,
    /// No REST pair is known for its symbol (`AssetPairs` could not be read, or does not list
    /// it), so REST could not carry it.
    NoRestPair,
    /// It waited in the pacing queue (rate counter full) longer than the configured maximum.
    PacingExpired,
    /// The strategy cancelled it while it waited in the pacing queue.
    CanceledWhileQueued,
}

/// A request that never reached the exchange: its orders are settled as `Rejected` with the
/// reason, since the exchange cannot hold them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NotSent {
    /// The request.
    pub req_id: RequestId,
    /// Its method.
    pub method: Method,
    /// Why.
    pub reason: NotSentReason,
}

impl NotSentReason {
    /// The reason as text (also the rejected order's `reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotSentReason::Shutdown => "not sent: engine shut down",
            NotSentReason::Expired => "not sent: deadline passed while waiting for REST",
            NotSentReason::NoRestPair => "not sent: no REST pair known for the symbol",
            NotSentReason::PacingExpired => "not sent: expired in the pacing queue",
            NotSentReason::CanceledWhileQueued => "not sent: cancelled in the pacing queue",
        }
    }
}

/// What the tracker reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackerEvent {
    /// A new fill.
    Execution(Fill),
    /// A status transition.
    StatusChange(StatusChange),
    /// A refused request (the order, if any, also gets a status change when it is rejected).
    Rejected(RequestFailure),
    /// An accepted request: the request's own outcome, by id.
    Accepted(RequestAck),
    /// A request that never left the engine.
    NotSent(NotSent),
}

/// Counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TrackerStats {
    /// Orders sent.
    pub orders_submitted: u64,
    /// Orders that reached `Filled`.
    pub orders_filled: u64,
    /// Orders that reached `Canceled`.
    pub orders_cancelled: u64,
    /// Orders that reached `Expired`.
    pub orders_expired: u64,
    /// Orders rejected.
    pub orders_rejected: u64,
    /// Execution reports processed.
    pub execution_messages: u64,
    /// Distinct fills.
    pub fills: u64,
    /// Fills read back from the journal of an earlier run (not counted in `fills`).
    pub restored_fills: u64,
    /// Orders an earlier run left live or unknown, tracked again from its journal.
    pub restored_orders: u64,
    /// Fills from before the engine's records, delivered as [`FillOrigin::Historical`] (not
    /// counted in `fills`).
    pub historical_fills: u64,
    /// Fills seen again and ignored.
    pub duplicate_fills: u64,
    /// Requests that timed out.
    pub unknown_outcomes: u64,
    /// Refused requests of any method.
    pub request_errors: u64,
    /// Responses to requests the tracker did not know.
    pub unmatched_responses: u64,
    /// Orders currently active.
    pub active_orders: u64,
}

#[derive(Clone, Debug)]
struct InFlight {
    method: Method,
    slots: ArrayVec<u32, 15>,
    responses_left: u16,
}

/// Order lifecycle tracker. See the module docs.
#[derive(Debug)]
pub struct OrderTracker {
    cfg: TrackerConfig,
    slots: Vec<Option<Order>>,
    free: Vec<u32>,
    by_order_id: FxMap<OrderId, u32>,
    by_cl_ord_id: FxMap<ClOrdId, u32>,
    in_flight: FxMap<RequestId, InFlight>,
    /// Requests whose outcome became unknown, kept (the newest `max_in_flight`) so that a late
    /// answer still settles their orders instead of being dropped.
    late: FxMap<RequestId, InFlight>,
    late_order: VecDeque<RequestId>,
    completed: VecDeque<u32>,
    history: VecDeque<Fill>,
    dedup: ExecIdSet,
    /// Caught-up fills older than this are [`FillOrigin::Historical`] (`None`: none are).
    history_before: Option<Timestamp>,
    positions: Vec<Position>,
    stats: TrackerStats,
    epoch: u32,
}

fn rank(s: OrderStatus) -> u8 {
    match s {
        OrderStatus::Pending | OrderStatus::Unknown => 0,
        OrderStatus::PendingNew => 1,
        OrderStatus::Open => 2,
        OrderStatus::PartiallyFilled => 3,
        _ => 4,
    }
}

impl OrderTracker {
    /// A tracker for `symbols` interned symbols, with everything allocated up front.
    pub fn new(cfg: TrackerConfig, symbols: usize) -> Self {
        Self {
            cfg,
            slots: Vec::with_capacity(cfg.capacity),
            free: Vec::with_capacity(cfg.capacity),
            by_order_id: FxMap::with_capacity_and_hasher(cfg.capacity, FxBuildHasher),
            by_cl_ord_id: FxMap::with_capacity_and_hasher(cfg.capacity, FxBuildHasher),
            in_flight: FxMap::with_capacity_and_hasher(cfg.max_in_flight, FxBuildHasher),
            late: FxMap::with_capacity_and_hasher(cfg.max_in_flight, FxBuildHasher),
            late_order: VecDeque::with_capacity(cfg.max_in_flight + 1),
            completed: VecDeque::with_capacity(cfg.retention + 1),
            history: VecDeque::with_capacity(cfg.history_limit + 1),
            dedup: ExecIdSet::new(cfg.dedup_capacity),
            history_before: None,
            positions: vec![Position::default(); symbols],
            stats: TrackerStats::default(),
            epoch: 0,
        }
    }

    /// Counters.
    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// The order with Kraken id `id`.
    pub fn by_order_id(&self, id: &OrderId) -> Option<&Order> {
        self.by_order_id.get(id).and_then(|&s| self.get(s))
    }

    /// The latest order with client id `id`.
    pub fn by_cl_ord_id(&self, id: &ClOrdId) -> Option<&Order> {
        self.by_cl_ord_id.get(id).and_then(|&s| self.get(s))
    }

    /// The order a reference names: by exchange id or client id (a userref names no one
    /// order).
    pub fn by_ref(&self, r: &OrderRef) -> Option<&Order> {
        self.slot_of(r).and_then(|s| self.get(s))
    }

    /// The order created by request `req_id`, while that request is in flight.
    pub fn by_req_id(&self, req_id: RequestId) -> Option<&Order> {
        self.in_flight
            .get(&req_id)
            .and_then(|f| f.slots.first())
            .and_then(|&s| self.get(s))
    }

    /// Orders that may still trade (including `Pending` and `Unknown`).
    pub fn active_orders(&self) -> impl Iterator<Item = &Order> {
        self.slots.iter().flatten().filter(|o| o.status.is_active())
    }

    /// Every order held (active and retained completed ones).
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.slots.iter().flatten()
    }

    /// The most recent fills, oldest first (bounded by `history_limit`).
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &Fill> + ExactSizeIterator {
        self.history.iter()
    }

    /// Position in `symbol`.
    pub fn position(&self, symbol: SymbolId) -> Position {
        self.positions
            .get(usize::from(symbol.0))
            .copied()
            .unwrap_or_default()
    }

    /// Positions by symbol id.
    pub fn positions(&self) -> impl Iterator<Item = (SymbolId, &Position)> {
        self.positions
            .iter()
            .enumerate()
            .map(|(i, p)| (SymbolId(i as u16), p))
    }

    fn get(&self, slot: u32) -> Option<&Order> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    fn alloc(&mut self, order: Order) -> u32 {
        if order.status.is_active() {
            self.stats.active_orders += 1;
        }
        if let Some(s) = self.free.pop() {
            self.slots[s as usize] = Some(order);
            s
        } else {
            self.slots.push(Some(order));
            (self.slots.len() - 1) as u32
        }
    }

    fn order_mut(&mut self, slot: u32) -> Option<&mut Order> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    fn index(&mut self, slot: u32) {
        self.index_id(slot);
        self.index_cl(slot);
    }

    fn index_id(&mut self, slot: u32) {
        if let Some(id) = self.get(slot).and_then(|o| o.order_id) {
            self.by_order_id.insert(id, slot);
        }
    }

    /// Whether the order's client id names it (see the rules below); decided with its status
    /// known (a report's order is indexed by client id once its status is applied).
    fn index_cl(&mut self, slot: u32) {
        let Some(o) = self.get(slot).copied() else {
            return;
        };
        if let Some(c) = o.cl_ord_id {
            // A local submission still waiting for its id is the newest order with this client
            // id: a report of an older order reusing it (a snapshot's) must not take its place.
            // So is an add whose outcome is unknown (one an earlier process left in flight,
            // read back from its journal): its lookup names it by this id.
            let other = self
                .by_cl_ord_id
                .get(&c)
                .filter(|&&e| e != slot)
                .and_then(|&e| self.get(e));
            let waiting = other.is_some_and(|e| {
                e.order_id.is_none() && (e.req_id.is_some() || e.status == OrderStatus::Unknown)
            });
            // Nor may a closed order's report (a snapshot's trade) take it from a live one:
            // the id names the live order until it closes.
            let live = other.is_some_and(|e| e.status.is_active()) && !o.status.is_active();
            if (!waiting || o.order_id.is_none()) && !live {
                self.by_cl_ord_id.insert(c, slot);
            }
        }
    }

    /// Sets the status, counting and reporting the change. Refuses to go backwards (a late
    /// `new` after a `trade`) or out of a terminal state; `Unknown` is always left freely.
    fn set_status(
        &mut self,
        slot: u32,
        to: OrderStatus,
        reason: Option<Text>,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let Some(o) = self.order_mut(slot) else {
            return;
        };
        let from = o.status;
        if from == to || from.is_terminal() {
            return;
        }
        let forced = to == OrderStatus::Unknown || from == OrderStatus::Unknown;
        if !forced && rank(to) < rank(from) {
            return;
        }
        o.status = to;
        if reason.is_some() {
            o.reason = reason;
        }
        let ev = StatusChange {
            order_id: o.order_id,
            cl_ord_id: o.cl_ord_id,
            symbol: o.symbol,
            from: Some(from),
            to,
            reason,
        };
        match to {
            OrderStatus::Filled => self.stats.orders_filled += 1,
            OrderStatus::Canceled => self.stats.orders_cancelled += 1,
            OrderStatus::Expired => self.stats.orders_expired += 1,
            OrderStatus::Rejected => self.stats.orders_rejected += 1,
            _ => {}
        }
        if to.is_terminal() {
            if let Some(o) = self.order_mut(slot) {
                o.cancel_pending = false;
            }
            self.stats.active_orders = self.stats.active_orders.saturating_sub(1);
            self.retire(slot);
        }
        sink(TrackerEvent::StatusChange(ev));
    }

    /// Keeps `slot` among the retained completed orders, forgetting the oldest beyond the bound.
    fn retire(&mut self, slot: u32) {
        self.completed.push_back(slot);
        while self.completed.len() > self.cfg.retention {
            let Some(old) = self.completed.pop_front() else {
                break;
            };
            let Some(o) = self.slots.get_mut(old as usize).and_then(Option::take) else {
                continue;
            };
            if let Some(id) = o.order_id
                && self.by_order_id.get(&id) == Some(&old)
            {
                self.by_order_id.remove(&id);
            }
            if let Some(c) = o.cl_ord_id
                && self.by_cl_ord_id.get(&c) == Some(&old)
            {
                self.by_cl_ord_id.remove(&c);
            }
            self.free.push(old);
        }
    }

    fn new_order_from(&mut self, a: &AddOrder, req_id: RequestId, now: u64) -> u32 {
        let mut o = Order::new(a.symbol, now);
        o.deadline = a.deadline;
        o.cl_ord_id = a.tag.cl_ord_id();
        if let ClientTag::UserRef(r) = a.tag {
            o.userref = Some(i64::from(r));
        }
        o.side = Some(a.side);
        o.order_type = Some(a.order_type);
        o.order_qty = a.base_qty();
        o.limit_price = a.limit_price;
        o.post_only = Some(a.post_only);
        o.reduce_only = Some(a.reduce_only);
        o.req_id = Some(req_id);
        self.stats.orders_submitted += 1;
        let slot = self.alloc(o);
        self.index(slot);
        slot
    }

    fn announce_new(&self, slot: u32, sink: &mut impl FnMut(TrackerEvent)) {
        if let Some(o) = self.get(slot) {
            sink(TrackerEvent::StatusChange(StatusChange {
                order_id: o.order_id,
                cl_ord_id: o.cl_ord_id,
                symbol: o.symbol,
                from: None,
                to: o.status,
                reason: None,
            }));
        }
    }

    /// Records an `add_order` about to be sent as `req_id`: a `Pending` order.
    pub fn submit_add(
        &mut self,
        req_id: RequestId,
        a: &AddOrder,
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let mut slots = ArrayVec::new();
        // A validate-only add creates nothing at the exchange, so nothing here either: its
        // outcome is the request's own (accepted or rejected), never an active order.
        if !a.validate {
            let slot = self.new_order_from(a, req_id, now);
            slots.push(slot);
            self.announce_new(slot, sink);
        }
        self.in_flight.insert(
            req_id,
            InFlight {
                method: Method::AddOrder,
                slots,
                responses_left: 1,
            },
        );
    }

    /// Records a `batch_add` about to be sent as `req_id`.
    pub fn submit_batch(
        &mut self,
        req_id: RequestId,
        b: &BatchAdd,
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let mut slots = ArrayVec::new();
        if !b.validate {
            for a in &b.orders {
                let s = self.new_order_from(a, req_id, now);
                if let Some(o) = self.order_mut(s) {
                    o.deadline = b.deadline;
                }
                slots.push(s);
                self.announce_new(s, sink);
            }
        }
        self.in_flight.insert(
            req_id,
            InFlight {
                method: Method::BatchAdd,
                slots,
                responses_left: 1,
            },
        );
    }

    fn slot_of(&self, r: &OrderRef) -> Option<u32> {
        match r {
            OrderRef::OrderId(id) => self.by_order_id.get(id).copied(),
            OrderRef::ClOrdId(c) => self.by_cl_ord_id.get(c).copied(),
            OrderRef::UserRef(_) => None,
        }
    }

    /// Records a cancel (`cancel_order` or `batch_cancel`) of `refs` about to be sent.
    /// `responses` is how many acks Kraken sends for it (one per order for `cancel_order`).
    pub fn submit_cancel(
        &mut self,
        req_id: RequestId,
        method: Method,
        refs: &[OrderRef],
        responses: u16,
    ) {
        let mut slots = ArrayVec::new();
        for r in refs {
            if let Some(s) = self.slot_of(r) {
                if let Some(o) = self.order_mut(s) {
                    o.cancel_pending = true;
                }
                if !slots.is_full() {
                    slots.push(s);
                }
            }
        }
        self.in_flight.insert(
            req_id,
            InFlight {
                method,
                slots,
                responses_left: responses.max(1),
            },
        );
    }

    /// Records any other request (amend, cancel_all, cancel_all_orders_after) so its failure
    /// can be reported against the order it concerns.
    pub fn submit_other(&mut self, req_id: RequestId, method: Method, order: Option<&OrderRef>) {
        let mut slots = ArrayVec::new();
        if let Some(s) = order.and_then(|r| self.slot_of(r)) {
            slots.push(s);
        }
        self.in_flight.insert(
            req_id,
            InFlight {
                method,
                slots,
                responses_left: 1,
            },
        );
    }

    /// Records an `edit_order` about to be sent.
    pub fn submit_edit(&mut self, req_id: RequestId, e: &EditOrder) {
        let mut slots = ArrayVec::new();
        if let Some(s) = self.by_order_id.get(&e.order_id).copied() {
            slots.push(s);
        }
        self.in_flight.insert(
            req_id,
            InFlight {
                method: Method::EditOrder,
                slots,
                responses_left: 1,
            },
        );
    }

    /// Joins an order known by its Kraken id to one created locally (the ack arrived after the
    /// executions): the local record absorbs the other and takes its place.
    fn merge_into(&mut self, keep: u32, id: OrderId) {
        let Some(&other) = self.by_order_id.get(&id) else {
            return;
        };
        if other == keep {
            return;
        }
        let Some(theirs) = self.slots.get_mut(other as usize).and_then(Option::take) else {
            return;
        };
        if theirs.status.is_active() {
            self.stats.active_orders = self.stats.active_orders.saturating_sub(1);
        }
        self.free.push(other);
        self.completed.retain(|&s| s != other);
        let was_terminal = theirs.status.is_terminal();
        if let Some(o) = self.order_mut(keep) {
            let pending = o.status;
            let (req, created, cl, ur, side, ty, qty, lp) = (
                o.req_id,
                o.created_ns,
                o.cl_ord_id,
                o.userref,
                o.side,
                o.order_type,
                o.order_qty,
                o.limit_price,
            );
            *o = theirs;
            o.req_id = req;
            o.created_ns = created;
            o.cl_ord_id = o.cl_ord_id.or(cl);
            o.userref = o.userref.or(ur);
            o.side = o.side.or(side);
            o.order_type = o.order_type.or(ty);
            if o.order_qty.is_zero() {
                o.order_qty = qty;
            }
            o.limit_price = o.limit_price.or(lp);
            if pending.is_active() && was_terminal {
                // The local record was counted active; it now holds a completed order.
                self.stats.active_orders = self.stats.active_orders.saturating_sub(1);
                self.completed.push_back(keep);
            }
        }
        self.index(keep);
    }

    /// Applies a response. `batch` holds the elements of a `batch_add` response
    /// ([`crate::protocol::Decoder::batch`]).
    pub fn on_response(
        &mut self,
        r: &Response,
        batch: &[BatchItem],
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let Some(req_id) = r.req_id.map(RequestId) else {
            return;
        };
        let Some(mut fl) = self
            .in_flight
            .remove(&req_id)
            .or_else(|| self.late.remove(&req_id))
        else {
            if matches!(
                r.method,
                Method::AddOrder
                    | Method::AmendOrder
                    | Method::EditOrder
                    | Method::CancelOrder
                    | Method::BatchAdd
                    | Method::BatchCancel
            ) {
                self.stats.unmatched_responses += 1;
            }
            return;
        };
        fl.responses_left = fl.responses_left.saturating_sub(1);
        let first = fl.slots.first().copied();
        if !r.success {
            self.stats.request_errors += 1;
            let error = r.error.unwrap_or_else(|| Text::truncating("unknown error"));
            let kind = r.error_kind.unwrap_or(KrakenErrorKind::Other);
            let o = first.and_then(|s| self.get(s)).copied();
            sink(TrackerEvent::Rejected(RequestFailure {
                req_id: Some(req_id),
                method: fl.method,
                order_id: o.and_then(|o| o.order_id),
                cl_ord_id: o.and_then(|o| o.cl_ord_id),
                kind,
                error,
            }));
            match fl.method {
                Method::AddOrder | Method::BatchAdd => {
                    for &s in &fl.slots {
                        if let Some(o) = self.order_mut(s) {
                            o.error = Some(error);
                            o.updated_ns = now;
                        }
                        self.set_status(s, OrderStatus::Rejected, Some(error), sink);
                    }
                }
                Method::CancelOrder | Method::BatchCancel => {
                    for &s in &fl.slots {
                        if let Some(o) = self.order_mut(s) {
                            o.cancel_pending = false;
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        let (mut ack_id, mut ack_cl) = (None, None);
        match (fl.method, r.result) {
            (
                Method::AddOrder,
                AckResult::Order {
                    order_id,
                    cl_ord_id,
                    ..
                },
            ) => {
                (ack_id, ack_cl) = (order_id, cl_ord_id);
                if let (Some(s), Some(id)) = (first, order_id) {
                    self.acked(s, id, now, sink);
                }
            }
            (Method::BatchAdd, _) => {
                for (i, &s) in fl.slots.iter().enumerate() {
                    match batch.get(i) {
                        Some(BatchItem {
                            order_id: Some(id), ..
                        }) => self.acked(s, *id, now, sink),
                        Some(BatchItem { error: Some(e), .. }) => {
                            let e = *e;
                            if let Some(o) = self.order_mut(s) {
                                o.error = Some(e);
                            }
                            self.set_status(s, OrderStatus::Rejected, Some(e), sink);
                        }
                        _ => {}
                    }
                }
            }
            (
                Method::EditOrder,
                AckResult::Edit {
                    order_id: Some(new_id),
                    ..
                },
            ) => {
                ack_id = Some(new_id);
                if let Some(s) = first {
                    self.edited(s, new_id, now, sink);
                }
            }
            _ => {}
        }
        if fl.responses_left > 0 {
            self.in_flight.insert(req_id, fl);
            return;
        }
        let o = first.and_then(|s| self.get(s));
        sink(TrackerEvent::Accepted(RequestAck {
            req_id,
            method: fl.method,
            order_id: ack_id.or(o.and_then(|o| o.order_id)),
            cl_ord_id: o.and_then(|o| o.cl_ord_id).or(ack_cl),
        }));
    }

    /// Requests sent (or accepted for sending) whose outcome has not been seen: no response,
    /// no timeout yet.
    pub fn requests_in_flight(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.in_flight.keys().copied()
    }

    /// A request that never left the engine: its orders cannot be at the exchange, so they are
    /// settled as `Rejected` with `reason`.
    pub fn not_sent(
        &mut self,
        req_id: RequestId,
        reason: NotSentReason,
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let Some(fl) = self.in_flight.remove(&req_id) else {
            return;
        };
        let text = Text::truncating(reason.as_str());
        let to = if reason == NotSentReason::CanceledWhileQueued {
            OrderStatus::Canceled
        } else {
            OrderStatus::Rejected
        };
        if matches!(fl.method, Method::AddOrder | Method::BatchAdd) {
            for &s in &fl.slots {
                if let Some(o) = self.order_mut(s) {
                    o.error = Some(text);
                    o.updated_ns = now;
                }
                self.set_status(s, to, Some(text), sink);
            }
        } else {
            for &s in &fl.slots {
                if let Some(o) = self.order_mut(s) {
                    o.cancel_pending = false;
                }
            }
        }
        sink(TrackerEvent::NotSent(NotSent {
            req_id,
            method: fl.method,
            reason,
        }));
    }

    fn acked(&mut self, slot: u32, id: OrderId, now: u64, sink: &mut impl FnMut(TrackerEvent)) {
        self.merge_into(slot, id);
        if let Some(o) = self.order_mut(slot) {
            o.order_id = Some(id);
            o.updated_ns = now;
        }
        self.index(slot);
        // The ack means the exchange holds the order; executions may already have said more.
        self.set_status(slot, OrderStatus::Open, None, sink);
    }

    fn edited(
        &mut self,
        slot: u32,
        new_id: OrderId,
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let Some(old) = self.get(slot).copied() else {
            return;
        };
        self.set_status(
            slot,
            OrderStatus::Canceled,
            Some(Text::truncating("edited")),
            sink,
        );
        if self.by_order_id.contains_key(&new_id) {
            return; // executions already created the replacement
        }
        // The replacement as far as the exchange has said: an edit cannot change the symbol,
        // side or type; its quantity, price, userref and flags are what the executions stream
        // reports for it, not what we asked for.
        let mut o = Order::new(old.symbol, now);
        o.order_id = Some(new_id);
        o.side = old.side;
        o.order_type = old.order_type;
        o.status = OrderStatus::Open;
        let s = self.alloc(o);
        self.index(s);
        self.announce_new(s, sink);
    }

    /// A request got no reply by its deadline: its orders become `Unknown` (to be resolved by
    /// lookup, never by resending).
    pub fn on_timeout(&mut self, req_id: RequestId, now: u64, sink: &mut impl FnMut(TrackerEvent)) {
        let Some(fl) = self.in_flight.remove(&req_id) else {
            return;
        };
        self.stats.unknown_outcomes += 1;
        if matches!(fl.method, Method::AddOrder | Method::BatchAdd) {
            for &s in &fl.slots {
                if self
                    .get(s)
                    .is_some_and(|o| o.status == OrderStatus::Pending)
                {
                    if let Some(o) = self.order_mut(s) {
                        o.updated_ns = now;
                    }
                    self.set_status(s, OrderStatus::Unknown, None, sink);
                }
            }
        }
        // A late answer is still the truth: keep what it concerns.
        self.late.insert(req_id, fl);
        self.late_order.push_back(req_id);
        while self.late_order.len() > self.cfg.max_in_flight {
            if let Some(old) = self.late_order.pop_front() {
                self.late.remove(&old);
            }
        }
    }

    /// The orders request `req_id` concerns, as a lookup names them (client id first, since
    /// an order whose add has no answer has no Kraken id yet).
    pub fn lookup_refs(&self, req_id: RequestId) -> ArrayVec<OrderRef, 15> {
        let mut refs = ArrayVec::new();
        let Some(fl) = self.in_flight.get(&req_id) else {
            return refs;
        };
        for o in fl.slots.iter().filter_map(|&s| self.get(s)) {
            // Kraken's id when known: exact, where a client id may have named older orders.
            let r = match (o.order_id, o.cl_ord_id) {
                (Some(id), _) => OrderRef::OrderId(id),
                (None, Some(c)) => OrderRef::ClOrdId(c),
                (None, None) => continue,
            };
            let _ = refs.try_push(r);
        }
        refs
    }

    /// Resolves an order from an external lookup (REST `OpenOrders`/`QueryOrders`): `status`
    /// `None` means the exchange does not know it (yet): nothing changes.
    pub fn resolve(
        &mut self,
        r: &OrderRef,
        order_id: Option<OrderId>,
        status: Option<OrderStatus>,
        filled_qty: Option<Decimal>,
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let Some(s) = self.slot_of(r) else {
            return;
        };
        let Some(o) = self.order_mut(s) else {
            return;
        };
        o.updated_ns = now;
        if let Some(f) = filled_qty {
            o.filled_qty = o.filled_qty.max(f);
        }
        if let (None, Some(id)) = (o.order_id, order_id) {
            // A report may already have made a record of it (a snapshot's): one record.
            self.merge_into(s, id);
            if let Some(o) = self.order_mut(s) {
                o.order_id = Some(id);
            }
            self.index(s);
        }
        match status {
            // Not found yet: the request may still be on its way through the exchange. The
            // caller looks again later and gives up with `give_up`.
            Some(OrderStatus::Unknown) | None => {}
            Some(st) => self.set_status(s, st, None, sink),
        }
    }

    /// An order of the account the engine had no record of (found by a listing after an
    /// edit's answer was lost): recorded as the exchange shows it. False if already known.
    pub fn adopt(
        &mut self,
        order_id: OrderId,
        status: OrderStatus,
        filled_qty: Decimal,
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) -> bool {
        if self.by_order_id.contains_key(&order_id) {
            return false;
        }
        let mut o = Order::new(SymbolId::UNKNOWN, now);
        o.order_id = Some(order_id);
        o.status = status;
        o.filled_qty = filled_qty;
        let s = self.alloc(o);
        self.index(s);
        self.announce_new(s, sink);
        true
    }

    /// Whether `r` is a fill already delivered (its execution id is known).
    pub fn knows_fill(&self, r: &ExecutionReport) -> bool {
        r.exec_type == Some(ExecType::Trade) && r.exec_id.is_some_and(|id| self.dedup.contains(&id))
    }

    /// The method of a request in flight.
    pub fn method_of(&self, req_id: RequestId) -> Option<Method> {
        self.in_flight.get(&req_id).map(|f| f.method)
    }

    /// Settles an order still `Unknown` after repeated lookups found nothing: it was never
    /// placed. Returns false if it is no longer `Unknown` (the stream settled it meanwhile).
    pub fn give_up(&mut self, r: &OrderRef, now: u64, sink: &mut impl FnMut(TrackerEvent)) -> bool {
        let Some(s) = self.slot_of(r) else {
            return false;
        };
        if self.get(s).is_none_or(|o| o.status != OrderStatus::Unknown) {
            return false;
        }
        let e = Text::truncating("not found after an unknown outcome");
        if let Some(o) = self.order_mut(s) {
            o.error = Some(e);
            o.updated_ns = now;
        }
        self.set_status(s, OrderStatus::Rejected, Some(e), sink);
        true
    }

    /// Applies one `executions` frame. In a snapshot, active orders with a Kraken id that the
    /// snapshot does not list have closed while we were away: they become `Unknown`, to be
    /// resolved by lookup (the snapshot is assumed to carry open orders: `snap_orders: true`).
    pub fn on_executions(
        &mut self,
        kind: FrameKind,
        reports: &[ExecutionReport],
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let snapshot = kind == FrameKind::Snapshot;
        if snapshot {
            self.begin_snapshot();
        }
        for r in reports {
            self.apply_report(r, snapshot, now, sink);
        }
        if snapshot {
            self.end_snapshot(sink);
        }
    }

    /// Starts an executions snapshot delivered report by report (see [`Self::on_executions`]).
    pub fn begin_snapshot(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Ends a snapshot: orders it did not list become `Unknown`.
    pub fn end_snapshot(&mut self, sink: &mut impl FnMut(TrackerEvent)) {
        for s in 0..self.slots.len() as u32 {
            let stale = self.get(s).is_some_and(|o| {
                o.status.is_active()
                    && o.status != OrderStatus::Unknown
                    && o.order_id.is_some()
                    && o.snapshot_epoch != self.epoch
            });
            if stale {
                self.set_status(s, OrderStatus::Unknown, None, sink);
            }
        }
    }

    /// Applies one execution report (`snapshot`: it came in a snapshot frame).
    pub fn apply_report(
        &mut self,
        r: &ExecutionReport,
        snapshot: bool,
        now: u64,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        self.stats.execution_messages += 1;
        let found = self.by_order_id.get(&r.order_id).copied().or_else(|| {
            // Executions before the ack: join by client id to the pending record, but only the
            // live report of an order's birth. A client id can be reused once its order has
            // closed, so a snapshot's trade (or any later report) with the same id may belong
            // to an older order; those wait for the ack or a lookup to name the order.
            let birth = matches!(r.exec_type, Some(ExecType::PendingNew | ExecType::New));
            if snapshot || !birth {
                return None;
            }
            let s = *self.by_cl_ord_id.get(&r.cl_ord_id?)?;
            self.get(s)
                .filter(|o| {
                    o.order_id.is_none()
                        && matches!(o.status, OrderStatus::Pending | OrderStatus::Unknown)
                })
                .map(|_| s)
        });
        if found.is_none() && snapshot && self.knows_fill(r) {
            // A replayed fill already delivered (maybe by an earlier process, read back from
            // its journal) of an order no longer tracked: that order had closed, or it would
            // be tracked. Nothing to create, nothing to tell.
            self.stats.duplicate_fills += 1;
            return;
        }
        let slot = match found {
            Some(s) => s,
            None => {
                let mut o = Order::new(r.symbol.unwrap_or(SymbolId::UNKNOWN), now);
                o.status = OrderStatus::PendingNew;

                self.alloc(o)
            }
        };
        let is_trade = r.exec_type == Some(ExecType::Trade);
        let epoch = self.epoch;
        let Some(o) = self.order_mut(slot) else {
            return;
        };
        let created = found.is_none();
        o.order_id = Some(r.order_id);
        o.updated_ns = now;
        if o.first_report_ns == 0 {
            o.first_report_ns = now;
        }
        if r.timestamp.is_some() {
            o.exchange_time = r.timestamp;
        }
        if !is_trade || !snapshot {
            o.snapshot_epoch = epoch;
        }
        if let Some(s) = r.symbol {
            o.symbol = s;
        }
        if r.side.is_some() {
            o.side = r.side;
        }
        if r.order_type.is_some() {
            o.order_type = r.order_type;
        }
        if let Some(c) = r.cl_ord_id {
            o.cl_ord_id = Some(c);
        }
        if let Some(u) = r.order_userref.filter(|&u| u != 0) {
            o.userref = Some(u);
        }
        if let Some(q) = r.order_qty {
            o.order_qty = q;
        }
        if r.limit_price.is_some() {
            o.limit_price = r.limit_price;
        }
        if r.post_only.is_some() {
            o.post_only = r.post_only;
        }
        if r.reduce_only.is_some() {
            o.reduce_only = r.reduce_only;
        }
        if r.exec_type == Some(ExecType::Amended) {
            o.amends += 1;
            o.rested_since_ns = now;
        }
        if let Some(c) = r.cum_cost {
            o.cum_cost = c;
        }
        if let Some(q) = r.cum_qty {
            o.filled_qty = o.filled_qty.max(q);
        }
        if let Some(p) = r.avg_price.filter(|p| !p.is_zero()) {
            o.avg_price = p;
        }
        self.index_id(slot);
        if created {
            self.announce_new(slot, sink);
        }

        if let (Some(exec_id), Some(qty)) = (r.exec_id, r.last_qty) {
            if self.dedup.insert(exec_id) {
                self.fill(slot, r, exec_id, qty, snapshot, sink);
            } else {
                self.stats.duplicate_fills += 1;
            }
        }

        // Status: trades report `partially_filled` even when complete (completion is the
        // separate `filled` report), and snapshot trades report the order's later status, so a
        // trade only says "filled" when the quantities agree.
        let Some(o) = self.get(slot).copied() else {
            return;
        };
        let target = match (r.exec_type, r.order_status) {
            (Some(ExecType::Filled), _) => Some(OrderStatus::Filled),
            (Some(ExecType::Canceled), _) => Some(OrderStatus::Canceled),
            (Some(ExecType::Expired), _) => Some(OrderStatus::Expired),
            (Some(ExecType::Trade), Some(WireOrderStatus::Filled))
                if o.order_qty.is_zero() || o.filled_qty >= o.order_qty =>
            {
                Some(OrderStatus::Filled)
            }
            (Some(ExecType::Trade), _) if o.filled_qty > Decimal::ZERO => {
                Some(OrderStatus::PartiallyFilled)
            }
            (Some(ExecType::Trade), _) => None,
            (_, Some(ws)) => Some(OrderStatus::from(ws)),
            (_, None) => None,
        };
        let reason = r.reason;
        if let Some(t) = target {
            self.set_status(slot, t, reason, sink);
        } else if reason.is_some()
            && let Some(o) = self.order_mut(slot)
        {
            o.reason = reason;
        }
        // By client id once its status is known: a closed order's report never takes the id
        // from a live order (a snapshot's trade of an older order that used it).
        self.index_cl(slot);
    }

    /// Caught-up fills (snapshots, trade history) older than `t` are from before this
    /// engine's records: delivered as [`FillOrigin::Historical`], not counted.
    pub fn set_history_before(&mut self, t: Option<Timestamp>) {
        self.history_before = t;
    }

    /// A fill delivered by an earlier run (read back from its journal): its execution id is
    /// known, so a snapshot replaying it is a duplicate (its quantity is in the position
    /// [`Self::restore_position`] sets). No event: the strategy heard of it then. Not counted
    /// as a new fill.
    pub fn restore_fill(&mut self, f: &crate::journal::FillEntry) {
        if self.dedup.insert(f.exec_id) {
            self.stats.restored_fills += 1;
        }
    }

    /// A position as an earlier run left it (read back from its journal: carried over at its
    /// segments' starts, plus its fills).
    pub fn restore_position(&mut self, symbol: SymbolId, p: Position) {
        if let Some(slot) = self.positions.get_mut(usize::from(symbol.0)) {
            *slot = p;
        }
    }

    /// An order an earlier run left live or unknown (read back from its journal), tracked
    /// again without an event. Returns how to look it up when its status is `Unknown` (an
    /// add in flight at a crash), `None` otherwise or when it is already tracked.
    pub fn restore_order(
        &mut self,
        r: &crate::journal::RecoveredOrder,
        now: u64,
    ) -> Option<OrderRef> {
        if r.order_id
            .is_some_and(|id| self.by_order_id.contains_key(&id))
            || r.cl_ord_id.and_then(|c| self.by_cl_ord_id(&c)).is_some()
        {
            return None;
        }
        let mut o = Order::new(r.symbol, now);
        // Created before this process started: 0, "unknown", so a lookup's window is
        // bounded by the deadline its add carried, not by this process's start.
        o.created_ns = 0;
        o.order_id = r.order_id;
        o.cl_ord_id = r.cl_ord_id;
        o.deadline = r.deadline;
        o.side = r.side;
        o.order_qty = r.qty.unwrap_or_default();
        o.limit_price = r.price;
        o.filled_qty = r.filled;
        o.fill_sum = r.filled;
        o.fill_cost = r
            .price
            .and_then(|p| p.checked_mul(r.filled))
            .unwrap_or_default();
        o.status = r.status;
        self.stats.restored_orders += 1;
        let s = self.alloc(o);
        self.index(s);
        if r.status != OrderStatus::Unknown {
            return None;
        }
        match (r.order_id, r.cl_ord_id) {
            (Some(id), _) => Some(OrderRef::OrderId(id)),
            (None, Some(c)) => Some(OrderRef::ClOrdId(c)),
            (None, None) => None,
        }
    }

    fn fill(
        &mut self,
        slot: u32,
        r: &ExecutionReport,
        exec_id: ExecId,
        qty: Decimal,
        caught_up: bool,
        sink: &mut impl FnMut(TrackerEvent),
    ) {
        let price = r.last_price.unwrap_or_default();
        let origin = match (caught_up, self.history_before, r.timestamp) {
            (false, _, _) => FillOrigin::Live,
            (true, Some(before), Some(t)) if t < before => FillOrigin::Historical,
            (true, _, _) => FillOrigin::Recovered,
        };
        let Some(o) = self.order_mut(slot) else {
            return;
        };
        // Checked arithmetic: figures from the network never panic the tracker (an
        // unrepresentable sum keeps the previous one).
        o.fill_count = o.fill_count.saturating_add(1);
        o.fill_sum = o.fill_sum.checked_add(qty).unwrap_or(o.fill_sum);
        let cost = r
            .cost
            .or_else(|| qty.checked_mul(price))
            .unwrap_or_default();
        o.fill_cost = o.fill_cost.checked_add(cost).unwrap_or(o.fill_cost);
        // Reported cumulative figures win; our own sums cover reports that lack them.
        o.filled_qty = o.filled_qty.max(o.fill_sum);
        if r.avg_price.is_none_or(|p| p.is_zero())
            && let Some(avg) = o.fill_cost.checked_div(o.fill_sum)
        {
            o.avg_price = avg;
        }
        if r.cum_cost.is_none() {
            o.cum_cost = o.cum_cost.max(o.fill_cost);
        }
        for f in r.fees() {
            o.add_fee(f);
        }
        let fill = Fill {
            order_id: r.order_id,
            cl_ord_id: o.cl_ord_id,
            exec_id,
            trade_id: r.trade_id,
            symbol: o.symbol,
            side: o.side,
            qty,
            price,
            fee: r.fees().first().copied(),
            liquidity: r.liquidity,
            timestamp: r.timestamp,
            filled_qty: o.filled_qty,
            remaining_qty: o.remaining_qty(),
            origin,
        };
        if origin == FillOrigin::Historical {
            // The order's figures take it (they are the exchange's); the books do not.
            self.stats.historical_fills += 1;
            sink(TrackerEvent::Execution(fill));
            return;
        }
        self.stats.fills += 1;
        if let (Some(side), Some(p)) = (
            fill.side,
            self.positions.get_mut(usize::from(fill.symbol.0)),
        ) {
            let _ = p.apply(side, qty, price, fill.fee.map_or(Decimal::ZERO, |f| f.qty));
        }
        if self.history.len() == self.cfg.history_limit {
            self.history.pop_front();
        }
        if self.cfg.history_limit > 0 {
            self.history.push_back(fill);
        }
        sink(TrackerEvent::Execution(fill));
    }
}

//! What crosses the rings: commands (strategy → I/O) and events (I/O → strategy). All `Copy`,
//! none points to the heap.

use crate::error::DecodeError;
use crate::ids::{RequestId, SymbolId};
use crate::order::{AddOrder, AmendOrder, BatchAdd, BatchCancel, CancelOrder, EditOrder, OrderRef};
use crate::protocol::encode::MarketChannel;
use crate::protocol::messages::{
    BalanceEntry, BatchItem, BookLevel, ExecutionReport, FrameKind, PublicTrade, Response, Status,
    Ticker,
};

/// A request for the I/O thread: a trading request, or work the strategy side asks of the
/// engine (a lookup, market data).
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// A trading request (over the WebSocket, or REST while it is down).
    Order(OrderCommand),
    /// Look an order up over REST (after a snapshot lost track of it).
    Lookup {
        /// The order.
        target: OrderRef,
        /// Monotonic ns when it was submitted (0: unknown): the exchange cannot hold it
        /// from before then, which bounds the search.
        since_ns: u64,
        /// The `deadline` (exchange time) its request carried, if known: the exchange cannot
        /// have opened it later.
        deadline: Option<crate::time::Timestamp>,
    },
    /// List the orders opened in the window a request could have opened one in (an edit
    /// whose answer was lost: its replacement has no client id to look up), and adopt those
    /// the engine does not know.
    Discover {
        /// Monotonic ns, at or before the request was sent.
        since_ns: u64,
        /// The latest `deadline` (exchange time) the request can have carried.
        deadline: Option<crate::time::Timestamp>,
    },
    /// Market data on the public socket.
    Market(MarketCommand),
}

/// A trading request. Large ones (multi-order cancels and batches) travel on a second ring,
/// announced by [`OrderCommand::Large`], so this one stays small.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum OrderCommand {
    /// `add_order`
    Add {
        /// Request id.
        req_id: RequestId,
        /// The order.
        order: AddOrder,
    },
    /// `amend_order`
    Amend {
        /// Request id.
        req_id: RequestId,
        /// The amend.
        amend: AmendOrder,
    },
    /// `edit_order`
    Edit {
        /// Request id.
        req_id: RequestId,
        /// The edit.
        edit: EditOrder,
    },
    /// `cancel_order` of one order.
    CancelOne {
        /// Request id.
        req_id: RequestId,
        /// The order.
        target: OrderRef,
    },
    /// `cancel_all`
    CancelAll {
        /// Request id.
        req_id: RequestId,
    },
    /// `cancel_all_orders_after` (0 disarms).
    CancelAfter {
        /// Request id.
        req_id: RequestId,
        /// Timeout.
        timeout_secs: u32,
    },
    /// The next [`LargeCommand`] on the large ring.
    Large {
        /// Request id.
        req_id: RequestId,
        /// Which one it is (`CancelOrder` of several orders, `BatchAdd`, `BatchCancel`).
        method: crate::protocol::messages::Method,
    },
}

impl OrderCommand {
    /// Its request id.
    pub fn req_id(&self) -> RequestId {
        match *self {
            OrderCommand::Add { req_id, .. }
            | OrderCommand::Amend { req_id, .. }
            | OrderCommand::Edit { req_id, .. }
            | OrderCommand::CancelOne { req_id, .. }
            | OrderCommand::CancelAll { req_id }
            | OrderCommand::CancelAfter { req_id, .. }
            | OrderCommand::Large { req_id, .. } => req_id,
        }
    }
}

/// A market-data request, for the public socket's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarketCommand {
    /// Subscribe to a channel of a pair (a book at another depth replaces the one subscribed).
    Subscribe {
        /// The pair.
        symbol: SymbolId,
        /// The channel.
        channel: MarketChannel,
    },
    /// Unsubscribe.
    Unsubscribe {
        /// The pair.
        symbol: SymbolId,
        /// The channel (a book's depth is not compared).
        channel: MarketChannel,
    },
    /// The book was found wrong (checksum, or an update before any snapshot): subscribe
    /// again for a new snapshot.
    ResyncBook {
        /// The pair.
        symbol: SymbolId,
    },
}

/// Levels one [`Event::Book`] carries; a frame with more comes in several.
pub const BOOK_CHUNK: usize = 16;

/// Part of a `book` frame (all of it, for the usual update of a level or two): its levels,
/// bids then asks. The frame's first chunk has `first`, its last `last`; the frame is applied
/// (and its checksum checked) once the last is in.
#[derive(Clone, Copy, Debug)]
pub struct BookChunk {
    /// The pair.
    pub symbol: SymbolId,
    /// Snapshot or update.
    pub kind: FrameKind,
    /// The frame's first chunk.
    pub first: bool,
    /// The frame's last chunk.
    pub last: bool,
    /// Bids in `levels` (first).
    pub n_bids: u8,
    /// Asks in `levels` (after the bids).
    pub n_asks: u8,
    /// The levels.
    pub levels: [BookLevel; BOOK_CHUNK],
    /// Kraken's checksum of the book after the frame.
    pub checksum: Option<u32>,
    /// Exchange time of the frame.
    pub timestamp: Option<crate::time::Timestamp>,
    /// Monotonic ns when the I/O thread found its frame readable.
    pub recv_ns: u64,
}

impl BookChunk {
    /// The chunk's bids.
    pub fn bids(&self) -> &[BookLevel] {
        &self.levels[..self.n_bids as usize]
    }

    /// The chunk's asks.
    pub fn asks(&self) -> &[BookLevel] {
        let b = self.n_bids as usize;
        &self.levels[b..b + self.n_asks as usize]
    }
}

/// A [`Command`] as it crosses the command ring, with the strategy's clock reading when it was
/// issued: the I/O thread measures tick-to-wire from it.
#[derive(Clone, Copy, Debug)]
pub struct Issued {
    /// The command.
    pub cmd: Command,
    /// Monotonic ns when the strategy issued it (0: not measured).
    pub at_ns: u64,
}

/// A command's large part, taken from the ring beside the command ring (the strategy pushes it
/// there first), if the command announces one.
pub fn take_large(cmd: &Command, rx: &mut rtrb::Consumer<LargeCommand>) -> Option<LargeCommand> {
    if let Command::Order(OrderCommand::Large { .. }) = cmd {
        rx.pop().ok()
    } else {
        None
    }
}

/// Requests too large for the command ring's slots.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum LargeCommand {
    /// `cancel_order` of several orders.
    Cancel(CancelOrder),
    /// `batch_add`
    BatchAdd(BatchAdd),
    /// `batch_cancel`
    BatchCancel(BatchCancel),
}

/// Connection state, as reported to the strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connecting (attempt number).
    Connecting(u32),
    /// Socket and WebSocket up, not yet subscribed.
    Connected,
    /// `executions` subscription acknowledged: orders go over the WebSocket.
    Ready,
    /// Lost; orders fall back to REST until it is back.
    Disconnected,
}

/// Where an order request went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Over the WebSocket.
    WebSocket,
    /// Over REST (fallback).
    Rest,
}

/// What the I/O thread reports.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A response to a request (WS ack, or a REST result in the same shape).
    Response {
        /// The response.
        response: Response,
        /// How the request went.
        route: Route,
        /// Monotonic ns when the request left.
        sent_ns: u64,
        /// Monotonic ns when the I/O thread read the answer.
        recv_ns: u64,
    },
    /// One element of a `batch_add` response; they precede their `Response`.
    BatchItem {
        /// Position in the batch.
        index: u8,
        /// The element.
        item: BatchItem,
    },
    /// An executions snapshot begins (after a (re)subscribe).
    SnapshotBegin,
    /// One execution report.
    Execution {
        /// The report.
        report: ExecutionReport,
        /// Part of a snapshot?
        snapshot: bool,
        /// Monotonic ns when the I/O thread found its frame readable.
        recv_ns: u64,
    },
    /// The snapshot is complete.
    SnapshotEnd,
    /// A fill read back from the trade history after a disconnect or gap (a `trade` report
    /// built from REST; the tracker drops it if the stream already delivered it).
    RecoveredFill {
        /// The report.
        report: ExecutionReport,
    },
    /// From when fills may be missing (a disconnect, a gap, a restart) until the trade
    /// history has been read: the earliest such time, or `None` once read. Journaled, so a
    /// process that dies before the read completes leaves it to the next.
    FillsAtRisk {
        /// Since when (exchange time); `None`: nothing at risk.
        since: Option<crate::time::Timestamp>,
    },
    /// A balance or ledger entry.
    Balance {
        /// The entry.
        entry: BalanceEntry,
        /// Part of a snapshot?
        snapshot: bool,
    },
    /// Exchange status.
    Status(Status),
    /// Connection state changed.
    Connection(ConnectionState),
    /// A request got no reply in time, or its connection dropped before the reply: outcome
    /// unknown, being looked up.
    UnknownOutcome {
        /// The request.
        req_id: RequestId,
        /// Its connection dropped (one incident, already counted) rather than a deadline
        /// passing on a live connection.
        disconnected: bool,
    },
    /// The executions stream skipped messages; resubscribing.
    SequenceGap {
        /// Expected sequence.
        expected: u64,
        /// Received.
        got: u64,
    },
    /// A frame could not be decoded (counted; the loop goes on).
    DecodeError(DecodeError),
    /// The rate counter threshold reported by Kraken.
    MaxRateCount(u32),
    /// A pair's trading rules from the `instrument` channel.
    Instrument(crate::protocol::messages::InstrumentPair),
    /// An accepted request never left the engine: the engine stopped first, or it expired
    /// waiting for REST fallback. The exchange cannot hold its orders.
    NotSent {
        /// The request.
        req_id: RequestId,
        /// Why.
        reason: crate::orders::NotSentReason,
    },
    /// Recovery keeps failing (trade history reads, or lookups): it goes on, backing off; the
    /// strategy should know (a key without query permission, REST down, an unmapped pair).
    RecoveryFailing {
        /// The last error.
        error: crate::protocol::messages::Text,
    },
    /// The event ring was full: the strategy had not polled for a while, so the engine held
    /// its events (none is lost) and paused reading the socket until it did.
    EventRingFull,
    /// Part of a `book` frame of the public socket.
    Book(BookChunk),
    /// A trade of the public tape.
    Trade {
        /// The trade.
        trade: PublicTrade,
        /// From the subscription's snapshot (the last trades before it).
        snapshot: bool,
        /// Monotonic ns when the I/O thread found its frame readable.
        recv_ns: u64,
    },
    /// A pair's ticker.
    Ticker {
        /// The ticker.
        ticker: Ticker,
        /// Monotonic ns when the I/O thread found its frame readable.
        recv_ns: u64,
    },
    /// The public socket changed state (`Ready`: every market-data subscription is live).
    /// Books are not to be trusted while it is down; a snapshot follows the reconnect.
    MarketConnection(ConnectionState),
    /// A market-data subscription was acknowledged (`error: None`) or refused; a refused one
    /// is asked again a few times, then given up (`gave_up`).
    MarketSubscription {
        /// The pair.
        symbol: SymbolId,
        /// The channel.
        channel: MarketChannel,
        /// The exchange's error, or why it failed.
        error: Option<crate::protocol::messages::Text>,
        /// No more attempts will be made.
        gave_up: bool,
    },
    /// A looked-up order's state (reconciliation after an unknown outcome).
    Resolved {
        /// The order.
        target: OrderRef,
        /// Kraken's id, if found.
        order_id: Option<crate::ids::OrderId>,
        /// Its state, `None` if the exchange does not know it.
        status: Option<crate::types::OrderStatus>,
        /// Filled quantity, if known.
        filled: Option<rust_decimal::Decimal>,
    },
}

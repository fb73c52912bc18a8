//! What crosses the rings: commands (strategy → I/O) and events (I/O → strategy). All `Copy`,
//! none points to the heap.

use crate::error::DecodeError;
use crate::order::{AddOrder, AmendOrder, BatchAdd, BatchCancel, CancelOrder, EditOrder, OrderRef};
use crate::protocol::messages::{BalanceEntry, BatchItem, ExecutionReport, Response, Status};

/// A request for the I/O thread. Large requests (multi-order cancels and batches) travel on a
/// second ring, announced by [`Command::Large`], so this one stays small.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// `add_order`
    Add {
        /// Request id.
        req_id: u64,
        /// The order.
        order: AddOrder,
    },
    /// `amend_order`
    Amend {
        /// Request id.
        req_id: u64,
        /// The amend.
        amend: AmendOrder,
    },
    /// `edit_order`
    Edit {
        /// Request id.
        req_id: u64,
        /// The edit.
        edit: EditOrder,
    },
    /// `cancel_order` of one order.
    CancelOne {
        /// Request id.
        req_id: u64,
        /// The order.
        target: OrderRef,
    },
    /// `cancel_all`
    CancelAll {
        /// Request id.
        req_id: u64,
    },
    /// `cancel_all_orders_after` (0 disarms).
    CancelAfter {
        /// Request id.
        req_id: u64,
        /// Timeout.
        timeout_secs: u32,
    },
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
    /// The next [`LargeCommand`] on the large ring.
    Large {
        /// Request id.
        req_id: u64,
        /// Which one it is (`CancelOrder` of several orders, `BatchAdd`, `BatchCancel`).
        method: crate::protocol::messages::Method,
    },
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
        req_id: u64,
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
        req_id: u64,
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

//! What the engine counts and measures: [`Statistics`] (a snapshot at any time, from
//! [`Trader::statistics`](crate::engine::Trader::statistics)) and the histograms and leftovers
//! [`Trader::shutdown`](crate::engine::Trader::shutdown) reports.

use hdrhistogram::Histogram;

use crate::ids::RequestId;
use crate::orders::{TrackerEvent, TrackerStats};

/// Everything counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Statistics {
    /// Tracker counters (orders submitted/filled/cancelled/rejected, executions, fills, ...).
    pub tracker: TrackerStats,
    /// Journal appends that failed (the file system refused a new segment); trading went on.
    pub journal_failures: u64,
    /// Orders sent over the WebSocket.
    pub websocket_orders: u64,
    /// Orders sent over REST while the WebSocket was down.
    pub rest_fallback_orders: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames that did not decode.
    pub decode_errors: u64,
    /// Of which not JSON.
    pub non_json_frames: u64,
    /// Connections made.
    pub connects: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Executions sequence gaps.
    pub sequence_gaps: u64,
    /// Executions frames received again (a sequence already seen) and skipped.
    pub duplicate_frames: u64,
    /// Resubscribes because no executions frame followed acknowledged requests.
    pub silent_stream_resyncs: u64,
    /// Resubscribes after a minute without an executions frame.
    pub quiet_resyncs: u64,
    /// Tokens fetched.
    pub tokens_fetched: u64,
    /// Dead man's switch refreshes.
    pub dead_man_refreshes: u64,
    /// REST lookups.
    pub reconciliations: u64,
    /// Field values the decoder did not know (the report was kept, the field left empty).
    pub unknown_values: u64,
    /// Times recovery (trade history reads, lookups) was reported failing.
    pub recovery_failures: u64,
    /// The pacing queue (all zero unless [`EngineConfig::pacing`](crate::engine::EngineConfig::pacing) is set).
    pub pacing: PacingStats,
    /// The public (market-data) socket.
    pub market: MarketStats,
    /// The exchange's clock minus ours, µs (plus a one-way trip), from the receive times on
    /// the engine's own requests: deadlines and lookup windows are set in the exchange's time.
    pub exchange_offset_us: i64,
    /// Times the event ring was full and the I/O thread paused reading until the strategy
    /// polled (it kept writing, pinging and refreshing the dead man's switch meanwhile).
    pub event_ring_stalls: u64,
    /// Requests refused locally (validation, rate, breaker, ring).
    pub refused_locally: u64,
    /// WebSocket connected.
    pub connected: bool,
    /// Private subscription live.
    pub authenticated: bool,
    /// Kraken acknowledged the dead man's switch on this connection (it cancels our orders if
    /// we go silent).
    pub dead_man_armed: bool,
    /// Circuit breaker open.
    pub breaker_open: bool,
    /// Breaker trips.
    pub breaker_trips: u64,
    /// Request written to the socket → its acknowledgement read, both on the I/O thread, ns.
    pub ack: LatencySummary,
    /// Wire-to-strategy: an acknowledgement or execution frame found readable on the I/O
    /// thread → its event popped by [`Trader::poll`](crate::engine::Trader::poll) (read, TLS, WebSocket, decode, ring), ns.
    pub wire_to_strategy: LatencySummary,
}

/// Percentiles of one latency histogram, ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
}

impl LatencySummary {
    /// The percentiles of `h`.
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// The engine's latency histograms (ns), returned by [`Trader::shutdown`](crate::engine::Trader::shutdown).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LatencyReport {
    /// Strategy call (`add_order`, `cancel_order`, ...) → command popped by the I/O thread.
    pub tick_to_pop: Histogram<u64>,
    /// Strategy call → request handed to the socket by the I/O thread (encoded, framed, TLS
    /// record written: the write syscall included).
    pub tick_to_wire: Histogram<u64>,
    /// Frame readable on the I/O thread → its events pushed to the strategy ring (the read
    /// syscall, TLS, WebSocket, decode).
    pub frame_to_ring: Histogram<u64>,
    /// Frame readable on the I/O thread → event popped by the strategy.
    pub wire_to_strategy: Histogram<u64>,
    /// Request written → its acknowledgement read, both on the I/O thread.
    pub ack: Histogram<u64>,
}

/// What [`Trader::shutdown`](crate::engine::Trader::shutdown) reports.
#[derive(Debug)]
#[must_use = "it lists the requests whose outcome is unknown: look them up before trading on"]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The engine's latency histograms.
    pub latency: LatencyReport,
    /// Events that arrived while stopping (fills included), in order; empty with
    /// [`Trader::shutdown_with`](crate::engine::Trader::shutdown_with), which hands them to the strategy.
    pub events: Vec<TrackerEvent>,
    /// Requests accepted from the strategy that were never sent (their orders are settled as
    /// rejected, with the reason).
    pub not_sent: Vec<RequestId>,
    /// Requests sent whose outcome was not seen before the engine stopped: they may have
    /// executed. Look them up (`kraken-exec orders`, REST) before trading on.
    pub unanswered: Vec<RequestId>,
}

/// Counters of the public socket and its books.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MarketStats {
    /// Text frames received.
    pub frames_in: u64,
    /// Connections made.
    pub connects: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// `book` frames received.
    pub book_frames: u64,
    /// Books found wrong (a checksum mismatch, or an update with no snapshot before it).
    pub book_mismatches: u64,
    /// Book resubscriptions sent to rebuild one.
    pub book_resyncs: u64,
    /// `book` frame readable on the I/O thread → `Strategy::on_book` called, ns.
    pub book_to_strategy: LatencySummary,
}

/// Counters of the pacing queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PacingStats {
    /// Adds that had to wait.
    pub queued: u64,
    /// Adds dropped unsent after waiting `max_wait`.
    pub expired: u64,
    /// Adds waiting now.
    pub depth: u64,
    /// How long released adds waited, ns.
    pub wait: LatencySummary,
}

//! Counters shared by the engine's threads: relaxed atomics, written by one thread each, read by
//! anyone.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Release};

use hdrhistogram::Histogram;

/// Engine-wide counters and flags.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Text frames received.
    pub frames_in: AtomicU64,
    /// Requests written to the WebSocket.
    pub frames_out: AtomicU64,
    /// Frames that did not decode.
    pub decode_errors: AtomicU64,
    /// Of which not JSON at all.
    pub non_json_frames: AtomicU64,
    /// Order requests sent over the WebSocket.
    pub websocket_orders: AtomicU64,
    /// Order requests sent over REST because the WebSocket was down.
    pub rest_fallback_orders: AtomicU64,
    /// Connections made.
    pub connects: AtomicU64,
    /// Connections lost.
    pub disconnects: AtomicU64,
    /// Sequence gaps on `executions`.
    pub sequence_gaps: AtomicU64,
    /// Requests that timed out.
    pub unknown_outcomes: AtomicU64,
    /// Tokens fetched.
    pub tokens_fetched: AtomicU64,
    /// Token fetch failures.
    pub token_failures: AtomicU64,
    /// Dead man's switch refreshes sent.
    pub dead_man_refreshes: AtomicU64,
    /// REST lookups made to resolve unknown outcomes.
    pub reconciliations: AtomicU64,
    /// Field values the decoder did not know (kept as raw text; the frame was applied).
    pub unknown_values: AtomicU64,
    /// Executions frames received twice (same sequence) and skipped.
    pub duplicate_frames: AtomicU64,
    /// Resubscribes because no executions frame followed acknowledged requests (a loss a
    /// sequence gap cannot show: the last frames before a quiet spell).
    pub silent_stream_resyncs: AtomicU64,
    /// Resubscribes after a minute without an executions frame (see `silent_stream_resyncs`).
    pub quiet_resyncs: AtomicU64,
    /// Times fill recovery (trade history) or lookups were reported failing.
    pub recovery_failures: AtomicU64,
    /// Times the event ring was full: the I/O thread held its events and stopped reading.
    pub event_ring_stalls: AtomicU64,
    /// Text frames received on the public (market-data) socket.
    pub market_frames_in: AtomicU64,
    /// Public socket connections made.
    pub market_connects: AtomicU64,
    /// Public socket connections lost.
    pub market_disconnects: AtomicU64,
    /// `book` frames received.
    pub book_frames: AtomicU64,
    /// Books found wrong: a checksum mismatch, or an update with no snapshot before it.
    pub book_mismatches: AtomicU64,
    /// Book resubscriptions sent to rebuild a wrong book.
    pub book_resyncs: AtomicU64,
    /// The exchange's clock minus ours, µs, as last measured (0 until then): deadlines are
    /// set in the exchange's time.
    pub exchange_offset_us: std::sync::atomic::AtomicI64,
    /// A lower bound of the exchange's clock minus ours (µs): its send time of an answer less
    /// our receive time. Whether a deadline has certainly passed there is judged with it.
    pub exchange_offset_lo_us: std::sync::atomic::AtomicI64,
    /// WebSocket up.
    pub connected: AtomicBool,
    /// `executions` subscribed with a valid token.
    pub authenticated: AtomicBool,
    /// The exchange acknowledged our latest `cancel_all_orders_after` on this connection.
    pub dead_man_armed: AtomicBool,
    /// The I/O thread's latency histograms, handed over once when it exits (never locked on
    /// the hot path).
    pub io_latency: Mutex<Option<IoLatency>>,
}

/// Latency histograms kept by the I/O thread (ns).
#[derive(Clone, Debug)]
pub struct IoLatency {
    /// Strategy call → command popped by the I/O thread (the command ring hop).
    pub tick_to_pop: Histogram<u64>,
    /// Strategy call → request handed to the socket (encoded, framed, TLS record written).
    pub tick_to_wire: Histogram<u64>,
    /// Frame readable → its events pushed to the strategy ring.
    pub frame_to_ring: Histogram<u64>,
}

impl EngineStats {
    // Release/Acquire (free on x86): whoever reads a count also sees the events pushed before
    // it was bumped, on their next poll.
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Release);
    }

    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Acquire)
    }
}

//! Counters shared by the engine's threads: relaxed atomics, written by one thread each, read by
//! anyone.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

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
    /// WebSocket up.
    pub connected: AtomicBool,
    /// `executions` subscribed with a valid token.
    pub authenticated: AtomicBool,
}

impl EngineStats {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }
}
